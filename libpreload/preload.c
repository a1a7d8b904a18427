/*
 * preload.c - libhomapreload: the Linux Homa socket API (homa/homa.h) on
 * homad, for unmodified programs (LD_PRELOAD, homa-run(1)).
 *
 * socket(AF_INET/AF_INET6, SOCK_DGRAM, IPPROTO_HOMA) connects to homad's
 * client socket; the application's descriptor is that connection, so
 * poll, select and epoll see it (wait.c makes their answers exact).  homad
 * is sent Open, with the receive pool, when the socket is first used: with
 * the application's region if SO_HOMA_RCVBUF came first, else with a
 * small pool of the library's (and SO_HOMA_RCVBUF then re-opens the
 * socket on a new connection, which replaces the old one under every
 * descriptor of the application: libhomapreload(7)).  Everything else is
 * libhomaclient (hc_* and, for the fixed pool, conn_open).
 *
 * Ownership: the table holds one reference per descriptor of a socket,
 * every call in progress one more; the last reference closes the
 * libhomaclient socket and leaves the application's region mapped with
 * its contents (a private copy of the pool).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "client_int.h"
#include "homa/homa.h"
#include "homa_shm.h"

/* The Linux Homa API's receive buffer is homad's receive pool, passed
 * through: the same bpages, the same limits as libhomaclient's. */
_Static_assert(HOMA_BPAGE_SIZE == HOMA_SHM_BPAGE_SIZE,
	       "homa.h's bpage is the client protocol's");
_Static_assert(HOMA_MAX_BPAGES == HOMA_SHM_MAX_BPAGES,
	       "homa.h's bpages per message are the client protocol's");
_Static_assert(HOMA_MAX_MESSAGE_LENGTH == HC_MAX_MESSAGE_LENGTH,
	       "homa.h's largest message is libhomaclient's");
_Static_assert(HOMA_MIN_DEFAULT_PORT == HC_MIN_DEFAULT_PORT,
	       "homa.h's first default port is libhomaclient's");
#include "preload_int.h"

#define HP_EXPORT __attribute__((visibility("default")))

struct hp_real hp_real;

static pthread_mutex_t hp_tab_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct psock *_Atomic hp_tab[HP_MAX_FD];
static atomic_bool hp_resolved;

static void *hp_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL)
		abort(); /* libc without it: nothing sensible to do */
	return p;
}

void hp_resolve(void)
{
	if (atomic_load_explicit(&hp_resolved, memory_order_acquire))
		return;
	hp_real.socket = hp_sym("socket");
	hp_real.close = hp_sym("close");
	hp_real.dup = hp_sym("dup");
	hp_real.dup2 = hp_sym("dup2");
	hp_real.dup3 = hp_sym("dup3");
	hp_real.fcntl = hp_sym("fcntl");
	hp_real.ioctl = hp_sym("ioctl");
	hp_real.poll = hp_sym("poll");
	hp_real.ppoll = hp_sym("ppoll");
	hp_real.select = hp_sym("select");
	hp_real.pselect = hp_sym("pselect");
	hp_real.epoll_ctl = hp_sym("epoll_ctl");
	hp_real.epoll_wait = hp_sym("epoll_wait");
	hp_real.epoll_pwait = hp_sym("epoll_pwait");
	hp_real.execve = hp_sym("execve");
	hp_real.fork = hp_sym("fork");
	atomic_store_explicit(&hp_resolved, true, memory_order_release);
}

#define REAL(f) (hp_resolve(), hp_real.f)

/* Functions only this file passes through. */
static int (*real_bind)(int, const struct sockaddr *, socklen_t);
static int (*real_getsockname)(int, struct sockaddr *, socklen_t *);
static int (*real_setsockopt)(int, int, int, const void *, socklen_t);
static int (*real_getsockopt)(int, int, int, void *, socklen_t *);
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static ssize_t (*real_recvmsg)(int, struct msghdr *, int);
static int (*real_shutdown)(int, int);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_recv)(int, void *, size_t, int);
static ssize_t (*real_send)(int, const void *, size_t, int);
static ssize_t (*real_recvfrom)(int, void *, size_t, int, struct sockaddr *,
				socklen_t *);
static ssize_t (*real_sendto)(int, const void *, size_t, int,
			      const struct sockaddr *, socklen_t);

#define LAZY(var, name)                                  \
	do {                                             \
		if ((var) == NULL)                       \
			*(void **)&(var) = hp_sym(name); \
	} while (0)

/* ---- the table -------------------------------------------------------- */

struct psock *hp_psock_new(int family)
{
	struct psock *ps = calloc(1, sizeof(*ps));

	if (ps == NULL)
		return NULL;
	pthread_rwlock_init(&ps->rw, NULL);
	pthread_mutex_init(&ps->lock, NULL);
	ps->family = family;
	ps->pfd = -1;
	ps->rcvtimeo_ms = -1;
	return ps;
}

bool hp_is_homa(int fd)
{
	return fd >= 0 && fd < HP_MAX_FD &&
	       atomic_load_explicit(&hp_tab[fd], memory_order_acquire) != NULL;
}

struct psock *hp_get(int fd)
{
	struct psock *ps;

