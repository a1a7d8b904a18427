/*
 * pool.c - a socket's receive buffer pool (spec/protocol.md, "Receive
 * buffer pool").
 *
 * The caller's region is cut into 64 KiB bpages.  A message of n bytes gets
 * n / 64K full bpages (one user each) and, for the remaining n % 64K bytes,
 * a piece of the pool's current partial bpage, which is shared by the tails
 * of several messages; every bpage counts its users and is free again when
 * the count drops to zero.  The application returns each delivered offset
 * once; the engine frees the bpages of a message it never delivered.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "homa_int.h"

#define POOL_ALIGN	64u
#define POOL_MAX_LENGTH (1ull << 32)

/*
 * Set p up on the caller's base[0..length), allocating its tables through
 * alloc (NULL: libc's).  -EINVAL: base NULL, less than one bpage, or more
 * than 4 GiB; -ENOMEM.
 */
int pool_init(struct homa_pool *p, const struct homa_allocator *alloc,
	      void *base, size_t length)
{
	uint32_t n;

	if (base == NULL || length < HOMA_BPAGE_SIZE ||
	    (uint64_t)length > POOL_MAX_LENGTH)
		return -EINVAL;
	n = (uint32_t)(length >> HOMA_BPAGE_SHIFT);
	p->alloc = alloc != NULL ? alloc : &homa_libc_allocator;
	p->refs = mem_calloc(p->alloc, n, sizeof(*p->refs));
	p->app_refs = mem_calloc(p->alloc, n, sizeof(*p->app_refs));
	p->free_stack = mem_calloc(p->alloc, n, sizeof(*p->free_stack));
	if (p->refs == NULL || p->app_refs == NULL || p->free_stack == NULL) {
		mem_free(p->alloc, p->refs);
		mem_free(p->alloc, p->app_refs);
		mem_free(p->alloc, p->free_stack);
		p->refs = p->app_refs = p->free_stack = NULL;
		return -ENOMEM;
	}
	/* Lowest bpages on top of the stack: they are used first. */
	for (uint32_t i = 0; i < n; i++)
		p->free_stack[i] = n - 1 - i;
	p->nfree = n;
	p->nbpages = n;
	p->base = base;
	p->partial = -1;
	p->partial_fill = 0;
	return 0;
}

/* Forget the pool (the region stays the caller's).  Takes an unset pool. */
void pool_destroy(struct homa_pool *p)
{
	if (p->alloc != NULL) { /* NULL: never set up */
		mem_free(p->alloc, p->refs);
		mem_free(p->alloc, p->app_refs);
		mem_free(p->alloc, p->free_stack);
	}
	p->refs = p->app_refs = p->free_stack = NULL;
	p->base = NULL;
	p->nbpages = p->nfree = 0;
	p->partial = -1;
}

static void pool_put_bpage(struct homa_pool *p, uint32_t idx)
{
	if (--p->refs[idx] > 0)
		return;
	if ((int64_t)idx == p->partial)
		p->partial_fill = 0; /* keep it as the partial page, empty */
	else
		p->free_stack[p->nfree++] = idx;
}

/*
 * Allocate space for a message of length bytes: offsets[0..*n) receive the
 * offsets of its chunks (full bpages, then the tail's piece).  All or
 * nothing: -ENOMEM when the pool lacks space, -EINVAL without a pool or for
 * a bad length.
 */
