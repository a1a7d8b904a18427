/*
 * peer.c - what the engine knows about each remote host: the cutoffs it
 * gave us, when we last sent it ours, the acks queued for it, its share of
 * our grants and its pacing cap.
 *
 * The table is bounded (max_peers).  A peer is held by every RPC that uses
 * it; when the table is full the idlest peer nobody holds is evicted, and
 * if every peer is held the new one is refused (counted) - so no sender,
 * however hostile, makes it grow without bound.
 */
#include <stdlib.h>
#include <string.h>

#include "homa_int.h"

/* True when a is an IPv4 address (v4-mapped). */
bool addr_is_v4(const struct homa_addr *a)
{
	return IN6_IS_ADDR_V4MAPPED(&a->in6);
}

static unsigned peer_bucket(const struct homa_addr *a)
{
	uint32_t w[4];
	uint32_t h = 2166136261u;

	memcpy(w, &a->in6, sizeof(w));
	for (int i = 0; i < 4; i++)
		h = (h ^ w[i]) * 16777619u;
	h ^= h >> 15;
	return h % PEER_BUCKETS;
}

/* The peer for a, or NULL. */
struct homa_peer *peer_find(const struct homa_engine *e,
			    const struct homa_addr *a)
{
	struct homa_peer *p;

	for (p = e->peer_buckets[peer_bucket(a)]; p != NULL; p = p->hash_next)
		if (memcmp(&p->addr, a, sizeof(*a)) == 0)
			return p;
	return NULL;
}

static void peer_unlink(struct homa_engine *e, struct homa_peer *p)
{
	struct homa_peer **pp = &e->peer_buckets[peer_bucket(&p->addr)];

	while (*pp != p)
		pp = &(*pp)->hash_next;
	*pp = p->hash_next;
	TAILQ_REMOVE(&e->peer_lru, p, lru_link);
	e->npeers--;
}

static bool peer_prefix_match(const struct homa_addr *a,
			      const struct homa_rate_rule *r)
{
	const uint8_t *x = a->in6.s6_addr, *y = r->prefix.in6.s6_addr;
	unsigned bits = r->prefix_len > 128 ? 128 : r->prefix_len;
	unsigned bytes = bits / 8, rem = bits % 8;

	if (memcmp(x, y, bytes) != 0)
		return false;
	if (rem == 0)
		return true;
	uint8_t mask = (uint8_t)(0xFF << (8 - rem));
	return (x[bytes] & mask) == (y[bytes] & mask);
}

/* Apply the first matching rate rule of the params to p (0: none). */
void peer_set_rate(const struct homa_engine *e, struct homa_peer *p)
{
	const struct homa_params *prm = &e->params;
	uint32_t n = prm->n_rate_rules;

	p->rate_mbps = 0;
	if (n > HOMA_MAX_RATE_RULES)
		n = HOMA_MAX_RATE_RULES;
	for (uint32_t i = 0; i < n; i++)
		if (peer_prefix_match(&p->addr, &prm->rate_rules[i])) {
			p->rate_mbps = prm->rate_rules[i].mbps;
			return;
		}
}

/*
 * The peer for a, created if needed (evicting the idlest unheld peer when
 * the table is full).  NULL when the table is full of held peers or memory
 * runs out (counted in peer_table_full).
 */
/* p was just used: the most recently used peer (evicted last). */
struct homa_peer *peer_touch(struct homa_engine *e, struct homa_peer *p,
			     uint64_t now)
{
	p->last_used = now;
	TAILQ_REMOVE(&e->peer_lru, p, lru_link);
	TAILQ_INSERT_TAIL(&e->peer_lru, p, lru_link);
	return p;
}

struct homa_peer *peer_get(struct homa_engine *e, const struct homa_addr *a,
			   uint64_t now)
{
	struct homa_peer *p = peer_find(e, a);
	unsigned b;

	if (p != NULL)
		return peer_touch(e, p, now);
	if (e->npeers >= e->params.max_peers) {
		struct homa_peer *victim;

		TAILQ_FOREACH(victim, &e->peer_lru, lru_link)
		if (victim->refs == 0)
			break;
		if (victim == NULL) {
			e->metrics.peer_table_full++;
			return NULL;
		}
		peer_unlink(e, victim);
		peer_publish(e, victim, true);
		mem_free(&e->alloc, victim);
		e->metrics.peer_evictions++;
	}
	p = mem_calloc(&e->alloc, 1, sizeof(*p));
	if (p == NULL) {
		e->metrics.peer_table_full++;
		return NULL;
	}
	p->addr = *a;
	p->ipv6 = !addr_is_v4(a);
	p->last_used = now;
	p->heard_tick = e->ticks;
	/* The module's initial table: everything unscheduled at level 6. */
	p->unsched_cutoffs[HOMA_NUM_PRIORITIES - 1] = 0;
	p->unsched_cutoffs[HOMA_NUM_PRIORITIES - 2] = 0x7FFFFFFF;
	peer_set_rate(e, p);
	b = peer_bucket(a);
	p->hash_next = e->peer_buckets[b];
	e->peer_buckets[b] = p;
	TAILQ_INSERT_TAIL(&e->peer_lru, p, lru_link);
	e->npeers++;
	e->metrics.peer_new_entries++;
	return p;
}

