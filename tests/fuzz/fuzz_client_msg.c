/*
 * fuzz_client_msg.c - libFuzzer target for the client protocol: the
 * datagrams an application sends homad over its unix socket
 * (proto/homa_client.proto), fed to the real session code
 * (daemon/session.c) on a real engine with no sockets.
 *
 * Input: one datagram.  First the decoder alone: a datagram over
 * HOMA_CLIENT_MAX_DATAGRAM is refused unread as homad does; otherwise
 * homa__client__client_msg__unpack must not read past the end (ASan) and a
 * decoded message must re-encode canonically (packed size as announced;
 * decoding the packed bytes and packing again gives the same bytes).
 *
 * Then the session, whatever the datagram decodes to (or not):
 *   - as the first datagram of a new session, with the two region
 *     descriptors (the Open handshake: version, family, sizes, the
 *     regions' checks against two pretend memfds of FC_RX and FC_TX bytes);
 *   - twice as a command of a session opened by a well-formed Open (ids
 *     2, 4, ... are its first block, as mkseeds.py's requests use; the
 *     second time finds the id used), every validator of session.c.
 *   - as the records of a direct-send ring (proto/homa_shm.h) of a session
 *     opened with direct send and direct receive granted (RECEIVED records
 *     included), then as a command of that session (DirectPacket
 *     included): the input's bytes are the records,
 *     its first byte says which fields are made plausible (the ring
 *     position, an id of the session's block, a tx extent and length
 *     inside the limits) so that the validators' deeper paths are reached,
 *     and whether the head is the input's own; a session with a bad record
 *     is DOOMED and counted (chan_direct_bad).
 * Invariants: every descriptor passed is closed exactly once; the session
 * is OPEN, LINGER (a refused Open) or DOOMED (a bad message, counted)
 * afterwards; every event it queues decodes as a DaemonMsg within the
 * datagram limit; no illegal state change; once the sessions are closed
 * and the engine has reaped their RPCs, every lent message is released,
 * nothing stays mapped and the engine holds no socket or RPC.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "conf.h"
#include "core/engine.h"
#include "fuzz.h"
#include "homa_client.pb-c.h"
#include "homa_shm.h"
#include "session.h"

#define FC_RX	       (1u << 20) /* the pretend rx pool memfd's size */
#define FC_TX	       (1u << 20) /* the pretend tx area memfd's size */
#define FC_FD_RX       1000
#define FC_FD_TX       1001
#define FC_FD_D0       1002 /* the direct-send descriptors: 1002 .. 1005 */
#define FC_FD_RX_SOCK  1006 /* direct receive's socket */
#define FC_FD_SRX      1007 /* a request socket, and homad's copy */
#define FC_FD_SRX_KEEP 1008
#define FC_KEY	       0x1234 /* the direct receive key of fc_direct's */

static struct homa_engine *fc_engine;
static struct homa_config fc_cfg;
static struct session_host fc_host;
static uint64_t fc_now = 1000000000ull;
static unsigned fc_closed[9]; /* closes of FC_FD_RX .. FC_FD_SRX_KEEP */
static unsigned fc_srx_opens, fc_srx_revokes;
static unsigned fc_drx_changes;
static _Alignas(64) struct homa_direct_ring fc_ring;
static bool fc_ring_mapped;
static unsigned fc_maps;
static uint8_t fc_rx[FC_RX];
static uint8_t fc_tx[FC_TX];

static void fc_deliver(void *ctx, const struct homa_delivery *d)
{
	(void)ctx;
	session_deliver(d->app, d);
}

static void fc_tx_release(void *ctx, void *sock_app, void *cookie)
{
	(void)ctx;
	(void)sock_app;
	session_tx_release(cookie);
}

static void fc_send_space(void *ctx, struct homa_sock *s, void *sock_app)
{
	(void)ctx;
	(void)s;
	session_send_space(sock_app);
}

