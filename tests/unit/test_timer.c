/*
 * test_timer.c - unit tests of daemon/core/timer.c (RESEND rounds,
 * timeouts, BUSY, NEED_ACK) and the NEED_ACK answer.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "enginetest.h"

static struct et t;
static uint8_t resp[100];

static void setup(void)
{
	et_init(&t, NULL);
}

static void teardown(void)
{
	et_free(&t);
}

static uint32_t nrpcs(void)
{
	struct homa_engine_state st;

	engine_state(t.e, &st);
	return st.rpcs;
}

START_TEST(engine_next_deadline__idle_and_armed)
{
	ck_assert_uint_eq(engine_next_deadline(t.e), UINT64_MAX);
	et_request(&t, 100);
	ck_assert_uint_eq(engine_next_deadline(t.e), t.now + ET_MS);
}
END_TEST

/*
 * Ticks keep their period when they run a little late (no drift), and
 * start it over when a whole period was missed (homad did not run).
 */
START_TEST(engine_next_deadline__period_kept)
{
	uint64_t d;

	et_request(&t, 100);
	d = engine_next_deadline(t.e);
	t.now = d + 400000; /* 0.4 ms late */
	engine_tick(t.e, t.now);
	ck_assert_uint_eq(engine_next_deadline(t.e), d + ET_MS);
	d += ET_MS;
	t.now = d + 2500000; /* 2.5 ms late: two periods missed */
	engine_tick(t.e, t.now);
	ck_assert_uint_eq(engine_next_deadline(t.e), t.now + ET_MS);
}
END_TEST

START_TEST(timer_tick__client_resend_all_then_timeout)
{
	uint64_t id = et_request(&t, 100);
	const struct et_out *r;

	et_clear(&t);
	et_ticks(&t, 4);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 0);
	et_ticks(&t, 1);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 1);
	r = et_nth(&t, HOMA_RESEND, 0);
	ck_assert_uint_eq(r->pkt.sender_id, id);
	ck_assert_uint_eq(r->pkt.u.resend.offset, 0);
	ck_assert_uint_eq(r->pkt.u.resend.length, HOMA_RESEND_ALL);
	ck_assert_uint_eq(r->pkt.u.resend.priority, 7);
	ck_assert_uint_eq(r->prio, 7);
	et_ticks(&t, 5);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 2);
	/* Backing off: 20, 40, 65, 90 (gaps 10, 20, then timeout_ticks/4). */
	et_ticks(&t, 9);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 2);
	et_ticks(&t, 1);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 3);
	et_ticks(&t, 69);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 5);
	et_ticks(&t, 1);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 6);
	/* The peer sent nothing at all for timeout_ticks: ETIMEDOUT. */
	et_ticks(&t, 9);
	ck_assert_uint_eq(t.ndeliv, 0);
	et_ticks(&t, 1);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_int_eq(t.deliv[0].kind, HOMA_DELIVER_ERROR);
	ck_assert_int_eq(t.deliv[0].error, ETIMEDOUT);
	ck_assert_uint_eq(t.deliv[0].id, id);
	ck_assert_uint_eq(engine_metrics(t.e)->client_rpc_timeouts, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->client_timeouts_peer_silent, 1);
	ck_assert_uint_eq(engine_metrics(t.e)->client_timeouts_rpc_silent, 0);
	ck_assert_uint_eq(engine_metrics(t.e)->timeouts_peer_alive, 0);
	ck_assert_uint_eq(nrpcs(), 0);
}
END_TEST

/*
 * A peer that keeps sending (here: CUTOFFS, about no RPC, every 10 ticks)
 * is alive: an RPC it never answers waits until live_peer_resends RESEND
 * rounds for it in a row went unanswered (rounds at 5, 10, 20, 40, 65, 90,
 * 115, 140, 165, 190, 215).  A round counts only if the peer talked since
 * the one before (it could have answered): not the second (the peer said
 * nothing between ticks 5 and 10), so the tenth that counts is at 215.
 */
START_TEST(timer_tick__live_peer_keeps_rpc_until_bound)
{
	uint64_t id = et_request(&t, 100);
	const struct homa_metrics *m = engine_metrics(t.e);

	et_clear(&t);
	for (int i = 0; i < 19; i++) {
		et_ticks(&t, 10);
		et_ctrl(&t, HOMA_CUTOFFS, engine_sock_port(t.cli), 0);
	}
	ck_assert_uint_eq(t.ndeliv, 0);
	ck_assert_uint_eq(nrpcs(), 1);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 10);
	ck_assert_uint_eq(m->timeouts_peer_alive, 91);
	for (int i = 0; i < 2; i++) {
		et_ticks(&t, 10);
		et_ctrl(&t, HOMA_CUTOFFS, engine_sock_port(t.cli), 0);
	}
	et_ticks(&t, 5);
	ck_assert_uint_eq(t.ndeliv, 0);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 11);
	ck_assert_uint_eq(m->timeouts_peer_alive, 116);
	et_ticks(&t, 1);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_int_eq(t.deliv[0].error, ETIMEDOUT);
	ck_assert_uint_eq(t.deliv[0].id, id);
	ck_assert_uint_eq(m->client_timeouts_rpc_silent, 1);
	ck_assert_uint_eq(m->client_timeouts_peer_silent, 0);
	ck_assert_uint_eq(m->client_rpc_timeouts, 1);
}
END_TEST

