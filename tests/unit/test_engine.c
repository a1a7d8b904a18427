/*
 * test_engine.c - unit tests of daemon/core/engine.c and
 * daemon/core/metrics.c (the Foundation engine: decode and count).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "core/homa_int.h"
#include "core/metrics.h"
#include "core/wire.h"
#include "stats.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct homa_addr test_src = {
	.in6 = {.s6_addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0,
			    1}}};

static struct homa_engine *new_engine(void)
{
	struct homa_params p;
	struct homa_engine *e;

	engine_params_default(&p);
	e = engine_create(&p);
	ck_assert_ptr_nonnull(e);
	return e;
}

/* Encode a minimal valid packet of type t into buf; returns its length. */
static size_t make_pkt(enum homa_type t, uint8_t *buf, size_t cap,
		       uint32_t payload_len)
{
	struct homa_pkt p;
	size_t n;

	memset(&p, 0, sizeof(p));
	p.type = t;
	p.sport = 4000;
	p.dport = 0x8000;
	p.sender_id = 12;
	if (t == HOMA_DATA) {
		p.u.data.message_length = 10000;
		p.u.data.incoming = 10000;
		p.u.data.payload_len = payload_len;
		p.u.data.payload = NULL; /* bytes left as they are */
	}
	if (t == HOMA_ACK)
		p.u.ack.num_acks = 1;
	n = wire_encode(&p, buf, cap);
	ck_assert_uint_gt(n, 0);
	return n;
}

/* ---- engine_params_default ---------------------------------------------- */

START_TEST(engine_params_default__values)
{
	static const uint32_t cutoffs[HOMA_NUM_PRIORITIES] = {
		0, 0, 0, 0, 1000000, 15000, 2800, 200};
	struct homa_params p;

	memset(&p, 0xa5, sizeof(p));
	engine_params_default(&p);
	ck_assert_uint_eq(p.link_mbps, 25000);
	ck_assert_uint_eq(p.unsched_bytes, 40000);
	ck_assert_uint_eq(p.max_nic_est_backlog_usecs, 5);
	ck_assert_uint_eq(p.max_nic_queue_usecs, 40);
	ck_assert_uint_eq(p.defer_min_bytes, 1000);
	ck_assert_uint_eq(p.pacer_fifo_fraction, 50);
	ck_assert_uint_eq(p.max_overcommit, 8);
	ck_assert_uint_eq(p.max_incoming, 0); /* derived */
	ck_assert_uint_eq(p.max_sched_prio, 3);
	ck_assert_uint_eq(p.num_priorities, 8);
	ck_assert_uint_eq(p.fifo_grant_increment, 50000);
	ck_assert_uint_eq(p.grant_fifo_fraction, 50);
	for (int i = 0; i < HOMA_NUM_PRIORITIES; i++)
		ck_assert_uint_eq(p.unsched_cutoffs[i], cutoffs[i]);
	ck_assert_uint_eq(p.cutoff_version, 1);
	ck_assert_uint_eq(p.resend_ticks, 5);
	ck_assert_uint_eq(p.resend_interval, 5);
	ck_assert_uint_eq(p.timeout_ticks, 100);
	ck_assert_uint_eq(p.request_ack_ticks, 2);
	ck_assert_uint_eq(p.reap_limit, 10);
	ck_assert_uint_eq(p.dead_buffs_limit, 5000);
	ck_assert_uint_eq(p.wmem_max, 100000000);
	ck_assert_uint_eq(p.tick_usecs, 1000);
	ck_assert_uint_eq(p.unsched_from_rtt, 0);
	ck_assert_uint_eq(p.incast_threshold, 8);
	ck_assert_uint_eq(p.incast_unsched_bytes, 10000);
}
END_TEST

