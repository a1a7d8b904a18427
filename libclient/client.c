/*
 * client.c - a Homa socket's life: hc_open (regions, connection, Open),
 * bind, server flag, abort, info, shutdown, close, readiness, errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client_int.h"
#include "homa_shm.h"

/* homa/client.h states the client protocol's receive pool to applications. */
_Static_assert(HC_BPAGE_SIZE == HOMA_SHM_BPAGE_SIZE,
	       "homa/client.h's bpage is the client protocol's");
_Static_assert(HC_MAX_BPAGES == HOMA_SHM_MAX_BPAGES,
	       "homa/client.h's bpages per message are the client protocol's");

#define HC_DEFAULT_RX_POOL	   (64u << 20)
#define HC_DEFAULT_TX_AREA	   (16u << 20)
#define HC_MIN_TX_AREA		   (64u << 10)
#define HC_DEFAULT_MAX_EVENTS	   16384u
#define HC_DEFAULT_MAX_OUTSTANDING 16384u
#define HC_MAX_LIMIT		   (1u << 24)
#define HC_OPEN_TIMEOUT_MS	   10000

/* Text of this thread's last failed hc_open. */
static __thread char hc_open_error[256];

static int hc_open_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int hc_open_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(hc_open_error, sizeof(hc_open_error), fmt, ap);
	va_end(ap);
	return err;
}

void hc_options_init(struct hc_options *opts)
{
	memset(opts, 0, sizeof(*opts));
}

/*
 * A sealed memfd of size bytes mapped with prot: *fd, *map.  *fd >= 0 on
 * entry: map that memfd instead of creating one (left open on failure).
 * at: map there (MAP_FIXED).
 */
static int hc_region(const char *name, uint64_t size, int prot, void *at,
		     int *fd, uint8_t **map)
{
	bool made = *fd < 0;
	void *p;
	int err;

	if (made) {
		*fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (*fd < 0)
			return -errno;
		if (ftruncate(*fd, (off_t)size) < 0 ||
		    fcntl(*fd, F_ADD_SEALS, HOMA_SHM_REQUIRED_SEALS) < 0)
			goto fail;
	}
	p = mmap(at, size, prot, MAP_SHARED | (at != NULL ? MAP_FIXED : 0), *fd,
		 0);
	if (p == MAP_FAILED)
		goto fail;
	*map = p;
	return 0;
fail:
	err = errno;
	if (made) {
		close(*fd);
		*fd = -1;
	}
	return -err;
}

