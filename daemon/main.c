/*
 * main.c - homad: command line, start-up and shut-down.
 *
 * Start-up order (each step's failure is fatal, with its reason):
 *   1. command line, logging, configuration (-n stops here);
 *   2. one homad per network namespace: an abstract unix socket name,
 *      which the kernel keeps per network namespace, is bound for life;
 *   3. the sockets systemd passed (socket activation), told apart by path;
 *   4. the client socket (clients.socket): passed or created;
 *   5. the data plane (raw sockets need root or CAP_NET_RAW), serving it;
 *   6. the control socket: passed or created;
 *   7. privileges dropped to the configured user, keeping CAP_NET_RAW;
 *   8. the data-plane thread started, the control plane's watchers; READY=1
 *      goes to systemd once the data plane has answered a first snapshot;
 *   9. the libev loop until SIGTERM/SIGINT; the data plane closes every
 *      client session, the sockets homad created are removed.
 * homad stays in the foreground (systemd Type=notify).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "clock.h"
#include "conf.h"
#include "core/engine.h"
#include "ctl.h"
#include "dataplane.h"
#include "homa_shm.h"
#include "log.h"
#include "privs.h"
#include "sd.h"

/* The engine fills the bpages of the receive pools clients share with homad
 * (proto/homa_shm.h, the size libhomaclient checks offsets against). */
_Static_assert(HOMA_BPAGE_SIZE == HOMA_SHM_BPAGE_SIZE,
	       "the engine's bpage is the client protocol's");
_Static_assert(HOMA_MAX_BPAGES == HOMA_SHM_MAX_BPAGES,
	       "the engine's bpages per message are the client protocol's");

/* Abstract unix socket name held for life: one homad per netns. */
#define MAIN_INSTANCE_NAME "homad"

static void main_usage(FILE *f)
{
	fprintf(f,
		"usage: homad [-c FILE] [-n] [-S SOCKET] [-C SOCKET] [-u USER] "
		"[-v] [-V] [-h]\n"
		"  -c, --config FILE   configuration file (default %s;\n"
		"                      if that is absent, built-in defaults)\n"
		"  -n, --check         check the configuration and exit\n"
		"  -S, --socket PATH   control socket (overrides "
		"control.socket)\n"
		"  -C, --client-socket PATH\n"
		"                      client socket (overrides "
		"clients.socket)\n"
		"  -u, --user USER     user to switch to (overrides "
		"daemon.user)\n"
		"  -v, --verbose       log at debug level\n"
		"  -V, --version       print the version and exit\n"
		"  -h, --help          print this help and exit\n",
		HOMA_CONF_DEFAULT_PATH);
}

/*
 * Bind the abstract name MAIN_INSTANCE_NAME.  Abstract unix names live in
 * the network namespace, so this admits one homad per namespace, and the
 * kernel frees the name when the process dies, however it dies.  Returns
 * the fd or -errno (-EADDRINUSE: another homad holds it).
 */
static int main_single_instance(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				    strlen(MAIN_INSTANCE_NAME));
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path + 1, MAIN_INSTANCE_NAME, strlen(MAIN_INSTANCE_NAME));
	if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

/* The sockets systemd passed, -1 where it passed none. */
struct main_activated {
	int ctl_fd;
	int client_fd;
};

/*
 * The sockets systemd passed (homad.socket): each must be a listening
 * unix SOCK_SEQPACKET socket; the one bound to clients.socket is the
 * client socket, the other one the control socket (whatever its path:
 * control.socket and -S do not apply then).  Anything else is fatal.
 */
static void main_activated_sockets(const struct homa_config *cfg,
				   struct main_activated *a)
{
	int n = sd_listen_fds(1);
	int rc;

