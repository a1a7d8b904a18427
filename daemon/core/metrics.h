/*
 * metrics.h - the engine's counters.
 *
 * One plain struct of monotonically increasing 64-bit counters, updated by
 * the engine only (homad's own counters, and the struct that holds both:
 * daemon/stats.h).
 *
 * metrics_foreach() walks every counter with its exported name (Prometheus
 * style, without the "homad_" prefix and "_total" suffix, which the
 * exporters add), an optional label, and a help text.  Names follow the
 * kernel module's counters where one exists.
 */
#ifndef HOMAD_CORE_METRICS_H
#define HOMAD_CORE_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

/* RPC states an RPC can change to (rpc.c: OUTGOING, INCOMING, IN_SERVICE,
 * DEAD). */
#define METRICS_RPC_STATES 4

struct homa_metrics {
	/* --- protocol engine ------------------------------------------ */
	/* Valid packets received, by type (index wire_type_index()). */
	uint64_t packets_received[HOMA_TYPE_COUNT];
	/* Packets handed to the link for sending, by type. */
	uint64_t packets_sent[HOMA_TYPE_COUNT];
	/* Packets refused by wire_decode, by enum wire_err ([0] unused). */
	uint64_t malformed_packets[WIRE_ERR_COUNT];
	/* Bytes of valid Homa packets received (from the Homa header on). */
	uint64_t bytes_received;
	/* Packets / bytes (Homa header on) sent, by priority level. */
	uint64_t priority_packets[HOMA_NUM_PRIORITIES];
	uint64_t priority_bytes[HOMA_NUM_PRIORITIES];
	/* RPC state changes, by the state changed to (rpc_set_state). */
	uint64_t rpc_transitions[METRICS_RPC_STATES];

	/* RPC life cycle, as the kernel module counts it: a message is
	 * "started" when its first byte is sent or received and "done" when
	 * its last one is. */
	uint64_t client_requests_started;
	uint64_t client_request_bytes_started;
	uint64_t client_request_bytes_done;
	uint64_t client_requests_done;
	uint64_t client_responses_started;
	uint64_t client_response_bytes_started;
	uint64_t client_response_bytes_done;
	uint64_t client_responses_done;
	uint64_t server_requests_started;
	uint64_t server_request_bytes_started;
	uint64_t server_request_bytes_done;
	uint64_t server_requests_done;
	uint64_t server_responses_started;
	uint64_t server_response_bytes_started;
	uint64_t server_response_bytes_done;
	uint64_t server_responses_done;

