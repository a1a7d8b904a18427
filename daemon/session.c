/*
 * session.c - one client connection's protocol (see session.h).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "core/wire.h"
#include "homa_client.pb-c.h"
#include "homa_shm.h"
#include "log.h"
#include "session.h"

/* Ids piggy-backed on one event, so that it stays far below 64 KiB. */
#define SESSION_MAX_RELEASED_PER_EVENT 2048
/* Released ids waiting to be reported, per session. */
#define SESSION_MAX_RELEASED (SESSION_MAX_TX + SESSION_MAX_EVENTS)
/* Supplementary groups looked at for clients.bind_gids. */
#define SESSION_MAX_GROUPS 256
/*
 * A client whose queue holds SESSION_MAX_EVENTS events keeps its
 * connection while it is reading them: while one of its events was taken
 * (a send completed) within this time.  Its queue may then grow to the RPC
 * limit (session_ev_room): a server sent a burst of requests by many
 * clients at once gets one event for each, faster than it reads them.
 */
#define SESSION_READING_NS 1000000000ull

/*
 * A message lent to the engine (struct homa_msgbuf.cookie): which session
 * and id, and the copy of an inline message.
 */
struct session_tx {
	struct session *s;
	uint64_t id;
	/* Released by the client itself (a directly received response):
	 * not reported back. */
	bool quiet;
	uint8_t data[]; /* inline bytes, if any */
};

/* ---- the lifecycle ----------------------------------------------------- */

static const char *const session_state_names[SESS_N_STATES] = {
	[SESS_OPENING] = "opening", [SESS_OPEN] = "open",
	[SESS_LINGER] = "linger",   [SESS_DOOMED] = "doomed",
	[SESS_CLOSING] = "closing", [SESS_CLOSED] = "closed",
	[SESS_DEAD] = "dead",
};

/* session_legal[from] has bit `to` for each allowed change. */
#define B(st) (1u << (st))
static const unsigned session_legal[SESS_N_STATES] = {
	[SESS_OPENING] = B(SESS_OPEN) | B(SESS_LINGER) | B(SESS_DOOMED) |
			 B(SESS_CLOSING),
	[SESS_OPEN] = B(SESS_DOOMED) | B(SESS_CLOSING),
	[SESS_LINGER] = B(SESS_DOOMED) | B(SESS_CLOSING),
	[SESS_DOOMED] = B(SESS_CLOSING),
	[SESS_CLOSING] = B(SESS_CLOSED),
	[SESS_CLOSED] = B(SESS_DEAD),
	[SESS_DEAD] = 0,
};
#undef B

const char *session_state_name(enum session_state st)
{
	return (unsigned)st < SESS_N_STATES ? session_state_names[st] : "?";
}

bool session_transition_legal(enum session_state from, enum session_state to)
{
	return (unsigned)from < SESS_N_STATES && (unsigned)to < SESS_N_STATES &&
	       (session_legal[from] >> to) & 1;
}

int session_change_state(struct session *s, enum session_state to,
			 const char *reason)
{
	struct session_host *h = s->h;

	if (!session_transition_legal(s->state, to)) {
		h->stats.illegal_transitions++;
		if (!h->illegal_logged) {
			h->illegal_logged = true;
			log_warnx("client %" PRIu64 ": illegal state change "
				  "%s -> %s (%s) refused (logged once)",
				  s->serial, session_state_name(s->state),
				  session_state_name(to),
				  reason ? reason : "no reason");
		}
		return -EINVAL;
	}
	s->state = to;
	h->stats.transitions++;
	h->stats.entered[to]++;
	return 0;
}

bool session_live(const struct session *s)
{
	return s->state <= SESS_DOOMED;
}

/* Ending already (DOOMED or beyond): no new work. */
static bool session_ending(const struct session *s)
{
	return s->state >= SESS_DOOMED;
}

/* ---- small helpers ---------------------------------------------------- */

void session_mark_dirty(struct session *s)
{
	if (s->dirty)
		return;
	s->dirty = true;
	TAILQ_INSERT_TAIL(&s->h->dirty, s, dlink);
}

/* Account for delta bytes of s's regions mapped (or unmapped). */
static void session_mapped(struct session *s, int64_t delta)
{
	s->h->mapped += (uint64_t)delta;
	s->client->mapped += (uint64_t)delta;
}

void session_fail(struct session *s, uint64_t *counter, const char *reason)
{
	if (session_ending(s))
		return;
	if (session_change_state(s, SESS_DOOMED, reason) < 0)
		return;
	s->reason = reason;
	s->loud = counter != NULL;
	/* Not the client's doing (it closed, or sent something bad): an
	 * operator must see why homad dropped it. */
	s->internal = counter == NULL &&
		      strcmp(reason, SESSION_CLOSED_BY_CLIENT) != 0 &&
		      strcmp(reason, SESSION_CANCELLED) != 0;
	if (counter)
		(*counter)++;
	session_mark_dirty(s);
}

/* A malformed or invalid message: the client goes. */
static int session_bad(struct session *s, const char *reason)
{
	session_fail(s, &s->h->stats.chan_bad_messages, reason);
	return -EPROTO;
}

/* Does an event of this type take the pending released ids along? */
static bool session_ev_carries(enum session_ev_type type)
{
	return type == SESS_EV_DELIVERED || type == SESS_EV_FAILED ||
	       type == SESS_EV_TX_RELEASED;
}

void session_ev_free(struct session_ev *ev)
{
	if (!ev)
		return;
	for (unsigned i = 0; i < ev->n_fds; i++)
		ev->h->ops->close_fd(ev->h->ops_arg, ev->fds[i]);
	free(ev->buf);
	free(ev);
}

static void session_evq_free(struct session *s)
{
	struct session_ev *ev;

	while ((ev = TAILQ_FIRST(&s->evq)) != NULL) {
		TAILQ_REMOVE(&s->evq, ev, link);
		session_ev_free(ev);
	}
	s->n_evq = 0;
	s->n_carriers = 0;
}

/*
 * Whether s may queue one more event: below SESSION_MAX_EVENTS always;
 * beyond, only while it reads (SESSION_READING_NS) and up to the RPC limit
 * (each Delivered or Failed is about an RPC the engine holds) plus
 * SESSION_MAX_EVENTS.
 */
static bool session_ev_room(const struct session *s)
{
	unsigned n = s->n_evq + s->n_sending;

	if (n < SESSION_MAX_EVENTS)
		return true;
	return n < (uint64_t)s->h->cfg.max_rpcs + SESSION_MAX_EVENTS &&
	       s->h->now - s->taken_ns < SESSION_READING_NS;
}

/*
 * A new event for s, appended to its queue; NULL (and s doomed) when its
 * queue is full (session_ev_room), or when memory runs out.
 */
static struct session_ev *session_ev_add(struct session *s,
					 enum session_ev_type type)
{
	struct session_ev *ev;

	if (!session_ev_room(s)) {
		session_fail(s, &s->h->stats.chan_event_overflows,
			     "not reading its events");
		return NULL;
	}
	ev = calloc(1, sizeof(*ev));
	if (!ev) {
		session_fail(s, NULL, "out of memory for an event");
		return NULL;
	}
	ev->type = type;
	TAILQ_INSERT_TAIL(&s->evq, ev, link);
	s->n_evq++;
	if (session_ev_carries(type))
		s->n_carriers++;
	session_mark_dirty(s);
	return ev;
}

/* Queue msg, packed now: the event, or NULL (s doomed). */
static struct session_ev *
session_ev_add_packed(struct session *s, const Homa__Client__DaemonMsg *msg)
{
	size_t len = homa__client__daemon_msg__get_packed_size(msg);
	struct session_ev *ev;
	uint8_t *buf;

	if (len > HOMA_CLIENT_MAX_DATAGRAM) {
		log_warnx("client %" PRIu64 ": a %zu-byte answer is too large",
			  s->serial, len);
		session_fail(s, NULL, "answer too large");
		return NULL;
	}
	buf = malloc(len ? len : 1);
	if (!buf) {
		session_fail(s, NULL, "out of memory for an answer");
		return NULL;
	}
	homa__client__daemon_msg__pack(msg, buf);
	ev = session_ev_add(s, SESS_EV_PACKED);
	if (!ev) {
		free(buf);
		return NULL;
	}
	ev->buf = buf;
	ev->len = len;
	return ev;
}

/* Note that the tx bytes of id are free again. */
static void session_released_add(struct session *s, uint64_t id)
{
	if (s->n_released == s->cap_released) {
		unsigned cap = s->cap_released ? 2 * s->cap_released : 64;
		uint64_t *p;

		if (cap > SESSION_MAX_RELEASED)
			cap = SESSION_MAX_RELEASED;
		if (cap <= s->n_released) {
			session_fail(s, &s->h->stats.chan_event_overflows,
				     "not reading its events");
			return;
		}
		p = realloc(s->released, cap * sizeof(*p));
		if (!p) {
			session_fail(s, NULL, "out of memory");
			return;
		}
		s->released = p;
		s->cap_released = cap;
	}
	s->released[s->n_released++] = id;
	session_mark_dirty(s);
}

/* ---- id blocks -------------------------------------------------------- */

static void session_ids_free(struct session_ids *b)
{
	free(b->used);
	free(b->priv);
	memset(b, 0, sizeof(*b));
}

/* A new block from the engine, replacing the oldest when all are taken. */
static struct session_ids *session_ids_new(struct session *s)
{
	struct session_ids *b = &s->ids[s->next_ids];
	size_t words = (SESSION_ID_BLOCK + 63) / 64;
	uint64_t *used = calloc(words, sizeof(uint64_t));
	uint64_t *priv = calloc(words, sizeof(uint64_t));

