/*
 * session.h - one client connection's protocol as a sans-I/O state machine.
 *
 * The client channel (chan.h) is two parts: chan.c, the io_uring shell
 * (accept, recvmsg and its SCM_RIGHTS, sends, cancels, the connection
 * table), and this module, everything a client's bytes mean.  A session
 * takes one received datagram (bytes, the descriptors that came with it)
 * and `now`; it decodes and validates it (proto/homa_client.proto), calls
 * the engine (daemon/core/engine.h) and queues encoded event datagrams for
 * the shell to send.  It makes no system call but the memfd handshake's
 * (F_GET_SEALS, fstat, fstatfs, mmap, munmap, close of the passed
 * descriptors), and those go through struct session_ops: a test gives its
 * own regions, or real memfds through session_memfd_ops.
 *
 * A session's life is one enum changed by one function,
 * session_change_state(), which checks each change against a table,
 * refuses (and counts, and logs once) an illegal one and counts the
 * legal ones:
 *
 *   OPENING --Open ok--> OPEN --bad message, EOF, error--> DOOMED
 *      |  \                |                                  |
 *      |   +--bad Open--> LINGER (OpenReply(error) queued) ---+ (error)
 *      |                   | (answer sent)                    |
 *      +--- homad stops ---+-------------> CLOSING <----------+ (flush)
 *                                            | engine socket closed
 *                                          CLOSED --freed--> DEAD
 *
 * DOOMED is a mark (it may be set inside an engine callback, where the
 * engine must not be re-entered); the shell's flush closes a DOOMED
 * session (session_close: CLOSING, then CLOSED).  A CLOSED session waits
 * for the shell's requests in flight and for the engine to release every
 * message it lent; session_fini frees what it holds (DEAD).
 *
 * Every validator's failure dooms the session and counts
 * chan_bad_messages; a bad Open is answered and counted in chan_bad_open
 * (see chan.h for the protocol's rules).
 */
#ifndef HOMAD_SESSION_H
#define HOMAD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "conf.h"
#include "core/engine.h"
#include "homa_shm.h"
#include "session_stats.h"

/* Ids in each block handed to a client (OpenReply.ids, Reply.ids). */
#define SESSION_ID_BLOCK (1u << 16)
/* Id blocks a session holds; MoreIds beyond drops the oldest. */
#define SESSION_MAX_ID_BLOCKS 16
/* Messages one session may have lent to the engine at once. */
#define SESSION_MAX_TX 65536
/* Events queued for one session; beyond, it is disconnected unless it
 * is reading them (SESSION_READING_NS). */
#define SESSION_MAX_EVENTS 8192
/* Stop reading a client's commands while this many events wait. */
#define SESSION_PAUSE_EVENTS (SESSION_MAX_EVENTS / 2)
/* Most RpcInfo entries in one Info reply. */
#define SESSION_MAX_INFO_RPCS 256
/* Largest inline message accepted, whatever clients.max_inline says. */
#define SESSION_MAX_INLINE 32768
/* Descriptors one datagram may bring (an Open carries two). */
#define SESSION_MAX_FDS 4
/* Descriptors an OpenReply granting direct send passes (at most): the
 * socket, ring, table, IPv6 socket, direct receive socket. */
#define SESSION_DIRECT_FDS 5
/* Sessions with direct receive at once (homad's filter names each port). */
#define SESSION_MAX_DIRECT_RX 128
/* Sessions with a request socket at once (homad's filter names each). */
#define SESSION_MAX_DIRECT_SRX 64

/* The reason of a session the client closed (never a warning). */
#define SESSION_CLOSED_BY_CLIENT "closed by the client"
/* homad cancelled its own receive (stopping): not a warning either. */
#define SESSION_CANCELLED "cancelled"

struct session;

/*
 * The system calls of the memfd handshake, and the one of the bind check.
 * arg is session_host.ops_arg.
 */
