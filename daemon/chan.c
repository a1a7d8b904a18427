/*
 * chan.c - the client channel (see chan.h).
 *
 * A connection's life:
 *
 *   OPENING --Open ok--> OPEN --EOF, error, bad message, stop--> CLOSING
 *      |                                                            ^
 *      +--bad Open: OpenReply(error) queued, closed once sent-------+
 *
 * chan_conn_fail() only marks a connection (it may run inside an engine
 * callback, where the engine must not be re-entered); chan_flush() closes
 * the marked ones.  A CLOSING connection has no engine socket any more; it
 * is freed (fd closed, regions unmapped) once no io_uring request of it is
 * in flight and the engine has released every message it lent
 * (dead RPCs are reaped a few ticks later).
 *
 * Every io_uring request carries a struct chan_op (tag URING_TAG_CHAN):
 * the listener's accept and retry timer, a connection's recvmsg, one
 * event's send.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <unistd.h>

#include "chan.h"
#include "homa_client.pb-c.h"
#include "homa_shm.h"
#include "log.h"

/* Descriptors a recvmsg has room for (an Open carries two). */
#define CHAN_MAX_FDS 4
/* Events submitted as one linked chain. */
#define CHAN_SEND_BATCH 32
/* Ids piggy-backed on one event, so that it stays far below 64 KiB. */
#define CHAN_MAX_RELEASED_PER_EVENT 2048
/* Stop reading a client's commands while this many events wait. */
#define CHAN_PAUSE_EVENTS (CHAN_MAX_EVENTS / 2)
/* Released ids waiting to be reported, per connection. */
#define CHAN_MAX_RELEASED (CHAN_MAX_TX + CHAN_MAX_EVENTS)
/* Supplementary groups looked at for clients.bind_gids. */
#define CHAN_MAX_GROUPS 256
/* Pause of the listener after accept failed (out of descriptors...). */
#define CHAN_ACCEPT_RETRY_SEC 1
/* The reason of a connection the client closed (never a warning). */
#define CHAN_CLOSED "closed by the client"
/* homad cancelled its own receive (stopping): not a warning either. */
#define CHAN_CANCELLED "cancelled"
/*
 * A client whose queue holds CHAN_MAX_EVENTS events keeps its connection
 * while it is reading them: while one of its events was taken (a send
 * completed) within this time.  Its queue may then grow to the RPC limit
 * (chan_ev_room): a server sent a burst of requests by many clients at
 * once gets one event for each, faster than it reads them.
 */
#define CHAN_READING_NS 1000000000ull

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
};

enum chan_conn_state {
	CHAN_OPENING, /* waiting for the Open datagram */
	CHAN_OPEN,    /* has an engine socket */
	CHAN_CLOSING, /* gone: waiting for its requests and messages */
};

/* One block of client RPC ids and what became of each id. */
struct chan_ids {
	uint64_t first; /* even; ids first, first + 2, ... */
	uint32_t count; /* CHAN_ID_BLOCK */
	uint64_t *used; /* bit k: id first + 2k was sent */
	uint64_t *priv; /* bit k: ... as a private request */
};

enum chan_ev_type {
	CHAN_EV_DELIVERED,   /* fields below */
	CHAN_EV_FAILED,	     /* id, cookie, error, priv */
	CHAN_EV_TX_RELEASED, /* the connection's released ids */
	CHAN_EV_SEND_SPACE,
	CHAN_EV_PACKED, /* buf/len already hold the datagram (replies) */
};

/*
 * One event for a client: queued on its connection (evq), packed into buf
 * when submitted, freed when its send completes.
 */
struct chan_ev {
	struct chan_op op; /* first: the send's user_data */
	TAILQ_ENTRY(chan_ev) link;
	enum chan_ev_type type;
	uint64_t id;
	uint64_t cookie;
	struct homa_addr peer;
	uint16_t port;
	bool priv;
	int error;
	uint32_t length;
	uint32_t n_bpages;
	uint32_t bpages[HOMA_MAX_BPAGES];
	uint8_t *buf; /* the datagram, malloc'ed */
	size_t len;
};

TAILQ_HEAD(chan_evq, chan_ev);

/*
 * A message lent to the engine (struct homa_msgbuf.cookie): which
 * connection and id, and the copy of an inline message.
 */
struct chan_tx {
	struct chan_conn *conn;
	uint64_t id;
	uint8_t data[]; /* inline bytes, if any */
};

/*
 * A client process (by SO_PEERCRED pid): what the per-client limits of
 * homa.conf count, over all its connections.  Freed with its last
 * connection.
 */
struct chan_client {
	TAILQ_ENTRY(chan_client) link; /* chan->clients */
	pid_t pid;
	unsigned n_conns;    /* connections, open or closing */
	unsigned n_requests; /* requests lent to the engine (outstanding) */
	uint64_t mapped;     /* bytes of its regions mapped */
};

/* One client connection = one Homa socket. */
struct chan_conn {
	TAILQ_ENTRY(chan_conn) link;  /* chan->conns or chan->closing */
	TAILQ_ENTRY(chan_conn) dlink; /* chan->dirty */
	struct chan *chan;
	uint64_t serial; /* for logs */
	int fd;
	enum chan_conn_state state;
	pid_t pid;		    /* SO_PEERCRED */
	struct chan_client *client; /* its process's accounting */
	uid_t uid;
	gid_t gid;

	int family; /* AF_INET, AF_INET6 (Open) */
	struct homa_sock *sock;
	uint8_t *rx_base; /* receive pool mapping, rx_len bytes */
	size_t rx_len;
	const uint8_t *tx_base; /* transmit area mapping (NULL if empty) */
	size_t tx_len;

	struct chan_ids ids[CHAN_MAX_ID_BLOCKS];
	unsigned n_ids;	   /* blocks in use */
	unsigned next_ids; /* slot the next block goes to */

	unsigned n_tx;	    /* messages lent to the engine */
	uint64_t *released; /* ids whose tx bytes are free, not reported */
	unsigned n_released, cap_released;
	bool send_space; /* a SendSpace is due */

	/* Receiving: one recvmsg at a time. */
	struct chan_op recv_op;
	bool recv_armed;
	bool recv_paused; /* too many events waiting: not re-armed */
	struct msghdr rx_msg;
	struct iovec rx_iov;
	struct {
		_Alignas(struct cmsghdr) char buf[CMSG_SPACE(sizeof(int) *
							     CHAN_MAX_FDS)];
	} rx_ctl;
	uint8_t *rx_buf; /* HOMA_CLIENT_MAX_DATAGRAM + 1 bytes */

	/* Sending: events not yet submitted, and sends in flight. */
	struct chan_evq evq;
	unsigned n_evq;
	unsigned n_carriers; /* Delivered/Failed/TxReleased in evq */
	struct chan_evq sending;
	unsigned n_sending;

	unsigned inflight;  /* io_uring requests in flight */
	uint64_t taken_ns;  /* when an event send last completed */
	bool dirty;	    /* on chan->dirty */
	bool doomed;	    /* to be closed by chan_flush */
	bool linger;	    /* close once the queued events are sent */
	bool busy;	    /* inside chan_conn_close: do not free */
	bool counted;	    /* in chan->n_clients */
	bool loud;	    /* log the disconnection at info level */
	bool internal;	    /* homad's failure, not the client's: warn */
	int err;	    /* errno of a failed send or receive, or 0 */
	const char *reason; /* why it is doomed (static) */
};

TAILQ_HEAD(chan_connq, chan_conn);

struct chan {
	struct uring *u;
	struct homa_engine *e;
	struct homa_metrics *m;
	struct homa_config cfg; /* limits, clients.* */
	int listen_fd;

	struct chan_op accept_op;
	struct chan_op retry_op;
	bool accept_armed;
	bool retry_armed;
	struct __kernel_timespec retry_ts;
	bool stopping;

	struct chan_connq conns;	   /* OPENING and OPEN */
	struct chan_connq closing;	   /* CLOSING, not yet freed */
	struct chan_connq dirty;	   /* need chan_flush */
	TAILQ_HEAD(, chan_client) clients; /* processes with connections */
	uint64_t now;			   /* last time given to chan */
	uint64_t mapped;		   /* bytes of client regions mapped */
	unsigned n_clients;
	uint64_t next_serial;
};

