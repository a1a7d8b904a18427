/*
 * echo_client - a libhomaclient example: send requests to an echo server,
 * check that every response holds exactly the request's bytes, and print
 * latency percentiles.
 *
 * Up to --concurrency requests are outstanding at once; each carries its
 * sequence number as the completion cookie, and its bytes are a pattern
 * derived from that number, so a response is checked without keeping the
 * request.  With --private every request is private and its response is
 * waited for by id.
 */
#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "homa/client.h"

struct slot {
	uint64_t id;
	uint64_t start_ns;
	bool busy;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: echo_client [-4|-6] -S ADDR [-p PORT] [-b BYTES] "
		"[-n COUNT] [-c CONC] [-P] [-z] [-t MS] [-s SOCKET] [-q]\n"
		"Send echo requests, check the echoed bytes, print latency "
		"percentiles.\n"
		"  -4, --ipv4            AF_INET socket (default)\n"
		"  -6, --ipv6            AF_INET6 socket\n"
		"  -S, --server ADDR     the echo server's address\n"
		"  -p, --port PORT       its port (default 4000)\n"
		"  -b, --bytes N         request size, 1..1000000 (default "
		"100)\n"
		"  -n, --count N         requests in all (default 1000)\n"
		"  -c, --concurrency N   requests outstanding at once (default "
		"1)\n"
		"  -P, --private         private RPCs, responses waited for by "
		"id\n"
		"  -z, --zero-copy       build requests in the transmit area\n"
		"  -t, --timeout MS      give up on a response after MS "
		"(default 10000)\n"
		"  -s, --socket PATH     homad's client socket (default "
		"$HOMA_SOCKET or " HC_DEFAULT_SOCKET ")\n"
		"  -q, --quiet           only errors\n"
		"  -h, --help            this text\n"
		"Exit status: 0 all responses correct, 1 an error, 2 usage.\n");
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Byte i of request seq. */
static uint8_t pattern(uint64_t seq, size_t i)
{
	return (uint8_t)((seq * 131u + i * 7u + (i >> 8)) & 0xff);
}

