/*
 * conn.c - the connection to homad: reading and handling its datagrams,
 * sending commands, matching Replies, client RPC id blocks, recycles.
 *
 * Threads.  Everything is under s->lock.  At most one thread reads the
 * connection at a time (s->reading); it reads without the lock, then
 * handles the datagram under it and broadcasts s->cond.  Any thread that
 * waits for something (a message, a private response, a Reply, send
 * space) calls conn_step() in a loop: it becomes the reader when nobody
 * is, else it sleeps on the condition variable until the reader has
 * handled something.  Whatever a datagram brings for other threads is
 * left in s->q (evq.c) or in their struct conn_call.  Every state change
 * that can end a wait happens while handling a datagram (or is followed by
 * one), so a reader blocked in recv() is never left waiting for nothing.
 *
 * Sends.  Datagrams are written without the lock (a SOCK_SEQPACKET send
 * is atomic) and never with a blocking send(): homad stops reading a
 * client while too many of its events wait to be sent to that client, so
 * a thread blocked in send() while nobody reads the connection would wait
 * forever (homa-bench's single-threaded load clients did).  A send that
 * finds the socket full fails -EAGAIN when it must not wait; else it
 * waits in conn_wait_send(), which polls for room and, when no other
 * thread reads, reads and handles homad's datagrams meanwhile - but only
 * while the event queue has room, so recycles never wait: they stay
 * batched (the batch grows) until the socket has room.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_int.h"
#include "homa_shm.h"

/* A sender waiting for room re-checks this often (another thread reads). */
#define CONN_SEND_POLL_MS 20

/*
 * A timed wait blocks in recv with SO_RCVTIMEO set to a power of two of
 * milliseconds from CONN_TIMEO_MIN_MS to CONN_TIMEO_MAX_MS that ends before
 * the wait's deadline even rounded up to the kernel's clock tick
 * (CONN_TIMEO_SLACK_MS: 1/HZ is 10 ms at most): so the option changes
 * rarely (a few times per second for deadlines that come closer), and a
 * read that times out early only makes the caller wait again for the rest.
 * Shorter waits poll, then read.
 */
#define CONN_TIMEO_MIN_MS   16
#define CONN_TIMEO_MAX_MS   (1 << 20)
#define CONN_TIMEO_SLACK_MS 10

/* ---- errors and log --------------------------------------------------- */

void conn_set_error(struct hc_sock *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->errtext, sizeof(s->errtext), fmt, ap);
	va_end(ap);
}

void conn_log(struct hc_sock *s, int level, const char *fmt, ...)
{
	char text[256];
	va_list ap;

	if (s->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	s->log(s->log_arg, level, text);
}

/* ---- deadlines -------------------------------------------------------- */

void conn_deadline_ms(struct conn_deadline *dl, int timeout_ms)
{
	if (timeout_ms < 0) {
		dl->kind = DL_FOREVER;
		return;
	}
	if (timeout_ms == 0) {
		dl->kind = DL_NOW;
		return;
	}
	dl->kind = DL_AT;
	clock_gettime(CLOCK_MONOTONIC, &dl->at);
	dl->at.tv_sec += timeout_ms / 1000;
	dl->at.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl->at.tv_nsec >= 1000000000L) {
		dl->at.tv_sec++;
		dl->at.tv_nsec -= 1000000000L;
	}
}

/* Milliseconds left until dl (rounded up); 0 when passed; -1 forever. */
static int conn_deadline_left(const struct conn_deadline *dl)
{
	struct timespec now;
	int64_t ns;

	if (dl->kind == DL_FOREVER)
		return -1;
	if (dl->kind == DL_NOW)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (int64_t)(dl->at.tv_sec - now.tv_sec) * 1000000000LL +
	     (dl->at.tv_nsec - now.tv_nsec);
	if (ns <= 0)
		return 0;
	if (ns / 1000000 >= INT32_MAX)
		return INT32_MAX;
	return (int)((ns + 999999) / 1000000);
}

/* ---- the connection is gone ------------------------------------------ */

/* Fail every waiter: homad closed the connection (or it broke). */
static void conn_lost(struct hc_sock *s, int err)
{
	if (s->dead)
		return;
	s->dead = err;
	conn_set_error(s, "connection to homad lost: %s", strerror(err));
	conn_log(s, HC_LOG_ERR, "connection to homad lost: %s", strerror(err));
	for (struct conn_call *c = s->calls; c != NULL; c = c->next) {
		c->done = true;
		c->error = err;
	}
	s->calls = NULL;
	s->more_ids_busy = false;
	if (s->more_ids_err == 0)
		s->more_ids_err = err;
	s->nrecycle = 0;
	pthread_cond_broadcast(&s->cond);
}

/* ---- handling homad's datagrams -------------------------------------- */

static void conn_bad(struct hc_sock *s, const char *what)
{
	s->proto_errors++;
	conn_log(s, HC_LOG_WARNING, "bad datagram from homad dropped: %s",
		 what);
}

