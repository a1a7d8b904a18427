/*
 * client_int.h - libhomaclient's internals: the pure data structures (tx
 * area allocator, outgoing-message tracking, event queue, addresses),
 * unit-tested without homad, and the socket object the API files share.
 *
 * Nothing here is exported: the shared library exports only hc_* symbols;
 * internal functions are named after their concept (txarea_, txtrack_,
 * evq_, addr_, conn_) and never start with "hc_".
 */
#ifndef HOMAD_LIBCLIENT_CLIENT_INT_H
#define HOMAD_LIBCLIENT_CLIENT_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "homa/client.h"
#include "homa_client.pb-c.h"
#include "homa_shm.h"

/* ---- txarea: extents of the transmit area ---------------------------- */

#define TXAREA_ALIGN 64u /* every extent starts on a cache line */

/* A free extent [off, off + len). */
struct txarea_ext {
	uint64_t off;
	uint64_t len;
};

/*
 * First-fit allocator over [0, size).  Free extents are kept sorted by
 * offset and coalesced; there are never more of them than allocated
 * extents + 1, so the array has room for max_allocs + 1 and freeing never
 * fails.  Not thread-safe (the socket's lock protects it).
 */
struct txarea {
	uint64_t size;		 /* bytes managed (a multiple of the align) */
	uint64_t free_bytes;	 /* sum of the free extents */
	struct txarea_ext *free; /* sorted by off, never adjacent */
	uint32_t nfree;
	uint32_t cap; /* room in free[] */
};

/* -EINVAL (size 0 or max_allocs 0), -ENOMEM. */
int txarea_init(struct txarea *a, uint64_t size, uint32_t max_allocs);
void txarea_destroy(struct txarea *a);
/* The bytes an allocation of len takes (len rounded up to the align). */
uint64_t txarea_round(uint64_t len);
/*
 * Allocate txarea_round(len) bytes (len > 0): *off.  -EMSGSIZE: larger than
 * the area; -ENOSPC: no free extent is large enough now.
 */
int txarea_alloc(struct txarea *a, uint64_t len, uint64_t *off);
/* Free an extent txarea_alloc returned (same len). */
void txarea_free(struct txarea *a, uint64_t off, uint64_t len);
/*
 * Allocate exactly [off, off + txarea_round(len)) (an extent another
 * process allocated, handed over across exec).  -EINVAL: not all free.
 */
int txarea_take(struct txarea *a, uint64_t off, uint64_t len);

/* ---- zmem.c: zero-filled tables backed only where written ----------- */

/* n entries of size bytes, zeroed; NULL (errno) on failure. */
void *zmem_alloc(size_t n, size_t size);
/* Unmap what zmem_alloc(n, size) gave (NULL: nothing). */
void zmem_free(void *p, size_t n, size_t size);

/* ---- txtrack: outgoing messages until homad releases them ------------ */

#define TXTRACK_NONE   UINT32_MAX
#define TXTRACK_INLINE UINT64_MAX /* off of an entry with no tx extent */

enum txe_state {
	TXE_FREE,     /* on the free list */
	TXE_RESERVED, /* tx extent reserved (zero-copy), not sent */
	TXE_SENT,     /* sent with id; homad may read the extent */
};

/* One outgoing message (or a zero-copy reservation). */
struct txe {
	uint64_t id;	/* TXE_SENT: the RPC id the message was sent with */
	uint64_t off;	/* tx extent offset, or TXTRACK_INLINE */
	uint64_t alloc; /* extent length as allocated (0 for inline) */
	uint32_t len;	/* TXE_SENT: message length (counts in out_bytes) */
	uint32_t gen;	/* bumped on every reuse (checks hc_txbuf.gen) */
	uint32_t next;	/* hash chain (SENT) or free list (FREE) */
	uint8_t state;	/* enum txe_state */
	bool released;	/* SENT: homad released one message with this id */
};

/*
 * The messages homad holds, by id, with the socket's outgoing-byte count
 * (homad's wmem).  homad says a message's bytes are free again by its id
 * only (TxReleased); responses of different peers' RPCs may share an id,
 * so a release marks one entry of that id and the extents of an id are
 * freed only when all its entries are marked - never too early.  At most
 * cap entries (max_outstanding).  Not thread-safe.
 */
