/*
 * link.c - raw IP protocol 146 and UDP sockets driven through io_uring.
 *
 * Sending: every packet is copied once into a tx slot whose sendmsg is
 * queued at once.  On the udp link, DATA packets of one message
 * (link_sendv's gso_key) that follow each other are appended to the last
 * slot as long as its sendmsg is still in the submission queue (the kernel
 * has not read it yet), and leave as one UDP_SEGMENT (GSO) send.
 *
 * A send posts no completion when it succeeds (uring.h, "Sends that post
 * no completion"): its slot waits on the unconfirmed list until
 * link_confirm sees its SQE consumed with no failure reported, and is
 * freed then.  One that fails with -EAGAIN (the socket buffer full) is
 * queued again as an ordinary send, which the kernel retries when there is
 * room and which completes as before.
 *
 * ICMP: errors about our packets are read from each socket's error queue
 * and handed to the link_icmp_fn; port unreachable answers and echo
 * requests (link_probe) are built by linkpkt.c and sent on raw
 * IPPROTO_ICMP / IPPROTO_ICMPV6 sockets opened at creation (they need
 * CAP_NET_RAW, so before the privilege drop), which read the echo replies
 * (and nothing else) through a multishot recvmsg like the Homa sockets.
 * The bytes around a Homa packet (IP headers, GRO segments, ICMP
 * messages) are parsed and built by linkpkt.c, tested without privileges.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <linux/filter.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/wire.h"
#include "link.h"
#include "linkpkt.h"
#include "log.h"

/*
 * Socket buffers we ask for (SO_*BUFFORCE as root, else capped by sysctl);
 * network.rcvbuf replaces LINK_RCVBUF when set.
 */
#define LINK_RCVBUF (16 * 1024 * 1024)
#define LINK_SNDBUF (4 * 1024 * 1024)
/* Bytes of a datagram the udp link can get in one (GRO) read. */
#define LINK_UDP_MAX_READ 65536u
/* Smallest rx room of the ip link: a 9000-byte jumbo frame. */
#define LINK_IP_MIN_READ 9000u
/* Seconds between two warnings about failed sends. */
#define LINK_WARN_INTERVAL_NS (10ull * 1000000000ull)

/*
 * GSO limits of one UDP_SEGMENT send: the UDP payload of one call must fit
 * an IPv4 datagram (65535 - 20 - 8 bytes; IPv6 allows a little more, the
 * smaller bound is used for both), and Linux 6.1 takes at most 64
 * segments (UDP_MAX_SEGMENTS; 128 from 6.9).
 */
#define LINK_GSO_MAX_BYTES 65507u
#define LINK_GSO_MAX_SEGS  64u
/* Size of a udp tx slot: room for a whole GSO send. */
#define LINK_UDP_SLOT_SIZE 65536u

/*
 * Times a send is queued again when it failed on an error an earlier ICMP
 * message left pending on its socket (link_send_retry).  Each ICMP error
 * fails one send; in a batch of n sends to a host that answers each with
 * an error, half fail, then half of those when sent again, and so on: 8
 * rounds cover batches of 256.
 */
#define LINK_TX_RETRIES 8

/* ICMP port unreachable: at most LINK_ICMP_RATE a second, bursts of ... */
#define LINK_ICMP_RATE	1000u
#define LINK_ICMP_BURST 100u
/* ICMP_FILTER of linux/icmp.h (which clashes with net/if.h). */
#define LINK_ICMP_FILTER 1
/*
 * Receive buffer of the raw ICMP sockets, which only read echo replies to
 * probes (a few per peer and second; other processes' pings too).
 */
#define LINK_ICMP_RCVBUF (64 * 1024)
/*
 * link_probe leaves at least 1/LINK_PROBE_RESERVE of the tx slots (rounded
 * up) free for Homa packets.
 */
#define LINK_PROBE_RESERVE 8

/* One socket of the link. */
struct link_sock {
	struct link *l;		/* owner */
	int fd;			/* -1 when closed */
	int family;		/* AF_INET or AF_INET6 */
	enum link_rx_class cls; /* which packets its filter lets in */
	bool icmp; /* a raw ICMP / ICMPv6 socket: reads echo replies */
	/*
	 * Raw ip link, LINK_RX_CTL socket only: a twin that takes every
	 * packet and drops it at once (a locked "ret 0" filter), so that a
	 * full receive queue never makes the kernel answer ICMP protocol
	 * unreachable (link.h).  -1 when none.
	 */
	int sentinel_fd;
	uint32_t drops;	 /* the kernel's drop count (sk_drops) last seen */
	bool recv_armed; /* multishot recvmsg in flight */
	bool poll_armed; /* multishot POLLERR poll in flight */
	bool recv_dead;	 /* the kernel refused the receive: not re-armed */
	/* A re-arm found no submission entry: link_rearm tries again. */
	bool rearm_recv, rearm_poll;
	struct msghdr rx_msg; /* layout of the rx buffers, for the kernel */
	char desc[96];	      /* "ip 10.0.0.1", "udp [::]:4146 dev eth0" */
};

/*
 * A send in the making or in flight: owned by the link from link_sendv (or
 * link_port_unreachable) to its completion.  A slot holds one packet, a
 * run of GSO segments of one message (udp link), or one ICMP message.
 */
struct link_slot {
	struct link_slot *next_free; /* free list link */
	struct msghdr msg;
	struct iovec iov;
	union {
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} dst;
	struct {
		/* prio [+ UDP_SEGMENT], or a PKTINFO */
		_Alignas(struct cmsghdr) char buf[64];
	} ctl;
	unsigned sqe_idx;      /* index of its SQE in the SQ (not masked) */
	int fd;		       /* the socket it is sent on */
	uint8_t retries;       /* times re-sent after a pending-error failure */
	bool skip;	       /* its send posts no completion on success */
	uint16_t n_pkts;       /* Homa packets in it; 0: an ICMP message */
	bool probe;	       /* an echo request (link_probe) */
	uint16_t gso_size;     /* bytes of each segment but the last */
	bool gso_open;	       /* a GSO run that may take more segments */
	uint8_t prio;	       /* priority of the packets in it */
	uint64_t gso_key;      /* link_sendv's key (0: no GSO) */
	struct homa_addr peer; /* destination of the packets in it */

	/* On link.unconfirmed while skip. */
	TAILQ_ENTRY(link_slot) unconf;
};

/*
 * The packet the link is handing to its receiver right now, so that
 * link_port_unreachable, called from inside the receiver, can quote it as
 * it arrived (addresses, ports, priority).
 */
struct link_rx_cur {
	const void *pkt;      /* NULL when no delivery is under way */
	struct homa_addr src; /* its sender */
	struct homa_addr dst; /* the local address it was sent to */
	bool dst_known;	      /* dst was found (IP header or PKTINFO) */
	int ifindex;	      /* interface it came in on (0: unknown) */
	uint16_t src_port;    /* udp link: the sender's port */
	uint8_t prio;	      /* priority it arrived with */
};

struct link {
	struct uring *u;       /* the ring everything goes through */
	struct homad_stats *m; /* link_* counters */
	link_rx_fn rx;	       /* receiver of every packet */
	void *rx_arg;
	link_icmp_fn icmp_fn; /* receiver of ICMP errors (may be NULL) */
	void *icmp_arg;
	link_echo_fn echo_fn; /* receiver of echo replies (may be NULL) */
	void *echo_arg;
	uint16_t probe_id; /* identifier of our echo requests (random) */
	enum homa_link_kind kind;
	uint16_t udp_port;
	uint32_t mtu;	/* in effect */
	bool stopping;	/* link_stop: re-arm nothing */
	bool rearm_due; /* some socket's rearm_recv or rearm_poll is set */
	uint64_t now;	/* the latest time link_complete was given */

	/*
	 * Groups of LINK_RX_CLASSES sockets, one group per address x
	 * interface: group g is socks[g * LINK_RX_CLASSES + cls].
	 */
	unsigned n_groups;
	unsigned n_socks; /* opened, including a half-opened group */
	struct link_sock socks[LINK_MAX_SOCKETS * LINK_RX_CLASSES];
	uint8_t high_prio;   /* DATA at this priority or above: LINK_RX_HIGH */
	uint64_t sampled_ns; /* when link_sample last ran */
	int tx_sock[2];	     /* socket index sending IPv4 [0] / v6 [1] */
	/* Raw ICMP [0] / ICMPv6 [1] socket (fd -1 if none); cls LINK_RX_CTL */
	struct link_sock icmp[2];

	struct link_slot *slots; /* n_slots, calloc'ed */
	unsigned n_slots;
	struct link_slot *free_slots;
	unsigned in_flight; /* slots not free */
	uint8_t *slab;	    /* n_slots * slot_size bytes of packets */
	size_t slab_len;
	uint32_t slot_size; /* the MTU (ip), LINK_UDP_SLOT_SIZE (udp) */

	/* Slots whose send posts no completion on success, in SQE order. */
	TAILQ_HEAD(, link_slot) unconfirmed;
	unsigned n_unconfirmed;

	/* The last slot queued, if it can take more GSO segments. */
	struct link_slot *gso_tail;
	bool gso_off; /* the kernel refused a GSO send: no more GSO */

	struct link_rx_cur rx_cur;
	uint64_t icmp_tokens_ns; /* token bucket, in ns of credit */
	uint64_t icmp_last_ns;	 /* when the bucket was last filled */

	uint64_t last_warn_ns;	  /* last warning about a failed send */
	uint64_t warn_suppressed; /* failed sends not warned about since */

	/* Direct receive: the ports whose direct packets the IPv4 sockets'
	 * filters drop (link_set_direct_rx). */
	uint16_t drx_ports[LINKPKT_DRX_MAX_PORTS];
	unsigned n_drx;
	uint16_t drx_req_ports[LINKPKT_DRX_MAX_PORTS]; /* requests' */
	unsigned n_drx_req;
};

