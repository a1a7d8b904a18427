/*
 * homactl.c - homad's control tool.
 *
 *   homactl [-s SOCKET] [-j] [-t TIMEOUT_MS] COMMAND [ARGS]
 *
 * Sends Requests (proto/homa_ctl.proto) on homad's control socket and
 * prints the Responses.  Options may stand anywhere, before or after the
 * command; a command may be shortened to any unambiguous prefix.  What to
 * print is a table of functions per output format (text, JSON); the text
 * format of `metrics` is the Prometheus / OpenMetrics exposition, and
 * `metrics --http` answers one HTTP request on stdin/stdout with it
 * (systemd/homad-metrics@.service).  homad may be another version than
 * homactl, so every field of the answer is checked before use: a
 * malformed answer is an error (exit 1), never a crash or garbage on the
 * terminal.
 *
 * Exit status: 0 ok, 1 error (cannot connect, homad answered an error, bad
 * answer), 2 usage.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "homa_ctl.pb-c.h"
#include "homactl_util.h"
#include "paths.h"

#define HOMACTL_DEFAULT_TIMEOUT 5000	/* ms */
#define HOMACTL_MAX_TIMEOUT	3600000 /* ms */
#define HOMACTL_MAX_ANSWER	(4u << 20)
#define HOMACTL_MAX_SOCKETS	1024 /* socket descriptions in a Status */
#define HOMACTL_MAX_METRICS	65536
#define HOMACTL_MAX_LIST	65536  /* entries of one listing answer */
#define HOMACTL_MAX_PAGES	100000 /* pages of one `rpcs` or `peers` */
#define HOMACTL_MAX_INTERVAL	86400  /* s, metrics -i */
/* Longest KEY and VALUE of `set` sent (homad refuses longer ones too). */
#define HOMACTL_MAX_SET_KEY   128
#define HOMACTL_MAX_SET_VALUE 256
/* --http: the request's head, and how long to wait for it. */
#define HOMACTL_HTTP_MAX_HEAD 8192
#define HOMACTL_HTTP_TIMEOUT  10000 /* ms */

/* Where answers are printed: stdout, or the HTTP body (--http). */
static FILE *hout;

static _Noreturn void homactl_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* With --http, a failure is a 503 answer rather than a message. */
static bool homactl_http_mode;
static void homactl_http_error(int code, const char *reason, const char *text);

static _Noreturn void homactl_fail(const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (homactl_http_mode) {
		homactl_http_mode = false;
		homactl_http_error(503, "Service Unavailable", text);
	}
	fprintf(stderr, "homactl: %s\n", text);
	exit(1);
}

/* ---- commands -------------------------------------------------------- */

/* Options a command takes besides the common ones. */
#define OPT_PORT     0x1
#define OPT_PEER     0x2
#define OPT_INTERVAL 0x4
#define OPT_HTTP     0x8

struct homactl_cmd {
	const char *name;
	const char *args; /* "" or e.g. "KEY VALUE" */
	int nargs;
	unsigned opts; /* OPT_* */
	const char *help;
};

enum {
	CMD_STATUS,
	CMD_SOCKETS,
	CMD_RPCS,
	CMD_PEERS,
	CMD_METRICS,
	CMD_CONFIG,
	CMD_SET,
	CMD_RELOAD,
	CMD_COUNT,
};

static const struct homactl_cmd homactl_cmds[CMD_COUNT] = {
	[CMD_STATUS] = {"status", "", 0, 0, "homad's state in brief"},
	[CMD_SOCKETS] = {"sockets", "", 0, 0,
			 "every client socket: owner, port, RPCs, pool"},
	[CMD_RPCS] = {"rpcs", "[--port P] [--peer ADDR]", 0,
		      OPT_PORT | OPT_PEER, "every live RPC"},
	[CMD_PEERS] = {"peers", "", 0, 0,
		       "every peer host: RPCs, cutoffs, RTT, acks"},
	[CMD_METRICS] = {"metrics", "[-i SECS [-c N]] [--http]", 0,
			 OPT_INTERVAL | OPT_HTTP,
			 "every counter (Prometheus text; -i: changes like "
			 "nstat)"},
	[CMD_CONFIG] = {"config", "", 0, 0, "the running configuration"},
	[CMD_SET] = {"set", "KEY VALUE", 2, 0,
		     "change a key of homa.conf until the next reload"},
	[CMD_RELOAD] = {"reload", "", 0, 0,
			"reload homa.conf (as SIGHUP) and say how it went"},
};

static void homactl_usage(FILE *f)
{
	fprintf(f,
		"usage: homactl [-s SOCKET] [-j] [-t TIMEOUT_MS] COMMAND "
		"[ARGS]\n"
		"  -s, --socket SOCKET   homad's control socket (default "
		"$HOMAD_SOCKET,\n"
		"                        else %s)\n"
		"  -j, --json            print JSON\n"
		"  -t, --timeout MS      wait at most MS ms for each answer "
		"(default %d)\n"
		"  -h, --help            print this help\n"
		"options go before or after the command; a command may be "
		"shortened\n"
		"to any unambiguous prefix.  Commands:\n",
		HOMA_CONF_DEFAULT_SOCKET, HOMACTL_DEFAULT_TIMEOUT);
	for (size_t i = 0; i < CMD_COUNT; i++)
		fprintf(f, "  %-7s %-26s %s\n", homactl_cmds[i].name,
			homactl_cmds[i].args, homactl_cmds[i].help);
}

/* ---- checking the answer ------------------------------------------------ */

/* A string field: NULL (never sent by protobuf-c) becomes "". */
static const char *homactl_str(const char *s)
{
	return s != NULL ? s : "";
}

/* Print s for a terminal: control characters become '?'. */
static void homactl_put_clean(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)homactl_str(s);
	     *p != '\0'; p++)
		fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, hout);
}

/* A Prometheus metric or label name: [a-zA-Z_][a-zA-Z0-9_]*. */
static bool homactl_name_ok(const char *s)
{
	if (s == NULL || s[0] == '\0' || strlen(s) > 200)
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		bool alpha = (*p >= 'a' && *p <= 'z') ||
			     (*p >= 'A' && *p <= 'Z') || *p == '_';

		if (!alpha && !(p > s && *p >= '0' && *p <= '9'))
			return false;
	}
	return true;
}

static void homactl_check_status(const Homa__Ctl__Status *st)
{
	if (st->n_sockets > HOMACTL_MAX_SOCKETS ||
	    (st->n_sockets > 0 && st->sockets == NULL))
		homactl_fail("bad answer: %zu sockets", st->n_sockets);
	for (size_t i = 0; i < st->n_sockets; i++)
		if (st->sockets[i] == NULL)
			homactl_fail("bad answer: socket %zu has no text", i);
}

static void homactl_check_metrics(const Homa__Ctl__Metrics *m)
{
	if (m->n_metrics > HOMACTL_MAX_METRICS ||
	    (m->n_metrics > 0 && m->metrics == NULL))
		homactl_fail("bad answer: %zu metrics", m->n_metrics);
	for (size_t i = 0; i < m->n_metrics; i++) {
		const Homa__Ctl__Metric *x = m->metrics[i];
		bool has_key, has_value;

		if (x == NULL)
			homactl_fail("bad answer: metric %zu missing", i);
		if (!homactl_name_ok(x->name))
			homactl_fail("bad answer: metric %zu has an invalid "
				     "name",
				     i);
		has_key = homactl_str(x->label_key)[0] != '\0';
		has_value = homactl_str(x->label_value)[0] != '\0';
		if (has_value && !has_key)
			homactl_fail("bad answer: metric %s has a label value "
				     "without a key",
				     x->name);
		if (has_key && !homactl_name_ok(x->label_key))
			homactl_fail("bad answer: metric %s has an invalid "
				     "label name",
				     x->name);
	}
}

