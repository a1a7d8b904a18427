/*
 * test_rpc.c - unit tests of daemon/core/rpc.c (RPC table and life cycle:
 * ids, delivery, acks, ended server RPCs, aborts, limits, reaping) and of
 * the engine's RPC commands and ICMP input.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "enginetest.h"

static struct et t;
static uint8_t resp[3000];

static void setup(void)
{
	et_init(&t, NULL);
}

static void teardown(void)
{
	et_free(&t);
}

/* A whole 1000-byte request of client id from et_peer. */
static void request(uint64_t id)
{
	et_data(&t, ET_SERVER_PORT, id, 1000, 1000, 0, 1000);
}

static int respond(uint64_t id)
{
	struct homa_msgbuf mb = {resp, sizeof(resp), resp};

	return engine_send_response(t.e, t.srv, id, &et_peer, &mb, t.now);
}

static uint32_t nrpcs(void)
{
	struct homa_engine_state st;

	engine_state(t.e, &st);
	return st.rpcs;
}

START_TEST(rpc_new_client__even_increasing_ids)
{
	uint64_t a = et_request(&t, 10), b = et_request(&t, 10);

	ck_assert_uint_eq(a % 2, 0);
	ck_assert_uint_eq(b, a + 2);
	ck_assert_ptr_nonnull(rpc_find(t.e, a, NULL));
	ck_assert_ptr_null(rpc_find(t.e, a + 1, NULL));
}
END_TEST

START_TEST(rpc_deliver__response_ends_rpc_and_queues_ack)
{
	uint64_t id = et_request(&t, 100);
	const struct homa_delivery *d;

	et_data(&t, engine_sock_port(t.cli), id | 1, 2000, 2000, 0, 1424);
	et_data(&t, engine_sock_port(t.cli), id | 1, 2000, 2000, 1424, 576);
	ck_assert_uint_eq(t.ndeliv, 1);
	d = &t.deliv[0];
	ck_assert_uint_eq(d->id, id);
	ck_assert_uint_eq(d->cookie, 77);
	ck_assert_uint_eq(d->length, 2000);
	ck_assert_ptr_eq(d->sock, t.cli);
	ck_assert_uint_eq(nrpcs(), 0);
	ck_assert_uint_eq(peer_find(t.e, &et_peer)->num_acks, 1);
	/* The request's bytes go back within the same engine_rx call (so
	 * the application hears of it with the response). */
	ck_assert_uint_eq(t.nreleased, 1);
	/* The next request carries the ack. */
	et_clear(&t);
	et_request(&t, 100);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.ack.client_id,
			  id);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.ack.server_port,
			  ET_PEER_PORT);
	ck_assert_uint_eq(peer_find(t.e, &et_peer)->num_acks, 0);
	/* The late duplicate of the response: unknown RPC, dropped. */
	et_data(&t, engine_sock_port(t.cli), id | 1, 2000, 2000, 0, 1424);
	ck_assert_uint_eq(engine_metrics(t.e)->unknown_rpcs, 1);
}
END_TEST

START_TEST(rpc_acked__piggybacked_ack_ends_server_rpc)
{
	struct homa_pkt p;

	request(10);
	ck_assert_int_eq(respond(11), 0);
	ck_assert_uint_eq(nrpcs(), 1);
	memset(&p, 0, sizeof(p));
	p.type = HOMA_DATA;
	p.sport = ET_PEER_PORT;
	p.dport = ET_SERVER_PORT;
	p.sender_id = 20;
	p.u.data.message_length = 100;
	p.u.data.incoming = 100;
	p.u.data.payload_len = 100;
	p.u.data.cutoff_version = 1;
	p.u.data.ack.client_id = 10;
	p.u.data.ack.server_port = ET_SERVER_PORT;
	et_rx(&t, &p, &et_peer);
	ck_assert_uint_eq(engine_metrics(t.e)->acks_received, 1);
	ck_assert_ptr_null(rpc_find(t.e, 11, peer_find(t.e, &et_peer)));
	ck_assert_uint_eq(nrpcs(), 1); /* the new request, 21 */
	/* The response buffer goes back at once (reaped at the end of the
	 * engine_rx call that ended the RPC). */
	ck_assert_uint_eq(t.nreleased, 1);
	ck_assert_ptr_eq(t.released[0], resp);
}
END_TEST