	if (!used || !priv) {
		free(used);
		free(priv);
		return NULL;
	}
	session_ids_free(b);
	b->used = used;
	b->priv = priv;
	b->count = SESSION_ID_BLOCK;
	/* Direct receive: keyed ids while the key's space lasts. */
	if (s->drx_key != 0 &&
	    s->drx_blocks < (1ull << 32) / (2ull * SESSION_ID_BLOCK))
		b->first = HOMA_DIRECT_KEY_BIT | (uint64_t)s->drx_key << 32 |
			   (uint64_t)s->drx_blocks++ * 2 * SESSION_ID_BLOCK;
	else
		b->first = engine_reserve_ids(s->h->e, SESSION_ID_BLOCK);
	s->next_ids = (s->next_ids + 1) % SESSION_MAX_ID_BLOCKS;
	if (s->n_ids < SESSION_MAX_ID_BLOCKS)
		s->n_ids++;
	return b;
}

/* The block holding client id (even), and its index k; NULL if none. */
static struct session_ids *session_ids_find(struct session *s, uint64_t id,
					    uint32_t *k)
{
	for (unsigned i = 0; i < SESSION_MAX_ID_BLOCKS; i++) {
		struct session_ids *b = &s->ids[i];

		if (!b->used || id < b->first || (id - b->first) & 1 ||
		    (id - b->first) / 2 >= b->count)
			continue;
		*k = (uint32_t)((id - b->first) / 2);
		return b;
	}
	return NULL;
}

static bool session_bit(const uint64_t *map, uint32_t k)
{
	return (map[k / 64] >> (k % 64)) & 1;
}

static void session_bit_put(uint64_t *map, uint32_t k, bool on)
{
	if (on)
		map[k / 64] |= 1ull << (k % 64);
	else
		map[k / 64] &= ~(1ull << (k % 64));
}

/* Was client RPC id sent as private? */
static bool session_ids_private(struct session *s, uint64_t id)
{
	uint32_t k;
	struct session_ids *b = session_ids_find(s, id, &k);

	return b && session_bit(b->priv, k);
}

/* ---- addresses -------------------------------------------------------- */

/*
 * A client's Addr as the engine's: 4 bytes (AF_INET sockets) or 16
 * (AF_INET6 sockets; v4-mapped for IPv4 peers), port 1..65535.
 * any_len: also accept 16 bytes on an AF_INET socket (a response to a
 * peer an event named with 16 bytes).  -EPROTO if malformed.
 */
