/*
 * homa_bench.c - homa-bench: the command line, the client's load generator
 * (open loop with Poisson arrivals, or closed loop), the server and the
 * report of saved runs.  The protocols are backends (bench.h: struct
 * bench_proto); everything here is the same for all of them.
 */
#include <config.h>

#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* The backends built in, the default first. */
static const struct bench_proto *const bench_protos[] = {
	&tcp_proto,
#ifdef HAVE_HOMACLIENT
	&homa_proto,
#endif
	&kernel_proto,
};
#define BENCH_NPROTOS (sizeof(bench_protos) / sizeof(bench_protos[0]))

#define BENCH_MAX_SERVERS  64
#define BENCH_MAX_INFLIGHT 100000
/* server --hold: requests held at most. */
#define BENCH_MAX_HELD 10000000

static volatile sig_atomic_t bench_stop;
static volatile sig_atomic_t bench_release; /* server --hold: SIGUSR1 */

static void bench_on_signal(int sig)
{
	if (sig == SIGUSR1)
		bench_release = 1;
	else
		bench_stop = 1;
}

int64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* This process's CPU time (user + system) and context switches so far. */
struct bench_usage {
	double cpu_s;
	uint64_t vcsw, ivcsw;
};

static struct bench_usage bench_usage_now(void)
{
	struct bench_usage u = {0};
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return u;
	u.cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		  (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	u.vcsw = (uint64_t)ru.ru_nvcsw;
	u.ivcsw = (uint64_t)ru.ru_nivcsw;
	return u;
}

/* splitmix64: a small, good generator for sizes, servers and arrivals. */
static uint64_t bench_rng_state;

static uint64_t bench_rand64(void)
{
	uint64_t z = (bench_rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0,1). */
static double bench_uniform(void)
{
	return (double)(bench_rand64() >> 11) * (1.0 / 9007199254740992.0);
}

static void bench_usage(FILE *f)
{
	fprintf(f,
		"usage: homa-bench server [-P PROTO] [-p PORT] [-r "
		"BYTES|echo]\n"
		"                  [--hold N]\n"
		"       homa-bench client -s HOST[,HOST...] [-P PROTO] [-p "
		"PORT]\n"
		"                  [-w WORKLOAD] [--cap BYTES]\n"
		"                  [-l GBPS [-m MAX] | -c OUTSTANDING]\n"
		"                  [-d SECONDS | -n RPCS] [--link-gbps R]\n"
		"                  [--base-rtt USEC] [-o PREFIX] [--seed N] "
		"[-q]\n"
		"       homa-bench report [--base-rtt USEC] [--link-gbps R]\n"
		"                  [-o PREFIX] FILE.rpcs...\n"
		"       homa-bench protocols\n"
#ifdef HAVE_HOMACLIENT
		"       homa-bench scale -s HOST ... (homa-bench scale -h)\n"
#endif
		"\n"
		"  -P, --protocol PROTO   tcp (default), homa or kernel (the "
		"Homa socket\n"
		"                         API: the module, or homad under "
		"homa-run), as\n"
		"                         built: see\n"
		"                         `homa-bench protocols`\n"
		"  -p, --port PORT        server port (default %d)\n"
		"  -r, --response B|echo  server: response bytes (default "
		"100)\n"
		"                         or the request's size\n"
		"      --hold N           server (homa): hold the responses "
		"until\n"
		"                         N requests arrived, print \"held N "
		"requests\",\n"
		"                         answer them all on SIGUSR1 (echo: "
		"the\n"
		"                         request's bytes)\n"
		"  -s, --server HOSTS     client: servers (addresses or "
		"names,\n"
		"                         comma-separated); RPCs go to one at\n"
		"                         random\n"
		"  -w, --workload W       a size in bytes (default 100), "
		"w1..w5,\n"
		"                         or a CSV of size_bytes,cdf rows\n"
		"      --cap BYTES        sizes above become BYTES (default "
		"and\n"
		"                         most %u)\n"
		"  -l, --load GBPS        open loop: Poisson arrivals "
		"offering\n"
		"                         GBPS Gbit/s of requests\n"
		"  -m, --max-outstanding N  open loop: RPCs in flight at most\n"
		"                         (default 1000)\n"
		"  -c, --outstanding N    closed loop: N RPCs always in "
		"flight\n"
		"                         (default: closed loop, 1)\n"
		"  -d, --duration S       measure S seconds (default 10)\n"
		"  -n, --count N          measure N RPCs instead\n"
		"      --link-gbps R      bottleneck rate for slowdown "
		"(default 1)\n"
		"      --base-rtt USEC    unloaded small-message RTT for "
		"slowdown\n"
		"                         (default: measured first, median of\n"
		"                         1000 sequential 100-byte RPCs)\n"
		"  -o, --output PREFIX    write PREFIX.rpcs, PREFIX.slowdown,\n"
		"                         PREFIX.summary\n"
		"      --seed N           random seed (default: from the "
		"clock)\n"
		"  -q, --quiet            no progress lines on stderr\n",
		BENCH_DEFAULT_PORT, BENCH_MAX_MESSAGE);
}

static const struct bench_proto *bench_find_proto(const char *name)
{
	for (size_t i = 0; i < BENCH_NPROTOS; i++)
		if (strcmp(bench_protos[i]->name, name) == 0)
			return bench_protos[i];
	return NULL;
}

/* Parse an unsigned decimal in [lo, hi]; -1 if it is not one. */
static long long bench_parse_u(const char *s, long long lo, long long hi)
{
	char *end;
	long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	return v;
}

/* Parse a positive number; -1 if it is not one. */
static double bench_parse_d(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v > 0) || isinf(v))
		return -1;
	return v;
}