static void conn_tx_released(struct hc_sock *s, const uint64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		txtrack_release(&s->tx, ids[i]);
}

/*
 * Check where homad says a message lies: length/64K full aligned bpages,
 * then a tail inside one bpage, all inside the pool.
 */
static bool conn_bpages_ok(const struct hc_sock *s, uint32_t length, size_t n,
			   const uint32_t *off)
{
	uint32_t full = length / HC_BPAGE_SIZE, tail = length % HC_BPAGE_SIZE;

	if (length == 0 || length > HC_MAX_MESSAGE_LENGTH ||
	    n != full + (tail != 0) || n > HC_MAX_BPAGES)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint64_t len = i < full ? HC_BPAGE_SIZE : tail;

		if (i < full && off[i] % HC_BPAGE_SIZE != 0)
			return false;
		if ((uint64_t)off[i] + len > s->rx_size ||
		    off[i] % HC_BPAGE_SIZE + len > HC_BPAGE_SIZE)
			return false;
	}
	return true;
}

/*
 * A message or a failure for this socket: to its private slot when
 * someone sent the RPC private, else to the queue for hc_recv(any).
 */
void conn_route(struct hc_sock *s, const struct evq_ev *ev, bool priv)
{
	int rc;

	if (s->shut)
		return; /* ended locally: nothing is collected any more */
	if ((ev->id & 1) == 0 && evq_priv_has(&s->q, ev->id)) {
		rc = evq_priv_fill(&s->q, ev);
		if (rc == 0)
			return;
		conn_bad(s, "second result for a private RPC");
		conn_recycle_ev(s, ev);
		return;
	}
	if (priv) {
		/* Its slot is gone (aborted silently): nobody wants it. */
		conn_recycle_ev(s, ev);
		return;
	}
	rc = evq_push(&s->q, ev);
	if (rc < 0) {
		/* Only past hard_events or out of memory: cannot keep it. */
		conn_log(s, HC_LOG_ERR,
			 "event queue full (%u): message %llu dropped",
			 s->q.count, (unsigned long long)ev->id);
		conn_recycle_ev(s, ev);
	}
}

