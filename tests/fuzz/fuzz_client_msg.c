/*
 * fuzz_client_msg.c - libFuzzer target for the client descriptor decoder:
 * the ClientMsg datagrams an application sends homad over its unix socket
 * (proto/homa_client.proto, decoded by protobuf-c in daemon/chan.c).
 *
 * Input: one datagram.  As homad does, a datagram over
 * HOMA_CLIENT_MAX_DATAGRAM is refused unread; otherwise it goes through
 * homa__client__client_msg__unpack, which must not read past the end
 * (ASan) and either refuses it or returns a message whose every
 * pointer is usable.  A decoded message must re-encode canonically
 * (packed size as announced; decoding the packed bytes and packing again
 * gives the same bytes).
 *
 * Then the checks homad makes on a command that are reachable from outside
 * daemon/chan.c are applied to an engine socket with a receive pool of
 * 4 bpages, none of them delivered:
 *   Recycle   engine_recycle must refuse any non-empty list (the client
 *             holds no bpage);
 *   Bind      ports above 0xffff refused as chan does, else engine_sock_bind
 *             (< 0x8000 or 0);
 *   Abort     odd ids and errors outside 0..4095 refused as chan does,
 *             else engine_abort (no client RPC: -EINVAL unless id is 0);
 *   SendRequest / SendResponse with inline data: the engine refuses a
 *             made-up response id (-ENOENT) and sends a request of the
 *             inline bytes to an IPv4/IPv6 dest;
 *   Info      engine_sock_rpcs with the client's max (capped as chan does).
 * What stays static inside daemon/chan.c and is only reached by the
 * integration tests (hostile client): chan_addr_in (Addr length/family
 * and port), chan_msg_source (tx-area extents, inline limits), the id
 * block checks of SendRequest, and the Open handshake's memfd checks.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/engine.h"
#include "fuzz.h"
#include "homa_client.pb-c.h"
#include "homa_shm.h"

#define FC_POOL_SIZE  (4 * HOMA_BPAGE_SIZE)
#define FC_MAX_INLINE 32768 /* chan.c's CHAN_MAX_INLINE */

static struct homa_engine *fc_engine;
static unsigned fc_released;
static uint64_t fc_now;

static void fc_tx_release(void *ctx, void *sock_app, void *cookie)
{
	fc_released++;
}

/* A client Addr as chan_addr_in takes it (an AF_INET6 socket's view). */
static int fc_addr(const Homa__Client__Addr *a, struct homa_addr *out,
		   uint16_t *port)
{
	if (!a || a->port == 0 || a->port > 0xffff)
		return -1;
	memset(out, 0, sizeof(*out));
	if (a->addr.len == 4) {
		out->in6.s6_addr[10] = 0xff;
		out->in6.s6_addr[11] = 0xff;
		memcpy(&out->in6.s6_addr[12], a->addr.data, 4);
	} else if (a->addr.len == 16) {
		memcpy(out->in6.s6_addr, a->addr.data, 16);
	} else {
		return -1;
	}
	*port = (uint16_t)a->port;
	return 0;
}

