/*
 * msgin.c - incoming messages (spec/protocol.md, "Receiving a message",
 * "Receive buffer pool", RESEND).
 *
 * Received bytes are tracked as recv_end (one past the highest byte) and a
 * sorted list of gaps below it; a packet must fill a gap exactly or part of
 * one, or extend recv_end: anything overlapping bytes we have, straddling a
 * gap's edge or straddling recv_end is a duplicate and dropped, as the
 * module does.  Payload goes straight into the socket's bpages.  A message
 * that finds no bpages waits in its pool's queue, its packets dropped, and
 * restarts with a RESEND(0, all) once space frees up.  So does one whose
 * peer already holds its share of the pool (struct homa_share), on the
 * share's own list: it blocks nobody else.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "homa_int.h"

/* Period of CUTOFFS to one peer, at most (ns). */
#define MSGIN_CUTOFFS_INTERVAL 1000000ull

void msgin_init(struct homa_rpc *rpc, uint32_t length, uint32_t incoming,
		uint64_t now)
{
	struct homa_msgin *m = &rpc->msgin;

	m->present = true;
	m->length = length;
	m->recv_end = 0;
	m->bytes_remaining = length;
	m->granted = incoming < length ? incoming : length;
	m->num_gaps = 0;
	m->birth = now;
}

/* Free what msgin_add_packet allocated. */
void msgin_destroy(struct homa_engine *e, struct homa_msgin *m)
{
	mem_free(&e->alloc, m->gaps);
	m->gaps = NULL;
	m->num_gaps = m->cap_gaps = 0;
}

/* Bytes received so far. */
uint32_t msgin_received(const struct homa_msgin *m)
{
	return m->length - m->bytes_remaining;
}

static int msgin_gap_insert(struct homa_engine *e, struct homa_msgin *m,
			    uint32_t at, uint32_t start, uint32_t end)
{
	if (m->num_gaps >= e->params.max_gaps)
		return -ENOSPC;
	if (m->num_gaps == m->cap_gaps) {
		uint32_t cap = m->cap_gaps ? 2 * m->cap_gaps : 8;
		struct homa_gap *g;

		if (cap > e->params.max_gaps)
			cap = e->params.max_gaps;
		g = mem_realloc(&e->alloc, m->gaps, cap, sizeof(*g));
		if (g == NULL)
			return -ENOMEM;
		m->gaps = g;
		m->cap_gaps = cap;
	}
	memmove(&m->gaps[at + 1], &m->gaps[at],
		(m->num_gaps - at) * sizeof(*m->gaps));
	m->gaps[at].start = start;
	m->gaps[at].end = end;
	m->num_gaps++;
	return 0;
}

/*
 * Account for the packet [start, start + len).  0: new bytes, to be stored;
 * -EEXIST: a duplicate or an overlap (drop it); -ENOSPC: it would need a
 * gap beyond max_gaps (drop it); -ENOMEM: no memory for its gap (drop it).
 */
int msgin_add_packet(struct homa_engine *e, struct homa_msgin *m,
		     uint32_t start, uint32_t len)
{
	uint32_t end = start + len;
	uint32_t i;

	if (start >= m->recv_end) {
		if (start > m->recv_end) {
			int err = msgin_gap_insert(e, m, m->num_gaps,
						   m->recv_end, start);
			if (err < 0)
				return err;
		}
		m->recv_end = end;
		return 0;
	}
	if (end > m->recv_end)
		return -EEXIST;
	for (i = 0; i < m->num_gaps; i++) {
		struct homa_gap *g = &m->gaps[i];

		if (start < g->start)
			return -EEXIST;
		if (start >= g->end)
			continue;
		if (end > g->end)
			return -EEXIST;
		if (start == g->start && end == g->end) {
			memmove(g, g + 1, (m->num_gaps - i - 1) * sizeof(*g));
			m->num_gaps--;
		} else if (start == g->start) {
			g->start = end;
		} else if (end == g->end) {
			g->end = start;
		} else {
			uint32_t old_end = g->end;
			int err = msgin_gap_insert(e, m, i + 1, end, old_end);

			if (err < 0)
				return err;
			m->gaps[i].end = start;
		}
		return 0;
	}
	return -EEXIST;
}

