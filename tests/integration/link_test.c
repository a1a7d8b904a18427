/*
 * link_test.c - drives daemon/link.c and daemon/dataplane.c for link.sh.
 *
 *   link_test send --link ip|udp --dst ADDR [--count N] [--port P]
 *                  [--expect-icmp]
 *       Build N DATA packets (priorities cycling 0..7, the intended one
 *       written in the payload), queue them all with link_send and submit
 *       them with ONE io_uring submit; wait for every send completion.
 *       --expect-icmp: the destination has no receiver; wait until the
 *       link has read at least one ICMP error from its error queue.
 *   link_test recv --link ip|udp --family 4|6 --count N [--timeout S]
 *                  [--port P] [--ready FILE]
 *       With a plain (non-io_uring) socket, receive N packets and check
 *       that each decodes and arrived with the priority its payload names.
 *   link_test lrecv --link ip|udp --family 4|6 --count N [--timeout S]
 *                   [--port P] [--ready FILE]
 *       The same checks, receiving through daemon/link.c (multishot
 *       recvmsg, its IPv4-header / cmsg parsing of the priority).
 *   link_test gso --dst ADDR --count N [--port P]
 *       Send N DATA packets in ONE UDP sendmsg with UDP_SEGMENT (plain
 *       socket), so that a UDP_GRO receiver gets them in one read.
 *   link_test dp --link ip|udp --expect N [--timeout S] [--port P]
 *                [--ready FILE] [--expect-gro]
 *       Run the data plane (dp_create/dp_start), PING and RECONFIG it, ask
 *       for snapshots until N DATA packets were received, check the
 *       counters, STOP it and dp_destroy.  --expect-mtu, --expect-sockets:
 *       what the snapshot must show.  --rx-buffers N: a small buffer
 *       ring, to make the kernel end the receive (-ENOBUFS) and see it
 *       re-armed with nothing lost (--expect-rearms).
 *   send --tx-queue N: only N slots; the sends beyond must be refused
 *   and counted as queue drops.  More sends than the SQ holds must go out
 *   in one submit per full SQ.
 *   send and dp take --address A and --interface IF (repeatable), the
 *   network.addresses and network.interfaces of homa.conf.
 *
 * Exit 0 on success, 1 on failure, 2 on usage errors.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/wire.h"
#include "dataplane.h"
#include "link.h"
#include "log.h"
#include "uring.h"

#define LT_PAYLOAD 64	/* payload bytes of each test packet */
#define LT_MAGIC   0xA7 /* payload[0] */
#define LT_SPORT   40000
#define LT_DPORT   50000
#define LT_MAX	   4096 /* most packets one run checks */

struct lt_opts {
	const char *mode;
	enum homa_link_kind link;
	const char *dst;
	int family; /* recv: 4 or 6 */
	unsigned count;
	unsigned timeout_s;
	uint16_t port;
	const char *ready;
	bool expect_icmp;
	bool expect_gro;
	bool verbose;
	unsigned rx_buffers;	 /* dp: 0, or network.rx_buffers */
	unsigned tx_queue;	 /* send: 0, or network.tx_queue (sends beyond
				    it must be refused as drops) */
	bool expect_rearms;	 /* dp: the receive must have been re-armed */
	unsigned expect_mtu;	 /* dp: 0, or the MTU the snapshot must show */
	unsigned expect_sockets; /* dp: 0, or the sockets it must show */
	unsigned n_addresses;	 /* dp/send: --address, repeatable */
	const char *addresses[HOMA_CONF_MAX_ADDRESSES];
	unsigned n_interfaces; /* dp/send: --interface, repeatable */
	const char *interfaces[HOMA_CONF_MAX_INTERFACES];
};

/* cfg for o: defaults, link, port, --address, --interface. */
static int lt_config(const struct lt_opts *o, struct homa_config *cfg)
{
	unsigned i;

	config_defaults(cfg);
	cfg->link = o->link;
	cfg->udp_port = o->port;
	for (i = 0; i < o->n_addresses; i++) {
		struct homa_conf_addr *a = &cfg->addresses[i];

		memset(a, 0, sizeof(*a));
		if (inet_pton(AF_INET, o->addresses[i], &a->a.v4) == 1)
			a->family = AF_INET;
		else if (inet_pton(AF_INET6, o->addresses[i], &a->a.v6) == 1)
			a->family = AF_INET6;
		else
			return -1;
		snprintf(a->text, sizeof(a->text), "%s", o->addresses[i]);
	}
	cfg->n_addresses = o->n_addresses;
	for (i = 0; i < o->n_interfaces; i++)
		snprintf(cfg->interfaces[i], sizeof(cfg->interfaces[i]), "%s",
			 o->interfaces[i]);
	cfg->n_interfaces = o->n_interfaces;
	if (o->rx_buffers)
		cfg->rx_buffers = o->rx_buffers;
	return 0;
}

