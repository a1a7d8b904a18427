/*
 * ctl.c - homad's control plane (see ctl.h).
 *
 * Every message the control plane hands to the data plane is a struct
 * ctl_msg: the struct dp_msg first, then what the control plane needs to
 * route the reply (its kind and, for a homactl request, the connection id
 * and the request's serial).  The dp_msg's cookie points back to it.  A
 * reply never holds a pointer to a connection: the connection may have
 * gone (or timed out and moved on) meanwhile, so replies find their
 * connection by id and serial, and are dropped when it is not there.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "clock.h"
#include "ctl.h"
#include "homa_ctl.pb-c.h"
#include "log.h"
#include "sd.h"

/* Most counters a metrics answer carries (homad_metrics_foreach visits
 * fewer). */
#define CTL_MAX_METRICS 4096
/* Longest key or value of a `homactl set` (config_set refuses longer). */
#define CTL_MAX_SET_TEXT 256
/* Connections accepted per wake-up of the listener, for fairness. */
#define CTL_ACCEPT_BATCH 16
/* Pause of the listener after accept ran out of descriptors or memory. */
#define CTL_ACCEPT_PAUSE 1.0
/*
 * Entries of one listing answer: the answer must fit one datagram of the
 * control socket (its send buffer, about 200 KB by default), and a page
 * bounds the data plane's time (homactl asks for the next page).
 */
#define CTL_MAX_LIST_SOCKETS 1024
#define CTL_PAGE_RPCS	     1000
#define CTL_PAGE_PEERS	     256
/* Longest peer address of an RpcsRequest. */
#define CTL_MAX_ADDR_TEXT 64

/* What a message to the data plane is for. */
enum ctl_msg_kind {
	CTL_MSG_STARTUP, /* first snapshot: READY=1 when it comes back */
	CTL_MSG_STATUS,	 /* periodic snapshot for STATUS= */
	CTL_MSG_PING,	 /* watchdog ping */
	CTL_MSG_RELOAD,	 /* DP_MSG_RECONFIG with the reloaded configuration */
	CTL_MSG_STOP,	 /* DP_MSG_STOP */
	CTL_MSG_REQUEST, /* snapshot for a homactl request */
};

/* A dp_msg and its routing; allocated and freed by the control plane. */
struct ctl_msg {
	struct dp_msg dp;
	enum ctl_msg_kind kind;
	uint64_t conn_id; /* CTL_MSG_REQUEST: the asking connection */
	uint64_t serial;  /* CTL_MSG_REQUEST: the request it answers */
};

/*
 * One homactl connection.  At most one request per connection is in
 * progress: while it is, the connection is not read (the next request
 * waits in the socket), so requests are answered in order and a client
 * cannot queue work without bound.
 */
struct ctl_conn {
	struct ctl *ctl;
	uint64_t id; /* unique for homad's lifetime; 0: slot free */
	int fd;
	ev_io io;	 /* readable */
	ev_timer timer;	 /* deadline of the request in progress */
	uint64_t serial; /* request in progress; 0: none */
	Homa__Ctl__Request__CmdCase cmd; /* its command */
	/* A `set` in progress: its key and value, for the answer. */
	char set_key[CTL_MAX_SET_TEXT + 1];
	char set_value[CTL_MAX_SET_TEXT + 1];
};

static int ctl_conn_send_error(struct ctl_conn *c, int errnum,
			       const char *text);

struct ctl {
	struct ev_loop *loop;
	struct dp *dp;
	struct homa_config cfg;		/* running configuration */
	const struct ctl_options *opts; /* borrowed */

	int listen_fd;
	ev_io accept_io;
	ev_timer accept_pause;
	ev_async async; /* the data plane's replies */
	ev_signal sigterm, sigint, sighup;
	ev_timer watchdog;
	ev_timer status_timer;
	ev_timer stop_timer;

	struct ctl_conn conns[CTL_MAX_CONNECTIONS];
	unsigned n_conns;
	uint64_t next_conn_id;
	uint64_t next_serial;

	int notify_fd;	      /* connected to NOTIFY_SOCKET, or -1 */
	bool notify_fallback; /* NOTIFY_SOCKET not a unix path: sd_notify */

	unsigned in_flight;	 /* messages inside the data plane */
	bool ready;		 /* READY=1 sent */
	bool stopping;		 /* SIGTERM/SIGINT seen */
	bool reload_pending;	 /* RECONFIG in the data plane */
	bool reload_again;	 /* SIGHUP while one was pending */
	bool ping_outstanding;	 /* watchdog ping not answered yet */
	bool ping_late;		 /* ... and a tick passed meanwhile */
	bool status_outstanding; /* STATUS snapshot not answered yet */

	uint64_t reloads_ok;
	uint64_t reloads_failed;
	char last_reload_error[1024];
	bool reload_ok;		 /* the last reload was applied */
	char reload_kept[512];	 /* restart-only keys it did not apply */
	uint64_t reload_conn_id; /* `homactl reload` waiting; 0: none */
	uint64_t reload_serial;	 /* ... its request */
	char status_text[160];	 /* last STATUS= */

	uint64_t conns_refused;
	uint64_t requests_bad;
	uint64_t requests_timed_out;

	uint8_t rxbuf[CTL_MAX_REQUEST];
};

/* ---- systemd notifications -------------------------------------------- */

/*
 * Connect a datagram socket to NOTIFY_SOCKET (a path, or "@name" for an
 * abstract one).  Done at start-up, while homad is still root: after the
 * privilege drop the socket's directory may be out of reach, but a
 * connected socket keeps working.  Returns the fd or -errno
 * (-EAFNOSUPPORT: not a unix address, sd_notify handles those).
 */
