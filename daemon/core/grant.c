/*
 * grant.c - the receiver's grant policy (spec/protocol.md, "Receiving a
 * message: grants"), the module's algorithm:
 *   - at most max_overcommit messages are active (being granted), ranked
 *     SRPT (fewest bytes still to receive first; ties: oldest first);
 *   - slots spread across senders: a freed slot goes to the best waiting
 *     message of the peer with the fewest active messages; a better new
 *     message takes the slot of the worst message of the peer with the
 *     most;
 *   - each active message is granted up to received + max_incoming /
 *     (active + 1), while the expected incoming bytes of all messages stay
 *     within max_incoming (a grant cut short is topped up later);
 *   - priority by rank: max_sched_prio - rank - max(0, max_sched_prio + 1 -
 *     active), at least 0;
 *   - FIFO grants: every fifo_grant_increment * 8 / (link_mbps *
 *     grant_fifo_fraction / 1000) s, the oldest message not fully granted
 *     gets fifo_grant_increment more bytes at priority 6, ignoring
 *     max_incoming, so long messages never starve.
 */
#include <string.h>

#include "homa_int.h"

/* True when a should be granted before b (SRPT, then age). */
static bool grant_better(const struct homa_rpc *a, const struct homa_rpc *b)
{
	if (a->msgin.bytes_remaining != b->msgin.bytes_remaining)
		return a->msgin.bytes_remaining < b->msgin.bytes_remaining;
	return a->msgin.birth < b->msgin.birth;
}

/* Recompute rpc's share of e->total_incoming. */
void grant_update_incoming(struct homa_engine *e, struct homa_rpc *rpc)
{
	struct homa_msgin *m = &rpc->msgin;
	uint64_t inc = 0;

	if (m->present && m->bufs && !m->delivered &&
	    rpc->state == RPC_INCOMING) {
		uint32_t rcv = msgin_received(m);

		inc = m->granted > rcv ? m->granted - rcv : 0;
	}
	e->total_incoming = e->total_incoming - m->incoming + inc;
	rpc->peer->incoming = rpc->peer->incoming - m->incoming + inc;
	m->incoming = inc;
}

static void grant_list_insert(struct homa_engine *e, struct homa_rpc *rpc)
{
	struct homa_rpc *it;

	TAILQ_FOREACH(it, &e->grantable, msgin.grant_link)
	if (grant_better(rpc, it))
		break;
	if (it != NULL)
		TAILQ_INSERT_BEFORE(it, rpc, msgin.grant_link);
	else
		TAILQ_INSERT_TAIL(&e->grantable, rpc, msgin.grant_link);
	e->ngrantable++;
}

static void grant_list_remove(struct homa_engine *e, struct homa_rpc *rpc)
{
	TAILQ_REMOVE(&e->grantable, rpc, msgin.grant_link);
	e->ngrantable--;
}

static void grant_activate(struct homa_engine *e, struct homa_rpc *rpc)
{
	grant_list_remove(e, rpc);
	e->active[e->nactive++] = rpc;
	rpc->msgin.active = true;
	rpc->peer->active_grants++;
}

static void grant_deactivate(struct homa_engine *e, uint32_t i)
{
	struct homa_rpc *rpc = e->active[i];

	memmove(&e->active[i], &e->active[i + 1],
		(e->nactive - i - 1) * sizeof(e->active[0]));
	e->nactive--;
	rpc->msgin.active = false;
	rpc->peer->active_grants--;
}

/* Take rpc out of the grant sets (it keeps its incoming share). */
static void grant_unlink(struct homa_engine *e, struct homa_rpc *rpc)
{
	if (rpc->msgin.active) {
		for (uint32_t i = 0; i < e->nactive; i++)
			if (e->active[i] == rpc) {
				grant_deactivate(e, i);
				break;
			}
	} else if (rpc->msgin.grantable) {
		grant_list_remove(e, rpc);
	}
	rpc->msgin.grantable = false;
}

/*
 * rpc's message needs grants (it has bpages and is not fully granted): add
 * it to the waiting set, or re-rank it there.
 */
void grant_add(struct homa_engine *e, struct homa_rpc *rpc)
{
	struct homa_msgin *m = &rpc->msgin;

	if (m->grantable) {
		grant_reposition(e, rpc);
		return;
	}
	if (!m->bufs || m->delivered || m->granted >= m->length)
		return;
	m->grantable = true;
	grant_list_insert(e, rpc);
}

/* rpc no longer receives (complete, dead): out of every grant set. */
void grant_remove(struct homa_engine *e, struct homa_rpc *rpc)
{
	grant_unlink(e, rpc);
	e->total_incoming -= rpc->msgin.incoming;
	rpc->peer->incoming -= rpc->msgin.incoming;
	rpc->msgin.incoming = 0;
}

/* rpc received bytes: keep the waiting set in SRPT order. */
void grant_reposition(struct homa_engine *e, struct homa_rpc *rpc)
{
	struct homa_rpc *prev;

	if (!rpc->msgin.grantable || rpc->msgin.active)
		return;
	prev = TAILQ_PREV(rpc, homa_rpc_list, msgin.grant_link);
	if (prev == NULL || !grant_better(rpc, prev))
		return;
	grant_list_remove(e, rpc);
	grant_list_insert(e, rpc);
}