static void fc_apply(const Homa__Client__ClientMsg *cm)
{
	static uint8_t pool[FC_POOL_SIZE];
	static struct homa_rpc_info info[256];
	struct homa_sock *s;
	struct homa_msgbuf m;
	struct homa_addr a;
	uint16_t port;
	uint64_t id;
	unsigned lent = 0, n;
	int rc;

	FUZZ_CHECK(engine_sock_open(fc_engine, NULL, &s) == 0);
	FUZZ_CHECK(engine_sock_set_pool(fc_engine, s, pool, sizeof(pool)) == 0);
	fc_released = 0;
	switch (cm->cmd_case) {
	case HOMA__CLIENT__CLIENT_MSG__CMD_RECYCLE:
		FUZZ_CHECK(cm->recycle);
		if (cm->recycle->n_bpage_offsets == 0)
			break;
		FUZZ_CHECK(cm->recycle->bpage_offsets);
		rc = engine_recycle(fc_engine, s, cm->recycle->bpage_offsets,
				    (unsigned)cm->recycle->n_bpage_offsets,
				    fc_now);
		FUZZ_CHECK(rc == -EINVAL);
		break;
	case HOMA__CLIENT__CLIENT_MSG__CMD_BIND:
		FUZZ_CHECK(cm->bind);
		if (cm->bind->port > 0xffff)
			break;
		rc = engine_sock_bind(fc_engine, s, (uint16_t)cm->bind->port);
		if (cm->bind->port == 0 ||
		    cm->bind->port < HOMA_MIN_DEFAULT_PORT)
			FUZZ_CHECK(rc == 0);
		else
			FUZZ_CHECK(rc == -EINVAL);
		break;
	case HOMA__CLIENT__CLIENT_MSG__CMD_ABORT:
		FUZZ_CHECK(cm->abort);
		if (cm->abort->id & 1 || cm->abort->error < 0 ||
		    cm->abort->error >= 4096)
			break;
		rc = engine_abort(fc_engine, s, cm->abort->id, cm->abort->error,
				  fc_now);
		FUZZ_CHECK(cm->abort->id == 0 ? rc == 0 : rc == -EINVAL);
		break;
	case HOMA__CLIENT__CLIENT_MSG__CMD_SEND_REQUEST: {
		const Homa__Client__SendRequest *r = cm->send_request;

		FUZZ_CHECK(r);
		FUZZ_CHECK(r->inline_data.len == 0 || r->inline_data.data);
		if (fc_addr(r->dest, &a, &port) < 0 ||
		    r->inline_data.len == 0 ||
		    r->inline_data.len > FC_MAX_INLINE)
			break;
		m.data = r->inline_data.data;
		m.length = (uint32_t)r->inline_data.len;
		m.cookie = &m;
		id = 0;
		rc = engine_send_request(fc_engine, s, &a, port, &m, r->cookie,
					 fc_now, &id);
		FUZZ_CHECK(rc == 0 || rc == -ENOMEM);
		if (rc == 0) {
			FUZZ_CHECK(id != 0 && (id & 1) == 0);
			lent++;
		}
		break;
	}
	case HOMA__CLIENT__CLIENT_MSG__CMD_SEND_RESPONSE: {
		const Homa__Client__SendResponse *r = cm->send_response;

		FUZZ_CHECK(r);
		FUZZ_CHECK(r->inline_data.len == 0 || r->inline_data.data);
		if (fc_addr(r->peer, &a, &port) < 0 || (r->id & 1) == 0 ||
		    r->inline_data.len == 0 ||
		    r->inline_data.len > FC_MAX_INLINE)
			break;
		m.data = r->inline_data.data;
		m.length = (uint32_t)r->inline_data.len;
		m.cookie = &m;
		rc = engine_send_response(fc_engine, s, r->id, &a, &m, fc_now);
		FUZZ_CHECK(rc == -ENOENT);
		break;
	}
	case HOMA__CLIENT__CLIENT_MSG__CMD_INFO:
		FUZZ_CHECK(cm->info);
		n = cm->info->max_rpcs < 256 ? cm->info->max_rpcs : 256;
		FUZZ_CHECK(engine_sock_rpcs(s, info, n) == 0);
		break;
	case HOMA__CLIENT__CLIENT_MSG__CMD_OPEN:
		FUZZ_CHECK(cm->open);
		break;
	default:
		break;
	}
	engine_sock_close(fc_engine, s, fc_now);
	/* Ended RPCs give their buffers back when reaped, on ticks. */
	for (n = 0; n < 100 && fc_released < lent; n++) {
		fc_now += 1000000;
		engine_tick(fc_engine, fc_now);
	}
	FUZZ_CHECK(fc_released == lent);
}

/* Does m or a message inside it carry fields protobuf-c did not know? */
static bool fc_has_unknown(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d;
	unsigned i;

	if (!m)
		return false;
	if (m->n_unknown_fields > 0)
		return true;
	d = m->descriptor;
	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		const ProtobufCMessage *sub;

		if (fd->type != PROTOBUF_C_TYPE_MESSAGE ||
		    fd->label == PROTOBUF_C_LABEL_REPEATED)
			continue;
		/* A oneof's members share one slot: only the set one. */
		if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)((const char *)m +
					fd->quantifier_offset) != fd->id)
			continue;
		sub = *(ProtobufCMessage *const *)((const char *)m +
						   fd->offset);
		if (fc_has_unknown(sub))
			return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t packed[HOMA_CLIENT_MAX_DATAGRAM * 2];
	static uint8_t packed2[HOMA_CLIENT_MAX_DATAGRAM * 2];
	Homa__Client__ClientMsg *cm, *cm2;
	struct homa_engine_state st;
	uint8_t *copy;
	size_t n, n2;

	if (!fc_engine) {
		struct homa_params p;
		struct homa_engine_ops ops = {.tx_release = fc_tx_release};

		engine_params_default(&p);
		fc_engine = engine_create(&p);
		FUZZ_CHECK(fc_engine);
		engine_set_ops(fc_engine, &ops, NULL);
	}
	if (size > HOMA_CLIENT_MAX_DATAGRAM)
		return 0;		/* homad refuses it before decoding */
	copy = malloc(size ? size : 1); /* exact size for ASan */
	FUZZ_CHECK(copy);
	memcpy(copy, data, size);
	cm = homa__client__client_msg__unpack(NULL, size, copy);
	if (!cm) {
		free(copy);
		return 0;
	}
	n = homa__client__client_msg__get_packed_size(cm);
	FUZZ_CHECK(n <= sizeof(packed));
	FUZZ_CHECK(homa__client__client_msg__pack(cm, packed) == n);
	cm2 = homa__client__client_msg__unpack(NULL, n, packed);
	/* protobuf-c 1.4 keeps unknown fields, even field number 0, which
	 * its own unpack then refuses: only messages without them must
	 * round-trip (homad never re-packs what a client sent). */
	FUZZ_CHECK(cm2 || fc_has_unknown(&cm->base));
	if (cm2) {
		FUZZ_CHECK(cm2->cmd_case == cm->cmd_case &&
			   cm2->seq == cm->seq);
		n2 = homa__client__client_msg__pack(cm2, packed2);
		FUZZ_CHECK(n2 == n && memcmp(packed, packed2, n) == 0);
		homa__client__client_msg__free_unpacked(cm2, NULL);
	}

	fc_apply(cm);
	homa__client__client_msg__free_unpacked(cm, NULL);
	free(copy);
	/* One socket at a time; nothing left behind. */
	engine_state(fc_engine, &st);
	FUZZ_CHECK(st.sockets == 0 && st.rpcs == 0 && st.dead_rpcs == 0);
	return 0;
}