static void chan_conn_close(struct chan *c, struct chan_conn *cn, uint64_t now);

/* ---- small helpers ---------------------------------------------------- */

static void chan_dirty(struct chan_conn *cn)
{
	if (cn->dirty)
		return;
	cn->dirty = true;
	TAILQ_INSERT_TAIL(&cn->chan->dirty, cn, dlink);
}

/*
 * Mark cn for disconnection (closed by chan_flush).  counter, if not
 * NULL, is incremented; reason (static) is logged.
 */
/* Account for delta bytes of cn's regions mapped (or unmapped). */
static void chan_mapped(struct chan *c, struct chan_conn *cn, int64_t delta)
{
	c->mapped += (uint64_t)delta;
	cn->client->mapped += (uint64_t)delta;
}

/*
 * One connection of cl is gone (freed, or never made): free cl with its
 * last one.  Requests are released before their connection is freed, so
 * nothing is outstanding then.
 */
static void chan_client_put(struct chan *c, struct chan_client *cl)
{
	if (cl->n_conns > 0)
		cl->n_conns--;
	if (cl->n_conns > 0)
		return;
	TAILQ_REMOVE(&c->clients, cl, link);
	free(cl);
}

static void chan_conn_fail(struct chan_conn *cn, uint64_t *counter,
			   const char *reason)
{
	if (cn->state == CHAN_CLOSING || cn->doomed)
		return;
	cn->doomed = true;
	cn->reason = reason;
	cn->loud = counter != NULL;
	/* Not the client's doing (it closed, or sent something bad): an
	 * operator must see why homad dropped it. */
	cn->internal = counter == NULL && strcmp(reason, CHAN_CLOSED) != 0 &&
		       strcmp(reason, CHAN_CANCELLED) != 0;
	if (counter)
		(*counter)++;
	chan_dirty(cn);
}

/* A malformed or invalid message: the client goes. */
static int chan_bad(struct chan_conn *cn, const char *reason)
{
	chan_conn_fail(cn, &cn->chan->m->chan_bad_messages, reason);
	return -EPROTO;
}

/* Does an event of this type take the pending released ids along? */
static bool chan_ev_carries(enum chan_ev_type type)
{
	return type == CHAN_EV_DELIVERED || type == CHAN_EV_FAILED ||
	       type == CHAN_EV_TX_RELEASED;
}

static void chan_ev_free(struct chan_ev *ev)
{
	if (!ev)
		return;
	free(ev->buf);
	free(ev);
}

static void chan_evq_free(struct chan_evq *q)
{
	struct chan_ev *ev;

	while ((ev = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, ev, link);
		chan_ev_free(ev);
	}
}

/*
 * Whether cn may queue one more event: below CHAN_MAX_EVENTS always;
 * beyond, only while it reads (CHAN_READING_NS) and up to the RPC limit
 * (each Delivered or Failed is about an RPC the engine holds) plus
 * CHAN_MAX_EVENTS.
 */
static bool chan_ev_room(const struct chan_conn *cn)
{
	const struct chan *c = cn->chan;
	unsigned n = cn->n_evq + cn->n_sending;

	if (n < CHAN_MAX_EVENTS)
		return true;
	return n < (uint64_t)c->cfg.max_rpcs + CHAN_MAX_EVENTS &&
	       c->now - cn->taken_ns < CHAN_READING_NS;
}

/*
 * A new event for cn, appended to its queue; NULL (and cn doomed) when
 * its queue is full (chan_ev_room), or when memory runs out.
 */
static struct chan_ev *chan_ev_add(struct chan_conn *cn, enum chan_ev_type type)
{
	struct chan_ev *ev;

	if (!chan_ev_room(cn)) {
		chan_conn_fail(cn, &cn->chan->m->chan_event_overflows,
			       "not reading its events");
		return NULL;
	}
	ev = calloc(1, sizeof(*ev));
	if (!ev) {
		chan_conn_fail(cn, NULL, "out of memory for an event");
		return NULL;
	}
	ev->op.kind = CHAN_OP_SEND;
	ev->op.conn = cn;
	ev->type = type;
	TAILQ_INSERT_TAIL(&cn->evq, ev, link);
	cn->n_evq++;
	if (chan_ev_carries(type))
		cn->n_carriers++;
	chan_dirty(cn);
	return ev;
}

/* Queue msg, packed now. */
static void chan_ev_add_packed(struct chan_conn *cn,
			       const Homa__Client__DaemonMsg *msg)
{
	size_t len = homa__client__daemon_msg__get_packed_size(msg);
	struct chan_ev *ev;
	uint8_t *buf;

	if (len > HOMA_CLIENT_MAX_DATAGRAM) {
		log_warnx("client %" PRIu64 ": a %zu-byte answer is too large",
			  cn->serial, len);
		chan_conn_fail(cn, NULL, "answer too large");
		return;
	}
	buf = malloc(len ? len : 1);
	if (!buf) {
		chan_conn_fail(cn, NULL, "out of memory for an answer");
		return;
	}
	homa__client__daemon_msg__pack(msg, buf);
	ev = chan_ev_add(cn, CHAN_EV_PACKED);
	if (!ev) {
		free(buf);
		return;
	}
	ev->buf = buf;
	ev->len = len;
}

/* Note that the tx bytes of id are free again. */
static void chan_released_add(struct chan_conn *cn, uint64_t id)
{
	if (cn->n_released == cn->cap_released) {
		unsigned cap = cn->cap_released ? 2 * cn->cap_released : 64;
		uint64_t *p;

		if (cap > CHAN_MAX_RELEASED)
			cap = CHAN_MAX_RELEASED;
		if (cap <= cn->n_released) {
			chan_conn_fail(cn, &cn->chan->m->chan_event_overflows,
				       "not reading its events");
			return;
		}
		p = realloc(cn->released, cap * sizeof(*p));
		if (!p) {
			chan_conn_fail(cn, NULL, "out of memory");
			return;
		}
		cn->released = p;
		cn->cap_released = cap;
	}
	cn->released[cn->n_released++] = id;
	chan_dirty(cn);
}

/* ---- id blocks -------------------------------------------------------- */

static void chan_ids_free(struct chan_ids *b)
{
	free(b->used);
	free(b->priv);
	memset(b, 0, sizeof(*b));
}

/* A new block from the engine, replacing the oldest when all are taken. */
static struct chan_ids *chan_ids_new(struct chan *c, struct chan_conn *cn)
{
	struct chan_ids *b = &cn->ids[cn->next_ids];
	size_t words = (CHAN_ID_BLOCK + 63) / 64;
	uint64_t *used = calloc(words, sizeof(uint64_t));
	uint64_t *priv = calloc(words, sizeof(uint64_t));

	if (!used || !priv) {
		free(used);
		free(priv);
		return NULL;
	}
	chan_ids_free(b);
	b->used = used;
	b->priv = priv;
	b->count = CHAN_ID_BLOCK;
	b->first = engine_reserve_ids(c->e, CHAN_ID_BLOCK);
	cn->next_ids = (cn->next_ids + 1) % CHAN_MAX_ID_BLOCKS;
	if (cn->n_ids < CHAN_MAX_ID_BLOCKS)
		cn->n_ids++;
	return b;
}

/* The block holding client id (even), and its index k; NULL if none. */
static struct chan_ids *chan_ids_find(struct chan_conn *cn, uint64_t id,
				      uint32_t *k)
{
	for (unsigned i = 0; i < CHAN_MAX_ID_BLOCKS; i++) {
		struct chan_ids *b = &cn->ids[i];

		if (!b->used || id < b->first || (id - b->first) & 1 ||
		    (id - b->first) / 2 >= b->count)
			continue;
		*k = (uint32_t)((id - b->first) / 2);
		return b;
	}
	return NULL;
}

static bool chan_bit(const uint64_t *map, uint32_t k)
{
	return (map[k / 64] >> (k % 64)) & 1;
}

static void chan_bit_put(uint64_t *map, uint32_t k, bool on)
{
	if (on)
		map[k / 64] |= 1ull << (k % 64);
	else
		map[k / 64] &= ~(1ull << (k % 64));
}

/* Was client RPC id sent as private? */
static bool chan_ids_private(struct chan_conn *cn, uint64_t id)
{
	uint32_t k;
	struct chan_ids *b = chan_ids_find(cn, id, &k);

	return b && chan_bit(b->priv, k);
}