struct txtrack {
	struct txarea area;
	struct txe *e;
	uint32_t cap;
	uint32_t nused;	    /* entries not free */
	uint32_t free_head; /* free list (of entries used before) */
	uint32_t fresh;	    /* entries [fresh, cap) never used */
	uint32_t *bucket;   /* hash of SENT entries by id */
	uint32_t nbucket;   /* a power of two */
	uint64_t out_bytes; /* sum of len of SENT entries */
};

/* -EINVAL, -ENOMEM. */
int txtrack_init(struct txtrack *t, uint64_t area_size, uint32_t cap);
void txtrack_destroy(struct txtrack *t);
/*
 * Take an entry with a tx extent of size bytes (0: an inline message, no
 * extent) in state RESERVED: *slot.  -EMSGSIZE: size exceeds the area;
 * -ENOSPC: no entry or no extent free now.
 */
int txtrack_reserve(struct txtrack *t, uint64_t size, uint32_t *slot);
/* Give back a RESERVED entry and its extent. */
void txtrack_cancel(struct txtrack *t, uint32_t slot);
/* The RESERVED entry slot was sent as message id of len bytes: SENT. */
void txtrack_commit(struct txtrack *t, uint32_t slot, uint64_t id,
		    uint32_t len);
/* Undo txtrack_commit (the send failed): RESERVED again. */
void txtrack_uncommit(struct txtrack *t, uint32_t slot);
/*
 * homad released one message of id.  Returns the number of entries freed
 * (0 when another entry with the same id is still held, or none matched).
 */
unsigned txtrack_release(struct txtrack *t, uint64_t id);
/* Whether a message of len bytes fits under wmem_max now (homad's rule). */
bool txtrack_wmem_ok(const struct txtrack *t, uint64_t len, uint64_t wmem_max);
/* An entry is free (reserve would not fail with -ENOSPC for want of one). */
static inline bool txtrack_has_free(const struct txtrack *t)
{
	return t->free_head != TXTRACK_NONE || t->fresh < t->cap;
}
/* slot with generation gen, if it is RESERVED; else NULL. */
struct txe *txtrack_reserved(struct txtrack *t, uint32_t slot, uint32_t gen);

/* ---- evq: received events waiting for their thread ------------------- */

/* A Delivered or Failed event, as the library keeps it. */
struct evq_ev {
	uint64_t id;
	uint64_t cookie;
	int error; /* 0: a message; else the RPC's positive errno */
	uint8_t addr[16];
	uint8_t addr_len; /* 4 or 16; 0 for failures */
	uint16_t port;
	uint32_t length;
	uint32_t num_bpages;
	uint32_t bpage_offsets[HC_MAX_BPAGES];
};

/* A private RPC whose response someone may wait for. */
struct evq_priv {
	uint64_t id;
	bool ready; /* ev holds the response */
	uint32_t next;
	struct evq_ev ev;
};

/*
 * Events for hc_recv(any): a FIFO ring that grows up to limit entries;
 * private responses: one slot per outstanding private RPC (at most
 * priv_cap), hashed by id, filled when the response arrives and emptied
 * when a waiter takes it.  Not thread-safe.
 */
struct evq {
	struct evq_ev *ring;
	uint32_t ring_cap; /* allocated, a power of two */
	uint32_t head;
	uint32_t count;
	uint32_t limit; /* ring never holds more */

	struct evq_priv *priv;
	uint32_t priv_cap;
	uint32_t npriv;
	uint32_t priv_free;  /* freed slots */
	uint32_t priv_fresh; /* slots [priv_fresh, priv_cap) never used */
	uint32_t *bucket;
	uint32_t nbucket;
};

/* -EINVAL (limit or priv_cap 0), -ENOMEM. */
int evq_init(struct evq *q, uint32_t limit, uint32_t priv_cap);
void evq_destroy(struct evq *q);
/* Append ev.  -ENOBUFS: limit reached; -ENOMEM. */
int evq_push(struct evq *q, const struct evq_ev *ev);
/* Take the oldest event.  -EAGAIN: empty. */
int evq_pop(struct evq *q, struct evq_ev *ev);
/* Drop every queued event, handing each to fn first (fn may be NULL). */
void evq_clear(struct evq *q, void (*fn)(void *, const struct evq_ev *),
	       void *arg);
/* A slot for private RPC id.  -ENOBUFS: priv_cap reached; -EEXIST. */
int evq_priv_add(struct evq *q, uint64_t id);
/* Whether id has a slot. */
bool evq_priv_has(const struct evq *q, uint64_t id);
/*
 * The response of private RPC ev->id arrived: 0 (stored), -ENOENT (no slot:
 * not private, or forgotten), -EEXIST (the slot already holds one).
 */
