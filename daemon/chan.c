/*
 * chan.c - the client channel's io_uring shell (see chan.h).
 *
 * What a client's bytes mean is daemon/session.c's: each connection holds
 * one struct session, which takes the datagrams this file receives and
 * gives back the event datagrams this file sends, and whose state says
 * when the connection ends (session.h has the lifecycle).  This file does
 * the I/O: the multishot accept, one recvmsg at a time per connection and
 * the extraction of its SCM_RIGHTS descriptors, the sends of the events as
 * linked chains, the shutdown and cancel of a connection that ends, and
 * the table of connections.
 *
 * session_fail() only marks a session DOOMED (it may run inside an engine
 * callback, where the engine must not be re-entered); chan_flush() closes
 * the marked ones.  A closed connection has no engine socket any more; it
 * is freed (fd closed, regions unmapped) once no io_uring request of it is
 * in flight and the engine has released every message it lent
 * (dead RPCs are reaped a few ticks later).
 *
 * Every io_uring request carries a struct chan_op (tag URING_TAG_CHAN):
 * the listener's accept and retry timer, a connection's recvmsg, one
 * event's send.
 *
 * A lone event (a chain of one) of an open session is sent without a
 * completion on success (uring.h, "Sends that post no completion"), so
 * that sending it does not end the data plane's wait at once: its op waits
 * on the unconfirmed list until chan_confirm sees its SQE consumed with no
 * failure posted.  If the
 * client's socket is full (-EAGAIN), it is sent again as an ordinary send,
 * which waits for room.  Chains of several events stay linked sends with
 * completions (the kernel issues a chain's later sends after the first
 * completes, not while its SQEs are consumed).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "chan.h"
#include "homa_shm.h"
#include "linkpkt.h"
#include "log.h"
#include "session.h"

/* Events submitted as one linked chain. */
#define CHAN_SEND_BATCH 32
/* Pause of the listener after accept failed (out of descriptors...). */
#define CHAN_ACCEPT_RETRY_SEC 1

enum chan_op_kind {
	CHAN_OP_ACCEPT, /* multishot accept of the listener */
	CHAN_OP_RETRY,	/* timeout: re-arm the accept */
	CHAN_OP_RECV,	/* a connection's recvmsg */
	CHAN_OP_SEND,	/* one event datagram */
};

/* What a completion of the channel is about (its user_data pointer). */
struct chan_op {
	enum chan_op_kind kind;
	struct chan_conn *conn; /* RECV, SEND */
	struct session_ev *ev;	/* SEND */
	/* SEND without completion on success: on chan.unconfirmed. */
	bool skip;
	unsigned sqe_idx; /* its SQE's index in the SQ (not masked) */
	TAILQ_ENTRY(chan_op) unconf;
};

/* One client connection: its session and its I/O. */
struct chan_conn {
	struct session s;	     /* first: the engine's socket cookie */
	TAILQ_ENTRY(chan_conn) link; /* chan->conns or chan->closing */
	int fd;
	bool counted; /* in chan->n_clients, on chan->conns */

	/* Receiving: one recvmsg at a time. */
	struct chan_op recv_op;
	bool recv_armed;
	bool recv_paused; /* too many events waiting: not re-armed */
	struct msghdr rx_msg;
	struct iovec rx_iov;
	struct {
		_Alignas(struct cmsghdr) char buf[CMSG_SPACE(sizeof(int) *
							     SESSION_MAX_FDS)];
	} rx_ctl;
	uint8_t *rx_buf; /* HOMA_CLIENT_MAX_DATAGRAM + 1 bytes */

	/* The one event with descriptors (the OpenReply granting direct
	 * send, SCM_RIGHTS): a sendmsg. */
	struct msghdr tx_mh;
	struct iovec tx_iov;
	struct {
		_Alignas(struct cmsghdr) char buf[CMSG_SPACE(
			sizeof(int) * SESSION_DIRECT_FDS)];
	} tx_ctl;

	/* Sending: one chain at a time (session.n_sending of these). */
	struct chan_op send_ops[CHAN_SEND_BATCH];

	unsigned inflight; /* io_uring requests in flight */
};

TAILQ_HEAD(chan_connq, chan_conn);

struct chan {
	struct uring *u;
	struct session_host h;	/* cfg, stats, dirty sessions, clients */
	struct session_ops ops; /* memfd ops + chan_peer_groups */
	int listen_fd;

	struct chan_op accept_op;
	struct chan_op retry_op;
	bool accept_armed;
	bool retry_armed;
	struct __kernel_timespec retry_ts;
	bool stopping;

	/* Sends without completion on success, in SQE order. */
	TAILQ_HEAD(, chan_op) unconfirmed;

	struct chan_connq conns;   /* live (OPENING .. DOOMED) */
	struct chan_connq closing; /* CLOSED, not yet freed */
	unsigned n_clients;
	uint64_t next_serial;

	/* Direct send: homad's peer table (NULL: not offered). */
	struct homa_direct_table *table;
	int table_fd;
	bool udp; /* the udp link */
	/* Direct receive: the link's filters (NULL: not offered). */
	chan_drx_fn drx_fn;
	void *drx_arg;
	/* homad can revoke a request socket (chan_srx_revocable). */
	bool can_revoke;
};

static struct chan_conn *chan_conn_of(struct session *s)
{
	return s->owner;
}

/* ---- sending events --------------------------------------------------- */

/*
 * Submit up to CHAN_SEND_BATCH queued events of cn as one linked chain
 * (a later chain only once this one completed: the order is kept).
 */
