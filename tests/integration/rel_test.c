/*
 * rel_test.c - libhomaclient applications for reliability.sh: clients
 * that keep RPCs going while the test breaks things around them, and
 * measure how fast and how well they notice and recover.  Each command
 * prints one line of numbers on stdout when it passes, and the reason on
 * stderr when it does not.
 *
 *   rel_test load -f 4|6 -d ADDR -p PORT -n N --size BYTES --warm MS
 *                 --run CMD --window MS --expect ERRNO[,ERRNO] --within MS
 *       Keeps N echo RPCs of BYTES outstanding to ADDR:PORT for MS (all
 *       must succeed), then runs CMD with system() (e.g. a kill -9 of the
 *       peer's homad, or an nft rule that makes its host silent): that
 *       moment is the trigger.  For --window MS after it, every failure is
 *       replaced by a new request; then the rest must end.  Every RPC must
 *       end (no hang: nothing for 5 s is a failure); those sent after the
 *       trigger must all fail, each with one of the ERRNOs, at most
 *       --within MS after the trigger (or after its send, if later).
 *       Prints the failures' count, max, P99 and median.
 *   rel_test reconnect -f 4|6 -d ADDR -p PORT --size BYTES --seconds S
 *                      --ready FILE --within MS [--expect ERRNO,...]
 *       A long-running client: one echo RPC after the other; on any
 *       error (a call's or an RPC's) it closes its handle and opens a new
 *       one (retrying every 10 ms while homad is away).  FILE is written
 *       after the first success.  Passes if every error was one of the
 *       ERRNOs (default ECONNRESET,ESHUTDOWN), every outage (first error
 *       to the next success) was shorter than --within MS, and RPCs
 *       succeeded after the last outage.  Prints RPCs done, errors by
 *       errno, outages and the longest one.
 *   rel_test echoload -f 4|6 -d ADDR -p PORT --size BYTES -n CONC
 *                     --seconds S [--min-rpcs N]
 *       CONC echo RPCs outstanding for S seconds, each response checked
 *       byte-exact; any failure fails the command, as do fewer than N
 *       completions.  Prints completions, rate, median and P99 latency.
 *
 * homad's client socket: -s PATH, else $HOMA_SOCKET.  Exit 0 pass,
 * 1 fail, 2 usage.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "homa/client.h"

#define REL_MAX_OUT	   1024	  /* outstanding RPCs of load, echoload */
#define REL_MAX_SAMPLES	   200000 /* latencies kept */
#define REL_HANG_MS	   5000	  /* an RPC silent this long: a hang */
#define REL_MAX_EXPECT	   8
#define REL_REOPEN_WAIT_MS 10

static struct {
	const char *cmd;
	int family;
	const char *addr, *socket_path, *ready, *run;
	unsigned port;
	unsigned long count, size, warm_ms, window_ms, within_ms, min_rpcs;
	double seconds;
	int expect[REL_MAX_EXPECT];
	unsigned n_expect;
} opt = {.family = AF_INET, .count = 1, .size = 1000, .within_ms = 1000};

static void rel_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));

static void rel_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rel_test %s: ", opt.cmd ? opt.cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void rel_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static const struct {
	int err;
	const char *name;
} rel_errnames[] = {
	{EAGAIN, "EAGAIN"},
	{EINVAL, "EINVAL"},
	{ENOTCONN, "ENOTCONN"},
	{EPROTONOSUPPORT, "EPROTONOSUPPORT"},
	{ESHUTDOWN, "ESHUTDOWN"},
	{ECONNRESET, "ECONNRESET"},
	{ECONNREFUSED, "ECONNREFUSED"},
	{ENOENT, "ENOENT"},
	{ETIMEDOUT, "ETIMEDOUT"},
	{EHOSTUNREACH, "EHOSTUNREACH"},
	{ENETUNREACH, "ENETUNREACH"},
	{ECANCELED, "ECANCELED"},
	{EPIPE, "EPIPE"},
	{EIO, "EIO"},
	{ENOBUFS, "ENOBUFS"},
	{ENOMEM, "ENOMEM"},
};