struct session_ops {
	/* fd is a memfd (tmpfs) sealed against shrinking and growing, of
	 * exactly size bytes: 0, or a positive errno with a reason in why. */
	int (*check_region)(void *arg, int fd, uint64_t size, const char *what,
			    char *why, size_t whylen);
	/* Map size bytes of fd shared (writable or read-only); NULL with
	 * *err set (positive errno) on failure. */
	void *(*map)(void *arg, int fd, uint64_t size, bool writable, int *err);
	void (*unmap)(void *arg, void *p, uint64_t size);
	void (*close_fd)(void *arg, int fd);
	/* The client's supplementary groups as it connected, into
	 * groups[0..max): how many, or -1 (NULL: none). */
	int (*peer_groups)(void *arg, const struct session *s, uint32_t *groups,
			   unsigned max);
	/*
	 * Direct send for s (NULL: homad offers none): the send-only socket,
	 * a new sealed ring memfd and a read-only descriptor of the peer
	 * table into fds[0..3), and for an AF_INET6 s on a host with IPv6
	 * the send-only socket for IPv6 peers into fds[3] (else -1); all
	 * given to the client with the OpenReply, then closed with close_fd.
	 * The ring mapped read-write into *ring.  0, or a positive errno
	 * with a reason in why.
	 */
	int (*direct_open)(void *arg, struct session *s,
			   int fds[SESSION_DIRECT_FDS],
			   struct homa_direct_ring **ring, char *why,
			   size_t whylen);
	/* Unmap the ring direct_open mapped. */
	void (*direct_close)(void *arg, struct session *s,
			     struct homa_direct_ring *ring);
	/*
	 * Direct receive for s (NULL: homad offers none): its receive
	 * socket for (port, key) into *fd, given to the client with the
	 * OpenReply.  0, or a positive errno with a reason in why.
	 */
	int (*direct_rx_open)(void *arg, struct session *s, uint16_t port,
			      uint32_t key, int *fd, char *why, size_t whylen);
	/*
	 * The set of direct-receive ports changed (a session gained or lost
	 * it): session_host_direct_rx_ports lists the new one.  Called after
	 * the new socket exists and before the client gets it, and when a
	 * session stops using its socket (homad's own sockets must take
	 * those packets again).
	 */
	void (*direct_rx_changed)(void *arg);
	/*
	 * Direct receive of requests for s, bound to port (NULL: homad
	 * offers none): the request socket into *fd, given to the client
	 * with the Bind's Reply (then closed with close_fd), and a
	 * descriptor of the same socket that homad keeps into *keep, for
	 * direct_srx_revoke.  0, or a positive errno with a reason in why.
	 */
	int (*direct_srx_open)(void *arg, struct session *s, uint16_t port,
			       int *fd, int *keep, char *why, size_t whylen);
	/*
	 * The port of keep's socket is released: make the socket receive
	 * nothing more, whoever holds it, then close keep.  Called before
	 * direct_rx_changed gives the port back to homad's sockets.
	 */
	void (*direct_srx_revoke)(void *arg, struct session *s, int keep);
};

/* Real memfds: fcntl(F_GET_SEALS), fstat, fstatfs, mmap, munmap, close. */
extern const struct session_ops session_memfd_ops;

/*
 * A client process (by SO_PEERCRED pid): what the per-client limits count,
 * over all its sessions.  Freed with its last session.
 */
struct session_client {
	TAILQ_ENTRY(session_client) link; /* host->clients */
	pid_t pid;
	unsigned n_conns;    /* sessions, open or closing */
	unsigned n_requests; /* requests lent to the engine (outstanding) */
	uint64_t mapped;     /* bytes of its regions mapped */
};

TAILQ_HEAD(session_q, session);

/* What the sessions of one channel share. */
struct session_host {
	struct homa_engine *e;
	struct homa_config cfg; /* limits, clients.* */
	const struct session_ops *ops;
	void *ops_arg;
	struct session_stats stats;
	struct session_q dirty;		      /* need the shell's flush */
	TAILQ_HEAD(, session_client) clients; /* processes with sessions */
	uint64_t now;			      /* last time given */
	uint64_t mapped; /* bytes of client regions mapped */
	bool illegal_logged;
	struct session_q direct; /* sessions with a direct-send ring */
	unsigned n_direct;	 /* on it (limits.max_direct_sockets) */
	unsigned n_direct_rx;	 /* of which with direct receive */
	unsigned n_direct_srx;	 /* ... with a request socket */
	uint32_t next_key;	 /* the next direct receive key */
};

/* One client id block and what became of each id. */
struct session_ids {
	uint64_t first; /* even; ids first, first + 2, ... */
	uint32_t count; /* SESSION_ID_BLOCK */
	uint64_t *used; /* bit k: id first + 2k was sent */
	uint64_t *priv; /* bit k: ... as a private request */
};

enum session_ev_type {
	SESS_EV_DELIVERED,   /* fields below */
	SESS_EV_FAILED,	     /* id, cookie, error, priv */
	SESS_EV_TX_RELEASED, /* the session's released ids */
	SESS_EV_SEND_SPACE,
	SESS_EV_PACKED, /* buf/len already hold the datagram (replies) */
};

/*
 * One event for a client: queued, packed by session_ev_next, given to the
 * shell to send (buf, len), freed by session_ev_done.
 */
