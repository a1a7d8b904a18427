/*
 * pacer.c - the sender's scheduler (spec/protocol.md, "Sending a message",
 * [policy] Sender SRPT and Pacing).
 *
 * Every message with bytes it may send sits in one heap ordered by bytes
 * left to send (then age).  pacer_xmit sends from the top while the
 * estimated NIC backlog - the time the link needs to drain what we handed
 * it, from link_mbps - stays within max_nic_est_backlog_usecs; messages
 * shorter than defer_min_bytes go out up to the hard cap
 * max_nic_queue_usecs.  One packet in 1000 / pacer_fifo_fraction goes to
 * the oldest message instead, so a long message is never starved.
 *
 * Per-peer caps (struct homa_rate_rule, and grant pacing: peer_tx_mbps):
 * a capped peer has its own virtual link at its rate; a message to a peer whose
 * virtual link is backlogged is skipped (the next best one goes), so one slow
 * path does not hold up the others.  When the pacer must wait it records when
 * (pacer_wake), which engine_next_deadline reports.
 *
 * The link's free send slots bound it too (tx_budget, set by the caller
 * with engine_set_tx_budget): when they run out the pacer holds (tx_held)
 * without a timer, and the next budget > 0 resumes it.
 */
#include <errno.h>
#include <stdlib.h>

#include "homa_int.h"

/* Upper bound of packets per pacer_xmit call (keeps calls short). */
#define PACER_BATCH 4096

/* Time to put bytes on a link of mbps, in ns. */
uint64_t pacer_ns(uint64_t bytes, uint32_t mbps)
{
	if (mbps == 0)
		return 0;
	return bytes * 8000 / mbps;
}

static uint32_t pacer_left(const struct homa_rpc *rpc)
{
	return rpc->msgout.length - rpc->msgout.next_xmit;
}

static bool pacer_before(const struct homa_rpc *a, const struct homa_rpc *b)
{
	if (pacer_left(a) != pacer_left(b))
		return pacer_left(a) < pacer_left(b);
	if (a->msgout.birth != b->msgout.birth)
		return a->msgout.birth < b->msgout.birth;
	return a->id < b->id;
}

static void pacer_set(struct homa_engine *e, uint32_t i, struct homa_rpc *rpc)
{
	e->heap[i] = rpc;
	rpc->msgout.heap_index = (int32_t)i;
}

static void pacer_up(struct homa_engine *e, uint32_t i)
{
	struct homa_rpc *rpc = e->heap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (!pacer_before(rpc, e->heap[parent]))
			break;
		pacer_set(e, i, e->heap[parent]);
		i = parent;
	}
	pacer_set(e, i, rpc);
}

static void pacer_down(struct homa_engine *e, uint32_t i)
{
	struct homa_rpc *rpc = e->heap[i];

	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, best = i;
		struct homa_rpc *b = rpc;

		if (l < e->nheap && pacer_before(e->heap[l], b)) {
			best = l;
			b = e->heap[l];
		}
		if (r < e->nheap && pacer_before(e->heap[r], b))
			best = r;
		if (best == i)
			break;
		pacer_set(e, i, e->heap[best]);
		i = best;
	}
	pacer_set(e, i, rpc);
}

/*
 * Make room in the heap for n messages (rpc_alloc: one per live RPC, so
 * that pacer_add never needs memory).  0 or -ENOMEM.
 */
