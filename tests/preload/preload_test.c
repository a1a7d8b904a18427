/*
 * preload_test.c - a program written only against the Linux Homa socket
 * API (homa/homa.h and libc; never libhomaclient), run under
 * libhomapreload by tests/preload/preload.sh.  One command per run:
 *
 *   server PORT              echo server (blocking recvmsg), forever
 *   epserver PORT            echo server: non-blocking socket, epoll
 *   sink PORT                takes requests, never answers, forever
 *   echo HOST PORT           sizes 1..1,000,000 byte-exact; 0 and
 *                            1,000,001 refused; private and shared
 *   errors HOST PORT         bind/sockopt/recvmsg/sendmsg error cases
 *   many HOST PORT N R       N sockets x R RPCs, interleaved (epserver)
 *   threaded HOST PORT R     one thread in recvmsg, another sending
 *   abort HOST SINKPORT      HOMAIOCABORT with and without an errno
 *   info HOST SINKPORT       HOMAIOCINFO with RPCs in flight
 *   shutdown HOST SINKPORT   shutdown wakes blocked recvmsg calls
 *   fork HOST PORT           the child of fork uses the socket
 *   forkexec HOST PORT       fork + exec of a child using the socket
 *   child FD HOST PORT ID    (the exec'd child of forkexec)
 *   mixed HOST PORT          UDP and TCP sockets beside a Homa socket
 *
 * Prints one line of numbers on success; exits 1 with a message on the
 * first failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "homa/homa.h"

#define REGION_BYTES (64u << 20)

static const char *cmd = "?";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "preload_test %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

#define CHECK(c, ...)                     \
	do {                              \
		if (!(c))                 \
			die(__VA_ARGS__); \
	} while (0)

/* A Homa socket with the receive region: its descriptor, *region. */
struct hsock {
	int fd;
	int family;
	uint8_t *region;
	struct homa_recvmsg_args ra; /* bpages to hand back next time */
};

static void hs_open(struct hsock *h, int family, unsigned port)
{
	struct homa_rcvbuf_args rb;

	memset(h, 0, sizeof(*h));
	h->family = family;
	h->fd = socket(family, SOCK_DGRAM, IPPROTO_HOMA);
	CHECK(h->fd >= 0, "socket: %s", strerror(errno));
	if (port != 0) {
		struct sockaddr_storage ss;
		socklen_t len;

		memset(&ss, 0, sizeof(ss));
		if (family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;

			in->sin_family = AF_INET;
			in->sin_port = htons((uint16_t)port);
			len = sizeof(*in);
		} else {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

			in6->sin6_family = AF_INET6;
			in6->sin6_port = htons((uint16_t)port);
			len = sizeof(*in6);
		}
		CHECK(bind(h->fd, (struct sockaddr *)&ss, len) == 0,
		      "bind %u: %s", port, strerror(errno));
	}
	h->region = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(h->region != MAP_FAILED, "mmap");
	rb.start = (uintptr_t)h->region;
	rb.length = REGION_BYTES;
	CHECK(setsockopt(h->fd, IPPROTO_HOMA, SO_HOMA_RCVBUF, &rb,
			 sizeof(rb)) == 0,
	      "SO_HOMA_RCVBUF: %s", strerror(errno));
}

/* The server address HOST PORT, for the socket's family. */
static void addr_of(const char *host, const char *port, int *family,
		    struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints, *ai;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	CHECK(getaddrinfo(host, port, &hints, &ai) == 0, "address %s", host);
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	*family = ai->ai_family;
	freeaddrinfo(ai);
}

/* The byte at offset i of a message of len bytes tagged tag. */
static uint8_t pat(uint64_t tag, size_t len, size_t i)
{
	return (uint8_t)(i * 7 + len * 13 + tag * 31 + (i >> 8));
}

static void fill(uint8_t *b, uint64_t tag, size_t len)
{
	for (size_t i = 0; i < len; i++)
		b[i] = pat(tag, len, i);
}

/*
 * Send a request of len bytes (tag in its pattern; first 8 bytes = tag);
 * its id.  -1 with errno on failure.
 */
static int64_t send_req(struct hsock *h, const struct sockaddr_storage *dst,
			socklen_t dlen, const uint8_t *buf, size_t len,
			uint64_t cookie, uint32_t flags, int mflags)
{
	struct homa_sendmsg_args a = {.completion_cookie = cookie,
				      .flags = flags};
	struct iovec iov[3];
	struct msghdr m;
	size_t cut1 = len / 3, cut2 = 2 * len / 3;

	/* Three extents: the message is gathered. */
	iov[0].iov_base = (void *)buf;
	iov[0].iov_len = cut1;
	iov[1].iov_base = (void *)(buf + cut1);
	iov[1].iov_len = cut2 - cut1;
	iov[2].iov_base = (void *)(buf + cut2);
	iov[2].iov_len = len - cut2;
	memset(&m, 0, sizeof(m));
	m.msg_name = (void *)dst;
	m.msg_namelen = dlen;
	m.msg_iov = iov;
	m.msg_iovlen = 3;
	m.msg_control = &a;
	m.msg_controllen = 0;
	if (sendmsg(h->fd, &m, mflags) < 0)
		return -1;
	CHECK(a.id != 0 && (a.id & 1) == 0, "request id %llu",
	      (unsigned long long)a.id);
	return (int64_t)a.id;
}

/*
 * recvmsg for id (0: any), handing back the previous message's bpages.
 * Returns the length (or -1 with errno); *out is the args on return.
 */
static ssize_t recv_msg(struct hsock *h, uint64_t id, int flags,
			struct homa_recvmsg_args *out,
			struct sockaddr_storage *peer, socklen_t *plen)
{
	struct msghdr m;
	ssize_t n;

