/*
 * homa_int.h - the engine's internal structs and the functions its files
 * share.  Nothing outside daemon/core (and its unit tests) includes this:
 * the rest of homad sees only engine.h.
 *
 * One file per concept, functions prefixed by it:
 *   sock.c   sockets and ports          pool.c   receive buffer pools
 *   peer.c   peer table, cutoffs, acks  rpc.c    RPC table, life cycle
 *   msgout.c outgoing messages          msgin.c  incoming messages
 *   grant.c  receiver's grant policy    pacer.c  sender's SRPT + pacing
 *   timer.c  ticks, RESEND, timeouts    engine.c entry points, dispatch
 *
 * Every struct is owned by the engine and freed by it; every list and table
 * has a limit from struct homa_params.
 */
#ifndef HOMAD_CORE_HOMA_INT_H
#define HOMAD_CORE_HOMA_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "engine.h"

struct homa_rpc;

TAILQ_HEAD(homa_rpc_list, homa_rpc);

/* ---- pool.c ----------------------------------------------------------- */

/*
 * A socket's receive buffer pool: the caller's region cut into bpages.
 * Full bpages have one user (a message chunk); the last, partial chunk of a
 * message is cut from the pool's current "partial" bpage, which may hold
 * pieces of several messages (refs counts them).  A bpage is free when its
 * refs are 0 and it is not the partial one.
 */
struct homa_pool {
	uint8_t *base;	       /* caller's memory; NULL: no pool */
	uint32_t nbpages;      /* bpages in the region */
	uint32_t *refs;	       /* [nbpages] users of each bpage */
	uint32_t *app_refs;    /* [nbpages] of which the application's */
	uint32_t *free_stack;  /* [nbpages] indices of free bpages */
	uint32_t nfree;	       /* entries in free_stack */
	int64_t partial;       /* index of the partial bpage, -1: none */
	uint32_t partial_fill; /* bytes used in it (64-byte aligned) */
	/* Messages waiting for space, shortest first (msgin.wait_link). */
	struct homa_rpc_list waiting;
	uint32_t nwaiting;
	/* Where refs, app_refs and free_stack come from (pool_init's). */
	const struct homa_allocator *alloc;
};

int pool_init(struct homa_pool *p, const struct homa_allocator *alloc,
	      void *base, size_t length);
void pool_destroy(struct homa_pool *p);
int pool_alloc(struct homa_pool *p, uint32_t length,
	       uint32_t offsets[HOMA_MAX_BPAGES], uint32_t *n);
void pool_free(struct homa_pool *p, const uint32_t *offsets, uint32_t n);
void pool_deliver(struct homa_pool *p, const uint32_t *offsets, uint32_t n);
int pool_check_release(const struct homa_pool *p, const uint32_t *offsets,
		       unsigned n);
void pool_release(struct homa_pool *p, const uint32_t *offsets, unsigned n);
uint64_t pool_avail_bytes(const struct homa_pool *p);
void pool_write(struct homa_pool *p, const uint32_t *offsets,
		uint32_t msg_offset, const uint8_t *data, uint32_t len);

/* ---- sock.c ----------------------------------------------------------- */

struct homa_sock {
	uint16_t port; /* 0 after shutdown */
	bool server;   /* accepts requests */
	bool shutdown; /* no more sends; port released */
	bool v4only;   /* an AF_INET socket: IPv4 peers only */
	void *app;     /* caller's cookie */
	struct homa_pool pool;
	struct homa_rpc_list rpcs; /* live RPCs (rpc.sock_link) */
	uint32_t nrpcs;
	uint64_t wmem;	   /* bytes of outgoing messages held */
	bool wmem_blocked; /* a send got EAGAIN: report send space */
	bool pool_retry;   /* bpages freed while messages wait (rpc_end) */
	uint32_t ncapped;  /* messages waiting for their peer's share */
	struct homa_sock *hash_next; /* port table chain */
	TAILQ_ENTRY(homa_sock) link; /* e->socks */
};

#define SOCK_BUCKETS 256

