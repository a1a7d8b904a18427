/*
 * test_sim.c - protocol scenarios on the simulator (sim.h): several real
 * engines behind a switch, every RPC checked for exactly-once delivery and
 * byte-exact content.
 */
#include <check.h>
#include <inttypes.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "sim.h"

#define MS 1000000ull
#define US 1000ull

/* Every RPC done, delivered once each way, byte-exact, without error. */
static void check_all_ok(const struct sim *s)
{
	for (size_t i = 0; i < sim_rpc_count(s); i++) {
		const struct sim_rpc *r = sim_rpc_get(s, i);

		ck_assert_msg(r->done, "rpc %zu (%u -> %u, %u/%u B) not done",
			      i, r->client, r->server, r->req_len, r->resp_len);
		ck_assert_msg(r->error == 0, "rpc %zu failed: %d", i, r->error);
		ck_assert_int_eq(r->req_deliveries, 1);
		ck_assert_int_eq(r->resp_deliveries, 1);
		ck_assert(!r->req_bad);
		ck_assert(!r->resp_bad);
	}
}

/* After a quiet period no host keeps any RPC state. */
static void check_no_state(struct sim *s, unsigned hosts)
{
	for (unsigned h = 0; h < hosts; h++) {
		struct homa_engine_state st;

		engine_state(sim_engine(s, h), &st);
		ck_assert_msg(st.rpcs == 0, "host %u keeps %u rpcs", h,
			      st.rpcs);
		ck_assert_uint_eq(st.dead_rpcs, 0);
		ck_assert_uint_eq(st.total_incoming, 0);
		ck_assert_uint_eq(st.active_grants, 0);
		ck_assert_uint_eq(st.throttled, 0);
	}
}

START_TEST(sim__sizes_byte_exact_and_cleanup)
{
	static const uint32_t sizes[] = {1,	1399,  1400,  1401,   40000,
					 40001, 65535, 65536, 500000, 1000000};
	struct sim_config c;
	struct sim *s;

	sim_config_default(&c);
	s = sim_create(&c);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		ck_assert_int_ge(sim_rpc_start(s, 0, 1, sizes[i], sizes[i]), 0);
	ck_assert(sim_run_all(s, 100 * MS));
	check_all_ok(s);
	/* NEED_ACK / ACK: the server forgets every RPC. */
	sim_run_until(s, sim_now(s) + 20 * MS);
	check_no_state(s, 2);
	ck_assert_uint_gt(engine_metrics(sim_engine(s, 1))->acks_received, 0);
	sim_destroy(s);
}
END_TEST

START_TEST(sim__srpt_short_overtakes_long)
{
	struct sim_config c;
	struct sim *s;
	long lng, shrt;

	sim_config_default(&c);
	c.hosts = 3;
	s = sim_create(&c);
	lng = sim_rpc_start(s, 1, 0, 1000000, 100);
	sim_run_until(s, 50 * US);
	shrt = sim_rpc_start(s, 2, 0, 100000, 100);
	ck_assert(sim_run_all(s, 100 * MS));
	check_all_ok(s);
	const struct sim_rpc *l = sim_rpc_get(s, (size_t)lng);
	const struct sim_rpc *r = sim_rpc_get(s, (size_t)shrt);
	/* 100 KB alone takes ~35 us at 25 Gbit/s: it must not wait for the
	 * rest of the 1 MB (~300 us). */
	ck_assert_uint_lt(r->end_ns, l->end_ns);
	ck_assert_uint_lt(r->end_ns - r->start_ns, 100 * US);
	sim_destroy(s);
}
END_TEST

struct overcommit_probe {
	uint64_t max_excess;
	uint32_t max_active;
	uint32_t limit;
};

