/*
 * conf.c - homa.conf: read, type-check and range-check homad's settings.
 *
 * Every key lives in one table (conf_keys) that gives its group, name, type,
 * place in struct homa_config and allowed range; loading walks the file's
 * settings, finds each in the table and checks it there, so an unknown key,
 * a wrong type or an out-of-range value is always an error naming the file,
 * the line, the value and what is allowed.  Checks between keys follow in
 * conf_check_cross.  The result is built in a scratch copy and handed to the
 * caller only when the whole file is good.
 *
 * libconfig 1.5 has two traps that conf_scan closes before it parses: an
 * integer without an L suffix is silently cut to 32 bits (5000000000 reads
 * as 705032704), and 0660 reads as decimal 660.  Both are refused.  So is
 * @include: homa.conf is one file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <libconfig.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Largest homa.conf read; the real one is a few kilobytes. */
#define CONF_MAX_FILE_BYTES (1024 * 1024)

enum conf_kind {
	CK_U16,	    /* integer into uint16_t */
	CK_U32,	    /* integer into uint32_t */
	CK_U64,	    /* integer (int or int64) into uint64_t */
	CK_BOOL,    /* true/false into bool */
	CK_STRING,  /* string into char[max + 1] */
	CK_ENUM,    /* string from a name list into int */
	CK_MODE,    /* file mode: integer, or octal digits in a string */
	CK_CUTOFFS, /* exactly HOMA_NUM_PRIORITIES integers into uint32_t[] */
	CK_ADDRS,   /* up to HOMA_CONF_MAX_ADDRESSES address strings */
	CK_IFACES,  /* up to HOMA_CONF_MAX_INTERFACES interface names */
	CK_UIDS,    /* up to HOMA_CONF_MAX_BIND_IDS user names or uids */
	CK_GIDS,    /* up to HOMA_CONF_MAX_BIND_IDS group names or gids */
	CK_PEERS,   /* top-level list of { prefix; rate_mbps; } groups */
	CK_PROB,    /* probability: a float (or the integer 0 or 1) in
		       0.0..1.0 into double */
};

/* Key flags. */
#define CF_ZERO_OK 0x1 /* integer: 0 is allowed besides min..max */
#define CF_POW2	   0x2 /* integer: must be a power of two */
#define CF_ABSPATH 0x4 /* string: must be an absolute path */
#define CF_NAME	   0x8 /* string: "" or a user/group name */
/*
 * Fixed while homad runs (sockets, rings, privileges, the completion
 * queue's size): a reload keeps the running value, `homactl set` refuses.
 */
#define CF_RESTART 0x10

/* One name of an enumerated string key and the value it stands for. */
struct conf_enum {
	const char *name;
	int value;
};

/*
 * One key of homa.conf.  min/max bound integers (and each element of an
 * integer array); for CK_STRING, max is the longest allowed string.  A
 * key whose group is "" stands at the top level of the file (peers).
 */
struct conf_key {
	const char *group;
	const char *name;
	enum conf_kind kind;
	size_t off; /* offset in struct homa_config */
	int64_t min;
	int64_t max;
	unsigned flags;
	const struct conf_enum *names; /* CK_ENUM: ends with a NULL name */
};

static const struct conf_enum conf_link_names[] = {
	{"ip", HOMA_LINK_IP},
	{"udp", HOMA_LINK_UDP},
	{NULL, 0},
};

static const struct conf_enum conf_log_names[] = {
	{"err", LOG_LEVEL_ERR},	      {"warning", LOG_LEVEL_WARNING},
	{"notice", LOG_LEVEL_NOTICE}, {"info", LOG_LEVEL_INFO},
	{"debug", LOG_LEVEL_DEBUG},   {NULL, 0},
};

static const struct conf_enum conf_ring_wait_names[] = {
	{"io_uring", HOMA_RING_WAIT_URING},
	{"poll", HOMA_RING_WAIT_POLL},
	{NULL, 0},
};

_Static_assert(sizeof(enum homa_link_kind) == sizeof(int),
	       "CK_ENUM stores an int");
_Static_assert(sizeof(enum homa_ring_wait) == sizeof(int),
	       "CK_ENUM stores an int");

#define OFF(field) offsetof(struct homa_config, field)
#define TIB	   (INT64_C(1) << 40)

#define PROTO(kind, field, lo, hi)                                          \
	{                                                                   \
		"protocol", #field, kind, OFF(proto.field), lo, hi, 0, NULL \
	}
#define KEY(group, name, kind, field, lo, hi, flags)               \
	{                                                          \
		group, name, kind, OFF(field), lo, hi, flags, NULL \
	}

/*
 * The keys, in the order of conf/homa.conf and homa.conf(5); the ranges
 * here are the ones those documents give.
 */
