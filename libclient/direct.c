/*
 * direct.c - direct send (proto/homa_shm.h): a short message the library
 * transmits itself, through the send-only socket homad handed it, with a
 * ring record that tells homad (which adopts the message as sent).
 *
 * The DATA packet is the one homad's engine would send: the header is
 * encoded by the engine's own codec (daemon/core/wire.c, compiled in),
 * with the peer's cutoffs, cutoff version and homad marker flags read
 * from homad's peer table (read-only shared memory, a seqlock per entry).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "client_int.h"
#include "homa_shm.h"
#include "wire.h"

/* homad's marker in DATA.pad (daemon/core/homa_int.h). */
#define DIRECT_PAD_MAGIC0  0x48
#define DIRECT_PAD_MAGIC1  0x44
#define DIRECT_FLAG_INCAST 0x01
/* Seqlock retries before the entry counts as unknown. */
#define DIRECT_READ_TRIES 16

int direct_setup(struct hc_sock *s, const int fds[4])
{
	void *ring, *tab;

	ring = mmap(NULL, sizeof(struct homa_direct_ring),
		    PROT_READ | PROT_WRITE, MAP_SHARED, fds[1], 0);
	if (ring == MAP_FAILED)
		return -errno;
	tab = mmap(NULL, sizeof(struct homa_direct_table), PROT_READ,
		   MAP_SHARED, fds[2], 0);
	if (tab == MAP_FAILED) {
		int e = errno;

		munmap(ring, sizeof(struct homa_direct_ring));
		return -e;
	}
	if (__atomic_load_n(&((struct homa_direct_table *)tab)->magic,
			    __ATOMIC_ACQUIRE) != HOMA_DIRECT_MAGIC) {
		munmap(ring, sizeof(struct homa_direct_ring));
		munmap(tab, sizeof(struct homa_direct_table));
		return -EPROTO;
	}
	s->dring = ring;
	s->dtab = tab;
	s->dfd = fds[0];
	s->dfd6 = fds[3];
	s->dhead = __atomic_load_n(&s->dring->head, __ATOMIC_RELAXED);
	return 0;
}

void direct_teardown(struct hc_sock *s)
{
	if (s->dring)
		munmap(s->dring, sizeof(struct homa_direct_ring));
	if (s->dtab)
		munmap((void *)s->dtab, sizeof(struct homa_direct_table));
	if (s->dfd >= 0)
		close(s->dfd);
	if (s->dfd6 >= 0)
		close(s->dfd6);
	s->dring = NULL;
	s->dtab = NULL;
	s->dfd = -1;
	s->dfd6 = -1;
}

bool direct_fits(const struct hc_sock *s, size_t len, uint8_t addr_len,
		 const uint8_t *addr)
{
	if (s->dring == NULL || len == 0 || s->port == 0)
		return false;
	if (!addr_is_ipv4(addr, addr_len))
		return s->dfd6 >= 0 && len <= __atomic_load_n(&s->dtab->max_v6,
							      __ATOMIC_RELAXED);
	return len <= __atomic_load_n(&s->dtab->max_v4, __ATOMIC_RELAXED);
}

int direct_peer(const struct homa_direct_table *t, const uint8_t addr[16],
		struct direct_peer_info *out)
{
	uint32_t first = homa_direct_hash(addr);

	/* The rule for peers without CUTOFFS: 7: 0, 6: everything. */
	memset(out, 0, sizeof(*out));
	out->cutoffs[7] = 0;
	out->cutoffs[6] = 0x7FFFFFFF;
	for (unsigned i = 0; i < HOMA_DIRECT_PROBES; i++) {
		const struct homa_direct_peer *q =
			&t->peers[(first + i) & (HOMA_DIRECT_PEERS - 1)];

		for (int tries = 0; tries < DIRECT_READ_TRIES; tries++) {
			uint32_t s1 =
				__atomic_load_n(&q->seq, __ATOMIC_ACQUIRE);
			struct homa_direct_peer copy;

			if (s1 & 1)
				continue;
			memcpy(&copy, q, sizeof(copy));
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (__atomic_load_n(&q->seq, __ATOMIC_RELAXED) != s1)
				continue;
			if (!copy.used ||
			    memcmp(copy.addr, addr, sizeof(copy.addr)) != 0)
				break;
			memcpy(out->cutoffs, copy.cutoffs,
			       sizeof(out->cutoffs));
			out->cutoff_version = copy.cutoff_version;
			out->homad = copy.homad != 0;
			return 0;
		}
	}
	return -ENOENT;
}