/* ---- addresses -------------------------------------------------------- */

/*
 * A client's Addr as the engine's: 4 bytes (AF_INET sockets) or 16
 * (AF_INET6 sockets; v4-mapped for IPv4 peers), port 1..65535.
 * any_len: also accept 16 bytes on an AF_INET socket (a response to a
 * peer an event named with 16 bytes).  -EPROTO if malformed.
 */
static int chan_addr_in(const struct chan_conn *cn,
			const Homa__Client__Addr *in, bool any_len,
			struct homa_addr *out, uint16_t *port)
{
	if (!in || in->port == 0 || in->port > 0xffff)
		return -EPROTO;
	memset(out, 0, sizeof(*out));
	if (in->addr.len == 4 && cn->family == AF_INET) {
		out->in6.s6_addr[10] = 0xff;
		out->in6.s6_addr[11] = 0xff;
		memcpy(&out->in6.s6_addr[12], in->addr.data, 4);
	} else if (in->addr.len == 16 && (cn->family == AF_INET6 || any_len)) {
		memcpy(out->in6.s6_addr, in->addr.data, 16);
	} else {
		return -EPROTO;
	}
	*port = (uint16_t)in->port;
	return 0;
}

/*
 * The engine's address as the client sees it: AF_INET sockets get 4
 * bytes for IPv4 peers (16 for anything else), AF_INET6 sockets 16.
 * bytes[16] is the storage out->addr points to.
 */
static void chan_addr_out(const struct chan_conn *cn, const struct homa_addr *a,
			  uint16_t port, Homa__Client__Addr *out,
			  uint8_t bytes[16])
{
	homa__client__addr__init(out);
	if (cn->family == AF_INET && IN6_IS_ADDR_V4MAPPED(&a->in6)) {
		memcpy(bytes, &a->in6.s6_addr[12], 4);
		out->addr.len = 4;
	} else {
		memcpy(bytes, a->in6.s6_addr, 16);
		out->addr.len = 16;
	}
	out->addr.data = bytes;
	out->port = port;
}

/* ---- sending events --------------------------------------------------- */

/* Ids to piggy-back (taken from the end of cn->released). */
static size_t chan_take_released(struct chan_conn *cn, uint64_t **ids)
{
	size_t n = cn->n_released;

	if (n > CHAN_MAX_RELEASED_PER_EVENT)
		n = CHAN_MAX_RELEASED_PER_EVENT;
	cn->n_released -= (unsigned)n;
	/* released is NULL until the first id: no pointer arithmetic on it. */
	*ids = n ? cn->released + cn->n_released : NULL;
	return n;
}

/*
 * Pack ev into ev->buf, piggy-backing released ids on Delivered/Failed.
 * Returns 0, 1 when there is nothing to send (a TxReleased whose ids all
 * went out already), -ENOMEM.
 */
static int chan_ev_pack(struct chan_conn *cn, struct chan_ev *ev)
{
	Homa__Client__DaemonMsg msg = HOMA__CLIENT__DAEMON_MSG__INIT;
	Homa__Client__Delivered d = HOMA__CLIENT__DELIVERED__INIT;
	Homa__Client__Failed f = HOMA__CLIENT__FAILED__INIT;
	Homa__Client__TxReleased t = HOMA__CLIENT__TX_RELEASED__INIT;
	Homa__Client__SendSpace s = HOMA__CLIENT__SEND_SPACE__INIT;
	Homa__Client__Addr peer;
	uint8_t peer_bytes[16];
	uint64_t *ids = NULL;
	size_t n_ids = 0;

	switch (ev->type) {
	case CHAN_EV_PACKED:
		return 0;
	case CHAN_EV_DELIVERED:
		chan_addr_out(cn, &ev->peer, ev->port, &peer, peer_bytes);
		n_ids = chan_take_released(cn, &ids);
		d.id = ev->id;
		d.cookie = ev->cookie;
		d.peer = &peer;
		d.length = ev->length;
		d.n_bpage_offsets = ev->n_bpages;
		d.bpage_offsets = ev->bpages;
		d.private_ = ev->priv;
		d.n_tx_released = n_ids;
		d.tx_released = ids;
		msg.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_DELIVERED;
		msg.delivered = &d;
		break;
	case CHAN_EV_FAILED:
		n_ids = chan_take_released(cn, &ids);
		f.id = ev->id;
		f.cookie = ev->cookie;
		f.error = ev->error;
		f.private_ = ev->priv;
		f.n_tx_released = n_ids;
		f.tx_released = ids;
		msg.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_FAILED;
		msg.failed = &f;
		break;
	case CHAN_EV_TX_RELEASED:
		n_ids = chan_take_released(cn, &ids);
		if (n_ids == 0)
			return 1;
		t.n_ids = n_ids;
		t.ids = ids;
		msg.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_TX_RELEASED;
		msg.tx_released = &t;
		break;
	case CHAN_EV_SEND_SPACE:
		msg.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_SEND_SPACE;
		msg.send_space = &s;
		break;
	}
	ev->len = homa__client__daemon_msg__get_packed_size(&msg);
	ev->buf = malloc(ev->len ? ev->len : 1);
	if (!ev->buf) {
		/* Put the ids back: they are reported later. */
		cn->n_released += (unsigned)n_ids;
		return -ENOMEM;
	}
	homa__client__daemon_msg__pack(&msg, ev->buf);
	return 0;
}

/*
 * Submit up to CHAN_SEND_BATCH queued events of cn as one linked chain
 * (a later chain only once this one completed: the order is kept).
 */
static void chan_conn_send(struct chan *c, struct chan_conn *cn)
{
	struct chan_ev *batch[CHAN_SEND_BATCH];
	unsigned n = 0, max = CHAN_SEND_BATCH;
	struct chan_ev *ev;

	if (cn->n_sending > 0 || cn->state == CHAN_CLOSING || cn->doomed)
		return;
	if (max > c->u->ring.sq.ring_entries / 2)
		max = c->u->ring.sq.ring_entries / 2;
	if (max == 0)
		max = 1;
	while (n < max && (ev = TAILQ_FIRST(&cn->evq)) != NULL) {
		int r = chan_ev_pack(cn, ev);

		TAILQ_REMOVE(&cn->evq, ev, link);
		cn->n_evq--;
		if (chan_ev_carries(ev->type))
			cn->n_carriers--;
		if (r != 0) {
			chan_ev_free(ev);
			if (r < 0) {
				chan_conn_fail(cn, NULL, "out of memory");
				break;
			}
			continue;
		}
		batch[n++] = ev;
	}
	if (n > 0 && uring_reserve(c->u, n) < 0) {
		log_warnx("client %" PRIu64 ": no submission entries for its "
			  "events",
			  cn->serial);
		chan_conn_fail(cn, NULL, "io_uring full");
	}
	if (cn->doomed) {
		for (unsigned i = 0; i < n; i++)
			chan_ev_free(batch[i]);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&c->u->ring);

		/* uring_reserve made room for all n. */
		io_uring_prep_send(sqe, cn->fd, batch[i]->buf, batch[i]->len,
				   MSG_NOSIGNAL);
		io_uring_sqe_set_data64(
			sqe, uring_data(&batch[i]->op, URING_TAG_CHAN));
		if (i + 1 < n)
			sqe->flags |= IOSQE_IO_LINK;
		TAILQ_INSERT_TAIL(&cn->sending, batch[i], link);
		cn->n_sending++;
		cn->inflight++;
		c->m->chan_events++;
	}
}

/* ---- receiving -------------------------------------------------------- */

static void chan_conn_arm_recv(struct chan *c, struct chan_conn *cn)
{
	struct io_uring_sqe *sqe;

	if (cn->recv_armed || cn->state == CHAN_CLOSING || cn->doomed ||
	    cn->linger || c->stopping)
		return;
	if (cn->n_evq + cn->n_sending >= CHAN_PAUSE_EVENTS) {
		cn->recv_paused = true;
		return;
	}
	sqe = uring_sqe(c->u);
	if (!sqe) {
		chan_conn_fail(cn, NULL, "io_uring full");
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
 * CHAN_MAX_FDS).  Returns -EPROTO for anything but SCM_RIGHTS, or a
 * truncated control part (the descriptors that came are still returned,
 * for the caller to close).
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
		for (k = 0; k < len && *n < CHAN_MAX_FDS; k++)
			memcpy(&fds[(*n)++], CMSG_DATA(cm) + k * sizeof(int),
			       sizeof(int));
	}
	return r;
}

