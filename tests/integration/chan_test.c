/*
 * chan_test.c - a client of homad's client channel that speaks the
 * protocol itself (proto/homa_client.proto: protobuf-c datagrams, memfds
 * sealed and passed with SCM_RIGHTS), for chan.sh.  It deliberately does
 * not use libhomaclient.
 *
 *   chan_test server -s SOCK -f 4|6 -p PORT [--sink] [--ready FILE]
 *       Bind PORT and answer every request with the same bytes (an echo),
 *       from the tx area (or inline when small), recycling the request's
 *       bpages.  --sink: keep the requests, never answer.  Runs until
 *       homad closes the connection or a signal ends it.
 *   chan_test client -s SOCK -f 4|6 -d ADDR -p PORT --sizes N,N,...
 *                    [-c CONCURRENCY] [-r ROUNDS] [--private]
 *       For each size, ROUNDS times: CONCURRENCY requests at once, each
 *       with its own byte pattern and cookie; every response must come
 *       back byte-exact with its cookie.  Small messages go inline.
 *   chan_test hold -s SOCK -f 4|6 -d ADDR -p PORT -n COUNT --size N
 *                  [--ready FILE]
 *       Send COUNT requests (to a --sink server), write FILE, then wait
 *       forever (chan.sh kills it with SIGKILL).
 *   chan_test unbound -s SOCK -f 4|6 -d ADDR -p PORT [--within MS]
 *       One request to a port nobody bound: it must fail with ENOTCONN
 *       within MS milliseconds.
 *   chan_test hostile -s SOCK -f 4|6 --case NAME [-d ADDR -p PORT]
 *       Misbehave as NAME says; homad must refuse the Open (OpenReply
 *       with an error, then EOF) or disconnect at once (EOF).  Cases:
 *       no-seals, grow-seal-only, wrong-size, not-memfd, no-fds, rx-odd,
 *       bad-version, not-open, open-recycle, tx-range, tx-overflow,
 *       id-outside, id-odd, id-twice, bad-recycle, piggy-recycle,
 *       recycle-twice, resp-range,
 *       recycle-beyond, recycle-unaligned, oversize, garbage,
 *       fds-after-open, wrong-family, inline-too-big, no-seq,
 *       second-open, no-command.
 *   chan_test direct -s SOCK -f 4 --case NAME -d ADDR -p PORT
 *       A direct-send client (homad must grant it: clients.
 *       direct_send_groups).  Every case first checks what it was handed
 *       cannot read anything of anyone: the socket (raw IPPROTO_RAW on
 *       the ip link, UDP with a locked drop-all filter on the udp link)
 *       receives nothing (none of the packets of the echo RPCs it
 *       makes meanwhile through homad to ADDR:PORT, nor the answers to the
 *       packets it forges for another connection's ids); the peer table
 *       cannot be mapped writable, written, resized or sealed; its ring is
 *       sealed against resizing.  Then NAME: probe (nothing more; homad
 *       keeps it), forge-id (a ring record with the previous connection's
 *       id), forge-extent (tx bytes outside its area), torn (a head over
 *       a record of another lap): homad must disconnect it.
 *   chan_test srxprobe -s SOCK -f 4 -p PORT
 *       Without any capability, a direct-receive client bound to PORT
 *       with a request socket (Bind.direct_requests): its filter is
 *       locked, it reads the whole requests to PORT that the client
 *       forges through its own send socket and nothing else, and a
 *       descriptor kept after the connection ends reads nothing of the
 *       next server's requests to PORT and cannot be bound back.
 *   chan_test info -s SOCK -f 4|6
 *       Open, Info, MoreIds, Bind, SetServer, Shutdown; check the replies.
 *   chan_test limit -s SOCK -f 4|6 -n N
 *       Open N connections from this process: the last one must be
 *       refused with EMFILE (limits.max_sockets_per_client = N - 1), the
 *       others work.
 *   chan_test bind -s SOCK -f 4|6 -p PORT [--uid U] [--gid G]
 *                  [--expect ERRNO]
 *       As uid U / gid G (no supplementary groups), bind PORT: the Reply
 *       must carry ERRNO (a number; default 0).
 *
 * Exit 0 on success, 1 on failure, 2 on usage errors.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "homa_client.pb-c.h"
#include "homa_shm.h"

#define TC_MAX_PENDING 4096
#define TC_TIMEOUT_MS  10000
#define TC_MAX_MSG     1000000u
#define TC_SLOT	       (1u << 20) /* a tx slot holds any message */

static const char *tc_prog = "chan_test";

static void tc_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));

static void tc_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", tc_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t tc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- a connection ----------------------------------------------------- */

struct tc {
	int fd;
	int family;
	uint8_t *rx;
	size_t rx_len;
	uint8_t *tx;
	size_t tx_len;
	uint64_t id_next, id_end; /* the current id block */
	uint32_t max_inline;
	uint32_t port;
	uint64_t seq;
	/* Events read while waiting for a Reply. */
	Homa__Client__DaemonMsg *pending[TC_MAX_PENDING];
	unsigned n_pending;
	/* Descriptors that came with homad's datagrams (direct send). */
	/* direct send: socket, ring, table, IPv6 socket, receive socket */
	int dfds[5];
	unsigned n_dfds;
	bool direct; /* OpenReply.direct_send */
	bool drx;    /* OpenReply.direct_receive */
};

/* A memfd of size bytes with seals (0: none, allow sealing anyway). */
static int tc_memfd(const char *name, size_t size, unsigned seals)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		tc_fail("memfd_create: %s", strerror(errno));
	if (ftruncate(fd, (off_t)size) < 0)
		tc_fail("ftruncate: %s", strerror(errno));
	if (seals && fcntl(fd, F_ADD_SEALS, seals) < 0)
		tc_fail("F_ADD_SEALS: %s", strerror(errno));
	return fd;
}

static int tc_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		tc_fail("socket: %s", strerror(errno));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		tc_fail("connect %s: %s", path, strerror(errno));
	return fd;
}

/* Send raw bytes with optional descriptors. */
static int tc_send_raw(int fd, const void *buf, size_t len, const int *fds,
		       unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	return sendmsg(fd, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static int tc_send_fds(struct tc *t, const Homa__Client__ClientMsg *m,
		       const int *fds, unsigned nfds)
{
	size_t len = homa__client__client_msg__get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	int r;

	if (!buf)
		tc_fail("out of memory");
	homa__client__client_msg__pack(m, buf);
	r = tc_send_raw(t->fd, buf, len, fds, nfds);
	free(buf);
	return r;
}

static int tc_send(struct tc *t, const Homa__Client__ClientMsg *m)
{
	return tc_send_fds(t, m, NULL, 0);
}

/*
 * The next datagram from homad: 1 with *out, 0 on EOF (or connection
 * reset), -ETIMEDOUT.
 */
static int tc_read(struct tc *t, Homa__Client__DaemonMsg **out, int timeout_ms)
{
	static uint8_t buf[HOMA_CLIENT_MAX_DATAGRAM + 1];
	struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;
	ssize_t n;
	int r;

	r = poll(&pfd, 1, timeout_ms);
	if (r < 0)
		tc_fail("poll: %s", strerror(errno));
	if (r == 0)
		return -ETIMEDOUT;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	n = recvmsg(t->fd, &mh, MSG_CMSG_CLOEXEC);
	for (cm = n > 0 && mh.msg_controllen ? CMSG_FIRSTHDR(&mh) : NULL; cm;
	     cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; cm->cmsg_type == SCM_RIGHTS && i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
			       sizeof(fd));
			if (t->n_dfds < 5)
				t->dfds[t->n_dfds++] = fd;
			else
				close(fd);
		}
	}
	/*
	 * homad closed with our datagrams unread (e.g. a refused Open): the
	 * kernel reports ECONNRESET first, then what homad sent before.
	 */
	if (n < 0 && errno == ECONNRESET)
		n = recv(t->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EAGAIN)))
		return 0;
	if (n < 0)
		tc_fail("recv: %s", strerror(errno));
	if (n > HOMA_CLIENT_MAX_DATAGRAM)
		tc_fail("homad sent a %zd-byte datagram", n);
	*out = homa__client__daemon_msg__unpack(NULL, (size_t)n, buf);
	if (!*out)
		tc_fail("homad sent a datagram that does not decode");
	return 1;
}

/* The next event: a queued one, or from the socket. */
static int tc_event(struct tc *t, Homa__Client__DaemonMsg **out, int timeout_ms)
{
	if (t->n_pending > 0) {
		*out = t->pending[0];
		memmove(t->pending, t->pending + 1,
			(t->n_pending - 1) * sizeof(t->pending[0]));
		t->n_pending--;
		return 1;
	}
	return tc_read(t, out, timeout_ms);
}

/* Send m with a fresh seq and wait for its Reply (other events queued). */
static Homa__Client__DaemonMsg *tc_call(struct tc *t,
					Homa__Client__ClientMsg *m)
{
	uint64_t end = tc_now_ms() + TC_TIMEOUT_MS;
	Homa__Client__DaemonMsg *d;
	int r;

	m->seq = ++t->seq;
	if (tc_send(t, m) < 0)
		tc_fail("send: %s", strerror(errno));
	for (;;) {
		uint64_t now = tc_now_ms();

		r = tc_read(t, &d, now < end ? (int)(end - now) : 0);
		if (r == 0)
			tc_fail("homad closed the connection (waiting for a "
				"reply)");
		if (r < 0)
			tc_fail("no reply from homad");
		if (d->ev_case == HOMA__CLIENT__DAEMON_MSG__EV_REPLY &&
		    d->reply->seq == m->seq)
			return d;
		if (t->n_pending == TC_MAX_PENDING)
			tc_fail("too many events while waiting for a reply");
		t->pending[t->n_pending++] = d;
	}
}

