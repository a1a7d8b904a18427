/*
 * test_sock.c - unit tests of daemon/core/sock.c (sockets and ports).
 */
#include <check.h>
#include <errno.h>
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

START_TEST(sock_open__default_ports_from_0x8000)
{
	struct homa_sock *a, *b;

	/* The harness opened two: the client kept its default port. */
	ck_assert_uint_eq(engine_sock_port(t.cli), 0x8001);
	ck_assert_int_eq(engine_sock_open(t.e, NULL, &a), 0);
	ck_assert_int_eq(engine_sock_open(t.e, NULL, &b), 0);
	ck_assert_uint_eq(engine_sock_port(a), 0x8002);
	ck_assert_uint_eq(engine_sock_port(b), 0x8003);
	/* Not accepting requests until bound. */
	struct homa_sock_info si;
	engine_sock_info(a, &si);
	ck_assert(!si.server);
}
END_TEST

START_TEST(sock_open__max_sockets)
{
	struct homa_params p;
	struct homa_sock *s;

	et_free(&t);
	engine_params_default(&p);
	p.max_sockets = 3;
	et_init(&t, &p);
	ck_assert_int_eq(engine_sock_open(t.e, NULL, &s), 0);
	ck_assert_int_eq(engine_sock_open(t.e, NULL, &s), -EMFILE);
	engine_sock_close(t.e, s, t.now);
	ck_assert_int_eq(engine_sock_open(t.e, NULL, &s), 0);
}
END_TEST

START_TEST(sock_bind__port_rules)
{
	struct homa_sock *a;
	struct homa_sock_info si;

	ck_assert_int_eq(engine_sock_open(t.e, NULL, &a), 0);
	ck_assert_int_eq(engine_sock_bind(t.e, a, 0x8000), -EINVAL);
	ck_assert_int_eq(engine_sock_bind(t.e, a, ET_SERVER_PORT), -EADDRINUSE);
	/* Port 0: no change, and no server either. */
	ck_assert_int_eq(engine_sock_bind(t.e, a, 0), 0);
	engine_sock_info(a, &si);
	ck_assert(!si.server);
	ck_assert_int_eq(engine_sock_bind(t.e, a, 500), 0);
	ck_assert_uint_eq(engine_sock_port(a), 500);
	engine_sock_info(a, &si);
	ck_assert(si.server);
	/* Re-binding releases the old port. */
	ck_assert_int_eq(engine_sock_bind(t.e, a, 501), 0);
	ck_assert_ptr_null(sock_find(t.e, 500));
	ck_assert_ptr_eq(sock_find(t.e, 501), a);
	ck_assert_int_eq(engine_sock_bind(t.e, a, 501), 0);
}
END_TEST

START_TEST(sock_set_server__request_to_non_server_unreachable)
{
	ck_assert_int_eq(engine_sock_set_server(t.e, t.srv, false), 0);
	et_data(&t, ET_SERVER_PORT, 10, 1000, 1000, 0, 1000);
	ck_assert_uint_eq(t.unreach, 1);
	ck_assert_uint_eq(t.ndeliv, 0);
	/* A request to a port with no socket, too. */
	et_data(&t, 7777, 10, 1000, 1000, 0, 1000);
	ck_assert_uint_eq(t.unreach, 2);
	ck_assert_uint_eq(engine_metrics(t.e)->port_unreachables, 2);
	ck_assert_int_eq(engine_sock_set_server(t.e, t.srv, true), 0);
	et_data(&t, ET_SERVER_PORT, 10, 1000, 1000, 0, 1000);
	ck_assert_uint_eq(t.ndeliv, 1);
}
END_TEST

START_TEST(engine_sock_set_v4only__ipv6_peers_unreachable)
{
	struct homa_pkt pkt;

	engine_sock_set_v4only(t.srv, true);
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = HOMA_DATA;
	pkt.sport = ET_PEER_PORT;
	pkt.dport = ET_SERVER_PORT;
	pkt.sender_id = 10;
	pkt.u.data.message_length = 100;
	pkt.u.data.incoming = 100;
	pkt.u.data.payload_len = 100;
	/* An IPv6 peer cannot reach an AF_INET socket... */
	et_rx(&t, &pkt, &et_peer6);
	ck_assert_uint_eq(t.unreach, 1);
	ck_assert_uint_eq(t.ndeliv, 0);
	/* ...an IPv4 one can, and so can IPv6 once it is off. */
	et_rx(&t, &pkt, &et_peer);
	ck_assert_uint_eq(t.ndeliv, 1);
	engine_sock_set_v4only(t.srv, false);
	pkt.sender_id = 12;
	et_rx(&t, &pkt, &et_peer6);
	ck_assert_uint_eq(t.unreach, 1);
	ck_assert_uint_eq(t.ndeliv, 2);
}
END_TEST

