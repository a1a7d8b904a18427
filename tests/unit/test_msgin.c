/*
 * test_msgin.c - unit tests of daemon/core/msgin.c (incoming messages:
 * gaps, duplicates, bpages, buffer waits, CUTOFFS) through the engine.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
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

static bool delivered_ok(const struct homa_delivery *d, const uint8_t *pool)
{
	uint32_t left = d->length;

	for (uint32_t c = 0; c < d->num_bpages; c++) {
		uint32_t n = left < HOMA_BPAGE_SIZE ? left : HOMA_BPAGE_SIZE;

		for (uint32_t i = 0; i < n; i++)
			if (pool[d->bpage_offsets[c] + i] !=
			    et_byte(c * HOMA_BPAGE_SIZE + i))
				return false;
		left -= n;
	}
	return true;
}

START_TEST(msgin_add_packet__gaps_and_duplicates)
{
	struct homa_msgin m;

	memset(&m, 0, sizeof(m));
	m.length = 10000;
	ck_assert_int_eq(msgin_add_packet(t.e, &m, 0, 1000), 0);
	ck_assert_int_eq(msgin_add_packet(t.e, &m, 0, 1000), -EEXIST);
	/* A gap [1000, 3000), then [5000, 6000). */
	ck_assert_int_eq(msgin_add_packet(t.e, &m, 3000, 1000), 0);
	ck_assert_int_eq(msgin_add_packet(t.e, &m, 6000, 1000), 0);
	ck_assert_uint_eq(m.num_gaps, 2);
	ck_assert_uint_eq(m.recv_end, 7000);
	/* Straddling recv_end, or a gap's edge: refused. */
	ck_assert_int_eq(msgin_add_packet(t.e, &m, 6500, 1000), -EEXIST);
	ck_assert_int_eq(msgin_add_packet(t.e, &m, 2500, 1000), -EEXIST);
	ck_assert_int_eq(msgin_add_packet(t.e, &m, 500, 1000), -EEXIST);
	/* The middle of a gap splits it. */
	ck_assert_int_eq(msgin_add_packet(t.e, &m, 1500, 500), 0);
	ck_assert_uint_eq(m.num_gaps, 3);
	ck_assert_uint_eq(m.gaps[0].start, 1000);
	ck_assert_uint_eq(m.gaps[0].end, 1500);
	ck_assert_uint_eq(m.gaps[1].start, 2000);
	ck_assert_uint_eq(m.gaps[1].end, 3000);
	/* Start, end and the whole of gaps. */
	ck_assert_int_eq(msgin_add_packet(t.e, &m, 1000, 500), 0);
	ck_assert_int_eq(msgin_add_packet(t.e, &m, 2500, 500), 0);
	ck_assert_int_eq(msgin_add_packet(t.e, &m, 2000, 500), 0);
	ck_assert_uint_eq(m.num_gaps, 1);
	ck_assert_int_eq(msgin_add_packet(t.e, &m, 5000, 1000), 0);
	ck_assert_int_eq(msgin_add_packet(t.e, &m, 4000, 1000), 0);
	ck_assert_uint_eq(m.num_gaps, 0);
	msgin_destroy(&m);
}
END_TEST

START_TEST(msgin_add_packet__gap_limit)
{
	struct homa_params p;
	struct homa_msgin m;

	et_free(&t);
	engine_params_default(&p);
	p.max_gaps = 2;
	et_init(&t, &p);
	memset(&m, 0, sizeof(m));
	m.length = 100000;
	ck_assert_int_eq(msgin_add_packet(t.e, &m, 1000, 1000), 0);
	ck_assert_int_eq(msgin_add_packet(t.e, &m, 3000, 1000), 0);
	ck_assert_int_eq(msgin_add_packet(t.e, &m, 5000, 1000), -ENOSPC);
	ck_assert_int_eq(msgin_add_packet(t.e, &m, 500, 100), -ENOSPC);
	ck_assert_int_eq(msgin_add_packet(t.e, &m, 4000, 1000), 0);
	msgin_destroy(&m);
}
END_TEST