/* An RPC starts using p. */
void peer_hold(struct homa_engine *e, struct homa_peer *p, uint64_t now)
{
	(void)e;
	p->refs++;
	p->last_used = now;
}

/* An RPC (being reaped) stops using p; p stays in the table. */
void peer_put(struct homa_engine *e, struct homa_peer *p)
{
	(void)e;
	if (p->refs > 0)
		p->refs--;
}

/* Free every peer (engine_destroy). */
void peer_free_all(struct homa_engine *e)
{
	struct homa_peer *p;

	while ((p = TAILQ_FIRST(&e->peer_lru)) != NULL) {
		peer_unlink(e, p);
		mem_free(&e->alloc, p);
	}
}

/*
 * Priority of the unscheduled packets of a message of length bytes to p:
 * the highest level whose cutoff admits it.
 */
uint8_t peer_unsched_prio(const struct homa_engine *e,
			  const struct homa_peer *p, uint32_t length)
{
	for (int i = HOMA_NUM_PRIORITIES - 1; i >= 0; i--)
		if (p->unsched_cutoffs[i] >= length)
			return engine_clamp_prio(e, (unsigned)i);
	return 0;
}

/* Tell the caller what DATA to p carries now (ops.peer_changed). */
void peer_publish(const struct homa_engine *e, const struct homa_peer *p,
		  bool gone)
{
	struct homa_peer_pub pub;

	if (e->ops.peer_changed == NULL)
		return;
	memset(&pub, 0, sizeof(pub));
	pub.addr = p->addr;
	memcpy(pub.cutoffs, p->unsched_cutoffs, sizeof(pub.cutoffs));
	pub.cutoff_version = p->cutoff_version;
	pub.homad = p->homad;
	pub.gone = gone;
	e->ops.peer_changed(e->ops_ctx, &pub);
}

/* The peer sent us CUTOFFS: use them (entry 0 admits everything). */
void peer_set_cutoffs(struct homa_peer *p, const struct homa_pkt *pkt)
{
	memcpy(p->unsched_cutoffs, pkt->u.cutoffs.unsched_cutoffs,
	       sizeof(p->unsched_cutoffs));
	p->unsched_cutoffs[0] = 0x7FFFFFFF;
	p->cutoff_version = pkt->u.cutoffs.cutoff_version;
}

/* Take one queued ack for a DATA packet to p; false when none. */
bool peer_pop_ack(struct homa_peer *p, struct homa_ack *ack)
{
	if (p->num_acks == 0)
		return false;
	*ack = p->acks[--p->num_acks];
	return true;
}

/*
 * The ack of client RPC id (to server_port) went out another way (in a
 * DATA packet the application sent itself): drop it from the queue.
 * False when it is not there (sent already, or never queued).
 */
bool peer_drop_ack(struct homa_peer *p, uint64_t id, uint16_t server_port)
{
	for (uint32_t i = 0; i < p->num_acks; i++) {
		if (p->acks[i].client_id != id ||
		    p->acks[i].server_port != server_port)
			continue;
		p->acks[i] = p->acks[--p->num_acks];
		return true;
	}
	return false;
}

/* Take all queued acks (at most HOMA_MAX_ACKS) into acks; returns count. */
uint32_t peer_take_acks(struct homa_peer *p, struct homa_ack *acks)
{
	uint32_t n = p->num_acks;

	memcpy(acks, p->acks, n * sizeof(*acks));
	p->num_acks = 0;
	return n;
}

/*
 * The application received the response of client RPC id (from
 * client_port to server_port on p): queue its ack.  When the queue is full
 * the five queued acks and this one go out at once in an ACK packet.
 */
void peer_add_ack(struct homa_engine *e, struct homa_peer *p,
		  uint16_t client_port, uint16_t server_port, uint64_t id,
		  uint64_t now)
{
	struct homa_pkt pkt;

	if (p->num_acks < HOMA_MAX_ACKS) {
		p->acks[p->num_acks].client_id = id;
		p->acks[p->num_acks].server_port = server_port;
		p->num_acks++;
		return;
	}
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = HOMA_ACK;
	pkt.sport = client_port;
	pkt.dport = server_port;
	pkt.sender_id = id;
	pkt.u.ack.num_acks = (uint16_t)peer_take_acks(p, pkt.u.ack.acks);
	engine_xmit_control(e, p, &pkt, now);
}

