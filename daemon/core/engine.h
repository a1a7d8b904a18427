/*
 * engine.h - the public contract of homad's sans-I/O Homa engine.
 *
 * The engine holds every rule of Homa and nothing else: no syscalls, no
 * clock reads, no globals.  The caller (homad's data plane, the simulator,
 * the fuzzers) feeds it
 *   - received packets (engine_rx) and ICMP errors (engine_icmp_error),
 *   - application commands (engine_sock_*, engine_send_request,
 *     engine_send_response, engine_abort, engine_recycle),
 *   - clock ticks (engine_tick at engine_next_deadline),
 * always passing the current time `now` (ns, any monotonic origin).
 *
 * Outputs go through the callbacks of struct homa_engine_ops, called
 * synchronously from inside those entry points: packets to send (with
 * their priority; DATA payload by reference into the message's buffer, no
 * copy), deliveries of complete messages and failed RPCs, the release of
 * outgoing message buffers, send-space events, and "answer this packet
 * with ICMP port unreachable".  A callback must not call back into the
 * engine; a caller that wants to act on a delivery (reply, recycle) queues
 * it and acts after the entry point returns.
 *
 * Memory ownership:
 *   - Receive pool: the caller owns the region given to engine_sock_set_pool
 *     and keeps it mapped until the socket is closed.  The engine writes
 *     message bytes into it and accounts for its 64 KiB bpages; a delivered
 *     message's bpages belong to the application until it hands them back
 *     with engine_recycle (each offset exactly once).
 *   - Outgoing messages: the caller lends the bytes of a struct
 *     homa_msgbuf to the engine on a successful send; they must stay valid
 *     and unchanged until ops.tx_release(cookie).  The engine never copies
 *     them except into the scratch header it hands to ops.send (DATA payload
 *     is passed by pointer into the buffer).  A caller whose link sends
 *     asynchronously must itself keep the bytes of packets in flight valid
 *     after tx_release (e.g. by reference-counting the extent).
 */
#ifndef HOMAD_CORE_ENGINE_H
#define HOMAD_CORE_ENGINE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "wire.h"

#define HOMA_BPAGE_SHIFT      16
#define HOMA_BPAGE_SIZE	      (1u << HOMA_BPAGE_SHIFT)
#define HOMA_MAX_BPAGES	      16
#define HOMA_MIN_DEFAULT_PORT 0x8000
#define HOMA_MAX_OVERCOMMIT   128 /* upper bound of max_overcommit */
#define HOMA_MAX_RATE_RULES   32  /* per-peer pacing rules */

/* A host address; IPv4 addresses are held v4-mapped (::ffff:a.b.c.d). */
struct homa_addr {
	struct in6_addr in6;
};

/*
 * A pacing cap for the peers inside prefix/prefix_len (IPv4 prefixes are
 * written v4-mapped, prefix_len counted over the 128 bits, i.e. 96 + n).
 * The first matching rule wins.
 */
struct homa_rate_rule {
	struct homa_addr prefix;
	uint8_t prefix_len; /* 0..128 */
	uint32_t mbps;	    /* cap for each such peer, Mbit/s (> 0) */
};

/*
 * Protocol parameters, with the kernel module's defaults (spec/protocol.md,
 * names as in homa.conf).  Filled by the config module; validated there.
 */
struct homa_params {
	uint32_t link_mbps;		    /* [25000] link speed, Mbit/s */
	uint32_t unsched_bytes;		    /* [40000] unscheduled bytes */
	uint32_t max_nic_est_backlog_usecs; /* [5] pacer: hold beyond this */
	uint32_t max_nic_queue_usecs;	    /* [40] pacer: hard cap */
	uint32_t defer_min_bytes;	    /* [1000] never pace shorter */
	uint32_t pacer_fifo_fraction;	    /* [50] per mille to oldest */
	uint32_t max_overcommit;	    /* [8] messages granted at once */
	/*
	 * [0] Bytes granted (or unscheduled) but not yet received, over all
	 * messages.  0: derived from link_mbps (engine_max_incoming).
	 */
	uint32_t max_incoming;
	uint32_t max_sched_prio;       /* [3] highest scheduled level */
	uint32_t num_priorities;       /* [8] levels in use */
	uint32_t fifo_grant_increment; /* [50000] bytes per FIFO grant */
	uint32_t grant_fifo_fraction;  /* [50] per mille of link */
	uint32_t unsched_cutoffs[HOMA_NUM_PRIORITIES]; /* by level */
	uint32_t cutoff_version;    /* [1] version of our cutoffs */
	uint32_t resend_ticks;	    /* [5] silent ticks to RESEND */
	uint32_t resend_interval;   /* [5] ticks between RESENDs */
	uint32_t timeout_ticks;	    /* [100] silent ticks to abort */
	uint32_t request_ack_ticks; /* [2] ticks to first NEED_ACK */
	uint32_t reap_limit;	    /* [10] dead RPCs per reap */
	uint32_t dead_buffs_limit;  /* [5000] force harder reaping */
	uint64_t wmem_max;	    /* [100000000] tx bytes/socket */
	uint32_t tick_usecs;	    /* [1000] timer tick */

