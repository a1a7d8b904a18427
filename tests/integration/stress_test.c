/*
 * stress_test.c - the applications of stress.sh: echo-like servers that
 * count how often each request is executed, and clients that keep many
 * RPCs of W3/W4-like sizes in flight and check every response.
 *
 *   stress_test server -p PORT --ready FILE --counts FILE
 *       Binds PORT (IPv4) and answers every request: checks its checksum,
 *       counts one execution of its id (client id, sequence number), and
 *       answers with the id and a checksummed payload of the size the
 *       request asks for.  Runs until SIGTERM (or SIGINT), then writes
 *       FILE: "requests N", "ids N" (distinct), "duplicates N" (ids
 *       executed more than once), "bad N" (requests whose header or
 *       checksum was wrong: not executed, not answered), and a "dup
 *       CLIENT SEQ COUNT" line per duplicate (the first 100).  Each second
 *       execution is also described on stderr (homad's RPC ids and times
 *       of both).  Exit 0 after SIGTERM, 1 if homad closed the connection
 *       first.
 *   stress_test client --id ID -n COUNT -d ADDR [-d ADDR...] -p PORT
 *                      [--outstanding K] [--workloads w3,w4] [--cap B]
 *                      [--seed S] [--timeout SEC] [--times FILE]
 *                      [--progress]
 *       COUNT RPCs, at most K (default 32) in flight, to the servers at
 *       ADDR:PORT in turn.  Each RPC draws a workload of the list, then
 *       its request and its response size from it (capped at B, default
 *       1,000,000; sizes below the 24-byte header become 24).  Every
 *       response must carry the request's id and a good checksum and have
 *       the size asked for.  Prints one line: RPCs ok / failed (by errno)
 *       / mismatched, seconds, P50/P99 per size class.  FILE gets one
 *       "REQ RESP RTT_NS SEQ RPC_ID START_S" line per RPC that succeeded
 *       (START_S: CLOCK_MONOTONIC seconds when it was sent).  After SEC seconds
 *       (default 600) the RPCs still in flight are printed (with homad's
 *       view of them) and the client fails.  At the end homad must report
 *       no RPC left on the socket (within 5 s).  Exit 0 only if all COUNT
 *       RPCs succeeded.
 *   stress_test report FILE...
 *       Completion-time percentiles of the --times files together, per
 *       size class (the larger of request and response), one line.
 *
 * Messages: a 24-byte header (magic, client id, sequence number, the
 * response size asked for, a checksum of the whole message with the
 * checksum field zero, seeded by its length), then bytes of a fixed
 * pseudo-random buffer at an offset derived from the id.
 *
 * homad's client socket: -s PATH, else $HOMA_SOCKET.  Exit 0 pass,
 * 1 fail, 2 usage.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "clock.h"
#include "homa/client.h"

#define ST_HDR_LEN	 24
#define ST_REQ_MAGIC	 0x51525453u /* "STRQ" */
#define ST_RESP_MAGIC	 0x50525453u /* "STRP" */
#define ST_MAX_CLIENTS	 256	     /* client ids 1..255 */
#define ST_MAX_SEQ	 (1u << 24)  /* sequence numbers per client */
#define ST_MAX_SERVERS	 16
#define ST_MAX_WORKLOADS 4
#define ST_MAX_OUT	 1024 /* --outstanding at most */
#define ST_RAND_LEN	 (2u * 1024 * 1024)
#define ST_RAND_SPAN	 (ST_RAND_LEN - HC_MAX_MESSAGE_LENGTH)
#define ST_MAX_ERRNO	 200
#define ST_MAX_DUPS	 100 /* "dup" lines written, at most */
#define ST_BATCH	 64  /* messages handled per wake-up */

/* Size classes of the report: the larger message of an RPC. */
static const uint32_t st_class_max[] = {1400, 10000, 100000,
					HC_MAX_MESSAGE_LENGTH};
static const char *const st_class_name[] = {"<=1.4KB", "<=10KB", "<=100KB",
					    "<=1MB"};
#define ST_CLASSES (sizeof(st_class_max) / sizeof(st_class_max[0]))

/* The header of every message (host order: both ends are this machine). */
struct st_hdr {
	uint32_t magic;	   /* ST_REQ_MAGIC or ST_RESP_MAGIC */
	uint16_t client;   /* client id, 1..255 */
	uint16_t zero;	   /* 0 */
	uint32_t seq;	   /* the client's sequence number of the RPC */
	uint32_t resp_len; /* request: response bytes wanted; response: same */
	uint64_t sum;	   /* st_sum of the message with this field 0 */
};
_Static_assert(sizeof(struct st_hdr) == ST_HDR_LEN, "header size");