static void chan_close_fds(const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

/* ---- Open ------------------------------------------------------------- */

/*
 * Check one region descriptor: a memfd (tmpfs, not hugetlbfs) sealed
 * against shrinking and growing, of exactly size bytes.  Returns 0 or a
 * positive errno with a reason in why.
 */
static int chan_check_region(int fd, uint64_t size, const char *what, char *why,
			     size_t whylen)
{
	struct statfs sfs;
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0) {
		snprintf(why, whylen, "%s: not a memfd (%s)", what,
			 strerror(errno));
		return EINVAL;
	}
	if ((seals & HOMA_SHM_REQUIRED_SEALS) != HOMA_SHM_REQUIRED_SEALS) {
		snprintf(why, whylen,
			 "%s: not sealed with F_SEAL_SHRINK | F_SEAL_GROW",
			 what);
		return EINVAL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s: not a regular file", what);
		return EINVAL;
	}
	if ((uint64_t)st.st_size != size) {
		snprintf(why, whylen,
			 "%s: %" PRIu64 " bytes declared, the memfd has %lld",
			 what, size, (long long)st.st_size);
		return EINVAL;
	}
	if (fstatfs(fd, &sfs) < 0 || sfs.f_type != TMPFS_MAGIC) {
		snprintf(why, whylen, "%s: not a plain (tmpfs) memfd", what);
		return EINVAL;
	}
	return 0;
}

/* Answer an Open: OpenReply with error (0: success) and text. */
static void chan_open_reply(struct chan *c, struct chan_conn *cn, int error,
			    const char *text, const struct chan_ids *b)
{
	Homa__Client__DaemonMsg msg = HOMA__CLIENT__DAEMON_MSG__INIT;
	Homa__Client__OpenReply r = HOMA__CLIENT__OPEN_REPLY__INIT;
	Homa__Client__IdBlock ids = HOMA__CLIENT__ID_BLOCK__INIT;

	r.error = error;
	r.error_text = (char *)(text ? text : "");
	if (error == 0) {
		r.port = engine_sock_port(cn->sock);
		ids.first = b->first;
		ids.count = b->count;
		r.ids = &ids;
		r.wmem_max = c->cfg.proto.wmem_max;
		r.max_inline = c->cfg.max_inline < CHAN_MAX_INLINE
				       ? c->cfg.max_inline
				       : CHAN_MAX_INLINE;
		r.takes_recycle = true;
	}
	msg.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_OPEN;
	msg.open = &r;
	chan_ev_add_packed(cn, &msg);
}

/* A refused Open: say why, then close once the answer is out. */
static void chan_open_refuse(struct chan *c, struct chan_conn *cn, int error,
			     const char *why, uint64_t *counter)
{
	if (counter)
		(*counter)++;
	log_notice("client %" PRIu64 " (pid %d uid %u): Open refused: %s",
		   cn->serial, (int)cn->pid, (unsigned)cn->uid, why);
	chan_open_reply(c, cn, error, why, NULL);
	cn->linger = true;
	cn->reason = "Open refused";
	chan_dirty(cn);
}

/*
 * The Open datagram o with descriptors fds[0..nfds) (closed here, whatever
 * happens).  On success cn is OPEN, with its regions mapped, its engine
 * socket and its first id block.
 */
static void chan_open(struct chan *c, struct chan_conn *cn,
		      const Homa__Client__Open *o, int *fds, unsigned nfds)
{
	char why[256];
	struct chan_ids *b;
	void *p;
	int err, r;

	if (o->version != HOMA_CLIENT_PROTO_VERSION) {
		snprintf(why, sizeof(why),
			 "protocol version %u, homad speaks %u", o->version,
			 HOMA_CLIENT_PROTO_VERSION);
		err = EPROTO;
		goto bad;
	}
	if (o->family != AF_INET && o->family != AF_INET6) {
		snprintf(why, sizeof(why), "address family %u", o->family);
		err = EAFNOSUPPORT;
		goto bad;
	}
	if (nfds != 2) {
		snprintf(why, sizeof(why),
			 "%u descriptors passed, expected 2 (rx pool, tx area)",
			 nfds);
		err = EINVAL;
		goto bad;
	}
	if (o->rx_pool_bytes < HOMA_SHM_MIN_RX_POOL ||
	    o->rx_pool_bytes > HOMA_SHM_MAX_RX_POOL ||
	    o->rx_pool_bytes % HOMA_SHM_BPAGE_SIZE != 0) {
		snprintf(why, sizeof(why),
			 "rx pool of %" PRIu64
			 " bytes (a multiple of 64 KiB, %u..%llu)",
			 o->rx_pool_bytes, HOMA_SHM_MIN_RX_POOL,
			 (unsigned long long)HOMA_SHM_MAX_RX_POOL);
		err = EINVAL;
		goto bad;
	}
	if (o->tx_area_bytes > HOMA_SHM_MAX_TX_AREA) {
		snprintf(why, sizeof(why),
			 "tx area of %" PRIu64 " bytes (at most %llu)",
			 o->tx_area_bytes,
			 (unsigned long long)HOMA_SHM_MAX_TX_AREA);
		err = EINVAL;
		goto bad;
	}
	err = chan_check_region(fds[0], o->rx_pool_bytes, "rx pool", why,
				sizeof(why));
	if (err == 0 && o->tx_area_bytes > 0)
		err = chan_check_region(fds[1], o->tx_area_bytes, "tx area",
					why, sizeof(why));
	if (err != 0)
		goto bad;
	if (c->mapped + o->rx_pool_bytes + o->tx_area_bytes >
	    c->cfg.max_memory) {
		snprintf(why, sizeof(why),
			 "regions of %" PRIu64 " bytes: homad maps %" PRIu64
			 " of at most %" PRIu64 " (limits.max_memory)",
			 o->rx_pool_bytes + o->tx_area_bytes, c->mapped,
			 c->cfg.max_memory);
		err = ENOMEM;
		goto bad;
	}
	if (cn->client->mapped + o->rx_pool_bytes + o->tx_area_bytes >
	    c->cfg.max_client_memory) {
		snprintf(why, sizeof(why),
			 "regions of %" PRIu64
			 " bytes: this process has %" PRIu64
			 " of at most %" PRIu64 " (limits.max_client_memory)",
			 o->rx_pool_bytes + o->tx_area_bytes,
			 cn->client->mapped, c->cfg.max_client_memory);
		err = ENOMEM;
		goto bad;
	}
	p = mmap(NULL, o->rx_pool_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fds[0], 0);
	if (p == MAP_FAILED) {
		err = errno;
		snprintf(why, sizeof(why), "cannot map the rx pool: %s",
			 strerror(err));
		goto bad;
	}
	cn->rx_base = p;
	cn->rx_len = o->rx_pool_bytes;
	chan_mapped(c, cn, (int64_t)cn->rx_len);
	if (o->tx_area_bytes > 0) {
		p = mmap(NULL, o->tx_area_bytes, PROT_READ, MAP_SHARED, fds[1],
			 0);
		if (p == MAP_FAILED) {
			err = errno;
			snprintf(why, sizeof(why), "cannot map the tx area: %s",
				 strerror(err));
			goto bad;
		}
		cn->tx_base = p;
		cn->tx_len = o->tx_area_bytes;
		chan_mapped(c, cn, (int64_t)cn->tx_len);
	}
	chan_close_fds(fds, nfds);
	nfds = 0;

	cn->family = (int)o->family;
	r = engine_sock_open(c->e, cn, &cn->sock);
	if (r < 0) {
		cn->sock = NULL;
		snprintf(why, sizeof(why), "no Homa socket: %s", strerror(-r));
		chan_open_refuse(c, cn, -r, why, &c->m->chan_refused);
		return;
	}
	engine_sock_set_v4only(cn->sock, cn->family == AF_INET);
	r = engine_sock_set_pool(c->e, cn->sock, cn->rx_base, cn->rx_len);
	b = r == 0 ? chan_ids_new(c, cn) : NULL;
	if (!b) {
		snprintf(why, sizeof(why), "cannot set up the socket: %s",
			 strerror(r < 0 ? -r : ENOMEM));
		chan_open_refuse(c, cn, r < 0 ? -r : ENOMEM, why, NULL);
		return;
	}
	cn->state = CHAN_OPEN;
	log_debug("client %" PRIu64 " (pid %d uid %u): open, %s, port %u, "
		  "rx pool %zu, tx area %zu",
		  cn->serial, (int)cn->pid, (unsigned)cn->uid,
		  cn->family == AF_INET ? "IPv4" : "IPv6",
		  engine_sock_port(cn->sock), cn->rx_len, cn->tx_len);
	chan_open_reply(c, cn, 0, NULL, b);
	return;
bad:
	chan_close_fds(fds, nfds);
	chan_open_refuse(c, cn, err, why, &c->m->chan_bad_open);
}