/*
 * Many RPCs to one peer, few RESENDs allowed per tick, every RESEND
 * answered by BUSY: each RPC gets its turn (least recently asked first),
 * none is starved, none fails.
 */
START_TEST(timer_tick__resend_peer_limit_takes_turns)
{
	struct homa_params p;
	static unsigned asked[100];
	uint64_t ids[100];
	unsigned lo = UINT32_MAX;

	et_free(&t);
	engine_params_default(&p);
	p.resend_peer_limit = 2;
	et_init(&t, &p);
	for (int i = 0; i < 100; i++)
		ids[i] = et_request(&t, 100);
	memset(asked, 0, sizeof(asked));
	for (int tick = 0; tick < 500; tick++) {
		et_clear(&t);
		et_ticks(&t, 1);
		for (size_t k = 0; k < et_count(&t, HOMA_RESEND); k++) {
			uint64_t id = et_nth(&t, HOMA_RESEND, k)->pkt.sender_id;

			for (int i = 0; i < 100; i++)
				if (ids[i] == id)
					asked[i]++;
			et_ctrl(&t, HOMA_BUSY, engine_sock_port(t.cli), id | 1);
		}
	}
	for (int i = 0; i < 100; i++)
		if (asked[i] < lo)
			lo = asked[i];
	/* 2 a tick over 100 RPCs: each about every 50 ticks. */
	ck_assert_uint_ge(lo, 8);
	ck_assert_uint_eq(nrpcs(), 100);
	ck_assert_uint_eq(t.ndeliv, 0);
}
END_TEST

/* The peer goes quiet later: its RPCs fail timeout_ticks after its last
 * packet, not after their own silence began. */
START_TEST(timer_tick__peer_silence_counts_from_last_packet)
{
	const struct homa_metrics *m;
	struct homa_params p;

	et_free(&t);
	engine_params_default(&p);
	p.live_peer_resends = 0; /* only the peer's silence ends it */
	et_init(&t, &p);
	m = engine_metrics(t.e);
	et_request(&t, 100);
	for (int i = 0; i < 15; i++) {
		et_ticks(&t, 10);
		et_ctrl(&t, HOMA_CUTOFFS, engine_sock_port(t.cli), 0);
	}
	ck_assert_uint_eq(nrpcs(), 1);
	et_ticks(&t, 99);
	ck_assert_uint_eq(nrpcs(), 1);
	et_ticks(&t, 1);
	ck_assert_uint_eq(nrpcs(), 0);
	ck_assert_uint_eq(m->client_timeouts_peer_silent, 1);
}
END_TEST

/*
 * n ticks, one at a time; while answer, each new probe is answered as the
 * kernel of a host that is up would, before the next tick.
 */
static void ticks_probed(unsigned n, bool answer)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned before = t.probes;

		et_ticks(&t, 1);
		if (answer && t.probes != before)
			engine_peer_echo(t.e, &t.probe_dst, t.probe_seq, t.now);
	}
}

/*
 * A dead host (nothing answers, its kernel neither): probes from a quarter
 * of timeout_ticks of silence on, one every timeout_ticks / 8, to the
 * peer's address; the RPC fails after timeout_ticks as without them.
 */
START_TEST(timer_probe__dead_host_fails_at_timeout)
{
	const struct homa_metrics *m = engine_metrics(t.e);
	uint64_t id = et_request(&t, 100);

	ticks_probed(24, false);
	ck_assert_uint_eq(t.probes, 0);
	ticks_probed(1, false);
	ck_assert_uint_eq(t.probes, 1);
	ck_assert_int_eq(memcmp(&t.probe_dst, &et_peer, sizeof(et_peer)), 0);
	ck_assert_uint_eq(t.probe_seq, 1);
	ticks_probed(11, false);
	ck_assert_uint_eq(t.probes, 1);
	ticks_probed(1, false);
	ck_assert_uint_eq(t.probes, 2);
	ck_assert_uint_eq(t.probe_seq, 2);
	ticks_probed(62, false);
	ck_assert_uint_eq(t.ndeliv, 0);
	ticks_probed(1, false);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_uint_eq(t.deliv[0].id, id);
	ck_assert_int_eq(t.deliv[0].error, ETIMEDOUT);
	ck_assert_uint_eq(m->client_timeouts_peer_silent, 1);
	ck_assert_uint_eq(m->client_timeouts_peer_stalled, 0);
	/* At 25, 37, ..., 97: seven chances for an answer. */
	ck_assert_uint_eq(m->probes_sent, 7);
	ck_assert_uint_eq(m->timeouts_host_up, 0);
}
END_TEST