static void overcommit_probe_fn(void *ctx, struct sim *s)
{
	struct overcommit_probe *p = ctx;
	struct homa_engine *e = sim_engine(s, 0);
	struct homa_engine_state st;
	uint64_t fifo = engine_metrics(e)->fifo_grant_bytes;
	uint64_t allowed;

	engine_state(e, &st);
	/* max_incoming, plus unscheduled bytes of arrived messages (at most
	 * 40 KB each, granted to nobody) and FIFO grants. */
	allowed = 400000 + (uint64_t)(st.rpcs) * 40000 + fifo;
	if (st.total_incoming > allowed &&
	    st.total_incoming - allowed > p->max_excess)
		p->max_excess = st.total_incoming - allowed;
	if (st.active_grants > p->max_active)
		p->max_active = st.active_grants;
}

START_TEST(sim__overcommit_bound)
{
	struct sim_config c;
	struct sim *s;
	struct overcommit_probe p = {0, 0, 0};

	sim_config_default(&c);
	c.hosts = 13;
	s = sim_create(&c);
	sim_set_probe(s, overcommit_probe_fn, &p);
	for (unsigned h = 1; h < 13; h++)
		sim_rpc_start(s, h, 0, 300000, 100);
	ck_assert(sim_run_all(s, 100 * MS));
	check_all_ok(s);
	ck_assert_uint_eq(p.max_excess, 0);
	ck_assert_uint_le(p.max_active, 8);
	ck_assert_uint_ge(p.max_active, 4);
	sim_destroy(s);
}
END_TEST

/*
 * A 1 MB message under a constant stream of short ones (more than the
 * link) to the same host: when does it complete (UINT64_MAX: not in 30 ms)?
 */
static uint64_t fifo_run(uint32_t fifo_fraction)
{
	struct sim_config c;
	struct sim *s;
	long lng;
	uint64_t end = UINT64_MAX;

	sim_config_default(&c);
	c.hosts = 5;
	c.proto.grant_fifo_fraction = fifo_fraction;
	s = sim_create(&c);
	lng = sim_rpc_start(s, 1, 0, 1000000, 100);
	/* 3 senders x one 30 KB request every 28 us: all of the link. */
	for (uint64_t t = 0; t < 30 * MS; t += 28 * US)
		for (unsigned h = 2; h < 5; h++)
			sim_rpc_at(s, t + h * 7 * US, h, 0, 30000, 100);
	sim_run_until(s, 30 * MS);
	if (sim_rpc_get(s, (size_t)lng)->done)
		end = sim_rpc_get(s, (size_t)lng)->end_ns;
	if (fifo_fraction > 0)
		ck_assert_uint_gt(
			engine_metrics(sim_engine(s, 0))->fifo_grant_bytes, 0);
	else
		ck_assert_uint_eq(
			engine_metrics(sim_engine(s, 0))->fifo_grant_bytes, 0);
	sim_destroy(s);
	return end;
}

START_TEST(sim__fifo_grants_end_starvation)
{
	/* 5% of the link: 1 MB in ~6.4 ms of FIFO share, plus start-up. */
	ck_assert_uint_lt(fifo_run(50), 15 * MS);
	/* Without FIFO grants it starves far longer (the test bites): only
	 * RESEND-driven retransmissions at priority 7 get it through. */
	ck_assert_uint_gt(fifo_run(0), 20 * MS);
}
END_TEST

static uint32_t mixed_size(struct sim *s)
{
	uint64_t r = sim_rand(s) % 100;

	if (r < 60)
		return 1 + (uint32_t)(sim_rand(s) % 1500);
	if (r < 90)
		return 1 + (uint32_t)(sim_rand(s) % 40000);
	return 40000 + (uint32_t)(sim_rand(s) % 160000);
}

static struct sim *lossy_run(uint64_t seed, unsigned n, bool *all)
{
	struct sim_config c;
	struct sim *s;

