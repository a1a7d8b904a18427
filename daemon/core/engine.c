/*
 * engine.c - homad's sans-I/O Homa engine: the entry points of engine.h,
 * packet dispatch and output (see homa_int.h for the files behind it).
 *
 * No syscalls, no clock reads, no globals: time only ever arrives as an
 * argument, and everything leaves through struct homa_engine_ops.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "homa_int.h"

/* Defaults of homad's own extensions (engine.h; chosen on homa-sim). */
#define ENGINE_UNSCHED_FROM_RTT 0
#define ENGINE_INCAST_THRESHOLD 8
#define ENGINE_INCAST_UNSCHED	10000
#define ENGINE_GRANT_THRESHOLD	10000

/* Unscheduled cutoffs by priority level (spec/protocol.md). */
static const uint32_t engine_default_cutoffs[HOMA_NUM_PRIORITIES] = {
	0, 0, 0, 0, 1000000, 15000, 2800, 200,
};

void engine_params_default(struct homa_params *p)
{
	memset(p, 0, sizeof(*p));
	p->link_mbps = 25000;
	p->unsched_bytes = 40000;
	p->max_nic_est_backlog_usecs = 5;
	p->max_nic_queue_usecs = 40;
	p->defer_min_bytes = 1000;
	p->pacer_fifo_fraction = 50;
	p->max_overcommit = 8;
	p->max_incoming = 0; /* derived: engine_max_incoming */
	p->max_sched_prio = 3;
	p->num_priorities = HOMA_NUM_PRIORITIES;
	p->fifo_grant_increment = 50000;
	p->grant_fifo_fraction = 50;
	memcpy(p->unsched_cutoffs, engine_default_cutoffs,
	       sizeof(p->unsched_cutoffs));
	p->cutoff_version = 1;
	p->resend_ticks = 5;
	p->resend_interval = 5;
	p->timeout_ticks = 100;
	p->request_ack_ticks = 2;
	p->reap_limit = 10;
	p->dead_buffs_limit = 5000;
	p->wmem_max = 100000000;
	p->tick_usecs = 1000;
	p->mtu = 1500;
	p->max_rpcs = 100000;
	p->max_rpcs_per_peer = 10000;
	p->peer_pool_percent = 50;
	p->max_peers = 10000;
	p->max_sockets = 4096;
	p->max_gaps = 256;
	p->need_ack_timeout = 10;
	p->live_peer_resends = 10;
	p->stalled_peer_ticks = 1000;
	p->resend_peer_limit = 16;
	p->grant_pace_factor = 0;
	p->peer_window_usecs = 4000;
	p->n_rate_rules = 0;
	p->unsched_from_rtt = ENGINE_UNSCHED_FROM_RTT;
	p->incast_threshold = ENGINE_INCAST_THRESHOLD;
	p->incast_unsched_bytes = ENGINE_INCAST_UNSCHED;
	p->grant_threshold = ENGINE_GRANT_THRESHOLD;
}

uint32_t engine_max_incoming(const struct homa_params *p)
{
	uint64_t v;

	if (p->max_incoming != 0)
		return p->max_incoming;
	/* Mbit/s x us / 8 = bytes. */
	v = (uint64_t)p->link_mbps * ENGINE_INCOMING_USECS / 8;
	if (v < 2 * (uint64_t)p->mtu)
		v = 2 * (uint64_t)p->mtu;
	if (v > ENGINE_MAX_INCOMING)
		v = ENGINE_MAX_INCOMING;
	/* Faster than the module's link: as much link time as it has. */
	if (p->link_mbps > ENGINE_MODULE_LINK_MBPS)
		v = (uint64_t)ENGINE_MAX_INCOMING * p->link_mbps /
		    ENGINE_MODULE_LINK_MBPS;
	return (uint32_t)v;
}

/* Values the engine cannot work with are replaced (config validates). */
static void engine_sanitize(struct homa_params *p)
{
	if (p->tick_usecs == 0)
		p->tick_usecs = 1000;
	if (p->num_priorities == 0 || p->num_priorities > HOMA_NUM_PRIORITIES)
		p->num_priorities = HOMA_NUM_PRIORITIES;
	if (p->max_overcommit == 0)
		p->max_overcommit = 1;
	if (p->max_overcommit > HOMA_MAX_OVERCOMMIT)
		p->max_overcommit = HOMA_MAX_OVERCOMMIT;
	if (p->mtu < 576)
		p->mtu = 576;
	if (p->mtu > 65535)
		p->mtu = 65535;
	if (p->timeout_ticks == 0)
		p->timeout_ticks = 1;
	/* Probing makes sense only past timeout_ticks. */
	if (p->stalled_peer_ticks != 0 &&
	    p->stalled_peer_ticks <= p->timeout_ticks)
		p->stalled_peer_ticks = p->timeout_ticks + 1;
	if (p->max_gaps == 0)
		p->max_gaps = 1;
	if (p->peer_pool_percent == 0)
		p->peer_pool_percent = 50;
	if (p->peer_pool_percent > 100)
		p->peer_pool_percent = 100;
	if (p->n_rate_rules > HOMA_MAX_RATE_RULES)
		p->n_rate_rules = HOMA_MAX_RATE_RULES;
	if (p->unsched_from_rtt > 1)
		p->unsched_from_rtt = 1;
	if (p->incast_unsched_bytes == 0)
		p->incast_unsched_bytes = ENGINE_INCAST_UNSCHED;
	p->max_incoming = engine_max_incoming(p); /* after mtu */
}

static void *libc_calloc(void *ctx, size_t n, size_t size)
{
	return calloc(n, size);
}

static void *libc_realloc(void *ctx, void *ptr, size_t n, size_t size)
{
	return realloc(ptr, n * size);
}

static void libc_free(void *ctx, void *ptr)
{
	free(ptr);
}

const struct homa_allocator homa_libc_allocator = {
	.calloc = libc_calloc,
	.realloc = libc_realloc,
	.free = libc_free,
};

struct homa_engine *engine_create(const struct homa_params *params)
{
	return engine_create_alloc(params, &homa_libc_allocator);
}

