/*
 * homa_sim.c - homa-sim: run a message-size workload (W1-W5) through the
 * simulator (sim.h) and print the slowdown of its RPCs.
 *
 * Every host sends requests with sizes drawn from the workload's CDF
 * (capped at --cap), Poisson arrivals at --load of its link, to a uniformly
 * chosen other host, which answers with 100 bytes.  With --incast N, host 0
 * alone sends bursts of N 100-byte requests to N other hosts at once, and
 * the responses have the workload's sizes (Poisson bursts at --load of
 * host 0's downlink): many responses converge on one port.  The slowdown
 * of an RPC is its round trip divided by the best possible one for its
 * message (the larger of request and response) on an idle network (the
 * measured unloaded 100-byte RTT plus size x 8 / link rate).  Output:
 * P50/P99 slowdown per size bucket and for messages under 1500 bytes, the
 * mean utilisation of the switch's host ports, the largest switch queue
 * and the packets dropped (--buffer); --compare runs with priorities on and
 * off, --compare-rtt without and with unsched_from_rtt, --compare-incast
 * without and with the incast optimization.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#ifndef WORKLOADS_DIR
#define WORKLOADS_DIR "contrib/workloads"
#endif

struct cdf {
	uint32_t *size;
	double *p;
	size_t n;
	double mean;
};

struct opts {
	char workload[4096];
	double load;
	uint64_t seed;
	unsigned hosts;
	uint32_t link_mbps;
	uint64_t delay_ns;
	uint64_t duration_ns;
	uint32_t cap;
	uint32_t loss_ppm;
	int prio; /* 1 on, 0 off, 2 both */
	uint32_t unsched;
	int rtt;    /* unsched_from_rtt: 0 off, 1 on, 2 both */
	int incast; /* incast optimization: 0 off, 1 on, 2 both */
	uint32_t incast_threshold, incast_unsched;
	unsigned fanout;     /* --incast N: host 0's burst size; 0: off */
	uint64_t buffer;     /* switch port buffer, bytes; 0: unlimited */
	uint32_t grant_fifo; /* grant_fifo_fraction, per mille */
	uint32_t pacer_fifo; /* pacer_fifo_fraction, per mille */
};

/* One run's switches. */
struct variant {
	bool prio, rtt, incast;
};

static void usage(FILE *f)
{
	struct homa_params def;

	engine_params_default(&def);
	fprintf(f,
		"usage: homa-sim [options]\n"
		"  -w, --workload NAME   w1..w5 (from %s) or a CSV path "
		"[w4]\n"
		"  -l, --load F          offered load per host link, 0..1 "
		"[0.8]\n"
		"  -s, --seed N          random seed [7]\n"
		"  -n, --hosts N         hosts on the switch [8]\n"
		"  -r, --link-mbps N     link rate, Mbit/s [25000]\n"
		"  -d, --delay-ns N      propagation delay per hop [1000]\n"
		"  -t, --duration-ms N   arrivals during N ms [10]\n"
		"  -c, --cap N           message size cap [1000000]\n"
		"  -p, --loss-ppm N      packet loss at the switch, per "
		"million "
		"[0]\n"
		"  -u, --unsched N       unscheduled bytes [40000]\n"
		"      --no-prio         one priority level (Homa's priorities "
		"off)\n"
		"      --compare         run with priorities on, then off\n"
		"      --rtt-unsched     unscheduled bytes from each peer's "
		"RTT (off by default)\n"
		"      --compare-rtt     run without, then with --rtt-unsched\n"
		"  -i, --incast N        host 0 sends bursts of N requests; "
		"the "
		"responses\n"
		"                        have the workload's sizes [0: off]\n"
		"      --no-incast-opt   the incast optimization off (on by "
		"default)\n"
		"      --compare-incast  run without, then with the incast "
		"optimization\n"
		"      --incast-threshold N  live client RPCs beyond which "
		"requests\n"
		"                        ask for incast responses [%u]\n"
		"      --incast-unsched N    unscheduled bytes of such "
		"responses [%u]\n"
		"  -b, --buffer N        switch port buffer, bytes (drops "
		"beyond) [0: none]\n"
		"      --grant-fifo N    protocol.grant_fifo_fraction, per "
		"mille [%u]\n"
		"      --pacer-fifo N    protocol.pacer_fifo_fraction, per "
		"mille [%u]\n"
		"  -h, --help\n",
		WORKLOADS_DIR, def.incast_threshold, def.incast_unsched_bytes,
		def.grant_fifo_fraction, def.pacer_fifo_fraction);
}

