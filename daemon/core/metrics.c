/*
 * metrics.c - walk the engine's counters by name (see metrics.h).
 *
 * The labelled arrays (by packet type, by malformed reason) are walked
 * with the names of wire.c; every scalar counter is one row of
 * metrics_scalars, so adding a counter to struct homa_metrics means adding
 * one row here.
 */
#include <stddef.h>

#include "metrics.h"

/* A labelled array of struct homa_metrics, indexed from first to last. */
struct metrics_array {
	const char *name;
	const char *label_key;
	const char *help;
	size_t offset; /* of the uint64_t array in struct homa_metrics */
	int first;     /* first index visited */
	int count;     /* entries visited */
	const char *(*label)(int index); /* label value of an index */
};

/* A scalar counter of struct homa_metrics. */
struct metrics_scalar {
	const char *name;
	const char *help;
	size_t offset;
};

static const char *metrics_type_label(int index)
{
	return wire_type_name(HOMA_TYPE_MIN + index);
}

static const char *metrics_reason_label(int index)
{
	return wire_err_name(index);
}

static const char *metrics_prio_label(int index)
{
	static const char *const names[HOMA_NUM_PRIORITIES] = {
		"0", "1", "2", "3", "4", "5", "6", "7",
	};

	return index >= 0 && index < HOMA_NUM_PRIORITIES ? names[index] : "?";
}

static const char *metrics_state_label(int index)
{
	static const char *const names[METRICS_RPC_STATES] = {
		"outgoing",
		"incoming",
		"in_service",
		"dead",
	};

	return index >= 0 && index < METRICS_RPC_STATES ? names[index] : "?";
}

#define METRICS_OFF(field) offsetof(struct homa_metrics, field)

static const struct metrics_array metrics_arrays[] = {
	{"packets_received", "type", "Valid Homa packets received, by type",
	 METRICS_OFF(packets_received), 0, HOMA_TYPE_COUNT, metrics_type_label},
	{"packets_sent", "type", "Homa packets handed to the link, by type",
	 METRICS_OFF(packets_sent), 0, HOMA_TYPE_COUNT, metrics_type_label},
	{"malformed_packets", "reason",
	 "Received packets refused by the decoder, by reason",
	 METRICS_OFF(malformed_packets), 1, WIRE_ERR_COUNT - 1,
	 metrics_reason_label},
	{"priority_packets", "priority", "Packets sent, by priority level",
	 METRICS_OFF(priority_packets), 0, HOMA_NUM_PRIORITIES,
	 metrics_prio_label},
	{"priority_bytes", "priority",
	 "Bytes sent (Homa header on), by priority level",
	 METRICS_OFF(priority_bytes), 0, HOMA_NUM_PRIORITIES,
	 metrics_prio_label},
	{"rpc_transitions", "state", "RPC state changes, by the state entered",
	 METRICS_OFF(rpc_transitions), 0, METRICS_RPC_STATES,
	 metrics_state_label},
};