/* Options of the commands. */
static struct {
	const char *cmd;
	const char *socket_path;
	const char *ready;
	const char *counts;
	const char *times;
	const char *workloads;
	const char *servers[ST_MAX_SERVERS];
	unsigned n_servers;
	unsigned port, id, outstanding, cap, timeout_s;
	unsigned long count;
	uint64_t seed;
	bool progress;
} opt = {.workloads = "w3,w4",
	 .outstanding = 32,
	 .cap = HC_MAX_MESSAGE_LENGTH,
	 .timeout_s = 600,
	 .seed = 1};

/* The payload source: ST_RAND_LEN pseudo-random bytes, the same in every
 * process. */
static uint8_t *st_rand;

static volatile sig_atomic_t st_stop;

static void st_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));

/* Print "stress_test CMD: ..." on stderr and exit 1. */
static void st_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "stress_test %s: ", opt.cmd ? opt.cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* splitmix64: a good 64-bit mix, also the generator's step. */
static uint64_t st_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* A uniform double in [0,1) from state *s. */
static double st_uniform(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ull;
	return (double)(st_mix(*s) >> 11) * 0x1.0p-53;
}

static void st_rand_init(void)
{
	st_rand = malloc(ST_RAND_LEN);
	if (st_rand == NULL)
		st_fail("out of memory");
	for (size_t i = 0; i < ST_RAND_LEN; i += 8) {
		uint64_t v = st_mix(i);

		memcpy(st_rand + i, &v, 8);
	}
}

/* Where the payload of (kind, client, seq) starts in st_rand. */
static const uint8_t *st_payload(uint32_t magic, unsigned client, uint32_t seq)
{
	uint64_t k = ((uint64_t)magic << 40) ^ ((uint64_t)client << 32) ^ seq;

	return st_rand + st_mix(k) % ST_RAND_SPAN;
}

/*
 * A running checksum over bytes given in pieces of any size: one multiply
 * per 8-byte word, bytes of a partial word carried to the next piece.
 */
struct st_sum {
	uint64_t h;
	uint8_t carry[8];
	unsigned nc;
};

static void st_sum_word(struct st_sum *s, uint64_t w)
{
	s->h = (s->h ^ w) * 0x100000001b3ull;
	s->h ^= s->h >> 29;
}

static void st_sum_init(struct st_sum *s, uint32_t len)
{
	s->h = st_mix(len);
	s->nc = 0;
}

static void st_sum_add(struct st_sum *s, const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t w;

	while (s->nc > 0 && n > 0) {
		s->carry[s->nc++] = *b++;
		n--;
		if (s->nc == 8) {
			memcpy(&w, s->carry, 8);
			st_sum_word(s, w);
			s->nc = 0;
		}
	}
	for (; n >= 8; n -= 8, b += 8) {
		memcpy(&w, b, 8);
		st_sum_word(s, w);
	}
	while (n > 0) {
		s->carry[s->nc++] = *b++;
		n--;
	}
}

static uint64_t st_sum_end(struct st_sum *s)
{
	uint64_t w = 0;

	if (s->nc > 0) {
		memcpy(&w, s->carry, s->nc);
		st_sum_word(s, w ^ ((uint64_t)s->nc << 56));
	}
	return st_mix(s->h);
}

/* Fill h for a message of len bytes (payload from st_payload). */
static void st_hdr_make(struct st_hdr *h, uint32_t magic, unsigned client,
			uint32_t seq, uint32_t resp_len, uint32_t len)
{
	struct st_sum s;

	memset(h, 0, sizeof(*h));
	h->magic = magic;
	h->client = (uint16_t)client;
	h->seq = seq;
	h->resp_len = resp_len;
	st_sum_init(&s, len);
	st_sum_add(&s, h, sizeof(*h));
	st_sum_add(&s, st_payload(magic, client, seq), len - ST_HDR_LEN);
	h->sum = st_sum_end(&s);
}

/*
 * Read and check the header of received message m against magic and its
 * checksum over all of m.  Returns NULL, or what is wrong (static text).
 */
static const char *st_hdr_check(struct hc_sock *s, const struct hc_msg *m,
				uint32_t magic, struct st_hdr *h)
{
	struct iovec iov[HC_MAX_BPAGES];
	struct st_hdr z;
	struct st_sum sum;
	size_t skip = ST_HDR_LEN;
	int n;

	if (m->length < ST_HDR_LEN)
		return "shorter than the header";
	if (hc_msg_read(s, m, 0, h, sizeof(*h)) != sizeof(*h))
		return "header unreadable";
	if (h->magic != magic || h->zero != 0)
		return "bad magic";
	n = hc_msg_iov(s, m, iov, HC_MAX_BPAGES);
	if (n < 0)
		return "hc_msg_iov failed";
	z = *h;
	z.sum = 0;
	st_sum_init(&sum, m->length);
	st_sum_add(&sum, &z, sizeof(z));
	for (int i = 0; i < n; i++) {
		size_t d = iov[i].iov_len < skip ? iov[i].iov_len : skip;

		st_sum_add(&sum, (const uint8_t *)iov[i].iov_base + d,
			   iov[i].iov_len - d);
		skip -= d;
	}
	if (st_sum_end(&sum) != h->sum)
		return "bad checksum";
	return NULL;
}