static int session_addr_in(const struct session *s,
			   const Homa__Client__Addr *in, bool any_len,
			   struct homa_addr *out, uint16_t *port)
{
	if (!in || in->port == 0 || in->port > 0xffff)
		return -EPROTO;
	memset(out, 0, sizeof(*out));
	if (in->addr.len == 4 && s->family == AF_INET) {
		out->in6.s6_addr[10] = 0xff;
		out->in6.s6_addr[11] = 0xff;
		memcpy(&out->in6.s6_addr[12], in->addr.data, 4);
	} else if (in->addr.len == 16 && (s->family == AF_INET6 || any_len)) {
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
static void session_addr_out(const struct session *s, const struct homa_addr *a,
			     uint16_t port, Homa__Client__Addr *out,
			     uint8_t bytes[16])
{
	homa__client__addr__init(out);
	if (s->family == AF_INET && IN6_IS_ADDR_V4MAPPED(&a->in6)) {
		memcpy(bytes, &a->in6.s6_addr[12], 4);
		out->addr.len = 4;
	} else {
		memcpy(bytes, a->in6.s6_addr, 16);
		out->addr.len = 16;
	}
	out->addr.data = bytes;
	out->port = port;
}

/* ---- events ------------------------------------------------------------ */

/* Ids to piggy-back (taken from the end of s->released). */
static size_t session_take_released(struct session *s, uint64_t **ids)
{
	size_t n = s->n_released;

	if (n > SESSION_MAX_RELEASED_PER_EVENT)
		n = SESSION_MAX_RELEASED_PER_EVENT;
	s->n_released -= (unsigned)n;
	/* released is NULL until the first id: no pointer arithmetic on it. */
	*ids = n ? s->released + s->n_released : NULL;
	return n;
}

/*
 * Pack ev into ev->buf, piggy-backing released ids on Delivered/Failed.
 * Returns 0, 1 when there is nothing to send (a TxReleased whose ids all
 * went out already), -ENOMEM.
 */
static int session_ev_pack(struct session *s, struct session_ev *ev)
{
	Homa__Client__DaemonMsg msg = HOMA__CLIENT__DAEMON_MSG__INIT;
	Homa__Client__Delivered d = HOMA__CLIENT__DELIVERED__INIT;
	Homa__Client__Failed f = HOMA__CLIENT__FAILED__INIT;
	Homa__Client__TxReleased t = HOMA__CLIENT__TX_RELEASED__INIT;
	Homa__Client__SendSpace sp = HOMA__CLIENT__SEND_SPACE__INIT;
	Homa__Client__Addr peer;
	uint8_t peer_bytes[16];
	uint64_t *ids = NULL;
	size_t n_ids = 0;

	switch (ev->type) {
	case SESS_EV_PACKED:
		return 0;
	case SESS_EV_DELIVERED:
		session_addr_out(s, &ev->peer, ev->port, &peer, peer_bytes);
		n_ids = session_take_released(s, &ids);
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
	case SESS_EV_FAILED:
		n_ids = session_take_released(s, &ids);
		f.id = ev->id;
		f.cookie = ev->cookie;
		f.error = ev->error;
		f.private_ = ev->priv;
		f.n_tx_released = n_ids;
		f.tx_released = ids;
		msg.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_FAILED;
		msg.failed = &f;
		break;
	case SESS_EV_TX_RELEASED:
		n_ids = session_take_released(s, &ids);
		if (n_ids == 0)
			return 1;
		t.n_ids = n_ids;
		t.ids = ids;
		msg.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_TX_RELEASED;
		msg.tx_released = &t;
		break;
	case SESS_EV_SEND_SPACE:
		msg.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_SEND_SPACE;
		msg.send_space = &sp;
		break;
	}
	ev->len = homa__client__daemon_msg__get_packed_size(&msg);
	ev->buf = malloc(ev->len ? ev->len : 1);
	if (!ev->buf) {
		/* Put the ids back: they are reported later. */
		s->n_released += (unsigned)n_ids;
		return -ENOMEM;
	}
	homa__client__daemon_msg__pack(&msg, ev->buf);
	return 0;
}

struct session_ev *session_ev_next(struct session *s)
{
	struct session_ev *ev;

	if (session_ending(s) && s->state != SESS_LINGER)
		return NULL;
	while ((ev = TAILQ_FIRST(&s->evq)) != NULL) {
		int r = session_ev_pack(s, ev);

		TAILQ_REMOVE(&s->evq, ev, link);
		s->n_evq--;
		if (session_ev_carries(ev->type))
			s->n_carriers--;
		if (r == 0) {
			s->n_sending++;
			return ev;
		}
		session_ev_free(ev);
		if (r < 0) {
			session_fail(s, NULL, "out of memory");
			return NULL;
		}
	}
	return NULL;
}

void session_ev_done(struct session *s, struct session_ev *ev, int res,
		     uint64_t now)
{
	if (s->n_sending > 0)
		s->n_sending--;
	if (res >= 0)
		s->taken_ns = now;
	if (res < 0 && (s->state == SESS_OPENING || s->state == SESS_OPEN ||
			s->state == SESS_LINGER)) {
		bool gone = res == -EPIPE || res == -ECONNRESET;

		session_fail(s, NULL,
			     gone ? SESSION_CLOSED_BY_CLIENT : "send error");
		if (!gone)
			s->err = -res;
	}
	session_ev_free(ev);
	if (s->state < SESS_CLOSING)
		session_mark_dirty(s);
}

void session_queue_pending(struct session *s)
{
	if (s->state != SESS_OPEN && s->state != SESS_OPENING &&
	    s->state != SESS_LINGER)
		return;
	if (s->send_space) {
		s->send_space = false;
		session_ev_add(s, SESS_EV_SEND_SPACE);
	}
	if (s->n_released > 0 && s->n_carriers == 0)
		session_ev_add(s, SESS_EV_TX_RELEASED);
}

bool session_has_pending(const struct session *s)
{
	return s->n_evq > 0 || s->n_released > 0;
}

bool session_should_close(const struct session *s)
{
	return s->state == SESS_DOOMED ||
	       (s->state == SESS_LINGER && s->n_evq == 0 && s->n_sending == 0);
}

bool session_wants_recv(const struct session *s)
{
	return (s->state == SESS_OPENING || s->state == SESS_OPEN) &&
	       s->n_evq + s->n_sending < SESSION_PAUSE_EVENTS;
}

bool session_recv_paused(const struct session *s)
{
	return (s->state == SESS_OPENING || s->state == SESS_OPEN) &&
	       s->n_evq + s->n_sending >= SESSION_PAUSE_EVENTS;
}

/* ---- Open ------------------------------------------------------------- */

static int session_memfd_check(void *arg, int fd, uint64_t size,
			       const char *what, char *why, size_t whylen)
{
	struct statfs sfs;
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);

	(void)arg;
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

static void *session_memfd_map(void *arg, int fd, uint64_t size, bool writable,
			       int *err)
{
	void *p =
		mmap(NULL, size, writable ? PROT_READ | PROT_WRITE : PROT_READ,
		     MAP_SHARED, fd, 0);

	(void)arg;
	if (p == MAP_FAILED) {
		*err = errno;
		return NULL;
	}
	return p;
}

static void session_memfd_unmap(void *arg, void *p, uint64_t size)
{
	(void)arg;
	munmap(p, size);
}

static void session_memfd_close(void *arg, int fd)
{
	(void)arg;
	close(fd);
}

const struct session_ops session_memfd_ops = {
	.check_region = session_memfd_check,
	.map = session_memfd_map,
	.unmap = session_memfd_unmap,
	.close_fd = session_memfd_close,
	.peer_groups = NULL,
};

static void session_close_fds(struct session *s, const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		s->h->ops->close_fd(s->h->ops_arg, fds[i]);
}

/*
 * Answer an Open: OpenReply with error (0: success) and text; direct send
 * granted with fds[0..3), and fds[3] unless it is -1, when fds is not
 * NULL (they go with the answer, closed here if it cannot be queued),
 * refused for direct_why if set.
 */
static void session_open_reply(struct session *s, int error, const char *text,
			       const struct session_ids *b, const int *fds,
			       const char *direct_why)
{
	struct session_ev *ev;
	Homa__Client__DaemonMsg msg = HOMA__CLIENT__DAEMON_MSG__INIT;
	Homa__Client__OpenReply r = HOMA__CLIENT__OPEN_REPLY__INIT;
	Homa__Client__IdBlock ids = HOMA__CLIENT__ID_BLOCK__INIT;
	const struct homa_config *cfg = &s->h->cfg;

	r.error = error;
	r.error_text = (char *)(text ? text : "");
	if (error == 0) {
		r.port = engine_sock_port(s->sock);
		ids.first = b->first;
		ids.count = b->count;
		r.ids = &ids;
		r.wmem_max = cfg->proto.wmem_max;
		r.max_inline = cfg->max_inline < SESSION_MAX_INLINE
				       ? cfg->max_inline
				       : SESSION_MAX_INLINE;
		r.takes_recycle = true;
		r.direct_send = fds != NULL;
		r.direct_v6 = fds != NULL && fds[3] >= 0;
		r.direct_refusal = (char *)(direct_why ? direct_why : "");
		r.direct_receive = fds != NULL && fds[4] >= 0;
		r.direct_receive_refusal =
			(char *)(s->drx_why ? s->drx_why : "");
	}
	msg.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_OPEN;
	msg.open = &r;
	ev = session_ev_add_packed(s, &msg);
	if (fds) {
		/* [socket, ring, table], the IPv6 socket, the receive socket:
		 * the last two only if there. */
		int out[SESSION_DIRECT_FDS];
		unsigned n = 0;

		for (unsigned i = 0; i < SESSION_DIRECT_FDS; i++)
			if (i < 3 || fds[i] >= 0)
				out[n++] = fds[i];
		if (!ev) {
			for (unsigned i = 0; i < n; i++)
				s->h->ops->close_fd(s->h->ops_arg, out[i]);
			return;
		}
		memcpy(ev->fds, out, n * sizeof(int));
		ev->n_fds = n;
		ev->h = s->h;
	}
}

size_t session_pack_refusal(int error, const char *why, uint8_t *buf,
			    size_t len)
{
	Homa__Client__DaemonMsg msg = HOMA__CLIENT__DAEMON_MSG__INIT;
	Homa__Client__OpenReply r = HOMA__CLIENT__OPEN_REPLY__INIT;
	size_t n;

	r.error = error;
	r.error_text = (char *)why;
	msg.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_OPEN;
	msg.open = &r;
	n = homa__client__daemon_msg__get_packed_size(&msg);
	if (n > len)
		return 0;
	return homa__client__daemon_msg__pack(&msg, buf);
}

/* A refused Open: say why, then close once the answer is out. */
static void session_open_refuse(struct session *s, int error, const char *why,
				uint64_t *counter)
{
	if (counter)
		(*counter)++;
	log_notice("client %" PRIu64 " (pid %d uid %u): Open refused: %s",
		   s->serial, (int)s->pid, (unsigned)s->uid, why);
	session_open_reply(s, error, why, NULL, NULL, NULL);
	if (s->state != SESS_OPENING)
		return; /* the answer could not be queued: s is DOOMED */
	session_change_state(s, SESS_LINGER, "Open refused");
	s->reason = "Open refused";
	session_mark_dirty(s);
}

/* May s's client use direct send (clients.direct_send_groups)? */
static bool session_direct_allowed(const struct session *s)
{
	const struct homa_config *cfg = &s->h->cfg;
	uint32_t groups[SESSION_MAX_GROUPS];
	unsigned i, j;
	int n;

	for (i = 0; i < cfg->n_direct_gids; i++)
		if (cfg->direct_gids[i] == (uint32_t)s->gid)
			return true;
	if (cfg->n_direct_gids == 0 || !s->h->ops->peer_groups)
		return false;
	n = s->h->ops->peer_groups(s->h->ops_arg, s, groups,
				   SESSION_MAX_GROUPS);
	for (i = 0; i < cfg->n_direct_gids; i++)
		for (j = 0; n > 0 && j < (unsigned)n; j++)
			if (cfg->direct_gids[i] == groups[j])
				return true;
	return false;
}

/*
 * May s (asking for direct send and receive) have direct receive?  NULL,
 * or why not.  Checked before its first id block, which is keyed if so.
 */
static const char *session_drx_refusal(const struct session *s)
{
	const struct session_host *h = s->h;

	if (!h->cfg.direct_receive)
		return "clients.direct_receive is false";
	if (!h->ops->direct_rx_open)
		return "direct receive is not available on this link";
	if (!h->cfg.ipv4)
		return "homad has no IPv4";
	if (h->n_direct_rx >= SESSION_MAX_DIRECT_RX)
		return "too many direct-receive sockets";
	return NULL;
}

/* A key no session of this homad has had (0 is none). */
static uint32_t session_drx_key(struct session_host *h)
{
	uint32_t k = h->next_key & HOMA_DIRECT_KEY_MASK;

	if (k == 0)
		k = 1;
	h->next_key = k + 1;
	return k;
}

/* Direct send was granted to s, which has a key: its receive socket. */
static void session_drx_grant(struct session *s, int *fd)
{
	struct session_host *h = s->h;
	static char text[200];
	uint16_t port = engine_sock_port(s->sock);
	int err;

	err = h->ops->direct_rx_open(h->ops_arg, s, port, s->drx_key, fd, text,
				     sizeof(text));
	if (err != 0) {
		*fd = -1;
		h->stats.chan_direct_rx_refused++;
		log_notice("client %" PRIu64 " (pid %d uid %u): no direct "
			   "receive: %s",
			   s->serial, (int)s->pid, (unsigned)s->uid, text);
		s->drx_why = text;
		return;
	}
	s->drx = true;
	s->drx_port = port;
	h->n_direct_rx++;
	h->stats.chan_direct_rx_granted++;
	if (h->ops->direct_rx_changed)
		h->ops->direct_rx_changed(h->ops_arg);
}

/* s stops using its receive socket (it ends, binds or shuts down). */
static void session_drx_stop(struct session *s)
{
	struct session_host *h = s->h;

	if (!s->drx)
		return;
	s->drx = false;
	h->n_direct_rx--;
	if (h->ops->direct_rx_changed)
		h->ops->direct_rx_changed(h->ops_arg);
}

/*
 * s, bound to its port, asked for a request socket with its Bind: into
 * *fd (for the Reply), else -1 and why not in *why.
 */
static void session_srx_grant(struct session *s, int *fd, const char **why)
{
	struct session_host *h = s->h;
	static char text[200];
	uint16_t port = engine_sock_port(s->sock);
	int err, keep = -1;

	*fd = -1;
	*why = NULL;
	if (s->srx)
		return; /* (the same port again: it has one) */
	if (s->drx_key == 0 || s->ring == NULL)
		*why = "no direct receive (granted at Open)";
	else if (!h->ops->direct_srx_open)
		*why = "direct receive of requests is not available";
	else if (port == 0 || port >= HOMA_MIN_DEFAULT_PORT)
		*why = "the socket is not bound";
	else if (h->n_direct_srx >= SESSION_MAX_DIRECT_SRX)
		*why = "too many request sockets";
	if (*why != NULL) {
		h->stats.chan_direct_srx_refused++;
		return;
	}
	err = h->ops->direct_srx_open(h->ops_arg, s, port, fd, &keep, text,
				      sizeof(text));
	if (err != 0) {
		*fd = -1;
		h->stats.chan_direct_srx_refused++;
		log_notice("client %" PRIu64 " (pid %d uid %u): no request "
			   "socket for port %u: %s",
			   s->serial, (int)s->pid, (unsigned)s->uid,
			   (unsigned)port, text);
		*why = text;
		return;
	}
	s->srx = true;
	s->srx_ever = true;
	s->srx_port = port;
	s->srx_keep = keep;
	h->n_direct_srx++;
	h->stats.chan_direct_srx_granted++;
	if (h->ops->direct_rx_changed)
		h->ops->direct_rx_changed(h->ops_arg);
}

/* s's port is released (a Bind elsewhere, Shutdown, its end): revoke. */
static void session_srx_stop(struct session *s)
{
	struct session_host *h = s->h;

	if (!s->srx)
		return;
	s->srx = false;
	h->n_direct_srx--;
	h->stats.chan_direct_srx_revoked++;
	/* Revoked before homad's sockets take the port's requests again. */
	if (h->ops->direct_srx_revoke)
		h->ops->direct_srx_revoke(h->ops_arg, s, s->srx_keep);
	else
		h->ops->close_fd(h->ops_arg, s->srx_keep);
	s->srx_keep = -1;
	if (h->ops->direct_rx_changed)
		h->ops->direct_rx_changed(h->ops_arg);
}

unsigned session_host_direct_rx_ports(const struct session_host *h,
				      bool requests, uint16_t *ports,
				      unsigned max)
{
	const struct session *s;
	unsigned n = 0;

	TAILQ_FOREACH(s, &h->direct, direct_link)
	if (n < max && (requests ? s->srx : s->drx))
		ports[n++] = requests ? s->srx_port : s->drx_port;
	return n;
}

/*
 * The OPEN session s asked for direct send: fds (the socket, the ring,
 * the peer table, the IPv6 socket or -1) when granted, else NULL with the
 * reason in *why (the connection works without it).
 */
static const int *session_direct_grant(struct session *s,
				       int fds[SESSION_DIRECT_FDS],
				       const char **why)
{
	struct session_host *h = s->h;
	static char text[200];
	int err;

	if (!session_direct_allowed(s)) {
		h->stats.chan_direct_denied++;
		*why = "not in clients.direct_send_groups";
		return NULL;
	}
	if (!h->ops->direct_open) {
		h->stats.chan_direct_refused++;
		*why = "direct send is not available on this link";
		return NULL;
	}
	if (h->n_direct >= h->cfg.max_direct_sockets) {
		h->stats.chan_direct_refused++;
		*why = "too many direct-send sockets "
		       "(limits.max_direct_sockets)";
		return NULL;
	}
	err = h->ops->direct_open(h->ops_arg, s, fds, &s->ring, text,
				  sizeof(text));
	if (err != 0) {
		s->ring = NULL;
		h->stats.chan_direct_refused++;
		log_notice("client %" PRIu64 " (pid %d uid %u): no direct "
			   "send: %s",
			   s->serial, (int)s->pid, (unsigned)s->uid, text);
		*why = text;
		return NULL;
	}
	s->ring_tail = 0;
	s->direct_v6 = fds[3] >= 0; /* direct_open: AF_INET6 sessions only */
	TAILQ_INSERT_TAIL(&h->direct, s, direct_link);
	h->n_direct++;
	h->stats.chan_direct_granted++;
	fds[4] = -1;
	if (s->drx_key != 0)
		session_drx_grant(s, &fds[4]);
	return fds;
}

/* s ends: no more drains of its ring. */
static void session_direct_end(struct session *s)
{
	struct session_host *h = s->h;

	if (!s->ring)
		return;
	session_drx_stop(s);
	session_srx_stop(s);
	TAILQ_REMOVE(&h->direct, s, direct_link);
	h->n_direct--;
	if (h->ops->direct_close)
		h->ops->direct_close(h->ops_arg, s, s->ring);
	s->ring = NULL;
	s->direct_v6 = false;
}

/*
 * The Open datagram o with descriptors fds[0..nfds) (closed here, whatever
 * happens).  On success s is OPEN, with its regions mapped, its engine
 * socket and its first id block.
 */
static void session_open(struct session *s, const Homa__Client__Open *o,
			 int *fds, unsigned nfds)
{
	struct session_host *h = s->h;
	struct session_stats *st = &h->stats;
	char why[256];
	struct session_ids *b;
	const char *direct_why = NULL;
	const int *direct_fds = NULL;
	int dfds[SESSION_DIRECT_FDS];
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
	err = h->ops->check_region(h->ops_arg, fds[0], o->rx_pool_bytes,
				   "rx pool", why, sizeof(why));
	if (err == 0 && o->tx_area_bytes > 0)
		err = h->ops->check_region(h->ops_arg, fds[1], o->tx_area_bytes,
					   "tx area", why, sizeof(why));
	if (err != 0)
		goto bad;
	if (h->mapped + o->rx_pool_bytes + o->tx_area_bytes >
	    h->cfg.max_memory) {
		snprintf(why, sizeof(why),
			 "regions of %" PRIu64 " bytes: homad maps %" PRIu64
			 " of at most %" PRIu64 " (limits.max_memory)",
			 o->rx_pool_bytes + o->tx_area_bytes, h->mapped,
			 h->cfg.max_memory);
		err = ENOMEM;
		goto bad;
	}
	if (s->client->mapped + o->rx_pool_bytes + o->tx_area_bytes >
	    h->cfg.max_client_memory) {
		snprintf(why, sizeof(why),
			 "regions of %" PRIu64
			 " bytes: this process has %" PRIu64
			 " of at most %" PRIu64 " (limits.max_client_memory)",
			 o->rx_pool_bytes + o->tx_area_bytes, s->client->mapped,
			 h->cfg.max_client_memory);
		err = ENOMEM;
		goto bad;
	}
	p = h->ops->map(h->ops_arg, fds[0], o->rx_pool_bytes, true, &err);
	if (!p) {
		snprintf(why, sizeof(why), "cannot map the rx pool: %s",
			 strerror(err));
		goto bad;
	}
	s->rx_base = p;
	s->rx_len = o->rx_pool_bytes;
	session_mapped(s, (int64_t)s->rx_len);
	if (o->tx_area_bytes > 0) {
		p = h->ops->map(h->ops_arg, fds[1], o->tx_area_bytes, false,
				&err);
		if (!p) {
			snprintf(why, sizeof(why), "cannot map the tx area: %s",
				 strerror(err));
			goto bad;
		}
		s->tx_base = p;
		s->tx_len = o->tx_area_bytes;
		session_mapped(s, (int64_t)s->tx_len);
	}
	session_close_fds(s, fds, nfds);
	nfds = 0;

	s->family = (int)o->family;
	r = engine_sock_open(h->e, s, &s->sock);
	if (r < 0) {
		s->sock = NULL;
		snprintf(why, sizeof(why), "no Homa socket: %s", strerror(-r));
		session_open_refuse(s, -r, why, &st->chan_refused);
		return;
	}
	engine_sock_set_v4only(s->sock, s->family == AF_INET);
	/* Direct receive's key goes into the first id block already. */
	if (o->direct_send && o->direct_receive && session_direct_allowed(s)) {
		s->drx_why = session_drx_refusal(s);
		if (s->drx_why == NULL)
			s->drx_key = session_drx_key(h);
		else
			h->stats.chan_direct_rx_refused++;
	}
	r = engine_sock_set_pool(h->e, s->sock, s->rx_base, s->rx_len);
	b = r == 0 ? session_ids_new(s) : NULL;
	if (!b) {
		snprintf(why, sizeof(why), "cannot set up the socket: %s",
			 strerror(r < 0 ? -r : ENOMEM));
		session_open_refuse(s, r < 0 ? -r : ENOMEM, why, NULL);
		return;
	}
	session_change_state(s, SESS_OPEN, "Open");
	if (o->direct_send)
		direct_fds = session_direct_grant(s, dfds, &direct_why);
	log_debug("client %" PRIu64 " (pid %d uid %u): open, %s, port %u, "
		  "rx pool %zu, tx area %zu",
		  s->serial, (int)s->pid, (unsigned)s->uid,
		  s->family == AF_INET ? "IPv4" : "IPv6",
		  engine_sock_port(s->sock), s->rx_len, s->tx_len);
	session_open_reply(s, 0, NULL, b, direct_fds, direct_why);
	return;
bad:
	session_close_fds(s, fds, nfds);
	session_open_refuse(s, err, why, &st->chan_bad_open);
}

/* ---- commands --------------------------------------------------------- */

/* Queue Failed(id) for a send homad refused; its tx bytes are free. */
static void session_send_failed(struct session *s, uint64_t id, uint64_t cookie,
				bool priv, int err)
{
	struct session_ev *ev = session_ev_add(s, SESS_EV_FAILED);

	if (!ev)
		return;
	ev->id = id;
	ev->cookie = cookie;
	ev->priv = priv;
	ev->error = err;
	session_released_add(s, id);
}

/*
 * The bytes of a message: inline (copied into a new session_tx) or an
 * extent of the transmit area (checked, overflow-safe).  Returns 0 with
 * msg set and *txp allocated, -EPROTO (extent outside the area),
 * -EMSGSIZE (inline data over max_inline or not matching length, or
 * both inline data and an offset), -ENOMEM.
 */
static int session_msg_source(struct session *s, uint64_t id,
			      const ProtobufCBinaryData *inl,
			      uint64_t tx_offset, uint32_t length,
			      struct homa_msgbuf *msg, struct session_tx **txp)
{
	uint32_t max_inline = s->h->cfg.max_inline < SESSION_MAX_INLINE
				      ? s->h->cfg.max_inline
				      : SESSION_MAX_INLINE;
	struct session_tx *tx;

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
		    (tx_offset > s->tx_len || length > s->tx_len - tx_offset))
			return -EPROTO;
		tx = malloc(sizeof(*tx));
		if (!tx)
			return -ENOMEM;
		msg->data = length > 0 ? s->tx_base + tx_offset : NULL;
		msg->length = length;
	}
	tx->s = s;
	tx->id = id;
	tx->quiet = false;
	msg->cookie = tx;
	*txp = tx;
	return 0;
}