struct homa_sock *sock_find(const struct homa_engine *e, uint16_t port);
int sock_open(struct homa_engine *e, void *app, struct homa_sock **out);
int sock_bind(struct homa_engine *e, struct homa_sock *s, uint16_t port);
void sock_shutdown(struct homa_engine *e, struct homa_sock *s, uint64_t now);
void sock_free(struct homa_engine *e, struct homa_sock *s, uint64_t now);
void sock_wmem_release(struct homa_engine *e, struct homa_sock *s,
		       uint32_t bytes);

/* ---- peer.c ----------------------------------------------------------- */

/*
 * A rate filter (peer_rate_sample): bytes counted in windows of
 * PEER_RX_WINDOW_NS, each closed window a sample; one that stayed open for
 * twice that long spanned a pause, not a rate, and starts over.  max_mbps
 * is the fastest sample of this PEER_RX_EPOCH_NS and the last (0: none).
 */
struct homa_rate {
	uint64_t win_start; /* 0: no window open */
	uint64_t win_bytes;
	uint64_t epoch_start;
	uint32_t max_mbps, cur_max, prev_max;
};

struct homa_peer {
	struct homa_addr addr;
	bool ipv6; /* not v4-mapped: 40-byte IP header */
	struct homa_peer *hash_next;
	TAILQ_ENTRY(homa_peer) lru_link; /* e->peer_lru, idlest first */
	uint32_t refs;			 /* RPCs holding this peer */
	uint32_t server_rpcs;		 /* of which we are the server */
	uint64_t last_used;
	/* Cutoffs the peer gave us (for our unscheduled packets to it). */
	uint32_t unsched_cutoffs[HOMA_NUM_PRIORITIES];
	uint16_t cutoff_version;  /* 0: none received yet */
	uint64_t cutoffs_sent_at; /* when we last sent it our CUTOFFS */
	bool cutoffs_sent;
	/* Acks of finished client RPCs, queued for this server host. */
	struct homa_ack acks[HOMA_MAX_ACKS];
	uint32_t num_acks;
	/* Receiver side: messages from it in the grant active set. */
	uint32_t active_grants;
	/* Receiver side: bytes granted or unscheduled, not yet received,
	 * over its messages (its part of e->total_incoming). */
	uint64_t incoming;
	/* Sender side: pacing cap (0: none) and its virtual link. */
	uint32_t rate_mbps;
	uint64_t tx_idle; /* when its capped link is idle again */
	/*
	 * Round trip (peer_rtt_sample): the smallest sample of the current
	 * and of the previous PEER_RTT_WINDOW; rtt_ns 0 until a first one.
	 */
	uint64_t rtt_ns;
	uint64_t rtt_cur_min, rtt_prev_min;
	uint64_t rtt_win_start;
	bool rtt_valid;	      /* a window was started */
	uint64_t rtt_samples; /* samples taken (tests, introspection) */
	/* Its last DATA carried the homad marker (HOMAD_PAD_MAGIC*). */
	bool homad;
	/*
	 * Liveness: e->ticks when any packet from it last arrived (or when
	 * the entry was made).  An RPC times out for silence only while its
	 * peer is silent too (timer.c).
	 */
	uint64_t heard_tick;
	/*
	 * Its host's kernel (stalled_peer_ticks): e->ticks when we last asked
	 * it whether it is up (0: never), the sequence of that probe (one
	 * series per peer), and e->ticks when it last answered one of its last
	 * PEER_PROBE_WINDOW probes (0: never).  An answer after heard_tick
	 * means the host is up while its homad is silent.
	 */
	uint64_t probe_tick;
	uint16_t probe_seq;
	uint64_t host_tick;
	/* RESEND rounds sent to it in tick resend_tick (resend_peer_limit). */
	uint64_t resend_tick;
	uint32_t resends_in_tick;
	/* NEED_ACKs sent to it in tick need_ack_tick (timer.c). */
	uint64_t need_ack_tick;
	uint32_t need_acks_in_tick;
	/* Bytes its RPCs' last RESEND rounds asked for and have not heard
	 * about since (the sum of their resend_asked; timer.c caps it). */
	uint64_t resend_bytes;
	/* Receiver side: its DATA (peer_rx_sample). */
	uint64_t rx_total;  /* DATA payload bytes received from it, ever */
	uint64_t data_tick; /* e->ticks when its last DATA arrived */
	/* How fast it has shown it can deliver to us (its grant cap,
	 * peer_grant_cap). */
	struct homa_rate rx_rate;
	/* Sender side: how fast its grants came while our messages to it
	 * waited for them (how fast it takes our data: grant pacing). */
	struct homa_rate grant_rate;
	uint32_t pace_mbps; /* grant pacing's rate for it now (0: none) */
	/* When it last asked again for bytes we had sent at least a guard
	 * time before (lost: grant pacing applies for a while); 0: never. */
	uint64_t loss_at;
	uint32_t scratch; /* engine_peers_page's count */
};