	/* --- homad's own, not the module's sysctls (homa.conf keys too) --- */
	/*
	 * [1500] Bytes of an IP packet available to Homa, IP header included
	 * (UDP link: the MTU minus 8).  DATA payload per packet is this minus
	 * the IP header (20 for IPv4 peers, 40 for IPv6) minus 56.  Range
	 * 576..65535.
	 */
	uint32_t mtu;
	uint32_t max_rpcs;	    /* [100000] live RPCs on this host */
	uint32_t max_rpcs_per_peer; /* [10000] server RPCs one peer may hold */
	/*
	 * [50] Percent of a socket's receive pool that the undelivered
	 * messages of one peer may hold; a peer that holds none there may
	 * always start one.  1..100 (a homad limit: the module has none).
	 */
	uint32_t peer_pool_percent;
	uint32_t max_peers;   /* [10000] peer table entries */
	uint32_t max_sockets; /* [4096] open sockets */
	uint32_t max_gaps;    /* [256] gaps tracked per message */
	/*
	 * [10] A server RPC whose response was sent ends silently after
	 * need_ack_timeout × timeout_ticks ticks of unanswered NEED_ACKs (a
	 * homad bound; the module waits forever).  0: never.
	 */
	uint32_t need_ack_timeout;
	/*
	 * [10] An RPC silent for timeout_ticks fails (a client: ETIMEDOUT)
	 * only if its peer sent nothing at all in those ticks; while the peer
	 * talks (it is alive, maybe busy), the RPC is given up only once this
	 * many of its RESEND rounds in a row went unanswered (no DATA, GRANT
	 * or BUSY for it).  0: never (a homad rule: the module times out after
	 * timeout_ticks whatever the peer does).  Range 0..10000.
	 */
	uint32_t live_peer_resends;
	/*
	 * [1000] A homad rule: before a peer silent for timeout_ticks is taken
	 * for dead, its host's kernel is asked whether the host is up (an
	 * ICMP echo request, ops.probe, from half of timeout_ticks of the
	 * peer's silence on).  While the host answers, its homad is alive but
	 * kept from running (a busy machine) or stopped, and its RPCs wait
	 * until the peer has been silent this many ticks; a host that answers
	 * nothing still fails them after timeout_ticks.  0: no probes (a peer
	 * silent for timeout_ticks is dead).  Range 0 or timeout_ticks + 1 ..
	 * 1000000.
	 */
	uint32_t stalled_peer_ticks;
	/*
	 * [16] RESEND rounds (one RPC's RESENDs for its gaps and tail) sent to
	 * one peer in one tick; the RPCs over it send theirs in the next
	 * tick.  0: no limit.  Range 0..100000 (a homad limit).
	 */
	uint32_t resend_peer_limit;
	/*
	 * [4000] A receiver grants a peer (granted or unscheduled, not yet
	 * received) at most what the peer has shown it can deliver (its
	 * fastest arrival rate of the last 100-200 ms) in this many
	 * microseconds or four of its round trips (peer_grant_cap).  0: no
	 * per-peer cap (the module's policy).  Range 0..1000000.
	 */
	uint32_t peer_window_usecs;
	/*
	 * [0] Grant pacing: for 200 ms after a peer lost data of ours, a
	 * sender paces what it sends to it at this many times the rate at
	 * which the peer's grants came while our messages waited for them
	 * (peer_grant_sample, peer_tx_mbps), when that is below link_mbps.
	 * 0: off (rate rules only, the module's policy).  Range 0..64.
	 */
	uint32_t grant_pace_factor;
	uint32_t n_rate_rules; /* [0] entries used in rate_rules */
	struct homa_rate_rule rate_rules[HOMA_MAX_RATE_RULES];