/* How an Open may be spoiled (hostile cases). */
struct tc_open_opts {
	unsigned rx_seals, tx_seals;
	int64_t rx_declared_delta; /* declared size - real size */
	bool not_memfd;
	unsigned nfds; /* 2 normally */
	uint32_t version;
	bool not_open;	    /* send a Bind first */
	bool open_recycles; /* the Open carries recycle_offsets */
	bool direct;	    /* ask for direct send */
	bool drx;	    /* ... and direct receive */
};

/*
 * Connect and Open.  Returns 0 with t set up, or the positive error of
 * the OpenReply (then the connection is still open, for the caller to see
 * the EOF).
 */
static int tc_open_ex(struct tc *t, const char *path, int family, size_t rx_len,
		      size_t tx_len, const struct tc_open_opts *o)
{
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Open op = HOMA__CLIENT__OPEN__INIT;
	Homa__Client__Bind b = HOMA__CLIENT__BIND__INIT;
	Homa__Client__DaemonMsg *d;
	Homa__Client__OpenReply *r;
	int fds[2], err, rc;

	memset(t, 0, sizeof(*t));
	t->family = family;
	t->fd = tc_connect(path);
	fds[0] = tc_memfd("rx", rx_len, o->rx_seals);
	if (o->not_memfd) {
		char tmpl[] = "/tmp/chan_test.XXXXXX";

		fds[1] = mkstemp(tmpl);
		if (fds[1] < 0)
			tc_fail("mkstemp: %s", strerror(errno));
		unlink(tmpl);
		if (ftruncate(fds[1], (off_t)tx_len) < 0)
			tc_fail("ftruncate: %s", strerror(errno));
	} else {
		fds[1] = tc_memfd("tx", tx_len, o->tx_seals);
	}
	t->rx = mmap(NULL, rx_len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0],
		     0);
	t->tx = mmap(NULL, tx_len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[1],
		     0);
	if (t->rx == MAP_FAILED || t->tx == MAP_FAILED)
		tc_fail("mmap: %s", strerror(errno));
	t->rx_len = rx_len;
	t->tx_len = tx_len;
	if (o->not_open) {
		m.seq = 1;
		m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_BIND;
		m.bind = &b;
		if (tc_send(t, &m) < 0)
			tc_fail("send: %s", strerror(errno));
	} else {
		op.version = o->version;
		op.family = (uint32_t)family;
		op.rx_pool_bytes =
			(uint64_t)((int64_t)rx_len + o->rx_declared_delta);
		op.tx_area_bytes = tx_len;
		op.direct_send = o->direct;
		op.direct_receive = o->drx;
		m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_OPEN;
		m.open = &op;
		if (o->open_recycles) {
			static uint32_t off0;

			m.n_recycle_offsets = 1;
			m.recycle_offsets = &off0;
		}
		rc = tc_send_fds(t, &m, fds, o->nfds);
		/* A refused connection is closed at once: read the why. */
		if (rc < 0 && rc != -EPIPE && rc != -ECONNRESET)
			tc_fail("send Open: %s", strerror(-rc));
	}
	close(fds[0]);
	close(fds[1]);
	rc = tc_read(t, &d, TC_TIMEOUT_MS);
	if (rc == 0)
		tc_fail("homad closed the connection instead of answering "
			"the Open");
	if (rc < 0)
		tc_fail("no OpenReply");
	if (d->ev_case != HOMA__CLIENT__DAEMON_MSG__EV_OPEN)
		tc_fail("first answer is not an OpenReply");
	r = d->open;
	err = r->error;
	if (err == 0) {
		if (!r->ids || r->ids->count == 0 || r->ids->first & 1)
			tc_fail("OpenReply without a valid id block");
		if (r->port < 0x8000)
			tc_fail("default port %u below 0x8000", r->port);
		t->id_next = r->ids->first;
		t->id_end = r->ids->first + 2ull * r->ids->count;
		t->max_inline = r->max_inline;
		t->port = r->port;
		if (!r->takes_recycle)
			tc_fail("OpenReply without takes_recycle");
		t->direct = r->direct_send;
		t->drx = r->direct_receive;
		if (t->n_dfds != (t->direct ? 3u + r->direct_v6 + t->drx : 0u))
			tc_fail("direct send %d (IPv6 %d, receive %d) with %u "
				"descriptors",
				(int)t->direct, (int)r->direct_v6, (int)t->drx,
				t->n_dfds);
		if (o->direct && !t->direct)
			tc_fail("direct send not granted: %s",
				r->direct_refusal ? r->direct_refusal : "?");
		if (o->drx && !t->drx)
			tc_fail("direct receive not granted: %s",
				r->direct_receive_refusal
					? r->direct_receive_refusal
					: "?");
	} else {
		printf("OpenReply error %d: %s\n", err, r->error_text);
	}
	homa__client__daemon_msg__free_unpacked(d, NULL);
	return err;
}

static void tc_open(struct tc *t, const char *path, int family, size_t rx_len,
		    size_t tx_len)
{
	struct tc_open_opts o = {
		.rx_seals = F_SEAL_SHRINK | F_SEAL_GROW,
		.tx_seals = F_SEAL_SHRINK | F_SEAL_GROW,
		.nfds = 2,
		.version = HOMA_CLIENT_PROTO_VERSION,
	};
	int err = tc_open_ex(t, path, family, rx_len, tx_len, &o);

	if (err != 0)
		tc_fail("Open refused: %s", strerror(err));
}

/* The next client id, asking for a new block when this one is used up. */
static uint64_t tc_next_id(struct tc *t)
{
	if (t->id_next >= t->id_end) {
		Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
		Homa__Client__MoreIds mi = HOMA__CLIENT__MORE_IDS__INIT;
		Homa__Client__DaemonMsg *d;

		m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_MORE_IDS;
		m.more_ids = &mi;
		d = tc_call(t, &m);
		if (d->reply->error != 0 || !d->reply->ids)
			tc_fail("MoreIds: error %d", d->reply->error);
		t->id_next = d->reply->ids->first;
		t->id_end = t->id_next + 2ull * d->reply->ids->count;
		homa__client__daemon_msg__free_unpacked(d, NULL);
	}
	t->id_next += 2;
	return t->id_next - 2;
}

static void tc_close(struct tc *t)
{
	for (unsigned i = 0; i < t->n_pending; i++)
		homa__client__daemon_msg__free_unpacked(t->pending[i], NULL);
	t->n_pending = 0;
	for (unsigned i = 0; i < t->n_dfds; i++)
		close(t->dfds[i]);
	t->n_dfds = 0;
	close(t->fd);
	munmap(t->rx, t->rx_len);
	munmap(t->tx, t->tx_len);
}

/* Parse ADDR (IPv4 or IPv6) into bytes for the socket's family. */
static size_t tc_addr(int family, const char *text, uint8_t out[16])
{
	struct in_addr a4;

	if (family == AF_INET) {
		if (inet_pton(AF_INET, text, &a4) != 1)
			tc_fail("bad IPv4 address %s", text);
		memcpy(out, &a4, 4);
		return 4;
	}
	if (inet_pton(AF_INET6, text, out) == 1)
		return 16;
	if (inet_pton(AF_INET, text, &a4) == 1) {
		/* v4-mapped */
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		return 16;
	}
	tc_fail("bad address %s", text);
}

/* Send one request of len bytes at tx[off] (inline if small and allowed). */
static int tc_send_request(struct tc *t, uint64_t id, const uint8_t *addr,
			   size_t alen, uint32_t port, uint64_t cookie,
			   bool priv, uint64_t off, uint32_t len,
			   bool try_inline)
{
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__SendRequest sr = HOMA__CLIENT__SEND_REQUEST__INIT;
	Homa__Client__Addr a = HOMA__CLIENT__ADDR__INIT;

	a.addr.data = (uint8_t *)addr;
	a.addr.len = alen;
	a.port = port;
	sr.id = id;
	sr.dest = &a;
	sr.cookie = cookie;
	sr.private_ = priv;
	if (try_inline && len > 0 && len <= t->max_inline) {
		sr.inline_data.data = t->tx + off;
		sr.inline_data.len = len;
	} else {
		sr.tx_offset = off;
		sr.length = len;
	}
	m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SEND_REQUEST;
	m.send_request = &sr;
	return tc_send(t, &m);
}

static int tc_recycle(struct tc *t, const uint32_t *offs, size_t n)
{
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Recycle rc = HOMA__CLIENT__RECYCLE__INIT;

	rc.n_bpage_offsets = n;
	rc.bpage_offsets = (uint32_t *)offs;
	m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_RECYCLE;
	m.recycle = &rc;
	return tc_send(t, &m);
}

/* Copy a delivered message out of the bpages into out[0..length). */
static void tc_gather(const struct tc *t, const Homa__Client__Delivered *d,
		      uint8_t *out)
{
	uint32_t done = 0;

	if (d->n_bpage_offsets !=
	    (d->length + HOMA_SHM_BPAGE_SIZE - 1) / HOMA_SHM_BPAGE_SIZE)
		tc_fail("message of %u bytes in %zu bpages", d->length,
			d->n_bpage_offsets);
	for (size_t i = 0; i < d->n_bpage_offsets; i++) {
		uint32_t off = d->bpage_offsets[i];
		uint32_t n = d->length - done < HOMA_SHM_BPAGE_SIZE
				     ? d->length - done
				     : HOMA_SHM_BPAGE_SIZE;

		if ((uint64_t)off + n > t->rx_len)
			tc_fail("bpage offset %u outside the pool", off);
		memcpy(out + done, t->rx + off, n);
		done += n;
	}
}

/* ---- server ----------------------------------------------------------- */

struct tc_resp {
	uint64_t id;
	bool busy;
};

static void tc_write_file(const char *path)
{
	FILE *f;

	if (!path)
		return;
	f = fopen(path, "w");
	if (!f)
		tc_fail("cannot write %s", path);
	fclose(f);
}

static void tc_bind(struct tc *t, uint32_t port)
{
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Bind b = HOMA__CLIENT__BIND__INIT;
	Homa__Client__DaemonMsg *d;

	b.port = port;
	m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_BIND;
	m.bind = &b;
	d = tc_call(t, &m);
	if (d->reply->error != 0)
		tc_fail("bind %u: %s", port, strerror(d->reply->error));
	if (d->reply->port != port)
		tc_fail("bind %u: reply says port %u", port, d->reply->port);
	homa__client__daemon_msg__free_unpacked(d, NULL);
}