	uint64_t resent_packets;	/* DATA retransmitted for a RESEND */
	uint64_t resent_bytes;		/* their payload bytes */
	uint64_t resend_skipped_recent; /* asked for, sent < a guard ago */
	uint64_t resend_requests;	/* RESENDs we sent (timer, NEED_ACK) */
	uint64_t resends_deferred; /* due RESENDs held: link still draining */
	uint64_t client_rpc_timeouts; /* client RPCs failed ETIMEDOUT */
	uint64_t server_rpc_timeouts; /* server RPCs ended by silence */
	/* The same timeouts by cause: the peer sent nothing at all for
	 * timeout_ticks, or it talked but left live_peer_resends RESEND
	 * rounds for this RPC unanswered. */
	uint64_t client_timeouts_peer_silent;
	uint64_t client_timeouts_rpc_silent;
	uint64_t server_timeouts_peer_silent;
	uint64_t server_timeouts_rpc_silent;
	uint64_t
		timeouts_peer_alive; /* checks past timeout_ticks, peer alive */
	/* Its host up while the peer is silent (stalled_peer_ticks): the
	 * RPCs that timed out after stalled_peer_ticks, and the checks past
	 * timeout_ticks that kept an RPC. */
	uint64_t client_timeouts_peer_stalled;
	uint64_t server_timeouts_peer_stalled;
	uint64_t timeouts_host_up;
	uint64_t probes_sent;		/* ops.probe calls */
	uint64_t probe_replies;		/* engine_peer_echo, taken */
	uint64_t probe_replies_ignored; /* ... unknown peer or old probe */
	uint64_t resends_peer_limited;	/* RESEND rounds put off: peer limit */
	uint64_t resends_bytes_capped;	/* ... put off: peer's bytes asked */
	uint64_t resend_bytes_asked;	/* bytes RESENDs asked peers for */
	uint64_t grant_pace_changes;	/* a peer's grant pacing rate changed */
	uint64_t grant_paced_packets;	/* packets sent to grant-paced peers */
	uint64_t need_ack_timeouts;	/* server RPCs never acked (homad) */
	uint64_t unknown_rpcs;		/* packets for RPCs we do not have */
	uint64_t server_cant_create_rpcs; /* requests refused: limits */
	uint64_t packet_discards;	  /* DATA dropped: duplicate, overlap,
					     stale state, inconsistent length */
	uint64_t stale_requests; /* request DATA of server RPCs that ended
				    after delivering it: dropped */
	uint64_t buffer_alloc_failures; /* messages that found no bpages */
	uint64_t dropped_data_no_bufs;	/* DATA bytes dropped while waiting */
	uint64_t pool_share_waits;	/* messages over their peer's share */
	uint64_t fifo_grant_bytes;	/* bytes granted by FIFO grants */
	uint64_t grants_peer_capped;	/* grants cut by peer_grant_cap */
	uint64_t grant_bytes;		/* bytes granted by all GRANTs */
	uint64_t rpc_icmp_errors;	/* RPCs failed/ended by ICMP errors */
	uint64_t port_unreachables;	/* packets answered port unreachable */
	uint64_t acks_received;		/* server RPCs ended by an ack */
	uint64_t peer_new_entries;	/* peers added to the table */
	uint64_t peer_evictions;	/* idle peers evicted (table full) */
	uint64_t peer_table_full;    /* packets/sends refused: no peer slot */
	uint64_t rpc_limit_drops;    /* RPCs refused: max_rpcs reached */
	uint64_t gap_limit_drops;    /* DATA dropped: max_gaps reached */
	uint64_t reaper_calls;	     /* reaping passes that freed RPCs */
	uint64_t rpcs_reaped;	     /* dead RPCs freed */
	uint64_t pacer_packets;	     /* DATA sent after the pacer held it */
	uint64_t throttle_list_adds; /* messages the pacer had to hold */
	uint64_t wmem_full;	     /* sends refused with EAGAIN */
	uint64_t bad_recycles;	     /* engine_recycle with bad offsets */
	/* homad beyond the module (spec/protocol.md). */
	uint64_t rtt_samples;	   /* peer round-trip samples taken */
	uint64_t rtt_unsched_cuts; /* messages given fewer unscheduled
				      bytes from their peer's RTT */
	uint64_t incast_requests;  /* requests sent asking for an incast
				      response (HOMAD_FLAG_INCAST) */
	uint64_t incast_responses; /* responses limited for such a request */
	uint64_t homad_peers_seen; /* peers found to be homad (marker) */
	uint64_t direct_messages;  /* messages the application sent itself */
	uint64_t direct_bytes;	   /* their bytes */
	/* Responses the application received itself (direct receive). */
	uint64_t direct_responses;
	uint64_t direct_response_bytes;
	/* Requests a server received itself (direct receive of requests). */
	uint64_t direct_requests;
	uint64_t direct_request_bytes;
	/* ... refused: homad had or has that RPC (a copy the library let
	 * through), or the socket serves no requests now. */
	uint64_t direct_requests_stale;
	/* Packets it read but handed to homad (no room, ring full). */
	uint64_t direct_fallback_packets;
	/* DATA dropped: no memory for the gap it would open. */
	uint64_t gap_alloc_drops;
	/* Illegal RPC state changes refused (rpc_set_state). */
	uint64_t rpc_bad_transitions;
};

/*
 * Called once per counter by metrics_foreach.  label_key/label_value are
 * NULL for an unlabelled counter.  All strings are static.
 */
typedef void (*metrics_visit_fn)(void *ctx, const char *name,
				 const char *label_key, const char *label_value,
				 const char *help, uint64_t value);

/*
 * Visit every counter of m, in a stable order (homad's own counters are
 * walked by homad_metrics_foreach, daemon/stats.h).
 */
void metrics_foreach(const struct homa_metrics *m, metrics_visit_fn fn,
		     void *ctx);

#endif /* HOMAD_CORE_METRICS_H */
