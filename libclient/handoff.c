/*
 * handoff.c - a socket's state across exec, for the preload library: a
 * program that inherits a Homa socket's descriptor after execve() goes on
 * using it where its parent left off.
 *
 * The connection, the regions' memfds and a file holding this state are
 * inherited descriptors; the state is everything the library keeps that
 * homad relies on: the id blocks (ids must not be used twice), messages
 * and failures read from the connection but not yet collected (they are
 * gone from the connection), private RPCs, the transmit extents homad
 * may still read (the new program must not overwrite them), the bpages
 * still lent and those to give back.  Commands waiting for a Reply are
 * not carried over: exec ends the threads that sent them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client_int.h"
#include "homa_shm.h"

#define HANDOFF_MAGIC	0x484f4853u /* "HOHS" */
#define HANDOFF_VERSION 1

struct handoff_hdr {
	uint32_t magic, version;
	int32_t family;
	uint32_t port;
	uint64_t rx_size, tx_size, wmem_max;
	uint32_t max_inline, soft_events, hard_events, priv_cap, tx_cap;
	uint8_t takes_recycle, shut, pad[2];
	uint64_t id_next;
	uint32_t id_left, id_block;
	uint64_t next_first;
	uint32_t next_count, more_ids_err;
	uint64_t pins;
	uint32_t nev, ntx, npriv, nrec;
};

struct handoff_tx {
	uint64_t id, off, alloc;
	uint32_t len;
	uint32_t released;
};

struct handoff_priv {
	uint64_t id;
	uint32_t ready, pad;
	struct evq_ev ev;
};

