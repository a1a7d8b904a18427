/*
 * rpc.c - the RPC table and every RPC's life cycle (spec/protocol.md,
 * "Messages and RPCs", "Acks and server cleanup").
 *
 * A client RPC is found by its (even) id alone, ids being unique on the
 * host; a server RPC by (client host, odd id).  Ending an RPC takes it out
 * of the table and of every queue at once, releases what the application
 * cannot see any more (undelivered bpages, outgoing memory) and moves it to
 * the dead list; the reaper frees dead RPCs in small batches (reap_limit,
 * more when dead_buffs_limit is exceeded) and releases their outgoing
 * buffers to the caller.
 *
 * At-most-once beyond an RPC's life: a server RPC that ended after its
 * request reached the application leaves an entry (client host, id, time)
 * in a bounded table (rpc_ended_*), so that a copy of the request that the
 * network duplicated or held back, arriving after the RPC was acked and
 * freed, is recognised as stale and dropped instead of starting the
 * request a second time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "homa_int.h"

static unsigned rpc_bucket(uint64_t id, const struct homa_peer *peer)
{
	uint64_t h = id * 0x9E3779B97F4A7C15ull;

	if ((id & 1) != 0)
		h ^= (uint64_t)(uintptr_t)peer * 0xC2B2AE3D27D4EB4Full;
	return (unsigned)((h >> 40) % RPC_BUCKETS);
}

/*
 * The live RPC with local id (for a server RPC: from peer), or NULL.  peer
 * may be NULL for a server id (then nothing is found).
 */
struct homa_rpc *rpc_find(const struct homa_engine *e, uint64_t id,
			  const struct homa_peer *peer)
{
	struct homa_rpc *rpc;
	bool client = (id & 1) == 0;

	if (!client && peer == NULL)
		return NULL;
	for (rpc = e->rpc_buckets[rpc_bucket(id, peer)]; rpc != NULL;
	     rpc = rpc->hash_next)
		if (rpc->id == id && (client || rpc->peer == peer))
			return rpc;
	return NULL;
}

/* ---- ended server RPCs -------------------------------------------------- */

static uint32_t rpc_ended_bucket(const struct homa_addr *addr, uint64_t id)
{
	uint64_t h = id * 0x9E3779B97F4A7C15ull, w;

	for (size_t i = 0; i < sizeof(addr->in6); i += 8) {
		memcpy(&w, (const uint8_t *)&addr->in6 + i, 8);
		h = (h ^ w) * 0xC2B2AE3D27D4EB4Full;
	}
	return (uint32_t)(h >> 40) & (RPC_ENDED_SLOTS - 1);
}

/*
 * Allocate e's table of ended server RPCs (empty).  Returns 0 or -ENOMEM.
 * Called once by engine_create; rpc_ended_free releases it.  Neither array
 * needs zeroing (640 KB and 64 KB an engine_create would write): the
 * entries past ended_used are never read, the buckets are set here.
 */
int rpc_ended_init(struct homa_engine *e)
{
	e->ended = mem_realloc(&e->alloc, NULL, RPC_ENDED_SLOTS,
			       sizeof(*e->ended));
	e->ended_buckets =
		mem_realloc(&e->alloc, NULL, RPC_ENDED_SLOTS, sizeof(uint32_t));
	if (e->ended == NULL || e->ended_buckets == NULL) {
		rpc_ended_free(e);
		return -ENOMEM;
	}
	memset(e->ended_buckets, 0xff, RPC_ENDED_SLOTS * sizeof(uint32_t));
	e->ended_next = 0;
	e->ended_used = 0;
	return 0;
}

void rpc_ended_free(struct homa_engine *e)
{
	mem_free(&e->alloc, e->ended);
	mem_free(&e->alloc, e->ended_buckets);
	e->ended = NULL;
	e->ended_buckets = NULL;
}

/* How long an entry counts: timeout_ticks ticks, in ns. */
static uint64_t rpc_ended_ttl(const struct homa_engine *e)
{
	return (uint64_t)e->params.timeout_ticks * e->params.tick_usecs * 1000;
}

/* Remember server RPC rpc (ending now), overwriting the oldest entry. */
static void rpc_ended_add(struct homa_engine *e, const struct homa_rpc *rpc,
			  uint64_t now)
{
	uint32_t slot = e->ended_next, b;
	struct rpc_ended *x = &e->ended[slot];

	if (e->ended_used == RPC_ENDED_SLOTS) {
		/* Unlink the entry being overwritten from its chain. */
		uint32_t *pp =
			&e->ended_buckets[rpc_ended_bucket(&x->addr, x->id)];

		while (*pp != RPC_ENDED_NONE && *pp != slot)
			pp = &e->ended[*pp].next;
		if (*pp == slot)
			*pp = x->next;
	}
	b = rpc_ended_bucket(&rpc->peer->addr, rpc->id);
	x->addr = rpc->peer->addr;
	x->id = rpc->id;
	x->ended_at = now;
	x->next = e->ended_buckets[b];
	e->ended_buckets[b] = slot;
	e->ended_next = (slot + 1) & (RPC_ENDED_SLOTS - 1);
	if (e->ended_used < RPC_ENDED_SLOTS)
		e->ended_used++;
}