/* Arrival-rate windows and the max filter's epoch (peer_rx_sample). */
#define PEER_RX_WINDOW_NS 2000000ull
#define PEER_RX_EPOCH_NS  100000000ull

/* Grant pacing applies this long after a peer lost data of ours. */
#define PEER_LOSS_PACE_NS 200000000ull

/* RTT samples are kept as the minimum over this window and the last. */
#define PEER_RTT_WINDOW_NS 1000000000ull
/* engine_peer_echo takes answers to a peer's last this many probes. */
#define PEER_PROBE_WINDOW 8

/*
 * homad's extension marker in DATA.pad (spec/wire.md: the module sends 0
 * there and never reads it).  Every DATA packet homad sends carries
 * pad[0] = 'H', pad[1] = 'D', pad[2] = flags; a DATA packet with both
 * magic bytes marks its sender as a homad peer (any other value: not, or
 * no longer, homad).  Flags are only acted on with the magic, and only
 * set towards peers known to be homad:
 *   HOMAD_FLAG_INCAST  (request) the client is in incast: send the
 *                      response with at most incast_unsched_bytes
 *                      unscheduled bytes.
 */
#define HOMAD_PAD_MAGIC0  0x48 /* 'H' */
#define HOMAD_PAD_MAGIC1  0x44 /* 'D' */
#define HOMAD_FLAG_INCAST 0x01
_Static_assert(HOMAD_FLAG_INCAST == ENGINE_FLAG_INCAST, "engine.h's flag");

#define PEER_BUCKETS 1024

struct homa_peer *peer_get(struct homa_engine *e, const struct homa_addr *a,
			   uint64_t now);
/* Is peer silent while its host answers our probes (stalled_peer_ticks)? */
bool peer_host_up(const struct homa_engine *e, const struct homa_peer *peer);
struct homa_peer *peer_find(const struct homa_engine *e,
			    const struct homa_addr *a);
struct homa_peer *peer_touch(struct homa_engine *e, struct homa_peer *p,
			     uint64_t now);
void peer_hold(struct homa_engine *e, struct homa_peer *p, uint64_t now);
void peer_put(struct homa_engine *e, struct homa_peer *p);
void peer_free_all(struct homa_engine *e);
void peer_set_rate(const struct homa_engine *e, struct homa_peer *p);
uint8_t peer_unsched_prio(const struct homa_engine *e,
			  const struct homa_peer *p, uint32_t length);
void peer_set_cutoffs(struct homa_peer *p, const struct homa_pkt *pkt);
bool peer_pop_ack(struct homa_peer *p, struct homa_ack *ack);
bool peer_drop_ack(struct homa_peer *p, uint64_t id, uint16_t server_port);
void peer_add_ack(struct homa_engine *e, struct homa_peer *p,
		  uint16_t client_port, uint16_t server_port, uint64_t id,
		  uint64_t now);
uint32_t peer_take_acks(struct homa_peer *p, struct homa_ack *acks);
uint32_t peer_max_payload(const struct homa_engine *e,
			  const struct homa_peer *p);
void peer_rtt_sample(struct homa_peer *p, uint64_t sample, uint64_t now);
void peer_rx_sample(struct homa_engine *e, struct homa_peer *p, uint32_t bytes,
		    uint64_t now);
uint64_t peer_grant_cap(const struct homa_engine *e, const struct homa_peer *p);
void peer_grant_sample(struct homa_engine *e, struct homa_peer *p,
		       uint32_t bytes, uint64_t now);
uint32_t peer_tx_mbps(struct homa_peer *p, uint64_t now);
uint32_t peer_unsched_bytes(const struct homa_engine *e,
			    const struct homa_peer *p);