START_TEST(sock_shutdown__ends_rpcs_releases_port)
{
	struct homa_engine_state st;
	struct homa_msgbuf mb = {"abc", 3, NULL};
	uint64_t id = 0;

	et_request(&t, 5000);
	et_data(&t, ET_SERVER_PORT, 10, 100000, 40000, 0, 1400);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.rpcs, 2);
	et_clear(&t);
	engine_sock_shutdown(t.e, t.srv, t.now);
	engine_sock_shutdown(t.e, t.cli, t.now);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.rpcs, 0);
	ck_assert_uint_eq(st.total_incoming, 0);
	/* Nothing sent, nothing delivered; buffers released on reaping. */
	ck_assert_uint_eq(t.nout, 0);
	ck_assert_uint_eq(t.ndeliv, 0);
	et_ticks(&t, 2);
	ck_assert_uint_eq(t.nreleased, 1);
	ck_assert_uint_eq(engine_sock_port(t.srv), 0);
	ck_assert_ptr_null(sock_find(t.e, ET_SERVER_PORT));
	id = 0;
	ck_assert_int_eq(engine_send_request(t.e, t.cli, &et_peer, 1, &mb, 0,
					     t.now, &id),
			 -ESHUTDOWN);
	ck_assert_int_eq(engine_sock_bind(t.e, t.srv, 5), -ESHUTDOWN);
	/* Packets for the old port are now unreachable. */
	et_data(&t, ET_SERVER_PORT, 10, 1000, 1000, 0, 1000);
	ck_assert_uint_eq(t.unreach, 1);
}
END_TEST

START_TEST(sock_wmem_release__send_space_after_eagain)
{
	struct homa_params p;
	uint64_t id = 0;
	static uint8_t buf[60000];
	struct homa_msgbuf mb = {buf, sizeof(buf), NULL};

	et_free(&t);
	engine_params_default(&p);
	p.wmem_max = 100000;
	et_init(&t, &p);
	id = 0;
	ck_assert_int_eq(engine_send_request(t.e, t.cli, &et_peer, 9, &mb, 0,
					     t.now, &id),
			 0);
	id = 0;
	ck_assert_int_eq(engine_send_request(t.e, t.cli, &et_peer, 9, &mb, 0,
					     t.now, &id),
			 -EAGAIN);
	ck_assert_uint_eq(engine_metrics(t.e)->wmem_full, 1);
	ck_assert_uint_eq(t.send_space, 0);
	engine_abort(t.e, t.cli, 0, 0, t.now);
	ck_assert_uint_eq(t.send_space, 1);
	id = 0;
	ck_assert_int_eq(engine_send_request(t.e, t.cli, &et_peer, 9, &mb, 0,
					     t.now, &id),
			 0);
}
END_TEST

START_TEST(sock_set_pool__once)
{
	static uint8_t region[4 * HOMA_BPAGE_SIZE];
	struct homa_sock *a;
	struct homa_sock_info si;

	ck_assert_int_eq(
		engine_sock_set_pool(t.e, t.srv, region, sizeof(region)),
		-EINVAL);
	ck_assert_int_eq(engine_sock_open(t.e, NULL, &a), 0);
	ck_assert_int_eq(engine_sock_set_pool(t.e, a, region, 100), -EINVAL);
	ck_assert_int_eq(engine_sock_set_pool(t.e, a, region, sizeof(region)),
			 0);
	engine_sock_info(a, &si);
	ck_assert_uint_eq(si.pool_avail_bytes, sizeof(region));
}
END_TEST

static Suite *sock_suite(void)
{
	Suite *s = suite_create("sock");
	TCase *tc = tcase_create("sock");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, sock_open__default_ports_from_0x8000);
	tcase_add_test(tc, sock_open__max_sockets);
	tcase_add_test(tc, sock_bind__port_rules);
	tcase_add_test(tc, sock_set_server__request_to_non_server_unreachable);
	tcase_add_test(tc, engine_sock_set_v4only__ipv6_peers_unreachable);
	tcase_add_test(tc, sock_shutdown__ends_rpcs_releases_port);
	tcase_add_test(tc, sock_wmem_release__send_space_after_eagain);
	tcase_add_test(tc, sock_set_pool__once);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sock_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