struct homa_engine *engine_create_alloc(const struct homa_params *params,
					const struct homa_allocator *alloc)
{
	struct homa_engine *e = mem_calloc(alloc, 1, sizeof(*e));

	if (e == NULL)
		return NULL;
	e->alloc = *alloc;
	alloc = &e->alloc;
	e->rpc_buckets =
		mem_calloc(alloc, RPC_BUCKETS, sizeof(*e->rpc_buckets));
	e->peer_buckets =
		mem_calloc(alloc, PEER_BUCKETS, sizeof(*e->peer_buckets));
	e->share_buckets =
		mem_calloc(alloc, SHARE_BUCKETS, sizeof(*e->share_buckets));
	if (e->rpc_buckets == NULL || e->peer_buckets == NULL ||
	    e->share_buckets == NULL || rpc_ended_init(e) < 0) {
		struct homa_allocator a = e->alloc;

		mem_free(&a, e->rpc_buckets);
		mem_free(&a, e->peer_buckets);
		mem_free(&a, e->share_buckets);
		rpc_ended_free(e);
		mem_free(&a, e);
		return NULL;
	}
	e->params = *params;
	engine_sanitize(&e->params);
	e->tx_budget = ENGINE_TX_UNLIMITED;
	TAILQ_INIT(&e->socks);
	TAILQ_INIT(&e->rpcs);
	TAILQ_INIT(&e->in_service);
	TAILQ_INIT(&e->dead);
	TAILQ_INIT(&e->peer_lru);
	TAILQ_INIT(&e->grantable);
	TAILQ_INIT(&e->share_retry);
	e->next_port = HOMA_MIN_DEFAULT_PORT;
	e->pacer_fifo_count = 1000;
	return e;
}

void engine_destroy(struct homa_engine *e)
{
	struct homa_allocator a;
	struct homa_sock *s;

	if (e == NULL)
		return;
	/* The table of ended RPCs goes too: their time does not matter. */
	while ((s = TAILQ_FIRST(&e->socks)) != NULL)
		sock_free(e, s, 0);
	while (e->ndead > 0)
		rpc_reap(e, e->ndead);
	msgin_free_shares(e); /* none left: RPCs release theirs */
	peer_free_all(e);
	a = e->alloc;
	mem_free(&a, e->heap);
	mem_free(&a, e->rpc_buckets);
	mem_free(&a, e->peer_buckets);
	mem_free(&a, e->share_buckets);
	rpc_ended_free(e);
	mem_free(&a, e);
}

void engine_set_ops(struct homa_engine *e, const struct homa_engine_ops *ops,
		    void *ctx)
{
	e->ops = *ops;
	e->ops_ctx = ctx;
}

void engine_set_params(struct homa_engine *e, const struct homa_params *p)
{
	struct homa_peer *peer;

	e->params = *p;
	engine_sanitize(&e->params);
	TAILQ_FOREACH(peer, &e->peer_lru, lru_link)
	peer_set_rate(e, peer);
	/* A larger peer_pool_percent may let capped messages start. */
	msgin_retry_shares(e);
}

struct homa_metrics *engine_metrics(struct homa_engine *e)
{
	return &e->metrics;
}

/* ---- output ------------------------------------------------------------ */

uint8_t engine_clamp_prio(const struct homa_engine *e, unsigned prio)
{
	unsigned n = e->params.num_priorities;

	return (uint8_t)(prio >= n ? n - 1 : prio);
}

void engine_xmit(struct homa_engine *e, const struct homa_addr *dst,
		 struct homa_peer *peer, uint8_t prio, enum homa_type type,
		 size_t hdr_len, const uint8_t *payload, size_t payload_len,
		 const struct homa_rpc *rpc, uint64_t now)
{
	struct homa_out out;
	size_t ip = addr_is_v4(dst) ? 20 : 40;

	if (hdr_len == 0)
		return; /* cannot happen: our packets always encode */
	prio = engine_clamp_prio(e, prio);
	e->metrics.packets_sent[wire_type_index(type)]++;
	e->metrics.priority_packets[prio]++;
	e->metrics.priority_bytes[prio] += hdr_len + payload_len;
	pacer_account(e, peer, hdr_len + payload_len + ip, now);
	if (e->tx_budget != ENGINE_TX_UNLIMITED && e->tx_budget > 0)
		e->tx_budget--;
	if (e->ops.send == NULL)
		return;
	memset(&out, 0, sizeof(out));
	out.dst = dst;
	out.prio = prio;
	out.type = type;
	out.hdr = e->hdr;
	out.hdr_len = hdr_len;
	out.payload = payload_len > 0 ? payload : NULL;
	out.payload_len = payload_len;
	if (rpc != NULL) {
		out.msg_cookie = rpc->msgout.cookie;
		out.rpc_id = rpc->id;
	}
	e->ops.send(e->ops_ctx, &out);
}

void engine_xmit_control_to(struct homa_engine *e, const struct homa_addr *dst,
			    struct homa_peer *peer, struct homa_pkt *pkt,
			    uint64_t now)
{
	size_t len = wire_encode(pkt, e->hdr, sizeof(e->hdr));

	engine_xmit(e, dst, peer, HOMA_CONTROL_PRIORITY, pkt->type, len, NULL,
		    0, NULL, now);
}

void engine_xmit_control(struct homa_engine *e, struct homa_peer *peer,
			 struct homa_pkt *pkt, uint64_t now)
{
	engine_xmit_control_to(e, &peer->addr, peer, pkt, now);
}

/* Answer pkt (from src) with a bare control packet of type. */
static void engine_reply(struct homa_engine *e, const struct homa_addr *src,
			 struct homa_peer *peer, const struct homa_pkt *in,
			 enum homa_type type, uint64_t now)
{
	struct homa_pkt pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = type;
	pkt.sport = in->dport;
	pkt.dport = in->sport;
	pkt.sender_id = in->sender_id ^ 1;
	engine_xmit_control_to(e, src, peer, &pkt, now);
}

/* ---- input ------------------------------------------------------------- */

/*
 * The RPC a packet from src to socket s is about (local id), or NULL.  A
 * client RPC must be with src, a server RPC is keyed by its peer.
 */
