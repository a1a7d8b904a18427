/*
 * evq.c - received events waiting for the thread that will take them.
 *
 * One thread at a time reads the connection; what it reads for others is
 * kept here: messages and failures for hc_recv(any) in a FIFO ring (grown
 * on demand, up to a limit), and private responses in one slot per private
 * RPC, made when the request is sent, so that a response can only land
 * where a waiter for its id will look, and a wait for an id that is not
 * an outstanding private RPC is refused at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

#define EVQ_NONE	 UINT32_MAX
#define EVQ_INITIAL_RING 64u

static uint32_t evq_hash(const struct evq *q, uint64_t id)
{
	id *= 0x9e3779b97f4a7c15ull;
	return (uint32_t)(id >> 32) & (q->nbucket - 1);
}

int evq_init(struct evq *q, uint32_t limit, uint32_t priv_cap)
{
	memset(q, 0, sizeof(*q));
	if (limit == 0 || priv_cap == 0 || limit > (1u << 28) ||
	    priv_cap > (1u << 24))
		return -EINVAL;
	q->limit = limit;
	q->nbucket = 1;
	while (q->nbucket < priv_cap)
		q->nbucket <<= 1;
	q->priv_cap = priv_cap;
	q->priv = zmem_alloc(priv_cap, sizeof(*q->priv));
	q->bucket = malloc(q->nbucket * sizeof(*q->bucket));
	if (q->priv == NULL || q->bucket == NULL) {
		evq_destroy(q);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < q->nbucket; i++)
		q->bucket[i] = EVQ_NONE;
	/* Slots [priv_fresh, priv_cap) never used: untouched (zmem.c). */
	q->priv_free = EVQ_NONE;
	q->priv_fresh = 0;
	return 0;
}

void evq_destroy(struct evq *q)
{
	if (q == NULL)
		return;
	free(q->ring);
	zmem_free(q->priv, q->priv_cap, sizeof(*q->priv));
	free(q->bucket);
	memset(q, 0, sizeof(*q));
}

/* Double the ring (keeping the order), up to what limit needs. */
static int evq_grow(struct evq *q)
{
	uint32_t ncap = q->ring_cap == 0 ? EVQ_INITIAL_RING : q->ring_cap * 2;
	struct evq_ev *n;

	n = malloc(ncap * sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->count; i++)
		n[i] = q->ring[(q->head + i) & (q->ring_cap - 1)];
	free(q->ring);
	q->ring = n;
	q->ring_cap = ncap;
	q->head = 0;
	return 0;
}

int evq_push(struct evq *q, const struct evq_ev *ev)
{
	int rc;

	if (q->count >= q->limit)
		return -ENOBUFS;
	if (q->count == q->ring_cap) {
		rc = evq_grow(q);
		if (rc < 0)
			return rc;
	}
	q->ring[(q->head + q->count) & (q->ring_cap - 1)] = *ev;
	q->count++;
	return 0;
}

int evq_pop(struct evq *q, struct evq_ev *ev)
{
	if (q->count == 0)
		return -EAGAIN;
	*ev = q->ring[q->head];
	q->head = (q->head + 1) & (q->ring_cap - 1);
	q->count--;
	return 0;
}

void evq_clear(struct evq *q, void (*fn)(void *, const struct evq_ev *),
	       void *arg)
{
	struct evq_ev ev;

	while (evq_pop(q, &ev) == 0)
		if (fn != NULL)
			fn(arg, &ev);
}

/* The slot of id, and where it is linked from. */
static uint32_t evq_priv_find(const struct evq *q, uint64_t id, uint32_t **pp)
{
	uint32_t *p = &q->bucket[evq_hash(q, id)];

	while (*p != EVQ_NONE) {
		if (q->priv[*p].id == id) {
			if (pp != NULL)
				*pp = p;
			return *p;
		}
		p = &q->priv[*p].next;
	}
	return EVQ_NONE;
}

int evq_priv_add(struct evq *q, uint64_t id)
{
	uint32_t i, h;

	if (evq_priv_find(q, id, NULL) != EVQ_NONE)
		return -EEXIST;
	if (q->priv_free != EVQ_NONE) {
		i = q->priv_free;
		q->priv_free = q->priv[i].next;
	} else if (q->priv_fresh < q->priv_cap) {
		i = q->priv_fresh++;
	} else {
		return -ENOBUFS;
	}
	h = evq_hash(q, id);
	q->priv[i].id = id;
	q->priv[i].ready = false;
	q->priv[i].next = q->bucket[h];
	q->bucket[h] = i;
	q->npriv++;
	return 0;
}

bool evq_priv_has(const struct evq *q, uint64_t id)
{
	return evq_priv_find(q, id, NULL) != EVQ_NONE;
}

int evq_priv_fill(struct evq *q, const struct evq_ev *ev)
{
	uint32_t i = evq_priv_find(q, ev->id, NULL);

	if (i == EVQ_NONE)
		return -ENOENT;
	if (q->priv[i].ready)
		return -EEXIST;
	q->priv[i].ev = *ev;
	q->priv[i].ready = true;
	return 0;
}

/* Unlink slot i (linked from *p) and free it. */
static void evq_priv_del(struct evq *q, uint32_t *p, uint32_t i)
{
	*p = q->priv[i].next;
	q->priv[i].next = q->priv_free;
	q->priv_free = i;
	q->npriv--;
}

int evq_priv_take(struct evq *q, uint64_t id, struct evq_ev *ev)
{
	uint32_t *p;
	uint32_t i = evq_priv_find(q, id, &p);

	if (i == EVQ_NONE)
		return -ENOENT;
	if (!q->priv[i].ready)
		return -EAGAIN;
	*ev = q->priv[i].ev;
	evq_priv_del(q, p, i);
	return 0;
}

unsigned evq_priv_forget(struct evq *q, uint64_t id)
{
	unsigned n = 0;

	for (uint32_t h = 0; h < q->nbucket; h++) {
		uint32_t *p = &q->bucket[h];

		while (*p != EVQ_NONE) {
			uint32_t i = *p;

			if (!q->priv[i].ready &&
			    (id == 0 || q->priv[i].id == id)) {
				evq_priv_del(q, p, i);
				n++;
			} else {
				p = &q->priv[i].next;
			}
		}
	}
	return n;
}

void evq_priv_clear(struct evq *q, void (*fn)(void *, const struct evq_ev *),
		    void *arg)
{
	for (uint32_t h = 0; h < q->nbucket; h++) {
		uint32_t *p = &q->bucket[h];

		while (*p != EVQ_NONE) {
			uint32_t i = *p;

			if (q->priv[i].ready && fn != NULL)
				fn(arg, &q->priv[i].ev);
			evq_priv_del(q, p, i);
		}
	}
}