/* max_incoming 0 follows link_mbps: 200 us of the link, 2 MTUs..400000. */
START_TEST(engine_max_incoming__derived_from_link)
{
	struct homa_params p;
	struct homa_engine *e;

	engine_params_default(&p);
	ck_assert_uint_eq(engine_max_incoming(&p), 400000); /* 25 Gbit/s */
	p.link_mbps = 16000;
	ck_assert_uint_eq(engine_max_incoming(&p), 400000);
	p.link_mbps = 10000;
	ck_assert_uint_eq(engine_max_incoming(&p), 250000);
	p.link_mbps = 25000;
	ck_assert_uint_eq(engine_max_incoming(&p), 400000);
	p.link_mbps = 25001; /* faster: the module's link time, 128 us */
	ck_assert_uint_eq(engine_max_incoming(&p), 400016);
	p.link_mbps = 100000;
	ck_assert_uint_eq(engine_max_incoming(&p), 1600000);
	p.link_mbps = 1000000;
	ck_assert_uint_eq(engine_max_incoming(&p), 16000000);
	p.link_mbps = 1000;
	p.mtu = 9000;
	ck_assert_uint_eq(engine_max_incoming(&p), 25000);
	p.link_mbps = 100; /* 2500 bytes: at least two MTUs */
	ck_assert_uint_eq(engine_max_incoming(&p), 18000);
	p.mtu = 1500;
	ck_assert_uint_eq(engine_max_incoming(&p), 3000);
	p.max_incoming = 77777; /* set: kept */
	ck_assert_uint_eq(engine_max_incoming(&p), 77777);

	/* The engine works with the derived value, and a new link_mbps
	 * derives it again. */
	p.max_incoming = 0;
	p.link_mbps = 1000;
	p.mtu = 9000;
	e = engine_create(&p);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->params.max_incoming, 25000);
	p.link_mbps = 4000;
	engine_set_params(e, &p);
	ck_assert_uint_eq(e->params.max_incoming, 100000);
	engine_destroy(e);
}
END_TEST

/* ---- engine_create / engine_destroy -------------------------------------- */

START_TEST(engine_create__zero_metrics_no_deadline)
{
	struct homa_engine *e = new_engine();
	struct homa_metrics zero;

	memset(&zero, 0, sizeof(zero));
	ck_assert_mem_eq(engine_metrics(e), &zero, sizeof(zero));
	ck_assert_uint_eq(engine_next_deadline(e), UINT64_MAX);
	engine_tick(e, 1000000);
	ck_assert_uint_eq(engine_next_deadline(e), UINT64_MAX);
	ck_assert_mem_eq(engine_metrics(e), &zero, sizeof(zero));
	engine_destroy(e);
	engine_destroy(NULL);
}
END_TEST

/* ---- engine_rx ----------------------------------------------------------- */

START_TEST(engine_rx__counts_by_type)
{
	struct homa_engine *e = new_engine();
	struct homa_metrics *m = engine_metrics(e);
	uint8_t buf[2000];
	uint64_t bytes = 0;

	/* Type i is received i + 1 times. */
	for (int t = HOMA_TYPE_MIN; t <= HOMA_TYPE_MAX; t++) {
		size_t n = make_pkt((enum homa_type)t, buf, sizeof(buf), 100);

		for (int k = 0; k <= t - HOMA_TYPE_MIN; k++) {
			engine_rx(e, buf, n, &test_src, 7, 1000);
			bytes += n;
		}
	}
	for (int t = HOMA_TYPE_MIN; t <= HOMA_TYPE_MAX; t++)
		ck_assert_uint_eq(
			m->packets_received[wire_type_index((enum homa_type)t)],
			(uint64_t)(t - HOMA_TYPE_MIN + 1));
	ck_assert_uint_eq(m->bytes_received, bytes);
	/* 100 payload bytes + 56 DATA, once; 33 GRANT twice, ... */
	ck_assert_uint_eq(bytes, 156 + 2 * 33 + 3 * 37 + 4 * 28 + 5 * 28 +
					 6 * 62 + 7 * 28 + 8 * 28 + 9 * 80);
	for (int r = 0; r < WIRE_ERR_COUNT; r++)
		ck_assert_uint_eq(m->malformed_packets[r], 0);
	for (int t = 0; t < HOMA_TYPE_COUNT; t++)
		ck_assert_uint_eq(m->packets_sent[t], 0);
	engine_destroy(e);
}
END_TEST

