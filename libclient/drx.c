/*
 * drx.c - direct receive (proto/homa_shm.h): the single-packet responses
 * to this socket's client RPCs that homad's receive socket lets through,
 * read, checked and delivered by the library itself, homad told with a
 * ring record.
 *
 * The pure parts (the table of RPCs a response may answer, the slots of
 * the library's own receive area, the packet check) are unit-tested
 * without homad; the rest runs under the socket's lock, but for the read
 * itself (the reader role of conn.c).
 *
 * Where a message goes: the area mapped right after the receive pool
 * (offsets from rx_size on), the library's alone.  hc_msg_read and
 * hc_msg_iov read it as they read the pool; hc_recycle frees its slot
 * here instead of sending the offset to homad.  When no slot is free, the
 * ring is full, or the message is larger than a slot, the packet goes to
 * homad in a DirectPacket command and comes back as an ordinary Delivered
 * event.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_int.h"
#include "homa_shm.h"
#include "wire.h"

/* ---- the RPC table --------------------------------------------------- */

#define DRXT_NONE UINT32_MAX
/* Most entries (the bucket count stays a 32-bit power of two). */
#define DRXT_MAX (1u << 30)

static uint32_t drxtrack_hash(const struct drxtrack *t, uint64_t id)
{
	return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 32) &
	       (t->nbucket - 1);
}

int drxtrack_init(struct drxtrack *t, uint32_t cap)
{
	memset(t, 0, sizeof(*t));
	if (cap == 0 || cap > DRXT_MAX)
		return -EINVAL;
	t->nbucket = 1;
	while (t->nbucket < cap)
		t->nbucket <<= 1;
	t->cap = cap;
	t->e = zmem_alloc(cap, sizeof(*t->e));
	t->bucket = malloc(t->nbucket * sizeof(*t->bucket));
	if (t->e == NULL || t->bucket == NULL) {
		drxtrack_destroy(t);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < t->nbucket; i++)
		t->bucket[i] = DRXT_NONE;
	/* Entries are taken from fresh on first use (zmem.c). */
	t->free_head = DRXT_NONE;
	t->fresh = 0;
	return 0;
}

void drxtrack_destroy(struct drxtrack *t)
{
	zmem_free(t->e, t->cap, sizeof(*t->e));
	free(t->bucket);
	memset(t, 0, sizeof(*t));
}

int drxtrack_add(struct drxtrack *t, uint64_t id, uint64_t cookie,
		 const uint8_t addr[16], uint16_t port, bool priv)
{
	uint32_t h, i;

	if (id == 0 || (id & 1) != 0 || t->cap == 0)
		return -EINVAL;
	if (drxtrack_find(t, id) != NULL)
		return -EEXIST;
	if (t->free_head != DRXT_NONE) {
		i = t->free_head;
		t->free_head = t->e[i].next;
	} else if (t->fresh < t->cap) {
		i = t->fresh++;
	} else {
		return -ENOBUFS;
	}
	h = drxtrack_hash(t, id);
	t->e[i].id = id;
	t->e[i].cookie = cookie;
	memcpy(t->e[i].addr, addr, 16);
	t->e[i].port = port;
	t->e[i].priv = priv;
	t->e[i].next = t->bucket[h];
	t->bucket[h] = i;
	t->n++;
	return 0;
}

const struct drxt_e *drxtrack_find(const struct drxtrack *t, uint64_t id)
{
	if (t->cap == 0 || id == 0)
		return NULL;
	for (uint32_t i = t->bucket[drxtrack_hash(t, id)]; i != DRXT_NONE;
	     i = t->e[i].next)
		if (t->e[i].id == id)
			return &t->e[i];
	return NULL;
}

/* Unlink entry i of bucket h (prev: the entry before it, or NONE). */
static void drxtrack_unlink(struct drxtrack *t, uint32_t h, uint32_t prev,
			    uint32_t i)
{
	if (prev == DRXT_NONE)
		t->bucket[h] = t->e[i].next;
	else
		t->e[prev].next = t->e[i].next;
	t->e[i].id = 0;
	t->e[i].next = t->free_head;
	t->free_head = i;
	t->n--;
}