/*
 * Did a server RPC with id (odd) from the client host addr end, after
 * delivering its request, less than timeout_ticks ticks before now?  Request
 * DATA for it is then stale.
 */
bool rpc_ended_find(const struct homa_engine *e, const struct homa_addr *addr,
		    uint64_t id, uint64_t now)
{
	uint64_t ttl = rpc_ended_ttl(e);

	for (uint32_t i = e->ended_buckets[rpc_ended_bucket(addr, id)];
	     i != RPC_ENDED_NONE; i = e->ended[i].next) {
		const struct rpc_ended *x = &e->ended[i];

		if (x->id == id && memcmp(&x->addr, addr, sizeof(*addr)) == 0 &&
		    now - x->ended_at < ttl)
			return true;
	}
	return false;
}

/* ---- the table of live RPCs ---------------------------------------------- */

static void rpc_hash_del(struct homa_engine *e, struct homa_rpc *rpc)
{
	struct homa_rpc **pp = &e->rpc_buckets[rpc_bucket(rpc->id, rpc->peer)];

	while (*pp != NULL) {
		if (*pp == rpc) {
			*pp = rpc->hash_next;
			rpc->hash_next = NULL;
			return;
		}
		pp = &(*pp)->hash_next;
	}
}

static struct homa_rpc *rpc_alloc(struct homa_engine *e, struct homa_sock *s,
				  struct homa_peer *peer, uint64_t id,
				  uint16_t dport, uint64_t now)
{
	struct homa_rpc *rpc;
	unsigned b;

	if (e->nrpcs >= e->params.max_rpcs) {
		e->metrics.rpc_limit_drops++;
		return NULL;
	}
	if (pacer_reserve(e, e->nrpcs + 1) < 0)
		return NULL;
	rpc = mem_calloc(&e->alloc, 1, sizeof(*rpc));
	if (rpc == NULL)
		return NULL;
	rpc->id = id;
	rpc->sock = s;
	rpc->sock_app = s->app;
	rpc->peer = peer;
	rpc->dport = dport;
	rpc->msgout.heap_index = -1;
	peer_hold(e, peer, now);
	b = rpc_bucket(id, peer);
	rpc->hash_next = e->rpc_buckets[b];
	e->rpc_buckets[b] = rpc;
	TAILQ_INSERT_TAIL(&s->rpcs, rpc, sock_link);
	s->nrpcs++;
	TAILQ_INSERT_TAIL(&e->rpcs, rpc, link);
	e->nrpcs++;
	timer_arm(e, now);
	return rpc;
}

/*
 * Start a packet of type about rpc, from its socket's port to its peer's,
 * with rpc's id as the sender's: every other field 0.
 */
void rpc_pkt_init(struct homa_pkt *pkt, const struct homa_rpc *rpc,
		  enum homa_type type)
{
	memset(pkt, 0, sizeof(*pkt));
	pkt->type = type;
	pkt->sport = rpc->sock->port;
	pkt->dport = rpc->dport;
	pkt->sender_id = rpc->id;
}

/*
 * A new client RPC of s to (peer, dport), in state OUTGOING, with id (even,
 * from engine_reserve_ids) or, when id is 0, the next free id.  -ENOMEM:
 * the RPC limit is reached or memory ran out; -EEXIST: id is in use.
 */
int rpc_new_client(struct homa_engine *e, struct homa_sock *s,
		   struct homa_peer *peer, uint64_t id, uint16_t dport,
		   uint64_t now, struct homa_rpc **out)
{
	struct homa_rpc *rpc;

	if (id == 0) {
		e->next_client_id += 2;
		id = e->next_client_id;
	} else if (rpc_find(e, id, peer) != NULL) {
		return -EEXIST;
	}
	rpc = rpc_alloc(e, s, peer, id, dport, now);
	if (rpc == NULL)
		return -ENOMEM;
	rpc_set_state(e, rpc, RPC_OUTGOING);
	e->nclient++;
	*out = rpc;
	return 0;
}

/*
 * A new server RPC of s for request id (odd) from (peer, dport), in state
 * INCOMING.  -ENOMEM: a limit (max_rpcs, max_rpcs_per_peer) or memory.
 */
