/*
 * test_client.c - libhomaclient's internals (libclient/), no homad needed:
 * the tx area allocator (txarea.c), outgoing-message tracking
 * (txtrack.c), the event queue and private-response slots (evq.c),
 * address conversion (addr.c), direct receive's tables and packet check
 * (drx.c), the tables' memory (zmem.c: backed only where used), argument
 * validation of the API, and the library's side of the
 * client protocol (conn.c, send.c, recv.c, client.c) against a peer
 * played by the test itself on a unix socket:
 * the test reads the library's ClientMsgs and writes DaemonMsgs as homad
 * would, checking the wire rules of proto/homa_client.proto.
 */
#define _GNU_SOURCE 1
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client_int.h"
#include "homa_shm.h"
/* The engine codec the library compiles in (daemon/core/wire.c). */
#include "wire.h"

/* ---- zmem: the tables' memory ---------------------------------------- */

/* Pages of [p, p + len) backed by memory now (mincore). */
static size_t resident_pages(const void *p, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n, r = 0;
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)(pg - 1);
	unsigned char *v;

	n = ((uintptr_t)p + len - a + pg - 1) / pg;
	v = malloc(n);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(mincore((void *)a, n * pg, v), 0);
	for (size_t i = 0; i < n; i++)
		r += v[i] & 1;
	free(v);
	return r;
}

/*
 * A socket's three tables sized for max_outstanding (16,384) are backed
 * only up to the entries used, also after the process freed a large
 * block (which makes glibc serve the next from the heap, zeroed: every
 * page backed).  Used entries come from the front.
 */
START_TEST(tables__backed_only_where_used)
{
	const uint32_t cap = 16384;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	struct txtrack t;
	struct evq q;
	struct drxtrack d;
	uint8_t a[16] = {0};
	uint32_t slot;
	void *big = calloc(cap, 256);

	ck_assert_ptr_nonnull(big);
	free(big); /* glibc's mmap threshold goes up */
	ck_assert_int_eq(txtrack_init(&t, 1 << 20, cap), 0);
	ck_assert_int_eq(evq_init(&q, 64, cap), 0);
	ck_assert_int_eq(drxtrack_init(&d, cap), 0);
	ck_assert_uint_eq(resident_pages(t.e, cap * sizeof(*t.e)), 0);
	ck_assert_uint_eq(resident_pages(q.priv, cap * sizeof(*q.priv)), 0);
	ck_assert_uint_eq(resident_pages(d.e, cap * sizeof(*d.e)), 0);
	for (uint32_t i = 0; i < 100; i++) {
		ck_assert_int_eq(txtrack_reserve(&t, 0, &slot), 0);
		ck_assert_uint_eq(slot, i);
		ck_assert_int_eq(evq_priv_add(&q, 2 * i + 2), 0);
		ck_assert_int_eq(drxtrack_add(&d, 2 * i + 2, i, a, 1, false),
				 0);
	}
	ck_assert_uint_le(resident_pages(t.e, cap * sizeof(*t.e)),
			  100 * sizeof(*t.e) / pg + 2);
	ck_assert_uint_le(resident_pages(q.priv, cap * sizeof(*q.priv)),
			  100 * sizeof(*q.priv) / pg + 2);
	ck_assert_uint_le(resident_pages(d.e, cap * sizeof(*d.e)),
			  100 * sizeof(*d.e) / pg + 2);
	ck_assert_uint_ge(resident_pages(t.e, cap * sizeof(*t.e)), 1);
	txtrack_destroy(&t);
	evq_destroy(&q);
	drxtrack_destroy(&d);
}
END_TEST

/* Freed entries are reused before untouched ones; full is full. */
START_TEST(tables__freed_entries_first_then_fresh)
{
	struct txtrack t;
	struct evq q;
	uint32_t s[4], x;

	ck_assert_int_eq(txtrack_init(&t, 1024, 4), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(txtrack_reserve(&t, 0, &s[i]), 0);
	ck_assert_uint_eq(t.fresh, 3);
	txtrack_cancel(&t, s[1]);
	ck_assert_int_eq(txtrack_reserve(&t, 0, &x), 0);
	ck_assert_uint_eq(x, s[1]); /* the freed one */
	ck_assert_uint_eq(t.fresh, 3);
	ck_assert(txtrack_has_free(&t));
	ck_assert_int_eq(txtrack_reserve(&t, 0, &s[3]), 0);
	ck_assert_uint_eq(s[3], 3); /* the last untouched one */
	ck_assert(!txtrack_has_free(&t));
	ck_assert_int_eq(txtrack_reserve(&t, 0, &x), -ENOSPC);
	for (int i = 0; i < 4; i++)
		txtrack_cancel(&t, i == 1 ? x : s[i]);
	ck_assert_uint_eq(t.nused, 0);
	ck_assert(txtrack_has_free(&t));
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(txtrack_reserve(&t, 0, &s[i]), 0);
	ck_assert_int_eq(txtrack_reserve(&t, 0, &x), -ENOSPC);
	txtrack_destroy(&t);

	ck_assert_int_eq(evq_init(&q, 8, 3), 0);
	ck_assert_int_eq(evq_priv_add(&q, 2), 0);
	ck_assert_int_eq(evq_priv_add(&q, 4), 0);
	ck_assert_uint_eq(evq_priv_forget(&q, 2), 1);
	ck_assert_int_eq(evq_priv_add(&q, 6), 0);
	ck_assert_uint_eq(q.priv_fresh, 2);
	ck_assert_int_eq(evq_priv_add(&q, 8), 0);
	ck_assert_int_eq(evq_priv_add(&q, 10), -ENOBUFS);
	ck_assert(evq_priv_has(&q, 4));
	ck_assert(evq_priv_has(&q, 6));
	ck_assert(evq_priv_has(&q, 8));
	ck_assert(!evq_priv_has(&q, 2));
	evq_destroy(&q);
}
END_TEST

/* ---- txarea ---------------------------------------------------------- */

START_TEST(txarea_alloc__first_fit_and_coalesce)
{
	struct txarea a;
	uint64_t o1, o2, o3, o4;

	ck_assert_int_eq(txarea_init(&a, 1024, 8), 0);
	ck_assert_int_eq(txarea_alloc(&a, 100, &o1), 0); /* 128 */
	ck_assert_int_eq(txarea_alloc(&a, 64, &o2), 0);
	ck_assert_int_eq(txarea_alloc(&a, 1, &o3), 0);
	ck_assert_uint_eq(o1, 0);
	ck_assert_uint_eq(o2, 128);
	ck_assert_uint_eq(o3, 192);
	ck_assert_uint_eq(a.free_bytes, 1024 - 256);
	/* A hole in the middle is reused first-fit. */
	txarea_free(&a, o2, 64);
	ck_assert_uint_eq(a.nfree, 2);
	ck_assert_int_eq(txarea_alloc(&a, 60, &o4), 0);
	ck_assert_uint_eq(o4, 128);
	txarea_free(&a, o4, 60);
	/* Freeing the neighbours merges everything back into one. */
	txarea_free(&a, o1, 100);
	txarea_free(&a, o3, 1);
	ck_assert_uint_eq(a.nfree, 1);
	ck_assert_uint_eq(a.free_bytes, 1024);
	ck_assert_uint_eq(a.free[0].off, 0);
	ck_assert_uint_eq(a.free[0].len, 1024);
	txarea_destroy(&a);
}
END_TEST

START_TEST(txarea_alloc__full_and_too_big)
{
	struct txarea a;
	uint64_t o[4], x;

	ck_assert_int_eq(txarea_init(&a, 256, 4), 0);
	ck_assert_int_eq(txarea_alloc(&a, 257, &x), -EMSGSIZE);
	ck_assert_int_eq(txarea_alloc(&a, 0, &x), -EMSGSIZE);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(txarea_alloc(&a, 64, &o[i]), 0);
	ck_assert_int_eq(txarea_alloc(&a, 1, &x), -ENOSPC);
	/* Fragmented: 128 free in two pieces, 128 cannot be had. */
	txarea_free(&a, o[0], 64);
	txarea_free(&a, o[2], 64);
	ck_assert_uint_eq(a.free_bytes, 128);
	ck_assert_int_eq(txarea_alloc(&a, 128, &x), -ENOSPC);
	txarea_free(&a, o[1], 64);
	ck_assert_int_eq(txarea_alloc(&a, 192, &x), 0);
	ck_assert_uint_eq(x, 0);
	txarea_destroy(&a);
}
END_TEST

START_TEST(txarea_free__many_extents_fit)
{
	/* Free extents never exceed allocations + 1: alternate frees. */
	struct txarea a;
	uint64_t o[16];

	ck_assert_int_eq(txarea_init(&a, 16 * 64, 16), 0);
	for (int i = 0; i < 16; i++)
		ck_assert_int_eq(txarea_alloc(&a, 64, &o[i]), 0);
	for (int i = 0; i < 16; i += 2)
		txarea_free(&a, o[i], 64);
	ck_assert_uint_eq(a.nfree, 8);
	for (int i = 1; i < 16; i += 2)
		txarea_free(&a, o[i], 64);
	ck_assert_uint_eq(a.nfree, 1);
	ck_assert_uint_eq(a.free_bytes, 16 * 64);
	txarea_destroy(&a);
}
END_TEST

START_TEST(txarea_take__exact_extents)
{
	/* The extents another process allocated: middle, start, end. */
	struct txarea a;
	uint64_t o;

	ck_assert_int_eq(txarea_init(&a, 16 * 64, 16), 0);
	ck_assert_int_eq(txarea_take(&a, 4 * 64, 100), 0); /* 2 lines */
	ck_assert_uint_eq(a.nfree, 2);
	ck_assert_int_eq(txarea_take(&a, 0, 64), 0);
	ck_assert_int_eq(txarea_take(&a, 15 * 64, 64), 0);
	ck_assert_uint_eq(a.free_bytes, 12 * 64);
	/* Taken already, or past the end: refused. */
	ck_assert_int_eq(txarea_take(&a, 5 * 64, 64), -EINVAL);
	ck_assert_int_eq(txarea_take(&a, 14 * 64, 128), -EINVAL);
	ck_assert_int_eq(txarea_take(&a, 0, 0), -EINVAL);
	/* First fit skips what was taken. */
	ck_assert_int_eq(txarea_alloc(&a, 64, &o), 0);
	ck_assert_uint_eq(o, 64);
	txarea_free(&a, 4 * 64, 100);
	txarea_free(&a, 0, 64);
	txarea_free(&a, 15 * 64, 64);
	txarea_free(&a, o, 64);
	ck_assert_uint_eq(a.nfree, 1);
	ck_assert_uint_eq(a.free_bytes, 16 * 64);
	txarea_destroy(&a);
}
END_TEST

/* ---- txtrack --------------------------------------------------------- */

START_TEST(txtrack_release__by_id)
{
	struct txtrack t;
	uint32_t s1, s2, s3;

	ck_assert_int_eq(txtrack_init(&t, 4096, 4), 0);
	ck_assert_int_eq(txtrack_reserve(&t, 1000, &s1), 0);
	ck_assert_int_eq(txtrack_reserve(&t, 0, &s2), 0); /* inline */
	ck_assert_uint_eq(t.e[s2].off, TXTRACK_INLINE);
	txtrack_commit(&t, s1, 2, 1000);
	txtrack_commit(&t, s2, 4, 10);
	ck_assert_uint_eq(t.out_bytes, 1010);
	ck_assert_uint_eq(txtrack_release(&t, 6), 0); /* unknown */
	ck_assert_uint_eq(txtrack_release(&t, 2), 1);
	ck_assert_uint_eq(txtrack_release(&t, 2), 0); /* again: nothing */
	ck_assert_uint_eq(t.out_bytes, 10);
	ck_assert_uint_eq(t.area.free_bytes, 4096);
	ck_assert_int_eq(txtrack_reserve(&t, 4096, &s3), 0);
	ck_assert_uint_eq(txtrack_release(&t, 4), 1);
	ck_assert_uint_eq(t.nused, 1);
	txtrack_destroy(&t);
}
END_TEST

START_TEST(txtrack_release__shared_id_frees_when_all_released)
{
	/* Two responses with the same server id (two peers). */
	struct txtrack t;
	uint32_t a, b;

	ck_assert_int_eq(txtrack_init(&t, 4096, 4), 0);
	ck_assert_int_eq(txtrack_reserve(&t, 1000, &a), 0);
	ck_assert_int_eq(txtrack_reserve(&t, 1000, &b), 0);
	txtrack_commit(&t, a, 101, 1000);
	txtrack_commit(&t, b, 101, 1000);
	ck_assert_uint_eq(txtrack_release(&t, 101), 0);
	ck_assert_uint_eq(t.nused, 2); /* which one? keep both */
	ck_assert_uint_eq(txtrack_release(&t, 101), 2);
	ck_assert_uint_eq(t.nused, 0);
	ck_assert_uint_eq(t.out_bytes, 0);
	ck_assert_uint_eq(t.area.free_bytes, 4096);
	txtrack_destroy(&t);
}
END_TEST

START_TEST(txtrack_reserve__limits_and_generations)
{
	struct txtrack t;
	uint32_t s[2], x;
	uint32_t gen;

	ck_assert_int_eq(txtrack_init(&t, 1024, 2), 0);
	ck_assert_int_eq(txtrack_reserve(&t, 2000, &x), -EMSGSIZE);
	ck_assert_int_eq(txtrack_reserve(&t, 0, &s[0]), 0);
	ck_assert_int_eq(txtrack_reserve(&t, 64, &s[1]), 0);
	ck_assert_int_eq(txtrack_reserve(&t, 0, &x), -ENOSPC); /* entries */
	gen = t.e[s[1]].gen;
	ck_assert_ptr_nonnull(txtrack_reserved(&t, s[1], gen));
	ck_assert_ptr_null(txtrack_reserved(&t, s[1], gen + 1));
	ck_assert_ptr_null(txtrack_reserved(&t, 7, gen));
	txtrack_commit(&t, s[1], 8, 64);
	ck_assert_ptr_null(txtrack_reserved(&t, s[1], gen)); /* sent */
	txtrack_uncommit(&t, s[1]);
	ck_assert_ptr_nonnull(txtrack_reserved(&t, s[1], gen));
	ck_assert_uint_eq(t.out_bytes, 0);
	txtrack_cancel(&t, s[1]);
	ck_assert_ptr_null(txtrack_reserved(&t, s[1], gen));
	txtrack_cancel(&t, s[0]);
	ck_assert_uint_eq(t.nused, 0);
	ck_assert_uint_eq(t.area.free_bytes, 1024);
	txtrack_destroy(&t);
}
END_TEST

START_TEST(txtrack_wmem_ok__homads_rule)
{
	struct txtrack t;
	uint32_t s;

	ck_assert_int_eq(txtrack_init(&t, 1 << 20, 4), 0);
	/* Nothing held: any message goes, even one above wmem_max. */
	ck_assert(txtrack_wmem_ok(&t, 5000, 1000));
	ck_assert_int_eq(txtrack_reserve(&t, 0, &s), 0);
	txtrack_commit(&t, s, 2, 600);
	ck_assert(txtrack_wmem_ok(&t, 400, 1000));
	ck_assert(!txtrack_wmem_ok(&t, 401, 1000));
	txtrack_release(&t, 2);
	ck_assert(txtrack_wmem_ok(&t, 5000, 1000));
	txtrack_destroy(&t);
}
END_TEST

/* ---- evq ------------------------------------------------------------- */

static struct evq_ev mkev(uint64_t id)
{
	struct evq_ev ev;

	memset(&ev, 0, sizeof(ev));
	ev.id = id;
	ev.length = 1;
	ev.num_bpages = 1;
	ev.bpage_offsets[0] = (uint32_t)id * 64;
	return ev;
}

START_TEST(evq_push__fifo_grows_to_limit)
{
	struct evq q;
	struct evq_ev ev = mkev(0);

	ck_assert_int_eq(evq_init(&q, 200, 4), 0);
	for (uint64_t i = 1; i <= 200; i++) {
		ev = mkev(i);
		ck_assert_int_eq(evq_push(&q, &ev), 0);
		if (i % 3 == 0) { /* interleave pops: wrap-around + growth */
			ck_assert_int_eq(evq_pop(&q, &ev), 0);
		}
	}
	ck_assert_uint_eq(q.count, 200 - 66);
	ev = mkev(999);
	for (uint32_t i = q.count; i < 200; i++)
		ck_assert_int_eq(evq_push(&q, &ev), 0);
	ck_assert_int_eq(evq_push(&q, &ev), -ENOBUFS);
	/* Order: 67.. were left after 66 pops. */
	ck_assert_int_eq(evq_pop(&q, &ev), 0);
	ck_assert_uint_eq(ev.id, 67);
	ck_assert_int_eq(evq_pop(&q, &ev), 0);
	ck_assert_uint_eq(ev.id, 68);
	evq_destroy(&q);
}
END_TEST

static unsigned cleared;
static void count_ev(void *arg, const struct evq_ev *ev)
{
	(void)arg;
	(void)ev;
	cleared++;
}

START_TEST(evq_priv__matching)
{
	struct evq q;
	struct evq_ev ev, out;

	ck_assert_int_eq(evq_init(&q, 8, 2), 0);
	ck_assert_int_eq(evq_priv_add(&q, 10), 0);
	ck_assert_int_eq(evq_priv_add(&q, 10), -EEXIST);
	ck_assert_int_eq(evq_priv_add(&q, 12), 0);
	ck_assert_int_eq(evq_priv_add(&q, 14), -ENOBUFS);
	ck_assert(evq_priv_has(&q, 12));
	ck_assert(!evq_priv_has(&q, 14));
	ck_assert_int_eq(evq_priv_take(&q, 10, &out), -EAGAIN);
	ck_assert_int_eq(evq_priv_take(&q, 16, &out), -ENOENT);
	ev = mkev(10);
	ck_assert_int_eq(evq_priv_fill(&q, &ev), 0);
	ck_assert_int_eq(evq_priv_fill(&q, &ev), -EEXIST);
	ev = mkev(16);
	ck_assert_int_eq(evq_priv_fill(&q, &ev), -ENOENT);
	ck_assert_int_eq(evq_priv_take(&q, 10, &out), 0);
	ck_assert_uint_eq(out.id, 10);
	ck_assert_uint_eq(out.bpage_offsets[0], 640);
	ck_assert_int_eq(evq_priv_take(&q, 10, &out), -ENOENT);
	ck_assert_uint_eq(q.npriv, 1);
	evq_destroy(&q);
}
END_TEST

START_TEST(evq_priv_forget__only_waiting_slots)
{
	struct evq q;
	struct evq_ev ev = mkev(22), out;

	ck_assert_int_eq(evq_init(&q, 8, 8), 0);
	for (uint64_t id = 20; id <= 26; id += 2)
		ck_assert_int_eq(evq_priv_add(&q, id), 0);
	ck_assert_int_eq(evq_priv_fill(&q, &ev), 0);
	ck_assert_uint_eq(evq_priv_forget(&q, 24), 1);
	ck_assert(!evq_priv_has(&q, 24));
	/* 0: every waiting slot; 22 holds its response and stays. */
	ck_assert_uint_eq(evq_priv_forget(&q, 0), 2);
	ck_assert_uint_eq(q.npriv, 1);
	ck_assert_int_eq(evq_priv_take(&q, 22, &out), 0);
	ck_assert_int_eq(evq_priv_add(&q, 30), 0);
	ev = mkev(30);
	ck_assert_int_eq(evq_priv_fill(&q, &ev), 0);
	ck_assert_int_eq(evq_priv_add(&q, 32), 0);
	cleared = 0;
	evq_priv_clear(&q, count_ev, NULL);
	ck_assert_uint_eq(cleared, 1); /* only the filled slot had bpages */
	ck_assert_uint_eq(q.npriv, 0);
	evq_destroy(&q);
}
END_TEST

/* ---- addr ------------------------------------------------------------ */

START_TEST(addr_from_sockaddr__families)
{
	struct sockaddr_in in = {.sin_family = AF_INET,
				 .sin_port = htons(4000),
				 .sin_addr.s_addr = htonl(0x0a000001)};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6,
				   .sin6_port = htons(99)};
	uint8_t a[16], len;
	uint16_t port;

	ck_assert_int_eq(addr_from_sockaddr(AF_INET, (struct sockaddr *)&in,
					    sizeof(in), a, &len, &port),
			 0);
	ck_assert_uint_eq(len, 4);
	ck_assert_uint_eq(port, 4000);
	ck_assert_uint_eq(a[0], 10);
	ck_assert_uint_eq(a[3], 1);
	ck_assert_int_eq(addr_from_sockaddr(AF_INET6, (struct sockaddr *)&in,
					    sizeof(in), a, &len, &port),
			 -EAFNOSUPPORT);
	ck_assert_int_eq(addr_from_sockaddr(AF_INET, (struct sockaddr *)&in,
					    sizeof(in) - 1, a, &len, &port),
			 -EINVAL);
	ck_assert_int_eq(addr_from_sockaddr(AF_INET, NULL, 16, a, &len, &port),
			 -EINVAL);
	in6.sin6_addr.s6_addr[15] = 1;
	ck_assert_int_eq(addr_from_sockaddr(AF_INET6, (struct sockaddr *)&in6,
					    sizeof(in6), a, &len, &port),
			 0);
	ck_assert_uint_eq(len, 16);
	ck_assert_uint_eq(a[15], 1);
	in6.sin6_port = 0;
	ck_assert_int_eq(addr_from_sockaddr(AF_INET6, (struct sockaddr *)&in6,
					    sizeof(in6), a, &len, &port),
			 -EINVAL);
}
END_TEST