/*
 * A stalled host: its homad is silent, its kernel answers the probes.  The
 * RPC waits past timeout_ticks until the peer has been silent
 * stalled_peer_ticks (10 x timeout_ticks), then fails, counted as stalled.
 */
START_TEST(timer_probe__stalled_host_waits_then_fails)
{
	const struct homa_metrics *m = engine_metrics(t.e);

	ck_assert_uint_eq(t.p.stalled_peer_ticks, 1000);
	et_request(&t, 100);
	ticks_probed(999, true);
	ck_assert_uint_eq(t.ndeliv, 0);
	ck_assert_uint_eq(nrpcs(), 1);
	ck_assert_uint_eq(m->timeouts_host_up, 900);
	ck_assert_uint_eq(m->probe_replies, m->probes_sent);
	/* One probe every 12 ticks from tick 25 to 997. */
	ck_assert_uint_eq(m->probes_sent, 82);
	{
		/* homactl status shows it: silent, its host up. */
		struct homa_peer_entry pe;
		uint64_t cursor = 0;
		bool more;

		ck_assert_uint_eq(
			engine_peers_page(t.e, &cursor, &pe, 1, &more), 1);
		ck_assert(pe.host_up);
		ck_assert_uint_eq(pe.probes, 82);
		ck_assert_uint_ge(pe.silent_ticks, 999);
	}
	ticks_probed(1, true);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_int_eq(t.deliv[0].error, ETIMEDOUT);
	ck_assert_uint_eq(m->client_timeouts_peer_stalled, 1);
	ck_assert_uint_eq(m->client_timeouts_peer_silent, 0);
	ck_assert_uint_eq(m->client_timeouts_rpc_silent, 0);
}
END_TEST

/*
 * A peer idle for 500 ticks (another peer's request keeps the timer going)
 * is then asked, while its homad is stalled: the RPC waits
 * stalled_peer_ticks of its own silence, not of the peer's.
 */
START_TEST(timer_probe__idle_peer_silence_not_counted)
{
	const struct homa_metrics *m = engine_metrics(t.e);
	uint64_t id = et_request(&t, 100);

	/* An RPC to the peer completes: it is known, last heard now. */
	et_data(&t, engine_sock_port(t.cli), id | 1, 100, 100, 0, 100);
	et_data_from(&t, &et_peer2, ET_SERVER_PORT, 1000, 100, 100, 0, 100);
	ck_assert_uint_eq(t.ndeliv, 2);
	ck_assert_int_eq(t.deliv[0].error, 0);
	ticks_probed(500, true);
	ck_assert_uint_eq(nrpcs(), 1);
	et_request(&t, 100);
	ticks_probed(999, true);
	ck_assert_uint_eq(t.ndeliv, 2);
	ck_assert_uint_eq(nrpcs(), 2);
	ticks_probed(1, true);
	ck_assert_uint_eq(t.ndeliv, 3);
	ck_assert_int_eq(t.deliv[2].error, ETIMEDOUT);
	ck_assert_uint_eq(m->client_timeouts_peer_stalled, 1);
}
END_TEST

/*
 * The stalled homad runs again (here after 300 ticks: it answers BUSY to
 * our RESENDs): the RPC goes on; the RESEND rounds sent while it was
 * silent do not count as unanswered (live_peer_resends), so the RPC does
 * not fail once the peer talks again.
 */
START_TEST(timer_probe__stalled_host_resumes)
{
	const struct homa_metrics *m = engine_metrics(t.e);
	uint64_t id = et_request(&t, 100);

	ticks_probed(300, true);
	ck_assert_uint_eq(nrpcs(), 1);
	et_ctrl(&t, HOMA_CUTOFFS, engine_sock_port(t.cli), 0);
	{
		/* It talks again: no longer "host up, silent". */
		struct homa_peer_entry pe;
		uint64_t cursor = 0;
		bool more;

		ck_assert_uint_eq(
			engine_peers_page(t.e, &cursor, &pe, 1, &more), 1);
		ck_assert(!pe.host_up);
	}
	ticks_probed(3, true);
	ck_assert_uint_eq(nrpcs(), 1);
	ck_assert_uint_eq(t.ndeliv, 0);
	et_ctrl(&t, HOMA_BUSY, engine_sock_port(t.cli), id | 1);
	ticks_probed(50, true);
	ck_assert_uint_eq(t.ndeliv, 0);
	ck_assert_uint_eq(m->client_rpc_timeouts, 0);
}
END_TEST

