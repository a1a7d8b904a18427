/*
 * engine.h - the public contract of homad's sans-I/O Homa engine.
 *
 * The engine holds every rule of Homa and nothing else: no syscalls, no
 * clock reads, no globals.  The caller (homad's data plane, the simulator,
 * the fuzzers) feeds it received packets, application commands and clock
 * ticks, always passing the current time; the engine's outputs are packets
 * to send, deliveries to sockets, the time of its next deadline and its
 * metrics.
 *
 * At this stage (Foundation) the engine decodes and counts every received
 * packet, by type and malformed ones by reason; the protocol itself plugs
 * in behind the same entry point (engine_rx).
 */
#ifndef HOMAD_CORE_ENGINE_H
#define HOMAD_CORE_ENGINE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"
#include "core/wire.h"

/* A host address; IPv4 addresses are held v4-mapped (::ffff:a.b.c.d). */
struct homa_addr {
	struct in6_addr in6;
};

/*
 * Protocol parameters, with the kernel module's defaults (spec/protocol.md,
 * names as in homa.conf).  Filled by the config module; validated there.
 */
struct homa_params {
	uint32_t link_mbps;		    /* [25000] link speed, Mbit/s */
	uint32_t unsched_bytes;		    /* [40000] unscheduled bytes */
	uint32_t max_nic_est_backlog_usecs; /* [5] pacer: hold beyond this */
	uint32_t max_nic_queue_usecs;	    /* [40] pacer: hard cap */
	uint32_t defer_min_bytes;	    /* [1000] never pace shorter */
	uint32_t pacer_fifo_fraction;	    /* [50] per mille to oldest */
	uint32_t max_overcommit;	    /* [8] messages granted at once */
	uint32_t max_incoming;		    /* [400000] granted-not-received */
	uint32_t max_sched_prio;	    /* [3] highest scheduled level */
	uint32_t num_priorities;	    /* [8] levels in use */
	uint32_t fifo_grant_increment;	    /* [50000] bytes per FIFO grant */
	uint32_t grant_fifo_fraction;	    /* [50] per mille of link */
	uint32_t unsched_cutoffs[HOMA_NUM_PRIORITIES]; /* by level */
	uint32_t cutoff_version;    /* [1] version of our cutoffs */
	uint32_t resend_ticks;	    /* [5] silent ticks to RESEND */
	uint32_t resend_interval;   /* [5] ticks between RESENDs */
	uint32_t timeout_ticks;	    /* [100] silent ticks to abort */
	uint32_t request_ack_ticks; /* [2] ticks to first NEED_ACK */
	uint32_t reap_limit;	    /* [10] dead RPCs per reap */
	uint32_t dead_buffs_limit;  /* [5000] force harder reaping */
	uint64_t wmem_max;	    /* [100000000] tx bytes/socket */
	uint32_t tick_usecs;	    /* [1000] timer tick */
};

/* Fill p with the defaults of spec/protocol.md. */
void engine_params_default(struct homa_params *p);

struct homa_engine;

/*
 * Create an engine with a copy of params.  Returns NULL only when memory
 * runs out.  Destroy with engine_destroy (which takes NULL).
 */
struct homa_engine *engine_create(const struct homa_params *params);
void engine_destroy(struct homa_engine *e);

/* Replace the engine's parameters (config reload), effective at once. */
void engine_set_params(struct homa_engine *e, const struct homa_params *p);

/*
 * A packet received from src: buf[0..len) starts at the Homa header.  prio
 * is the priority it arrived with (TOS >> 5); now is the caller's clock, in
 * nanoseconds.  The engine validates it (a bad one is counted by reason and
 * dropped) and acts on it.  buf is only borrowed for the call.
 */
void engine_rx(struct homa_engine *e, const void *buf, size_t len,
	       const struct homa_addr *src, uint8_t prio, uint64_t now);

/*
 * The time (caller's clock, ns) at which the engine next needs
 * engine_tick(); UINT64_MAX when it has nothing pending.
 */
uint64_t engine_next_deadline(const struct homa_engine *e);

/* Clock tick: run the timers that are due at now. */
void engine_tick(struct homa_engine *e, uint64_t now);

/*
 * The engine's counters.  Its link-layer fields belong to the caller, who
 * may update them through this pointer (the engine never touches them).
 */
struct homa_metrics *engine_metrics(struct homa_engine *e);

#endif /* HOMAD_CORE_ENGINE_H */