uint32_t link_rx_buf_size(enum homa_link_kind kind, uint32_t mtu)
{
	uint32_t room;

	if (kind == HOMA_LINK_UDP)
		room = LINK_UDP_MAX_READ;
	else
		room = mtu > LINK_IP_MIN_READ ? mtu : LINK_IP_MIN_READ;
	return (uint32_t)((room + LINK_RX_HEADROOM + 63) & ~(size_t)63);
}

/* ---- addresses --------------------------------------------------------- */

static void link_addr_from_sa(const struct sockaddr *sa, struct homa_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		a->in6.s6_addr[10] = 0xff;
		a->in6.s6_addr[11] = 0xff;
		memcpy(&a->in6.s6_addr[12], &s4->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		a->in6 = ((const struct sockaddr_in6 *)sa)->sin6_addr;
	}
}

/* Text of a sockaddr, for logs. */
static const char *link_sa_text(const struct sockaddr *sa, char *buf,
				size_t len)
{
	const void *a = NULL;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (!a || !inet_ntop(sa->sa_family, a, buf, (socklen_t)len))
		snprintf(buf, len, "(family %d)", sa->sa_family);
	return buf;
}

/* ---- sockets ------------------------------------------------------------ */

static int link_setsockopt_int(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value)) < 0 ? -errno
								      : 0;
}

/*
 * Large socket buffers (rcvbuf bytes to receive, 0: LINK_RCVBUF): forced
 * as root, else as much as the sysctls allow.
 */
static void link_sock_buffers(int fd, uint32_t rcvbuf)
{
	int rcv = rcvbuf ? (int)rcvbuf : LINK_RCVBUF;

	if (link_setsockopt_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, rcv) < 0)
		link_setsockopt_int(fd, SOL_SOCKET, SO_RCVBUF, rcv);
	if (link_setsockopt_int(fd, SOL_SOCKET, SO_SNDBUFFORCE, LINK_SNDBUF) <
	    0)
		link_setsockopt_int(fd, SOL_SOCKET, SO_SNDBUF, LINK_SNDBUF);
}

/*
 * Whether a socket of class cls reads ICMP errors.  Only the LINK_RX_CTL
 * socket of a group sends.  On the ip link every raw socket gets a copy of
 * each ICMP error, so only that one reads them (without IP_RECVERR the
 * others ignore them); on the udp link the kernel hands an error to one
 * socket of the SO_REUSEPORT group, chosen by hash, so all of them do.
 */
static bool link_reads_errors(const struct link *l, enum link_rx_class cls)
{
	return cls == LINK_RX_CTL || l->kind == HOMA_LINK_UDP;
}

/* The options that make a socket receive what the link parses. */
static int link_sock_options(struct link *l, int fd, int family,
			     enum link_rx_class cls)
{
	int r = link_setsockopt_int(fd, SOL_SOCKET, SO_RXQ_OVFL, 1);

	if (r < 0)
		return r;
	if (family == AF_INET) {
		if (link_reads_errors(l, cls))
			r = link_setsockopt_int(fd, SOL_IP, IP_RECVERR, 1);
		/* The raw ip link reads the IP header itself. */
		if (r == 0 && l->kind == HOMA_LINK_UDP)
			r = link_setsockopt_int(fd, SOL_IP, IP_RECVTOS, 1);
		if (r == 0 && l->kind == HOMA_LINK_UDP)
			r = link_setsockopt_int(fd, SOL_IP, IP_PKTINFO, 1);
	} else {
		/* Raw sockets refuse V6ONLY (and never see IPv4 anyway). */
		r = 0;
		if (l->kind == HOMA_LINK_UDP)
			r = link_setsockopt_int(fd, SOL_IPV6, IPV6_V6ONLY, 1);
		if (r == 0 && link_reads_errors(l, cls))
			r = link_setsockopt_int(fd, SOL_IPV6, IPV6_RECVERR, 1);
		if (r == 0)
			r = link_setsockopt_int(fd, SOL_IPV6, IPV6_RECVTCLASS,
						1);
		if (r == 0)
			r = link_setsockopt_int(fd, SOL_IPV6, IPV6_RECVPKTINFO,
						1);
	}
	if (r == 0 && l->kind == HOMA_LINK_UDP)
		r = link_setsockopt_int(fd, SOL_UDP, UDP_GRO, 1);
	return r;
}

/* A filter's return that keeps the whole packet. */
#define LINK_BPF_ALL 0xffffffffu
/* Longest program link_bpf_build writes. */
#define LINK_BPF_MAX 16
/* Reads that empty a socket of what it queued before its filter was set. */
#define LINK_DRAIN_MAX 4096

/* Offset of the type byte in the Homa header. */
#define LINK_TYPE_OFF offsetof(struct homa_wire_common, type)

/*
 * Write into f the classic BPF program that sorts packets into receive
 * classes (link.h): on the ip link the socket filter of class cls, which
 * keeps the packets of its class and drops the others; on the udp link
 * the SO_REUSEPORT program of a group, which returns the class of each
 * datagram (the index of its socket in the group).  Returns its length.
 *
 * What the program sees: a raw IPv4 socket's packet from the IP header on
 * (X = the IHL in bytes), a raw IPv6 socket's from the Homa header on, a
 * reuseport program's from the UDP payload (the Homa header) on.  The
 * priority is read from the network header in every case (SKF_NET_OFF):
 * IPv4 TOS >> 5; IPv6 traffic class >> 5, i.e. bits 3..1 of the first
 * byte.  A packet too short to have a type goes to LINK_RX_CTL, whose
 * receiver counts it as malformed.
 */
static unsigned link_bpf_build(const struct link *l, int family,
			       enum link_rx_class cls, struct sock_filter *f)
{
	bool udp = l->kind == HOMA_LINK_UDP;
	uint32_t ret[LINK_RX_CLASSES];
	unsigned n = 0, c;

	for (c = 0; c < LINK_RX_CLASSES; c++)
		ret[c] = udp ? c : (c == cls ? LINK_BPF_ALL : 0);
	if (!udp && family == AF_INET)
		f[n++] = (struct sock_filter)BPF_STMT(BPF_LDX | BPF_B | BPF_MSH,
						      0);
	else
		f[n++] = (struct sock_filter)BPF_STMT(BPF_LDX | BPF_W | BPF_IMM,
						      0);
	/* A = bytes from the Homa header on. */
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_SUB | BPF_X, 0);
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K,
					      LINK_TYPE_OFF + 1, 1, 0);
	f[n++] =
		(struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ret[LINK_RX_CTL]);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_IND,
					      LINK_TYPE_OFF);
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
					      HOMA_DATA, 1, 0);
	f[n++] =
		(struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ret[LINK_RX_CTL]);
	if (family == AF_INET) {
		f[n++] = (struct sock_filter)BPF_STMT(
			BPF_LD | BPF_B | BPF_ABS, (uint32_t)(SKF_NET_OFF + 1));
		f[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_RSH | BPF_K,
						      5);
	} else {
		f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS,
						      (uint32_t)SKF_NET_OFF);
		f[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K,
						      0x0f);
		f[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_RSH | BPF_K,
						      1);
	}
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K,
					      l->high_prio, 0, 1);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
					      ret[LINK_RX_HIGH]);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
					      ret[LINK_RX_BULK]);
	return n;
}

/* Attach the program f[0..n) to fd as option name (SOL_SOCKET). */
static int link_bpf_attach(int fd, int name, struct sock_filter *f, unsigned n)
{
	struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};

	return setsockopt(fd, SOL_SOCKET, name, &prog, sizeof(prog)) < 0
		       ? -errno
		       : 0;
}

/*
 * Attach the ip link's filter to socket s: its class program, after
 * direct receive's drop prefix on IPv4 (link_set_direct_rx).
 */
static int link_filter_attach(const struct link *l, const struct link_sock *s)
{
	struct sock_filter f[LINKPKT_DRX_DROP_LEN(LINKPKT_DRX_MAX_PORTS,
						  LINKPKT_DRX_MAX_PORTS) +
			     LINK_BPF_MAX];
	size_t n = 0;

	if (s->family == AF_INET && l->n_drx + l->n_drx_req > 0) {
		n = linkpkt_drx_drop_build(
			f, LINKPKT_DRX_DROP_LEN(l->n_drx, l->n_drx_req),
			l->drx_ports, l->n_drx, l->drx_req_ports, l->n_drx_req);
		if (n == 0)
			return -EINVAL;
	}
	n += link_bpf_build(l, s->family, s->cls, f + n);
	return link_bpf_attach(s->fd, SO_ATTACH_FILTER, f, (unsigned)n);
}

/*
 * Read and drop what fd queued before its filter was attached (those
 * packets may also be in another socket of the group).  Bounded: what
 * arrives meanwhile passed the filter and may be lost too, once, at start.
 */
static void link_drain(int fd)
{
	char b[1];
	unsigned i;

	for (i = 0; i < LINK_DRAIN_MAX; i++)
		if (recv(fd, b, sizeof(b), MSG_DONTWAIT | MSG_TRUNC) < 0 &&
		    errno != EINTR)
			return;
}

/*
 * Open the sentinel of s (link.h): a raw socket like s's whose locked
 * filter drops every packet, with the smallest receive buffer, bound to
 * the same address (sa, or none) and interface.  Returns 0 or -errno with
 * err set.
 */
static int link_sentinel_open(struct link_sock *s, const struct sockaddr *sa,
			      socklen_t salen, const char *ifname, char *err,
			      size_t errlen)
{
	struct sock_filter drop[1] = {BPF_STMT(BPF_RET | BPF_K, 0)};
	int fd, r;

	fd = socket(s->family, SOCK_RAW | SOCK_CLOEXEC, HOMA_IPPROTO);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot open the sentinel socket: %s",
			 s->desc, strerror(-r));
		return r;
	}
	s->sentinel_fd = fd;
	r = link_bpf_attach(fd, SO_ATTACH_FILTER, drop, 1);
	if (r == 0)
		r = link_setsockopt_int(fd, SOL_SOCKET, SO_LOCK_FILTER, 1);
	if (r == 0)
		r = link_setsockopt_int(fd, SOL_SOCKET, SO_RCVBUF, 0);
	if (r == 0 && ifname &&
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
		       (socklen_t)strlen(ifname)) < 0)
		r = -errno;
	if (r == 0 && sa && bind(fd, sa, salen) < 0)
		r = -errno;
	if (r < 0) {
		snprintf(err, errlen,
			 "%s: cannot set up the sentinel socket: %s", s->desc,
			 strerror(-r));
		return r;
	}
	link_drain(fd);
	return 0;
}