#define TC_SERVER_SLOTS 16

static int tc_server(const char *path, int family, uint32_t port, bool sink,
		     const char *ready)
{
	struct tc t;
	struct tc_resp slots[TC_SERVER_SLOTS];
	Homa__Client__DaemonMsg *wait[TC_MAX_PENDING];
	unsigned n_wait = 0;
	uint64_t served = 0;

	memset(slots, 0, sizeof(slots));
	tc_open(&t, path, family, 256u * HOMA_SHM_BPAGE_SIZE,
		(size_t)TC_SERVER_SLOTS * TC_SLOT);
	tc_bind(&t, port);
	tc_write_file(ready);
	for (;;) {
		Homa__Client__DaemonMsg *d;
		int r;

		/* Answer waiting requests while slots are free. */
		while (n_wait > 0) {
			Homa__Client__Delivered *q = wait[0]->delivered;
			Homa__Client__ClientMsg m =
				HOMA__CLIENT__CLIENT_MSG__INIT;
			Homa__Client__SendResponse sr =
				HOMA__CLIENT__SEND_RESPONSE__INIT;
			unsigned s;

			for (s = 0; s < TC_SERVER_SLOTS && slots[s].busy; s++)
				;
			if (s == TC_SERVER_SLOTS)
				break;
			tc_gather(&t, q, t.tx + (size_t)s * TC_SLOT);
			if (tc_recycle(&t, q->bpage_offsets,
				       q->n_bpage_offsets) < 0)
				tc_fail("recycle: %s", strerror(errno));
			sr.id = q->id;
			sr.peer = q->peer;
			if (q->length <= t.max_inline) {
				sr.inline_data.data =
					t.tx + (size_t)s * TC_SLOT;
				sr.inline_data.len = q->length;
			} else {
				sr.tx_offset = (uint64_t)s * TC_SLOT;
				sr.length = q->length;
				slots[s].busy = true;
				slots[s].id = q->id;
			}
			m.cmd_case =
				HOMA__CLIENT__CLIENT_MSG__CMD_SEND_RESPONSE;
			m.send_response = &sr;
			if (tc_send(&t, &m) < 0)
				tc_fail("send response: %s", strerror(errno));
			homa__client__daemon_msg__free_unpacked(wait[0], NULL);
			memmove(wait, wait + 1, (n_wait - 1) * sizeof(*wait));
			n_wait--;
			served++;
		}
		r = tc_event(&t, &d, -1);
		if (r == 0) {
			printf("server: homad closed the connection after "
			       "%" PRIu64 " responses\n",
			       served);
			for (unsigned i = 0; i < n_wait; i++)
				homa__client__daemon_msg__free_unpacked(wait[i],
									NULL);
			tc_close(&t);
			return 0;
		}
		if (r < 0)
			continue;
		switch (d->ev_case) {
		case HOMA__CLIENT__DAEMON_MSG__EV_DELIVERED: {
			Homa__Client__Delivered *q = d->delivered;

			for (size_t i = 0; i < q->n_tx_released; i++)
				for (unsigned s = 0; s < TC_SERVER_SLOTS; s++)
					if (slots[s].busy &&
					    slots[s].id == q->tx_released[i]) {
						slots[s].busy = false;
						break;
					}
			if (!(q->id & 1))
				tc_fail("server got a response (id %" PRIu64
					")",
					q->id);
			if (sink) {
				homa__client__daemon_msg__free_unpacked(d,
									NULL);
				continue;
			}
			if (n_wait == TC_MAX_PENDING)
				tc_fail("too many requests waiting");
			wait[n_wait++] = d;
			continue;
		}
		case HOMA__CLIENT__DAEMON_MSG__EV_TX_RELEASED:
			for (size_t i = 0; i < d->tx_released->n_ids; i++)
				for (unsigned s = 0; s < TC_SERVER_SLOTS; s++)
					if (slots[s].busy &&
					    slots[s].id ==
						    d->tx_released->ids[i]) {
						slots[s].busy = false;
						break;
					}
			break;
		case HOMA__CLIENT__DAEMON_MSG__EV_FAILED:
			fprintf(stderr,
				"server: response %" PRIu64 " failed: %s\n",
				d->failed->id, strerror(d->failed->error));
			for (size_t i = 0; i < d->failed->n_tx_released; i++)
				for (unsigned s = 0; s < TC_SERVER_SLOTS; s++)
					if (slots[s].busy &&
					    slots[s].id ==
						    d->failed->tx_released[i]) {
						slots[s].busy = false;
						break;
					}
			break;
		default:
			break;
		}
		homa__client__daemon_msg__free_unpacked(d, NULL);
	}
}

/* ---- client ----------------------------------------------------------- */

static uint8_t tc_pattern(uint64_t seed, uint32_t i)
{
	return (uint8_t)(seed * 37 + i * 131u + (i >> 9) + (i >> 17));
}

struct tc_rpc {
	uint64_t id;
	uint64_t cookie;
	uint32_t len;
	uint64_t seed;
	bool done;
	bool released;
};

static int tc_client(const char *path, int family, const char *dest,
		     uint32_t port, const char *sizes, unsigned conc,
		     unsigned rounds, bool priv)
{
	uint32_t size_list[64];
	unsigned n_sizes = 0, max_size = 1;
	struct tc_rpc *rpcs;
	uint8_t addr[16], *got;
	size_t alen = tc_addr(family, dest, addr);
	struct tc t;
	char *list = strdup(sizes), *tok, *save = NULL;
	uint64_t serial = 1;

	for (tok = strtok_r(list, ",", &save); tok && n_sizes < 64;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned long v = strtoul(tok, NULL, 10);

		if (v == 0 || v > TC_MAX_MSG)
			tc_fail("bad size %s", tok);
		size_list[n_sizes++] = (uint32_t)v;
		if (v > max_size)
			max_size = (unsigned)v;
	}
	free(list);
	if (n_sizes == 0 || conc == 0)
		tc_fail("nothing to do");
	rpcs = calloc(conc, sizeof(*rpcs));
	got = malloc(TC_MAX_MSG);
	if (!rpcs || !got)
		tc_fail("out of memory");
	tc_open(&t, path, family,
		(size_t)(conc * 16 + 16) * HOMA_SHM_BPAGE_SIZE,
		(size_t)conc * TC_SLOT);
	for (unsigned si = 0; si < n_sizes; si++) {
		uint32_t len = size_list[si];
		uint64_t t0 = tc_now_ms();

		for (unsigned round = 0; round < rounds; round++) {
			unsigned left = conc;

			for (unsigned k = 0; k < conc; k++) {
				struct tc_rpc *x = &rpcs[k];
				uint8_t *slot = t.tx + (size_t)k * TC_SLOT;

				x->id = tc_next_id(&t);
				x->cookie = 0xc0de000000000000ull | serial;
				x->seed = serial++;
				x->len = len;
				x->done = false;
				x->released = false;
				for (uint32_t i = 0; i < len; i++)
					slot[i] = tc_pattern(x->seed, i);
				if (tc_send_request(&t, x->id, addr, alen, port,
						    x->cookie, priv,
						    (uint64_t)k * TC_SLOT, len,
						    true) < 0)
					tc_fail("send request: %s",
						strerror(errno));
			}
			while (left > 0) {
				Homa__Client__DaemonMsg *d;
				Homa__Client__Delivered *q;
				struct tc_rpc *x = NULL;
				int r = tc_event(&t, &d, TC_TIMEOUT_MS);

				if (r == 0)
					tc_fail("homad closed the connection");
				if (r < 0)
					tc_fail("size %u: %u of %u responses "
						"missing after %d ms",
						len, left, conc, TC_TIMEOUT_MS);
				if (d->ev_case ==
				    HOMA__CLIENT__DAEMON_MSG__EV_FAILED)
					tc_fail("size %u: RPC %" PRIu64
						" failed: %s",
						len, d->failed->id,
						strerror(d->failed->error));
				if (d->ev_case !=
				    HOMA__CLIENT__DAEMON_MSG__EV_DELIVERED) {
					homa__client__daemon_msg__free_unpacked(
						d, NULL);
					continue;
				}
				q = d->delivered;
				for (unsigned k = 0; k < conc; k++)
					if (rpcs[k].id == q->id &&
					    !rpcs[k].done)
						x = &rpcs[k];
				if (!x)
					tc_fail("response for unknown id "
						"%" PRIu64,
						q->id);
				if (q->cookie != x->cookie)
					tc_fail("id %" PRIu64
						": cookie %" PRIx64
						", sent %" PRIx64,
						q->id, q->cookie, x->cookie);
				if (q->private_ != priv)
					tc_fail("id %" PRIu64
						": private flag %d",
						q->id, q->private_);
				if (q->length != x->len)
					tc_fail("id %" PRIu64
						": %u bytes back, sent %u",
						q->id, q->length, x->len);
				if (!q->peer || q->peer->port != port)
					tc_fail("id %" PRIu64
						": response from port %u",
						q->id,
						q->peer ? q->peer->port : 0);
				tc_gather(&t, q, got);
				for (uint32_t i = 0; i < len; i++)
					if (got[i] != tc_pattern(x->seed, i))
						tc_fail("size %u id %" PRIu64
							": byte %u is %u, "
							"sent %u",
							len, q->id, i, got[i],
							tc_pattern(x->seed, i));
				if (tc_recycle(&t, q->bpage_offsets,
					       q->n_bpage_offsets) < 0)
					tc_fail("recycle: %s", strerror(errno));
				x->done = true;
				left--;
				homa__client__daemon_msg__free_unpacked(d,
									NULL);
			}
		}
		printf("size %u: %u x %u RPCs byte-exact in %" PRIu64 " ms\n",
		       len, rounds, conc, tc_now_ms() - t0);
	}
	tc_close(&t);
	free(rpcs);
	free(got);
	return 0;
}

