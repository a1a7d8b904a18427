/*
 * dataplane.c - the data-plane thread: one io_uring wait, the link, the
 * engine, the client channel, and messages from the control plane.
 *
 * The engine's callbacks (struct homa_engine_ops) run inside engine calls;
 * none of them calls back into the engine: packets go straight to the
 * link (which copies them into its tx slots), deliveries, releases and
 * send-space events are queued by the channel and sent by chan_flush once
 * per loop iteration, outside any engine call.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <endian.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include "chan.h"
#include "clock.h"
#include "dataplane.h"
#include "fault.h"
#include "link.h"
#include "log.h"
#include "uring.h"

_Static_assert(DP_MAX_SOCKETS >= LINK_MAX_SOCKETS,
	       "a snapshot must hold every socket of the link");

/* Entries of the control plane's own ring (dp_post's MSG_RING). */
#define DP_CTL_RING_ENTRIES 4
/* Largest completion queue the kernel allows (2 x IORING_MAX_ENTRIES). */
#define DP_MAX_CQ_ENTRIES 65536u
/*
 * A pacer's (or held packet's) deadline this close is not slept for:
 * arming an io_uring timeout and waking up from it costs far more here
 * (~50 us with the timer, spec/platform.md) than the wait, and the pacer's
 * deadlines while it sends a long message are a packet's link time apart
 * (~3 us).  The loop then polls the ring without blocking until the
 * deadline.  A timer tick is slept for however close: its deadlines are
 * tick_usecs apart and may be late by the wake-up; polling for the last
 * 20 us before each one cost ~6 loop passes per tick (issue 13's count).
 */
#define DP_NEAR_NS 20000ull
/* A tick this late counts in loop_late_ticks; one this late is logged. */
#define DP_LATE_NS	    10000000ull
#define DP_STALL_LOG_NS	    50000000ull
#define DP_STALL_LOG_GAP_NS 10000000000ull
/* How long the thread waits for cancelled requests when stopping. */
#define DP_DRAIN_NS (2ull * 1000000000ull)

struct dp {
	struct homa_config cfg; /* as given to dp_create */
	struct uring u;		/* the data plane's ring */
	struct link *link;
	struct homa_engine *engine;
	struct chan *chan;     /* NULL until dp_serve_clients */
	uint64_t stall_logged; /* when a late tick was last logged, or 0 */
	struct homad_stats *m; /* &stats */
	/*
	 * Fault injection (homa.conf test group): created the first time it
	 * is switched on, kept until dp_destroy.  fault_on is the one branch
	 * the rx and tx paths take while it is off.
	 */
	struct fault *fault;
	bool fault_on;

	/* The control plane's ring, used by dp_post/dp_destroy only. */
	struct io_uring ctl_ring;
	bool ctl_ok;
	bool stop_posted; /* a STOP (or QUIT) was posted */

	pthread_t thread;
	bool started; /* dp_start created the thread */
	/*
	 * Start handshake: the thread arms the link itself (io_uring runs a
	 * request's completion work on the task that submitted it, so
	 * requests armed by another thread would wake that thread for every
	 * packet), then reports link_start's result here.
	 */
	pthread_cond_t start_cond;
	bool start_done; /* under lock */
	int start_rc;
	char start_err[256];
	atomic_bool exited;	   /* the thread left its loop for good */
	void (*notify)(void *arg); /* called after adding replies */
	void *notify_arg;

	/* Returned messages, oldest first; the only state shared. */
	pthread_mutex_t lock;
	struct dp_msg *replies;
	struct dp_msg **replies_tail;

	/*
	 * Control messages of the completions being handled, oldest first:
	 * handled once the sends without completion are confirmed
	 * (dp_reap), so that a snapshot counts every send submitted.
	 */
	struct dp_msg *ctl_q;
	struct dp_msg **ctl_q_tail;

	/* Thread state. */
	uint64_t started_ns; /* CLOCK_MONOTONIC at thread start */
	bool quit;	     /* leave the loop */
	bool timeout_armed;  /* an IORING_OP_TIMEOUT is in flight */
	uint64_t timeout_at; /* its expiry, ns */
	struct __kernel_timespec timeout_ts;
	struct __kernel_timespec update_ts;

	/* homad's own counters (link, loop, fault injection; the engine
	 * keeps its own): through m. */
	struct homad_stats stats;
};

static void dp_ts(struct __kernel_timespec *ts, uint64_t ns)
{
	ts->tv_sec = (long long)(ns / 1000000000ull);
	ts->tv_nsec = (long long)(ns % 1000000000ull);
}

/* ---- the engine's outputs ------------------------------------------- */

static bool dp_fault_tx(struct dp *dp, const struct homa_out *pkt, bool *dup);

