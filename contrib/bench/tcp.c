/*
 * tcp.c - homa-bench's TCP backend: RPCs as length-prefixed messages on
 * one persistent connection per client-server pair (as the Homa module's
 * cp_node does it).  A client pipelines its requests to a server on that
 * connection; the server answers them in order.  Both sides are one thread
 * with epoll and non-blocking sockets.
 *
 * Frame on the byte stream, then len bytes of payload:
 *   u32 magic "HB01" (big-endian) | u32 len (big-endian) | u64 tag (echoed)
 */
#include <config.h>

#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define TCP_MAGIC 0x48423031u /* "HB01" */
#define TCP_HDR	  16

/*
 * Responses a server queues on one connection; with a full queue it stops
 * reading requests.
 */
#define TCP_SERVER_QUEUE 65536
/* Connections a server accepts at once. */
#define TCP_SERVER_CONNS 1024
/* iovecs per writev; reads per wake-up of one connection. */
#define TCP_IOV	  64
#define TCP_READS 16

/* A message waiting to be sent. */
struct tcp_msg {
	uint64_t tag;
	uint32_t len; /* payload bytes */
};

/*
 * One connection's framing state.  Owned by the client endpoint or the
 * server loop; txq is a ring of txcap messages, the first tx_off bytes
 * (header + payload) of the head already sent.
 */
struct tcp_conn {
	int fd;
	struct tcp_msg *txq;
	uint32_t txcap, txhead, txn;
	uint64_t tx_off;
	unsigned char rxhdr[TCP_HDR]; /* header being read */
	uint32_t rxhdr_got;	      /* bytes of it so far */
	uint32_t rx_len;	      /* payload bytes of the current message */
	uint32_t rx_left;	      /* of them still to read */
	uint64_t rx_tag;
	uint32_t events; /* registered with epoll */
};

/* Payload source and sink (their contents do not matter). */
static unsigned char tcp_txbuf[BENCH_MAX_MESSAGE];
static unsigned char tcp_rxbuf[1 << 20];
static int tcp_txbuf_ready;

static void tcp_fill_txbuf(void)
{
	if (!tcp_txbuf_ready) {
		for (size_t i = 0; i < sizeof(tcp_txbuf); i++)
			tcp_txbuf[i] = (unsigned char)(i * 7 + 1);
		tcp_txbuf_ready = 1;
	}
}

/* Append a message to c's queue.  -ENOBUFS when full. */
static int tcp_conn_queue(struct tcp_conn *c, uint64_t tag, uint32_t len)
{
	if (c->txn == c->txcap)
		return -ENOBUFS;
	c->txq[(c->txhead + c->txn) % c->txcap] = (struct tcp_msg){tag, len};
	c->txn++;
	return 0;
}

/* Send as much of the queue as the socket takes.  0 or -errno. */
static int tcp_conn_flush(struct tcp_conn *c)
{
	while (c->txn > 0) {
		unsigned char hdrs[TCP_IOV / 2][TCP_HDR];
		struct iovec iov[TCP_IOV];
		int niov = 0;
		uint64_t off = c->tx_off;
		ssize_t n;

		for (uint32_t k = 0; k < c->txn && niov + 2 <= TCP_IOV; k++) {
			const struct tcp_msg *m =
				&c->txq[(c->txhead + k) % c->txcap];
			unsigned char *h = hdrs[niov / 2];
			uint32_t v;

			v = htonl(TCP_MAGIC);
			memcpy(h, &v, 4);
			v = htonl(m->len);
			memcpy(h + 4, &v, 4);
			memcpy(h + 8, &m->tag, 8);
			if (off < TCP_HDR)
				iov[niov++] =
					(struct iovec){h + off, TCP_HDR - off};
			if (m->len > 0 && off < TCP_HDR + (uint64_t)m->len) {
				uint64_t p = off > TCP_HDR ? off - TCP_HDR : 0;

				iov[niov++] = (struct iovec){tcp_txbuf + p,
							     m->len - p};
			}
			off = 0;
		}
		n = writev(c->fd, iov, niov);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* Retire the messages the write completed. */
		while (n > 0 && c->txn > 0) {
			const struct tcp_msg *m = &c->txq[c->txhead];
			uint64_t left = TCP_HDR + (uint64_t)m->len - c->tx_off;

			if ((uint64_t)n < left) {
				c->tx_off += (uint64_t)n;
				break;
			}
			n -= (ssize_t)left;
			c->tx_off = 0;
			c->txhead = (c->txhead + 1) % c->txcap;
			c->txn--;
		}
	}
	return 0;
}

