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

#define FC_RX	 (1u << 20) /* the pretend rx pool memfd's size */
#define FC_TX	 (1u << 20) /* the pretend tx area memfd's size */
#define FC_FD_RX 1000
#define FC_FD_TX 1001

static struct homa_engine *fc_engine;
static struct homa_config fc_cfg;
static struct session_host fc_host;
static uint64_t fc_now = 1000000000ull;
static unsigned fc_closed[2]; /* closes of FC_FD_RX, FC_FD_TX */
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
	FUZZ_CHECK(fd == FC_FD_RX || fd == FC_FD_TX);
	fc_closed[fd - FC_FD_RX]++;
}

static const struct session_ops fc_ops = {
	.check_region = fc_check,
	.map = fc_map,
	.unmap = fc_unmap,
	.close_fd = fc_close,
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

	fc_closed[0] = fc_closed[1] = 0;
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
	session_close(s, "fuzz", fc_now);
	FUZZ_CHECK(s->state == SESS_CLOSED);
	for (unsigned n = 0; n < 1000 && s->n_tx > 0; n++) {
		fc_now += 1000000;
		engine_tick(fc_engine, fc_now);
	}
	FUZZ_CHECK(session_releasable(s));
	session_fini(s);
	FUZZ_CHECK(s->state == SESS_DEAD);
}

/* A well-formed Open of an AF_INET6 socket with both regions. */
static size_t fc_open_msg(uint8_t *buf)
{
	Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Open o = HOMA__CLIENT__OPEN__INIT;

	o.version = HOMA_CLIENT_PROTO_VERSION;
	o.family = AF_INET6;
	o.rx_pool_bytes = FC_RX;
	o.tx_area_bytes = FC_TX;
	cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_OPEN;
	cm.open = &o;
	return homa__client__client_msg__pack(&cm, buf);
}

static void fc_sessions(const uint8_t *data, size_t size)
{
	static uint8_t open[256];
	struct session_stats before = fc_host.stats;
	struct session a, b;
	struct homa_engine_state st;
	size_t open_len = fc_open_msg(open);
	enum session_state was;

	/* The datagram as an Open. */
	fc_session(&a);
	fc_feed(&a, data, size, true);
	FUZZ_CHECK(a.state == SESS_OPEN || a.state == SESS_LINGER ||
		   a.state == SESS_DOOMED);
	if (a.state == SESS_LINGER)
		FUZZ_CHECK(fc_host.stats.chan_bad_open > before.chan_bad_open);
	fc_drain(&a);
	fc_end(&a);

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

	FUZZ_CHECK(fc_host.stats.illegal_transitions == 0);
	FUZZ_CHECK(fc_host.mapped == 0 && fc_maps == 0);
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
