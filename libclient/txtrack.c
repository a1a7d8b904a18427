/*
 * txtrack.c - outgoing messages, from the send until homad releases them.
 *
 * Every message sent (inline or from the transmit area) and every
 * zero-copy reservation holds one entry of a fixed table.  Sent entries
 * are hashed by RPC id, because homad names the messages it no longer
 * reads by id only (TxReleased, Delivered/Failed of a client RPC).  The
 * table also keeps the socket's outgoing-byte count, which mirrors homad's
 * wmem accounting from above (homad releases a message's bytes before it
 * reports the release, so the library's count is never below homad's and
 * homad never has to refuse a send for wmem).
 *
 * Server RPC ids are chosen by the clients, so two peers' requests may
 * carry the same id and the responses to both be held at once.  A release
 * of such an id cannot say which: it marks one entry, and all the id's
 * entries are freed together once every one is marked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

static uint32_t txtrack_hash(const struct txtrack *t, uint64_t id)
{
	id *= 0x9e3779b97f4a7c15ull;
	return (uint32_t)(id >> 32) & (t->nbucket - 1);
}

int txtrack_init(struct txtrack *t, uint64_t area_size, uint32_t cap)
{
	int rc;

	memset(t, 0, sizeof(*t));
	if (cap == 0 || cap > (1u << 24))
		return -EINVAL;
	rc = txarea_init(&t->area, area_size, cap);
	if (rc < 0)
		return rc;
	t->nbucket = 1;
	while (t->nbucket < cap)
		t->nbucket <<= 1;
	t->cap = cap;
	t->e = zmem_alloc(cap, sizeof(*t->e));
	t->bucket = malloc(t->nbucket * sizeof(*t->bucket));
	if (t->e == NULL || t->bucket == NULL) {
		txtrack_destroy(t);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < t->nbucket; i++)
		t->bucket[i] = TXTRACK_NONE;
	/* Entries [fresh, cap) are free (zeroed: TXE_FREE is 0) and
	 * untouched until first used (zmem.c). */
	t->free_head = TXTRACK_NONE;
	t->fresh = 0;
	return 0;
}

void txtrack_destroy(struct txtrack *t)
{
	if (t == NULL)
		return;
	txarea_destroy(&t->area);
	zmem_free(t->e, t->cap, sizeof(*t->e));
	free(t->bucket);
	memset(t, 0, sizeof(*t));
}

int txtrack_reserve(struct txtrack *t, uint64_t size, uint32_t *slot)
{
	uint64_t off = TXTRACK_INLINE;
	uint32_t i;
	int rc;

	if (size > t->area.size)
		return -EMSGSIZE;
	if (!txtrack_has_free(t))
		return -ENOSPC;
	if (size > 0) {
		rc = txarea_alloc(&t->area, size, &off);
		if (rc < 0)
			return rc;
	}
	if (t->free_head != TXTRACK_NONE) {
		i = t->free_head;
		t->free_head = t->e[i].next;
	} else {
		i = t->fresh++;
	}
	t->e[i].state = TXE_RESERVED;
	t->e[i].off = off;
	t->e[i].alloc = size;
	t->e[i].len = 0;
	t->e[i].id = 0;
	t->e[i].released = false;
	t->e[i].next = TXTRACK_NONE;
	t->e[i].gen++;
	t->nused++;
	*slot = i;
	return 0;
}

static void txtrack_put(struct txtrack *t, uint32_t i)
{
	struct txe *x = &t->e[i];

	if (x->off != TXTRACK_INLINE)
		txarea_free(&t->area, x->off, x->alloc);
	x->state = TXE_FREE;
	x->gen++;
	x->next = t->free_head;
	t->free_head = i;
	t->nused--;
}

void txtrack_cancel(struct txtrack *t, uint32_t slot)
{
	if (slot < t->cap && t->e[slot].state == TXE_RESERVED)
		txtrack_put(t, slot);
}

void txtrack_commit(struct txtrack *t, uint32_t slot, uint64_t id, uint32_t len)
{
	struct txe *x = &t->e[slot];
	uint32_t h = txtrack_hash(t, id);

	x->state = TXE_SENT;
	x->id = id;
	x->len = len;
	x->released = false;
	x->next = t->bucket[h];
	t->bucket[h] = slot;
	t->out_bytes += len;
}

/* Unlink SENT entry slot from its hash chain. */
static void txtrack_unhash(struct txtrack *t, uint32_t slot)
{
	uint32_t *p = &t->bucket[txtrack_hash(t, t->e[slot].id)];

	while (*p != TXTRACK_NONE) {
		if (*p == slot) {
			*p = t->e[slot].next;
			break;
		}
		p = &t->e[*p].next;
	}
	t->out_bytes -= t->e[slot].len;
}

void txtrack_uncommit(struct txtrack *t, uint32_t slot)
{
	if (slot >= t->cap || t->e[slot].state != TXE_SENT)
		return;
	txtrack_unhash(t, slot);
	t->e[slot].state = TXE_RESERVED;
	t->e[slot].next = TXTRACK_NONE;
	t->e[slot].len = 0;
}

unsigned txtrack_release(struct txtrack *t, uint64_t id)
{
	uint32_t h = txtrack_hash(t, id), i, n = 0, marked = 0;
	bool done = false;
	unsigned freed = 0;

	for (i = t->bucket[h]; i != TXTRACK_NONE; i = t->e[i].next) {
		struct txe *x = &t->e[i];

		if (x->id != id)
			continue;
		n++;
		if (!x->released && !done) {
			x->released = true;
			done = true;
		}
		if (x->released)
			marked++;
	}
	if (!done || marked < n)
		return 0;
	/* Every message of id is released: free them all. */
	i = t->bucket[h];
	while (i != TXTRACK_NONE) {
		uint32_t next = t->e[i].next;

		if (t->e[i].id == id) {
			txtrack_unhash(t, i);
			txtrack_put(t, i);
			freed++;
		}
		i = next;
	}
	return freed;
}

bool txtrack_wmem_ok(const struct txtrack *t, uint64_t len, uint64_t wmem_max)
{
	return t->out_bytes == 0 || t->out_bytes + len <= wmem_max;
}

struct txe *txtrack_reserved(struct txtrack *t, uint32_t slot, uint32_t gen)
{
	if (slot >= t->cap || t->e[slot].gen != gen ||
	    t->e[slot].state != TXE_RESERVED)
		return NULL;
	return &t->e[slot];
}