	sim_config_default(&c);
	c.hosts = 4;
	c.seed = seed;
	c.loss_ppm = 50000;
	c.dup_ppm = 20000;
	c.reorder_ppm = 50000;
	c.reorder_ns = 20 * US;
	s = sim_create(&c);
	for (unsigned i = 0; i < n; i++) {
		unsigned a = (unsigned)(sim_rand(s) % 4);
		unsigned b = (a + 1 + (unsigned)(sim_rand(s) % 3)) % 4;
		uint32_t q = mixed_size(s), r = mixed_size(s);

		sim_rpc_at(s, (uint64_t)i * 20 * US, a, b, q, r);
	}
	sim_run_until(s, (uint64_t)n * 20 * US);
	*all = sim_run_all(s, 10000 * MS);
	return s;
}

START_TEST(sim__loss_dup_reorder_exactly_once)
{
	bool all;
	struct sim *s = lossy_run(7, 10000, &all);

	ck_assert_uint_eq(sim_rpc_count(s), 10000);
	ck_assert(all);
	check_all_ok(s);
	ck_assert_uint_gt(engine_metrics(sim_engine(s, 0))->resent_packets, 0);
	ck_assert_uint_gt(engine_metrics(sim_engine(s, 0))->packet_discards, 0);
	sim_run_until(s, sim_now(s) + 2000 * MS);
	check_no_state(s, 4);
	sim_destroy(s);
}
END_TEST

/*
 * Duplicates held back longer than an RPC lives: a copy of a request
 * arriving after the server's RPC was acked and freed must not start the
 * request again (at-most-once), nor leave state behind.
 */
START_TEST(sim__late_duplicate_request_not_executed)
{
	struct sim_config c;
	struct sim *s;
	uint64_t stale = 0;

	sim_config_default(&c);
	c.seed = 3;
	c.dup_ppm = 50000;
	c.reorder_ppm = 100000;
	c.reorder_ns = 500 * US; /* many RPC lifetimes */
	s = sim_create(&c);
	for (unsigned i = 0; i < 2000; i++)
		sim_rpc_at(s, (uint64_t)i * 5 * US, 0, 1,
			   1 + (uint32_t)(sim_rand(s) % 3000),
			   1 + (uint32_t)(sim_rand(s) % 3000));
	sim_run_until(s, 2000 * 5 * US);
	ck_assert(sim_run_all(s, 10000 * MS));
	check_all_ok(s);
	for (unsigned h = 0; h < 2; h++)
		stale += engine_metrics(sim_engine(s, h))->stale_requests;
	ck_assert_uint_gt(stale, 0);
	sim_run_until(s, sim_now(s) + 2000 * MS);
	check_no_state(s, 2);
	sim_destroy(s);
}
END_TEST

START_TEST(sim__deterministic)
{
	bool all;
	struct sim *a = lossy_run(11, 500, &all);
	struct sim *b = lossy_run(11, 500, &all);
	struct sim *c = lossy_run(12, 500, &all);

	ck_assert_uint_eq(sim_trace_hash(a), sim_trace_hash(b));
	ck_assert_uint_eq(sim_now(a), sim_now(b));
	ck_assert_uint_ne(sim_trace_hash(a), sim_trace_hash(c));
	sim_destroy(a);
	sim_destroy(b);
	sim_destroy(c);
}
END_TEST

START_TEST(sim__dead_peer_times_out)
{
	struct sim_config c;
	struct sim *s;
	const struct sim_rpc *r;

	sim_config_default(&c);
	s = sim_create(&c);
	sim_host_kill(s, 1);
	sim_rpc_start(s, 0, 1, 1000, 1000);
	sim_rpc_start(s, 0, 1, 500000, 1000);
	ck_assert(sim_run_all(s, 1000 * MS));
	for (size_t i = 0; i < 2; i++) {
		r = sim_rpc_get(s, i);
		ck_assert_int_eq(r->error, ETIMEDOUT);
		/* timeout_ticks (100) of 1 ms, give or take a tick. */
		ck_assert_uint_ge(r->end_ns - r->start_ns, 99 * MS);
		ck_assert_uint_le(r->end_ns - r->start_ns, 102 * MS);
	}
	ck_assert_uint_eq(engine_metrics(sim_engine(s, 0))->client_rpc_timeouts,
			  2);
	sim_destroy(s);
}
END_TEST

