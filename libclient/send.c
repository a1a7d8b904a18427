/*
 * send.c - sending requests and responses: copied (inline in the
 * descriptor up to homad's max_inline, else into the transmit area) or
 * zero-copy (built by the application in a reserved extent).
 *
 * A send waits (or fails -EAGAIN with HC_NONBLOCK) while the transmit area,
 * the outgoing-message table, homad's wmem_max or the connection's socket
 * buffer is full; releases from homad (TxReleased, responses, failures)
 * make room, and a waiting send reads them (conn.c: never a blocking
 * send()).  A request takes its
 * id from the current id block, so it is known before homad sees it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

/* A waiting sender re-checks this often (space freed by hc_tx_cancel). */
#define SEND_POLL_CAP_MS 20
/* After this many sends with no read of the connection, read what came. */
#define SEND_DRAIN_EVERY 16

struct send_args {
	bool response;
	uint64_t id; /* response: the RPC */
	const struct sockaddr *addr;
	socklen_t addr_len;
	const struct iovec *iov; /* copied sends */
	int iovcnt;
	size_t len;
	uint64_t cookie;
	int flags;
	struct hc_txbuf *zbuf; /* zero-copy sends */
};

static int send_fail(struct hc_sock *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int send_fail(struct hc_sock *s, int err, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&s->lock);
	va_start(ap, fmt);
	vsnprintf(s->errtext, sizeof(s->errtext), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&s->lock);
	return err;
}

/* Copy iov[0..iovcnt) (len bytes in all) to dst. */
static void send_gather(uint8_t *dst, const struct iovec *iov, int iovcnt,
			size_t len)
{
	for (int i = 0; i < iovcnt && len > 0; i++) {
		size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;

		if (n > 0)
			memcpy(dst, iov[i].iov_base, n);
		dst += n;
		len -= n;
	}
}

/*
 * Wait until the message fits: *slot is its entry (a fresh one for a
 * copied send; the caller's reservation for a zero-copy one).  Lock held.
 */
static int send_room(struct hc_sock *s, const struct send_args *a,
		     const struct conn_deadline *dl, uint32_t *slot,
		     bool direct)
{
	/* A direct message lies in the tx area (homad resends from it). */
	bool inline_ = a->len <= s->max_inline && !direct;
	int rc;

	for (;;) {
		if (s->dead)
			return -ECONNRESET;
		if (s->shut)
			return -ESHUTDOWN;
		if (a->zbuf != NULL) {
			if (txtrack_reserved(&s->tx, a->zbuf->tag,
					     a->zbuf->gen) == NULL) {
				conn_set_error(s, "not a reserved tx buffer");
				return -EINVAL;
			}
			*slot = a->zbuf->tag;
		}
		if ((a->flags & HC_PRIVATE) && s->q.npriv >= s->q.priv_cap) {
			conn_set_error(s, "%u private responses uncollected",
				       s->q.npriv);
			return -ENOBUFS;
		}
		if (txtrack_wmem_ok(&s->tx, a->len, s->wmem_max)) {
			if (a->zbuf != NULL)
				return 0;
			rc = txtrack_reserve(&s->tx, inline_ ? 0 : a->len,
					     slot);
			if (rc == 0)
				return 0;
			if (rc == -EMSGSIZE) {
				conn_set_error(s,
					       "message of %zu bytes does not "
					       "fit the tx area (%llu bytes)",
					       a->len,
					       (unsigned long long)s->tx_size);
				return rc;
			}
		}
		if (dl->kind == DL_NOW) {
			/* Read releases that are already there, then give up.
			 */
			rc = conn_step(s, dl, true, 0);
			if (rc == 0)
				continue;
			conn_set_error(s, "no send space (tx area or wmem)");
			return -EAGAIN;
		}
		conn_step(s, dl, true, SEND_POLL_CAP_MS);
	}
}

/*
 * Direct send's doorbell (proto/homa_shm.h): wake homad with an empty
 * Recycle on the connection, never waiting (a full socket is one homad
 * has yet to read: it wakes anyway).
 */
static void send_doorbell(struct hc_sock *s)
{
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Recycle rc = HOMA__CLIENT__RECYCLE__INIT;

	m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_RECYCLE;
	m.recycle = &rc;
	(void)conn_send(s, &m, true);
}

/*
 * a's message is on its way (lock held): a zero-copy buffer is homad's
 * now, and every SEND_DRAIN_EVERY sends the connection is read.
 */
