/*
 * homa.c - homa-bench's Homa backend: RPCs through homad with
 * libhomaclient (homa/client.h).  A client is one Homa socket sending to
 * every server; a response comes back with its request's cookie, which is
 * homa-bench's tag.  A server is a Homa socket per address family bound to
 * the port (one, if homad gives both families one port space).
 *
 * Messages are sent by copy from a static buffer (as the TCP backend
 * writes from one); received messages are not copied out of the receive
 * pool, only given back (hc_recycle), as an application reading in place
 * would.
 */
#include <config.h>

#include "bench.h"

#include <homa/client.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Messages handled per socket per wake-up, at most. */
#define HOMA_BATCH 64

static unsigned char homa_txbuf[BENCH_MAX_MESSAGE];

struct homa_client {
	struct hc_sock *s;
	const struct bench_server *servers;
	int nservers;
};

static void homa_client_close(void *cp)
{
	struct homa_client *c = cp;

	if (c == NULL)
		return;
	hc_close(c->s);
	free(c);
}

static int homa_client_open(const struct bench_opts *o,
			    const struct bench_server *servers, int nservers,
			    void **cp, char *err, size_t errlen)
{
	struct hc_options opts;
	struct homa_client *c;
	char text[256];
	int family = servers[0].addr.ss_family, rc;

	for (int i = 1; i < nservers; i++) {
		if (servers[i].addr.ss_family != family) {
			snprintf(err, errlen,
				 "homa: servers must all be IPv4 or all IPv6");
			return -EAFNOSUPPORT;
		}
	}
	for (size_t i = 0; i < sizeof(homa_txbuf); i++)
		homa_txbuf[i] = (unsigned char)(i * 7 + 1);
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	hc_options_init(&opts);
	/* Room for every RPC in flight and a margin for releases. */
	opts.max_outstanding = o->max_outstanding + 64;
	rc = hc_open(&c->s, family, &opts);
	if (rc < 0) {
		hc_last_error(NULL, text, sizeof(text));
		snprintf(err, errlen, "homa: cannot open a socket: %s%s%s",
			 hc_strerror(rc), text[0] ? ": " : "", text);
		free(c);
		return rc;
	}
	c->servers = servers;
	c->nservers = nservers;
	*cp = c;
	return 0;
}

static int homa_client_send(void *cp, int server, uint64_t tag,
			    uint32_t req_len)
{
	struct homa_client *c = cp;
	const struct bench_server *sv = &c->servers[server];

	/* Never block: the load generator retries after its next poll. */
	return hc_send_request(c->s, (const struct sockaddr *)&sv->addr,
			       sv->addrlen, homa_txbuf, req_len, tag,
			       HC_NONBLOCK, NULL);
}

/* Report message m (a response or a failed RPC). */
static void homa_client_done(struct homa_client *c, struct hc_msg *m,
			     bench_done_fn done, void *arg)
{
	if (m->error != 0) {
		done(arg, m->cookie, 0, -m->error);
	} else {
		done(arg, m->cookie, m->length, 0);
		hc_recycle(c->s, m);
	}
}

/*
 * Report m, then what else the library holds (hc_queued: no system call);
 * returns how many, or -errno (err set).
 */
static int homa_client_more(struct homa_client *c, struct hc_msg *m,
			    bench_done_fn done, void *arg, char *err,
			    size_t errlen)
{
	int n = 1, rc;

	homa_client_done(c, m, done, arg);
	while (n < HOMA_BATCH && hc_queued(c->s) > 0) {
		rc = hc_recv(c->s, 0, 0, m);
		if (rc == -EAGAIN)
			break;
		if (rc < 0) {
			snprintf(err, errlen, "homa: hc_recv: %s",
				 hc_strerror(rc));
			return rc;
		}
		homa_client_done(c, m, done, arg);
		n++;
	}
	return n;
}

static int homa_client_poll(void *cp, int64_t timeout_ns, bench_done_fn done,
			    void *arg, char *err, size_t errlen)
{
	struct homa_client *c = cp;
	struct pollfd pfd = {.fd = hc_fd(c->s), .events = POLLIN};
	struct timespec ts;
	struct hc_msg m;
	int rc, ms;

	if (timeout_ns <= 0 || timeout_ns >= 1000000) {
		/*
		 * Wait in the library: it blocks in its read of the
		 * connection (one system call per response), or returns what
		 * it holds without one.
		 */
		ms = -1;
		if (timeout_ns >= 0)
			ms = timeout_ns < 1000000000000LL
				     ? (int)(timeout_ns / 1000000)
				     : 1000000;
		rc = hc_recv(c->s, 0, ms, &m);
	} else {
		/*
		 * A short wait (a send refused, retried soon): poll, so that
		 * a release of transmit space ends it too.
		 */
		if (hc_queued(c->s) == 0) {
			ts.tv_sec = 0;
			ts.tv_nsec = timeout_ns;
			if (ppoll(&pfd, 1, &ts, NULL) < 0 && errno != EINTR) {
				snprintf(err, errlen, "homa: poll: %s",
					 strerror(errno));
				return -errno;
			}
			if (pfd.revents == 0)
				return 0;
		}
		/* The library reads what woke us (releases included). */
		rc = hc_recv(c->s, 0, 0, &m);
	}
	if (rc == -EAGAIN)
		return 0;
	if (rc < 0) {
		snprintf(err, errlen, "homa: hc_recv: %s", hc_strerror(rc));
		return rc;
	}
	return homa_client_more(c, &m, done, arg, err, errlen);
}