int pacer_reserve(struct homa_engine *e, uint32_t n)
{
	uint32_t cap = e->heap_cap ? e->heap_cap : 64;
	struct homa_rpc **h;

	if (n <= e->heap_cap)
		return 0;
	while (cap < n)
		cap *= 2;
	h = mem_realloc(&e->alloc, e->heap, cap, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	e->heap = h;
	e->heap_cap = cap;
	return 0;
}

/*
 * rpc has sendable bytes: into the heap (or re-ranked there).  The heap
 * has room for every live RPC (pacer_reserve); a full one is a bug
 * (ops.bug), and the message would wait for the next pacer_add.
 */
void pacer_add(struct homa_engine *e, struct homa_rpc *rpc)
{
	if (rpc->msgout.heap_index >= 0) {
		pacer_update(e, rpc);
		return;
	}
	if (e->nheap == e->heap_cap) {
		if (e->ops.bug != NULL)
			e->ops.bug(e->ops_ctx, "pacer heap full");
		return;
	}
	e->nheap++;
	pacer_set(e, e->nheap - 1, rpc);
	pacer_up(e, e->nheap - 1);
}

/* rpc leaves the heap (no-op when not there). */
void pacer_remove(struct homa_engine *e, struct homa_rpc *rpc)
{
	int32_t i = rpc->msgout.heap_index;
	struct homa_rpc *last;

	if (i < 0)
		return;
	rpc->msgout.heap_index = -1;
	last = e->heap[--e->nheap];
	if ((uint32_t)i == e->nheap)
		return;
	pacer_set(e, (uint32_t)i, last);
	pacer_up(e, (uint32_t)i);
	pacer_down(e, (uint32_t)last->msgout.heap_index);
}

/* rpc's key changed: restore heap order. */
void pacer_update(struct homa_engine *e, struct homa_rpc *rpc)
{
	int32_t i = rpc->msgout.heap_index;

	if (i < 0)
		return;
	pacer_up(e, (uint32_t)i);
	pacer_down(e, (uint32_t)rpc->msgout.heap_index);
}

/* Count ip_bytes handed to the link against the NIC and peer estimates. */
void pacer_account(struct homa_engine *e, struct homa_peer *peer,
		   size_t ip_bytes, uint64_t now)
{
	if (e->link_idle < now)
		e->link_idle = now;
	uint32_t mbps;

	e->link_idle += pacer_ns(ip_bytes, e->params.link_mbps);
	if (peer == NULL)
		return;
	mbps = peer_tx_mbps(peer, now);
	if (mbps > 0) {
		if (peer->tx_idle < now)
			peer->tx_idle = now;
		peer->tx_idle += pacer_ns(ip_bytes, mbps);
		if (mbps == peer->pace_mbps)
			e->metrics.grant_paced_packets++;
	}
}

static bool pacer_peer_blocked(const struct homa_peer *p, uint64_t now,
			       uint64_t limit)
{
	return (p->rate_mbps > 0 || p->pace_mbps > 0) &&
	       p->tx_idle > now + limit;
}

/*
 * The message to serve next: the top of the heap, or every so often the
 * oldest; skipping messages whose peer's cap is reached.  NULL when all
 * are blocked by caps (then *wake is when the first unblocks).
 */
static struct homa_rpc *pacer_pick(struct homa_engine *e, uint64_t now,
				   uint64_t limit, uint64_t *wake)
{
	struct homa_rpc *best = NULL;
	bool fifo = false;

	if (e->nheap > 1 && e->params.pacer_fifo_fraction > 0) {
		e->pacer_fifo_count -= (int32_t)e->params.pacer_fifo_fraction;
		if (e->pacer_fifo_count <= 0) {
			e->pacer_fifo_count += 1000;
			fifo = true;
		}
	}
	if (!fifo && !pacer_peer_blocked(e->heap[0]->peer, now, limit))
		return e->heap[0];
	*wake = UINT64_MAX;
	for (uint32_t i = 0; i < e->nheap; i++) {
		struct homa_rpc *r = e->heap[i];

		if (pacer_peer_blocked(r->peer, now, limit)) {
			if (r->peer->tx_idle - limit < *wake)
				*wake = r->peer->tx_idle - limit;
			continue;
		}
		if (best == NULL || (fifo ? r->msgout.birth < best->msgout.birth
					  : pacer_before(r, best)))
			best = r;
	}
	return best;
}

/* Send what the pacer may send at now (see the file comment). */
void pacer_xmit(struct homa_engine *e, uint64_t now)
{
	uint64_t limit = (uint64_t)e->params.max_nic_est_backlog_usecs * 1000;
	uint64_t hard = (uint64_t)e->params.max_nic_queue_usecs * 1000;

	e->pacer_wake = 0;
	e->tx_held = false;
	for (unsigned n = 0; n < PACER_BATCH && e->nheap > 0; n++) {
		uint64_t backlog = e->link_idle > now ? e->link_idle - now : 0;
		uint64_t wake = 0;
		struct homa_rpc *rpc;
		bool small;

		if (backlog > hard) {
			e->pacer_wake = e->link_idle - limit;
			break;
		}
		rpc = pacer_pick(e, now, limit, &wake);
		if (rpc == NULL) {
			e->pacer_wake = wake;
			break;
		}
		small = rpc->msgout.length < e->params.defer_min_bytes;
		if (backlog > limit && !small) {
			if (!rpc->msgout.throttled) {
				rpc->msgout.throttled = true;
				e->metrics.throttle_list_adds++;
			}
			e->pacer_wake = e->link_idle - limit;
			break;
		}
		if (e->tx_budget == 0) {
			/* The link is full: hold, resumed by
			 * engine_set_tx_budget; no timer meanwhile. */
			e->tx_held = true;
			e->pacer_wake = 0;
			return;
		}
		if (rpc->msgout.throttled)
			e->metrics.pacer_packets++;
		msgout_xmit_one(e, rpc, now);
		if (msgout_sendable(rpc))
			pacer_update(e, rpc);
		else
			pacer_remove(e, rpc);
	}
	if (e->pacer_wake == 0 && e->nheap > 0)
		e->pacer_wake = now + 1; /* batch limit: go on at once */
}
