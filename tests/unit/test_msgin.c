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
	msgin_destroy(t.e, &m);
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
	msgin_destroy(t.e, &m);
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
	ck_assert_uint_eq(engine_metrics(t.e)->dropped_data_no_bufs, 1000);
	struct homa_engine_state st;
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.rpcs, 0);
}
END_TEST

static void set_peer_pool_percent(uint32_t percent)
{
	t.p.peer_pool_percent = percent;
	engine_set_params(t.e, &t.p);
}

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
	ck_assert_uint_eq(engine_metrics(t.e)->dropped_data_no_bufs, 1424);
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

START_TEST(msgin_data__incoming_below_default_unsched)
{
	const struct et_out *o;
	struct homa_peer_info pi;
	uint64_t tg;

	/* A sender that measured a short RTT: 5000 unscheduled bytes. */
	t.p.max_incoming = 10000;
	engine_set_params(t.e, &t.p);
	et_data(&t, ET_SERVER_PORT, 10, 100000, 5000, 0, 1424);
	/* Granted starts at DATA.incoming: window 5000 over received, and
	 * room of 10000 - 3576 still expected. */
	ck_assert_uint_eq(et_count(&t, HOMA_GRANT), 1);
	o = et_nth(&t, HOMA_GRANT, 0);
	ck_assert_uint_eq(o->pkt.u.grant.offset, 6424);
	tg = t.now;
	/* Unscheduled packets (before the GRANT's offset): no RTT sample. */
	t.now += 1000;
	et_data(&t, ET_SERVER_PORT, 10, 100000, 5000, 1424, 1424);
	et_data(&t, ET_SERVER_PORT, 10, 100000, 5000, 2848, 1424);
	et_data(&t, ET_SERVER_PORT, 10, 100000, 5000, 4272, 728);
	ck_assert_int_eq(engine_peer_info(t.e, &et_peer, &pi), 0);
	ck_assert_uint_eq(pi.rtt_samples, 0);
	/* The first packet only the GRANT allowed: one round trip. */
	t.now = tg + 9000;
	et_data(&t, ET_SERVER_PORT, 10, 100000, 5000, 5000, 1424);
	ck_assert_int_eq(engine_peer_info(t.e, &et_peer, &pi), 0);
	ck_assert_uint_eq(pi.rtt_samples, 1);
	ck_assert_uint_eq(pi.rtt_ns, 9000);
	/* Silence: RESEND for what was granted beyond what arrived. */
	et_clear(&t);
	et_ticks(&t, 5);
	ck_assert_uint_ge(et_count(&t, HOMA_RESEND), 1);
	o = et_nth(&t, HOMA_RESEND, 0);
	ck_assert_uint_eq(o->pkt.u.resend.offset, 6424);
	ck_assert_uint_gt(o->pkt.u.resend.length, 0);
}
END_TEST

START_TEST(msgin_data__retransmission_takes_no_rtt_sample)
{
	struct homa_pkt p;
	struct homa_peer_info pi;

	t.p.max_incoming = 10000;
	engine_set_params(t.e, &t.p);
	et_data(&t, ET_SERVER_PORT, 10, 100000, 5000, 0, 1424);
	ck_assert_uint_eq(et_count(&t, HOMA_GRANT), 1);
	memset(&p, 0, sizeof(p));
	p.type = HOMA_DATA;
	p.sport = ET_PEER_PORT;
	p.dport = ET_SERVER_PORT;
	p.sender_id = 10;
	p.u.data.message_length = 100000;
	p.u.data.incoming = 6424;
	p.u.data.retransmit = 1;
	p.u.data.offset = 5000;
	p.u.data.payload_len = 1424;
	t.now += 3000;
	et_rx(&t, &p, &et_peer);
	ck_assert_int_eq(engine_peer_info(t.e, &et_peer, &pi), 0);
	ck_assert_uint_eq(pi.rtt_samples, 0);
}
END_TEST

