/*
 * e2e_test.c - applications of libhomaclient for e2e.sh: servers and
 * clients that check what homad and the library do end to end.  Every
 * client command prints one line of numbers on stdout when it passes, and
 * the reason on stderr when it does not.
 *
 *   e2e_test server -f 4|6 [--echo PORT] [--sink PORT] [--idle]
 *                   [--tagged N --bind-base PORT] [--ready FILE]
 *                   [--rx-pool BYTES]
 *       Sockets answering requests, served from one poll loop: --echo
 *       binds PORT and answers every request with its own bytes (copied
 *       from the pool or built in the transmit area, alternately); --sink
 *       binds PORT and keeps every request unanswered; --idle opens a
 *       socket that is not a server (default port); --tagged opens N
 *       server sockets, the first N/2 bound to PORT.., the others on
 *       default ports, each answering with its port (4 bytes, network
 *       order) followed by the request.  FILE gets "idle PORT" and
 *       "tagged PORT..." lines, then the server runs until homad closes
 *       the connection (exit 0) or a signal ends it.  --rx-pool: the
 *       --echo socket's receive pool in bytes (default libhomaclient's).
 *   e2e_test echo -f 4|6 -d ADDR -p PORT --sizes N,N,... [--private]
 *       Each size one at a time, then all at once: byte-exact echoes,
 *       with their cookies.
 *   e2e_test unreach -f 4|6 -d ADDR -p PORT --expect ERRNO --within MS
 *       Requests of 100, 5000 and 100000 bytes must each fail with ERRNO
 *       (a name or number) within MS milliseconds, with their cookies.
 *   e2e_test concurrent -f 4|6 -d ADDR -p PORT --procs P -n N
 *       P processes, each with N requests of mixed sizes outstanding at
 *       once; every response byte-exact.
 *   e2e_test many -f 4|6 -d ADDR --ports-file FILE -n N
 *       N client sockets (N/2 bound, N/2 default ports) send requests to
 *       the --tagged ports of FILE; each response must come from the
 *       right server socket to the right client socket.
 *   e2e_test private -f 4|6 -d ADDR -p PORT
 *   e2e_test cookies -f 4|6 -d ADDR -p PORT
 *   e2e_test abort -f 4|6 -d ADDR -p PORT --sink PORT
 *   e2e_test shutdown -f 4|6 -d ADDR --sink PORT
 *   e2e_test bind -f 4|6 --taken PORT
 *   e2e_test pool -f 4|6 -d ADDR -p PORT
 *   e2e_test einval -f 4|6 -d ADDR -p PORT
 *       The cases of their names; see each function.
 *   e2e_test hoard -f 4|6 -d ADDR -p PORT -n N --sizes N,N,... [--poll]
 *                  [--parked [--home ADDR]]
 *       N requests to an echo server (sizes in turn) outstanding at once,
 *       then every response received and kept (none recycled) before
 *       all are checked byte-exact and recycled: more messages held at
 *       once than direct receive's own area has room for.  --poll: wait
 *       as an event loop does (hc_recv(0) until -EAGAIN, then poll on
 *       hc_fd), a poll that times out (10 s) failing.  --parked: the
 *       socket must have a direct-receive socket, parked (bound to
 *       224.0.0.0) before the first request and after the last response,
 *       bound to its own address (the same each time; --home ADDR: that
 *       one) while one is outstanding; checked again after a second
 *       round of one RPC.
 *   e2e_test srxloss -f 4 -p PORT --ready FILE
 *       Bind PORT with a request socket (direct receive of requests),
 *       write FILE, wait until the connection to homad is lost: the
 *       library must have closed the request socket by then.
 *   e2e_test hold -f 4|6 -d ADDR --sink PORT -n N --size BYTES
 *                 --ready FILE
 *       N requests to a sink, then FILE, then sleep (e2e.sh kills it).
 *   e2e_test block -f 4|6 -d ADDR --sink PORT --ready FILE --within MS
 *       Requests to a sink (one private), a thread blocked waiting for
 *       any message and one for the private response; then FILE.  When
 *       homad goes away both must wake with an error within MS.
 *
 * homad's client socket: -s PATH, else $HOMA_SOCKET.  Exit 0 pass,
 * 1 fail, 2 usage.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "homa/client.h"

#define E2E_TIMEOUT_MS 10000 /* a response that takes longer: failure */
#define E2E_MAX_SOCKS  128
#define E2E_MAX_SIZES  32

/* Command-line options shared by the commands. */
static struct {
	const char *cmd;
	int family;
	const char *addr;
	const char *socket_path;
	const char *ready;
	const char *ports_file;
	const char *home; /* --home: the receive socket's own address */
	unsigned port, sink, echo, taken, bind_base, tagged;
	bool idle, priv, poll, parked;
	unsigned long count, size, procs;
	size_t rx_pool; /* server --echo socket's pool, 0: default */
	int expect;
	long within_ms;
	size_t sizes[E2E_MAX_SIZES];
	unsigned n_sizes;
} opt = {.family = AF_INET, .within_ms = 10000};

static void e2e_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));

/* Print "e2e_test CMD: ..." on stderr and exit 1. */
static void e2e_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "e2e_test %s: ", opt.cmd ? opt.cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double e2e_ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static const char *e2e_errname(int err)
{
	static const struct {
		int err;
		const char *name;
	} names[] = {
		{0, "0"},
		{EAGAIN, "EAGAIN"},
		{EINVAL, "EINVAL"},
		{ENOTCONN, "ENOTCONN"},
		{EPROTONOSUPPORT, "EPROTONOSUPPORT"},
		{ESHUTDOWN, "ESHUTDOWN"},
		{ECONNRESET, "ECONNRESET"},
		{EADDRINUSE, "EADDRINUSE"},
		{ECANCELED, "ECANCELED"},
		{ETIMEDOUT, "ETIMEDOUT"},
		{EHOSTUNREACH, "EHOSTUNREACH"},
		{EIO, "EIO"},
		{EMSGSIZE, "EMSGSIZE"},
		{ENOBUFS, "ENOBUFS"},
		{ENOMEM, "ENOMEM"},
		{EACCES, "EACCES"},
	};
	static __thread char buf[32];

	if (err < 0)
		err = -err;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].err == err)
			return names[i].name;
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

static int e2e_parse_errno(const char *s)
{
	char *end;
	long v = strtol(s, &end, 0);

	if (*end == '\0' && v > 0 && v < 4096)
		return (int)v;
	for (int e = 1; e < 200; e++)
		if (strcmp(e2e_errname(e), s) == 0)
			return e;
	return -1;
}

/* Byte i of the message with this seed: differs per seed, offset, bpage. */
static uint8_t e2e_pattern(uint64_t seed, size_t i)
{
	uint32_t h = (uint32_t)(seed * 0x9e3779b97f4a7c15ull >> 32);

	return (uint8_t)(h + i * 7u + (i >> 8) * 13u + (i >> 16) * 101u);
}

static void e2e_fill(uint8_t *buf, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = e2e_pattern(seed, i);
}

/* Open an opt.family socket (pool/area bytes, 0 = default), or fail. */
static struct hc_sock *e2e_open2(size_t rx_pool, size_t tx_area)
{
	struct hc_options o;
	struct hc_sock *s;
	char err[256];
	int rc;

	hc_options_init(&o);
	o.socket_path = opt.socket_path;
	o.rx_pool_bytes = rx_pool;
	o.tx_area_bytes = tx_area;
	rc = hc_open(&s, opt.family, &o);
	if (rc < 0)
		e2e_fail("hc_open: %s (%s)", hc_strerror(rc),
			 hc_last_error(NULL, err, sizeof(err)));
	return s;
}

static struct hc_sock *e2e_open(size_t rx_pool)
{
	return e2e_open2(rx_pool, 0);
}

/* The address opt.addr:port for an opt.family socket (v4 maps for v6). */
static socklen_t e2e_addr(unsigned port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (opt.addr == NULL)
		e2e_fail("no address (-d)");
	if (opt.family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, opt.addr, &in->sin_addr) != 1)
			e2e_fail("%s: not an IPv4 address", opt.addr);
		return sizeof(*in);
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	struct in_addr v4;

	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, opt.addr, &v4) == 1) {
		in6->sin6_addr.s6_addr[10] = 0xff;
		in6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&in6->sin6_addr.s6_addr[12], &v4, 4);
	} else if (inet_pton(AF_INET6, opt.addr, &in6->sin6_addr) != 1) {
		e2e_fail("%s: not an address", opt.addr);
	}
	return sizeof(*in6);
}

/* Port of a received message's peer. */
static unsigned e2e_peer_port(const struct hc_msg *m)
{
	if (m->peer.sa.sa_family == AF_INET)
		return ntohs(m->peer.in.sin_port);
	if (m->peer.sa.sa_family == AF_INET6)
		return ntohs(m->peer.in6.sin6_port);
	return 0;
}

/* Send len bytes of seed's pattern to dest; returns the id, or fails. */
static uint64_t e2e_send(struct hc_sock *s, const struct sockaddr_storage *d,
			 socklen_t dlen, size_t len, uint64_t seed,
			 uint64_t cookie, int flags)
{
	static __thread uint8_t *buf;
	uint64_t id = 0;
	char err[256];
	int rc;

	if (buf == NULL) {
		buf = malloc(HC_MAX_MESSAGE_LENGTH);
		if (buf == NULL)
			e2e_fail("out of memory");
	}
	e2e_fill(buf, len, seed);
	rc = hc_send_request(s, (const struct sockaddr *)d, dlen, buf, len,
			     cookie, flags, &id);
	if (rc < 0)
		e2e_fail("send of %zu bytes: %s (%s)", len, hc_strerror(rc),
			 hc_last_error(s, err, sizeof(err)));
	if (id == 0 || id % 2 != 0)
		e2e_fail("send returned id %" PRIu64 ", expected even", id);
	return id;
}