static struct hc_sock *st_open(size_t rx_pool, size_t tx_area, unsigned max_out)
{
	struct hc_options o;
	struct hc_sock *s;
	char err[256];
	int rc;

	hc_options_init(&o);
	o.socket_path = opt.socket_path;
	o.rx_pool_bytes = rx_pool;
	o.tx_area_bytes = tx_area;
	o.max_outstanding = max_out;
	rc = hc_open(&s, AF_INET, &o);
	if (rc < 0)
		st_fail("hc_open: %s (%s)", hc_strerror(rc),
			hc_last_error(NULL, err, sizeof(err)));
	return s;
}

static void st_on_signal(int sig)
{
	(void)sig;
	st_stop = 1;
}

/* ---- server ------------------------------------------------------------ */

/*
 * Executions per id: c[client][seq], grown on demand; with the homad RPC
 * id and time of the first execution, to describe a second one.
 */
struct st_counts {
	uint8_t *c[ST_MAX_CLIENTS];
	uint64_t *first_id[ST_MAX_CLIENTS];
	uint64_t *first_ns[ST_MAX_CLIENTS];
	uint32_t len[ST_MAX_CLIENTS];
	uint64_t requests, bad;
};

static void st_counts_free(struct st_counts *t)
{
	for (unsigned i = 0; i < ST_MAX_CLIENTS; i++) {
		free(t->c[i]);
		free(t->first_id[i]);
		free(t->first_ns[i]);
	}
	free(t);
}

/* p (old elements of sz bytes) grown to n, the new ones zero; or fail. */
static void *st_grow(void *p, size_t old, size_t n, size_t sz)
{
	uint8_t *q = realloc(p, n * sz);

	if (q == NULL)
		st_fail("out of memory");
	memset(q + old * sz, 0, (n - old) * sz);
	return q;
}

/*
 * Count one execution of (client, seq), homad's RPC id; false when the id
 * is out of range.  A second execution is described on stderr.
 */
static bool st_count(struct st_counts *t, unsigned client, uint32_t seq,
		     uint64_t rpc_id)
{
	uint64_t now = homad_now_ns();

	if (client == 0 || client >= ST_MAX_CLIENTS || seq >= ST_MAX_SEQ)
		return false;
	if (seq >= t->len[client]) {
		uint32_t n = t->len[client] ? t->len[client] : 4096;

		while (n <= seq)
			n *= 2;
		t->c[client] = st_grow(t->c[client], t->len[client], n, 1);
		t->first_id[client] =
			st_grow(t->first_id[client], t->len[client], n, 8);
		t->first_ns[client] =
			st_grow(t->first_ns[client], t->len[client], n, 8);
		t->len[client] = n;
	}
	if (t->c[client][seq] == 0) {
		t->first_id[client][seq] = rpc_id;
		t->first_ns[client][seq] = now;
	} else {
		fprintf(stderr,
			"stress_test server: request %u/%" PRIu32
			" executed again: RPC id %" PRIu64 " at %.6f s, "
			"first as RPC id %" PRIu64 " at %.6f s\n",
			client, seq, rpc_id, (double)now / 1e9,
			t->first_id[client][seq],
			(double)t->first_ns[client][seq] / 1e9);
	}
	if (t->c[client][seq] < 255)
		t->c[client][seq]++;
	t->requests++;
	return true;
}

static void st_counts_write(const struct st_counts *t, const char *path)
{
	uint64_t ids = 0, dups = 0;
	FILE *f = fopen(path, "w");

	if (f == NULL)
		st_fail("%s: %s", path, strerror(errno));
	for (unsigned c = 1; c < ST_MAX_CLIENTS; c++)
		for (uint32_t q = 0; q < t->len[c]; q++) {
			if (t->c[c][q] == 0)
				continue;
			ids++;
			if (t->c[c][q] > 1 && dups++ < ST_MAX_DUPS)
				fprintf(f, "dup %u %" PRIu32 " %u\n", c, q,
					t->c[c][q]);
		}
	fprintf(f,
		"requests %" PRIu64 "\nids %" PRIu64 "\nduplicates %" PRIu64
		"\nbad %" PRIu64 "\n",
		t->requests, ids, dups, t->bad);
	if (fclose(f) != 0)
		st_fail("%s: %s", path, strerror(errno));
}