/* FIFO grant period (ns): increment * 8 / (link * fraction). */
uint64_t grant_fifo_interval(const struct homa_params *p)
{
	uint64_t bits_per_us = (uint64_t)p->link_mbps * p->grant_fifo_fraction;

	if (bits_per_us == 0)
		return UINT64_MAX;
	/* bits * 1000 ns / (Mbit/s * fraction / 1000) */
	return (uint64_t)p->fifo_grant_increment * 8 * 1000 * 1000 /
	       bits_per_us;
}

/* Grant priority of the message at rank among nactive active ones. */
uint8_t grant_prio(const struct homa_params *p, uint32_t rank, uint32_t nactive)
{
	int64_t spare = (int64_t)p->max_sched_prio + 1 - nactive;
	int64_t prio =
		(int64_t)p->max_sched_prio - rank - (spare > 0 ? spare : 0);

	return prio < 0 ? 0 : (uint8_t)prio;
}

/*
 * Send rpc's GRANT (msgin.granted, raised from `from`).  It also opens an
 * RTT probe when none is open: the first new DATA at or past `from` can
 * only have been sent after the peer got this GRANT.
 */
static void grant_send(struct homa_engine *e, struct homa_rpc *rpc,
		       uint32_t from, uint8_t prio, uint64_t now)
{
	struct homa_pkt pkt;

	if (!rpc->msgin.rtt_probe) {
		rpc->msgin.rtt_probe = true;
		rpc->msgin.probe_offset = from;
		rpc->msgin.probe_at = e->link_idle > now ? e->link_idle : now;
	}

	rpc_pkt_init(&pkt, rpc, HOMA_GRANT);
	pkt.u.grant.offset = rpc->msgin.granted;
	pkt.u.grant.priority = engine_clamp_prio(e, prio);
	rpc->msgin.prio = pkt.u.grant.priority;
	engine_xmit_control(e, rpc->peer, &pkt, now);
}

/* The waiting message to promote: best of the least served peer. */
static struct homa_rpc *grant_promotee(struct homa_engine *e)
{
	struct homa_rpc *it, *best = NULL;

	TAILQ_FOREACH(it, &e->grantable, msgin.grant_link)
	if (best == NULL || it->peer->active_grants < best->peer->active_grants)
		best = it;
	return best;
}

/* Index in e->active of the worst message of the most served peer. */
static uint32_t grant_victim(const struct homa_engine *e)
{
	uint32_t v = 0;

	for (uint32_t i = 1; i < e->nactive; i++) {
		const struct homa_rpc *a = e->active[i], *b = e->active[v];

		if (a->peer->active_grants > b->peer->active_grants ||
		    (a->peer->active_grants == b->peer->active_grants &&
		     grant_better(b, a)))
			v = i;
	}
	return v;
}

static void grant_manage_active(struct homa_engine *e)
{
	uint32_t max = e->params.max_overcommit;
	uint32_t i;

	if (max > HOMA_MAX_OVERCOMMIT)
		max = HOMA_MAX_OVERCOMMIT;
	if (max == 0)
		max = 1;
	/* Fully granted messages leave the active set. */
	for (i = 0; i < e->nactive;) {
		struct homa_rpc *rpc = e->active[i];

		if (rpc->msgin.granted >= rpc->msgin.length) {
			grant_deactivate(e, i);
			rpc->msgin.grantable = false;
		} else {
			i++;
		}
	}
	while (e->nactive > max) {
		struct homa_rpc *rpc = e->active[e->nactive - 1];

		grant_deactivate(e, e->nactive - 1);
		grant_list_insert(e, rpc);
	}
	while (e->nactive < max && e->ngrantable > 0)
		grant_activate(e, grant_promotee(e));
	/* A better waiting message preempts (bounded: no ping-pong). */
	for (uint32_t n = 0; n < max && e->ngrantable > 0; n++) {
		struct homa_rpc *cand = TAILQ_FIRST(&e->grantable);
		uint32_t v = grant_victim(e);
		struct homa_rpc *victim = e->active[v];

		/* SRPT, but a peer takes no slot from a peer that has no
		 * more slots than itself (unless it is its own). */
		if (!grant_better(cand, victim) ||
		    (cand->peer != victim->peer &&
		     victim->peer->active_grants <= cand->peer->active_grants))
			break;
		grant_deactivate(e, v);
		grant_list_insert(e, victim);
		grant_activate(e, cand);
	}
	/* SRPT order (insertion sort: at most max_overcommit entries). */
	for (i = 1; i < e->nactive; i++) {
		struct homa_rpc *r = e->active[i];
		uint32_t j = i;

		while (j > 0 && grant_better(r, e->active[j - 1])) {
			e->active[j] = e->active[j - 1];
			j--;
		}
		e->active[j] = r;
	}
}

/*
 * At most inc, within what peer may still have outstanding (peer_grant_cap);
 * a cut is counted.
 */