	if (!hp_is_homa(fd))
		return NULL;
	pthread_mutex_lock(&hp_tab_mutex);
	ps = atomic_load(&hp_tab[fd]);
	if (ps != NULL)
		atomic_fetch_add(&ps->refs, 1);
	pthread_mutex_unlock(&hp_tab_mutex);
	return ps;
}

/* Give the application's range back as a private copy of the pool. */
static void hp_release_region(struct psock *ps)
{
	void *at = (void *)(uintptr_t)ps->rx_start;

	if (ps->pool_bytes == 0)
		return;
	if (ps->s != NULL && ps->s->rx_fd >= 0 && ps->s->rx_fixed &&
	    mmap(at, ps->pool_bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_FIXED, ps->s->rx_fd, 0) != MAP_FAILED)
		return;
	/* No pool (a failed open): at least leave the range mapped. */
	mmap(at, ps->pool_bytes, PROT_READ | PROT_WRITE,
	     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
}

void hp_put(struct psock *ps)
{
	if (ps == NULL || atomic_fetch_sub(&ps->refs, 1) != 1)
		return;
	hp_release_region(ps);
	if (ps->s != NULL)
		hc_close(ps->s);
	else if (ps->pfd >= 0)
		REAL(close)(ps->pfd);
	pthread_rwlock_destroy(&ps->rw);
	pthread_mutex_destroy(&ps->lock);
	free(ps);
}

/* Put ps under fd (a new descriptor of it).  -EMFILE beyond the table. */
static int hp_tab_add(int fd, struct psock *ps)
{
	if (fd < 0 || fd >= HP_MAX_FD)
		return -EMFILE;
	pthread_mutex_lock(&hp_tab_mutex);
	atomic_fetch_add(&ps->refs, 1);
	atomic_store(&hp_tab[fd], ps);
	pthread_mutex_unlock(&hp_tab_mutex);
	return 0;
}

int hp_adopt(int fd, struct psock *ps)
{
	return hp_tab_add(fd, ps);
}

/* Take fd out of the table (it is being closed): its socket, or NULL. */
static struct psock *hp_tab_del(int fd)
{
	struct psock *ps;

	if (!hp_is_homa(fd))
		return NULL;
	pthread_mutex_lock(&hp_tab_mutex);
	ps = atomic_exchange(&hp_tab[fd], NULL);
	pthread_mutex_unlock(&hp_tab_mutex);
	if (ps != NULL)
		wait_forget_fd(fd);
	return ps;
}

void hp_tab_lock(void)
{
	pthread_mutex_lock(&hp_tab_mutex);
}

void hp_tab_unlock(void)
{
	pthread_mutex_unlock(&hp_tab_mutex);
}

struct psock *hp_peek(int fd)
{
	return fd >= 0 && fd < HP_MAX_FD ? atomic_load(&hp_tab[fd]) : NULL;
}

bool hp_any(void)
{
	for (int fd = 0; fd < HP_MAX_FD; fd++)
		if (atomic_load(&hp_tab[fd]) != NULL)
			return true;
	return false;
}

void *dlsym_next(const char *name)
{
	return hp_sym(name);
}

void hp_each(void (*fn)(int fd, struct psock *ps, void *arg), void *arg)
{
	for (int fd = 0; fd < HP_MAX_FD; fd++) {
		struct psock *ps = atomic_load(&hp_tab[fd]);

		if (ps != NULL)
			fn(fd, ps, arg);
	}
}

/* ---- errors ----------------------------------------------------------- */

static void hp_errmsg(struct psock *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void hp_errmsg(struct psock *ps, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&ps->lock);
	va_start(ap, fmt);
	vsnprintf(ps->errmsg, sizeof(ps->errmsg), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&ps->lock);
}

/* errno = e with the socket's error text; returns -1. */
static int hp_fail(struct psock *ps, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int hp_fail(struct psock *ps, int e, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&ps->lock);
	va_start(ap, fmt);
	vsnprintf(ps->errmsg, sizeof(ps->errmsg), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&ps->lock);
	errno = e;
	return -1;
}

/* A libhomaclient failure rc (< 0): its text, errno; returns -1. */
static int hp_hc_fail(struct psock *ps, int rc)
{
	char buf[sizeof(ps->errmsg)];

	hc_last_error(ps->s, buf, sizeof(buf));
	pthread_mutex_lock(&ps->lock);
	memcpy(ps->errmsg, buf, sizeof(buf));
	pthread_mutex_unlock(&ps->lock);
	errno = -rc;
	return -1;
}

/* ---- opening ---------------------------------------------------------- */

/* A new connection to homad's client socket: the fd, or -errno. */
static int hp_connect(int cloexec)
{
	const char *path = getenv("HOMA_SOCKET");
	struct sockaddr_un sun;
	int fd, err;

	if (path == NULL || path[0] == 0)
		path = HC_DEFAULT_SOCKET;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -EINVAL;
	fd = REAL(socket)(AF_UNIX, SOCK_SEQPACKET | cloexec, 0);
	if (fd < 0)
		return -errno;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		err = errno;
		REAL(close)(fd);
		return -err;
	}
	return fd;
}

/*
 * Send Open on connection fd (taken over): *out.  The pool is rx_fd of
 * pool_bytes mapped at rx_at, or (rx_fd < 0) the small private one.
 */