uint8_t direct_prio(const struct direct_peer_info *p, uint32_t length,
		    uint32_t num_priorities)
{
	if (num_priorities == 0 || num_priorities > HOMA_NUM_PRIORITIES)
		num_priorities = HOMA_NUM_PRIORITIES;
	for (int i = HOMA_NUM_PRIORITIES - 1; i >= 0; i--)
		if (p->cutoffs[i] >= length)
			return (uint8_t)((unsigned)i >= num_priorities
						 ? num_priorities - 1
						 : (unsigned)i);
	return 0;
}

size_t direct_build(const struct direct_pkt *d, uint8_t *hdr, size_t cap)
{
	struct homa_pkt pkt;
	size_t n;

	if (cap < 20 + HOMA_DATA_LEN)
		return 0;
	/* IPv4: the kernel fills tot_len, id, checksum and saddr (0). */
	memset(hdr, 0, 20);
	hdr[0] = 0x45;
	hdr[1] = (uint8_t)(d->prio << 5);
	hdr[6] = 0x40; /* DF, as the kernel sets on homad's raw socket */
	hdr[8] = 64;   /* TTL */
	hdr[9] = HOMA_IPPROTO;
	memcpy(hdr + 16, d->addr + 12, 4);
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = HOMA_DATA;
	pkt.sport = d->sport;
	pkt.dport = d->dport;
	pkt.sender_id = d->id;
	pkt.u.data.message_length = d->length;
	pkt.u.data.incoming = d->length;
	pkt.u.data.cutoff_version = d->cutoff_version;
	pkt.u.data.pad[0] = DIRECT_PAD_MAGIC0;
	pkt.u.data.pad[1] = DIRECT_PAD_MAGIC1;
	pkt.u.data.pad[2] = d->flags;
	pkt.u.data.offset = 0;
	pkt.u.data.ack.client_id = d->ack_id;
	pkt.u.data.ack.server_port = d->ack_id != 0 ? d->dport : 0;
	n = wire_encode(&pkt, hdr + 20, cap - 20);
	return n == 0 ? 0 : 20 + n;
}

int direct_record(struct hc_sock *s, const struct homa_direct_rec *rec)
{
	struct homa_direct_ring *r = s->dring;
	uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	struct homa_direct_rec *slot;

	if (s->dhead - tail >= HOMA_DIRECT_RING_ENTRIES)
		return -ENOBUFS;
	slot = &r->rec[s->dhead & (HOMA_DIRECT_RING_ENTRIES - 1)];
	memcpy(slot, rec, sizeof(*slot));
	slot->seq = s->dhead;
	s->dhead++;
	__atomic_store_n(&r->head, s->dhead, __ATOMIC_RELEASE);
	return 0;
}

void direct_note_done(struct hc_sock *s, uint64_t id, const uint8_t *addr,
		      uint8_t addr_len, uint16_t port)
{
	addr_to16(s->dack_addr, addr, addr_len);
	s->dack_port = port;
	s->dack_id = id;
}

int direct_prepare(struct hc_sock *s, struct direct_pkt *d,
		   struct homa_direct_rec *rec)
{
	struct direct_peer_info pi;
	const struct homa_direct_table *t = s->dtab;