/*
 * Open socket s of class cls and the given family, bound to addr (NULL:
 * any) and to the interface ifname (NULL: none).  The ip link's sockets
 * get their class's filter at once; the udp link's join the group's
 * SO_REUSEPORT group (its program is attached by link_open_all).  Returns
 * 0 or -errno with err set.
 */
static int link_sock_open(struct link *l, struct link_sock *s, int family,
			  enum link_rx_class cls,
			  const struct homa_conf_addr *addr, const char *ifname,
			  uint32_t rcvbuf, char *err, size_t errlen)
{
	const char *kind = config_link_name(l->kind);
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} sa;
	char atext[INET6_ADDRSTRLEN + 8];
	socklen_t salen;
	int fd, r;

	memset(s, 0, sizeof(*s));
	s->l = l;
	s->fd = -1;
	s->sentinel_fd = -1;
	s->family = family;
	s->cls = cls;
	memset(&sa, 0, sizeof(sa));
	if (family == AF_INET) {
		sa.v4.sin_family = AF_INET;
		sa.v4.sin_addr.s_addr = addr ? addr->a.v4.s_addr : INADDR_ANY;
		sa.v4.sin_port =
			l->kind == HOMA_LINK_UDP ? htons(l->udp_port) : 0;
		salen = sizeof(sa.v4);
	} else {
		sa.v6.sin6_family = AF_INET6;
		sa.v6.sin6_addr = addr ? addr->a.v6 : in6addr_any;
		sa.v6.sin6_port =
			l->kind == HOMA_LINK_UDP ? htons(l->udp_port) : 0;
		salen = sizeof(sa.v6);
	}
	link_sa_text(&sa.sa, atext, sizeof(atext));
	if (l->kind == HOMA_LINK_UDP)
		snprintf(s->desc, sizeof(s->desc),
			 family == AF_INET6 ? "udp [%s]:%u%s%s"
					    : "udp %s:%u%s%s",
			 atext, l->udp_port, ifname ? " dev " : "",
			 ifname ? ifname : "");
	else
		snprintf(s->desc, sizeof(s->desc), "ip %s%s%s", atext,
			 ifname ? " dev " : "", ifname ? ifname : "");

	if (l->kind == HOMA_LINK_IP)
		fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, HOMA_IPPROTO);
	else
		fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0) {
		r = -errno;
		if (l->kind == HOMA_LINK_IP)
			snprintf(err, errlen,
				 "cannot open raw IP protocol 146 socket "
				 "(%s): %s%s",
				 family == AF_INET ? "IPv4" : "IPv6",
				 strerror(-r),
				 r == -EPERM ? " (needs CAP_NET_RAW)" : "");
		else
			snprintf(err, errlen, "cannot open UDP socket (%s): %s",
				 family == AF_INET ? "IPv4" : "IPv6",
				 strerror(-r));
		return r;
	}
	s->fd = fd;
	if (l->kind == HOMA_LINK_IP) {
		/* A raw socket receives from its creation on. */
		r = link_filter_attach(l, s);
		if (r < 0) {
			snprintf(err, errlen,
				 "%s: cannot attach the receive filter: %s",
				 s->desc, strerror(-r));
			return r;
		}
		link_drain(fd);
	} else {
		r = link_setsockopt_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
		if (r < 0) {
			snprintf(err, errlen, "%s: cannot set SO_REUSEPORT: %s",
				 s->desc, strerror(-r));
			return r;
		}
	}
	if (ifname && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
				 (socklen_t)strlen(ifname)) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot bind to interface %s: %s",
			 s->desc, ifname, strerror(-r));
		return r;
	}
	r = link_sock_options(l, fd, family, cls);
	if (r < 0) {
		snprintf(err, errlen, "%s socket: cannot set options: %s", kind,
			 strerror(-r));
		return r;
	}
	link_sock_buffers(fd, rcvbuf);
	if ((addr || l->kind == HOMA_LINK_UDP) && bind(fd, &sa.sa, salen) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot bind %s: %s", s->desc,
			 strerror(-r));
		return r;
	}
	if (l->kind == HOMA_LINK_IP && cls == LINK_RX_CTL) {
		r = link_sentinel_open(s, addr ? &sa.sa : NULL, salen, ifname,
				       err, errlen);
		if (r < 0)
			return r;
	}

	s->rx_msg.msg_namelen = LINK_RX_NAMELEN;
	s->rx_msg.msg_controllen = LINK_RX_CONTROLLEN;
	return 0;
}

/*
 * Open the LINK_RX_CLASSES sockets of one group (link.h) at the end of
 * l->socks; on the udp link, bound in class order, then given the
 * SO_REUSEPORT program that picks each datagram's socket.
 */
static int link_group_open(struct link *l, int family,
			   const struct homa_conf_addr *addr,
			   const char *ifname, uint32_t rcvbuf, char *err,
			   size_t errlen)
{
	struct link_sock *first = &l->socks[l->n_socks];
	struct sock_filter f[LINK_BPF_MAX];
	unsigned c;
	int r;

	for (c = 0; c < LINK_RX_CLASSES; c++) {
		struct link_sock *s = &l->socks[l->n_socks];

		r = link_sock_open(l, s, family, (enum link_rx_class)c, addr,
				   ifname, rcvbuf, err, errlen);
		if (s->fd >= 0)
			l->n_socks++;
		if (r < 0)
			return r;
	}
	if (l->kind != HOMA_LINK_UDP)
		return 0;
	r = link_bpf_attach(first->fd, SO_ATTACH_REUSEPORT_CBPF, f,
			    link_bpf_build(l, family, LINK_RX_CTL, f));
	if (r < 0)
		snprintf(err, errlen,
			 "%s: cannot attach the SO_REUSEPORT "
			 "program: %s",
			 first->desc, strerror(-r));
	return r;
}

/* Open every socket cfg asks for. */
static int link_open_all(struct link *l, const struct homa_config *cfg,
			 char *err, size_t errlen)
{
	const struct homa_conf_addr *targets[HOMA_CONF_MAX_ADDRESSES + 2];
	int families[HOMA_CONF_MAX_ADDRESSES + 2];
	unsigned n_targets = 0, n_ifs, i, j;
	int r;

	if (!cfg->ipv4 && !cfg->ipv6) {
		snprintf(err, errlen, "both ipv4 and ipv6 are off: no socket");
		return -EINVAL;
	}
	for (i = 0; i < cfg->n_addresses && i < HOMA_CONF_MAX_ADDRESSES; i++) {
		const struct homa_conf_addr *a = &cfg->addresses[i];

		if ((a->family == AF_INET && !cfg->ipv4) ||
		    (a->family == AF_INET6 && !cfg->ipv6)) {
			snprintf(err, errlen,
				 "address %s is %s, but %s = false", a->text,
				 a->family == AF_INET ? "IPv4" : "IPv6",
				 a->family == AF_INET ? "ipv4" : "ipv6");
			return -EINVAL;
		}
		targets[n_targets] = a;
		families[n_targets++] = a->family;
	}
	if (n_targets == 0) {
		if (cfg->ipv4) {
			targets[n_targets] = NULL;
			families[n_targets++] = AF_INET;
		}
		if (cfg->ipv6) {
			targets[n_targets] = NULL;
			families[n_targets++] = AF_INET6;
		}
	}
	n_ifs = cfg->n_interfaces < HOMA_CONF_MAX_INTERFACES
			? cfg->n_interfaces
			: HOMA_CONF_MAX_INTERFACES;
	if (n_targets * (n_ifs ? n_ifs : 1) > LINK_MAX_SOCKETS) {
		snprintf(err, errlen,
			 "%u addresses x %u interfaces need more than %u "
			 "sockets",
			 n_targets, n_ifs, LINK_MAX_SOCKETS);
		return -E2BIG;
	}
	for (i = 0; i < n_targets; i++) {
		for (j = 0; j < (n_ifs ? n_ifs : 1); j++) {
			unsigned first = l->n_socks;

			r = link_group_open(l, families[i], targets[i],
					    n_ifs ? cfg->interfaces[j] : NULL,
					    cfg->rcvbuf, err, errlen);
			if (r < 0)
				return r;
			l->n_groups++;
			if (l->tx_sock[families[i] == AF_INET6] < 0)
				l->tx_sock[families[i] == AF_INET6] =
					(int)first;
		}
	}
	return 0;
}

/* cfg->mtu, or the largest MTU of cfg's interfaces, or 1500. */
static int link_find_mtu(struct link *l, const struct homa_config *cfg,
			 char *err, size_t errlen)
{
	unsigned i;

	if (cfg->mtu) {
		l->mtu = cfg->mtu;
		return 0;
	}
	l->mtu = 0;
	for (i = 0; i < cfg->n_interfaces && i < HOMA_CONF_MAX_INTERFACES;
	     i++) {
		struct ifreq ifr;

		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s",
			 cfg->interfaces[i]);
		if (ioctl(l->socks[0].fd, SIOCGIFMTU, &ifr) < 0) {
			int r = -errno;

			snprintf(err, errlen, "cannot get the MTU of %s: %s",
				 cfg->interfaces[i], strerror(-r));
			return r;
		}
		if (ifr.ifr_mtu > 0 && (uint32_t)ifr.ifr_mtu > l->mtu)
			l->mtu = (uint32_t)ifr.ifr_mtu;
	}
	if (l->mtu == 0)
		l->mtu = 1500;
	return 0;
}