	h->ra.id = id;
	h->ra.completion_cookie = 0;
	memset(&m, 0, sizeof(m));
	m.msg_name = peer;
	m.msg_namelen = peer != NULL ? sizeof(*peer) : 0;
	m.msg_control = &h->ra;
	m.msg_controllen = sizeof(h->ra);
	n = recvmsg(h->fd, &m, flags);
	*out = h->ra;
	if (n < 0)
		h->ra.num_bpages = 0; /* the bpages went back on entry */
	CHECK(n < 0 || m.msg_controllen == 0, "msg_controllen not 0");
	if (plen != NULL)
		*plen = m.msg_namelen;
	return n;
}

/* Check a received message's bytes where recvmsg said they lie. */
static void check_bytes(struct hsock *h, const struct homa_recvmsg_args *a,
			size_t len, uint64_t tag)
{
	size_t off = 0;
	uint32_t want =
		(uint32_t)((len + HOMA_BPAGE_SIZE - 1) / HOMA_BPAGE_SIZE);

	CHECK(a->num_bpages == want, "%zu bytes in %u bpages, not %u", len,
	      a->num_bpages, want);
	for (uint32_t i = 0; i < a->num_bpages; i++) {
		size_t n = len - off < HOMA_BPAGE_SIZE ? len - off
						       : HOMA_BPAGE_SIZE;
		const uint8_t *p = h->region + a->bpage_offsets[i];

		CHECK(a->bpage_offsets[i] + n <= REGION_BYTES,
		      "offset %u outside the region", a->bpage_offsets[i]);
		if (i + 1 < a->num_bpages)
			CHECK(a->bpage_offsets[i] % HOMA_BPAGE_SIZE == 0,
			      "bpage %u not aligned", i);
		for (size_t k = 0; k < n; k++)
			CHECK(p[k] == pat(tag, len, off + k),
			      "byte %zu of %zu (tag %llu) is %u, not %u",
			      off + k, len, (unsigned long long)tag, p[k],
			      pat(tag, len, off + k));
		off += n;
	}
}

/* ---- servers ---------------------------------------------------------- */

/* Echo one request h just received (args a, n bytes, from peer). */
static void echo_back(struct hsock *h, const struct homa_recvmsg_args *a,
		      size_t n, struct sockaddr_storage *peer, socklen_t plen)
{
	struct homa_sendmsg_args s = {.id = a->id};
	struct iovec iov[HOMA_MAX_BPAGES];
	struct msghdr m;
	size_t off = 0;

	for (uint32_t i = 0; i < a->num_bpages; i++) {
		size_t k =
			n - off < HOMA_BPAGE_SIZE ? n - off : HOMA_BPAGE_SIZE;

		iov[i].iov_base = h->region + a->bpage_offsets[i];
		iov[i].iov_len = k;
		off += k;
	}
	memset(&m, 0, sizeof(m));
	m.msg_name = peer;
	m.msg_namelen = plen;
	m.msg_iov = iov;
	m.msg_iovlen = a->num_bpages;
	m.msg_control = &s;
	CHECK(sendmsg(h->fd, &m, 0) == 0, "response: %s", strerror(errno));
}

static int cmd_server(int argc, char **argv, bool sink)
{
	struct hsock h;
	unsigned port;

	CHECK(argc >= 3, "usage: server PORT");
	port = (unsigned)atoi(argv[2]);
	hs_open(&h, argv[3] && strcmp(argv[3], "6") == 0 ? AF_INET6 : AF_INET,
		port);
	printf("listening %u\n", port);
	fflush(stdout);
	for (;;) {
		struct homa_recvmsg_args a;
		struct sockaddr_storage peer;
		socklen_t plen;
		ssize_t n = recv_msg(&h, 0, 0, &a, &peer, &plen);

		if (n < 0) {
			CHECK(errno == EINTR || errno == ETIMEDOUT,
			      "recvmsg: %s", strerror(errno));
			continue;
		}
		CHECK(a.id & 1, "server got a response %llu",
		      (unsigned long long)a.id);
		if (!sink)
			echo_back(&h, &a, (size_t)n, &peer, plen);
		else
			h.ra.num_bpages = a.num_bpages; /* keep none */
	}
	return 0;
}

static int cmd_epserver(int argc, char **argv)
{
	struct epoll_event ev, out[8];
	struct hsock h;
	unsigned port;
	int ep, fl;

	CHECK(argc >= 3, "usage: epserver PORT");
	port = (unsigned)atoi(argv[2]);
	hs_open(&h, argv[3] && strcmp(argv[3], "6") == 0 ? AF_INET6 : AF_INET,
		port);
	fl = fcntl(h.fd, F_GETFL);
	CHECK(fcntl(h.fd, F_SETFL, fl | O_NONBLOCK) == 0, "O_NONBLOCK");
	CHECK(fcntl(h.fd, F_GETFL) & O_NONBLOCK, "F_GETFL lost O_NONBLOCK");
	ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0, "epoll_create1");
	ev.events = EPOLLIN;
	ev.data.u64 = 0xfeed;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, h.fd, &ev) == 0, "epoll_ctl");
	printf("listening %u\n", port);
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(ep, out, 8, -1);

		CHECK(n >= 0 || errno == EINTR, "epoll_wait: %s",
		      strerror(errno));
		for (int i = 0; i < n; i++) {
			CHECK(out[i].data.u64 == 0xfeed, "epoll data");
			/* Take everything ready; the last one says EAGAIN. */
			for (;;) {
				struct homa_recvmsg_args a;
				struct sockaddr_storage peer;
				socklen_t plen;
				ssize_t k =
					recv_msg(&h, 0, 0, &a, &peer, &plen);

				if (k < 0) {
					CHECK(errno == EAGAIN ||
						      errno == ETIMEDOUT,
					      "recvmsg: %s", strerror(errno));
					break;
				}
				echo_back(&h, &a, (size_t)k, &peer, plen);
			}
		}
	}
	return 0;
}

