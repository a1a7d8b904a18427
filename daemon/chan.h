/*
 * chan.h - the client channel: applications' Homa sockets in homad.
 *
 * An application's Homa socket is one AF_UNIX SOCK_SEQPACKET connection to
 * homad's client socket (clients.socket) plus two memfd regions passed
 * once with SCM_RIGHTS in the first datagram (proto/homa_client.proto,
 * proto/homa_shm.h): the receive pool, into which the engine writes
 * incoming messages (bpages), and the transmit area, from which it reads
 * outgoing ones.  Every datagram is one protobuf-c message.  One
 * connection is one engine socket.
 *
 * Two parts: daemon/session.[ch], the protocol as a sans-I/O state
 * machine (decoding, validation, id blocks, per-client limits, events,
 * the connection's lifecycle; unit-tested and fuzzed without root), and
 * chan.c, the io_uring shell around it described here.
 *
 * Everything runs on the data-plane thread and rides its io_uring: a
 * multishot accept on the listening socket; per connection one recvmsg at
 * a time (the first with room for the two descriptors) and the events
 * homad sends, written with IORING_OP_SEND as linked chains so that they
 * arrive in order.  Nothing blocks; the only other system calls are
 * getsockopt(SO_PEERCRED) at accept and fcntl/fstat/fstatfs/mmap/close at
 * Open.
 *
 * Validation: every field a client sends is checked against its own
 * regions, id blocks and RPCs.  A malformed or invalid message (bad
 * protobuf, an id outside the client's blocks or used twice, an extent
 * outside the transmit area, a bpage it does not hold, an address of the
 * wrong family, a datagram over HOMA_CLIENT_MAX_DATAGRAM, descriptors
 * after the Open...) disconnects that client, counted in
 * chan_bad_messages; a bad Open is answered with OpenReply(error) and
 * counted in chan_bad_open.  Nothing a client sends affects another one.
 * A request homad refuses without it reaching the engine (Failed with
 * EAGAIN, ENOMEM, ESHUTDOWN, ...) leaves its id unused: the client may
 * send it again with the same id.
 *
 * A connection over the limits gets its OpenReply(error) at once and is
 * closed without being read: the client's Open may then fail with EPIPE,
 * or its first recv with ECONNRESET (the kernel reports that before the
 * queued OpenReply, which the next recv returns).
 *
 * Limits: limits.max_clients connections in all and
 * limits.max_sockets_per_client per process (SO_PEERCRED pid) -- beyond,
 * the connection gets OpenReply(ENFILE / EMFILE) and is closed
 * (chan_refused); at most SESSION_MAX_TX messages lent to the engine and
 * SESSION_MAX_EVENTS events queued per connection (a client that does not
 * read its events is disconnected, chan_event_overflows; one that reads
 * them, more slowly than they come, may have up to limits.max_rpcs more
 * queued); ports below
 * 0x8000 only for root and clients.bind_uids / bind_gids (both empty:
 * anyone), else Reply(EACCES), chan_bind_denied.
 *
 * Memory ownership:
 *   - The regions are the client's; homad maps them at Open (receive pool
 *     read-write, transmit area read-only) and unmaps them when the
 *     connection is gone and the engine has released every message of it.
 *   - A message sent from the transmit area is lent to the engine in
 *     place; one sent inline is copied into memory chan owns.  Both live
 *     until the engine's tx_release, which chan reports to the client
 *     (TxReleased, or piggy-backed on a Delivered/Failed).
 *   - Delivered bpages are the client's until it recycles them; a client
 *     that goes away (even kill -9) has its engine socket closed, which
 *     ends its RPCs and frees its pool accounting.
 */
#ifndef HOMAD_CHAN_H
#define HOMAD_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "core/engine.h"
#include "session.h"
#include "uring.h"

struct chan;

/*
 * Create the channel for the listening socket listen_fd (unix
 * SOCK_SEQPACKET, which chan then owns and closes), on the ring u, for
 * engine e, with cfg's clients and limits settings (copied).  Nothing is
 * armed yet: see chan_start.  Returns NULL with a reason in err (no
 * memory).
 */
struct chan *chan_create(struct uring *u, struct homa_engine *e,
			 const struct homa_config *cfg, int listen_fd,
			 char *err, size_t errlen);

/* Queue the multishot accept (submitted with the loop's next submit). */
void chan_start(struct chan *c);

/* A reloaded configuration: limits, bind permissions, max_inline. */
void chan_set_config(struct chan *c, const struct homa_config *cfg);

/*
 * Handle cqe if it is the channel's (URING_TAG_CHAN); false, doing
 * nothing, otherwise.  now: CLOCK_MONOTONIC ns, passed to the engine.
 */
bool chan_complete(struct chan *c, const struct io_uring_cqe *cqe,
		   uint64_t now);