/* Send Open with [rx_fd, tx_fd] and read the OpenReply. */
static int hc_handshake(struct hc_sock *s, int rx_fd, int tx_fd)
{
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Open o = HOMA__CLIENT__OPEN__INIT;
	Homa__Client__DaemonMsg *d;
	const Homa__Client__OpenReply *r;
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	uint8_t out[64];
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;
	struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
	int fds[2] = {rx_fd, tx_fd}, rc;
	int dfds[5] = {-1, -1, -1, -1, -1};
	unsigned ndfds = 0, nexp;
	const char *env = getenv("HOMA_DIRECT_SEND");
	const char *renv = getenv("HOMA_DIRECT_RECEIVE");
	union {
		char buf[CMSG_SPACE(5 * sizeof(int))];
		struct cmsghdr align;
	} rctl;
	ssize_t n;

	o.version = HOMA_CLIENT_PROTO_VERSION;
	o.family = (uint32_t)s->family;
	o.rx_pool_bytes = s->rx_size;
	o.tx_area_bytes = s->tx_size;
	/* Asked unless HOMA_DIRECT_SEND=0: homad's homa.conf decides. */
	o.direct_send = !(env != NULL && strcmp(env, "0") == 0);
	/* Direct receive needs the area after the pool (hc_open's alone). */
	o.direct_receive = o.direct_send && s->drx_bytes != 0 &&
			   !(renv != NULL && strcmp(renv, "0") == 0);
	m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_OPEN;
	m.open = &o;
	iov.iov_base = out;
	iov.iov_len = homa__client__client_msg__pack(&m, out);
	memset(&mh, 0, sizeof(mh));
	memset(&ctl, 0, sizeof(ctl));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	do {
		n = sendmsg(s->fd, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return hc_open_fail(-errno, "sending Open to homad: %s",
				    strerror(errno));

	do {
		rc = poll(&pfd, 1, HC_OPEN_TIMEOUT_MS);
	} while (rc < 0 && errno == EINTR);
	if (rc == 0)
		return hc_open_fail(-ETIMEDOUT, "homad did not answer Open");
	iov.iov_base = s->rbuf;
	iov.iov_len = HOMA_CLIENT_MAX_DATAGRAM;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = rctl.buf;
	mh.msg_controllen = sizeof(rctl.buf);
	n = recvmsg(s->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n > 0 && mh.msg_controllen > 0) {
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			if (cm->cmsg_level != SOL_SOCKET ||
			    cm->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
				       sizeof(int));
				if (ndfds < 5)
					dfds[ndfds++] = fd;
				else
					close(fd);
			}
		}
	}
	if (n < 0)
		return hc_open_fail(-errno, "reading homad's OpenReply: %s",
				    strerror(errno));
	if (n == 0)
		return hc_open_fail(-ECONNRESET,
				    "homad closed the connection at Open");
	d = homa__client__daemon_msg__unpack(NULL, (size_t)n, s->rbuf);
	if (d == NULL || d->ev_case != HOMA__CLIENT__DAEMON_MSG__EV_OPEN) {
		if (d != NULL)
			homa__client__daemon_msg__free_unpacked(d, NULL);
		return hc_open_fail(-EPROTO, "homad's answer is no OpenReply");
	}
	r = d->open;
	rc = 0;
	if (r->error != 0) {
		rc = hc_open_fail(r->error > 0 ? -r->error : -EPROTO,
				  "homad refused the socket: %s",
				  r->error_text != NULL && r->error_text[0]
					  ? r->error_text
					  : strerror(r->error));
	} else if (r->ids == NULL || r->ids->count == 0 ||
		   (r->ids->first & 1) != 0 || r->port == 0 ||
		   r->port > 0xffff) {
		rc = hc_open_fail(-EPROTO, "homad's OpenReply is incomplete");
	} else {
		s->port = r->port;
		s->id_next = r->ids->first;
		s->id_left = r->ids->count;
		s->id_block = r->ids->count;
		s->wmem_max = r->wmem_max;
		s->max_inline = r->max_inline;
		s->takes_recycle = r->takes_recycle;
		/* [socket, ring, table], with direct_v6 (an AF_INET6
		 * socket) the IPv6 socket, with direct_receive the receive
		 * socket. */
		int sfds[4] = {dfds[0], dfds[1], dfds[2], -1};
		int rfd = -1;

		nexp = 3 + r->direct_v6 + r->direct_receive;
		if (r->direct_v6)
			sfds[3] = dfds[3];
		if (r->direct_receive)
			rfd = dfds[nexp - 1];
		if (r->direct_send && ndfds == nexp &&
		    direct_setup(s, sfds) == 0) {
			/* s->dfd, s->dfd6 now */
			dfds[0] = -1;
			if (r->direct_v6)
				dfds[3] = -1;
			conn_log(s, HC_LOG_DEBUG, "direct send granted%s",
				 s->dfd6 >= 0 ? " (IPv4 and IPv6 peers)" : "");
			if (rfd >= 0) {
				rc = drx_setup(s, rfd);
				if (rc == 0)
					dfds[nexp - 1] = -1; /* s->rfd */
			}
		} else if (r->direct_receive) {
			rc = -EPROTO;
		} else if (o.direct_send && r->direct_refusal != NULL &&
			   r->direct_refusal[0]) {
			conn_log(s, HC_LOG_DEBUG, "no direct send: %s",
				 r->direct_refusal);
		}
		/* homad no longer reads those responses: without the
		 * receive socket they would be lost. */
		if (rc < 0)
			rc = hc_open_fail(rc,
					  "cannot set up direct receive: %s",
					  strerror(-rc));
		else if (rfd >= 0)
			conn_log(s, HC_LOG_DEBUG, "direct receive granted");
		if (o.direct_receive && r->direct_receive_refusal != NULL &&
		    r->direct_receive_refusal[0])
			conn_log(s, HC_LOG_DEBUG, "no direct receive: %s",
				 r->direct_receive_refusal);
	}
	homa__client__daemon_msg__free_unpacked(d, NULL);
	for (unsigned i = 0; i < ndfds; i++)
		if (dfds[i] >= 0)
			close(dfds[i]);
	return rc;
}

