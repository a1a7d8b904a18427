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
 *   link_test sendv --link ip|udp --dst ADDR --count N --payload P
 *                   [--last P2] [--prio N] [--expect-sends S]
 *                   [--submit-every K] [--mtu M]
 *       Send N DATA packets of one message with link_sendv (one gso_key,
 *       header and payload apart); they must leave in exactly S sendmsg
 *       calls (UDP GSO) and be counted as N packets.  The receiver is
 *       `recv --payload P`, which checks every packet arrived whole.
 *   link_test responder --link ip|udp --family 4|6 --count N
 *       Receive N packets through the link and answer each with
 *       link_port_unreachable.
 *   link_test probe --link ip|udp --dst ADDR --count N [--src-port P]
 *       Send N test packets from a plain socket with IP_RECVERR to a
 *       responder: each must come back on the error queue as ECONNREFUSED
 *       (ICMP 3/3, ICMPv6 1/4) naming ADDR and quoting the packet.
 *   link_test ratelimit --link ip|udp --dst ADDR --count N
 *       Call link_port_unreachable N times at once, twice 300 ms apart:
 *       100 (the bucket) go out each time, the rest are refused/counted.
 *   link_test mix --link ip|udp --dst ADDR --count N
 *       Queue N DATA packets (priorities cycling 0..7), then LT_MIX_CTL
 *       control packets (every other type, at priorities 0 and 7, and
 *       packets too short to have a type), and send them in ONE submit:
 *       the control packets arrive last.
 *   link_test classes --link ip|udp --family 4|6 --count N [--timeout S]
 *                     [--ready FILE]
 *       Receive what `mix --count N` sends through the link, waiting until
 *       all of it is ready before handling any (a backlog), with
 *       link_reap: every packet must be read once, by the socket of its
 *       class (the link_rx_*_datagrams counters), and handed over ranked:
 *       all control packets first, then the DATA above priority 3, then
 *       the rest -- although the control packets arrived last.
 *   link_test echo --link ip|udp --dst ADDR --count N [--silent]
 *                  [--tx-queue T]
 *       Probe the host ADDR with N echo requests (link_probe, sequences
 *       from LT_ECHO_SEQ0 on, wrapping past 65535, one submit): every one
 *       must come back once through the link's echo callback with its
 *       sequence and ADDR as the peer, and be counted (link_probes_sent,
 *       link_probe_replies); then an echo request with another identifier
 *       sent from a plain raw socket must be counted as foreign and not
 *       reach the callback.  --silent: ADDR's host answers nothing; no
 *       reply may come within LT_ECHO_SILENT_MS.  --tx-queue T: only T
 *       slots; link_probe must refuse (-ENOBUFS, counted) once fewer than
 *       T/8 would stay free, and those must still take Homa packets.
 *   send --icmp-type T --icmp-code C: every packet must come back to the
 *   link's ICMP callback as that error, with its dport and sender_id.
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
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <linux/errqueue.h>
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
#include "linkpkt.h"
#include "log.h"
#include "uring.h"

#define LT_PAYLOAD 64	/* payload bytes of each test packet */
#define LT_MAGIC   0xA7 /* payload[0] */
#define LT_SPORT   40000
#define LT_DPORT   50000
#define LT_MAX	   4096	      /* most packets one run checks */
#define LT_MSG_ID  1000002ull /* sender_id of the message of sendv */
#define LT_GSO_KEY 77ull      /* link_sendv's gso_key for that message */

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
	unsigned mtu;	       /* 0, or network.mtu */
	unsigned payload;      /* sendv/recv/lrecv: payload of each packet of
				  the message (0: lone LT_PAYLOAD packets) */
	unsigned last;	       /* sendv: payload of the last packet (0: same) */
	unsigned prio;	       /* sendv: priority of every packet */
	unsigned expect_sends; /* sendv: sendmsg calls the run must take */
	unsigned submit_every; /* sendv: submit after every K packets (0: once)
				*/
	int icmp_type;	       /* send: the ICMP type every error must have */
	int icmp_code;	       /* ... and code (-1: not checked) */
	uint16_t src_port;     /* probe (udp): the port to send from */
	bool silent;	       /* echo: the host answers nothing */
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
	if (o->mtu)
		cfg->mtu = o->mtu;
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

/* A sockaddr's address as a homa_addr (IPv4 v4-mapped; else zero). */
static void lt_addr_from_sa(const struct sockaddr *sa, struct homa_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		a->in6.s6_addr[10] = 0xff;
		a->in6.s6_addr[11] = 0xff;
		memcpy(&a->in6.s6_addr[12],
		       &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		a->in6 = ((const struct sockaddr_in6 *)sa)->sin6_addr;
	}
}

/* Payload byte j of test packet i (bytes 0..5 carry magic, prio, i). */
static uint8_t lt_pattern(unsigned i, unsigned j)
{
	return (uint8_t)(i + j);
}

/*
 * Test packet i, sent at prio, into buf; returns its length (0: error).
 * Alone (msg_payload 0): LT_PAYLOAD bytes of payload, sender_id 2(i+1).
 * As packet i of one message (msg_payload P > 0): payload_len bytes at
 * offset i * P of the message LT_MSG_ID of msg_len bytes.
 */
static size_t lt_build_pkt(unsigned i, uint8_t prio, unsigned msg_payload,
			   unsigned payload_len, uint32_t msg_len, uint8_t *buf,
			   size_t cap)
{
	static uint8_t payload[65536];
	struct homa_pkt p;
	unsigned j;

	if (payload_len < 6 || payload_len > sizeof(payload))
		return 0;
	payload[0] = LT_MAGIC;
	payload[1] = prio;
	payload[2] = (uint8_t)(i >> 24);
	payload[3] = (uint8_t)(i >> 16);
	payload[4] = (uint8_t)(i >> 8);
	payload[5] = (uint8_t)i;
	for (j = 6; j < payload_len; j++)
		payload[j] = lt_pattern(i, j);
	memset(&p, 0, sizeof(p));
	p.type = HOMA_DATA;
	p.sport = LT_SPORT;
	p.dport = LT_DPORT;
	p.sender_id = msg_payload ? LT_MSG_ID : 2ull * (i + 1);
	p.u.data.message_length = msg_payload ? msg_len : payload_len;
	p.u.data.incoming = p.u.data.message_length;
	p.u.data.offset = msg_payload ? i * msg_payload : 0;
	p.u.data.payload_len = payload_len;
	p.u.data.payload = payload;
	return wire_encode(&p, buf, cap);
}

static size_t lt_build(unsigned i, uint8_t prio, uint8_t *buf, size_t cap)
{
	return lt_build_pkt(i, prio, 0, LT_PAYLOAD, 0, buf, cap);
}