bool pkt_has_homad_marker(const struct homa_pkt *pkt);
void peer_publish(const struct homa_engine *e, const struct homa_peer *p,
		  bool gone);
bool addr_is_v4(const struct homa_addr *a);

/* ---- msgout.c --------------------------------------------------------- */

struct homa_msgout {
	bool present; /* a message was given */
	uint32_t length;
	const uint8_t *data;  /* caller's bytes (lent until tx_release) */
	void *cookie;	      /* caller's, for tx_release */
	uint32_t unscheduled; /* min(unsched_bytes, length): a boundary */
	uint32_t seg;	      /* payload bytes per packet, fixed */
	uint32_t next_xmit;   /* bytes sent at least once (packet-aligned) */
	uint32_t granted;     /* may send every packet starting below */
	uint8_t sched_prio;   /* from the last GRANT */
	bool started;	      /* first packet sent (metrics) */
	uint64_t birth;	      /* when queued (pacer FIFO share) */
	int32_t heap_index;   /* in e->pacer heap; -1: not there */
	bool throttled;	      /* the pacer held it at least once */
	uint8_t homad_flags;  /* HOMAD_FLAG_* in its DATA (homad peers) */
	/* RTT probe: when the first packet left (estimated), until the
	 * first GRANT for the message arrives. */
	bool rtt_probe;
	uint64_t rtt_probe_at;
	/*
	 * When bytes were sent (msgout_resend does not send bytes again that
	 * left less than a guard time ago): bytes at or above fresh_off were
	 * first sent in [fresh_at, last_xmit_at]; bytes below fresh_off at
	 * or before prev_last_at; bytes below prev_off at least a guard
	 * before fresh_at.  [rexmit_lo, rexmit_hi) was last retransmitted at
	 * rexmit_at.
	 */
	uint32_t fresh_off, prev_off;
	uint64_t fresh_at, last_xmit_at, prev_last_at;
	uint32_t rexmit_lo, rexmit_hi;
	uint64_t rexmit_at;
};

void msgout_init(struct homa_engine *e, struct homa_rpc *rpc,
		 const struct homa_msgbuf *msg, uint64_t now);
uint32_t msgout_pkt_start(const struct homa_msgout *m, uint32_t offset);
uint32_t msgout_pkt_len(const struct homa_msgout *m, uint32_t start);
bool msgout_sendable(const struct homa_rpc *rpc);
uint32_t msgout_xmit_one(struct homa_engine *e, struct homa_rpc *rpc,
			 uint64_t now);
void msgout_grant(struct homa_engine *e, struct homa_rpc *rpc,
		  const struct homa_pkt *pkt, uint64_t now);
void msgout_resend(struct homa_engine *e, struct homa_rpc *rpc, uint32_t start,
		   uint32_t end, uint8_t prio, bool all, uint64_t now);
void msgout_update(struct homa_engine *e, struct homa_rpc *rpc);
void msgout_adopt(struct homa_engine *e, struct homa_rpc *rpc,
		  const struct homa_msgbuf *msg, uint8_t homad_flags,
		  uint64_t now);

/* ---- msgin.c ---------------------------------------------------------- */

struct homa_gap {
	uint32_t start, end; /* missing bytes [start, end) */
};

struct homa_msgin {
	bool present; /* the first DATA arrived: length known */
	uint32_t length;
	uint32_t recv_end; /* highest byte received + 1 */
	uint32_t bytes_remaining;
	uint32_t granted;      /* peer may send everything below */
	uint8_t prio;	       /* priority of our last grant */
	struct homa_gap *gaps; /* sorted, disjoint, below recv_end */
	uint32_t num_gaps, cap_gaps;
	bool bufs;	/* bpages allocated */
	bool delivered; /* bpages belong to the application */
	uint32_t bpage_offsets[HOMA_MAX_BPAGES];
	uint32_t num_bpages;
	bool waiting; /* in sock->pool.waiting */
	bool capped;  /* in share->capped: its peer holds its share */
	bool too_big; /* needs more bpages than the whole pool has */
	TAILQ_ENTRY(homa_rpc) wait_link;
	/* Its peer's share of the socket's pool, while it holds bpages
	 * there undelivered (counted in share->held) or is capped. */
	struct homa_share *share;
	uint64_t incoming;		  /* our part of e->total_incoming */
	bool grantable;			  /* in e->grantable or e->active */
	bool active;			  /* in e->active[] */
	TAILQ_ENTRY(homa_rpc) grant_link; /* e->grantable (not active) */
	uint64_t birth;			  /* first DATA (FIFO grants) */
	/* RTT probe: a GRANT raised granted above probe_offset at
	 * probe_at; the first new DATA at or past it closes the probe. */
	bool rtt_probe;
	uint32_t probe_offset;
	uint64_t probe_at;
};