static void chan_conn_send(struct chan *c, struct chan_conn *cn)
{
	struct session *s = &cn->s;
	unsigned n = 0, max = CHAN_SEND_BATCH;
	struct io_uring_sqe *prev = NULL;
	struct session_ev *ev;

	if (s->n_sending > 0 || s->n_evq == 0)
		return;
	if (max > c->u->ring.sq.ring_entries / 2)
		max = c->u->ring.sq.ring_entries / 2;
	if (max == 0)
		max = 1;
	if (max > s->n_evq)
		max = s->n_evq;
	if (uring_reserve(c->u, max) < 0) {
		log_warnx("client %" PRIu64 ": no submission entries for its "
			  "events",
			  s->serial);
		session_fail(s, NULL, "io_uring full");
		return;
	}
	/* uring_reserve made room for all max. */
	while (n < max && (ev = session_ev_next(s)) != NULL) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&c->u->ring);
		struct chan_op *op = &cn->send_ops[n];

		op->kind = CHAN_OP_SEND;
		op->conn = cn;
		op->ev = ev;
		/*
		 * Nothing waits for a lone event's send of an open session:
		 * it is confirmed after the wait that submits it, whatever
		 * ends that wait.  A lingering session closes once its last
		 * event is sent: that send must end the wait.  An event that
		 * passes descriptors (the OpenReply of direct send) keeps its
		 * completion: they are closed when it is done.
		 */
		op->skip = max == 1 && ev->n_fds == 0 &&
			   (s->state == SESS_OPEN || s->state == SESS_OPENING);
		if (ev->n_fds > 0 && ev->n_fds <= SESSION_DIRECT_FDS) {
			struct cmsghdr *cm;

			memset(&cn->tx_mh, 0, sizeof(cn->tx_mh));
			memset(&cn->tx_ctl, 0, sizeof(cn->tx_ctl));
			cn->tx_iov.iov_base = ev->buf;
			cn->tx_iov.iov_len = ev->len;
			cn->tx_mh.msg_iov = &cn->tx_iov;
			cn->tx_mh.msg_iovlen = 1;
			cn->tx_mh.msg_control = cn->tx_ctl.buf;
			cn->tx_mh.msg_controllen =
				CMSG_SPACE(ev->n_fds * sizeof(int));
			cm = CMSG_FIRSTHDR(&cn->tx_mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(ev->n_fds * sizeof(int));
			memcpy(CMSG_DATA(cm), ev->fds, ev->n_fds * sizeof(int));
			io_uring_prep_sendmsg(sqe, cn->fd, &cn->tx_mh,
					      MSG_NOSIGNAL);
		} else {
			io_uring_prep_send(
				sqe, cn->fd, ev->buf, ev->len,
				MSG_NOSIGNAL | (op->skip ? MSG_DONTWAIT : 0));
		}
		io_uring_sqe_set_data64(sqe, uring_data(op, URING_TAG_CHAN));
		if (op->skip) {
			io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
			op->sqe_idx = c->u->ring.sq.sqe_tail - 1;
			TAILQ_INSERT_TAIL(&c->unconfirmed, op, unconf);
		}
		if (prev)
			prev->flags |= IOSQE_IO_LINK;
		prev = sqe;
		n++;
		cn->inflight++;
		c->h.stats.chan_events++;
	}
}

/*
 * op's send without completion on success found the client's socket full:
 * queue it again as an ordinary send, which waits for room.  False when
 * stopping or when no SQE can be had.
 */
static bool chan_send_again(struct chan *c, struct chan_op *op)
{
	struct io_uring_sqe *sqe;

	if (c->stopping)
		return false;
	sqe = uring_sqe(c->u);
	if (!sqe)
		return false;
	io_uring_prep_send(sqe, op->conn->fd, op->ev->buf, op->ev->len,
			   MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, uring_data(op, URING_TAG_CHAN));
	return true;
}

static void chan_conn_maybe_free(struct chan *c, struct chan_conn *cn);

/* The send of op is done with result res (>= 0: bytes sent). */
static void chan_send_done(struct chan *c, struct chan_op *op, int res,
			   uint64_t now)
{
	struct chan_conn *cn = op->conn;

	cn->inflight--;
	session_ev_done(&cn->s, op->ev, res, now);
	op->ev = NULL;
	chan_conn_maybe_free(c, cn);
}

/* ---- receiving -------------------------------------------------------- */

static void chan_conn_arm_recv(struct chan *c, struct chan_conn *cn)
{
	struct io_uring_sqe *sqe;

	if (cn->recv_armed || c->stopping)
		return;
	if (!session_wants_recv(&cn->s)) {
		if (session_recv_paused(&cn->s))
			cn->recv_paused = true;
		return;
	}
	sqe = uring_sqe(c->u);
	if (!sqe) {
		session_fail(&cn->s, NULL, "io_uring full");
		return;
	}
	cn->recv_paused = false;
	cn->rx_iov.iov_base = cn->rx_buf;
	cn->rx_iov.iov_len = HOMA_CLIENT_MAX_DATAGRAM + 1;
	memset(&cn->rx_msg, 0, sizeof(cn->rx_msg));
	cn->rx_msg.msg_iov = &cn->rx_iov;
	cn->rx_msg.msg_iovlen = 1;
	cn->rx_msg.msg_control = cn->rx_ctl.buf;
	cn->rx_msg.msg_controllen = sizeof(cn->rx_ctl.buf);
	io_uring_prep_recvmsg(sqe, cn->fd, &cn->rx_msg, MSG_CMSG_CLOEXEC);
	io_uring_sqe_set_data64(sqe, uring_data(&cn->recv_op, URING_TAG_CHAN));
	cn->recv_armed = true;
	cn->inflight++;
}