	/* --- homad beyond the module (spec/protocol.md) ------------------ */
	/*
	 * [0] 0 or 1 (off by default: homa-sim --compare-rtt on W4 shows it
	 * costs 10-100 KB messages more than it saves).  1: a new message to a
	 * peer whose round trip the engine has measured gets min(unsched_bytes,
	 * RTT x rate) unscheduled bytes, at least one packet (rate: link_mbps,
	 * or the peer's pacing cap if lower).  The RTT is the smallest recent
	 * sample of "first DATA sent -> first GRANT back" (sender) and "GRANT
	 * sent -> DATA it allowed back" (receiver).  Works with any peer: the
	 * receiver learns the amount from DATA.incoming.
	 */
	uint32_t unsched_from_rtt;
	/*
	 * [8] The incast optimization (SIGCOMM 2018,
	 * 3.6): while more than this many client RPCs are live on the host,
	 * a new request to a homad peer asks it to send the response with at
	 * most incast_unsched_bytes unscheduled bytes.  0: off.  Range
	 * 0..max_rpcs.  Never sent to kernel-module peers (homa_int.h).
	 */
	uint32_t incast_threshold;
	/*
	 * [10000] Unscheduled bytes of a response whose
	 * request asked for it (above).  Range 1..unsched_bytes; 0 means the
	 * default.
	 */
	uint32_t incast_unsched_bytes;
	/*
	 * [10000] A GRANT that would raise a message's granted offset by
	 * fewer bytes than this is held back, unless it grants the rest of
	 * the message or the sender has fewer than this many granted bytes
	 * still to send: fewer GRANTs (one per DATA packet otherwise) at no
	 * cost to the sender's window.  0: grant on every packet, as the
	 * module does.  Range 0..1000000.
	 */
	uint32_t grant_threshold;
};

/* Fill p with the defaults of spec/protocol.md. */
void engine_params_default(struct homa_params *p);

/*
 * The module's max_incoming and the link speed it is meant for, and the
 * link time a derived max_incoming covers on slower links.
 */
#define ENGINE_MAX_INCOMING	400000u
#define ENGINE_MODULE_LINK_MBPS 25000u
#define ENGINE_INCOMING_USECS	200u

/*
 * max_incoming in effect for p: p->max_incoming if set, else the bytes
 * link_mbps carries in ENGINE_INCOMING_USECS (about two of homad's round
 * trips), at least two MTUs, at most ENGINE_MAX_INCOMING; above 25 Gbit/s,
 * ENGINE_MAX_INCOMING scaled with the link (the 128 us of link time it is
 * at 25 Gbit/s).  At the default 25 Gbit/s that is the module's 400000; a
 * 1 Gbit/s host gets 25000, so granted data does not queue for
 * milliseconds at its bottleneck; a 100 Gbit/s host gets 1600000.
 */
uint32_t engine_max_incoming(const struct homa_params *p);

struct homa_engine;
struct homa_sock;

/*
 * An outgoing message, lent to the engine by engine_send_request or
 * engine_send_response.  data[0..length) must stay valid and unchanged
 * until ops.tx_release(ctx, app, cookie) is called.
 */
struct homa_msgbuf {
	const void *data;
	uint32_t length; /* 1 .. HOMA_MAX_MESSAGE_LENGTH */
	void *cookie;	 /* the caller's, handed back to tx_release */
};

/*
 * A packet to send, handed to ops.send.  The bytes on the wire are
 * hdr[0..hdr_len) followed by payload[0..payload_len).  hdr is the
 * engine's scratch space, valid only during the call; payload (DATA only,
 * else NULL) points into the message's buffer, valid until its release.
 */
struct homa_out {
	const struct homa_addr *dst;
	uint8_t prio;	     /* 0..7: IPv4 TOS / IPv6 tclass = prio << 5 */
	enum homa_type type; /* packet type, for the link's batching */
	const uint8_t *hdr;
	size_t hdr_len;
	const uint8_t *payload;
	size_t payload_len;
	void *msg_cookie; /* DATA: homa_msgbuf.cookie of the message */
	uint64_t rpc_id;  /* DATA: local RPC id (GSO runs are per message) */
};

enum homa_delivery_kind {
	HOMA_DELIVER_MESSAGE, /* a complete request or response */
	HOMA_DELIVER_ERROR,   /* a client RPC failed (error is set) */
};

/*
 * A delivery to a socket, handed to ops.deliver.  A request has an odd id
 * (answer it with engine_send_response(id, peer)); a response an even id
 * and the request's cookie.  The message lies in the socket's pool at
 * bpage_offsets[0..num_bpages) (offsets from the pool's base; all bpages
 * full and 64 KiB-aligned but the last) and now belongs to the
 * application, which returns each offset once with engine_recycle.
 */
struct homa_delivery {
	enum homa_delivery_kind kind;
	struct homa_sock *sock;
	void *app; /* the socket's cookie from engine_sock_open */
	uint64_t id;
	uint64_t cookie; /* responses and errors: the request's cookie */
	struct homa_addr peer;
	uint16_t peer_port;
	uint32_t length;
	uint32_t num_bpages;
	uint32_t bpage_offsets[HOMA_MAX_BPAGES];
	int error; /* HOMA_DELIVER_ERROR: positive errno */
};

