/*
 * homactl.c - homad's control tool.
 *
 *   homactl [-s SOCKET] [-j] [-t TIMEOUT_MS] COMMAND [ARGS]
 *
 * Sends one Request (proto/homa_ctl.proto) on homad's control socket and
 * prints the Response.  What to print is a table of functions per output
 * format (text, JSON); the text format of `metrics` is the Prometheus /
 * OpenMetrics exposition.  homad may be another version than homactl, so
 * every field of the answer is checked before use: a malformed answer is
 * an error (exit 1), never a crash or garbage on the terminal.
 *
 * Exit status: 0 ok, 1 error (cannot connect, homad answered an error, bad
 * answer), 2 usage.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "homa_ctl.pb-c.h"

#define HOMACTL_DEFAULT_SOCKET	"/run/homad/homad.sock"
#define HOMACTL_DEFAULT_TIMEOUT 5000	/* ms */
#define HOMACTL_MAX_TIMEOUT	3600000 /* ms */
#define HOMACTL_MAX_ANSWER	(4u << 20)
#define HOMACTL_MAX_SOCKETS	1024 /* socket descriptions in a Status */
#define HOMACTL_MAX_METRICS	65536

/* One output format: how each command's answer is printed. */
struct homactl_output {
	const char *name;
	void (*status)(const Homa__Ctl__Status *st);
	void (*metrics)(const Homa__Ctl__Metrics *m);
	void (*set)(const Homa__Ctl__SetResult *r);
};

/* One command: its request, its arguments and the body its answer must
 * carry. */
struct homactl_cmd {
	const char *name;
	const char *args; /* "" or e.g. "KEY VALUE" */
	int nargs;
	const char *help;
	Homa__Ctl__Request__CmdCase cmd;
	Homa__Ctl__Response__BodyCase body;
};

static const struct homactl_cmd homactl_cmds[] = {
	{"status", "", 0, "homad's state in brief",
	 HOMA__CTL__REQUEST__CMD_STATUS, HOMA__CTL__RESPONSE__BODY_STATUS},
	{"metrics", "", 0, "every counter (OpenMetrics text, or JSON with -j)",
	 HOMA__CTL__REQUEST__CMD_METRICS, HOMA__CTL__RESPONSE__BODY_METRICS},
	{"set", "KEY VALUE", 2,
	 "change a test.* key of homa.conf until the next reload",
	 HOMA__CTL__REQUEST__CMD_SET, HOMA__CTL__RESPONSE__BODY_SET},
};

/* Longest KEY and VALUE of `set` sent (homad refuses longer ones too). */
#define HOMACTL_MAX_SET_KEY   128
#define HOMACTL_MAX_SET_VALUE 256

