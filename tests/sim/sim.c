/*
 * sim.c - the deterministic simulator of sim.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

enum sim_ev_type {
	EV_SWITCH_IN, /* packet reaches the switch */
	EV_PORT_DONE, /* an egress port finished a packet */
	EV_HOST_IN,   /* packet reaches its host */
	EV_TIMER,     /* a host's engine deadline */
	EV_RPC_START, /* a scheduled RPC starts */
	EV_RESPOND,   /* a server answers after its think time */
	EV_ICMP,      /* port unreachable reaches the sender */
	EV_ECHO,      /* a probe's answer reaches the prober */
};

struct sim_pkt {
	unsigned src, dst;
	uint8_t prio;
	uint32_t len; /* Homa bytes */
	struct sim_pkt *next;
	uint8_t bytes[];
};

struct sim_event {
	uint64_t time;
	uint64_t seq;
	enum sim_ev_type type;
	unsigned host;
	uint64_t arg; /* timer generation, rpc index, icmp port */
	struct sim_pkt *pkt;
	struct homa_addr addr; /* EV_RESPOND: client; EV_ICMP, EV_ECHO:
				  reporter */
};

struct sim_port {
	struct sim_pkt *head[HOMA_NUM_PRIORITIES], *tail[HOMA_NUM_PRIORITIES];
	bool busy;
	uint64_t bytes;
	uint64_t queued, max_queued; /* bytes waiting (not on the wire) */
	uint64_t drops;		     /* no buffer space */
};

struct sim_held {
	uint32_t offsets[HOMA_MAX_BPAGES];
	uint32_t n;
};

struct sim_host {
	unsigned idx;
	struct homa_addr addr;
	struct homa_engine *e;
	struct homa_sock *server, *client;
	uint8_t *server_pool, *client_pool;
	uint64_t uplink_free;
	uint64_t timer_gen;
	uint64_t timer_at; /* deadline an event is queued for (0: none) */
	bool dead;
	uint64_t stalled_until; /* sim_host_stall: its events wait till then */
	uint32_t uplink_mbps;
	struct sim_port port; /* the switch's egress port towards this host */
	struct homa_delivery *pending;
	size_t npending, cap_pending;
	struct sim_held *held;
	size_t nheld, cap_held;
};

/* Key (client host, client id) -> rpc index. */
struct sim_map_ent {
	uint64_t key;
	size_t val;
	bool used;
};

struct sim_txbuf {
	unsigned host;
	uint8_t data[];
};

struct sim {
	struct sim_config cfg;
	uint64_t now;
	uint64_t seq;
	uint64_t rng;
	struct sim_event *ev;
	size_t nev, cap_ev;
	struct sim_host *hosts;
	struct sim_rpc *rpcs;
	size_t nrpcs, cap_rpcs, ndone;
	struct sim_map_ent *map;
	size_t map_cap, map_used;
	uint64_t trace;
	sim_tap_fn tap;
	void *tap_ctx;
	sim_probe_fn probe;
	void *probe_ctx;
	unsigned cur_host; /* host whose engine is running */
};

static void *sim_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);

	if (q == NULL) {
		fprintf(stderr, "sim: out of memory\n");
		abort();
	}
	return q;
}

void sim_config_default(struct sim_config *c)
{
	memset(c, 0, sizeof(*c));
	c->hosts = 2;
	c->link_mbps = 25000;
	c->delay_ns = 1000;
	c->seed = 1;
	c->pool_bytes = 16u << 20;
	engine_params_default(&c->proto);
	c->proto.link_mbps = c->link_mbps;
}