START_TEST(engine_rx__counts_malformed_by_reason)
{
	struct homa_engine *e = new_engine();
	struct homa_metrics *m = engine_metrics(e);
	uint8_t buf[2000];
	size_t n;

	n = make_pkt(HOMA_GRANT, buf, sizeof(buf), 0);
	engine_rx(e, buf, 10, &test_src, 7, 0);	   /* short */
	engine_rx(e, buf, 27, &test_src, 7, 0);	   /* short */
	engine_rx(e, buf, n - 1, &test_src, 7, 0); /* truncated */
	buf[11] = 0x19;
	engine_rx(e, buf, n, &test_src, 7, 0); /* bad_type */

	n = make_pkt(HOMA_ACK, buf, sizeof(buf), 0);
	buf[28] = 0, buf[29] = 6;
	engine_rx(e, buf, n, &test_src, 7, 0); /* num_acks */

	n = make_pkt(HOMA_DATA, buf, sizeof(buf), 10);
	memset(buf + 28, 0, 4);
	engine_rx(e, buf, n, &test_src, 7, 0); /* msg_length */
	buf[28] = 0, buf[29] = 0, buf[30] = 0, buf[31] = 5;
	engine_rx(e, buf, n, &test_src, 7, 0); /* payload_length */
	buf[31] = 10;
	buf[52] = 0, buf[53] = 0, buf[54] = 0, buf[55] = 1;
	engine_rx(e, buf, n, &test_src, 7, 0); /* offset */
	buf[55] = 0;
	engine_rx(e, buf, n, &test_src, 7, 0); /* valid */

	ck_assert_uint_eq(m->malformed_packets[WIRE_OK], 0);
	ck_assert_uint_eq(m->malformed_packets[WIRE_ERR_SHORT], 2);
	ck_assert_uint_eq(m->malformed_packets[WIRE_ERR_BAD_TYPE], 1);
	ck_assert_uint_eq(m->malformed_packets[WIRE_ERR_TRUNCATED], 1);
	ck_assert_uint_eq(m->malformed_packets[WIRE_ERR_NUM_ACKS], 1);
	ck_assert_uint_eq(m->malformed_packets[WIRE_ERR_MSG_LENGTH], 1);
	ck_assert_uint_eq(m->malformed_packets[WIRE_ERR_PAYLOAD_LENGTH], 1);
	ck_assert_uint_eq(m->malformed_packets[WIRE_ERR_OFFSET], 1);
	ck_assert_uint_eq(m->packets_received[wire_type_index(HOMA_DATA)], 1);
	ck_assert_uint_eq(m->bytes_received, n);
	for (int t = HOMA_TYPE_MIN + 1; t <= HOMA_TYPE_MAX; t++)
		ck_assert_uint_eq(
			m->packets_received[wire_type_index((enum homa_type)t)],
			0);
	engine_destroy(e);
}
END_TEST

START_TEST(engine_set_params__keeps_counting)
{
	struct homa_engine *e = new_engine();
	struct homa_params p;
	uint8_t buf[100];
	size_t n = make_pkt(HOMA_BUSY, buf, sizeof(buf), 0);

	engine_rx(e, buf, n, &test_src, 7, 0);
	engine_params_default(&p);
	p.unsched_bytes = 10000;
	engine_set_params(e, &p);
	engine_rx(e, buf, n, &test_src, 7, 0);
	ck_assert_uint_eq(
		engine_metrics(e)->packets_received[wire_type_index(HOMA_BUSY)],
		2);
	engine_destroy(e);
}
END_TEST

/* ---- metrics_foreach ----------------------------------------------------- */

#define MAX_VISITS 256

struct visit {
	char key[80]; /* name{label_key=label_value} */
	uint64_t value;
	int has_help;
};

struct visits {
	int n;
	struct visit v[MAX_VISITS];
};

static void record(void *ctx, const char *name, const char *label_key,
		   const char *label_value, const char *help, uint64_t value)
{
	struct visits *vs = ctx;
	struct visit *v;

	ck_assert_int_lt(vs->n, MAX_VISITS);
	ck_assert_ptr_nonnull(name);
	ck_assert_msg((label_key == NULL) == (label_value == NULL),
		      "%s: half a label", name);
	v = &vs->v[vs->n++];
	if (label_key != NULL)
		snprintf(v->key, sizeof(v->key), "%s{%s=%s}", name, label_key,
			 label_value);
	else
		snprintf(v->key, sizeof(v->key), "%s", name);
	v->value = value;
	v->has_help = help != NULL && help[0] != '\0';
}

static const struct visit *visit_find(const struct visits *vs, const char *key)
{
	for (int i = 0; i < vs->n; i++)
		if (strcmp(vs->v[i].key, key) == 0)
			return &vs->v[i];
	return NULL;
}