/* Free what hc_open made of s so far. */
static void hc_free(struct hc_sock *s)
{
	if (s->fd >= 0)
		close(s->fd);
	if (s->rxmap != NULL && !s->rx_fixed)
		munmap(s->rxmap, s->rx_size + s->drx_bytes);
	if (s->rx_fd >= 0)
		close(s->rx_fd);
	if (s->tx_fd >= 0)
		close(s->tx_fd);
	if (s->txmap != NULL)
		munmap(s->txmap, s->tx_size);
	drx_teardown(s);
	direct_teardown(s);
	evq_destroy(&s->q);
	txtrack_destroy(&s->tx);
	free(s->rbuf);
	free(s->recycle);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int hc_open(struct hc_sock **out, int family, const struct hc_options *opts)
{
	return conn_open(out, family, opts, NULL);
}

int conn_open(struct hc_sock **out, int family, const struct hc_options *opts,
	      const struct conn_open_ext *ext)
{
	struct conn_open_ext none = {.fd = -1, .rx_fd = -1};
	struct hc_options o;
	struct sockaddr_un sun;
	struct hc_sock *s;
	pthread_condattr_t ca;
	const char *path;
	int rx_fd = -1, tx_fd = -1, rc;
	long page = sysconf(_SC_PAGESIZE);

	hc_open_error[0] = 0;
	*out = NULL;
	if (ext == NULL)
		ext = &none;
	if (opts != NULL)
		o = *opts;
	else
		hc_options_init(&o);
	if (family != AF_INET && family != AF_INET6) {
		rc = hc_open_fail(-EAFNOSUPPORT,
				  "family %d is not AF_INET or AF_INET6",
				  family);
		goto reject;
	}
	path = o.socket_path;
	if (path == NULL || path[0] == 0)
		path = getenv("HOMA_SOCKET");
	if (path == NULL || path[0] == 0)
		path = HC_DEFAULT_SOCKET;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		rc = hc_open_fail(-EINVAL, "socket path %s is too long", path);
		goto reject;
	}
	if (o.rx_pool_bytes == 0)
		o.rx_pool_bytes = HC_DEFAULT_RX_POOL;
	if (o.tx_area_bytes == 0)
		o.tx_area_bytes = HC_DEFAULT_TX_AREA;
	if (o.max_events == 0)
		o.max_events = HC_DEFAULT_MAX_EVENTS;
	if (o.max_outstanding == 0)
		o.max_outstanding = HC_DEFAULT_MAX_OUTSTANDING;
	if (o.rx_pool_bytes < HOMA_SHM_MIN_RX_POOL ||
	    o.rx_pool_bytes % HOMA_SHM_BPAGE_SIZE != 0 ||
	    (uint64_t)o.rx_pool_bytes > HOMA_SHM_MAX_RX_POOL) {
		rc = hc_open_fail(-EINVAL,
				  "rx_pool_bytes %zu: not a multiple of "
				  "64 KiB in 128 KiB..4 GiB",
				  o.rx_pool_bytes);
		goto reject;
	}
	if (o.tx_area_bytes < HC_MIN_TX_AREA ||
	    (uint64_t)o.tx_area_bytes > HOMA_SHM_MAX_TX_AREA) {
		rc = hc_open_fail(-EINVAL,
				  "tx_area_bytes %zu is out of range "
				  "(64 KiB..4 GiB)",
				  o.tx_area_bytes);
		goto reject;
	}
	if (o.max_events > HC_MAX_LIMIT || o.max_outstanding > HC_MAX_LIMIT) {
		rc = hc_open_fail(-EINVAL,
				  "max_events/max_outstanding above %u",
				  HC_MAX_LIMIT);
		goto reject;
	}
	o.tx_area_bytes =
		(o.tx_area_bytes + (size_t)page - 1) & ~((size_t)page - 1);

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		rc = hc_open_fail(-ENOMEM, "out of memory");
		goto reject;
	}
	s->fd = ext->fd;
	s->rx_fd = -1;
	s->tx_fd = -1;
	s->dfd = -1;
	s->dfd6 = -1;
	s->rfd = -1;
	s->epfd = -1;
	s->in_fd = -1;
	s->rx_fixed = ext->rx_at != NULL;
	s->family = family;
	s->rx_size = o.rx_pool_bytes;
	s->tx_size = o.tx_area_bytes;
	s->soft_events = o.max_events;
	s->hard_events = 2 * o.max_events;
	s->log = o.log;
	s->log_arg = o.log_arg;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	s->rbuf = malloc((size_t)CONN_RX_BATCH * HOMA_CLIENT_MAX_DATAGRAM);
	s->recycle_cap = 4 * CONN_RECYCLE_CAP;
	s->recycle = malloc(s->recycle_cap * sizeof(*s->recycle));
	if (s->rbuf == NULL || s->recycle == NULL) {
		rc = hc_open_fail(-ENOMEM, "out of memory");
		goto fail;
	}
	rc = evq_init(&s->q, s->hard_events, o.max_outstanding);
	if (rc == 0)
		rc = txtrack_init(&s->tx, s->tx_size, o.max_outstanding);
	if (rc < 0) {
		hc_open_fail(rc, "cannot allocate the socket's tables");
		goto fail;
	}

	if (ext->rx_fd >= 0) {
		rx_fd = fcntl(ext->rx_fd, F_DUPFD_CLOEXEC, 0);
		if (rx_fd < 0) {
			rc = hc_open_fail(-errno, "dup of the rx memfd: %s",
					  strerror(errno));
			goto fail;
		}
	}
	/* hc_open's own pool gets the direct receive area after it. */
	if (ext == &none) {
		void *at = drx_reserve(s->rx_size, &s->drx_bytes);

		if (at == NULL)
			s->drx_bytes = 0;
		rc = hc_region("homa-rx", s->rx_size, PROT_READ, at, &rx_fd,
			       &s->rxmap);
		if (rc < 0 && at != NULL)
			munmap(at, s->rx_size + s->drx_bytes);
		if (rc < 0)
			s->drx_bytes = 0;
	} else {
		rc = hc_region("homa-rx", s->rx_size,
			       ext->rx_at != NULL ? PROT_READ | PROT_WRITE
						  : PROT_READ,
			       ext->rx_at, &rx_fd, &s->rxmap);
	}
	if (rc < 0)
		s->rx_fixed = false; /* nothing of the caller's was mapped */
	if (rc == 0)
		rc = hc_region("homa-tx", s->tx_size, PROT_READ | PROT_WRITE,
			       NULL, &tx_fd, &s->txmap);
	if (rc < 0) {
		hc_open_fail(rc, "cannot create the shared regions: %s",
			     strerror(-rc));
		goto fail;
	}

	if (s->fd < 0) {
		s->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (s->fd < 0) {
			rc = hc_open_fail(-errno, "socket: %s",
					  strerror(errno));
			goto fail;
		}
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, path, strlen(path) + 1);
		if (connect(s->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			rc = hc_open_fail(-errno,
					  "cannot connect to homad at %s: %s",
					  path, strerror(errno));
			goto fail;
		}
		conn_own_timeo(s);
	}
	rc = hc_handshake(s, rx_fd, tx_fd);
	if (rc < 0)
		goto fail;
	if (ext->keep_fds) {
		s->rx_fd = rx_fd;
		s->tx_fd = tx_fd;
	} else {
		close(rx_fd);
		close(tx_fd);
	}
	*out = s;
	return 0;