int pool_alloc(struct homa_pool *p, uint32_t length,
	       uint32_t offsets[HOMA_MAX_BPAGES], uint32_t *n)
{
	uint32_t full = length >> HOMA_BPAGE_SHIFT;
	uint32_t tail = length & (HOMA_BPAGE_SIZE - 1);
	uint32_t need = full;
	bool tail_fits = false;
	uint32_t i;

	if (p->base == NULL || length == 0 || length > HOMA_MAX_MESSAGE_LENGTH)
		return -EINVAL;
	if (tail > 0) {
		if (p->partial >= 0 &&
		    p->partial_fill + tail <= HOMA_BPAGE_SIZE)
			tail_fits = true;
		else
			need++;
	}
	if (need > p->nfree)
		return -ENOMEM;

	for (i = 0; i < full; i++) {
		uint32_t idx = p->free_stack[--p->nfree];

		p->refs[idx] = 1;
		offsets[i] = idx << HOMA_BPAGE_SHIFT;
	}
	if (tail > 0) {
		if (!tail_fits) {
			/* The old partial page lives on with its users. */
			if (p->partial >= 0 && p->refs[p->partial] == 0)
				p->free_stack[p->nfree++] =
					(uint32_t)p->partial;
			p->partial = p->free_stack[--p->nfree];
			p->partial_fill = 0;
		}
		offsets[i++] = ((uint32_t)p->partial << HOMA_BPAGE_SHIFT) +
			       p->partial_fill;
		p->refs[p->partial]++;
		p->partial_fill += (tail + POOL_ALIGN - 1) & ~(POOL_ALIGN - 1);
	}
	*n = i;
	return 0;
}

/* Free the chunks of a message the application never got. */
void pool_free(struct homa_pool *p, const uint32_t *offsets, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		pool_put_bpage(p, offsets[i] >> HOMA_BPAGE_SHIFT);
}

/* The chunks offsets[0..n) of a delivered message: the application's. */
void pool_deliver(struct homa_pool *p, const uint32_t *offsets, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		p->app_refs[offsets[i] >> HOMA_BPAGE_SHIFT]++;
}

/*
 * Check offsets[0..n) before pool_release: each must be a chunk start
 * (64-byte aligned) in a bpage the application holds chunks of, and no
 * bpage may be named more often than the application holds chunks of it
 * (a bpage still being filled by an incoming message is the engine's, not
 * the application's to free).  0 or -EINVAL.
 */
int pool_check_release(const struct homa_pool *p, const uint32_t *offsets,
		       unsigned n)
{
	if (p->base == NULL)
		return n == 0 ? 0 : -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		uint32_t idx = offsets[i] >> HOMA_BPAGE_SHIFT;
		uint32_t count = 0;

		if (idx >= p->nbpages || p->app_refs[idx] == 0 ||
		    offsets[i] % POOL_ALIGN != 0)
			return -EINVAL;
		for (unsigned j = 0; j < n; j++)
			if ((offsets[j] >> HOMA_BPAGE_SHIFT) == idx)
				count++;
		if (count > p->app_refs[idx])
			return -EINVAL;
	}
	return 0;
}

/* Return delivered chunks (already checked by pool_check_release). */
void pool_release(struct homa_pool *p, const uint32_t *offsets, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p->app_refs[offsets[i] >> HOMA_BPAGE_SHIFT]--;
	pool_free(p, offsets, n);
}

/* Bytes a new message could use: free bpages and the partial page's rest. */
uint64_t pool_avail_bytes(const struct homa_pool *p)
{
	uint64_t avail = (uint64_t)p->nfree << HOMA_BPAGE_SHIFT;

	if (p->partial >= 0)
		avail += HOMA_BPAGE_SIZE - p->partial_fill;
	return avail;
}

/*
 * Copy data[0..len), the message's bytes at msg_offset, into its chunks.
 * Chunk i holds message bytes [i * 64K, (i + 1) * 64K).
 */
void pool_write(struct homa_pool *p, const uint32_t *offsets,
		uint32_t msg_offset, const uint8_t *data, uint32_t len)
{
	while (len > 0) {
		uint32_t chunk = msg_offset >> HOMA_BPAGE_SHIFT;
		uint32_t within = msg_offset & (HOMA_BPAGE_SIZE - 1);
		uint32_t n = HOMA_BPAGE_SIZE - within;

		if (n > len)
			n = len;
		memcpy(p->base + offsets[chunk] + within, data, n);
		data += n;
		msg_offset += n;
		len -= n;
	}
}
