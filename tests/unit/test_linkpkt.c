/*
 * test_linkpkt.c - unit tests of daemon/linkpkt.c, the link's parsers and
 * builders, without privileges.
 *
 * Every packet of every capture in tests/vectors goes through the IPv4 or
 * IPv6 strip, through GRO framing (runs of packets joined as one udp read
 * and split again), and into ICMP / ICMPv6 port unreachable answers (raw
 * and udp link) that are parsed back.  Malformed variants of each header
 * must get their documented error, and random bytes must never make a
 * parser read or report past what it was given.  Echo requests (the
 * link's probes) are checked byte for byte, answered by hand as a kernel
 * would and parsed back; every malformed reply is refused.
 */
#include <arpa/inet.h>
#include <check.h>
#include <endian.h>
#include <glob.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/wire.h"
#include "linkpkt.h"
#include "pcapvec.h"

#ifndef VECTORS_DIR
#error "VECTORS_DIR must be defined by the build"
#endif

/* Only talks to Check on failure (a vector loop runs ~10,000 times). */
#define REQUIRE(cond, ...)                         \
	do {                                       \
		if (!(cond))                       \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

static glob_t vec_glob;

/* ---- the captures, copied --------------------------------------------- */

/* One Homa packet of a capture, with its IP header. */
struct vpkt {
	unsigned frame;
	int ipv;
	uint8_t tos;
	struct homa_addr src, dst;
	uint8_t *ip; /* ip_len bytes, malloc'ed */
	size_t ip_len;
	size_t homa_off; /* where pcapvec found the Homa header */
	size_t homa_len;
};

struct vfile {
	const char *path;
	struct vpkt *p;
	size_t n, cap;
};

static void addr_parse(const char *text, int ipv, struct homa_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (ipv == 4) {
		a->in6.s6_addr[10] = 0xff;
		a->in6.s6_addr[11] = 0xff;
		REQUIRE(inet_pton(AF_INET, text, &a->in6.s6_addr[12]) == 1,
			"bad address %s", text);
	} else {
		REQUIRE(inet_pton(AF_INET6, text, &a->in6) == 1,
			"bad address %s", text);
	}
}

static int vfile_add(const struct pcapvec_pkt *p, void *arg)
{
	struct vfile *f = arg;
	struct vpkt *v;

	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 256;
		f->p = realloc(f->p, f->cap * sizeof(*f->p));
		REQUIRE(f->p != NULL, "out of memory");
	}
	v = &f->p[f->n++];
	v->frame = p->frame;
	v->ipv = p->ipv;
	v->tos = p->tos;
	addr_parse(p->src, p->ipv, &v->src);
	addr_parse(p->dst, p->ipv, &v->dst);
	REQUIRE(p->ip != NULL && p->homa >= p->ip &&
			p->homa + p->homa_len == p->ip + p->ip_len,
		"pcapvec: frame %u: no IP bytes", p->frame);
	v->ip = malloc(p->ip_len);
	REQUIRE(v->ip != NULL, "out of memory");
	memcpy(v->ip, p->ip, p->ip_len);
	v->ip_len = p->ip_len;
	v->homa_off = (size_t)(p->homa - p->ip);
	v->homa_len = p->homa_len;
	return 0;
}

static void vfile_load(struct vfile *f, const char *path)
{
	char err[512];
	int n;

	memset(f, 0, sizeof(*f));
	f->path = path;
	n = pcapvec_foreach(path, vfile_add, f, err, sizeof(err));
	ck_assert_msg(n >= 0, "%s", err);
	ck_assert_uint_eq((size_t)n, f->n);
	ck_assert_msg(n > 0, "%s: no Homa packets", path);
}

static void vfile_free(struct vfile *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->p[i].ip);
	free(f->p);
}

static const char *vname(const struct vfile *f)
{
	return f->path + strlen(VECTORS_DIR) + 1;
}

START_TEST(linkpkt__vectors_present)
{
	unsigned v6 = 0;

	ck_assert_uint_ge(vec_glob.gl_pathc, 3);
	for (size_t i = 0; i < vec_glob.gl_pathc; i++)
		if (strstr(vec_glob.gl_pathv[i], "/ipv6_") != NULL)
			v6++;
	ck_assert_uint_ge(v6, 1);
}
END_TEST

/* ---- linkpkt_ipv4_strip / linkpkt_ipv6_strip ---------------------------- */

/* What the strip must report about v (of either family). */
static void strip_check(const struct vpkt *v, const uint8_t *buf, size_t len)
{
	struct linkpkt_ip ip;
	struct homa_pkt a, b;
	int r, ra, rb;

	memset(&ip, 0xa5, sizeof(ip));
	r = v->ipv == 4 ? linkpkt_ipv4_strip(buf, len, &ip)
			: linkpkt_ipv6_strip(buf, len, &ip);
	REQUIRE(r == 0, "frame %u: strip: %s", v->frame, linkpkt_err_name(r));
	REQUIRE(ip.off == v->homa_off && ip.len == v->homa_len,
		"frame %u: Homa at %zu (%zu bytes), not %zu (%zu)", v->frame,
		ip.off, ip.len, v->homa_off, v->homa_len);
	REQUIRE(ip.proto == HOMA_IPPROTO, "frame %u: proto %u", v->frame,
		ip.proto);
	REQUIRE(ip.prio == v->tos >> 5, "frame %u: prio %u, tos 0x%02x",
		v->frame, ip.prio, v->tos);
	REQUIRE(memcmp(&ip.src, &v->src, sizeof(ip.src)) == 0 &&
			memcmp(&ip.dst, &v->dst, sizeof(ip.dst)) == 0,
		"frame %u: addresses differ", v->frame);
	/* The Homa framing: the same packet as the capture's. */
	ra = wire_decode(buf + ip.off, ip.len, &a);
	rb = wire_decode(v->ip + v->homa_off, v->homa_len, &b);
	REQUIRE(ra == rb, "frame %u: decode %d, capture's %d", v->frame, ra,
		rb);
	REQUIRE(ra < 0 || (a.type == b.type && a.dport == b.dport &&
			   a.sender_id == b.sender_id),
		"frame %u: decoded differently", v->frame);
}

START_TEST(linkpkt_strip__vectors)
{
	struct vfile f;
	unsigned v4 = 0, v6 = 0, cut = 0;
	uint8_t *pad;

	vfile_load(&f, vec_glob.gl_pathv[_i]);
	for (size_t i = 0; i < f.n; i++) {
		const struct vpkt *v = &f.p[i];
		struct linkpkt_ip ip;
		int r;

		strip_check(v, v->ip, v->ip_len);
		/* Bytes past the IP length (padding) are not the packet's. */
		pad = malloc(v->ip_len + 18);
		REQUIRE(pad != NULL, "out of memory");
		memcpy(pad, v->ip, v->ip_len);
		memset(pad + v->ip_len, 0xee, 18);
		strip_check(v, pad, v->ip_len + 18);
		free(pad);
		/* Cut anywhere: refused, never read past the cut. */
		for (size_t n = 0; n < v->ip_len; n += 1 + n / 8) {
			uint8_t *c = malloc(n ? n : 1);

			REQUIRE(c != NULL, "out of memory");
			memcpy(c, v->ip, n);
			r = v->ipv == 4 ? linkpkt_ipv4_strip(c, n, &ip)
					: linkpkt_ipv6_strip(c, n, &ip);
			REQUIRE(r == -LINKPKT_ERR_SHORT ||
					r == -LINKPKT_ERR_LENGTH ||
					(v->ipv == 6 && r == -LINKPKT_ERR_EXT),
				"frame %u cut at %zu: %s", v->frame, n,
				linkpkt_err_name(r));
			free(c);
			cut++;
		}
		if (v->ipv == 4)
			v4++;
		else
			v6++;
	}
	printf("strip: %s: %u IPv4 and %u IPv6 packets stripped, %u cut "
	       "variants refused\n",
	       vname(&f), v4, v6, cut);
	vfile_free(&f);
}
END_TEST

/* A 20-byte IPv4 header + 28 bytes of Homa common header. */
static size_t ip4_make(uint8_t *b, uint8_t proto)
{
	struct homa_wire_common h;

	memset(b, 0, 48);
	b[0] = 0x45;
	b[1] = 0xc0;
	b[2] = 0;
	b[3] = 48;
	b[8] = 64;
	b[9] = proto;
	memcpy(b + 12, "\x0a\x92\x00\x01", 4);
	memcpy(b + 16, "\x0a\x92\x00\x02", 4);
	memset(&h, 0, sizeof(h));
	h.sport = htons(40000);
	h.dport = htons(4000);
	h.type = HOMA_BUSY;
	h.sender_id = htobe64(1000);
	memcpy(b + 20, &h, sizeof(h));
	return 48;
}

START_TEST(linkpkt_ipv4_strip__malformed)
{
	uint8_t b[128];
	struct linkpkt_ip ip;
	size_t n = ip4_make(b, HOMA_IPPROTO);

	ck_assert_int_eq(linkpkt_ipv4_strip(b, n, &ip), 0);
	ck_assert_uint_eq(ip.off, 20);
	ck_assert_uint_eq(ip.len, 28);
	ck_assert_uint_eq(ip.prio, 6);
	ck_assert_int_eq(linkpkt_ipv4_strip(b, 19, &ip), -LINKPKT_ERR_SHORT);
	ck_assert_int_eq(linkpkt_ipv4_strip(b, 0, &ip), -LINKPKT_ERR_SHORT);
	/* Wrong version. */
	b[0] = 0x65;
	ck_assert_int_eq(linkpkt_ipv4_strip(b, n, &ip), -LINKPKT_ERR_VERSION);
	/* IHL below 5 words. */
	b[0] = 0x44;
	ck_assert_int_eq(linkpkt_ipv4_strip(b, n, &ip), -LINKPKT_ERR_IHL);
	b[0] = 0x40;
	ck_assert_int_eq(linkpkt_ipv4_strip(b, n, &ip), -LINKPKT_ERR_IHL);
	/* IHL past the total length, and past the bytes. */
	b[0] = 0x4f;
	ck_assert_int_eq(linkpkt_ipv4_strip(b, n, &ip), -LINKPKT_ERR_LENGTH);
	b[0] = 0x45;
	/* Total length below the header, beyond the bytes. */
	b[3] = 19;
	ck_assert_int_eq(linkpkt_ipv4_strip(b, n, &ip), -LINKPKT_ERR_LENGTH);
	b[3] = 49;
	ck_assert_int_eq(linkpkt_ipv4_strip(b, n, &ip), -LINKPKT_ERR_LENGTH);
	b[2] = 0xff;
	b[3] = 48;
	ck_assert_int_eq(linkpkt_ipv4_strip(b, n, &ip), -LINKPKT_ERR_LENGTH);
	b[2] = 0;
	/* Not Homa. */
	n = ip4_make(b, IPPROTO_TCP);
	ck_assert_int_eq(linkpkt_ipv4_strip(b, n, &ip), -LINKPKT_ERR_PROTO);
	n = ip4_make(b, IPPROTO_UDP);
	ck_assert_int_eq(linkpkt_ipv4_strip(b, n, &ip), -LINKPKT_ERR_PROTO);
	/* Options are skipped; a header of only 20 bytes is empty Homa. */
	n = ip4_make(b, HOMA_IPPROTO);
	memmove(b + 32, b + 20, 28);
	memset(b + 20, 1, 12); /* NOPs */
	b[0] = 0x48;
	b[3] = 60;
	ck_assert_int_eq(linkpkt_ipv4_strip(b, 60, &ip), 0);
	ck_assert_uint_eq(ip.off, 32);
	ck_assert_uint_eq(ip.len, 28);
	n = ip4_make(b, HOMA_IPPROTO);
	b[3] = 20;
	ck_assert_int_eq(linkpkt_ipv4_strip(b, n, &ip), 0);
	ck_assert_uint_eq(ip.len, 0);
}
END_TEST

/* A 40-byte IPv6 header with next header nh and plen payload bytes. */
static void ip6_make(uint8_t *b, uint8_t nh, size_t plen)
{
	memset(b, 0, 40);
	b[0] = 0x6e; /* traffic class 0xe0: priority 7 */
	b[1] = 0x00;
	b[4] = (uint8_t)(plen >> 8);
	b[5] = (uint8_t)plen;
	b[6] = nh;
	b[7] = 64;
	b[8] = 0xfd;
	b[9] = 0x46;
	b[23] = 2;
	b[24] = 0xfd;
	b[25] = 0x46;
	b[39] = 1;
}

START_TEST(linkpkt_ipv6_strip__malformed)
{
	uint8_t b[512];
	struct linkpkt_ip ip;
	unsigned i;

	memset(b, 0, sizeof(b));
	ip6_make(b, HOMA_IPPROTO, 28);
	ck_assert_int_eq(linkpkt_ipv6_strip(b, 68, &ip), 0);
	ck_assert_uint_eq(ip.off, 40);
	ck_assert_uint_eq(ip.len, 28);
	ck_assert_uint_eq(ip.prio, 7);
	ck_assert_uint_eq(ip.src.in6.s6_addr[15], 2);
	ck_assert_uint_eq(ip.dst.in6.s6_addr[15], 1);
	ck_assert_int_eq(linkpkt_ipv6_strip(b, 39, &ip), -LINKPKT_ERR_SHORT);
	ck_assert_int_eq(linkpkt_ipv6_strip(b, 67, &ip), -LINKPKT_ERR_LENGTH);
	b[0] = 0x4e;
	ck_assert_int_eq(linkpkt_ipv6_strip(b, 68, &ip), -LINKPKT_ERR_VERSION);
	ip6_make(b, IPPROTO_TCP, 28);
	ck_assert_int_eq(linkpkt_ipv6_strip(b, 68, &ip), -LINKPKT_ERR_PROTO);

	/* Hop-by-hop (8 bytes), then destination options (16), then Homa. */
	ip6_make(b, 0, 8 + 16 + 28);
	b[40] = 60;
	b[41] = 0;
	b[48] = HOMA_IPPROTO;
	b[49] = 1;
	ck_assert_int_eq(linkpkt_ipv6_strip(b, 40 + 52, &ip), 0);
	ck_assert_uint_eq(ip.off, 64);
	ck_assert_uint_eq(ip.len, 28);
	/* The options header goes past the payload length. */
	ip6_make(b, 0, 8 + 8);
	ck_assert_int_eq(linkpkt_ipv6_strip(b, 40 + 16, &ip), -LINKPKT_ERR_EXT);
	/* An extension header with no room for its first two bytes. */
	ip6_make(b, 0, 0);
	ck_assert_int_eq(linkpkt_ipv6_strip(b, 40, &ip), -LINKPKT_ERR_EXT);
	/* A fragment header is not followed. */
	ip6_make(b, 44, 8 + 28);
	b[40] = HOMA_IPPROTO;
	ck_assert_int_eq(linkpkt_ipv6_strip(b, 40 + 36, &ip), -LINKPKT_ERR_EXT);
	/* More than LINKPKT_IP6_MAX_EXT headers; exactly that many pass. */
	memset(b, 0, sizeof(b));
	ip6_make(b, 60, (LINKPKT_IP6_MAX_EXT + 1) * 8 + 28);
	for (i = 0; i <= LINKPKT_IP6_MAX_EXT; i++)
		b[40 + i * 8] = i < LINKPKT_IP6_MAX_EXT ? 60 : HOMA_IPPROTO;
	ck_assert_int_eq(
		linkpkt_ipv6_strip(b, 40 + (LINKPKT_IP6_MAX_EXT + 1) * 8 + 28,
				   &ip),
		-LINKPKT_ERR_EXT);
	ip6_make(b, 60, LINKPKT_IP6_MAX_EXT * 8 + 28);
	for (i = 0; i < LINKPKT_IP6_MAX_EXT; i++)
		b[40 + i * 8] = i + 1 < LINKPKT_IP6_MAX_EXT ? 60 : HOMA_IPPROTO;
	ck_assert_int_eq(
		linkpkt_ipv6_strip(b, 40 + LINKPKT_IP6_MAX_EXT * 8 + 28, &ip),
		0);
	ck_assert_uint_eq(ip.off, 40 + LINKPKT_IP6_MAX_EXT * 8);
}
END_TEST

/* ---- linkpkt_gro_* ------------------------------------------------------ */

/* The datagrams linkpkt_gro hands out of data[0..len) with seg. */
static size_t gro_all(const uint8_t *data, size_t len, size_t seg, size_t *lens,
		      size_t max, bool *split)
{
	struct linkpkt_gro g;
	const uint8_t *p, *expect = data;
	size_t n = 0, l;

	linkpkt_gro_init(&g, data, len, seg);
	*split = g.split;
	while (linkpkt_gro_next(&g, &p, &l)) {
		REQUIRE(n < max, "too many datagrams");
		REQUIRE(p == expect, "datagram %zu not contiguous", n);
		lens[n++] = l;
		expect += l;
	}
	REQUIRE(!linkpkt_gro_next(&g, &p, &l), "a datagram after the end");
	return n;
}