static int tc_expect_eof(struct tc *t, const char *what);

/* ---- hold, unbound, info ------------------------------------------------ */

static int tc_hold(const char *path, int family, const char *dest,
		   uint32_t port, unsigned count, uint32_t size,
		   const char *ready)
{
	uint8_t addr[16];
	size_t alen = tc_addr(family, dest, addr);
	struct tc t;

	if (size == 0 || size > TC_MAX_MSG)
		tc_fail("bad size");
	tc_open(&t, path, family, 32u * HOMA_SHM_BPAGE_SIZE, TC_SLOT);
	memset(t.tx, 0x5a, size);
	for (unsigned k = 0; k < count; k++)
		if (tc_send_request(&t, tc_next_id(&t), addr, alen, port, k,
				    false, 0, size, false) < 0)
			tc_fail("send request: %s", strerror(errno));
	tc_write_file(ready);
	for (;;)
		pause();
}

static int tc_unbound(const char *path, int family, const char *dest,
		      uint32_t port, unsigned within_ms)
{
	uint8_t addr[16];
	size_t alen = tc_addr(family, dest, addr);
	uint64_t id, t0;
	struct tc t;

	tc_open(&t, path, family, 4u * HOMA_SHM_BPAGE_SIZE, TC_SLOT);
	memset(t.tx, 1, 100);
	id = tc_next_id(&t);
	t0 = tc_now_ms();
	if (tc_send_request(&t, id, addr, alen, port, 77, false, 0, 100,
			    false) < 0)
		tc_fail("send request: %s", strerror(errno));
	for (;;) {
		Homa__Client__DaemonMsg *d;
		uint64_t now = tc_now_ms();
		int r = tc_event(
			&t, &d,
			now < t0 + within_ms ? (int)(t0 + within_ms - now) : 0);

		if (r == 0)
			tc_fail("homad closed the connection");
		if (r < 0)
			tc_fail("no failure within %u ms", within_ms);
		if (d->ev_case == HOMA__CLIENT__DAEMON_MSG__EV_FAILED) {
			if (d->failed->id != id || d->failed->cookie != 77)
				tc_fail("Failed for id %" PRIu64
					" cookie %" PRIu64,
					d->failed->id, d->failed->cookie);
			if (d->failed->error != ENOTCONN)
				tc_fail("failed with %s, expected ENOTCONN",
					strerror(d->failed->error));
			printf("failed with ENOTCONN after %" PRIu64 " ms\n",
			       tc_now_ms() - t0);
			homa__client__daemon_msg__free_unpacked(d, NULL);
			tc_close(&t);
			return 0;
		}
		if (d->ev_case == HOMA__CLIENT__DAEMON_MSG__EV_DELIVERED)
			tc_fail("a request to an unbound port was answered");
		homa__client__daemon_msg__free_unpacked(d, NULL);
	}
}

static int tc_info(const char *path, int family)
{
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Info in = HOMA__CLIENT__INFO__INIT;
	Homa__Client__SetServer ss = HOMA__CLIENT__SET_SERVER__INIT;
	Homa__Client__Shutdown sh = HOMA__CLIENT__SHUTDOWN__INIT;
	Homa__Client__DaemonMsg *d;
	uint64_t first_end;
	struct tc t;

	tc_open(&t, path, family, 4u * HOMA_SHM_BPAGE_SIZE, TC_SLOT);
	in.max_rpcs = 10;
	m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_INFO;
	m.info = &in;
	d = tc_call(&t, &m);
	if (d->reply->error != 0 || !d->reply->info ||
	    d->reply->info->port != t.port ||
	    d->reply->info->bpool_avail_bytes != 4u * HOMA_SHM_BPAGE_SIZE ||
	    d->reply->info->num_rpcs != 0)
		tc_fail("Info: bad reply");
	homa__client__daemon_msg__free_unpacked(d, NULL);
	first_end = t.id_end;
	t.id_next = t.id_end; /* force MoreIds */
	tc_next_id(&t);
	if (t.id_end == first_end)
		tc_fail("MoreIds gave the same block");
	tc_bind(&t, 0x1234);
	ss.on = false;
	m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SET_SERVER;
	m.set_server = &ss;
	d = tc_call(&t, &m);
	if (d->reply->error != 0)
		tc_fail("SetServer: %s", strerror(d->reply->error));
	homa__client__daemon_msg__free_unpacked(d, NULL);
	m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SHUTDOWN;
	m.shutdown = &sh;
	d = tc_call(&t, &m);
	if (d->reply->error != 0)
		tc_fail("Shutdown: %s", strerror(d->reply->error));
	homa__client__daemon_msg__free_unpacked(d, NULL);
	/* After shutdown, binding fails ESHUTDOWN. */
	{
		Homa__Client__Bind b = HOMA__CLIENT__BIND__INIT;

		b.port = 0x1235;
		m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_BIND;
		m.bind = &b;
		d = tc_call(&t, &m);
		if (d->reply->error != ESHUTDOWN)
			tc_fail("bind after shutdown: error %d",
				d->reply->error);
		homa__client__daemon_msg__free_unpacked(d, NULL);
	}
	printf("info, more ids, bind, set server, shutdown: ok\n");
	tc_close(&t);
	return 0;
}

static int tc_limit(const char *path, int family, unsigned n)
{
	struct tc_open_opts o = {
		.rx_seals = F_SEAL_SHRINK | F_SEAL_GROW,
		.tx_seals = F_SEAL_SHRINK | F_SEAL_GROW,
		.nfds = 2,
		.version = HOMA_CLIENT_PROTO_VERSION,
	};
	struct tc *t = calloc(n, sizeof(*t));
	int err;

	if (!t || n < 2)
		tc_fail("limit: bad count");
	for (unsigned i = 0; i + 1 < n; i++)
		tc_open(&t[i], path, family, 2u * HOMA_SHM_BPAGE_SIZE, 4096);
	err = tc_open_ex(&t[n - 1], path, family, 2u * HOMA_SHM_BPAGE_SIZE,
			 4096, &o);
	if (err != EMFILE)
		tc_fail("connection %u: error %d, expected EMFILE", n, err);
	if (tc_expect_eof(&t[n - 1], "over the limit"))
		return 1;
	for (unsigned i = 0; i + 1 < n; i++)
		tc_close(&t[i]);
	free(t);
	printf("%u sockets of one process: the last refused with EMFILE\n", n);
	return 0;
}

static int tc_bind_as(const char *path, int family, uint32_t port, long uid,
		      long gid, int expect)
{
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Bind b = HOMA__CLIENT__BIND__INIT;
	Homa__Client__DaemonMsg *d;
	struct tc t;
	int err;

	if (gid >= 0 && (setgroups(0, NULL) < 0 || setgid((gid_t)gid) < 0))
		tc_fail("setgid %ld: %s", gid, strerror(errno));
	if (uid >= 0 && setuid((uid_t)uid) < 0)
		tc_fail("setuid %ld: %s", uid, strerror(errno));
	tc_open(&t, path, family, 4u * HOMA_SHM_BPAGE_SIZE, 4096);
	b.port = port;
	m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_BIND;
	m.bind = &b;
	d = tc_call(&t, &m);
	err = d->reply->error;
	homa__client__daemon_msg__free_unpacked(d, NULL);
	if (err != expect)
		tc_fail("bind %u as uid %ld gid %ld: error %d (%s), expected "
			"%d",
			port, uid, gid, err, strerror(err), expect);
	printf("bind %u as uid %ld gid %ld: error %d, as expected\n", port, uid,
	       gid, err);
	tc_close(&t);
	return 0;
}

/* ---- hostile clients --------------------------------------------------- */

/* homad must close the connection now (EOF), after events it had queued. */
static int tc_expect_eof(struct tc *t, const char *what)
{
	uint64_t end = tc_now_ms() + 5000;

	for (;;) {
		Homa__Client__DaemonMsg *d;
		uint64_t now = tc_now_ms();
		int r = tc_read(t, &d, now < end ? (int)(end - now) : 0);

		if (r == 0) {
			printf("%s: disconnected, as it should be\n", what);
			tc_close(t);
			return 0;
		}
		if (r < 0) {
			fprintf(stderr, "%s: still connected after 5 s\n",
				what);
			return 1;
		}
		homa__client__daemon_msg__free_unpacked(d, NULL);
	}
}

/* A send may fail once homad has closed; that is fine. */
static void tc_send_ok(int r)
{
	if (r < 0 && r != -EPIPE && r != -ECONNRESET)
		tc_fail("send: %s", strerror(-r));
}

/* A request that is valid but for its fields changed by the caller. */
static int tc_hostile_request(struct tc *t, uint64_t id, const uint8_t *addr,
			      size_t alen, uint32_t port, uint64_t off,
			      uint32_t len)
{
	return tc_send_request(t, id, addr, alen, port, 1, false, off, len,
			       false);
}