/* Resolve "a,b,c" into servers; returns how many, or -1 (message out). */
static int bench_parse_servers(const char *list, uint16_t port,
			       struct bench_server *out)
{
	char *copy = strdup(list), *save = NULL, *tok;
	char portstr[8];
	int n = 0;

	if (copy == NULL)
		return -1;
	snprintf(portstr, sizeof(portstr), "%u", port);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
		struct addrinfo *ai;
		int rc;

		if (n == BENCH_MAX_SERVERS) {
			fprintf(stderr, "homa-bench: more than %d servers\n",
				BENCH_MAX_SERVERS);
			n = -1;
			break;
		}
		rc = getaddrinfo(tok, portstr, &hints, &ai);
		if (rc != 0) {
			fprintf(stderr, "homa-bench: server %s: %s\n", tok,
				gai_strerror(rc));
			n = -1;
			break;
		}
		memcpy(&out[n].addr, ai->ai_addr, ai->ai_addrlen);
		out[n].addrlen = ai->ai_addrlen;
		snprintf(out[n].name, sizeof(out[n].name), "%s", tok);
		freeaddrinfo(ai);
		n++;
	}
	free(copy);
	return n;
}

/* An RPC in flight: its slot number is its tag. */
struct bench_slot {
	int64_t start;
	uint32_t req;
	bool busy;
};

/* The client's run: what the done callback needs. */
struct bench_run {
	struct bench_slot *slots;
	uint32_t *free_slots; /* stack of free slot numbers */
	uint32_t nfree;
	uint32_t outstanding;
	bool record; /* false while measuring the base RTT */
	struct stats *stats;
	int64_t *base_rtts; /* base-RTT phase: RTTs of its RPCs */
	uint32_t nbase;
	uint32_t nslots;
	int err; /* stops the run: -errno */
};

static void bench_done(void *arg, uint64_t tag, uint32_t resp_len, int err)
{
	struct bench_run *r = arg;
	struct bench_slot *s;
	int64_t rtt;

	if (tag >= r->nslots || !r->slots[tag].busy) {
		r->err = -EPROTO; /* not a tag in flight */
		return;
	}
	s = &r->slots[tag];
	rtt = bench_now_ns() - s->start;
	s->busy = false;
	if (err < 0 && !r->record) {
		r->err = err;
	} else if (err < 0) {
		/* A failed RPC is a result: counted, reported, not timed. */
		r->stats->failed++;
		r->stats->last_error = -err;
	} else if (r->record) {
		if (stats_add(r->stats, s->req, resp_len, (uint64_t)rtt) < 0)
			r->err = -ENOMEM;
	} else {
		r->base_rtts[r->nbase++] = rtt;
	}
	r->free_slots[r->nfree++] = (uint32_t)tag;
	r->outstanding--;
}

