/*
 * fuzz_engine.c - libFuzzer target for the whole sans-I/O engine
 * (daemon/core).
 *
 * Each input is a script run against a fresh engine with small limits
 * (so that every limit bites): a server socket bound to port 4000 and a
 * client socket, both with 8-bpage receive pools.  The script is a
 * sequence of steps, each an opcode byte and its operands (struct
 * fuzz_in; a short input reads zeros):
 *   RX_RAW     arbitrary bytes received from one of 4 peers (2 IPv4, 2 IPv6)
 *   RX_BUILT   a well-formed packet of any type, its ids and offsets taken
 *              from small sets near the live RPCs, to one of our ports
 *   TICK       advance the clock (up to 65 ms) and run engine_tick
 *   SEND_REQ   a request of up to 300 KB from either socket
 *   SEND_RESP  respond to a delivered request (or to a made-up id)
 *   RECYCLE    give back a delivered message's bpages (or a bogus offset)
 *   ABORT      abort one or all client RPCs
 *   ICMP       an ICMP error from a peer
 *   REFLECT    feed packets the engine sent back to it, as if from their
 *              destination (the engine talks to itself: whole RPCs run)
 *   SOCK       bind / set_server / shutdown / open / close a third socket
 *
 * Checked after every step: the engine's counts (engine_state) stay within
 * its limits; every packet it sends decodes and has a valid priority;
 * every delivery is well formed and lies in its socket's pool, and each
 * bpage is handed out once until recycled; tx_release names a message
 * lent to it, once.  At the end every socket is closed: no RPC may
 * remain, and after engine_destroy every lent message has been released.
 */
#include <errno.h>
#include <string.h>

#include "core/engine.h"
#include "fuzz.h"

#define FE_PEERS       4
#define FE_SOCKS       3
#define FE_POOL_PAGES  8
#define FE_POOL_SIZE   (FE_POOL_PAGES * HOMA_BPAGE_SIZE)
#define FE_MSGS	       64 /* outgoing messages tracked */
#define FE_MAX_MSG     300000
#define FE_SENT	       64   /* sent packets kept for REFLECT */
#define FE_SENT_MAX    1600 /* bytes kept of each */
#define FE_DELIV       256  /* deliveries held by the "application" */
#define FE_SERVER_PORT 4000
#define FE_HELD	       1024 /* bpage offsets held per socket */

enum fe_op {
	FE_RX_RAW,
	FE_RX_BUILT,
	FE_TICK,
	FE_SEND_REQ,
	FE_SEND_RESP,
	FE_RECYCLE,
	FE_ABORT,
	FE_ICMP,
	FE_REFLECT,
	FE_SOCK,
	FE_NOPS
};

struct fe_sent {
	struct homa_addr dst;
	uint8_t prio;
	size_t len;
	uint8_t bytes[FE_SENT_MAX];
};

struct fe {
	struct homa_engine *e;
	struct homa_params params;
	struct homa_sock *socks[FE_SOCKS];
	uint8_t *pools[FE_SOCKS];
	/* pool offsets of socket i the application holds */
	uint32_t held[FE_SOCKS][FE_HELD];
	unsigned n_held[FE_SOCKS];
	struct homa_addr peers[FE_PEERS];
	uint64_t now;
	/* outgoing messages: lent[k] while the engine holds msg k */
	bool lent[FE_MSGS];
	unsigned n_lent;
	/* sent packets, a ring */
	struct fe_sent sent[FE_SENT];
	unsigned sent_head, sent_count;
	/* deliveries the application still holds */
	struct homa_delivery deliv[FE_DELIV];
	unsigned n_deliv;
	uint64_t ids[8]; /* recently seen RPC ids, for RX_BUILT */
	unsigned n_ids;
	bool in_engine; /* inside an entry point: callbacks allowed */
};

static uint8_t fe_payload[FE_MAX_MSG];