START_TEST(rpc_acked__ack_packet_ends_header_and_list)
{
	struct homa_pkt p;

	request(10);
	request(12);
	request(14);
	ck_assert_uint_eq(nrpcs(), 3);
	memset(&p, 0, sizeof(p));
	p.type = HOMA_ACK;
	p.sport = ET_PEER_PORT;
	p.dport = ET_SERVER_PORT;
	p.sender_id = 10;
	p.u.ack.num_acks = 2;
	p.u.ack.acks[0].client_id = 12;
	p.u.ack.acks[0].server_port = ET_SERVER_PORT;
	p.u.ack.acks[1].client_id = 14;
	p.u.ack.acks[1].server_port = 999; /* not ours: ignored */
	et_rx(&t, &p, &et_peer);
	ck_assert_uint_eq(nrpcs(), 1);
	ck_assert_ptr_nonnull(rpc_find(t.e, 15, peer_find(t.e, &et_peer)));
}
END_TEST

/* An ACK packet from et_peer for client RPC id. */
static void ack(uint64_t id)
{
	struct homa_pkt p;

	memset(&p, 0, sizeof(p));
	p.type = HOMA_ACK;
	p.sport = ET_PEER_PORT;
	p.dport = ET_SERVER_PORT;
	p.sender_id = id;
	et_rx(&t, &p, &et_peer);
}

/* Request id delivered, answered, acked; its bpages given back. */
static void serve_and_ack(uint64_t id)
{
	et_clear(&t);
	request(id);
	ck_assert_uint_eq(t.ndeliv, 1);
	engine_recycle(t.e, t.srv, t.deliv[0].bpage_offsets,
		       t.deliv[0].num_bpages, t.now);
	ck_assert_int_eq(respond(id | 1), 0);
	ack(id);
	et_clear(&t);
	t.nreleased = 0; /* (the reaper gives the responses back) */
}

START_TEST(rpc_ended__late_request_copy_dropped)
{
	struct homa_pkt p;

	serve_and_ack(10);
	ck_assert_uint_eq(nrpcs(), 0);
	/* A copy of the request, held back by the network: not again. */
	request(10);
	ck_assert_uint_eq(t.ndeliv, 0);
	ck_assert_uint_eq(nrpcs(), 0);
	ck_assert_uint_eq(engine_metrics(t.e)->stale_requests, 1);
	/* Another client host may use the same id. */
	memset(&p, 0, sizeof(p));
	p.type = HOMA_DATA;
	p.sport = ET_PEER_PORT;
	p.dport = ET_SERVER_PORT;
	p.sender_id = 10;
	p.u.data.message_length = 1000;
	p.u.data.incoming = 1000;
	p.u.data.payload_len = 1000;
	p.u.data.cutoff_version = 1;
	et_rx(&t, &p, &et_peer2);
	ck_assert_uint_eq(t.ndeliv, 1);
	/* The entry lasts timeout_ticks ticks (a restarted client host
	 * reuses ids). */
	et_ticks(&t, t.p.timeout_ticks);
	et_clear(&t);
	request(10);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->stale_requests, 1);
}
END_TEST

START_TEST(rpc_ended__undelivered_request_may_come_again)
{
	/* Half a request, then silence: the server RPC ends unseen. */
	et_data(&t, ET_SERVER_PORT, 10, 3000, 3000, 0, 1000);
	et_ticks(&t, t.p.timeout_ticks + 1);
	ck_assert_uint_eq(engine_metrics(t.e)->server_rpc_timeouts, 1);
	ck_assert_uint_eq(nrpcs(), 0);
	/* The client starts over (RPC_UNKNOWN): the request is new here. */
	et_data(&t, ET_SERVER_PORT, 10, 3000, 3000, 0, 3000);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->stale_requests, 0);
}
END_TEST

