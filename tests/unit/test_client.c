/*
 * test_client.c - libhomaclient's internals (libclient/), no homad needed:
 * the tx area allocator (txarea.c), outgoing-message tracking
 * (txtrack.c), the event queue and private-response slots (evq.c),
 * address conversion (addr.c), argument validation of the API, and the
 * library's side of the client protocol (conn.c, send.c, recv.c,
 * client.c) against a peer played by the test itself on a unix socket:
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