static const char *rel_errname(int err)
{
	static char buf[32];

	if (err < 0)
		err = -err;
	for (size_t i = 0; i < sizeof(rel_errnames) / sizeof(rel_errnames[0]);
	     i++)
		if (rel_errnames[i].err == err)
			return rel_errnames[i].name;
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

/* "A,B,..." of names or numbers into opt.expect. */
static void rel_parse_expect(const char *list)
{
	char *copy = strdup(list), *save = NULL, *tok;

	opt.n_expect = 0;
	for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int e = 0;
		char *end;
		long v = strtol(tok, &end, 0);

		if (*end == '\0' && v > 0 && v < 4096)
			e = (int)v;
		for (size_t i = 0;
		     e == 0 &&
		     i < sizeof(rel_errnames) / sizeof(rel_errnames[0]);
		     i++)
			if (strcmp(rel_errnames[i].name, tok) == 0)
				e = rel_errnames[i].err;
		if (e == 0 || opt.n_expect == REL_MAX_EXPECT) {
			fprintf(stderr, "rel_test: bad --expect %s\n", list);
			exit(2);
		}
		opt.expect[opt.n_expect++] = e;
	}
	free(copy);
}

static bool rel_expected(int err)
{
	if (err < 0)
		err = -err;
	for (unsigned i = 0; i < opt.n_expect; i++)
		if (opt.expect[i] == err)
			return true;
	return false;
}

/* Latency samples (ms) and their order statistics. */
struct rel_samples {
	double *v;
	size_t n;
};

static void rel_sample(struct rel_samples *s, double ms)
{
	if (s->v == NULL) {
		s->v = calloc(REL_MAX_SAMPLES, sizeof(double));
		if (s->v == NULL)
			rel_fail("out of memory");
	}
	if (s->n < REL_MAX_SAMPLES)
		s->v[s->n++] = ms;
}

static int rel_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of s (sorts it); 0 when empty. */
static double rel_quantile(struct rel_samples *s, double q)
{
	size_t i;

	if (s->n == 0)
		return 0;
	qsort(s->v, s->n, sizeof(double), rel_cmp_double);
	i = (size_t)(q * (double)(s->n - 1) + 0.5);
	return s->v[i];
}

static int rel_open(struct hc_sock **out)
{
	struct hc_options o;

	hc_options_init(&o);
	o.socket_path = opt.socket_path;
	o.rx_pool_bytes = 16u << 20;
	o.tx_area_bytes = 16u << 20;
	return hc_open(out, opt.family, &o);
}

static struct hc_sock *rel_open_or_fail(void)
{
	struct hc_sock *s;
	char err[256];
	int rc = rel_open(&s);

	if (rc < 0)
		rel_fail("hc_open: %s (%s)", hc_strerror(rc),
			 hc_last_error(NULL, err, sizeof(err)));
	return s;
}

static socklen_t rel_addr(struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (opt.addr == NULL)
		rel_fail("no address (-d)");
	if (opt.family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)opt.port);
		if (inet_pton(AF_INET, opt.addr, &in->sin_addr) != 1)
			rel_fail("%s: not an IPv4 address", opt.addr);
		return sizeof(*in);
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons((uint16_t)opt.port);
	if (inet_pton(AF_INET6, opt.addr, &in6->sin6_addr) != 1)
		rel_fail("%s: not an IPv6 address", opt.addr);
	return sizeof(*in6);
}

static uint8_t rel_pattern(uint64_t seed, size_t i)
{
	return (uint8_t)(seed * 31u + i * 7u + (i >> 9));
}

/* The request of seed, opt.size bytes (one shared buffer per seed % 256). */
static const uint8_t *rel_request(uint64_t seed)
{
	static uint8_t *buf;
	static uint64_t built = UINT64_MAX;

	if (buf == NULL) {
		buf = malloc(opt.size);
		if (buf == NULL)
			rel_fail("out of memory");
	}
	if (built != seed % 256) {
		built = seed % 256;
		for (size_t i = 0; i < opt.size; i++)
			buf[i] = rel_pattern(built, i);
	}
	return buf;
}

