/*
 * test_wire.c - unit tests of daemon/core/wire.c (and of the pcap reader
 * the tests share, tests/unit/pcapvec.c).
 *
 * The vector test decodes every Homa packet of every capture in
 * tests/vectors against the field listing beside it, then re-encodes it
 * homad-style and compares the bytes.
 */
#include <check.h>
#include <endian.h>
#include <errno.h>
#include <glob.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "enginetest.h"
#include "core/wire.h"
#include "pcapvec.h"

#ifndef VECTORS_DIR
#error "VECTORS_DIR must be defined by the build"
#endif

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Assertion for the vector loop.  Check records every ck_assert that passes
 * (through its message channel), which over ~10,000 packets costs tens of
 * seconds; this only talks to Check when the condition fails.
 */
#define REQUIRE(cond, ...)                         \
	do {                                       \
		if (!(cond))                       \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

/* ---- a decoded packet as a list of named fields ------------------------ */

/* Names as in the vector listings (tests/vectors/README.md). */
struct field {
	char name[32];
	uint64_t value;
};

#define MAX_FIELDS 32

static void field_add(struct field *f, size_t *n, const char *name,
		      uint64_t value)
{
	REQUIRE(*n < MAX_FIELDS, "too many fields");
	snprintf(f[*n].name, sizeof(f[*n].name), "%s", name);
	f[*n].value = value;
	(*n)++;
}

/*
 * Every field of a decoded packet that the listings name (checksum is not
 * listed; ACK entries only up to num_acks).  Returns the count.
 */
static size_t pkt_fields(const struct homa_pkt *p, struct field *f)
{
	size_t n = 0;
	char name[32];

	field_add(f, &n, "sport", p->sport);
	field_add(f, &n, "dport", p->dport);
	field_add(f, &n, "seq", p->sequence);
	field_add(f, &n, "doff", p->doff);
	field_add(f, &n, "flags", p->flags);
	field_add(f, &n, "urgent", p->urgent);
	field_add(f, &n, "sender_id", p->sender_id);
	switch (p->type) {
	case HOMA_DATA:
		field_add(f, &n, "msg_len", p->u.data.message_length);
		field_add(f, &n, "incoming", p->u.data.incoming);
		field_add(f, &n, "cutoff_version", p->u.data.cutoff_version);
		field_add(f, &n, "retransmit", p->u.data.retransmit);
		field_add(f, &n, "seg_offset", p->u.data.seg_offset);
		field_add(f, &n, "ack_client_id", p->u.data.ack.client_id);
		field_add(f, &n, "ack_server_port", p->u.data.ack.server_port);
		field_add(f, &n, "offset", p->u.data.offset);
		field_add(f, &n, "payload_len", p->u.data.payload_len);
		break;
	case HOMA_GRANT:
		field_add(f, &n, "offset", p->u.grant.offset);
		field_add(f, &n, "priority", p->u.grant.priority);
		break;
	case HOMA_RESEND:
		field_add(f, &n, "offset", p->u.resend.offset);
		field_add(f, &n, "length", p->u.resend.length);
		field_add(f, &n, "priority", p->u.resend.priority);
		break;
	case HOMA_CUTOFFS:
		for (int i = 0; i < HOMA_NUM_PRIORITIES; i++) {
			snprintf(name, sizeof(name), "cutoff%d", i);
			field_add(f, &n, name, p->u.cutoffs.unsched_cutoffs[i]);
		}
		field_add(f, &n, "cutoff_version", p->u.cutoffs.cutoff_version);
		break;
	case HOMA_ACK:
		field_add(f, &n, "num_acks", p->u.ack.num_acks);
		for (int i = 0; i < p->u.ack.num_acks && i < HOMA_MAX_ACKS;
		     i++) {
			snprintf(name, sizeof(name), "acks%d_client_id", i);
			field_add(f, &n, name, p->u.ack.acks[i].client_id);
			snprintf(name, sizeof(name), "acks%d_server_port", i);
			field_add(f, &n, name, p->u.ack.acks[i].server_port);
		}
		break;
	case HOMA_RPC_UNKNOWN:
	case HOMA_BUSY:
	case HOMA_FREEZE:
	case HOMA_NEED_ACK:
		break;
	}
	return n;
}

static struct field *field_find(struct field *f, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(f[i].name, name) == 0)
			return &f[i];
	return NULL;
}

/* Decimal, or hexadecimal with 0x; the whole string must be a number. */
static uint64_t parse_num(const char *s, const char *where)
{
	int base = strncmp(s, "0x", 2) == 0 ? 16 : 10;
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, base);
	REQUIRE(errno == 0 && end != s && *end == '\0', "%s: not a number: %s",
		where, s);
	return v;
}

/* ---- the vectors ------------------------------------------------------- */

static glob_t vec_glob; /* every tests/vectors pcap, set up by main */

/* Vector reasons (valid=0 lines) and the wire_err they stand for. */
static const struct {
	const char *reason;
	enum wire_err err;
} vec_reasons[] = {
	{"shorter_than_common_header", WIRE_ERR_SHORT},
	{"unknown_type", WIRE_ERR_BAD_TYPE},
	{"shorter_than_type_header", WIRE_ERR_TRUNCATED},
};

struct vec_ctx {
	const char *path;
	char **lines; /* the .txt listing, one Homa packet per line */
	size_t nlines;
	size_t next; /* next line to match */
	unsigned valid, invalid, encoded, trailing;
};

/*
 * Captured bytes as homad would have written them (see wire_encode): the
 * fields receivers ignore get homad's values.  window is among them: the
 * kernel captures have 0 there, but the handmade DATA packets carry 0x1111
 * (an "unused" field that receivers must ignore).
 */
static void vec_normalise(uint8_t *b, const struct homa_pkt *p, uint8_t doff)
{
	uint32_t off;

	b[offsetof(struct homa_wire_common, doff)] = doff;
	b[offsetof(struct homa_wire_common, flags)] = 0;
	memset(b + offsetof(struct homa_wire_common, window), 0, 2);
	memset(b + offsetof(struct homa_wire_common, checksum), 0, 2);
	memset(b + offsetof(struct homa_wire_common, urgent), 0, 2);
	if (p->type == HOMA_DATA) {
		off = htobe32(p->u.data.offset);
		memcpy(b + offsetof(struct homa_wire_common, sequence), &off,
		       4);
		memcpy(b + offsetof(struct homa_wire_data, seg_offset), &off,
		       4);
	}
}