/* A repeated field of n entries: present, bounded, no NULL entry. */
static void homactl_check_list(const char *what, size_t n, void *const *v)
{
	if (n > HOMACTL_MAX_LIST || (n > 0 && v == NULL))
		homactl_fail("bad answer: %zu %s", n, what);
	for (size_t i = 0; i < n; i++)
		if (v[i] == NULL)
			homactl_fail("bad answer: %s entry %zu missing", what,
				     i);
}

/* ---- text output ----------------------------------------------------- */

/* "1d 2h 3m 4s", leading zero units left out. */
static void homactl_put_uptime(uint64_t ms)
{
	uint64_t s = ms / 1000;
	uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

	if (d > 0)
		fprintf(hout, "%" PRIu64 "d ", d);
	if (d > 0 || h > 0)
		fprintf(hout, "%" PRIu64 "h ", h);
	if (d > 0 || h > 0 || m > 0)
		fprintf(hout, "%" PRIu64 "m ", m);
	fprintf(hout, "%" PRIu64 "s", s % 60);
}

/* "key:" padded so that the values line up. */
static void homactl_key(const char *key)
{
	fprintf(hout, "%-19s", key);
}

static void homactl_status_text(const Homa__Ctl__Status *st)
{
	homactl_key("version:");
	homactl_put_clean(st->version);
	fprintf(hout, "\n");
	homactl_key("pid:");
	fprintf(hout, "%" PRIu32 "\n", st->pid);
	homactl_key("uptime:");
	homactl_put_uptime(st->uptime_ms);
	fprintf(hout, "\n");
	homactl_key("link:");
	homactl_put_clean(st->link);
	fprintf(hout, "\n");
	if (strcmp(homactl_str(st->link), "udp") == 0) {
		homactl_key("udp port:");
		fprintf(hout, "%" PRIu32 "\n", st->udp_port);
	}
	homactl_key("mtu:");
	fprintf(hout, "%" PRIu32 "\n", st->mtu);
	homactl_key("sockets:");
	if (st->n_sockets == 0)
		fprintf(hout, "none\n");
	for (size_t i = 0; i < st->n_sockets; i++) {
		if (i > 0)
			homactl_key("");
		homactl_put_clean(st->sockets[i]);
		fprintf(hout, "\n");
	}
	homactl_key("config:");
	if (homactl_str(st->config_path)[0] == '\0')
		fprintf(hout, "defaults");
	else
		homactl_put_clean(st->config_path);
	fprintf(hout, "\n");
	homactl_key("log level:");
	homactl_put_clean(st->log_level);
	fprintf(hout, "\n");
	homactl_key("reloads:");
	fprintf(hout, "%" PRIu64 " ok, %" PRIu64 " failed\n", st->reloads_ok,
		st->reloads_failed);
	if (homactl_str(st->last_reload_error)[0] != '\0') {
		homactl_key("last reload error:");
		homactl_put_clean(st->last_reload_error);
		fprintf(hout, "\n");
	}
	homactl_key("packets received:");
	fprintf(hout, "%" PRIu64 "\n", st->packets_received);
	homactl_key("malformed:");
	fprintf(hout, "%" PRIu64 "\n", st->malformed_packets);
	homactl_key("client socket:");
	homactl_put_clean(st->client_socket);
	fprintf(hout, "\n");
	homactl_key("clients:");
	fprintf(hout, "%" PRIu32 " (%" PRIu32 " Homa sockets)\n", st->clients,
		st->homa_sockets);
	homactl_key("rpcs:");
	fprintf(hout,
		"%" PRIu32 " (%" PRIu32 " ended, not yet freed; %" PRIu32
		" waiting for receive buffers)\n",
		st->rpcs, st->dead_rpcs, st->buffer_waits);
	homactl_key("client memory:");
	fprintf(hout, "%" PRIu64 " bytes mapped\n", st->client_memory);
	homactl_key("rx backlog:");
	fprintf(hout,
		"%" PRIu64 " bytes (%" PRIu64 " control; peak %" PRIu64
		"), %" PRIu64 " kernel drops\n",
		st->rx_backlog_bytes, st->rx_ctl_backlog_bytes,
		st->rx_backlog_peak_bytes, st->rx_kernel_drops);
	homactl_key("control:");
	fprintf(hout,
		"%" PRIu64 " bad requests, %" PRIu64 " timed out, %" PRIu64
		" connections refused\n",
		st->ctl_requests_bad, st->ctl_requests_timed_out,
		st->ctl_connections_refused);
}

/*
 * Prometheus text exposition, version 0.0.4 (what `promtool check metrics`
 * and Prometheus' scrapes read): per counter one HELP and one TYPE line
 * naming the family as its samples are named (homad_NAME_total; a gauge
 * homad_NAME), then all its samples, whatever order homad sent them in.
 * Counters homad keeps in nanoseconds (a name with an "_ns" part) are
 * given in seconds, Prometheus' base unit: loop_tick_ns is
 * homad_loop_tick_seconds_total.
 */
static void homactl_metrics_openmetrics(const Homa__Ctl__Metrics *m)
{
	for (size_t i = 0; i < m->n_metrics; i++) {
		const Homa__Ctl__Metric *first = m->metrics[i];
		char family[300];
		bool seen = false, ns;

		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(m->metrics[j]->name, first->name) == 0;
		if (seen)
			continue;
		ns = homactl_prom_name(family, sizeof(family), first->name,
				       first->gauge);
		fprintf(hout, "# HELP %s ", family);
		homactl_prom_escape(hout, first->help, false);
		fprintf(hout, "%s\n# TYPE %s %s\n",
			ns ? " (exported in seconds)" : "", family,
			first->gauge ? "gauge" : "counter");
		for (size_t j = i; j < m->n_metrics; j++) {
			const Homa__Ctl__Metric *x = m->metrics[j];

			if (strcmp(x->name, first->name) != 0)
				continue;
			fputs(family, hout);
			if (homactl_str(x->label_key)[0] != '\0') {
				fprintf(hout, "{%s=\"", x->label_key);
				homactl_prom_escape(hout, x->label_value, true);
				fprintf(hout, "\"}");
			}
			if (ns)
				fprintf(hout, " %" PRIu64 ".%09" PRIu64 "\n",
					x->value / 1000000000u,
					x->value % 1000000000u);
			else
				fprintf(hout, " %" PRIu64 "\n", x->value);
		}
	}
}

/* ---- JSON output ------------------------------------------------------- */

static void homactl_json_print(json_object *o)
{
	fputs(json_object_to_json_string_ext(
		      o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
				 JSON_C_TO_STRING_NOSLASHESCAPE),
	      hout);
	fputc('\n', hout);
	json_object_put(o);
}

static void homactl_json_str(json_object *o, const char *key, const char *s)
{
	json_object_object_add(o, key, json_object_new_string(homactl_str(s)));
}

static void homactl_json_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