static void send_sent(struct hc_sock *s, struct send_args *a)
{
	if (a->zbuf != NULL) {
		a->zbuf->data = NULL;
		a->zbuf->size = 0;
	}
	if (++s->nsend >= SEND_DRAIN_EVERY) {
		s->nsend = 0;
		conn_drain(s, 64);
	}
}

static int send_msg(struct hc_sock *s, struct send_args *a, uint64_t *id_out)
{
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__SendRequest rq = HOMA__CLIENT__SEND_REQUEST__INIT;
	Homa__Client__SendResponse rs = HOMA__CLIENT__SEND_RESPONSE__INIT;
	Homa__Client__Addr addr = HOMA__CLIENT__ADDR__INIT;
	struct conn_deadline dl;
	uint8_t abuf[16], small[2048], *inl = NULL;
	uint8_t alen;
	uint16_t port;
	uint64_t id = a->id, off;
	uint32_t slot;
	bool priv = (a->flags & HC_PRIVATE) != 0, inline_, inl_alloc = false;
	bool direct;
	struct direct_pkt dp;
	struct homa_direct_rec rec;
	int rc, allowed = a->response ? HC_NONBLOCK : HC_NONBLOCK | HC_PRIVATE;

	if (a->flags & ~allowed)
		return send_fail(s, -EINVAL, "bad flags 0x%x", a->flags);
	if (a->len == 0 || a->len > HC_MAX_MESSAGE_LENGTH)
		return send_fail(s, -EINVAL,
				 "message length %zu is out of range "
				 "(1..%u)",
				 a->len, HC_MAX_MESSAGE_LENGTH);
	if (a->zbuf != NULL && a->len > a->zbuf->size)
		return send_fail(s, -EINVAL,
				 "length %zu exceeds the tx buffer (%zu)",
				 a->len, a->zbuf->size);
	if (a->response && (id == 0 || (id & 1) == 0))
		return send_fail(s, -EINVAL,
				 "response for %llu: not a request id",
				 (unsigned long long)id);
	rc = addr_from_sockaddr(s->family, a->addr, a->addr_len, abuf, &alen,
				&port);
	if (rc < 0)
		return send_fail(s, rc, "bad %s address",
				 a->response ? "peer" : "destination");
	conn_deadline_ms(&dl, (a->flags & HC_NONBLOCK) ? 0 : -1);

	pthread_mutex_lock(&s->lock);
	direct = direct_fits(s, a->len, alen, abuf);
	rc = send_room(s, a, &dl, &slot, direct);
	if (rc == -ESHUTDOWN && a->response) {
		/* The kernel API: a response after shutdown is discarded. */
		if (a->zbuf != NULL && txtrack_reserved(&s->tx, a->zbuf->tag,
							a->zbuf->gen) != NULL) {
			txtrack_cancel(&s->tx, a->zbuf->tag);
			a->zbuf->data = NULL;
			a->zbuf->size = 0;
		}
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	if (rc < 0) {
		pthread_mutex_unlock(&s->lock);
		return rc;
	}
	if (!a->response) {
		rc = conn_take_id(s, &dl, &id);
		/* Before any packet of it leaves: its response may come to
		 * the receive socket at once. */
		if (rc == 0)
			rc = drx_track(s, id, a->cookie, abuf, alen, port,
				       priv);
		if (rc == 0 && priv) {
			rc = evq_priv_add(&s->q, id);
			if (rc < 0)
				drx_settled(s, id);
		}
		if (rc < 0) {
			if (a->zbuf == NULL)
				txtrack_cancel(&s->tx, slot);
			pthread_mutex_unlock(&s->lock);
			return rc == -EEXIST ? -EPROTO : rc;
		}
	}
	txtrack_commit(&s->tx, slot, id, (uint32_t)a->len);
	off = s->tx.e[slot].off;
	pthread_mutex_unlock(&s->lock);

	/* The entry is ours alone now: fill it without the lock. */
	inline_ = off == TXTRACK_INLINE;
	if (inline_) {
		if (a->iovcnt == 1) {
			inl = a->iov[0].iov_base;
		} else {
			inl = small;
			if (a->len > sizeof(small)) {
				inl = malloc(a->len);
				inl_alloc = true;
			}
			if (inl == NULL) {
				rc = -ENOMEM;
				goto undo;
			}
			send_gather(inl, a->iov, a->iovcnt, a->len);
		}
	} else if (a->zbuf == NULL) {
		send_gather(s->txmap + off, a->iov, a->iovcnt, a->len);
	}
	if (direct && !inline_) {
		/* Record first (homad adopts it), then the packet. */
		memset(&dp, 0, sizeof(dp));
		dp.response = a->response;
		dp.priv = priv;
		dp.id = id;
		dp.cookie = a->cookie;
		dp.tx_offset = off;
		dp.length = (uint32_t)a->len;
		dp.dport = port;
		addr_to16(dp.addr, abuf, alen);
		pthread_mutex_lock(&s->lock);
		dp.sport = (uint16_t)s->port;
		direct = dp.sport != 0 && !s->dead && !s->shut;
		if (direct) {
			direct_prepare(s, &dp, &rec);
			direct = direct_record(s, &rec) == 0;
		}
		if (direct) {
			s->direct_sent++;
			send_sent(s, a);
		}
		pthread_mutex_unlock(&s->lock);
		if (direct) {
			/* Lost or refused: homad's retransmission recovers it
			 * (the RESEND of the receiver, or of our own homad). */
			(void)direct_xmit(s, &dp, s->txmap + off);
			if (direct_doorbell_due(s))
				send_doorbell(s);
			if (id_out != NULL)
				*id_out = id;
			return 0;
		}
		/* Ring full (or shut down meanwhile): the command path. */
	}
	addr.addr.data = abuf;
	addr.addr.len = alen;
	addr.port = port;
	if (a->response) {
		rs.id = id;
		rs.peer = &addr;
		rs.length = (uint32_t)a->len;
		if (inline_) {
			rs.inline_data.data = inl;
			rs.inline_data.len = a->len;
		} else {
			rs.tx_offset = off;
		}
		m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SEND_RESPONSE;
		m.send_response = &rs;
	} else {
		rq.id = id;
		rq.dest = &addr;
		rq.cookie = a->cookie;
		rq.private_ = priv;
		rq.length = (uint32_t)a->len;
		if (inline_) {
			rq.inline_data.data = inl;
			rq.inline_data.len = a->len;
		} else {
			rq.tx_offset = off;
		}
		m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SEND_REQUEST;
		m.send_request = &rq;
	}
	rc = conn_send(s, &m, (a->flags & HC_NONBLOCK) != 0);
	if (inl_alloc)
		free(inl);
	if (rc < 0)
		goto undo;

	pthread_mutex_lock(&s->lock);
	send_sent(s, a);
	pthread_mutex_unlock(&s->lock);
	if (id_out != NULL)
		*id_out = id;
	return 0;

undo:
	pthread_mutex_lock(&s->lock);
	/*
	 * homad never saw the request: give its id back if it is still the
	 * last one taken, so that retries on a full socket use up no ids.
	 */
	if (!a->response && (rc == -EAGAIN || rc == -ENOMEM) &&
	    s->id_next == id + 2) {
		s->id_next = id;
		s->id_left++;
	}
	txtrack_uncommit(&s->tx, slot);
	if (a->zbuf == NULL)
		txtrack_cancel(&s->tx, slot);
	if (priv)
		evq_priv_forget(&s->q, id);
	if (!a->response)
		drx_settled(s, id);
	conn_set_error(s, "sending to homad: %s", hc_strerror(rc));
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Total bytes of iov, or -EINVAL. */
static ssize_t send_iov_len(const struct iovec *iov, int iovcnt)
{
	size_t len = 0;

	if (iovcnt < 0 || (iovcnt > 0 && iov == NULL))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > 0 && iov[i].iov_base == NULL)
			return -EINVAL;
		if (iov[i].iov_len > HC_MAX_MESSAGE_LENGTH)
			return -EINVAL;
		len += iov[i].iov_len;
		if (len > HC_MAX_MESSAGE_LENGTH + 1)
			len = HC_MAX_MESSAGE_LENGTH + 1;
	}
	return (ssize_t)len;
}