/*
 * A server's homad stopped for good while its host is up (its kernel
 * answers probes): its clients' RPCs fail with ETIMEDOUT once it has been
 * silent stalled_peer_ticks (1000 ticks of 1 ms, 10 x timeout_ticks),
 * counted as stalled.  A killed host (sim__dead_peer_times_out) fails them
 * after timeout_ticks.
 */
START_TEST(sim__stopped_homad_times_out_after_stalled_peer_ticks)
{
	struct sim_config c;
	struct sim *s;
	const struct homa_metrics *m;

	sim_config_default(&c);
	s = sim_create(&c);
	sim_host_stall(s, 1, 100000 * MS);
	sim_rpc_start(s, 0, 1, 1000, 1000);
	sim_rpc_start(s, 0, 1, 500000, 1000);
	sim_run_until(s, 2000 * MS);
	for (size_t i = 0; i < 2; i++) {
		const struct sim_rpc *r = sim_rpc_get(s, i);

		ck_assert(r->done);
		ck_assert_int_eq(r->error, ETIMEDOUT);
		ck_assert_uint_ge(r->end_ns - r->start_ns, 999 * MS);
		ck_assert_uint_le(r->end_ns - r->start_ns, 1002 * MS);
	}
	m = engine_metrics(sim_engine(s, 0));
	ck_assert_uint_eq(m->client_timeouts_peer_stalled, 2);
	ck_assert_uint_eq(m->client_timeouts_peer_silent, 0);
	ck_assert_uint_gt(m->probe_replies, 0);
	sim_destroy(s);
}
END_TEST

START_TEST(sim__server_restart_mid_request)
{
	struct sim_config c;
	struct sim *s;

	sim_config_default(&c);
	s = sim_create(&c);
	sim_rpc_start(s, 0, 1, 500000, 2000);
	sim_run_until(s, 60 * US); /* the request is half way */
	sim_host_restart(s, 1);
	ck_assert(sim_run_all(s, 1000 * MS));
	check_all_ok(s);
	sim_destroy(s);
}
END_TEST

START_TEST(sim__server_restart_rpc_unknown)
{
	struct sim_config c;
	struct sim *s;
	const struct sim_rpc *r;

	sim_config_default(&c);
	c.service_ns = 10 * MS;
	s = sim_create(&c);
	sim_rpc_start(s, 0, 1, 100000, 2000);
	/* The server has the whole request and is computing: it crashes. */
	sim_run_until(s, 5 * MS);
	ck_assert_uint_eq(sim_rpc_get(s, 0)->req_deliveries, 1);
	sim_host_restart(s, 1);
	ck_assert(sim_run_all(s, 1000 * MS));
	r = sim_rpc_get(s, 0);
	/* The client's RESEND met RPC_UNKNOWN; it sent the request again
	 * and the new server answered it. */
	ck_assert_int_eq(r->error, 0);
	ck_assert_int_eq(r->req_deliveries, 2);
	ck_assert_int_eq(r->resp_deliveries, 1);
	ck_assert(!r->req_bad && !r->resp_bad);
	ck_assert_uint_gt(
		engine_metrics(sim_engine(s, 1))
			->packets_sent[wire_type_index(HOMA_RPC_UNKNOWN)],
		0);
	sim_destroy(s);
}
END_TEST

START_TEST(sim__busy_server_keeps_client_waiting)
{
	struct sim_config c;
	struct sim *s;

	sim_config_default(&c);
	c.service_ns = 300 * MS; /* 3x the timeout */
	s = sim_create(&c);
	sim_rpc_start(s, 0, 1, 100, 100);
	ck_assert(sim_run_all(s, 2000 * MS));
	check_all_ok(s);
	ck_assert_uint_gt(engine_metrics(sim_engine(s, 1))
				  ->packets_sent[wire_type_index(HOMA_BUSY)],
			  10);
	sim_destroy(s);
}
END_TEST

