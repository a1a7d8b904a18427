/*
 * test_conformance.c - the engine against the Linux Homa module's captures
 * (tests/vectors/kernel, see its README): the engine plays the kernel
 * server's part.  The scripted client's packets are fed to it in capture
 * order (100 us apart, timers running); it answers each request when the
 * kernel did, with a response of the kernel's length.  Checked against
 * spec/protocol.md's [wire] rules:
 *   - every request is delivered once, byte for byte as the client sent it;
 *   - the response DATA packets have exactly the kernel's boundaries
 *     (offset, length, message_length) and DATA.incoming of first
 *     transmissions is min(unsched_bytes, length);
 *   - for every RPC the kernel answered with RPC_UNKNOWN, BUSY, CUTOFFS
 *     or GRANT, the engine sent that type too, for the same RPC (RESEND
 *     rounds depend on real time, which the captures' order does not
 *     keep: test_timer covers them);
 *   - GRANT offsets never pass the message length; control packets go at
 *     priority 7;
 *   - after the client's acks the engine keeps no server RPC.
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enginetest.h"
#include "pcapvec.h"

#define MAX_IDS 64
#define MAX_SET 8192

/* (type, id, offset, length) of a packet, for set comparisons. */
struct key {
	uint8_t type;
	uint64_t id;
	uint32_t off, len, msg_len;
};

struct replay {
	const char *client_ip; /* the scripted side */
	struct homa_engine *e;
	struct homa_sock *socks[16];
	unsigned nsocks;
	uint8_t *pool;
	uint64_t now;
	/* Requests as the client sent them, by client id. */
	uint64_t req_id[MAX_IDS];
	uint8_t *req_buf[MAX_IDS];
	uint32_t req_len[MAX_IDS];
	unsigned delivered[MAX_IDS];
	bool bad_bytes;
	unsigned nreq;
	/* Delivered requests waiting for the kernel's response. */
	struct homa_delivery pending[MAX_IDS];
	bool responded[MAX_IDS];
	unsigned npending;
	struct key kern[MAX_SET], ours[MAX_SET];
	unsigned nkern, nours;
	bool ctrl_prio_ok, grant_ok, incoming_ok;
	uint32_t unsched;
	struct homa_addr client;
	bool have_client;
};

static uint8_t zeros[HOMA_MAX_MESSAGE_LENGTH];

static int req_slot(struct replay *r, uint64_t id, uint32_t len)
{
	for (unsigned i = 0; i < r->nreq; i++)
		if (r->req_id[i] == id)
			return (int)i;
	if (r->nreq == MAX_IDS)
		return -1;
	r->req_id[r->nreq] = id;
	r->req_len[r->nreq] = len;
	r->req_buf[r->nreq] = calloc(1, len);
	return (int)r->nreq++;
}

static void add_key(struct key *set, unsigned *n, const struct homa_pkt *p)
{
	struct key k;

	memset(&k, 0, sizeof(k));
	k.type = (uint8_t)p->type;
	k.id = p->sender_id;
	if (p->type == HOMA_DATA && p->u.data.retransmit == 0) {
		k.off = p->u.data.offset;
		k.len = p->u.data.payload_len;
		k.msg_len = p->u.data.message_length;
	} else if (p->type == HOMA_DATA) {
		return; /* retransmissions depend on timing */
	}
	for (unsigned i = 0; i < *n; i++)
		if (memcmp(&set[i], &k, sizeof(k)) == 0)
			return;
	ck_assert_uint_lt(*n, MAX_SET);
	set[(*n)++] = k;
}

static void rp_send(void *ctx, const struct homa_out *o)
{
	struct replay *r = ctx;
	uint8_t buf[HOMA_DATA_LEN + 9000];
	struct homa_pkt p;

	memcpy(buf, o->hdr, o->hdr_len);
	if (o->payload_len > 0)
		memcpy(buf + o->hdr_len, o->payload, o->payload_len);
	ck_assert_int_eq(wire_decode(buf, o->hdr_len + o->payload_len, &p), 0);
	if (p.type != HOMA_DATA && o->prio != 7)
		r->ctrl_prio_ok = false;
	if (p.type == HOMA_DATA && p.u.data.retransmit == 0) {
		uint32_t want = p.u.data.message_length < r->unsched
					? p.u.data.message_length
					: r->unsched;

		if (p.u.data.incoming != want)
			r->incoming_ok = false;
	}
	if (p.type == HOMA_GRANT) {
		for (unsigned i = 0; i < r->nreq; i++)
			if ((r->req_id[i] | 1) == p.sender_id &&
			    p.u.grant.offset > r->req_len[i])
				r->grant_ok = false;
	}
	add_key(r->ours, &r->nours, &p);
}