/* Send a RESEND for [offset, offset + length) of rpc. */
static void msgin_send_resend(struct homa_engine *e, struct homa_rpc *rpc,
			      uint32_t offset, uint32_t length, uint8_t prio,
			      uint64_t now)
{
	struct homa_pkt pkt;

	rpc_pkt_init(&pkt, rpc, HOMA_RESEND);
	pkt.u.resend.offset = offset;
	pkt.u.resend.length = length;
	pkt.u.resend.priority = prio;
	engine_xmit_control(e, rpc->peer, &pkt, now);
	e->metrics.resend_requests++;
}

/*
 * Ask the peer for what rpc lacks: a client still waiting for its response
 * asks for "everything" (0, -1); a receiver asks for each gap and for
 * [recv_end, granted).
 */
/*
 * The bytes of data a RESEND round of rpc would ask its peer for: its
 * gaps and what was granted but has not come (a client's RESEND for a
 * response not begun asks for no bytes it knows of: 0).
 */
uint32_t msgin_gap_bytes(const struct homa_msgin *m)
{
	uint32_t bytes = 0;

	for (uint32_t i = 0; i < m->num_gaps; i++)
		bytes += m->gaps[i].end - m->gaps[i].start;
	return bytes;
}

uint64_t msgin_retrans_bytes(const struct homa_rpc *rpc)
{
	const struct homa_msgin *m = &rpc->msgin;
	uint64_t bytes;

	if (rpc->state != RPC_INCOMING || !m->present || !m->bufs)
		return 0;
	bytes = msgin_gap_bytes(m);
	if (m->recv_end < m->granted)
		bytes += m->granted - m->recv_end;
	return bytes;
}

void msgin_request_retrans(struct homa_engine *e, struct homa_rpc *rpc,
			   uint64_t now)
{
	struct homa_msgin *m = &rpc->msgin;

	if (rpc->state == RPC_OUTGOING) {
		if (rpc_is_client(rpc))
			msgin_send_resend(e, rpc, 0, HOMA_RESEND_ALL,
					  HOMA_CONTROL_PRIORITY, now);
		return;
	}
	if (rpc->state != RPC_INCOMING || !m->present || !m->bufs)
		return;
	for (uint32_t i = 0; i < m->num_gaps; i++)
		msgin_send_resend(e, rpc, m->gaps[i].start,
				  m->gaps[i].end - m->gaps[i].start,
				  HOMA_CONTROL_PRIORITY, now);
	if (m->recv_end < m->granted)
		msgin_send_resend(e, rpc, m->recv_end, m->granted - m->recv_end,
				  HOMA_CONTROL_PRIORITY, now);
}

/* ---- pool shares ------------------------------------------------------ */

static uint32_t share_bucket(const struct homa_sock *s,
			     const struct homa_peer *peer)
{
	uint64_t h = ((uint64_t)(uintptr_t)s >> 4) * 0x9E3779B97F4A7C15ull ^
		     ((uint64_t)(uintptr_t)peer >> 4);

	h *= 0xC2B2AE3D27D4EB4Full;
	return (uint32_t)(h >> 32) % SHARE_BUCKETS;
}

/* The share of peer in s's pool; created when create (NULL: no memory). */
static struct homa_share *share_get(struct homa_engine *e, struct homa_sock *s,
				    struct homa_peer *peer, bool create)
{
	uint32_t b = share_bucket(s, peer);
	struct homa_share *sh;

	for (sh = e->share_buckets[b]; sh != NULL; sh = sh->hash_next)
		if (sh->sock == s && sh->peer == peer)
			return sh;
	if (!create)
		return NULL;
	sh = mem_calloc(&e->alloc, 1, sizeof(*sh));
	if (sh == NULL)
		return NULL;
	sh->sock = s;
	sh->peer = peer;
	TAILQ_INIT(&sh->capped);
	sh->hash_next = e->share_buckets[b];
	e->share_buckets[b] = sh;
	e->nshares++;
	return sh;
}