struct session_ev {
	TAILQ_ENTRY(session_ev) link;
	enum session_ev_type type;
	uint64_t id;
	uint64_t cookie;
	struct homa_addr peer;
	uint16_t port;
	bool priv;
	int error;
	uint32_t length;
	uint32_t n_bpages;
	uint32_t bpages[HOMA_MAX_BPAGES];
	uint8_t *buf; /* the datagram, malloc'ed */
	size_t len;
	/* Descriptors to pass with it (SCM_RIGHTS), closed when it is freed
	 * (through h's close_fd). */
	int fds[SESSION_DIRECT_FDS];
	unsigned n_fds;
	struct session_host *h;
};

TAILQ_HEAD(session_evq, session_ev);

/* One client connection = one Homa socket. */
struct session {
	TAILQ_ENTRY(session) dlink; /* host->dirty */
	bool dirty;		    /* on host->dirty */
	struct session_host *h;
	void *owner;	 /* the shell's connection */
	uint64_t serial; /* for logs */
	enum session_state state;
	pid_t pid; /* SO_PEERCRED */
	uid_t uid;
	gid_t gid;
	struct session_client *client;

	int family; /* AF_INET, AF_INET6 (Open) */
	struct homa_sock *sock;
	uint8_t *rx_base; /* receive pool mapping, rx_len bytes */
	size_t rx_len;
	const uint8_t *tx_base; /* transmit area mapping (NULL if empty) */
	size_t tx_len;

	struct session_ids ids[SESSION_MAX_ID_BLOCKS];
	unsigned n_ids;	   /* blocks in use */
	unsigned next_ids; /* slot the next block goes to */

	unsigned n_tx;	    /* messages lent to the engine */
	uint64_t *released; /* ids whose tx bytes are free, not reported */
	unsigned n_released, cap_released;
	bool send_space; /* a SendSpace is due */

	struct session_evq evq; /* events not yet given to the shell */
	unsigned n_evq;
	unsigned n_carriers; /* Delivered/Failed/TxReleased in evq */
	unsigned n_sending;  /* given to the shell, not yet done */
	uint64_t taken_ns;   /* when an event send last completed */

	/* Direct send: the ring (NULL: none), how far homad took it. */
	struct homa_direct_ring *ring;
	uint64_t ring_tail;
	bool direct_v6;		 /* it has a socket for IPv6 peers too */
	uint64_t direct_records; /* records taken from it (homactl sockets) */
	TAILQ_ENTRY(session) direct_link; /* h->direct */
	/* Direct receive: its key (keyed id blocks; 0: none), the port its
	 * socket's filter names, whether that socket is in use now. */
	uint32_t drx_key;
	uint16_t drx_port;
	bool drx;
	uint32_t drx_blocks;  /* keyed id blocks handed out */
	uint64_t drx_records; /* RECEIVED records (homactl sockets) */
	const char *drx_why;  /* asked, not granted: why (static) */
	/* Direct receive of requests (a request socket, given at Bind). */
	bool srx;
	bool srx_ever;	      /* had one: late DirectPackets are dropped */
	uint16_t srx_port;    /* its filter's port */
	int srx_keep;	      /* homad's descriptor of it (revocation) */
	uint64_t srx_records; /* ARRIVED records (homactl sockets) */

	bool loud;	    /* log the disconnection at info level */
	bool internal;	    /* homad's failure, not the client's: warn */
	int err;	    /* errno of a failed send or receive, or 0 */
	const char *reason; /* why it ends (static) */
};

/* Set up h for engine e with cfg (copied) and ops (NULL: memfd ops). */
void session_host_init(struct session_host *h, struct homa_engine *e,
		       const struct homa_config *cfg,
		       const struct session_ops *ops, void *ops_arg);
void session_host_set_config(struct session_host *h,
			     const struct homa_config *cfg);

/*
 * May process pid open one more session, with n_live sessions open in
 * all?  0 with *cl its accounting (new if need be), or ENFILE
 * (limits.max_clients), EMFILE (limits.max_sockets_per_client), ENOMEM,
 * with a reason in *why; counted in chan_refused.
 */
int session_admit(struct session_host *h, pid_t pid, unsigned n_live,
		  struct session_client **cl, const char **why);
/* Give back an admission session_init did not use. */
void session_unadmit(struct session_host *h, struct session_client *cl);

/*
 * The OpenReply(error, why) of a connection refused before it has a
 * session (session_admit failed), packed into buf[0..len): its length,
 * or 0 if it does not fit.
 */
size_t session_pack_refusal(int error, const char *why, uint8_t *buf,
			    size_t len);