/*
 * A packet from the engine to the link.  A DATA packet carries its RPC id
 * as the GSO key, so that the udp link may send a run of one message's
 * packets in one UDP_SEGMENT send.  A refused packet (queue full...) is
 * counted by the link and recovered by Homa's retransmission.
 */
static void dp_engine_send(void *ctx, const struct homa_out *pkt)
{
	struct dp *dp = ctx;
	bool dup = false;

	if (__builtin_expect(dp->fault_on, 0) && dp_fault_tx(dp, pkt, &dup))
		return;
	link_sendv(dp->link, pkt->dst, pkt->prio, pkt->hdr, pkt->hdr_len,
		   pkt->payload, pkt->payload_len,
		   pkt->type == HOMA_DATA ? pkt->rpc_id : 0);
	/* A fault's copy goes in a send of its own (no GSO key). */
	if (dup)
		link_sendv(dp->link, pkt->dst, pkt->prio, pkt->hdr,
			   pkt->hdr_len, pkt->payload, pkt->payload_len, 0);
}

static void dp_engine_deliver(void *ctx, const struct homa_delivery *d)
{
	struct dp *dp = ctx;

	if (dp->chan)
		chan_deliver(dp->chan, d);
}

static void dp_engine_tx_release(void *ctx, void *sock_app, void *cookie)
{
	struct dp *dp = ctx;

	if (dp->chan)
		chan_tx_release(dp->chan, sock_app, cookie);
}

static void dp_engine_send_space(void *ctx, struct homa_sock *s, void *sock_app)
{
	struct dp *dp = ctx;

	(void)s;
	if (dp->chan)
		chan_send_space(dp->chan, sock_app);
}

static void dp_engine_port_unreachable(void *ctx, const struct homa_addr *src,
				       const void *pkt, size_t len)
{
	struct dp *dp = ctx;

	link_port_unreachable(dp->link, src, pkt, len);
}

/*
 * The engine asks whether a silent peer's host is up (stalled_peer_ticks):
 * an ICMP echo request.  A probe the link cannot send (no raw ICMP socket
 * for the family, no slot to spare) is counted there; to the engine it is
 * a probe without answer, as one lost on the way.
 */
static void dp_engine_probe(void *ctx, const struct homa_addr *peer,
			    uint16_t seq)
{
	struct dp *dp = ctx;

	(void)link_probe(dp->link, peer, seq);
}

/* Direct send: what DATA to a peer carries, for the clients' table. */
static void dp_engine_peer_changed(void *ctx, const struct homa_peer_pub *p)
{
	struct dp *dp = ctx;

	chan_direct_publish(dp->chan, p);
}

/* An echo reply to one of our probes: the host at peer is up. */
static void dp_echo(void *arg, const struct homa_addr *peer, uint16_t seq)
{
	struct dp *dp = arg;

	engine_peer_echo(dp->engine, peer, seq, homad_now_ns());
}

/*
 * An ICMP error the link read about a packet we sent: what it means for
 * Homa, then the engine fails the RPCs concerned.  A port unreachable
 * whose quote names no port is ignored (it would otherwise fail every RPC
 * to that host).
 */
static void dp_icmp(void *arg, const struct homa_addr *peer, int family,
		    uint8_t type, uint8_t code, uint16_t homa_dport,
		    uint64_t sender_id)
{
	struct dp *dp = arg;
	bool port_only = false;
	int err = engine_icmp_errno(family, type, code, &port_only);

	(void)sender_id;
	if (err == 0 || (port_only && homa_dport == 0))
		return;
	engine_icmp_error(dp->engine, peer, port_only ? homa_dport : 0, err,
			  homad_now_ns());
}

/*
 * Where this run's client RPC ids start: random, below 2^62 (never near
 * wrapping), so that a restarted homad does not send ids its peers saw
 * from the previous run moments ago (engine_set_id_base).
 */
static uint64_t dp_id_base(void)
{
	uint64_t v;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = homad_now_ns() * 0x9E3779B97F4A7C15ull ^
		    ((uint64_t)getpid() << 32);
	return v & ((UINT64_C(1) << 62) - 1);
}

/*
 * The engine's parameters for cfg on this link: the MTU the link found
 * (the udp link's packets lose 8 bytes to the UDP header) and the limits.
 */
static void dp_params(const struct dp *dp, const struct homa_config *cfg,
		      struct homa_params *p)
{
	uint32_t mtu = link_mtu(dp->link);

	*p = cfg->proto;
	if (cfg->link == HOMA_LINK_UDP)
		mtu = mtu > 8 ? mtu - 8 : 0;
	if (mtu > 65535)
		mtu = 65535;
	if (mtu < 576)
		mtu = 576;
	p->mtu = mtu;
	p->max_rpcs = cfg->max_rpcs;
	p->max_peers = cfg->max_peers;
}

