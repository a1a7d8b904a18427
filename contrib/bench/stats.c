/*
 * stats.c - homa-bench's recorder: one record per RPC (sizes and round-trip
 * time), and what is computed from them: throughput, RTT percentiles and
 * slowdown per message-size bucket, the data files for scripts and plots.
 *
 * Slowdown of an RPC = RTT / (base RTT + (request + response) x 8 / link
 * rate), the base RTT being the unloaded small-message RTT (see
 * contrib/workloads/README.md; with small responses the response term is
 * negligible, with echoed responses it keeps the ideal honest).
 */
#include <config.h>

#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds of the printed size buckets, bytes. */
static const uint32_t stats_edges[] = {100,   300,    1000,   3000,   10000,
				       30000, 100000, 300000, 1000000};
#define STATS_NEDGES (sizeof(stats_edges) / sizeof(stats_edges[0]))

/* Messages shorter than this are "short" (one packet at MTU 1500). */
#define STATS_SHORT 1500

/* Buckets per decade of the plotted slowdown curve. */
#define STATS_PLOT_PER_DECADE 8

/* Percentiles of one group of records. */
struct stats_pct {
	size_t n;
	double rtt50, rtt99, rtt999; /* us */
	double slow50, slow99;
	double size50; /* median request size */
};

void stats_init(struct stats *s, size_t max)
{
	memset(s, 0, sizeof(*s));
	s->max = max;
	s->link_gbps = 1.0;
}

int stats_add(struct stats *s, uint32_t req, uint32_t resp, uint64_t rtt)
{
	s->rpcs++;
	s->req_bytes += req;
	s->resp_bytes += resp;
	if (s->n == s->max) {
		s->dropped++;
		return 0;
	}
	if (s->n == s->alloc) {
		size_t na = s->alloc ? s->alloc * 2 : 65536;
		struct stats_rec *nr;

		if (na > s->max)
			na = s->max;
		nr = realloc(s->recs, na * sizeof(*nr));
		if (nr == NULL)
			return -ENOMEM;
		s->recs = nr;
		s->alloc = na;
	}
	s->recs[s->n++] = (struct stats_rec){req, resp, rtt};
	return 0;
}

void stats_free(struct stats *s)
{
	if (s == NULL)
		return;
	free(s->recs);
	s->recs = NULL;
	s->n = s->alloc = 0;
}

static int stats_cmp_rec(const void *a, const void *b)
{
	const struct stats_rec *x = a, *y = b;

	if (x->req != y->req)
		return x->req < y->req ? -1 : 1;
	return (x->rtt > y->rtt) - (x->rtt < y->rtt);
}

static int stats_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile p (0..1) of n sorted values. */
static double stats_rank(const double *v, size_t n, double p)
{
	size_t i = (size_t)ceil(p * (double)n);

	if (i == 0)
		i = 1;
	if (i > n)
		i = n;
	return v[i - 1];
}

static double stats_slowdown(const struct stats *s, const struct stats_rec *r)
{
	double ideal = s->base_rtt_ns +
		       ((double)r->req + r->resp) * 8.0 / s->link_gbps;

	return ideal > 0 ? (double)r->rtt / ideal : 0.0;
}

/* Percentiles of records [lo, hi) (sorted by size).  buf: hi-lo doubles. */
static void stats_group(const struct stats *s, size_t lo, size_t hi,
			double *buf, struct stats_pct *out)
{
	size_t n = hi - lo;

	memset(out, 0, sizeof(*out));
	out->n = n;
	if (n == 0)
		return;
	out->size50 = s->recs[lo + (n - 1) / 2].req;
	for (size_t i = 0; i < n; i++)
		buf[i] = (double)s->recs[lo + i].rtt / 1000.0;
	qsort(buf, n, sizeof(*buf), stats_cmp_double);
	out->rtt50 = stats_rank(buf, n, 0.50);
	out->rtt99 = stats_rank(buf, n, 0.99);
	out->rtt999 = stats_rank(buf, n, 0.999);
	for (size_t i = 0; i < n; i++)
		buf[i] = stats_slowdown(s, &s->recs[lo + i]);
	qsort(buf, n, sizeof(*buf), stats_cmp_double);
	out->slow50 = stats_rank(buf, n, 0.50);
	out->slow99 = stats_rank(buf, n, 0.99);
}