/* DATA payload bytes per packet to p. */
uint32_t peer_max_payload(const struct homa_engine *e,
			  const struct homa_peer *p)
{
	uint32_t ip = p->ipv6 ? 40 : 20;
	uint32_t mtu = e->params.mtu;

	if (mtu < 576)
		mtu = 576;
	return mtu - ip - HOMA_DATA_LEN;
}

/*
 * A round-trip sample to p (ns), taken at now.  The estimate is the
 * smallest sample of the current and the previous PEER_RTT_WINDOW_NS:
 * queueing only ever inflates a sample, so the minimum tracks the path,
 * and the windows let it rise again when the path changes.
 */
void peer_rtt_sample(struct homa_peer *p, uint64_t sample, uint64_t now)
{
	if (sample == 0)
		sample = 1;
	p->rtt_samples++;
	if (!p->rtt_valid || now - p->rtt_win_start >= PEER_RTT_WINDOW_NS) {
		/* The previous window counts only if it just ended. */
		p->rtt_prev_min = p->rtt_valid && now - p->rtt_win_start <
							  2 * PEER_RTT_WINDOW_NS
					  ? p->rtt_cur_min
					  : 0;
		p->rtt_cur_min = sample;
		p->rtt_win_start = now;
		p->rtt_valid = true;
	} else if (sample < p->rtt_cur_min) {
		p->rtt_cur_min = sample;
	}
	p->rtt_ns = p->rtt_cur_min;
	if (p->rtt_prev_min != 0 && p->rtt_prev_min < p->rtt_ns)
		p->rtt_ns = p->rtt_prev_min;
}

/* Count bytes at now in rate filter r (struct homa_rate). */
static void peer_rate_sample(struct homa_rate *r, uint64_t bytes, uint64_t now)
{
	uint64_t span, mbps;

	if (r->win_start == 0 || now < r->win_start ||
	    now - r->win_start >= 2 * PEER_RX_WINDOW_NS) {
		r->win_start = now ? now : 1;
		r->win_bytes = bytes;
		return;
	}
	r->win_bytes += bytes;
	span = now - r->win_start;
	if (span < PEER_RX_WINDOW_NS)
		return;
	/* bytes x 8 / us = Mbit/s */
	mbps = r->win_bytes * 8000 / span;
	if (mbps == 0)
		mbps = 1;
	if (mbps > UINT32_MAX)
		mbps = UINT32_MAX;
	r->win_start = now;
	r->win_bytes = 0;
	/* Max filter over this epoch and the last (like the RTT's min). */
	if (r->epoch_start == 0 || now - r->epoch_start >= PEER_RX_EPOCH_NS) {
		r->prev_max =
			r->epoch_start != 0 && now - r->epoch_start <
						       2 * PEER_RX_EPOCH_NS
				? r->cur_max
				: 0;
		r->cur_max = 0;
		r->epoch_start = now;
	}
	if (mbps > r->cur_max)
		r->cur_max = (uint32_t)mbps;
	r->max_mbps = r->cur_max > r->prev_max ? r->cur_max : r->prev_max;
}

/* r's max filter as of now: 0 once its last two epochs are over. */
static uint32_t peer_rate_now(const struct homa_rate *r, uint64_t now)
{
	if (r->epoch_start == 0 || now < r->epoch_start ||
	    now - r->epoch_start >= 2 * PEER_RX_EPOCH_NS)
		return 0;
	return r->max_mbps;
}

/*
 * DATA payload from p arrived: count it (rx_total, data_tick) and in its
 * arrival rate (rx_rate): how fast this peer has shown it can deliver to
 * us (its link, its pacing, the path, our own reading).
 */
void peer_rx_sample(struct homa_engine *e, struct homa_peer *p, uint32_t bytes,
		    uint64_t now)
{
	p->rx_total += bytes;
	p->data_tick = e->ticks;
	peer_rate_sample(&p->rx_rate, bytes, now);
}

/*
 * A homad rule (grant pacing): a GRANT from p gave a message of ours that
 * was waiting for it bytes more.  While our messages wait for its grants,
 * the grants come as fast as p takes our data (its link, its reading, its
 * grant cap for us); p->pace_mbps becomes grant_pace_factor times the
 * fastest such rate of the last 100-200 ms (never above link_mbps), the
 * rate of p's virtual link in the pacer (with its rate rule's, whichever
 * is lower), so that our unscheduled bursts and retransmissions to a slow
 * receiver do not pile up in front of it.  Without fresh samples it is 0
 * (no grant pacing); peer_tx_mbps applies it only after a loss.
 */
