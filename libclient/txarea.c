/*
 * txarea.c - extents of the transmit area.
 *
 * The transmit area is the memfd region homad reads outgoing messages
 * from.  A message copied there (or built there, zero-copy) holds its
 * extent until homad releases it; releases come in any order, so the area
 * is managed as a first-fit allocator with a sorted array of free extents
 * that are coalesced on free.  Allocation scans the free extents (few:
 * never more than the live allocations + 1); freeing finds its place by
 * binary search.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

uint64_t txarea_round(uint64_t len)
{
	return (len + TXAREA_ALIGN - 1) & ~(uint64_t)(TXAREA_ALIGN - 1);
}

int txarea_init(struct txarea *a, uint64_t size, uint32_t max_allocs)
{
	memset(a, 0, sizeof(*a));
	size &= ~(uint64_t)(TXAREA_ALIGN - 1);
	if (size == 0 || max_allocs == 0 || max_allocs == UINT32_MAX)
		return -EINVAL;
	a->cap = max_allocs + 1;
	a->free = calloc(a->cap, sizeof(*a->free));
	if (a->free == NULL)
		return -ENOMEM;
	a->size = size;
	a->free[0].off = 0;
	a->free[0].len = size;
	a->nfree = 1;
	a->free_bytes = size;
	return 0;
}

void txarea_destroy(struct txarea *a)
{
	if (a == NULL)
		return;
	free(a->free);
	memset(a, 0, sizeof(*a));
}

int txarea_alloc(struct txarea *a, uint64_t len, uint64_t *off)
{
	uint64_t need = txarea_round(len);

	if (len == 0 || need > a->size)
		return -EMSGSIZE;
	if (need > a->free_bytes)
		return -ENOSPC;
	for (uint32_t i = 0; i < a->nfree; i++) {
		struct txarea_ext *x = &a->free[i];

		if (x->len < need)
			continue;
		*off = x->off;
		x->off += need;
		x->len -= need;
		a->free_bytes -= need;
		if (x->len == 0) {
			memmove(x, x + 1, (a->nfree - i - 1) * sizeof(*x));
			a->nfree--;
		}
		return 0;
	}
	return -ENOSPC;
}

/* Index of the first free extent with an offset above off. */
static uint32_t txarea_find(const struct txarea *a, uint64_t off)
{
	uint32_t lo = 0, hi = a->nfree;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (a->free[mid].off <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void txarea_free(struct txarea *a, uint64_t off, uint64_t len)
{
	uint64_t n = txarea_round(len);
	uint32_t i = txarea_find(a, off);
	bool prev = i > 0 && a->free[i - 1].off + a->free[i - 1].len == off;
	bool next = i < a->nfree && off + n == a->free[i].off;

	a->free_bytes += n;
	if (prev && next) {
		a->free[i - 1].len += n + a->free[i].len;
		memmove(&a->free[i], &a->free[i + 1],
			(a->nfree - i - 1) * sizeof(a->free[0]));
		a->nfree--;
	} else if (prev) {
		a->free[i - 1].len += n;
	} else if (next) {
		a->free[i].off = off;
		a->free[i].len += n;
	} else {
		/* Room is guaranteed: free extents <= allocations + 1. */
		memmove(&a->free[i + 1], &a->free[i],
			(a->nfree - i) * sizeof(a->free[0]));
		a->free[i].off = off;
		a->free[i].len = n;
		a->nfree++;
	}
}

int txarea_take(struct txarea *a, uint64_t off, uint64_t len)
{
	uint64_t n = txarea_round(len);
	uint32_t i = txarea_find(a, off);
	struct txarea_ext *x;

	/* The free extent holding off is the last one starting at or below. */
	if (len == 0 || i == 0)
		return -EINVAL;
	x = &a->free[i - 1];
	if (off + n > x->off + x->len)
		return -EINVAL;
	if (x->off == off) {
		x->off += n;
		x->len -= n;
		if (x->len == 0) {
			memmove(x, x + 1, (a->nfree - i) * sizeof(*x));
			a->nfree--;
		}
	} else if (off + n == x->off + x->len) {
		x->len -= n;
	} else {
		/* Split in two: room is there while allocations < cap. */
		if (a->nfree >= a->cap)
			return -EINVAL;
		memmove(x + 2, x + 1, (a->nfree - i) * sizeof(*x));
		x[1].off = off + n;
		x[1].len = x->off + x->len - (off + n);
		x->len = off - x->off;
		a->nfree++;
	}
	a->free_bytes -= n;
	return 0;
}