static struct homa_rpc *engine_lookup(struct homa_engine *e,
				      struct homa_sock *s, uint64_t local,
				      struct homa_peer *peer,
				      const struct homa_addr *src)
{
	struct homa_rpc *rpc;

	if ((local & 1) == 0) {
		rpc = rpc_find(e, local, NULL);
		if (rpc != NULL &&
		    memcmp(&rpc->peer->addr, src, sizeof(*src)) != 0)
			rpc = NULL;
	} else {
		rpc = rpc_find(e, local, peer);
	}
	if (rpc != NULL && rpc->sock != s)
		rpc = NULL;
	return rpc;
}

/*
 * The end of an entry point that may have ended RPCs (a packet, an ICMP
 * error, an abort): reap them now rather than at some later call, so that
 * the application hears of their released outgoing bytes together with
 * their events (one client event, one wake-up), then start the messages
 * waiting for bpages.
 */
static void engine_done(struct homa_engine *e, uint64_t now)
{
	if (e->ndead > 0)
		rpc_reap(e, e->params.reap_limit);
	msgin_retry_pools(e, now);
}

/*
 * DATA from peer: it is a homad peer exactly when the packet carries
 * homad's marker (homa_int.h); the latest packet decides.
 */
static void engine_note_marker(struct homa_engine *e, struct homa_peer *peer,
			       const struct homa_pkt *pkt)
{
	bool homad = pkt_has_homad_marker(pkt);

	if (homad && !peer->homad)
		e->metrics.homad_peers_seen++;
	if (homad != peer->homad) {
		peer->homad = homad;
		peer_publish(e, peer, false);
	}
}

static void engine_rx_data(struct homa_engine *e, struct homa_sock *s,
			   const struct homa_pkt *pkt,
			   const struct homa_addr *src, struct homa_peer *peer,
			   uint64_t now)
{
	uint64_t local = pkt->sender_id ^ 1;
	struct homa_rpc *rpc;

	/* engine_rx_one looked it up; a new peer is made here. */
	peer = peer != NULL ? peer_touch(e, peer, now) : peer_get(e, src, now);
	if (peer == NULL)
		return;
	peer_rx_sample(e, peer, pkt->u.data.payload_len, now);
	engine_note_marker(e, peer, pkt);
	rpc = engine_lookup(e, s, local, peer, src);
	if (rpc == NULL) {
		if ((local & 1) == 0) {
			e->metrics.unknown_rpcs++;
			return;
		}
		if (rpc_ended_find(e, src, local, now)) {
			/* At-most-once: a late copy of a request already
			 * delivered (and answered). */
			e->metrics.stale_requests++;
			return;
		}
		if (s->pool.base == NULL) {
			/* A socket without a pool cannot receive. */
			e->metrics.dropped_data_no_bufs +=
				pkt->u.data.payload_len;
			return;
		}
		if (rpc_new_server(e, s, peer, local, pkt->sport, now, &rpc) <
		    0) {
			e->metrics.server_cant_create_rpcs++;
			return;
		}
	}
	/* A homad client in incast asks for a response that waits for
	 * grants (homa_int.h); the flag counts only with the marker. */
	if ((local & 1) != 0 && peer->homad &&
	    (pkt->u.data.pad[2] & HOMAD_FLAG_INCAST) != 0)
		rpc->incast = true;
	if ((pkt->sender_id & 1) == 0 && pkt->u.data.ack.client_id != 0) {
		rpc_acked(e, peer, &pkt->u.data.ack, now);
		if (rpc->state == RPC_DEAD)
			return;
	}
	msgin_data(e, rpc, pkt, now);
}

/*
 * A message the application received itself, as one DATA packet: its
 * header into *pkt (no payload), sampled and its marker noted for peer.
 */
static void engine_direct_heard(struct homa_engine *e, struct homa_peer *peer,
				struct homa_pkt *pkt, uint16_t sport,
				uint16_t dport, uint64_t sender_id,
				const struct engine_direct_rx *d, uint64_t now)
{
	memset(pkt, 0, sizeof(*pkt));
	pkt->type = HOMA_DATA;
	pkt->sport = sport;
	pkt->dport = dport;
	pkt->sender_id = sender_id;
	pkt->u.data.message_length = d->length;
	pkt->u.data.incoming = d->length;
	pkt->u.data.payload_len = d->length;
	pkt->u.data.cutoff_version = d->cutoff_version;
	memcpy(pkt->u.data.pad, d->pad, sizeof(d->pad));
	peer_rx_sample(e, peer, d->length, now);
	engine_note_marker(e, peer, pkt);
}

int engine_direct_response(struct homa_engine *e, struct homa_sock *s,
			   uint64_t id, const struct homa_addr *server,
			   const struct engine_direct_rx *d, uint64_t now,
			   void **cookie)
{
	struct homa_peer *peer;
	struct homa_rpc *rpc;
	struct homa_pkt pkt;

	*cookie = NULL;
	if (id == 0 || (id & 1) != 0 || d->length == 0 ||
	    d->length > engine_packet_payload(e, !addr_is_v4(server)))
		return -EINVAL;
	peer = peer_find(e, server);
	rpc = peer != NULL ? engine_lookup(e, s, id, peer, server) : NULL;
	if (rpc == NULL)
		return -ENOENT;
	/* What engine_rx_one and engine_rx_data do for any DATA. */
	peer->heard_tick = e->ticks;
	peer = peer_touch(e, peer, now);
	engine_direct_heard(e, peer, &pkt, rpc->dport, s->port, id | 1, d, now);
	/* Not reaped here: *cookie stays valid until a later entry point
	 * reaps the RPC and hands it to tx_release. */
	return msgin_direct(e, rpc, &pkt, now, cookie);
}