START_TEST(rpc_ended__oldest_forgotten_when_full)
{
	for (uint64_t i = 0; i <= RPC_ENDED_SLOTS; i++)
		serve_and_ack(2 * (i + 1));
	ck_assert_uint_eq(nrpcs(), 0);
	/* The first entry was overwritten by the last. */
	request(2);
	ck_assert_uint_eq(t.ndeliv, 1);
	et_clear(&t);
	/* The second and the last are still known. */
	request(4);
	request(2 * (RPC_ENDED_SLOTS + 1));
	ck_assert_uint_eq(t.ndeliv, 0);
	ck_assert_uint_eq(engine_metrics(t.e)->stale_requests, 2);
}
END_TEST

/* The ttl of the table of ended server RPCs, ns. */
static uint64_t ended_ttl(void)
{
	return (uint64_t)t.p.timeout_ticks * t.p.tick_usecs * 1000;
}

/*
 * A server RPC ended by engine_sock_close (or an ICMP error) is remembered
 * as ended at the now that call was given, not at the last packet's: a
 * copy of the request 1.5 ttl after that packet but 0.6 ttl after the
 * close is stale.
 */
START_TEST(rpc_ended__stamped_with_the_closing_calls_now)
{
	uint64_t ttl = ended_ttl();

	request(10);
	ck_assert_uint_eq(t.ndeliv, 1);
	t.now += ttl * 9 / 10; /* no packet, no tick in between */
	engine_sock_close(t.e, t.srv, t.now);
	ck_assert_int_eq(engine_sock_open(t.e, &t, &t.srv), 0);
	ck_assert_int_eq(engine_sock_bind(t.e, t.srv, ET_SERVER_PORT), 0);
	memset(t.pool_srv, 0, ET_POOL_BYTES);
	ck_assert_int_eq(
		engine_sock_set_pool(t.e, t.srv, t.pool_srv, ET_POOL_BYTES), 0);
	et_clear(&t);
	t.now += ttl * 6 / 10;
	request(10);
	ck_assert_uint_eq(t.ndeliv, 0);
	ck_assert_uint_eq(engine_metrics(t.e)->stale_requests, 1);
	/* A full ttl after the close it is new again. */
	t.now += ttl * 4 / 10;
	request(10);
	ck_assert_uint_eq(t.ndeliv, 1);
}
END_TEST

START_TEST(rpc_ended__stamped_with_the_icmp_errors_now)
{
	uint64_t ttl = ended_ttl();

	request(12);
	ck_assert_uint_eq(t.ndeliv, 1);
	t.now += ttl * 9 / 10;
	engine_icmp_error(t.e, &et_peer, 0, EHOSTUNREACH, t.now);
	ck_assert_uint_eq(nrpcs(), 0);
	et_clear(&t);
	t.now += ttl * 6 / 10;
	request(12);
	ck_assert_uint_eq(t.ndeliv, 0);
	ck_assert_uint_eq(engine_metrics(t.e)->stale_requests, 1);
}
END_TEST

/* ---- rpc_set_state: legal orders counted, the others refused ---------- */

/* rpc_transitions{state} since *base, as [OUTGOING..DEAD] - OUTGOING. */
static void moves(uint64_t *base, uint64_t *out)
{
	const struct homa_metrics *m = engine_metrics(t.e);

	for (int i = 0; i < METRICS_RPC_STATES; i++) {
		out[i] = m->rpc_transitions[i] - base[i];
		base[i] = m->rpc_transitions[i];
	}
}

#define T_OUT  (RPC_OUTGOING - RPC_OUTGOING)
#define T_IN   (RPC_INCOMING - RPC_OUTGOING)
#define T_SERV (RPC_IN_SERVICE - RPC_OUTGOING)
#define T_DEAD (RPC_DEAD - RPC_OUTGOING)

static void check_moves(uint64_t *base, uint64_t out, uint64_t in,
			uint64_t serv, uint64_t dead)
{
	uint64_t d[METRICS_RPC_STATES];

	moves(base, d);
	ck_assert_uint_eq(d[T_OUT], out);
	ck_assert_uint_eq(d[T_IN], in);
	ck_assert_uint_eq(d[T_SERV], serv);
	ck_assert_uint_eq(d[T_DEAD], dead);
}