static void conn_delivered(struct hc_sock *s, const Homa__Client__Delivered *d)
{
	struct evq_ev ev;

	conn_tx_released(s, d->tx_released, d->n_tx_released);
	if (d->peer == NULL ||
	    (d->peer->addr.len != 4 && d->peer->addr.len != 16) ||
	    d->peer->port > 0xffff) {
		conn_bad(s, "Delivered with a bad peer");
		return;
	}
	if (!conn_bpages_ok(s, d->length, d->n_bpage_offsets,
			    d->bpage_offsets)) {
		conn_bad(s, "Delivered with bad bpages");
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.id = d->id;
	ev.cookie = d->cookie;
	memcpy(ev.addr, d->peer->addr.data, d->peer->addr.len);
	ev.addr_len = (uint8_t)d->peer->addr.len;
	ev.port = (uint16_t)d->peer->port;
	ev.length = d->length;
	ev.num_bpages = (uint32_t)d->n_bpage_offsets;
	memcpy(ev.bpage_offsets, d->bpage_offsets,
	       d->n_bpage_offsets * sizeof(uint32_t));
	s->pins += ev.num_bpages;
	if (!drx_settled(s, d->id)) {
		/* Received directly already (homad had a copy too). */
		s->drx_stale++;
		conn_recycle_ev(s, &ev);
		return;
	}
	/* A response ends the client RPC: homad reads its request no more. */
	if ((d->id & 1) == 0) {
		txtrack_release(&s->tx, d->id);
		if (s->dring != NULL)
			direct_note_done(s, d->id, ev.addr, ev.addr_len,
					 ev.port);
	}
	conn_route(s, &ev, d->private_);
}

static void conn_failed(struct hc_sock *s, const Homa__Client__Failed *f)
{
	struct evq_ev ev;

	conn_tx_released(s, f->tx_released, f->n_tx_released);
	if (f->error <= 0) {
		conn_bad(s, "Failed without an errno");
		return;
	}
	if (!drx_settled(s, f->id))
		return; /* its response was received directly */
	memset(&ev, 0, sizeof(ev));
	ev.id = f->id;
	ev.cookie = f->cookie;
	ev.error = f->error;
	if ((f->id & 1) == 0)
		txtrack_release(&s->tx, f->id);
	conn_route(s, &ev, f->private_);
}

/* A Reply: finish the command waiting for it, applying its effect. */
static void conn_reply(struct hc_sock *s, Homa__Client__DaemonMsg *m,
		       bool *keep)
{
	const Homa__Client__Reply *r = m->reply;
	struct conn_call **p = &s->calls, *c;

	while (*p != NULL && (*p)->seq != r->seq)
		p = &(*p)->next;
	if (*p == NULL) {
		conn_bad(s, "Reply for no command");
		return;
	}
	c = *p;
	*p = c->next;
	c->done = true;
	c->error = r->error > 0 ? r->error : 0;
	if (c->error != 0 && r->error_text != NULL && r->error_text[0] != 0)
		conn_set_error(s, "%s", r->error_text);
	switch (c->kind) {
	case CONN_CMD_PLAIN:
		break;
	case CONN_CMD_BIND:
		if (c->error == 0 && r->port != 0) {
			/* homad ends direct receive (the filter names the
			 * default port). */
			if (r->port != s->port)
				drx_stop(s);
			s->port = r->port;
			if (r->direct_requests && s->in_fd >= 0) {
				drx_serve(s, s->in_fd);
				s->in_fd = -1;
			} else if (r->direct_requests) {
				/* The descriptor did not come (no room for
				 * it): hc_bind gives the socket back. */
				s->srx_lost = true;
			} else if (r->direct_requests_refusal != NULL &&
				   r->direct_requests_refusal[0] != 0) {
				conn_log(s, HC_LOG_INFO,
					 "no direct receive of requests: %s",
					 r->direct_requests_refusal);
			}
		}
		break;
	case CONN_CMD_ABORT:
		if (c->error == 0 && c->abort_err == 0) {
			evq_priv_forget(&s->q, c->abort_id);
			/* (id 0: all of them) */
			drxtrack_del(&s->drx_rpcs, c->abort_id);
			drx_idle(s);
		}
		break;
	case CONN_CMD_INFO:
		if (c->error == 0) {
			c->answer = m;
			*keep = true;
		}
		break;
	case CONN_CMD_MORE_IDS:
		s->more_ids_busy = false;
		if (c->error != 0) {
			s->more_ids_err = c->error;
		} else if (r->ids == NULL || r->ids->count == 0 ||
			   (r->ids->first & 1) != 0) {
			conn_bad(s, "MoreIds reply without ids");
			s->more_ids_err = EPROTO;
		} else {
			s->next_first = r->ids->first;
			s->next_count = r->ids->count;
		}
		break;
	case CONN_CMD_SHUTDOWN:
		s->shut = true;
		s->port = 0;
		drx_stop(s);
		drxtrack_del(&s->drx_rpcs, 0);
		s->nrecycle = 0;
		s->pins = 0;
		/* Nothing queued can be collected (nor recycled) any more. */
		evq_clear(&s->q, NULL, NULL);
		evq_priv_clear(&s->q, NULL, NULL);
		break;
	}
}

/* Handle one datagram from homad (lock held). */
static void conn_dispatch(struct hc_sock *s, const uint8_t *buf, size_t len)
{
	Homa__Client__DaemonMsg *m;
	bool keep = false;

	m = homa__client__daemon_msg__unpack(NULL, len, buf);
	if (m == NULL) {
		conn_bad(s, "not a DaemonMsg");
		return;
	}
	switch (m->ev_case) {
	case HOMA__CLIENT__DAEMON_MSG__EV_REPLY:
		conn_reply(s, m, &keep);
		break;
	case HOMA__CLIENT__DAEMON_MSG__EV_DELIVERED:
		conn_delivered(s, m->delivered);
		break;
	case HOMA__CLIENT__DAEMON_MSG__EV_FAILED:
		conn_failed(s, m->failed);
		break;
	case HOMA__CLIENT__DAEMON_MSG__EV_TX_RELEASED:
		conn_tx_released(s, m->tx_released->ids, m->tx_released->n_ids);
		break;
	case HOMA__CLIENT__DAEMON_MSG__EV_SEND_SPACE:
		/* Waiting senders re-check (the broadcast follows). */
		break;
	default:
		conn_bad(s, "unexpected event");
		break;
	}
	if (!keep)
		homa__client__daemon_msg__free_unpacked(m, NULL);
}

/* ---- reading ---------------------------------------------------------- */

/*
 * Forks of the process (pthread_atfork): a connection made before a fork is
 * shared with the child, which may set its SO_RCVTIMEO, so neither process
 * relies on the value it set any more (timed waits poll first again).
 */
static atomic_uint conn_forks;
static pthread_once_t conn_forks_once = PTHREAD_ONCE_INIT;
static bool conn_forks_watched;

static void conn_forking(void)
{
	atomic_fetch_add(&conn_forks, 1);
}

static void conn_forks_watch(void)
{
	conn_forks_watched = pthread_atfork(conn_forking, NULL, NULL) == 0;
}

void conn_own_timeo(struct hc_sock *s)
{
	pthread_once(&conn_forks_once, conn_forks_watch);
	s->rcvtimeo_own = conn_forks_watched;
	s->rcvtimeo_ms = -1;
	s->forks = atomic_load(&conn_forks);
}

/*
 * For a wait of timeout_ms (< 0 forever, > 0), set the connection's
 * SO_RCVTIMEO so that a blocking recv ends before it (the reader, no
 * lock).  false: wait with poll instead (a connection not the library's
 * own, a fork since, a short wait).
 */
static bool conn_timeo(struct hc_sock *s, int timeout_ms)
{
	struct timeval tv;
	int t = 0;

	if (!s->rcvtimeo_own || s->forks != atomic_load(&conn_forks))
		return false;
	if (timeout_ms > 0) {
		if (timeout_ms < CONN_TIMEO_MIN_MS + CONN_TIMEO_SLACK_MS)
			return false;
		t = CONN_TIMEO_MIN_MS;
		while (t < CONN_TIMEO_MAX_MS &&
		       2 * t + CONN_TIMEO_SLACK_MS <= timeout_ms)
			t *= 2;
	}
	if (t == s->rcvtimeo_ms)
		return true;
	tv.tv_sec = t / 1000;
	tv.tv_usec = (t % 1000) * 1000;
	if (setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		s->rcvtimeo_own = false;
		return false;
	}
	s->rcvtimeo_ms = t;
	return true;
}

/*
 * The one descriptor a datagram from homad may bring (a Bind's Reply), or
 * -1; any others are closed.
 */
static int conn_take_fd(struct msghdr *mh)
{
	int fd = -1;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL;
	     c = CMSG_NXTHDR(mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int x;

			memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof(x));
			if (fd < 0)
				fd = x;
			else
				close(x);
		}
	}
	return fd;
}

