/*
 * homa_shm.h - constants shared by homad and the client libraries: the
 * client protocol's framing and the shared-memory regions' rules (see
 * proto/homa_client.proto for the messages).
 */
#ifndef HOMAD_PROTO_HOMA_SHM_H
#define HOMAD_PROTO_HOMA_SHM_H

#include <stdint.h>

/* Version in Open.version; homad refuses others (EPROTO). */
#define HOMA_CLIENT_PROTO_VERSION 1

/* Largest datagram either side sends or accepts on the connection. */
#define HOMA_CLIENT_MAX_DATAGRAM 65536

/* Receive pool: bpages of 64 KiB; a message uses at most 16. */
#define HOMA_SHM_BPAGE_SIZE 65536u
#define HOMA_SHM_MAX_BPAGES 16

/* Limits homad enforces on the regions (bytes). */
#define HOMA_SHM_MIN_RX_POOL (2u * HOMA_SHM_BPAGE_SIZE)
#define HOMA_SHM_MAX_RX_POOL (4ull << 30)
#define HOMA_SHM_MAX_TX_AREA (4ull << 30)

/* Seals homad requires on both memfds. */
#define HOMA_SHM_REQUIRED_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

/*
 * ---- Direct send (homa.conf clients.direct_send_groups) -------------------
 *
 * A client granted direct send (OpenReply.direct_send) gets, with its
 * OpenReply (SCM_RIGHTS, in this order):
 *   - a send-only socket: on the ip link IPv4 raw IPPROTO_RAW (the library
 *     writes the IP header; the kernel gives such a socket no packet), on
 *     the udp link a UDP socket with a locked drop-all filter (the
 *     library sends the Homa packet to the peer's homad at udp_port,
 *     with the priority in an IP_TOS cmsg);
 *   - its ring, a sealed memfd of sizeof(struct homa_direct_ring) bytes,
 *     read-write: one producer (the library, under its socket's lock), one
 *     consumer (homad);
 *   - homad's peer table, a memfd of sizeof(struct homa_direct_table)
 *     bytes, passed read-only (homad alone writes it);
 *   - for an AF_INET6 socket on a host with IPv6 (OpenReply.direct_v6),
 *     the send-only socket for IPv6 peers: on the ip link a raw IPv6
 *     socket of protocol 146 (the kernel writes the IPv6 header; the
 *     priority goes in an IPV6_TCLASS cmsg), on the udp link an IPv6-only
 *     UDP socket, both with a locked drop-all filter.  IPv4 peers of such
 *     a socket (v4-mapped) use the first one.
 * The library writes a record, then publishes it (head, release), then
 * sends the message's one DATA packet itself; the message stays in the tx
 * area (tx_offset) until homad releases it (TxReleased), as a SendRequest's
 * or SendResponse's would.  homad drains the ring whenever it wakes, on
 * every tick, and before it takes a packet about a client RPC it does not
 * know; it checks each record as it checks the command, and adopts the
 * message as sent at that time (its retransmission and timeouts are
 * homad's).  A bad record ends the connection (chan_direct_refused).
 */
/*
 * ---- Direct receive (Open.direct_receive, with direct send) ------------
 *
 * On the ip link homad may also give a direct-send client of an unbound
 * socket (its default port) a receive socket: a raw IPv4 socket of
 * protocol 146 whose locked filter lets through only what homad's own
 * sockets' filters then drop: a DATA packet to the socket's port that
 * holds a whole response (offset 0, message_length = its payload, no ack)
 * to one of the socket's keyed client RPCs (below).  The library reads
 * it, checks it against its own outstanding RPCs (id, peer, port), puts
 * the message in memory of its own (offsets past the pool's end: the
 * pool's bpages stay homad's) and tells homad with a HOMA_DIRECT_RECEIVED
 * record, which ends the RPC as homad's delivery of the response would
 * (its request's tx bytes are the library's again once the record is
 * written: homad drains the ring before it acts on any packet).  What the
 * library cannot place (no room, the ring full) goes to homad in a
 * DirectPacket command, to be handled as if homad had read it.  A
 * successful Bind ends direct receive on both sides (the filter names the
 * default port).
 *
 * Keyed ids: such a session's id blocks have bit 63 set and bits 62..32
 * equal to its key, a number homad never gives twice in its lifetime
 * (random start).  The receive socket's filter takes only ids of its key:
 * a descriptor kept after its session ended (dup, fork, SCM_RIGHTS) sees
 * no packet of a later session on the same port.  homad's other ids are
 * below 2^62.  A session that used up its keyed ids (2^31 RPCs) goes on
 * with unkeyed ones, received through homad.
 */