/* Free sh once it holds nothing and nothing waits for it. */
static void share_put(struct homa_engine *e, struct homa_share *sh)
{
	struct homa_share **pp;

	if (sh->held > 0 || sh->ncapped > 0)
		return;
	if (sh->retry)
		TAILQ_REMOVE(&e->share_retry, sh, retry_link);
	pp = &e->share_buckets[share_bucket(sh->sock, sh->peer)];
	while (*pp != sh)
		pp = &(*pp)->hash_next;
	*pp = sh->hash_next;
	e->nshares--;
	mem_free(&e->alloc, sh);
}

/* May sh's peer start a message of length bytes in the pool? */
static bool share_fits(const struct homa_engine *e, const struct homa_share *sh,
		       uint32_t length)
{
	const struct homa_pool *p = &sh->sock->pool;
	uint64_t cap = (uint64_t)p->nbpages * HOMA_BPAGE_SIZE *
		       e->params.peer_pool_percent / 100;

	return sh->held == 0 || sh->held + length <= cap;
}

/* rpc got bpages: they count in its share. */
static void share_hold(struct homa_share *sh, struct homa_rpc *rpc)
{
	sh->held += rpc->msgin.length;
	rpc->msgin.share = sh;
}

/* rpc waits for its peer's share to drop (its packets are dropped). */
static void share_cap(struct homa_engine *e, struct homa_share *sh,
		      struct homa_rpc *rpc)
{
	TAILQ_INSERT_TAIL(&sh->capped, rpc, msgin.wait_link);
	sh->ncapped++;
	rpc->sock->ncapped++;
	rpc->msgin.capped = true;
	rpc->msgin.share = sh;
	e->metrics.pool_share_waits++;
}

static void share_uncap(struct homa_share *sh, struct homa_rpc *rpc)
{
	TAILQ_REMOVE(&sh->capped, rpc, msgin.wait_link);
	sh->ncapped--;
	rpc->sock->ncapped--;
	rpc->msgin.capped = false;
	rpc->msgin.share = NULL;
}

/* Retry sh's waiters at the end of the entry point (msgin_retry_pools). */
static void share_retry_soon(struct homa_engine *e, struct homa_share *sh)
{
	if (sh->ncapped == 0 || sh->retry || sh->sock->shutdown)
		return;
	sh->retry = true;
	TAILQ_INSERT_TAIL(&e->share_retry, sh, retry_link);
	e->pool_retry = true;
}

/*
 * rpc's bpages no longer count in its share (delivered, or freed by
 * rpc_end): the share's waiters are retried at the end of the entry point
 * (msgin_retry_pools).
 */
void msgin_release_share(struct homa_engine *e, struct homa_rpc *rpc)
{
	struct homa_share *sh = rpc->msgin.share;

	if (sh == NULL || rpc->msgin.capped)
		return;
	sh->held -= rpc->msgin.length;
	rpc->msgin.share = NULL;
	share_retry_soon(e, sh);
	share_put(e, sh);
}

/* rpc ends while it waits for its share. */
void msgin_end_capped(struct homa_engine *e, struct homa_rpc *rpc)
{
	struct homa_share *sh = rpc->msgin.share;

	share_uncap(sh, rpc);
	share_put(e, sh);
}

/* Retry every share that has waiters (msgin_retry_pools), e.g. after the
 * parameters changed. */
void msgin_retry_shares(struct homa_engine *e)
{
	for (uint32_t b = 0; b < SHARE_BUCKETS; b++) {
		struct homa_share *sh;

		for (sh = e->share_buckets[b]; sh != NULL; sh = sh->hash_next)
			share_retry_soon(e, sh);
	}
}

/* At engine_destroy: every RPC has ended, so there should be none. */
void msgin_free_shares(struct homa_engine *e)
{
	for (uint32_t b = 0; b < SHARE_BUCKETS; b++) {
		struct homa_share *sh;

		while ((sh = e->share_buckets[b]) != NULL) {
			e->share_buckets[b] = sh->hash_next;
			mem_free(&e->alloc, sh);
		}
	}
	TAILQ_INIT(&e->share_retry);
	e->nshares = 0;
}

/*
 * Bpages for m from p, strictly shortest first: -ENOMEM while a message
 * no longer than m waits in the queue (no overtaking), or the pool lacks
 * space.
 */
static int msgin_pool_alloc(struct homa_pool *p, struct homa_msgin *m)
{
	if (p->nwaiting > 0 &&
	    TAILQ_FIRST(&p->waiting)->msgin.length <= m->length)
		return -ENOMEM;
	return pool_alloc(p, m->length, m->bpage_offsets, &m->num_bpages);
}

