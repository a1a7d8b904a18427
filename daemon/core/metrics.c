/*
 * metrics.c - walk homad's counters by name (see metrics.h).
 *
 * The labelled arrays (by packet type, by malformed reason) are walked
 * with the names of wire.c; every scalar counter is one row of
 * metrics_scalars, so adding a counter to struct homa_metrics means adding
 * one row here.
 */
#include <stddef.h>

#include "core/metrics.h"

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
};

static const struct metrics_scalar metrics_scalars[] = {
	{"bytes_received", "Bytes of valid Homa packets received",
	 METRICS_OFF(bytes_received)},
	{"link_rx_datagrams", "Receive completions carrying a datagram",
	 METRICS_OFF(link_rx_datagrams)},
	{"link_rx_truncated", "Datagrams larger than a receive buffer",
	 METRICS_OFF(link_rx_truncated)},
	{"link_rx_bad_ip", "Received datagrams with an unusable IP header",
	 METRICS_OFF(link_rx_bad_ip)},
	{"link_rx_gro_segments", "Segments split out of GRO reads",
	 METRICS_OFF(link_rx_gro_segments)},
	{"link_rx_rearms", "Multishot receives re-armed",
	 METRICS_OFF(link_rx_rearms)},
	{"link_rx_errors", "Receive completions with an error",
	 METRICS_OFF(link_rx_errors)},
	{"link_tx_packets", "Packets the kernel accepted for sending",
	 METRICS_OFF(link_tx_packets)},
	{"link_tx_bytes", "Bytes the kernel accepted for sending",
	 METRICS_OFF(link_tx_bytes)},
	{"link_tx_errors", "Send completions with an error",
	 METRICS_OFF(link_tx_errors)},
	{"link_tx_queue_drops",
	 "Packets dropped because the send queue was full",
	 METRICS_OFF(link_tx_queue_drops)},
	{"link_tx_batches", "Submits that carried at least one send",
	 METRICS_OFF(link_tx_batches)},
	{"icmp_errors", "ICMP errors read from socket error queues",
	 METRICS_OFF(icmp_errors)},
	{"loop_wakeups", "Data-plane wake-ups from io_uring",
	 METRICS_OFF(loop_wakeups)},
	{"ctl_messages", "Messages from the control plane",
	 METRICS_OFF(ctl_messages)},
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