START_TEST(addr_to_sockaddr__mapping)
{
	const uint8_t v4[4] = {192, 0, 2, 7};
	const uint8_t mapped[16] = {0, 0, 0, 0, 0,   0, 0xff, 0xff,
				    0, 0, 0, 0, 192, 0, 2,    7};
	uint8_t m16[16] = {0};
	struct sockaddr_storage ss;
	socklen_t len;

	memcpy(m16 + 10, "\xff\xff\xc0\x00\x02\x07", 6);
	(void)mapped;
	ck_assert_int_eq(addr_to_sockaddr(AF_INET6, v4, 4, 5, &ss, &len), 0);
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
	ck_assert_int_eq(memcmp(((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr,
				m16, 16),
			 0);
	ck_assert_uint_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 5);
	ck_assert_int_eq(addr_to_sockaddr(AF_INET, m16, 16, 6, &ss, &len), 0);
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
	ck_assert_int_eq(memcmp(&((struct sockaddr_in *)&ss)->sin_addr, v4, 4),
			 0);
	m16[0] = 0xfd; /* not v4-mapped: no IPv4 form */
	ck_assert_int_eq(addr_to_sockaddr(AF_INET, m16, 16, 6, &ss, &len),
			 -EINVAL);
	ck_assert_int_eq(addr_to_sockaddr(AF_INET, v4, 5, 6, &ss, &len),
			 -EINVAL);
}
END_TEST

/* ---- drx: direct receive's tables ------------------------------------- */

/* A small fixed-seed generator (xorshift64*): the same cases every run. */
static uint64_t drx_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

static void drx_addr(uint8_t a[16], unsigned k)
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	a[12] = 10;
	a[13] = (uint8_t)(k >> 16);
	a[14] = (uint8_t)(k >> 8);
	a[15] = (uint8_t)k;
}

START_TEST(drxtrack_init__cap_zero)
{
	struct drxtrack t;
	uint8_t a[16];

	drx_addr(a, 1);
	ck_assert_int_eq(drxtrack_init(&t, 0), -EINVAL);
	/* What init left behaves as an empty table. */
	ck_assert_int_eq(drxtrack_add(&t, 2, 1, a, 1, false), -EINVAL);
	ck_assert_ptr_null(drxtrack_find(&t, 2));
	ck_assert(!drxtrack_del(&t, 2));
	ck_assert(!drxtrack_del(&t, 0));
	drxtrack_destroy(&t);
}
END_TEST

START_TEST(drxtrack__add_find_del)
{
	struct drxtrack t;
	const struct drxt_e *e;
	uint8_t a[16], b[16];

	drx_addr(a, 7);
	drx_addr(b, 8);
	ck_assert_int_eq(drxtrack_init(&t, 4), 0);
	ck_assert_int_eq(
		drxtrack_add(&t, 2, 0x1122334455667788ull, a, 4000, true), 0);
	ck_assert_int_eq(drxtrack_add(&t, 1ull << 63 | 6, 99, b, 1, false), 0);
	ck_assert_uint_eq(t.n, 2);
	e = drxtrack_find(&t, 2);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->id, 2);
	ck_assert_uint_eq(e->cookie, 0x1122334455667788ull);
	ck_assert_int_eq(memcmp(e->addr, a, 16), 0);
	ck_assert_uint_eq(e->port, 4000);
	ck_assert(e->priv);
	e = drxtrack_find(&t, 1ull << 63 | 6);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->cookie, 99);
	ck_assert_int_eq(memcmp(e->addr, b, 16), 0);
	ck_assert_uint_eq(e->port, 1);
	ck_assert(!e->priv);
	ck_assert_ptr_null(drxtrack_find(&t, 4));
	ck_assert_ptr_null(drxtrack_find(&t, 3)); /* the response's id */
	ck_assert_ptr_null(drxtrack_find(&t, 0));
	ck_assert(drxtrack_del(&t, 2));
	ck_assert_ptr_null(drxtrack_find(&t, 2));
	ck_assert(!drxtrack_del(&t, 2)); /* gone already */
	ck_assert(!drxtrack_del(&t, 4)); /* never there */
	ck_assert_uint_eq(t.n, 1);
	ck_assert_ptr_nonnull(drxtrack_find(&t, 1ull << 63 | 6));
	/* Its id can be tracked again, with new values. */
	ck_assert_int_eq(drxtrack_add(&t, 2, 5, b, 6, false), 0);
	e = drxtrack_find(&t, 2);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->cookie, 5);
	ck_assert_int_eq(memcmp(e->addr, b, 16), 0);
	ck_assert_uint_eq(e->port, 6);
	ck_assert(!e->priv);
	drxtrack_destroy(&t);
}
END_TEST

START_TEST(drxtrack_add__bad_ids_and_duplicates)
{
	static const uint64_t bad[] = {0, 1, 3, 0x8000000000000001ull,
				       UINT64_MAX};
	struct drxtrack t;
	const struct drxt_e *e;
	uint8_t a[16], b[16];

	drx_addr(a, 1);
	drx_addr(b, 2);
	ck_assert_int_eq(drxtrack_init(&t, 8), 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(drxtrack_add(&t, bad[i], 1, a, 1, false),
				 -EINVAL);
		ck_assert_ptr_null(drxtrack_find(&t, bad[i]));
	}
	ck_assert_uint_eq(t.n, 0);
	ck_assert_int_eq(drxtrack_add(&t, 10, 1, a, 100, false), 0);
	ck_assert_int_eq(drxtrack_add(&t, 10, 2, b, 200, true), -EEXIST);
	ck_assert_uint_eq(t.n, 1);
	/* The first entry is kept as it was. */
	e = drxtrack_find(&t, 10);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->cookie, 1);
	ck_assert_int_eq(memcmp(e->addr, a, 16), 0);
	ck_assert_uint_eq(e->port, 100);
	ck_assert(!e->priv);
	drxtrack_destroy(&t);
}
END_TEST

START_TEST(drxtrack_add__full_table_and_del_all)
{
	struct drxtrack t;
	uint8_t a[16];

	drx_addr(a, 3);
	ck_assert_int_eq(drxtrack_init(&t, 3), 0);
	ck_assert_int_eq(drxtrack_add(&t, 2, 2, a, 1, false), 0);
	ck_assert_int_eq(drxtrack_add(&t, 4, 4, a, 1, false), 0);
	ck_assert_int_eq(drxtrack_add(&t, 6, 6, a, 1, false), 0);
	ck_assert_int_eq(drxtrack_add(&t, 8, 8, a, 1, false), -ENOBUFS);
	ck_assert_ptr_null(drxtrack_find(&t, 8));
	ck_assert_uint_eq(t.n, 3);
	ck_assert(drxtrack_del(&t, 4));
	ck_assert_int_eq(drxtrack_add(&t, 8, 8, a, 1, false), 0);
	ck_assert_int_eq(drxtrack_add(&t, 10, 10, a, 1, false), -ENOBUFS);
	ck_assert_uint_eq(drxtrack_find(&t, 8)->cookie, 8);
	/* 0: every entry. */
	ck_assert(drxtrack_del(&t, 0));
	ck_assert_uint_eq(t.n, 0);
	ck_assert_ptr_null(drxtrack_find(&t, 2));
	ck_assert_ptr_null(drxtrack_find(&t, 6));
	ck_assert_ptr_null(drxtrack_find(&t, 8));
	ck_assert(!drxtrack_del(&t, 0)); /* none left */
	ck_assert(!drxtrack_del(&t, 2));
	/* Every entry is free again. */
	ck_assert_int_eq(drxtrack_add(&t, 12, 12, a, 1, false), 0);
	ck_assert_int_eq(drxtrack_add(&t, 14, 14, a, 1, false), 0);
	ck_assert_int_eq(drxtrack_add(&t, 16, 16, a, 1, false), 0);
	ck_assert_int_eq(drxtrack_add(&t, 18, 18, a, 1, false), -ENOBUFS);
	ck_assert(drxtrack_del(&t, 0));
	/* A table of one. */
	drxtrack_destroy(&t);
	ck_assert_int_eq(drxtrack_init(&t, 1), 0);
	ck_assert_int_eq(drxtrack_add(&t, 2, 2, a, 1, false), 0);
	ck_assert_int_eq(drxtrack_add(&t, 4, 4, a, 1, false), -ENOBUFS);
	ck_assert(drxtrack_del(&t, 2));
	ck_assert_int_eq(drxtrack_add(&t, 4, 4, a, 1, false), 0);
	drxtrack_destroy(&t);
}
END_TEST