static int link_slots_init(struct link *l, unsigned n, char *err, size_t errlen)
{
	unsigned i;
	void *p;

	if (n == 0) {
		snprintf(err, errlen, "tx_queue = 0: no send slots");
		return -EINVAL;
	}
	/*
	 * A udp slot has room for a whole GSO send.  Only the pages a slot
	 * has used are ever backed (the slab is not reserved), and the free
	 * list hands out the most recently freed slot first, so the memory
	 * touched follows the peak of sends in flight, not n * 64 KiB.
	 */
	l->slot_size = l->kind == HOMA_LINK_UDP && l->mtu < LINK_UDP_SLOT_SIZE
			       ? LINK_UDP_SLOT_SIZE
			       : l->mtu;
	if (l->slot_size < LINKPKT_ICMP4_MAX)
		l->slot_size = LINKPKT_ICMP4_MAX;
	l->slots = calloc(n, sizeof(*l->slots));
	if (!l->slots) {
		snprintf(err, errlen, "out of memory for %u send slots", n);
		return -ENOMEM;
	}
	l->slab_len = (size_t)n * l->slot_size;
	p = mmap(NULL, l->slab_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		int r = -errno;

		l->slab_len = 0;
		snprintf(err, errlen, "cannot map %u send slots: %s", n,
			 strerror(-r));
		return r;
	}
	l->slab = p;
	l->n_slots = n;
	TAILQ_INIT(&l->unconfirmed);
	for (i = n; i-- > 0;) {
		struct link_slot *t = &l->slots[i];

		t->iov.iov_base = l->slab + (size_t)i * l->slot_size;
		t->msg.msg_iov = &t->iov;
		t->msg.msg_iovlen = 1;
		t->msg.msg_name = &t->dst;
		t->msg.msg_control = t->ctl.buf;
		t->next_free = l->free_slots;
		l->free_slots = t;
	}
	return 0;
}

/*
 * Open the raw ICMP socket of each family the link sends, for
 * link_port_unreachable and link_probe.  A filter lets only echo replies
 * into their (small) receive queues.  Without CAP_NET_RAW the ip link
 * fails (it needs the capability anyway); the udp link goes on without
 * port unreachable answers and probes, with a warning.
 */
static int link_icmp_open(struct link *l, char *err, size_t errlen)
{
	int fam;

	for (fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;
		int fd, r;

		if (l->tx_sock[fam] < 0)
			continue;
		fd = socket(family, SOCK_RAW | SOCK_CLOEXEC,
			    fam ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
		if (fd < 0) {
			r = -errno;
			if (l->kind == HOMA_LINK_UDP) {
				log_warnx("cannot open a raw %s socket: %s%s; "
					  "no ICMP port unreachable will be "
					  "sent, no peer host probed",
					  fam ? "ICMPv6" : "ICMP", strerror(-r),
					  r == -EPERM ? " (needs CAP_NET_RAW)"
						      : "");
				continue;
			}
			snprintf(err, errlen, "cannot open raw %s socket: %s%s",
				 fam ? "ICMPv6" : "ICMP", strerror(-r),
				 r == -EPERM ? " (needs CAP_NET_RAW)" : "");
			return r;
		}
		l->icmp[fam].fd = fd;
		if (fam) {
			struct icmp6_filter f;

			ICMP6_FILTER_SETBLOCKALL(&f);
			ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
			r = setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f,
				       sizeof(f));
		} else {
			/*
			 * linux/icmp.h's struct icmp_filter: a mask of the
			 * types blocked.  Echo reply is type 0.
			 */
			uint32_t f = ~(1u << ICMP_ECHOREPLY);

			r = setsockopt(fd, SOL_RAW, LINK_ICMP_FILTER, &f,
				       sizeof(f));
		}
		if (r < 0) {
			r = -errno;
			snprintf(err, errlen,
				 "cannot filter the raw %s socket: %s",
				 fam ? "ICMPv6" : "ICMP", strerror(-r));
			return r;
		}
		link_setsockopt_int(fd, SOL_SOCKET, SO_RCVBUF,
				    LINK_ICMP_RCVBUF);
		link_setsockopt_int(fd, SOL_SOCKET, SO_SNDBUF, 1 << 20);
	}
	return 0;
}

/* Set up the link_sock of the raw ICMP socket of family fam (0, 1). */
static void link_icmp_sock_init(struct link *l, int fam)
{
	struct link_sock *s = &l->icmp[fam];

	memset(s, 0, sizeof(*s));
	s->l = l;
	s->fd = -1;
	s->sentinel_fd = -1;
	s->family = fam ? AF_INET6 : AF_INET;
	s->cls = LINK_RX_CTL;
	s->icmp = true;
	s->rx_msg.msg_namelen = LINK_RX_NAMELEN;
	s->rx_msg.msg_controllen = LINK_RX_CONTROLLEN;
	snprintf(s->desc, sizeof(s->desc), "%s", fam ? "icmpv6" : "icmp");
}

/* A random identifier for our echo requests. */
static uint16_t link_random_id(void)
{
	uint16_t id;
	struct timespec ts;

	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) == (ssize_t)sizeof(id))
		return id;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint16_t)((uint64_t)ts.tv_nsec ^ (uint64_t)getpid());
}

struct link *link_create(struct uring *u, const struct homa_config *cfg,
			 struct homad_stats *m, link_rx_fn rx, void *rx_arg,
			 char *err, size_t errlen)
{
	struct link *l = calloc(1, sizeof(*l));

	if (!l) {
		snprintf(err, errlen, "out of memory for the link");
		return NULL;
	}
	l->u = u;
	l->m = m;
	l->rx = rx;
	l->rx_arg = rx_arg;
	l->kind = cfg->link;
	l->udp_port = cfg->udp_port;
	l->tx_sock[0] = l->tx_sock[1] = -1;
	link_icmp_sock_init(l, 0);
	link_icmp_sock_init(l, 1);
	l->probe_id = link_random_id();
	l->icmp_tokens_ns =
		(uint64_t)LINK_ICMP_BURST * 1000000000ull / LINK_ICMP_RATE;
	/* Above the scheduled levels: unscheduled DATA (link.h). */
	l->high_prio = (uint8_t)(cfg->proto.max_sched_prio + 1);
	if (link_open_all(l, cfg, err, errlen) < 0 ||
	    link_icmp_open(l, err, errlen) < 0 ||
	    link_find_mtu(l, cfg, err, errlen) < 0 ||
	    uring_bufs_init(u, cfg->rx_buffers,
			    link_rx_buf_size(l->kind, l->mtu), err,
			    errlen) < 0 ||
	    link_slots_init(l, cfg->tx_queue, err, errlen) < 0) {
		link_destroy(l);
		return NULL;
	}
	u->tx_batches = &m->link_tx_batches;
	log_debug("link %s: %u socket groups of %u (DATA at priority >= %u "
		  "apart), MTU %u, %u rx buffers of %u bytes, %u tx slots",
		  config_link_name(l->kind), l->n_groups, LINK_RX_CLASSES,
		  l->high_prio, l->mtu, cfg->rx_buffers, u->buf_size,
		  l->n_slots);
	return l;
}

/* ---- arming ------------------------------------------------------------- */

