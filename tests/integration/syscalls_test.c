/*
 * syscalls_test.c - system calls per RPC of libhomaclient applications
 * (issue 13): counted, not timed.  The program defines the socket calls the
 * library makes (recv, send, sendmmsg, poll, setsockopt, ...), so that the
 * library's calls come here; each counts in its thread's counters and calls
 * the C library's.  A server thread (homad B's client socket, -b) echoes
 * every request, waiting in hc_recv with a timeout; the main thread (homad
 * A's, -a) sends 100-byte requests to it, one at a time, in each way an
 * application waits, and checks what each RPC cost:
 *
 *   forever   hc_recv(s, 0, -1): a send and a blocking read
 *   timed     hc_recv(s, 0, 1000): the same (the read's SO_RCVTIMEO)
 *   private   HC_PRIVATE, hc_recv(s, id, 1000): the same
 *   poll      poll(hc_fd), hc_recv(s, 0, 0), hc_queued: poll, read, send
 *   ready     poll(hc_fd), hc_ready, hc_recv while hc_queued: the same
 *   server    the echo server: a blocking read and a send per request
 *
 * and that no read finds nothing (a non-blocking read failing EAGAIN).
 * Then the waits that end without a message: hc_recv(s, 0, 300) returns
 * -EAGAIN after 300 ms or more (a read's SO_RCVTIMEO ends early, never
 * late), and after a fork whose child sets the connection's SO_RCVTIMEO to
 * none, a timed wait still ends (the library polls again).
 *
 * Usage: syscalls_test -a SOCK -b SOCK -d ADDR [-n RPCS].  Exit 0 pass
 * (one line of numbers per case on stdout), 1 fail (reasons on stderr),
 * 2 usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#undef _FORTIFY_SOURCE
#include <config.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <homa/client.h>

#define PORT 4199
#define WARM 20

/* A thread's system calls. */
struct counts {
	unsigned long reads; /* recv, recvfrom, recvmsg, recvmmsg */
	unsigned long empty; /* of them: non-blocking, failed EAGAIN */
	unsigned long sends; /* send, sendto, sendmsg, sendmmsg */
	unsigned long waits; /* poll, ppoll */
	unsigned long other; /* setsockopt */
};

static __thread struct counts cnt;

static unsigned long total(const struct counts *c)
{
	return c->reads + c->sends + c->waits + c->other;
}

/* ---- the calls, counted ----------------------------------------------- */

/* The C library's function of that name (as the name's type). */
#define REAL(name) ((__typeof__(name) *)real_sym(#name))

static void *real_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL)
		abort();
	return p;
}

static void count_read(ssize_t n, int flags)
{
	cnt.reads++;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
	    (flags & MSG_DONTWAIT))
		cnt.empty++;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t n;

	n = REAL(recv)(fd, buf, len, flags);
	count_read(n, flags);
	return n;
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
		 struct sockaddr *addr, socklen_t *alen)
{
	ssize_t n;

	n = REAL(recvfrom)(fd, buf, len, flags, addr, alen);
	count_read(n, flags);
	return n;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	ssize_t n;

	n = REAL(recvmsg)(fd, msg, flags);
	count_read(n, flags);
	return n;
}

int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags,
	     struct timespec *tmo)
{
	int rc;

	rc = REAL(recvmmsg)(fd, v, n, flags, tmo);
	count_read(rc, flags);
	return rc;
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	cnt.sends++;
	return REAL(send)(fd, buf, len, flags);
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags,
	       const struct sockaddr *addr, socklen_t alen)
{
	cnt.sends++;
	return REAL(sendto)(fd, buf, len, flags, addr, alen);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	cnt.sends++;
	return REAL(sendmsg)(fd, msg, flags);
}

int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	cnt.sends++;
	return REAL(sendmmsg)(fd, v, n, flags);
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	cnt.waits++;
	return REAL(poll)(fds, n, timeout);
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
	  const sigset_t *mask)
{
	cnt.waits++;
	return REAL(ppoll)(fds, n, tmo, mask);
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	cnt.other++;
	return REAL(setsockopt)(fd, level, name, val, len);
}

/* ---- the server ------------------------------------------------------- */

static const char *sock_a, *sock_b;
static struct counts *srv_cnt; /* the server thread's */
static unsigned long srv_reqs;
static int srv_err;
static struct hc_sock *srv;

static int open_sock(struct hc_sock **s, const char *path)
{
	struct hc_options o;
	int rc;

	hc_options_init(&o);
	o.socket_path = path;
	rc = hc_open(s, AF_INET, &o);
	if (rc < 0)
		fprintf(stderr, "hc_open %s: %s\n", path, hc_strerror(rc));
	return rc;
}

