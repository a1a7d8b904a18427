/*
 * scale.c - `homa-bench scale`: many outstanding RPCs on one homad.
 *
 * The parent forks --procs client processes; each opens --sockets Homa
 * sockets (libhomaclient) with small regions and sends --rpcs requests on
 * each, never blocking, then waits for every response.  The server is a
 * `homa-bench server -P homa -r echo --hold N`: it holds the responses
 * until all N requests have arrived, so that all of them are outstanding
 * at once (on the clients' homad and on the server's), and answers them
 * when told (SIGUSR1).  Every response must come back once, with the
 * request's length and bytes (each request's bytes are made from its
 * tag, so a response given to the wrong RPC is caught).
 *
 * A child reports to the parent on a pipe, one line at a time:
 *   "sent N"                      all its requests are sent
 *   "done OK BAD FAILED T1 T2"    finished: responses right, wrong,
 *                                 failed RPCs; first and last response
 *                                 (CLOCK_MONOTONIC ns, common to all)
 *   "error TEXT"                  why it stopped early
 * The parent prints "all sent: ..." on stdout once every child has sent
 * (a script waits for it), then the report; it exits 0 when every
 * response came back right.
 */
#include <config.h>

#include "bench.h"

#include <homa/client.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Limits of the options. */
#define SCALE_MAX_PROCS	  256
#define SCALE_MAX_SOCKETS 4096
#define SCALE_MAX_RPCS	  1000000 /* per socket: tags keep 24 bits */
#define SCALE_MAX_LENGTH  65536
/* Messages read from one socket per turn. */
#define SCALE_BATCH 64

struct scale_opts {
	const char *server;
	uint16_t port;
	unsigned procs, sockets, rpcs;
	uint32_t length;
	size_t rx_pool;
	double timeout_s;
	bool quiet;
};

/* One client socket of a child: what it sent and got back. */
struct scale_sock {
	struct hc_sock *s;
	unsigned sent; /* requests sent: tags 0..sent-1 */
	unsigned done; /* responses (or failures) received */
	uint8_t *seen; /* per RPC: 1 once its response came */
};

/* A child's tallies. */
struct scale_tally {
	uint64_t ok, bad, failed;
	int64_t first_ns, last_ns; /* first and last response; 0: none */
};

void scale_usage(FILE *f)
{
	fprintf(f,
		"usage: homa-bench scale -s HOST [-p PORT] [--procs P] "
		"[--sockets S]\n"
		"                        [--rpcs R] [-w BYTES] [--rx-pool "
		"BYTES]\n"
		"                        [--timeout SECONDS] [-q]\n"
		"\n"
		"P processes (default 4) each open S Homa sockets (default "
		"250) and\n"
		"send R requests of BYTES (default 100) on each (default "
		"100), all\n"
		"outstanding at once, to a `homa-bench server -P homa -r echo "
		"--hold N`\n"
		"with N = P x S x R; then wait for every response and check "
		"its bytes.\n"
		"Prints \"all sent: ...\" once every request is sent, then the "
		"report.\n"
		"  -s, --server HOST     the server (address or name)\n"
		"  -p, --port PORT       its Homa port (default %d)\n"
		"      --procs P         client processes (1..%d)\n"
		"      --sockets S       sockets per process (1..%d)\n"
		"      --rpcs R          requests per socket (1..%d)\n"
		"  -w, --workload BYTES  request size (1..%d)\n"
		"      --rx-pool BYTES   receive pool of each socket (default "
		"262144,\n"
		"                        a multiple of 65536)\n"
		"      --timeout S       give up S seconds after the start "
		"(default 600)\n"
		"  -q, --quiet           no progress lines on stderr\n",
		BENCH_DEFAULT_PORT, SCALE_MAX_PROCS, SCALE_MAX_SOCKETS,
		SCALE_MAX_RPCS, SCALE_MAX_LENGTH);
}

static uint64_t scale_tag(unsigned proc, unsigned sock, unsigned k)
{
	return (uint64_t)proc << 48 | (uint64_t)sock << 24 | k;
}

