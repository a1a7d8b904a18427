/*
 * test_session.c - daemon/session.c, the client protocol, as a client
 * drives it: datagrams (packed with protobuf-c) and real memfds in, the
 * event datagrams it queues out (decoded), against a real engine with no
 * sockets.  Every validator, every legal state change (each by what a
 * client or homad does) and every illegal one (refused and counted).  No
 * root, no io_uring.
 */
#define _GNU_SOURCE 1
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_int.h"
#include "conf.h"
#include "core/wire.h"
#include "enginetest.h"
#include "homa_client.pb-c.h"
#include "homa_shm.h"
#include "session.h"

#define ST_RX  (4u * HOMA_SHM_BPAGE_SIZE)
#define ST_TX  (64u * 1024)
#define ST_MAX 64

struct st {
	struct homa_config cfg;
	struct homa_engine *e;
	struct session_host h;
	struct session_client *cl;
	struct session s;
	uint64_t now;
	unsigned sent; /* packets the engine sent */
	/* The last one: its bytes (header, payload) and priority. */
	uint8_t last[2048];
	size_t last_len;
	uint8_t last_prio;
	/* Direct send: the ops, what they handed out. */
	struct session_ops ops;
	bool ask_direct;
	bool direct_fail;
	bool direct_no_v6; /* the shell has no IPv6 socket to give */
	struct homa_direct_ring *ring;
	struct homa_direct_table *table;
	unsigned direct_opens, direct_closes;
	/* Direct receive: asked, the shell refuses, its calls. */
	bool ask_drx;
	bool drx_fail;
	unsigned drx_opens, drx_changes;
	uint16_t drx_port;
	uint32_t drx_key;
	/* Request sockets: opened, revoked (each revoke before the
	 * filters change: revoked_first), the last port. */
	unsigned srx_opens, srx_revokes;
	bool srx_revoked_first;
	uint16_t srx_port;
	/* Decoded events, in order. */
	Homa__Client__DaemonMsg *ev[ST_MAX];
	unsigned nev;
};

static void st_send_pkt(void *ctx, const struct homa_out *pkt)
{
	struct st *t = ctx;

	t->sent++;
	t->last_prio = pkt->prio;
	t->last_len = 0;
	if (pkt->hdr_len + pkt->payload_len <= sizeof(t->last)) {
		memcpy(t->last, pkt->hdr, pkt->hdr_len);
		if (pkt->payload_len)
			memcpy(t->last + pkt->hdr_len, pkt->payload,
			       pkt->payload_len);
		t->last_len = pkt->hdr_len + pkt->payload_len;
	}
}

static void st_peer_changed(void *ctx, const struct homa_peer_pub *p)
{
	struct st *t = ctx;

	if (t->table)
		session_direct_publish(t->table, p);
}

static void st_deliver(void *ctx, const struct homa_delivery *d)
{
	(void)ctx;
	session_deliver(d->app, d);
}

static void st_tx_release(void *ctx, void *sock_app, void *cookie)
{
	(void)ctx;
	(void)sock_app;
	session_tx_release(cookie);
}

static void st_send_space(void *ctx, struct homa_sock *s, void *sock_app)
{
	(void)ctx;
	(void)s;
	session_send_space(sock_app);
}

static const struct homa_engine_ops st_engine_ops = {
	.send = st_send_pkt,
	.deliver = st_deliver,
	.tx_release = st_tx_release,
	.send_space = st_send_space,
	.peer_changed = st_peer_changed,
};