/*
 * A host that answered and then went down (no answers from tick 300):
 * its RPCs fail timeout_ticks after its last answer, as a dead host's.
 */
START_TEST(timer_probe__host_stops_answering)
{
	const struct homa_metrics *m = engine_metrics(t.e);
	unsigned n = 0;

	et_request(&t, 100);
	ticks_probed(300, true);
	/* The last answer was to the probe of tick 289 (every 12 from 25). */
	while (t.ndeliv == 0 && n < 1000) {
		ticks_probed(1, false);
		n++;
	}
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_uint_eq(n, 89);
	ck_assert_uint_eq(m->client_timeouts_peer_silent, 1);
	ck_assert_uint_eq(m->client_timeouts_peer_stalled, 0);
}
END_TEST

/* Answers from unknown hosts, and to probes never sent or long gone, are
 * ignored and counted; stalled_peer_ticks 0 sends no probes. */
START_TEST(timer_probe__ignored_answers_and_off)
{
	const struct homa_metrics *m;
	struct homa_params p;

	m = engine_metrics(t.e);
	et_request(&t, 100);
	engine_peer_echo(t.e, &et_peer2, 1, t.now);
	engine_peer_echo(t.e, &et_peer, 1, t.now); /* none sent yet */
	ck_assert_uint_eq(m->probe_replies_ignored, 2);
	ticks_probed(25 + 12 * 12, true);
	ck_assert_uint_eq(t.probe_seq, 13);
	ck_assert_uint_eq(m->probe_replies, 13);
	engine_peer_echo(t.e, &et_peer, 5, t.now); /* 8 probes ago: too old */
	ck_assert_uint_eq(m->probe_replies_ignored, 3);
	engine_peer_echo(t.e, &et_peer, 14, t.now); /* not sent yet */
	ck_assert_uint_eq(m->probe_replies_ignored, 4);
	engine_peer_echo(t.e, &et_peer, 6, t.now);
	ck_assert_uint_eq(m->probe_replies, 14);

	et_free(&t);
	engine_params_default(&p);
	p.stalled_peer_ticks = 0;
	et_init(&t, &p);
	m = engine_metrics(t.e);
	et_request(&t, 100);
	ticks_probed(100, true);
	ck_assert_uint_eq(t.probes, 0);
	ck_assert_uint_eq(t.ndeliv, 1);
	ck_assert_uint_eq(m->client_timeouts_peer_silent, 1);
}
END_TEST

/* With live_peer_resends 0 a live peer's RPCs never time out. */
START_TEST(timer_tick__live_peer_resends_zero_waits)
{
	struct homa_params p;

	et_free(&t);
	engine_params_default(&p);
	p.live_peer_resends = 0;
	et_init(&t, &p);
	et_request(&t, 100);
	for (int i = 0; i < 300; i++) {
		et_ticks(&t, 10);
		et_ctrl(&t, HOMA_CUTOFFS, engine_sock_port(t.cli), 0);
	}
	ck_assert_uint_eq(nrpcs(), 1);
	ck_assert_uint_eq(t.ndeliv, 0);
}
END_TEST

/* BUSY restarts the silence but keeps the RESEND gap growing. */
START_TEST(timer_tick__busy_keeps_backoff)
{
	uint64_t id = et_request(&t, 100);
	uint64_t at[8];
	unsigned n = 0;

	et_clear(&t);
	for (unsigned tick = 1; tick <= 200 && n < 8; tick++) {
		size_t before = et_count(&t, HOMA_RESEND);

		et_ticks(&t, 1);
		if (et_count(&t, HOMA_RESEND) > before) {
			at[n++] = tick;
			et_ctrl(&t, HOMA_BUSY, engine_sock_port(t.cli), id | 1);
		}
	}
	ck_assert_uint_eq(n, 8);
	/* 5, then gaps 5, 10, 20, 25, 25... after each BUSY. */
	ck_assert_uint_eq(at[0], 5);
	ck_assert_uint_eq(at[1], 10);
	ck_assert_uint_eq(at[2], 20);
	ck_assert_uint_eq(at[3], 40);
	ck_assert_uint_eq(at[4], 65);
	ck_assert_uint_eq(at[5], 90);
	ck_assert_uint_eq(at[6], 115);
	ck_assert_uint_eq(t.ndeliv, 0);
}
END_TEST

/* At most resend_peer_limit RESEND rounds per peer per tick. */
START_TEST(timer_tick__resend_peer_limit)
{
	const struct homa_metrics *m = engine_metrics(t.e);

	for (int i = 0; i < 40; i++)
		et_request(&t, 100);
	et_clear(&t);
	et_ticks(&t, 5);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 16);
	ck_assert_uint_eq(m->resends_peer_limited, 24);
	et_ticks(&t, 1);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 32);
	et_ticks(&t, 1);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 40);
	/* Every RPC asked exactly once so far. */
	for (size_t i = 0; i < 40; i++)
		for (size_t j = 0; j < i; j++)
			ck_assert_uint_ne(
				et_nth(&t, HOMA_RESEND, i)->pkt.sender_id,
				et_nth(&t, HOMA_RESEND, j)->pkt.sender_id);
}
END_TEST