/* The bytes of the request with this tag. */
static void scale_fill(uint8_t *buf, uint32_t len, uint64_t tag)
{
	for (uint32_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(tag >> (8 * (i % 8))) ^ (uint8_t)(i * 31);
}

/* Write a line to the parent; the child has nothing better to do if the
 * pipe is gone. */
static void scale_say(int fd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void scale_say(int fd, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(fd, line, (size_t)n) < 0)
		_exit(1);
}

/*
 * Read what socket k has: check each response against its tag.  Returns
 * the messages handled, or -errno (text in err).
 */
static int scale_drain(const struct scale_opts *o, unsigned proc,
		       struct scale_sock *ss, unsigned k, uint8_t *want,
		       uint8_t *got, struct scale_tally *t, char *err,
		       size_t errlen)
{
	struct hc_msg m;
	int n = 0, rc;

	while (n < SCALE_BATCH) {
		uint64_t idx;

		rc = hc_recv(ss->s, 0, 0, &m);
		if (rc == -EAGAIN)
			break;
		if (rc < 0) {
			snprintf(err, errlen, "socket %u: hc_recv: %s", k,
				 hc_strerror(rc));
			return rc;
		}
		n++;
		idx = m.cookie & 0xffffff;
		if (m.cookie != scale_tag(proc, k, (unsigned)idx) ||
		    idx >= ss->sent || ss->seen[idx]) {
			/* Not an RPC of this socket in flight. */
			t->bad++;
			if (m.error == 0)
				hc_recycle(ss->s, &m);
			continue;
		}
		ss->seen[idx] = 1;
		ss->done++;
		t->last_ns = bench_now_ns();
		if (t->first_ns == 0)
			t->first_ns = t->last_ns;
		if (m.error != 0) {
			t->failed++;
			continue;
		}
		scale_fill(want, o->length, m.cookie);
		if (m.length != o->length ||
		    hc_msg_read(ss->s, &m, 0, got, o->length) != o->length ||
		    memcmp(want, got, o->length) != 0)
			t->bad++;
		else
			t->ok++;
		hc_recycle(ss->s, &m);
	}
	return n;
}

/*
 * Wait for events on the sockets (at most timeout_ms) and read them all.
 * Returns 0 or -errno (text in err).
 */
static int scale_poll(const struct scale_opts *o, unsigned proc,
		      struct scale_sock *ss, struct pollfd *pfd, int timeout_ms,
		      uint8_t *want, uint8_t *got, struct scale_tally *t,
		      char *err, size_t errlen)
{
	bool ready = false;
	int rc;

	/* What the library holds already would not wake poll. */
	for (unsigned k = 0; k < o->sockets && !ready; k++)
		ready = hc_ready(ss[k].s) & HC_READY_RECV;
	if (!ready && poll(pfd, o->sockets, timeout_ms) < 0 && errno != EINTR) {
		rc = -errno;
		snprintf(err, errlen, "poll: %s", strerror(errno));
		return rc;
	}
	for (unsigned k = 0; k < o->sockets; k++) {
		if (!(hc_ready(ss[k].s) & HC_READY_RECV))
			continue;
		do {
			rc = scale_drain(o, proc, &ss[k], k, want, got, t, err,
					 errlen);
		} while (rc == SCALE_BATCH);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A child: its sockets, requests and responses.  Never returns. */
static void scale_child(const struct scale_opts *o, unsigned proc,
			const struct sockaddr *dest, socklen_t destlen, int fd,
			volatile sig_atomic_t *stop)
{
	struct scale_sock *ss = calloc(o->sockets, sizeof(*ss));
	struct pollfd *pfd = calloc(o->sockets, sizeof(*pfd));
	uint8_t *req = malloc(o->length), *got = malloc(o->length);
	uint8_t *want = malloc(o->length);
	struct scale_tally t = {0};
	struct hc_options opts;
	char err[512] = "", text[256];
	int64_t end = bench_now_ns() + (int64_t)(o->timeout_s * 1e9);
	uint64_t total = (uint64_t)o->sockets * o->rpcs, done = 0;
	int rc = 0;

	if (!ss || !pfd || !req || !got || !want) {
		scale_say(fd, "error out of memory");
		_exit(1);
	}
	hc_options_init(&opts);
	opts.rx_pool_bytes = o->rx_pool;
	opts.tx_area_bytes = 65536;
	opts.max_outstanding = o->rpcs + 64;
	for (unsigned k = 0; k < o->sockets; k++) {
		rc = hc_open(&ss[k].s, dest->sa_family, &opts);
		if (rc < 0) {
			hc_last_error(NULL, text, sizeof(text));
			scale_say(fd, "error socket %u of %u: %s%s%s", k + 1,
				  o->sockets, hc_strerror(rc),
				  text[0] ? ": " : "", text);
			_exit(1);
		}
		ss[k].seen = calloc(o->rpcs, 1);
		if (!ss[k].seen) {
			scale_say(fd, "error out of memory");
			_exit(1);
		}
		pfd[k] =
			(struct pollfd){.fd = hc_fd(ss[k].s), .events = POLLIN};
	}
	/* Round after round, one request per socket each. */
	for (unsigned i = 0; i < o->rpcs && !*stop; i++) {
		for (unsigned k = 0; k < o->sockets && !*stop; k++) {
			uint64_t tag = scale_tag(proc, k, i);

			scale_fill(req, o->length, tag);
			while ((rc = hc_send_request(
					ss[k].s, dest, destlen, req, o->length,
					tag, HC_NONBLOCK, NULL)) == -EAGAIN) {
				if (bench_now_ns() > end || *stop)
					break;
				rc = scale_poll(o, proc, ss, pfd, 1, want, got,
						&t, err, sizeof(err));
				if (rc < 0)
					goto out;
			}
			if (rc < 0) {
				snprintf(err, sizeof(err),
					 "socket %u: send %u: %s", k, i,
					 rc == -EAGAIN ? "timed out"
						       : hc_strerror(rc));
				goto out;
			}
			ss[k].sent++;
		}
	}
	scale_say(fd, "sent %" PRIu64, total);
	while (!*stop) {
		done = 0;
		for (unsigned k = 0; k < o->sockets; k++)
			done += ss[k].done;
		if (done == total)
			break;
		if (bench_now_ns() > end) {
			snprintf(err, sizeof(err),
				 "timed out with %" PRIu64 " of %" PRIu64
				 " responses",
				 done, total);
			break;
		}
		rc = scale_poll(o, proc, ss, pfd, 200, want, got, &t, err,
				sizeof(err));
		if (rc < 0)
			break;
	}
out:
	if (err[0])
		scale_say(fd, "error %s", err);
	scale_say(fd,
		  "done %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64
		  " %" PRId64,
		  t.ok, t.bad, t.failed, t.first_ns, t.last_ns);
	for (unsigned k = 0; k < o->sockets; k++) {
		hc_close(ss[k].s);
		free(ss[k].seen);
	}
	_exit(err[0] ? 1 : 0);
}

/* A child as the parent knows it. */
struct scale_kid {
	pid_t pid;
	int fd;		/* its pipe, -1 once closed */
	char buf[1024]; /* a partial line */
	size_t len;
	bool sent, done;
};

/* One line from child k. */
static void scale_line(struct scale_kid *kid, unsigned k, const char *line,
		       struct scale_tally *t, unsigned *nsent, unsigned *ndone,
		       int *failures)
{
	struct scale_tally c = {0};

	if (strncmp(line, "sent ", 5) == 0) {
		if (!kid->sent)
			(*nsent)++;
		kid->sent = true;
	} else if (sscanf(line,
			  "done %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNd64
			  " %" SCNd64,
			  &c.ok, &c.bad, &c.failed, &c.first_ns,
			  &c.last_ns) == 5) {
		if (!kid->done)
			(*ndone)++;
		kid->done = true;
		t->ok += c.ok;
		t->bad += c.bad;
		t->failed += c.failed;
		if (c.first_ns != 0 &&
		    (t->first_ns == 0 || c.first_ns < t->first_ns))
			t->first_ns = c.first_ns;
		if (c.last_ns > t->last_ns)
			t->last_ns = c.last_ns;
	} else {
		fprintf(stderr, "homa-bench: scale: process %u: %s\n", k + 1,
			strncmp(line, "error ", 6) == 0 ? line + 6 : line);
		(*failures)++;
	}
}

static int scale_parse_u(const char *s, long long lo, long long hi,
			 long long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno || *end || *out < lo || *out > hi ? -1 : 0;
}

int scale_main(int argc, char **argv, volatile sig_atomic_t *stop)
{
	enum { OPT_PROCS = 256, OPT_SOCKETS, OPT_RPCS, OPT_POOL, OPT_TMO };
	static const struct option longopts[] = {
		{"server", required_argument, NULL, 's'},
		{"port", required_argument, NULL, 'p'},
		{"procs", required_argument, NULL, OPT_PROCS},
		{"sockets", required_argument, NULL, OPT_SOCKETS},
		{"rpcs", required_argument, NULL, OPT_RPCS},
		{"workload", required_argument, NULL, 'w'},
		{"rx-pool", required_argument, NULL, OPT_POOL},
		{"timeout", required_argument, NULL, OPT_TMO},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct scale_opts o = {.port = BENCH_DEFAULT_PORT,
			       .procs = 4,
			       .sockets = 250,
			       .rpcs = 100,
			       .length = 100,
			       .rx_pool = 262144,
			       .timeout_s = 600};
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *ai = NULL;
	struct scale_kid *kids;
	struct scale_tally t = {0};
	char portstr[8];
	unsigned nsent = 0, ndone = 0, open_fds;
	int opt, failures = 0, status = 1;
	int64_t t0, t_sent = 0;
	uint64_t total;
	long long v;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "s:p:w:qh", longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 's':
			o.server = optarg;
			break;
		case 'p':
			if (scale_parse_u(optarg, 1, 65535, &v) < 0)
				goto bad;
			o.port = (uint16_t)v;
			break;
		case OPT_PROCS:
			if (scale_parse_u(optarg, 1, SCALE_MAX_PROCS, &v) < 0)
				goto bad;
			o.procs = (unsigned)v;
			break;
		case OPT_SOCKETS:
			if (scale_parse_u(optarg, 1, SCALE_MAX_SOCKETS, &v) < 0)
				goto bad;
			o.sockets = (unsigned)v;
			break;
		case OPT_RPCS:
			if (scale_parse_u(optarg, 1, SCALE_MAX_RPCS, &v) < 0)
				goto bad;
			o.rpcs = (unsigned)v;
			break;
		case 'w':
			if (scale_parse_u(optarg, 1, SCALE_MAX_LENGTH, &v) < 0)
				goto bad;
			o.length = (uint32_t)v;
			break;
		case OPT_POOL:
			if (scale_parse_u(optarg, 131072, 1LL << 32, &v) < 0 ||
			    v % 65536 != 0)
				goto bad;
			o.rx_pool = (size_t)v;
			break;
		case OPT_TMO:
			if (scale_parse_u(optarg, 1, 86400, &v) < 0)
				goto bad;
			o.timeout_s = (double)v;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'h':
			scale_usage(stdout);
			return 0;
		default:
			scale_usage(stderr);
			return 2;
		}
	}
	if (optind < argc || o.server == NULL) {
		fprintf(stderr, "homa-bench: scale: %s\n",
			o.server ? "unexpected argument" : "needs -s HOST");
		return 2;
	}
	snprintf(portstr, sizeof(portstr), "%u", o.port);
	v = getaddrinfo(o.server, portstr, &hints, &ai);
	if (v != 0) {
		fprintf(stderr, "homa-bench: server %s: %s\n", o.server,
			gai_strerror((int)v));
		return 1;
	}
	total = (uint64_t)o.procs * o.sockets * o.rpcs;
	kids = calloc(o.procs, sizeof(*kids));
	if (!kids) {
		freeaddrinfo(ai);
		fprintf(stderr, "homa-bench: out of memory\n");
		return 1;
	}
	t0 = bench_now_ns();
	for (unsigned k = 0; k < o.procs; k++) {
		int p[2];

		kids[k].fd = -1;
		if (pipe(p) < 0) {
			perror("homa-bench: pipe");
			goto stop_kids;
		}
		fflush(NULL);
		kids[k].pid = fork();
		if (kids[k].pid < 0) {
			perror("homa-bench: fork");
			close(p[0]);
			close(p[1]);
			goto stop_kids;
		}
		if (kids[k].pid == 0) {
			for (unsigned j = 0; j < k; j++)
				close(kids[j].fd);
			close(p[0]);
			scale_child(&o, k, ai->ai_addr, ai->ai_addrlen, p[1],
				    stop);
		}
		close(p[1]);
		kids[k].fd = p[0];
	}
	if (!o.quiet)
		fprintf(stderr,
			"homa-bench: scale: %u processes x %u sockets x %u "
			"RPCs = %" PRIu64 " RPCs of %u bytes to %s\n",
			o.procs, o.sockets, o.rpcs, total, o.length, o.server);
	open_fds = o.procs;
	while (open_fds > 0) {
		struct pollfd pfd[SCALE_MAX_PROCS];
		unsigned map[SCALE_MAX_PROCS], n = 0;

		for (unsigned k = 0; k < o.procs; k++) {
			if (kids[k].fd < 0)
				continue;
			pfd[n] = (struct pollfd){.fd = kids[k].fd,
						 .events = POLLIN};
			map[n++] = k;
		}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR && *stop)
				goto stop_kids;
			continue;
		}
		for (unsigned i = 0; i < n; i++) {
			struct scale_kid *kid = &kids[map[i]];
			ssize_t r;
			char *nl;

			if (!pfd[i].revents)
				continue;
			r = read(kid->fd, kid->buf + kid->len,
				 sizeof(kid->buf) - 1 - kid->len);
			if (r <= 0) {
				close(kid->fd);
				kid->fd = -1;
				open_fds--;
				continue;
			}
			kid->len += (size_t)r;
			kid->buf[kid->len] = '\0';
			while ((nl = strchr(kid->buf, '\n')) != NULL) {
				*nl = '\0';
				scale_line(kid, map[i], kid->buf, &t, &nsent,
					   &ndone, &failures);
				kid->len -= (size_t)(nl + 1 - kid->buf);
				memmove(kid->buf, nl + 1, kid->len + 1);
			}
			if (kid->len == sizeof(kid->buf) - 1)
				kid->len = 0; /* a line too long: dropped */
		}
		if (nsent == o.procs && t_sent == 0) {
			t_sent = bench_now_ns();
			printf("all sent: %" PRIu64 " RPCs outstanding from %u "
			       "processes x %u sockets, in %.2f s\n",
			       total, o.procs, o.sockets,
			       (double)(t_sent - t0) / 1e9);
			fflush(stdout);
		}
	}
	for (unsigned k = 0; k < o.procs; k++) {
		int ws;

		while (waitpid(kids[k].pid, &ws, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
			failures++;
	}
	printf("scale: %u processes x %u sockets x %u RPCs = %" PRIu64
	       " RPCs of %u bytes\n",
	       o.procs, o.sockets, o.rpcs, total, o.length);
	printf("completed %" PRIu64 " of %" PRIu64 ": %" PRIu64
	       " wrong, %" PRIu64 " failed\n",
	       t.ok, total, t.bad, t.failed);
	if (t.first_ns != 0)
		printf("drain: %.3f s from the first response to the last "
		       "(%.0f responses/s)\n",
		       (double)(t.last_ns - t.first_ns) / 1e9,
		       t.last_ns > t.first_ns
			       ? (double)(t.ok + t.bad + t.failed) * 1e9 /
					 (double)(t.last_ns - t.first_ns)
			       : 0.0);
	status = t.ok == total && t.bad == 0 && t.failed == 0 &&
				 failures == 0 && ndone == o.procs
			 ? 0
			 : 1;
	free(kids);
	freeaddrinfo(ai);
	return status;
stop_kids:
	for (unsigned k = 0; k < o.procs; k++) {
		if (kids[k].pid > 0) {
			kill(kids[k].pid, SIGTERM);
			waitpid(kids[k].pid, NULL, 0);
		}
		if (kids[k].fd >= 0)
			close(kids[k].fd);
	}
	free(kids);
	freeaddrinfo(ai);
	fprintf(stderr, "homa-bench: scale: stopped\n");
	return 1;
bad:
	for (const struct option *lo = longopts; lo->name != NULL; lo++)
		if (lo->val == opt)
			fprintf(stderr, "homa-bench: --%s: bad value \"%s\"\n",
				lo->name, optarg);
	return 2;
}