START_TEST(rpc_set_state__client_paths)
{
	uint64_t base[METRICS_RPC_STATES] = {0};
	uint64_t id, id2;
	struct homa_rpc *rpc;

	/* NEW -> OUTGOING -> INCOMING -> DEAD (response delivered). */
	id = et_request(&t, 100);
	ck_assert_int_eq(rpc_find(t.e, id, NULL)->state, RPC_OUTGOING);
	check_moves(base, 1, 0, 0, 0);
	et_data(&t, engine_sock_port(t.cli), id | 1, 2000, 2000, 0, 1000);
	ck_assert_int_eq(rpc_find(t.e, id, NULL)->state, RPC_INCOMING);
	check_moves(base, 0, 1, 0, 0);
	et_data(&t, engine_sock_port(t.cli), id | 1, 2000, 2000, 1000, 1000);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_ptr_null(rpc_find(t.e, id, NULL));
	check_moves(base, 0, 0, 0, 1);
	/* OUTGOING -> DEAD (aborted); INCOMING -> DEAD (aborted). */
	id = et_request(&t, 100);
	id2 = et_request(&t, 100);
	et_data(&t, engine_sock_port(t.cli), id2 | 1, 2000, 2000, 0, 1000);
	rpc = rpc_find(t.e, id2, NULL);
	ck_assert_int_eq(rpc->state, RPC_INCOMING);
	check_moves(base, 2, 1, 0, 0);
	ck_assert_int_eq(engine_abort(t.e, t.cli, id, 0, t.now), 0);
	ck_assert_int_eq(engine_abort(t.e, t.cli, id2, 0, t.now), 0);
	check_moves(base, 0, 0, 0, 2);
	ck_assert_uint_eq(engine_metrics(t.e)->rpc_bad_transitions, 0);
}
END_TEST

START_TEST(rpc_set_state__server_paths)
{
	uint64_t base[METRICS_RPC_STATES] = {0};
	struct homa_peer *peer;

	/* NEW -> INCOMING -> IN_SERVICE -> OUTGOING -> DEAD (acked). */
	et_data(&t, ET_SERVER_PORT, 10, 2000, 2000, 0, 1000);
	peer = peer_find(t.e, &et_peer);
	ck_assert_int_eq(rpc_find(t.e, 11, peer)->state, RPC_INCOMING);
	check_moves(base, 0, 1, 0, 0);
	et_data(&t, ET_SERVER_PORT, 10, 2000, 2000, 1000, 1000);
	ck_assert_int_eq(rpc_find(t.e, 11, peer)->state, RPC_IN_SERVICE);
	check_moves(base, 0, 0, 1, 0);
	ck_assert_int_eq(respond(11), 0);
	ck_assert_int_eq(rpc_find(t.e, 11, peer)->state, RPC_OUTGOING);
	check_moves(base, 1, 0, 0, 0);
	et_ctrl(&t, HOMA_ACK, ET_SERVER_PORT, 10);
	ck_assert_ptr_null(rpc_find(t.e, 11, peer));
	check_moves(base, 0, 0, 0, 1);
	/* INCOMING -> DEAD (timeout); IN_SERVICE -> DEAD (socket closed). */
	et_data(&t, ET_SERVER_PORT, 20, 2000, 2000, 0, 1000);
	et_ticks(&t, t.p.timeout_ticks + 1);
	ck_assert_ptr_null(rpc_find(t.e, 21, peer));
	check_moves(base, 0, 1, 0, 1);
	request(30);
	ck_assert_int_eq(rpc_find(t.e, 31, peer)->state, RPC_IN_SERVICE);
	engine_sock_close(t.e, t.srv, t.now);
	t.srv = NULL;
	check_moves(base, 0, 1, 1, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->rpc_bad_transitions, 0);
}
END_TEST

static unsigned bugs;

static void count_bug(void *ctx, const char *what)
{
	(void)ctx;
	ck_assert_ptr_nonnull(what);
	bugs++;
}