START_TEST(msgin_data__incast_request_limits_response)
{
	static uint8_t resp[100000];
	struct homa_msgbuf mb = {resp, sizeof(resp), resp};
	const struct et_out *o;

	/* A homad client in incast (marker and flag). */
	et_data_pad(&t, ET_SERVER_PORT, 10, 1000, 1000, 0, 1000, 'H', 'D',
		    HOMAD_FLAG_INCAST);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_int_eq(
		engine_send_response(t.e, t.srv, 11, &et_peer, &mb, t.now), 0);
	et_pace(&t);
	/* 10000 unscheduled bytes: 7 full packets and one of 32 bytes. */
	ck_assert_uint_eq(et_count(&t, HOMA_DATA), 8);
	for (size_t i = 0; i < 8; i++)
		ck_assert_uint_eq(et_nth(&t, HOMA_DATA, i)->pkt.u.data.incoming,
				  10000);
	o = et_nth(&t, HOMA_DATA, 7);
	ck_assert_uint_eq(o->pkt.u.data.offset, 7 * 1424);
	ck_assert_uint_eq(o->pkt.u.data.payload_len, 10000 - 7 * 1424);
	ck_assert_uint_eq(engine_metrics(t.e)->incast_responses, 1);
	/* The flag without homad's marker means nothing (a module peer
	 * sends 0 there; anything else is not homad's). */
	et_clear(&t);
	et_data_pad(&t, ET_SERVER_PORT, 20, 1000, 1000, 0, 1000, 0, 0,
		    HOMAD_FLAG_INCAST);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_int_eq(
		engine_send_response(t.e, t.srv, 21, &et_peer, &mb, t.now), 0);
	et_pace(&t);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.incoming, 40000);
	ck_assert_uint_eq(engine_metrics(t.e)->incast_responses, 1);
	/* A short response goes whole: nothing to limit.  (0 in the
	 * parameter means the default, 10000.) */
	t.p.incast_unsched_bytes = 0;
	engine_set_params(t.e, &t.p);
	et_clear(&t);
	et_data_pad(&t, ET_SERVER_PORT, 30, 1000, 1000, 0, 1000, 'H', 'D',
		    HOMAD_FLAG_INCAST);
	mb.length = 9000;
	ck_assert_int_eq(
		engine_send_response(t.e, t.srv, 31, &et_peer, &mb, t.now), 0);
	et_pace(&t);
	ck_assert_uint_eq(et_nth(&t, HOMA_DATA, 0)->pkt.u.data.incoming, 9000);
	ck_assert_uint_eq(engine_metrics(t.e)->incast_responses, 1);
}
END_TEST

START_TEST(msgin_data__marker_tracks_homad_peer)
{
	struct homa_peer_info pi;

	ck_assert_int_eq(engine_peer_info(t.e, &et_peer, &pi), -ENOENT);
	et_data_pad(&t, ET_SERVER_PORT, 10, 100, 100, 0, 100, 'H', 'D', 0);
	ck_assert_int_eq(engine_peer_info(t.e, &et_peer, &pi), 0);
	ck_assert(pi.homad);
	/* Half a marker is none. */
	et_data_pad(&t, ET_SERVER_PORT, 20, 100, 100, 0, 100, 'H', 0, 0);
	ck_assert_int_eq(engine_peer_info(t.e, &et_peer, &pi), 0);
	ck_assert(!pi.homad);
	et_data_pad(&t, ET_SERVER_PORT, 30, 100, 100, 0, 100, 'H', 'D', 0);
	ck_assert_int_eq(engine_peer_info(t.e, &et_peer, &pi), 0);
	ck_assert(pi.homad);
	ck_assert_uint_eq(engine_metrics(t.e)->homad_peers_seen, 2);
}
END_TEST

/*
 * Bug (found by test_engine_fuzz): bpages freed by an RPC that ended
 * before its message was complete never restarted the messages waiting
 * for them - only the application's recycles did - so waiting messages
 * (which do not time out) could wait forever.
 */
START_TEST(msgin_get_bufs__restart_when_unfinished_message_ends)
{
	struct homa_engine_state st;
	const struct et_out *r;

	/* Eight 1 MB requests half-received hold all 128 bpages (one peer
	 * may, with no per-peer share). */
	set_peer_pool_percent(100);
	for (uint64_t id = 100; id < 116; id += 2)
		et_data(&t, ET_SERVER_PORT, id, 1000000, 40000, 0, 1424);
	et_data(&t, ET_SERVER_PORT, 200, 1000000, 40000, 0, 1424);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 1);
	/* The client of one of them says it does not know it: it ends. */
	et_clear(&t);
	et_ctrl(&t, HOMA_RPC_UNKNOWN, ET_SERVER_PORT, 102);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 0);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 1);
	r = et_nth(&t, HOMA_RESEND, 0);
	ck_assert_uint_eq(r->pkt.sender_id, 201);
	ck_assert_uint_eq(r->pkt.u.resend.length, HOMA_RESEND_ALL);
	/* The same when they time out (in the tick that ends them). */
	et_data(&t, ET_SERVER_PORT, 202, 1000000, 40000, 0, 1424);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 1);
	et_clear(&t);
	et_ticks(&t, t.p.timeout_ticks);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 0);
	ck_assert_ptr_nonnull(r = et_nth(&t, HOMA_RESEND, 0));
	for (size_t i = 0; (r = et_nth(&t, HOMA_RESEND, i)) != NULL; i++)
		if (r->pkt.sender_id == 203)
			break;
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->pkt.u.resend.length, HOMA_RESEND_ALL);
}
END_TEST