/* First record index with req > size (records sorted by size). */
static size_t stats_upper(const struct stats *s, size_t from, uint64_t size)
{
	size_t lo = from, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->recs[mid].req <= size)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void stats_print_row(const char *label, const struct stats_pct *p)
{
	printf("%-12s %9zu %9.1f %9.1f %9.1f %9.2f %9.2f\n", label, p->n,
	       p->rtt50, p->rtt99, p->rtt999, p->slow50, p->slow99);
}

void stats_report(struct stats *s)
{
	struct stats_pct p;
	double *buf;
	size_t lo = 0;
	char label[32];

	printf("homa-bench: %s, workload %s (sizes capped at %u bytes), "
	       "%.1f s\n",
	       s->protocol, s->workload, s->cap, s->elapsed_s);
	if (s->elapsed_s > 0) {
		printf("%llu RPCs, %.0f RPCs/s; requests %.3f Gbit/s, "
		       "responses %.3f Gbit/s\n",
		       (unsigned long long)s->rpcs,
		       (double)s->rpcs / s->elapsed_s,
		       (double)s->req_bytes * 8 / s->elapsed_s / 1e9,
		       (double)s->resp_bytes * 8 / s->elapsed_s / 1e9);
	}
	if (s->rpcs > 0 && s->cpu_s > 0)
		printf("CPU of homa-bench: %.1f us per RPC\n",
		       s->cpu_s * 1e6 / (double)s->rpcs);
	if (s->rpcs > 0)
		printf("context switches of homa-bench per RPC: %.2f "
		       "voluntary, %.2f involuntary\n",
		       (double)s->vcsw / (double)s->rpcs,
		       (double)s->ivcsw / (double)s->rpcs);
	if (s->failed > 0)
		printf("FAILED: %llu RPCs ended in an error (the last: %s); "
		       "they are not in the figures below\n",
		       (unsigned long long)s->failed,
		       s->last_error ? strerror(s->last_error) : "?");
	if (s->dropped > 0)
		printf("note: %llu RPCs beyond the record limit were counted "
		       "but not recorded\n",
		       (unsigned long long)s->dropped);
	printf("slowdown = RTT / (%.1f us + (request + response) x 8 / "
	       "%g Gbit/s)\n",
	       s->base_rtt_ns / 1000.0, s->link_gbps);
	if (s->n == 0) {
		printf("no RPCs recorded\n");
		return;
	}
	qsort(s->recs, s->n, sizeof(*s->recs), stats_cmp_rec);
	buf = malloc(s->n * sizeof(*buf));
	if (buf == NULL) {
		printf("out of memory for the percentiles\n");
		return;
	}
	printf("%-12s %9s %9s %9s %9s %9s %9s\n", "size (B)", "count",
	       "RTT P50", "P99", "P99.9", "slow P50", "P99");
	stats_group(s, 0, stats_upper(s, 0, STATS_SHORT - 1), buf, &p);
	if (p.n > 0)
		stats_print_row("< 1500", &p);
	for (size_t e = 0; e < STATS_NEDGES && lo < s->n; e++) {
		size_t hi = stats_upper(s, lo, stats_edges[e]);

		if (hi > lo) {
			snprintf(label, sizeof(label), "<= %u", stats_edges[e]);
			stats_group(s, lo, hi, buf, &p);
			stats_print_row(label, &p);
		}
		lo = hi;
	}
	stats_group(s, 0, s->n, buf, &p);
	stats_print_row("all", &p);
	printf("(RTT in microseconds)\n");
	free(buf);
}

