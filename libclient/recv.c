/*
 * recv.c - receiving: waiting for a message (any, or one private
 * response), reading its bytes from the receive pool, giving its bpages
 * back.
 *
 * Ownership: homad lends a delivered message's bpages to the application;
 * hc_recv hands them over in struct hc_msg; the application returns them
 * with hc_recycle (each offset once), which the library batches into its
 * next datagram.  The pool is mapped read-only.
 */
#include <errno.h>
#include <string.h>

#include "client_int.h"

/* Fill msg from ev (lock held). */
static void recv_fill(struct hc_sock *s, const struct evq_ev *ev,
		      struct hc_msg *msg)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;

	memset(msg, 0, sizeof(*msg));
	msg->id = ev->id;
	msg->cookie = ev->cookie;
	msg->error = ev->error;
	msg->length = ev->length;
	msg->num_bpages = ev->num_bpages;
	memcpy(msg->bpage_offsets, ev->bpage_offsets,
	       ev->num_bpages * sizeof(uint32_t));
	if (ev->addr_len != 0 &&
	    addr_to_sockaddr(s->family, ev->addr, ev->addr_len, ev->port, &ss,
			     &len) == 0) {
		memcpy(&msg->peer, &ss, len);
		msg->peer_len = len;
	} else if (ev->addr_len != 0) {
		/* An IPv6 peer on an AF_INET socket: no address to give. */
		conn_log(
			s, HC_LOG_WARNING,
			"message %llu: peer address not of the socket's family",
			(unsigned long long)ev->id);
	}
}

int hc_recv(struct hc_sock *s, uint64_t id, int timeout_ms, struct hc_msg *msg)
{
	struct conn_deadline dl;
	struct evq_ev ev;
	int rc;

	if (msg == NULL)
		return -EINVAL;
	conn_deadline_ms(&dl, timeout_ms);
	pthread_mutex_lock(&s->lock);
	for (;;) {
		if (id == 0) {
			if (s->shut) {
				rc = -ESHUTDOWN;
				break;
			}
			if (evq_pop(&s->q, &ev) == 0) {
				recv_fill(s, &ev, msg);
				rc = 0;
				break;
			}
		} else {
			rc = evq_priv_take(&s->q, id, &ev);
			if (rc == 0) {
				recv_fill(s, &ev, msg);
				break;
			}
			if (rc == -ENOENT) {
				conn_set_error(s,
					       "%llu is not an outstanding "
					       "private RPC",
					       (unsigned long long)id);
				rc = -EINVAL;
				break;
			}
		}
		if (s->dead) {
			rc = -ECONNRESET;
			break;
		}
		rc = conn_step(s, &dl, id != 0, 0);
		if (rc == -EAGAIN) {
			/* The caller may sleep now: recycles homad may need go.
			 */
			if (conn_recycle_due(s))
				conn_flush_locked(s);
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/*
 * Whether msg's bpage offsets lie in s's pool, or (a message of one
 * bpage) in the library's own area after it (direct receive).
 */
static bool recv_offsets_ok(const struct hc_sock *s, const struct hc_msg *msg)
{
	uint64_t end = s->rx_size + (msg->num_bpages == 1 ? s->drx_bytes : 0);

	for (uint32_t i = 0; i < msg->num_bpages; i++)
		if (msg->bpage_offsets[i] >= end)
			return false;
	return true;
}

/* Whether msg's bpages lie in s's pool (msg is the caller's memory). */
static bool recv_msg_ok(const struct hc_sock *s, const struct hc_msg *msg)
{
	return msg != NULL && msg->error == 0 &&
	       msg->num_bpages <= HC_MAX_BPAGES &&
	       msg->length <= HC_MAX_MESSAGE_LENGTH &&
	       (uint64_t)msg->num_bpages * HC_BPAGE_SIZE >= msg->length &&
	       recv_offsets_ok(s, msg);
}

/* Bytes of bpage i of msg, and where they start. */
static size_t recv_chunk(const struct hc_sock *s, const struct hc_msg *msg,
			 uint32_t i, const uint8_t **p)
{
	uint64_t start = (uint64_t)i * HC_BPAGE_SIZE;
	uint64_t n = msg->length - start;
	/* The pool, then the library's own area (direct receive). */
	uint64_t room = s->rx_size + s->drx_bytes - msg->bpage_offsets[i];

	if (n > HC_BPAGE_SIZE)
		n = HC_BPAGE_SIZE;
	if (n > room)
		n = room;
	*p = s->rxmap + msg->bpage_offsets[i];
	return (size_t)n;
}

size_t hc_msg_read(struct hc_sock *s, const struct hc_msg *msg, size_t offset,
		   void *dst, size_t len)
{
	uint8_t *out = dst;
	size_t done = 0;

	if (!recv_msg_ok(s, msg) || offset >= msg->length || dst == NULL)
		return 0;
	if (len > msg->length - offset)
		len = msg->length - offset;
	while (done < len) {
		uint32_t i = (uint32_t)((offset + done) / HC_BPAGE_SIZE);
		size_t in = (offset + done) % HC_BPAGE_SIZE, n;
		const uint8_t *p;
		size_t avail = recv_chunk(s, msg, i, &p);

		if (in >= avail)
			break;
		n = avail - in;
		if (n > len - done)
			n = len - done;
		memcpy(out + done, p + in, n);
		done += n;
	}
	return done;
}

int hc_msg_iov(struct hc_sock *s, const struct hc_msg *msg, struct iovec *iov,
	       int iovcnt)
{
	if (!recv_msg_ok(s, msg) || iov == NULL || iovcnt < 0 ||
	    (uint32_t)iovcnt < msg->num_bpages)
		return -EINVAL;
	for (uint32_t i = 0; i < msg->num_bpages; i++) {
		const uint8_t *p;

		iov[i].iov_len = recv_chunk(s, msg, i, &p);
		iov[i].iov_base = (void *)p;
	}
	return (int)msg->num_bpages;
}

int hc_recycle(struct hc_sock *s, struct hc_msg *msg)
{
	int rc = 0;

	if (msg == NULL)
		return -EINVAL;
	if (msg->num_bpages == 0)
		return 0;
	if (msg->num_bpages > HC_MAX_BPAGES || !recv_offsets_ok(s, msg))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (s->dead) {
		rc = -ECONNRESET;
	} else {
		conn_recycle_add(s, msg->bpage_offsets, msg->num_bpages);
		/* A full socket keeps them batched for the next datagram. */
		if (s->nrecycle >= CONN_RECYCLE_BATCH &&
		    conn_flush_locked(s) == -ECONNRESET)
			rc = -ECONNRESET;
	}
	msg->num_bpages = 0;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int hc_flush(struct hc_sock *s)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = conn_flush_wait(s);
	pthread_mutex_unlock(&s->lock);
	return rc;
}
