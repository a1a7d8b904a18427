/*
 * msgout.c - outgoing messages (spec/protocol.md, "Sending a message").
 *
 * Packet boundaries are a pure function of the message: packets of `seg`
 * payload bytes from offset 0, a short packet ending exactly at the
 * unscheduled limit, then packets of `seg` bytes from there.  They never
 * change, so a retransmission resends the very packets the receiver lacks.
 * The bytes stay in the caller's buffer: a DATA packet is our header plus
 * a pointer into it.
 */
#include <string.h>

#include "homa_int.h"

/*
 * Unscheduled bytes of a new message of length bytes for rpc: the
 * configured amount, cut to the peer's RTT (unsched_from_rtt), cut further
 * for the response of an incast request; never past the length, and at
 * least one byte.  Fixed for the message's life (its packet boundaries
 * depend on it); the receiver learns it from DATA.incoming.
 */
static uint32_t msgout_unscheduled(struct homa_engine *e,
				   const struct homa_rpc *rpc, uint32_t length)
{
	const struct homa_params *p = &e->params;
	uint32_t seg = peer_max_payload(e, rpc->peer);
	uint32_t u = peer_unsched_bytes(e, rpc->peer);

	if (u < p->unsched_bytes && u < length)
		e->metrics.rtt_unsched_cuts++;
	if (!rpc_is_client(rpc) && rpc->incast && p->incast_unsched_bytes < u) {
		u = p->incast_unsched_bytes;
		if (u < length)
			e->metrics.incast_responses++;
	}
	if (u > length)
		u = length;
	/* Without one unscheduled packet the receiver never hears of it. */
	if (u == 0)
		u = seg < length ? seg : length;
	return u;
}

/* Set up rpc's outgoing message (the engine now holds msg). */
void msgout_init(struct homa_engine *e, struct homa_rpc *rpc,
		 const struct homa_msgbuf *msg, uint64_t now)
{
	struct homa_msgout *m = &rpc->msgout;

	m->present = true;
	m->length = msg->length;
	m->data = msg->data;
	m->cookie = msg->cookie;
	m->seg = peer_max_payload(e, rpc->peer);
	m->unscheduled = msgout_unscheduled(e, rpc, msg->length);
	m->next_xmit = 0;
	m->granted = m->unscheduled;
	m->sched_prio = 0;
	m->birth = now;
	m->heap_index = -1;
	m->rtt_probe = false;
	m->homad_flags = 0;
	rpc->sock->wmem += msg->length;
	/* Incast (SIGCOMM 2018, 3.6): many responses may converge on us. */
	if (rpc_is_client(rpc) && e->params.incast_threshold > 0 &&
	    e->nclient > e->params.incast_threshold && rpc->peer->homad) {
		m->homad_flags |= HOMAD_FLAG_INCAST;
		e->metrics.incast_requests++;
	}
	if (rpc_is_client(rpc)) {
		e->metrics.client_requests_started++;
		e->metrics.client_request_bytes_started += msg->length;
	} else {
		e->metrics.server_responses_started++;
		e->metrics.server_response_bytes_started += msg->length;
	}
}

/* rpc's whole message has been sent once: count it. */
static void msgout_count_done(struct homa_engine *e, const struct homa_rpc *rpc)
{
	if (rpc_is_client(rpc)) {
		e->metrics.client_requests_done++;
		e->metrics.client_request_bytes_done += rpc->msgout.length;
	} else {
		e->metrics.server_responses_done++;
		e->metrics.server_response_bytes_done += rpc->msgout.length;
	}
}

/*
 * Direct send: rpc's message msg (one packet, the caller checked) left
 * from the application at now, all of it unscheduled, with homad_flags:
 * set it up as if msgout_xmit_one had sent it.
 */
void msgout_adopt(struct homa_engine *e, struct homa_rpc *rpc,
		  const struct homa_msgbuf *msg, uint8_t homad_flags,
		  uint64_t now)
{
	struct homa_msgout *m = &rpc->msgout;
	uint32_t ip = rpc->peer->ipv6 ? 40 : 20;

	msgout_init(e, rpc, msg, now);
	if (m->homad_flags & HOMAD_FLAG_INCAST)
		e->metrics.incast_requests--; /* counted below, as sent */
	/* What the packet carried (retransmissions carry the same). */
	m->homad_flags =
		rpc->peer->homad ? (homad_flags & HOMAD_FLAG_INCAST) : 0;
	if (m->homad_flags & HOMAD_FLAG_INCAST)
		e->metrics.incast_requests++;
	m->unscheduled = m->length;
	m->granted = m->length;
	m->started = true;
	m->next_xmit = m->length;
	m->prev_off = m->fresh_off = 0;
	m->fresh_at = m->prev_last_at = m->last_xmit_at = now;
	pacer_account(e, rpc->peer, HOMA_DATA_LEN + m->length + ip, now);
	e->metrics.direct_messages++;
	e->metrics.direct_bytes += m->length;
	msgout_count_done(e, rpc);
}