static int ctl_notify_connect(const char *addr)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(addr);
	int fd;

	if (addr[0] != '/' && addr[0] != '@')
		return -EAFNOSUPPORT;
	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, addr, len);
	if (addr[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) <
	    0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

/*
 * Send one notification ("KEY=value" lines) to systemd, if homad runs
 * under it.  If systemd was re-executed meanwhile the socket is
 * reconnected once.
 */
static void ctl_notify(struct ctl *ctl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void ctl_notify(struct ctl *ctl, const char *fmt, ...)
{
	const char *addr = getenv("NOTIFY_SOCKET");
	char buf[512];
	va_list ap;
	int len, fd;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(buf))
		len = (int)strlen(buf);
	if (ctl->notify_fallback) {
		sd_notify(0, buf);
		return;
	}
	if (ctl->notify_fd < 0)
		return;
	if (send(ctl->notify_fd, buf, (size_t)len, MSG_NOSIGNAL) >= 0)
		return;
	if ((errno == ECONNREFUSED || errno == ENOTCONN) && addr != NULL) {
		fd = ctl_notify_connect(addr);
		if (fd >= 0) {
			close(ctl->notify_fd);
			ctl->notify_fd = fd;
			if (send(fd, buf, (size_t)len, MSG_NOSIGNAL) >= 0)
				return;
		}
	}
	log_debug("sd_notify: %s", strerror(errno));
}

void ctl_apply_overrides(struct homa_config *cfg, const struct ctl_options *o)
{
	if (o->socket_path != NULL)
		snprintf(cfg->control_socket, sizeof(cfg->control_socket), "%s",
			 o->socket_path);
	if (o->client_socket_path != NULL)
		snprintf(cfg->client_socket, sizeof(cfg->client_socket), "%s",
			 o->client_socket_path);
	if (o->user != NULL)
		snprintf(cfg->user, sizeof(cfg->user), "%s", o->user);
	if (o->debug)
		cfg->log_level = LOG_LEVEL_DEBUG;
}

/* ---- the control socket file ------------------------------------------ */

/* mkdir -p of the directory part of path, new levels mode 0755. */
static int ctl_mkdir_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *p;

	snprintf(dir, sizeof(dir), "%s", path);
	p = strrchr(dir, '/');
	if (p == NULL || p == dir)
		return 0;
	*p = '\0';
	for (p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * An existing file at sa's path: a socket something listens on is "in use"
 * (-EADDRINUSE); a dead socket is removed; anything else is -EEXIST.
 * what names the socket in the log ("control socket").
 */
static int ctl_probe_existing(const struct sockaddr_un *sa, const char *what)
{
	struct stat st;
	int fd, rc;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	if (rc == 0 || errno == EPROTOTYPE || errno == EAGAIN) {
		close(fd);
		return -EADDRINUSE;
	}
	close(fd);
	if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		return -errno;
	log_info("removed the stale %s %s", what, sa->sun_path);
	return 0;
}

/*
 * The group named group ("" : none, *gid = -1).  Returns 0 or -1 with a
 * reason naming what in err.
 */
static int ctl_socket_gid(const char *what, const char *group, gid_t *gid,
			  char *err, size_t errlen)
{
	struct group *gr;

	*gid = (gid_t)-1;
	if (group[0] == '\0')
		return 0;
	gr = getgrnam(group);
	if (gr == NULL) {
		snprintf(err, errlen, "%s group \"%s\" does not exist", what,
			 group);
		return -1;
	}
	*gid = gr->gr_gid;
	return 0;
}

/*
 * Create a listening unix SOCK_SEQPACKET socket at path (what names it in
 * messages), chmod'ed to mode and chgrp'ed to group, with the given
 * backlog and flags (SOCK_NONBLOCK or 0).  As ctl_socket_create says.
 */
static int ctl_unix_listen(const char *what, const char *path, uint32_t mode,
			   const char *group, int backlog, int flags, char *err,
			   size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	gid_t gid;
	mode_t old_umask;
	int fd, rc;

	if (path[0] == '\0' || strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s path \"%s\" is %s", what, path,
			 path[0] == '\0' ? "empty" : "too long");
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (ctl_socket_gid(what, group, &gid, err, errlen) < 0)
		return -1;
	rc = ctl_mkdir_parent(path);
	if (rc < 0) {
		snprintf(err, errlen,
			 "cannot create the directory of %s %s: %s", what, path,
			 strerror(-rc));
		return -1;
	}
	rc = ctl_probe_existing(&sa, what);
	if (rc == -EADDRINUSE) {
		snprintf(err, errlen, "%s %s in use (another homad running?)",
			 what, path);
		return -1;
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s %s: %s", what, path,
			 rc == -EEXIST ? "exists and is not a socket"
				       : strerror(-rc));
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | flags, 0);
	if (fd < 0) {
		snprintf(err, errlen, "%s: socket: %s", what, strerror(errno));
		return -1;
	}
	/* No window in which the socket is more open than asked for. */
	old_umask = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_umask);
	if (rc < 0) {
		snprintf(err, errlen, "cannot bind %s %s: %s", what, path,
			 strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, backlog) < 0 || chmod(path, mode) < 0 ||
	    (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0)) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}

int ctl_socket_create(const struct homa_config *cfg, char *err, size_t errlen)
{
	return ctl_unix_listen("control socket", cfg->control_socket,
			       cfg->socket_mode, cfg->socket_group, 16,
			       SOCK_NONBLOCK, err, errlen);
}

int ctl_client_socket_create(const struct homa_config *cfg, char *err,
			     size_t errlen)
{
	/* The data plane accepts through io_uring: a blocking socket. */
	return ctl_unix_listen(
		"client socket", cfg->client_socket, cfg->client_socket_mode,
		cfg->client_socket_group, SOMAXCONN, 0, err, errlen);
}