/*
 * A request whose response is held back (bench_opts.hold): where it goes
 * and, for an echo, the request's bytes (the response carries them back,
 * so that the client can check every byte of it).
 */
struct homa_held {
	struct hc_sock *s;
	uint64_t id;
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} peer;
	socklen_t peer_len;
	uint32_t len;  /* response bytes */
	uint8_t *data; /* echo: the request (len bytes); else NULL */
};

/* The server's held requests: n of cap (= bench_opts.hold). */
struct homa_hold {
	struct homa_held *reqs;
	uint32_t n, cap;
	bool announced; /* "held N requests" printed */
	bool released;	/* answered: later requests are answered at once */
};

static struct homa_hold homa_hold;

/* Answer every held request; 0 or -errno (err set). */
static int homa_release(char *err, size_t errlen)
{
	struct homa_hold *h = &homa_hold;
	int rc = 0;

	for (uint32_t i = 0; i < h->n; i++) {
		struct homa_held *q = &h->reqs[i];
		int r = hc_send_response(q->s, q->id, &q->peer.sa, q->peer_len,
					 q->data ? q->data : homa_txbuf, q->len,
					 0);

		if (r < 0 && r != -EINVAL && rc == 0) {
			snprintf(err, errlen, "homa: hc_send_response: %s",
				 hc_strerror(r));
			rc = r;
		}
		free(q->data);
	}
	h->released = true;
	free(h->reqs);
	h->reqs = NULL;
	h->n = 0;
	return rc;
}

/*
 * Keep request m of socket s for homa_release (its bytes copied for an
 * echo), then recycle it.  Returns 0 or -ENOMEM (err set).
 */
static int homa_hold_one(struct hc_sock *s, const struct bench_opts *o,
			 struct hc_msg *m, char *err, size_t errlen)
{
	struct homa_hold *h = &homa_hold;
	struct homa_held *q;

	if (h->reqs == NULL) {
		h->cap = o->hold;
		h->reqs = calloc(h->cap, sizeof(*h->reqs));
		if (h->reqs == NULL)
			goto nomem;
	}
	q = &h->reqs[h->n];
	q->s = s;
	q->id = m->id;
	memcpy(&q->peer, &m->peer, m->peer_len);
	q->peer_len = m->peer_len;
	q->len = o->resp_len ? o->resp_len : m->length;
	if (o->resp_len == 0) {
		q->data = malloc(m->length);
		if (q->data == NULL)
			goto nomem;
		hc_msg_read(s, m, 0, q->data, m->length);
	}
	h->n++;
	hc_recycle(s, m);
	if (h->n == h->cap && !h->announced) {
		printf("held %u requests\n", h->n);
		fflush(stdout);
		h->announced = true;
	}
	return 0;
nomem:
	hc_recycle(s, m);
	snprintf(err, errlen, "homa: out of memory for held requests");
	return -ENOMEM;
}

/* Answer message m of socket s; 0 or -errno (err set). */
static int homa_serve_msg(struct hc_sock *s, const struct bench_opts *o,
			  struct hc_msg *m, char *err, size_t errlen)
{
	uint32_t resp;
	int rc;

	if (m->error != 0 || (m->id & 1) == 0) {
		hc_recycle(s, m);
		return 0;
	}
	if (o->requests != NULL)
		(*o->requests)++;
	if (o->hold > 0 && !homa_hold.released && homa_hold.n < o->hold)
		return homa_hold_one(s, o, m, err, errlen);
	resp = o->resp_len ? o->resp_len : m->length;
	if (o->hold > 0 && o->resp_len == 0) {
		/* A holding server echoes the request's own bytes
		 * (the scale client checks them), late ones too. */
		uint8_t *copy = malloc(m->length);

		if (copy == NULL) {
			hc_recycle(s, m);
			snprintf(err, errlen, "homa: out of memory");
			return -ENOMEM;
		}
		hc_msg_read(s, m, 0, copy, m->length);
		hc_recycle(s, m);
		rc = hc_send_response(s, m->id, &m->peer.sa, m->peer_len, copy,
				      resp, 0);
		free(copy);
	} else {
		hc_recycle(s, m);
		rc = hc_send_response(s, m->id, &m->peer.sa, m->peer_len,
				      homa_txbuf, resp, 0);
	}
	if (rc < 0 && rc != -EINVAL) {
		snprintf(err, errlen, "homa: hc_send_response: %s",
			 hc_strerror(rc));
		return rc;
	}
	return 0;
}