/*
 * The descriptors of the datagram just received, into fds[0..*n) (at most
 * SESSION_MAX_FDS).  Returns -EPROTO for anything but SCM_RIGHTS, or a
 * truncated control part (the descriptors that came are still returned,
 * for the session to close).
 */
static int chan_rx_fds(struct msghdr *msg, int *fds, unsigned *n)
{
	struct cmsghdr *cm;
	int r = 0;

	*n = 0;
	if (msg->msg_flags & MSG_CTRUNC)
		r = -EPROTO;
	if (msg->msg_controllen == 0)
		return r;
	for (cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		size_t len, k;

		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS) {
			r = -EPROTO;
			continue;
		}
		len = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < len && *n < SESSION_MAX_FDS; k++)
			memcpy(&fds[(*n)++], CMSG_DATA(cm) + k * sizeof(int),
			       sizeof(int));
	}
	return r;
}

/* A datagram (res bytes, or an error) arrived on cn. */
static void chan_recv_done(struct chan *c, struct chan_conn *cn, int res,
			   uint64_t now)
{
	int fds[SESSION_MAX_FDS];
	unsigned nfds = 0;
	int r = 0;

	cn->recv_armed = false;
	if (res > 0) {
		/* What the kernel wrote: the datagram and the control data. */
		uring_kernel_wrote(cn->rx_buf, (size_t)res < cn->rx_iov.iov_len
						       ? (size_t)res
						       : cn->rx_iov.iov_len);
		uring_kernel_wrote(cn->rx_ctl.buf,
				   cn->rx_msg.msg_controllen <
						   sizeof(cn->rx_ctl.buf)
					   ? cn->rx_msg.msg_controllen
					   : sizeof(cn->rx_ctl.buf));
		r = chan_rx_fds(&cn->rx_msg, fds, &nfds);
	}
	session_recv(&cn->s, res, cn->rx_buf, fds, nfds, r < 0, now);
	if (res > 0)
		chan_conn_arm_recv(c, cn);
}

/* ---- connections ------------------------------------------------------ */

/* Free cn if nothing refers to it any more. */
static void chan_conn_maybe_free(struct chan *c, struct chan_conn *cn)
{
	/* A dirty one is on a flush list: chan_flush frees it. */
	if (!session_releasable(&cn->s) || cn->inflight > 0 || cn->s.dirty)
		return;
	TAILQ_REMOVE(&c->closing, cn, link);
	session_fini(&cn->s);
	if (cn->fd >= 0)
		close(cn->fd);
	free(cn->rx_buf);
	free(cn);
}

/*
 * End cn: its session closes its engine socket; shut the connection down
 * (its requests in flight complete), and free it once they have and the
 * engine released its messages.
 */
static void chan_conn_close(struct chan *c, struct chan_conn *cn,
			    const char *reason, uint64_t now)
{
	if (!session_live(&cn->s))
		return;
	if (cn->counted) {
		TAILQ_REMOVE(&c->conns, cn, link);
		TAILQ_INSERT_TAIL(&c->closing, cn, link);
		c->n_clients--;
		cn->counted = false;
	}
	session_close(&cn->s, reason, now);
	/*
	 * Wake our recvmsg (EOF) and sends (EPIPE), and cancel them for good
	 * measure; the client sees EOF.
	 */
	if (cn->inflight > 0) {
		struct io_uring_sqe *sqe = uring_sqe(c->u);

		shutdown(cn->fd, SHUT_RDWR);
		if (sqe) {
			io_uring_prep_cancel_fd(sqe, cn->fd,
						IORING_ASYNC_CANCEL_ALL);
			io_uring_sqe_set_data64(
				sqe, uring_data(NULL, URING_TAG_INTERNAL));
		}
	}
	chan_conn_maybe_free(c, cn);
}