START_TEST(metrics_foreach__names_labels_values)
{
	static const char *const expect[] = {
		"packets_received{type=DATA}",
		"packets_received{type=GRANT}",
		"packets_received{type=RESEND}",
		"packets_received{type=RPC_UNKNOWN}",
		"packets_received{type=BUSY}",
		"packets_received{type=CUTOFFS}",
		"packets_received{type=FREEZE}",
		"packets_received{type=NEED_ACK}",
		"packets_received{type=ACK}",
		"packets_sent{type=DATA}",
		"packets_sent{type=GRANT}",
		"packets_sent{type=RESEND}",
		"packets_sent{type=RPC_UNKNOWN}",
		"packets_sent{type=BUSY}",
		"packets_sent{type=CUTOFFS}",
		"packets_sent{type=FREEZE}",
		"packets_sent{type=NEED_ACK}",
		"packets_sent{type=ACK}",
		"malformed_packets{reason=short}",
		"malformed_packets{reason=bad_type}",
		"malformed_packets{reason=truncated}",
		"malformed_packets{reason=num_acks}",
		"malformed_packets{reason=msg_length}",
		"malformed_packets{reason=payload_length}",
		"malformed_packets{reason=offset}",
		"priority_packets{priority=0}",
		"priority_packets{priority=1}",
		"priority_packets{priority=2}",
		"priority_packets{priority=3}",
		"priority_packets{priority=4}",
		"priority_packets{priority=5}",
		"priority_packets{priority=6}",
		"priority_packets{priority=7}",
		"priority_bytes{priority=0}",
		"priority_bytes{priority=1}",
		"priority_bytes{priority=2}",
		"priority_bytes{priority=3}",
		"priority_bytes{priority=4}",
		"priority_bytes{priority=5}",
		"priority_bytes{priority=6}",
		"priority_bytes{priority=7}",
		"rpc_transitions{state=outgoing}",
		"rpc_transitions{state=incoming}",
		"rpc_transitions{state=in_service}",
		"rpc_transitions{state=dead}",
		"bytes_received",
		"client_requests_started",
		"client_request_bytes_started",
		"client_request_bytes_done",
		"client_requests_done",
		"client_responses_started",
		"client_response_bytes_started",
		"client_response_bytes_done",
		"client_responses_done",
		"server_requests_started",
		"server_request_bytes_started",
		"server_request_bytes_done",
		"server_requests_done",
		"server_responses_started",
		"server_response_bytes_started",
		"server_response_bytes_done",
		"server_responses_done",
		"resent_packets",
		"resent_bytes",
		"resend_skipped_recent",
		"resend_requests",
		"resends_deferred",
		"client_rpc_timeouts",
		"server_rpc_timeouts",
		"client_timeouts_peer_silent",
		"client_timeouts_rpc_silent",
		"server_timeouts_peer_silent",
		"server_timeouts_rpc_silent",
		"timeouts_peer_alive",
		"client_timeouts_peer_stalled",
		"server_timeouts_peer_stalled",
		"timeouts_host_up",
		"probes_sent",
		"probe_replies",
		"probe_replies_ignored",
		"resends_peer_limited",
		"resends_bytes_capped",
		"resend_bytes_asked",
		"grant_pace_changes",
		"grant_paced_packets",
		"need_ack_timeouts",
		"unknown_rpcs",
		"server_cant_create_rpcs",
		"packet_discards",
		"stale_requests",
		"buffer_alloc_failures",
		"dropped_data_no_bufs",
		"pool_share_waits",
		"fifo_grant_bytes",
		"grants_peer_capped",
		"grant_bytes",
		"rpc_icmp_errors",
		"port_unreachables",
		"acks_received",
		"peer_new_entries",
		"peer_evictions",
		"peer_table_full",
		"rpc_limit_drops",
		"gap_limit_drops",
		"reaper_calls",
		"rpcs_reaped",
		"pacer_packets",
		"throttle_list_adds",
		"wmem_full",
		"bad_recycles",
		"rtt_samples",
		"rtt_unsched_cuts",
		"incast_requests",
		"incast_responses",
		"homad_peers_seen",
		"direct_messages",
		"direct_bytes",
		"direct_responses",
		"direct_response_bytes",
		"direct_requests",
		"direct_request_bytes",
		"direct_requests_stale",
		"direct_fallback_packets",
		"gap_alloc_drops",
		"rpc_bad_transitions",
		"link_rx_datagrams",
		"link_rx_truncated",
		"link_rx_bad_ip",
		"link_rx_gro_segments",
		"link_rx_rearms",
		"link_rx_errors",
		"link_tx_packets",
		"link_tx_bytes",
		"link_tx_errors",
		"link_tx_queue_drops",
		"link_tx_batches",
		"link_tx_full",
		"icmp_errors",
		"link_rx_ctl_datagrams",
		"link_rx_high_datagrams",
		"link_rx_bulk_datagrams",
		"link_rx_kernel_drops",
		"link_rx_backlog_bytes",
		"link_rx_ctl_backlog_bytes",
		"link_rx_backlog_peak_bytes",
		"link_probes_sent",
		"link_probe_replies",
		"link_probe_foreign",
		"link_probe_errors",
		"loop_wakeups",
		"loop_sleeps",
		"ctl_messages",
		"loop_ticks",
		"loop_tick_ns",
		"loop_tick_ns_max",
		"loop_late_ns_max",
		"loop_late_ticks",
		"chan_connects",
		"chan_refused",
		"chan_disconnects",
		"chan_bad_open",
		"chan_bad_messages",
		"chan_event_overflows",
		"chan_commands",
		"chan_events",
		"chan_bind_denied",
		"chan_direct_granted",
		"chan_direct_denied",
		"chan_direct_refused",
		"chan_direct_records",
		"chan_direct_bad",
		"chan_direct_torn",
		"chan_direct_drains",
		"chan_direct_rx_granted",
		"chan_direct_rx_refused",
		"chan_direct_rx_records",
		"chan_direct_rx_stale",
		"chan_direct_rx_fallback",
		"chan_direct_srx_granted",
		"chan_direct_srx_refused",
		"chan_direct_srx_records",
		"chan_direct_srx_stale",
		"chan_direct_srx_revoked",
		"chan_direct_srx_late",
		"chan_state_changes",
		"chan_illegal_transitions",
		"chan_state_entered{state=opening}",
		"chan_state_entered{state=open}",
		"chan_state_entered{state=linger}",
		"chan_state_entered{state=doomed}",
		"chan_state_entered{state=closing}",
		"chan_state_entered{state=closed}",
		"chan_state_entered{state=dead}",
		"fault_rx_drops",
		"fault_tx_drops",
		"fault_rx_dups",
		"fault_tx_dups",
		"fault_rx_reorders",
		"fault_tx_reorders",
		"fault_rx_delays",
		"fault_tx_delays",
		"fault_held_overflows",
	};
	struct homad_metrics m;
	struct visits vs = {0}, ve = {0};
	uint64_t *words = (uint64_t *)&m;
	size_t nwords = sizeof(m) / sizeof(uint64_t);
	int gauges = 0;

	/* Every counter gets a distinct value: its word index + 1000. */
	for (size_t i = 0; i < nwords; i++)
		words[i] = 1000 + i;
	homad_metrics_foreach(&m, record, &vs);
	ck_assert_int_eq(vs.n, (int)NELEM(expect));
	for (size_t i = 0; i < NELEM(expect); i++) {
		ck_assert_str_eq(vs.v[i].key, expect[i]);
		ck_assert_msg(vs.v[i].has_help, "%s: no help", expect[i]);
		gauges += homad_metrics_is_gauge(expect[i]);
	}
	ck_assert_int_eq(gauges, 3);
	ck_assert(homad_metrics_is_gauge("link_rx_backlog_bytes"));
	ck_assert(homad_metrics_is_gauge("link_rx_ctl_backlog_bytes"));
	ck_assert(homad_metrics_is_gauge("link_rx_backlog_peak_bytes"));
	/* Every word but malformed_packets[WIRE_OK] is visited once. */
	for (size_t i = 0; i < nwords; i++) {
		int seen = 0;

		for (int k = 0; k < vs.n; k++)
			seen += vs.v[k].value == 1000 + i;
		ck_assert_int_eq(
			seen, &words[i] == &m.engine.malformed_packets[WIRE_OK]
				      ? 0
				      : 1);
	}
	/* The engine's walk is the head of homad's, up to its own last
	 * counter: none of the link's, the loop's, chan's or faults'. */
	metrics_foreach(&m.engine, record, &ve);
	ck_assert_str_eq(ve.v[ve.n - 1].key, "rpc_bad_transitions");
	for (int i = 0; i < ve.n; i++)
		ck_assert_str_eq(ve.v[i].key, vs.v[i].key);
}
END_TEST