int evq_priv_fill(struct evq *q, const struct evq_ev *ev);
/* 0: *ev is id's response, the slot is gone; -EAGAIN: not yet; -ENOENT. */
int evq_priv_take(struct evq *q, uint64_t id, struct evq_ev *ev);
/* Forget the slots still waiting, of id (0: all).  Returns how many. */
unsigned evq_priv_forget(struct evq *q, uint64_t id);
/* Drop every slot, handing filled ones to fn first (fn may be NULL). */
void evq_priv_clear(struct evq *q, void (*fn)(void *, const struct evq_ev *),
		    void *arg);

/* ---- drx: direct receive's tables ----------------------------------- */

/* A client RPC whose response the library may receive itself. */
struct drxt_e {
	uint64_t id; /* 0: free */
	uint64_t cookie;
	uint8_t addr[16]; /* the server: IPv6, IPv4 v4-mapped */
	uint16_t port;	  /* its port */
	bool priv;
	uint32_t next; /* hash chain, or free list */
};

/*
 * The socket's client RPCs not yet answered, by id, with what a response
 * must match (server address and port) and what its delivery carries
 * (cookie, private).  At most cap entries.  Not thread-safe.
 */
struct drxtrack {
	struct drxt_e *e;
	uint32_t cap;
	uint32_t n;
	uint32_t free_head; /* freed entries */
	uint32_t fresh;	    /* entries [fresh, cap) never used */
	uint32_t *bucket;
	uint32_t nbucket; /* a power of two */
};

/* -EINVAL (cap 0), -ENOMEM. */
int drxtrack_init(struct drxtrack *t, uint32_t cap);
void drxtrack_destroy(struct drxtrack *t);
/* Track RPC id (even, not 0).  -ENOBUFS: full; -EEXIST; -EINVAL. */
int drxtrack_add(struct drxtrack *t, uint64_t id, uint64_t cookie,
		 const uint8_t addr[16], uint16_t port, bool priv);
/* The entry of id, or NULL. */
const struct drxt_e *drxtrack_find(const struct drxtrack *t, uint64_t id);
/* Forget id (0: all): true if it was there (id 0: if any was). */
bool drxtrack_del(struct drxtrack *t, uint64_t id);

/*
 * The slots of the library's own receive area: n slots (n <= DRX_SLOTS_MAX)
 * of size bytes each, none crossing a 64 KiB boundary; slot i lies at
 * drxslots_offset(i) from the area's start.  Not thread-safe.
 */
#define DRX_SLOTS_MAX 512u
struct drxslots {
	uint32_t size;	   /* bytes of one slot (a multiple of 64) */
	uint32_t per_page; /* slots in one 64 KiB page */
	uint32_t n;
	uint32_t used;
	uint64_t bits[DRX_SLOTS_MAX / 64];
};

/* Slots of size bytes (1 .. 64 KiB) for n messages: -EINVAL. */
int drxslots_init(struct drxslots *sl, uint32_t size, uint32_t n);
/* Bytes of area the slots span. */
uint64_t drxslots_bytes(const struct drxslots *sl);
/* A free slot's index (taken), or -ENOSPC. */
int drxslots_alloc(struct drxslots *sl);
uint64_t drxslots_offset(const struct drxslots *sl, uint32_t i);
/* The slot starting at off, freed: 0, or -EINVAL (no such slot taken). */
int drxslots_free(struct drxslots *sl, uint64_t off);

/* What the library reads of a direct packet (host order). */
struct drx_in {
	uint8_t src[16]; /* the sender, v4-mapped */
	uint16_t sport, dport;
	bool request; /* a request (even sender_id), else a response */
	/* sender_id ^ 1: our (even) client id, or the (odd) server RPC's */
	uint64_t id;
	uint64_t ack_id; /* requests: the ack's client id (0: none) */
	uint16_t ack_port;
	uint32_t length;
	uint16_t cutoff_version;
	uint8_t pad[3];
	const uint8_t *payload; /* length bytes, inside the packet */
	const uint8_t *homa;	/* the packet from its Homa header on */
	size_t homa_len;
};

/*
 * Check p[0..len), a raw IPv4 read (IP header on), for what a receive
 * socket's filter lets through (proto/homa_shm.h: a whole single-packet
 * response with no ack, or a whole single-packet request; its key and
 * port are the filter's to check): 0 with *in, or -EINVAL.  Never trusts
 * the bytes.
 */