/*
 * ---- Direct receive of requests (Bind.direct_requests) ------------------
 *
 * A session with direct receive that binds a port (and so serves
 * requests) may get, with the Bind's Reply, a request socket: a raw IPv4
 * socket of protocol 146 whose locked filter lets through exactly the
 * DATA packets to that port that hold a whole request (even sender_id,
 * offset 0, message_length = its payload; any ack), which homad's own
 * sockets then drop.  The library reads them, drops copies of requests it
 * has taken lately (its own bounded memory of them; homad refuses any it
 * still knows), puts the message in its own area and tells homad with a
 * HOMA_DIRECT_ARRIVED record before it hands the request to the
 * application: homad then holds the server RPC as if it had delivered the
 * request (the response is sent as any other, and homad drains the ring
 * before it takes a command or a packet).  What the library cannot place
 * goes to homad in a DirectPacket command.
 *
 * Revocation: a server's port and its requests' ids are not its own (the
 * ids are the clients'), so a descriptor kept after the port was released
 * (dup, fork, SCM_RIGHTS) would read a later server's requests.  homad
 * keeps a copy of the socket and, when the port is released (Bind
 * elsewhere, Shutdown, the session's end), binds it to a device index no
 * interface has (SO_BINDTOIFINDEX, INT_MAX): it receives nothing more,
 * and only a process with CAP_NET_RAW could bind it back.  homad gives
 * request sockets only when it can do that (it checks at start).  If
 * homad itself exits, nothing revokes them: the library closes its own
 * once the connection is lost, but a client that keeps one reads the
 * requests to that port until it closes it, also those of a server that
 * binds the port under a later homad (a trust cost of direct send).
 *
 * A request received directly: id = the server RPC's (odd) id, the DATA's
 * sender_id ^ 1; port = the client's port (the DATA's source port); addr =
 * the client; length; cookie = the DATA's cutoff_version | the port of
 * its ack << 16; tx_offset = its bytes pad[0] | pad[1] << 8 | pad[2] << 16;
 * ack_id = its ack's client id (0: none); flags 0.
 */
#define HOMA_DIRECT_ARRIVED 4

#define HOMA_DIRECT_KEY_BIT  (1ull << 63)
#define HOMA_DIRECT_KEY_MASK 0x7fffffffu /* key bits (62..32 of an id) */

#define HOMA_DIRECT_RING_ENTRIES 256u /* a power of two */
#define HOMA_DIRECT_REQUEST	 1    /* homa_direct_rec.kind */
#define HOMA_DIRECT_RESPONSE	 2
/*
 * A response received directly: id = the client RPC's (even) id, port =
 * its server port (the DATA's source port), addr = the server, length =
 * the message's, cookie = the DATA's cutoff_version, tx_offset = its
 * bytes pad[0] | pad[1] << 8 | pad[2] << 16 (homad's marker and flags);
 * flags and ack_id 0.
 */
#define HOMA_DIRECT_RECEIVED  3
#define HOMA_DIRECT_F_PRIVATE 0x01 /* homa_direct_rec.flags: request */
#define HOMA_DIRECT_F_INCAST  0x02 /* the DATA's pad[2] had INCAST */