int ctl_client_socket_adopt(const struct homa_config *cfg, char *err,
			    size_t errlen)
{
	const char *path = cfg->client_socket;
	gid_t gid;

	if (ctl_socket_gid("client socket", cfg->client_socket_group, &gid, err,
			   errlen) < 0)
		return -1;
	if (chmod(path, cfg->client_socket_mode) < 0 ||
	    (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0)) {
		snprintf(err, errlen, "client socket %s: %s", path,
			 strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- messages to the data plane ---------------------------------------- */

/* Post a new message; returns it (now the data plane's) or NULL. */
static struct ctl_msg *ctl_post(struct ctl *ctl, enum ctl_msg_kind kind,
				enum dp_msg_type type, int *errp)
{
	struct ctl_msg *cm = calloc(1, sizeof(*cm));
	int rc;

	if (cm == NULL) {
		*errp = -ENOMEM;
		return NULL;
	}
	cm->kind = kind;
	cm->dp.type = type;
	cm->dp.cookie = cm;
	rc = dp_post(ctl->dp, &cm->dp);
	if (rc < 0) {
		free(cm);
		*errp = rc;
		return NULL;
	}
	ctl->in_flight++;
	return cm;
}

static uint64_t ctl_sum(const uint64_t *v, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += v[i];
	return sum;
}

/* STATUS= text from a snapshot. */
static void ctl_status_update(struct ctl *ctl, const struct dp_snapshot *s)
{
	const struct homa_metrics *m = &s->metrics.engine;

	snprintf(ctl->status_text, sizeof(ctl->status_text),
		 "link %s, %u socket%s, %u client%s, %" PRIu32 " RPCs, %" PRIu64
		 " packets received",
		 config_link_name(s->link), s->n_sockets,
		 s->n_sockets == 1 ? "" : "s", s->clients,
		 s->clients == 1 ? "" : "s", s->engine.rpcs,
		 ctl_sum(m->packets_received, HOMA_TYPE_COUNT));
}

/* ---- connections ----------------------------------------------------- */

static void ctl_conn_close(struct ctl_conn *c)
{
	struct ctl *ctl = c->ctl;

	ev_io_stop(ctl->loop, &c->io);
	ev_timer_stop(ctl->loop, &c->timer);
	close(c->fd);
	c->fd = -1;
	c->id = 0;
	c->serial = 0;
	ctl->n_conns--;
}

static struct ctl_conn *ctl_conn_find(struct ctl *ctl, uint64_t id)
{
	for (unsigned i = 0; i < CTL_MAX_CONNECTIONS; i++)
		if (ctl->conns[i].id != 0 && ctl->conns[i].id == id)
			return &ctl->conns[i];
	return NULL;
}

/*
 * Send resp on c as one datagram.  A client that does not read its answers
 * (send would block) or has gone is disconnected.  Returns 0, or -1 when c
 * was closed.
 */
static int ctl_conn_send(struct ctl_conn *c, const Homa__Ctl__Response *answer)
{
	Homa__Ctl__Response full = *answer, *resp = &full;
	size_t len;
	uint8_t *buf;
	ssize_t n;

	/* Every answer says it comes from homad, and which one. */
	full.version = (char *)PACKAGE_VERSION;
	len = homa__ctl__response__get_packed_size(resp);
	buf = malloc(len > 0 ? len : 1);

	if (buf == NULL) {
		log_warnx("control connection %" PRIu64
			  ": no memory for a %zu-byte answer",
			  c->id, len);
		ctl_conn_close(c);
		return -1;
	}
	homa__ctl__response__pack(resp, buf);
	n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(buf);
	if (n < 0 || (size_t)n != len) {
		log_debug("control connection %" PRIu64 ": send: %s", c->id,
			  n < 0 ? strerror(errno) : "short");
		ctl_conn_close(c);
		return -1;
	}
	return 0;
}

static int ctl_conn_send_error(struct ctl_conn *c, int errnum, const char *text)
{
	Homa__Ctl__Response resp = HOMA__CTL__RESPONSE__INIT;

	resp.error = errnum;
	resp.error_text = (char *)text;
	return ctl_conn_send(c, &resp);
}

static int ctl_answer_status(struct ctl *ctl, struct ctl_conn *c,
			     struct dp_snapshot *s)
{
	Homa__Ctl__Response resp = HOMA__CTL__RESPONSE__INIT;
	Homa__Ctl__Status st = HOMA__CTL__STATUS__INIT;
	char *sockets[DP_MAX_SOCKETS];
	unsigned n =
		s->n_sockets < DP_MAX_SOCKETS ? s->n_sockets : DP_MAX_SOCKETS;
	const struct homa_metrics *m = &s->metrics.engine;
	const struct homad_stats *ds = &s->metrics.homad;

	for (unsigned i = 0; i < n; i++) {
		s->sockets[i].desc[sizeof(s->sockets[i].desc) - 1] = '\0';
		sockets[i] = s->sockets[i].desc;
	}
	st.version = (char *)PACKAGE_VERSION;
	st.pid = (uint32_t)getpid();
	st.uptime_ms = (homad_now_ns() - ctl->opts->start_ns) / 1000000u;
	st.link = (char *)config_link_name(s->link);
	st.udp_port = s->link == HOMA_LINK_UDP ? ctl->cfg.udp_port : 0;
	st.mtu = s->mtu;
	st.n_sockets = n;
	st.sockets = sockets;
	st.config_path = ctl->cfg.path;
	st.log_level = (char *)log_level_name(log_get_level());
	st.reloads_ok = ctl->reloads_ok;
	st.reloads_failed = ctl->reloads_failed;
	st.last_reload_error = ctl->last_reload_error;
	st.packets_received = ctl_sum(m->packets_received, HOMA_TYPE_COUNT);
	st.malformed_packets = ctl_sum(m->malformed_packets, WIRE_ERR_COUNT);
	st.client_socket = ctl->cfg.client_socket;
	st.clients = s->clients;
	st.rpcs = s->engine.rpcs;
	st.dead_rpcs = s->engine.dead_rpcs;
	st.homa_sockets = s->engine.sockets;
	st.client_memory = s->client_memory;
	st.buffer_waits = s->engine.buffer_waits;
	st.rx_backlog_bytes = ds->link_rx_backlog_bytes;
	st.rx_ctl_backlog_bytes = ds->link_rx_ctl_backlog_bytes;
	st.rx_backlog_peak_bytes = ds->link_rx_backlog_peak_bytes;
	st.rx_kernel_drops = ds->link_rx_kernel_drops;
	st.ctl_connections_refused = ctl->conns_refused;
	st.ctl_requests_bad = ctl->requests_bad;
	st.ctl_requests_timed_out = ctl->requests_timed_out;
	resp.body_case = HOMA__CTL__RESPONSE__BODY_STATUS;
	resp.status = &st;
	return ctl_conn_send(c, &resp);
}

/* homad_metrics_foreach visitor collecting into a Metrics message. */
struct ctl_metrics_ctx {
	Homa__Ctl__Metric *items;
	Homa__Ctl__Metric **ptrs;
	size_t n;
	size_t dropped;
};

static void ctl_metrics_visit(void *arg, const char *name,
			      const char *label_key, const char *label_value,
			      const char *help, uint64_t value)
{
	struct ctl_metrics_ctx *x = arg;
	Homa__Ctl__Metric *it;

	if (x->n == CTL_MAX_METRICS) {
		x->dropped++;
		return;
	}
	it = &x->items[x->n];
	homa__ctl__metric__init(it);
	it->name = (char *)name;
	if (label_key != NULL && label_value != NULL) {
		it->label_key = (char *)label_key;
		it->label_value = (char *)label_value;
	}
	it->help = (char *)(help != NULL ? help : "");
	it->value = value;
	it->gauge = homad_metrics_is_gauge(name);
	x->ptrs[x->n++] = it;
}

static int ctl_answer_metrics(struct ctl_conn *c, const struct dp_snapshot *s)
{
	Homa__Ctl__Response resp = HOMA__CTL__RESPONSE__INIT;
	Homa__Ctl__Metrics body = HOMA__CTL__METRICS__INIT;
	struct ctl_metrics_ctx x = {0};
	int rc;

	x.items = calloc(CTL_MAX_METRICS, sizeof(*x.items));
	x.ptrs = calloc(CTL_MAX_METRICS, sizeof(*x.ptrs));
	if (x.items == NULL || x.ptrs == NULL) {
		free(x.items);
		free(x.ptrs);
		return ctl_conn_send_error(c, ENOMEM, "out of memory");
	}
	homad_metrics_foreach(&s->metrics, ctl_metrics_visit, &x);
	if (x.dropped > 0)
		log_warnx("metrics answer: %zu counters over the limit of %d "
			  "left out",
			  x.dropped, CTL_MAX_METRICS);
	body.n_metrics = x.n;
	body.metrics = x.ptrs;
	resp.body_case = HOMA__CTL__RESPONSE__BODY_METRICS;
	resp.metrics = &body;
	rc = ctl_conn_send(c, &resp);
	free(x.items);
	free(x.ptrs);
	return rc;
}

/*
 * `homactl set`: key=value checked by homa.conf's own rules (config_set)
 * on a copy of the running configuration, which then goes to the data
 * plane whole (DP_MSG_RECONFIG, as a reload's does).  Returns the posted
 * message, or NULL after answering c with the error (*closed: c was
 * closed).
 */
static struct ctl_msg *ctl_set_post(struct ctl *ctl, struct ctl_conn *c,
				    const Homa__Ctl__SetRequest *set,
				    bool *closed)
{
	struct ctl_msg *cm = calloc(1, sizeof(*cm));
	char err[512];
	int rc;

	*closed = false;
	if (cm == NULL) {
		rc = -ENOMEM;
		snprintf(err, sizeof(err), "out of memory");
	} else {
		cm->dp.u.config = ctl->cfg;
		rc = config_set(&cm->dp.u.config, set->key ? set->key : "",
				set->value ? set->value : "", err, sizeof(err));
	}
	if (rc == 0) {
		cm->kind = CTL_MSG_REQUEST;
		cm->dp.type = DP_MSG_RECONFIG;
		cm->dp.cookie = cm;
		rc = dp_post(ctl->dp, &cm->dp);
		if (rc < 0)
			snprintf(err, sizeof(err),
				 "cannot hand the setting to the data plane: "
				 "%s",
				 strerror(-rc));
	}
	if (rc < 0) {
		free(cm);
		*closed = ctl_conn_send_error(c, -rc, err) < 0;
		return NULL;
	}
	log_notice("control: %s set to %s", set->key, set->value);
	ctl->in_flight++;
	return cm;
}

/*
 * The data plane applied a `homactl set` (ctl_request_done): answer with
 * the key and the value as the request gave them (kept in c).
 */
static int ctl_set_done(struct ctl_conn *c)
{
	Homa__Ctl__Response resp = HOMA__CTL__RESPONSE__INIT;
	Homa__Ctl__SetResult body = HOMA__CTL__SET_RESULT__INIT;

	body.key = c->set_key;
	body.value = c->set_value;
	resp.body_case = HOMA__CTL__RESPONSE__BODY_SET;
	resp.set = &body;
	return ctl_conn_send(c, &resp);
}

/* An address for messages: dotted IPv4 for a v4-mapped one. */
static void ctl_addr_text(const struct homa_addr *a, char *buf, size_t len)
{
	if (IN6_IS_ADDR_V4MAPPED(&a->in6))
		inet_ntop(AF_INET, &a->in6.s6_addr[12], buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, &a->in6, buf, (socklen_t)len);
}

/* A peer address of a request into a's form; false if it is none. */
static bool ctl_addr_parse(const char *text, struct homa_addr *a)
{
	struct in_addr v4;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, text, &v4) == 1) {
		a->in6.s6_addr[10] = 0xff;
		a->in6.s6_addr[11] = 0xff;
		memcpy(&a->in6.s6_addr[12], &v4, 4);
		return true;
	}
	return inet_pton(AF_INET6, text, &a->in6) == 1;
}

/*
 * Post a listing (DP_MSG_SOCKETS, _RPCS, _PEERS) for req; the items are
 * freed by ctl_request_done.  NULL with *errp (and the reason in err) when
 * it could not be.
 */
static struct ctl_msg *ctl_list_post(struct ctl *ctl,
				     const Homa__Ctl__Request *req, int *errp,
				     char *err, size_t errlen)
{
	struct ctl_msg *cm = calloc(1, sizeof(*cm));
	struct dp_list *l;
	size_t size;
	int rc;

	snprintf(err, errlen, "out of memory");
	*errp = -ENOMEM;
	if (cm == NULL)
		return NULL;
	l = &cm->dp.u.list;
	switch (req->cmd_case) {
	case HOMA__CTL__REQUEST__CMD_SOCKETS:
		cm->dp.type = DP_MSG_SOCKETS;
		l->max = CTL_MAX_LIST_SOCKETS;
		size = sizeof(struct chan_sock_entry);
		break;
	case HOMA__CTL__REQUEST__CMD_RPCS: {
		const char *peer = req->rpcs->peer ? req->rpcs->peer : "";

		cm->dp.type = DP_MSG_RPCS;
		l->max = CTL_PAGE_RPCS;
		size = sizeof(struct homa_rpc_info);
		l->cursor = req->rpcs->cursor;
		if (req->rpcs->port > 65535) {
			snprintf(err, errlen,
				 "port %" PRIu32 " is not 0..65535",
				 req->rpcs->port);
			*errp = -EINVAL;
			free(cm);
			return NULL;
		}
		l->port = (uint16_t)req->rpcs->port;
		if (peer[0] != '\0') {
			if (strlen(peer) > CTL_MAX_ADDR_TEXT ||
			    !ctl_addr_parse(peer, &l->peer)) {
				snprintf(err, errlen,
					 "\"%.64s\" is not an IPv4 or IPv6 "
					 "address",
					 peer);
				*errp = -EINVAL;
				free(cm);
				return NULL;
			}
			l->has_peer = true;
		}
		break;
	}
	default:
		cm->dp.type = DP_MSG_PEERS;
		l->max = CTL_PAGE_PEERS;
		size = sizeof(struct homa_peer_entry);
		l->cursor = req->peers->cursor;
		break;
	}
	l->items = calloc(l->max, size);
	if (l->items == NULL) {
		free(cm);
		return NULL;
	}
	cm->kind = CTL_MSG_REQUEST;
	cm->dp.cookie = cm;
	rc = dp_post(ctl->dp, &cm->dp);
	if (rc < 0) {
		snprintf(err, errlen, "cannot ask the data plane: %s",
			 strerror(-rc));
		*errp = rc;
		free(l->items);
		free(cm);
		return NULL;
	}
	ctl->in_flight++;
	return cm;
}

static int ctl_answer_sockets(struct ctl_conn *c, const struct dp_list *l)
{
	Homa__Ctl__Response resp = HOMA__CTL__RESPONSE__INIT;
	Homa__Ctl__Sockets body = HOMA__CTL__SOCKETS__INIT;
	const struct chan_sock_entry *in = l->items;
	Homa__Ctl__SocketInfo *x = calloc(l->n + 1, sizeof(*x));
	Homa__Ctl__SocketInfo **ptrs = calloc(l->n + 1, sizeof(*ptrs));
	int rc;

	if (x == NULL || ptrs == NULL) {
		free(x);
		free(ptrs);
		return ctl_conn_send_error(c, ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < l->n; i++) {
		homa__ctl__socket_info__init(&x[i]);
		x[i].pid = in[i].pid;
		x[i].uid = in[i].uid;
		x[i].port = in[i].info.port;
		x[i].server = in[i].info.server;
		x[i].rpcs = in[i].info.num_rpcs;
		x[i].pool_bytes = in[i].pool_bytes;
		x[i].pool_free_bytes = in[i].info.pool_avail_bytes;
		x[i].tx_bytes = in[i].info.wmem;
		x[i].shutdown = in[i].info.shutdown;
		x[i].direct_send = in[i].direct;
		x[i].direct_messages = in[i].direct_records;
		x[i].direct_receive = in[i].drx;
		x[i].direct_received = in[i].drx_records;
		ptrs[i] = &x[i];
	}
	body.n_sockets = l->n;
	body.sockets = ptrs;
	body.total = l->total;
	resp.body_case = HOMA__CTL__RESPONSE__BODY_SOCKETS;
	resp.sockets = &body;
	rc = ctl_conn_send(c, &resp);
	free(x);
	free(ptrs);
	return rc;
}

static const char *ctl_rpc_state(uint8_t state)
{
	switch (state) {
	case HOMA_RPC_STATE_INCOMING:
		return "incoming";
	case HOMA_RPC_STATE_IN_SERVICE:
		return "in_service";
	default:
		return "outgoing";
	}
}

static int ctl_answer_rpcs(struct ctl_conn *c, const struct dp_list *l)
{
	Homa__Ctl__Response resp = HOMA__CTL__RESPONSE__INIT;
	Homa__Ctl__Rpcs body = HOMA__CTL__RPCS__INIT;
	const struct homa_rpc_info *in = l->items;
	struct ctl_rpc_out {
		Homa__Ctl__RpcInfo msg;
		char peer[INET6_ADDRSTRLEN];
	} *x = calloc(l->n + 1, sizeof(*x));
	Homa__Ctl__RpcInfo **ptrs = calloc(l->n + 1, sizeof(*ptrs));
	int rc;

	if (x == NULL || ptrs == NULL) {
		free(x);
		free(ptrs);
		return ctl_conn_send_error(c, ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < l->n; i++) {
		Homa__Ctl__RpcInfo *y = &x[i].msg;

		homa__ctl__rpc_info__init(y);
		ctl_addr_text(&in[i].peer, x[i].peer, sizeof(x[i].peer));
		y->id = in[i].id;
		y->peer = x[i].peer;
		y->peer_port = in[i].peer_port;
		y->port = in[i].port;
		y->state = (char *)ctl_rpc_state(in[i].state);
		y->tx_length = in[i].tx_length;
		y->tx_sent = in[i].tx_sent;
		y->tx_granted = in[i].tx_granted;
		y->tx_prio = in[i].tx_prio;
		y->rx_length = in[i].rx_length;
		y->rx_remaining = in[i].rx_remaining;
		y->rx_gaps = in[i].rx_gaps;
		y->rx_gap_bytes = in[i].rx_gap_bytes;
		y->rx_granted = in[i].rx_granted;
		y->flags = in[i].flags;
		ptrs[i] = y;
	}
	body.n_rpcs = l->n;
	body.rpcs = ptrs;
	body.next_cursor = l->cursor;
	body.more = l->more;
	body.total = l->total;
	resp.body_case = HOMA__CTL__RESPONSE__BODY_RPCS;
	resp.rpcs = &body;
	rc = ctl_conn_send(c, &resp);
	free(x);
	free(ptrs);
	return rc;
}

static int ctl_answer_peers(struct ctl *ctl, struct ctl_conn *c,
			    const struct dp_list *l)
{
	Homa__Ctl__Response resp = HOMA__CTL__RESPONSE__INIT;
	Homa__Ctl__Peers body = HOMA__CTL__PEERS__INIT;
	const struct homa_peer_entry *in = l->items;
	struct ctl_peer_out {
		Homa__Ctl__PeerInfo msg;
		char addr[INET6_ADDRSTRLEN];
		uint32_t cut_in[HOMA_NUM_PRIORITIES];
	} *x = calloc(l->n + 1, sizeof(*x));
	Homa__Ctl__PeerInfo **ptrs = calloc(l->n + 1, sizeof(*ptrs));
	uint32_t cut_out[HOMA_NUM_PRIORITIES];
	int rc;

	if (x == NULL || ptrs == NULL) {
		free(x);
		free(ptrs);
		return ctl_conn_send_error(c, ENOMEM, "out of memory");
	}
	memcpy(cut_out, ctl->cfg.proto.unsched_cutoffs, sizeof(cut_out));
	for (unsigned i = 0; i < l->n; i++) {
		Homa__Ctl__PeerInfo *y = &x[i].msg;

		homa__ctl__peer_info__init(y);
		ctl_addr_text(&in[i].addr, x[i].addr, sizeof(x[i].addr));
		memcpy(x[i].cut_in, in[i].cutoffs_in, sizeof(x[i].cut_in));
		y->addr = x[i].addr;
		y->rpcs = in[i].rpcs;
		if (in[i].cutoff_version_in != 0) {
			y->n_cutoffs_in = HOMA_NUM_PRIORITIES;
			y->cutoffs_in = x[i].cut_in;
		}
		y->cutoff_version_in = in[i].cutoff_version_in;
		y->n_cutoffs_out = HOMA_NUM_PRIORITIES;
		y->cutoffs_out = cut_out;
		y->cutoff_version_out = ctl->cfg.proto.cutoff_version;
		y->rtt_ns = in[i].rtt_ns;
		y->resends = in[i].resends;
		y->acks_pending = in[i].acks_pending;
		y->last_heard_ms =
			in[i].silent_ticks * ctl->cfg.proto.tick_usecs / 1000u;
		y->rate_mbps = in[i].rate_mbps;
		y->homad = in[i].homad;
		y->incoming = in[i].incoming;
		y->grant_pace_mbps = in[i].pace_mbps;
		y->rx_mbps = in[i].rx_mbps;
		y->grant_cap = in[i].grant_cap;
		y->resend_bytes = in[i].resend_bytes;
		y->host_up = in[i].host_up;
		y->probes = in[i].probes;
		ptrs[i] = y;
	}
	body.n_peers = l->n;
	body.peers = ptrs;
	body.next_cursor = l->cursor;
	body.more = l->more;
	body.total = l->total;
	resp.body_case = HOMA__CTL__RESPONSE__BODY_PEERS;
	resp.peers = &body;
	rc = ctl_conn_send(c, &resp);
	free(x);
	free(ptrs);
	return rc;
}

/* config_foreach visitor collecting a Config message. */
struct ctl_config_ctx {
	Homa__Ctl__ConfigKey *items;
	Homa__Ctl__ConfigKey **ptrs;
	char *text; /* CTL_MAX_CONFIG_KEYS x (key, value) */
	size_t n;
};

#define CTL_MAX_CONFIG_KEYS 256
#define CTL_CONFIG_TEXT	    (96 + CONFIG_MAX_VALUE_TEXT)

static void ctl_config_visit(void *arg, const char *key, const char *value,
			     bool runtime)
{
	struct ctl_config_ctx *x = arg;
	Homa__Ctl__ConfigKey *it;
	char *t;

	if (x->n == CTL_MAX_CONFIG_KEYS)
		return;
	t = x->text + x->n * CTL_CONFIG_TEXT;
	snprintf(t, 96, "%s", key);
	snprintf(t + 96, CONFIG_MAX_VALUE_TEXT, "%s", value);
	it = &x->items[x->n];
	homa__ctl__config_key__init(it);
	it->key = t;
	it->value = t + 96;
	it->runtime = runtime;
	x->ptrs[x->n++] = it;
}

/* `homactl config`: the control plane's copy of the running config. */
static int ctl_answer_config(struct ctl *ctl, struct ctl_conn *c)
{
	Homa__Ctl__Response resp = HOMA__CTL__RESPONSE__INIT;
	Homa__Ctl__Config body = HOMA__CTL__CONFIG__INIT;
	struct ctl_config_ctx x = {0};
	int rc;

	x.items = calloc(CTL_MAX_CONFIG_KEYS, sizeof(*x.items));
	x.ptrs = calloc(CTL_MAX_CONFIG_KEYS, sizeof(*x.ptrs));
	x.text = calloc(CTL_MAX_CONFIG_KEYS, CTL_CONFIG_TEXT);
	if (x.items == NULL || x.ptrs == NULL || x.text == NULL) {
		rc = ctl_conn_send_error(c, ENOMEM, "out of memory");
	} else {
		config_foreach(&ctl->cfg, ctl_config_visit, &x);
		body.n_keys = x.n;
		body.keys = x.ptrs;
		body.path = ctl->cfg.path;
		resp.body_case = HOMA__CTL__RESPONSE__BODY_CONFIG;
		resp.config = &body;
		rc = ctl_conn_send(c, &resp);
	}
	free(x.items);
	free(x.ptrs);
	free(x.text);
	return rc;
}

/* The data plane answered the request in progress on c (if still so). */
static void ctl_request_done(struct ctl *ctl, struct ctl_msg *cm)
{
	struct ctl_conn *c = ctl_conn_find(ctl, cm->conn_id);
	bool list = cm->dp.type == DP_MSG_SOCKETS ||
		    cm->dp.type == DP_MSG_RPCS || cm->dp.type == DP_MSG_PEERS;
	uint64_t id;
	int rc;

	/* An applied `homactl set` is the running value, answered or not. */
	if (cm->dp.type == DP_MSG_RECONFIG && cm->dp.result == 0) {
		ctl->cfg = cm->dp.u.config;
		log_set_level((enum log_level)ctl->cfg.log_level);
	}
	if (c == NULL || c->serial != cm->serial) {
		log_debug("control: late answer for connection %" PRIu64
			  " dropped",
			  cm->conn_id);
		if (list)
			free(cm->dp.u.list.items);
		return;
	}
	id = c->id;
	ev_timer_stop(ctl->loop, &c->timer);
	c->serial = 0;
	cm->dp.reason[sizeof(cm->dp.reason) - 1] = '\0';
	if (cm->dp.result < 0)
		rc = ctl_conn_send_error(c, -cm->dp.result,
					 cm->dp.reason[0] != '\0'
						 ? cm->dp.reason
						 : strerror(-cm->dp.result));
	else if (c->cmd == HOMA__CTL__REQUEST__CMD_SET)
		rc = ctl_set_done(c);
	else if (c->cmd == HOMA__CTL__REQUEST__CMD_STATUS)
		rc = ctl_answer_status(ctl, c, &cm->dp.u.snapshot);
	else if (c->cmd == HOMA__CTL__REQUEST__CMD_SOCKETS)
		rc = ctl_answer_sockets(c, &cm->dp.u.list);
	else if (c->cmd == HOMA__CTL__REQUEST__CMD_RPCS)
		rc = ctl_answer_rpcs(c, &cm->dp.u.list);
	else if (c->cmd == HOMA__CTL__REQUEST__CMD_PEERS)
		rc = ctl_answer_peers(ctl, c, &cm->dp.u.list);
	else
		rc = ctl_answer_metrics(c, &cm->dp.u.snapshot);
	if (list)
		free(cm->dp.u.list.items);
	if (rc == 0 && c->id == id)
		ev_io_start(ctl->loop, &c->io);
}

static void ctl_conn_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctl_conn *c = w->data;
	struct ctl *ctl = c->ctl;
	char text[96];

	ctl->requests_timed_out++;
	c->serial = 0;
	log_warnx("control: the data plane did not answer a request within "
		  "%.0f s",
		  CTL_REQUEST_TIMEOUT);
	snprintf(text, sizeof(text),
		 "the data plane did not answer within %.0f s",
		 CTL_REQUEST_TIMEOUT);
	if (ctl_conn_send_error(c, ETIMEDOUT, text) == 0)
		ev_io_start(loop, &c->io);
}

static void ctl_reload(struct ctl *ctl);

/* Act on one decoded request; returns -1 when c was closed. */
static int ctl_request(struct ctl *ctl, struct ctl_conn *c,
		       const Homa__Ctl__Request *req)
{
	struct ctl_msg *cm;
	char err[256];
	int rc = 0;

	switch (req->cmd_case) {
	case HOMA__CTL__REQUEST__CMD_STATUS:
	case HOMA__CTL__REQUEST__CMD_METRICS:
	case HOMA__CTL__REQUEST__CMD_SET:
	case HOMA__CTL__REQUEST__CMD_SOCKETS:
	case HOMA__CTL__REQUEST__CMD_RPCS:
	case HOMA__CTL__REQUEST__CMD_PEERS:
	case HOMA__CTL__REQUEST__CMD_RELOAD:
		break;
	case HOMA__CTL__REQUEST__CMD_CONFIG:
		return ctl_answer_config(ctl, c);
	case HOMA__CTL__REQUEST__CMD__NOT_SET:
	default:
		return ctl_conn_send_error(c, EOPNOTSUPP,
					   "command not supported by this "
					   "homad " PACKAGE_VERSION);
	}
	if (ctl->in_flight >= CTL_MAX_IN_FLIGHT)
		return ctl_conn_send_error(c, EBUSY,
					   "too many requests in progress");
	if (req->cmd_case == HOMA__CTL__REQUEST__CMD_RELOAD) {
		if (ctl->reload_pending || ctl->reload_conn_id != 0)
			return ctl_conn_send_error(c, EBUSY,
						   "a reload is already in "
						   "progress");
		c->serial = ++ctl->next_serial;
		c->cmd = req->cmd_case;
		ctl->reload_conn_id = c->id;
		ctl->reload_serial = c->serial;
		ev_io_stop(ctl->loop, &c->io);
		ev_timer_set(&c->timer, CTL_REQUEST_TIMEOUT, 0.);
		ev_timer_start(ctl->loop, &c->timer);
		ctl_reload(ctl);
		return 0;
	}
	if (req->cmd_case == HOMA__CTL__REQUEST__CMD_SET) {
		bool closed;

		cm = ctl_set_post(ctl, c, req->set, &closed);
		if (cm == NULL)
			return closed ? -1 : 0;
		snprintf(c->set_key, sizeof(c->set_key), "%s", req->set->key);
		snprintf(c->set_value, sizeof(c->set_value), "%s",
			 req->set->value);
	} else if (req->cmd_case == HOMA__CTL__REQUEST__CMD_STATUS ||
		   req->cmd_case == HOMA__CTL__REQUEST__CMD_METRICS) {
		cm = ctl_post(ctl, CTL_MSG_REQUEST, DP_MSG_SNAPSHOT, &rc);
		if (cm == NULL)
			snprintf(err, sizeof(err),
				 "cannot ask the data plane: %s",
				 strerror(-rc));
	} else {
		cm = ctl_list_post(ctl, req, &rc, err, sizeof(err));
	}
	if (cm == NULL) {
		if (rc != -EINVAL)
			log_warnx("control: %s", err);
		return ctl_conn_send_error(c, -rc, err);
	}
	cm->conn_id = c->id;
	cm->serial = ++ctl->next_serial;
	c->serial = cm->serial;
	c->cmd = req->cmd_case;
	ev_io_stop(ctl->loop, &c->io);
	ev_timer_set(&c->timer, CTL_REQUEST_TIMEOUT, 0.);
	ev_timer_start(ctl->loop, &c->timer);
	return 0;
}

static void ctl_conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl_conn *c = w->data;
	struct ctl *ctl = c->ctl;
	struct iovec iov = {ctl->rxbuf, sizeof(ctl->rxbuf)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	Homa__Ctl__Request *req;
	ssize_t n;

	n = recvmsg(c->fd, &mh, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n < 0)
			log_debug("control connection %" PRIu64 ": recv: %s",
				  c->id, strerror(errno));
		ctl_conn_close(c);
		return;
	}
	if (mh.msg_flags & MSG_TRUNC) {
		ctl->requests_bad++;
		log_debug("control connection %" PRIu64
			  ": request over %d bytes: closed",
			  c->id, CTL_MAX_REQUEST);
		ctl_conn_close(c);
		return;
	}
	req = homa__ctl__request__unpack(NULL, (size_t)n, ctl->rxbuf);
	if (req == NULL) {
		ctl->requests_bad++;
		log_debug("control connection %" PRIu64
			  ": undecodable request (%zd bytes): closed",
			  c->id, n);
		ctl_conn_close(c);
		return;
	}
	ctl_request(ctl, c, req);
	homa__ctl__request__free_unpacked(req, NULL);
}

static void ctl_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl *ctl = w->data;

	for (int i = 0; i < CTL_ACCEPT_BATCH; i++) {
		struct ctl_conn *c = NULL;
		int fd = accept4(ctl->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			log_warn("control socket: accept");
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				ev_io_stop(loop, &ctl->accept_io);
				ev_timer_start(loop, &ctl->accept_pause);
			}
			return;
		}
		for (unsigned j = 0; j < CTL_MAX_CONNECTIONS; j++)
			if (ctl->conns[j].id == 0) {
				c = &ctl->conns[j];
				break;
			}
		if (c == NULL) {
			if (ctl->conns_refused++ == 0)
				log_warnx("control socket: over %d connections:"
					  " refusing more",
					  CTL_MAX_CONNECTIONS);
			close(fd);
			continue;
		}
		c->ctl = ctl;
		c->id = ++ctl->next_conn_id;
		c->fd = fd;
		c->serial = 0;
		ev_io_init(&c->io, ctl_conn_read_cb, fd, EV_READ);
		c->io.data = c;
		ev_timer_init(&c->timer, ctl_conn_timeout_cb,
			      CTL_REQUEST_TIMEOUT, 0.);
		c->timer.data = c;
		ev_io_start(loop, &c->io);
		ctl->n_conns++;
	}
}