reject:
	if (ext->fd >= 0)
		close(ext->fd);
	return rc;
fail:
	if (rx_fd >= 0)
		close(rx_fd);
	if (tx_fd >= 0)
		close(tx_fd);
	hc_free(s);
	return rc;
}

void hc_close(struct hc_sock *s)
{
	if (s == NULL)
		return;
	/* Closing the connection is enough: homad ends everything. */
	hc_free(s);
}

int hc_bind(struct hc_sock *s, unsigned port)
{
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Bind b = HOMA__CLIENT__BIND__INIT;
	struct conn_call c = {.kind = CONN_CMD_BIND};
	bool lost;
	int rc;

	if (port >= HC_MIN_DEFAULT_PORT) {
		pthread_mutex_lock(&s->lock);
		conn_set_error(s, "port %u is out of range (0..%u)", port,
			       HC_MIN_DEFAULT_PORT - 1);
		pthread_mutex_unlock(&s->lock);
		return -EINVAL;
	}
	if (port == 0)
		return 0;
	b.port = port;
	pthread_mutex_lock(&s->lock);
	b.direct_requests = drx_may_serve(s);
	s->srx_lost = false;
	pthread_mutex_unlock(&s->lock);
	m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_BIND;
	m.bind = &b;
	rc = conn_call(s, &m, &c);
	pthread_mutex_lock(&s->lock);
	lost = s->srx_lost;
	s->srx_lost = false;
	pthread_mutex_unlock(&s->lock);
	if (rc == 0 && lost) {
		/* Else homad's sockets would drop requests nobody reads. */
		struct conn_call c2 = {.kind = CONN_CMD_BIND};

		b.direct_requests = false;
		rc = conn_call(s, &m, &c2);
	}
	return rc;
}

