/*
 * stats.h - homad's counters: the engine's (struct homa_metrics, daemon/core)
 * and the daemon's own around it (link, data-plane loop, client channel,
 * fault injection).
 *
 * The data-plane thread owns both: the engine updates its own, the link,
 * the loop and fault injection update a struct homad_stats.  The control
 * plane never reads them in place: it asks the data plane for a copy (a
 * struct homad_metrics in the snapshot) and exports that.
 *
 * homad_metrics_foreach() walks every counter with its exported name
 * (Prometheus style, without the "homad_" prefix and "_total" suffix,
 * which the exporters add), an optional label and a help text: the
 * engine's first (metrics_foreach), then the daemon's, the client
 * channel's (struct session_stats, daemon/session_stats.h) among them.
 */
#ifndef HOMAD_STATS_H
#define HOMAD_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/metrics.h"
#include "session_stats.h"

struct homad_stats {
	/* --- link layer (daemon/link.c) ------------------------------- */
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
	uint64_t link_tx_full;	       /* sends re-queued: socket buffer full */
	uint64_t icmp_errors;	       /* ICMP errors read from error queues */
	/* Receive classes (daemon/link.h): datagrams read by each. */
	uint64_t link_rx_ctl_datagrams;	 /* control packets (all but DATA) */
	uint64_t link_rx_high_datagrams; /* DATA above max_sched_prio */
	uint64_t link_rx_bulk_datagrams; /* the other DATA */
	/* Packets the kernel dropped at the sockets (queue full...). */
	uint64_t link_rx_kernel_drops;
	/*
	 * Gauges (homad_metrics_is_gauge), at the link's last sample: bytes
	 * waiting in the sockets' receive queues, of which in the control
	 * sockets', and the largest total sampled.
	 */
	uint64_t link_rx_backlog_bytes;
	uint64_t link_rx_ctl_backlog_bytes;
	uint64_t link_rx_backlog_peak_bytes;
	/*
	 * Echo requests to peer hosts (link_probe): accepted by the kernel,
	 * replies to them read, echo replies not ours (another process's
	 * identifier) or malformed, probes not sent (no slot or entry, or
	 * the send failed).
	 */
	uint64_t link_probes_sent;
	uint64_t link_probe_replies;
	uint64_t link_probe_foreign;
	uint64_t link_probe_errors;

	/* --- data-plane loop (daemon/dataplane.c) ------------------------ */
	uint64_t loop_wakeups;	   /* returns from io_uring_submit_and_wait */
	uint64_t loop_sleeps;	   /* of which waits that could block */
	uint64_t ctl_messages;	   /* messages from the control plane */
	uint64_t loop_ticks;	   /* engine_tick calls (timer, pacer) */
	uint64_t loop_tick_ns;	   /* their total duration, ns */
	uint64_t loop_tick_ns_max; /* the longest of them, ns (never falls) */
	uint64_t loop_late_ns_max; /* most a tick ran past its deadline, ns */
	uint64_t loop_late_ticks;  /* ticks run DP_LATE_NS or more late */

	/* --- fault injection (daemon/fault.c, homa.conf test group) ------ */
	uint64_t fault_rx_drops;       /* received packets dropped */
	uint64_t fault_tx_drops;       /* packets to send dropped */
	uint64_t fault_rx_dups;	       /* received packets delivered twice */
	uint64_t fault_tx_dups;	       /* packets sent twice */
	uint64_t fault_rx_reorders;    /* received packets held back (random) */
	uint64_t fault_tx_reorders;    /* packets to send held back (random) */
	uint64_t fault_rx_delays;      /* received packets delayed */
	uint64_t fault_tx_delays;      /* packets to send delayed */
	uint64_t fault_held_overflows; /* holds refused (max_held, memory): the
					  packet passed through */
};

/* Every counter of homad, as the data plane's snapshot carries them. */
struct homad_metrics {
	struct homa_metrics engine; /* engine_metrics() */
	struct homad_stats homad;
	struct session_stats chan; /* chan_stats(): the client channel's */
};

/*
 * Visit every counter of m, in a stable order: the engine's
 * (metrics_foreach), then the link's, the loop's, the client channel's and
 * fault injection's.
 */
void homad_metrics_foreach(const struct homad_metrics *m, metrics_visit_fn fn,
			   void *ctx);

/*
 * True when the counter named name (as homad_metrics_foreach gives it) is
 * a gauge: a value that goes down as well as up (exported without
 * "_total").  Every other one only grows.
 */
bool homad_metrics_is_gauge(const char *name);

#endif /* HOMAD_STATS_H */