/* ---- commands --------------------------------------------------------- */

/* Queue Failed(id) for a send homad refused; its tx bytes are free. */
static void chan_send_failed(struct chan_conn *cn, uint64_t id, uint64_t cookie,
			     bool priv, int err)
{
	struct chan_ev *ev = chan_ev_add(cn, CHAN_EV_FAILED);

	if (!ev)
		return;
	ev->id = id;
	ev->cookie = cookie;
	ev->priv = priv;
	ev->error = err;
	chan_released_add(cn, id);
}

/*
 * The bytes of a message: inline (copied into a new chan_tx) or an
 * extent of the transmit area (checked, overflow-safe).  Returns 0 with
 * msg set and *txp allocated, -EPROTO (extent outside the area),
 * -EMSGSIZE (inline data over max_inline or not matching length, or
 * both inline data and an offset), -ENOMEM.
 */
static int chan_msg_source(struct chan *c, struct chan_conn *cn, uint64_t id,
			   const ProtobufCBinaryData *inl, uint64_t tx_offset,
			   uint32_t length, struct homa_msgbuf *msg,
			   struct chan_tx **txp)
{
	uint32_t max_inline = c->cfg.max_inline < CHAN_MAX_INLINE
				      ? c->cfg.max_inline
				      : CHAN_MAX_INLINE;
	struct chan_tx *tx;

	memset(msg, 0, sizeof(*msg));
	if (inl->len > 0) {
		if (inl->len > max_inline ||
		    (length != 0 && length != inl->len) || tx_offset != 0)
			return -EMSGSIZE;
		tx = malloc(sizeof(*tx) + inl->len);
		if (!tx)
			return -ENOMEM;
		memcpy(tx->data, inl->data, inl->len);
		msg->data = tx->data;
		msg->length = (uint32_t)inl->len;
	} else {
		if (length > 0 &&
		    (tx_offset > cn->tx_len || length > cn->tx_len - tx_offset))
			return -EPROTO;
		tx = malloc(sizeof(*tx));
		if (!tx)
			return -ENOMEM;
		msg->data = length > 0 ? cn->tx_base + tx_offset : NULL;
		msg->length = length;
	}
	tx->conn = cn;
	tx->id = id;
	msg->cookie = tx;
	*txp = tx;
	return 0;
}

static int chan_cmd_send_request(struct chan *c, struct chan_conn *cn,
				 const Homa__Client__SendRequest *r,
				 uint64_t now)
{
	struct homa_msgbuf msg;
	struct homa_addr dst;
	struct chan_ids *b;
	struct chan_tx *tx;
	uint16_t port;
	uint64_t id = r->id;
	uint32_t k;
	int rc;

	if (chan_addr_in(cn, r->dest, false, &dst, &port) < 0)
		return chan_bad(cn, "request with a bad destination");
	if (id == 0 || (id & 1))
		return chan_bad(cn, "request with an odd id");
	b = chan_ids_find(cn, id, &k);
	if (!b)
		return chan_bad(cn, "request id outside its id blocks");
	if (chan_bit(b->used, k))
		return chan_bad(cn, "request id used twice");
	rc = chan_msg_source(c, cn, id, &r->inline_data, r->tx_offset,
			     r->length, &msg, &tx);
	if (rc == -EPROTO)
		return chan_bad(cn, "request bytes outside its tx area");
	if (rc == -EMSGSIZE)
		return chan_bad(cn, "request with bad inline data");
	/* A refused request leaves its id unused: it may be sent again. */
	if (rc < 0) {
		chan_send_failed(cn, id, r->cookie, r->private_, -rc);
		return 0;
	}
	if (cn->n_tx >= CHAN_MAX_TX ||
	    cn->client->n_requests >= c->cfg.max_rpcs_per_client) {
		free(tx);
		chan_send_failed(cn, id, r->cookie, r->private_, ENOBUFS);
		return 0;
	}
	chan_bit_put(b->priv, k, r->private_);
	rc = engine_send_request(c->e, cn->sock, &dst, port, &msg, r->cookie,
				 now, &id);
	if (rc == -EEXIST) {
		free(tx);
		return chan_bad(cn, "request id in use");
	}
	if (rc < 0) {
		free(tx);
		chan_send_failed(cn, r->id, r->cookie, r->private_, -rc);
		return 0;
	}
	chan_bit_put(b->used, k, true);
	cn->n_tx++;
	cn->client->n_requests++;
	return 0;
}

static int chan_cmd_send_response(struct chan *c, struct chan_conn *cn,
				  const Homa__Client__SendResponse *r,
				  uint64_t now)
{
	struct homa_msgbuf msg;
	struct homa_addr peer;
	struct chan_tx *tx;
	uint16_t port;
	int rc;

	if (chan_addr_in(cn, r->peer, true, &peer, &port) < 0)
		return chan_bad(cn, "response with a bad peer address");
	if ((r->id & 1) == 0)
		return chan_bad(cn, "response with an even id");
	rc = chan_msg_source(c, cn, r->id, &r->inline_data, r->tx_offset,
			     r->length, &msg, &tx);
	if (rc == -EPROTO)
		return chan_bad(cn, "response bytes outside its tx area");
	if (rc == -EMSGSIZE)
		return chan_bad(cn, "response with bad inline data");
	if (rc < 0) {
		chan_send_failed(cn, r->id, 0, false, -rc);
		return 0;
	}
	if (cn->n_tx >= CHAN_MAX_TX) {
		free(tx);
		chan_send_failed(cn, r->id, 0, false, ENOBUFS);
		return 0;
	}
	/* The kernel API's port is the peer's; the engine finds the RPC by
	 * id and address. */
	(void)port;
	rc = engine_send_response(c->e, cn->sock, r->id, &peer, &msg, now);
	if (rc == -ENOENT || rc == -ESHUTDOWN) {
		/* Gone (timed out, acked) or shut down: discarded, as the
		 * kernel does. */
		free(tx);
		chan_released_add(cn, r->id);
		return 0;
	}
	if (rc < 0) {
		free(tx);
		chan_send_failed(cn, r->id, 0, false, -rc);
		return 0;
	}
	cn->n_tx++;
	return 0;
}

