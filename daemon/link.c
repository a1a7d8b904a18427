/*
 * link.c - raw IP protocol 146 and UDP sockets driven through io_uring.
 */
#include <config.h>

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/wire.h"
#include "link.h"
#include "log.h"

/* Socket buffers we ask for (SO_*BUFFORCE as root, else capped by sysctl). */
#define LINK_RCVBUF (16 * 1024 * 1024)
#define LINK_SNDBUF (4 * 1024 * 1024)
/* Bytes of a datagram the udp link can get in one (GRO) read. */
#define LINK_UDP_MAX_READ 65536u
/* Smallest rx room of the ip link: a 9000-byte jumbo frame. */
#define LINK_IP_MIN_READ 9000u
/* Seconds between two warnings about failed sends. */
#define LINK_WARN_INTERVAL_NS (10ull * 1000000000ull)

/* One socket of the link. */
struct link_sock {
	struct link *l;	      /* owner */
	int fd;		      /* -1 when closed */
	int family;	      /* AF_INET or AF_INET6 */
	bool recv_armed;      /* multishot recvmsg in flight */
	bool poll_armed;      /* multishot POLLERR poll in flight */
	bool recv_dead;	      /* the kernel refused the receive: not re-armed */
	struct msghdr rx_msg; /* layout of the rx buffers, for the kernel */
	char desc[96];	      /* "ip 10.0.0.1", "udp [::]:4146 dev eth0" */
};

/* A packet being sent: owned by the link from link_send to completion. */
struct link_slot {
	struct link_slot *next_free; /* free list link */
	struct msghdr msg;
	struct iovec iov;
	union {
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} dst;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
};

struct link {
	struct uring *u;	/* the ring everything goes through */
	struct homa_metrics *m; /* link_* counters */
	link_rx_fn rx;		/* receiver of every packet */
	void *rx_arg;
	enum homa_link_kind kind;
	uint16_t udp_port;
	uint32_t mtu;  /* in effect */
	bool stopping; /* link_stop: re-arm nothing */

	unsigned n_socks;
	struct link_sock socks[LINK_MAX_SOCKETS];
	int tx_sock[2]; /* socket index sending IPv4 [0] / v6 [1] */

	struct link_slot *slots; /* n_slots, calloc'ed */
	unsigned n_slots;
	struct link_slot *free_slots;
	unsigned in_flight; /* slots not free */
	uint8_t *slab;	    /* n_slots * slot_size bytes of packets */
	size_t slab_len;
	uint32_t slot_size; /* largest packet: the MTU */

	uint64_t last_warn_ns;	  /* last warning about a failed send */
	uint64_t warn_suppressed; /* failed sends not warned about since */
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

/* Large socket buffers: forced as root, else as much as the sysctls allow. */
static void link_sock_buffers(int fd)
{
	if (link_setsockopt_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, LINK_RCVBUF) <
	    0)
		link_setsockopt_int(fd, SOL_SOCKET, SO_RCVBUF, LINK_RCVBUF);
	if (link_setsockopt_int(fd, SOL_SOCKET, SO_SNDBUFFORCE, LINK_SNDBUF) <
	    0)
		link_setsockopt_int(fd, SOL_SOCKET, SO_SNDBUF, LINK_SNDBUF);
}

/* The options that make a socket receive what the link parses. */
static int link_sock_options(struct link *l, int fd, int family)
{
	int r;

	if (family == AF_INET) {
		r = link_setsockopt_int(fd, SOL_IP, IP_RECVERR, 1);
		if (r == 0 && l->kind == HOMA_LINK_UDP)
			r = link_setsockopt_int(fd, SOL_IP, IP_RECVTOS, 1);
	} else {
		/* Raw sockets refuse V6ONLY (and never see IPv4 anyway). */
		r = 0;
		if (l->kind == HOMA_LINK_UDP)
			r = link_setsockopt_int(fd, SOL_IPV6, IPV6_V6ONLY, 1);
		if (r == 0)
			r = link_setsockopt_int(fd, SOL_IPV6, IPV6_RECVERR, 1);
		if (r == 0)
			r = link_setsockopt_int(fd, SOL_IPV6, IPV6_RECVTCLASS,
						1);
	}
	if (r == 0 && l->kind == HOMA_LINK_UDP)
		r = link_setsockopt_int(fd, SOL_UDP, UDP_GRO, 1);
	return r;
}

