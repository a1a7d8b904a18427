/*
 * linkpkt.h - the link's packet formats around Homa: pure parsers and
 * builders.
 *
 * What daemon/link.c reads and writes around a Homa packet, as functions
 * over byte buffers: no sockets, no io_uring, no globals, no allocation.
 * Each reads and writes only within the lengths it is given, whatever the
 * bytes say.  Unit-tested without privileges (tests/unit/test_linkpkt.c)
 * on the captures of tests/vectors and malformed variants.
 *
 *   - the IPv4 header of a raw ip link read (linkpkt_ipv4_strip); the IPv6
 *     header of a quoted packet (linkpkt_ipv6_strip: a raw IPv6 read
 *     starts at the Homa header, so the link itself never needs it);
 *   - the datagrams of one udp link read, which UDP_GRO may have joined
 *     (linkpkt_gro_init, linkpkt_gro_next);
 *   - the ICMP / ICMPv6 port unreachable answers homad sends
 *     (linkpkt_icmp4_build, linkpkt_icmp6_build, and whom not to answer:
 *     linkpkt_icmp_unanswerable);
 *   - ICMP / ICMPv6 errors about a Homa packet: a whole message
 *     (linkpkt_icmp_parse) or the quote the kernel hands over with an
 *     error-queue read (linkpkt_quote_parse);
 *   - the ICMP / ICMPv6 echo requests the link probes a peer host with
 *     (linkpkt_echo4_build, linkpkt_echo6_build) and the echo replies its
 *     raw ICMP sockets read (linkpkt_echo_parse);
 *   - direct receive's socket filters (linkpkt_drx_client_build,
 *     linkpkt_drx_server_build, linkpkt_drx_drop_build).
 *
 * Parsers return 0 or a negated enum linkpkt_err, the reason the bytes
 * were refused (linkpkt_err_name names it).
 */
#ifndef HOMAD_LINKPKT_H
#define HOMAD_LINKPKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/filter.h>

#include "core/engine.h"

#define LINKPKT_IP4_HLEN  20u /* IPv4 header without options */
#define LINKPKT_IP6_HLEN  40u /* IPv6 fixed header */
#define LINKPKT_UDP_HLEN  8u
#define LINKPKT_ICMP_HLEN 8u /* ICMP / ICMPv6 error header */
/*
 * Largest ICMP error linkpkt builds, IP header included: RFC 1812's 576
 * bytes for IPv4, RFC 4443's 1280 for IPv6 (the quote is cut to fit).
 */
#define LINKPKT_ICMP4_MAX 576u
#define LINKPKT_ICMP6_MAX 1280u
/* Most IPv6 extension headers linkpkt_ipv6_strip walks through. */
#define LINKPKT_IP6_MAX_EXT 8u

/* Why a parser refused its bytes; returned negated. */
enum linkpkt_err {
	LINKPKT_OK = 0,
	LINKPKT_ERR_SHORT,     /* fewer bytes than a header needs */
	LINKPKT_ERR_VERSION,   /* IP version nibble is not 4 (or 6) */
	LINKPKT_ERR_IHL,       /* IPv4 header length below 20 bytes */
	LINKPKT_ERR_LENGTH,    /* IP length below its header or past the end */
	LINKPKT_ERR_EXT,       /* IPv6 extension headers past the packet's
				  end, more than LINKPKT_IP6_MAX_EXT, or a
				  fragment header */
	LINKPKT_ERR_PROTO,     /* not Homa: protocol not 146 (or UDP); for
				  an echo reply: not ICMP (1) */
	LINKPKT_ERR_ICMP_TYPE, /* the ICMP message is not an error (for
				  linkpkt_echo_parse: not an echo reply) */
	LINKPKT_ERR_CHECKSUM,  /* ICMP (IPv4) checksum wrong */
	LINKPKT_ERR_COUNT
};

/* Stable short name of a linkpkt_err ("short", "ihl", ...); either sign. */
const char *linkpkt_err_name(int err);

/* What an IP header says about the packet it starts. */
struct linkpkt_ip {
	size_t off;    /* bytes of IP header(s): the transport header is here */
	size_t len;    /* bytes from off on, within the IP length and the
			  bytes given */
	uint8_t proto; /* IPv4 protocol, IPv6 last next header */
	uint8_t prio;  /* IPv4 TOS or IPv6 traffic class >> 5 (0..7) */
	struct homa_addr src, dst; /* IPv4 v4-mapped */
};

