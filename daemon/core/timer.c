/*
 * timer.c - the engine's tick (spec/protocol.md, "Timers, RESEND, BUSY,
 * RPC_UNKNOWN" and "Acks and server cleanup").
 *
 * Every tick_usecs each live RPC is checked:
 *   - a server whose response is fully sent asks for an ack: NEED_ACK
 *     after request_ack_ticks ticks, then backing off (a homad rule:
 *     gaps of 1, 2, 4 ... ticks up to timeout_ticks / 4; per peer and
 *     tick at most resend_peer_limit, 1 while the peer is silent), and,
 *     a homad bound, gives up silently after need_ack_timeout x
 *     timeout_ticks;
 *   - an RPC that expects nothing (granted bytes still to send, all
 *     granted bytes received, waiting for bpages, server computing) has
 *     its silence forgiven;
 *   - otherwise its silent ticks grow: RESENDs after resend_ticks, then
 *     backing off (resend_interval, doubling up to timeout_ticks / 4; at
 *     most resend_peer_limit rounds per peer per tick; none before the
 *     bytes we expect could have arrived); after timeout_ticks a client
 *     RPC fails with ETIMEDOUT and a server RPC still receiving its
 *     request ends silently, but only if the peer sent nothing at all in
 *     that time, or, if it did, once live_peer_resends RESEND rounds for
 *     the RPC went unanswered (a
 *     server sending its response, waiting for grants, only ends after
 *     need_ack_timeout x timeout_ticks, a homad bound).
 * Then dead RPCs are reaped (10 x reap_limit, more beyond dead_buffs_limit)
 * and the grant policy tops up grants.
 */
#include <errno.h>
#include <string.h>

#include "homa_int.h"

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

/*
 * A homad rule: no RESEND while what rpc expects may still be on its way.
 *   - Our link: not before it could have brought in every byte we expect
 *     (granted or unscheduled, all peers) at link_mbps.  Negligible at the
 *     module's 25 Gbit/s (400 KB in 128 us), milliseconds on a slow link.
 *   - Its peer: a sender's NIC and the path are FIFO for its packets (per
 *     priority).  When rpc went silent the peer owed us up to `ahead`
 *     bytes (timer_check_rpc); while the peer keeps delivering DATA (some
 *     arrived in this tick or the last) and has delivered fewer bytes than
 *     that since, our bytes may simply be queued behind them: a slow or
 *     paced sender, or one we granted much.  Asking now would make the
 *     sender queue everything again (the module sends the whole range
 *     again), which is how RESEND storms start.
 * True (counted) while the RESEND must wait.
 */
static bool timer_resend_deferred(struct homa_engine *e,
				  const struct homa_rpc *rpc)
{
	const struct homa_peer *peer = rpc->peer;
	uint32_t since = rpc->silent_ticks - e->params.resend_ticks;

	if (since < timer_drain_ticks(e) ||
	    (e->ticks - peer->data_tick <= 1 &&
	     peer->rx_total - rpc->rx_mark < rpc->ahead)) {
		e->metrics.resends_deferred++;
		return true;
	}
	return false;
}

/*
 * The next gap of a back-off (RESEND rounds, NEED_ACKs): first, then twice
 * the last, up to timeout_ticks / 4 (at least resend_interval), so that a
 * live peer still hears from us a few times before we would time out.
 */
static uint32_t timer_next_gap(const struct homa_params *p, uint32_t last,
			       uint32_t first)
{
	uint32_t cap = p->timeout_ticks / 4, gap = last == 0 ? first : 2 * last;

	if (cap < p->resend_interval)
		cap = p->resend_interval;
	return gap < cap ? gap : cap;
}

/*
 * One more from a per-peer budget of limit per tick (0: no limit), kept in
 * *tick (the tick it counts) and *used: false when it is spent.
 */
static bool timer_budget(const struct homa_engine *e, uint64_t *tick,
			 uint32_t *used, uint32_t limit)
{
	if (*tick != e->ticks) {
		*tick = e->ticks;
		*used = 0;
	}
	if (limit != 0 && *used >= limit)
		return false;
	(*used)++;
	return true;
}