static int tc_hostile(const char *path, int family, const char *name,
		      const char *dest, uint32_t port)
{
	struct tc_open_opts o = {
		.rx_seals = F_SEAL_SHRINK | F_SEAL_GROW,
		.tx_seals = F_SEAL_SHRINK | F_SEAL_GROW,
		.nfds = 2,
		.version = HOMA_CLIENT_PROTO_VERSION,
	};
	size_t rx_len = 4u * HOMA_SHM_BPAGE_SIZE, tx_len = TC_SLOT;
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
	uint8_t addr[16];
	size_t alen;
	struct tc t;
	bool open_case = true;
	int err, r;

	if (!dest)
		dest = family == AF_INET ? "127.0.0.1" : "::1";
	alen = tc_addr(family, dest, addr);
	if (strcmp(name, "no-seals") == 0)
		o.rx_seals = 0;
	else if (strcmp(name, "grow-seal-only") == 0)
		o.tx_seals = F_SEAL_GROW;
	else if (strcmp(name, "wrong-size") == 0)
		o.rx_declared_delta = HOMA_SHM_BPAGE_SIZE;
	else if (strcmp(name, "not-memfd") == 0)
		o.not_memfd = true;
	else if (strcmp(name, "no-fds") == 0)
		o.nfds = 0;
	else if (strcmp(name, "rx-odd") == 0)
		rx_len = 4u * HOMA_SHM_BPAGE_SIZE + 4096;
	else if (strcmp(name, "bad-version") == 0)
		o.version = 99;
	else if (strcmp(name, "not-open") == 0)
		o.not_open = true;
	else if (strcmp(name, "open-recycle") == 0)
		o.open_recycles = true;
	else
		open_case = false;

	err = tc_open_ex(&t, path, family, rx_len, tx_len, &o);
	if (open_case) {
		if (err == 0) {
			fprintf(stderr, "%s: Open accepted\n", name);
			return 1;
		}
		return tc_expect_eof(&t, name);
	}
	if (err != 0)
		tc_fail("Open refused: %s", strerror(err));

	if (strcmp(name, "tx-range") == 0) {
		r = tc_hostile_request(&t, tc_next_id(&t), addr, alen, port,
				       tx_len - 10, 11);
	} else if (strcmp(name, "tx-overflow") == 0) {
		r = tc_hostile_request(&t, tc_next_id(&t), addr, alen, port,
				       UINT64_MAX - 5, 100);
	} else if (strcmp(name, "id-outside") == 0) {
		r = tc_hostile_request(&t, t.id_end + 1000, addr, alen, port, 0,
				       10);
	} else if (strcmp(name, "id-odd") == 0) {
		r = tc_hostile_request(&t, tc_next_id(&t) + 1, addr, alen, port,
				       0, 10);
	} else if (strcmp(name, "id-twice") == 0) {
		uint64_t id = tc_next_id(&t);

		tc_send_ok(tc_hostile_request(&t, id, addr, alen, port, 0, 10));
		r = tc_hostile_request(&t, id, addr, alen, port, 0, 10);
	} else if (strcmp(name, "bad-recycle") == 0) {
		uint32_t off = HOMA_SHM_BPAGE_SIZE;

		r = tc_recycle(&t, &off, 1);
	} else if (strcmp(name, "piggy-recycle") == 0) {
		Homa__Client__Info in = HOMA__CLIENT__INFO__INIT;
		uint32_t off = HOMA_SHM_BPAGE_SIZE;

		/* A valid command carrying a bpage it does not hold. */
		m.seq = 1;
		m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_INFO;
		m.info = &in;
		m.n_recycle_offsets = 1;
		m.recycle_offsets = &off;
		r = tc_send(&t, &m);
	} else if (strcmp(name, "recycle-twice") == 0) {
		Homa__Client__DaemonMsg *d;
		uint64_t id = tc_next_id(&t);

		/* A real RPC with the echo server, its bpage given back
		 * twice. */
		memset(t.tx, 3, 100);
		tc_send_ok(
			tc_hostile_request(&t, id, addr, alen, port, 0, 100));
		for (;;) {
			if (tc_event(&t, &d, TC_TIMEOUT_MS) != 1)
				tc_fail("recycle-twice: no response");
			if (d->ev_case ==
			    HOMA__CLIENT__DAEMON_MSG__EV_DELIVERED)
				break;
			if (d->ev_case == HOMA__CLIENT__DAEMON_MSG__EV_FAILED)
				tc_fail("recycle-twice: RPC failed: %s",
					strerror(d->failed->error));
			homa__client__daemon_msg__free_unpacked(d, NULL);
		}
		tc_send_ok(tc_recycle(&t, d->delivered->bpage_offsets,
				      d->delivered->n_bpage_offsets));
		r = tc_recycle(&t, d->delivered->bpage_offsets,
			       d->delivered->n_bpage_offsets);
		homa__client__daemon_msg__free_unpacked(d, NULL);
	} else if (strcmp(name, "resp-range") == 0) {
		Homa__Client__SendResponse sr =
			HOMA__CLIENT__SEND_RESPONSE__INIT;
		Homa__Client__Addr a = HOMA__CLIENT__ADDR__INIT;

		/* The extent is checked before the RPC is looked up. */
		a.addr.data = addr;
		a.addr.len = alen;
		a.port = port;
		sr.id = 1001;
		sr.peer = &a;
		sr.tx_offset = 4096;
		sr.length = (uint32_t)tx_len;
		m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SEND_RESPONSE;
		m.send_response = &sr;
		r = tc_send(&t, &m);
	} else if (strcmp(name, "recycle-beyond") == 0) {
		uint32_t off = (uint32_t)rx_len + HOMA_SHM_BPAGE_SIZE;

		r = tc_recycle(&t, &off, 1);
	} else if (strcmp(name, "recycle-unaligned") == 0) {
		Homa__Client__DaemonMsg *d;
		uint64_t id = tc_next_id(&t);
		uint32_t off;

		/* A bpage it does hold, named by an offset inside a chunk. */
		memset(t.tx, 4, 100);
		tc_send_ok(
			tc_hostile_request(&t, id, addr, alen, port, 0, 100));
		for (;;) {
			if (tc_event(&t, &d, TC_TIMEOUT_MS) != 1)
				tc_fail("recycle-unaligned: no response");
			if (d->ev_case ==
			    HOMA__CLIENT__DAEMON_MSG__EV_DELIVERED)
				break;
			if (d->ev_case == HOMA__CLIENT__DAEMON_MSG__EV_FAILED)
				tc_fail("recycle-unaligned: RPC failed: %s",
					strerror(d->failed->error));
			homa__client__daemon_msg__free_unpacked(d, NULL);
		}
		if (d->delivered->n_bpage_offsets < 1)
			tc_fail("recycle-unaligned: no bpage delivered");
		off = d->delivered->bpage_offsets[0] + 8;
		homa__client__daemon_msg__free_unpacked(d, NULL);
		r = tc_recycle(&t, &off, 1);
	} else if (strcmp(name, "oversize") == 0) {
		size_t len = HOMA_CLIENT_MAX_DATAGRAM + 1000;
		uint8_t *buf = calloc(1, len);

		r = tc_send_raw(t.fd, buf, len, NULL, 0);
		free(buf);
	} else if (strcmp(name, "garbage") == 0) {
		uint8_t buf[200];

		memset(buf, 0xff, sizeof(buf));
		r = tc_send_raw(t.fd, buf, sizeof(buf), NULL, 0);
	} else if (strcmp(name, "fds-after-open") == 0) {
		Homa__Client__Info in = HOMA__CLIENT__INFO__INIT;
		int fd = tc_memfd("extra", 4096, 0);

		m.seq = 1;
		m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_INFO;
		m.info = &in;
		r = tc_send_fds(&t, &m, &fd, 1);
		close(fd);
	} else if (strcmp(name, "wrong-family") == 0) {
		uint8_t other[16];
		size_t olen;

		/* The other family's address length. */
		memset(other, 0, sizeof(other));
		olen = family == AF_INET ? 16 : 4;
		other[0] = 10;
		if (olen == 16) {
			other[15] = 1;
		}
		r = tc_hostile_request(&t, tc_next_id(&t), other, olen, port, 0,
				       10);
	} else if (strcmp(name, "inline-too-big") == 0) {
		Homa__Client__SendRequest sr = HOMA__CLIENT__SEND_REQUEST__INIT;
		Homa__Client__Addr a = HOMA__CLIENT__ADDR__INIT;

		a.addr.data = addr;
		a.addr.len = alen;
		a.port = port;
		sr.id = tc_next_id(&t);
		sr.dest = &a;
		sr.inline_data.data = t.tx;
		sr.inline_data.len = t.max_inline + 1;
		m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_SEND_REQUEST;
		m.send_request = &sr;
		r = tc_send(&t, &m);
	} else if (strcmp(name, "no-seq") == 0) {
		Homa__Client__Bind b = HOMA__CLIENT__BIND__INIT;

		b.port = 0;
		m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_BIND;
		m.bind = &b;
		r = tc_send(&t, &m);
	} else if (strcmp(name, "second-open") == 0) {
		Homa__Client__Open op = HOMA__CLIENT__OPEN__INIT;

		op.version = HOMA_CLIENT_PROTO_VERSION;
		op.family = (uint32_t)family;
		op.rx_pool_bytes = rx_len;
		op.tx_area_bytes = tx_len;
		m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_OPEN;
		m.open = &op;
		r = tc_send(&t, &m);
	} else if (strcmp(name, "no-command") == 0) {
		m.seq = 5;
		r = tc_send(&t, &m);
	} else {
		fprintf(stderr, "%s: unknown case %s\n", tc_prog, name);
		exit(2);
	}
	tc_send_ok(r);
	return tc_expect_eof(&t, name);
}

/* ---- main --------------------------------------------------------------- */

/* ---- direct send ------------------------------------------------------ */

/* Fail unless r (a call's result) failed: what must not be possible. */
static void tc_must_fail(int r, const char *what)
{
	if (r >= 0)
		tc_fail("%s succeeded: a direct-send client can do it", what);
}

/*
 * Through the direct socket (the client writes the IPv4 header: any packet
 * it likes), packets about RPC id of another connection to dest: a RESEND
 * for all of it and a DATA claiming to be it.
 */
static void tc_forge(int fd, const uint8_t dest[4], uint32_t port, uint64_t id,
		     uint16_t udp_port)
{
	uint8_t pkt[20 + 200], *h = pkt + 20;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	uint64_t be = __builtin_bswap64(id);

	memcpy(&sin.sin_addr, dest, 4);
	sin.sin_port = htons(udp_port);
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = 0x45;
	pkt[8] = 64;
	pkt[9] = 146;
	memcpy(pkt + 16, dest, 4);
	h[0] = 0x80; /* sport 0x8000 */
	h[2] = (uint8_t)(port >> 8);
	h[3] = (uint8_t)port;
	h[12] = 0x50;
	memcpy(h + 20, &be, 8);
	/* RESEND: offset 0, length all, priority 7. */
	h[11] = 0x12;
	memset(h + 32, 0xff, 4);
	h[36] = 7;
	/* udp link: the kernel writes IP and UDP headers. */
	if (sendto(fd, udp_port ? h : pkt, (udp_port ? 0 : 20) + 37, 0,
		   (struct sockaddr *)&sin, sizeof(sin)) < 0)
		tc_fail("forging a RESEND: %s", strerror(errno));
	/* DATA: 100 bytes of a 100-byte message. */
	h[11] = 0x10;
	h[12] = 0xe0;
	memset(h + 28, 0, 28);
	h[31] = 100;
	h[35] = 100;
	if (sendto(fd, udp_port ? h : pkt, (udp_port ? 0 : 20) + 56 + 100, 0,
		   (struct sockaddr *)&sin, sizeof(sin)) < 0)
		tc_fail("forging a DATA: %s", strerror(errno));
}