static void ctl_accept_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctl *ctl = w->data;

	if (!ctl->stopping)
		ev_io_start(loop, &ctl->accept_io);
}

/* ---- reload ------------------------------------------------------------ */

static void ctl_reload_failed(struct ctl *ctl, const char *why)
{
	ctl->reload_ok = false;
	ctl->reloads_failed++;
	snprintf(ctl->last_reload_error, sizeof(ctl->last_reload_error), "%s",
		 why);
	log_warnx("reload failed, keeping the running configuration: %s", why);
}

static void ctl_reload_finish(struct ctl *ctl);

/* Append name to a ", "-separated list in buf. */
static void ctl_list_add(char *buf, size_t len, const char *name)
{
	size_t used = strlen(buf);

	snprintf(buf + used, len - used, "%s%s", used > 0 ? ", " : "", name);
}

static bool ctl_addresses_differ(const struct homa_config *a,
				 const struct homa_config *b)
{
	if (a->n_addresses != b->n_addresses)
		return true;
	for (unsigned i = 0; i < a->n_addresses && i < HOMA_CONF_MAX_ADDRESSES;
	     i++)
		if (a->addresses[i].family != b->addresses[i].family ||
		    strcmp(a->addresses[i].text, b->addresses[i].text) != 0)
			return true;
	return false;
}