static uint64_t grant_peer_room(struct homa_engine *e,
				const struct homa_peer *peer, uint64_t inc)
{
	uint64_t cap = peer_grant_cap(e, peer);
	uint64_t room;

	if (cap == 0)
		return inc;
	room = cap > peer->incoming ? cap - peer->incoming : 0;
	if (inc <= room)
		return inc;
	e->metrics.grants_peer_capped++;
	return room;
}

/*
 * Bytes of e->total_incoming that peers of active messages owe beyond
 * their grant cap: they cannot deliver them soon, so they do not count
 * against max_incoming (a slow peer's unscheduled bytes do not keep fast
 * peers waiting).
 */
static uint64_t grant_slow_excess(const struct homa_engine *e)
{
	uint64_t excess = 0;

	for (uint32_t i = 0; i < e->nactive; i++) {
		const struct homa_peer *peer = e->active[i]->peer;
		uint64_t cap;
		uint32_t j;

		for (j = 0; j < i; j++)
			if (e->active[j]->peer == peer)
				break;
		if (j < i)
			continue; /* counted once per peer */
		cap = peer_grant_cap(e, peer);
		if (cap != 0 && peer->incoming > cap)
			excess += peer->incoming - cap;
	}
	return excess;
}

static void grant_fifo(struct homa_engine *e, uint64_t now)
{
	const struct homa_params *p = &e->params;
	struct homa_rpc *oldest = NULL, *it;
	uint32_t inc;

	if (p->grant_fifo_fraction == 0 || p->fifo_grant_increment == 0)
		return;
	if (e->nactive + e->ngrantable == 0)
		return;
	if (e->next_fifo_grant == 0)
		e->next_fifo_grant = now + grant_fifo_interval(p);
	if (now < e->next_fifo_grant)
		return;
	for (uint32_t i = 0; i < e->nactive; i++)
		if (oldest == NULL ||
		    e->active[i]->msgin.birth < oldest->msgin.birth)
			oldest = e->active[i];
	TAILQ_FOREACH(it, &e->grantable, msgin.grant_link)
	if (oldest == NULL || it->msgin.birth < oldest->msgin.birth)
		oldest = it;
	if (oldest == NULL || oldest->msgin.granted >= oldest->msgin.length)
		return;
	inc = oldest->msgin.length - oldest->msgin.granted;
	if (inc > p->fifo_grant_increment)
		inc = p->fifo_grant_increment;
	inc = grant_peer_room(e, oldest->peer, inc);
	if (inc == 0) {
		/* Its peer holds all it can deliver: try again later. */
		e->next_fifo_grant = now + grant_fifo_interval(p);
		return;
	}
	oldest->msgin.granted += inc;
	grant_update_incoming(e, oldest);
	e->metrics.fifo_grant_bytes += inc;
	e->metrics.grant_bytes += inc;
	grant_send(e, oldest, oldest->msgin.granted - inc, 6, now);
	e->next_fifo_grant = now + grant_fifo_interval(p);
	if (oldest->msgin.granted >= oldest->msgin.length)
		grant_unlink(e, oldest);
}

/*
 * Run the policy: choose the active messages and send every GRANT that is
 * due.  Called when data arrives, when a message ends, on every tick.
 */
void grant_check(struct homa_engine *e, uint64_t now)
{
	const struct homa_params *p = &e->params;
	uint64_t window, excess;

	if (e->nactive + e->ngrantable == 0)
		return;
	grant_manage_active(e);
	excess = grant_slow_excess(e);
	window = p->max_incoming / (e->nactive + 1);
	for (uint32_t rank = 0; rank < e->nactive; rank++) {
		struct homa_rpc *rpc = e->active[rank];
		struct homa_msgin *m = &rpc->msgin;
		uint64_t target = (uint64_t)msgin_received(m) + window;
		uint64_t room, inc;

		if (target > m->length)
			target = m->length;
		if (target <= m->granted)
			continue;
		room = p->max_incoming + excess > e->total_incoming
			       ? p->max_incoming + excess - e->total_incoming
			       : 0;
		inc = target - m->granted;
		if (inc > room)
			inc = room;
		inc = grant_peer_room(e, rpc->peer, inc);
		if (inc == 0)
			continue;
		/* Batch small grants while the sender has enough to send. */
		if (inc < p->grant_threshold && m->granted + inc < m->length &&
		    m->granted >= msgin_received(m) + p->grant_threshold)
			continue;
		m->granted += (uint32_t)inc;
		grant_update_incoming(e, rpc);
		e->metrics.grant_bytes += inc;
		grant_send(e, rpc, m->granted - (uint32_t)inc,
			   grant_prio(p, rank, e->nactive), now);
	}
	grant_fifo(e, now);
}

/*
 * DATA arrived: run the policy now, or at the end of the caller's batch
 * (engine_batch_end) when inside one.
 */
void grant_check_soon(struct homa_engine *e, uint64_t now)
{
	if (e->in_batch)
		e->grants_due = true;
	else
		grant_check(e, now);
}