START_TEST(linkpkt_gro__cases)
{
	static uint8_t d[100];
	size_t lens[128];
	bool split;

	/* No segment size, or one not below the length: one, whole. */
	ck_assert_uint_eq(gro_all(d, 100, 0, lens, 128, &split), 1);
	ck_assert_uint_eq(lens[0], 100);
	ck_assert(!split);
	ck_assert_uint_eq(gro_all(d, 100, 100, lens, 128, &split), 1);
	ck_assert_uint_eq(lens[0], 100);
	ck_assert(!split);
	ck_assert_uint_eq(gro_all(d, 100, 1000, lens, 128, &split), 1);
	/* An empty read is one empty datagram. */
	ck_assert_uint_eq(gro_all(d, 0, 0, lens, 128, &split), 1);
	ck_assert_uint_eq(lens[0], 0);
	ck_assert_uint_eq(gro_all(d, 0, 10, lens, 128, &split), 1);
	/* Split: all but the last exactly seg. */
	ck_assert_uint_eq(gro_all(d, 100, 25, lens, 128, &split), 4);
	ck_assert(split);
	ck_assert_uint_eq(lens[3], 25);
	ck_assert_uint_eq(gro_all(d, 100, 30, lens, 128, &split), 4);
	ck_assert_uint_eq(lens[0], 30);
	ck_assert_uint_eq(lens[3], 10);
	ck_assert_uint_eq(gro_all(d, 100, 99, lens, 128, &split), 2);
	ck_assert_uint_eq(lens[1], 1);
	ck_assert_uint_eq(gro_all(d, 100, 1, lens, 128, &split), 100);
}
END_TEST

/* Most datagrams and bytes of one GRO read (UDP_MAX_SEGMENTS, 64 KiB). */
#define GRO_MAX_SEGS  64
#define GRO_MAX_BYTES 65535

/*
 * Runs of consecutive capture packets that a GRO read could hold (every
 * one as long as the first but the last, which may be shorter), joined
 * and split again: each must come back byte-exact and decode as before.
 */
START_TEST(linkpkt_gro__vectors)
{
	static uint8_t buf[GRO_MAX_BYTES];
	struct vfile f;
	unsigned runs = 0, segs = 0;
	size_t i = 0;

	vfile_load(&f, vec_glob.gl_pathv[_i]);
	while (i < f.n) {
		size_t seg = f.p[i].homa_len, len = 0, j = i, k = 0;
		struct linkpkt_gro g;
		const uint8_t *p;
		size_t l;

		while (j < f.n && j - i < GRO_MAX_SEGS &&
		       len + f.p[j].homa_len <= sizeof(buf) &&
		       f.p[j].homa_len <= seg && seg > 0) {
			memcpy(buf + len, f.p[j].ip + f.p[j].homa_off,
			       f.p[j].homa_len);
			len += f.p[j].homa_len;
			if (f.p[j++].homa_len < seg)
				break;
		}
		if (j == i) {
			i++;
			continue;
		}
		linkpkt_gro_init(&g, buf, len, seg);
		REQUIRE(g.split == (j - i > 1), "%s: run at frame %u: split",
			vname(&f), f.p[i].frame);
		while (linkpkt_gro_next(&g, &p, &l)) {
			const struct vpkt *v = &f.p[i + k];
			struct homa_pkt a, b;

			REQUIRE(i + k < j, "run at frame %u: too many",
				f.p[i].frame);
			REQUIRE(l == v->homa_len &&
					memcmp(p, v->ip + v->homa_off, l) == 0,
				"frame %u: segment differs", v->frame);
			REQUIRE(wire_decode(p, l, &a) ==
					wire_decode(v->ip + v->homa_off,
						    v->homa_len, &b),
				"frame %u: decodes differently", v->frame);
			k++;
		}
		REQUIRE(i + k == j, "run at frame %u: %zu of %zu segments",
			f.p[i].frame, k, j - i);
		runs++;
		segs += (unsigned)k;
		i = j;
	}
	printf("gro: %s: %u packets in %u runs joined and split back\n",
	       vname(&f), segs, runs);
	ck_assert_uint_eq(segs, f.n);
	vfile_free(&f);
}
END_TEST

/* ---- ICMP builders and parsers ----------------------------------------- */

START_TEST(linkpkt_csum__known)
{
	/* RFC 1071's example words 0001 f203 f4f5 f6f7: sum ddf2. */
	static const uint8_t w[] = {0x00, 0x01, 0xf2, 0x03,
				    0xf4, 0xf5, 0xf6, 0xf7};
	static const uint8_t odd[] = {0x01};
	uint8_t ip[20];

	ck_assert_uint_eq(ntohs(linkpkt_csum(w, sizeof(w))), 0x220d);
	ck_assert_uint_eq(ntohs(linkpkt_csum(odd, 1)), 0xfeff);
	ck_assert_uint_eq(ntohs(linkpkt_csum(w, 0)), 0xffff);
	/* A header with its checksum in place sums to 0. */
	memset(ip, 0, sizeof(ip));
	ip[0] = 0x45;
	ip[3] = 48;
	ip[9] = HOMA_IPPROTO;
	{
		uint16_t c = linkpkt_csum(ip, sizeof(ip));

		memcpy(ip + 10, &c, 2);
	}
	ck_assert_uint_eq(linkpkt_csum(ip, sizeof(ip)), 0);
}
END_TEST

/* Answer every packet of a capture (raw and udp link) and parse it back. */
START_TEST(linkpkt_icmp__vectors_round_trip)
{
	static uint8_t buf[2048];
	struct vfile f;
	unsigned built = 0, cut = 0;

	vfile_load(&f, vec_glob.gl_pathv[_i]);
	for (size_t i = 0; i < f.n; i++) {
		const struct vpkt *v = &f.p[i];
		const uint8_t *homa = v->ip + v->homa_off;
		struct homa_wire_common h;
		bool v4 = v->ipv == 4;
		int udp;

		if (v->homa_len < sizeof(h))
			continue;
		memcpy(&h, homa, sizeof(h));
		for (udp = 0; udp < 2; udp++) {
			struct linkpkt_unreach u = {
				.src = v->src,
				.dst = v->dst,
				.prio = (uint8_t)(v->tos >> 5),
				.udp = udp,
				.sport = (uint16_t)(40000 + i),
				.dport = 4146,
				.pkt = homa,
				.len = v->homa_len,
			};
			size_t max = v4 ? LINKPKT_ICMP4_MAX - LINKPKT_IP4_HLEN
					: LINKPKT_ICMP6_MAX - LINKPKT_IP6_HLEN;
			size_t head =
				LINKPKT_ICMP_HLEN +
				(v4 ? LINKPKT_IP4_HLEN : LINKPKT_IP6_HLEN) +
				(udp ? LINKPKT_UDP_HLEN : 0);
			size_t n =
				v4 ? linkpkt_icmp4_build(buf, sizeof(buf), &u)
				   : linkpkt_icmp6_build(buf, sizeof(buf), &u);
			size_t q = v->homa_len < max - head ? v->homa_len
							    : max - head;
			struct linkpkt_icmp m;
			int r;

			REQUIRE(n == head + q, "frame %u: %zu bytes, not %zu",
				v->frame, n, head + q);
			REQUIRE(n <= max, "frame %u: too long", v->frame);
			r = linkpkt_icmp_parse(v4 ? AF_INET : AF_INET6, buf, n,
					       &m);
			REQUIRE(r == 0, "frame %u: parse: %s", v->frame,
				linkpkt_err_name(r));
			REQUIRE(m.type == (v4 ? ICMP_DEST_UNREACH
					      : ICMP6_DST_UNREACH) &&
					m.code ==
						(v4 ? ICMP_PORT_UNREACH
						    : ICMP6_DST_UNREACH_NOPORT),
				"frame %u: type %u code %u", v->frame, m.type,
				m.code);
			REQUIRE(memcmp(&m.ip.src, &v->src, sizeof(v->src)) ==
						0 &&
					memcmp(&m.ip.dst, &v->dst,
					       sizeof(v->dst)) == 0,
				"frame %u: quoted addresses", v->frame);
			REQUIRE(m.ip.prio == v->tos >> 5, "frame %u: prio",
				v->frame);
			REQUIRE(m.udp == (bool)udp, "frame %u: udp", v->frame);
			REQUIRE(!udp || (m.udp_sport == u.sport &&
					 m.udp_dport == u.dport),
				"frame %u: quoted ports %u %u", v->frame,
				m.udp_sport, m.udp_dport);
			REQUIRE(m.quote.full &&
					m.quote.dport == ntohs(h.dport) &&
					m.quote.sport == ntohs(h.sport) &&
					m.quote.type == h.type &&
					m.quote.sender_id ==
						be64toh(h.sender_id),
				"frame %u: quoted dport %u id %llu", v->frame,
				m.quote.dport,
				(unsigned long long)m.quote.sender_id);
			REQUIRE(m.quote.len == q &&
					memcmp(m.quote.homa, homa, q) == 0,
				"frame %u: quote differs", v->frame);
			if (v4)
				REQUIRE(linkpkt_csum(buf + LINKPKT_ICMP_HLEN,
						     LINKPKT_IP4_HLEN) == 0,
					"frame %u: inner IP checksum",
					v->frame);
			built++;
			cut += q < v->homa_len;
		}
	}
	printf("icmp: %s: %u answers built and parsed back, %u with the "
	       "quote cut\n",
	       vname(&f), built, cut);
	ck_assert_uint_gt(built, 0);
	vfile_free(&f);
}
END_TEST

/* A raw-link IPv4 answer about a 48-byte packet; returns its length. */
static size_t icmp4_sample(uint8_t *buf, size_t room, bool udp)
{
	static uint8_t pkt[48];
	struct linkpkt_unreach u;
	uint8_t ip[48];

	ip4_make(ip, HOMA_IPPROTO);
	memcpy(pkt, ip + 20, 28);
	memset(&u, 0, sizeof(u));
	u.src.in6.s6_addr[10] = u.src.in6.s6_addr[11] = 0xff;
	u.dst = u.src;
	memcpy(&u.src.in6.s6_addr[12], ip + 12, 4);
	memcpy(&u.dst.in6.s6_addr[12], ip + 16, 4);
	u.prio = 3;
	u.udp = udp;
	u.sport = 40000;
	u.dport = 4146;
	u.pkt = pkt;
	u.len = sizeof(pkt);
	return linkpkt_icmp4_build(buf, room, &u);
}

/* Put a right ICMP (IPv4) checksum on buf[0..len). */
static void icmp4_resum(uint8_t *buf, size_t len)
{
	uint16_t c;

	buf[2] = buf[3] = 0;
	c = linkpkt_csum(buf, len);
	memcpy(buf + 2, &c, 2);
}

START_TEST(linkpkt_icmp4_build__room)
{
	uint8_t buf[LINKPKT_ICMP4_MAX];
	struct linkpkt_icmp m;
	size_t n;

	ck_assert_uint_eq(icmp4_sample(buf, sizeof(buf), false), 8 + 20 + 48);
	ck_assert_uint_eq(icmp4_sample(buf, sizeof(buf), true),
			  8 + 20 + 8 + 48);
	/* Too little room for the headers: nothing. */
	ck_assert_uint_eq(icmp4_sample(buf, 27, false), 0);
	ck_assert_uint_eq(icmp4_sample(buf, 35, true), 0);
	/* Room for the headers and 10 quoted bytes: cut, still parsed. */
	n = icmp4_sample(buf, 38, false);
	ck_assert_uint_eq(n, 38);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, n, &m), 0);
	ck_assert(!m.quote.full);
	ck_assert_uint_eq(m.quote.len, 10);
	ck_assert_uint_eq(m.quote.dport, 0);
	/* The quoted IP header keeps the whole packet's length. */
	ck_assert_uint_eq((size_t)buf[8 + 2] << 8 | buf[8 + 3], 20 + 48);
	n = icmp4_sample(buf, 36, false);
	ck_assert_uint_eq(n, 36);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, n, &m), 0);
	ck_assert_uint_eq(m.quote.len, 8);
}
END_TEST

START_TEST(linkpkt_icmp_parse__malformed)
{
	uint8_t buf[LINKPKT_ICMP4_MAX], b6[256];
	struct linkpkt_icmp m;
	struct linkpkt_unreach u;
	uint8_t pkt[28];
	size_t n = icmp4_sample(buf, sizeof(buf), false), n6;

	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, n, &m), 0);
	ck_assert_uint_eq(m.quote.dport, 4000);
	ck_assert_uint_eq(m.quote.sender_id, 1000);
	/* Not a family. */
	ck_assert_int_eq(linkpkt_icmp_parse(AF_UNIX, buf, n, &m),
			 -LINKPKT_ERR_VERSION);
	/* Short ICMP. */
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, 7, &m),
			 -LINKPKT_ERR_SHORT);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, 0, &m),
			 -LINKPKT_ERR_SHORT);
	/* Cut (checksum stale), then cut with a right checksum. */
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, 20, &m),
			 -LINKPKT_ERR_CHECKSUM);
	icmp4_resum(buf, 20);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, 20, &m),
			 -LINKPKT_ERR_SHORT);
	/* Only the ICMP header: no quoted IP header at all. */
	icmp4_resum(buf, 8);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, 8, &m),
			 -LINKPKT_ERR_SHORT);
	/* Wrong checksum. */
	n = icmp4_sample(buf, sizeof(buf), false);
	buf[n - 1] ^= 1;
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, n, &m),
			 -LINKPKT_ERR_CHECKSUM);
	/* Not an error message: echo reply, echo request. */
	n = icmp4_sample(buf, sizeof(buf), false);
	buf[0] = ICMP_ECHOREPLY;
	icmp4_resum(buf, n);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, n, &m),
			 -LINKPKT_ERR_ICMP_TYPE);
	buf[0] = ICMP_ECHO;
	icmp4_resum(buf, n);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, n, &m),
			 -LINKPKT_ERR_ICMP_TYPE);
	/* Other errors about a Homa packet are parsed. */
	buf[0] = ICMP_TIME_EXCEEDED;
	buf[1] = 0;
	icmp4_resum(buf, n);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, n, &m), 0);
	ck_assert_uint_eq(m.type, ICMP_TIME_EXCEEDED);
	/* Quoting a non-Homa packet (TCP). */
	n = icmp4_sample(buf, sizeof(buf), false);
	buf[8 + 9] = IPPROTO_TCP;
	icmp4_resum(buf, n);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, n, &m),
			 -LINKPKT_ERR_PROTO);
	/* A quoted IP header of a wrong version, IHL, length. */
	n = icmp4_sample(buf, sizeof(buf), false);
	buf[8] = 0x65;
	icmp4_resum(buf, n);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, n, &m),
			 -LINKPKT_ERR_VERSION);
	buf[8] = 0x43;
	icmp4_resum(buf, n);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, n, &m),
			 -LINKPKT_ERR_IHL);
	buf[8] = 0x4f; /* 60-byte header, 48 bytes quoted after 8 */
	icmp4_resum(buf, 8 + 40);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, 8 + 40, &m),
			 -LINKPKT_ERR_SHORT);
	n = icmp4_sample(buf, sizeof(buf), false);
	buf[8 + 2] = 0;
	buf[8 + 3] = 10;
	icmp4_resum(buf, n);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, n, &m),
			 -LINKPKT_ERR_LENGTH);
	/* udp link: the UDP header must be quoted whole. */
	n = icmp4_sample(buf, sizeof(buf), true);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, n, &m), 0);
	ck_assert(m.udp && m.udp_dport == 4146 && m.udp_sport == 40000);
	icmp4_resum(buf, 8 + 20 + 7);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, 8 + 20 + 7, &m),
			 -LINKPKT_ERR_SHORT);
	icmp4_resum(buf, 8 + 20 + 8);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET, buf, 8 + 20 + 8, &m), 0);
	ck_assert(!m.quote.full);

	/* ICMPv6. */
	memcpy(pkt, "\x9c\x40\x0f\xa0", 4);
	memset(pkt + 4, 0, sizeof(pkt) - 4);
	pkt[7] = HOMA_GRANT;
	pkt[27] = 42; /* sender_id 42 */
	memset(&u, 0, sizeof(u));
	u.src.in6.s6_addr[0] = 0xfd;
	u.src.in6.s6_addr[15] = 2;
	u.dst.in6.s6_addr[0] = 0xfd;
	u.dst.in6.s6_addr[15] = 1;
	u.prio = 7;
	u.pkt = pkt;
	u.len = sizeof(pkt);
	n6 = linkpkt_icmp6_build(b6, sizeof(b6), &u);
	ck_assert_uint_eq(n6, 8 + 40 + 28);
	ck_assert_uint_eq(linkpkt_icmp6_build(b6, 47, &u), 0);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET6, b6, n6, &m), 0);
	ck_assert_uint_eq(m.quote.dport, 4000);
	ck_assert_uint_eq(m.quote.sport, 40000);
	ck_assert_uint_eq(m.quote.sender_id, 42);
	ck_assert_uint_eq(m.ip.prio, 7);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET6, b6, 8 + 39, &m),
			 -LINKPKT_ERR_SHORT);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET6, b6, 8 + 40 + 27, &m), 0);
	ck_assert(!m.quote.full);
	/* Informational (echo request): not an error. */
	b6[0] = ICMP6_ECHO_REQUEST;
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET6, b6, n6, &m),
			 -LINKPKT_ERR_ICMP_TYPE);
	/* Packet too big, quoting a TCP segment. */
	b6[0] = ICMP6_PACKET_TOO_BIG;
	b6[8 + 6] = IPPROTO_TCP;
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET6, b6, n6, &m),
			 -LINKPKT_ERR_PROTO);
	/* Quoting a fragment. */
	b6[8 + 6] = 44;
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET6, b6, n6, &m),
			 -LINKPKT_ERR_EXT);
	/* An IPv4 header where IPv6 belongs. */
	n = icmp4_sample(buf, sizeof(buf), false);
	ck_assert_int_eq(linkpkt_icmp_parse(AF_INET6, buf, n, &m),
			 -LINKPKT_ERR_VERSION);
}
END_TEST