/* The reference model of a drxtrack: a plain array, searched linearly. */
struct drxt_model {
	bool used;
	uint64_t id, cookie;
	uint8_t addr[16];
	uint16_t port;
	bool priv;
};

#define DRXT_POOL 64

/* Every id of the pool is found exactly as the model holds it. */
static void drxt_check(const struct drxtrack *t, const struct drxt_model *m,
		       uint32_t cap, const uint64_t *pool)
{
	uint32_t n = 0;

	for (uint32_t j = 0; j < cap; j++)
		n += m[j].used;
	ck_assert_uint_eq(t->n, n);
	for (unsigned k = 0; k < DRXT_POOL; k++) {
		const struct drxt_e *e = drxtrack_find(t, pool[k]);
		const struct drxt_model *want = NULL;

		for (uint32_t j = 0; j < cap; j++)
			if (m[j].used && m[j].id == pool[k])
				want = &m[j];
		if (want == NULL) {
			ck_assert_ptr_null(e);
			continue;
		}
		ck_assert_ptr_nonnull(e);
		ck_assert_uint_eq(e->id, want->id);
		ck_assert_uint_eq(e->cookie, want->cookie);
		ck_assert_int_eq(memcmp(e->addr, want->addr, 16), 0);
		ck_assert_uint_eq(e->port, want->port);
		ck_assert_int_eq(e->priv, want->priv);
	}
}

/* steps random add/del against the model, in a table of cap entries. */
static void drxt_model_run(uint32_t cap, unsigned steps, uint64_t seed)
{
	struct drxt_model *m = calloc(cap, sizeof(*m));
	uint64_t pool[DRXT_POOL], r = seed;
	struct drxtrack t;

	ck_assert_ptr_nonnull(m);
	/* Small ids, and keyed ones (bit 63, a key in 62..32) with the same
	 * low bits: far more ids than buckets, so chains are long and often
	 * cut in the middle. */
	for (unsigned k = 0; k < DRXT_POOL; k++)
		pool[k] = 2 * (uint64_t)(k % (DRXT_POOL / 2) + 1);
	for (unsigned k = DRXT_POOL / 2; k < DRXT_POOL; k++)
		pool[k] |= k % 2 ? 1ull << 63 | (uint64_t)0x1234567 << 32
				 : (uint64_t)0x1234567 << 32;
	ck_assert_int_eq(drxtrack_init(&t, cap), 0);
	for (unsigned s = 0; s < steps; s++) {
		uint64_t x = drx_rand(&r);
		uint64_t id = pool[(x >> 8) % DRXT_POOL];
		unsigned op = (unsigned)(x % 100);
		int where = -1, hole = -1;
		uint32_t n = 0;

		for (uint32_t j = 0; j < cap; j++) {
			if (m[j].used && m[j].id == id)
				where = (int)j;
			if (!m[j].used && hole < 0)
				hole = (int)j;
			n += m[j].used;
		}
		if (op < 2) {
			/* Now and then: forget all. */
			ck_assert_int_eq(drxtrack_del(&t, 0), n > 0);
			memset(m, 0, cap * sizeof(*m));
		} else if (op < 55) {
			struct drxt_model e = {
				.used = true,
				.id = id,
				.cookie = drx_rand(&r),
				.port = (uint16_t)(x >> 40),
				.priv = (x >> 60) & 1,
			};
			int want = where >= 0 ? -EEXIST
				   : hole < 0 ? -ENOBUFS
					      : 0;

			drx_addr(e.addr, (unsigned)(x >> 16));
			ck_assert_int_eq(drxtrack_add(&t, id, e.cookie, e.addr,
						      e.port, e.priv),
					 want);
			if (want == 0)
				m[hole] = e;
		} else {
			ck_assert_int_eq(drxtrack_del(&t, id), where >= 0);
			if (where >= 0)
				m[where].used = false;
		}
		drxt_check(&t, m, cap, pool);
	}
	ck_assert(drxtrack_del(&t, 0) || t.n == 0);
	ck_assert_uint_eq(t.n, 0);
	drxtrack_destroy(&t);
	free(m);
}

START_TEST(drxtrack__random_against_a_model)
{
	drxt_model_run(8, 1000, 0x5eed0001);
	drxt_model_run(1, 300, 0x5eed0002);
	drxt_model_run(5, 1000, 0x5eed0003); /* cap not a power of two */
	drxt_model_run(40, 2000, 0x5eed0004);
}
END_TEST

START_TEST(drxslots_init__limits_and_rounding)
{
	static const struct {
		uint32_t size, want;
	} round[] = {
		{1, 64},	{63, 64},	{64, 64},     {65, 128},
		{1424, 1472},	{1472, 1472},	{8960, 8960}, {30000, 30016},
		{65535, 65536}, {65536, 65536},
	};
	struct drxslots sl;

	ck_assert_int_eq(drxslots_init(&sl, 0, 1), -EINVAL);
	ck_assert_int_eq(drxslots_init(&sl, 65537, 1), -EINVAL);
	ck_assert_int_eq(drxslots_init(&sl, 65600, 1), -EINVAL);
	ck_assert_int_eq(drxslots_init(&sl, 1u << 20, 1), -EINVAL);
	ck_assert_int_eq(drxslots_init(&sl, UINT32_MAX, 1), -EINVAL);
	ck_assert_int_eq(drxslots_init(&sl, UINT32_MAX - 62, 1), -EINVAL);
	ck_assert_int_eq(drxslots_init(&sl, 1472, 0), -EINVAL);
	ck_assert_int_eq(drxslots_init(&sl, 1472, DRX_SLOTS_MAX + 1), -EINVAL);
	ck_assert_int_eq(drxslots_init(&sl, 1472, UINT32_MAX), -EINVAL);
	ck_assert_int_eq(drxslots_init(&sl, 1472, DRX_SLOTS_MAX), 0);
	ck_assert_uint_eq(sl.n, DRX_SLOTS_MAX);
	ck_assert_uint_eq(sl.used, 0);
	for (unsigned k = 0; k < sizeof(round) / sizeof(round[0]); k++) {
		ck_assert_int_eq(drxslots_init(&sl, round[k].size, 1), 0);
		ck_assert_uint_eq(sl.size, round[k].want);
		ck_assert_uint_eq(sl.per_page, 65536 / round[k].want);
	}
}
END_TEST

START_TEST(drxslots_offset__within_64k_pages)
{
	static const uint32_t sizes[] = {1,	64,    1424,  1472,  8960,
					 21846, 30000, 32768, 32769, 65536};
	static const uint32_t ns[] = {1, 2, 7, 63, 64, 65, 256, DRX_SLOTS_MAX};

	for (unsigned a = 0; a < sizeof(sizes) / sizeof(sizes[0]); a++) {
		for (unsigned b = 0; b < sizeof(ns) / sizeof(ns[0]); b++) {
			struct drxslots sl;
			uint64_t bytes, prev_end = 0, off = 0;
			uint32_t size;

			ck_assert_int_eq(drxslots_init(&sl, sizes[a], ns[b]),
					 0);
			size = sl.size;
			ck_assert_uint_ge(size, sizes[a]);
			bytes = drxslots_bytes(&sl);
			ck_assert_uint_eq(bytes % 65536, 0);
			for (uint32_t i = 0; i < ns[b]; i++) {
				off = drxslots_offset(&sl, i);
				ck_assert_uint_eq(off % 64, 0);
				/* No slot crosses a 64 KiB boundary. */
				ck_assert_uint_le(off % 65536 + size, 65536);
				/* In order, none overlapping. */
				ck_assert_uint_ge(off, prev_end);
				prev_end = off + size;
				ck_assert_uint_le(prev_end, bytes);
			}
			/* No page beyond the last slot's. */
			ck_assert_uint_eq(bytes, (off / 65536 + 1) * 65536);
		}
	}
}
END_TEST

START_TEST(drxslots_alloc__all_then_enospc_and_reuse)
{
	static const uint32_t ns[] = {1, 63, 64, 100, DRX_SLOTS_MAX};

	for (unsigned k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		uint32_t n = ns[k];
		bool seen[DRX_SLOTS_MAX] = {false};
		struct drxslots sl;
		int i;

		ck_assert_int_eq(drxslots_init(&sl, 1472, n), 0);
		for (uint32_t j = 0; j < n; j++) {
			i = drxslots_alloc(&sl);
			ck_assert_int_ge(i, 0);
			ck_assert_int_lt(i, (int)n);
			ck_assert(!seen[i]);
			seen[i] = true;
		}
		ck_assert_uint_eq(sl.used, n);
		ck_assert_int_eq(drxslots_alloc(&sl), -ENOSPC);
		ck_assert_int_eq(drxslots_alloc(&sl), -ENOSPC);
		ck_assert_uint_eq(sl.used, n);
		/* A freed slot is the one handed out next. */
		ck_assert_int_eq(
			drxslots_free(&sl, drxslots_offset(&sl, n / 2)), 0);
		ck_assert_uint_eq(sl.used, n - 1);
		ck_assert_int_eq(drxslots_alloc(&sl), (int)(n / 2));
		ck_assert_int_eq(drxslots_alloc(&sl), -ENOSPC);
		/* Free three (or what there is), get the same three back. */
		memset(seen, 0, sizeof(seen));
		for (uint32_t j = n - 1, c = 0; c < 3 && c < n; j /= 2, c++) {
			ck_assert_int_eq(
				drxslots_free(&sl, drxslots_offset(&sl, j)), 0);
			seen[j] = true;
			if (j == 0)
				break;
		}
		while ((i = drxslots_alloc(&sl)) >= 0) {
			ck_assert(seen[i]);
			seen[i] = false;
		}
		ck_assert_int_eq(i, -ENOSPC);
		for (uint32_t j = 0; j < n; j++)
			ck_assert(!seen[j]);
		ck_assert_uint_eq(sl.used, n);
		/* Everything freed: all of them again. */
		for (uint32_t j = 0; j < n; j++)
			ck_assert_int_eq(
				drxslots_free(&sl, drxslots_offset(&sl, j)), 0);
		ck_assert_uint_eq(sl.used, 0);
		for (uint32_t j = 0; j < n; j++)
			ck_assert_int_ge(drxslots_alloc(&sl), 0);
		ck_assert_int_eq(drxslots_alloc(&sl), -ENOSPC);
	}
}
END_TEST

/* off is no taken slot: -EINVAL, and nothing changed. */
static void drxslots_free_refused(struct drxslots *sl, uint64_t off)
{
	struct drxslots before = *sl;

	ck_assert_msg(drxslots_free(sl, off) == -EINVAL,
		      "free of %llu (size %u) not refused",
		      (unsigned long long)off, sl->size);
	ck_assert_int_eq(memcmp(&before, sl, sizeof(before)), 0);
}

START_TEST(drxslots_free__refuses_what_is_no_taken_slot)
{
	static const uint32_t sizes[] = {1472, 8960, 30000, 65536};

	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct drxslots sl;
		uint32_t n = 100, size, per;
		uint64_t off;

		ck_assert_int_eq(drxslots_init(&sl, sizes[k], n), 0);
		size = sl.size;
		per = sl.per_page;
		for (uint32_t j = 0; j < n - 1; j++) /* the last one stays */
			ck_assert_int_eq(drxslots_alloc(&sl), (int)j);
		ck_assert_uint_eq(sl.used, n - 1);
		/* Misaligned: inside a taken slot. */
		off = drxslots_offset(&sl, 3);
		drxslots_free_refused(&sl, off + 1);
		drxslots_free_refused(&sl, off + 64);
		drxslots_free_refused(&sl, off + size - 1);
		drxslots_free_refused(&sl, off - 64);
		/* Beyond n: the slot after the last, far away. */
		drxslots_free_refused(&sl, drxslots_offset(&sl, n));
		drxslots_free_refused(&sl, drxslots_offset(&sl, n + 1));
		drxslots_free_refused(&sl, drxslots_bytes(&sl));
		drxslots_free_refused(&sl, (uint64_t)DRX_SLOTS_MAX * 65536);
		drxslots_free_refused(&sl, 1ull << 40);
		drxslots_free_refused(&sl, UINT64_MAX & ~0xffffull);
		drxslots_free_refused(&sl, UINT64_MAX);
		/* The unused tail of a page (where slot per_page would be). */
		if ((uint64_t)per * size < 65536) {
			drxslots_free_refused(&sl, (uint64_t)per * size);
			drxslots_free_refused(&sl,
					      65536 + (uint64_t)per * size);
			drxslots_free_refused(&sl, 65536 - 64);
		}
		/* Never taken: the last slot. */
		drxslots_free_refused(&sl, drxslots_offset(&sl, n - 1));
		/* Double free. */
		ck_assert_int_eq(drxslots_free(&sl, drxslots_offset(&sl, 5)),
				 0);
		ck_assert_uint_eq(sl.used, n - 2);
		drxslots_free_refused(&sl, drxslots_offset(&sl, 5));
		ck_assert_uint_eq(sl.used, n - 2);
		/* The slot is taken again, once. */
		ck_assert_int_eq(drxslots_alloc(&sl), 5);
		ck_assert_int_eq(drxslots_alloc(&sl), (int)(n - 1));
		ck_assert_int_eq(drxslots_alloc(&sl), -ENOSPC);
		ck_assert_uint_eq(sl.used, n);
	}
}
END_TEST

/* ---- drx_parse --------------------------------------------------------- */

#define DRX_SPORT 4000
#define DRX_DPORT 33001
#define DRX_SID	  (1ull << 63 | (uint64_t)0x2345 << 32 | 0x1001)

/* A single-packet response of plen bytes (payload: its bytes). */
static struct homa_pkt drx_resp(const uint8_t *payload, uint32_t plen)
{
	struct homa_pkt pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = HOMA_DATA;
	pkt.sport = DRX_SPORT;
	pkt.dport = DRX_DPORT;
	pkt.sender_id = DRX_SID;
	pkt.u.data.message_length = plen;
	pkt.u.data.incoming = plen;
	pkt.u.data.cutoff_version = 0xbeef;
	pkt.u.data.pad[0] = 0xa5;
	pkt.u.data.pad[1] = 0x5a;
	pkt.u.data.pad[2] = 0x03;
	pkt.u.data.payload = payload;
	pkt.u.data.payload_len = plen;
	return pkt;
}

/*
 * pkt behind an IPv4 header of ihl words (from 192.0.2.77), then extra
 * junk bytes past the IP total length: a buffer of exactly *len bytes.
 */
static uint8_t *drx_ip(const struct homa_pkt *pkt, unsigned ihl, size_t extra,
		       size_t *len)
{
	size_t hlen = wire_header_len(pkt->type), n, tot;
	uint8_t *b;

	if (pkt->type == HOMA_DATA)
		hlen += pkt->u.data.payload_len;
	tot = ihl * 4 + hlen;
	*len = tot + extra;
	b = malloc(*len);
	ck_assert_ptr_nonnull(b);
	memset(b, 0, ihl * 4);
	b[0] = (uint8_t)(0x40 | ihl);
	b[2] = (uint8_t)(tot >> 8);
	b[3] = (uint8_t)tot;
	b[6] = 0x40;
	b[8] = 64;
	b[9] = HOMA_IPPROTO;
	b[12] = 192;
	b[13] = 0;
	b[14] = 2;
	b[15] = 77;
	b[16] = 10;
	b[19] = 1;
	for (unsigned i = 20; i < ihl * 4; i++)
		b[i] = 0x01; /* NOP options */
	n = wire_encode(pkt, b + ihl * 4, hlen);
	ck_assert_uint_eq(n, hlen);
	for (size_t i = 0; i < extra; i++)
		b[tot + i] = (uint8_t)(0xc3 ^ i);
	return b;
}

