/*
 * ctl.h - homad's control plane: the libev loop on the main thread.
 *
 * The control plane owns everything that is not the hot path:
 *   - signals: SIGTERM/SIGINT stop homad, SIGHUP reloads the configuration;
 *   - sd_notify: READY, STATUS, RELOADING, STOPPING and WATCHDOG (the
 *     watchdog is only fed while the data plane answers its pings);
 *   - the control socket (unix SOCK_SEQPACKET), where homactl sends one
 *     protobuf-c Request per datagram (proto/homa_ctl.proto) and gets one
 *     Response back.
 * It shares no mutable state with the data plane: it asks for snapshots
 * and hands over validated configuration changes as struct dp_msg messages
 * (dataplane.h); replies come back through an ev_async.
 */
#ifndef HOMAD_CTL_H
#define HOMAD_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "conf.h"
#include "dataplane.h"

/* Connections to the control socket served at once; more are refused. */
#define CTL_MAX_CONNECTIONS 64
/* Largest Request datagram accepted; a larger one closes the connection. */
#define CTL_MAX_REQUEST 65536
/* Messages the control plane may have inside the data plane at once. */
#define CTL_MAX_IN_FLIGHT 256
/* A request the data plane has not answered after this fails. */
#define CTL_REQUEST_TIMEOUT 2.0
/* homad gives up (exit 1) if the data plane has not stopped after this. */
#define CTL_STOP_TIMEOUT 5.0
/* How often STATUS= is refreshed from a snapshot. */
#define CTL_STATUS_INTERVAL 10.0

/*
 * What the command line says, kept for reloads: the same file is reloaded
 * and the same overrides are applied on top of it.  The strings are
 * borrowed (argv) and must outlive the control plane.
 */
struct ctl_options {
	const char *config_path;	/* file (re)loaded on SIGHUP */
	bool config_explicit;		/* -c given: the file must exist */
	const char *socket_path;	/* -S, or NULL */
	const char *client_socket_path; /* -C, or NULL */
	const char *user;		/* -u, or NULL */
	bool debug;	   /* -v: log level debug, whatever the file */
	uint64_t start_ns; /* CLOCK_MONOTONIC when homad started */
};

struct ctl;

/* Apply the command line's overrides (-S, -C, -u, -v) to cfg. */
void ctl_apply_overrides(struct homa_config *cfg, const struct ctl_options *o);

/*
 * Create the control socket at cfg->control_socket, for homad started
 * without socket activation: the parent directory is created (0755) if
 * missing; an existing socket file is probed: a live one is an error ("in
 * use"), a dead one is removed.  The socket is bound, listening,
 * non-blocking, chmod'ed to cfg->socket_mode and chgrp'ed to
 * cfg->socket_group (if set).  Returns the fd, or -1 with a one-line reason
 * in err.
 */
int ctl_socket_create(const struct homa_config *cfg, char *err, size_t errlen);

/*
 * The same for the applications' client socket at cfg->client_socket
 * (clients.socket_mode, clients.socket_group), except that it is left
 * blocking: the data plane accepts on it with io_uring.  Returns the fd
 * or -1 with a reason in err.
 */
int ctl_client_socket_create(const struct homa_config *cfg, char *err,
			     size_t errlen);

/*
 * Socket activation passed the client socket: give its file
 * clients.socket_mode and clients.socket_group (a unit has one SocketMode
 * for all its sockets).  Returns 0 or -1 with a reason in err.
 */
int ctl_client_socket_adopt(const struct homa_config *cfg, char *err,
			    size_t errlen);

/*
 * Create the control plane in loop (libev's default loop: it handles the
 * signals) for the data plane dp (not yet started), serving the listening
 * socket listen_fd (which it then owns and closes).  cfg is the running
 * configuration (copied); opts is borrowed.  Connects to systemd's
 * NOTIFY_SOCKET, if set: call before dropping privileges.  Nothing runs
 * until ctl_start().  Returns NULL only when memory runs out.
 */
struct ctl *ctl_create(struct ev_loop *loop, struct dp *dp,
		       const struct homa_config *cfg,
		       const struct ctl_options *opts, int listen_fd);

/*
 * The data plane's notify callback (give it with ctl as arg to dp_start):
 * wakes the control plane's loop.  Safe to call from any thread.
 */
void ctl_dp_notify(void *arg);

/*
 * Start the watchers (signals, control socket, watchdog, status timer) and
 * ask the data plane for a first snapshot: READY=1 is sent to systemd when
 * it answers, i.e. once the data-plane thread runs.  Call after dp_start.
 * Returns 0 or -errno (the first message could not be posted).
 */
int ctl_start(struct ctl *ctl);

/*
 * Free the control plane after its loop has stopped (SIGTERM/SIGINT: the
 * data plane has then been stopped too, and dp_destroy may follow).
 * Closes the connections and the listening socket (the socket file is the
 * caller's to unlink).  Takes NULL.
 */
void ctl_destroy(struct ctl *ctl);

#endif /* HOMAD_CTL_H */