START_TEST(linkpkt_quote_parse__short)
{
	uint8_t q[HOMA_COMMON_LEN];
	struct linkpkt_quote out;

	memset(q, 0xff, sizeof(q));
	ck_assert_int_eq(linkpkt_quote_parse(q, sizeof(q) - 1, &out),
			 -LINKPKT_ERR_SHORT);
	ck_assert(!out.full);
	ck_assert_uint_eq(out.dport, 0);
	ck_assert_uint_eq(out.sender_id, 0);
	ck_assert_uint_eq(out.len, sizeof(q) - 1);
	ck_assert_int_eq(linkpkt_quote_parse(q, 0, &out), -LINKPKT_ERR_SHORT);
	ck_assert_int_eq(linkpkt_quote_parse(q, sizeof(q), &out), 0);
	ck_assert(out.full);
	ck_assert_uint_eq(out.dport, 0xffff);
	ck_assert_uint_eq(out.sender_id, UINT64_MAX);
}
END_TEST

static struct homa_addr addr_of(const char *text)
{
	struct homa_addr a;

	addr_parse(text, strchr(text, ':') ? 6 : 4, &a);
	return a;
}

START_TEST(linkpkt_icmp_unanswerable__addresses)
{
	static const char *const no[] = {"0.0.0.0",	    "224.0.0.1",
					 "239.255.255.255", "255.255.255.255",
					 "ff02::1",	    "::"};
	static const char *const yes[] = {
		"10.146.0.1", "127.0.0.1", "223.255.255.255",
		"fd46::1",    "::1",	   "fe80::1"};
	struct homa_addr a;

	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		a = addr_of(no[i]);
		ck_assert_msg(linkpkt_icmp_unanswerable(&a), "%s", no[i]);
	}
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		a = addr_of(yes[i]);
		ck_assert_msg(!linkpkt_icmp_unanswerable(&a), "%s", yes[i]);
	}
}
END_TEST

START_TEST(linkpkt_err_name__all)
{
	for (int i = 0; i < LINKPKT_ERR_COUNT; i++) {
		ck_assert_str_ne(linkpkt_err_name(i), "unknown");
		ck_assert_str_eq(linkpkt_err_name(i), linkpkt_err_name(-i));
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(linkpkt_err_name(i),
					 linkpkt_err_name(j));
	}
	ck_assert_str_eq(linkpkt_err_name(LINKPKT_ERR_COUNT), "unknown");
	ck_assert_str_eq(linkpkt_err_name(-1000), "unknown");
}
END_TEST

/* ---- echo requests and replies ------------------------------------------ */

/* The IPv4 echo reply a raw ICMP socket reads: IP header (ihl words, the
 * options zero) + the ICMP message msg[0..n), its checksum redone. */
static size_t echo4_reply(uint8_t *buf, unsigned ihl, const uint8_t *msg,
			  size_t n)
{
	size_t hl = (size_t)ihl * 4;
	uint16_t v;

	memset(buf, 0, hl);
	buf[0] = (uint8_t)(0x40 | ihl);
	v = htons((uint16_t)(hl + n));
	memcpy(buf + 2, &v, 2);
	buf[8] = 64;
	buf[9] = IPPROTO_ICMP;
	buf[12] = 10, buf[13] = 1, buf[14] = 2, buf[15] = 3; /* who answered */
	buf[16] = 10, buf[17] = 1, buf[18] = 2, buf[19] = 4;
	v = linkpkt_csum(buf, hl);
	memcpy(buf + 10, &v, 2);
	memcpy(buf + hl, msg, n);
	buf[hl + 2] = buf[hl + 3] = 0;
	v = linkpkt_csum(buf + hl, n);
	memcpy(buf + hl + 2, &v, 2);
	return hl + n;
}

START_TEST(linkpkt_echo_build__known)
{
	static const uint8_t want4[] = {
		8,   0,	  0x8d, 0x5a, 0x12, 0x34, 0xab, 0xcd,
		'h', 'o', 'm',	'a',  'd',  'p',  'r',	'b',
	};
	uint8_t buf[64];

	memset(buf, 0xee, sizeof(buf));
	ck_assert_uint_eq(linkpkt_echo4_build(buf, sizeof(buf), 0x1234, 0xabcd),
			  LINKPKT_ECHO_LEN);
	ck_assert_uint_eq(LINKPKT_ECHO_LEN, sizeof(want4));
	ck_assert_mem_eq(buf, want4, sizeof(want4));
	/* Nothing written past the message; its checksum verifies. */
	ck_assert_uint_eq(buf[LINKPKT_ECHO_LEN], 0xee);
	ck_assert_uint_eq(linkpkt_csum(buf, LINKPKT_ECHO_LEN), 0);

	memset(buf, 0xee, sizeof(buf));
	ck_assert_uint_eq(linkpkt_echo6_build(buf, sizeof(buf), 0x1234, 0xabcd),
			  LINKPKT_ECHO_LEN);
	ck_assert_uint_eq(buf[0], ICMP6_ECHO_REQUEST);
	ck_assert_uint_eq(buf[1], 0);
	/* The kernel fills the ICMPv6 checksum in. */
	ck_assert_uint_eq(buf[2], 0);
	ck_assert_uint_eq(buf[3], 0);
	ck_assert_mem_eq(buf + 4, want4 + 4, sizeof(want4) - 4);
	ck_assert_uint_eq(buf[LINKPKT_ECHO_LEN], 0xee);

	/* Too little room: nothing. */
	memset(buf, 0xee, sizeof(buf));
	ck_assert_uint_eq(linkpkt_echo4_build(buf, LINKPKT_ECHO_LEN - 1, 1, 1),
			  0);
	ck_assert_uint_eq(linkpkt_echo6_build(buf, LINKPKT_ECHO_LEN - 1, 1, 1),
			  0);
	ck_assert_uint_eq(buf[0], 0xee);
}
END_TEST

/* Build a request, answer it by hand as the peer's kernel would, parse. */
START_TEST(linkpkt_echo_parse__round_trip)
{
	static const uint16_t seqs[] = {0, 1, 0x7fff, 0x8000, 0xffff};
	uint8_t req[LINKPKT_ECHO_LEN], rep[128];
	struct linkpkt_echo e;
	struct homa_addr who;
	size_t n, len;

	addr_parse("10.1.2.3", 4, &who);
	for (unsigned i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		uint16_t id = (uint16_t)(0x1000 + i * 0x3333);

		/* IPv4, with and without IP options. */
		for (unsigned ihl = 5; ihl <= 15; ihl += 5) {
			n = linkpkt_echo4_build(req, sizeof(req), id, seqs[i]);
			ck_assert_uint_eq(n, LINKPKT_ECHO_LEN);
			req[0] = ICMP_ECHOREPLY;
			len = echo4_reply(rep, ihl, req, n);
			ck_assert_int_eq(
				linkpkt_echo_parse(AF_INET, rep, len, &e), 0);
			ck_assert_uint_eq(e.id, id);
			ck_assert_uint_eq(e.seq, seqs[i]);
			ck_assert_uint_eq(e.ip.off, ihl * 4);
			ck_assert_uint_eq(e.ip.proto, IPPROTO_ICMP);
			ck_assert_mem_eq(&e.ip.src, &who, sizeof(who));
			ck_assert_uint_eq(e.data_len, 8);
			ck_assert_ptr_eq(e.data, rep + ihl * 4 + 8);
			ck_assert_mem_eq(e.data, LINKPKT_ECHO_DATA, 8);
			/* Bytes after the IP length are not the message. */
			rep[len] = 0x55;
			ck_assert_int_eq(
				linkpkt_echo_parse(AF_INET, rep, len + 1, &e),
				0);
			ck_assert_uint_eq(e.data_len, 8);
		}
		/* IPv6: the read starts at the ICMPv6 header. */
		n = linkpkt_echo6_build(req, sizeof(req), id, seqs[i]);
		ck_assert_uint_eq(n, LINKPKT_ECHO_LEN);
		req[0] = ICMP6_ECHO_REPLY;
		ck_assert_int_eq(linkpkt_echo_parse(AF_INET6, req, n, &e), 0);
		ck_assert_uint_eq(e.id, id);
		ck_assert_uint_eq(e.seq, seqs[i]);
		ck_assert_uint_eq(e.data_len, 8);
		ck_assert_ptr_eq(e.data, req + 8);
		/* A bare header (no payload) is a reply too. */
		ck_assert_int_eq(linkpkt_echo_parse(AF_INET6, req, 8, &e), 0);
		ck_assert_uint_eq(e.data_len, 0);
	}
}
END_TEST

/* Parse a copy of p[0..len) in a buffer of exactly len bytes (ASan). */
static int echo_parse_exact(int family, const uint8_t *p, size_t len)
{
	struct linkpkt_echo e;
	uint8_t *b = malloc(len ? len : 1);
	int r;

	REQUIRE(b != NULL, "out of memory");
	memcpy(b, p, len);
	r = linkpkt_echo_parse(family, b, len, &e);
	REQUIRE(r != 0 || (e.data >= b && e.data + e.data_len <= b + len),
		"payload past the bytes given");
	free(b);
	return r;
}

START_TEST(linkpkt_echo_parse__malformed)
{
	uint8_t req[LINKPKT_ECHO_LEN], good[64], b[64];
	size_t n, len, i;
	uint16_t v;

	n = linkpkt_echo4_build(req, sizeof(req), 7, 9);
	req[0] = ICMP_ECHOREPLY;
	len = echo4_reply(good, 5, req, n);
	ck_assert_int_eq(echo_parse_exact(AF_INET, good, len), 0);

	/* Neither family. */
	ck_assert_int_eq(echo_parse_exact(AF_UNIX, good, len),
			 -LINKPKT_ERR_VERSION);
	/* Every truncation of the IPv4 read: the IP length says more. */
	for (i = 0; i < len; i++)
		ck_assert_int_eq(echo_parse_exact(AF_INET, good, i),
				 i < 20 ? -LINKPKT_ERR_SHORT
					: -LINKPKT_ERR_LENGTH);
	/* Version 6 in an IPv4 read. */
	memcpy(b, good, len);
	b[0] = 0x65;
	ck_assert_int_eq(echo_parse_exact(AF_INET, b, len),
			 -LINKPKT_ERR_VERSION);
	/* IHL below 5. */
	memcpy(b, good, len);
	b[0] = 0x44;
	ck_assert_int_eq(echo_parse_exact(AF_INET, b, len), -LINKPKT_ERR_IHL);
	/* IHL past the IP length and the bytes. */
	memcpy(b, good, len);
	b[0] = 0x4f;
	ck_assert_int_eq(echo_parse_exact(AF_INET, b, len),
			 -LINKPKT_ERR_LENGTH);
	/* IP length below the header, and past the bytes. */
	memcpy(b, good, len);
	v = htons(19);
	memcpy(b + 2, &v, 2);
	ck_assert_int_eq(echo_parse_exact(AF_INET, b, len),
			 -LINKPKT_ERR_LENGTH);
	v = htons((uint16_t)(len + 1));
	memcpy(b + 2, &v, 2);
	ck_assert_int_eq(echo_parse_exact(AF_INET, b, len),
			 -LINKPKT_ERR_LENGTH);
	/* Not ICMP. */
	memcpy(b, good, len);
	b[9] = IPPROTO_UDP;
	ck_assert_int_eq(echo_parse_exact(AF_INET, b, len), -LINKPKT_ERR_PROTO);
	b[9] = HOMA_IPPROTO;
	ck_assert_int_eq(echo_parse_exact(AF_INET, b, len), -LINKPKT_ERR_PROTO);
	/* An IP length that leaves fewer than 8 bytes of ICMP. */
	for (i = 0; i < 8; i++) {
		memcpy(b, good, len);
		v = htons((uint16_t)(20 + i));
		memcpy(b + 2, &v, 2);
		ck_assert_int_eq(echo_parse_exact(AF_INET, b, len),
				 -LINKPKT_ERR_SHORT);
	}
	/* Not an echo reply: a request, an error, code 1. */
	memcpy(b, good, len);
	b[20] = ICMP_ECHO;
	ck_assert_int_eq(echo_parse_exact(AF_INET, b, len),
			 -LINKPKT_ERR_ICMP_TYPE);
	b[20] = ICMP_DEST_UNREACH;
	ck_assert_int_eq(echo_parse_exact(AF_INET, b, len),
			 -LINKPKT_ERR_ICMP_TYPE);
	memcpy(b, good, len);
	b[21] = 1;
	ck_assert_int_eq(echo_parse_exact(AF_INET, b, len),
			 -LINKPKT_ERR_ICMP_TYPE);
	/* A wrong checksum; one byte of the message changed. */
	memcpy(b, good, len);
	b[22] ^= 0x01;
	ck_assert_int_eq(echo_parse_exact(AF_INET, b, len),
			 -LINKPKT_ERR_CHECKSUM);
	memcpy(b, good, len);
	b[len - 1] ^= 0x80;
	ck_assert_int_eq(echo_parse_exact(AF_INET, b, len),
			 -LINKPKT_ERR_CHECKSUM);
	memcpy(b, good, len);
	b[25] ^= 0x01; /* the sequence */
	ck_assert_int_eq(echo_parse_exact(AF_INET, b, len),
			 -LINKPKT_ERR_CHECKSUM);

	/* IPv6: shorter than the ICMPv6 header, and not a reply. */
	n = linkpkt_echo6_build(req, sizeof(req), 7, 9);
	req[0] = ICMP6_ECHO_REPLY;
	ck_assert_int_eq(echo_parse_exact(AF_INET6, req, n), 0);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(echo_parse_exact(AF_INET6, req, i),
				 -LINKPKT_ERR_SHORT);
	memcpy(b, req, n);
	b[0] = ICMP6_ECHO_REQUEST;
	ck_assert_int_eq(echo_parse_exact(AF_INET6, b, n),
			 -LINKPKT_ERR_ICMP_TYPE);
	b[0] = ICMP6_DST_UNREACH;
	ck_assert_int_eq(echo_parse_exact(AF_INET6, b, n),
			 -LINKPKT_ERR_ICMP_TYPE);
	b[0] = ICMP_ECHOREPLY; /* the IPv4 type number */
	ck_assert_int_eq(echo_parse_exact(AF_INET6, b, n),
			 -LINKPKT_ERR_ICMP_TYPE);
	memcpy(b, req, n);
	b[1] = 1;
	ck_assert_int_eq(echo_parse_exact(AF_INET6, b, n),
			 -LINKPKT_ERR_ICMP_TYPE);
	/* An IPv4 read handed over as IPv6 and the other way round. */
	ck_assert_int_eq(echo_parse_exact(AF_INET6, good, len),
			 -LINKPKT_ERR_ICMP_TYPE);
	ck_assert_int_eq(echo_parse_exact(AF_INET, req, n), -LINKPKT_ERR_SHORT);
}
END_TEST

/* Random bytes: never accepted past the bytes given, every error known. */
START_TEST(linkpkt_echo_parse__random)
{
	unsigned ok = 0;

	for (unsigned round = 0; round < 100000; round++) {
		uint8_t b[96];
		size_t len = (size_t)(round * 2654435761u >> 8) % sizeof(b);
		int family = round & 1 ? AF_INET6 : AF_INET, r;

		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (uint8_t)((round * 31 + i * 17) ^
					 (round >> (i & 7)));
		if (family == AF_INET) {
			b[0] = (uint8_t)(0x45 + (round >> 3) % 3);
			b[2] = 0;
			b[3] = (uint8_t)(len - (round >> 5) % 4);
			b[9] = round % 3 ? IPPROTO_ICMP : b[9];
			if (len > 28)
				b[20 + 4 * (b[0] & 0x0f) - 20] = ICMP_ECHOREPLY;
		} else if (len > 0) {
			b[0] = round % 3 ? ICMP6_ECHO_REPLY : b[0];
			if (len > 1)
				b[1] = round % 5 ? 0 : b[1];
		}
		r = echo_parse_exact(family, b, len);
		REQUIRE(r <= 0 && -r < LINKPKT_ERR_COUNT, "r %d", r);
		ok += r == 0;
	}
	ck_assert_uint_gt(ok, 0);
}
END_TEST

/* ---- random bytes -------------------------------------------------------- */

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (uint32_t)(rnd_state >> 32);
}

#define FUZZ_ROUNDS 200000

/*
 * Random headers (a valid-looking start, random rest, random length; the
 * buffer is cut exactly there, so ASan sees any read past it): every
 * result is 0 or a known error, and what is reported lies within the
 * bytes given.
 */
