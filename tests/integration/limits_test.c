/*
 * limits_test.c - homad's per-client limits, seen by an application
 * through libhomaclient (limits.sh sets them in homa.conf):
 *   limits_test memory MAX_CLIENT_MEMORY
 *       sockets of 256 KiB rx + 256 KiB tx each open until the next would
 *       exceed MAX_CLIENT_MEMORY; that one must fail with ENOMEM.
 *   limits_test sink PORT
 *       a server socket bound to PORT that never answers (until killed).
 *   limits_test rpcs N SERVER_ADDR PORT
 *       N requests to a server that never answers are accepted; request
 *       N + 1 fails at once with ENOBUFS (limits.max_rpcs_per_client = N).
 * Exit 0 when homad behaves so, 1 otherwise (with the reason).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <homa/client.h>

#define REGION (256u * 1024u)

static int fail(const char *what, int err)
{
	printf("FAIL: %s: %s\n", what, hc_strerror(err));
	return 1;
}

/* A socket with small regions (the limits are small in limits.sh). */
static int open_small(struct hc_sock **s)
{
	struct hc_options o;

	hc_options_init(&o);
	o.rx_pool_bytes = REGION;
	o.tx_area_bytes = REGION;
	return hc_open(s, AF_INET, &o);
}

static int test_memory(unsigned long long max)
{
	struct hc_sock *s[64];
	unsigned n = 0, expect = (unsigned)(max / (2 * REGION));
	int err = 0;

	while (n < 64) {
		err = open_small(&s[n]);
		if (err < 0)
			break;
		n++;
	}
	for (unsigned i = 0; i < n; i++)
		hc_close(s[i]);
	if (err != -ENOMEM)
		return fail("the socket over limits.max_client_memory", err);
	if (n != expect) {
		printf("FAIL: %u sockets opened, expected %u\n", n, expect);
		return 1;
	}
	printf("%u sockets of 512 KiB fit in %llu bytes; the next: ENOMEM\n", n,
	       max);
	return 0;
}

static int test_rpcs(unsigned n, const char *addr, unsigned port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct hc_sock *s;
	struct hc_msg m;
	char byte = 'x';
	uint64_t id;
	int err;

	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		return fail("bad address", -EINVAL);
	err = open_small(&s);
	if (err < 0)
		return fail("hc_open", err);
	for (unsigned i = 0; i <= n; i++) {
		err = hc_send_request(s, (struct sockaddr *)&sin, sizeof(sin),
				      &byte, 1, i, 0, &id);
		if (err < 0)
			return fail("hc_send_request", err);
	}
	/* The one over the limit comes back failed, and nothing else. */
	err = hc_recv(s, 0, 2000, &m);
	if (err < 0)
		return fail("waiting for the refused request", err);
	if (m.error != ENOBUFS || m.cookie != n) {
		printf("FAIL: request %llu: error %d, expected ENOBUFS for "
		       "request %u\n",
		       (unsigned long long)m.cookie, m.error, n);
		return 1;
	}
	err = hc_recv(s, 0, 200, &m);
	if (err != -EAGAIN)
		return fail("another event arrived", err < 0 ? err : -EIO);
	hc_close(s);
	printf("%u requests outstanding; request %u: ENOBUFS\n", n, n + 1);
	return 0;
}

static int sink(unsigned port)
{
	struct hc_sock *s;
	int err = open_small(&s);

	if (err < 0)
		return fail("hc_open", err);
	err = hc_bind(s, port);
	if (err < 0)
		return fail("hc_bind", err);
	printf("listening on port %u\n", port);
	fflush(stdout);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "memory") == 0)
		return test_memory(strtoull(argv[2], NULL, 0));
	if (argc == 3 && strcmp(argv[1], "sink") == 0)
		return sink((unsigned)atoi(argv[2]));
	if (argc == 5 && strcmp(argv[1], "rpcs") == 0)
		return test_rpcs((unsigned)atoi(argv[2]), argv[3],
				 (unsigned)atoi(argv[4]));
	fprintf(stderr, "usage: limits_test memory BYTES | sink PORT | "
			"rpcs N ADDR PORT\n");
	return 2;
}