void msgin_init(struct homa_rpc *rpc, uint32_t length, uint32_t incoming,
		uint64_t now);
void msgin_destroy(struct homa_engine *e, struct homa_msgin *m);
int msgin_add_packet(struct homa_engine *e, struct homa_msgin *m,
		     uint32_t start, uint32_t len);
/*
 * Direct receive: the whole response of client rpc, described by the DATA
 * header pkt (no payload: the application has it), reached the
 * application.  Ends rpc as rpc_deliver would, delivering nothing; *cookie
 * is its request's tx cookie (NULL: none).  0, -ENOENT (rpc is past
 * receiving), -EALREADY (the engine holds response bytes of its own).
 */
int msgin_direct(struct homa_engine *e, struct homa_rpc *rpc,
		 const struct homa_pkt *pkt, uint64_t now, void **cookie);
/*
 * Direct receive of requests: the whole request of the new server rpc,
 * described by the DATA header pkt (no payload: the application has it),
 * reached the application.  rpc becomes RPC_IN_SERVICE as rpc_deliver
 * would make it, with nothing delivered and no bpages.
 */
void msgin_direct_request(struct homa_engine *e, struct homa_rpc *rpc,
			  const struct homa_pkt *pkt, uint64_t now);
void msgin_data(struct homa_engine *e, struct homa_rpc *rpc,
		const struct homa_pkt *pkt, uint64_t now);
bool msgin_get_bufs(struct homa_engine *e, struct homa_rpc *rpc, uint64_t now);
/* Bytes missing below recv_end: the sum of m's gaps. */
uint32_t msgin_gap_bytes(const struct homa_msgin *m);
uint64_t msgin_retrans_bytes(const struct homa_rpc *rpc);
void msgin_request_retrans(struct homa_engine *e, struct homa_rpc *rpc,
			   uint64_t now);
uint32_t msgin_received(const struct homa_msgin *m);
int msgin_recycle(struct homa_engine *e, struct homa_sock *s,
		  const uint32_t *offsets, unsigned n, uint64_t now);
void msgin_retry_pools(struct homa_engine *e, uint64_t now);
void msgin_release_share(struct homa_engine *e, struct homa_rpc *rpc);
void msgin_end_capped(struct homa_engine *e, struct homa_rpc *rpc);
void msgin_free_shares(struct homa_engine *e);
void msgin_retry_shares(struct homa_engine *e);

/*
 * A pool share (msgin.c): the bytes of undelivered messages that one peer
 * holds in one socket's receive pool, at most peer_pool_percent of the
 * pool (a peer holding nothing there may always start one message), and
 * its messages waiting for the share to drop, oldest first.  Exists while
 * it holds bytes or has waiters; found by (sock, peer) in e->share_buckets.
 * So a peer that starts messages and never finishes them (hostile, or
 * stuck) cannot keep a socket's other peers out of its pool.
 */
struct homa_share {
	struct homa_sock *sock;
	struct homa_peer *peer;
	struct homa_share *hash_next;
	uint64_t held;		     /* bytes (message lengths) */
	struct homa_rpc_list capped; /* msgin.wait_link */
	uint32_t ncapped;
	bool retry; /* in e->share_retry: held dropped while capped waits */
	TAILQ_ENTRY(homa_share) retry_link;
};

#define SHARE_BUCKETS 1024

/* ---- rpc.c ------------------------------------------------------------ */