int drx_parse(const void *p, size_t len, struct drx_in *in);

/*
 * The requests a request socket took lately (drx.c): (id, client, port)
 * of the last cap, oldest forgotten first.  A copy of one of those (the
 * client sent it again) is not handed to the application twice; homad
 * refuses the older ones it still knows.
 */
struct srxseen_e {
	uint64_t id;
	uint8_t addr[16];
	uint16_t port;
	uint32_t next; /* in its bucket */
};
struct srxseen {
	struct srxseen_e *e;
	uint32_t *bucket; /* 2 * cap, a power of two */
	uint32_t cap, n;
	uint32_t pos; /* the entry taken next (the oldest once full) */
};
int srxseen_init(struct srxseen *t, uint32_t cap);
void srxseen_destroy(struct srxseen *t);
/* Was (id, addr, port) taken lately? */
bool srxseen_has(const struct srxseen *t, uint64_t id, const uint8_t addr[16],
		 uint16_t port);
/* It is taken now (not had): the oldest is forgotten when full. */
void srxseen_add(struct srxseen *t, uint64_t id, const uint8_t addr[16],
		 uint16_t port);

/* ---- addr: sockaddr <-> protocol addresses --------------------------- */

/*
 * The protocol form of sa for a socket of family: addr (4 bytes for
 * AF_INET sockets, 16 for AF_INET6 ones), *addr_len, *port.
 * -EAFNOSUPPORT: sa's family differs from the socket's; -EINVAL: sa NULL,
 * len too short, port 0 or >= 65536.
 */
int addr_from_sockaddr(int family, const struct sockaddr *sa, socklen_t len,
		       uint8_t addr[16], uint8_t *addr_len, uint16_t *port);
/* addr (4 or 16 bytes) as 16: an IPv4 address v4-mapped. */
void addr_to16(uint8_t out[16], const uint8_t *addr, size_t addr_len);
/* Is addr (4 or 16 bytes) an IPv4 address (4 bytes, or v4-mapped)? */
bool addr_is_ipv4(const uint8_t *addr, size_t addr_len);
/*
 * The sockaddr for a peer of a socket of family: sockaddr_in for AF_INET
 * sockets (a v4-mapped 16-byte address is unmapped), sockaddr_in6 for
 * AF_INET6 (a 4-byte address is mapped).  -EINVAL: addr_len not 4/16, or a
 * non-mapped IPv6 address for an AF_INET socket.
 */
int addr_to_sockaddr(int family, const uint8_t *addr, size_t addr_len,
		     uint16_t port, struct sockaddr_storage *out,
		     socklen_t *out_len);

/* ---- the socket ------------------------------------------------------ */

/* Direct receive: packets one read takes, the most one packet has. */
#define DRX_BATCH   4
#define DRX_PKT_MAX 65536
/* Slots of the library's own area: how many, their size's bounds (one
 * packet's payload at MTU 1500 and 9000, rounded to 64). */
#define DRX_SLOTS    256u
#define DRX_SLOT_MIN 1472u
#define DRX_SLOT_MAX 8960u
/* Packets waiting to go to homad at most. */
#define DRX_FALLBACK_MAX 32
/* Requests a request socket remembers having taken (srxseen). */
#define SRX_SEEN 1024u

/* A packet for homad (DirectPacket). */
struct drx_fb {
	uint8_t *pkt; /* from the Homa header on, malloc'ed */
	size_t len;
	uint8_t src[4];
};

#define CONN_RECYCLE_BATCH 64 /* recycle offsets sent at once, at least */
/* Recycle offsets in one datagram, at most. */
#define CONN_RECYCLE_CAP (CONN_RECYCLE_BATCH + 2 * HC_MAX_BPAGES)
/* homad's chunk alignment: a pool of B bytes lends at most B / 64 chunks. */
#define CONN_RECYCLE_ALIGN 64u

enum conn_cmd {
	CONN_CMD_PLAIN,	   /* only the result matters */
	CONN_CMD_BIND,	   /* Reply.port is the new port */
	CONN_CMD_ABORT,	   /* silent abort: forget private slots */
	CONN_CMD_INFO,	   /* keep the reply for the caller */
	CONN_CMD_MORE_IDS, /* Reply.ids is the next block (s->more_ids) */
	CONN_CMD_SHUTDOWN, /* the socket is shut down */
};

