/*
 * test_grant.c - unit tests of daemon/core/grant.c (the receiver's grant
 * policy) through the engine.
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

/* DATA of request id (len bytes, 40000 unscheduled) from src. */
static void data_from(const struct homa_addr *src, uint64_t id, uint32_t len,
		      uint32_t off, uint32_t n)
{
	struct homa_pkt p;

	memset(&p, 0, sizeof(p));
	p.type = HOMA_DATA;
	p.sport = ET_PEER_PORT;
	p.dport = ET_SERVER_PORT;
	p.sender_id = id;
	p.u.data.message_length = len;
	p.u.data.incoming = len < 40000 ? len : 40000;
	p.u.data.cutoff_version = 1;
	p.u.data.offset = off;
	p.u.data.payload_len = n;
	et_rx(&t, &p, src);
}

/* The last GRANT sent for server RPC id (NULL: none). */
static const struct et_out *last_grant(uint64_t id)
{
	const struct et_out *g = NULL;

	for (size_t i = 0; i < et_count(&t, HOMA_GRANT); i++)
		if (et_nth(&t, HOMA_GRANT, i)->pkt.sender_id == id)
			g = et_nth(&t, HOMA_GRANT, i);
	return g;
}

/* All of a message, in order. */
static void whole(const struct homa_addr *src, uint64_t id, uint32_t len)
{
	for (uint32_t off = 0; off < len; off += 1424)
		data_from(src, id, len, off,
			  len - off < 1424 ? len - off : 1424);
}

START_TEST(grant_prio__by_rank_and_active_count)
{
	struct homa_params p;

	engine_params_default(&p);
	ck_assert_uint_eq(grant_prio(&p, 0, 1), 0);
	ck_assert_uint_eq(grant_prio(&p, 0, 2), 1);
	ck_assert_uint_eq(grant_prio(&p, 1, 2), 0);
	ck_assert_uint_eq(grant_prio(&p, 0, 4), 3);
	ck_assert_uint_eq(grant_prio(&p, 3, 4), 0);
	ck_assert_uint_eq(grant_prio(&p, 0, 8), 3);
	ck_assert_uint_eq(grant_prio(&p, 6, 8), 0);
}
END_TEST

START_TEST(grant_fifo_interval__default_320us)
{
	struct homa_params p;

	engine_params_default(&p);
	ck_assert_uint_eq(grant_fifo_interval(&p), 320000);
	p.grant_fifo_fraction = 0;
	ck_assert_uint_eq(grant_fifo_interval(&p), UINT64_MAX);
}
END_TEST

START_TEST(grant_check__lone_message_window)
{
	const struct et_out *g;

	data_from(&et_peer, 10, 500000, 0, 1424);
	g = last_grant(11);
	ck_assert_ptr_nonnull(g);
	/* received + 400000 / 2, at priority 0; control packets at 7. */
	ck_assert_uint_eq(g->pkt.u.grant.offset, 1424 + 200000);
	ck_assert_uint_eq(g->pkt.u.grant.priority, 0);
	ck_assert_uint_eq(g->prio, 7);
	ck_assert_uint_eq(g->pkt.sport, ET_SERVER_PORT);
	ck_assert_uint_eq(g->pkt.dport, ET_PEER_PORT);
	/* 1424 more: below grant_threshold, and the sender has ~200 KB of
	 * grant left: no GRANT yet. */
	data_from(&et_peer, 10, 500000, 1424, 1424);
	ck_assert_uint_eq(et_count(&t, HOMA_GRANT), 1);
	ck_assert_uint_eq(last_grant(11)->pkt.u.grant.offset, 1424 + 200000);
	/* Once the raise reaches the threshold (10000), it goes out. */
	for (uint32_t off = 2848; off < 8 * 1424; off += 1424)
		data_from(&et_peer, 10, 500000, off, 1424);
	ck_assert_uint_eq(et_count(&t, HOMA_GRANT), 1);
	data_from(&et_peer, 10, 500000, 8 * 1424, 1424);
	ck_assert_uint_eq(et_count(&t, HOMA_GRANT), 2);
	ck_assert_uint_eq(last_grant(11)->pkt.u.grant.offset,
			  9 * 1424 + 200000);
}
END_TEST

