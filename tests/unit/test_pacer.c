/*
 * test_pacer.c - unit tests of daemon/core/pacer.c (sender SRPT, NIC
 * backlog pacing, FIFO share, per-peer caps).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "enginetest.h"

static struct et t;

static void setup(void)
{
	et_init(&t, NULL);
}

static void teardown(void)
{
	et_free(&t);
}

static uint64_t send_to(const struct homa_addr *dst, uint32_t len)
{
	static uint8_t buf[HOMA_MAX_MESSAGE_LENGTH];
	struct homa_msgbuf mb = {buf, len, NULL};
	uint64_t id = 0;

	ck_assert_int_eq(
		engine_send_request(t.e, t.cli, dst, 9, &mb, 0, t.now, &id), 0);
	return id;
}

START_TEST(pacer_ns__link_time)
{
	ck_assert_uint_eq(pacer_ns(1500, 25000), 480);
	ck_assert_uint_eq(pacer_ns(1500, 1000), 12000);
	ck_assert_uint_eq(pacer_ns(1500, 0), 0);
}
END_TEST

START_TEST(pacer_xmit__holds_beyond_backlog)
{
	uint64_t start = t.now;

	et_request(&t, 100000);
	/* 5 us of backlog at 25 Gbit/s: 11 full packets, not 29. */
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 11);
	ck_assert_uint_eq(engine_metrics(t.e)->throttle_list_adds, 1);
	ck_assert_uint_lt(engine_next_deadline(t.e), start + 1000);
	ck_assert_uint_gt(engine_next_deadline(t.e), start);
	/* That deadline is the pacer's (the data plane polls for it). */
	ck_assert_uint_eq(engine_pacer_deadline(t.e),
			  engine_next_deadline(t.e));
	et_pace(&t);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 29);
	/* Sent: only the timer's tick is left, which is not the pacer's. */
	ck_assert_uint_eq(engine_pacer_deadline(t.e), UINT64_MAX);
	ck_assert_uint_ne(engine_next_deadline(t.e), UINT64_MAX);
	ck_assert_uint_eq(engine_metrics(t.e)->pacer_packets, 18);
	/* 29 packets of ~1500 B took ~13 us of link time. */
	ck_assert_uint_ge(t.now - start, 8000);
	ck_assert_uint_le(t.now - start, 14000);
}
END_TEST

START_TEST(pacer_xmit__srpt_short_message_first)
{
	uint64_t lng = et_request(&t, 100000);
	uint64_t shrt;

	shrt = et_request(&t, 5000);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 11);
	et_pace(&t);
	/* The 4 packets of the short message go next. */
	for (size_t i = 11; i < 15; i++)
		ck_assert_uint_eq(et_nth(&t, HOMA_DATA, i)->pkt.sender_id,
				  shrt);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 15)->pkt.sender_id, lng);
}
END_TEST

START_TEST(pacer_xmit__short_messages_bypass)
{
	et_request(&t, 100000);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 11);
	/* Under defer_min_bytes: sent at once despite the backlog. */
	et_request(&t, 500);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 12);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 11)->pkt.u.data.message_length,
			  500);
}
END_TEST

START_TEST(pacer_xmit__fifo_share_to_oldest)
{
	struct homa_params p;
	uint64_t old;
	unsigned n_old = 0;

	et_free(&t);
	engine_params_default(&p);
	p.unsched_bytes = HOMA_MAX_MESSAGE_LENGTH; /* all sendable */
	et_init(&t, &p);
	old = et_request(&t, 1000000);
	t.now += 1;
	et_request(&t, 500000);
	et_clear(&t);
	for (int i = 0; i < 200; i++) {
		t.now += 1000;
		pacer_xmit(t.e, t.now);
	}
	ck_assert_uint_ge(et_count(&t, HOMA_DATA), 200);
	for (size_t i = 0; i < 200; i++)
		n_old += et_nth(&t, HOMA_DATA, i)->pkt.sender_id == old;
	/* 50 per mille: one packet in 20. */
	ck_assert_uint_ge(n_old, 8);
	ck_assert_uint_le(n_old, 12);
}
END_TEST

