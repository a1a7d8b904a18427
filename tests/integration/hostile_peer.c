/*
 * hostile_peer.c - a hostile Homa host for reliability.sh: crafts bad and
 * abusive packets with daemon/core/wire.h's encoder and sends them to one
 * homad from a raw socket of protocol 146 (or UDP with -u) at a given rate
 * for a given time.  A test tool; not installed.
 *
 *   hostile_peer -d DST_ADDR -p PORT [-u UDP_PORT] [-r PPS] [-t SECONDS]
 *                [-k KIND,KIND,...] [-s SEED] [-n HOLD_IDS]
 *
 * PORT is a Homa port of the victim (a bound server, so that well-formed
 * requests reach a socket).  The kinds, sent in turn, one packet each:
 *   bigmsg   DATA whose message_length is far above 1,000,000
 *   offset   DATA whose offset lies beyond its message_length
 *   randid   well-formed first DATA packets of requests with random ids
 *            and random lengths up to 1,000,000 bytes: each would start
 *            a server RPC that never completes
 *   grant    GRANT for an RPC the victim does not know
 *   resend   RESEND for an RPC the victim does not know
 *   ack      ACK packets of 5 random acknowledgements
 *   cutoffs  CUTOFFS with random cutoffs and version
 *   hold     the first DATA packet of one of HOLD_IDS (default 100)
 *            requests, the same ids in turn: each packet restarts its
 *            RPC's silence, so the victim holds receive buffers for all
 *            of them and never times them out.  Each is 65,536 bytes,
 *            one whole bpage of a receive pool, so that they leave no
 *            free pieces in it
 * (default: all of them but hold).  At the end one line per kind, "sent KIND
 * N", and one per wire_decode result of what was sent: "valid TYPE N" or
 * "malformed REASON N" (wire_err_name), for comparison with the victim's
 * counters; "send_errors N" counts sends the local kernel refused (e.g.
 * ENOBUFS under load; they are not on the wire).
 *
 * Exit 0 when it ran for the time asked, 1 on an error, 2 on usage errors.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "core/wire.h"

#define HP_PAYLOAD 1400	  /* bytes of payload in a DATA packet */
#define HP_BURST   32	  /* packets sent between clock reads */
#define HP_BPAGE   65536u /* a receive pool's bpage (HOMA_BPAGE_SIZE) */

enum hp_kind {
	HP_BIGMSG,
	HP_OFFSET,
	HP_RANDID,
	HP_GRANT,
	HP_RESEND,
	HP_ACK,
	HP_CUTOFFS,
	HP_HOLD,
	HP_KIND_COUNT
};

static const char *const hp_kind_names[HP_KIND_COUNT] = {
	"bigmsg", "offset", "randid",  "grant",
	"resend", "ack",    "cutoffs", "hold",
};

/* The sender's state: socket, destination, generator, tallies. */
struct hp {
	int fd;
	struct sockaddr_storage dst;
	socklen_t dstlen;
	uint16_t dport;
	uint64_t rng;
	bool kinds[HP_KIND_COUNT];
	unsigned long sent[HP_KIND_COUNT];
	unsigned long valid[HOMA_TYPE_COUNT];
	unsigned long malformed[WIRE_ERR_COUNT];
	unsigned long send_errors;
	uint64_t *hold_ids; /* HP_HOLD: the requests, sent in turn */
	unsigned long nhold, hold_next;
};

static void hp_usage(void)
{
	fprintf(stderr, "usage: hostile_peer -d DST_ADDR -p PORT [-u UDP_PORT] "
			"[-r PPS] [-t SECONDS] [-k KIND,...] [-s SEED] "
			"[-n HOLD_IDS]\n");
	exit(2);
}

/* xorshift64*: reproducible from -s. */
static uint64_t hp_rand(struct hp *h)
{
	h->rng ^= h->rng >> 12;
	h->rng ^= h->rng << 25;
	h->rng ^= h->rng >> 27;
	return h->rng * 0x2545F4914F6CDD1Dull;
}

/* A random client RPC id (even, non-zero) as a client would send it. */
static uint64_t hp_client_id(struct hp *h)
{
	return (hp_rand(h) | 2) & ~1ull;
}

/*
 * Build one packet of kind k into buf (cap bytes); returns its length.
 * The encoder writes whatever the fields say: that is how the bad ones
 * are made.
 */