static bool ctl_interfaces_differ(const struct homa_config *a,
				  const struct homa_config *b)
{
	if (a->n_interfaces != b->n_interfaces)
		return true;
	for (unsigned i = 0;
	     i < a->n_interfaces && i < HOMA_CONF_MAX_INTERFACES; i++)
		if (strncmp(a->interfaces[i], b->interfaces[i], IF_NAMESIZE) !=
		    0)
			return true;
	return false;
}

/*
 * The settings of the network and control sections, the client socket's
 * (clients.socket, socket_mode, socket_group) and daemon.user are fixed
 * once homad runs: sockets, rings and privileges exist.  Keep the
 * running ones in nc, warning about each that the new file changes.
 */
static void ctl_keep_fixed_settings(const struct homa_config *run,
				    struct homa_config *nc, char *changed,
				    size_t changed_len)
{
	changed[0] = '\0';

	if (run->link != nc->link)
		ctl_list_add(changed, changed_len, "network.link");
	if (run->udp_port != nc->udp_port)
		ctl_list_add(changed, changed_len, "network.udp_port");
	if (run->ipv4 != nc->ipv4)
		ctl_list_add(changed, changed_len, "network.ipv4");
	if (run->ipv6 != nc->ipv6)
		ctl_list_add(changed, changed_len, "network.ipv6");
	if (ctl_addresses_differ(run, nc))
		ctl_list_add(changed, changed_len, "network.addresses");
	if (ctl_interfaces_differ(run, nc))
		ctl_list_add(changed, changed_len, "network.interfaces");
	if (run->mtu != nc->mtu)
		ctl_list_add(changed, changed_len, "network.mtu");
	if (run->rx_buffers != nc->rx_buffers)
		ctl_list_add(changed, changed_len, "network.rx_buffers");
	if (run->tx_queue != nc->tx_queue)
		ctl_list_add(changed, changed_len, "network.tx_queue");
	if (run->ring_entries != nc->ring_entries)
		ctl_list_add(changed, changed_len, "network.ring_entries");
	if (run->ring_wait != nc->ring_wait)
		ctl_list_add(changed, changed_len, "network.ring_wait");
	if (run->rcvbuf != nc->rcvbuf)
		ctl_list_add(changed, changed_len, "network.rcvbuf");
	if (strcmp(run->control_socket, nc->control_socket) != 0)
		ctl_list_add(changed, changed_len, "control.socket");
	if (run->socket_mode != nc->socket_mode)
		ctl_list_add(changed, changed_len, "control.socket_mode");
	if (strcmp(run->socket_group, nc->socket_group) != 0)
		ctl_list_add(changed, changed_len, "control.socket_group");
	if (strcmp(run->client_socket, nc->client_socket) != 0)
		ctl_list_add(changed, changed_len, "clients.socket");
	if (run->client_socket_mode != nc->client_socket_mode)
		ctl_list_add(changed, changed_len, "clients.socket_mode");
	if (strcmp(run->client_socket_group, nc->client_socket_group) != 0)
		ctl_list_add(changed, changed_len, "clients.socket_group");
	if (strcmp(run->user, nc->user) != 0)
		ctl_list_add(changed, changed_len, "daemon.user");
	if (run->max_clients != nc->max_clients)
		ctl_list_add(changed, changed_len, "limits.max_clients");
	if (changed[0] != '\0')
		log_warnx("reload: %s changed: these take effect only after a "
			  "restart; keeping the running values",
			  changed);

	nc->link = run->link;
	nc->udp_port = run->udp_port;
	nc->ipv4 = run->ipv4;
	nc->ipv6 = run->ipv6;
	nc->n_addresses = run->n_addresses;
	memcpy(nc->addresses, run->addresses, sizeof(nc->addresses));
	nc->n_interfaces = run->n_interfaces;
	memcpy(nc->interfaces, run->interfaces, sizeof(nc->interfaces));
	nc->mtu = run->mtu;
	nc->rx_buffers = run->rx_buffers;
	nc->tx_queue = run->tx_queue;
	nc->ring_entries = run->ring_entries;
	nc->ring_wait = run->ring_wait;
	nc->rcvbuf = run->rcvbuf;
	memcpy(nc->control_socket, run->control_socket,
	       sizeof(nc->control_socket));
	nc->socket_mode = run->socket_mode;
	memcpy(nc->socket_group, run->socket_group, sizeof(nc->socket_group));
	memcpy(nc->client_socket, run->client_socket,
	       sizeof(nc->client_socket));
	nc->client_socket_mode = run->client_socket_mode;
	memcpy(nc->client_socket_group, run->client_socket_group,
	       sizeof(nc->client_socket_group));
	memcpy(nc->user, run->user, sizeof(nc->user));
	nc->max_clients = run->max_clients;
}