/* The Status message as one object, field names as in the .proto. */
static void homactl_status_json(const Homa__Ctl__Status *st)
{
	json_object *o = json_object_new_object();
	json_object *socks = json_object_new_array();

	homactl_json_str(o, "version", st->version);
	homactl_json_u64(o, "pid", st->pid);
	homactl_json_u64(o, "uptime_ms", st->uptime_ms);
	homactl_json_str(o, "link", st->link);
	homactl_json_u64(o, "udp_port", st->udp_port);
	homactl_json_u64(o, "mtu", st->mtu);
	for (size_t i = 0; i < st->n_sockets; i++)
		json_object_array_add(socks,
				      json_object_new_string(st->sockets[i]));
	json_object_object_add(o, "sockets", socks);
	homactl_json_str(o, "config_path", st->config_path);
	homactl_json_str(o, "log_level", st->log_level);
	homactl_json_u64(o, "reloads_ok", st->reloads_ok);
	homactl_json_u64(o, "reloads_failed", st->reloads_failed);
	homactl_json_str(o, "last_reload_error", st->last_reload_error);
	homactl_json_u64(o, "packets_received", st->packets_received);
	homactl_json_u64(o, "malformed_packets", st->malformed_packets);
	homactl_json_str(o, "client_socket", st->client_socket);
	homactl_json_u64(o, "clients", st->clients);
	homactl_json_u64(o, "rpcs", st->rpcs);
	homactl_json_u64(o, "dead_rpcs", st->dead_rpcs);
	homactl_json_u64(o, "homa_sockets", st->homa_sockets);
	homactl_json_u64(o, "client_memory", st->client_memory);
	homactl_json_u64(o, "buffer_waits", st->buffer_waits);
	homactl_json_u64(o, "rx_backlog_bytes", st->rx_backlog_bytes);
	homactl_json_u64(o, "rx_ctl_backlog_bytes", st->rx_ctl_backlog_bytes);
	homactl_json_u64(o, "rx_backlog_peak_bytes", st->rx_backlog_peak_bytes);
	homactl_json_u64(o, "rx_kernel_drops", st->rx_kernel_drops);
	homactl_json_u64(o, "ctl_connections_refused",
			 st->ctl_connections_refused);
	homactl_json_u64(o, "ctl_requests_bad", st->ctl_requests_bad);
	homactl_json_u64(o, "ctl_requests_timed_out",
			 st->ctl_requests_timed_out);
	homactl_json_print(o);
}

/*
 * One object keyed by counter name (without "homad_" and "_total"): an
 * unlabelled counter is a number, a labelled one an object from label
 * value to number, e.g.
 *   {"bytes_received": 1200, "packets_received": {"DATA": 3, "GRANT": 1}}
 * (the label's key is in the text output).  A name both labelled and not
 * is a bad answer.
 */
static void homactl_metrics_json(const Homa__Ctl__Metrics *m)
{
	json_object *o = json_object_new_object();

	for (size_t i = 0; i < m->n_metrics; i++) {
		const Homa__Ctl__Metric *x = m->metrics[i];
		bool labelled = homactl_str(x->label_key)[0] != '\0';
		json_object *have = NULL;

		json_object_object_get_ex(o, x->name, &have);
		if (!labelled) {
			if (have != NULL)
				homactl_fail("bad answer: metric %s sent twice",
					     x->name);
			homactl_json_u64(o, x->name, x->value);
			continue;
		}
		if (have == NULL) {
			have = json_object_new_object();
			json_object_object_add(o, x->name, have);
		} else if (!json_object_is_type(have, json_type_object)) {
			homactl_fail("bad answer: metric %s both labelled and "
				     "not",
				     x->name);
		}
		homactl_json_u64(have, homactl_str(x->label_value), x->value);
	}
	homactl_json_print(o);
}

/* `set`: "key = value" as in homa.conf. */
static void homactl_set_text(const Homa__Ctl__SetResult *r)
{
	homactl_put_clean(r->key);
	fputs(" = ", hout);
	homactl_put_clean(r->value);
	fputc('\n', hout);
}

static void homactl_set_json(const Homa__Ctl__SetResult *r)
{
	json_object *o = json_object_new_object();

	homactl_json_str(o, "key", r->key);
	homactl_json_str(o, "value", r->value);
	homactl_json_print(o);
}

/* ---- sockets ------------------------------------------------------------ */

static void homactl_sockets_text(const Homa__Ctl__Sockets *m)
{
	fprintf(hout, "%8s %6s %5s %-6s %7s %12s %12s %12s %10s %10s\n", "pid",
		"uid", "port", "role", "rpcs", "pool", "pool_free", "tx_bytes",
		"direct", "direct_rx");
	for (size_t i = 0; i < m->n_sockets; i++) {
		const Homa__Ctl__SocketInfo *x = m->sockets[i];
		char direct[24] = "-", rx[24] = "-";

		if (x->direct_send)
			snprintf(direct, sizeof(direct), "%" PRIu64,
				 x->direct_messages);
		if (x->direct_receive || x->direct_received > 0)
			snprintf(rx, sizeof(rx), "%" PRIu64,
				 x->direct_received);
		fprintf(hout,
			"%8" PRIu32 " %6" PRIu32 " %5" PRIu32 " %-6s %7" PRIu32
			" %12" PRIu64 " %12" PRIu64 " %12" PRIu64
			" %10s %10s%s\n",
			x->pid, x->uid, x->port,
			x->server ? "server" : "client", x->rpcs, x->pool_bytes,
			x->pool_free_bytes, x->tx_bytes, direct, rx,
			x->shutdown ? " shutdown" : "");
	}
	if (m->total > m->n_sockets)
		fprintf(hout, "(%" PRIu32 " sockets, %zu listed)\n", m->total,
			m->n_sockets);
}

static void homactl_sockets_json(const Homa__Ctl__Sockets *m)
{
	json_object *o = json_object_new_object();
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < m->n_sockets; i++) {
		const Homa__Ctl__SocketInfo *x = m->sockets[i];
		json_object *e = json_object_new_object();

		homactl_json_u64(e, "pid", x->pid);
		homactl_json_u64(e, "uid", x->uid);
		homactl_json_u64(e, "port", x->port);
		json_object_object_add(e, "server",
				       json_object_new_boolean(x->server));
		homactl_json_u64(e, "rpcs", x->rpcs);
		homactl_json_u64(e, "pool_bytes", x->pool_bytes);
		homactl_json_u64(e, "pool_free_bytes", x->pool_free_bytes);
		homactl_json_u64(e, "tx_bytes", x->tx_bytes);
		json_object_object_add(e, "shutdown",
				       json_object_new_boolean(x->shutdown));
		json_object_object_add(e, "direct_send",
				       json_object_new_boolean(x->direct_send));
		homactl_json_u64(e, "direct_messages", x->direct_messages);
		json_object_object_add(
			e, "direct_receive",
			json_object_new_boolean(x->direct_receive));
		homactl_json_u64(e, "direct_received", x->direct_received);
		json_object_array_add(a, e);
	}
	json_object_object_add(o, "sockets", a);
	homactl_json_u64(o, "total", m->total);
	homactl_json_print(o);
}

/* ---- rpcs --------------------------------------------------------------- */

/* A length that may be -1 (none yet): "-" in the text. */
static void homactl_put_len(int64_t v, int width)
{
	if (v < 0)
		fprintf(hout, " %*s", width, "-");
	else
		fprintf(hout, " %*" PRId64, width, v);
}

static void homactl_rpc_text(const Homa__Ctl__RpcInfo *x)
{
	fprintf(hout, "%20" PRIu64 " %5" PRIu32 " ", x->id, x->port);
	homactl_put_clean(x->peer);
	fprintf(hout, ":%" PRIu32 " %-10s", x->peer_port,
		homactl_str(x->state));
	homactl_put_len(x->tx_length, 9);
	fprintf(hout, " %9" PRIu32 " %9" PRIu32 " %4" PRIu32, x->tx_sent,
		x->tx_granted, x->tx_prio);
	homactl_put_len(x->rx_length, 9);
	fprintf(hout,
		" %9" PRIu32 " %4" PRIu32 " %9" PRIu32 " %9" PRIu32 " %s%s\n",
		x->rx_remaining, x->rx_gaps, x->rx_gap_bytes, x->rx_granted,
		x->flags & 1 ? "B" : "", x->flags & 4 ? "R" : "");
}