/*
 * What homad's own DATA to a peer carries of what the engine knows of it
 * (ops.peer_changed): the cutoffs and cutoff version it gave us, whether
 * it is a homad (marker flags go only to those).  gone: the engine forgot
 * the peer (a new entry starts from the rule for peers without CUTOFFS).
 */
struct homa_peer_pub {
	struct homa_addr addr;
	uint32_t cutoffs[HOMA_NUM_PRIORITIES];
	uint16_t cutoff_version;
	bool homad;
	bool gone;
};

/*
 * The engine's outputs.  Every callback is optional (NULL: the event is
 * dropped; a dropped send is still counted as sent).  ctx is the caller's,
 * passed to every callback.
 */
struct homa_engine_ops {
	void (*send)(void *ctx, const struct homa_out *pkt);
	void (*deliver)(void *ctx, const struct homa_delivery *d);
	/* The engine no longer needs the message buffer with this cookie. */
	void (*tx_release)(void *ctx, void *sock_app, void *cookie);
	/* The socket's outgoing memory fell below wmem_max after an EAGAIN. */
	void (*send_space)(void *ctx, struct homa_sock *s, void *sock_app);
	/*
	 * Answer the received packet pkt[0..len) (Homa header on) from src
	 * with ICMP destination unreachable / port unreachable: it was for a
	 * port with no socket, or a request for a socket not accepting them.
	 */
	void (*port_unreachable)(void *ctx, const struct homa_addr *src,
				 const void *pkt, size_t len);
	/*
	 * The engine caught itself in a bug (what: e.g. an illegal RPC state
	 * change), refused the step and counted it (rpc_bad_transitions):
	 * tests and fuzzers abort here.
	 */
	void (*bug)(void *ctx, const char *what);
	/*
	 * Ask the host at peer whether it is up (an ICMP echo request with
	 * sequence seq); an answer is given to engine_peer_echo.  NULL: no
	 * probes (stalled_peer_ticks is then as 0).
	 */
	void (*probe)(void *ctx, const struct homa_addr *peer, uint16_t seq);
	/*
	 * A peer's cutoffs, cutoff version or homad marker changed, or the
	 * peer was forgotten (direct send publishes them to its clients).
	 */
	void (*peer_changed)(void *ctx, const struct homa_peer_pub *p);
};

/*
 * The engine's allocator: every allocation the engine makes goes through it
 * (engine_create: calloc(3), realloc(3) and free(3)), so a test can fail any
 * one of them.  calloc returns n * size zeroed bytes, realloc resizes ptr
 * (NULL: a new block) to n * size bytes (the engine keeps n * size in
 * range); both return NULL when they fail.  free takes NULL.
 */
struct homa_allocator {
	void *(*calloc)(void *ctx, size_t n, size_t size);
	void *(*realloc)(void *ctx, void *ptr, size_t n, size_t size);
	void (*free)(void *ctx, void *ptr);
	void *ctx;
};

/*
 * Create an engine with a copy of params.  Returns NULL only when memory
 * runs out.  Destroy with engine_destroy (which takes NULL): every socket
 * is closed (nothing is sent) and every outgoing buffer released.
 * engine_create_alloc: the same, allocating through *alloc (copied).
 */
struct homa_engine *engine_create(const struct homa_params *params);
struct homa_engine *engine_create_alloc(const struct homa_params *params,
					const struct homa_allocator *alloc);
void engine_destroy(struct homa_engine *e);

/* Install the output callbacks (copied); before any other call. */
void engine_set_ops(struct homa_engine *e, const struct homa_engine_ops *ops,
		    void *ctx);

/* Replace the engine's parameters (config reload), effective at once. */
void engine_set_params(struct homa_engine *e, const struct homa_params *p);

/*
 * A packet received from src: buf[0..len) starts at the Homa header.  prio
 * is the priority it arrived with (TOS >> 5); now is the caller's clock, in
 * nanoseconds.  The engine validates it (a bad one is counted by reason and
 * dropped) and acts on it.  buf is only borrowed for the call.
 */
void engine_rx(struct homa_engine *e, const void *buf, size_t len,
	       const struct homa_addr *src, uint8_t prio, uint64_t now);

/*
 * The errno an ICMP error means for Homa (spec/protocol.md, Ports), or 0
 * when it is to be ignored.  family is AF_INET or AF_INET6; *port_only is
 * set when the error concerns only the port (port unreachable).
 */
int engine_icmp_errno(int family, uint8_t type, uint8_t code, bool *port_only);

/*
 * An ICMP error about a packet we sent to peer (dport: the Homa dport of
 * the quoted packet; 0 = any port).  err is a positive errno (from
 * engine_icmp_errno).  Client RPCs to that peer (and port) fail with err at
 * once; server RPCs with it end silently.
 */