bool drxtrack_del(struct drxtrack *t, uint64_t id)
{
	bool any = false;

	if (t->cap == 0)
		return false;
	for (uint32_t h = id ? drxtrack_hash(t, id) : 0; h < t->nbucket; h++) {
		uint32_t prev = DRXT_NONE, i = t->bucket[h];

		while (i != DRXT_NONE) {
			uint32_t next = t->e[i].next;

			if (id == 0 || t->e[i].id == id) {
				drxtrack_unlink(t, h, prev, i);
				any = true;
				if (id != 0)
					return true;
			} else {
				prev = i;
			}
			i = next;
		}
		if (id != 0)
			break;
	}
	return any;
}

/* ---- the slots --------------------------------------------------------- */

int drxslots_init(struct drxslots *sl, uint32_t size, uint32_t n)
{
	memset(sl, 0, sizeof(*sl));
	size = (size + 63u) & ~63u;
	if (size == 0 || size > HC_BPAGE_SIZE || n == 0 || n > DRX_SLOTS_MAX)
		return -EINVAL;
	sl->size = size;
	sl->per_page = HC_BPAGE_SIZE / size;
	sl->n = n;
	return 0;
}

uint64_t drxslots_bytes(const struct drxslots *sl)
{
	uint32_t pages = (sl->n + sl->per_page - 1) / sl->per_page;

	return (uint64_t)pages * HC_BPAGE_SIZE;
}

uint64_t drxslots_offset(const struct drxslots *sl, uint32_t i)
{
	return (uint64_t)(i / sl->per_page) * HC_BPAGE_SIZE +
	       (uint64_t)(i % sl->per_page) * sl->size;
}

int drxslots_alloc(struct drxslots *sl)
{
	for (uint32_t w = 0; w * 64 < sl->n; w++) {
		uint64_t free_bits = ~sl->bits[w];
		uint32_t i;

		if (free_bits == 0)
			continue;
		i = w * 64 + (uint32_t)__builtin_ctzll(free_bits);
		if (i >= sl->n)
			return -ENOSPC;
		sl->bits[w] |= 1ull << (i % 64);
		sl->used++;
		return (int)i;
	}
	return -ENOSPC;
}

int drxslots_free(struct drxslots *sl, uint64_t off)
{
	uint64_t page = off / HC_BPAGE_SIZE, in = off % HC_BPAGE_SIZE;
	uint64_t i;

	if (sl->n == 0 || in % sl->size != 0 || in / sl->size >= sl->per_page)
		return -EINVAL;
	i = page * sl->per_page + in / sl->size;
	if (i >= sl->n || !(sl->bits[i / 64] & (1ull << (i % 64))))
		return -EINVAL;
	sl->bits[i / 64] &= ~(1ull << (i % 64));
	sl->used--;
	return 0;
}

/* ---- the requests taken lately ------------------------------------------ */

#define SRXS_NONE UINT32_MAX

int srxseen_init(struct srxseen *t, uint32_t cap)
{
	memset(t, 0, sizeof(*t));
	if (cap == 0 || cap > (1u << 24) || (cap & (cap - 1)) != 0)
		return -EINVAL;
	t->e = calloc(cap, sizeof(*t->e));
	t->bucket = malloc(2u * cap * sizeof(*t->bucket));
	if (t->e == NULL || t->bucket == NULL) {
		srxseen_destroy(t);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < 2u * cap; i++)
		t->bucket[i] = SRXS_NONE;
	t->cap = cap;
	return 0;
}

void srxseen_destroy(struct srxseen *t)
{
	free(t->e);
	free(t->bucket);
	memset(t, 0, sizeof(*t));
}

static uint32_t srxseen_hash(const struct srxseen *t, uint64_t id,
			     const uint8_t addr[16])
{
	uint64_t h = id;

	for (int i = 12; i < 16; i++)
		h = (h ^ addr[i]) * 0x100000001b3ull;
	return (uint32_t)((h * 0x9E3779B97F4A7C15ull) >> 32) &
	       (2u * t->cap - 1);
}