START_TEST(linkpkt__random_bytes)
{
	unsigned ok = 0;

	for (unsigned round = 0; round < FUZZ_ROUNDS; round++) {
		size_t len = rnd() % 200, i;
		uint8_t *b = malloc(len ? len : 1);
		struct linkpkt_ip ip;
		struct linkpkt_icmp m;
		int r, which = (int)(round % 4);

		REQUIRE(b != NULL, "out of memory");
		for (i = 0; i < len; i++)
			b[i] = (uint8_t)rnd();
		/* Make the interesting bytes likely. */
		if (which < 2 && len > 0)
			b[0] = which == 0 ? (uint8_t)(0x40 | (b[0] & 0x0f))
					  : (uint8_t)(0x60 | (b[0] & 0x0f));
		if (which >= 2 && len > 8)
			b[8] = which == 2 ? (uint8_t)(0x40 | (b[8] & 0x0f))
					  : (uint8_t)(0x60 | (b[8] & 0x0f));
		if (which >= 2 && len > 0)
			b[0] = which == 2 ? ICMP_DEST_UNREACH
					  : ICMP6_DST_UNREACH;
		if (len > 9 && (rnd() & 1))
			b[9] = HOMA_IPPROTO;
		if (len > 8 + 6 && (rnd() & 1))
			b[8 + 6] = (rnd() & 1) ? HOMA_IPPROTO : 0;

		if (which < 2) {
			r = which == 0 ? linkpkt_ipv4_strip(b, len, &ip)
				       : linkpkt_ipv6_strip(b, len, &ip);
			REQUIRE(r <= 0 && -r < LINKPKT_ERR_COUNT, "r %d", r);
			REQUIRE(r < 0 || ip.off + ip.len <= len,
				"round %u: %zu + %zu past %zu", round, ip.off,
				ip.len, len);
		} else {
			if (which == 2 && len >= 8 && (rnd() & 1))
				icmp4_resum(b, len);
			r = linkpkt_icmp_parse(which == 2 ? AF_INET : AF_INET6,
					       b, len, &m);
			REQUIRE(r <= 0 && -r < LINKPKT_ERR_COUNT, "r %d", r);
			REQUIRE(r < 0 ||
					(m.quote.homa >= b &&
					 m.quote.homa + m.quote.len <= b + len),
				"round %u: quote past the message", round);
		}
		ok += r == 0;
		free(b);
	}
	printf("random: %u rounds, %u accepted\n", FUZZ_ROUNDS, ok);
	ck_assert_uint_gt(ok, 0);
}
END_TEST

/* ---- direct receive's socket filters ------------------------------------ */

/*
 * A classic BPF interpreter that runs a socket filter as the kernel does
 * on a raw IPv4 socket: the packet starts at the IP header, its length
 * (BPF_LEN) is what the kernel trimmed it to, the IP total length.
 * Registers A and X, scratch M[16]; loads are big-endian and one past the
 * packet ends the program with 0 (the packet dropped).  SKF_NET_OFF loads
 * read from the packet's start.  It knows only the instructions the
 * builders and link.c's class program use; anything else, a jump past the
 * program, a scratch word read before it is written and a program that
 * runs off its end without a RET are errors (test failures).
 */
enum tbpf_status {
	TBPF_OK,
	TBPF_BAD_OP,   /* an instruction it does not know */
	TBPF_BAD_JUMP, /* a jump past the last instruction */
	TBPF_BAD_MEM,  /* M[k] out of range, or read before written */
	TBPF_BAD_OFF,  /* a negative offset other than SKF_NET_OFF's */
	TBPF_FELL_OFF, /* past the last instruction without a RET */
};

static const char *const tbpf_status_name[] = {
	"ok",	       "unknown instruction", "jump past the end",
	"bad scratch", "bad negative offset", "fell off the end",
};

/* Bytes a load of code reads (BPF_W, BPF_H, BPF_B). */
static unsigned tbpf_size(uint16_t code)
{
	return BPF_SIZE(code) == BPF_W ? 4 : BPF_SIZE(code) == BPF_H ? 2 : 1;
}

/*
 * Load size bytes at offset off (the kernel's int offset: X + k or k) of
 * p[0..len) into *v: 1, or 0 if past the packet, -1 for an offset the
 * interpreter does not know.
 */
static int tbpf_load(const uint8_t *p, size_t len, uint32_t off, unsigned size,
		     uint32_t *v)
{
	int32_t s = (int32_t)off;
	uint64_t at;

	if (s >= 0)
		at = (uint64_t)s;
	else if (s >= SKF_NET_OFF && s < SKF_AD_OFF)
		at = (uint64_t)(s - SKF_NET_OFF);
	else
		return -1;
	if (at + size > len)
		return 0;
	*v = 0;
	for (unsigned i = 0; i < size; i++)
		*v = *v << 8 | p[at + i];
	return 1;
}

/* Whether code is an instruction the interpreter knows. */
static bool tbpf_known(uint16_t code)
{
	switch (code) {
	case BPF_LD | BPF_W | BPF_ABS:
	case BPF_LD | BPF_H | BPF_ABS:
	case BPF_LD | BPF_B | BPF_ABS:
	case BPF_LD | BPF_W | BPF_IND:
	case BPF_LD | BPF_H | BPF_IND:
	case BPF_LD | BPF_B | BPF_IND:
	case BPF_LD | BPF_W | BPF_LEN:
	case BPF_LDX | BPF_B | BPF_MSH:
	case BPF_LDX | BPF_W | BPF_IMM:
	case BPF_LDX | BPF_W | BPF_MEM:
	case BPF_ST:
	case BPF_ALU | BPF_ADD | BPF_K:
	case BPF_ALU | BPF_ADD | BPF_X:
	case BPF_ALU | BPF_SUB | BPF_K:
	case BPF_ALU | BPF_SUB | BPF_X:
	case BPF_ALU | BPF_AND | BPF_K:
	case BPF_ALU | BPF_AND | BPF_X:
	case BPF_ALU | BPF_RSH | BPF_K:
	case BPF_ALU | BPF_RSH | BPF_X:
	case BPF_JMP | BPF_JEQ | BPF_K:
	case BPF_JMP | BPF_JEQ | BPF_X:
	case BPF_JMP | BPF_JGE | BPF_K:
	case BPF_JMP | BPF_JGE | BPF_X:
	case BPF_JMP | BPF_JGT | BPF_K:
	case BPF_JMP | BPF_JGT | BPF_X:
	case BPF_JMP | BPF_JSET | BPF_K:
	case BPF_JMP | BPF_JSET | BPF_X:
	case BPF_RET | BPF_K:
		return true;
	default:
		return false;
	}
}

/*
 * The kernel's checks of a program before it attaches it: instructions
 * known, both targets of every jump within it, scratch indices below 16,
 * the last instruction a RET.
 */
static enum tbpf_status tbpf_check(const struct sock_filter *f, size_t n)
{
	if (n == 0)
		return TBPF_FELL_OFF;
	for (size_t pc = 0; pc < n; pc++) {
		uint16_t code = f[pc].code;

		if (!tbpf_known(code))
			return TBPF_BAD_OP;
		if (BPF_CLASS(code) == BPF_JMP &&
		    (pc + 1 + f[pc].jt >= n || pc + 1 + f[pc].jf >= n))
			return TBPF_BAD_JUMP;
		if ((code == BPF_ST || code == (BPF_LDX | BPF_W | BPF_MEM)) &&
		    f[pc].k >= BPF_MEMWORDS)
			return TBPF_BAD_MEM;
		if (code == (BPF_ALU | BPF_RSH | BPF_K) && f[pc].k >= 32)
			return TBPF_BAD_OP;
	}
	return BPF_CLASS(f[n - 1].code) == BPF_RET ? TBPF_OK : TBPF_FELL_OFF;
}

/* Run f[0..n) over p[0..len): TBPF_OK and what it returned in *ret. */
static enum tbpf_status tbpf_run(const struct sock_filter *f, size_t n,
				 const uint8_t *p, size_t len, uint32_t *ret)
{
	uint32_t a = 0, x = 0, m[BPF_MEMWORDS] = {0}, src, v = 0;
	unsigned written = 0; /* bit i: M[i] was stored */
	size_t pc = 0;
	bool jump;
	int r;

	while (pc < n) {
		const struct sock_filter *i = &f[pc++];

		src = BPF_SRC(i->code) == BPF_X ? x : i->k;
		switch (i->code) {
		case BPF_LD | BPF_W | BPF_ABS:
		case BPF_LD | BPF_H | BPF_ABS:
		case BPF_LD | BPF_B | BPF_ABS:
		case BPF_LD | BPF_W | BPF_IND:
		case BPF_LD | BPF_H | BPF_IND:
		case BPF_LD | BPF_B | BPF_IND:
			r = tbpf_load(p, len,
				      BPF_MODE(i->code) == BPF_IND ? x + i->k
								   : i->k,
				      tbpf_size(i->code), &v);
			if (r < 0)
				return TBPF_BAD_OFF;
			if (r == 0) {
				*ret = 0;
				return TBPF_OK;
			}
			a = v;
			break;
		case BPF_LD | BPF_W | BPF_LEN:
			a = (uint32_t)len;
			break;
		case BPF_LDX | BPF_B | BPF_MSH:
			r = tbpf_load(p, len, i->k, 1, &v);
			if (r < 0)
				return TBPF_BAD_OFF;
			if (r == 0) {
				*ret = 0;
				return TBPF_OK;
			}
			x = (v & 0x0f) * 4;
			break;
		case BPF_LDX | BPF_W | BPF_IMM:
			x = i->k;
			break;
		case BPF_LDX | BPF_W | BPF_MEM:
			if (i->k >= BPF_MEMWORDS || !(written >> i->k & 1))
				return TBPF_BAD_MEM;
			x = m[i->k];
			break;
		case BPF_ST:
			if (i->k >= BPF_MEMWORDS)
				return TBPF_BAD_MEM;
			m[i->k] = a;
			written |= 1u << i->k;
			break;
		case BPF_ALU | BPF_ADD | BPF_K:
		case BPF_ALU | BPF_ADD | BPF_X:
			a += src;
			break;
		case BPF_ALU | BPF_SUB | BPF_K:
		case BPF_ALU | BPF_SUB | BPF_X:
			a -= src;
			break;
		case BPF_ALU | BPF_AND | BPF_K:
		case BPF_ALU | BPF_AND | BPF_X:
			a &= src;
			break;
		case BPF_ALU | BPF_RSH | BPF_K:
		case BPF_ALU | BPF_RSH | BPF_X:
			if (src >= 32)
				return TBPF_BAD_OP;
			a >>= src;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
		case BPF_JMP | BPF_JEQ | BPF_X:
		case BPF_JMP | BPF_JGE | BPF_K:
		case BPF_JMP | BPF_JGE | BPF_X:
		case BPF_JMP | BPF_JGT | BPF_K:
		case BPF_JMP | BPF_JGT | BPF_X:
		case BPF_JMP | BPF_JSET | BPF_K:
		case BPF_JMP | BPF_JSET | BPF_X:
			if (pc + i->jt >= n || pc + i->jf >= n)
				return TBPF_BAD_JUMP;
			switch (BPF_OP(i->code)) {
			case BPF_JEQ:
				jump = a == src;
				break;
			case BPF_JGE:
				jump = a >= src;
				break;
			case BPF_JGT:
				jump = a > src;
				break;
			default:
				jump = (a & src) != 0;
				break;
			}
			pc += jump ? i->jt : i->jf;
			break;
		case BPF_RET | BPF_K:
			*ret = i->k;
			return TBPF_OK;
		default:
			return TBPF_BAD_OP;
		}
	}
	return TBPF_FELL_OFF;
}

/* What f[0..n) returns for p[0..len); any interpreter error fails. */
static uint32_t tbpf_ret(const struct sock_filter *f, size_t n,
			 const uint8_t *p, size_t len, const char *what)
{
	uint32_t ret = 0xdeadbeefu;
	enum tbpf_status s = tbpf_run(f, n, p, len, &ret);

	REQUIRE(s == TBPF_OK, "%s: BPF: %s", what, tbpf_status_name[s]);
	return ret;
}

#define TBPF_S(code, k) ((struct sock_filter)BPF_STMT((code), (k)))
#define TBPF_J(code, k, jt, jf) \
	((struct sock_filter)BPF_JUMP((code), (k), (jt), (jf)))

/* The interpreter itself, on programs whose answers are known. */
START_TEST(linkpkt_drx__interpreter)
{
	static const uint8_t p[8] = {0x46, 0xa0, 0x03, 0x04,
				     0x05, 0x06, 0x07, 0x88};
	struct sock_filter f[9];
	uint32_t ret;

	/* Big-endian word, half-word and byte; X + k for IND. */
	f[0] = TBPF_S(BPF_LD | BPF_W | BPF_ABS, 4);
	f[1] = TBPF_J(BPF_JMP | BPF_JEQ | BPF_K, 0x05060788u, 0, 5);
	f[2] = TBPF_S(BPF_LDX | BPF_W | BPF_IMM, 5);
	f[3] = TBPF_S(BPF_LD | BPF_H | BPF_IND, 1);
	f[4] = TBPF_J(BPF_JMP | BPF_JEQ | BPF_K, 0x0788, 0, 2);
	f[5] = TBPF_S(BPF_LD | BPF_B | BPF_ABS, 0);
	f[6] = TBPF_S(BPF_RET | BPF_K, 1);
	f[7] = TBPF_S(BPF_RET | BPF_K, 2);
	ck_assert_int_eq(tbpf_check(f, 8), TBPF_OK);
	ck_assert_uint_eq(tbpf_ret(f, 8, p, sizeof(p), "loads"), 1);
	/* A load past the packet ends the program with 0. */
	ck_assert_uint_eq(tbpf_ret(f, 8, p, 7, "past"), 0);
	f[0] = TBPF_S(BPF_LD | BPF_H | BPF_ABS, 7);
	ck_assert_uint_eq(tbpf_ret(f, 8, p, sizeof(p), "past"), 0);
	/* MSH: X = 4 * (byte & 0xf); LEN; SUB X; SKF_NET_OFF; RSH. */
	f[0] = TBPF_S(BPF_LDX | BPF_B | BPF_MSH, 0);
	f[1] = TBPF_S(BPF_LD | BPF_W | BPF_LEN, 0);
	f[2] = TBPF_S(BPF_ALU | BPF_SUB | BPF_X, 0);
	f[3] = TBPF_J(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(8 - 24), 0, 3);
	f[4] = TBPF_S(BPF_LD | BPF_B | BPF_ABS, (uint32_t)(SKF_NET_OFF + 1));
	f[5] = TBPF_S(BPF_ALU | BPF_RSH | BPF_K, 5);
	f[6] = TBPF_J(BPF_JMP | BPF_JEQ | BPF_K, 5, 1, 0);
	f[7] = TBPF_S(BPF_RET | BPF_K, 0);
	f[8] = TBPF_S(BPF_RET | BPF_K, 3);
	ck_assert_int_eq(tbpf_check(f, 9), TBPF_OK);
	ck_assert_uint_eq(tbpf_ret(f, 9, p, sizeof(p), "msh"), 3);
	/* A jump past the end, running off it, unknown instructions,
	 * scratch misuse. */
	ck_assert_int_eq(tbpf_check(f, 8), TBPF_BAD_JUMP);
	ck_assert_int_eq(tbpf_run(f, 8, p, sizeof(p), &ret), TBPF_BAD_JUMP);
	ck_assert_int_eq(tbpf_check(f + 1, 1), TBPF_FELL_OFF);
	ck_assert_int_eq(tbpf_run(f + 1, 1, p, sizeof(p), &ret), TBPF_FELL_OFF);
	f[0] = TBPF_S(BPF_RET | BPF_A, 0);
	ck_assert_int_eq(tbpf_check(f, 9), TBPF_BAD_OP);
	ck_assert_int_eq(tbpf_run(f, 9, p, sizeof(p), &ret), TBPF_BAD_OP);
	f[0] = TBPF_S(BPF_LDX | BPF_W | BPF_MEM, 3);
	ck_assert_int_eq(tbpf_run(f, 9, p, sizeof(p), &ret), TBPF_BAD_MEM);
	f[0] = TBPF_S(BPF_ST, BPF_MEMWORDS);
	ck_assert_int_eq(tbpf_check(f, 9), TBPF_BAD_MEM);
	f[0] = TBPF_S(BPF_LD | BPF_B | BPF_ABS, (uint32_t)SKF_AD_OFF);
	ck_assert_int_eq(tbpf_run(f, 9, p, sizeof(p), &ret), TBPF_BAD_OFF);
}
END_TEST

/*
 * The documented rule (linkpkt.h, proto/homa_shm.h), written from the
 * Homa DATA layout of spec/wire.md: offsets in the Homa header.
 */
#define DRX_OFF_DPORT  2
#define DRX_OFF_SEQ    4
#define DRX_OFF_TYPE   11
#define DRX_OFF_ID     20
#define DRX_OFF_MSGLEN 28
#define DRX_OFF_ACK    36
#define DRX_OFF_SEG    52
_Static_assert(offsetof(struct homa_wire_common, dport) == DRX_OFF_DPORT, "");
_Static_assert(offsetof(struct homa_wire_common, sequence) == DRX_OFF_SEQ, "");
_Static_assert(offsetof(struct homa_wire_common, type) == DRX_OFF_TYPE, "");
_Static_assert(offsetof(struct homa_wire_common, sender_id) == DRX_OFF_ID, "");
_Static_assert(offsetof(struct homa_wire_data, message_length) ==
		       DRX_OFF_MSGLEN,
	       "");
_Static_assert(offsetof(struct homa_wire_data, ack) == DRX_OFF_ACK, "");
_Static_assert(offsetof(struct homa_wire_data, seg_offset) == DRX_OFF_SEG, "");