/*
 * Ask peer's host whether it is up (ops.probe): rpc is a quarter of the
 * way to its timeout and the peer has been silent as long.  At most one
 * probe per peer every timeout_ticks / 8 ticks: seven before the timeout, so
 * that a lossy network (a probe or its answer lost) does not make a host
 * whose homad is kept from running look dead.
 */
static void timer_probe(struct homa_engine *e, const struct homa_rpc *rpc)
{
	const struct homa_params *p = &e->params;
	struct homa_peer *peer = rpc->peer;
	uint32_t from = p->timeout_ticks / 4, gap = p->timeout_ticks / 8;

	if (p->stalled_peer_ticks == 0 || e->ops.probe == NULL)
		return;
	if (rpc->silent_ticks < from || e->ticks - peer->heard_tick < from)
		return;
	if (gap == 0)
		gap = 1;
	if (peer->probe_tick != 0 && e->ticks - peer->probe_tick < gap)
		return;
	peer->probe_tick = e->ticks;
	peer->probe_seq++;
	e->metrics.probes_sent++;
	e->ops.probe(e->ops_ctx, &peer->addr, peer->probe_seq);
}

/*
 * rpc has been silent for timeout_ticks.  If its peer has been silent as
 * long, give it up (a dead or unreachable host) unless the peer's host
 * answers our probes (peer_host_up: its homad is alive but kept from
 * running, or stopped), then only once the peer and the RPC have been
 * silent stalled_peer_ticks.  If the peer talks, give the RPC up once the peer
 * left live_peer_resends RESEND rounds for it in a row unanswered (it lost
 * the RPC).  A peer that talks is alive, maybe busy: its answers may sit in
 * its queues or ours.  Ticks are homad's own (a stalled homad counts
 * none).  Returns true if the RPC ended.
 */
static bool timer_timeout(struct homa_engine *e, struct homa_rpc *rpc,
			  uint64_t now)
{
	const struct homa_params *p = &e->params;
	uint64_t silence = e->ticks - rpc->peer->heard_tick;
	bool peer_silent = silence >= (uint64_t)p->timeout_ticks;
	bool stalled = peer_silent && peer_host_up(e, rpc->peer);
	bool too_long = p->live_peer_resends != 0 &&
			rpc->unanswered >= p->live_peer_resends;

	if (!rpc_is_client(rpc) && rpc->state != RPC_INCOMING) {
		/*
		 * A server sending its response times out only by the homad
		 * bound of need_ack_timeout (the client may be out of bpages
		 * and granting nothing for a long time, legitimately).
		 */
		if (p->need_ack_timeout > 0 &&
		    rpc->silent_ticks >=
			    (uint64_t)p->need_ack_timeout * p->timeout_ticks) {
			e->metrics.need_ack_timeouts++;
			rpc_end(e, rpc, now);
			return true;
		}
		return false;
	}
	/*
	 * The peer's silence, but no more than the RPC's: a peer idle before
	 * we asked it anything is not a stalled one.
	 */
	if (silence > rpc->silent_ticks)
		silence = rpc->silent_ticks;
	if (stalled && silence < (uint64_t)p->stalled_peer_ticks) {
		e->metrics.timeouts_host_up++;
		return false;
	}
	if (!peer_silent && !too_long) {
		e->metrics.timeouts_peer_alive++;
		return false;
	}
	if (rpc_is_client(rpc)) {
		e->metrics.client_rpc_timeouts++;
		if (stalled)
			e->metrics.client_timeouts_peer_stalled++;
		else if (peer_silent)
			e->metrics.client_timeouts_peer_silent++;
		else
			e->metrics.client_timeouts_rpc_silent++;
		rpc_fail(e, rpc, ETIMEDOUT, now);
		return true;
	}
	e->metrics.server_rpc_timeouts++;
	if (stalled)
		e->metrics.server_timeouts_peer_stalled++;
	else if (peer_silent)
		e->metrics.server_timeouts_peer_silent++;
	else
		e->metrics.server_timeouts_rpc_silent++;
	rpc_end(e, rpc, now);
	return true;
}

/*
 * May rpc send a RESEND round to its peer now?  At most resend_peer_limit
 * rounds per peer per tick: the rest stay due and go in a later tick
 * (e->rpcs is oldest first; an RPC that sent moves its next round away).
 */