/* ---- echo ------------------------------------------------------------- */

/* One echo RPC of len bytes: request, response checked in the region. */
static void echo_one(struct hsock *h, const struct sockaddr_storage *dst,
		     socklen_t dlen, uint8_t *buf, size_t len, uint64_t tag,
		     bool priv)
{
	struct homa_recvmsg_args a;
	int64_t id;
	ssize_t n;

	fill(buf, tag, len);
	id = send_req(h, dst, dlen, buf, len, tag + 1000,
		      priv ? HOMA_SENDMSG_PRIVATE : 0, 0);
	CHECK(id > 0, "send %zu bytes: %s", len, strerror(errno));
	n = recv_msg(h, priv ? (uint64_t)id : 0, 0, &a, NULL, NULL);
	CHECK(n >= 0, "recv %zu bytes: %s", len, strerror(errno));
	CHECK((size_t)n == len, "response of %zd bytes, not %zu", n, len);
	CHECK(a.id == (uint64_t)id, "response id %llu, not %lld",
	      (unsigned long long)a.id, (long long)id);
	CHECK(a.completion_cookie == tag + 1000, "cookie %llu",
	      (unsigned long long)a.completion_cookie);
	check_bytes(h, &a, len, tag);
}

static int cmd_echo(int argc, char **argv)
{
	static const size_t sizes[] = {1,     2,      100,    1399,   1400,
				       1401,  10000,  65535,  65536,  65537,
				       99999, 300000, 500000, 999999, 1000000};
	struct sockaddr_storage dst;
	struct hsock h;
	socklen_t dlen;
	uint8_t *buf = malloc(HOMA_MAX_MESSAGE_LENGTH + 1);
	int family, e0, e1;
	unsigned rpcs = 0;

	CHECK(argc >= 4 && buf != NULL, "usage: echo HOST PORT");
	addr_of(argv[2], argv[3], &family, &dst, &dlen);
	hs_open(&h, family, 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (int priv = 0; priv < 2; priv++) {
			echo_one(&h, &dst, dlen, buf, sizes[i], i * 2 + priv,
				 priv);
			rpcs++;
		}
	/* The module refuses 0 and HOMA_MAX_MESSAGE_LENGTH + 1 bytes. */
	errno = 0;
	CHECK(send_req(&h, &dst, dlen, buf, 0, 0, 0, 0) < 0 && errno == EINVAL,
	      "0 bytes: not EINVAL (%s)", strerror(errno));
	e0 = errno;
	errno = 0;
	CHECK(send_req(&h, &dst, dlen, buf, HOMA_MAX_MESSAGE_LENGTH + 1, 0, 0,
		       0) < 0 &&
		      errno == EINVAL,
	      "1,000,001 bytes: not EINVAL (%s)", strerror(errno));
	e1 = errno;
	printf("%u echo RPCs of 1..1,000,000 bytes byte-exact (private and "
	       "shared); 0 and 1,000,001 bytes: %s, %s\n",
	       rpcs, strerrorname_np(e0), strerrorname_np(e1));
	free(buf);
	close(h.fd);
	return 0;
}

/* ---- errors ----------------------------------------------------------- */

static int cmd_errors(int argc, char **argv)
{
	struct sockaddr_storage dst;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct homa_rcvbuf_args rb, got;
	struct homa_recvmsg_args a;
	struct hsock h, h2;
	socklen_t dlen, len;
	int family, fd, on;
	uint8_t buf[64];
	unsigned checks = 0;
	void *small;

	CHECK(argc >= 4, "usage: errors HOST PORT");
	addr_of(argv[2], argv[3], &family, &dst, &dlen);
	(void)dst;
	fd = socket(AF_INET, SOCK_DGRAM, IPPROTO_HOMA);
	CHECK(fd >= 0, "socket");
	/* getsockname: a default port before bind. */
	len = sizeof(in);
	CHECK(getsockname(fd, (struct sockaddr *)&in, &len) == 0 &&
		      in.sin_family == AF_INET &&
		      ntohs(in.sin_port) >= HOMA_MIN_DEFAULT_PORT,
	      "getsockname before bind: port %u", ntohs(in.sin_port));
	checks++;
	/* recvmsg without a region: EINVAL. */
	memset(&h, 0, sizeof(h));
	h.fd = fd;
	CHECK(recv_msg(&h, 0, MSG_DONTWAIT, &a, NULL, NULL) < 0 &&
		      errno == EINVAL,
	      "recvmsg without a region: %s", strerror(errno));
	checks++;
	/* bind: port >= 0x8000 EINVAL, family EAFNOSUPPORT, short EINVAL. */
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_port = htons(0x8000);
	CHECK(bind(fd, (struct sockaddr *)&in, sizeof(in)) < 0 &&
		      errno == EINVAL,
	      "bind 0x8000: %s", strerror(errno));
	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	in6.sin6_port = htons(500);
	CHECK(bind(fd, (struct sockaddr *)&in6, sizeof(in6)) < 0 &&
		      errno == EAFNOSUPPORT,
	      "bind AF_INET6 on AF_INET: %s", strerror(errno));
	in.sin_port = htons(500);
	CHECK(bind(fd, (struct sockaddr *)&in, 4) < 0 && errno == EINVAL,
	      "bind short: %s", strerror(errno));
	checks += 3;
	/* A region too small, then a good one, then a second: EINVAL. */
	small = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	rb.start = (uintptr_t)small;
	rb.length = 1 << 20;
	CHECK(setsockopt(fd, IPPROTO_HOMA, SO_HOMA_RCVBUF, &rb, sizeof(rb)) <
			      0 &&
		      errno == EINVAL,
	      "1 MiB region: %s", strerror(errno));
	rb.start = (uintptr_t)small + 1;
	rb.length = REGION_BYTES;
	CHECK(setsockopt(fd, IPPROTO_HOMA, SO_HOMA_RCVBUF, &rb, sizeof(rb)) <
			      0 &&
		      errno == EINVAL,
	      "unaligned region: %s", strerror(errno));
	checks += 2;
	/* bind 500, then a region (the socket is re-opened: port kept). */
	CHECK(bind(fd, (struct sockaddr *)&in, sizeof(in)) == 0, "bind 500: %s",
	      strerror(errno));
	h.region = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	rb.start = (uintptr_t)h.region;
	rb.length = REGION_BYTES;
	CHECK(setsockopt(fd, IPPROTO_HOMA, SO_HOMA_RCVBUF, &rb, sizeof(rb)) ==
		      0,
	      "region: %s", strerror(errno));
	CHECK(setsockopt(fd, IPPROTO_HOMA, SO_HOMA_RCVBUF, &rb, sizeof(rb)) <
			      0 &&
		      errno == EINVAL,
	      "second region: %s", strerror(errno));
	len = sizeof(got);
	CHECK(getsockopt(fd, IPPROTO_HOMA, SO_HOMA_RCVBUF, &got, &len) == 0 &&
		      got.start == rb.start && got.length == rb.length,
	      "getsockopt SO_HOMA_RCVBUF");
	len = sizeof(in);
	CHECK(getsockname(fd, (struct sockaddr *)&in, &len) == 0 &&
		      ntohs(in.sin_port) == 500,
	      "port after the region: %u", ntohs(in.sin_port));
	len = sizeof(on);
	CHECK(getsockopt(fd, IPPROTO_HOMA, SO_HOMA_SERVER, &on, &len) == 0 &&
		      on == 1,
	      "SO_HOMA_SERVER after bind: %d", on);
	checks += 5;
	/* A second socket on the same port: EADDRINUSE. */
	h2.fd = socket(AF_INET, SOCK_DGRAM, IPPROTO_HOMA);
	CHECK(bind(h2.fd, (struct sockaddr *)&in, sizeof(in)) < 0 &&
		      errno == EADDRINUSE,
	      "second bind of 500: %s", strerror(errno));
	close(h2.fd);
	checks++;
	/* sendmsg: bad flags, nonzero reserved, controllen, cookie. */
	{
		struct homa_sendmsg_args sa = {.flags = 2};
		struct iovec iov = {buf, sizeof(buf)};
		struct msghdr m;
		struct homa_info info;

		memset(&m, 0, sizeof(m));
		m.msg_name = &dst;
		m.msg_namelen = dlen;
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		m.msg_control = &sa;
		CHECK(sendmsg(fd, &m, 0) < 0 && errno == EINVAL,
		      "bad flags: %s", strerror(errno));
		sa.flags = 0;
		sa.reserved = 1;
		CHECK(sendmsg(fd, &m, 0) < 0 && errno == EINVAL, "reserved: %s",
		      strerror(errno));
		sa.reserved = 0;
		m.msg_controllen = sizeof(sa);
		CHECK(sendmsg(fd, &m, 0) < 0 && errno == EINVAL,
		      "msg_controllen: %s", strerror(errno));
		m.msg_controllen = 0;
		sa.id = 3;
		sa.completion_cookie = 9;
		CHECK(sendmsg(fd, &m, 0) < 0 && errno == EINVAL,
		      "response cookie: %s", strerror(errno));
		/* HOMAIOCINFO's error_msg names the last error. */
		memset(&info, 0, sizeof(info));
		CHECK(ioctl(fd, HOMAIOCINFO, &info) == 0, "HOMAIOCINFO: %s",
		      strerror(errno));
		CHECK(info.error_msg[0] != 0 && info.port == 500,
		      "error_msg '%s', port %u", info.error_msg, info.port);
		/* A response for an RPC that does not exist: 0. */
		sa.completion_cookie = 0;
		sa.id = 12345;
		CHECK(sendmsg(fd, &m, 0) == 0, "response to no RPC: %s",
		      strerror(errno));
		/* Family differs from the socket's. */
		sa.id = 0;
		memset(&in6, 0, sizeof(in6));
		in6.sin6_family = AF_INET6;
		in6.sin6_port = htons(500);
		m.msg_name = &in6;
		m.msg_namelen = sizeof(in6);
		CHECK(sendmsg(fd, &m, 0) < 0 && errno == EAFNOSUPPORT,
		      "AF_INET6 destination: %s", strerror(errno));
		checks += 7;
	}
	/* Nothing there: EAGAIN; a private wait for no RPC: EINVAL. */
	h.fd = fd;
	memset(&h.ra, 0, sizeof(h.ra));
	CHECK(recv_msg(&h, 0, MSG_DONTWAIT, &a, NULL, NULL) < 0 &&
		      errno == EAGAIN,
	      "recvmsg empty: %s", strerror(errno));
	CHECK(recv_msg(&h, 4242, 0, &a, NULL, NULL) < 0 && errno == EINVAL,
	      "recvmsg private no RPC: %s", strerror(errno));
	checks += 2;
	/* Socket options of SOL_SOCKET look like a Homa socket's. */
	len = sizeof(on);
	CHECK(getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &on, &len) == 0 &&
		      on == IPPROTO_HOMA,
	      "SO_PROTOCOL %d", on);
	checks++;
	/* read/write are not Homa calls. */
	CHECK(read(fd, buf, 1) < 0 && errno == EINVAL, "read: %s",
	      strerror(errno));
	checks++;
	close(fd);
	printf("%u error cases as the module\n", checks);
	return 0;
}