/* An echo response of seed: right length and bytes?  NULL or why. */
static const char *rel_check_echo(struct hc_sock *s, const struct hc_msg *m,
				  uint64_t seed)
{
	static uint8_t *buf;

	if (buf == NULL) {
		buf = malloc(HC_MAX_MESSAGE_LENGTH);
		if (buf == NULL)
			rel_fail("out of memory");
	}
	if (m->length != opt.size)
		return "wrong length";
	if (hc_msg_read(s, m, 0, buf, m->length) != m->length)
		return "short read";
	for (size_t i = 0; i < m->length; i++)
		if (buf[i] != rel_pattern(seed % 256, i))
			return "wrong bytes";
	return NULL;
}

/* ---- load: RPCs outstanding while the peer goes away ----------------- */

struct rel_slot {
	bool busy;
	uint64_t sent_ns;
	uint64_t seed;
};

static int rel_send_slot(struct hc_sock *s, const struct sockaddr_storage *d,
			 socklen_t dlen, struct rel_slot *slots, unsigned i,
			 uint64_t seed)
{
	int rc = hc_send_request(s, (const struct sockaddr *)d, dlen,
				 rel_request(seed), opt.size, i, 0, NULL);

	if (rc == 0) {
		slots[i].busy = true;
		slots[i].sent_ns = homad_now_ns();
		slots[i].seed = seed;
	}
	return rc;
}

static int rel_load(void)
{
	static struct rel_slot slots[REL_MAX_OUT];
	struct rel_samples lat = {0};
	struct sockaddr_storage d;
	socklen_t dlen = rel_addr(&d);
	struct hc_sock *s = rel_open_or_fail();
	uint64_t seed = 1, t0, trig = 0, last_event;
	unsigned long warm_ok = 0, in_flight_ok = 0, failed = 0, wrong = 0,
		      late_ok = 0, send_fail = 0;
	unsigned out = 0, n = (unsigned)opt.count;
	int first_wrong = 0;
	bool triggered = false;
	struct hc_msg m;
	int rc;

	if (n == 0 || n > REL_MAX_OUT || opt.run == NULL || opt.n_expect == 0)
		rel_fail("needs -n 1..%d, --run and --expect", REL_MAX_OUT);
	for (unsigned i = 0; i < n; i++) {
		rc = rel_send_slot(s, &d, dlen, slots, i, seed++);
		if (rc < 0)
			rel_fail("send: %s", hc_strerror(rc));
		out++;
	}
	t0 = homad_now_ns();
	last_event = t0;
	while (out > 0) {
		uint64_t now = homad_now_ns();
		struct rel_slot *sl;
		bool resend = false;

		if (!triggered && now - t0 >= opt.warm_ms * 1000000ull) {
			rc = system(opt.run);
			if (rc != 0)
				rel_fail("%s: exit status %d", opt.run, rc);
			trig = homad_now_ns();
			triggered = true;
		}
		rc = hc_recv(s, 0, 100, &m);
		now = homad_now_ns();
		if (rc == -EAGAIN) {
			if (now - last_event > REL_HANG_MS * 1000000ull)
				rel_fail("%u RPCs hang: nothing for %d ms "
					 "(%lu failed so far)",
					 out, REL_HANG_MS, failed);
			continue;
		}
		if (rc < 0)
			rel_fail("hc_recv: %s", hc_strerror(rc));
		last_event = now;
		if (m.cookie >= n || !slots[m.cookie].busy)
			rel_fail("unexpected cookie %" PRIu64, m.cookie);
		sl = &slots[m.cookie];
		sl->busy = false;
		out--;
		if (m.error == 0) {
			const char *why = rel_check_echo(s, &m, sl->seed);

			hc_recycle(s, &m);
			if (why)
				rel_fail("echo of RPC %" PRIu64 ": %s", m.id,
					 why);
			if (!triggered) {
				warm_ok++;
				resend = true;
			} else if (sl->sent_ns < trig) {
				in_flight_ok++;
				resend =
					now - trig < opt.window_ms * 1000000ull;
			} else {
				late_ok++;
			}
		} else {
			uint64_t from = sl->sent_ns > trig ? sl->sent_ns : trig;

			if (!triggered)
				rel_fail("RPC %" PRIu64 " failed before the "
					 "trigger: %s",
					 m.id, rel_errname(m.error));
			failed++;
			rel_sample(&lat, (double)(now - from) / 1e6);
			if (!rel_expected(m.error) && wrong++ == 0)
				first_wrong = m.error;
			resend = now - trig < opt.window_ms * 1000000ull;
		}
		if (resend) {
			rc = rel_send_slot(s, &d, dlen, slots,
					   (unsigned)m.cookie, seed++);
			if (rc == 0)
				out++;
			else if (triggered)
				send_fail++;
			else
				rel_fail("send: %s", hc_strerror(rc));
		}
	}
	hc_close(s);
	if (!triggered)
		rel_fail("all RPCs ended before the trigger");
	if (wrong > 0)
		rel_fail("%lu of %lu failures had errno %s", wrong, failed,
			 rel_errname(first_wrong));
	if (late_ok > 0)
		rel_fail("%lu RPCs sent after the trigger succeeded", late_ok);
	if (failed == 0)
		rel_fail("no RPC failed");
	double max = rel_quantile(&lat, 1.0);
	double p99 = rel_quantile(&lat, 0.99);
	double p50 = rel_quantile(&lat, 0.5);
	if (max > (double)opt.within_ms)
		rel_fail("%lu failures, the slowest %.1f ms after the trigger "
			 "(limit %lu ms; P99 %.1f ms)",
			 failed, max, opt.within_ms, p99);
	printf("%lu echoes before; after: %lu RPCs failed (%s), max %.1f ms, "
	       "P99 %.1f ms, median %.1f ms; %lu in flight completed, "
	       "%lu sends refused\n",
	       warm_ok, failed, rel_errname(opt.expect[0]), max, p99, p50,
	       in_flight_ok, send_fail);
	free(lat.v);
	return 0;
}

