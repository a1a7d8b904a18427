/*
 * stats.c - walk homad's counters by name (see stats.h).
 *
 * The engine's are walked by metrics_foreach (daemon/core/metrics.c); every
 * counter of the daemon's own is one row of stats_scalars, in the order
 * homactl metrics has always listed them, so adding a counter to struct
 * homad_stats means adding one row here.
 */
#include <stddef.h>
#include <string.h>

#include "session.h"
#include "stats.h"

/*
 * A counter of struct homad_metrics: a scalar, or (label_key set) an array
 * of count counters labelled label_key=label(index).
 */
struct stats_scalar {
	const char *name;
	const char *help;
	size_t offset; /* in struct homad_metrics */
	const char *label_key;
	int count;
	const char *(*label)(int index);
};

static const char *stats_session_state(int index)
{
	return session_state_name((enum session_state)index);
}

/* The rest of a scalar's row: where it is, no label. */
#define STATS_OFF(field) \
	offsetof(struct homad_metrics, homad.field), NULL, 0, NULL
#define STATS_CHAN(field) \
	offsetof(struct homad_metrics, chan.field), NULL, 0, NULL

static const struct stats_scalar stats_scalars[] = {
	{"link_rx_datagrams", "Receive completions carrying a datagram",
	 STATS_OFF(link_rx_datagrams)},
	{"link_rx_truncated", "Datagrams larger than a receive buffer",
	 STATS_OFF(link_rx_truncated)},
	{"link_rx_bad_ip", "Received datagrams with an unusable IP header",
	 STATS_OFF(link_rx_bad_ip)},
	{"link_rx_gro_segments", "Segments split out of GRO reads",
	 STATS_OFF(link_rx_gro_segments)},
	{"link_rx_rearms", "Multishot receives re-armed",
	 STATS_OFF(link_rx_rearms)},
	{"link_rx_errors", "Receive completions with an error",
	 STATS_OFF(link_rx_errors)},
	{"link_tx_packets", "Packets the kernel accepted for sending",
	 STATS_OFF(link_tx_packets)},
	{"link_tx_bytes", "Bytes the kernel accepted for sending",
	 STATS_OFF(link_tx_bytes)},
	{"link_tx_errors", "Send completions with an error",
	 STATS_OFF(link_tx_errors)},
	{"link_tx_queue_drops",
	 "Packets dropped because the send queue was full",
	 STATS_OFF(link_tx_queue_drops)},
	{"link_tx_batches", "Submits that carried at least one send",
	 STATS_OFF(link_tx_batches)},
	{"link_tx_full",
	 "Sends that found the socket buffer full and were queued again "
	 "to wait for room",
	 STATS_OFF(link_tx_full)},
	{"icmp_errors", "ICMP errors read from socket error queues",
	 STATS_OFF(icmp_errors)},
	{"link_rx_ctl_datagrams",
	 "Datagrams read by the control sockets (every type but DATA)",
	 STATS_OFF(link_rx_ctl_datagrams)},
	{"link_rx_high_datagrams",
	 "Datagrams read by the high-priority DATA sockets",
	 STATS_OFF(link_rx_high_datagrams)},
	{"link_rx_bulk_datagrams", "Datagrams read by the bulk DATA sockets",
	 STATS_OFF(link_rx_bulk_datagrams)},
	{"link_rx_kernel_drops",
	 "Packets the kernel dropped at the link's sockets (queue full)",
	 STATS_OFF(link_rx_kernel_drops)},
	{"link_rx_backlog_bytes",
	 "Bytes waiting in the link sockets' receive queues (last sample)",
	 STATS_OFF(link_rx_backlog_bytes)},
	{"link_rx_ctl_backlog_bytes",
	 "Bytes waiting in the control sockets' receive queues (last sample)",
	 STATS_OFF(link_rx_ctl_backlog_bytes)},
	{"link_rx_backlog_peak_bytes", "Largest link_rx_backlog_bytes sampled",
	 STATS_OFF(link_rx_backlog_peak_bytes)},
	{"link_probes_sent", "ICMP echo requests sent to probe peer hosts",
	 STATS_OFF(link_probes_sent)},
	{"link_probe_replies", "ICMP echo replies to our probes",
	 STATS_OFF(link_probe_replies)},
	{"link_probe_foreign",
	 "ICMP echo replies read that were not ours (other identifier) or "
	 "malformed",
	 STATS_OFF(link_probe_foreign)},
	{"link_probe_errors",
	 "ICMP echo requests not sent (no free slot, or the send failed)",
	 STATS_OFF(link_probe_errors)},
	{"loop_wakeups", "Data-plane wake-ups from io_uring",
	 STATS_OFF(loop_wakeups)},
	{"loop_sleeps",
	 "Data-plane waits that could block (the others polled: a near "
	 "deadline, spin mode)",
	 STATS_OFF(loop_sleeps)},
	{"ctl_messages", "Messages from the control plane",
	 STATS_OFF(ctl_messages)},
	{"loop_ticks", "Engine ticks run by the data plane (timer, pacer)",
	 STATS_OFF(loop_ticks)},
	{"loop_tick_ns",
	 "Nanoseconds spent in engine ticks (divide by loop_ticks for the "
	 "mean)",
	 STATS_OFF(loop_tick_ns)},
	{"loop_tick_ns_max", "Longest engine tick so far, nanoseconds",
	 STATS_OFF(loop_tick_ns_max)},
	{"loop_late_ns_max",
	 "Most a timer tick ran after its deadline, nanoseconds (homad "
	 "starved of CPU, or stopped)",
	 STATS_OFF(loop_late_ns_max)},
	{"loop_late_ticks",
	 "Timer ticks run 10 ms or more after their deadline",
	 STATS_OFF(loop_late_ticks)},
	{"chan_connects", "Client connections accepted",
	 STATS_CHAN(chan_connects)},
	{"chan_refused", "Client connections refused by limits",
	 STATS_CHAN(chan_refused)},
	{"chan_disconnects", "Client connections ended",
	 STATS_CHAN(chan_disconnects)},
	{"chan_bad_open", "Client Open refused (fds, seals, sizes, version)",
	 STATS_CHAN(chan_bad_open)},
	{"chan_bad_messages",
	 "Malformed or invalid client messages (client disconnected)",
	 STATS_CHAN(chan_bad_messages)},
	{"chan_event_overflows",
	 "Clients disconnected for not reading their events",
	 STATS_CHAN(chan_event_overflows)},
	{"chan_commands", "Client messages processed",
	 STATS_CHAN(chan_commands)},
	{"chan_events", "Event datagrams sent to clients",
	 STATS_CHAN(chan_events)},
	{"chan_bind_denied", "Binds refused by clients.bind_uids/bind_gids",
	 STATS_CHAN(chan_bind_denied)},
	{"chan_direct_granted", "Client connections given direct send",
	 STATS_CHAN(chan_direct_granted)},
	{"chan_direct_denied",
	 "Direct send asked by clients not in clients.direct_send_groups",
	 STATS_CHAN(chan_direct_denied)},
	{"chan_direct_refused",
	 "Direct send refused to allowed clients (limit, failure)",
	 STATS_CHAN(chan_direct_refused)},
	{"chan_direct_records", "Direct-send ring records adopted",
	 STATS_CHAN(chan_direct_records)},
	{"chan_direct_bad",
	 "Bad direct-send ring records (client disconnected)",
	 STATS_CHAN(chan_direct_bad)},
	{"chan_direct_torn", "Torn direct-send ring records (of the bad)",
	 STATS_CHAN(chan_direct_torn)},
	{"chan_direct_drains", "Direct-send ring drains that found records",
	 STATS_CHAN(chan_direct_drains)},
	{"chan_direct_rx_granted", "Client connections given direct receive",
	 STATS_CHAN(chan_direct_rx_granted)},
	{"chan_direct_rx_refused",
	 "Direct receive asked by direct-send clients, not granted",
	 STATS_CHAN(chan_direct_rx_refused)},
	{"chan_direct_rx_records",
	 "Responses the clients received directly (ring records)",
	 STATS_CHAN(chan_direct_rx_records)},
	{"chan_direct_rx_stale",
	 "Directly received responses of RPCs homad had ended already",
	 STATS_CHAN(chan_direct_rx_stale)},
	{"chan_direct_rx_fallback",
	 "Packets direct-receive clients handed to homad (DirectPacket)",
	 STATS_CHAN(chan_direct_rx_fallback)},
	{"chan_direct_srx_granted",
	 "Bound client sockets given a request socket (direct receive)",
	 STATS_CHAN(chan_direct_srx_granted)},
	{"chan_direct_srx_refused",
	 "Request sockets asked for with a Bind, not given",
	 STATS_CHAN(chan_direct_srx_refused)},
	{"chan_direct_srx_records",
	 "Requests the servers received directly (ring records)",
	 STATS_CHAN(chan_direct_srx_records)},
	{"chan_direct_srx_stale",
	 "Directly received requests homad refused (copies, no longer "
	 "serving)",
	 STATS_CHAN(chan_direct_srx_stale)},
	{"chan_direct_srx_revoked",
	 "Request sockets revoked as their port was released",
	 STATS_CHAN(chan_direct_srx_revoked)},
	{"chan_direct_srx_late",
	 "Requests handed to homad after their socket was revoked (dropped)",
	 STATS_CHAN(chan_direct_srx_late)},
	{"chan_state_changes",
	 "Client session state changes (session_change_state)",
	 STATS_CHAN(transitions)},
	{"chan_illegal_transitions",
	 "Client session state changes refused as illegal (a bug)",
	 STATS_CHAN(illegal_transitions)},
	{"chan_state_entered", "Client session state changes, by state entered",
	 offsetof(struct homad_metrics, chan.entered), "state", SESS_N_STATES,
	 stats_session_state},
	{"fault_rx_drops", "Received packets dropped by fault injection",
	 STATS_OFF(fault_rx_drops)},
	{"fault_tx_drops", "Packets to send dropped by fault injection",
	 STATS_OFF(fault_tx_drops)},
	{"fault_rx_dups", "Received packets duplicated by fault injection",
	 STATS_OFF(fault_rx_dups)},
	{"fault_tx_dups", "Packets sent twice by fault injection",
	 STATS_OFF(fault_tx_dups)},
	{"fault_rx_reorders",
	 "Received packets held back for reordering by fault injection",
	 STATS_OFF(fault_rx_reorders)},
	{"fault_tx_reorders",
	 "Packets to send held back for reordering by fault injection",
	 STATS_OFF(fault_tx_reorders)},
	{"fault_rx_delays", "Received packets delayed by fault injection",
	 STATS_OFF(fault_rx_delays)},
	{"fault_tx_delays", "Packets to send delayed by fault injection",
	 STATS_OFF(fault_tx_delays)},
	{"fault_held_overflows",
	 "Packets fault injection could not hold (test.max_held): passed on",
	 STATS_OFF(fault_held_overflows)},
};

#define STATS_NELEM(a) (sizeof(a) / sizeof((a)[0]))

void homad_metrics_foreach(const struct homad_metrics *m, metrics_visit_fn fn,
			   void *ctx)
{
	metrics_foreach(&m->engine, fn, ctx);
	for (size_t s = 0; s < STATS_NELEM(stats_scalars); s++) {
		const struct stats_scalar *r = &stats_scalars[s];
		const uint64_t *v =
			(const uint64_t *)((const char *)m + r->offset);

		if (r->label_key == NULL) {
			fn(ctx, r->name, NULL, NULL, r->help, *v);
			continue;
		}
		for (int i = 0; i < r->count; i++)
			fn(ctx, r->name, r->label_key, r->label(i), r->help,
			   v[i]);
	}
}

/* The gauges among the scalars (stats.h). */
static const char *const stats_gauges[] = {
	"link_rx_backlog_bytes",
	"link_rx_ctl_backlog_bytes",
	"link_rx_backlog_peak_bytes",
};

bool homad_metrics_is_gauge(const char *name)
{
	for (size_t i = 0; i < STATS_NELEM(stats_gauges); i++)
		if (strcmp(name, stats_gauges[i]) == 0)
			return true;
	return false;
}