/* Insert rpc into its pool's wait queue, shortest message first. */
static void msgin_wait(struct homa_pool *p, struct homa_rpc *rpc)
{
	struct homa_rpc *it;

	TAILQ_FOREACH(it, &p->waiting, msgin.wait_link)
	if (it->msgin.length > rpc->msgin.length)
		break;
	if (it != NULL)
		TAILQ_INSERT_BEFORE(it, rpc, msgin.wait_link);
	else
		TAILQ_INSERT_TAIL(&p->waiting, rpc, msgin.wait_link);
	p->nwaiting++;
	rpc->msgin.waiting = true;
}

/*
 * Find bpages for rpc's message.  true: it has them.  false: the socket has
 * no pool (the packet is simply dropped), or the pool is full and the
 * message now waits for space.
 */
bool msgin_get_bufs(struct homa_engine *e, struct homa_rpc *rpc, uint64_t now)
{
	struct homa_msgin *m = &rpc->msgin;
	struct homa_pool *p = &rpc->sock->pool;
	struct homa_share *sh;

	(void)now;
	if (m->bufs)
		return true;
	if (m->waiting || m->capped || p->base == NULL)
		return false;
	if ((m->length + HOMA_BPAGE_SIZE - 1) / HOMA_BPAGE_SIZE > p->nbpages) {
		/* Waiting would be forever: the caller refuses it. */
		m->too_big = true;
		e->metrics.buffer_alloc_failures++;
		return false;
	}
	sh = share_get(e, rpc->sock, rpc->peer, true);
	if (sh == NULL) {
		/* No memory: the packet is dropped, a later one retries. */
		e->metrics.buffer_alloc_failures++;
		return false;
	}
	if (!share_fits(e, sh, m->length)) {
		share_cap(e, sh, rpc);
		return false;
	}
	if (msgin_pool_alloc(p, m) < 0) {
		share_put(e, sh);
		e->metrics.buffer_alloc_failures++;
		msgin_wait(p, rpc);
		return false;
	}
	share_hold(sh, rpc);
	m->bufs = true;
	return true;
}

/*
 * A waiting message got its bpages: the sender starts over (RESEND of
 * everything, priority 6 as the module asks) and grants resume.
 */
static void msgin_start_waiter(struct homa_engine *e, struct homa_share *sh,
			       struct homa_rpc *rpc, uint64_t now)
{
	struct homa_msgin *m = &rpc->msgin;

	share_hold(sh, rpc);
	m->bufs = true;
	rpc_heard(rpc);
	msgin_send_resend(e, rpc, 0, HOMA_RESEND_ALL, engine_clamp_prio(e, 6),
			  now);
	grant_update_incoming(e, rpc);
	if (m->granted < m->length)
		grant_add(e, rpc);
}

/* Space was freed in s's pool: start waiting messages that now fit. */
static void msgin_pool_retry(struct homa_engine *e, struct homa_sock *s,
			     uint64_t now);

static void msgin_maybe_send_cutoffs(struct homa_engine *e,
				     struct homa_rpc *rpc,
				     const struct homa_pkt *pkt, uint64_t now)
{
	struct homa_peer *peer = rpc->peer;
	struct homa_pkt c;

	if (pkt->u.data.cutoff_version == e->params.cutoff_version)
		return;
	if (peer->cutoffs_sent &&
	    now - peer->cutoffs_sent_at < MSGIN_CUTOFFS_INTERVAL)
		return;
	peer->cutoffs_sent = true;
	peer->cutoffs_sent_at = now;
	rpc_pkt_init(&c, rpc, HOMA_CUTOFFS);
	memcpy(c.u.cutoffs.unsched_cutoffs, e->params.unsched_cutoffs,
	       sizeof(c.u.cutoffs.unsched_cutoffs));
	c.u.cutoffs.cutoff_version = (uint16_t)e->params.cutoff_version;
	engine_xmit_control(e, peer, &c, now);
}

/*
 * Response or request bytes for rpc arrived (here or at the application):
 * rpc heard; a client's response has begun, so its request is no longer
 * sent.
 */