static _Noreturn void homactl_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static _Noreturn void homactl_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("homactl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void homactl_usage(FILE *f)
{
	fprintf(f,
		"usage: homactl [-s SOCKET] [-j] [-t TIMEOUT_MS] COMMAND "
		"[ARGS]\n"
		"  -s, --socket SOCKET   homad's control socket (default "
		"$HOMAD_SOCKET,\n"
		"                        else %s)\n"
		"  -j, --json            print JSON\n"
		"  -t, --timeout MS      wait at most MS ms for the answer "
		"(default %d)\n"
		"  -h, --help            print this help\n"
		"commands:\n",
		HOMACTL_DEFAULT_SOCKET, HOMACTL_DEFAULT_TIMEOUT);
	for (size_t i = 0; i < sizeof(homactl_cmds) / sizeof(homactl_cmds[0]);
	     i++)
		fprintf(f, "  %-7s %-9s %s\n", homactl_cmds[i].name,
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
		putchar(*p < 0x20 || *p == 0x7f ? '?' : *p);
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

/* ---- text output ----------------------------------------------------------
 */

/* "1d 2h 3m 4s", leading zero units left out. */
static void homactl_put_uptime(uint64_t ms)
{
	uint64_t s = ms / 1000;
	uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

	if (d > 0)
		printf("%" PRIu64 "d ", d);
	if (d > 0 || h > 0)
		printf("%" PRIu64 "h ", h);
	if (d > 0 || h > 0 || m > 0)
		printf("%" PRIu64 "m ", m);
	printf("%" PRIu64 "s", s % 60);
}

/* "key:" padded so that the values line up. */
static void homactl_key(const char *key)
{
	printf("%-19s", key);
}

static void homactl_status_text(const Homa__Ctl__Status *st)
{
	homactl_key("version:");
	homactl_put_clean(st->version);
	printf("\n");
	homactl_key("pid:");
	printf("%" PRIu32 "\n", st->pid);
	homactl_key("uptime:");
	homactl_put_uptime(st->uptime_ms);
	printf("\n");
	homactl_key("link:");
	homactl_put_clean(st->link);
	printf("\n");
	if (strcmp(homactl_str(st->link), "udp") == 0) {
		homactl_key("udp port:");
		printf("%" PRIu32 "\n", st->udp_port);
	}
	homactl_key("mtu:");
	printf("%" PRIu32 "\n", st->mtu);
	homactl_key("sockets:");
	if (st->n_sockets == 0)
		printf("none\n");
	for (size_t i = 0; i < st->n_sockets; i++) {
		if (i > 0)
			homactl_key("");
		homactl_put_clean(st->sockets[i]);
		printf("\n");
	}
	homactl_key("config:");
	if (homactl_str(st->config_path)[0] == '\0')
		printf("defaults");
	else
		homactl_put_clean(st->config_path);
	printf("\n");
	homactl_key("log level:");
	homactl_put_clean(st->log_level);
	printf("\n");
	homactl_key("reloads:");
	printf("%" PRIu64 " ok, %" PRIu64 " failed\n", st->reloads_ok,
	       st->reloads_failed);
	if (homactl_str(st->last_reload_error)[0] != '\0') {
		homactl_key("last reload error:");
		homactl_put_clean(st->last_reload_error);
		printf("\n");
	}
	homactl_key("packets received:");
	printf("%" PRIu64 "\n", st->packets_received);
	homactl_key("malformed:");
	printf("%" PRIu64 "\n", st->malformed_packets);
	homactl_key("client socket:");
	homactl_put_clean(st->client_socket);
	printf("\n");
	homactl_key("clients:");
	printf("%" PRIu32 " (%" PRIu32 " Homa sockets)\n", st->clients,
	       st->homa_sockets);
	homactl_key("rpcs:");
	printf("%" PRIu32 " (%" PRIu32 " ended, not yet freed; %" PRIu32
	       " waiting for receive buffers)\n",
	       st->rpcs, st->dead_rpcs, st->buffer_waits);
	homactl_key("client memory:");
	printf("%" PRIu64 " bytes mapped\n", st->client_memory);
	homactl_key("rx backlog:");
	printf("%" PRIu64 " bytes (%" PRIu64 " control; peak %" PRIu64
	       "), %" PRIu64 " kernel drops\n",
	       st->rx_backlog_bytes, st->rx_ctl_backlog_bytes,
	       st->rx_backlog_peak_bytes, st->rx_kernel_drops);
	homactl_key("control:");
	printf("%" PRIu64 " bad requests, %" PRIu64 " timed out, %" PRIu64
	       " connections refused\n",
	       st->ctl_requests_bad, st->ctl_requests_timed_out,
	       st->ctl_connections_refused);
}

/* Exposition-format escaping: backslash, newline and (in labels) quote. */
static void homactl_put_escaped(const char *s, bool quote)
{
	for (const char *p = homactl_str(s); *p != '\0'; p++) {
		if (*p == '\\')
			fputs("\\\\", stdout);
		else if (*p == '\n')
			fputs("\\n", stdout);
		else if (*p == '"' && quote)
			fputs("\\\"", stdout);
		else
			putchar(*p);
	}
}

/*
 * Prometheus text exposition (version 0.0.4, which OpenMetrics parsers
 * also read): per counter name one HELP and one TYPE line, then all its
 * samples, whatever order homad sent them in; "# EOF" last.
 */
static void homactl_metrics_openmetrics(const Homa__Ctl__Metrics *m)
{
	for (size_t i = 0; i < m->n_metrics; i++) {
		const Homa__Ctl__Metric *first = m->metrics[i];
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(m->metrics[j]->name, first->name) == 0;
		if (seen)
			continue;
		printf("# HELP homad_%s ", first->name);
		homactl_put_escaped(first->help, false);
		printf("\n# TYPE homad_%s %s\n", first->name,
		       first->gauge ? "gauge" : "counter");
		for (size_t j = i; j < m->n_metrics; j++) {
			const Homa__Ctl__Metric *x = m->metrics[j];

			if (strcmp(x->name, first->name) != 0)
				continue;
			printf("homad_%s%s", x->name, x->gauge ? "" : "_total");
			if (homactl_str(x->label_key)[0] != '\0') {
				printf("{%s=\"", x->label_key);
				homactl_put_escaped(x->label_value, true);
				printf("\"}");
			}
			printf(" %" PRIu64 "\n", x->value);
		}
	}
	printf("# EOF\n");
}

/* ---- JSON output ------------------------------------------------------- */

static void homactl_json_print(json_object *o)
{
	puts(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			   JSON_C_TO_STRING_NOSLASHESCAPE));
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
 *   {"bytes_received": 1200, "packets_received": {"data": 3, "grant": 1}}
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
	fputs(" = ", stdout);
	homactl_put_clean(r->value);
	putchar('\n');
}

static void homactl_set_json(const Homa__Ctl__SetResult *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "key",
			       json_object_new_string(homactl_str(r->key)));
	json_object_object_add(o, "value",
			       json_object_new_string(homactl_str(r->value)));
	homactl_json_print(o);
}

static const struct homactl_output homactl_outputs[] = {
	{"text", homactl_status_text, homactl_metrics_openmetrics,
	 homactl_set_text},
	{"json", homactl_status_json, homactl_metrics_json, homactl_set_json},
};

/* ---- talking to homad ------------------------------------------------- */

/* Connect, send req, wait up to timeout_ms; returns the decoded answer. */
static Homa__Ctl__Response *
homactl_ask(const char *path, const Homa__Ctl__Request *req, int timeout_ms)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = homa__ctl__request__get_packed_size(req);
	uint8_t out[HOMACTL_MAX_SET_KEY + HOMACTL_MAX_SET_VALUE + 64], *in;
	struct pollfd pfd;
	struct iovec iov;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	Homa__Ctl__Response *resp;
	ssize_t n;
	int fd, rc;

	if (len > sizeof(out))
		homactl_fail("request too large");
	homa__ctl__request__pack(req, out);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		homactl_fail("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		homactl_fail("cannot connect to %s: %s (is homad running?)",
			     path, strerror(errno));
	if (send(fd, out, len, MSG_NOSIGNAL) != (ssize_t)len)
		homactl_fail("cannot send to %s: %s", path, strerror(errno));

	pfd.fd = fd;
	pfd.events = POLLIN;
	do
		rc = poll(&pfd, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		homactl_fail("poll: %s", strerror(errno));
	if (rc == 0)
		homactl_fail("no answer from homad within %d ms", timeout_ms);

	in = malloc(HOMACTL_MAX_ANSWER);
	if (in == NULL)
		homactl_fail("out of memory");
	iov.iov_base = in;
	iov.iov_len = HOMACTL_MAX_ANSWER;
	n = recvmsg(fd, &mh, 0);
	if (n < 0)
		homactl_fail("cannot read the answer: %s", strerror(errno));
	if (n == 0)
		homactl_fail("homad closed the connection without answering "
			     "(too many connections?)");
	if (mh.msg_flags & MSG_TRUNC)
		homactl_fail("answer larger than %u bytes", HOMACTL_MAX_ANSWER);
	close(fd);
	resp = homa__ctl__response__unpack(NULL, (size_t)n, in);
	free(in);
	if (resp == NULL)
		homactl_fail("cannot decode homad's answer (%zd bytes): "
			     "different version?",
			     n);
	return resp;
}

static int homactl_parse_timeout(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v == 0 ||
	    v > HOMACTL_MAX_TIMEOUT)
		return -1;
	return (int)v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const struct homactl_output *out = &homactl_outputs[0];
	const struct homactl_cmd *cmd = NULL;
	Homa__Ctl__Request req = HOMA__CTL__REQUEST__INIT;
	Homa__Ctl__StatusRequest sreq = HOMA__CTL__STATUS_REQUEST__INIT;
	Homa__Ctl__MetricsRequest mreq = HOMA__CTL__METRICS_REQUEST__INIT;
	Homa__Ctl__SetRequest setreq = HOMA__CTL__SET_REQUEST__INIT;
	Homa__Ctl__Response *resp;
	const char *path = getenv("HOMAD_SOCKET");
	int timeout_ms = HOMACTL_DEFAULT_TIMEOUT;
	int opt;

	if (path == NULL || path[0] == '\0')
		path = HOMACTL_DEFAULT_SOCKET;
	while ((opt = getopt_long(argc, argv, "+s:jt:h", longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'j':
			out = &homactl_outputs[1];
			break;
		case 't':
			timeout_ms = homactl_parse_timeout(optarg);
			if (timeout_ms < 0) {
				fprintf(stderr,
					"homactl: -t: \"%s\" is not a timeout "
					"in ms (1..%d)\n",
					optarg, HOMACTL_MAX_TIMEOUT);
				return 2;
			}
			break;
		case 'h':
			homactl_usage(stdout);
			return 0;
		default:
			homactl_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "homactl: no command given\n");
		homactl_usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < sizeof(homactl_cmds) / sizeof(homactl_cmds[0]);
	     i++)
		if (strcmp(argv[optind], homactl_cmds[i].name) == 0)
			cmd = &homactl_cmds[i];
	if (cmd == NULL) {
		fprintf(stderr, "homactl: unknown command \"%s\"\n",
			argv[optind]);
		homactl_usage(stderr);
		return 2;
	}
	if (argc - optind - 1 != cmd->nargs) {
		if (cmd->nargs == 0)
			fprintf(stderr, "homactl: one command at a time\n");
		else
			fprintf(stderr, "homactl: usage: homactl %s %s\n",
				cmd->name, cmd->args);
		homactl_usage(stderr);
		return 2;
	}
	if (cmd->cmd == HOMA__CTL__REQUEST__CMD_SET &&
	    (strlen(argv[optind + 1]) > HOMACTL_MAX_SET_KEY ||
	     strlen(argv[optind + 2]) > HOMACTL_MAX_SET_VALUE)) {
		fprintf(stderr,
			"homactl: set: key or value too long (%d and %d "
			"characters at most)\n",
			HOMACTL_MAX_SET_KEY, HOMACTL_MAX_SET_VALUE);
		return 2;
	}
	if (path[0] == '\0' ||
	    strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		fprintf(stderr, "homactl: socket path is empty or too long\n");
		return 2;
	}

	req.cmd_case = cmd->cmd;
	if (cmd->cmd == HOMA__CTL__REQUEST__CMD_STATUS) {
		req.status = &sreq;
	} else if (cmd->cmd == HOMA__CTL__REQUEST__CMD_SET) {
		setreq.key = argv[optind + 1];
		setreq.value = argv[optind + 2];
		req.set = &setreq;
	} else {
		req.metrics = &mreq;
	}
	resp = homactl_ask(path, &req, timeout_ms);
	if (resp->error != 0) {
		const char *text = homactl_str(resp->error_text);

		fputs("homactl: homad: ", stderr);
		if (text[0] != '\0') {
			for (const char *p = text; *p != '\0'; p++)
				fputc((unsigned char)*p < 0x20 ? '?' : *p,
				      stderr);
		} else {
			fputs(strerror(resp->error > 0 ? resp->error : EIO),
			      stderr);
		}
		fputc('\n', stderr);
		homa__ctl__response__free_unpacked(resp, NULL);
		return 1;
	}
	if (resp->body_case != cmd->body)
		homactl_fail("homad answered \"%s\" with something else (body "
			     "%d): different version?",
			     cmd->name, (int)resp->body_case);
	if (cmd->body == HOMA__CTL__RESPONSE__BODY_SET) {
		if (resp->set == NULL)
			homactl_fail("bad answer: empty set result");
		out->set(resp->set);
	} else if (cmd->body == HOMA__CTL__RESPONSE__BODY_STATUS) {
		if (resp->status == NULL)
			homactl_fail("bad answer: empty status");
		homactl_check_status(resp->status);
		out->status(resp->status);
	} else {
		if (resp->metrics == NULL)
			homactl_fail("bad answer: empty metrics");
		homactl_check_metrics(resp->metrics);
		out->metrics(resp->metrics);
	}
	homa__ctl__response__free_unpacked(resp, NULL);
	if (fflush(stdout) != 0 || ferror(stdout))
		homactl_fail("cannot write the output: %s", strerror(errno));
	return 0;
}