static int link_arm_recv(struct link_sock *s)
{
	struct io_uring_sqe *sqe = uring_sqe(s->l->u);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_recvmsg_multishot(sqe, s->fd, &s->rx_msg, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = URING_BGID;
	io_uring_sqe_set_data64(sqe, uring_data(s, URING_TAG_RECV));
	s->recv_armed = true;
	return 0;
}

static int link_arm_poll(struct link_sock *s)
{
	struct io_uring_sqe *sqe = uring_sqe(s->l->u);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_multishot(sqe, s->fd, POLLERR);
	io_uring_sqe_set_data64(sqe, uring_data(s, URING_TAG_ERRPOLL));
	s->poll_armed = true;
	return 0;
}

int link_start(struct link *l, char *err, size_t errlen)
{
	struct io_uring_cqe *cqe;
	unsigned head, i;
	int r;

	for (i = 0; i < l->n_socks; i++) {
		r = link_arm_recv(&l->socks[i]);
		if (r == 0 && link_reads_errors(l, l->socks[i].cls))
			r = link_arm_poll(&l->socks[i]);
		if (r < 0) {
			snprintf(err, errlen, "cannot queue receives: %s",
				 strerror(-r));
			return r;
		}
	}
	for (i = 0; i < 2; i++) {
		if (l->icmp[i].fd < 0)
			continue;
		r = link_arm_recv(&l->icmp[i]);
		if (r < 0) {
			snprintf(err, errlen,
				 "cannot queue the echo reply receives: %s",
				 strerror(-r));
			return r;
		}
	}
	r = io_uring_submit(&l->u->ring);
	if (r < 0) {
		snprintf(err, errlen, "cannot submit receives: %s",
			 strerror(-r));
		return r;
	}
	/* A refused multishot request completes at once, without F_MORE. */
	io_uring_for_each_cqe(&l->u->ring, head, cqe)
	{
		enum uring_tag tag = uring_data_tag(cqe->user_data);
		struct link_sock *s = uring_data_ptr(cqe->user_data);

		if ((tag != URING_TAG_RECV && tag != URING_TAG_ERRPOLL) ||
		    cqe->res >= 0 || (cqe->flags & IORING_CQE_F_MORE))
			continue;
		if (cqe->res == -ENOBUFS || cqe->res == -EINTR)
			continue;
		snprintf(err, errlen,
			 "io_uring refused the multishot %s on %s: %s "
			 "(homad needs Linux >= 6.0)",
			 tag == URING_TAG_RECV ? "recvmsg" : "POLLERR poll",
			 s->desc, strerror(-cqe->res));
		return cqe->res;
	}
	return 0;
}

/* ---- receiving ---------------------------------------------------------- */

/* Hand one Homa packet to the receiver, with rx_cur describing it. */
static void link_deliver(struct link *l, const uint8_t *pkt, size_t len,
			 uint64_t now)
{
	l->rx_cur.pkt = pkt;
	l->rx(l->rx_arg, pkt, len, &l->rx_cur.src, l->rx_cur.prio, now);
	l->rx_cur.pkt = NULL;
}

/*
 * The kernel's drop count of s (a u32 that wraps) is now v: add what is
 * new to link_rx_kernel_drops.  Reads and samples may see the counts out
 * of order; an older one (a "negative" step) is ignored.
 */
static void link_note_drops(struct link_sock *s, uint32_t v)
{
	uint32_t d = v - s->drops;

	if (d == 0 || d >= 0x80000000u)
		return;
	s->drops = v;
	s->l->m->link_rx_kernel_drops += d;
}

/* One datagram (or GRO batch) read by socket s, in buf[0..res). */
static void link_rx_datagram(struct link_sock *s, void *buf, int res,
			     uint64_t now)
{
	struct link *l = s->l;
	struct link_rx_cur *cur = &l->rx_cur;
	struct io_uring_recvmsg_out *o;
	struct cmsghdr *c;
	const struct sockaddr *name;
	struct linkpkt_gro gro;
	const uint8_t *data;
	size_t len, seg = 0;

	o = io_uring_recvmsg_validate(buf, res, &s->rx_msg);
	if (!o) {
		l->m->link_rx_errors++;
		return;
	}
	l->m->link_rx_datagrams++;
	switch (s->cls) {
	case LINK_RX_CTL:
		l->m->link_rx_ctl_datagrams++;
		break;
	case LINK_RX_HIGH:
		l->m->link_rx_high_datagrams++;
		break;
	default:
		l->m->link_rx_bulk_datagrams++;
		break;
	}
	if (o->flags & MSG_TRUNC) {
		l->m->link_rx_truncated++;
		return;
	}
	name = io_uring_recvmsg_name(o);
	if (o->namelen < sizeof(struct sockaddr_in) ||
	    (name->sa_family != AF_INET && name->sa_family != AF_INET6)) {
		l->m->link_rx_errors++;
		return;
	}
	memset(cur, 0, sizeof(*cur));
	link_addr_from_sa(name, &cur->src);
	cur->src_port =
		ntohs(name->sa_family == AF_INET
			      ? ((const struct sockaddr_in *)name)->sin_port
			      : ((const struct sockaddr_in6 *)name)->sin6_port);
	data = io_uring_recvmsg_payload(o, &s->rx_msg);
	len = io_uring_recvmsg_payload_length(o, res, &s->rx_msg);

	for (c = io_uring_recvmsg_cmsg_firsthdr(o, &s->rx_msg); c;
	     c = io_uring_recvmsg_cmsg_nexthdr(o, &s->rx_msg, c)) {
		int v = 0;

		if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SO_RXQ_OVFL &&
		    c->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
			uint32_t d;

			memcpy(&d, CMSG_DATA(c), sizeof(d));
			link_note_drops(s, d);
		} else if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_TOS &&
			   c->cmsg_len >= CMSG_LEN(1)) {
			cur->prio = *(const uint8_t *)CMSG_DATA(c) >> 5;
		} else if (c->cmsg_level == SOL_IPV6 &&
			   c->cmsg_type == IPV6_TCLASS &&
			   c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			cur->prio = (uint8_t)((v >> 5) & 7);
		} else if (c->cmsg_level == SOL_UDP &&
			   c->cmsg_type == UDP_GRO &&
			   c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			if (v > 0)
				seg = (size_t)v;
		} else if (c->cmsg_level == SOL_IP &&
			   c->cmsg_type == IP_PKTINFO &&
			   c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			cur->dst.in6.s6_addr[10] = 0xff;
			cur->dst.in6.s6_addr[11] = 0xff;
			memcpy(&cur->dst.in6.s6_addr[12], &pi.ipi_addr, 4);
			cur->dst_known = true;
			cur->ifindex = pi.ipi_ifindex;
		} else if (c->cmsg_level == SOL_IPV6 &&
			   c->cmsg_type == IPV6_PKTINFO &&
			   c->cmsg_len >=
				   CMSG_LEN(sizeof(struct in6_pktinfo))) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			cur->dst.in6 = pi.ipi6_addr;
			cur->dst_known = true;
			cur->ifindex = (int)pi.ipi6_ifindex;
		}
	}

	if (l->kind == HOMA_LINK_IP) {
		struct linkpkt_ip ip = {.off = 0, .len = len};

		if (s->family == AF_INET) {
			if (linkpkt_ipv4_strip(data, len, &ip) < 0) {
				l->m->link_rx_bad_ip++;
				return;
			}
			cur->prio = ip.prio;
			cur->dst = ip.dst;
			cur->dst_known = true;
		}
		link_deliver(l, data + ip.off, ip.len, now);
		return;
	}
	/* One datagram, or a GRO read of several (linkpkt.h). */
	linkpkt_gro_init(&gro, data, len, seg);
	while (linkpkt_gro_next(&gro, &data, &len)) {
		if (gro.split)
			l->m->link_rx_gro_segments++;
		link_deliver(l, data, len, now);
	}
}

/*
 * One read of raw ICMP socket s (its filter lets in echo replies only), in
 * buf[0..res): a reply to one of our probes (our identifier and payload)
 * is counted and handed to the echo callback with the address that
 * answered; anything else (another process's ping, a malformed or
 * truncated message) is counted as foreign and dropped.
 */
static void link_rx_echo(struct link_sock *s, void *buf, int res)
{
	struct link *l = s->l;
	struct io_uring_recvmsg_out *o;
	const struct sockaddr *name;
	struct linkpkt_echo e;
	struct homa_addr peer;
	size_t len;

	o = io_uring_recvmsg_validate(buf, res, &s->rx_msg);
	if (!o) {
		l->m->link_rx_errors++;
		return;
	}
	name = io_uring_recvmsg_name(o);
	len = io_uring_recvmsg_payload_length(o, res, &s->rx_msg);
	if ((o->flags & MSG_TRUNC) ||
	    o->namelen < (s->family == AF_INET ? sizeof(struct sockaddr_in)
					       : sizeof(struct sockaddr_in6)) ||
	    name->sa_family != s->family ||
	    linkpkt_echo_parse(s->family,
			       io_uring_recvmsg_payload(o, &s->rx_msg), len,
			       &e) < 0 ||
	    e.id != l->probe_id ||
	    e.data_len != LINKPKT_ECHO_LEN - LINKPKT_ICMP_HLEN ||
	    memcmp(e.data, LINKPKT_ECHO_DATA, e.data_len) != 0) {
		l->m->link_probe_foreign++;
		return;
	}
	link_addr_from_sa(name, &peer);
	l->m->link_probe_replies++;
	if (l->echo_fn)
		l->echo_fn(l->echo_arg, &peer, e.seq);
}

/*
 * A completion of s's multishot recvmsg.  Without IORING_CQE_F_MORE the
 * kernel has ended it: -ENOBUFS when the buffer ring ran dry (buffers are
 * returned as each completion is handled, so re-arming at once is right),
 * or a socket error, e.g. one an ICMP error left behind with IP_RECVERR
 * (counted in link_rx_errors).  Either way it is re-armed, unless stopping
 * or the kernel refuses multishot recvmsg altogether.
 */
static void link_recv_done(struct link_sock *s, const struct io_uring_cqe *cqe,
			   uint64_t now)
{
	struct link *l = s->l;

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

		if (cqe->res > 0 && s->icmp)
			link_rx_echo(s, uring_buf(l->u, bid), cqe->res);
		else if (cqe->res > 0)
			link_rx_datagram(s, uring_buf(l->u, bid), cqe->res,
					 now);
		uring_buf_return(l->u, bid);
	} else if (cqe->res < 0 && cqe->res != -ENOBUFS &&
		   cqe->res != -ECANCELED) {
		l->m->link_rx_errors++;
		log_debug("%s: receive: %s", s->desc, strerror(-cqe->res));
	}
	if (cqe->flags & IORING_CQE_F_MORE)
		return;
	s->recv_armed = false;
	if (l->stopping || s->recv_dead)
		return;
	if (cqe->res == -EINVAL || cqe->res == -EOPNOTSUPP) {
		/* Re-arming would fail the same way, in a busy loop. */
		s->recv_dead = true;
		log_warnx("%s: io_uring refused the multishot recvmsg: %s "
			  "(needs Linux >= 6.0); this socket receives no more",
			  s->desc, strerror(-cqe->res));
		return;
	}
	l->m->link_rx_rearms++;
	if (link_arm_recv(s) < 0) {
		/* No entry now (the queue is full and cannot be submitted
		 * while completions wait): a socket left unarmed would
		 * hear nothing again, so link_rearm retries. */
		log_warnx("%s: cannot re-arm the receive yet; retrying",
			  s->desc);
		s->rearm_recv = true;
		l->rearm_due = true;
	}
}

/* ---- error queue -------------------------------------------------------- */

static const char *link_ee_origin(uint8_t origin)
{
	switch (origin) {
	case SO_EE_ORIGIN_LOCAL:
		return "local";
	case SO_EE_ORIGIN_ICMP:
		return "ICMP";
	case SO_EE_ORIGIN_ICMP6:
		return "ICMPv6";
	default:
		return "other";
	}
}

/*
 * An error the kernel queued about a packet we sent: ee, the offender
 * (the host that reported it, may be unspecified), orig (the original
 * destination of our packet, from the msg_name of the MSG_ERRQUEUE read;
 * NULL when absent) and the first len bytes of our packet from its Homa
 * header on (raw IPv4 sockets without IP_HDRINCL, raw IPv6 and UDP sockets
 * all quote from the transport payload on).  ICMP errors are counted in
 * icmp_errors and handed to the icmp callback with the quoted dport and
 * sender_id (0 when fewer than HOMA_COMMON_LEN bytes are quoted).
 */