int rpc_new_server(struct homa_engine *e, struct homa_sock *s,
		   struct homa_peer *peer, uint64_t id, uint16_t dport,
		   uint64_t now, struct homa_rpc **out)
{
	struct homa_rpc *rpc;

	if (peer->server_rpcs >= e->params.max_rpcs_per_peer)
		return -ENOMEM;
	rpc = rpc_alloc(e, s, peer, id, dport, now);
	if (rpc == NULL)
		return -ENOMEM;
	rpc_set_state(e, rpc, RPC_INCOMING);
	peer->server_rpcs++;
	e->nserver++;
	*out = rpc;
	return 0;
}

#define RPC_TO(state) (1u << (state))

/* The legal changes (homa_int.h): [client?][from] = RPC_TO(to) bits. */
static const unsigned rpc_legal[2][RPC_DEAD + 1] = {
	/* server */
	{
		[RPC_NEW] = RPC_TO(RPC_INCOMING),
		[RPC_INCOMING] = RPC_TO(RPC_IN_SERVICE) | RPC_TO(RPC_DEAD),
		[RPC_IN_SERVICE] = RPC_TO(RPC_OUTGOING) | RPC_TO(RPC_DEAD),
		[RPC_OUTGOING] = RPC_TO(RPC_DEAD),
	},
	/* client */
	{
		[RPC_NEW] = RPC_TO(RPC_OUTGOING),
		[RPC_OUTGOING] = RPC_TO(RPC_INCOMING) | RPC_TO(RPC_DEAD),
		[RPC_INCOMING] = RPC_TO(RPC_DEAD),
	},
};

/*
 * The one place an RPC changes state.  An illegal change (a bug) is
 * refused: the state stays, rpc_bad_transitions counts it and ops.bug
 * hears of it.  Returns whether the change was made.
 */
bool rpc_set_state(struct homa_engine *e, struct homa_rpc *rpc,
		   enum homa_rpc_state state)
{
	if ((unsigned)rpc->state > RPC_DEAD || (unsigned)state > RPC_DEAD ||
	    (rpc_legal[rpc_is_client(rpc)][rpc->state] & RPC_TO(state)) == 0) {
		e->metrics.rpc_bad_transitions++;
		if (e->ops.bug != NULL)
			e->ops.bug(e->ops_ctx, "illegal RPC state change");
		return false;
	}
	e->metrics.rpc_transitions[state - RPC_OUTGOING]++;
	/* The tick checks no RPC that the server application holds. */
	if (rpc->state == RPC_IN_SERVICE && state != RPC_IN_SERVICE) {
		TAILQ_REMOVE(&e->in_service, rpc, link);
		TAILQ_INSERT_TAIL(&e->rpcs, rpc, link);
	} else if (rpc->state != RPC_IN_SERVICE && state == RPC_IN_SERVICE) {
		TAILQ_REMOVE(&e->rpcs, rpc, link);
		TAILQ_INSERT_TAIL(&e->in_service, rpc, link);
	}
	rpc->state = state;
	rpc_heard(rpc);
	return true;
}

/*
 * End rpc locally: nothing is sent and nothing delivered.  Safe to call on
 * a dead RPC (no-op).  now: the caller's clock (a server RPC that
 * delivered its request is remembered as ended then).
 */
void rpc_end(struct homa_engine *e, struct homa_rpc *rpc, uint64_t now)
{
	struct homa_sock *s = rpc->sock;

	if (rpc->state == RPC_DEAD)
		return;
	rpc_resend_settled(rpc);
	rpc_hash_del(e, rpc);
	grant_remove(e, rpc);
	pacer_remove(e, rpc);
	if (rpc->msgin.waiting) {
		TAILQ_REMOVE(&s->pool.waiting, rpc, msgin.wait_link);
		s->pool.nwaiting--;
		rpc->msgin.waiting = false;
	}
	if (rpc->msgin.capped)
		msgin_end_capped(e, rpc);
	if (rpc->msgin.bufs && !rpc->msgin.delivered) {
		pool_free(&s->pool, rpc->msgin.bpage_offsets,
			  rpc->msgin.num_bpages);
		msgin_release_share(e, rpc);
		/* Waiting messages may fit now (msgin_retry_pools, once the
		 * entry point is done: we may be inside a walk of RPCs). */
		if (s->pool.nwaiting > 0 && !s->shutdown) {
			s->pool_retry = true;
			e->pool_retry = true;
		}
	}
	rpc->msgin.bufs = false;
	if (!rpc_is_client(rpc) && rpc->msgin.delivered)
		rpc_ended_add(e, rpc, now);
	TAILQ_REMOVE(&s->rpcs, rpc, sock_link);
	s->nrpcs--;
	if (rpc_is_client(rpc))
		e->nclient--;
	else {
		e->nserver--;
		rpc->peer->server_rpcs--;
	}
	rpc_set_state(e, rpc, RPC_DEAD);
	TAILQ_REMOVE(&e->rpcs, rpc, link);
	e->nrpcs--;
	TAILQ_INSERT_TAIL(&e->dead, rpc, link);
	e->ndead++;
	rpc->sock = NULL;
	if (rpc->msgout.present)
		sock_wmem_release(e, s, rpc->msgout.length);
}