static int cdf_load(struct cdf *c, const char *name, uint32_t cap)
{
	char path[4200], line[256];
	FILE *f;
	size_t alloc = 0;
	double prev = 0;

	if (strchr(name, '/') != NULL)
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "%s/%s.csv", WORKLOADS_DIR, name);
	f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "homa-sim: %s: %s\n", path, strerror(errno));
		return -1;
	}
	memset(c, 0, sizeof(*c));
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long sz;
		double p;

		if (sscanf(line, "%lu,%lf", &sz, &p) != 2)
			continue; /* header */
		if (c->n == alloc) {
			alloc = alloc ? 2 * alloc : 256;
			c->size = realloc(c->size, alloc * sizeof(*c->size));
			c->p = realloc(c->p, alloc * sizeof(*c->p));
			if (c->size == NULL || c->p == NULL)
				abort();
		}
		if (sz == 0)
			sz = 1;
		c->size[c->n] = sz > cap ? cap : (uint32_t)sz;
		c->p[c->n] = p;
		c->mean += (p - prev) * c->size[c->n];
		prev = p;
		c->n++;
	}
	fclose(f);
	if (c->n == 0) {
		fprintf(stderr, "homa-sim: %s: no size,cdf rows\n", path);
		return -1;
	}
	return 0;
}

static uint32_t cdf_draw(const struct cdf *c, struct sim *s)
{
	double u = (double)(sim_rand(s) >> 11) / (double)(1ull << 53);

	for (size_t i = 0; i < c->n; i++)
		if (c->p[i] >= u)
			return c->size[i];
	return c->size[c->n - 1];
}

static void sim_base_config(const struct opts *o, struct sim_config *c,
			    const struct variant *v)
{
	sim_config_default(c);
	c->hosts = o->hosts;
	c->link_mbps = o->link_mbps;
	c->delay_ns = o->delay_ns;
	c->seed = o->seed;
	c->loss_ppm = o->loss_ppm;
	c->pool_bytes = 64u << 20;
	c->proto.link_mbps = o->link_mbps;
	c->proto.unsched_bytes = o->unsched;
	c->port_buffer_bytes = o->buffer;
	if (!v->prio)
		c->proto.num_priorities = 1;
	c->proto.unsched_from_rtt = v->rtt;
	c->proto.incast_threshold = v->incast ? o->incast_threshold : 0;
	c->proto.incast_unsched_bytes = o->incast_unsched;
	c->proto.grant_fifo_fraction = o->grant_fifo;
	c->proto.pacer_fifo_fraction = o->pacer_fifo;
}

static uint64_t unloaded_rtt(const struct opts *o, const struct variant *v)
{
	struct sim_config c;
	struct sim *s;
	uint64_t rtt;

	sim_base_config(o, &c, v);
	c.hosts = 2;
	s = sim_create(&c);
	sim_rpc_start(s, 0, 1, 100, 100);
	sim_run_all(s, 1000000000ull);
	rtt = sim_rpc_get(s, 0)->end_ns - sim_rpc_get(s, 0)->start_ns;
	sim_destroy(s);
	return rtt;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return NAN;
	i = (size_t)ceil(q * (double)n) - 1;
	if (i >= n)
		i = n - 1;
	return v[i];
}

/* A random exponential gap (ns) for arrivals at rate per ns. */
static double exp_gap(struct sim *s, double rate)
{
	double u = ((double)(sim_rand(s) >> 11) + 1) / (double)(1ull << 53);

	return -log(u) / rate;
}