/*
 * The bytes a peer's RPCs asked for with RESENDs and have not heard about
 * since stay within max_incoming (no measured rate): with 20 messages of
 * 40,000 bytes, all unscheduled, each owing 38,576 bytes and max_incoming
 * 100,000, two rounds go out (one RPC may always ask); an answer (BUSY) settles
 * one, and the next RPC may ask.
 */
START_TEST(timer_tick__resend_bytes_capped_per_peer)
{
	const struct homa_metrics *m;
	struct homa_params p;

	et_free(&t);
	engine_params_default(&p);
	p.max_incoming = 100000;
	p.peer_window_usecs = 0; /* no rate-based cap: max_incoming */
	et_init(&t, &p);
	m = engine_metrics(t.e);
	for (uint64_t i = 0; i < 20; i++)
		et_data(&t, ET_SERVER_PORT, 10 + 2 * i, 40000, 40000, 0, 1424);
	et_clear(&t);
	et_ticks(&t, 5);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 2);
	ck_assert_uint_eq(m->resend_bytes_asked, 2 * (40000 - 1424));
	ck_assert_uint_ge(m->resends_bytes_capped, 18);
	/* The asking ones ask again (their own bytes are replaced, not
	 * added); the others still wait. */
	et_ticks(&t, 40);
	for (size_t i = 0; i < et_count(&t, HOMA_RESEND); i++) {
		uint64_t id = et_nth(&t, HOMA_RESEND, i)->pkt.sender_id;

		ck_assert(id == 11 || id == 13);
	}
	/* BUSY for one: it is settled, a third RPC may ask. */
	et_ctrl(&t, HOMA_BUSY, ET_SERVER_PORT, 10);
	et_clear(&t);
	et_ticks(&t, 1);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 1);
	ck_assert_uint_eq(et_nth(&t, HOMA_RESEND, 0)->pkt.sender_id, 15);
	/* Nothing failed: the peer answers. */
	ck_assert_uint_eq(nrpcs(), 20);
}
END_TEST

/* RESENDs sent so far for the RPC the peer calls id. */
static size_t resends_for(uint64_t id)
{
	size_t n = 0;

	for (size_t i = 0; i < et_count(&t, HOMA_RESEND); i++)
		if (et_nth(&t, HOMA_RESEND, i)->pkt.sender_id == (id ^ 1))
			n++;
	return n;
}

/*
 * A message goes silent while its sender keeps delivering another one (a
 * slow sender, its packets queued behind the other's): no RESEND while the
 * peer still delivers and has not yet delivered what it owed us when the
 * message went silent; one as soon as it stops delivering.
 */
START_TEST(timer_tick__resend_waits_while_peer_delivers)
{
	uint32_t off = 0;

	/* A: 10000 bytes, only the first packet arrives. */
	et_data(&t, ET_SERVER_PORT, 10, 10000, 10000, 0, 1424);
	/* B: 100000 bytes, one packet a tick (about 11 Mbit/s). */
	et_clear(&t);
	for (int i = 0; i < 20; i++) {
		et_data(&t, ET_SERVER_PORT, 12, 100000, 40000, off, 1424);
		off += 1424;
		et_ticks(&t, 1);
	}
	/* A owed 8576 bytes, B 38576 (and more granted since): 20 packets
	 * delivered are fewer. */
	ck_assert_uint_eq(resends_for(10), 0);
	ck_assert_uint_gt(engine_metrics(t.e)->resends_deferred, 10);
	/* B stops: the peer delivers nothing for two ticks. */
	et_ticks(&t, 2);
	ck_assert_uint_eq(resends_for(10), 1);
}
END_TEST

/* The peer delivered everything it owed when A went silent: A asks. */
START_TEST(timer_tick__resend_after_peer_delivered_what_was_ahead)
{
	struct homa_params p;
	uint32_t off = 0;
	int at5 = -1, i;

	et_free(&t);
	engine_params_default(&p);
	p.unsched_bytes = 10000;
	p.max_incoming = 10000;
	et_init(&t, &p);
	et_data(&t, ET_SERVER_PORT, 10, 3000, 3000, 0, 1424);
	et_clear(&t);
	/* B streams, one packet a tick; when A went silent the peer owed
	 * A's 1576 bytes and about 10000 of B's: 8 packets or more. */
	for (i = 0; i < 40 && resends_for(10) == 0; i++) {
		et_data(&t, ET_SERVER_PORT, 12, 1000000, 10000, off, 1424);
		off += 1424;
		et_ticks(&t, 1);
		if (i == 4)
			at5 = (int)resends_for(10);
	}
	ck_assert_int_eq(at5, 0); /* silent 5 ticks: deferred */
	ck_assert_uint_eq(resends_for(10), 1);
	ck_assert_int_ge(i, 8);
	ck_assert_int_le(i, 10);
}
END_TEST