/* ---- many sockets against the epoll server ---------------------------- */

static int cmd_many(int argc, char **argv)
{
	struct sockaddr_storage dst;
	struct hsock *hs;
	socklen_t dlen;
	int family, n, r;
	uint8_t buf[2000];

	CHECK(argc >= 6, "usage: many HOST PORT N R");
	addr_of(argv[2], argv[3], &family, &dst, &dlen);
	n = atoi(argv[4]);
	r = atoi(argv[5]);
	hs = calloc((size_t)n, sizeof(*hs));
	for (int i = 0; i < n; i++)
		hs_open(&hs[i], family, 0);
	for (int k = 0; k < r; k++) {
		for (int i = 0; i < n; i++) {
			size_t len = 1 + (size_t)((i * 131 + k * 17) % 1999);

			fill(buf, (uint64_t)(i * r + k), len);
			CHECK(send_req(&hs[i], &dst, dlen, buf, len,
				       (uint64_t)(i * r + k), 0, 0) > 0,
			      "send: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			struct homa_recvmsg_args a;
			size_t len = 1 + (size_t)((i * 131 + k * 17) % 1999);
			ssize_t got = recv_msg(&hs[i], 0, 0, &a, NULL, NULL);

			CHECK(got == (ssize_t)len, "socket %d: %zd bytes: %s",
			      i, got, strerror(errno));
			check_bytes(&hs[i], &a, len, (uint64_t)(i * r + k));
		}
	}
	printf("%d sockets x %d RPCs through the epoll server\n", n, r);
	for (int i = 0; i < n; i++)
		close(hs[i].fd);
	free(hs);
	return 0;
}

/* ---- threads ---------------------------------------------------------- */

struct thr {
	struct hsock *h;
	int want;
	int got;
	int err;
	size_t len;
};

static void *recv_thread(void *arg)
{
	struct thr *t = arg;

	while (t->got < t->want) {
		struct homa_recvmsg_args a;
		ssize_t n = recv_msg(t->h, 0, 0, &a, NULL, NULL);

		if (n < 0) {
			t->err = errno;
			return NULL;
		}
		if ((size_t)n != t->len) {
			t->err = EBADMSG;
			return NULL;
		}
		check_bytes(t->h, &a, t->len, a.completion_cookie);
		t->got++;
	}
	return NULL;
}

static int cmd_threaded(int argc, char **argv)
{
	struct sockaddr_storage dst;
	struct hsock h;
	struct thr t;
	pthread_t th;
	socklen_t dlen;
	uint8_t buf[3000];
	int family, r;

	CHECK(argc >= 5, "usage: threaded HOST PORT R");
	addr_of(argv[2], argv[3], &family, &dst, &dlen);
	r = atoi(argv[4]);
	hs_open(&h, family, 0);
	memset(&t, 0, sizeof(t));
	t.h = &h;
	t.want = r;
	t.len = sizeof(buf);
	CHECK(pthread_create(&th, NULL, recv_thread, &t) == 0, "thread");
	usleep(50000); /* let it block in recvmsg first */
	for (int i = 0; i < r; i++) {
		fill(buf, (uint64_t)i, sizeof(buf));
		CHECK(send_req(&h, &dst, dlen, buf, sizeof(buf), (uint64_t)i, 0,
			       0) > 0,
		      "send: %s", strerror(errno));
	}
	pthread_join(th, NULL);
	CHECK(t.err == 0 && t.got == r, "receiver: %d of %d, %s", t.got, r,
	      strerror(t.err));
	printf("%d RPCs: sent by one thread, received by another\n", r);
	return 0;
}

/* ---- abort, info ------------------------------------------------------ */

static int cmd_abort(int argc, char **argv)
{
	struct sockaddr_storage dst;
	struct homa_abort_args ab;
	struct homa_recvmsg_args a;
	struct hsock h;
	socklen_t dlen;
	uint8_t buf[100];
	int family;
	int64_t id1, id2, id3, id4;

	CHECK(argc >= 4, "usage: abort HOST SINKPORT");
	addr_of(argv[2], argv[3], &family, &dst, &dlen);
	hs_open(&h, family, 0);
	fill(buf, 1, sizeof(buf));
	id1 = send_req(&h, &dst, dlen, buf, sizeof(buf), 11, 0, 0);
	id2 = send_req(&h, &dst, dlen, buf, sizeof(buf), 12,
		       HOMA_SENDMSG_PRIVATE, 0);
	id3 = send_req(&h, &dst, dlen, buf, sizeof(buf), 13, 0, 0);
	id4 = send_req(&h, &dst, dlen, buf, sizeof(buf), 14, 0, 0);
	CHECK(id1 > 0 && id2 > 0 && id3 > 0 && id4 > 0, "send: %s",
	      strerror(errno));
	/* With an errno: recvmsg returns it with args.id set. */
	memset(&ab, 0, sizeof(ab));
	ab.id = (uint64_t)id1;
	ab.error = ECANCELED;
	CHECK(ioctl(h.fd, HOMAIOCABORT, &ab) == 0, "abort: %s",
	      strerror(errno));
	CHECK(recv_msg(&h, 0, 0, &a, NULL, NULL) < 0 && errno == ECANCELED &&
		      a.id == (uint64_t)id1 && a.completion_cookie == 11,
	      "aborted RPC: errno %s, id %llu", strerror(errno),
	      (unsigned long long)a.id);
	/* Private, with an errno: only recvmsg(id) returns it. */
	ab.id = (uint64_t)id2;
	ab.error = EHOSTUNREACH;
	CHECK(ioctl(h.fd, HOMAIOCABORT, &ab) == 0, "abort private: %s",
	      strerror(errno));
	CHECK(recv_msg(&h, (uint64_t)id2, 0, &a, NULL, NULL) < 0 &&
		      errno == EHOSTUNREACH && a.id == (uint64_t)id2,
	      "aborted private RPC: %s", strerror(errno));
	/* Without an errno: forgotten, nothing comes. */
	ab.id = (uint64_t)id3;
	ab.error = 0;
	CHECK(ioctl(h.fd, HOMAIOCABORT, &ab) == 0, "silent abort: %s",
	      strerror(errno));
	/* Unknown id (the one just forgotten) and nonzero pads: EINVAL. */
	CHECK(ioctl(h.fd, HOMAIOCABORT, &ab) < 0 && errno == EINVAL,
	      "abort of a forgotten RPC: %s", strerror(errno));
	ab.id = (uint64_t)id4;
	ab._pad1 = 1;
	CHECK(ioctl(h.fd, HOMAIOCABORT, &ab) < 0 && errno == EINVAL,
	      "abort with a pad: %s", strerror(errno));
	/* id 0: every client RPC (id4) silently. */
	memset(&ab, 0, sizeof(ab));
	CHECK(ioctl(h.fd, HOMAIOCABORT, &ab) == 0, "abort all: %s",
	      strerror(errno));
	usleep(100000);
	CHECK(recv_msg(&h, 0, MSG_DONTWAIT, &a, NULL, NULL) < 0 &&
		      errno == EAGAIN,
	      "after silent aborts: %s (id %llu)", strerror(errno),
	      (unsigned long long)a.id);
	printf("aborts: ECANCELED and EHOSTUNREACH returned with their ids, "
	       "silent ones forgotten, bad ids/pads EINVAL\n");
	return 0;
}

static int cmd_info(int argc, char **argv)
{
	struct sockaddr_storage dst;
	struct homa_rpc_info ri[16];
	struct homa_info info;
	struct sockaddr_in me;
	struct hsock h;
	socklen_t dlen, len = sizeof(me);
	uint8_t *buf = malloc(200000);
	int64_t ids[5];
	int family, found = 0;

	CHECK(argc >= 4 && buf != NULL, "usage: info HOST SINKPORT");
	addr_of(argv[2], argv[3], &family, &dst, &dlen);
	hs_open(&h, family, 0);
	fill(buf, 5, 200000);
	for (int i = 0; i < 5; i++) {
		ids[i] = send_req(&h, &dst, dlen, buf, i == 4 ? 200000 : 500,
				  (uint64_t)(70 + i), 0, 0);
		CHECK(ids[i] > 0, "send: %s", strerror(errno));
	}
	usleep(100000);
	memset(&info, 0, sizeof(info));
	info.rpc_info = (uintptr_t)ri;
	info.rpc_info_length = sizeof(ri);
	CHECK(ioctl(h.fd, HOMAIOCINFO, &info) == 0, "HOMAIOCINFO: %s",
	      strerror(errno));
	CHECK(getsockname(h.fd, (struct sockaddr *)&me, &len) == 0, "name");
	CHECK(info.port == ntohs(me.sin_port), "port %u, getsockname %u",
	      info.port, ntohs(me.sin_port));
	CHECK(info.num_rpcs == 5, "num_rpcs %u, not 5", info.num_rpcs);
	CHECK(info.bpool_avail_bytes > 0 &&
		      info.bpool_avail_bytes <= REGION_BYTES,
	      "bpool_avail_bytes %llu",
	      (unsigned long long)info.bpool_avail_bytes);
	for (unsigned i = 0; i < info.num_rpcs && i < 16; i++)
		for (int k = 0; k < 5; k++)
			if (ri[i].id == (uint64_t)ids[k]) {
				CHECK(ri[i].completion_cookie ==
					      (uint64_t)(70 + k),
				      "rpc %d cookie", k);
				CHECK(ri[i].tx_length ==
					      (k == 4 ? 200000 : 500),
				      "rpc %d tx_length %d", k,
				      ri[i].tx_length);
				CHECK(ri[i].peer.storage.ss_family == family,
				      "rpc %d peer family", k);
				found++;
			}
	CHECK(found == 5, "%d of 5 RPCs described", found);
	/* An array of one entry: one filled, num_rpcs still 5. */
	memset(ri, 0xa5, sizeof(ri));
	info.rpc_info_length = sizeof(ri[0]);
	CHECK(ioctl(h.fd, HOMAIOCINFO, &info) == 0 && info.num_rpcs == 5,
	      "HOMAIOCINFO, one entry");
	CHECK(ri[1].id == 0xa5a5a5a5a5a5a5a5ull, "wrote past rpc_info_length");
	printf("HOMAIOCINFO: port %u, %u RPCs (ids, cookies, lengths match), "
	       "%llu pool bytes free\n",
	       info.port, info.num_rpcs,
	       (unsigned long long)info.bpool_avail_bytes);
	free(buf);
	close(h.fd);
	return 0;
}

/* ---- shutdown --------------------------------------------------------- */

struct waiter {
	struct hsock *h;
	uint64_t id;
	int err;
	int64_t ms;
};

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	struct homa_recvmsg_args ra;
	struct msghdr m;

	/* Its own args: the other waiter uses the socket's. */
	memset(&ra, 0, sizeof(ra));
	ra.id = w->id;
	memset(&m, 0, sizeof(m));
	m.msg_control = &ra;
	m.msg_controllen = sizeof(ra);
	if (recvmsg(w->h->fd, &m, 0) < 0)
		w->err = errno;
	w->ms = mono_ms();
	return NULL;
}