START_TEST(metrics_foreach__fields_map_to_names)
{
	struct homad_metrics m;
	struct visits vs = {0};
	const struct visit *v;

	memset(&m, 0, sizeof(m));
	m.engine.packets_received[wire_type_index(HOMA_GRANT)] = 7;
	m.engine.packets_sent[wire_type_index(HOMA_ACK)] = 8;
	m.engine.malformed_packets[WIRE_ERR_TRUNCATED] = 9;
	m.engine.bytes_received = 123456789012ull;
	m.homad.link_tx_queue_drops = 11;
	m.homad.ctl_messages = 12;
	m.chan.chan_commands = 13;
	m.chan.illegal_transitions = 15;
	m.homad.fault_tx_dups = 14;
	homad_metrics_foreach(&m, record, &vs);

	ck_assert_ptr_nonnull(
		v = visit_find(&vs, "packets_received{type=GRANT}"));
	ck_assert_uint_eq(v->value, 7);
	ck_assert_ptr_nonnull(v = visit_find(&vs, "packets_sent{type=ACK}"));
	ck_assert_uint_eq(v->value, 8);
	ck_assert_ptr_nonnull(
		v = visit_find(&vs, "malformed_packets{reason=truncated}"));
	ck_assert_uint_eq(v->value, 9);
	ck_assert_ptr_nonnull(v = visit_find(&vs, "bytes_received"));
	ck_assert_uint_eq(v->value, 123456789012ull);
	ck_assert_ptr_nonnull(v = visit_find(&vs, "link_tx_queue_drops"));
	ck_assert_uint_eq(v->value, 11);
	ck_assert_ptr_nonnull(v = visit_find(&vs, "ctl_messages"));
	ck_assert_uint_eq(v->value, 12);
	ck_assert_ptr_nonnull(v = visit_find(&vs, "chan_commands"));
	ck_assert_uint_eq(v->value, 13);
	ck_assert_ptr_nonnull(v = visit_find(&vs, "chan_illegal_transitions"));
	ck_assert_uint_eq(v->value, 15);
	ck_assert_ptr_nonnull(v = visit_find(&vs, "fault_tx_dups"));
	ck_assert_uint_eq(v->value, 14);
	ck_assert_ptr_nonnull(
		v = visit_find(&vs, "packets_received{type=DATA}"));
	ck_assert_uint_eq(v->value, 0);
}
END_TEST