static uint64_t drx_get(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

static void drx_put(uint8_t *p, unsigned bytes, uint64_t v)
{
	for (unsigned i = bytes; i-- > 0; v >>= 8)
		p[i] = (uint8_t)v;
}

/*
 * Whether p[0..len), a raw IPv4 read, is direct; if so its port and key.
 * len is the packet's length as the filter sees it (the kernel trimmed it
 * to the IP total length), so the total length field is not read.
 */
static bool drx_ref(const uint8_t *p, size_t len, uint16_t *port, uint32_t *key)
{
	size_t ihl, homa;
	const uint8_t *h;
	uint64_t id;
	uint32_t seg;

	if (len < 1)
		return false;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	if (len < ihl || len - ihl < HOMA_DATA_LEN + 1)
		return false;
	h = p + ihl;
	homa = len - ihl;
	id = drx_get(h + DRX_OFF_ID, 8);
	seg = (uint32_t)drx_get(h + DRX_OFF_SEG, 4);
	if (h[DRX_OFF_TYPE] != HOMA_DATA || !(id & 1) || !(id >> 63) ||
	    drx_get(h + DRX_OFF_SEQ, 4) != 0 ||
	    (seg != 0 && seg != 0xffffffffu) ||
	    drx_get(h + DRX_OFF_ACK, 8) != 0 ||
	    drx_get(h + DRX_OFF_MSGLEN, 4) != homa - HOMA_DATA_LEN)
		return false;
	*port = (uint16_t)drx_get(h + DRX_OFF_DPORT, 2);
	*key = (uint32_t)(id >> 32) & 0x7fffffffu;
	return true;
}

/*
 * Whether p[0..len), a raw IPv4 read, is a direct request; if so its
 * port.  As drx_ref: a whole message in one DATA packet, but an even
 * sender_id (its other bits anything) and the ack not looked at.
 */
static bool drx_req_ref(const uint8_t *p, size_t len, uint16_t *port)
{
	size_t ihl, homa;
	const uint8_t *h;
	uint32_t seg;

	if (len < 1)
		return false;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	if (len < ihl || len - ihl < HOMA_DATA_LEN + 1)
		return false;
	h = p + ihl;
	homa = len - ihl;
	seg = (uint32_t)drx_get(h + DRX_OFF_SEG, 4);
	if (h[DRX_OFF_TYPE] != HOMA_DATA || (h[DRX_OFF_ID + 7] & 1) ||
	    drx_get(h + DRX_OFF_SEQ, 4) != 0 ||
	    (seg != 0 && seg != 0xffffffffu) ||
	    drx_get(h + DRX_OFF_MSGLEN, 4) != homa - HOMA_DATA_LEN)
		return false;
	*port = (uint16_t)drx_get(h + DRX_OFF_DPORT, 2);
	return true;
}

/* Whether port is one of ports[0..n). */
static bool drx_in(uint16_t port, const uint16_t *ports, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (ports[i] == port)
			return true;
	return false;
}

/*
 * Whether homad's prefix for response ports[0..n) and request
 * req_ports[0..m) must drop p[0..len): a direct response to one of the
 * first or a direct request to one of the second.
 */
static bool drx_drop_ref(const uint8_t *p, size_t len, const uint16_t *ports,
			 unsigned n, const uint16_t *req_ports, unsigned m)
{
	uint16_t rp = 0, rq = 0;
	uint32_t rk = 0;
	bool resp = drx_ref(p, len, &rp, &rk), req = drx_req_ref(p, len, &rq);

	REQUIRE(!(resp && req), "a response and a request at once");
	return (resp && drx_in(rp, ports, n)) ||
	       (req && drx_in(rq, req_ports, m));
}

/* Most bytes of IP header, options included, and of payload used. */
#define DRX_PAYLOAD_MAX 1400
#define DRX_PKT_MAX	(60 + HOMA_DATA_LEN + DRX_PAYLOAD_MAX + 64)
/* What the drop prefix's fall-through reaches in these tests. */
#define DRX_PASS 0x12345u
/* The low word of the sender_id of the packets built (odd). */
#define DRX_ID_LOW 0x0badf00du

/* The sender_id of the requests built (even, bit 63 clear). */
#define DRX_REQ_ID 0x2a0badf00cull

/*
 * A DATA packet into b: an IPv4 header of ihl words (options NOPs),
 * protocol 146, then a DATA header to port with sender_id id, at offset
 * 0, no ack, holding the whole message, payload bytes.  Returns its
 * length.
 */
static size_t drx_make_id(uint8_t *b, unsigned ihl, uint16_t port, uint64_t id,
			  size_t payload)
{
	struct homa_wire_data d;
	size_t hl = (size_t)ihl * 4, len = hl + HOMA_DATA_LEN + payload;

	memset(b, 0, hl);
	memset(b + 20, 1, hl - 20);
	b[0] = (uint8_t)(0x40 | ihl);
	b[1] = 0xa0;
	drx_put(b + 2, 2, len);
	b[8] = 64;
	b[9] = HOMA_IPPROTO;
	memcpy(b + 12, "\x0a\x92\x00\x02", 4);
	memcpy(b + 16, "\x0a\x92\x00\x01", 4);
	memset(&d, 0, sizeof(d));
	d.common.sport = htons(4000);
	d.common.dport = htons(port);
	d.common.type = HOMA_DATA;
	d.common.doff = (HOMA_DATA_LEN / 4) << 4;
	d.common.sender_id = htobe64(id);
	d.message_length = htonl((uint32_t)payload);
	d.incoming = htonl((uint32_t)payload);
	d.cutoff_version = htons(3);
	memcpy(b + hl, &d, sizeof(d));
	for (size_t i = 0; i < payload; i++)
		b[hl + HOMA_DATA_LEN + i] = (uint8_t)(i * 7 + 1);
	return len;
}

/* A direct response for (port, key) into b (drx_make_id). */
static size_t drx_make(uint8_t *b, unsigned ihl, uint16_t port, uint32_t key,
		       size_t payload)
{
	return drx_make_id(b, ihl, port,
			   1ull << 63 | (uint64_t)key << 32 | DRX_ID_LOW,
			   payload);
}

/*
 * A direct request to port with sender_id id (even) into b, with an ack
 * of the client RPC ack_id (0: none) at server port 4100.
 */
static size_t drx_make_req(uint8_t *b, unsigned ihl, uint16_t port, uint64_t id,
			   uint64_t ack_id, size_t payload)
{
	size_t len = drx_make_id(b, ihl, port, id, payload);

	drx_put(b + ihl * 4 + DRX_OFF_ACK, 8, ack_id);
	drx_put(b + ihl * 4 + DRX_OFF_ACK + 8, 2, ack_id ? 4100 : 0);
	return len;
}

/* The client's program for (port, key), checked as the kernel would. */
static size_t drx_client_make(struct sock_filter *f, uint16_t port,
			      uint32_t key)
{
	size_t n =
		linkpkt_drx_client_build(f, LINKPKT_DRX_CLIENT_LEN, port, key);
	enum tbpf_status s;

	REQUIRE(n == LINKPKT_DRX_CLIENT_LEN, "client: length %zu", n);
	s = tbpf_check(f, n);
	REQUIRE(s == TBPF_OK, "client: %s", tbpf_status_name[s]);
	for (size_t i = 0; i < n; i++)
		REQUIRE(f[i].code != (BPF_RET | BPF_K) || f[i].k == 0 ||
				f[i].k == 0xffffffffu,
			"client: RET %u", f[i].k);
	return n;
}

/* The server's program for port, checked as the kernel would. */
static size_t drx_server_make(struct sock_filter *f, uint16_t port)
{
	size_t n = linkpkt_drx_server_build(f, LINKPKT_DRX_SERVER_LEN, port);
	enum tbpf_status s;

	REQUIRE(n == LINKPKT_DRX_SERVER_LEN, "server: length %zu", n);
	s = tbpf_check(f, n);
	REQUIRE(s == TBPF_OK, "server: %s", tbpf_status_name[s]);
	for (size_t i = 0; i < n; i++)
		REQUIRE(f[i].code != (BPF_RET | BPF_K) || f[i].k == 0 ||
				f[i].k == 0xffffffffu,
			"server: RET %u", f[i].k);
	return n;
}

/*
 * homad's prefix for response ports[0..n) and request req_ports[0..m)
 * (n + m > 0) followed by tail[0..tn): checked as the kernel would; the
 * prefix's only return is 0.  Returns the whole length.
 */
static size_t drx_drop_make(struct sock_filter *f, const uint16_t *ports,
			    unsigned n, const uint16_t *req_ports, unsigned m,
			    const struct sock_filter *tail, size_t tn)
{
	size_t len = linkpkt_drx_drop_build(f, LINKPKT_DRX_DROP_LEN(n, m),
					    ports, n, req_ports, m);
	enum tbpf_status s;

	REQUIRE(n + m > 0, "drop: no ports");
	REQUIRE(len == LINKPKT_DRX_DROP_LEN(n, m),
		"drop: %u + %u ports: length %zu", n, m, len);
	for (size_t i = 0; i < len; i++)
		REQUIRE(f[i].code != (BPF_RET | BPF_K) || f[i].k == 0,
			"drop: RET %u", f[i].k);
	memcpy(f + len, tail, tn * sizeof(*tail));
	s = tbpf_check(f, len + tn);
	REQUIRE(s == TBPF_OK, "drop: %s", tbpf_status_name[s]);
	return len + tn;
}

static const struct sock_filter drx_sentinel[] = {
	BPF_STMT(BPF_RET | BPF_K, DRX_PASS),
};
static const struct sock_filter drx_accept_all[] = {
	BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
};

/*
 * A class program in the manner of link.c's (IPv4): too short for a type
 * or not DATA: 0x111; DATA of priority (TOS >> 5) 4 or more: 0x222; else
 * 0x333.  It must be reached, from its start, by what the prefix keeps.
 */
#define DRX_CLASS_TYPE_OFF 11
static const struct sock_filter drx_class[] = {
	BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
	BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
	BPF_STMT(BPF_ALU | BPF_SUB | BPF_X, 0),
	BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, DRX_CLASS_TYPE_OFF + 1, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, 0x111),
	BPF_STMT(BPF_LD | BPF_B | BPF_IND, DRX_CLASS_TYPE_OFF),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, HOMA_DATA, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, 0x111),
	BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (uint32_t)(SKF_NET_OFF + 1)),
	BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 5),
	BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 4, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, 0x222),
	BPF_STMT(BPF_RET | BPF_K, 0x333),
};

/* What drx_class returns for p[0..len) (4 * IHL <= len). */
static uint32_t drx_class_ref(const uint8_t *p, size_t len)
{
	size_t ihl = (size_t)(p[0] & 0x0f) * 4;

	if (len - ihl < DRX_CLASS_TYPE_OFF + 1 ||
	    p[ihl + DRX_CLASS_TYPE_OFF] != HOMA_DATA)
		return 0x111;
	return p[1] >> 5 >= 4 ? 0x222 : 0x333;
}

#define DRX_TAIL(t) (t), sizeof(t) / sizeof((t)[0])

/* A drop prefix for up to the most ports, with a tail after it. */
#define DRX_DROP_ROOM                                                         \
	(LINKPKT_DRX_DROP_LEN(LINKPKT_DRX_MAX_PORTS, LINKPKT_DRX_MAX_PORTS) + \
	 16)

/*
 * p[0..len) through homad's prefix for response ports[0..n) and request
 * req_ports[0..m), alone (before a RET of DRX_PASS), before a RET of all
 * and before drx_class: it drops it (0) iff drop_yes, else falls through
 * to what follows it.
 */
static void drx_drop_check(const uint8_t *p, size_t len, const uint16_t *ports,
			   unsigned n, const uint16_t *req_ports, unsigned m,
			   bool drop_yes, const char *what)
{
	struct sock_filter d[DRX_DROP_ROOM];
	size_t dn;
	uint32_t r;

	dn = drx_drop_make(d, ports, n, req_ports, m, DRX_TAIL(drx_sentinel));
	r = tbpf_ret(d, dn, p, len, what);
	ck_assert_msg(r == (drop_yes ? 0 : DRX_PASS),
		      "%s: drop (%u, %u ports): 0x%x", what, n, m, r);
	dn = drx_drop_make(d, ports, n, req_ports, m, DRX_TAIL(drx_accept_all));
	r = tbpf_ret(d, dn, p, len, what);
	ck_assert_msg(r == (drop_yes ? 0 : 0xffffffffu),
		      "%s: drop (%u, %u ports) + RET all: 0x%x", what, n, m, r);
	dn = drx_drop_make(d, ports, n, req_ports, m, DRX_TAIL(drx_class));
	r = tbpf_ret(d, dn, p, len, what);
	ck_assert_msg(r == (drop_yes ? 0 : drx_class_ref(p, len)),
		      "%s: drop (%u, %u ports) + class: 0x%x", what, n, m, r);
}

/*
 * p[0..len) through the client's program of (port, key) and homad's
 * prefix of response ports[0..n) (drx_drop_check): the client keeps it
 * (0xffffffff) iff client_yes, the prefix drops it (0) iff drop_yes, else
 * falls through to what follows it.  The reference must agree.  Then, as
 * the references say: the server's program of port, and the prefix with
 * the same ports as request ports too, and as request ports alone.
 */
static void drx_expect(const uint8_t *p, size_t len, uint16_t port,
		       uint32_t key, const uint16_t *ports, unsigned n,
		       bool client_yes, bool drop_yes, const char *what)
{
	struct sock_filter c[LINKPKT_DRX_CLIENT_LEN], s[LINKPKT_DRX_SERVER_LEN];
	uint16_t rp = 0, rq = 0;
	uint32_t rk = 0, r;
	bool direct = drx_ref(p, len, &rp, &rk), in = false;
	bool req = drx_req_ref(p, len, &rq);
	size_t cn, sn;

	for (unsigned i = 0; i < n; i++)
		in = in || (direct && ports[i] == rp);
	ck_assert_msg(client_yes == (direct && rp == port && rk == key),
		      "%s: the reference disagrees (client)", what);
	ck_assert_msg(drop_yes == in, "%s: the reference disagrees (drop)",
		      what);
	cn = drx_client_make(c, port, key);
	r = tbpf_ret(c, cn, p, len, what);
	ck_assert_msg(r == (client_yes ? 0xffffffffu : 0),
		      "%s: client (%u, %#x): 0x%x", what, port, key, r);
	drx_drop_check(p, len, ports, n, NULL, 0, drop_yes, what);

	sn = drx_server_make(s, port);
	r = tbpf_ret(s, sn, p, len, what);
	ck_assert_msg(r == (req && rq == port ? 0xffffffffu : 0),
		      "%s: server %u: 0x%x", what, port, r);
	drx_drop_check(p, len, ports, n, ports, n,
		       drop_yes || (req && drx_in(rq, ports, n)), what);
	drx_drop_check(p, len, NULL, 0, ports, n, req && drx_in(rq, ports, n),
		       what);
}

/*
 * p[0..len) through the server's program of port and homad's prefix of
 * response ports[0..n) and request req_ports[0..m) (drx_drop_check): the
 * server keeps it (0xffffffff) iff server_yes, the prefix drops it iff
 * drop_yes.  The references must agree.
 */
static void drx_expect_req(const uint8_t *p, size_t len, uint16_t port,
			   const uint16_t *ports, unsigned n,
			   const uint16_t *req_ports, unsigned m,
			   bool server_yes, bool drop_yes, const char *what)
{
	struct sock_filter s[LINKPKT_DRX_SERVER_LEN];
	uint16_t rq = 0;
	bool req = drx_req_ref(p, len, &rq);
	uint32_t r;
	size_t sn;

	ck_assert_msg(server_yes == (req && rq == port),
		      "%s: the reference disagrees (server)", what);
	ck_assert_msg(drop_yes == drx_drop_ref(p, len, ports, n, req_ports, m),
		      "%s: the reference disagrees (drop)", what);
	sn = drx_server_make(s, port);
	r = tbpf_ret(s, sn, p, len, what);
	ck_assert_msg(r == (server_yes ? 0xffffffffu : 0),
		      "%s: server %u: 0x%x", what, port, r);
	drx_drop_check(p, len, ports, n, req_ports, m, drop_yes, what);
}

START_TEST(linkpkt_drx__lengths)
{
	static const unsigned ns[] = {1, 2, 64, LINKPKT_DRX_MAX_PORTS};
	struct sock_filter
		f[LINKPKT_DRX_DROP_LEN(LINKPKT_DRX_MAX_PORTS + 1, 0) + 4];
	uint16_t ports[LINKPKT_DRX_MAX_PORTS + 1];

	for (unsigned i = 0; i <= LINKPKT_DRX_MAX_PORTS; i++)
		ports[i] = (uint16_t)(1000 + 3 * i);

	/* The client's: its length, nothing written past it; too little
	 * room: nothing written. */
	memset(f, 0xee, sizeof(f));
	ck_assert_uint_eq(
		linkpkt_drx_client_build(f, LINKPKT_DRX_CLIENT_LEN, 4000, 7),
		LINKPKT_DRX_CLIENT_LEN);
	ck_assert_int_eq(tbpf_check(f, LINKPKT_DRX_CLIENT_LEN), TBPF_OK);
	memset(f, 0xee, sizeof(f));
	ck_assert_uint_eq(
		linkpkt_drx_client_build(f, sizeof(f) / sizeof(f[0]), 4000, 7),
		LINKPKT_DRX_CLIENT_LEN);
	ck_assert_uint_eq(f[LINKPKT_DRX_CLIENT_LEN].code, 0xeeee);
	memset(f, 0xee, sizeof(f));
	ck_assert_uint_eq(linkpkt_drx_client_build(
				  f, LINKPKT_DRX_CLIENT_LEN - 1, 4000, 7),
			  0);
	ck_assert_uint_eq(linkpkt_drx_client_build(f, 0, 4000, 7), 0);
	ck_assert_uint_eq(f[0].code, 0xeeee);

	/* homad's, for 1 to the most response ports. */
	ck_assert_uint_eq(LINKPKT_DRX_DROP_LEN(0, 0), 0);
	for (unsigned i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		size_t want = LINKPKT_DRX_DROP_LEN(ns[i], 0);

		memset(f, 0xee, sizeof(f));
		ck_assert_uint_eq(
			linkpkt_drx_drop_build(f, want, ports, ns[i], NULL, 0),
			want);
		f[want] = drx_sentinel[0];
		ck_assert_int_eq(tbpf_check(f, want + 1), TBPF_OK);
		memset(f, 0xee, sizeof(f));
		ck_assert_uint_eq(linkpkt_drx_drop_build(f, want + 3, ports,
							 ns[i], NULL, 0),
				  want);
		ck_assert_uint_eq(f[want].code, 0xeeee);
		memset(f, 0xee, sizeof(f));
		ck_assert_uint_eq(linkpkt_drx_drop_build(f, want - 1, ports,
							 ns[i], NULL, 0),
				  0);
		ck_assert_uint_eq(f[0].code, 0xeeee);
	}
	/* No ports, too many, no room. */
	ck_assert_uint_eq(linkpkt_drx_drop_build(f, sizeof(f) / sizeof(f[0]),
						 ports, 0, NULL, 0),
			  0);
	ck_assert_uint_eq(
		linkpkt_drx_drop_build(f, sizeof(f) / sizeof(f[0]), ports,
				       LINKPKT_DRX_MAX_PORTS + 1, NULL, 0),
		0);
	ck_assert_uint_eq(linkpkt_drx_drop_build(f, 0, ports, 1, NULL, 0), 0);
	ck_assert_uint_eq(f[0].code, 0xeeee);
}
END_TEST