/*
 * The engine's allocator.  engine_create's fixed blocks (the engine, RPC,
 * peer and share buckets, the table of ended RPCs: about 850 KB) came
 * fresh from ASan for every input - mapped or out of its quarantine,
 * page-faulted in, each unmap a TLB shootdown across CPUs: that made a
 * short input cost 10 ms (README.md, Speed).  Blocks of FE_BIG bytes or
 * more are kept for the next input (zeroed again when calloc'ed); the
 * small ones - RPCs, peers, sockets, gap lists - come from libc, under
 * ASan, as before.
 */
#define FE_BIG	 (4u * 1024u)
#define FE_CACHE 16

struct fe_block {
	void *p;
	size_t size;
};

static struct fe_block fe_big_live[FE_CACHE]; /* handed out */
static struct fe_block fe_big_kept[FE_CACHE]; /* free, for the next input */

static bool fe_block_take(struct fe_block *set, void *p, size_t size,
			  struct fe_block *out)
{
	for (unsigned i = 0; i < FE_CACHE; i++)
		if (set[i].p != NULL &&
		    (p != NULL ? set[i].p == p : set[i].size == size)) {
			*out = set[i];
			set[i].p = NULL;
			return true;
		}
	return false;
}

static bool fe_block_put(struct fe_block *set, struct fe_block b)
{
	for (unsigned i = 0; i < FE_CACHE; i++)
		if (set[i].p == NULL) {
			set[i] = b;
			return true;
		}
	return false;
}

static void *fe_calloc(void *ctx, size_t n, size_t size)
{
	struct fe_block b = {NULL, n * size};

	(void)ctx;
	if (b.size < FE_BIG)
		return calloc(n, size);
	if (fe_block_take(fe_big_kept, NULL, b.size, &b))
		memset(b.p, 0, b.size);
	else
		b.p = calloc(n, size);
	if (b.p != NULL && !fe_block_put(fe_big_live, b)) {
		free(b.p); /* more big blocks than FE_CACHE: a bug here */
		FUZZ_CHECK(!"fe_big_live full");
	}
	return b.p;
}

static void *fe_realloc(void *ctx, void *p, size_t n, size_t size)
{
	struct fe_block b = {NULL, n * size};

	(void)ctx;
	if (p == NULL && b.size >= FE_BIG) {
		/* A new big block (not zeroed: realloc's contract). */
		if (!fe_block_take(fe_big_kept, NULL, b.size, &b))
			b.p = malloc(b.size);
		if (b.p != NULL && !fe_block_put(fe_big_live, b)) {
			free(b.p);
			FUZZ_CHECK(!"fe_big_live full");
		}
		return b.p;
	}
	/* A big block that grows leaves the cache (libc's from now on). */
	fe_block_take(fe_big_live, p, 0, &b);
	return realloc(p, n * size);
}

static void fe_free(void *ctx, void *p)
{
	struct fe_block b;

	(void)ctx;
	if (p == NULL)
		return;
	if (fe_block_take(fe_big_live, p, 0, &b) &&
	    fe_block_put(fe_big_kept, b))
		return;
	free(p);
}

static int fe_sock_index(struct fe *f, const struct homa_sock *s)
{
	int i;

	for (i = 0; i < FE_SOCKS; i++)
		if (f->socks[i] && f->socks[i] == s)
			return i;
	return -1;
}

static int fe_held_find(struct fe *f, int i, uint32_t off)
{
	unsigned k;

	for (k = 0; k < f->n_held[i]; k++)
		if (f->held[i][k] == off)
			return (int)k;
	return -1;
}

/* Would the pool take back offs[0..n) of socket i (pool.c's rule)? */
static bool fe_recycle_ok(struct fe *f, int i, const uint32_t *offs, size_t n)
{
	size_t k, j;
	unsigned named, held;

	for (k = 0; k < n; k++) {
		uint32_t page = offs[k] / HOMA_BPAGE_SIZE;

		if (offs[k] % 64 || page >= FE_POOL_PAGES)
			return false;
		for (named = 0, j = 0; j < n; j++)
			named += offs[j] / HOMA_BPAGE_SIZE == page;
		for (held = 0, j = 0; j < f->n_held[i]; j++)
			held += f->held[i][j] / HOMA_BPAGE_SIZE == page;
		if (named > held)
			return false;
	}
	return true;
}