START_TEST(rpc_set_state__illegal_refused_and_counted)
{
	uint64_t base[METRICS_RPC_STATES] = {0};
	struct homa_peer *peer;
	struct homa_rpc *cli, *srv;
	uint64_t id;

	bugs = 0;
	t.e->ops.bug = count_bug;
	id = et_request(&t, 100);
	cli = rpc_find(t.e, id, NULL);
	et_data(&t, ET_SERVER_PORT, 10, 2000, 2000, 0, 1000);
	peer = peer_find(t.e, &et_peer);
	srv = rpc_find(t.e, 11, peer);
	moves(base, (uint64_t[METRICS_RPC_STATES]){0});
	/* A client never serves; a server does not answer before the
	 * request is in; nothing goes back to NEW or leaves DEAD. */
	ck_assert(!rpc_set_state(t.e, cli, RPC_IN_SERVICE));
	ck_assert_int_eq(cli->state, RPC_OUTGOING);
	ck_assert(!rpc_set_state(t.e, cli, RPC_OUTGOING));
	ck_assert(!rpc_set_state(t.e, srv, RPC_OUTGOING));
	ck_assert_int_eq(srv->state, RPC_INCOMING);
	ck_assert(!rpc_set_state(t.e, srv, RPC_NEW));
	ck_assert(!rpc_set_state(t.e, srv, (enum homa_rpc_state)99));
	ck_assert_int_eq(srv->state, RPC_INCOMING);
	ck_assert_uint_eq(engine_metrics(t.e)->rpc_bad_transitions, 5);
	ck_assert_uint_eq(bugs, 5);
	check_moves(base, 0, 0, 0, 0);
	/* The RPCs go on as if nothing was asked. */
	et_data(&t, ET_SERVER_PORT, 10, 2000, 2000, 1000, 1000);
	ck_assert_int_eq(srv->state, RPC_IN_SERVICE);
	ck_assert_int_eq(engine_abort(t.e, t.cli, id, 0, t.now), 0);
	check_moves(base, 0, 0, 1, 1);
	/* A dead RPC (not reaped yet) stays dead. */
	rpc_end(t.e, srv, t.now);
	ck_assert(!rpc_set_state(t.e, srv, RPC_OUTGOING));
	ck_assert_int_eq(srv->state, RPC_DEAD);
	ck_assert_uint_eq(engine_metrics(t.e)->rpc_bad_transitions, 6);
	ck_assert_uint_eq(bugs, 6);
}
END_TEST

START_TEST(engine_send_response__errors)
{
	struct homa_msgbuf mb = {resp, 0, NULL};

	ck_assert_int_eq(respond(11), -ENOENT);
	et_data(&t, ET_SERVER_PORT, 10, 3000, 3000, 0, 1000);
	/* Still receiving the request. */
	ck_assert_int_eq(respond(11), -EINVAL);
	et_data(&t, ET_SERVER_PORT, 10, 3000, 3000, 1000, 2000);
	ck_assert_int_eq(
		engine_send_response(t.e, t.srv, 11, &et_peer, &mb, t.now),
		-EINVAL);
	ck_assert_int_eq(
		engine_send_response(t.e, t.srv, 10, &et_peer, &mb, t.now),
		-EINVAL);
	ck_assert_int_eq(respond(11), 0);
	ck_assert_int_eq(respond(11), -EINVAL); /* already answered */
	ck_assert_int_eq(engine_send_response(
				 t.e, t.cli, 11, &et_peer,
				 &(struct homa_msgbuf){resp, 5, NULL}, t.now),
			 -ENOENT);
}
END_TEST

START_TEST(engine_send_request__bad_length)
{
	struct homa_msgbuf mb = {resp, 0, NULL};
	uint64_t id = 0;

	ck_assert_int_eq(engine_send_request(t.e, t.cli, &et_peer, 1, &mb, 0,
					     t.now, &id),
			 -EINVAL);
	mb.length = HOMA_MAX_MESSAGE_LENGTH + 1;
	id = 0;
	ck_assert_int_eq(engine_send_request(t.e, t.cli, &et_peer, 1, &mb, 0,
					     t.now, &id),
			 -EINVAL);
	mb.length = 1;
	id = 0;
	ck_assert_int_eq(engine_send_request(t.e, t.cli, &et_peer, 0, &mb, 0,
					     t.now, &id),
			 -EINVAL);
}
END_TEST