static size_t hp_build(struct hp *h, enum hp_kind k, uint8_t *buf, size_t cap)
{
	static const uint8_t payload[HP_PAYLOAD];
	struct homa_pkt p;
	uint32_t len;

	memset(&p, 0, sizeof(p));
	p.sport = (uint16_t)(0x8000 + hp_rand(h) % 0x7fff);
	p.dport = h->dport;
	p.sender_id = hp_client_id(h);
	switch (k) {
	case HP_BIGMSG:
		p.type = HOMA_DATA;
		p.u.data.message_length = HOMA_MAX_MESSAGE_LENGTH + 1 +
					  (uint32_t)(hp_rand(h) % 0x7f000000u);
		p.u.data.incoming = p.u.data.message_length;
		p.u.data.offset = 0;
		p.u.data.payload_len = HP_PAYLOAD;
		p.u.data.payload = payload;
		break;
	case HP_OFFSET:
		len = 1 + (uint32_t)(hp_rand(h) % 100000);
		p.type = HOMA_DATA;
		p.u.data.message_length = len;
		p.u.data.incoming = len;
		p.u.data.offset = len + (uint32_t)(hp_rand(h) % 1000000);
		p.u.data.payload_len = 100;
		p.u.data.payload = payload;
		break;
	case HP_RANDID:
		len = 1 + (uint32_t)(hp_rand(h) % HOMA_MAX_MESSAGE_LENGTH);
		p.type = HOMA_DATA;
		p.u.data.message_length = len;
		p.u.data.incoming = len < 10000 ? len : 10000;
		p.u.data.offset = 0;
		p.u.data.payload_len = len < HP_PAYLOAD ? len : HP_PAYLOAD;
		p.u.data.payload = payload;
		break;
	case HP_GRANT:
		p.type = HOMA_GRANT;
		p.sender_id |= 1; /* as a server would */
		p.u.grant.offset = (uint32_t)hp_rand(h);
		p.u.grant.priority = (uint8_t)hp_rand(h);
		break;
	case HP_RESEND:
		p.type = HOMA_RESEND;
		if (hp_rand(h) & 1)
			p.sender_id |= 1;
		p.u.resend.offset = (uint32_t)hp_rand(h);
		p.u.resend.length = (hp_rand(h) & 1) ? HOMA_RESEND_ALL
						     : (uint32_t)hp_rand(h);
		p.u.resend.priority = (uint8_t)hp_rand(h);
		break;
	case HP_ACK:
		p.type = HOMA_ACK;
		p.sender_id |= 1;
		p.u.ack.num_acks = HOMA_MAX_ACKS;
		for (unsigned i = 0; i < HOMA_MAX_ACKS; i++) {
			p.u.ack.acks[i].client_id = hp_rand(h);
			p.u.ack.acks[i].server_port = (uint16_t)hp_rand(h);
		}
		break;
	case HP_CUTOFFS:
		p.type = HOMA_CUTOFFS;
		for (unsigned i = 0; i < HOMA_NUM_PRIORITIES; i++)
			p.u.cutoffs.unsched_cutoffs[i] = (uint32_t)hp_rand(h);
		p.u.cutoffs.cutoff_version = (uint16_t)hp_rand(h);
		break;
	case HP_HOLD:
		p.sender_id = h->hold_ids[h->hold_next];
		p.sport = (uint16_t)(0x8000 + h->hold_next % 0x7fff);
		p.type = HOMA_DATA;
		p.u.data.message_length = HP_BPAGE;
		h->hold_next = (h->hold_next + 1) % h->nhold;
		p.u.data.incoming = 10000;
		p.u.data.offset = 0;
		p.u.data.payload_len = HP_PAYLOAD;
		p.u.data.payload = payload;
		break;
	case HP_KIND_COUNT:
		return 0;
	}
	return wire_encode(&p, buf, cap);
}

/* Send one packet of kind k; a local refusal is counted, not fatal. */
static int hp_send(struct hp *h, enum hp_kind k)
{
	uint8_t buf[HOMA_DATA_LEN + HP_PAYLOAD];
	struct homa_pkt pkt;
	size_t len = hp_build(h, k, buf, sizeof(buf));
	ssize_t n;
	int rc;

	if (len == 0) {
		fprintf(stderr, "hostile_peer: cannot encode %s\n",
			hp_kind_names[k]);
		return -1;
	}
	n = sendto(h->fd, buf, len, 0, (const struct sockaddr *)&h->dst,
		   h->dstlen);
	if (n < 0) {
		if (errno != ENOBUFS && errno != EAGAIN && errno != EPERM &&
		    errno != ECONNREFUSED && errno != EHOSTUNREACH) {
			fprintf(stderr, "hostile_peer: sendto: %s\n",
				strerror(errno));
			return -1;
		}
		h->send_errors++;
		return 0;
	}
	h->sent[k]++;
	rc = wire_decode(buf, len, &pkt);
	if (rc < 0)
		h->malformed[-rc]++;
	else
		h->valid[wire_type_index(pkt.type)]++;
	return 0;
}