/*
 * One RPC as a JSON object, printed at once (a listing of 100,000 RPCs is
 * streamed, not built in memory first); first: no comma before it.
 */
static void homactl_rpc_json(bool first, const Homa__Ctl__RpcInfo *x)
{
	json_object *e = json_object_new_object();

	homactl_json_u64(e, "id", x->id);
	json_object_object_add(e, "client",
			       json_object_new_boolean((x->id & 1) == 0));
	homactl_json_str(e, "peer", x->peer);
	homactl_json_u64(e, "peer_port", x->peer_port);
	homactl_json_u64(e, "port", x->port);
	homactl_json_str(e, "state", x->state);
	json_object_object_add(e, "tx_length",
			       json_object_new_int64(x->tx_length));
	homactl_json_u64(e, "tx_sent", x->tx_sent);
	homactl_json_u64(e, "tx_granted", x->tx_granted);
	homactl_json_u64(e, "tx_prio", x->tx_prio);
	json_object_object_add(e, "rx_length",
			       json_object_new_int64(x->rx_length));
	homactl_json_u64(e, "rx_remaining", x->rx_remaining);
	homactl_json_u64(e, "rx_gaps", x->rx_gaps);
	homactl_json_u64(e, "rx_gap_bytes", x->rx_gap_bytes);
	homactl_json_u64(e, "rx_granted", x->rx_granted);
	homactl_json_u64(e, "flags", x->flags);
	fputs(first ? "\n    " : ",\n    ", hout);
	fputs(json_object_to_json_string_ext(
		      e,
		      JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE),
	      hout);
	json_object_put(e);
}

/* ---- peers -------------------------------------------------------------- */

static void homactl_put_cutoffs(size_t n, const uint32_t *v, uint32_t version)
{
	if (n == 0) {
		fputs(" -", hout);
		return;
	}
	fputs(" ", hout);
	for (size_t i = 0; i < n; i++)
		fprintf(hout, "%s%" PRIu32, i > 0 ? "," : "", v[i]);
	fprintf(hout, "/v%" PRIu32, version);
}

static void homactl_peer_text(const Homa__Ctl__PeerInfo *x)
{
	homactl_put_clean(x->addr);
	fprintf(hout,
		"\n    rpcs %" PRIu32 ", rtt %.1f us, resends %" PRIu32
		", acks pending %" PRIu32 ", last heard %" PRIu64 " ms ago, "
		"resent bytes asked %" PRIu64 "\n    pacing: rule %s",
		x->rpcs, (double)x->rtt_ns / 1000.0, x->resends,
		x->acks_pending, x->last_heard_ms, x->resend_bytes,
		x->rate_mbps > 0 ? "" : "none");
	if (x->rate_mbps > 0)
		fprintf(hout, "%" PRIu32 " Mbit/s", x->rate_mbps);
	fprintf(hout, ", grants %s", x->grant_pace_mbps > 0 ? "" : "none");
	if (x->grant_pace_mbps > 0)
		fprintf(hout, "%" PRIu32 " Mbit/s", x->grant_pace_mbps);
	fprintf(hout, "; arrivals %" PRIu32 " Mbit/s, grant cap %" PRIu64,
		x->rx_mbps, x->grant_cap);
	fprintf(hout, ", %s, incoming %" PRIu64 "\n    probes %" PRIu32 "%s",
		x->homad ? "homad" : "kernel module or unknown", x->incoming,
		x->probes,
		x->host_up ? ", silent but its host is up (stalled?)" : "");
	fputs("\n    cutoffs in:", hout);
	homactl_put_cutoffs(x->n_cutoffs_in, x->cutoffs_in,
			    x->cutoff_version_in);
	fputs("\n    cutoffs out:", hout);
	homactl_put_cutoffs(x->n_cutoffs_out, x->cutoffs_out,
			    x->cutoff_version_out);
	fputc('\n', hout);
}

static json_object *homactl_json_u32s(size_t n, const uint32_t *v)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_uint64(v[i]));
	return a;
}

static void homactl_peer_json(json_object *a, const Homa__Ctl__PeerInfo *x)
{
	json_object *e = json_object_new_object();

	homactl_json_str(e, "addr", x->addr);
	homactl_json_u64(e, "rpcs", x->rpcs);
	json_object_object_add(
		e, "cutoffs_in",
		homactl_json_u32s(x->n_cutoffs_in, x->cutoffs_in));
	homactl_json_u64(e, "cutoff_version_in", x->cutoff_version_in);
	json_object_object_add(
		e, "cutoffs_out",
		homactl_json_u32s(x->n_cutoffs_out, x->cutoffs_out));
	homactl_json_u64(e, "cutoff_version_out", x->cutoff_version_out);
	homactl_json_u64(e, "rtt_ns", x->rtt_ns);
	homactl_json_u64(e, "resends", x->resends);
	homactl_json_u64(e, "acks_pending", x->acks_pending);
	homactl_json_u64(e, "last_heard_ms", x->last_heard_ms);
	homactl_json_u64(e, "rate_mbps", x->rate_mbps);
	json_object_object_add(e, "homad", json_object_new_boolean(x->homad));
	homactl_json_u64(e, "incoming", x->incoming);
	homactl_json_u64(e, "grant_pace_mbps", x->grant_pace_mbps);
	homactl_json_u64(e, "rx_mbps", x->rx_mbps);
	homactl_json_u64(e, "grant_cap", x->grant_cap);
	homactl_json_u64(e, "resend_bytes", x->resend_bytes);
	json_object_object_add(e, "host_up",
			       json_object_new_boolean(x->host_up));
	homactl_json_u64(e, "probes", x->probes);
	json_object_array_add(a, e);
}

/* ---- config, reload ---------------------------------------------------- */

static void homactl_config_text(const Homa__Ctl__Config *m)
{
	fputs("# ", hout);
	if (homactl_str(m->path)[0] == '\0')
		fputs("embedded defaults", hout);
	else
		homactl_put_clean(m->path);
	fputs("; (restart): the key needs a restart to change\n", hout);
	for (size_t i = 0; i < m->n_keys; i++) {
		const Homa__Ctl__ConfigKey *k = m->keys[i];

		homactl_put_clean(k->key);
		fputs(" = ", hout);
		homactl_put_clean(k->value);
		fputs(k->runtime ? "\n" : "  (restart)\n", hout);
	}
}

static void homactl_config_json(const Homa__Ctl__Config *m)
{
	json_object *o = json_object_new_object();
	json_object *keys = json_object_new_object();
	json_object *restart = json_object_new_array();

	homactl_json_str(o, "path", m->path);
	for (size_t i = 0; i < m->n_keys; i++) {
		const Homa__Ctl__ConfigKey *k = m->keys[i];

		homactl_json_str(keys, homactl_str(k->key), k->value);
		if (!k->runtime)
			json_object_array_add(
				restart,
				json_object_new_string(homactl_str(k->key)));
	}
	json_object_object_add(o, "keys", keys);
	json_object_object_add(o, "restart_keys", restart);
	homactl_json_print(o);
}

static void homactl_reload_text(const Homa__Ctl__ReloadResult *r)
{
	fputs("reloaded ", hout);
	if (homactl_str(r->config_path)[0] == '\0')
		fputs("the embedded defaults", hout);
	else
		homactl_put_clean(r->config_path);
	fprintf(hout, " (%" PRIu64 " reloads applied)\n", r->reloads_ok);
	if (homactl_str(r->restart_needed)[0] != '\0') {
		fputs("kept until a restart: ", hout);
		homactl_put_clean(r->restart_needed);
		fputc('\n', hout);
	}
}