void engine_icmp_error(struct homa_engine *e, const struct homa_addr *peer,
		       uint16_t dport, int err, uint64_t now);

/*
 * The host at peer answered the probe (ops.probe) with sequence seq: the
 * host is up.  Answers from hosts we know nothing of, or to probes other
 * than its last few, are ignored (counted in probe_replies_ignored).
 */
void engine_peer_echo(struct homa_engine *e, const struct homa_addr *peer,
		      uint16_t seq, uint64_t now);

/*
 * The time (caller's clock, ns) at which the engine next needs
 * engine_tick(); UINT64_MAX when it has nothing pending.
 */
uint64_t engine_next_deadline(const struct homa_engine *e);

/*
 * The part of engine_next_deadline that is the pacer's (the next packet of
 * a paced message, a link time away); UINT64_MAX when the pacer waits for
 * nothing.  The timers' deadlines are coarse (tick_usecs) and may be late
 * by a timer's slack; the pacer's want precision.
 */
uint64_t engine_pacer_deadline(const struct homa_engine *e);

/*
 * Batching: between engine_batch_begin and engine_batch_end (the caller's
 * loop brackets each batch of received packets and client requests with
 * them), the GRANTs the batch's DATA calls for are worked out once, at
 * engine_batch_end, so a run of packets of one message (a GRO read, a
 * burst) gets one GRANT instead of one each.  Outside a batch every entry
 * point acts at once.  Batches do not nest.
 */
void engine_batch_begin(struct homa_engine *e);
void engine_batch_end(struct homa_engine *e, uint64_t now);

/* Clock tick: run the timers and the pacer that are due at now. */
void engine_tick(struct homa_engine *e, uint64_t now);

/*
 * Transmit budget: the link can take packets more packets now (its free
 * send slots, less a reserve for control packets).  Every packet the
 * engine hands to ops.send uses one unit.  At 0 the pacer holds its DATA
 * (no packet leaves, next_xmit does not advance, retransmissions wait for
 * the next RESEND) instead of handing the link packets it would drop;
 * control packets still go to ops.send (the link may drop and count
 * them).  A later call with packets > 0 - when the link sees send
 * completions free slots - resumes the pacer at now.  While held, the
 * pacer asks for no timer (engine_next_deadline).  The default,
 * ENGINE_TX_UNLIMITED, never holds.
 */
#define ENGINE_TX_UNLIMITED UINT32_MAX
void engine_set_tx_budget(struct homa_engine *e, uint32_t packets,
			  uint64_t now);

/* True while the pacer holds DATA for want of tx budget. */
bool engine_tx_held(const struct homa_engine *e);

/* The engine's counters (homad's own are daemon/stats.h's). */
struct homa_metrics *engine_metrics(struct homa_engine *e);

/* ---- sockets -------------------------------------------------------- */

/*
 * Open a socket with a default port (>= 0x8000) and no receive pool; it
 * does not accept requests.  app is the caller's cookie, handed back in
 * every event of the socket.  Returns 0 and *out, or -EMFILE (max_sockets
 * reached), -EADDRINUSE (no default port free), -ENOMEM.
 */
int engine_sock_open(struct homa_engine *e, void *app, struct homa_sock **out);

/* The socket's port (0 after shutdown). */
uint16_t engine_sock_port(const struct homa_sock *s);

/*
 * bind(): take port (< 0x8000, else -EINVAL) and accept requests; port 0
 * changes nothing.  -EADDRINUSE: another socket has it; -ESHUTDOWN.
 */
int engine_sock_bind(struct homa_engine *e, struct homa_sock *s, uint16_t port);

/*
 * An AF_INET socket talks to IPv4 peers only: packets for its port from an
 * IPv6 (not v4-mapped) address are treated as for no socket (ICMP port
 * unreachable), as they would be by a kernel IPv4 socket.  Off by default
 * (AF_INET6 sockets reach both families).
 */
void engine_sock_set_v4only(struct homa_sock *s, bool on);

/* SO_HOMA_SERVER: accept requests or not.  -ESHUTDOWN after shutdown. */
int engine_sock_set_server(struct homa_engine *e, struct homa_sock *s, bool on);

/*
 * SO_HOMA_RCVBUF: the socket's receive pool is base[0..length), owned by
 * the caller.  Once per socket; length is rounded down to whole bpages.
 * -EINVAL: already set, base NULL, less than one bpage or more than 4 GiB;
 * -ENOMEM.
 */
int engine_sock_set_pool(struct homa_engine *e, struct homa_sock *s, void *base,
			 size_t length);