/*
 * Bug (found by test_engine_fuzz): a message longer than the whole pool
 * waited for bpages forever, holding its RPC (waiting messages do not time
 * out): now a server RPC for it ends and a client RPC fails with ENOMEM.
 */
START_TEST(msgin_get_bufs__message_larger_than_pool_refused)
{
	static uint8_t small[2 * HOMA_BPAGE_SIZE], req[100];
	struct homa_msgbuf mb = {req, sizeof(req), req};
	struct homa_engine_state st;
	struct homa_sock *s2;
	uint64_t id = 0;

	ck_assert_int_eq(engine_sock_open(t.e, t.srv, &s2), 0);
	ck_assert_int_eq(engine_sock_bind(t.e, s2, 200), 0);
	ck_assert_int_eq(engine_sock_set_pool(t.e, s2, small, sizeof(small)),
			 0);
	/* A request of 3 bpages for a pool of 2: the RPC ends at once. */
	et_data(&t, 200, 10, 3 * HOMA_BPAGE_SIZE, 40000, 0, 1424);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 0);
	ck_assert_uint_eq(st.server_rpcs, 0);
	ck_assert_uint_eq(engine_metrics(t.e)->buffer_alloc_failures, 1);
	/* 2 bpages fit. */
	et_data(&t, 200, 12, 2 * HOMA_BPAGE_SIZE, 40000, 0, 1424);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.server_rpcs, 1);
	/* A response too large for the client's pool: ENOMEM. */
	ck_assert_int_eq(engine_send_request(t.e, s2, &et_peer, ET_PEER_PORT,
					     &mb, 5, t.now, &id),
			 0);
	et_data(&t, 200, id | 1, 200000, 40000, 0, 1424);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_int_eq(t.deliv[0].kind, HOMA_DELIVER_ERROR);
	ck_assert_int_eq(t.deliv[0].error, ENOMEM);
	ck_assert_uint_eq(t.deliv[0].cookie, 5);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.client_rpcs, 0);
	engine_sock_close(t.e, s2, t.now);
}
END_TEST

/* The whole request id, length len, from src. */
static void whole_request_from(const struct homa_addr *src, uint64_t id,
			       uint32_t len)
{
	for (uint32_t off = 0; off < len; off += 1424) {
		uint32_t n = len - off < 1424 ? len - off : 1424;

		et_data_from(&t, src, ET_SERVER_PORT, id, len, len, off, n);
	}
}

/* The RESEND asking sender_id's client for everything, or NULL. */
static const struct et_out *resend_all_to(uint64_t sender_id)
{
	const struct et_out *r;

	for (size_t i = 0; (r = et_nth(&t, HOMA_RESEND, i)) != NULL; i++)
		if (r->pkt.sender_id == sender_id &&
		    r->pkt.u.resend.offset == 0 &&
		    r->pkt.u.resend.length == HOMA_RESEND_ALL)
			return r;
	return NULL;
}

/*
 * A peer that starts messages and never finishes them takes at most
 * peer_pool_percent of the pool: another peer's messages still get
 * bpages, and its own next message starts when an earlier one completes.
 */