/* Resent DATA packets a host sent, and their share of what it sent. */
static uint64_t resent_packets(struct sim *s, unsigned h)
{
	return engine_metrics(sim_engine(s, h))->resent_packets;
}

/*
 * A sender whose NIC does 300 Mbit/s while every engine believes the link
 * does 25 Gbit/s (a slow or overloaded kernel-module host, say): 16
 * responses of 500 KB queue in its NIC for about 200 ms.  The receiver
 * waits for what the sender owes at the rate its bytes arrive before it
 * asks again, and backs off; the sender does not send again what it sent
 * less than a round trip ago: no RPC fails, little is sent twice.
 */
START_TEST(sim__slow_sender_no_storm)
{
	struct sim_config c;
	struct sim *s;
	uint64_t data, resent;

	sim_config_default(&c);
	c.uplink_mbps[1] = 300;
	s = sim_create(&c);
	for (int i = 0; i < 16; i++)
		sim_rpc_start(s, 0, 1, 100, 500000);
	ck_assert(sim_run_all(s, 5000 * MS));
	check_all_ok(s);
	data = engine_metrics(sim_engine(s, 1))
		       ->packets_sent[wire_type_index(HOMA_DATA)];
	resent = resent_packets(s, 1);
	printf("slow sender: %" PRIu64 " DATA packets, %" PRIu64
	       " resent, %" PRIu64 " RESENDs, %" PRIu64 " deferred\n",
	       data, resent, engine_metrics(sim_engine(s, 0))->resend_requests,
	       engine_metrics(sim_engine(s, 0))->resends_deferred);
	ck_assert_uint_eq(engine_metrics(sim_engine(s, 0))->client_rpc_timeouts,
			  0);
	/* At most 5% of the bytes went twice. */
	ck_assert_uint_le(resent * 100, (data - resent) * 5);
	sim_destroy(s);
}
END_TEST

/* Completion time of the RPCs of client host h (sum, ns). */
static uint64_t sim_client_time(struct sim *s, unsigned h)
{
	uint64_t t = 0;

	for (size_t i = 0; i < sim_rpc_count(s); i++) {
		const struct sim_rpc *r = sim_rpc_get(s, i);

		if (r->client == h)
			t += r->end_ns - r->start_ns;
	}
	return t;
}

/*
 * One slow sender (300 Mbit/s NIC) and three fast ones send 1 MB requests
 * to one receiver: the fast senders' requests finish as if the slow one
 * were not there (within 10%).
 */
START_TEST(sim__slow_sender_does_not_slow_fast_ones)
{
	uint64_t with[5], without[5];

	for (int run = 0; run < 2; run++) {
		struct sim_config c;
		struct sim *s;

		sim_config_default(&c);
		c.hosts = 5;
		c.uplink_mbps[1] = 300;
		s = sim_create(&c);
		for (unsigned h = run == 0 ? 1 : 2; h <= 4; h++)
			for (int i = 0; i < 4; i++)
				sim_rpc_start(s, h, 0, 1000000, 100);
		ck_assert(sim_run_all(s, 5000 * MS));
		check_all_ok(s);
		for (unsigned h = 2; h <= 4; h++)
			(run == 0 ? with : without)[h] = sim_client_time(s, h);
		sim_destroy(s);
	}
	for (unsigned h = 2; h <= 4; h++) {
		printf("fast sender %u: %.3f ms with the slow one, %.3f ms "
		       "without\n",
		       h, with[h] / 4e6, without[h] / 4e6);
		ck_assert_uint_le(with[h] * 10, without[h] * 11);
	}
}
END_TEST

/*
 * The client's homad stops for 150 ms (longer than timeout_ticks) in the
 * middle of 200 RPCs: no RPC fails (its own stall is not its peer's
 * silence; the server may end request RPCs it saw go silent, the client
 * sends them again).  The server's homad stops for 300 ms, three times
 * timeout_ticks: no RPC fails and nothing times out (its host's kernel
 * answers the client's probes: stalled_peer_ticks).  Little is sent twice.
 */