/* Answer request m (already checked, header h). */
static void st_answer(struct hc_sock *s, const struct hc_msg *m,
		      const struct st_hdr *h)
{
	struct st_hdr r;
	struct iovec iov[2];
	char err[256];
	int rc;

	st_hdr_make(&r, ST_RESP_MAGIC, h->client, h->seq, h->resp_len,
		    h->resp_len);
	iov[0] = (struct iovec){.iov_base = &r, .iov_len = sizeof(r)};
	iov[1] = (struct iovec){.iov_base = (void *)st_payload(
					ST_RESP_MAGIC, h->client, h->seq),
				.iov_len = h->resp_len - ST_HDR_LEN};
	rc = hc_send_responsev(s, m->id, &m->peer.sa, m->peer_len, iov, 2, 0);
	if (rc < 0 && rc != -ESHUTDOWN)
		st_fail("response to %u/%" PRIu32 ": %s (%s)", h->client,
			h->seq, hc_strerror(rc),
			hc_last_error(s, err, sizeof(err)));
}

static int cmd_server(void)
{
	struct st_counts *t = calloc(1, sizeof(*t));
	struct sigaction sa;
	struct hc_sock *s;
	bool gone = false;
	FILE *f;
	int rc;

	if (t == NULL)
		st_fail("out of memory");
	if (opt.port == 0 || opt.counts == NULL || opt.ready == NULL)
		st_fail("needs -p, --counts and --ready");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = st_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	st_rand_init();
	s = st_open(128u << 20, 64u << 20, 0);
	rc = hc_bind(s, opt.port);
	if (rc < 0)
		st_fail("bind %u: %s", opt.port, hc_strerror(rc));
	f = fopen(opt.ready, "w");
	if (f == NULL || fclose(f) != 0)
		st_fail("%s: %s", opt.ready, strerror(errno));
	while (!st_stop && !gone) {
		struct pollfd pfd = {.fd = hc_fd(s), .events = POLLIN};
		struct hc_msg m;
		int n;

		for (n = 0; n < ST_BATCH; n++) {
			const char *why;
			struct st_hdr h;

			rc = hc_recv(s, 0, 0, &m);
			if (rc == -EAGAIN)
				break;
			if (rc == -ECONNRESET) {
				gone = true;
				break;
			}
			if (rc < 0)
				st_fail("hc_recv: %s", hc_strerror(rc));
			if (m.error != 0 || m.id % 2 == 0) {
				/* A server has no RPC of its own to fail. */
				st_fail("unexpected message: id %" PRIu64
					" error %d",
					m.id, m.error);
			}
			why = st_hdr_check(s, &m, ST_REQ_MAGIC, &h);
			if (why == NULL && (h.resp_len < ST_HDR_LEN ||
					    h.resp_len > HC_MAX_MESSAGE_LENGTH))
				why = "bad response size";
			if (why == NULL && !st_count(t, h.client, h.seq, m.id))
				why = "id out of range";
			if (why != NULL) {
				t->bad++;
				fprintf(stderr,
					"stress_test server: request %" PRIu64
					" (%u bytes): %s\n",
					m.id, m.length, why);
				hc_recycle(s, &m);
				continue;
			}
			hc_recycle(s, &m);
			st_answer(s, &m, &h);
		}
		if (n == ST_BATCH || gone || (hc_ready(s) & HC_READY_RECV))
			continue;
		if (poll(&pfd, 1, 200) < 0 && errno != EINTR)
			st_fail("poll: %s", strerror(errno));
	}
	st_counts_write(t, opt.counts);
	hc_close(s);
	st_counts_free(t);
	if (gone) {
		fprintf(stderr, "stress_test server: homad closed the "
				"connection\n");
		return 1;
	}
	return 0;
}

/* ---- client ------------------------------------------------------------ */

/* One RPC in flight (slot of the client's table; the cookie is its index). */
struct st_slot {
	bool busy;
	uint32_t seq;
	unsigned server;
	uint32_t req_len, resp_len;
	uint64_t id;	   /* homad's RPC id */
	uint64_t start_ns; /* when it was sent */
};

struct st_client {
	struct hc_sock *s;
	struct sockaddr_in servers[ST_MAX_SERVERS];
	struct workload wl[ST_MAX_WORKLOADS];
	unsigned n_wl;
	struct st_slot *slots;
	unsigned *free_slots; /* stack of free slot indexes */
	unsigned n_free;
	uint64_t rng;
	uint32_t next_seq;
	uint64_t ok, failed, mismatched;
	uint64_t by_errno[ST_MAX_ERRNO + 1];
	FILE *times;
	/* Completion times per class, for the line printed at the end. */
	uint64_t *rtt[ST_CLASSES];
	size_t n_rtt[ST_CLASSES];
	/* Sizes drawn for sequence number drawn_seq (the next RPC, kept
	 * when homad's transmit space was full). */
	uint32_t req_len, resp_len, drawn_seq;
};

static unsigned st_class_of(uint32_t bytes)
{
	unsigned c = 0;

	while (c + 1 < ST_CLASSES && bytes > st_class_max[c])
		c++;
	return c;
}