/* Refuse a connection beyond the limits: say why, close it. */
static void chan_refuse(int fd, int error, const char *why)
{
	uint8_t buf[512];
	size_t len = session_pack_refusal(error, why, buf, sizeof(buf));

	/* Non-blocking; the client reads it, then EOF. */
	if (len > 0 && send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("client refused: send: %s", strerror(errno));
	close(fd);
}

/* The client's supplementary groups (session_ops.peer_groups). */
static int chan_peer_groups(void *arg, const struct session *s,
			    uint32_t *groups, unsigned max)
{
	const struct chan_conn *cn = s->owner;
	gid_t g[256];
	socklen_t len = sizeof(g);
	unsigned n;

	(void)arg;
	if (getsockopt(cn->fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0)
		return -1;
	n = len / sizeof(gid_t);
	if (n > max)
		n = max;
	for (unsigned i = 0; i < n; i++)
		groups[i] = (uint32_t)g[i];
	return (int)n;
}

/* A new connection fd. */
static void chan_accept(struct chan *c, int fd)
{
	struct chan_conn *cn;
	struct session_client *cl;
	struct ucred cr;
	socklen_t len = sizeof(cr);
	const char *why;
	int err;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		log_warn("client socket: SO_PEERCRED");
		close(fd);
		return;
	}
	if (c->stopping) {
		close(fd);
		return;
	}
	err = session_admit(&c->h, cr.pid, c->n_clients, &cl, &why);
	if (err != 0) {
		log_notice("client pid %d uid %u refused: %s (%u clients)",
			   (int)cr.pid, (unsigned)cr.uid, why, c->n_clients);
		chan_refuse(fd, err, why);
		return;
	}
	cn = calloc(1, sizeof(*cn));
	if (cn)
		cn->rx_buf = malloc(HOMA_CLIENT_MAX_DATAGRAM + 1);
	if (!cn || !cn->rx_buf) {
		free(cn);
		session_unadmit(&c->h, cl);
		chan_refuse(fd, ENOMEM, "homad is out of memory");
		return;
	}
	session_init(&cn->s, &c->h, cl, cn, ++c->next_serial, cr.pid, cr.uid,
		     cr.gid);
	cn->fd = fd;
	cn->recv_op.kind = CHAN_OP_RECV;
	cn->recv_op.conn = cn;
	TAILQ_INSERT_TAIL(&c->conns, cn, link);
	cn->counted = true;
	c->n_clients++;
	log_debug("client %" PRIu64 ": pid %d uid %u gid %u connected",
		  cn->s.serial, (int)cr.pid, (unsigned)cr.uid,
		  (unsigned)cr.gid);
	chan_conn_arm_recv(c, cn);
}

static void chan_arm_accept(struct chan *c)
{
	struct io_uring_sqe *sqe;

	if (c->accept_armed || c->retry_armed || c->stopping)
		return;
	sqe = uring_sqe(c->u);
	if (!sqe)
		return;
	io_uring_prep_multishot_accept(sqe, c->listen_fd, NULL, NULL,
				       SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, uring_data(&c->accept_op, URING_TAG_CHAN));
	c->accept_armed = true;
}

/* Accept failed (e.g. out of descriptors): try again in a while. */
static void chan_arm_retry(struct chan *c)
{
	struct io_uring_sqe *sqe;

	if (c->retry_armed || c->stopping)
		return;
	sqe = uring_sqe(c->u);
	if (!sqe)
		return;
	c->retry_ts.tv_sec = CHAN_ACCEPT_RETRY_SEC;
	c->retry_ts.tv_nsec = 0;
	io_uring_prep_timeout(sqe, &c->retry_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, uring_data(&c->retry_op, URING_TAG_CHAN));
	c->retry_armed = true;
}

/* ---- direct send ------------------------------------------------------ */

/* A sealed memfd of len bytes mapped read-write at *map: fd or -errno. */
static int chan_memfd(const char *name, size_t len, void **map)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING), e;
	void *p;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len) < 0)
		goto fail;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	/* The client cannot take the pages from under homad's mapping. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) <
	    0) {
		e = errno;
		munmap(p, len);
		close(fd);
		return -e;
	}
	*map = p;
	return fd;
fail:
	e = errno;
	close(fd);
	return -e;
}

/*
 * Give fd (a client's direct socket) the locked filter prog, then throw
 * away what it queued before: that is not the client's to read.  0 or a
 * positive errno.
 */
static int chan_lock_filter(int fd, const struct sock_fprog *prog)
{
	int one = 1;
	char junk[1];

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, prog, sizeof(*prog)) <
		    0 ||
	    setsockopt(fd, SOL_SOCKET, SO_LOCK_FILTER, &one, sizeof(one)) < 0)
		return errno;
	while (recv(fd, junk, sizeof(junk), MSG_DONTWAIT | MSG_TRUNC) >= 0)
		;
	return 0;
}

/*
 * Bind fd (a client's direct socket of family) to homad's own address of
 * that family and its one interface, if it has them: 0, or a positive
 * errno with a reason in why.
 */
static int chan_direct_bind(struct chan *c, int fd, int family,
			    const char *what, char *why, size_t whylen)
{
	int e;

	for (unsigned i = 0; i < c->h.cfg.n_addresses; i++) {
		const struct homa_conf_addr *a = &c->h.cfg.addresses[i];
		union {
			struct sockaddr sa;
			struct sockaddr_in v4;
			struct sockaddr_in6 v6;
		} sa;
		socklen_t len;

		if (a->family != family)
			continue;
		memset(&sa, 0, sizeof(sa));
		if (family == AF_INET) {
			sa.v4.sin_family = AF_INET;
			sa.v4.sin_addr = a->a.v4;
			len = sizeof(sa.v4);
		} else {
			sa.v6.sin6_family = AF_INET6;
			sa.v6.sin6_addr = a->a.v6;
			len = sizeof(sa.v6);
		}
		if (bind(fd, &sa.sa, len) < 0) {
			e = errno;
			snprintf(why, whylen, "%s socket: bind %s: %s", what,
				 a->text, strerror(e));
			return e;
		}
		break;
	}
	if (c->h.cfg.n_interfaces == 1 &&
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, c->h.cfg.interfaces[0],
		       (socklen_t)strnlen(c->h.cfg.interfaces[0],
					  IF_NAMESIZE)) < 0) {
		e = errno;
		snprintf(why, whylen, "%s socket: SO_BINDTODEVICE: %s", what,
			 strerror(e));
		return e;
	}
	return 0;
}

/*
 * A send-only socket of family for a direct-send client, from homad's own
 * address of that family and its interface (the peer answers there).  The
 * ip link's IPv4 socket is IPPROTO_RAW, which the kernel gives no packet;
 * the others (IPv6 raw protocol 146, which sees every Homa packet of the
 * host, and UDP, which has a port of its own that homads never send to:
 * they answer at udp_port) get a locked filter that drops every packet,
 * then lose what came before it, and the smallest receive buffer.  The
 * socket into *fd: 0, or a positive errno with a reason in why.
 */