int hc_set_server(struct hc_sock *s, bool on)
{
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__SetServer ss = HOMA__CLIENT__SET_SERVER__INIT;
	struct conn_call c = {.kind = CONN_CMD_PLAIN};
	int rc;

	ss.on = on;
	m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SET_SERVER;
	m.set_server = &ss;
	rc = conn_call(s, &m, &c);
	if (rc == 0) {
		/* Requests its request socket reads go to homad then (which
		 * refuses them as it would its own). */
		pthread_mutex_lock(&s->lock);
		s->srx_off = !on;
		pthread_mutex_unlock(&s->lock);
	}
	return rc;
}

unsigned hc_port(struct hc_sock *s)
{
	unsigned port;

	pthread_mutex_lock(&s->lock);
	port = s->port;
	pthread_mutex_unlock(&s->lock);
	return port;
}

int hc_family(const struct hc_sock *s)
{
	return s->family;
}

int hc_fd(const struct hc_sock *s)
{
	/* With direct receive: the connection and the receive socket. */
	return s->epfd >= 0 ? s->epfd : s->fd;
}

int hc_ready(struct hc_sock *s)
{
	int mask = 0;

	pthread_mutex_lock(&s->lock);
	conn_drain(s, UINT32_MAX);
	if (conn_recycle_due(s))
		conn_flush_locked(s);
	if (s->q.count > 0 || s->shut || s->dead)
		mask |= HC_READY_RECV;
	if (!s->shut && !s->dead && txtrack_has_free(&s->tx) &&
	    s->tx.area.free_bytes > 0 &&
	    txtrack_wmem_ok(&s->tx, 1, s->wmem_max))
		mask |= HC_READY_SEND;
	pthread_mutex_unlock(&s->lock);
	return mask;
}

unsigned hc_queued(struct hc_sock *s)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->q.count;
	pthread_mutex_unlock(&s->lock);
	return n;
}

int hc_abort(struct hc_sock *s, uint64_t id, int error)
{
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Abort a = HOMA__CLIENT__ABORT__INIT;
	struct conn_call c = {.kind = CONN_CMD_ABORT};

	if ((id & 1) != 0 || error < 0) {
		pthread_mutex_lock(&s->lock);
		conn_set_error(s, "abort: %s",
			       (id & 1) ? "odd id" : "error < 0");
		pthread_mutex_unlock(&s->lock);
		return -EINVAL;
	}
	c.abort_id = id;
	c.abort_err = error;
	a.id = id;
	a.error = error;
	m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_ABORT;
	m.abort = &a;
	return conn_call(s, &m, &c);
}