/*
 * The server's program and homad's prefix with request ports: the lengths
 * the header gives, nothing written past them, nothing at all with one
 * instruction less room, and lists too long refused.
 */
START_TEST(linkpkt_drx__server_lengths)
{
	static const unsigned ns[] = {0, 1, 2, 64, 127, LINKPKT_DRX_MAX_PORTS};
	struct sock_filter f[LINKPKT_DRX_DROP_LEN(LINKPKT_DRX_MAX_PORTS + 1,
						  LINKPKT_DRX_MAX_PORTS + 1) +
			     4];
	uint16_t ports[LINKPKT_DRX_MAX_PORTS + 1];
	uint16_t req[LINKPKT_DRX_MAX_PORTS + 1];
	const size_t room = sizeof(f) / sizeof(f[0]);
	unsigned combos = 0;

	for (unsigned i = 0; i <= LINKPKT_DRX_MAX_PORTS; i++) {
		ports[i] = (uint16_t)(1000 + 3 * i);
		req[i] = (uint16_t)(3000 + 5 * i);
	}

	/* The layout linkpkt.h documents: 25 + n, 19 + m, a RET. */
	ck_assert_uint_eq(LINKPKT_DRX_SERVER_LEN, 22);
	ck_assert_uint_eq(LINKPKT_DRX_DROP_LEN(0, 0), 0);
	ck_assert_uint_eq(LINKPKT_DRX_DROP_LEN(5, 0), 26 + 5);
	ck_assert_uint_eq(LINKPKT_DRX_DROP_LEN(0, 5), 20 + 5);
	ck_assert_uint_eq(LINKPKT_DRX_DROP_LEN(5, 7), 45 + 5 + 7);
	ck_assert_uint_eq(LINKPKT_DRX_DROP_LEN(LINKPKT_DRX_MAX_PORTS,
					       LINKPKT_DRX_MAX_PORTS),
			  45 + 2 * LINKPKT_DRX_MAX_PORTS);

	/* The server's. */
	memset(f, 0xee, sizeof(f));
	ck_assert_uint_eq(
		linkpkt_drx_server_build(f, LINKPKT_DRX_SERVER_LEN, 4000),
		LINKPKT_DRX_SERVER_LEN);
	ck_assert_int_eq(tbpf_check(f, LINKPKT_DRX_SERVER_LEN), TBPF_OK);
	memset(f, 0xee, sizeof(f));
	ck_assert_uint_eq(linkpkt_drx_server_build(f, room, 4000),
			  LINKPKT_DRX_SERVER_LEN);
	ck_assert_uint_eq(f[LINKPKT_DRX_SERVER_LEN].code, 0xeeee);
	memset(f, 0xee, sizeof(f));
	ck_assert_uint_eq(
		linkpkt_drx_server_build(f, LINKPKT_DRX_SERVER_LEN - 1, 4000),
		0);
	ck_assert_uint_eq(linkpkt_drx_server_build(f, 0, 4000), 0);
	ck_assert_uint_eq(f[0].code, 0xeeee);

	/* homad's, for every pair of list sizes. */
	for (unsigned i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		for (unsigned j = 0; j < sizeof(ns) / sizeof(ns[0]); j++) {
			unsigned n = ns[i], m = ns[j];
			size_t want = LINKPKT_DRX_DROP_LEN(n, m);

			if (n + m == 0)
				continue;
			memset(f, 0xee, sizeof(f));
			ck_assert_uint_eq(linkpkt_drx_drop_build(f, want, ports,
								 n, req, m),
					  want);
			f[want] = drx_sentinel[0];
			ck_assert_int_eq(tbpf_check(f, want + 1), TBPF_OK);
			memset(f, 0xee, sizeof(f));
			ck_assert_uint_eq(linkpkt_drx_drop_build(f, want + 3,
								 ports, n, req,
								 m),
					  want);
			ck_assert_uint_eq(f[want].code, 0xeeee);
			memset(f, 0xee, sizeof(f));
			ck_assert_uint_eq(linkpkt_drx_drop_build(f, want - 1,
								 ports, n, req,
								 m),
					  0);
			ck_assert_uint_eq(f[0].code, 0xeeee);
			combos++;
		}
	ck_assert_uint_eq(combos, 6 * 6 - 1);

	/* Either list too long, neither, no room: nothing written. */
	memset(f, 0xee, sizeof(f));
	ck_assert_uint_eq(linkpkt_drx_drop_build(f, room, ports, 0, req,
						 LINKPKT_DRX_MAX_PORTS + 1),
			  0);
	ck_assert_uint_eq(linkpkt_drx_drop_build(f, room, ports,
						 LINKPKT_DRX_MAX_PORTS + 1, req,
						 0),
			  0);
	ck_assert_uint_eq(linkpkt_drx_drop_build(f, room, ports, 1, req,
						 LINKPKT_DRX_MAX_PORTS + 1),
			  0);
	ck_assert_uint_eq(linkpkt_drx_drop_build(f, room, ports,
						 LINKPKT_DRX_MAX_PORTS + 1, req,
						 1),
			  0);
	ck_assert_uint_eq(linkpkt_drx_drop_build(f, room, ports,
						 LINKPKT_DRX_MAX_PORTS, req,
						 LINKPKT_DRX_MAX_PORTS + 1),
			  0);
	ck_assert_uint_eq(linkpkt_drx_drop_build(f, room, ports,
						 LINKPKT_DRX_MAX_PORTS + 1, req,
						 LINKPKT_DRX_MAX_PORTS),
			  0);
	ck_assert_uint_eq(
		linkpkt_drx_drop_build(f, room, ports, UINT32_MAX, req, 1), 0);
	ck_assert_uint_eq(linkpkt_drx_drop_build(f, room, NULL, 0, NULL, 0), 0);
	ck_assert_uint_eq(linkpkt_drx_drop_build(f, 0, ports, 1, req, 1), 0);
	ck_assert_uint_eq(f[0].code, 0xeeee);
	/* An empty list may be NULL. */
	ck_assert_uint_eq(linkpkt_drx_drop_build(f, room, NULL, 0, req, 3),
			  LINKPKT_DRX_DROP_LEN(0, 3));
	ck_assert_uint_eq(linkpkt_drx_drop_build(f, room, ports, 3, NULL, 0),
			  LINKPKT_DRX_DROP_LEN(3, 0));
}
END_TEST

/* A direct packet: kept by its client, dropped by homad's prefix when it
 * names the port, alone or among others, let through when it does not. */
static void drx_direct_case(unsigned ihl, size_t payload, uint16_t port,
			    uint32_t key, uint32_t seg_offset)
{
	uint16_t in[4] = {(uint16_t)(port + 1), 7, port, (uint16_t)(port - 1)};
	uint16_t out[2] = {(uint16_t)(port + 1), (uint16_t)(port - 1)};
	uint8_t b[DRX_PKT_MAX];
	size_t len = drx_make(b, ihl, port, key, payload);
	char what[128];

	drx_put(b + ihl * 4 + DRX_OFF_SEG, 4, seg_offset);
	snprintf(what, sizeof(what),
		 "ihl %u, %zu bytes, port %u, key %#x, seg_offset %#x", ihl,
		 payload, port, key, seg_offset);
	drx_expect(b, len, port, key, &port, 1, true, true, what);
	drx_expect(b, len, port, key, in, 4, true, true, what);
	drx_expect(b, len, port, key, out, 2, true, false, what);
}

START_TEST(linkpkt_drx__direct)
{
	static const unsigned ihls[] = {5, 6, 15};
	static const size_t payloads[] = {1, 2, 100, DRX_PAYLOAD_MAX};
	static const uint16_t portv[] = {0, 1, 4000, 65535};
	static const uint32_t keys[] = {0, 1, 0x12345, 0x7fffffff};

	for (unsigned i = 0; i < 3 * 4 * 4 * 2; i++)
		drx_direct_case(ihls[i % 3], payloads[i / 3 % 4],
				portv[i / 12 % 4], keys[(i / 3 + i / 12) % 4],
				i / 48 ? HOMA_SEG_OFFSET_NONE : 0);
}
END_TEST

/* One change to a direct packet of (port, key); its new length. */
static size_t drx_mutate(uint8_t *b, size_t len, unsigned ihl, unsigned which,
			 const char **name)
{
	uint8_t *h = b + ihl * 4;
	size_t payload = len - ihl * 4 - HOMA_DATA_LEN;

	switch (which) {
	case 0:
		*name = "type GRANT";
		h[DRX_OFF_TYPE] = HOMA_GRANT;
		return len;
	case 1:
		*name = "type DATA | 0x80";
		h[DRX_OFF_TYPE] = HOMA_DATA | 0x80;
		return len;
	case 2:
		*name = "sender_id even";
		h[DRX_OFF_ID + 7] &= 0xfe;
		return len;
	case 3:
		*name = "sender_id bit 63 clear";
		h[DRX_OFF_ID] &= 0x7f;
		return len;
	case 17:
		*name = "sender_id bit 63 clear, bit 62 set";
		h[DRX_OFF_ID] = 0x40;
		return len;
	case 4:
		*name = "sequence 1";
		drx_put(h + DRX_OFF_SEQ, 4, 1);
		return len;
	case 5:
		*name = "sequence 0x80000000";
		drx_put(h + DRX_OFF_SEQ, 4, 0x80000000u);
		return len;
	case 6:
		*name = "seg_offset 1400";
		drx_put(h + DRX_OFF_SEG, 4, 1400);
		return len;
	case 7:
		*name = "seg_offset 0xfffffffe";
		drx_put(h + DRX_OFF_SEG, 4, 0xfffffffeu);
		return len;
	case 8:
		*name = "ack.client_id high half";
		drx_put(h + DRX_OFF_ACK, 4, 0x100);
		return len;
	case 9:
		*name = "ack.client_id low half";
		drx_put(h + DRX_OFF_ACK + 4, 4, 2);
		return len;
	case 10:
		*name = "message_length + 1";
		drx_put(h + DRX_OFF_MSGLEN, 4, payload + 1);
		return len;
	case 11:
		*name = "message_length - 1";
		drx_put(h + DRX_OFF_MSGLEN, 4, payload - 1);
		return len;
	case 12:
		*name = "message_length 0xffffffff";
		drx_put(h + DRX_OFF_MSGLEN, 4, 0xffffffffu);
		return len;
	case 13:
		*name = "no payload";
		return ihl * 4 + HOMA_DATA_LEN;
	case 14:
		*name = "no payload, message_length 0";
		drx_put(h + DRX_OFF_MSGLEN, 4, 0);
		return ihl * 4 + HOMA_DATA_LEN;
	case 15:
		*name = "a byte short";
		return len - 1;
	case 16:
		*name = "a byte more";
		b[len] = 0x5a;
		return len + 1;
	default:
		*name = NULL;
		return 0;
	}
}

/* Every single change that makes a packet not direct. */
START_TEST(linkpkt_drx__not_direct)
{
	static const unsigned ihls[] = {5, 6, 15};
	static const size_t payloads[] = {1, 100, DRX_PAYLOAD_MAX};
	uint8_t b[DRX_PKT_MAX];
	char what[160];
	unsigned cases = 0;

	for (unsigned a = 0; a < sizeof(ihls) / sizeof(ihls[0]); a++)
		for (unsigned c = 0; c < sizeof(payloads) / sizeof(payloads[0]);
		     c++)
			for (unsigned m = 0;; m++) {
				uint16_t port = 4000, key = 0x2a;
				uint16_t ports[3] = {1, port, 65535};
				size_t len = drx_make(b, ihls[a], port, key,
						      payloads[c]);
				const char *name;

				len = drx_mutate(b, len, ihls[a], m, &name);
				if (name == NULL)
					break;
				snprintf(what, sizeof(what),
					 "ihl %u, %zu bytes: %s", ihls[a],
					 payloads[c], name);
				drx_expect(b, len, port, key, ports, 3, false,
					   false, what);
				cases++;
			}
	ck_assert_uint_eq(cases, 9 * 18);
}
END_TEST

/* Another key: the client's program refuses, homad's still drops. */
START_TEST(linkpkt_drx__key_and_port)
{
	static const unsigned ihls[] = {5, 6, 15};
	uint8_t b[DRX_PKT_MAX];
	uint16_t ports[2] = {4000, 4001};
	uint16_t others[3] = {3999, 4002, 0};
	size_t len;

	for (unsigned a = 0; a < sizeof(ihls) / sizeof(ihls[0]); a++) {
		len = drx_make(b, ihls[a], 4000, 0x1234, 10);
		drx_expect(b, len, 4000, 0x1234, ports, 2, true, true, "right");
		drx_expect(b, len, 4000, 0x1235, ports, 2, false, true,
			   "key + 1");
		drx_expect(b, len, 4000, 0x1234 | 0x40000000, ports, 2, false,
			   true, "key bit 30");
		drx_expect(b, len, 4000, 0, ports, 2, false, true, "key 0");
		drx_expect(b, len, 4001, 0x1234, ports, 2, false, true,
			   "client port 4001");
		drx_expect(b, len, 4000, 0x1234, others, 3, true, false,
			   "ports not named");
		/* The packet's key is any 31 bits. */
		len = drx_make(b, ihls[a], 4001, 0x7fffffff, 1);
		drx_expect(b, len, 4001, 0x7fffffff, ports, 2, true, true,
			   "key 0x7fffffff");
		drx_expect(b, len, 4001, 0x3fffffff, ports, 2, false, true,
			   "key 0x3fffffff");
		len = drx_make(b, ihls[a], 4001, 0, 1);
		drx_expect(b, len, 4001, 0, ports, 2, true, true, "key 0");
		drx_expect(b, len, 4001, 1, ports, 2, false, true, "key 1");
	}
}
END_TEST

/*
 * Short packets, down to an IP header alone, and every cut of a direct
 * one: the client refuses, homad's prefix lets each through (a load past
 * the packet would end it with 0 and drop it from homad's socket).
 */
START_TEST(linkpkt_drx__short)
{
	static const unsigned ihls[] = {5, 6, 15};
	uint8_t b[DRX_PKT_MAX], full[DRX_PKT_MAX];
	uint16_t ports[1] = {4000};
	char what[96];
	size_t len, cut;

	len = drx_make(b, 5, 4000, 9, 1);
	drx_expect(b, 20, 4000, 9, ports, 1, false, false, "IP header alone");
	drx_expect(b, 30, 4000, 9, ports, 1, false, false, "30 bytes");
	memset(b + 20, 0xff, 40);
	drx_expect(b, 30, 4000, 9, ports, 1, false, false, "30 bytes of 0xff");
	drx_expect(b, 20 + HOMA_DATA_LEN, 4000, 9, ports, 1, false, false,
		   "a DATA header of 0xff");
	for (unsigned a = 0; a < sizeof(ihls) / sizeof(ihls[0]); a++) {
		len = drx_make(full, ihls[a], 4000, 9, 3);
		for (cut = ihls[a] * 4; cut < len; cut++) {
			memcpy(b, full, len);
			drx_put(b + 2, 2, cut);
			snprintf(what, sizeof(what), "ihl %u: cut at %zu",
				 ihls[a], cut);
			drx_expect(b, cut, 4000, 9, ports, 1, false, false,
				   what);
		}
		drx_expect(full, len, 4000, 9, ports, 1, true, true, "whole");
	}
}
END_TEST

/* The most ports homad names: each dropped, wherever in the list. */
START_TEST(linkpkt_drx__many_ports)
{
	static const unsigned ns[] = {1, 2, 3, 64, 127, LINKPKT_DRX_MAX_PORTS};
	uint16_t ports[LINKPKT_DRX_MAX_PORTS];
	uint8_t b[DRX_PKT_MAX];
	char what[64];
	size_t len;

	for (unsigned i = 0; i < LINKPKT_DRX_MAX_PORTS; i++)
		ports[i] = (uint16_t)(40000 + 11 * i);
	for (unsigned k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		unsigned n = ns[k];

		for (unsigned i = 0; i < n; i++) {
			len = drx_make(b, 5 + i % 11, ports[i], i, 1 + i);
			snprintf(what, sizeof(what), "%u ports: port %u", n, i);
			drx_expect(b, len, ports[i], i, ports, n, true, true,
				   what);
		}
		len = drx_make(b, 5, 39999, 1, 5);
		drx_expect(b, len, 39999, 1, ports, n, true, false,
			   "below the ports");
		len = drx_make(b, 5, (uint16_t)(ports[n - 1] + 1), 1, 5);
		drx_expect(b, len, (uint16_t)(ports[n - 1] + 1), 1, ports, n,
			   true, false, "past the last port");
	}
}
END_TEST

/* ---- direct requests ---- */

/*
 * A direct request: kept by its server's program; dropped by homad's
 * prefix when its request ports name the port, alone or among others,
 * let through when only its response ports do, or neither.
 */
static void drx_request_case(unsigned ihl, size_t payload, uint16_t port,
			     uint64_t id, uint64_t ack_id, uint32_t seg_offset)
{
	uint16_t in[4] = {(uint16_t)(port + 1), 7, port, (uint16_t)(port - 1)};
	uint16_t out[2] = {(uint16_t)(port + 1), (uint16_t)(port - 1)};
	uint8_t b[DRX_PKT_MAX];
	size_t len = drx_make_req(b, ihl, port, id, ack_id, payload);
	char what[160];

	drx_put(b + ihl * 4 + DRX_OFF_SEG, 4, seg_offset);
	snprintf(what, sizeof(what),
		 "request: ihl %u, %zu bytes, port %u, id %#llx, ack %#llx, "
		 "seg_offset %#x",
		 ihl, payload, port, (unsigned long long)id,
		 (unsigned long long)ack_id, seg_offset);
	drx_expect_req(b, len, port, NULL, 0, &port, 1, true, true, what);
	drx_expect_req(b, len, port, out, 2, in, 4, true, true, what);
	drx_expect_req(b, len, port, in, 4, in, 4, true, true, what);
	drx_expect_req(b, len, port, in, 4, out, 2, true, false, what);
	drx_expect_req(b, len, port, in, 4, NULL, 0, true, false, what);
	drx_expect_req(b, len, (uint16_t)(port + 1), out, 2, out, 2, false,
		       false, what);
}

START_TEST(linkpkt_drx__request_direct)
{
	static const unsigned ihls[] = {5, 6, 15};
	static const size_t payloads[] = {1, 2, 100, DRX_PAYLOAD_MAX};
	static const uint16_t portv[] = {0, 1, 4000, 65535};
	/* Any high bits, even a keyed response's; bit 0 clear. */
	static const uint64_t ids[] = {
		0,
		2,
		DRX_REQ_ID,
		0x123456789abcdef0ull,
		1ull << 63 | 0x2aull << 32 | (DRX_ID_LOW & ~1u),
		0xfffffffffffffffeull,
	};
	static const uint64_t acks[] = {0, 2, 0x8000002a0badf00cull,
					0xffffffffffffffffull};
	unsigned cases = 0;

	for (unsigned a = 0; a < sizeof(ihls) / sizeof(ihls[0]); a++)
		for (unsigned c = 0; c < sizeof(payloads) / sizeof(payloads[0]);
		     c++)
			for (unsigned i = 0; i < 6 * 4 * 2; i++) {
				drx_request_case(ihls[a], payloads[c],
						 portv[(i + a + c) % 4],
						 ids[i % 6], acks[i / 6 % 4],
						 i / 24 ? HOMA_SEG_OFFSET_NONE
							: 0);
				cases++;
			}
	ck_assert_uint_eq(cases, 3 * 4 * 48);
}
END_TEST

/* One change to a direct request to port; its new length. */
static size_t drx_req_mutate(uint8_t *b, size_t len, unsigned ihl,
			     unsigned which, const char **name)
{
	uint8_t *h = b + ihl * 4;
	size_t payload = len - ihl * 4 - HOMA_DATA_LEN;

	switch (which) {
	case 0:
		*name = "type GRANT";
		h[DRX_OFF_TYPE] = HOMA_GRANT;
		return len;
	case 1:
		*name = "type DATA | 0x80";
		h[DRX_OFF_TYPE] = HOMA_DATA | 0x80;
		return len;
	case 2:
		*name = "type 0";
		h[DRX_OFF_TYPE] = 0;
		return len;
	case 3:
		*name = "sender_id odd";
		h[DRX_OFF_ID + 7] |= 1;
		return len;
	case 4:
		*name = "sequence 1";
		drx_put(h + DRX_OFF_SEQ, 4, 1);
		return len;
	case 5:
		*name = "sequence 0x80000000";
		drx_put(h + DRX_OFF_SEQ, 4, 0x80000000u);
		return len;
	case 6:
		*name = "seg_offset 1";
		drx_put(h + DRX_OFF_SEG, 4, 1);
		return len;
	case 7:
		*name = "seg_offset 1400";
		drx_put(h + DRX_OFF_SEG, 4, 1400);
		return len;
	case 8:
		*name = "seg_offset 0xfffffffe";
		drx_put(h + DRX_OFF_SEG, 4, 0xfffffffeu);
		return len;
	case 9:
		*name = "message_length + 1";
		drx_put(h + DRX_OFF_MSGLEN, 4, payload + 1);
		return len;
	case 10:
		*name = "message_length - 1";
		drx_put(h + DRX_OFF_MSGLEN, 4, payload - 1);
		return len;
	case 11:
		*name = "message_length 0xffffffff";
		drx_put(h + DRX_OFF_MSGLEN, 4, 0xffffffffu);
		return len;
	case 12:
		*name = "message_length 0xffffffc8 (+ 56 wraps to 0)";
		drx_put(h + DRX_OFF_MSGLEN, 4, 0u - HOMA_DATA_LEN);
		return len;
	case 13:
		*name = "no payload";
		return ihl * 4 + HOMA_DATA_LEN;
	case 14:
		*name = "no payload, message_length 0";
		drx_put(h + DRX_OFF_MSGLEN, 4, 0);
		return ihl * 4 + HOMA_DATA_LEN;
	case 15:
		*name = "a byte short";
		return len - 1;
	case 16:
		*name = "a byte more";
		b[len] = 0x5a;
		return len + 1;
	case 17:
		*name = "dport + 1";
		drx_put(h + DRX_OFF_DPORT, 2,
			drx_get(h + DRX_OFF_DPORT, 2) + 1);
		return len;
	case 18:
		*name = "dport byte-swapped";
		drx_put(h + DRX_OFF_DPORT, 2,
			__builtin_bswap16(
				(uint16_t)drx_get(h + DRX_OFF_DPORT, 2)));
		return len;
	default:
		*name = NULL;
		return 0;
	}
}

/*
 * Every single change that makes a request not direct for its port: its
 * server refuses it, homad's prefix lets it through whichever lists name
 * the port (with an id of bit 63 clear, or an ack, an odd id is no direct
 * response either).
 */
START_TEST(linkpkt_drx__request_not_direct)
{
	static const unsigned ihls[] = {5, 6, 15};
	static const size_t payloads[] = {1, 100, DRX_PAYLOAD_MAX};
	static const uint64_t ids[] = {DRX_REQ_ID,
				       1ull << 63 | 0x2aull << 32 | 0x10};
	static const uint64_t acks[] = {0, 0x44};
	uint8_t b[DRX_PKT_MAX];
	char what[200];
	unsigned cases = 0;

	for (unsigned a = 0; a < sizeof(ihls) / sizeof(ihls[0]); a++)
		for (unsigned c = 0; c < sizeof(payloads) / sizeof(payloads[0]);
		     c++)
			for (unsigned k = 0; k < 4; k++)
				for (unsigned m = 0;; m++) {
					uint16_t port = 4003;
					uint16_t ports[3] = {1, port, 65535};
					uint16_t other[2] = {2, 3};
					uint64_t id = ids[k % 2];
					size_t len = drx_make_req(
						b, ihls[a], port, id,
						acks[k / 2], payloads[c]);
					const char *name;

					len = drx_req_mutate(b, len, ihls[a], m,
							     &name);
					if (name == NULL)
						break;
					/* An odd keyed id with no ack: a
					 * direct response (linkpkt_drx__both).
					 */
					if (m == 3 && id >> 63 && k / 2 == 0)
						continue;
					snprintf(what, sizeof(what),
						 "request: ihl %u, %zu bytes, "
						 "id %#llx, ack %d: %s",
						 ihls[a], payloads[c],
						 (unsigned long long)id, k / 2,
						 name);
					drx_expect_req(b, len, port, NULL, 0,
						       ports, 3, false, false,
						       what);
					drx_expect_req(b, len, port, ports, 3,
						       ports, 3, false, false,
						       what);
					drx_expect_req(b, len, port, other, 2,
						       ports, 3, false, false,
						       what);
					cases++;
				}
	ck_assert_uint_eq(cases, 9 * (4 * 19 - 1));
}
END_TEST

/*
 * Short packets and every cut of a direct request: its server refuses,
 * homad's prefix lets each through (a load past the packet would end it
 * with 0 and drop it).
 */
START_TEST(linkpkt_drx__request_short)
{
	static const unsigned ihls[] = {5, 6, 15};
	uint8_t b[DRX_PKT_MAX], full[DRX_PKT_MAX];
	uint16_t ports[1] = {4000};
	char what[96];
	size_t len, cut;

	len = drx_make_req(b, 5, 4000, DRX_REQ_ID, 0, 1);
	drx_expect_req(b, 20, 4000, NULL, 0, ports, 1, false, false,
		       "IP header alone");
	drx_expect_req(b, 30, 4000, ports, 1, ports, 1, false, false,
		       "30 bytes");
	memset(b + 20, 0, 80);
	b[20 + DRX_OFF_TYPE] = HOMA_DATA;
	drx_expect_req(b, 30, 4000, ports, 1, ports, 1, false, false,
		       "30 bytes of DATA, all 0");
	drx_expect_req(b, 20 + HOMA_DATA_LEN, 4000, ports, 1, ports, 1, false,
		       false, "a DATA header, all 0");
	/* One payload byte more, and it is a direct request to port 0. */
	drx_expect_req(b, 20 + HOMA_DATA_LEN + 1, 0, ports, 1, NULL, 0, false,
		       false, "a DATA header, all 0, 1 byte: port 0");
	drx_put(b + 20 + DRX_OFF_MSGLEN, 4, 1);
	drx_expect_req(b, 20 + HOMA_DATA_LEN + 1, 0, ports, 1, NULL, 0, true,
		       false, "a DATA header, all 0 but length 1: port 0");
	for (unsigned a = 0; a < sizeof(ihls) / sizeof(ihls[0]); a++) {
		len = drx_make_req(full, ihls[a], 4000, DRX_REQ_ID, 6, 3);
		for (cut = ihls[a] * 4; cut < len; cut++) {
			memcpy(b, full, len);
			drx_put(b + 2, 2, cut);
			snprintf(what, sizeof(what),
				 "request: ihl %u: cut at %zu", ihls[a], cut);
			drx_expect_req(b, cut, 4000, NULL, 0, ports, 1, false,
				       false, what);
			drx_expect_req(b, cut, 4000, ports, 1, ports, 1, false,
				       false, what);
		}
		drx_expect_req(full, len, 4000, ports, 1, ports, 1, true, true,
			       "whole");
	}
}
END_TEST

/*
 * homad's prefix with both lists, disjoint and overlapping: each kind is
 * dropped when its own list names its port, never for the other list.
 */
START_TEST(linkpkt_drx__both)
{
	static const unsigned ihls[] = {5, 6, 15};
	enum { P = 4000, Q = 5000 };
	uint16_t p1[1] = {P}, q1[1] = {Q}, pq[2] = {P, Q}, qp[2] = {Q, P};
	uint16_t none[2] = {1, 2};
	uint8_t b[DRX_PKT_MAX];
	size_t len;

	for (unsigned a = 0; a < sizeof(ihls) / sizeof(ihls[0]); a++) {
		unsigned ihl = ihls[a];
		uint8_t *h = b + ihl * 4;

		/* A direct response to P. */
		len = drx_make(b, ihl, P, 7, 20);
		drx_expect_req(b, len, P, p1, 1, q1, 1, false, true,
			       "response to P; P / Q");
		drx_expect_req(b, len, P, q1, 1, p1, 1, false, false,
			       "response to P; Q / P");
		drx_expect_req(b, len, P, pq, 2, qp, 2, false, true,
			       "response to P; PQ / QP");
		drx_expect_req(b, len, P, none, 2, pq, 2, false, false,
			       "response to P; - / PQ");
		drx_expect_req(b, len, P, NULL, 0, pq, 2, false, false,
			       "response to P; none / PQ");
		drx_expect_req(b, len, P, qp, 2, NULL, 0, false, true,
			       "response to P; QP / none");
		/* ... with an ack: neither kind. */
		drx_put(h + DRX_OFF_ACK, 8, 0x1000);
		drx_expect_req(b, len, P, pq, 2, qp, 2, false, false,
			       "response to P with an ack; PQ / QP");
		/* ... made even: a request, whatever the ack and id. */
		h[DRX_OFF_ID + 7] &= 0xfe;
		drx_expect_req(b, len, P, pq, 2, none, 2, true, false,
			       "even response to P; PQ / -");
		drx_expect_req(b, len, P, none, 2, qp, 2, true, true,
			       "even response to P; - / QP");

		/* A direct request to Q. */
		len = drx_make_req(b, ihl, Q, DRX_REQ_ID, 0, 30);
		drx_expect_req(b, len, Q, p1, 1, q1, 1, true, true,
			       "request to Q; P / Q");
		drx_expect_req(b, len, Q, q1, 1, p1, 1, true, false,
			       "request to Q; Q / P");
		drx_expect_req(b, len, Q, pq, 2, qp, 2, true, true,
			       "request to Q; PQ / QP");
		drx_expect_req(b, len, Q, pq, 2, none, 2, true, false,
			       "request to Q; PQ / -");
		drx_expect_req(b, len, Q, pq, 2, NULL, 0, true, false,
			       "request to Q; PQ / none");
		drx_expect_req(b, len, P, NULL, 0, qp, 2, false, true,
			       "request to Q, server P; none / QP");
		/* ... with an ack: still. */
		len = drx_make_req(b, ihl, Q, DRX_REQ_ID, 0x3002, 30);
		drx_expect_req(b, len, Q, p1, 1, q1, 1, true, true,
			       "request to Q with an ack; P / Q");
		drx_expect_req(b, len, Q, q1, 1, p1, 1, true, false,
			       "request to Q with an ack; Q / P");
		/* ... with sequence 1: neither. */
		drx_put(h + DRX_OFF_SEQ, 4, 1);
		drx_expect_req(b, len, Q, pq, 2, pq, 2, false, false,
			       "request to Q at sequence 1; PQ / PQ");

		/* A request with a keyed id (bit 63), no ack. */
		len = drx_make_req(b, ihl, P,
				   1ull << 63 | 7ull << 32 | (DRX_ID_LOW & ~1u),
				   0, 5);
		drx_expect_req(b, len, P, pq, 2, none, 2, true, false,
			       "keyed request to P; PQ / -");
		drx_expect_req(b, len, P, none, 2, pq, 2, true, true,
			       "keyed request to P; - / PQ");
		/* ... made odd: a direct response. */
		h[DRX_OFF_ID + 7] |= 1;
		drx_expect_req(b, len, P, pq, 2, none, 2, false, true,
			       "odd keyed request to P; PQ / -");
		drx_expect_req(b, len, P, none, 2, pq, 2, false, false,
			       "odd keyed request to P; - / PQ");
		drx_expect(b, len, P, 7, pq, 2, true, true,
			   "odd keyed request to P: client");

		/* Other types and a short DATA: neither. */
		len = drx_make_req(b, ihl, P, DRX_REQ_ID, 0, 5);
		h[DRX_OFF_TYPE] = HOMA_GRANT;
		drx_expect_req(b, len, P, pq, 2, pq, 2, false, false,
			       "GRANT to P; PQ / PQ");
		drx_expect_req(b, ihl * 4 + HOMA_DATA_LEN, P, pq, 2, pq, 2,
			       false, false, "DATA header alone; PQ / PQ");
	}
}
END_TEST

/*
 * The longest lists, disjoint or the same: each port of each list drops
 * its kind, wherever it is, and only its kind (unless the other list
 * names it too); ports named by neither list pass.
 */
START_TEST(linkpkt_drx__both_many_ports)
{
	static const struct {
		unsigned n, m;
	} sizes[] = {
		{LINKPKT_DRX_MAX_PORTS, 0},
		{0, LINKPKT_DRX_MAX_PORTS},
		{1, LINKPKT_DRX_MAX_PORTS},
		{LINKPKT_DRX_MAX_PORTS, 1},
		{LINKPKT_DRX_MAX_PORTS, LINKPKT_DRX_MAX_PORTS},
		{127, 3},
		{64, 64},
	};
	uint16_t ports[LINKPKT_DRX_MAX_PORTS], reqs[LINKPKT_DRX_MAX_PORTS];
	uint8_t b[DRX_PKT_MAX];
	char what[96];
	size_t len;

	for (unsigned i = 0; i < LINKPKT_DRX_MAX_PORTS; i++) {
		ports[i] = (uint16_t)(40000 + 11 * i);
		reqs[i] = (uint16_t)(20000 + 7 * i);
	}
	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]) * 2; k++) {
		unsigned n = sizes[k / 2].n, m = sizes[k / 2].m;
		const uint16_t *rl = k % 2 ? ports : reqs;

		for (unsigned i = 0; i < n; i++) {
			uint16_t port = ports[i];

			snprintf(what, sizeof(what),
				 "%u / %u%s ports: response port %u", n, m,
				 k % 2 ? " same" : "", i);
			len = drx_make(b, 5 + i % 11, port, i, 1 + i);
			drx_expect_req(b, len, port, ports, n, rl, m, false,
				       true, what);
			snprintf(what, sizeof(what),
				 "%u / %u%s ports: request to response "
				 "port %u",
				 n, m, k % 2 ? " same" : "", i);
			len = drx_make_req(b, 5 + i % 11, port, 2 * i, i,
					   1 + i);
			drx_expect_req(b, len, port, ports, n, rl, m, true,
				       drx_in(port, rl, m), what);
		}
		for (unsigned j = 0; j < m; j++) {
			uint16_t port = rl[j];

			snprintf(what, sizeof(what),
				 "%u / %u%s ports: request port %u", n, m,
				 k % 2 ? " same" : "", j);
			len = drx_make_req(b, 5 + j % 11, port, 4 * j, j,
					   1 + j);
			drx_expect_req(b, len, port, ports, n, rl, m, true,
				       true, what);
			snprintf(what, sizeof(what),
				 "%u / %u%s ports: response to request "
				 "port %u",
				 n, m, k % 2 ? " same" : "", j);
			len = drx_make(b, 5 + j % 11, port, j, 1 + j);
			drx_expect_req(b, len, port, ports, n, rl, m, false,
				       drx_in(port, ports, n), what);
		}
		len = drx_make_req(b, 5, 19999, DRX_REQ_ID, 0, 5);
		drx_expect_req(b, len, 19999, ports, n, rl, m, true, false,
			       "request to a port of neither list");
		len = drx_make(b, 5, 39999, 1, 5);
		drx_expect_req(b, len, 39999, ports, n, rl, m, false, false,
			       "response to a port of neither list");
		len = drx_make_req(b, 5, 65535, DRX_REQ_ID, 0, 5);
		drx_expect_req(b, len, 65535, ports, n, rl, m, true, false,
			       "request past the ports");
	}
}
END_TEST