static const struct metrics_scalar metrics_scalars[] = {
	{"bytes_received", "Bytes of valid Homa packets received",
	 METRICS_OFF(bytes_received)},
	{"client_requests_started", "Client RPCs whose request began",
	 METRICS_OFF(client_requests_started)},
	{"client_request_bytes_started", "Bytes of requests begun by clients",
	 METRICS_OFF(client_request_bytes_started)},
	{"client_request_bytes_done", "Bytes of requests fully sent by clients",
	 METRICS_OFF(client_request_bytes_done)},
	{"client_requests_done", "Requests fully sent by clients",
	 METRICS_OFF(client_requests_done)},
	{"client_responses_started",
	 "Responses whose first byte arrived at a client",
	 METRICS_OFF(client_responses_started)},
	{"client_response_bytes_started", "Bytes of responses begun at clients",
	 METRICS_OFF(client_response_bytes_started)},
	{"client_response_bytes_done",
	 "Bytes of responses fully received by clients",
	 METRICS_OFF(client_response_bytes_done)},
	{"client_responses_done", "Responses fully received by clients",
	 METRICS_OFF(client_responses_done)},
	{"server_requests_started",
	 "Requests whose first byte arrived at a server",
	 METRICS_OFF(server_requests_started)},
	{"server_request_bytes_started", "Bytes of requests begun at servers",
	 METRICS_OFF(server_request_bytes_started)},
	{"server_request_bytes_done",
	 "Bytes of requests fully received by servers",
	 METRICS_OFF(server_request_bytes_done)},
	{"server_requests_done", "Requests fully received by servers",
	 METRICS_OFF(server_requests_done)},
	{"server_responses_started", "Responses begun by servers",
	 METRICS_OFF(server_responses_started)},
	{"server_response_bytes_started", "Bytes of responses begun by servers",
	 METRICS_OFF(server_response_bytes_started)},
	{"server_response_bytes_done",
	 "Bytes of responses fully sent by servers",
	 METRICS_OFF(server_response_bytes_done)},
	{"server_responses_done", "Responses fully sent by servers",
	 METRICS_OFF(server_responses_done)},
	{"resent_packets", "DATA packets retransmitted for a RESEND",
	 METRICS_OFF(resent_packets)},
	{"resent_bytes", "Payload bytes of DATA retransmitted for a RESEND",
	 METRICS_OFF(resent_bytes)},
	{"resend_skipped_recent",
	 "DATA packets a RESEND asked for but not sent again: sent less than "
	 "a round trip (at least a tick) ago",
	 METRICS_OFF(resend_skipped_recent)},
	{"resend_requests", "RESEND packets sent",
	 METRICS_OFF(resend_requests)},
	{"resends_deferred",
	 "Due RESENDs held back while the link could still be bringing in "
	 "the bytes we expect",
	 METRICS_OFF(resends_deferred)},
	{"client_rpc_timeouts", "Client RPCs failed with ETIMEDOUT",
	 METRICS_OFF(client_rpc_timeouts)},
	{"server_rpc_timeouts", "Server RPCs ended by silence",
	 METRICS_OFF(server_rpc_timeouts)},
	{"client_timeouts_peer_silent",
	 "Client RPCs timed out: the peer sent nothing for timeout_ticks",
	 METRICS_OFF(client_timeouts_peer_silent)},
	{"client_timeouts_rpc_silent",
	 "Client RPCs timed out: the peer talked, but left live_peer_resends "
	 "RESEND rounds for the RPC unanswered",
	 METRICS_OFF(client_timeouts_rpc_silent)},
	{"server_timeouts_peer_silent",
	 "Server RPCs ended: the client sent nothing for timeout_ticks",
	 METRICS_OFF(server_timeouts_peer_silent)},
	{"server_timeouts_rpc_silent",
	 "Server RPCs ended: the client talked, but left live_peer_resends "
	 "RESEND rounds for the RPC unanswered",
	 METRICS_OFF(server_timeouts_rpc_silent)},
	{"timeouts_peer_alive",
	 "Ticks in which an RPC silent for timeout_ticks was kept because its "
	 "peer was still sending",
	 METRICS_OFF(timeouts_peer_alive)},
	{"client_timeouts_peer_stalled",
	 "Client RPCs timed out: the peer sent nothing for stalled_peer_ticks "
	 "while its host answered probes",
	 METRICS_OFF(client_timeouts_peer_stalled)},
	{"server_timeouts_peer_stalled",
	 "Server RPCs ended: the client sent nothing for stalled_peer_ticks "
	 "while its host answered probes",
	 METRICS_OFF(server_timeouts_peer_stalled)},
	{"timeouts_host_up",
	 "Ticks in which an RPC silent for timeout_ticks was kept because its "
	 "silent peer's host answered probes",
	 METRICS_OFF(timeouts_host_up)},
	{"probes_sent", "Probes (ICMP echo) sent to hosts of silent peers",
	 METRICS_OFF(probes_sent)},
	{"probe_replies", "Probe answers taken: the host is up",
	 METRICS_OFF(probe_replies)},
	{"probe_replies_ignored",
	 "Probe answers ignored: from an unknown peer, or to an old probe",
	 METRICS_OFF(probe_replies_ignored)},
	{"resends_peer_limited",
	 "RESEND rounds put off to a later tick by resend_peer_limit",
	 METRICS_OFF(resends_peer_limited)},
	{"resends_bytes_capped",
	 "RESEND rounds put off: the peer owed too many bytes already asked "
	 "for",
	 METRICS_OFF(resends_bytes_capped)},
	{"resend_bytes_asked", "Bytes of data that RESENDs asked peers for",
	 METRICS_OFF(resend_bytes_asked)},
	{"grant_pace_changes",
	 "Changes of a peer's grant pacing rate (grant_pace_factor)",
	 METRICS_OFF(grant_pace_changes)},
	{"grant_paced_packets",
	 "Packets sent to a peer while grant pacing capped its rate",
	 METRICS_OFF(grant_paced_packets)},
	{"need_ack_timeouts", "Server RPCs ended after unanswered NEED_ACKs",
	 METRICS_OFF(need_ack_timeouts)},
	{"unknown_rpcs", "Packets for RPCs with no state here",
	 METRICS_OFF(unknown_rpcs)},
	{"server_cant_create_rpcs", "Requests refused by an RPC limit",
	 METRICS_OFF(server_cant_create_rpcs)},
	{"packet_discards", "DATA packets dropped: duplicate, overlap or stale",
	 METRICS_OFF(packet_discards)},
	{"stale_requests",
	 "Request DATA dropped: its RPC ended after delivering the request",
	 METRICS_OFF(stale_requests)},
	{"buffer_alloc_failures", "Messages that found no receive buffer space",
	 METRICS_OFF(buffer_alloc_failures)},
	{"dropped_data_no_bufs",
	 "Payload bytes of DATA dropped while waiting for buffers",
	 METRICS_OFF(dropped_data_no_bufs)},
	{"pool_share_waits",
	 "Messages made to wait because their peer held its share of the "
	 "receive pool",
	 METRICS_OFF(pool_share_waits)},
	{"fifo_grant_bytes", "Bytes granted by FIFO grants",
	 METRICS_OFF(fifo_grant_bytes)},
	{"grants_peer_capped",
	 "Grants cut short or held back: the peer had as much outstanding as "
	 "it has shown it can deliver (peer_window_usecs)",
	 METRICS_OFF(grants_peer_capped)},
	{"grant_bytes", "Bytes granted by all grants",
	 METRICS_OFF(grant_bytes)},
	{"rpc_icmp_errors", "RPCs failed or ended by ICMP errors",
	 METRICS_OFF(rpc_icmp_errors)},
	{"port_unreachables", "Packets answered with ICMP port unreachable",
	 METRICS_OFF(port_unreachables)},
	{"acks_received", "Server RPCs ended by an ack",
	 METRICS_OFF(acks_received)},
	{"peer_new_entries", "Peers added to the peer table",
	 METRICS_OFF(peer_new_entries)},
	{"peer_evictions", "Idle peers evicted from a full peer table",
	 METRICS_OFF(peer_evictions)},
	{"peer_table_full", "Packets or sends refused: peer table full",
	 METRICS_OFF(peer_table_full)},
	{"rpc_limit_drops", "RPCs refused: max_rpcs reached",
	 METRICS_OFF(rpc_limit_drops)},
	{"gap_limit_drops", "DATA packets dropped: too many gaps",
	 METRICS_OFF(gap_limit_drops)},
	{"reaper_calls", "Reaping passes that freed dead RPCs",
	 METRICS_OFF(reaper_calls)},
	{"rpcs_reaped", "Dead RPCs freed", METRICS_OFF(rpcs_reaped)},
	{"pacer_packets", "DATA packets sent after the pacer held them",
	 METRICS_OFF(pacer_packets)},
	{"throttle_list_adds", "Messages the pacer had to hold",
	 METRICS_OFF(throttle_list_adds)},
	{"wmem_full", "Sends refused: socket outgoing memory full",
	 METRICS_OFF(wmem_full)},
	{"bad_recycles", "Recycle requests naming bpages not held",
	 METRICS_OFF(bad_recycles)},
	{"rtt_samples", "Peer round-trip samples taken",
	 METRICS_OFF(rtt_samples)},
	{"rtt_unsched_cuts",
	 "Messages given fewer unscheduled bytes from their peer's RTT",
	 METRICS_OFF(rtt_unsched_cuts)},
	{"incast_requests", "Requests asking for an incast response",
	 METRICS_OFF(incast_requests)},
	{"incast_responses", "Responses limited for an incast request",
	 METRICS_OFF(incast_responses)},
	{"homad_peers_seen", "Peers found to be homad by their marker",
	 METRICS_OFF(homad_peers_seen)},
	{"direct_messages",
	 "Messages sent by their application itself (direct send), adopted",
	 METRICS_OFF(direct_messages)},
	{"direct_bytes", "Bytes of the messages sent by direct send",
	 METRICS_OFF(direct_bytes)},
	{"direct_responses",
	 "Responses received by their application itself (direct receive)",
	 METRICS_OFF(direct_responses)},
	{"direct_response_bytes", "Bytes of the responses received directly",
	 METRICS_OFF(direct_response_bytes)},
	{"direct_requests",
	 "Requests received by their server itself (direct receive)",
	 METRICS_OFF(direct_requests)},
	{"direct_request_bytes", "Bytes of the requests received directly",
	 METRICS_OFF(direct_request_bytes)},
	{"direct_requests_stale",
	 "Requests a server received itself that homad refused: a copy of "
	 "an RPC it has or had, or the socket no longer serves",
	 METRICS_OFF(direct_requests_stale)},
	{"direct_fallback_packets",
	 "Packets a direct-receive client read and handed to homad",
	 METRICS_OFF(direct_fallback_packets)},
	{"gap_alloc_drops",
	 "DATA packets dropped: no memory for the gap they would open",
	 METRICS_OFF(gap_alloc_drops)},
	{"rpc_bad_transitions",
	 "Illegal RPC state changes refused (a bug in homad)",
	 METRICS_OFF(rpc_bad_transitions)},
};

#define METRICS_NELEM(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t metrics_at(const struct homa_metrics *m, size_t offset)
{
	return *(const uint64_t *)((const char *)m + offset);
}

void metrics_foreach(const struct homa_metrics *m, metrics_visit_fn fn,
		     void *ctx)
{
	for (size_t a = 0; a < METRICS_NELEM(metrics_arrays); a++) {
		const struct metrics_array *arr = &metrics_arrays[a];

		for (int i = arr->first; i < arr->first + arr->count; i++)
			fn(ctx, arr->name, arr->label_key, arr->label(i),
			   arr->help,
			   metrics_at(m, arr->offset +
						 (size_t)i * sizeof(uint64_t)));
	}
	for (size_t s = 0; s < METRICS_NELEM(metrics_scalars); s++)
		fn(ctx, metrics_scalars[s].name, NULL, NULL,
		   metrics_scalars[s].help,
		   metrics_at(m, metrics_scalars[s].offset));
}