/* Start one RPC of req bytes to a random server.  0 or -errno. */
static int bench_start(const struct bench_proto *p, void *c,
		       struct bench_run *r, int nservers, uint32_t req)
{
	uint32_t tag = r->free_slots[--r->nfree];
	int server = nservers > 1 ? (int)(bench_rand64() % nservers) : 0;
	int rc;

	r->slots[tag].start = bench_now_ns();
	r->slots[tag].req = req;
	r->slots[tag].busy = true;
	r->outstanding++;
	rc = p->client_send(c, server, tag, req);
	if (rc < 0) {
		r->slots[tag].busy = false;
		r->free_slots[r->nfree++] = tag;
		r->outstanding--;
	}
	return rc;
}

/*
 * Start the next RPC of workload w: *pending is its size, drawn when 0 and
 * kept when the backend refuses (-EAGAIN: the same size goes next time),
 * cleared once started.  0 or -errno.
 */
static int bench_issue(const struct bench_proto *p, void *c,
		       struct bench_run *r, int nservers,
		       const struct workload *w, uint32_t *pending)
{
	int rc;

	if (*pending == 0)
		*pending = workload_sample(w, bench_uniform());
	rc = bench_start(p, c, r, nservers, *pending);
	if (rc == 0)
		*pending = 0;
	return rc;
}

static int bench_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Client options beyond bench_opts. */
struct bench_client_opts {
	const char *servers;
	const char *workload;
	uint32_t cap;
	double load_gbps;     /* > 0: open loop */
	uint32_t outstanding; /* closed loop */
	double duration_s;
	uint64_t count;
	double link_gbps;
	double base_rtt_us; /* 0: measure */
	const char *output;
	uint64_t seed;
};

#define BENCH_BASE_RPCS 1000
/* Poll at most this long before retrying a send refused with -EAGAIN. */
#define BENCH_RETRY_NS 200000

/* Measure the unloaded RTT of 100-byte RPCs; median in ns, or -errno. */
static int64_t bench_base_rtt(const struct bench_proto *p, void *c,
			      struct bench_run *r, int nservers, char *err,
			      size_t errlen)
{
	int64_t med;

	r->record = false;
	r->base_rtts = calloc(BENCH_BASE_RPCS, sizeof(*r->base_rtts));
	if (r->base_rtts == NULL)
		return -ENOMEM;
	/* The first 10% warm up connections and caches; not counted. */
	for (int i = 0; i < BENCH_BASE_RPCS + BENCH_BASE_RPCS / 10; i++) {
		int rc;

		if (i == BENCH_BASE_RPCS / 10)
			r->nbase = 0;
		while ((rc = bench_start(p, c, r, nservers, 100)) == -EAGAIN) {
			rc = p->client_poll(c, BENCH_RETRY_NS, bench_done, r,
					    err, errlen);
			if (rc < 0)
				return rc;
		}
		if (rc < 0) {
			snprintf(err, errlen, "send: %s", strerror(-rc));
			return rc;
		}
		while (r->outstanding > 0 && !bench_stop && r->err == 0) {
			rc = p->client_poll(c, 100000000, bench_done, r, err,
					    errlen);
			if (rc < 0)
				return rc;
		}
		if (r->err < 0) {
			snprintf(err, errlen, "RPC failed: %s",
				 strerror(-r->err));
			return r->err;
		}
		if (bench_stop)
			return -EINTR;
	}
	qsort(r->base_rtts, r->nbase, sizeof(*r->base_rtts), bench_cmp_i64);
	med = r->base_rtts[(r->nbase - 1) / 2];
	free(r->base_rtts);
	r->base_rtts = NULL;
	r->record = true;
	return med;
}