static void vec_reencode(struct vec_ctx *c, const struct pcapvec_pkt *p,
			 const struct homa_pkt *pkt, const char *where)
{
	static uint8_t enc[70000], norm[70000];
	size_t hlen = wire_header_len(pkt->type), n;

	n = wire_encode(pkt, enc, sizeof(enc));
	REQUIRE(n > 0, "%s: wire_encode failed", where);
	if (pkt->type == HOMA_DATA)
		REQUIRE(n == p->homa_len, "%s: encoded %zu bytes, not %zu",
			where, n, p->homa_len);
	else
		REQUIRE(n == hlen && p->homa_len >= n,
			"%s: encoded %zu bytes of %zu", where, n, p->homa_len);
	if (p->homa_len > n)
		c->trailing++;
	memcpy(norm, p->homa, n);
	/* spec/wire.md: DATA 0xE0, every other type 0x50. */
	vec_normalise(norm, pkt, pkt->type == HOMA_DATA ? 0xe0 : 0x50);
	if (memcmp(enc, norm, n) != 0) {
		size_t i = 0;

		while (enc[i] == norm[i])
			i++;
		ck_abort_msg("%s: re-encoded byte %zu is 0x%02x, captured "
			     "(normalised) 0x%02x",
			     where, i, enc[i], norm[i]);
	}
	c->encoded++;
}

static enum wire_err vec_reason_err(const char *reason, const char *where)
{
	for (size_t i = 0; i < NELEM(vec_reasons); i++)
		if (strcmp(vec_reasons[i].reason, reason) == 0)
			return vec_reasons[i].err;
	ck_abort_msg("%s: unknown reason %s", where, reason);
	return WIRE_OK;
}