/*
 * End rpc with an error: a client RPC is reported to its socket
 * (HOMA_DELIVER_ERROR, err > 0); a server RPC ends silently.
 */
void rpc_fail(struct homa_engine *e, struct homa_rpc *rpc, int err,
	      uint64_t now)
{
	if (rpc->state == RPC_DEAD)
		return;
	if (rpc_is_client(rpc) && err != 0 && e->ops.deliver != NULL) {
		struct homa_delivery d;

		memset(&d, 0, sizeof(d));
		d.kind = HOMA_DELIVER_ERROR;
		d.sock = rpc->sock;
		d.app = rpc->sock->app;
		d.id = rpc->id;
		d.cookie = rpc->cookie;
		d.peer = rpc->peer->addr;
		d.peer_port = rpc->dport;
		d.error = err;
		e->ops.deliver(e->ops_ctx, &d);
	}
	rpc_end(e, rpc, now);
}

/*
 * Free up to limit dead RPCs (oldest first), releasing their outgoing
 * buffers.  Returns how many were freed.
 */
unsigned rpc_reap(struct homa_engine *e, unsigned limit)
{
	unsigned n = 0;
	struct homa_rpc *rpc;

	while (n < limit && (rpc = TAILQ_FIRST(&e->dead)) != NULL) {
		TAILQ_REMOVE(&e->dead, rpc, link);
		e->ndead--;
		if (rpc->msgout.present && e->ops.tx_release != NULL)
			e->ops.tx_release(e->ops_ctx, rpc->sock_app,
					  rpc->msgout.cookie);
		msgin_destroy(e, &rpc->msgin);
		peer_put(e, rpc->peer);
		mem_free(&e->alloc, rpc);
		n++;
	}
	if (n > 0) {
		e->metrics.reaper_calls++;
		e->metrics.rpcs_reaped += n;
	}
	return n;
}

/*
 * The message of rpc is complete: hand it to the application.  A request
 * moves its RPC to IN_SERVICE; a response ends its RPC and queues its ack.
 */
void rpc_deliver(struct homa_engine *e, struct homa_rpc *rpc, uint64_t now)
{
	struct homa_delivery d;
	struct homa_sock *s = rpc->sock;
	struct homa_msgin *m = &rpc->msgin;

	memset(&d, 0, sizeof(d));
	d.kind = HOMA_DELIVER_MESSAGE;
	d.sock = s;
	d.app = s->app;
	d.id = rpc->id;
	d.cookie = rpc_is_client(rpc) ? rpc->cookie : 0;
	d.peer = rpc->peer->addr;
	d.peer_port = rpc->dport;
	d.length = m->length;
	d.num_bpages = m->num_bpages;
	memcpy(d.bpage_offsets, m->bpage_offsets,
	       m->num_bpages * sizeof(uint32_t));
	m->delivered = true;
	pool_deliver(&s->pool, m->bpage_offsets, m->num_bpages);
	msgin_release_share(e, rpc);
	grant_remove(e, rpc);
	if (rpc_is_client(rpc)) {
		e->metrics.client_responses_done++;
		e->metrics.client_response_bytes_done += m->length;
	} else {
		e->metrics.server_requests_done++;
		e->metrics.server_request_bytes_done += m->length;
		rpc_set_state(e, rpc, RPC_IN_SERVICE);
	}
	if (e->ops.deliver != NULL)
		e->ops.deliver(e->ops_ctx, &d);
	if (rpc_is_client(rpc)) {
		peer_add_ack(e, rpc->peer, s->port, rpc->dport, rpc->id, now);
		rpc_end(e, rpc, now);
	}
}

/*
 * The client on peer acked its RPC ack->client_id: end our server RPC for
 * it, if the ack names a socket of ours that has it.
 */
void rpc_acked(struct homa_engine *e, struct homa_peer *peer,
	       const struct homa_ack *ack, uint64_t now)
{
	struct homa_rpc *rpc;

	if ((ack->client_id & 1) != 0)
		return;
	rpc = rpc_find(e, ack->client_id | 1, peer);
	if (rpc == NULL || rpc->sock->port != ack->server_port)
		return;
	e->metrics.acks_received++;
	rpc_end(e, rpc, now);
}
