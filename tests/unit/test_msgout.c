/*
 * test_msgout.c - unit tests of daemon/core/msgout.c (outgoing messages:
 * packet boundaries, grants, retransmission) through the engine.
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

/* A control packet from the server of our client RPC id. */
static void from_server(enum homa_type type, uint64_t id, uint32_t a,
			uint32_t b, uint8_t prio)
{
	struct homa_pkt p;

	memset(&p, 0, sizeof(p));
	p.type = type;
	p.sport = ET_PEER_PORT;
	p.dport = engine_sock_port(t.cli);
	p.sender_id = id | 1;
	if (type == HOMA_GRANT) {
		p.u.grant.offset = a;
		p.u.grant.priority = prio;
	} else if (type == HOMA_RESEND) {
		p.u.resend.offset = a;
		p.u.resend.length = b;
		p.u.resend.priority = prio;
	}
	et_rx(&t, &p, &et_peer);
}

START_TEST(msgout_pkt_start__boundary_at_unscheduled_limit)
{
	struct homa_msgout m;

	memset(&m, 0, sizeof(m));
	m.length = 100000;
	m.unscheduled = 40000;
	m.seg = 1424;
	ck_assert_uint_eq(msgout_pkt_start(&m, 0), 0);
	ck_assert_uint_eq(msgout_pkt_start(&m, 1423), 0);
	ck_assert_uint_eq(msgout_pkt_start(&m, 1424), 1424);
	ck_assert_uint_eq(msgout_pkt_start(&m, 39999), 39872);
	ck_assert_uint_eq(msgout_pkt_len(&m, 39872), 128);
	ck_assert_uint_eq(msgout_pkt_start(&m, 40000), 40000);
	ck_assert_uint_eq(msgout_pkt_start(&m, 41423), 40000);
	ck_assert_uint_eq(msgout_pkt_start(&m, 41424), 41424);
	ck_assert_uint_eq(msgout_pkt_len(&m, 40000), 1424);
	/* The last packet: 100000 - 40000 = 42 x 1424 + 192. */
	ck_assert_uint_eq(msgout_pkt_start(&m, 99999), 99808);
	ck_assert_uint_eq(msgout_pkt_len(&m, 99808), 192);
}
END_TEST

START_TEST(msgout_xmit_one__unscheduled_packets)
{
	uint64_t id = et_request(&t, 100000);
	uint32_t expect = 0;

	et_pace(&t);
	ck_assert_uint_eq(id % 2, 0);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 29);
	for (size_t i = 0; i < 29; i++) {
		const struct et_out *o = et_nth(&t, HOMA_DATA, i);

		ck_assert_uint_eq(o->pkt.u.data.offset, expect);
		ck_assert_uint_eq(o->pkt.sequence, expect);
		ck_assert_uint_eq(o->pkt.u.data.seg_offset, expect);
		ck_assert_uint_eq(o->pkt.u.data.incoming, 40000);
		ck_assert_uint_eq(o->pkt.u.data.message_length, 100000);
		ck_assert_uint_eq(o->pkt.u.data.retransmit, 0);
		ck_assert_uint_eq(o->pkt.u.data.cutoff_version, 0);
		ck_assert_uint_eq(o->pkt.sender_id, id);
		ck_assert_uint_eq(o->pkt.dport, ET_PEER_PORT);
		ck_assert_uint_eq(o->pkt.sport, engine_sock_port(t.cli));
		/* No cutoffs from the peer yet: level 6. */
		ck_assert_uint_eq(o->prio, 6);
		ck_assert_mem_eq(o->pkt.u.data.payload,
				 (uint8_t[]){et_byte(expect)}, 1);
		expect += o->pkt.u.data.payload_len;
	}
	ck_assert_uint_eq(expect, 40000);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 28)->pkt.u.data.payload_len,
			  128);
}
END_TEST

START_TEST(msgout_xmit_one__ipv6_peer_smaller_packets)
{
	struct homa_msgbuf mb = {"x", 1, NULL};
	static uint8_t buf[5000];
	uint64_t id = 0;

	mb.data = buf;
	mb.length = sizeof(buf);
	id = 0;
	ck_assert_int_eq(engine_send_request(t.e, t.cli, &et_peer6, 99, &mb, 0,
					     t.now, &id),
			 0);
	et_pace(&t);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.payload_len,
			  1500 - 40 - 56);
}
END_TEST