/* Start of the packet that holds byte offset (offset < length). */
uint32_t msgout_pkt_start(const struct homa_msgout *m, uint32_t offset)
{
	if (offset < m->unscheduled)
		return offset - offset % m->seg;
	return offset - (offset - m->unscheduled) % m->seg;
}

/* Payload length of the packet starting at start (a boundary). */
uint32_t msgout_pkt_len(const struct homa_msgout *m, uint32_t start)
{
	uint32_t limit = start < m->unscheduled ? m->unscheduled : m->length;
	uint32_t len = limit - start;

	return len < m->seg ? len : m->seg;
}

/* True when rpc has bytes it may send now (whole packets below granted). */
bool msgout_sendable(const struct homa_rpc *rpc)
{
	const struct homa_msgout *m = &rpc->msgout;

	return m->present && rpc->state == RPC_OUTGOING &&
	       m->next_xmit < m->length && m->next_xmit < m->granted;
}

/* Build and send the DATA packet of rpc starting at start. */
static void msgout_xmit_packet(struct homa_engine *e, struct homa_rpc *rpc,
			       uint32_t start, bool retransmit,
			       uint32_t incoming, uint8_t prio, uint64_t now)
{
	struct homa_msgout *m = &rpc->msgout;
	uint32_t len = msgout_pkt_len(m, start);
	struct homa_pkt pkt;
	size_t hlen;

	rpc_pkt_init(&pkt, rpc, HOMA_DATA);
	pkt.u.data.message_length = m->length;
	pkt.u.data.incoming = incoming;
	/* Acks ride on requests to the server host they are for. */
	if (rpc_is_client(rpc))
		peer_pop_ack(rpc->peer, &pkt.u.data.ack);
	pkt.u.data.cutoff_version = rpc->peer->cutoff_version;
	pkt.u.data.retransmit = retransmit ? 1 : 0;
	pkt.u.data.pad[0] = HOMAD_PAD_MAGIC0;
	pkt.u.data.pad[1] = HOMAD_PAD_MAGIC1;
	pkt.u.data.pad[2] = rpc->peer->homad ? m->homad_flags : 0;
	pkt.u.data.offset = start;
	pkt.u.data.payload_len = 0; /* the payload goes by reference */
	hlen = wire_encode(&pkt, e->hdr, sizeof(e->hdr));
	engine_xmit(e, &rpc->peer->addr, rpc->peer, prio, HOMA_DATA, hlen,
		    m->data + start, len, rpc, now);
}

/*
 * A homad rule: bytes sent to rpc's peer less than this long ago are not
 * sent again for a RESEND (the RESEND was sent before they could arrive,
 * or they are still queued): the peer's measured round trip, at least a
 * tick.  So a receiver that asks too early, or asks again while our
 * retransmission is on its way, cannot make us flood a queue.
 */
static uint64_t msgout_guard(const struct homa_engine *e,
			     const struct homa_rpc *rpc)
{
	uint64_t tick = (uint64_t)e->params.tick_usecs * 1000;

	return rpc->peer->rtt_ns > tick ? rpc->peer->rtt_ns : tick;
}

/* Every byte below the returned offset was sent at least guard ago. */
static uint32_t msgout_old_limit(const struct homa_msgout *m, uint64_t now,
				 uint64_t guard)
{
	if (now - m->last_xmit_at >= guard)
		return m->next_xmit;
	if (now - m->prev_last_at >= guard)
		return m->fresh_off;
	return m->prev_off;
}

/*
 * Send rpc's next new packet (the caller checked msgout_sendable).  Returns
 * its payload length.
 */
uint32_t msgout_xmit_one(struct homa_engine *e, struct homa_rpc *rpc,
			 uint64_t now)
{
	struct homa_msgout *m = &rpc->msgout;
	uint32_t start = m->next_xmit;
	uint32_t len = msgout_pkt_len(m, start);
	uint8_t prio;

	if (start < m->unscheduled)
		prio = peer_unsched_prio(e, rpc->peer, m->length);
	else
		prio = m->sched_prio;
	if (start == 0 && !m->started && m->unscheduled < m->length) {
		/* RTT probe: closed by the first GRANT (msgout_grant).  The
		 * packet leaves once the NIC queue ahead of it drains. */
		m->rtt_probe = true;
		m->rtt_probe_at = e->link_idle > now ? e->link_idle : now;
	}
	if (!m->started) {
		m->prev_off = m->fresh_off = 0;
		m->fresh_at = m->prev_last_at = now;
	} else if (now - m->fresh_at >= msgout_guard(e, rpc)) {
		m->prev_off = m->fresh_off;
		m->prev_last_at = m->last_xmit_at;
		m->fresh_off = start;
		m->fresh_at = now;
	}
	m->last_xmit_at = now;
	m->started = true;
	msgout_xmit_packet(e, rpc, start, false, m->unscheduled, prio, now);
	m->next_xmit += len;
	if (m->next_xmit >= m->length)
		msgout_count_done(e, rpc);
	return len;
}

