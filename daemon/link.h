/*
 * link.h - homad's link layer: Homa packets on raw IP protocol 146 or UDP.
 *
 * A link is the set of sockets homad speaks Homa on, driven entirely
 * through one struct uring (io_uring):
 *   - `ip`:  socket(AF_INET[6], SOCK_RAW, 146); the kernel writes the IP
 *            header.  IPv4 reads start with the IP header (its TOS byte is
 *            the priority); IPv6 reads start at the Homa header, the
 *            priority comes in an IPV6_TCLASS cmsg.
 *   - `udp`: SOCK_DGRAM sockets on cfg->udp_port; the UDP payload is the
 *            Homa packet.  UDP_GRO is on, so one read may hold several
 *            datagrams, which are split by the GRO segment size.
 * The sockets are addresses x families x interfaces: one group per
 * configured address (or one unbound group per enabled family when none
 * is configured), each repeated per configured interface
 * (SO_BINDTODEVICE).
 *
 * Receive classes: a group is LINK_RX_CLASSES sockets that partition the
 * packets sent to it, so that control packets never wait behind bulk DATA
 * in one kernel queue: LINK_RX_CTL takes every type but DATA (and packets
 * too short to have a type), LINK_RX_HIGH the DATA packets sent at a
 * priority above protocol.max_sched_prio (unscheduled bytes, fixed at
 * creation), LINK_RX_BULK the other DATA packets.  Each packet is received
 * by exactly one of them.  On the ip link each raw socket gets a copy of
 * every packet, and a classic BPF socket filter on each keeps its class
 * (IPv4 reads start at the IP header, so the filter finds the Homa header
 * through the IHL; IPv6 reads start at the Homa header, the priority is
 * read from the network header).  On the udp link the three sockets
 * form one SO_REUSEPORT group whose classic BPF program picks the socket
 * of each datagram (a GRO batch goes whole to the socket of its first
 * datagram).  The data plane handles the completions of LINK_RX_CTL, then
 * LINK_RX_HIGH, then the rest of each batch (link_rx_rank).  Sending and
 * ICMP errors use the LINK_RX_CTL socket.
 *
 * Sentinels (ip link): since Linux 6.9 a raw socket whose receive queue is
 * full no longer counts as having taken the packet, and when no raw socket
 * took it the kernel answers the sender with ICMP protocol unreachable,
 * which makes a Linux peer fail every RPC to this host.  Each group
 * therefore has one more raw socket, bound the same way, whose locked
 * filter drops every packet at once: it always "takes" the packet, so a
 * full queue is a silent, counted drop.  (A full UDP socket queue never
 * draws an ICMP answer: the udp link needs none.)
 *
 * Receiving: one multishot recvmsg per socket into the uring's
 * provided-buffer ring, re-armed whenever the kernel ends it; every
 * datagram is handed to the link_rx_fn given at creation.  ICMP errors
 * about our packets are read from each socket's error queue (a multishot
 * POLLERR poll), counted, logged and handed to the link_icmp_fn.
 *
 * Sending: link_send/link_sendv copy the packet into one of cfg->tx_queue
 * slots and queue one sendmsg with a per-packet priority cmsg; the
 * caller's next submit carries every queued send at once.  On the udp
 * link a slot holds 64 KiB, and a run of DATA packets of one message is
 * appended to the last slot while its sendmsg is still unsubmitted, to
 * leave as one UDP_SEGMENT (GSO) send.  A send posts no completion when
 * it succeeds (uring.h): its slot is freed by link_confirm once the
 * send's SQE was consumed with no failure posted, so that submitting sends
 * does not end the wait that submits them; a send that finds the socket
 * buffer full is queued again as one that waits for room and completes.
 * Other slots are freed when their send completes.  A send that fails on
 * an error an ICMP message left pending on the socket (ECONNREFUSED...)
 * is queued again (a bounded number of times).  Port unreachable answers
 * go out on raw ICMP/ICMPv6 sockets opened at creation.
 *
 * Probes: the same raw ICMP/ICMPv6 sockets (one per family the link has
 * sockets of; none on the udp link without CAP_NET_RAW) send ICMP echo
 * requests to a peer's host (link_probe), so that the engine can tell a
 * host whose kernel answers (up; its homad alive but starved of CPU, or
 * stopped) from one that answers nothing.  Their filters (ICMP_FILTER,
 * ICMP6_FILTER) let in echo replies only, into a 64 KiB receive buffer;
 * each has a multishot recvmsg into the provided-buffer ring like the Homa
 * sockets (re-armed the same way, ranked with LINK_RX_CTL by
 * link_rx_rank, cancelled by link_stop).  A raw socket reads every echo
 * reply that reaches the host, so a reply is ours only when its
 * identifier is the link's random probe id and its payload ours: those
 * are handed to the link_echo_fn, the others counted and dropped.
 *
 * The link's counters are the link_* fields (and icmp_errors) of the
 * struct homad_stats given at creation: link_rx_kernel_drops sums the
 * kernel's drop counts of the sockets (SO_RXQ_OVFL on each read, and
 * SK_MEMINFO_DROPS when sampled), link_rx_backlog_bytes and
 * link_rx_backlog_peak_bytes are gauges of the bytes waiting in the
 * sockets' receive queues (SK_MEMINFO_RMEM_ALLOC, at each link_sample),
 * link_rx_ctl_backlog_bytes that of the LINK_RX_CTL sockets alone;
 * link_tx_packets/bytes and
 * link_tx_errors count Homa packets (a GSO send counts each of its
 * segments), link_tx_full counts sends that found the socket buffer full
 * (queued again to wait for room), link_tx_queue_drops also counts port
 * unreachable answers suppressed by the rate limit; link_probes_sent,
 * link_probe_replies, link_probe_foreign and link_probe_errors count the
 * probes (link_probe).
 * A link is used by one thread.
 */
