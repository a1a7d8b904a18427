/*
 * dataplane.h - homad's hot thread: io_uring, the link, the engine.
 *
 * The data plane owns all protocol state (the engine and the client
 * channel's sessions, daemon/chan.h).  io_uring is its only wait: each loop
 * iteration submits the queued sends and sleeps in one
 * io_uring_submit_and_wait (or, with network.ring_wait = "poll", in poll(2)
 * on the ring: uring_submit_and_wait), with an io_uring timeout at the
 * engine's next deadline.  Packets arrive by multishot recvmsg into a
 * provided-buffer ring (re-armed whenever the kernel ends it); clients connect
 * through a multishot accept on the client socket.  The engine sits between the
 * two: its packets go to the link (link_sendv, per-packet priority, GSO runs of
 * one message's DATA), its deliveries and releases to the client channel,
 * ICMP errors the link reads to engine_icmp_error.
 *
 * The control plane (another thread) talks to it only by messages:
 * dp_post() hands a struct dp_msg to the data plane through io_uring
 * MSG_RING; the data plane fills in the reply and returns the message to
 * the control plane's reply list, then calls the notify callback given to
 * dp_start (the control plane makes that an ev_async_send).  The two
 * threads share no mutable state apart from that reply list (behind a
 * mutex).
 */
#ifndef HOMAD_DATAPLANE_H
#define HOMAD_DATAPLANE_H

#include <stdint.h>

#include "conf.h"
#include "stats.h"

#define DP_MAX_SOCKETS 64

/* What a socket of the link listens on, for `homactl status`. */
struct dp_socket_info {
	int family;    /* AF_INET, AF_INET6 */
	int kind;      /* enum homa_link_kind */
	char desc[96]; /* e.g. "ip 10.0.0.1", "udp [::]:4146 dev veth0" */
};

/* A copy of the data plane's state, taken on its own thread. */
struct dp_snapshot {
	uint64_t taken_ns;   /* CLOCK_MONOTONIC when taken */
	uint64_t started_ns; /* CLOCK_MONOTONIC when the thread started */
	enum homa_link_kind link;
	uint32_t mtu; /* in effect */
	unsigned n_sockets;
	struct dp_socket_info sockets[DP_MAX_SOCKETS];
	struct homad_metrics metrics;
	unsigned clients;		 /* client connections */
	uint64_t client_memory;		 /* bytes of client regions mapped */
	struct homa_engine_state engine; /* sockets, RPCs, peers... */
};

enum dp_msg_type {
	DP_MSG_PING,	 /* liveness check for the watchdog: no payload */
	DP_MSG_SNAPSHOT, /* reply: u.snapshot */
	DP_MSG_RECONFIG, /* request: u.config; reply: result (0 or -errno,
			    -EBUSY with the reason in reason) */
	DP_MSG_FAULTS,	 /* request: u.faults (homactl set test.*); reply:
			    result (0 or -ENOMEM) */
	DP_MSG_STOP,	 /* the thread finishes its loop and exits */
	DP_MSG_SOCKETS,	 /* u.list of struct chan_sock_entry */
	DP_MSG_RPCS,	 /* u.list of struct homa_rpc_info (a page) */
	DP_MSG_PEERS,	 /* u.list of struct homa_peer_entry (a page) */
};

/*
 * A listing (DP_MSG_SOCKETS, _RPCS, _PEERS): the control plane allocates
 * items (max entries of the message's type) before posting, so the data
 * plane only copies; pages bound the time it spends per message.
 */
struct dp_list {
	void *items;
	unsigned max;	 /* request: entries items holds */
	unsigned n;	 /* reply: entries written */
	uint64_t cursor; /* request: where the page starts (0: first); reply:
			    where the next one does */
	bool more;	 /* reply: another page follows */
	uint32_t total;	 /* reply: sockets, live RPCs or peers in all */
	uint16_t port;	 /* DP_MSG_RPCS request: local port, 0: any */
	bool has_peer;	 /* DP_MSG_RPCS request: only peer's RPCs */
	struct homa_addr peer;
};

/*
 * One request and, once returned, its reply.  Allocated and freed by the
 * control plane; owned by the data plane between dp_post and its return
 * through dp_take_replies.
 */
struct dp_msg {
	enum dp_msg_type type;
	int result;	     /* reply: 0 or -errno */
	void *cookie;	     /* the control plane's, untouched */
	struct dp_msg *next; /* reply list link */
	char reason[256];    /* reply: why result < 0 ("" : strerror) */
	union {
		struct homa_config config;   /* DP_MSG_RECONFIG request */
		struct fault_params faults;  /* DP_MSG_FAULTS request */
		struct dp_snapshot snapshot; /* DP_MSG_SNAPSHOT reply */
		struct dp_list list;	     /* DP_MSG_SOCKETS, _RPCS, _PEERS */
	} u;
};

struct dp;

/*
 * Set up the data plane from cfg on the calling thread: probe io_uring
 * features, create the ring and the provided-buffer ring, open and bind
 * the link's sockets (raw IPPROTO 146 or UDP, IPv4 and/or IPv6 as cfg
 * says).  Needs CAP_NET_RAW for the ip link; call before dropping
 * privileges.  Returns NULL with a one-line reason in err (e.g. which
 * io_uring feature is missing, or which socket could not be opened).
 */
struct dp *dp_create(const struct homa_config *cfg, char *err, size_t errlen);

/*
 * Serve the applications' client socket: listen_fd is a listening unix
 * SOCK_SEQPACKET socket (clients.socket), owned by the data plane from now
 * on (closed by dp_destroy).  Call after dp_create and before dp_start.
 * Returns 0, or -errno with a reason in err (-EALREADY: already given).
 */
int dp_serve_clients(struct dp *dp, int listen_fd, char *err, size_t errlen);

/*
 * Start the data-plane thread, which arms the link's receives (on its own:
 * see link_start) and then runs.  notify(arg) is called on that thread
 * each time replies are added to the reply list.  Returns 0, or -errno with
 * a reason in err (e.g. a kernel without multishot recvmsg); on failure the
 * thread has ended and only dp_destroy is left to call.
 */
int dp_start(struct dp *dp, void (*notify)(void *arg), void *arg, char *err,
	     size_t errlen);

/*
 * Hand msg to the data plane (control-plane thread only).  Returns 0, or
 * -errno if it could not be posted (msg is then still the caller's).
 */
int dp_post(struct dp *dp, struct dp_msg *msg);

/*
 * Take every returned message, oldest first, as a list linked by ->next
 * (control-plane thread only).  NULL when there is none.
 */
struct dp_msg *dp_take_replies(struct dp *dp);

/*
 * Wait for the thread to exit (after a DP_MSG_STOP) and free everything,
 * closing the sockets and the rings.  Takes NULL.
 */
void dp_destroy(struct dp *dp);

#endif /* HOMAD_DATAPLANE_H */