START_TEST(timer_tick__busy_keeps_rpc_alive)
{
	uint64_t id = et_request(&t, 100);

	for (int i = 0; i < 50; i++) {
		et_ticks(&t, 4);
		et_ctrl(&t, HOMA_BUSY, engine_sock_port(t.cli), id | 1);
	}
	ck_assert_uint_eq(t.ndeliv, 0);
	ck_assert_uint_eq(nrpcs(), 1);
}
END_TEST

START_TEST(timer_tick__receiver_resends_gaps_and_tail)
{
	et_data(&t, ET_SERVER_PORT, 10, 10000, 10000, 0, 1424);
	et_data(&t, ET_SERVER_PORT, 10, 10000, 10000, 2848, 1424);
	et_clear(&t);
	et_ticks(&t, 5);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 2);
	ck_assert_uint_eq(et_nth(&t, HOMA_RESEND, 0)->pkt.u.resend.offset,
			  1424);
	ck_assert_uint_eq(et_nth(&t, HOMA_RESEND, 0)->pkt.u.resend.length,
			  1424);
	ck_assert_uint_eq(et_nth(&t, HOMA_RESEND, 1)->pkt.u.resend.offset,
			  4272);
	ck_assert_uint_eq(et_nth(&t, HOMA_RESEND, 1)->pkt.u.resend.length,
			  10000 - 4272);
	ck_assert_uint_eq(et_nth(&t, HOMA_RESEND, 1)->pkt.sender_id, 11);
	/* DATA resets the silence. */
	et_data(&t, ET_SERVER_PORT, 10, 10000, 10000, 1424, 1424);
	et_clear(&t);
	et_ticks(&t, 4);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 0);
}
END_TEST

START_TEST(timer_tick__resend_asks_for_granted_tail)
{
	/* 100 KB, 40 KB unscheduled: everything granted arrived. */
	for (uint32_t off = 0; off < 40000; off += 1424)
		et_data(&t, ET_SERVER_PORT, 10, 100000, 40000, off,
			40000 - off < 1424 ? 40000 - off : 1424);
	/* Our grants are outstanding, so RESENDs ask for [40000, granted);
	 * once they are "received" nothing more is asked for. */
	et_clear(&t);
	et_ticks(&t, 5);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 1);
	ck_assert_uint_eq(et_nth(&t, HOMA_RESEND, 0)->pkt.u.resend.offset,
			  40000);
}
END_TEST

/*
 * On a slow link the receiver waits, beyond resend_ticks, as long as the
 * link needs to bring in everything it expects before it asks again.
 */
START_TEST(timer_tick__resend_waits_for_slow_link_to_drain)
{
	struct homa_params p;

	et_free(&t);
	engine_params_default(&p);
	p.link_mbps = 100; /* 40000 - 1424 expected bytes: 3.1 ms */
	et_init(&t, &p);
	et_data(&t, ET_SERVER_PORT, 10, 40000, 40000, 0, 1424);
	et_clear(&t);
	et_ticks(&t, 5 + 2);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 0);
	ck_assert_uint_ge(engine_metrics(t.e)->resends_deferred, 3);
	et_ticks(&t, 1);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 1);
	ck_assert_uint_eq(et_nth(&t, HOMA_RESEND, 0)->pkt.u.resend.offset,
			  1424);
	/* Then every resend_interval, as usual. */
	et_ticks(&t, 4);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 1);
	et_ticks(&t, 1);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 2);
}
END_TEST

START_TEST(timer_tick__server_receiving_times_out_silently)
{
	et_data(&t, ET_SERVER_PORT, 10, 10000, 10000, 0, 1424);
	et_ticks(&t, 99);
	ck_assert_uint_eq(nrpcs(), 1);
	et_ticks(&t, 1);
	ck_assert_uint_eq(nrpcs(), 0);
	ck_assert_uint_eq(t.ndeliv, 0);
	ck_assert_uint_eq(engine_metrics(t.e)->server_rpc_timeouts, 1);
}
END_TEST

START_TEST(timer_tick__server_in_service_waits)
{
	et_data(&t, ET_SERVER_PORT, 10, 100, 100, 0, 100);
	ck_assert_uint_eq(t.ndeliv, 1);
	et_clear(&t);
	et_ticks(&t, 300);
	ck_assert_uint_eq(nrpcs(), 1);
	ck_assert_uint_eq(t.nout, 0);
}
END_TEST

