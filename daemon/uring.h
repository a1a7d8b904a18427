/*
 * uring.h - a thin layer over liburing 2.3 for homad's data plane.
 *
 * One struct uring is one io_uring plus, optionally, one provided-buffer
 * ring (buffer group URING_BGID) that multishot receives pick their
 * buffers from.  liburing 2.3 has no io_uring_setup_buf_ring, so the buffer
 * ring is mmap'ed, initialised and registered here by hand.
 *
 * Completions are told apart by their user_data: the low 3 bits are a tag
 * (enum uring_tag), the rest an 8-byte-aligned pointer to the object the
 * operation belongs to.  A struct dp_msg posted by the control plane with
 * MSG_RING carries its plain pointer (tag 0, URING_TAG_CTL).
 *
 * A struct uring is used by one thread at a time.
 *
 * The ring is set up with COOP_TASKRUN and TASKRUN_FLAG: a completion that
 * needs task work on the ring's thread (a receive, a send's result) no
 * longer interrupts that thread with an IPI while it runs; the work waits
 * for its next system call, and a sleeping thread is still woken.  Polling
 * (uring_submit_and_wait with wait_nr 0, spin mode) enters the kernel when
 * the kernel flags pending task work (IORING_SQ_TASKRUN), so it sees every
 * completion.  On the test-bed this raised 1 MB goodput by 20-30% (the IPI
 * of every packet was a fifth of the sender's time in a VM).
 */
#ifndef HOMAD_URING_H
#define HOMAD_URING_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>
#endif

/* The buffer group of the provided-buffer ring. */
#define URING_BGID 0
/* Largest provided-buffer ring the kernel accepts. */
#define URING_MAX_BUFS 32768u

/* What a completion is about: the low 3 bits of its user_data. */
enum uring_tag {
	URING_TAG_CTL = 0,	/* MSG_RING from the control plane: dp_msg * */
	URING_TAG_RECV = 1,	/* multishot recvmsg of a link socket */
	URING_TAG_SEND = 2,	/* sendmsg of one tx slot */
	URING_TAG_ERRPOLL = 3,	/* multishot POLLERR poll of a link socket */
	URING_TAG_TIMEOUT = 4,	/* the loop's timeout at the engine deadline */
	URING_TAG_INTERNAL = 5, /* timeout updates, cancels: errors only */
	URING_TAG_QUIT = 6,	/* MSG_RING from dp_destroy: leave the loop */
	/*
	 * The client channel (daemon/chan.c): the pointer is a struct
	 * chan_op, whose kind says which of its operations completed
	 * (accept, a connection's recvmsg or send, the accept retry timer).
	 */
	URING_TAG_CHAN = 7,
};
#define URING_TAG_MASK 7u

static inline uint64_t uring_data(const void *ptr, enum uring_tag tag)
{
	return (uint64_t)(uintptr_t)ptr | (uint64_t)tag;
}

static inline enum uring_tag uring_data_tag(uint64_t data)
{
	return (enum uring_tag)(data & URING_TAG_MASK);
}

static inline void *uring_data_ptr(uint64_t data)
{
	return (void *)(uintptr_t)(data & ~(uint64_t)URING_TAG_MASK);
}

/* An io_uring and its provided buffers. */
struct uring {
	struct io_uring ring;
	bool ring_ok; /* ring initialised */

	/* Provided-buffer ring (group URING_BGID); br NULL when none. */
	struct io_uring_buf_ring *br; /* mmap'ed, br_entries entries */
	size_t br_len;		      /* bytes mapped for br */
	unsigned br_entries;	      /* power of two >= n_bufs */
	uint8_t *bufs;		      /* n_bufs * buf_size bytes, mmap'ed */
	size_t bufs_len;	      /* bytes mapped for bufs */
	unsigned n_bufs;	      /* buffers handed to the kernel */
	uint32_t buf_size;	      /* bytes per buffer */
	bool registered;	      /* br registered with the ring */

	/*
	 * Sends queued since the last submit, and where to count a submit
	 * that carried at least one (NULL: not counted).
	 */
	unsigned sends_queued;
	uint64_t *tx_batches;

	/*
	 * uring_submit_and_wait sleeps in poll(2) on the ring's descriptor
	 * rather than in io_uring_enter (network.ring_wait = "poll").
	 */
	bool poll_wait;
};

/*
 * Tell memcheck (valgrind) that the kernel wrote len bytes at p: the
 * buffers of an io_uring read or recvmsg are filled by the kernel
 * asynchronously, outside any system call valgrind sees, so memory that
 * was uninitialised before (malloc'ed) would stay "uninitialised" to it.
 * Call where a completion hands such memory over, for the bytes its result
 * says were written.  Nothing outside valgrind, or when built without
 * valgrind's headers.  (The rings, mapped from io_uring, and the provided
 * buffers, anonymous mappings, are defined for memcheck from the start.)
 */
static inline void uring_kernel_wrote(const void *p, size_t len)
{
#ifdef HAVE_VALGRIND_MEMCHECK_H
	if (len)
		(void)VALGRIND_MAKE_MEM_DEFINED(p, len);
#else
	(void)p;
	(void)len;
#endif
}