/* rpc's sendable state changed: tell the pacer. */
void msgout_update(struct homa_engine *e, struct homa_rpc *rpc)
{
	if (msgout_sendable(rpc))
		pacer_add(e, rpc);
	else
		pacer_remove(e, rpc);
}

/*
 * A GRANT for rpc.  A client that is receiving its response, or an RPC
 * not sending, ignores it; otherwise the granted offset only grows.
 */
void msgout_grant(struct homa_engine *e, struct homa_rpc *rpc,
		  const struct homa_pkt *pkt, uint64_t now)
{
	struct homa_msgout *m = &rpc->msgout;
	uint32_t offset = pkt->u.grant.offset;

	rpc_heard(rpc);
	if (rpc->state != RPC_OUTGOING || !m->present)
		return;
	if (m->rtt_probe) {
		m->rtt_probe = false;
		if (now >= m->rtt_probe_at) {
			peer_rtt_sample(rpc->peer, now - m->rtt_probe_at, now);
			e->metrics.rtt_samples++;
		}
	}
	if (offset > m->length)
		offset = m->length;
	if (offset > m->granted) {
		/* Waiting for it (all granted sent, or all but a packet),
		 * or held back by grant pacing itself: the grant shows how
		 * fast the peer takes our data. */
		const struct homa_peer *p = rpc->peer;

		if (e->params.grant_pace_factor > 0 &&
		    (m->next_xmit + peer_max_payload(e, p) >= m->granted ||
		     (p->pace_mbps > 0 && p->tx_idle > now)))
			peer_grant_sample(e, rpc->peer, offset - m->granted,
					  now);
		m->granted = offset;
	}
	m->sched_prio = engine_clamp_prio(e, pkt->u.grant.priority);
	msgout_update(e, rpc);
	pacer_xmit(e, now);
}

/*
 * Resend the packets of [start, end) that were sent before (retransmit = 1,
 * incoming = end, at prio) and treat end as granted.  The caller checked
 * that start lies below next_xmit.  Packets beyond the link's transmit
 * budget are not resent (the receiver asks again), nor packets
 * retransmitted less than msgout_guard ago, nor, unless `all` (an
 * RPC_UNKNOWN: the peer lost everything), packets sent less than
 * msgout_guard ago (each counted in resend_skipped_recent).  So the
 * RPC_UNKNOWNs that answer several RESENDs at once restart the message
 * once, not once each.
 */
void msgout_resend(struct homa_engine *e, struct homa_rpc *rpc, uint32_t start,
		   uint32_t end, uint8_t prio, bool all, uint64_t now)
{
	struct homa_msgout *m = &rpc->msgout;
	uint64_t guard = msgout_guard(e, rpc);
	bool again = m->rexmit_hi != 0 && now - m->rexmit_at < guard;
	uint32_t off, len, limit, lo = UINT32_MAX, hi = 0;

	if (end > m->length)
		end = m->length;
	if (end > m->granted)
		m->granted = end;
	if (all)
		limit = m->next_xmit;
	else
		limit = m->started ? msgout_old_limit(m, now, guard) : 0;
	if (start < m->length) {
		for (off = msgout_pkt_start(m, start);
		     off < end && off < m->next_xmit && e->tx_budget > 0;
		     off += len) {
			len = msgout_pkt_len(m, off);
			if (off + len > limit || (again && off < m->rexmit_hi &&
						  off + len > m->rexmit_lo)) {
				e->metrics.resend_skipped_recent++;
				continue;
			}
			msgout_xmit_packet(e, rpc, off, true, end, prio, now);
			e->metrics.resent_packets++;
			e->metrics.resent_bytes += len;
			if (off < lo)
				lo = off;
			hi = off + len;
		}
	}
	if (hi != 0) {
		m->rexmit_lo = lo;
		m->rexmit_hi = hi;
		m->rexmit_at = now;
		/* The peer lost what it had time to get: grant pacing on. */
		if (!all)
			rpc->peer->loss_at = now ? now : 1;
	}
	msgout_update(e, rpc);
	pacer_xmit(e, now);
}