START_TEST(timer_tick__server_waiting_for_grants_does_not_time_out)
{
	static uint8_t big[100000];
	struct homa_msgbuf mb = {big, sizeof(big), NULL};

	/* The response's unscheduled bytes go out; the client (out of
	 * bpages, say) grants nothing for far longer than timeout_ticks. */
	et_data(&t, ET_SERVER_PORT, 10, 100, 100, 0, 100);
	ck_assert_int_eq(
		engine_send_response(t.e, t.srv, 11, &et_peer, &mb, t.now), 0);
	et_pace(&t);
	et_ticks(&t, 500);
	ck_assert_uint_eq(nrpcs(), 1);
	ck_assert_uint_eq(engine_metrics(t.e)->server_rpc_timeouts, 0);
	/* A RESEND(0, all) after the client found space restarts it. */
	et_clear(&t);
	{
		struct homa_pkt pkt;

		memset(&pkt, 0, sizeof(pkt));
		pkt.type = HOMA_RESEND;
		pkt.sport = ET_PEER_PORT;
		pkt.dport = ET_SERVER_PORT;
		pkt.sender_id = 10;
		pkt.u.resend.offset = 0;
		pkt.u.resend.length = HOMA_RESEND_ALL;
		pkt.u.resend.priority = 6;
		et_rx(&t, &pkt, &et_peer);
	}
	et_pace(&t);
	ck_assert_uint_gt(et_count(&t, HOMA_DATA), 0);
	ck_assert_uint_eq(et_count(&t, HOMA_RPC_UNKNOWN), 0);
	/* The homad bound still ends a response nobody ever grants. */
	et_ticks(&t, 1000);
	ck_assert_uint_eq(nrpcs(), 0);
	ck_assert_uint_eq(engine_metrics(t.e)->need_ack_timeouts, 1);
}
END_TEST

START_TEST(timer_tick__need_ack_after_response)
{
	struct homa_msgbuf mb = {resp, sizeof(resp), NULL};
	const struct et_out *n;

	et_data(&t, ET_SERVER_PORT, 10, 100, 100, 0, 100);
	ck_assert_int_eq(
		engine_send_response(t.e, t.srv, 11, &et_peer, &mb, t.now), 0);
	et_clear(&t);
	et_ticks(&t, 1);
	ck_assert_uint_eq(et_count(&t, HOMA_NEED_ACK), 0);
	et_ticks(&t, 1);
	ck_assert_uint_eq(et_count(&t, HOMA_NEED_ACK), 1);
	n = et_nth(&t, HOMA_NEED_ACK, 0);
	ck_assert_uint_eq(n->pkt.sender_id, 11);
	ck_assert_uint_eq(n->pkt.sport, ET_SERVER_PORT);
	ck_assert_uint_eq(n->pkt.dport, ET_PEER_PORT);
	ck_assert_uint_eq(n->len, 28);
	/* Then backing off: done ticks 3, 5, 9, 17, 33, then every 25
	 * (timeout_ticks / 4). */
	et_ticks(&t, 3);
	ck_assert_uint_eq(et_count(&t, HOMA_NEED_ACK), 3);
	et_ticks(&t, 28);
	ck_assert_uint_eq(et_count(&t, HOMA_NEED_ACK), 6);
	et_ticks(&t, 49);
	ck_assert_uint_eq(et_count(&t, HOMA_NEED_ACK), 7);
	et_ticks(&t, 1);
	ck_assert_uint_eq(et_count(&t, HOMA_NEED_ACK), 8);
	/* Never a timeout while waiting for the ack... */
	et_ticks(&t, 200);
	ck_assert_uint_eq(nrpcs(), 1);
	/* ...which ends it. */
	et_ctrl(&t, HOMA_ACK, ET_SERVER_PORT, 10);
	ck_assert_uint_eq(nrpcs(), 0);
}
END_TEST

/*
 * Many answered RPCs of one client: while it is silent, one NEED_ACK per
 * tick; once it talks, resend_peer_limit (16) per tick; all stay due.
 */
START_TEST(timer_tick__need_acks_per_peer_limited)
{
	struct homa_msgbuf mb = {resp, sizeof(resp), NULL};

	for (uint64_t i = 0; i < 40; i++) {
		et_data(&t, ET_SERVER_PORT, 10 + 2 * i, 100, 100, 0, 100);
		ck_assert_int_eq(engine_send_response(t.e, t.srv, 11 + 2 * i,
						      &et_peer, &mb, t.now),
				 0);
	}
	et_clear(&t);
	et_ticks(&t, 2);
	ck_assert_uint_eq(et_count(&t, HOMA_NEED_ACK), 1);
	et_ticks(&t, 10);
	ck_assert_uint_eq(et_count(&t, HOMA_NEED_ACK), 11);
	/* The client talks (a new request): 16 in the next tick. */
	et_data(&t, ET_SERVER_PORT, 1000, 100, 100, 0, 100);
	et_clear(&t);
	et_ticks(&t, 1);
	ck_assert_uint_eq(et_count(&t, HOMA_NEED_ACK), 16);
	/* Silent again: one per tick. */
	et_clear(&t);
	et_ticks(&t, 1);
	ck_assert_uint_eq(et_count(&t, HOMA_NEED_ACK), 1);
	et_ticks(&t, 1);
	ck_assert_uint_eq(et_count(&t, HOMA_NEED_ACK), 2);
	ck_assert_uint_eq(nrpcs(), 41);
}
END_TEST

