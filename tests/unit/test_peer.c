/*
 * test_peer.c - unit tests of daemon/core/peer.c (peer table, cutoffs,
 * acks, pacing caps).
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

static struct homa_addr addr_n(unsigned n)
{
	struct homa_addr a = et_peer;

	a.in6.s6_addr[14] = (uint8_t)(n >> 8);
	a.in6.s6_addr[15] = (uint8_t)n;
	return a;
}

START_TEST(peer_get__creates_once)
{
	struct homa_peer *a = peer_get(t.e, &et_peer, t.now);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_eq(peer_get(t.e, &et_peer, t.now), a);
	ck_assert_ptr_eq(peer_find(t.e, &et_peer), a);
	ck_assert_ptr_null(peer_find(t.e, &et_peer2));
	ck_assert_uint_eq(engine_metrics(t.e)->peer_new_entries, 1);
	ck_assert(!a->ipv6);
	ck_assert(peer_get(t.e, &et_peer6, t.now)->ipv6);
}
END_TEST

START_TEST(peer_get__evicts_idlest_unheld)
{
	struct homa_params p;
	struct homa_addr a;

	et_free(&t);
	engine_params_default(&p);
	p.max_peers = 3;
	et_init(&t, &p);
	for (unsigned i = 1; i <= 3; i++) {
		a = addr_n(i);
		ck_assert_ptr_nonnull(peer_get(t.e, &a, t.now + i));
	}
	/* Peer 1 is held by an RPC: peer 2 is the idlest unheld one. */
	peer_hold(t.e, peer_find(t.e, &(struct homa_addr){addr_n(1).in6}),
		  t.now);
	a = addr_n(4);
	ck_assert_ptr_nonnull(peer_get(t.e, &a, t.now + 10));
	ck_assert_uint_eq(engine_metrics(t.e)->peer_evictions, 1);
	a = addr_n(2);
	ck_assert_ptr_null(peer_find(t.e, &a));
	a = addr_n(1);
	ck_assert_ptr_nonnull(peer_find(t.e, &a));
}
END_TEST

START_TEST(peer_get__full_of_held_peers_refuses)
{
	struct homa_params p;
	struct homa_addr a;

	et_free(&t);
	engine_params_default(&p);
	p.max_peers = 2;
	et_init(&t, &p);
	for (unsigned i = 1; i <= 2; i++) {
		a = addr_n(i);
		peer_hold(t.e, peer_get(t.e, &a, t.now), t.now);
	}
	a = addr_n(3);
	ck_assert_ptr_null(peer_get(t.e, &a, t.now));
	ck_assert_uint_eq(engine_metrics(t.e)->peer_table_full, 1);
	/* A hostile flood of requests from new hosts: counted, dropped. */
	for (unsigned i = 10; i < 20; i++) {
		struct homa_pkt pk;

		memset(&pk, 0, sizeof(pk));
		pk.type = HOMA_DATA;
		pk.sport = 1;
		pk.dport = ET_SERVER_PORT;
		pk.sender_id = 2;
		pk.u.data.message_length = 100;
		pk.u.data.incoming = 100;
		pk.u.data.payload_len = 100;
		a = addr_n(i);
		et_rx(&t, &pk, &a);
	}
	ck_assert_uint_eq(engine_metrics(t.e)->peer_table_full, 11);
	ck_assert_uint_eq(t.ndeliv, 0);
}
END_TEST

START_TEST(peer_unsched_prio__initial_then_cutoffs)
{
	struct homa_peer *p = peer_get(t.e, &et_peer, t.now);
	struct homa_pkt c;
	static const uint32_t cut[8] = {0, 0, 0, 0, 1000000, 15000, 2800, 200};

	ck_assert_uint_eq(peer_unsched_prio(t.e, p, 1), 6);
	ck_assert_uint_eq(peer_unsched_prio(t.e, p, 1000000), 6);
	memset(&c, 0, sizeof(c));
	memcpy(c.u.cutoffs.unsched_cutoffs, cut, sizeof(cut));
	c.u.cutoffs.cutoff_version = 9;
	peer_set_cutoffs(p, &c);
	ck_assert_uint_eq(p->cutoff_version, 9);
	ck_assert_uint_eq(peer_unsched_prio(t.e, p, 200), 7);
	ck_assert_uint_eq(peer_unsched_prio(t.e, p, 201), 6);
	ck_assert_uint_eq(peer_unsched_prio(t.e, p, 15000), 5);
	ck_assert_uint_eq(peer_unsched_prio(t.e, p, 1000000), 4);
	/* Entry 0 admits everything. */
	c.u.cutoffs.unsched_cutoffs[4] = 100;
	peer_set_cutoffs(p, &c);
	ck_assert_uint_eq(peer_unsched_prio(t.e, p, 1000000), 0);
}
END_TEST