/* ---- fault injection (fault.h) ---------------------------------------- */

/*
 * A packet in direction dir with faults on: true when the injector took it
 * (dropped, or a copy held for later); else the caller hands it on now,
 * and once more when *dup is set.  hdr[0..hdr_len) + payload[0..
 * payload_len) is copied if held.
 */
static bool dp_fault_take(struct dp *dp, enum fault_dir dir,
			  const struct homa_addr *addr, uint8_t prio,
			  const void *hdr, size_t hdr_len, const void *payload,
			  size_t payload_len, uint64_t now, bool *dup)
{
	uint64_t release_at = 0;
	enum fault_action a = fault_decide(dp->fault, dir, now, &release_at);

	*dup = a == FAULT_DUP;
	if (a == FAULT_DROP)
		return true;
	return (a == FAULT_REORDER || a == FAULT_DELAY) &&
	       fault_hold(dp->fault, dir, a, addr, prio, hdr, hdr_len, payload,
			  payload_len, release_at) == 0;
}

static bool dp_fault_tx(struct dp *dp, const struct homa_out *pkt, bool *dup)
{
	return dp_fault_take(dp, FAULT_TX, pkt->dst, pkt->prio, pkt->hdr,
			     pkt->hdr_len, pkt->payload, pkt->payload_len,
			     homad_now_ns(), dup);
}

/*
 * Hand on every held packet due at now: received ones to the engine, sent
 * ones to the link, each in a send of its own.
 */
static void dp_fault_release(struct dp *dp, uint64_t now)
{
	struct fault_pkt p;

	while (fault_pop_due(dp->fault, now, &p)) {
		if (p.dir == FAULT_RX)
			engine_rx(dp->engine, p.data, p.len, &p.addr, p.prio,
				  now);
		else
			link_sendv(dp->link, &p.addr, p.prio, p.data, p.len,
				   NULL, 0, 0);
	}
}

/*
 * Apply the test group p: the injector is created the first time p
 * switches a fault on.  Returns 0 or -ENOMEM (faults then stay off).
 */
static int dp_fault_set(struct dp *dp, const struct fault_params *p)
{
	bool on = fault_params_active(p);
	uint64_t clock_seed = homad_now_ns() ^ ((uint64_t)getpid() << 40);

	if (!dp->fault && !on)
		return 0;
	if (!dp->fault) {
		dp->fault = fault_create(p, clock_seed, dp->m);
		if (!dp->fault) {
			dp->fault_on = false;
			return -ENOMEM;
		}
	} else {
		fault_set_params(dp->fault, p, clock_seed);
	}
	if (on != dp->fault_on)
		log_notice("data plane: fault injection %s", on ? "on" : "off");
	if (on)
		log_info("data plane: faults rx drop %g dup %g reorder %g "
			 "(%u us) delay %g (%u us); tx drop %g dup %g "
			 "reorder %g (%u us) delay %g (%u us)",
			 p->rx_drop, p->rx_dup, p->rx_reorder, p->rx_reorder_us,
			 p->rx_delay, p->rx_delay_us, p->tx_drop, p->tx_dup,
			 p->tx_reorder, p->tx_reorder_us, p->tx_delay,
			 p->tx_delay_us);
	dp->fault_on = on;
	return 0;
}

/* The link's receiver: every packet goes to the engine. */
static void dp_rx(void *arg, const void *pkt, size_t len,
		  const struct homa_addr *src, uint8_t prio, uint64_t now)
{
	struct dp *dp = arg;
	bool dup = false;

	/*
	 * Direct send: a packet about a client RPC the engine does not know
	 * may answer a request whose ring record came after the last drain;
	 * a client's ack of a server RPC still in service, a response sent
	 * the same way.  Direct receive of requests: a control packet about
	 * a server RPC the engine does not know (a RESEND) may follow the
	 * record of its request; DATA never does (homad's filters drop the
	 * requests the libraries read, and no other DATA makes such a
	 * record), so request DATA costs no lookup here.
	 */
	if (chan_direct_active(dp->chan) && len >= HOMA_COMMON_LEN) {
		const uint8_t *p = pkt;
		uint64_t sender;

		memcpy(&sender,
		       p + offsetof(struct homa_wire_common, sender_id),
		       sizeof(sender));
		sender = be64toh(sender);
		if ((sender & 1) != 0
			    ? !engine_client_rpc_known(dp->engine, sender ^ 1)
			    : engine_acks_waiting(dp->engine, pkt, len, src) ||
				      (p[offsetof(struct homa_wire_common,
						  type)] != HOMA_DATA &&
				       chan_direct_serving(dp->chan) &&
				       !engine_server_rpc_known(
					       dp->engine, sender ^ 1, src)))
			chan_direct_drain(dp->chan, now);
	}
	/* With faults on, a held packet is copied (pkt is borrowed). */
	if (__builtin_expect(dp->fault_on, 0) &&
	    dp_fault_take(dp, FAULT_RX, src, prio, pkt, len, NULL, 0, now,
			  &dup))
		return;
	engine_rx(dp->engine, pkt, len, src, prio, now);
	if (dup)
		engine_rx(dp->engine, pkt, len, src, prio, now);
}