/*
 * A peer that delivers slowly (measured: about 57 Mbit/s over 3 ms) is
 * granted at most what it can deliver in peer_window_usecs (4 ms: about
 * 28 KB) outstanding; a fast peer's message next to it is not held back
 * by the slow one's unscheduled bytes.
 */
START_TEST(grant_check__slow_peer_capped)
{
	const struct homa_metrics *m = engine_metrics(t.e);
	struct homa_peer *slow;
	uint64_t cap;
	uint32_t off;

	/* A first message from et_peer, 1 packet every 200 us. */
	for (off = 0; off < 20000; off += 1424) {
		data_from(&et_peer, 10, 20000, off,
			  20000 - off < 1424 ? 20000 - off : 1424);
		t.now += 200000;
	}
	slow = peer_find(t.e, &et_peer);
	ck_assert_uint_gt(slow->rx_rate.max_mbps, 40);
	ck_assert_uint_lt(slow->rx_rate.max_mbps, 80);
	cap = peer_grant_cap(t.e, slow);
	ck_assert_uint_gt(cap, 20000);
	ck_assert_uint_lt(cap, 40000);
	/* Its next, long message: unscheduled 40000 already exceed it. */
	et_clear(&t);
	data_from(&et_peer, 12, 1000000, 0, 1424);
	ck_assert_ptr_null(last_grant(13));
	ck_assert_uint_gt(m->grants_peer_capped, 0);
	/* A fast peer's long message gets its full window: the slow peer's
	 * bytes beyond its cap do not count against max_incoming. */
	data_from(&et_peer2, 20, 1000000, 0, 1424);
	ck_assert_ptr_nonnull(last_grant(21));
	ck_assert_uint_ge(last_grant(21)->pkt.u.grant.offset, 1424 + 130000);
	/* The slow peer delivers its unscheduled bytes: then it is granted,
	 * never beyond its cap. */
	for (off = 1424; off < 40000; off += 1424)
		data_from(&et_peer, 12, 1000000, off,
			  40000 - off < 1424 ? 40000 - off : 1424);
	ck_assert_ptr_nonnull(last_grant(13));
	ck_assert_uint_le(last_grant(13)->pkt.u.grant.offset,
			  40000 + peer_grant_cap(t.e, slow));
	ck_assert_uint_le(slow->incoming, peer_grant_cap(t.e, slow));
}
END_TEST

/* peer_window_usecs 0: the module's policy, no per-peer cap. */
START_TEST(grant_check__peer_cap_off)
{
	struct homa_params p;
	uint32_t off;

	et_free(&t);
	engine_params_default(&p);
	p.peer_window_usecs = 0;
	et_init(&t, &p);
	for (off = 0; off < 20000; off += 1424) {
		data_from(&et_peer, 10, 20000, off,
			  20000 - off < 1424 ? 20000 - off : 1424);
		t.now += 200000;
	}
	ck_assert_uint_eq(peer_grant_cap(t.e, peer_find(t.e, &et_peer)), 0);
	data_from(&et_peer, 12, 1000000, 0, 1424);
	ck_assert_uint_eq(last_grant(13)->pkt.u.grant.offset, 1424 + 200000);
	ck_assert_uint_eq(engine_metrics(t.e)->grants_peer_capped, 0);
}
END_TEST

/* grant_threshold 0: a GRANT for every DATA packet, as the module does. */
START_TEST(grant_check__threshold_zero_grants_every_packet)
{
	struct homa_params p;

	et_free(&t);
	engine_params_default(&p);
	p.grant_threshold = 0;
	et_init(&t, &p);
	for (uint32_t i = 0; i < 5; i++)
		data_from(&et_peer, 10, 500000, i * 1424, 1424);
	ck_assert_uint_eq(et_count(&t, HOMA_GRANT), 5);
	ck_assert_uint_eq(last_grant(11)->pkt.u.grant.offset,
			  5 * 1424 + 200000);
}
END_TEST