static void homactl_reload_json(const Homa__Ctl__ReloadResult *r)
{
	json_object *o = json_object_new_object();

	homactl_json_str(o, "config_path", r->config_path);
	homactl_json_u64(o, "reloads_ok", r->reloads_ok);
	homactl_json_str(o, "restart_needed", r->restart_needed);
	homactl_json_print(o);
}

/* ---- talking to homad ------------------------------------------------- */

struct homactl_conn {
	const char *path;
	int fd;
	int timeout_ms;
};

/*
 * Connect to homad's control socket at path; every failure says what is
 * wrong: no socket there, nothing listening (homad not running), no
 * permission, not a socket of the right kind.
 */
static void homactl_connect(struct homactl_conn *c, const char *path,
			    int timeout_ms)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int err;

	c->path = path;
	c->timeout_ms = timeout_ms;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		homactl_fail("socket: %s", strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return;
	err = errno;
	if (err == ENOENT)
		homactl_fail("cannot connect to %s: no such socket: homad is "
			     "not running, or its control socket is "
			     "elsewhere (-s, $HOMAD_SOCKET, control.socket)",
			     path);
	if (err == EACCES || err == EPERM)
		homactl_fail("cannot connect to %s: permission denied: run "
			     "homactl as root or as a member of the socket's "
			     "group (control.socket_group)",
			     path);
	if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
		homactl_fail("cannot connect to %s: not a socket", path);
	if (err == ECONNREFUSED)
		homactl_fail("cannot connect to %s: connection refused: homad "
			     "is not running (the socket file is left from an "
			     "earlier one)",
			     path);
	if (err == EPROTOTYPE)
		homactl_fail("cannot connect to %s: not a SOCK_SEQPACKET "
			     "socket, so not homad's control socket",
			     path);
	if (err == EAGAIN)
		homactl_fail("cannot connect to %s: homad's control socket is "
			     "busy (its backlog is full); try again",
			     path);
	homactl_fail("cannot connect to %s: %s", path, strerror(err));
}

/* What an answer that is not a homad control answer means. */
static _Noreturn void homactl_not_ctl(const struct homactl_conn *c,
				      const char *what)
{
	homactl_fail("%s %s, so it is not homad's control socket: is it the "
		     "applications' client socket (clients.socket)?  homad's "
		     "control socket is control.socket, %s by default",
		     c->path, what, HOMA_CONF_DEFAULT_SOCKET);
}

/*
 * Send req on c and return homad's answer, whose body must be body; an
 * error answer ends homactl (exit 1) with homad's reason.
 */