/* A command waiting for its Reply. */
struct conn_call {
	uint64_t seq;
	enum conn_cmd kind;
	uint64_t abort_id; /* CONN_CMD_ABORT */
	int abort_err;
	bool done;
	int error;			 /* positive errno of the Reply */
	Homa__Client__DaemonMsg *answer; /* CONN_CMD_INFO: owned by caller */
	struct conn_call *next;
};

/* A wait's end: forever, not at all, or at a CLOCK_MONOTONIC time. */
struct conn_deadline {
	enum { DL_FOREVER, DL_NOW, DL_AT } kind;
	struct timespec at;
};

/* Datagrams one read of the connection takes at most (recvmmsg). */
#define CONN_RX_BATCH 4
/* Descriptors one datagram from homad may bring (a Bind's Reply: 1). */
#define CONN_MAX_FDS 4

struct hc_sock {
	pthread_mutex_t lock; /* protects everything below but the consts */
	pthread_cond_t cond;  /* broadcast whenever the state changed */

	int fd;	    /* const: the SOCK_SEQPACKET connection */
	int family; /* const */
	unsigned port;
	uint8_t *rxmap; /* const: receive pool, PROT_READ */
	uint64_t rx_size;
	bool rx_fixed; /* const: rxmap is the caller's range (conn_open) */
	int rx_fd;     /* const: kept memfds (conn_open keep_fds), else -1 */
	int tx_fd;
	uint8_t *txmap; /* const: transmit area, read-write */
	uint64_t tx_size;
	uint32_t max_inline; /* const, from OpenReply */
	bool takes_recycle;  /* const: homad reads ClientMsg.recycle_offsets */
	uint64_t wmem_max;   /* const, from OpenReply */
	uint32_t soft_events;
	uint32_t hard_events;

	/* Client RPC ids: the current block and the next one. */
	uint64_t id_next;
	uint32_t id_left;
	uint32_t id_block; /* size of the first block (refill threshold) */
	uint64_t next_first;
	uint32_t next_count;
	bool more_ids_busy; /* a MoreIds is in flight */
	int more_ids_err;   /* its failure (positive errno), sticky */
	struct conn_call more_ids;

	uint64_t seq;		 /* last seq used */
	struct conn_call *calls; /* waiting for their Reply */
	bool reading;		 /* a thread reads the connection */
	bool shut;		 /* hc_shutdown done */
	int dead;		 /* 0, or why the connection is gone */
	unsigned nsend;		 /* sends since the connection was read */

	struct evq q;
	struct txtrack tx;
	/*
	 * Recycled offsets not yet sent (grown on demand, see
	 * conn_recycle_room): recycle[0..nrecycle), and recycle_out more
	 * taken by a sender, which puts back those it could not send.
	 */
	uint32_t *recycle;
	unsigned nrecycle, recycle_cap, recycle_out;
	uint64_t pins; /* bpage offsets delivered, not yet sent back */

	/*
	 * The reader's datagrams: CONN_RX_BATCH slots of
	 * HOMA_CLIENT_MAX_DATAGRAM (one read takes what is there, up to that
	 * many), their lengths; rx_more: the last read filled every slot it
	 * offered (more may wait), else it emptied the connection.
	 */
	uint8_t *rbuf;
	uint32_t rlen[CONN_RX_BATCH];
	int rfds[CONN_RX_BATCH]; /* the descriptor each brought, or -1 */
	bool rx_more;
	/*
	 * The reader's (no lock): the connection's SO_RCVTIMEO as the library
	 * set it (ms, 0 none, -1 not yet), relied on only while rcvtimeo_own:
	 * the library made the connection and the process has not forked
	 * since (forks: conn_forks then).  A timed wait then blocks in recv.
	 */
	int rcvtimeo_ms;
	bool rcvtimeo_own;
	unsigned forks;
	char errtext[256];
	uint64_t proto_errors; /* bad datagrams from homad, dropped */

	void (*log)(void *arg, int level, const char *text);
	void *log_arg;

	/* Direct send (direct.c), when homad granted it: the send-only
	 * socket (IPv4 peers; IPv6 peers: dfd6, -1 if none), the ring
	 * (records written: dhead), homad's peer table. */
	int dfd;
	int dfd6;
	struct homa_direct_ring *dring;
	const struct homa_direct_table *dtab;
	uint64_t dhead;
	uint64_t direct_sent; /* messages sent directly */
	/* The last response delivered (conn.c): its ack rides in the next
	 * direct request to the same peer and port (0: none). */
	uint64_t dack_id;
	uint16_t dack_port;
	uint8_t dack_addr[16]; /* IPv6, IPv4 v4-mapped */