START_TEST(msgin_get_bufs__peer_share_leaves_pool_to_others)
{
	struct homa_engine_state st;

	/* 8 MiB pool, 50%: four unfinished 1 MB requests, not five. */
	for (uint64_t id = 100; id < 110; id += 2)
		et_data(&t, ET_SERVER_PORT, id, 1000000, 40000, 0, 1424);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.server_rpcs, 5);
	ck_assert_uint_eq(st.buffer_waits, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->pool_share_waits, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->buffer_alloc_failures, 0);
	/* Its further packets are dropped. */
	et_data(&t, ET_SERVER_PORT, 108, 1000000, 40000, 1424, 1424);
	ck_assert_uint_eq(engine_metrics(t.e)->dropped_data_no_bufs, 2848);
	/* The other peer gets four 1 MB requests through meanwhile. */
	for (uint64_t id = 200; id < 208; id += 2)
		whole_request_from(&et_peer2, id, 1000000);
	ck_assert_uint_eq(t.ndeliv, 4);
	ck_assert(delivered_ok(&t.deliv[3], t.pool_srv));
	ck_assert_uint_eq(engine_metrics(t.e)->pool_share_waits, 1);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(engine_recycle(t.e, t.srv,
						t.deliv[i].bpage_offsets,
						t.deliv[i].num_bpages, t.now),
				 0);
	/* Returned bpages do not start it: its peer still has its share.
	 * One of the peer's requests completes: it is told to start over. */
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 1);
	et_clear(&t);
	whole_request(100, 1000000);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_ptr_nonnull(resend_all_to(109));
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 0);
	whole_request(108, 1000000);
	ck_assert_uint_eq(t.ndeliv, 2);
	ck_assert(delivered_ok(&t.deliv[1], t.pool_srv));
}
END_TEST

/* The same requests with the limit off (100%): the first peer's five
 * unfinished requests leave the other peer waiting. */
START_TEST(msgin_get_bufs__without_share_one_peer_takes_pool)
{
	struct homa_engine_state st;

	set_peer_pool_percent(100);
	for (uint64_t id = 100; id < 116; id += 2)
		et_data(&t, ET_SERVER_PORT, id, 1000000, 40000, 0, 1424);
	whole_request_from(&et_peer2, 200, 1000000);
	ck_assert_uint_eq(t.ndeliv, 0);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->pool_share_waits, 0);
}
END_TEST

/*
 * A peer holding nothing may start a message above its share (no message
 * is refused for its size); waiters of a share start oldest first; an RPC
 * that ends while capped leaves nothing behind.
 */
START_TEST(msgin_get_bufs__share_allows_one_message_and_cleans_up)
{
	struct homa_engine_state st;

	set_peer_pool_percent(1); /* 83,886 bytes */
	et_data(&t, ET_SERVER_PORT, 10, 1000000, 40000, 0, 1424);
	et_data(&t, ET_SERVER_PORT, 12, 100000, 40000, 0, 1424);
	et_data(&t, ET_SERVER_PORT, 14, 100, 100, 0, 100);
	et_data(&t, ET_SERVER_PORT, 16, 200, 200, 0, 200);
	ck_assert_uint_eq(t.ndeliv, 0);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 3);
	ck_assert_uint_eq(t.e->nshares, 1);
	/* Kept alive by BUSY, the first holds its share; the waiters do not
	 * time out. */
	for (unsigned i = 0; i < 2 * t.p.timeout_ticks; i++) {
		et_ticks(&t, 1);
		et_ctrl(&t, HOMA_BUSY, ET_SERVER_PORT, 10);
	}
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.server_rpcs, 4);
	ck_assert_uint_eq(st.buffer_waits, 3);
	/* Other peers are not affected. */
	whole_request_from(&et_peer2, 20, 5000);
	ck_assert_uint_eq(t.ndeliv, 1);
	/* The first ends (its client does not know it): the oldest waiter
	 * starts; it holds the share alone, so the two small ones wait. */
	et_clear(&t);
	et_ctrl(&t, HOMA_RPC_UNKNOWN, ET_SERVER_PORT, 10);
	ck_assert_ptr_nonnull(resend_all_to(13));
	ck_assert_ptr_null(resend_all_to(15));
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 2);
	/* A capped RPC that ends leaves the share's list. */
	et_ctrl(&t, HOMA_RPC_UNKNOWN, ET_SERVER_PORT, 14);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 1);
	/* 100,000 bytes delivered: the last waiter starts and completes. */
	whole_request(12, 100000);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_ptr_nonnull(resend_all_to(17));
	et_data(&t, ET_SERVER_PORT, 16, 200, 200, 0, 200);
	ck_assert_uint_eq(t.ndeliv, 2);
	ck_assert_uint_eq(t.deliv[1].length, 200);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 0);
	ck_assert_uint_eq(t.e->nshares, 0);
	ck_assert_uint_eq(engine_metrics(t.e)->pool_share_waits, 3);
}
END_TEST

/* A larger peer_pool_percent (a reload) starts the capped messages that
 * fit now, at the next tick, without waiting for the share to drop. */
