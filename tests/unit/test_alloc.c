/*
 * The engine's allocator (engine_create_alloc): a scenario that creates an
 * engine, opens sockets, gives them pools, sends requests to several peers
 * (RPCs, peers, the pacer's heap past its first size), receives requests
 * with holes (server RPCs, gap lists) and runs the clock.  It runs once
 * with every allocation granted, to count them, and then once for each N,
 * with the Nth refused: every entry point that returns an error returns
 * 0 or -ENOMEM (and -ENOMEM only when it was refused memory), the engine
 * keeps working, and engine_destroy gives back every block it holds (the
 * allocator counts them; under ASan, leak checking says the same).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/homa_int.h"

#define NREQ	  80	/* requests sent: past the pacer heap's 64 */
#define REQ_LEN	  20000 /* bytes each */
#define NIN	  6	/* requests received, each with two holes */
#define SRV_PORT  100
#define PEER_PORT 4000

struct fa {
	unsigned calls;	  /* allocations asked for (calloc, realloc) */
	unsigned fail_at; /* refuse this one (1-based); 0: none */
	unsigned failed;  /* allocations refused */
	long live;	  /* blocks given and not freed */
	bool no_grow;	  /* refuse every realloc (heap, gap list growth) */
};

static void *fa_calloc(void *ctx, size_t n, size_t size)
{
	struct fa *a = ctx;
	void *p;

	if (++a->calls == a->fail_at) {
		a->failed++;
		return NULL;
	}
	p = calloc(n, size);
	ck_assert_ptr_nonnull(p);
	a->live++;
	return p;
}

static void *fa_realloc(void *ctx, void *ptr, size_t n, size_t size)
{
	struct fa *a = ctx;
	void *p;

	if (++a->calls == a->fail_at || a->no_grow) {
		a->failed++;
		return NULL;
	}
	p = realloc(ptr, n * size);
	ck_assert_ptr_nonnull(p);
	if (ptr == NULL)
		a->live++;
	return p;
}

static void fa_free(void *ctx, void *ptr)
{
	struct fa *a = ctx;

	if (ptr == NULL)
		return;
	a->live--;
	ck_assert_int_ge(a->live, 0);
	free(ptr);
}

static uint64_t sent_for; /* DATA packets sent of RPC sent_id */
static uint64_t sent_id;

static void ops_send(void *ctx, const struct homa_out *pkt)
{
	if (pkt->type == HOMA_DATA && pkt->rpc_id == sent_id)
		sent_for++;
}

static void ops_deliver(void *ctx, const struct homa_delivery *d)
{
}

static const struct homa_engine_ops ops = {
	.send = ops_send,
	.deliver = ops_deliver,
};

static uint8_t msg[REQ_LEN];
static uint32_t last_heap_cap, last_npeers, last_nshares; /* no refusal */
static uint8_t pool[2][64u * HOMA_BPAGE_SIZE];

/*
 * An entry point's result while a's allocation may be refused: 0, or
 * -ENOMEM when one was refused during the call (failed_before: a->failed
 * before it).  Returns whether the call succeeded.
 */
static bool ok(const struct fa *a, unsigned failed_before, int rc)
{
	if (rc == 0)
		return true;
	ck_assert_msg(rc == -ENOMEM && a->failed > failed_before,
		      "fail_at %u: error %d with %u allocations refused",
		      a->fail_at, rc, a->failed - failed_before);
	return false;
}

static struct homa_addr peer_addr(unsigned i)
{
	struct homa_addr a;

	memset(&a, 0, sizeof(a));
	a.in6.s6_addr[10] = a.in6.s6_addr[11] = 0xff;
	a.in6.s6_addr[12] = 10;
	a.in6.s6_addr[15] = (uint8_t)(2 + i);
	return a;
}

/* A DATA packet of request id (even) from peer i: len bytes at offset. */
static void rx_data(struct homa_engine *e, unsigned i, uint64_t id,
		    uint32_t offset, uint32_t len, uint64_t now)
{
	static uint8_t buf[HOMA_DATA_LEN + 2000];
	struct homa_addr src = peer_addr(i);
	struct homa_pkt p;
	size_t n;

	memset(&p, 0, sizeof(p));
	p.type = HOMA_DATA;
	p.sport = PEER_PORT;
	p.dport = SRV_PORT;
	p.sender_id = id;
	p.u.data.message_length = REQ_LEN;
	p.u.data.incoming = REQ_LEN;
	p.u.data.cutoff_version = 1;
	p.u.data.offset = offset;
	p.u.data.payload_len = len;
	p.u.data.payload = msg + offset;
	n = wire_encode(&p, buf, sizeof(buf));
	ck_assert_uint_gt(n, 0);
	engine_rx(e, buf, n, &src, 0, now);
}

