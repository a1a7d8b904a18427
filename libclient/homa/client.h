/*
 * homa/client.h - libhomaclient: Homa RPCs through homad.
 *
 * A Homa socket (struct hc_sock) is one connection to homad's client socket
 * plus two shared-memory regions the library creates: the receive pool,
 * into which homad writes incoming messages in 64 KiB bpages, and the
 * transmit area, from which homad reads outgoing messages.  See
 * libhomaclient(3) for the full description; in short:
 *
 *   - Every function returns 0 (or a documented non-negative value) on
 *     success and a negative errno on failure; hc_strerror() names it and
 *     hc_last_error() gives the socket's last error text.
 *   - Sends are asynchronous: hc_send_request() returns the new RPC's id at
 *     once; errors found later come back from hc_recv() as failed RPCs.
 *   - A received message lies in the receive pool; its bpages are the
 *     application's until it gives them back with hc_recycle().
 *   - All functions are thread-safe, except hc_close(), which must be the
 *     last call on a socket.
 *   - The library never prints; it may report through a log callback.
 */
#ifndef HOMA_CLIENT_H
#define HOMA_CLIENT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HC_MAX_MESSAGE_LENGTH 1000000 /* largest Homa message, bytes */
#define HC_BPAGE_SIZE	      65536   /* receive pool page */
#define HC_MAX_BPAGES	      16      /* bpages of one message, at most */
#define HC_MIN_DEFAULT_PORT   0x8000  /* bind() takes ports below this */

/* Default homad client socket (overridden by $HOMA_SOCKET). */
#define HC_DEFAULT_SOCKET "/run/homad/homa.sock"

/* Flags of the send functions and of hc_tx_reserve(). */
#define HC_PRIVATE  0x1 /* request: only hc_recv(id) returns its response */
#define HC_NONBLOCK 0x2 /* fail with -EAGAIN instead of waiting for space */

/* Log levels of hc_options.log. */
enum hc_log_level {
	HC_LOG_ERR = 3,
	HC_LOG_WARNING = 4,
	HC_LOG_NOTICE = 5,
	HC_LOG_INFO = 6,
	HC_LOG_DEBUG = 7,
};

/* An open Homa socket; opaque. */
struct hc_sock;

/*
 * Options of hc_open().  Zero (or NULL) in any field means its default;
 * hc_options_init() fills every field with 0.
 */
struct hc_options {
	/* homad's client socket [$HOMA_SOCKET, else HC_DEFAULT_SOCKET] */
	const char *socket_path;
	/* receive pool bytes [64 MiB]: >= 2 bpages, a multiple of 64 KiB */
	size_t rx_pool_bytes;
	/* transmit area bytes [16 MiB]: 64 KiB .. 4 GiB */
	size_t tx_area_bytes;
	/*
	 * [16384] events queued for hc_recv(any) before the library stops
	 * reading the connection (libhomaclient(3), LIMITS).
	 */
	unsigned max_events;
	/*
	 * [16384] messages sent and not yet released by homad, plus
	 * zero-copy reservations, plus uncollected private responses.
	 */
	unsigned max_outstanding;
	/* Optional: called for notable events (never required). */
	void (*log)(void *arg, int level, const char *text);
	void *log_arg;
};

void hc_options_init(struct hc_options *opts);

/*
 * Open a Homa socket of family AF_INET or AF_INET6.  opts may be NULL.
 * On success *out is the socket, with a default port (>= 0x8000), not
 * accepting requests.  Errors: -EAFNOSUPPORT, -EINVAL (bad option),
 * -ENOENT/-ECONNREFUSED/-EACCES (homad's socket), -ETIMEDOUT (homad did
 * not answer in 10 s), -ENOMEM, or homad's refusal (e.g. -EMFILE, -EUSERS,
 * -EPROTO); the text is in hc_last_error(NULL, ...).
 */
int hc_open(struct hc_sock **out, int family, const struct hc_options *opts);

/*
 * Close s: homad ends all its RPCs; the regions are unmapped, so every
 * message pointer of s becomes invalid.  No other thread may use s during
 * or after the call.  Takes NULL.
 */
void hc_close(struct hc_sock *s);

/*
 * Take port (1 .. 0x7fff) and accept incoming requests; port 0 changes
 * nothing.  -EINVAL (port >= 0x8000), -EADDRINUSE, -EACCES/-EPERM (homad's
 * policy), -ESHUTDOWN, -ECONNRESET.
 */
int hc_bind(struct hc_sock *s, unsigned port);

/* Accept incoming requests (on) or not.  -ESHUTDOWN, -ECONNRESET. */
int hc_set_server(struct hc_sock *s, bool on);

/* The socket's current port (0 after hc_shutdown()), its family. */
unsigned hc_port(struct hc_sock *s);
int hc_family(const struct hc_sock *s);