static uint64_t lt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void lt_ready(const struct lt_opts *o)
{
	FILE *f;

	if (!o->ready)
		return;
	f = fopen(o->ready, "w");
	if (!f) {
		perror(o->ready);
		exit(1);
	}
	fputs("ready\n", f);
	fclose(f);
}

/* dst text -> homa_addr (IPv4 v4-mapped); false if neither family. */
static bool lt_parse_addr(const char *text, struct homa_addr *a, int *family)
{
	struct in_addr v4;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, text, &v4) == 1) {
		a->in6.s6_addr[10] = 0xff;
		a->in6.s6_addr[11] = 0xff;
		memcpy(&a->in6.s6_addr[12], &v4, 4);
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, text, &a->in6) == 1) {
		*family = AF_INET6;
		return true;
	}
	return false;
}

/* Test packet i, sent at prio, into buf; returns its length (0: error). */
static size_t lt_build(unsigned i, uint8_t prio, uint8_t *buf, size_t cap)
{
	uint8_t payload[LT_PAYLOAD];
	struct homa_pkt p;
	unsigned j;

	payload[0] = LT_MAGIC;
	payload[1] = prio;
	payload[2] = (uint8_t)(i >> 24);
	payload[3] = (uint8_t)(i >> 16);
	payload[4] = (uint8_t)(i >> 8);
	payload[5] = (uint8_t)i;
	for (j = 6; j < LT_PAYLOAD; j++)
		payload[j] = (uint8_t)(i + j);
	memset(&p, 0, sizeof(p));
	p.type = HOMA_DATA;
	p.sport = LT_SPORT;
	p.dport = LT_DPORT;
	p.sender_id = 2ull * (i + 1);
	p.u.data.message_length = LT_PAYLOAD;
	p.u.data.incoming = LT_PAYLOAD;
	p.u.data.offset = 0;
	p.u.data.payload_len = LT_PAYLOAD;
	p.u.data.payload = payload;
	return wire_encode(&p, buf, cap);
}

/*
 * Check one received packet: decodes as a test DATA packet whose payload
 * names prio.  Returns its index, or -1 with the reason printed.
 */
static long lt_check(const uint8_t *buf, size_t len, uint8_t prio)
{
	struct homa_pkt p;
	const uint8_t *pl;
	unsigned i, j;
	int r;

	r = wire_decode(buf, len, &p);
	if (r < 0) {
		fprintf(stderr, "packet of %zu bytes does not decode: %s\n",
			len, wire_strerror(r));
		return -1;
	}
	if (p.type != HOMA_DATA || p.sport != LT_SPORT || p.dport != LT_DPORT ||
	    p.u.data.payload_len != LT_PAYLOAD) {
		fprintf(stderr, "not a test packet: %s %u -> %u, %u bytes\n",
			wire_type_name(p.type), p.sport, p.dport,
			p.u.data.payload_len);
		return -1;
	}
	pl = p.u.data.payload;
	i = (unsigned)pl[2] << 24 | (unsigned)pl[3] << 16 |
	    (unsigned)pl[4] << 8 | pl[5];
	if (pl[0] != LT_MAGIC || p.sender_id != 2ull * (i + 1)) {
		fprintf(stderr, "packet %u: bad magic or id\n", i);
		return -1;
	}
	for (j = 6; j < LT_PAYLOAD; j++) {
		if (pl[j] != (uint8_t)(i + j)) {
			fprintf(stderr, "packet %u: payload byte %u wrong\n", i,
				j);
			return -1;
		}
	}
	if (pl[1] != prio) {
		fprintf(stderr,
			"packet %u: sent at priority %u, arrived at %u\n", i,
			pl[1], prio);
		return -1;
	}
	return (long)i;
}

/* ---- send ---------------------------------------------------------------- */

static void lt_rx_ignore(void *arg, const void *pkt, size_t len,
			 const struct homa_addr *src, uint8_t prio,
			 uint64_t now)
{
	unsigned *n = arg;

	(*n)++;
}