static int hp_open_on(struct psock *ps, int fd, int rx_fd, void *rx_at,
		      uint64_t pool_bytes, struct hc_sock **out)
{
	struct conn_open_ext x = {
		.fd = fd, .rx_fd = rx_fd, .rx_at = rx_at, .keep_fds = true};
	struct hc_options o;
	char buf[256];
	int rc;

	hc_options_init(&o);
	o.rx_pool_bytes = rx_fd >= 0 ? pool_bytes : HP_SMALL_POOL;
	rc = conn_open(out, ps->family, &o, &x);
	if (rc < 0) {
		hc_last_error(NULL, buf, sizeof(buf));
		hp_errmsg(ps, "%s", buf);
	}
	return rc;
}

/*
 * The socket for a call: ps->rw held for reading on success (hp_done it),
 * ps->s opened (with the small pool if the application gave none yet).
 * -1 with errno on failure.
 */
static int hp_use(struct psock *ps)
{
	int rc;

	pthread_rwlock_rdlock(&ps->rw);
	if (ps->s != NULL)
		return 0;
	pthread_rwlock_unlock(&ps->rw);
	pthread_rwlock_wrlock(&ps->rw);
	if (ps->s == NULL && ps->broken == 0) {
		rc = hp_open_on(ps, ps->pfd, -1, NULL, 0, &ps->s);
		if (rc < 0) {
			ps->pfd = -1; /* conn_open closed it */
			ps->broken = -rc;
		}
	}
	rc = ps->broken;
	pthread_rwlock_unlock(&ps->rw);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	pthread_rwlock_rdlock(&ps->rw);
	return 0;
}

static void hp_done(struct psock *ps)
{
	pthread_rwlock_unlock(&ps->rw);
}

/* ---- socket, close, dup ----------------------------------------------- */

HP_EXPORT int socket(int domain, int type, int protocol)
{
	struct psock *ps;
	int fd, pfd, kind = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (protocol != IPPROTO_HOMA || kind != SOCK_DGRAM ||
	    (domain != AF_INET && domain != AF_INET6))
		return REAL(socket)(domain, type, protocol);
	fd = hp_connect(type & SOCK_CLOEXEC);
	if (fd < 0) {
		/* No homad here: as a host without Homa. */
		errno = EPROTONOSUPPORT;
		return -1;
	}
	pfd = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 0);
	ps = hp_psock_new(domain);
	if (pfd < 0 || ps == NULL || fd >= HP_MAX_FD) {
		int e = pfd < 0 ? errno : ps == NULL ? ENOMEM : EMFILE;

		if (pfd >= 0)
			REAL(close)(pfd);
		REAL(close)(fd);
		free(ps);
		errno = e;
		return -1;
	}
	ps->pfd = pfd;
	ps->nonblock = (type & SOCK_NONBLOCK) != 0;
	hp_tab_add(fd, ps);
	return fd;
}

HP_EXPORT int close(int fd)
{
	struct psock *ps = hp_tab_del(fd);
	int rc = REAL(close)(fd);

	if (ps == NULL)
		wait_forget_fd(fd); /* an epoll descriptor, maybe */
	hp_put(ps);
	return rc;
}

/* newfd (from dup of oldfd) is one more descriptor of oldfd's socket. */
static int hp_dup_done(int oldfd, int newfd)
{
	struct psock *ps;

	if (newfd < 0 || !hp_is_homa(oldfd))
		return newfd;
	ps = hp_get(oldfd);
	if (ps == NULL)
		return newfd;
	if (hp_tab_add(newfd, ps) < 0) {
		REAL(close)(newfd);
		hp_put(ps);
		errno = EMFILE;
		return -1;
	}
	hp_put(ps);
	return newfd;
}

HP_EXPORT int dup(int oldfd)
{
	return hp_dup_done(oldfd, REAL(dup)(oldfd));
}

HP_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	struct psock *gone;
	int rc;

	if (!hp_is_homa(oldfd) && !hp_is_homa(newfd))
		return REAL(dup3)(oldfd, newfd, flags);
	rc = REAL(dup3)(oldfd, newfd, flags);
	if (rc < 0)
		return rc;
	gone = hp_tab_del(newfd); /* newfd was closed by dup3 */
	hp_put(gone);
	return hp_dup_done(oldfd, rc);
}

HP_EXPORT int dup2(int oldfd, int newfd)
{
	struct psock *gone;
	int rc;

	if (!hp_is_homa(oldfd) && !hp_is_homa(newfd))
		return REAL(dup2)(oldfd, newfd);
	if (oldfd == newfd)
		return REAL(dup2)(oldfd, newfd);
	rc = REAL(dup2)(oldfd, newfd);
	if (rc < 0)
		return rc;
	gone = hp_tab_del(newfd);
	hp_put(gone);
	return hp_dup_done(oldfd, rc);
}