/*
 * Read what the socket has and call on_msg(arg, tag, len) per complete
 * message, at most max_msgs times.  Returns 0, -ECONNRESET when the peer
 * closed, -EPROTO for a bad frame, or -errno.
 */
static int tcp_conn_read(struct tcp_conn *c, size_t max_msgs,
			 int (*on_msg)(void *arg, uint64_t tag, uint32_t len),
			 void *arg)
{
	for (int r = 0; r < TCP_READS; r++) {
		/*
		 * A read of k * TCP_HDR bytes completes at most k + 1
		 * messages (one may have begun before it).
		 */
		size_t want = sizeof(tcp_rxbuf);
		ssize_t n;
		size_t i = 0;

		if (max_msgs <= 1)
			return 0;
		if ((max_msgs - 1) < want / TCP_HDR)
			want = (max_msgs - 1) * TCP_HDR;
		n = read(c->fd, tcp_rxbuf, want);
		if (n == 0)
			return -ECONNRESET; /* the peer closed */
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0
								       : -errno;
		}
		while (i < (size_t)n) {
			if (c->rxhdr_got < TCP_HDR) {
				size_t take = TCP_HDR - c->rxhdr_got;
				uint32_t magic, len;

				if (take > (size_t)n - i)
					take = (size_t)n - i;
				memcpy(c->rxhdr + c->rxhdr_got, tcp_rxbuf + i,
				       take);
				c->rxhdr_got += (uint32_t)take;
				i += take;
				if (c->rxhdr_got < TCP_HDR)
					break;
				memcpy(&magic, c->rxhdr, 4);
				memcpy(&len, c->rxhdr + 4, 4);
				memcpy(&c->rx_tag, c->rxhdr + 8, 8);
				len = ntohl(len);
				if (ntohl(magic) != TCP_MAGIC ||
				    len > BENCH_MAX_MESSAGE)
					return -EPROTO;
				c->rx_len = c->rx_left = len;
			} else {
				size_t take = c->rx_left;

				if (take > (size_t)n - i)
					take = (size_t)n - i;
				c->rx_left -= (uint32_t)take;
				i += take;
			}
			if (c->rxhdr_got == TCP_HDR && c->rx_left == 0) {
				int rc;

				c->rxhdr_got = 0;
				rc = on_msg(arg, c->rx_tag, c->rx_len);
				if (rc < 0)
					return rc;
				max_msgs--;
			}
		}
		if ((size_t)n < want)
			return 0;
	}
	return 0;
}

/* Register what c waits for: input unless paused, output while queued. */
static int tcp_conn_arm(int ep, struct tcp_conn *c, bool want_in)
{
	uint32_t ev = (want_in ? EPOLLIN : 0) | (c->txn > 0 ? EPOLLOUT : 0);
	struct epoll_event e = {.events = ev, .data.ptr = c};

	if (ev == c->events)
		return 0;
	c->events = ev;
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0 ? -errno : 0;
}

static int tcp_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void tcp_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The client endpoint: one connection per server. */
struct tcp_client {
	int ep;
	int nconns;
	struct tcp_conn *conns;
	bench_done_fn done; /* of the poll in progress */
	void *done_arg;
	int ndone;
};

static void tcp_client_close(void *cp)
{
	struct tcp_client *c = cp;

	if (c == NULL)
		return;
	for (int i = 0; i < c->nconns; i++) {
		if (c->conns[i].fd >= 0)
			close(c->conns[i].fd);
		free(c->conns[i].txq);
	}
	free(c->conns);
	if (c->ep >= 0)
		close(c->ep);
	free(c);
}