START_TEST(msgout_grant__sends_whole_packets_below_grant)
{
	uint64_t id = et_request(&t, 100000);

	et_pace(&t);
	et_clear(&t);
	from_server(HOMA_GRANT, id, 50000, 0, 2);
	et_pace(&t);
	/* 40000 + 7 x 1424 = 49968 < 50000: 8 packets, up to 51392. */
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 8);
	for (size_t i = 0; i < 8; i++) {
		const struct et_out *o = et_nth(&t, HOMA_DATA, i);

		ck_assert_uint_eq(o->pkt.u.data.offset, 40000 + 1424 * i);
		ck_assert_uint_eq(o->prio, 2);
		ck_assert_uint_eq(o->pkt.u.data.incoming, 40000);
	}
	/* A grant that does not move forward sends nothing. */
	et_clear(&t);
	from_server(HOMA_GRANT, id, 45000, 0, 2);
	et_pace(&t);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 0);
	/* Grants past the end are capped. */
	from_server(HOMA_GRANT, id, 2000000, 0, 3);
	et_pace(&t);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 43 - 8);
}
END_TEST

START_TEST(msgout_grant__ignored_once_response_arrives)
{
	uint64_t id = et_request(&t, 100000);

	et_pace(&t);
	/* First byte of the response. */
	et_data(&t, engine_sock_port(t.cli), id | 1, 5000, 5000, 0, 1000);
	et_clear(&t);
	from_server(HOMA_GRANT, id, 100000, 0, 2);
	et_pace(&t);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 0);
}
END_TEST

START_TEST(msgout_resend__same_boundaries_retransmit)
{
	uint64_t id = et_request(&t, 100000);

	et_pace(&t);
	et_clear(&t);
	t.now += 2 * ET_MS; /* sent long enough ago to be sent again */
	from_server(HOMA_RESEND, id, 2000, 1000, 5);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 2);
	for (size_t i = 0; i < 2; i++) {
		const struct et_out *o = et_nth(&t, HOMA_DATA, i);

		ck_assert_uint_eq(o->pkt.u.data.offset, 1424 * (i + 1));
		ck_assert_uint_eq(o->pkt.u.data.payload_len, 1424);
		ck_assert_uint_eq(o->pkt.u.data.retransmit, 1);
		ck_assert_uint_eq(o->pkt.u.data.incoming, 3000);
		ck_assert_uint_eq(o->prio, 5);
	}
	ck_assert_uint_eq(engine_metrics(t.e)->resent_packets, 2);
	/* The short packet at the unscheduled limit is resent as it was. */
	et_clear(&t);
	from_server(HOMA_RESEND, id, 39900, 50, 7);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 1);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.offset, 39872);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.payload_len,
			  128);
}
END_TEST

START_TEST(msgout_resend__beyond_sent_busy_and_implicit_grant)
{
	uint64_t id = et_request(&t, 100000);

	et_pace(&t);
	et_clear(&t);
	from_server(HOMA_RESEND, id, 40000, 20000, 4);
	et_pace(&t);
	ck_assert_uint_eq(et_count(&t, HOMA_BUSY), 1);
	ck_assert_uint_eq(et_nth(&t, HOMA_BUSY, 0)->pkt.sender_id, id);
	/* New packets up to the end of the range: 40000 .. 59936. */
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 15);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.retransmit, 0);
}
END_TEST

START_TEST(msgout_resend__all_resends_what_was_sent)
{
	uint64_t id = et_request(&t, 3000);

	et_pace(&t);
	et_clear(&t);
	t.now += 2 * ET_MS; /* sent long enough ago to be sent again */
	from_server(HOMA_RESEND, id, 0, HOMA_RESEND_ALL, 7);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 3);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 2)->pkt.u.data.incoming, 3000);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 2)->pkt.u.data.retransmit, 1);
}
END_TEST