static int hp_fcntl(int fd, int cmd, void *arg)
{
	struct psock *ps = hp_get(fd);
	int rc;

	if (ps == NULL)
		return REAL(fcntl)(fd, cmd, arg);
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		rc = hp_dup_done(fd, REAL(fcntl)(fd, cmd, arg));
		break;
	case F_GETFL:
		rc = REAL(fcntl)(fd, cmd);
		if (rc >= 0 && ps->nonblock)
			rc |= O_NONBLOCK;
		break;
	case F_SETFL:
		/*
		 * O_NONBLOCK is the socket's, not the connection's: the
		 * library's own descriptor shares the file description and
		 * must keep blocking.
		 */
		ps->nonblock = ((long)arg & O_NONBLOCK) != 0;
		rc = REAL(fcntl)(fd, cmd, (void *)((long)arg & ~O_NONBLOCK));
		break;
	default:
		rc = REAL(fcntl)(fd, cmd, arg);
		break;
	}
	hp_put(ps);
	return rc;
}

HP_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return hp_fcntl(fd, cmd, arg);
}

HP_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return hp_fcntl(fd, cmd, arg);
}

/* ---- bind, getsockname ------------------------------------------------ */

/* The port of a sockaddr of the socket's family: 0 ok, else an errno. */
static int hp_addr_port(struct psock *ps, const struct sockaddr *a,
			socklen_t len, unsigned *port)
{
	if (a == NULL || len < sizeof(sa_family_t))
		return EINVAL;
	if (a->sa_family != ps->family)
		return EAFNOSUPPORT;
	if (ps->family == AF_INET) {
		struct sockaddr_in in;

		if (len < sizeof(in))
			return EINVAL;
		memcpy(&in, a, sizeof(in));
		*port = ntohs(in.sin_port);
	} else {
		struct sockaddr_in6 in6;

		if (len < sizeof(in6))
			return EINVAL;
		memcpy(&in6, a, sizeof(in6));
		*port = ntohs(in6.sin6_port);
	}
	return 0;
}

HP_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct psock *ps = hp_get(fd);
	unsigned port = 0;
	int rc, e;

	if (ps == NULL) {
		LAZY(real_bind, "bind");
		return real_bind(fd, addr, len);
	}
	e = hp_addr_port(ps, addr, len, &port);
	if (e == 0 && port >= HOMA_MIN_DEFAULT_PORT)
		e = EINVAL;
	if (e != 0) {
		rc = hp_fail(ps, e, "bind: bad address or port %u", port);
	} else if (port == 0) {
		rc = 0;
	} else if (hp_use(ps) < 0) {
		rc = -1;
	} else {
		rc = hc_bind(ps->s, port);
		if (rc < 0) {
			rc = hp_hc_fail(ps, rc);
		} else {
			pthread_mutex_lock(&ps->lock);
			ps->bound_port = port;
			ps->server = true;
			pthread_mutex_unlock(&ps->lock);
		}
		hp_done(ps);
	}
	hp_put(ps);
	return rc;
}

/* The socket's address (any) with port, into a/len as getsockname does. */
static void hp_sockaddr(int family, unsigned port, struct sockaddr *a,
			socklen_t *len)
{
	struct sockaddr_storage ss;
	socklen_t n;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		n = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		n = sizeof(*in6);
	}
	memcpy(a, &ss, *len < n ? *len : n);
	*len = n;
}

HP_EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct psock *ps = hp_get(fd);
	int rc = 0;

	if (ps == NULL) {
		LAZY(real_getsockname, "getsockname");
		return real_getsockname(fd, addr, len);
	}
	if (addr == NULL || len == NULL) {
		errno = EFAULT;
		rc = -1;
	} else if (hp_use(ps) == 0) {
		hp_sockaddr(ps->family, hc_port(ps->s), addr, len);
		hp_done(ps);
	} else {
		rc = -1;
	}
	hp_put(ps);
	return rc;
}

/* ---- socket options --------------------------------------------------- */

/* Replace ps->s by a socket on a new connection with the given pool. */
static int hp_reopen(struct psock *ps, int rx_fd, void *at, uint64_t bytes)
{
	struct hc_sock *ns, *old = ps->s;
	int fd, rc, cloexec;

	fd = hp_connect(SOCK_CLOEXEC);
	if (fd < 0)
		return fd;
	rc = hp_open_on(ps, fd, rx_fd, at, bytes, &ns);
	if (rc < 0)
		return rc;
	if (ps->bound_port != 0) {
		hc_shutdown(old); /* releases the port at once */
		rc = hc_bind(ns, ps->bound_port);
	} else if (ps->server) {
		rc = hc_set_server(ns, true);
	}
	if (rc < 0) {
		hc_last_error(ns, ps->errmsg, sizeof(ps->errmsg));
		hc_close(ns);
		return rc;
	}
	/* Every descriptor of the application now names the new one. */
	pthread_mutex_lock(&hp_tab_mutex);
	for (int d = 0; d < HP_MAX_FD; d++) {
		if (atomic_load(&hp_tab[d]) != ps)
			continue;
		cloexec = REAL(fcntl)(d, F_GETFD) & FD_CLOEXEC ? O_CLOEXEC : 0;
		REAL(dup3)(hc_fd(ns), d, cloexec);
	}
	pthread_mutex_unlock(&hp_tab_mutex);
	hc_close(old);
	ps->s = ns;
	ps->pfd = hc_fd(ns);
	return 0;
}