static void drx_check_ok(const uint8_t *b, size_t len, unsigned ihl,
			 uint32_t plen, const uint8_t *payload)
{
	static const uint8_t src[16] = {0, 0, 0,    0,	  0,   0, 0, 0,
					0, 0, 0xff, 0xff, 192, 0, 2, 77};
	struct drx_in in;

	memset(&in, 0x5c, sizeof(in));
	ck_assert_int_eq(drx_parse(b, len, &in), 0);
	ck_assert_int_eq(memcmp(in.src, src, 16), 0);
	ck_assert_uint_eq(in.sport, DRX_SPORT);
	ck_assert_uint_eq(in.dport, DRX_DPORT);
	ck_assert_uint_eq(in.id, DRX_SID ^ 1);
	ck_assert_uint_eq(in.id & 1, 0);
	ck_assert_uint_eq(in.length, plen);
	ck_assert_uint_eq(in.cutoff_version, 0xbeef);
	ck_assert_uint_eq(in.pad[0], 0xa5);
	ck_assert_uint_eq(in.pad[1], 0x5a);
	ck_assert_uint_eq(in.pad[2], 0x03);
	ck_assert_ptr_eq(in.homa, b + ihl * 4);
	ck_assert_uint_eq(in.homa_len, HOMA_DATA_LEN + plen);
	ck_assert_ptr_eq(in.payload, b + ihl * 4 + HOMA_DATA_LEN);
	ck_assert_int_eq(memcmp(in.payload, payload, plen), 0);
}