static int chan_direct_sock(struct chan *c, int family, int *fd, char *why,
			    size_t whylen)
{
	struct sock_filter drop = BPF_STMT(BPF_RET | BPF_K, 0);
	struct sock_fprog prog = {.len = 1, .filter = &drop};
	const char *what = c->udp ? (family == AF_INET6 ? "udp6" : "udp")
				  : (family == AF_INET6 ? "raw6" : "raw");
	int one = 1, small = 1, e;

	if (c->udp)
		*fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
	else if (family == AF_INET6)
		*fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, HOMA_IPPROTO);
	else
		*fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (*fd < 0) {
		e = errno;
		snprintf(why, whylen, "%s socket: %s", what, strerror(e));
		return e;
	}
	if (c->udp || family == AF_INET6) {
		e = chan_lock_filter(*fd, &prog);
		if (e == 0 && setsockopt(*fd, SOL_SOCKET, SO_RCVBUF, &small,
					 sizeof(small)) < 0)
			e = errno;
		if (e != 0) {
			snprintf(why, whylen, "%s socket: drop-all filter: %s",
				 what, strerror(e));
			goto fail;
		}
	}
	if (c->udp && family == AF_INET6 &&
	    setsockopt(*fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) {
		e = errno;
		snprintf(why, whylen, "%s socket: IPV6_V6ONLY: %s", what,
			 strerror(e));
		goto fail;
	}
	e = chan_direct_bind(c, *fd, family, what, why, whylen);
	if (e != 0)
		goto fail;
	return 0;
fail:
	close(*fd);
	*fd = -1;
	return e;
}

/*
 * session_ops.direct_open: socket, ring, read-only peer table, and for an
 * AF_INET6 session on a host with IPv6 the IPv6 socket.
 */
static int chan_direct_open(void *arg, struct session *s,
			    int fds[SESSION_DIRECT_FDS],
			    struct homa_direct_ring **ring, char *why,
			    size_t whylen)
{
	struct chan *c = arg;
	char path[64];
	void *map = NULL;
	int e;

	fds[3] = -1;
	if (!c->table) {
		snprintf(why, whylen, "no peer table");
		return ENOMEM;
	}
	if (c->h.cfg.n_interfaces > 1) {
		snprintf(why, whylen, "homad uses several interfaces");
		return EOPNOTSUPP;
	}
	e = chan_direct_sock(c, AF_INET, &fds[0], why, whylen);
	if (e != 0)
		return e;
	if (s->family == AF_INET6 && c->h.cfg.ipv6) {
		e = chan_direct_sock(c, AF_INET6, &fds[3], why, whylen);
		if (e != 0) {
			close(fds[0]);
			return e;
		}
	}
	fds[1] = chan_memfd("homad-direct-ring", sizeof(**ring), &map);
	if (fds[1] < 0) {
		e = -fds[1];
		snprintf(why, whylen, "ring memfd: %s", strerror(e));
		goto fail;
	}
	/* A new, read-only open of the table: the client cannot map it
	 * writable (nor add seals). */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", c->table_fd);
	fds[2] = open(path, O_RDONLY | O_CLOEXEC);
	if (fds[2] < 0) {
		e = errno;
		snprintf(why, whylen, "%s: %s", path, strerror(e));
		munmap(map, sizeof(**ring));
		close(fds[1]);
		goto fail;
	}
	*ring = map;
	return 0;
fail:
	close(fds[0]);
	if (fds[3] >= 0)
		close(fds[3]);
	fds[3] = -1;
	return e;
}

/*
 * A raw IPv4 socket of protocol 146 for a client into *fd: the locked
 * filter prog (emptied of what it queued before), a receive buffer of
 * rcvbuf bytes (0: the default), bound as the send socket.  0, or a
 * positive errno with a reason (what socket) in why.
 */
static int chan_raw_locked(struct chan *c, const struct sock_fprog *prog,
			   int rcvbuf, const char *what, int *fd, char *why,
			   size_t whylen)
{
	int e;

	*fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, HOMA_IPPROTO);
	if (*fd < 0) {
		e = errno;
		snprintf(why, whylen, "%s socket: %s", what, strerror(e));
		return e;
	}
	e = prog->len == 0 ? EINVAL : chan_lock_filter(*fd, prog);
	if (e != 0) {
		snprintf(why, whylen, "%s socket: filter: %s", what,
			 strerror(e));
		goto fail;
	}
	if (rcvbuf > 0 && setsockopt(*fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
				     sizeof(rcvbuf)) < 0)
		(void)setsockopt(*fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				 sizeof(rcvbuf));
	e = chan_direct_bind(c, *fd, AF_INET, what, why, whylen);
	if (e == 0)
		return 0;
fail:
	close(*fd);
	*fd = -1;
	return e;
}

/*
 * session_ops.direct_rx_open: a raw IPv4 socket of protocol 146 whose
 * locked filter keeps only the direct packets of (port, key) (linkpkt.h),
 * emptied of what it queued before the filter, bound as the send socket.
 */
static int chan_direct_rx_open(void *arg, struct session *s, uint16_t port,
			       uint32_t key, int *fd, char *why, size_t whylen)
{
	struct chan *c = arg;
	struct sock_filter f[LINKPKT_DRX_CLIENT_LEN];
	struct sock_fprog prog = {.filter = f};

	(void)s;
	*fd = -1;
	if (!c->drx_fn) {
		snprintf(why, whylen, "the link takes no direct receive");
		return EOPNOTSUPP;
	}
	prog.len = (unsigned short)linkpkt_drx_client_build(
		f, LINKPKT_DRX_CLIENT_LEN, port, key);
	return chan_raw_locked(c, &prog, 0, "receive", fd, why, whylen);
}