/*
 * Wait for the Delivered response of id (failing with what if none comes
 * in time, or another one does), give its bpages back; other events are
 * passed over.
 */
static void tc_await_response(struct tc *t, uint64_t id, const char *what)
{
	Homa__Client__DaemonMsg *d;

	for (;;) {
		if (tc_event(t, &d, TC_TIMEOUT_MS) <= 0)
			tc_fail("%s", what);
		if (d->ev_case == HOMA__CLIENT__DAEMON_MSG__EV_DELIVERED) {
			if (d->delivered->id != id)
				tc_fail("a response not ours");
			tc_recycle(t, d->delivered->bpage_offsets,
				   d->delivered->n_bpage_offsets);
			homa__client__daemon_msg__free_unpacked(d, NULL);
			return;
		}
		homa__client__daemon_msg__free_unpacked(d, NULL);
	}
}

static int tc_direct(const char *path, int family, const char *name,
		     const char *dest, uint32_t port)
{
	struct tc_open_opts o = {
		.rx_seals = F_SEAL_SHRINK | F_SEAL_GROW,
		.tx_seals = F_SEAL_SHRINK | F_SEAL_GROW,
		.nfds = 2,
		.version = HOMA_CLIENT_PROTO_VERSION,
		.direct = true,
	};
	size_t rx_len = 4u * HOMA_SHM_BPAGE_SIZE, tx_len = TC_SLOT;
	struct homa_direct_ring *ring;
	const struct homa_direct_table *tab;
	struct homa_direct_rec *rec;
	int v, err;
	socklen_t vl = sizeof(v);
	uint8_t addr[16], buf[2048];
	size_t alen;
	uint64_t first;
	struct tc t;
	void *p;

	if (family != AF_INET && strcmp(name, "probe") != 0)
		tc_fail("direct case %s is for AF_INET sockets", name);
	err = tc_open_ex(&t, path, family, rx_len, tx_len, &o);
	if (err != 0)
		tc_fail("Open refused: %s", strerror(err));
	alen = tc_addr(family, dest, addr);
	first = t.id_next;
	/* The socket: raw IPPROTO_RAW (send only), or UDP (udp link). */
	if (getsockopt(t.dfds[0], SOL_SOCKET, SO_PROTOCOL, &v, &vl) < 0 ||
	    (v != IPPROTO_RAW && v != IPPROTO_UDP))
		tc_fail("the direct socket is neither IPPROTO_RAW nor UDP (%d)",
			v);
	/* An AF_INET6 socket (on a host with IPv6) has one for IPv6 peers:
	 * raw protocol 146, which would see every Homa packet of the host
	 * but for its filter, or UDP. */
	if (family == AF_INET6) {
		int v6;

		vl = sizeof(v6);
		if (t.n_dfds != 4)
			tc_fail("AF_INET6: no IPv6 direct socket");
		if (getsockopt(t.dfds[3], SOL_SOCKET, SO_PROTOCOL, &v6, &vl) <
			    0 ||
		    (v6 != 146 && v6 != IPPROTO_UDP))
			tc_fail("the IPv6 direct socket is neither protocol "
				"146 nor UDP (%d)",
				v6);
	}
	/* The peer table: read-only for good. */
	tc_must_fail(mmap(NULL, sizeof(*tab), PROT_READ | PROT_WRITE,
			  MAP_SHARED, t.dfds[2], 0) == MAP_FAILED
			     ? -1
			     : 0,
		     "mapping the peer table writable");
	p = mmap(NULL, sizeof(*tab), PROT_READ, MAP_SHARED, t.dfds[2], 0);
	if (p == MAP_FAILED)
		tc_fail("mapping the peer table: %s", strerror(errno));
	tab = p;
	if (tab->magic != HOMA_DIRECT_MAGIC || tab->max_v4 == 0)
		tc_fail("peer table: magic %x, max_v4 %u", tab->magic,
			tab->max_v4);
	tc_must_fail(mprotect(p, sizeof(*tab), PROT_READ | PROT_WRITE),
		     "mprotect of the peer table");
	tc_must_fail((int)write(t.dfds[2], "x", 1), "writing the peer table");
	tc_must_fail(ftruncate(t.dfds[2], 0), "truncating the peer table");
	tc_must_fail(fcntl(t.dfds[2], F_ADD_SEALS, F_SEAL_WRITE),
		     "sealing the peer table");
	/* Its ring: its own, but sealed against resizing. */
	p = mmap(NULL, sizeof(*ring), PROT_READ | PROT_WRITE, MAP_SHARED,
		 t.dfds[1], 0);
	if (p == MAP_FAILED)
		tc_fail("mapping the ring: %s", strerror(errno));
	ring = p;
	tc_must_fail(ftruncate(t.dfds[1], 0), "truncating the ring");
	tc_must_fail(ftruncate(t.dfds[1], 1 << 24), "growing the ring");

	/* Traffic through homad (echoes), and forged packets about the
	 * previous connection's ids, while the socket is watched. */
	for (int round = 0; round < 20; round++) {
		uint64_t id = tc_next_id(&t);
		struct pollfd pfd[2] = {{.fd = t.dfds[0], .events = POLLIN},
					{.fd = t.n_dfds == 4 ? t.dfds[3] : -1,
					 .events = POLLIN}};

		memset(t.tx, round, 3000);
		if (tc_send_request(&t, id, addr, alen, port, 1, false, 0, 3000,
				    false) < 0)
			tc_fail("send: %s", strerror(errno));
		if (alen == 4)
			tc_forge(t.dfds[0], addr, port,
				 first - 2 - 2 * (uint64_t)round,
				 v == IPPROTO_UDP ? (uint16_t)tab->udp_port
						  : 0);
		tc_await_response(&t, id, "no response to an echo");
		if (poll(pfd, 2, round == 19 ? 200 : 0) != 0)
			tc_fail("a direct socket became readable");
		for (unsigned k = 0; k < 2; k++)
			if (pfd[k].fd >= 0 && (recv(pfd[k].fd, buf, sizeof(buf),
						    MSG_DONTWAIT) >= 0 ||
					       errno != EAGAIN))
				tc_fail("direct socket %u received something "
					"(%s)",
					k, strerror(errno));
	}
	printf("direct: nothing received%s, the table read-only, the ring "
	       "sealed\n",
	       t.n_dfds == 4 ? " (IPv4 and IPv6 sockets)" : "");
	if (strcmp(name, "probe") == 0) {
		tc_close(&t);
		return 0;
	}
	rec = &ring->rec[ring->head % HOMA_DIRECT_RING_ENTRIES];
	memset(rec, 0, sizeof(*rec));
	rec->seq = ring->head;
	rec->kind = HOMA_DIRECT_REQUEST;
	rec->id = tc_next_id(&t);
	rec->length = 100;
	rec->port = (uint16_t)port;
	rec->addr[10] = rec->addr[11] = 0xff;
	memcpy(rec->addr + 12, addr, 4);
	if (strcmp(name, "forge-id") == 0)
		rec->id = first - 2; /* the connection before ours */
	else if (strcmp(name, "forge-extent") == 0)
		rec->tx_offset = tx_len - 10;
	else if (strcmp(name, "torn") == 0)
		rec->seq += HOMA_DIRECT_RING_ENTRIES;
	else
		tc_fail("unknown direct case %s", name);
	__atomic_store_n(&ring->head, ring->head + 1, __ATOMIC_RELEASE);
	/* homad reads the ring when it wakes: a datagram wakes it. */
	{
		Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
		Homa__Client__Info in = HOMA__CLIENT__INFO__INIT;

		m.seq = ++t.seq;
		m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_INFO;
		m.info = &in;
		tc_send_ok(tc_send(&t, &m));
	}
	return tc_expect_eof(&t, name);
}

/* ---- direct receive ---------------------------------------------------- */

/* A connection with direct send and receive (AF_INET). */
static void tc_drx_open(struct tc *t, const char *path)
{
	struct tc_open_opts o = {
		.rx_seals = F_SEAL_SHRINK | F_SEAL_GROW,
		.tx_seals = F_SEAL_SHRINK | F_SEAL_GROW,
		.nfds = 2,
		.version = HOMA_CLIENT_PROTO_VERSION,
		.direct = true,
		.drx = true,
	};
	int err = tc_open_ex(t, path, AF_INET, 4u * HOMA_SHM_BPAGE_SIZE,
			     TC_SLOT, &o);

	if (err != 0)
		tc_fail("Open refused: %s", strerror(err));
	if ((t->id_next >> 63) == 0)
		tc_fail("direct receive without keyed ids (%" PRIx64 ")",
			t->id_next);
}

/* Its receive socket. */
static int tc_drx_fd(const struct tc *t)
{
	return t->dfds[t->n_dfds - 1];
}

/* The bits of a forged response tc_drx_forge sends. */
enum {
	TC_FORGE_OK = 0,
	TC_FORGE_MULTI = 1, /* message_length beyond the packet */
	TC_FORGE_ACK = 2,   /* carries an ack */
	TC_FORGE_OFFSET = 4 /* seg_offset 1400 */
};

/*
 * Through raw socket fd (IPPROTO_RAW), a DATA packet to 127.0.0.1 (this
 * host: every raw socket of protocol 146 sees it) to dport with sender_id
 * and 100 bytes of payload.
 */