/*
 * The IPv4 header of p[0..len), as a raw ip link read starts: checks the
 * version, header length and total length (which must fit in len; bytes
 * past it, e.g. padding, are not part of the packet) and protocol 146.
 * Returns 0 and fills *ip, or -LINKPKT_ERR_SHORT (len < 20), _VERSION,
 * _IHL, _LENGTH (total length below the header or beyond len), _PROTO.
 * Options are skipped; fragments are not recognised (the kernel
 * reassembles before a raw socket reads).
 */
int linkpkt_ipv4_strip(const void *p, size_t len, struct linkpkt_ip *ip);

/*
 * The IPv6 header of p[0..len), walking hop-by-hop, routing and
 * destination options headers (at most LINKPKT_IP6_MAX_EXT) to next
 * header 146.  Returns 0 and fills *ip, or -LINKPKT_ERR_SHORT (len < 40),
 * _VERSION, _LENGTH (payload length beyond len), _EXT, _PROTO.
 */
int linkpkt_ipv6_strip(const void *p, size_t len, struct linkpkt_ip *ip);

/*
 * The datagrams of one udp link read of len bytes, whose UDP_GRO cmsg gave
 * the segment size seg (0: none): when 0 < seg < len the read holds
 * several datagrams, each seg bytes but the last (split is true);
 * otherwise it is one datagram, handed over whole (also when empty).
 */
struct linkpkt_gro {
	const uint8_t *p; /* the next datagram */
	size_t left;	  /* bytes from p on */
	size_t seg;	  /* segment size */
	bool split;	  /* a GRO read of several datagrams */
	bool done;	  /* every datagram was handed out */
};

void linkpkt_gro_init(struct linkpkt_gro *g, const void *data, size_t len,
		      size_t seg);

/* The next datagram in *pkt[0..*len); false when there is none left. */
bool linkpkt_gro_next(struct linkpkt_gro *g, const uint8_t **pkt, size_t *len);

/*
 * Internet checksum (RFC 1071) of p[0..len), in network byte order (store
 * it as is).
 */
uint16_t linkpkt_csum(const void *p, size_t len);

/*
 * A received Homa packet to answer with ICMP port unreachable, as it
 * arrived.  The packet pkt[0..len) starts at the Homa header.
 */
struct linkpkt_unreach {
	struct homa_addr src; /* its sender: the answer's destination */
	struct homa_addr dst; /* the address it was sent to (0.0.0.0 / ::,
				 of src's family, when unknown) */
	uint8_t prio;	      /* the priority it came with (0..7) */
	bool udp;	      /* udp link: a UDP header is quoted */
	uint16_t sport;	      /* udp: its source port */
	uint16_t dport;	      /* udp: the port it was sent to (ours) */
	const void *pkt;
	size_t len;
};

/*
 * Build into buf[0..room) the ICMP destination unreachable (type 3) port
 * unreachable (code 3) message about *u: the ICMP header, an IPv4 header
 * as the packet arrived (TTL unknown: 64), its UDP header (u->udp), and
 * as much of the Homa packet as keeps the message, with an IPv4 header of
 * its own, within LINKPKT_ICMP4_MAX bytes and room.  The ICMP checksum is
 * filled in.  u's addresses must be v4-mapped.  Returns the message's
 * length, or 0 when room cannot hold its headers.
 */
size_t linkpkt_icmp4_build(void *buf, size_t room,
			   const struct linkpkt_unreach *u);

/*
 * The IPv6 counterpart: ICMPv6 destination unreachable (type 1) port
 * unreachable (code 4), within LINKPKT_ICMP6_MAX bytes.  The checksum is
 * left 0: it covers a pseudo-header, and the kernel's raw ICMPv6 socket
 * fills it in.  Returns the length, or 0 when room is too small.
 */
size_t linkpkt_icmp6_build(void *buf, size_t room,
			   const struct linkpkt_unreach *u);

/*
 * Whether a host must not answer a packet from (or sent to) a with an ICMP
 * error (RFC 1122): IPv4 multicast, broadcast-class and 0.0.0.0, IPv6
 * multicast and ::.
 */
bool linkpkt_icmp_unanswerable(const struct homa_addr *a);

/* The Homa header fields an ICMP error's quote of our packet holds. */
struct linkpkt_quote {
	const uint8_t *homa; /* quoted bytes, from the Homa header on */
	size_t len;
	bool full;	/* the common header is quoted: fields valid */
	uint8_t type;	/* enum homa_type, as quoted (unchecked) */
	uint16_t sport; /* fields of the quoted common header, host */
	uint16_t dport; /*   order; 0 when !full */
	uint64_t sender_id;
};