static int hp_set_rcvbuf(struct psock *ps, const void *val, socklen_t len)
{
	struct homa_rcvbuf_args a;
	long page = sysconf(_SC_PAGESIZE);
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	uint64_t min, bytes;
	void *at;
	int rx_fd, rc;

	if (val == NULL || len != sizeof(a))
		return hp_fail(ps, EINVAL, "SO_HOMA_RCVBUF: optlen %u, not %zu",
			       (unsigned)len, sizeof(a));
	memcpy(&a, val, sizeof(a));
	if (ncpu < 1)
		ncpu = 1;
	min = (uint64_t)ncpu * HOMA_BPAGE_SIZE + 2000000;
	if (a.start == 0 || a.start % (uint64_t)page != 0 || a.length < min ||
	    a.length > HOMA_SHM_MAX_RX_POOL)
		return hp_fail(ps, EINVAL,
			       "SO_HOMA_RCVBUF: region 0x%llx+%llu must be "
			       "page-aligned, %llu..%llu bytes",
			       (unsigned long long)a.start,
			       (unsigned long long)a.length,
			       (unsigned long long)min,
			       (unsigned long long)HOMA_SHM_MAX_RX_POOL);
	bytes = a.length / HOMA_BPAGE_SIZE * HOMA_BPAGE_SIZE;
	at = (void *)(uintptr_t)a.start;

	pthread_rwlock_wrlock(&ps->rw);
	if (ps->rx_length != 0 || ps->broken != 0) {
		rc = ps->broken ? ps->broken : EINVAL;
		pthread_rwlock_unlock(&ps->rw);
		return hp_fail(ps, rc, "SO_HOMA_RCVBUF: %s",
			       rc == EINVAL ? "the socket has a region already"
					    : strerror(rc));
	}
	rx_fd = memfd_create("homa-rcvbuf", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (rx_fd < 0 || ftruncate(rx_fd, (off_t)bytes) < 0 ||
	    REAL(fcntl)(rx_fd, F_ADD_SEALS, HOMA_SHM_REQUIRED_SEALS) < 0) {
		rc = errno;
		if (rx_fd >= 0)
			REAL(close)(rx_fd);
		pthread_rwlock_unlock(&ps->rw);
		return hp_fail(ps, rc, "SO_HOMA_RCVBUF: memfd: %s",
			       strerror(rc));
	}
	if (ps->s == NULL) {
		rc = hp_open_on(ps, ps->pfd, rx_fd, at, bytes, &ps->s);
		if (rc < 0) {
			ps->pfd = -1;
			ps->broken = -rc;
		}
	} else {
		rc = hp_reopen(ps, rx_fd, at, bytes);
	}
	REAL(close)(rx_fd);
	if (rc == 0) {
		ps->rx_start = a.start;
		ps->rx_length = a.length;
		ps->pool_bytes = bytes;
	} else {
		/* The range may hold the memfd now: make it plain memory. */
		mmap(at, bytes, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	}
	pthread_rwlock_unlock(&ps->rw);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}

HP_EXPORT int setsockopt(int fd, int level, int name, const void *val,
			 socklen_t len)
{
	struct psock *ps = hp_get(fd);
	int rc = 0, on;

	LAZY(real_setsockopt, "setsockopt");
	if (ps == NULL)
		return real_setsockopt(fd, level, name, val, len);
	if (level == IPPROTO_HOMA && name == SO_HOMA_RCVBUF) {
		rc = hp_set_rcvbuf(ps, val, len);
	} else if (level == IPPROTO_HOMA && name == SO_HOMA_SERVER) {
		if (val == NULL || len < sizeof(int)) {
			rc = hp_fail(ps, EINVAL, "SO_HOMA_SERVER: optlen %u",
				     (unsigned)len);
		} else if (hp_use(ps) == 0) {
			memcpy(&on, val, sizeof(on));
			rc = hc_set_server(ps->s, on != 0);
			if (rc < 0)
				rc = hp_hc_fail(ps, rc);
			else
				ps->server = on != 0;
			hp_done(ps);
		} else {
			rc = -1;
		}
	} else if (level == IPPROTO_HOMA) {
		rc = hp_fail(ps, ENOPROTOOPT, "unknown option %d", name);
	} else if (level == SOL_SOCKET && name == SO_RCVTIMEO) {
		struct timeval tv;

		if (val == NULL || len < sizeof(tv)) {
			errno = EINVAL;
			rc = -1;
		} else {
			memcpy(&tv, val, sizeof(tv));
			ps->rcvtimeo_ms =
				tv.tv_sec == 0 && tv.tv_usec == 0
					? -1
					: (int64_t)tv.tv_sec * 1000 +
						  (tv.tv_usec + 999) / 1000;
		}
	} else {
		rc = real_setsockopt(fd, level, name, val, len);
	}
	hp_put(ps);
	return rc;
}

/* Copy an option value of n bytes out as getsockopt does. */
static int hp_optout(const void *v, socklen_t n, void *val, socklen_t *len)
{
	if (val == NULL || len == NULL) {
		errno = EFAULT;
		return -1;
	}
	if (*len < n) {
		errno = EINVAL;
		return -1;
	}
	memcpy(val, v, n);
	*len = n;
	return 0;
}

HP_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct psock *ps = hp_get(fd);
	int rc, v;

	LAZY(real_getsockopt, "getsockopt");
	if (ps == NULL)
		return real_getsockopt(fd, level, name, val, len);
	if (level == IPPROTO_HOMA && name == SO_HOMA_RCVBUF) {
		struct homa_rcvbuf_args a = {.start = ps->rx_start,
					     .length = ps->rx_length};

		rc = hp_optout(&a, sizeof(a), val, len);
	} else if (level == IPPROTO_HOMA && name == SO_HOMA_SERVER) {
		v = ps->server;
		rc = hp_optout(&v, sizeof(v), val, len);
	} else if (level == IPPROTO_HOMA) {
		errno = ENOPROTOOPT;
		rc = -1;
	} else if (level == SOL_SOCKET && name == SO_DOMAIN) {
		rc = hp_optout(&ps->family, sizeof(int), val, len);
	} else if (level == SOL_SOCKET && name == SO_TYPE) {
		v = SOCK_DGRAM;
		rc = hp_optout(&v, sizeof(v), val, len);
	} else if (level == SOL_SOCKET && name == SO_PROTOCOL) {
		v = IPPROTO_HOMA;
		rc = hp_optout(&v, sizeof(v), val, len);
	} else {
		rc = real_getsockopt(fd, level, name, val, len);
	}
	hp_put(ps);
	return rc;
}

/* ---- sendmsg, recvmsg ------------------------------------------------- */

static ssize_t hp_sendmsg(struct psock *ps, const struct msghdr *msg, int flags)
{
	struct homa_sendmsg_args a;
	size_t len = 0;
	int rc, hf;

	if (msg == NULL || msg->msg_control == NULL) {
		errno = EFAULT;
		return -1;
	}
	if (msg->msg_controllen != 0)
		return hp_fail(ps, EINVAL, "sendmsg: msg_controllen must be 0");
	memcpy(&a, msg->msg_control, sizeof(a));
	if (a.reserved != 0 || (a.flags & ~HOMA_SENDMSG_PRIVATE) != 0)
		return hp_fail(ps, EINVAL, "sendmsg: bad flags 0x%x", a.flags);
	if (msg->msg_iovlen > IOV_MAX)
		return hp_fail(ps, EMSGSIZE, "sendmsg: %zu extents",
			       (size_t)msg->msg_iovlen);
	for (size_t i = 0; i < msg->msg_iovlen; i++) {
		len += msg->msg_iov[i].iov_len;
		if (len > HOMA_MAX_MESSAGE_LENGTH)
			break;
	}
	if (len == 0 || len > HOMA_MAX_MESSAGE_LENGTH)
		return hp_fail(ps, EINVAL, "sendmsg: length %zu not in 1..%d",
			       len, HOMA_MAX_MESSAGE_LENGTH);
	if (a.id != 0 && a.completion_cookie != 0)
		return hp_fail(ps, EINVAL, "sendmsg: a response has no cookie");
	if (msg->msg_name != NULL && msg->msg_namelen >= sizeof(sa_family_t) &&
	    ((const struct sockaddr *)msg->msg_name)->sa_family != ps->family)
		return hp_fail(
			ps, EAFNOSUPPORT, "sendmsg: address family %d",
			((const struct sockaddr *)msg->msg_name)->sa_family);
	if (hp_use(ps) < 0)
		return -1;
	hf = (flags & MSG_DONTWAIT) || ps->nonblock ? HC_NONBLOCK : 0;
	if (a.id == 0) {
		uint64_t id = 0;

		if (a.flags & HOMA_SENDMSG_PRIVATE)
			hf |= HC_PRIVATE;
		rc = hc_send_requestv(ps->s, msg->msg_name, msg->msg_namelen,
				      msg->msg_iov, (int)msg->msg_iovlen,
				      a.completion_cookie, hf, &id);
		if (rc == 0) {
			a.id = id;
			memcpy(msg->msg_control, &a, sizeof(a));
		}
	} else {
		rc = hc_send_responsev(ps->s, a.id, msg->msg_name,
				       msg->msg_namelen, msg->msg_iov,
				       (int)msg->msg_iovlen, hf);
	}
	if (rc < 0)
		rc = hp_hc_fail(ps, rc);
	hp_done(ps);
	return rc;
}

HP_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct psock *ps = hp_get(fd);
	ssize_t rc;

	if (ps == NULL) {
		LAZY(real_sendmsg, "sendmsg");
		return real_sendmsg(fd, msg, flags);
	}
	rc = hp_sendmsg(ps, msg, flags);
	hp_put(ps);
	return rc;
}