/*
 * Check message m: no error, id, cookie, length skip+len, bytes
 * [skip..skip+len) = seed's pattern (read through hc_msg_read, or the
 * zero-copy extents when zc).  Returns NULL or what is wrong (static).
 */
static const char *e2e_check(struct hc_sock *s, const struct hc_msg *m,
			     uint64_t id, uint64_t cookie, size_t skip,
			     size_t len, uint64_t seed, bool zc)
{
	static __thread char why[200];
	static __thread uint8_t *buf;

	if (m->error != 0) {
		snprintf(why, sizeof(why), "RPC %" PRIu64 " failed: %s", m->id,
			 e2e_errname(m->error));
		return why;
	}
	if (m->id != id || m->cookie != cookie) {
		snprintf(why, sizeof(why),
			 "id %" PRIu64 " cookie %" PRIu64
			 ", expected id %" PRIu64 " cookie %" PRIu64,
			 m->id, m->cookie, id, cookie);
		return why;
	}
	if (m->length != skip + len) {
		snprintf(why, sizeof(why),
			 "RPC %" PRIu64 ": %u bytes, sent %zu", id, m->length,
			 skip + len);
		return why;
	}
	if (buf == NULL) {
		buf = malloc(HC_MAX_MESSAGE_LENGTH + 64);
		if (buf == NULL)
			e2e_fail("out of memory");
	}
	if (zc) {
		struct iovec iov[HC_MAX_BPAGES];
		size_t off = 0;
		int n = hc_msg_iov(s, m, iov, HC_MAX_BPAGES);

		if (n < 0) {
			snprintf(why, sizeof(why), "hc_msg_iov: %s",
				 hc_strerror(n));
			return why;
		}
		for (int i = 0; i < n; i++) {
			if (off + iov[i].iov_len > m->length) {
				snprintf(why, sizeof(why),
					 "extents exceed the length");
				return why;
			}
			memcpy(buf + off, iov[i].iov_base, iov[i].iov_len);
			off += iov[i].iov_len;
		}
		if (off != m->length) {
			snprintf(why, sizeof(why),
				 "extents hold %zu of %u bytes", off,
				 m->length);
			return why;
		}
	} else if (hc_msg_read(s, m, 0, buf, m->length) != m->length) {
		snprintf(why, sizeof(why), "hc_msg_read short");
		return why;
	}
	for (size_t i = 0; i < len; i++)
		if (buf[skip + i] != e2e_pattern(seed, i)) {
			snprintf(why, sizeof(why),
				 "RPC %" PRIu64 " (%zu bytes): byte %zu is "
				 "0x%02x, expected 0x%02x",
				 id, len, skip + i, buf[skip + i],
				 e2e_pattern(seed, i));
			return why;
		}
	return NULL;
}

/* hc_recv or fail (also on a failed RPC unless allow_err). */
static void e2e_recv(struct hc_sock *s, uint64_t id, int timeout_ms,
		     struct hc_msg *m, bool allow_err)
{
	int rc = hc_recv(s, id, timeout_ms, m);

	if (rc < 0)
		e2e_fail("hc_recv(%" PRIu64 ", %d ms): %s", id, timeout_ms,
			 hc_strerror(rc));
	if (m->error != 0 && !allow_err)
		e2e_fail("RPC %" PRIu64 " (cookie %" PRIu64 ") failed: %s",
			 m->id, m->cookie, e2e_errname(m->error));
}

static void e2e_write_ready(const char *text)
{
	char tmp[4096];
	FILE *f;

	if (opt.ready == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", opt.ready);
	f = fopen(tmp, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 ||
	    rename(tmp, opt.ready) != 0)
		e2e_fail("cannot write %s", opt.ready);
}

/* ---- server ----------------------------------------------------------- */

enum e2e_role { ROLE_ECHO, ROLE_SINK, ROLE_TAGGED, ROLE_IDLE };

struct e2e_srv {
	struct hc_sock *s;
	enum e2e_role role;
	unsigned long served;
};

/* Answer request m on ss as its role says; false if homad is gone. */
static bool e2e_serve(struct e2e_srv *ss, struct hc_msg *m)
{
	struct iovec iov[HC_MAX_BPAGES + 1];
	struct hc_txbuf b;
	uint32_t tag;
	int n, rc = 0, off = 0;

	if (m->error != 0 || m->id % 2 == 0) {
		fprintf(stderr,
			"e2e_test server: unexpected RPC %" PRIu64 " (%s)\n",
			m->id, e2e_errname(m->error));
		hc_recycle(ss->s, m);
		return true;
	}
	if (ss->role == ROLE_ECHO && ss->served % 2 == 1) {
		/* Zero-copy: built in the transmit area. */
		rc = hc_tx_reserve(ss->s, m->length, 0, &b);
		if (rc == 0) {
			hc_msg_read(ss->s, m, 0, b.data, m->length);
			rc = hc_send_response_buf(ss->s, m->id, &m->peer.sa,
						  m->peer_len, &b, m->length,
						  0);
			if (rc < 0)
				hc_tx_cancel(ss->s, &b);
		}
	} else if (ss->role == ROLE_ECHO || ss->role == ROLE_TAGGED) {
		/* Copied from the pool, the tagged ones after their port. */
		if (ss->role == ROLE_TAGGED) {
			tag = htonl(hc_port(ss->s));
			iov[0].iov_base = &tag;
			iov[0].iov_len = sizeof(tag);
			off = 1;
		}
		n = hc_msg_iov(ss->s, m, iov + off, HC_MAX_BPAGES);
		rc = n < 0 ? n
			   : hc_send_responsev(ss->s, m->id, &m->peer.sa,
					       m->peer_len, iov, n + off, 0);
	}
	ss->served++;
	hc_recycle(ss->s, m);
	if (rc == -ECONNRESET || rc == -ESHUTDOWN)
		return false;
	if (rc < 0)
		fprintf(stderr, "e2e_test server: response: %s\n",
			hc_strerror(rc));
	return true;
}

static void e2e_bind(struct hc_sock *s, unsigned port)
{
	int rc = hc_bind(s, port);

	if (rc < 0)
		e2e_fail("bind %u: %s", port, hc_strerror(rc));
}

static int cmd_server(void)
{
	struct e2e_srv srv[E2E_MAX_SOCKS];
	struct pollfd pfd[E2E_MAX_SOCKS];
	char ready[4096] = ""; /* stays empty without --idle, --tagged */
	size_t rlen = 0;
	unsigned n = 0;
	int rc;

	if (opt.echo != 0) {
		srv[n] = (struct e2e_srv){e2e_open(opt.rx_pool), ROLE_ECHO, 0};
		e2e_bind(srv[n++].s, opt.echo);
	}
	if (opt.sink != 0) {
		srv[n] = (struct e2e_srv){e2e_open(0), ROLE_SINK, 0};
		e2e_bind(srv[n++].s, opt.sink);
	}
	if (opt.idle) {
		srv[n] = (struct e2e_srv){e2e_open(0), ROLE_IDLE, 0};
		rlen += (size_t)snprintf(ready + rlen, sizeof(ready) - rlen,
					 "idle %u\n", hc_port(srv[n].s));
		n++;
	}
	if (opt.tagged > E2E_MAX_SOCKS - n)
		e2e_fail("--tagged: at most %u", E2E_MAX_SOCKS - n);
	if (opt.tagged > 0)
		rlen += (size_t)snprintf(ready + rlen, sizeof(ready) - rlen,
					 "tagged");
	for (unsigned i = 0; i < opt.tagged; i++) {
		srv[n] = (struct e2e_srv){e2e_open2(8 * HC_BPAGE_SIZE, 1 << 20),
					  ROLE_TAGGED, 0};
		if (i < opt.tagged / 2) {
			e2e_bind(srv[n].s, opt.bind_base + i);
		} else if ((rc = hc_set_server(srv[n].s, true)) < 0) {
			e2e_fail("set_server: %s", hc_strerror(rc));
		}
		rlen += (size_t)snprintf(ready + rlen, sizeof(ready) - rlen,
					 " %u", hc_port(srv[n].s));
		n++;
	}
	if (opt.tagged > 0)
		rlen += (size_t)snprintf(ready + rlen, sizeof(ready) - rlen,
					 "\n");
	if (n == 0)
		e2e_fail("no sockets asked for");
	if (rlen >= sizeof(ready))
		e2e_fail("ready text too long");
	e2e_write_ready(ready);
	/* e2e.sh stops us; never more than 5 minutes. */
	alarm(300);
	for (;;) {
		for (unsigned i = 0; i < n; i++) {
			struct hc_msg m;

			while ((rc = hc_recv(srv[i].s, 0, 0, &m)) == 0)
				if (!e2e_serve(&srv[i], &m))
					goto gone;
			if (rc != -EAGAIN)
				goto gone;
			pfd[i].fd = hc_fd(srv[i].s);
			pfd[i].events = POLLIN;
		}
		if (poll(pfd, n, 1000) < 0 && errno != EINTR)
			e2e_fail("poll: %s", strerror(errno));
	}
gone:
	printf("e2e_test server: homad closed the connection\n");
	for (unsigned i = 0; i < n; i++)
		hc_close(srv[i].s);
	return 0;
}

/* ---- echo ------------------------------------------------------------- */

/* N echoes outstanding, every response held until all are in. */
/*
 * This process's raw IPv4 sockets of protocol 146: how many, the first
 * one's descriptor in *first (if not NULL; -1: none).
 */
static int e2e_raw146(int *first)
{
	int n = 0;

	if (first != NULL)
		*first = -1;
	for (int fd = 0; fd < 4096; fd++) {
		int type = 0, proto = 0, dom = 0;
		socklen_t l = sizeof(int);

		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 ||
		    type != SOCK_RAW)
			continue;
		l = sizeof(int);
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) < 0 ||
		    dom != AF_INET)
			continue;
		l = sizeof(int);
		if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) < 0 ||
		    proto != 146)
			continue;
		if (n++ == 0 && first != NULL)
			*first = fd;
	}
	return n;
}