START_TEST(msgout_resend__not_again_within_guard)
{
	uint64_t id = et_request(&t, 3000);
	const struct homa_metrics *m = engine_metrics(t.e);

	et_pace(&t);
	et_clear(&t);
	/* Asked for at once: the packets may still be on their way. */
	from_server(HOMA_RESEND, id, 0, HOMA_RESEND_ALL, 7);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 0);
	ck_assert_uint_eq(m->resend_skipped_recent, 3);
	/* A tick later (no RTT measured: the guard is one tick). */
	t.now += ET_MS;
	from_server(HOMA_RESEND, id, 0, HOMA_RESEND_ALL, 7);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 3);
	ck_assert_uint_eq(m->resent_packets, 3);
	ck_assert_uint_eq(m->resent_bytes, 3000);
	/* Asked again while the retransmission travels: not again. */
	et_clear(&t);
	t.now += ET_MS / 2;
	from_server(HOMA_RESEND, id, 1424, 100, 7);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 0);
	ck_assert_uint_eq(m->resend_skipped_recent, 4);
	t.now += ET_MS / 2;
	from_server(HOMA_RESEND, id, 1424, 100, 7);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 1);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.offset, 1424);
}
END_TEST

START_TEST(msgout_resend__old_bytes_go_new_ones_wait)
{
	uint64_t id = et_request(&t, 200000);
	const struct homa_metrics *m = engine_metrics(t.e);
	size_t n;

	et_pace(&t); /* 40000 unscheduled bytes: 29 packets */
	t.now += 10000;
	from_server(HOMA_GRANT, id, 60000, 0, 2); /* RTT sample: 10 us */
	et_pace(&t);				  /* 15 more */
	t.now += 5 * ET_MS;
	from_server(HOMA_GRANT, id, 80000, 0, 2);
	et_pace(&t); /* 14 more, sent now */
	et_clear(&t);
	/* Everything sent so far: only the 5 ms old bytes go again. */
	from_server(HOMA_RESEND, id, 0, HOMA_RESEND_ALL, 7);
	n = et_count(&t, HOMA_DATA);
	ck_assert_uint_eq(n, 44);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, n - 1)->pkt.u.data.offset,
			  59936);
	ck_assert_uint_eq(m->resend_skipped_recent, 14);
}
END_TEST

START_TEST(msgout_resend__rpc_unknown_restarts_request)
{
	uint64_t id = et_request(&t, 60000);

	et_pace(&t);
	et_clear(&t);
	et_ctrl(&t, HOMA_RPC_UNKNOWN, engine_sock_port(t.cli), id | 1);
	/* [0, sent) again, at the unscheduled priority. */
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 29);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->prio, 6);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.retransmit, 1);
}
END_TEST

/*
 * The server answers two RESENDs that reached it together with two
 * RPC_UNKNOWNs: the request starts again once, not twice (the second copy
 * would only queue behind the first); a later RPC_UNKNOWN, once the
 * restart had time to arrive, restarts it again.
 */
START_TEST(msgout_resend__rpc_unknowns_together_restart_once)
{
	uint64_t id = et_request(&t, 3000);
	const struct homa_metrics *m = engine_metrics(t.e);

	et_pace(&t);
	t.now += 2 * ET_MS;
	et_clear(&t);
	et_ctrl(&t, HOMA_RPC_UNKNOWN, engine_sock_port(t.cli), id | 1);
	et_ctrl(&t, HOMA_RPC_UNKNOWN, engine_sock_port(t.cli), id | 1);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 3);
	ck_assert_uint_eq(m->resent_packets, 3);
	ck_assert_uint_eq(m->resend_skipped_recent, 3);
	/* A tick later (the guard: no RTT measured): once more. */
	t.now += ET_MS;
	et_clear(&t);
	et_ctrl(&t, HOMA_RPC_UNKNOWN, engine_sock_port(t.cli), id | 1);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 3);
	ck_assert_uint_eq(m->resent_packets, 6);
}
END_TEST