/*
 * Open socket s of the given family, bound to addr (NULL: any) and to the
 * interface ifname (NULL: none).  Returns 0 or -errno with err set.
 */
static int link_sock_open(struct link *l, struct link_sock *s, int family,
			  const struct homa_conf_addr *addr, const char *ifname,
			  char *err, size_t errlen)
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
	s->family = family;
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
	if (ifname && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
				 (socklen_t)strlen(ifname)) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot bind to interface %s: %s",
			 s->desc, ifname, strerror(-r));
		return r;
	}
	r = link_sock_options(l, fd, family);
	if (r < 0) {
		snprintf(err, errlen, "%s socket: cannot set options: %s", kind,
			 strerror(-r));
		return r;
	}
	link_sock_buffers(fd);
	if ((addr || l->kind == HOMA_LINK_UDP) && bind(fd, &sa.sa, salen) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot bind %s: %s", s->desc,
			 strerror(-r));
		return r;
	}

	s->rx_msg.msg_namelen = LINK_RX_NAMELEN;
	s->rx_msg.msg_controllen = LINK_RX_CONTROLLEN;
	return 0;
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
			struct link_sock *s = &l->socks[l->n_socks];

			r = link_sock_open(l, s, families[i], targets[i],
					   n_ifs ? cfg->interfaces[j] : NULL,
					   err, errlen);
			if (s->fd >= 0)
				l->n_socks++;
			if (r < 0)
				return r;
			if (l->tx_sock[families[i] == AF_INET6] < 0)
				l->tx_sock[families[i] == AF_INET6] =
					(int)(l->n_socks - 1);
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
	l->slot_size = l->mtu;
	l->slots = calloc(n, sizeof(*l->slots));
	if (!l->slots) {
		snprintf(err, errlen, "out of memory for %u send slots", n);
		return -ENOMEM;
	}
	l->slab_len = (size_t)n * l->slot_size;
	p = mmap(NULL, l->slab_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		int r = -errno;

		l->slab_len = 0;
		snprintf(err, errlen, "cannot map %u send slots: %s", n,
			 strerror(-r));
		return r;
	}
	l->slab = p;
	l->n_slots = n;
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