/* The scenario with allocation fail_at refused (0: none); fills *a. */
static void scenario(unsigned fail_at, struct fa *a)
{
	struct homa_allocator al = {fa_calloc, fa_realloc, fa_free, a};
	struct homa_params p;
	struct homa_engine *e;
	struct homa_sock *s[2];
	uint64_t now = 1000000000ull;
	unsigned f;

	memset(a, 0, sizeof(*a));
	a->fail_at = fail_at;
	engine_params_default(&p);
	e = engine_create_alloc(&p, &al);
	if (e == NULL) {
		ck_assert_uint_eq(a->failed, 1);
		ck_assert_int_eq(a->live, 0);
		return;
	}
	engine_set_ops(e, &ops, NULL);
	for (unsigned i = 0; i < 2; i++) {
		f = a->failed;
		if (!ok(a, f, engine_sock_open(e, NULL, &s[i])))
			goto out;
		f = a->failed;
		if (!ok(a, f,
			engine_sock_set_pool(e, s[i], pool[i],
					     sizeof(pool[i]))))
			goto out;
	}
	ck_assert_int_eq(engine_sock_bind(e, s[0], SRV_PORT), 0);

	/* Requests from s[1] to 3 peers: RPCs, peers, the pacer's heap. */
	for (unsigned i = 0; i < NREQ; i++) {
		struct homa_msgbuf mb = {msg, REQ_LEN, NULL};
		struct homa_addr dst = peer_addr(i % 3);
		uint64_t id = 0;

		f = a->failed;
		ok(a, f,
		   engine_send_request(e, s[1], &dst, PEER_PORT, &mb, i, now,
				       &id));
	}
	if (fail_at == 0)
		ck_assert_uint_gt(e->heap_cap, 64); /* it grew */

	/* Requests to s[0] from 2 peers with two holes each: gap lists. */
	for (unsigned i = 0; i < NIN; i++) {
		uint64_t id = 1000 + 2 * i;

		rx_data(e, i % 2, id, 0, 1400, now);
		rx_data(e, i % 2, id, 4200, 1400, now);
		rx_data(e, i % 2, id, 8400, 1400, now);
	}
	if (fail_at == 0)
		ck_assert_uint_eq(e->nserver, NIN);

	/* The clock: pacing, grants, resends, timeouts. */
	for (unsigned i = 0; i < 200; i++) {
		now += 1000000;
		engine_tick(e, now);
	}
	engine_sock_close(e, s[1], now);
	if (fail_at == 0) {
		last_heap_cap = e->heap_cap;
		last_npeers = e->npeers;
		last_nshares = e->nshares;
	}
out:
	engine_destroy(e);
	ck_assert_uint_le(a->failed, 1);
	ck_assert_int_eq(a->live, 0);
}

START_TEST(alloc__every_allocation_refused_once)
{
	struct fa a;
	unsigned total;

	scenario(0, &a);
	total = a.calls;
	ck_assert_uint_eq(a.failed, 0);
	/* engine, tables, sockets, pools, RPCs, peers, heap, gaps */
	ck_assert_uint_gt(total, NREQ + NIN + 10);
	printf("%u allocations (heap %u, peers %u, shares %u), each refused "
	       "once\n",
	       total, last_heap_cap, last_npeers, last_nshares);
	for (unsigned n = 1; n <= total; n++) {
		scenario(n, &a);
		ck_assert_msg(a.failed == 1, "allocation %u of %u not reached",
			      n, total);
	}
}
END_TEST

/* An engine with two sockets (s[0] bound to SRV_PORT), both with pools. */
static struct homa_engine *small_engine(struct fa *a, struct homa_allocator *al,
					struct homa_sock **s)
{
	struct homa_params p;
	struct homa_engine *e;

	memset(a, 0, sizeof(*a));
	*al = (struct homa_allocator){fa_calloc, fa_realloc, fa_free, a};
	engine_params_default(&p);
	e = engine_create_alloc(&p, al);
	ck_assert_ptr_nonnull(e);
	engine_set_ops(e, &ops, NULL);
	for (unsigned i = 0; i < 2; i++) {
		ck_assert_int_eq(engine_sock_open(e, NULL, &s[i]), 0);
		ck_assert_int_eq(
			engine_sock_set_pool(e, s[i], pool[i], sizeof(pool[i])),
			0);
	}
	ck_assert_int_eq(engine_sock_bind(e, s[0], SRV_PORT), 0);
	return e;
}