int engine_direct_request(struct homa_engine *e, struct homa_sock *s,
			  uint64_t id, const struct homa_addr *client,
			  uint16_t cport, const struct engine_direct_rx *d,
			  const struct homa_ack *ack, uint64_t now)
{
	struct homa_peer *peer;
	struct homa_rpc *rpc;
	struct homa_pkt pkt;

	if ((id & 1) == 0 || cport == 0 || d->length == 0 ||
	    d->length > engine_packet_payload(e, !addr_is_v4(client)))
		return -EINVAL;
	if (s->shutdown || !s->server || s->port == 0 ||
	    (s->v4only && !addr_is_v4(client))) {
		e->metrics.direct_requests_stale++;
		return -ENOENT;
	}
	/* What engine_rx_one and engine_rx_data do for any DATA. */
	peer = peer_find(e, client);
	if (peer != NULL)
		peer->heard_tick = e->ticks;
	peer = peer != NULL ? peer_touch(e, peer, now)
			    : peer_get(e, client, now);
	if (peer == NULL)
		return -ENOMEM;
	engine_direct_heard(e, peer, &pkt, cport, s->port, id ^ 1, d, now);
	if (engine_lookup(e, s, id, peer, client) != NULL ||
	    rpc_ended_find(e, client, id, now)) {
		/* A copy of a request homad has, or delivered already. */
		e->metrics.direct_requests_stale++;
		return -EALREADY;
	}
	if (rpc_new_server(e, s, peer, id, cport, now, &rpc) < 0) {
		e->metrics.server_cant_create_rpcs++;
		return -ENOMEM;
	}
	if (peer->homad && (d->pad[2] & HOMAD_FLAG_INCAST) != 0)
		rpc->incast = true;
	if (ack->client_id != 0) {
		rpc_acked(e, peer, ack, now);
		if (rpc->state == RPC_DEAD) {
			engine_done(e, now);
			return 0;
		}
	}
	msgin_direct_request(e, rpc, &pkt, now);
	engine_done(e, now);
	return 0;
}

int engine_direct_packet(struct homa_engine *e, struct homa_sock *s,
			 const void *buf, size_t len,
			 const struct homa_addr *src, bool requests,
			 uint64_t now)
{
	struct homa_peer *peer;
	struct homa_pkt pkt;

	if (wire_decode(buf, len, &pkt) < 0 || pkt.type != HOMA_DATA ||
	    s->shutdown || pkt.dport != s->port)
		return -EINVAL;
	if ((pkt.sender_id & 1) == 0) {
		/* A request the socket's request filter passed: as if read
		 * here (a copy of one homad has is dropped there). */
		if (!requests || pkt.u.data.offset != 0 ||
		    pkt.u.data.message_length != pkt.u.data.payload_len)
			return -EINVAL;
		e->metrics.direct_fallback_packets++;
		engine_rx(e, buf, len, src, 0, now);
		return 0;
	}
	peer = peer_find(e, src);
	if (peer == NULL ||
	    engine_lookup(e, s, pkt.sender_id ^ 1, peer, src) == NULL)
		return -ENOENT;
	e->metrics.direct_fallback_packets++;
	engine_rx(e, buf, len, src, 0, now);
	return 0;
}

static void engine_rx_resend(struct homa_engine *e, struct homa_sock *s,
			     const struct homa_pkt *pkt,
			     const struct homa_addr *src,
			     struct homa_peer *peer, uint64_t now)
{
	struct homa_rpc *rpc =
		engine_lookup(e, s, pkt->sender_id ^ 1, peer, src);
	struct homa_msgout *m;
	uint64_t start, end;

	if (rpc == NULL) {
		e->metrics.unknown_rpcs++;
		engine_reply(e, src, peer, pkt, HOMA_RPC_UNKNOWN, now);
		return;
	}
	m = &rpc->msgout;
	if (rpc->state != RPC_OUTGOING || !m->present) {
		/* No response yet (or the response is arriving). */
		engine_reply(e, src, rpc->peer, pkt, HOMA_BUSY, now);
		return;
	}
	start = pkt->u.resend.offset;
	if (pkt->u.resend.length == HOMA_RESEND_ALL)
		end = m->next_xmit;
	else
		end = start + pkt->u.resend.length;
	if (end > m->length)
		end = m->length;
	if (start >= m->next_xmit || end <= start) {
		/* Nothing sent there yet: an implicit grant, and BUSY. */
		if (end > m->granted) {
			m->granted = (uint32_t)end;
			msgout_update(e, rpc);
			pacer_xmit(e, now);
		}
		engine_reply(e, src, rpc->peer, pkt, HOMA_BUSY, now);
		return;
	}
	msgout_resend(e, rpc, (uint32_t)start, (uint32_t)end,
		      engine_clamp_prio(e, pkt->u.resend.priority), false, now);
}

static void engine_rx_unknown(struct homa_engine *e, struct homa_sock *s,
			      const struct homa_pkt *pkt,
			      const struct homa_addr *src,
			      struct homa_peer *peer, uint64_t now)
{
	struct homa_rpc *rpc =
		engine_lookup(e, s, pkt->sender_id ^ 1, peer, src);

	if (rpc == NULL)
		return;
	if (!rpc_is_client(rpc)) {
		rpc_end(e, rpc, now);
		return;
	}
	if (rpc->state == RPC_OUTGOING && rpc->msgout.next_xmit > 0)
		msgout_resend(
			e, rpc, 0, rpc->msgout.next_xmit,
			peer_unsched_prio(e, rpc->peer, rpc->msgout.length),
			true, now);
}

static void engine_rx_need_ack(struct homa_engine *e, struct homa_sock *s,
			       const struct homa_pkt *pkt,
			       const struct homa_addr *src,
			       struct homa_peer *peer, uint64_t now)
{
	uint64_t local = pkt->sender_id ^ 1;
	struct homa_rpc *rpc;
	struct homa_pkt ack;

	if ((local & 1) != 0)
		return; /* only a server asks a client */
	rpc = engine_lookup(e, s, local, peer, src);
	if (rpc != NULL) {
		msgin_request_retrans(e, rpc, now);
		return;
	}
	memset(&ack, 0, sizeof(ack));
	ack.type = HOMA_ACK;
	ack.sport = pkt->dport;
	ack.dport = pkt->sport;
	ack.sender_id = local;
	if (peer != NULL)
		ack.u.ack.num_acks =
			(uint16_t)peer_take_acks(peer, ack.u.ack.acks);
	engine_xmit_control_to(e, src, peer, &ack, now);
}

static void engine_rx_ack(struct homa_engine *e, const struct homa_pkt *pkt,
			  const struct homa_addr *src, struct homa_peer *peer,
			  uint64_t now)
{
	struct homa_ack a;

	if (peer == NULL)
		return;
	a.client_id = pkt->sender_id;
	a.server_port = pkt->dport;
	rpc_acked(e, peer, &a, now);
	for (unsigned i = 0; i < pkt->u.ack.num_acks; i++)
		rpc_acked(e, peer, &pkt->u.ack.acks[i], now);
}