static const struct conf_key conf_keys[] = {
	PROTO(CK_U32, link_mbps, 1, 1000000),
	PROTO(CK_U32, unsched_bytes, 1, 1000000),
	PROTO(CK_U32, max_nic_est_backlog_usecs, 0, 10000),
	PROTO(CK_U32, max_nic_queue_usecs, 1, 100000),
	PROTO(CK_U32, defer_min_bytes, 0, 1000000),
	PROTO(CK_U32, pacer_fifo_fraction, 0, 500),
	PROTO(CK_U32, max_overcommit, 1, 128),
	{"protocol", "max_incoming", CK_U32, OFF(proto.max_incoming), 1,
	 1000000000, CF_ZERO_OK, NULL},
	PROTO(CK_U32, max_sched_prio, 0, 7),
	PROTO(CK_U32, num_priorities, 1, HOMA_NUM_PRIORITIES),
	PROTO(CK_U32, fifo_grant_increment, 1, 1000000),
	PROTO(CK_U32, grant_fifo_fraction, 0, 500),
	PROTO(CK_CUTOFFS, unsched_cutoffs, 0, HOMA_MAX_MESSAGE_LENGTH),
	PROTO(CK_U32, cutoff_version, 1, 65535),
	PROTO(CK_U32, resend_ticks, 1, 10000),
	PROTO(CK_U32, resend_interval, 1, 10000),
	PROTO(CK_U32, timeout_ticks, 2, 100000),
	PROTO(CK_U32, request_ack_ticks, 1, 10000),
	PROTO(CK_U32, reap_limit, 1, 10000),
	PROTO(CK_U32, dead_buffs_limit, 1, 10000000),
	PROTO(CK_U64, wmem_max, 1, TIB),
	PROTO(CK_U32, tick_usecs, 100, 100000),
	PROTO(CK_U32, max_rpcs_per_peer, 1, 10000000),
	PROTO(CK_U32, peer_pool_percent, 1, 100),
	PROTO(CK_U32, max_sockets, 1, 1048576),
	PROTO(CK_U32, max_gaps, 1, 65536),
	{"protocol", "need_ack_timeout", CK_U32, OFF(proto.need_ack_timeout), 1,
	 10000, CF_ZERO_OK, NULL},
	{"protocol", "live_peer_resends", CK_U32, OFF(proto.live_peer_resends),
	 1, 10000, CF_ZERO_OK, NULL},
	{"protocol", "stalled_peer_ticks", CK_U32,
	 OFF(proto.stalled_peer_ticks), 3, 1000000, CF_ZERO_OK, NULL},
	{"protocol", "resend_peer_limit", CK_U32, OFF(proto.resend_peer_limit),
	 1, 100000, CF_ZERO_OK, NULL},
	{"protocol", "peer_window_usecs", CK_U32, OFF(proto.peer_window_usecs),
	 1, 1000000, CF_ZERO_OK, NULL},
	{"protocol", "grant_pace_factor", CK_U32, OFF(proto.grant_pace_factor),
	 1, 64, CF_ZERO_OK, NULL},
	PROTO(CK_U32, unsched_from_rtt, 0, 1),
	{"protocol", "incast_threshold", CK_U32, OFF(proto.incast_threshold), 1,
	 10000000, CF_ZERO_OK, NULL},
	PROTO(CK_U32, incast_unsched_bytes, 1, HOMA_MAX_MESSAGE_LENGTH),
	{"protocol", "grant_threshold", CK_U32, OFF(proto.grant_threshold), 1,
	 1000000, CF_ZERO_OK, NULL},

	{"network", "link", CK_ENUM, OFF(link), 0, 0, CF_RESTART,
	 conf_link_names},
	KEY("network", "udp_port", CK_U16, udp_port, 1, 65535, CF_RESTART),
	KEY("network", "ipv4", CK_BOOL, ipv4, 0, 1, CF_RESTART),
	KEY("network", "ipv6", CK_BOOL, ipv6, 0, 1, CF_RESTART),
	KEY("network", "addresses", CK_ADDRS, addresses, 0, 0, CF_RESTART),
	KEY("network", "interfaces", CK_IFACES, interfaces, 0, 0, CF_RESTART),
	KEY("network", "mtu", CK_U32, mtu, 576, 65535, CF_ZERO_OK | CF_RESTART),
	KEY("network", "rx_buffers", CK_U32, rx_buffers, 16, 32768,
	    CF_POW2 | CF_RESTART),
	KEY("network", "tx_queue", CK_U32, tx_queue, 16, 1048576, CF_RESTART),
	KEY("network", "ring_entries", CK_U32, ring_entries, 8, 32768,
	    CF_RESTART),
	KEY("network", "rcvbuf", CK_U32, rcvbuf, 1024, 1073741824,
	    CF_ZERO_OK | CF_RESTART),
	{"network", "ring_wait", CK_ENUM, OFF(ring_wait), 0, 0, CF_RESTART,
	 conf_ring_wait_names},
	KEY("network", "spin_us", CK_U32, spin_us, 1, 1000000, CF_ZERO_OK),

	KEY("control", "socket", CK_STRING, control_socket, 0,
	    sizeof(((struct homa_config *)0)->control_socket) - 1,
	    CF_ABSPATH | CF_RESTART),
	KEY("control", "socket_mode", CK_MODE, socket_mode, 0, 0777,
	    CF_RESTART),
	KEY("control", "socket_group", CK_STRING, socket_group, 0,
	    sizeof(((struct homa_config *)0)->socket_group) - 1,
	    CF_NAME | CF_RESTART),

	KEY("clients", "socket", CK_STRING, client_socket, 0,
	    sizeof(((struct homa_config *)0)->client_socket) - 1,
	    CF_ABSPATH | CF_RESTART),
	KEY("clients", "socket_mode", CK_MODE, client_socket_mode, 0, 0777,
	    CF_RESTART),
	KEY("clients", "socket_group", CK_STRING, client_socket_group, 0,
	    sizeof(((struct homa_config *)0)->client_socket_group) - 1,
	    CF_NAME | CF_RESTART),
	KEY("clients", "bind_users", CK_UIDS, bind_uids, 0, UINT32_MAX - 1, 0),
	KEY("clients", "bind_groups", CK_GIDS, bind_gids, 0, UINT32_MAX - 1, 0),
	KEY("clients", "max_inline", CK_U32, max_inline, 0, 16384, 0),
	KEY("clients", "direct_send_groups", CK_GIDS, direct_gids, 0,
	    UINT32_MAX - 1, 0),
	KEY("clients", "direct_receive", CK_BOOL, direct_receive, 0, 1, 0),

	KEY("daemon", "user", CK_STRING, user, 0,
	    sizeof(((struct homa_config *)0)->user) - 1, CF_NAME | CF_RESTART),
	{"daemon", "log_level", CK_ENUM, OFF(log_level), 0, 0, 0,
	 conf_log_names},

	KEY("limits", "max_clients", CK_U32, max_clients, 1, 65536, CF_RESTART),
	KEY("limits", "max_sockets_per_client", CK_U32, max_sockets_per_client,
	    1, 4096, 0),
	KEY("limits", "max_direct_sockets", CK_U32, max_direct_sockets, 0,
	    65536, 0),
	KEY("limits", "max_rpcs", CK_U32, max_rpcs, 1, 10000000, 0),
	KEY("limits", "max_peers", CK_U32, max_peers, 1, 1000000, 0),
	KEY("limits", "max_memory", CK_U64, max_memory, 1048576, TIB, 0),
	KEY("limits", "max_client_memory", CK_U64, max_client_memory, 1048576,
	    TIB, 0),
	KEY("limits", "max_rpcs_per_client", CK_U32, max_rpcs_per_client, 1,
	    10000000, 0),

	KEY("", "peers", CK_PEERS, proto.rate_rules, 0, 0, 0),

	KEY("test", "seed", CK_U64, test.seed, 0, INT64_MAX, 0),
	KEY("test", "rx_drop", CK_PROB, test.rx_drop, 0, 1, 0),
	KEY("test", "tx_drop", CK_PROB, test.tx_drop, 0, 1, 0),
	KEY("test", "rx_dup", CK_PROB, test.rx_dup, 0, 1, 0),
	KEY("test", "tx_dup", CK_PROB, test.tx_dup, 0, 1, 0),
	KEY("test", "rx_reorder", CK_PROB, test.rx_reorder, 0, 1, 0),
	KEY("test", "tx_reorder", CK_PROB, test.tx_reorder, 0, 1, 0),
	KEY("test", "rx_reorder_us", CK_U32, test.rx_reorder_us, 1,
	    FAULT_MAX_HOLD_US, 0),
	KEY("test", "tx_reorder_us", CK_U32, test.tx_reorder_us, 1,
	    FAULT_MAX_HOLD_US, 0),
	KEY("test", "rx_delay", CK_PROB, test.rx_delay, 0, 1, 0),
	KEY("test", "tx_delay", CK_PROB, test.tx_delay, 0, 1, 0),
	KEY("test", "rx_delay_us", CK_U32, test.rx_delay_us, 1,
	    FAULT_MAX_HOLD_US, 0),
	KEY("test", "tx_delay_us", CK_U32, test.tx_delay_us, 1,
	    FAULT_MAX_HOLD_US, 0),
	KEY("test", "max_held", CK_U32, test.max_held, 1, FAULT_MAX_HELD, 0),
};

static const char *const conf_groups[] = {
	"protocol", "network", "control", "clients", "daemon", "limits", "test",
};

/* Longest value config_set takes. */
#define CONF_SET_MAX_VALUE 256

/* rate_mbps of a peers entry (the range of protocol.link_mbps). */
static const struct conf_key conf_rate_key = {
	"", "rate_mbps", CK_U32, 0, 1, 1000000, 0, NULL,
};

/*
 * State of one load: where errors go and the line each key was set on.
 * path NULL (config_set): messages carry no file and line, and name keys
 * as group.name.
 */
struct conf_ctx {
	const char *path;
	char *err;
	size_t errlen;
	int lines[ARRAY_SIZE(conf_keys)]; /* 0: not in the file */
};

/* Write "path:line: message" (or "path: message" for line 0) to ctx->err. */
static void conf_error(struct conf_ctx *ctx, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void conf_error(struct conf_ctx *ctx, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ctx->err == NULL || ctx->errlen == 0)
		return;
	if (ctx->path == NULL)
		snprintf(ctx->err, ctx->errlen, "%s", msg);
	else if (line > 0)
		snprintf(ctx->err, ctx->errlen, "%s:%d: %s", ctx->path, line,
			 msg);
	else
		snprintf(ctx->err, ctx->errlen, "%s: %s", ctx->path, msg);
}

static const struct conf_key *conf_key_find(const char *group, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(conf_keys); i++)
		if ((group == NULL || strcmp(conf_keys[i].group, group) == 0) &&
		    strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	return NULL;
}

static bool conf_group_known(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(conf_groups); i++)
		if (strcmp(conf_groups[i], name) == 0)
			return true;
	return false;
}

/* "min..max" (or "0 or min..max", "0..0777") for key k. */
static void conf_range_text(const struct conf_key *k, char *buf, size_t n)
{
	if (k->kind == CK_MODE)
		snprintf(buf, n, "0..0%" PRIo64, k->max);
	else if (k->kind == CK_PROB)
		snprintf(buf, n, "0.0..1.0");
	else if (k->flags & CF_ZERO_OK)
		snprintf(buf, n, "0 or %" PRId64 "..%" PRId64, k->min, k->max);
	else
		snprintf(buf, n, "%" PRId64 "..%" PRId64, k->min, k->max);
}

/* A setting's value as it could be written in the file, for messages. */
static void conf_value_text(const config_setting_t *s, char *buf, size_t n)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		snprintf(buf, n, "%d", config_setting_get_int(s));
		break;
	case CONFIG_TYPE_INT64:
		snprintf(buf, n, "%lldL", config_setting_get_int64(s));
		break;
	case CONFIG_TYPE_FLOAT:
		snprintf(buf, n, "%g", config_setting_get_float(s));
		break;
	case CONFIG_TYPE_BOOL:
		snprintf(buf, n, "%s",
			 config_setting_get_bool(s) ? "true" : "false");
		break;
	case CONFIG_TYPE_STRING: {
		const char *str = config_setting_get_string(s);

		if (strlen(str) > 64)
			snprintf(buf, n, "\"%.60s...\"", str);
		else
			snprintf(buf, n, "\"%s\"", str);
		break;
	}
	case CONFIG_TYPE_GROUP:
		snprintf(buf, n, "{ ... }");
		break;
	case CONFIG_TYPE_ARRAY:
		snprintf(buf, n, "[ ... ]");
		break;
	case CONFIG_TYPE_LIST:
		snprintf(buf, n, "( ... )");
		break;
	default:
		snprintf(buf, n, "?");
		break;
	}
}