static ssize_t hp_recvmsg(struct psock *ps, struct msghdr *msg, int flags)
{
	struct homa_recvmsg_args a;
	struct hc_msg m;
	int rc, timeout;

	if (msg == NULL || msg->msg_control == NULL) {
		errno = EFAULT;
		return -1;
	}
	if (msg->msg_controllen != sizeof(a))
		return hp_fail(ps, EINVAL,
			       "recvmsg: msg_controllen %zu, not %zu",
			       (size_t)msg->msg_controllen, sizeof(a));
	memcpy(&a, msg->msg_control, sizeof(a));
	if (a.num_bpages > HOMA_MAX_BPAGES)
		return hp_fail(ps, EINVAL, "recvmsg: num_bpages %u",
			       a.num_bpages);
	if (hp_use(ps) < 0)
		return -1;
	if (ps->pool_bytes == 0) {
		hp_done(ps);
		return hp_fail(ps, EINVAL, "recvmsg: no SO_HOMA_RCVBUF region");
	}
	for (uint32_t i = 0; i < a.num_bpages; i++)
		if (a.bpage_offsets[i] >= ps->pool_bytes) {
			hp_done(ps);
			return hp_fail(ps, EINVAL,
				       "recvmsg: bpage offset %u outside the "
				       "region",
				       a.bpage_offsets[i]);
		}
	if (a.num_bpages > 0) {
		memset(&m, 0, sizeof(m));
		m.num_bpages = a.num_bpages;
		memcpy(m.bpage_offsets, a.bpage_offsets,
		       a.num_bpages * sizeof(uint32_t));
		hc_recycle(ps->s, &m);
		a.num_bpages = 0;
		memcpy(msg->msg_control, &a, sizeof(a));
	}
	if ((flags & MSG_DONTWAIT) || ps->nonblock)
		timeout = 0;
	else if (ps->rcvtimeo_ms > 0)
		timeout = ps->rcvtimeo_ms > INT_MAX ? INT_MAX
						    : (int)ps->rcvtimeo_ms;
	else
		timeout = -1;
	rc = hc_recv(ps->s, a.id, timeout, &m);
	if (rc < 0) {
		rc = hp_hc_fail(ps, rc);
		hp_done(ps);
		return rc;
	}
	hp_done(ps);
	a.id = m.id;
	a.completion_cookie = m.cookie;
	a.num_bpages = m.num_bpages;
	a.reserved = 0;
	memcpy(a.bpage_offsets, m.bpage_offsets, sizeof(a.bpage_offsets));
	memcpy(msg->msg_control, &a, sizeof(a));
	msg->msg_controllen = 0;
	msg->msg_flags = 0;
	if (m.error != 0) {
		hp_errmsg(ps, "RPC %llu failed: %s", (unsigned long long)m.id,
			  strerror(m.error));
		errno = m.error;
		return -1;
	}
	if (msg->msg_name != NULL) {
		socklen_t n = m.peer_len;

		memcpy(msg->msg_name, &m.peer,
		       msg->msg_namelen < n ? msg->msg_namelen : n);
		msg->msg_namelen = n;
	}
	return (ssize_t)m.length;
}