START_TEST(msgin_data__request_delivered_byte_exact)
{
	const struct homa_delivery *d;

	/* Out of order: the RPC is created by any packet. */
	et_data(&t, ET_SERVER_PORT, 10, 3000, 3000, 1400, 1400);
	et_data(&t, ET_SERVER_PORT, 10, 3000, 3000, 2800, 200);
	ck_assert_uint_eq(t.ndeliv, 0);
	et_data(&t, ET_SERVER_PORT, 10, 3000, 3000, 0, 1400);
	ck_assert_uint_eq(t.ndeliv, 1);
	d = &t.deliv[0];
	ck_assert_int_eq(d->kind, HOMA_DELIVER_MESSAGE);
	ck_assert_uint_eq(d->id, 11);
	ck_assert_uint_eq(d->length, 3000);
	ck_assert_uint_eq(d->peer_port, ET_PEER_PORT);
	ck_assert_mem_eq(&d->peer, &et_peer, sizeof(et_peer));
	ck_assert_ptr_eq(d->sock, t.srv);
	ck_assert_uint_eq(d->num_bpages, 1);
	ck_assert(delivered_ok(d, t.pool_srv));
	ck_assert_uint_eq(engine_metrics(t.e)->server_requests_done, 1);
	/* The same version as ours: no CUTOFFS. */
	ck_assert_uint_eq(et_count(&t, HOMA_CUTOFFS), 0);
}
END_TEST

START_TEST(msgin_data__large_message_in_bpages)
{
	uint32_t len = 200000;

	for (uint32_t off = 0; off < len; off += 1424) {
		uint32_t n = len - off < 1424 ? len - off : 1424;

		et_data(&t, ET_SERVER_PORT, 10, len, len, off, n);
	}
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_uint_eq(t.deliv[0].num_bpages, 4);
	ck_assert(delivered_ok(&t.deliv[0], t.pool_srv));
}
END_TEST

START_TEST(msgin_data__at_most_once)
{
	et_data(&t, ET_SERVER_PORT, 10, 1000, 1000, 0, 1000);
	ck_assert_uint_eq(t.ndeliv, 1);
	/* The request again (a client retransmission): dropped. */
	et_data(&t, ET_SERVER_PORT, 10, 1000, 1000, 0, 1000);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->packet_discards, 1);
	/* A duplicate while receiving is dropped too. */
	et_data(&t, ET_SERVER_PORT, 20, 3000, 3000, 0, 1400);
	et_data(&t, ET_SERVER_PORT, 20, 3000, 3000, 0, 1400);
	ck_assert_uint_eq(engine_metrics(t.e)->packet_discards, 2);
	/* Inconsistent length: dropped. */
	et_data(&t, ET_SERVER_PORT, 20, 4000, 4000, 1400, 1400);
	ck_assert_uint_eq(engine_metrics(t.e)->packet_discards, 3);
}
END_TEST

START_TEST(msgin_data__cutoffs_for_stale_version_rate_limited)
{
	struct homa_pkt p;
	const struct et_out *c;

	memset(&p, 0, sizeof(p));
	p.type = HOMA_DATA;
	p.sport = ET_PEER_PORT;
	p.dport = ET_SERVER_PORT;
	p.sender_id = 10;
	p.u.data.message_length = 5000;
	p.u.data.incoming = 5000;
	p.u.data.cutoff_version = 0;
	p.u.data.payload_len = 1000;
	et_rx(&t, &p, &et_peer);
	ck_assert_uint_eq(et_count(&t, HOMA_CUTOFFS), 1);
	c = et_nth(&t, HOMA_CUTOFFS, 0);
	ck_assert_uint_eq(c->prio, 7);
	ck_assert_uint_eq(c->pkt.sport, ET_SERVER_PORT);
	ck_assert_uint_eq(c->pkt.dport, ET_PEER_PORT);
	ck_assert_uint_eq(c->pkt.sender_id, 11);
	ck_assert_uint_eq(c->pkt.u.cutoffs.cutoff_version, 1);
	ck_assert_uint_eq(c->pkt.u.cutoffs.unsched_cutoffs[7], 200);
	ck_assert_uint_eq(c->pkt.u.cutoffs.unsched_cutoffs[4], 1000000);
	ck_assert_uint_eq(c->pkt.u.cutoffs.unsched_cutoffs[0], 0);
	/* Within a millisecond: not again. */
	p.u.data.offset = 1000;
	p.u.data.payload = NULL;
	t.now += 500000;
	et_rx(&t, &p, &et_peer);
	ck_assert_uint_eq(et_count(&t, HOMA_CUTOFFS), 1);
	p.u.data.offset = 2000;
	p.u.data.payload = NULL;
	t.now += 600000;
	et_rx(&t, &p, &et_peer);
	ck_assert_uint_eq(et_count(&t, HOMA_CUTOFFS), 2);
}
END_TEST