static int hp_open(struct hp *h, const char *dst, const char *udp_port)
{
	struct addrinfo hints, *ai;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_NUMERICHOST | (udp_port ? AI_NUMERICSERV : 0);
	hints.ai_socktype = udp_port ? SOCK_DGRAM : SOCK_RAW;
	hints.ai_protocol = udp_port ? 0 : HOMA_IPPROTO;
	rc = getaddrinfo(dst, udp_port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "hostile_peer: %s: %s\n", dst,
			gai_strerror(rc));
		return -1;
	}
	memcpy(&h->dst, ai->ai_addr, ai->ai_addrlen);
	h->dstlen = ai->ai_addrlen;
	h->fd = socket(ai->ai_family, hints.ai_socktype, hints.ai_protocol);
	freeaddrinfo(ai);
	if (h->fd < 0) {
		fprintf(stderr, "hostile_peer: socket: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Parse "a,b,c" into h->kinds; false on an unknown name. */
static bool hp_parse_kinds(struct hp *h, const char *list)
{
	char *copy = strdup(list), *save = NULL, *tok;
	bool ok = copy != NULL;

	memset(h->kinds, 0, sizeof(h->kinds));
	for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && ok;
	     tok = strtok_r(NULL, ",", &save)) {
		int k;

		for (k = 0; k < HP_KIND_COUNT; k++)
			if (strcmp(tok, hp_kind_names[k]) == 0)
				break;
		if (k == HP_KIND_COUNT)
			ok = false;
		else
			h->kinds[k] = true;
	}
	free(copy);
	return ok;
}

int main(int argc, char **argv)
{
	const char *dst = NULL, *udp_port = NULL;
	unsigned long rate = 20000, port = 0, nhold = 100;
	double seconds = 3;
	uint64_t start, end, now;
	unsigned long total = 0;
	struct hp h;
	char *e;
	int opt, k = 0;

	memset(&h, 0, sizeof(h));
	h.fd = -1;
	h.rng = 1;
	for (int i = 0; i < HP_KIND_COUNT; i++)
		h.kinds[i] = i != HP_HOLD;
	while ((opt = getopt(argc, argv, "d:p:u:r:t:k:s:n:h")) != -1) {
		switch (opt) {
		case 'd':
			dst = optarg;
			break;
		case 'p':
			port = strtoul(optarg, &e, 0);
			if (*e != '\0' || port == 0 || port > 0xffff)
				hp_usage();
			break;
		case 'u':
			udp_port = optarg;
			break;
		case 'r':
			rate = strtoul(optarg, &e, 0);
			if (*e != '\0' || rate == 0 || rate > 10000000)
				hp_usage();
			break;
		case 't':
			seconds = strtod(optarg, &e);
			if (*e != '\0' || !(seconds > 0 && seconds <= 3600))
				hp_usage();
			break;
		case 'k':
			if (!hp_parse_kinds(&h, optarg))
				hp_usage();
			break;
		case 'n':
			nhold = strtoul(optarg, &e, 0);
			if (*e != '\0' || nhold == 0 || nhold > 1000000)
				hp_usage();
			break;
		case 's':
			h.rng = strtoull(optarg, &e, 0);
			if (*optarg == '\0' || *e != '\0')
				hp_usage();
			if (h.rng == 0)
				h.rng = 1;
			break;
		default:
			hp_usage();
		}
	}
	if (optind != argc || dst == NULL || port == 0)
		hp_usage();
	h.dport = (uint16_t)port;
	h.nhold = nhold;
	h.hold_ids = calloc(nhold, sizeof(*h.hold_ids));
	if (h.hold_ids == NULL) {
		fprintf(stderr, "hostile_peer: out of memory\n");
		return 1;
	}
	for (unsigned long i = 0; i < nhold; i++)
		h.hold_ids[i] = hp_client_id(&h);
	if (hp_open(&h, dst, udp_port) < 0)
		return 1;

	start = homad_now_ns();
	end = start + (uint64_t)(seconds * 1e9);
	for (now = start; now < end; now = homad_now_ns()) {
		/* Packets due by now at the rate asked; sleep when ahead. */
		uint64_t due = (now - start) * rate / 1000000000ull;

		if (total >= due) {
			struct timespec ts = {0, 100000};

			nanosleep(&ts, NULL);
			continue;
		}
		for (int b = 0; b < HP_BURST && total < due; b++) {
			while (!h.kinds[k])
				k = (k + 1) % HP_KIND_COUNT;
			if (hp_send(&h, (enum hp_kind)k) < 0) {
				close(h.fd);
				free(h.hold_ids);
				return 1;
			}
			k = (k + 1) % HP_KIND_COUNT;
			total++;
		}
	}
	close(h.fd);
	free(h.hold_ids);
	for (int i = 0; i < HP_KIND_COUNT; i++)
		if (h.kinds[i])
			printf("sent %s %lu\n", hp_kind_names[i], h.sent[i]);
	for (int i = 0; i < HOMA_TYPE_COUNT; i++)
		if (h.valid[i] != 0)
			printf("valid %s %lu\n",
			       wire_type_name(HOMA_TYPE_MIN + i), h.valid[i]);
	for (int r = 1; r < WIRE_ERR_COUNT; r++)
		if (h.malformed[r] != 0)
			printf("malformed %s %lu\n", wire_err_name(r),
			       h.malformed[r]);
	printf("send_errors %lu\n", h.send_errors);
	printf("seconds %.2f\n", (double)(homad_now_ns() - start) / 1e9);
	return fflush(stdout) == 0 ? 0 : 1;
}