static Homa__Ctl__Response *homactl_ask(const struct homactl_conn *c,
					const Homa__Ctl__Request *req,
					const char *cmd,
					Homa__Ctl__Response__BodyCase body)
{
	size_t len = homa__ctl__request__get_packed_size(req);
	uint8_t out[HOMACTL_MAX_SET_KEY + HOMACTL_MAX_SET_VALUE + 256], *in;
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	struct iovec iov;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	Homa__Ctl__Response *resp;
	const char *version;
	ssize_t n;
	int rc;

	if (len > sizeof(out))
		homactl_fail("request too large");
	homa__ctl__request__pack(req, out);
	if (send(c->fd, out, len, MSG_NOSIGNAL) != (ssize_t)len)
		homactl_fail("cannot send to %s: %s", c->path, strerror(errno));
	do
		rc = poll(&pfd, 1, c->timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		homactl_fail("poll: %s", strerror(errno));
	if (rc == 0)
		homactl_fail("no answer from %s within %d ms (is homad "
			     "stopped?)",
			     c->path, c->timeout_ms);
	in = malloc(HOMACTL_MAX_ANSWER);
	if (in == NULL)
		homactl_fail("out of memory");
	iov.iov_base = in;
	iov.iov_len = HOMACTL_MAX_ANSWER;
	n = recvmsg(c->fd, &mh, 0);
	if (n < 0)
		homactl_fail("cannot read the answer from %s: %s", c->path,
			     strerror(errno));
	if (n == 0)
		homactl_fail("%s closed the connection without answering "
			     "(homad stopping, or over its connection limit?)",
			     c->path);
	if (mh.msg_flags & MSG_TRUNC)
		homactl_fail("answer larger than %u bytes", HOMACTL_MAX_ANSWER);
	resp = homa__ctl__response__unpack(NULL, (size_t)n, in);
	free(in);
	if (resp == NULL)
		homactl_not_ctl(c, "answered something that is not a homad "
				   "control answer");
	version = homactl_str(resp->version);
	if (version[0] == '\0' && resp->error == 0 &&
	    resp->body_case == HOMA__CTL__RESPONSE__BODY__NOT_SET)
		homactl_not_ctl(c, "answered without a version or a body");
	if (resp->error != 0) {
		char text[512];
		size_t i = 0;

		for (const char *p = homactl_str(resp->error_text);
		     *p != '\0' && i + 1 < sizeof(text); p++)
			text[i++] = (unsigned char)*p < 0x20 ? '?' : *p;
		text[i] = '\0';
		if (i == 0)
			snprintf(text, sizeof(text), "%s",
				 strerror(resp->error > 0 ? resp->error : EIO));
		if (resp->error == EOPNOTSUPP)
			homactl_fail("homad %.32s does not know the command "
				     "\"%s\" (homactl is %s): %s",
				     version[0] ? version : "(older)", cmd,
				     PACKAGE_VERSION, text);
		homactl_fail("homad: %s", text);
	}
	if (version[0] == '\0')
		homactl_fail("homad answered \"%s\" without its version: an "
			     "older homad than homactl %s?  restart it, or "
			     "use its own homactl",
			     cmd, PACKAGE_VERSION);
	if (resp->body_case != body)
		homactl_fail("homad %.32s answered \"%s\" with something else "
			     "(body %d): different version (homactl %s)?",
			     version, cmd, (int)resp->body_case,
			     PACKAGE_VERSION);
	return resp;
}

/* ---- listings ----------------------------------------------------------- */

static void homactl_rpcs(const struct homactl_conn *c, bool json, uint32_t port,
			 const char *peer)
{
	Homa__Ctl__Request req = HOMA__CTL__REQUEST__INIT;
	Homa__Ctl__RpcsRequest rr = HOMA__CTL__RPCS_REQUEST__INIT;
	uint64_t listed = 0, total = 0;
	bool more = true;

	req.cmd_case = HOMA__CTL__REQUEST__CMD_RPCS;
	req.rpcs = &rr;
	rr.port = port;
	rr.peer = (char *)(peer != NULL ? peer : "");
	if (json)
		fputs("{\n  \"rpcs\": [", hout);
	else
		fprintf(hout,
			"%20s %5s %-22s %-10s %9s %9s %9s %4s %9s %9s %4s "
			"%9s %9s %s\n",
			"id", "port", "peer", "state", "tx_len", "tx_sent",
			"tx_grant", "prio", "rx_len", "rx_left", "gaps",
			"gap_bytes", "rx_grant", "flags");
	for (unsigned page = 0; more; page++) {
		Homa__Ctl__Response *resp;
		const Homa__Ctl__Rpcs *m;

		if (page == HOMACTL_MAX_PAGES)
			homactl_fail("bad answer: over %d pages of RPCs",
				     HOMACTL_MAX_PAGES);
		resp = homactl_ask(c, &req, "rpcs",
				   HOMA__CTL__RESPONSE__BODY_RPCS);
		m = resp->rpcs;
		if (m == NULL)
			homactl_fail("bad answer: empty rpcs");
		homactl_check_list("rpcs", m->n_rpcs, (void *const *)m->rpcs);
		for (size_t i = 0; i < m->n_rpcs; i++) {
			if (json)
				homactl_rpc_json(listed + i == 0, m->rpcs[i]);
			else
				homactl_rpc_text(m->rpcs[i]);
		}
		listed += m->n_rpcs;
		total = m->total;
		more = m->more;
		if (more && m->next_cursor == rr.cursor)
			homactl_fail("bad answer: the RPC listing does not "
				     "advance");
		rr.cursor = m->next_cursor;
		homa__ctl__response__free_unpacked(resp, NULL);
	}
	if (json) {
		fprintf(hout, "%s],\n  \"total\": %" PRIu64 "\n}\n",
			listed > 0 ? "\n  " : "", total);
	} else {
		fprintf(hout, "(%" PRIu64 " listed, %" PRIu64 " live RPCs)\n",
			listed, total);
	}
}

static void homactl_peers(const struct homactl_conn *c, bool json)
{
	Homa__Ctl__Request req = HOMA__CTL__REQUEST__INIT;
	Homa__Ctl__PeersRequest pr = HOMA__CTL__PEERS_REQUEST__INIT;
	json_object *o = json ? json_object_new_object() : NULL;
	json_object *a = json ? json_object_new_array() : NULL;
	uint64_t total = 0;
	bool more = true;

	req.cmd_case = HOMA__CTL__REQUEST__CMD_PEERS;
	req.peers = &pr;
	for (unsigned page = 0; more; page++) {
		Homa__Ctl__Response *resp;
		const Homa__Ctl__Peers *m;

		if (page == HOMACTL_MAX_PAGES)
			homactl_fail("bad answer: over %d pages of peers",
				     HOMACTL_MAX_PAGES);
		resp = homactl_ask(c, &req, "peers",
				   HOMA__CTL__RESPONSE__BODY_PEERS);
		m = resp->peers;
		if (m == NULL)
			homactl_fail("bad answer: empty peers");
		homactl_check_list("peers", m->n_peers,
				   (void *const *)m->peers);
		for (size_t i = 0; i < m->n_peers; i++) {
			const Homa__Ctl__PeerInfo *x = m->peers[i];

			if (x->n_cutoffs_in > 64 || x->n_cutoffs_out > 64 ||
			    (x->n_cutoffs_in > 0 && x->cutoffs_in == NULL) ||
			    (x->n_cutoffs_out > 0 && x->cutoffs_out == NULL))
				homactl_fail("bad answer: peer cutoffs");
			if (json)
				homactl_peer_json(a, x);
			else
				homactl_peer_text(x);
		}
		total = m->total;
		more = m->more;
		if (more && m->next_cursor == pr.cursor)
			homactl_fail("bad answer: the peer listing does not "
				     "advance");
		pr.cursor = m->next_cursor;
		homa__ctl__response__free_unpacked(resp, NULL);
	}
	if (json) {
		json_object_object_add(o, "peers", a);
		homactl_json_u64(o, "total", total);
		homactl_json_print(o);
	} else if (total == 0) {
		fputs("no peers\n", hout);
	}
}

/* ---- metrics -i --------------------------------------------------------- */

static Homa__Ctl__Response *homactl_get_metrics(const struct homactl_conn *c)
{
	Homa__Ctl__Request req = HOMA__CTL__REQUEST__INIT;
	Homa__Ctl__MetricsRequest mreq = HOMA__CTL__METRICS_REQUEST__INIT;
	Homa__Ctl__Response *resp;

	req.cmd_case = HOMA__CTL__REQUEST__CMD_METRICS;
	req.metrics = &mreq;
	resp = homactl_ask(c, &req, "metrics",
			   HOMA__CTL__RESPONSE__BODY_METRICS);
	if (resp->metrics == NULL)
		homactl_fail("bad answer: empty metrics");
	homactl_check_metrics(resp->metrics);
	return resp;
}

static double homactl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The entry of m for the same counter as x (usually at index hint). */
static const Homa__Ctl__Metric *homactl_same(const Homa__Ctl__Metrics *m,
					     size_t hint,
					     const Homa__Ctl__Metric *x)
{
	for (size_t k = 0; k < m->n_metrics; k++) {
		const Homa__Ctl__Metric *y =
			m->metrics[(hint + k) % m->n_metrics];

		if (strcmp(y->name, x->name) == 0 &&
		    strcmp(homactl_str(y->label_value),
			   homactl_str(x->label_value)) == 0)
			return y;
	}
	return NULL;
}

/*
 * Like nstat: every secs seconds, what changed since the last sample,
 * under the kernel module's names; counters as delta and rate, gauges as
 * their value.  count intervals (0: until interrupted).
 */
static void homactl_metrics_interval(const struct homactl_conn *c, bool json,
				     unsigned secs, unsigned long count)
{
	Homa__Ctl__Response *prev = homactl_get_metrics(c), *cur;
	double t0 = homactl_now(), t1;

	for (unsigned long i = 0; count == 0 || i < count; i++) {
		struct timespec ts = {.tv_sec = secs};
		json_object *o = NULL, *cs = NULL, *gs = NULL;
		double dt;

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		cur = homactl_get_metrics(c);
		t1 = homactl_now();
		dt = t1 - t0 > 1e-3 ? t1 - t0 : 1e-3;
		if (json) {
			o = json_object_new_object();
			cs = json_object_new_object();
			gs = json_object_new_object();
			json_object_object_add(o, "interval_s",
					       json_object_new_double(dt));
		} else {
			fprintf(hout, "#%-35s %14s %14s  (%.2f s)\n", "counter",
				"delta", "rate/s", dt);
		}
		for (size_t k = 0; k < cur->metrics->n_metrics; k++) {
			const Homa__Ctl__Metric *x = cur->metrics->metrics[k];
			const Homa__Ctl__Metric *p =
				homactl_same(prev->metrics, k, x);
			uint64_t before = p != NULL ? p->value : 0;
			char name[256];

			if (x->value == before)
				continue;
			homactl_flat_name(name, sizeof(name), x->name,
					  x->label_key, x->label_value);
			if (x->gauge) {
				if (json)
					homactl_json_u64(gs, name, x->value);
				else
					fprintf(hout,
						"%-36s %14" PRIu64 " %14s\n",
						name, x->value, "(now)");
				continue;
			}
			if (json) {
				json_object *e = json_object_new_object();

				homactl_json_u64(e, "delta", x->value - before);
				json_object_object_add(
					e, "rate",
					json_object_new_double(
						(double)(x->value - before) /
						dt));
				json_object_object_add(cs, name, e);
			} else {
				fprintf(hout, "%-36s %14" PRIu64 " %14.1f\n",
					name, x->value - before,
					(double)(x->value - before) / dt);
			}
		}
		if (json) {
			json_object_object_add(o, "counters", cs);
			json_object_object_add(o, "gauges", gs);
			fputs(json_object_to_json_string_ext(
				      o,
				      JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE),
			      hout);
			fputc('\n', hout);
			json_object_put(o);
		}
		fflush(hout);
		homa__ctl__response__free_unpacked(prev, NULL);
		prev = cur;
		t0 = t1;
	}
	homa__ctl__response__free_unpacked(prev, NULL);
}

/* ---- metrics --http ----------------------------------------------------- */

/* Write all of buf[0..len) to stdout; false if it could not. */
static bool homactl_write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* One HTTP/1.1 response: status, headers, body (body NULL: none). */
static void homactl_http_send(int code, const char *reason, const char *ctype,
			      const char *extra, const char *body,
			      size_t body_len, bool head)
{
	char hdr[512];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: %s\r\n"
			 "Content-Length: %zu\r\n"
			 "%s"
			 "Connection: close\r\n\r\n",
			 code, reason, ctype, body_len, extra);

	if (n < 0 || (size_t)n >= sizeof(hdr) ||
	    !homactl_write_all(hdr, (size_t)n) ||
	    (!head && body_len > 0 && !homactl_write_all(body, body_len)))
		exit(1);
}