/* Small raises still go out when they grant the end of the message, or
 * when the sender is about to run out of granted bytes. */
START_TEST(grant_check__threshold_never_stalls_sender)
{
	struct homa_params p;

	et_free(&t);
	engine_params_default(&p);
	p.max_incoming = 100000; /* window 50000 for a lone message */
	p.grant_threshold = 60000;
	et_init(&t, &p);
	/* The sender always has fewer granted bytes left than the
	 * threshold: every raise goes out, however small. */
	data_from(&et_peer, 10, 300000, 0, 1424);
	ck_assert_uint_eq(et_count(&t, HOMA_GRANT), 1);
	ck_assert_uint_eq(last_grant(11)->pkt.u.grant.offset, 1424 + 50000);
	data_from(&et_peer, 10, 300000, 1424, 1424);
	ck_assert_uint_eq(et_count(&t, HOMA_GRANT), 2);
	ck_assert_uint_eq(last_grant(11)->pkt.u.grant.offset, 2848 + 50000);
	et_free(&t);
	engine_params_default(&p);
	p.grant_threshold = 1000000;
	et_init(&t, &p);
	/* 45000 bytes: the last raise (to the end) is small, yet sent. */
	data_from(&et_peer, 10, 45000, 0, 1424);
	ck_assert_uint_eq(et_count(&t, HOMA_GRANT), 1);
	ck_assert_uint_eq(last_grant(11)->pkt.u.grant.offset, 45000);
}
END_TEST

/* Inside a batch, the DATA of one message gets one GRANT, at the end. */
START_TEST(grant_check__batch_grants_once)
{
	struct homa_params p;

	et_free(&t);
	engine_params_default(&p);
	p.grant_threshold = 0;
	et_init(&t, &p);
	engine_batch_begin(t.e);
	for (uint32_t i = 0; i < 7; i++)
		data_from(&et_peer, 10, 500000, i * 1424, 1424);
	ck_assert_uint_eq(et_count(&t, HOMA_GRANT), 0);
	engine_batch_end(t.e, t.now);
	ck_assert_uint_eq(et_count(&t, HOMA_GRANT), 1);
	ck_assert_uint_eq(last_grant(11)->pkt.u.grant.offset,
			  7 * 1424 + 200000);
	/* An empty batch sends nothing. */
	engine_batch_begin(t.e);
	engine_batch_end(t.e, t.now);
	ck_assert_uint_eq(et_count(&t, HOMA_GRANT), 1);
	/* Outside a batch: at once again. */
	data_from(&et_peer, 10, 500000, 7 * 1424, 1424);
	ck_assert_uint_eq(et_count(&t, HOMA_GRANT), 2);
}
END_TEST

START_TEST(grant_check__unscheduled_only_never_granted)
{
	data_from(&et_peer, 10, 40000, 0, 1424);
	data_from(&et_peer, 12, 30000, 0, 1424);
	ck_assert_uint_eq(et_count(&t, HOMA_GRANT), 0);
}
END_TEST

START_TEST(grant_check__rank_sets_window_and_priority)
{
	data_from(&et_peer, 10, 500000, 0, 1424);
	data_from(&et_peer2, 20, 300000, 0, 1424);
	/* Two active: window 400000 / 3; the shorter one ranks first. */
	ck_assert_uint_eq(last_grant(21)->pkt.u.grant.offset, 1424 + 133333);
	ck_assert_uint_eq(last_grant(21)->pkt.u.grant.priority, 1);
	data_from(&et_peer, 10, 500000, 1424, 1424);
	/* The longer one has rank 1 now: priority 0; its grant grows only
	 * as far as max_incoming allows. */
	ck_assert_uint_eq(last_grant(11)->pkt.u.grant.priority, 0);
	struct homa_engine_state st;
	engine_state(t.e, &st);
	ck_assert_uint_le(st.total_incoming, 400000);
	ck_assert_uint_eq(st.active_grants, 2);
}
END_TEST