START_TEST(timer_tick__need_ack_gives_up_eventually)
{
	struct homa_msgbuf mb = {resp, sizeof(resp), NULL};

	et_data(&t, ET_SERVER_PORT, 10, 100, 100, 0, 100);
	ck_assert_int_eq(
		engine_send_response(t.e, t.srv, 11, &et_peer, &mb, t.now), 0);
	et_ticks(&t, 999);
	ck_assert_uint_eq(nrpcs(), 1);
	et_ticks(&t, 1);
	ck_assert_uint_eq(nrpcs(), 0);
	ck_assert_uint_eq(engine_metrics(t.e)->need_ack_timeouts, 1);
}
END_TEST

START_TEST(engine_rx_need_ack__client_answers)
{
	uint64_t id = et_request(&t, 100);
	const struct et_out *a;

	/* Unknown to us (e.g. response delivered long ago): ACK. */
	et_clear(&t);
	et_ctrl(&t, HOMA_NEED_ACK, engine_sock_port(t.cli), 1001);
	ck_assert_uint_eq(et_count(&t, HOMA_ACK), 1);
	a = et_nth(&t, HOMA_ACK, 0);
	ck_assert_uint_eq(a->pkt.sender_id, 1000);
	ck_assert_uint_eq(a->pkt.sport, engine_sock_port(t.cli));
	ck_assert_uint_eq(a->pkt.dport, ET_PEER_PORT);
	ck_assert_uint_eq(a->len, HOMA_ACK_LEN);
	/* Still waiting for its response: RESEND instead. */
	et_clear(&t);
	et_ctrl(&t, HOMA_NEED_ACK, engine_sock_port(t.cli), id | 1);
	ck_assert_uint_eq(et_count(&t, HOMA_ACK), 0);
	ck_assert_uint_eq(et_count(&t, HOMA_RESEND), 1);
}
END_TEST

static Suite *timer_suite(void)
{
	Suite *s = suite_create("timer");
	TCase *tc = tcase_create("timer");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, engine_next_deadline__idle_and_armed);
	tcase_add_test(tc, engine_next_deadline__period_kept);
	tcase_add_test(tc, timer_tick__client_resend_all_then_timeout);
	tcase_add_test(tc, timer_tick__busy_keeps_rpc_alive);
	tcase_add_test(tc, timer_tick__live_peer_keeps_rpc_until_bound);
	tcase_add_test(tc, timer_tick__peer_silence_counts_from_last_packet);
	tcase_add_test(tc, timer_tick__live_peer_resends_zero_waits);
	tcase_add_test(tc, timer_probe__dead_host_fails_at_timeout);
	tcase_add_test(tc, timer_probe__stalled_host_waits_then_fails);
	tcase_add_test(tc, timer_probe__stalled_host_resumes);
	tcase_add_test(tc, timer_probe__idle_peer_silence_not_counted);
	tcase_add_test(tc, timer_probe__host_stops_answering);
	tcase_add_test(tc, timer_probe__ignored_answers_and_off);
	tcase_add_test(tc, timer_tick__busy_keeps_backoff);
	tcase_add_test(tc, timer_tick__resend_peer_limit);
	tcase_add_test(tc, timer_tick__resend_bytes_capped_per_peer);
	tcase_add_test(tc, timer_tick__resend_peer_limit_takes_turns);
	tcase_add_test(tc, timer_tick__resend_waits_while_peer_delivers);
	tcase_add_test(tc,
		       timer_tick__resend_after_peer_delivered_what_was_ahead);
	tcase_add_test(tc, timer_tick__receiver_resends_gaps_and_tail);
	tcase_add_test(tc, timer_tick__resend_asks_for_granted_tail);
	tcase_add_test(tc, timer_tick__resend_waits_for_slow_link_to_drain);
	tcase_add_test(tc, timer_tick__server_receiving_times_out_silently);
	tcase_add_test(tc, timer_tick__server_in_service_waits);
	tcase_add_test(tc,
		       timer_tick__server_waiting_for_grants_does_not_time_out);
	tcase_add_test(tc, timer_tick__need_ack_after_response);
	tcase_add_test(tc, timer_tick__need_acks_per_peer_limited);
	tcase_add_test(tc, timer_tick__need_ack_gives_up_eventually);
	tcase_add_test(tc, engine_rx_need_ack__client_answers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(timer_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