static int cmd_shutdown(int argc, char **argv)
{
	struct sockaddr_storage dst;
	struct waiter w1, w2;
	pthread_t t1, t2;
	struct hsock h;
	socklen_t dlen;
	uint8_t buf[10] = {0};
	int64_t id, t0;
	int family;

	CHECK(argc >= 4, "usage: shutdown HOST SINKPORT");
	addr_of(argv[2], argv[3], &family, &dst, &dlen);
	hs_open(&h, family, 0);
	/* A private RPC the sink never answers. */
	id = send_req(&h, &dst, dlen, buf, sizeof(buf), 1, HOMA_SENDMSG_PRIVATE,
		      0);
	CHECK(id > 0, "send: %s", strerror(errno));
	w1 = (struct waiter){.h = &h, .id = 0};
	w2 = (struct waiter){.h = &h, .id = (uint64_t)id};
	pthread_create(&t1, NULL, wait_thread, &w1);
	pthread_create(&t2, NULL, wait_thread, &w2);
	usleep(200000);
	t0 = mono_ms();
	CHECK(shutdown(h.fd, SHUT_RDWR) == 0, "shutdown: %s", strerror(errno));
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	CHECK(w1.err == ESHUTDOWN, "waiter for any: %s", strerror(w1.err));
	CHECK(w2.err == EINVAL, "waiter for a private id: %s",
	      strerror(w2.err));
	errno = 0;
	CHECK(send_req(&h, &dst, dlen, buf, sizeof(buf), 1, 0, 0) < 0 &&
		      errno == ESHUTDOWN,
	      "request after shutdown: %s", strerror(errno));
	printf("shutdown woke recvmsg(any) with ESHUTDOWN after %lld ms and "
	       "recvmsg(private) with EINVAL after %lld ms; sendmsg then "
	       "ESHUTDOWN\n",
	       (long long)(w1.ms - t0), (long long)(w2.ms - t0));
	close(h.fd);
	return 0;
}