/* ---- reconnect: a client that reopens its handle ---------------------- */

struct rel_errs {
	int err[16];
	unsigned long n[16];
	unsigned used;
};

static void rel_err_count(struct rel_errs *e, int err)
{
	if (err < 0)
		err = -err;
	for (unsigned i = 0; i < e->used; i++)
		if (e->err[i] == err) {
			e->n[i]++;
			return;
		}
	if (e->used < 16) {
		e->err[e->used] = err;
		e->n[e->used++] = 1;
	}
}

static int rel_reconnect(void)
{
	struct sockaddr_storage d;
	socklen_t dlen = rel_addr(&d);
	struct hc_sock *s = NULL;
	struct rel_errs errs = {0};
	uint64_t start = homad_now_ns(), end, down_since = 0, longest = 0;
	unsigned long ok = 0, ok_since = 0, outages = 0, opens = 0, bad = 0,
		      seed = 1;
	int first_bad = 0;
	char text[512] = "";
	bool ready = false;

	if (opt.n_expect == 0)
		rel_parse_expect("ECONNRESET,ESHUTDOWN");
	end = start + (uint64_t)(opt.seconds * 1e9);
	while (homad_now_ns() < end) {
		struct hc_msg m;
		int err = 0, rc;

		if (s == NULL) {
			rc = rel_open(&s);
			opens++;
			if (rc < 0) {
				/* homad away: its socket is gone or refuses. */
				s = NULL;
				rel_sleep_ms(REL_REOPEN_WAIT_MS);
				continue;
			}
		}
		rc = hc_send_request(s, (const struct sockaddr *)&d, dlen,
				     rel_request(seed), opt.size, seed,
				     HC_PRIVATE, &m.id);
		if (rc == 0) {
			uint64_t id = m.id;

			rc = hc_recv(s, id, REL_HANG_MS, &m);
			if (rc == -EAGAIN)
				rel_fail("RPC %" PRIu64 " hangs: nothing "
					 "for %d ms",
					 id, REL_HANG_MS);
			if (rc == 0 && m.error != 0)
				err = m.error;
			else if (rc < 0)
				err = -rc;
		} else {
			err = -rc;
		}
		if (err == 0) {
			const char *why = rel_check_echo(s, &m, seed);

			hc_recycle(s, &m);
			if (why)
				rel_fail("echo %lu: %s", seed, why);
			ok++;
			ok_since++;
			seed++;
			if (down_since != 0) {
				uint64_t t = homad_now_ns() - down_since;

				if (t > longest)
					longest = t;
				down_since = 0;
			}
			if (!ready && opt.ready) {
				FILE *f = fopen(opt.ready, "w");

				if (f == NULL || fclose(f) != 0)
					rel_fail("cannot write %s", opt.ready);
				ready = true;
			}
			continue;
		}
		rel_err_count(&errs, err);
		if (!rel_expected(err) && bad++ == 0) {
			first_bad = err;
			hc_last_error(s, text, sizeof(text));
		}
		if (down_since == 0) {
			down_since = homad_now_ns();
			outages++;
			ok_since = 0;
		}
		hc_close(s);
		s = NULL;
	}
	hc_close(s);
	if (bad > 0)
		rel_fail("%lu errors not expected, the first %s (%s)", bad,
			 rel_errname(first_bad), text);
	if (down_since != 0 || ok_since == 0)
		rel_fail("no RPC succeeded after the last outage (%lu ok "
			 "before, %lu opens)",
			 ok, opens);
	if (longest / 1000000u > opt.within_ms)
		rel_fail("an outage lasted %.1f ms (limit %lu ms)",
			 (double)longest / 1e6, opt.within_ms);
	printf("%lu RPCs ok, %lu after the last outage; %lu outages, the "
	       "longest %.1f ms; %lu opens; errors:",
	       ok, ok_since, outages, (double)longest / 1e6, opens);
	for (unsigned i = 0; i < errs.used; i++)
		printf(" %s x%lu", rel_errname(errs.err[i]), errs.n[i]);
	printf("\n");
	return 0;
}