static int handoff_write(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int handoff_read(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n > 0) {
		ssize_t r = read(fd, b, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EPROTO;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

int handoff_export(struct hc_sock *s, int fd)
{
	struct handoff_hdr h;
	int rc = 0;

	/* Messages in the library's own area (direct receive) and RPCs only
	 * it tracks cannot be handed over; the preload never asks for it. */
	if (s->drx_ever)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&s->lock);
	memset(&h, 0, sizeof(h));
	h.magic = HANDOFF_MAGIC;
	h.version = HANDOFF_VERSION;
	h.family = s->family;
	h.port = s->port;
	h.rx_size = s->rx_size;
	h.tx_size = s->tx_size;
	h.wmem_max = s->wmem_max;
	h.max_inline = s->max_inline;
	h.soft_events = s->soft_events;
	h.hard_events = s->hard_events;
	h.priv_cap = s->q.priv_cap;
	h.tx_cap = s->tx.cap;
	h.takes_recycle = s->takes_recycle;
	h.shut = s->shut;
	h.id_next = s->id_next;
	h.id_left = s->id_left;
	h.id_block = s->id_block;
	h.next_first = s->next_first;
	h.next_count = s->next_count;
	h.more_ids_err = (uint32_t)s->more_ids_err;
	h.pins = s->pins;
	h.nev = s->q.count;
	for (uint32_t i = 0; i < s->tx.cap; i++)
		if (s->tx.e[i].state == TXE_SENT)
			h.ntx++;
	h.npriv = s->q.npriv;
	h.nrec = s->nrecycle;
	rc = handoff_write(fd, &h, sizeof(h));
	for (uint32_t i = 0; rc == 0 && i < h.nev; i++)
		rc = handoff_write(
			fd, &s->q.ring[(s->q.head + i) & (s->q.ring_cap - 1)],
			sizeof(struct evq_ev));
	for (uint32_t i = 0; rc == 0 && i < s->tx.cap; i++) {
		const struct txe *e = &s->tx.e[i];
		struct handoff_tx t;

		if (e->state != TXE_SENT)
			continue;
		memset(&t, 0, sizeof(t));
		t.id = e->id;
		t.off = e->off;
		t.alloc = e->alloc;
		t.len = e->len;
		t.released = e->released;
		rc = handoff_write(fd, &t, sizeof(t));
	}
	for (uint32_t b = 0; rc == 0 && b < s->q.nbucket; b++)
		for (uint32_t i = s->q.bucket[b]; rc == 0 && i != UINT32_MAX;
		     i = s->q.priv[i].next) {
			struct handoff_priv p;

			memset(&p, 0, sizeof(p));
			p.id = s->q.priv[i].id;
			p.ready = s->q.priv[i].ready;
			if (p.ready)
				p.ev = s->q.priv[i].ev;
			rc = handoff_write(fd, &p, sizeof(p));
		}
	if (rc == 0 && h.nrec > 0)
		rc = handoff_write(fd, s->recycle, h.nrec * sizeof(uint32_t));
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Restore one outgoing message homad may still read. */
static int handoff_tx_restore(struct txtrack *t, const struct handoff_tx *x)
{
	uint32_t slot;
	int rc;

	rc = txtrack_reserve(t, 0, &slot);
	if (rc < 0)
		return rc;
	if (x->off != TXTRACK_INLINE) {
		if (x->alloc == 0 || txarea_take(&t->area, x->off, x->alloc)) {
			txtrack_cancel(t, slot);
			return -EPROTO;
		}
		t->e[slot].off = x->off;
		t->e[slot].alloc = x->alloc;
	}
	txtrack_commit(t, slot, x->id, x->len);
	t->e[slot].released = x->released != 0;
	return 0;
}

int handoff_import(struct hc_sock **out, int statefd, int fd, int rx_fd,
		   int tx_fd, void *rx_at)
{
	struct handoff_hdr h;
	struct hc_sock *s;
	pthread_condattr_t ca;
	void *p;
	int rc;

	*out = NULL;
	rc = handoff_read(statefd, &h, sizeof(h));
	if (rc == 0 &&
	    (h.magic != HANDOFF_MAGIC || h.version != HANDOFF_VERSION ||
	     h.rx_size < HOMA_SHM_MIN_RX_POOL ||
	     h.rx_size > HOMA_SHM_MAX_RX_POOL || h.tx_size == 0 ||
	     h.tx_size > HOMA_SHM_MAX_TX_AREA || h.priv_cap == 0 ||
	     h.tx_cap == 0 || h.hard_events == 0 || h.nev > h.hard_events ||
	     h.ntx > h.tx_cap || h.npriv > h.priv_cap))
		rc = -EPROTO;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		close(fd);
		return -ENOMEM;
	}
	s->fd = fd;
	s->dfd = -1; /* direct send and receive are not handed over */
	s->dfd6 = -1;
	s->rfd = -1;
	s->epfd = -1;
	s->rx_fd = fcntl(rx_fd, F_DUPFD_CLOEXEC, 0);
	s->tx_fd = fcntl(tx_fd, F_DUPFD_CLOEXEC, 0);
	s->family = h.family;
	s->port = h.port;
	s->rx_size = h.rx_size;
	s->tx_size = h.tx_size;
	s->wmem_max = h.wmem_max;
	s->max_inline = h.max_inline;
	s->soft_events = h.soft_events;
	s->hard_events = h.hard_events;
	s->takes_recycle = h.takes_recycle;
	s->shut = h.shut;
	s->id_next = h.id_next;
	s->id_left = h.id_left;
	s->id_block = h.id_block;
	s->next_first = h.next_first;
	s->next_count = h.next_count;
	s->more_ids_err = (int)h.more_ids_err;
	s->pins = h.pins;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	s->rbuf = malloc((size_t)CONN_RX_BATCH * HOMA_CLIENT_MAX_DATAGRAM);
	s->recycle_cap = 4 * CONN_RECYCLE_CAP;
	if (s->recycle_cap < h.nrec)
		s->recycle_cap = h.nrec;
	s->recycle = malloc(s->recycle_cap * sizeof(*s->recycle));
	if (s->rx_fd < 0 || s->tx_fd < 0 || s->rbuf == NULL ||
	    s->recycle == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = evq_init(&s->q, h.hard_events, h.priv_cap);
	if (rc == 0)
		rc = txtrack_init(&s->tx, h.tx_size, h.tx_cap);
	if (rc < 0)
		goto fail;

	p = MAP_FAILED;
	if (rx_at != NULL)
		p = mmap(rx_at, h.rx_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED_NOREPLACE, rx_fd, 0);
	if (p != MAP_FAILED && p == rx_at) {
		s->rx_fixed = true;
	} else {
		if (p != MAP_FAILED)
			munmap(p, h.rx_size); /* an old kernel's hint */
		p = mmap(NULL, h.rx_size, PROT_READ, MAP_SHARED, rx_fd, 0);
	}
	if (p == MAP_FAILED) {
		rc = -errno;
		goto fail;
	}
	s->rxmap = p;
	p = mmap(NULL, h.tx_size, PROT_READ | PROT_WRITE, MAP_SHARED, tx_fd, 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		goto fail;
	}
	s->txmap = p;

	for (uint32_t i = 0; rc == 0 && i < h.nev; i++) {
		struct evq_ev ev;

		rc = handoff_read(statefd, &ev, sizeof(ev));
		if (rc == 0)
			rc = evq_push(&s->q, &ev);
	}
	for (uint32_t i = 0; rc == 0 && i < h.ntx; i++) {
		struct handoff_tx x;

		rc = handoff_read(statefd, &x, sizeof(x));
		if (rc == 0)
			rc = handoff_tx_restore(&s->tx, &x);
	}
	for (uint32_t i = 0; rc == 0 && i < h.npriv; i++) {
		struct handoff_priv x;

		rc = handoff_read(statefd, &x, sizeof(x));
		if (rc == 0)
			rc = evq_priv_add(&s->q, x.id);
		if (rc == 0 && x.ready)
			rc = evq_priv_fill(&s->q, &x.ev);
	}
	if (rc == 0 && h.nrec > 0)
		rc = handoff_read(statefd, s->recycle,
				  h.nrec * sizeof(uint32_t));
	if (rc < 0)
		goto fail;
	s->nrecycle = h.nrec;
	*out = s;
	return 0;
fail:
	/* hc_close frees what is there; the connection goes with it. */
	if (rc == -EEXIST || rc == -ENOENT)
		rc = -EPROTO;
	hc_close(s);
	return rc;
}