static void fe_note_id(struct fe *f, uint64_t id)
{
	f->ids[f->n_ids++ % 8] = id;
}

static void fe_send(void *ctx, const struct homa_out *o)
{
	struct fe *f = ctx;
	struct fe_sent *s;
	struct homa_pkt pkt;
	uint8_t buf[FE_SENT_MAX + 70000];
	size_t len = o->hdr_len + o->payload_len;

	FUZZ_CHECK(f->in_engine);
	FUZZ_CHECK(o->prio < HOMA_NUM_PRIORITIES);
	FUZZ_CHECK(o->hdr && o->hdr_len >= HOMA_COMMON_LEN);
	FUZZ_CHECK(len <= sizeof(buf));
	memcpy(buf, o->hdr, o->hdr_len);
	if (o->payload_len)
		memcpy(buf + o->hdr_len, o->payload, o->payload_len);
	FUZZ_CHECK(wire_decode(buf, len, &pkt) == 0);
	FUZZ_CHECK(pkt.type == o->type);
	if (pkt.type == HOMA_DATA) {
		FUZZ_CHECK(pkt.u.data.payload_len == o->payload_len);
		/* The payload points into one of our lent messages. */
		FUZZ_CHECK(o->payload_len == 0 ||
			   (o->payload >= fe_payload &&
			    o->payload + o->payload_len <=
				    fe_payload + sizeof(fe_payload)));
	}
	fe_note_id(f, pkt.sender_id);
	if (len > FE_SENT_MAX)
		return;
	s = &f->sent[(f->sent_head + f->sent_count) % FE_SENT];
	if (f->sent_count < FE_SENT)
		f->sent_count++;
	else
		f->sent_head = (f->sent_head + 1) % FE_SENT;
	s->dst = *o->dst;
	s->prio = o->prio;
	s->len = len;
	memcpy(s->bytes, buf, len);
}

static void fe_deliver(void *ctx, const struct homa_delivery *d)
{
	struct fe *f = ctx;
	int i = fe_sock_index(f, d->sock);
	uint32_t k;

	FUZZ_CHECK(f->in_engine);
	FUZZ_CHECK(i >= 0);
	FUZZ_CHECK(d->app == (void *)&f->socks[i]);
	fe_note_id(f, d->id);
	if (d->kind == HOMA_DELIVER_ERROR) {
		FUZZ_CHECK(d->error > 0);
		FUZZ_CHECK((d->id & 1) == 0);
		FUZZ_CHECK(d->num_bpages == 0);
		return; /* nothing to give back */
	}
	FUZZ_CHECK(d->kind == HOMA_DELIVER_MESSAGE);
	FUZZ_CHECK(d->length >= 1 && d->length <= HOMA_MAX_MESSAGE_LENGTH);
	FUZZ_CHECK(d->num_bpages ==
		   (d->length + HOMA_BPAGE_SIZE - 1) / HOMA_BPAGE_SIZE);
	FUZZ_CHECK(d->num_bpages <= HOMA_MAX_BPAGES);
	/* All bpages full and aligned but the last, which may share its
	 * bpage with other messages; each offset handed out once. */
	for (k = 0; k < d->num_bpages; k++) {
		uint32_t off = d->bpage_offsets[k];
		uint32_t part = k + 1 < d->num_bpages
					? HOMA_BPAGE_SIZE
					: d->length - k * HOMA_BPAGE_SIZE;

		FUZZ_CHECK(k + 1 == d->num_bpages ||
			   off % HOMA_BPAGE_SIZE == 0);
		FUZZ_CHECK(off < FE_POOL_SIZE && part <= FE_POOL_SIZE - off);
		FUZZ_CHECK(off / HOMA_BPAGE_SIZE ==
			   (off + part - 1) / HOMA_BPAGE_SIZE);
		FUZZ_CHECK(fe_held_find(f, i, off) < 0);
		FUZZ_CHECK(f->n_held[i] < FE_HELD);
		f->held[i][f->n_held[i]++] = off;
	}
	/* Remember it to give back later; if the application is full it
	 * keeps this one for good (its offsets stay marked held). */
	if (f->n_deliv == FE_DELIV)
		return;
	f->deliv[f->n_deliv++] = *d;
}