START_TEST(drx_parse__single_packet_response)
{
	static const uint32_t plens[] = {1, 2, 100, 1416, 8904};
	uint8_t *payload = malloc(8904), *b;
	size_t len;

	ck_assert_ptr_nonnull(payload);
	for (uint32_t i = 0; i < 8904; i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	for (unsigned k = 0; k < sizeof(plens) / sizeof(plens[0]); k++) {
		struct homa_pkt pkt = drx_resp(payload, plens[k]);

		b = drx_ip(&pkt, 5, 0, &len);
		ck_assert_uint_eq(len, 20 + HOMA_DATA_LEN + plens[k]);
		drx_check_ok(b, len, 5, plens[k], payload);
		free(b);
		/* IP options: the Homa header after them. */
		b = drx_ip(&pkt, 6, 0, &len);
		drx_check_ok(b, len, 6, plens[k], payload);
		free(b);
		b = drx_ip(&pkt, 15, 0, &len);
		drx_check_ok(b, len, 15, plens[k], payload);
		free(b);
	}
	free(payload);
}
END_TEST

/* A whole request, with or without an ack: what a request socket reads. */
START_TEST(drx_parse__single_packet_request)
{
	static const uint8_t payload[] = "a request, read directly";
	struct homa_pkt pkt = drx_resp(payload, sizeof(payload));
	struct drx_in in;
	size_t len;
	uint8_t *b;

	pkt.sender_id = DRX_SID ^ 1; /* even: the client's id */
	for (int acked = 0; acked < 2; acked++) {
		pkt.u.data.ack.client_id = acked ? 0x1234 : 0;
		pkt.u.data.ack.server_port = acked ? 4321 : 0;
		b = drx_ip(&pkt, 5, 0, &len);
		memset(&in, 0x5c, sizeof(in));
		ck_assert_int_eq(drx_parse(b, len, &in), 0);
		ck_assert(in.request);
		ck_assert_uint_eq(in.id, DRX_SID);
		ck_assert_uint_eq(in.id & 1, 1);
		ck_assert_uint_eq(in.sport, DRX_SPORT);
		ck_assert_uint_eq(in.dport, DRX_DPORT);
		ck_assert_uint_eq(in.length, sizeof(payload));
		ck_assert_uint_eq(in.cutoff_version, 0xbeef);
		ck_assert_uint_eq(in.ack_id, acked ? 0x1234 : 0);
		ck_assert_uint_eq(in.ack_port, acked ? 4321 : 0);
		ck_assert_int_eq(memcmp(in.payload, payload, sizeof(payload)),
				 0);
		free(b);
	}
	/* A response is not one. */
	pkt = drx_resp(payload, sizeof(payload));
	b = drx_ip(&pkt, 5, 0, &len);
	ck_assert_int_eq(drx_parse(b, len, &in), 0);
	ck_assert(!in.request);
	ck_assert_uint_eq(in.ack_id, 0);
	free(b);
}
END_TEST

/* The requests taken lately: found by (id, client, port), the oldest
 * forgotten first once full, each bucket chain intact after evictions. */
START_TEST(srxseen__remembers_the_last_cap)
{
	struct srxseen t;
	uint8_t a[16] = {[10] = 0xff, [11] = 0xff, [12] = 10, [15] = 1};
	uint8_t b[16];

	memcpy(b, a, 16);
	b[15] = 2;
	ck_assert_int_eq(srxseen_init(&t, 0), -EINVAL);
	ck_assert_int_eq(srxseen_init(&t, 12), -EINVAL); /* not 2^k */
	ck_assert(!srxseen_has(&t, 1, a, 1));		 /* cap 0: nothing */
	ck_assert_int_eq(srxseen_init(&t, 16), 0);
	ck_assert(!srxseen_has(&t, 11, a, 5));
	srxseen_add(&t, 11, a, 5);
	ck_assert(srxseen_has(&t, 11, a, 5));
	/* Another client, port or id is another request. */
	ck_assert(!srxseen_has(&t, 11, b, 5));
	ck_assert(!srxseen_has(&t, 11, a, 6));
	ck_assert(!srxseen_has(&t, 13, a, 5));
	srxseen_add(&t, 11, b, 5);
	ck_assert(srxseen_has(&t, 11, b, 5));
	/* 100 more: only the last 16 stay. */
	for (uint64_t id = 101; id < 301; id += 2)
		srxseen_add(&t, id, (id & 2) ? a : b, 7);
	ck_assert(!srxseen_has(&t, 11, a, 5));
	ck_assert(!srxseen_has(&t, 11, b, 5));
	for (uint64_t id = 101; id < 301; id += 2)
		ck_assert_int_eq(srxseen_has(&t, id, (id & 2) ? a : b, 7),
				 id >= 301 - 2 * 16);
	ck_assert_uint_eq(t.n, 16);
	srxseen_destroy(&t);
	ck_assert_ptr_null(t.e);
}
END_TEST

START_TEST(drx_parse__bytes_past_the_ip_length_ignored)
{
	static const uint8_t payload[] = "hello, direct receive";
	struct homa_pkt pkt = drx_resp(payload, sizeof(payload));
	size_t len;
	uint8_t *b;

	for (size_t extra = 1; extra <= 64; extra += 21) {
		b = drx_ip(&pkt, 5, extra, &len);
		ck_assert_uint_eq(len,
				  20 + HOMA_DATA_LEN + sizeof(payload) + extra);
		drx_check_ok(b, len, 5, sizeof(payload), payload);
		free(b);
	}
	/* Junk that would make a longer message of it: still ignored. */
	b = drx_ip(&pkt, 5, 10, &len);
	memset(b + len - 10, 'x', 10);
	drx_check_ok(b, len, 5, sizeof(payload), payload);
	free(b);
}
END_TEST

/* drx_parse refuses b[0..len), copied to a buffer of exactly len bytes
 * (an overread shows in ASan builds). */
static void drx_refused(const uint8_t *b, size_t len, const char *what)
{
	uint8_t *c = malloc(len > 0 ? len : 1);
	struct drx_in in;

	ck_assert_ptr_nonnull(c);
	if (len > 0)
		memcpy(c, b, len);
	ck_assert_msg(drx_parse(c, len, &in) == -EINVAL, "%s: not refused",
		      what);
	free(c);
}

/* pkt, in a fresh exact-sized IPv4 packet, is refused. */
static void drx_pkt_refused(const struct homa_pkt *pkt, const char *what)
{
	size_t len;
	uint8_t *b = drx_ip(pkt, 5, 0, &len);

	drx_refused(b, len, what);
	free(b);
}

START_TEST(drx_parse__refuses_the_ip_header)
{
	static const uint8_t payload[40] = {1, 2, 3};
	struct homa_pkt pkt = drx_resp(payload, sizeof(payload));
	size_t len, tot;
	uint8_t *b;

	b = drx_ip(&pkt, 5, 0, &len);
	tot = len;
	drx_check_ok(b, len, 5, sizeof(payload), payload);
	/* Shorter than an IP header. */
	for (size_t n = 0; n < 20; n++)
		drx_refused(b, n, "len < 20");
	/* The whole packet, but len cut: total length > len. */
	drx_refused(b, len - 1, "total length > len");
	drx_refused(b, 20, "total length > len (header only)");
	b[0] = 0x65;
	drx_refused(b, len, "version 6");
	b[0] = 0x05;
	drx_refused(b, len, "version 0");
	for (uint8_t ihl = 0; ihl < 5; ihl++) {
		b[0] = (uint8_t)(0x40 | ihl);
		drx_refused(b, len, "IHL < 5");
	}
	b[0] = 0x45;
	b[2] = (uint8_t)((tot + 1) >> 8);
	b[3] = (uint8_t)(tot + 1);
	drx_refused(b, len, "total length = len + 1");
	b[2] = 0xff;
	b[3] = 0xff;
	drx_refused(b, len, "total length 65535");
	b[2] = 0;
	b[3] = 19;
	drx_refused(b, len, "total length < IHL");
	b[3] = 0;
	drx_refused(b, len, "total length 0");
	b[0] = 0x4f; /* IHL 15: 60 bytes */
	b[3] = 59;
	drx_refused(b, len, "total length < IHL 15");
	b[3] = 60;
	drx_refused(b, len, "IHL 15, no Homa header");
	b[0] = 0x45;
	b[2] = (uint8_t)(tot >> 8);
	b[3] = (uint8_t)tot;
	drx_check_ok(b, len, 5, sizeof(payload), payload);
	b[9] = 17;
	drx_refused(b, len, "protocol 17");
	b[9] = 0;
	drx_refused(b, len, "protocol 0");
	b[9] = HOMA_IPPROTO + 1;
	drx_refused(b, len, "protocol 147");
	b[9] = HOMA_IPPROTO;
	drx_check_ok(b, len, 5, sizeof(payload), payload);
	/* A good Homa packet right after a short IP header (IHL 4 and 3,
	 * the protocol byte kept): still refused. */
	for (unsigned ihl = 4; ihl >= 3; ihl--) {
		memmove(b + ihl * 4, b + 20, len - 20);
		b[0] = (uint8_t)(0x40 | ihl);
		b[2] = (uint8_t)((tot - 20 + ihl * 4) >> 8);
		b[3] = (uint8_t)(tot - 20 + ihl * 4);
		drx_refused(b, tot - 20 + ihl * 4, "a good packet, IHL < 5");
		memmove(b + 20, b + ihl * 4, len - 20);
		b[0] = 0x45;
		b[2] = (uint8_t)(tot >> 8);
		b[3] = (uint8_t)tot;
	}
	free(b);
}
END_TEST

START_TEST(drx_parse__refuses_what_is_no_single_packet_response)
{
	static const uint8_t payload[100] = {9, 8, 7};
	struct homa_pkt pkt, ok = drx_resp(payload, sizeof(payload));
	size_t len, tot;
	uint8_t *b;

	pkt = ok;
	pkt.type = HOMA_GRANT;
	memset(&pkt.u, 0, sizeof(pkt.u));
	pkt.u.grant.offset = 1000;
	drx_pkt_refused(&pkt, "GRANT");
	pkt = ok;
	pkt.type = HOMA_RESEND;
	memset(&pkt.u, 0, sizeof(pkt.u));
	drx_pkt_refused(&pkt, "RESEND");
	pkt = ok;
	pkt.type = HOMA_BUSY;
	memset(&pkt.u, 0, sizeof(pkt.u));
	drx_pkt_refused(&pkt, "BUSY");
	/* A CUTOFFS whose fields, read as a DATA's, would make a response. */
	pkt = ok;
	pkt.type = HOMA_CUTOFFS;
	memset(&pkt.u, 0, sizeof(pkt.u));
	for (unsigned i = 0; i < HOMA_NUM_PRIORITIES; i++)
		pkt.u.cutoffs.unsched_cutoffs[i] = i == 0 || i == 1 ? 100 : 0;
	pkt.u.cutoffs.cutoff_version = 100;
	drx_pkt_refused(&pkt, "CUTOFFS");
	/* An ACK, its entries as odd as a DATA's fields could be. */
	pkt = ok;
	pkt.type = HOMA_ACK;
	memset(&pkt.u, 0, sizeof(pkt.u));
	pkt.u.ack.num_acks = 3;
	pkt.u.ack.acks[1].client_id = 0;
	pkt.u.ack.acks[2].client_id = 3;
	pkt.u.ack.acks[2].server_port = 3;
	drx_pkt_refused(&pkt, "ACK");
	pkt = ok;
	pkt.sender_id = 0;
	drx_pkt_refused(&pkt, "sender_id 0");
	/* A request's ack names a client RPC (an even id). */
	pkt.sender_id = DRX_SID ^ 1;
	pkt.u.data.ack.client_id = 7;
	pkt.u.data.ack.server_port = 9;
	drx_pkt_refused(&pkt, "a request acking an odd id");
	/* A later packet of a longer message. */
	pkt = ok;
	pkt.u.data.offset = 1400;
	pkt.u.data.message_length = 1400 + sizeof(payload);
	pkt.u.data.incoming = pkt.u.data.message_length;
	drx_pkt_refused(&pkt, "offset 1400");
	pkt = ok;
	pkt.u.data.ack.client_id = 42;
	pkt.u.data.ack.server_port = DRX_SPORT;
	drx_pkt_refused(&pkt, "an ack");
	pkt.u.data.ack.server_port = 0;
	drx_pkt_refused(&pkt, "an ack without port");
	/* The first packet of a longer message. */
	pkt = ok;
	pkt.u.data.message_length = sizeof(payload) + 1;
	drx_pkt_refused(&pkt, "message_length = payload + 1");
	pkt.u.data.message_length = 1000000;
	drx_pkt_refused(&pkt, "message_length 1000000");
	pkt.u.data.message_length = sizeof(payload) - 1;
	drx_pkt_refused(&pkt, "message_length < payload");
	pkt = ok;
	pkt.u.data.payload_len = 0;
	pkt.u.data.message_length = 1;
	drx_pkt_refused(&pkt, "no payload");
	pkt.u.data.message_length = 0;
	drx_pkt_refused(&pkt, "no payload, message_length 0");
	/* The Homa part cut short (total length says so, the buffer is
	 * exactly that long). */
	pkt = ok;
	for (size_t cut = 20; cut < 20 + HOMA_DATA_LEN; cut++) {
		b = drx_ip(&pkt, 5, 0, &len);
		b[2] = (uint8_t)(cut >> 8);
		b[3] = (uint8_t)cut;
		drx_refused(b, cut, "Homa part shorter than its header");
		free(b);
	}
	/* ... or cut in its payload: message_length says more. */
	b = drx_ip(&pkt, 5, 0, &len);
	tot = len - 1;
	b[2] = (uint8_t)(tot >> 8);
	b[3] = (uint8_t)tot;
	drx_refused(b, len, "payload cut by total length");
	free(b);
	/* A bad type byte. */
	b = drx_ip(&pkt, 5, 0, &len);
	b[20 + offsetof(struct homa_wire_common, type)] = 0x20;
	drx_refused(b, len, "type 0x20");
	free(b);
	/* The good one, for contrast. */
	b = drx_ip(&ok, 5, 0, &len);
	drx_check_ok(b, len, 5, sizeof(payload), payload);
	free(b);
}
END_TEST

/*
 * Random bytes, and mutations of a good packet, in exact-sized buffers:
 * never a crash or an overread (ASan builds), and whatever is accepted is
 * consistent with its bytes.
 */
START_TEST(drx_parse__random_bytes)
{
	static const uint8_t payload[120] = {5};
	struct homa_pkt ok = drx_resp(payload, sizeof(payload));
	uint64_t r = 0xd1ce5eedull;
	unsigned accepted = 0;
	size_t glen;
	uint8_t *good = drx_ip(&ok, 5, 0, &glen);

	for (unsigned it = 0; it < 100000; it++) {
		uint64_t x = drx_rand(&r);
		size_t len = (size_t)(x % 201), ihl, tot;
		uint8_t *b = malloc(len > 0 ? len : 1);
		struct drx_in in;
		int rc;

		ck_assert_ptr_nonnull(b);
		for (size_t i = 0; i < len; i++)
			b[i] = (uint8_t)drx_rand(&r);
		switch ((x >> 32) % 4) {
		case 0: /* pure noise */
			break;
		case 1: /* a plausible IP header over noise */
			if (len >= 20) {
				b[0] = 0x45;
				b[2] = (uint8_t)(len >> 8);
				b[3] = (uint8_t)len;
				b[9] = HOMA_IPPROTO;
			}
			if (len > 20 + HOMA_COMMON_LEN)
				b[20 + offsetof(struct homa_wire_common,
						type)] = HOMA_DATA;
			break;
		default: /* the good packet, cut and a few bits flipped */
			memcpy(b, good, len < glen ? len : glen);
			for (unsigned f = 0; len > 0 && f < (x >> 40) % 4;
			     f++) {
				uint64_t y = drx_rand(&r);

				b[y % len] ^= (uint8_t)(1u << (y >> 60) % 8);
			}
			break;
		}
		rc = drx_parse(b, len, &in);
		if (rc != 0) {
			if (rc != -EINVAL)
				ck_abort_msg("iteration %u: rc %d", it, rc);
			free(b);
			continue;
		}
		accepted++;
		ihl = (size_t)(b[0] & 0x0f) * 4;
		tot = (size_t)b[2] << 8 | b[3];
		if ((b[0] >> 4) != 4 || ihl < 20 || tot > len ||
		    b[9] != HOMA_IPPROTO || in.homa != b + ihl ||
		    in.homa_len != tot - ihl ||
		    in.homa_len != HOMA_DATA_LEN + (size_t)in.length ||
		    in.length == 0 || in.payload != in.homa + HOMA_DATA_LEN ||
		    (in.id & 1) != (in.request ? 1u : 0u) ||
		    (!in.request && (in.ack_id | in.ack_port) != 0) ||
		    (in.ack_id & 1) != 0 || memcmp(in.src + 12, b + 12, 4) != 0)
			ck_abort_msg("iteration %u: accepted inconsistently",
				     it);
		free(b);
	}
	/* The mutations do reach the accepting path. */
	ck_assert_uint_gt(accepted, 100);
	free(good);
}
END_TEST

/* ---- argument validation (no homad reached) --------------------------- */

START_TEST(hc_open__bad_arguments)
{
	struct hc_options o;
	struct hc_sock *s = (struct hc_sock *)1;
	char buf[256];

	hc_options_init(&o);
	o.socket_path = "/nonexistent/homa-test.sock";
	ck_assert_int_eq(hc_open(&s, AF_UNIX, &o), -EAFNOSUPPORT);
	ck_assert_ptr_null(s);
	o.rx_pool_bytes = 65536; /* one bpage */
	ck_assert_int_eq(hc_open(&s, AF_INET, &o), -EINVAL);
	ck_assert(strstr(hc_last_error(NULL, buf, sizeof(buf)),
			 "rx_pool_bytes") != NULL);
	o.rx_pool_bytes = 3 * 65536 + 1;
	ck_assert_int_eq(hc_open(&s, AF_INET, &o), -EINVAL);
	o.rx_pool_bytes = 0;
	o.tx_area_bytes = 4096;
	ck_assert_int_eq(hc_open(&s, AF_INET, &o), -EINVAL);
	o.tx_area_bytes = 0;
	ck_assert_int_eq(hc_open(&s, AF_INET6, &o), -ENOENT);
	ck_assert(strstr(hc_last_error(NULL, buf, sizeof(buf)),
			 "/nonexistent/homa-test.sock") != NULL);
	ck_assert_str_eq(hc_strerror(-EAGAIN), hc_strerror(EAGAIN));
	ck_assert_ptr_nonnull(hc_strerror(100000));
}
END_TEST

/* ---- the protocol, against a peer played by the test ------------------ */

/* Whether the fake homad's OpenReply says takes_recycle. */
static bool peer_takes_recycle;

struct peer {
	char path[108];
	int lfd;
	int fd;	     /* the accepted connection ("homad's" side) */
	uint8_t *rx; /* the client's receive pool, mapped read-write */
	uint8_t *tx; /* the client's transmit area, read-only */
	uint64_t rx_size, tx_size;
	uint32_t open_family;
	uint64_t ids_first;
	uint32_t ids_count;
	uint32_t max_inline;
	uint64_t wmem_max;
	int open_error;
};

static void peer_send(int fd, const Homa__Client__DaemonMsg *m)
{
	uint8_t buf[HOMA_CLIENT_MAX_DATAGRAM];
	size_t n = homa__client__daemon_msg__pack(m, buf);

	ck_assert_int_eq(send(fd, buf, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Accept, check the Open and its regions, answer OpenReply. */
static void *peer_accept(void *arg)
{
	struct peer *p = arg;
	uint8_t buf[4096];
	union {
		char b[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.b,
			    .msg_controllen = sizeof(ctl.b)};
	Homa__Client__ClientMsg *m;
	Homa__Client__DaemonMsg d = HOMA__CLIENT__DAEMON_MSG__INIT;
	Homa__Client__OpenReply r = HOMA__CLIENT__OPEN_REPLY__INIT;
	Homa__Client__IdBlock ids = HOMA__CLIENT__ID_BLOCK__INIT;
	struct cmsghdr *cm;
	struct stat st;
	int fds[2];
	ssize_t n;

	p->fd = accept(p->lfd, NULL, NULL);
	ck_assert_int_ge(p->fd, 0);
	n = recvmsg(p->fd, &mh, 0);
	ck_assert_int_gt(n, 0);
	cm = CMSG_FIRSTHDR(&mh);
	ck_assert_ptr_nonnull(cm);
	ck_assert_int_eq(cm->cmsg_type, SCM_RIGHTS);
	ck_assert_uint_eq(cm->cmsg_len, CMSG_LEN(sizeof(fds)));
	memcpy(fds, CMSG_DATA(cm), sizeof(fds));
	m = homa__client__client_msg__unpack(NULL, (size_t)n, buf);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->cmd_case, HOMA__CLIENT__CLIENT_MSG__CMD_OPEN);
	ck_assert_uint_eq(m->open->version, HOMA_CLIENT_PROTO_VERSION);
	p->open_family = m->open->family;
	p->rx_size = m->open->rx_pool_bytes;
	p->tx_size = m->open->tx_area_bytes;
	homa__client__client_msg__free_unpacked(m, NULL);
	for (int i = 0; i < 2; i++) {
		int seals = fcntl(fds[i], F_GET_SEALS);

		ck_assert_int_eq(seals & HOMA_SHM_REQUIRED_SEALS,
				 HOMA_SHM_REQUIRED_SEALS);
		ck_assert_int_eq(fstat(fds[i], &st), 0);
		ck_assert_uint_eq((uint64_t)st.st_size,
				  i == 0 ? p->rx_size : p->tx_size);
	}
	ck_assert_uint_eq(p->rx_size % HOMA_SHM_BPAGE_SIZE, 0);
	p->rx = mmap(NULL, p->rx_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		     fds[0], 0);
	p->tx = mmap(NULL, p->tx_size, PROT_READ, MAP_SHARED, fds[1], 0);
	ck_assert(p->rx != MAP_FAILED && p->tx != MAP_FAILED);
	close(fds[0]);
	close(fds[1]);

	r.error = p->open_error;
	r.port = 0x8001;
	ids.first = p->ids_first;
	ids.count = p->ids_count;
	r.ids = &ids;
	r.wmem_max = p->wmem_max;
	r.max_inline = p->max_inline;
	r.takes_recycle = peer_takes_recycle;
	r.error_text = p->open_error ? "refused by the test" : "";
	d.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_OPEN;
	d.open = &r;
	peer_send(p->fd, &d);
	return NULL;
}

/* Receive pool and event queue limit of the sockets peer_open makes. */
static uint64_t peer_rx_bytes = 4 * HOMA_SHM_BPAGE_SIZE;
static uint32_t peer_max_events = 8;
static uint32_t peer_max_outstanding = 64;

/* Open a socket against a fresh peer with the given parameters. */
static int peer_open(struct peer *p, struct hc_sock **s, int family,
		     uint32_t ids_count, uint64_t tx_area, uint64_t wmem_max)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct hc_options o;
	pthread_t t;
	int rc;

	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "/tmp/hc-test-%d-%ld.sock",
		 (int)getpid(), (long)random());
	memcpy(sun.sun_path, p->path, strlen(p->path) + 1);
	p->lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	ck_assert_int_ge(p->lfd, 0);
	ck_assert_int_eq(bind(p->lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(p->lfd, 4), 0);
	p->ids_first = 1000;
	p->ids_count = ids_count;
	p->max_inline = 100;
	p->wmem_max = wmem_max;
	pthread_create(&t, NULL, peer_accept, p);
	hc_options_init(&o);
	o.socket_path = p->path;
	o.rx_pool_bytes = peer_rx_bytes;
	o.tx_area_bytes = tx_area;
	o.max_events = peer_max_events;
	o.max_outstanding = peer_max_outstanding;
	rc = hc_open(s, family, &o);
	pthread_join(t, NULL);
	return rc;
}

static void peer_close(struct peer *p, struct hc_sock *s)
{
	hc_close(s);
	if (p->fd >= 0)
		close(p->fd);
	close(p->lfd);
	unlink(p->path);
	munmap(p->rx, p->rx_size);
	munmap(p->tx, p->tx_size);
}

/* The library's next datagram, skipping Recycles when skip_recycle. */
static Homa__Client__ClientMsg *peer_next(struct peer *p, bool skip_recycle)
{
	uint8_t buf[HOMA_CLIENT_MAX_DATAGRAM];

	for (;;) {
		Homa__Client__ClientMsg *m;
		ssize_t n = recv(p->fd, buf, sizeof(buf), 0);

		ck_assert_int_gt(n, 0);
		m = homa__client__client_msg__unpack(NULL, (size_t)n, buf);
		ck_assert_ptr_nonnull(m);
		if (skip_recycle &&
		    m->cmd_case == HOMA__CLIENT__CLIENT_MSG__CMD_RECYCLE) {
			homa__client__client_msg__free_unpacked(m, NULL);
			continue;
		}
		return m;
	}
}

static void peer_reply(struct peer *p, uint64_t seq, int error,
		       const char *text)
{
	Homa__Client__DaemonMsg d = HOMA__CLIENT__DAEMON_MSG__INIT;
	Homa__Client__Reply r = HOMA__CLIENT__REPLY__INIT;

	r.seq = seq;
	r.error = error;
	r.error_text = (char *)(text ? text : "");
	d.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_REPLY;
	d.reply = &r;
	peer_send(p->fd, &d);
}

/* Deliver message id of len bytes (pattern seed) at bpage off. */
static void peer_deliver(struct peer *p, uint64_t id, uint64_t cookie,
			 bool priv, uint32_t off, uint32_t len)
{
	Homa__Client__DaemonMsg d = HOMA__CLIENT__DAEMON_MSG__INIT;
	Homa__Client__Delivered dv = HOMA__CLIENT__DELIVERED__INIT;
	Homa__Client__Addr a = HOMA__CLIENT__ADDR__INIT;
	uint8_t ip[4] = {10, 1, 2, 3};
	uint32_t offs[HC_MAX_BPAGES];
	size_t n = 0;

	for (uint32_t i = 0; i < len; i++)
		p->rx[off + i] = (uint8_t)(id + i);
	for (uint32_t done = 0; done < len; done += HC_BPAGE_SIZE)
		offs[n++] = off + done;
	a.addr.data = ip;
	a.addr.len = 4;
	a.port = 0x8123;
	dv.id = id;
	dv.cookie = cookie;
	dv.peer = &a;
	dv.length = len;
	dv.n_bpage_offsets = n;
	dv.bpage_offsets = offs;
	dv.private_ = priv;
	d.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_DELIVERED;
	d.delivered = &dv;
	peer_send(p->fd, &d);
}

static void peer_released(struct peer *p, uint64_t id)
{
	Homa__Client__DaemonMsg d = HOMA__CLIENT__DAEMON_MSG__INIT;
	Homa__Client__TxReleased t = HOMA__CLIENT__TX_RELEASED__INIT;

	t.n_ids = 1;
	t.ids = &id;
	d.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_TX_RELEASED;
	d.tx_released = &t;
	peer_send(p->fd, &d);
}

static struct sockaddr_in dest4(void)
{
	struct sockaddr_in in = {.sin_family = AF_INET,
				 .sin_port = htons(4000),
				 .sin_addr.s_addr = htonl(0x0a010203)};
	return in;
}

START_TEST(proto_open__handshake_and_refusal)
{
	struct peer p;
	struct hc_sock *s;
	char buf[256];

	ck_assert_int_eq(peer_open(&p, &s, AF_INET6, 100, 1 << 20, 1 << 20), 0);
	ck_assert_uint_eq(p.open_family, AF_INET6);
	ck_assert_uint_eq(p.rx_size, 4 * HOMA_SHM_BPAGE_SIZE);
	ck_assert_uint_eq(p.tx_size, 1 << 20);
	ck_assert_uint_eq(hc_port(s), 0x8001);
	ck_assert_int_eq(hc_family(s), AF_INET6);
	ck_assert_int_ge(hc_fd(s), 0);
	peer_close(&p, s);

	/* A refusal is the errno homad sent, with its text. */
	memset(&p, 0, sizeof(p));
	{
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		struct hc_options o;
		pthread_t t;

		snprintf(p.path, sizeof(p.path), "/tmp/hc-test-%d-r.sock",
			 (int)getpid());
		memcpy(sun.sun_path, p.path, strlen(p.path) + 1);
		p.lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		ck_assert_int_eq(
			bind(p.lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
		listen(p.lfd, 1);
		p.ids_first = 2;
		p.ids_count = 1;
		p.open_error = EUSERS;
		pthread_create(&t, NULL, peer_accept, &p);
		hc_options_init(&o);
		o.socket_path = p.path;
		o.rx_pool_bytes = 2 * HOMA_SHM_BPAGE_SIZE;
		o.tx_area_bytes = 65536;
		ck_assert_int_eq(hc_open(&s, AF_INET, &o), -EUSERS);
		pthread_join(t, NULL);
		ck_assert(strstr(hc_last_error(NULL, buf, sizeof(buf)),
				 "refused by the test") != NULL);
		close(p.fd);
		close(p.lfd);
		unlink(p.path);
		munmap(p.rx, p.rx_size);
		munmap(p.tx, p.tx_size);
	}
}
END_TEST

START_TEST(proto_send_request__inline_and_tx_area)
{
	struct peer p;
	struct hc_sock *s;
	struct sockaddr_in in = dest4();
	Homa__Client__ClientMsg *m;
	uint8_t big[5000];
	struct iovec iov[2];
	uint64_t id1, id2;

	ck_assert_int_eq(peer_open(&p, &s, AF_INET, 100, 1 << 20, 1 << 20), 0);
	/* Small: inline; its id is the first of the block. */
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 "hello", 5, 77, 0, &id1),
			 0);
	ck_assert_uint_eq(id1, 1000);
	m = peer_next(&p, true);
	ck_assert_int_eq(m->cmd_case,
			 HOMA__CLIENT__CLIENT_MSG__CMD_SEND_REQUEST);
	ck_assert_uint_eq(m->seq, 0); /* asynchronous: no Reply */
	ck_assert_uint_eq(m->send_request->id, 1000);
	ck_assert_uint_eq(m->send_request->cookie, 77);
	ck_assert(!m->send_request->private_);
	ck_assert_uint_eq(m->send_request->inline_data.len, 5);
	ck_assert_int_eq(memcmp(m->send_request->inline_data.data, "hello", 5),
			 0);
	ck_assert_uint_eq(m->send_request->dest->addr.len, 4);
	ck_assert_uint_eq(m->send_request->dest->port, 4000);
	homa__client__client_msg__free_unpacked(m, NULL);

	/* Larger than max_inline, gathered from an iovec: in the tx area. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 3);
	iov[0].iov_base = big;
	iov[0].iov_len = 1234;
	iov[1].iov_base = big + 1234;
	iov[1].iov_len = sizeof(big) - 1234;
	ck_assert_int_eq(hc_send_requestv(s, (struct sockaddr *)&in, sizeof(in),
					  iov, 2, 78, HC_PRIVATE, &id2),
			 0);
	ck_assert_uint_eq(id2, 1002);
	m = peer_next(&p, true);
	ck_assert_uint_eq(m->send_request->inline_data.len, 0);
	ck_assert_uint_eq(m->send_request->length, sizeof(big));
	ck_assert(m->send_request->private_);
	ck_assert_uint_le(m->send_request->tx_offset + sizeof(big), p.tx_size);
	ck_assert_int_eq(
		memcmp(p.tx + m->send_request->tx_offset, big, sizeof(big)), 0);
	homa__client__client_msg__free_unpacked(m, NULL);

	/* Refused before anything is sent. */
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 big, 0, 0, 0, NULL),
			 -EINVAL);
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 big, HC_MAX_MESSAGE_LENGTH + 1, 0, 0,
					 NULL),
			 -EINVAL);
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 big, 10, 0, 0x100, NULL),
			 -EINVAL);
	ck_assert_int_eq(hc_send_response(s, 1000, (struct sockaddr *)&in,
					  sizeof(in), big, 10, 0),
			 -EINVAL); /* even id */
	{
		struct sockaddr_in6 in6 = {.sin6_family = AF_INET6,
					   .sin6_port = htons(1)};

		ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in6,
						 sizeof(in6), big, 10, 0, 0,
						 NULL),
				 -EAFNOSUPPORT);
	}
	peer_close(&p, s);
}
END_TEST