/* May cn's client bind ports below 0x8000? */
static bool chan_bind_allowed(const struct chan *c, const struct chan_conn *cn)
{
	gid_t groups[CHAN_MAX_GROUPS];
	socklen_t len = sizeof(groups);
	unsigned i, j, n;

	if (cn->uid == 0 ||
	    (c->cfg.n_bind_uids == 0 && c->cfg.n_bind_gids == 0))
		return true;
	for (i = 0; i < c->cfg.n_bind_uids; i++)
		if (c->cfg.bind_uids[i] == (uint32_t)cn->uid)
			return true;
	for (i = 0; i < c->cfg.n_bind_gids; i++)
		if (c->cfg.bind_gids[i] == (uint32_t)cn->gid)
			return true;
	if (c->cfg.n_bind_gids == 0)
		return false;
	/* Supplementary groups, as they were when the client connected. */
	if (getsockopt(cn->fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	n = len / sizeof(gid_t);
	for (i = 0; i < c->cfg.n_bind_gids; i++)
		for (j = 0; j < n; j++)
			if (c->cfg.bind_gids[i] == (uint32_t)groups[j])
				return true;
	return false;
}

/* Reply(seq, error, text) with the optional parts given. */
static void chan_reply(struct chan_conn *cn, uint64_t seq, int error,
		       Homa__Client__Reply *r)
{
	Homa__Client__DaemonMsg msg = HOMA__CLIENT__DAEMON_MSG__INIT;

	r->seq = seq;
	r->error = error;
	if (error != 0)
		r->error_text = (char *)strerror(error);
	msg.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_REPLY;
	msg.reply = r;
	chan_ev_add_packed(cn, &msg);
}

static void chan_cmd_info(struct chan *c, struct chan_conn *cn, uint64_t seq,
			  const Homa__Client__Info *req)
{
	/* One RPC's parts of the answer. */
	struct chan_info_rpc {
		struct homa_rpc_info info;
		Homa__Client__RpcInfo msg;
		Homa__Client__Addr addr;
		uint8_t addr_bytes[16];
	} *x = NULL;
	Homa__Client__RpcInfo **rpcp = NULL;
	Homa__Client__Reply r = HOMA__CLIENT__REPLY__INIT;
	Homa__Client__InfoReply ir = HOMA__CLIENT__INFO_REPLY__INIT;
	struct homa_sock_info si;
	unsigned max = req->max_rpcs < CHAN_MAX_INFO_RPCS ? req->max_rpcs
							  : CHAN_MAX_INFO_RPCS;
	unsigned n = 0;

	(void)c;
	engine_sock_info(cn->sock, &si);
	if (max > 0) {
		struct homa_rpc_info *infos = calloc(max, sizeof(*infos));

		x = calloc(max, sizeof(*x));
		rpcp = calloc(max, sizeof(*rpcp));
		if (!infos || !x || !rpcp) {
			free(infos);
			free(x);
			free(rpcp);
			chan_reply(cn, seq, ENOMEM, &r);
			return;
		}
		n = engine_sock_rpcs(cn->sock, infos, max);
		for (unsigned i = 0; i < n; i++)
			x[i].info = infos[i];
		free(infos);
	}
	for (unsigned i = 0; i < n; i++) {
		const struct homa_rpc_info *in = &x[i].info;
		Homa__Client__RpcInfo *y = &x[i].msg;

		homa__client__rpc_info__init(y);
		chan_addr_out(cn, &in->peer, in->peer_port, &x[i].addr,
			      x[i].addr_bytes);
		y->id = in->id;
		y->peer = &x[i].addr;
		y->cookie = in->cookie;
		y->tx_length = in->tx_length;
		y->tx_sent = in->tx_sent;
		y->tx_granted = in->tx_granted;
		y->tx_prio = in->tx_prio;
		y->rx_length = in->rx_length;
		y->rx_remaining = in->rx_remaining;
		y->rx_gap_bytes = in->rx_gap_bytes;
		y->rx_gaps = in->rx_gaps;
		y->rx_granted = in->rx_granted;
		y->flags = in->flags;
		rpcp[i] = y;
	}
	ir.port = si.port;
	ir.num_rpcs = si.num_rpcs;
	ir.bpool_avail_bytes = si.pool_avail_bytes;
	ir.n_rpcs = n;
	ir.rpcs = rpcp;
	r.info = &ir;
	chan_reply(cn, seq, 0, &r);
	free(rpcp);
	free(x);
}

/*
 * Give back offs[0..n) of cn's pool (a Recycle, or recycles riding on a
 * command).  false: cn recycled bpages it does not hold and is now bad.
 */
static bool chan_recycle(struct chan *c, struct chan_conn *cn,
			 const uint32_t *offs, size_t n, uint64_t now)
{
	if (n == 0 ||
	    engine_recycle(c->e, cn->sock, offs, (unsigned)n, now) == 0)
		return true;
	chan_bad(cn, "recycled bpages it does not hold");
	return false;
}

/* One ClientMsg from an OPEN connection. */
static void chan_command(struct chan *c, struct chan_conn *cn,
			 const Homa__Client__ClientMsg *cm, uint64_t now)
{
	Homa__Client__Reply r = HOMA__CLIENT__REPLY__INIT;
	Homa__Client__IdBlock ids = HOMA__CLIENT__ID_BLOCK__INIT;
	int rc;

	/* Piggy-backed recycles go first (the command may need the room). */
	if (!chan_recycle(c, cn, cm->recycle_offsets, cm->n_recycle_offsets,
			  now))
		return;
	switch (cm->cmd_case) {
	case HOMA__CLIENT__CLIENT_MSG__CMD_SEND_REQUEST:
		chan_cmd_send_request(c, cn, cm->send_request, now);
		return;
	case HOMA__CLIENT__CLIENT_MSG__CMD_SEND_RESPONSE:
		chan_cmd_send_response(c, cn, cm->send_response, now);
		return;
	case HOMA__CLIENT__CLIENT_MSG__CMD_RECYCLE:
		chan_recycle(c, cn, cm->recycle->bpage_offsets,
			     cm->recycle->n_bpage_offsets, now);
		return;
	case HOMA__CLIENT__CLIENT_MSG__CMD_OPEN:
		chan_bad(cn, "a second Open");
		return;
	case HOMA__CLIENT__CLIENT_MSG__CMD__NOT_SET:
		chan_bad(cn, "a message without a command");
		return;
	default:
		break;
	}
	/* The commands that get a Reply. */
	if (cm->seq == 0) {
		chan_bad(cn, "a command without seq");
		return;
	}
	switch (cm->cmd_case) {
	case HOMA__CLIENT__CLIENT_MSG__CMD_BIND:
		if (cm->bind->port > 0xffff) {
			rc = -EINVAL;
		} else if (cm->bind->port != 0 &&
			   cm->bind->port < HOMA_MIN_DEFAULT_PORT &&
			   !chan_bind_allowed(c, cn)) {
			c->m->chan_bind_denied++;
			log_info("client %" PRIu64 " (pid %d uid %u): bind to "
				 "port %u denied",
				 cn->serial, (int)cn->pid, (unsigned)cn->uid,
				 cm->bind->port);
			rc = -EACCES;
		} else {
			rc = engine_sock_bind(c->e, cn->sock,
					      (uint16_t)cm->bind->port);
		}
		r.port = engine_sock_port(cn->sock);
		chan_reply(cn, cm->seq, -rc, &r);
		return;
	case HOMA__CLIENT__CLIENT_MSG__CMD_SET_SERVER:
		rc = engine_sock_set_server(c->e, cn->sock, cm->set_server->on);
		chan_reply(cn, cm->seq, -rc, &r);
		return;
	case HOMA__CLIENT__CLIENT_MSG__CMD_ABORT:
		if (cm->abort->id & 1 || cm->abort->error < 0 ||
		    cm->abort->error >= 4096)
			rc = -EINVAL;
		else
			rc = engine_abort(c->e, cn->sock, cm->abort->id,
					  cm->abort->error, now);
		chan_reply(cn, cm->seq, -rc, &r);
		return;
	case HOMA__CLIENT__CLIENT_MSG__CMD_INFO:
		chan_cmd_info(c, cn, cm->seq, cm->info);
		return;
	case HOMA__CLIENT__CLIENT_MSG__CMD_MORE_IDS: {
		struct chan_ids *b = chan_ids_new(c, cn);

		if (b) {
			ids.first = b->first;
			ids.count = b->count;
			r.ids = &ids;
		}
		chan_reply(cn, cm->seq, b ? 0 : ENOMEM, &r);
		return;
	}
	case HOMA__CLIENT__CLIENT_MSG__CMD_SHUTDOWN:
		engine_sock_shutdown(c->e, cn->sock, now);
		chan_reply(cn, cm->seq, 0, &r);
		return;
	default:
		chan_bad(cn, "an unknown command");
		return;
	}
}

/* A datagram (res bytes, or an error) arrived on cn. */
static void chan_recv_done(struct chan *c, struct chan_conn *cn, int res,
			   uint64_t now)
{
	Homa__Client__ClientMsg *cm;
	int fds[CHAN_MAX_FDS];
	unsigned nfds = 0;
	int r;

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
	}
	if (cn->state == CHAN_CLOSING || cn->doomed) {
		if (res > 0) {
			chan_rx_fds(&cn->rx_msg, fds, &nfds);
			chan_close_fds(fds, nfds);
		}
		return;
	}
	if (res == 0) {
		chan_conn_fail(cn, NULL, CHAN_CLOSED);
		return;
	}
	if (res < 0) {
		/* ECONNRESET: it closed with our events unread. */
		chan_conn_fail(cn, NULL,
			       res == -ECONNRESET  ? CHAN_CLOSED
			       : res == -ECANCELED ? CHAN_CANCELLED
						   : "receive error");
		if (res != -ECONNRESET && res != -ECANCELED)
			cn->err = -res;
		return;
	}
	r = chan_rx_fds(&cn->rx_msg, fds, &nfds);
	if (r < 0 || (nfds > 0 && cn->state != CHAN_OPENING)) {
		chan_close_fds(fds, nfds);
		if (cn->state == CHAN_OPENING)
			chan_open_refuse(c, cn, EINVAL,
					 "unexpected control data with the "
					 "Open",
					 &c->m->chan_bad_open);
		else
			chan_bad(cn, "descriptors or control data after Open");
		return;
	}
	if (res > HOMA_CLIENT_MAX_DATAGRAM) {
		chan_close_fds(fds, nfds);
		if (cn->state == CHAN_OPENING)
			chan_open_refuse(c, cn, EMSGSIZE, "oversized Open",
					 &c->m->chan_bad_open);
		else
			chan_bad(cn, "oversized datagram");
		return;
	}
	cm = homa__client__client_msg__unpack(NULL, (size_t)res, cn->rx_buf);
	if (!cm) {
		chan_close_fds(fds, nfds);
		if (cn->state == CHAN_OPENING)
			chan_open_refuse(c, cn, EPROTO,
					 "the first datagram does not decode",
					 &c->m->chan_bad_open);
		else
			chan_bad(cn, "a datagram that does not decode");
		return;
	}
	if (cn->state == CHAN_OPENING) {
		if (cm->cmd_case != HOMA__CLIENT__CLIENT_MSG__CMD_OPEN) {
			chan_close_fds(fds, nfds);
			chan_open_refuse(c, cn, EPROTO,
					 "the first datagram is not an Open",
					 &c->m->chan_bad_open);
		} else if (cm->n_recycle_offsets > 0) {
			chan_close_fds(fds, nfds);
			chan_open_refuse(c, cn, EPROTO,
					 "an Open that recycles bpages",
					 &c->m->chan_bad_open);
		} else {
			chan_open(c, cn, cm->open, fds, nfds);
		}
	} else {
		c->m->chan_commands++;
		chan_command(c, cn, cm, now);
	}
	homa__client__client_msg__free_unpacked(cm, NULL);
	chan_conn_arm_recv(c, cn);
}

/* ---- connections ------------------------------------------------------ */

/* Free cn if nothing refers to it any more. */
static void chan_conn_maybe_free(struct chan *c, struct chan_conn *cn)
{
	/* A dirty one is on a flush list: chan_flush frees it. */
	if (cn->state != CHAN_CLOSING || cn->busy || cn->inflight > 0 ||
	    cn->n_tx > 0 || cn->dirty)
		return;
	TAILQ_REMOVE(&c->closing, cn, link);
	chan_evq_free(&cn->evq);
	chan_evq_free(&cn->sending);
	if (cn->fd >= 0)
		close(cn->fd);
	if (cn->rx_base) {
		munmap(cn->rx_base, cn->rx_len);
		chan_mapped(c, cn, -(int64_t)cn->rx_len);
	}
	if (cn->tx_base) {
		munmap((void *)cn->tx_base, cn->tx_len);
		chan_mapped(c, cn, -(int64_t)cn->tx_len);
	}
	chan_client_put(c, cn->client);
	for (unsigned i = 0; i < CHAN_MAX_ID_BLOCKS; i++)
		chan_ids_free(&cn->ids[i]);
	free(cn->released);
	free(cn->rx_buf);
	free(cn);
}

/*
 * End cn: close its engine socket (its RPCs end, its bpages are
 * forgotten), shut the connection down (its requests in flight complete),
 * and free it once they have and the engine released its messages.
 */
static void chan_conn_close(struct chan *c, struct chan_conn *cn, uint64_t now)
{
	if (cn->state == CHAN_CLOSING)
		return;
	cn->busy = true;
	if (cn->reason && cn->internal)
		log_warnx("client %" PRIu64 " (pid %d uid %u): disconnected: "
			  "%s%s%s",
			  cn->serial, (int)cn->pid, (unsigned)cn->uid,
			  cn->reason, cn->err ? ": " : "",
			  cn->err ? strerror(cn->err) : "");
	else if (cn->reason && cn->loud)
		log_info("client %" PRIu64 " (pid %d uid %u): disconnected: %s",
			 cn->serial, (int)cn->pid, (unsigned)cn->uid,
			 cn->reason);
	else
		log_debug("client %" PRIu64 ": disconnected: %s", cn->serial,
			  cn->reason ? cn->reason : "no reason");
	cn->state = CHAN_CLOSING;
	TAILQ_REMOVE(&c->conns, cn, link);
	TAILQ_INSERT_TAIL(&c->closing, cn, link);
	if (cn->counted) {
		c->n_clients--;
		cn->counted = false;
	}
	c->m->chan_disconnects++;
	if (cn->sock) {
		engine_sock_close(c->e, cn->sock, now);
		cn->sock = NULL;
	}
	chan_evq_free(&cn->evq);
	cn->n_evq = 0;
	cn->n_carriers = 0;
	cn->n_released = 0;
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
	cn->busy = false;
	chan_conn_maybe_free(c, cn);
}

/* Refuse a connection beyond the limits: say why, close it. */
static void chan_refuse(struct chan *c, int fd, int error, const char *why)
{
	Homa__Client__DaemonMsg msg = HOMA__CLIENT__DAEMON_MSG__INIT;
	Homa__Client__OpenReply r = HOMA__CLIENT__OPEN_REPLY__INIT;
	uint8_t buf[512];
	size_t len;

	c->m->chan_refused++;
	r.error = error;
	r.error_text = (char *)why;
	msg.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_OPEN;
	msg.open = &r;
	len = homa__client__daemon_msg__get_packed_size(&msg);
	if (len <= sizeof(buf)) {
		homa__client__daemon_msg__pack(&msg, buf);
		/* Non-blocking; the client reads it, then EOF. */
		if (send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			log_debug("client refused: send: %s", strerror(errno));
	}
	close(fd);
}

/* A new connection fd. */
static void chan_accept(struct chan *c, int fd)
{
	struct chan_conn *cn;
	struct chan_client *cl;
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		log_warn("client socket: SO_PEERCRED");
		close(fd);
		return;
	}
	if (c->stopping) {
		close(fd);
		return;
	}
	if (c->n_clients >= c->cfg.max_clients) {
		log_notice("client pid %d uid %u refused: %u clients "
			   "(limits.max_clients)",
			   (int)cr.pid, (unsigned)cr.uid, c->n_clients);
		chan_refuse(c, fd, ENFILE,
			    "too many clients (limits.max_clients)");
		return;
	}
	TAILQ_FOREACH(cl, &c->clients, link)
	if (cl->pid == cr.pid)
		break;
	if (cl && cl->n_conns >= c->cfg.max_sockets_per_client) {
		log_notice("client pid %d uid %u refused: it has %u sockets "
			   "(limits.max_sockets_per_client)",
			   (int)cr.pid, (unsigned)cr.uid, cl->n_conns);
		chan_refuse(c, fd, EMFILE,
			    "too many sockets for this process "
			    "(limits.max_sockets_per_client)");
		return;
	}
	if (!cl) {
		cl = calloc(1, sizeof(*cl));
		if (cl) {
			cl->pid = cr.pid;
			TAILQ_INSERT_TAIL(&c->clients, cl, link);
		}
	}
	cn = cl ? calloc(1, sizeof(*cn)) : NULL;
	if (cn)
		cn->rx_buf = malloc(HOMA_CLIENT_MAX_DATAGRAM + 1);
	if (!cn || !cn->rx_buf) {
		free(cn);
		if (cl && cl->n_conns == 0)
			chan_client_put(c, cl);
		chan_refuse(c, fd, ENOMEM, "homad is out of memory");
		return;
	}
	cn->client = cl;
	cl->n_conns++;
	cn->chan = c;
	cn->serial = ++c->next_serial;
	cn->fd = fd;
	cn->state = CHAN_OPENING;
	cn->pid = cr.pid;
	cn->uid = cr.uid;
	cn->gid = cr.gid;
	cn->recv_op.kind = CHAN_OP_RECV;
	cn->recv_op.conn = cn;
	TAILQ_INIT(&cn->evq);
	TAILQ_INIT(&cn->sending);
	TAILQ_INSERT_TAIL(&c->conns, cn, link);
	cn->counted = true;
	c->n_clients++;
	c->m->chan_connects++;
	log_debug("client %" PRIu64 ": pid %d uid %u gid %u connected",
		  cn->serial, (int)cr.pid, (unsigned)cr.uid, (unsigned)cr.gid);
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
	c->u = u;
	c->e = e;
	c->m = engine_metrics(e);
	c->cfg = *cfg;
	c->listen_fd = listen_fd;
	c->accept_op.kind = CHAN_OP_ACCEPT;
	c->retry_op.kind = CHAN_OP_RETRY;
	TAILQ_INIT(&c->conns);
	TAILQ_INIT(&c->closing);
	TAILQ_INIT(&c->dirty);
	TAILQ_INIT(&c->clients);
	return c;
}

void chan_start(struct chan *c)
{
	chan_arm_accept(c);
}

void chan_set_config(struct chan *c, const struct homa_config *cfg)
{
	c->cfg = *cfg;
}

bool chan_complete(struct chan *c, const struct io_uring_cqe *cqe, uint64_t now)
{
	struct chan_op *op;
	struct chan_conn *cn;

	if (uring_data_tag(cqe->user_data) != URING_TAG_CHAN)
		return false;
	c->now = now;
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
		if (cn->state == CHAN_CLOSING)
			chan_conn_maybe_free(c, cn);
		break;
	case CHAN_OP_SEND: {
		struct chan_ev *ev = (struct chan_ev *)op;

		cn = op->conn;
		cn->inflight--;
		cn->n_sending--;
		if (cqe->res >= 0)
			cn->taken_ns = now;
		TAILQ_REMOVE(&cn->sending, ev, link);
		if (cqe->res < 0 && cn->state != CHAN_CLOSING && !cn->doomed) {
			bool gone =
				cqe->res == -EPIPE || cqe->res == -ECONNRESET;

			chan_conn_fail(cn, NULL,
				       gone ? CHAN_CLOSED : "send error");
			if (!gone)
				cn->err = -cqe->res;
		}
		chan_ev_free(ev);
		if (cn->state == CHAN_CLOSING) {
			chan_conn_maybe_free(c, cn);
		} else {
			chan_dirty(cn);
		}
		break;
	}
	default:
		log_warnx("client channel: completion of unknown kind %d",
			  (int)op->kind);
		break;
	}
	return true;
}