/*
 * Finish the sends of lone events (which post no completion on success)
 * whose SQEs lie before sq_head: uring_sq_consumed's, read before the
 * completions just handled (uring.h).  Call after handling them.
 */
void chan_confirm(struct chan *c, unsigned sq_head, uint64_t now);

/* Some lone event's send awaits chan_confirm. */
bool chan_unconfirmed(const struct chan *c);

/*
 * Once per loop iteration, before the submit: close the connections
 * marked for disconnection, queue the pending TxReleased and SendSpace
 * events and submit the queued events of every connection.  Never call it
 * from inside an engine callback.
 */
void chan_flush(struct chan *c, uint64_t now);

/*
 * The engine's callbacks (struct homa_engine_ops), to be called by the
 * data plane's ops with the socket's app cookie.  They only queue work
 * (they never call back into the engine); chan_flush sends it.
 */
void chan_deliver(struct chan *c, const struct homa_delivery *d);
void chan_tx_release(struct chan *c, void *sock_app, void *cookie);
void chan_send_space(struct chan *c, void *sock_app);

/*
 * homad stops: stop accepting and close every session (engine sockets
 * closed, connections shut down: clients see EOF).  The caller then
 * processes completions until chan_idle.
 */
void chan_stop(struct chan *c, uint64_t now);

/* True when none of the channel's requests is in flight. */
bool chan_idle(const struct chan *c);

/* Connected clients (accepted, not yet disconnected). */
unsigned chan_n_clients(const struct chan *c);

/* Bytes of client regions mapped, all connections (limits.max_memory). */
uint64_t chan_mapped_bytes(const struct chan *c);

/* The channel's counters (chan_* of homactl metrics); NULL for NULL. */
const struct session_stats *chan_stats(const struct chan *c);

/* One client socket (connection with an engine socket), `homactl sockets`. */
struct chan_sock_entry {
	uint32_t pid, uid;	    /* its process (SO_PEERCRED) */
	uint64_t pool_bytes;	    /* its receive pool's size */
	bool direct;		    /* granted direct send */
	uint64_t direct_records;    /* direct-send records taken */
	bool drx;		    /* direct receive in use */
	uint64_t drx_records;	    /* responses received directly */
	struct homa_sock_info info; /* the engine's view */
};

/*
 * Fill up to max entries of out with the open client sockets; returns how
 * many were written, *total how many there are.
 */
unsigned chan_sockets(const struct chan *c, struct chan_sock_entry *out,
		      unsigned max, unsigned *total);

/*
 * Whether cfg can replace the running configuration without breaking the
 * connected clients: lowering clients.max_inline cannot while any client
 * is connected (each was told the running value when it connected).
 * Returns 0, or -EBUSY with the reason in why.
 */
int chan_check_config(const struct chan *c, const struct homa_config *cfg,
		      char *why, size_t len);

/*
 * Free everything: call after the ring was exited and after the engine
 * was destroyed (the engine releases the messages chan lent it).  Takes
 * NULL.
 */
void chan_destroy(struct chan *c);

/*
 * Direct send (proto/homa_shm.h): take every direct-send ring's records
 * (the data plane calls it whenever it wakes, before it handles packets,
 * on every tick, and before a packet about a client RPC the engine does
 * not know); whether any session has a ring; publish a peer's state to
 * the clients' peer table (the engine's peer_changed).
 */
void chan_direct_drain(struct chan *c, uint64_t now);
bool chan_direct_active(const struct chan *c);
/* Whether any session has a request socket (its requests reach homad as
 * ring records: a packet about a server RPC the engine does not know may
 * follow one not drained yet). */
bool chan_direct_serving(const struct chan *c);
/*
 * homad is about to block until wake (UINT64_MAX: no timer): false if a
 * ring holds records (take them first); else true, with the peer table's
 * doorbell flag set when the wake-up is more than two ticks away (a
 * library then rings: proto/homa_shm.h).  chan_direct_awake clears it.
 */
bool chan_direct_may_sleep(struct chan *c, uint64_t now, uint64_t wake);
void chan_direct_awake(struct chan *c);
void chan_direct_publish(struct chan *c, const struct homa_peer_pub *p);

/*
 * Direct receive (proto/homa_shm.h), offered on the ip link once this is
 * called: fn(arg, ports, n, req, m) makes the link's own sockets drop the
 * direct responses to ports[0..n) and the direct requests to req[0..m)
 * (link_set_direct_rx), whenever the sets change.
 */
typedef int (*chan_drx_fn)(void *arg, const uint16_t *ports, unsigned n,
			   const uint16_t *req, unsigned m);
void chan_set_direct_rx(struct chan *c, chan_drx_fn fn, void *arg);

#endif /* HOMAD_CHAN_H */