START_TEST(engine_reserve_ids__caller_chosen_ids)
{
	struct homa_msgbuf mb = {resp, 10, NULL};
	uint64_t auto_id = et_request(&t, 100);
	uint64_t base = engine_reserve_ids(t.e, 4);
	uint64_t id = base + 2;

	/* A reserved block lies above every id handed out so far... */
	ck_assert_uint_gt(base, auto_id);
	ck_assert_uint_eq(base & 1, 0);
	ck_assert_int_eq(engine_send_request(t.e, t.cli, &et_peer, 9, &mb, 0,
					     t.now, &id),
			 0);
	ck_assert_uint_eq(id, base + 2);
	/* ...an id in use is refused, an odd one is invalid... */
	ck_assert_int_eq(engine_send_request(t.e, t.cli, &et_peer, 9, &mb, 0,
					     t.now, &id),
			 -EEXIST);
	id = base + 3;
	ck_assert_int_eq(engine_send_request(t.e, t.cli, &et_peer, 9, &mb, 0,
					     t.now, &id),
			 -EINVAL);
	/* ...and the engine's own ids continue above the block. */
	id = 0;
	ck_assert_int_eq(engine_send_request(t.e, t.cli, &et_peer, 9, &mb, 0,
					     t.now, &id),
			 0);
	ck_assert_uint_ge(id, base + 8);
}
END_TEST

/* A restarted daemon starts its ids elsewhere: engine_set_id_base. */
START_TEST(engine_set_id_base__ids_start_after_base)
{
	struct homa_msgbuf mb = {resp, 10, NULL};
	uint64_t id = 0;

	engine_set_id_base(t.e, 1000001); /* odd: rounded down */
	ck_assert_uint_eq(engine_reserve_ids(t.e, 2), 1000002);
	ck_assert_int_eq(engine_send_request(t.e, t.cli, &et_peer, 9, &mb, 0,
					     t.now, &id),
			 0);
	ck_assert_uint_eq(id, 1000006);
}
END_TEST

START_TEST(engine_abort__error_or_silent)
{
	uint64_t a = et_request(&t, 100), b = et_request(&t, 100);

	et_request(&t, 100);
	ck_assert_int_eq(engine_abort(t.e, t.cli, a, ECANCELED, t.now), 0);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_int_eq(t.deliv[0].kind, HOMA_DELIVER_ERROR);
	ck_assert_int_eq(t.deliv[0].error, ECANCELED);
	ck_assert_uint_eq(t.deliv[0].cookie, 77);
	ck_assert_int_eq(engine_abort(t.e, t.cli, b, 0, t.now), 0);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_int_eq(engine_abort(t.e, t.cli, b, 0, t.now), -EINVAL);
	ck_assert_int_eq(engine_abort(t.e, t.srv, b + 2, 0, t.now), -EINVAL);
	ck_assert_int_eq(engine_abort(t.e, t.cli, 0, 0, t.now), 0);
	ck_assert_uint_eq(nrpcs(), 0);
	/* Nothing was sent for the aborts. */
	ck_assert_uint_eq(et_count(&t, HOMA_RPC_UNKNOWN), 0);
}
END_TEST

START_TEST(rpc_new_server__limits)
{
	struct homa_params p;

	et_free(&t);
	engine_params_default(&p);
	p.max_rpcs_per_peer = 2;
	p.max_rpcs = 3;
	et_init(&t, &p);
	request(10);
	request(12);
	request(14);
	ck_assert_uint_eq(nrpcs(), 2);
	ck_assert_uint_eq(engine_metrics(t.e)->server_cant_create_rpcs, 1);
	et_request(&t, 10);
	struct homa_msgbuf mb = {resp, 10, NULL};
	uint64_t id = 0;
	id = 0;
	ck_assert_int_eq(engine_send_request(t.e, t.cli, &et_peer, 9, &mb, 0,
					     t.now, &id),
			 -ENOMEM);
	ck_assert_uint_eq(engine_metrics(t.e)->rpc_limit_drops, 1);
}
END_TEST