/* chan_drx_fn: direct receive's ports, into the link's filters. */
static int dp_direct_rx(void *arg, const uint16_t *ports, unsigned n,
			const uint16_t *req, unsigned m)
{
	struct dp *dp = arg;

	return link_set_direct_rx(dp->link, ports, n, req, m);
}

/* Completion queue large enough for everything that can be in flight. */
static unsigned dp_cq_entries(const struct homa_config *cfg)
{
	uint64_t need = (uint64_t)cfg->tx_queue + cfg->rx_buffers +
			4u * LINK_MAX_SOCKETS + 2u * cfg->max_clients + 64u;
	unsigned n = 1;

	while (n < need && n < DP_MAX_CQ_ENTRIES)
		n <<= 1;
	return n;
}

struct dp *dp_create(const struct homa_config *cfg, char *err, size_t errlen)
{
	static const struct homa_engine_ops ops = {
		.send = dp_engine_send,
		.deliver = dp_engine_deliver,
		.tx_release = dp_engine_tx_release,
		.send_space = dp_engine_send_space,
		.port_unreachable = dp_engine_port_unreachable,
		.probe = dp_engine_probe,
		.peer_changed = dp_engine_peer_changed,
	};
	struct dp *dp = calloc(1, sizeof(*dp));
	struct homa_params params;
	int r;

	if (!dp) {
		snprintf(err, errlen, "out of memory for the data plane");
		return NULL;
	}
	dp->cfg = *cfg;
	pthread_mutex_init(&dp->lock, NULL);
	pthread_cond_init(&dp->start_cond, NULL);
	dp->replies_tail = &dp->replies;
	dp->ctl_q_tail = &dp->ctl_q;
	atomic_init(&dp->exited, false);

	if (uring_init(&dp->u, cfg->ring_entries, dp_cq_entries(cfg), err,
		       errlen) < 0)
		goto fail;
	dp->u.poll_wait = cfg->ring_wait == HOMA_RING_WAIT_POLL;
	dp->engine = engine_create(&cfg->proto);
	if (!dp->engine) {
		snprintf(err, errlen, "out of memory for the engine");
		goto fail;
	}
	dp->m = &dp->stats;
	dp->link = link_create(&dp->u, cfg, dp->m, dp_rx, dp, err, errlen);
	if (!dp->link)
		goto fail;
	/* The MTU is known now. */
	dp_params(dp, cfg, &params);
	engine_set_params(dp->engine, &params);
	engine_set_ops(dp->engine, &ops, dp);
	engine_set_id_base(dp->engine, dp_id_base());
	link_set_icmp_fn(dp->link, dp_icmp, dp);
	link_set_echo_fn(dp->link, dp_echo, dp);
	if (dp_fault_set(dp, &cfg->test) < 0) {
		snprintf(err, errlen, "out of memory for fault injection");
		goto fail;
	}
	r = io_uring_queue_init(DP_CTL_RING_ENTRIES, &dp->ctl_ring, 0);
	if (r < 0) {
		snprintf(err, errlen, "cannot create the control io_uring: %s",
			 strerror(-r));
		goto fail;
	}
	dp->ctl_ok = true;
	log_info("data plane: %s link, %u sockets, MTU %u, io_uring of %u "
		 "entries",
		 config_link_name(cfg->link), link_n_sockets(dp->link),
		 link_mtu(dp->link), dp->u.ring.sq.ring_entries);
	return dp;
fail:
	dp_destroy(dp);
	return NULL;
}

int dp_serve_clients(struct dp *dp, int listen_fd, char *err, size_t errlen)
{
	if (dp->chan) {
		snprintf(err, errlen, "the client socket is already served");
		return -EALREADY;
	}
	if (dp->started) {
		snprintf(err, errlen, "the data plane runs already");
		return -EBUSY;
	}
	dp->chan = chan_create(&dp->u, dp->engine, &dp->cfg, listen_fd, err,
			       errlen);
	if (dp->chan)
		chan_set_direct_rx(dp->chan, dp_direct_rx, dp);
	return dp->chan ? 0 : -ENOMEM;
}

/* ---- the thread ------------------------------------------------------- */

/*
 * Tell the engine how many packets the link's free tx slots take now,
 * keeping a reserve for control packets (GRANTs, RESENDs, ACKs) and the
 * link's own answers, which do not wait.  DATA beyond it stays with the
 * pacer until send completions free slots (the next call).
 */