START_TEST(msgout_xmit_one__priority_from_peer_cutoffs)
{
	struct homa_pkt p;
	static const uint32_t cut[8] = {0, 0, 0, 0, 1000000, 15000, 2800, 200};

	memset(&p, 0, sizeof(p));
	p.type = HOMA_CUTOFFS;
	p.sport = ET_PEER_PORT;
	p.dport = engine_sock_port(t.cli);
	memcpy(p.u.cutoffs.unsched_cutoffs, cut, sizeof(cut));
	p.u.cutoffs.cutoff_version = 3;
	et_request(&t, 100); /* the peer exists now */
	et_rx(&t, &p, &et_peer);
	et_clear(&t);
	et_request(&t, 100);
	et_request(&t, 2000);
	et_request(&t, 10000);
	et_request(&t, 500000);
	et_pace(&t);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->prio, 7);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.cutoff_version,
			  3);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 1)->prio, 6);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 3)->prio, 5);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 20)->prio, 4);
}
END_TEST

START_TEST(msgout_grant__first_grant_samples_rtt)
{
	uint64_t t0 = t.now;
	uint64_t id = et_request(&t, 100000);
	struct homa_peer_info pi;

	et_pace(&t);
	ck_assert_uint_lt(t.now, t0 + 20000);
	t.now = t0 + 20000;
	from_server(HOMA_GRANT, id, 60000, 0, 2);
	ck_assert_int_eq(engine_peer_info(t.e, &et_peer, &pi), 0);
	ck_assert_uint_eq(pi.rtt_ns, 20000);
	ck_assert_uint_eq(pi.rtt_samples, 1);
	/* Later GRANTs of the message take no sample. */
	t.now += 1000;
	from_server(HOMA_GRANT, id, 100000, 0, 2);
	ck_assert_int_eq(engine_peer_info(t.e, &et_peer, &pi), 0);
	ck_assert_uint_eq(pi.rtt_samples, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->rtt_samples, 1);
	/* Off by default: new messages keep 40000 unscheduled bytes. */
	ck_assert_uint_eq(pi.unsched_bytes, 40000);
	/* A message sent whole unscheduled opens no probe. */
	et_clear(&t);
	id = et_request(&t, 1000);
	t.now += 5000;
	from_server(HOMA_GRANT, id, 1000, 0, 2);
	ck_assert_int_eq(engine_peer_info(t.e, &et_peer, &pi), 0);
	ck_assert_uint_eq(pi.rtt_samples, 1);
}
END_TEST

START_TEST(msgout_init__unscheduled_from_rtt_fixed_boundary)
{
	struct homa_peer *p = peer_get(t.e, &et_peer, t.now);
	uint64_t id;
	uint32_t expect = 0;
	size_t n;

	t.p.unsched_from_rtt = 1;
	engine_set_params(t.e, &t.p);
	peer_rtt_sample(p, 5000, t.now); /* 15625 bytes */
	id = et_request(&t, 100000);
	et_pace(&t);
	/* 10 full packets and a short one ending at the limit. */
	n = et_count(&t, HOMA_DATA);
	ck_assert_uint_eq(n, 11);
	for (size_t i = 0; i < n; i++) {
		const struct et_out *o = et_nth(&t, HOMA_DATA, i);

		ck_assert_uint_eq(o->pkt.u.data.offset, expect);
		ck_assert_uint_eq(o->pkt.u.data.incoming, 15625);
		expect += o->pkt.u.data.payload_len;
	}
	ck_assert_uint_eq(expect, 15625);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 10)->pkt.u.data.payload_len,
			  15625 - 10 * 1424);
	ck_assert_uint_eq(engine_metrics(t.e)->rtt_unsched_cuts, 1);
	/* Scheduled packets start at the limit.  (The GRANT closes the
	 * RTT probe with a sample above 5 us: the estimate stays.) */
	et_clear(&t);
	t.now += 10000;
	from_server(HOMA_GRANT, id, 20000, 0, 1);
	et_pace(&t);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 4);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.offset, 15625);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 3)->pkt.u.data.offset,
			  15625 + 3 * 1424);
	/* Retransmission: the very same boundaries. */
	et_clear(&t);
	t.now += 2 * ET_MS; /* sent long enough ago to be sent again */
	from_server(HOMA_RESEND, id, 15000, 2000, 4);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 2);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.offset, 14240);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.payload_len,
			  1385);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 1)->pkt.u.data.offset, 15625);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 1)->pkt.u.data.payload_len,
			  1424);
	/* A message below the limit is sent whole, uncounted. */
	et_clear(&t);
	et_request(&t, 10000);
	et_pace(&t);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.incoming, 10000);
	ck_assert_uint_eq(engine_metrics(t.e)->rtt_unsched_cuts, 1);
}
END_TEST