/*
 * shutdown(): end all the socket's RPCs locally (nothing is sent, buffers
 * released), release its port; later sends fail -ESHUTDOWN.
 */
void engine_sock_shutdown(struct homa_engine *e, struct homa_sock *s,
			  uint64_t now);

/* close(): shutdown, then free the socket (s is invalid afterwards). */
void engine_sock_close(struct homa_engine *e, struct homa_sock *s,
		       uint64_t now);

/*
 * Send a request to (dst, dport).  *id on entry: 0 to have the engine pick
 * the next id, or an even id the caller took from engine_reserve_ids
 * (never used before).  On success (0) *id is the new RPC's id and the
 * engine holds msg until tx_release.  Errors (msg still the caller's):
 * -EINVAL length 0 or > 1,000,000, dport 0 or an odd id; -EEXIST the id
 * is in use; -ESHUTDOWN; -EAGAIN the socket's outgoing memory is at
 * wmem_max (a send_space event follows when it drops); -ENOMEM RPC or peer
 * limit reached.
 */
int engine_send_request(struct homa_engine *e, struct homa_sock *s,
			const struct homa_addr *dst, uint16_t dport,
			const struct homa_msgbuf *msg, uint64_t cookie,
			uint64_t now, uint64_t *id);

/*
 * Reserve count client RPC ids for a caller that picks ids itself (homad's
 * client channel hands blocks of them to client libraries, so that a send
 * needs no round trip).  Returns the first; the ids are first, first + 2,
 * ... first + 2 * (count - 1).  The engine never allocates them itself.
 */
uint64_t engine_reserve_ids(struct homa_engine *e, uint32_t count);

/*
 * Client RPC ids start after base (rounded down to even; the default is
 * 0: ids 2, 4, ...).  A daemon that restarts should start from a value
 * its earlier run cannot have reached (homad: a random one), so that its
 * peers do not take its new requests for copies of the old ones (a
 * server drops request DATA of an id from that host it ended less than
 * timeout_ticks ago).  Call before the first send.
 */
void engine_set_id_base(struct homa_engine *e, uint64_t base);

/*
 * Send the response of server RPC id (odd) from client.  0: the engine
 * holds msg.  -ENOENT: no such RPC (it timed out or was acked: the kernel
 * API discards such a response silently, returning 0); -EINVAL: the RPC
 * is not waiting for a response, or a bad length; -ESHUTDOWN; -EAGAIN.
 */
int engine_send_response(struct homa_engine *e, struct homa_sock *s,
			 uint64_t id, const struct homa_addr *client,
			 const struct homa_msgbuf *msg, uint64_t now);

/*
 * Direct send: the application sent the message msg (one DATA packet: its
 * length at most engine_direct_max for the peer's family) itself, at now,
 * as the engine would have (all of it unscheduled, homad_flags in its pad).
 * The engine adopts it as sent at now: retransmission, RESEND, acks and
 * timeouts as for a message it sent, and tx_release as usual.  Errors as
 * engine_send_request / engine_send_response, and -EMSGSIZE (more than one
 * packet).  Nothing is sent.  ack_id (requests): 0, or the client RPC to
 * dst:dport whose ack the packet carried; it leaves the peer's queue of
 * acks if it is still there.
 */
/* The flag of homad_flags: the request asks for an incast response. */
#define ENGINE_FLAG_INCAST 0x01

int engine_adopt_request(struct homa_engine *e, struct homa_sock *s,
			 const struct homa_addr *dst, uint16_t dport,
			 const struct homa_msgbuf *msg, uint64_t cookie,
			 uint8_t homad_flags, uint64_t now, uint64_t id,
			 uint64_t ack_id);
int engine_adopt_response(struct homa_engine *e, struct homa_sock *s,
			  uint64_t id, const struct homa_addr *client,
			  const struct homa_msgbuf *msg, uint8_t homad_flags,
			  uint64_t now);

/*
 * The longest message the engine sends whole, unscheduled, at once, to any
 * peer of a family (ipv6: IPv6 peers) whatever its RTT or the incast rule:
 * one packet's payload, at most unsched_bytes and incast_unsched_bytes
 * (a response to a request in incast).
 */
uint32_t engine_direct_max(const struct homa_engine *e, bool ipv6);
/* The peer payload bound alone (the most a direct message may hold). */
uint32_t engine_packet_payload(const struct homa_engine *e, bool ipv6);
/* Would a new request now ask for an incast response (homad peers)? */
bool engine_incast_on(const struct homa_engine *e);
/*
 * Does packet buf[0..len) from src (not decoded yet: a DATA's ack or an
 * ACK's) acknowledge a server RPC whose response the application has not
 * given the engine?  Direct send: that response may be in a ring not
 * drained yet (the client has it), and must be adopted before the ack
 * ends the RPC.
 */