/* Reap completions through the link until done() or the deadline. */
static void
lt_reap_until(struct uring *u, struct link *l,
	      bool (*done)(const struct homa_metrics *m, const void *arg),
	      const struct homa_metrics *m, const void *arg, uint64_t deadline)
{
	while (!done(m, arg) && lt_now() < deadline) {
		struct __kernel_timespec ts = {.tv_sec = 0,
					       .tv_nsec = 50000000};
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		io_uring_submit(&u->ring);
		io_uring_wait_cqe_timeout(&u->ring, &cqe, &ts);
		io_uring_for_each_cqe(&u->ring, head, cqe)
		{
			/* Else it is link_stop's cancellation. */
			if (!link_complete(l, cqe, lt_now()) &&
			    uring_data_tag(cqe->user_data) !=
				    URING_TAG_INTERNAL)
				fprintf(stderr, "unexpected completion\n");
			n++;
		}
		io_uring_cq_advance(&u->ring, n);
	}
}

static bool lt_sends_done(const struct homa_metrics *m, const void *arg)
{
	const unsigned *count = arg;

	return m->link_tx_packets + m->link_tx_errors >= *count;
}

static bool lt_icmp_seen(const struct homa_metrics *m, const void *arg)
{
	return m->icmp_errors > 0;
}

static bool lt_link_idle(const struct homa_metrics *m, const void *arg)
{
	return link_idle(arg);
}

static int lt_send(const struct lt_opts *o)
{
	struct homa_config cfg;
	struct homa_metrics m;
	struct homa_addr dst;
	struct uring u;
	struct link *l;
	char err[256];
	unsigned i, rx = 0, queued, accepted, batches;
	int family, r, rc = 0;

	if (!o->dst || !lt_parse_addr(o->dst, &dst, &family)) {
		fprintf(stderr, "send: --dst needs an IPv4 or IPv6 address\n");
		return 2;
	}
	if (lt_config(o, &cfg) < 0) {
		fprintf(stderr, "send: bad --address\n");
		return 2;
	}
	cfg.ipv4 = family == AF_INET;
	cfg.ipv6 = family == AF_INET6;
	if (o->tx_queue)
		cfg.tx_queue = o->tx_queue;
	else if (cfg.tx_queue < o->count)
		cfg.tx_queue = o->count;
	memset(&m, 0, sizeof(m));
	if (uring_init(&u, cfg.ring_entries, 2 * o->count + 64, err,
		       sizeof(err)) < 0) {
		fprintf(stderr, "send: %s\n", err);
		return 1;
	}
	l = link_create(&u, &cfg, &m, lt_rx_ignore, &rx, err, sizeof(err));
	if (!l || link_start(l, err, sizeof(err)) < 0) {
		fprintf(stderr, "send: %s\n", err);
		uring_exit(&u);
		link_destroy(l);
		return 1;
	}
	for (i = 0; i < o->count; i++) {
		uint8_t buf[256];
		uint8_t prio = (uint8_t)(i % HOMA_NUM_PRIORITIES);
		size_t len = lt_build(i, prio, buf, sizeof(buf));

		r = len ? link_send(l, &dst, prio, buf, len) : -EINVAL;
		if (r == -ENOBUFS && i >= cfg.tx_queue)
			continue; /* the queue is full, as it should be */
		if (r < 0) {
			fprintf(stderr, "send: link_send %u: %s\n", i,
				strerror(-r));
			rc = 1;
			break;
		}
	}
	/* Every send still sits in the SQ: the one submit carries them. */
	queued = io_uring_sq_ready(&u.ring);
	accepted = o->count < cfg.tx_queue ? o->count : cfg.tx_queue;
	if (accepted <= u.ring.sq.ring_entries && queued != accepted) {
		fprintf(stderr, "send: %u sends in the SQ, expected %u\n",
			queued, accepted);
		rc = 1;
	}
	uring_submit_and_wait(&u, 1);
	lt_reap_until(&u, l, lt_sends_done, &m, &accepted,
		      lt_now() + 5000000000ull);
	if (o->expect_icmp)
		lt_reap_until(&u, l, lt_icmp_seen, &m, NULL,
			      lt_now() + 3000000000ull);
	printf("send: %s link to %s: %u queued, %llu sent (%llu bytes) in "
	       "%llu batch(es), %llu errors, %llu drops, %llu ICMP errors\n",
	       config_link_name(o->link), o->dst, queued,
	       (unsigned long long)m.link_tx_packets,
	       (unsigned long long)m.link_tx_bytes,
	       (unsigned long long)m.link_tx_batches,
	       (unsigned long long)m.link_tx_errors,
	       (unsigned long long)m.link_tx_queue_drops,
	       (unsigned long long)m.icmp_errors);
	if (m.link_tx_queue_drops != o->count - accepted) {
		fprintf(stderr, "send: %llu queue drops, expected %u\n",
			(unsigned long long)m.link_tx_queue_drops,
			o->count - accepted);
		rc = 1;
	}
	if (m.link_tx_packets + m.link_tx_errors != accepted) {
		fprintf(stderr, "send: not every send completed\n");
		rc = 1;
	}
	if (!o->expect_icmp && m.link_tx_errors) {
		fprintf(stderr, "send: %llu sends failed\n",
			(unsigned long long)m.link_tx_errors);
		rc = 1;
	}
	/* One submit per full SQ, plus the last one. */
	batches = (accepted + u.ring.sq.ring_entries - 1) /
		  u.ring.sq.ring_entries;
	if (m.link_tx_batches != batches) {
		fprintf(stderr, "send: %llu batches, expected %u\n",
			(unsigned long long)m.link_tx_batches, batches);
		rc = 1;
	}
	if (o->expect_icmp && m.icmp_errors == 0) {
		fprintf(stderr, "send: no ICMP error was read\n");
		rc = 1;
	}
	link_stop(l);
	lt_reap_until(&u, l, lt_link_idle, &m, l, lt_now() + 2000000000ull);
	if (!link_idle(l)) {
		fprintf(stderr, "send: the link did not go idle on stop\n");
		rc = 1;
	}
	uring_exit(&u);
	link_destroy(l);
	return rc;
}