/*
 * The quote q[0..len) of a Homa packet, from its Homa header on (as the
 * kernel hands it over with an error-queue read).  Returns 0 with every
 * field, or -LINKPKT_ERR_SHORT with full false and the fields 0 when fewer
 * than HOMA_COMMON_LEN bytes are quoted.
 */
int linkpkt_quote_parse(const void *q, size_t len, struct linkpkt_quote *out);

/* An ICMP or ICMPv6 error about a Homa packet. */
struct linkpkt_icmp {
	uint8_t type, code;   /* of the ICMP message */
	struct linkpkt_ip ip; /* the quoted packet's IP header */
	bool udp;	      /* the quoted packet was UDP (udp link) */
	uint16_t udp_sport;   /* ... its ports, host order */
	uint16_t udp_dport;
	struct linkpkt_quote quote; /* the quoted Homa bytes */
};

/*
 * An ICMP (family AF_INET) or ICMPv6 (AF_INET6) message msg[0..len), from
 * its ICMP header on, that reports an error about a Homa packet: IPv4
 * types destination unreachable, source quench, redirect, time exceeded
 * and parameter problem; ICMPv6 types below 128.  The quoted IP header
 * must be whole; its length may say more than is quoted.  The quoted
 * packet is Homa on protocol 146 or on UDP (whose header must be quoted
 * whole; the caller checks the port).  A quote of fewer Homa bytes than
 * the common header is accepted with quote.full false.  The IPv4
 * checksum is checked; the ICMPv6 one, which covers the outer addresses,
 * is not.  Returns 0 and fills *out, or, checked in this order,
 * -LINKPKT_ERR_VERSION (family neither), _SHORT (fewer than 8 bytes),
 * _ICMP_TYPE, _CHECKSUM, the quoted IP header's error (_SHORT when cut,
 * _VERSION, _IHL, _LENGTH, _EXT), _PROTO, _SHORT (UDP header cut).
 */
int linkpkt_icmp_parse(int family, const void *msg, size_t len,
		       struct linkpkt_icmp *out);

/*
 * Echo requests and replies (ICMP types 8 / 0, ICMPv6 128 / 129, code 0):
 * the ICMP header with identifier and sequence, then LINKPKT_ECHO_DATA
 * bytes of payload, the text "homadprb".
 */
#define LINKPKT_ECHO_DATA "homadprb"
#define LINKPKT_ECHO_LEN  (LINKPKT_ICMP_HLEN + 8u)

/*
 * Build into buf[0..room) an ICMP echo request (type 8, code 0) with
 * identifier id and sequence seq (host order; written in network order),
 * the payload LINKPKT_ECHO_DATA, and the ICMP checksum filled in: what a
 * raw IPPROTO_ICMP socket sends (the kernel writes the IP header).
 * Returns LINKPKT_ECHO_LEN, or 0 when room is smaller.
 */
size_t linkpkt_echo4_build(void *buf, size_t room, uint16_t id, uint16_t seq);

/*
 * The ICMPv6 counterpart (type 128, code 0).  The checksum is left 0: it
 * covers a pseudo-header with both addresses, and Linux computes it for
 * every message sent on a raw IPPROTO_ICMPV6 socket (RFC 3542 section
 * 3.1; net/ipv6/raw.c sets the checksum offset 2 for such sockets and
 * refuses to turn it off).  Returns LINKPKT_ECHO_LEN, or 0 when room is
 * smaller.
 */
size_t linkpkt_echo6_build(void *buf, size_t room, uint16_t id, uint16_t seq);

/* An echo reply, as linkpkt_echo_parse found it. */
struct linkpkt_echo {
	uint16_t id;	     /* identifier, host order */
	uint16_t seq;	     /* sequence, host order */
	const uint8_t *data; /* the payload after the ICMP header */
	size_t data_len;
	struct linkpkt_ip ip; /* AF_INET: the IP header (src is the host
				 that answered); AF_INET6: zero */
};

/*
 * An ICMP (family AF_INET) or ICMPv6 (AF_INET6) echo reply as a raw socket
 * of that protocol reads it, p[0..len): an IPv4 read starts with the IP
 * header (version 4, IHL, total length within len, protocol 1), an IPv6
 * read at the ICMPv6 header.  Only an echo reply (type 0 / 129) of code 0
 * is accepted.  The IPv4 ICMP checksum is checked (a raw socket gets its
 * copy before the kernel's ICMP code checks it); the ICMPv6 one, which
 * covers the addresses, the kernel checks before a raw ICMPv6 socket
 * reads.  Returns 0 and fills *out, or, checked in this order,
 * -LINKPKT_ERR_VERSION (family neither), the IPv4 header's error
 * (_SHORT, _VERSION, _IHL, _LENGTH), _PROTO (not ICMP), _SHORT (fewer
 * than 8 bytes of ICMP), _ICMP_TYPE, _CHECKSUM.
 */