void chan_flush(struct chan *c, uint64_t now)
{
	struct chan_connq todo = TAILQ_HEAD_INITIALIZER(todo);
	struct chan_conn *cn;

	c->now = now;
	/* Connections dirtied meanwhile wait for the next flush. */
	TAILQ_CONCAT(&todo, &c->dirty, dlink);
	while ((cn = TAILQ_FIRST(&todo)) != NULL) {
		TAILQ_REMOVE(&todo, cn, dlink);
		cn->dirty = false;
		if (cn->state == CHAN_CLOSING) {
			chan_conn_maybe_free(c, cn);
			continue;
		}
		if (cn->doomed) {
			chan_conn_close(c, cn, now);
			continue;
		}
		if (cn->send_space) {
			cn->send_space = false;
			chan_ev_add(cn, CHAN_EV_SEND_SPACE);
		}
		if (cn->n_released > 0 && cn->n_carriers == 0)
			chan_ev_add(cn, CHAN_EV_TX_RELEASED);
		if (cn->doomed) {
			chan_conn_close(c, cn, now);
			continue;
		}
		chan_conn_send(c, cn);
		if (cn->doomed) {
			chan_conn_close(c, cn, now);
			continue;
		}
		if (cn->linger && cn->n_evq == 0 && cn->n_sending == 0) {
			chan_conn_close(c, cn, now);
			continue;
		}
		if (cn->recv_paused)
			chan_conn_arm_recv(c, cn);
		/*
		 * Events left behind with no send in flight (whose completion
		 * would dirty cn again): try again next time.
		 */
		if (cn->n_sending == 0 && (cn->n_evq > 0 || cn->n_released > 0))
			chan_dirty(cn);
	}
}