static uint32_t st_draw(struct st_client *c, const struct workload *w)
{
	uint32_t sz = workload_sample(w, st_uniform(&c->rng));

	return sz < ST_HDR_LEN ? ST_HDR_LEN : sz;
}

/*
 * Send the next RPC.  Returns 0, or -EAGAIN when homad's transmit space
 * is full (nothing changes: the same RPC is tried again later).
 */
static int st_send_next(struct st_client *c)
{
	unsigned slot = c->free_slots[c->n_free - 1];
	unsigned server = c->next_seq % opt.n_servers;
	struct st_slot *sl = &c->slots[slot];
	struct st_hdr h;
	struct iovec iov[2];
	uint32_t req_len, resp_len;
	char err[256];
	uint64_t id;
	int rc;

	if (c->drawn_seq != c->next_seq) {
		const struct workload *w = &c->wl[c->rng % c->n_wl];

		c->rng = st_mix(c->rng);
		c->req_len = st_draw(c, w);
		c->resp_len = st_draw(c, w);
		c->drawn_seq = c->next_seq;
	}
	req_len = c->req_len;
	resp_len = c->resp_len;
	st_hdr_make(&h, ST_REQ_MAGIC, opt.id, c->next_seq, resp_len, req_len);
	iov[0] = (struct iovec){.iov_base = &h, .iov_len = sizeof(h)};
	iov[1] = (struct iovec){.iov_base = (void *)st_payload(
					ST_REQ_MAGIC, opt.id, c->next_seq),
				.iov_len = req_len - ST_HDR_LEN};
	rc = hc_send_requestv(
		c->s, (const struct sockaddr *)&c->servers[server],
		sizeof(c->servers[server]), iov, 2, slot, HC_NONBLOCK, &id);
	if (rc == -EAGAIN)
		return rc;
	if (rc < 0)
		st_fail("send of %" PRIu32 " bytes: %s (%s)", req_len,
			hc_strerror(rc), hc_last_error(c->s, err, sizeof(err)));
	*sl = (struct st_slot){.busy = true,
			       .seq = c->next_seq,
			       .server = server,
			       .req_len = req_len,
			       .resp_len = resp_len,
			       .id = id,
			       .start_ns = homad_now_ns()};
	c->n_free--;
	c->next_seq++;
	return 0;
}

/* Check response (or failure) m and free its slot. */
static void st_complete(struct st_client *c, struct hc_msg *m)
{
	uint64_t now = homad_now_ns();
	struct st_slot *sl;
	const char *why = NULL;
	struct st_hdr h;

	if (m->cookie >= opt.outstanding || !c->slots[m->cookie].busy) {
		fprintf(stderr,
			"stress_test client %u: message %" PRIu64
			" with cookie %" PRIu64 " of no RPC in flight\n",
			opt.id, m->id, m->cookie);
		c->mismatched++;
		hc_recycle(c->s, m);
		return;
	}
	sl = &c->slots[m->cookie];
	if (m->error != 0) {
		c->failed++;
		c->by_errno[m->error <= ST_MAX_ERRNO ? m->error : 0]++;
		fprintf(stderr,
			"stress_test client %u: RPC %" PRIu32 " id %" PRIu64
			" (%" PRIu32 " -> %" PRIu32 " bytes, server %u) "
			"failed after %.1f ms (at %.3f s): %s\n",
			opt.id, sl->seq, sl->id, sl->req_len, sl->resp_len,
			sl->server, (double)(now - sl->start_ns) / 1e6,
			(double)now / 1e9, hc_strerror(m->error));
	} else {
		if (m->id != sl->id)
			why = "response id is not the request's";
		else if (m->length != sl->resp_len)
			why = "response size is not the one asked for";
		else
			why = st_hdr_check(c->s, m, ST_RESP_MAGIC, &h);
		if (why == NULL && (h.client != opt.id || h.seq != sl->seq ||
				    h.resp_len != sl->resp_len))
			why = "response names another request";
		if (why != NULL) {
			c->mismatched++;
			fprintf(stderr,
				"stress_test client %u: RPC %" PRIu32
				" (%" PRIu32 " -> %" PRIu32 " bytes): %u "
				"bytes came back: %s\n",
				opt.id, sl->seq, sl->req_len, sl->resp_len,
				m->length, why);
		} else {
			uint64_t rtt = now - sl->start_ns;
			uint32_t big = sl->req_len > sl->resp_len
					       ? sl->req_len
					       : sl->resp_len;
			unsigned k = st_class_of(big);

			c->ok++;
			c->rtt[k][c->n_rtt[k]++] = rtt;
			if (c->times != NULL)
				fprintf(c->times,
					"%" PRIu32 " %" PRIu32 " %" PRIu64
					" %" PRIu32 " %" PRIu64 " %.6f\n",
					sl->req_len, sl->resp_len, rtt, sl->seq,
					sl->id, (double)sl->start_ns / 1e9);
		}
		hc_recycle(c->s, m);
	}
	sl->busy = false;
	c->free_slots[c->n_free++] = (unsigned)m->cookie;
}