int hc_send_requestv(struct hc_sock *s, const struct sockaddr *dest,
		     socklen_t dest_len, const struct iovec *iov, int iovcnt,
		     uint64_t cookie, int flags, uint64_t *id)
{
	struct send_args a = {.addr = dest,
			      .addr_len = dest_len,
			      .iov = iov,
			      .iovcnt = iovcnt,
			      .cookie = cookie,
			      .flags = flags};
	ssize_t len = send_iov_len(iov, iovcnt);

	if (len < 0)
		return send_fail(s, -EINVAL, "bad iovec");
	a.len = (size_t)len;
	return send_msg(s, &a, id);
}

int hc_send_request(struct hc_sock *s, const struct sockaddr *dest,
		    socklen_t dest_len, const void *buf, size_t len,
		    uint64_t cookie, int flags, uint64_t *id)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

	if (buf == NULL && len > 0)
		return send_fail(s, -EINVAL, "buffer is NULL");
	return hc_send_requestv(s, dest, dest_len, &iov, 1, cookie, flags, id);
}

int hc_send_responsev(struct hc_sock *s, uint64_t id,
		      const struct sockaddr *peer, socklen_t peer_len,
		      const struct iovec *iov, int iovcnt, int flags)
{
	struct send_args a = {.response = true,
			      .id = id,
			      .addr = peer,
			      .addr_len = peer_len,
			      .iov = iov,
			      .iovcnt = iovcnt,
			      .flags = flags};
	ssize_t len = send_iov_len(iov, iovcnt);

	if (len < 0)
		return send_fail(s, -EINVAL, "bad iovec");
	a.len = (size_t)len;
	return send_msg(s, &a, NULL);
}