/* ---- echoload: a legitimate client measured --------------------------- */

static int rel_echoload(void)
{
	static struct rel_slot slots[REL_MAX_OUT];
	struct rel_samples lat = {0};
	struct sockaddr_storage d;
	socklen_t dlen = rel_addr(&d);
	struct hc_sock *s = rel_open_or_fail();
	unsigned n = (unsigned)opt.count, out = 0;
	uint64_t seed = 1, start, end, last_event;
	unsigned long done = 0;
	struct hc_msg m;
	int rc;

	if (n == 0 || n > REL_MAX_OUT)
		rel_fail("needs -n 1..%d", REL_MAX_OUT);
	start = homad_now_ns();
	end = start + (uint64_t)(opt.seconds * 1e9);
	last_event = start;
	for (unsigned i = 0; i < n; i++) {
		rc = rel_send_slot(s, &d, dlen, slots, i, seed++);
		if (rc < 0)
			rel_fail("send: %s", hc_strerror(rc));
		out++;
	}
	while (out > 0) {
		uint64_t now;
		struct rel_slot *sl;

		rc = hc_recv(s, 0, 100, &m);
		now = homad_now_ns();
		if (rc == -EAGAIN) {
			if (now - last_event > REL_HANG_MS * 1000000ull)
				rel_fail("%u RPCs without an answer for %d ms "
					 "(%lu done)",
					 out, REL_HANG_MS, done);
			continue;
		}
		if (rc < 0)
			rel_fail("hc_recv: %s", hc_strerror(rc));
		last_event = now;
		if (m.cookie >= n || !slots[m.cookie].busy)
			rel_fail("unexpected cookie %" PRIu64, m.cookie);
		sl = &slots[m.cookie];
		sl->busy = false;
		out--;
		if (m.error != 0)
			rel_fail("RPC %" PRIu64 " failed: %s (%lu done)", m.id,
				 rel_errname(m.error), done);
		const char *why = rel_check_echo(s, &m, sl->seed);

		hc_recycle(s, &m);
		if (why)
			rel_fail("echo of RPC %" PRIu64 ": %s", m.id, why);
		done++;
		rel_sample(&lat, (double)(now - sl->sent_ns) / 1e6);
		if (now < end) {
			rc = rel_send_slot(s, &d, dlen, slots,
					   (unsigned)m.cookie, seed++);
			if (rc < 0)
				rel_fail("send: %s", hc_strerror(rc));
			out++;
		}
	}
	hc_close(s);
	if (done < opt.min_rpcs)
		rel_fail("%lu RPCs completed, fewer than %lu", done,
			 opt.min_rpcs);
	double secs = (double)(homad_now_ns() - start) / 1e9;
	double p99 = rel_quantile(&lat, 0.99);
	double p50 = rel_quantile(&lat, 0.5);
	printf("%lu echoes of %lu bytes in %.1f s (%.0f/s), median %.2f ms, "
	       "P99 %.2f ms, max %.2f ms\n",
	       done, opt.size, secs, (double)done / secs, p50, p99,
	       rel_quantile(&lat, 1.0));
	free(lat.v);
	return 0;
}