uint64_t sim_rand(struct sim *s)
{
	uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static bool sim_chance(struct sim *s, uint32_t ppm)
{
	return ppm > 0 && sim_rand(s) % 1000000 < ppm;
}

/* ---- events ------------------------------------------------------------ */

static bool sim_ev_before(const struct sim_event *a, const struct sim_event *b)
{
	return a->time != b->time ? a->time < b->time : a->seq < b->seq;
}

static void sim_push(struct sim *s, struct sim_event ev)
{
	size_t i;

	if (s->nev == s->cap_ev) {
		s->cap_ev = s->cap_ev ? 2 * s->cap_ev : 1024;
		s->ev = sim_xrealloc(s->ev, s->cap_ev * sizeof(*s->ev));
	}
	ev.seq = s->seq++;
	i = s->nev++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!sim_ev_before(&ev, &s->ev[parent]))
			break;
		s->ev[i] = s->ev[parent];
		i = parent;
	}
	s->ev[i] = ev;
}

static struct sim_event sim_pop(struct sim *s)
{
	struct sim_event top = s->ev[0], last = s->ev[--s->nev];
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, b = i;
		const struct sim_event *bv = &last;

		if (l < s->nev && sim_ev_before(&s->ev[l], bv)) {
			b = l;
			bv = &s->ev[l];
		}
		if (r < s->nev && sim_ev_before(&s->ev[r], bv))
			b = r;
		if (b == i)
			break;
		s->ev[i] = s->ev[b];
		i = b;
	}
	if (s->nev > 0)
		s->ev[i] = last;
	return top;
}

/* ---- rpc map ----------------------------------------------------------- */

static uint64_t sim_key(unsigned host, uint64_t id)
{
	return ((uint64_t)host << 52) ^ id;
}

static size_t sim_hash(uint64_t k, size_t cap)
{
	return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

static void sim_map_put(struct sim *s, uint64_t key, size_t val)
{
	if (2 * (s->map_used + 1) > s->map_cap) {
		struct sim_map_ent *old = s->map;
		size_t oldcap = s->map_cap;

		s->map_cap = oldcap ? 2 * oldcap : 1024;
		s->map = calloc(s->map_cap, sizeof(*s->map));
		if (s->map == NULL)
			abort();
		s->map_used = 0;
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].used)
				sim_map_put(s, old[i].key, old[i].val);
		free(old);
	}
	for (size_t i = sim_hash(key, s->map_cap);;
	     i = (i + 1) & (s->map_cap - 1))
		if (!s->map[i].used) {
			s->map[i].used = true;
			s->map[i].key = key;
			s->map[i].val = val;
			s->map_used++;
			return;
		}
}

static long sim_map_get(const struct sim *s, uint64_t key)
{
	if (s->map_cap == 0)
		return -1;
	for (size_t i = sim_hash(key, s->map_cap); s->map[i].used;
	     i = (i + 1) & (s->map_cap - 1))
		if (s->map[i].key == key)
			return (long)s->map[i].val;
	return -1;
}

/* ---- byte patterns ----------------------------------------------------- */

static uint8_t sim_pattern(uint64_t tag, uint32_t i)
{
	uint64_t z = tag * 0x9E3779B97F4A7C15ull + (i / 8);

	z = (z ^ (z >> 29)) * 0xBF58476D1CE4E5B9ull;
	z ^= z >> 32;
	return (uint8_t)(z >> (8 * (i % 8)));
}

static void sim_fill(uint8_t *buf, uint32_t len, uint64_t tag)
{
	for (uint32_t i = 0; i < len; i++)
		buf[i] = sim_pattern(tag, i);
}

/* Check a delivered message against the pattern of tag. */
static bool sim_check(const uint8_t *pool, const struct homa_delivery *d,
		      uint64_t tag)
{
	uint32_t left = d->length;

	if (d->num_bpages !=
	    (d->length + HOMA_BPAGE_SIZE - 1) / HOMA_BPAGE_SIZE)
		return false;
	for (uint32_t c = 0; c < d->num_bpages; c++) {
		const uint8_t *p = pool + d->bpage_offsets[c];
		uint32_t n = left < HOMA_BPAGE_SIZE ? left : HOMA_BPAGE_SIZE;

		if (c + 1 < d->num_bpages &&
		    (d->bpage_offsets[c] & (HOMA_BPAGE_SIZE - 1)) != 0)
			return false;
		for (uint32_t i = 0; i < n; i++)
			if (p[i] != sim_pattern(tag, c * HOMA_BPAGE_SIZE + i))
				return false;
		left -= n;
	}
	return true;
}

