/*
 * handoff.c - Homa sockets across fork and exec.
 *
 * fork: the child inherits the descriptors (one connection to homad, now
 * shared), the mappings (the pool and the transmit area stay shared with
 * homad) and a copy of the library's state.  The atfork handlers hold
 * every socket's lock across fork, so the copy is consistent, and repair
 * in the child what belonged to the parent's other threads (the reader's
 * role, commands waiting for replies, condition variables, locks).  One
 * process at a time should then use a socket (libhomapreload(7)).
 *
 * exec: a socket whose descriptor survives exec (no FD_CLOEXEC) is handed
 * over: its state (handoff_export) goes into a memfd the new program
 * inherits together with dups of the regions' memfds, and
 * HOMA_PRELOAD_HANDOFF=fd:count in its environment says where; the
 * library's constructor in the new program rebuilds the sockets
 * (handoff_import), mapping the pool at the same address when it is free.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client_int.h"
#include "preload_int.h"

#define HP_EXPORT __attribute__((visibility("default")))
#define HO_ENV	  "HOMA_PRELOAD_HANDOFF"
#define HO_MAXFDS 64 /* descriptors of one socket handed over, at most */

extern char **environ;

/* One socket's record in the handoff file, before its handoff_export. */
struct ho_rec {
	uint32_t nfds;
	int32_t fds[HO_MAXFDS];
	int32_t rx_fd, tx_fd; /* -1: not opened (no state follows) */
	int32_t family;
	uint32_t bound_port;
	uint8_t server, nonblock, pad[2];
	int64_t rcvtimeo_ms;
	uint64_t rx_start, rx_length, pool_bytes;
};

/* ---- fork ------------------------------------------------------------- */

struct ho_fork {
	struct psock *seen[1024]; /* sockets locked, at most */
	unsigned n;
};

static struct ho_fork ho_fork;
static pthread_mutex_t ho_fork_lock = PTHREAD_MUTEX_INITIALIZER;

static void ho_lock_one(int fd, struct psock *ps, void *arg)
{
	(void)fd;
	(void)arg;
	for (unsigned i = 0; i < ho_fork.n; i++)
		if (ho_fork.seen[i] == ps)
			return;
	if (ho_fork.n == sizeof(ho_fork.seen) / sizeof(ho_fork.seen[0]))
		return;
	ho_fork.seen[ho_fork.n++] = ps;
	pthread_mutex_lock(&ps->lock);
	pthread_rwlock_rdlock(&ps->rw);
	if (ps->s != NULL)
		pthread_mutex_lock(&ps->s->lock);
}

static void ho_prepare(void)
{
	pthread_mutex_lock(&ho_fork_lock);
	ho_fork.n = 0;
	hp_tab_lock();
	hp_each(ho_lock_one, NULL);
}

static void ho_parent(void)
{
	for (unsigned i = 0; i < ho_fork.n; i++) {
		struct psock *ps = ho_fork.seen[i];

		if (ps->s != NULL)
			pthread_mutex_unlock(&ps->s->lock);
		pthread_rwlock_unlock(&ps->rw);
		pthread_mutex_unlock(&ps->lock);
	}
	hp_tab_unlock();
	pthread_mutex_unlock(&ho_fork_lock);
}

static void ho_count_ref(int fd, struct psock *ps, void *arg)
{
	(void)fd;
	(void)arg;
	atomic_fetch_add(&ps->refs, 1);
}

static void ho_child(void)
{
	for (unsigned i = 0; i < ho_fork.n; i++) {
		struct psock *ps = ho_fork.seen[i];
		struct hc_sock *s = ps->s;

		if (s != NULL) {
			pthread_condattr_t ca;
			struct conn_call **p = &s->calls;

			/* The parent's other threads are not here. */
			s->reading = false;
			while (*p != NULL) {
				if (*p == &s->more_ids)
					p = &(*p)->next;
				else
					*p = (*p)->next;
			}
			pthread_condattr_init(&ca);
			pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
			pthread_cond_init(&s->cond, &ca);
			pthread_condattr_destroy(&ca);
			pthread_mutex_unlock(&s->lock);
		}
		pthread_rwlock_init(&ps->rw, NULL);
		pthread_mutex_init(&ps->lock, NULL);
		atomic_store(&ps->refs, 0);
	}
	/* One reference per descriptor: calls in progress were the parent's. */
	hp_each(ho_count_ref, NULL);
	hp_tab_unlock();
	pthread_mutex_unlock(&ho_fork_lock);
}

/* ---- exec ------------------------------------------------------------- */

struct ho_exec {
	int statefd;
	unsigned count;
	int dups[2 * 1024]; /* memfd dups made for the new program */
	unsigned ndups;
	struct psock *done[1024];
	unsigned ndone;
	int err;
};

