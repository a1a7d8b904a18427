/*
 * wire.c - the validating Homa packet codec (see wire.h, spec/wire.md).
 *
 * Fields are located with offsetof() on the packed layouts of wire.h and
 * always copied with memcpy, so nothing here depends on the alignment of
 * the caller's buffer.
 */
#include <endian.h>
#include <stddef.h>
#include <string.h>

#include "wire.h"

/*
 * common.doff as the module writes it: DATA gives its 56-byte header in
 * words; every other type says 20 bytes, as a bare TCP header would.
 */
#define WIRE_DOFF_DATA	  ((HOMA_DATA_LEN / 4) << 4) /* 0xE0 */
#define WIRE_DOFF_CONTROL ((20 / 4) << 4)	     /* 0x50 */

/* ---- per-type tables, indexed by wire_type_index() ------------------- */

static const size_t wire_header_lens[HOMA_TYPE_COUNT] = {
	HOMA_DATA_LEN,	 HOMA_GRANT_LEN,  HOMA_RESEND_LEN,
	HOMA_COMMON_LEN, HOMA_COMMON_LEN, HOMA_CUTOFFS_LEN,
	HOMA_COMMON_LEN, HOMA_COMMON_LEN, HOMA_ACK_LEN,
};

static const char *const wire_type_names[HOMA_TYPE_COUNT] = {
	"DATA",	   "GRANT",  "RESEND",	 "RPC_UNKNOWN", "BUSY",
	"CUTOFFS", "FREEZE", "NEED_ACK", "ACK",
};

static const struct {
	const char *name;    /* metric label */
	const char *message; /* for logs */
} wire_errs[WIRE_ERR_COUNT] = {
	[WIRE_OK] = {"ok", "valid packet"},
	[WIRE_ERR_SHORT] = {"short",
			    "packet shorter than the 28-byte common header"},
	[WIRE_ERR_BAD_TYPE] = {"bad_type", "unknown packet type"},
	[WIRE_ERR_TRUNCATED] = {"truncated",
				"packet shorter than its type's header"},
	[WIRE_ERR_NUM_ACKS] = {"num_acks", "ACK packet with more than 5 acks"},
	[WIRE_ERR_MSG_LENGTH] = {"msg_length",
				 "DATA message length is 0 or above 1000000"},
	[WIRE_ERR_PAYLOAD_LENGTH] = {"payload_length",
				     "DATA payload longer than its message"},
	[WIRE_ERR_OFFSET] = {"offset",
			     "DATA payload runs past the end of its message"},
};

static int wire_type_valid(int type)
{
	return type >= HOMA_TYPE_MIN && type <= HOMA_TYPE_MAX;
}

/* ---- big-endian field access at a byte offset ------------------------ */

static uint16_t wire_get16(const uint8_t *b, size_t off)
{
	uint16_t v;

	memcpy(&v, b + off, sizeof(v));
	return be16toh(v);
}

static uint32_t wire_get32(const uint8_t *b, size_t off)
{
	uint32_t v;

	memcpy(&v, b + off, sizeof(v));
	return be32toh(v);
}

static uint64_t wire_get64(const uint8_t *b, size_t off)
{
	uint64_t v;

	memcpy(&v, b + off, sizeof(v));
	return be64toh(v);
}

static void wire_put16(uint8_t *b, size_t off, uint16_t v)
{
	v = htobe16(v);
	memcpy(b + off, &v, sizeof(v));
}

static void wire_put32(uint8_t *b, size_t off, uint32_t v)
{
	v = htobe32(v);
	memcpy(b + off, &v, sizeof(v));
}

static void wire_put64(uint8_t *b, size_t off, uint64_t v)
{
	v = htobe64(v);
	memcpy(b + off, &v, sizeof(v));
}

/* Offset of a field in one of the packed wire structs. */
#define WOFF(type, field) offsetof(struct type, field)

/* An ack entry (client_id, server_port) starting at byte off. */
static void wire_get_ack(const uint8_t *b, size_t off, struct homa_ack *a)
{
	a->client_id = wire_get64(b, off + WOFF(homa_wire_ack, client_id));
	a->server_port = wire_get16(b, off + WOFF(homa_wire_ack, server_port));
}