/*
 * Receive on s (timeout_ms as hc_recv) and answer what came, then what
 * else the library holds (hc_queued: no system call), HOMA_BATCH at most.
 * 0 or -errno (err set).
 */
static int homa_serve_one(struct hc_sock *s, const struct bench_opts *o,
			  int timeout_ms, char *err, size_t errlen)
{
	struct hc_msg m;
	int rc;

	for (int n = 0; n < HOMA_BATCH; n++) {
		if (n > 0 && hc_queued(s) == 0)
			return 0;
		rc = hc_recv(s, 0, n == 0 ? timeout_ms : 0, &m);
		if (rc == -EAGAIN)
			return 0;
		if (rc < 0) {
			snprintf(err, errlen, "homa: hc_recv: %s",
				 hc_strerror(rc));
			return rc;
		}
		rc = homa_serve_msg(s, o, &m, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int homa_serve(const struct bench_opts *o, volatile sig_atomic_t *stop,
		      char *err, size_t errlen)
{
	static const int families[] = {AF_INET, AF_INET6};
	struct hc_sock *socks[2] = {NULL, NULL};
	struct pollfd pfd[2];
	char text[256];
	int nsocks = 0, rc = 0;

	for (size_t i = 0; i < sizeof(homa_txbuf); i++)
		homa_txbuf[i] = (unsigned char)(i * 7 + 1);
	for (int f = 0; f < 2; f++) {
		struct hc_sock *s;

		rc = hc_open(&s, families[f], NULL);
		if (rc == -EAFNOSUPPORT)
			continue;
		if (rc < 0) {
			hc_last_error(NULL, text, sizeof(text));
			snprintf(err, errlen,
				 "homa: cannot open a socket: %s%s%s",
				 hc_strerror(rc), text[0] ? ": " : "", text);
			goto out;
		}
		rc = hc_bind(s, o->port);
		if (rc == -EADDRINUSE && nsocks > 0) {
			/* One port space for both families: one socket. */
			hc_close(s);
			continue;
		}
		if (rc < 0) {
			snprintf(err, errlen, "homa: bind to port %u: %s",
				 o->port, hc_strerror(rc));
			hc_close(s);
			goto out;
		}
		socks[nsocks] = s;
		pfd[nsocks] = (struct pollfd){.fd = hc_fd(s), .events = POLLIN};
		nsocks++;
	}
	rc = 0;
	if (nsocks == 0) {
		snprintf(err, errlen, "homa: neither IPv4 nor IPv6 sockets");
		rc = -EAFNOSUPPORT;
		goto out;
	}
	while (!*stop) {
		bool ready = false;

		/*
		 * One socket (and no held requests waiting for SIGUSR1): wait
		 * in the library, which blocks in its read of the connection
		 * (one system call per request).  Else poll, read the sockets
		 * poll found readable, and serve what the library holds
		 * (hc_queued), instead of reading until EAGAIN.
		 */
		if (nsocks == 1 && o->hold == 0) {
			rc = homa_serve_one(socks[0], o, 200, err, errlen);
			if (rc < 0)
				goto out;
			continue;
		}
		for (int i = 0; i < nsocks; i++) {
			if (pfd[i].revents != 0 || hc_queued(socks[i]) > 0) {
				rc = homa_serve_one(socks[i], o, 0, err,
						    errlen);
				if (rc < 0)
					goto out;
			}
			pfd[i].revents = 0;
			if (hc_queued(socks[i]) > 0)
				ready = true;
		}
		if (o->hold > 0 && !homa_hold.released && o->release &&
		    *o->release) {
			rc = homa_release(err, errlen);
			if (rc < 0)
				goto out;
			if (!o->quiet)
				fprintf(stderr, "homa-bench: released the "
						"held responses\n");
		}
		if (!ready && poll(pfd, (nfds_t)nsocks, 200) < 0 &&
		    errno != EINTR) {
			rc = -errno;
			snprintf(err, errlen, "homa: poll: %s",
				 strerror(errno));
			goto out;
		}
	}
out:
	for (uint32_t i = 0; i < homa_hold.n; i++)
		free(homa_hold.reqs[i].data);
	free(homa_hold.reqs);
	homa_hold.reqs = NULL;
	homa_hold.n = 0;
	for (int i = 0; i < nsocks; i++)
		hc_close(socks[i]);
	return rc;
}

const struct bench_proto homa_proto = {
	.name = "homa",
	.client_open = homa_client_open,
	.client_send = homa_client_send,
	.client_poll = homa_client_poll,
	.client_close = homa_client_close,
	.serve = homa_serve,
};