/*
 * The pacer's heap has room for every live RPC: a request that needs it to
 * grow and cannot is refused with -ENOMEM (not left unsent in silence),
 * and goes out when memory comes back.
 */
START_TEST(alloc__pacer_heap_growth_refused)
{
	struct homa_msgbuf mb = {msg, REQ_LEN, NULL};
	struct homa_addr dst = peer_addr(0);
	struct homa_allocator al;
	struct homa_sock *s[2];
	struct homa_engine *e;
	uint64_t now = 1000000000ull, id;
	struct fa a;

	e = small_engine(&a, &al, s);
	for (unsigned i = 0; i < 64; i++) {
		id = 0;
		ck_assert_int_eq(engine_send_request(e, s[1], &dst, PEER_PORT,
						     &mb, i, now, &id),
				 0);
	}
	ck_assert_uint_eq(e->heap_cap, 64);
	a.no_grow = true;
	id = 0;
	ck_assert_int_eq(engine_send_request(e, s[1], &dst, PEER_PORT, &mb, 64,
					     now, &id),
			 -ENOMEM);
	ck_assert_uint_eq(a.failed, 1);
	ck_assert_uint_eq(e->nrpcs, 64);
	a.no_grow = false;
	ck_assert_int_eq(engine_send_request(e, s[1], &dst, PEER_PORT, &mb, 64,
					     now, &id),
			 0);
	ck_assert_uint_eq(e->heap_cap, 128);
	sent_id = id;
	sent_for = 0;
	for (unsigned i = 0; i < 200 && sent_for == 0; i++) {
		now += 1000000;
		engine_tick(e, now);
	}
	ck_assert_uint_gt(sent_for, 0);
	engine_destroy(e);
	ck_assert_int_eq(a.live, 0);
}
END_TEST

/*
 * A packet that opens a gap when the gap list cannot grow is dropped and
 * counted as such (gap_alloc_drops), not as over max_gaps; sent again
 * later, it is taken.
 */
START_TEST(alloc__gap_list_growth_refused)
{
	struct homa_addr src = peer_addr(0);
	struct homa_allocator al;
	struct homa_sock *s[2];
	struct homa_engine *e;
	struct homa_rpc *rpc;
	uint64_t now = 1000000000ull;
	struct fa a;

	e = small_engine(&a, &al, s);
	rx_data(e, 0, 1000, 0, 1400, now);
	rpc = rpc_find(e, 1001, peer_find(e, &src));
	ck_assert_ptr_nonnull(rpc);
	a.no_grow = true;
	rx_data(e, 0, 1000, 4200, 1400, now);
	ck_assert_uint_eq(a.failed, 1);
	ck_assert_uint_eq(engine_metrics(e)->gap_alloc_drops, 1);
	ck_assert_uint_eq(engine_metrics(e)->gap_limit_drops, 0);
	ck_assert_uint_eq(rpc->msgin.num_gaps, 0);
	ck_assert_uint_eq(msgin_received(&rpc->msgin), 1400);
	a.no_grow = false;
	rx_data(e, 0, 1000, 4200, 1400, now);
	ck_assert_uint_eq(rpc->msgin.num_gaps, 1);
	ck_assert_uint_eq(msgin_received(&rpc->msgin), 2800);
	ck_assert_uint_eq(engine_metrics(e)->gap_alloc_drops, 1);
	engine_destroy(e);
	ck_assert_int_eq(a.live, 0);
}
END_TEST

/* pool_init with no allocator takes libc's (test_pool's pools). */
START_TEST(alloc__pool_default_allocator)
{
	struct homa_pool p;

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(pool_init(&p, NULL, pool[0], sizeof(pool[0])), 0);
	ck_assert_ptr_eq(p.alloc, &homa_libc_allocator);
	pool_destroy(&p);
	pool_destroy(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("alloc");
	TCase *tc = tcase_create("alloc");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, alloc__every_allocation_refused_once);
	tcase_add_test(tc, alloc__pool_default_allocator);
	tcase_add_test(tc, alloc__pacer_heap_growth_refused);
	tcase_add_test(tc, alloc__gap_list_growth_refused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