/*
 * --incast N: host 0 sends Poisson bursts of N 100-byte requests, one to
 * each of N other hosts, whose responses have the workload's sizes; the
 * bursts load host 0's downlink at o->load.
 */
static void incast_arrivals(const struct opts *o, const struct cdf *c,
			    struct sim *s)
{
	double rate =
		o->load * o->link_mbps * 1e6 / 8 / c->mean / 1e9 / o->fanout;
	double t = 0;
	unsigned next = 0;

	for (;;) {
		t += exp_gap(s, rate);
		if (t >= (double)o->duration_ns)
			break;
		for (unsigned k = 0; k < o->fanout; k++) {
			unsigned dst = 1 + next++ % (o->hosts - 1);

			sim_rpc_at(s, (uint64_t)t, 0, dst, 100, cdf_draw(c, s));
		}
	}
}

static int run(const struct opts *o, const struct cdf *c,
	       const struct variant *v)
{
	static const uint32_t edges[] = {1500, 10000, 100000, 1000000};
	enum { NB = sizeof(edges) / sizeof(edges[0]) };
	struct sim_config cfg;
	struct sim *s;
	uint64_t rtt0 = unloaded_rtt(o, v);
	double rate, *sd[NB];
	size_t nsd[NB] = {0}, n, failed = 0, notdone = 0;
	uint64_t port_bytes = 0, maxq = 0, drops = 0;
	const struct homa_metrics *m;
	uint64_t incast_req = 0, rtt_cuts = 0, resent = 0;
	uint64_t rtt_min = UINT64_MAX, rtt_max = 0;

	sim_base_config(o, &cfg, v);
	s = sim_create(&cfg);
	/* Requests per ns per host for the offered load. */
	rate = o->load * o->link_mbps * 1e6 / 8 / c->mean / 1e9;
	if (o->fanout > 0)
		incast_arrivals(o, c, s);
	for (unsigned h = 0; o->fanout == 0 && h < o->hosts; h++) {
		double t = 0;

		for (;;) {
			double u = ((double)(sim_rand(s) >> 11) + 1) /
				   (double)(1ull << 53);
			unsigned dst;

			t += -log(u) / rate;
			if (t >= (double)o->duration_ns)
				break;
			dst = (h + 1 +
			       (unsigned)(sim_rand(s) % (o->hosts - 1))) %
			      o->hosts;
			sim_rpc_at(s, (uint64_t)t, h, dst, cdf_draw(c, s), 100);
		}
	}
	sim_run_until(s, o->duration_ns);
	for (unsigned h = 0; h < o->hosts; h++)
		port_bytes += sim_port_bytes(s, h);
	sim_run_all(s, 100 * o->duration_ns + 1000000000ull);
	for (unsigned h = 0; h < o->hosts; h++) {
		if (sim_port_max_queue(s, h) > maxq)
			maxq = sim_port_max_queue(s, h);
		drops += sim_port_drops(s, h);
		m = engine_metrics(sim_engine(s, h));
		incast_req += m->incast_requests;
		rtt_cuts += m->rtt_unsched_cuts;
		resent += m->resent_packets;
		for (unsigned k = 0; k < o->hosts; k++) {
			struct homa_peer_info pi;

			if (k == h ||
			    engine_peer_info(sim_engine(s, h), sim_addr(s, k),
					     &pi) < 0 ||
			    pi.rtt_ns == 0)
				continue;
			if (pi.rtt_ns < rtt_min)
				rtt_min = pi.rtt_ns;
			if (pi.rtt_ns > rtt_max)
				rtt_max = pi.rtt_ns;
		}
	}
	n = sim_rpc_count(s);
	for (unsigned b = 0; b < NB; b++) {
		sd[b] = calloc(n + 1, sizeof(double));
		if (sd[b] == NULL)
			abort();
	}
	double *small = calloc(n + 1, sizeof(double));
	size_t nsmall = 0;
	if (small == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		const struct sim_rpc *r = sim_rpc_get(s, i);
		double ideal, slow;
		uint32_t size =
			r->req_len > r->resp_len ? r->req_len : r->resp_len;
		unsigned b = 0;

		if (!r->done) {
			notdone++;
			continue;
		}
		if (r->error != 0 || r->req_bad || r->resp_bad ||
		    r->req_deliveries != 1 || r->resp_deliveries != 1) {
			failed++;
			continue;
		}
		ideal = (double)rtt0 +
			(double)size * 8000.0 / (double)o->link_mbps;
		slow = (double)(r->end_ns - r->start_ns) / ideal;
		while (b + 1 < NB && size > edges[b])
			b++;
		sd[b][nsd[b]++] = slow;
		if (size < 1500)
			small[nsmall++] = slow;
	}
	printf("%s%s, priorities %s, rtt-unsched %s, incast-opt %s: %zu RPCs "
	       "in %.1f ms at load %.2f on %u hosts, %u Mbit/s, %llu ns hops; "
	       "unloaded RTT %.2f us; sizes capped at %u (mean %.0f B)\n",
	       o->workload, o->fanout > 0 ? " incast" : "",
	       v->prio ? "on" : "off", v->rtt ? "on" : "off",
	       v->incast ? "on" : "off", n, (double)o->duration_ns / 1e6,
	       o->load, o->hosts, o->link_mbps, (unsigned long long)o->delay_ns,
	       (double)rtt0 / 1e3, o->cap, c->mean);
	printf("  %-22s %8s %10s %10s\n", "message size", "count", "P50 slow",
	       "P99 slow");
	for (unsigned b = 0; b < NB; b++) {
		char label[64];

		qsort(sd[b], nsd[b], sizeof(double), cmp_double);
		snprintf(label, sizeof(label), "%u .. %u B",
			 b == 0 ? 1 : edges[b - 1] + 1, edges[b]);
		printf("  %-22s %8zu %10.2f %10.2f\n", label, nsd[b],
		       pct(sd[b], nsd[b], 0.5), pct(sd[b], nsd[b], 0.99));
		free(sd[b]);
	}
	qsort(small, nsmall, sizeof(double), cmp_double);
	printf("  %-22s %8zu %10.2f %10.2f\n", "< 1500 B", nsmall,
	       pct(small, nsmall, 0.5), pct(small, nsmall, 0.99));
	free(small);
	printf("  link utilisation (switch->host ports, during arrivals): "
	       "%.1f%%\n",
	       100.0 * (double)port_bytes /
		       ((double)o->link_mbps * 1e6 / 8 *
			((double)o->duration_ns / 1e9) * o->hosts));
	printf("  largest switch queue %llu B; %llu packets dropped; %llu "
	       "retransmitted; %llu messages cut by RTT; %llu incast "
	       "requests\n",
	       (unsigned long long)maxq, (unsigned long long)drops,
	       (unsigned long long)resent, (unsigned long long)rtt_cuts,
	       (unsigned long long)incast_req);
	if (rtt_max > 0)
		printf("  measured peer RTTs %.2f .. %.2f us\n",
		       (double)rtt_min / 1e3, (double)rtt_max / 1e3);
	if (failed > 0 || notdone > 0)
		printf("  %zu RPCs failed, %zu not done\n", failed, notdone);
	sim_destroy(s);
	return failed > 0 || notdone > 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"workload", required_argument, NULL, 'w'},
		{"load", required_argument, NULL, 'l'},
		{"seed", required_argument, NULL, 's'},
		{"hosts", required_argument, NULL, 'n'},
		{"link-mbps", required_argument, NULL, 'r'},
		{"delay-ns", required_argument, NULL, 'd'},
		{"duration-ms", required_argument, NULL, 't'},
		{"cap", required_argument, NULL, 'c'},
		{"loss-ppm", required_argument, NULL, 'p'},
		{"unsched", required_argument, NULL, 'u'},
		{"no-prio", no_argument, NULL, 'P'},
		{"compare", no_argument, NULL, 'C'},
		{"rtt-unsched", no_argument, NULL, 'R'},
		{"compare-rtt", no_argument, NULL, 'T'},
		{"incast", required_argument, NULL, 'i'},
		{"no-incast-opt", no_argument, NULL, 'I'},
		{"compare-incast", no_argument, NULL, 'J'},
		{"incast-threshold", required_argument, NULL, 'H'},
		{"incast-unsched", required_argument, NULL, 'U'},
		{"buffer", required_argument, NULL, 'b'},
		{"grant-fifo", required_argument, NULL, 'G'},
		{"pacer-fifo", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct opts o = {
		.workload = "w4",
		.load = 0.8,
		.seed = 7,
		.hosts = 8,
		.link_mbps = 25000,
		.delay_ns = 1000,
		.duration_ns = 10000000,
		.cap = 1000000,
		.prio = 1,
		.unsched = 40000,
	};
	struct homa_params def;
	struct cdf c;
	int ch, rc = 0;

	/* The engine's defaults, as homad runs. */
	engine_params_default(&def);
	o.rtt = def.unsched_from_rtt ? 1 : 0;
	o.incast = def.incast_threshold > 0 ? 1 : 0;
	o.incast_threshold = def.incast_threshold ? def.incast_threshold : 8;
	o.incast_unsched = def.incast_unsched_bytes;
	o.grant_fifo = def.grant_fifo_fraction;
	o.pacer_fifo = def.pacer_fifo_fraction;

	while ((ch = getopt_long(argc, argv, "w:l:s:n:r:d:t:c:p:u:i:b:h",
				 longopts, NULL)) != -1) {
		switch (ch) {
		case 'w':
			snprintf(o.workload, sizeof(o.workload), "%s", optarg);
			break;
		case 'l':
			o.load = atof(optarg);
			break;
		case 's':
			o.seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			o.hosts = (unsigned)atoi(optarg);
			break;
		case 'r':
			o.link_mbps = (uint32_t)atoi(optarg);
			break;
		case 'd':
			o.delay_ns = strtoull(optarg, NULL, 0);
			break;
		case 't':
			o.duration_ns = strtoull(optarg, NULL, 0) * 1000000;
			break;
		case 'c':
			o.cap = (uint32_t)atoi(optarg);
			break;
		case 'p':
			o.loss_ppm = (uint32_t)atoi(optarg);
			break;
		case 'u':
			o.unsched = (uint32_t)atoi(optarg);
			break;
		case 'P':
			o.prio = 0;
			break;
		case 'C':
			o.prio = 2;
			break;
		case 'R':
			o.rtt = 1;
			break;
		case 'T':
			o.rtt = 2;
			break;
		case 'i':
			o.fanout = (unsigned)atoi(optarg);
			break;
		case 'I':
			o.incast = 0;
			break;
		case 'J':
			o.incast = 2;
			break;
		case 'H':
			o.incast_threshold = (uint32_t)atoi(optarg);
			break;
		case 'U':
			o.incast_unsched = (uint32_t)atoi(optarg);
			break;
		case 'b':
			o.buffer = strtoull(optarg, NULL, 0);
			break;
		case 'G':
			o.grant_fifo = (uint32_t)atoi(optarg);
			break;
		case 'F':
			o.pacer_fifo = (uint32_t)atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || o.hosts < 2 || o.load <= 0 || o.load > 1.5 ||
	    o.link_mbps == 0 || o.cap == 0 || o.cap > HOMA_MAX_MESSAGE_LENGTH ||
	    o.duration_ns == 0 || o.fanout >= o.hosts) {
		usage(stderr);
		return 2;
	}
	if (cdf_load(&c, o.workload, o.cap) < 0)
		return 1;
	/* Every combination asked for: each of prio/rtt/incast is off, on
	 * or both. */
	for (int pr = 1; pr >= 0; pr--)
		for (int rt = 0; rt <= 1; rt++)
			for (int in = 0; in <= 1; in++) {
				struct variant v = {pr, rt, in};

				if ((o.prio != 2 && o.prio != pr) ||
				    (o.rtt != 2 && o.rtt != rt) ||
				    (o.incast != 2 && o.incast != in))
					continue;
				rc |= run(&o, &c, &v);
			}
	free(c.size);
	free(c.p);
	return rc;
}