/* Write the summary file (stats_report must have sorted the records). */
static int stats_write_summary(struct stats *s, FILE *f, double *buf)
{
	struct stats_pct p;
	size_t lo = 0;

	fprintf(f, "protocol %s\nworkload %s\ncap %u\nelapsed_s %.6f\n",
		s->protocol, s->workload, s->cap, s->elapsed_s);
	fprintf(f, "rpcs %llu\nrecorded %zu\nfailed %llu\n",
		(unsigned long long)s->rpcs, s->n,
		(unsigned long long)s->failed);
	if (s->elapsed_s > 0)
		fprintf(f, "rpcs_per_s %.1f\nreq_gbps %.4f\nresp_gbps %.4f\n",
			(double)s->rpcs / s->elapsed_s,
			(double)s->req_bytes * 8 / s->elapsed_s / 1e9,
			(double)s->resp_bytes * 8 / s->elapsed_s / 1e9);
	if (s->rpcs > 0)
		fprintf(f,
			"cpu_us_per_rpc %.2f\nvcsw_per_rpc %.3f\n"
			"ivcsw_per_rpc %.3f\n",
			s->cpu_s * 1e6 / (double)s->rpcs,
			(double)s->vcsw / (double)s->rpcs,
			(double)s->ivcsw / (double)s->rpcs);
	fprintf(f, "base_rtt_us %.2f\nlink_gbps %g\n", s->base_rtt_ns / 1000,
		s->link_gbps);
	stats_group(s, 0, stats_upper(s, 0, STATS_SHORT - 1), buf, &p);
	fprintf(f,
		"short_count %zu\nshort_p50_us %.2f\nshort_p99_us %.2f\n"
		"short_p999_us %.2f\nshort_slow_p50 %.3f\nshort_slow_p99 "
		"%.3f\n",
		p.n, p.rtt50, p.rtt99, p.rtt999, p.slow50, p.slow99);
	stats_group(s, 0, s->n, buf, &p);
	fprintf(f,
		"all_p50_us %.2f\nall_p99_us %.2f\nall_p999_us %.2f\n"
		"all_slow_p50 %.3f\nall_slow_p99 %.3f\n",
		p.rtt50, p.rtt99, p.rtt999, p.slow50, p.slow99);
	fprintf(f, "# bucket upper_bytes count p50_us p99_us p999_us "
		   "slow_p50 slow_p99\n");
	for (size_t e = 0; e < STATS_NEDGES && lo < s->n; e++) {
		size_t hi = stats_upper(s, lo, stats_edges[e]);

		if (hi > lo) {
			stats_group(s, lo, hi, buf, &p);
			fprintf(f, "bucket %u %zu %.2f %.2f %.2f %.3f %.3f\n",
				stats_edges[e], p.n, p.rtt50, p.rtt99, p.rtt999,
				p.slow50, p.slow99);
		}
		lo = hi;
	}
	return ferror(f) ? -EIO : 0;
}

/* The plotted curve: log-spaced buckets, median size and slowdowns. */
static int stats_write_slowdown(struct stats *s, FILE *f, double *buf)
{
	struct stats_pct p;
	size_t lo = 0;

	fprintf(f, "# homa-bench %s %s: size bucket slowdown\n", s->protocol,
		s->workload);
	fprintf(f, "# upper_bytes median_bytes count slow_p50 slow_p99 "
		   "rtt_p50_us rtt_p99_us\n");
	for (int k = 0; lo < s->n; k++) {
		uint64_t edge = (uint64_t)floor(
			pow(10.0, (double)(k + 1) / STATS_PLOT_PER_DECADE));
		size_t hi = stats_upper(s, lo, edge);

		if (hi > lo) {
			stats_group(s, lo, hi, buf, &p);
			fprintf(f, "%llu %.0f %zu %.3f %.3f %.2f %.2f\n",
				(unsigned long long)edge, p.size50, p.n,
				p.slow50, p.slow99, p.rtt50, p.rtt99);
		}
		lo = hi;
	}
	return ferror(f) ? -EIO : 0;
}

/* Open PREFIX.EXT for writing, or set err. */
static FILE *stats_open(const char *prefix, const char *ext, char *path,
			size_t pathlen, char *err, size_t errlen)
{
	FILE *f;

	snprintf(path, pathlen, "%s.%s", prefix, ext);
	f = fopen(path, "w");
	if (f == NULL)
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	return f;
}