/* The pretend memfds: sealed, of FC_RX and FC_TX bytes. */
static int fc_check(void *arg, int fd, uint64_t size, const char *what,
		    char *why, size_t whylen)
{
	(void)arg;
	FUZZ_CHECK(fd == FC_FD_RX || fd == FC_FD_TX);
	if (size != (fd == FC_FD_RX ? FC_RX : FC_TX)) {
		snprintf(why, whylen, "%s: size", what);
		return EINVAL;
	}
	return 0;
}

static void *fc_map(void *arg, int fd, uint64_t size, bool writable, int *err)
{
	(void)arg;
	(void)err;
	FUZZ_CHECK(fd == FC_FD_RX
			   ? writable && size == FC_RX
			   : fd == FC_FD_TX && !writable && size == FC_TX);
	fc_maps++;
	return fd == FC_FD_RX ? fc_rx : fc_tx;
}

static void fc_unmap(void *arg, void *p, uint64_t size)
{
	(void)arg;
	(void)size;
	FUZZ_CHECK(p == fc_rx || p == fc_tx);
	FUZZ_CHECK(fc_maps > 0);
	fc_maps--;
}

static void fc_close(void *arg, int fd)
{
	(void)arg;
	FUZZ_CHECK(fd >= FC_FD_RX && fd <= FC_FD_SRX);
	fc_closed[fd - FC_FD_RX]++;
}

static int fc_direct_open(void *arg, struct session *s,
			  int fds[SESSION_DIRECT_FDS],
			  struct homa_direct_ring **ring, char *why,
			  size_t whylen)
{
	(void)arg;
	(void)why;
	(void)whylen;
	FUZZ_CHECK(!fc_ring_mapped);
	for (int i = 0; i < 3; i++)
		fds[i] = FC_FD_D0 + i;
	/* An AF_INET6 session gets the IPv6 socket too (as chan.c's). */
	fds[3] = s->family == AF_INET6 ? FC_FD_D0 + 3 : -1;
	memset(&fc_ring, 0, sizeof(fc_ring));
	fc_ring_mapped = true;
	*ring = &fc_ring;
	return 0;
}

static void fc_direct_close(void *arg, struct session *s,
			    struct homa_direct_ring *ring)
{
	(void)arg;
	(void)s;
	FUZZ_CHECK(ring == &fc_ring && fc_ring_mapped);
	fc_ring_mapped = false;
}

static int fc_direct_rx_open(void *arg, struct session *s, uint16_t port,
			     uint32_t key, int *fd, char *why, size_t whylen)
{
	(void)arg;
	(void)s;
	(void)why;
	(void)whylen;
	FUZZ_CHECK(port != 0 && key != 0 && key <= HOMA_DIRECT_KEY_MASK);
	*fd = FC_FD_RX_SOCK;
	return 0;
}

static void fc_direct_rx_changed(void *arg)
{
	uint16_t ports[SESSION_MAX_DIRECT_RX];

	(void)arg;
	FUZZ_CHECK(session_host_direct_rx_ports(&fc_host, false, ports,
						SESSION_MAX_DIRECT_RX) ==
		   fc_host.n_direct_rx);
	FUZZ_CHECK(session_host_direct_rx_ports(&fc_host, true, ports,
						SESSION_MAX_DIRECT_RX) ==
		   fc_host.n_direct_srx);
	/* A port goes back to homad only once its socket is revoked. */
	FUZZ_CHECK(fc_srx_opens - fc_srx_revokes == fc_host.n_direct_srx);
	fc_drx_changes++;
}

static int fc_direct_srx_open(void *arg, struct session *s, uint16_t port,
			      int *fd, int *keep, char *why, size_t whylen)
{
	(void)arg;
	(void)why;
	(void)whylen;
	FUZZ_CHECK(port != 0 && port < HOMA_MIN_DEFAULT_PORT && !s->srx);
	*fd = FC_FD_SRX;
	*keep = FC_FD_SRX_KEEP;
	fc_srx_opens++;
	return 0;
}