START_TEST(proto_recv__any_private_and_bytes)
{
	struct peer p;
	struct hc_sock *s;
	struct sockaddr_in in = dest4();
	struct hc_msg msg;
	struct iovec iov[HC_MAX_BPAGES];
	Homa__Client__ClientMsg *m;
	uint8_t out[70000];
	uint64_t pid;

	ck_assert_int_eq(peer_open(&p, &s, AF_INET, 100, 1 << 20, 1 << 20), 0);
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 "x", 1, 5, HC_PRIVATE, &pid),
			 0);
	homa__client__client_msg__free_unpacked(peer_next(&p, true), NULL);
	ck_assert_int_eq(hc_recv(s, 0, 0, &msg), -EAGAIN);
	ck_assert_int_eq(hc_recv(s, 1234, 0, &msg), -EINVAL); /* not ours */
	ck_assert_int_eq(hc_recv(s, 1001, 0, &msg), -EINVAL); /* odd */
	ck_assert_int_eq(hc_recv(s, pid, 0, &msg), -EAGAIN);

	/* The private response comes first, then a request. */
	peer_deliver(&p, pid, 5, true, 0, 10);
	peer_deliver(&p, 555, 0, false, 65536, 70000); /* two bpages */
	ck_assert_int_eq(hc_recv(s, 0, 1000, &msg), 0);
	ck_assert_uint_eq(msg.id, 555);
	ck_assert_int_eq(msg.error, 0);
	ck_assert_uint_eq(msg.length, 70000);
	ck_assert_uint_eq(msg.num_bpages, 2);
	ck_assert_int_eq(msg.peer.sa.sa_family, AF_INET);
	ck_assert_uint_eq(ntohs(msg.peer.in.sin_port), 0x8123);
	ck_assert_uint_eq(hc_msg_read(s, &msg, 0, out, sizeof(out)), 70000);
	for (uint32_t i = 0; i < 70000; i++)
		ck_assert_uint_eq(out[i], (uint8_t)(555 + i));
	ck_assert_uint_eq(hc_msg_read(s, &msg, 65530, out, 10), 10);
	ck_assert_uint_eq(out[0], (uint8_t)(555 + 65530));
	ck_assert_uint_eq(out[9], (uint8_t)(555 + 65539));
	ck_assert_uint_eq(hc_msg_read(s, &msg, 70000, out, 10), 0);
	ck_assert_int_eq(hc_msg_iov(s, &msg, iov, 1), -EINVAL);
	ck_assert_int_eq(hc_msg_iov(s, &msg, iov, HC_MAX_BPAGES), 2);
	ck_assert_uint_eq(iov[0].iov_len, 65536);
	ck_assert_uint_eq(iov[1].iov_len, 70000 - 65536);
	ck_assert_uint_eq(((uint8_t *)iov[1].iov_base)[0],
			  (uint8_t)(555 + 65536));
	ck_assert_uint_eq(((uint8_t *)iov[0].iov_base)[65535],
			  (uint8_t)(555 + 65535));
	/* Any-wait does not see the private response; the id-wait does. */
	ck_assert_int_eq(hc_recv(s, 0, 0, &msg), -EAGAIN);
	{
		struct hc_msg pm;

		ck_assert_int_eq(hc_recv(s, pid, 0, &pm), 0);
		ck_assert_uint_eq(pm.id, pid);
		ck_assert_uint_eq(pm.cookie, 5);
		ck_assert_int_eq(hc_recv(s, pid, 0, &pm), -EINVAL);
		ck_assert_int_eq(hc_recycle(s, &pm), 0);
	}
	/* Recycles are batched; hc_flush sends them. */
	ck_assert_int_eq(hc_recycle(s, &msg), 0);
	ck_assert_uint_eq(msg.num_bpages, 0);
	ck_assert_int_eq(hc_recycle(s, &msg), 0); /* second: nothing */
	ck_assert_int_eq(hc_flush(s), 0);
	m = peer_next(&p, false);
	ck_assert_int_eq(m->cmd_case, HOMA__CLIENT__CLIENT_MSG__CMD_RECYCLE);
	ck_assert_uint_eq(m->recycle->n_bpage_offsets, 3);
	ck_assert_uint_eq(m->recycle->bpage_offsets[0], 0);
	ck_assert_uint_eq(m->recycle->bpage_offsets[1], 65536);
	ck_assert_uint_eq(m->recycle->bpage_offsets[2], 131072);
	homa__client__client_msg__free_unpacked(m, NULL);

	/* A bad Delivered (bpage outside the pool) is dropped. */
	peer_deliver(&p, 557, 0, false, 0, 10);
	{
		Homa__Client__DaemonMsg d = HOMA__CLIENT__DAEMON_MSG__INIT;
		Homa__Client__Delivered dv = HOMA__CLIENT__DELIVERED__INIT;
		Homa__Client__Addr a = HOMA__CLIENT__ADDR__INIT;
		uint8_t ip[4] = {1, 2, 3, 4};
		uint32_t off = 4 * 65536;

		a.addr.data = ip;
		a.addr.len = 4;
		a.port = 1;
		dv.id = 559;
		dv.peer = &a;
		dv.length = 10;
		dv.n_bpage_offsets = 1;
		dv.bpage_offsets = &off;
		d.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_DELIVERED;
		d.delivered = &dv;
		peer_send(p.fd, &d);
		ck_assert_int_eq(send(p.fd, "garbage!", 8, 0), 8);
	}
	peer_deliver(&p, 561, 0, false, 64, 10);
	ck_assert_int_eq(hc_recv(s, 0, 1000, &msg), 0);
	ck_assert_uint_eq(msg.id, 557);
	ck_assert_int_eq(hc_recv(s, 0, 1000, &msg), 0);
	ck_assert_uint_eq(msg.id, 561);
	ck_assert_uint_eq(s->proto_errors, 2);
	peer_close(&p, s);
}
END_TEST

START_TEST(proto_failed__returned_with_errno_and_cookie)
{
	struct peer p;
	struct hc_sock *s;
	struct sockaddr_in in = dest4();
	Homa__Client__DaemonMsg d = HOMA__CLIENT__DAEMON_MSG__INIT;
	Homa__Client__Failed f = HOMA__CLIENT__FAILED__INIT;
	struct hc_msg msg;
	uint64_t id;

	ck_assert_int_eq(peer_open(&p, &s, AF_INET, 100, 1 << 20, 1 << 20), 0);
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 "abc", 3, 99, 0, &id),
			 0);
	homa__client__client_msg__free_unpacked(peer_next(&p, true), NULL);
	f.id = id;
	f.cookie = 99;
	f.error = ETIMEDOUT;
	d.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_FAILED;
	d.failed = &f;
	peer_send(p.fd, &d);
	ck_assert_int_eq(hc_recv(s, 0, 1000, &msg), 0);
	ck_assert_uint_eq(msg.id, id);
	ck_assert_uint_eq(msg.cookie, 99);
	ck_assert_int_eq(msg.error, ETIMEDOUT);
	ck_assert_uint_eq(msg.num_bpages, 0);
	ck_assert_uint_eq(hc_msg_read(s, &msg, 0, &id, 1), 0);
	/* The Failed released the request's entry. */
	ck_assert_uint_eq(s->tx.nused, 0);
	peer_close(&p, s);
}
END_TEST

START_TEST(proto_send__waits_for_space_and_nonblock)
{
	struct peer p;
	struct hc_sock *s;
	struct sockaddr_in in = dest4();
	Homa__Client__ClientMsg *m;
	static uint8_t buf[40000];
	struct hc_txbuf zb;
	uint64_t id1, id2;

	/* 64 KiB tx area: one 40000-byte message at a time. */
	ck_assert_int_eq(peer_open(&p, &s, AF_INET, 100, 65536, 1 << 20), 0);
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 buf, sizeof(buf), 1, 0, &id1),
			 0);
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 buf, sizeof(buf), 2, HC_NONBLOCK,
					 &id2),
			 -EAGAIN);
	ck_assert_int_eq(hc_tx_reserve(s, 40000, HC_NONBLOCK, &zb), -EAGAIN);
	ck_assert_int_eq(hc_ready(s) & HC_READY_RECV, 0);
	{
		static uint8_t huge[70000];

		ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in,
						 sizeof(in), huge, sizeof(huge),
						 0, 0, NULL),
				 -EMSGSIZE);
	}
	/* homad releases it: the next send goes (it reads the release). */
	peer_released(&p, id1);
	ck_assert_int_eq(hc_tx_reserve(s, 40000, HC_NONBLOCK, &zb), 0);
	memset(zb.data, 0x5a, 40000);
	ck_assert_int_eq(hc_send_request_buf(s, (struct sockaddr *)&in,
					     sizeof(in), &zb, 40001, 3, 0,
					     &id2),
			 -EINVAL); /* longer than reserved */
	ck_assert_int_eq(hc_send_request_buf(s, (struct sockaddr *)&in,
					     sizeof(in), &zb, 30000, 3, 0,
					     &id2),
			 0);
	ck_assert_ptr_null(zb.data);
	ck_assert_int_eq(hc_tx_cancel(s, &zb), -EINVAL); /* not reserved */
	homa__client__client_msg__free_unpacked(peer_next(&p, true), NULL);
	m = peer_next(&p, true);
	ck_assert_uint_eq(m->send_request->id, id2);
	ck_assert_uint_eq(m->send_request->length, 30000);
	ck_assert_uint_eq(p.tx[m->send_request->tx_offset + 29999], 0x5a);
	homa__client__client_msg__free_unpacked(m, NULL);
	peer_close(&p, s);
}
END_TEST

START_TEST(proto_send__wmem_max)
{
	struct peer p;
	struct hc_sock *s;
	struct sockaddr_in in = dest4();
	static const char msg[64] = "0123456789";
	uint64_t id1, id2;

	ck_assert_int_eq(peer_open(&p, &s, AF_INET, 100, 1 << 20, 50), 0);
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 msg, 40, 1, 0, &id1),
			 0);
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 msg, 11, 1, HC_NONBLOCK, &id2),
			 -EAGAIN);
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 msg, 10, 1, HC_NONBLOCK, &id2),
			 0);
	peer_close(&p, s);
}
END_TEST