unsigned wire_peek_acks(const void *buf, size_t len,
			struct homa_ack acks[HOMA_MAX_ACKS])
{
	const uint8_t *b = buf;
	unsigned n;

	if (len < HOMA_COMMON_LEN)
		return 0;
	switch (b[WOFF(homa_wire_common, type)]) {
	case HOMA_DATA:
		if (len < HOMA_DATA_LEN)
			return 0;
		wire_get_ack(b, WOFF(homa_wire_data, ack), &acks[0]);
		return acks[0].client_id != 0;
	case HOMA_ACK:
		if (len < HOMA_ACK_LEN)
			return 0;
		n = wire_get16(b, WOFF(homa_wire_ack_pkt, num_acks));
		if (n > HOMA_MAX_ACKS)
			n = HOMA_MAX_ACKS;
		for (unsigned i = 0; i < n; i++)
			wire_get_ack(b,
				     WOFF(homa_wire_ack_pkt, acks) +
					     i * sizeof(struct homa_wire_ack),
				     &acks[i]);
		return n;
	default:
		return 0;
	}
}

static void wire_put_ack(uint8_t *b, size_t off, const struct homa_ack *a)
{
	wire_put64(b, off + WOFF(homa_wire_ack, client_id), a->client_id);
	wire_put16(b, off + WOFF(homa_wire_ack, server_port), a->server_port);
}

/* ---- decode ----------------------------------------------------------- */

/* DATA fields past the common header; len is the whole packet. */
static int wire_decode_data(const uint8_t *b, size_t len, struct homa_pkt *pkt)
{
	uint64_t end;

	pkt->u.data.message_length =
		wire_get32(b, WOFF(homa_wire_data, message_length));
	pkt->u.data.incoming = wire_get32(b, WOFF(homa_wire_data, incoming));
	wire_get_ack(b, WOFF(homa_wire_data, ack), &pkt->u.data.ack);
	pkt->u.data.cutoff_version =
		wire_get16(b, WOFF(homa_wire_data, cutoff_version));
	pkt->u.data.retransmit = b[WOFF(homa_wire_data, retransmit)];
	memcpy(pkt->u.data.pad, b + WOFF(homa_wire_data, pad),
	       sizeof(pkt->u.data.pad));
	pkt->u.data.seg_offset =
		wire_get32(b, WOFF(homa_wire_data, seg_offset));
	pkt->u.data.offset = pkt->u.data.seg_offset == HOMA_SEG_OFFSET_NONE
				     ? pkt->sequence
				     : pkt->u.data.seg_offset;
	pkt->u.data.payload_len = (uint32_t)(len - HOMA_DATA_LEN);
	pkt->u.data.payload = b + HOMA_DATA_LEN;

	if (pkt->u.data.message_length == 0 ||
	    pkt->u.data.message_length > HOMA_MAX_MESSAGE_LENGTH)
		return -WIRE_ERR_MSG_LENGTH;
	/* Compared in size_t: len may exceed 32 bits in theory. */
	if (len - HOMA_DATA_LEN > pkt->u.data.message_length)
		return -WIRE_ERR_PAYLOAD_LENGTH;
	end = (uint64_t)pkt->u.data.offset + pkt->u.data.payload_len;
	if (end > pkt->u.data.message_length ||
	    (pkt->u.data.payload_len > 0 &&
	     pkt->u.data.offset >= pkt->u.data.message_length))
		return -WIRE_ERR_OFFSET;
	return 0;
}

static void wire_decode_cutoffs(const uint8_t *b, struct homa_pkt *pkt)
{
	for (unsigned i = 0; i < HOMA_NUM_PRIORITIES; i++)
		pkt->u.cutoffs.unsched_cutoffs[i] = wire_get32(
			b, WOFF(homa_wire_cutoffs, unsched_cutoffs) + 4 * i);
	pkt->u.cutoffs.cutoff_version =
		wire_get16(b, WOFF(homa_wire_cutoffs, cutoff_version));
}