static void homactl_http_error(int code, const char *reason, const char *text)
{
	char body[1200];
	int n = snprintf(body, sizeof(body), "%d %s: %s\n", code, reason, text);

	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(body))
		n = (int)sizeof(body) - 1;
	homactl_http_send(code, reason, "text/plain; charset=utf-8",
			  code == 405 ? "Allow: GET, HEAD\r\n" : "", body,
			  (size_t)n, false);
}

/*
 * Read the request's head from stdin (up to its empty line), within
 * HOMACTL_HTTP_TIMEOUT ms and HOMACTL_HTTP_MAX_HEAD bytes; its first line
 * goes to line.  false when there is none.
 */
static bool homactl_http_read(char *line, size_t len)
{
	static char head[HOMACTL_HTTP_MAX_HEAD + 1];
	size_t used = 0;
	double deadline = homactl_now() + HOMACTL_HTTP_TIMEOUT / 1000.0;
	char *eol;

	for (;;) {
		struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
		int wait = (int)((deadline - homactl_now()) * 1000.0);
		ssize_t n;

		head[used] = '\0';
		if (strstr(head, "\r\n\r\n") != NULL ||
		    strstr(head, "\n\n") != NULL)
			break;
		if (used == HOMACTL_HTTP_MAX_HEAD || wait <= 0)
			return false;
		if (poll(&pfd, 1, wait) <= 0)
			continue;
		n = read(STDIN_FILENO, head + used,
			 HOMACTL_HTTP_MAX_HEAD - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			head[used] = '\0';
			break; /* EOF: take what came */
		}
		used += (size_t)n;
	}
	eol = strpbrk(head, "\r\n");
	if (eol == NULL)
		return false;
	*eol = '\0';
	if ((size_t)(eol - head) >= len)
		return false;
	memcpy(line, head, (size_t)(eol - head) + 1);
	return true;
}

static void homactl_http(const char *path, int timeout_ms)
{
	char line[1024], *body = NULL;
	size_t body_len = 0;
	struct homactl_conn c;
	Homa__Ctl__Response *resp;
	enum homactl_http what;

	signal(SIGPIPE, SIG_IGN);
	if (!homactl_http_read(line, sizeof(line))) {
		homactl_http_error(400, "Bad Request", "no request line");
		return;
	}
	what = homactl_http_classify(line);
	switch (what) {
	case HOMACTL_HTTP_BAD_REQUEST:
		homactl_http_error(400, "Bad Request", "not an HTTP request");
		return;
	case HOMACTL_HTTP_BAD_VERSION:
		homactl_http_error(505, "HTTP Version Not Supported",
				   "HTTP/1.0 and HTTP/1.1 only");
		return;
	case HOMACTL_HTTP_NOT_FOUND:
		homactl_http_error(404, "Not Found",
				   "homad's metrics are at /metrics");
		return;
	case HOMACTL_HTTP_BAD_METHOD:
		homactl_http_error(405, "Method Not Allowed",
				   "GET or HEAD only");
		return;
	case HOMACTL_HTTP_METRICS:
	case HOMACTL_HTTP_HEAD:
		break;
	}
	homactl_http_mode = true; /* failures now answer 503 */
	homactl_connect(&c, path, timeout_ms);
	resp = homactl_get_metrics(&c);
	hout = open_memstream(&body, &body_len);
	if (hout == NULL)
		homactl_fail("out of memory");
	homactl_metrics_openmetrics(resp->metrics);
	if (fclose(hout) != 0)
		homactl_fail("out of memory");
	homactl_http_mode = false;
	homactl_http_send(200, "OK", "text/plain; version=0.0.4; charset=utf-8",
			  "", body, body_len, what == HOMACTL_HTTP_HEAD);
	free(body);
	homa__ctl__response__free_unpacked(resp, NULL);
	close(c.fd);
}

/* ---- the command line --------------------------------------------------- */

static int homactl_parse_uint(const char *s, unsigned long max,
			      unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
		return -1;
	*out = v;
	return 0;
}

static _Noreturn void homactl_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static _Noreturn void homactl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("homactl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(homactl --help lists the commands and options)\n", stderr);
	exit(2);
}

/*
 * Options anywhere, but a negative number (`set test.seed -1`) is a value:
 * argv is reordered in place into the options (with their values), "--",
 * then the other arguments in their order; getopt then stops at "--".
 * Returns the new argc (one more: the "--").
 */
static int homactl_reorder(int argc, char **argv, char **out)
{
	int n = 1, npos = 0;
	char **pos = out + argc + 1; /* scratch after the result's room */

	out[0] = argv[0];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				pos[npos++] = argv[i];
			break;
		}
		if (a[0] != '-' || a[1] == '\0' || homactl_is_number(a)) {
			pos[npos++] = argv[i];
			continue;
		}
		out[n++] = argv[i];
		if (homactl_takes_value(a) && i + 1 < argc)
			out[n++] = argv[++i];
	}
	out[n++] = "--";
	for (int i = 0; i < npos; i++)
		out[n++] = pos[i];
	out[n] = NULL;
	return n;
}