/*
 * RPC states and their legal orders (NEW: allocated, not yet started):
 *   client: NEW -> OUTGOING (sending the request, then waiting)
 *             -> INCOMING (response arriving) -> DEAD (delivered, failed)
 *           OUTGOING -> DEAD (failed, aborted)
 *   server: NEW -> INCOMING (request arriving) -> IN_SERVICE (delivered to
 *             the application) -> OUTGOING (response) -> DEAD (acked)
 *           any but NEW -> DEAD (timeout, RPC_UNKNOWN, ICMP, socket closed)
 * rpc_set_state is the only function that changes state: it refuses any
 * other change (the state stays; counted in rpc_bad_transitions, reported
 * to ops.bug) and counts each legal one by its new state
 * (rpc_transitions).
 */
enum homa_rpc_state {
	RPC_NEW, /* calloc's zero: rpc_alloc's RPCs start here */
	RPC_OUTGOING,
	RPC_INCOMING,
	RPC_IN_SERVICE,
	RPC_DEAD,
};
_Static_assert(RPC_DEAD - RPC_OUTGOING + 1 == METRICS_RPC_STATES,
	       "rpc_transitions has one counter per state after NEW");

struct homa_rpc {
	uint64_t id; /* local id: even client, odd server */
	enum homa_rpc_state state;
	struct homa_sock *sock; /* NULL once dead */
	void *sock_app;		/* the socket's cookie (tx_release) */
	struct homa_peer *peer; /* held (peer.refs) until reaped */
	uint16_t dport;		/* the peer's port */
	uint64_t cookie;	/* client: completion cookie */
	uint32_t silent_ticks;	/* ticks without DATA/GRANT/BUSY */
	/* RESEND back-off (timer.c): silent tick of the next RESEND round
	 * (0: none sent in this silence yet) and the gap after it. */
	uint32_t next_resend;
	uint32_t resend_gap;
	uint32_t unanswered;   /* RESEND rounds since the peer answered */
	uint64_t round_tick;   /* e->ticks of its last RESEND round */
	uint32_t resend_asked; /* bytes its last RESEND round asked for */
	/* When it went silent: its peer's rx_total, and the bytes the peer
	 * owed us then (timer_resend_deferred). */
	uint64_t rx_mark, ahead;
	uint32_t done_ticks; /* server: ticks since response sent */
	/* Server: NEED_ACK back-off (timer.c): done_ticks of the next one
	 * (0: the first, at request_ack_ticks) and the gap after it. */
	uint32_t need_ack_next;
	uint32_t need_ack_gap;
	bool incast; /* server: the request asked for an incast
			response (HOMAD_FLAG_INCAST) */
	struct homa_msgin msgin;
	struct homa_msgout msgout;
	struct homa_rpc *hash_next;	 /* e->rpc_buckets chain */
	TAILQ_ENTRY(homa_rpc) sock_link; /* sock->rpcs */
	TAILQ_ENTRY(homa_rpc) link;	 /* e->rpcs, or e->dead once dead */
};

static inline bool rpc_is_client(const struct homa_rpc *rpc)
{
	return (rpc->id & 1) == 0;
}

/* rpc's last RESEND round was answered (or is moot): not outstanding. */
static inline void rpc_resend_settled(struct homa_rpc *rpc)
{
	if (rpc->resend_asked != 0) {
		rpc->peer->resend_bytes -= rpc->resend_asked;
		rpc->resend_asked = 0;
	}
}

/* The peer moved this RPC on (DATA, GRANT...): silence and back-off over. */
static inline void rpc_heard(struct homa_rpc *rpc)
{
	rpc_resend_settled(rpc);
	rpc->silent_ticks = 0;
	rpc->next_resend = 0;
	rpc->resend_gap = 0;
	rpc->unanswered = 0;
}

/*
 * The peer answered BUSY: the RPC is alive, not moving.  Its silence
 * starts over, its RESEND back-off does not: the next RESEND comes one gap
 * later (timer.c), so a busy peer is not asked every resend_interval.
 */
static inline void rpc_busy(struct homa_rpc *rpc)
{
	rpc_resend_settled(rpc);
	rpc->silent_ticks = 0;
	rpc->next_resend = rpc->resend_gap;
	rpc->unanswered = 0;
}

#define RPC_BUCKETS 16384