struct link *link_create(struct uring *u, const struct homa_config *cfg,
			 struct homa_metrics *m, link_rx_fn rx, void *rx_arg,
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
	if (link_open_all(l, cfg, err, errlen) < 0 ||
	    link_find_mtu(l, cfg, err, errlen) < 0 ||
	    uring_bufs_init(u, cfg->rx_buffers,
			    link_rx_buf_size(l->kind, l->mtu), err,
			    errlen) < 0 ||
	    link_slots_init(l, cfg->tx_queue, err, errlen) < 0) {
		link_destroy(l);
		return NULL;
	}
	u->tx_batches = &m->link_tx_batches;
	log_debug("link %s: %u sockets, MTU %u, %u rx buffers of %u bytes, "
		  "%u tx slots",
		  config_link_name(l->kind), l->n_socks, l->mtu,
		  cfg->rx_buffers, u->buf_size, l->n_slots);
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
		if (r == 0)
			r = link_arm_poll(&l->socks[i]);
		if (r < 0) {
			snprintf(err, errlen, "cannot queue receives: %s",
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

/* The IPv4 header of a raw read: Homa part and priority, or false. */
static bool link_ipv4_strip(const uint8_t *p, size_t len, size_t *off,
			    size_t *hlen, uint8_t *prio)
{
	size_t ihl, tot;

	if (len < 20 || (p[0] >> 4) != 4)
		return false;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	tot = (size_t)p[2] << 8 | p[3];
	if (ihl < 20 || tot < ihl || tot > len || p[9] != HOMA_IPPROTO)
		return false;
	*off = ihl;
	*hlen = tot - ihl;
	*prio = p[1] >> 5;
	return true;
}

/* One datagram (or GRO batch) read by socket s, in buf[0..res). */
static void link_rx_datagram(struct link_sock *s, void *buf, int res,
			     uint64_t now)
{
	struct link *l = s->l;
	struct io_uring_recvmsg_out *o;
	struct cmsghdr *c;
	struct homa_addr src;
	const struct sockaddr *name;
	const uint8_t *data;
	size_t len, seg = 0;
	uint8_t prio = 0;

	o = io_uring_recvmsg_validate(buf, res, &s->rx_msg);
	if (!o) {
		l->m->link_rx_errors++;
		return;
	}
	l->m->link_rx_datagrams++;
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
	link_addr_from_sa(name, &src);
	data = io_uring_recvmsg_payload(o, &s->rx_msg);
	len = io_uring_recvmsg_payload_length(o, res, &s->rx_msg);

	for (c = io_uring_recvmsg_cmsg_firsthdr(o, &s->rx_msg); c;
	     c = io_uring_recvmsg_cmsg_nexthdr(o, &s->rx_msg, c)) {
		int v = 0;

		if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_TOS &&
		    c->cmsg_len >= CMSG_LEN(1)) {
			prio = *(const uint8_t *)CMSG_DATA(c) >> 5;
		} else if (c->cmsg_level == SOL_IPV6 &&
			   c->cmsg_type == IPV6_TCLASS &&
			   c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			prio = (uint8_t)((v >> 5) & 7);
		} else if (c->cmsg_level == SOL_UDP &&
			   c->cmsg_type == UDP_GRO &&
			   c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			if (v > 0)
				seg = (size_t)v;
		}
	}

	if (l->kind == HOMA_LINK_IP) {
		size_t off = 0, hlen = len;

		if (s->family == AF_INET &&
		    !link_ipv4_strip(data, len, &off, &hlen, &prio)) {
			l->m->link_rx_bad_ip++;
			return;
		}
		l->rx(l->rx_arg, data + off, hlen, &src, prio, now);
		return;
	}
	if (seg == 0 || seg >= len) {
		l->rx(l->rx_arg, data, len, &src, prio, now);
		return;
	}
	/* A GRO read: every segment but the last is exactly seg bytes. */
	while (len > 0) {
		size_t n = len < seg ? len : seg;

		l->m->link_rx_gro_segments++;
		l->rx(l->rx_arg, data, n, &src, prio, now);
		data += n;
		len -= n;
	}
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

		if (cqe->res > 0)
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
	if (link_arm_recv(s) < 0)
		log_warnx("%s: cannot re-arm the receive", s->desc);
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
 * (the host that reported it, may be unspecified), and the first len
 * bytes of our packet from its Homa header on.  Foundation behaviour:
 * count ICMP errors in icmp_errors and log them; the engine will map them
 * to the RPC they concern (by the Homa header) once it has RPCs.
 */
static void link_icmp_error(struct link_sock *s,
			    const struct sock_extended_err *ee,
			    const struct sockaddr *offender, const uint8_t *pkt,
			    size_t len)
{
	struct homa_wire_common h;
	char otext[INET6_ADDRSTRLEN + 16];

	if (ee->ee_origin == SO_EE_ORIGIN_ICMP ||
	    ee->ee_origin == SO_EE_ORIGIN_ICMP6)
		s->l->m->icmp_errors++;
	if (log_get_level() < LOG_LEVEL_DEBUG)
		return;
	if (offender->sa_family == AF_UNSPEC)
		snprintf(otext, sizeof(otext), "local");
	else
		link_sa_text(offender, otext, sizeof(otext));
	if (len >= sizeof(h)) {
		memcpy(&h, pkt, sizeof(h));
		log_debug("%s: %s error from %s: type %u code %u (%s) about "
			  "%s %u -> %u id %llu",
			  s->desc, link_ee_origin(ee->ee_origin), otext,
			  ee->ee_type, ee->ee_code, strerror((int)ee->ee_errno),
			  wire_type_name(h.type), ntohs(h.sport),
			  ntohs(h.dport),
			  (unsigned long long)be64toh(h.sender_id));
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
		struct cmsghdr *c;
		ssize_t n;

		n = recvmsg(s->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_debug("%s: error queue: %s", s->desc,
					  strerror(errno));
			return;
		}
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
			link_icmp_error(s, ee, SO_EE_OFFENDER(ee), data,
					(size_t)n);
		}
	}
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
	if (link_arm_poll(s) < 0)
		log_warnx("%s: cannot re-arm the error-queue poll", s->desc);
}

/* ---- sending ------------------------------------------------------------ */

int link_send(struct link *l, const struct homa_addr *dst, uint8_t prio,
	      const void *pkt, size_t len)
{
	bool v4 = IN6_IS_ADDR_V4MAPPED(&dst->in6);
	struct io_uring_sqe *sqe;
	struct link_slot *t;
	struct cmsghdr *c;
	int sock, value;

	if (prio >= HOMA_NUM_PRIORITIES)
		return -EINVAL;
	if (len > l->slot_size)
		return -EMSGSIZE;
	sock = l->tx_sock[v4 ? 0 : 1];
	if (sock < 0)
		return -EAFNOSUPPORT;
	if (!l->free_slots) {
		l->m->link_tx_queue_drops++;
		return -ENOBUFS;
	}
	sqe = uring_sqe(l->u);
	if (!sqe) {
		l->m->link_tx_errors++;
		return -EBUSY;
	}
	t = l->free_slots;
	l->free_slots = t->next_free;
	t->next_free = NULL;
	l->in_flight++;

	memcpy(t->iov.iov_base, pkt, len);
	t->iov.iov_len = len;
	memset(&t->dst, 0, sizeof(t->dst));
	memset(&t->ctl, 0, sizeof(t->ctl));
	t->msg.msg_controllen = sizeof(t->ctl.buf);
	c = CMSG_FIRSTHDR(&t->msg);
	c->cmsg_len = CMSG_LEN(sizeof(int));
	value = prio << 5;
	if (v4) {
		t->dst.v4.sin_family = AF_INET;
		memcpy(&t->dst.v4.sin_addr, &dst->in6.s6_addr[12], 4);
		t->dst.v4.sin_port =
			l->kind == HOMA_LINK_UDP ? htons(l->udp_port) : 0;
		t->msg.msg_namelen = sizeof(t->dst.v4);
		c->cmsg_level = SOL_IP;
		c->cmsg_type = IP_TOS;
	} else {
		t->dst.v6.sin6_family = AF_INET6;
		t->dst.v6.sin6_addr = dst->in6;
		t->dst.v6.sin6_port =
			l->kind == HOMA_LINK_UDP ? htons(l->udp_port) : 0;
		t->msg.msg_namelen = sizeof(t->dst.v6);
		c->cmsg_level = SOL_IPV6;
		c->cmsg_type = IPV6_TCLASS;
	}
	memcpy(CMSG_DATA(c), &value, sizeof(value));

	io_uring_prep_sendmsg(sqe, l->socks[sock].fd, &t->msg, 0);
	io_uring_sqe_set_data64(sqe, uring_data(t, URING_TAG_SEND));
	uring_note_send(l->u);
	return 0;
}

static void link_send_done(struct link *l, struct link_slot *t,
			   const struct io_uring_cqe *cqe, uint64_t now)
{
	if (cqe->res >= 0) {
		l->m->link_tx_packets++;
		l->m->link_tx_bytes += (uint64_t)cqe->res;
	} else {
		char dtext[INET6_ADDRSTRLEN + 8];

		l->m->link_tx_errors++;
		link_sa_text((const struct sockaddr *)&t->dst, dtext,
			     sizeof(dtext));
		log_debug("send of %zu bytes to %s: %s", t->iov.iov_len, dtext,
			  strerror(-cqe->res));
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
	t->next_free = l->free_slots;
	l->free_slots = t;
	l->in_flight--;
}

/* ---- completions, state, teardown --------------------------------------- */

bool link_complete(struct link *l, const struct io_uring_cqe *cqe, uint64_t now)
{
	void *p = uring_data_ptr(cqe->user_data);

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
	return true;
}

unsigned link_tx_in_flight(const struct link *l)
{
	return l->in_flight;
}

uint32_t link_mtu(const struct link *l)
{
	return l->mtu;
}

unsigned link_n_sockets(const struct link *l)
{
	return l->n_socks;
}

int link_socket_family(const struct link *l, unsigned i)
{
	return i < l->n_socks ? l->socks[i].family : AF_UNSPEC;
}

const char *link_socket_desc(const struct link *l, unsigned i)
{
	return i < l->n_socks ? l->socks[i].desc : "";
}

void link_destroy(struct link *l)
{
	unsigned i;

	if (!l)
		return;
	for (i = 0; i < l->n_socks; i++)
		if (l->socks[i].fd >= 0)
			close(l->socks[i].fd);
	if (l->slab)
		munmap(l->slab, l->slab_len);
	free(l->slots);
	free(l);
}