static void fc_direct_srx_revoke(void *arg, struct session *s, int keep)
{
	(void)arg;
	FUZZ_CHECK(keep == FC_FD_SRX_KEEP && !s->srx);
	fc_closed[keep - FC_FD_RX]++;
	fc_srx_revokes++;
}

static const struct session_ops fc_ops = {
	.check_region = fc_check,
	.map = fc_map,
	.unmap = fc_unmap,
	.close_fd = fc_close,
	.direct_open = fc_direct_open,
	.direct_close = fc_direct_close,
	.direct_rx_open = fc_direct_rx_open,
	.direct_rx_changed = fc_direct_rx_changed,
	.direct_srx_open = fc_direct_srx_open,
	.direct_srx_revoke = fc_direct_srx_revoke,
};

static void fc_setup(void)
{
	struct homa_params p;
	static const struct homa_engine_ops ops = {
		.deliver = fc_deliver,
		.tx_release = fc_tx_release,
		.send_space = fc_send_space,
	};

	engine_params_default(&p);
	fc_engine = engine_create(&p);
	FUZZ_CHECK(fc_engine);
	engine_set_ops(fc_engine, &ops, NULL);
	config_defaults(&fc_cfg);
	/* The sessions' gid (1000) may use direct send. */
	fc_cfg.n_direct_gids = 1;
	fc_cfg.direct_gids[0] = 1000;
	session_host_init(&fc_host, fc_engine, &fc_cfg, &fc_ops, NULL);
}

/* A new session in OPENING. */
static void fc_session(struct session *s)
{
	struct session_client *cl;
	const char *why;

	FUZZ_CHECK(session_admit(&fc_host, 100, 0, &cl, &why) == 0);
	session_init(s, &fc_host, cl, NULL, 1, 100, 1000, 1000);
}

/* Feed buf[0..len) with the two region descriptors or none. */
static void fc_feed(struct session *s, const uint8_t *buf, size_t len, bool fds)
{
	int fd[2] = {FC_FD_RX, FC_FD_TX};

	memset(fc_closed, 0, sizeof(fc_closed));
	session_recv(s, (int)len, buf, fds ? fd : NULL, fds ? 2 : 0, false,
		     fc_now);
	FUZZ_CHECK(fc_closed[0] == (fds ? 1u : 0u));
	FUZZ_CHECK(fc_closed[1] == (fds ? 1u : 0u));
}

/* Take every event as the shell does; each must decode. */
static void fc_drain(struct session *s)
{
	struct session_ev *ev;

	session_queue_pending(s);
	while ((ev = session_ev_next(s)) != NULL) {
		Homa__Client__DaemonMsg *m;

		FUZZ_CHECK(ev->len <= HOMA_CLIENT_MAX_DATAGRAM);
		m = homa__client__daemon_msg__unpack(NULL, ev->len, ev->buf);
		FUZZ_CHECK(m);
		FUZZ_CHECK(m->ev_case != HOMA__CLIENT__DAEMON_MSG__EV__NOT_SET);
		homa__client__daemon_msg__free_unpacked(m, NULL);
		session_ev_done(s, ev, (int)ev->len, fc_now);
	}
}

/* Close s, let the engine reap its RPCs, free it. */
static void fc_end(struct session *s)
{
	struct homa_engine_state st;

	session_close(s, "fuzz", fc_now);
	FUZZ_CHECK(s->state == SESS_CLOSED);
	/* Until its messages are released and the RPCs its socket's end
	 * ended are reaped (a server RPC made from a ring record holds no
	 * message: only a tick reaps it). */
	for (unsigned n = 0; n < 1000; n++) {
		engine_state(fc_engine, &st);
		if (s->n_tx == 0 && st.dead_rpcs == 0)
			break;
		fc_now += 1000000;
		engine_tick(fc_engine, fc_now);
	}
	FUZZ_CHECK(session_releasable(s));
	session_fini(s);
	FUZZ_CHECK(s->state == SESS_DEAD);
}