static void link_icmp_error(struct link_sock *s,
			    const struct sock_extended_err *ee,
			    const struct sockaddr *offender,
			    const struct sockaddr *orig, const uint8_t *pkt,
			    size_t len)
{
	struct link *l = s->l;
	struct linkpkt_quote q;
	char otext[INET6_ADDRSTRLEN + 16];
	bool icmp = ee->ee_origin == SO_EE_ORIGIN_ICMP ||
		    ee->ee_origin == SO_EE_ORIGIN_ICMP6;

	linkpkt_quote_parse(pkt, len, &q);
	if (icmp) {
		l->m->icmp_errors++;
		if (l->icmp_fn && orig) {
			struct homa_addr peer;

			link_addr_from_sa(orig, &peer);
			l->icmp_fn(
				l->icmp_arg, &peer,
				ee->ee_origin == SO_EE_ORIGIN_ICMP ? AF_INET
								   : AF_INET6,
				ee->ee_type, ee->ee_code, q.dport, q.sender_id);
		}
	}
	if (log_get_level() < LOG_LEVEL_DEBUG)
		return;
	if (offender->sa_family == AF_UNSPEC)
		snprintf(otext, sizeof(otext), "local");
	else
		link_sa_text(offender, otext, sizeof(otext));
	if (q.full) {
		log_debug("%s: %s error from %s: type %u code %u (%s) about "
			  "%s %u -> %u id %llu",
			  s->desc, link_ee_origin(ee->ee_origin), otext,
			  ee->ee_type, ee->ee_code, strerror((int)ee->ee_errno),
			  wire_type_name(q.type), q.sport, q.dport,
			  (unsigned long long)q.sender_id);
	} else {
		log_debug("%s: %s error from %s: type %u code %u (%s), %zu "
			  "bytes of our packet",
			  s->desc, link_ee_origin(ee->ee_origin), otext,
			  ee->ee_type, ee->ee_code, strerror((int)ee->ee_errno),
			  len);
	}
}

/* Read every error queued on s (non-blocking: the queue is signalled). */
static void link_errqueue_drain(struct link_sock *s)
{
	for (;;) {
		uint8_t data[256];
		union {
			struct cmsghdr align;
			char buf[512];
		} ctl;
		struct sockaddr_in6 from;
		struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
		struct msghdr mh = {
			.msg_name = &from,
			.msg_namelen = sizeof(from),
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = ctl.buf,
			.msg_controllen = sizeof(ctl.buf),
		};
		const struct sockaddr *orig = NULL;
		struct cmsghdr *c;
		size_t len;
		ssize_t n;

		memset(&from, 0, sizeof(from));
		n = recvmsg(s->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_debug("%s: error queue: %s", s->desc,
					  strerror(errno));
			return;
		}
		len = (size_t)n < sizeof(data) ? (size_t)n : sizeof(data);
		if (mh.msg_namelen >= sizeof(struct sockaddr_in) &&
		    (from.sin6_family == AF_INET ||
		     (from.sin6_family == AF_INET6 &&
		      mh.msg_namelen >= sizeof(struct sockaddr_in6))))
			orig = (const struct sockaddr *)&from;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			const struct sock_extended_err *ee;

			if (!((c->cmsg_level == SOL_IP &&
			       c->cmsg_type == IP_RECVERR) ||
			      (c->cmsg_level == SOL_IPV6 &&
			       c->cmsg_type == IPV6_RECVERR)))
				continue;
			if (c->cmsg_len < CMSG_LEN(sizeof(*ee)))
				continue;
			ee = (const struct sock_extended_err *)CMSG_DATA(c);
			link_icmp_error(s, ee, SO_EE_OFFENDER(ee), orig, data,
					len);
		}
	}
}

void link_set_icmp_fn(struct link *l, link_icmp_fn fn, void *arg)
{
	l->icmp_fn = fn;
	l->icmp_arg = arg;
}

static void link_poll_done(struct link_sock *s, const struct io_uring_cqe *cqe)
{
	struct link *l = s->l;

	if (cqe->res > 0 && (cqe->res & POLLERR))
		link_errqueue_drain(s);
	else if (cqe->res < 0 && cqe->res != -ECANCELED)
		log_debug("%s: error-queue poll: %s", s->desc,
			  strerror(-cqe->res));
	if (cqe->flags & IORING_CQE_F_MORE)
		return;
	s->poll_armed = false;
	if (l->stopping)
		return;
	if (cqe->res == -EINVAL || cqe->res == -EOPNOTSUPP) {
		log_warnx("%s: io_uring refused the POLLERR poll: %s; ICMP "
			  "errors are no longer read",
			  s->desc, strerror(-cqe->res));
		return;
	}
	if (link_arm_poll(s) < 0) {
		log_warnx("%s: cannot re-arm the error-queue poll yet; "
			  "retrying",
			  s->desc);
		s->rearm_poll = true;
		l->rearm_due = true;
	}
}

void link_rearm(struct link *l)
{
	bool due = false;
	unsigned i;

	if (!l->rearm_due || l->stopping)
		return;
	for (i = 0; i < l->n_socks + 2; i++) {
		struct link_sock *s = i < l->n_socks ? &l->socks[i]
						     : &l->icmp[i - l->n_socks];

		if (s->rearm_recv && !s->recv_armed && !s->recv_dead &&
		    link_arm_recv(s) == 0)
			s->rearm_recv = false;
		if (s->rearm_poll && !s->poll_armed && link_arm_poll(s) == 0)
			s->rearm_poll = false;
		due = due || s->rearm_recv || s->rearm_poll;
	}
	l->rearm_due = due;
}

/* ---- sending ------------------------------------------------------------ */

/*
 * True while the SQE at index idx (not masked) has not been read by the
 * kernel yet, so that what its msghdr points to may still change.  The
 * ring has no SQPOLL thread (uring.h): the kernel consumes SQEs only
 * inside our own io_uring_enter calls, and advances the SQ head past
 * every SQE it has read.
 */
static bool link_sqe_unread(const struct link *l, unsigned idx)
{
	const struct io_uring_sq *sq = &l->u->ring.sq;
	unsigned head = io_uring_smp_load_acquire(sq->khead);

	return (int)(idx - head) >= 0 && (int)(sq->sqe_tail - idx) > 0;
}

/*
 * A free slot and a submission entry for it, or NULL with the reason in
 * *r (-ENOBUFS counted as a queue drop, -EBUSY as a tx error).  The slot
 * is taken only when the SQE could be had.
 */
static struct link_slot *link_slot_get(struct link *l,
				       struct io_uring_sqe **sqep, int *r)
{
	struct io_uring_sqe *sqe;
	struct link_slot *t;

	if (!l->free_slots) {
		l->m->link_tx_queue_drops++;
		*r = -ENOBUFS;
		return NULL;
	}
	sqe = uring_sqe(l->u);
	if (!sqe) {
		l->m->link_tx_errors++;
		*r = -EBUSY;
		return NULL;
	}
	t = l->free_slots;
	l->free_slots = t->next_free;
	t->next_free = NULL;
	l->in_flight++;
	t->sqe_idx = l->u->ring.sq.sqe_tail - 1;
	t->retries = 0;
	t->n_pkts = 0;
	t->probe = false;
	t->gso_size = 0;
	t->gso_open = false;
	t->gso_key = 0;
	memset(&t->dst, 0, sizeof(t->dst));
	memset(&t->ctl, 0, sizeof(t->ctl));
	*sqep = sqe;
	return t;
}

/*
 * Queue t's sendmsg on its socket in the SQE link_slot_get gave it.  With
 * skip, the send posts no completion when it succeeds (uring.h): it fails
 * with -EAGAIN rather than wait for room, and t waits on the unconfirmed
 * list for link_confirm.  Never linked to another request.
 */
static void link_slot_queue(struct link *l, struct link_slot *t,
			    struct io_uring_sqe *sqe, bool skip)
{
	io_uring_prep_sendmsg(sqe, t->fd, &t->msg, skip ? MSG_DONTWAIT : 0);
	io_uring_sqe_set_data64(sqe, uring_data(t, URING_TAG_SEND));
	t->skip = skip;
	if (skip) {
		io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
		TAILQ_INSERT_TAIL(&l->unconfirmed, t, unconf);
		l->n_unconfirmed++;
	}
	uring_note_send(l->u);
}

/* Point t's msghdr at a (v4-mapped or IPv6) destination and port. */
static void link_slot_dst(struct link_slot *t, const struct homa_addr *a,
			  uint16_t port, uint32_t scope)
{
	if (IN6_IS_ADDR_V4MAPPED(&a->in6)) {
		t->dst.v4.sin_family = AF_INET;
		memcpy(&t->dst.v4.sin_addr, &a->in6.s6_addr[12], 4);
		t->dst.v4.sin_port = htons(port);
		t->msg.msg_namelen = sizeof(t->dst.v4);
	} else {
		t->dst.v6.sin6_family = AF_INET6;
		t->dst.v6.sin6_addr = a->in6;
		t->dst.v6.sin6_port = htons(port);
		t->dst.v6.sin6_scope_id = scope;
		t->msg.msg_namelen = sizeof(t->dst.v6);
	}
}

/*
 * Append a packet to the last queued slot if it continues that slot's GSO
 * run: same key, destination and priority, the run still open (every
 * segment so far exactly gso_size bytes), the packet no longer than
 * gso_size, within the 64 KiB / 64-segment limits, and the slot's sendmsg
 * not yet read by the kernel.  Returns true when appended.
 */
static bool link_gso_append(struct link *l, const struct homa_addr *dst,
			    uint8_t prio, const void *hdr, size_t hdr_len,
			    const void *payload, size_t payload_len,
			    uint64_t gso_key)
{
	struct link_slot *t = l->gso_tail;
	size_t len = hdr_len + payload_len;
	uint8_t *p;

	if (!t || !t->gso_open || t->gso_key != gso_key || t->prio != prio ||
	    memcmp(&t->peer, dst, sizeof(*dst)) != 0 || len > t->gso_size ||
	    t->iov.iov_len + len > LINK_GSO_MAX_BYTES ||
	    t->n_pkts >= LINK_GSO_MAX_SEGS)
		return false;
	if (!link_sqe_unread(l, t->sqe_idx)) {
		l->gso_tail = NULL;
		return false;
	}
	p = (uint8_t *)t->iov.iov_base + t->iov.iov_len;
	memcpy(p, hdr, hdr_len);
	if (payload_len)
		memcpy(p + hdr_len, payload, payload_len);
	t->iov.iov_len += len;
	if (++t->n_pkts == 2) {
		/* The priority cmsg is first; UDP_SEGMENT follows it. */
		struct cmsghdr *c = (struct cmsghdr *)(t->ctl.buf +
						       CMSG_SPACE(sizeof(int)));
		uint16_t size = t->gso_size;

		c->cmsg_level = SOL_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(size));
		memcpy(CMSG_DATA(c), &size, sizeof(size));
		t->msg.msg_controllen =
			CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(size));
	}
	if (len < t->gso_size)
		t->gso_open = false; /* a short segment ends the run */
	return true;
}

