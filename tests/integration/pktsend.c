/*
 * pktsend.c - send the Homa packets of pcaps, or crafted bad packets, to
 * one address (a test tool of the integration tests; not installed).
 *
 *   pktsend [-u UDP_PORT] [-s SEED] [-P PRIO] -d DST_ADDR
 *           (-p PCAP ... | -g KIND ...)
 *
 * Packets go out of a raw IP socket of protocol 146 (or, with -u, as UDP
 * datagrams to DST:UDP_PORT), whatever addresses the capture shows; IPv4
 * and IPv6 captures may both be sent to the one DST.  Every packet is run
 * through wire_decode first, and at the end one line per non-zero count is
 * printed on stdout:
 *
 *   sent TYPE N              valid packets of that type (sent DATA 1234)
 *   sent malformed REASON N  packets wire_decode refuses, by wire_err_name
 *
 * so that a test can compare them with the receiver's counters.  -P sends
 * every packet at Homa priority PRIO (0..7: IP TOS / IPv6 traffic class
 * PRIO << 5; default 0).  KIND:
 *   garbage:N    N packets of random bytes, 0..100 long, each made invalid
 *                (type byte out of range, or shorter than its header)
 *   truncated:N  N headers cut short, cycling through the nine types
 *
 * Exit 0 when everything was sent, 1 on an error (with a message on
 * stderr), 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/wire.h"
#include "pcapvec.h"

#define PKTSEND_BURST	    64	   /* packets between pauses */
#define PKTSEND_PAUSE_NS    200000 /* pause so the receiver keeps up */
#define PKTSEND_GARBAGE_MAX 100	   /* longest garbage packet */
#define PKTSEND_MAX_PCAPS   64
#define PKTSEND_MAX_GENS    16

/* What was sent, as wire_decode sees it. */
struct pktsend_tally {
	unsigned long valid[HOMA_TYPE_COUNT];
	unsigned long malformed[WIRE_ERR_COUNT];
};

struct pktsend {
	int fd;
	struct sockaddr_storage dst;
	socklen_t dstlen;
	unsigned long sent;
	struct pktsend_tally tally;
	int failed; /* a send failed; message already printed */
	uint64_t rng;
};

static void pktsend_usage(void)
{
	fprintf(stderr, "usage: pktsend [-u UDP_PORT] [-s SEED] [-P PRIO] "
			"-d DST_ADDR "
			"(-p PCAP ... | -g garbage:N | -g truncated:N)\n");
	exit(2);
}

/* xorshift64*: a small reproducible generator (seeded by -s). */
static uint64_t pktsend_rand(struct pktsend *s)
{
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 0x2545F4914F6CDD1Dull;
}

static void pktsend_pause(void)
{
	struct timespec ts = {0, PKTSEND_PAUSE_NS};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Decode (for the tally) and send one packet.  Returns 0 or -1. */
static int pktsend_one(struct pktsend *s, const void *buf, size_t len)
{
	struct homa_pkt pkt;
	ssize_t n;
	int rc;

	n = sendto(s->fd, buf, len, 0, (const struct sockaddr *)&s->dst,
		   s->dstlen);
	if (n < 0 || (size_t)n != len) {
		fprintf(stderr, "pktsend: sendto (%zu bytes): %s\n", len,
			n < 0 ? strerror(errno) : "short send");
		s->failed = 1;
		return -1;
	}
	rc = wire_decode(buf, len, &pkt);
	if (rc < 0)
		s->tally.malformed[-rc]++;
	else
		s->tally.valid[wire_type_index(pkt.type)]++;
	if (++s->sent % PKTSEND_BURST == 0)
		pktsend_pause();
	return 0;
}

static int pktsend_pcap_pkt(const struct pcapvec_pkt *p, void *arg)
{
	return pktsend_one(arg, p->homa, p->homa_len) < 0 ? 1 : 0;
}

static int pktsend_pcap(struct pktsend *s, const char *path)
{
	char err[512];
	int n;

	n = pcapvec_foreach(path, pktsend_pcap_pkt, s, err, sizeof(err));
	if (s->failed)
		return -1;
	if (n < 0) {
		fprintf(stderr, "pktsend: %s\n", err);
		return -1;
	}
	return 0;
}

/* A type byte wire_decode refuses: 0x00..0x0f or 0x19..0xff. */
static uint8_t pktsend_bad_type(struct pktsend *s)
{
	unsigned v = (unsigned)(pktsend_rand(s) % (256 - HOMA_TYPE_COUNT));

	return (uint8_t)(v < HOMA_TYPE_MIN ? v : v + HOMA_TYPE_COUNT);
}

/*
 * One garbage packet into b: random bytes, random length, made invalid
 * either by its type byte or by being shorter than its type's header.
 */
static size_t pktsend_garbage_pkt(struct pktsend *s, uint8_t *b)
{
	size_t len = (size_t)(pktsend_rand(s) % (PKTSEND_GARBAGE_MAX + 1));
	const size_t type_at = offsetof(struct homa_wire_common, type);

	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)pktsend_rand(s);
	if (pktsend_rand(s) & 1) {
		if (len > type_at)
			b[type_at] = pktsend_bad_type(s);
	} else {
		int t = HOMA_TYPE_MIN +
			(int)(pktsend_rand(s) % HOMA_TYPE_COUNT);
		size_t hlen = wire_header_len(t);

		if (len >= hlen)
			len = (size_t)(pktsend_rand(s) % hlen);
		if (len > type_at)
			b[type_at] = (uint8_t)t;
	}
	return len;
}