/* ---- engine callbacks -------------------------------------------------- */

static uint64_t sim_tx_ns(const struct sim *s, uint32_t bytes)
{
	return (uint64_t)bytes * 8000 / s->cfg.link_mbps;
}

/* Time to put bytes on host h's uplink. */
static uint64_t sim_uplink_ns(const struct sim *s, const struct sim_host *h,
			      uint32_t bytes)
{
	uint32_t mbps = h->uplink_mbps ? h->uplink_mbps : s->cfg.link_mbps;

	return (uint64_t)bytes * 8000 / mbps;
}

static void sim_cb_send(void *ctx, const struct homa_out *out)
{
	struct sim *s = ctx;
	struct sim_host *h = &s->hosts[s->cur_host];
	struct sim_pkt *p;
	unsigned dst = s->cfg.hosts;
	uint32_t len = (uint32_t)(out->hdr_len + out->payload_len);
	struct sim_event ev;

	if (s->tap != NULL)
		s->tap(s->tap_ctx, h->idx, s->now, out);
	for (unsigned i = 0; i < s->cfg.hosts; i++)
		if (memcmp(&s->hosts[i].addr, out->dst, sizeof(*out->dst)) == 0)
			dst = i;
	if (dst == s->cfg.hosts || h->dead)
		return; /* no such host: the packet goes nowhere */
	p = sim_xrealloc(NULL, sizeof(*p) + len);
	p->src = h->idx;
	p->dst = dst;
	p->prio = out->prio;
	p->len = len;
	p->next = NULL;
	memcpy(p->bytes, out->hdr, out->hdr_len);
	if (out->payload_len > 0)
		memcpy(p->bytes + out->hdr_len, out->payload, out->payload_len);
	if (h->uplink_free < s->now)
		h->uplink_free = s->now;
	h->uplink_free += sim_uplink_ns(s, h, len + 20);
	memset(&ev, 0, sizeof(ev));
	ev.time = h->uplink_free + s->cfg.delay_ns;
	ev.type = EV_SWITCH_IN;
	ev.pkt = p;
	sim_push(s, ev);
}

static void sim_cb_deliver(void *ctx, const struct homa_delivery *d)
{
	struct sim *s = ctx;
	struct sim_host *h = &s->hosts[s->cur_host];

	if (h->npending == h->cap_pending) {
		h->cap_pending = h->cap_pending ? 2 * h->cap_pending : 64;
		h->pending = sim_xrealloc(h->pending,
					  h->cap_pending * sizeof(*h->pending));
	}
	h->pending[h->npending++] = *d;
}

static void sim_cb_release(void *ctx, void *app, void *cookie)
{
	(void)ctx;
	(void)app;
	free(cookie);
}

static void sim_cb_unreach(void *ctx, const struct homa_addr *src,
			   const void *pkt, size_t len)
{
	struct sim *s = ctx;
	struct sim_event ev;
	const uint8_t *b = pkt;
	unsigned dst = s->cfg.hosts;

	for (unsigned i = 0; i < s->cfg.hosts; i++)
		if (memcmp(&s->hosts[i].addr, src, sizeof(*src)) == 0)
			dst = i;
	if (dst == s->cfg.hosts || len < 4)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.time = s->now + 2 * s->cfg.delay_ns;
	ev.type = EV_ICMP;
	ev.host = dst;
	ev.arg = (uint64_t)((b[2] << 8) | b[3]); /* the quoted dport */
	ev.addr = s->hosts[s->cur_host].addr;
	sim_push(s, ev);
}

/*
 * A probe (ICMP echo) to the host at peer: its kernel answers even while
 * its homad is stalled; a killed host answers nothing.  The answer takes a
 * round trip (control packets skip the queues here).
 */