START_TEST(sim__stalled_host_no_failures)
{
	/* The client 150 ms, the server 300 ms (timeout_ticks: 100 ms). */
	static const uint64_t stall_ms[2] = {150, 300};

	for (unsigned stalled = 0; stalled < 2; stalled++) {
		struct sim_config c;
		struct sim *s;
		uint64_t data = 0, resent = 0;

		sim_config_default(&c);
		s = sim_create(&c);
		for (int i = 0; i < 200; i++)
			sim_rpc_at(s, (uint64_t)i * 10 * US, 0, 1,
				   (uint32_t)(1 + (i * 7919) % 300000),
				   (uint32_t)(1 + (i * 104729) % 300000));
		sim_run_until(s, 2 * MS);
		ck_assert_uint_eq(sim_rpc_count(s), 200);
		sim_host_stall(s, stalled, stall_ms[stalled] * MS);
		ck_assert(sim_run_all(s, 5000 * MS));
		check_all_ok(s);
		for (unsigned h = 0; h < 2; h++) {
			const struct homa_metrics *m =
				engine_metrics(sim_engine(s, h));

			data += m->packets_sent[wire_type_index(HOMA_DATA)];
			resent += m->resent_packets;
			ck_assert_uint_eq(m->client_rpc_timeouts, 0);
			if (stalled == 1)
				ck_assert_uint_eq(m->server_rpc_timeouts, 0);
		}
		if (stalled == 1) {
			const struct homa_metrics *m =
				engine_metrics(sim_engine(s, 0));

			ck_assert_uint_gt(m->probes_sent, 0);
			ck_assert_uint_eq(m->probe_replies, m->probes_sent);
			ck_assert_uint_gt(m->timeouts_host_up, 0);
		}
		printf("host %u stalled %" PRIu64 " ms: %" PRIu64
		       " DATA packets, %" PRIu64 " resent\n",
		       stalled, stall_ms[stalled], data, resent);
		ck_assert_uint_le(resent * 100, (data - resent) * 5);
		sim_destroy(s);
	}
}
END_TEST

START_TEST(sim__bpage_exhaustion_stalls_then_completes)
{
	struct sim_config c;
	struct sim *s;
	struct homa_metrics *m;
	size_t done_before;

	sim_config_default(&c);
	c.pool_bytes = 4 * HOMA_BPAGE_SIZE;
	c.hold_bpages = true;
	s = sim_create(&c);
	for (int i = 0; i < 8; i++)
		sim_rpc_start(s, 0, 1, 100000, 100);
	sim_run_until(s, 50 * MS);
	done_before = 0;
	for (size_t i = 0; i < sim_rpc_count(s); i++)
		done_before += sim_rpc_get(s, i)->done;
	ck_assert_uint_lt(done_before, 8);
	ck_assert_uint_gt(done_before, 0);
	m = engine_metrics(sim_engine(s, 1));
	ck_assert_uint_gt(m->buffer_alloc_failures, 0);
	/* Stalled messages did not time out. */
	for (size_t i = 0; i < sim_rpc_count(s); i++)
		ck_assert_int_eq(sim_rpc_get(s, i)->error, 0);
	for (int round = 0; round < 8; round++) {
		sim_release_held(s, 1);
		sim_run_until(s, sim_now(s) + 10 * MS);
	}
	check_all_ok(s);
	sim_destroy(s);
}
END_TEST

START_TEST(sim__ten_thousand_concurrent)
{
	struct sim_config c;
	struct sim *s;

	sim_config_default(&c);
	c.hosts = 3;
	s = sim_create(&c);
	for (int i = 0; i < 10000; i++)
		ck_assert_int_ge(sim_rpc_start(s, 1 + (i & 1), 0,
					       1 + (uint32_t)(i * 37 % 3000),
					       1 + (uint32_t)(i * 91 % 5000)),
				 0);
	ck_assert(sim_run_all(s, 5000 * MS));
	check_all_ok(s);
	sim_run_until(s, sim_now(s) + 100 * MS);
	check_no_state(s, 3);
	sim_destroy(s);
}
END_TEST