/* Check one packet against its listing line. */
static int vec_check(const struct pcapvec_pkt *p, void *arg)
{
	struct vec_ctx *c = arg;
	struct field f[MAX_FIELDS];
	struct homa_pkt pkt;
	char where[512], *line, *save = NULL, *tok;
	const char *type = NULL, *reason = NULL;
	size_t nf = 0, matched = 0;
	int valid = -1, rc;

	REQUIRE(c->next < c->nlines, "%s: frame %u not in the listing", c->path,
		p->frame);
	line = strdup(c->lines[c->next++]);
	REQUIRE(line != NULL, "out of memory");
	snprintf(where, sizeof(where), "%s: frame %u", c->path, p->frame);

	rc = wire_decode(p->homa, p->homa_len, &pkt);
	if (rc == 0)
		nf = pkt_fields(&pkt, f);

	for (tok = strtok_r(line, " \t\r\n", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t\r\n", &save)) {
		char *val = strchr(tok, '=');
		struct field *fd;

		REQUIRE(val != NULL, "%s: bad token %s", where, tok);
		*val++ = '\0';
		if (strcmp(tok, "frame") == 0) {
			REQUIRE(parse_num(val, where) == p->frame,
				"%s: listing says frame %s", where, val);
		} else if (strcmp(tok, "ipv") == 0) {
			REQUIRE(parse_num(val, where) == (uint64_t)p->ipv,
				"%s: ipv %s, read %d", where, val, p->ipv);
		} else if (strcmp(tok, "src") == 0) {
			REQUIRE(strcmp(val, p->src) == 0, "%s: src %s, read %s",
				where, val, p->src);
		} else if (strcmp(tok, "dst") == 0) {
			REQUIRE(strcmp(val, p->dst) == 0, "%s: dst %s, read %s",
				where, val, p->dst);
		} else if (strcmp(tok, "tos") == 0) {
			REQUIRE(parse_num(val, where) == p->tos,
				"%s: tos %s, read 0x%02x", where, val, p->tos);
		} else if (strcmp(tok, "homa_len") == 0) {
			REQUIRE(parse_num(val, where) == p->homa_len,
				"%s: homa_len %s, read %zu", where, val,
				p->homa_len);
		} else if (strcmp(tok, "valid") == 0) {
			valid = (int)parse_num(val, where);
		} else if (strcmp(tok, "reason") == 0) {
			reason = val;
		} else if (strcmp(tok, "type") == 0) {
			type = val;
		} else if (strcmp(tok, "need") == 0) {
			REQUIRE(p->homa_len >= HOMA_COMMON_LEN &&
					parse_num(val, where) ==
						wire_header_len(p->homa[11]),
				"%s: need=%s", where, val);
		} else if (strcmp(tok, "type_byte") == 0) {
			REQUIRE(p->homa_len >= 12 &&
					parse_num(val, where) == p->homa[11],
				"%s: type_byte=%s", where, val);
		} else {
			REQUIRE(rc == 0, "%s: field %s of a bad packet", where,
				tok);
			fd = field_find(f, nf, tok);
			REQUIRE(fd != NULL, "%s: %s is not a %s field", where,
				tok, wire_type_name(pkt.type));
			REQUIRE(fd->value == parse_num(val, where),
				"%s: %s decoded as %llu, listed as %s", where,
				tok, (unsigned long long)fd->value, val);
			matched++;
		}
	}
	REQUIRE(valid == 0 || valid == 1, "%s: no valid=", where);
	if (valid == 1) {
		REQUIRE(rc == 0, "%s: decode failed: %s", where,
			wire_strerror(rc));
		REQUIRE(type != NULL &&
				strcmp(type, wire_type_name(pkt.type)) == 0,
			"%s: type %s, decoded %s", where, type,
			wire_type_name(pkt.type));
		/* Every field the listing should have was there. */
		REQUIRE(matched == nf, "%s: %zu of %zu fields listed", where,
			matched, nf);
		if (pkt.type == HOMA_DATA)
			REQUIRE(pkt.u.data.payload == p->homa + HOMA_DATA_LEN,
				"%s: payload pointer", where);
		vec_reencode(c, p, &pkt, where);
		c->valid++;
	} else {
		REQUIRE(reason != NULL, "%s: valid=0 without reason", where);
		REQUIRE(rc == -(int)vec_reason_err(reason, where),
			"%s: listed %s, decoded %d (%s)", where, reason, rc,
			wire_err_name(rc));
		if (type != NULL && p->homa_len >= 12)
			REQUIRE(strcmp(type, wire_type_name(p->homa[11])) == 0,
				"%s: type %s", where, type);
		c->invalid++;
	}
	free(line);
	return 0;
}

/* Read the listing beside a pcap: X.pcap -> X.txt, one line per packet. */
static void vec_read_listing(struct vec_ctx *c)
{
	char txt[4096], buf[4096];
	size_t len = strlen(c->path), cap = 0;
	FILE *f;

	REQUIRE(len > 5 && strcmp(c->path + len - 5, ".pcap") == 0,
		"%s: not a .pcap", c->path);
	snprintf(txt, sizeof(txt), "%.*s.txt", (int)(len - 5), c->path);
	f = fopen(txt, "r");
	REQUIRE(f != NULL, "%s: %s", txt, strerror(errno));
	while (fgets(buf, sizeof(buf), f) != NULL) {
		REQUIRE(strchr(buf, '\n') != NULL, "%s: long line", txt);
		if (buf[0] == '\n' || buf[0] == '#')
			continue;
		if (c->nlines == cap) {
			cap = cap ? 2 * cap : 256;
			c->lines = realloc(c->lines, cap * sizeof(*c->lines));
			REQUIRE(c->lines != NULL, "out of memory");
		}
		c->lines[c->nlines] = strdup(buf);
		REQUIRE(c->lines[c->nlines] != NULL, "out of memory");
		c->nlines++;
	}
	fclose(f);
}

START_TEST(wire_decode__vectors)
{
	struct vec_ctx c = {.path = vec_glob.gl_pathv[_i]};
	char err[512];
	int n;

	vec_read_listing(&c);
	n = pcapvec_foreach(c.path, vec_check, &c, err, sizeof(err));
	ck_assert_msg(n >= 0, "%s", err);
	ck_assert_msg((size_t)n == c.nlines, "%s: %d Homa packets, %zu listed",
		      c.path, n, c.nlines);
	ck_assert_uint_eq(c.valid + c.invalid, (unsigned)n);
	printf("vectors: %s: %d packets decoded and checked (%u valid, %u "
	       "refused as listed), %u re-encoded byte-exact, %u with "
	       "trailing bytes\n",
	       c.path + strlen(VECTORS_DIR) + 1, n, c.valid, c.invalid,
	       c.encoded, c.trailing);
	for (size_t i = 0; i < c.nlines; i++)
		free(c.lines[i]);
	free(c.lines);
}
END_TEST

START_TEST(wire_decode__vectors_present)
{
	unsigned kernel = 0, handmade = 0;

	for (size_t i = 0; i < vec_glob.gl_pathc; i++) {
		if (strstr(vec_glob.gl_pathv[i], "/kernel/") != NULL)
			kernel++;
		if (strstr(vec_glob.gl_pathv[i], "/handmade/") != NULL)
			handmade++;
	}
	ck_assert_uint_ge(kernel, 1);
	ck_assert_uint_ge(handmade, 2);
}
END_TEST

/* ---- packets built by the tests ---------------------------------------- */

static const uint8_t test_payload[1500] = {'h', 'o', 'm', 'a', 0, 1, 2, 3};

/* A packet of type t with every field set to something non-trivial. */
static struct homa_pkt sample_pkt(enum homa_type t)
{
	struct homa_pkt p;

	memset(&p, 0, sizeof(p));
	p.type = t;
	p.sport = 0x8001;
	p.dport = 4000;
	p.sender_id = 0x0123456789abcdefull;
	switch (t) {
	case HOMA_DATA:
		p.u.data.message_length = 500000;
		p.u.data.incoming = 40000;
		p.u.data.ack.client_id = 0xfedcba9876543210ull;
		p.u.data.ack.server_port = 0x1234;
		p.u.data.cutoff_version = 0xbeef;
		p.u.data.retransmit = 1;
		p.u.data.offset = 212304;
		p.u.data.payload_len = 1424;
		p.u.data.payload = test_payload;
		break;
	case HOMA_GRANT:
		p.u.grant.offset = 0x89abcdef;
		p.u.grant.priority = 5;
		break;
	case HOMA_RESEND:
		p.u.resend.offset = 0x01020304;
		p.u.resend.length = HOMA_RESEND_ALL;
		p.u.resend.priority = 7;
		break;
	case HOMA_CUTOFFS:
		for (int i = 0; i < HOMA_NUM_PRIORITIES; i++)
			p.u.cutoffs.unsched_cutoffs[i] = 0x11111111u * i + 7;
		p.u.cutoffs.cutoff_version = 0xa55a;
		break;
	case HOMA_ACK:
		p.u.ack.num_acks = 3;
		for (int i = 0; i < 3; i++) {
			p.u.ack.acks[i].client_id = 0x100000000ull * i + 2;
			p.u.ack.acks[i].server_port = (uint16_t)(0xf000 + i);
		}
		break;
	case HOMA_RPC_UNKNOWN:
	case HOMA_BUSY:
	case HOMA_FREEZE:
	case HOMA_NEED_ACK:
		p.sequence = 0; /* common header only */
		break;
	}
	return p;
}

/* Encode sample_pkt(t) into a heap buffer of exactly its length. */
static uint8_t *sample_bytes(enum homa_type t, size_t *len)
{
	struct homa_pkt p = sample_pkt(t);
	uint8_t tmp[2000], *b;

	*len = wire_encode(&p, tmp, sizeof(tmp));
	ck_assert_uint_gt(*len, 0);
	b = malloc(*len);
	ck_assert_ptr_nonnull(b);
	memcpy(b, tmp, *len);
	return b;
}

static void put32(uint8_t *b, size_t off, uint32_t v)
{
	v = htobe32(v);
	memcpy(b + off, &v, 4);
}

static void put16(uint8_t *b, size_t off, uint16_t v)
{
	v = htobe16(v);
	memcpy(b + off, &v, 2);
}

/* A DATA packet: message length, seg_offset, sequence, payload bytes. */
static uint8_t *data_bytes(uint32_t msg_len, uint32_t seg_offset,
			   uint32_t sequence, size_t payload_len, size_t *len)
{
	size_t hdr;
	uint8_t *b = sample_bytes(HOMA_DATA, &hdr);

	*len = HOMA_DATA_LEN + payload_len;
	b = realloc(b, *len);
	ck_assert_ptr_nonnull(b);
	memset(b + HOMA_DATA_LEN, 0x5a, payload_len);
	put32(b, offsetof(struct homa_wire_data, message_length), msg_len);
	put32(b, offsetof(struct homa_wire_data, seg_offset), seg_offset);
	put32(b, offsetof(struct homa_wire_common, sequence), sequence);
	return b;
}

static int decode_data(uint32_t msg_len, uint32_t seg_offset, uint32_t sequence,
		       size_t payload_len, struct homa_pkt *p)
{
	size_t len;
	uint8_t *b =
		data_bytes(msg_len, seg_offset, sequence, payload_len, &len);
	int rc = wire_decode(b, len, p);

	free(b);
	return rc;
}

/* ---- wire_decode: malformed packets ------------------------------------ */

/* Every cut of t's header: SHORT below 28 bytes, TRUNCATED above. */
static void check_truncated(enum homa_type t)
{
	size_t full, hlen = wire_header_len(t);
	uint8_t *b = sample_bytes(t, &full);
	struct homa_pkt p;

	ck_assert_uint_ge(full, hlen);
	for (size_t len = 0; len < hlen; len++) {
		/* An exact-size copy, so an over-read is a heap error. */
		uint8_t *cut = malloc(len ? len : 1);

		ck_assert_ptr_nonnull(cut);
		memcpy(cut, b, len);
		ck_assert_int_eq(wire_decode(cut, len, &p),
				 len < HOMA_COMMON_LEN ? -WIRE_ERR_SHORT
						       : -WIRE_ERR_TRUNCATED);
		free(cut);
	}
	if (t != HOMA_DATA)
		ck_assert_int_eq(wire_decode(b, hlen, &p), 0);
	free(b);
}

#define TRUNCATED_TEST(name, type)                \
	START_TEST(wire_decode__truncated_##name) \
	{                                         \
		check_truncated(type);            \
	}                                         \
	END_TEST

TRUNCATED_TEST(data, HOMA_DATA)
TRUNCATED_TEST(grant, HOMA_GRANT)
TRUNCATED_TEST(resend, HOMA_RESEND)
TRUNCATED_TEST(rpc_unknown, HOMA_RPC_UNKNOWN)
TRUNCATED_TEST(busy, HOMA_BUSY)
TRUNCATED_TEST(cutoffs, HOMA_CUTOFFS)
TRUNCATED_TEST(freeze, HOMA_FREEZE)
TRUNCATED_TEST(need_ack, HOMA_NEED_ACK)
TRUNCATED_TEST(ack, HOMA_ACK)

START_TEST(wire_decode__bad_type)
{
	static const uint8_t bad[] = {0x00, 0x0f, 0x19, 0xff};
	uint8_t b[HOMA_ACK_LEN + 100];
	struct homa_pkt p;

	memset(b, 0, sizeof(b));
	for (size_t i = 0; i < NELEM(bad); i++) {
		b[offsetof(struct homa_wire_common, type)] = bad[i];
		ck_assert_int_eq(wire_decode(b, HOMA_COMMON_LEN, &p),
				 -WIRE_ERR_BAD_TYPE);
		ck_assert_int_eq(wire_decode(b, sizeof(b), &p),
				 -WIRE_ERR_BAD_TYPE);
		/* Length is checked first. */
		ck_assert_int_eq(wire_decode(b, HOMA_COMMON_LEN - 1, &p),
				 -WIRE_ERR_SHORT);
	}
}
END_TEST

START_TEST(wire_decode__num_acks)
{
	static const uint16_t bad[] = {6, 0xffff};
	size_t len;
	uint8_t *b = sample_bytes(HOMA_ACK, &len);
	struct homa_pkt p;

	for (size_t i = 0; i < NELEM(bad); i++) {
		put16(b, offsetof(struct homa_wire_ack_pkt, num_acks), bad[i]);
		ck_assert_int_eq(wire_decode(b, len, &p), -WIRE_ERR_NUM_ACKS);
		/* Truncation is checked before num_acks. */
		ck_assert_int_eq(wire_decode(b, len - 1, &p),
				 -WIRE_ERR_TRUNCATED);
	}
	put16(b, offsetof(struct homa_wire_ack_pkt, num_acks), HOMA_MAX_ACKS);
	ck_assert_int_eq(wire_decode(b, len, &p), 0);
	ck_assert_uint_eq(p.u.ack.num_acks, HOMA_MAX_ACKS);
	free(b);
}
END_TEST

START_TEST(wire_decode__msg_length)
{
	struct homa_pkt p;

	ck_assert_int_eq(decode_data(0, 0, 0, 0, &p), -WIRE_ERR_MSG_LENGTH);
	ck_assert_int_eq(decode_data(0, 0, 0, 10, &p), -WIRE_ERR_MSG_LENGTH);
	ck_assert_int_eq(decode_data(1000001, 0, 0, 100, &p),
			 -WIRE_ERR_MSG_LENGTH);
	ck_assert_int_eq(decode_data(0xffffffff, 0, 0, 100, &p),
			 -WIRE_ERR_MSG_LENGTH);
	ck_assert_int_eq(decode_data(1, 0, 0, 1, &p), 0);
	ck_assert_int_eq(decode_data(1000000, 0, 0, 1424, &p), 0);
}
END_TEST

START_TEST(wire_decode__payload_length)
{
	struct homa_pkt p;

	ck_assert_int_eq(decode_data(10, 0, 0, 11, &p),
			 -WIRE_ERR_PAYLOAD_LENGTH);
	/* Checked before the offset. */
	ck_assert_int_eq(decode_data(10, 500, 0, 11, &p),
			 -WIRE_ERR_PAYLOAD_LENGTH);
	ck_assert_int_eq(decode_data(10, 0, 0, 10, &p), 0);
	ck_assert_uint_eq(p.u.data.payload_len, 10);
}
END_TEST

START_TEST(wire_decode__offset_seg_form)
{
	struct homa_pkt p;

	ck_assert_int_eq(decode_data(1000, 990, 0, 11, &p), -WIRE_ERR_OFFSET);
	ck_assert_int_eq(decode_data(1000, 1000, 0, 1, &p), -WIRE_ERR_OFFSET);
	ck_assert_int_eq(decode_data(1000, 1001, 0, 0, &p), -WIRE_ERR_OFFSET);
	/* 32-bit wrap-around must not hide an offset past the end. */
	ck_assert_int_eq(decode_data(1000, 0xfffffff0u, 0, 32, &p),
			 -WIRE_ERR_OFFSET);
	/* A stale sequence is ignored when seg_offset is set. */
	ck_assert_int_eq(decode_data(1000, 989, 0xfffffff0u, 11, &p), 0);
	ck_assert_uint_eq(p.u.data.offset, 989);
	ck_assert_uint_eq(p.u.data.seg_offset, 989);
	ck_assert_uint_eq(p.sequence, 0xfffffff0u);
}
END_TEST

START_TEST(wire_decode__offset_sequence_form)
{
	struct homa_pkt p;

	ck_assert_int_eq(decode_data(1000, HOMA_SEG_OFFSET_NONE, 990, 11, &p),
			 -WIRE_ERR_OFFSET);
	ck_assert_int_eq(decode_data(1000, HOMA_SEG_OFFSET_NONE, 1000, 1, &p),
			 -WIRE_ERR_OFFSET);
	ck_assert_int_eq(
		decode_data(1000, HOMA_SEG_OFFSET_NONE, 0xfffffff0u, 32, &p),
		-WIRE_ERR_OFFSET);
	ck_assert_int_eq(decode_data(1000, HOMA_SEG_OFFSET_NONE, 100, 900, &p),
			 0);
	ck_assert_uint_eq(p.u.data.offset, 100);
	ck_assert_uint_eq(p.u.data.seg_offset, HOMA_SEG_OFFSET_NONE);
}
END_TEST

START_TEST(wire_decode__max_message_last_packet)
{
	const uint32_t last = 1000000 - 1424;
	struct homa_pkt p;

	ck_assert_int_eq(decode_data(1000000, last, 0, 1424, &p), 0);
	ck_assert_uint_eq(p.u.data.offset, last);
	ck_assert_uint_eq(p.u.data.payload_len, 1424);
	ck_assert_int_eq(
		decode_data(1000000, HOMA_SEG_OFFSET_NONE, last, 1424, &p), 0);
	ck_assert_uint_eq(p.u.data.offset, last);
	/* One byte more is past the end. */
	ck_assert_int_eq(decode_data(1000000, last + 1, 0, 1424, &p),
			 -WIRE_ERR_OFFSET);
	ck_assert_int_eq(decode_data(1000000, last, 0, 1425, &p),
			 -WIRE_ERR_OFFSET);
}
END_TEST

START_TEST(wire_decode__ignored_common_fields_kept)
{
	size_t len;
	uint8_t *b = sample_bytes(HOMA_GRANT, &len);
	struct homa_pkt p;

	b[offsetof(struct homa_wire_common, doff)] = 0x00;
	b[offsetof(struct homa_wire_common, flags)] = 6;
	put16(b, offsetof(struct homa_wire_common, checksum), 0x1234);
	put16(b, offsetof(struct homa_wire_common, urgent), 0xb97d);
	ck_assert_int_eq(wire_decode(b, len, &p), 0);
	ck_assert_uint_eq(p.doff, 0);
	ck_assert_uint_eq(p.flags, 6);
	ck_assert_uint_eq(p.checksum, 0x1234);
	ck_assert_uint_eq(p.urgent, 0xb97d);
	free(b);
}
END_TEST

/* ---- wire_encode -------------------------------------------------------- */

START_TEST(wire_encode__round_trip)
{
	enum homa_type t = (enum homa_type)(HOMA_TYPE_MIN + _i);
	struct homa_pkt in = sample_pkt(t), out;
	struct field fi[MAX_FIELDS], fo[MAX_FIELDS];
	uint8_t buf[2000];
	size_t n, ni, no;

	/* homad writes these itself, whatever the pkt says. */
	in.doff = 0x33;
	in.flags = 6;
	in.checksum = 0x4242;
	in.urgent = 0xb97d;
	if (t == HOMA_DATA) {
		in.sequence = 77;
		in.u.data.seg_offset = HOMA_SEG_OFFSET_NONE;
	}
	n = wire_encode(&in, buf, sizeof(buf));
	ck_assert_uint_eq(n,
			  wire_header_len(t) +
				  (t == HOMA_DATA ? in.u.data.payload_len : 0));
	ck_assert_int_eq(wire_decode(buf, n, &out), 0);
	ck_assert_int_eq(out.type, t);
	ck_assert_uint_eq(out.doff, (t == HOMA_DATA ? 0xe0 : 0x50));
	ck_assert_uint_eq(out.flags, 0);
	ck_assert_uint_eq(out.checksum, 0);
	ck_assert_uint_eq(out.urgent, 0);
	if (t == HOMA_DATA) {
		ck_assert_uint_eq(out.sequence, in.u.data.offset);
		ck_assert_uint_eq(out.u.data.seg_offset, in.u.data.offset);
		ck_assert_mem_eq(out.u.data.payload, test_payload,
				 in.u.data.payload_len);
		/* For the field comparison below. */
		in.sequence = in.u.data.offset;
		in.u.data.seg_offset = in.u.data.offset;
	}
	in.doff = out.doff;
	in.flags = 0;
	in.urgent = 0;
	ni = pkt_fields(&in, fi);
	no = pkt_fields(&out, fo);
	ck_assert_uint_eq(ni, no);
	for (size_t i = 0; i < ni; i++) {
		ck_assert_str_eq(fi[i].name, fo[i].name);
		ck_assert_msg(fi[i].value == fo[i].value, "%s %s: %llu != %llu",
			      wire_type_name(t), fi[i].name,
			      (unsigned long long)fi[i].value,
			      (unsigned long long)fo[i].value);
	}
	/* window, ack[3] and DATA pad are 0. */
	ck_assert_uint_eq(buf[8] | buf[9] | buf[10] | buf[14] | buf[15], 0);
	if (t == HOMA_DATA)
		ck_assert_uint_eq(buf[49] | buf[50] | buf[51], 0);
}
END_TEST

START_TEST(wire_encode__ack_unused_entries_zero)
{
	struct homa_pkt p = sample_pkt(HOMA_ACK), out;
	uint8_t buf[HOMA_ACK_LEN], zero[HOMA_ACK_LEN] = {0};
	size_t used = offsetof(struct homa_wire_ack_pkt, acks) +
		      sizeof(struct homa_wire_ack);

	memset(buf, 0xee, sizeof(buf));
	p.u.ack.num_acks = 1;
	/* Stale entries past num_acks are not sent. */
	p.u.ack.acks[3].client_id = 99;
	ck_assert_uint_eq(wire_encode(&p, buf, sizeof(buf)), HOMA_ACK_LEN);
	ck_assert_mem_eq(buf + used, zero, HOMA_ACK_LEN - used);
	ck_assert_int_eq(wire_decode(buf, sizeof(buf), &out), 0);
	ck_assert_uint_eq(out.u.ack.num_acks, 1);
	ck_assert_uint_eq(out.u.ack.acks[0].client_id, 2);
	ck_assert_uint_eq(out.u.ack.acks[3].client_id, 0);

	p.u.ack.num_acks = 0;
	ck_assert_uint_eq(wire_encode(&p, buf, sizeof(buf)), HOMA_ACK_LEN);
	p.u.ack.num_acks = HOMA_MAX_ACKS + 1;
	ck_assert_uint_eq(wire_encode(&p, buf, sizeof(buf)), 0);
}
END_TEST

START_TEST(wire_encode__cap_too_small)
{
	uint8_t buf[2000];

	for (int t = HOMA_TYPE_MIN; t <= HOMA_TYPE_MAX; t++) {
		struct homa_pkt p = sample_pkt((enum homa_type)t);
		size_t need = wire_encode(&p, buf, sizeof(buf));

		ck_assert_uint_gt(need, 0);
		ck_assert_uint_eq(wire_encode(&p, buf, need - 1), 0);
		ck_assert_uint_eq(wire_encode(&p, buf, 0), 0);
		ck_assert_uint_eq(wire_encode(&p, buf, need), need);
	}
}
END_TEST

START_TEST(wire_encode__bad_type)
{
	struct homa_pkt p = sample_pkt(HOMA_GRANT);
	uint8_t buf[200];

	p.type = (enum homa_type)0x19;
	ck_assert_uint_eq(wire_encode(&p, buf, sizeof(buf)), 0);
	p.type = (enum homa_type)0x0f;
	ck_assert_uint_eq(wire_encode(&p, buf, sizeof(buf)), 0);
}
END_TEST

START_TEST(wire_encode__data_payload_written_by_caller)
{
	struct homa_pkt p = sample_pkt(HOMA_DATA), out;
	uint8_t buf[HOMA_DATA_LEN + 100];

	memset(buf, 0x77, sizeof(buf));
	p.u.data.payload = NULL;
	p.u.data.payload_len = 100;
	ck_assert_uint_eq(wire_encode(&p, buf, sizeof(buf)), sizeof(buf));
	ck_assert_uint_eq(buf[HOMA_DATA_LEN], 0x77); /* left alone */
	ck_assert_int_eq(wire_decode(buf, sizeof(buf), &out), 0);
	ck_assert_uint_eq(out.u.data.payload_len, 100);
}
END_TEST

START_TEST(wire_encode__data_pad_carried_both_ways)
{
	struct homa_pkt p = sample_pkt(HOMA_DATA), out;
	uint8_t buf[HOMA_DATA_LEN + 1424];
	size_t n;

	/* Cleared: the pad goes out as 0, as the module sends it. */
	memset(p.u.data.pad, 0, sizeof(p.u.data.pad));
	n = wire_encode(&p, buf, sizeof(buf));
	ck_assert_uint_gt(n, 0);
	ck_assert_mem_eq(buf + 49, ((uint8_t[]){0, 0, 0}), 3);
	/* Given: bytes 49..51 exactly, and decoded back. */
	p.u.data.pad[0] = 0x48;
	p.u.data.pad[1] = 0x44;
	p.u.data.pad[2] = 0x81;
	n = wire_encode(&p, buf, sizeof(buf));
	ck_assert_mem_eq(buf + 49, ((uint8_t[]){0x48, 0x44, 0x81}), 3);
	ck_assert_uint_eq(buf[48], p.u.data.retransmit);
	ck_assert_int_eq(wire_decode(buf, n, &out), 0);
	ck_assert_mem_eq(out.u.data.pad, p.u.data.pad, 3);
	ck_assert_uint_eq(out.u.data.seg_offset, p.u.data.offset);
}
END_TEST

/* ---- names and lengths -------------------------------------------------- */

START_TEST(wire_header_len__all_types)
{
	static const size_t want[HOMA_TYPE_COUNT] = {56, 33, 37, 28, 28,
						     62, 28, 28, 80};

	for (int t = HOMA_TYPE_MIN; t <= HOMA_TYPE_MAX; t++)
		ck_assert_uint_eq(wire_header_len(t), want[t - HOMA_TYPE_MIN]);
	ck_assert_uint_eq(wire_header_len(0), 0);
	ck_assert_uint_eq(wire_header_len(0x0f), 0);
	ck_assert_uint_eq(wire_header_len(0x19), 0);
	ck_assert_uint_eq(wire_header_len(-1), 0);
}
END_TEST

START_TEST(wire_type_name__all_types)
{
	static const char *const want[HOMA_TYPE_COUNT] = {
		"DATA",	   "GRANT",  "RESEND",	 "RPC_UNKNOWN", "BUSY",
		"CUTOFFS", "FREEZE", "NEED_ACK", "ACK"};

	for (int t = HOMA_TYPE_MIN; t <= HOMA_TYPE_MAX; t++)
		ck_assert_str_eq(wire_type_name(t), want[t - HOMA_TYPE_MIN]);
	ck_assert_str_eq(wire_type_name(0x0f), "UNKNOWN");
	ck_assert_str_eq(wire_type_name(0x19), "UNKNOWN");
	ck_assert_str_eq(wire_type_name(0x99), "UNKNOWN");
}
END_TEST

START_TEST(wire_err_name__all_reasons)
{
	static const char *const want[WIRE_ERR_COUNT] = {
		[WIRE_ERR_SHORT] = "short",
		[WIRE_ERR_BAD_TYPE] = "bad_type",
		[WIRE_ERR_TRUNCATED] = "truncated",
		[WIRE_ERR_NUM_ACKS] = "num_acks",
		[WIRE_ERR_MSG_LENGTH] = "msg_length",
		[WIRE_ERR_PAYLOAD_LENGTH] = "payload_length",
		[WIRE_ERR_OFFSET] = "offset",
	};

	for (int e = 1; e < WIRE_ERR_COUNT; e++) {
		ck_assert_str_eq(wire_err_name(e), want[e]);
		ck_assert_str_eq(wire_err_name(-e), want[e]);
		ck_assert_ptr_nonnull(wire_strerror(-e));
		for (int o = 1; o < e; o++)
			ck_assert_str_ne(wire_strerror(-e), wire_strerror(-o));
	}
	ck_assert_str_eq(wire_err_name(WIRE_ERR_COUNT), "unknown");
	ck_assert_str_eq(wire_err_name(-WIRE_ERR_COUNT), "unknown");
	ck_assert_ptr_nonnull(wire_strerror(1000));
}
END_TEST

/* ---- pcapvec: link types the vectors do not exercise ------------------ */

/* A pcap file of dlt, built record by record in a temporary file. */
struct tpcap {
	char path[64];
	pcap_t *pd;
	pcap_dumper_t *dump;
};

static void tpcap_open(struct tpcap *t, int dlt)
{
	int fd;

	snprintf(t->path, sizeof(t->path), "/tmp/test_wire-XXXXXX");
	fd = mkstemp(t->path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	t->pd = pcap_open_dead(dlt, 65535);
	ck_assert_ptr_nonnull(t->pd);
	t->dump = pcap_dump_open(t->pd, t->path);
	ck_assert_msg(t->dump != NULL, "%s", pcap_geterr(t->pd));
}

static void tpcap_add(struct tpcap *t, const uint8_t *b, size_t len,
		      size_t caplen)
{
	struct pcap_pkthdr h;

	memset(&h, 0, sizeof(h));
	h.caplen = (bpf_u_int32)caplen;
	h.len = (bpf_u_int32)len;
	pcap_dump((u_char *)t->dump, &h, b);
}

static void tpcap_close(struct tpcap *t)
{
	pcap_dump_close(t->dump);
	pcap_close(t->pd);
}

/* An IPv4 header with ihl_words words (options zero) before homa. */
static size_t make_ipv4(uint8_t *b, uint8_t tos, uint8_t proto, int ihl_words,
			const uint8_t *homa, size_t hlen)
{
	size_t ihl = (size_t)ihl_words * 4;

	memset(b, 0, ihl);
	b[0] = (uint8_t)(0x40 | ihl_words);
	b[1] = tos;
	put16(b, 2, (uint16_t)(ihl + hlen));
	b[8] = 64;
	b[9] = proto;
	b[12] = 10, b[13] = 1, b[14] = 2, b[15] = 3;
	b[16] = 10, b[17] = 4, b[18] = 5, b[19] = 6;
	memcpy(b + ihl, homa, hlen);
	return ihl + hlen;
}

/* An IPv6 header, then n_ext 8-byte extension headers, then homa. */
static size_t make_ipv6(uint8_t *b, uint8_t tclass, const uint8_t *ext_types,
			int n_ext, uint8_t proto, const uint8_t *homa,
			size_t hlen)
{
	size_t pos = 40;

	memset(b, 0, 40);
	b[0] = (uint8_t)(0x60 | tclass >> 4);
	b[1] = (uint8_t)(tclass << 4);
	put16(b, 4, (uint16_t)(8 * n_ext + hlen));
	b[6] = n_ext > 0 ? ext_types[0] : proto;
	b[7] = 64;
	b[8] = 0xfd, b[9] = 0x46, b[23] = 1;   /* fd46::1 */
	b[24] = 0xfd, b[25] = 0x46, b[39] = 2; /* fd46::2 */
	for (int i = 0; i < n_ext; i++) {
		memset(b + pos, 0, 8);
		b[pos] = i + 1 < n_ext ? ext_types[i + 1] : proto;
		b[pos + 1] = 0; /* (0 + 1) * 8 bytes */
		pos += 8;
	}
	memcpy(b + pos, homa, hlen);
	return pos + hlen;
}

/* What pcapvec_foreach reported, packet by packet. */
struct seen {
	unsigned n;
	struct pcapvec_pkt p[8];
	uint8_t homa[8][128];
};

static int seen_add(const struct pcapvec_pkt *p, void *arg)
{
	struct seen *s = arg;

	ck_assert_uint_lt(s->n, 8);
	ck_assert_uint_le(p->homa_len, sizeof(s->homa[0]));
	s->p[s->n] = *p;
	memcpy(s->homa[s->n], p->homa, p->homa_len);
	s->p[s->n].homa = NULL;
	s->n++;
	return 0;
}

static int stop_at_second(const struct pcapvec_pkt *p, void *arg)
{
	unsigned *calls = arg;

	(void)p;
	return ++*calls == 2 ? 42 : 0;
}

/* The Homa packet every link-type test carries: a GRANT. */
static size_t grant_bytes(uint8_t *b)
{
	struct homa_pkt p = sample_pkt(HOMA_GRANT);

	return wire_encode(&p, b, HOMA_GRANT_LEN);
}

static void check_seen_grant(const struct seen *s, unsigned i, unsigned frame,
			     int ipv, uint8_t tos)
{
	struct homa_pkt p;

	ck_assert_uint_eq(s->p[i].frame, frame);
	ck_assert_int_eq(s->p[i].ipv, ipv);
	ck_assert_uint_eq(s->p[i].tos, tos);
	ck_assert_uint_eq(s->p[i].homa_len, HOMA_GRANT_LEN);
	ck_assert_int_eq(wire_decode(s->homa[i], s->p[i].homa_len, &p), 0);
	ck_assert_int_eq(p.type, HOMA_GRANT);
	ck_assert_uint_eq(p.u.grant.offset, 0x89abcdef);
	if (ipv == 4) {
		ck_assert_str_eq(s->p[i].src, "10.1.2.3");
		ck_assert_str_eq(s->p[i].dst, "10.4.5.6");
	} else {
		ck_assert_str_eq(s->p[i].src, "fd46::1");
		ck_assert_str_eq(s->p[i].dst, "fd46::2");
	}
}

START_TEST(pcapvec_foreach__linux_sll)
{
	uint8_t homa[64], b[256];
	struct tpcap t;
	struct seen s = {0};
	char err[256];
	size_t hl = grant_bytes(homa), n;

	tpcap_open(&t, DLT_LINUX_SLL);
	/* SLL v1: type, arphrd, addr len, addr[8], protocol. */
	memset(b, 0, 16);
	put16(b, 14, 0x0800);
	n = make_ipv4(b + 16, 0xe0, 146, 5, homa, hl);
	tpcap_add(&t, b, 16 + n, 16 + n);
	n = make_ipv4(b + 16, 0xe0, 17, 5, homa, hl); /* UDP: skipped */
	tpcap_add(&t, b, 16 + n, 16 + n);
	put16(b, 14, 0x86dd);
	n = make_ipv6(b + 16, 0xc0, NULL, 0, 146, homa, hl);
	tpcap_add(&t, b, 16 + n, 16 + n);
	tpcap_close(&t);

	ck_assert_int_eq(
		pcapvec_foreach(t.path, seen_add, &s, err, sizeof(err)), 2);
	check_seen_grant(&s, 0, 1, 4, 0xe0);
	check_seen_grant(&s, 1, 3, 6, 0xc0);
	unlink(t.path);
}
END_TEST

START_TEST(pcapvec_foreach__linux_sll2)
{
	uint8_t homa[64], b[256];
	struct tpcap t;
	struct seen s = {0};
	char err[256];
	size_t hl = grant_bytes(homa), n;

	tpcap_open(&t, DLT_LINUX_SLL2);
	/* SLL2: protocol first, then 18 more bytes. */
	memset(b, 0, 20);
	put16(b, 0, 0x86dd);
	n = make_ipv6(b + 20, 0xe0, NULL, 0, 146, homa, hl);
	tpcap_add(&t, b, 20 + n, 20 + n);
	put16(b, 0, 0x0806); /* ARP: skipped */
	tpcap_add(&t, b, 60, 60);
	put16(b, 0, 0x0800);
	n = make_ipv4(b + 20, 0x40, 146, 5, homa, hl);
	tpcap_add(&t, b, 20 + n, 20 + n);
	tpcap_close(&t);

	ck_assert_int_eq(
		pcapvec_foreach(t.path, seen_add, &s, err, sizeof(err)), 2);
	check_seen_grant(&s, 0, 1, 6, 0xe0);
	check_seen_grant(&s, 1, 3, 4, 0x40);
	unlink(t.path);
}
END_TEST

START_TEST(pcapvec_foreach__raw_ipv6_ext_headers)
{
	static const uint8_t ext[] = {0, 60, 43}; /* hop, dest opts, routing */
	uint8_t homa[64], b[256];
	struct tpcap t;
	struct seen s = {0};
	char err[256];
	size_t hl = grant_bytes(homa), n;

	tpcap_open(&t, DLT_RAW);
	n = make_ipv6(b, 0xe0, NULL, 0, 146, homa, hl);
	tpcap_add(&t, b, n, n);
	n = make_ipv6(b, 0xa0, ext, 3, 146, homa, hl);
	tpcap_add(&t, b, n, n);
	n = make_ipv6(b, 0xe0, ext, 1, 58, homa, hl); /* ICMPv6: skipped */
	tpcap_add(&t, b, n, n);
	tpcap_close(&t);

	ck_assert_int_eq(
		pcapvec_foreach(t.path, seen_add, &s, err, sizeof(err)), 2);
	check_seen_grant(&s, 0, 1, 6, 0xe0);
	check_seen_grant(&s, 1, 2, 6, 0xa0);
	unlink(t.path);
}
END_TEST

/* The acks of a packet without decoding it: DATA's one, ACK's entries. */
START_TEST(wire_peek_acks__data_and_ack)
{
	static const uint8_t payload[4];
	struct homa_ack acks[HOMA_MAX_ACKS];
	struct homa_pkt p;
	uint8_t buf[200];
	size_t n;

	et_data_pkt(&p, 2, 8, sizeof(payload), sizeof(payload), 0,
		    sizeof(payload));
	p.u.data.payload = payload;
	n = wire_encode(&p, buf, sizeof(buf));
	ck_assert_uint_eq(wire_peek_acks(buf, n, acks), 0);
	p.u.data.ack.client_id = 0x123456789aull;
	p.u.data.ack.server_port = 700;
	n = wire_encode(&p, buf, sizeof(buf));
	ck_assert_uint_eq(wire_peek_acks(buf, n, acks), 1);
	ck_assert_uint_eq(acks[0].client_id, 0x123456789aull);
	ck_assert_uint_eq(acks[0].server_port, 700);
	ck_assert_uint_eq(wire_peek_acks(buf, HOMA_DATA_LEN - 1, acks), 0);
	memset(&p, 0, sizeof(p));
	p.type = HOMA_ACK;
	p.sender_id = 8;
	p.u.ack.num_acks = 3;
	for (unsigned i = 0; i < 3; i++) {
		p.u.ack.acks[i].client_id = 2 * (i + 1);
		p.u.ack.acks[i].server_port = (uint16_t)(100 + i);
	}
	n = wire_encode(&p, buf, sizeof(buf));
	ck_assert_uint_eq(wire_peek_acks(buf, n, acks), 3);
	ck_assert_uint_eq(acks[2].client_id, 6);
	ck_assert_uint_eq(acks[2].server_port, 102);
	ck_assert_uint_eq(wire_peek_acks(buf, HOMA_ACK_LEN - 1, acks), 0);
	/* num_acks past the limit: only the entries the header holds. */
	buf[HOMA_COMMON_LEN + 1] = 200;
	ck_assert_uint_eq(wire_peek_acks(buf, n, acks), HOMA_MAX_ACKS);
	buf[offsetof(struct homa_wire_common, type)] = HOMA_GRANT;
	ck_assert_uint_eq(wire_peek_acks(buf, n, acks), 0);
}
END_TEST

START_TEST(pcapvec_foreach__ethernet_vlan_options_padding)
{
	uint8_t homa[64], b[256];
	struct tpcap t;
	struct seen s = {0};
	char err[256];
	size_t hl = grant_bytes(homa), n;

	tpcap_open(&t, DLT_EN10MB);
	memset(b, 0, sizeof(b));
	put16(b, 12, 0x8100); /* one 802.1Q tag */
	put16(b, 14, 7);
	put16(b, 16, 0x0800);
	n = make_ipv4(b + 18, 0xe0, 146, 6, homa, hl); /* 4 bytes options */
	/* Trailing Ethernet padding past the IP total length. */
	tpcap_add(&t, b, 18 + n + 10, 18 + n + 10);
	tpcap_close(&t);

	ck_assert_int_eq(
		pcapvec_foreach(t.path, seen_add, &s, err, sizeof(err)), 1);
	check_seen_grant(&s, 0, 1, 4, 0xe0);
	unlink(t.path);
}
END_TEST

START_TEST(pcapvec_foreach__errors)
{
	uint8_t homa[64], b[256];
	struct tpcap t;
	struct seen s = {0};
	char err[256] = "";
	unsigned calls = 0;
	size_t hl = grant_bytes(homa), n;

	/* A Homa packet cut short by the snap length. */
	tpcap_open(&t, DLT_RAW);
	n = make_ipv4(b, 0xe0, 146, 5, homa, hl);
	tpcap_add(&t, b, n, n);
	tpcap_add(&t, b, n, n);
	tpcap_add(&t, b, n, n - 1);
	tpcap_close(&t);
	ck_assert_int_eq(pcapvec_foreach(t.path, stop_at_second, &calls, err,
					 sizeof(err)),
			 42);
	ck_assert_uint_eq(calls, 2);
	ck_assert_int_eq(
		pcapvec_foreach(t.path, seen_add, &s, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "frame 3"));
	unlink(t.path);

	/* An unsupported link type. */
	tpcap_open(&t, DLT_NULL);
	tpcap_close(&t);
	ck_assert_int_eq(
		pcapvec_foreach(t.path, seen_add, &s, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "link type"));
	unlink(t.path);

	ck_assert_int_eq(pcapvec_foreach("/nonexistent/x.pcap", seen_add, &s,
					 err, sizeof(err)),
			 -1);
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

static Suite *wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc;

	tc = tcase_create("vectors");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, wire_decode__vectors_present);
	tcase_add_loop_test(tc, wire_decode__vectors, 0,
			    (int)vec_glob.gl_pathc);
	suite_add_tcase(s, tc);

	tc = tcase_create("decode");
	tcase_add_test(tc, wire_decode__truncated_data);
	tcase_add_test(tc, wire_decode__truncated_grant);
	tcase_add_test(tc, wire_decode__truncated_resend);
	tcase_add_test(tc, wire_decode__truncated_rpc_unknown);
	tcase_add_test(tc, wire_decode__truncated_busy);
	tcase_add_test(tc, wire_decode__truncated_cutoffs);
	tcase_add_test(tc, wire_decode__truncated_freeze);
	tcase_add_test(tc, wire_decode__truncated_need_ack);
	tcase_add_test(tc, wire_decode__truncated_ack);
	tcase_add_test(tc, wire_decode__bad_type);
	tcase_add_test(tc, wire_decode__num_acks);
	tcase_add_test(tc, wire_decode__msg_length);
	tcase_add_test(tc, wire_decode__payload_length);
	tcase_add_test(tc, wire_decode__offset_seg_form);
	tcase_add_test(tc, wire_decode__offset_sequence_form);
	tcase_add_test(tc, wire_decode__max_message_last_packet);
	tcase_add_test(tc, wire_decode__ignored_common_fields_kept);
	suite_add_tcase(s, tc);

	tc = tcase_create("encode");
	tcase_add_loop_test(tc, wire_encode__round_trip, 0, HOMA_TYPE_COUNT);
	tcase_add_test(tc, wire_encode__ack_unused_entries_zero);
	tcase_add_test(tc, wire_encode__cap_too_small);
	tcase_add_test(tc, wire_encode__bad_type);
	tcase_add_test(tc, wire_encode__data_payload_written_by_caller);
	tcase_add_test(tc, wire_encode__data_pad_carried_both_ways);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_test(tc, wire_header_len__all_types);
	tcase_add_test(tc, wire_type_name__all_types);
	tcase_add_test(tc, wire_err_name__all_reasons);
	suite_add_tcase(s, tc);

	tc = tcase_create("pcapvec");
	tcase_add_test(tc, pcapvec_foreach__linux_sll);
	tcase_add_test(tc, pcapvec_foreach__linux_sll2);
	tcase_add_test(tc, pcapvec_foreach__raw_ipv6_ext_headers);
	tcase_add_test(tc, pcapvec_foreach__ethernet_vlan_options_padding);
	tcase_add_test(tc, pcapvec_foreach__errors);
	tcase_add_test(tc, wire_peek_acks__data_and_ack);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed, rc;

	rc = glob(VECTORS_DIR "/kernel/*.pcap", 0, NULL, &vec_glob);
	if (rc == 0 || rc == GLOB_NOMATCH)
		rc = glob(VECTORS_DIR "/handmade/*.pcap", GLOB_APPEND, NULL,
			  &vec_glob);
	if (rc != 0 && rc != GLOB_NOMATCH) {
		fprintf(stderr, "glob %s failed\n", VECTORS_DIR);
		return EXIT_FAILURE;
	}
	sr = srunner_create(wire_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	globfree(&vec_glob);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