/*
 * A SendRequest, or with d a direct-send record standing for one (the
 * message was sent already: checked the same, plus one packet at most,
 * from the tx area, then adopted as sent).
 */
static int session_cmd_send_request(struct session *s,
				    const Homa__Client__SendRequest *r,
				    const struct homa_direct_rec *d,
				    uint64_t now)
{
	struct session_host *h = s->h;
	struct homa_msgbuf msg;
	struct homa_addr dst;
	struct session_ids *b;
	struct session_tx *tx;
	uint16_t port;
	uint64_t id = r->id;
	uint32_t k;
	int rc;

	if (session_addr_in(s, r->dest, false, &dst, &port) < 0)
		return session_bad(s, "request with a bad destination");
	if (id == 0 || (id & 1))
		return session_bad(s, "request with an odd id");
	b = session_ids_find(s, id, &k);
	if (!b)
		return session_bad(s, "request id outside its id blocks");
	if (session_bit(b->used, k))
		return session_bad(s, "request id used twice");
	rc = session_msg_source(s, id, &r->inline_data, r->tx_offset, r->length,
				&msg, &tx);
	if (rc == -EPROTO)
		return session_bad(s, "request bytes outside its tx area");
	if (rc == -EMSGSIZE)
		return session_bad(s, "request with bad inline data");
	if (rc == 0 && d &&
	    (msg.length == 0 ||
	     msg.length > engine_packet_payload(
				  h->e, !IN6_IS_ADDR_V4MAPPED(&dst.in6)))) {
		free(tx);
		return session_bad(s, "direct request longer than a packet");
	}
	/* A refused request leaves its id unused: it may be sent again. */
	if (rc < 0) {
		session_send_failed(s, id, r->cookie, r->private_, -rc);
		return 0;
	}
	if (s->n_tx >= SESSION_MAX_TX ||
	    s->client->n_requests >= h->cfg.max_rpcs_per_client) {
		free(tx);
		session_send_failed(s, id, r->cookie, r->private_, ENOBUFS);
		return 0;
	}
	session_bit_put(b->priv, k, r->private_);
	if (d)
		rc = engine_adopt_request(
			h->e, s->sock, &dst, port, &msg, r->cookie,
			(d->flags & HOMA_DIRECT_F_INCAST) ? ENGINE_FLAG_INCAST
							  : 0,
			now, id, d->ack_id);
	else
		rc = engine_send_request(h->e, s->sock, &dst, port, &msg,
					 r->cookie, now, &id);
	if (rc == -EEXIST) {
		free(tx);
		return session_bad(s, "request id in use");
	}
	if (rc < 0) {
		free(tx);
		session_send_failed(s, r->id, r->cookie, r->private_, -rc);
		return 0;
	}
	session_bit_put(b->used, k, true);
	s->n_tx++;
	s->client->n_requests++;
	return 0;
}