static int bench_client(const struct bench_proto *p, struct bench_opts *o,
			const struct bench_client_opts *co)
{
	static struct bench_server servers[BENCH_MAX_SERVERS];
	struct workload w;
	struct stats st;
	struct bench_run r = {0};
	char err[512] = "";
	void *c = NULL;
	int nservers, rc = 1, status = 1;
	int64_t t0, tend, next_arrival = 0, next_progress, last_done_t;
	uint64_t issued = 0, delayed = 0, busy = 0, last_rpcs = 0;
	uint32_t pending = 0; /* size drawn for an RPC the backend refused */
	struct bench_usage u0, u1;
	double lambda = 0, base_ns;
	bool open_loop = co->load_gbps > 0;

	nservers = bench_parse_servers(co->servers, o->port, servers);
	if (nservers <= 0)
		return nservers == 0 ? 2 : 1;
	if (workload_load(&w, co->workload, co->cap, err, sizeof(err)) < 0) {
		fprintf(stderr, "homa-bench: %s\n", err);
		return 1;
	}
	o->max_outstanding = open_loop ? o->max_outstanding : co->outstanding;
	stats_init(&st, 20000000);
	snprintf(st.protocol, sizeof(st.protocol), "%s", p->name);
	snprintf(st.workload, sizeof(st.workload), "%s", w.name);
	st.cap = w.cap;
	st.link_gbps = co->link_gbps;
	r.stats = &st;
	r.record = true;
	r.slots = calloc(o->max_outstanding, sizeof(*r.slots));
	r.free_slots = calloc(o->max_outstanding, sizeof(*r.free_slots));
	if (r.slots == NULL || r.free_slots == NULL) {
		fprintf(stderr, "homa-bench: out of memory\n");
		goto out;
	}
	for (uint32_t i = 0; i < o->max_outstanding; i++)
		r.free_slots[r.nfree++] = o->max_outstanding - 1 - i;
	r.nslots = o->max_outstanding;
	if (p->client_open(o, servers, nservers, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "homa-bench: %s\n", err);
		goto out;
	}
	if (co->base_rtt_us > 0) {
		base_ns = co->base_rtt_us * 1000;
	} else {
		int64_t b =
			bench_base_rtt(p, c, &r, nservers, err, sizeof(err));

		if (b < 0) {
			fprintf(stderr, "homa-bench: base RTT: %s\n",
				b == -EINTR ? "interrupted" : err);
			goto out;
		}
		base_ns = (double)b;
	}
	st.base_rtt_ns = base_ns;

	if (open_loop)
		lambda = co->load_gbps / (8.0 * w.mean); /* RPCs per ns */
	if (!o->quiet) {
		fprintf(stderr,
			"homa-bench: %s to %d server(s), workload %s (mean "
			"%.0f B, cap %u B, %.2f%% of draws capped), ",
			p->name, nservers, w.name, w.mean, w.cap,
			w.capped * 100);
		if (open_loop)
			fprintf(stderr,
				"open loop %.3f Gbit/s (%.0f RPCs/s), at most "
				"%u in flight",
				co->load_gbps, lambda * 1e9,
				o->max_outstanding);
		else
			fprintf(stderr, "closed loop, %u in flight",
				co->outstanding);
		fprintf(stderr, ", base RTT %.1f us\n", base_ns / 1000);
	}
	u0 = bench_usage_now();
	t0 = bench_now_ns();
	tend = co->count ? INT64_MAX : t0 + (int64_t)(co->duration_s * 1e9);
	next_progress = t0 + 1000000000;
	if (open_loop)
		next_arrival =
			t0 + (int64_t)(-log(1 - bench_uniform()) / lambda);
	last_done_t = t0;
	while (!bench_stop && r.err == 0) {
		int64_t now = bench_now_ns(), timeout;
		bool issuing =
			now < tend && (co->count == 0 || issued < co->count);

		if (!issuing && r.outstanding == 0)
			break;
		if (!issuing && now > tend + 5000000000LL && co->count == 0) {
			fprintf(stderr,
				"homa-bench: %u RPCs still in flight 5 s "
				"after the end; abandoned\n",
				r.outstanding);
			break;
		}
		if (issuing && open_loop) {
			while (next_arrival <= now && r.nfree > 0 &&
			       (co->count == 0 || issued < co->count)) {
				rc = bench_issue(p, c, &r, nservers, &w,
						 &pending);
				if (rc == -EAGAIN) {
					busy++;
					break;
				}
				if (rc < 0)
					goto send_failed;
				issued++;
				next_arrival +=
					(int64_t)(-log(1 - bench_uniform()) /
						  lambda);
			}
			if (next_arrival <= now && r.nfree == 0)
				delayed++;
		} else if (issuing) {
			while (r.outstanding < co->outstanding &&
			       (co->count == 0 || issued < co->count)) {
				rc = bench_issue(p, c, &r, nservers, &w,
						 &pending);
				if (rc == -EAGAIN) {
					busy++;
					break;
				}
				if (rc < 0)
					goto send_failed;
				issued++;
			}
		}
		timeout = next_progress - now;
		if (issuing && now + timeout > tend)
			timeout = tend - now;
		if (issuing && open_loop && r.nfree > 0 &&
		    next_arrival - now < timeout)
			timeout = next_arrival - now;
		/* A backend that said "not now" is asked again soon. */
		if (rc == -EAGAIN && timeout > BENCH_RETRY_NS)
			timeout = BENCH_RETRY_NS;
		if (timeout < 0)
			timeout = 0;
		rc = p->client_poll(c, timeout, bench_done, &r, err,
				    sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "homa-bench: %s\n", err);
			goto out;
		}
		if (rc > 0)
			last_done_t = bench_now_ns();
		now = bench_now_ns();
		if (now >= next_progress) {
			if (!o->quiet &&
			    (co->count > 0 || co->duration_s >= 5)) {
				double secs = (double)(now - t0) / 1e9;

				fprintf(stderr,
					"homa-bench: %.0f s: %llu RPCs "
					"(%llu in the last second), %.3f "
					"Gbit/s of requests, %u in flight\n",
					secs, (unsigned long long)st.rpcs,
					(unsigned long long)(st.rpcs -
							     last_rpcs),
					(double)st.req_bytes * 8 / secs / 1e9,
					r.outstanding);
			}
			last_rpcs = st.rpcs;
			next_progress += 1000000000;
		}
	}
	if (r.err < 0) {
		fprintf(stderr, "homa-bench: run stopped: %s\n",
			r.err == -EPROTO ? "a completion for no RPC in flight"
					 : strerror(-r.err));
		goto out;
	}
	st.elapsed_s = (double)(last_done_t - t0) / 1e9;
	u1 = bench_usage_now();
	st.cpu_s = u1.cpu_s - u0.cpu_s;
	st.vcsw = u1.vcsw - u0.vcsw;
	st.ivcsw = u1.ivcsw - u0.ivcsw;
	if (bench_stop)
		printf("interrupted: the report covers the RPCs so far\n");
	if (w.capped > 0)
		printf("note: %.2f%% of %s's sizes exceed the cap and were "
		       "sent as %u bytes\n",
		       w.capped * 100, w.name, w.cap);
	if (open_loop) {
		printf("offered %.3f Gbit/s of requests (open loop, at most "
		       "%u in flight)\n",
		       co->load_gbps, o->max_outstanding);
		if (delayed > 0)
			printf("note: arrivals waited for a free slot %llu "
			       "times: the offered load was not met\n",
			       (unsigned long long)delayed);
	} else {
		printf("closed loop, %u in flight\n", co->outstanding);
	}
	if (busy > 0)
		printf("note: the %s backend refused a send for want of room "
		       "%llu times (retried after polling)\n",
		       p->name, (unsigned long long)busy);
	stats_report(&st);
	if (co->output != NULL &&
	    stats_write(&st, co->output, err, sizeof(err)) < 0) {
		fprintf(stderr, "homa-bench: %s\n", err);
		goto out;
	}
	status = 0;
	goto out;