#ifndef HOMAD_LINK_H
#define HOMAD_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "core/engine.h"
#include "stats.h"
#include "uring.h"

/* Most socket groups a link opens (addresses x families x interfaces). */
#define LINK_MAX_SOCKETS 64

/* Receive classes of the sockets of a group (see above). */
enum link_rx_class {
	LINK_RX_CTL = 0,  /* every type but DATA; too short to have one */
	LINK_RX_HIGH = 1, /* DATA above protocol.max_sched_prio */
	LINK_RX_BULK = 2, /* the other DATA */
	LINK_RX_CLASSES = 3
};

/*
 * Layout of every rx buffer, as multishot recvmsg fills it: a struct
 * io_uring_recvmsg_out, the source address (LINK_RX_NAMELEN bytes), the
 * cmsgs (LINK_RX_CONTROLLEN bytes), then the datagram.
 */
#define LINK_RX_NAMELEN	   32
#define LINK_RX_CONTROLLEN 128
#define LINK_RX_HEADROOM                                         \
	(sizeof(struct io_uring_recvmsg_out) + LINK_RX_NAMELEN + \
	 LINK_RX_CONTROLLEN)

/*
 * A received Homa packet: pkt[0..len) starts at the Homa header; src is
 * the sender (IPv4 v4-mapped); prio the priority it arrived with (0..7);
 * now the time the caller passed to link_complete.  pkt is only borrowed
 * for the call.
 */
typedef void (*link_rx_fn)(void *arg, const void *pkt, size_t len,
			   const struct homa_addr *src, uint8_t prio,
			   uint64_t now);

struct link;

/*
 * Size of each provided rx buffer for a link of this kind and MTU:
 * LINK_RX_HEADROOM plus room for the largest datagram one read returns --
 * 65,536 bytes for udp (a GRO read holds up to 64 KiB), max(mtu, 9000) for
 * ip (an IPv4 read includes the IP header, which the MTU counts) -- rounded
 * up to 64 bytes.  A datagram larger than that is counted as
 * link_rx_truncated and dropped.
 */
uint32_t link_rx_buf_size(enum homa_link_kind kind, uint32_t mtu);

/*
 * Open and configure the sockets cfg asks for, work out the MTU (cfg->mtu,
 * or the largest of cfg's interfaces, or 1500), set up u's provided-buffer
 * ring (cfg->rx_buffers buffers of link_rx_buf_size) and cfg->tx_queue tx
 * slots.  Counters go to *m, received packets to rx(rx_arg, ...).  The ip
 * link needs CAP_NET_RAW.  Returns NULL with a one-line reason in err
 * (e.g. "cannot open raw IP protocol 146 socket: Operation not permitted
 * (needs CAP_NET_RAW)").  Nothing is armed yet: see link_start.
 */
struct link *link_create(struct uring *u, const struct homa_config *cfg,
			 struct homad_stats *m, link_rx_fn rx, void *rx_arg,
			 char *err, size_t errlen);