/*
 * Start s in OPENING for process cl (from
 * session_admit), owned by the shell's owner.
 */
void session_init(struct session *s, struct session_host *h,
		  struct session_client *cl, void *owner, uint64_t serial,
		  pid_t pid, uid_t uid, gid_t gid);
/* Free what s holds (its regions unmapped); s is DEAD. */
void session_fini(struct session *s);

/*
 * The one state change: 0, or -EINVAL (illegal: refused, counted in
 * illegal_transitions, the first logged) for a change the table does not
 * allow.  reason (static, may be NULL) says why, for logs.
 */
int session_change_state(struct session *s, enum session_state to,
			 const char *reason);
bool session_transition_legal(enum session_state from, enum session_state to);
const char *session_state_name(enum session_state st);

/*
 * A receive completed: res is recvmsg's result (bytes, 0 at EOF, -errno);
 * buf its bytes (res of them, at most HOMA_CLIENT_MAX_DATAGRAM + 1 read),
 * fds[0..nfds) the descriptors that came (the session closes them
 * whatever happens), cmsg_bad true if the control data was truncated or
 * not SCM_RIGHTS.
 */
void session_recv(struct session *s, int res, const uint8_t *buf, int *fds,
		  unsigned nfds, bool cmsg_bad, uint64_t now);

/* Should the shell have a receive armed (OPENING/OPEN, not paused)? */
bool session_wants_recv(const struct session *s);
/* Is it paused only because too many events wait? */
bool session_recv_paused(const struct session *s);

/* Queue the due SendSpace and TxReleased events (the shell's flush). */
void session_queue_pending(struct session *s);
/* Events or released ids wait. */
bool session_has_pending(const struct session *s);
/* DOOMED, or LINGER with its answer sent: the shell closes it. */
bool session_should_close(const struct session *s);

/*
 * The next event to send, packed (buf, len), now the shell's until
 * session_ev_done; NULL if none (or out of memory: s is DOOMED).
 */
struct session_ev *session_ev_next(struct session *s);
/* The send of ev completed with res (bytes or -errno); frees ev. */
void session_ev_done(struct session *s, struct session_ev *ev, int res,
		     uint64_t now);
/* Free an event the shell could not send. */
void session_ev_free(struct session_ev *ev);

/*
 * Doom s (closed by the shell's flush): counter (may be NULL) is counted,
 * reason (static) logged.  Nothing if it ends already.
 */
void session_fail(struct session *s, uint64_t *counter, const char *reason);

/*
 * End s: close its engine socket (its RPCs end, its bpages are forgotten),
 * drop its queued events; s goes CLOSING then CLOSED.  Nothing if it is
 * CLOSING or beyond.
 */
void session_close(struct session *s, const char *reason, uint64_t now);
/* CLOSED and no message lent to the engine any more. */
bool session_releasable(const struct session *s);
/* Holds a client (counted in chan_n_clients): OPENING to DOOMED. */
bool session_live(const struct session *s);

/* The engine's callbacks, with the session as the socket's app cookie. */
void session_deliver(struct session *s, const struct homa_delivery *d);
/* The session whose message cookie the engine released (its tx freed). */
struct session *session_tx_release(void *cookie);
void session_send_space(struct session *s);

/*
 * Direct send: take the records of s's ring (each checked as the
 * SendRequest or SendResponse it stands for; a bad one dooms s, counted in
 * chan_direct_bad and chan_bad_messages) and adopt their messages as sent
 * at now.  Returns the records taken.  session_host_direct_drain: every
 * session's.
 */
unsigned session_direct_drain(struct session *s, uint64_t now);
unsigned session_host_direct_drain(struct session_host *h, uint64_t now);
/* Does an OPEN session's ring hold records not yet taken? */
bool session_host_direct_pending(const struct session_host *h);
/* The ports of the sessions using a direct receive socket (requests: a
 * request socket), into ports[0..max): how many. */
unsigned session_host_direct_rx_ports(const struct session_host *h,
				      bool requests, uint16_t *ports,
				      unsigned max);

/*
 * Write what DATA to peer p carries into homad's peer table t (seqlock per
 * entry; a forgotten peer's entry is cleared; a full probe run overwrites
 * the run's first entry).
 */
void session_direct_publish(struct homa_direct_table *t,
			    const struct homa_peer_pub *p);
/* Set t's header from engine e (limits, priorities, incast). */
void session_direct_header(struct homa_direct_table *t,
			   const struct homa_engine *e,
			   uint32_t num_priorities);

/* Put s on its host's dirty list. */
void session_mark_dirty(struct session *s);

#endif /* HOMAD_SESSION_H */