/*
 * --parked: the library's direct-receive socket (this process's only raw
 * IPv4 socket of protocol 146) must be parked (bound to 224.0.0.0) or
 * not (bound to any address), as want says.
 */
static void e2e_check_parked(bool want, const char *when)
{
	static in_addr_t home; /* where it was unparked first (0: any) */
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int fd, n = e2e_raw146(&fd);

	if (n == 0)
		e2e_fail("%s: no direct-receive socket", when);
	if (n > 1)
		e2e_fail("%s: %d raw sockets of protocol 146", when, n);
	memset(&a, 0, sizeof(a));
	if (getsockname(fd, (struct sockaddr *)&a, &al) < 0)
		e2e_fail("getsockname: %s", strerror(errno));
	if (want && a.sin_addr.s_addr != htonl(0xe0000000u))
		e2e_fail("%s: the receive socket is not parked (%s)", when,
			 inet_ntoa(a.sin_addr));
	if (!want && a.sin_addr.s_addr == htonl(0xe0000000u))
		e2e_fail("%s: the receive socket is parked", when);
	/* Unparked: bound where homad bound it (--home), every time. */
	if (!want && home == 0 && opt.home != NULL &&
	    inet_pton(AF_INET, opt.home, &home) != 1)
		e2e_fail("--home %s: not an IPv4 address", opt.home);
	if (!want && home != 0 && a.sin_addr.s_addr != home)
		e2e_fail("%s: the receive socket is bound to %s, not where it "
			 "was",
			 when, inet_ntoa(a.sin_addr));
	if (!want)
		home = a.sin_addr.s_addr;
}

/*
 * srxloss: bound to -p with a request socket (this process's one raw
 * IPv4 socket of protocol 146 once bound), then wait until the
 * connection to homad is lost (the test kills homad): the library must
 * have closed the request socket itself (homad cannot revoke it now).
 */
static int cmd_srxloss(void)
{
	struct hc_sock *s = e2e_open(0);
	struct hc_msg m;
	int rc;

	if ((rc = hc_bind(s, opt.port)) != 0)
		e2e_fail("bind %u: %s", opt.port, hc_strerror(rc));
	if (e2e_raw146(NULL) != 1)
		e2e_fail("bound: %d raw sockets of protocol 146, not the one "
			 "request socket",
			 e2e_raw146(NULL));
	e2e_write_ready("bound");
	while ((rc = hc_recv(s, 0, 30000, &m)) >= 0)
		hc_recycle(s, &m);
	if (rc == -EAGAIN || rc == -ETIMEDOUT)
		e2e_fail("homad did not go away");
	if (e2e_raw146(NULL) != 0)
		e2e_fail("homad gone (%s), the request socket still open",
			 hc_strerror(rc));
	printf("the request socket closed with the connection (%s)\n",
	       hc_strerror(rc));
	hc_close(s);
	return 0;
}

static int cmd_hoard(void)
{
	struct hc_sock *s = e2e_open(0);
	struct sockaddr_storage d;
	socklen_t dlen = e2e_addr(opt.port, &d);
	unsigned long n = opt.count;
	uint64_t *ids = calloc(n, sizeof(*ids)), t0 = homad_now_ns();
	struct hc_msg *m = calloc(n, sizeof(*m));
	bool *got = calloc(n, sizeof(*got));
	const char *why;

	if (opt.n_sizes == 0 || n == 0)
		e2e_fail("no --sizes or -n");
	if (ids == NULL || m == NULL || got == NULL)
		e2e_fail("out of memory");
	if (opt.parked)
		e2e_check_parked(true, "before the first request");
	for (unsigned long i = 0; i < n; i++)
		ids[i] = e2e_send(s, &d, dlen, opt.sizes[i % opt.n_sizes],
				  i + 7, 5000 + i, 0);
	if (opt.parked)
		e2e_check_parked(false, "requests outstanding");
	for (unsigned long k = 0; k < n;) {
		struct pollfd pfd = {.fd = hc_fd(s), .events = POLLIN};
		int rc;

		if (!opt.poll) {
			e2e_recv(s, 0, E2E_TIMEOUT_MS, &m[k], false);
		} else if ((rc = hc_recv(s, 0, 0, &m[k])) == -EAGAIN) {
			/* Nothing held: only now may the loop sleep. */
			if (poll(&pfd, 1, E2E_TIMEOUT_MS) == 0)
				e2e_fail("%lu of %lu responses, then nothing "
					 "woke the poll on hc_fd for %d ms",
					 k, n, E2E_TIMEOUT_MS);
			continue;
		} else if (rc < 0) {
			e2e_fail("hc_recv: %s", hc_strerror(rc));
		}
		if (m[k].error != 0)
			e2e_fail("RPC %" PRIu64 " failed: %s", m[k].id,
				 e2e_errname(m[k].error));
		k++;
	}
	if (opt.parked)
		e2e_check_parked(true, "all answered");
	for (unsigned long k = 0; k < n; k++) {
		unsigned long i = (unsigned long)(m[k].cookie - 5000);

		if (m[k].cookie < 5000 || i >= n || got[i])
			e2e_fail("unexpected cookie %" PRIu64, m[k].cookie);
		got[i] = true;
		why = e2e_check(s, &m[k], ids[i], 5000 + i, 0,
				opt.sizes[i % opt.n_sizes], i + 7, k % 2 == 0);
		if (why != NULL)
			e2e_fail("response %lu: %s", i, why);
	}
	for (unsigned long k = 0; k < n; k++)
		hc_recycle(s, &m[k]);
	if (opt.parked) {
		/* A second busy spell unparks and parks it again. */
		struct hc_msg r;

		ids[0] = e2e_send(s, &d, dlen, opt.sizes[0], 7, 5000, 0);
		e2e_check_parked(false, "second round outstanding");
		e2e_recv(s, 0, E2E_TIMEOUT_MS, &r, false);
		why = r.error != 0 ? e2e_errname(r.error)
				   : e2e_check(s, &r, ids[0], 5000, 0,
					       opt.sizes[0], 7, false);
		if (why != NULL)
			e2e_fail("second round: %s", why);
		hc_recycle(s, &r);
		e2e_check_parked(true, "second round answered");
	}
	printf("%lu responses held at once, byte-exact, in %.1f ms\n", n,
	       e2e_ms(homad_now_ns() - t0));
	free(ids);
	free(m);
	free(got);
	hc_close(s);
	return 0;
}

/* Each size one at a time, then all at once, byte-exact with cookies. */
static int cmd_echo(void)
{
	struct hc_sock *s = e2e_open(0);
	struct sockaddr_storage d;
	socklen_t dlen = e2e_addr(opt.port, &d);
	int flags = opt.priv ? HC_PRIVATE : 0;
	uint64_t ids[E2E_MAX_SIZES], t0, t, worst = 0, seq_ns, conc_ns;
	bool got[E2E_MAX_SIZES] = {false};
	struct hc_msg m;
	const char *why;

	if (opt.n_sizes == 0)
		e2e_fail("no --sizes");
	t0 = homad_now_ns();
	for (unsigned i = 0; i < opt.n_sizes; i++) {
		t = homad_now_ns();
		ids[i] = e2e_send(s, &d, dlen, opt.sizes[i], i + 1, 1000 + i,
				  flags);
		e2e_recv(s, opt.priv ? ids[i] : 0, E2E_TIMEOUT_MS, &m, false);
		why = e2e_check(s, &m, ids[i], 1000 + i, 0, opt.sizes[i], i + 1,
				i % 2 == 1);
		if (why != NULL)
			e2e_fail("%zu bytes: %s", opt.sizes[i], why);
		if (e2e_peer_port(&m) != opt.port ||
		    m.peer.sa.sa_family != opt.family)
			e2e_fail("response from port %u family %d",
				 e2e_peer_port(&m), m.peer.sa.sa_family);
		hc_recycle(s, &m);
		t = homad_now_ns() - t;
		if (t > worst)
			worst = t;
	}
	seq_ns = homad_now_ns() - t0;

	t0 = homad_now_ns();
	for (unsigned i = 0; i < opt.n_sizes; i++)
		ids[i] = e2e_send(s, &d, dlen, opt.sizes[i], 100 + i, 2000 + i,
				  flags);
	for (unsigned k = 0; k < opt.n_sizes; k++) {
		unsigned i;

		e2e_recv(s, opt.priv ? ids[k] : 0, E2E_TIMEOUT_MS, &m, false);
		i = (unsigned)(m.cookie - 2000);
		if (m.cookie < 2000 || i >= opt.n_sizes || got[i])
			e2e_fail("unexpected cookie %" PRIu64, m.cookie);
		got[i] = true;
		why = e2e_check(s, &m, ids[i], 2000 + i, 0, opt.sizes[i],
				100 + i, i % 2 == 0);
		if (why != NULL)
			e2e_fail("%zu bytes, all at once: %s", opt.sizes[i],
				 why);
		hc_recycle(s, &m);
	}
	conc_ns = homad_now_ns() - t0;
	printf("%u sizes %zu..%zu B byte-exact%s: one at a time %.1f ms "
	       "(slowest %.2f ms), all at once %.1f ms\n",
	       opt.n_sizes, opt.sizes[0], opt.sizes[opt.n_sizes - 1],
	       opt.priv ? " (private)" : "", e2e_ms(seq_ns), e2e_ms(worst),
	       e2e_ms(conc_ns));
	hc_close(s);
	return 0;
}