	(void)direct_peer(t, d->addr, &pi);
	d->prio = direct_prio(
		&pi, d->length,
		__atomic_load_n(&t->num_priorities, __ATOMIC_RELAXED));
	d->cutoff_version = pi.cutoff_version;
	d->flags = 0;
	if (!d->response && pi.homad &&
	    __atomic_load_n(&t->incast, __ATOMIC_RELAXED))
		d->flags = DIRECT_FLAG_INCAST;
	/* Our last finished RPC there: acked by this packet, not by homad
	 * (which drops it from its queue when it adopts the record). */
	d->ack_id = 0;
	if (!d->response && s->dack_id != 0 && s->dack_port == d->dport &&
	    memcmp(s->dack_addr, d->addr, sizeof(s->dack_addr)) == 0) {
		d->ack_id = s->dack_id;
		s->dack_id = 0;
	}
	memset(rec, 0, sizeof(*rec));
	rec->ack_id = d->ack_id;
	rec->kind = d->response ? HOMA_DIRECT_RESPONSE : HOMA_DIRECT_REQUEST;
	rec->id = d->id;
	rec->cookie = d->cookie;
	rec->tx_offset = d->tx_offset;
	rec->length = d->length;
	rec->port = d->dport;
	rec->flags = (uint8_t)((d->priv ? HOMA_DIRECT_F_PRIVATE : 0) |
			       (d->flags ? HOMA_DIRECT_F_INCAST : 0));
	memcpy(rec->addr, d->addr, sizeof(rec->addr));
	return 0;
}

int direct_xmit(struct hc_sock *s, const struct direct_pkt *d,
		const void *payload)
{
	uint8_t hdr[20 + HOMA_DATA_LEN];
	union {
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} sa;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2];
	struct msghdr mh;
	struct cmsghdr *cm;
	size_t n = direct_build(d, hdr, sizeof(hdr));
	bool udp = __atomic_load_n(&s->dtab->link, __ATOMIC_RELAXED) ==
		   HOMA_DIRECT_LINK_UDP;
	bool v6 = !addr_is_ipv4(d->addr, sizeof(d->addr));
	uint16_t port = udp ? (uint16_t)__atomic_load_n(&s->dtab->udp_port,
							__ATOMIC_RELAXED)
			    : 0;
	int tos = d->prio << 5, fd = v6 ? s->dfd6 : s->dfd;
	ssize_t r;

	if (n == 0 || fd < 0)
		return -EINVAL;
	memset(&sa, 0, sizeof(sa));
	memset(&mh, 0, sizeof(mh));
	if (v6) {
		sa.v6.sin6_family = AF_INET6;
		memcpy(&sa.v6.sin6_addr, d->addr, 16);
		sa.v6.sin6_port = htons(port);
		mh.msg_namelen = sizeof(sa.v6);
	} else {
		sa.v4.sin_family = AF_INET;
		memcpy(&sa.v4.sin_addr, d->addr + 12, 4);
		sa.v4.sin_port = htons(port);
		mh.msg_namelen = sizeof(sa.v4);
	}
	/* The ip link's IPv4 socket takes our IPv4 header; the others have
	 * the kernel's, with the priority in a cmsg (as homad sends). */
	iov[0].iov_base = udp || v6 ? hdr + 20 : hdr;
	iov[0].iov_len = udp || v6 ? n - 20 : n;
	iov[1].iov_base = (void *)payload;
	iov[1].iov_len = d->length;
	mh.msg_name = &sa;
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	if (udp || v6) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
		cm->cmsg_type = v6 ? IPV6_TCLASS : IP_TOS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &tos, sizeof(tos));
	}
	do {
		r = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (r < 0 && errno == EINTR);
	/* A packet lost here is homad's to retransmit (it adopted it). */
	return r < 0 ? -errno : 0;
}

bool direct_doorbell_due(const struct hc_sock *s)
{
	/* Our record's release store, then this: homad's flag store, fence,
	 * ring check (Dekker): one of us sees the other. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&s->dtab->asleep, __ATOMIC_RELAXED) != 0;
}