	/* Direct receive (drx.c), when homad granted it: the receive
	 * socket (-1: none, or stopped by a bind or shutdown), the epoll
	 * descriptor hc_fd gives then (the connection and that socket; it
	 * lives until hc_close), the port the socket's filter names. */
	int rfd;
	int epfd;
	uint16_t drx_port;
	bool drx_ever;	   /* granted once: client RPCs are tracked */
	bool drx_parked;   /* rfd bound to DRX_PARK_ADDR (drx.c) */
	uint32_t drx_home; /* rfd's own address, network order */
	struct drxtrack drx_rpcs;
	struct drxslots drx_slots;
	uint64_t drx_bytes; /* the area mapped after the pool (0: none) */
	/* The reader's packets (DRX_BATCH x DRX_PKT_MAX), their lengths. */
	uint8_t *drx_buf;
	uint32_t drx_len[DRX_BATCH];
	unsigned drx_n;
	/* Packets for homad (DirectPacket commands) not sent yet. */
	struct drx_fb fb[DRX_FALLBACK_MAX];
	unsigned nfb;
	uint64_t drx_received, drx_fallback, drx_stale, drx_dropped;
	/* Direct receive of requests: rfd is the request socket (after a
	 * Bind; never parked), what it took lately, requests received
	 * directly, copies dropped.  in_fd: a descriptor that came with the
	 * datagram being handled (conn.c), -1. */
	bool srx;
	bool srx_off;  /* hc_set_server(false) */
	bool srx_lost; /* granted, but its descriptor did not come */
	struct srxseen srx_seen;
	uint64_t srx_received, srx_copies;
	int in_fd;
	/* Tests: drop this share (per 2^32) of what the socket reads
	 * ($HOMA_TEST_DRX_DROP), as homad's test.rx_drop does. */
	uint32_t drx_test_drop;
	uint32_t drx_test_seed;
};

/* ---- direct.c: direct send ------------------------------------------- */

/* What homad's table says of a peer (or the rule for unknown peers). */
struct direct_peer_info {
	uint32_t cutoffs[8];
	uint16_t cutoff_version;
	bool homad;
};

/* One directly sent message's packet. */
struct direct_pkt {
	bool response;
	bool priv;
	uint64_t id;
	uint64_t cookie;
	uint64_t tx_offset;
	uint32_t length;
	uint16_t sport, dport;
	uint8_t addr[16]; /* IPv6, IPv4 v4-mapped */
	uint8_t prio;	  /* direct_prepare's */
	uint16_t cutoff_version;
	uint8_t flags;	 /* DATA pad[2] */
	uint64_t ack_id; /* the DATA's ack (of an RPC to dport), 0: none */
};

/* Map the ring and table of fds [socket, ring, table, IPv6 socket] (the
 * last one -1 if none); the sockets are s's then: 0, -errno. */
int direct_setup(struct hc_sock *s, const int fds[4]);
void direct_teardown(struct hc_sock *s);
/* Can a message of len bytes to addr go directly now? */
bool direct_fits(const struct hc_sock *s, size_t len, uint8_t addr_len,
		 const uint8_t *addr);
/* The table's entry of addr: 0, or -ENOENT (out: the default rule). */
int direct_peer(const struct homa_direct_table *t, const uint8_t addr[16],
		struct direct_peer_info *out);
/* Unscheduled priority of a message of length to p (the engine's rule). */
uint8_t direct_prio(const struct direct_peer_info *p, uint32_t length,
		    uint32_t num_priorities);
/* The IPv4 + DATA headers of d into hdr[0..cap): bytes, 0 if too small
 * (only the ip link's IPv4 socket sends the IPv4 header). */
size_t direct_build(const struct direct_pkt *d, uint8_t *hdr, size_t cap);
/* The response of our RPC id from addr:port arrived (lock held): its ack
 * may ride in the next direct request there. */
void direct_note_done(struct hc_sock *s, uint64_t id, const uint8_t *addr,
		      uint8_t addr_len, uint16_t port);
/* Fill d's prio, version, flags, ack and the ring record rec from the
 * table (lock held). */
int direct_prepare(struct hc_sock *s, struct direct_pkt *d,
		   struct homa_direct_rec *rec);