static void sim_cb_probe(void *ctx, const struct homa_addr *peer, uint16_t seq)
{
	struct sim *s = ctx;
	struct sim_event ev;
	unsigned dst = s->cfg.hosts;

	for (unsigned i = 0; i < s->cfg.hosts; i++)
		if (memcmp(&s->hosts[i].addr, peer, sizeof(*peer)) == 0)
			dst = i;
	if (dst == s->cfg.hosts || s->hosts[dst].dead ||
	    s->hosts[s->cur_host].dead)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.time = s->now + 2 * s->cfg.delay_ns;
	ev.type = EV_ECHO;
	ev.host = s->cur_host;
	ev.arg = seq;
	ev.addr = s->hosts[dst].addr;
	sim_push(s, ev);
}

/* ---- hosts ------------------------------------------------------------- */

/* An engine bug (an illegal RPC state change): the simulation stops. */
static void sim_cb_bug(void *ctx, const char *what)
{
	(void)ctx;
	fprintf(stderr, "sim: engine bug: %s\n", what);
	abort();
}

static void sim_host_open(struct sim *s, struct sim_host *h)
{
	static const struct homa_engine_ops ops = {
		.send = sim_cb_send,
		.deliver = sim_cb_deliver,
		.tx_release = sim_cb_release,
		.port_unreachable = sim_cb_unreach,
		.bug = sim_cb_bug,
		.probe = sim_cb_probe,
	};
	h->e = engine_create(&s->cfg.proto);
	if (h->e == NULL)
		abort();
	engine_set_ops(h->e, &ops, s);
	if (engine_sock_open(h->e, h, &h->server) < 0 ||
	    engine_sock_bind(h->e, h->server, SIM_SERVER_PORT) < 0 ||
	    engine_sock_open(h->e, h, &h->client) < 0)
		abort();
	if (s->cfg.pool_bytes > 0) {
		if (h->server_pool == NULL)
			h->server_pool = sim_xrealloc(NULL, s->cfg.pool_bytes);
		if (h->client_pool == NULL)
			h->client_pool = sim_xrealloc(NULL, s->cfg.pool_bytes);
		if (engine_sock_set_pool(h->e, h->server, h->server_pool,
					 s->cfg.pool_bytes) < 0 ||
		    engine_sock_set_pool(h->e, h->client, h->client_pool,
					 s->cfg.pool_bytes) < 0)
			abort();
	}
	h->timer_at = 0;
	h->timer_gen++;
}

struct sim *sim_create(const struct sim_config *c)
{
	struct sim *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->cfg = *c;
	s->rng = c->seed;
	s->trace = 1469598103934665603ull;
	s->hosts = calloc(c->hosts, sizeof(*s->hosts));
	if (s->hosts == NULL)
		abort();
	for (unsigned i = 0; i < c->hosts; i++) {
		struct sim_host *h = &s->hosts[i];
		uint8_t *a = h->addr.in6.s6_addr;

		h->idx = i;
		if (i < SIM_RATED_HOSTS)
			h->uplink_mbps = c->uplink_mbps[i];
		a[10] = a[11] = 0xFF;
		a[12] = 10;
		a[13] = (uint8_t)(i >> 16);
		a[14] = (uint8_t)(i >> 8);
		a[15] = (uint8_t)(i + 1);
		s->cur_host = i;
		sim_host_open(s, h);
	}
	return s;
}

void sim_destroy(struct sim *s)
{
	if (s == NULL)
		return;
	for (unsigned i = 0; i < s->cfg.hosts; i++) {
		struct sim_host *h = &s->hosts[i];

		s->cur_host = i;
		engine_destroy(h->e);
		for (int p = 0; p < HOMA_NUM_PRIORITIES; p++)
			while (h->port.head[p] != NULL) {
				struct sim_pkt *n = h->port.head[p]->next;

				free(h->port.head[p]);
				h->port.head[p] = n;
			}
		free(h->server_pool);
		free(h->client_pool);
		free(h->pending);
		free(h->held);
	}
	for (size_t i = 0; i < s->nev; i++)
		free(s->ev[i].pkt);
	free(s->ev);
	free(s->hosts);
	free(s->rpcs);
	free(s->map);
	free(s);
}

