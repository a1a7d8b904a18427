/*
 * preload_int.h - libhomapreload's internals: the Homa sockets of this
 * process, by file descriptor, and the real libc functions under the
 * interposed ones.
 *
 * A Homa socket of the application is a preload socket (struct psock): one
 * connection to homad's client socket, seen by the application through its
 * own descriptors (the number socket() returned and its dups, all on the
 * connection's open file description) and used by libhomaclient through a
 * private descriptor of its own (psock.pfd, close-on-exec).  Every
 * interposed call looks the descriptor up in a table; descriptors that are
 * not in it (every non-Homa fd, and libhomaclient's private ones) go
 * straight to libc.
 */
#ifndef HOMAD_LIBPRELOAD_PRELOAD_INT_H
#define HOMAD_LIBPRELOAD_PRELOAD_INT_H

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>

#include "homa/client.h"

/* Descriptors the table covers; a Homa socket at or above: EMFILE. */
#define HP_MAX_FD 65536
/* Receive pool before SO_HOMA_RCVBUF (homad's minimum, two bpages). */
#define HP_SMALL_POOL (2u * HC_BPAGE_SIZE)

struct psock {
	/*
	 * Held for reading by every call using s, for writing while s is
	 * replaced (SO_HOMA_RCVBUF after the socket was opened with the
	 * small pool).
	 */
	pthread_rwlock_t rw;
	pthread_mutex_t lock; /* the fields below that calls change */
	atomic_int refs;      /* table entries + calls in progress */

	int family;	   /* AF_INET or AF_INET6 */
	int pfd;	   /* libhomaclient's descriptor of the connection */
	struct hc_sock *s; /* NULL until homad was sent Open */
	int broken;	   /* errno after a failed Open: every call fails */
	bool nonblock;	   /* O_NONBLOCK of the file description */

	/* SO_HOMA_RCVBUF: the application's region, or all 0. */
	uint64_t rx_start, rx_length;
	uint64_t pool_bytes; /* the part homad uses (64 KiB multiple) */
	unsigned bound_port; /* bind()'s port (for a re-open), 0 none */
	bool server;	     /* SO_HOMA_SERVER (for a re-open) */
	int64_t rcvtimeo_ms; /* SO_RCVTIMEO, -1: none */

	char errmsg[104]; /* HOMAIOCINFO error_msg */
};

/* The real functions (preload.c resolves them with RTLD_NEXT). */
struct hp_real {
	int (*socket)(int, int, int);
	int (*close)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*ioctl)(int, unsigned long, ...);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *,
		     const sigset_t *);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *,
		       const struct timespec *, const sigset_t *);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	int (*epoll_pwait)(int, struct epoll_event *, int, int,
			   const sigset_t *);
	int (*execve)(const char *, char *const[], char *const[]);
	int (*fork)(void);
};
extern struct hp_real hp_real;
/* Fill hp_real (once; every interposed function calls it first). */
void hp_resolve(void);

/* preload.c */
/*
 * The socket of fd with a reference taken (hp_put it), or NULL: fd is no
 * Homa socket.
 */
struct psock *hp_get(int fd);
void hp_put(struct psock *ps);
/* Whether fd is a Homa socket (no reference). */
bool hp_is_homa(int fd);
/*
 * Readiness of a Homa socket for poll: POLLIN when a message or a failure
 * is ready for recvmsg(id 0) (or after shutdown), POLLOUT when a send
 * would not wait.  Reads what homad sent meanwhile (never waits).
 */
short hp_ready(struct psock *ps);
/*
 * As hp_ready, from what the library holds only (no read of the
 * connection): before a wait, whose kernel part sees unread datagrams.
 */
short hp_ready_held(struct psock *ps);
/*
 * fn(fd, ps, arg) for every descriptor of a Homa socket (call it with the
 * table locked: hp_tab_lock).
 */
void hp_each(void (*fn)(int fd, struct psock *ps, void *arg), void *arg);
void hp_tab_lock(void);
void hp_tab_unlock(void);
/* The socket of fd, no reference taken (table locked), or NULL. */
struct psock *hp_peek(int fd);
/* Whether the process has a Homa socket. */
bool hp_any(void);
/* dlsym(RTLD_NEXT, name); aborts if libc lacks it. */
void *dlsym_next(const char *name);
/* Register ps under fd (a handoff after exec).  0 or -errno. */
int hp_adopt(int fd, struct psock *ps);
struct psock *hp_psock_new(int family);

/* wait.c: poll, select, epoll on Homa sockets. */
/* Forget what epoll knows of fd (closed). */
void wait_forget_fd(int fd);

/* handoff.c: fork and exec. */
void handoff_init(void);

#endif /* HOMAD_LIBPRELOAD_PRELOAD_INT_H */