int link_sendv(struct link *l, const struct homa_addr *dst, uint8_t prio,
	       const void *hdr, size_t hdr_len, const void *payload,
	       size_t payload_len, uint64_t gso_key)
{
	bool v4 = IN6_IS_ADDR_V4MAPPED(&dst->in6);
	size_t len = hdr_len + payload_len;
	struct io_uring_sqe *sqe;
	struct link_slot *t;
	struct cmsghdr *c;
	int sock, value, r;

	if (prio >= HOMA_NUM_PRIORITIES || (hdr_len && !hdr) ||
	    (payload_len && !payload))
		return -EINVAL;
	if (len > l->mtu || len > l->slot_size)
		return -EMSGSIZE;
	sock = l->tx_sock[v4 ? 0 : 1];
	if (sock < 0)
		return -EAFNOSUPPORT;
	if (gso_key && link_gso_append(l, dst, prio, hdr, hdr_len, payload,
				       payload_len, gso_key))
		return 0;
	t = link_slot_get(l, &sqe, &r);
	if (!t)
		return r;

	memcpy(t->iov.iov_base, hdr, hdr_len);
	if (payload_len)
		memcpy((uint8_t *)t->iov.iov_base + hdr_len, payload,
		       payload_len);
	t->iov.iov_len = len;
	t->n_pkts = 1;
	t->prio = prio;
	t->peer = *dst;
	link_slot_dst(t, dst, l->kind == HOMA_LINK_UDP ? l->udp_port : 0, 0);
	t->msg.msg_controllen = CMSG_SPACE(sizeof(int));
	c = CMSG_FIRSTHDR(&t->msg);
	c->cmsg_len = CMSG_LEN(sizeof(int));
	c->cmsg_level = v4 ? SOL_IP : SOL_IPV6;
	c->cmsg_type = v4 ? IP_TOS : IPV6_TCLASS;
	value = prio << 5;
	memcpy(CMSG_DATA(c), &value, sizeof(value));

	/*
	 * The start of a GSO run: a udp DATA packet that fits the MTU whole
	 * (a GSO segment is never fragmented: the kernel refuses one that
	 * does not fit).
	 */
	l->gso_tail = NULL;
	if (gso_key && l->kind == HOMA_LINK_UDP && !l->gso_off &&
	    len + LINKPKT_UDP_HLEN +
			    (v4 ? LINKPKT_IP4_HLEN : LINKPKT_IP6_HLEN) <=
		    l->mtu) {
		t->gso_key = gso_key;
		t->gso_size = (uint16_t)len;
		t->gso_open = true;
		l->gso_tail = t;
	}

	t->fd = l->socks[sock].fd;
	link_slot_queue(l, t, sqe, true);
	return 0;
}

int link_send(struct link *l, const struct homa_addr *dst, uint8_t prio,
	      const void *pkt, size_t len)
{
	return link_sendv(l, dst, prio, pkt, len, NULL, 0, 0);
}

/* Token bucket of port unreachable answers; true: one may be sent. */
static bool link_icmp_allow(struct link *l)
{
	const uint64_t cost = 1000000000ull / LINK_ICMP_RATE;
	const uint64_t cap = cost * LINK_ICMP_BURST;

	if (l->now > l->icmp_last_ns) {
		l->icmp_tokens_ns += l->now - l->icmp_last_ns;
		if (l->icmp_tokens_ns > cap)
			l->icmp_tokens_ns = cap;
		l->icmp_last_ns = l->now;
	}
	if (l->icmp_tokens_ns < cost)
		return false;
	l->icmp_tokens_ns -= cost;
	return true;
}

/*
 * Suppressed answers (rate limit) are counted in link_tx_queue_drops,
 * like answers that found no free slot; a failed send in link_tx_errors.
 * Sent answers are not counted as link_tx_packets (those are Homa
 * packets).
 */
int link_port_unreachable(struct link *l, const struct homa_addr *src,
			  const void *pkt, size_t len)
{
	bool v4 = IN6_IS_ADDR_V4MAPPED(&src->in6);
	const struct link_rx_cur *cur = NULL;
	struct linkpkt_unreach u;
	struct homa_addr local;
	struct io_uring_sqe *sqe;
	struct link_slot *t;
	struct cmsghdr *c;
	size_t n;
	int fd, r;

	if (!pkt || len == 0)
		return -EINVAL;
	fd = l->icmp[v4 ? 0 : 1].fd;
	if (fd < 0)
		return -EAFNOSUPPORT;
	if (linkpkt_icmp_unanswerable(src))
		return -EINVAL;
	/* Called from inside the receiver about the packet being handed. */
	if (l->rx_cur.pkt == pkt &&
	    memcmp(&l->rx_cur.src, src, sizeof(*src)) == 0)
		cur = &l->rx_cur;
	memset(&local, 0, sizeof(local));
	if (v4) {
		local.in6.s6_addr[10] = 0xff;
		local.in6.s6_addr[11] = 0xff;
	}
	if (cur && cur->dst_known) {
		if (linkpkt_icmp_unanswerable(&cur->dst))
			return -EINVAL;
		local = cur->dst;
	}
	if (!link_icmp_allow(l)) {
		l->m->link_tx_queue_drops++;
		return -EAGAIN;
	}
	t = link_slot_get(l, &sqe, &r);
	if (!t)
		return r;
	l->gso_tail = NULL;
	memset(&u, 0, sizeof(u));
	u.src = *src;
	u.dst = local;
	u.prio = cur ? cur->prio : 0;
	u.udp = l->kind == HOMA_LINK_UDP;
	u.sport = cur ? cur->src_port : l->udp_port;
	u.dport = l->udp_port;
	u.pkt = pkt;
	u.len = len;
	if (v4)
		n = linkpkt_icmp4_build(t->iov.iov_base, l->slot_size, &u);
	else
		n = linkpkt_icmp6_build(t->iov.iov_base, l->slot_size, &u);
	t->iov.iov_len = n;
	t->peer = *src;
	link_slot_dst(t, src, 0, cur ? (uint32_t)cur->ifindex : 0);
	t->msg.msg_controllen = 0;
	if (cur && cur->dst_known) {
		/* Answer from the address the packet was sent to. */
		c = (struct cmsghdr *)t->ctl.buf;
		if (v4) {
			struct in_pktinfo pi;

			memset(&pi, 0, sizeof(pi));
			memcpy(&pi.ipi_spec_dst, &local.in6.s6_addr[12], 4);
			c->cmsg_level = SOL_IP;
			c->cmsg_type = IP_PKTINFO;
			c->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(c), &pi, sizeof(pi));
			t->msg.msg_controllen = CMSG_SPACE(sizeof(pi));
		} else {
			struct in6_pktinfo pi;

			memset(&pi, 0, sizeof(pi));
			pi.ipi6_addr = local.in6;
			pi.ipi6_ifindex = (unsigned)cur->ifindex;
			c->cmsg_level = SOL_IPV6;
			c->cmsg_type = IPV6_PKTINFO;
			c->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(c), &pi, sizeof(pi));
			t->msg.msg_controllen = CMSG_SPACE(sizeof(pi));
		}
	}
	t->fd = fd;
	link_slot_queue(l, t, sqe, true);
	return 0;
}

/*
 * A probe refused for want of a slot beyond the reserve or of a
 * submission entry (which link_slot_get also counts in link_tx_errors),
 * and a send that failed, are counted in link_probe_errors, not in the
 * link_tx_* counters of Homa packets; a send the kernel accepted in
 * link_probes_sent.
 */
int link_probe(struct link *l, const struct homa_addr *peer, uint16_t seq)
{
	bool v4 = IN6_IS_ADDR_V4MAPPED(&peer->in6);
	unsigned reserve =
		(l->n_slots + LINK_PROBE_RESERVE - 1) / LINK_PROBE_RESERVE;
	struct io_uring_sqe *sqe;
	struct link_slot *t;
	int fd = l->icmp[v4 ? 0 : 1].fd, r;

	if (fd < 0)
		return -EAFNOSUPPORT;
	if (linkpkt_icmp_unanswerable(peer))
		return -EINVAL;
	if (l->n_slots - l->in_flight <= reserve) {
		l->m->link_probe_errors++;
		return -ENOBUFS;
	}
	t = link_slot_get(l, &sqe, &r);
	if (!t) {
		l->m->link_probe_errors++;
		return r;
	}
	l->gso_tail = NULL;
	if (v4)
		t->iov.iov_len = linkpkt_echo4_build(
			t->iov.iov_base, l->slot_size, l->probe_id, seq);
	else
		t->iov.iov_len = linkpkt_echo6_build(
			t->iov.iov_base, l->slot_size, l->probe_id, seq);
	t->probe = true;
	t->peer = *peer;
	link_slot_dst(t, peer, 0, 0);
	t->msg.msg_controllen = 0;
	t->fd = fd;
	link_slot_queue(l, t, sqe, true);
	return 0;
}

uint16_t link_probe_id(const struct link *l)
{
	return l->probe_id;
}

void link_set_echo_fn(struct link *l, link_echo_fn fn, void *arg)
{
	l->echo_fn = fn;
	l->echo_arg = arg;
}

/*
 * Errors an ICMP message leaves pending on a socket (sk_err, with
 * IP_RECVERR): the next send on that socket fails with it, whatever its
 * destination, and the packet is not sent.
 */
static bool link_pending_error(int res)
{
	switch (-res) {
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EHOSTDOWN:
	case ENOPROTOOPT:
	case EPROTO:
		return true;
	default:
		return false;
	}
}