/*
 * Read up to max datagrams (1..CONN_RX_BATCH) into s->rbuf's slots without
 * the lock (the caller is the reader): what the connection has, waiting
 * for the first.  timeout_ms: -1 forever, 0 not at all, else at most that
 * long; want_out: also stop waiting when the socket has room to send.
 * Returns how many (lengths in s->rlen, 0 for EOF), -EAGAIN (none in
 * time, interrupted, or room to send), or another -errno when the
 * connection is gone.  A wait blocks in the read itself when it can (one
 * system call), else polls first.
 */
static int conn_read(struct hc_sock *s, int timeout_ms, bool want_out,
		     unsigned max)
{
	struct mmsghdr mm[CONN_RX_BATCH];
	struct iovec iov[CONN_RX_BATCH];
	union {
		char buf[CMSG_SPACE(CONN_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl[CONN_RX_BATCH];
	int n, flags = MSG_TRUNC;
	bool block = false, drx = s->rfd >= 0;

	s->drx_n = 0;
	/* With a receive socket there are two to wait for: poll. */
	if (timeout_ms != 0 && !want_out && !drx)
		block = conn_timeo(s, timeout_ms) || timeout_ms < 0;
	if (!block && timeout_ms != 0) {
		struct pollfd pfd[2] = {
			{.fd = s->fd,
			 .events = POLLIN | (want_out ? POLLOUT : 0)},
			{.fd = s->rfd, .events = POLLIN},
		};
		int rc = poll(pfd, drx ? 2 : 1, timeout_ms);

		if (rc < 0)
			return errno == EINTR ? -EAGAIN : -errno;
		if (drx && (pfd[1].revents & POLLIN))
			s->drx_n = (unsigned)drx_read(s);
		/* Packets of the receive socket alone: progress too. */
		if (rc == 0 || !(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			return s->drx_n > 0 ? 0 : -EAGAIN;
	} else if (drx) {
		s->drx_n = (unsigned)drx_read(s);
	}
	flags |= block ? MSG_WAITFORONE : MSG_DONTWAIT;
	flags |= MSG_CMSG_CLOEXEC;
	memset(mm, 0, sizeof(mm));
	for (unsigned i = 0; i < max; i++) {
		iov[i].iov_base =
			s->rbuf + (size_t)i * HOMA_CLIENT_MAX_DATAGRAM;
		iov[i].iov_len = HOMA_CLIENT_MAX_DATAGRAM;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		/* A Bind's Reply may bring a descriptor. */
		mm[i].msg_hdr.msg_control = ctl[i].buf;
		mm[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
	}
	n = recvmmsg(s->fd, mm, max, flags, NULL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return s->drx_n > 0 ? 0 : -EAGAIN;
		return -errno;
	}
	for (int i = 0; i < n; i++) {
		s->rlen[i] = mm[i].msg_len;
		s->rfds[i] = conn_take_fd(&mm[i].msg_hdr);
	}
	return n;
}

/* The datagrams to read for a queue of count events of room at most. */
static unsigned conn_read_max(uint32_t count, uint32_t room)
{
	uint32_t n = count < room ? room - count : 1;

	return n < CONN_RX_BATCH ? n : CONN_RX_BATCH;
}

/*
 * Handle what conn_read(..., max) returned (lock held, reader role just
 * given up).
 */
static void conn_handle_read(struct hc_sock *s, int n, unsigned max)
{
	/* Sends drain the connection only when nothing else reads it. */
	s->nsend = 0;
	if (s->drx_n > 0 && !s->dead)
		drx_handle(s, s->drx_n);
	for (int i = 0; i < n; i++) {
		uint8_t *buf = s->rbuf + (size_t)i * HOMA_CLIENT_MAX_DATAGRAM;

		s->in_fd = s->rfds[i];
		s->rfds[i] = -1;
		if (s->dead) {
			/* The connection is lost: only the descriptor. */
		} else if (s->rlen[i] > HOMA_CLIENT_MAX_DATAGRAM) {
			conn_bad(s, "datagram too long");
		} else if (s->rlen[i] > 0) {
			conn_dispatch(s, buf, s->rlen[i]);
		} else {
			conn_lost(s, ECONNRESET);
		}
		/* Not taken (not a Reply granting it): not ours. */
		if (s->in_fd >= 0)
			close(s->in_fd);
		s->in_fd = -1;
	}
	if (n < 0 && n != -EAGAIN)
		conn_lost(s, -n);
	/* homad is gone and cannot revoke our request socket (proto/
	 * homa_shm.h): close it ourselves (no other thread reads now). */
	if (s->dead && s->rfd >= 0)
		drx_stop(s);
	s->rx_more = (n > 0 && (unsigned)n == max) || s->drx_n == DRX_BATCH;
	s->drx_n = 0;
	pthread_cond_broadcast(&s->cond);
}

int conn_step(struct hc_sock *s, const struct conn_deadline *dl, bool specific,
	      int poll_cap_ms)
{
	uint32_t room = specific ? s->hard_events : s->soft_events;
	bool want_out = false;
	int left, wait_ms, n;
	unsigned max;

	if (s->dead)
		return -ECONNRESET;
	left = conn_deadline_left(dl);
	if (s->reading || s->q.count >= room) {
		int rc;

		if (left == 0)
			return -EAGAIN;
		if (left < 0 && poll_cap_ms <= 0) {
			pthread_cond_wait(&s->cond, &s->lock);
			return 0;
		}
		if (left < 0 || (poll_cap_ms > 0 && poll_cap_ms < left))
			left = poll_cap_ms;
		{
			struct conn_deadline w;

			conn_deadline_ms(&w, left);
			rc = pthread_cond_timedwait(&s->cond, &s->lock, &w.at);
		}
		(void)rc;
		return 0;
	}
	s->reading = true;
	wait_ms = left;
	if (poll_cap_ms > 0 && (wait_ms < 0 || wait_ms > poll_cap_ms))
		wait_ms = poll_cap_ms;
	/*
	 * Recycles homad may need go before a wait; when the socket is full
	 * they stay batched and the wait also ends when there is room, so
	 * that the caller's next step sends them.
	 */
	if (wait_ms != 0 && conn_recycle_due(s))
		want_out = conn_flush_locked(s) == -EAGAIN;
	/* At most what the queue has room for (each may be an event). */
	max = conn_read_max(s->q.count, room);
	pthread_mutex_unlock(&s->lock);
	n = conn_read(s, wait_ms, want_out, max);
	pthread_mutex_lock(&s->lock);
	s->reading = false;
	conn_handle_read(s, n, max);
	if (n == -EAGAIN && left == 0)
		return -EAGAIN;
	return s->dead ? -ECONNRESET : 0;
}

void conn_drain(struct hc_sock *s, unsigned max)
{
	struct conn_deadline now = {.kind = DL_NOW};

	/* Until a read finds fewer datagrams than it could take: no read
	 * that is known to find nothing. */
	for (unsigned i = 0;
	     i < max && !s->reading && !s->dead && s->q.count < s->soft_events;
	     i++)
		if (conn_step(s, &now, false, 0) < 0 || !s->rx_more)
			break;
}

int conn_wait_send(struct hc_sock *s, const struct conn_deadline *dl)
{
	struct pollfd pfd = {.fd = s->fd, .events = POLLOUT};
	int left = conn_deadline_left(dl), rc;
	bool reader;
	int n = -EAGAIN;
	unsigned max = conn_read_max(s->q.count, s->hard_events);

	if (s->dead)
		return -ECONNRESET;
	if (left == 0)
		return -EAGAIN;
	if (left < 0 || left > CONN_SEND_POLL_MS)
		left = CONN_SEND_POLL_MS;
	/*
	 * Read homad's datagrams meanwhile unless another thread does (then
	 * homad gets on anyway) or the queue is full (then only collecting
	 * events helps: another thread may; re-check after a while).
	 */
	reader = !s->reading && s->q.count < s->hard_events;
	if (reader) {
		s->reading = true;
		pfd.events |= POLLIN;
	}
	pthread_mutex_unlock(&s->lock);
	rc = poll(&pfd, 1, left);
	if (reader && rc > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR)))
		n = conn_read(s, 0, false, max);
	pthread_mutex_lock(&s->lock);
	if (reader) {
		s->reading = false;
		conn_handle_read(s, n, max);
	}
	return s->dead ? -ECONNRESET : 0;
}

/* ---- sending ---------------------------------------------------------- */

/* Pack m into buf (cap bytes) or a malloc'd buffer: *out, *len. */
static int conn_pack(const Homa__Client__ClientMsg *m, uint8_t *buf, size_t cap,
		     uint8_t **out, size_t *len)
{
	size_t n = homa__client__client_msg__get_packed_size(m);

	if (n > HOMA_CLIENT_MAX_DATAGRAM)
		return -EMSGSIZE;
	if (n > cap) {
		buf = malloc(n);
		if (buf == NULL)
			return -ENOMEM;
	}
	homa__client__client_msg__pack(m, buf);
	*out = buf;
	*len = n;
	return 0;
}

/*
 * Make room in the batch for n more offsets besides those batched and
 * those taken out by senders (which they may put back): grow it, up to
 * one offset per chunk the pool can lend.  0, -ENOBUFS (more would be a
 * chunk recycled twice), -ENOMEM.
 */
static int conn_recycle_room(struct hc_sock *s, unsigned n)
{
	uint64_t need = (uint64_t)s->nrecycle + s->recycle_out + n;
	uint64_t max = s->rx_size / CONN_RECYCLE_ALIGN + CONN_RECYCLE_CAP;
	uint64_t cap = s->recycle_cap;
	uint32_t *p;

	if (need <= cap)
		return 0;
	if (need > max)
		return -ENOBUFS;
	while (cap < need)
		cap *= 2;
	if (cap > max)
		cap = max;
	p = realloc(s->recycle, (size_t)cap * sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	s->recycle = p;
	s->recycle_cap = (unsigned)cap;
	return 0;
}

/*
 * Take up to CONN_RECYCLE_CAP batched offsets (the last ones: homad does
 * not care about their order) into rec, for one datagram.
 */
static unsigned conn_recycle_take(struct hc_sock *s, uint32_t *rec)
{
	unsigned n =
		s->nrecycle < CONN_RECYCLE_CAP ? s->nrecycle : CONN_RECYCLE_CAP;

	s->nrecycle -= n;
	memcpy(rec, s->recycle + s->nrecycle, n * sizeof(uint32_t));
	s->recycle_out += n;
	return n;
}

/* The n offsets taken were sent (lock held). */
static void conn_recycle_sent(struct hc_sock *s, unsigned n)
{
	s->recycle_out -= n;
	s->pins = s->pins > n ? s->pins - n : 0;
}

/*
 * Put back taken recycles that could not be sent (lock held); the room
 * they left is theirs (conn_recycle_room counts them).
 */
static void conn_recycle_putback(struct hc_sock *s, const uint32_t *off,
				 unsigned n)
{
	s->recycle_out -= n;
	if (s->dead || s->shut)
		return;
	memcpy(s->recycle + s->nrecycle, off, n * sizeof(uint32_t));
	s->nrecycle += n;
}

/* Pack a Recycle of off[0..n) into buf. */
static size_t conn_pack_recycle(const uint32_t *off, unsigned n, uint8_t *buf)
{
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Recycle r = HOMA__CLIENT__RECYCLE__INIT;

	r.n_bpage_offsets = n;
	r.bpage_offsets = (uint32_t *)off;
	m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_RECYCLE;
	m.recycle = &r;
	return homa__client__client_msg__pack(&m, buf);
}

/*
 * Pack off[0..n) as a ClientMsg holding only its recycle field: appended
 * to a packed command, the datagram decodes as that command with these
 * recycles (protobuf merges concatenated messages).
 */
static size_t conn_pack_recycle_field(const uint32_t *off, unsigned n,
				      uint8_t *buf)
{
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;

	m.n_recycle_offsets = n;
	m.recycle_offsets = (uint32_t *)off;
	return homa__client__client_msg__pack(&m, buf);
}

/* Worst case of a packed Recycle: 5 bytes an offset + headers. */
#define CONN_RECYCLE_BYTES (CONN_RECYCLE_CAP * 5 + 32)

static int conn_errno_send(struct hc_sock *s, int err)
{
	if (err == EAGAIN || err == EWOULDBLOCK)
		return -EAGAIN;
	if (err == EINTR)
		return -EINTR;
	if (err == ENOMEM || err == ENOBUFS)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	conn_lost(s, ECONNRESET);
	pthread_mutex_unlock(&s->lock);
	return -ECONNRESET;
}

int conn_send(struct hc_sock *s, const Homa__Client__ClientMsg *m,
	      bool nonblock)
{
	struct conn_deadline forever = {.kind = DL_FOREVER};
	uint8_t small[2048], rbuf[CONN_RECYCLE_BYTES];
	uint32_t rec[CONN_RECYCLE_CAP];
	unsigned nrec, ndgram;
	struct mmsghdr mm[2];
	struct iovec iov[2];
	uint8_t *buf;
	size_t len;
	int rc, sent, err;

	rc = conn_pack(m, small, sizeof(small), &buf, &len);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		if (s->dead) {
			rc = -ECONNRESET;
			break;
		}
		nrec = 0;
		if (s->nrecycle > 0 && !s->shut)
			nrec = conn_recycle_take(s, rec);
		pthread_mutex_unlock(&s->lock);

		memset(mm, 0, sizeof(mm));
		iov[0].iov_base = buf;
		iov[0].iov_len = len;
		mm[0].msg_hdr.msg_iov = &iov[0];
		mm[0].msg_hdr.msg_iovlen = 1;
		ndgram = 1;
		if (nrec > 0 && s->takes_recycle &&
		    len + CONN_RECYCLE_BYTES <= HOMA_CLIENT_MAX_DATAGRAM) {
			/* One datagram: the command, its recycles appended. */
			iov[1].iov_base = rbuf;
			iov[1].iov_len =
				conn_pack_recycle_field(rec, nrec, rbuf);
			mm[0].msg_hdr.msg_iovlen = 2;
		} else if (nrec > 0) {
			iov[1].iov_base = rbuf;
			iov[1].iov_len = conn_pack_recycle(rec, nrec, rbuf);
			mm[1].msg_hdr.msg_iov = &iov[1];
			mm[1].msg_hdr.msg_iovlen = 1;
			ndgram = 2;
		}
		/* Never a blocking send: see the top of this file. */
		do {
			sent = sendmmsg(s->fd, mm, ndgram,
					MSG_NOSIGNAL | MSG_DONTWAIT);
		} while (sent < 0 && errno == EINTR);
		err = sent < 0 ? errno : 0;

		pthread_mutex_lock(&s->lock);
		if (nrec > 0 && sent == (int)ndgram) {
			conn_recycle_sent(s, nrec);
		} else if (nrec > 0) {
			/* Not sent: they go with a later datagram. */
			conn_recycle_putback(s, rec, nrec);
		}
		if (sent > 0) {
			rc = 0;
			break;
		}
		pthread_mutex_unlock(&s->lock);
		rc = conn_errno_send(s, err);
		pthread_mutex_lock(&s->lock);
		if (rc != -EAGAIN || nonblock)
			break;
		/* Wait for room, reading homad's datagrams meanwhile. */
		rc = conn_wait_send(s, &forever);
		if (rc < 0)
			break;
	}
	pthread_mutex_unlock(&s->lock);
	if (buf != small)
		free(buf);
	return rc;
}

int conn_flush_locked(struct hc_sock *s)
{
	uint32_t rec[CONN_RECYCLE_CAP];
	uint8_t rbuf[CONN_RECYCLE_BYTES];

	if (s->dead)
		return -ECONNRESET;
	while (s->nrecycle > 0 && !s->shut && !s->dead) {
		unsigned nrec = conn_recycle_take(s, rec);
		size_t len = conn_pack_recycle(rec, nrec, rbuf);
		ssize_t n;

		pthread_mutex_unlock(&s->lock);
		do {
			n = send(s->fd, rbuf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		} while (n < 0 && errno == EINTR);
		pthread_mutex_lock(&s->lock);
		if (n < 0) {
			int err = errno;

			if (err == EAGAIN || err == EWOULDBLOCK) {
				conn_recycle_putback(s, rec, nrec);
				return -EAGAIN;
			}
			if (err == ENOMEM || err == ENOBUFS) {
				conn_recycle_putback(s, rec, nrec);
				return -ENOMEM;
			}
			s->recycle_out -= nrec;
			conn_lost(s, ECONNRESET);
			return -ECONNRESET;
		}
		conn_recycle_sent(s, nrec);
	}
	return s->dead ? -ECONNRESET : 0;
}

bool conn_recycle_due(const struct hc_sock *s)
{
	uint64_t bpages = s->rx_size / HC_BPAGE_SIZE;

	if (s->nrecycle == 0 || s->shut || s->dead)
		return false;
	return s->nrecycle >= CONN_RECYCLE_BATCH ||
	       s->pins + 2 * HC_MAX_BPAGES > bpages;
}

int conn_flush_wait(struct hc_sock *s)
{
	struct conn_deadline forever = {.kind = DL_FOREVER};
	int rc;

	while ((rc = conn_flush_locked(s)) == -EAGAIN) {
		rc = conn_wait_send(s, &forever);
		if (rc < 0)
			break;
	}
	return rc;
}

void conn_recycle_add(struct hc_sock *s, const uint32_t *off, unsigned n)
{
	/* A message of the library's own area is freed here, not sent. */
	if (n == 1 && drx_recycle(s, off[0]))
		return;
	if (s->dead || s->shut || n == 0)
		return;
	/*
	 * Never wait for room in the socket here: homad stops reading a
	 * client while its events wait, and when the library's event queue
	 * is full the only thread that could take them may be this one (a
	 * single-threaded server recycling each request it reads).  The
	 * batch grows instead; only when it cannot (out of memory) is it
	 * sent, waiting for room.
	 */
	if (!s->dead && !s->shut && conn_recycle_room(s, n) < 0 &&
	    s->nrecycle > 0)
		conn_flush_wait(s);
	if (s->dead || s->shut)
		return;
	if (conn_recycle_room(s, n) < 0) {
		conn_log(s, HC_LOG_ERR,
			 "recycle batch full (%u): %u bpage offsets lost",
			 s->nrecycle + s->recycle_out, n);
		return;
	}
	memcpy(s->recycle + s->nrecycle, off, n * sizeof(uint32_t));
	s->nrecycle += n;
}

void conn_recycle_ev(void *arg, const struct evq_ev *ev)
{
	struct hc_sock *s = arg;

	/*
	 * Called while handling a datagram (possibly by the reader): only
	 * batch here; the batch goes out with the next send or wait.
	 */
	if (ev->num_bpages == 1 && drx_recycle(s, ev->bpage_offsets[0]))
		return; /* the library's own area */
	if (s->dead || s->shut || ev->num_bpages == 0)
		return;
	if (conn_recycle_room(s, ev->num_bpages) < 0) {
		conn_log(s, HC_LOG_ERR,
			 "recycle batch full (%u): %u bpage offsets lost",
			 s->nrecycle + s->recycle_out, ev->num_bpages);
		return;
	}
	memcpy(s->recycle + s->nrecycle, ev->bpage_offsets,
	       ev->num_bpages * sizeof(uint32_t));
	s->nrecycle += ev->num_bpages;
}

/* ---- commands with a Reply ------------------------------------------- */

int conn_call(struct hc_sock *s, Homa__Client__ClientMsg *m,
	      struct conn_call *c)
{
	struct conn_deadline forever = {.kind = DL_FOREVER};
	int rc;

	pthread_mutex_lock(&s->lock);
	if (s->dead) {
		pthread_mutex_unlock(&s->lock);
		return -ECONNRESET;
	}
	c->seq = ++s->seq;
	c->done = false;
	c->error = 0;
	c->answer = NULL;
	c->next = s->calls;
	s->calls = c;
	m->seq = c->seq;
	pthread_mutex_unlock(&s->lock);

	rc = conn_send(s, m, false);

	pthread_mutex_lock(&s->lock);
	if (rc < 0) {
		for (struct conn_call **p = &s->calls; *p != NULL;
		     p = &(*p)->next)
			if (*p == c) {
				*p = c->next;
				break;
			}
		pthread_mutex_unlock(&s->lock);
		return rc;
	}
	while (!c->done)
		conn_step(s, &forever, true, 0);
	rc = c->error ? -c->error : 0;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* ---- client RPC ids --------------------------------------------------- */

int conn_refill_ids(struct hc_sock *s)
{
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__MoreIds more = HOMA__CLIENT__MORE_IDS__INIT;
	struct conn_call *c = &s->more_ids;
	int rc;

	if (s->more_ids_busy || s->next_count > 0 || s->more_ids_err ||
	    s->dead || s->shut || s->id_left > s->id_block / 2)
		return 0;
	s->more_ids_busy = true;
	memset(c, 0, sizeof(*c));
	c->kind = CONN_CMD_MORE_IDS;
	c->seq = ++s->seq;
	c->next = s->calls;
	s->calls = c;
	m.seq = c->seq;
	m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_MORE_IDS;
	m.more_ids = &more;
	pthread_mutex_unlock(&s->lock);
	/* Never waits: a full socket only defers the request. */
	rc = conn_send(s, &m, true);
	pthread_mutex_lock(&s->lock);
	if (rc < 0 && s->more_ids_busy) {
		for (struct conn_call **p = &s->calls; *p != NULL;
		     p = &(*p)->next)
			if (*p == c) {
				*p = c->next;
				break;
			}
		s->more_ids_busy = false;
		if (rc != -EINTR && rc != -ENOMEM && rc != -EAGAIN)
			s->more_ids_err = -rc;
		pthread_cond_broadcast(&s->cond);
	}
	return rc < 0 ? rc : 0;
}

int conn_take_id(struct hc_sock *s, const struct conn_deadline *dl,
		 uint64_t *id)
{
	int rc;

	for (;;) {
		if (s->id_left == 0 && s->next_count > 0) {
			s->id_next = s->next_first;
			s->id_left = s->next_count;
			s->next_count = 0;
		}
		if (s->id_left > 0) {
			*id = s->id_next;
			s->id_next += 2;
			s->id_left--;
			conn_refill_ids(s);
			return 0;
		}
		if (s->dead)
			return -ECONNRESET;
		if (s->shut)
			return -ESHUTDOWN;
		if (s->more_ids_err) {
			conn_set_error(s, "homad gave no more RPC ids: %s",
				       strerror(s->more_ids_err));
			return -s->more_ids_err;
		}
		if (!s->more_ids_busy) {
			rc = conn_refill_ids(s);
			if (rc == -EAGAIN) {
				/* The socket is full: wait for room (reading).
				 */
				rc = conn_wait_send(s, dl);
				if (rc == -EAGAIN) {
					conn_set_error(s,
						       "no room to ask homad "
						       "for RPC ids");
					return rc;
				}
			}
			continue;
		}
		rc = conn_step(s, dl, true, 0);
		if (rc == -EAGAIN)
			return rc;
	}
}