static void fe_tx_release(void *ctx, void *sock_app, void *cookie)
{
	struct fe *f = ctx;
	uintptr_t k = (uintptr_t)cookie - 1;

	FUZZ_CHECK(k < FE_MSGS);
	FUZZ_CHECK(f->lent[k]);
	f->lent[k] = false;
	f->n_lent--;
}

static void fe_port_unreachable(void *ctx, const struct homa_addr *src,
				const void *pkt, size_t len)
{
	struct fe *f = ctx;

	FUZZ_CHECK(f->in_engine);
	FUZZ_CHECK(pkt && len >= HOMA_COMMON_LEN);
}

static void fe_state_check(struct fe *f)
{
	struct homa_engine_state st;
	struct homa_sock_info si;
	int i;

	engine_state(f->e, &st);
	FUZZ_CHECK(engine_metrics(f->e)->rpc_bad_transitions == 0);
	FUZZ_CHECK(st.sockets <= f->params.max_sockets);
	FUZZ_CHECK(st.rpcs <= f->params.max_rpcs);
	FUZZ_CHECK(st.client_rpcs <= st.rpcs && st.server_rpcs <= st.rpcs);
	FUZZ_CHECK(st.peers <= f->params.max_peers);
	FUZZ_CHECK(st.active_grants <= f->params.max_overcommit);
	FUZZ_CHECK(st.active_grants <= st.rpcs);
	FUZZ_CHECK(st.total_incoming <=
		   (uint64_t)st.rpcs * HOMA_MAX_MESSAGE_LENGTH);
	for (i = 0; i < FE_SOCKS; i++) {
		if (!f->socks[i])
			continue;
		engine_sock_info(f->socks[i], &si);
		FUZZ_CHECK(si.pool_avail_bytes <= FE_POOL_SIZE);
		FUZZ_CHECK(si.wmem <= f->params.wmem_max + FE_MAX_MSG);
	}
}

static int fe_lend(struct fe *f, struct homa_msgbuf *m, uint32_t len,
		   unsigned *slot)
{
	unsigned k;

	for (k = 0; k < FE_MSGS; k++)
		if (!f->lent[k])
			break;
	if (k == FE_MSGS)
		return -1;
	m->data = fe_payload;
	m->length = len;
	m->cookie = (void *)(uintptr_t)(k + 1);
	*slot = k;
	return 0;
}

static void fe_lent(struct fe *f, unsigned k)
{
	f->lent[k] = true;
	f->n_lent++;
}

static void fe_open(struct fe *f, int i)
{
	struct homa_sock *s;

	f->in_engine = true;
	if (engine_sock_open(f->e, &f->socks[i], &s) < 0) {
		f->in_engine = false;
		return;
	}
	f->socks[i] = s;
	FUZZ_CHECK(engine_sock_port(s) >= HOMA_MIN_DEFAULT_PORT);
	FUZZ_CHECK(engine_sock_set_pool(f->e, s, f->pools[i], FE_POOL_SIZE) ==
		   0);
	FUZZ_CHECK(engine_sock_set_pool(f->e, s, f->pools[i], FE_POOL_SIZE) ==
		   -EINVAL);
	f->n_held[i] = 0;
	f->in_engine = false;
}

/* Shutdown releases the socket's pool: its deliveries are gone. */
static void fe_forget(struct fe *f, int i)
{
	unsigned k, j;

	for (k = 0, j = 0; k < f->n_deliv; k++)
		if (f->deliv[k].sock != f->socks[i])
			f->deliv[j++] = f->deliv[k];
	f->n_deliv = j;
	f->n_held[i] = 0;
}