HP_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct psock *ps = hp_get(fd);
	ssize_t rc;

	if (ps == NULL) {
		LAZY(real_recvmsg, "recvmsg");
		return real_recvmsg(fd, msg, flags);
	}
	rc = hp_recvmsg(ps, msg, flags);
	hp_put(ps);
	return rc;
}

/*
 * Byte-stream and datagram calls other than sendmsg/recvmsg: a Homa socket
 * has none (the module answers them EINVAL, for lack of the args).
 */
static ssize_t hp_no_stream(int fd)
{
	struct psock *ps = hp_get(fd);

	if (ps == NULL) {
		errno = EBADF;
		return -1;
	}
	hp_fail(ps, EINVAL, "only sendmsg and recvmsg move Homa messages");
	hp_put(ps);
	return -1;
}

HP_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	if (hp_is_homa(fd))
		return hp_no_stream(fd);
	LAZY(real_read, "read");
	return real_read(fd, buf, n);
}

HP_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	if (hp_is_homa(fd))
		return hp_no_stream(fd);
	LAZY(real_write, "write");
	return real_write(fd, buf, n);
}

HP_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	if (hp_is_homa(fd))
		return hp_no_stream(fd);
	LAZY(real_recv, "recv");
	return real_recv(fd, buf, n, flags);
}

HP_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	if (hp_is_homa(fd))
		return hp_no_stream(fd);
	LAZY(real_send, "send");
	return real_send(fd, buf, n, flags);
}

HP_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags,
			   struct sockaddr *from, socklen_t *fromlen)
{
	if (hp_is_homa(fd))
		return hp_no_stream(fd);
	LAZY(real_recvfrom, "recvfrom");
	return real_recvfrom(fd, buf, n, flags, from, fromlen);
}

HP_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
			 const struct sockaddr *to, socklen_t tolen)
{
	if (hp_is_homa(fd))
		return hp_no_stream(fd);
	LAZY(real_sendto, "sendto");
	return real_sendto(fd, buf, n, flags, to, tolen);
}

/* ---- ioctl, shutdown -------------------------------------------------- */

#define HP_INFO_MAX 65536u /* homa_rpc_info entries one call fills, at most */

