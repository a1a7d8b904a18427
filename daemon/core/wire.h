/*
 * wire.h - Homa packet layouts and the validating codec.
 *
 * The byte layout is that of the Linux Homa module (IP protocol 146); see
 * spec/wire.md.  Every multi-byte field is big-endian on the wire.  The
 * packed structs below describe the bytes exactly and are only ever read
 * and written through the codec (wire_decode / wire_encode), which converts
 * to and from the host-order `struct homa_pkt`.
 *
 * Nothing here allocates, and nothing here trusts its input: wire_decode
 * validates lengths, the type byte and the DATA/ACK fields, and returns a
 * distinct negative `enum wire_err` for each reason a packet is refused.
 */
#ifndef HOMAD_CORE_WIRE_H
#define HOMAD_CORE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define HOMA_IPPROTO		146
#define HOMA_MAX_MESSAGE_LENGTH 1000000u
#define HOMA_NUM_PRIORITIES	8
#define HOMA_MAX_ACKS		5 /* entries in an ACK packet's acks[] */
#define HOMA_SEG_OFFSET_NONE	0xFFFFFFFFu /* DATA: use common.sequence */
#define HOMA_RESEND_ALL		0xFFFFFFFFu /* RESEND.length: "everything" */
#define HOMA_CONTROL_PRIORITY	7

/* Packet types (common.type). */
enum homa_type {
	HOMA_DATA = 0x10,
	HOMA_GRANT = 0x11,
	HOMA_RESEND = 0x12,
	HOMA_RPC_UNKNOWN = 0x13,
	HOMA_BUSY = 0x14,
	HOMA_CUTOFFS = 0x15,
	HOMA_FREEZE = 0x16,
	HOMA_NEED_ACK = 0x17,
	HOMA_ACK = 0x18,
};
#define HOMA_TYPE_MIN	HOMA_DATA
#define HOMA_TYPE_MAX	HOMA_ACK
#define HOMA_TYPE_COUNT (HOMA_TYPE_MAX - HOMA_TYPE_MIN + 1)

/* Index 0..8 of a valid type, for per-type tables. */
static inline unsigned wire_type_index(enum homa_type t)
{
	return (unsigned)t - HOMA_TYPE_MIN;
}

/* ---- exact on-wire layouts (big-endian fields) ------------------------ */

/* The first 28 bytes of every packet, shaped like a TCP header. */
struct homa_wire_common {
	uint16_t sport;	    /* sender's port */
	uint16_t dport;	    /* receiver's port */
	uint32_t sequence;  /* DATA: offset, if seg_offset is NONE; else 0 */
	uint8_t ack[3];	    /* unused, 0 */
	uint8_t type;	    /* enum homa_type */
	uint8_t doff;	    /* header length in words << 4; ignored on rx */
	uint8_t flags;	    /* homad sends 0; ignored on rx */
	uint16_t window;    /* unused, 0 */
	uint16_t checksum;  /* homad sends 0; ignored on rx */
	uint16_t urgent;    /* homad sends 0; ignored on rx */
	uint64_t sender_id; /* RPC id as the packet's sender knows it */
} __attribute__((packed));

/* A piggy-backed or bulk acknowledgement of a finished client RPC. */
struct homa_wire_ack {
	uint64_t client_id;   /* the client's (even) id of the RPC */
	uint16_t server_port; /* server port of that RPC */
} __attribute__((packed));

struct homa_wire_data {
	struct homa_wire_common common;
	uint32_t message_length;  /* 1 .. HOMA_MAX_MESSAGE_LENGTH */
	uint32_t incoming;	  /* sender will send at least this far */
	struct homa_wire_ack ack; /* client_id 0: no ack */
	uint16_t cutoff_version;  /* newest CUTOFFS version from receiver */
	uint8_t retransmit;	  /* 1: answers a RESEND */
	uint8_t pad[3];		  /* 0 */
	uint32_t seg_offset;	  /* payload offset, or HOMA_SEG_OFFSET_NONE */
} __attribute__((packed));

struct homa_wire_grant {
	struct homa_wire_common common;
	uint32_t offset;  /* the sender may send every byte before this */
	uint8_t priority; /* level for the scheduled packets that follow */
} __attribute__((packed));

struct homa_wire_resend {
	struct homa_wire_common common;
	uint32_t offset;  /* first byte to send again */
	uint32_t length;  /* bytes, or HOMA_RESEND_ALL */
	uint8_t priority; /* level for the retransmitted packets */
} __attribute__((packed));

struct homa_wire_cutoffs {
	struct homa_wire_common common;
	uint32_t unsched_cutoffs[HOMA_NUM_PRIORITIES];
	uint16_t cutoff_version;
} __attribute__((packed));

struct homa_wire_ack_pkt {
	struct homa_wire_common common;
	uint16_t num_acks; /* 0 .. HOMA_MAX_ACKS */
	struct homa_wire_ack acks[HOMA_MAX_ACKS];
} __attribute__((packed));