/*
 * The connection's file descriptor, for poll/epoll: readable when homad
 * has sent events the library has not read yet (with direct receive, an
 * epoll descriptor over the connection and the receive socket, the same
 * for the socket's life).  The library may already hold events it has
 * read; see hc_ready().  Do not read, write or close it.
 */
int hc_fd(const struct hc_sock *s);

#define HC_READY_RECV 0x1 /* hc_recv(s, 0, 0, ...) would not fail -EAGAIN */
#define HC_READY_SEND 0x2 /* a send of a small message would not wait */

/*
 * Read (without waiting) what homad has sent, then say what is ready: a
 * mask of HC_READY_*.  Call it when poll says hc_fd() is readable, and
 * before going to sleep in poll (the library may hold events read by
 * another thread).  Never fails.
 */
int hc_ready(struct hc_sock *s);

/*
 * How many messages (and failed RPCs) the library holds for hc_recv(s, 0,
 * ...): that many calls return at once, without a system call.  Reads
 * nothing; never fails.  A poll loop can serve these, then sleep in poll,
 * instead of calling hc_recv until -EAGAIN.
 */
unsigned hc_queued(struct hc_sock *s);

/* ---- sending ---------------------------------------------------------- */

/*
 * Send a request of len bytes (1 .. HC_MAX_MESSAGE_LENGTH) to dest (a
 * sockaddr_in for AF_INET sockets, sockaddr_in6 for AF_INET6 sockets,
 * v4-mapped addresses allowed; port != 0).  cookie comes back with the
 * response.  flags: HC_PRIVATE, HC_NONBLOCK.  On success *id (may be NULL)
 * is the new RPC's id (even).  The bytes are copied (into the descriptor
 * or the transmit area); buf is free again on return.  Waits while the
 * transmit area or the socket's outgoing-byte cap (homad's wmem_max) is
 * full, unless HC_NONBLOCK (-EAGAIN).  Errors: -EINVAL (length, flags,
 * port 0), -EAFNOSUPPORT, -EMSGSIZE (larger than the transmit area),
 * -ENOBUFS (max_outstanding private responses uncollected), -EAGAIN,
 * -ESHUTDOWN, -ECONNRESET.
 */
int hc_send_request(struct hc_sock *s, const struct sockaddr *dest,
		    socklen_t dest_len, const void *buf, size_t len,
		    uint64_t cookie, int flags, uint64_t *id);

/* As hc_send_request(), the message gathered from iov[0..iovcnt). */
int hc_send_requestv(struct hc_sock *s, const struct sockaddr *dest,
		     socklen_t dest_len, const struct iovec *iov, int iovcnt,
		     uint64_t cookie, int flags, uint64_t *id);

/*
 * Send the response of request id (odd, as hc_recv returned it) to peer
 * (the request's msg.peer).  flags: HC_NONBLOCK.  A response to an RPC
 * homad no longer has is discarded silently; one homad refuses (e.g. the
 * RPC is not waiting for a response) comes back from hc_recv as a failure
 * with this id.  After hc_shutdown() it is discarded and 0 returned.
 * Errors: as hc_send_request (-EINVAL also for an even id or id 0).
 */
int hc_send_response(struct hc_sock *s, uint64_t id,
		     const struct sockaddr *peer, socklen_t peer_len,
		     const void *buf, size_t len, int flags);
int hc_send_responsev(struct hc_sock *s, uint64_t id,
		      const struct sockaddr *peer, socklen_t peer_len,
		      const struct iovec *iov, int iovcnt, int flags);

/*
 * Zero-copy sending: reserve size bytes of the transmit area, build the
 * message at buf->data, send it with hc_send_request_buf() or
 * hc_send_response_buf() (or give it back with hc_tx_cancel()).  The
 * library owns the bytes again once they are sent: do not touch buf->data
 * after a successful send.  After a failed send the reservation is still
 * the caller's.  flags: HC_NONBLOCK (-EAGAIN instead of waiting for space).
 */
struct hc_txbuf {
	void *data;   /* size bytes in the transmit area */
	size_t size;  /* as reserved */
	uint32_t tag; /* the library's; leave it alone */
	uint32_t gen; /* the library's; leave it alone */
};

int hc_tx_reserve(struct hc_sock *s, size_t size, int flags,
		  struct hc_txbuf *buf);
int hc_tx_cancel(struct hc_sock *s, struct hc_txbuf *buf);

/* Send buf->data[0..len) (len <= buf->size) as a request / a response. */
int hc_send_request_buf(struct hc_sock *s, const struct sockaddr *dest,
			socklen_t dest_len, struct hc_txbuf *buf, size_t len,
			uint64_t cookie, int flags, uint64_t *id);
int hc_send_response_buf(struct hc_sock *s, uint64_t id,
			 const struct sockaddr *peer, socklen_t peer_len,
			 struct hc_txbuf *buf, size_t len, int flags);

/* ---- receiving -------------------------------------------------------- */