static void tc_drx_forge(int fd, uint16_t dport, uint64_t sender_id,
			 unsigned how)
{
	uint8_t pkt[20 + 56 + 100], *h = pkt + 20;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	uint64_t be = __builtin_bswap64(sender_id);
	uint32_t mlen = how & TC_FORGE_MULTI ? 200 : 100;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = 0x45;
	pkt[8] = 64;
	pkt[9] = 146;
	pkt[12] = 127;
	pkt[15] = 1;
	pkt[16] = 127;
	pkt[19] = 1;
	h[0] = 0x10; /* sport 4096 */
	h[2] = (uint8_t)(dport >> 8);
	h[3] = (uint8_t)dport;
	h[11] = 0x10; /* DATA */
	h[12] = 0xe0; /* 56 bytes */
	memcpy(h + 20, &be, 8);
	h[30] = (uint8_t)(mlen >> 8);
	h[31] = (uint8_t)mlen;
	h[35] = 100; /* incoming */
	if (how & TC_FORGE_ACK)
		h[43] = 2;
	if (how & TC_FORGE_OFFSET)
		h[54] = 0x05, h[55] = 0x78;
	memset(h + 56, 0x5a, 100);
	if (sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&sin,
		   sizeof(sin)) < 0)
		tc_fail("forging a response: %s", strerror(errno));
}

/* What fd reads within ms: its length (0: nothing), the packet in buf. */
static ssize_t tc_drx_read(int fd, int ms, uint8_t *buf, size_t cap)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	ssize_t n;

	if (poll(&pfd, 1, ms) <= 0)
		return 0;
	n = recv(fd, buf, cap, MSG_DONTWAIT);
	if (n < 0)
		tc_fail("reading the receive socket: %s", strerror(errno));
	return n;
}

/* The sender_id of the Homa packet in a raw read p[0..n). */
static uint64_t tc_drx_sid(const uint8_t *p, ssize_t n)
{
	size_t ihl = (size_t)(p[0] & 0xf) * 4;
	uint64_t be;

	if (n < (ssize_t)(ihl + 56))
		tc_fail("a short packet on the receive socket (%zd)", n);
	memcpy(&be, p + ihl + 20, 8);
	return __builtin_bswap64(be);
}

/* The low half of the ids tc_drx_forge is given (real ones are far
 * below). */
#define TC_FORGED 0xf0000000u

/*
 * Wait for the packet of sender_id sid on fd (key: its id's high half),
 * passing over copies of our earlier responses (same key, lower id: the
 * server retransmits them, homad was not told); its length, the packet in
 * buf.  Fails on anything else, or after TC_TIMEOUT_MS.
 */
static ssize_t tc_drx_expect(int fd, uint64_t sid, uint8_t *buf, size_t cap,
			     const char *what)
{
	for (;;) {
		ssize_t n = tc_drx_read(fd, TC_TIMEOUT_MS, buf, cap);
		uint64_t got;

		if (n == 0)
			tc_fail("%s did not come to the receive socket", what);
		got = tc_drx_sid(buf, n);
		if (got == sid)
			return n;
		if ((got >> 32) != (sid >> 32) || got > sid)
			tc_fail("%s: the receive socket read id %" PRIx64
				" instead of %" PRIx64,
				what, got, sid);
	}
}

/*
 * Read fd for ms: fail on any packet not of key (ids' high half), or
 * forged (low half from TC_FORGED).  Copies of our own responses may
 * come (the server retransmits them: homad was not told).
 */
static void tc_drx_none(int fd, int ms, uint64_t key, const char *what)
{
	uint8_t buf[2048];
	ssize_t n;

	while ((n = tc_drx_read(fd, ms, buf, sizeof(buf))) > 0) {
		uint64_t sid = tc_drx_sid(buf, n);

		if ((sid >> 32) != key || (uint32_t)sid >= TC_FORGED)
			tc_fail("the receive socket read %s (id %" PRIx64 ")",
				what, sid);
	}
}

/*
 * Direct receive's receive socket, as a hostile client sees it: locked
 * filter; its own single-packet responses arrive (the control), nobody
 * else's: not other connections' (with and without direct receive), not
 * forged ones of another key, port or shape; and once its connection is
 * gone a kept descriptor sees nothing of the next connection's.
 */
static int tc_rxprobe(const char *path, const char *dest, uint32_t port)
{
	struct sock_filter all = BPF_STMT(BPF_RET | BPF_K, 0xffffffff);
	struct sock_fprog prog = {.len = 1, .filter = &all};
	struct tc t, t2, t3, t4;
	uint8_t addr[16], buf[2048];
	size_t alen = tc_addr(AF_INET, dest, addr);
	int v, rfd, rfd2, stale, raw;
	socklen_t vl = sizeof(v);
	uint64_t key, id;
	uint16_t sport;
	ssize_t n;

	tc_drx_open(&t, path);
	rfd = tc_drx_fd(&t);
	raw = t.dfds[0];
	if (getsockopt(rfd, SOL_SOCKET, SO_PROTOCOL, &v, &vl) < 0 || v != 146)
		tc_fail("the receive socket is not raw protocol 146 (%d)", v);
	tc_must_fail(setsockopt(rfd, SOL_SOCKET, SO_DETACH_FILTER, NULL, 0),
		     "detaching the receive socket's filter");
	tc_must_fail(setsockopt(rfd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
				sizeof(prog)),
		     "replacing the receive socket's filter");
	key = t.id_next >> 32;

	/* The control: our own echoes of 100 bytes come to the socket,
	 * whole and byte-exact, and homad delivers nothing. */
	for (int round = 0; round < 10; round++) {
		id = tc_next_id(&t);
		memset(t.tx, 'a' + round, 100);
		if (tc_send_request(&t, id, addr, alen, port, 1, false, 0, 100,
				    false) < 0)
			tc_fail("send: %s", strerror(errno));
		n = tc_drx_expect(rfd, id | 1, buf, sizeof(buf),
				  "our response");
		if (n != (ssize_t)((size_t)(buf[0] & 0xf) * 4 + 56 + 100) ||
		    buf[n - 1] != 'a' + round)
			tc_fail("round %d: not our response", round);
	}

	/* Forged: another key, another port, a request, a multi-packet
	 * message, an ack, an offset, no key: none comes; then the right one
	 * does. */
	sport = (uint16_t)t.port;
	tc_drx_forge(raw, sport, ((key ^ 1) << 32) | TC_FORGED | 3,
		     TC_FORGE_OK);
	tc_drx_forge(raw, (uint16_t)(sport + 1), (key << 32) | TC_FORGED | 3,
		     TC_FORGE_OK);
	tc_drx_forge(raw, sport, (key << 32) | TC_FORGED | 2, TC_FORGE_OK);
	tc_drx_forge(raw, sport, (key << 32) | TC_FORGED | 3, TC_FORGE_MULTI);
	tc_drx_forge(raw, sport, (key << 32) | TC_FORGED | 3, TC_FORGE_ACK);
	tc_drx_forge(raw, sport, (key << 32) | TC_FORGED | 3, TC_FORGE_OFFSET);
	tc_drx_forge(raw, sport, TC_FORGED | 3, TC_FORGE_OK);
	tc_drx_none(rfd, 200, key, "a forged packet it must not pass");
	tc_drx_forge(raw, sport, (key << 32) | TC_FORGED | 5, TC_FORGE_OK);
	tc_drx_expect(rfd, (key << 32) | TC_FORGED | 5, buf, sizeof(buf),
		      "a well-formed response of our key");

	/* Other connections: one with direct receive (its own socket gets
	 * its responses), one without (homad delivers them). */
	tc_drx_open(&t2, path);
	rfd2 = tc_drx_fd(&t2);
	tc_open(&t3, path, AF_INET, 4u * HOMA_SHM_BPAGE_SIZE, TC_SLOT);
	for (int round = 0; round < 10; round++) {
		id = tc_next_id(&t2);
		memset(t2.tx, 'A' + round, 100);
		if (tc_send_request(&t2, id, addr, alen, port, 1, false, 0, 100,
				    false) < 0)
			tc_fail("send: %s", strerror(errno));
		tc_drx_expect(rfd2, id | 1, buf, sizeof(buf),
			      "the other connection's response");
		id = tc_next_id(&t3);
		memset(t3.tx, 'A' + round, 100);
		if (tc_send_request(&t3, id, addr, alen, port, 1, false, 0, 100,
				    false) < 0)
			tc_fail("send: %s", strerror(errno));
		tc_await_response(&t3, id, "no response through homad");
		tc_drx_none(rfd, 0, key, "another connection's response");
	}
	tc_drx_none(rfd, 200, key, "another connection's response");

	/* A descriptor kept after its connection ended: the next
	 * connection's responses (another key) never reach it, even sent to
	 * the port it had. */
	stale = dup(rfd);
	if (stale < 0)
		tc_fail("dup: %s", strerror(errno));
	tc_close(&t);
	tc_drx_open(&t4, path);
	id = tc_next_id(&t4);
	memset(t4.tx, 'z', 100);
	if (tc_send_request(&t4, id, addr, alen, port, 1, false, 0, 100,
			    false) < 0)
		tc_fail("send: %s", strerror(errno));
	tc_drx_expect(tc_drx_fd(&t4), id | 1, buf, sizeof(buf),
		      "the new connection's response");
	/* (t's raw socket went with it: t4's.) */
	tc_drx_forge(t4.dfds[0], sport,
		     (t4.id_next & ~0xffffffffull) | TC_FORGED | 7,
		     TC_FORGE_OK);
	tc_drx_none(stale, 300, key, "a later connection's packet");
	printf("rxprobe: own responses received, other connections' and "
	       "forged ones not, a kept descriptor sees nothing later, the "
	       "filter locked\n");
	close(stale);
	tc_close(&t2);
	tc_close(&t3);
	tc_close(&t4);
	return 0;
}

/* ---- direct receive of requests ---------------------------------------- */

#ifndef SO_BINDTOIFINDEX
#define SO_BINDTOIFINDEX 62
#endif

