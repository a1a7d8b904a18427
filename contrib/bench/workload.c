/*
 * workload.c - message sizes for homa-bench: a fixed size, or a size CDF
 * (the W1-W5 workloads of the Homa papers, contrib/workloads/wN.csv, or any
 * CSV of size_bytes,cdf rows), capped at a largest size.
 */
#include <config.h>

#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef WORKLOADS_INSTALLED
#define WORKLOADS_INSTALLED "/usr/local/share/homad/workloads"
#endif

/* Rows of a CSV at most: the shipped ones have under 1,000. */
#define WORKLOAD_MAX_ROWS 100000

/* Parse a decimal size 1..BENCH_MAX_MESSAGE; returns 0 if s is not one. */
static uint32_t workload_parse_size(const char *s)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > BENCH_MAX_MESSAGE)
		return 0;
	return (uint32_t)v;
}

/* Read the CSV at path into w (rows only); -errno with err set. */
static int workload_read_csv(struct workload *w, const char *path, char *err,
			     size_t errlen)
{
	char line[256];
	FILE *f;
	size_t lineno = 0;
	int rc = 0;

	f = fopen(path, "r");
	if (f == NULL) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long size;
		double cdf;
		char *p = line, *end;

		lineno++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || *p == '\0' ||
		    strncmp(p, "size_bytes", 10) == 0)
			continue;
		errno = 0;
		size = strtoul(p, &end, 10);
		if (errno != 0 || end == p || *end != ',' || size == 0 ||
		    size > 0xffffffffUL)
			goto bad;
		p = end + 1;
		cdf = strtod(p, &end);
		if (end == p || !(cdf > 0.0 && cdf <= 1.0 + 1e-9))
			goto bad;
		while (*end == ' ' || *end == '\t' || *end == '\r' ||
		       *end == '\n')
			end++;
		if (*end != '\0')
			goto bad;
		if (w->n > 0 &&
		    (size <= w->sizes[w->n - 1] || cdf < w->cdf[w->n - 1])) {
			snprintf(err, errlen,
				 "%s:%zu: sizes and cdf must increase", path,
				 lineno);
			rc = -EINVAL;
			goto out;
		}
		if (w->n == WORKLOAD_MAX_ROWS) {
			snprintf(err, errlen, "%s:%zu: more than %d rows", path,
				 lineno, WORKLOAD_MAX_ROWS);
			rc = -E2BIG;
			goto out;
		}
		if (w->n % 256 == 0) {
			uint32_t *ns =
				realloc(w->sizes, (w->n + 256) * sizeof(*ns));
			double *nc;

			if (ns == NULL) {
				rc = -ENOMEM;
				goto nomem;
			}
			w->sizes = ns;
			nc = realloc(w->cdf, (w->n + 256) * sizeof(*nc));
			if (nc == NULL) {
				rc = -ENOMEM;
				goto nomem;
			}
			w->cdf = nc;
		}
		w->sizes[w->n] = (uint32_t)size;
		w->cdf[w->n] = cdf;
		w->n++;
	}
	if (w->n == 0) {
		snprintf(err, errlen, "%s: no size_bytes,cdf rows", path);
		rc = -EINVAL;
	} else if (w->cdf[w->n - 1] < 1.0 - 1e-6) {
		snprintf(err, errlen, "%s: the last cdf is %g, not 1", path,
			 w->cdf[w->n - 1]);
		rc = -EINVAL;
	} else {
		w->cdf[w->n - 1] = 1.0;
	}
	goto out;
bad:
	snprintf(err, errlen, "%s:%zu: not a size_bytes,cdf row", path, lineno);
	rc = -EINVAL;
	goto out;
nomem:
	snprintf(err, errlen, "%s: out of memory", path);
out:
	fclose(f);
	return rc;
}

int workload_load(struct workload *w, const char *spec, uint32_t cap, char *err,
		  size_t errlen)
{
	/* $HOMA_WORKLOADS (a source tree's contrib/workloads: compare sets
	 * it), then where `make install` put them. */
	const char *env = getenv("HOMA_WORKLOADS");
	const char *dirs[2];
	size_t ndirs = 0;
	char path[4096];
	const char *file = spec;
	double prev = 0.0;
	int rc;

	memset(w, 0, sizeof(*w));
	w->cap = cap;
	snprintf(w->name, sizeof(w->name), "%s", spec);
	w->fixed = workload_parse_size(spec);
	if (w->fixed != 0) {
		if (w->fixed > cap)
			w->fixed = cap;
		w->mean = w->fixed;
		return 0;
	}
	if (strchr(spec, '/') == NULL && strchr(spec, '.') == NULL) {
		size_t i;

		if (env != NULL && env[0] != '\0')
			dirs[ndirs++] = env;
		dirs[ndirs++] = WORKLOADS_INSTALLED;
		file = NULL;
		for (i = 0; i < ndirs; i++) {
			FILE *f;

			snprintf(path, sizeof(path), "%s/%s.csv", dirs[i],
				 spec);
			f = fopen(path, "r");
			if (f != NULL) {
				fclose(f);
				file = path;
				break;
			}
		}
		if (file == NULL) {
			snprintf(err, errlen,
				 "workload \"%s\": not a size, and no %s.csv "
				 "in %s%s%s",
				 spec, spec, ndirs > 1 ? env : "",
				 ndirs > 1 ? " (HOMA_WORKLOADS) or " : "",
				 WORKLOADS_INSTALLED);
			return -ENOENT;
		}
	}
	rc = workload_read_csv(w, file, err, errlen);
	if (rc < 0) {
		workload_free(w);
		return rc;
	}
	for (size_t i = 0; i < w->n; i++) {
		double p = w->cdf[i] - prev;
		uint32_t sz = w->sizes[i] > cap ? cap : w->sizes[i];

		w->mean += p * sz;
		if (w->sizes[i] > cap)
			w->capped += p;
		prev = w->cdf[i];
	}
	return 0;
}

uint32_t workload_sample(const struct workload *w, double u)
{
	size_t lo = 0, hi;
	uint32_t sz;

	if (w->n == 0)
		return w->fixed;
	/* The first row whose cdf >= u. */
	hi = w->n - 1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (w->cdf[mid] >= u)
			hi = mid;
		else
			lo = mid + 1;
	}
	sz = w->sizes[lo];
	return sz > w->cap ? w->cap : sz;
}

void workload_free(struct workload *w)
{
	if (w == NULL)
		return;
	free(w->sizes);
	free(w->cdf);
	w->sizes = NULL;
	w->cdf = NULL;
	w->n = 0;
}
