/*
 * homa-bench: a load generator that runs the same workloads over Homa
 * (homad through libhomaclient) and over kernel TCP, and reports round-trip
 * times and slowdown per message size.
 *
 * This header joins the parts: the options (bench_opts), the protocol
 * backends (struct bench_proto, one table of functions per protocol), the
 * message-size workloads (workload_*) and the recorder (stats_*).
 */
#ifndef HOMA_BENCH_H
#define HOMA_BENCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/socket.h>

/* Largest message homa-bench makes: Homa's own limit. */
#define BENCH_MAX_MESSAGE 1000000u

/* Default TCP port / Homa port of the server. */
#define BENCH_DEFAULT_PORT 4147

/* A server as the client knows it: address and port (in addr). */
struct bench_server {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char name[64]; /* as given on the command line */
};

/* Options shared by the modes; filled by main from the command line. */
struct bench_opts {
	uint16_t port;		  /* server port (TCP port or Homa port) */
	uint32_t resp_len;	  /* server: response bytes; 0: echo the size */
	uint32_t max_outstanding; /* client: RPCs in flight at most */
	bool quiet;		  /* no progress lines */
	/*
	 * Server (homa): hold the responses until this many requests have
	 * arrived (0: answer at once), say so on stdout ("held N requests"),
	 * then answer them all once *release becomes nonzero (SIGUSR1).
	 */
	uint32_t hold;
	volatile sig_atomic_t *release;
	/* Server: the backend adds one per request it receives (or NULL). */
	uint64_t *requests;
};

/*
 * Called by a backend for each RPC of the client that ended.
 * @arg: the caller's argument given to client_poll
 * @tag: the tag given to client_send
 * @resp_len: bytes of the response received (valid when err == 0)
 * @err: 0, or -errno if the RPC failed (the run then stops)
 */
typedef void (*bench_done_fn)(void *arg, uint64_t tag, uint32_t resp_len,
			      int err);

/*
 * A protocol backend.  A client opens one endpoint to all servers and
 * drives it from a single thread: client_send starts RPCs, client_poll
 * waits for and reports completions.  Errors are -errno with a message in
 * the caller's buffer where one is taken; backends never print.
 */
struct bench_proto {
	const char *name; /* "tcp", "homa", "kernel" */
	/*
	 * Open a client endpoint for RPCs to the nservers servers (the array
	 * stays valid until client_close).  At most o->max_outstanding RPCs
	 * are in flight at once.  Returns 0 and the endpoint in *cp, or
	 * -errno (e.g. -ECONNREFUSED) with a message in err.
	 */
	int (*client_open)(const struct bench_opts *o,
			   const struct bench_server *servers, int nservers,
			   void **cp, char *err, size_t errlen);
	/*
	 * Start an RPC with a request of req_len bytes (1..BENCH_MAX_MESSAGE)
	 * to server number server; tag comes back in the done callback.
	 * Returns 0, or -errno: -EAGAIN when the backend cannot take it now
	 * (the caller polls and tries again), -ENOBUFS for more than
	 * max_outstanding; any other error ends the run.
	 */
	int (*client_send)(void *c, int server, uint64_t tag, uint32_t req_len);
	/*
	 * Make progress: wait at most timeout_ns (0: do not wait) for events,
	 * call done once per RPC that ended.  Returns the number of RPCs
	 * reported, or -errno (the endpoint is then unusable) with a message
	 * in err.
	 */
	int (*client_poll)(void *c, int64_t timeout_ns, bench_done_fn done,
			   void *arg, char *err, size_t errlen);
	/* Close the endpoint; RPCs in flight are abandoned.  Takes NULL. */
	void (*client_close)(void *c);
	/*
	 * Serve requests on o->port until *stop becomes nonzero (a signal
	 * handler sets it), answering each with o->resp_len bytes (0: as
	 * many as the request).  Returns 0 when stopped, or -errno with a
	 * message in err.
	 */
	int (*serve)(const struct bench_opts *o, volatile sig_atomic_t *stop,
		     char *err, size_t errlen);
};