/* Queue a timer event if the engine's deadline moved earlier. */
static void sim_sync_timer(struct sim *s, struct sim_host *h)
{
	uint64_t d = engine_next_deadline(h->e);
	struct sim_event ev;

	if (d == UINT64_MAX)
		return;
	if (d < s->now)
		d = s->now;
	if (h->timer_at != 0 && h->timer_at <= d)
		return;
	h->timer_at = d;
	memset(&ev, 0, sizeof(ev));
	ev.time = d;
	ev.type = EV_TIMER;
	ev.host = h->idx;
	ev.arg = ++h->timer_gen;
	sim_push(s, ev);
}

static void sim_send_response(struct sim *s, struct sim_host *h, size_t ri,
			      uint64_t id, const struct homa_addr *client)
{
	struct sim_rpc *r = &s->rpcs[ri];
	struct sim_txbuf *tb = sim_xrealloc(NULL, sizeof(*tb) + r->resp_len);
	struct homa_msgbuf mb;

	tb->host = h->idx;
	sim_fill(tb->data, r->resp_len, r->tag ^ 0x5555);
	mb.data = tb->data;
	mb.length = r->resp_len;
	mb.cookie = tb;
	if (engine_send_response(h->e, h->server, id, client, &mb, s->now) < 0)
		free(tb);
}

static void sim_app_deliver(struct sim *s, struct sim_host *h,
			    const struct homa_delivery *d)
{
	long ri;

	if (d->sock == h->server) {
		unsigned client = s->cfg.hosts;

		for (unsigned i = 0; i < s->cfg.hosts; i++)
			if (memcmp(&s->hosts[i].addr, &d->peer,
				   sizeof(d->peer)) == 0)
				client = i;
		ri = sim_map_get(s, sim_key(client, d->id ^ 1));
		if (ri < 0) {
			fprintf(stderr, "sim: request for unknown RPC\n");
			abort();
		}
		struct sim_rpc *r = &s->rpcs[ri];

		r->req_deliveries++;
		if (d->length != r->req_len ||
		    !sim_check(h->server_pool, d, r->tag))
			r->req_bad = true;
		if (s->cfg.hold_bpages) {
			if (h->nheld == h->cap_held) {
				h->cap_held =
					h->cap_held ? 2 * h->cap_held : 64;
				h->held = sim_xrealloc(
					h->held,
					h->cap_held * sizeof(*h->held));
			}
			memcpy(h->held[h->nheld].offsets, d->bpage_offsets,
			       sizeof(d->bpage_offsets));
			h->held[h->nheld++].n = d->num_bpages;
		} else {
			engine_recycle(h->e, h->server, d->bpage_offsets,
				       d->num_bpages, s->now);
		}
		if (s->cfg.service_ns > 0) {
			struct sim_event ev;

			memset(&ev, 0, sizeof(ev));
			ev.time = s->now + s->cfg.service_ns;
			ev.type = EV_RESPOND;
			ev.host = h->idx;
			ev.arg = (uint64_t)ri;
			ev.addr = d->peer;
			ev.pkt = NULL;
			sim_push(s, ev); /* the id is in the rpc record */
		} else {
			sim_send_response(s, h, (size_t)ri, d->id, &d->peer);
		}
		return;
	}
	ri = (long)d->cookie;
	if (ri < 0 || (size_t)ri >= s->nrpcs)
		abort();
	struct sim_rpc *r = &s->rpcs[ri];

	if (d->kind == HOMA_DELIVER_ERROR) {
		r->error = d->error;
	} else {
		r->resp_deliveries++;
		if (d->length != r->resp_len ||
		    !sim_check(h->client_pool, d, r->tag ^ 0x5555))
			r->resp_bad = true;
		engine_recycle(h->e, h->client, d->bpage_offsets, d->num_bpages,
			       s->now);
	}
	if (!r->done) {
		r->done = true;
		r->end_ns = s->now;
		s->ndone++;
	}
}