int linkpkt_echo_parse(int family, const void *p, size_t len,
		       struct linkpkt_echo *out);

/*
 * ---- direct receive (proto/homa_shm.h) --------------------------------
 *
 * Both kinds of direct packet are judged as a raw IPv4 socket reads them,
 * from the IP header on; the Homa part starts 4 * IHL bytes in, and the
 * packet's length is what the kernel trimmed it to (the IP total length).
 * Either kind is a DATA packet (type HOMA_DATA) of at least
 * HOMA_DATA_LEN + 1 Homa bytes that holds a whole message: sequence 0,
 * seg_offset 0 or HOMA_SEG_OFFSET_NONE, and message_length exactly its
 * payload (the packet's length - 4 * IHL - HOMA_DATA_LEN).  Then:
 *
 *   - a direct response for (port, key): dport is port, sender_id is odd
 *     (bit 0 of its last, big-endian byte set) with bit 63 set and bits
 *     62..32 equal to key, and there is no ack (ack.client_id 0);
 *   - a direct request for port: dport is port, sender_id is even (bit 0
 *     clear), its other bits anything, and the ack anything (not read).
 *
 * No packet is both.  A client's receive socket gets the locked filter
 * of linkpkt_drx_client_build, which keeps exactly the direct responses
 * of its (port, key); a server's request socket gets that of
 * linkpkt_drx_server_build, which keeps exactly the direct requests to
 * its port.  homad's own sockets get, before their class program, the
 * prefix of linkpkt_drx_drop_build: it drops every direct response (of
 * any key) to one of a list of ports and every direct request to one of
 * another list, and lets the rest go on to the class program.  Each
 * program (each section of the prefix) first checks the HOMA_DATA_LEN + 1
 * bytes and loads nothing past them, so none ends early on a short packet
 * (which would drop it).
 */

/*
 * Most ports in each of the prefix's lists.  Its jumps are 8-bit (at most
 * 255 instructions ahead); the longest goes from the end of the response
 * section over the whole request section to the final RET, and none
 * leaves its own section for further than that RET: each section, with
 * the RET, must fit in 256 instructions (linkpkt.c asserts it).  With 128
 * ports the sections are 153 and 147 instructions long, so both lists may
 * be full at once.
 */
#define LINKPKT_DRX_MAX_PORTS 128u
/* Instructions of the client's and the server's programs. */
#define LINKPKT_DRX_CLIENT_LEN 28u
#define LINKPKT_DRX_SERVER_LEN 22u
/*
 * Instructions of homad's prefix for n response and m request ports: a
 * section of 25 + n for the responses (if n), one of 19 + m for the
 * requests (if m), a RET 0; none at all for n + m == 0.
 */
#define LINKPKT_DRX_DROP_LEN(n, m)                         \
	(((n) ? 25u + (n) : 0u) + ((m) ? 19u + (m) : 0u) + \
	 ((n) || (m) ? 1u : 0u))

/*
 * The client's locked filter for (port, key) into f[0..room): returns
 * 0xffffffff for a direct response of (port, key), else 0.  Returns its
 * length (LINKPKT_DRX_CLIENT_LEN), or 0 if room is too small.
 */
size_t linkpkt_drx_client_build(struct sock_filter *f, size_t room,
				uint16_t port, uint32_t key);

/*
 * The server's locked filter for port into f[0..room): returns 0xffffffff
 * for a direct request to port, else 0.  Returns its length
 * (LINKPKT_DRX_SERVER_LEN), or 0 if room is too small.
 */
size_t linkpkt_drx_server_build(struct sock_filter *f, size_t room,
				uint16_t port);

/*
 * homad's prefix into f[0..room): returns 0 (drops) for a direct response
 * of any key to one of ports[0..n) and for a direct request to one of
 * req_ports[0..m), else goes on at the instruction after it (the
 * registers and scratch memory then hold nothing of use).  n and m are
 * each at most LINKPKT_DRX_MAX_PORTS; a list of 0 ports may be NULL.
 * With m 0 the program is the response section alone, as before requests
 * were received directly.  Returns its length (LINKPKT_DRX_DROP_LEN(n,
 * m)), or 0 if n + m is 0, n or m too large, or room too small.
 */
size_t linkpkt_drx_drop_build(struct sock_filter *f, size_t room,
			      const uint16_t *ports, unsigned n,
			      const uint16_t *req_ports, unsigned m);

#endif /* HOMAD_LINKPKT_H */
