/*
 * pcapvec.c - read the Homa packets of a pcap file (see pcapvec.h).
 */
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pcapvec.h"

#define PCAPVEC_IPPROTO_HOMA 146
#define PCAPVEC_LINKTYPE_RAW 101 /* LINKTYPE_RAW, should libpcap pass it */
#define PCAPVEC_ETH_IPV4     0x0800
#define PCAPVEC_ETH_IPV6     0x86DD
#define PCAPVEC_ETH_VLAN     0x8100
#define PCAPVEC_IPV6_HOPOPTS 0
#define PCAPVEC_IPV6_ROUTING 43
#define PCAPVEC_IPV6_DSTOPTS 60
#define PCAPVEC_IPV4_HDR_MIN 20
#define PCAPVEC_IPV6_HDR     40

static void pcapvec_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void pcapvec_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static unsigned pcapvec_be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static int pcapvec_dlt_supported(int dlt)
{
	switch (dlt) {
	case DLT_EN10MB:
	case DLT_RAW:
	case PCAPVEC_LINKTYPE_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
	case DLT_LINUX_SLL:
	case DLT_LINUX_SLL2:
		return 1;
	default:
		return 0;
	}
}

static int pcapvec_ethertype_version(unsigned ethertype)
{
	if (ethertype == PCAPVEC_ETH_IPV4)
		return 4;
	if (ethertype == PCAPVEC_ETH_IPV6)
		return 6;
	return 0;
}

/*
 * Strip the link-layer header of one record: returns the IP version the
 * link layer announces (4 or 6) and sets *off to the IP header, or 0 when
 * the record carries no IP packet.
 */
static int pcapvec_link(int dlt, const uint8_t *d, size_t caplen, size_t *off)
{
	unsigned et;

	switch (dlt) {
	case DLT_EN10MB:
		if (caplen < 14)
			return 0;
		et = pcapvec_be16(d + 12);
		*off = 14;
		if (et == PCAPVEC_ETH_VLAN) {
			if (caplen < 18)
				return 0;
			et = pcapvec_be16(d + 16);
			*off = 18;
		}
		return pcapvec_ethertype_version(et);
	case DLT_LINUX_SLL: /* 16 bytes, protocol last */
		if (caplen < 16)
			return 0;
		*off = 16;
		return pcapvec_ethertype_version(pcapvec_be16(d + 14));
	case DLT_LINUX_SLL2: /* 20 bytes, protocol first */
		if (caplen < 20)
			return 0;
		*off = 20;
		return pcapvec_ethertype_version(pcapvec_be16(d));
	case DLT_IPV4:
		*off = 0;
		return 4;
	case DLT_IPV6:
		*off = 0;
		return 6;
	default: /* raw IP: the version nibble says */
		if (caplen < 1)
			return 0;
		*off = 0;
		return d[0] >> 4 == 4 || d[0] >> 4 == 6 ? d[0] >> 4 : 0;
	}
}

/*
 * Parse an IPv4 header at d[0..n): 1 and *p filled for a Homa packet, 0
 * when it is not one, -1 with err for a Homa packet that cannot be used.
 */
static int pcapvec_ipv4(const uint8_t *d, size_t n, struct pcapvec_pkt *p,
			char *err, size_t errlen)
{
	size_t ihl, tot;

	if (n < PCAPVEC_IPV4_HDR_MIN || d[0] >> 4 != 4)
		return 0;
	ihl = (size_t)(d[0] & 0x0f) * 4;
	if (ihl < PCAPVEC_IPV4_HDR_MIN || d[9] != PCAPVEC_IPPROTO_HOMA)
		return 0;
	tot = pcapvec_be16(d + 2);
	if (tot < ihl || ihl > n) {
		pcapvec_err(err, errlen, "bad IPv4 header lengths");
		return -1;
	}
	if (tot > n) {
		pcapvec_err(err, errlen,
			    "IPv4 packet cut short by the capture");
		return -1;
	}
	if (pcapvec_be16(d + 6) & 0x3fff) {
		pcapvec_err(err, errlen, "fragmented IPv4 packet");
		return -1;
	}
	p->ipv = 4;
	p->tos = d[1];
	inet_ntop(AF_INET, d + 12, p->src, sizeof(p->src));
	inet_ntop(AF_INET, d + 16, p->dst, sizeof(p->dst));
	p->homa = d + ihl;
	p->homa_len = tot - ihl; /* Ethernet padding beyond tot is ignored */
	p->ip = d;
	p->ip_len = tot;
	return 1;
}