/*
 * Incast: host 0 has 16 outstanding RPCs whose 200 KB responses converge
 * on its switch port (450 KB of buffer).  Run with the incast
 * optimization at threshold (0: off); returns the port's drops, and its
 * largest queue in *maxq.  Every RPC must still complete, byte-exact.
 */
static uint64_t incast_run_paced(uint32_t threshold, uint32_t pace,
				 uint64_t buffer, uint64_t *maxq,
				 uint64_t *flagged)
{
	struct sim_config c;
	struct sim *s;
	uint64_t drops;

	sim_config_default(&c);
	c.hosts = 17;
	c.port_buffer_bytes = buffer;
	c.proto.incast_threshold = threshold;
	c.proto.grant_pace_factor = pace;
	s = sim_create(&c);
	/* Warm-up: one small RPC to every server (its DATA tells us it is
	 * homad). */
	for (unsigned k = 1; k < 17; k++)
		ck_assert_int_ge(sim_rpc_start(s, 0, k, 100, 100), 0);
	ck_assert(sim_run_all(s, 100 * MS));
	for (int round = 0; round < 4; round++) {
		for (unsigned k = 1; k < 17; k++)
			ck_assert_int_ge(sim_rpc_start(s, 0, k, 100, 200000),
					 0);
		ck_assert(sim_run_all(s, sim_now(s) + 2000 * MS));
	}
	check_all_ok(s);
	drops = sim_port_drops(s, 0);
	*maxq = sim_port_max_queue(s, 0);
	*flagged = engine_metrics(sim_engine(s, 0))->incast_requests;
	sim_destroy(s);
	return drops;
}

/* The incast optimization alone: no grant pacing. */
static uint64_t incast_run(uint32_t threshold, uint64_t buffer, uint64_t *maxq,
			   uint64_t *flagged)
{
	return incast_run_paced(threshold, 0, buffer, maxq, flagged);
}

/*
 * Grant pacing (grant_pace_factor 2, the default): the same incasts
 * without the incast optimization; once a server's responses were lost in
 * the client's port buffer, it paces them at its grant rate: fewer drops.
 */
START_TEST(sim__grant_pacing_after_loss_fewer_drops)
{
	uint64_t q, f, d_off, d_on;

	d_off = incast_run_paced(0, 0, 450000, &q, &f);
	d_on = incast_run_paced(0, 2, 450000, &q, &f);
	ck_assert_msg(d_off > 0, "no loss without grant pacing");
	ck_assert_msg(d_on < d_off, "drops with %llu, without %llu",
		      (unsigned long long)d_on, (unsigned long long)d_off);
}
END_TEST

START_TEST(sim__incast_optimization_fewer_drops)
{
	uint64_t q_off, q_on, f_off, f_on, d_off, d_on;

	/* Unlimited buffer: the largest queue. */
	incast_run(0, 0, &q_off, &f_off);
	incast_run(8, 0, &q_on, &f_on);
	ck_assert_uint_eq(f_off, 0);
	/* 4 bursts of 16: the 9th..16th of each are flagged. */
	ck_assert_uint_eq(f_on, 4 * 8);
	ck_assert_msg(q_on < q_off, "queue with %llu, without %llu",
		      (unsigned long long)q_on, (unsigned long long)q_off);
	/* A finite buffer: drops. */
	d_off = incast_run(0, 450000, &q_off, &f_off);
	d_on = incast_run(8, 450000, &q_on, &f_on);
	ck_assert_msg(d_off > 0, "no incast without the optimization");
	/* (About 3 times fewer with the defaults.) */
	ck_assert_msg(d_on * 2 < d_off, "drops with %llu, without %llu",
		      (unsigned long long)d_on, (unsigned long long)d_off);
}
END_TEST