START_TEST(grant_check__max_incoming_and_overcommit)
{
	struct homa_engine_state st;

	/* Ten 500 KB messages: the grants stop at max_incoming (plus the
	 * unscheduled bytes each brought), at most 8 are active.  (They are
	 * more than one peer's share of the pool: lift the share.) */
	t.p.peer_pool_percent = 100;
	engine_set_params(t.e, &t.p);
	for (uint64_t i = 0; i < 10; i++)
		data_from(&et_peer, 100 + 2 * i, 500000, 0, 1424);
	engine_state(t.e, &st);
	ck_assert_uint_le(st.active_grants, 8);
	ck_assert_uint_le(st.total_incoming, 400000 + 10 * 40000);
	ck_assert_uint_eq(st.active_grants + st.grantable, 10);
	/* Once the cap is reached, later messages get no grant at all. */
	for (uint64_t i = 3; i < 10; i++)
		ck_assert_ptr_null(last_grant(100 + 2 * i + 1));
}
END_TEST

START_TEST(grant_check__freed_slot_goes_to_least_served_peer)
{
	struct homa_params p;

	et_free(&t);
	engine_params_default(&p);
	p.max_overcommit = 2;
	et_init(&t, &p);
	data_from(&et_peer, 10, 300000, 0, 1424);  /* A1 */
	data_from(&et_peer, 12, 310000, 0, 1424);  /* A2 */
	data_from(&et_peer, 14, 320000, 0, 1424);  /* A3 waits */
	data_from(&et_peer2, 20, 330000, 0, 1424); /* B1 waits */
	ck_assert_ptr_null(last_grant(15));
	ck_assert_ptr_null(last_grant(21));
	et_clear(&t);
	whole(&et_peer, 10, 300000); /* A1 completes */
	/* B1 is promoted before the shorter A3: spread across peers. */
	ck_assert_ptr_nonnull(last_grant(21));
	ck_assert_ptr_null(last_grant(15));
}
END_TEST

START_TEST(grant_check__shorter_message_preempts)
{
	struct homa_params p;

	et_free(&t);
	engine_params_default(&p);
	p.max_overcommit = 1;
	et_init(&t, &p);
	data_from(&et_peer, 10, 900000, 0, 1424);
	ck_assert_ptr_nonnull(last_grant(11));
	et_clear(&t);
	data_from(&et_peer2, 20, 300000, 0, 1424);
	ck_assert_ptr_nonnull(last_grant(21));
	data_from(&et_peer, 10, 900000, 1424, 1424);
	ck_assert_ptr_null(last_grant(11));
	struct homa_engine_state st;
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.active_grants, 1);
	ck_assert_uint_eq(st.grantable, 1);
}
END_TEST

START_TEST(grant_check__fifo_grant_to_oldest)
{
	const struct et_out *g;
	uint32_t before;

	data_from(&et_peer, 10, 1000000, 0, 1424); /* oldest */
	t.now += 1000;
	data_from(&et_peer2, 20, 100000, 0, 1424);
	before = last_grant(11)->pkt.u.grant.offset;
	et_clear(&t);
	/* 320 us later, the next grant check adds a FIFO grant. */
	t.now += 330000;
	data_from(&et_peer2, 20, 100000, 1424, 1424);
	g = last_grant(11);
	ck_assert_ptr_nonnull(g);
	ck_assert_uint_eq(g->pkt.u.grant.offset, before + 50000);
	ck_assert_uint_eq(g->pkt.u.grant.priority, 6);
	ck_assert_uint_eq(engine_metrics(t.e)->fifo_grant_bytes, 50000);
	/* Not again before another 320 us. */
	et_clear(&t);
	t.now += 100000;
	data_from(&et_peer2, 20, 100000, 2848, 1424);
	ck_assert_ptr_null(last_grant(11));
}
END_TEST