START_TEST(engine_rx_resend__unknown_and_busy)
{
	struct homa_pkt p;

	memset(&p, 0, sizeof(p));
	p.type = HOMA_RESEND;
	p.sport = ET_PEER_PORT;
	p.dport = ET_SERVER_PORT;
	p.sender_id = 10;
	p.u.resend.length = HOMA_RESEND_ALL;
	et_rx(&t, &p, &et_peer);
	ck_assert_uint_eq(et_count(&t, HOMA_RPC_UNKNOWN), 1);
	ck_assert_uint_eq(et_nth(&t, HOMA_RPC_UNKNOWN, 0)->pkt.sender_id, 11);
	ck_assert_uint_eq(et_nth(&t, HOMA_RPC_UNKNOWN, 0)->pkt.dport,
			  ET_PEER_PORT);
	ck_assert_uint_eq(et_nth(&t, HOMA_RPC_UNKNOWN, 0)->prio, 7);
	/* The application is working on it: BUSY. */
	request(10);
	et_rx(&t, &p, &et_peer);
	ck_assert_uint_eq(et_count(&t, HOMA_BUSY), 1);
	/* RESEND(0, -1) once the response is out: it is sent again. */
	ck_assert_int_eq(respond(11), 0);
	et_pace(&t);
	et_clear(&t);
	t.now += 2 * ET_MS; /* sent long enough ago to be sent again */
	et_rx(&t, &p, &et_peer);
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 3);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.retransmit, 1);
}
END_TEST

START_TEST(engine_icmp_errno__mapping)
{
	bool port;

	ck_assert_int_eq(engine_icmp_errno(AF_INET, 3, 3, &port), ENOTCONN);
	ck_assert(port);
	ck_assert_int_eq(engine_icmp_errno(AF_INET, 3, 2, &port),
			 EPROTONOSUPPORT);
	ck_assert(!port);
	ck_assert_int_eq(engine_icmp_errno(AF_INET, 3, 1, &port), EHOSTUNREACH);
	ck_assert_int_eq(engine_icmp_errno(AF_INET, 11, 0, &port), 0);
	ck_assert_int_eq(engine_icmp_errno(AF_INET6, 1, 4, &port), ENOTCONN);
	ck_assert(port);
	ck_assert_int_eq(engine_icmp_errno(AF_INET6, 1, 3, &port),
			 EHOSTUNREACH);
	ck_assert_int_eq(engine_icmp_errno(AF_INET6, 4, 1, &port),
			 EPROTONOSUPPORT);
	ck_assert_int_eq(engine_icmp_errno(AF_INET6, 1, 0, &port), 0);
	ck_assert_int_eq(engine_icmp_errno(AF_INET6, 2, 0, &port), 0);
}
END_TEST

START_TEST(engine_icmp_error__fails_client_ends_server)
{
	struct homa_msgbuf mb = {resp, 10, NULL};
	uint64_t other = 0;

	et_request(&t, 100);
	other = 0;
	ck_assert_int_eq(engine_send_request(t.e, t.cli, &et_peer, 4001, &mb, 5,
					     t.now, &other),
			 0);
	request(10);
	et_clear(&t);
	/* Port unreachable for 4000: only RPCs with that port. */
	engine_icmp_error(t.e, &et_peer, ET_PEER_PORT, ENOTCONN, t.now);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_int_eq(t.deliv[0].error, ENOTCONN);
	ck_assert_uint_eq(nrpcs(), 1);
	/* Protocol unreachable: everything with that host. */
	engine_icmp_error(t.e, &et_peer, 0, EPROTONOSUPPORT, t.now);
	ck_assert_uint_eq(t.ndeliv, 2);
	ck_assert_int_eq(t.deliv[1].error, EPROTONOSUPPORT);
	ck_assert_uint_eq(t.deliv[1].id, other);
	ck_assert_uint_eq(nrpcs(), 0);
	ck_assert_uint_eq(t.nout, 0);
}
END_TEST