static void fill(uint8_t *buf, size_t len, uint64_t seq)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(seq, i);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Check response m of request seq (len bytes): 0 or -1 (printed). */
static int check(struct hc_sock *s, const struct hc_msg *m, uint64_t seq,
		 size_t len, uint8_t *scratch)
{
	size_t got;

	if (m->length != len) {
		fprintf(stderr,
			"echo_client: response %llu: %u bytes, expected "
			"%zu\n",
			(unsigned long long)seq, m->length, len);
		return -1;
	}
	got = hc_msg_read(s, m, 0, scratch, len);
	if (got != len) {
		fprintf(stderr, "echo_client: response %llu: read %zu of %zu\n",
			(unsigned long long)seq, got, len);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if (scratch[i] != pattern(seq, i)) {
			fprintf(stderr,
				"echo_client: response %llu: byte %zu is "
				"0x%02x, expected 0x%02x\n",
				(unsigned long long)seq, i, scratch[i],
				pattern(seq, i));
			return -1;
		}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"ipv4", no_argument, NULL, '4'},
		{"ipv6", no_argument, NULL, '6'},
		{"server", required_argument, NULL, 'S'},
		{"port", required_argument, NULL, 'p'},
		{"bytes", required_argument, NULL, 'b'},
		{"count", required_argument, NULL, 'n'},
		{"concurrency", required_argument, NULL, 'c'},
		{"private", no_argument, NULL, 'P'},
		{"zero-copy", no_argument, NULL, 'z'},
		{"timeout", required_argument, NULL, 't'},
		{"socket", required_argument, NULL, 's'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct hc_options opts;
	struct hc_sock *s;
	struct sockaddr_storage dest;
	socklen_t dest_len;
	const char *server = NULL;
	char err[256];
	unsigned long port = 4000, bytes = 100, count = 1000, conc = 1;
	long timeout = 10000;
	bool priv = false, zero_copy = false, quiet = false;
	int family = AF_INET, c, rc, status = 0;
	uint8_t *req, *scratch;
	uint64_t *lat, sent = 0, done = 0, oldest = 0, t0, elapsed;
	struct slot *slots;

	hc_options_init(&opts);
	while ((c = getopt_long(argc, argv, "46S:p:b:n:c:Pzt:s:qh", longopts,
				NULL)) != -1) {
		switch (c) {
		case '4':
			family = AF_INET;
			break;
		case '6':
			family = AF_INET6;
			break;
		case 'S':
			server = optarg;
			break;
		case 'p':
			port = strtoul(optarg, NULL, 0);
			break;
		case 'b':
			bytes = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			count = strtoul(optarg, NULL, 0);
			break;
		case 'c':
			conc = strtoul(optarg, NULL, 0);
			break;
		case 'P':
			priv = true;
			break;
		case 'z':
			zero_copy = true;
			break;
		case 't':
			timeout = strtol(optarg, NULL, 0);
			break;
		case 's':
			opts.socket_path = optarg;
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
	if (server == NULL || optind != argc || port == 0 || port > 65535 ||
	    bytes == 0 || bytes > HC_MAX_MESSAGE_LENGTH || count == 0 ||
	    conc == 0 || conc > 100000 || timeout <= 0) {
		usage(stderr);
		return 2;
	}
	if (conc > count)
		conc = count;

	memset(&dest, 0, sizeof(dest));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&dest;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, server, &in->sin_addr) != 1) {
			fprintf(stderr,
				"echo_client: %s: not an IPv4 "
				"address\n",
				server);
			return 2;
		}
		dest_len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&dest;
		struct in_addr v4;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, server, &v4) == 1) {
			in6->sin6_addr.s6_addr[10] = 0xff;
			in6->sin6_addr.s6_addr[11] = 0xff;
			memcpy(&in6->sin6_addr.s6_addr[12], &v4, 4);
		} else if (inet_pton(AF_INET6, server, &in6->sin6_addr) != 1) {
			fprintf(stderr, "echo_client: %s: not an address\n",
				server);
			return 2;
		}
		dest_len = sizeof(*in6);
	}

	req = malloc(bytes);
	scratch = malloc(bytes);
	lat = calloc(count, sizeof(*lat));
	slots = calloc(count, sizeof(*slots));
	if (req == NULL || scratch == NULL || lat == NULL || slots == NULL) {
		fprintf(stderr, "echo_client: out of memory\n");
		return 1;
	}
	rc = hc_open(&s, family, &opts);
	if (rc < 0) {
		fprintf(stderr, "echo_client: %s\n",
			hc_last_error(NULL, err, sizeof(err)));
		return 1;
	}

	t0 = now_ns();
	while (done < count && status == 0) {
		/* Keep conc requests outstanding; slots[seq] for each. */
		while (sent < count && sent - done < conc) {
			struct slot *sl = &slots[sent];
			int flags = priv ? HC_PRIVATE : 0;

			sl->start_ns = now_ns();
			if (zero_copy) {
				struct hc_txbuf b;

				rc = hc_tx_reserve(s, bytes, 0, &b);
				if (rc == 0) {
					fill(b.data, bytes, sent);
					rc = hc_send_request_buf(
						s, (struct sockaddr *)&dest,
						dest_len, &b, bytes, sent,
						flags, &sl->id);
					if (rc < 0)
						hc_tx_cancel(s, &b);
				}
			} else {
				fill(req, bytes, sent);
				rc = hc_send_request(
					s, (struct sockaddr *)&dest, dest_len,
					req, bytes, sent, flags, &sl->id);
			}
			if (rc < 0) {
				fprintf(stderr, "echo_client: send: %s (%s)\n",
					hc_strerror(rc),
					hc_last_error(s, err, sizeof(err)));
				status = 1;
				break;
			}
			sl->busy = true;
			sent++;
		}
		if (status != 0)
			break;

		struct hc_msg m;
		uint64_t seq;

		/* Private: the oldest outstanding one, by id. */
		while (oldest < sent && !slots[oldest].busy)
			oldest++;
		rc = hc_recv(s, priv ? slots[oldest].id : 0, (int)timeout, &m);
		if (rc < 0) {
			fprintf(stderr,
				"echo_client: recv after %llu responses: %s\n",
				(unsigned long long)done, hc_strerror(rc));
			status = 1;
			break;
		}
		seq = m.cookie;
		if (m.error != 0) {
			fprintf(stderr,
				"echo_client: RPC %llu (request %llu) "
				"failed: %s\n",
				(unsigned long long)m.id,
				(unsigned long long)seq, hc_strerror(m.error));
			status = 1;
			break;
		}
		if (seq >= sent || !slots[seq].busy || slots[seq].id != m.id) {
			fprintf(stderr,
				"echo_client: unexpected response id %llu "
				"cookie %llu\n",
				(unsigned long long)m.id,
				(unsigned long long)seq);
			status = 1;
			hc_recycle(s, &m);
			break;
		}
		lat[done] = now_ns() - slots[seq].start_ns;
		slots[seq].busy = false;
		if (check(s, &m, seq, bytes, scratch) < 0)
			status = 1;
		hc_recycle(s, &m);
		done++;
	}
	elapsed = now_ns() - t0;

	if (status == 0 && !quiet && done > 0) {
		qsort(lat, done, sizeof(*lat), cmp_u64);
		printf("echo_client: %llu RPCs of %lu bytes, all correct, "
		       "%.0f RPCs/s\n",
		       (unsigned long long)done, bytes,
		       (double)done * 1e9 / (double)elapsed);
		printf("latency us: min %.1f p50 %.1f p90 %.1f p99 %.1f "
		       "p99.9 %.1f max %.1f\n",
		       lat[0] / 1e3, lat[done * 50 / 100] / 1e3,
		       lat[done * 90 / 100] / 1e3, lat[done * 99 / 100] / 1e3,
		       lat[done * 999 / 1000] / 1e3, lat[done - 1] / 1e3);
	}
	hc_close(s);
	free(req);
	free(scratch);
	free(lat);
	free(slots);
	return status;
}