bool engine_acks_waiting(const struct homa_engine *e, const void *buf,
			 size_t len, const struct homa_addr *src);
/* What the DATA of a directly received response said. */
struct engine_direct_rx {
	uint32_t length; /* message_length: the whole message */
	uint16_t cutoff_version;
	uint8_t pad[3]; /* homad's marker and flags */
};

/*
 * Direct receive (proto/homa_shm.h): the application read the whole
 * response of its client RPC id (even) of s from server, in one DATA
 * packet, itself.  The engine ends the RPC as its own delivery would
 * (the ack queued for the server, the peer heard, CUTOFFS sent if the
 * server's version is stale) but delivers nothing; *cookie is the
 * request's tx cookie (NULL: none), which tx_release will hand back as
 * usual, not during this call (the RPC is reaped by a later one).  0; -EINVAL
 * (id odd or 0, length 0 or over a packet); -ENOENT (no such client RPC of s
 * from server: timed out, aborted, ended); -EALREADY (the engine has received
 * response bytes itself, and delivers its own copy).
 */
int engine_direct_response(struct homa_engine *e, struct homa_sock *s,
			   uint64_t id, const struct homa_addr *server,
			   const struct engine_direct_rx *d, uint64_t now,
			   void **cookie);

/*
 * Direct receive of requests (proto/homa_shm.h): the application of server
 * socket s read the whole request id (the server RPC's, odd) from client
 * at port cport, in one DATA packet, itself; ack is what the DATA
 * carried (client_id 0: none).  The engine makes the server RPC as its
 * own receipt and delivery would (the peer heard, the ack taken, CUTOFFS
 * sent if the client's version is stale), now waiting for its response,
 * but delivers nothing.  0; -EINVAL (id even, length 0 or over a packet,
 * cport 0); -ENOENT (s serves no requests: shut down, not a server);
 * -EALREADY (the engine has, or had, that RPC: a copy of the request);
 * -ENOMEM (no peer or RPC could be made).
 */
int engine_direct_request(struct homa_engine *e, struct homa_sock *s,
			  uint64_t id, const struct homa_addr *client,
			  uint16_t cport, const struct engine_direct_rx *d,
			  const struct homa_ack *ack, uint64_t now);

/*
 * Direct receive's fallback: buf[0..len), a packet from src that the
 * application read and could not keep.  Handled as engine_rx would when
 * it is a DATA packet to s's port answering one of s's client RPCs from
 * src, or (requests: true) a request to s's port that one packet holds
 * whole: 0.  -ENOENT: no such RPC (gone: ignored); -EINVAL: not such a
 * packet (nothing done).
 */
int engine_direct_packet(struct homa_engine *e, struct homa_sock *s,
			 const void *buf, size_t len,
			 const struct homa_addr *src, bool requests,
			 uint64_t now);

/* Is even id a live (or not yet reaped) client RPC? */
bool engine_client_rpc_known(const struct homa_engine *e, uint64_t id);
/* Is odd id a live (or not yet reaped) server RPC with client? */
bool engine_server_rpc_known(const struct homa_engine *e, uint64_t id,
			     const struct homa_addr *client);

/*
 * HOMAIOCABORT: end client RPC id (0: all the socket's client RPCs).  err
 * 0: silently; else each completes with a HOMA_DELIVER_ERROR of err.
 * -EINVAL: id is not a client RPC of this socket.
 */
int engine_abort(struct homa_engine *e, struct homa_sock *s, uint64_t id,
		 int err, uint64_t now);

/*
 * Return bpages of delivered messages (offsets as delivered).  All are
 * checked first: -EINVAL if one is not an offset the application holds
 * (nothing is returned then).  Messages waiting for space may restart.
 */
int engine_recycle(struct homa_engine *e, struct homa_sock *s,
		   const uint32_t *offsets, unsigned n, uint64_t now);

/* ---- introspection (HOMAIOCINFO, homactl, tests) --------------------- */

#define HOMA_RPC_BUF_STALL 1 /* waiting for receive buffer space */
#define HOMA_RPC_RX_READY  4 /* message complete, delivered */

/* One RPC, as HOMAIOCINFO's homa_rpc_info describes it. */
struct homa_rpc_info {
	uint64_t id;
	struct homa_addr peer;
	uint16_t peer_port;
	uint64_t cookie;
	int32_t tx_length; /* -1: no outgoing message yet */
	uint32_t tx_sent, tx_granted, tx_prio;
	int32_t rx_length; /* -1: nothing received yet */
	uint32_t rx_remaining, rx_gaps, rx_gap_bytes, rx_granted;
	uint16_t flags; /* HOMA_RPC_* */
	uint16_t port;	/* the local socket's port */
	uint8_t state;	/* HOMA_RPC_STATE_* */
};

