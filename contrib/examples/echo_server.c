/*
 * echo_server - a libhomaclient example: bind a Homa port and answer every
 * request with its own bytes.
 *
 * The response is sent straight from the receive pool (hc_msg_iov gives
 * pointers to the request's bpages; hc_send_responsev copies them into the
 * transmit area), or, with --zero-copy, built in a reserved extent of the
 * transmit area (hc_tx_reserve + hc_msg_read + hc_send_response_buf).
 * SIGINT/SIGTERM shut the socket down from another thread, which wakes the
 * main thread's hc_recv with -ESHUTDOWN.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "homa/client.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: echo_server [-4|-6] [-p PORT] [-s SOCKET] [-n COUNT] "
		"[-z] [-q]\n"
		"Answer every Homa request with its own bytes.\n"
		"  -4, --ipv4          AF_INET socket (default)\n"
		"  -6, --ipv6          AF_INET6 socket\n"
		"  -p, --port PORT     port to bind, 1..32767 (default 4000)\n"
		"  -s, --socket PATH   homad's client socket (default "
		"$HOMA_SOCKET or " HC_DEFAULT_SOCKET ")\n"
		"  -n, --count N       exit after N requests (default: run "
		"until SIGINT/SIGTERM)\n"
		"  -z, --zero-copy     build responses in the transmit area\n"
		"  -q, --quiet         no start-up line\n"
		"  -h, --help          this text\n");
}

static void *signal_thread(void *arg)
{
	struct hc_sock *s = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigwait(&set, &sig) == 0)
		hc_shutdown(s);
	return NULL;
}

/* Answer request m with its bytes. */
static int echo(struct hc_sock *s, struct hc_msg *m, bool zero_copy)
{
	if (zero_copy) {
		struct hc_txbuf b;
		int rc = hc_tx_reserve(s, m->length, 0, &b);

		if (rc < 0)
			return rc;
		hc_msg_read(s, m, 0, b.data, m->length);
		rc = hc_send_response_buf(s, m->id, &m->peer.sa, m->peer_len,
					  &b, m->length, 0);
		if (rc < 0)
			hc_tx_cancel(s, &b);
		return rc;
	}
	struct iovec iov[HC_MAX_BPAGES];
	int n = hc_msg_iov(s, m, iov, HC_MAX_BPAGES);

	if (n < 0)
		return n;
	return hc_send_responsev(s, m->id, &m->peer.sa, m->peer_len, iov, n, 0);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"ipv4", no_argument, NULL, '4'},
		{"ipv6", no_argument, NULL, '6'},
		{"port", required_argument, NULL, 'p'},
		{"socket", required_argument, NULL, 's'},
		{"count", required_argument, NULL, 'n'},
		{"zero-copy", no_argument, NULL, 'z'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct hc_options opts;
	struct hc_sock *s;
	pthread_t tid;
	sigset_t set;
	char err[256];
	int family = AF_INET, c, rc;
	unsigned long port = 4000, count = 0, served = 0, failed = 0;
	bool zero_copy = false, quiet = false;

	hc_options_init(&opts);
	while ((c = getopt_long(argc, argv, "46p:s:n:zqh", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case '4':
			family = AF_INET;
			break;
		case '6':
			family = AF_INET6;
			break;
		case 'p':
			port = strtoul(optarg, NULL, 0);
			if (port == 0 || port >= HC_MIN_DEFAULT_PORT) {
				fprintf(stderr,
					"echo_server: port %s is out of range "
					"(1..32767)\n",
					optarg);
				return 2;
			}
			break;
		case 's':
			opts.socket_path = optarg;
			break;
		case 'n':
			count = strtoul(optarg, NULL, 0);
			break;
		case 'z':
			zero_copy = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	/* Signals go to the thread that shuts the socket down. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	rc = hc_open(&s, family, &opts);
	if (rc < 0) {
		fprintf(stderr, "echo_server: %s\n",
			hc_last_error(NULL, err, sizeof(err)));
		return 1;
	}
	rc = hc_bind(s, (unsigned)port);
	if (rc < 0) {
		fprintf(stderr, "echo_server: bind %lu: %s (%s)\n", port,
			hc_strerror(rc), hc_last_error(s, err, sizeof(err)));
		hc_close(s);
		return 1;
	}
	if (pthread_create(&tid, NULL, signal_thread, s) != 0) {
		fprintf(stderr, "echo_server: cannot start a thread\n");
		hc_close(s);
		return 1;
	}
	if (!quiet) {
		printf("echo_server: listening on port %u\n", hc_port(s));
		fflush(stdout);
	}

	while (count == 0 || served < count) {
		struct hc_msg m;

		rc = hc_recv(s, 0, -1, &m);
		if (rc == -ESHUTDOWN)
			break;
		if (rc < 0) {
			fprintf(stderr, "echo_server: recv: %s\n",
				hc_strerror(rc));
			break;
		}
		if (m.error != 0) {
			/* A response homad refused afterwards. */
			fprintf(stderr, "echo_server: RPC %llu failed: %s\n",
				(unsigned long long)m.id, hc_strerror(m.error));
			failed++;
			continue;
		}
		rc = echo(s, &m, zero_copy);
		if (rc < 0 && rc != -ESHUTDOWN) {
			fprintf(stderr, "echo_server: respond to %llu: %s\n",
				(unsigned long long)m.id, hc_strerror(rc));
			failed++;
		}
		hc_recycle(s, &m);
		served++;
	}
	if (!quiet)
		printf("echo_server: %lu requests served, %lu failures\n",
		       served, failed);
	if (count != 0) {
		/* Let the last responses reach their clients before closing. */
		struct hc_info info;

		for (int i = 0; i < 200; i++) {
			if (hc_info(s, &info, NULL, 0, NULL) < 0 ||
			    info.num_rpcs == 0)
				break;
			struct hc_msg m;

			hc_recv(s, 0, 10, &m);
		}
	}
	pthread_cancel(tid);
	pthread_join(tid, NULL);
	hc_close(s);
	return rc < 0 && rc != -ESHUTDOWN ? 1 : 0;
}