/* A full header of type t with plausible fields; returns its length. */
static size_t pktsend_header(int t, uint8_t *b, size_t cap)
{
	struct homa_pkt p;

	memset(&p, 0, sizeof(p));
	p.type = (enum homa_type)t;
	p.sport = 40000;
	p.dport = 4000;
	p.sender_id = 1000;
	if (t == HOMA_DATA) {
		p.u.data.message_length = 1000;
		p.u.data.incoming = 1000;
	}
	return wire_encode(&p, b, cap);
}

/* Send the packets of a -g KIND:N argument.  Returns 0 or -1. */
static int pktsend_generate(struct pktsend *s, const char *spec)
{
	const char *colon = strchr(spec, ':');
	uint8_t b[PKTSEND_GARBAGE_MAX + HOMA_ACK_LEN];
	unsigned long n, i;
	char *end;

	if (colon == NULL)
		pktsend_usage();
	errno = 0;
	n = strtoul(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0')
		pktsend_usage();

	if (strncmp(spec, "garbage:", 8) == 0) {
		for (i = 0; i < n; i++) {
			size_t len = pktsend_garbage_pkt(s, b);
			struct homa_pkt pkt;

			if (wire_decode(b, len, &pkt) == 0) {
				fprintf(stderr, "pktsend: garbage packet "
						"decodes as valid (bug)\n");
				return -1;
			}
			if (pktsend_one(s, b, len) < 0)
				return -1;
		}
		return 0;
	}
	if (strncmp(spec, "truncated:", 10) == 0) {
		for (i = 0; i < n; i++) {
			int t = HOMA_TYPE_MIN + (int)(i % HOMA_TYPE_COUNT);
			size_t hlen = pktsend_header(t, b, sizeof(b));

			/* hlen - 1, hlen - 2, ... 0, then again */
			if (pktsend_one(s, b,
					hlen - 1 -
						(i / HOMA_TYPE_COUNT) % hlen) <
			    0)
				return -1;
		}
		return 0;
	}
	pktsend_usage();
	return -1;
}

/* Resolve DST (numeric IPv4 or IPv6) and open the socket. */
static int pktsend_open(struct pktsend *s, const char *dst, const char *port)
{
	struct addrinfo hints, *ai;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_NUMERICHOST | (port ? AI_NUMERICSERV : 0);
	hints.ai_socktype = port ? SOCK_DGRAM : SOCK_RAW;
	hints.ai_protocol = port ? 0 : HOMA_IPPROTO;
	rc = getaddrinfo(dst, port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "pktsend: %s%s%s: %s\n", dst, port ? ":" : "",
			port ? port : "", gai_strerror(rc));
		return -1;
	}
	memcpy(&s->dst, ai->ai_addr, ai->ai_addrlen);
	s->dstlen = ai->ai_addrlen;
	s->fd = socket(ai->ai_family, hints.ai_socktype, hints.ai_protocol);
	freeaddrinfo(ai);
	if (s->fd < 0) {
		fprintf(stderr, "pktsend: socket: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static void pktsend_report(const struct pktsend_tally *t)
{
	for (int i = 0; i < HOMA_TYPE_COUNT; i++)
		if (t->valid[i] != 0)
			printf("sent %s %lu\n",
			       wire_type_name(HOMA_TYPE_MIN + i), t->valid[i]);
	for (int r = 1; r < WIRE_ERR_COUNT; r++)
		if (t->malformed[r] != 0)
			printf("sent malformed %s %lu\n", wire_err_name(r),
			       t->malformed[r]);
}

int main(int argc, char **argv)
{
	const char *dst = NULL, *port = NULL;
	const char *pcaps[PKTSEND_MAX_PCAPS], *gens[PKTSEND_MAX_GENS];
	int npcaps = 0, ngens = 0, opt, prio = 0;
	struct pktsend s;
	char *end;

	memset(&s, 0, sizeof(s));
	s.fd = -1;
	s.rng = 1;
	while ((opt = getopt(argc, argv, "d:p:g:u:s:P:h")) != -1) {
		switch (opt) {
		case 'd':
			dst = optarg;
			break;
		case 'p':
			if (npcaps == PKTSEND_MAX_PCAPS)
				pktsend_usage();
			pcaps[npcaps++] = optarg;
			break;
		case 'g':
			if (ngens == PKTSEND_MAX_GENS)
				pktsend_usage();
			gens[ngens++] = optarg;
			break;
		case 'u':
			port = optarg;
			break;
		case 'P':
			prio = (int)strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || prio < 0 ||
			    prio > 7)
				pktsend_usage();
			break;
		case 's':
			s.rng = strtoull(optarg, &end, 0);
			if (*optarg == '\0' || *end != '\0')
				pktsend_usage();
			if (s.rng == 0) /* xorshift's one fixed point */
				s.rng = 1;
			break;
		default:
			pktsend_usage();
		}
	}
	if (optind != argc || dst == NULL || npcaps + ngens == 0)
		pktsend_usage();

	if (pktsend_open(&s, dst, port) < 0)
		return 1;
	if (prio != 0) {
		int tos = prio << 5;
		int r = s.dst.ss_family == AF_INET6
				? setsockopt(s.fd, IPPROTO_IPV6, IPV6_TCLASS,
					     &tos, sizeof(tos))
				: setsockopt(s.fd, IPPROTO_IP, IP_TOS, &tos,
					     sizeof(tos));

		if (r < 0) {
			fprintf(stderr, "pktsend: priority %d: %s\n", prio,
				strerror(errno));
			goto fail;
		}
	}
	for (int i = 0; i < npcaps; i++)
		if (pktsend_pcap(&s, pcaps[i]) < 0)
			goto fail;
	for (int i = 0; i < ngens; i++)
		if (pktsend_generate(&s, gens[i]) < 0)
			goto fail;
	close(s.fd);
	pktsend_report(&s.tally);
	return fflush(stdout) == 0 ? 0 : 1;
fail:
	close(s.fd);
	return 1;
}