/* A SendResponse, or a direct-send record (as session_cmd_send_request). */
static int session_cmd_send_response(struct session *s,
				     const Homa__Client__SendResponse *r,
				     const struct homa_direct_rec *d,
				     uint64_t now)
{
	struct homa_msgbuf msg;
	struct homa_addr peer;
	struct session_tx *tx;
	uint16_t port;
	int rc;

	if (session_addr_in(s, r->peer, true, &peer, &port) < 0)
		return session_bad(s, "response with a bad peer address");
	if ((r->id & 1) == 0)
		return session_bad(s, "response with an even id");
	rc = session_msg_source(s, r->id, &r->inline_data, r->tx_offset,
				r->length, &msg, &tx);
	if (rc == -EPROTO)
		return session_bad(s, "response bytes outside its tx area");
	if (rc == -EMSGSIZE)
		return session_bad(s, "response with bad inline data");
	if (rc == 0 && d &&
	    (msg.length == 0 ||
	     msg.length > engine_packet_payload(
				  s->h->e, !IN6_IS_ADDR_V4MAPPED(&peer.in6)))) {
		free(tx);
		return session_bad(s, "direct response longer than a packet");
	}
	if (rc < 0) {
		session_send_failed(s, r->id, 0, false, -rc);
		return 0;
	}
	if (s->n_tx >= SESSION_MAX_TX) {
		free(tx);
		session_send_failed(s, r->id, 0, false, ENOBUFS);
		return 0;
	}
	/* The kernel API's port is the peer's; the engine finds the RPC by
	 * id and address. */
	(void)port;
	if (d)
		rc = engine_adopt_response(s->h->e, s->sock, r->id, &peer, &msg,
					   (d->flags & HOMA_DIRECT_F_INCAST)
						   ? ENGINE_FLAG_INCAST
						   : 0,
					   now);
	else
		rc = engine_send_response(s->h->e, s->sock, r->id, &peer, &msg,
					  now);
	if (rc == -ENOENT || rc == -ESHUTDOWN) {
		/* Gone (timed out, acked) or shut down: discarded, as the
		 * kernel does. */
		free(tx);
		session_released_add(s, r->id);
		return 0;
	}
	if (rc < 0) {
		free(tx);
		session_send_failed(s, r->id, 0, false, -rc);
		return 0;
	}
	s->n_tx++;
	return 0;
}

/* May s's client bind ports below 0x8000? */
static bool session_bind_allowed(const struct session *s)
{
	const struct homa_config *cfg = &s->h->cfg;
	uint32_t groups[SESSION_MAX_GROUPS];
	unsigned i, j;
	int n;

	if (s->uid == 0 || (cfg->n_bind_uids == 0 && cfg->n_bind_gids == 0))
		return true;
	for (i = 0; i < cfg->n_bind_uids; i++)
		if (cfg->bind_uids[i] == (uint32_t)s->uid)
			return true;
	for (i = 0; i < cfg->n_bind_gids; i++)
		if (cfg->bind_gids[i] == (uint32_t)s->gid)
			return true;
	if (cfg->n_bind_gids == 0 || !s->h->ops->peer_groups)
		return false;
	/* Supplementary groups, as they were when the client connected. */
	n = s->h->ops->peer_groups(s->h->ops_arg, s, groups,
				   SESSION_MAX_GROUPS);
	for (i = 0; i < cfg->n_bind_gids; i++)
		for (j = 0; n > 0 && j < (unsigned)n; j++)
			if (cfg->bind_gids[i] == groups[j])
				return true;
	return false;
}

/* Reply(seq, error, text) with the optional parts given. */
static void session_reply(struct session *s, uint64_t seq, int error,
			  Homa__Client__Reply *r)
{
	Homa__Client__DaemonMsg msg = HOMA__CLIENT__DAEMON_MSG__INIT;

	r->seq = seq;
	r->error = error;
	if (error != 0)
		r->error_text = (char *)strerror(error);
	msg.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_REPLY;
	msg.reply = r;
	session_ev_add_packed(s, &msg);
}

/* A successful Reply with descriptor fd (-1: none), closed if it cannot
 * be queued. */
static void session_reply_fd(struct session *s, uint64_t seq,
			     Homa__Client__Reply *r, int fd)
{
	Homa__Client__DaemonMsg msg = HOMA__CLIENT__DAEMON_MSG__INIT;
	struct session_ev *ev;

	r->seq = seq;
	msg.ev_case = HOMA__CLIENT__DAEMON_MSG__EV_REPLY;
	msg.reply = r;
	ev = session_ev_add_packed(s, &msg);
	if (fd < 0)
		return;
	if (!ev) {
		s->h->ops->close_fd(s->h->ops_arg, fd);
		return;
	}
	ev->fds[0] = fd;
	ev->n_fds = 1;
	ev->h = s->h;
}