static bool timer_peer_allows(struct homa_engine *e, struct homa_peer *peer)
{
	if (timer_budget(e, &peer->resend_tick, &peer->resends_in_tick,
			 e->params.resend_peer_limit))
		return true;
	e->metrics.resends_peer_limited++;
	return false;
}

/*
 * A homad rule (the module asks every tick): NEED_ACKs back off (1, 2, 4
 * ... ticks after the first), and one peer gets at most resend_peer_limit
 * of them per tick, only one while it has been silent since the last
 * tick; the rest stay due.  A client whose homad stalls is otherwise
 * buried when it wakes: 1,000 answered RPCs asking every tick during a
 * 2 s stall were 150,000 packets, and its full socket dropped 114,000
 * packets, the data it lacked among them.
 */
static bool timer_need_ack_due(struct homa_engine *e, struct homa_rpc *rpc)
{
	const struct homa_params *p = &e->params;
	struct homa_peer *peer = rpc->peer;
	uint32_t limit =
		e->ticks - peer->heard_tick > 1 ? 1 : p->resend_peer_limit;

	if (rpc->done_ticks < p->request_ack_ticks ||
	    rpc->done_ticks < rpc->need_ack_next ||
	    !timer_budget(e, &peer->need_ack_tick, &peer->need_acks_in_tick,
			  limit))
		return false;
	rpc->need_ack_gap = timer_next_gap(p, rpc->need_ack_gap, 1);
	rpc->need_ack_next = rpc->done_ticks + rpc->need_ack_gap;
	return true;
}

/*
 * A homad rule: the bytes a peer's RPCs asked it for with RESENDs and have
 * not heard about since stay within what the peer can deliver in its
 * window (peer_grant_cap, from its measured arrival rate; max_incoming
 * before it is measured), so that a peer slow to answer is not asked to
 * queue more and more again.  One RPC may always ask (nothing else
 * outstanding), and an RPC asking again replaces its own last request.
 * True (counted) while rpc's round of asked bytes must wait.
 */
static bool timer_bytes_capped(struct homa_engine *e,
			       const struct homa_rpc *rpc, uint64_t asked)
{
	const struct homa_peer *peer = rpc->peer;
	uint64_t others = peer->resend_bytes - rpc->resend_asked;
	uint64_t cap = peer_grant_cap(e, peer);

	if (cap == 0)
		cap = engine_max_incoming(&e->params);
	if (others == 0 || others + asked <= cap)
		return false;
	e->metrics.resends_bytes_capped++;
	return true;
}