START_TEST(peer_add_ack__sixth_sends_ack_packet)
{
	struct homa_peer *p = peer_get(t.e, &et_peer, t.now);
	const struct et_out *o;
	struct homa_ack a;

	for (uint64_t i = 1; i <= 5; i++)
		peer_add_ack(t.e, p, 0x8001, 100, 2 * i, t.now);
	ck_assert_uint_eq(p->num_acks, 5);
	ck_assert_uint_eq(t.nout, 0);
	peer_add_ack(t.e, p, 0x8001, 101, 12, t.now);
	ck_assert_uint_eq(et_count(&t, HOMA_ACK), 1);
	o = et_nth(&t, HOMA_ACK, 0);
	ck_assert_uint_eq(o->len, HOMA_ACK_LEN);
	ck_assert_uint_eq(o->pkt.sender_id, 12);
	ck_assert_uint_eq(o->pkt.sport, 0x8001);
	ck_assert_uint_eq(o->pkt.dport, 101);
	ck_assert_uint_eq(o->pkt.u.ack.num_acks, 5);
	ck_assert_uint_eq(o->pkt.u.ack.acks[4].client_id, 10);
	ck_assert_uint_eq(o->pkt.u.ack.acks[4].server_port, 100);
	ck_assert_uint_eq(p->num_acks, 0);
	ck_assert(!peer_pop_ack(p, &a));
}
END_TEST

START_TEST(peer_set_rate__first_matching_prefix)
{
	struct homa_params p;
	struct homa_peer *a, *b, *c;

	et_free(&t);
	engine_params_default(&p);
	p.n_rate_rules = 2;
	p.rate_rules[0].prefix = et_peer;
	p.rate_rules[0].prefix_len = 128;
	p.rate_rules[0].mbps = 1000;
	p.rate_rules[1].prefix = et_peer; /* 10.0.0.0/24 */
	p.rate_rules[1].prefix_len = 96 + 24;
	p.rate_rules[1].mbps = 5000;
	et_init(&t, &p);
	a = peer_get(t.e, &et_peer, t.now);
	b = peer_get(t.e, &et_peer2, t.now);
	c = peer_get(t.e, &et_peer6, t.now);
	ck_assert_uint_eq(a->rate_mbps, 1000);
	ck_assert_uint_eq(b->rate_mbps, 5000);
	ck_assert_uint_eq(c->rate_mbps, 0);
	/* A reload applies new rules to known peers. */
	p.n_rate_rules = 0;
	engine_set_params(t.e, &p);
	ck_assert_uint_eq(a->rate_mbps, 0);
}
END_TEST

START_TEST(peer_max_payload__by_family_and_mtu)
{
	struct homa_params p;

	ck_assert_uint_eq(peer_max_payload(t.e, peer_get(t.e, &et_peer, 0)),
			  1424);
	ck_assert_uint_eq(peer_max_payload(t.e, peer_get(t.e, &et_peer6, 0)),
			  1404);
	engine_params_default(&p);
	p.mtu = 9000;
	engine_set_params(t.e, &p);
	ck_assert_uint_eq(peer_max_payload(t.e, peer_find(t.e, &et_peer)),
			  8924);
}
END_TEST

