/*
 * homa_sim.c - homa-sim: run a message-size workload (W1-W5) through the
 * simulator (sim.h) and print the slowdown of its RPCs.
 *
 * Every host sends requests with sizes drawn from the workload's CDF
 * (capped at --cap), Poisson arrivals at --load of its link, to a uniformly
 * chosen other host, which answers with 100 bytes.  The slowdown of an RPC
 * is its round trip divided by the best possible one for its request on an
 * idle network (the measured unloaded 100-byte RTT plus size x 8 / link
 * rate).  Output: P50/P99 slowdown per size bucket and for requests under
 * 1500 bytes, and the mean utilisation of the switch's host ports; with
 * --compare, once with priorities on and once with one priority level.
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
};

static void usage(FILE *f)
{
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
		"  -h, --help\n",
		WORKLOADS_DIR);
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
			    bool prio)
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
	if (!prio)
		c->proto.num_priorities = 1;
}

static uint64_t unloaded_rtt(const struct opts *o, bool prio)
{
	struct sim_config c;
	struct sim *s;
	uint64_t rtt;

	sim_base_config(o, &c, prio);
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

static int run(const struct opts *o, const struct cdf *c, bool prio)
{
	static const uint32_t edges[] = {1500, 10000, 100000, 1000000};
	enum { NB = sizeof(edges) / sizeof(edges[0]) };
	struct sim_config cfg;
	struct sim *s;
	uint64_t rtt0 = unloaded_rtt(o, prio);
	double rate, *sd[NB];
	size_t nsd[NB] = {0}, n, failed = 0, notdone = 0;
	uint64_t port_bytes = 0;

	sim_base_config(o, &cfg, prio);
	s = sim_create(&cfg);
	/* Requests per ns per host for the offered load. */
	rate = o->load * o->link_mbps * 1e6 / 8 / c->mean / 1e9;
	for (unsigned h = 0; h < o->hosts; h++) {
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
			(double)r->req_len * 8000.0 / (double)o->link_mbps;
		slow = (double)(r->end_ns - r->start_ns) / ideal;
		while (b + 1 < NB && r->req_len > edges[b])
			b++;
		sd[b][nsd[b]++] = slow;
		if (r->req_len < 1500)
			small[nsmall++] = slow;
	}
	printf("%s, priorities %s: %zu RPCs in %.1f ms at load %.2f on %u "
	       "hosts, %u Mbit/s; unloaded RTT %.2f us; sizes capped at %u "
	       "(mean %.0f B)\n",
	       o->workload, prio ? "on" : "off", n,
	       (double)o->duration_ns / 1e6, o->load, o->hosts, o->link_mbps,
	       (double)rtt0 / 1e3, o->cap, c->mean);
	printf("  %-22s %8s %10s %10s\n", "request size", "count", "P50 slow",
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
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct opts o = {"w4",	   0.8,	    7, 8, 25000, 1000,
			 10000000, 1000000, 0, 1, 40000};
	struct cdf c;
	int ch, rc = 0;

	while ((ch = getopt_long(argc, argv, "w:l:s:n:r:d:t:c:p:u:h", longopts,
				 NULL)) != -1) {
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
	    o.duration_ns == 0) {
		usage(stderr);
		return 2;
	}
	if (cdf_load(&c, o.workload, o.cap) < 0)
		return 1;
	if (o.prio != 0)
		rc |= run(&o, &c, true);
	if (o.prio != 1)
		rc |= run(&o, &c, false);
	free(c.size);
	free(c.p);
	return rc;
}