void chan_deliver(struct chan *c, const struct homa_delivery *d)
{
	struct chan_conn *cn = d->app;
	struct chan_ev *ev;

	(void)c;
	if (!cn || cn->state != CHAN_OPEN || cn->doomed)
		return;
	if (d->kind == HOMA_DELIVER_ERROR) {
		ev = chan_ev_add(cn, CHAN_EV_FAILED);
		if (!ev)
			return;
		ev->error = d->error;
	} else {
		ev = chan_ev_add(cn, CHAN_EV_DELIVERED);
		if (!ev)
			return;
		ev->length = d->length;
		ev->n_bpages = d->num_bpages <= HOMA_MAX_BPAGES
				       ? d->num_bpages
				       : HOMA_MAX_BPAGES;
		memcpy(ev->bpages, d->bpage_offsets,
		       ev->n_bpages * sizeof(uint32_t));
	}
	ev->id = d->id;
	ev->cookie = d->cookie;
	ev->peer = d->peer;
	ev->port = d->peer_port;
	ev->priv = (d->id & 1) == 0 && chan_ids_private(cn, d->id);
}

void chan_tx_release(struct chan *c, void *sock_app, void *cookie)
{
	struct chan_tx *tx = cookie;
	struct chan_conn *cn;

	(void)sock_app;
	if (!tx)
		return;
	cn = tx->conn;
	cn->n_tx--;
	if ((tx->id & 1) == 0)
		cn->client->n_requests--;
	if (cn->state != CHAN_CLOSING && !cn->doomed)
		chan_released_add(cn, tx->id);
	free(tx);
	if (cn->state == CHAN_CLOSING && c)
		chan_conn_maybe_free(c, cn);
}

void chan_send_space(struct chan *c, void *sock_app)
{
	struct chan_conn *cn = sock_app;

	(void)c;
	if (!cn || cn->state != CHAN_OPEN || cn->doomed)
		return;
	cn->send_space = true;
	chan_dirty(cn);
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
	while ((cn = TAILQ_FIRST(&c->conns)) != NULL) {
		if (!cn->reason)
			cn->reason = "homad stopping";
		chan_conn_close(c, cn, now);
	}
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
	return c ? c->mapped : 0;
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
		if (cn->state != CHAN_OPEN || cn->sock == NULL)
			continue;
		(*total)++;
		if (n == max)
			continue;
		out[n].pid = (uint32_t)cn->pid;
		out[n].uid = (uint32_t)cn->uid;
		out[n].pool_bytes = cn->rx_len;
		engine_sock_info(cn->sock, &out[n].info);
		n++;
	}
	return n;
}

int chan_check_config(const struct chan *c, const struct homa_config *cfg,
		      char *why, size_t len)
{
	if (c == NULL || cfg->max_inline >= c->cfg.max_inline ||
	    TAILQ_EMPTY(&c->conns))
		return 0;
	snprintf(why, len,
		 "clients.max_inline %" PRIu32 " is lower than the running "
		 "%" PRIu32 ", which the %u connected client%s were promised: "
		 "it can only be lowered with no client connected (or by a "
		 "restart)",
		 cfg->max_inline, c->cfg.max_inline, c->n_clients,
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
	 * lent any more, and neither may be touched (nor the metrics, which
	 * lived in the engine).
	 */
	while ((cn = TAILQ_FIRST(&c->conns)) != NULL) {
		TAILQ_REMOVE(&c->conns, cn, link);
		cn->state = CHAN_CLOSING;
		TAILQ_INSERT_TAIL(&c->closing, cn, link);
	}
	while ((cn = TAILQ_FIRST(&c->closing)) != NULL) {
		cn->inflight = 0;
		cn->n_tx = 0;
		cn->busy = false;
		cn->dirty = false;
		chan_conn_maybe_free(c, cn);
	}
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	free(c);
}