START_TEST(peer_rtt_sample__windowed_minimum)
{
	struct homa_peer *p = peer_get(t.e, &et_peer, t.now);
	uint64_t t0 = t.now, w = PEER_RTT_WINDOW_NS;

	ck_assert_uint_eq(p->rtt_ns, 0);
	peer_rtt_sample(p, 10000, t0);
	ck_assert_uint_eq(p->rtt_ns, 10000);
	/* Queueing inflates samples: the minimum stays. */
	peer_rtt_sample(p, 20000, t0 + 10);
	ck_assert_uint_eq(p->rtt_ns, 10000);
	peer_rtt_sample(p, 8000, t0 + 20);
	ck_assert_uint_eq(p->rtt_ns, 8000);
	/* A new window remembers the last one's minimum... */
	peer_rtt_sample(p, 30000, t0 + w + w / 2);
	ck_assert_uint_eq(p->rtt_ns, 8000);
	/* ...for one more window only: the path may have changed. */
	peer_rtt_sample(p, 40000, t0 + 2 * w + w / 2 + 1);
	ck_assert_uint_eq(p->rtt_ns, 30000);
	peer_rtt_sample(p, 50000, t0 + 6 * w);
	ck_assert_uint_eq(p->rtt_ns, 50000);
	/* A zero sample counts as 1 ns (0 means "none"). */
	peer_rtt_sample(p, 0, t0 + 6 * w + 1);
	ck_assert_uint_eq(p->rtt_ns, 1);
	ck_assert_uint_eq(p->rtt_samples, 7);
}
END_TEST

START_TEST(peer_unsched_bytes__from_rtt_bounded)
{
	struct homa_peer *p = peer_get(t.e, &et_peer, t.now);
	struct homa_peer *p6 = peer_get(t.e, &et_peer6, t.now);

	/* Off (the default): always unsched_bytes. */
	peer_rtt_sample(p, 5000, t.now);
	ck_assert_uint_eq(peer_unsched_bytes(t.e, p), 40000);
	t.p.unsched_from_rtt = 1;
	engine_set_params(t.e, &t.p);
	/* No sample yet: unsched_bytes. */
	ck_assert_uint_eq(peer_unsched_bytes(t.e, p6), 40000);
	/* 5 us x 25 Gbit/s = 15625 bytes. */
	ck_assert_uint_eq(peer_unsched_bytes(t.e, p), 15625);
	/* At least one full packet (1424 B to an IPv4 peer, 1404 IPv6). */
	peer_rtt_sample(p, 100, t.now);
	ck_assert_uint_eq(peer_unsched_bytes(t.e, p), 1424);
	peer_rtt_sample(p6, 100, t.now);
	ck_assert_uint_eq(peer_unsched_bytes(t.e, p6), 1404);
	/* At most unsched_bytes. */
	p->rtt_ns = 1000000;
	ck_assert_uint_eq(peer_unsched_bytes(t.e, p), 40000);
	/* A pacing cap below the link rate is the peer's rate. */
	p->rtt_ns = 5000;
	p->rate_mbps = 10000;
	ck_assert_uint_eq(peer_unsched_bytes(t.e, p), 6250);
	p->rate_mbps = 100000;
	ck_assert_uint_eq(peer_unsched_bytes(t.e, p), 15625);
}
END_TEST

START_TEST(pkt_has_homad_marker__magic_in_data_pad_only)
{
	struct homa_pkt pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = HOMA_DATA;
	ck_assert(!pkt_has_homad_marker(&pkt));
	pkt.u.data.pad[0] = HOMAD_PAD_MAGIC0;
	ck_assert(!pkt_has_homad_marker(&pkt));
	pkt.u.data.pad[1] = HOMAD_PAD_MAGIC1;
	ck_assert(pkt_has_homad_marker(&pkt));
	pkt.type = HOMA_GRANT;
	ck_assert(!pkt_has_homad_marker(&pkt));
}
END_TEST

static Suite *peer_suite(void)
{
	Suite *s = suite_create("peer");
	TCase *tc = tcase_create("peer");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, peer_get__creates_once);
	tcase_add_test(tc, peer_get__evicts_idlest_unheld);
	tcase_add_test(tc, peer_get__full_of_held_peers_refuses);
	tcase_add_test(tc, peer_unsched_prio__initial_then_cutoffs);
	tcase_add_test(tc, peer_add_ack__sixth_sends_ack_packet);
	tcase_add_test(tc, peer_set_rate__first_matching_prefix);
	tcase_add_test(tc, peer_max_payload__by_family_and_mtu);
	tcase_add_test(tc, peer_rtt_sample__windowed_minimum);
	tcase_add_test(tc, peer_unsched_bytes__from_rtt_bounded);
	tcase_add_test(tc, pkt_has_homad_marker__magic_in_data_pad_only);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(peer_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