bool srxseen_has(const struct srxseen *t, uint64_t id, const uint8_t addr[16],
		 uint16_t port)
{
	if (t->cap == 0)
		return false;
	for (uint32_t i = t->bucket[srxseen_hash(t, id, addr)]; i != SRXS_NONE;
	     i = t->e[i].next)
		if (t->e[i].id == id && t->e[i].port == port &&
		    memcmp(t->e[i].addr, addr, 16) == 0)
			return true;
	return false;
}

void srxseen_add(struct srxseen *t, uint64_t id, const uint8_t addr[16],
		 uint16_t port)
{
	uint32_t h, i, *p;
	struct srxseen_e *e;

	if (t->cap == 0)
		return;
	h = srxseen_hash(t, id, addr);
	i = t->pos;
	t->pos = (i + 1) & (t->cap - 1);
	e = &t->e[i];
	if (t->n == t->cap) {
		/* Forget the oldest, which this entry holds. */
		for (p = &t->bucket[srxseen_hash(t, e->id, e->addr)]; *p != i;
		     p = &t->e[*p].next)
			;
		*p = e->next;
	} else {
		t->n++;
	}
	e->id = id;
	e->port = port;
	memcpy(e->addr, addr, 16);
	e->next = t->bucket[h];
	t->bucket[h] = i;
}

/* ---- the packet ---------------------------------------------------------- */

int drx_parse(const void *p, size_t len, struct drx_in *in)
{
	const uint8_t *b = p;
	struct homa_pkt pkt;
	size_t ihl, tot;

	if (len < 20 || (b[0] >> 4) != 4)
		return -EINVAL;
	ihl = (size_t)(b[0] & 0x0f) * 4;
	tot = (size_t)b[2] << 8 | b[3];
	if (ihl < 20 || tot < ihl || tot > len || b[9] != HOMA_IPPROTO)
		return -EINVAL;
	if (wire_decode(b + ihl, tot - ihl, &pkt) < 0 ||
	    pkt.type != HOMA_DATA || pkt.sender_id == 0 ||
	    pkt.u.data.offset != 0 || pkt.u.data.payload_len == 0 ||
	    pkt.u.data.message_length != pkt.u.data.payload_len)
		return -EINVAL;
	/* A response carries no ack; a request's names a client RPC. */
	if ((pkt.sender_id & 1) != 0 ? pkt.u.data.ack.client_id != 0
				     : (pkt.u.data.ack.client_id & 1) != 0)
		return -EINVAL;
	memset(in, 0, sizeof(*in));
	in->request = (pkt.sender_id & 1) == 0;
	if (in->request && pkt.u.data.ack.client_id != 0) {
		in->ack_id = pkt.u.data.ack.client_id;
		in->ack_port = pkt.u.data.ack.server_port;
	}
	in->src[10] = in->src[11] = 0xff;
	memcpy(in->src + 12, b + 12, 4);
	in->sport = pkt.sport;
	in->dport = pkt.dport;
	in->id = pkt.sender_id ^ 1;
	in->length = pkt.u.data.payload_len;
	in->cutoff_version = pkt.u.data.cutoff_version;
	memcpy(in->pad, pkt.u.data.pad, sizeof(in->pad));
	in->payload = pkt.u.data.payload;
	in->homa = b + ihl;
	in->homa_len = tot - ihl;
	return 0;
}

/* ---- the socket -------------------------------------------------------- */

/*
 * Reserve the pool's address range with room for the area after it: the
 * pool is then mapped over its start (MAP_FIXED), the area stays private
 * anonymous memory.  *at: the range (rx_size + drx_bytes), or NULL.
 */