static void fe_close(struct fe *f, int i)
{
	if (!f->socks[i])
		return;
	f->in_engine = true;
	engine_sock_close(f->e, f->socks[i], f->now);
	f->in_engine = false;
	fe_forget(f, i);
	f->socks[i] = NULL;
}

static uint16_t fe_port(struct fe *f, struct fuzz_in *in)
{
	uint8_t c = fuzz_u8(in);
	int i = c % (FE_SOCKS + 2);

	if (i < FE_SOCKS && f->socks[i])
		return engine_sock_port(f->socks[i]);
	if (i == FE_SOCKS)
		return FE_SERVER_PORT;
	return fuzz_u16(in);
}

static uint64_t fe_id(struct fe *f, struct fuzz_in *in)
{
	uint8_t c = fuzz_u8(in);

	if (c < 0xc0 && f->n_ids > 0)
		return f->ids[c % (f->n_ids < 8 ? f->n_ids : 8)] ^ (c >> 6 & 1);
	if (c < 0xf0)
		return c & 0x3f;
	return fuzz_u64(in);
}

static void fe_rx_built(struct fe *f, struct fuzz_in *in)
{
	static uint8_t buf[HOMA_DATA_LEN + 1500];
	struct homa_pkt p;
	const struct homa_addr *src = &f->peers[fuzz_u8(in) % FE_PEERS];
	uint8_t prio = fuzz_u8(in) & 7;
	size_t n, got;
	const uint8_t *pl;
	unsigned i;

	memset(&p, 0, sizeof(p));
	p.type = HOMA_TYPE_MIN + fuzz_u8(in) % HOMA_TYPE_COUNT;
	p.sport = fuzz_u16(in);
	p.dport = fe_port(f, in);
	p.sender_id = fe_id(f, in);
	switch (p.type) {
	case HOMA_DATA:
		p.u.data.message_length = fuzz_u32(in) % (FE_MAX_MSG * 2) + 1;
		p.u.data.incoming = fuzz_u32(in) % (FE_MAX_MSG * 2);
		p.u.data.ack.client_id = fe_id(f, in);
		p.u.data.ack.server_port = fe_port(f, in);
		p.u.data.cutoff_version = fuzz_u8(in);
		p.u.data.retransmit = fuzz_u8(in) & 1;
		p.u.data.offset = fuzz_u32(in) % p.u.data.message_length;
		n = fuzz_u16(in) % 1500;
		if (n > p.u.data.message_length - p.u.data.offset)
			n = p.u.data.message_length - p.u.data.offset;
		pl = fuzz_bytes(in, n, &got);
		memcpy(buf + HOMA_DATA_LEN, pl, got);
		memset(buf + HOMA_DATA_LEN + got, 0x5a, n - got);
		p.u.data.payload_len = (uint32_t)n;
		p.u.data.payload = NULL; /* written above, after the header */
		break;
	case HOMA_GRANT:
		p.u.grant.offset = fuzz_u32(in) % (FE_MAX_MSG * 2);
		p.u.grant.priority = fuzz_u8(in);
		break;
	case HOMA_RESEND:
		p.u.resend.offset = fuzz_u32(in) % (FE_MAX_MSG * 2);
		p.u.resend.length = fuzz_u8(in) & 1 ? HOMA_RESEND_ALL
						    : fuzz_u32(in) % 100000;
		p.u.resend.priority = fuzz_u8(in);
		break;
	case HOMA_CUTOFFS:
		for (i = 0; i < HOMA_NUM_PRIORITIES; i++)
			p.u.cutoffs.unsched_cutoffs[i] = fuzz_u32(in);
		p.u.cutoffs.cutoff_version = fuzz_u16(in);
		break;
	case HOMA_ACK:
		p.u.ack.num_acks = fuzz_u8(in) % (HOMA_MAX_ACKS + 1);
		for (i = 0; i < p.u.ack.num_acks; i++) {
			p.u.ack.acks[i].client_id = fe_id(f, in);
			p.u.ack.acks[i].server_port = fe_port(f, in);
		}
		break;
	default:
		break;
	}
	/* DATA: the count includes the payload written above. */
	n = wire_encode(&p, buf, sizeof(buf));
	FUZZ_CHECK(n ==
		   wire_header_len(p.type) +
			   (p.type == HOMA_DATA ? p.u.data.payload_len : 0));
	f->in_engine = true;
	engine_rx(f->e, buf, n, src, prio, f->now);
	f->in_engine = false;
}