/*
 * A received message (error == 0) or a failed RPC (error != 0).  A message
 * lies in the receive pool at bpage_offsets[0..num_bpages): all full,
 * 64 KiB-aligned bpages but the last.  It is the application's until
 * hc_recycle().
 */
struct hc_msg {
	uint64_t id;	 /* odd: a request; even: a response */
	uint64_t cookie; /* responses and failures: the request's cookie */
	int error;	 /* 0, or the RPC's positive errno */
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} peer; /* the sender (messages only) */
	socklen_t peer_len;
	uint32_t length; /* message bytes */
	uint32_t num_bpages;
	uint32_t bpage_offsets[HC_MAX_BPAGES];
};

/*
 * Wait for a message: id 0 = any message but a private response; an id
 * sent with HC_PRIVATE = that RPC's response.  timeout_ms: < 0 forever,
 * 0 = do not wait, > 0 milliseconds.  Returns 0 with *msg filled (a
 * message, or a failed RPC with msg->error set), or: -EAGAIN (nothing in
 * time), -EINVAL (id not an outstanding private RPC; or hc_shutdown()
 * while waiting for one), -ESHUTDOWN (after hc_shutdown()), -ECONNRESET
 * (homad closed the connection; messages already received are still
 * returned first).
 */
int hc_recv(struct hc_sock *s, uint64_t id, int timeout_ms, struct hc_msg *msg);

/*
 * Copy up to len bytes of msg from offset into dst; returns the number
 * copied (0 past the end, or for a failure).
 */
size_t hc_msg_read(struct hc_sock *s, const struct hc_msg *msg, size_t offset,
		   void *dst, size_t len);

/*
 * Zero-copy reading: point iov[0..) at the message's bytes in the pool
 * (read-only), one extent per bpage.  Returns the number of extents
 * (<= HC_MAX_BPAGES), or -EINVAL if iovcnt is too small.  Valid until
 * hc_recycle(msg).
 */
int hc_msg_iov(struct hc_sock *s, const struct hc_msg *msg, struct iovec *iov,
	       int iovcnt);

/*
 * Give msg's bpages back to homad (no reply; the library batches them
 * into its next datagram, or sends them before it waits when the pool is
 * tight).  msg's bytes
 * must not be used afterwards; msg->num_bpages becomes 0, so a second call
 * does nothing.  -ECONNRESET (nothing to give back to), -ENOMEM.
 */
int hc_recycle(struct hc_sock *s, struct hc_msg *msg);

/*
 * Send batched recycles now; when homad is not reading, wait for room,
 * reading its events meanwhile.  -ECONNRESET.
 */
int hc_flush(struct hc_sock *s);

/* ---- control ---------------------------------------------------------- */

/*
 * Abort client RPC id (0: all of them).  error 0: forget them silently
 * (a private waiter for one gets -EINVAL); else they fail with that errno
 * (hc_recv returns them).  -EINVAL (unknown id), -ESHUTDOWN, -ECONNRESET.
 */
int hc_abort(struct hc_sock *s, uint64_t id, int error);

/* One RPC of the socket, as HOMAIOCINFO describes it. */
struct hc_rpc_info {
	uint64_t id;
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} peer;
	uint64_t cookie;
	int32_t tx_length; /* -1: no outgoing message yet */
	uint32_t tx_sent, tx_granted, tx_prio;
	int32_t rx_length; /* -1: nothing received yet */
	uint32_t rx_remaining, rx_gaps, rx_gap_bytes, rx_granted;
	uint32_t flags; /* HOMA_RPC_* of the kernel API */
};

struct hc_info {
	unsigned port;
	unsigned num_rpcs;	    /* live RPCs (may exceed what was filled) */
	uint64_t bpool_avail_bytes; /* free receive pool bytes */
};

/*
 * Ask homad about the socket: fills *info and up to max_rpcs entries of
 * rpcs (may be NULL if max_rpcs is 0); *n_rpcs (may be NULL) = entries
 * filled.  -ESHUTDOWN, -ECONNRESET, -ENOMEM.
 */
int hc_info(struct hc_sock *s, struct hc_info *info, struct hc_rpc_info *rpcs,
	    unsigned max_rpcs, unsigned *n_rpcs);

/*
 * Shut the socket down: homad ends all its RPCs and releases its port.
 * Threads waiting in hc_recv for any message wake with -ESHUTDOWN, those
 * waiting for a private id with -EINVAL; later requests fail -ESHUTDOWN.
 * The socket stays open until hc_close().  Returns 0 (also when homad is
 * gone).
 */
int hc_shutdown(struct hc_sock *s);

/* ---- errors ----------------------------------------------------------- */

/*
 * A description of err (negative or positive errno), never NULL; static
 * text (thread-safe).
 */
const char *hc_strerror(int err);

/*
 * Copy the text of s's last failed call (or, for s NULL, of this thread's
 * last failed hc_open) into buf[0..len), NUL-terminated; returns buf.
 * Empty when there was none.
 */
char *hc_last_error(struct hc_sock *s, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* HOMA_CLIENT_H */