#define DRX_ROUNDS 200000

/*
 * Change b[0..len) (a packet made with an IP header of hl bytes and payload
 * bytes) the way round says: random bytes, a few bytes, one field, the
 * length, the IP header's length (or, parity, the id's parity), several of
 * these; then keep the IP header within the packet, as the kernel ensures.
 * Returns the new length.
 */
static size_t drx_scramble(uint8_t *b, size_t len, size_t hl, size_t payload,
			   unsigned round, bool parity)
{
	static const uint32_t field_vals[] = {
		0, 1, 0xffffffffu, 0x80000000u, HOMA_DATA, HOMA_GRANT};
	static const unsigned field_off[] = {
		DRX_OFF_DPORT, DRX_OFF_SEQ,	DRX_OFF_TYPE - 3,
		DRX_OFF_ID,    DRX_OFF_ID + 4,	DRX_OFF_MSGLEN,
		DRX_OFF_ACK,   DRX_OFF_ACK + 4, DRX_OFF_SEG};
	size_t max;

	max = hl + HOMA_DATA_LEN + 8;
	switch (round % 8) {
	case 0: /* as made, or random bytes */
		if (round % 16 == 8) {
			len = 20 + rnd() % 120;
			for (size_t i = 0; i < len; i++)
				b[i] = (uint8_t)rnd();
		}
		break;
	case 1:
	case 2: /* a few bytes, mostly in the headers */
		for (unsigned k = 1 + rnd() % 3; k > 0; k--) {
			size_t at = rnd() % (len < max ? len : max);
			uint8_t flip = (uint8_t)(1u << rnd() % 8);

			b[at] = rnd() % 2 ? (uint8_t)rnd() : b[at] ^ flip;
		}
		break;
	case 3:
	case 4: /* one field a value that matters */
		drx_put(b + hl + field_off[rnd() % 9], 4,
			rnd() % 2 ? field_vals[rnd() % 6]
				  : payload + rnd() % 3 - 1);
		break;
	case 5: /* another length */
		len = rnd() % 2 ? 20 + rnd() % (len + 8 - 19)
				: len + rnd() % 3 - 1;
		break;
	case 6: /* the IP header's length, or the id's parity */
		if (!parity || rnd() % 2)
			b[0] = (uint8_t)(0x40 | rnd() % 16);
		else
			b[hl + DRX_OFF_ID + 7] ^= 1;
		break;
	default: /* several of these */
		b[rnd() % max] = (uint8_t)rnd();
		drx_put(b + hl + field_off[rnd() % 9], 4,
			field_vals[rnd() % 6]);
		len = len + rnd() % 5 - 2;
		break;
	}
	/* The IP header within the packet, as the kernel ensures. */
	if ((size_t)(b[0] & 0x0f) * 4 > len)
		b[0] = (uint8_t)((b[0] & 0xf0) |
				 rnd() % (len / 4 < 15 ? len / 4 + 1 : 16));
	return len;
}