/* Publish rec (lock held): 0, -ENOBUFS (ring full: use the command). */
int direct_record(struct hc_sock *s, const struct homa_direct_rec *rec);
/* Is homad asleep with no wake-up due soon (lock not needed)? */
bool direct_doorbell_due(const struct hc_sock *s);
/* Send d's packet with payload (lock not needed): 0, -errno. */
int direct_xmit(struct hc_sock *s, const struct direct_pkt *d,
		const void *payload);

/* ---- drx.c: direct receive (the socket's lock held unless noted) ----- */

/*
 * An address range for a pool of rx_size bytes with the library's area
 * after it (*drx_bytes), read-write private memory; NULL if none (the
 * pool's 32-bit offsets would not reach it, or no memory).  No lock.
 */
void *drx_reserve(uint64_t rx_size, uint64_t *drx_bytes);
/* Start direct receive with receive socket fd (taken over on success). */
int drx_setup(struct hc_sock *s, int fd);
/* Close the receive socket (a bind or shutdown ended direct receive). */
void drx_stop(struct hc_sock *s);
/* homad gave a request socket with the Bind's Reply: read it from now on
 * (it replaces rfd). */
void drx_serve(struct hc_sock *s, int fd);
/* Ask for a request socket with a Bind? */
bool drx_may_serve(const struct hc_sock *s);
void drx_teardown(struct hc_sock *s);
/* Read what the receive socket has, without waiting (the reader, no
 * lock): how many packets (in s->drx_buf, lengths in s->drx_len). */
int drx_read(struct hc_sock *s);
/* Handle the n packets drx_read returned. */
void drx_handle(struct hc_sock *s, unsigned n);
/* Send the packets queued for homad, as far as the socket takes them. */
void drx_flush(struct hc_sock *s);
/* Track client RPC id, sent to addr:port (no-op without direct
 * receive), unparking the receive socket first: 0, -ENOBUFS, -EEXIST,
 * -EINVAL, or the unparking bind's -errno. */
int drx_track(struct hc_sock *s, uint64_t id, uint64_t cookie,
	      const uint8_t *addr, uint8_t addr_len, uint16_t port, bool priv);
/*
 * homad reports client RPC id (even) done (Delivered, Failed): true when
 * the library has not ended it itself (deliver the event), false when it
 * has (a response received directly: drop it).  Odd ids: true.
 */
bool drx_settled(struct hc_sock *s, uint64_t id);
/* No client RPC waits for a response any more: park the receive socket
 * (drx.c: a parked socket costs the host's packets nothing). */
void drx_idle(struct hc_sock *s);
/* off is in the library's area: its slot freed (true); else false. */
bool drx_recycle(struct hc_sock *s, uint32_t off);

/* conn.c: a message or failure for the application (lock held). */
void conn_route(struct hc_sock *s, const struct evq_ev *ev, bool priv);

/* ---- client.c: opening for other libraries (the preload) ----------- */

/*
 * What conn_open does beyond hc_open: a connection the caller already made,
 * a receive pool the caller created, mapped over the caller's range.
 */
struct conn_open_ext {
	/*
	 * A connected SOCK_SEQPACKET socket to homad's client socket, which
	 * the socket takes over (closed by hc_close, and on failure); -1:
	 * connect as hc_open does.
	 */
	int fd;
	/*
	 * A sealed memfd of opts->rx_pool_bytes for the receive pool, or -1:
	 * create one.  Not taken over: the caller closes it.
	 */
	int rx_fd;
	/*
	 * Map the pool at exactly this address (MAP_FIXED, read-write: the
	 * range becomes the pool, its old contents are gone); NULL: anywhere,
	 * read-only.  hc_close leaves a fixed range mapped (the caller's).
	 */
	void *rx_at;
	/* Keep dups of both memfds (CLOEXEC) in s->rx_fd, s->tx_fd. */
	bool keep_fds;
};

/* hc_open with ext (NULL: exactly hc_open).  Errors as hc_open. */
int conn_open(struct hc_sock **out, int family, const struct hc_options *opts,
	      const struct conn_open_ext *ext);

/* ---- handoff.c: a socket's state across exec ------------------------ */

/*
 * Write s's state (everything but its regions and connection: ids, events
 * and private responses not yet collected, outgoing messages homad may
 * still read, bpages to give back) to fd, a file at its current offset.
 * Takes s->lock.  0, -errno (-EOPNOTSUPP: s has had direct receive).
 */
int handoff_export(struct hc_sock *s, int fd);
/*
 * Make a socket of the state handoff_export wrote to statefd (read from
 * its current offset), on connection fd (taken over: closed on failure),
 * with the regions' memfds rx_fd and tx_fd (dup'ed, kept in s).  The pool
 * is mapped at rx_at (MAP_FIXED_NOREPLACE, read-write) when not NULL and
 * free, else anywhere.  0, -errno (-EPROTO: not such a state).
 */