START_TEST(msgin_data__socket_without_pool_drops_request)
{
	struct homa_sock *s;

	ck_assert_int_eq(engine_sock_open(t.e, NULL, &s), 0);
	ck_assert_int_eq(engine_sock_bind(t.e, s, 200), 0);
	et_data(&t, 200, 10, 1000, 1000, 0, 1000);
	ck_assert_uint_eq(t.ndeliv, 0);
	ck_assert_uint_eq(engine_metrics(t.e)->dropped_data_no_bufs, 1);
	struct homa_engine_state st;
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.rpcs, 0);
}
END_TEST

/* Send the whole request of client id, length len. */
static void whole_request(uint64_t id, uint32_t len)
{
	for (uint32_t off = 0; off < len; off += 1424) {
		uint32_t n = len - off < 1424 ? len - off : 1424;

		et_data(&t, ET_SERVER_PORT, id, len, len, off, n);
	}
}

START_TEST(msgin_get_bufs__wait_then_restart_with_resend)
{
	struct homa_engine_state st;
	struct homa_delivery first;
	const struct et_out *r;

	/* The pool has 128 bpages: eight 1 MB messages leave five free. */
	for (uint64_t id = 100; id < 116; id += 2)
		whole_request(id, 1000000);
	ck_assert_uint_eq(t.ndeliv, 8);
	first = t.deliv[0];
	et_clear(&t);
	et_data(&t, ET_SERVER_PORT, 14, 1000000, 40000, 0, 1424);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->buffer_alloc_failures, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->dropped_data_no_bufs, 1);
	/* A shorter message is not held up by it. */
	whole_request(16, 5000);
	ck_assert_uint_eq(t.ndeliv, 1);
	/* Waiting: no RESEND, no GRANT, no timeout. */
	et_ticks(&t, 150);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 0);
	ck_assert_uint_eq(et_count(&t, HOMA_GRANT), 0);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 1);
	/* Bad offsets are refused, nothing is returned. */
	ck_assert_int_eq(
		engine_recycle(t.e, t.srv, (uint32_t[]){0x12345678}, 1, t.now),
		-EINVAL);
	ck_assert_uint_eq(engine_metrics(t.e)->bad_recycles, 1);
	/* The application returns the first message's bpages: restart. */
	et_clear(&t);
	ck_assert_int_eq(engine_recycle(t.e, t.srv, first.bpage_offsets,
					first.num_bpages, t.now),
			 0);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 0);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 1);
	r = et_nth(&t, HOMA_RESEND, 0);
	ck_assert_uint_eq(r->pkt.u.resend.offset, 0);
	ck_assert_uint_eq(r->pkt.u.resend.length, HOMA_RESEND_ALL);
	ck_assert_uint_eq(r->pkt.u.resend.priority, 6);
	ck_assert_uint_eq(r->pkt.sender_id, 15);
	whole_request(14, 1000000);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert(delivered_ok(&t.deliv[0], t.pool_srv));
}
END_TEST

static Suite *msgin_suite(void)
{
	Suite *s = suite_create("msgin");
	TCase *tc = tcase_create("msgin");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, msgin_add_packet__gaps_and_duplicates);
	tcase_add_test(tc, msgin_add_packet__gap_limit);
	tcase_add_test(tc, msgin_data__request_delivered_byte_exact);
	tcase_add_test(tc, msgin_data__large_message_in_bpages);
	tcase_add_test(tc, msgin_data__at_most_once);
	tcase_add_test(tc, msgin_data__cutoffs_for_stale_version_rate_limited);
	tcase_add_test(tc, msgin_data__socket_without_pool_drops_request);
	tcase_add_test(tc, msgin_get_bufs__wait_then_restart_with_resend);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(msgin_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