START_TEST(msgout_xmit_packet__homad_marker_and_incast_flag)
{
	const struct et_out *o;
	uint64_t id3;

	t.p.incast_threshold = 2;
	engine_set_params(t.e, &t.p);
	/* The peer is not known to be homad: marker, no flag. */
	et_request(&t, 100);
	o = et_nth(&t, HOMA_DATA, 0);
	ck_assert_uint_eq(o->pkt.u.data.pad[0], 'H');
	ck_assert_uint_eq(o->pkt.u.data.pad[1], 'D');
	ck_assert_uint_eq(o->pkt.u.data.pad[2], 0);
	/* Its DATA carries the marker: a homad peer. */
	et_data_pad(&t, ET_SERVER_PORT, 10, 100, 100, 0, 100, 'H', 'D', 0);
	ck_assert_uint_eq(engine_metrics(t.e)->homad_peers_seen, 1);
	et_clear(&t);
	et_request(&t, 100); /* 2 client RPCs: not more than 2 */
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.pad[2], 0);
	et_clear(&t);
	id3 = et_request(&t, 100000); /* 3: in incast */
	et_pace(&t);
	for (size_t i = 0; i < et_count(&t, HOMA_DATA); i++)
		ck_assert_uint_eq(et_nth(&t, HOMA_DATA, i)->pkt.u.data.pad[2],
				  HOMAD_FLAG_INCAST);
	ck_assert_uint_eq(engine_metrics(t.e)->incast_requests, 1);
	/* The peer turns out not to be homad (a kernel module there now):
	 * nothing but the marker goes to it, retransmissions included. */
	et_data(&t, ET_SERVER_PORT, 20, 100, 100, 0, 100);
	et_clear(&t);
	t.now += 2 * ET_MS; /* sent long enough ago to be sent again */
	from_server(HOMA_RESEND, id3, 0, 1000, 4);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 1);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.pad[2], 0);
	et_clear(&t);
	et_request(&t, 100);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.pad[2], 0);
	ck_assert_uint_eq(engine_metrics(t.e)->incast_requests, 1);
}
END_TEST

static Suite *msgout_suite(void)
{
	Suite *s = suite_create("msgout");
	TCase *tc = tcase_create("msgout");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, msgout_pkt_start__boundary_at_unscheduled_limit);
	tcase_add_test(tc, msgout_xmit_one__unscheduled_packets);
	tcase_add_test(tc, msgout_xmit_one__ipv6_peer_smaller_packets);
	tcase_add_test(tc, msgout_xmit_one__priority_from_peer_cutoffs);
	tcase_add_test(tc, msgout_grant__sends_whole_packets_below_grant);
	tcase_add_test(tc, msgout_grant__ignored_once_response_arrives);
	tcase_add_test(tc, msgout_resend__same_boundaries_retransmit);
	tcase_add_test(tc, msgout_resend__beyond_sent_busy_and_implicit_grant);
	tcase_add_test(tc, msgout_resend__all_resends_what_was_sent);
	tcase_add_test(tc, msgout_resend__not_again_within_guard);
	tcase_add_test(tc, msgout_resend__old_bytes_go_new_ones_wait);
	tcase_add_test(tc, msgout_resend__rpc_unknown_restarts_request);
	tcase_add_test(tc, msgout_resend__rpc_unknowns_together_restart_once);
	tcase_add_test(tc, msgout_grant__first_grant_samples_rtt);
	tcase_add_test(tc, msgout_init__unscheduled_from_rtt_fixed_boundary);
	tcase_add_test(tc, msgout_xmit_packet__homad_marker_and_incast_flag);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(msgout_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