static void engine_port_unreachable(struct homa_engine *e,
				    const struct homa_addr *src,
				    const void *buf, size_t len)
{
	e->metrics.port_unreachables++;
	if (e->ops.port_unreachable != NULL)
		e->ops.port_unreachable(e->ops_ctx, src, buf, len);
}

static void engine_rx_one(struct homa_engine *e, const void *buf, size_t len,
			  const struct homa_addr *src, uint64_t now)
{
	struct homa_pkt pkt;
	struct homa_sock *s;
	struct homa_peer *peer;
	struct homa_rpc *rpc;
	int err;

	err = wire_decode(buf, len, &pkt);
	if (err < 0) {
		/* wire_decode returns -1 .. -(WIRE_ERR_COUNT - 1). */
		if (-err < WIRE_ERR_COUNT)
			e->metrics.malformed_packets[-err]++;
		return;
	}
	e->metrics.packets_received[wire_type_index(pkt.type)]++;
	e->metrics.bytes_received += len;
	/* Any packet shows the peer alive (timer.c's timeouts); the
	 * handlers below use this lookup (NULL: not known here). */
	peer = peer_find(e, src);
	if (peer != NULL)
		peer->heard_tick = e->ticks;

	s = sock_find(e, pkt.dport);
	if (s == NULL || (s->v4only && !addr_is_v4(src))) {
		/* No socket here for this peer's address family. */
		engine_port_unreachable(e, src, buf, len);
		return;
	}
	if (pkt.type == HOMA_DATA && (pkt.sender_id & 1) == 0 && !s->server) {
		/* A request for a socket not accepting them. */
		engine_port_unreachable(e, src, buf, len);
		return;
	}

	switch (pkt.type) {
	case HOMA_DATA:
		engine_rx_data(e, s, &pkt, src, peer, now);
		break;
	case HOMA_GRANT:
		rpc = engine_lookup(e, s, pkt.sender_id ^ 1, peer, src);
		if (rpc == NULL)
			e->metrics.unknown_rpcs++;
		else
			msgout_grant(e, rpc, &pkt, now);
		break;
	case HOMA_RESEND:
		engine_rx_resend(e, s, &pkt, src, peer, now);
		break;
	case HOMA_RPC_UNKNOWN:
		engine_rx_unknown(e, s, &pkt, src, peer, now);
		break;
	case HOMA_BUSY:
		rpc = engine_lookup(e, s, pkt.sender_id ^ 1, peer, src);
		if (rpc != NULL)
			rpc_busy(rpc);
		break;
	case HOMA_CUTOFFS:
		if (peer != NULL) {
			peer_set_cutoffs(peer, &pkt);
			peer_publish(e, peer, false);
		}
		break;
	case HOMA_FREEZE:
		break; /* a debugging aid of the module: counted only */
	case HOMA_NEED_ACK:
		engine_rx_need_ack(e, s, &pkt, src, peer, now);
		break;
	case HOMA_ACK:
		engine_rx_ack(e, &pkt, src, peer, now);
		break;
	}
}

void engine_rx(struct homa_engine *e, const void *buf, size_t len,
	       const struct homa_addr *src, uint8_t prio, uint64_t now)
{
	(void)prio;
	engine_rx_one(e, buf, len, src, now);
	engine_done(e, now);
}

int engine_icmp_errno(int family, uint8_t type, uint8_t code, bool *port_only)
{
	*port_only = false;
	if (family == AF_INET) {
		if (type != 3)
			return 0;
		if (code == 3) {
			*port_only = true;
			return ENOTCONN;
		}
		return code == 2 ? EPROTONOSUPPORT : EHOSTUNREACH;
	}
	if (family == AF_INET6) {
		if (type == 1 && code == 4) {
			*port_only = true;
			return ENOTCONN;
		}
		if (type == 1 && code == 3)
			return EHOSTUNREACH;
		if (type == 4 && code == 1)
			return EPROTONOSUPPORT;
	}
	return 0;
}

/* Fail (end) the RPCs of list with peer p (and port dport, if not 0). */
static void engine_icmp_fail(struct homa_engine *e, struct homa_rpc_list *list,
			     const struct homa_peer *p, uint16_t dport, int err,
			     uint64_t now)
{
	struct homa_rpc *rpc, *next;

	for (rpc = TAILQ_FIRST(list); rpc != NULL; rpc = next) {
		next = TAILQ_NEXT(rpc, link);
		if (rpc->peer != p || (dport != 0 && rpc->dport != dport))
			continue;
		e->metrics.rpc_icmp_errors++;
		rpc_fail(e, rpc, rpc_is_client(rpc) ? err : 0, now);
	}
}

void engine_icmp_error(struct homa_engine *e, const struct homa_addr *peer,
		       uint16_t dport, int err, uint64_t now)
{
	struct homa_peer *p = peer_find(e, peer);

	if (p == NULL || err <= 0)
		return;
	engine_icmp_fail(e, &e->rpcs, p, dport, err, now);
	engine_icmp_fail(e, &e->in_service, p, dport, err, now);
	engine_done(e, now);
}

void engine_peer_echo(struct homa_engine *e, const struct homa_addr *peer,
		      uint16_t seq, uint64_t now)
{
	struct homa_peer *p = peer_find(e, peer);

	(void)now;
	/* Its last PEER_PROBE_WINDOW probes (uint16_t arithmetic wraps). */
	if (p == NULL || p->probe_tick == 0 ||
	    (uint16_t)(p->probe_seq - seq) >= PEER_PROBE_WINDOW) {
		e->metrics.probe_replies_ignored++;
		return;
	}
	e->metrics.probe_replies++;
	p->host_tick = e->ticks;
}

/* ---- time -------------------------------------------------------------- */

uint64_t engine_next_deadline(const struct homa_engine *e)
{
	uint64_t t = UINT64_MAX;

	if (e->next_tick != 0)
		t = e->next_tick;
	if (e->pacer_wake != 0 && e->pacer_wake < t)
		t = e->pacer_wake;
	return t;
}

uint64_t engine_pacer_deadline(const struct homa_engine *e)
{
	return e->pacer_wake != 0 ? e->pacer_wake : UINT64_MAX;
}

bool engine_tx_held(const struct homa_engine *e)
{
	return e->tx_held;
}

