/*
 * fault.c - link-layer fault injection (see fault.h).
 *
 * Decisions come from splitmix64: one 64-bit state, one multiply-xorshift
 * step per number, good enough statistically for drop rates and cheap.
 * Held packets are individually allocated copies in a binary min-heap
 * ordered by (release time, hold sequence), so the earliest is found in
 * O(1) and equal release times keep their order.  The heap's array grows
 * by doubling up to max_held entries; nothing is allocated while no packet
 * is held.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

/* One held packet; data[] holds len bytes. */
struct fault_entry {
	uint64_t release_at; /* ns */
	uint64_t seq;	     /* order of holding, for ties */
	enum fault_dir dir;
	struct homa_addr addr;
	uint8_t prio;
	size_t len;
	uint8_t data[];
};

struct fault {
	struct fault_params p;
	uint64_t seed;	/* in effect (never 0) */
	uint64_t state; /* splitmix64 */
	bool active;	/* a probability of p is above 0 */
	struct homad_stats *m;

	struct fault_entry **heap; /* min-heap of n held packets */
	unsigned n;
	unsigned cap; /* entries of heap[] allocated */
	uint64_t next_seq;
	/* The last packet fault_pop_due returned: freed by the next one. */
	struct fault_entry *popped;
};

void fault_params_default(struct fault_params *p)
{
	memset(p, 0, sizeof(*p));
	p->rx_reorder_us = 100;
	p->tx_reorder_us = 100;
	p->rx_delay_us = 1000;
	p->tx_delay_us = 1000;
	p->max_held = 4096;
}

bool fault_params_active(const struct fault_params *p)
{
	return p->rx_drop > 0 || p->tx_drop > 0 || p->rx_dup > 0 ||
	       p->tx_dup > 0 || p->rx_reorder > 0 || p->tx_reorder > 0 ||
	       p->rx_delay > 0 || p->tx_delay > 0;
}