send_failed:
	fprintf(stderr, "homa-bench: send: %s\n", strerror(-rc));
	rc = 1;
out:
	if (c != NULL)
		p->client_close(c);
	free(r.slots);
	free(r.free_slots);
	free(r.base_rtts);
	stats_free(&st);
	workload_free(&w);
	return status;
}

static int bench_report(int argc, char **argv, double base_rtt_us,
			double link_gbps, const char *output)
{
	struct stats st;
	char err[512];
	int rc = 0;

	stats_init(&st, 200000000);
	for (int i = 0; i < argc; i++) {
		if (stats_read(&st, argv[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "homa-bench: %s\n", err);
			stats_free(&st);
			return 1;
		}
	}
	if (base_rtt_us > 0)
		st.base_rtt_ns = base_rtt_us * 1000;
	if (link_gbps > 0)
		st.link_gbps = link_gbps;
	stats_report(&st);
	if (output != NULL && stats_write(&st, output, err, sizeof(err)) < 0) {
		fprintf(stderr, "homa-bench: %s\n", err);
		rc = 1;
	}
	stats_free(&st);
	return rc;
}

int main(int argc, char **argv)
{
	enum { OPT_CAP = 256, OPT_LINK, OPT_BASE, OPT_SEED, OPT_HOLD };
	static const struct option longopts[] = {
		{"protocol", required_argument, NULL, 'P'},
		{"port", required_argument, NULL, 'p'},
		{"response", required_argument, NULL, 'r'},
		{"server", required_argument, NULL, 's'},
		{"workload", required_argument, NULL, 'w'},
		{"cap", required_argument, NULL, OPT_CAP},
		{"load", required_argument, NULL, 'l'},
		{"max-outstanding", required_argument, NULL, 'm'},
		{"outstanding", required_argument, NULL, 'c'},
		{"duration", required_argument, NULL, 'd'},
		{"count", required_argument, NULL, 'n'},
		{"link-gbps", required_argument, NULL, OPT_LINK},
		{"base-rtt", required_argument, NULL, OPT_BASE},
		{"output", required_argument, NULL, 'o'},
		{"seed", required_argument, NULL, OPT_SEED},
		{"quiet", no_argument, NULL, 'q'},
		{"hold", required_argument, NULL, OPT_HOLD},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct bench_opts o = {.port = BENCH_DEFAULT_PORT,
			       .resp_len = 100,
			       .max_outstanding = 1000};
	struct bench_client_opts co = {.workload = "100",
				       .cap = BENCH_MAX_MESSAGE,
				       .outstanding = 1,
				       .duration_s = 10,
				       .link_gbps = 1};
	const struct bench_proto *p = bench_protos[0];
	struct sigaction sa = {.sa_handler = bench_on_signal};
	const char *mode;
	long long v;
	double d;
	int opt;
	bool seeded = false;

	if (argc >= 2 &&
	    (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		bench_usage(stdout);
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-') {
		bench_usage(stderr);
		return 2;
	}
	mode = argv[1];
#ifdef HAVE_HOMACLIENT
	if (strcmp(mode, "scale") == 0) {
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
		return scale_main(argc - 1, argv + 1, &bench_stop);
	}
#endif
	optind = 2;
	while ((opt = getopt_long(argc, argv, "P:p:r:s:w:l:m:c:d:n:o:qh",
				  longopts, NULL)) != -1) {
		switch (opt) {
		case 'P':
			p = bench_find_proto(optarg);
			if (p == NULL) {
				fprintf(stderr,
					"homa-bench: protocol \"%s\" is not "
					"built in (see homa-bench "
					"protocols)\n",
					optarg);
				return 2;
			}
			break;
		case 'p':
			v = bench_parse_u(optarg, 1, 65535);
			if (v < 0)
				goto bad;
			o.port = (uint16_t)v;
			break;
		case 'r':
			if (strcmp(optarg, "echo") == 0) {
				o.resp_len = 0;
				break;
			}
			v = bench_parse_u(optarg, 1, BENCH_MAX_MESSAGE);
			if (v < 0)
				goto bad;
			o.resp_len = (uint32_t)v;
			break;
		case 's':
			co.servers = optarg;
			break;
		case 'w':
			co.workload = optarg;
			break;
		case OPT_CAP:
			v = bench_parse_u(optarg, 1, BENCH_MAX_MESSAGE);
			if (v < 0)
				goto bad;
			co.cap = (uint32_t)v;
			break;
		case 'l':
			co.load_gbps = bench_parse_d(optarg);
			if (co.load_gbps < 0)
				goto bad;
			break;
		case 'm':
			v = bench_parse_u(optarg, 1, BENCH_MAX_INFLIGHT);
			if (v < 0)
				goto bad;
			o.max_outstanding = (uint32_t)v;
			break;
		case 'c':
			v = bench_parse_u(optarg, 1, BENCH_MAX_INFLIGHT);
			if (v < 0)
				goto bad;
			co.outstanding = (uint32_t)v;
			break;
		case 'd':
			co.duration_s = bench_parse_d(optarg);
			if (co.duration_s < 0)
				goto bad;
			break;
		case 'n':
			v = bench_parse_u(optarg, 1, 1000000000000LL);
			if (v < 0)
				goto bad;
			co.count = (uint64_t)v;
			break;
		case OPT_LINK:
			co.link_gbps = bench_parse_d(optarg);
			if (co.link_gbps < 0)
				goto bad;
			break;
		case OPT_BASE:
			d = bench_parse_d(optarg);
			if (d < 0)
				goto bad;
			co.base_rtt_us = d;
			break;
		case 'o':
			co.output = optarg;
			break;
		case OPT_SEED:
			v = bench_parse_u(optarg, 0, INT64_MAX);
			if (v < 0)
				goto bad;
			co.seed = (uint64_t)v;
			seeded = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case OPT_HOLD:
			v = bench_parse_u(optarg, 1, BENCH_MAX_HELD);
			if (v < 0)
				goto bad;
			o.hold = (uint32_t)v;
			break;
		case 'h':
			bench_usage(stdout);
			return 0;
		default:
			bench_usage(stderr);
			return 2;
		}
	}
	bench_rng_state =
		seeded ? co.seed
		       : (uint64_t)bench_now_ns() ^ ((uint64_t)getpid() << 32);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	o.release = &bench_release;

	if (strcmp(mode, "protocols") == 0) {
		for (size_t i = 0; i < BENCH_NPROTOS; i++)
			printf("%s\n", bench_protos[i]->name);
		return 0;
	}
	if (strcmp(mode, "report") == 0) {
		if (optind >= argc) {
			fprintf(stderr, "homa-bench: report: no .rpcs files\n");
			return 2;
		}
		return bench_report(argc - optind, argv + optind,
				    co.base_rtt_us, co.link_gbps, co.output);
	}
	if (optind < argc) {
		fprintf(stderr, "homa-bench: unexpected argument \"%s\"\n",
			argv[optind]);
		return 2;
	}
	if (strcmp(mode, "server") == 0) {
		char err[512] = "";
		uint64_t requests = 0;
		struct bench_usage u;
		int rc;

		if (o.hold > 0 && strcmp(p->name, "homa") != 0) {
			fprintf(stderr, "homa-bench: --hold: homa servers "
					"only\n");
			return 2;
		}
		if (!o.quiet)
			fprintf(stderr,
				"homa-bench: %s server on port %u, responses "
				"%s\n",
				p->name, o.port,
				o.resp_len ? "fixed" : "echo the size");
		o.requests = &requests;
		rc = p->serve(&o, &bench_stop, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "homa-bench: %s\n", err);
			return 1;
		}
		/* Over the server's whole life, start-up included. */
		u = bench_usage_now();
		printf("server: %llu requests, CPU %.3f s, context switches "
		       "%llu voluntary, %llu involuntary",
		       (unsigned long long)requests, u.cpu_s,
		       (unsigned long long)u.vcsw, (unsigned long long)u.ivcsw);
		if (requests > 0)
			printf(" (per request: CPU %.1f us, %.2f voluntary, "
			       "%.2f involuntary)",
			       u.cpu_s * 1e6 / (double)requests,
			       (double)u.vcsw / (double)requests,
			       (double)u.ivcsw / (double)requests);
		printf("\n");
		return 0;
	}
	if (strcmp(mode, "client") == 0) {
		if (co.servers == NULL) {
			fprintf(stderr, "homa-bench: client: needs -s HOST\n");
			return 2;
		}
		if (co.load_gbps > 0 && co.outstanding != 1) {
			fprintf(stderr, "homa-bench: -l (open loop) and -c "
					"(closed loop) exclude each other\n");
			return 2;
		}
		return bench_client(p, &o, &co);
	}
	fprintf(stderr, "homa-bench: unknown mode \"%s\"\n", mode);
	bench_usage(stderr);
	return 2;
bad:
	for (const struct option *lo = longopts; lo->name != NULL; lo++)
		if (lo->val == opt)
			fprintf(stderr, "homa-bench: --%s: bad value \"%s\"\n",
				lo->name, optarg);
	return 2;
}