void engine_set_tx_budget(struct homa_engine *e, uint32_t packets, uint64_t now)
{
	e->tx_budget = packets;
	if (packets > 0 && e->tx_held) {
		e->tx_held = false;
		pacer_xmit(e, now);
	}
}

void engine_batch_begin(struct homa_engine *e)
{
	e->in_batch = true;
}

void engine_batch_end(struct homa_engine *e, uint64_t now)
{
	e->in_batch = false;
	if (e->grants_due) {
		e->grants_due = false;
		grant_check(e, now);
	}
}

void engine_tick(struct homa_engine *e, uint64_t now)
{
	if (e->next_tick != 0 && now >= e->next_tick)
		timer_tick(e, now);
	if (e->pacer_wake != 0 && now >= e->pacer_wake)
		pacer_xmit(e, now);
	msgin_retry_pools(e, now);
}

/* ---- application commands ------------------------------------------ */

int engine_sock_open(struct homa_engine *e, void *app, struct homa_sock **out)
{
	return sock_open(e, app, out);
}

uint16_t engine_sock_port(const struct homa_sock *s)
{
	return s->port;
}

int engine_sock_bind(struct homa_engine *e, struct homa_sock *s, uint16_t port)
{
	return sock_bind(e, s, port);
}

void engine_sock_set_v4only(struct homa_sock *s, bool on)
{
	s->v4only = on;
}

int engine_sock_set_server(struct homa_engine *e, struct homa_sock *s, bool on)
{
	(void)e;
	if (s->shutdown)
		return -ESHUTDOWN;
	s->server = on;
	return 0;
}

int engine_sock_set_pool(struct homa_engine *e, struct homa_sock *s, void *base,
			 size_t length)
{
	(void)e;
	if (s->shutdown)
		return -ESHUTDOWN;
	if (s->pool.base != NULL)
		return -EINVAL;
	return pool_init(&s->pool, &e->alloc, base, length);
}

void engine_sock_shutdown(struct homa_engine *e, struct homa_sock *s,
			  uint64_t now)
{
	sock_shutdown(e, s, now);
}

void engine_sock_close(struct homa_engine *e, struct homa_sock *s, uint64_t now)
{
	sock_free(e, s, now);
}

/* Common checks of a send; -errno as engine_send_request says. */
static int engine_check_send(struct homa_engine *e, struct homa_sock *s,
			     const struct homa_msgbuf *msg)
{
	if (s->shutdown)
		return -ESHUTDOWN;
	if (msg == NULL || msg->data == NULL || msg->length == 0 ||
	    msg->length > HOMA_MAX_MESSAGE_LENGTH)
		return -EINVAL;
	if (s->wmem > 0 && s->wmem + msg->length > e->params.wmem_max) {
		s->wmem_blocked = true;
		e->metrics.wmem_full++;
		return -EAGAIN;
	}
	return 0;
}

int engine_send_request(struct homa_engine *e, struct homa_sock *s,
			const struct homa_addr *dst, uint16_t dport,
			const struct homa_msgbuf *msg, uint64_t cookie,
			uint64_t now, uint64_t *id)
{
	struct homa_peer *peer;
	struct homa_rpc *rpc;
	int err = engine_check_send(e, s, msg);

	if (err < 0)
		return err;
	if (dport == 0 || (*id & 1) != 0)
		return -EINVAL;
	if (e->ndead > 0)
		rpc_reap(e, e->params.reap_limit);
	peer = peer_get(e, dst, now);
	if (peer == NULL)
		return -ENOMEM;
	err = rpc_new_client(e, s, peer, *id, dport, now, &rpc);
	if (err < 0)
		return err;
	rpc->cookie = cookie;
	*id = rpc->id;
	msgout_init(e, rpc, msg, now);
	msgout_update(e, rpc);
	pacer_xmit(e, now);
	return 0;
}

void engine_set_id_base(struct homa_engine *e, uint64_t base)
{
	e->next_client_id = base & ~(uint64_t)1;
}

uint64_t engine_reserve_ids(struct homa_engine *e, uint32_t count)
{
	uint64_t base = e->next_client_id + 2;

	e->next_client_id += 2 * (uint64_t)count;
	return base;
}

/*
 * The checks a response to server RPC id of client must pass (sent by
 * homad or adopted): its RPC, waiting for it, in s; max_len bounds msg.
 */
static int engine_response_rpc(struct homa_engine *e, struct homa_sock *s,
			       uint64_t id, const struct homa_addr *client,
			       const struct homa_msgbuf *msg, uint32_t max_len,
			       struct homa_rpc **out)
{
	struct homa_peer *peer;
	struct homa_rpc *rpc;

	if (s->shutdown)
		return -ESHUTDOWN;
	if (msg == NULL || msg->data == NULL || msg->length == 0 ||
	    msg->length > HOMA_MAX_MESSAGE_LENGTH || (id & 1) == 0)
		return -EINVAL;
	if (msg->length > max_len)
		return -EMSGSIZE;
	peer = peer_find(e, client);
	rpc = peer != NULL ? rpc_find(e, id, peer) : NULL;
	if (rpc == NULL || rpc->sock != s)
		return -ENOENT;
	if (rpc->state != RPC_IN_SERVICE)
		return -EINVAL;
	*out = rpc;
	return engine_check_send(e, s, msg);
}

int engine_send_response(struct homa_engine *e, struct homa_sock *s,
			 uint64_t id, const struct homa_addr *client,
			 const struct homa_msgbuf *msg, uint64_t now)
{
	struct homa_rpc *rpc;
	int err = engine_response_rpc(e, s, id, client, msg,
				      HOMA_MAX_MESSAGE_LENGTH, &rpc);

	if (err < 0)
		return err;
	msgout_init(e, rpc, msg, now);
	rpc_set_state(e, rpc, RPC_OUTGOING);
	msgout_update(e, rpc);
	pacer_xmit(e, now);
	return 0;
}