/* ---- fork and exec ---------------------------------------------------- */

static int cmd_fork(int argc, char **argv)
{
	struct sockaddr_storage dst;
	struct hsock h;
	socklen_t dlen;
	uint8_t buf[5000];
	int family, st;
	pid_t pid;

	CHECK(argc >= 4, "usage: fork HOST PORT");
	addr_of(argv[2], argv[3], &family, &dst, &dlen);
	hs_open(&h, family, 0);
	echo_one(&h, &dst, dlen, buf, sizeof(buf), 1, false);
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		for (int i = 0; i < 20; i++)
			echo_one(&h, &dst, dlen, buf, sizeof(buf) - (size_t)i,
				 (uint64_t)(100 + i), i % 2);
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
		      WEXITSTATUS(st) == 0,
	      "child failed (status 0x%x)", st);
	printf("fork: the child made 20 echo RPCs on the parent's socket\n");
	return 0;
}

static int cmd_forkexec(int argc, char **argv)
{
	struct sockaddr_storage dst;
	struct hsock h;
	socklen_t dlen;
	uint8_t buf[70000];
	char fdarg[16], idarg[32];
	int family, st;
	int64_t id;
	pid_t pid;

	CHECK(argc >= 4, "usage: forkexec HOST PORT");
	addr_of(argv[2], argv[3], &family, &dst, &dlen);
	hs_open(&h, family, 0);
	echo_one(&h, &dst, dlen, buf, 100, 1, false);
	/* A request whose response the child collects. */
	fill(buf, 77, sizeof(buf));
	id = send_req(&h, &dst, dlen, buf, sizeof(buf), 77,
		      HOMA_SENDMSG_PRIVATE, 0);
	CHECK(id > 0, "send: %s", strerror(errno));
	snprintf(fdarg, sizeof(fdarg), "%d", h.fd);
	snprintf(idarg, sizeof(idarg), "%lld", (long long)id);
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		execl("/proc/self/exe", argv[0], "child", fdarg, argv[2],
		      argv[3], idarg, (char *)NULL);
		_exit(126);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
		      WEXITSTATUS(st) == 0,
	      "exec'd child failed (status 0x%x)", st);
	printf("fork+exec: the new program collected the parent's private "
	       "response and made 20 echo RPCs on the inherited socket\n");
	return 0;
}