int hc_info(struct hc_sock *s, struct hc_info *info, struct hc_rpc_info *rpcs,
	    unsigned max_rpcs, unsigned *n_rpcs)
{
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Info i = HOMA__CLIENT__INFO__INIT;
	struct conn_call c = {.kind = CONN_CMD_INFO};
	const Homa__Client__InfoReply *r;
	unsigned n = 0;
	int rc;

	if (n_rpcs != NULL)
		*n_rpcs = 0;
	if (rpcs == NULL)
		max_rpcs = 0;
	i.max_rpcs = max_rpcs;
	m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_INFO;
	m.info = &i;
	rc = conn_call(s, &m, &c);
	if (rc < 0)
		return rc;
	if (c.answer == NULL || c.answer->reply->info == NULL) {
		if (c.answer != NULL)
			homa__client__daemon_msg__free_unpacked(c.answer, NULL);
		return -EPROTO;
	}
	r = c.answer->reply->info;
	memset(info, 0, sizeof(*info));
	info->port = r->port;
	info->num_rpcs = r->num_rpcs;
	info->bpool_avail_bytes = r->bpool_avail_bytes;
	for (size_t k = 0; k < r->n_rpcs && n < max_rpcs; k++) {
		const Homa__Client__RpcInfo *ri = r->rpcs[k];
		struct hc_rpc_info *o = &rpcs[n];
		struct sockaddr_storage ss;
		socklen_t len;

		memset(o, 0, sizeof(*o));
		o->id = ri->id;
		if (ri->peer != NULL &&
		    addr_to_sockaddr(s->family, ri->peer->addr.data,
				     ri->peer->addr.len,
				     (uint16_t)ri->peer->port, &ss, &len) == 0)
			memcpy(&o->peer, &ss, len);
		o->cookie = ri->cookie;
		o->tx_length = ri->tx_length;
		o->tx_sent = ri->tx_sent;
		o->tx_granted = ri->tx_granted;
		o->tx_prio = ri->tx_prio;
		o->rx_length = ri->rx_length;
		o->rx_remaining = ri->rx_remaining;
		o->rx_gaps = ri->rx_gaps;
		o->rx_gap_bytes = ri->rx_gap_bytes;
		o->rx_granted = ri->rx_granted;
		o->flags = ri->flags;
		n++;
	}
	if (n_rpcs != NULL)
		*n_rpcs = n;
	homa__client__daemon_msg__free_unpacked(c.answer, NULL);
	return 0;
}

int hc_shutdown(struct hc_sock *s)
{
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Shutdown sd = HOMA__CLIENT__SHUTDOWN__INIT;
	struct conn_call c = {.kind = CONN_CMD_SHUTDOWN};
	int rc;

	pthread_mutex_lock(&s->lock);
	if (s->shut) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	pthread_mutex_unlock(&s->lock);
	m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SHUTDOWN;
	m.shutdown = &sd;
	rc = conn_call(s, &m, &c);
	pthread_mutex_lock(&s->lock);
	if (rc < 0 && !s->shut) {
		/* homad is gone (or refused): shut down locally all the same.
		 */
		s->shut = true;
		s->port = 0;
		s->nrecycle = 0;
		s->pins = 0;
		evq_clear(&s->q, NULL, NULL);
		evq_priv_clear(&s->q, NULL, NULL);
	}
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

const char *hc_strerror(int err)
{
	const char *t;

	if (err < 0)
		err = -err;
	if (err == 0)
		return "Success";
	t = strerrordesc_np(err);
	return t != NULL ? t : "Unknown error";
}

char *hc_last_error(struct hc_sock *s, char *buf, size_t len)
{
	if (buf == NULL || len == 0)
		return buf;
	if (s == NULL) {
		snprintf(buf, len, "%s", hc_open_error);
		return buf;
	}
	pthread_mutex_lock(&s->lock);
	snprintf(buf, len, "%s", s->errtext);
	pthread_mutex_unlock(&s->lock);
	return buf;
}