/*
 * Check that the kernel behind ring has everything homad's data plane
 * uses: the opcodes RECVMSG, SENDMSG, MSG_RING, TIMEOUT, TIMEOUT_REMOVE,
 * POLL_ADD, ASYNC_CANCEL, ACCEPT, SEND and the features NODROP, FAST_POLL and
 * SUBMIT_STABLE.  (Multishot recvmsg, Linux >= 6.0, cannot be probed: the
 * link checks the completion of its first arm instead.)  Returns 0, or
 * -EOPNOTSUPP with one line naming everything missing in err.
 */
int uring_probe(struct io_uring *ring, char *err, size_t errlen);

/*
 * Set u up as a ring of `entries` submission entries (rounded up to a power
 * of two by the kernel) and a completion queue of at least cq_entries
 * (0: the kernel's default of twice entries), then probe it (uring_probe).
 * Returns 0 or -errno with a one-line reason in err.
 */
int uring_init(struct uring *u, unsigned entries, unsigned cq_entries,
	       char *err, size_t errlen);

/*
 * Create, fill and register the provided-buffer ring: n buffers (1 ..
 * URING_MAX_BUFS) of size bytes each, group URING_BGID.  Returns 0 or
 * -errno with a reason in err.  Freed by uring_exit.
 */
int uring_bufs_init(struct uring *u, unsigned n, uint32_t size, char *err,
		    size_t errlen);

/* The memory of buffer bid (as in a completion's flags >> 16). */
static inline void *uring_buf(const struct uring *u, unsigned bid)
{
	return u->bufs + (size_t)bid * u->buf_size;
}

/*
 * Give buffer bid back to the kernel, at once (call as soon as the
 * completion that carried it has been processed).
 */
void uring_buf_return(struct uring *u, unsigned bid);

/*
 * A submission entry, submitting the queued ones first when the SQ is
 * full.  NULL only if that submit failed (logged); the caller then
 * gives up the operation.
 */
struct io_uring_sqe *uring_sqe(struct uring *u);

/*
 * Make sure n submission entries can be had without an intermediate
 * submit (for a linked chain, which a submit would cut in two),
 * submitting the queued ones if needed.  Returns 0, or -errno when the
 * submit failed or n exceeds the ring's size.
 */
int uring_reserve(struct uring *u, unsigned n);

/* Note that a send was queued (for link_tx_batches). */
static inline void uring_note_send(struct uring *u)
{
	u->sends_queued++;
}

/*
 * Sends that post no completion when they succeed: submitted with
 * MSG_DONTWAIT and IOSQE_CQE_SKIP_SUCCESS, so that the wait which submits
 * them is not ended by their completions (one loop pass and io_uring_enter
 * fewer per wake-up).  Their memory is the caller's until the kernel is
 * done with it, and no completion says when that is; this is why it is
 * known:
 *   - MSG_DONTWAIT makes the kernel fail such a send with -EAGAIN instead
 *     of arming a poll and retrying later (io_sendmsg_prep and io_send's
 *     REQ_F_NOWAIT, in every kernel homad runs on), and it is never linked,
 *     drained or marked IOSQE_ASYNC (the caller's rule), so the kernel issues
 *     it inline, while io_uring_enter consumes its SQE: the data is copied
 *     into a socket buffer, or it fails, before that call returns;
 *   - a failure posts its completion (with -EAGAIN or another error) before
 *     that call returns too: into the ring, or into the kernel's overflow
 *     list, which sets IORING_SQ_CQ_OVERFLOW.
 * So once the completions ready after a call of uring_sq_consumed (which
 * read the head first) are handled, every such send whose SQE lies before
 * the head it gave and that posted no completion has succeeded and is done
 * with its memory.  The ring is entered by its own thread only.
 *
 * uring_sq_consumed: the submission queue's head (the kernel's, not
 * masked: SQEs before it are consumed), read before the completions to
 * handle; false, and no head, while completions overflow (a failure may
 * be in the overflow list, not yet in the ring).
 */
static inline bool uring_sq_consumed(const struct uring *u, unsigned *head)
{
	if (IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW)
		return false;
	*head = io_uring_smp_load_acquire(u->ring.sq.khead);
	return true;
}

/* SQE index idx (not masked) lies before head: consumed. */
static inline bool uring_sqe_before(unsigned idx, unsigned head)
{
	return (int)(head - idx) > 0;
}

/*
 * Submit what is queued and wait for at least wait_nr completions
 * (io_uring_submit_and_wait).  With u->poll_wait and wait_nr > 0, the
 * wait is a poll(2) on the ring's descriptor instead, until wait_nr
 * completions are ready.  Returns the submit's result: >= 0, or -errno
 * (-EINTR, -ETIME... are the caller's to retry).
 */
int uring_submit_and_wait(struct uring *u, unsigned wait_nr);

/*
 * Tear down: exit the ring (which cancels whatever is in flight), then
 * unmap the buffer ring and buffers.  Takes a zeroed or half-set-up u;
 * may be called twice.
 */
void uring_exit(struct uring *u);

#endif /* HOMAD_URING_H */