static int cmd_child(int argc, char **argv)
{
	struct sockaddr_storage dst;
	struct homa_rcvbuf_args rb;
	struct homa_recvmsg_args a;
	struct hsock h;
	socklen_t dlen, len = sizeof(rb);
	uint8_t buf[5000];
	int family;
	ssize_t n;

	CHECK(argc >= 6, "usage: child FD HOST PORT ID");
	addr_of(argv[3], argv[4], &family, &dst, &dlen);
	memset(&h, 0, sizeof(h));
	h.fd = atoi(argv[2]);
	h.family = family;
	/* The region: where getsockopt says it is in this program. */
	CHECK(getsockopt(h.fd, IPPROTO_HOMA, SO_HOMA_RCVBUF, &rb, &len) == 0 &&
		      rb.start != 0 && rb.length == REGION_BYTES,
	      "no region after exec: %s", strerror(errno));
	h.region = (uint8_t *)(uintptr_t)rb.start;
	n = recv_msg(&h, (uint64_t)atoll(argv[5]), 0, &a, NULL, NULL);
	CHECK(n == 70000, "the parent's response: %zd, %s", n, strerror(errno));
	check_bytes(&h, &a, 70000, 77);
	for (int i = 0; i < 20; i++)
		echo_one(&h, &dst, dlen, buf, sizeof(buf) - (size_t)i,
			 (uint64_t)(200 + i), i % 2);
	return 0;
}

/* ---- other sockets beside Homa ---------------------------------------- */