/* One directly sent message (64 bytes). */
struct homa_direct_rec {
	uint64_t seq;	    /* its ring position (head before the write) */
	uint64_t id;	    /* request: from the id blocks; response: odd */
	uint64_t cookie;    /* request */
	uint64_t tx_offset; /* in the tx area */
	uint32_t length;    /* 1 .. one packet's payload */
	uint16_t port;	    /* destination (request) or client (response) */
	uint8_t kind;	    /* HOMA_DIRECT_REQUEST, _RESPONSE, _RECEIVED... */
	uint8_t flags;	    /* HOMA_DIRECT_F_* */
	uint8_t addr[16];   /* peer: IPv6, IPv4 v4-mapped */
	/* request: 0, or a finished RPC of this socket to the same addr and
	 * port whose ack the DATA packet carried (homad drops it from the
	 * acks it queues for the peer); response: 0 */
	uint64_t ack_id;
};

struct homa_direct_ring {
	_Alignas(64) uint64_t head; /* records written (the library) */
	_Alignas(64) uint64_t tail; /* records taken (homad) */
	_Alignas(64) struct homa_direct_rec rec[HOMA_DIRECT_RING_ENTRIES];
};

/*
 * What homad knows of a peer that its DATA carries: the peer's cutoffs and
 * their version, and whether it is a homad (the 'H','D' marker's flags go
 * only to those).  Written under a seqlock (seq odd while homad writes).
 */
struct homa_direct_peer {
	uint32_t seq;
	uint8_t used;
	uint8_t homad;
	uint16_t cutoff_version;
	uint8_t addr[16];
	uint32_t cutoffs[8];
	uint8_t pad[8];
};

#define HOMA_DIRECT_MAGIC    0x484f4d44u /* "HOMD" */
#define HOMA_DIRECT_LINK_IP  1		 /* homa_direct_table.link */
#define HOMA_DIRECT_LINK_UDP 2
#define HOMA_DIRECT_PEERS    1024u /* table entries, a power of two */
#define HOMA_DIRECT_PROBES   8u	   /* entries a peer may sit in */

/*
 * homad's table: a peer's entry is among the HOMA_DIRECT_PROBES after
 * (hash & (HOMA_DIRECT_PEERS - 1)) (homa_direct_hash); a peer not found
 * gets the rule for peers without CUTOFFS: level 6 (at most
 * num_priorities - 1), cutoff version 0, no marker flags.
 */
struct homa_direct_table {
	uint32_t magic; /* HOMA_DIRECT_MAGIC */
	uint32_t num_priorities;
	uint32_t max_v4;   /* longest message sent directly, IPv4 peers */
	uint32_t max_v6;   /* IPv6 peers */
	uint32_t incast;   /* requests carry HOMAD_FLAG_INCAST to homads */
	uint32_t link;	   /* HOMA_DIRECT_LINK_* */
	uint32_t udp_port; /* the udp link's port (peers' homads) */
	/*
	 * Doorbell: homad sets it (then a full fence, then looks at the rings
	 * once more) before it sleeps with no wake-up due within two ticks,
	 * and clears it when it wakes.  A library that finds it set after it
	 * published a record (release, then a full fence) sends any datagram
	 * on its connection (an empty Recycle) so that homad wakes and takes
	 * the record: else a lost packet would wait for homad's next wake-up
	 * to be adopted, and so to be retransmitted.
	 */
	uint32_t asleep;
	uint32_t pad[8];
	struct homa_direct_peer peers[HOMA_DIRECT_PEERS];
};

/* The first slot of addr's entry (FNV-1a over the 16 bytes). */
static inline uint32_t homa_direct_hash(const uint8_t addr[16])
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	return h & (HOMA_DIRECT_PEERS - 1);
}

#endif /* HOMAD_PROTO_HOMA_SHM_H */