void *drx_reserve(uint64_t rx_size, uint64_t *drx_bytes)
{
	struct drxslots sl;
	void *p;

	/* Sized for the largest slots (homad's table is not known yet). */
	if (drxslots_init(&sl, DRX_SLOT_MAX, DRX_SLOTS) < 0)
		return NULL;
	*drx_bytes = drxslots_bytes(&sl);
	if (rx_size + *drx_bytes > UINT32_MAX)
		return NULL; /* offsets are 32 bits */
	p = mmap(NULL, rx_size + *drx_bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/*
 * Parking.  The kernel hands a raw socket a clone of every IPv4 Homa
 * packet the host receives, and only then runs its filter: each receive
 * socket costs every packet a clone, a filter run and a free (measured
 * with 1 MB messages arriving at ~11 Gbit/s: 8 sockets took 15-25% of it,
 * 64 half).  While no RPC of the socket waits for a response, the
 * library binds its receive socket to a multicast address that no Homa
 * packet is sent to: the kernel then passes it over before the clone.
 * Bound back to its own address (homad's, or any) before the first
 * request of a busy spell leaves, so a response cannot come first.  bind() on
 * it needs no privilege and can only narrow what the locked filter passes.
 */
#define DRX_PARK_ADDR 0xe0000000u /* 224.0.0.0 */

static int drx_park(struct hc_sock *s, bool park)
{
	struct sockaddr_in a = {.sin_family = AF_INET};

	/* A request socket is read whenever the port is bound. */
	if (s->rfd < 0 || s->drx_parked == park || s->srx)
		return 0;
	a.sin_addr.s_addr = park ? htonl(DRX_PARK_ADDR) : s->drx_home;
	if (bind(s->rfd, (const struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;

		conn_log(s, HC_LOG_WARNING, "direct receive: %s: %s",
			 park ? "parking" : "unparking", strerror(e));
		return -e;
	}
	s->drx_parked = park;
	return 0;
}

void drx_idle(struct hc_sock *s)
{
	if (s->drx_rpcs.n == 0)
		(void)drx_park(s, true);
}

int drx_setup(struct hc_sock *s, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	uint32_t size = __atomic_load_n(&s->dtab->max_v4, __ATOMIC_RELAXED);
	struct sockaddr_in home;
	socklen_t hlen = sizeof(home);
	const char *drx;

	if (s->drx_bytes == 0 || s->dring == NULL)
		return -EINVAL;
	if (size < DRX_SLOT_MIN)
		size = DRX_SLOT_MIN;
	if (size > DRX_SLOT_MAX)
		size = DRX_SLOT_MAX;
	if (drxslots_init(&s->drx_slots, size, DRX_SLOTS) < 0 ||
	    drxslots_bytes(&s->drx_slots) > s->drx_bytes)
		return -EINVAL;
	s->drx_buf = malloc((size_t)DRX_BATCH * DRX_PKT_MAX);
	if (s->drx_buf == NULL)
		return -ENOMEM;
	if (drxtrack_init(&s->drx_rpcs, s->tx.cap) < 0)
		return -ENOMEM;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		return -errno;
	ev.data.fd = s->fd;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		return -errno;
	ev.data.fd = fd;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	/* The address homad bound it to (its own, or any): unparking
	 * binds it there again. */
	if (getsockname(fd, (struct sockaddr *)&home, &hlen) < 0 ||
	    home.sin_family != AF_INET)
		return -EINVAL;
	s->drx_home = home.sin_addr.s_addr;
	s->rfd = fd;
	s->drx_parked = false;
	if (drx_park(s, true) < 0) {
		s->rfd = -1;
		return -EIO;
	}
	s->drx_port = (uint16_t)s->port;
	s->drx_ever = true;
	drx = getenv("HOMA_TEST_DRX_DROP");
	if (drx != NULL) {
		double p = strtod(drx, NULL);

		if (p > 0 && p <= 1)
			s->drx_test_drop = (uint32_t)(p * 4294967295.0);
		s->drx_test_seed = (uint32_t)getpid() * 2654435761u | 1;
	}
	return 0;
}

/* Tests: is this packet to be dropped ($HOMA_TEST_DRX_DROP)? */
static bool drx_test_drops(struct hc_sock *s)
{
	uint32_t x = s->drx_test_seed;

	if (s->drx_test_drop == 0)
		return false;
	/* xorshift32 */
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	s->drx_test_seed = x;
	return x <= s->drx_test_drop;
}

void drx_stop(struct hc_sock *s)
{
	if (s->rfd < 0)
		return;
	if (s->epfd >= 0)
		(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->rfd, NULL);
	close(s->rfd);
	s->rfd = -1;
	s->drx_parked = false;
	s->srx = false;
}

bool drx_may_serve(const struct hc_sock *s)
{
	const char *e = getenv("HOMA_DIRECT_REQUESTS");

	return s->drx_ever && s->drx_buf != NULL && s->epfd >= 0 &&
	       s->dring != NULL && !(e != NULL && strcmp(e, "0") == 0);
}

void drx_serve(struct hc_sock *s, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN};

	/* homad's own sockets drop what this one passes: it is read from
	 * now on, whatever fails here. */
	drx_stop(s);
	s->rfd = fd;
	s->srx = true;
	s->drx_parked = false;
	s->drx_port = (uint16_t)s->port;
	if (s->srx_seen.cap == 0 && srxseen_init(&s->srx_seen, SRX_SEEN) < 0)
		conn_log(s, HC_LOG_WARNING,
			 "direct receive of requests: no memory to remember "
			 "them (copies reach the application)");
	ev.data.fd = fd;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		conn_log(s, HC_LOG_WARNING,
			 "direct receive of requests: epoll: %s (hc_fd does "
			 "not show its requests)",
			 strerror(errno));
}

void drx_teardown(struct hc_sock *s)
{
	drx_stop(s);
	if (s->epfd >= 0)
		close(s->epfd);
	s->epfd = -1;
	for (unsigned i = 0; i < s->nfb; i++)
		free(s->fb[i].pkt);
	s->nfb = 0;
	free(s->drx_buf);
	s->drx_buf = NULL;
	drxtrack_destroy(&s->drx_rpcs);
	srxseen_destroy(&s->srx_seen);
}

int drx_read(struct hc_sock *s)
{
	struct mmsghdr mm[DRX_BATCH];
	struct iovec iov[DRX_BATCH];
	int n;

	if (s->rfd < 0)
		return 0;
	memset(mm, 0, sizeof(mm));
	for (unsigned i = 0; i < DRX_BATCH; i++) {
		iov[i].iov_base = s->drx_buf + (size_t)i * DRX_PKT_MAX;
		iov[i].iov_len = DRX_PKT_MAX;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	n = recvmmsg(s->rfd, mm, DRX_BATCH, MSG_DONTWAIT | MSG_TRUNC, NULL);
	if (n < 0)
		return 0;
	for (int i = 0; i < n; i++)
		s->drx_len[i] = mm[i].msg_len;
	return n;
}

/* Queue the packet in for homad (DirectPacket); dropped when full:
 * false. */
static bool drx_fallback(struct hc_sock *s, const struct drx_in *in)
{
	struct drx_fb *f;

	if (s->nfb >= DRX_FALLBACK_MAX) {
		/* homad's RESEND brings it again. */
		s->drx_dropped++;
		return false;
	}
	f = &s->fb[s->nfb];
	f->pkt = malloc(in->homa_len);
	if (f->pkt == NULL) {
		s->drx_dropped++;
		return false;
	}
	memcpy(f->pkt, in->homa, in->homa_len);
	f->len = in->homa_len;
	memcpy(f->src, in->src + 12, 4);
	s->nfb++;
	s->drx_fallback++;
	return true;
}

/*
 * A whole request the request socket let through (lock held): to the
 * application, homad told first; what cannot be placed goes to homad.
 */
static void drx_request(struct hc_sock *s, const struct drx_in *in)
{
	struct homa_direct_rec rec;
	struct evq_ev ev;
	int slot;

	if (srxseen_has(&s->srx_seen, in->id, in->src, in->sport)) {
		/* Taken lately (the client sent it again): homad has it, or
		 * has the record or the packet that makes it. */
		s->srx_copies++;
		return;
	}
	slot = -ENOSPC;
	if (!s->shut && !s->srx_off && in->length <= s->drx_slots.size &&
	    s->q.count < s->hard_events)
		slot = drxslots_alloc(&s->drx_slots);
	if (slot < 0) {
		/* (One dropped here is not taken: a copy may come.) */
		if (drx_fallback(s, in))
			srxseen_add(&s->srx_seen, in->id, in->src, in->sport);
		return;
	}
	memset(&rec, 0, sizeof(rec));
	rec.kind = HOMA_DIRECT_ARRIVED;
	rec.id = in->id;
	rec.port = in->sport;
	rec.length = in->length;
	rec.cookie = (uint64_t)in->cutoff_version | (uint64_t)in->ack_port
							    << 16;
	rec.tx_offset = (uint64_t)in->pad[0] | (uint64_t)in->pad[1] << 8 |
			(uint64_t)in->pad[2] << 16;
	rec.ack_id = in->ack_id;
	memcpy(rec.addr, in->src, 16);
	if (direct_record(s, &rec) < 0) {
		drxslots_free(&s->drx_slots,
			      drxslots_offset(&s->drx_slots, (uint32_t)slot));
		if (drx_fallback(s, in))
			srxseen_add(&s->srx_seen, in->id, in->src, in->sport);
		return;
	}
	srxseen_add(&s->srx_seen, in->id, in->src, in->sport);
	memset(&ev, 0, sizeof(ev));
	ev.id = in->id;
	if (s->family == AF_INET) {
		memcpy(ev.addr, in->src + 12, 4);
		ev.addr_len = 4;
	} else {
		memcpy(ev.addr, in->src, 16);
		ev.addr_len = 16;
	}
	ev.port = in->sport;
	ev.length = in->length;
	ev.num_bpages = 1;
	ev.bpage_offsets[0] =
		(uint32_t)(s->rx_size +
			   drxslots_offset(&s->drx_slots, (uint32_t)slot));
	memcpy(s->rxmap + ev.bpage_offsets[0], in->payload, in->length);
	s->srx_received++;
	conn_route(s, &ev, false);
}

/* One packet the receive socket let through (lock held). */
static void drx_packet(struct hc_sock *s, const uint8_t *p, size_t len)
{
	const struct drxt_e *r;
	struct homa_direct_rec rec;
	struct evq_ev ev;
	struct drx_in in;
	int slot;

	if (len > DRX_PKT_MAX || drx_parse(p, len, &in) < 0 ||
	    in.dport != s->drx_port || in.request != s->srx) {
		/* The filter passed it: only a truncated read gets here. */
		s->drx_dropped++;
		return;
	}
	if (drx_test_drops(s)) {
		s->drx_dropped++;
		return;
	}
	if (in.request) {
		drx_request(s, &in);
		return;
	}
	r = drxtrack_find(&s->drx_rpcs, in.id);
	if (s->shut || r == NULL || memcmp(r->addr, in.src, 16) != 0 ||
	    r->port != in.sport) {
		/* Not an RPC of ours waiting for it: a late copy (answered
		 * already, aborted) or not ours at all. */
		s->drx_stale++;
		return;
	}
	/* No room for it in the queue (the application does not collect its
	 * messages), in the area, or too large: homad delivers it when the
	 * application reads again. */
	slot = -ENOSPC;
	if (in.length <= s->drx_slots.size &&
	    (r->priv || s->q.count < s->hard_events))
		slot = drxslots_alloc(&s->drx_slots);
	if (slot < 0) {
		drx_fallback(s, &in);
		return;
	}
	memset(&rec, 0, sizeof(rec));
	rec.kind = HOMA_DIRECT_RECEIVED;
	rec.id = in.id;
	rec.port = in.sport;
	rec.length = in.length;
	rec.cookie = in.cutoff_version;
	rec.tx_offset = (uint64_t)in.pad[0] | (uint64_t)in.pad[1] << 8 |
			(uint64_t)in.pad[2] << 16;
	memcpy(rec.addr, in.src, 16);
	if (direct_record(s, &rec) < 0) {
		drxslots_free(&s->drx_slots,
			      drxslots_offset(&s->drx_slots, (uint32_t)slot));
		drx_fallback(s, &in);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.id = in.id;
	ev.cookie = r->cookie;
	if (s->family == AF_INET) {
		memcpy(ev.addr, in.src + 12, 4);
		ev.addr_len = 4;
	} else {
		memcpy(ev.addr, in.src, 16);
		ev.addr_len = 16;
	}
	ev.port = in.sport;
	ev.length = in.length;
	ev.num_bpages = 1;
	ev.bpage_offsets[0] =
		(uint32_t)(s->rx_size +
			   drxslots_offset(&s->drx_slots, (uint32_t)slot));
	memcpy(s->rxmap + ev.bpage_offsets[0], in.payload, in.length);
	/* The record ended the RPC: its request's bytes are free (homad
	 * reads them no more, and reports no release). */
	txtrack_release(&s->tx, in.id);
	direct_note_done(s, in.id, in.src, 16, in.sport);
	s->drx_received++;
	conn_route(s, &ev, r->priv);
	drxtrack_del(&s->drx_rpcs, in.id);
	drx_idle(s);
}

void drx_handle(struct hc_sock *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		drx_packet(s, s->drx_buf + (size_t)i * DRX_PKT_MAX,
			   s->drx_len[i]);
	/* No doorbell: a RECEIVED record can wait for homad's next wake-up
	 * (it drains the rings before its timers act on the RPC). */
	drx_flush(s);
}

void drx_flush(struct hc_sock *s)
{
	while (s->nfb > 0 && !s->dead) {
		Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
		Homa__Client__DirectPacket d =
			HOMA__CLIENT__DIRECT_PACKET__INIT;
		struct drx_fb *f = &s->fb[0];
		uint8_t *buf;
		size_t len;
		ssize_t r;

		d.src.data = f->src;
		d.src.len = 4;
		d.packet.data = f->pkt;
		d.packet.len = f->len;
		m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_DIRECT_PACKET;
		m.direct_packet = &d;
		len = homa__client__client_msg__get_packed_size(&m);
		buf = malloc(len);
		if (buf == NULL)
			return;
		homa__client__client_msg__pack(&m, buf);
		do {
			r = send(s->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		} while (r < 0 && errno == EINTR);
		free(buf);
		if (r < 0)
			return; /* full: the next step sends it */
		free(f->pkt);
		memmove(&s->fb[0], &s->fb[1], (s->nfb - 1) * sizeof(s->fb[0]));
		s->nfb--;
	}
}

int drx_track(struct hc_sock *s, uint64_t id, uint64_t cookie,
	      const uint8_t *addr, uint8_t addr_len, uint16_t port, bool priv)
{
	uint8_t a16[16];
	int rc;

	if (!s->drx_ever)
		return 0;
	addr_to16(a16, addr, addr_len);
	/* Unparked before the request can leave (see drx_park). */
	if (s->drx_rpcs.n == 0 && (rc = drx_park(s, false)) < 0)
		return rc;
	rc = drxtrack_add(&s->drx_rpcs, id, cookie, a16, port, priv);
	if (rc < 0)
		drx_idle(s);
	return rc;
}

bool drx_settled(struct hc_sock *s, uint64_t id)
{
	/* (id 0 would forget every RPC.) */
	bool had;

	if (!s->drx_ever || id == 0 || (id & 1) != 0)
		return true;
	had = drxtrack_del(&s->drx_rpcs, id);
	drx_idle(s);
	return had;
}

bool drx_recycle(struct hc_sock *s, uint32_t off)
{
	if (off < s->rx_size)
		return false;
	if (s->drx_bytes == 0 ||
	    drxslots_free(&s->drx_slots, off - s->rx_size) < 0)
		conn_log(s, HC_LOG_WARNING,
			 "recycle of %u: no message of the library there", off);
	return true;
}