static int st_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The p-th percentile (0..100) of sorted v[0..n), in ms. */
static double st_pct(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)((double)n * p / 100.0);

	if (i >= n)
		i = n - 1;
	return (double)v[i] / 1e6;
}

/* Print "CLASS P50/P99 ms (n=N), ..." for rtt[] into out. */
static void st_print_classes(FILE *out, uint64_t *const *rtt,
			     const size_t *n_rtt)
{
	bool first = true;

	fprintf(out, "P50/P99 ms:");
	for (unsigned k = 0; k < ST_CLASSES; k++) {
		if (n_rtt[k] == 0)
			continue;
		qsort(rtt[k], n_rtt[k], sizeof(uint64_t), st_cmp_u64);
		fprintf(out, "%s %s %.2f/%.2f (n=%zu)", first ? "" : ",",
			st_class_name[k], st_pct(rtt[k], n_rtt[k], 50),
			st_pct(rtt[k], n_rtt[k], 99), n_rtt[k]);
		first = false;
	}
	if (first)
		fprintf(out, " none");
}

/* What homad says about the RPCs still in flight (at the deadline). */
static void st_dump_stuck(struct st_client *c)
{
	struct hc_rpc_info *ri = calloc(ST_MAX_OUT, sizeof(*ri));
	struct hc_info info;
	unsigned n = 0;
	uint64_t now = homad_now_ns();

	if (ri == NULL || hc_info(c->s, &info, ri, ST_MAX_OUT, &n) < 0)
		n = 0;
	for (unsigned i = 0; i < opt.outstanding; i++) {
		struct st_slot *sl = &c->slots[i];
		const struct hc_rpc_info *r = NULL;

		if (!sl->busy)
			continue;
		for (unsigned j = 0; j < n; j++)
			if (ri[j].id == sl->id)
				r = &ri[j];
		fprintf(stderr,
			"stress_test client %u: STUCK RPC %" PRIu32
			" id %" PRIu64 " (%" PRIu32 " -> %" PRIu32
			" bytes, server %u) for %.1f s",
			opt.id, sl->seq, sl->id, sl->req_len, sl->resp_len,
			sl->server, (double)(now - sl->start_ns) / 1e9);
		if (r == NULL)
			fprintf(stderr, "; homad has no such RPC\n");
		else
			fprintf(stderr,
				"; homad: tx %d sent %u granted %u, rx %d "
				"remaining %u gaps %u granted %u, flags %#x\n",
				r->tx_length, r->tx_sent, r->tx_granted,
				r->rx_length, r->rx_remaining, r->rx_gaps,
				r->rx_granted, r->flags);
	}
	free(ri);
}

/* Wait up to 5 s for homad to have no RPC of the socket; the count. */
static unsigned st_wait_no_rpcs(struct st_client *c)
{
	uint64_t end = homad_now_ns() + 5000000000ull;
	struct hc_info info;

	for (;;) {
		int rc = hc_info(c->s, &info, NULL, 0, NULL);

		if (rc < 0)
			st_fail("hc_info: %s", hc_strerror(rc));
		if (info.num_rpcs == 0 || homad_now_ns() > end)
			return info.num_rpcs;
		usleep(20000);
	}
}

