/*
 * timer.c - the engine's tick (spec/protocol.md, "Timers, RESEND, BUSY,
 * RPC_UNKNOWN" and "Acks and server cleanup").
 *
 * Every tick_usecs each live RPC is checked:
 *   - a server whose response is fully sent asks for an ack: NEED_ACK
 *     after request_ack_ticks ticks, then every tick (and, a homad bound,
 *     gives up silently after need_ack_timeout x timeout_ticks);
 *   - an RPC that expects nothing (granted bytes still to send, all
 *     granted bytes received, waiting for bpages, server computing) has
 *     its silence forgiven;
 *   - otherwise its silent ticks grow: RESENDs after resend_ticks and then
 *     every resend_interval, abort after timeout_ticks (a client RPC fails
 *     with ETIMEDOUT, a server RPC still receiving its request ends
 *     silently; a server sending its response, waiting for grants, only
 *     ends after need_ack_timeout x timeout_ticks, a homad bound).
 * Then dead RPCs are reaped (10 x reap_limit, more beyond dead_buffs_limit)
 * and the grant policy tops up grants.
 */
#include <errno.h>
#include <string.h>

#include "core/homa_int.h"

/* Make sure a tick is scheduled (an RPC exists). */
void timer_arm(struct homa_engine *e, uint64_t now)
{
	if (e->next_tick == 0)
		e->next_tick = now + (uint64_t)e->params.tick_usecs * 1000;
}

static void timer_need_ack(struct homa_engine *e, struct homa_rpc *rpc,
			   uint64_t now)
{
	struct homa_pkt pkt;

	rpc_pkt_init(&pkt, rpc, HOMA_NEED_ACK);
	engine_xmit_control(e, rpc->peer, &pkt, now);
}

/*
 * Whole ticks our link needs to bring in every byte we expect
 * (total_incoming at link_mbps; rounded down, so that a fast link changes
 * nothing).
 */
static uint32_t timer_drain_ticks(const struct homa_engine *e)
{
	const struct homa_params *p = &e->params;
	uint64_t us, tick = p->tick_usecs ? p->tick_usecs : 1;

	if (p->link_mbps == 0 || e->total_incoming == 0)
		return 0;
	/* bytes * 8 / (Mbit/s) = microseconds */
	us = e->total_incoming * 8 / p->link_mbps;
	return (uint32_t)(us / tick);
}

static void timer_check_rpc(struct homa_engine *e, struct homa_rpc *rpc,
			    uint64_t now)
{
	const struct homa_params *p = &e->params;
	struct homa_msgout *out = &rpc->msgout;
	struct homa_msgin *in = &rpc->msgin;

	if (!rpc_is_client(rpc) && rpc->state == RPC_OUTGOING &&
	    out->next_xmit >= out->length) {
		rpc->done_ticks++;
		if (p->need_ack_timeout > 0 &&
		    rpc->done_ticks >=
			    (uint64_t)p->need_ack_timeout * p->timeout_ticks) {
			e->metrics.need_ack_timeouts++;
			rpc_end(e, rpc);
			return;
		}
		if (rpc->done_ticks >= p->request_ack_ticks)
			timer_need_ack(e, rpc, now);
		return;
	}
	switch (rpc->state) {
	case RPC_OUTGOING:
		if (out->next_xmit < out->granted &&
		    out->next_xmit < out->length) {
			/* The ball is in our court (the pacer's). */
			rpc->silent_ticks = 0;
			return;
		}
		break;
	case RPC_INCOMING:
		/* Waiting for bpages, or for our own grants. */
		if (in->waiting || in->capped ||
		    (in->bufs && in->num_gaps == 0 &&
		     in->recv_end >= in->granted)) {
			rpc->silent_ticks = 0;
			return;
		}
		break;
	case RPC_IN_SERVICE:
		rpc->silent_ticks = 0;
		return;
	case RPC_DEAD:
		return;
	}
	rpc->silent_ticks++;
	if (rpc->silent_ticks >= p->timeout_ticks) {
		if (rpc_is_client(rpc)) {
			e->metrics.client_rpc_timeouts++;
			rpc_fail(e, rpc, ETIMEDOUT);
			return;
		}
		if (rpc->state == RPC_INCOMING) {
			e->metrics.server_rpc_timeouts++;
			rpc_end(e, rpc);
			return;
		}
		/*
		 * A server sending its response times out only by the homad
		 * bound of need_ack_timeout (the client may be out of bpages
		 * and granting nothing for a long time, legitimately).
		 */
		if (p->need_ack_timeout > 0 &&
		    rpc->silent_ticks >=
			    (uint64_t)p->need_ack_timeout * p->timeout_ticks) {
			e->metrics.need_ack_timeouts++;
			rpc_end(e, rpc);
		}
		return;
	}
	if (rpc->silent_ticks < p->resend_ticks)
		return;
	/* A sender waiting for grants leaves asking to the receiver. */
	if (rpc->state == RPC_OUTGOING && !rpc_is_client(rpc))
		return;
	if (rpc->state == RPC_INCOMING) {
		/*
		 * A homad rule: no RESEND before our link could have brought
		 * in everything we expect (granted or unscheduled, all
		 * messages): a low-priority message's packets may just wait
		 * behind those in the bottleneck's queue.  Negligible at the
		 * module's 25 Gbit/s (400 KB drain in 128 us), milliseconds
		 * on a slow link, where early RESENDs duplicate what is
		 * queued and overflow the queue.
		 */
		uint32_t since = rpc->silent_ticks - p->resend_ticks;

		if (since < timer_drain_ticks(e)) {
			e->metrics.resends_deferred++;
			return;
		}
		if (p->resend_interval != 0 &&
		    (since - timer_drain_ticks(e)) % p->resend_interval != 0)
			return;
	} else if (p->resend_interval != 0 &&
		   (rpc->silent_ticks - p->resend_ticks) % p->resend_interval !=
			   0) {
		return;
	}
	msgin_request_retrans(e, rpc, now);
}

/* One tick: check every RPC, reap, top up grants, re-arm. */
void timer_tick(struct homa_engine *e, uint64_t now)
{
	struct homa_rpc *rpc, *next;
	unsigned reap;

	e->ticks++;
	for (rpc = TAILQ_FIRST(&e->rpcs); rpc != NULL; rpc = next) {
		next = TAILQ_NEXT(rpc, link);
		timer_check_rpc(e, rpc, now);
	}
	/* Packets and commands reap reap_limit each; an idle engine catches
	 * up here. */
	reap = 10 * (e->params.reap_limit ? e->params.reap_limit : 1);
	if (e->ndead > e->params.dead_buffs_limit)
		reap += e->ndead - e->params.dead_buffs_limit;
	rpc_reap(e, reap);
	grant_check(e, now);
	if (e->nrpcs > 0 || e->ndead > 0)
		e->next_tick = now + (uint64_t)e->params.tick_usecs * 1000;
	else
		e->next_tick = 0;
}
