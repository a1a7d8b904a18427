/*
 * uring.c - io_uring set-up, feature probe, provided-buffer ring.
 */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "log.h"
#include "uring.h"

/* An opcode homad needs, with its name for the refusal message. */
struct uring_need_op {
	int op;
	const char *name;
};

static const struct uring_need_op uring_need_ops[] = {
	{IORING_OP_RECVMSG, "RECVMSG"},
	{IORING_OP_SENDMSG, "SENDMSG"},
	{IORING_OP_MSG_RING, "MSG_RING"},
	{IORING_OP_TIMEOUT, "TIMEOUT"},
	{IORING_OP_TIMEOUT_REMOVE, "TIMEOUT_REMOVE"},
	{IORING_OP_POLL_ADD, "POLL_ADD"},
	{IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
	{IORING_OP_ACCEPT, "ACCEPT"},
	{IORING_OP_SEND, "SEND"},
};

struct uring_need_feat {
	unsigned feat;
	const char *name;
};

static const struct uring_need_feat uring_need_feats[] = {
	{IORING_FEAT_NODROP, "FEAT_NODROP"},
	{IORING_FEAT_FAST_POLL, "FEAT_FAST_POLL"},
	{IORING_FEAT_SUBMIT_STABLE, "FEAT_SUBMIT_STABLE"},
};

/* Append name to the list in missing[0..len). */
static void uring_missing_add(char *missing, size_t len, const char *name)
{
	size_t used = strlen(missing);

	snprintf(missing + used, len - used, "%s%s", used ? ", " : "", name);
}

int uring_probe(struct io_uring *ring, char *err, size_t errlen)
{
	struct io_uring_probe *probe;
	char missing[256] = "";
	struct utsname un;
	size_t i;

	probe = io_uring_get_probe_ring(ring);
	if (!probe) {
		uring_missing_add(missing, sizeof(missing), "opcode probe");
	} else {
		for (i = 0;
		     i < sizeof(uring_need_ops) / sizeof(*uring_need_ops);
		     i++) {
			if (!io_uring_opcode_supported(probe,
						       uring_need_ops[i].op))
				uring_missing_add(missing, sizeof(missing),
						  uring_need_ops[i].name);
		}
		io_uring_free_probe(probe);
	}
	for (i = 0; i < sizeof(uring_need_feats) / sizeof(*uring_need_feats);
	     i++) {
		if (!(ring->features & uring_need_feats[i].feat))
			uring_missing_add(missing, sizeof(missing),
					  uring_need_feats[i].name);
	}
	if (!missing[0])
		return 0;
	if (uname(&un) < 0)
		snprintf(un.release, sizeof(un.release), "unknown");
	snprintf(err, errlen,
		 "io_uring lacks %s (kernel %s; homad needs Linux >= 6.0)",
		 missing, un.release);
	return -EOPNOTSUPP;
}

int uring_init(struct uring *u, unsigned entries, unsigned cq_entries,
	       char *err, size_t errlen)
{
	struct io_uring_params p;
	int r;

	memset(u, 0, sizeof(*u));
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	if (cq_entries > entries) {
		p.flags |= IORING_SETUP_CQSIZE;
		p.cq_entries = cq_entries;
	}
	r = io_uring_queue_init_params(entries, &u->ring, &p);
	if (r < 0) {
		snprintf(err, errlen,
			 "cannot create an io_uring of %u entries: %s%s",
			 entries, strerror(-r),
			 r == -ENOSYS || r == -EPERM
				 ? " (io_uring disabled or unavailable?)"
				 : "");
		return r;
	}
	u->ring_ok = true;
	r = uring_probe(&u->ring, err, errlen);
	if (r < 0) {
		uring_exit(u);
		return r;
	}
	return 0;
}

int uring_bufs_init(struct uring *u, unsigned n, uint32_t size, char *err,
		    size_t errlen)
{
	struct io_uring_buf_reg reg;
	long page = sysconf(_SC_PAGESIZE);
	unsigned entries = 1, i;
	void *p;
	int r;

	if (n == 0 || n > URING_MAX_BUFS || size == 0) {
		snprintf(err, errlen,
			 "rx_buffers = %u is out of range (1..%u) or empty "
			 "buffers",
			 n, URING_MAX_BUFS);
		return -EINVAL;
	}
	while (entries < n)
		entries <<= 1;
	u->br_len = (sizeof(struct io_uring_buf) * entries + (size_t)page - 1) &
		    ~((size_t)page - 1);
	p = mmap(NULL, u->br_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		snprintf(err, errlen, "cannot map the buffer ring: %s",
			 strerror(-r));
		u->br_len = 0;
		return r;
	}
	u->br = p;
	u->br_entries = entries;
	u->bufs_len = (size_t)n * size;
	p = mmap(NULL, u->bufs_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		snprintf(err, errlen,
			 "cannot map %u rx buffers of %u bytes: %s", n, size,
			 strerror(-r));
		u->bufs_len = 0;
		return r;
	}
	u->bufs = p;
	u->n_bufs = n;
	u->buf_size = size;

	io_uring_buf_ring_init(u->br);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)u->br;
	reg.ring_entries = entries;
	reg.bgid = URING_BGID;
	r = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (r < 0) {
		snprintf(err, errlen,
			 "cannot register the provided-buffer ring: %s "
			 "(needs Linux >= 5.19)",
			 strerror(-r));
		return r;
	}
	u->registered = true;
	for (i = 0; i < n; i++)
		io_uring_buf_ring_add(u->br, uring_buf(u, i), size,
				      (unsigned short)i,
				      io_uring_buf_ring_mask(entries), (int)i);
	io_uring_buf_ring_advance(u->br, (int)n);
	return 0;
}