/* A well-formed Open of an AF_INET6 (AF_INET with direct send) socket with
 * both regions. */
static size_t fc_open_msg(uint8_t *buf, bool direct, int family)
{
	Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Open o = HOMA__CLIENT__OPEN__INIT;

	o.version = HOMA_CLIENT_PROTO_VERSION;
	o.direct_send = direct;
	o.direct_receive = direct;
	o.family = (uint32_t)family;
	o.rx_pool_bytes = FC_RX;
	o.tx_area_bytes = FC_TX;
	cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_OPEN;
	cm.open = &o;
	return homa__client__client_msg__pack(&cm, buf);
}

/* The input as the records of a direct-send session's ring. */
static void fc_direct(const uint8_t *data, size_t size)
{
	static uint8_t open[256];
	struct session_stats before = fc_host.stats;
	uint8_t mode = size > 0 ? data[0] : 0;
	/* Mode bit 128: an AF_INET6 session (IPv6 peers allowed too). */
	size_t open_len =
		fc_open_msg(open, true, (mode & 128) ? AF_INET6 : AF_INET);
	size_t n = (size > 1 ? size - 1 : 0) / sizeof(struct homa_direct_rec);
	unsigned revokes0 = fc_srx_revokes;
	struct session c;

	if (n > HOMA_DIRECT_RING_ENTRIES)
		n = HOMA_DIRECT_RING_ENTRIES;
	engine_set_id_base(fc_engine, 0);
	fc_host.next_key = FC_KEY; /* deterministic keyed ids */
	fc_session(&c);
	memset(fc_closed, 0, sizeof(fc_closed));
	fc_drx_changes = 0;
	session_recv(&c, (int)open_len, open, (int[]){FC_FD_RX, FC_FD_TX}, 2,
		     false, fc_now);
	FUZZ_CHECK(c.state == SESS_OPEN && c.ring == &fc_ring);
	FUZZ_CHECK(c.drx && c.drx_key == FC_KEY && fc_drx_changes == 1);
	FUZZ_CHECK(c.ids[0].first ==
		   (HOMA_DIRECT_KEY_BIT | (uint64_t)FC_KEY << 32));
	fc_drain(&c);
	FUZZ_CHECK(fc_closed[2] == 1 && fc_closed[3] == 1 && fc_closed[4] == 1);
	FUZZ_CHECK(fc_closed[5] == ((mode & 128) ? 1u : 0u));
	FUZZ_CHECK(fc_closed[6] == 1);
	FUZZ_CHECK(c.direct_v6 == ((mode & 128) != 0));
	if (n % 2 == 1) {
		/* An odd number of records: a server with a request socket
		 * (ARRIVED records are its). */
		Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
		Homa__Client__Bind b = HOMA__CLIENT__BIND__INIT;
		uint8_t buf[64];

		b.port = 100;
		b.direct_requests = true;
		cm.seq = 1;
		cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_BIND;
		cm.bind = &b;
		session_recv(&c, (int)homa__client__client_msg__pack(&cm, buf),
			     buf, NULL, 0, false, fc_now);
		FUZZ_CHECK(c.state == SESS_OPEN && c.srx && !c.drx);
		fc_drain(&c);
		FUZZ_CHECK(fc_closed[FC_FD_SRX - FC_FD_RX] == 1);
	}
	memcpy(fc_ring.rec, data + 1, n * sizeof(struct homa_direct_rec));
	for (size_t i = 0; i < n; i++) {
		struct homa_direct_rec *r = &fc_ring.rec[i];

		if (mode & 1)
			r->seq = i;
		if ((mode & 2) && r->kind == HOMA_DIRECT_ARRIVED)
			r->id = 2 * (r->id % 64) + 1;
		else if (mode & 2)
			r->id = c.ids[0].first + 2 * (r->id % 64) +
				(r->kind == HOMA_DIRECT_RESPONSE ? 1 : 0);
		if (mode & 4) {
			r->tx_offset %= FC_TX;
			r->length %= 1500;
		}
	}
	/* n records; with bit 8 of the mode, a head maybe beyond them. */
	__atomic_store_n(&fc_ring.head, (mode & 8) ? n + 16u * (mode >> 4) : n,
			 __ATOMIC_RELEASE);
	session_host_direct_drain(&fc_host, fc_now);
	FUZZ_CHECK(c.state == SESS_OPEN || c.state == SESS_DOOMED);
	if (c.state == SESS_DOOMED)
		FUZZ_CHECK(fc_host.stats.chan_direct_bad >
				   before.chan_direct_bad &&
			   fc_host.stats.chan_bad_messages >
				   before.chan_bad_messages);
	else
		FUZZ_CHECK(fc_ring.tail == fc_ring.head);
	fc_drain(&c);
	/* The input as a command of this session too (DirectPacket). */
	if (c.state == SESS_OPEN && size <= HOMA_CLIENT_MAX_DATAGRAM) {
		before = fc_host.stats;
		memset(fc_closed, 0, sizeof(fc_closed));
		revokes0 = fc_srx_revokes;
		session_recv(&c, (int)size, data, NULL, 0, false, fc_now);
		FUZZ_CHECK(c.state == SESS_OPEN || c.state == SESS_DOOMED);
		fc_drain(&c);
	}
	fc_end(&c);
	FUZZ_CHECK(fc_host.n_direct_rx == 0 && fc_host.n_direct_srx == 0);
	/* Every request socket revoked, homad's copy closed then (the
	 * input as a command may be a Bind that gives one back or takes
	 * one). */
	FUZZ_CHECK(fc_srx_opens == fc_srx_revokes);
	FUZZ_CHECK(fc_closed[FC_FD_SRX_KEEP - FC_FD_RX] ==
		   fc_srx_revokes - revokes0);
	FUZZ_CHECK(n % 2 == 0 || fc_srx_revokes > revokes0);
}