_Static_assert(SESSION_MAX_DIRECT_RX <= LINKPKT_DRX_MAX_PORTS &&
		       SESSION_MAX_DIRECT_SRX <= LINKPKT_DRX_MAX_PORTS,
	       "homad's filter names every direct-receive port");

#ifndef SO_BINDTOIFINDEX
#define SO_BINDTOIFINDEX 62
#endif
/* A request socket's receive buffer: bursts of requests wait there. */
#define CHAN_SRX_RCVBUF (4 << 20)
/* The device index a revoked request socket is bound to: none has it. */
#define CHAN_SRX_NOWHERE INT_MAX

/*
 * Can homad revoke a request socket?  That is binding a socket that is
 * bound to a device already to another, which takes CAP_NET_RAW: tried
 * once on a socket of its own.
 */
static bool chan_srx_revocable(void)
{
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, HOMA_IPPROTO);
	int none = CHAN_SRX_NOWHERE;
	bool ok;

	if (fd < 0)
		return false;
	ok = setsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &none,
			sizeof(none)) == 0 &&
	     setsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &none,
			sizeof(none)) == 0;
	close(fd);
	return ok;
}

/*
 * session_ops.direct_srx_open: a raw IPv4 socket of protocol 146 whose
 * locked filter keeps only the whole requests to port (linkpkt.h),
 * emptied of what it queued before the filter, bound as the send socket,
 * and a second descriptor of it for homad.
 */
static int chan_direct_srx_open(void *arg, struct session *s, uint16_t port,
				int *fd, int *keep, char *why, size_t whylen)
{
	struct chan *c = arg;
	struct sock_filter f[LINKPKT_DRX_SERVER_LEN];
	struct sock_fprog prog = {.filter = f};
	int e;

	(void)s;
	*fd = *keep = -1;
	if (!c->drx_fn || !c->can_revoke) {
		snprintf(why, whylen,
			 c->drx_fn ? "homad could not revoke it (it needs "
				     "CAP_NET_RAW)"
				   : "the link takes no direct receive");
		return EOPNOTSUPP;
	}
	prog.len = (unsigned short)linkpkt_drx_server_build(
		f, LINKPKT_DRX_SERVER_LEN, port);
	e = chan_raw_locked(c, &prog, CHAN_SRX_RCVBUF, "request", fd, why,
			    whylen);
	if (e != 0)
		return e;
	*keep = fcntl(*fd, F_DUPFD_CLOEXEC, 0);
	if (*keep >= 0)
		return 0;
	e = errno;
	snprintf(why, whylen, "request socket: dup: %s", strerror(e));
	close(*fd);
	*fd = -1;
	return e;
}

/*
 * session_ops.direct_srx_revoke: keep's socket, wherever its descriptors
 * are, receives nothing more (bound to a device no interface is); what
 * it had queued arrived while the port was its holder's.
 */
static void chan_direct_srx_revoke(void *arg, struct session *s, int keep)
{
	int none = CHAN_SRX_NOWHERE;

	(void)arg;
	if (setsockopt(keep, SOL_SOCKET, SO_BINDTOIFINDEX, &none,
		       sizeof(none)) < 0)
		log_warnx("client %" PRIu64 " (pid %d): cannot revoke its "
			  "request socket: %s",
			  s->serial, (int)s->pid, strerror(errno));
	close(keep);
}

/* session_ops.direct_rx_changed: the link's filters follow. */
static void chan_direct_rx_changed(void *arg)
{
	struct chan *c = arg;
	uint16_t ports[SESSION_MAX_DIRECT_RX];
	uint16_t req[SESSION_MAX_DIRECT_SRX];
	unsigned n = session_host_direct_rx_ports(&c->h, false, ports,
						  SESSION_MAX_DIRECT_RX);
	unsigned m = session_host_direct_rx_ports(&c->h, true, req,
						  SESSION_MAX_DIRECT_SRX);
	int r;

	if (!c->drx_fn)
		return;
	r = c->drx_fn(c->drx_arg, ports, n, req, m);
	if (r < 0)
		log_warnx("client channel: direct receive: cannot set the "
			  "link's filters for %u + %u ports: %s (homad reads "
			  "those packets too)",
			  n, m, strerror(-r));
}

void chan_set_direct_rx(struct chan *c, chan_drx_fn fn, void *arg)
{
	if (!c || c->udp || !c->table)
		return;
	c->drx_fn = fn;
	c->drx_arg = arg;
	c->ops.direct_rx_open = chan_direct_rx_open;
	c->ops.direct_rx_changed = chan_direct_rx_changed;
	c->can_revoke = chan_srx_revocable();
	if (c->can_revoke) {
		c->ops.direct_srx_open = chan_direct_srx_open;
		c->ops.direct_srx_revoke = chan_direct_srx_revoke;
	} else {
		log_notice("client channel: no direct receive of requests: "
			   "homad cannot revoke a request socket (it needs "
			   "CAP_NET_RAW)");
	}
}

static void chan_direct_close(void *arg, struct session *s,
			      struct homa_direct_ring *ring)
{
	(void)arg;
	(void)s;
	munmap(ring, sizeof(*ring));
}

void chan_direct_drain(struct chan *c, uint64_t now)
{
	if (!c || TAILQ_EMPTY(&c->h.direct))
		return;
	session_direct_header(c->table, c->h.e, c->h.cfg.proto.num_priorities);
	session_host_direct_drain(&c->h, now);
}