static int hp_info(struct psock *ps, struct homa_info *hi)
{
	struct hc_rpc_info *ri = NULL;
	struct hc_info info;
	unsigned want, n = 0;
	int rc;

	if (hi == NULL) {
		errno = EFAULT;
		return -1;
	}
	want = (unsigned)(hi->rpc_info == 0
				  ? 0
				  : hi->rpc_info_length /
					    sizeof(struct homa_rpc_info));
	if (want > HP_INFO_MAX)
		want = HP_INFO_MAX;
	if (want > 0) {
		ri = calloc(want, sizeof(*ri));
		if (ri == NULL) {
			errno = ENOMEM;
			return -1;
		}
	}
	if (hp_use(ps) < 0) {
		free(ri);
		return -1;
	}
	rc = hc_info(ps->s, &info, ri, want, &n);
	if (rc < 0) {
		rc = hp_hc_fail(ps, rc);
		hp_done(ps);
		free(ri);
		return rc;
	}
	hp_done(ps);
	for (unsigned i = 0; i < n; i++) {
		struct homa_rpc_info o;

		memset(&o, 0, sizeof(o));
		o.id = ri[i].id;
		memcpy(&o.peer, &ri[i].peer, sizeof(ri[i].peer));
		o.completion_cookie = ri[i].cookie;
		o.tx_length = ri[i].tx_length;
		o.tx_sent = ri[i].tx_sent;
		o.tx_granted = ri[i].tx_granted;
		o.tx_prio = ri[i].tx_prio;
		o.rx_length = ri[i].rx_length;
		o.rx_remaining = ri[i].rx_remaining;
		o.rx_gaps = ri[i].rx_gaps;
		o.rx_gap_bytes = ri[i].rx_gap_bytes;
		o.rx_granted = ri[i].rx_granted;
		o.flags = (uint16_t)ri[i].flags;
		memcpy((char *)(uintptr_t)hi->rpc_info + i * sizeof(o), &o,
		       sizeof(o));
	}
	free(ri);
	hi->bpool_avail_bytes = info.bpool_avail_bytes;
	hi->port = info.port;
	hi->num_rpcs = info.num_rpcs;
	pthread_mutex_lock(&ps->lock);
	memcpy(hi->error_msg, ps->errmsg, sizeof(hi->error_msg));
	pthread_mutex_unlock(&ps->lock);
	hi->error_msg[sizeof(hi->error_msg) - 1] = 0;
	return 0;
}

static int hp_abort(struct psock *ps, const struct homa_abort_args *aa)
{
	int rc;

	if (aa == NULL) {
		errno = EFAULT;
		return -1;
	}
	if (aa->_pad1 != 0 || aa->_pad2[0] != 0 || aa->_pad2[1] != 0 ||
	    aa->error > INT_MAX)
		return hp_fail(ps, EINVAL,
			       "HOMAIOCABORT: nonzero pad or "
			       "bad error");
	if (hp_use(ps) < 0)
		return -1;
	rc = hc_abort(ps->s, aa->id, (int)aa->error);
	if (rc < 0)
		rc = hp_hc_fail(ps, rc);
	hp_done(ps);
	return rc;
}

HP_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	struct psock *ps;
	va_list ap;
	void *arg;
	int rc;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	ps = hp_get(fd);
	if (ps == NULL)
		return REAL(ioctl)(fd, req, arg);
	switch (req) {
	case HOMAIOCINFO:
		rc = hp_info(ps, arg);
		break;
	case HOMAIOCABORT:
		rc = hp_abort(ps, arg);
		break;
	case FIONBIO:
		if (arg == NULL) {
			errno = EFAULT;
			rc = -1;
		} else {
			ps->nonblock = *(int *)arg != 0;
			rc = 0;
		}
		break;
	default:
		/* HOMAIOCFREEZE (the module's timetrace) included. */
		rc = hp_fail(ps, EOPNOTSUPP, "ioctl 0x%lx is not supported",
			     req);
		break;
	}
	hp_put(ps);
	return rc;
}

HP_EXPORT int shutdown(int fd, int how)
{
	struct psock *ps = hp_get(fd);
	int rc = 0;

	if (ps == NULL) {
		LAZY(real_shutdown, "shutdown");
		return real_shutdown(fd, how);
	}
	if (hp_use(ps) == 0) {
		hc_shutdown(ps->s);
		pthread_mutex_lock(&ps->lock);
		ps->bound_port = 0;
		ps->server = false;
		pthread_mutex_unlock(&ps->lock);
		hp_done(ps);
	} else {
		rc = -1;
	}
	hp_put(ps);
	return rc;
}

/* ---- readiness -------------------------------------------------------- */

short hp_ready(struct psock *ps)
{
	short ev = 0;
	int m;

	pthread_rwlock_rdlock(&ps->rw);
	if (ps->s == NULL) {
		ev = ps->broken ? POLLERR : POLLOUT;
	} else {
		m = hc_ready(ps->s);
		if (m & HC_READY_RECV)
			ev |= POLLIN;
		if (m & HC_READY_SEND)
			ev |= POLLOUT;
	}
	pthread_rwlock_unlock(&ps->rw);
	return ev;
}

short hp_ready_held(struct psock *ps)
{
	struct hc_sock *s;
	short ev = 0;

	pthread_rwlock_rdlock(&ps->rw);
	s = ps->s;
	if (s == NULL) {
		ev = ps->broken ? POLLERR : POLLOUT;
	} else {
		/* What hc_ready says, without reading the connection. */
		pthread_mutex_lock(&s->lock);
		if (s->q.count > 0 || s->shut || s->dead)
			ev |= POLLIN;
		if (!s->shut && !s->dead && s->tx.free_head != TXTRACK_NONE &&
		    s->tx.area.free_bytes > 0 &&
		    txtrack_wmem_ok(&s->tx, 1, s->wmem_max))
			ev |= POLLOUT;
		pthread_mutex_unlock(&s->lock);
	}
	pthread_rwlock_unlock(&ps->rw);
	return ev;
}

__attribute__((constructor)) static void hp_init(void)
{
	hp_resolve();
	handoff_init();
}