START_TEST(pacer_xmit__holds_without_tx_budget)
{
	struct homa_rpc *rpc;
	uint32_t held;
	uint64_t id;

	/* The link takes 3 packets: 3 DATA leave, the rest waits. */
	engine_set_tx_budget(t.e, 3, t.now);
	id = et_request(&t, 100000);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 3);
	ck_assert_uint_eq(t.e->nheap, 1);
	rpc = t.e->heap[0];
	ck_assert_uint_eq(rpc->id, id);
	ck_assert(t.e->tx_held);
	/* next_xmit counts only what went to the link; no pacer timer. */
	held = rpc->msgout.next_xmit;
	ck_assert_uint_eq(held, 3 * rpc->msgout.seg);
	ck_assert_uint_eq(t.e->pacer_wake, 0);
	et_pace(&t);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 3);
	/* A later tick does not send either. */
	t.now += 1000000;
	engine_tick(t.e, t.now);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 3);
	/* Slots free: the pacer goes on at once, up to the budget, from
	 * where it stopped. */
	engine_set_tx_budget(t.e, 5, t.now);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 8);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 3)->pkt.u.data.offset, held);
	ck_assert(t.e->tx_held);
	/* No limit again: everything goes, paced by the backlog only. */
	engine_set_tx_budget(t.e, ENGINE_TX_UNLIMITED, t.now);
	et_pace(&t);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 29);
	ck_assert(!t.e->tx_held);
	ck_assert_uint_eq(rpc->msgout.next_xmit, rpc->msgout.granted);
}
END_TEST

START_TEST(pacer_xmit__budget_counts_packets)
{
	engine_set_tx_budget(t.e, 2, t.now);
	et_request(&t, 100);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 1);
	ck_assert_uint_eq(t.e->tx_budget, 1);
	et_request(&t, 100);
	ck_assert_uint_eq(t.e->tx_budget, 0);
	/* None left: the next request's DATA waits for slots. */
	et_request(&t, 100);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 2);
	engine_set_tx_budget(t.e, 10, t.now);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 3);
	ck_assert_uint_eq(t.e->tx_budget, 9);
}
END_TEST

START_TEST(pacer_xmit__peer_cap)
{
	struct homa_params p;
	uint64_t capped, free_id;
	size_t last_capped = 0, last_free = 0;
	uint64_t start;

	et_free(&t);
	engine_params_default(&p);
	p.n_rate_rules = 1;
	p.rate_rules[0].prefix = et_peer;
	p.rate_rules[0].prefix_len = 128;
	p.rate_rules[0].mbps = 1000;
	et_init(&t, &p);
	start = t.now;
	capped = send_to(&et_peer, 20000);
	free_id = send_to(&et_peer2, 40000);
	et_pace(&t);
	for (size_t i = 0; i < et_count(&t, HOMA_DATA); i++) {
		uint64_t id = et_nth(&t, HOMA_DATA, i)->pkt.sender_id;

		if (id == capped)
			last_capped = i;
		if (id == free_id)
			last_free = i;
	}
	/* SRPT would send the shorter one first; its cap holds it back and
	 * the other peer's message goes by. */
	ck_assert_uint_lt(last_free, last_capped);
	/* 20 KB at 1 Gbit/s: at least ~150 us. */
	ck_assert_uint_ge(t.now - start, 150000);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 15 + 29);
}
END_TEST

/* A packet of type from et_peer (server port 9) about our RPC id. */
static struct homa_pkt from_peer(enum homa_type type, uint64_t id)
{
	struct homa_pkt p;

	memset(&p, 0, sizeof(p));
	p.type = type;
	p.sport = 9;
	p.dport = engine_sock_port(t.cli);
	p.sender_id = id ^ 1;
	return p;
}

/* A GRANT from et_peer for our RPC id: offset bytes in all. */
static void grant_to(uint64_t id, uint32_t offset)
{
	struct homa_pkt g = from_peer(HOMA_GRANT, id);

	g.u.grant.offset = offset;
	et_rx(&t, &g, &et_peer);
}

/* A RESEND from et_peer for bytes [offset, offset + length) of our RPC. */
static void resend_to(uint64_t id, uint32_t offset, uint32_t length)
{
	struct homa_pkt r = from_peer(HOMA_RESEND, id);

	r.u.resend.offset = offset;
	r.u.resend.length = length;
	et_rx(&t, &r, &et_peer);
}

/*
 * Grant pacing: et_peer grants a message of ours that waits for its
 * grants at ~80 Mbit/s (10,000 bytes a millisecond) and, if lost, asks
 * again for its first packet (sent 30 ms before: lost); then a new 40 KB
 * message to it goes at about twice that rate (grant_pace_factor 2:
 * ~2 ms) if it lost data, at once if not, while one to another peer goes
 * at once; with grant_pace_factor 0 both go at once.
 */