bool chan_direct_may_sleep(struct chan *c, uint64_t now, uint64_t wake)
{
	uint64_t tick;

	if (!c || TAILQ_EMPTY(&c->h.direct))
		return true;
	tick = (uint64_t)c->h.cfg.proto.tick_usecs * 1000u;
	if (wake != UINT64_MAX && wake <= now + 2 * tick)
		return true; /* the wake-up drains the rings soon enough */
	__atomic_store_n(&c->table->asleep, 1u, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!session_host_direct_pending(&c->h))
		return true;
	__atomic_store_n(&c->table->asleep, 0u, __ATOMIC_RELAXED);
	return false;
}

void chan_direct_awake(struct chan *c)
{
	if (c && c->table &&
	    __atomic_load_n(&c->table->asleep, __ATOMIC_RELAXED) != 0)
		__atomic_store_n(&c->table->asleep, 0u, __ATOMIC_RELAXED);
}

bool chan_direct_active(const struct chan *c)
{
	return c && !TAILQ_EMPTY(&c->h.direct);
}

bool chan_direct_serving(const struct chan *c)
{
	return c && c->h.n_direct_srx > 0;
}

void chan_direct_publish(struct chan *c, const struct homa_peer_pub *p)
{
	if (c && c->table)
		session_direct_publish(c->table, p);
}

/* ---- the public functions ---------------------------------------------- */

struct chan *chan_create(struct uring *u, struct homa_engine *e,
			 const struct homa_config *cfg, int listen_fd,
			 char *err, size_t errlen)
{
	struct chan *c = calloc(1, sizeof(*c));

	if (!c) {
		snprintf(err, errlen, "out of memory for the client channel");
		return NULL;
	}
	c->ops = session_memfd_ops;
	c->ops.peer_groups = chan_peer_groups;
	c->u = u;
	c->table_fd = -1;
	c->udp = cfg->link == HOMA_LINK_UDP;
	if (cfg->ipv4) {
		void *map;
		int fd = chan_memfd("homad-direct-peers",
				    sizeof(struct homa_direct_table), &map);

		if (fd >= 0) {
			c->table = map;
			c->table_fd = fd;
			c->ops.direct_open = chan_direct_open;
			c->ops.direct_close = chan_direct_close;
			c->table->link = c->udp ? HOMA_DIRECT_LINK_UDP
						: HOMA_DIRECT_LINK_IP;
			c->table->udp_port = cfg->udp_port;
			session_direct_header(c->table, e,
					      cfg->proto.num_priorities);
		} else {
			log_warnx("client channel: no direct send: peer "
				  "table: %s",
				  strerror(-fd));
		}
	}
	session_host_init(&c->h, e, cfg, &c->ops, c);
	c->listen_fd = listen_fd;
	c->accept_op.kind = CHAN_OP_ACCEPT;
	c->retry_op.kind = CHAN_OP_RETRY;
	TAILQ_INIT(&c->conns);
	TAILQ_INIT(&c->closing);
	TAILQ_INIT(&c->unconfirmed);
	return c;
}

void chan_start(struct chan *c)
{
	chan_arm_accept(c);
}

void chan_set_config(struct chan *c, const struct homa_config *cfg)
{
	session_host_set_config(&c->h, cfg);
}

bool chan_complete(struct chan *c, const struct io_uring_cqe *cqe, uint64_t now)
{
	struct chan_op *op;
	struct chan_conn *cn;

	if (uring_data_tag(cqe->user_data) != URING_TAG_CHAN)
		return false;
	c->h.now = now;
	op = uring_data_ptr(cqe->user_data);
	switch (op->kind) {
	case CHAN_OP_ACCEPT:
		if (cqe->res >= 0)
			chan_accept(c, cqe->res);
		else if (cqe->res != -ECANCELED)
			log_warnx("client socket: accept: %s",
				  strerror(-cqe->res));
		if (!(cqe->flags & IORING_CQE_F_MORE)) {
			c->accept_armed = false;
			if (cqe->res < 0 && cqe->res != -ECANCELED)
				chan_arm_retry(c);
			else
				chan_arm_accept(c);
		}
		break;
	case CHAN_OP_RETRY:
		c->retry_armed = false;
		chan_arm_accept(c);
		break;
	case CHAN_OP_RECV:
		cn = op->conn;
		cn->inflight--;
		chan_recv_done(c, cn, cqe->res, now);
		chan_conn_maybe_free(c, cn);
		break;
	case CHAN_OP_SEND:
		if (op->skip) {
			TAILQ_REMOVE(&c->unconfirmed, op, unconf);
			op->skip = false;
			if (cqe->res == -EAGAIN && chan_send_again(c, op))
				break;
		}
		chan_send_done(c, op, cqe->res, now);
		break;
	default:
		log_warnx("client channel: completion of unknown kind %d",
			  (int)op->kind);
		break;
	}
	return true;
}

void chan_confirm(struct chan *c, unsigned sq_head, uint64_t now)
{
	struct chan_op *op;

	c->h.now = now;
	while ((op = TAILQ_FIRST(&c->unconfirmed)) != NULL &&
	       uring_sqe_before(op->sqe_idx, sq_head)) {
		TAILQ_REMOVE(&c->unconfirmed, op, unconf);
		op->skip = false;
		/* A datagram leaves whole. */
		chan_send_done(c, op, (int)op->ev->len, now);
	}
}

bool chan_unconfirmed(const struct chan *c)
{
	return !TAILQ_EMPTY(&c->unconfirmed);
}

