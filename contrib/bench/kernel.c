/*
 * kernel.c - homa-bench's "kernel" backend: RPCs through the Linux Homa
 * socket API (homa/homa.h: socket(..., IPPROTO_HOMA), SO_HOMA_RCVBUF,
 * sendmsg/recvmsg with the Homa args), its own code, no libhomaclient.
 * On a host with the Homa module it runs on the module; under homa-run(1)
 * it runs on homad through libhomapreload, so one tool compares the two.
 *
 * As the homa backend: messages are sent from a static buffer; received
 * messages are read in place (not copied) and their bpages handed back
 * with the next recvmsg; the cookie of a request is homa-bench's tag.
 */
#include <config.h>

#include "bench.h"

#include <homa/homa.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Messages handled per socket per wake-up, at most. */
#define KERNEL_BATCH 64
/* The receive region (the module wants CPUs x 64 KiB + 2 MB at least). */
#define KERNEL_REGION (64ul << 20)

static unsigned char kernel_txbuf[BENCH_MAX_MESSAGE];

/* A Homa socket with its receive region and the bpages to hand back. */
struct kernel_sock {
	int fd;
	void *region;
	size_t region_len;
	struct homa_recvmsg_args ra;
};

struct kernel_client {
	struct kernel_sock k;
	const struct bench_server *servers;
	int nservers;
};

static void kernel_sock_close(struct kernel_sock *k)
{
	if (k->fd >= 0)
		close(k->fd);
	if (k->region != NULL)
		munmap(k->region, k->region_len);
	k->fd = -1;
	k->region = NULL;
}