START_TEST(msgin_get_bufs__larger_share_starts_waiters)
{
	struct homa_engine_state st;

	set_peer_pool_percent(1);
	et_data(&t, ET_SERVER_PORT, 10, 1000000, 40000, 0, 1424);
	et_data(&t, ET_SERVER_PORT, 12, 100000, 40000, 0, 1424);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 1);
	et_clear(&t);
	set_peer_pool_percent(50);
	et_ticks(&t, 1);
	ck_assert_ptr_nonnull(resend_all_to(13));
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 0);
	/* A smaller one does not end what already holds bpages. */
	set_peer_pool_percent(1);
	et_ticks(&t, 1);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.server_rpcs, 2);
	ck_assert_uint_eq(st.buffer_waits, 0);
}
END_TEST

/*
 * A message queued for the pool whose peer took its share meanwhile (with
 * shorter messages, which may pass it) moves to the share's list when
 * space comes back, and starts when the share drops.
 */
START_TEST(msgin_get_bufs__pool_waiter_over_share_is_capped)
{
	struct homa_delivery d[5];
	struct homa_engine_state st;

	/* The application holds five 1 MB requests of et_peer2; et_peer has
	 * three unfinished 1 MB requests: 5 bpages are left. */
	for (uint64_t id = 200; id < 210; id += 2)
		whole_request_from(&et_peer2, id, 1000000);
	ck_assert_uint_eq(t.ndeliv, 5);
	memcpy(d, t.deliv, sizeof(d));
	for (uint64_t id = 100; id < 106; id += 2)
		et_data(&t, ET_SERVER_PORT, id, 1000000, 40000, 0, 1424);
	ck_assert_uint_eq(t.srv->pool.nfree, 5);
	/* A fourth is within the share, not the pool: it queues.  A shorter
	 * one passes it (4 bpages and a piece), and the peer holds 3.25 MB. */
	et_data(&t, ET_SERVER_PORT, 106, 1000000, 40000, 0, 1424);
	ck_assert_uint_eq(engine_metrics(t.e)->buffer_alloc_failures, 1);
	et_data(&t, ET_SERVER_PORT, 108, 250000, 40000, 0, 1424);
	ck_assert_uint_eq(engine_metrics(t.e)->buffer_alloc_failures, 1);
	ck_assert_uint_eq(t.srv->pool.nwaiting, 1);
	/* The application returns its bpages: the queued one would take its
	 * peer to 4.25 MB, over the share: it waits for the share. */
	et_clear(&t);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(engine_recycle(t.e, t.srv, d[i].bpage_offsets,
						d[i].num_bpages, t.now),
				 0);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 0);
	ck_assert_uint_eq(engine_metrics(t.e)->pool_share_waits, 1);
	ck_assert_uint_eq(t.srv->pool.nwaiting, 0);
	ck_assert_uint_eq(t.srv->ncapped, 1);
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 1);
	/* The short one completes: the other starts and completes. */
	whole_request(108, 250000);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_ptr_nonnull(resend_all_to(107));
	whole_request(106, 1000000);
	ck_assert_uint_eq(t.ndeliv, 2);
	ck_assert(delivered_ok(&t.deliv[1], t.pool_srv));
	engine_state(t.e, &st);
	ck_assert_uint_eq(st.buffer_waits, 0);
	/* Everything ends: no share is left. */
	for (uint64_t id = 100; id < 106; id += 2)
		et_ctrl(&t, HOMA_RPC_UNKNOWN, ET_SERVER_PORT, id);
	ck_assert_uint_eq(t.e->nshares, 0);
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
	tcase_add_test(tc, msgin_data__incoming_below_default_unsched);
	tcase_add_test(tc, msgin_data__retransmission_takes_no_rtt_sample);
	tcase_add_test(tc, msgin_data__incast_request_limits_response);
	tcase_add_test(tc, msgin_data__marker_tracks_homad_peer);
	tcase_add_test(tc,
		       msgin_get_bufs__restart_when_unfinished_message_ends);
	tcase_add_test(tc, msgin_get_bufs__message_larger_than_pool_refused);
	tcase_add_test(tc, msgin_get_bufs__peer_share_leaves_pool_to_others);
	tcase_add_test(tc, msgin_get_bufs__without_share_one_peer_takes_pool);
	tcase_add_test(tc,
		       msgin_get_bufs__share_allows_one_message_and_cleans_up);
	tcase_add_test(tc, msgin_get_bufs__pool_waiter_over_share_is_capped);
	tcase_add_test(tc, msgin_get_bufs__larger_share_starts_waiters);
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