/* A memfd of size bytes with seals (0: none). */
static int st_memfd(uint64_t size, int seals)
{
	int fd = memfd_create("st", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	if (seals)
		ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

static void st_setup_cfg(struct st *t, const struct homa_config *cfg)
{
	struct homa_params p;
	int r;

	memset(t, 0, sizeof(*t));
	config_defaults(&t->cfg);
	if (cfg)
		t->cfg = *cfg;
	engine_params_default(&p);
	t->e = engine_create(&p);
	ck_assert_ptr_nonnull(t->e);
	engine_set_ops(t->e, &st_engine_ops, t);
	t->now = 1000000000ull;
	session_host_init(&t->h, t->e, &t->cfg, NULL, NULL);
	r = session_admit(&t->h, 1234, 0, &t->cl, &(const char *){NULL});
	ck_assert_int_eq(r, 0);
	session_init(&t->s, &t->h, t->cl, NULL, 1, 1234, 1000, 1000);
	ck_assert_int_eq(t->s.state, SESS_OPENING);
}

static void st_setup(struct st *t)
{
	st_setup_cfg(t, NULL);
}

static void st_free_events(struct st *t)
{
	for (unsigned i = 0; i < t->nev; i++)
		homa__client__daemon_msg__free_unpacked(t->ev[i], NULL);
	t->nev = 0;
}

/* Take every queued event as the shell does (sent whole), decoded. */
static void st_drain(struct st *t)
{
	struct session_ev *ev;

	session_queue_pending(&t->s);
	while ((ev = session_ev_next(&t->s)) != NULL) {
		Homa__Client__DaemonMsg *m;

		ck_assert_uint_le(ev->len, HOMA_CLIENT_MAX_DATAGRAM);
		m = homa__client__daemon_msg__unpack(NULL, ev->len, ev->buf);
		ck_assert_ptr_nonnull(m);
		ck_assert_uint_lt(t->nev, ST_MAX);
		t->ev[t->nev++] = m;
		session_ev_done(&t->s, ev, (int)ev->len, t->now);
	}
}

/* The session ends as the shell ends it, and is freed. */
static void st_teardown(struct st *t)
{
	session_close(&t->s, "test over", t->now);
	ck_assert_int_eq(t->s.state, SESS_CLOSED);
	/* The engine releases the messages of the closed socket: reap. */
	for (int i = 0; i < 100 && t->s.n_tx > 0; i++) {
		t->now += 10000000ull;
		engine_tick(t->e, t->now);
	}
	ck_assert(session_releasable(&t->s));
	session_fini(&t->s);
	ck_assert_int_eq(t->s.state, SESS_DEAD);
	ck_assert_uint_eq(t->h.stats.illegal_transitions, 0);
	ck_assert_uint_eq(t->h.mapped, 0);
	ck_assert(TAILQ_EMPTY(&t->h.clients));
	st_free_events(t);
	engine_destroy(t->e);
}

/* Feed one ClientMsg with descriptors fds[0..nfds). */
static void st_recv_fds(struct st *t, const Homa__Client__ClientMsg *cm,
			int *fds, unsigned nfds)
{
	size_t len = homa__client__client_msg__get_packed_size(cm);
	uint8_t *buf = malloc(len + 1);

	ck_assert_ptr_nonnull(buf);
	homa__client__client_msg__pack(cm, buf);
	session_recv(&t->s, (int)len, buf, fds, nfds, false, t->now);
	free(buf);
}

static void st_recv(struct st *t, const Homa__Client__ClientMsg *cm)
{
	st_recv_fds(t, cm, NULL, 0);
}

/* An Open; fills rx/tx fds as given (closed by the session). */
static void st_open_with(struct st *t, uint32_t version, uint32_t family,
			 uint64_t rx, uint64_t tx, int *fds, unsigned nfds)
{
	Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Open o = HOMA__CLIENT__OPEN__INIT;

	o.version = version;
	o.family = family;
	o.rx_pool_bytes = rx;
	o.tx_area_bytes = tx;
	o.direct_send = t->ask_direct;
	o.direct_receive = t->ask_drx;
	cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_OPEN;
	cm.open = &o;
	st_recv_fds(t, &cm, fds, nfds);
}

/* The one OpenReply expected; its error. */
static int st_open_reply(struct st *t)
{
	st_drain(t);
	ck_assert_uint_eq(t->nev, 1);
	ck_assert_int_eq(t->ev[0]->ev_case, HOMA__CLIENT__DAEMON_MSG__EV_OPEN);
	return t->ev[0]->open->error;
}

/* A good Open of family on real sealed memfds. */
static void st_open(struct st *t, int family)
{
	int fds[2] = {st_memfd(ST_RX, HOMA_SHM_REQUIRED_SEALS),
		      st_memfd(ST_TX, HOMA_SHM_REQUIRED_SEALS)};
	uint8_t *tx;

	st_open_with(t, HOMA_CLIENT_PROTO_VERSION, family, ST_RX, ST_TX, fds,
		     2);
	ck_assert_int_eq(st_open_reply(t), 0);
	ck_assert_int_eq(t->s.state, SESS_OPEN);
	tx = (uint8_t *)t->s.tx_base;
	ck_assert_ptr_nonnull(tx);
	st_free_events(t);
}

/* A refused Open: its error, counted, LINGER, closes once answered. */
static void st_expect_bad_open(struct st *t, int error)
{
	ck_assert_int_eq(st_open_reply(t), error);
	ck_assert_uint_eq(t->h.stats.chan_bad_open, 1);
	ck_assert_int_eq(t->s.state, SESS_LINGER);
	ck_assert(session_should_close(&t->s));
	ck_assert(!session_wants_recv(&t->s));
}

/* ---- the Open ----------------------------------------------------------- */

START_TEST(open__ok_v4_and_v6)
{
	struct st t;

	st_setup(&t);
	st_open(&t, _i ? AF_INET6 : AF_INET);
	ck_assert_uint_eq(t.h.mapped, ST_RX + ST_TX);
	ck_assert_uint_eq(t.h.stats.transitions, 1);
	ck_assert_uint_eq(t.h.stats.entered[SESS_OPEN], 1);
	ck_assert(session_wants_recv(&t.s));
	st_teardown(&t);
}
END_TEST

START_TEST(open__reply_fields)
{
	struct st t;
	int fds[2] = {st_memfd(ST_RX, HOMA_SHM_REQUIRED_SEALS),
		      st_memfd(ST_TX, HOMA_SHM_REQUIRED_SEALS)};
	Homa__Client__OpenReply *r;

	st_setup(&t);
	st_open_with(&t, HOMA_CLIENT_PROTO_VERSION, AF_INET, ST_RX, ST_TX, fds,
		     2);
	ck_assert_int_eq(st_open_reply(&t), 0);
	r = t.ev[0]->open;
	ck_assert_uint_ge(r->port, HOMA_MIN_DEFAULT_PORT);
	ck_assert_ptr_nonnull(r->ids);
	ck_assert_uint_eq(r->ids->count, SESSION_ID_BLOCK);
	ck_assert_uint_eq(r->ids->first % 2, 0);
	ck_assert_uint_eq(r->max_inline, t.cfg.max_inline < SESSION_MAX_INLINE
						 ? t.cfg.max_inline
						 : SESSION_MAX_INLINE);
	ck_assert(r->takes_recycle);
	st_teardown(&t);
}
END_TEST

/* Each bad Open: the answer's errno. */
START_TEST(open__bad_version)
{
	struct st t;
	int fds[2] = {st_memfd(ST_RX, HOMA_SHM_REQUIRED_SEALS),
		      st_memfd(ST_TX, HOMA_SHM_REQUIRED_SEALS)};

	st_setup(&t);
	st_open_with(&t, HOMA_CLIENT_PROTO_VERSION + 1, AF_INET, ST_RX, ST_TX,
		     fds, 2);
	st_expect_bad_open(&t, EPROTO);
	ck_assert_uint_eq(t.h.mapped, 0);
	st_teardown(&t);
}
END_TEST

START_TEST(open__bad_family)
{
	struct st t;
	int fds[2] = {st_memfd(ST_RX, HOMA_SHM_REQUIRED_SEALS),
		      st_memfd(ST_TX, HOMA_SHM_REQUIRED_SEALS)};

	st_setup(&t);
	st_open_with(&t, HOMA_CLIENT_PROTO_VERSION, AF_UNIX, ST_RX, ST_TX, fds,
		     2);
	st_expect_bad_open(&t, EAFNOSUPPORT);
	st_teardown(&t);
}
END_TEST

START_TEST(open__one_descriptor)
{
	struct st t;
	int fds[1] = {st_memfd(ST_RX, HOMA_SHM_REQUIRED_SEALS)};

	st_setup(&t);
	st_open_with(&t, HOMA_CLIENT_PROTO_VERSION, AF_INET, ST_RX, ST_TX, fds,
		     1);
	st_expect_bad_open(&t, EINVAL);
	st_teardown(&t);
}
END_TEST

/* rx pool sizes: too small, not a multiple of a bpage, too large. */
START_TEST(open__bad_rx_size)
{
	static const uint64_t sizes[] = {HOMA_SHM_BPAGE_SIZE, ST_RX + 4096,
					 HOMA_SHM_MAX_RX_POOL +
						 HOMA_SHM_BPAGE_SIZE};
	struct st t;
	int fds[2] = {st_memfd(ST_RX, HOMA_SHM_REQUIRED_SEALS),
		      st_memfd(ST_TX, HOMA_SHM_REQUIRED_SEALS)};

	st_setup(&t);
	st_open_with(&t, HOMA_CLIENT_PROTO_VERSION, AF_INET, sizes[_i], ST_TX,
		     fds, 2);
	st_expect_bad_open(&t, EINVAL);
	st_teardown(&t);
}
END_TEST

START_TEST(open__tx_area_too_large)
{
	struct st t;
	int fds[2] = {st_memfd(ST_RX, HOMA_SHM_REQUIRED_SEALS),
		      st_memfd(ST_TX, HOMA_SHM_REQUIRED_SEALS)};

	st_setup(&t);
	st_open_with(&t, HOMA_CLIENT_PROTO_VERSION, AF_INET, ST_RX,
		     HOMA_SHM_MAX_TX_AREA + 1, fds, 2);
	st_expect_bad_open(&t, EINVAL);
	st_teardown(&t);
}
END_TEST

/* Regions: unsealed rx, tx sealed against shrinking only, a size that
 * differs from the memfd's, not a memfd (a pipe). */
START_TEST(open__bad_regions)
{
	struct st t;
	int fds[2], p[2];

	st_setup(&t);
	switch (_i) {
	case 0:
		fds[0] = st_memfd(ST_RX, 0);
		fds[1] = st_memfd(ST_TX, HOMA_SHM_REQUIRED_SEALS);
		break;
	case 1:
		fds[0] = st_memfd(ST_RX, HOMA_SHM_REQUIRED_SEALS);
		fds[1] = st_memfd(ST_TX, F_SEAL_SHRINK);
		break;
	case 2:
		fds[0] = st_memfd(2 * ST_RX, HOMA_SHM_REQUIRED_SEALS);
		fds[1] = st_memfd(ST_TX, HOMA_SHM_REQUIRED_SEALS);
		break;
	default:
		ck_assert_int_eq(pipe(p), 0);
		close(p[1]);
		fds[0] = p[0];
		fds[1] = st_memfd(ST_TX, HOMA_SHM_REQUIRED_SEALS);
		break;
	}
	st_open_with(&t, HOMA_CLIENT_PROTO_VERSION, AF_INET, ST_RX, ST_TX, fds,
		     2);
	st_expect_bad_open(&t, EINVAL);
	ck_assert_ptr_nonnull(strstr(t.ev[0]->open->error_text,
				     _i == 1 ? "tx area" : "rx pool"));
	ck_assert_uint_eq(t.h.mapped, 0);
	st_teardown(&t);
}
END_TEST

START_TEST(open__over_max_memory)
{
	struct homa_config cfg;
	struct st t;
	int fds[2] = {st_memfd(ST_RX, HOMA_SHM_REQUIRED_SEALS),
		      st_memfd(ST_TX, HOMA_SHM_REQUIRED_SEALS)};

	config_defaults(&cfg);
	if (_i)
		cfg.max_client_memory = ST_RX;
	else
		cfg.max_memory = ST_RX;
	st_setup_cfg(&t, &cfg);
	st_open_with(&t, HOMA_CLIENT_PROTO_VERSION, AF_INET, ST_RX, ST_TX, fds,
		     2);
	st_expect_bad_open(&t, ENOMEM);
	st_teardown(&t);
}
END_TEST

/* The first datagram: not an Open, an Open with recycles, control data
 * that is not SCM_RIGHTS, oversized, not protobuf. */
START_TEST(open__bad_first_datagram)
{
	Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Open o = HOMA__CLIENT__OPEN__INIT;
	Homa__Client__SetServer ss = HOMA__CLIENT__SET_SERVER__INIT;
	uint32_t offs[1] = {0};
	static uint8_t big[HOMA_CLIENT_MAX_DATAGRAM + 1];
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
	struct st t;
	int expect = EPROTO;

	st_setup(&t);
	switch (_i) {
	case 0:
		cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SET_SERVER;
		cm.set_server = &ss;
		cm.seq = 1;
		st_recv(&t, &cm);
		break;
	case 1:
		o.version = HOMA_CLIENT_PROTO_VERSION;
		o.family = AF_INET;
		o.rx_pool_bytes = ST_RX;
		cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_OPEN;
		cm.open = &o;
		cm.n_recycle_offsets = 1;
		cm.recycle_offsets = offs;
		st_recv(&t, &cm);
		break;
	case 2:
		session_recv(&t.s, 2, junk, NULL, 0, true, t.now);
		expect = EINVAL;
		break;
	case 3:
		session_recv(&t.s, (int)sizeof(big), big, NULL, 0, false,
			     t.now);
		expect = EMSGSIZE;
		break;
	default:
		session_recv(&t.s, (int)sizeof(junk), junk, NULL, 0, false,
			     t.now);
		break;
	}
	st_expect_bad_open(&t, expect);
	st_teardown(&t);
}
END_TEST

/* ---- commands: each validator ------------------------------------------- */

static uint64_t st_first_id(struct st *t)
{
	return t->s.ids[0].first;
}

/* A request of length bytes at tx_offset (or inline) to addr. */
static void st_request(struct st *t, uint64_t id, const uint8_t *addr,
		       size_t addr_len, uint32_t port, uint64_t tx_offset,
		       uint32_t length, const uint8_t *inl, size_t inl_len)
{
	Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__SendRequest r = HOMA__CLIENT__SEND_REQUEST__INIT;
	Homa__Client__Addr a = HOMA__CLIENT__ADDR__INIT;

	a.addr.data = (uint8_t *)addr;
	a.addr.len = addr_len;
	a.port = port;
	r.dest = &a;
	r.id = id;
	r.cookie = 77;
	r.tx_offset = tx_offset;
	r.length = length;
	r.inline_data.data = (uint8_t *)inl;
	r.inline_data.len = inl_len;
	cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SEND_REQUEST;
	cm.send_request = &r;
	st_recv(t, &cm);
}

static const uint8_t st_v4[4] = {10, 0, 0, 2};
static const uint8_t st_v6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0,
				  0,	0, 0, 0, 0, 0, 0, 2};

/* s was doomed for a bad message. */
static void st_expect_bad(struct st *t)
{
	ck_assert_int_eq(t->s.state, SESS_DOOMED);
	ck_assert_uint_eq(t->h.stats.chan_bad_messages, 1);
	ck_assert(session_should_close(&t->s));
	ck_assert(!session_wants_recv(&t->s));
	ck_assert_uint_eq(t->s.n_tx, 0);
}

START_TEST(request__ok)
{
	struct st t;

	st_setup(&t);
	st_open(&t, AF_INET);
	st_request(&t, st_first_id(&t), st_v4, 4, 4000, 0, 1000, NULL, 0);
	ck_assert_int_eq(t.s.state, SESS_OPEN);
	ck_assert_uint_eq(t.s.n_tx, 1);
	ck_assert_uint_eq(t.cl->n_requests, 1);
	ck_assert_uint_gt(t.sent, 0);
	/* Inline. */
	st_request(&t, st_first_id(&t) + 2, st_v4, 4, 4000, 0, 0,
		   (const uint8_t *)"hello", 5);
	ck_assert_uint_eq(t.s.n_tx, 2);
	ck_assert_uint_eq(t.h.stats.chan_commands, 2);
	st_teardown(&t);
}
END_TEST

/* Addresses: 16 bytes on an AF_INET socket, 4 on AF_INET6, 5 bytes, no
 * address, port 0, port above 0xffff. */
START_TEST(request__bad_address)
{
	struct st t;

	st_setup(&t);
	st_open(&t, _i == 1 ? AF_INET6 : AF_INET);
	switch (_i) {
	case 0:
		st_request(&t, st_first_id(&t), st_v6, 16, 4000, 0, 10, NULL,
			   0);
		break;
	case 1:
		st_request(&t, st_first_id(&t), st_v4, 4, 4000, 0, 10, NULL, 0);
		break;
	case 2:
		st_request(&t, st_first_id(&t), st_v6, 5, 4000, 0, 10, NULL, 0);
		break;
	case 3:
		st_request(&t, st_first_id(&t), st_v4, 4, 0, 0, 10, NULL, 0);
		break;
	default:
		st_request(&t, st_first_id(&t), st_v4, 4, 0x10000, 0, 10, NULL,
			   0);
		break;
	}
	st_expect_bad(&t);
	st_teardown(&t);
}
END_TEST

/* Ids: odd, zero, below and past the block, used twice. */
START_TEST(request__bad_id)
{
	struct st t;
	uint64_t first;

	st_setup(&t);
	st_open(&t, AF_INET);
	first = st_first_id(&t);
	switch (_i) {
	case 0:
		st_request(&t, first + 1, st_v4, 4, 4000, 0, 10, NULL, 0);
		break;
	case 1:
		st_request(&t, 0, st_v4, 4, 4000, 0, 10, NULL, 0);
		break;
	case 2:
		st_request(&t, first - 2, st_v4, 4, 4000, 0, 10, NULL, 0);
		break;
	case 3:
		st_request(&t, first + 2ull * SESSION_ID_BLOCK, st_v4, 4, 4000,
			   0, 10, NULL, 0);
		break;
	default:
		st_request(&t, first, st_v4, 4, 4000, 0, 10, NULL, 0);
		ck_assert_uint_eq(t.s.n_tx, 1);
		st_request(&t, first, st_v4, 4, 4000, 0, 10, NULL, 0);
		ck_assert_int_eq(t.s.state, SESS_DOOMED);
		ck_assert_uint_eq(t.h.stats.chan_bad_messages, 1);
		st_teardown(&t);
		return;
	}
	st_expect_bad(&t);
	st_teardown(&t);
}
END_TEST

/* Extents: past the end, overflowing, offset beyond; inline data over
 * max_inline, not matching length, with an offset. */
START_TEST(request__bad_bytes)
{
	static uint8_t big[SESSION_MAX_INLINE + 1];
	struct st t;
	uint64_t id;

	st_setup(&t);
	st_open(&t, AF_INET);
	id = st_first_id(&t);
	switch (_i) {
	case 0:
		st_request(&t, id, st_v4, 4, 4000, ST_TX - 10, 11, NULL, 0);
		break;
	case 1:
		st_request(&t, id, st_v4, 4, 4000, UINT64_MAX - 5, 100, NULL,
			   0);
		break;
	case 2:
		st_request(&t, id, st_v4, 4, 4000, ST_TX + 1, 1, NULL, 0);
		break;
	case 3:
		st_request(&t, id, st_v4, 4, 4000, 0, 0, big, sizeof(big));
		break;
	case 4:
		st_request(&t, id, st_v4, 4, 4000, 0, 6, (const uint8_t *)"abc",
			   3);
		break;
	default:
		st_request(&t, id, st_v4, 4, 4000, 8, 0, (const uint8_t *)"abc",
			   3);
		break;
	}
	st_expect_bad(&t);
	st_teardown(&t);
}
END_TEST

/* The per-client request limit: Failed(ENOBUFS), the id stays unused. */
START_TEST(request__over_client_limit)
{
	struct homa_config cfg;
	struct st t;
	uint64_t id;

	config_defaults(&cfg);
	cfg.max_rpcs_per_client = 1;
	st_setup_cfg(&t, &cfg);
	st_open(&t, AF_INET);
	id = st_first_id(&t);
	st_request(&t, id, st_v4, 4, 4000, 0, 10, NULL, 0);
	st_request(&t, id + 2, st_v4, 4, 4000, 0, 10, NULL, 0);
	ck_assert_int_eq(t.s.state, SESS_OPEN);
	st_drain(&t);
	ck_assert_uint_eq(t.nev, 1);
	ck_assert_int_eq(t.ev[0]->ev_case, HOMA__CLIENT__DAEMON_MSG__EV_FAILED);
	ck_assert_uint_eq(t.ev[0]->failed->id, id + 2);
	ck_assert_int_eq(t.ev[0]->failed->error, ENOBUFS);
	ck_assert_uint_eq(t.ev[0]->failed->n_tx_released, 1);
	ck_assert_uint_eq(t.ev[0]->failed->tx_released[0], id + 2);
	st_teardown(&t);
}
END_TEST

static void st_response(struct st *t, uint64_t id, const uint8_t *addr,
			size_t addr_len)
{
	Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__SendResponse r = HOMA__CLIENT__SEND_RESPONSE__INIT;
	Homa__Client__Addr a = HOMA__CLIENT__ADDR__INIT;

	a.addr.data = (uint8_t *)addr;
	a.addr.len = addr_len;
	a.port = 4000;
	r.peer = &a;
	r.id = id;
	r.inline_data.data = (uint8_t *)"x";
	r.inline_data.len = 1;
	cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SEND_RESPONSE;
	cm.send_response = &r;
	st_recv(t, &cm);
}

/* A response to an RPC the engine does not have is discarded: its id
 * comes back in a TxReleased.  16-byte peers are fine on AF_INET. */
START_TEST(response__unknown_rpc_released)
{
	struct st t;

	st_setup(&t);
	st_open(&t, AF_INET);
	st_response(&t, 1001, st_v6, 16);
	ck_assert_int_eq(t.s.state, SESS_OPEN);
	st_drain(&t);
	ck_assert_uint_eq(t.nev, 1);
	ck_assert_int_eq(t.ev[0]->ev_case,
			 HOMA__CLIENT__DAEMON_MSG__EV_TX_RELEASED);
	ck_assert_uint_eq(t.ev[0]->tx_released->n_ids, 1);
	ck_assert_uint_eq(t.ev[0]->tx_released->ids[0], 1001);
	st_teardown(&t);
}
END_TEST

START_TEST(response__bad)
{
	struct st t;

	st_setup(&t);
	st_open(&t, AF_INET);
	if (_i == 0)
		st_response(&t, 1000, st_v4, 4); /* even id */
	else
		st_response(&t, 1001, st_v4, 3);
	st_expect_bad(&t);
	st_teardown(&t);
}
END_TEST

/* Recycling a bpage the client does not hold, alone or riding on a
 * command. */
START_TEST(recycle__not_held)
{
	Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Recycle rc = HOMA__CLIENT__RECYCLE__INIT;
	Homa__Client__SetServer ss = HOMA__CLIENT__SET_SERVER__INIT;
	uint32_t offs[1] = {HOMA_SHM_BPAGE_SIZE};
	struct st t;

	st_setup(&t);
	st_open(&t, AF_INET);
	if (_i == 0) {
		rc.n_bpage_offsets = 1;
		rc.bpage_offsets = offs;
		cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_RECYCLE;
		cm.recycle = &rc;
	} else {
		cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SET_SERVER;
		cm.set_server = &ss;
		cm.seq = 1;
		cm.n_recycle_offsets = 1;
		cm.recycle_offsets = offs;
	}
	st_recv(&t, &cm);
	st_expect_bad(&t);
	st_teardown(&t);
}
END_TEST

/* After the Open: an oversized datagram, descriptors, bad control data,
 * a second Open, no command, a command without seq, junk. */
START_TEST(datagram__bad_after_open)
{
	Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Open o = HOMA__CLIENT__OPEN__INIT;
	Homa__Client__SetServer ss = HOMA__CLIENT__SET_SERVER__INIT;
	static uint8_t big[HOMA_CLIENT_MAX_DATAGRAM + 1];
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
	struct st t;
	int fd;

	st_setup(&t);
	st_open(&t, AF_INET);
	switch (_i) {
	case 0:
		session_recv(&t.s, (int)sizeof(big), big, NULL, 0, false,
			     t.now);
		break;
	case 1:
		fd = st_memfd(4096, 0);
		cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SET_SERVER;
		cm.set_server = &ss;
		cm.seq = 1;
		st_recv_fds(&t, &cm, &fd, 1);
		/* The session closed it. */
		ck_assert_int_lt(fcntl(fd, F_GETFD), 0);
		break;
	case 2:
		session_recv(&t.s, 2, junk, NULL, 0, true, t.now);
		break;
	case 3:
		o.version = HOMA_CLIENT_PROTO_VERSION;
		cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_OPEN;
		cm.open = &o;
		st_recv(&t, &cm);
		break;
	case 4:
		cm.seq = 1; /* not empty: an empty datagram reads as EOF */
		st_recv(&t, &cm);
		break;
	case 5:
		cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SET_SERVER;
		cm.set_server = &ss;
		st_recv(&t, &cm);
		break;
	default:
		session_recv(&t.s, (int)sizeof(junk), junk, NULL, 0, false,
			     t.now);
		break;
	}
	st_expect_bad(&t);
	st_drain(&t);
	ck_assert_uint_eq(t.nev, 0);
	st_teardown(&t);
}
END_TEST

/* ---- commands with a Reply ---------------------------------------------- */

static Homa__Client__Reply *st_reply(struct st *t, uint64_t seq)
{
	st_drain(t);
	ck_assert_uint_eq(t->nev, 1);
	ck_assert_int_eq(t->ev[0]->ev_case, HOMA__CLIENT__DAEMON_MSG__EV_REPLY);
	ck_assert_uint_eq(t->ev[0]->reply->seq, seq);
	return t->ev[0]->reply;
}

static void st_bind(struct st *t, uint64_t seq, uint32_t port)
{
	Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Bind b = HOMA__CLIENT__BIND__INIT;

	b.port = port;
	cm.seq = seq;
	cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_BIND;
	cm.bind = &b;
	st_recv(t, &cm);
}

START_TEST(bind__ports_and_permissions)
{
	struct homa_config cfg;
	struct st t;
	Homa__Client__Reply *r;

	config_defaults(&cfg);
	cfg.n_bind_uids = 1;
	cfg.bind_uids[0] = 4242; /* not the client's 1000 */
	st_setup_cfg(&t, &cfg);
	st_open(&t, AF_INET);
	st_bind(&t, 1, 100);
	r = st_reply(&t, 1);
	ck_assert_int_eq(r->error, EACCES);
	ck_assert_uint_eq(t.h.stats.chan_bind_denied, 1);
	st_free_events(&t);
	st_bind(&t, 2, 0x10000);
	ck_assert_int_eq(st_reply(&t, 2)->error, EINVAL);
	st_free_events(&t);
	/* Port 0 changes nothing, and needs no permission. */
	st_bind(&t, 3, 0);
	r = st_reply(&t, 3);
	ck_assert_int_eq(r->error, 0);
	ck_assert_uint_ge(r->port, HOMA_MIN_DEFAULT_PORT);
	st_free_events(&t);
	/* The uid allowed. */
	t.s.uid = 4242;
	st_bind(&t, 4, 100);
	r = st_reply(&t, 4);
	ck_assert_int_eq(r->error, 0);
	ck_assert_uint_eq(r->port, 100);
	ck_assert_uint_eq(t.h.stats.chan_bind_denied, 1);
	ck_assert_int_eq(t.s.state, SESS_OPEN);
	st_teardown(&t);
}
END_TEST

START_TEST(reply__abort_info_more_ids_shutdown)
{
	Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Abort ab = HOMA__CLIENT__ABORT__INIT;
	Homa__Client__Info in = HOMA__CLIENT__INFO__INIT;
	Homa__Client__MoreIds mi = HOMA__CLIENT__MORE_IDS__INIT;
	Homa__Client__Shutdown sd = HOMA__CLIENT__SHUTDOWN__INIT;
	Homa__Client__Reply *r;
	struct st t;

	st_setup(&t);
	st_open(&t, AF_INET);
	st_request(&t, st_first_id(&t), st_v4, 4, 4000, 0, 100, NULL, 0);
	/* Abort: an odd id, an error out of range. */
	ab.id = 3;
	cm.seq = 1;
	cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_ABORT;
	cm.abort = &ab;
	st_recv(&t, &cm);
	ck_assert_int_eq(st_reply(&t, 1)->error, EINVAL);
	st_free_events(&t);
	ab.id = 2;
	ab.error = 4096;
	cm.seq = 2;
	st_recv(&t, &cm);
	ck_assert_int_eq(st_reply(&t, 2)->error, EINVAL);
	st_free_events(&t);
	/* Info lists the request. */
	in.max_rpcs = 100000;
	cm.seq = 3;
	cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_INFO;
	cm.info = &in;
	st_recv(&t, &cm);
	r = st_reply(&t, 3);
	ck_assert_ptr_nonnull(r->info);
	ck_assert_uint_eq(r->info->n_rpcs, 1);
	ck_assert_uint_eq(r->info->rpcs[0]->id, st_first_id(&t));
	ck_assert_uint_eq(r->info->rpcs[0]->peer->addr.len, 4);
	st_free_events(&t);
	/* MoreIds: a second block, further ids valid. */
	cm.seq = 4;
	cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_MORE_IDS;
	cm.more_ids = &mi;
	st_recv(&t, &cm);
	r = st_reply(&t, 4);
	ck_assert_ptr_nonnull(r->ids);
	ck_assert_uint_eq(r->ids->count, SESSION_ID_BLOCK);
	st_request(&t, r->ids->first, st_v4, 4, 4000, 0, 10, NULL, 0);
	ck_assert_uint_eq(t.s.n_tx, 2);
	st_free_events(&t);
	cm.seq = 5;
	cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SHUTDOWN;
	cm.shutdown = &sd;
	st_recv(&t, &cm);
	ck_assert_int_eq(st_reply(&t, 5)->error, 0);
	ck_assert_int_eq(t.s.state, SESS_OPEN);
	st_teardown(&t);
}
END_TEST

/* A client that does not read: reads pause at SESSION_PAUSE_EVENTS, the
 * session is doomed at SESSION_MAX_EVENTS (chan_event_overflows). */
START_TEST(events__overflow)
{
	Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__SetServer ss = HOMA__CLIENT__SET_SERVER__INIT;
	struct st t;
	unsigned i;

	st_setup(&t);
	st_open(&t, AF_INET);
	cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SET_SERVER;
	cm.set_server = &ss;
	for (i = 0; i < SESSION_MAX_EVENTS; i++) {
		cm.seq = i + 1;
		st_recv(&t, &cm);
		if (i + 1 == SESSION_PAUSE_EVENTS)
			ck_assert(session_recv_paused(&t.s));
	}
	ck_assert_int_eq(t.s.state, SESS_OPEN);
	ck_assert(!session_wants_recv(&t.s));
	/* It took no event for longer than SESSION_READING_NS. */
	t.now += 2000000000ull;
	cm.seq = i + 1;
	st_recv(&t, &cm);
	ck_assert_int_eq(t.s.state, SESS_DOOMED);
	ck_assert_uint_eq(t.h.stats.chan_event_overflows, 1);
	st_teardown(&t);
}
END_TEST

/* SendSpace from the engine becomes one event. */
START_TEST(events__send_space)
{
	struct st t;

	st_setup(&t);
	st_open(&t, AF_INET);
	session_send_space(&t.s);
	session_send_space(&t.s);
	st_drain(&t);
	ck_assert_uint_eq(t.nev, 1);
	ck_assert_int_eq(t.ev[0]->ev_case,
			 HOMA__CLIENT__DAEMON_MSG__EV_SEND_SPACE);
	st_teardown(&t);
}
END_TEST

/* A whole request of len bytes from 10.0.0.2:4000, id sender_id, to port. */
static void st_incoming(struct st *t, uint16_t port, uint64_t sender_id,
			uint32_t len)
{
	static const struct homa_addr peer = {
		.in6 = {.s6_addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
				    10, 0, 0, 2}}};
	static uint8_t payload[1000], buf[2000];
	struct homa_pkt p;
	size_t n;

	memset(&p, 0, sizeof(p));
	p.type = HOMA_DATA;
	p.sport = 4000;
	p.dport = port;
	p.sender_id = sender_id;
	p.u.data.message_length = len;
	p.u.data.incoming = len;
	p.u.data.cutoff_version = 1;
	p.u.data.payload_len = len;
	p.u.data.payload = payload;
	n = wire_encode(&p, buf, sizeof(buf));
	ck_assert_uint_gt(n, 0);
	engine_rx(t->e, buf, n, &peer, 0, t->now);
}