/*
 * Queue t's sendmsg once more, as an ordinary send (completion posted;
 * one that would block waits in the kernel for room): t's send failed
 * with res, and skip says it was one posting no completion on success.
 * Such a send fails with -EAGAIN when the socket buffer is full; any send
 * may fail on an error an ICMP message left pending on the socket, which
 * that failure consumed.  False when it may not or cannot be.
 */
static bool link_send_retry(struct link *l, struct link_slot *t, int res,
			    bool skip)
{
	bool full = res == -EAGAIN && skip;
	struct io_uring_sqe *sqe;

	if (l->stopping || (!full && (t->retries >= LINK_TX_RETRIES ||
				      !link_pending_error(res))))
		return false;
	sqe = uring_sqe(l->u);
	if (!sqe)
		return false;
	if (full)
		l->m->link_tx_full++;
	else
		t->retries++;
	t->gso_open = false;
	t->sqe_idx = l->u->ring.sq.sqe_tail - 1;
	link_slot_queue(l, t, sqe, false);
	if (!full)
		log_debug("send of %zu bytes failed on a pending %s: sent "
			  "again",
			  t->iov.iov_len, strerror(-res));
	return true;
}

/* t (its send posting no completion) leaves the unconfirmed list. */
static void link_unconfirm(struct link *l, struct link_slot *t)
{
	if (!t->skip)
		return;
	TAILQ_REMOVE(&l->unconfirmed, t, unconf);
	l->n_unconfirmed--;
	t->skip = false;
}

/* t's send succeeded with res bytes: count it. */
static void link_send_ok(struct link *l, const struct link_slot *t, int res)
{
	l->m->link_tx_packets += t->n_pkts;
	if (t->n_pkts)
		l->m->link_tx_bytes += (uint64_t)res;
	if (t->probe)
		l->m->link_probes_sent++;
}

static void link_slot_free(struct link *l, struct link_slot *t)
{
	t->next_free = l->free_slots;
	l->free_slots = t;
	l->in_flight--;
}

static void link_send_done(struct link *l, struct link_slot *t,
			   const struct io_uring_cqe *cqe, uint64_t now)
{
	bool skip = t->skip;

	if (l->gso_tail == t)
		l->gso_tail = NULL;
	link_unconfirm(l, t);
	if (cqe->res < 0 && link_send_retry(l, t, cqe->res, skip))
		return;
	if (cqe->res >= 0) {
		link_send_ok(l, t, cqe->res);
	} else {
		char dtext[INET6_ADDRSTRLEN + 8];

		/* Every packet of the send is lost (an ICMP answer: one). */
		if (t->probe)
			l->m->link_probe_errors++;
		else
			l->m->link_tx_errors += t->n_pkts ? t->n_pkts : 1;
		link_sa_text((const struct sockaddr *)&t->dst, dtext,
			     sizeof(dtext));
		log_debug("send of %zu bytes (%u packets) to %s: %s",
			  t->iov.iov_len, t->n_pkts, dtext,
			  strerror(-cqe->res));
		if (t->n_pkts > 1 && !l->gso_off &&
		    (cqe->res == -EIO || cqe->res == -EINVAL)) {
			/* E.g. no checksum offload on the route's device. */
			l->gso_off = true;
			log_warnx("UDP GSO send to %s refused: %s; sending "
				  "one packet per call from now on",
				  dtext, strerror(-cqe->res));
		}
		if (l->last_warn_ns == 0 ||
		    now - l->last_warn_ns >= LINK_WARN_INTERVAL_NS) {
			log_warnx("send to %s failed: %s (%llu more failures "
				  "not reported since the last warning)",
				  dtext, strerror(-cqe->res),
				  (unsigned long long)l->warn_suppressed);
			l->last_warn_ns = now ? now : 1;
			l->warn_suppressed = 0;
		} else {
			l->warn_suppressed++;
		}
	}
	link_slot_free(l, t);
}

unsigned link_confirm(struct link *l, unsigned sq_head)
{
	struct link_slot *t;
	unsigned n = 0;

	while ((t = TAILQ_FIRST(&l->unconfirmed)) != NULL &&
	       uring_sqe_before(t->sqe_idx, sq_head)) {
		n++;
		link_unconfirm(l, t);
		if (l->gso_tail == t)
			l->gso_tail = NULL;
		/* A datagram leaves whole: all its bytes were sent. */
		link_send_ok(l, t, (int)t->iov.iov_len);
		link_slot_free(l, t);
	}
	return n;
}

unsigned link_tx_unconfirmed(const struct link *l)
{
	return l->n_unconfirmed;
}

/* ---- completions, state, teardown --------------------------------------- */

bool link_complete(struct link *l, const struct io_uring_cqe *cqe, uint64_t now)
{
	void *p = uring_data_ptr(cqe->user_data);

	if (now > l->now)
		l->now = now;
	switch (uring_data_tag(cqe->user_data)) {
	case URING_TAG_RECV:
		link_recv_done(p, cqe, now);
		return true;
	case URING_TAG_SEND:
		link_send_done(l, p, cqe, now);
		return true;
	case URING_TAG_ERRPOLL:
		link_poll_done(p, cqe);
		return true;
	default:
		return false;
	}
}

int link_rx_rank(const struct link *l, const struct io_uring_cqe *cqe)
{
	const struct link_sock *s = uring_data_ptr(cqe->user_data);

	if (uring_data_tag(cqe->user_data) != URING_TAG_RECV || !s || s->l != l)
		return LINK_RX_BULK;
	return (int)s->cls;
}

unsigned link_reap(struct link *l,
		   void (*fn)(void *arg, const struct io_uring_cqe *cqe),
		   void *arg)
{
	struct io_uring *ring = &l->u->ring;
	struct io_uring_cqe *cqe;
	unsigned head, ready = io_uring_cq_ready(ring);
	int rank;

	for (rank = LINK_RX_CTL; rank <= LINK_RX_BULK; rank++) {
		unsigned i = 0;

		io_uring_for_each_cqe(ring, head, cqe)
		{
			if (i++ == ready)
				break;
			if (link_rx_rank(l, cqe) == rank)
				fn(arg, cqe);
		}
	}
	io_uring_cq_advance(ring, ready);
	return ready;
}

/* Least time between two samples link_sample takes on its own. */
#define LINK_SAMPLE_NS 10000000ull

void link_sample(struct link *l, uint64_t now, bool force)
{
	uint64_t backlog = 0, ctl = 0;
	unsigned i;

	if (!force && now - l->sampled_ns < LINK_SAMPLE_NS)
		return;
	l->sampled_ns = now;
	for (i = 0; i < l->n_socks; i++) {
		struct link_sock *s = &l->socks[i];
		uint32_t mi[SK_MEMINFO_VARS];
		socklen_t len = sizeof(mi);

		if (s->fd < 0 ||
		    getsockopt(s->fd, SOL_SOCKET, SO_MEMINFO, mi, &len) < 0 ||
		    len < sizeof(uint32_t) * (SK_MEMINFO_DROPS + 1))
			continue;
		backlog += mi[SK_MEMINFO_RMEM_ALLOC];
		if (s->cls == LINK_RX_CTL)
			ctl += mi[SK_MEMINFO_RMEM_ALLOC];
		link_note_drops(s, mi[SK_MEMINFO_DROPS]);
	}
	l->m->link_rx_backlog_bytes = backlog;
	l->m->link_rx_ctl_backlog_bytes = ctl;
	if (backlog > l->m->link_rx_backlog_peak_bytes)
		l->m->link_rx_backlog_peak_bytes = backlog;
}

void link_stop(struct link *l)
{
	struct io_uring_sqe *sqe;

	l->stopping = true;
	sqe = uring_sqe(l->u);
	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	io_uring_sqe_set_data64(sqe, uring_data(NULL, URING_TAG_INTERNAL));
}

bool link_idle(const struct link *l)
{
	unsigned i;

	if (l->in_flight)
		return false;
	for (i = 0; i < l->n_socks; i++)
		if (l->socks[i].recv_armed || l->socks[i].poll_armed)
			return false;
	return !l->icmp[0].recv_armed && !l->icmp[1].recv_armed;
}

unsigned link_tx_in_flight(const struct link *l)
{
	return l->in_flight;
}

int link_set_direct_rx(struct link *l, const uint16_t *ports, unsigned n,
		       const uint16_t *req, unsigned m)
{
	int r, first = 0;

	if (l->kind != HOMA_LINK_IP)
		return n + m == 0 ? 0 : -EOPNOTSUPP;
	if (n > LINKPKT_DRX_MAX_PORTS || m > LINKPKT_DRX_MAX_PORTS)
		return -E2BIG;
	memcpy(l->drx_ports, ports, n * sizeof(*ports));
	l->n_drx = n;
	if (m > 0)
		memcpy(l->drx_req_ports, req, m * sizeof(*req));
	l->n_drx_req = m;
	for (unsigned i = 0; i < l->n_socks; i++) {
		const struct link_sock *s = &l->socks[i];

		if (s->fd < 0 || s->family != AF_INET)
			continue;
		r = link_filter_attach(l, s);
		if (r < 0 && first == 0)
			first = r;
	}
	return first;
}

uint32_t link_mtu(const struct link *l)
{
	return l->mtu;
}

unsigned link_n_sockets(const struct link *l)
{
	return l->n_groups;
}

int link_socket_family(const struct link *l, unsigned i)
{
	return i < l->n_groups ? l->socks[i * LINK_RX_CLASSES].family
			       : AF_UNSPEC;
}

const char *link_socket_desc(const struct link *l, unsigned i)
{
	return i < l->n_groups ? l->socks[i * LINK_RX_CLASSES].desc : "";
}

void link_destroy(struct link *l)
{
	unsigned i;

	if (!l)
		return;
	for (i = 0; i < l->n_socks; i++) {
		if (l->socks[i].fd >= 0)
			close(l->socks[i].fd);
		if (l->socks[i].sentinel_fd >= 0)
			close(l->socks[i].sentinel_fd);
	}
	for (i = 0; i < 2; i++)
		if (l->icmp[i].fd >= 0)
			close(l->icmp[i].fd);
	if (l->slab)
		munmap(l->slab, l->slab_len);
	free(l->slots);
	free(l);
}