static void timer_check_rpc(struct homa_engine *e, struct homa_rpc *rpc,
			    uint64_t now)
{
	const struct homa_params *p = &e->params;
	struct homa_msgout *out = &rpc->msgout;
	struct homa_msgin *in = &rpc->msgin;
	uint64_t asked;

	if (!rpc_is_client(rpc) && rpc->state == RPC_OUTGOING &&
	    out->next_xmit >= out->length) {
		rpc->done_ticks++;
		if (p->need_ack_timeout > 0 &&
		    rpc->done_ticks >=
			    (uint64_t)p->need_ack_timeout * p->timeout_ticks) {
			e->metrics.need_ack_timeouts++;
			rpc_end(e, rpc, now);
			return;
		}
		if (timer_need_ack_due(e, rpc))
			timer_need_ack(e, rpc, now);
		return;
	}
	switch (rpc->state) {
	case RPC_OUTGOING:
		if (out->next_xmit < out->granted &&
		    out->next_xmit < out->length) {
			/* The ball is in our court (the pacer's). */
			rpc_heard(rpc);
			return;
		}
		break;
	case RPC_INCOMING:
		/* Waiting for bpages, or for our own grants. */
		if (in->waiting || in->capped ||
		    (in->bufs && in->num_gaps == 0 &&
		     in->recv_end >= in->granted)) {
			rpc_heard(rpc);
			return;
		}
		break;
	case RPC_IN_SERVICE:
		rpc_heard(rpc);
		return;
	case RPC_NEW:
	case RPC_DEAD:
		return;
	}
	if (rpc->silent_ticks++ == 0) {
		/*
		 * Silent from now: what its peer owes us may be ahead of it:
		 * the bytes of its messages we know, and for each of our
		 * client RPCs to it (some may have their response's first
		 * packets still queued there) up to unsched_bytes.
		 */
		const struct homa_peer *peer = rpc->peer;
		uint32_t clients = peer->refs - peer->server_rpcs;

		rpc->ahead =
			peer->incoming + (uint64_t)clients * p->unsched_bytes;
		rpc->rx_mark = peer->rx_total;
	}
	if (rpc->silent_ticks >= p->timeout_ticks && timer_timeout(e, rpc, now))
		return;
	timer_probe(e, rpc);
	if (rpc->silent_ticks < p->resend_ticks)
		return;
	/* A sender waiting for grants leaves asking to the receiver. */
	if (rpc->state == RPC_OUTGOING && !rpc_is_client(rpc))
		return;
	if (timer_resend_deferred(e, rpc))
		return;
	/*
	 * A homad rule: the rounds of one silence back off from
	 * resend_interval (timer_next_gap); BUSY keeps the gap (rpc_busy),
	 * progress resets it (rpc_heard).
	 */
	if (rpc->next_resend != 0 && rpc->silent_ticks < rpc->next_resend)
		return;
	asked = msgin_retrans_bytes(rpc);
	if (timer_bytes_capped(e, rpc, asked) ||
	    !timer_peer_allows(e, rpc->peer))
		return;
	rpc->resend_gap =
		timer_next_gap(p, rpc->resend_gap, p->resend_interval);
	rpc->next_resend = rpc->silent_ticks + rpc->resend_gap;
	/*
	 * The last round is unanswered only if the peer talked since it went
	 * out (it could have answered): rounds to a silent peer (stalled, or
	 * its answers lost) do not count towards live_peer_resends.
	 */
	if ((rpc->round_tick == 0 ||
	     rpc->peer->heard_tick >= rpc->round_tick) &&
	    rpc->unanswered < UINT32_MAX)
		rpc->unanswered++;
	rpc->round_tick = e->ticks;
	msgin_request_retrans(e, rpc, now);
	rpc->peer->resend_bytes += asked - rpc->resend_asked;
	rpc->resend_asked = (uint32_t)asked;
	e->metrics.resend_bytes_asked += asked;
	/* Least recently asked first: the RPCs that resend_peer_limit put
	 * off come before this one in the next tick. */
	TAILQ_REMOVE(&e->rpcs, rpc, link);
	TAILQ_INSERT_TAIL(&e->rpcs, rpc, link);
}

/* One tick: check every RPC, reap, top up grants, re-arm. */
void timer_tick(struct homa_engine *e, uint64_t now)
{
	struct homa_rpc *rpc, *next, *last;
	unsigned reap;

	e->ticks++;
	/* Each RPC once: those that send a RESEND move to the tail. */
	last = TAILQ_LAST(&e->rpcs, homa_rpc_list);
	for (rpc = TAILQ_FIRST(&e->rpcs); rpc != NULL; rpc = next) {
		bool end = rpc == last;

		next = TAILQ_NEXT(rpc, link);
		timer_check_rpc(e, rpc, now);
		if (end)
			break;
	}
	/* Packets and commands reap reap_limit each; an idle engine catches
	 * up here. */
	reap = 10 * (e->params.reap_limit ? e->params.reap_limit : 1);
	if (e->ndead > e->params.dead_buffs_limit)
		reap += e->ndead - e->params.dead_buffs_limit;
	rpc_reap(e, reap);
	grant_check(e, now);
	if (e->nrpcs > 0 || e->ndead > 0) {
		/*
		 * Ticks keep their period: a tick that ran late does not push
		 * the next one back (1,000 ticks 0.3 ms late each were 1.3 s).
		 * One that missed a whole period (homad did not run) starts
		 * the period over: the ticks it missed are not counted, its
		 * own stall is not its peers' silence.
		 */
		uint64_t period = (uint64_t)e->params.tick_usecs * 1000;
		uint64_t at = e->next_tick + period;

		if (e->next_tick == 0 || at <= now)
			at = now + period;
		e->next_tick = at;
	} else {
		e->next_tick = 0;
	}
}
