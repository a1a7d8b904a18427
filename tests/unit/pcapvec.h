/*
 * pcapvec.h - read the Homa packets of a pcap file (test vectors).
 *
 * Shared by the unit tests (decoding the captures of tests/vectors) and by
 * the integration sender (replaying them).  Reads with libpcap; knows the
 * link types Ethernet (with at most one 802.1Q tag), raw IP (DLT_RAW,
 * LINKTYPE_RAW, DLT_IPV4, DLT_IPV6) and Linux cooked captures (SLL, SLL2).
 */
#ifndef HOMAD_TESTS_PCAPVEC_H
#define HOMAD_TESTS_PCAPVEC_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

/* One Homa packet of a capture; valid only during the callback. */
struct pcapvec_pkt {
	unsigned frame; /* 1-based pcap record number */
	int ipv;	/* 4 or 6 */
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	uint8_t tos;	     /* IPv4 TOS or IPv6 traffic class */
	const uint8_t *homa; /* bytes from the Homa header on (borrowed) */
	size_t homa_len;
	const uint8_t *ip; /* the whole IP packet, from its header on */
	size_t ip_len;	   /* (its IP length: no link-layer padding) */
};

/*
 * Call fn for every IPv4/IPv6 packet with protocol/next-header 146 in the
 * pcap at path, in file order; stops early if fn returns nonzero (and
 * returns that value).  Returns the number of Homa packets visited (>= 0),
 * or -1 with a message in err: the file cannot be read, its link type is
 * not supported, or a Homa packet in it is cut short by the capture or
 * fragmented.  Records that are not IP, or IP but not Homa, are skipped.
 */
int pcapvec_foreach(const char *path,
		    int (*fn)(const struct pcapvec_pkt *p, void *arg),
		    void *arg, char *err, size_t errlen);

#endif /* HOMAD_TESTS_PCAPVEC_H */