/* Header sizes of spec/wire.md, pinned. */
#define HOMA_COMMON_LEN	 28
#define HOMA_DATA_LEN	 56
#define HOMA_GRANT_LEN	 33
#define HOMA_RESEND_LEN	 37
#define HOMA_CUTOFFS_LEN 62
#define HOMA_ACK_LEN	 80
_Static_assert(sizeof(struct homa_wire_common) == HOMA_COMMON_LEN, "common");
_Static_assert(sizeof(struct homa_wire_ack) == 10, "ack entry");
_Static_assert(sizeof(struct homa_wire_data) == HOMA_DATA_LEN, "DATA");
_Static_assert(sizeof(struct homa_wire_grant) == HOMA_GRANT_LEN, "GRANT");
_Static_assert(sizeof(struct homa_wire_resend) == HOMA_RESEND_LEN, "RESEND");
_Static_assert(sizeof(struct homa_wire_cutoffs) == HOMA_CUTOFFS_LEN, "CUTOFFS");
_Static_assert(sizeof(struct homa_wire_ack_pkt) == HOMA_ACK_LEN, "ACK");

/* ---- decoded, host-order form ----------------------------------------- */

struct homa_ack {
	uint64_t client_id;
	uint16_t server_port;
};

/*
 * A decoded packet.  For DATA, `payload` points into the buffer given to
 * wire_decode (borrowed: valid only as long as that buffer).  The common
 * fields homad ignores on receive (doff, flags, checksum, urgent) are kept
 * so that tests and debugging tools can show them.
 */
struct homa_pkt {
	enum homa_type type;
	uint16_t sport;
	uint16_t dport;
	uint32_t sequence;
	uint8_t doff;
	uint8_t flags;
	uint16_t checksum;
	uint16_t urgent;
	uint64_t sender_id;
	union {
		struct {
			uint32_t message_length;
			uint32_t incoming;
			struct homa_ack ack;
			uint16_t cutoff_version;
			uint8_t retransmit;
			/* The 3 pad bytes, as on the wire (the module sends 0
			 * and never reads them; homad carries its extension
			 * marker there, see homa_int.h).  Encoded as given. */
			uint8_t pad[3];
			uint32_t seg_offset; /* as on the wire */
			uint32_t offset;     /* effective offset */
			uint32_t payload_len;
			const uint8_t *payload;
		} data;
		struct {
			uint32_t offset;
			uint8_t priority;
		} grant;
		struct {
			uint32_t offset;
			uint32_t length;
			uint8_t priority;
		} resend;
		struct {
			uint32_t unsched_cutoffs[HOMA_NUM_PRIORITIES];
			uint16_t cutoff_version;
		} cutoffs;
		struct {
			uint16_t num_acks;
			struct homa_ack acks[HOMA_MAX_ACKS];
		} ack;
	} u;
};

/* Why wire_decode refused a packet; returned negated. */
enum wire_err {
	WIRE_OK = 0,
	WIRE_ERR_SHORT,		 /* shorter than the 28-byte common header */
	WIRE_ERR_BAD_TYPE,	 /* type byte is not one of the nine */
	WIRE_ERR_TRUNCATED,	 /* shorter than its type's header */
	WIRE_ERR_NUM_ACKS,	 /* ACK.num_acks > 5 */
	WIRE_ERR_MSG_LENGTH,	 /* DATA.message_length 0 or > 1,000,000 */
	WIRE_ERR_PAYLOAD_LENGTH, /* DATA payload longer than message_length */
	WIRE_ERR_OFFSET,	 /* DATA offset + payload past the end */
	WIRE_ERR_COUNT
};

/*
 * Decode and validate the Homa packet in buf[0..len) (starting at the Homa
 * header, after any IP/UDP header).  Returns 0 and fills *pkt, or
 * -WIRE_ERR_* (and *pkt is unspecified).  Never reads past buf + len.
 */
int wire_decode(const void *buf, size_t len, struct homa_pkt *pkt);

/* Stable short name of a wire_err ("short", "bad_type", ...), for metrics. */
const char *wire_err_name(int err);

/* Human-readable text of a wire_err, for logs. */
const char *wire_strerror(int err);

/* Name of a packet type ("DATA", "GRANT", ...), "UNKNOWN" otherwise. */
const char *wire_type_name(int type);

/*
 * The acks packet buf[0..len) carries (a DATA's one, an ACK's entries)
 * into acks, without decoding the rest: how many (0 for other types, a
 * cut header, or a DATA without one).
 */
unsigned wire_peek_acks(const void *buf, size_t len,
			struct homa_ack acks[HOMA_MAX_ACKS]);

/* Full header length of a type (DATA: 56, without payload); 0 if invalid. */
size_t wire_header_len(int type);

/*
 * Encode pkt homad-style into buf[0..cap): doff as spec/wire.md for the
 * type (DATA 0xE0, others 0x50), flags, window, checksum and urgent 0; for
 * DATA both common.sequence and seg_offset are set to u.data.offset (the
 * pkt's sequence and seg_offset fields are ignored), DATA.pad is written
 * from u.data.pad (zero in a cleared pkt), and payload_len bytes
 * are copied from u.data.payload (which may be NULL when payload_len is 0,
 * or when the caller writes the payload itself after the header).  Every
 * type is written at its full header length.  Returns the number of bytes
 * written, or 0 when cap is too small or the type is invalid.
 */
size_t wire_encode(const struct homa_pkt *pkt, void *buf, size_t cap);

#endif /* HOMAD_CORE_WIRE_H */