static void ctl_reload(struct ctl *ctl)
{
	const struct ctl_options *o = ctl->opts;
	struct homa_config *nc;
	struct ctl_msg *cm;
	char err[1024];
	int rc;

	if (ctl->stopping)
		return;
	if (ctl->reload_pending) {
		ctl->reload_again = true;
		return;
	}
	ctl_notify(ctl,
		   "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%" PRIu64,
		   homad_now_ns() / 1000u);
	log_notice("reloading the configuration (%s)", o->config_path);

	/* Loaded straight into the message, posted only when valid. */
	cm = calloc(1, sizeof(*cm));
	if (cm == NULL) {
		ctl_reload_failed(ctl, "out of memory");
		ctl_reload_finish(ctl);
		return;
	}
	nc = &cm->dp.u.config;
	if (config_load_default(nc, o->config_path, o->config_explicit, err,
				sizeof(err)) < 0) {
		free(cm);
		ctl_reload_failed(ctl, err);
		ctl_reload_finish(ctl);
		return;
	}
	ctl_apply_overrides(nc, o);
	ctl_keep_fixed_settings(&ctl->cfg, nc, ctl->reload_kept,
				sizeof(ctl->reload_kept));
	cm->kind = CTL_MSG_RELOAD;
	cm->dp.type = DP_MSG_RECONFIG;
	cm->dp.cookie = cm;
	rc = dp_post(ctl->dp, &cm->dp);
	if (rc < 0) {
		free(cm);
		snprintf(err, sizeof(err),
			 "cannot hand the configuration to the data plane: %s",
			 strerror(-rc));
		ctl_reload_failed(ctl, err);
		ctl_reload_finish(ctl);
		return;
	}
	ctl->in_flight++;
	ctl->reload_pending = true;
}