void uring_buf_return(struct uring *u, unsigned bid)
{
	if (bid >= u->n_bufs) {
		log_warnx("io_uring returned unknown buffer id %u", bid);
		return;
	}
	io_uring_buf_ring_add(u->br, uring_buf(u, bid), u->buf_size,
			      (unsigned short)bid,
			      io_uring_buf_ring_mask(u->br_entries), 0);
	io_uring_buf_ring_advance(u->br, 1);
}

/* Count a submit that carried sends. */
static void uring_submitted(struct uring *u)
{
	if (u->sends_queued && u->tx_batches)
		(*u->tx_batches)++;
	u->sends_queued = 0;
}

struct io_uring_sqe *uring_sqe(struct uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	int r;

	if (sqe)
		return sqe;
	r = io_uring_submit(&u->ring);
	uring_submitted(u);
	if (r < 0) {
		errno = -r;
		log_warn("io_uring submit (submission queue full)");
		return NULL;
	}
	return io_uring_get_sqe(&u->ring);
}

int uring_reserve(struct uring *u, unsigned n)
{
	int r;

	if (n > u->ring.sq.ring_entries)
		return -EINVAL;
	if (io_uring_sq_space_left(&u->ring) >= n)
		return 0;
	r = io_uring_submit(&u->ring);
	uring_submitted(u);
	if (r < 0)
		return r;
	return io_uring_sq_space_left(&u->ring) >= n ? 0 : -EBUSY;
}

/*
 * The ring is readable when completions are posted, and poll(2) is woken
 * (then restarted) by the task work that posts those of network requests,
 * so this sees each completion when io_uring_enter would.  io_uring_cq_ready
 * reads the shared tail without a system call; completions the kernel
 * holds back (CQ overflow, task work not yet run) are flushed by
 * io_uring_peek_cqe, which enters the kernel without waiting.
 */
static int uring_poll_wait(struct uring *u, unsigned wait_nr)
{
	struct pollfd pfd = {.fd = u->ring.ring_fd, .events = POLLIN};
	struct io_uring_cqe *cqe;
	int r;

	r = io_uring_submit(&u->ring);
	uring_submitted(u);
	if (r < 0)
		return r;
	for (;;) {
		if (io_uring_cq_ready(&u->ring) >= wait_nr)
			break;
		(void)io_uring_peek_cqe(&u->ring, &cqe);
		if (io_uring_cq_ready(&u->ring) >= wait_nr)
			break;
		if (poll(&pfd, 1, -1) < 0)
			return -errno;
	}
	return r;
}

int uring_submit_and_wait(struct uring *u, unsigned wait_nr)
{
	int r;

	if (u->poll_wait && wait_nr > 0)
		return uring_poll_wait(u, wait_nr);
	r = io_uring_submit_and_wait(&u->ring, wait_nr);
	uring_submitted(u);
	return r;
}

void uring_exit(struct uring *u)
{
	if (u->ring_ok) {
		if (u->registered)
			io_uring_unregister_buf_ring(&u->ring, URING_BGID);
		u->registered = false;
		io_uring_queue_exit(&u->ring);
		u->ring_ok = false;
	}
	if (u->bufs)
		munmap(u->bufs, u->bufs_len);
	if (u->br)
		munmap(u->br, u->br_len);
	u->bufs = NULL;
	u->br = NULL;
	u->n_bufs = 0;
}