static void fe_step(struct fe *f, struct fuzz_in *in)
{
	struct homa_msgbuf m;
	struct homa_delivery d;
	uint8_t op = fuzz_u8(in) % FE_NOPS;
	uint32_t offs[HOMA_MAX_BPAGES], len;
	unsigned slot, k;
	uint64_t id;
	size_t n, got;
	const uint8_t *b;
	int i, rc;

	f->in_engine = true;
	switch (op) {
	case FE_RX_RAW: {
		const struct homa_addr *src = &f->peers[fuzz_u8(in) % FE_PEERS];
		uint8_t prio = fuzz_u8(in);
		uint8_t *copy;

		n = fuzz_u16(in) % 1600;
		b = fuzz_bytes(in, n, &got);
		copy = malloc(got ? got : 1); /* exact size for ASan */
		FUZZ_CHECK(copy);
		memcpy(copy, b, got);
		engine_rx(f->e, copy, got, src, prio >> 5, f->now);
		free(copy);
		break;
	}
	case FE_RX_BUILT:
		fe_rx_built(f, in);
		break;
	case FE_TICK:
		f->now += (uint64_t)fuzz_u16(in) * 1000;
		if (engine_next_deadline(f->e) <= f->now || (fuzz_u8(in) & 1))
			engine_tick(f->e, f->now);
		break;
	case FE_SEND_REQ:
		i = fuzz_u8(in) % FE_SOCKS;
		len = fuzz_u32(in) % FE_MAX_MSG + 1;
		if (fuzz_u8(in) & 1)
			len = len % 3000 + 1;
		{
			const struct homa_addr *dst =
				&f->peers[fuzz_u8(in) % FE_PEERS];
			uint16_t dport = fe_port(f, in);

			if (!f->socks[i] || fe_lend(f, &m, len, &slot) < 0)
				break;
			id = 0;
			rc = engine_send_request(f->e, f->socks[i], dst, dport,
						 &m, fuzz_u64(in), f->now, &id);
			if (rc == 0) {
				FUZZ_CHECK(id != 0 && (id & 1) == 0);
				fe_lent(f, slot);
				fe_note_id(f, id);
			} else {
				FUZZ_CHECK(rc == -EINVAL || rc == -ESHUTDOWN ||
					   rc == -EAGAIN || rc == -ENOMEM);
			}
		}
		break;
	case FE_SEND_RESP: {
		const struct homa_addr *peer;
		struct homa_sock *s;

		k = fuzz_u8(in);
		len = fuzz_u32(in) % FE_MAX_MSG + 1;
		if (fuzz_u8(in) & 1)
			len = len % 3000 + 1;
		if (f->n_deliv > 0 && (k & 0x80) == 0) {
			d = f->deliv[k % f->n_deliv];
			id = d.id;
			peer = &f->deliv[k % f->n_deliv].peer;
			s = d.sock;
		} else {
			id = fe_id(f, in) | 1;
			peer = &f->peers[k % FE_PEERS];
			s = f->socks[k % FE_SOCKS];
		}
		if (!s || fe_lend(f, &m, len, &slot) < 0)
			break;
		rc = engine_send_response(f->e, s, id, peer, &m, f->now);
		if (rc == 0)
			fe_lent(f, slot);
		else
			FUZZ_CHECK(rc == -ENOENT || rc == -EINVAL ||
				   rc == -ESHUTDOWN || rc == -EAGAIN ||
				   rc == -ENOMEM);
		break;
	}
	case FE_RECYCLE:
		k = fuzz_u8(in);
		if (f->n_deliv > 0 && (k & 0x80) == 0) {
			unsigned j = k % f->n_deliv;

			d = f->deliv[j];
			f->deliv[j] = f->deliv[--f->n_deliv];
			if (d.kind != HOMA_DELIVER_MESSAGE)
				break;
			i = fe_sock_index(f, d.sock);
			FUZZ_CHECK(i >= 0);
			rc = engine_recycle(f->e, d.sock, d.bpage_offsets,
					    d.num_bpages, f->now);
			FUZZ_CHECK(rc == 0);
			for (k = 0; k < d.num_bpages; k++) {
				int h = fe_held_find(f, i, d.bpage_offsets[k]);

				FUZZ_CHECK(h >= 0);
				f->held[i][h] = f->held[i][--f->n_held[i]];
			}
		} else {
			/* Offsets the application may not hold.  The pool
			 * counts chunks per bpage (pool.c): a list is
			 * refused when an offset is not 64-byte aligned,
			 * lies outside the pool, or names a bpage more
			 * often than the application holds chunks of it.
			 * A list that passes would be taken: skip it. */
			i = k % FE_SOCKS;
			n = fuzz_u8(in) % (HOMA_MAX_BPAGES + 1);
			for (k = 0; k < n; k++)
				offs[k] = fuzz_u32(in);
			if (!f->socks[i] || fe_recycle_ok(f, i, offs, n))
				break;
			rc = engine_recycle(f->e, f->socks[i], offs,
					    (unsigned)n, f->now);
			FUZZ_CHECK(rc == -EINVAL);
		}
		break;
	case FE_ABORT:
		i = fuzz_u8(in) % FE_SOCKS;
		id = fuzz_u8(in) & 1 ? 0 : fe_id(f, in);
		rc = fuzz_u8(in) % 4 == 0 ? 0 : ECANCELED;
		if (f->socks[i])
			engine_abort(f->e, f->socks[i], id, rc, f->now);
		break;
	case FE_ICMP: {
		static const int errs[] = {EHOSTUNREACH, ENETUNREACH,
					   EPROTONOSUPPORT, ENOTCONN};
		const struct homa_addr *p = &f->peers[fuzz_u8(in) % FE_PEERS];
		uint16_t dport = fuzz_u8(in) & 1 ? 0 : fe_port(f, in);

		engine_icmp_error(f->e, p, dport, errs[fuzz_u8(in) % 4],
				  f->now);
		break;
	}
	case FE_REFLECT:
		n = fuzz_u8(in) % 32 + 1;
		while (n-- > 0 && f->sent_count > 0) {
			struct fe_sent s = f->sent[f->sent_head];

			f->sent_head = (f->sent_head + 1) % FE_SENT;
			f->sent_count--;
			if (fuzz_u8(in) % 8 == 0)
				continue; /* lost */
			engine_rx(f->e, s.bytes, s.len, &s.dst, s.prio, f->now);
		}
		break;
	case FE_SOCK:
		k = fuzz_u8(in);
		i = k % FE_SOCKS;
		switch ((k >> 4) % 5) {
		case 0:
			if (f->socks[i])
				engine_sock_bind(f->e, f->socks[i],
						 fuzz_u16(in));
			break;
		case 1:
			if (f->socks[i])
				engine_sock_set_server(f->e, f->socks[i],
						       fuzz_u8(in) & 1);
			break;
		case 2:
			if (f->socks[i] && i == 2) {
				engine_sock_shutdown(f->e, f->socks[i], f->now);
				fe_forget(f, i);
			}
			break;
		case 3:
			if (i == 2 && !f->socks[i]) {
				f->in_engine = false;
				fe_open(f, i);
			}
			break;
		default:
			if (i == 2) {
				f->in_engine = false;
				fe_close(f, i);
			}
			break;
		}
		break;
	default:
		break;
	}
	f->in_engine = false;
	fe_state_check(f);
}