/*
 * Echo until hc_shutdown; *srv_cnt: the calls since the first request was
 * read, srv_reqs the requests (both read by the main thread between RPCs,
 * while this one waits in its read).
 */
static void *server(void *arg)
{
	struct hc_msg m;
	uint8_t buf[100];
	int rc;

	(void)arg;
	__atomic_store_n(&srv_cnt, &cnt, __ATOMIC_RELEASE);
	for (;;) {
		rc = hc_recv(srv, 0, 10000, &m);
		if (rc == -EAGAIN)
			continue;
		if (rc < 0)
			break;
		if (__atomic_fetch_add(&srv_reqs, 1, __ATOMIC_ACQ_REL) == 0)
			memset(&cnt, 0, sizeof(cnt)); /* its read uncounted */
		if (m.error != 0 || (m.id & 1) == 0) {
			srv_err = EPROTO;
			hc_recycle(srv, &m);
			continue;
		}
		hc_msg_read(srv, &m, 0, buf, sizeof(buf));
		hc_recycle(srv, &m);
		rc = hc_send_response(
			srv, m.id, &m.peer.sa, m.peer_len, buf,
			m.length < sizeof(buf) ? m.length : sizeof(buf), 0);
		if (rc < 0)
			srv_err = -rc;
	}
	if (rc != -ESHUTDOWN)
		srv_err = -rc;
	return NULL;
}

/* ---- the client ------------------------------------------------------- */

enum how { FOREVER, TIMED, PRIVATE, POLL, READY };
static const char *const how_name[] = {"forever", "timed", "private", "poll",
				       "ready"};

static struct sockaddr_in dest;
static int fails;

/* One RPC the way how waits; 0 or -1 (reason printed). */
static int rpc(struct hc_sock *s, enum how how, uint64_t cookie)
{
	uint8_t req[100];
	struct hc_msg m;
	uint64_t id;
	int rc, tries = 0;

	memset(req, (int)(cookie & 0xff), sizeof(req));
	rc = hc_send_request(s, (struct sockaddr *)&dest, sizeof(dest), req,
			     sizeof(req), cookie,
			     how == PRIVATE ? HC_PRIVATE : 0, &id);
	if (rc < 0) {
		fprintf(stderr, "%s: send: %s\n", how_name[how],
			hc_strerror(rc));
		return -1;
	}
	do {
		/* A busy machine may take longer than a wait: wait again. */
		if (how == FOREVER) {
			rc = hc_recv(s, 0, -1, &m);
		} else if (how == PRIVATE) {
			rc = hc_recv(s, id, 1000, &m);
		} else if (how == TIMED) {
			rc = hc_recv(s, 0, 1000, &m);
		} else {
			struct pollfd p = {.fd = hc_fd(s), .events = POLLIN};

			rc = -EAGAIN;
			if (hc_queued(s) == 0 && poll(&p, 1, 1000) <= 0)
				continue;
			if (how == READY && hc_queued(s) == 0)
				hc_ready(s);
			if (how == POLL || hc_queued(s) > 0)
				rc = hc_recv(s, 0, 0, &m);
		}
	} while (rc == -EAGAIN && ++tries < 30);
	if (rc < 0) {
		fprintf(stderr, "%s: recv: %s\n", how_name[how],
			hc_strerror(rc));
		return -1;
	}
	if (m.error != 0 || m.cookie != cookie || m.length != sizeof(req)) {
		fprintf(stderr, "%s: bad response (error %d)\n", how_name[how],
			m.error);
		hc_recycle(s, &m);
		return -1;
	}
	hc_recycle(s, &m);
	return 0;
}