	a->ctl_fd = -1;
	a->client_fd = -1;
	if (n < 0)
		fatalx("socket activation: %s", strerror(-n));
	if (n > 2)
		fatalx("socket activation: expected the control and the client "
		       "socket, systemd passed %d",
		       n);
	for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++) {
		rc = sd_is_socket(fd, AF_UNIX, SOCK_SEQPACKET, 1);
		if (rc < 0)
			fatalx("socket activation: %s", strerror(-rc));
		if (rc == 0)
			fatalx("socket activation: descriptor %d is not a "
			       "listening unix SOCK_SEQPACKET socket",
			       fd);
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			fatal("socket activation: fcntl");
		rc = sd_is_socket_unix(fd, SOCK_SEQPACKET, 1,
				       cfg->client_socket, 0);
		if (rc < 0)
			fatalx("socket activation: %s", strerror(-rc));
		if (rc > 0 && a->client_fd < 0) {
			/* The data plane accepts with io_uring: blocking. */
			if (fcntl(fd, F_SETFL,
				  fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
				fatal("socket activation: fcntl");
			a->client_fd = fd;
			continue;
		}
		if (a->ctl_fd >= 0)
			fatalx("socket activation: neither of the two sockets "
			       "is clients.socket %s",
			       cfg->client_socket);
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
			fatal("socket activation: fcntl");
		a->ctl_fd = fd;
	}
}

/*
 * homad -n: the configuration loaded; also check that the user and group
 * it names exist.  Returns the exit status.
 */
static int main_check(const struct homa_config *cfg)
{
	const struct passwd *pw = NULL;

	if (cfg->user[0] != '\0') {
		pw = getpwnam(cfg->user);
		if (pw == NULL) {
			fprintf(stderr, "homad: user \"%s\" does not exist\n",
				cfg->user);
			return 1;
		}
	}
	/* What start-up refuses (privs_drop), -n refuses too. */
	if (pw != NULL && pw->pw_uid == 0) {
		fprintf(stderr,
			"homad: user \"%s\" has uid 0: refusing to run as "
			"root after start-up\n",
			cfg->user);
		return 1;
	}
	for (unsigned i = 0;
	     i < cfg->n_interfaces && i < HOMA_CONF_MAX_INTERFACES; i++) {
		char name[IF_NAMESIZE + 1];

		snprintf(name, sizeof(name), "%.*s", IF_NAMESIZE,
			 cfg->interfaces[i]);
		if (if_nametoindex(name) == 0) {
			fprintf(stderr,
				"homad: network.interfaces: no interface "
				"\"%s\" here\n",
				name);
			return 1;
		}
	}
	for (unsigned i = 0;
	     i < cfg->n_addresses && i < HOMA_CONF_MAX_ADDRESSES; i++) {
		const struct homa_conf_addr *a = &cfg->addresses[i];
		struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
		struct sockaddr_in s4 = {.sin_family = AF_INET};
		int fd = socket(a->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		int rc;

		if (fd < 0)
			continue; /* no such family here: start says so */
		if (a->family == AF_INET6) {
			s6.sin6_addr = a->a.v6;
			rc = bind(fd, (struct sockaddr *)&s6, sizeof(s6));
		} else {
			s4.sin_addr = a->a.v4;
			rc = bind(fd, (struct sockaddr *)&s4, sizeof(s4));
		}
		if (rc < 0 && errno == EADDRNOTAVAIL) {
			fprintf(stderr,
				"homad: network.addresses: %s is not an "
				"address of this host\n",
				a->text);
			close(fd);
			return 1;
		}
		close(fd);
	}
	if (cfg->socket_group[0] != '\0' &&
	    getgrnam(cfg->socket_group) == NULL) {
		fprintf(stderr,
			"homad: control socket group \"%s\" does not exist\n",
			cfg->socket_group);
		return 1;
	}
	if (cfg->client_socket_group[0] != '\0' &&
	    getgrnam(cfg->client_socket_group) == NULL) {
		fprintf(stderr,
			"homad: client socket group \"%s\" does not exist\n",
			cfg->client_socket_group);
		return 1;
	}
	if (strcmp(cfg->client_socket, cfg->control_socket) == 0) {
		fprintf(stderr,
			"homad: the client socket and the control socket are "
			"both %s\n",
			cfg->client_socket);
		return 1;
	}
	printf("configuration OK: %s\n",
	       cfg->path[0] != '\0' ? cfg->path : "defaults");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check", no_argument, NULL, 'n'},
		{"socket", required_argument, NULL, 'S'},
		{"client-socket", required_argument, NULL, 'C'},
		{"user", required_argument, NULL, 'u'},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static struct homa_config cfg;
	struct ctl_options opts = {.start_ns = homad_now_ns()};
	const char *config_path = NULL;
	bool check = false, activated, client_activated;
	struct main_activated act;
	char err[1024];
	sigset_t sigs;
	struct ev_loop *loop;
	struct ctl *ctl;
	struct dp *dp;
	int opt, instance_fd, listen_fd, client_fd, rc;

	while ((opt = getopt_long(argc, argv, "c:nS:C:u:vVh", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'n':
			check = true;
			break;
		case 'S':
			opts.socket_path = optarg;
			break;
		case 'C':
			opts.client_socket_path = optarg;
			break;
		case 'u':
			opts.user = optarg;
			break;
		case 'v':
			opts.debug = true;
			break;
		case 'V':
			printf("homad %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			main_usage(stdout);
			return 0;
		default:
			main_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "homad: unexpected argument \"%s\"\n",
			argv[optind]);
		main_usage(stderr);
		return 2;
	}
	if (opts.socket_path != NULL &&
	    (opts.socket_path[0] == '\0' ||
	     strlen(opts.socket_path) >=
		     sizeof(((struct sockaddr_un *)0)->sun_path))) {
		fprintf(stderr,
			"homad: -S: socket path is empty or too long\n");
		return 2;
	}
	if (opts.client_socket_path != NULL &&
	    (opts.client_socket_path[0] == '\0' ||
	     strlen(opts.client_socket_path) >=
		     sizeof(((struct sockaddr_un *)0)->sun_path))) {
		fprintf(stderr,
			"homad: -C: socket path is empty or too long\n");
		return 2;
	}
	if (opts.user != NULL &&
	    (opts.user[0] == '\0' || strlen(opts.user) >= sizeof(cfg.user))) {
		fprintf(stderr, "homad: -u: user name is empty or too long\n");
		return 2;
	}
	opts.config_path =
		config_path != NULL ? config_path : HOMA_CONF_DEFAULT_PATH;
	opts.config_explicit = config_path != NULL;

	log_init("homad", opts.debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	if (config_load_default(&cfg, opts.config_path, opts.config_explicit,
				err, sizeof(err)) < 0) {
		if (check) {
			fprintf(stderr, "homad: %s\n", err);
			return 1;
		}
		fatalx("%s", err);
	}
	ctl_apply_overrides(&cfg, &opts);
	if (check)
		return main_check(&cfg);
	log_set_level((enum log_level)cfg.log_level);
	log_info("homad %s starting, configuration: %s", PACKAGE_VERSION,
		 cfg.path[0] != '\0' ? cfg.path : "defaults");

	instance_fd = main_single_instance();
	if (instance_fd == -EADDRINUSE)
		fatalx("another homad is already running in this network "
		       "namespace");
	if (instance_fd < 0)
		fatalx("single-instance check: %s", strerror(-instance_fd));

	if (strcmp(cfg.client_socket, cfg.control_socket) == 0)
		fatalx("the client socket and the control socket are both %s",
		       cfg.client_socket);
	main_activated_sockets(&cfg, &act);
	client_fd = act.client_fd;
	client_activated = client_fd >= 0;
	if (client_activated) {
		if (ctl_client_socket_adopt(&cfg, err, sizeof(err)) < 0)
			log_warnx("%s", err);
		log_info("client socket %s passed by systemd",
			 cfg.client_socket);
	} else {
		client_fd = ctl_client_socket_create(&cfg, err, sizeof(err));
		if (client_fd < 0)
			fatalx("%s", err);
		log_info("client socket %s", cfg.client_socket);
	}

	dp = dp_create(&cfg, err, sizeof(err));
	if (dp == NULL ||
	    dp_serve_clients(dp, client_fd, err, sizeof(err)) < 0) {
		if (!client_activated)
			unlink(cfg.client_socket);
		fatalx("%s", err);
	}

	listen_fd = act.ctl_fd;
	activated = listen_fd >= 0;
	if (activated) {
		log_info("control socket passed by systemd");
	} else {
		listen_fd = ctl_socket_create(&cfg, err, sizeof(err));
		if (listen_fd < 0) {
			if (!client_activated)
				unlink(cfg.client_socket);
			fatalx("%s", err);
		}
		log_info("control socket %s", cfg.control_socket);
	}

	/* Before the privilege drop: it connects to systemd's socket. */
	loop = ev_default_loop(EVFLAG_AUTO);
	if (loop == NULL)
		fatalx("cannot create the event loop");
	ctl = ctl_create(loop, dp, &cfg, &opts, listen_fd);
	if (ctl == NULL)
		fatalx("out of memory");

	if (cfg.user[0] != '\0') {
		if (privs_drop(cfg.user, err, sizeof(err)) < 0) {
			if (!activated)
				unlink(cfg.control_socket);
			if (!client_activated)
				unlink(cfg.client_socket);
			fatalx("cannot switch to user %s: %s", cfg.user, err);
		}
		log_info("running as user %s with CAP_NET_RAW only", cfg.user);
	}

	/*
	 * The data-plane thread inherits these blocked: the signals are the
	 * control plane's.  They are unblocked on this thread once libev's
	 * handlers are in place (libev may leave the mask alone), so one that
	 * came during start-up is acted on then.
	 */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	rc = dp_start(dp, ctl_dp_notify, ctl, err, sizeof(err));
	if (rc < 0)
		fatalx("cannot start the data plane: %s", err);
	rc = ctl_start(ctl);
	if (rc < 0)
		fatalx("cannot reach the data plane: %s", strerror(-rc));
	pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);

	ev_run(loop, 0);

	ctl_destroy(ctl);
	dp_destroy(dp);
	if (!activated && unlink(cfg.control_socket) < 0)
		log_notice("control socket %s left behind: %s (the next homad "
			   "removes it)",
			   cfg.control_socket, strerror(errno));
	if (!client_activated && unlink(cfg.client_socket) < 0)
		log_notice("client socket %s left behind: %s (the next homad "
			   "removes it)",
			   cfg.client_socket, strerror(errno));
	close(instance_fd);
	log_info("homad stopped");
	return 0;
}