static int ho_dup(struct ho_exec *x, int fd)
{
	int d;

	if (x->ndups == sizeof(x->dups) / sizeof(x->dups[0])) {
		x->err = EMFILE;
		return -1;
	}
	d = hp_real.fcntl(fd, F_DUPFD, 0);
	if (d < 0)
		x->err = errno;
	else
		x->dups[x->ndups++] = d;
	return d;
}

static void ho_write(struct ho_exec *x, const void *p, size_t n)
{
	ssize_t w = x->err ? -1 : write(x->statefd, p, n);

	if (!x->err && w != (ssize_t)n)
		x->err = w < 0 ? errno : EIO;
}

/* Collect the inherited descriptors of ps and write its record. */
static void ho_export_one(int fd, struct psock *ps, void *arg)
{
	struct ho_exec *x = arg;
	struct ho_rec r;

	(void)fd;
	if (x->err)
		return;
	for (unsigned i = 0; i < x->ndone; i++)
		if (x->done[i] == ps)
			return;
	if (x->ndone == sizeof(x->done) / sizeof(x->done[0]))
		return;
	x->done[x->ndone++] = ps;
	memset(&r, 0, sizeof(r));
	for (int d = 0; d < HP_MAX_FD && r.nfds < HO_MAXFDS; d++) {
		struct psock *o = hp_peek(d);
		int fl;

		if (o != ps)
			continue;
		fl = hp_real.fcntl(d, F_GETFD);
		if (fl >= 0 && !(fl & FD_CLOEXEC))
			r.fds[r.nfds++] = d;
	}
	if (r.nfds == 0)
		return; /* closed by exec */
	r.family = ps->family;
	r.bound_port = ps->bound_port;
	r.server = ps->server;
	r.nonblock = ps->nonblock;
	r.rcvtimeo_ms = ps->rcvtimeo_ms;
	r.rx_start = ps->rx_start;
	r.rx_length = ps->rx_length;
	r.pool_bytes = ps->pool_bytes;
	r.rx_fd = r.tx_fd = -1;
	if (ps->s != NULL) {
		pthread_mutex_lock(&ps->s->lock);
		conn_flush_locked(ps->s); /* what can go without waiting */
		pthread_mutex_unlock(&ps->s->lock);
		r.rx_fd = ho_dup(x, ps->s->rx_fd);
		r.tx_fd = ho_dup(x, ps->s->tx_fd);
	}
	ho_write(x, &r, sizeof(r));
	if (!x->err && ps->s != NULL) {
		int rc = handoff_export(ps->s, x->statefd);

		if (rc < 0)
			x->err = -rc;
	}
	x->count++;
}

/* Undo what ho_env made (exec failed). */
static void ho_undo(struct ho_exec *x, char **env)
{
	int e = errno;

	for (unsigned i = 0; i < x->ndups; i++)
		hp_real.close(x->dups[i]);
	if (x->statefd >= 0)
		hp_real.close(x->statefd);
	free(env);
	errno = e;
}

/*
 * The environment for the new program: envp without HO_ENV, plus HO_ENV
 * when sockets are handed over (x filled).  NULL with errno on failure.
 */
static char **ho_env(char *const envp[], struct ho_exec *x, char *var,
		     size_t varlen)
{
	size_t n = 0, k = 0;
	char **env;

	memset(x, 0, sizeof(*x));
	x->statefd = -1;
	if (hp_any()) {
		x->statefd = memfd_create("homa-handoff", 0);
		if (x->statefd < 0)
			return NULL;
		hp_tab_lock();
		hp_each(ho_export_one, x);
		hp_tab_unlock();
		if (x->err) {
			errno = x->err;
			ho_undo(x, NULL);
			return NULL;
		}
		lseek(x->statefd, 0, SEEK_SET);
	}
	while (envp != NULL && envp[n] != NULL)
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (env == NULL) {
		ho_undo(x, NULL);
		errno = ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (strncmp(envp[i], HO_ENV "=", sizeof(HO_ENV)) != 0)
			env[k++] = envp[i];
	if (x->count > 0) {
		snprintf(var, varlen, HO_ENV "=%d:%u", x->statefd, x->count);
		env[k++] = var;
	}
	env[k] = NULL;
	return env;
}

HP_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	struct ho_exec x;
	char var[64];
	char **env;

	hp_resolve();
	env = ho_env(envp, &x, var, sizeof(var));
	if (env == NULL)
		return -1;
	hp_real.execve(path, argv, env);
	ho_undo(&x, env);
	return -1;
}

HP_EXPORT int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

HP_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	static int (*real_execvpe)(const char *, char *const[], char *const[]);
	struct ho_exec x;
	char var[64];
	char **env;

	hp_resolve();
	if (real_execvpe == NULL)
		*(void **)&real_execvpe = dlsym_next("execvpe");
	env = ho_env(envp, &x, var, sizeof(var));
	if (env == NULL)
		return -1;
	real_execvpe(file, argv, env);
	ho_undo(&x, env);
	return -1;
}