static uint64_t fault_next(struct fault *f)
{
	uint64_t z = (f->state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* True with probability prob (0: never, without drawing; 1: always). */
static bool fault_chance(struct fault *f, double prob)
{
	if (!(prob > 0))
		return false;
	/* 53 random bits as a double in [0, 1). */
	return (double)(fault_next(f) >> 11) * 0x1.0p-53 < prob;
}

static void fault_seed(struct fault *f, uint64_t seed, uint64_t clock_seed)
{
	if (seed == 0)
		seed = clock_seed != 0 ? clock_seed : 1;
	f->seed = seed;
	f->state = seed;
}

struct fault *fault_create(const struct fault_params *p, uint64_t clock_seed,
			   struct homad_stats *m)
{
	struct fault *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->m = m;
	f->p = *p;
	f->active = fault_params_active(p);
	fault_seed(f, p->seed, clock_seed);
	return f;
}

void fault_set_params(struct fault *f, const struct fault_params *p,
		      uint64_t clock_seed)
{
	/* A new seed restarts the sequence; an unchanged one goes on. */
	if (p->seed != f->p.seed)
		fault_seed(f, p->seed, clock_seed);
	f->p = *p;
	f->active = fault_params_active(p);
}

bool fault_active(const struct fault *f)
{
	return f->active;
}

enum fault_action fault_decide(struct fault *f, enum fault_dir dir,
			       uint64_t now, uint64_t *release_at)
{
	const struct fault_params *p = &f->p;
	bool rx = dir == FAULT_RX;
	uint64_t us;

	if (fault_chance(f, rx ? p->rx_drop : p->tx_drop)) {
		if (rx)
			f->m->fault_rx_drops++;
		else
			f->m->fault_tx_drops++;
		return FAULT_DROP;
	}
	if (fault_chance(f, rx ? p->rx_dup : p->tx_dup)) {
		if (rx)
			f->m->fault_rx_dups++;
		else
			f->m->fault_tx_dups++;
		return FAULT_DUP;
	}
	if (fault_chance(f, rx ? p->rx_reorder : p->tx_reorder)) {
		us = rx ? p->rx_reorder_us : p->tx_reorder_us;
		if (us == 0)
			us = 1;
		*release_at = now + (1 + fault_next(f) % us) * 1000ull;
		return FAULT_REORDER;
	}
	if (fault_chance(f, rx ? p->rx_delay : p->tx_delay)) {
		us = rx ? p->rx_delay_us : p->tx_delay_us;
		*release_at = now + us * 1000ull;
		return FAULT_DELAY;
	}
	return FAULT_PASS;
}

/* a is due before b. */
static bool fault_before(const struct fault_entry *a,
			 const struct fault_entry *b)
{
	return a->release_at < b->release_at ||
	       (a->release_at == b->release_at && a->seq < b->seq);
}

static void fault_heap_up(struct fault *f, unsigned i)
{
	struct fault_entry *e = f->heap[i];

	while (i > 0) {
		unsigned parent = (i - 1) / 2;

		if (!fault_before(e, f->heap[parent]))
			break;
		f->heap[i] = f->heap[parent];
		i = parent;
	}
	f->heap[i] = e;
}

static void fault_heap_down(struct fault *f, unsigned i)
{
	struct fault_entry *e = f->heap[i];

	for (;;) {
		unsigned c = 2 * i + 1;

		if (c >= f->n)
			break;
		if (c + 1 < f->n && fault_before(f->heap[c + 1], f->heap[c]))
			c++;
		if (!fault_before(f->heap[c], e))
			break;
		f->heap[i] = f->heap[c];
		i = c;
	}
	f->heap[i] = e;
}

static void fault_free_popped(struct fault *f)
{
	free(f->popped);
	f->popped = NULL;
}

int fault_hold(struct fault *f, enum fault_dir dir, enum fault_action why,
	       const struct homa_addr *addr, uint8_t prio, const void *hdr,
	       size_t hdr_len, const void *payload, size_t payload_len,
	       uint64_t release_at)
{
	struct fault_entry *e;
	bool rx = dir == FAULT_RX;

	/* f->popped may be in use: engine_rx of a released packet sends. */
	if (f->n >= f->p.max_held) {
		f->m->fault_held_overflows++;
		return -ENOBUFS;
	}
	if (f->n == f->cap) {
		unsigned cap = f->cap ? 2 * f->cap : 64;
		struct fault_entry **h;

		if (cap > f->p.max_held)
			cap = f->p.max_held;
		h = realloc(f->heap, cap * sizeof(*h));
		if (!h) {
			f->m->fault_held_overflows++;
			return -ENOMEM;
		}
		f->heap = h;
		f->cap = cap;
	}
	e = malloc(sizeof(*e) + hdr_len + payload_len);
	if (!e) {
		f->m->fault_held_overflows++;
		return -ENOMEM;
	}
	e->release_at = release_at;
	e->seq = f->next_seq++;
	e->dir = dir;
	e->addr = *addr;
	e->prio = prio;
	e->len = hdr_len + payload_len;
	memcpy(e->data, hdr, hdr_len);
	if (payload_len)
		memcpy(e->data + hdr_len, payload, payload_len);
	f->heap[f->n] = e;
	fault_heap_up(f, f->n++);
	if (why == FAULT_DELAY) {
		if (rx)
			f->m->fault_rx_delays++;
		else
			f->m->fault_tx_delays++;
	} else {
		if (rx)
			f->m->fault_rx_reorders++;
		else
			f->m->fault_tx_reorders++;
	}
	return 0;
}

uint64_t fault_next_deadline(const struct fault *f)
{
	return f->n ? f->heap[0]->release_at : UINT64_MAX;
}

bool fault_pop_due(struct fault *f, uint64_t now, struct fault_pkt *out)
{
	struct fault_entry *e;

	fault_free_popped(f);
	if (f->n == 0 || f->heap[0]->release_at > now)
		return false;
	e = f->heap[0];
	f->heap[0] = f->heap[--f->n];
	if (f->n)
		fault_heap_down(f, 0);
	f->popped = e;
	out->dir = e->dir;
	out->addr = e->addr;
	out->prio = e->prio;
	out->len = e->len;
	out->data = e->data;
	return true;
}

unsigned fault_n_held(const struct fault *f)
{
	return f->n;
}

void fault_destroy(struct fault *f)
{
	if (!f)
		return;
	fault_free_popped(f);
	for (unsigned i = 0; i < f->n; i++)
		free(f->heap[i]);
	free(f->heap);
	free(f);
}
