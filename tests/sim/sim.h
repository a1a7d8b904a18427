/*
 * sim.h - a deterministic multi-host network simulator around real homad
 * engines (tests/sim: the scenario tests and homa-sim use it).
 *
 * N hosts, each a struct homa_engine with one server socket and one client
 * socket, hang off one output-queued switch.  Each host's uplink is a FIFO
 * at the link rate (the NIC); each switch egress port has 8 strict-priority
 * queues served at the link rate; every hop adds the propagation delay.
 * Loss, duplication and reordering (extra delay) are drawn at the switch
 * from one seeded generator.  Time is virtual (ns); events run in (time,
 * sequence) order, so the same parameters and seed give the same run, byte
 * for byte (sim_trace_hash summarises every packet delivered).
 *
 * The application on every host is the sim's own: clients send RPCs the
 * scenario asks for (sim_rpc_start), servers answer each request with the
 * response size recorded for it, and both check every byte they receive
 * against a pattern derived from the RPC, and count deliveries, so
 * exactly-once and byte-exactness are checked on every RPC.
 */
#ifndef HOMAD_TESTS_SIM_H
#define HOMAD_TESTS_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/engine.h"

#define SIM_SERVER_PORT 100
#define SIM_RATED_HOSTS 16 /* hosts whose uplink rate may differ */

struct sim_config {
	unsigned hosts;
	uint32_t link_mbps;   /* every host link and switch port */
	uint64_t delay_ns;    /* propagation delay of each hop */
	uint32_t loss_ppm;    /* per packet at the switch, per million */
	uint32_t dup_ppm;     /* duplicated packets, per million */
	uint32_t reorder_ppm; /* packets delayed by up to reorder_ns */
	uint64_t reorder_ns;
	uint64_t seed;
	size_t pool_bytes;   /* receive pool of every socket */
	uint64_t service_ns; /* server think time before responding */
	bool hold_bpages;    /* servers keep request bpages until told */
	/*
	 * Bytes each switch egress port may hold queued (all priorities);
	 * a packet that does not fit is dropped (counted).  0: unlimited.
	 */
	uint64_t port_buffer_bytes;
	/*
	 * A host's uplink (its NIC) in Mbit/s, for the first
	 * SIM_RATED_HOSTS hosts; 0: link_mbps.  Its engine is not told (it
	 * believes proto.link_mbps): a slow or overloaded sender whose
	 * packets queue in its own NIC.
	 */
	uint32_t uplink_mbps[SIM_RATED_HOSTS];
	struct homa_params proto; /* for every engine */
};

/* Defaults: 2 hosts, 25 Gbit/s, 1 us hops, no faults, 16 MiB pools. */
void sim_config_default(struct sim_config *c);

/* What happened to one RPC (the sim's own record). */
struct sim_rpc {
	unsigned client, server;
	uint32_t req_len, resp_len;
	uint64_t tag; /* seeds the byte patterns */
	uint64_t id;  /* client's RPC id */
	uint64_t start_ns, end_ns;
	unsigned req_deliveries;  /* at the server: must end at 1 */
	unsigned resp_deliveries; /* at the client: must end at 1 */
	bool req_bad, resp_bad;	  /* a byte differed */
	int error;		  /* client saw this errno */
	bool done;		  /* response or error came */
};

struct sim;

struct sim *sim_create(const struct sim_config *c);
void sim_destroy(struct sim *s);

/* Start an RPC now from client to server; returns its index, or -errno. */
long sim_rpc_start(struct sim *s, unsigned client, unsigned server,
		   uint32_t req_len, uint32_t resp_len);
/* The same at time at (>= now). */
void sim_rpc_at(struct sim *s, uint64_t at, unsigned client, unsigned server,
		uint32_t req_len, uint32_t resp_len);

/* Run events until time `until` (inclusive) or nothing is left. */
void sim_run_until(struct sim *s, uint64_t until);
/* Run until every RPC started is done, or until `limit`; true if all done. */
bool sim_run_all(struct sim *s, uint64_t limit);

uint64_t sim_now(const struct sim *s);
size_t sim_rpc_count(const struct sim *s);
const struct sim_rpc *sim_rpc_get(const struct sim *s, size_t i);
struct homa_engine *sim_engine(struct sim *s, unsigned host);
/* A host's server socket (port SIM_SERVER_PORT) or client socket. */
struct homa_sock *sim_sock(struct sim *s, unsigned host, bool server);
const struct homa_addr *sim_addr(const struct sim *s, unsigned host);

/* A host stops answering (every packet to or from it is lost). */
void sim_host_kill(struct sim *s, unsigned host);
/*
 * A host's homad stops running for ns from now (SIGSTOP, a starved CPU):
 * packets for it wait (in its socket), its timer and its applications'
 * calls wait too; then everything runs in its original order.
 */
void sim_host_stall(struct sim *s, unsigned host, uint64_t ns);
/* Restart a host's engine from scratch (its state lost, same ports). */
void sim_host_restart(struct sim *s, unsigned host);
/* Servers holding request bpages (hold_bpages) give them all back. */
void sim_release_held(struct sim *s, unsigned host);

/* Summary of every packet delivered so far (FNV-1a). */
uint64_t sim_trace_hash(const struct sim *s);

/* Called for every packet a host's engine sends (may be NULL). */
typedef void (*sim_tap_fn)(void *ctx, unsigned host, uint64_t now,
			   const struct homa_out *pkt);
void sim_set_tap(struct sim *s, sim_tap_fn fn, void *ctx);
/* Called after every event (invariant checks; may be NULL). */
typedef void (*sim_probe_fn)(void *ctx, struct sim *s);
void sim_set_probe(struct sim *s, sim_probe_fn fn, void *ctx);

/* Link statistics: bytes each switch egress port sent. */
uint64_t sim_port_bytes(const struct sim *s, unsigned host);
/* The most bytes the egress port towards host held queued at once. */
uint64_t sim_port_max_queue(const struct sim *s, unsigned host);
/* Packets that egress port dropped for want of buffer space. */
uint64_t sim_port_drops(const struct sim *s, unsigned host);

/* A deterministic generator for workloads (splitmix64). */
uint64_t sim_rand(struct sim *s);

#endif /* HOMAD_TESTS_SIM_H */