/* engine_rpcs_page: pages of 7 list each of 202 live RPCs exactly once. */
START_TEST(engine_rpcs_page__pages_and_filters)
{
	static struct homa_rpc_info out[7];
	uint64_t ids[200], cursor = 0;
	unsigned seen[200] = {0}, n, total = 0, pages = 0;
	uint16_t cport = engine_sock_port(t.cli);
	bool more = true;

	for (unsigned i = 0; i < 200; i++)
		ids[i] = et_request(&t, 10);
	/* Two server RPCs from the peer, on the server's port. */
	et_data(&t, ET_SERVER_PORT, 1000, 20000, 20000, 0, 1000);
	et_data(&t, ET_SERVER_PORT, 1002, 20000, 20000, 0, 1000);
	while (more) {
		n = engine_rpcs_page(t.e, &cursor, 0, NULL, out, 7, &more);
		ck_assert_uint_le(n, 7);
		pages++;
		ck_assert_uint_lt(pages, 1000);
		for (unsigned k = 0; k < n; k++) {
			total++;
			if (out[k].port == ET_SERVER_PORT) {
				ck_assert_uint_eq(out[k].state,
						  HOMA_RPC_STATE_INCOMING);
				ck_assert_uint_eq(out[k].rx_length, 20000);
				continue;
			}
			ck_assert_uint_eq(out[k].port, cport);
			ck_assert_uint_eq(out[k].state,
					  HOMA_RPC_STATE_OUTGOING);
			ck_assert_uint_eq(out[k].tx_length, 10);
			for (unsigned i = 0; i < 200; i++)
				if (ids[i] == out[k].id)
					seen[i]++;
		}
	}
	ck_assert_uint_eq(total, 202);
	for (unsigned i = 0; i < 200; i++)
		ck_assert_uint_eq(seen[i], 1);
	/* Filters: the client's port; a peer with none. */
	cursor = 0;
	total = 0;
	do {
		n = engine_rpcs_page(t.e, &cursor, ET_SERVER_PORT, &et_peer,
				     out, 7, &more);
		total += n;
	} while (more);
	ck_assert_uint_eq(total, 2);
	cursor = 0;
	total = 0;
	do {
		n = engine_rpcs_page(t.e, &cursor, 0, &et_peer2, out, 7, &more);
		total += n;
	} while (more);
	ck_assert_uint_eq(total, 0);
}
END_TEST

START_TEST(engine_peers_page__the_peer)
{
	struct homa_peer_entry out[4];
	uint64_t cursor = 0;
	bool more;
	unsigned n;

	for (unsigned i = 0; i < 5; i++)
		et_request(&t, 10);
	n = engine_peers_page(t.e, &cursor, out, 4, &more);
	ck_assert_uint_eq(n, 1);
	ck_assert(!more);
	ck_assert_mem_eq(&out[0].addr, &et_peer, sizeof(et_peer));
	ck_assert_uint_eq(out[0].rpcs, 5);
	ck_assert_uint_eq(out[0].resends, 0);
}
END_TEST

static Suite *rpc_suite(void)
{
	Suite *s = suite_create("rpc");
	TCase *tc = tcase_create("rpc");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, rpc_new_client__even_increasing_ids);
	tcase_add_test(tc, engine_rpcs_page__pages_and_filters);
	tcase_add_test(tc, engine_peers_page__the_peer);
	tcase_add_test(tc, rpc_new_server__limits);
	tcase_add_test(tc, rpc_deliver__response_ends_rpc_and_queues_ack);
	tcase_add_test(tc, rpc_acked__piggybacked_ack_ends_server_rpc);
	tcase_add_test(tc, rpc_acked__ack_packet_ends_header_and_list);
	tcase_add_test(tc, rpc_ended__late_request_copy_dropped);
	tcase_add_test(tc, rpc_ended__undelivered_request_may_come_again);
	tcase_add_test(tc, rpc_ended__oldest_forgotten_when_full);
	tcase_add_test(tc, rpc_ended__stamped_with_the_closing_calls_now);
	tcase_add_test(tc, rpc_ended__stamped_with_the_icmp_errors_now);
	tcase_add_test(tc, rpc_set_state__client_paths);
	tcase_add_test(tc, rpc_set_state__server_paths);
	tcase_add_test(tc, rpc_set_state__illegal_refused_and_counted);
	tcase_add_test(tc, engine_send_request__bad_length);
	tcase_add_test(tc, engine_reserve_ids__caller_chosen_ids);
	tcase_add_test(tc, engine_set_id_base__ids_start_after_base);
	tcase_add_test(tc, engine_send_response__errors);
	tcase_add_test(tc, engine_abort__error_or_silent);
	tcase_add_test(tc, engine_rx_resend__unknown_and_busy);
	tcase_add_test(tc, engine_icmp_errno__mapping);
	tcase_add_test(tc, engine_icmp_error__fails_client_ends_server);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rpc_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