int stats_write(struct stats *s, const char *prefix, char *err, size_t errlen)
{
	char path[4096];
	double *buf = NULL;
	FILE *f;
	int rc = 0;

	qsort(s->recs, s->n, sizeof(*s->recs), stats_cmp_rec);
	f = stats_open(prefix, "rpcs", path, sizeof(path), err, errlen);
	if (f == NULL)
		return -EIO;
	fprintf(f, "# homa-bench rpcs: request_bytes response_bytes rtt_ns\n");
	fprintf(f,
		"# protocol %s\n# workload %s\n# cap %u\n# elapsed_s %.6f\n"
		"# base_rtt_ns %.1f\n# link_gbps %g\n# cpu_s %.6f\n"
		"# rpcs %llu\n# req_bytes %llu\n# resp_bytes %llu\n"
		"# failed %llu\n# vcsw %llu\n# ivcsw %llu\n",
		s->protocol, s->workload, s->cap, s->elapsed_s, s->base_rtt_ns,
		s->link_gbps, s->cpu_s, (unsigned long long)s->rpcs,
		(unsigned long long)s->req_bytes,
		(unsigned long long)s->resp_bytes,
		(unsigned long long)s->failed, (unsigned long long)s->vcsw,
		(unsigned long long)s->ivcsw);
	for (size_t i = 0; i < s->n; i++)
		fprintf(f, "%u %u %llu\n", s->recs[i].req, s->recs[i].resp,
			(unsigned long long)s->recs[i].rtt);
	if (fclose(f) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -EIO;
	}
	if (s->n > 0) {
		buf = malloc(s->n * sizeof(*buf));
		if (buf == NULL) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	f = stats_open(prefix, "slowdown", path, sizeof(path), err, errlen);
	if (f == NULL) {
		free(buf);
		return -EIO;
	}
	rc = stats_write_slowdown(s, f, buf);
	if (fclose(f) != 0 || rc < 0) {
		snprintf(err, errlen, "%s: write error", path);
		free(buf);
		return -EIO;
	}
	f = stats_open(prefix, "summary", path, sizeof(path), err, errlen);
	if (f == NULL) {
		free(buf);
		return -EIO;
	}
	rc = stats_write_summary(s, f, buf);
	if (fclose(f) != 0 || rc < 0) {
		snprintf(err, errlen, "%s: write error", path);
		rc = -EIO;
	}
	free(buf);
	return rc;
}

int stats_read(struct stats *s, const char *path, char *err, size_t errlen)
{
	char line[512], key[32], val[128];
	unsigned long long rpcs = 0, reqb = 0, respb = 0;
	uint64_t rpcs0 = s->rpcs, req0 = s->req_bytes, resp0 = s->resp_bytes;
	size_t lineno = 0;
	double d;
	FILE *f;
	int rc = 0;

	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned int req, resp;
		unsigned long long rtt;
		char extra;

		lineno++;
		if (line[0] == '#') {
			if (sscanf(line, "# %31s %127s", key, val) != 2)
				continue;
			d = strtod(val, NULL);
			if (strcmp(key, "protocol") == 0)
				snprintf(s->protocol, sizeof(s->protocol),
					 "%.15s", val);
			else if (strcmp(key, "workload") == 0)
				snprintf(s->workload, sizeof(s->workload),
					 "%.95s", val);
			else if (strcmp(key, "cap") == 0)
				s->cap = (uint32_t)d;
			else if (strcmp(key, "elapsed_s") == 0 &&
				 d > s->elapsed_s)
				s->elapsed_s = d;
			else if (strcmp(key, "base_rtt_ns") == 0 &&
				 s->base_rtt_ns == 0)
				s->base_rtt_ns = d;
			else if (strcmp(key, "link_gbps") == 0 && d > 0)
				s->link_gbps = d;
			else if (strcmp(key, "cpu_s") == 0)
				s->cpu_s += d;
			else if (strcmp(key, "rpcs") == 0)
				rpcs = strtoull(val, NULL, 10);
			else if (strcmp(key, "req_bytes") == 0)
				reqb = strtoull(val, NULL, 10);
			else if (strcmp(key, "resp_bytes") == 0)
				respb = strtoull(val, NULL, 10);
			else if (strcmp(key, "failed") == 0)
				s->failed += strtoull(val, NULL, 10);
			else if (strcmp(key, "vcsw") == 0)
				s->vcsw += strtoull(val, NULL, 10);
			else if (strcmp(key, "ivcsw") == 0)
				s->ivcsw += strtoull(val, NULL, 10);
			continue;
		}
		if (sscanf(line, "%u %u %llu %c", &req, &resp, &rtt, &extra) !=
		    3) {
			snprintf(err, errlen, "%s:%zu: not \"req resp rtt_ns\"",
				 path, lineno);
			rc = -EINVAL;
			break;
		}
		rc = stats_add(s, req, resp, rtt);
		if (rc < 0) {
			snprintf(err, errlen, "%s: out of memory", path);
			break;
		}
	}
	fclose(f);
	if (rc == 0 && rpcs > 0) {
		/* Totals from the header: they include unrecorded RPCs. */
		s->rpcs = rpcs0 + rpcs;
		s->req_bytes = req0 + reqb;
		s->resp_bytes = resp0 + respb;
	}
	return rc;
}