/* A server's life: a request Delivered (peer, length, bpage), the bpage
 * recycled, the response sent and its bytes released. */
START_TEST(events__delivered_recycle_respond)
{
	Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__SetServer ss = HOMA__CLIENT__SET_SERVER__INIT;
	Homa__Client__Delivered *d;
	uint32_t off;
	struct st t;

	st_setup(&t);
	st_open(&t, AF_INET);
	st_bind(&t, 1, 100);
	ck_assert_int_eq(st_reply(&t, 1)->error, 0);
	st_free_events(&t);
	ss.on = true;
	cm.seq = 2;
	cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SET_SERVER;
	cm.set_server = &ss;
	st_recv(&t, &cm);
	ck_assert_int_eq(st_reply(&t, 2)->error, 0);
	st_free_events(&t);

	st_incoming(&t, 100, 1000, 500);
	st_drain(&t);
	ck_assert_uint_eq(t.nev, 1);
	ck_assert_int_eq(t.ev[0]->ev_case,
			 HOMA__CLIENT__DAEMON_MSG__EV_DELIVERED);
	d = t.ev[0]->delivered;
	ck_assert_uint_eq(d->id, 1001); /* the server's id: odd */
	ck_assert_uint_eq(d->length, 500);
	ck_assert_uint_eq(d->peer->addr.len, 4);
	ck_assert_uint_eq(d->peer->addr.data[3], 2);
	ck_assert_uint_eq(d->peer->port, 4000);
	ck_assert(!d->private_);
	ck_assert_uint_eq(d->n_bpage_offsets, 1);
	off = d->bpage_offsets[0];
	st_free_events(&t);

	/* The bpage back, riding on the response (sent from the tx area). */
	{
		Homa__Client__SendResponse r =
			HOMA__CLIENT__SEND_RESPONSE__INIT;
		Homa__Client__Addr a = HOMA__CLIENT__ADDR__INIT;

		a.addr.data = (uint8_t *)st_v4;
		a.addr.len = 4;
		a.port = 4000;
		r.peer = &a;
		r.id = 1001;
		r.tx_offset = 4096;
		r.length = 100;
		cm = (Homa__Client__ClientMsg)HOMA__CLIENT__CLIENT_MSG__INIT;
		cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SEND_RESPONSE;
		cm.send_response = &r;
		cm.n_recycle_offsets = 1;
		cm.recycle_offsets = &off;
		st_recv(&t, &cm);
	}
	ck_assert_int_eq(t.s.state, SESS_OPEN);
	ck_assert_uint_eq(t.s.n_tx, 1);
	/* The same bpage again: no longer held. */
	{
		Homa__Client__Recycle rc = HOMA__CLIENT__RECYCLE__INIT;

		rc.n_bpage_offsets = 1;
		rc.bpage_offsets = &off;
		cm = (Homa__Client__ClientMsg)HOMA__CLIENT__CLIENT_MSG__INIT;
		cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_RECYCLE;
		cm.recycle = &rc;
		st_recv(&t, &cm);
	}
	ck_assert_int_eq(t.s.state, SESS_DOOMED);
	ck_assert_uint_eq(t.h.stats.chan_bad_messages, 1);
	st_teardown(&t);
}
END_TEST

/* A private request aborted with an error: Failed(private) with its id
 * released. */
START_TEST(events__failed_private)
{
	Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__SendRequest r = HOMA__CLIENT__SEND_REQUEST__INIT;
	Homa__Client__Abort ab = HOMA__CLIENT__ABORT__INIT;
	Homa__Client__Addr a = HOMA__CLIENT__ADDR__INIT;
	Homa__Client__Failed *f = NULL;
	struct st t;
	uint64_t id;
	unsigned released = 0;

	st_setup(&t);
	st_open(&t, AF_INET);
	id = st_first_id(&t);
	a.addr.data = (uint8_t *)st_v4;
	a.addr.len = 4;
	a.port = 4000;
	r.dest = &a;
	r.id = id;
	r.cookie = 99;
	r.private_ = true;
	r.length = 10;
	cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SEND_REQUEST;
	cm.send_request = &r;
	st_recv(&t, &cm);
	ck_assert_uint_eq(t.s.n_tx, 1);
	ab.id = id;
	ab.error = ETIMEDOUT;
	cm = (Homa__Client__ClientMsg)HOMA__CLIENT__CLIENT_MSG__INIT;
	cm.seq = 1;
	cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_ABORT;
	cm.abort = &ab;
	st_recv(&t, &cm);
	/* Its bytes come back once the engine reaps the RPC. */
	for (int i = 0; i < 100 && t.s.n_tx > 0; i++) {
		t.now += 10000000ull;
		engine_tick(t.e, t.now);
	}
	ck_assert_uint_eq(t.s.n_tx, 0);
	st_drain(&t);
	for (unsigned i = 0; i < t.nev; i++) {
		Homa__Client__DaemonMsg *m = t.ev[i];

		if (m->ev_case == HOMA__CLIENT__DAEMON_MSG__EV_FAILED) {
			f = m->failed;
			released += f->n_tx_released;
		} else if (m->ev_case ==
			   HOMA__CLIENT__DAEMON_MSG__EV_TX_RELEASED) {
			ck_assert_uint_eq(m->tx_released->ids[0], id);
			released += m->tx_released->n_ids;
		} else {
			ck_assert_int_eq(m->ev_case,
					 HOMA__CLIENT__DAEMON_MSG__EV_REPLY);
			ck_assert_int_eq(m->reply->error, 0);
		}
	}
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->id, id);
	ck_assert_uint_eq(f->cookie, 99);
	ck_assert_int_eq(f->error, ETIMEDOUT);
	ck_assert(f->private_);
	ck_assert_uint_eq(released, 1);
	ck_assert_uint_eq(t.cl->n_requests, 0);
	st_teardown(&t);
}
END_TEST

/* clients.bind_gids: the primary group, or a supplementary one (the
 * shell's peer_groups). */
static int st_groups(void *arg, const struct session *s, uint32_t *groups,
		     unsigned max)
{
	(void)arg;
	(void)s;
	ck_assert_uint_ge(max, 2);
	groups[0] = 50;
	groups[1] = 77;
	return 2;
}

START_TEST(bind__groups)
{
	struct session_ops ops = session_memfd_ops;
	struct homa_config cfg;
	struct st t;

	config_defaults(&cfg);
	cfg.n_bind_gids = 1;
	cfg.bind_gids[0] = _i == 0 ? 1000 : 77;
	st_setup_cfg(&t, &cfg);
	ops.peer_groups = st_groups;
	t.h.ops = &ops;
	st_open(&t, AF_INET);
	st_bind(&t, 1, 100);
	ck_assert_int_eq(st_reply(&t, 1)->error, 0);
	st_free_events(&t);
	/* Not in the group: refused. */
	t.h.cfg.bind_gids[0] = 4242;
	st_bind(&t, 2, 200);
	ck_assert_int_eq(st_reply(&t, 2)->error, EACCES);
	st_teardown(&t);
}
END_TEST

/* ---- per-client limits -------------------------------------------------- */

START_TEST(admit__limits)
{
	struct homa_config cfg;
	struct session_host h;
	struct session_client *a, *b, *c;
	struct session s1, s2;
	const char *why = NULL;

	config_defaults(&cfg);
	cfg.max_clients = 3;
	cfg.max_sockets_per_client = 2;
	session_host_init(&h, NULL, &cfg, NULL, NULL);
	ck_assert_int_eq(session_admit(&h, 7, 0, &a, &why), 0);
	session_init(&s1, &h, a, NULL, 1, 7, 0, 0);
	ck_assert_int_eq(session_admit(&h, 7, 1, &b, &why), 0);
	ck_assert_ptr_eq(a, b);
	session_init(&s2, &h, b, NULL, 2, 7, 0, 0);
	ck_assert_int_eq(session_admit(&h, 7, 2, &c, &why), EMFILE);
	ck_assert_ptr_nonnull(strstr(why, "max_sockets_per_client"));
	ck_assert_int_eq(session_admit(&h, 8, 3, &c, &why), ENFILE);
	ck_assert_ptr_nonnull(strstr(why, "max_clients"));
	ck_assert_uint_eq(h.stats.chan_refused, 2);
	/* Another process, admitted, then given back unused. */
	ck_assert_int_eq(session_admit(&h, 8, 2, &c, &why), 0);
	ck_assert_ptr_ne(a, c);
	session_unadmit(&h, c);
	ck_assert_uint_eq(h.stats.chan_refused, 3);
	ck_assert_uint_eq(h.stats.chan_connects, 2);
	/* Both sessions end before their Open: OPENING -> CLOSING. */
	session_close(&s1, "test", 0);
	session_close(&s2, "test", 0);
	session_fini(&s1);
	ck_assert(!TAILQ_EMPTY(&h.clients));
	session_fini(&s2);
	ck_assert(TAILQ_EMPTY(&h.clients));
	ck_assert_uint_eq(h.stats.chan_disconnects, 2);
	ck_assert_uint_eq(h.stats.illegal_transitions, 0);
}
END_TEST

/* The answer of a connection refused before it has a session. */
START_TEST(admit__refusal_packed)
{
	uint8_t buf[512];
	size_t len = session_pack_refusal(EMFILE, "too many", buf, sizeof(buf));
	Homa__Client__DaemonMsg *m;

	ck_assert_uint_gt(len, 0);
	m = homa__client__daemon_msg__unpack(NULL, len, buf);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->ev_case, HOMA__CLIENT__DAEMON_MSG__EV_OPEN);
	ck_assert_int_eq(m->open->error, EMFILE);
	ck_assert_str_eq(m->open->error_text, "too many");
	homa__client__daemon_msg__free_unpacked(m, NULL);
	ck_assert_uint_eq(session_pack_refusal(EMFILE, "too many", buf, 4), 0);
}
END_TEST

/* ---- the lifecycle ------------------------------------------------------ */