static void msgin_heard(struct homa_engine *e, struct homa_rpc *rpc)
{
	rpc_heard(rpc);
	if (rpc_is_client(rpc) && rpc->state == RPC_OUTGOING) {
		rpc_set_state(e, rpc, RPC_INCOMING);
		pacer_remove(e, rpc);
	}
}

int msgin_direct(struct homa_engine *e, struct homa_rpc *rpc,
		 const struct homa_pkt *pkt, uint64_t now, void **cookie)
{
	uint32_t len = pkt->u.data.message_length;

	*cookie = NULL;
	msgin_heard(e, rpc);
	if (rpc->state != RPC_INCOMING)
		return -ENOENT;
	if (rpc->msgin.present)
		return -EALREADY;
	msgin_maybe_send_cutoffs(e, rpc, pkt, now);
	e->metrics.client_responses_started++;
	e->metrics.client_response_bytes_started += len;
	e->metrics.client_responses_done++;
	e->metrics.client_response_bytes_done += len;
	e->metrics.direct_responses++;
	e->metrics.direct_response_bytes += len;
	if (rpc->msgout.present)
		*cookie = rpc->msgout.cookie;
	peer_add_ack(e, rpc->peer, rpc->sock->port, rpc->dport, rpc->id, now);
	rpc_end(e, rpc, now);
	return 0;
}

void msgin_direct_request(struct homa_engine *e, struct homa_rpc *rpc,
			  const struct homa_pkt *pkt, uint64_t now)
{
	struct homa_msgin *m = &rpc->msgin;
	uint32_t len = pkt->u.data.message_length;

	msgin_heard(e, rpc);
	msgin_init(rpc, len, len, now);
	m->bytes_remaining = 0;
	m->recv_end = len;
	m->delivered = true;
	msgin_maybe_send_cutoffs(e, rpc, pkt, now);
	e->metrics.server_requests_started++;
	e->metrics.server_request_bytes_started += len;
	e->metrics.server_requests_done++;
	e->metrics.server_request_bytes_done += len;
	e->metrics.direct_requests++;
	e->metrics.direct_request_bytes += len;
	rpc_set_state(e, rpc, RPC_IN_SERVICE);
}

/*
 * A DATA packet for rpc (already found or created by the dispatcher).
 * Drops what it must (counted), stores the rest, delivers a complete
 * message, and lets the grant policy react.
 */
void msgin_data(struct homa_engine *e, struct homa_rpc *rpc,
		const struct homa_pkt *pkt, uint64_t now)
{
	struct homa_msgin *m = &rpc->msgin;
	uint32_t start = pkt->u.data.offset;
	uint32_t len = pkt->u.data.payload_len;
	int err;

	msgin_heard(e, rpc);
	if (rpc->state != RPC_INCOMING) {
		/* At-most-once: a server past receiving drops request data. */
		e->metrics.packet_discards++;
		return;
	}
	if (!m->present) {
		msgin_init(rpc, pkt->u.data.message_length,
			   pkt->u.data.incoming, now);
		if (rpc_is_client(rpc)) {
			e->metrics.client_responses_started++;
			e->metrics.client_response_bytes_started += m->length;
		} else {
			e->metrics.server_requests_started++;
			e->metrics.server_request_bytes_started += m->length;
		}
	} else if (pkt->u.data.message_length != m->length) {
		e->metrics.packet_discards++;
		return;
	}
	if (!msgin_get_bufs(e, rpc, now)) {
		e->metrics.dropped_data_no_bufs +=
			len; /* bytes, as the module */
		/* Larger than the pool itself: a client RPC fails, a server
		 * RPC ends (it would hold its slot forever). */
		if (m->too_big)
			rpc_fail(e, rpc, rpc_is_client(rpc) ? ENOMEM : 0, now);
		return;
	}
	if (pkt->u.data.incoming > m->granted)
		m->granted = pkt->u.data.incoming < m->length
				     ? pkt->u.data.incoming
				     : m->length;
	msgin_maybe_send_cutoffs(e, rpc, pkt, now);
	if (len == 0) {
		e->metrics.packet_discards++;
		return;
	}
	err = msgin_add_packet(e, m, start, len);
	if (err < 0) {
		if (err == -ENOSPC)
			e->metrics.gap_limit_drops++;
		else if (err == -ENOMEM)
			e->metrics.gap_alloc_drops++;
		else
			e->metrics.packet_discards++;
		return;
	}
	pool_write(&rpc->sock->pool, m->bpage_offsets, start,
		   pkt->u.data.payload, len);
	m->bytes_remaining -= len;
	if (m->rtt_probe && !pkt->u.data.retransmit &&
	    start >= m->probe_offset) {
		/* Sent only after our GRANT reached the peer. */
		m->rtt_probe = false;
		if (now >= m->probe_at) {
			peer_rtt_sample(rpc->peer, now - m->probe_at, now);
			e->metrics.rtt_samples++;
		}
	}
	grant_update_incoming(e, rpc);
	if (m->bytes_remaining == 0) {
		rpc_deliver(e, rpc, now);
	} else if (m->granted < m->length) {
		grant_add(e, rpc);
	}
	grant_check_soon(e, now);
}

