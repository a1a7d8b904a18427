/*
 * engine.c - homad's sans-I/O Homa engine (see engine.h).
 *
 * Foundation stage: the engine owns its parameters and counters, decodes
 * every received packet and counts it.  No syscalls, no clock reads, no
 * globals: time only ever arrives as an argument.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"

/*
 * The engine.  Owned by its creator (the data plane, the simulator, a
 * test); freed by engine_destroy.
 */
struct homa_engine {
	struct homa_params params;   /* copy; replaced by engine_set_params */
	struct homa_metrics metrics; /* counters, see metrics.h */
};

/* Unscheduled cutoffs by priority level (spec/protocol.md). */
static const uint32_t engine_default_cutoffs[HOMA_NUM_PRIORITIES] = {
	0, 0, 0, 0, 1000000, 15000, 2800, 200,
};

void engine_params_default(struct homa_params *p)
{
	memset(p, 0, sizeof(*p));
	p->link_mbps = 25000;
	p->unsched_bytes = 40000;
	p->max_nic_est_backlog_usecs = 5;
	p->max_nic_queue_usecs = 40;
	p->defer_min_bytes = 1000;
	p->pacer_fifo_fraction = 50;
	p->max_overcommit = 8;
	p->max_incoming = 400000;
	p->max_sched_prio = 3;
	p->num_priorities = HOMA_NUM_PRIORITIES;
	p->fifo_grant_increment = 50000;
	p->grant_fifo_fraction = 50;
	memcpy(p->unsched_cutoffs, engine_default_cutoffs,
	       sizeof(p->unsched_cutoffs));
	p->cutoff_version = 1;
	p->resend_ticks = 5;
	p->resend_interval = 5;
	p->timeout_ticks = 100;
	p->request_ack_ticks = 2;
	p->reap_limit = 10;
	p->dead_buffs_limit = 5000;
	p->wmem_max = 100000000;
	p->tick_usecs = 1000;
}

struct homa_engine *engine_create(const struct homa_params *params)
{
	struct homa_engine *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	e->params = *params;
	return e;
}

void engine_destroy(struct homa_engine *e)
{
	free(e);
}

void engine_set_params(struct homa_engine *e, const struct homa_params *p)
{
	e->params = *p;
}

void engine_rx(struct homa_engine *e, const void *buf, size_t len,
	       const struct homa_addr *src, uint8_t prio, uint64_t now)
{
	struct homa_pkt pkt;
	int err;

	/* Used once the protocol plugs in behind this entry point. */
	(void)src;
	(void)prio;
	(void)now;

	err = wire_decode(buf, len, &pkt);
	if (err < 0) {
		/* wire_decode returns -1 .. -(WIRE_ERR_COUNT - 1). */
		if (-err < WIRE_ERR_COUNT)
			e->metrics.malformed_packets[-err]++;
		return;
	}
	e->metrics.packets_received[wire_type_index(pkt.type)]++;
	e->metrics.bytes_received += len;
}

uint64_t engine_next_deadline(const struct homa_engine *e)
{
	(void)e;
	return UINT64_MAX; /* no timers yet */
}

void engine_tick(struct homa_engine *e, uint64_t now)
{
	/* The protocol engine issue adds timers (resend, timeout, acks). */
	(void)e;
	(void)now;
}

struct homa_metrics *engine_metrics(struct homa_engine *e)
{
	return &e->metrics;
}
