/*
 * fault.h - fault injection for homad's link layer: a bad network on
 * demand.
 *
 * The machine homad's tests run on has no netem; this module lets the data
 * plane drop, duplicate, reorder and delay the packets it receives (before
 * the engine sees them) and sends (where the engine's output goes to the
 * link), each with its own probability.  It is sans-I/O: it takes the time
 * as an argument, never reads a clock, never touches a socket.  The data
 * plane asks fault_decide() what to do with each packet; a packet that is
 * to be held (reorder, delay) is copied into the module's bounded queue by
 * fault_hold() and handed back by fault_pop_due() once its release time
 * has come.  A duplicate is delivered (or sent) a second time at once.
 *
 * Everything is off by default (homa.conf group test, homa.conf(5)); when
 * every probability is 0, fault_active() is false and the data plane does
 * not call in at all.  Decisions come from a seeded PRNG (splitmix64), so
 * one seed gives one sequence of decisions (a seed of 0 is replaced by the
 * caller's choice, e.g. the clock, at fault_create/fault_set_params).
 *
 * One struct fault is used by one thread (the data plane's).
 */
#ifndef HOMAD_FAULT_H
#define HOMAD_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/engine.h"
#include "stats.h"

/* Largest fault_params.max_held; longest hold, in microseconds. */
#define FAULT_MAX_HELD	  1048576u
#define FAULT_MAX_HOLD_US 10000000u

/*
 * The test group of homa.conf: probabilities in 0..1 per direction and
 * kind of fault, hold times in microseconds.  Plain values: copied by
 * value between threads (it is part of struct homa_config).
 */
struct fault_params {
	uint64_t seed;	   /* [0: from the clock] PRNG seed */
	double rx_drop;	   /* [0] probability a received packet is dropped */
	double tx_drop;	   /* [0] ... a packet to send is dropped */
	double rx_dup;	   /* [0] ... is also delivered a second time */
	double tx_dup;	   /* [0] ... is also sent a second time */
	double rx_reorder; /* [0] ... is held back for a random time up to */
	double tx_reorder; /*     rx/tx_reorder_us, so later ones overtake */
	double rx_delay;   /* [0] ... is held back for exactly */
	double tx_delay;   /*     rx/tx_delay_us */
	uint32_t rx_reorder_us; /* [100] */
	uint32_t tx_reorder_us; /* [100] */
	uint32_t rx_delay_us;	/* [1000] */
	uint32_t tx_delay_us;	/* [1000] */
	uint32_t max_held;	/* [4096] packets held at once, both directions:
				   over it a packet to hold passes through
				   (counted in fault_held_overflows) */
};

/* Direction of a packet. */
enum fault_dir {
	FAULT_RX, /* received, on its way to the engine */
	FAULT_TX, /* from the engine, on its way to the link */
};

/* What to do with one packet (fault_decide). */
enum fault_action {
	FAULT_PASS,    /* hand it on now, unchanged */
	FAULT_DROP,    /* forget it */
	FAULT_DUP,     /* hand it on now, and once more right after */
	FAULT_REORDER, /* fault_hold() it for a random time, so that later */
	/* packets overtake it */
	FAULT_DELAY, /* fault_hold() it for the fixed delay */
};

/*
 * A held packet as fault_pop_due returns it: the bytes (owned by the
 * struct fault, valid until the next fault_pop_due or fault_destroy, so
 * that handing them on may hold other packets) and what the data plane
 * needs to hand it on.
 */
struct fault_pkt {
	enum fault_dir dir;
	struct homa_addr addr; /* rx: the source; tx: the destination */
	uint8_t prio;	       /* 0..7 */
	size_t len;
	const uint8_t *data;
};

struct fault;

/* The embedded defaults of the test group (everything off). */
void fault_params_default(struct fault_params *p);

/* True when p asks for any fault at all (a probability above 0). */
bool fault_params_active(const struct fault_params *p);

/*
 * A fault injector with parameters p (copied); counters go to *m (the
 * fault_* fields), which must outlive it.  A seed of 0 in p is replaced
 * by clock_seed.  Returns NULL when out of memory.  Nothing is allocated
 * for held packets until one is held.
 */
struct fault *fault_create(const struct fault_params *p, uint64_t clock_seed,
			   struct homad_stats *m);

/*
 * New parameters (copied).  The PRNG is reseeded (0: from clock_seed)
 * when p->seed differs from the previous parameters' seed, and goes on
 * otherwise.  Packets already held keep their
 * release times; if max_held shrank below the number held, none is lost:
 * only new holds are refused until the queue drains.
 */
void fault_set_params(struct fault *f, const struct fault_params *p,
		      uint64_t clock_seed);

/* True when any probability is above 0 (the data plane's one branch). */
bool fault_active(const struct fault *f);

/*
 * Decide the fate of one packet going in direction dir at time now (ns).
 * Drop, duplicate, reorder and delay are drawn in that order, each from
 * its own probability (so with several set, a later one applies to the
 * packets the earlier ones left); the first that hits wins.  For
 * FAULT_REORDER and FAULT_DELAY, *release_at is when the packet is due
 * (reorder: now + a uniform random time in [1 us, *_reorder_us]; delay:
 * now + *_delay_us) and the caller then calls fault_hold.  Counts drops
 * and dups (fault_*_drops, fault_*_dups).
 */
enum fault_action fault_decide(struct fault *f, enum fault_dir dir,
			       uint64_t now, uint64_t *release_at);

/*
 * Keep a copy of hdr[0..hdr_len) + payload[0..payload_len) (payload may be
 * NULL when payload_len is 0), for addr at priority prio, until
 * release_at; why is the FAULT_REORDER or FAULT_DELAY fault_decide gave,
 * counted (fault_*_reorders, fault_*_delays) once the packet is held.
 * Returns 0; -ENOBUFS when max_held packets are held already, -ENOMEM
 * when there is no memory for the copy: both counted in
 * fault_held_overflows, and the caller passes the packet on at once.
 */
int fault_hold(struct fault *f, enum fault_dir dir, enum fault_action why,
	       const struct homa_addr *addr, uint8_t prio, const void *hdr,
	       size_t hdr_len, const void *payload, size_t payload_len,
	       uint64_t release_at);

/* Release time of the earliest held packet, or UINT64_MAX when none. */
uint64_t fault_next_deadline(const struct fault *f);

/*
 * The earliest held packet due at now (release_at <= now), removed from the
 * queue, in *out; its bytes stay valid until the next fault_pop_due or
 * fault_destroy (fault_hold may be called meanwhile).  Packets
 * due at the same time come out in the order they were held.  Returns
 * false when none is due.
 */
bool fault_pop_due(struct fault *f, uint64_t now, struct fault_pkt *out);

/* Packets held now. */
unsigned fault_n_held(const struct fault *f);

/* Free f and every held packet.  Takes NULL. */
void fault_destroy(struct fault *f);

#endif /* HOMAD_FAULT_H */
