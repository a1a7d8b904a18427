/*
 * linkpkt.c - the link's packet formats around Homa (see linkpkt.h).
 */
#include <config.h>

#include <arpa/inet.h>
#include <endian.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <string.h>
#include <sys/socket.h>

#include "core/wire.h"
#include "homa_shm.h"
#include "linkpkt.h"

/* IPv6 next headers linkpkt_ipv6_strip walks through, and the fragment. */
#define LINKPKT_IP6_HOPOPTS 0
#define LINKPKT_IP6_ROUTING 43
#define LINKPKT_IP6_FRAG    44
#define LINKPKT_IP6_DSTOPTS 60

const char *linkpkt_err_name(int err)
{
	static const char *const names[LINKPKT_ERR_COUNT] = {
		[LINKPKT_OK] = "ok",
		[LINKPKT_ERR_SHORT] = "short",
		[LINKPKT_ERR_VERSION] = "version",
		[LINKPKT_ERR_IHL] = "ihl",
		[LINKPKT_ERR_LENGTH] = "length",
		[LINKPKT_ERR_EXT] = "ext",
		[LINKPKT_ERR_PROTO] = "proto",
		[LINKPKT_ERR_ICMP_TYPE] = "icmp_type",
		[LINKPKT_ERR_CHECKSUM] = "checksum",
	};

	if (err < 0)
		err = -err;
	return err < LINKPKT_ERR_COUNT ? names[err] : "unknown";
}

static size_t linkpkt_be16(const uint8_t *p)
{
	return (size_t)p[0] << 8 | p[1];
}

static void linkpkt_addr4(struct homa_addr *a, const uint8_t *p)
{
	memset(a, 0, sizeof(*a));
	a->in6.s6_addr[10] = 0xff;
	a->in6.s6_addr[11] = 0xff;
	memcpy(&a->in6.s6_addr[12], p, 4);
}

/*
 * An IPv4 header at p[0..len).  quoted: the packet may be cut short (an
 * ICMP error's quote): its total length may go past len, its header may
 * not.
 */
static int linkpkt_ip4(const uint8_t *p, size_t len, bool quoted,
		       struct linkpkt_ip *ip)
{
	size_t ihl, tot;

	if (len < LINKPKT_IP4_HLEN)
		return -LINKPKT_ERR_SHORT;
	if (p[0] >> 4 != 4)
		return -LINKPKT_ERR_VERSION;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	if (ihl < LINKPKT_IP4_HLEN)
		return -LINKPKT_ERR_IHL;
	tot = linkpkt_be16(p + 2);
	if (quoted && ihl > len)
		return -LINKPKT_ERR_SHORT;
	if (tot < ihl || (!quoted && tot > len))
		return -LINKPKT_ERR_LENGTH;
	if (tot > len)
		tot = len;
	ip->off = ihl;
	ip->len = tot - ihl;
	ip->proto = p[9];
	ip->prio = p[1] >> 5;
	linkpkt_addr4(&ip->src, p + 12);
	linkpkt_addr4(&ip->dst, p + 16);
	return 0;
}

/* An IPv6 header at p[0..len); quoted as for linkpkt_ip4. */
static int linkpkt_ip6(const uint8_t *p, size_t len, bool quoted,
		       struct linkpkt_ip *ip)
{
	size_t end, avail, pos = LINKPKT_IP6_HLEN;
	unsigned n = 0;
	uint8_t nh;

	if (len < LINKPKT_IP6_HLEN)
		return -LINKPKT_ERR_SHORT;
	if (p[0] >> 4 != 6)
		return -LINKPKT_ERR_VERSION;
	end = LINKPKT_IP6_HLEN + linkpkt_be16(p + 4);
	if (!quoted && end > len)
		return -LINKPKT_ERR_LENGTH;
	avail = end < len ? end : len;
	nh = p[6];
	while (nh == LINKPKT_IP6_HOPOPTS || nh == LINKPKT_IP6_ROUTING ||
	       nh == LINKPKT_IP6_DSTOPTS) {
		size_t elen;

		if (++n > LINKPKT_IP6_MAX_EXT || pos + 2 > end)
			return -LINKPKT_ERR_EXT;
		if (pos + 2 > avail)
			return -LINKPKT_ERR_SHORT;
		elen = ((size_t)p[pos + 1] + 1) * 8;
		if (pos + elen > end)
			return -LINKPKT_ERR_EXT;
		if (pos + elen > avail)
			return -LINKPKT_ERR_SHORT;
		nh = p[pos];
		pos += elen;
	}
	if (nh == LINKPKT_IP6_FRAG)
		return -LINKPKT_ERR_EXT;
	ip->off = pos;
	ip->len = avail - pos;
	ip->proto = nh;
	ip->prio = (uint8_t)(((p[0] & 0x0f) << 4 | p[1] >> 4) >> 5);
	memset(&ip->src, 0, sizeof(ip->src));
	memcpy(&ip->src.in6, p + 8, 16);
	memset(&ip->dst, 0, sizeof(ip->dst));
	memcpy(&ip->dst.in6, p + 24, 16);
	return 0;
}