static void fc_sessions(const uint8_t *data, size_t size)
{
	static uint8_t open[256];
	struct session_stats before = fc_host.stats;
	struct session a, b;
	struct homa_engine_state st;
	size_t open_len = fc_open_msg(open, false, AF_INET6);
	enum session_state was;

	/* The datagram as an Open. */
	fc_session(&a);
	fc_feed(&a, data, size, true);
	/* Granted direct send: its three descriptors (four: AF_INET6) went with
	 * the OpenReply, closed with it (fc_drain). */
	FUZZ_CHECK(a.state == SESS_OPEN || a.state == SESS_LINGER ||
		   a.state == SESS_DOOMED);
	if (a.state == SESS_LINGER)
		FUZZ_CHECK(fc_host.stats.chan_bad_open > before.chan_bad_open);
	fc_drain(&a);
	FUZZ_CHECK(fc_closed[2] == fc_closed[3] &&
		   fc_closed[3] == fc_closed[4]);
	FUZZ_CHECK(fc_closed[2] == (a.ring != NULL ? 1u : 0u));
	FUZZ_CHECK(fc_closed[5] == (a.direct_v6 ? 1u : 0u));
	FUZZ_CHECK(fc_closed[6] == (a.drx ? 1u : 0u));
	fc_end(&a);
	FUZZ_CHECK(!fc_ring_mapped);

	/* The datagram as a command, twice. */
	before = fc_host.stats;
	engine_set_id_base(fc_engine, 0);
	fc_session(&b);
	fc_feed(&b, open, open_len, true);
	FUZZ_CHECK(b.state == SESS_OPEN);
	FUZZ_CHECK(b.ids[0].first == 2);
	fc_drain(&b);
	for (int i = 0; i < 2 && b.state == SESS_OPEN; i++) {
		fc_feed(&b, data, size, false);
		was = b.state;
		FUZZ_CHECK(was == SESS_OPEN || was == SESS_DOOMED);
		fc_drain(&b);
	}
	if (b.state == SESS_DOOMED)
		FUZZ_CHECK(fc_host.stats.chan_bad_messages >
				   before.chan_bad_messages ||
			   fc_host.stats.chan_event_overflows >
				   before.chan_event_overflows ||
			   strcmp(b.reason, SESSION_CLOSED_BY_CLIENT) == 0);
	fc_end(&b);

	fc_direct(data, size);

	FUZZ_CHECK(fc_host.stats.illegal_transitions == 0);
	FUZZ_CHECK(fc_host.mapped == 0 && fc_maps == 0);
	FUZZ_CHECK(!fc_ring_mapped && fc_host.n_direct == 0);
	FUZZ_CHECK(TAILQ_EMPTY(&fc_host.clients));
	engine_state(fc_engine, &st);
	FUZZ_CHECK(st.sockets == 0 && st.rpcs == 0 && st.dead_rpcs == 0);
}