static void rp_deliver(void *ctx, const struct homa_delivery *d)
{
	struct replay *r = ctx;
	int slot = req_slot(r, d->id ^ 1, d->length);
	uint32_t left = d->length;

	ck_assert_int_ge(slot, 0);
	r->delivered[slot]++;
	if (d->length != r->req_len[slot])
		r->bad_bytes = true;
	const uint8_t *base = r->pool;

	for (unsigned i = 0; i < r->nsocks; i++)
		if (r->socks[i] == d->sock)
			base = r->pool + i * (32u << 20);
	for (uint32_t c = 0; c < d->num_bpages; c++) {
		uint32_t n = left < HOMA_BPAGE_SIZE ? left : HOMA_BPAGE_SIZE;

		if (memcmp(base + d->bpage_offsets[c],
			   r->req_buf[slot] + c * HOMA_BPAGE_SIZE, n) != 0)
			r->bad_bytes = true;
		left -= n;
	}
	ck_assert_uint_lt(r->npending, MAX_IDS);
	r->pending[r->npending] = *d;
	r->responded[r->npending++] = false;
}

static void rp_catch_up(struct replay *r)
{
	uint64_t d;

	while ((d = engine_next_deadline(r->e)) <= r->now)
		engine_tick(r->e, d);
}

static int rp_packet(const struct pcapvec_pkt *pp, void *arg)
{
	struct replay *r = arg;
	struct homa_pkt p;

	if (wire_decode(pp->homa, pp->homa_len, &p) < 0)
		return 0;
	r->now += 100000;
	rp_catch_up(r);
	if (strcmp(pp->src, r->client_ip) != 0) {
		/* The kernel's packet: what we must match. */
		if (p.type == HOMA_DATA || p.type == HOMA_RPC_UNKNOWN ||
		    p.type == HOMA_BUSY || p.type == HOMA_CUTOFFS ||
		    p.type == HOMA_GRANT)
			add_key(r->kern, &r->nkern, &p);
		/* The kernel began a response: so do we. */
		if (p.type == HOMA_DATA && (p.sender_id & 1) == 1) {
			for (unsigned i = 0; i < r->npending; i++) {
				struct homa_delivery *d = &r->pending[i];
				struct homa_msgbuf mb = {
					zeros, p.u.data.message_length, NULL};

				if (d->id != p.sender_id || r->responded[i])
					continue;
				r->responded[i] = true;
				engine_recycle(r->e, d->sock, d->bpage_offsets,
					       d->num_bpages, r->now);
				ck_assert_int_eq(engine_send_response(
							 r->e, d->sock, d->id,
							 &d->peer, &mb, r->now),
						 0);
			}
		}
		return 0;
	}
	if (!r->have_client) {
		struct in6_addr a6;
		struct in_addr a4;

		memset(&r->client, 0, sizeof(r->client));
		if (pp->ipv == 4) {
			inet_pton(AF_INET, pp->src, &a4);
			r->client.in6.s6_addr[10] = r->client.in6.s6_addr[11] =
				0xff;
			memcpy(&r->client.in6.s6_addr[12], &a4, 4);
		} else {
			inet_pton(AF_INET6, pp->src, &a6);
			r->client.in6 = a6;
		}
		r->have_client = true;
	}
	if (p.dport < HOMA_MIN_DEFAULT_PORT &&
	    sock_find(r->e, p.dport) == NULL) {
		struct homa_sock *s;

		ck_assert_uint_lt(r->nsocks, 16);
		ck_assert_int_eq(engine_sock_open(r->e, r, &s), 0);
		ck_assert_int_eq(engine_sock_bind(r->e, s, p.dport), 0);
		ck_assert_int_eq(
			engine_sock_set_pool(r->e, s,
					     r->pool + r->nsocks * (32u << 20),
					     32u << 20),
			0);
		r->socks[r->nsocks++] = s;
	}
	if (p.type == HOMA_DATA && (p.sender_id & 1) == 0) {
		int slot = req_slot(r, p.sender_id, p.u.data.message_length);

		ck_assert_int_ge(slot, 0);
		memcpy(r->req_buf[slot] + p.u.data.offset, p.u.data.payload,
		       p.u.data.payload_len);
	}
	engine_rx(r->e, pp->homa, pp->homa_len, &r->client, pp->tos >> 5,
		  r->now);
	return 0;
}