/* unsched_from_rtt: the RTT is measured, used, and RPCs stay exact. */
START_TEST(sim__rtt_unsched_measured_and_used)
{
	struct sim_config c;
	struct sim *s;
	struct homa_peer_info pi;

	sim_config_default(&c);
	c.proto.unsched_from_rtt = 1;
	s = sim_create(&c);
	ck_assert_int_ge(sim_rpc_start(s, 0, 1, 200000, 100), 0);
	ck_assert(sim_run_all(s, 100 * MS));
	ck_assert_int_eq(
		engine_peer_info(sim_engine(s, 0), sim_addr(s, 1), &pi), 0);
	/* 4 hops of 1 us, a full packet twice and a GRANT twice at 25
	 * Gbit/s: about 5 us. */
	ck_assert_uint_ge(pi.rtt_ns, 4500);
	ck_assert_uint_le(pi.rtt_ns, 6000);
	ck_assert_uint_eq(pi.unsched_bytes, pi.rtt_ns * 25000 / 8000);
	for (int i = 0; i < 20; i++)
		ck_assert_int_ge(sim_rpc_start(s, 0, 1, 30000 + 5000 * i,
					       30000 + 7000 * i),
				 0);
	ck_assert(sim_run_all(s, sim_now(s) + 100 * MS));
	check_all_ok(s);
	ck_assert_uint_ge(engine_metrics(sim_engine(s, 0))->rtt_unsched_cuts,
			  20);
	/* The server measured the client too (its responses got cut). */
	ck_assert_uint_gt(engine_metrics(sim_engine(s, 1))->rtt_unsched_cuts,
			  0);
	sim_destroy(s);

	/* A long path: RTT x rate beyond unsched_bytes, nothing cut. */
	c.delay_ns = 10000;
	s = sim_create(&c);
	ck_assert_int_ge(sim_rpc_start(s, 0, 1, 200000, 100), 0);
	ck_assert_int_ge(sim_rpc_start(s, 0, 1, 100000, 100), 0);
	ck_assert(sim_run_all(s, 100 * MS));
	ck_assert_int_eq(
		engine_peer_info(sim_engine(s, 0), sim_addr(s, 1), &pi), 0);
	ck_assert_uint_gt(pi.rtt_ns, 40000);
	ck_assert_uint_eq(pi.unsched_bytes, 40000);
	ck_assert_uint_eq(engine_metrics(sim_engine(s, 0))->rtt_unsched_cuts,
			  0);
	sim_destroy(s);
}
END_TEST

static Suite *sim_suite(void)
{
	Suite *su = suite_create("sim");
	TCase *tc = tcase_create("scenarios");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, sim__sizes_byte_exact_and_cleanup);
	tcase_add_test(tc, sim__incast_optimization_fewer_drops);
	tcase_add_test(tc, sim__grant_pacing_after_loss_fewer_drops);
	tcase_add_test(tc, sim__rtt_unsched_measured_and_used);
	tcase_add_test(tc, sim__srpt_short_overtakes_long);
	tcase_add_test(tc, sim__overcommit_bound);
	tcase_add_test(tc, sim__fifo_grants_end_starvation);
	tcase_add_test(tc, sim__loss_dup_reorder_exactly_once);
	tcase_add_test(tc, sim__late_duplicate_request_not_executed);
	tcase_add_test(tc, sim__deterministic);
	tcase_add_test(tc, sim__dead_peer_times_out);
	tcase_add_test(tc,
		       sim__stopped_homad_times_out_after_stalled_peer_ticks);
	tcase_add_test(tc, sim__server_restart_mid_request);
	tcase_add_test(tc, sim__server_restart_rpc_unknown);
	tcase_add_test(tc, sim__busy_server_keeps_client_waiting);
	tcase_add_test(tc, sim__slow_sender_no_storm);
	tcase_add_test(tc, sim__slow_sender_does_not_slow_fast_ones);
	tcase_add_test(tc, sim__stalled_host_no_failures);
	tcase_add_test(tc, sim__bpage_exhaustion_stalls_then_completes);
	tcase_add_test(tc, sim__ten_thousand_concurrent);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(sim_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