START_TEST(proto_ids__more_ids_before_the_block_ends)
{
	struct peer p;
	struct hc_sock *s;
	struct sockaddr_in in = dest4();
	Homa__Client__DaemonMsg d = HOMA__CLIENT__DAEMON_MSG__INIT;
	Homa__Client__Reply r = HOMA__CLIENT__REPLY__INIT;
	Homa__Client__IdBlock ids = HOMA__CLIENT__ID_BLOCK__INIT;
	Homa__Client__ClientMsg *m;
	uint64_t id, seq = 0;
	int sends = 0;

	ck_assert_int_eq(peer_open(&p, &s, AF_INET, 4, 1 << 20, 1 << 20), 0);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in,
						 sizeof(in), "a", 1, 0, 0, &id),
				 0);
		ck_assert_uint_eq(id, 1000 + 2 * i);
	}
	/* Somewhere among the sends: one MoreIds, with a seq. */
	while (sends < 4 || seq == 0) {
		m = peer_next(&p, true);
		if (m->cmd_case == HOMA__CLIENT__CLIENT_MSG__CMD_MORE_IDS) {
			ck_assert_uint_eq(seq, 0);
			ck_assert_uint_ne(m->seq, 0);
			seq = m->seq;
		} else {
			ck_assert_int_eq(
				m->cmd_case,
				HOMA__CLIENT__CLIENT_MSG__CMD_SEND_REQUEST);
			sends++;
		}
		homa__client__client_msg__free_unpacked(m, NULL);
	}
	/* The block is used up: the next send waits for the Reply. */
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 "a", 1, 0, HC_NONBLOCK, &id),
			 -EAGAIN);
	ids.first = 5000;
	ids.count = 4;
	r.seq = seq;
	r.ids = &ids;
	r.error_text = "";
	d.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_REPLY;
	d.reply = &r;
	peer_send(p.fd, &d);
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 "a", 1, 0, 0, &id),
			 0);
	ck_assert_uint_eq(id, 5000);
	peer_close(&p, s);
}
END_TEST

/* A thread waiting in hc_recv; its result. */
struct waiter {
	struct hc_sock *s;
	uint64_t id;
	int rc;
	struct hc_msg msg;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	w->rc = hc_recv(w->s, w->id, -1, &w->msg);
	return NULL;
}

/* A thread doing a synchronous command. */
static void *bind_thread(void *arg)
{
	struct waiter *w = arg;

	w->rc = hc_bind(w->s, (unsigned)w->id);
	return NULL;
}

static void *shutdown_thread(void *arg)
{
	struct waiter *w = arg;

	w->rc = hc_shutdown(w->s);
	return NULL;
}

START_TEST(proto_threads__events_handed_to_their_waiters)
{
	struct peer p;
	struct hc_sock *s;
	struct sockaddr_in in = dest4();
	struct waiter any = {0}, pw = {0}, bw = {0};
	pthread_t t1, t2, t3;
	Homa__Client__ClientMsg *m;
	uint64_t pid;
	char buf[256];

	ck_assert_int_eq(peer_open(&p, &s, AF_INET, 100, 1 << 20, 1 << 20), 0);
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 "p", 1, 0, HC_PRIVATE, &pid),
			 0);
	homa__client__client_msg__free_unpacked(peer_next(&p, true), NULL);
	any.s = pw.s = bw.s = s;
	pw.id = pid;
	bw.id = 100;
	pthread_create(&t1, NULL, wait_thread, &any);
	pthread_create(&t2, NULL, wait_thread, &pw);
	pthread_create(&t3, NULL, bind_thread, &bw);
	m = peer_next(&p, true);
	ck_assert_int_eq(m->cmd_case, HOMA__CLIENT__CLIENT_MSG__CMD_BIND);
	ck_assert_uint_eq(m->bind->port, 100);
	usleep(20000); /* all three are waiting now */
	/* Whoever reads, each gets its own. */
	peer_reply(&p, m->seq, EADDRINUSE, "port 100 is in use");
	homa__client__client_msg__free_unpacked(m, NULL);
	peer_deliver(&p, pid, 0, true, 0, 3);
	peer_deliver(&p, 777, 0, false, 64, 3);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	pthread_join(t3, NULL);
	ck_assert_int_eq(bw.rc, -EADDRINUSE);
	ck_assert_str_eq(hc_last_error(s, buf, sizeof(buf)),
			 "port 100 is in use");
	ck_assert_int_eq(any.rc, 0);
	ck_assert_uint_eq(any.msg.id, 777);
	ck_assert_int_eq(pw.rc, 0);
	ck_assert_uint_eq(pw.msg.id, pid);
	ck_assert_uint_eq(hc_port(s), 0x8001);
	ck_assert_int_eq(hc_bind(s, 0x8000), -EINVAL);
	peer_close(&p, s);
}
END_TEST

START_TEST(proto_shutdown__wakes_waiters)
{
	struct peer p;
	struct hc_sock *s;
	struct sockaddr_in in = dest4();
	struct waiter any = {0}, pw = {0}, sw = {0};
	pthread_t t1, t2, t3;
	Homa__Client__ClientMsg *m;
	uint64_t pid;

	ck_assert_int_eq(peer_open(&p, &s, AF_INET, 100, 1 << 20, 1 << 20), 0);
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 "p", 1, 0, HC_PRIVATE, &pid),
			 0);
	homa__client__client_msg__free_unpacked(peer_next(&p, true), NULL);
	any.s = pw.s = sw.s = s;
	pw.id = pid;
	pthread_create(&t1, NULL, wait_thread, &any);
	pthread_create(&t2, NULL, wait_thread, &pw);
	usleep(20000);
	pthread_create(&t3, NULL, shutdown_thread, &sw);
	m = peer_next(&p, true);
	ck_assert_int_eq(m->cmd_case, HOMA__CLIENT__CLIENT_MSG__CMD_SHUTDOWN);
	ck_assert_uint_ne(m->seq, 0);
	peer_reply(&p, m->seq, 0, NULL);
	homa__client__client_msg__free_unpacked(m, NULL);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	pthread_join(t3, NULL);
	ck_assert_int_eq(sw.rc, 0);
	ck_assert_int_eq(any.rc, -ESHUTDOWN);
	ck_assert_int_eq(pw.rc, -EINVAL);
	ck_assert_uint_eq(hc_port(s), 0);
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 "p", 1, 0, 0, NULL),
			 -ESHUTDOWN);
	/* A response after shutdown is discarded, as the kernel does. */
	ck_assert_int_eq(hc_send_response(s, 3, (struct sockaddr *)&in,
					  sizeof(in), "r", 1, 0),
			 0);
	ck_assert_int_ne(hc_ready(s) & HC_READY_RECV, 0);
	peer_close(&p, s);
}
END_TEST

START_TEST(proto_conn__lost_wakes_everyone)
{
	struct peer p;
	struct hc_sock *s;
	struct sockaddr_in in = dest4();
	struct waiter any = {0}, bw = {0};
	pthread_t t1, t2;
	Homa__Client__ClientMsg *m;
	struct hc_msg msg;

	ck_assert_int_eq(peer_open(&p, &s, AF_INET, 100, 1 << 20, 1 << 20), 0);
	peer_deliver(&p, 901, 0, false, 0, 1);
	any.s = bw.s = s;
	bw.id = 7;
	pthread_create(&t2, NULL, bind_thread, &bw);
	m = peer_next(&p, true);
	homa__client__client_msg__free_unpacked(m, NULL);
	/* "homad" dies with a message not yet read by the client. */
	close(p.fd);
	p.fd = -1;
	pthread_join(t2, NULL);
	ck_assert_int_eq(bw.rc, -ECONNRESET);
	/* What arrived before is still handed out, then the error. */
	ck_assert_int_eq(hc_recv(s, 0, 0, &msg), 0);
	ck_assert_uint_eq(msg.id, 901);
	pthread_create(&t1, NULL, wait_thread, &any);
	pthread_join(t1, NULL);
	ck_assert_int_eq(any.rc, -ECONNRESET);
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 "p", 1, 0, 0, NULL),
			 -ECONNRESET);
	ck_assert_int_eq(hc_recycle(s, &msg), -ECONNRESET);
	ck_assert_int_ne(hc_ready(s) & HC_READY_RECV, 0);
	peer_close(&p, s);
}
END_TEST

START_TEST(proto_events__queue_limit_stops_reading)
{
	struct peer p;
	struct hc_sock *s;
	struct hc_msg msg;
	int n = 0;

	/* max_events 8 (peer_open): the 9th stays in the socket. */
	ck_assert_int_eq(peer_open(&p, &s, AF_INET, 100, 1 << 20, 1 << 20), 0);
	for (int i = 0; i < 12; i++)
		peer_deliver(&p, 301 + 2 * i, 0, false, 64 * i, 1);
	usleep(10000);
	ck_assert_int_ne(hc_ready(s) & HC_READY_RECV, 0);
	ck_assert_uint_eq(s->q.count, 8);
	while (hc_recv(s, 0, 100, &msg) == 0) {
		ck_assert_uint_eq(msg.id, 301 + 2 * (uint64_t)n);
		n++;
	}
	ck_assert_int_eq(n, 12);
	peer_close(&p, s);
}
END_TEST

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

START_TEST(proto_recv__timed_wait_blocks_in_the_read)
{
	struct peer p;
	struct hc_sock *s;
	struct hc_msg msg;
	double t0;

	ck_assert_int_eq(peer_open(&p, &s, AF_INET, 100, 1 << 20, 1 << 20), 0);
	/* Nothing read yet: nothing queued (hc_queued reads nothing). */
	for (int i = 0; i < 3; i++)
		peer_deliver(&p, 301 + 2 * i, 0, false, 64 * i, 1);
	usleep(10000);
	ck_assert_uint_eq(hc_queued(s), 0);
	/*
	 * A timed wait blocks in the read (SO_RCVTIMEO), which takes all
	 * three datagrams: two stay queued.
	 */
	ck_assert_int_eq(hc_recv(s, 0, 1000, &msg), 0);
	ck_assert_uint_eq(msg.id, 301);
	ck_assert_int_eq(s->rcvtimeo_ms, 512);
	ck_assert_uint_eq(hc_queued(s), 2);
	ck_assert_int_ne(hc_ready(s) & HC_READY_RECV, 0);
	ck_assert_uint_eq(hc_queued(s), 2);
	ck_assert_int_eq(hc_recv(s, 0, 0, &msg), 0);
	ck_assert_uint_eq(msg.id, 303);
	ck_assert_uint_eq(hc_queued(s), 1);
	ck_assert_int_eq(hc_recv(s, 0, 0, &msg), 0);
	ck_assert_uint_eq(msg.id, 305);
	ck_assert_uint_eq(hc_queued(s), 0);
	/*
	 * Nothing comes: the read's timeouts (32 ms, 16 ms, then a poll for
	 * the rest) end the wait after its 60 ms, never before.
	 */
	t0 = mono_ms();
	ck_assert_int_eq(hc_recv(s, 0, 60, &msg), -EAGAIN);
	ck_assert_double_ge(mono_ms() - t0, 60);
	ck_assert_int_eq(hc_recv(s, 0, 0, &msg), -EAGAIN);
	/* A wait forever sets the timeout back to none. */
	peer_deliver(&p, 307, 0, false, 0, 1);
	ck_assert_int_eq(hc_recv(s, 0, -1, &msg), 0);
	ck_assert_uint_eq(msg.id, 307);
	ck_assert_int_eq(s->rcvtimeo_ms, 0);
	peer_close(&p, s);
}
END_TEST

START_TEST(proto_recycle__piggybacked_unless_the_pool_is_tight)
{
	struct peer p;
	struct hc_sock *s;
	struct sockaddr_in in = dest4();
	Homa__Client__ClientMsg *m;
	struct hc_msg msg;

	/* 64 bpages: one pinned leaves plenty; the recycle waits. */
	peer_rx_bytes = 64 * HOMA_SHM_BPAGE_SIZE;
	ck_assert_int_eq(peer_open(&p, &s, AF_INET, 100, 1 << 20, 1 << 20), 0);
	peer_rx_bytes = 4 * HOMA_SHM_BPAGE_SIZE;
	peer_deliver(&p, 701, 0, false, 0, 100);
	ck_assert_int_eq(hc_recv(s, 0, 1000, &msg), 0);
	ck_assert_int_eq(hc_recycle(s, &msg), 0);
	ck_assert_int_eq(hc_recv(s, 0, 0, &msg), -EAGAIN);
	ck_assert_int_eq(hc_recv(s, 0, 20, &msg), -EAGAIN);
	ck_assert_uint_eq(s->nrecycle, 1);
	/* The next send carries it: the command, then the Recycle. */
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 "q", 1, 0, 0, NULL),
			 0);
	m = peer_next(&p, false);
	ck_assert_int_eq(m->cmd_case,
			 HOMA__CLIENT__CLIENT_MSG__CMD_SEND_REQUEST);
	homa__client__client_msg__free_unpacked(m, NULL);
	m = peer_next(&p, false);
	ck_assert_int_eq(m->cmd_case, HOMA__CLIENT__CLIENT_MSG__CMD_RECYCLE);
	ck_assert_uint_eq(m->recycle->n_bpage_offsets, 1);
	homa__client__client_msg__free_unpacked(m, NULL);
	ck_assert_uint_eq(s->pins, 0);
	peer_close(&p, s);

	/* A homad that takes_recycle: one datagram, the command with the
	 * recycle appended. */
	peer_takes_recycle = true;
	ck_assert_int_eq(peer_open(&p, &s, AF_INET, 100, 1 << 20, 1 << 20), 0);
	peer_deliver(&p, 705, 0, false, 0, 100);
	ck_assert_int_eq(hc_recv(s, 0, 1000, &msg), 0);
	ck_assert_int_eq(hc_recycle(s, &msg), 0);
	ck_assert_uint_eq(s->nrecycle, 1);
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 "q", 1, 0, 0, NULL),
			 0);
	m = peer_next(&p, false);
	ck_assert_int_eq(m->cmd_case,
			 HOMA__CLIENT__CLIENT_MSG__CMD_SEND_REQUEST);
	ck_assert_uint_eq(m->n_recycle_offsets, 1);
	homa__client__client_msg__free_unpacked(m, NULL);
	{
		uint8_t b[64];

		ck_assert_int_lt(recv(p.fd, b, sizeof(b), MSG_DONTWAIT), 0);
		ck_assert_int_eq(errno, EAGAIN);
	}
	ck_assert_uint_eq(s->pins, 0);
	peer_close(&p, s);
	peer_takes_recycle = false;

	/* 4 bpages: tight, so a recycle goes before the library waits. */
	ck_assert_int_eq(peer_open(&p, &s, AF_INET, 100, 1 << 20, 1 << 20), 0);
	peer_deliver(&p, 703, 0, false, 0, 100);
	ck_assert_int_eq(hc_recv(s, 0, 1000, &msg), 0);
	ck_assert_int_eq(hc_recycle(s, &msg), 0);
	ck_assert_int_eq(hc_recv(s, 0, 0, &msg), -EAGAIN);
	m = peer_next(&p, false);
	ck_assert_int_eq(m->cmd_case, HOMA__CLIENT__CLIENT_MSG__CMD_RECYCLE);
	homa__client__client_msg__free_unpacked(m, NULL);
	peer_close(&p, s);
}
END_TEST

/*
 * homad stops reading a client while its events wait: a single-threaded
 * server recycling every request it reads must not wait for room then (it
 * is the thread that would take the events).  The batch grows instead and
 * every offset reaches homad once it reads again.
 */