/* ---- unreach ---------------------------------------------------------- */

/* Requests that must fail with opt.expect, quickly, cookies intact. */
static int cmd_unreach(void)
{
	static const size_t sizes[] = {100, 5000, 100000};
	struct hc_sock *s = e2e_open(0);
	struct sockaddr_storage d;
	socklen_t dlen = e2e_addr(opt.port, &d);
	uint64_t worst = 0, best = UINT64_MAX;
	struct hc_info info;
	struct hc_msg m;
	int rc;

	if (opt.expect <= 0)
		e2e_fail("no --expect");
	for (unsigned k = 0; k < 3; k++) {
		uint64_t cookie = 0xc0ffee00u + k, t = homad_now_ns(), id;
		int flags = k == 1 ? HC_PRIVATE : 0;

		id = e2e_send(s, &d, dlen, sizes[k], k, cookie, flags);
		e2e_recv(s, flags ? id : 0, E2E_TIMEOUT_MS, &m, true);
		t = homad_now_ns() - t;
		if (m.error != opt.expect)
			e2e_fail("%zu bytes: %s, expected %s", sizes[k],
				 e2e_errname(m.error), e2e_errname(opt.expect));
		if (m.id != id || m.cookie != cookie)
			e2e_fail("failure of id %" PRIu64 " cookie %" PRIu64
				 ", expected %" PRIu64 " / %" PRIu64,
				 m.id, m.cookie, id, cookie);
		if (t > (uint64_t)opt.within_ms * 1000000u)
			e2e_fail("%zu bytes: %s after %.1f ms, limit %ld ms",
				 sizes[k], e2e_errname(m.error), e2e_ms(t),
				 opt.within_ms);
		hc_recycle(s, &m);
		worst = t > worst ? t : worst;
		best = t < best ? t : best;
	}
	rc = hc_info(s, &info, NULL, 0, NULL);
	if (rc < 0 || info.num_rpcs != 0)
		e2e_fail("hc_info: %s, %u RPCs left", hc_strerror(rc),
			 info.num_rpcs);
	printf("3 requests (100, 5000, 100000 B) failed %s in %.2f..%.2f ms "
	       "(limit %ld), cookies back\n",
	       e2e_errname(opt.expect), e2e_ms(best), e2e_ms(worst),
	       opt.within_ms);
	hc_close(s);
	return 0;
}

/* ---- concurrent ------------------------------------------------------- */

static const size_t e2e_mix[] = {1,    100,   1399,  1400,  1401,
				 4000, 20000, 40001, 65536, 100000};
#define E2E_MIX_N (sizeof(e2e_mix) / sizeof(e2e_mix[0]))

/* One client process: n requests outstanding at once. */
static void e2e_concurrent_child(unsigned idx, int opened, int barrier,
				 uint64_t *worst, uint64_t *bytes)
{
	struct hc_sock *s = e2e_open(0);
	struct sockaddr_storage d;
	socklen_t dlen = e2e_addr(opt.port, &d);
	unsigned long n = opt.count;
	uint64_t *ids = calloc(n, sizeof(*ids));
	uint64_t *start = calloc(n, sizeof(*start));
	bool *got = calloc(n, sizeof(*got));
	struct hc_msg m;
	char c;

	if (ids == NULL || start == NULL || got == NULL)
		e2e_fail("out of memory");
	/* Socket open; all processes start sending together. */
	if (write(opened, "o", 1) != 1 || read(barrier, &c, 1) < 0)
		e2e_fail("barrier: %s", strerror(errno));
	for (unsigned long i = 0; i < n; i++) {
		size_t len = e2e_mix[(i + idx) % E2E_MIX_N];

		start[i] = homad_now_ns();
		ids[i] = e2e_send(s, &d, dlen, len, idx * 100000 + i, i, 0);
		*bytes += len;
	}
	for (unsigned long k = 0; k < n; k++) {
		const char *why;
		uint64_t i, t;

		e2e_recv(s, 0, E2E_TIMEOUT_MS, &m, false);
		i = m.cookie;
		if (i >= n || got[i])
			e2e_fail("process %u: unexpected cookie %" PRIu64, idx,
				 m.cookie);
		got[i] = true;
		why = e2e_check(s, &m, ids[i], i, 0,
				e2e_mix[(i + idx) % E2E_MIX_N],
				idx * 100000 + i, i % 3 == 0);
		if (why != NULL)
			e2e_fail("process %u: %s", idx, why);
		hc_recycle(s, &m);
		t = homad_now_ns() - start[i];
		if (t > *worst)
			*worst = t;
	}
	hc_close(s);
	exit(0);
}

static int cmd_concurrent(void)
{
	unsigned long procs = opt.procs;
	uint64_t *shared, t0, deadline, worst = 0, bytes = 0;
	pid_t pids[64];
	int pipefd[2], op[2], status, failed = 0;
	unsigned left, opened = 0;

	if (procs == 0 || procs > 64 || opt.count == 0)
		e2e_fail("--procs 1..64 and -n N needed");
	shared =
		mmap(NULL, 2 * procs * sizeof(uint64_t), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED || pipe(pipefd) < 0 || pipe(op) < 0)
		e2e_fail("mmap/pipe: %s", strerror(errno));
	memset(shared, 0, 2 * procs * sizeof(uint64_t));
	fflush(NULL);
	for (unsigned i = 0; i < procs; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			e2e_fail("fork: %s", strerror(errno));
		if (pids[i] == 0) {
			close(pipefd[1]);
			close(op[0]);
			e2e_concurrent_child(i, op[1], pipefd[0],
					     &shared[2 * i],
					     &shared[2 * i + 1]);
		}
	}
	/*
	 * Release the children once all have opened their sockets (one byte
	 * each; a child that failed closes its end: EOF once all did).
	 */
	close(op[1]);
	while (opened < procs) {
		struct pollfd pfd = {.fd = op[0], .events = POLLIN};
		char buf[64];
		ssize_t n;

		if (poll(&pfd, 1, 10000) <= 0)
			break;
		n = read(op[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		opened += (unsigned)n;
	}
	close(op[0]);
	close(pipefd[1]);
	t0 = homad_now_ns();
	deadline = t0 + (uint64_t)opt.within_ms * 1000000u;
	left = (unsigned)procs;
	while (left > 0) {
		pid_t p = waitpid(-1, &status, WNOHANG);

		if (p > 0) {
			left--;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				failed++;
			continue;
		}
		if (homad_now_ns() > deadline) {
			for (unsigned i = 0; i < procs; i++)
				kill(pids[i], SIGKILL);
			e2e_fail("%u processes still running after %ld ms",
				 left, opt.within_ms);
		}
		usleep(2000);
	}
	t0 = homad_now_ns() - t0;
	if (failed > 0)
		e2e_fail("%d of %lu processes failed", failed, procs);
	for (unsigned i = 0; i < procs; i++) {
		worst = shared[2 * i] > worst ? shared[2 * i] : worst;
		bytes += shared[2 * i + 1];
	}
	printf("%lu RPCs (%lu processes x %lu outstanding, %zu sizes 1..%zu "
	       "B, %.1f MB each way) byte-exact in %.0f ms, slowest RPC %.0f "
	       "ms\n",
	       procs * opt.count, procs, opt.count, E2E_MIX_N,
	       e2e_mix[E2E_MIX_N - 1], (double)bytes / 1e6, e2e_ms(t0),
	       e2e_ms(worst));
	return 0;
}

/* ---- many ------------------------------------------------------------- */

/* Read the "tagged" ports of opt.ports_file into ports[]. */
static unsigned e2e_read_ports(unsigned *ports, unsigned max)
{
	FILE *f = fopen(opt.ports_file ? opt.ports_file : "", "r");
	char line[4096], *p, *end;
	unsigned n = 0;

	if (f == NULL)
		e2e_fail("cannot read --ports-file");
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "tagged ", 7) != 0)
			continue;
		for (p = line + 7; n < max; p = end) {
			unsigned long v = strtoul(p, &end, 10);

			if (end == p)
				break;
			ports[n++] = (unsigned)v;
		}
	}
	fclose(f);
	return n;
}