static int tcp_client_open(const struct bench_opts *o,
			   const struct bench_server *servers, int nservers,
			   void **cp, char *err, size_t errlen)
{
	struct tcp_client *c;
	int rc;

	tcp_fill_txbuf();
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->ep = epoll_create1(EPOLL_CLOEXEC);
	c->conns = calloc((size_t)nservers, sizeof(*c->conns));
	if (c->ep < 0 || c->conns == NULL) {
		rc = c->ep < 0 ? -errno : -ENOMEM;
		snprintf(err, errlen, "tcp: %s", strerror(-rc));
		tcp_client_close(c);
		return rc;
	}
	for (int i = 0; i < nservers; i++)
		c->conns[i].fd = -1;
	c->nconns = nservers;
	for (int i = 0; i < nservers; i++) {
		struct tcp_conn *k = &c->conns[i];
		const struct bench_server *s = &servers[i];
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = k};

		k->txcap = o->max_outstanding;
		k->txq = calloc(k->txcap, sizeof(*k->txq));
		k->fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC,
			       0);
		if (k->txq == NULL || k->fd < 0) {
			rc = k->txq == NULL ? -ENOMEM : -errno;
			snprintf(err, errlen, "tcp: %s", strerror(-rc));
			tcp_client_close(c);
			return rc;
		}
		if (connect(k->fd, (const struct sockaddr *)&s->addr,
			    s->addrlen) < 0) {
			rc = -errno;
			snprintf(err, errlen, "tcp: connect to %s: %s", s->name,
				 strerror(errno));
			tcp_client_close(c);
			return rc;
		}
		tcp_nodelay(k->fd);
		if (tcp_nonblock(k->fd) < 0 ||
		    epoll_ctl(c->ep, EPOLL_CTL_ADD, k->fd, &e) < 0) {
			rc = -errno;
			snprintf(err, errlen, "tcp: %s", strerror(errno));
			tcp_client_close(c);
			return rc;
		}
		k->events = EPOLLIN;
	}
	*cp = c;
	return 0;
}

static int tcp_client_send(void *cp, int server, uint64_t tag, uint32_t req_len)
{
	struct tcp_client *c = cp;
	struct tcp_conn *k = &c->conns[server];
	int rc;

	rc = tcp_conn_queue(k, tag, req_len);
	if (rc < 0)
		return rc;
	if (!(k->events & EPOLLOUT)) {
		rc = tcp_conn_flush(k);
		if (rc < 0)
			return rc;
		rc = tcp_conn_arm(c->ep, k, true);
	}
	return rc;
}

static int tcp_client_on_msg(void *arg, uint64_t tag, uint32_t len)
{
	struct tcp_client *c = arg;

	c->done(c->done_arg, tag, len, 0);
	c->ndone++;
	return 0;
}

static int tcp_client_poll(void *cp, int64_t timeout_ns, bench_done_fn done,
			   void *arg, char *err, size_t errlen)
{
	struct tcp_client *c = cp;
	struct epoll_event evs[64];
	struct timespec ts, *tsp = NULL;
	int n;

	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	c->done = done;
	c->done_arg = arg;
	c->ndone = 0;
	n = epoll_pwait2(c->ep, evs, 64, tsp, NULL);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct tcp_conn *k = evs[i].data.ptr;
		int rc = 0;

		if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			rc = tcp_conn_read(k, SIZE_MAX, tcp_client_on_msg, c);
		if (rc == 0 && (evs[i].events & EPOLLOUT))
			rc = tcp_conn_flush(k);
		if (rc == 0)
			rc = tcp_conn_arm(c->ep, k, true);
		if (rc < 0) {
			snprintf(err, errlen, "tcp: connection %d: %s",
				 (int)(k - c->conns),
				 rc == -ECONNRESET ? "closed by the server"
				 : rc == -EPROTO   ? "bad frame"
						   : strerror(-rc));
			return rc;
		}
	}
	return c->ndone;
}

/* Server: a queued response per request, answered in order. */
struct tcp_server_ctx {
	const struct bench_opts *o;
	struct tcp_conn *conn;
};