/* Each legal change, by what drives it. */
START_TEST(lifecycle__legal_changes)
{
	struct st t;
	int fds[2];

	st_setup(&t);
	switch (_i) {
	case 0: /* OPENING -> DOOMED: EOF before the Open */
		session_recv(&t.s, 0, NULL, NULL, 0, false, t.now);
		ck_assert_int_eq(t.s.state, SESS_DOOMED);
		ck_assert_str_eq(t.s.reason, SESSION_CLOSED_BY_CLIENT);
		break;
	case 1: /* OPENING -> CLOSING -> CLOSED: homad stops */
		session_close(&t.s, "homad stopping", t.now);
		ck_assert_uint_eq(t.h.stats.entered[SESS_CLOSING], 1);
		break;
	case 2: /* OPEN -> DOOMED: a receive error, reason kept */
		st_open(&t, AF_INET);
		session_recv(&t.s, -EIO, NULL, NULL, 0, false, t.now);
		ck_assert_int_eq(t.s.state, SESS_DOOMED);
		ck_assert_int_eq(t.s.err, EIO);
		ck_assert(t.s.internal);
		break;
	case 3: /* OPEN -> CLOSING: homad stops */
		st_open(&t, AF_INET6);
		break;
	case 4: /* LINGER -> DOOMED: the OpenReply cannot be sent */
		fds[0] = st_memfd(ST_RX, 0);
		fds[1] = st_memfd(ST_TX, 0);
		st_open_with(&t, HOMA_CLIENT_PROTO_VERSION, AF_INET, ST_RX,
			     ST_TX, fds, 2);
		ck_assert_int_eq(t.s.state, SESS_LINGER);
		{
			struct session_ev *ev = session_ev_next(&t.s);

			ck_assert_ptr_nonnull(ev);
			session_ev_done(&t.s, ev, -EPIPE, t.now);
		}
		ck_assert_int_eq(t.s.state, SESS_DOOMED);
		ck_assert_str_eq(t.s.reason, SESSION_CLOSED_BY_CLIENT);
		break;
	default: /* LINGER -> CLOSING once the answer is out */
		fds[0] = st_memfd(ST_RX, 0);
		fds[1] = st_memfd(ST_TX, 0);
		st_open_with(&t, HOMA_CLIENT_PROTO_VERSION, AF_INET, ST_RX,
			     ST_TX, fds, 2);
		ck_assert(!session_should_close(&t.s));
		st_drain(&t);
		ck_assert(session_should_close(&t.s));
		break;
	}
	/* Whatever came before: a later error changes nothing. */
	if (t.s.state == SESS_DOOMED) {
		uint64_t n = t.h.stats.transitions;

		session_fail(&t.s, NULL, "again");
		ck_assert_uint_eq(t.h.stats.transitions, n);
	}
	/* ... -> CLOSING -> CLOSED -> DEAD. */
	st_teardown(&t);
	ck_assert_uint_eq(t.h.stats.entered[SESS_CLOSED], 1);
	ck_assert_uint_eq(t.h.stats.entered[SESS_DEAD], 1);
	ck_assert_uint_eq(t.h.stats.chan_disconnects, 1);
}
END_TEST

/* Every change the table does not allow is refused and counted; the
 * session's state stays. */
START_TEST(lifecycle__illegal_changes)
{
	struct st t;
	unsigned n_illegal = 0, n_legal = 0;

	st_setup(&t);
	for (int from = 0; from < SESS_N_STATES; from++) {
		for (int to = 0; to < SESS_N_STATES; to++) {
			uint64_t before = t.h.stats.illegal_transitions;

			if (session_transition_legal(from, to)) {
				n_legal++;
				continue;
			}
			t.s.state = from;
			ck_assert_int_eq(session_change_state(&t.s, to, "test"),
					 -EINVAL);
			ck_assert_int_eq(t.s.state, from);
			ck_assert_uint_eq(t.h.stats.illegal_transitions,
					  before + 1);
			n_illegal++;
		}
	}
	/* The table of session.h: 11 arrows. */
	ck_assert_uint_eq(n_legal, 11);
	ck_assert_uint_eq(n_illegal, SESS_N_STATES * SESS_N_STATES - 11);
	ck_assert(t.h.illegal_logged);
	ck_assert_int_eq(session_change_state(&t.s, SESS_N_STATES, "x"),
			 -EINVAL);
	ck_assert_str_eq(session_state_name(SESS_LINGER), "linger");
	/* Back to a real state to end it the normal way. */
	t.h.stats.illegal_transitions = 0;
	t.s.state = SESS_OPENING;
	st_teardown(&t);
}
END_TEST

/* ---- the region hooks --------------------------------------------------- */

static int st_fail_map_check(void *arg, int fd, uint64_t size, const char *what,
			     char *why, size_t whylen)
{
	(void)arg;
	(void)fd;
	(void)size;
	(void)what;
	(void)why;
	(void)whylen;
	return 0;
}

static void *st_fail_map(void *arg, int fd, uint64_t size, bool writable,
			 int *err)
{
	(void)arg;
	(void)fd;
	(void)size;
	(void)writable;
	*err = ENODEV;
	return NULL;
}

static unsigned st_closed_fds;

static void st_count_close(void *arg, int fd)
{
	(void)arg;
	(void)fd;
	st_closed_fds++;
}

/* A map that fails: Open refused with its errno, the fds closed. */
START_TEST(open__map_fails)
{
	static const struct session_ops ops = {
		.check_region = st_fail_map_check,
		.map = st_fail_map,
		.close_fd = st_count_close,
	};
	struct st t;
	int fds[2] = {-1, -1};

	st_setup(&t);
	t.h.ops = &ops;
	st_closed_fds = 0;
	st_open_with(&t, HOMA_CLIENT_PROTO_VERSION, AF_INET, ST_RX, ST_TX, fds,
		     2);
	st_expect_bad_open(&t, ENODEV);
	ck_assert_uint_eq(st_closed_fds, 2);
	ck_assert_uint_eq(t.h.mapped, 0);
	st_teardown(&t);
}
END_TEST

/* ---- direct send ----------------------------------------------------------
 */

static int st_direct_open(void *arg, struct session *s,
			  int fds[SESSION_DIRECT_FDS],
			  struct homa_direct_ring **ring, char *why,
			  size_t whylen)
{
	struct st *t = arg;

	if (t->direct_fail) {
		snprintf(why, whylen, "test refusal");
		return EIO;
	}
	for (int i = 0; i < 3; i++)
		fds[i] = st_memfd(64, 0);
	/* As chan.c: the IPv6 socket for AF_INET6 sessions only. */
	fds[3] = s->family == AF_INET6 && !t->direct_no_v6 ? st_memfd(64, 0)
							   : -1;
	t->ring = aligned_alloc(64, sizeof(**ring));
	ck_assert_ptr_nonnull(t->ring);
	memset(t->ring, 0, sizeof(**ring));
	*ring = t->ring;
	t->direct_opens++;
	return 0;
}

static void st_direct_close(void *arg, struct session *s,
			    struct homa_direct_ring *ring)
{
	struct st *t = arg;

	(void)s;
	ck_assert_ptr_eq(ring, t->ring);
	free(ring);
	t->ring = NULL;
	t->direct_closes++;
}

/* A host whose clients of gid (1000: this test's client) may use direct
 * send, with test ops and a peer table. */
static void st_setup_direct(struct st *t, uint32_t gid, uint32_t max)
{
	struct homa_config cfg;

	config_defaults(&cfg);
	cfg.n_direct_gids = 1;
	cfg.direct_gids[0] = gid;
	cfg.max_direct_sockets = max;
	st_setup_cfg(t, &cfg);
	t->ops = session_memfd_ops;
	t->ops.direct_open = st_direct_open;
	t->ops.direct_close = st_direct_close;
	t->h.ops = &t->ops;
	t->h.ops_arg = t;
	t->ask_direct = true;
	t->table = aligned_alloc(64, sizeof(*t->table));
	ck_assert_ptr_nonnull(t->table);
	memset(t->table, 0, sizeof(*t->table));
	session_direct_header(t->table, t->e, HOMA_NUM_PRIORITIES);
}

static void st_teardown_direct(struct st *t)
{
	st_teardown(t);
	ck_assert_uint_eq(t->direct_opens, t->direct_closes);
	ck_assert_uint_eq(t->h.n_direct, 0);
	free(t->table);
}

/* The OpenReply of an Open that asked for direct send: granted or not. */
static bool st_open_direct(struct st *t, int family, const char **why)
{
	int fds[2] = {st_memfd(ST_RX, HOMA_SHM_REQUIRED_SEALS),
		      st_memfd(ST_TX, HOMA_SHM_REQUIRED_SEALS)};
	struct session_ev *ev;
	Homa__Client__DaemonMsg *m;
	bool granted;
	static char text[200];

	st_open_with(t, HOMA_CLIENT_PROTO_VERSION, family, ST_RX, ST_TX, fds,
		     2);
	ck_assert_int_eq(t->s.state, SESS_OPEN);
	ev = session_ev_next(&t->s);
	ck_assert_ptr_nonnull(ev);
	m = homa__client__daemon_msg__unpack(NULL, ev->len, ev->buf);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->ev_case, HOMA__CLIENT__DAEMON_MSG__EV_OPEN);
	ck_assert_int_eq(m->open->error, 0);
	granted = m->open->direct_send;
	/* The descriptors go with the answer, only when granted; one more
	 * (the IPv6 socket) with direct_v6, one more (the receive socket)
	 * with direct_receive. */
	ck_assert_uint_eq(ev->n_fds, granted ? 3 + m->open->direct_v6 +
						       m->open->direct_receive
					     : 0);
	ck_assert(!m->open->direct_v6 || granted);
	ck_assert(!m->open->direct_receive || granted);
	ck_assert_int_eq(t->s.drx, m->open->direct_receive);
	ck_assert_int_eq(t->s.direct_v6, m->open->direct_v6);
	snprintf(text, sizeof(text), "%s",
		 m->open->direct_refusal ? m->open->direct_refusal : "");
	*why = text;
	homa__client__daemon_msg__free_unpacked(m, NULL);
	session_ev_done(&t->s, ev, (int)ev->len, t->now);
	return granted;
}

START_TEST(direct__granted_denied_limited)
{
	struct st t;
	const char *why;

	/* Granted: its gid is listed. */
	st_setup_direct(&t, 1000, 64);
	ck_assert(st_open_direct(&t, AF_INET, &why));
	ck_assert_ptr_nonnull(t.s.ring);
	ck_assert_uint_eq(t.h.n_direct, 1);
	ck_assert_uint_eq(t.h.stats.chan_direct_granted, 1);
	st_teardown_direct(&t);
	ck_assert_uint_eq(t.direct_closes, 1);

	/* Denied: not listed (nor root's exemption: there is none). */
	st_setup_direct(&t, 4242, 64);
	ck_assert(!st_open_direct(&t, AF_INET, &why));
	ck_assert_str_eq(why, "not in clients.direct_send_groups");
	ck_assert_uint_eq(t.h.stats.chan_direct_denied, 1);
	ck_assert_ptr_null(t.s.ring);
	st_teardown_direct(&t);

	/* AF_INET6: granted, with the IPv6 socket when homad has one. */
	for (int k = 0; k < 2; k++) {
		st_setup_direct(&t, 1000, 64);
		t.direct_no_v6 = k == 1;
		ck_assert(st_open_direct(&t, AF_INET6, &why));
		ck_assert_int_eq(t.s.direct_v6, k == 0);
		ck_assert_uint_eq(t.h.stats.chan_direct_granted, 1);
		st_teardown_direct(&t);
	}

	/* The limit and the shell's failure: refused. */
	for (int k = 0; k < 2; k++) {
		st_setup_direct(&t, 1000, k == 0 ? 0 : 64);
		t.direct_fail = k == 1;
		ck_assert(!st_open_direct(&t, AF_INET, &why));
		ck_assert_uint_eq(t.h.stats.chan_direct_refused, 1);
		ck_assert_uint_eq(t.h.stats.chan_direct_granted, 0);
		ck_assert_str_ne(why, "");
		st_teardown_direct(&t);
	}
}
END_TEST

/* A library socket over t's ring and table (direct.c's view). */
static void st_lib(struct st *t, struct hc_sock *hs)
{
	memset(hs, 0, sizeof(*hs));
	hs->dring = t->ring;
	hs->dtab = t->table;
	hs->dfd = -1;
	hs->dfd6 = -1;
	hs->rfd = -1;
	hs->epfd = -1;
	hs->port = engine_sock_port(t->s.sock);
	hs->dhead = t->ring->head;
}

/* A session open with direct send (AF_INET) and the library's view. */
static void st_start_direct(struct st *t, struct hc_sock *hs)
{
	const char *why;

	st_setup_direct(t, 1000, 64);
	ck_assert(st_open_direct(t, AF_INET, &why));
	st_lib(t, hs);
}

/* Write a request record of length at tx_offset with id through the
 * library's own code. */
static int st_lib_request(struct st *t, struct hc_sock *hs, uint64_t id,
			  uint64_t tx_offset, uint32_t length,
			  struct direct_pkt *d)
{
	struct homa_direct_rec rec;

	memset(d, 0, sizeof(*d));
	d->id = id;
	d->cookie = 77;
	d->tx_offset = tx_offset;
	d->length = length;
	d->sport = (uint16_t)hs->port;
	d->dport = 4000;
	d->addr[10] = d->addr[11] = 0xff;
	memcpy(d->addr + 12, st_v4, 4);
	direct_prepare(hs, d, &rec);
	return direct_record(hs, &rec);
}

/* Send a request through the command, capture its DATA packet, and
 * compare it with what the library builds for the same message. */
static void st_compare_packet(struct st *t, struct hc_sock *hs, uint64_t id,
			      uint32_t length)
{
	uint8_t hdr[20 + HOMA_DATA_LEN];
	struct direct_pkt d;
	struct homa_direct_rec rec;
	unsigned sent = t->sent;
	size_t n;

	st_request(t, id, st_v4, 4, 4000, 0, length, NULL, 0);
	ck_assert_uint_eq(t->sent, sent + 1);
	ck_assert_uint_eq(t->last_len, HOMA_DATA_LEN + length);
	memset(&d, 0, sizeof(d));
	d.id = id;
	d.cookie = 77;
	d.length = length;
	d.sport = (uint16_t)hs->port;
	d.dport = 4000;
	d.addr[10] = d.addr[11] = 0xff;
	memcpy(d.addr + 12, st_v4, 4);
	direct_prepare(hs, &d, &rec);
	n = direct_build(&d, hdr, sizeof(hdr));
	ck_assert_uint_eq(n, 20 + HOMA_DATA_LEN);
	/* Byte for byte the engine's DATA (no ack was queued), and its
	 * priority, in the IPv4 header's TOS. */
	ck_assert_mem_eq(hdr + 20, t->last, HOMA_DATA_LEN);
	ck_assert_mem_eq(t->last + HOMA_DATA_LEN, t->s.tx_base, length);
	ck_assert_uint_eq(hdr[1] >> 5, t->last_prio);
	ck_assert_uint_eq(hdr[9], HOMA_IPPROTO);
	ck_assert_mem_eq(hdr + 16, st_v4, 4);
}

