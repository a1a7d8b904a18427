/*
 * conf.h - homa.conf: homad's configuration, read with libconfig.
 *
 * Every key is known, typed and range-checked; an unknown key, a wrong
 * type or an out-of-range value is an error whose text names the file, the
 * line, the value and the allowed range, e.g.
 *   /etc/homa.conf:12: max_overcommit = 0 is out of range (1..128)
 * With no file at all homad runs on the embedded defaults.
 *
 * struct homa_config holds no pointers: it can be copied by value and handed
 * between threads as a whole.
 */
#ifndef HOMAD_CONF_H
#define HOMAD_CONF_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include "core/engine.h"
#include "fault.h"
#include "paths.h"

#define HOMA_CONF_DEFAULT_UDP_PORT 4146
#define HOMA_CONF_MAX_ADDRESSES	   16
#define HOMA_CONF_MAX_INTERFACES   16
#define HOMA_CONF_MAX_BIND_IDS	   16

enum homa_link_kind {
	HOMA_LINK_IP, /* raw IP protocol 146: byte-compatible with the module */
	HOMA_LINK_UDP, /* the same packets inside UDP datagrams */
};

/*
 * How the data plane sleeps (network.ring_wait).  URING: in
 * io_uring_enter, waiting for a completion (one system call).  POLL: in
 * poll(2) on the ring's descriptor, then reaping without blocking (one
 * more system call per sleep): the same completions, for tools that cannot
 * let other threads run while one blocks in io_uring_enter (valgrind
 * 3.19).
 */
enum homa_ring_wait {
	HOMA_RING_WAIT_URING,
	HOMA_RING_WAIT_POLL,
};

/* One local address homad receives on (and sends from). */
struct homa_conf_addr {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} a;
	char text[INET6_ADDRSTRLEN];
};

struct homa_config {
	/* File this came from; "" when built from the defaults alone. */
	char path[4096];

	/* protocol { ... }: the engine's parameters. */
	struct homa_params proto;

	/* network { ... } */
	enum homa_link_kind link; /* [ip] */
	uint16_t udp_port;	  /* [4146] UDP link's port */
	bool ipv4;		  /* [true] open IPv4 sockets */
	bool ipv6;		  /* [true] open IPv6 sockets */
	unsigned n_addresses;	  /* [0: any] addresses to bind */
	struct homa_conf_addr addresses[HOMA_CONF_MAX_ADDRESSES];
	unsigned n_interfaces; /* [0: all] SO_BINDTODEVICE */
	char interfaces[HOMA_CONF_MAX_INTERFACES][IF_NAMESIZE];
	uint32_t mtu;		       /* [0: from the interfaces, else 1500] */
	uint32_t rx_buffers;	       /* [512] provided buffers in the ring */
	uint32_t tx_queue;	       /* [4096] packets queued for sending */
	uint32_t ring_entries;	       /* [256] io_uring submission entries */
	uint32_t rcvbuf;	       /* [0: 16 MiB] SO_RCVBUF per socket */
	enum homa_ring_wait ring_wait; /* [io_uring] */
	uint32_t spin_us; /* [0] busy-poll this long before sleeping */

	/* control { ... } */
	char control_socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint32_t socket_mode;  /* [0660] */
	char socket_group[64]; /* [""]: keep the creator's group */

	/* clients { ... }: the applications' socket (libhomaclient). */
	char client_socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint32_t client_socket_mode;  /* [0666] */
	char client_socket_group[64]; /* [""]: keep the creator's group */
	/*
	 * Who may bind ports below 0x8000 (HOMA_MIN_DEFAULT_PORT): these
	 * uids and gids (and root).  Both lists empty [default]: anyone, as
	 * with the kernel module.
	 */
	unsigned n_bind_uids;
	uint32_t bind_uids[HOMA_CONF_MAX_BIND_IDS];
	unsigned n_bind_gids;
	uint32_t bind_gids[HOMA_CONF_MAX_BIND_IDS];
	uint32_t max_inline; /* [1024] bytes carried in descriptors */
	/*
	 * Direct send (proto/homa_shm.h): the members of these groups (and
	 * no one else, root included) may send their short messages
	 * themselves, through a send-only raw socket homad hands them.
	 * [] [default]: nobody.
	 */
	unsigned n_direct_gids;
	uint32_t direct_gids[HOMA_CONF_MAX_BIND_IDS];
	/*
	 * [true] Direct receive (proto/homa_shm.h) for those clients, with
	 * direct send, on the ip link: a client reads the single-packet
	 * responses to its unbound sockets itself.
	 */
	bool direct_receive;