static void dp_tx_budget(struct dp *dp, uint64_t now)
{
	unsigned slots = dp->cfg.tx_queue;
	unsigned used = link_tx_in_flight(dp->link);
	unsigned reserve = slots / 16;

	if (reserve < 4)
		reserve = 4;
	if (reserve > slots / 2)
		reserve = slots / 2;
	used += reserve;
	engine_set_tx_budget(dp->engine, used < slots ? slots - used : 0, now);
}

/*
 * The engine's tick at now, timed: its cost is what grows with the RPCs
 * the engine holds (the timer visits every one), so it is measured
 * (loop_tick_ns*, homactl metrics).  So is how late it runs after its
 * deadline (loop_late_*): how long homad was kept from its CPU, which is
 * what a peer sees as silence.  A tick DP_STALL_LOG_NS late is logged
 * (at most once per DP_STALL_LOG_GAP_NS).
 */
static void dp_tick(struct dp *dp, uint64_t now, uint64_t deadline)
{
	uint64_t t0 = homad_now_ns(), ns, late;

	late = now > deadline ? now - deadline : 0;
	if (late > dp->m->loop_late_ns_max)
		dp->m->loop_late_ns_max = late;
	if (late >= DP_LATE_NS)
		dp->m->loop_late_ticks++;
	if (late >= DP_STALL_LOG_NS &&
	    (dp->stall_logged == 0 ||
	     now - dp->stall_logged >= DP_STALL_LOG_GAP_NS)) {
		dp->stall_logged = now;
		log_warnx("data plane: ran %" PRIu64 " ms late (starved of CPU "
			  "or stopped; peers saw no packet from this host)",
			  late / 1000000);
	}
	chan_direct_drain(dp->chan, now);
	engine_tick(dp->engine, now);
	ns = homad_now_ns() - t0;
	dp->m->loop_ticks++;
	dp->m->loop_tick_ns += ns;
	if (ns > dp->m->loop_tick_ns_max)
		dp->m->loop_tick_ns_max = ns;
}