int main(int argc, char **argv)
{
	enum {
		LOPT_PORT = 0x100,
		LOPT_PEER,
		LOPT_HTTP,
	};
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{"interval", required_argument, NULL, 'i'},
		{"count", required_argument, NULL, 'c'},
		{"port", required_argument, NULL, LOPT_PORT},
		{"peer", required_argument, NULL, LOPT_PEER},
		{"http", no_argument, NULL, LOPT_HTTP},
		{NULL, 0, NULL, 0},
	};
	const char *names[CMD_COUNT];
	const char *path = getenv("HOMAD_SOCKET");
	const char *peer = NULL;
	unsigned long timeout_ms = HOMACTL_DEFAULT_TIMEOUT, port = 0;
	unsigned long interval = 0, count = 0;
	unsigned given = 0; /* OPT_* seen */
	bool json = false, count_given = false;
	Homa__Ctl__Request req = HOMA__CTL__REQUEST__INIT;
	Homa__Ctl__Response *resp = NULL;
	struct homactl_conn c;
	int opt, cmd, nargs;

	hout = stdout;
	if (path == NULL || path[0] == '\0')
		path = HOMA_CONF_DEFAULT_SOCKET;
	{
		/* Static: getopt and the commands use it to the end (and
		 * it stays reachable for leak checkers at exit). */
		static char **v;

		v = calloc(2 * (size_t)argc + 2, sizeof(*v));
		if (v == NULL)
			homactl_fail("out of memory");
		argc = homactl_reorder(argc, argv, v);
		argv = v;
	}
	while ((opt = getopt_long(argc, argv, "+s:jt:hi:c:", longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 't':
			if (homactl_parse_uint(optarg, HOMACTL_MAX_TIMEOUT,
					       &timeout_ms) < 0 ||
			    timeout_ms == 0)
				homactl_usage_error("-t: \"%s\" is not a "
						    "timeout in ms (1..%d)",
						    optarg,
						    HOMACTL_MAX_TIMEOUT);
			break;
		case 'i':
			if (homactl_parse_uint(optarg, HOMACTL_MAX_INTERVAL,
					       &interval) < 0 ||
			    interval == 0)
				homactl_usage_error("-i: \"%s\" is not an "
						    "interval in seconds "
						    "(1..%d)",
						    optarg,
						    HOMACTL_MAX_INTERVAL);
			given |= OPT_INTERVAL;
			break;
		case 'c':
			if (homactl_parse_uint(optarg, 1000000000, &count) <
				    0 ||
			    count == 0)
				homactl_usage_error("-c: \"%s\" is not a count "
						    "(1..1000000000)",
						    optarg);
			count_given = true;
			given |= OPT_INTERVAL;
			break;
		case LOPT_PORT:
			if (homactl_parse_uint(optarg, 65535, &port) < 0 ||
			    port == 0)
				homactl_usage_error("--port: \"%s\" is not a "
						    "port (1..65535)",
						    optarg);
			given |= OPT_PORT;
			break;
		case LOPT_PEER:
			if (optarg[0] == '\0' || strlen(optarg) > 64)
				homactl_usage_error("--peer: \"%s\" is not "
						    "an address",
						    optarg);
			peer = optarg;
			given |= OPT_PEER;
			break;
		case LOPT_HTTP:
			given |= OPT_HTTP;
			break;
		case 'h':
			homactl_usage(stdout);
			return 0;
		default:
			homactl_usage_error("bad option");
		}
	}
	if (optind >= argc)
		homactl_usage_error("no command given");
	for (int i = 0; i < CMD_COUNT; i++)
		names[i] = homactl_cmds[i].name;
	cmd = homactl_match(argv[optind], names, CMD_COUNT);
	if (cmd == HOMACTL_MATCH_AMBIGUOUS)
		homactl_usage_error("\"%s\" is ambiguous: it begins more than "
				    "one command",
				    argv[optind]);
	if (cmd < 0)
		homactl_usage_error("unknown command \"%s\"", argv[optind]);
	nargs = argc - optind - 1;
	if (nargs != homactl_cmds[cmd].nargs) {
		if (homactl_cmds[cmd].nargs == 0)
			homactl_usage_error("%s takes no argument (\"%s\"); "
					    "one command at a time",
					    homactl_cmds[cmd].name,
					    argv[optind + 1]);
		homactl_usage_error("usage: homactl %s %s",
				    homactl_cmds[cmd].name,
				    homactl_cmds[cmd].args);
	}
	if (given & ~homactl_cmds[cmd].opts)
		homactl_usage_error(
			"%s takes no %s", homactl_cmds[cmd].name,
			given & ~homactl_cmds[cmd].opts & (OPT_PORT | OPT_PEER)
				? "--port or --peer"
			: given & ~homactl_cmds[cmd].opts & OPT_INTERVAL
				? "-i or -c"
				: "--http");
	if (count_given && interval == 0)
		homactl_usage_error("-c needs -i");
	if ((given & OPT_HTTP) && (interval > 0 || json))
		homactl_usage_error("--http takes neither -i nor -j");
	if (cmd == CMD_SET &&
	    (strlen(argv[optind + 1]) > HOMACTL_MAX_SET_KEY ||
	     strlen(argv[optind + 2]) > HOMACTL_MAX_SET_VALUE))
		homactl_usage_error("set: key or value too long (%d and %d "
				    "characters at most)",
				    HOMACTL_MAX_SET_KEY, HOMACTL_MAX_SET_VALUE);
	if (path[0] == '\0' ||
	    strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		homactl_usage_error("socket path is empty or too long");

	if (given & OPT_HTTP) {
		homactl_http(path, (int)timeout_ms);
		return 0;
	}
	homactl_connect(&c, path, (int)timeout_ms);
	switch (cmd) {
	case CMD_STATUS: {
		Homa__Ctl__StatusRequest sreq = HOMA__CTL__STATUS_REQUEST__INIT;

		req.cmd_case = HOMA__CTL__REQUEST__CMD_STATUS;
		req.status = &sreq;
		resp = homactl_ask(&c, &req, "status",
				   HOMA__CTL__RESPONSE__BODY_STATUS);
		if (resp->status == NULL)
			homactl_fail("bad answer: empty status");
		homactl_check_status(resp->status);
		(json ? homactl_status_json
		      : homactl_status_text)(resp->status);
		break;
	}
	case CMD_SOCKETS: {
		Homa__Ctl__SocketsRequest r = HOMA__CTL__SOCKETS_REQUEST__INIT;

		req.cmd_case = HOMA__CTL__REQUEST__CMD_SOCKETS;
		req.sockets = &r;
		resp = homactl_ask(&c, &req, "sockets",
				   HOMA__CTL__RESPONSE__BODY_SOCKETS);
		if (resp->sockets == NULL)
			homactl_fail("bad answer: empty sockets");
		homactl_check_list("sockets", resp->sockets->n_sockets,
				   (void *const *)resp->sockets->sockets);
		(json ? homactl_sockets_json
		      : homactl_sockets_text)(resp->sockets);
		break;
	}
	case CMD_RPCS:
		homactl_rpcs(&c, json, (uint32_t)port, peer);
		break;
	case CMD_PEERS:
		homactl_peers(&c, json);
		break;
	case CMD_METRICS:
		if (interval > 0) {
			homactl_metrics_interval(&c, json, (unsigned)interval,
						 count);
			break;
		}
		resp = homactl_get_metrics(&c);
		(json ? homactl_metrics_json
		      : homactl_metrics_openmetrics)(resp->metrics);
		break;
	case CMD_CONFIG: {
		Homa__Ctl__ConfigRequest r = HOMA__CTL__CONFIG_REQUEST__INIT;

		req.cmd_case = HOMA__CTL__REQUEST__CMD_CONFIG;
		req.config = &r;
		resp = homactl_ask(&c, &req, "config",
				   HOMA__CTL__RESPONSE__BODY_CONFIG);
		if (resp->config == NULL)
			homactl_fail("bad answer: empty config");
		homactl_check_list("keys", resp->config->n_keys,
				   (void *const *)resp->config->keys);
		(json ? homactl_config_json
		      : homactl_config_text)(resp->config);
		break;
	}
	case CMD_SET: {
		Homa__Ctl__SetRequest r = HOMA__CTL__SET_REQUEST__INIT;

		r.key = argv[optind + 1];
		r.value = argv[optind + 2];
		req.cmd_case = HOMA__CTL__REQUEST__CMD_SET;
		req.set = &r;
		resp = homactl_ask(&c, &req, "set",
				   HOMA__CTL__RESPONSE__BODY_SET);
		if (resp->set == NULL)
			homactl_fail("bad answer: empty set result");
		(json ? homactl_set_json : homactl_set_text)(resp->set);
		break;
	}
	case CMD_RELOAD: {
		Homa__Ctl__ReloadRequest r = HOMA__CTL__RELOAD_REQUEST__INIT;

		req.cmd_case = HOMA__CTL__REQUEST__CMD_RELOAD;
		req.reload = &r;
		resp = homactl_ask(&c, &req, "reload",
				   HOMA__CTL__RESPONSE__BODY_RELOAD);
		if (resp->reload == NULL)
			homactl_fail("bad answer: empty reload result");
		(json ? homactl_reload_json
		      : homactl_reload_text)(resp->reload);
		break;
	}
	}
	if (resp != NULL)
		homa__ctl__response__free_unpacked(resp, NULL);
	close(c.fd);
	if (fflush(stdout) != 0 || ferror(stdout))
		homactl_fail("cannot write the output: %s", strerror(errno));
	return 0;
}