int linkpkt_ipv4_strip(const void *p, size_t len, struct linkpkt_ip *ip)
{
	int r = linkpkt_ip4(p, len, false, ip);

	if (r == 0 && ip->proto != HOMA_IPPROTO)
		r = -LINKPKT_ERR_PROTO;
	return r;
}

int linkpkt_ipv6_strip(const void *p, size_t len, struct linkpkt_ip *ip)
{
	int r = linkpkt_ip6(p, len, false, ip);

	if (r == 0 && ip->proto != HOMA_IPPROTO)
		r = -LINKPKT_ERR_PROTO;
	return r;
}

void linkpkt_gro_init(struct linkpkt_gro *g, const void *data, size_t len,
		      size_t seg)
{
	g->p = data;
	g->left = len;
	g->seg = seg;
	g->split = seg > 0 && seg < len;
	g->done = false;
}

bool linkpkt_gro_next(struct linkpkt_gro *g, const uint8_t **pkt, size_t *len)
{
	size_t n;

	if (g->done)
		return false;
	if (!g->split) {
		*pkt = g->p;
		*len = g->left;
		g->done = true;
		return true;
	}
	if (g->left == 0) {
		g->done = true;
		return false;
	}
	n = g->left < g->seg ? g->left : g->seg;
	*pkt = g->p;
	*len = n;
	g->p += n;
	g->left -= n;
	return true;
}