/*
 * A server RPC that ended after its request reached the application
 * (rpc.c, rpc_ended_*): request DATA arriving later for it is a stale copy
 * and must not start the request again.  RPC_ENDED_SLOTS entries at most
 * (a ring: the oldest is overwritten), each kept timeout_ticks ticks.
 */
#define RPC_ENDED_SLOTS 16384 /* a power of 2 */
#define RPC_ENDED_NONE	0xffffffffu
struct rpc_ended {
	struct homa_addr addr; /* the client host */
	uint64_t id;	       /* the server RPC's id (odd); 0: slot unused */
	uint64_t ended_at;     /* the now it ended at, ns */
	uint32_t next;	       /* next slot of its bucket, or RPC_ENDED_NONE */
};

struct homa_rpc *rpc_find(const struct homa_engine *e, uint64_t id,
			  const struct homa_peer *peer);
int rpc_new_client(struct homa_engine *e, struct homa_sock *s,
		   struct homa_peer *peer, uint64_t id, uint16_t dport,
		   uint64_t now, struct homa_rpc **out);
int rpc_new_server(struct homa_engine *e, struct homa_sock *s,
		   struct homa_peer *peer, uint64_t id, uint16_t dport,
		   uint64_t now, struct homa_rpc **out);
void rpc_pkt_init(struct homa_pkt *pkt, const struct homa_rpc *rpc,
		  enum homa_type type);
bool rpc_set_state(struct homa_engine *e, struct homa_rpc *rpc,
		   enum homa_rpc_state state);
void rpc_end(struct homa_engine *e, struct homa_rpc *rpc, uint64_t now);
void rpc_fail(struct homa_engine *e, struct homa_rpc *rpc, int err,
	      uint64_t now);
unsigned rpc_reap(struct homa_engine *e, unsigned limit);
void rpc_deliver(struct homa_engine *e, struct homa_rpc *rpc, uint64_t now);
void rpc_acked(struct homa_engine *e, struct homa_peer *peer,
	       const struct homa_ack *ack, uint64_t now);
int rpc_ended_init(struct homa_engine *e);
void rpc_ended_free(struct homa_engine *e);
bool rpc_ended_find(const struct homa_engine *e, const struct homa_addr *addr,
		    uint64_t id, uint64_t now);

/* ---- grant.c ---------------------------------------------------------- */

void grant_update_incoming(struct homa_engine *e, struct homa_rpc *rpc);
void grant_add(struct homa_engine *e, struct homa_rpc *rpc);
void grant_remove(struct homa_engine *e, struct homa_rpc *rpc);
void grant_reposition(struct homa_engine *e, struct homa_rpc *rpc);
void grant_check(struct homa_engine *e, uint64_t now);
void grant_check_soon(struct homa_engine *e, uint64_t now);
uint64_t grant_fifo_interval(const struct homa_params *p);
uint8_t grant_prio(const struct homa_params *p, uint32_t rank,
		   uint32_t nactive);

/* ---- pacer.c ---------------------------------------------------------- */

int pacer_reserve(struct homa_engine *e, uint32_t n);
void pacer_add(struct homa_engine *e, struct homa_rpc *rpc);
void pacer_remove(struct homa_engine *e, struct homa_rpc *rpc);
void pacer_update(struct homa_engine *e, struct homa_rpc *rpc);
void pacer_xmit(struct homa_engine *e, uint64_t now);
void pacer_account(struct homa_engine *e, struct homa_peer *peer,
		   size_t ip_bytes, uint64_t now);
uint64_t pacer_ns(uint64_t bytes, uint32_t mbps);

/* ---- allocation (engine.c: libc's allocator by default) ----------------- */

extern const struct homa_allocator homa_libc_allocator;

static inline void *mem_calloc(const struct homa_allocator *a, size_t n,
			       size_t size)
{
	return a->calloc(a->ctx, n, size);
}

static inline void *mem_realloc(const struct homa_allocator *a, void *ptr,
				size_t n, size_t size)
{
	return a->realloc(a->ctx, ptr, n, size);
}

static inline void mem_free(const struct homa_allocator *a, void *ptr)
{
	a->free(a->ctx, ptr);
}

/* ---- timer.c ---------------------------------------------------------- */

void timer_tick(struct homa_engine *e, uint64_t now);
void timer_arm(struct homa_engine *e, uint64_t now);