/* ---- gso ----------------------------------------------------------------- */

static int lt_gso(const struct lt_opts *o)
{
	static uint8_t buf[65536];
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(uint16_t))];
	} ctl;
	union {
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} sa;
	struct homa_addr dst;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *c;
	uint16_t seg = 0;
	size_t off = 0;
	unsigned i;
	int family, fd;
	ssize_t n;

	if (!o->dst || !lt_parse_addr(o->dst, &dst, &family) || !o->count ||
	    o->count > 64) {
		fprintf(stderr, "gso: needs --dst ADDR and --count 1..64\n");
		return 2;
	}
	for (i = 0; i < o->count; i++) {
		size_t len = lt_build(i, 0, buf + off, sizeof(buf) - off);

		if (!len)
			return 1;
		seg = (uint16_t)len;
		off += len;
	}
	memset(&sa, 0, sizeof(sa));
	if (family == AF_INET) {
		sa.v4.sin_family = AF_INET;
		memcpy(&sa.v4.sin_addr, &dst.in6.s6_addr[12], 4);
		sa.v4.sin_port = htons(o->port);
	} else {
		sa.v6.sin6_family = AF_INET6;
		sa.v6.sin6_addr = dst.in6;
		sa.v6.sin6_port = htons(o->port);
	}
	fd = socket(family, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("gso: socket");
		return 1;
	}
	iov.iov_base = buf;
	iov.iov_len = off;
	memset(&mh, 0, sizeof(mh));
	memset(&ctl, 0, sizeof(ctl));
	mh.msg_name = &sa;
	mh.msg_namelen = family == AF_INET ? sizeof(sa.v4) : sizeof(sa.v6);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.b;
	mh.msg_controllen = sizeof(ctl.b);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
	memcpy(CMSG_DATA(c), &seg, sizeof(seg));
	n = sendmsg(fd, &mh, 0);
	close(fd);
	if (n != (ssize_t)off) {
		perror("gso: sendmsg");
		return 1;
	}
	printf("gso: %u segments of %u bytes in one sendmsg to %s\n", o->count,
	       seg, o->dst);
	return 0;
}

/* ---- recv ---------------------------------------------------------------- */