/* Drop every capability (CAP_NET_RAW too), as an unprivileged client. */
static void tc_drop_caps(void)
{
	struct {
		uint32_t version;
		int pid;
	} hdr = {0x20080522, 0}; /* _LINUX_CAPABILITY_VERSION_3 */
	uint32_t data[6] = {0};
	int fd;

	if (syscall(SYS_capset, &hdr, data) < 0)
		tc_fail("capset: %s", strerror(errno));
	fd = socket(AF_INET, SOCK_RAW, 146);
	if (fd >= 0)
		tc_fail("a raw socket could still be opened: capabilities "
			"not dropped");
}

/* Bind t to port asking for a request socket: it, or a failure. */
static int tc_srx_bind(struct tc *t, uint32_t port)
{
	Homa__Client__ClientMsg m = HOMA__CLIENT__CLIENT_MSG__INIT;
	Homa__Client__Bind b = HOMA__CLIENT__BIND__INIT;
	Homa__Client__DaemonMsg *d;
	unsigned had = t->n_dfds;

	b.port = port;
	b.direct_requests = true;
	m.cmd_case = HOMA__CLIENT__CLIENT_MSG__CMD_BIND;
	m.bind = &b;
	d = tc_call(t, &m);
	if (d->reply->error != 0 || d->reply->port != port)
		tc_fail("bind %u: %s (port %u)", port,
			strerror(d->reply->error), d->reply->port);
	if (!d->reply->direct_requests)
		tc_fail("bind %u: no request socket: %s", port,
			d->reply->direct_requests_refusal);
	if (t->n_dfds != had + 1)
		tc_fail("bind %u: %u descriptors came with the Reply", port,
			t->n_dfds - had);
	homa__client__daemon_msg__free_unpacked(d, NULL);
	return t->dfds[t->n_dfds - 1];
}

/* Read fd for ms: fail on any packet at all. */
static void tc_srx_none(int fd, int ms, const char *what)
{
	uint8_t buf[2048];
	ssize_t n = tc_drx_read(fd, ms, buf, sizeof(buf));

	if (n > 0)
		tc_fail("the request socket read %s (id %" PRIx64 ")", what,
			tc_drx_sid(buf, n));
}

/*
 * A request socket as a hostile server sees it, without CAP_NET_RAW: its
 * filter locked; whole requests to its port arrive (with or without an
 * ack), nothing else (another port, a response, a longer message, an
 * offset); once its port is released (the connection closes) a kept
 * descriptor receives nothing, not even requests to that port for the
 * next server bound there, and cannot be bound back.
 */
static int tc_srxprobe(const char *path, uint32_t port)
{
	struct sock_filter all = BPF_STMT(BPF_RET | BPF_K, 0xffffffff);
	struct sock_fprog prog = {.len = 1, .filter = &all};
	struct tc t, t2;
	uint8_t buf[2048];
	int srx, srx2, stale, raw, v = 0;
	uint16_t p = (uint16_t)port;

	tc_drop_caps();
	tc_drx_open(&t, path);
	raw = t.dfds[0];
	srx = tc_srx_bind(&t, port);
	tc_must_fail(setsockopt(srx, SOL_SOCKET, SO_DETACH_FILTER, NULL, 0),
		     "detaching the request socket's filter");
	tc_must_fail(setsockopt(srx, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
				sizeof(prog)),
		     "replacing the request socket's filter");

	/* Whole requests to its port, with and without an ack. */
	tc_drx_forge(raw, p, TC_FORGED | 0x10, TC_FORGE_OK);
	tc_drx_expect(srx, TC_FORGED | 0x10, buf, sizeof(buf),
		      "a whole request");
	tc_drx_forge(raw, p, TC_FORGED | 0x12, TC_FORGE_ACK);
	tc_drx_expect(srx, TC_FORGED | 0x12, buf, sizeof(buf),
		      "a whole request with an ack");
	/* Nothing else. */
	tc_drx_forge(raw, (uint16_t)(p + 1), TC_FORGED | 0x14, TC_FORGE_OK);
	tc_drx_forge(raw, p, TC_FORGED | 0x15, TC_FORGE_OK);
	tc_drx_forge(raw, p, TC_FORGED | 0x16, TC_FORGE_MULTI);
	tc_drx_forge(raw, p, TC_FORGED | 0x18, TC_FORGE_OFFSET);
	tc_srx_none(srx, 300, "a packet its filter must not pass");

	/* Revoked with the port: a kept descriptor reads nothing more and
	 * cannot be bound back to any device. */
	stale = dup(srx);
	if (stale < 0)
		tc_fail("dup: %s", strerror(errno));
	tc_close(&t);
	/* homad revokes it when it sees the connection end. */
	for (uint64_t end = tc_now_ms() + TC_TIMEOUT_MS;;) {
		socklen_t vl = sizeof(v);

		if (getsockopt(stale, SOL_SOCKET, SO_BINDTOIFINDEX, &v, &vl) <
		    0)
			tc_fail("SO_BINDTOIFINDEX: %s", strerror(errno));
		if (v != 0)
			break;
		if (tc_now_ms() > end)
			tc_fail("the request socket was not revoked");
		usleep(1000);
	}
	v = 0;
	tc_must_fail(
		setsockopt(stale, SOL_SOCKET, SO_BINDTOIFINDEX, &v, sizeof(v)),
		"binding a revoked request socket back");
	v = 1;
	tc_must_fail(
		setsockopt(stale, SOL_SOCKET, SO_BINDTOIFINDEX, &v, sizeof(v)),
		"binding a revoked request socket to loopback");
	tc_drx_open(&t2, path);
	srx2 = tc_srx_bind(&t2, port);
	tc_drx_forge(t2.dfds[0], p, TC_FORGED | 0x20, TC_FORGE_OK);
	tc_drx_expect(srx2, TC_FORGED | 0x20, buf, sizeof(buf),
		      "the next server's request");
	tc_srx_none(stale, 300, "the next server's request");
	printf("srxprobe: whole requests to its port received, nothing "
	       "else; the filter locked; revoked with the port (a kept "
	       "descriptor reads nothing of the next server's, cannot be "
	       "bound back without CAP_NET_RAW)\n");
	close(stale);
	tc_close(&t2);
	return 0;
}

static void tc_usage(void)
{
	fprintf(stderr,
		"usage: chan_test "
		"server|client|hold|unbound|hostile|direct|rxprobe|srxprobe|"
		"info "
		"-s SOCK -f 4|6 [options] (see the source)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"family", required_argument, NULL, 'f'},
		{"dest", required_argument, NULL, 'd'},
		{"port", required_argument, NULL, 'p'},
		{"sizes", required_argument, NULL, 'z'},
		{"size", required_argument, NULL, 'Z'},
		{"concurrency", required_argument, NULL, 'c'},
		{"rounds", required_argument, NULL, 'r'},
		{"count", required_argument, NULL, 'n'},
		{"private", no_argument, NULL, 'P'},
		{"sink", no_argument, NULL, 'k'},
		{"ready", required_argument, NULL, 'R'},
		{"case", required_argument, NULL, 'C'},
		{"within", required_argument, NULL, 'w'},
		{"uid", required_argument, NULL, 'U'},
		{"gid", required_argument, NULL, 'G'},
		{"expect", required_argument, NULL, 'E'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd, *sock = NULL, *dest = NULL, *sizes = "1";
	const char *ready = NULL, *hcase = NULL;
	unsigned conc = 1, rounds = 1, count = 1, within = 1000;
	uint32_t port = 0, size = 1000;
	bool priv = false, sink = false;
	long uid = -1, gid = -1;
	int expect = 0;
	int family = AF_INET, opt;

	if (argc < 2)
		tc_usage();
	cmd = argv[1];
	optind = 2;
	while ((opt = getopt_long(argc, argv, "s:f:d:p:c:r:n:", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'f':
			family = strcmp(optarg, "6") == 0 ? AF_INET6 : AF_INET;
			break;
		case 'd':
			dest = optarg;
			break;
		case 'p':
			port = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'z':
			sizes = optarg;
			break;
		case 'Z':
			size = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'c':
			conc = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'r':
			rounds = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'n':
			count = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'P':
			priv = true;
			break;
		case 'k':
			sink = true;
			break;
		case 'R':
			ready = optarg;
			break;
		case 'C':
			hcase = optarg;
			break;
		case 'w':
			within = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'U':
			uid = strtol(optarg, NULL, 10);
			break;
		case 'G':
			gid = strtol(optarg, NULL, 10);
			break;
		case 'E':
			expect = (int)strtol(optarg, NULL, 10);
			break;
		default:
			tc_usage();
		}
	}
	if (!sock)
		tc_usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(cmd, "server") == 0)
		return tc_server(sock, family, port, sink, ready);
	if (strcmp(cmd, "info") == 0)
		return tc_info(sock, family);
	if (strcmp(cmd, "limit") == 0)
		return tc_limit(sock, family, count);
	if (strcmp(cmd, "bind") == 0)
		return tc_bind_as(sock, family, port, uid, gid, expect);
	if (strcmp(cmd, "hostile") == 0) {
		if (!hcase)
			tc_usage();
		return tc_hostile(sock, family, hcase, dest, port ? port : 1);
	}
	if (strcmp(cmd, "srxprobe") == 0 && port != 0)
		return tc_srxprobe(sock, port);
	if (!dest || port == 0)
		tc_usage();
	if (strcmp(cmd, "client") == 0)
		return tc_client(sock, family, dest, port, sizes, conc, rounds,
				 priv);
	if (strcmp(cmd, "direct") == 0)
		return tc_direct(sock, family, hcase ? hcase : "probe", dest,
				 port);
	if (strcmp(cmd, "hold") == 0)
		return tc_hold(sock, family, dest, port, count, size, ready);
	if (strcmp(cmd, "rxprobe") == 0)
		return tc_rxprobe(sock, dest, port);
	if (strcmp(cmd, "unbound") == 0)
		return tc_unbound(sock, family, dest, port, within);
	tc_usage();
	return 2;
}