/* Answer the `homactl reload` waiting for the reload just over. */
static void ctl_reload_answer(struct ctl *ctl)
{
	Homa__Ctl__Response resp = HOMA__CTL__RESPONSE__INIT;
	Homa__Ctl__ReloadResult body = HOMA__CTL__RELOAD_RESULT__INIT;
	struct ctl_conn *c = ctl_conn_find(ctl, ctl->reload_conn_id);
	uint64_t id;
	int rc;

	ctl->reload_conn_id = 0;
	if (c == NULL || c->serial != ctl->reload_serial)
		return;
	id = c->id;
	ev_timer_stop(ctl->loop, &c->timer);
	c->serial = 0;
	if (!ctl->reload_ok) {
		rc = ctl_conn_send_error(c, EINVAL, ctl->last_reload_error);
	} else {
		body.config_path = ctl->cfg.path;
		body.reloads_ok = ctl->reloads_ok;
		body.restart_needed = ctl->reload_kept;
		resp.body_case = HOMA__CTL__RESPONSE__BODY_RELOAD;
		resp.reload = &body;
		rc = ctl_conn_send(c, &resp);
	}
	if (rc == 0 && c->id == id)
		ev_io_start(ctl->loop, &c->io);
}

/* The reload is over, applied or not: tell systemd, run a queued one. */
static void ctl_reload_finish(struct ctl *ctl)
{
	if (ctl->reload_conn_id != 0)
		ctl_reload_answer(ctl);
	if (ctl->stopping)
		return;
	ctl_notify(ctl, "READY=1\nSTATUS=%s", ctl->status_text);
	if (ctl->reload_again) {
		ctl->reload_again = false;
		ctl_reload(ctl);
	}
}

static void ctl_reload_done(struct ctl *ctl, struct ctl_msg *cm)
{
	char err[512];

	ctl->reload_pending = false;
	cm->dp.reason[sizeof(cm->dp.reason) - 1] = '\0';
	if (cm->dp.result < 0) {
		snprintf(err, sizeof(err), "refused: %s",
			 cm->dp.reason[0] != '\0' ? cm->dp.reason
						  : strerror(-cm->dp.result));
		ctl_reload_failed(ctl, err);
	} else {
		ctl->cfg = cm->dp.u.config;
		ctl->reload_ok = true;
		ctl->reloads_ok++;
		log_set_level((enum log_level)ctl->cfg.log_level);
		log_notice("configuration reloaded from %s",
			   ctl->cfg.path[0] != '\0' ? ctl->cfg.path
						    : "the defaults");
	}
	ctl_reload_finish(ctl);
}

/* ---- stop ------------------------------------------------------------- */

static void ctl_stop_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	fatalx("the data plane did not stop within %.0f s", CTL_STOP_TIMEOUT);
}

static void ctl_stop(struct ctl *ctl, const char *why)
{
	int rc;

	if (ctl->stopping) {
		log_info("%s: already stopping", why);
		return;
	}
	ctl->stopping = true;
	log_notice("%s: stopping", why);
	ctl_notify(ctl, "STOPPING=1\nSTATUS=stopping");
	for (unsigned i = 0; i < CTL_MAX_CONNECTIONS; i++)
		if (ctl->conns[i].id != 0)
			ctl_conn_close(&ctl->conns[i]);
	ev_io_stop(ctl->loop, &ctl->accept_io);
	ev_timer_stop(ctl->loop, &ctl->accept_pause);
	ev_timer_stop(ctl->loop, &ctl->watchdog);
	ev_timer_stop(ctl->loop, &ctl->status_timer);
	if (ctl_post(ctl, CTL_MSG_STOP, DP_MSG_STOP, &rc) == NULL)
		fatalx("cannot stop the data plane: %s", strerror(-rc));
	ev_timer_start(ctl->loop, &ctl->stop_timer);
}

/* ---- replies, signals, timers ------------------------------------------ */