START_TEST(proto_recycle__never_waits_for_a_full_socket)
{
	enum { N = 1000 };
	static bool got[N];
	uint8_t buf[HOMA_CLIENT_MAX_DATAGRAM];
	struct peer p;
	struct hc_sock *s;
	struct hc_msg msg;
	int filler = 0, n = 0;
	ssize_t r;

	peer_rx_bytes = 4 * HOMA_SHM_BPAGE_SIZE;
	ck_assert_int_eq(peer_open(&p, &s, AF_INET, 100, 1 << 20, 1 << 20), 0);
	/* Fill the connection: homad (the peer) does not read it. */
	memset(buf, 0, sizeof(buf));
	while (send(s->fd, buf, 1024, MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		filler++;
	ck_assert_int_eq(errno, EAGAIN);
	for (int i = 0; i < N; i++) {
		peer_deliver(&p, 1001 + 2 * (uint64_t)i, 0, false,
			     (uint32_t)i * 128, 100);
		ck_assert_int_eq(hc_recv(s, 0, 1000, &msg), 0);
		ck_assert_uint_eq(msg.bpage_offsets[0], (uint32_t)i * 128);
		ck_assert_int_eq(hc_recycle(s, &msg), 0);
	}
	ck_assert_uint_eq(s->nrecycle, N);
	/* homad reads again: the fillers, then every offset once. */
	for (int i = 0; i < filler; i++)
		ck_assert_int_eq(recv(p.fd, buf, sizeof(buf), 0), 1024);
	ck_assert_int_eq(hc_flush(s), 0);
	while ((r = recv(p.fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		Homa__Client__ClientMsg *m =
			homa__client__client_msg__unpack(NULL, (size_t)r, buf);

		ck_assert_ptr_nonnull(m);
		ck_assert_int_eq(m->cmd_case,
				 HOMA__CLIENT__CLIENT_MSG__CMD_RECYCLE);
		for (size_t k = 0; k < m->recycle->n_bpage_offsets; k++) {
			uint32_t off = m->recycle->bpage_offsets[k];

			ck_assert_uint_eq(off % 128, 0);
			ck_assert_uint_lt(off / 128, N);
			ck_assert(!got[off / 128]);
			got[off / 128] = true;
			n++;
		}
		homa__client__client_msg__free_unpacked(m, NULL);
	}
	ck_assert_int_eq(n, N);
	ck_assert_uint_eq(s->nrecycle, 0);
	ck_assert_uint_eq(s->pins, 0);
	peer_close(&p, s);
}
END_TEST

/* ---- a peer that, like homad, stops reading a client behind on events */

/* Events the stubborn peer holds back while the client does not read. */
#define STUBBORN_PAUSE 2

struct stubborn {
	struct peer *p;
	int requests; /* SendRequests to read before it ends */
	uint64_t *pending;
	int npending; /* Failed events (by id) not sent yet */
	int got;
};

/* A Failed event for id, unless the client's socket is full: -EAGAIN. */
static int stubborn_fail(int fd, uint64_t id)
{
	Homa__Client__DaemonMsg d = HOMA__CLIENT__DAEMON_MSG__INIT;
	Homa__Client__Failed f = HOMA__CLIENT__FAILED__INIT;
	uint8_t buf[256];
	size_t n;

	f.id = id;
	f.cookie = id;
	f.error = ETIMEDOUT;
	d.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_FAILED;
	d.failed = &f;
	n = homa__client__daemon_msg__pack(&d, buf);
	if (send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)n)
		return 0;
	ck_assert_int_eq(errno, EAGAIN);
	return -EAGAIN;
}

/*
 * homad's rule: push events while the client's socket takes them; read
 * its commands only while fewer than STUBBORN_PAUSE events wait.  Each
 * SendRequest is answered with a Failed event.
 */
static void *stubborn_thread(void *arg)
{
	struct stubborn *st = arg;
	uint8_t buf[HOMA_CLIENT_MAX_DATAGRAM];

	while (st->got < st->requests || st->npending > 0) {
		struct pollfd pfd = {.fd = st->p->fd};
		Homa__Client__ClientMsg *m;
		ssize_t n;

		while (st->npending > 0 &&
		       stubborn_fail(st->p->fd, st->pending[0]) == 0)
			memmove(st->pending, st->pending + 1,
				--st->npending * sizeof(uint64_t));
		if (st->got == st->requests && st->npending == 0)
			break;
		if (st->npending > 0)
			pfd.events |= POLLOUT;
		if (st->npending < STUBBORN_PAUSE)
			pfd.events |= POLLIN;
		/* Nothing in 5 s: the client is stuck. */
		ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
		if (!(pfd.revents & POLLIN) || st->npending >= STUBBORN_PAUSE)
			continue;
		n = recv(st->p->fd, buf, sizeof(buf), 0);
		ck_assert_int_gt(n, 0);
		m = homa__client__client_msg__unpack(NULL, (size_t)n, buf);
		ck_assert_ptr_nonnull(m);
		if (m->cmd_case == HOMA__CLIENT__CLIENT_MSG__CMD_SEND_REQUEST) {
			st->pending[st->npending++] = m->send_request->id;
			st->got++;
		}
		homa__client__client_msg__free_unpacked(m, NULL);
	}
	return NULL;
}

START_TEST(proto_send__blocking_send_reads_events_meanwhile)
{
	/*
	 * More than the client's socket holds, both ways, and more than the
	 * library reads between sends (SEND_DRAIN_EVERY).
	 */
	enum { BACKLOG = 3000, REQUESTS = 1000 };
	static uint64_t pending[BACKLOG + REQUESTS];
	struct stubborn st = {.requests = REQUESTS, .pending = pending};
	struct peer p;
	struct hc_sock *s;
	struct sockaddr_in in = dest4();
	struct hc_msg msg;
	pthread_t t;
	int nfailed = 0;

	peer_max_events = 4096;
	peer_max_outstanding = 4096;
	ck_assert_int_eq(peer_open(&p, &s, AF_INET, 4000, 1 << 20, 1 << 20), 0);
	peer_max_events = 8;
	peer_max_outstanding = 64;
	/*
	 * The peer has more events than the client's socket holds, so it
	 * reads none of the client's commands until the client reads: a
	 * sender that only waits for socket space would wait forever.
	 */
	st.p = &p;
	for (int i = 0; i < BACKLOG; i++)
		pending[st.npending++] = 3001 + 2 * i;
	pthread_create(&t, NULL, stubborn_thread, &st);
	for (int i = 0; i < REQUESTS; i++)
		ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in,
						 sizeof(in), "r", 1, 7, 0,
						 NULL),
				 0);
	/* The peer may still hold events: read them as it ends. */
	while (nfailed < BACKLOG + REQUESTS && hc_recv(s, 0, 5000, &msg) == 0) {
		ck_assert_int_eq(msg.error, ETIMEDOUT);
		nfailed++;
	}
	pthread_join(t, NULL);
	ck_assert_int_eq(st.got, REQUESTS);
	ck_assert_int_eq(nfailed, BACKLOG + REQUESTS);
	ck_assert_int_eq(hc_recv(s, 0, 0, &msg), -EAGAIN);
	peer_close(&p, s);
}
END_TEST

/* Milliseconds since some fixed point. */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(proto_send__nonblock_never_blocks_on_a_full_socket)
{
	struct peer p;
	struct hc_sock *s;
	struct sockaddr_in in = dest4();
	Homa__Client__ClientMsg *m;
	uint64_t id, seq = 0, max_id = 0;
	int fit = 0, rc, requests = 0;
	int64_t t0;

	/* How many requests the socket holds while the peer does not read. */
	peer_max_outstanding = 4096;
	ck_assert_int_eq(peer_open(&p, &s, AF_INET, 1000, 1 << 20, 1 << 20), 0);
	while (hc_send_request(s, (struct sockaddr *)&in, sizeof(in), "n", 1, 0,
			       HC_NONBLOCK, NULL) == 0)
		fit++;
	ck_assert_int_gt(fit, 0);
	ck_assert_int_lt(fit, 4000); /* the socket's limit, not the library's */
	peer_close(&p, s);

	/*
	 * A block of 2 * (fit + 1) ids: the refill comes due on the first
	 * send that finds the socket full.  It must fail -EAGAIN, not wait
	 * (nor use up ids: they are given back).
	 */
	ck_assert_int_eq(peer_open(&p, &s, AF_INET, 2 * ((uint32_t)fit + 1),
				   1 << 20, 1 << 20),
			 0);
	peer_max_outstanding = 64;
	t0 = now_ms();
	for (int i = 0; i < 5 * fit; i++) {
		rc = hc_send_request(s, (struct sockaddr *)&in, sizeof(in), "n",
				     1, 0, HC_NONBLOCK, &id);
		ck_assert(rc == 0 || rc == -EAGAIN);
		if (rc == 0)
			requests++;
	}
	ck_assert_int_eq(requests, fit);
	ck_assert_int_lt(now_ms() - t0, 1000);
	ck_assert_uint_eq(s->id_left, (uint32_t)fit + 2);

	/* The peer reads: the sends go on, with a MoreIds ahead of need. */
	for (int i = 0; i < fit; i++) {
		m = peer_next(&p, true);
		ck_assert_int_eq(m->cmd_case,
				 HOMA__CLIENT__CLIENT_MSG__CMD_SEND_REQUEST);
		homa__client__client_msg__free_unpacked(m, NULL);
	}
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 "n", 1, 0, HC_NONBLOCK, &id),
			 0);
	while (seq == 0 || max_id == 0) {
		m = peer_next(&p, true);
		if (m->cmd_case == HOMA__CLIENT__CLIENT_MSG__CMD_MORE_IDS)
			seq = m->seq;
		else if (m->cmd_case ==
			 HOMA__CLIENT__CLIENT_MSG__CMD_SEND_REQUEST)
			max_id = m->send_request->id;
		homa__client__client_msg__free_unpacked(m, NULL);
	}
	ck_assert_uint_eq(max_id, 1000 + 2 * (uint64_t)fit);
	{
		Homa__Client__DaemonMsg d = HOMA__CLIENT__DAEMON_MSG__INIT;
		Homa__Client__Reply r = HOMA__CLIENT__REPLY__INIT;
		Homa__Client__IdBlock ids = HOMA__CLIENT__ID_BLOCK__INIT;

		ids.first = 90000;
		ids.count = 8;
		r.seq = seq;
		r.ids = &ids;
		r.error_text = "";
		d.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_REPLY;
		d.reply = &r;
		peer_send(p.fd, &d);
	}
	/* The rest of the first block, then the new one. */
	for (int i = 0; i < fit + 1; i++) {
		ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in,
						 sizeof(in), "n", 1, 0, 0, &id),
				 0);
		homa__client__client_msg__free_unpacked(peer_next(&p, true),
							NULL);
	}
	ck_assert_uint_eq(id, 1000 + 2 * (2 * (uint64_t)fit + 1));
	ck_assert_int_eq(hc_send_request(s, (struct sockaddr *)&in, sizeof(in),
					 "n", 1, 0, 0, &id),
			 0);
	ck_assert_uint_eq(id, 90000);
	peer_close(&p, s);
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc;

	tc = tcase_create("zmem");
	tcase_add_test(tc, tables__backed_only_where_used);
	tcase_add_test(tc, tables__freed_entries_first_then_fresh);
	suite_add_tcase(s, tc);

	tc = tcase_create("txarea");
	tcase_add_test(tc, txarea_alloc__first_fit_and_coalesce);
	tcase_add_test(tc, txarea_alloc__full_and_too_big);
	tcase_add_test(tc, txarea_free__many_extents_fit);
	tcase_add_test(tc, txarea_take__exact_extents);
	suite_add_tcase(s, tc);

	tc = tcase_create("txtrack");
	tcase_add_test(tc, txtrack_release__by_id);
	tcase_add_test(tc, txtrack_release__shared_id_frees_when_all_released);
	tcase_add_test(tc, txtrack_reserve__limits_and_generations);
	tcase_add_test(tc, txtrack_wmem_ok__homads_rule);
	suite_add_tcase(s, tc);

	tc = tcase_create("evq");
	tcase_add_test(tc, evq_push__fifo_grows_to_limit);
	tcase_add_test(tc, evq_priv__matching);
	tcase_add_test(tc, evq_priv_forget__only_waiting_slots);
	suite_add_tcase(s, tc);

	tc = tcase_create("addr");
	tcase_add_test(tc, addr_from_sockaddr__families);
	tcase_add_test(tc, addr_to_sockaddr__mapping);
	suite_add_tcase(s, tc);

	tc = tcase_create("drxtrack");
	tcase_add_test(tc, drxtrack_init__cap_zero);
	tcase_add_test(tc, drxtrack__add_find_del);
	tcase_add_test(tc, drxtrack_add__bad_ids_and_duplicates);
	tcase_add_test(tc, drxtrack_add__full_table_and_del_all);
	tcase_add_test(tc, drxtrack__random_against_a_model);
	suite_add_tcase(s, tc);

	tc = tcase_create("drxslots");
	tcase_add_test(tc, drxslots_init__limits_and_rounding);
	tcase_add_test(tc, drxslots_offset__within_64k_pages);
	tcase_add_test(tc, drxslots_alloc__all_then_enospc_and_reuse);
	tcase_add_test(tc, drxslots_free__refuses_what_is_no_taken_slot);
	suite_add_tcase(s, tc);

	tc = tcase_create("drx_parse");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, drx_parse__single_packet_response);
	tcase_add_test(tc, drx_parse__single_packet_request);
	tcase_add_test(tc, srxseen__remembers_the_last_cap);
	tcase_add_test(tc, drx_parse__bytes_past_the_ip_length_ignored);
	tcase_add_test(tc, drx_parse__refuses_the_ip_header);
	tcase_add_test(tc,
		       drx_parse__refuses_what_is_no_single_packet_response);
	tcase_add_test(tc, drx_parse__random_bytes);
	suite_add_tcase(s, tc);

	tc = tcase_create("api");
	tcase_add_test(tc, hc_open__bad_arguments);
	suite_add_tcase(s, tc);

	tc = tcase_create("proto");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, proto_open__handshake_and_refusal);
	tcase_add_test(tc, proto_send_request__inline_and_tx_area);
	tcase_add_test(tc, proto_recv__any_private_and_bytes);
	tcase_add_test(tc, proto_failed__returned_with_errno_and_cookie);
	tcase_add_test(tc, proto_send__waits_for_space_and_nonblock);
	tcase_add_test(tc, proto_send__wmem_max);
	tcase_add_test(tc, proto_ids__more_ids_before_the_block_ends);
	tcase_add_test(tc, proto_threads__events_handed_to_their_waiters);
	tcase_add_test(tc, proto_shutdown__wakes_waiters);
	tcase_add_test(tc, proto_conn__lost_wakes_everyone);
	tcase_add_test(tc, proto_events__queue_limit_stops_reading);
	tcase_add_test(tc, proto_recv__timed_wait_blocks_in_the_read);
	tcase_add_test(tc, proto_recycle__piggybacked_unless_the_pool_is_tight);
	tcase_add_test(tc, proto_recycle__never_waits_for_a_full_socket);
	tcase_add_test(tc, proto_send__blocking_send_reads_events_meanwhile);
	tcase_add_test(tc, proto_send__nonblock_never_blocks_on_a_full_socket);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(client_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