START_TEST(direct__packet_as_the_engine_sends_it)
{
	static const struct homa_addr peer = {
		.in6 = {.s6_addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
				    10, 0, 0, 2}}};
	struct hc_sock hs;
	struct st t;
	uint64_t id;

	st_start_direct(&t, &hs);
	id = st_first_id(&t);
	/* An unknown peer: level 6, version 0, no marker flags. */
	st_compare_packet(&t, &hs, id, 100);
	ck_assert_uint_eq(t.last_prio, 6);
	/* The peer's CUTOFFS (published in the table): 2800 -> level 5
	 * here, version 9; then its DATA with the homad marker. */
	{
		struct homa_pkt p;
		uint8_t buf[128];
		size_t n;

		memset(&p, 0, sizeof(p));
		p.type = HOMA_CUTOFFS;
		p.sport = 4000;
		p.dport = engine_sock_port(t.s.sock);
		p.sender_id = 5;
		for (int i = 0; i < 8; i++)
			p.u.cutoffs.unsched_cutoffs[i] = i >= 6 ? 50 : 100000;
		p.u.cutoffs.cutoff_version = 9;
		n = wire_encode(&p, buf, sizeof(buf));
		engine_rx(t.e, buf, n, &peer, 7, t.now);
	}
	st_compare_packet(&t, &hs, id + 2, 1000);
	ck_assert_uint_eq(t.last_prio, 5);
	ck_assert_uint_eq(t.last[HOMA_COMMON_LEN + 18], 0);
	ck_assert_uint_eq(t.last[HOMA_COMMON_LEN + 19], 9);
	st_compare_packet(&t, &hs, id + 4, 30);
	ck_assert_uint_eq(t.last_prio, 7);
	/* The longest message the table allows: one packet. */
	ck_assert_uint_eq(t.table->max_v4, 1500 - 20 - HOMA_DATA_LEN);
	st_compare_packet(&t, &hs, id + 6, t.table->max_v4);
	st_teardown_direct(&t);
}
END_TEST

/* A direct record for peer addr (16 bytes) with id, by the library's code. */
static void st_lib_record6(struct hc_sock *hs, uint64_t id,
			   const uint8_t addr[16])
{
	struct homa_direct_rec rec;
	struct direct_pkt d;

	memset(&d, 0, sizeof(d));
	d.id = id;
	d.length = 200;
	d.sport = (uint16_t)hs->port;
	d.dport = 4000;
	memcpy(d.addr, addr, 16);
	direct_prepare(hs, &d, &rec);
	ck_assert_int_eq(direct_record(hs, &rec), 0);
}

/* AF_INET6 sockets: IPv6 peers through the IPv6 socket (one packet over
 * IPv6: 20 bytes fewer), v4-mapped ones through the IPv4 socket; without
 * an IPv6 socket a record for an IPv6 peer is refused. */
START_TEST(direct__ipv6_peers)
{
	static const uint8_t mapped[16] = {0, 0, 0,    0,    0,	 0, 0, 0,
					   0, 0, 0xff, 0xff, 10, 0, 0, 2};
	uint8_t hdr[20 + HOMA_DATA_LEN];
	struct homa_direct_rec rec;
	struct direct_pkt d;
	struct hc_sock hs;
	struct st t;
	const char *why;
	uint64_t id;
	unsigned sent;

	st_setup_direct(&t, 1000, 64);
	ck_assert(st_open_direct(&t, AF_INET6, &why));
	st_lib(&t, &hs);
	hs.dfd6 = 99; /* the library's IPv6 socket (nothing is sent here) */
	ck_assert_uint_eq(t.table->max_v6, 1500 - 40 - HOMA_DATA_LEN);
	ck_assert(direct_fits(&hs, t.table->max_v6, 16, st_v6));
	ck_assert(!direct_fits(&hs, t.table->max_v6 + 1, 16, st_v6));
	ck_assert(direct_fits(&hs, t.table->max_v4, 16, mapped));
	ck_assert(!direct_fits(&hs, t.table->max_v4 + 1, 16, mapped));

	/* The DATA header, byte for byte the engine's, and its priority. */
	id = st_first_id(&t);
	sent = t.sent;
	st_request(&t, id, st_v6, 16, 4000, 0, 100, NULL, 0);
	ck_assert_uint_eq(t.sent, sent + 1);
	memset(&d, 0, sizeof(d));
	d.id = id;
	d.cookie = 77;
	d.length = 100;
	d.sport = (uint16_t)hs.port;
	d.dport = 4000;
	memcpy(d.addr, st_v6, 16);
	direct_prepare(&hs, &d, &rec);
	ck_assert_uint_eq(direct_build(&d, hdr, sizeof(hdr)),
			  20 + HOMA_DATA_LEN);
	ck_assert_mem_eq(hdr + 20, t.last, HOMA_DATA_LEN);
	ck_assert_uint_eq(d.prio, t.last_prio);

	/* Records for an IPv6 peer and a v4-mapped one: both adopted. */
	sent = t.sent;
	st_lib_record6(&hs, id + 2, st_v6);
	st_lib_record6(&hs, id + 4, mapped);
	ck_assert_uint_eq(session_host_direct_drain(&t.h, t.now), 2);
	ck_assert_int_eq(t.s.state, SESS_OPEN);
	ck_assert(engine_client_rpc_known(t.e, id + 2));
	ck_assert(engine_client_rpc_known(t.e, id + 4));
	ck_assert_uint_eq(t.sent, sent);
	ck_assert_uint_eq(t.h.stats.chan_direct_bad, 0);

	/* The library without an IPv6 socket sends IPv6 peers' messages
	 * through homad. */
	hs.dfd6 = -1;
	ck_assert(!direct_fits(&hs, 10, 16, st_v6));
	ck_assert(direct_fits(&hs, 10, 16, mapped));
	st_teardown_direct(&t);

	/* No IPv6 socket given: a record for an IPv6 peer is a forgery. */
	st_setup_direct(&t, 1000, 64);
	t.direct_no_v6 = true;
	ck_assert(st_open_direct(&t, AF_INET6, &why));
	st_lib(&t, &hs);
	id = st_first_id(&t);
	st_lib_record6(&hs, id, st_v6);
	session_host_direct_drain(&t.h, t.now);
	ck_assert_int_eq(t.s.state, SESS_DOOMED);
	ck_assert_uint_eq(t.h.stats.chan_direct_bad, 1);
	ck_assert(!engine_client_rpc_known(t.e, id));
	st_teardown_direct(&t);
}
END_TEST

/* A UDP socket of family on loopback that reports the TOS / traffic
 * class of what it receives; its port into *port. */
static int st_udp_rx(int family, uint16_t *port)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} a;
	socklen_t len = family == AF_INET ? sizeof(a.v4) : sizeof(a.v6);
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;

	ck_assert_int_ge(fd, 0);
	memset(&a, 0, sizeof(a));
	if (family == AF_INET) {
		a.v4.sin_family = AF_INET;
		a.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ck_assert_int_eq(setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &one,
					    sizeof(one)),
				 0);
	} else {
		a.v6.sin6_family = AF_INET6;
		a.v6.sin6_addr = in6addr_loopback;
		ck_assert_int_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS,
					    &one, sizeof(one)),
				 0);
	}
	ck_assert_int_eq(bind(fd, &a.sa, len), 0);
	ck_assert_int_eq(getsockname(fd, &a.sa, &len), 0);
	*port = ntohs(family == AF_INET ? a.v4.sin_port : a.v6.sin6_port);
	return fd;
}

/* One datagram from fd into buf: its length; its TOS or class in *tos. */
static ssize_t st_udp_read(int fd, uint8_t *buf, size_t cap, int *tos)
{
	union {
		char b[CMSG_SPACE(sizeof(int)) * 2];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = cap};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.b,
			    .msg_controllen = sizeof(ctl.b)};
	/* Loopback delivers within the sender's sendmsg. */
	ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);

	*tos = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) ||
		    (c->cmsg_level == IPPROTO_IPV6 &&
		     c->cmsg_type == IPV6_TCLASS)) {
			int v = 0;

			/* IP_TOS comes as one byte, IPV6_TCLASS as an int. */
			if (c->cmsg_type == IP_TOS)
				v = *(uint8_t *)CMSG_DATA(c);
			else
				memcpy(&v, CMSG_DATA(c), sizeof(v));
			*tos = v;
		}
	return n;
}

/* The library's packets on the udp link, to an IPv4 and an IPv6 peer
 * (loopback): the DATA header direct_build makes, then the payload, from
 * the socket of the peer's family, with the priority in the TOS or the
 * traffic class. */
START_TEST(direct__xmit_udp_ipv4_ipv6)
{
	uint8_t hdr[20 + HOMA_DATA_LEN], buf[2048];
	uint8_t payload[300];
	struct homa_direct_rec rec;
	struct direct_pkt d;
	struct hc_sock hs;
	struct st t;
	const char *why;

	st_setup_direct(&t, 1000, 64);
	ck_assert(st_open_direct(&t, AF_INET6, &why));
	st_lib(&t, &hs);
	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	hs.dfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	hs.dfd6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(hs.dfd, 0);
	ck_assert_int_ge(hs.dfd6, 0);
	t.table->link = HOMA_DIRECT_LINK_UDP;
	for (int v6 = 0; v6 < 2; v6++) {
		uint16_t port;
		int rx = st_udp_rx(v6 ? AF_INET6 : AF_INET, &port), tos;
		ssize_t n;

		t.table->udp_port = port;
		memset(&d, 0, sizeof(d));
		d.id = 2 + 2 * (uint64_t)v6;
		d.length = sizeof(payload);
		d.sport = (uint16_t)hs.port;
		d.dport = 4000;
		if (v6) {
			memcpy(d.addr, &in6addr_loopback, 16);
		} else {
			uint32_t lo = htonl(INADDR_LOOPBACK);

			d.addr[10] = d.addr[11] = 0xff;
			memcpy(d.addr + 12, &lo, 4);
		}
		direct_prepare(&hs, &d, &rec);
		ck_assert_uint_eq(direct_build(&d, hdr, sizeof(hdr)),
				  20 + HOMA_DATA_LEN);
		ck_assert_int_eq(direct_xmit(&hs, &d, payload), 0);
		n = st_udp_read(rx, buf, sizeof(buf), &tos);
		ck_assert_int_eq(n, HOMA_DATA_LEN + sizeof(payload));
		ck_assert_mem_eq(buf, hdr + 20, HOMA_DATA_LEN);
		ck_assert_mem_eq(buf + HOMA_DATA_LEN, payload, sizeof(payload));
		ck_assert_int_eq(tos, d.prio << 5);
		ck_assert_uint_eq(d.prio, 6); /* an unknown peer */
		close(rx);
	}
	/* No IPv6 socket: an IPv6 peer's packet is refused, not sent on the
	 * IPv4 one. */
	close(hs.dfd6);
	hs.dfd6 = -1;
	ck_assert_int_eq(direct_xmit(&hs, &d, payload), -EINVAL);
	close(hs.dfd);
	st_teardown_direct(&t);
}
END_TEST

START_TEST(direct__request_adopted)
{
	struct hc_sock hs;
	struct direct_pkt d;
	struct st t;
	uint64_t id;
	unsigned sent;

	st_start_direct(&t, &hs);
	id = st_first_id(&t);
	sent = t.sent;
	ck_assert_int_eq(st_lib_request(&t, &hs, id, 0, 500, &d), 0);
	ck_assert(!engine_client_rpc_known(t.e, id));
	ck_assert_uint_eq(session_host_direct_drain(&t.h, t.now), 1);
	/* Adopted as sent: the engine sent nothing, the RPC is live, its
	 * message lent (released with TxReleased as usual). */
	ck_assert_uint_eq(t.sent, sent);
	ck_assert(engine_client_rpc_known(t.e, id));
	ck_assert_uint_eq(t.s.n_tx, 1);
	ck_assert_uint_eq(t.cl->n_requests, 1);
	ck_assert_uint_eq(t.h.stats.chan_direct_records, 1);
	ck_assert_uint_eq(t.h.stats.chan_commands, 0);
	ck_assert_uint_eq(engine_metrics(t.e)->direct_messages, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->client_requests_done, 1);
	ck_assert_uint_eq(t.ring->tail, 1);
	/* Nothing new: nothing taken. */
	ck_assert_uint_eq(session_host_direct_drain(&t.h, t.now), 0);
	/* Silence: homad's own RESEND for the response, as for its own. */
	for (int i = 0; i < 10; i++) {
		t.now += 1000000;
		engine_tick(t.e, t.now);
	}
	ck_assert_uint_gt(t.sent, sent);
	ck_assert_int_eq(t.s.state, SESS_OPEN);
	st_teardown_direct(&t);
}
END_TEST

/* Acks queued for the peer (10.0.0.2), from engine_peers_page. */
static uint32_t st_acks_pending(struct st *t)
{
	struct homa_peer_entry pe[4];
	uint64_t cursor = 0;
	bool more;
	unsigned n = engine_peers_page(t->e, &cursor, pe, 4, &more);

	ck_assert_uint_eq(n, 1);
	return pe[0].acks_pending;
}

/* The ack of the last finished RPC rides in the next direct request to
 * the same peer and port (the DATA's ack field), and leaves homad's queue
 * when the record is adopted: no ACK packet for it. */
START_TEST(direct__request_carries_ack)
{
	uint8_t hdr[20 + HOMA_DATA_LEN];
	struct homa_pkt p;
	struct hc_sock hs;
	struct direct_pkt d;
	struct st t;
	uint64_t id;
	size_t n;

	st_start_direct(&t, &hs);
	id = st_first_id(&t);
	ck_assert_int_eq(st_lib_request(&t, &hs, id, 0, 100, &d), 0);
	ck_assert_uint_eq(d.ack_id, 0);
	ck_assert_uint_eq(session_host_direct_drain(&t.h, t.now), 1);
	/* Its response: delivered, its ack queued for the peer. */
	st_incoming(&t, (uint16_t)hs.port, id + 1, 100);
	ck_assert(!engine_client_rpc_known(t.e, id));
	ck_assert_uint_eq(st_acks_pending(&t), 1);
	/* The library learns of it (conn.c, from the Delivered). */
	direct_note_done(&hs, id, st_v4, 4, 4000);
	/* A request to another port does not carry it (st_lib_request sends
	 * to port 4000: the note is moved to 4001 instead), nor to another
	 * host. */
	hs.dack_port = 4001;
	ck_assert_int_eq(st_lib_request(&t, &hs, id + 2, 0, 100, &d), 0);
	ck_assert_uint_eq(d.ack_id, 0);
	ck_assert_uint_eq(t.ring->rec[1].ack_id, 0);
	hs.dack_port = 4000;
	hs.dack_addr[15] ^= 1;
	ck_assert_int_eq(st_lib_request(&t, &hs, id + 4, 0, 100, &d), 0);
	ck_assert_uint_eq(d.ack_id, 0);
	hs.dack_addr[15] ^= 1;
	ck_assert_int_eq(st_lib_request(&t, &hs, id + 6, 0, 100, &d), 0);
	ck_assert_uint_eq(d.ack_id, id);
	ck_assert_uint_eq(t.ring->rec[3].ack_id, id);
	n = direct_build(&d, hdr, sizeof(hdr));
	ck_assert_uint_eq(n, 20 + HOMA_DATA_LEN);
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(wire_decode(hdr + 20, n - 20, &p), 0);
	ck_assert_uint_eq(p.u.data.ack.client_id, id);
	ck_assert_uint_eq(p.u.data.ack.server_port, 4000);
	/* Taken once: the next request carries none. */
	ck_assert_int_eq(st_lib_request(&t, &hs, id + 8, 0, 100, &d), 0);
	ck_assert_uint_eq(d.ack_id, 0);
	ck_assert_uint_eq(st_acks_pending(&t), 1);
	ck_assert_uint_eq(session_host_direct_drain(&t.h, t.now), 4);
	ck_assert_int_eq(t.s.state, SESS_OPEN);
	ck_assert_uint_eq(st_acks_pending(&t), 0);
	ck_assert_uint_eq(t.h.stats.chan_direct_bad, 0);
	st_teardown_direct(&t);
}
END_TEST