/* As pcapvec_ipv4, for IPv6 (simple extension headers are skipped). */
static int pcapvec_ipv6(const uint8_t *d, size_t n, struct pcapvec_pkt *p,
			char *err, size_t errlen)
{
	size_t end, pos = PCAPVEC_IPV6_HDR;
	unsigned nh;

	if (n < PCAPVEC_IPV6_HDR || d[0] >> 4 != 6)
		return 0;
	end = PCAPVEC_IPV6_HDR + pcapvec_be16(d + 4);
	nh = d[6];
	while (nh == PCAPVEC_IPV6_HOPOPTS || nh == PCAPVEC_IPV6_ROUTING ||
	       nh == PCAPVEC_IPV6_DSTOPTS) {
		if (pos + 2 > end || pos + 2 > n)
			return 0;
		nh = d[pos];
		pos += ((size_t)d[pos + 1] + 1) * 8;
	}
	if (nh != PCAPVEC_IPPROTO_HOMA)
		return 0;
	if (pos > end) {
		pcapvec_err(err, errlen, "IPv6 extension headers too long");
		return -1;
	}
	if (end > n) {
		pcapvec_err(err, errlen,
			    "IPv6 packet cut short by the capture");
		return -1;
	}
	p->ipv = 6;
	p->tos = (uint8_t)((d[0] & 0x0f) << 4 | d[1] >> 4);
	inet_ntop(AF_INET6, d + 8, p->src, sizeof(p->src));
	inet_ntop(AF_INET6, d + 24, p->dst, sizeof(p->dst));
	p->homa = d + pos;
	p->homa_len = end - pos;
	p->ip = d;
	p->ip_len = end;
	return 1;
}

int pcapvec_foreach(const char *path,
		    int (*fn)(const struct pcapvec_pkt *p, void *arg),
		    void *arg, char *err, size_t errlen)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	struct pcap_pkthdr *hdr;
	const u_char *data;
	unsigned frame = 0;
	int count = 0, dlt, rc;
	pcap_t *pc;

	pc = pcap_open_offline(path, errbuf);
	if (pc == NULL) {
		pcapvec_err(err, errlen, "%s: %s", path, errbuf);
		return -1;
	}
	dlt = pcap_datalink(pc);
	if (!pcapvec_dlt_supported(dlt)) {
		const char *name = pcap_datalink_val_to_name(dlt);

		pcapvec_err(err, errlen, "%s: unsupported link type %d (%s)",
			    path, dlt, name != NULL ? name : "unknown");
		pcap_close(pc);
		return -1;
	}

	while ((rc = pcap_next_ex(pc, &hdr, &data)) == 1) {
		struct pcapvec_pkt p;
		char why[128] = "";
		size_t off = 0;
		int v, r;

		frame++;
		memset(&p, 0, sizeof(p));
		p.frame = frame;
		v = pcapvec_link(dlt, data, hdr->caplen, &off);
		if (v == 4)
			r = pcapvec_ipv4(data + off, hdr->caplen - off, &p, why,
					 sizeof(why));
		else if (v == 6)
			r = pcapvec_ipv6(data + off, hdr->caplen - off, &p, why,
					 sizeof(why));
		else
			r = 0;
		if (r < 0) {
			pcapvec_err(err, errlen, "%s: frame %u: %s", path,
				    frame, why);
			pcap_close(pc);
			return -1;
		}
		if (r == 0)
			continue;
		count++;
		r = fn(&p, arg);
		if (r != 0) {
			pcap_close(pc);
			return r;
		}
	}
	if (rc == -1) {
		pcapvec_err(err, errlen, "%s: %s", path, pcap_geterr(pc));
		pcap_close(pc);
		return -1;
	}
	pcap_close(pc);
	return count;
}