#define HOMA_RPC_STATE_OUTGOING	  0 /* client: request going out */
#define HOMA_RPC_STATE_INCOMING	  1 /* a message coming in */
#define HOMA_RPC_STATE_IN_SERVICE 2 /* server: request delivered */

struct homa_sock_info {
	uint16_t port;
	bool server;
	bool shutdown;
	uint32_t num_rpcs;
	uint64_t pool_avail_bytes;
	uint64_t wmem; /* outgoing bytes held */
};

void engine_sock_info(const struct homa_sock *s, struct homa_sock_info *info);

/*
 * Fill up to max entries of out with the socket's live RPCs; returns how
 * many were written.
 */
unsigned engine_sock_rpcs(const struct homa_sock *s, struct homa_rpc_info *out,
			  unsigned max);

/*
 * One page of the engine's live RPCs, for `homactl rpcs`: walks the RPC
 * table from *cursor (0: the start) and fills up to max entries of out
 * with the RPCs of local port port (0: any) and peer peer (NULL: any).
 * At most max RPCs are looked at beyond the ones written times 16 (a
 * filter that matches little still returns soon).  Returns how many were
 * written; *cursor becomes where the next page starts, and *more whether
 * there is one.
 */
unsigned engine_rpcs_page(const struct homa_engine *e, uint64_t *cursor,
			  uint16_t port, const struct homa_addr *peer,
			  struct homa_rpc_info *out, unsigned max, bool *more);

/* One peer of engine_peers_page. */
struct homa_peer_entry {
	struct homa_addr addr;
	uint32_t rpcs;
	uint32_t cutoffs_in[HOMA_NUM_PRIORITIES]; /* what it gave us */
	uint16_t cutoff_version_in;		  /* 0: none yet */
	uint64_t rtt_ns;
	uint32_t resends;      /* its RPCs with RESEND rounds unanswered */
	uint32_t acks_pending; /* acks queued for it */
	uint64_t silent_ticks; /* ticks since it was last heard */
	uint32_t rate_mbps;    /* pacing cap; 0: none */
	uint64_t incoming;     /* granted, not yet received */
	bool homad;
	uint32_t pace_mbps;    /* grant pacing's rate (peer_tx_mbps); 0: none */
	uint32_t rx_mbps;      /* its arrival rate (max filter); 0: none */
	uint64_t grant_cap;    /* peer_grant_cap; 0: none */
	uint64_t resend_bytes; /* asked by RESENDs, not heard about since */
	bool host_up;	       /* silent, but its host answers our probes */
	uint32_t probes;       /* probes sent to its host (wraps at 65536) */
};

/*
 * One page of the peer table, as engine_rpcs_page (no filter).  Counting
 * resends walks the live RPCs once per page.
 */
unsigned engine_peers_page(struct homa_engine *e, uint64_t *cursor,
			   struct homa_peer_entry *out, unsigned max,
			   bool *more);

/* What the engine knows of one peer host (homactl, tests, homa-sim). */
struct homa_peer_info {
	uint64_t rtt_ns;	/* measured round trip; 0: none yet */
	uint64_t rtt_samples;	/* samples taken */
	uint32_t unsched_bytes; /* unscheduled bytes of a new message to it */
	uint32_t rate_mbps;	/* pacing cap; 0: none */
	uint32_t rpcs;		/* RPCs with it (live or not yet reaped) */
	uint64_t incoming;	/* bytes it may send us without more grants,
				   not yet received */
	uint32_t active_grants; /* its messages we are granting to now */
	bool homad;		/* its DATA carries homad's marker */
};

/* Fill info for peer a: 0, or -ENOENT when the engine has no state for a. */
int engine_peer_info(const struct homa_engine *e, const struct homa_addr *a,
		     struct homa_peer_info *info);

/* Engine-wide state, for homactl and the simulator's invariants. */
struct homa_engine_state {
	uint32_t sockets;
	uint32_t rpcs;	    /* live */
	uint32_t dead_rpcs; /* ended, not yet reaped */
	uint32_t client_rpcs, server_rpcs;
	uint32_t peers;
	uint32_t active_grants;	 /* messages being granted */
	uint32_t grantable;	 /* messages waiting for grants */
	uint64_t total_incoming; /* granted/unscheduled not yet received */
	uint32_t throttled;	 /* messages with bytes the pacer holds */
	uint32_t buffer_waits;	 /* messages waiting for bpages */
};

void engine_state(const struct homa_engine *e, struct homa_engine_state *st);

#endif /* HOMAD_CORE_ENGINE_H */