int handoff_import(struct hc_sock **out, int statefd, int fd, int rx_fd,
		   int tx_fd, void *rx_at);

/* conn.c: the connection to homad (all with s->lock held unless noted). */
void conn_set_error(struct hc_sock *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void conn_log(struct hc_sock *s, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void conn_deadline_ms(struct conn_deadline *dl, int timeout_ms);
/*
 * Make progress toward a waiter's goal: read and handle one datagram if no
 * other thread is reading (and the queue has room: specific waiters may
 * go up to hard_events), else wait for the state to change.  0: something
 * may have changed; -EAGAIN: the deadline passed; -ECONNRESET: dead.
 * poll_cap_ms > 0 bounds a single wait (for goals local actions can meet).
 */
int conn_step(struct hc_sock *s, const struct conn_deadline *dl, bool specific,
	      int poll_cap_ms);
/* Read what is there without waiting (at most max datagrams). */
void conn_drain(struct hc_sock *s, unsigned max);
/*
 * s's connection is the library's own (conn_open made it): timed waits
 * may block in recv with SO_RCVTIMEO until the process forks.
 */
void conn_own_timeo(struct hc_sock *s);
/*
 * Wait (lock held; dropped meanwhile) until the connection may have room
 * for a datagram, for at most a short while (a few tens of ms) or until
 * dl: unless another thread reads the connection or the event queue is
 * full, read and handle homad's datagrams meanwhile, so that homad, which
 * stops reading a client that does not read its events, gets on.  The
 * caller re-tries its send.  0, -EAGAIN (dl passed), -ECONNRESET.
 */
int conn_wait_send(struct hc_sock *s, const struct conn_deadline *dl);
/*
 * Send m (s->lock NOT held), with the batched recycles piggy-backed.
 * Never blocks in send(): when the socket is full, -EAGAIN if nonblock,
 * else it waits in conn_wait_send.  -EAGAIN, -EMSGSIZE, -ECONNRESET,
 * -ENOMEM.
 */
int conn_send(struct hc_sock *s, const Homa__Client__ClientMsg *m,
	      bool nonblock);
/*
 * Send a seq'd command and wait for its Reply (s->lock NOT held).  Returns
 * 0 or -errno from the Reply (its text in s->errtext), -ECONNRESET.
 */
int conn_call(struct hc_sock *s, Homa__Client__ClientMsg *m,
	      struct conn_call *c);
/*
 * Send the batched recycles now, without waiting (s->lock held; dropped
 * and retaken), one datagram of CONN_RECYCLE_CAP after another.  -EAGAIN
 * (socket full: the rest stays batched), -ENOMEM, -ECONNRESET.
 */
int conn_flush_locked(struct hc_sock *s);
/* conn_flush_locked, waiting for room (conn_wait_send) when full. */
int conn_flush_wait(struct hc_sock *s);
/*
 * Whether the batched recycles must go before this thread sleeps: the
 * batch is full, or the pool is tight (fewer than 2 * HC_MAX_BPAGES bpages
 * not pinned by the socket), so homad might wait for them.
 */
bool conn_recycle_due(const struct hc_sock *s);
/*
 * Take a client RPC id (lock held).  Waits (until dl) only when the block
 * is used up: for room to ask for more, or for the MoreIds Reply.
 * -EAGAIN, -ECONNRESET, -ESHUTDOWN, or MoreIds' error.
 */
int conn_take_id(struct hc_sock *s, const struct conn_deadline *dl,
		 uint64_t *id);
/*
 * Ask for the next id block if due (half the first block's size left) and
 * none is in flight (lock held; dropped while sending).  Never waits:
 * -EAGAIN when the socket is full (asked again on the next take).
 */
int conn_refill_ids(struct hc_sock *s);
/* The event's bpages back to homad (batched), unless shut down or dead. */
void conn_recycle_ev(void *s, const struct evq_ev *ev);
/*
 * Batch off[0..n) for homad, sending what is due without waiting: the batch
 * grows while the socket is full (homad stops reading a client whose
 * events wait, and the caller may be the thread that must take them).
 */
void conn_recycle_add(struct hc_sock *s, const uint32_t *off, unsigned n);

#endif /* HOMAD_LIBCLIENT_CLIENT_INT_H */