/* Open k: a socket of family with its region, bound to port (0: none). */
static int kernel_sock_open(struct kernel_sock *k, int family, unsigned port,
			    char *err, size_t errlen)
{
	struct homa_rcvbuf_args rb;
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	int e;

	memset(k, 0, sizeof(*k));
	k->region_len = KERNEL_REGION;
	if (ncpu > 0 && (size_t)ncpu * 65536 + 2000000 > k->region_len)
		k->region_len = ((size_t)ncpu * 65536 + 2000000 + 0xffff) &
				~(size_t)0xffff;
	k->fd = socket(family, SOCK_DGRAM, IPPROTO_HOMA);
	if (k->fd < 0) {
		e = errno;
		snprintf(err, errlen, "kernel: socket(IPPROTO_HOMA): %s%s",
			 strerror(e),
			 e == EPROTONOSUPPORT
				 ? " (no Homa module; on homad use homa-run)"
				 : "");
		return -e;
	}
	k->region = mmap(NULL, k->region_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (k->region == MAP_FAILED) {
		e = errno;
		k->region = NULL;
		kernel_sock_close(k);
		snprintf(err, errlen, "kernel: region: %s", strerror(e));
		return -e;
	}
	rb.start = (uintptr_t)k->region;
	rb.length = k->region_len;
	if (setsockopt(k->fd, IPPROTO_HOMA, SO_HOMA_RCVBUF, &rb, sizeof(rb)) <
	    0) {
		e = errno;
		snprintf(err, errlen, "kernel: SO_HOMA_RCVBUF: %s",
			 strerror(e));
		kernel_sock_close(k);
		return -e;
	}
	if (port != 0) {
		struct sockaddr_storage ss;
		socklen_t len;

		memset(&ss, 0, sizeof(ss));
		ss.ss_family = (sa_family_t)family;
		if (family == AF_INET) {
			((struct sockaddr_in *)&ss)->sin_port =
				htons((uint16_t)port);
			len = sizeof(struct sockaddr_in);
		} else {
			((struct sockaddr_in6 *)&ss)->sin6_port =
				htons((uint16_t)port);
			len = sizeof(struct sockaddr_in6);
		}
		if (bind(k->fd, (struct sockaddr *)&ss, len) < 0) {
			e = errno;
			snprintf(err, errlen, "kernel: bind to port %u: %s",
				 port, strerror(e));
			kernel_sock_close(k);
			return -e;
		}
	}
	return 0;
}

/*
 * recvmsg without waiting, handing back the previous message's bpages:
 * the length (>= 0), or -errno (-EAGAIN: nothing); *a is the result.
 */
static ssize_t kernel_recv(struct kernel_sock *k, struct homa_recvmsg_args *a,
			   struct sockaddr_storage *peer, socklen_t *plen)
{
	struct msghdr m;
	ssize_t n;

	k->ra.id = 0;
	k->ra.completion_cookie = 0;
	memset(&m, 0, sizeof(m));
	m.msg_name = peer;
	m.msg_namelen = peer != NULL ? sizeof(*peer) : 0;
	m.msg_control = &k->ra;
	m.msg_controllen = sizeof(k->ra);
	n = recvmsg(k->fd, &m, MSG_DONTWAIT);
	*a = k->ra;
	if (n < 0) {
		k->ra.num_bpages = 0; /* handed back on entry */
		return -errno;
	}
	if (plen != NULL)
		*plen = m.msg_namelen;
	return n;
}

static void kernel_client_close(void *cp)
{
	struct kernel_client *c = cp;

	if (c == NULL)
		return;
	kernel_sock_close(&c->k);
	free(c);
}

static int kernel_client_open(const struct bench_opts *o,
			      const struct bench_server *servers, int nservers,
			      void **cp, char *err, size_t errlen)
{
	struct kernel_client *c;
	int family = servers[0].addr.ss_family, rc;

	(void)o;
	for (int i = 1; i < nservers; i++) {
		if (servers[i].addr.ss_family != family) {
			snprintf(err, errlen,
				 "kernel: servers must all be "
				 "IPv4 or all IPv6");
			return -EAFNOSUPPORT;
		}
	}
	for (size_t i = 0; i < sizeof(kernel_txbuf); i++)
		kernel_txbuf[i] = (unsigned char)(i * 7 + 1);
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	rc = kernel_sock_open(&c->k, family, 0, err, errlen);
	if (rc < 0) {
		free(c);
		return rc;
	}
	c->servers = servers;
	c->nservers = nservers;
	*cp = c;
	return 0;
}

/* sendmsg of len bytes of kernel_txbuf: id (request: 0) and cookie. */
static int kernel_send(int fd, const struct sockaddr_storage *to,
		       socklen_t tolen, uint64_t id, uint64_t cookie,
		       uint32_t len, int flags)
{
	struct homa_sendmsg_args a = {.id = id, .completion_cookie = cookie};
	struct iovec iov = {.iov_base = kernel_txbuf, .iov_len = len};
	struct msghdr m;

	memset(&m, 0, sizeof(m));
	m.msg_name = (void *)to;
	m.msg_namelen = tolen;
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = &a;
	m.msg_controllen = 0;
	return sendmsg(fd, &m, flags) < 0 ? -errno : 0;
}

static int kernel_client_send(void *cp, int server, uint64_t tag,
			      uint32_t req_len)
{
	struct kernel_client *c = cp;
	const struct bench_server *sv = &c->servers[server];

	/* Never block: the load generator retries after its next poll. */
	return kernel_send(c->k.fd, &sv->addr, sv->addrlen, 0, tag, req_len,
			   MSG_DONTWAIT);
}

static int kernel_client_drain(struct kernel_client *c, bench_done_fn done,
			       void *arg, char *err, size_t errlen)
{
	struct homa_recvmsg_args a;
	int n = 0;

	while (n < KERNEL_BATCH) {
		ssize_t len = kernel_recv(&c->k, &a, NULL, NULL);

		if (len == -EAGAIN)
			break;
		if (len < 0 && a.id == 0) {
			snprintf(err, errlen, "kernel: recvmsg: %s",
				 strerror((int)-len));
			return (int)len;
		}
		if (len < 0)
			done(arg, a.completion_cookie, 0, (int)len);
		else
			done(arg, a.completion_cookie, (uint32_t)len, 0);
		n++;
	}
	return n;
}

static int kernel_client_poll(void *cp, int64_t timeout_ns, bench_done_fn done,
			      void *arg, char *err, size_t errlen)
{
	struct kernel_client *c = cp;
	struct pollfd pfd = {.fd = c->k.fd, .events = POLLIN};
	struct timespec ts, *tsp = NULL;
	int n;

	n = kernel_client_drain(c, done, arg, err, errlen);
	if (n != 0 || timeout_ns == 0)
		return n;
	if (timeout_ns > 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	if (ppoll(&pfd, 1, tsp, NULL) < 0 && errno != EINTR) {
		snprintf(err, errlen, "kernel: poll: %s", strerror(errno));
		return -errno;
	}
	return kernel_client_drain(c, done, arg, err, errlen);
}

/* Answer what one server socket has; 0 or -errno (err set). */
static int kernel_serve_one(struct kernel_sock *k, const struct bench_opts *o,
			    char *err, size_t errlen)
{
	for (int n = 0; n < KERNEL_BATCH; n++) {
		struct homa_recvmsg_args a;
		struct sockaddr_storage peer;
		socklen_t plen = 0;
		ssize_t len = kernel_recv(k, &a, &peer, &plen);
		int rc;

		if (len == -EAGAIN)
			return 0;
		if (len < 0) {
			if (a.id != 0)
				continue; /* a failed RPC: nothing to answer */
			snprintf(err, errlen, "kernel: recvmsg: %s",
				 strerror((int)-len));
			return (int)len;
		}
		if ((a.id & 1) == 0)
			continue;
		if (o->requests != NULL)
			(*o->requests)++;
		rc = kernel_send(k->fd, &peer, plen, a.id, 0,
				 o->resp_len ? o->resp_len : (uint32_t)len, 0);
		if (rc < 0 && rc != -EINVAL) {
			snprintf(err, errlen, "kernel: response: %s",
				 strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static int kernel_serve(const struct bench_opts *o, volatile sig_atomic_t *stop,
			char *err, size_t errlen)
{
	static const int families[] = {AF_INET, AF_INET6};
	struct kernel_sock socks[2];
	struct pollfd pfd[2];
	int nsocks = 0, rc = 0;

	if (o->hold > 0) {
		snprintf(err, errlen, "kernel: --hold is the homa backend's");
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(kernel_txbuf); i++)
		kernel_txbuf[i] = (unsigned char)(i * 7 + 1);
	for (int f = 0; f < 2; f++) {
		rc = kernel_sock_open(&socks[nsocks], families[f], o->port, err,
				      errlen);
		if (rc == -EADDRINUSE && nsocks > 0)
			continue; /* one port space for both families */
		if (rc == -EAFNOSUPPORT)
			continue;
		if (rc < 0)
			goto out;
		pfd[nsocks] = (struct pollfd){.fd = socks[nsocks].fd,
					      .events = POLLIN};
		nsocks++;
	}
	rc = 0;
	if (nsocks == 0) {
		snprintf(err, errlen, "kernel: neither IPv4 nor IPv6 sockets");
		rc = -EAFNOSUPPORT;
		goto out;
	}
	while (!*stop) {
		for (int i = 0; i < nsocks; i++) {
			rc = kernel_serve_one(&socks[i], o, err, errlen);
			if (rc < 0)
				goto out;
		}
		if (poll(pfd, (nfds_t)nsocks, 200) < 0 && errno != EINTR) {
			rc = -errno;
			snprintf(err, errlen, "kernel: poll: %s",
				 strerror(errno));
			goto out;
		}
	}
out:
	for (int i = 0; i < nsocks; i++)
		kernel_sock_close(&socks[i]);
	return rc;
}

const struct bench_proto kernel_proto = {
	.name = "kernel",
	.client_open = kernel_client_open,
	.client_send = kernel_client_send,
	.client_poll = kernel_client_poll,
	.client_close = kernel_client_close,
	.serve = kernel_serve,
};