static void msgin_pool_retry(struct homa_engine *e, struct homa_sock *s,
			     uint64_t now)
{
	struct homa_pool *p = &s->pool;
	struct homa_rpc *rpc;

	while ((rpc = TAILQ_FIRST(&p->waiting)) != NULL) {
		struct homa_msgin *m = &rpc->msgin;
		struct homa_share *sh =
			share_get(e, rpc->sock, rpc->peer, true);

		bool fits;

		if (sh == NULL)
			break; /* no memory: the next retry */
		fits = share_fits(e, sh, m->length);
		if (fits && pool_alloc(p, m->length, m->bpage_offsets,
				       &m->num_bpages) < 0) {
			share_put(e, sh);
			break;
		}
		TAILQ_REMOVE(&p->waiting, rpc, msgin.wait_link);
		p->nwaiting--;
		m->waiting = false;
		if (!fits)
			share_cap(e, sh, rpc); /* its peer has its share */
		else
			msgin_start_waiter(e, sh, rpc, now);
	}
	grant_check(e, now);
}

/*
 * sh's held bytes dropped: start its waiters that fit now, oldest first;
 * one that finds the pool full joins the pool's queue, and the rest wait
 * for the next drop.
 */
static void msgin_share_retry(struct homa_engine *e, struct homa_share *sh,
			      uint64_t now)
{
	struct homa_pool *p = &sh->sock->pool;
	struct homa_rpc *rpc;

	while ((rpc = TAILQ_FIRST(&sh->capped)) != NULL &&
	       share_fits(e, sh, rpc->msgin.length)) {
		share_uncap(sh, rpc);
		if (msgin_pool_alloc(p, &rpc->msgin) < 0) {
			msgin_wait(p, rpc);
			break;
		}
		msgin_start_waiter(e, sh, rpc, now);
	}
	share_put(e, sh);
	grant_check(e, now);
}

/*
 * Bpages of messages that ended undelivered were freed (rpc_end): start
 * the waiting messages that fit now.  Called at the end of entry points.
 */
void msgin_retry_pools(struct homa_engine *e, uint64_t now)
{
	struct homa_share *sh;
	struct homa_sock *s;

	if (!e->pool_retry)
		return;
	e->pool_retry = false;
	while ((sh = TAILQ_FIRST(&e->share_retry)) != NULL) {
		TAILQ_REMOVE(&e->share_retry, sh, retry_link);
		sh->retry = false;
		msgin_share_retry(e, sh, now);
	}
	TAILQ_FOREACH(s, &e->socks, link)
	{
		if (!s->pool_retry)
			continue;
		s->pool_retry = false;
		if (s->pool.nwaiting > 0 && !s->shutdown)
			msgin_pool_retry(e, s, now);
	}
}

/*
 * Return bpages of s (engine_recycle): all offsets are checked first.
 * -EINVAL: an offset the application does not hold.
 */
int msgin_recycle(struct homa_engine *e, struct homa_sock *s,
		  const uint32_t *offsets, unsigned n, uint64_t now)
{
	if (pool_check_release(&s->pool, offsets, n) < 0) {
		e->metrics.bad_recycles++;
		return -EINVAL;
	}
	pool_release(&s->pool, offsets, n);
	if (s->pool.nwaiting > 0)
		msgin_pool_retry(e, s, now);
	return 0;
}