static int conf_line(const config_setting_t *s)
{
	return config_setting_source_line(s);
}

static int conf_wrong_type(struct conf_ctx *ctx, const char *name,
			   const config_setting_t *s, const char *expected)
{
	char val[96];

	conf_value_text(s, val, sizeof(val));
	conf_error(ctx, conf_line(s),
		   "%s = %s has the wrong type (%s expected)", name, val,
		   expected);
	return -EINVAL;
}

/*
 * Read an integer setting s, called name in messages, into *out and check
 * it against key k's range and flags.  Returns 0 or -EINVAL (message set).
 */
static int conf_get_int(struct conf_ctx *ctx, const struct conf_key *k,
			const char *name, const config_setting_t *s,
			int64_t *out)
{
	char range[64];
	int64_t v;

	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else
		return conf_wrong_type(ctx, name, s, "integer");
	if ((v < k->min || v > k->max) &&
	    !(v == 0 && (k->flags & CF_ZERO_OK))) {
		conf_range_text(k, range, sizeof(range));
		conf_error(ctx, conf_line(s),
			   "%s = %" PRId64 " is out of range (%s)", name, v,
			   range);
		return -EINVAL;
	}
	if ((k->flags & CF_POW2) && (v & (v - 1)) != 0) {
		conf_error(ctx, conf_line(s),
			   "%s = %" PRId64 " is not a power of two", name, v);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* A probability: a float, or the integer 0 or 1, in 0.0..1.0. */
static int conf_get_prob(struct conf_ctx *ctx, const struct conf_key *k,
			 const char *name, const config_setting_t *s,
			 double *out)
{
	char range[64], val[96];
	double v;

	if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
		v = config_setting_get_float(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = (double)config_setting_get_int64(s);
	else
		return conf_wrong_type(ctx, name, s, "number 0.0..1.0");
	if (!(v >= 0.0 && v <= 1.0)) { /* NaN too */
		conf_value_text(s, val, sizeof(val));
		conf_range_text(k, range, sizeof(range));
		conf_error(ctx, conf_line(s), "%s = %s is out of range (%s)",
			   name, val, range);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* socket_mode: an integer, or a string of octal digits such as "0660". */
static int conf_get_mode(struct conf_ctx *ctx, const struct conf_key *k,
			 const config_setting_t *s, uint32_t *out)
{
	const char *str, *p;
	int64_t v;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		if (config_setting_type(s) != CONFIG_TYPE_INT &&
		    config_setting_type(s) != CONFIG_TYPE_INT64)
			return conf_wrong_type(ctx, k->name, s,
					       "integer or octal string");
		if (conf_get_int(ctx, k, k->name, s, &v) < 0)
			return -EINVAL;
		*out = (uint32_t)v;
		return 0;
	}
	str = config_setting_get_string(s);
	v = 0;
	for (p = str; *p != '\0' && p - str < 6; p++) {
		if (*p < '0' || *p > '7')
			break;
		v = v * 8 + (*p - '0');
	}
	if (*p != '\0' || p == str || v > k->max) {
		conf_error(ctx, conf_line(s),
			   "%s = \"%.32s\" is not an octal mode in 0..0%" PRIo64
			   " (e.g. \"0660\")",
			   k->name, str, k->max);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

/* A user or group name: no '/', ':', blanks or control characters. */
static bool conf_name_ok(const char *s)
{
	if (s[0] == '-')
		return false;
	for (; *s != '\0'; s++)
		if (*s == '/' || *s == ':' || (unsigned char)*s <= ' ' ||
		    *s == 0x7f)
			return false;
	return true;
}

static int conf_get_string(struct conf_ctx *ctx, const struct conf_key *k,
			   const config_setting_t *s, char *out)
{
	const char *str;
	char val[96];

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return conf_wrong_type(ctx, k->name, s, "string");
	str = config_setting_get_string(s);
	conf_value_text(s, val, sizeof(val));
	if ((int64_t)strlen(str) > k->max) {
		conf_error(ctx, conf_line(s),
			   "%s = %s is too long (at most %" PRId64
			   " characters)",
			   k->name, val, k->max);
		return -EINVAL;
	}
	if ((k->flags & CF_ABSPATH) && str[0] != '/') {
		conf_error(ctx, conf_line(s), "%s = %s is not an absolute path",
			   k->name, val);
		return -EINVAL;
	}
	if ((k->flags & CF_NAME) && !conf_name_ok(str)) {
		conf_error(ctx, conf_line(s),
			   "%s = %s is not a valid %s name (no '/', ':', "
			   "blanks, or leading '-')",
			   k->name, val,
			   strcmp(k->name, "user") == 0 ? "user" : "group");
		return -EINVAL;
	}
	memcpy(out, str, strlen(str) + 1);
	return 0;
}

static int conf_get_enum(struct conf_ctx *ctx, const struct conf_key *k,
			 const config_setting_t *s, int *out)
{
	char allowed[128] = "", val[96];
	const char *str;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return conf_wrong_type(ctx, k->name, s, "string");
	str = config_setting_get_string(s);
	for (const struct conf_enum *e = k->names; e->name != NULL; e++) {
		if (strcmp(e->name, str) == 0) {
			*out = e->value;
			return 0;
		}
		if (allowed[0] != '\0')
			strncat(allowed, ", ",
				sizeof(allowed) - strlen(allowed) - 1);
		strncat(allowed, e->name,
			sizeof(allowed) - strlen(allowed) - 1);
	}
	conf_value_text(s, val, sizeof(val));
	conf_error(ctx, conf_line(s), "%s = %s is not allowed (%s)", k->name,
		   val, allowed);
	return -EINVAL;
}

/* Check that s is an array or list of at most max elements. */
static int conf_get_array(struct conf_ctx *ctx, const struct conf_key *k,
			  const config_setting_t *s, const char *expected,
			  unsigned max)
{
	int type = config_setting_type(s);
	unsigned n;

	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
		return conf_wrong_type(ctx, k->name, s, expected);
	n = (unsigned)config_setting_length(s);
	if (n > max) {
		conf_error(ctx, conf_line(s),
			   "%s has %u elements (at most %u allowed)", k->name,
			   n, max);
		return -EINVAL;
	}
	return (int)n;
}

/* Line of element e of an array, or of the array itself. */
static int conf_elem_line(const config_setting_t *arr,
			  const config_setting_t *e)
{
	return conf_line(e) > 0 ? conf_line(e) : conf_line(arr);
}

static int conf_get_cutoffs(struct conf_ctx *ctx, const struct conf_key *k,
			    const config_setting_t *s, uint32_t *out)
{
	char name[64];
	int64_t v;
	int n;

	n = conf_get_array(ctx, k, s, "array of 8 integers", UINT_MAX);
	if (n < 0)
		return n;
	if (n != HOMA_NUM_PRIORITIES) {
		conf_error(ctx, conf_line(s),
			   "%s has %d elements (exactly %d expected)", k->name,
			   n, HOMA_NUM_PRIORITIES);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s[%d]", k->name, i);
		if (conf_get_int(ctx, k, name, config_setting_get_elem(s, i),
				 &v) < 0)
			return -EINVAL;
		out[i] = (uint32_t)v;
	}
	return 0;
}

/*
 * Element i (e) of list key k as a string, with its text as written in
 * val (for messages); NULL after reporting a wrong type.
 */
static const char *conf_elem_string(struct conf_ctx *ctx,
				    const struct conf_key *k,
				    const config_setting_t *e, int i, char *val,
				    size_t vlen)
{
	if (config_setting_type(e) != CONFIG_TYPE_STRING) {
		snprintf(val, vlen, "%s[%d]", k->name, i);
		conf_wrong_type(ctx, val, e, "string");
		return NULL;
	}
	conf_value_text(e, val, vlen);
	return config_setting_get_string(e);
}

static int conf_get_addrs(struct conf_ctx *ctx, const struct conf_key *k,
			  const config_setting_t *s, struct homa_config *cfg)
{
	struct homa_conf_addr a;
	const config_setting_t *e;
	const char *str;
	char val[96];
	int n;

	n = conf_get_array(ctx, k, s, "array of strings",
			   HOMA_CONF_MAX_ADDRESSES);
	if (n < 0)
		return n;
	cfg->n_addresses = 0;
	for (int i = 0; i < n; i++) {
		e = config_setting_get_elem(s, i);
		str = conf_elem_string(ctx, k, e, i, val, sizeof(val));
		if (str == NULL)
			return -EINVAL;
		memset(&a, 0, sizeof(a));
		if (inet_pton(AF_INET, str, &a.a.v4) == 1)
			a.family = AF_INET;
		else if (inet_pton(AF_INET6, str, &a.a.v6) == 1)
			a.family = AF_INET6;
		if (a.family == 0) {
			conf_error(ctx, conf_elem_line(s, e),
				   "%s[%d] = %s is not an IPv4 or IPv6 address",
				   k->name, i, val);
			return -EINVAL;
		}
		inet_ntop(a.family, &a.a, a.text, sizeof(a.text));
		for (unsigned j = 0; j < cfg->n_addresses; j++) {
			if (strcmp(cfg->addresses[j].text, a.text) == 0) {
				conf_error(ctx, conf_elem_line(s, e),
					   "%s[%d] = %s is listed twice",
					   k->name, i, val);
				return -EINVAL;
			}
		}
		cfg->addresses[cfg->n_addresses++] = a;
	}
	return 0;
}

/* Linux's rule for device names: 1..15 bytes, no '/', ':' or blanks. */
static bool conf_ifname_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= IF_NAMESIZE || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0)
		return false;
	for (; *s != '\0'; s++)
		if (*s == '/' || *s == ':' || (unsigned char)*s <= ' ' ||
		    *s == 0x7f)
			return false;
	return true;
}

static int conf_get_ifaces(struct conf_ctx *ctx, const struct conf_key *k,
			   const config_setting_t *s, struct homa_config *cfg)
{
	const config_setting_t *e;
	const char *str;
	char val[96];
	int n;

	n = conf_get_array(ctx, k, s, "array of strings",
			   HOMA_CONF_MAX_INTERFACES);
	if (n < 0)
		return n;
	cfg->n_interfaces = 0;
	for (int i = 0; i < n; i++) {
		e = config_setting_get_elem(s, i);
		str = conf_elem_string(ctx, k, e, i, val, sizeof(val));
		if (str == NULL)
			return -EINVAL;
		if (!conf_ifname_ok(str)) {
			conf_error(ctx, conf_elem_line(s, e),
				   "%s[%d] = %s is not an interface name "
				   "(1..%d characters, no '/', ':' or blanks)",
				   k->name, i, val, IF_NAMESIZE - 1);
			return -EINVAL;
		}
		for (unsigned j = 0; j < cfg->n_interfaces; j++) {
			if (strcmp(cfg->interfaces[j], str) == 0) {
				conf_error(ctx, conf_elem_line(s, e),
					   "%s[%d] = %s is listed twice",
					   k->name, i, val);
				return -EINVAL;
			}
		}
		memcpy(cfg->interfaces[cfg->n_interfaces++], str,
		       strlen(str) + 1);
	}
	return 0;
}

/*
 * A user (uids) or group name, or a numeric id, to an id: getpwnam_r /
 * getgrnam_r, so names are resolved when the file is loaded.  Returns 0,
 * -ENOENT for an unknown name, or another -errno.
 */
static int conf_resolve_id(const char *name, bool uids, uint32_t *id)
{
	char buf[16384];
	char *end;
	unsigned long long v;
	int r;

	if (name[0] >= '0' && name[0] <= '9') {
		errno = 0;
		v = strtoull(name, &end, 10);
		if (*end != '\0')
			return -ENOENT; /* "1abc": a name, and not a known one
					 */
		if (errno != 0 || v >= UINT32_MAX)
			return -ERANGE;
		*id = (uint32_t)v;
		return 0;
	}
	if (uids) {
		struct passwd pw, *res = NULL;

		r = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
		if (r == 0 && res != NULL) {
			*id = (uint32_t)res->pw_uid;
			return 0;
		}
	} else {
		struct group gr, *res = NULL;

		r = getgrnam_r(name, &gr, buf, sizeof(buf), &res);
		if (r == 0 && res != NULL) {
			*id = (uint32_t)res->gr_gid;
			return 0;
		}
	}
	/* Not found: no error, or one NSS modules give for "no entry". */
	if (r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
		return -ENOENT;
	return -r;
}

/*
 * bind_users / bind_groups: an array or list of names (resolved now) and
 * numeric ids, as strings ("1001") or integers; none twice.
 */
static int conf_get_ids(struct conf_ctx *ctx, const struct conf_key *k,
			const config_setting_t *s, struct homa_config *cfg)
{
	bool uids = k->kind == CK_UIDS;
	bool direct = k->off == OFF(direct_gids);
	unsigned *np = uids	? &cfg->n_bind_uids
		       : direct ? &cfg->n_direct_gids
				: &cfg->n_bind_gids;
	uint32_t *ids = uids	 ? cfg->bind_uids
			: direct ? cfg->direct_gids
				 : cfg->bind_gids;
	const char *what = uids ? "user" : "group";
	const config_setting_t *e;
	char val[96], name[80];
	uint32_t id;
	int n, r;

	n = conf_get_array(ctx, k, s,
			   uids ? "list of user names or uids"
				: "list of group names or gids",
			   HOMA_CONF_MAX_BIND_IDS);
	if (n < 0)
		return n;
	*np = 0;
	for (int i = 0; i < n; i++) {
		e = config_setting_get_elem(s, i);
		snprintf(name, sizeof(name), "%s[%d]", k->name, i);
		conf_value_text(e, val, sizeof(val));
		if (config_setting_type(e) == CONFIG_TYPE_INT ||
		    config_setting_type(e) == CONFIG_TYPE_INT64) {
			int64_t v;

			if (conf_get_int(ctx, k, name, e, &v) < 0)
				return -EINVAL;
			id = (uint32_t)v;
		} else if (config_setting_type(e) == CONFIG_TYPE_STRING) {
			const char *str = config_setting_get_string(e);

			if (str[0] == '\0' || !conf_name_ok(str)) {
				conf_error(ctx, conf_elem_line(s, e),
					   "%s = %s is not a valid %s name "
					   "(no '/', ':', blanks, or leading "
					   "'-')",
					   name, val, what);
				return -EINVAL;
			}
			r = conf_resolve_id(str, uids, &id);
			if (r == -ERANGE) {
				conf_error(ctx, conf_elem_line(s, e),
					   "%s = %s is out of range (0..%u)",
					   name, val, UINT32_MAX - 1);
				return -EINVAL;
			}
			if (r == -ENOENT) {
				conf_error(ctx, conf_elem_line(s, e),
					   "%s = %s is not a known %s", name,
					   val, what);
				return -EINVAL;
			}
			if (r < 0) {
				conf_error(ctx, conf_elem_line(s, e),
					   "%s = %s: cannot look up the %s: %s",
					   name, val, what, strerror(-r));
				return -EINVAL;
			}
		} else {
			return conf_wrong_type(ctx, name, e,
					       uids ? "user name or uid"
						    : "group name or gid");
		}
		for (unsigned j = 0; j < *np; j++) {
			if (ids[j] == id) {
				conf_error(ctx, conf_elem_line(s, e),
					   "%s = %s is listed twice (%s %u)",
					   name, val, uids ? "uid" : "gid", id);
				return -EINVAL;
			}
		}
		ids[(*np)++] = id;
	}
	return 0;
}

/*
 * "10.0.0.0/24", "fd00::/64" or a plain address (a prefix of full
 * length) into a rule's prefix: IPv4 v4-mapped, prefix_len 96 + n.
 * Returns 0, or -EINVAL with the reason in why.
 */
static int conf_parse_prefix(const char *str, struct homa_rate_rule *rule,
			     const char **why)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(str, '/');
	size_t alen = slash ? (size_t)(slash - str) : strlen(str);
	unsigned long len, max;
	struct in_addr v4;
	char *end;
	bool is4;

	*why = "is not an IPv4 or IPv6 prefix (e.g. \"10.0.0.0/24\")";
	if (alen == 0 || alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, str, alen);
	addr[alen] = '\0';
	memset(&rule->prefix, 0, sizeof(rule->prefix));
	if (inet_pton(AF_INET, addr, &v4) == 1) {
		is4 = true;
		rule->prefix.in6.s6_addr[10] = 0xff;
		rule->prefix.in6.s6_addr[11] = 0xff;
		memcpy(&rule->prefix.in6.s6_addr[12], &v4, 4);
	} else if (inet_pton(AF_INET6, addr, &rule->prefix.in6) == 1) {
		is4 = false;
	} else {
		return -EINVAL;
	}
	max = is4 ? 32 : 128;
	len = max;
	if (slash) {
		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		errno = 0;
		len = strtoul(slash + 1, &end, 10);
		if (errno != 0 || *end != '\0' || len > max) {
			*why = is4 ? "has a prefix length out of range (0..32)"
				   : "has a prefix length out of range "
				     "(0..128)";
			return -EINVAL;
		}
	}
	rule->prefix_len = (uint8_t)(is4 ? 96 + len : len);
	for (unsigned b = rule->prefix_len; b < 128; b++) {
		if (rule->prefix.in6.s6_addr[b / 8] & (0x80 >> (b % 8))) {
			*why = "has address bits set past the prefix length";
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * The top-level peers list: at most HOMA_MAX_RATE_RULES groups of
 * exactly { prefix = "a/n"; rate_mbps = r; }, no prefix twice.
 */
static int conf_get_peers(struct conf_ctx *ctx, const struct conf_key *k,
			  const config_setting_t *s, struct homa_config *cfg)
{
	struct homa_params *p = &cfg->proto;
	const config_setting_t *e, *m;
	char name[80], val[96];
	int n;

	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return conf_wrong_type(ctx, k->name, s,
				       "list of { prefix; rate_mbps; } groups");
	n = conf_get_array(ctx, k, s, "list", HOMA_MAX_RATE_RULES);
	if (n < 0)
		return n;
	p->n_rate_rules = 0;
	for (int i = 0; i < n; i++) {
		struct homa_rate_rule rule;
		bool have_prefix = false, have_rate = false;
		const char *why;

		e = config_setting_get_elem(s, i);
		snprintf(name, sizeof(name), "%s[%d]", k->name, i);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			return conf_wrong_type(ctx, name, e,
					       "group { prefix; rate_mbps; }");
		memset(&rule, 0, sizeof(rule));
		for (int j = 0; j < config_setting_length(e); j++) {
			const char *mname;

			m = config_setting_get_elem(e, (unsigned)j);
			mname = config_setting_name(m);
			snprintf(name, sizeof(name), "%s[%d].%s", k->name, i,
				 mname);
			if (strcmp(mname, "prefix") == 0) {
				if (config_setting_type(m) !=
				    CONFIG_TYPE_STRING)
					return conf_wrong_type(ctx, name, m,
							       "string");
				conf_value_text(m, val, sizeof(val));
				if (conf_parse_prefix(
					    config_setting_get_string(m), &rule,
					    &why) < 0) {
					conf_error(ctx, conf_elem_line(e, m),
						   "%s = %s %s", name, val,
						   why);
					return -EINVAL;
				}
				have_prefix = true;
			} else if (strcmp(mname, "rate_mbps") == 0) {
				int64_t v;

				if (conf_get_int(ctx, &conf_rate_key, name, m,
						 &v) < 0)
					return -EINVAL;
				rule.mbps = (uint32_t)v;
				have_rate = true;
			} else {
				conf_error(ctx, conf_elem_line(e, m),
					   "unknown key '%s'", name);
				return -EINVAL;
			}
		}
		if (!have_prefix || !have_rate) {
			conf_error(ctx, conf_elem_line(s, e),
				   "%s[%d] has no %s", k->name, i,
				   have_prefix ? "rate_mbps" : "prefix");
			return -EINVAL;
		}
		for (unsigned j = 0; j < p->n_rate_rules; j++) {
			const struct homa_rate_rule *o = &p->rate_rules[j];

			if (o->prefix_len == rule.prefix_len &&
			    memcmp(&o->prefix, &rule.prefix,
				   sizeof(rule.prefix)) == 0) {
				conf_error(ctx, conf_elem_line(s, e),
					   "%s[%d].prefix is listed twice "
					   "(as %s[%u].prefix)",
					   k->name, i, k->name, j);
				return -EINVAL;
			}
		}
		p->rate_rules[p->n_rate_rules++] = rule;
	}
	return 0;
}

/* Check setting s against key k and store it in cfg. */
static int conf_key_apply(struct conf_ctx *ctx, const struct conf_key *k,
			  const config_setting_t *s, struct homa_config *cfg)
{
	char *field = (char *)cfg + k->off;
	const char *name = k->name;
	char qname[80];
	int64_t v;
	int iv;

	if (ctx->path == NULL) {
		snprintf(qname, sizeof(qname), "%s.%s", k->group, k->name);
		name = qname;
	}
	switch (k->kind) {
	case CK_PROB:
		return conf_get_prob(ctx, k, name, s, (double *)field);
	case CK_U16:
	case CK_U32:
	case CK_U64:
		if (conf_get_int(ctx, k, name, s, &v) < 0)
			return -EINVAL;
		if (k->kind == CK_U16)
			*(uint16_t *)field = (uint16_t)v;
		else if (k->kind == CK_U32)
			*(uint32_t *)field = (uint32_t)v;
		else
			*(uint64_t *)field = (uint64_t)v;
		return 0;
	case CK_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			return conf_wrong_type(ctx, name, s, "boolean");
		*(bool *)field = config_setting_get_bool(s) != 0;
		return 0;
	case CK_STRING:
		return conf_get_string(ctx, k, s, field);
	case CK_ENUM:
		if (conf_get_enum(ctx, k, s, &iv) < 0)
			return -EINVAL;
		*(int *)field = iv;
		return 0;
	case CK_MODE:
		return conf_get_mode(ctx, k, s, (uint32_t *)field);
	case CK_CUTOFFS:
		return conf_get_cutoffs(ctx, k, s, (uint32_t *)field);
	case CK_ADDRS:
		return conf_get_addrs(ctx, k, s, cfg);
	case CK_IFACES:
		return conf_get_ifaces(ctx, k, s, cfg);
	case CK_UIDS:
	case CK_GIDS:
		return conf_get_ids(ctx, k, s, cfg);
	case CK_PEERS:
		return conf_get_peers(ctx, k, s, cfg);
	}
	return -EINVAL;
}

/* Walk the parsed file: every group and key must be known and valid. */
static int conf_apply(struct conf_ctx *ctx, const config_t *lc,
		      struct homa_config *cfg)
{
	const config_setting_t *root = config_root_setting(lc);
	const config_setting_t *g, *s;
	const struct conf_key *k;
	const char *gname;

	for (int i = 0; i < config_setting_length(root); i++) {
		g = config_setting_get_elem(root, (unsigned)i);
		gname = config_setting_name(g);
		k = conf_key_find("", gname);
		if (k != NULL) {
			/* A top-level key. */
			if (conf_key_apply(ctx, k, g, cfg) < 0)
				return -EINVAL;
			ctx->lines[k - conf_keys] = conf_line(g);
			continue;
		}
		if (!conf_group_known(gname)) {
			k = conf_key_find(NULL, gname);
			if (config_setting_type(g) == CONFIG_TYPE_GROUP)
				conf_error(ctx, conf_line(g),
					   "unknown group '%s'", gname);
			else if (k != NULL)
				conf_error(ctx, conf_line(g),
					   "unknown key '%s' (it belongs in "
					   "the %s group)",
					   gname, k->group);
			else
				conf_error(ctx, conf_line(g),
					   "unknown key '%s'", gname);
			return -EINVAL;
		}
		if (config_setting_type(g) != CONFIG_TYPE_GROUP)
			return conf_wrong_type(ctx, gname, g, "group");
		for (int j = 0; j < config_setting_length(g); j++) {
			s = config_setting_get_elem(g, (unsigned)j);
			k = conf_key_find(gname, config_setting_name(s));
			if (k == NULL) {
				conf_error(ctx, conf_line(s),
					   "unknown key '%s.%s'", gname,
					   config_setting_name(s));
				return -EINVAL;
			}
			if (conf_key_apply(ctx, k, s, cfg) < 0)
				return -EINVAL;
			ctx->lines[k - conf_keys] = conf_line(s);
		}
	}
	return 0;
}

/* The line where key group.name was set, else where other was, else 0. */
static int conf_key_line(const struct conf_ctx *ctx, const char *group,
			 const char *name, const char *other)
{
	const struct conf_key *k = conf_key_find(group, name);

	if (ctx->lines[k - conf_keys] > 0)
		return ctx->lines[k - conf_keys];
	if (other == NULL)
		return 0;
	k = conf_key_find(group, other);
	return ctx->lines[k - conf_keys];
}

/* Rules that tie keys together. */
static int conf_check_cross(struct conf_ctx *ctx, struct homa_config *c)
{
	struct homa_params *p = &c->proto;

	if (p->max_sched_prio >= p->num_priorities) {
		conf_error(ctx,
			   conf_key_line(ctx, "protocol", "max_sched_prio",
					 "num_priorities"),
			   "max_sched_prio = %u must be less than "
			   "num_priorities (%u)",
			   p->max_sched_prio, p->num_priorities);
		return -EINVAL;
	}
	if (p->max_nic_est_backlog_usecs > p->max_nic_queue_usecs) {
		conf_error(ctx,
			   conf_key_line(ctx, "protocol",
					 "max_nic_est_backlog_usecs",
					 "max_nic_queue_usecs"),
			   "max_nic_est_backlog_usecs = %u must not exceed "
			   "max_nic_queue_usecs (%u)",
			   p->max_nic_est_backlog_usecs,
			   p->max_nic_queue_usecs);
		return -EINVAL;
	}
	if (p->timeout_ticks <= p->resend_ticks) {
		conf_error(ctx,
			   conf_key_line(ctx, "protocol", "timeout_ticks",
					 "resend_ticks"),
			   "timeout_ticks = %u must be greater than "
			   "resend_ticks (%u)",
			   p->timeout_ticks, p->resend_ticks);
		return -EINVAL;
	}
	/* Not given: 10 x timeout_ticks (1000 at the default). */
	if (conf_key_line(ctx, "protocol", "stalled_peer_ticks", NULL) == 0 &&
	    p->stalled_peer_ticks != 0) {
		uint64_t t = 10ull * p->timeout_ticks;

		p->stalled_peer_ticks = t > 1000000 ? 1000000 : (uint32_t)t;
	}
	if (p->stalled_peer_ticks != 0 &&
	    p->stalled_peer_ticks <= p->timeout_ticks) {
		conf_error(ctx,
			   conf_key_line(ctx, "protocol", "stalled_peer_ticks",
					 "timeout_ticks"),
			   "stalled_peer_ticks = %u must be 0 or greater than "
			   "timeout_ticks (%u)",
			   p->stalled_peer_ticks, p->timeout_ticks);
		return -EINVAL;
	}
	if (p->incast_unsched_bytes > p->unsched_bytes) {
		conf_error(ctx,
			   conf_key_line(ctx, "protocol",
					 "incast_unsched_bytes",
					 "unsched_bytes"),
			   "incast_unsched_bytes = %u must not exceed "
			   "unsched_bytes (%u)",
			   p->incast_unsched_bytes, p->unsched_bytes);
		return -EINVAL;
	}
	if (strcmp(c->client_socket, c->control_socket) == 0) {
		int line = conf_key_line(ctx, "clients", "socket", NULL);

		if (line == 0)
			line = conf_key_line(ctx, "control", "socket", NULL);
		conf_error(ctx, line,
			   "clients.socket = \"%s\" is also control.socket: "
			   "the two sockets need different paths",
			   c->client_socket);
		return -EINVAL;
	}
	if (!c->ipv4 && !c->ipv6) {
		conf_error(ctx, conf_key_line(ctx, "network", "ipv6", "ipv4"),
			   "ipv4 = false and ipv6 = false: at least one must "
			   "be true");
		return -EINVAL;
	}
	for (unsigned i = 0; i < c->n_addresses; i++) {
		const struct homa_conf_addr *a = &c->addresses[i];
		bool v4 = a->family == AF_INET;

		if ((v4 && !c->ipv4) || (!v4 && !c->ipv6)) {
			conf_error(ctx,
				   conf_key_line(ctx, "network", "addresses",
						 NULL),
				   "addresses[%u] = \"%s\" is an IPv%d address "
				   "but ipv%d = false",
				   i, a->text, v4 ? 4 : 6, v4 ? 4 : 6);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * The name of the key an integer literal belongs to: the last "name =" or
 * "name :" seen, with [index] inside an array or list.
 */
struct conf_scan_state {
	char name[64];
	int depth; /* [ and ( nesting below the named setting */
	int index; /* element index at depth 1 */
};

/*
 * Check one integer literal text[0..len) on line.  Refuses a value that
 * libconfig would silently cut to 32 bits or saturate to 64, and a decimal
 * literal with a leading zero (libconfig has no octal).
 */
static int conf_scan_int(struct conf_ctx *ctx, const struct conf_scan_state *st,
			 const char *tok, size_t len, int line)
{
	char lit[64], name[80], range[64];
	const struct conf_key *k;
	const char *d = lit;
	bool neg = false, hex, l_suffix;
	size_t ndig;
	unsigned long long v = 0;
	int perr = 0;
	char *end;

	if (len >= sizeof(lit))
		len = sizeof(lit) - 1;
	memcpy(lit, tok, len);
	lit[len] = '\0';
	if (*d == '-' || *d == '+')
		neg = *d++ == '-';
	hex = d[0] == '0' && (d[1] == 'x' || d[1] == 'X');
	if (hex)
		d += 2;
	ndig = strspn(d, hex ? "0123456789abcdefABCDEF" : "0123456789");
	if (ndig == 0)
		return 0; /* not an integer: libconfig judges it */
	l_suffix = strcmp(d + ndig, "L") == 0 || strcmp(d + ndig, "LL") == 0;
	if (d[ndig] != '\0' && !l_suffix)
		return 0; /* a float, or something libconfig refuses */
	if (hex || ndig == 1 || d[0] != '0') {
		errno = 0;
		v = strtoull(d, &end, hex ? 16 : 10);
		perr = errno;
		if (perr == 0 && v <= (l_suffix ? (unsigned long long)INT64_MAX
						: INT32_MAX) +
						 (neg && !hex ? 1ULL : 0ULL))
			return 0;
	}

	/* Refused: name the key (looked up only now: most literals pass). */
	if (st->depth > 0)
		snprintf(name, sizeof(name), "%s[%d]", st->name, st->index);
	else
		snprintf(name, sizeof(name), "%s", st->name);
	k = conf_key_find(NULL, st->name);

	if (!hex && ndig > 1 && d[0] == '0') {
		if (k != NULL && k->kind == CK_MODE)
			conf_error(ctx, line,
				   "%s = %s is read as decimal by libconfig, "
				   "which has no octal integers: write "
				   "\"%.*s\" for an octal mode",
				   name, lit, (int)ndig, d);
		else
			conf_error(ctx, line,
				   "%s = %s has a leading zero (libconfig has "
				   "no octal integers)",
				   name, lit);
		return -EINVAL;
	}

	if (k != NULL &&
	    (k->kind == CK_U16 || k->kind == CK_U32 || k->kind == CK_U64 ||
	     k->kind == CK_CUTOFFS || k->kind == CK_MODE ||
	     k->kind == CK_UIDS || k->kind == CK_GIDS)) {
		if (!l_suffix && !neg && perr == 0 && v <= (uint64_t)k->max &&
		    v >= (uint64_t)k->min)
			conf_error(ctx, line,
				   "%s = %s needs an L suffix to be read as "
				   "a 64-bit integer (write %sL)",
				   name, lit, lit);
		else {
			conf_range_text(k, range, sizeof(range));
			conf_error(ctx, line, "%s = %s is out of range (%s)",
				   name, lit, range);
		}
	} else {
		conf_error(ctx, line, "%s = %s is too large for an integer",
			   name, lit);
	}
	return -EINVAL;
}

static bool conf_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '*';
}

static bool conf_ident_char(char c)
{
	return conf_ident_start(c) || (c >= '0' && c <= '9') || c == '_' ||
	       c == '-';
}

/* Walk the tokens of text (see the top of the file for why). */
static int conf_scan(struct conf_ctx *ctx, const char *text)
{
	struct conf_scan_state st = {.name = "", .depth = 0, .index = 0};
	bool line_start = true;
	const char *p = text;
	int line = 1;

	while (*p != '\0') {
		char c = *p;

		if (c == '\n') {
			line++;
			line_start = true;
			p++;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == '\f' ||
		    c == '\v') {
			p++;
			continue;
		}
		if (c == '@' && line_start) {
			conf_error(ctx, line, "@include is not supported");
			return -EINVAL;
		}
		line_start = false;
		if (c == '#' || (c == '/' && p[1] == '/')) {
			/* Most of homa.conf: skip by libc, not by byte. */
			const char *nl = strchr(p, '\n');

			p = nl != NULL ? nl : p + strlen(p);
		} else if (c == '/' && p[1] == '*') {
			for (p += 2;
			     *p != '\0' && !(p[0] == '*' && p[1] == '/'); p++)
				if (*p == '\n')
					line++;
			if (*p != '\0')
				p += 2;
		} else if (c == '"') {
			for (p++; *p != '\0' && *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				if (*p == '\n')
					line++;
			}
			if (*p != '\0')
				p++;
		} else if (conf_ident_start(c)) {
			const char *start = p;
			const char *q;

			while (conf_ident_char(*p))
				p++;
			for (q = p; *q == ' ' || *q == '\t'; q++)
				;
			if (*q == '=' || *q == ':') {
				size_t n = (size_t)(p - start);

				if (n >= sizeof(st.name))
					n = sizeof(st.name) - 1;
				memcpy(st.name, start, n);
				st.name[n] = '\0';
				st.depth = 0;
				st.index = 0;
			}
		} else if ((c >= '0' && c <= '9') ||
			   ((c == '-' || c == '+') && p[1] >= '0' &&
			    p[1] <= '9')) {
			const char *start = p;

			for (p++; conf_ident_char(*p) || *p == '.' ||
				  ((*p == '+' || *p == '-') &&
				   (p[-1] == 'e' || p[-1] == 'E'));
			     p++)
				;
			if (conf_scan_int(ctx, &st, start, (size_t)(p - start),
					  line) < 0)
				return -EINVAL;
		} else {
			if (c == '[' || c == '(') {
				if (st.depth++ == 0)
					st.index = 0;
			} else if ((c == ']' || c == ')') && st.depth > 0) {
				st.depth--;
			} else if (c == ',' && st.depth == 1) {
				st.index++;
			}
			p++;
		}
	}
	return 0;
}

/*
 * Read the whole file at ctx->path into *textp (*lenp bytes and a
 * terminating NUL, the caller frees it).  Returns 0, or -errno with the
 * message set.
 */
static int conf_read_file(struct conf_ctx *ctx, char **textp, size_t *lenp)
{
	struct stat st;
	size_t len = 0, size;
	char *text;
	ssize_t r;
	int fd, err;

	fd = open(ctx->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		conf_error(ctx, 0, "%s", strerror(err));
		return -err;
	}
	if (fstat(fd, &st) < 0) {
		err = errno;
		conf_error(ctx, 0, "%s", strerror(err));
		close(fd);
		return -err;
	}
	if (!S_ISREG(st.st_mode)) {
		err = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		conf_error(ctx, 0, "%s",
			   err == EISDIR ? strerror(err)
					 : "not a regular file");
		close(fd);
		return -err;
	}
	if (st.st_size > CONF_MAX_FILE_BYTES) {
		close(fd);
		conf_error(ctx, 0, "file larger than %d bytes",
			   CONF_MAX_FILE_BYTES);
		return -EFBIG;
	}
	/* Read what the file held at fstat; a later growth is not read. */
	size = (size_t)st.st_size;
	text = malloc(size + 1);
	if (text == NULL) {
		close(fd);
		conf_error(ctx, 0, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	err = 0;
	while (len < size) {
		r = read(fd, text + len, size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			err = errno;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (err != 0) {
		conf_error(ctx, 0, "%s", strerror(err));
		free(text);
		return -err;
	}
	text[len] = '\0';
	*textp = text;
	*lenp = len;
	return 0;
}

/*
 * limits.max_rpcs and limits.max_peers are also the engine's limits: one
 * key each, copied into proto.
 */
static void conf_limits_to_proto(struct homa_config *cfg)
{
	cfg->proto.max_rpcs = cfg->max_rpcs;
	cfg->proto.max_peers = cfg->max_peers;
}

void config_defaults(struct homa_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	engine_params_default(&cfg->proto);
	cfg->link = HOMA_LINK_IP;
	cfg->udp_port = HOMA_CONF_DEFAULT_UDP_PORT;
	cfg->ipv4 = true;
	cfg->ipv6 = true;
	cfg->n_addresses = 0;
	cfg->n_interfaces = 0;
	cfg->mtu = 0;
	cfg->rx_buffers = 512;
	cfg->tx_queue = 4096;
	cfg->ring_entries = 256;
	cfg->rcvbuf = 0;
	cfg->ring_wait = HOMA_RING_WAIT_URING;
	cfg->spin_us = 0;
	snprintf(cfg->control_socket, sizeof(cfg->control_socket), "%s",
		 HOMA_CONF_DEFAULT_SOCKET);
	cfg->socket_mode = 0660;
	snprintf(cfg->client_socket, sizeof(cfg->client_socket), "%s",
		 HOMA_CONF_DEFAULT_CLIENT_SOCKET);
	cfg->client_socket_mode = 0666;
	cfg->n_bind_uids = 0;
	cfg->n_bind_gids = 0;
	cfg->n_direct_gids = 0;
	cfg->direct_receive = true;
	cfg->max_inline = 1024;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->max_clients = 1024;
	cfg->max_sockets_per_client = 64;
	cfg->max_direct_sockets = 64;
	cfg->max_rpcs = 100000;
	cfg->max_peers = 10000;
	cfg->max_memory = UINT64_C(64) << 30;
	cfg->max_client_memory = UINT64_C(8) << 30;
	cfg->max_rpcs_per_client = 10000;
	fault_params_default(&cfg->test);
	conf_limits_to_proto(cfg);
}

/*
 * Parse text[0..len) (text[len] is a NUL) over the defaults into cfg, with
 * ctx->path naming it in messages and in cfg->path.  Returns 0, or -1 with
 * the message set; cfg is only written on success.
 */
static int conf_parse(struct conf_ctx *ctx, struct homa_config *cfg,
		      const char *text, size_t len)
{
	struct homa_config *tmp;
	config_t lc;
	int rc;

	if (memchr(text, 0, len) != NULL) {
		conf_error(ctx, 0, "file contains a NUL byte");
		return -1;
	}
	if (conf_scan(ctx, text) < 0)
		return -1;
	tmp = malloc(sizeof(*tmp));
	if (tmp == NULL) {
		conf_error(ctx, 0, "%s", strerror(ENOMEM));
		return -1;
	}
	config_defaults(tmp);
	config_init(&lc);
	if (!config_read_string(&lc, text)) {
		const char *what = config_error_text(&lc);

		if (what == NULL || strcmp(what, "syntax error") == 0)
			conf_error(ctx, config_error_line(&lc), "syntax error");
		else
			conf_error(ctx, config_error_line(&lc),
				   "syntax error: %s", what);
		rc = -1;
	} else if (conf_apply(ctx, &lc, tmp) < 0 ||
		   conf_check_cross(ctx, tmp) < 0) {
		rc = -1;
	} else {
		conf_limits_to_proto(tmp);
		snprintf(tmp->path, sizeof(tmp->path), "%s", ctx->path);
		*cfg = *tmp;
		rc = 0;
	}
	config_destroy(&lc);
	free(tmp);
	return rc;
}

/* Start a load named name: err cleared, name short enough for cfg->path. */
static int conf_start(struct conf_ctx *ctx, const char *name)
{
	if (ctx->err != NULL && ctx->errlen > 0)
		ctx->err[0] = '\0';
	if (strlen(name) >= sizeof(((struct homa_config *)0)->path)) {
		conf_error(ctx, 0, "%s", strerror(ENAMETOOLONG));
		return -1;
	}
	return 0;
}

/*
 * Load path over the defaults into cfg.  With missing_ok, a file that does
 * not exist leaves cfg at the defaults.
 */
static int conf_load(struct homa_config *cfg, const char *path, bool missing_ok,
		     char *err, size_t errlen)
{
	struct conf_ctx ctx = {.path = path, .err = err, .errlen = errlen};
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (conf_start(&ctx, path) < 0)
		return -1;
	rc = conf_read_file(&ctx, &text, &len);
	if (rc == -ENOENT && missing_ok) {
		config_defaults(cfg);
		if (err != NULL && errlen > 0)
			err[0] = '\0';
		return 0;
	}
	if (rc < 0)
		return -1;
	rc = conf_parse(&ctx, cfg, text, len);
	free(text);
	return rc;
}

int config_load_text(struct homa_config *cfg, const char *name,
		     const char *text, size_t len, char *err, size_t errlen)
{
	struct conf_ctx ctx = {.path = name, .err = err, .errlen = errlen};
	char *copy;
	int rc;

	if (conf_start(&ctx, name) < 0)
		return -1;
	if (len > CONF_MAX_FILE_BYTES) {
		conf_error(&ctx, 0, "file larger than %d bytes",
			   CONF_MAX_FILE_BYTES);
		return -1;
	}
	/* libconfig and conf_scan read a NUL-terminated string. */
	copy = malloc(len + 1);
	if (copy == NULL) {
		conf_error(&ctx, 0, "%s", strerror(ENOMEM));
		return -1;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	rc = conf_parse(&ctx, cfg, copy, len);
	free(copy);
	return rc;
}

int config_load(struct homa_config *cfg, const char *path, char *err,
		size_t errlen)
{
	return conf_load(cfg, path, false, err, errlen);
}

int config_load_default(struct homa_config *cfg, const char *path,
			bool explicit_path, char *err, size_t errlen)
{
	if (path == NULL)
		path = HOMA_CONF_DEFAULT_PATH;
	return conf_load(cfg, path, !explicit_path, err, errlen);
}

int config_set(struct homa_config *cfg, const char *key, const char *value,
	       char *err, size_t errlen)
{
	struct conf_ctx ctx = {.path = NULL, .err = err, .errlen = errlen};
	const config_setting_t *root, *s;
	const struct conf_key *k = NULL;
	struct homa_config *tmp;
	const char *dot = strchr(key, '.');
	char text[CONF_SET_MAX_VALUE + 64];
	config_t lc;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (dot != NULL && dot != key && strchr(dot + 1, '.') == NULL) {
		char group[32];
		size_t glen = (size_t)(dot - key);

		if (glen < sizeof(group)) {
			memcpy(group, key, glen);
			group[glen] = '\0';
			k = conf_key_find(group, dot + 1);
		}
	}
	if (dot == NULL)
		k = conf_key_find("", key);
	if (k == NULL || (dot != NULL && k->group[0] == '\0')) {
		conf_error(&ctx, 0,
			   "unknown key '%.64s' (keys are written "
			   "group.name, e.g. test.rx_drop)",
			   key);
		return -ENOENT;
	}
	if (k->flags & CF_RESTART) {
		conf_error(&ctx, 0,
			   "%s.%s needs a restart: it cannot change while "
			   "homad runs (nor can %s); edit homa.conf and "
			   "restart homad",
			   k->group, k->name, CONFIG_RESTART_KEYS);
		return -EPERM;
	}
	/* Lists ([...], ( {...} )) are whole values too. */
	if (value[0] == '\0' || strlen(value) > CONF_SET_MAX_VALUE ||
	    strpbrk(value, "\n\r#@") != NULL ||
	    (k->kind != CK_CUTOFFS && k->kind != CK_UIDS &&
	     k->kind != CK_GIDS && k->kind != CK_PEERS &&
	     strpbrk(value, ";,=:{}()[]") != NULL)) {
		conf_error(&ctx, 0, "%s%s%s = '%.64s' is not a single value",
			   k->group, k->group[0] != '\0' ? "." : "", k->name,
			   value);
		return -EINVAL;
	}
	/* The file's own parser and checks, on "name = value;". */
	snprintf(text, sizeof(text), "%s = %s;\n", k->name, value);
	tmp = malloc(sizeof(*tmp));
	if (tmp == NULL) {
		conf_error(&ctx, 0, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	*tmp = *cfg;
	rc = -EINVAL;
	config_init(&lc);
	if (conf_scan(&ctx, text) < 0) {
		/* message set */
	} else if (!config_read_string(&lc, text)) {
		conf_error(&ctx, 0, "%s.%s = %.64s is not a valid value",
			   k->group, k->name, value);
	} else {
		root = config_root_setting(&lc);
		s = config_setting_length(root) == 1
			    ? config_setting_get_elem(root, 0)
			    : NULL;
		if (s == NULL) {
			conf_error(&ctx, 0,
				   "%s.%s = %.64s is not a single "
				   "value",
				   k->group, k->name, value);
		} else if (conf_key_apply(&ctx, k, s, tmp) == 0 &&
			   conf_check_cross(&ctx, tmp) == 0) {
			conf_limits_to_proto(tmp);
			*cfg = *tmp;
			rc = 0;
		}
	}
	config_destroy(&lc);
	free(tmp);
	return rc;
}

/* Append to buf[0..n) what fmt gives, as far as it fits. */
static void conf_cat(char *buf, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void conf_cat(char *buf, size_t n, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 1 >= n)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, n - used, fmt, ap);
	va_end(ap);
}

/* A string as homa.conf writes it: quoted, with \ and " escaped. */
static void conf_cat_quoted(char *buf, size_t n, const char *str)
{
	conf_cat(buf, n, "\"");
	for (const char *p = str; *p != '\0'; p++)
		conf_cat(buf, n, "%s%c", *p == '"' || *p == '\\' ? "\\" : "",
			 *p);
	conf_cat(buf, n, "\"");
}

/* Key k's value in cfg, written as in homa.conf, into buf[0..n). */
static void conf_key_text(const struct conf_key *k,
			  const struct homa_config *cfg, char *buf, size_t n)
{
	const char *field = (const char *)cfg + k->off;
	uint64_t v;

	buf[0] = '\0';
	switch (k->kind) {
	case CK_U16:
	case CK_U32:
	case CK_U64:
		v = k->kind == CK_U16	? *(const uint16_t *)field
		    : k->kind == CK_U32 ? *(const uint32_t *)field
					: *(const uint64_t *)field;
		conf_cat(buf, n, "%" PRIu64 "%s", v, v > INT32_MAX ? "L" : "");
		break;
	case CK_BOOL:
		conf_cat(buf, n, "%s", *(const bool *)field ? "true" : "false");
		break;
	case CK_STRING:
		conf_cat_quoted(buf, n, field);
		break;
	case CK_ENUM:
		for (const struct conf_enum *e = k->names; e->name != NULL; e++)
			if (e->value == *(const int *)field)
				conf_cat(buf, n, "\"%s\"", e->name);
		break;
	case CK_MODE:
		conf_cat(buf, n, "\"0%03o\"", *(const uint32_t *)field);
		break;
	case CK_PROB:
		conf_cat(buf, n, "%g", *(const double *)field);
		break;
	case CK_CUTOFFS:
		conf_cat(buf, n, "[");
		for (unsigned i = 0; i < HOMA_NUM_PRIORITIES; i++)
			conf_cat(buf, n, "%s%" PRIu32, i > 0 ? ", " : "",
				 ((const uint32_t *)field)[i]);
		conf_cat(buf, n, "]");
		break;
	case CK_ADDRS:
		conf_cat(buf, n, "[");
		for (unsigned i = 0;
		     i < cfg->n_addresses && i < HOMA_CONF_MAX_ADDRESSES; i++) {
			conf_cat(buf, n, "%s", i > 0 ? ", " : "");
			conf_cat_quoted(buf, n, cfg->addresses[i].text);
		}
		conf_cat(buf, n, "]");
		break;
	case CK_IFACES:
		conf_cat(buf, n, "[");
		for (unsigned i = 0;
		     i < cfg->n_interfaces && i < HOMA_CONF_MAX_INTERFACES;
		     i++) {
			char name[IF_NAMESIZE + 1];

			snprintf(name, sizeof(name), "%.*s", IF_NAMESIZE,
				 cfg->interfaces[i]);
			conf_cat(buf, n, "%s", i > 0 ? ", " : "");
			conf_cat_quoted(buf, n, name);
		}
		conf_cat(buf, n, "]");
		break;
	case CK_UIDS:
	case CK_GIDS: {
		bool uids = k->kind == CK_UIDS;
		bool direct = k->off == OFF(direct_gids);
		unsigned cnt = uids	? cfg->n_bind_uids
			       : direct ? cfg->n_direct_gids
					: cfg->n_bind_gids;
		const uint32_t *ids = uids     ? cfg->bind_uids
				      : direct ? cfg->direct_gids
					       : cfg->bind_gids;

		conf_cat(buf, n, "[");
		for (unsigned i = 0; i < cnt && i < HOMA_CONF_MAX_BIND_IDS; i++)
			conf_cat(buf, n, "%s%" PRIu32, i > 0 ? ", " : "",
				 ids[i]);
		conf_cat(buf, n, "]");
		break;
	}
	case CK_PEERS: {
		const struct homa_params *pp = &cfg->proto;

		conf_cat(buf, n, "(");
		for (unsigned i = 0;
		     i < pp->n_rate_rules && i < HOMA_MAX_RATE_RULES; i++) {
			const struct homa_rate_rule *r = &pp->rate_rules[i];
			const uint8_t *a = r->prefix.in6.s6_addr;
			static const uint8_t mapped[12] = {
				0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
			char text[INET6_ADDRSTRLEN];
			bool is4 = memcmp(a, mapped, sizeof(mapped)) == 0 &&
				   r->prefix_len >= 96;

			if (is4)
				inet_ntop(AF_INET, a + 12, text, sizeof(text));
			else
				inet_ntop(AF_INET6, a, text, sizeof(text));
			conf_cat(buf, n,
				 "%s{ prefix = \"%s/%u\"; rate_mbps = %" PRIu32
				 "; }",
				 i > 0 ? ", " : " ", text,
				 is4 ? r->prefix_len - 96u : r->prefix_len,
				 r->mbps);
		}
		conf_cat(buf, n, "%s)", pp->n_rate_rules > 0 ? " " : "");
		break;
	}
	}
}

void config_foreach(const struct homa_config *cfg,
		    void (*visit)(void *arg, const char *key, const char *value,
				  bool runtime),
		    void *arg)
{
	char key[96], value[CONFIG_MAX_VALUE_TEXT];

	for (size_t i = 0; i < ARRAY_SIZE(conf_keys); i++) {
		const struct conf_key *k = &conf_keys[i];

		snprintf(key, sizeof(key), "%s%s%s", k->group,
			 k->group[0] != '\0' ? "." : "", k->name);
		conf_key_text(k, cfg, value, sizeof(value));
		visit(arg, key, value, !(k->flags & CF_RESTART));
	}
}

const char *config_link_name(enum homa_link_kind link)
{
	for (const struct conf_enum *e = conf_link_names; e->name != NULL; e++)
		if (e->value == (int)link)
			return e->name;
	return "?";
}