/*
 * Arm a multishot recvmsg and a multishot POLLERR poll on every Homa
 * socket, a multishot recvmsg on each raw ICMP socket,
 * submit them, and check that the kernel accepted them (a kernel without
 * multishot recvmsg refuses the first arm at once).  Returns 0 or -errno
 * with a reason in err.  Completions that are already there are left in
 * the queue for the caller's loop.  Call it on the thread that reaps the
 * ring: the kernel runs each request's completion work on the task that
 * submitted it, so receives armed elsewhere would wake that other thread
 * for every packet.
 */
int link_start(struct link *l, char *err, size_t errlen);

/*
 * Queue pkt[0..len) for sending to dst (IPv4 v4-mapped) at priority prio
 * (0..7): copied into a free tx slot, so pkt is only borrowed.  Sent by
 * the caller's next submit.  Returns 0, -ENOBUFS when every slot is in
 * use (counted in link_tx_queue_drops), -EMSGSIZE when len exceeds the
 * MTU, -EAFNOSUPPORT when the link has no socket of dst's family, -EINVAL
 * for prio > 7, -EBUSY when no submission entry could be had (counted in
 * link_tx_errors).
 */
int link_send(struct link *l, const struct homa_addr *dst, uint8_t prio,
	      const void *pkt, size_t len);

/*
 * Queue the packet hdr[0..hdr_len) + payload[0..payload_len) (payload may
 * be NULL when payload_len is 0) for dst at priority prio: the engine's
 * output (struct homa_out) goes here without an intermediate copy; the
 * bytes are copied once, into the tx slot.  gso_key != 0 marks a DATA
 * packet of one message (e.g. the RPC id): on the udp link, consecutive
 * packets with the same key, destination and priority, each but the last
 * of the same size, may leave in one UDP_SEGMENT (GSO) send, up to the
 * kernel's 64 KiB / 64-segment limits.  Same returns as link_send.
 */
int link_sendv(struct link *l, const struct homa_addr *dst, uint8_t prio,
	       const void *hdr, size_t hdr_len, const void *payload,
	       size_t payload_len, uint64_t gso_key);

/*
 * Answer a received packet (pkt[0..len), from the Homa header on, from
 * src) with ICMP destination unreachable / port unreachable (ICMPv6:
 * type 1 code 4), quoting the packet as the kernel would have received it
 * (IP header, UDP header on the udp link, then the Homa bytes), so that
 * the sender's IP_RECVERR queue names the Homa port.  Rate-limited
 * (counted when suppressed).  0 or -errno.
 */
int link_port_unreachable(struct link *l, const struct homa_addr *src,
			  const void *pkt, size_t len);

/*
 * An ICMP error about a packet we sent to peer, read from an error queue:
 * family AF_INET/AF_INET6, the ICMP type and code, and the Homa dport and
 * sender_id of the quoted packet (0 when the quote is too short).
 */
typedef void (*link_icmp_fn)(void *arg, const struct homa_addr *peer,
			     int family, uint8_t type, uint8_t code,
			     uint16_t homa_dport, uint64_t sender_id);

/* Set the ICMP error callback (NULL: only count and log). */
void link_set_icmp_fn(struct link *l, link_icmp_fn fn, void *arg);

/*
 * Queue an ICMP echo request (ICMPv6 for an IPv6 peer, ICMP for a
 * v4-mapped one) to the host peer, identifier link_probe_id(l), sequence
 * seq, sent by the caller's next submit.  Not rate-limited (the caller
 * bounds its probes), but it leaves 1/8 of the tx slots to Homa packets.
 * Returns 0; -EAFNOSUPPORT when the link has no ICMP socket of peer's
 * family; -EINVAL for a multicast, broadcast-class or unspecified peer;
 * -ENOBUFS when fewer than 1/8 of the tx slots (rounded up) would stay
 * free; -EBUSY when no submission entry could be had (those two counted
 * in link_probe_errors, as is a send that fails later).
 */
int link_probe(struct link *l, const struct homa_addr *peer, uint16_t seq);

/* The identifier of the link's echo requests (random, fixed at creation). */
uint16_t link_probe_id(const struct link *l);

/*
 * A reply to one of our echo requests: the address that answered (IPv4
 * v4-mapped, as link_rx_fn gives sources) and the request's sequence.
 */