/* After an engine call on h: act on deliveries, then re-arm its timer. */
static void sim_after(struct sim *s, struct sim_host *h)
{
	size_t i;

	/* Deliveries may cause more deliveries (recycling restarts). */
	for (i = 0; i < h->npending; i++) {
		struct homa_delivery d = h->pending[i];

		sim_app_deliver(s, h, &d);
	}
	h->npending = 0;
	sim_sync_timer(s, h);
}

long sim_rpc_start(struct sim *s, unsigned client, unsigned server,
		   uint32_t req_len, uint32_t resp_len)
{
	struct sim_host *h = &s->hosts[client];
	struct sim_rpc *r;
	struct sim_txbuf *tb;
	struct homa_msgbuf mb;
	size_t ri;
	int err;

	if (s->nrpcs == s->cap_rpcs) {
		s->cap_rpcs = s->cap_rpcs ? 2 * s->cap_rpcs : 1024;
		s->rpcs = sim_xrealloc(s->rpcs, s->cap_rpcs * sizeof(*s->rpcs));
	}
	ri = s->nrpcs;
	r = &s->rpcs[ri];
	memset(r, 0, sizeof(*r));
	r->client = client;
	r->server = server;
	r->req_len = req_len;
	r->resp_len = resp_len;
	r->tag = sim_rand(s);
	r->start_ns = s->now;
	tb = sim_xrealloc(NULL, sizeof(*tb) + req_len);
	tb->host = client;
	sim_fill(tb->data, req_len, r->tag);
	mb.data = tb->data;
	mb.length = req_len;
	mb.cookie = tb;
	s->cur_host = client;
	err = engine_send_request(h->e, h->client, &s->hosts[server].addr,
				  SIM_SERVER_PORT, &mb, ri, s->now, &r->id);
	if (err < 0) {
		free(tb);
		return err;
	}
	s->nrpcs++;
	sim_map_put(s, sim_key(client, r->id), ri);
	sim_after(s, h);
	return (long)ri;
}

void sim_rpc_at(struct sim *s, uint64_t at, unsigned client, unsigned server,
		uint32_t req_len, uint32_t resp_len)
{
	struct sim_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.time = at < s->now ? s->now : at;
	ev.type = EV_RPC_START;
	ev.host = client;
	ev.arg =
		((uint64_t)server << 40) | ((uint64_t)req_len << 20) | resp_len;
	sim_push(s, ev);
}

/* ---- the switch -------------------------------------------------------- */

static void sim_port_start(struct sim *s, struct sim_host *h)
{
	struct sim_port *port = &h->port;
	struct sim_event ev;

	if (port->busy)
		return;
	for (int p = HOMA_NUM_PRIORITIES - 1; p >= 0; p--) {
		struct sim_pkt *pkt = port->head[p];

		if (pkt == NULL)
			continue;
		port->head[p] = pkt->next;
		if (port->head[p] == NULL)
			port->tail[p] = NULL;
		pkt->next = NULL;
		port->queued -= pkt->len + 20;
		port->busy = true;
		port->bytes += pkt->len + 20;
		memset(&ev, 0, sizeof(ev));
		ev.time = s->now + sim_tx_ns(s, pkt->len + 20);
		ev.type = EV_PORT_DONE;
		ev.host = h->idx;
		ev.pkt = pkt;
		sim_push(s, ev);
		return;
	}
}

static void sim_port_enqueue(struct sim *s, struct sim_pkt *pkt)
{
	struct sim_host *h = &s->hosts[pkt->dst];
	struct sim_port *port = &h->port;
	unsigned p = pkt->prio & 7;

	if (s->cfg.port_buffer_bytes > 0 &&
	    port->queued + pkt->len + 20 > s->cfg.port_buffer_bytes) {
		port->drops++;
		free(pkt);
		return;
	}
	port->queued += pkt->len + 20;
	if (port->queued > port->max_queued)
		port->max_queued = port->queued;
	if (port->tail[p] != NULL)
		port->tail[p]->next = pkt;
	else
		port->head[p] = pkt;
	port->tail[p] = pkt;
	sim_port_start(s, h);
}