/*
 * What a receiver expects: lone test packets (msg_payload 0), or the
 * packets of message LT_MSG_ID, each msg_payload bytes of payload but the
 * last (index count - 1), which may be shorter.
 */
static unsigned lt_msg_payload;
static unsigned lt_expect_count;

/*
 * Check one received packet: decodes as a test DATA packet whose payload
 * names prio.  Returns its index, or -1 with the reason printed.
 */
static long lt_check(const uint8_t *buf, size_t len, uint8_t prio)
{
	struct homa_pkt p;
	const uint8_t *pl;
	unsigned i, j, plen;
	int r;

	r = wire_decode(buf, len, &p);
	if (r < 0) {
		fprintf(stderr, "packet of %zu bytes does not decode: %s\n",
			len, wire_strerror(r));
		return -1;
	}
	plen = p.u.data.payload_len;
	if (p.type != HOMA_DATA || p.sport != LT_SPORT || p.dport != LT_DPORT ||
	    plen < 6 || (!lt_msg_payload && plen != LT_PAYLOAD)) {
		fprintf(stderr, "not a test packet: %s %u -> %u, %u bytes\n",
			wire_type_name(p.type), p.sport, p.dport, plen);
		return -1;
	}
	pl = p.u.data.payload;
	i = (unsigned)pl[2] << 24 | (unsigned)pl[3] << 16 |
	    (unsigned)pl[4] << 8 | pl[5];
	if (pl[0] != LT_MAGIC ||
	    p.sender_id != (lt_msg_payload ? LT_MSG_ID : 2ull * (i + 1))) {
		fprintf(stderr, "packet %u: bad magic or id\n", i);
		return -1;
	}
	if (lt_msg_payload &&
	    (p.u.data.offset != i * lt_msg_payload || plen > lt_msg_payload ||
	     (plen != lt_msg_payload && i + 1 != lt_expect_count))) {
		fprintf(stderr,
			"packet %u: offset %u, %u bytes: not packet %u of the "
			"message\n",
			i, p.u.data.offset, plen, i);
		return -1;
	}
	for (j = 6; j < plen; j++) {
		if (pl[j] != lt_pattern(i, j)) {
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

/*
 * sendmsg calls finished, seen by lt_reap_until: completions, and sends
 * without completion on success confirmed by link_confirm.
 */
static unsigned lt_send_cqes;

/*
 * Reap completions through the link until done() or the deadline, and
 * confirm the sends that post no completion on success (as the data
 * plane does: the SQ head read before the completions are handled).
 */
static void
lt_reap_until(struct uring *u, struct link *l,
	      bool (*done)(const struct homad_stats *m, const void *arg),
	      const struct homad_stats *m, const void *arg, uint64_t deadline)
{
	while (!done(m, arg) && lt_now() < deadline) {
		struct __kernel_timespec ts = {.tv_sec = 0,
					       .tv_nsec = 50000000};
		struct io_uring_cqe *cqe;
		unsigned head, sq_head, n = 0;
		bool consumed;

		io_uring_submit(&u->ring);
		if (link_tx_unconfirmed(l) == 0)
			io_uring_wait_cqe_timeout(&u->ring, &cqe, &ts);
		consumed = uring_sq_consumed(u, &sq_head);
		io_uring_for_each_cqe(&u->ring, head, cqe)
		{
			if (uring_data_tag(cqe->user_data) == URING_TAG_SEND)
				lt_send_cqes++;
			/* Else it is link_stop's cancellation. */
			if (!link_complete(l, cqe, lt_now()) &&
			    uring_data_tag(cqe->user_data) !=
				    URING_TAG_INTERNAL)
				fprintf(stderr, "unexpected completion\n");
			n++;
		}
		io_uring_cq_advance(&u->ring, n);
		if (consumed)
			lt_send_cqes += link_confirm(l, sq_head);
	}
}

static bool lt_sends_done(const struct homad_stats *m, const void *arg)
{
	const unsigned *count = arg;

	return m->link_tx_packets + m->link_tx_errors >= *count;
}

/* What the link's ICMP callback saw (send --icmp-type/--icmp-code). */
struct lt_icmp {
	struct homa_addr dst; /* where the packets went */
	int family;	      /* its family */
	unsigned count;	      /* packets sent: ids 2 .. 2 * count */
	int type, code;	      /* expected; -1: not checked */
	unsigned good, bad;
};

static void lt_icmp_cb(void *arg, const struct homa_addr *peer, int family,
		       uint8_t type, uint8_t code, uint16_t dport,
		       uint64_t sender_id)
{
	struct lt_icmp *ic = arg;
	bool ok = true;

	if (memcmp(peer, &ic->dst, sizeof(*peer)) != 0) {
		fprintf(stderr, "icmp: peer is not the destination\n");
		ok = false;
	}
	if (family != ic->family ||
	    (ic->type >= 0 && (type != ic->type || code != ic->code))) {
		fprintf(stderr,
			"icmp: family %d type %u code %u, expected %d/%d/%d\n",
			family, type, code, ic->family, ic->type, ic->code);
		ok = false;
	}
	if (dport != LT_DPORT || sender_id < 2 || sender_id % 2 ||
	    sender_id > 2ull * ic->count) {
		fprintf(stderr, "icmp: dport %u id %llu: not a sent packet\n",
			dport, (unsigned long long)sender_id);
		ok = false;
	}
	if (ok)
		ic->good++;
	else
		ic->bad++;
}

static bool lt_icmp_seen(const struct homad_stats *m, const void *arg)
{
	const struct lt_icmp *ic = arg;

	if (ic->type >= 0)
		return ic->good + ic->bad >= ic->count;
	return m->icmp_errors > 0;
}

static bool lt_link_idle(const struct homad_stats *m, const void *arg)
{
	return link_idle(arg);
}

static int lt_send(const struct lt_opts *o)
{
	struct homa_config cfg;
	struct homad_stats m;
	struct homa_addr dst;
	struct lt_icmp ic;
	struct uring u;
	struct link *l;
	char err[256];
	unsigned i, rx = 0, queued, accepted, batches;
	int family, r, rc = 0;

	if (!o->dst || !lt_parse_addr(o->dst, &dst, &family)) {
		fprintf(stderr, "send: --dst needs an IPv4 or IPv6 address\n");
		return 2;
	}
	memset(&ic, 0, sizeof(ic));
	ic.dst = dst;
	ic.family = family;
	ic.count = o->count;
	ic.type = o->icmp_type;
	ic.code = o->icmp_code;
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
	link_set_icmp_fn(l, lt_icmp_cb, &ic);
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
	uring_submit_and_wait(&u, 0);
	lt_reap_until(&u, l, lt_sends_done, &m, &accepted,
		      lt_now() + 5000000000ull);
	if (o->expect_icmp)
		lt_reap_until(&u, l, lt_icmp_seen, &m, &ic,
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
	if (o->expect_icmp) {
		printf("send: ICMP callback: %u right, %u wrong (of %llu "
		       "errors read)\n",
		       ic.good, ic.bad, (unsigned long long)m.icmp_errors);
		/* Every error read reaches the callback. */
		if (ic.bad || ic.good != m.icmp_errors || ic.good == 0 ||
		    (ic.type >= 0 && ic.good != o->count)) {
			fprintf(stderr, "send: ICMP callback calls wrong\n");
			rc = 1;
		}
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

/* ---- sendv: a run of DATA packets of one message (GSO) ------------------ */

/* A link of o's kind on a ring big enough for count sends, started. */
static struct link *lt_link_open(const struct lt_opts *o, int family,
				 struct uring *u, struct homad_stats *m,
				 link_rx_fn rx, void *rx_arg, const char *what)
{
	struct homa_config cfg;
	struct link *l;
	char err[256];

	if (lt_config(o, &cfg) < 0) {
		fprintf(stderr, "%s: bad --address\n", what);
		return NULL;
	}
	cfg.ipv4 = family == AF_INET;
	cfg.ipv6 = family == AF_INET6;
	if (o->tx_queue)
		cfg.tx_queue = o->tx_queue;
	else if (cfg.tx_queue < o->count)
		cfg.tx_queue = o->count;
	memset(m, 0, sizeof(*m));
	if (uring_init(u, cfg.ring_entries, 2 * o->count + 64, err,
		       sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", what, err);
		return NULL;
	}
	l = link_create(u, &cfg, m, rx, rx_arg, err, sizeof(err));
	if (!l || link_start(l, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", what, err);
		uring_exit(u);
		link_destroy(l);
		return NULL;
	}
	return l;
}

/* Stop the link, wait until idle, tear down; 0 or 1 if it hung. */
static int lt_link_close(struct uring *u, struct link *l, struct homad_stats *m,
			 const char *what)
{
	int rc = 0;

	link_stop(l);
	lt_reap_until(u, l, lt_link_idle, m, l, lt_now() + 2000000000ull);
	if (!link_idle(l)) {
		fprintf(stderr, "%s: the link did not go idle on stop\n", what);
		rc = 1;
	}
	uring_exit(u);
	link_destroy(l);
	return rc;
}

/*
 * Send o->count DATA packets of one message with link_sendv (header and
 * payload apart, one gso_key): each o->payload bytes of payload, the last
 * o->last.  They must leave in exactly o->expect_sends sendmsg calls
 * (counted both in the SQ before the submit and as completions) and be
 * counted as o->count packets.
 */
static int lt_sendv(const struct lt_opts *o)
{
	static uint8_t buf[65536];
	unsigned last = o->last ? o->last : o->payload;
	uint32_t msg_len = (o->count - 1) * o->payload + last;
	struct homad_stats m;
	struct homa_addr dst;
	struct uring u;
	struct link *l;
	unsigned i, queued = 0;
	uint64_t bytes = 0;
	int family, r, rc = 0;

	if (!o->dst || !lt_parse_addr(o->dst, &dst, &family) || !o->count ||
	    o->payload < 6 || last > o->payload || o->prio > 7) {
		fprintf(stderr, "sendv: needs --dst, --count, --payload >= 6, "
				"--last <= payload\n");
		return 2;
	}
	l = lt_link_open(o, family, &u, &m, lt_rx_ignore, &i, "sendv");
	if (!l)
		return 1;
	lt_send_cqes = 0;
	for (i = 0; i < o->count; i++) {
		unsigned plen = i + 1 == o->count ? last : o->payload;
		size_t len = lt_build_pkt(i, (uint8_t)o->prio, o->payload, plen,
					  msg_len, buf, sizeof(buf));

		if (len != HOMA_DATA_LEN + plen) {
			fprintf(stderr, "sendv: cannot build packet %u\n", i);
			rc = 1;
			break;
		}
		r = link_sendv(l, &dst, (uint8_t)o->prio, buf, HOMA_DATA_LEN,
			       buf + HOMA_DATA_LEN, plen, LT_GSO_KEY);
		if (r < 0) {
			fprintf(stderr, "sendv: link_sendv %u: %s\n", i,
				strerror(-r));
			rc = 1;
			break;
		}
		bytes += len;
		if (o->submit_every && (i + 1) % o->submit_every == 0) {
			queued += io_uring_sq_ready(&u.ring);
			io_uring_submit(&u.ring);
		}
	}
	queued += io_uring_sq_ready(&u.ring);
	io_uring_submit(&u.ring);
	lt_reap_until(&u, l, lt_sends_done, &m, &o->count,
		      lt_now() + 5000000000ull);
	printf("sendv: %s link to %s: %u packets of %u+%u bytes (last %u) "
	       "in %u sendmsg calls (%.1f packets per call; %u SQEs), %llu "
	       "packets and %llu bytes counted, %llu errors\n",
	       config_link_name(o->link), o->dst, o->count, HOMA_DATA_LEN,
	       o->payload, last, lt_send_cqes,
	       lt_send_cqes ? (double)o->count / lt_send_cqes : 0.0, queued,
	       (unsigned long long)m.link_tx_packets,
	       (unsigned long long)m.link_tx_bytes,
	       (unsigned long long)m.link_tx_errors);
	if (m.link_tx_packets != o->count || m.link_tx_bytes != bytes ||
	    m.link_tx_errors) {
		fprintf(stderr,
			"sendv: expected %u packets, %llu bytes, no "
			"errors\n",
			o->count, (unsigned long long)bytes);
		rc = 1;
	}
	if (o->expect_sends &&
	    (lt_send_cqes != o->expect_sends || queued != o->expect_sends)) {
		fprintf(stderr, "sendv: %u sendmsg calls, expected %u\n",
			lt_send_cqes, o->expect_sends);
		rc = 1;
	}
	return lt_link_close(&u, l, &m, "sendv") | rc;
}

/* ---- responder: answers every packet with ICMP port unreachable -------- */

struct lt_resp {
	struct link *l;
	unsigned count; /* packets to answer */
	unsigned answered, failed;
};

static void lt_resp_rx(void *arg, const void *pkt, size_t len,
		       const struct homa_addr *src, uint8_t prio, uint64_t now)
{
	struct lt_resp *r = arg;
	int e = link_port_unreachable(r->l, src, pkt, len);

	if (e < 0) {
		fprintf(stderr, "responder: link_port_unreachable: %s\n",
			strerror(-e));
		r->failed++;
	} else {
		r->answered++;
	}
}

static bool lt_resp_done(const struct homad_stats *m, const void *arg)
{
	const struct lt_resp *r = arg;

	return r->answered + r->failed >= r->count &&
	       link_tx_in_flight(r->l) == 0;
}

/* Receive o->count packets through the link, answering each with ICMP. */
static int lt_responder(const struct lt_opts *o)
{
	static struct lt_resp r;
	struct homad_stats m;
	struct uring u;
	int rc;

	r.count = o->count;
	r.l = lt_link_open(o, o->family == 6 ? AF_INET6 : AF_INET, &u, &m,
			   lt_resp_rx, &r, "responder");
	if (!r.l)
		return 1;
	lt_ready(o);
	lt_reap_until(&u, r.l, lt_resp_done, &m, &r,
		      lt_now() + (uint64_t)o->timeout_s * 1000000000ull);
	printf("responder: %s IPv%d: %u answered, %u failed, %llu tx errors, "
	       "%llu suppressed\n",
	       config_link_name(o->link), o->family, r.answered, r.failed,
	       (unsigned long long)m.link_tx_errors,
	       (unsigned long long)m.link_tx_queue_drops);
	rc = r.answered == r.count && !r.failed && !m.link_tx_errors &&
			     !m.link_tx_queue_drops
		     ? 0
		     : 1;
	return lt_link_close(&u, r.l, &m, "responder") | rc;
}

/* ---- probe: a plain socket sees ECONNREFUSED quoting its packets ------- */

/* Read one error from fd's error queue and check it; 0, or 1. */
static int lt_probe_check(int fd, int family, const struct homa_addr *dst,
			  const struct lt_opts *o, bool *seen)
{
	uint8_t data[2048], want[256];
	union {
		struct cmsghdr align;
		char b[512];
	} ctl;
	struct sockaddr_in6 from;
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	struct msghdr mh = {.msg_name = &from,
			    .msg_namelen = sizeof(from),
			    .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.b,
			    .msg_controllen = sizeof(ctl.b)};
	const struct sock_extended_err *ee = NULL;
	struct homa_addr orig, off;
	struct homa_wire_common h;
	struct cmsghdr *c;
	uint16_t port = 0;
	size_t wlen;
	ssize_t n;
	unsigned i;

	memset(&from, 0, sizeof(from));
	n = recvmsg(fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT);
	if (n < 0)
		return -1;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
		    (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR))
			ee = (const struct sock_extended_err *)CMSG_DATA(c);
	if (!ee) {
		fprintf(stderr, "probe: error without sock_extended_err\n");
		return 1;
	}
	if (ee->ee_errno != ECONNREFUSED ||
	    ee->ee_origin != (family == AF_INET ? SO_EE_ORIGIN_ICMP
						: SO_EE_ORIGIN_ICMP6) ||
	    ee->ee_type != (family == AF_INET ? 3 : 1) ||
	    ee->ee_code != (family == AF_INET ? 3 : 4)) {
		fprintf(stderr,
			"probe: errno %u (%s) origin %u type %u code %u\n",
			ee->ee_errno, strerror((int)ee->ee_errno),
			ee->ee_origin, ee->ee_type, ee->ee_code);
		return 1;
	}
	lt_addr_from_sa((const struct sockaddr *)&from, &orig);
	lt_addr_from_sa(SO_EE_OFFENDER(ee), &off);
	if (from.sin6_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)&from)->sin_port);
	else
		port = ntohs(from.sin6_port);
	if (memcmp(&orig, dst, sizeof(orig)) != 0 ||
	    memcmp(&off, dst, sizeof(off)) != 0) {
		fprintf(stderr, "probe: the error does not name the "
				"destination as original address and "
				"offender\n");
		return 1;
	}
	if (o->link == HOMA_LINK_UDP && port != o->port) {
		fprintf(stderr, "probe: original port %u, expected %u\n", port,
			o->port);
		return 1;
	}
	if ((size_t)n < sizeof(h)) {
		fprintf(stderr, "probe: %zd bytes quoted\n", n);
		return 1;
	}
	memcpy(&h, data, sizeof(h));
	i = (unsigned)(be64toh(h.sender_id) / 2 - 1);
	if (be64toh(h.sender_id) % 2 || i >= o->count || seen[i]) {
		fprintf(stderr, "probe: quoted id %llu unexpected\n",
			(unsigned long long)be64toh(h.sender_id));
		return 1;
	}
	wlen = lt_build(i, 0, want, sizeof(want));
	/* The whole packet is quoted (it is short), byte for byte. */
	if ((size_t)n != wlen || memcmp(data, want, wlen) != 0) {
		fprintf(stderr,
			"probe: quote of packet %u: %zd bytes, not "
			"the %zu sent\n",
			i, n, wlen);
		return 1;
	}
	seen[i] = true;
	return 0;
}

/*
 * Send o->count test packets from a plain socket (raw 146, or UDP from
 * --src-port) with IP_RECVERR to o->dst, where a responder answers them:
 * every one must come back on the error queue as ECONNREFUSED, ICMP
 * type 3 code 3 (ICMPv6 1/4), naming dst, quoting the packet.
 */
static int lt_probe(const struct lt_opts *o)
{
	static bool seen[LT_MAX];
	union {
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} sa;
	struct homa_addr dst;
	unsigned i, got = 0, bad = 0;
	uint64_t deadline;
	int family, fd, one = 1;

	if (!o->dst || !lt_parse_addr(o->dst, &dst, &family) || !o->count ||
	    o->count > LT_MAX) {
		fprintf(stderr, "probe: needs --dst and --count\n");
		return 2;
	}
	fd = socket(family, o->link == HOMA_LINK_IP ? SOCK_RAW : SOCK_DGRAM,
		    o->link == HOMA_LINK_IP ? HOMA_IPPROTO : 0);
	if (fd < 0) {
		perror("probe: socket");
		return 1;
	}
	if (family == AF_INET)
		setsockopt(fd, SOL_IP, IP_RECVERR, &one, sizeof(one));
	else
		setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	if (o->link == HOMA_LINK_UDP) {
		if (family == AF_INET) {
			sa.v4.sin_family = AF_INET;
			sa.v4.sin_port = htons(o->src_port);
		} else {
			sa.v6.sin6_family = AF_INET6;
			sa.v6.sin6_port = htons(o->src_port);
		}
		if (bind(fd, (struct sockaddr *)&sa,
			 family == AF_INET ? sizeof(sa.v4) : sizeof(sa.v6)) <
		    0) {
			perror("probe: bind");
			return 1;
		}
	}
	memset(&sa, 0, sizeof(sa));
	if (family == AF_INET) {
		sa.v4.sin_family = AF_INET;
		memcpy(&sa.v4.sin_addr, &dst.in6.s6_addr[12], 4);
		sa.v4.sin_port = o->link == HOMA_LINK_UDP ? htons(o->port) : 0;
	} else {
		sa.v6.sin6_family = AF_INET6;
		sa.v6.sin6_addr = dst.in6;
		sa.v6.sin6_port = o->link == HOMA_LINK_UDP ? htons(o->port) : 0;
	}
	for (i = 0; i < o->count; i++) {
		uint8_t buf[256];
		size_t len = lt_build(i, 0, buf, sizeof(buf));

		if (sendto(fd, buf, len, 0, (struct sockaddr *)&sa,
			   family == AF_INET ? sizeof(sa.v4) : sizeof(sa.v6)) !=
		    (ssize_t)len) {
			/* A pending error is reported once by a send. */
			if (errno == ECONNREFUSED) {
				i--;
				continue;
			}
			perror("probe: sendto");
			close(fd);
			return 1;
		}
	}
	deadline = lt_now() + (uint64_t)o->timeout_s * 1000000000ull;
	while (got + bad < o->count && lt_now() < deadline) {
		struct pollfd pfd = {.fd = fd, .events = 0};
		int r;

		if (poll(&pfd, 1, 100) <= 0 || !(pfd.revents & POLLERR))
			continue;
		while ((r = lt_probe_check(fd, family, &dst, o, seen)) >= 0) {
			if (r == 0)
				got++;
			else
				bad++;
		}
	}
	close(fd);
	printf("probe: %s IPv%d to %s: %u of %u errors right (ECONNREFUSED, "
	       "quote intact), %u wrong\n",
	       config_link_name(o->link), family == AF_INET ? 4 : 6, o->dst,
	       got, o->count, bad);
	return got == o->count && bad == 0 ? 0 : 1;
}

/* ---- ratelimit: port unreachable answers are rate-limited --------------- */

static bool lt_tx_idle(const struct homad_stats *m, const void *arg)
{
	return link_tx_in_flight(arg) == 0;
}

/*
 * Call link_port_unreachable o->count times at once about a packet from
 * o->dst (not one being received: the kernel picks the source): the
 * bucket lets LT_ICMP_BURST through, refuses the rest with -EAGAIN and
 * counts them as link_tx_queue_drops; 300 ms later it is full again.
 */
#define LT_ICMP_BURST 100 /* link.c's LINK_ICMP_BURST */
static int lt_ratelimit(const struct lt_opts *o)
{
	uint8_t pkt[256];
	struct homad_stats m;
	struct homa_addr dst;
	struct uring u;
	struct link *l;
	unsigned ok[2] = {0, 0}, refused[2] = {0, 0}, round, i;
	size_t len = lt_build(0, 0, pkt, sizeof(pkt));
	int family, r, rc = 0;

	if (!o->dst || !lt_parse_addr(o->dst, &dst, &family) ||
	    o->count <= LT_ICMP_BURST) {
		fprintf(stderr, "ratelimit: needs --dst, --count > %d\n",
			LT_ICMP_BURST);
		return 2;
	}
	l = lt_link_open(o, family, &u, &m, lt_rx_ignore, &i, "ratelimit");
	if (!l)
		return 1;
	for (round = 0; round < 2; round++) {
		/* Completions carry the time the bucket fills up with. */
		lt_reap_until(&u, l, lt_tx_idle, &m, l,
			      lt_now() + 2000000000ull);
		for (i = 0; i < o->count; i++) {
			r = link_port_unreachable(l, &dst, pkt, len);
			if (r == 0) {
				ok[round]++;
			} else if (r == -EAGAIN) {
				refused[round]++;
			} else {
				fprintf(stderr, "ratelimit: %s\n",
					strerror(-r));
				rc = 1;
			}
		}
		io_uring_submit(&u.ring);
		lt_reap_until(&u, l, lt_tx_idle, &m, l,
			      lt_now() + 2000000000ull);
		usleep(300000);
		/* Something must complete after the pause to bring now on. */
		link_send(l, &dst, 0, pkt, len);
		io_uring_submit(&u.ring);
	}
	lt_reap_until(&u, l, lt_tx_idle, &m, l, lt_now() + 2000000000ull);
	printf("ratelimit: %u calls twice: %u + %u sent, %u + %u refused; "
	       "%llu counted as suppressed, %llu tx errors\n",
	       o->count, ok[0], ok[1], refused[0], refused[1],
	       (unsigned long long)m.link_tx_queue_drops,
	       (unsigned long long)m.link_tx_errors);
	if (ok[0] != LT_ICMP_BURST || ok[1] != LT_ICMP_BURST ||
	    refused[0] + refused[1] != 2 * (o->count - LT_ICMP_BURST) ||
	    m.link_tx_queue_drops != refused[0] + refused[1] ||
	    m.link_tx_errors) {
		fprintf(stderr, "ratelimit: expected %d sent per burst\n",
			LT_ICMP_BURST);
		rc = 1;
	}
	return lt_link_close(&u, l, &m, "ratelimit") | rc;
}

/* ---- echo: probes of a peer host (link_probe) --------------------------- */

#define LT_ECHO_SEQ0	    65500 /* first probe's sequence: wraps */
#define LT_ECHO_SILENT_MS   500	  /* --silent: how long nothing may come */
#define LT_ECHO_FOREIGN_SEQ 7	  /* the foreign echo request's sequence */

/* What the link's echo callback saw. */
struct lt_echo {
	struct homa_addr dst; /* the probed host */
	unsigned count;	      /* probes sent: sequences seq0 .. + count */
	uint8_t seen[LT_MAX]; /* replies per probe */
	unsigned good, bad, dups;
	uint64_t last_ns; /* when the last good reply came */
};

static void lt_echo_cb(void *arg, const struct homa_addr *peer, uint16_t seq)
{
	struct lt_echo *e = arg;
	unsigned i = (uint16_t)(seq - (uint16_t)LT_ECHO_SEQ0);
	char text[INET6_ADDRSTRLEN];

	if (memcmp(peer, &e->dst, sizeof(*peer)) != 0 || i >= e->count) {
		inet_ntop(AF_INET6, &peer->in6, text, sizeof(text));
		fprintf(stderr, "echo: reply from %s seq %u: not a probe\n",
			text, seq);
		e->bad++;
		return;
	}
	if (e->seen[i]++) {
		fprintf(stderr, "echo: seq %u answered twice\n", seq);
		e->dups++;
		return;
	}
	e->good++;
	e->last_ns = lt_now();
}

static bool lt_echo_done(const struct homad_stats *m, const void *arg)
{
	const struct lt_echo *e = arg;

	return e->good + e->bad + e->dups >= e->count;
}

static bool lt_foreign_seen(const struct homad_stats *m, const void *arg)
{
	return m->link_probe_foreign > 0;
}

/*
 * Send one echo request with identifier id to dst from a plain raw socket
 * (another process's ping, to the link).  0 or 1.
 */
static int lt_foreign_ping(int family, const struct homa_addr *dst, uint16_t id)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} sa;
	uint8_t buf[LINKPKT_ECHO_LEN];
	socklen_t salen;
	size_t n;
	int fd;

	memset(&sa, 0, sizeof(sa));
	if (family == AF_INET) {
		sa.v4.sin_family = AF_INET;
		memcpy(&sa.v4.sin_addr, &dst->in6.s6_addr[12], 4);
		salen = sizeof(sa.v4);
		n = linkpkt_echo4_build(buf, sizeof(buf), id,
					LT_ECHO_FOREIGN_SEQ);
	} else {
		sa.v6.sin6_family = AF_INET6;
		sa.v6.sin6_addr = dst->in6;
		salen = sizeof(sa.v6);
		n = linkpkt_echo6_build(buf, sizeof(buf), id,
					LT_ECHO_FOREIGN_SEQ);
	}
	fd = socket(family, SOCK_RAW | SOCK_CLOEXEC,
		    family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
	if (fd < 0) {
		perror("echo: raw ICMP socket");
		return 1;
	}
	if (sendto(fd, buf, n, 0, &sa.sa, salen) != (ssize_t)n) {
		perror("echo: foreign echo request");
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}

static int lt_echo(const struct lt_opts *o)
{
	static struct lt_echo e;
	struct homad_stats m;
	struct homa_addr dst;
	struct uring u;
	struct link *l;
	unsigned i, rx = 0, ok = 0, refused = 0, expect_ok, reserve = 0;
	uint64_t t0, wait_ns;
	int family, r, rc = 0;

	if (!o->dst || !lt_parse_addr(o->dst, &dst, &family) || o->count == 0 ||
	    o->count > LT_MAX) {
		fprintf(stderr, "echo: needs --dst and 0 < --count <= %d\n",
			LT_MAX);
		return 2;
	}
	memset(&e, 0, sizeof(e));
	e.dst = dst;
	l = lt_link_open(o, family, &u, &m, lt_rx_ignore, &rx, "echo");
	if (!l)
		return 1;
	link_set_echo_fn(l, lt_echo_cb, &e);
	expect_ok = o->count;
	if (o->tx_queue) {
		reserve = (o->tx_queue + 7) / 8;
		if (expect_ok > o->tx_queue - reserve)
			expect_ok = o->tx_queue - reserve;
	}
	t0 = lt_now();
	for (i = 0; i < o->count; i++) {
		r = link_probe(l, &dst, (uint16_t)(LT_ECHO_SEQ0 + i));
		if (r == 0) {
			ok++;
		} else if (r == -ENOBUFS && o->tx_queue) {
			refused++;
		} else {
			fprintf(stderr, "echo: link_probe %u: %s\n", i,
				strerror(-r));
			rc = 1;
		}
	}
	e.count = ok;
	if (o->tx_queue) {
		/* The reserve still takes Homa packets. */
		for (i = 0; i < reserve; i++) {
			uint8_t buf[256];
			size_t len = lt_build(i, 0, buf, sizeof(buf));

			r = link_send(l, &dst, 0, buf, len);
			if (r < 0) {
				fprintf(stderr,
					"echo: Homa packet %u of the "
					"reserve: %s\n",
					i, strerror(-r));
				rc = 1;
			}
		}
	}
	io_uring_submit(&u.ring);
	wait_ns = o->silent ? LT_ECHO_SILENT_MS * 1000000ull : 5000000000ull;
	lt_reap_until(&u, l, lt_echo_done, &m, &e, t0 + wait_ns);
	lt_reap_until(&u, l, lt_tx_idle, &m, l, lt_now() + 2000000000ull);
	printf("echo: %s link, %s%s: %u probes queued, %u refused; %llu sent, "
	       "%llu replies (%u right, %u wrong, %u twice) in %.1f ms, "
	       "%llu foreign, %llu errors\n",
	       config_link_name(o->link), o->dst, o->silent ? " (silent)" : "",
	       ok, refused, (unsigned long long)m.link_probes_sent,
	       (unsigned long long)m.link_probe_replies, e.good, e.bad, e.dups,
	       e.good ? (double)(e.last_ns - t0) / 1e6 : 0.0,
	       (unsigned long long)m.link_probe_foreign,
	       (unsigned long long)m.link_probe_errors);
	if (ok != expect_ok || refused != o->count - expect_ok ||
	    m.link_probe_errors != refused) {
		fprintf(stderr,
			"echo: %u probes queued, %u refused, %llu errors; "
			"expected %u queued\n",
			ok, refused, (unsigned long long)m.link_probe_errors,
			expect_ok);
		rc = 1;
	}
	if (m.link_probes_sent != ok) {
		fprintf(stderr, "echo: %llu probes sent, expected %u\n",
			(unsigned long long)m.link_probes_sent, ok);
		rc = 1;
	}
	if (e.bad || e.dups) {
		fprintf(stderr, "echo: wrong replies\n");
		rc = 1;
	}
	if (o->silent && (e.good || m.link_probe_replies)) {
		fprintf(stderr, "echo: the silent host answered\n");
		rc = 1;
	}
	if (!o->silent && (e.good != ok || m.link_probe_replies != ok)) {
		fprintf(stderr, "echo: %u of %u probes answered\n", e.good, ok);
		rc = 1;
	}
	if (m.link_tx_packets != (o->tx_queue ? reserve : 0)) {
		fprintf(stderr, "echo: probes counted as Homa packets\n");
		rc = 1;
	}
	if (!o->silent && rc == 0) {
		/* Another identifier: counted as foreign, not handed over. */
		uint64_t replies = m.link_probe_replies;

		rc = lt_foreign_ping(family, &dst,
				     (uint16_t)(link_probe_id(l) + 1));
		lt_reap_until(&u, l, lt_foreign_seen, &m, NULL,
			      lt_now() + 5000000000ull);
		printf("echo: foreign echo request: %llu foreign replies\n",
		       (unsigned long long)m.link_probe_foreign);
		if (m.link_probe_foreign != 1 ||
		    m.link_probe_replies != replies || e.bad) {
			fprintf(stderr, "echo: the foreign reply was not "
					"told apart\n");
			rc = 1;
		}
	}
	return lt_link_close(&u, l, &m, "echo") | rc;
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

static bool lt_lrecv_done(const struct homad_stats *m, const void *arg)
{
	const struct lt_lrecv *r = arg;

	return r->got + r->bad >= r->count;
}

/* Receive through daemon/link.c itself and check every priority. */
static int lt_lrecv(const struct lt_opts *o)
{
	static struct lt_lrecv r;
	struct homa_config cfg;
	struct homad_stats m;
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

/* ---- mix / classes: the receive classes and their order ---------------- */

/*
 * Control packets of mix: the 8 types but DATA x priorities 0 and 7, one
 * packet too short to have a type, one of an unknown type.
 */
#define LT_MIX_CTL 18

/* The class a packet belongs to, as link.h defines it (defaults). */
static int lt_class_of(const uint8_t *pkt, size_t len, uint8_t prio)
{
	if (len <= offsetof(struct homa_wire_common, type) ||
	    pkt[offsetof(struct homa_wire_common, type)] != HOMA_DATA)
		return LINK_RX_CTL;
	return prio >= 4 ? LINK_RX_HIGH : LINK_RX_BULK;
}

static int lt_mix(const struct lt_opts *o)
{
	struct homad_stats m;
	struct homa_addr dst;
	struct uring u;
	struct link *l;
	uint8_t buf[256];
	unsigned i, sent = 0;
	int family, rc = 0;

	if (!o->dst || !lt_parse_addr(o->dst, &dst, &family)) {
		fprintf(stderr, "mix: --dst needs an IPv4 or IPv6 address\n");
		return 2;
	}
	l = lt_link_open(o, family, &u, &m, lt_rx_ignore, &i, "mix");
	if (!l)
		return 1;
	for (i = 0; i < o->count; i++) {
		size_t n = lt_build(i, (uint8_t)(i % HOMA_NUM_PRIORITIES), buf,
				    sizeof(buf));

		sent += link_send(l, &dst, (uint8_t)(i % HOMA_NUM_PRIORITIES),
				  buf, n) == 0;
	}
	for (i = 0; i < LT_MIX_CTL; i++) {
		size_t n = HOMA_DATA_LEN;
		uint8_t prio = i % 2 ? 7 : 0;

		memset(buf, 0, sizeof(buf));
		if (i < 16) /* GRANT .. ACK */
			buf[offsetof(struct homa_wire_common, type)] =
				(uint8_t)(HOMA_GRANT + i / 2);
		else if (i == 16)
			n = 5; /* no type byte */
		else
			buf[offsetof(struct homa_wire_common, type)] = 0x7f;
		sent += link_send(l, &dst, prio, buf, n) == 0;
	}
	lt_reap_until(&u, l, lt_sends_done, &m, &sent,
		      lt_now() + 5000000000ull);
	printf("mix: %u DATA + %u control packets queued, %llu sent, %llu "
	       "errors\n",
	       o->count, LT_MIX_CTL, (unsigned long long)m.link_tx_packets,
	       (unsigned long long)m.link_tx_errors);
	if (m.link_tx_packets != o->count + LT_MIX_CTL)
		rc = 1;
	return lt_link_close(&u, l, &m, "mix") | rc;
}

struct lt_classes {
	unsigned got[LINK_RX_CLASSES]; /* packets handed over, by class */
	int last;		       /* class of the last one */
	unsigned out_of_order;	       /* handed over after a lower rank */
	unsigned total;
};

static void lt_classes_rx(void *arg, const void *pkt, size_t len,
			  const struct homa_addr *src, uint8_t prio,
			  uint64_t now)
{
	struct lt_classes *c = arg;
	int cls = lt_class_of(pkt, len, prio);

	(void)src;
	(void)now;
	if (cls < c->last)
		c->out_of_order++;
	c->last = cls;
	c->got[cls]++;
	c->total++;
}

struct lt_reap_ctx {
	struct link *l;
};

static void lt_reap_one(void *arg, const struct io_uring_cqe *cqe)
{
	struct lt_reap_ctx *x = arg;

	if (!link_complete(x->l, cqe, lt_now()) &&
	    uring_data_tag(cqe->user_data) != URING_TAG_INTERNAL)
		fprintf(stderr, "unexpected completion\n");
}

static int lt_classes_run(const struct lt_opts *o)
{
	static struct lt_classes c;
	unsigned want = o->count + LT_MIX_CTL, high = 0, i, batches = 0;
	struct __kernel_timespec ts = {.tv_sec = o->timeout_s};
	struct lt_reap_ctx x;
	struct io_uring_cqe *cqe;
	struct homad_stats m;
	struct uring u;
	int rc = 0;

	for (i = 0; i < o->count; i++)
		high += i % HOMA_NUM_PRIORITIES >= 4;
	x.l = lt_link_open(o, o->family == 6 ? AF_INET6 : AF_INET, &u, &m,
			   lt_classes_rx, &c, "classes");
	if (!x.l)
		return 1;
	lt_ready(o);
	/* A backlog: everything arrives before anything is handled. */
	io_uring_submit_and_wait_timeout(&u.ring, &cqe, want, &ts, NULL);
	while (c.total < want && batches < 100) {
		struct __kernel_timespec t = {.tv_nsec = 50000000};

		unsigned sq_head;
		bool consumed = uring_sq_consumed(&u, &sq_head);

		link_reap(x.l, lt_reap_one, &x);
		if (consumed)
			link_confirm(x.l, sq_head);
		batches++;
		if (c.total < want)
			io_uring_submit_and_wait_timeout(&u.ring, &cqe, 1, &t,
							 NULL);
	}
	printf("classes: %s IPv%d: %u packets in %u batch(es): control %u "
	       "(counted %llu), high %u (%llu), bulk %u (%llu); %llu "
	       "datagrams; %u handed over out of rank order\n",
	       config_link_name(o->link), o->family, c.total, batches,
	       c.got[LINK_RX_CTL], (unsigned long long)m.link_rx_ctl_datagrams,
	       c.got[LINK_RX_HIGH],
	       (unsigned long long)m.link_rx_high_datagrams,
	       c.got[LINK_RX_BULK],
	       (unsigned long long)m.link_rx_bulk_datagrams,
	       (unsigned long long)m.link_rx_datagrams, c.out_of_order);
	if (c.total != want || m.link_rx_datagrams != want ||
	    c.got[LINK_RX_CTL] != LT_MIX_CTL ||
	    m.link_rx_ctl_datagrams != LT_MIX_CTL ||
	    c.got[LINK_RX_HIGH] != high || m.link_rx_high_datagrams != high ||
	    c.got[LINK_RX_BULK] != o->count - high ||
	    m.link_rx_bulk_datagrams != o->count - high) {
		fprintf(stderr, "classes: packets lost, repeated or read by "
				"the wrong socket\n");
		rc = 1;
	}
	if (batches != 1 || c.out_of_order) {
		fprintf(stderr, "classes: not handed over in rank order in "
				"one batch\n");
		rc = 1;
	}
	return lt_link_close(&u, x.l, &m, "classes") | rc;
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
	if (dp_start(dp, lt_notify, &efd, err, sizeof(err)) < 0) {
		fprintf(stderr, "dp: dp_start: %s\n", err);
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
		got = s->metrics.engine.packets_received[data];
		if (got >= o->count || lt_now() >= deadline)
			break;
		usleep(50000);
	}
	/* Anything beyond what was sent would show now. */
	usleep(200000);
	msg->type = DP_MSG_SNAPSHOT;
	if (lt_round_trip(dp, efd, msg) < 0 || msg->result != 0)
		rc = 1;
	got = s->metrics.engine.packets_received[data];

	printf("dp: %s link, MTU %u, %u sockets:", config_link_name(s->link),
	       s->mtu, s->n_sockets);
	for (i = 0; i < s->n_sockets; i++)
		printf(" [%s]", s->sockets[i].desc);
	printf("\ndp: DATA received %llu of %u; datagrams %llu, GRO "
	       "segments %llu, rearms %llu, rx errors %llu, truncated %llu, "
	       "bad ip %llu, wakeups %llu, ctl messages %llu, up %.3f s\n",
	       (unsigned long long)got, o->count,
	       (unsigned long long)s->metrics.homad.link_rx_datagrams,
	       (unsigned long long)s->metrics.homad.link_rx_gro_segments,
	       (unsigned long long)s->metrics.homad.link_rx_rearms,
	       (unsigned long long)s->metrics.homad.link_rx_errors,
	       (unsigned long long)s->metrics.homad.link_rx_truncated,
	       (unsigned long long)s->metrics.homad.link_rx_bad_ip,
	       (unsigned long long)s->metrics.homad.loop_wakeups,
	       (unsigned long long)s->metrics.homad.ctl_messages,
	       (double)(s->taken_ns - s->started_ns) / 1e9);
	if (got != o->count) {
		fprintf(stderr, "dp: %llu DATA packets received, expected %u\n",
			(unsigned long long)got, o->count);
		rc = 1;
	}
	for (w = 1; w < WIRE_ERR_COUNT; w++) {
		if (s->metrics.engine.malformed_packets[w]) {
			fprintf(stderr, "dp: %llu malformed (%s)\n",
				(unsigned long long)
					s->metrics.engine.malformed_packets[w],
				wire_err_name(-(int)w));
			rc = 1;
		}
	}
	if (s->metrics.homad.ctl_messages < 3 || s->n_sockets == 0 ||
	    s->taken_ns < s->started_ns || s->mtu == 0) {
		fprintf(stderr, "dp: snapshot inconsistent\n");
		rc = 1;
	}
	if (o->expect_rearms && s->metrics.homad.link_rx_rearms == 0) {
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
	if (o->expect_gro &&
	    (s->metrics.homad.link_rx_gro_segments != o->count ||
	     s->metrics.homad.link_rx_datagrams >= o->count)) {
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
		"(repeatable)\n"
		"       link_test sendv --link ip|udp --dst ADDR --count N "
		"--payload P [--last P2] [--prio N]\n"
		"                       [--expect-sends S] [--submit-every K] "
		"[--mtu M]\n"
		"       link_test responder --link ip|udp --family 4|6 "
		"--count N [--timeout S] [--ready FILE]\n"
		"       link_test probe --link ip|udp --dst ADDR --count N "
		"[--src-port P] [--timeout S]\n"
		"       link_test ratelimit --link ip|udp --dst ADDR --count "
		"N\n"
		"       link_test echo --link ip|udp --dst ADDR --count N "
		"[--silent] [--tx-queue T]\n"
		"  send also takes --icmp-type T --icmp-code C: every packet "
		"must come back as that ICMP error\n"
		"  recv and lrecv also take --payload P: packets of one "
		"message (as sendv sends them)\n"
		"  link_test mix --link ip|udp --dst ADDR --count N\n"
		"  link_test classes --link ip|udp --family 4|6 --count N "
		"[--timeout S] [--ready FILE]\n");
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
		{"mtu", required_argument, NULL, 'm'},
		{"payload", required_argument, NULL, 'P'},
		{"last", required_argument, NULL, 'L'},
		{"prio", required_argument, NULL, 'y'},
		{"expect-sends", required_argument, NULL, 'E'},
		{"submit-every", required_argument, NULL, 'k'},
		{"icmp-type", required_argument, NULL, 'T'},
		{"icmp-code", required_argument, NULL, 'C'},
		{"src-port", required_argument, NULL, 's'},
		{"silent", no_argument, NULL, 'z'},
		{NULL, 0, NULL, 0},
	};
	struct lt_opts o = {.link = HOMA_LINK_IP,
			    .family = 4,
			    .count = 64,
			    .timeout_s = 10,
			    .port = HOMA_CONF_DEFAULT_UDP_PORT,
			    .icmp_type = -1,
			    .icmp_code = -1,
			    .src_port = 40001};
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
		case 'm':
			o.mtu = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'P':
			o.payload = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'L':
			o.last = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'y':
			o.prio = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'E':
			o.expect_sends = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'k':
			o.submit_every = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'T':
			o.icmp_type = atoi(optarg);
			o.expect_icmp = true;
			break;
		case 'C':
			o.icmp_code = atoi(optarg);
			break;
		case 's':
			o.src_port = (uint16_t)strtoul(optarg, NULL, 10);
			break;
		case 'z':
			o.silent = true;
			break;
		default:
			lt_usage();
		}
	}
	if (optind != argc)
		lt_usage();
	log_init("link_test", o.verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	setvbuf(stdout, NULL, _IOLBF, 0);
	lt_msg_payload = o.payload;
	lt_expect_count = o.count;
	if (strcmp(o.mode, "sendv") == 0)
		return lt_sendv(&o);
	if (strcmp(o.mode, "responder") == 0)
		return lt_responder(&o);
	if (strcmp(o.mode, "probe") == 0)
		return lt_probe(&o);
	if (strcmp(o.mode, "ratelimit") == 0)
		return lt_ratelimit(&o);
	if (strcmp(o.mode, "echo") == 0)
		return lt_echo(&o);
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
	if (strcmp(o.mode, "mix") == 0)
		return lt_mix(&o);
	if (strcmp(o.mode, "classes") == 0)
		return lt_classes_run(&o);
	lt_usage();
}