/* Does m or a message inside it carry fields protobuf-c did not know? */
static bool fc_has_unknown(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d;
	unsigned i;

	if (!m)
		return false;
	if (m->n_unknown_fields > 0)
		return true;
	d = m->descriptor;
	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		const ProtobufCMessage *sub;

		if (fd->type != PROTOBUF_C_TYPE_MESSAGE ||
		    fd->label == PROTOBUF_C_LABEL_REPEATED)
			continue;
		/* A oneof's members share one slot: only the set one. */
		if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)((const char *)m +
					fd->quantifier_offset) != fd->id)
			continue;
		sub = *(ProtobufCMessage *const *)((const char *)m +
						   fd->offset);
		if (fc_has_unknown(sub))
			return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t packed[HOMA_CLIENT_MAX_DATAGRAM * 2];
	static uint8_t packed2[HOMA_CLIENT_MAX_DATAGRAM * 2];
	Homa__Client__ClientMsg *cm, *cm2;
	uint8_t *copy;
	size_t n, n2;

	if (!fc_engine)
		fc_setup();
	if (size > HOMA_CLIENT_MAX_DATAGRAM + 1)
		return 0;		/* homad reads at most one byte more */
	copy = malloc(size ? size : 1); /* exact size for ASan */
	FUZZ_CHECK(copy);
	memcpy(copy, data, size);
	cm = size <= HOMA_CLIENT_MAX_DATAGRAM
		     ? homa__client__client_msg__unpack(NULL, size, copy)
		     : NULL;
	if (cm) {
		n = homa__client__client_msg__get_packed_size(cm);
		FUZZ_CHECK(n <= sizeof(packed));
		FUZZ_CHECK(homa__client__client_msg__pack(cm, packed) == n);
		cm2 = homa__client__client_msg__unpack(NULL, n, packed);
		/* protobuf-c 1.4 keeps unknown fields, even field number 0,
		 * which its own unpack then refuses: only messages without
		 * them must round-trip (homad never re-packs what a client
		 * sent). */
		FUZZ_CHECK(cm2 || fc_has_unknown(&cm->base));
		if (cm2) {
			FUZZ_CHECK(cm2->cmd_case == cm->cmd_case &&
				   cm2->seq == cm->seq);
			n2 = homa__client__client_msg__pack(cm2, packed2);
			FUZZ_CHECK(n2 == n && memcmp(packed, packed2, n) == 0);
			homa__client__client_msg__free_unpacked(cm2, NULL);
		}
		homa__client__client_msg__free_unpacked(cm, NULL);
	}
	/* An empty datagram is what recvmsg returns at EOF: not a datagram
	 * the session can be given. */
	if (size > 0)
		fc_sessions(copy, size);
	free(copy);
	return 0;
}
