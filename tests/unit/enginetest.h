/*
 * enginetest.h - a harness for the engine's unit tests: one engine whose
 * outputs (packets, deliveries, releases, port-unreachables, send space)
 * are captured and decoded, with a server socket on port 100 and a client
 * socket, both with receive pools, and helpers to feed it packets from a
 * scripted peer.
 */
#ifndef HOMAD_TESTS_ENGINETEST_H
#define HOMAD_TESTS_ENGINETEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/engine.h"
#include "core/homa_int.h"

#define ET_SERVER_PORT 100
#define ET_PEER_PORT   4000
#define ET_POOL_BYTES  (128u * HOMA_BPAGE_SIZE)
#define ET_MAX_OUT     8192
#define ET_MS	       1000000ull

/* A packet the engine sent, decoded (pkt.u.data.payload points in bytes). */
struct et_out {
	struct homa_addr dst;
	uint8_t prio;
	size_t len;
	uint64_t at; /* t->now when the engine sent it */
	struct homa_pkt pkt;
	uint8_t bytes[HOMA_DATA_LEN + 9000];
};

struct et {
	struct homa_params p;
	struct homa_engine *e;
	struct homa_sock *srv, *cli;
	uint8_t *pool_srv, *pool_cli;
	uint64_t now;
	struct et_out *out;
	size_t nout;
	struct homa_delivery deliv[256];
	size_t ndeliv;
	void *released[256];
	size_t nreleased;
	unsigned unreach;
	unsigned send_space;
	/* Probes (ops.probe): how many, and the last one's host and sequence.
	 */
	unsigned probes;
	struct homa_addr probe_dst;
	uint16_t probe_seq;
};

extern const struct homa_addr et_peer;	/* 10.0.0.2 */
extern const struct homa_addr et_peer2; /* 10.0.0.3 */
extern const struct homa_addr et_peer6; /* fd00::2 */

/* Set up t (p NULL: the defaults). */
void et_init(struct et *t, const struct homa_params *p);
void et_free(struct et *t);
/* Forget captured packets and deliveries. */
void et_clear(struct et *t);
/* Number of captured packets of type; the i-th of them (NULL if none). */
size_t et_count(const struct et *t, enum homa_type type);
const struct et_out *et_nth(const struct et *t, enum homa_type type, size_t i);
/* Encode pkt (DATA: payload_len bytes of payload, NULL = pattern) and feed
 * it to the engine from src. */
void et_rx(struct et *t, struct homa_pkt *pkt, const struct homa_addr *src);
/* A DATA packet of a request (sender_id even) or response from et_peer. */
void et_data(struct et *t, uint16_t dport, uint64_t sender_id, uint32_t msg_len,
	     uint32_t incoming, uint32_t offset, uint32_t len);
/* The same with DATA.pad (homad's marker and flags, homa_int.h). */
void et_data_pad(struct et *t, uint16_t dport, uint64_t sender_id,
		 uint32_t msg_len, uint32_t incoming, uint32_t offset,
		 uint32_t len, uint8_t pad0, uint8_t pad1, uint8_t pad2);
/* The same from src, no pad. */
void et_data_from(struct et *t, const struct homa_addr *src, uint16_t dport,
		  uint64_t sender_id, uint32_t msg_len, uint32_t incoming,
		  uint32_t offset, uint32_t len);
/* Fill pkt as et_data sends it. */
void et_data_pkt(struct homa_pkt *pkt, uint16_t dport, uint64_t sender_id,
		 uint32_t msg_len, uint32_t incoming, uint32_t offset,
		 uint32_t len);
/* A control packet of type from et_peer (ports: sport ET_PEER_PORT). */
void et_ctrl(struct et *t, enum homa_type type, uint16_t dport,
	     uint64_t sender_id);
/* Send a request of len bytes from the client socket to et_peer. */
uint64_t et_request(struct et *t, uint32_t len);
/* Advance n ticks (1 ms each) with engine_tick. */
void et_ticks(struct et *t, unsigned n);
/* Let the pacer send everything it holds (time advances as needed). */
void et_pace(struct et *t);
/* The pattern byte i of the helper messages. */
uint8_t et_byte(uint32_t i);

#endif /* HOMAD_TESTS_ENGINETEST_H */