extern const struct bench_proto tcp_proto;
/* The Linux Homa socket API (the module, or homad under homa-run). */
extern const struct bench_proto kernel_proto;
#ifdef HAVE_HOMACLIENT
extern const struct bench_proto homa_proto;
#endif

/* Monotonic time in nanoseconds. */
int64_t bench_now_ns(void);

#ifdef HAVE_HOMACLIENT
/* scale.c: `homa-bench scale` (see scale_usage); returns the exit status. */
int scale_main(int argc, char **argv, volatile sig_atomic_t *stop);
void scale_usage(FILE *f);
#endif

/* workload.c: message sizes drawn from a CDF or fixed. */
struct workload {
	char name[64];	 /* "w4", "100", or the CSV path */
	uint32_t cap;	 /* sizes above become the cap */
	size_t n;	 /* rows of the CDF; 0 for a fixed size */
	uint32_t *sizes; /* n sizes, increasing */
	double *cdf;	 /* n cumulative fractions, increasing, last 1 */
	uint32_t fixed;	 /* the size when n == 0 */
	double mean;	 /* mean size after the cap */
	double capped;	 /* fraction of draws that the cap changes */
};

/*
 * Load a workload: a decimal size ("100"), a name w1..w5 (looked up in
 * $HOMA_WORKLOADS, then the installed directory), or a CSV path
 * (size_bytes,cdf rows).  Sizes are capped at cap (1..BENCH_MAX_MESSAGE).
 * Returns 0 or -errno (-ENOENT, -EINVAL for a malformed file: the message
 * in err names file and line).
 */
int workload_load(struct workload *w, const char *spec, uint32_t cap, char *err,
		  size_t errlen);
/* Draw a size; u uniform in [0,1). */
uint32_t workload_sample(const struct workload *w, double u);
/* Free the tables; takes NULL. */
void workload_free(struct workload *w);

/* stats.c: per-RPC records and the report. */
struct stats_rec {
	uint32_t req;  /* request bytes */
	uint32_t resp; /* response bytes */
	uint64_t rtt;  /* round-trip time, ns */
};

struct stats {
	struct stats_rec *recs; /* n records, growing up to max */
	size_t n, alloc, max;
	uint64_t dropped; /* RPCs not recorded (max reached) */
	/* What the report needs besides the records: */
	char protocol[16];
	char workload[96];
	uint32_t cap;
	double elapsed_s;   /* measured interval */
	double base_rtt_ns; /* unloaded small-message RTT */
	double link_gbps;   /* bottleneck rate, for slowdown */
	double cpu_s;	    /* this process's CPU in the interval */
	/* This process's context switches in the interval (getrusage). */
	uint64_t vcsw;	    /* voluntary: it waited */
	uint64_t ivcsw;	    /* involuntary: preempted */
	uint64_t req_bytes; /* completed RPCs, all of them */
	uint64_t resp_bytes;
	uint64_t rpcs;
	uint64_t failed; /* RPCs that ended in an error (not in records) */
	int last_error;	 /* errno of the last of them */
};

/* Set up an empty recorder keeping at most max records. */
void stats_init(struct stats *s, size_t max);
/* Record one RPC.  Returns 0, or -ENOMEM when memory ran out. */
int stats_add(struct stats *s, uint32_t req, uint32_t resp, uint64_t rtt);
/* Free the records; takes NULL. */
void stats_free(struct stats *s);
/*
 * Print the report (throughput, RTT and slowdown per size bucket and for
 * messages < 1500 B) to stdout.  Sorts the records.
 */
void stats_report(struct stats *s);
/*
 * Write PREFIX.rpcs (one line per RPC: req resp rtt_ns, with a header),
 * PREFIX.slowdown (P50/P99 slowdown per log-spaced size bucket, for
 * gnuplot) and PREFIX.summary (key value lines, for scripts).  Call after
 * stats_report.  Returns 0 or -errno with a message in err.
 */
int stats_write(struct stats *s, const char *prefix, char *err, size_t errlen);
/*
 * Add the records and header of a PREFIX.rpcs file to s (for `report`).
 * Returns 0 or -errno with a message in err.
 */
int stats_read(struct stats *s, const char *path, char *err, size_t errlen);

#endif