static int wire_decode_ack(const uint8_t *b, struct homa_pkt *pkt)
{
	pkt->u.ack.num_acks = wire_get16(b, WOFF(homa_wire_ack_pkt, num_acks));
	if (pkt->u.ack.num_acks > HOMA_MAX_ACKS)
		return -WIRE_ERR_NUM_ACKS;
	/* Entries past num_acks are decoded too (they are in the header). */
	for (unsigned i = 0; i < HOMA_MAX_ACKS; i++)
		wire_get_ack(b,
			     WOFF(homa_wire_ack_pkt, acks) +
				     i * sizeof(struct homa_wire_ack),
			     &pkt->u.ack.acks[i]);
	return 0;
}

int wire_decode(const void *buf, size_t len, struct homa_pkt *pkt)
{
	const uint8_t *b = buf;
	int type;

	if (len < HOMA_COMMON_LEN)
		return -WIRE_ERR_SHORT;
	type = b[WOFF(homa_wire_common, type)];
	if (!wire_type_valid(type))
		return -WIRE_ERR_BAD_TYPE;
	if (len < wire_header_len(type))
		return -WIRE_ERR_TRUNCATED;

	memset(pkt, 0, sizeof(*pkt));
	pkt->type = (enum homa_type)type;
	pkt->sport = wire_get16(b, WOFF(homa_wire_common, sport));
	pkt->dport = wire_get16(b, WOFF(homa_wire_common, dport));
	pkt->sequence = wire_get32(b, WOFF(homa_wire_common, sequence));
	pkt->doff = b[WOFF(homa_wire_common, doff)];
	pkt->flags = b[WOFF(homa_wire_common, flags)];
	pkt->checksum = wire_get16(b, WOFF(homa_wire_common, checksum));
	pkt->urgent = wire_get16(b, WOFF(homa_wire_common, urgent));
	pkt->sender_id = wire_get64(b, WOFF(homa_wire_common, sender_id));

	switch (pkt->type) {
	case HOMA_DATA:
		return wire_decode_data(b, len, pkt);
	case HOMA_GRANT:
		pkt->u.grant.offset =
			wire_get32(b, WOFF(homa_wire_grant, offset));
		pkt->u.grant.priority = b[WOFF(homa_wire_grant, priority)];
		return 0;
	case HOMA_RESEND:
		pkt->u.resend.offset =
			wire_get32(b, WOFF(homa_wire_resend, offset));
		pkt->u.resend.length =
			wire_get32(b, WOFF(homa_wire_resend, length));
		pkt->u.resend.priority = b[WOFF(homa_wire_resend, priority)];
		return 0;
	case HOMA_CUTOFFS:
		wire_decode_cutoffs(b, pkt);
		return 0;
	case HOMA_ACK:
		return wire_decode_ack(b, pkt);
	case HOMA_RPC_UNKNOWN:
	case HOMA_BUSY:
	case HOMA_FREEZE:
	case HOMA_NEED_ACK:
		return 0; /* common header only */
	}
	return -WIRE_ERR_BAD_TYPE; /* not reached: type checked above */
}

/* ---- encode ----------------------------------------------------------- */

static void wire_encode_data(const struct homa_pkt *pkt, uint8_t *b)
{
	wire_put32(b, WOFF(homa_wire_common, sequence), pkt->u.data.offset);
	wire_put32(b, WOFF(homa_wire_data, message_length),
		   pkt->u.data.message_length);
	wire_put32(b, WOFF(homa_wire_data, incoming), pkt->u.data.incoming);
	wire_put_ack(b, WOFF(homa_wire_data, ack), &pkt->u.data.ack);
	wire_put16(b, WOFF(homa_wire_data, cutoff_version),
		   pkt->u.data.cutoff_version);
	b[WOFF(homa_wire_data, retransmit)] = pkt->u.data.retransmit;
	memcpy(b + WOFF(homa_wire_data, pad), pkt->u.data.pad,
	       sizeof(pkt->u.data.pad));
	wire_put32(b, WOFF(homa_wire_data, seg_offset), pkt->u.data.offset);
	if (pkt->u.data.payload != NULL && pkt->u.data.payload_len > 0)
		memcpy(b + HOMA_DATA_LEN, pkt->u.data.payload,
		       pkt->u.data.payload_len);
}

static void wire_encode_cutoffs(const struct homa_pkt *pkt, uint8_t *b)
{
	for (unsigned i = 0; i < HOMA_NUM_PRIORITIES; i++)
		wire_put32(b, WOFF(homa_wire_cutoffs, unsched_cutoffs) + 4 * i,
			   pkt->u.cutoffs.unsched_cutoffs[i]);
	wire_put16(b, WOFF(homa_wire_cutoffs, cutoff_version),
		   pkt->u.cutoffs.cutoff_version);
}