START_TEST(metrics_foreach__engine_counts_exported)
{
	struct homa_engine *e = new_engine();
	struct visits vs = {0};
	const struct visit *v;
	uint8_t buf[100];
	size_t n = make_pkt(HOMA_NEED_ACK, buf, sizeof(buf), 0);

	engine_rx(e, buf, n, &test_src, 7, 0);
	engine_rx(e, buf, 5, &test_src, 7, 0);
	metrics_foreach(engine_metrics(e), record, &vs);
	ck_assert_ptr_nonnull(
		v = visit_find(&vs, "packets_received{type=NEED_ACK}"));
	ck_assert_uint_eq(v->value, 1);
	ck_assert_ptr_nonnull(
		v = visit_find(&vs, "malformed_packets{reason=short}"));
	ck_assert_uint_eq(v->value, 1);
	ck_assert_ptr_nonnull(v = visit_find(&vs, "bytes_received"));
	ck_assert_uint_eq(v->value, HOMA_COMMON_LEN);
	engine_destroy(e);
}
END_TEST

static Suite *engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc;

	tc = tcase_create("engine");
	tcase_add_test(tc, engine_params_default__values);
	tcase_add_test(tc, engine_max_incoming__derived_from_link);
	tcase_add_test(tc, engine_create__zero_metrics_no_deadline);
	tcase_add_test(tc, engine_rx__counts_by_type);
	tcase_add_test(tc, engine_rx__counts_malformed_by_reason);
	tcase_add_test(tc, engine_set_params__keeps_counting);
	suite_add_tcase(s, tc);

	tc = tcase_create("metrics");
	tcase_add_test(tc, metrics_foreach__names_labels_values);
	tcase_add_test(tc, metrics_foreach__fields_map_to_names);
	tcase_add_test(tc, metrics_foreach__engine_counts_exported);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(engine_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