static int lt_recv(const struct lt_opts *o)
{
	int family = o->family == 6 ? AF_INET6 : AF_INET;
	static bool seen[LT_MAX];
	uint64_t deadline;
	unsigned got = 0, bad = 0, by_prio[HOMA_NUM_PRIORITIES] = {0};
	int fd, one = 1, rcvbuf = 16 << 20;

	if (o->count == 0 || o->count > LT_MAX) {
		fprintf(stderr, "recv: --count 1..%u\n", LT_MAX);
		return 2;
	}
	if (o->link == HOMA_LINK_IP)
		fd = socket(family, SOCK_RAW, HOMA_IPPROTO);
	else
		fd = socket(family, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("recv: socket");
		return 1;
	}
	/* Room for a whole burst. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	if (family == AF_INET6) {
		setsockopt(fd, SOL_IPV6, IPV6_RECVTCLASS, &one, sizeof(one));
	} else if (o->link == HOMA_LINK_UDP) {
		setsockopt(fd, SOL_IP, IP_RECVTOS, &one, sizeof(one));
	}
	if (o->link == HOMA_LINK_UDP) {
		union {
			struct sockaddr_in v4;
			struct sockaddr_in6 v6;
		} sa;

		memset(&sa, 0, sizeof(sa));
		if (family == AF_INET) {
			sa.v4.sin_family = AF_INET;
			sa.v4.sin_port = htons(o->port);
		} else {
			setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &one,
				   sizeof(one));
			sa.v6.sin6_family = AF_INET6;
			sa.v6.sin6_port = htons(o->port);
		}
		if (bind(fd, (struct sockaddr *)&sa,
			 family == AF_INET ? sizeof(sa.v4) : sizeof(sa.v6)) <
		    0) {
			perror("recv: bind");
			return 1;
		}
	}
	lt_ready(o);
	deadline = lt_now() + (uint64_t)o->timeout_s * 1000000000ull;
	while (got < o->count) {
		uint8_t buf[65536];
		union {
			struct cmsghdr align;
			char b[256];
		} ctl;
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl.b,
				    .msg_controllen = sizeof(ctl.b)};
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		const uint8_t *pkt = buf;
		struct cmsghdr *c;
		uint64_t now = lt_now();
		int prio = -1;
		size_t len;
		ssize_t n;
		long idx;

		if (now >= deadline)
			break;
		if (poll(&pfd, 1, (int)((deadline - now) / 1000000 + 1)) <= 0)
			continue;
		n = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (n < 0)
			continue;
		len = (size_t)n;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_TOS)
				prio = *(uint8_t *)CMSG_DATA(c) >> 5;
			if (c->cmsg_level == SOL_IPV6 &&
			    c->cmsg_type == IPV6_TCLASS) {
				int v;

				memcpy(&v, CMSG_DATA(c), sizeof(v));
				prio = (v >> 5) & 7;
			}
		}
		if (o->link == HOMA_LINK_IP && family == AF_INET) {
			size_t ihl = (size_t)(buf[0] & 0xf) * 4;

			if (len < 20 || ihl < 20 || ihl > len) {
				fprintf(stderr, "recv: bad IPv4 header\n");
				bad++;
				continue;
			}
			prio = buf[1] >> 5;
			pkt = buf + ihl;
			len -= ihl;
		}
		if (prio < 0) {
			fprintf(stderr, "recv: no priority with the packet\n");
			bad++;
			continue;
		}
		idx = lt_check(pkt, len, (uint8_t)prio);
		if (idx < 0 || (unsigned long)idx >= o->count || seen[idx]) {
			if (idx >= 0)
				fprintf(stderr,
					"recv: packet %ld unexpected "
					"or repeated\n",
					idx);
			bad++;
			continue;
		}
		seen[idx] = true;
		by_prio[prio]++;
		got++;
	}
	close(fd);
	printf("recv: %s IPv%d: %u of %u packets right, %u wrong; by "
	       "priority %u %u %u %u %u %u %u %u\n",
	       config_link_name(o->link), o->family, got, o->count, bad,
	       by_prio[0], by_prio[1], by_prio[2], by_prio[3], by_prio[4],
	       by_prio[5], by_prio[6], by_prio[7]);
	return got == o->count && bad == 0 ? 0 : 1;
}

/* ---- lrecv --------------------------------------------------------------- */

/* What the link's receiver saw. */
struct lt_lrecv {
	unsigned count; /* packets expected */
	unsigned got;	/* right ones */
	unsigned bad;	/* wrong, unexpected or repeated */
	unsigned by_prio[HOMA_NUM_PRIORITIES];
	bool seen[LT_MAX];
};

static void lt_lrecv_rx(void *arg, const void *pkt, size_t len,
			const struct homa_addr *src, uint8_t prio, uint64_t now)
{
	struct lt_lrecv *r = arg;
	long idx = lt_check(pkt, len, prio);

	if (idx < 0 || (unsigned long)idx >= r->count || r->seen[idx]) {
		r->bad++;
		return;
	}
	r->seen[idx] = true;
	r->by_prio[prio]++;
	r->got++;
}

static bool lt_lrecv_done(const struct homa_metrics *m, const void *arg)
{
	const struct lt_lrecv *r = arg;

	return r->got + r->bad >= r->count;
}

/* Receive through daemon/link.c itself and check every priority. */
static int lt_lrecv(const struct lt_opts *o)
{
	static struct lt_lrecv r;
	struct homa_config cfg;
	struct homa_metrics m;
	struct uring u;
	struct link *l;
	char err[256];
	int rc;

	if (o->count == 0 || o->count > LT_MAX) {
		fprintf(stderr, "lrecv: --count 1..%u\n", LT_MAX);
		return 2;
	}
	if (lt_config(o, &cfg) < 0)
		return 2;
	cfg.ipv4 = o->family == 4;
	cfg.ipv6 = o->family == 6;
	r.count = o->count;
	memset(&m, 0, sizeof(m));
	if (uring_init(&u, cfg.ring_entries, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "lrecv: %s\n", err);
		return 1;
	}
	l = link_create(&u, &cfg, &m, lt_lrecv_rx, &r, err, sizeof(err));
	if (!l || link_start(l, err, sizeof(err)) < 0) {
		fprintf(stderr, "lrecv: %s\n", err);
		uring_exit(&u);
		link_destroy(l);
		return 1;
	}
	lt_ready(o);
	lt_reap_until(&u, l, lt_lrecv_done, &m, &r,
		      lt_now() + (uint64_t)o->timeout_s * 1000000000ull);
	printf("lrecv: %s IPv%d through the link: %u of %u packets right, "
	       "%u wrong; %llu datagrams, %llu bad ip; by priority %u %u %u "
	       "%u %u %u %u %u\n",
	       config_link_name(o->link), o->family, r.got, r.count, r.bad,
	       (unsigned long long)m.link_rx_datagrams,
	       (unsigned long long)m.link_rx_bad_ip, r.by_prio[0], r.by_prio[1],
	       r.by_prio[2], r.by_prio[3], r.by_prio[4], r.by_prio[5],
	       r.by_prio[6], r.by_prio[7]);
	rc = r.got == r.count && r.bad == 0 && m.link_rx_datagrams == r.count
		     ? 0
		     : 1;
	link_stop(l);
	lt_reap_until(&u, l, lt_link_idle, &m, l, lt_now() + 2000000000ull);
	uring_exit(&u);
	link_destroy(l);
	return rc;
}

/* ---- dp ------------------------------------------------------------------ */

static void lt_notify(void *arg)
{
	int *efd = arg;
	uint64_t one = 1;

	if (write(*efd, &one, sizeof(one)) < 0)
		perror("notify");
}

/* Post msg and wait (up to 2 s) for it to come back. */
static int lt_round_trip(struct dp *dp, int efd, struct dp_msg *msg)
{
	uint64_t deadline = lt_now() + 2000000000ull;
	int r = dp_post(dp, msg);

	if (r < 0) {
		fprintf(stderr, "dp: dp_post: %s\n", strerror(-r));
		return r;
	}
	while (lt_now() < deadline) {
		struct pollfd pfd = {.fd = efd, .events = POLLIN};
		struct dp_msg *list;
		uint64_t v;

		if (poll(&pfd, 1, 100) > 0 && read(efd, &v, sizeof(v)) < 0)
			perror("eventfd");
		list = dp_take_replies(dp);
		if (!list)
			continue;
		if (list != msg || list->next) {
			fprintf(stderr, "dp: unexpected reply list\n");
			return -EPROTO;
		}
		return 0;
	}
	fprintf(stderr, "dp: no reply within 2 s\n");
	return -ETIMEDOUT;
}

static int lt_dp(const struct lt_opts *o)
{
	const unsigned data = wire_type_index(HOMA_DATA);
	struct homa_config cfg;
	struct dp_msg *msg;
	struct dp_snapshot *s;
	uint64_t deadline, got = 0;
	char err[256];
	struct dp *dp;
	unsigned i, w;
	int efd, rc = 0;

	if (lt_config(o, &cfg) < 0) {
		fprintf(stderr, "dp: bad --address\n");
		return 2;
	}
	cfg.log_level = o->verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
	efd = eventfd(0, EFD_CLOEXEC);
	msg = calloc(1, sizeof(*msg));
	if (efd < 0 || !msg) {
		perror("dp");
		return 1;
	}
	dp = dp_create(&cfg, err, sizeof(err));
	if (!dp) {
		fprintf(stderr, "dp: %s\n", err);
		return 1;
	}
	if (dp_start(dp, lt_notify, &efd) < 0) {
		fprintf(stderr, "dp: dp_start failed\n");
		dp_destroy(dp);
		return 1;
	}

	msg->type = DP_MSG_PING;
	msg->result = 1;
	if (lt_round_trip(dp, efd, msg) < 0 || msg->result != 0) {
		fprintf(stderr, "dp: PING failed\n");
		rc = 1;
	}
	msg->type = DP_MSG_RECONFIG;
	msg->u.config = cfg;
	msg->result = 1;
	if (lt_round_trip(dp, efd, msg) < 0 || msg->result != 0) {
		fprintf(stderr, "dp: RECONFIG failed\n");
		rc = 1;
	}
	lt_ready(o);

	deadline = lt_now() + (uint64_t)o->timeout_s * 1000000000ull;
	s = &msg->u.snapshot;
	for (;;) {
		msg->type = DP_MSG_SNAPSHOT;
		if (lt_round_trip(dp, efd, msg) < 0 || msg->result != 0) {
			fprintf(stderr, "dp: SNAPSHOT failed\n");
			rc = 1;
			break;
		}
		got = s->metrics.packets_received[data];
		if (got >= o->count || lt_now() >= deadline)
			break;
		usleep(50000);
	}
	/* Anything beyond what was sent would show now. */
	usleep(200000);
	msg->type = DP_MSG_SNAPSHOT;
	if (lt_round_trip(dp, efd, msg) < 0 || msg->result != 0)
		rc = 1;
	got = s->metrics.packets_received[data];

	printf("dp: %s link, MTU %u, %u sockets:", config_link_name(s->link),
	       s->mtu, s->n_sockets);
	for (i = 0; i < s->n_sockets; i++)
		printf(" [%s]", s->sockets[i].desc);
	printf("\ndp: DATA received %llu of %u; datagrams %llu, GRO "
	       "segments %llu, rearms %llu, rx errors %llu, truncated %llu, "
	       "bad ip %llu, wakeups %llu, ctl messages %llu, up %.3f s\n",
	       (unsigned long long)got, o->count,
	       (unsigned long long)s->metrics.link_rx_datagrams,
	       (unsigned long long)s->metrics.link_rx_gro_segments,
	       (unsigned long long)s->metrics.link_rx_rearms,
	       (unsigned long long)s->metrics.link_rx_errors,
	       (unsigned long long)s->metrics.link_rx_truncated,
	       (unsigned long long)s->metrics.link_rx_bad_ip,
	       (unsigned long long)s->metrics.loop_wakeups,
	       (unsigned long long)s->metrics.ctl_messages,
	       (double)(s->taken_ns - s->started_ns) / 1e9);
	if (got != o->count) {
		fprintf(stderr, "dp: %llu DATA packets received, expected %u\n",
			(unsigned long long)got, o->count);
		rc = 1;
	}
	for (w = 1; w < WIRE_ERR_COUNT; w++) {
		if (s->metrics.malformed_packets[w]) {
			fprintf(stderr, "dp: %llu malformed (%s)\n",
				(unsigned long long)
					s->metrics.malformed_packets[w],
				wire_err_name(-(int)w));
			rc = 1;
		}
	}
	if (s->metrics.ctl_messages < 3 || s->n_sockets == 0 ||
	    s->taken_ns < s->started_ns || s->mtu == 0) {
		fprintf(stderr, "dp: snapshot inconsistent\n");
		rc = 1;
	}
	if (o->expect_rearms && s->metrics.link_rx_rearms == 0) {
		fprintf(stderr, "dp: the receive was never re-armed\n");
		rc = 1;
	}
	if (o->expect_mtu && s->mtu != o->expect_mtu) {
		fprintf(stderr, "dp: MTU %u, expected %u\n", s->mtu,
			o->expect_mtu);
		rc = 1;
	}
	if (o->expect_sockets && s->n_sockets != o->expect_sockets) {
		fprintf(stderr, "dp: %u sockets, expected %u\n", s->n_sockets,
			o->expect_sockets);
		rc = 1;
	}
	if (o->expect_gro && (s->metrics.link_rx_gro_segments != o->count ||
			      s->metrics.link_rx_datagrams >= o->count)) {
		fprintf(stderr, "dp: expected the packets in GRO reads\n");
		rc = 1;
	}

	msg->type = DP_MSG_STOP;
	msg->result = 1;
	if (lt_round_trip(dp, efd, msg) < 0 || msg->result != 0) {
		fprintf(stderr, "dp: STOP failed\n");
		rc = 1;
	}
	if (dp_post(dp, msg) != -ESHUTDOWN) {
		fprintf(stderr, "dp: dp_post after STOP was accepted\n");
		rc = 1;
	}
	dp_destroy(dp);
	free(msg);
	close(efd);
	return rc;
}

/* ---- main ---------------------------------------------------------------- */

static void lt_usage(void)
{
	fprintf(stderr,
		"usage: link_test send --link ip|udp --dst ADDR [--count N] "
		"[--port P] [--expect-icmp]\n"
		"       link_test recv --link ip|udp --family 4|6 --count N "
		"[--timeout S] [--port P] [--ready FILE]\n"
		"       link_test lrecv --link ip|udp --family 4|6 --count N "
		"[--timeout S] [--port P] [--ready FILE]\n"
		"       link_test gso --dst ADDR --count N [--port P]\n"
		"       link_test dp --link ip|udp --expect N [--timeout S] "
		"[--port P] [--ready FILE] [--expect-gro]\n"
		"                    [--expect-mtu M] [--expect-sockets S] "
		"[--rx-buffers N] [--expect-rearms]\n"
		"  send also takes --tx-queue N (sends beyond N must be "
		"dropped)\n"
		"  send and dp also take --address A and --interface IF "
		"(repeatable)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"link", required_argument, NULL, 'l'},
		{"dst", required_argument, NULL, 'd'},
		{"family", required_argument, NULL, 'f'},
		{"count", required_argument, NULL, 'c'},
		{"expect", required_argument, NULL, 'c'},
		{"timeout", required_argument, NULL, 't'},
		{"port", required_argument, NULL, 'p'},
		{"ready", required_argument, NULL, 'r'},
		{"expect-icmp", no_argument, NULL, 'I'},
		{"expect-gro", no_argument, NULL, 'G'},
		{"verbose", no_argument, NULL, 'v'},
		{"address", required_argument, NULL, 'a'},
		{"interface", required_argument, NULL, 'i'},
		{"expect-mtu", required_argument, NULL, 'M'},
		{"rx-buffers", required_argument, NULL, 'B'},
		{"tx-queue", required_argument, NULL, 'Q'},
		{"expect-rearms", no_argument, NULL, 'R'},
		{"expect-sockets", required_argument, NULL, 'S'},
		{NULL, 0, NULL, 0},
	};
	struct lt_opts o = {.link = HOMA_LINK_IP,
			    .family = 4,
			    .count = 64,
			    .timeout_s = 10,
			    .port = HOMA_CONF_DEFAULT_UDP_PORT};
	int c;

	if (argc < 2)
		lt_usage();
	o.mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (strcmp(optarg, "ip") == 0)
				o.link = HOMA_LINK_IP;
			else if (strcmp(optarg, "udp") == 0)
				o.link = HOMA_LINK_UDP;
			else
				lt_usage();
			break;
		case 'd':
			o.dst = optarg;
			break;
		case 'f':
			o.family = atoi(optarg);
			if (o.family != 4 && o.family != 6)
				lt_usage();
			break;
		case 'c':
			o.count = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 't':
			o.timeout_s = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			o.port = (uint16_t)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			o.ready = optarg;
			break;
		case 'I':
			o.expect_icmp = true;
			break;
		case 'G':
			o.expect_gro = true;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'a':
			if (o.n_addresses == HOMA_CONF_MAX_ADDRESSES)
				lt_usage();
			o.addresses[o.n_addresses++] = optarg;
			break;
		case 'i':
			if (o.n_interfaces == HOMA_CONF_MAX_INTERFACES)
				lt_usage();
			o.interfaces[o.n_interfaces++] = optarg;
			break;
		case 'B':
			o.rx_buffers = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'Q':
			o.tx_queue = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'R':
			o.expect_rearms = true;
			break;
		case 'M':
			o.expect_mtu = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'S':
			o.expect_sockets = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			lt_usage();
		}
	}
	if (optind != argc)
		lt_usage();
	log_init("link_test", o.verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(o.mode, "send") == 0)
		return lt_send(&o);
	if (strcmp(o.mode, "recv") == 0)
		return lt_recv(&o);
	if (strcmp(o.mode, "lrecv") == 0)
		return lt_lrecv(&o);
	if (strcmp(o.mode, "gso") == 0)
		return lt_gso(&o);
	if (strcmp(o.mode, "dp") == 0)
		return lt_dp(&o);
	lt_usage();
}