/* Have the io_uring timeout fire at deadline (ns, CLOCK_MONOTONIC). */
static void dp_arm_timeout(struct dp *dp, uint64_t deadline)
{
	struct io_uring_sqe *sqe;

	if (dp->timeout_armed && dp->timeout_at == deadline)
		return;
	sqe = uring_sqe(&dp->u);
	if (!sqe)
		return;
	if (!dp->timeout_armed) {
		dp_ts(&dp->timeout_ts, deadline);
		io_uring_prep_timeout(sqe, &dp->timeout_ts, 0,
				      IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data64(sqe, uring_data(dp, URING_TAG_TIMEOUT));
		dp->timeout_armed = true;
	} else {
		/*
		 * If it fired meanwhile, this fails with -ENOENT: harmless.
		 * A success posts no completion: one would end the wait that
		 * follows at once, for nothing (an io_uring_enter per RPC).
		 */
		dp_ts(&dp->update_ts, deadline);
		io_uring_prep_timeout_update(sqe, &dp->update_ts,
					     uring_data(dp, URING_TAG_TIMEOUT),
					     IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data64(sqe,
					uring_data(NULL, URING_TAG_INTERNAL));
		io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
	}
	dp->timeout_at = deadline;
}

/* Give msg back to the control plane. */
static void dp_reply(struct dp *dp, struct dp_msg *msg)
{
	msg->next = NULL;
	pthread_mutex_lock(&dp->lock);
	*dp->replies_tail = msg;
	dp->replies_tail = &msg->next;
	pthread_mutex_unlock(&dp->lock);
	if (dp->notify)
		dp->notify(dp->notify_arg);
}

static void dp_snapshot(struct dp *dp, struct dp_snapshot *s, uint64_t now)
{
	unsigned i, n = link_n_sockets(dp->link);

	memset(s, 0, sizeof(*s));
	s->taken_ns = now;
	s->started_ns = dp->started_ns;
	s->link = dp->cfg.link;
	s->mtu = link_mtu(dp->link);
	if (n > DP_MAX_SOCKETS)
		n = DP_MAX_SOCKETS;
	s->n_sockets = n;
	for (i = 0; i < n; i++) {
		s->sockets[i].family = link_socket_family(dp->link, i);
		s->sockets[i].kind = (int)dp->cfg.link;
		snprintf(s->sockets[i].desc, sizeof(s->sockets[i].desc), "%s",
			 link_socket_desc(dp->link, i));
	}
	link_sample(dp->link, now, true);
	s->metrics.engine = *engine_metrics(dp->engine);
	s->metrics.homad = *dp->m;
	if (dp->chan)
		s->metrics.chan = *chan_stats(dp->chan);
	s->clients = chan_n_clients(dp->chan);
	s->client_memory = chan_mapped_bytes(dp->chan);
	engine_state(dp->engine, &s->engine);
}

/* A message from the control plane. */
static void dp_ctl(struct dp *dp, struct dp_msg *msg, uint64_t now)
{
	if (!msg) {
		log_warnx("data plane: empty control message ignored");
		return;
	}
	dp->m->ctl_messages++;
	msg->result = 0;
	if (dp->quit && msg->type != DP_MSG_STOP) {
		/* Posted while stopping: answer, do nothing. */
		msg->result = -ESHUTDOWN;
		dp_reply(dp, msg);
		return;
	}
	switch (msg->type) {
	case DP_MSG_PING:
		break;
	case DP_MSG_SNAPSHOT:
		dp_snapshot(dp, &msg->u.snapshot, now);
		break;
	case DP_MSG_RECONFIG: {
		struct homa_params params;

		msg->result =
			chan_check_config(dp->chan, &msg->u.config, msg->reason,
					  sizeof(msg->reason));
		if (msg->result < 0)
			break;
		dp_params(dp, &msg->u.config, &params);
		engine_set_params(dp->engine, &params);
		if (dp->chan)
			chan_set_config(dp->chan, &msg->u.config);
		log_set_level((enum log_level)msg->u.config.log_level);
		dp->cfg.spin_us = msg->u.config.spin_us;
		msg->result = dp_fault_set(dp, &msg->u.config.test);
		log_debug("data plane: parameters reloaded");
		break;
	}
	case DP_MSG_FAULTS:
		msg->result = dp_fault_set(dp, &msg->u.faults);
		break;
	case DP_MSG_STOP:
		dp->quit = true;
		break;
	case DP_MSG_SOCKETS:
		msg->u.list.n =
			chan_sockets(dp->chan, msg->u.list.items,
				     msg->u.list.max, &msg->u.list.total);
		break;
	case DP_MSG_RPCS: {
		struct homa_engine_state st;

		msg->u.list.n = engine_rpcs_page(
			dp->engine, &msg->u.list.cursor, msg->u.list.port,
			msg->u.list.has_peer ? &msg->u.list.peer : NULL,
			msg->u.list.items, msg->u.list.max, &msg->u.list.more);
		engine_state(dp->engine, &st);
		msg->u.list.total = st.rpcs;
		break;
	}
	case DP_MSG_PEERS: {
		struct homa_engine_state st;

		msg->u.list.n = engine_peers_page(
			dp->engine, &msg->u.list.cursor, msg->u.list.items,
			msg->u.list.max, &msg->u.list.more);
		engine_state(dp->engine, &st);
		msg->u.list.total = st.peers;
		break;
	}
	default:
		msg->result = -EINVAL;
		break;
	}
	dp_reply(dp, msg);
}

static void dp_dispatch(struct dp *dp, const struct io_uring_cqe *cqe,
			uint64_t now)
{
	if (link_complete(dp->link, cqe, now))
		return;
	if (dp->chan && chan_complete(dp->chan, cqe, now))
		return;
	switch (uring_data_tag(cqe->user_data)) {
	case URING_TAG_CTL: {
		struct dp_msg *msg = uring_data_ptr(cqe->user_data);

		if (!msg) {
			dp_ctl(dp, msg, now);
			break;
		}
		/* Handled at the end of the batch (dp_reap). */
		msg->next = NULL;
		*dp->ctl_q_tail = msg;
		dp->ctl_q_tail = &msg->next;
		break;
	}
	case URING_TAG_TIMEOUT:
		/* -ETIME when it expired, -ECANCELED when cancelled. */
		dp->timeout_armed = false;
		break;
	case URING_TAG_QUIT:
		dp->quit = true;
		break;
	case URING_TAG_INTERNAL:
		if (cqe->res < 0 && cqe->res != -ENOENT &&
		    cqe->res != -EALREADY && cqe->res != -ECANCELED &&
		    cqe->res != -ETIME)
			log_debug("data plane: internal request: %s",
				  strerror(-cqe->res));
		break;
	default:
		log_warnx("data plane: completion with unknown tag %u",
			  (unsigned)uring_data_tag(cqe->user_data));
		break;
	}
}

/* link_reap's callback: one completion, at the batch's time. */
struct dp_reap_ctx {
	struct dp *dp;
	uint64_t now;
};

static void dp_reap_one(void *arg, const struct io_uring_cqe *cqe)
{
	struct dp_reap_ctx *x = arg;

	dp_dispatch(x->dp, cqe, x->now);
}

/*
 * Handle every ready completion, then release them all at once: packets of
 * the link's control sockets first, then high-priority DATA, then
 * everything else (link_reap), so that a GRANT or RESEND read behind a
 * burst of bulk DATA is not handled after it.
 */
static unsigned dp_reap(struct dp *dp, uint64_t now)
{
	struct dp_reap_ctx x = {.dp = dp, .now = now};
	unsigned n, sq_head;
	/* Before the completions are counted (uring.h). */
	bool consumed = uring_sq_consumed(&dp->u, &sq_head);

	/* One batch: the engine grants once for all the DATA it holds. */
	engine_batch_begin(dp->engine);
	n = link_reap(dp->link, dp_reap_one, &x);
	/* Sends without completion on success, done now. */
	if (consumed) {
		link_confirm(dp->link, sq_head);
		if (dp->chan)
			chan_confirm(dp->chan, sq_head, now);
	}
	while (dp->ctl_q) {
		struct dp_msg *msg = dp->ctl_q;

		dp->ctl_q = msg->next;
		if (!dp->ctl_q)
			dp->ctl_q_tail = &dp->ctl_q;
		dp_ctl(dp, msg, now);
	}
	engine_batch_end(dp->engine, now);
	return n;
}

/* After STOP: cancel everything in flight and wait (bounded) for it. */
static void dp_drain(struct dp *dp)
{
	uint64_t end = homad_now_ns() + DP_DRAIN_NS;

	/* Sessions first: clients see EOF, their sockets are closed. */
	if (dp->chan)
		chan_stop(dp->chan, homad_now_ns());
	link_stop(dp->link);
	while (!link_idle(dp->link) || dp->timeout_armed ||
	       (dp->chan && !chan_idle(dp->chan))) {
		struct __kernel_timespec ts = {.tv_sec = 0,
					       .tv_nsec = 100000000};
		struct io_uring_cqe *cqe;
		uint64_t now = homad_now_ns();

		if (now >= end) {
			log_warnx("data plane: %u sends still in flight at "
				  "stop%s",
				  link_tx_in_flight(dp->link),
				  dp->chan && !chan_idle(dp->chan)
					  ? ", client requests too"
					  : "");
			break;
		}
		io_uring_submit(&dp->u.ring);
		/* Sends without completion are done once submitted. */
		if (link_tx_unconfirmed(dp->link) == 0 &&
		    !(dp->chan && chan_unconfirmed(dp->chan)))
			io_uring_wait_cqe_timeout(&dp->u.ring, &cqe, &ts);
		dp_reap(dp, homad_now_ns());
	}
}

static void *dp_thread(void *arg)
{
	struct dp *dp = arg;
	uint64_t now, deadline, wake, near, busy_at = 0;
	unsigned n;
	int r;

	dp->started_ns = homad_now_ns();
	log_debug("data plane: thread started");
	r = link_start(dp->link, dp->start_err, sizeof(dp->start_err));
	pthread_mutex_lock(&dp->lock);
	dp->start_rc = r < 0 ? r : 0;
	dp->start_done = true;
	pthread_cond_signal(&dp->start_cond);
	pthread_mutex_unlock(&dp->lock);
	if (r < 0) {
		/* dp_start reports it; nothing else was armed. */
		atomic_store(&dp->exited, true);
		return NULL;
	}
	if (dp->chan)
		chan_start(dp->chan);
	while (!dp->quit) {
		now = homad_now_ns();
		link_rearm(dp->link);
		dp_tx_budget(dp, now);
		deadline = engine_next_deadline(dp->engine);
		if (deadline <= now) {
			dp_tick(dp, now, deadline);
			deadline = engine_next_deadline(dp->engine);
		}
		/* What the last completions and ticks produced for clients. */
		if (dp->chan) {
			chan_flush(dp->chan, now);
			deadline = engine_next_deadline(dp->engine);
		}
		/* Held packets (fault injection) are due too. */
		wake = deadline;
		near = engine_pacer_deadline(dp->engine);
		if (dp->fault) {
			uint64_t held = fault_next_deadline(dp->fault);

			if (held < wake)
				wake = held;
			if (held < near)
				near = held;
		}
		if (near != UINT64_MAX && near <= now + DP_NEAR_NS) {
			/* Due soon: poll, do not sleep (DP_NEAR_NS). */
			r = uring_submit_and_wait(&dp->u, 0);
		} else if (dp->cfg.spin_us != 0 &&
			   now - busy_at < dp->cfg.spin_us * 1000ull) {
			/* Spin mode: poll a while after the last work. */
			r = uring_submit_and_wait(&dp->u, 0);
		} else if (engine_tx_held(dp->engine) &&
			   link_tx_unconfirmed(dp->link) > 0) {
			/*
			 * The pacer waits for slots that sends posting no
			 * completion hold: nothing would wake the loop when
			 * they are done.  Submit, and free them next pass.
			 */
			r = uring_submit_and_wait(&dp->u, 0);
		} else if (!chan_direct_may_sleep(dp->chan, now, wake)) {
			/* A client's ring has records: take them first. */
			r = uring_submit_and_wait(&dp->u, 0);
		} else {
			if (wake != UINT64_MAX)
				dp_arm_timeout(dp, wake);
			dp->m->loop_sleeps++;
			r = uring_submit_and_wait(&dp->u, 1);
			chan_direct_awake(dp->chan);
		}
		dp->m->loop_wakeups++;
		if (r < 0 && r != -EINTR && r != -ETIME && r != -EBUSY &&
		    r != -EAGAIN)
			log_warnx("data plane: io_uring_submit_and_wait: %s",
				  strerror(-r));
		now = homad_now_ns();
		/* Messages clients sent themselves, before their answers. */
		chan_direct_drain(dp->chan, now);
		n = dp_reap(dp, now);
		if (n > 0)
			busy_at = now;
		link_sample(dp->link, now, false);
		if (dp->fault)
			dp_fault_release(dp, now);
		/* Send completions may have freed slots for held DATA. */
		dp_tx_budget(dp, now);
		if (deadline != UINT64_MAX && now >= deadline)
			dp_tick(dp, now, deadline);
	}
	dp_drain(dp);
	atomic_store(&dp->exited, true);
	log_debug("data plane: thread stopped");
	return NULL;
}

int dp_start(struct dp *dp, void (*notify)(void *arg), void *arg, char *err,
	     size_t errlen)
{
	sigset_t all, old;
	int r;

	if (dp->started)
		return -EALREADY;
	dp->notify = notify;
	dp->notify_arg = arg;
	/* Signals are the control plane's: the thread blocks them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&dp->thread, NULL, dp_thread, dp);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return -r;
	pthread_setname_np(dp->thread, "homad-dp");
	dp->started = true;
	pthread_mutex_lock(&dp->lock);
	while (!dp->start_done)
		pthread_cond_wait(&dp->start_cond, &dp->lock);
	r = dp->start_rc;
	pthread_mutex_unlock(&dp->lock);
	if (r < 0)
		snprintf(err, errlen, "%s", dp->start_err);
	return r;
}

/* Post data into the data plane's ring with MSG_RING; wait for the post. */
static int dp_msg_ring(struct dp *dp, uint64_t data)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int r;

	sqe = io_uring_get_sqe(&dp->ctl_ring);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_msg_ring(sqe, dp->u.ring.ring_fd, 0, data, 0);
	io_uring_sqe_set_data64(sqe, 1);
	r = io_uring_submit_and_wait(&dp->ctl_ring, 1);
	if (r < 0)
		return r;
	do {
		r = io_uring_wait_cqe(&dp->ctl_ring, &cqe);
	} while (r == -EINTR);
	if (r < 0)
		return r;
	r = cqe->res;
	io_uring_cqe_seen(&dp->ctl_ring, cqe);
	return r < 0 ? r : 0;
}

int dp_post(struct dp *dp, struct dp_msg *msg)
{
	enum dp_msg_type type;
	int r;

	if (!msg || ((uintptr_t)msg & URING_TAG_MASK))
		return -EINVAL;
	if (!dp->started || dp->stop_posted || atomic_load(&dp->exited))
		return -ESHUTDOWN;
	type = msg->type; /* msg is the data plane's once posted */
	r = dp_msg_ring(dp, uring_data(msg, URING_TAG_CTL));
	if (r == 0 && type == DP_MSG_STOP)
		dp->stop_posted = true;
	return r;
}

struct dp_msg *dp_take_replies(struct dp *dp)
{
	struct dp_msg *list;

	pthread_mutex_lock(&dp->lock);
	list = dp->replies;
	dp->replies = NULL;
	dp->replies_tail = &dp->replies;
	pthread_mutex_unlock(&dp->lock);
	return list;
}

void dp_destroy(struct dp *dp)
{
	if (!dp)
		return;
	if (dp->started) {
		if (!dp->stop_posted && !atomic_load(&dp->exited)) {
			int r = dp_msg_ring(dp, uring_data(dp, URING_TAG_QUIT));

			if (r < 0)
				fatalx("data plane: cannot tell the thread to "
				       "stop: %s",
				       strerror(-r));
		}
		pthread_join(dp->thread, NULL);
	}
	/* Exiting the ring cancels whatever is still in flight. */
	uring_exit(&dp->u);
	link_destroy(dp->link);
	dp->link = NULL;
	if (dp->ctl_ok)
		io_uring_queue_exit(&dp->ctl_ring);
	fault_destroy(dp->fault);
	/* The engine releases what the channel lent it, then the channel. */
	engine_destroy(dp->engine);
	chan_destroy(dp->chan);
	pthread_cond_destroy(&dp->start_cond);
	pthread_mutex_destroy(&dp->lock);
	free(dp);
}