uint16_t linkpkt_csum(const void *p, size_t len)
{
	const uint8_t *buf = p;
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)buf[i] << 8 | buf[i + 1];
	if (len & 1)
		sum += (uint32_t)buf[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* The UDP header of a quoted packet of ulen bytes from the UDP header on. */
static void linkpkt_udp_quote(uint8_t *uh, const struct linkpkt_unreach *u,
			      size_t ulen)
{
	uint16_t v;

	v = htons(u->sport);
	memcpy(uh, &v, 2);
	v = htons(u->dport);
	memcpy(uh + 2, &v, 2);
	v = htons((uint16_t)(ulen > 0xffff ? 0xffff : ulen));
	memcpy(uh + 4, &v, 2);
}

size_t linkpkt_icmp4_build(void *out, size_t room,
			   const struct linkpkt_unreach *u)
{
	uint8_t *buf = out;
	size_t ulen = u->udp ? LINKPKT_UDP_HLEN : 0;
	size_t head = LINKPKT_ICMP_HLEN + LINKPKT_IP4_HLEN + ulen;
	size_t max = LINKPKT_ICMP4_MAX - LINKPKT_IP4_HLEN;
	size_t q, tot = LINKPKT_IP4_HLEN + ulen + u->len;
	uint8_t *ip = buf + LINKPKT_ICMP_HLEN;
	uint16_t v;

	if (max > room)
		max = room;
	if (max < head)
		return 0;
	q = u->len < max - head ? u->len : max - head;
	memset(buf, 0, head);
	buf[0] = ICMP_DEST_UNREACH;
	buf[1] = ICMP_PORT_UNREACH;
	ip[0] = 0x45;
	ip[1] = (uint8_t)(u->prio << 5);
	v = htons((uint16_t)(tot > 0xffff ? 0xffff : tot));
	memcpy(ip + 2, &v, 2);
	ip[8] = 64; /* TTL: not known any more */
	ip[9] = u->udp ? IPPROTO_UDP : HOMA_IPPROTO;
	memcpy(ip + 12, &u->src.in6.s6_addr[12], 4);
	memcpy(ip + 16, &u->dst.in6.s6_addr[12], 4);
	v = linkpkt_csum(ip, LINKPKT_IP4_HLEN);
	memcpy(ip + 10, &v, 2);
	if (u->udp)
		linkpkt_udp_quote(ip + LINKPKT_IP4_HLEN, u, ulen + u->len);
	if (q)
		memcpy(buf + head, u->pkt, q);
	v = linkpkt_csum(buf, head + q);
	memcpy(buf + 2, &v, 2);
	return head + q;
}

size_t linkpkt_icmp6_build(void *out, size_t room,
			   const struct linkpkt_unreach *u)
{
	uint8_t *buf = out;
	size_t ulen = u->udp ? LINKPKT_UDP_HLEN : 0;
	size_t head = LINKPKT_ICMP_HLEN + LINKPKT_IP6_HLEN + ulen;
	size_t max = LINKPKT_ICMP6_MAX - LINKPKT_IP6_HLEN;
	size_t q, plen = ulen + u->len;
	uint8_t *ip = buf + LINKPKT_ICMP_HLEN;
	uint32_t flow;
	uint16_t v;

	if (max > room)
		max = room;
	if (max < head)
		return 0;
	q = u->len < max - head ? u->len : max - head;
	memset(buf, 0, head);
	buf[0] = ICMP6_DST_UNREACH;
	buf[1] = ICMP6_DST_UNREACH_NOPORT;
	flow = htonl(6u << 28 | (uint32_t)(u->prio << 5) << 20);
	memcpy(ip, &flow, 4);
	v = htons((uint16_t)(plen > 0xffff ? 0xffff : plen));
	memcpy(ip + 4, &v, 2);
	ip[6] = u->udp ? IPPROTO_UDP : HOMA_IPPROTO;
	ip[7] = 64; /* hop limit: not known any more */
	memcpy(ip + 8, &u->src.in6, 16);
	memcpy(ip + 24, &u->dst.in6, 16);
	if (u->udp)
		linkpkt_udp_quote(ip + LINKPKT_IP6_HLEN, u, plen);
	if (q)
		memcpy(buf + head, u->pkt, q);
	return head + q;
}

bool linkpkt_icmp_unanswerable(const struct homa_addr *a)
{
	if (IN6_IS_ADDR_V4MAPPED(&a->in6)) {
		const uint8_t *b = &a->in6.s6_addr[12];

		return b[0] >= 224 || (b[0] | b[1] | b[2] | b[3]) == 0;
	}
	return IN6_IS_ADDR_MULTICAST(&a->in6) ||
	       IN6_IS_ADDR_UNSPECIFIED(&a->in6);
}

int linkpkt_quote_parse(const void *q, size_t len, struct linkpkt_quote *out)
{
	struct homa_wire_common h;

	memset(out, 0, sizeof(*out));
	out->homa = q;
	out->len = len;
	if (len < sizeof(h))
		return -LINKPKT_ERR_SHORT;
	memcpy(&h, q, sizeof(h));
	out->full = true;
	out->type = h.type;
	out->sport = ntohs(h.sport);
	out->dport = ntohs(h.dport);
	out->sender_id = be64toh(h.sender_id);
	return 0;
}

/* ICMP (IPv4) types that quote the packet they are about (RFC 792). */
static bool linkpkt_icmp4_is_error(uint8_t type)
{
	switch (type) {
	case ICMP_DEST_UNREACH:
	case ICMP_SOURCE_QUENCH:
	case ICMP_REDIRECT:
	case ICMP_TIME_EXCEEDED:
	case ICMP_PARAMETERPROB:
		return true;
	default:
		return false;
	}
}

int linkpkt_icmp_parse(int family, const void *msg, size_t len,
		       struct linkpkt_icmp *out)
{
	const uint8_t *m = msg, *t;
	int r;

	memset(out, 0, sizeof(*out));
	if (family != AF_INET && family != AF_INET6)
		return -LINKPKT_ERR_VERSION;
	if (len < LINKPKT_ICMP_HLEN)
		return -LINKPKT_ERR_SHORT;
	out->type = m[0];
	out->code = m[1];
	if (family == AF_INET ? !linkpkt_icmp4_is_error(m[0])
			      : m[0] >= ICMP6_INFOMSG_MASK)
		return -LINKPKT_ERR_ICMP_TYPE;
	if (family == AF_INET && linkpkt_csum(m, len) != 0)
		return -LINKPKT_ERR_CHECKSUM;
	m += LINKPKT_ICMP_HLEN;
	len -= LINKPKT_ICMP_HLEN;
	r = family == AF_INET ? linkpkt_ip4(m, len, true, &out->ip)
			      : linkpkt_ip6(m, len, true, &out->ip);
	if (r < 0)
		return r;
	t = m + out->ip.off;
	len = out->ip.len;
	if (out->ip.proto == IPPROTO_UDP) {
		if (len < LINKPKT_UDP_HLEN)
			return -LINKPKT_ERR_SHORT;
		out->udp = true;
		out->udp_sport = (uint16_t)linkpkt_be16(t);
		out->udp_dport = (uint16_t)linkpkt_be16(t + 2);
		t += LINKPKT_UDP_HLEN;
		len -= LINKPKT_UDP_HLEN;
	} else if (out->ip.proto != HOMA_IPPROTO) {
		return -LINKPKT_ERR_PROTO;
	}
	linkpkt_quote_parse(t, len, &out->quote);
	return 0;
}

/* ---- echo requests and replies ----------------------------------------- */

/* The common part of both echo requests; the checksum is left 0. */
static size_t linkpkt_echo_build(uint8_t *buf, size_t room, uint8_t type,
				 uint16_t id, uint16_t seq)
{
	uint16_t v;

	if (room < LINKPKT_ECHO_LEN)
		return 0;
	memset(buf, 0, LINKPKT_ICMP_HLEN);
	buf[0] = type;
	v = htons(id);
	memcpy(buf + 4, &v, 2);
	v = htons(seq);
	memcpy(buf + 6, &v, 2);
	memcpy(buf + LINKPKT_ICMP_HLEN, LINKPKT_ECHO_DATA,
	       LINKPKT_ECHO_LEN - LINKPKT_ICMP_HLEN);
	return LINKPKT_ECHO_LEN;
}

size_t linkpkt_echo4_build(void *out, size_t room, uint16_t id, uint16_t seq)
{
	uint8_t *buf = out;
	size_t n = linkpkt_echo_build(buf, room, ICMP_ECHO, id, seq);
	uint16_t v;

	if (n) {
		v = linkpkt_csum(buf, n);
		memcpy(buf + 2, &v, 2);
	}
	return n;
}

size_t linkpkt_echo6_build(void *out, size_t room, uint16_t id, uint16_t seq)
{
	return linkpkt_echo_build(out, room, ICMP6_ECHO_REQUEST, id, seq);
}

int linkpkt_echo_parse(int family, const void *p, size_t len,
		       struct linkpkt_echo *out)
{
	const uint8_t *m = p;
	int r;

	memset(out, 0, sizeof(*out));
	if (family != AF_INET && family != AF_INET6)
		return -LINKPKT_ERR_VERSION;
	if (family == AF_INET) {
		r = linkpkt_ip4(m, len, false, &out->ip);
		if (r < 0)
			return r;
		if (out->ip.proto != IPPROTO_ICMP)
			return -LINKPKT_ERR_PROTO;
		m += out->ip.off;
		len = out->ip.len;
	}
	if (len < LINKPKT_ICMP_HLEN)
		return -LINKPKT_ERR_SHORT;
	if (m[0] != (family == AF_INET ? ICMP_ECHOREPLY : ICMP6_ECHO_REPLY) ||
	    m[1] != 0)
		return -LINKPKT_ERR_ICMP_TYPE;
	if (family == AF_INET && linkpkt_csum(m, len) != 0)
		return -LINKPKT_ERR_CHECKSUM;
	out->id = (uint16_t)linkpkt_be16(m + 4);
	out->seq = (uint16_t)linkpkt_be16(m + 6);
	out->data = m + LINKPKT_ICMP_HLEN;
	out->data_len = len - LINKPKT_ICMP_HLEN;
	return 0;
}

/* ---- direct receive ---------------------------------------------------- */

/*
 * Where a builder's jumps go, resolved once the program's end is known:
 * YES (the packet is direct), NO (it is not), NEXT (the section cannot
 * tell: on to the section that follows it, which starts afresh).
 */
enum linkpkt_drx_to {
	LINKPKT_DRX_YES,
	LINKPKT_DRX_NO,
	LINKPKT_DRX_NEXT,
	LINKPKT_DRX_TARGETS
};

/* The kind of direct packet a section of a program recognises. */
enum linkpkt_drx_kind {
	LINKPKT_DRX_RESPONSE, /* odd sender_id, bit 63 (or a key), no ack */
	LINKPKT_DRX_REQUEST,  /* even sender_id, any high bits, any ack */
};

/* Most jumps a program leaves to resolve: 11 a section, two sections. */
#define LINKPKT_DRX_FIXES 32u

/* A jump (its true or false branch) to point at a target later. */
struct linkpkt_drx_fix {
	size_t at;
	bool jt;
	enum linkpkt_drx_to to;
};

/* A program being built into f, and the jumps it leaves to resolve. */
struct linkpkt_bpf {
	struct sock_filter *f;
	size_t n;
	struct linkpkt_drx_fix fx[LINKPKT_DRX_FIXES];
	unsigned nfx;
	bool overflow; /* more than LINKPKT_DRX_FIXES jumps (a bug) */
};

/*
 * homad's prefix: a response section, a request section, a RET 0.  A
 * jump lands within its own section, at the start of the next one, on
 * the RET (from the last jump of a section, over the other one if it
 * follows) or just past it: no offset exceeds the longer section's
 * length, which with the RET must fit in 256 instructions (offsets of at
 * most 255).
 */
#define LINKPKT_DRX_RESP_SECTION(n) (LINKPKT_DRX_DROP_LEN((n), 0) - 1u)
#define LINKPKT_DRX_REQ_SECTION(m)  (LINKPKT_DRX_DROP_LEN(0, (m)) - 1u)
_Static_assert(LINKPKT_DRX_RESP_SECTION(LINKPKT_DRX_MAX_PORTS) + 1u <= 256u &&
		       LINKPKT_DRX_REQ_SECTION(LINKPKT_DRX_MAX_PORTS) + 1u <=
			       256u,
	       "LINKPKT_DRX_MAX_PORTS too large for 8-bit jumps");
_Static_assert(LINKPKT_DRX_DROP_LEN(3, 5) ==
		       LINKPKT_DRX_RESP_SECTION(3) +
			       LINKPKT_DRX_REQ_SECTION(5) + 1u,
	       "LINKPKT_DRX_DROP_LEN: two sections and a RET");

static void linkpkt_bpf_op(struct linkpkt_bpf *b, uint16_t code, uint32_t k,
			   unsigned jt, unsigned jf)
{
	b->f[b->n].code = code;
	b->f[b->n].k = k;
	b->f[b->n].jt = (uint8_t)(jt & 0xff);
	b->f[b->n].jf = (uint8_t)(jf & 0xff);
	b->n++;
}

/* Branch jt (else jf) of the next instruction goes to `to`. */
static void linkpkt_drx_fix(struct linkpkt_bpf *b, bool jt,
			    enum linkpkt_drx_to to)
{
	if (b->nfx == LINKPKT_DRX_FIXES) {
		b->overflow = true;
		return;
	}
	b->fx[b->nfx].at = b->n;
	b->fx[b->nfx].jt = jt;
	b->fx[b->nfx].to = to;
	b->nfx++;
}

/* A jump whose false branch goes to fail, true falls through. */
static void linkpkt_drx_need(struct linkpkt_bpf *b, uint16_t code, uint32_t k,
			     enum linkpkt_drx_to fail)
{
	linkpkt_drx_fix(b, false, fail);
	linkpkt_bpf_op(b, BPF_JMP | code | BPF_K, k, 0, 0);
}

/*
 * The tests every direct packet of kind passes, up to loading the port
 * into A: X = the IP header's length, M[0] = the Homa bytes; what fails
 * goes to fail.  Responses: key_k is the client's exact id high word, or
 * 0 for "bit 63 set" (homad's); requests: key_k is unused.
 */
static void linkpkt_drx_common(struct linkpkt_bpf *b,
			       enum linkpkt_drx_kind kind, uint32_t key_k,
			       enum linkpkt_drx_to fail)
{
	bool resp = kind == LINKPKT_DRX_RESPONSE;

	linkpkt_bpf_op(b, BPF_LDX | BPF_B | BPF_MSH, 0, 0, 0);
	linkpkt_bpf_op(b, BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
	linkpkt_bpf_op(b, BPF_ALU | BPF_SUB | BPF_X, 0, 0, 0);
	linkpkt_drx_need(b, BPF_JGE, HOMA_DATA_LEN + 1, fail);
	linkpkt_bpf_op(b, BPF_ST, 0, 0, 0);
	linkpkt_bpf_op(b, BPF_LD | BPF_B | BPF_IND,
		       offsetof(struct homa_wire_common, type), 0, 0);
	linkpkt_drx_need(b, BPF_JEQ, HOMA_DATA, fail);
	/* The last byte of the big-endian sender_id: odd = a response,
	 * even = a request. */
	linkpkt_bpf_op(b, BPF_LD | BPF_B | BPF_IND,
		       offsetof(struct homa_wire_common, sender_id) + 7, 0, 0);
	if (resp) {
		linkpkt_drx_need(b, BPF_JSET, 1, fail);
		linkpkt_bpf_op(b, BPF_LD | BPF_W | BPF_IND,
			       offsetof(struct homa_wire_common, sender_id), 0,
			       0);
		if (key_k != 0)
			linkpkt_drx_need(b, BPF_JEQ, key_k, fail);
		else
			linkpkt_drx_need(b, BPF_JSET, 0x80000000u, fail);
	} else {
		linkpkt_drx_fix(b, true, fail);
		linkpkt_bpf_op(b, BPF_JMP | BPF_JSET | BPF_K, 1, 0, 0);
	}
	linkpkt_bpf_op(b, BPF_LD | BPF_W | BPF_IND,
		       offsetof(struct homa_wire_common, sequence), 0, 0);
	linkpkt_drx_need(b, BPF_JEQ, 0, fail);
	linkpkt_bpf_op(b, BPF_LD | BPF_W | BPF_IND,
		       offsetof(struct homa_wire_data, seg_offset), 0, 0);
	linkpkt_bpf_op(b, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0);
	linkpkt_drx_need(b, BPF_JEQ, HOMA_SEG_OFFSET_NONE, fail);
	if (resp) {
		linkpkt_bpf_op(b, BPF_LD | BPF_W | BPF_IND,
			       offsetof(struct homa_wire_data, ack), 0, 0);
		linkpkt_drx_need(b, BPF_JEQ, 0, fail);
		linkpkt_bpf_op(b, BPF_LD | BPF_W | BPF_IND,
			       offsetof(struct homa_wire_data, ack) + 4, 0, 0);
		linkpkt_drx_need(b, BPF_JEQ, 0, fail);
	}
	linkpkt_bpf_op(b, BPF_LD | BPF_H | BPF_IND,
		       offsetof(struct homa_wire_common, dport), 0, 0);
}

/* message_length == the payload's bytes: YES, else fail. */
static void linkpkt_drx_length(struct linkpkt_bpf *b, enum linkpkt_drx_to fail)
{
	linkpkt_bpf_op(b, BPF_LD | BPF_W | BPF_IND,
		       offsetof(struct homa_wire_data, message_length), 0, 0);
	linkpkt_bpf_op(b, BPF_ALU | BPF_ADD | BPF_K, HOMA_DATA_LEN, 0, 0);
	linkpkt_bpf_op(b, BPF_LDX | BPF_MEM, 0, 0, 0);
	linkpkt_drx_fix(b, true, LINKPKT_DRX_YES);
	linkpkt_drx_fix(b, false, fail);
	linkpkt_bpf_op(b, BPF_JMP | BPF_JEQ | BPF_X, 0, 0, 0);
}

/*
 * One section of homad's prefix: a direct packet of kind to one of
 * ports[0..n) (n >= 1) goes to YES, anything else to fail.
 */
static void linkpkt_drx_section(struct linkpkt_bpf *b,
				enum linkpkt_drx_kind kind,
				const uint16_t *ports, unsigned n,
				enum linkpkt_drx_to fail)
{
	size_t len_at;

	linkpkt_drx_common(b, kind, 0, fail);
	/* One of the ports: on to the length test; none: fail. */
	len_at = b->n + n;
	for (unsigned i = 0; i < n; i++) {
		if (i + 1 == n)
			linkpkt_drx_fix(b, false, fail);
		linkpkt_bpf_op(b, BPF_JMP | BPF_JEQ | BPF_K, ports[i],
			       (unsigned)(len_at - b->n - 1), 0);
	}
	linkpkt_drx_length(b, fail);
}

/* Point the recorded jumps at their targets' indices into b. */
static bool linkpkt_drx_resolve(struct linkpkt_bpf *b,
				const size_t to[LINKPKT_DRX_TARGETS])
{
	if (b->overflow)
		return false;
	for (unsigned i = 0; i < b->nfx; i++) {
		const struct linkpkt_drx_fix *fx = &b->fx[i];
		size_t at = to[fx->to], off = at - fx->at - 1;

		if (at <= fx->at || off > 255)
			return false;
		if (fx->jt)
			b->f[fx->at].jt = (uint8_t)off;
		else
			b->f[fx->at].jf = (uint8_t)off;
	}
	return true;
}

/* A locked filter: keeps (YES) or refuses (NO) with two RETs at its end. */
static size_t linkpkt_drx_locked_end(struct linkpkt_bpf *b)
{
	size_t to[LINKPKT_DRX_TARGETS];

	linkpkt_bpf_op(b, BPF_RET | BPF_K, 0xffffffffu, 0, 0);
	linkpkt_bpf_op(b, BPF_RET | BPF_K, 0, 0, 0);
	to[LINKPKT_DRX_YES] = b->n - 2;
	to[LINKPKT_DRX_NO] = b->n - 1;
	to[LINKPKT_DRX_NEXT] = b->n - 1;
	return linkpkt_drx_resolve(b, to) ? b->n : 0;
}

size_t linkpkt_drx_client_build(struct sock_filter *f, size_t room,
				uint16_t port, uint32_t key)
{
	struct linkpkt_bpf b = {.f = f};

	if (room < LINKPKT_DRX_CLIENT_LEN)
		return 0;
	linkpkt_drx_common(&b, LINKPKT_DRX_RESPONSE,
			   0x80000000u | (key & HOMA_DIRECT_KEY_MASK),
			   LINKPKT_DRX_NO);
	linkpkt_drx_need(&b, BPF_JEQ, port, LINKPKT_DRX_NO);
	linkpkt_drx_length(&b, LINKPKT_DRX_NO);
	return linkpkt_drx_locked_end(&b);
}

size_t linkpkt_drx_server_build(struct sock_filter *f, size_t room,
				uint16_t port)
{
	struct linkpkt_bpf b = {.f = f};

	if (room < LINKPKT_DRX_SERVER_LEN)
		return 0;
	linkpkt_drx_common(&b, LINKPKT_DRX_REQUEST, 0, LINKPKT_DRX_NO);
	linkpkt_drx_need(&b, BPF_JEQ, port, LINKPKT_DRX_NO);
	linkpkt_drx_length(&b, LINKPKT_DRX_NO);
	return linkpkt_drx_locked_end(&b);
}

size_t linkpkt_drx_drop_build(struct sock_filter *f, size_t room,
			      const uint16_t *ports, unsigned n,
			      const uint16_t *req_ports, unsigned m)
{
	struct linkpkt_bpf b = {.f = f};
	size_t to[LINKPKT_DRX_TARGETS];

	if (n > LINKPKT_DRX_MAX_PORTS || m > LINKPKT_DRX_MAX_PORTS ||
	    n + m == 0 || room < LINKPKT_DRX_DROP_LEN(n, m))
		return 0;
	/* Responses, then requests: a packet the first section refuses
	 * may still be one of the second's. */
	if (n > 0)
		linkpkt_drx_section(&b, LINKPKT_DRX_RESPONSE, ports, n,
				    m > 0 ? LINKPKT_DRX_NEXT : LINKPKT_DRX_NO);
	to[LINKPKT_DRX_NEXT] = b.n;
	if (m > 0)
		linkpkt_drx_section(&b, LINKPKT_DRX_REQUEST, req_ports, m,
				    LINKPKT_DRX_NO);
	linkpkt_bpf_op(&b, BPF_RET | BPF_K, 0, 0, 0);
	/* YES drops; NO is the instruction after the prefix. */
	to[LINKPKT_DRX_YES] = b.n - 1;
	to[LINKPKT_DRX_NO] = b.n;
	if (!linkpkt_drx_resolve(&b, to))
		return 0;
	return b.n;
}