static void sim_switch_in(struct sim *s, struct sim_pkt *pkt)
{
	if (sim_chance(s, s->cfg.loss_ppm)) {
		free(pkt);
		return;
	}
	if (sim_chance(s, s->cfg.dup_ppm)) {
		struct sim_pkt *copy =
			sim_xrealloc(NULL, sizeof(*copy) + pkt->len);

		memcpy(copy, pkt, sizeof(*copy) + pkt->len);
		sim_port_enqueue(s, copy);
	}
	if (s->cfg.reorder_ns > 0 && sim_chance(s, s->cfg.reorder_ppm)) {
		struct sim_event ev;

		memset(&ev, 0, sizeof(ev));
		ev.time = s->now + 1 + sim_rand(s) % s->cfg.reorder_ns;
		ev.type = EV_SWITCH_IN;
		ev.pkt = pkt;
		ev.arg = 1; /* already judged */
		sim_push(s, ev);
		return;
	}
	sim_port_enqueue(s, pkt);
}

static void sim_trace_pkt(struct sim *s, const struct sim_pkt *p)
{
	uint64_t h = s->trace;
	uint8_t hdr[16];

	memcpy(hdr, &s->now, 8);
	hdr[8] = (uint8_t)p->src;
	hdr[9] = (uint8_t)p->dst;
	hdr[10] = p->prio;
	memcpy(hdr + 11, &p->len, 4);
	hdr[15] = 0;
	for (size_t i = 0; i < sizeof(hdr); i++)
		h = (h ^ hdr[i]) * 1099511628211ull;
	for (uint32_t i = 0; i < p->len; i++)
		h = (h ^ p->bytes[i]) * 1099511628211ull;
	s->trace = h;
}

/* ---- the loop ---------------------------------------------------------- */

/*
 * An event for a stalled host (its homad is not running): queue it again
 * for the end of the stall.  Events re-queued in their order keep it.
 */
static bool sim_deferred(struct sim *s, struct sim_event *ev)
{
	unsigned host;

	switch (ev->type) {
	case EV_HOST_IN:
		host = ev->pkt->dst;
		break;
	case EV_TIMER:
	case EV_RPC_START:
	case EV_RESPOND:
	case EV_ICMP:
	case EV_ECHO:
		host = ev->host;
		break;
	default:
		return false;
	}
	if (s->hosts[host].stalled_until <= s->now)
		return false;
	ev->time = s->hosts[host].stalled_until;
	sim_push(s, *ev);
	return true;
}

static void sim_event(struct sim *s, struct sim_event *ev)
{
	struct sim_host *h;

	if (sim_deferred(s, ev))
		return;
	switch (ev->type) {
	case EV_SWITCH_IN:
		if (ev->arg == 1)
			sim_port_enqueue(s, ev->pkt);
		else
			sim_switch_in(s, ev->pkt);
		break;
	case EV_PORT_DONE:
		h = &s->hosts[ev->host];
		h->port.busy = false;
		ev->type = EV_HOST_IN;
		ev->time = s->now + s->cfg.delay_ns;
		sim_push(s, *ev);
		sim_port_start(s, h);
		break;
	case EV_HOST_IN: {
		struct sim_pkt *p = ev->pkt;

		h = &s->hosts[p->dst];
		if (!h->dead && !s->hosts[p->src].dead) {
			sim_trace_pkt(s, p);
			s->cur_host = h->idx;
			engine_rx(h->e, p->bytes, p->len,
				  &s->hosts[p->src].addr, p->prio, s->now);
			sim_after(s, h);
		}
		free(p);
		break;
	}
	case EV_TIMER:
		h = &s->hosts[ev->host];
		if (ev->arg != h->timer_gen)
			break; /* superseded */
		h->timer_at = 0;
		s->cur_host = h->idx;
		engine_tick(h->e, s->now);
		sim_after(s, h);
		break;
	case EV_RPC_START:
		sim_rpc_start(s, ev->host, (unsigned)(ev->arg >> 40),
			      (uint32_t)((ev->arg >> 20) & 0xFFFFF),
			      (uint32_t)(ev->arg & 0xFFFFF));
		break;
	case EV_RESPOND:
		h = &s->hosts[ev->host];
		s->cur_host = h->idx;
		sim_send_response(s, h, (size_t)ev->arg,
				  s->rpcs[ev->arg].id | 1, &ev->addr);
		sim_after(s, h);
		break;
	case EV_ICMP:
		h = &s->hosts[ev->host];
		if (h->dead)
			break;
		s->cur_host = h->idx;
		engine_icmp_error(h->e, &ev->addr, (uint16_t)ev->arg, ENOTCONN,
				  s->now);
		sim_after(s, h);
		break;
	case EV_ECHO:
		h = &s->hosts[ev->host];
		if (h->dead)
			break;
		s->cur_host = h->idx;
		engine_peer_echo(h->e, &ev->addr, (uint16_t)ev->arg, s->now);
		sim_after(s, h);
		break;
	}
}