/* Client sockets, bound and default, to the tagged server sockets. */
static int cmd_many(void)
{
	unsigned ports[E2E_MAX_SOCKS], np, n = (unsigned)opt.count, nb = 0;
	struct hc_sock *c[E2E_MAX_SOCKS];
	uint64_t ids[E2E_MAX_SOCKS][2], t0;
	struct sockaddr_storage d;
	socklen_t dlen;

	np = e2e_read_ports(ports, E2E_MAX_SOCKS);
	if (n == 0 || n > E2E_MAX_SOCKS || np == 0)
		e2e_fail("-n 1..%u and a ports file with tagged ports needed",
			 E2E_MAX_SOCKS);
	for (unsigned j = 0; j < n; j++) {
		struct hc_info info;
		unsigned p;
		int rc;

		c[j] = e2e_open2(8 * HC_BPAGE_SIZE, 1 << 20);
		if (j < n / 2) {
			e2e_bind(c[j], 5000 + j);
			nb++;
		}
		p = hc_port(c[j]);
		if (j < n / 2 ? p != 5000 + j : p < HC_MIN_DEFAULT_PORT)
			e2e_fail("socket %u: port %u", j, p);
		for (unsigned k = 0; k < j; k++)
			if (hc_port(c[k]) == p)
				e2e_fail("sockets %u and %u: both port %u", k,
					 j, p);
		rc = hc_info(c[j], &info, NULL, 0, NULL);
		if (rc < 0 || info.port != p)
			e2e_fail("hc_info: %s, port %u, expected %u",
				 hc_strerror(rc), info.port, p);
	}
	t0 = homad_now_ns();
	for (unsigned j = 0; j < n; j++)
		for (unsigned k = 0; k < 2; k++) {
			unsigned target = ports[(j + 17 * k) % np];

			dlen = e2e_addr(target, &d);
			ids[j][k] = e2e_send(c[j], &d, dlen, 100 + 37 * j,
					     2 * j + k, k, 0);
		}
	for (unsigned j = 0; j < n; j++)
		for (unsigned r = 0; r < 2; r++) {
			struct hc_msg m;
			const char *why;
			uint32_t tag;
			unsigned k;

			e2e_recv(c[j], 0, E2E_TIMEOUT_MS, &m, false);
			k = (unsigned)m.cookie;
			if (k > 1)
				e2e_fail("socket %u: cookie %" PRIu64, j,
					 m.cookie);
			why = e2e_check(c[j], &m, ids[j][k], k, 4, 100 + 37 * j,
					2 * j + k, false);
			if (why != NULL)
				e2e_fail("socket %u: %s", j, why);
			hc_msg_read(c[j], &m, 0, &tag, sizeof(tag));
			if (ntohl(tag) != ports[(j + 17 * k) % np] ||
			    e2e_peer_port(&m) != ntohl(tag))
				e2e_fail("socket %u: answer of port %u (from "
					 "port %u), expected port %u",
					 j, ntohl(tag), e2e_peer_port(&m),
					 ports[(j + 17 * k) % np]);
			hc_recycle(c[j], &m);
		}
	t0 = homad_now_ns() - t0;
	for (unsigned j = 0; j < n; j++)
		hc_close(c[j]);
	printf("%u server sockets (%u bound, %u default ports) x %u client "
	       "sockets (%u bound, %u default ports, all ports distinct): %u "
	       "RPCs each answered by the right socket in %.1f ms\n",
	       np, np / 2, np - np / 2, n, nb, n - nb, 2 * n, e2e_ms(t0));
	return 0;
}

/* ---- a thread waiting in hc_recv ----------------------------------- */

struct e2e_waiter {
	struct hc_sock *s;
	uint64_t id;
	int timeout_ms;
	int rc;
	struct hc_msg m;
	uint64_t woke_ns;
	pid_t tid; /* the thread's, once it runs */
	pthread_t th;
};