HP_EXPORT int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

HP_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	static int (*real_fexecve)(int, char *const[], char *const[]);
	struct ho_exec x;
	char var[64];
	char **env;

	hp_resolve();
	if (real_fexecve == NULL)
		*(void **)&real_fexecve = dlsym_next("fexecve");
	env = ho_env(envp, &x, var, sizeof(var));
	if (env == NULL)
		return -1;
	real_fexecve(fd, argv, env);
	ho_undo(&x, env);
	return -1;
}

/* The arguments of an execl* call as an argv (malloc'ed), envp after. */
static char **ho_args(const char *arg0, va_list ap, char ***envp)
{
	size_t n = 1, cap = 16;
	char **argv = malloc(cap * sizeof(*argv));
	char *a;

	if (argv == NULL)
		return NULL;
	argv[0] = (char *)arg0;
	do {
		a = va_arg(ap, char *);
		if (n == cap) {
			char **p = realloc(argv, 2 * cap * sizeof(*argv));

			if (p == NULL) {
				free(argv);
				return NULL;
			}
			argv = p;
			cap *= 2;
		}
		argv[n++] = a;
	} while (a != NULL);
	if (envp != NULL)
		*envp = va_arg(ap, char **);
	return argv;
}

HP_EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	char **argv;
	int e;

	va_start(ap, arg);
	argv = ho_args(arg, ap, NULL);
	va_end(ap);
	if (argv == NULL) {
		errno = ENOMEM;
		return -1;
	}
	execve(path, argv, environ);
	e = errno;
	free(argv);
	errno = e;
	return -1;
}

HP_EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	char **argv;
	int e;

	va_start(ap, arg);
	argv = ho_args(arg, ap, NULL);
	va_end(ap);
	if (argv == NULL) {
		errno = ENOMEM;
		return -1;
	}
	execvpe(file, argv, environ);
	e = errno;
	free(argv);
	errno = e;
	return -1;
}

HP_EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	char **argv, **envp = NULL;
	int e;

	va_start(ap, arg);
	argv = ho_args(arg, ap, &envp);
	va_end(ap);
	if (argv == NULL) {
		errno = ENOMEM;
		return -1;
	}
	execve(path, argv, envp);
	e = errno;
	free(argv);
	errno = e;
	return -1;
}

/* ---- the new program's side ------------------------------------------- */

static void ho_import(int statefd, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		struct ho_rec r;
		struct psock *ps;
		int rc = 0;

		if (read(statefd, &r, sizeof(r)) != (ssize_t)sizeof(r) ||
		    r.nfds == 0 || r.nfds > HO_MAXFDS)
			return; /* nothing sensible follows */
		ps = hp_psock_new(r.family);
		if (ps == NULL)
			return;
		ps->bound_port = r.bound_port;
		ps->server = r.server;
		ps->nonblock = r.nonblock;
		ps->rcvtimeo_ms = r.rcvtimeo_ms;
		ps->rx_start = r.rx_start;
		ps->rx_length = r.rx_length;
		ps->pool_bytes = r.pool_bytes;
		ps->pfd = hp_real.fcntl(r.fds[0], F_DUPFD_CLOEXEC, 0);
		if (ps->pfd < 0) {
			ps->broken = errno;
		} else if (r.rx_fd >= 0) {
			void *at = r.pool_bytes ? (void *)(uintptr_t)r.rx_start
						: NULL;

			rc = handoff_import(&ps->s, statefd, ps->pfd, r.rx_fd,
					    r.tx_fd, at);
			if (rc < 0) {
				ps->pfd = -1;
				ps->broken = -rc;
			} else if (at != NULL && !ps->s->rx_fixed) {
				/* Taken in this program: say where it is. */
				ps->rx_start = (uintptr_t)ps->s->rxmap;
			}
			if (ps->s != NULL)
				ps->pfd = hc_fd(ps->s);
		}
		if (r.rx_fd >= 0)
			hp_real.close(r.rx_fd);
		if (r.tx_fd >= 0)
			hp_real.close(r.tx_fd);
		for (uint32_t k = 0; k < r.nfds; k++)
			hp_adopt(r.fds[k], ps);
		if (rc < 0 && ps->s == NULL && ps->pfd < 0 && r.rx_fd >= 0)
			return; /* the file's position is lost */
	}
}

void handoff_init(void)
{
	const char *v = getenv(HO_ENV);
	unsigned count;
	int fd;

	pthread_atfork(ho_prepare, ho_parent, ho_child);
	if (v == NULL || sscanf(v, "%d:%u", &fd, &count) != 2)
		return;
	unsetenv(HO_ENV);
	if (fd < 0 || count == 0 || count > 1024)
		return;
	ho_import(fd, count);
	hp_real.close(fd);
}