void chan_flush(struct chan *c, uint64_t now)
{
	struct session_q todo = TAILQ_HEAD_INITIALIZER(todo);
	struct session *s;

	c->h.now = now;
	/* Sessions dirtied meanwhile wait for the next flush. */
	TAILQ_CONCAT(&todo, &c->h.dirty, dlink);
	while ((s = TAILQ_FIRST(&todo)) != NULL) {
		struct chan_conn *cn = chan_conn_of(s);

		TAILQ_REMOVE(&todo, s, dlink);
		s->dirty = false;
		if (!session_live(s)) {
			chan_conn_maybe_free(c, cn);
			continue;
		}
		if (!session_should_close(s)) {
			session_queue_pending(s);
			if (!session_should_close(s))
				chan_conn_send(c, cn);
		}
		if (session_should_close(s)) {
			chan_conn_close(c, cn, NULL, now);
			continue;
		}
		if (cn->recv_paused)
			chan_conn_arm_recv(c, cn);
		/*
		 * Events left behind with no send in flight (whose completion
		 * would dirty s again): try again next time.
		 */
		if (s->n_sending == 0 && session_has_pending(s))
			session_mark_dirty(s);
	}
}

void chan_deliver(struct chan *c, const struct homa_delivery *d)
{
	(void)c;
	session_deliver(d->app, d);
}

void chan_tx_release(struct chan *c, void *sock_app, void *cookie)
{
	struct session *s;

	(void)sock_app;
	s = session_tx_release(cookie);
	if (s && c && session_releasable(s))
		chan_conn_maybe_free(c, chan_conn_of(s));
}

void chan_send_space(struct chan *c, void *sock_app)
{
	(void)c;
	session_send_space(sock_app);
}

/* Cancel the request whose user_data is op's. */
static void chan_cancel(struct chan *c, struct chan_op *op)
{
	struct io_uring_sqe *sqe = uring_sqe(c->u);

	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, uring_data(op, URING_TAG_CHAN), 0);
	io_uring_sqe_set_data64(sqe, uring_data(NULL, URING_TAG_INTERNAL));
}

void chan_stop(struct chan *c, uint64_t now)
{
	struct chan_conn *cn;

	c->stopping = true;
	if (c->accept_armed)
		chan_cancel(c, &c->accept_op);
	if (c->retry_armed)
		chan_cancel(c, &c->retry_op);
	while ((cn = TAILQ_FIRST(&c->conns)) != NULL)
		chan_conn_close(c, cn, "homad stopping", now);
	if (c->n_clients != 0)
		log_warnx("client channel: %u clients counted after stop",
			  c->n_clients);
}

bool chan_idle(const struct chan *c)
{
	const struct chan_conn *cn;

	if (c->accept_armed || c->retry_armed)
		return false;
	TAILQ_FOREACH(cn, &c->conns, link)
	if (cn->inflight > 0)
		return false;
	TAILQ_FOREACH(cn, &c->closing, link)
	if (cn->inflight > 0)
		return false;
	return true;
}

unsigned chan_n_clients(const struct chan *c)
{
	return c ? c->n_clients : 0;
}

uint64_t chan_mapped_bytes(const struct chan *c)
{
	return c ? c->h.mapped : 0;
}

const struct session_stats *chan_stats(const struct chan *c)
{
	return c ? &c->h.stats : NULL;
}

unsigned chan_sockets(const struct chan *c, struct chan_sock_entry *out,
		      unsigned max, unsigned *total)
{
	const struct chan_conn *cn;
	unsigned n = 0;

	*total = 0;
	if (c == NULL)
		return 0;
	TAILQ_FOREACH(cn, &c->conns, link)
	{
		if (cn->s.state != SESS_OPEN || cn->s.sock == NULL)
			continue;
		(*total)++;
		if (n == max)
			continue;
		out[n].pid = (uint32_t)cn->s.pid;
		out[n].uid = (uint32_t)cn->s.uid;
		out[n].pool_bytes = cn->s.rx_len;
		out[n].direct = cn->s.ring != NULL;
		out[n].direct_records = cn->s.direct_records;
		/* Responses (a client) or requests (a server) read directly. */
		out[n].drx = cn->s.drx || cn->s.srx;
		out[n].drx_records = cn->s.drx_records + cn->s.srx_records;
		engine_sock_info(cn->s.sock, &out[n].info);
		n++;
	}
	return n;
}

int chan_check_config(const struct chan *c, const struct homa_config *cfg,
		      char *why, size_t len)
{
	if (c == NULL || cfg->max_inline >= c->h.cfg.max_inline ||
	    TAILQ_EMPTY(&c->conns))
		return 0;
	snprintf(why, len,
		 "clients.max_inline %" PRIu32 " is lower than the running "
		 "%" PRIu32 ", which the %u connected client%s were promised: "
		 "it can only be lowered with no client connected (or by a "
		 "restart)",
		 cfg->max_inline, c->h.cfg.max_inline, c->n_clients,
		 c->n_clients == 1 ? "" : "s");
	return -EBUSY;
}

void chan_destroy(struct chan *c)
{
	struct chan_conn *cn;

	if (!c)
		return;
	/*
	 * The ring and the engine are gone: nothing is in flight, nothing is
	 * lent any more, and neither may be touched.
	 */
	TAILQ_CONCAT(&c->closing, &c->conns, link);
	while ((cn = TAILQ_FIRST(&c->closing)) != NULL) {
		TAILQ_REMOVE(&c->closing, cn, link);
		cn->s.dirty = false;
		session_fini(&cn->s);
		if (cn->fd >= 0)
			close(cn->fd);
		free(cn->rx_buf);
		free(cn);
	}
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	if (c->table)
		munmap(c->table, sizeof(*c->table));
	if (c->table_fd >= 0)
		close(c->table_fd);
	free(c);
}