static void wire_encode_ack(const struct homa_pkt *pkt, uint8_t *b)
{
	wire_put16(b, WOFF(homa_wire_ack_pkt, num_acks), pkt->u.ack.num_acks);
	/* Entries past num_acks stay zero (the buffer was cleared). */
	for (unsigned i = 0; i < pkt->u.ack.num_acks; i++)
		wire_put_ack(b,
			     WOFF(homa_wire_ack_pkt, acks) +
				     i * sizeof(struct homa_wire_ack),
			     &pkt->u.ack.acks[i]);
}

/*
 * As documented in wire.h.  Besides a too small cap or an invalid type, an
 * ACK with num_acks > HOMA_MAX_ACKS cannot be expressed and also yields 0.
 * When u.data.payload is NULL the payload bytes are left untouched (the
 * caller writes them) but still counted in the returned length.
 */
size_t wire_encode(const struct homa_pkt *pkt, void *buf, size_t cap)
{
	uint8_t *b = buf;
	size_t hlen = wire_header_len(pkt->type);
	size_t total = hlen;

	if (hlen == 0)
		return 0;
	if (pkt->type == HOMA_DATA)
		total += pkt->u.data.payload_len;
	if (pkt->type == HOMA_ACK && pkt->u.ack.num_acks > HOMA_MAX_ACKS)
		return 0;
	if (total > cap)
		return 0;

	memset(b, 0, hlen);
	wire_put16(b, WOFF(homa_wire_common, sport), pkt->sport);
	wire_put16(b, WOFF(homa_wire_common, dport), pkt->dport);
	wire_put32(b, WOFF(homa_wire_common, sequence), pkt->sequence);
	b[WOFF(homa_wire_common, type)] = (uint8_t)pkt->type;
	b[WOFF(homa_wire_common, doff)] =
		pkt->type == HOMA_DATA ? WIRE_DOFF_DATA : WIRE_DOFF_CONTROL;
	wire_put64(b, WOFF(homa_wire_common, sender_id), pkt->sender_id);

	switch (pkt->type) {
	case HOMA_DATA:
		wire_encode_data(pkt, b);
		break;
	case HOMA_GRANT:
		wire_put32(b, WOFF(homa_wire_grant, offset),
			   pkt->u.grant.offset);
		b[WOFF(homa_wire_grant, priority)] = pkt->u.grant.priority;
		break;
	case HOMA_RESEND:
		wire_put32(b, WOFF(homa_wire_resend, offset),
			   pkt->u.resend.offset);
		wire_put32(b, WOFF(homa_wire_resend, length),
			   pkt->u.resend.length);
		b[WOFF(homa_wire_resend, priority)] = pkt->u.resend.priority;
		break;
	case HOMA_CUTOFFS:
		wire_encode_cutoffs(pkt, b);
		break;
	case HOMA_ACK:
		wire_encode_ack(pkt, b);
		break;
	case HOMA_RPC_UNKNOWN:
	case HOMA_BUSY:
	case HOMA_FREEZE:
	case HOMA_NEED_ACK:
		break; /* common header only */
	}
	return total;
}

/* ---- names ------------------------------------------------------------ */

size_t wire_header_len(int type)
{
	if (!wire_type_valid(type))
		return 0;
	return wire_header_lens[wire_type_index((enum homa_type)type)];
}

const char *wire_type_name(int type)
{
	if (!wire_type_valid(type))
		return "UNKNOWN";
	return wire_type_names[wire_type_index((enum homa_type)type)];
}

/* err may be given as returned by wire_decode (negative) or positive. */
static int wire_err_index(int err)
{
	if (err <= -WIRE_ERR_COUNT || err >= WIRE_ERR_COUNT)
		return -1;
	return err < 0 ? -err : err;
}

const char *wire_err_name(int err)
{
	int i = wire_err_index(err);

	return i < 0 ? "unknown" : wire_errs[i].name;
}

const char *wire_strerror(int err)
{
	int i = wire_err_index(err);

	return i < 0 ? "unknown wire error" : wire_errs[i].message;
}