static void check(const char *name, const struct counts *c, unsigned long n,
		  double max_total, unsigned long max_waits)
{
	double t = (double)total(c) / (double)n;

	printf("%s: %.2f system calls per RPC (reads %.2f, sends %.2f, "
	       "polls %.2f, other %.2f), %lu reads found nothing, over %lu\n",
	       name, t, (double)c->reads / n, (double)c->sends / n,
	       (double)c->waits / n, (double)c->other / n, c->empty, n);
	if (t > max_total || c->empty > 0 || c->waits > max_waits) {
		fprintf(stderr,
			"%s: %.2f system calls per RPC (at most %.2f), %lu "
			"polls (at most %lu), %lu reads that found nothing "
			"(none expected)\n",
			name, t, max_total, c->waits, max_waits, c->empty);
		fails++;
	}
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* hc_recv(s, 0, 300) with nothing coming: -EAGAIN in [300 ms, limit). */
static int quiet_wait(struct hc_sock *s, const char *name, double limit)
{
	struct hc_msg m;
	double t0 = now_ms(), dt;
	int rc = hc_recv(s, 0, 300, &m);

	dt = now_ms() - t0;
	printf("%s: hc_recv(300 ms) with nothing to receive: %s after %.0f "
	       "ms\n",
	       name, hc_strerror(rc), dt);
	if (rc != -EAGAIN || dt < 300 || dt >= limit) {
		fprintf(stderr,
			"%s: %s after %.0f ms (-EAGAIN in 300..%.0f "
			"expected)\n",
			name, hc_strerror(rc), dt, limit);
		return -1;
	}
	return 0;
}

/*
 * A fork whose child sets the shared connection's SO_RCVTIMEO to none (as
 * its library would for a wait forever): the parent's timed waits still
 * end, and its RPCs poll first.
 */
static int after_fork(struct hc_sock *s, unsigned long n)
{
	struct timeval none = {0, 0};
	struct counts c;
	pid_t pid;
	int status;

	pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		setsockopt(hc_fd(s), SOL_SOCKET, SO_RCVTIMEO, &none,
			   sizeof(none));
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || status != 0) {
		fprintf(stderr, "fork: the child failed\n");
		return -1;
	}
	if (quiet_wait(s, "after fork", 5000) < 0)
		return -1;
	memset(&cnt, 0, sizeof(cnt));
	for (unsigned long i = 0; i < n; i++)
		if (rpc(s, TIMED, 7000 + i) < 0)
			return -1;
	c = cnt;
	printf("after fork: %.2f system calls per RPC (polls %.2f), timed "
	       "waits poll first\n",
	       (double)total(&c) / n, (double)c.waits / n);
	if (c.waits < n) {
		fprintf(stderr, "after fork: %lu polls for %lu RPCs\n", c.waits,
			n);
		return -1;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: syscalls_test -a SOCK -b SOCK -d ADDR [-n RPCS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct hc_sock *cli;
	pthread_t th;
	unsigned long n = 500;
	const char *addr = NULL;
	int opt, rc;

	while ((opt = getopt(argc, argv, "a:b:d:n:")) != -1) {
		switch (opt) {
		case 'a':
			sock_a = optarg;
			break;
		case 'b':
			sock_b = optarg;
			break;
		case 'd':
			addr = optarg;
			break;
		case 'n':
			n = strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (sock_a == NULL || sock_b == NULL || addr == NULL || n == 0)
		usage();
	memset(&dest, 0, sizeof(dest));
	dest.sin_family = AF_INET;
	dest.sin_port = htons(PORT);
	if (inet_pton(AF_INET, addr, &dest.sin_addr) != 1)
		usage();

	if (open_sock(&srv, sock_b) < 0)
		return 1;
	rc = hc_bind(srv, PORT);
	if (rc < 0) {
		fprintf(stderr, "bind %u: %s\n", PORT, hc_strerror(rc));
		return 1;
	}
	if (pthread_create(&th, NULL, server, NULL) != 0)
		return 1;
	if (open_sock(&cli, sock_a) < 0)
		return 1;

	for (enum how how = FOREVER; how <= READY; how++) {
		struct counts c;

		for (unsigned long i = 0; i < WARM; i++)
			if (rpc(cli, how, 1000 * how + i) < 0)
				return 1;
		memset(&cnt, 0, sizeof(cnt));
		for (unsigned long i = 0; i < n; i++)
			if (rpc(cli, how, 1000 * how + i) < 0)
				return 1;
		c = cnt;
		/*
		 * A send and a read per RPC (a poll more for POLL); 0.1 for
		 * homad's rare datagrams apart (a release on its own) and an
		 * SO_RCVTIMEO set now and then.
		 */
		check(how_name[how], &c, n, how >= POLL ? 3.1 : 2.1,
		      how >= POLL ? n : 0);
	}
	{
		/* The server so far (it waits in its read now). */
		struct counts c;
		unsigned long reqs =
			__atomic_load_n(&srv_reqs, __ATOMIC_ACQUIRE);
		struct counts *p = __atomic_load_n(&srv_cnt, __ATOMIC_ACQUIRE);

		c.reads = __atomic_load_n(&p->reads, __ATOMIC_RELAXED);
		c.empty = __atomic_load_n(&p->empty, __ATOMIC_RELAXED);
		c.sends = __atomic_load_n(&p->sends, __ATOMIC_RELAXED);
		c.waits = __atomic_load_n(&p->waits, __ATOMIC_RELAXED);
		c.other = __atomic_load_n(&p->other, __ATOMIC_RELAXED);
		check("server", &c, reqs - 1, 2.1, 0);
	}
	if (quiet_wait(cli, "timed", 5000) < 0)
		fails++;
	if (after_fork(cli, 20) < 0)
		fails++;

	hc_shutdown(srv);
	pthread_join(th, NULL);
	if (srv_err != 0) {
		fprintf(stderr, "server: %s\n", strerror(srv_err));
		fails++;
	}
	hc_close(cli);
	hc_close(srv);
	return fails ? 1 : 0;
}
