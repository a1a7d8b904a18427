/*
 * enginetest.c - the unit tests' engine harness (enginetest.h).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "enginetest.h"

const struct homa_addr et_peer = {
	.in6 = {.s6_addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0,
			    2}}};
const struct homa_addr et_peer2 = {
	.in6 = {.s6_addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0,
			    3}}};
const struct homa_addr et_peer6 = {
	.in6 = {.s6_addr = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			    2}}};

static uint8_t et_message[HOMA_MAX_MESSAGE_LENGTH];

uint8_t et_byte(uint32_t i)
{
	return (uint8_t)(i * 7 + (i >> 8) * 13 + 1);
}

static void et_send(void *ctx, const struct homa_out *o)
{
	struct et *t = ctx;
	struct et_out *x;

	ck_assert_uint_lt(t->nout, ET_MAX_OUT);
	x = &t->out[t->nout++];
	x->dst = *o->dst;
	x->prio = o->prio;
	x->at = t->now;
	x->len = o->hdr_len + o->payload_len;
	ck_assert_uint_le(x->len, sizeof(x->bytes));
	memcpy(x->bytes, o->hdr, o->hdr_len);
	if (o->payload_len > 0)
		memcpy(x->bytes + o->hdr_len, o->payload, o->payload_len);
	ck_assert_int_eq(wire_decode(x->bytes, x->len, &x->pkt), 0);
	ck_assert_int_eq(x->pkt.type, o->type);
}

static void et_deliver(void *ctx, const struct homa_delivery *d)
{
	struct et *t = ctx;

	ck_assert_uint_lt(t->ndeliv, 256);
	t->deliv[t->ndeliv++] = *d;
}

static void et_release(void *ctx, void *app, void *cookie)
{
	struct et *t = ctx;

	(void)app;
	ck_assert_uint_lt(t->nreleased, 256);
	t->released[t->nreleased++] = cookie;
}

static void et_unreach(void *ctx, const struct homa_addr *src, const void *pkt,
		       size_t len)
{
	struct et *t = ctx;

	(void)src;
	(void)pkt;
	(void)len;
	t->unreach++;
}

static void et_space(void *ctx, struct homa_sock *s, void *app)
{
	struct et *t = ctx;

	(void)s;
	(void)app;
	t->send_space++;
}

static void et_probe(void *ctx, const struct homa_addr *peer, uint16_t seq)
{
	struct et *t = ctx;

	t->probes++;
	t->probe_dst = *peer;
	t->probe_seq = seq;
}

/* An engine bug (an illegal RPC state change): the test fails. */
static void et_bug(void *ctx, const char *what)
{
	(void)ctx;
	ck_abort_msg("engine bug: %s", what);
}

void et_init(struct et *t, const struct homa_params *p)
{
	static const struct homa_engine_ops ops = {
		.send = et_send,
		.deliver = et_deliver,
		.tx_release = et_release,
		.send_space = et_space,
		.port_unreachable = et_unreach,
		.bug = et_bug,
		.probe = et_probe,
	};

	memset(t, 0, sizeof(*t));
	if (p != NULL)
		t->p = *p;
	else
		engine_params_default(&t->p);
	for (uint32_t i = 0; i < HOMA_MAX_MESSAGE_LENGTH; i++)
		et_message[i] = et_byte(i);
	t->out = calloc(ET_MAX_OUT, sizeof(*t->out));
	t->pool_srv = calloc(1, ET_POOL_BYTES);
	t->pool_cli = calloc(1, ET_POOL_BYTES);
	ck_assert(t->out && t->pool_srv && t->pool_cli);
	t->e = engine_create(&t->p);
	ck_assert_ptr_nonnull(t->e);
	engine_set_ops(t->e, &ops, t);
	t->now = 1000 * ET_MS;
	ck_assert_int_eq(engine_sock_open(t->e, t, &t->srv), 0);
	ck_assert_int_eq(engine_sock_bind(t->e, t->srv, ET_SERVER_PORT), 0);
	ck_assert_int_eq(engine_sock_open(t->e, t, &t->cli), 0);
	ck_assert_int_eq(
		engine_sock_set_pool(t->e, t->srv, t->pool_srv, ET_POOL_BYTES),
		0);
	ck_assert_int_eq(
		engine_sock_set_pool(t->e, t->cli, t->pool_cli, ET_POOL_BYTES),
		0);
}