START_TEST(grant_remove__rpc_end_clears_incoming)
{
	struct homa_engine_state st;

	data_from(&et_peer, 10, 500000, 0, 1424);
	engine_state(t.e, &st);
	ck_assert_uint_gt(st.total_incoming, 0);
	ck_assert_uint_eq(st.active_grants, 1);
	/* The client gives up: RPC_UNKNOWN ends the server RPC. */
	struct homa_pkt p;
	memset(&p, 0, sizeof(p));
	p.type = HOMA_RPC_UNKNOWN;
	p.sport = ET_PEER_PORT;
	p.dport = ET_SERVER_PORT;
	p.sender_id = 10;
	et_rx(&t, &p, &et_peer);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.total_incoming, 0);
	ck_assert_uint_eq(st.active_grants, 0);
	ck_assert_uint_eq(st.rpcs, 0);
}
END_TEST

START_TEST(grant_update_incoming__per_peer)
{
	struct homa_engine_state st;
	struct homa_peer_info a, b;

	/* Two messages from one peer, one from another. */
	data_from(&et_peer, 10, 500000, 0, 1424);
	data_from(&et_peer, 12, 300000, 0, 1424);
	data_from(&et_peer6, 20, 200000, 0, 1424);
	engine_state(t.e, &st);
	ck_assert_int_eq(engine_peer_info(t.e, &et_peer, &a), 0);
	ck_assert_int_eq(engine_peer_info(t.e, &et_peer6, &b), 0);
	/* Each peer's share adds up to the host's... */
	ck_assert_uint_gt(a.incoming, 0);
	ck_assert_uint_gt(b.incoming, 0);
	ck_assert_uint_eq(a.incoming + b.incoming, st.total_incoming);
	ck_assert_uint_eq(a.active_grants, 2);
	ck_assert_uint_eq(b.active_grants, 1);
	/* ...and shrinks as the peer's bytes arrive. */
	data_from(&et_peer6, 20, 200000, 1424, 1424);
	ck_assert_int_eq(engine_peer_info(t.e, &et_peer6, &b), 0);
	engine_state(t.e, &st);
	ck_assert_uint_eq(a.incoming + b.incoming, st.total_incoming);
	/* An ended message gives its share back. */
	{
		struct homa_pkt p;

		memset(&p, 0, sizeof(p));
		p.type = HOMA_RPC_UNKNOWN;
		p.sport = ET_PEER_PORT;
		p.dport = ET_SERVER_PORT;
		p.sender_id = 20;
		et_rx(&t, &p, &et_peer6);
	}
	ck_assert_int_eq(engine_peer_info(t.e, &et_peer6, &b), 0);
	ck_assert_uint_eq(b.incoming, 0);
	ck_assert_uint_eq(b.active_grants, 0);
}
END_TEST

static Suite *grant_suite(void)
{
	Suite *s = suite_create("grant");
	TCase *tc = tcase_create("grant");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, grant_prio__by_rank_and_active_count);
	tcase_add_test(tc, grant_fifo_interval__default_320us);
	tcase_add_test(tc, grant_check__lone_message_window);
	tcase_add_test(tc, grant_check__slow_peer_capped);
	tcase_add_test(tc, grant_check__peer_cap_off);
	tcase_add_test(tc, grant_check__threshold_zero_grants_every_packet);
	tcase_add_test(tc, grant_check__threshold_never_stalls_sender);
	tcase_add_test(tc, grant_check__batch_grants_once);
	tcase_add_test(tc, grant_check__unscheduled_only_never_granted);
	tcase_add_test(tc, grant_check__rank_sets_window_and_priority);
	tcase_add_test(tc, grant_check__max_incoming_and_overcommit);
	tcase_add_test(tc, grant_check__freed_slot_goes_to_least_served_peer);
	tcase_add_test(tc, grant_check__shorter_message_preempts);
	tcase_add_test(tc, grant_check__fifo_grant_to_oldest);
	tcase_add_test(tc, grant_remove__rpc_end_clears_incoming);
	tcase_add_test(tc, grant_update_incoming__per_peer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(grant_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