/* An engine bug (an illegal RPC state change): a finding. */
static void fe_bug(void *ctx, const char *what)
{
	(void)ctx;
	fprintf(stderr, "engine bug: %s\n", what);
	abort();
}

static void fe_addr4(struct homa_addr *a, uint8_t last)
{
	memset(a, 0, sizeof(*a));
	a->in6.s6_addr[10] = 0xff;
	a->in6.s6_addr[11] = 0xff;
	a->in6.s6_addr[12] = 10;
	a->in6.s6_addr[15] = last;
}

static void fe_addr6(struct homa_addr *a, uint8_t last)
{
	memset(a, 0, sizeof(*a));
	a->in6.s6_addr[0] = 0xfd;
	a->in6.s6_addr[15] = last;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pool_mem[FE_SOCKS][FE_POOL_SIZE];
	static struct fe f;
	const struct homa_engine_ops ops = {
		.send = fe_send,
		.deliver = fe_deliver,
		.tx_release = fe_tx_release,
		.port_unreachable = fe_port_unreachable,
		.bug = fe_bug,
	};
	static const struct homa_allocator alloc = {fe_calloc, fe_realloc,
						    fe_free, NULL};
	struct fuzz_in in = {data, size};
	struct homa_engine_state st;
	unsigned steps = 0;
	int i;

	memset(&f, 0, sizeof(f));
	if (fe_payload[1] == 0)
		for (i = 0; i < (int)sizeof(fe_payload); i++)
			fe_payload[i] = (uint8_t)(i * 7);
	engine_params_default(&f.params);
	f.params.max_rpcs = 48;
	f.params.max_rpcs_per_peer = 16;
	f.params.max_peers = 6;
	f.params.max_sockets = FE_SOCKS;
	f.params.max_gaps = 8;
	f.params.max_overcommit = 2;
	f.params.max_incoming = 200000;
	f.params.unsched_bytes = 10000;
	f.params.timeout_ticks = 20;
	f.params.wmem_max = 1000000;
	f.params.dead_buffs_limit = 50;
	f.params.unsched_from_rtt = size > 0 && (data[0] & 1);
	f.params.incast_threshold = 2;
	f.e = engine_create_alloc(&f.params, &alloc);
	FUZZ_CHECK(f.e);
	engine_set_ops(f.e, &ops, &f);
	fe_addr4(&f.peers[0], 1);
	fe_addr4(&f.peers[1], 2);
	fe_addr6(&f.peers[2], 1);
	fe_addr6(&f.peers[3], 2);
	for (i = 0; i < FE_SOCKS; i++)
		f.pools[i] = pool_mem[i];
	f.now = 1000000000;
	fe_open(&f, 0);
	fe_open(&f, 1);
	FUZZ_CHECK(f.socks[0] && f.socks[1]);
	FUZZ_CHECK(engine_sock_bind(f.e, f.socks[0], FE_SERVER_PORT) == 0);
	FUZZ_CHECK(engine_sock_set_server(f.e, f.socks[0], true) == 0);

	while (in.n > 0 && steps++ < 4096)
		fe_step(&f, &in);

	/* Close everything: nothing may remain. */
	for (i = 0; i < FE_SOCKS; i++)
		fe_close(&f, i);
	engine_state(f.e, &st);
	FUZZ_CHECK(st.sockets == 0);
	FUZZ_CHECK(st.rpcs == 0);
	FUZZ_CHECK(st.client_rpcs == 0 && st.server_rpcs == 0);
	FUZZ_CHECK(st.active_grants == 0 && st.grantable == 0);
	FUZZ_CHECK(st.total_incoming == 0);
	FUZZ_CHECK(engine_metrics(f.e)->rpc_bad_transitions == 0);
	f.in_engine = true;
	engine_destroy(f.e);
	FUZZ_CHECK(f.n_lent == 0);
	return 0;
}