/* ---- engine.c --------------------------------------------------------- */

struct homa_engine {
	struct homa_allocator alloc; /* engine_create_alloc's, or libc's */
	struct homa_params params;
	struct homa_metrics metrics;
	struct homa_engine_ops ops;
	void *ops_ctx;

	/* Sockets: port table and list. */
	struct homa_sock *sock_buckets[SOCK_BUCKETS];
	TAILQ_HEAD(, homa_sock) socks;
	uint32_t nsocks;
	uint16_t next_port; /* next default port to try */

	/*
	 * RPCs: table of live ones; lists of the live ones the tick checks
	 * (least recently asked with a RESEND first), of those a server
	 * application holds (RPC_IN_SERVICE: nothing to check), and of the
	 * dead ones.
	 */
	struct homa_rpc **rpc_buckets; /* [RPC_BUCKETS] */
	struct homa_rpc_list rpcs;
	struct homa_rpc_list in_service;
	struct homa_rpc_list dead;
	uint32_t nrpcs, ndead, nclient, nserver;
	uint64_t next_client_id;
	/* Server RPCs ended after delivering their request (rpc_ended_*):
	 * RPC_ENDED_SLOTS entries, RPC_ENDED_SLOTS bucket heads, the slot
	 * to fill next, the entries filled so far (the others are garbage). */
	struct rpc_ended *ended;
	uint32_t *ended_buckets;
	uint32_t ended_next;
	uint32_t ended_used;

	/* Peers. */
	struct homa_peer **peer_buckets; /* [PEER_BUCKETS] */
	TAILQ_HEAD(, homa_peer) peer_lru;
	uint32_t npeers;

	/* Grants (receiver). */
	struct homa_rpc_list grantable; /* not active, fewest bytes first */
	uint32_t ngrantable;
	struct homa_rpc *active[HOMA_MAX_OVERCOMMIT]; /* SRPT order */
	uint32_t nactive;
	uint64_t total_incoming;
	uint64_t next_fifo_grant; /* time of the next FIFO grant */

	/* Pacer (sender): heap of messages with sendable bytes. */
	struct homa_rpc **heap;
	uint32_t nheap, heap_cap;
	uint64_t link_idle; /* estimated time the NIC queue drains */
	int32_t pacer_fifo_count;
	uint64_t pacer_wake; /* 0: none; else when the pacer may go on */
	uint32_t tx_budget;  /* packets the link takes now (or unlimited) */
	bool tx_held;	     /* the pacer stopped for want of tx_budget */

	/* Batching (engine_batch_begin/end). */
	bool in_batch;	 /* inside a batch: GRANTs wait for its end */
	bool grants_due; /* grant_check deferred to the batch's end */

	/* Pool shares (msgin.c): table, those to retry. */
	struct homa_share **share_buckets; /* [SHARE_BUCKETS] */
	TAILQ_HEAD(, homa_share) share_retry;
	uint32_t nshares;

	/* Timer. */
	bool pool_retry;    /* some socket's pool_retry is set */
	uint64_t next_tick; /* 0: not armed */
	uint64_t ticks;	    /* ticks run so far */

	/* Scratch header space for ops.send. */
	uint8_t hdr[128];
};

/* Send a control packet (prio 7) built in pkt to peer. */
void engine_xmit_control(struct homa_engine *e, struct homa_peer *peer,
			 struct homa_pkt *pkt, uint64_t now);
/* The same to an address we keep no peer state for (peer NULL). */
void engine_xmit_control_to(struct homa_engine *e, const struct homa_addr *dst,
			    struct homa_peer *peer, struct homa_pkt *pkt,
			    uint64_t now);
/* Hand one encoded packet (header in e->hdr) to ops.send and count it. */
void engine_xmit(struct homa_engine *e, const struct homa_addr *dst,
		 struct homa_peer *peer, uint8_t prio, enum homa_type type,
		 size_t hdr_len, const uint8_t *payload, size_t payload_len,
		 const struct homa_rpc *rpc, uint64_t now);
uint8_t engine_clamp_prio(const struct homa_engine *e, unsigned prio);

#endif /* HOMAD_CORE_HOMA_INT_H */