/*
 * Packets made by changing random bytes, fields and lengths of a direct
 * one, and random ones: for random ports and (port, key), the client's
 * program keeps exactly the direct packets of its (port, key), homad's
 * prefix drops exactly the direct ones to its ports and lets every other
 * through to what follows.  The kernel hands a raw socket only packets
 * whose IP header lies within them (4 * IHL <= the total length, to
 * which it trims the packet), so only those are made.
 */
START_TEST(linkpkt_drx__random)
{
	static const uint16_t port_pool[] = {0, 1, 4000, 4001, 0x8000, 65535};
	static const uint32_t key_pool[] = {0, 1, 0x2a, 0x40000000, 0x7fffffff};
	struct sock_filter c[LINKPKT_DRX_CLIENT_LEN], d[DRX_DROP_ROOM],
		e[DRX_DROP_ROOM];
	unsigned direct = 0, kept = 0, dropped = 0, passed = 0;

	rnd_state = 0x2545f4914f6cdd1dull; /* its own sequence */
	for (unsigned round = 0; round < DRX_ROUNDS; round++) {
		uint8_t b[DRX_PKT_MAX];
		unsigned ihl = rnd() % 4 ? 5 : 5 + rnd() % 11, n;
		uint16_t port = port_pool[rnd() % 6], ports[8], rp = 0, cp;
		uint32_t key =
			rnd() % 2 ? key_pool[rnd() % 5] : rnd() & 0x7fffffff;
		uint32_t rk = 0, ck, r, want;
		size_t payload = rnd() % 8 ? 1 + rnd() % 64
					   : 1 + rnd() % DRX_PAYLOAD_MAX;
		size_t len, cn, dn, en, hl = (size_t)ihl * 4;
		bool is, in = false;

		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (uint8_t)rnd();
		len = drx_make(b, ihl, port, key, payload);
		len = drx_scramble(b, len, hl, payload, round, false);
		is = drx_ref(b, len, &rp, &rk);

		/* homad's ports, and the client's (port, key). */
		n = 1 + rnd() % 8;
		for (unsigned i = 0; i < n; i++)
			ports[i] = port_pool[rnd() % 6];
		if (is && rnd() % 2)
			ports[rnd() % n] = rp;
		for (unsigned i = 0; i < n; i++)
			in = in || (is && ports[i] == rp);
		cp = is && rnd() % 4 ? rp : port_pool[rnd() % 6];
		ck = is && rnd() % 4 ? rk : key_pool[rnd() % 5];

		cn = drx_client_make(c, cp, ck);
		r = tbpf_ret(c, cn, b, len, "random client");
		want = is && rp == cp && rk == ck ? 0xffffffffu : 0;
		REQUIRE(r == want,
			"round %u: %zu bytes, client (%u, %#x): 0x%x, not "
			"0x%x",
			round, len, cp, ck, r, want);
		dn = drx_drop_make(d, ports, n, NULL, 0,
				   DRX_TAIL(drx_sentinel));
		r = tbpf_ret(d, dn, b, len, "random drop");
		REQUIRE(r == (in ? 0 : DRX_PASS),
			"round %u: %zu bytes, direct %d, %u ports: drop 0x%x",
			round, len, is, n, r);
		en = drx_drop_make(e, ports, n, NULL, 0, DRX_TAIL(drx_class));
		r = tbpf_ret(e, en, b, len, "random drop + class");
		REQUIRE(r == (in ? 0 : drx_class_ref(b, len)),
			"round %u: drop + class 0x%x", round, r);
		direct += is;
		kept += want != 0;
		dropped += in;
		passed += !in;
	}
	printf("drx: %u rounds: %u direct, %u kept by a client, %u dropped "
	       "by homad, %u let through\n",
	       DRX_ROUNDS, direct, kept, dropped, passed);
	/* Every outcome seen often. */
	ck_assert_uint_gt(kept, DRX_ROUNDS / 50);
	ck_assert_uint_gt(dropped, DRX_ROUNDS / 50);
	ck_assert_uint_gt(direct - dropped, DRX_ROUNDS / 100);
	ck_assert_uint_gt(passed - (direct - dropped), DRX_ROUNDS / 4);
}
END_TEST

#define DRX_ROUNDS_BOTH 100000

/*
 * As linkpkt_drx__random, from direct responses and direct requests (of
 * any id and ack), with both lists of homad's prefix (either may be
 * empty, sometimes the longest): the server's program keeps exactly the
 * direct requests to its port, the prefix drops exactly what either
 * reference says and lets every other through to what follows.
 */
START_TEST(linkpkt_drx__random_both)
{
	static const uint16_t port_pool[] = {0, 1, 4000, 4001, 0x8000, 65535};
	struct sock_filter s[LINKPKT_DRX_SERVER_LEN], d[DRX_DROP_ROOM],
		e[DRX_DROP_ROOM];
	uint16_t ports[LINKPKT_DRX_MAX_PORTS], reqs[LINKPKT_DRX_MAX_PORTS];
	unsigned resps = 0, requests = 0, kept = 0, drop_resp = 0;
	unsigned drop_req = 0, passed_direct = 0, passed = 0;

	rnd_state = 0x5851f42d4c957f2dull; /* its own sequence */
	for (unsigned round = 0; round < DRX_ROUNDS_BOTH; round++) {
		uint8_t b[DRX_PKT_MAX];
		unsigned ihl = rnd() % 4 ? 5 : 5 + rnd() % 11, n, m;
		uint16_t port = port_pool[rnd() % 6], rp = 0, rq = 0, sp;
		uint32_t rk = 0, r, want;
		size_t payload = rnd() % 8 ? 1 + rnd() % 64
					   : 1 + rnd() % DRX_PAYLOAD_MAX;
		size_t len, sn, dn, en, hl = (size_t)ihl * 4;
		bool resp, req, drop;

		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (uint8_t)rnd();
		if (rnd() % 2) {
			len = drx_make(b, ihl, port, rnd() & 0x7fffffff,
				       payload);
		} else {
			uint64_t id = (uint64_t)rnd() << 32 | rnd();

			switch (rnd() % 3) {
			case 0:
				id &= 0xffffffffull;
				break;
			case 1:
				id |= 1ull << 63;
				break;
			}
			len = drx_make_req(
				b, ihl, port, id & ~1ull,
				rnd() % 2 ? 0 : (uint64_t)rnd() << 32 | rnd(),
				payload);
		}
		len = drx_scramble(b, len, hl, payload, round, true);
		resp = drx_ref(b, len, &rp, &rk);
		req = drx_req_ref(b, len, &rq);

		/* homad's lists (one may be empty, or the longest), and the
		 * server's port; each kind's port in its list, in the other,
		 * or in neither. */
		n = rnd() % 5;
		m = rnd() % 5;
		if (rnd() % 32 == 0)
			n = LINKPKT_DRX_MAX_PORTS;
		if (rnd() % 32 == 0)
			m = LINKPKT_DRX_MAX_PORTS;
		if (n + m == 0)
			*(rnd() % 2 ? &n : &m) = 1;
		for (unsigned i = 0; i < n; i++)
			ports[i] = n > 8 ? (uint16_t)(40000 + 11 * i)
					 : port_pool[rnd() % 6];
		for (unsigned i = 0; i < m; i++)
			reqs[i] = m > 8 ? (uint16_t)(20000 + 7 * i)
					: port_pool[rnd() % 6];
		if (resp && n > 0 && rnd() % 2)
			ports[rnd() % n] = rp;
		if (resp && m > 0 && rnd() % 4 == 0)
			reqs[rnd() % m] = rp;
		if (req && m > 0 && rnd() % 2)
			reqs[rnd() % m] = rq;
		if (req && n > 0 && rnd() % 4 == 0)
			ports[rnd() % n] = rq;
		sp = req && rnd() % 4 ? rq : port_pool[rnd() % 6];

		sn = drx_server_make(s, sp);
		r = tbpf_ret(s, sn, b, len, "random server");
		want = req && rq == sp ? 0xffffffffu : 0;
		REQUIRE(r == want,
			"round %u: %zu bytes, server %u: 0x%x, not 0x%x", round,
			len, sp, r, want);
		drop = drx_drop_ref(b, len, ports, n, reqs, m);
		dn = drx_drop_make(d, ports, n, reqs, m,
				   DRX_TAIL(drx_sentinel));
		r = tbpf_ret(d, dn, b, len, "random drop");
		REQUIRE(r == (drop ? 0 : DRX_PASS),
			"round %u: %zu bytes, response %d, request %d, "
			"%u / %u ports: drop 0x%x",
			round, len, resp, req, n, m, r);
		en = drx_drop_make(e, ports, n, reqs, m, DRX_TAIL(drx_class));
		r = tbpf_ret(e, en, b, len, "random drop + class");
		REQUIRE(r == (drop ? 0 : drx_class_ref(b, len)),
			"round %u: drop + class 0x%x", round, r);
		resps += resp;
		requests += req;
		kept += want != 0;
		drop_resp += drop && resp;
		drop_req += drop && req;
		passed_direct += !drop && (resp || req);
		passed += !drop;
	}
	printf("drx both: %u rounds: %u direct responses, %u direct requests, "
	       "%u kept by a server, %u responses and %u requests dropped by "
	       "homad, %u let through (%u direct)\n",
	       DRX_ROUNDS_BOTH, resps, requests, kept, drop_resp, drop_req,
	       passed, passed_direct);
	/* Every outcome seen often. */
	ck_assert_uint_gt(kept, DRX_ROUNDS_BOTH / 50);
	ck_assert_uint_gt(drop_resp, DRX_ROUNDS_BOTH / 50);
	ck_assert_uint_gt(drop_req, DRX_ROUNDS_BOTH / 50);
	ck_assert_uint_gt(passed_direct, DRX_ROUNDS_BOTH / 50);
	ck_assert_uint_gt(passed - passed_direct, DRX_ROUNDS_BOTH / 4);
}
END_TEST

static Suite *linkpkt_suite(void)
{
	Suite *s = suite_create("linkpkt");
	TCase *tc;

	tc = tcase_create("vectors");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, linkpkt__vectors_present);
	tcase_add_loop_test(tc, linkpkt_strip__vectors, 0,
			    (int)vec_glob.gl_pathc);
	tcase_add_loop_test(tc, linkpkt_gro__vectors, 0,
			    (int)vec_glob.gl_pathc);
	tcase_add_loop_test(tc, linkpkt_icmp__vectors_round_trip, 0,
			    (int)vec_glob.gl_pathc);
	suite_add_tcase(s, tc);

	tc = tcase_create("headers");
	tcase_add_test(tc, linkpkt_ipv4_strip__malformed);
	tcase_add_test(tc, linkpkt_ipv6_strip__malformed);
	tcase_add_test(tc, linkpkt_gro__cases);
	tcase_add_test(tc, linkpkt_csum__known);
	tcase_add_test(tc, linkpkt_icmp4_build__room);
	tcase_add_test(tc, linkpkt_icmp_parse__malformed);
	tcase_add_test(tc, linkpkt_quote_parse__short);
	tcase_add_test(tc, linkpkt_icmp_unanswerable__addresses);
	tcase_add_test(tc, linkpkt_err_name__all);
	tcase_add_test(tc, linkpkt_echo_build__known);
	tcase_add_test(tc, linkpkt_echo_parse__round_trip);
	tcase_add_test(tc, linkpkt_echo_parse__malformed);
	tcase_add_test(tc, linkpkt_echo_parse__random);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, linkpkt__random_bytes);
	suite_add_tcase(s, tc);

	tc = tcase_create("drx");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, linkpkt_drx__interpreter);
	tcase_add_test(tc, linkpkt_drx__lengths);
	tcase_add_test(tc, linkpkt_drx__direct);
	tcase_add_test(tc, linkpkt_drx__not_direct);
	tcase_add_test(tc, linkpkt_drx__key_and_port);
	tcase_add_test(tc, linkpkt_drx__short);
	tcase_add_test(tc, linkpkt_drx__many_ports);
	tcase_add_test(tc, linkpkt_drx__random);
	tcase_add_test(tc, linkpkt_drx__server_lengths);
	tcase_add_test(tc, linkpkt_drx__request_direct);
	tcase_add_test(tc, linkpkt_drx__request_not_direct);
	tcase_add_test(tc, linkpkt_drx__request_short);
	tcase_add_test(tc, linkpkt_drx__both);
	tcase_add_test(tc, linkpkt_drx__both_many_ports);
	tcase_add_test(tc, linkpkt_drx__random_both);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed, rc;

	rc = glob(VECTORS_DIR "/kernel/*.pcap", 0, NULL, &vec_glob);
	if (rc == 0 || rc == GLOB_NOMATCH)
		rc = glob(VECTORS_DIR "/handmade/*.pcap", GLOB_APPEND, NULL,
			  &vec_glob);
	if (rc != 0 && rc != GLOB_NOMATCH) {
		fprintf(stderr, "glob %s failed\n", VECTORS_DIR);
		return EXIT_FAILURE;
	}
	sr = srunner_create(linkpkt_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	globfree(&vec_glob);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