static int cmd_mixed(int argc, char **argv)
{
	struct sockaddr_storage dst;
	struct sockaddr_in a;
	struct pollfd p[3];
	struct hsock h;
	socklen_t dlen, alen = sizeof(a);
	uint8_t buf[3000], got[3000];
	int family, u1, u2, ls, tc, ts, ep;
	struct epoll_event ev, out[4];

	CHECK(argc >= 4, "usage: mixed HOST PORT");
	addr_of(argv[2], argv[3], &family, &dst, &dlen);
	hs_open(&h, family, 0);
	/* UDP on loopback: sendmsg/recvmsg/poll as ever. */
	u1 = socket(AF_INET, SOCK_DGRAM, 0);
	u2 = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(u2, (struct sockaddr *)&a, sizeof(a)) == 0, "udp bind");
	CHECK(getsockname(u2, (struct sockaddr *)&a, &alen) == 0 &&
		      a.sin_port != 0,
	      "udp getsockname");
	{
		struct iovec iov = {buf, 1200};
		struct msghdr m;
		ssize_t n;

		fill(buf, 3, 1200);
		memset(&m, 0, sizeof(m));
		m.msg_name = &a;
		m.msg_namelen = sizeof(a);
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		CHECK(sendmsg(u1, &m, 0) == 1200, "udp sendmsg: %s",
		      strerror(errno));
		p[0] = (struct pollfd){.fd = u2, .events = POLLIN};
		p[1] = (struct pollfd){.fd = h.fd, .events = POLLIN};
		CHECK(poll(p, 2, 5000) == 1 && p[0].revents == POLLIN &&
			      p[1].revents == 0,
		      "poll udp + homa: %x %x", p[0].revents, p[1].revents);
		iov.iov_base = got;
		iov.iov_len = sizeof(got);
		m.msg_name = NULL;
		m.msg_namelen = 0;
		n = recvmsg(u2, &m, 0);
		CHECK(n == 1200 && memcmp(got, buf, 1200) == 0,
		      "udp recvmsg: %zd", n);
	}
	/* TCP on loopback: read/write/close as ever. */
	ls = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_port = 0;
	alen = sizeof(a);
	CHECK(bind(ls, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		      listen(ls, 1) == 0 &&
		      getsockname(ls, (struct sockaddr *)&a, &alen) == 0,
	      "tcp listen");
	tc = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	CHECK(connect(tc, (struct sockaddr *)&a, sizeof(a)) == 0,
	      "tcp connect");
	ts = accept(ls, NULL, NULL);
	CHECK(ts >= 0, "accept");
	fill(buf, 4, sizeof(buf));
	CHECK(write(tc, buf, sizeof(buf)) == (ssize_t)sizeof(buf), "tcp write");
	{
		size_t have = 0;

		while (have < sizeof(buf)) {
			ssize_t n = read(ts, got + have, sizeof(got) - have);

			CHECK(n > 0, "tcp read");
			have += (size_t)n;
		}
		CHECK(memcmp(got, buf, sizeof(buf)) == 0, "tcp bytes");
	}
	/* Homa in the middle, and epoll over all three kinds. */
	echo_one(&h, &dst, dlen, buf, 2000, 9, false);
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.fd = ts;
	epoll_ctl(ep, EPOLL_CTL_ADD, ts, &ev);
	ev.data.fd = u2;
	epoll_ctl(ep, EPOLL_CTL_ADD, u2, &ev);
	ev.data.fd = h.fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, h.fd, &ev);
	CHECK(epoll_wait(ep, out, 4, 0) == 0, "epoll: something ready");
	CHECK(send(tc, "x", 1, 0) == 1, "tcp send");
	fill(buf, 10, 100);
	CHECK(send_req(&h, &dst, dlen, buf, 100, 10, 0, 0) > 0, "homa send");
	{
		int seen = 0;
		int64_t end = mono_ms() + 5000;

		while (seen != 3 && mono_ms() < end) {
			int n = epoll_wait(ep, out, 4, 1000);

			for (int i = 0; i < n; i++)
				seen |= out[i].data.fd == ts	 ? 1
					: out[i].data.fd == h.fd ? 2
								 : 0;
		}
		CHECK(seen == 3, "epoll saw %d of tcp|homa", seen);
	}
	{
		struct homa_recvmsg_args ra;

		CHECK(recv_msg(&h, 0, 0, &ra, NULL, NULL) == 100, "homa recv");
		check_bytes(&h, &ra, 100, 10);
	}
	close(ep);
	close(tc);
	close(ts);
	close(ls);
	close(u1);
	close(u2);
	close(h.fd);
	printf("UDP (sendmsg/recvmsg/poll), TCP (read/write) and epoll over "
	       "TCP, UDP and Homa sockets in one program\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		die("usage: see the comment at the top");
	cmd = argv[1];
	if (strcmp(cmd, "server") == 0)
		return cmd_server(argc, argv, false);
	if (strcmp(cmd, "sink") == 0)
		return cmd_server(argc, argv, true);
	if (strcmp(cmd, "epserver") == 0)
		return cmd_epserver(argc, argv);
	if (strcmp(cmd, "echo") == 0)
		return cmd_echo(argc, argv);
	if (strcmp(cmd, "errors") == 0)
		return cmd_errors(argc, argv);
	if (strcmp(cmd, "many") == 0)
		return cmd_many(argc, argv);
	if (strcmp(cmd, "threaded") == 0)
		return cmd_threaded(argc, argv);
	if (strcmp(cmd, "abort") == 0)
		return cmd_abort(argc, argv);
	if (strcmp(cmd, "info") == 0)
		return cmd_info(argc, argv);
	if (strcmp(cmd, "shutdown") == 0)
		return cmd_shutdown(argc, argv);
	if (strcmp(cmd, "fork") == 0)
		return cmd_fork(argc, argv);
	if (strcmp(cmd, "forkexec") == 0)
		return cmd_forkexec(argc, argv);
	if (strcmp(cmd, "child") == 0)
		return cmd_child(argc, argv);
	if (strcmp(cmd, "mixed") == 0)
		return cmd_mixed(argc, argv);
	die("unknown command");
	return 2;
}