static int tcp_server_on_msg(void *arg, uint64_t tag, uint32_t len)
{
	struct tcp_server_ctx *x = arg;
	struct tcp_conn *k = x->conn;
	uint32_t resp = x->o->resp_len ? x->o->resp_len : len;

	if (x->o->requests != NULL)
		(*x->o->requests)++;
	if (k->txn == k->txcap) {
		uint32_t ncap = k->txcap * 2;
		struct tcp_msg *nq;

		if (ncap > TCP_SERVER_QUEUE)
			ncap = TCP_SERVER_QUEUE;
		nq = malloc(ncap * sizeof(*nq));
		if (nq == NULL)
			return -ENOMEM;
		for (uint32_t i = 0; i < k->txn; i++)
			nq[i] = k->txq[(k->txhead + i) % k->txcap];
		free(k->txq);
		k->txq = nq;
		k->txhead = 0;
		k->txcap = ncap;
	}
	return tcp_conn_queue(k, tag, resp);
}

static int tcp_listen(uint16_t port, char *err, size_t errlen)
{
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6,
				  .sin6_port = htons(port),
				  .sin6_addr = IN6ADDR_ANY_INIT};
	struct sockaddr_in a4 = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_ANY)};
	int one = 1, zero = 0, fd;

	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		if (bind(fd, (struct sockaddr *)&a6, sizeof(a6)) == 0 &&
		    listen(fd, 128) == 0)
			return fd;
		close(fd);
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a4, sizeof(a4)) == 0 &&
	    listen(fd, 128) == 0)
		return fd;
	close(fd);
fail:
	snprintf(err, errlen, "tcp: listen on port %u: %s", port,
		 strerror(errno));
	return -errno;
}

static void tcp_server_drop(int ep, struct tcp_conn *k, int *nconns)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, k->fd, NULL);
	close(k->fd);
	free(k->txq);
	free(k);
	(*nconns)--;
}

static int tcp_serve(const struct bench_opts *o, volatile sig_atomic_t *stop,
		     char *err, size_t errlen)
{
	struct epoll_event evs[64];
	struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
	int ep, lfd, nconns = 0, rc = 0;

	tcp_fill_txbuf();
	lfd = tcp_listen(o->port, err, errlen);
	if (lfd < 0)
		return lfd;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &le) < 0) {
		rc = -errno;
		snprintf(err, errlen, "tcp: epoll: %s", strerror(errno));
		goto out;
	}
	while (!*stop) {
		int n = epoll_wait(ep, evs, 64, 200);

		if (n < 0 && errno != EINTR) {
			rc = -errno;
			snprintf(err, errlen, "tcp: epoll_wait: %s",
				 strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct tcp_conn *k = evs[i].data.ptr;
			struct tcp_server_ctx x = {o, k};
			int r = 0;

			if (k == NULL) {
				int fd = accept4(lfd, NULL, NULL,
						 SOCK_NONBLOCK | SOCK_CLOEXEC);
				struct epoll_event e = {.events = EPOLLIN};

				if (fd < 0)
					continue;
				if (nconns == TCP_SERVER_CONNS ||
				    (k = calloc(1, sizeof(*k))) == NULL ||
				    (k->txq = calloc(64, sizeof(*k->txq))) ==
					    NULL) {
					free(k);
					close(fd);
					continue;
				}
				tcp_nodelay(fd);
				k->fd = fd;
				k->txcap = 64;
				k->events = EPOLLIN;
				e.data.ptr = k;
				if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) {
					close(fd);
					free(k->txq);
					free(k);
					continue;
				}
				nconns++;
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				/* Read no more requests than the queue holds.
				 */
				size_t room = TCP_SERVER_QUEUE - k->txn;

				r = tcp_conn_read(k, room, tcp_server_on_msg,
						  &x);
			}
			if (r == 0)
				r = tcp_conn_flush(k);
			if (r == 0)
				r = tcp_conn_arm(ep, k,
						 k->txn < TCP_SERVER_QUEUE);
			if (r < 0)
				tcp_server_drop(ep, k, &nconns);
		}
	}
out:
	/* Connections still open are closed with the process. */
	if (ep >= 0)
		close(ep);
	close(lfd);
	return rc;
}

const struct bench_proto tcp_proto = {
	.name = "tcp",
	.client_open = tcp_client_open,
	.client_send = tcp_client_send,
	.client_poll = tcp_client_poll,
	.client_close = tcp_client_close,
	.serve = tcp_serve,
};