static void *e2e_waiter_main(void *arg)
{
	struct e2e_waiter *w = arg;
	struct hc_msg m;
	int rc;

	__atomic_store_n(&w->tid, gettid(), __ATOMIC_RELEASE);
	rc = hc_recv(w->s, w->id, w->timeout_ms, &m);
	w->m = m;
	w->woke_ns = homad_now_ns();
	__atomic_store_n(&w->rc, rc, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * Wait (at most 2 s) until w's thread sleeps in the kernel (state S in
 * /proc) without having returned: blocked in hc_recv.  false if not.
 */
static bool e2e_waiter_blocked(struct e2e_waiter *w)
{
	uint64_t t0 = homad_now_ns();

	while (homad_now_ns() - t0 < 2000000000ull) {
		pid_t tid = __atomic_load_n(&w->tid, __ATOMIC_ACQUIRE);
		char path[64], buf[512], *p = NULL;
		FILE *f;

		if (__atomic_load_n(&w->rc, __ATOMIC_ACQUIRE) != 1)
			return false;
		snprintf(path, sizeof(path), "/proc/self/task/%d/stat",
			 (int)tid);
		f = tid > 0 ? fopen(path, "r") : NULL;
		if (f != NULL) {
			if (fgets(buf, sizeof(buf), f) != NULL)
				p = strrchr(buf, ')');
			fclose(f);
		}
		if (p != NULL && p[1] == ' ' && p[2] == 'S')
			return __atomic_load_n(&w->rc, __ATOMIC_ACQUIRE) == 1;
		usleep(1000);
	}
	return false;
}

static void e2e_waiter_start(struct e2e_waiter *w, struct hc_sock *s,
			     uint64_t id, int timeout_ms)
{
	w->s = s;
	w->id = id;
	w->timeout_ms = timeout_ms;
	w->rc = 1;
	w->tid = 0;
	if (pthread_create(&w->th, NULL, e2e_waiter_main, w) != 0)
		e2e_fail("pthread_create");
}

/* Join w by the absolute CLOCK_REALTIME deadline; false if it is late. */
static bool e2e_waiter_join(struct e2e_waiter *w, const struct timespec *dl)
{
	return pthread_timedjoin_np(w->th, NULL, dl) == 0;
}

static struct timespec e2e_deadline(long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* ---- private ---------------------------------------------------------- */

/*
 * Private responses are returned only to a wait for their id; waits for
 * any message never see them, not even once they have arrived.
 */
static int cmd_private(void)
{
	struct hc_sock *s = e2e_open(0);
	struct sockaddr_storage d;
	socklen_t dlen = e2e_addr(opt.port, &d);
	uint64_t pid[10], nid[10];
	bool got[10] = {false};
	struct hc_msg m;
	const char *why;
	uint64_t t;
	int rc;

	for (unsigned i = 0; i < 10; i++) {
		pid[i] = e2e_send(s, &d, dlen, 10 + 7000 * i, 10 + i, 100 + i,
				  HC_PRIVATE);
		nid[i] = e2e_send(s, &d, dlen, 20 + 5000 * i, 20 + i, 200 + i,
				  0);
	}
	/* Waits for any message get the 10 non-private responses only. */
	for (unsigned k = 0; k < 10; k++) {
		unsigned i;

		e2e_recv(s, 0, E2E_TIMEOUT_MS, &m, false);
		i = (unsigned)(m.cookie - 200);
		if (m.cookie < 200 || i >= 10 || got[i])
			e2e_fail("a wait for any message returned id %" PRIu64
				 " cookie %" PRIu64 " (a private one?)",
				 m.id, m.cookie);
		got[i] = true;
		why = e2e_check(s, &m, nid[i], 200 + i, 0, 20 + 5000 * i,
				20 + i, false);
		if (why != NULL)
			e2e_fail("%s", why);
		hc_recycle(s, &m);
	}
	/*
	 * The private responses have had time to arrive (each echo takes
	 * well under a millisecond here); a wait for any still sees none.
	 */
	t = homad_now_ns();
	rc = hc_recv(s, 0, 300, &m);
	if (rc != -EAGAIN)
		e2e_fail("wait for any after the non-private ones: %s, "
			 "id %" PRIu64 " (expected EAGAIN)",
			 rc < 0 ? hc_strerror(rc) : "a message",
			 rc == 0 ? m.id : 0);
	t = homad_now_ns() - t;
	/* A wait for a non-private id is refused. */
	rc = hc_recv(s, nid[0], 0, &m);
	if (rc != -EINVAL)
		e2e_fail("wait for non-private id: %s, expected EINVAL",
			 e2e_errname(rc));
	/* Each private response, by id, newest first. */
	for (int i = 9; i >= 0; i--) {
		e2e_recv(s, pid[i], E2E_TIMEOUT_MS, &m, false);
		why = e2e_check(s, &m, pid[i], 100 + (unsigned)i, 0,
				10 + 7000 * (size_t)i, 10 + (unsigned)i, i % 2);
		if (why != NULL)
			e2e_fail("private: %s", why);
		hc_recycle(s, &m);
	}
	rc = hc_recv(s, pid[3], 0, &m);
	if (rc != -EINVAL)
		e2e_fail("second wait for a collected private id: %s, "
			 "expected EINVAL",
			 e2e_errname(rc));
	/*
	 * A thread waiting for any message is not woken by a private
	 * response another thread waits for.
	 */
	{
		struct e2e_waiter any;
		struct timespec dl;
		uint64_t id;

		e2e_waiter_start(&any, s, 0, 500);
		id = e2e_send(s, &d, dlen, 3000, 99, 99, HC_PRIVATE);
		e2e_recv(s, id, E2E_TIMEOUT_MS, &m, false);
		why = e2e_check(s, &m, id, 99, 0, 3000, 99, false);
		if (why != NULL)
			e2e_fail("private with a waiter for any: %s", why);
		hc_recycle(s, &m);
		dl = e2e_deadline(5000);
		if (!e2e_waiter_join(&any, &dl))
			e2e_fail("the waiter for any is stuck");
		if (any.rc != -EAGAIN)
			e2e_fail("the waiter for any got %s (id %" PRIu64
				 "), expected EAGAIN",
				 any.rc < 0 ? e2e_errname(any.rc) : "a message",
				 any.rc == 0 ? any.m.id : 0);
	}
	printf("10 private + 10 non-private RPCs: waits for any got the 10 "
	       "non-private only (then EAGAIN after %.0f ms), each private "
	       "one returned to its own id, also while another thread waited "
	       "for any; non-private id refused (EINVAL)\n",
	       e2e_ms(t));
	hc_close(s);
	return 0;
}

/* ---- cookies ---------------------------------------------------------- */

static int cmd_cookies(void)
{
	enum { N = 200 };
	struct hc_sock *s = e2e_open(0);
	struct sockaddr_storage d;
	socklen_t dlen = e2e_addr(opt.port, &d);
	uint64_t ids[N], cookies[N], x = 0x243f6a8885a308d3ull;
	bool got[N] = {false};
	unsigned priv = 0;

	for (unsigned i = 0; i < N; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		cookies[i] = i == 0   ? 0
			     : i == 1 ? UINT64_MAX
			     : i == 2 ? 1ull << 63
			     : i == 3 ? 1
				      : x;
		ids[i] = e2e_send(s, &d, dlen, 1 + (i * 997) % 3000, i,
				  cookies[i], i % 5 == 0 ? HC_PRIVATE : 0);
		priv += i % 5 == 0;
	}
	for (unsigned k = 0; k < N - priv; k++) {
		struct hc_msg m;
		unsigned i;

		e2e_recv(s, 0, E2E_TIMEOUT_MS, &m, false);
		for (i = 0; i < N && ids[i] != m.id; i++)
			;
		if (i == N || got[i] || i % 5 == 0)
			e2e_fail("unexpected response id %" PRIu64, m.id);
		got[i] = true;
		if (m.cookie != cookies[i])
			e2e_fail("RPC %u: cookie 0x%" PRIx64
				 ", sent 0x%" PRIx64,
				 i, m.cookie, cookies[i]);
		hc_recycle(s, &m);
	}
	for (unsigned i = 0; i < N; i += 5) {
		struct hc_msg m;

		e2e_recv(s, ids[i], E2E_TIMEOUT_MS, &m, false);
		if (m.cookie != cookies[i])
			e2e_fail("private RPC %u: cookie 0x%" PRIx64
				 ", sent 0x%" PRIx64,
				 i, m.cookie, cookies[i]);
		hc_recycle(s, &m);
	}
	printf("%u RPCs (%u private): every response carried its request's "
	       "64-bit cookie (0, 1, 2^63, 2^64-1 and random)\n",
	       N, priv);
	hc_close(s);
	return 0;
}

/* ---- abort ------------------------------------------------------------ */

/* Nothing (no message, no failure) arrives within ms: or fail. */
static void e2e_expect_nothing(struct hc_sock *s, int ms, const char *what)
{
	struct hc_msg m;
	int rc = hc_recv(s, 0, ms, &m);

	if (rc != -EAGAIN)
		e2e_fail("%s: hc_recv returned %s (id %" PRIu64 " error %s)",
			 what, rc < 0 ? hc_strerror(rc) : "a message",
			 rc == 0 ? m.id : 0,
			 rc == 0 ? e2e_errname(m.error) : "");
}

static int cmd_abort(void)
{
	struct hc_sock *s = e2e_open(0);
	struct sockaddr_storage sink, echo;
	socklen_t sl = e2e_addr(opt.sink, &sink);
	socklen_t el = e2e_addr(opt.port, &echo);
	uint64_t id, id2, many[5];
	struct hc_info info;
	struct hc_msg m;
	const char *why;
	bool got[5] = {false};
	int rc;

	/*
	 * Silent: the aborted RPC never comes back; an echo sent after it
	 * is the next message (a failure of the first would come before).
	 */
	id = e2e_send(s, &sink, sl, 1000, 1, 11, 0);
	if ((rc = hc_abort(s, id, 0)) != 0)
		e2e_fail("abort(%" PRIu64 ", 0): %s", id, hc_strerror(rc));
	id2 = e2e_send(s, &echo, el, 100, 2, 12, 0);
	e2e_recv(s, 0, E2E_TIMEOUT_MS, &m, true);
	if ((why = e2e_check(s, &m, id2, 12, 0, 100, 2, false)) != NULL)
		e2e_fail("after a silent abort: %s", why);
	hc_recycle(s, &m);
	/* A long request aborted mid-transmission, silently. */
	id = e2e_send(s, &sink, sl, 1000000, 3, 13, 0);
	if ((rc = hc_abort(s, id, 0)) != 0)
		e2e_fail("abort(1 MB request, 0): %s", hc_strerror(rc));
	/* All, silently. */
	for (unsigned i = 0; i < 5; i++)
		e2e_send(s, &sink, sl, 50000, 4, 14, 0);
	if ((rc = hc_abort(s, 0, 0)) != 0)
		e2e_fail("abort(all, 0): %s", hc_strerror(rc));
	/* A private one silently: its waiter gets EINVAL. */
	id = e2e_send(s, &sink, sl, 100, 5, 15, HC_PRIVATE);
	if ((rc = hc_abort(s, id, 0)) != 0)
		e2e_fail("abort(private, 0): %s", hc_strerror(rc));
	rc = hc_recv(s, id, 1000, &m);
	if (rc != -EINVAL)
		e2e_fail("wait for a silently aborted private RPC: %s, "
			 "expected EINVAL",
			 e2e_errname(rc));
	e2e_expect_nothing(s, 200, "silent aborts");

	/* With an errno: the RPC fails with it, cookie intact. */
	id = e2e_send(s, &sink, sl, 1000000, 6, 0xfeedface, 0);
	if ((rc = hc_abort(s, id, ECANCELED)) != 0)
		e2e_fail("abort(id, ECANCELED): %s", hc_strerror(rc));
	e2e_recv(s, 0, E2E_TIMEOUT_MS, &m, true);
	if (m.id != id || m.error != ECANCELED || m.cookie != 0xfeedface ||
	    m.length != 0)
		e2e_fail("aborted RPC came back as id %" PRIu64 " error %s "
			 "cookie %" PRIx64 " length %u; expected id %" PRIu64
			 " ECANCELED cookie feedface",
			 m.id, e2e_errname(m.error), m.cookie, m.length, id);
	hc_recycle(s, &m);
	/* All with an errno. */
	for (unsigned i = 0; i < 5; i++)
		many[i] =
			e2e_send(s, &sink, sl, 100 + 20000 * i, 7, 700 + i, 0);
	if ((rc = hc_abort(s, 0, ETIMEDOUT)) != 0)
		e2e_fail("abort(all, ETIMEDOUT): %s", hc_strerror(rc));
	for (unsigned k = 0; k < 5; k++) {
		unsigned i;

		e2e_recv(s, 0, E2E_TIMEOUT_MS, &m, true);
		i = (unsigned)(m.cookie - 700);
		if (m.cookie < 700 || i >= 5 || got[i] || m.id != many[i] ||
		    m.error != ETIMEDOUT)
			e2e_fail("abort all: id %" PRIu64 " cookie %" PRIu64
				 " error %s",
				 m.id, m.cookie, e2e_errname(m.error));
		got[i] = true;
		hc_recycle(s, &m);
	}
	/* A private one with an errno: only its own wait gets it. */
	id = e2e_send(s, &sink, sl, 100, 8, 16, HC_PRIVATE);
	if ((rc = hc_abort(s, id, EIO)) != 0)
		e2e_fail("abort(private, EIO): %s", hc_strerror(rc));
	e2e_expect_nothing(s, 100, "aborted private RPC");
	e2e_recv(s, id, E2E_TIMEOUT_MS, &m, true);
	if (m.id != id || m.error != EIO || m.cookie != 16)
		e2e_fail("private abort: id %" PRIu64
			 " error %s cookie %" PRIu64,
			 m.id, e2e_errname(m.error), m.cookie);
	hc_recycle(s, &m);
	/* Unknown id. */
	rc = hc_abort(s, 123456, ECANCELED);
	if (rc != -EINVAL)
		e2e_fail("abort of an unknown id: %s, expected EINVAL",
			 e2e_errname(rc));
	e2e_expect_nothing(s, 100, "after the aborts");
	rc = hc_info(s, &info, NULL, 0, NULL);
	if (rc < 0 || info.num_rpcs != 0)
		e2e_fail("hc_info: %s, %u RPCs left", hc_strerror(rc),
			 info.num_rpcs);
	printf("silent (one, 1 MB mid-send, all, private -> EINVAL): never "
	       "returned; with errno (one ECANCELED, all 5 ETIMEDOUT, private "
	       "EIO): returned with that error and cookie; unknown id "
	       "EINVAL; 0 RPCs left\n");
	hc_close(s);
	return 0;
}

/* ---- shutdown --------------------------------------------------------- */

static int cmd_shutdown(void)
{
	struct hc_sock *s = e2e_open(0), *srv = e2e_open(0), *other;
	struct sockaddr_storage sink;
	socklen_t sl = e2e_addr(opt.sink, &sink);
	struct e2e_waiter any, priv, serv;
	struct timespec dl;
	uint64_t pid, t0;
	struct hc_msg m;
	int rc;

	e2e_send(s, &sink, sl, 1000, 1, 1, 0);
	pid = e2e_send(s, &sink, sl, 1000, 2, 2, HC_PRIVATE);
	e2e_bind(srv, 7100);
	e2e_waiter_start(&any, s, 0, -1);
	e2e_waiter_start(&priv, s, pid, -1);
	e2e_waiter_start(&serv, srv, 0, -1);
	/*
	 * Once the waiters sleep in hc_recv, shut down.  (Had one not got
	 * there yet, it would have to return the same error.)
	 */
	if (!e2e_waiter_blocked(&any) || !e2e_waiter_blocked(&priv) ||
	    !e2e_waiter_blocked(&serv))
		e2e_fail("a waiter did not block: %s/%s/%s",
			 e2e_errname(any.rc), e2e_errname(priv.rc),
			 e2e_errname(serv.rc));
	t0 = homad_now_ns();
	if ((rc = hc_shutdown(s)) != 0 || (rc = hc_shutdown(srv)) != 0)
		e2e_fail("hc_shutdown: %s", hc_strerror(rc));
	dl = e2e_deadline(5000);
	if (!e2e_waiter_join(&any, &dl) || !e2e_waiter_join(&priv, &dl) ||
	    !e2e_waiter_join(&serv, &dl))
		e2e_fail("a waiter still blocked 5 s after hc_shutdown");
	if (any.rc != -ESHUTDOWN || serv.rc != -ESHUTDOWN)
		e2e_fail("waiters for any message woke with %s / %s, expected "
			 "ESHUTDOWN",
			 e2e_errname(any.rc), e2e_errname(serv.rc));
	if (priv.rc != -EINVAL)
		e2e_fail("the private waiter woke with %s, expected EINVAL",
			 e2e_errname(priv.rc));
	if ((rc = hc_recv(s, 0, 0, &m)) != -ESHUTDOWN)
		e2e_fail("hc_recv after shutdown: %s", e2e_errname(rc));
	{
		uint64_t id;
		char b = 1;

		rc = hc_send_request(s, (struct sockaddr *)&sink, sl, &b, 1, 0,
				     0, &id);
		if (rc != -ESHUTDOWN)
			e2e_fail("send after shutdown: %s, expected ESHUTDOWN",
				 e2e_errname(rc));
	}
	if (hc_port(srv) != 0)
		e2e_fail("port %u after shutdown", hc_port(srv));
	/* The port is free again at once. */
	other = e2e_open(0);
	if ((rc = hc_bind(other, 7100)) != 0)
		e2e_fail("bind of a shut-down socket's port: %s",
			 hc_strerror(rc));
	printf("blocked waiters woke at once: any %s after %.2f ms, server %s "
	       "after %.2f ms, private EINVAL after %.2f ms; later recv/send "
	       "ESHUTDOWN; port released\n",
	       e2e_errname(any.rc), e2e_ms(any.woke_ns - t0),
	       e2e_errname(serv.rc), e2e_ms(serv.woke_ns - t0),
	       e2e_ms(priv.woke_ns - t0));
	hc_close(other);
	hc_close(s);
	hc_close(srv);
	return 0;
}

/* ---- bind ------------------------------------------------------------- */

static void e2e_bind_expect(struct hc_sock *s, unsigned port, int expect,
			    const char *what)
{
	int rc = hc_bind(s, port);

	if (rc != -expect)
		e2e_fail("%s: bind %u: %s, expected %s", what, port,
			 e2e_errname(rc), e2e_errname(expect));
}

static int cmd_bind(void)
{
	struct hc_sock *a = e2e_open(0), *b = e2e_open(0), *c, *x;
	int family = opt.family;
	int other = family == AF_INET ? AF_INET6 : AF_INET;
	uint64_t t0;
	int rc, tries = 0;

	e2e_bind_expect(a, 7000, 0, "first");
	e2e_bind_expect(b, 7000, EADDRINUSE, "same port, same process");
	e2e_bind_expect(a, 7000, 0, "own port again");
	if (opt.taken)
		e2e_bind_expect(b, opt.taken, EADDRINUSE,
				"port of another process");
	e2e_bind_expect(b, 0x8000, EINVAL, "port 0x8000");
	e2e_bind_expect(b, 0xffff, EINVAL, "port 0xffff");
	e2e_bind_expect(b, 7001, 0, "another port");
	/* Both families share the host's ports. */
	opt.family = other;
	x = e2e_open(0);
	opt.family = family;
	e2e_bind_expect(x, 7000, EADDRINUSE, "other family");
	/* Re-binding releases the old port. */
	e2e_bind_expect(a, 7002, 0, "re-bind");
	c = e2e_open(0);
	e2e_bind_expect(c, 7000, 0, "released by re-bind");
	/* The new port is taken. */
	e2e_bind_expect(x, 7002, EADDRINUSE, "new port of a re-bind");
	/* Closing releases the port (homad learns of it asynchronously). */
	hc_close(a);
	t0 = homad_now_ns();
	while ((rc = hc_bind(x, 7002)) == -EADDRINUSE &&
	       homad_now_ns() - t0 < 2000000000ull) {
		tries++;
		usleep(1000);
	}
	if (rc != 0)
		e2e_fail("port of a closed socket: %s", e2e_errname(rc));
	printf("same port twice EADDRINUSE (same process, another process, "
	       "other family); ports >= 0x8000 EINVAL; re-bind and close "
	       "release the port (free %.1f ms after close)\n",
	       e2e_ms(homad_now_ns() - t0));
	hc_close(b);
	hc_close(c);
	hc_close(x);
	return 0;
}

/* ---- pool ------------------------------------------------------------- */

/*
 * A receive pool of 4 bpages, responses of 100000 bytes (2 bpages each):
 * holding them without recycling stalls the rest, which do not time out
 * and complete once the held ones are recycled.
 */
static int cmd_pool(void)
{
	enum { N = 8, LEN = 100000, POOL = 4 * HC_BPAGE_SIZE };
	struct hc_sock *s = e2e_open(POOL);
	struct sockaddr_storage d;
	socklen_t dlen = e2e_addr(opt.port, &d);
	struct hc_msg held[N], m;
	uint64_t ids[N], t0, stall;
	struct hc_info info;
	unsigned nheld = 0, done = 0;
	bool got[N] = {false};
	const char *why;
	int rc;

	for (unsigned i = 0; i < N; i++)
		ids[i] = e2e_send(s, &d, dlen, LEN, 50 + i, i, 0);
	/* Take what fits, recycling nothing, until nothing more comes. */
	while (nheld < N) {
		rc = hc_recv(s, 0, nheld == 0 ? E2E_TIMEOUT_MS : 500,
			     &held[nheld]);
		if (rc == -EAGAIN)
			break;
		if (rc < 0 || held[nheld].error != 0)
			e2e_fail("recv while holding: %s",
				 rc < 0 ? hc_strerror(rc)
					: e2e_errname(held[nheld].error));
		nheld++;
	}
	if (nheld == 0 || nheld >= N)
		e2e_fail("%u of %u responses arrived into a pool of %u bpages "
			 "(expected a stall)",
			 nheld, N, POOL / HC_BPAGE_SIZE);
	rc = hc_info(s, &info, NULL, 0, NULL);
	if (rc < 0)
		e2e_fail("hc_info: %s", hc_strerror(rc));
	/* Stalled longer than the RPC timeout: nothing may fail. */
	t0 = homad_now_ns();
	e2e_expect_nothing(s, 300, "stalled pool");
	stall = homad_now_ns() - t0;
	for (unsigned k = 0; k < nheld; k++) {
		unsigned i = (unsigned)held[k].cookie;

		if (i >= N || got[i])
			e2e_fail("cookie %" PRIu64, held[k].cookie);
		got[i] = true;
		why = e2e_check(s, &held[k], ids[i], i, 0, LEN, 50 + i, k % 2);
		if (why != NULL)
			e2e_fail("held message: %s", why);
	}
	for (unsigned k = 0; k < nheld; k++)
		if ((rc = hc_recycle(s, &held[k])) != 0)
			e2e_fail("recycle: %s", hc_strerror(rc));
	done = nheld;
	while (done < N) {
		unsigned i;

		e2e_recv(s, 0, E2E_TIMEOUT_MS, &m, false);
		i = (unsigned)m.cookie;
		if (i >= N || got[i])
			e2e_fail("cookie %" PRIu64, m.cookie);
		got[i] = true;
		why = e2e_check(s, &m, ids[i], i, 0, LEN, 50 + i, false);
		if (why != NULL)
			e2e_fail("after recycling: %s", why);
		hc_recycle(s, &m);
		done++;
	}
	printf("pool of %u bpages, %u responses of %u B: %u arrived and were "
	       "held (%llu B free), the rest stalled %.0f ms without failing, "
	       "then all %u completed byte-exact after recycling\n",
	       POOL / HC_BPAGE_SIZE, N, LEN, nheld,
	       (unsigned long long)info.bpool_avail_bytes, e2e_ms(stall), N);
	hc_close(s);
	return 0;
}

/* ---- einval ----------------------------------------------------------- */

static int cmd_einval(void)
{
	struct hc_sock *s = e2e_open(0);
	struct sockaddr_storage d;
	socklen_t dlen = e2e_addr(opt.port, &d);
	uint8_t *big = calloc(1, HC_MAX_MESSAGE_LENGTH + 1);
	struct iovec iov[2];
	struct hc_msg m;
	const char *why;
	uint64_t id = 0;
	int rc;

	if (big == NULL)
		e2e_fail("out of memory");
	rc = hc_send_request(s, (struct sockaddr *)&d, dlen, big, 0, 0, 0, &id);
	if (rc != -EINVAL)
		e2e_fail("0-byte request: %s", e2e_errname(rc));
	rc = hc_send_request(s, (struct sockaddr *)&d, dlen, big,
			     HC_MAX_MESSAGE_LENGTH + 1, 0, 0, &id);
	if (rc != -EINVAL)
		e2e_fail("1,000,001-byte request: %s", e2e_errname(rc));
	iov[0].iov_base = big;
	iov[0].iov_len = 600000;
	iov[1].iov_base = big;
	iov[1].iov_len = 400001;
	rc = hc_send_requestv(s, (struct sockaddr *)&d, dlen, iov, 2, 0, 0,
			      &id);
	if (rc != -EINVAL)
		e2e_fail("1,000,001-byte request in 2 extents: %s",
			 e2e_errname(rc));
	iov[1].iov_len = 0;
	rc = hc_send_requestv(s, (struct sockaddr *)&d, dlen, iov + 1, 1, 0, 0,
			      &id);
	if (rc != -EINVAL)
		e2e_fail("0-byte request in an extent: %s", e2e_errname(rc));
	rc = hc_send_request(s, (struct sockaddr *)&d, dlen, big, 0, 0,
			     HC_PRIVATE, &id);
	if (rc != -EINVAL)
		e2e_fail("0-byte private request: %s", e2e_errname(rc));
	/* The socket still works, for the largest message. */
	id = e2e_send(s, &d, dlen, HC_MAX_MESSAGE_LENGTH, 9, 9, 0);
	e2e_recv(s, 0, E2E_TIMEOUT_MS, &m, false);
	if ((why = e2e_check(s, &m, id, 9, 0, HC_MAX_MESSAGE_LENGTH, 9,
			     false)) != NULL)
		e2e_fail("1,000,000 bytes after the refusals: %s", why);
	hc_recycle(s, &m);
	e2e_expect_nothing(s, 100, "after the refused sends");
	printf("0 and 1,000,001 bytes (one buffer, 2 extents, private) "
	       "EINVAL, nothing sent; then 1,000,000 bytes echoed "
	       "byte-exact\n");
	free(big);
	hc_close(s);
	return 0;
}

/* ---- hold, block ------------------------------------------------------ */

static int cmd_hold(void)
{
	struct hc_sock *s = e2e_open(0);
	struct sockaddr_storage d;
	socklen_t dlen = e2e_addr(opt.sink, &d);

	for (unsigned long i = 0; i < opt.count; i++)
		e2e_send(s, &d, dlen, opt.size, i, i, 0);
	e2e_write_ready("sent\n");
	/* e2e.sh kills us; never more than 2 minutes. */
	sleep(120);
	return 1;
}

static int cmd_block(void)
{
	struct hc_sock *s = e2e_open(0);
	struct sockaddr_storage d;
	socklen_t dlen = e2e_addr(opt.sink, &d);
	struct e2e_waiter any, priv;
	struct timespec dl;
	uint64_t pid;
	char b = 1;
	int rc;

	e2e_send(s, &d, dlen, 1000, 1, 1, 0);
	e2e_send(s, &d, dlen, 200000, 2, 2, 0);
	pid = e2e_send(s, &d, dlen, 1000, 3, 3, HC_PRIVATE);
	e2e_waiter_start(&any, s, 0, -1);
	e2e_waiter_start(&priv, s, pid, -1);
	if (!e2e_waiter_blocked(&any) || !e2e_waiter_blocked(&priv))
		e2e_fail("a waiter did not block: %s / %s", e2e_errname(any.rc),
			 e2e_errname(priv.rc));
	e2e_write_ready("blocked\n");
	dl = e2e_deadline(opt.within_ms);
	if (!e2e_waiter_join(&any, &dl) || !e2e_waiter_join(&priv, &dl))
		e2e_fail("still blocked %ld ms after ready (any %s, private "
			 "%s)",
			 opt.within_ms, any.rc == 1 ? "blocked" : "woke",
			 priv.rc == 1 ? "blocked" : "woke");
	if ((any.rc != -ECONNRESET && any.rc != -ESHUTDOWN) ||
	    (priv.rc != -ECONNRESET && priv.rc != -ESHUTDOWN &&
	     priv.rc != -EINVAL))
		e2e_fail("waiters woke with %s / %s", e2e_errname(any.rc),
			 e2e_errname(priv.rc));
	rc = hc_send_request(s, (struct sockaddr *)&d, dlen, &b, 1, 0, 0, &pid);
	if (rc >= 0)
		e2e_fail("a send after homad went away succeeded");
	printf("blocked waiters woke: any %s, private %s; a later send "
	       "%s\n",
	       e2e_errname(any.rc), e2e_errname(priv.rc), e2e_errname(rc));
	hc_close(s);
	return 0;
}

/* ---- main ------------------------------------------------------------- */

static void e2e_usage(void)
{
	fprintf(stderr, "usage: e2e_test COMMAND [-f 4|6] [-d ADDR] [-p PORT] "
			"[-s SOCKET] [options]\n"
			"commands: server echo unreach concurrent many private "
			"cookies abort shutdown bind pool einval hold block\n"
			"(see the comment at the top of tests/integration/"
			"e2e_test.c)\n");
	exit(2);
}

static void e2e_parse_sizes(const char *s)
{
	char *end;

	while (*s != '\0') {
		unsigned long v = strtoul(s, &end, 10);

		if (end == s || opt.n_sizes == E2E_MAX_SIZES)
			e2e_usage();
		opt.sizes[opt.n_sizes++] = v;
		s = *end == ',' ? end + 1 : end;
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"family", required_argument, NULL, 'f'},
		{"addr", required_argument, NULL, 'd'},
		{"port", required_argument, NULL, 'p'},
		{"socket", required_argument, NULL, 's'},
		{"count", required_argument, NULL, 'n'},
		{"ready", required_argument, NULL, 'r'},
		{"sink", required_argument, NULL, 'K'},
		{"echo", required_argument, NULL, 'E'},
		{"idle", no_argument, NULL, 'I'},
		{"tagged", required_argument, NULL, 'T'},
		{"bind-base", required_argument, NULL, 'B'},
		{"sizes", required_argument, NULL, 'Z'},
		{"size", required_argument, NULL, 'z'},
		{"rx-pool", required_argument, NULL, 'R'},
		{"private", no_argument, NULL, 'P'},
		{"procs", required_argument, NULL, 'j'},
		{"expect", required_argument, NULL, 'x'},
		{"within", required_argument, NULL, 'w'},
		{"ports-file", required_argument, NULL, 'F'},
		{"taken", required_argument, NULL, 't'},
		{"poll", no_argument, NULL, 'Q'},
		{"parked", no_argument, NULL, 'k'},
		{"home", required_argument, NULL, 'H'},
		{NULL, 0, NULL, 0},
	};
	static const struct {
		const char *name;
		int (*fn)(void);
	} cmds[] = {
		{"server", cmd_server},	    {"echo", cmd_echo},
		{"unreach", cmd_unreach},   {"concurrent", cmd_concurrent},
		{"many", cmd_many},	    {"private", cmd_private},
		{"cookies", cmd_cookies},   {"abort", cmd_abort},
		{"shutdown", cmd_shutdown}, {"bind", cmd_bind},
		{"pool", cmd_pool},	    {"einval", cmd_einval},
		{"hold", cmd_hold},	    {"block", cmd_block},
		{"hoard", cmd_hoard},	    {"srxloss", cmd_srxloss},
	};
	int c;

	if (argc < 2)
		e2e_usage();
	opt.cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "f:d:p:s:n:", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'f':
			opt.family = strcmp(optarg, "6") == 0 ? AF_INET6
				     : strcmp(optarg, "4") == 0
					     ? AF_INET
					     : (e2e_usage(), 0);
			break;
		case 'd':
			opt.addr = optarg;
			break;
		case 'p':
			opt.port = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 's':
			opt.socket_path = optarg;
			break;
		case 'n':
			opt.count = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			opt.ready = optarg;
			break;
		case 'K':
			opt.sink = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'E':
			opt.echo = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'Q':
			opt.poll = true;
			break;
		case 'k':
			opt.parked = true;
			break;
		case 'H':
			opt.home = optarg;
			break;
		case 'I':
			opt.idle = true;
			break;
		case 'T':
			opt.tagged = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'B':
			opt.bind_base = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'Z':
			e2e_parse_sizes(optarg);
			break;
		case 'z':
			opt.size = strtoul(optarg, NULL, 0);
			break;
		case 'R':
			opt.rx_pool = strtoul(optarg, NULL, 0);
			break;
		case 'P':
			opt.priv = true;
			break;
		case 'j':
			opt.procs = strtoul(optarg, NULL, 0);
			break;
		case 'x':
			opt.expect = e2e_parse_errno(optarg);
			if (opt.expect < 0)
				e2e_usage();
			break;
		case 'w':
			opt.within_ms = strtol(optarg, NULL, 0);
			break;
		case 'F':
			opt.ports_file = optarg;
			break;
		case 't':
			opt.taken = (unsigned)strtoul(optarg, NULL, 0);
			break;
		default:
			e2e_usage();
		}
	}
	if (optind != argc)
		e2e_usage();
	/* Output goes to files and pipes: one line each, in order. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmds[i].name, opt.cmd) == 0)
			return cmds[i].fn();
	e2e_usage();
	return 2;
}