void et_free(struct et *t)
{
	engine_destroy(t->e);
	free(t->out);
	free(t->pool_srv);
	free(t->pool_cli);
}

void et_clear(struct et *t)
{
	t->nout = 0;
	t->ndeliv = 0;
}

size_t et_count(const struct et *t, enum homa_type type)
{
	size_t n = 0;

	for (size_t i = 0; i < t->nout; i++)
		n += t->out[i].pkt.type == type;
	return n;
}

const struct et_out *et_nth(const struct et *t, enum homa_type type, size_t i)
{
	for (size_t k = 0; k < t->nout; k++)
		if (t->out[k].pkt.type == type && i-- == 0)
			return &t->out[k];
	return NULL;
}

void et_rx(struct et *t, struct homa_pkt *pkt, const struct homa_addr *src)
{
	static uint8_t buf[HOMA_DATA_LEN + 65536];
	size_t n;

	if (pkt->type == HOMA_DATA && pkt->u.data.payload == NULL)
		pkt->u.data.payload = et_message + pkt->u.data.offset;
	n = wire_encode(pkt, buf, sizeof(buf));
	ck_assert_uint_gt(n, 0);
	engine_rx(t->e, buf, n, src, 0, t->now);
}

void et_data(struct et *t, uint16_t dport, uint64_t sender_id, uint32_t msg_len,
	     uint32_t incoming, uint32_t offset, uint32_t len)
{
	et_data_pad(t, dport, sender_id, msg_len, incoming, offset, len, 0, 0,
		    0);
}

void et_data_pad(struct et *t, uint16_t dport, uint64_t sender_id,
		 uint32_t msg_len, uint32_t incoming, uint32_t offset,
		 uint32_t len, uint8_t pad0, uint8_t pad1, uint8_t pad2)
{
	struct homa_pkt p;

	et_data_pkt(&p, dport, sender_id, msg_len, incoming, offset, len);
	p.u.data.pad[0] = pad0;
	p.u.data.pad[1] = pad1;
	p.u.data.pad[2] = pad2;
	et_rx(t, &p, &et_peer);
}

void et_data_from(struct et *t, const struct homa_addr *src, uint16_t dport,
		  uint64_t sender_id, uint32_t msg_len, uint32_t incoming,
		  uint32_t offset, uint32_t len)
{
	struct homa_pkt p;

	et_data_pkt(&p, dport, sender_id, msg_len, incoming, offset, len);
	et_rx(t, &p, src);
}

void et_data_pkt(struct homa_pkt *pkt, uint16_t dport, uint64_t sender_id,
		 uint32_t msg_len, uint32_t incoming, uint32_t offset,
		 uint32_t len)
{
	struct homa_pkt p;

	memset(&p, 0, sizeof(p));
	p.type = HOMA_DATA;
	p.sport = ET_PEER_PORT;
	p.dport = dport;
	p.sender_id = sender_id;
	p.u.data.message_length = msg_len;
	p.u.data.incoming = incoming;
	p.u.data.cutoff_version = 1;
	p.u.data.offset = offset;
	p.u.data.payload_len = len;
	*pkt = p;
}

void et_ctrl(struct et *t, enum homa_type type, uint16_t dport,
	     uint64_t sender_id)
{
	struct homa_pkt p;

	memset(&p, 0, sizeof(p));
	p.type = type;
	p.sport = ET_PEER_PORT;
	p.dport = dport;
	p.sender_id = sender_id;
	et_rx(t, &p, &et_peer);
}

uint64_t et_request(struct et *t, uint32_t len)
{
	struct homa_msgbuf mb = {et_message, len, et_message + len};
	uint64_t id = 0;

	ck_assert_int_eq(engine_send_request(t->e, t->cli, &et_peer,
					     ET_PEER_PORT, &mb, 77, t->now,
					     &id),
			 0);
	return id;
}

void et_ticks(struct et *t, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		t->now += ET_MS;
		engine_tick(t->e, t->now);
	}
}

void et_pace(struct et *t)
{
	for (int i = 0; i < 1000000 && t->e->pacer_wake != 0; i++) {
		if (t->now < t->e->pacer_wake)
			t->now = t->e->pacer_wake;
		pacer_xmit(t->e, t->now);
	}
}