int engine_adopt_request(struct homa_engine *e, struct homa_sock *s,
			 const struct homa_addr *dst, uint16_t dport,
			 const struct homa_msgbuf *msg, uint64_t cookie,
			 uint8_t homad_flags, uint64_t now, uint64_t id,
			 uint64_t ack_id)
{
	struct homa_peer *peer;
	struct homa_rpc *rpc;
	int err = engine_check_send(e, s, msg);

	if (err < 0)
		return err;
	if (dport == 0 || id == 0 || (id & 1) != 0)
		return -EINVAL;
	if (msg->length > engine_packet_payload(e, !addr_is_v4(dst)))
		return -EMSGSIZE;
	if (e->ndead > 0)
		rpc_reap(e, e->params.reap_limit);
	peer = peer_get(e, dst, now);
	if (peer == NULL)
		return -ENOMEM;
	err = rpc_new_client(e, s, peer, id, dport, now, &rpc);
	if (err < 0)
		return err;
	if (ack_id != 0)
		peer_drop_ack(peer, ack_id, dport);
	rpc->cookie = cookie;
	msgout_adopt(e, rpc, msg, homad_flags, now);
	msgout_update(e, rpc);
	return 0;
}

int engine_adopt_response(struct homa_engine *e, struct homa_sock *s,
			  uint64_t id, const struct homa_addr *client,
			  const struct homa_msgbuf *msg, uint8_t homad_flags,
			  uint64_t now)
{
	struct homa_rpc *rpc;
	int err = engine_response_rpc(
		e, s, id, client, msg,
		engine_packet_payload(e, !addr_is_v4(client)), &rpc);

	if (err < 0)
		return err;
	msgout_adopt(e, rpc, msg, homad_flags, now);
	rpc_set_state(e, rpc, RPC_OUTGOING);
	msgout_update(e, rpc);
	return 0;
}

uint32_t engine_packet_payload(const struct homa_engine *e, bool ipv6)
{
	uint32_t mtu = e->params.mtu < 576 ? 576 : e->params.mtu;

	return mtu - (ipv6 ? 40 : 20) - HOMA_DATA_LEN;
}

uint32_t engine_direct_max(const struct homa_engine *e, bool ipv6)
{
	const struct homa_params *p = &e->params;
	uint32_t max = engine_packet_payload(e, ipv6);

	if (p->unsched_bytes < max)
		max = p->unsched_bytes;
	/* A response to a request in incast (any peer's threshold). */
	if (p->incast_unsched_bytes > 0 && p->incast_unsched_bytes < max)
		max = p->incast_unsched_bytes;
	return max;
}

bool engine_incast_on(const struct homa_engine *e)
{
	return e->params.incast_threshold > 0 &&
	       e->nclient > e->params.incast_threshold;
}

bool engine_client_rpc_known(const struct homa_engine *e, uint64_t id)
{
	return (id & 1) == 0 && rpc_find(e, id, NULL) != NULL;
}

bool engine_server_rpc_known(const struct homa_engine *e, uint64_t id,
			     const struct homa_addr *client)
{
	struct homa_peer *peer;

	if ((id & 1) == 0 || (peer = peer_find(e, client)) == NULL)
		return false;
	return rpc_find(e, id, peer) != NULL;
}

bool engine_acks_waiting(const struct homa_engine *e, const void *buf,
			 size_t len, const struct homa_addr *src)
{
	struct homa_ack acks[HOMA_MAX_ACKS];
	unsigned n = wire_peek_acks(buf, len, acks);
	const struct homa_peer *peer;

	/* Most packets carry no ack: no lookup at all for them. */
	if (n == 0 || (peer = peer_find(e, src)) == NULL)
		return false;
	for (unsigned i = 0; i < n; i++) {
		const struct homa_rpc *rpc;

		if (acks[i].client_id == 0 || (acks[i].client_id & 1) != 0)
			continue;
		rpc = rpc_find(e, acks[i].client_id | 1, peer);
		if (rpc != NULL && rpc->state == RPC_IN_SERVICE)
			return true;
	}
	return false;
}

static int engine_abort_rpcs(struct homa_engine *e, struct homa_sock *s,
			     uint64_t id, int err, uint64_t now)
{
	struct homa_rpc *rpc, *next;

	if (err < 0)
		err = -err;
	if (id == 0) {
		for (rpc = TAILQ_FIRST(&s->rpcs); rpc != NULL; rpc = next) {
			next = TAILQ_NEXT(rpc, sock_link);
			if (rpc_is_client(rpc))
				rpc_fail(e, rpc, err, now);
		}
		return 0;
	}
	if ((id & 1) != 0)
		return -EINVAL;
	rpc = rpc_find(e, id, NULL);
	if (rpc == NULL || rpc->sock != s)
		return -EINVAL;
	rpc_fail(e, rpc, err, now);
	return 0;
}

int engine_abort(struct homa_engine *e, struct homa_sock *s, uint64_t id,
		 int err, uint64_t now)
{
	int ret = engine_abort_rpcs(e, s, id, err, now);

	engine_done(e, now);
	return ret;
}

int engine_recycle(struct homa_engine *e, struct homa_sock *s,
		   const uint32_t *offsets, unsigned n, uint64_t now)
{
	if (n == 0)
		return 0;
	return msgin_recycle(e, s, offsets, n, now);
}

/* ---- introspection ----------------------------------------------------- */

void engine_sock_info(const struct homa_sock *s, struct homa_sock_info *info)
{
	memset(info, 0, sizeof(*info));
	info->port = s->port;
	info->server = s->server;
	info->shutdown = s->shutdown;
	info->num_rpcs = s->nrpcs;
	info->pool_avail_bytes =
		s->pool.base != NULL ? pool_avail_bytes(&s->pool) : 0;
	info->wmem = s->wmem;
}

static void engine_rpc_info(const struct homa_rpc *rpc,
			    struct homa_rpc_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->id = rpc->id;
	ri->peer = rpc->peer->addr;
	ri->peer_port = rpc->dport;
	ri->cookie = rpc->cookie;
	ri->tx_length = rpc->msgout.present ? (int32_t)rpc->msgout.length : -1;
	ri->tx_sent = rpc->msgout.next_xmit;
	ri->tx_granted = rpc->msgout.granted;
	ri->tx_prio = rpc->msgout.sched_prio;
	ri->rx_length = rpc->msgin.present ? (int32_t)rpc->msgin.length : -1;
	ri->rx_remaining = rpc->msgin.bytes_remaining;
	ri->rx_gaps = rpc->msgin.num_gaps;
	ri->rx_gap_bytes = msgin_gap_bytes(&rpc->msgin);
	ri->rx_granted = rpc->msgin.granted;
	if (rpc->msgin.waiting || rpc->msgin.capped)
		ri->flags |= HOMA_RPC_BUF_STALL;
	if (rpc->msgin.delivered)
		ri->flags |= HOMA_RPC_RX_READY;
	ri->port = rpc->sock != NULL ? rpc->sock->port : 0;
	ri->state = rpc->state == RPC_INCOMING	   ? HOMA_RPC_STATE_INCOMING
		    : rpc->state == RPC_IN_SERVICE ? HOMA_RPC_STATE_IN_SERVICE
						   : HOMA_RPC_STATE_OUTGOING;
}