typedef void (*link_echo_fn)(void *arg, const struct homa_addr *peer,
			     uint16_t seq);

/* Set the echo reply callback (NULL: only count). */
void link_set_echo_fn(struct link *l, link_echo_fn fn, void *arg);

/*
 * Handle one completion if it is the link's (tags URING_TAG_RECV, _SEND,
 * _ERRPOLL): deliver received packets and echo replies, return rx
 * buffers, free tx slots,
 * read error queues, re-arm what the kernel ended (unless stopping).  now
 * is the caller's CLOCK_MONOTONIC time in ns.  Returns false, doing
 * nothing, for a completion of another tag.
 */
bool link_complete(struct link *l, const struct io_uring_cqe *cqe,
		   uint64_t now);

/*
 * The order in which the data plane should handle a completion within a
 * batch: its receive class for a receive of a link socket
 * (LINK_RX_CTL .. LINK_RX_BULK), LINK_RX_BULK for anything else.
 */
int link_rx_rank(const struct link *l, const struct io_uring_cqe *cqe);

/*
 * Handle every completion ready on l's ring by calling fn(arg, cqe), in
 * rank order -- receives of the LINK_RX_CTL sockets, then of LINK_RX_HIGH,
 * then everything else, each in arrival order -- then release them all at
 * once.  Completions that arrive meanwhile wait for the next call.
 * Returns how many were handled.
 */
unsigned link_reap(struct link *l,
		   void (*fn)(void *arg, const struct io_uring_cqe *cqe),
		   void *arg);

/*
 * Sample the sockets' receive queues (SO_MEMINFO: bytes waiting, the
 * kernel's drop count) into the link_rx_backlog and drop metrics.  With
 * force false it does nothing when the last sample is less than 10 ms old
 * (call it once per loop iteration); true: sample now (a snapshot).
 */
void link_sample(struct link *l, uint64_t now, bool force);

/*
 * Re-arm the receives and error-queue polls whose re-arm found the
 * submission queue full (it cannot be submitted while the completion queue
 * overflows): call once per loop turn, after the completions were released.
 * Cheap when there is nothing to do.
 */
void link_rearm(struct link *l);

/*
 * Stop: re-arm nothing from now on, and queue a cancellation of every
 * request in flight on the ring (IORING_ASYNC_CANCEL_ANY: the caller's
 * other requests too).  The caller then processes completions until
 * link_idle.
 */
void link_stop(struct link *l);

/* True when none of the link's requests is in flight. */
bool link_idle(const struct link *l);

/* Sends queued or in flight. */
unsigned link_tx_in_flight(const struct link *l);

/*
 * Free the slots of the sends that post no completion on success (all
 * but retries, see link.c) whose SQEs lie before sq_head, and count them
 * as sent: sq_head is uring_sq_consumed's, read before the completions
 * just handled (uring.h has why that is safe).  Call after handling them.
 * Returns how many sends it freed.
 */
unsigned link_confirm(struct link *l, unsigned sq_head);

/* Sends that post no completion on success, not yet confirmed. */
unsigned link_tx_unconfirmed(const struct link *l);

/*
 * Direct receive (proto/homa_shm.h): from now on the IPv4 sockets of the
 * ip link drop the responses that are direct for ports[0..n) and the
 * requests that are direct for req[0..m) (their clients' receive and
 * request sockets read those); n + m 0 drops none.  Each socket's filter
 * is replaced as a whole.  0, -EOPNOTSUPP (udp link, n + m > 0), -E2BIG
 * (n or m over LINKPKT_DRX_MAX_PORTS), or the first socket's -errno (the
 * others are still set).
 */
int link_set_direct_rx(struct link *l, const uint16_t *ports, unsigned n,
		       const uint16_t *req, unsigned m);

/* The MTU in effect. */
uint32_t link_mtu(const struct link *l);

/* Number of socket groups; family and a description ("ip 10.0.0.1",
 * "udp [::]:4146 dev veth0") of group i < link_n_sockets. */
unsigned link_n_sockets(const struct link *l);
int link_socket_family(const struct link *l, unsigned i);
const char *link_socket_desc(const struct link *l, unsigned i);

/*
 * Close the sockets and free the tx slots.  Call only once the ring uses
 * none of them any more (after link_idle, or after the ring was exited).
 * Takes NULL.
 */
void link_destroy(struct link *l);

#endif /* HOMAD_LINK_H */