int hc_send_response(struct hc_sock *s, uint64_t id,
		     const struct sockaddr *peer, socklen_t peer_len,
		     const void *buf, size_t len, int flags)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

	if (buf == NULL && len > 0)
		return send_fail(s, -EINVAL, "buffer is NULL");
	return hc_send_responsev(s, id, peer, peer_len, &iov, 1, flags);
}

/* ---- zero-copy -------------------------------------------------------- */

int hc_tx_reserve(struct hc_sock *s, size_t size, int flags,
		  struct hc_txbuf *buf)
{
	struct conn_deadline dl;
	uint32_t slot;
	int rc;

	if (buf == NULL || (flags & ~HC_NONBLOCK) || size == 0 ||
	    size > HC_MAX_MESSAGE_LENGTH)
		return send_fail(s, -EINVAL,
				 "tx reserve: bad arguments (size %zu)", size);
	conn_deadline_ms(&dl, (flags & HC_NONBLOCK) ? 0 : -1);
	pthread_mutex_lock(&s->lock);
	for (;;) {
		if (s->dead) {
			rc = -ECONNRESET;
			break;
		}
		if (s->shut) {
			rc = -ESHUTDOWN;
			break;
		}
		rc = txtrack_reserve(&s->tx, size, &slot);
		if (rc == 0 || rc == -EMSGSIZE)
			break;
		rc = conn_step(s, &dl, true,
			       dl.kind == DL_NOW ? 0 : SEND_POLL_CAP_MS);
		if (rc == -EAGAIN)
			break;
	}
	if (rc == 0) {
		buf->data = s->txmap + s->tx.e[slot].off;
		buf->size = size;
		buf->tag = slot;
		buf->gen = s->tx.e[slot].gen;
	} else {
		conn_set_error(s, "tx reserve of %zu bytes: %s", size,
			       hc_strerror(rc));
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int hc_tx_cancel(struct hc_sock *s, struct hc_txbuf *buf)
{
	int rc = 0;

	if (buf == NULL)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (txtrack_reserved(&s->tx, buf->tag, buf->gen) == NULL) {
		conn_set_error(s, "tx cancel: not a reserved buffer");
		rc = -EINVAL;
	} else {
		txtrack_cancel(&s->tx, buf->tag);
		buf->data = NULL;
		buf->size = 0;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int hc_send_request_buf(struct hc_sock *s, const struct sockaddr *dest,
			socklen_t dest_len, struct hc_txbuf *buf, size_t len,
			uint64_t cookie, int flags, uint64_t *id)
{
	struct send_args a = {.addr = dest,
			      .addr_len = dest_len,
			      .len = len,
			      .cookie = cookie,
			      .flags = flags,
			      .zbuf = buf};

	if (buf == NULL)
		return send_fail(s, -EINVAL, "tx buffer is NULL");
	return send_msg(s, &a, id);
}

int hc_send_response_buf(struct hc_sock *s, uint64_t id,
			 const struct sockaddr *peer, socklen_t peer_len,
			 struct hc_txbuf *buf, size_t len, int flags)
{
	struct send_args a = {.response = true,
			      .id = id,
			      .addr = peer,
			      .addr_len = peer_len,
			      .len = len,
			      .flags = flags,
			      .zbuf = buf};

	if (buf == NULL)
		return send_fail(s, -EINVAL, "tx buffer is NULL");
	return send_msg(s, &a, NULL);
}
