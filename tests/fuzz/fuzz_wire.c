/*
 * fuzz_wire.c - libFuzzer target for the packet codec (daemon/core/wire.c).
 *
 * Input: the bytes of one packet from the Homa header on.  wire_decode
 * must never read past the end (ASan) and either refuses the packet with
 * one of its reasons or fills a homa_pkt.  A decoded packet must then
 * survive re-encoding: wire_encode writes exactly the type's header plus
 * the payload, and decoding that gives the same fields again (homad-style
 * encoding normalises doff, flags, checksum, urgent and, for DATA, the
 * sequence/seg_offset pair; everything else is kept).  Encoding into a
 * buffer one byte too small must fail.
 */
#include <string.h>

#include "core/wire.h"
#include "fuzz.h"

/* The fields wire_encode keeps, compared between two decodes. */
static void fuzz_wire_same(const struct homa_pkt *a, const struct homa_pkt *b)
{
	unsigned i;

	FUZZ_CHECK(a->type == b->type);
	FUZZ_CHECK(a->sport == b->sport && a->dport == b->dport);
	FUZZ_CHECK(a->sender_id == b->sender_id);
	switch (a->type) {
	case HOMA_DATA:
		FUZZ_CHECK(a->u.data.message_length ==
			   b->u.data.message_length);
		FUZZ_CHECK(a->u.data.incoming == b->u.data.incoming);
		FUZZ_CHECK(a->u.data.ack.client_id == b->u.data.ack.client_id);
		FUZZ_CHECK(a->u.data.ack.server_port ==
			   b->u.data.ack.server_port);
		FUZZ_CHECK(a->u.data.cutoff_version ==
			   b->u.data.cutoff_version);
		FUZZ_CHECK(a->u.data.retransmit == b->u.data.retransmit);
		FUZZ_CHECK(memcmp(a->u.data.pad, b->u.data.pad, 3) == 0);
		FUZZ_CHECK(a->u.data.offset == b->u.data.offset);
		FUZZ_CHECK(b->u.data.seg_offset == b->u.data.offset);
		FUZZ_CHECK(b->sequence == b->u.data.offset);
		FUZZ_CHECK(a->u.data.payload_len == b->u.data.payload_len);
		FUZZ_CHECK(a->u.data.payload_len == 0 ||
			   memcmp(a->u.data.payload, b->u.data.payload,
				  a->u.data.payload_len) == 0);
		break;
	case HOMA_GRANT:
		FUZZ_CHECK(a->u.grant.offset == b->u.grant.offset);
		FUZZ_CHECK(a->u.grant.priority == b->u.grant.priority);
		break;
	case HOMA_RESEND:
		FUZZ_CHECK(a->u.resend.offset == b->u.resend.offset);
		FUZZ_CHECK(a->u.resend.length == b->u.resend.length);
		FUZZ_CHECK(a->u.resend.priority == b->u.resend.priority);
		break;
	case HOMA_CUTOFFS:
		for (i = 0; i < HOMA_NUM_PRIORITIES; i++)
			FUZZ_CHECK(a->u.cutoffs.unsched_cutoffs[i] ==
				   b->u.cutoffs.unsched_cutoffs[i]);
		FUZZ_CHECK(a->u.cutoffs.cutoff_version ==
			   b->u.cutoffs.cutoff_version);
		break;
	case HOMA_ACK:
		FUZZ_CHECK(a->u.ack.num_acks == b->u.ack.num_acks);
		for (i = 0; i < a->u.ack.num_acks; i++) {
			FUZZ_CHECK(a->u.ack.acks[i].client_id ==
				   b->u.ack.acks[i].client_id);
			FUZZ_CHECK(a->u.ack.acks[i].server_port ==
				   b->u.ack.acks[i].server_port);
		}
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[HOMA_DATA_LEN + 70000];
	struct homa_pkt a, b;
	size_t hlen, want, n;
	uint8_t *copy;
	int rc;

	/* An exact-size heap copy: ASan catches a read one byte past it. */
	copy = malloc(size ? size : 1);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, data, size);
	rc = wire_decode(copy, size, &a);
	if (rc < 0) {
		FUZZ_CHECK(-rc > WIRE_OK && -rc < WIRE_ERR_COUNT);
		FUZZ_CHECK(wire_err_name(rc) != NULL);
		FUZZ_CHECK(wire_strerror(rc) != NULL);
		free(copy);
		return 0;
	}
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(a.type >= HOMA_TYPE_MIN && a.type <= HOMA_TYPE_MAX);
	hlen = wire_header_len(a.type);
	FUZZ_CHECK(hlen >= HOMA_COMMON_LEN && hlen <= size);
	FUZZ_CHECK(strcmp(wire_type_name(a.type), "UNKNOWN") != 0);
	want = hlen;
	if (a.type == HOMA_DATA) {
		FUZZ_CHECK(a.u.data.message_length >= 1 &&
			   a.u.data.message_length <= HOMA_MAX_MESSAGE_LENGTH);
		FUZZ_CHECK(a.u.data.payload_len == size - hlen);
		FUZZ_CHECK(a.u.data.payload_len <= a.u.data.message_length);
		FUZZ_CHECK((uint64_t)a.u.data.offset + a.u.data.payload_len <=
			   a.u.data.message_length);
		FUZZ_CHECK(a.u.data.payload_len == 0 ||
			   (a.u.data.payload >= copy &&
			    a.u.data.payload + a.u.data.payload_len <=
				    copy + size));
		want += a.u.data.payload_len;
	}
	if (a.type == HOMA_ACK)
		FUZZ_CHECK(a.u.ack.num_acks <= HOMA_MAX_ACKS);
	FUZZ_CHECK(want <= sizeof(out));

	/* Too small by one byte: refused. */
	FUZZ_CHECK(wire_encode(&a, out, want - 1) == 0);
	n = wire_encode(&a, out, sizeof(out));
	FUZZ_CHECK(n == want);
	rc = wire_decode(out, n, &b);
	FUZZ_CHECK(rc == 0);
	fuzz_wire_same(&a, &b);
	free(copy);
	return 0;
}