	/* daemon { ... } */
	char user[64]; /* [""]: stay root; else switch to it */
	int log_level; /* [info] enum log_level */

	/* limits { ... } */
	uint32_t max_clients;		 /* [1024] client connections */
	uint32_t max_sockets_per_client; /* [64] */
	uint32_t max_direct_sockets;	 /* [64] direct-send sockets */
	uint32_t max_rpcs;		 /* [100000] RPCs on this host */
	uint32_t max_peers;		 /* [10000] peer table entries */
	/*
	 * [64 GiB] bytes of client regions (receive pools + transmit areas)
	 * homad maps at once, all clients together.
	 */
	uint64_t max_memory;
	uint64_t max_client_memory;   /* [8 GiB] the same, per client process */
	uint32_t max_rpcs_per_client; /* [10000] outstanding client RPCs of
					 one client process */

	/* test { ... }: fault injection in the link layer (fault.h). */
	struct fault_params test;
};

/* Fill cfg with the embedded defaults (path ""). */
void config_defaults(struct homa_config *cfg);

/*
 * Load cfg from the file at path over the defaults.  Returns 0, or -1 with
 * a one-line message in err[0..errlen) naming file, line, key, value and
 * allowed range (or the libconfig syntax error, or why the file could not
 * be read).  cfg is only written on success.
 */
int config_load(struct homa_config *cfg, const char *path, char *err,
		size_t errlen);

/*
 * config_load on the contents of a file given as text[0..len) (no NUL
 * inside, at most 1 MiB), named name in messages and cfg->path: the same
 * checks, the same messages.  config_load reads the file and parses it
 * with the same code.
 */
int config_load_text(struct homa_config *cfg, const char *name,
		     const char *text, size_t len, char *err, size_t errlen);

/*
 * Load for homad's start-up and reloads: an explicit path must exist; the
 * default path (explicit == false) may be absent, and then the defaults are
 * used.  Same contract as config_load otherwise.
 */
int config_load_default(struct homa_config *cfg, const char *path,
			bool explicit_path, char *err, size_t errlen);

/*
 * Set one key at run time (`homactl set`): key is "group.name", value its
 * value as it would be written in homa.conf (0.05, 100, true, "text",
 * [1, 2], or for "peers" a list of groups).  Every key but the ones of
 * CONFIG_RESTART_KEYS may be set this way.  The value goes
 * through the same type and range checks as the file's; cfg is only
 * written on success.  Returns 0; -ENOENT for an unknown key, -EPERM for a
 * key that cannot be set at run time, -EINVAL for a bad value, each with a
 * one-line message in err, e.g.
 *   test.rx_drop = 2 is out of range (0.0..1.0)
 */
int config_set(struct homa_config *cfg, const char *key, const char *value,
	       char *err, size_t errlen);

/*
 * The keys that need a restart (a reload keeps their running values,
 * config_set refuses them), for messages.
 */
#define CONFIG_RESTART_KEYS                                             \
	"network.* except network.spin_us, control.*, clients.socket, " \
	"clients.socket_mode, clients.socket_group, daemon.user and "   \
	"limits.max_clients"

/* Longest value text config_foreach gives (longer ones are cut). */
#define CONFIG_MAX_VALUE_TEXT 2048

/*
 * Call visit once per key of homa.conf, in the file's order, with its
 * name ("group.name"; "peers" for the top-level list), its value in cfg
 * written as in homa.conf, and whether it changes at run time (reload,
 * config_set) or only with a restart.
 */
void config_foreach(const struct homa_config *cfg,
		    void (*visit)(void *arg, const char *key, const char *value,
				  bool runtime),
		    void *arg);

/* Name of a link kind: "ip" or "udp". */
const char *config_link_name(enum homa_link_kind link);

#endif /* HOMAD_CONF_H */