/* Would a packet of type from 10.0.0.2:4000 to port 100 acking client id
 * ack_id (a DATA's ack; an ACK's second entry) make homad drain first? */
static bool st_ack_waits(struct st *t, enum homa_type type, uint64_t ack_id)
{
	static const struct homa_addr peer = {
		.in6 = {.s6_addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
				    10, 0, 0, 2}}};
	static const uint8_t payload[10];
	struct homa_pkt p;
	uint8_t buf[200];
	size_t n;

	/* From port ET_PEER_PORT (4000), as the harness's. */
	et_data_pkt(&p, 100, 2002, sizeof(payload), sizeof(payload), 0,
		    sizeof(payload));
	if (type == HOMA_DATA) {
		p.u.data.payload = payload;
		p.u.data.ack.client_id = ack_id;
		p.u.data.ack.server_port = 100;
	} else {
		p.type = type;
		memset(&p.u, 0, sizeof(p.u));
		p.u.ack.num_acks = 2;
		p.u.ack.acks[0].client_id = 4;
		p.u.ack.acks[0].server_port = 100;
		p.u.ack.acks[1].client_id = ack_id;
		p.u.ack.acks[1].server_port = 100;
	}
	n = wire_encode(&p, buf, sizeof(buf));
	ck_assert_uint_gt(n, 0);
	/* A cut packet never counts. */
	ck_assert(!engine_acks_waiting(t->e, buf, HOMA_COMMON_LEN - 1, &peer));
	return engine_acks_waiting(t->e, buf, n, &peer);
}

START_TEST(direct__response_adopted)
{
	struct homa_direct_rec rec;
	struct hc_sock hs;
	const char *why;
	struct st t;
	unsigned sent;

	st_setup_direct(&t, 1000, 64);
	ck_assert(st_open_direct(&t, AF_INET, &why));
	st_bind(&t, 1, 100);
	st_drain(&t);
	st_free_events(&t);
	{
		Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
		Homa__Client__SetServer ss = HOMA__CLIENT__SET_SERVER__INIT;

		ss.on = true;
		cm.seq = 2;
		cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SET_SERVER;
		cm.set_server = &ss;
		st_recv(&t, &cm);
	}
	st_drain(&t);
	st_free_events(&t);
	st_incoming(&t, 100, 1000, 500);
	st_drain(&t);
	ck_assert_uint_eq(t.nev, 1);
	st_free_events(&t);
	st_lib(&t, &hs);
	memset(&rec, 0, sizeof(rec));
	rec.kind = HOMA_DIRECT_RESPONSE;
	rec.id = 1001;
	rec.length = 200;
	rec.port = 4000;
	rec.addr[10] = rec.addr[11] = 0xff;
	memcpy(rec.addr + 12, st_v4, 4);
	ck_assert_int_eq(direct_record(&hs, &rec), 0);
	/* Not drained yet: the client's ack of RPC 1000 (in its next
	 * request, or in an ACK) must make homad drain first. */
	ck_assert(st_ack_waits(&t, HOMA_DATA, 1000));
	ck_assert(st_ack_waits(&t, HOMA_ACK, 1000));
	ck_assert(!st_ack_waits(&t, HOMA_DATA, 2000));
	ck_assert(!st_ack_waits(&t, HOMA_ACK, 0));
	sent = t.sent;
	ck_assert_uint_eq(session_direct_drain(&t.s, t.now), 1);
	ck_assert_int_eq(t.s.state, SESS_OPEN);
	ck_assert_uint_eq(t.sent, sent);
	ck_assert_uint_eq(t.s.n_tx, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->server_responses_done, 1);
	/* Adopted: the RPC no longer waits for its response. */
	ck_assert(!st_ack_waits(&t, HOMA_DATA, 1000));
	ck_assert(!st_ack_waits(&t, HOMA_ACK, 1000));
	/* The same response again: the RPC no longer waits for one. */
	ck_assert_int_eq(direct_record(&hs, &rec), 0);
	ck_assert_uint_eq(session_direct_drain(&t.s, t.now), 1);
	st_drain(&t);
	ck_assert_uint_eq(t.nev, 1);
	ck_assert_int_eq(t.ev[0]->ev_case, HOMA__CLIENT__DAEMON_MSG__EV_FAILED);
	ck_assert_int_eq(t.ev[0]->failed->error, EINVAL);
	st_teardown_direct(&t);
}
END_TEST

/* Around the ring many times, and a full ring: the library falls back. */
START_TEST(direct__ring_wrap_and_full)
{
	struct hc_sock hs;
	struct direct_pkt d;
	struct st t;
	uint64_t id;
	unsigned n = 0;

	st_start_direct(&t, &hs);
	id = st_first_id(&t);
	for (unsigned k = 0; k < 3 * HOMA_DIRECT_RING_ENTRIES + 17; k++) {
		ck_assert_int_eq(
			st_lib_request(&t, &hs, id + 2 * k, 64 * k, 64, &d), 0);
		if (k % 100 == 99)
			n += session_host_direct_drain(&t.h, t.now);
	}
	n += session_host_direct_drain(&t.h, t.now);
	ck_assert_uint_eq(n, 3 * HOMA_DIRECT_RING_ENTRIES + 17);
	ck_assert_int_eq(t.s.state, SESS_OPEN);
	ck_assert_uint_eq(t.s.n_tx, n);
	id += 2 * n;
	/* Full: HOMA_DIRECT_RING_ENTRIES records, the next one refused. */
	for (unsigned k = 0; k < HOMA_DIRECT_RING_ENTRIES; k++)
		ck_assert_int_eq(st_lib_request(&t, &hs, id + 2 * k, 0, 64, &d),
				 0);
	ck_assert_int_eq(st_lib_request(&t, &hs, id + 2 * 999, 0, 64, &d),
			 -ENOBUFS);
	ck_assert_uint_eq(session_direct_drain(&t.s, t.now),
			  HOMA_DIRECT_RING_ENTRIES);
	ck_assert_int_eq(st_lib_request(&t, &hs, id + 2 * 999, 0, 64, &d), 0);
	ck_assert_uint_eq(session_direct_drain(&t.s, t.now), 1);
	ck_assert_uint_eq(t.h.stats.chan_direct_bad, 0);
	st_teardown_direct(&t);
}
END_TEST

/* A client that dies mid-write: a record without its head is not taken;
 * a head over a record that is not there (torn) is refused, counted. */
START_TEST(direct__dead_writer_and_torn_record)
{
	struct homa_direct_rec *r;
	struct hc_sock hs;
	struct direct_pkt d;
	struct st t;

	st_start_direct(&t, &hs);
	ck_assert_int_eq(st_lib_request(&t, &hs, st_first_id(&t), 0, 64, &d),
			 0);
	ck_assert_uint_eq(session_direct_drain(&t.s, t.now), 1);
	/* Half a record written, head not moved: nothing happens. */
	r = &t.ring->rec[1];
	r->seq = 1;
	r->kind = HOMA_DIRECT_REQUEST;
	r->id = st_first_id(&t) + 2;
	ck_assert_uint_eq(session_direct_drain(&t.s, t.now), 0);
	ck_assert_int_eq(t.s.state, SESS_OPEN);
	ck_assert_uint_eq(t.s.n_tx, 1);
	/* Head moved over a slot that does not hold this lap's record. */
	r->seq = 1 + HOMA_DIRECT_RING_ENTRIES;
	t.ring->head = 2;
	ck_assert_uint_eq(session_direct_drain(&t.s, t.now), 0);
	ck_assert_int_eq(t.s.state, SESS_DOOMED);
	ck_assert_uint_eq(t.h.stats.chan_direct_torn, 1);
	ck_assert_uint_eq(t.h.stats.chan_direct_bad, 1);
	ck_assert_uint_eq(t.h.stats.chan_bad_messages, 1);
	/* A doomed session's ring is not read again. */
	ck_assert_uint_eq(session_direct_drain(&t.s, t.now), 0);
	st_teardown_direct(&t);
}
END_TEST

/* Forged and malformed records: each refused, counted, the client goes;
 * the engine adopts nothing and sends nothing. */
START_TEST(direct__forged_records)
{
	struct homa_direct_rec rec;
	struct hc_sock hs;
	struct st t;
	uint64_t first;
	unsigned sent;

	st_start_direct(&t, &hs);
	first = st_first_id(&t);
	memset(&rec, 0, sizeof(rec));
	rec.kind = HOMA_DIRECT_REQUEST;
	rec.id = first;
	rec.length = 100;
	rec.port = 4000;
	rec.addr[10] = rec.addr[11] = 0xff;
	memcpy(rec.addr + 12, st_v4, 4);
	switch (_i) {
	case 0: /* another connection's id (outside its blocks) */
		rec.id = first + 2 * SESSION_ID_BLOCK;
		break;
	case 1: /* an odd id as a request */
		rec.id = first + 1;
		break;
	case 2: /* bytes outside the tx area */
		rec.tx_offset = ST_TX - 50;
		break;
	case 3: /* longer than a packet */
		rec.length = 1500 - 20 - HOMA_DATA_LEN + 1;
		break;
	case 4: /* empty */
		rec.length = 0;
		break;
	case 5: /* unknown kind */
		rec.kind = 9;
		break;
	case 6: /* unknown flags */
		rec.flags = 0x80;
		break;
	case 7: /* an IPv6 peer on an AF_INET socket */
		rec.addr[10] = 0;
		break;
	case 8: /* port 0 */
		rec.port = 0;
		break;
	case 9: /* a response with an even id */
		rec.kind = HOMA_DIRECT_RESPONSE;
		break;
	case 10: /* an ack naming an odd (server) id */
		rec.ack_id = first + 1;
		break;
	case 11: /* an ack on a response */
		rec.kind = HOMA_DIRECT_RESPONSE;
		rec.id = 7;
		rec.ack_id = 2;
		break;
	default: /* a head far beyond the tail */
		break;
	}
	ck_assert_int_eq(direct_record(&hs, &rec), 0);
	if (_i == 12)
		t.ring->head = HOMA_DIRECT_RING_ENTRIES + 5;
	sent = t.sent;
	session_host_direct_drain(&t.h, t.now);
	ck_assert_int_eq(t.s.state, SESS_DOOMED);
	ck_assert_uint_eq(t.h.stats.chan_direct_bad, 1);
	ck_assert_uint_eq(t.h.stats.chan_bad_messages, 1);
	ck_assert_uint_eq(t.s.n_tx, 0);
	ck_assert_uint_eq(t.sent, sent);
	ck_assert(!engine_client_rpc_known(t.e, rec.id));
	ck_assert_uint_eq(engine_metrics(t.e)->direct_messages, 0);
	st_teardown_direct(&t);
}
END_TEST

/* The same id twice: the second is refused (used twice). */
START_TEST(direct__id_used_twice)
{
	struct hc_sock hs;
	struct direct_pkt d;
	struct st t;

	st_start_direct(&t, &hs);
	ck_assert_int_eq(st_lib_request(&t, &hs, st_first_id(&t), 0, 64, &d),
			 0);
	ck_assert_int_eq(st_lib_request(&t, &hs, st_first_id(&t), 0, 64, &d),
			 0);
	ck_assert_uint_eq(session_direct_drain(&t.s, t.now), 2);
	ck_assert_int_eq(t.s.state, SESS_DOOMED);
	ck_assert_uint_eq(t.h.stats.chan_direct_bad, 1);
	ck_assert_uint_eq(t.s.n_tx, 1);
	st_teardown_direct(&t);
}
END_TEST

