/*
 * homa/homa.h - the Linux Homa socket API (constants, argument structs and
 * ioctls), for programs that use Homa sockets through the kernel module or,
 * unmodified, through homad's preload library (libhomapreload(7)).
 *
 * A Homa socket is socket(AF_INET or AF_INET6, SOCK_DGRAM, IPPROTO_HOMA).
 * Requests and responses go out with sendmsg() (msg_control points at a
 * struct homa_sendmsg_args) and come in with recvmsg() (msg_control points
 * at a struct homa_recvmsg_args); received messages lie in the receive
 * buffer region the application gave with SO_HOMA_RCVBUF.  Layouts are
 * those of x86-64, native byte order; the sizes are pinned below.
 */
#ifndef HOMA_HOMA_H
#define HOMA_HOMA_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef IPPROTO_HOMA
#define IPPROTO_HOMA 146
#endif

/* Largest message, bytes (requests and responses alike). */
#define HOMA_MAX_MESSAGE_LENGTH 1000000

/* Received messages lie in bpages of the receive region. */
#define HOMA_BPAGE_SHIFT 16
#define HOMA_BPAGE_SIZE	 (1 << HOMA_BPAGE_SHIFT)
/* bpages of one message, at most (HOMA_MAX_MESSAGE_LENGTH rounded up). */
#define HOMA_MAX_BPAGES 16

/* Ports from here up are given out as defaults; bind() takes ports below. */
#define HOMA_MIN_DEFAULT_PORT 0x8000

/* Socket options, level IPPROTO_HOMA. */
#define SO_HOMA_RCVBUF 10 /* struct homa_rcvbuf_args */
#define SO_HOMA_SERVER 11 /* int: accept incoming requests (!= 0) or not */

/* homa_sendmsg_args.flags */
#define HOMA_SENDMSG_PRIVATE 0x01 /* only recvmsg(id) returns the response */

/*
 * sendmsg(): msg_control points here (msg_controllen 0).  id 0 sends a new
 * request and receives its id; id != 0 sends the response of that server
 * RPC (completion_cookie 0).
 */
struct homa_sendmsg_args {
	uint64_t id;		    /* in: 0 or a server RPC; out: the RPC */
	uint64_t completion_cookie; /* requests: returned with the response */
	uint32_t flags;		    /* HOMA_SENDMSG_* */
	uint32_t reserved;	    /* must be 0 */
};

/*
 * recvmsg(): msg_control points here, msg_controllen = its size.  On entry:
 * id 0 (any message but a private response) or a private RPC's id; the
 * bpages of earlier messages handed back.  On return: the message's RPC
 * (odd: a request, even: a response), its cookie, and where it lies.
 */
struct homa_recvmsg_args {
	uint64_t id;
	uint64_t completion_cookie;
	uint32_t num_bpages;
	uint32_t reserved;
	/* offsets in the receive region: all full bpages but the last */
	uint32_t bpage_offsets[HOMA_MAX_BPAGES];
};

/* SO_HOMA_RCVBUF: the receive region [start, start + length). */
struct homa_rcvbuf_args {
	uint64_t start; /* page-aligned address in the caller's memory */
	uint64_t length;
};

/* HOMAIOCABORT: end client RPC id (0: all of them). */
struct homa_abort_args {
	uint64_t id;
	uint32_t error; /* 0: forget silently; else the RPCs fail with it */
	uint32_t _pad1; /* must be 0 */
	uint64_t _pad2[2];
};

/* homa_rpc_info.flags */
#define HOMA_RPC_BUF_STALL 1 /* waiting for room in the receive region */
#define HOMA_RPC_PRIVATE   2 /* sent with HOMA_SENDMSG_PRIVATE */
#define HOMA_RPC_RX_READY  4 /* the incoming message is complete */
#define HOMA_RPC_RX_COPY   8 /* the incoming message is being copied */

/* One RPC of the socket (HOMAIOCINFO). */
struct homa_rpc_info {
	uint64_t id;
	union {
		struct sockaddr_storage storage;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} peer;
	uint64_t completion_cookie;
	int32_t tx_length; /* -1: no outgoing message */
	uint32_t tx_sent;
	uint32_t tx_granted;
	uint32_t tx_prio;
	int32_t rx_length; /* -1: nothing received yet */
	uint32_t rx_remaining;
	uint32_t rx_gaps;
	uint32_t rx_gap_bytes;
	uint32_t rx_granted;
	uint16_t flags; /* HOMA_RPC_* */
	uint16_t reserved;
};

/* HOMAIOCINFO: the socket's state. */
struct homa_info {
	uint64_t rpc_info;	  /* in: user address of homa_rpc_info[] */
	uint64_t rpc_info_length; /* in: bytes available there */
	uint64_t bpool_avail_bytes;
	uint32_t port;
	uint32_t num_rpcs;   /* live RPCs (may exceed the entries filled) */
	char error_msg[104]; /* the text of the socket's last error */
};

#define HOMAIOCINFO   _IOWR('h', 0x90, struct homa_info)
#define HOMAIOCABORT  _IOWR('h', 0x91, struct homa_abort_args)
#define HOMAIOCFREEZE _IO('h', 0x92)

#if defined(__x86_64__) && !defined(__cplusplus)
_Static_assert(sizeof(struct homa_sendmsg_args) == 24, "sendmsg args");
_Static_assert(sizeof(struct homa_recvmsg_args) == 88, "recvmsg args");
_Static_assert(sizeof(struct homa_rcvbuf_args) == 16, "rcvbuf args");
_Static_assert(sizeof(struct homa_abort_args) == 32, "abort args");
_Static_assert(sizeof(struct homa_info) == 136, "homa_info");
_Static_assert(sizeof(struct homa_rpc_info) == 184, "homa_rpc_info");
_Static_assert(__builtin_offsetof(struct homa_rpc_info, completion_cookie) ==
		       136,
	       "rpc_info cookie");
_Static_assert(__builtin_offsetof(struct homa_rpc_info, flags) == 180,
	       "rpc_info flags");
_Static_assert(HOMAIOCINFO == 0xc0886890u, "HOMAIOCINFO");
_Static_assert(HOMAIOCABORT == 0xc0206891u, "HOMAIOCABORT");
_Static_assert(HOMAIOCFREEZE == 0x6892, "HOMAIOCFREEZE");
#endif

#ifdef __cplusplus
}
#endif

#endif /* HOMA_HOMA_H */
