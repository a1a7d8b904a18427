/*
 * homactl_util.h - the pure parts of homactl (command lookup, metric names,
 * exposition escaping, HTTP requests), apart so that unit tests can reach
 * them (tests/unit/test_homactl.c).
 */
#ifndef HOMAD_HOMACTL_UTIL_H
#define HOMAD_HOMACTL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* homactl_match: word matches no name, or is a prefix of several. */
#define HOMACTL_MATCH_NONE	-1
#define HOMACTL_MATCH_AMBIGUOUS -2

/*
 * The index of the name in names[0..n) that word is, or that word is the
 * only name starting with; HOMACTL_MATCH_NONE or HOMACTL_MATCH_AMBIGUOUS
 * else.  An empty word matches nothing.
 */
int homactl_match(const char *word, const char *const *names, size_t n);

/*
 * Whether a command-line argument is a negative number ("-1", "-0.5",
 * "-1e3"): a value, not an option.
 */
bool homactl_is_number(const char *arg);

/*
 * Whether the option arg takes the next argument as its value: -s, -t,
 * -i, -c (also at the end of a cluster: -js), --socket, --timeout,
 * --interval, --count, --port, --peer (not in their --name=value form).
 */
bool homactl_takes_value(const char *arg);

/*
 * Text of the Prometheus exposition format: backslash and newline escaped,
 * and in a label value (label true) the double quote.
 */
void homactl_prom_escape(FILE *f, const char *s, bool label);

/*
 * The Prometheus name of homad's counter name into buf[0..len):
 * homad_NAME_total, or homad_NAME for a gauge; an "_ns" part of the name
 * becomes "_seconds" (loop_tick_ns_max: homad_loop_tick_seconds_max_total).
 * Returns whether it did (the value is then to be given in seconds).
 */
bool homactl_prom_name(char *buf, size_t len, const char *name, bool gauge);

/*
 * The name the Linux kernel module's /proc/net/homa_metrics gives the
 * counter name{label_key=label_value} (label_key NULL or "": unlabelled),
 * into buf[0..len): packets_sent{type=DATA} is packets_sent_DATA,
 * packets_received{type=GRANT} packets_rcvd_GRANT, priority_bytes
 * {priority=3} priority3_bytes, priority_packets likewise; homad's own
 * labelled counters become name_value.
 */
void homactl_flat_name(char *buf, size_t len, const char *name,
		       const char *label_key, const char *label_value);

/* What an HTTP request asks of `homactl metrics --http`. */
enum homactl_http {
	HOMACTL_HTTP_METRICS,	  /* GET /metrics: 200 with the metrics */
	HOMACTL_HTTP_HEAD,	  /* HEAD /metrics: 200, headers only */
	HOMACTL_HTTP_NOT_FOUND,	  /* another path: 404 */
	HOMACTL_HTTP_BAD_METHOD,  /* another method: 405 */
	HOMACTL_HTTP_BAD_REQUEST, /* not an HTTP/1.x request line: 400 */
	HOMACTL_HTTP_BAD_VERSION, /* HTTP/2 or later: 505 */
};

/*
 * Classify an HTTP request line (without its CRLF), e.g.
 * "GET /metrics HTTP/1.1".  "/" and "/metrics" (with or without a query
 * string) are the metrics.
 */
enum homactl_http homactl_http_classify(const char *line);

#endif /* HOMAD_HOMACTL_UTIL_H */