unsigned engine_sock_rpcs(const struct homa_sock *s, struct homa_rpc_info *out,
			  unsigned max)
{
	const struct homa_rpc *rpc;
	unsigned n = 0;

	TAILQ_FOREACH(rpc, &s->rpcs, sock_link)
	{
		if (n >= max)
			break;
		engine_rpc_info(rpc, &out[n++]);
	}
	return n;
}

/*
 * A page cursor: the bucket in its high 32 bits, the entries of that
 * bucket already listed in its low 32 bits.
 */
#define ENGINE_CURSOR(b, i) (((uint64_t)(b) << 32) | (uint32_t)(i))

unsigned engine_rpcs_page(const struct homa_engine *e, uint64_t *cursor,
			  uint16_t port, const struct homa_addr *peer,
			  struct homa_rpc_info *out, unsigned max, bool *more)
{
	uint64_t b = *cursor >> 32, skip = (uint32_t)*cursor;
	uint64_t budget = (uint64_t)max * 16 + 64;
	unsigned n = 0;

	*more = false;
	for (; b < RPC_BUCKETS; b++, skip = 0) {
		const struct homa_rpc *rpc = e->rpc_buckets[b];
		uint64_t i = 0;

		for (; rpc != NULL; rpc = rpc->hash_next, i++) {
			if (i < skip)
				continue;
			if (n == max || budget == 0) {
				*cursor = ENGINE_CURSOR(b, i);
				*more = true;
				return n;
			}
			budget--;
			if (rpc->state == RPC_DEAD || rpc->sock == NULL)
				continue;
			if (port != 0 && rpc->sock->port != port)
				continue;
			if (peer != NULL &&
			    memcmp(&rpc->peer->addr, peer, sizeof(*peer)) != 0)
				continue;
			engine_rpc_info(rpc, &out[n++]);
		}
	}
	*cursor = ENGINE_CURSOR(RPC_BUCKETS, 0);
	return n;
}

unsigned engine_peers_page(struct homa_engine *e, uint64_t *cursor,
			   struct homa_peer_entry *out, unsigned max,
			   bool *more)
{
	uint64_t b = *cursor >> 32, skip = (uint32_t)*cursor;
	struct homa_peer *page[256];
	struct homa_rpc *rpc;
	unsigned n = 0;

	if (max > sizeof(page) / sizeof(page[0]))
		max = sizeof(page) / sizeof(page[0]);
	*more = false;
	*cursor = ENGINE_CURSOR(PEER_BUCKETS, 0);
	for (; b < PEER_BUCKETS; b++, skip = 0) {
		struct homa_peer *p = e->peer_buckets[b];
		uint64_t i = 0;

		for (; p != NULL; p = p->hash_next, i++) {
			if (i < skip)
				continue;
			if (n == max) {
				*cursor = ENGINE_CURSOR(b, i);
				*more = true;
				goto counted;
			}
			p->scratch = 0;
			page[n++] = p;
		}
	}
counted:
	TAILQ_FOREACH(rpc, &e->rpcs, link)
	if (rpc->unanswered > 0 && rpc->peer != NULL)
		rpc->peer->scratch++;
	for (unsigned i = 0; i < n; i++) {
		const struct homa_peer *p = page[i];
		struct homa_peer_entry *pe = &out[i];

		memset(pe, 0, sizeof(*pe));
		pe->addr = p->addr;
		pe->rpcs = p->refs;
		memcpy(pe->cutoffs_in, p->unsched_cutoffs,
		       sizeof(pe->cutoffs_in));
		pe->cutoff_version_in = p->cutoff_version;
		pe->rtt_ns = p->rtt_ns;
		pe->resends = p->scratch;
		pe->acks_pending = p->num_acks;
		pe->silent_ticks =
			e->ticks > p->heard_tick ? e->ticks - p->heard_tick : 0;
		pe->rate_mbps = p->rate_mbps;
		pe->incoming = p->incoming;
		pe->homad = p->homad;
		pe->pace_mbps = p->pace_mbps;
		pe->rx_mbps = p->rx_rate.max_mbps;
		pe->grant_cap = peer_grant_cap(e, p);
		pe->resend_bytes = p->resend_bytes;
		pe->host_up = peer_host_up(e, p);
		pe->probes = p->probe_seq;
	}
	return n;
}

int engine_peer_info(const struct homa_engine *e, const struct homa_addr *a,
		     struct homa_peer_info *info)
{
	const struct homa_peer *p = peer_find(e, a);

	memset(info, 0, sizeof(*info));
	if (p == NULL)
		return -ENOENT;
	info->rtt_ns = p->rtt_ns;
	info->rtt_samples = p->rtt_samples;
	info->unsched_bytes = peer_unsched_bytes(e, p);
	info->rate_mbps = p->rate_mbps;
	info->rpcs = p->refs;
	info->incoming = p->incoming;
	info->active_grants = p->active_grants;
	info->homad = p->homad;
	return 0;
}

void engine_state(const struct homa_engine *e, struct homa_engine_state *st)
{
	const struct homa_sock *s;

	memset(st, 0, sizeof(*st));
	st->sockets = e->nsocks;
	st->rpcs = e->nrpcs;
	st->dead_rpcs = e->ndead;
	st->client_rpcs = e->nclient;
	st->server_rpcs = e->nserver;
	st->peers = e->npeers;
	st->active_grants = e->nactive;
	st->grantable = e->ngrantable;
	st->total_incoming = e->total_incoming;
	st->throttled = e->nheap;
	TAILQ_FOREACH(s, &e->socks, link)
	st->buffer_waits += s->pool.nwaiting + s->ncapped;
}