static uint64_t grant_paced_run(uint32_t factor, bool lost, uint64_t *other_ns)
{
	struct homa_params p;
	uint64_t big, paced, other, start, last_paced = 0, last_other = 0;
	uint32_t granted;

	et_free(&t);
	engine_params_default(&p);
	p.grant_pace_factor = factor;
	et_init(&t, &p);
	big = send_to(&et_peer, 1000000);
	et_pace(&t);
	granted = p.unsched_bytes;
	for (int ms = 0; ms < 30; ms++) {
		t.now += 1000000;
		granted += 10000;
		grant_to(big, granted);
		et_pace(&t);
	}
	if (lost) {
		resend_to(big, 0, 1000);
		et_pace(&t);
		ck_assert_uint_gt(engine_metrics(t.e)->resent_packets, 0);
	}
	et_clear(&t);
	start = t.now;
	paced = send_to(&et_peer, 40000);
	other = send_to(&et_peer2, 40000);
	et_pace(&t);
	for (size_t i = 0; i < et_count(&t, HOMA_DATA); i++) {
		const struct et_out *o = et_nth(&t, HOMA_DATA, i);

		if (o->pkt.sender_id == paced)
			last_paced = o->at;
		if (o->pkt.sender_id == other)
			last_other = o->at;
	}
	*other_ns = last_other - start;
	return last_paced - start;
}

START_TEST(pacer_xmit__grant_pacing)
{
	const struct homa_metrics *m;
	uint64_t paced, other;

	paced = grant_paced_run(2, true, &other);
	m = engine_metrics(t.e);
	/* 40 KB at 2 x 80-120 Mbit/s (a window counts the grant that opens
	 * it: the max filter leans high): 1.3-2 ms; the other at once. */
	ck_assert_uint_ge(paced, 1000000);
	ck_assert_uint_le(paced, 3000000);
	ck_assert_uint_lt(other, 100000);
	ck_assert_uint_gt(m->grant_paced_packets, 0);
	ck_assert_uint_gt(m->grant_pace_changes, 0);
	/* Off: both at once. */
	paced = grant_paced_run(0, true, &other);
	ck_assert_uint_lt(paced, 100000);
	ck_assert_uint_eq(engine_metrics(t.e)->grant_paced_packets, 0);
	/* On, but the peer lost nothing: busy, not slow; both at once. */
	paced = grant_paced_run(2, false, &other);
	ck_assert_uint_lt(paced, 100000);
	ck_assert_uint_lt(other, 100000);
	ck_assert_uint_eq(engine_metrics(t.e)->grant_paced_packets, 0);
}
END_TEST

/* Grant pacing ends once its samples are stale (no grants for 200 ms) and
 * the loss is old (PEER_LOSS_PACE_NS). */
START_TEST(pacer_xmit__grant_pacing_goes_stale)
{
	uint64_t other, paced;

	(void)grant_paced_run(2, true, &other);
	t.now += 250000000ull;
	et_clear(&t);
	{
		uint64_t start = t.now, last = 0;
		uint64_t id = send_to(&et_peer, 40000);

		et_pace(&t);
		for (size_t i = 0; i < et_count(&t, HOMA_DATA); i++)
			if (et_nth(&t, HOMA_DATA, i)->pkt.sender_id == id)
				last = et_nth(&t, HOMA_DATA, i)->at;
		paced = last - start;
	}
	ck_assert_uint_lt(paced, 100000);
}
END_TEST

static Suite *pacer_suite(void)
{
	Suite *s = suite_create("pacer");
	TCase *tc = tcase_create("pacer");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, pacer_ns__link_time);
	tcase_add_test(tc, pacer_xmit__grant_pacing);
	tcase_add_test(tc, pacer_xmit__grant_pacing_goes_stale);
	tcase_add_test(tc, pacer_xmit__holds_beyond_backlog);
	tcase_add_test(tc, pacer_xmit__srpt_short_message_first);
	tcase_add_test(tc, pacer_xmit__short_messages_bypass);
	tcase_add_test(tc, pacer_xmit__fifo_share_to_oldest);
	tcase_add_test(tc, pacer_xmit__holds_without_tx_budget);
	tcase_add_test(tc, pacer_xmit__budget_counts_packets);
	tcase_add_test(tc, pacer_xmit__peer_cap);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pacer_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