void sim_run_until(struct sim *s, uint64_t until)
{
	while (s->nev > 0 && s->ev[0].time <= until) {
		struct sim_event ev = sim_pop(s);

		s->now = ev.time;
		sim_event(s, &ev);
		if (s->probe != NULL)
			s->probe(s->probe_ctx, s);
	}
	if (s->now < until)
		s->now = until;
}

bool sim_run_all(struct sim *s, uint64_t limit)
{
	while (s->nev > 0 && s->ndone < s->nrpcs && s->ev[0].time <= limit) {
		struct sim_event ev = sim_pop(s);

		s->now = ev.time;
		sim_event(s, &ev);
		if (s->probe != NULL)
			s->probe(s->probe_ctx, s);
	}
	return s->ndone == s->nrpcs;
}

uint64_t sim_now(const struct sim *s)
{
	return s->now;
}

size_t sim_rpc_count(const struct sim *s)
{
	return s->nrpcs;
}

const struct sim_rpc *sim_rpc_get(const struct sim *s, size_t i)
{
	return &s->rpcs[i];
}

struct homa_engine *sim_engine(struct sim *s, unsigned host)
{
	return s->hosts[host].e;
}

struct homa_sock *sim_sock(struct sim *s, unsigned host, bool server)
{
	return server ? s->hosts[host].server : s->hosts[host].client;
}

const struct homa_addr *sim_addr(const struct sim *s, unsigned host)
{
	return &s->hosts[host].addr;
}

void sim_host_kill(struct sim *s, unsigned host)
{
	s->hosts[host].dead = true;
}

void sim_host_stall(struct sim *s, unsigned host, uint64_t ns)
{
	s->hosts[host].stalled_until = s->now + ns;
}

void sim_host_restart(struct sim *s, unsigned host)
{
	struct sim_host *h = &s->hosts[host];

	s->cur_host = host;
	engine_destroy(h->e);
	h->npending = 0;
	h->nheld = 0;
	sim_host_open(s, h);
}

void sim_release_held(struct sim *s, unsigned host)
{
	struct sim_host *h = &s->hosts[host];
	size_t n = h->nheld;

	s->cur_host = host;
	h->nheld = 0;
	for (size_t i = 0; i < n; i++)
		engine_recycle(h->e, h->server, h->held[i].offsets,
			       h->held[i].n, s->now);
	sim_after(s, h);
}

uint64_t sim_trace_hash(const struct sim *s)
{
	return s->trace;
}

void sim_set_tap(struct sim *s, sim_tap_fn fn, void *ctx)
{
	s->tap = fn;
	s->tap_ctx = ctx;
}

void sim_set_probe(struct sim *s, sim_probe_fn fn, void *ctx)
{
	s->probe = fn;
	s->probe_ctx = ctx;
}

uint64_t sim_port_bytes(const struct sim *s, unsigned host)
{
	return s->hosts[host].port.bytes;
}

uint64_t sim_port_max_queue(const struct sim *s, unsigned host)
{
	return s->hosts[host].port.max_queued;
}

uint64_t sim_port_drops(const struct sim *s, unsigned host)
{
	return s->hosts[host].port.drops;
}