void peer_grant_sample(struct homa_engine *e, struct homa_peer *p,
		       uint32_t bytes, uint64_t now)
{
	uint64_t mbps;

	peer_rate_sample(&p->grant_rate, bytes, now);
	mbps = (uint64_t)peer_rate_now(&p->grant_rate, now) *
	       e->params.grant_pace_factor;
	if (mbps >= e->params.link_mbps)
		mbps = 0; /* no slower than our own link: no cap */
	if (mbps != p->pace_mbps) {
		p->pace_mbps = (uint32_t)mbps;
		e->metrics.grant_pace_changes++;
	}
}

/*
 * The rate of p's virtual link in the pacer now: its rate rule's, or grant
 * pacing's while its samples are fresh and p lost data of ours in the last
 * PEER_LOSS_PACE_NS, whichever is lower; 0: no cap.  A receiver that takes
 * our data as fast as its grants say, losing none, is not slow but busy
 * (granting others first, as SRPT wants): pacing our unscheduled bytes to
 * it would only delay them (compare load: short P99 +40% ungated).
 */
uint32_t peer_tx_mbps(struct homa_peer *p, uint64_t now)
{
	uint32_t pace = p->pace_mbps;

	if (pace != 0 && peer_rate_now(&p->grant_rate, now) == 0)
		pace = p->pace_mbps = 0; /* stale: its grants stopped */
	if (p->loss_at == 0 || now - p->loss_at >= PEER_LOSS_PACE_NS)
		pace = 0; /* no loss lately: it keeps up */
	if (p->rate_mbps != 0 && (pace == 0 || p->rate_mbps < pace))
		return p->rate_mbps;
	return pace;
}

/*
 * A homad rule: bytes we may have granted (or left unscheduled) to p and
 * not yet received, at most: what p has shown it can deliver (its fastest
 * arrival window of the last 100-200 ms) over peer_window_usecs or four of
 * its round trips, whichever is longer; at least two full packets.  0: no
 * cap (nothing measured yet, or peer_window_usecs 0).  A fast peer's cap
 * lies far above max_incoming; a slow or paced one's keeps it from holding
 * window that the fast ones could use, and from queueing granted bytes in
 * its own NIC for many milliseconds.
 */
uint64_t peer_grant_cap(const struct homa_engine *e, const struct homa_peer *p)
{
	uint64_t ns = (uint64_t)e->params.peer_window_usecs * 1000;
	uint64_t cap, floor = 2 * (uint64_t)peer_max_payload(e, p);

	if (ns == 0 || p->rx_rate.max_mbps == 0)
		return 0;
	if (4 * p->rtt_ns > ns)
		ns = 4 * p->rtt_ns;
	/* Mbit/s x ns / 8000 = bytes */
	cap = (uint64_t)p->rx_rate.max_mbps * ns / 8000;
	return cap > floor ? cap : floor;
}

/*
 * Unscheduled bytes for a new message to p: unsched_bytes, or with
 * unsched_from_rtt and a measured RTT, min(unsched_bytes, RTT x rate) but
 * at least one full packet (rate: link_mbps, or p's cap if lower).
 */
uint32_t peer_unsched_bytes(const struct homa_engine *e,
			    const struct homa_peer *p)
{
	const struct homa_params *prm = &e->params;
	uint32_t mbps = prm->link_mbps;
	uint32_t seg = peer_max_payload(e, p);
	uint64_t bytes;

	if (!prm->unsched_from_rtt || p->rtt_ns == 0)
		return prm->unsched_bytes;
	if (p->rate_mbps > 0 && p->rate_mbps < mbps)
		mbps = p->rate_mbps;
	/* ns x Mbit/s / 8000 = bytes */
	bytes = p->rtt_ns * (uint64_t)mbps / 8000;
	if (bytes < seg)
		bytes = seg;
	if (bytes > prm->unsched_bytes)
		bytes = prm->unsched_bytes;
	return (uint32_t)bytes;
}

/* True when a DATA packet carries homad's marker (homa_int.h). */
bool pkt_has_homad_marker(const struct homa_pkt *pkt)
{
	return pkt->type == HOMA_DATA &&
	       pkt->u.data.pad[0] == HOMAD_PAD_MAGIC0 &&
	       pkt->u.data.pad[1] == HOMAD_PAD_MAGIC1;
}

/*
 * A homad rule (stalled_peer_ticks): is peer silent while its host is up?
 * Its kernel answered one of our probes after the peer's last packet, and
 * recently (within timeout_ticks: a host that stops answering is down).
 */
bool peer_host_up(const struct homa_engine *e, const struct homa_peer *peer)
{
	const struct homa_params *p = &e->params;

	return p->stalled_peer_ticks != 0 && e->ops.probe != NULL &&
	       peer->host_tick > peer->heard_tick &&
	       e->ticks - peer->host_tick < p->timeout_ticks;
}