/* The peer table: entries found, updated, forgotten; a full probe run. */
START_TEST(direct__peer_table)
{
	struct homa_direct_table *tab = aligned_alloc(64, sizeof(*tab));
	struct direct_peer_info pi;
	struct homa_peer_pub p;
	uint8_t same[HOMA_DIRECT_PROBES + 1][16];
	unsigned n = 0;

	ck_assert_ptr_nonnull(tab);
	memset(tab, 0, sizeof(*tab));
	memset(&p, 0, sizeof(p));
	p.addr.in6.s6_addr[10] = p.addr.in6.s6_addr[11] = 0xff;
	p.addr.in6.s6_addr[12] = 10;
	p.cutoffs[7] = 300;
	p.cutoff_version = 4;
	p.homad = true;
	ck_assert_int_eq(direct_peer(tab, p.addr.in6.s6_addr, &pi), -ENOENT);
	ck_assert_uint_eq(direct_prio(&pi, 100, 8), 6);
	ck_assert_uint_eq(direct_prio(&pi, 100, 4), 3);
	session_direct_publish(tab, &p);
	ck_assert_int_eq(direct_peer(tab, p.addr.in6.s6_addr, &pi), 0);
	ck_assert_uint_eq(pi.cutoff_version, 4);
	ck_assert(pi.homad);
	ck_assert_uint_eq(direct_prio(&pi, 300, 8), 7);
	ck_assert_uint_eq(direct_prio(&pi, 301, 8), 0);
	ck_assert_uint_eq(tab->peers[homa_direct_hash(p.addr.in6.s6_addr)].seq,
			  2);
	p.cutoff_version = 5;
	session_direct_publish(tab, &p);
	ck_assert_int_eq(direct_peer(tab, p.addr.in6.s6_addr, &pi), 0);
	ck_assert_uint_eq(pi.cutoff_version, 5);
	p.gone = true;
	session_direct_publish(tab, &p);
	ck_assert_int_eq(direct_peer(tab, p.addr.in6.s6_addr, &pi), -ENOENT);
	/* HOMA_DIRECT_PROBES + 1 peers of one slot: the last takes the first
	 * one's entry, every other is still found. */
	p.gone = false;
	for (uint32_t v = 1; n <= HOMA_DIRECT_PROBES; v++) {
		uint8_t a[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

		a[12] = 10;
		a[13] = (uint8_t)(v >> 16);
		a[14] = (uint8_t)(v >> 8);
		a[15] = (uint8_t)v;
		if (homa_direct_hash(a) == 77)
			memcpy(same[n++], a, 16);
	}
	for (unsigned i = 0; i <= HOMA_DIRECT_PROBES; i++) {
		memcpy(p.addr.in6.s6_addr, same[i], 16);
		p.cutoff_version = (uint16_t)(100 + i);
		session_direct_publish(tab, &p);
	}
	ck_assert_int_eq(direct_peer(tab, same[0], &pi), -ENOENT);
	for (unsigned i = 1; i <= HOMA_DIRECT_PROBES; i++) {
		ck_assert_int_eq(direct_peer(tab, same[i], &pi), 0);
		ck_assert_uint_eq(pi.cutoff_version, 100 + i);
	}
	free(tab);
}
END_TEST

/* ---- direct receive ------------------------------------------------------
 */

static int st_drx_open(void *arg, struct session *s, uint16_t port,
		       uint32_t key, int *fd, char *why, size_t whylen)
{
	struct st *t = arg;

	(void)s;
	if (t->drx_fail) {
		snprintf(why, whylen, "test refusal");
		return EIO;
	}
	*fd = st_memfd(64, 0);
	t->drx_port = port;
	t->drx_key = key;
	t->drx_opens++;
	return 0;
}

static void st_drx_changed(void *arg)
{
	struct st *t = arg;

	t->drx_changes++;
	/* The filters give a port back only after its socket was revoked. */
	if (t->srx_opens > 0 && t->srx_revokes > 0 && t->s.srx == false)
		t->srx_revoked_first = t->srx_revokes == t->srx_opens;
}

static int st_srx_open(void *arg, struct session *s, uint16_t port, int *fd,
		       int *keep, char *why, size_t whylen)
{
	struct st *t = arg;

	(void)s;
	(void)why;
	(void)whylen;
	*fd = st_memfd(64, 0);
	*keep = dup(*fd);
	t->srx_opens++;
	t->srx_port = port;
	return 0;
}

static void st_srx_revoke(void *arg, struct session *s, int keep)
{
	struct st *t = arg;

	ck_assert(!s->srx);
	ck_assert_int_ge(keep, 0);
	close(keep);
	t->srx_revokes++;
}

/* st_setup_direct, with direct receive offered and asked for. */
static void st_setup_drx(struct st *t)
{
	st_setup_direct(t, 1000, 64);
	t->ops.direct_rx_open = st_drx_open;
	t->ops.direct_rx_changed = st_drx_changed;
	t->ask_drx = true;
}

/* A session with direct receive, its library view, one adopted request
 * (returned) of 500 bytes to 10.0.0.2:4000. */
static uint64_t st_start_drx(struct st *t, struct hc_sock *hs)
{
	struct direct_pkt d;
	const char *why;
	uint64_t id;

	st_setup_drx(t);
	ck_assert(st_open_direct(t, AF_INET, &why));
	ck_assert(t->s.drx);
	st_lib(t, hs);
	id = st_first_id(t);
	ck_assert_int_eq(st_lib_request(t, hs, id, 0, 500, &d), 0);
	ck_assert_uint_eq(session_host_direct_drain(&t->h, t->now), 1);
	ck_assert(engine_client_rpc_known(t->e, id));
	return id;
}

/* The record the library writes for a response of 300 bytes to id. */
static void st_drx_rec(struct homa_direct_rec *rec, uint64_t id)
{
	memset(rec, 0, sizeof(*rec));
	rec->kind = HOMA_DIRECT_RECEIVED;
	rec->id = id;
	rec->port = 4000;
	rec->length = 300;
	rec->cookie = 1;				/* cutoff version */
	rec->tx_offset = 0x48 | 0x44 << 8 | 0x01 << 16; /* marker, flags */
	rec->addr[10] = rec->addr[11] = 0xff;
	memcpy(rec->addr + 12, st_v4, 4);
}

/* Granted: a socket for the port, keyed ids, the port in the shell's list;
 * a bind ends it; each refusal leaves direct send working. */
START_TEST(drx__granted_keyed_ids)
{
	Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__MoreIds mi = HOMA__CLIENT__MORE_IDS__INIT;
	Homa__Client__Reply *r;
	uint16_t ports[4];
	const char *why;
	uint64_t first;
	struct st t;

	st_setup_drx(&t);
	ck_assert(st_open_direct(&t, AF_INET, &why));
	ck_assert(t.s.drx);
	ck_assert_uint_eq(t.drx_opens, 1);
	ck_assert_uint_eq(t.drx_changes, 1);
	ck_assert_uint_eq(t.drx_port, engine_sock_port(t.s.sock));
	ck_assert_uint_ne(t.drx_key, 0);
	ck_assert_uint_eq(t.drx_key, t.s.drx_key);
	ck_assert_uint_eq(t.h.stats.chan_direct_rx_granted, 1);
	/* Keyed: bit 63 set, then the key; the next block follows. */
	first = st_first_id(&t);
	ck_assert_uint_eq(first >> 32, (HOMA_DIRECT_KEY_BIT >> 32) | t.drx_key);
	cm.seq = 5;
	cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_MORE_IDS;
	cm.more_ids = &mi;
	st_recv(&t, &cm);
	r = st_reply(&t, 5);
	ck_assert_ptr_nonnull(r->ids);
	ck_assert_uint_eq(r->ids->first, first + 2ull * SESSION_ID_BLOCK);
	st_free_events(&t);
	ck_assert_uint_eq(session_host_direct_rx_ports(&t.h, false, ports, 4),
			  1);
	ck_assert_uint_eq(ports[0], t.drx_port);
	/* A bind: the filter names the old port, so it ends. */
	st_bind(&t, 6, 100);
	ck_assert_int_eq(st_reply(&t, 6)->error, 0);
	ck_assert(!t.s.drx);
	ck_assert_uint_eq(t.drx_changes, 2);
	ck_assert_uint_eq(t.h.n_direct_rx, 0);
	ck_assert_uint_eq(session_host_direct_rx_ports(&t.h, false, ports, 4),
			  0);
	st_teardown_direct(&t);
	ck_assert_uint_eq(t.drx_changes, 2);

	/* Refused: switched off, not offered, the shell fails, the limit;
	 * not asked.  Direct send is granted each time. */
	for (int k = 0; k < 5; k++) {
		st_setup_drx(&t);
		if (k == 0)
			t.h.cfg.direct_receive = false;
		else if (k == 1)
			t.ops.direct_rx_open = NULL;
		else if (k == 2)
			t.drx_fail = true;
		else if (k == 3)
			t.h.n_direct_rx = SESSION_MAX_DIRECT_RX;
		else
			t.ask_drx = false;
		ck_assert(st_open_direct(&t, AF_INET, &why));
		ck_assert(!t.s.drx);
		ck_assert_uint_eq(t.h.stats.chan_direct_rx_granted, 0);
		ck_assert_uint_eq(t.h.stats.chan_direct_rx_refused,
				  k == 4 ? 0 : 1);
		ck_assert_int_eq(t.s.drx_why != NULL, k != 4);
		/* Keyed only when the shell failed (decided before). */
		ck_assert_int_eq((st_first_id(&t) & HOMA_DIRECT_KEY_BIT) != 0,
				 k == 2);
		ck_assert_uint_eq(t.drx_changes, 0);
		if (k == 3)
			t.h.n_direct_rx = 0;
		st_teardown_direct(&t);
	}
}
END_TEST

/* The library received the response itself: its record ends the RPC as
 * homad's delivery would (ack queued, peer heard, marker seen), reports
 * no release of the request's bytes (the client freed them), and a late
 * second record is only counted. */
START_TEST(drx__received_ends_rpc_quietly)
{
	struct homa_direct_rec rec;
	struct hc_sock hs;
	struct st t;
	uint64_t id = st_start_drx(&t, &hs);

	st_drx_rec(&rec, id);
	ck_assert_int_eq(direct_record(&hs, &rec), 0);
	ck_assert_uint_eq(session_host_direct_drain(&t.h, t.now), 1);
	ck_assert_int_eq(t.s.state, SESS_OPEN);
	ck_assert_uint_eq(t.h.stats.chan_direct_rx_records, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->direct_responses, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->direct_response_bytes, 300);
	ck_assert_uint_eq(engine_metrics(t.e)->client_responses_done, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->homad_peers_seen, 1);
	ck_assert_uint_eq(st_acks_pending(&t), 1);
	/* Reaped at the next entry point: released, but not reported. */
	t.now += 1000000;
	engine_tick(t.e, t.now);
	ck_assert(!engine_client_rpc_known(t.e, id));
	ck_assert_uint_eq(t.s.n_tx, 0);
	ck_assert_uint_eq(t.cl->n_requests, 0);
	st_drain(&t);
	ck_assert_uint_eq(t.nev, 0);
	/* A late copy's record: counted, nothing else. */
	ck_assert_int_eq(direct_record(&hs, &rec), 0);
	ck_assert_uint_eq(session_host_direct_drain(&t.h, t.now), 1);
	ck_assert_uint_eq(t.h.stats.chan_direct_rx_stale, 1);
	ck_assert_int_eq(t.s.state, SESS_OPEN);
	st_drain(&t);
	ck_assert_uint_eq(t.nev, 0);
	st_teardown_direct(&t);
}
END_TEST

/* Bad RECEIVED records end the connection, and end no RPC. */
START_TEST(drx__received_forged)
{
	struct homa_direct_rec rec;
	struct hc_sock hs;
	struct st t;
	uint64_t id = st_start_drx(&t, &hs);

	st_drx_rec(&rec, id);
	switch (_i) {
	case 0:
		rec.flags = HOMA_DIRECT_F_PRIVATE;
		break;
	case 1:
		rec.ack_id = id + 2;
		break;
	case 2: /* a server id */
		rec.id = id + 1;
		break;
	case 3:
		rec.id = 0;
		break;
	case 4: /* an IPv6 server: the receive socket is IPv4 */
		memcpy(rec.addr, st_v6, 16);
		break;
	case 5:
		rec.length = 0;
		break;
	case 6: /* longer than a packet */
		rec.length = 1500 - 20 - HOMA_DATA_LEN + 1;
		break;
	case 7: /* a cutoff version beyond 16 bits */
		rec.cookie = 0x10000;
		break;
	case 8: /* pad beyond 3 bytes */
		rec.tx_offset = 1u << 24;
		break;
	case 9:
		rec.port = 0;
		break;
	default: /* from a session that has no direct receive */
		t.s.drx_key = 0;
		break;
	}
	ck_assert_int_eq(direct_record(&hs, &rec), 0);
	session_host_direct_drain(&t.h, t.now);
	ck_assert_int_eq(t.s.state, SESS_DOOMED);
	ck_assert_uint_eq(t.h.stats.chan_direct_bad, 1);
	ck_assert_uint_eq(t.h.stats.chan_direct_rx_records, 0);
	ck_assert_uint_eq(engine_metrics(t.e)->direct_responses, 0);
	st_teardown_direct(&t);
}
END_TEST

/* ---- direct receive of requests ------------------------------------------ */

/* A Bind asking (or not) for a request socket; its Reply, which must
 * carry a descriptor exactly when it grants one. */
static Homa__Client__Reply *st_bind_srx(struct st *t, uint64_t seq,
					uint32_t port, bool ask)
{
	Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Bind b = HOMA__CLIENT__BIND__INIT;
	Homa__Client__DaemonMsg *m;
	struct session_ev *ev;
	unsigned nfds;

	b.port = port;
	b.direct_requests = ask;
	cm.seq = seq;
	cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_BIND;
	cm.bind = &b;
	st_recv(t, &cm);
	session_queue_pending(&t->s);
	ev = session_ev_next(&t->s);
	ck_assert_ptr_nonnull(ev);
	nfds = ev->n_fds;
	m = homa__client__daemon_msg__unpack(NULL, ev->len, ev->buf);
	ck_assert_ptr_nonnull(m);
	session_ev_done(&t->s, ev, (int)ev->len, t->now);
	ck_assert_int_eq(m->ev_case, HOMA__CLIENT__DAEMON_MSG__EV_REPLY);
	ck_assert_uint_eq(m->reply->seq, seq);
	ck_assert_uint_eq(nfds, m->reply->direct_requests ? 1 : 0);
	ck_assert_uint_lt(t->nev, ST_MAX);
	t->ev[t->nev++] = m;
	return m->reply;
}

/* st_setup_drx with request sockets offered. */
static void st_setup_srx(struct st *t)
{
	st_setup_drx(t);
	t->ops.direct_srx_open = st_srx_open;
	t->ops.direct_srx_revoke = st_srx_revoke;
}

/* Granted with a Bind that asks, to the bound port only; given back by a
 * Bind that does not ask, a Bind elsewhere, Shutdown and the session's
 * end, each revoked before homad's filters take the port again. */
START_TEST(srx__granted_at_bind_revoked_on_release)
{
	Homa__Client__Reply *r;
	uint16_t ports[4];
	const char *why;
	struct st t;

	st_setup_srx(&t);
	ck_assert(st_open_direct(&t, AF_INET, &why));
	/* Not bound: refused (the default port serves no requests). */
	r = st_bind_srx(&t, 1, 0, true);
	ck_assert_int_eq(r->error, 0);
	ck_assert(!r->direct_requests);
	ck_assert_str_eq(r->direct_requests_refusal, "the socket is not bound");
	r = st_bind_srx(&t, 2, 100, true);
	ck_assert_int_eq(r->error, 0);
	ck_assert(r->direct_requests);
	ck_assert(t.s.srx);
	ck_assert_uint_eq(t.srx_opens, 1);
	ck_assert_uint_eq(t.srx_port, 100);
	ck_assert_uint_eq(t.h.stats.chan_direct_srx_granted, 1);
	ck_assert_uint_eq(t.h.stats.chan_direct_srx_refused, 1);
	ck_assert_uint_eq(session_host_direct_rx_ports(&t.h, true, ports, 4),
			  1);
	ck_assert_uint_eq(ports[0], 100);
	/* The response socket's port is gone with the bind. */
	ck_assert_uint_eq(session_host_direct_rx_ports(&t.h, false, ports, 4),
			  0);
	/* Asked again for the same port: it has one. */
	r = st_bind_srx(&t, 3, 100, true);
	ck_assert(!r->direct_requests);
	ck_assert_uint_eq(t.srx_opens, 1);
	ck_assert(t.s.srx);
	/* A Bind that does not ask gives it back. */
	r = st_bind_srx(&t, 4, 100, false);
	ck_assert_int_eq(r->error, 0);
	ck_assert(!t.s.srx);
	ck_assert_uint_eq(t.srx_revokes, 1);
	ck_assert(t.srx_revoked_first);
	ck_assert_uint_eq(session_host_direct_rx_ports(&t.h, true, ports, 4),
			  0);
	/* A bind elsewhere. */
	st_bind_srx(&t, 5, 100, true);
	ck_assert_uint_eq(t.srx_opens, 2);
	st_bind_srx(&t, 6, 101, true);
	ck_assert_uint_eq(t.srx_revokes, 2);
	ck_assert_uint_eq(t.srx_opens, 3);
	ck_assert_uint_eq(t.srx_port, 101);
	/* Shutdown. */
	{
		Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
		Homa__Client__Shutdown sd = HOMA__CLIENT__SHUTDOWN__INIT;

		cm.seq = 7;
		cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SHUTDOWN;
		cm.shutdown = &sd;
		st_recv(&t, &cm);
	}
	ck_assert(!t.s.srx);
	ck_assert_uint_eq(t.srx_revokes, 3);
	ck_assert_uint_eq(t.h.n_direct_srx, 0);
	st_teardown_direct(&t);
	ck_assert_uint_eq(t.srx_revokes, 3);

	/* The session's end revokes it. */
	st_setup_srx(&t);
	ck_assert(st_open_direct(&t, AF_INET, &why));
	ck_assert(st_bind_srx(&t, 1, 200, true)->direct_requests);
	st_teardown_direct(&t);
	ck_assert_uint_eq(t.srx_revokes, 1);
	ck_assert(t.srx_revoked_first);
	ck_assert_uint_eq(t.h.n_direct_srx, 0);

	/* Refused: not offered; no direct receive at Open; the limit. */
	for (int k = 0; k < 3; k++) {
		st_setup_srx(&t);
		if (k == 0)
			t.ops.direct_srx_open = NULL;
		else if (k == 1)
			t.ask_drx = false;
		ck_assert(st_open_direct(&t, AF_INET, &why));
		if (k == 2)
			t.h.n_direct_srx = SESSION_MAX_DIRECT_SRX;
		r = st_bind_srx(&t, 1, 100, true);
		ck_assert_int_eq(r->error, 0);
		ck_assert(!r->direct_requests);
		ck_assert_str_ne(r->direct_requests_refusal, "");
		ck_assert(!t.s.srx);
		ck_assert_uint_eq(t.srx_opens, 0);
		ck_assert_uint_eq(t.h.stats.chan_direct_srx_refused, 1);
		if (k == 2)
			t.h.n_direct_srx = 0;
		st_teardown_direct(&t);
	}
}
END_TEST

/* A session bound to port 100 with a request socket, its library view. */
static void st_start_srx(struct st *t, struct hc_sock *hs)
{
	const char *why;

	st_setup_srx(t);
	ck_assert(st_open_direct(t, AF_INET, &why));
	ck_assert(st_bind_srx(t, 1, 100, true)->direct_requests);
	st_free_events(t);
	st_lib(t, hs);
}

/* The ARRIVED record of request id (odd) of 300 bytes from 10.0.0.2:4000,
 * acking ack_id (0: none) of port 100. */
static void st_srx_rec(struct homa_direct_rec *rec, uint64_t id,
		       uint64_t ack_id)
{
	memset(rec, 0, sizeof(*rec));
	rec->kind = HOMA_DIRECT_ARRIVED;
	rec->id = id;
	rec->port = 4000;
	rec->length = 300;
	rec->cookie = 1 | (ack_id ? 100u << 16 : 0); /* cutoffs, ack port */
	rec->tx_offset = 0x48 | 0x44 << 8;	     /* the marker */
	rec->ack_id = ack_id;
	rec->addr[10] = rec->addr[11] = 0xff;
	memcpy(rec->addr + 12, st_v4, 4);
}

/* The record makes the server RPC as homad's delivery would: a response
 * command right after it (the ring drained first) is sent; a copy is
 * counted; the next request's ack ends the answered RPC. */
START_TEST(srx__arrived_makes_the_server_rpc)
{
	struct homa_direct_rec rec;
	struct homa_pkt out;
	struct hc_sock hs;
	struct st t;
	unsigned sent;

	st_start_srx(&t, &hs);
	st_srx_rec(&rec, 0x501, 0);
	ck_assert_int_eq(direct_record(&hs, &rec), 0);
	/* Not drained yet: the command drains it first. */
	sent = t.sent;
	st_response(&t, 0x501, st_v4, 4);
	ck_assert_int_eq(t.s.state, SESS_OPEN);
	ck_assert_uint_eq(t.h.stats.chan_direct_srx_records, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->direct_requests, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->direct_request_bytes, 300);
	ck_assert_uint_eq(engine_metrics(t.e)->server_requests_done, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->homad_peers_seen, 1);
	ck_assert_uint_eq(t.sent, sent + 1);
	ck_assert_int_eq(wire_decode(t.last, t.last_len, &out), 0);
	ck_assert_int_eq(out.type, HOMA_DATA);
	ck_assert_uint_eq(out.sender_id, 0x501);
	ck_assert_uint_eq(out.dport, 4000);
	ck_assert_uint_eq(out.sport, 100);
	st_free_events(&t);
	/* A copy: counted, the session goes on. */
	ck_assert_int_eq(direct_record(&hs, &rec), 0);
	ck_assert_uint_eq(session_host_direct_drain(&t.h, t.now), 1);
	ck_assert_uint_eq(t.h.stats.chan_direct_srx_stale, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->direct_requests_stale, 1);
	ck_assert_int_eq(t.s.state, SESS_OPEN);
	/* The next request acks it: a response to it now is refused. */
	st_srx_rec(&rec, 0x503, 0x500);
	ck_assert_int_eq(direct_record(&hs, &rec), 0);
	ck_assert_uint_eq(session_host_direct_drain(&t.h, t.now), 1);
	ck_assert_uint_eq(engine_metrics(t.e)->direct_requests, 2);
	st_response(&t, 0x501, st_v4, 4);
	st_drain(&t);
	ck_assert_uint_ge(t.nev, 1);
	ck_assert_int_eq(t.ev[t.nev - 1]->ev_case,
			 HOMA__CLIENT__DAEMON_MSG__EV_TX_RELEASED);
	/* ... and the new one is answered. */
	sent = t.sent;
	st_response(&t, 0x503, st_v4, 4);
	ck_assert_uint_eq(t.sent, sent + 1);
	/* Once the socket serves no more: counted (stale), not bad. */
	st_bind_srx(&t, 9, 101, false);
	st_srx_rec(&rec, 0x505, 0);
	ck_assert_int_eq(direct_record(&hs, &rec), 0);
	ck_assert_uint_eq(session_host_direct_drain(&t.h, t.now), 1);
	ck_assert_int_eq(t.s.state, SESS_OPEN);
	ck_assert_uint_eq(t.h.stats.chan_direct_srx_records, 2);
	ck_assert_uint_eq(t.h.stats.chan_direct_srx_stale, 2);
	ck_assert_uint_eq(engine_metrics(t.e)->direct_requests, 2);
	st_teardown_direct(&t);
}
END_TEST

/* Bad ARRIVED records end the connection and make no RPC. */
START_TEST(srx__arrived_forged)
{
	struct homa_direct_rec rec;
	struct hc_sock hs;
	struct st t;

	st_start_srx(&t, &hs);
	st_srx_rec(&rec, 0x501, 0);
	switch (_i) {
	case 0:
		rec.flags = HOMA_DIRECT_F_PRIVATE;
		break;
	case 1: /* an ack of a server id */
		rec.ack_id = 0x701;
		break;
	case 2: /* a client id */
		rec.id = 0x500;
		break;
	case 3:
		rec.port = 0;
		break;
	case 4:
		memcpy(rec.addr, st_v6, 16);
		break;
	case 5:
		rec.cookie = 1ull << 32;
		break;
	case 6:
		rec.tx_offset = 1u << 24;
		break;
	case 7:
		rec.length = 0;
		break;
	case 8:
		rec.length = 1500 - 20 - HOMA_DATA_LEN + 1;
		break;
	default: /* a session that never had a request socket */
		t.s.srx_ever = false;
		break;
	}
	ck_assert_int_eq(direct_record(&hs, &rec), 0);
	session_host_direct_drain(&t.h, t.now);
	ck_assert_int_eq(t.s.state, SESS_DOOMED);
	ck_assert_uint_eq(t.h.stats.chan_direct_bad, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->direct_requests, 0);
	st_teardown_direct(&t);
}
END_TEST

/* A DirectPacket command with the response packet encoded. */
static void st_direct_packet(struct st *t, const uint8_t *src, size_t src_len,
			     uint16_t dport, uint64_t sender_id,
			     enum homa_type type)
{
	Homa__Client__ClientMsg cm = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__DirectPacket dp = HOMA__CLIENT__DIRECT_PACKET__INIT;
	static uint8_t payload[200], buf[1024];
	struct homa_pkt p;
	size_t n;

	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	memset(&p, 0, sizeof(p));
	p.type = type;
	p.sport = 4000;
	p.dport = dport;
	p.sender_id = sender_id;
	if (type == HOMA_DATA) {
		p.u.data.message_length = sizeof(payload);
		p.u.data.incoming = sizeof(payload);
		p.u.data.payload_len = sizeof(payload);
		p.u.data.payload = payload;
	} else {
		p.u.grant.offset = 1000;
	}
	n = wire_encode(&p, buf, sizeof(buf));
	ck_assert_uint_gt(n, 0);
	dp.src.data = (uint8_t *)src;
	dp.src.len = src_len;
	dp.packet.data = buf;
	dp.packet.len = n;
	cm.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_DIRECT_PACKET;
	cm.direct_packet = &dp;
	st_recv(t, &cm);
}

/* A request the library could not place: handled as read by homad (the
 * request Delivered through the pool); one read before its socket was
 * revoked is dropped; one its filter would not pass ends the connection. */
START_TEST(srx__direct_packet)
{
	struct hc_sock hs;
	struct st t;

	st_start_srx(&t, &hs);
	switch (_i) {
	case 0:
		st_direct_packet(&t, st_v4, 4, 100, 0x600, HOMA_DATA);
		ck_assert_int_eq(t.s.state, SESS_OPEN);
		st_drain(&t);
		ck_assert_uint_eq(t.nev, 1);
		ck_assert_int_eq(t.ev[0]->ev_case,
				 HOMA__CLIENT__DAEMON_MSG__EV_DELIVERED);
		ck_assert_uint_eq(t.ev[0]->delivered->id, 0x601);
		ck_assert_uint_eq(t.ev[0]->delivered->length, 200);
		ck_assert_uint_eq(t.h.stats.chan_direct_rx_fallback, 1);
		break;
	case 1: /* revoked; or read by an earlier one, of another port */
	case 2:
		if (_i == 1) {
			st_bind_srx(&t, 2, 100, false);
			st_free_events(&t);
		}
		st_direct_packet(&t, st_v4, 4, _i == 1 ? 100 : 101, 0x600,
				 HOMA_DATA);
		ck_assert_int_eq(t.s.state, SESS_OPEN);
		ck_assert_uint_eq(t.h.stats.chan_direct_srx_late, 1);
		st_drain(&t);
		ck_assert_uint_eq(t.nev, 0);
		break;
	default:
		if (_i == 3) /* never had a request socket */
			t.s.srx_ever = false,
			st_direct_packet(&t, st_v4, 4, 100, 0x600, HOMA_DATA);
		else /* not DATA */
			st_direct_packet(&t, st_v4, 4, 100, 0x600, HOMA_GRANT);
		ck_assert_int_eq(t.s.state, SESS_DOOMED);
		ck_assert_uint_eq(engine_metrics(t.e)->server_requests_done, 0);
		break;
	}
	st_teardown_direct(&t);
}
END_TEST

/* The fallback: homad handles the packet as if it had read it (the
 * response Delivered through the pool); anything the receive socket's
 * filter would not have passed ends the connection. */
START_TEST(drx__direct_packet)
{
	struct hc_sock hs;
	struct st t;
	uint64_t id = st_start_drx(&t, &hs);
	uint16_t port = engine_sock_port(t.s.sock);

	switch (_i) {
	case 0: /* good */
		st_direct_packet(&t, st_v4, 4, port, id | 1, HOMA_DATA);
		ck_assert_int_eq(t.s.state, SESS_OPEN);
		st_drain(&t);
		ck_assert_uint_eq(t.nev, 1);
		ck_assert_int_eq(t.ev[0]->ev_case,
				 HOMA__CLIENT__DAEMON_MSG__EV_DELIVERED);
		ck_assert_uint_eq(t.ev[0]->delivered->id, id);
		ck_assert_uint_eq(t.ev[0]->delivered->length, 200);
		ck_assert_uint_eq(t.ev[0]->delivered->cookie, 77);
		ck_assert_uint_eq(t.h.stats.chan_direct_rx_fallback, 1);
		ck_assert_uint_eq(engine_metrics(t.e)->direct_fallback_packets,
				  1);
		break;
	case 1: /* an RPC gone: ignored */
		st_direct_packet(&t, st_v4, 4, port, (id + 2) | 1, HOMA_DATA);
		ck_assert_int_eq(t.s.state, SESS_OPEN);
		st_drain(&t);
		ck_assert_uint_eq(t.nev, 0);
		ck_assert_uint_eq(engine_metrics(t.e)->direct_fallback_packets,
				  0);
		break;
	default:
		if (_i == 2) /* another port */
			st_direct_packet(&t, st_v4, 4, port + 1, id | 1,
					 HOMA_DATA);
		else if (_i == 3) /* a request */
			st_direct_packet(&t, st_v4, 4, port, id, HOMA_DATA);
		else if (_i == 4) /* not keyed with its key */
			st_direct_packet(&t, st_v4, 4, port,
					 (id ^ (1ull << 40)) | 1, HOMA_DATA);
		else if (_i == 5) /* not DATA */
			st_direct_packet(&t, st_v4, 4, port, id | 1,
					 HOMA_GRANT);
		else if (_i == 6) /* an IPv6 source */
			st_direct_packet(&t, st_v6, 16, port, id | 1,
					 HOMA_DATA);
		else /* a session without direct receive */
			t.s.drx_key = 0,
			st_direct_packet(&t, st_v4, 4, port, id | 1, HOMA_DATA);
		ck_assert_int_eq(t.s.state, SESS_DOOMED);
		ck_assert_uint_eq(t.h.stats.chan_bad_messages, 1);
		ck_assert_uint_eq(engine_metrics(t.e)->direct_fallback_packets,
				  0);
		break;
	}
	st_teardown_direct(&t);
}
END_TEST

static Suite *session_suite(void)
{
	Suite *s = suite_create("session");
	TCase *tc = tcase_create("session");

	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, open__ok_v4_and_v6, 0, 2);
	tcase_add_test(tc, open__reply_fields);
	tcase_add_test(tc, open__bad_version);
	tcase_add_test(tc, open__bad_family);
	tcase_add_test(tc, open__one_descriptor);
	tcase_add_loop_test(tc, open__bad_rx_size, 0, 3);
	tcase_add_test(tc, open__tx_area_too_large);
	tcase_add_loop_test(tc, open__bad_regions, 0, 4);
	tcase_add_loop_test(tc, open__over_max_memory, 0, 2);
	tcase_add_loop_test(tc, open__bad_first_datagram, 0, 5);
	tcase_add_test(tc, open__map_fails);
	tcase_add_test(tc, request__ok);
	tcase_add_loop_test(tc, request__bad_address, 0, 5);
	tcase_add_loop_test(tc, request__bad_id, 0, 5);
	tcase_add_loop_test(tc, request__bad_bytes, 0, 6);
	tcase_add_test(tc, request__over_client_limit);
	tcase_add_test(tc, response__unknown_rpc_released);
	tcase_add_loop_test(tc, response__bad, 0, 2);
	tcase_add_loop_test(tc, recycle__not_held, 0, 2);
	tcase_add_loop_test(tc, datagram__bad_after_open, 0, 7);
	tcase_add_test(tc, bind__ports_and_permissions);
	tcase_add_test(tc, reply__abort_info_more_ids_shutdown);
	tcase_add_test(tc, events__overflow);
	tcase_add_test(tc, events__send_space);
	tcase_add_test(tc, events__delivered_recycle_respond);
	tcase_add_test(tc, events__failed_private);
	tcase_add_loop_test(tc, bind__groups, 0, 2);
	tcase_add_test(tc, admit__limits);
	tcase_add_test(tc, admit__refusal_packed);
	tcase_add_loop_test(tc, lifecycle__legal_changes, 0, 6);
	tcase_add_test(tc, lifecycle__illegal_changes);
	tcase_add_test(tc, direct__granted_denied_limited);
	tcase_add_test(tc, direct__packet_as_the_engine_sends_it);
	tcase_add_test(tc, direct__request_adopted);
	tcase_add_test(tc, direct__ipv6_peers);
	tcase_add_test(tc, direct__xmit_udp_ipv4_ipv6);
	tcase_add_test(tc, direct__request_carries_ack);
	tcase_add_test(tc, direct__response_adopted);
	tcase_add_test(tc, direct__ring_wrap_and_full);
	tcase_add_test(tc, direct__dead_writer_and_torn_record);
	tcase_add_loop_test(tc, direct__forged_records, 0, 13);
	tcase_add_test(tc, direct__id_used_twice);
	tcase_add_test(tc, direct__peer_table);
	tcase_add_test(tc, drx__granted_keyed_ids);
	tcase_add_test(tc, drx__received_ends_rpc_quietly);
	tcase_add_loop_test(tc, drx__received_forged, 0, 11);
	tcase_add_loop_test(tc, drx__direct_packet, 0, 8);
	tcase_add_test(tc, srx__granted_at_bind_revoked_on_release);
	tcase_add_test(tc, srx__arrived_makes_the_server_rpc);
	tcase_add_loop_test(tc, srx__arrived_forged, 0, 10);
	tcase_add_loop_test(tc, srx__direct_packet, 0, 5);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(session_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