/* ---- main ------------------------------------------------------------- */

static void rel_usage(void)
{
	fprintf(stderr, "usage: rel_test load|reconnect|echoload -f 4|6 "
			"-d ADDR -p PORT [options] (see the source)\n");
	exit(2);
}

static unsigned long rel_num(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 0);

	if (*s == '\0' || *end != '\0')
		rel_usage();
	return v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"family", required_argument, NULL, 'f'},
		{"dest", required_argument, NULL, 'd'},
		{"port", required_argument, NULL, 'p'},
		{"count", required_argument, NULL, 'n'},
		{"size", required_argument, NULL, 'Z'},
		{"warm", required_argument, NULL, 'W'},
		{"run", required_argument, NULL, 'X'},
		{"window", required_argument, NULL, 'w'},
		{"expect", required_argument, NULL, 'E'},
		{"within", required_argument, NULL, 'T'},
		{"seconds", required_argument, NULL, 'S'},
		{"ready", required_argument, NULL, 'R'},
		{"min-rpcs", required_argument, NULL, 'M'},
		{NULL, 0, NULL, 0},
	};
	char *end;
	int c;

	if (argc < 2)
		rel_usage();
	opt.cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "s:f:d:p:n:", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 's':
			opt.socket_path = optarg;
			break;
		case 'f':
			opt.family =
				strcmp(optarg, "6") == 0 ? AF_INET6 : AF_INET;
			break;
		case 'd':
			opt.addr = optarg;
			break;
		case 'p':
			opt.port = (unsigned)rel_num(optarg);
			break;
		case 'n':
			opt.count = rel_num(optarg);
			break;
		case 'Z':
			opt.size = rel_num(optarg);
			if (opt.size == 0 || opt.size > HC_MAX_MESSAGE_LENGTH)
				rel_usage();
			break;
		case 'W':
			opt.warm_ms = rel_num(optarg);
			break;
		case 'X':
			opt.run = optarg;
			break;
		case 'w':
			opt.window_ms = rel_num(optarg);
			break;
		case 'E':
			rel_parse_expect(optarg);
			break;
		case 'T':
			opt.within_ms = rel_num(optarg);
			break;
		case 'S':
			opt.seconds = strtod(optarg, &end);
			if (*end != '\0' || !(opt.seconds > 0))
				rel_usage();
			break;
		case 'R':
			opt.ready = optarg;
			break;
		case 'M':
			opt.min_rpcs = rel_num(optarg);
			break;
		default:
			rel_usage();
		}
	}
	if (optind != argc)
		rel_usage();
	if (strcmp(opt.cmd, "load") == 0)
		return rel_load();
	if (strcmp(opt.cmd, "reconnect") == 0)
		return rel_reconnect();
	if (strcmp(opt.cmd, "echoload") == 0)
		return rel_echoload();
	rel_usage();
	return 2;
}