static void session_cmd_info(struct session *s, uint64_t seq,
			     const Homa__Client__Info *req)
{
	/* One RPC's parts of the answer. */
	struct session_info_rpc {
		struct homa_rpc_info info;
		Homa__Client__RpcInfo msg;
		Homa__Client__Addr addr;
		uint8_t addr_bytes[16];
	} *x = NULL;
	Homa__Client__RpcInfo **rpcp = NULL;
	Homa__Client__Reply r = HOMA__CLIENT__REPLY__INIT;
	Homa__Client__InfoReply ir = HOMA__CLIENT__INFO_REPLY__INIT;
	struct homa_sock_info si;
	unsigned max = req->max_rpcs < SESSION_MAX_INFO_RPCS
			       ? req->max_rpcs
			       : SESSION_MAX_INFO_RPCS;
	unsigned n = 0;

	engine_sock_info(s->sock, &si);
	if (max > 0) {
		struct homa_rpc_info *infos = calloc(max, sizeof(*infos));

		x = calloc(max, sizeof(*x));
		rpcp = calloc(max, sizeof(*rpcp));
		if (!infos || !x || !rpcp) {
			free(infos);
			free(x);
			free(rpcp);
			session_reply(s, seq, ENOMEM, &r);
			return;
		}
		n = engine_sock_rpcs(s->sock, infos, max);
		for (unsigned i = 0; i < n; i++)
			x[i].info = infos[i];
		free(infos);
	}
	for (unsigned i = 0; i < n; i++) {
		const struct homa_rpc_info *in = &x[i].info;
		Homa__Client__RpcInfo *y = &x[i].msg;

		homa__client__rpc_info__init(y);
		session_addr_out(s, &in->peer, in->peer_port, &x[i].addr,
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
	session_reply(s, seq, 0, &r);
	free(rpcp);
	free(x);
}

/*
 * Give back offs[0..n) of s's pool (a Recycle, or recycles riding on a
 * command).  false: s recycled bpages it does not hold and is now bad.
 */
static bool session_recycle(struct session *s, const uint32_t *offs, size_t n,
			    uint64_t now)
{
	if (n == 0 ||
	    engine_recycle(s->h->e, s->sock, offs, (unsigned)n, now) == 0)
		return true;
	session_bad(s, "recycled bpages it does not hold");
	return false;
}

/*
 * Direct receive's fallback: a packet s's receive socket let through,
 * handed over by the library.  Only a session that ever had the socket
 * may, and only with the packet the filter would have passed (the engine
 * checks the rest: a response to one of s's own RPCs, from its peer).
 */
static void session_cmd_direct_packet(struct session *s,
				      const Homa__Client__DirectPacket *d,
				      uint64_t now)
{
	struct homa_addr src;
	struct homa_pkt pkt;
	int rc;

	if (s->drx_key == 0 || (s->drx_port == 0 && !s->srx_ever))
		return (void)session_bad(s, "DirectPacket without direct "
					    "receive");
	if (d->src.len != 4 || d->packet.len > 65535 ||
	    wire_decode(d->packet.data, d->packet.len, &pkt) < 0)
		return (void)session_bad(s, "DirectPacket of a bad size");
	memset(&src, 0, sizeof(src));
	src.in6.s6_addr[10] = src.in6.s6_addr[11] = 0xff;
	memcpy(&src.in6.s6_addr[12], d->src.data, 4);
	if (pkt.type == HOMA_DATA && (pkt.sender_id & 1) == 0 && s->srx_ever) {
		/* A request its request socket passed (the engine checks
		 * that one packet holds it whole). */
		if (!s->srx || pkt.dport != s->srx_port) {
			/* Read before the socket was revoked. */
			s->h->stats.chan_direct_srx_late++;
			return;
		}
		s->h->stats.chan_direct_rx_fallback++;
		rc = engine_direct_packet(s->h->e, s->sock, d->packet.data,
					  d->packet.len, &src, true, now);
		if (rc == -EINVAL)
			session_bad(s, "DirectPacket its filter would not "
				       "pass");
		return;
	}
	/* The socket's port and key (the engine checks the rest). */
	if (s->drx_port == 0 || pkt.dport != s->drx_port ||
	    (pkt.sender_id >> 32) != ((HOMA_DIRECT_KEY_BIT >> 32) | s->drx_key))
		return (void)session_bad(s, "DirectPacket its filter would "
					    "not pass");
	s->h->stats.chan_direct_rx_fallback++;
	rc = engine_direct_packet(s->h->e, s->sock, d->packet.data,
				  d->packet.len, &src, false, now);
	if (rc == -EINVAL)
		session_bad(s, "DirectPacket not a response of its own");
}

/* One ClientMsg from an OPEN session. */
static void session_command(struct session *s,
			    const Homa__Client__ClientMsg *cm, uint64_t now)
{
	struct session_host *h = s->h;
	Homa__Client__Reply r = HOMA__CLIENT__REPLY__INIT;
	Homa__Client__IdBlock ids = HOMA__CLIENT__ID_BLOCK__INIT;
	int rc;

	/* Piggy-backed recycles go first (the command may need the room). */
	if (!session_recycle(s, cm->recycle_offsets, cm->n_recycle_offsets,
			     now))
		return;
	switch (cm->cmd_case) {
	case HOMA__CLIENT__CLIENT_MSG__CMD_SEND_REQUEST:
		session_cmd_send_request(s, cm->send_request, NULL, now);
		return;
	case HOMA__CLIENT__CLIENT_MSG__CMD_SEND_RESPONSE:
		session_cmd_send_response(s, cm->send_response, NULL, now);
		return;
	case HOMA__CLIENT__CLIENT_MSG__CMD_RECYCLE:
		session_recycle(s, cm->recycle->bpage_offsets,
				cm->recycle->n_bpage_offsets, now);
		return;
	case HOMA__CLIENT__CLIENT_MSG__CMD_DIRECT_PACKET:
		session_cmd_direct_packet(s, cm->direct_packet, now);
		return;
	case HOMA__CLIENT__CLIENT_MSG__CMD_OPEN:
		session_bad(s, "a second Open");
		return;
	case HOMA__CLIENT__CLIENT_MSG__CMD__NOT_SET:
		session_bad(s, "a message without a command");
		return;
	default:
		break;
	}
	/* The commands that get a Reply. */
	if (cm->seq == 0) {
		session_bad(s, "a command without seq");
		return;
	}
	switch (cm->cmd_case) {
	case HOMA__CLIENT__CLIENT_MSG__CMD_BIND:
		if (cm->bind->port > 0xffff) {
			rc = -EINVAL;
		} else if (cm->bind->port != 0 &&
			   cm->bind->port < HOMA_MIN_DEFAULT_PORT &&
			   !session_bind_allowed(s)) {
			h->stats.chan_bind_denied++;
			log_info("client %" PRIu64 " (pid %d uid %u): bind to "
				 "port %u denied",
				 s->serial, (int)s->pid, (unsigned)s->uid,
				 cm->bind->port);
			rc = -EACCES;
		} else {
			uint16_t was = engine_sock_port(s->sock);

			rc = engine_sock_bind(h->e, s->sock,
					      (uint16_t)cm->bind->port);
			/* The receive sockets' filters name the old port. */
			if (rc == 0 && engine_sock_port(s->sock) != was) {
				session_drx_stop(s);
				session_srx_stop(s);
			}
		}
		r.port = engine_sock_port(s->sock);
		/* A Bind without it gives the request socket back (the
		 * library lost the descriptor). */
		if (rc == 0 && !cm->bind->direct_requests)
			session_srx_stop(s);
		if (rc == 0 && cm->bind->direct_requests) {
			const char *why;
			int fd;

			session_srx_grant(s, &fd, &why);
			r.direct_requests = fd >= 0;
			r.direct_requests_refusal = (char *)(why ? why : "");
			session_reply_fd(s, cm->seq, &r, fd);
			return;
		}
		session_reply(s, cm->seq, -rc, &r);
		return;
	case HOMA__CLIENT__CLIENT_MSG__CMD_SET_SERVER:
		rc = engine_sock_set_server(h->e, s->sock, cm->set_server->on);
		session_reply(s, cm->seq, -rc, &r);
		return;
	case HOMA__CLIENT__CLIENT_MSG__CMD_ABORT:
		if (cm->abort->id & 1 || cm->abort->error < 0 ||
		    cm->abort->error >= 4096)
			rc = -EINVAL;
		else
			rc = engine_abort(h->e, s->sock, cm->abort->id,
					  cm->abort->error, now);
		session_reply(s, cm->seq, -rc, &r);
		return;
	case HOMA__CLIENT__CLIENT_MSG__CMD_INFO:
		session_cmd_info(s, cm->seq, cm->info);
		return;
	case HOMA__CLIENT__CLIENT_MSG__CMD_MORE_IDS: {
		struct session_ids *b = session_ids_new(s);

		if (b) {
			ids.first = b->first;
			ids.count = b->count;
			r.ids = &ids;
		}
		session_reply(s, cm->seq, b ? 0 : ENOMEM, &r);
		return;
	}
	case HOMA__CLIENT__CLIENT_MSG__CMD_SHUTDOWN:
		session_drx_stop(s);
		session_srx_stop(s);
		engine_sock_shutdown(h->e, s->sock, now);
		session_reply(s, cm->seq, 0, &r);
		return;
	default:
		session_bad(s, "an unknown command");
		return;
	}
}

void session_recv(struct session *s, int res, const uint8_t *buf, int *fds,
		  unsigned nfds, bool cmsg_bad, uint64_t now)
{
	struct session_stats *st = &s->h->stats;
	Homa__Client__ClientMsg *cm;

	s->h->now = now;
	if (s->state != SESS_OPENING && s->state != SESS_OPEN) {
		session_close_fds(s, fds, nfds);
		return;
	}
	if (res == 0) {
		session_close_fds(s, fds, nfds);
		session_fail(s, NULL, SESSION_CLOSED_BY_CLIENT);
		return;
	}
	if (res < 0) {
		session_close_fds(s, fds, nfds);
		/* ECONNRESET: it closed with our events unread. */
		session_fail(s, NULL,
			     res == -ECONNRESET	 ? SESSION_CLOSED_BY_CLIENT
			     : res == -ECANCELED ? SESSION_CANCELLED
						 : "receive error");
		if (res != -ECONNRESET && res != -ECANCELED)
			s->err = -res;
		return;
	}
	if (cmsg_bad || (nfds > 0 && s->state != SESS_OPENING)) {
		session_close_fds(s, fds, nfds);
		if (s->state == SESS_OPENING)
			session_open_refuse(s, EINVAL,
					    "unexpected control data with the "
					    "Open",
					    &st->chan_bad_open);
		else
			session_bad(s,
				    "descriptors or control data after Open");
		return;
	}
	if (res > HOMA_CLIENT_MAX_DATAGRAM) {
		session_close_fds(s, fds, nfds);
		if (s->state == SESS_OPENING)
			session_open_refuse(s, EMSGSIZE, "oversized Open",
					    &st->chan_bad_open);
		else
			session_bad(s, "oversized datagram");
		return;
	}
	cm = homa__client__client_msg__unpack(NULL, (size_t)res, buf);
	if (!cm) {
		session_close_fds(s, fds, nfds);
		if (s->state == SESS_OPENING)
			session_open_refuse(
				s, EPROTO, "the first datagram does not decode",
				&st->chan_bad_open);
		else
			session_bad(s, "a datagram that does not decode");
		return;
	}
	if (s->state == SESS_OPENING) {
		if (cm->cmd_case != HOMA__CLIENT__CLIENT_MSG__CMD_OPEN) {
			session_close_fds(s, fds, nfds);
			session_open_refuse(s, EPROTO,
					    "the first datagram is not an Open",
					    &st->chan_bad_open);
		} else if (cm->n_recycle_offsets > 0) {
			session_close_fds(s, fds, nfds);
			session_open_refuse(s, EPROTO,
					    "an Open that recycles bpages",
					    &st->chan_bad_open);
		} else {
			session_open(s, cm->open, fds, nfds);
		}
	} else {
		st->chan_commands++;
		/* Its records first: a command may be about an RPC one of
		 * them made (a response to a request received directly). */
		if (s->ring != NULL)
			session_direct_drain(s, now);
		if (s->state == SESS_OPEN)
			session_command(s, cm, now);
	}
	homa__client__client_msg__free_unpacked(cm, NULL);
}

/* ---- the session's life -------------------------------------------------- */

void session_host_init(struct session_host *h, struct homa_engine *e,
		       const struct homa_config *cfg,
		       const struct session_ops *ops, void *ops_arg)
{
	memset(h, 0, sizeof(*h));
	h->e = e;
	h->cfg = *cfg;
	h->ops = ops ? ops : &session_memfd_ops;
	h->ops_arg = ops_arg;
	TAILQ_INIT(&h->dirty);
	TAILQ_INIT(&h->clients);
	TAILQ_INIT(&h->direct);
	/* Keys start anywhere: a receive socket kept from a previous run
	 * is unlikely to name one of this run's. */
	if (getrandom(&h->next_key, sizeof(h->next_key), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(h->next_key))
		h->next_key = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16;
}

void session_host_set_config(struct session_host *h,
			     const struct homa_config *cfg)
{
	h->cfg = *cfg;
}

/*
 * One session of cl is gone (freed, or never made): free cl with its
 * last one.  Requests are released before their session is freed, so
 * nothing is outstanding then.
 */
static void session_client_put(struct session_host *h,
			       struct session_client *cl)
{
	if (cl->n_conns > 0)
		cl->n_conns--;
	if (cl->n_conns > 0)
		return;
	TAILQ_REMOVE(&h->clients, cl, link);
	free(cl);
}

int session_admit(struct session_host *h, pid_t pid, unsigned n_live,
		  struct session_client **clp, const char **why)
{
	struct session_client *cl;

	*clp = NULL;
	if (n_live >= h->cfg.max_clients) {
		*why = "too many clients (limits.max_clients)";
		h->stats.chan_refused++;
		return ENFILE;
	}
	TAILQ_FOREACH(cl, &h->clients, link)
	if (cl->pid == pid)
		break;
	if (cl && cl->n_conns >= h->cfg.max_sockets_per_client) {
		*why = "too many sockets for this process "
		       "(limits.max_sockets_per_client)";
		h->stats.chan_refused++;
		return EMFILE;
	}
	if (!cl) {
		cl = calloc(1, sizeof(*cl));
		if (!cl) {
			*why = "homad is out of memory";
			h->stats.chan_refused++;
			return ENOMEM;
		}
		cl->pid = pid;
		TAILQ_INSERT_TAIL(&h->clients, cl, link);
	}
	*clp = cl;
	return 0;
}

void session_unadmit(struct session_host *h, struct session_client *cl)
{
	h->stats.chan_refused++;
	if (cl && cl->n_conns == 0)
		session_client_put(h, cl);
}

void session_init(struct session *s, struct session_host *h,
		  struct session_client *cl, void *owner, uint64_t serial,
		  pid_t pid, uid_t uid, gid_t gid)
{
	memset(s, 0, sizeof(*s));
	s->h = h;
	s->client = cl;
	cl->n_conns++;
	s->owner = owner;
	s->serial = serial;
	s->state = SESS_OPENING;
	s->pid = pid;
	s->uid = uid;
	s->gid = gid;
	s->srx_keep = -1;
	TAILQ_INIT(&s->evq);
	h->stats.chan_connects++;
}

void session_close(struct session *s, const char *reason, uint64_t now)
{
	struct session_host *h = s->h;

	if (s->state >= SESS_CLOSING)
		return;
	if (!s->reason)
		s->reason = reason;
	if (s->reason && s->internal)
		log_warnx("client %" PRIu64 " (pid %d uid %u): disconnected: "
			  "%s%s%s",
			  s->serial, (int)s->pid, (unsigned)s->uid, s->reason,
			  s->err ? ": " : "", s->err ? strerror(s->err) : "");
	else if (s->reason && s->loud)
		log_info("client %" PRIu64 " (pid %d uid %u): disconnected: %s",
			 s->serial, (int)s->pid, (unsigned)s->uid, s->reason);
	else
		log_debug("client %" PRIu64 ": disconnected: %s", s->serial,
			  s->reason ? s->reason : "no reason");
	session_change_state(s, SESS_CLOSING, s->reason);
	h->stats.chan_disconnects++;
	session_direct_end(s);
	h->now = now;
	if (s->sock) {
		/* Its tx releases come back here (CLOSING: not freed). */
		engine_sock_close(h->e, s->sock, now);
		s->sock = NULL;
	}
	session_evq_free(s);
	s->n_released = 0;
	session_change_state(s, SESS_CLOSED, s->reason);
}

bool session_releasable(const struct session *s)
{
	return s->state == SESS_CLOSED && s->n_tx == 0;
}

void session_fini(struct session *s)
{
	struct session_host *h = s->h;

	/*
	 * Normally CLOSED; chan_destroy frees what is left after the ring
	 * and the engine are gone, in any state: nothing is in flight or lent
	 * any more then, and the engine must not be touched.
	 */
	if (s->state != SESS_CLOSED)
		s->state = SESS_CLOSED;
	session_evq_free(s);
	if (s->rx_base) {
		h->ops->unmap(h->ops_arg, s->rx_base, s->rx_len);
		session_mapped(s, -(int64_t)s->rx_len);
		s->rx_base = NULL;
	}
	if (s->tx_base) {
		h->ops->unmap(h->ops_arg, (void *)s->tx_base, s->tx_len);
		session_mapped(s, -(int64_t)s->tx_len);
		s->tx_base = NULL;
	}
	session_direct_end(s);
	if (s->client)
		session_client_put(h, s->client);
	s->client = NULL;
	for (unsigned i = 0; i < SESSION_MAX_ID_BLOCKS; i++)
		session_ids_free(&s->ids[i]);
	free(s->released);
	s->released = NULL;
	if (s->dirty) {
		TAILQ_REMOVE(&h->dirty, s, dlink);
		s->dirty = false;
	}
	session_change_state(s, SESS_DEAD, "freed");
}

/* ---- the engine's callbacks -----------------------------------------------
 */

void session_deliver(struct session *s, const struct homa_delivery *d)
{
	struct session_ev *ev;

	if (!s || s->state != SESS_OPEN)
		return;
	if (d->kind == HOMA_DELIVER_ERROR) {
		ev = session_ev_add(s, SESS_EV_FAILED);
		if (!ev)
			return;
		ev->error = d->error;
	} else {
		ev = session_ev_add(s, SESS_EV_DELIVERED);
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
	ev->priv = (d->id & 1) == 0 && session_ids_private(s, d->id);
}

struct session *session_tx_release(void *cookie)
{
	struct session_tx *tx = cookie;
	struct session *s;

	if (!tx)
		return NULL;
	s = tx->s;
	s->n_tx--;
	if ((tx->id & 1) == 0)
		s->client->n_requests--;
	if (!tx->quiet && (s->state == SESS_OPEN || s->state == SESS_OPENING ||
			   s->state == SESS_LINGER))
		session_released_add(s, tx->id);
	free(tx);
	return s;
}

void session_send_space(struct session *s)
{
	if (!s || s->state != SESS_OPEN)
		return;
	s->send_space = true;
	session_mark_dirty(s);
}

/* ---- direct send ---------------------------------------------------------
 */

/* A bad ring record: s goes (counted apart from bad datagrams too). */
static void session_direct_bad(struct session *s, const char *reason)
{
	s->h->stats.chan_direct_bad++;
	session_bad(s, reason);
}

/*
 * A RECEIVED record: the client read the response of its RPC r->id
 * itself.  It can only end its own RPCs (the engine looks the id up in
 * s's socket); one homad no longer has is counted, not refused (a timeout
 * or an abort may have raced with it).
 */
static void session_direct_received(struct session *s,
				    const struct homa_direct_rec *r,
				    uint64_t now)
{
	struct session_host *h = s->h;
	struct engine_direct_rx d;
	struct homa_addr server;
	void *cookie;
	int rc;

	memcpy(&server.in6, r->addr, sizeof(server.in6));
	if (s->drx_key == 0) {
		session_direct_bad(s, "direct record: a received response "
				      "without direct receive");
		return;
	}
	/* (The engine checks the id and the length.) */
	if (r->flags != 0 || r->ack_id != 0 || r->port == 0 ||
	    !IN6_IS_ADDR_V4MAPPED(&server.in6) || r->cookie > 0xffff ||
	    r->tx_offset > 0xffffff) {
		session_direct_bad(s, "direct record: a bad received response");
		return;
	}
	d.length = r->length;
	d.cutoff_version = (uint16_t)r->cookie;
	d.pad[0] = (uint8_t)r->tx_offset;
	d.pad[1] = (uint8_t)(r->tx_offset >> 8);
	d.pad[2] = (uint8_t)(r->tx_offset >> 16);
	rc = engine_direct_response(h->e, s->sock, r->id, &server, &d, now,
				    &cookie);
	if (rc == -EINVAL) {
		session_direct_bad(s, "direct record: a bad received response");
		return;
	}
	s->drx_records++;
	if (rc == 0) {
		h->stats.chan_direct_rx_records++;
		/* The client freed the request's bytes with the record. */
		if (cookie)
			((struct session_tx *)cookie)->quiet = true;
	} else {
		h->stats.chan_direct_rx_stale++;
	}
}

/*
 * An ARRIVED record: the server read request r->id itself.  homad makes
 * the server RPC as its own delivery would; a copy of an RPC homad has or
 * had, or one for a socket that serves no more, is counted.
 */
static void session_direct_arrived(struct session *s,
				   const struct homa_direct_rec *r,
				   uint64_t now)
{
	struct session_host *h = s->h;
	struct engine_direct_rx d;
	struct homa_addr client;
	struct homa_ack ack;
	int rc;

	if (!s->srx_ever) {
		session_direct_bad(s, "direct record: a received request "
				      "without a request socket");
		return;
	}
	memcpy(&client.in6, r->addr, sizeof(client.in6));
	/* (The engine checks the id and the length.) */
	if (r->flags != 0 || (r->ack_id & 1) != 0 || r->port == 0 ||
	    !IN6_IS_ADDR_V4MAPPED(&client.in6) || r->cookie > 0xffffffffu ||
	    r->tx_offset > 0xffffff) {
		session_direct_bad(s, "direct record: a bad received request");
		return;
	}
	if (!s->srx) {
		/* Read before its port was released: that request was for
		 * the old port (the client's RPC times out or is retried). */
		s->srx_records++;
		h->stats.chan_direct_srx_stale++;
		return;
	}
	d.length = r->length;
	d.cutoff_version = (uint16_t)r->cookie;
	d.pad[0] = (uint8_t)r->tx_offset;
	d.pad[1] = (uint8_t)(r->tx_offset >> 8);
	d.pad[2] = (uint8_t)(r->tx_offset >> 16);
	ack.client_id = r->ack_id;
	ack.server_port = (uint16_t)(r->cookie >> 16);
	rc = engine_direct_request(h->e, s->sock, r->id, &client, r->port, &d,
				   &ack, now);
	if (rc == -EINVAL) {
		session_direct_bad(s, "direct record: a bad received request");
		return;
	}
	s->srx_records++;
	if (rc == 0)
		h->stats.chan_direct_srx_records++;
	else
		h->stats.chan_direct_srx_stale++;
}

/*
 * One record r (a private copy: the client may change the ring while it
 * is read), standing for a SendRequest or a SendResponse.
 */
static void session_direct_one(struct session *s,
			       const struct homa_direct_rec *r, uint64_t now)
{
	Homa__Client__SendRequest rq = HOMA__CLIENT__SEND_REQUEST__INIT;
	Homa__Client__SendResponse rs = HOMA__CLIENT__SEND_RESPONSE__INIT;
	Homa__Client__Addr a = HOMA__CLIENT__ADDR__INIT;
	uint64_t bad = s->h->stats.chan_bad_messages;
	struct in6_addr addr;

	if (r->kind == HOMA_DIRECT_RECEIVED) {
		session_direct_received(s, r, now);
		return;
	}
	if (r->kind == HOMA_DIRECT_ARRIVED) {
		session_direct_arrived(s, r, now);
		return;
	}

	/* An IPv6 peer needs the IPv6 socket homad gave it (only AF_INET6
	 * sessions get one); the session's own form of the address. */
	memcpy(&addr, r->addr, sizeof(addr));
	if (!s->direct_v6 && !IN6_IS_ADDR_V4MAPPED(&addr)) {
		session_direct_bad(s, "direct record: an IPv6 peer without "
				      "an IPv6 send socket");
		return;
	}
	a.addr.data = s->family == AF_INET ? addr.s6_addr + 12 : addr.s6_addr;
	a.addr.len = s->family == AF_INET ? 4 : 16;
	a.port = r->port;
	if ((r->flags & ~(HOMA_DIRECT_F_PRIVATE | HOMA_DIRECT_F_INCAST)) != 0) {
		session_direct_bad(s, "direct record: unknown flags");
		return;
	}
	/* An ack names one of our client RPCs: an even id, on requests. */
	if ((r->ack_id & 1) != 0 ||
	    (r->ack_id != 0 && r->kind != HOMA_DIRECT_REQUEST)) {
		session_direct_bad(s, "direct record: a bad ack");
		return;
	}
	s->h->stats.chan_direct_records++;
	s->direct_records++;
	switch (r->kind) {
	case HOMA_DIRECT_REQUEST:
		rq.id = r->id;
		rq.dest = &a;
		rq.cookie = r->cookie;
		rq.private_ = (r->flags & HOMA_DIRECT_F_PRIVATE) != 0;
		rq.tx_offset = r->tx_offset;
		rq.length = r->length;
		if (r->length == 0) {
			session_direct_bad(s, "direct record: empty message");
			return;
		}
		session_cmd_send_request(s, &rq, r, now);
		break;
	case HOMA_DIRECT_RESPONSE:
		if (r->flags & HOMA_DIRECT_F_PRIVATE) {
			session_direct_bad(s, "direct record: a private "
					      "response");
			return;
		}
		rs.id = r->id;
		rs.peer = &a;
		rs.tx_offset = r->tx_offset;
		rs.length = r->length;
		if (r->length == 0) {
			session_direct_bad(s, "direct record: empty message");
			return;
		}
		session_cmd_send_response(s, &rs, r, now);
		break;
	default:
		session_direct_bad(s, "direct record of an unknown kind");
		return;
	}
	/* A validator that refused it doomed s (chan_bad_messages). */
	if (s->h->stats.chan_bad_messages != bad)
		s->h->stats.chan_direct_bad++;
}

unsigned session_direct_drain(struct session *s, uint64_t now)
{
	struct homa_direct_ring *ring = s->ring;
	struct homa_direct_rec r;
	uint64_t head, tail;
	unsigned n = 0;

	if (!ring || s->state != SESS_OPEN)
		return 0;
	head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE);
	tail = s->ring_tail; /* ours: ring->tail is only a copy for it */
	if (head == tail)
		return 0;
	s->h->now = now;
	if (head - tail > HOMA_DIRECT_RING_ENTRIES) {
		session_direct_bad(s, "direct ring: head out of range");
		return 0;
	}
	s->h->stats.chan_direct_drains++;
	while (tail != head && !session_ending(s)) {
		memcpy(&r, &ring->rec[tail & (HOMA_DIRECT_RING_ENTRIES - 1)],
		       sizeof(r));
		if (r.seq != tail) {
			s->h->stats.chan_direct_torn++;
			session_direct_bad(s, "direct ring: a torn record");
			break;
		}
		tail++;
		n++;
		session_direct_one(s, &r, now);
	}
	s->ring_tail = tail;
	__atomic_store_n(&ring->tail, tail, __ATOMIC_RELEASE);
	return n;
}

bool session_host_direct_pending(const struct session_host *h)
{
	const struct session *s;

	TAILQ_FOREACH(s, &h->direct, direct_link)
	if (s->state == SESS_OPEN &&
	    __atomic_load_n(&s->ring->head, __ATOMIC_ACQUIRE) != s->ring_tail)
		return true;
	return false;
}

unsigned session_host_direct_drain(struct session_host *h, uint64_t now)
{
	struct session *s, *next;
	unsigned n = 0;

	for (s = TAILQ_FIRST(&h->direct); s; s = next) {
		next = TAILQ_NEXT(s, direct_link);
		n += session_direct_drain(s, now);
	}
	return n;
}

/* Write e's fields of peer entry q under its seqlock. */
static void session_direct_write(struct homa_direct_peer *q,
				 const struct homa_peer_pub *p)
{
	uint32_t seq = __atomic_load_n(&q->seq, __ATOMIC_RELAXED);

	__atomic_store_n(&q->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (p->gone) {
		q->used = 0;
		q->homad = 0;
		q->cutoff_version = 0;
		memset(q->addr, 0, sizeof(q->addr));
		memset(q->cutoffs, 0, sizeof(q->cutoffs));
	} else {
		q->used = 1;
		q->homad = p->homad;
		q->cutoff_version = p->cutoff_version;
		memcpy(q->addr, p->addr.in6.s6_addr, sizeof(q->addr));
		memcpy(q->cutoffs, p->cutoffs, sizeof(q->cutoffs));
	}
	__atomic_store_n(&q->seq, seq + 2, __ATOMIC_RELEASE);
}

void session_direct_publish(struct homa_direct_table *t,
			    const struct homa_peer_pub *p)
{
	uint32_t first = homa_direct_hash(p->addr.in6.s6_addr);
	struct homa_direct_peer *free_q = NULL;

	for (unsigned i = 0; i < HOMA_DIRECT_PROBES; i++) {
		struct homa_direct_peer *q =
			&t->peers[(first + i) & (HOMA_DIRECT_PEERS - 1)];

		if (q->used && memcmp(q->addr, p->addr.in6.s6_addr,
				      sizeof(q->addr)) == 0) {
			session_direct_write(q, p);
			return;
		}
		if (!q->used && !free_q)
			free_q = q;
	}
	if (p->gone)
		return;
	/* Full run: the first entry goes (its peer gets the default). */
	session_direct_write(free_q ? free_q : &t->peers[first], p);
}

void session_direct_header(struct homa_direct_table *t,
			   const struct homa_engine *e, uint32_t num_priorities)
{
	__atomic_store_n(&t->num_priorities, num_priorities, __ATOMIC_RELAXED);
	__atomic_store_n(&t->max_v4, engine_direct_max(e, false),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&t->max_v6, engine_direct_max(e, true),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&t->incast, engine_incast_on(e) ? 1u : 0u,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&t->magic, HOMA_DIRECT_MAGIC, __ATOMIC_RELEASE);
}
