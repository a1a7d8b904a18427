/*
 * metrics.h - homad's counters.
 *
 * One plain struct of monotonically increasing 64-bit counters, owned by the
 * data-plane thread (the engine updates the protocol counters, the link
 * layer the link counters).  The control plane never reads it in place: it
 * asks the data plane for a copy (a snapshot) and exports that.
 *
 * metrics_foreach() walks every counter with its exported name (Prometheus
 * style, without the "homad_" prefix and "_total" suffix, which the
 * exporters add), an optional label, and a help text.  Names follow the
 * kernel module's counters where one exists.
 */
#ifndef HOMAD_CORE_METRICS_H
#define HOMAD_CORE_METRICS_H

#include <stdint.h>

#include "core/wire.h"

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

	/* --- link layer (daemon) --------------------------------------- */
	uint64_t link_rx_datagrams;    /* completions with a datagram in them */
	uint64_t link_rx_truncated;    /* datagram larger than an rx buffer */
	uint64_t link_rx_bad_ip;       /* IPv4 header unusable (raw ip link) */
	uint64_t link_rx_gro_segments; /* segments split out of GRO reads */
	uint64_t link_rx_rearms;       /* multishot recvmsg re-armed */
	uint64_t link_rx_errors;       /* recv completions with an error */
	uint64_t link_tx_packets;      /* packets the kernel accepted */
	uint64_t link_tx_bytes;	       /* bytes the kernel accepted */
	uint64_t link_tx_errors;       /* sendmsg completions with an error */
	uint64_t link_tx_queue_drops;  /* packets dropped: send queue full */
	uint64_t link_tx_batches;      /* submits that carried >= 1 send */
	uint64_t icmp_errors;	       /* ICMP errors read from error queues */

	/* --- data-plane loop --------------------------------------------- */
	uint64_t loop_wakeups; /* returns from io_uring_submit_and_wait */
	uint64_t ctl_messages; /* messages from the control plane */
};

/*
 * Called once per counter by metrics_foreach.  label_key/label_value are
 * NULL for an unlabelled counter.  All strings are static.
 */
typedef void (*metrics_visit_fn)(void *ctx, const char *name,
				 const char *label_key, const char *label_value,
				 const char *help, uint64_t value);

/* Visit every counter of m, in a stable order. */
void metrics_foreach(const struct homa_metrics *m, metrics_visit_fn fn,
		     void *ctx);

#endif /* HOMAD_CORE_METRICS_H */
