/*
 * test_engine_fuzz.c - a deterministic robustness check of the whole
 * engine: 1,000,000 packets, made by mutating the packets of the kernel
 * captures (tests/vectors) and from scratch, with ids, offsets, lengths and
 * types drawn at random from small sets (so that they hit live RPCs), fed
 * to an engine with a bound server socket and a client socket, both with
 * small receive pools, interleaved with ticks, application sends,
 * responses, aborts and recycles.  Small limits make every limit bite.
 *
 * Checked all along: every packet the engine sends decodes; every
 * delivery is well formed and lies in its pool; the engine's counts stay
 * within their limits and agree with its lists (total_incoming is the
 * sum of the messages' shares, nrpcs the length of the RPC list, ...).
 * At the end, after a quiet period, the engine holds no RPC at all, and
 * every outgoing buffer has been released exactly once.  Run it under
 * AddressSanitizer/UBSan too (see the report in tests/unit/local.mk).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/homa_int.h"
#include "pcapvec.h"

/* ck_assert writes to Check's pipe on every call: too slow in a loop of
 * millions.  FZ reports only failures. */
#define FZ(c)                                                                 \
	do {                                                                  \
		if (!(c))                                                     \
			ck_abort_msg("%s:%d: failed: %s", __FILE__, __LINE__, \
				     #c);                                     \
	} while (0)

#define FZ_PACKETS   1000000u
#define FZ_CORPUS    8192
#define FZ_PEERS     8
#define FZ_POOL	     (24u * HOMA_BPAGE_SIZE)
#define FZ_IDS	     48
#define FZ_MAX_HELD  4096
#define FZ_SRV_PORT  100
#define FZ_MAX_SENDS 4096

struct fz_pkt {
	uint16_t len;
	uint8_t b[HOMA_DATA_LEN + 9000];
};

/* A lent outgoing buffer: released exactly once. */
struct fz_send {
	bool used;
	bool released;
};

struct fz {
	uint64_t rng;
	struct homa_params p;
	struct homa_engine *e;
	struct homa_sock *srv, *cli;
	uint8_t *pool_srv, *pool_cli;
	uint64_t now;
	struct fz_pkt *corpus;
	unsigned ncorpus;
	struct homa_addr peers[FZ_PEERS];
	/* Ids that packets use: our client ids seen, and the peers'. */
	uint64_t ids[FZ_IDS];
	/* Delivered requests to answer, bpages held. */
	struct homa_delivery held[FZ_MAX_HELD];
	unsigned nheld;
	/* Requests the application answers only at the end. */
	struct homa_delivery later[FZ_MAX_HELD];
	unsigned nlater;
	struct fz_send sends[FZ_MAX_SENDS];
	unsigned nsends;
	uint64_t sent, delivered, errors, released;
};

static struct fz fz;
static uint8_t fz_msg[HOMA_MAX_MESSAGE_LENGTH];

static uint64_t fz_rand(void)
{
	uint64_t z = (fz.rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint32_t fz_below(uint32_t n)
{
	return n == 0 ? 0 : (uint32_t)(fz_rand() % n);
}

/* ---- engine callbacks ------------------------------------------------- */

static void fz_send(void *ctx, const struct homa_out *o)
{
	static uint8_t buf[HOMA_DATA_LEN + 70000];
	struct homa_pkt p;

	(void)ctx;
	FZ((o->hdr_len + o->payload_len) <= (sizeof(buf)));
	FZ((o->prio) <= (7));
	memcpy(buf, o->hdr, o->hdr_len);
	if (o->payload_len > 0)
		memcpy(buf + o->hdr_len, o->payload, o->payload_len);
	FZ((wire_decode(buf, o->hdr_len + o->payload_len, &p)) == (0));
	FZ((p.type) == (o->type));
	if (p.type == HOMA_DATA) {
		/* Within its MTU, and the id is one of ours. */
		FZ((o->hdr_len + o->payload_len + 20) <= (fz.e->params.mtu));
		FZ((o->msg_cookie) != NULL);
	}
	/* Remember our client ids, for packets to come. */
	if ((p.sender_id & 1) == 0)
		fz.ids[fz_below(FZ_IDS / 2)] = p.sender_id;
	fz.sent++;
}

static void fz_deliver(void *ctx, const struct homa_delivery *d)
{
	uint8_t *base;

	(void)ctx;
	if (d->kind == HOMA_DELIVER_ERROR) {
		FZ((d->error) > (0));
		FZ((d->id & 1) == (0));
		fz.errors++;
		return;
	}
	FZ(d->sock == fz.srv || d->sock == fz.cli);
	FZ((d->length) >= (1));
	FZ((d->length) <= (HOMA_MAX_MESSAGE_LENGTH));
	FZ((d->num_bpages) ==
	   ((d->length + HOMA_BPAGE_SIZE - 1) / HOMA_BPAGE_SIZE));
	base = d->sock == fz.srv ? fz.pool_srv : fz.pool_cli;
	for (uint32_t i = 0; i < d->num_bpages; i++) {
		uint32_t n = i + 1 < d->num_bpages
				     ? HOMA_BPAGE_SIZE
				     : d->length - i * HOMA_BPAGE_SIZE;

		FZ(((uint64_t)d->bpage_offsets[i] + n) <= (FZ_POOL));
		if (i + 1 < d->num_bpages)
			FZ((d->bpage_offsets[i] % HOMA_BPAGE_SIZE) == (0));
		(void)base[d->bpage_offsets[i] + n - 1]; /* in the pool */
	}
	fz.delivered++;
	/* Keep it (the queue is acted on after the entry point). */
	if (fz.nheld < FZ_MAX_HELD)
		fz.held[fz.nheld++] = *d;
	else
		ck_abort_msg("too many deliveries held");
}

static void fz_release(void *ctx, void *app, void *cookie)
{
	struct fz_send *s = cookie;

	(void)ctx;
	(void)app;
	FZ(s >= fz.sends && s < fz.sends + FZ_MAX_SENDS);
	FZ(s->used && !s->released);
	s->released = true;
	fz.released++;
}

/* ---- the corpus --------------------------------------------------------- */

static int fz_add(const struct pcapvec_pkt *p, void *arg)
{
	(void)arg;
	if (fz.ncorpus >= FZ_CORPUS || p->homa_len > sizeof(fz.corpus[0].b))
		return 0;
	fz.corpus[fz.ncorpus].len = (uint16_t)p->homa_len;
	memcpy(fz.corpus[fz.ncorpus].b, p->homa, p->homa_len);
	fz.ncorpus++;
	return 0;
}

static void fz_load_corpus(void)
{
	static const char *const files[] = {
		"kernel/concurrent_sizes",
		"kernel/ipv6_kernel_client",
		"kernel/ipv6_kernel_server",
		"kernel/loss_kernel_client_sends_resend",
		"kernel/loss_kernel_retransmits",
		"kernel/loss_kernel_server_sends_resend",
		"kernel/main_crafted_client_vs_vm_server",
		"kernel/main_probe_unknown_busy",
		"kernel/main_unanswered",
		"kernel/main_vm_client_vs_crafted_server",
		"kernel/max_1mb",
		"kernel/jumbo_mtu9000",
		"handmade/homa_edge",
		"handmade/homa_sample",
	};
	char path[4096], err[256];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s.pcap", VECTORS_DIR,
			 files[i]);
		ck_assert_msg(pcapvec_foreach(path, fz_add, NULL, err,
					      sizeof(err)) >= 0,
			      "%s: %s", path, err);
	}
	FZ((fz.ncorpus) > (1000));
}

/* ---- packet makers ------------------------------------------------------ */

static void put32(uint8_t *b, size_t off, uint32_t v)
{
	b[off] = (uint8_t)(v >> 24);
	b[off + 1] = (uint8_t)(v >> 16);
	b[off + 2] = (uint8_t)(v >> 8);
	b[off + 3] = (uint8_t)v;
}

static void put64(uint8_t *b, size_t off, uint64_t v)
{
	put32(b, off, (uint32_t)(v >> 32));
	put32(b, off + 4, (uint32_t)v);
}

/* An offset or length that matters: near a boundary, or anything. */
static uint32_t fz_interesting(uint32_t len)
{
	static const uint32_t special[] = {
		0,	 1,	     1423,	 1424,	     1425,     39999,
		40000,	 40001,	     65535,	 65536,	     999999,   1000000,
		1000001, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFFE, 2 * 1424, 200000,
	};

	switch (fz_below(4)) {
	case 0:
		return special[fz_below(sizeof(special) / sizeof(special[0]))];
	case 1:
		return len > 0 ? fz_below(len + 1) : 0;
	case 2:
		return fz_below(len + 1) / 1424 * 1424;
	default:
		return (uint32_t)fz_rand();
	}
}

static uint64_t fz_id(void)
{
	uint64_t id = fz.ids[fz_below(FZ_IDS)];

	switch (fz_below(8)) {
	case 0:
		return fz_rand();
	case 1:
		return id ^ 1;
	default:
		return id;
	}
}

static uint16_t fz_port(void)
{
	switch (fz_below(10)) {
	case 0:
		return (uint16_t)fz_rand();
	case 1:
	case 2:
	case 3:
		return engine_sock_port(fz.cli);
	default:
		return FZ_SRV_PORT;
	}
}

/* Mutate a corpus packet into buf; returns its length. */
static size_t fz_mutate(uint8_t *buf)
{
	const struct fz_pkt *c = &fz.corpus[fz_below(fz.ncorpus)];
	size_t len = c->len;
	unsigned n = 1 + fz_below(4);

	memcpy(buf, c->b, len);
	/* Aim it at our sockets and ids most of the time. */
	if (len >= HOMA_COMMON_LEN) {
		uint16_t port = fz_port();

		buf[2] = (uint8_t)(port >> 8);
		buf[3] = (uint8_t)port;
		if (fz_below(4) != 0)
			put64(buf, 20, fz_id());
	}
	for (unsigned i = 0; i < n; i++) {
		switch (fz_below(8)) {
		case 0: /* a random byte */
			if (len > 0)
				buf[fz_below((uint32_t)len)] =
					(uint8_t)fz_rand();
			break;
		case 1: /* the type */
			if (len > 11)
				buf[11] = (uint8_t)(0x10 + fz_below(10));
			break;
		case 2: /* DATA.message_length */
			if (len >= HOMA_DATA_LEN)
				put32(buf, 28, fz_interesting(1000000));
			break;
		case 3: /* DATA.incoming / GRANT and RESEND offset */
			if (len >= HOMA_DATA_LEN)
				put32(buf, 32, fz_interesting(1000000));
			else if (len >= 32)
				put32(buf, 28, fz_interesting(1000000));
			break;
		case 4: /* DATA seg_offset and sequence, RESEND length */
			if (len >= HOMA_DATA_LEN) {
				uint32_t off = fz_interesting(1000000);

				put32(buf, 52,
				      fz_below(3) == 0 ? 0xFFFFFFFF : off);
				put32(buf, 4, off);
			} else if (len >= 36) {
				put32(buf, 32, fz_interesting(1000000));
			}
			break;
		case 5: /* truncate */
			len = fz_below((uint32_t)len + 1);
			break;
		case 6: /* grow (zeros or garbage after) */
			if (len < 1600) {
				size_t more = fz_below(200);

				for (size_t k = 0; k < more; k++)
					buf[len + k] = (uint8_t)fz_rand();
				len += more;
			}
			break;
		default: /* DATA ack / homad pad and flags */
			if (len >= HOMA_DATA_LEN) {
				if (fz_below(2) == 0)
					put64(buf, 36, fz_id());
				buf[49] = fz_below(2) ? 'H' : buf[49];
				buf[50] = fz_below(2) ? 'D' : buf[50];
				buf[51] = (uint8_t)fz_rand();
			}
			break;
		}
	}
	return len;
}

/* A packet built from scratch (valid header, random fields). */
static size_t fz_scratch(uint8_t *buf, size_t cap)
{
	struct homa_pkt p;
	size_t n;

	memset(&p, 0, sizeof(p));
	p.type = (enum homa_type)(HOMA_DATA + fz_below(HOMA_TYPE_COUNT));
	p.sport = (uint16_t)(fz_below(4) == 0 ? fz_rand() : 4000);
	p.dport = fz_port();
	p.sender_id = fz_id();
	switch (p.type) {
	case HOMA_DATA: {
		uint32_t len = fz_below(3) == 0 ? 1 + fz_below(1000000)
						: 1 + fz_below(200000);
		uint32_t off = fz_below(len) / 1424 * 1424;
		uint32_t plen = len - off < 1424 ? len - off : 1424;

		if (fz_below(5) == 0)
			plen = fz_below(plen + 1);
		if (fz_below(10) == 0)
			off = fz_below(len);
		if (off + plen > len)
			plen = len - off;
		p.u.data.message_length = len;
		p.u.data.incoming = fz_interesting(len);
		p.u.data.cutoff_version = (uint16_t)fz_below(3);
		p.u.data.retransmit = (uint8_t)fz_below(2);
		p.u.data.offset = off;
		p.u.data.payload_len = plen;
		p.u.data.payload = fz_msg;
		if (fz_below(3) == 0)
			p.u.data.ack.client_id = fz_id();
		p.u.data.ack.server_port = fz_port();
		if (fz_below(2)) {
			p.u.data.pad[0] = 'H';
			p.u.data.pad[1] = 'D';
			p.u.data.pad[2] = (uint8_t)fz_below(4);
		}
		break;
	}
	case HOMA_GRANT:
		p.u.grant.offset = fz_interesting(1000000);
		p.u.grant.priority = (uint8_t)fz_rand();
		break;
	case HOMA_RESEND:
		p.u.resend.offset = fz_interesting(1000000);
		p.u.resend.length = fz_interesting(1000000);
		p.u.resend.priority = (uint8_t)fz_rand();
		break;
	case HOMA_CUTOFFS:
		for (int i = 0; i < HOMA_NUM_PRIORITIES; i++)
			p.u.cutoffs.unsched_cutoffs[i] =
				fz_interesting(1000000);
		p.u.cutoffs.cutoff_version = (uint16_t)fz_rand();
		break;
	case HOMA_ACK:
		p.u.ack.num_acks = (uint16_t)fz_below(HOMA_MAX_ACKS + 1);
		for (int i = 0; i < HOMA_MAX_ACKS; i++) {
			p.u.ack.acks[i].client_id = fz_id() & ~1ull;
			p.u.ack.acks[i].server_port = fz_port();
		}
		break;
	default:
		break;
	}
	n = wire_encode(&p, buf, cap);
	FZ((n) > (0));
	return n;
}

/*
 * A whole, well-formed message from a peer, its packets in random order
 * (some dropped or doubled): a request to our server socket with a fresh
 * id, or the response of one of our live client RPCs.  These complete
 * RPCs, so deliveries, responses, acks and NEED_ACKs all happen.
 */
static void fz_coherent(void)
{
	static uint8_t buf[HOMA_DATA_LEN + 1500];
	uint32_t len = 1 + fz_below(fz_below(4) == 0 ? 60000 : 4000);
	uint32_t npkts = (len + 1423) / 1424, order[64];
	const struct homa_addr *src = &fz.peers[fz_below(FZ_PEERS)];
	struct homa_pkt p;
	const struct homa_rpc *rpc;

	memset(&p, 0, sizeof(p));
	p.type = HOMA_DATA;
	p.sport = 4000;
	if (fz_below(2) == 0) {
		p.dport = FZ_SRV_PORT;
		p.sender_id = 2 * (1000000 + fz_rand() % 1000000);
	} else {
		unsigned skip = fz_below(fz.e->nclient + 1);

		TAILQ_FOREACH(rpc, &fz.cli->rpcs, sock_link)
		if (skip-- == 0)
			break;
		if (rpc == NULL)
			return;
		p.dport = engine_sock_port(fz.cli);
		p.sender_id = rpc->id | 1;
		p.sport = rpc->dport;
		src = &rpc->peer->addr;
	}
	p.u.data.message_length = len;
	p.u.data.incoming = len;
	p.u.data.cutoff_version = 1;
	p.u.data.pad[0] = 'H';
	p.u.data.pad[1] = 'D';
	p.u.data.pad[2] = (uint8_t)fz_below(2);
	for (uint32_t i = 0; i < npkts; i++)
		order[i] = i;
	for (uint32_t i = npkts; i > 1; i--) {
		uint32_t k = fz_below(i), tmp = order[i - 1];

		order[i - 1] = order[k];
		order[k] = tmp;
	}
	for (uint32_t i = 0; i < npkts; i++) {
		uint32_t off = order[i] * 1424;
		size_t n;

		if (fz_below(50) == 0)
			continue; /* lost: RESENDs will ask */
		p.u.data.offset = off;
		p.u.data.payload_len = len - off < 1424 ? len - off : 1424;
		p.u.data.payload = fz_msg + off;
		n = wire_encode(&p, buf, sizeof(buf));
		FZ(n > 0);
		engine_rx(fz.e, buf, n, src, 0, fz.now);
		if (fz_below(50) == 0)
			engine_rx(fz.e, buf, n, src, 0, fz.now);
	}
}

/* ---- application actions ------------------------------------------------ */

static struct fz_send *fz_new_send(void)
{
	for (unsigned tries = 0; tries < 8; tries++) {
		struct fz_send *s = &fz.sends[fz_below(FZ_MAX_SENDS)];

		if (!s->used || s->released) {
			s->used = true;
			s->released = false;
			return s;
		}
	}
	return NULL;
}

static uint32_t fz_msg_len(void)
{
	switch (fz_below(4)) {
	case 0:
		return 1 + fz_below(1500);
	case 1:
		return 1 + fz_below(40000);
	case 2:
		return 1 + fz_below(200000);
	default:
		return 1 + fz_below(HOMA_MAX_MESSAGE_LENGTH);
	}
}

static void fz_app(void)
{
	uint32_t r = fz_below(100);

	if (r < 3) {
		struct fz_send *s = fz_new_send();
		struct homa_msgbuf mb = {fz_msg, fz_msg_len(), s};
		uint64_t id = 0;

		if (s == NULL)
			return;
		if (engine_send_request(fz.e, fz.cli,
					&fz.peers[fz_below(FZ_PEERS)],
					fz_below(8) ? FZ_SRV_PORT : 4000, &mb,
					0, fz.now, &id) < 0)
			s->used = false;
		else
			fz.ids[FZ_IDS / 2 + fz_below(FZ_IDS / 2)] = id;
	} else if (r < 12 && fz.nheld > 0) {
		/* Act on a delivery: answer a request, give bpages back. */
		unsigned i = fz_below(fz.nheld);
		struct homa_delivery d = fz.held[i];

		fz.held[i] = fz.held[--fz.nheld];
		if (d.kind == HOMA_DELIVER_MESSAGE && (d.id & 1) != 0 &&
		    fz.nlater < FZ_MAX_HELD && fz_below(8) == 0) {
			fz.later[fz.nlater++] = d;
		} else if (d.kind == HOMA_DELIVER_MESSAGE && (d.id & 1) != 0) {
			struct fz_send *s = fz_new_send();
			struct homa_msgbuf mb = {fz_msg, fz_msg_len(), s};

			if (s != NULL &&
			    engine_send_response(fz.e, fz.srv, d.id, &d.peer,
						 &mb, fz.now) != 0)
				s->used = false;
		}
		FZ((engine_recycle(fz.e, d.sock, d.bpage_offsets, d.num_bpages,
				   fz.now)) == (0));
	} else if (r < 13) {
		engine_abort(fz.e, fz.cli,
			     fz_below(4) == 0 ? 0 : fz_id() & ~1ull,
			     fz_below(2) ? ECANCELED : 0, fz.now);
	} else if (r < 14) {
		uint32_t bogus = fz_below(FZ_POOL) & ~63u;
		bool held = false;

		for (unsigned i = 0; i < fz.nheld; i++)
			for (uint32_t k = 0; k < fz.held[i].num_bpages; k++)
				held |= fz.held[i].sock == fz.srv &&
					(fz.held[i].bpage_offsets[k] >>
					 HOMA_BPAGE_SHIFT) ==
						(bogus >> HOMA_BPAGE_SHIFT);
		/* A bpage the application holds nothing of: refused. */
		if (!held &&
		    engine_recycle(fz.e, fz.srv, &bogus, 1, fz.now) == 0)
			ck_abort_msg("recycled a bpage not held");
	} else if (r < 15) {
		engine_icmp_error(fz.e, &fz.peers[fz_below(FZ_PEERS)],
				  fz_below(2) ? 0 : FZ_SRV_PORT,
				  fz_below(2) ? ENOTCONN : EHOSTUNREACH,
				  fz.now);
	}
}

/* ---- invariants ---------------------------------------------------------- */

/* Pool shares: each holds exactly its undelivered messages' lengths and
 * lists exactly its capped ones; none is empty. */
static void fz_check_shares(const struct homa_engine *e)
{
	const struct homa_rpc *rpc;
	uint32_t nshares = 0, ncapped = 0, nlive = 0;

	/* The tick's list holds no RPC a server application holds; the
	 * other list holds only those. */
	TAILQ_FOREACH(rpc, &e->in_service, link)
	{
		FZ((rpc->state) == (RPC_IN_SERVICE));
		FZ((rpc->msgin.share) == NULL);
		nlive++;
	}
	TAILQ_FOREACH(rpc, &e->rpcs, link)
	{
		FZ((rpc->state) != (RPC_IN_SERVICE));
		nlive++;
	}
	FZ((nlive) == (e->nrpcs));
	TAILQ_FOREACH(rpc, &e->rpcs, link)
	{
		const struct homa_msgin *m = &rpc->msgin;
		const struct homa_share *sh = m->share;

		FZ(!(m->capped && (m->waiting || m->bufs)));
		if (m->capped || (m->bufs && !m->delivered)) {
			FZ((sh) != NULL);
			FZ((sh->sock) == (rpc->sock));
			FZ((sh->peer) == (rpc->peer));
		} else {
			FZ((sh) == NULL);
		}
		ncapped += m->capped;
	}
	FZ((ncapped) == (fz.srv->ncapped + fz.cli->ncapped));
	for (uint32_t b = 0; b < SHARE_BUCKETS; b++) {
		const struct homa_share *sh;

		for (sh = e->share_buckets[b]; sh != NULL; sh = sh->hash_next) {
			uint64_t held = 0;
			uint32_t capped = 0;

			nshares++;
			TAILQ_FOREACH(rpc, &e->rpcs, link)
			{
				if (rpc->msgin.share != sh)
					continue;
				if (rpc->msgin.capped)
					capped++;
				else
					held += rpc->msgin.length;
			}
			FZ((held) == (sh->held));
			FZ((capped) == (sh->ncapped));
			FZ((sh->held > 0 || sh->ncapped > 0));
		}
	}
	FZ((nshares) == (e->nshares));
}

static void fz_check(bool deep)
{
	const struct homa_engine *e = fz.e;
	const struct homa_params *p = &e->params;
	struct homa_engine_state st;

	engine_state(e, &st);
	FZ((e->metrics.rpc_bad_transitions) == (0));
	FZ((st.rpcs) <= (p->max_rpcs));
	FZ((st.peers) <= (p->max_peers));
	FZ((st.sockets) == (2));
	FZ((st.client_rpcs + st.server_rpcs) == (st.rpcs));
	FZ((st.active_grants) <= (p->max_overcommit));
	FZ((st.active_grants + st.grantable) <= (st.rpcs));
	FZ((st.throttled) <= (st.rpcs));
	FZ((st.buffer_waits) <= (st.rpcs));
	/* Dead RPCs are reaped as they come. */
	FZ((st.dead_rpcs) <= (p->max_rpcs + 10 * p->reap_limit));
	if (!deep)
		return;

	const struct homa_rpc *rpc;
	uint64_t incoming = 0;
	uint32_t n = 0, ns = 0;
	const struct homa_rpc_list *lists[2] = {&e->rpcs, &e->in_service};

	for (int l = 0; l < 2; l++)
		TAILQ_FOREACH(rpc, lists[l], link)
		{
			const struct homa_msgin *m = &rpc->msgin;
			const struct homa_msgout *o = &rpc->msgout;

			n++;
			FZ((rpc->state) != (RPC_DEAD));
			FZ((rpc->sock) != NULL);
			FZ((peer_find(e, &rpc->peer->addr)) == (rpc->peer));
			FZ((rpc->peer->refs) > (0));
			incoming += m->incoming;
			if (m->present) {
				FZ((m->granted) <= (m->length));
				FZ((m->recv_end) <= (m->length));
				FZ((m->bytes_remaining) <= (m->length));
				FZ((m->num_gaps) <= (p->max_gaps));
				for (uint32_t i = 0; i < m->num_gaps; i++) {
					FZ((m->gaps[i].start) <
					   (m->gaps[i].end));
					FZ((m->gaps[i].end) <= (m->recv_end));
					if (i > 0)
						FZ((m->gaps[i - 1].end) <=
						   (m->gaps[i].start));
				}
				if (m->bufs)
					FZ((m->num_bpages) ==
					   ((m->length + HOMA_BPAGE_SIZE - 1) /
					    HOMA_BPAGE_SIZE));
			}
			if (o->present) {
				FZ((o->next_xmit) <= (o->length));
				FZ((o->granted) <= (o->length));
				FZ((o->unscheduled) >= (1));
				FZ((o->unscheduled) <= (o->length));
			}
			FZ((o->heap_index >= 0) == (msgout_sendable(rpc)));
		}
	FZ((n) == (e->nrpcs));
	FZ((incoming) == (e->total_incoming));
	FZ((fz.srv->nrpcs + fz.cli->nrpcs) == (e->nrpcs));
	TAILQ_FOREACH(rpc, &fz.srv->rpcs, sock_link)
	ns++;
	FZ((ns) == (fz.srv->nrpcs));
	FZ((fz.srv->pool.nfree) <= (fz.srv->pool.nbpages));
	FZ((fz.cli->pool.nfree) <= (fz.cli->pool.nbpages));
	fz_check_shares(e);
}

/* ---- the run ---------------------------------------------------------------
 */

/* An engine bug (an illegal RPC state change): the run fails. */
static void fz_bug(void *ctx, const char *what)
{
	(void)ctx;
	ck_abort_msg("engine bug: %s", what);
}

static void fz_setup(const struct homa_params *p, uint64_t seed)
{
	static const struct homa_engine_ops ops = {
		.send = fz_send,
		.deliver = fz_deliver,
		.tx_release = fz_release,
		.bug = fz_bug,
	};

	memset(&fz, 0, sizeof(fz));
	/* Deterministic; FUZZ_SEED=n explores other runs by hand. */
	if (getenv("FUZZ_SEED") != NULL)
		seed ^= strtoull(getenv("FUZZ_SEED"), NULL, 0);
	fz.rng = seed;
	fz.p = *p;
	fz.corpus = calloc(FZ_CORPUS, sizeof(*fz.corpus));
	fz.pool_srv = calloc(1, FZ_POOL);
	fz.pool_cli = calloc(1, FZ_POOL);
	FZ(fz.corpus && fz.pool_srv && fz.pool_cli);
	fz_load_corpus();
	for (unsigned i = 0; i < FZ_PEERS; i++) {
		uint8_t *a = fz.peers[i].in6.s6_addr;

		if (i < FZ_PEERS - 2) {
			a[10] = a[11] = 0xFF;
			a[12] = 10;
			a[15] = (uint8_t)(2 + i);
		} else {
			a[0] = 0xfd;
			a[15] = (uint8_t)(2 + i);
		}
	}
	for (unsigned i = 0; i < FZ_IDS; i++)
		fz.ids[i] = 2 * (1 + fz_below(64)) + (i & 1);
	for (uint32_t i = 0; i < HOMA_MAX_MESSAGE_LENGTH; i++)
		fz_msg[i] = (uint8_t)(i * 7 + 3);
	fz.e = engine_create(&fz.p);
	FZ((fz.e) != NULL);
	engine_set_ops(fz.e, &ops, NULL);
	fz.now = 5000000000ull;
	FZ((engine_sock_open(fz.e, NULL, &fz.srv)) == (0));
	FZ((engine_sock_bind(fz.e, fz.srv, FZ_SRV_PORT)) == (0));
	FZ((engine_sock_open(fz.e, NULL, &fz.cli)) == (0));
	FZ((engine_sock_set_pool(fz.e, fz.srv, fz.pool_srv, FZ_POOL)) == (0));
	FZ((engine_sock_set_pool(fz.e, fz.cli, fz.pool_cli, FZ_POOL)) == (0));
}

static void fz_teardown(void)
{
	engine_destroy(fz.e);
	/* Every buffer lent was released, once (fz_release checks once). */
	for (unsigned i = 0; i < FZ_MAX_SENDS; i++)
		FZ(!fz.sends[i].used || fz.sends[i].released);
	free(fz.corpus);
	free(fz.pool_srv);
	free(fz.pool_cli);
}

/* Advance time by ns, running every deadline on the way. */
static void fz_advance(uint64_t ns)
{
	uint64_t until = fz.now + ns;

	for (;;) {
		uint64_t d = engine_next_deadline(fz.e);

		if (d > until)
			break;
		if (d > fz.now)
			fz.now = d;
		engine_tick(fz.e, fz.now);
		while (fz.nheld > 0 && fz_below(2) == 0)
			fz_app();
	}
	fz.now = until;
}

static void fz_run(unsigned packets)
{
	static uint8_t buf[HOMA_DATA_LEN + 9000 + 256];

	for (unsigned i = 0; i < packets; i++) {
		const struct homa_addr *src = &fz.peers[fz_below(FZ_PEERS)];
		struct homa_addr rnd;
		size_t len;

		if (fz_below(100) < 8) {
			fz_coherent();
			len = 0;
		} else if (fz_below(100) < 75) {
			len = fz_mutate(buf);
		} else {
			len = fz_scratch(buf, sizeof(buf));
		}
		if (fz_below(64) == 0) {
			/* A stranger: the peer table must hold. */
			rnd = *src;
			rnd.in6.s6_addr[13] = (uint8_t)fz_rand();
			rnd.in6.s6_addr[14] = (uint8_t)fz_rand();
			src = &rnd;
		}
		if (len > 0 || fz_below(16) == 0)
			engine_rx(fz.e, buf, len, src, (uint8_t)fz_below(8),
				  fz.now);
		fz_app();
		while (fz.nheld > 32)
			fz_app();
		if (fz_below(4) == 0)
			fz_advance(fz_below(4) == 0
					   ? 1000000 + fz_below(3000000)
					   : fz_below(50000));
		fz_check(i % 997 == 0);
	}
	fz_check(true);
}

/*
 * Stop feeding packets: everything must end (timeouts, the NEED_ACK
 * limit).  Messages waiting for bpages do not time out (spec): each gets
 * its bpages when the one before it ends, so the queue drains one timeout
 * at a time; the bound allows for that.
 */
static void fz_quiesce(void)
{
	const struct homa_params *p = &fz.e->params;
	struct homa_engine_state st;
	uint64_t ticks;

	engine_state(fz.e, &st);
	ticks = (uint64_t)(p->need_ack_timeout + 3) * p->timeout_ticks +
		(uint64_t)(st.buffer_waits + 1) * (p->timeout_ticks + 1);
	/* The requests left for later are answered now (the RPC may be
	 * gone: then the response is refused). */
	while (fz.nlater > 0) {
		struct homa_delivery d = fz.later[--fz.nlater];
		struct fz_send *s = fz_new_send();
		struct homa_msgbuf mb = {fz_msg, 1 + fz_below(3000), s};

		if (s != NULL &&
		    engine_send_response(fz.e, fz.srv, d.id, &d.peer, &mb,
					 fz.now) != 0)
			s->used = false;
	}
	for (uint64_t t = 0; t < ticks; t++) {
		/* The application answers and recycles everything. */
		while (fz.nheld > 0) {
			struct homa_delivery d = fz.held[--fz.nheld];

			if ((d.id & 1) != 0) {
				struct fz_send *s = fz_new_send();
				struct homa_msgbuf mb = {fz_msg,
							 1 + fz_below(3000), s};

				if (s != NULL &&
				    engine_send_response(fz.e, fz.srv, d.id,
							 &d.peer, &mb,
							 fz.now) != 0)
					s->used = false;
			}
			FZ((engine_recycle(fz.e, d.sock, d.bpage_offsets,
					   d.num_bpages, fz.now)) == (0));
		}
		fz_advance((uint64_t)p->tick_usecs * 1000);
		fz_check(t % 50 == 0);
	}
	engine_state(fz.e, &st);
	if (st.rpcs != 0) {
		const struct homa_rpc *rpc;
		unsigned k = 0;

		TAILQ_FOREACH(rpc, &fz.e->rpcs, link)
		if (k++ < 12)
			fprintf(stderr,
				"left: id %llu state %d in(p%d b%d w%d d%d "
				"len %u got %u/%u granted %u gaps %u) out(p%d "
				"len %u next %u granted %u) silent %u done "
				"%u\n",
				(unsigned long long)rpc->id, rpc->state,
				rpc->msgin.present, rpc->msgin.bufs,
				rpc->msgin.waiting, rpc->msgin.delivered,
				rpc->msgin.length, rpc->msgin.recv_end,
				rpc->msgin.length - rpc->msgin.bytes_remaining,
				rpc->msgin.granted, rpc->msgin.num_gaps,
				rpc->msgout.present, rpc->msgout.length,
				rpc->msgout.next_xmit, rpc->msgout.granted,
				rpc->silent_ticks, rpc->done_ticks);
	}
	ck_assert_msg(st.rpcs == 0, "%u RPCs left after a quiet period",
		      st.rpcs);
	FZ((st.dead_rpcs) == (0));
	FZ((st.total_incoming) == (0));
	FZ((st.throttled) == (0));
	FZ((st.buffer_waits) == (0));
	FZ((st.active_grants + st.grantable) == (0));
	FZ((fz.srv->pool.nfree + (fz.srv->pool.partial >= 0)) ==
	   (fz.srv->pool.nbpages));
	FZ((fz.cli->pool.nfree + (fz.cli->pool.partial >= 0)) ==
	   (fz.cli->pool.nbpages));
}

/* The run's tally.  Messages waited for their peer's pool share: that path
 * was taken. */
static void fz_report(const char *name)
{
	uint64_t share_waits = engine_metrics(fz.e)->pool_share_waits;

	printf("fuzz (%s): %u packets, %llu sent, %llu delivered, "
	       "%llu errors, %llu released, %llu pool share waits\n",
	       name, FZ_PACKETS / 2, (unsigned long long)fz.sent,
	       (unsigned long long)fz.delivered, (unsigned long long)fz.errors,
	       (unsigned long long)fz.released,
	       (unsigned long long)share_waits);
	FZ((share_waits) > (0));
}

/* Small limits: every table and queue fills up. */
START_TEST(engine_fuzz__small_limits)
{
	struct homa_params p;

	engine_params_default(&p);
	p.max_rpcs = 300;
	p.max_rpcs_per_peer = 60;
	p.max_peers = 6;
	p.max_gaps = 6;
	p.max_incoming = 100000;
	p.timeout_ticks = 20;
	p.need_ack_timeout = 2;
	p.wmem_max = 20000000;
	p.unsched_from_rtt = 1;
	p.incast_threshold = 2;
	p.peer_pool_percent = 20;
	fz_setup(&p, 0x5eed0001);
	fz_run(FZ_PACKETS / 2);
	fz_quiesce();
	fz_report("small limits");
	fz_teardown();
}
END_TEST

/* The defaults (IPv4 and IPv6 peers, 1500-byte MTU). */
START_TEST(engine_fuzz__defaults)
{
	struct homa_params p;

	engine_params_default(&p);
	p.timeout_ticks = 30;
	p.need_ack_timeout = 2;
	fz_setup(&p, 0x5eed0002);
	fz_run(FZ_PACKETS / 2);
	fz_quiesce();
	fz_report("defaults");
	fz_teardown();
}
END_TEST

static Suite *fuzz_suite(void)
{
	Suite *s = suite_create("engine_fuzz");
	TCase *tc = tcase_create("fuzz");

	tcase_set_timeout(tc, 1200);
	tcase_add_test(tc, engine_fuzz__small_limits);
	tcase_add_test(tc, engine_fuzz__defaults);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fuzz_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