static void replay_capture(const char *name, const char *client_ip,
			   uint32_t mtu)
{
	static const struct homa_engine_ops ops = {
		.send = rp_send,
		.deliver = rp_deliver,
	};
	struct homa_params prm;
	struct replay *r = calloc(1, sizeof(*r));
	char path[512], err[256];
	int n;

	ck_assert_ptr_nonnull(r);
	/* Each socket's pool: 32 MiB of this region, in socket order. */
	r->pool = calloc(16, 32u << 20);
	ck_assert_ptr_nonnull(r->pool);
	engine_params_default(&prm);
	prm.mtu = mtu;
	r->unsched = prm.unsched_bytes;
	r->client_ip = client_ip;
	r->ctrl_prio_ok = r->grant_ok = r->incoming_ok = true;
	r->now = 1000000000;
	r->e = engine_create(&prm);
	ck_assert_ptr_nonnull(r->e);
	engine_set_ops(r->e, &ops, r);
	snprintf(path, sizeof(path), "%s/kernel/%s.pcap", VECTORS_DIR, name);
	n = pcapvec_foreach(path, rp_packet, r, err, sizeof(err));
	ck_assert_msg(n > 0, "%s: %s", path, err);
	/* Let the timers run out. */
	r->now += 2000000000ull;
	rp_catch_up(r);

	ck_assert_msg(r->nreq > 0, "%s: no requests", name);
	for (unsigned i = 0; i < r->nreq; i++)
		ck_assert_msg(r->delivered[i] == 1,
			      "%s: request %lu delivered %u times", name,
			      (unsigned long)r->req_id[i], r->delivered[i]);
	ck_assert_msg(!r->bad_bytes, "%s: request bytes differ", name);
	ck_assert_msg(r->ctrl_prio_ok, "%s: control packet not at 7", name);
	ck_assert_msg(r->grant_ok, "%s: grant past the length", name);
	ck_assert_msg(r->incoming_ok, "%s: DATA.incoming", name);
	for (unsigned i = 0; i < r->nkern; i++) {
		bool found = false;

		for (unsigned j = 0; j < r->nours && !found; j++)
			found = memcmp(&r->kern[i], &r->ours[j],
				       sizeof(struct key)) == 0;
		ck_assert_msg(found,
			      "%s: kernel sent %s id %lu off %u len %u; "
			      "the engine did not",
			      name, wire_type_name(r->kern[i].type),
			      (unsigned long)r->kern[i].id, r->kern[i].off,
			      r->kern[i].len);
	}
	/* Same boundaries: no response packet the kernel would not send. */
	for (unsigned j = 0; j < r->nours; j++) {
		bool found = r->ours[j].type != HOMA_DATA;

		for (unsigned i = 0; i < r->nkern && !found; i++)
			found = memcmp(&r->kern[i], &r->ours[j],
				       sizeof(struct key)) == 0;
		ck_assert_msg(found, "%s: engine DATA id %lu off %u len %u",
			      name, (unsigned long)r->ours[j].id,
			      r->ours[j].off, r->ours[j].len);
	}
	struct homa_engine_state st;
	engine_state(r->e, &st);
	ck_assert_msg(st.server_rpcs == 0, "%s: %u server RPCs left", name,
		      st.server_rpcs);
	engine_destroy(r->e);
	for (unsigned i = 0; i < r->nreq; i++)
		free(r->req_buf[i]);
	free(r->pool);
	free(r);
}

START_TEST(conformance__crafted_client_vs_vm_server)
{
	replay_capture("main_crafted_client_vs_vm_server", "10.146.0.1", 1500);
}
END_TEST

START_TEST(conformance__probe_unknown_busy)
{
	replay_capture("main_probe_unknown_busy", "10.146.0.1", 1500);
}
END_TEST

START_TEST(conformance__ipv6_kernel_server)
{
	replay_capture("ipv6_kernel_server", "fd46::1", 1500);
}
END_TEST

START_TEST(conformance__concurrent_4x300k)
{
	replay_capture("concurrent_4x300k", "10.146.0.1", 1500);
}
END_TEST

START_TEST(conformance__concurrent_sizes)
{
	replay_capture("concurrent_sizes", "10.146.0.1", 1500);
}
END_TEST

START_TEST(conformance__concurrent_10x100k)
{
	replay_capture("concurrent_10x100k", "10.146.0.1", 1500);
}
END_TEST

START_TEST(conformance__loss_server_sends_resend)
{
	replay_capture("loss_kernel_server_sends_resend", "10.146.0.1", 1500);
}
END_TEST

static Suite *conformance_suite(void)
{
	Suite *s = suite_create("conformance");
	TCase *tc = tcase_create("kernel");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, conformance__crafted_client_vs_vm_server);
	tcase_add_test(tc, conformance__probe_unknown_busy);
	tcase_add_test(tc, conformance__ipv6_kernel_server);
	tcase_add_test(tc, conformance__concurrent_4x300k);
	tcase_add_test(tc, conformance__concurrent_sizes);
	tcase_add_test(tc, conformance__concurrent_10x100k);
	tcase_add_test(tc, conformance__loss_server_sends_resend);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conformance_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