static void ctl_reply(struct ctl *ctl, struct ctl_msg *cm)
{
	switch (cm->kind) {
	case CTL_MSG_STARTUP:
		if (cm->dp.result == 0)
			ctl_status_update(ctl, &cm->dp.u.snapshot);
		else
			snprintf(ctl->status_text, sizeof(ctl->status_text),
				 "running");
		if (!ctl->stopping) {
			ctl->ready = true;
			ctl_notify(ctl, "READY=1\nSTATUS=%s", ctl->status_text);
			log_notice("homad %s ready: %s", PACKAGE_VERSION,
				   ctl->status_text);
		}
		break;
	case CTL_MSG_STATUS:
		ctl->status_outstanding = false;
		if (cm->dp.result == 0 && !ctl->stopping) {
			char old[sizeof(ctl->status_text)];

			memcpy(old, ctl->status_text, sizeof(old));
			ctl_status_update(ctl, &cm->dp.u.snapshot);
			if (strcmp(old, ctl->status_text) != 0 &&
			    !ctl->reload_pending)
				ctl_notify(ctl, "STATUS=%s", ctl->status_text);
		}
		break;
	case CTL_MSG_PING:
		ctl->ping_outstanding = false;
		if (ctl->ping_late)
			log_notice("the data plane answers again");
		ctl->ping_late = false;
		if (!ctl->stopping)
			ctl_notify(ctl, "WATCHDOG=1");
		break;
	case CTL_MSG_RELOAD:
		ctl_reload_done(ctl, cm);
		break;
	case CTL_MSG_STOP:
		ev_timer_stop(ctl->loop, &ctl->stop_timer);
		log_debug("the data plane stopped");
		ev_break(ctl->loop, EVBREAK_ALL);
		break;
	case CTL_MSG_REQUEST:
		ctl_request_done(ctl, cm);
		break;
	}
}

static void ctl_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct ctl *ctl = w->data;
	struct dp_msg *m, *next;

	for (m = dp_take_replies(ctl->dp); m != NULL; m = next) {
		struct ctl_msg *cm = m->cookie;

		next = m->next;
		if (cm == NULL || &cm->dp != m)
			fatalx("data plane returned a message that is not "
			       "the control plane's");
		ctl->in_flight--;
		ctl_reply(ctl, cm);
		free(cm);
	}
}

void ctl_dp_notify(void *arg)
{
	struct ctl *ctl = arg;

	ev_async_send(ctl->loop, &ctl->async);
}

static void ctl_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct ctl *ctl = w->data;

	switch (w->signum) {
	case SIGHUP:
		ctl_reload(ctl);
		break;
	case SIGTERM:
		ctl_stop(ctl, "SIGTERM");
		break;
	default:
		ctl_stop(ctl, "SIGINT");
		break;
	}
}

static void ctl_watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctl *ctl = w->data;
	int rc;

	if (ctl->stopping)
		return;
	if (ctl->ping_outstanding) {
		if (!ctl->ping_late)
			log_warnx("the data plane has not answered a ping "
				  "within %.1f s: not feeding the watchdog",
				  w->repeat);
		ctl->ping_late = true;
		return;
	}
	if (ctl_post(ctl, CTL_MSG_PING, DP_MSG_PING, &rc) == NULL) {
		log_warnx("watchdog: cannot ping the data plane: %s",
			  strerror(-rc));
		return;
	}
	ctl->ping_outstanding = true;
}

static void ctl_status_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctl *ctl = w->data;
	int rc;

	if (ctl->stopping || ctl->status_outstanding || !ctl->ready)
		return;
	if (ctl_post(ctl, CTL_MSG_STATUS, DP_MSG_SNAPSHOT, &rc) != NULL)
		ctl->status_outstanding = true;
	else
		log_debug("status: cannot ask the data plane: %s",
			  strerror(-rc));
}

/* ---- life cycle -------------------------------------------------------- */

struct ctl *ctl_create(struct ev_loop *loop, struct dp *dp,
		       const struct homa_config *cfg,
		       const struct ctl_options *opts, int listen_fd)
{
	struct ctl *ctl = calloc(1, sizeof(*ctl));

	if (ctl == NULL)
		return NULL;
	ctl->loop = loop;
	ctl->dp = dp;
	ctl->cfg = *cfg;
	ctl->opts = opts;
	ctl->listen_fd = listen_fd;
	snprintf(ctl->status_text, sizeof(ctl->status_text), "starting");
	ctl->notify_fd = -1;
	if (getenv("NOTIFY_SOCKET") != NULL) {
		int fd = ctl_notify_connect(getenv("NOTIFY_SOCKET"));

		if (fd >= 0)
			ctl->notify_fd = fd;
		else if (fd == -EAFNOSUPPORT)
			ctl->notify_fallback = true;
		else
			log_warnx("cannot reach NOTIFY_SOCKET %s: %s",
				  getenv("NOTIFY_SOCKET"), strerror(-fd));
	}
	for (unsigned i = 0; i < CTL_MAX_CONNECTIONS; i++)
		ctl->conns[i].fd = -1;

	ev_io_init(&ctl->accept_io, ctl_accept_cb, listen_fd, EV_READ);
	ctl->accept_io.data = ctl;
	ev_timer_init(&ctl->accept_pause, ctl_accept_resume_cb,
		      CTL_ACCEPT_PAUSE, 0.);
	ctl->accept_pause.data = ctl;
	ev_signal_init(&ctl->sigterm, ctl_signal_cb, SIGTERM);
	ctl->sigterm.data = ctl;
	ev_signal_init(&ctl->sigint, ctl_signal_cb, SIGINT);
	ctl->sigint.data = ctl;
	ev_signal_init(&ctl->sighup, ctl_signal_cb, SIGHUP);
	ctl->sighup.data = ctl;
	ev_timer_init(&ctl->watchdog, ctl_watchdog_cb, 0., 0.);
	ctl->watchdog.data = ctl;
	ev_timer_init(&ctl->status_timer, ctl_status_cb, CTL_STATUS_INTERVAL,
		      CTL_STATUS_INTERVAL);
	ctl->status_timer.data = ctl;
	ev_timer_init(&ctl->stop_timer, ctl_stop_timeout_cb, CTL_STOP_TIMEOUT,
		      0.);
	ctl->stop_timer.data = ctl;

	/*
	 * Started now, before dp_start: an ev_async started after a send
	 * would lose it.
	 */
	ev_async_init(&ctl->async, ctl_async_cb);
	ctl->async.data = ctl;
	ev_async_start(loop, &ctl->async);
	return ctl;
}

int ctl_start(struct ctl *ctl)
{
	uint64_t usec = 0;
	int rc;

	ev_signal_start(ctl->loop, &ctl->sigterm);
	ev_signal_start(ctl->loop, &ctl->sigint);
	ev_signal_start(ctl->loop, &ctl->sighup);
	ev_io_start(ctl->loop, &ctl->accept_io);
	ev_timer_start(ctl->loop, &ctl->status_timer);
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		ev_tstamp half = (ev_tstamp)usec / 2e6;

		ev_timer_set(&ctl->watchdog, half, half);
		ev_timer_start(ctl->loop, &ctl->watchdog);
		log_info("systemd watchdog: pinging the data plane every "
			 "%.1f s",
			 half);
	}
	if (ctl_post(ctl, CTL_MSG_STARTUP, DP_MSG_SNAPSHOT, &rc) == NULL)
		return rc;
	return 0;
}

void ctl_destroy(struct ctl *ctl)
{
	if (ctl == NULL)
		return;
	for (unsigned i = 0; i < CTL_MAX_CONNECTIONS; i++)
		if (ctl->conns[i].id != 0)
			ctl_conn_close(&ctl->conns[i]);
	ev_io_stop(ctl->loop, &ctl->accept_io);
	ev_timer_stop(ctl->loop, &ctl->accept_pause);
	ev_signal_stop(ctl->loop, &ctl->sigterm);
	ev_signal_stop(ctl->loop, &ctl->sigint);
	ev_signal_stop(ctl->loop, &ctl->sighup);
	ev_timer_stop(ctl->loop, &ctl->watchdog);
	ev_timer_stop(ctl->loop, &ctl->status_timer);
	ev_timer_stop(ctl->loop, &ctl->stop_timer);
	ev_async_stop(ctl->loop, &ctl->async);
	if (ctl->in_flight > 0)
		log_debug("%u messages still in the data plane at exit",
			  ctl->in_flight);
	if (ctl->listen_fd >= 0)
		close(ctl->listen_fd);
	if (ctl->notify_fd >= 0)
		close(ctl->notify_fd);
	free(ctl);
}