static void st_client_setup(struct st_client *c)
{
	char err[256], spec[256], *save = NULL, *tok;

	if (opt.id == 0 || opt.id >= ST_MAX_CLIENTS)
		st_fail("--id must be 1..%d", ST_MAX_CLIENTS - 1);
	if (opt.count == 0 || opt.count > ST_MAX_SEQ)
		st_fail("-n must be 1..%u", ST_MAX_SEQ);
	if (opt.n_servers == 0 || opt.port == 0)
		st_fail("needs -d and -p");
	if (opt.outstanding == 0 || opt.outstanding > ST_MAX_OUT)
		st_fail("--outstanding must be 1..%d", ST_MAX_OUT);
	if (opt.cap < ST_HDR_LEN || opt.cap > HC_MAX_MESSAGE_LENGTH)
		st_fail("--cap must be %d..%d", ST_HDR_LEN,
			HC_MAX_MESSAGE_LENGTH);
	for (unsigned i = 0; i < opt.n_servers; i++) {
		c->servers[i].sin_family = AF_INET;
		c->servers[i].sin_port = htons((uint16_t)opt.port);
		if (inet_pton(AF_INET, opt.servers[i],
			      &c->servers[i].sin_addr) != 1)
			st_fail("%s: not an IPv4 address", opt.servers[i]);
	}
	snprintf(spec, sizeof(spec), "%s", opt.workloads);
	for (tok = strtok_r(spec, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (c->n_wl == ST_MAX_WORKLOADS)
			st_fail("at most %d workloads", ST_MAX_WORKLOADS);
		if (workload_load(&c->wl[c->n_wl], tok, opt.cap, err,
				  sizeof(err)) < 0)
			st_fail("%s", err);
		c->n_wl++;
	}
	if (c->n_wl == 0)
		st_fail("no workload");
	c->slots = calloc(opt.outstanding, sizeof(*c->slots));
	c->free_slots = calloc(opt.outstanding, sizeof(*c->free_slots));
	if (c->slots == NULL || c->free_slots == NULL)
		st_fail("out of memory");
	for (unsigned i = 0; i < opt.outstanding; i++)
		c->free_slots[c->n_free++] = opt.outstanding - 1 - i;
	for (unsigned k = 0; k < ST_CLASSES; k++) {
		c->rtt[k] = malloc(opt.count * sizeof(uint64_t));
		if (c->rtt[k] == NULL)
			st_fail("out of memory");
	}
	if (opt.times != NULL) {
		c->times = fopen(opt.times, "w");
		if (c->times == NULL)
			st_fail("%s: %s", opt.times, strerror(errno));
	}
	c->rng = st_mix(opt.seed * 1000003u + opt.id);
	c->drawn_seq = UINT32_MAX;
	st_rand_init();
	/* Room for every response in flight (16 bpages each, at most), and
	 * for the requests in the transmit area. */
	c->s = st_open((size_t)opt.outstanding * HC_MAX_BPAGES * HC_BPAGE_SIZE,
		       64u << 20, opt.outstanding + 64);
}

static int cmd_client(void)
{
	struct st_client *c = calloc(1, sizeof(*c));
	uint64_t start, deadline, next_progress;
	unsigned left_rpcs;
	bool stuck = false, ok;
	double secs;

	if (c == NULL)
		st_fail("out of memory");
	st_client_setup(c);
	start = homad_now_ns();
	deadline = start + (uint64_t)opt.timeout_s * 1000000000ull;
	next_progress = start + 10000000000ull;
	while (c->next_seq < opt.count || c->n_free < opt.outstanding) {
		struct pollfd pfd = {.fd = hc_fd(c->s), .events = POLLIN};
		struct hc_msg m;
		uint64_t now = homad_now_ns();
		int n, rc;

		if (now > deadline) {
			stuck = true;
			break;
		}
		if (opt.progress && now > next_progress) {
			fprintf(stderr,
				"stress_test client %u: %" PRIu32
				" sent, %" PRIu64 " ok, %" PRIu64
				" failed, %u in flight\n",
				opt.id, c->next_seq, c->ok, c->failed,
				opt.outstanding - c->n_free);
			next_progress = now + 10000000000ull;
		}
		while (c->next_seq < opt.count && c->n_free > 0)
			if (st_send_next(c) == -EAGAIN)
				break;
		for (n = 0; n < ST_BATCH; n++) {
			rc = hc_recv(c->s, 0, 0, &m);
			if (rc == -EAGAIN)
				break;
			if (rc < 0)
				st_fail("hc_recv: %s", hc_strerror(rc));
			st_complete(c, &m);
		}
		if (n > 0 || (hc_ready(c->s) & HC_READY_RECV))
			continue;
		if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
			st_fail("poll: %s", strerror(errno));
		hc_ready(c->s);
	}
	secs = (double)(homad_now_ns() - start) / 1e9;
	if (stuck)
		st_dump_stuck(c);
	left_rpcs = st_wait_no_rpcs(c);
	if (c->times != NULL && fclose(c->times) != 0)
		st_fail("%s: %s", opt.times, strerror(errno));
	printf("client %u: %lu RPCs, %" PRIu64 " ok, %" PRIu64 " failed",
	       opt.id, opt.count, c->ok, c->failed);
	for (int e = 0; e <= ST_MAX_ERRNO; e++)
		if (c->by_errno[e] != 0)
			printf(" %s %" PRIu64, e ? hc_strerror(e) : "other",
			       c->by_errno[e]);
	printf(", %" PRIu64 " mismatched, %u stuck, %u left in homad, "
	       "%.1f s; ",
	       c->mismatched, stuck ? opt.outstanding - c->n_free : 0,
	       left_rpcs, secs);
	st_print_classes(stdout, c->rtt, c->n_rtt);
	printf("\n");
	hc_close(c->s);
	ok = c->ok == opt.count && c->failed == 0 && c->mismatched == 0 &&
	     !stuck && left_rpcs == 0;
	for (unsigned k = 0; k < ST_CLASSES; k++)
		free(c->rtt[k]);
	for (unsigned i = 0; i < c->n_wl; i++)
		workload_free(&c->wl[i]);
	free(c->slots);
	free(c->free_slots);
	free(c);
	return ok ? 0 : 1;
}

/* ---- report ------------------------------------------------------------ */

static int cmd_report(int nfiles, char **files)
{
	uint64_t *rtt[ST_CLASSES];
	size_t n_rtt[ST_CLASSES] = {0}, alloc[ST_CLASSES] = {0};

	memset(rtt, 0, sizeof(rtt));
	if (nfiles == 0)
		st_fail("no files");
	for (int i = 0; i < nfiles; i++) {
		FILE *f = fopen(files[i], "r");
		uint32_t req, resp;
		uint64_t ns;

		if (f == NULL)
			st_fail("%s: %s", files[i], strerror(errno));
		while (fscanf(f, "%" SCNu32 " %" SCNu32 " %" SCNu64 "%*[^\n]",
			      &req, &resp, &ns) == 3) {
			unsigned k = st_class_of(req > resp ? req : resp);

			if (n_rtt[k] == alloc[k]) {
				size_t na = alloc[k] ? alloc[k] * 2 : 4096;
				uint64_t *p = realloc(rtt[k], na * sizeof(*p));

				if (p == NULL)
					st_fail("out of memory");
				rtt[k] = p;
				alloc[k] = na;
			}
			rtt[k][n_rtt[k]++] = ns;
		}
		if (!feof(f))
			st_fail("%s: not REQ RESP RTT_NS lines", files[i]);
		fclose(f);
	}
	st_print_classes(stdout, rtt, n_rtt);
	printf("\n");
	for (unsigned k = 0; k < ST_CLASSES; k++)
		free(rtt[k]);
	return 0;
}

static void st_usage(void)
{
	fprintf(stderr,
		"usage: stress_test server -p PORT --ready FILE --counts FILE\n"
		"       stress_test client --id ID -n COUNT -d ADDR [-d "
		"ADDR..] "
		"-p PORT [--outstanding K]\n"
		"                   [--workloads w3,w4] [--cap BYTES] [--seed "
		"S] "
		"[--timeout SEC]\n"
		"                   [--times FILE] [--progress]\n"
		"       stress_test report FILE...\n"
		"(-s SOCKET: homad's client socket; see the comment at the top "
		"of tests/integration/stress_test.c)\n");
	exit(2);
}

/* A decimal option value in 1..max, or usage. */
static unsigned long st_num(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v == 0 || v > max)
		st_usage();
	return v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"addr", required_argument, NULL, 'd'},
		{"port", required_argument, NULL, 'p'},
		{"socket", required_argument, NULL, 's'},
		{"count", required_argument, NULL, 'n'},
		{"id", required_argument, NULL, 'i'},
		{"ready", required_argument, NULL, 'r'},
		{"counts", required_argument, NULL, 'C'},
		{"times", required_argument, NULL, 'T'},
		{"outstanding", required_argument, NULL, 'o'},
		{"workloads", required_argument, NULL, 'w'},
		{"cap", required_argument, NULL, 'c'},
		{"seed", required_argument, NULL, 'S'},
		{"timeout", required_argument, NULL, 't'},
		{"progress", no_argument, NULL, 'P'},
		{NULL, 0, NULL, 0},
	};
	int c;

	if (argc < 2)
		st_usage();
	opt.cmd = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(opt.cmd, "report") == 0)
		return cmd_report(argc - 2, argv + 2);
	optind = 2;
	while ((c = getopt_long(argc, argv, "d:p:s:n:", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'd':
			if (opt.n_servers == ST_MAX_SERVERS)
				st_usage();
			opt.servers[opt.n_servers++] = optarg;
			break;
		case 'p':
			opt.port = (unsigned)st_num(optarg, 0x7fff);
			break;
		case 's':
			opt.socket_path = optarg;
			break;
		case 'n':
			opt.count = st_num(optarg, ST_MAX_SEQ);
			break;
		case 'i':
			opt.id = (unsigned)st_num(optarg, ST_MAX_CLIENTS - 1);
			break;
		case 'r':
			opt.ready = optarg;
			break;
		case 'C':
			opt.counts = optarg;
			break;
		case 'T':
			opt.times = optarg;
			break;
		case 'o':
			opt.outstanding = (unsigned)st_num(optarg, ST_MAX_OUT);
			break;
		case 'w':
			opt.workloads = optarg;
			break;
		case 'c':
			opt.cap =
				(unsigned)st_num(optarg, HC_MAX_MESSAGE_LENGTH);
			break;
		case 'S':
			opt.seed = st_num(optarg, ~0ul);
			break;
		case 't':
			opt.timeout_s = (unsigned)st_num(optarg, 86400);
			break;
		case 'P':
			opt.progress = true;
			break;
		default:
			st_usage();
		}
	}
	if (optind != argc)
		st_usage();
	if (strcmp(opt.cmd, "server") == 0)
		return cmd_server();
	if (strcmp(opt.cmd, "client") == 0)
		return cmd_client();
	st_usage();
	return 2;
}
