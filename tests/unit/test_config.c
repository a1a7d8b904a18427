/*
 * test_config.c - unit tests of daemon/conf.c: defaults, the shipped
 * conf/homa.conf, every key read, and the exact text of every kind of error.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "daemon/log.h"

/* The source tree: VECTORS_DIR is "<abs srcdir>/tests/vectors". */
static void top_srcdir(char *buf, size_t n)
{
	const char *suffix = "/tests/vectors";
	size_t len = strlen(VECTORS_DIR);

	ck_assert_uint_gt(len, strlen(suffix));
	ck_assert_str_eq(&VECTORS_DIR[len - strlen(suffix)], suffix);
	snprintf(buf, n, "%.*s", (int)(len - strlen(suffix)), VECTORS_DIR);
}

/* Path of the current temporary config file ("" when none). */
static char tmp_path[64];

/* Write text to a fresh temporary file; its name goes to tmp_path. */
static void tmp_write(const char *text)
{
	int fd;

	snprintf(tmp_path, sizeof(tmp_path), "/tmp/homa-test-conf-XXXXXX");
	fd = mkstemp(tmp_path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void tmp_remove(void)
{
	if (tmp_path[0] != '\0')
		unlink(tmp_path);
	tmp_path[0] = '\0';
}

/* Load text as a file into cfg; returns config_load's result. */
static int load_text(const char *text, struct homa_config *cfg, char *err,
		     size_t errlen)
{
	int rc;

	tmp_write(text);
	rc = config_load(cfg, tmp_path, err, errlen);
	tmp_remove();
	return rc;
}

/* Load a valid text; fails the test with the error otherwise. */
static void load_ok(const char *text, struct homa_config *cfg)
{
	char err[512] = "";

	config_defaults(cfg);
	if (load_text(text, cfg, err, sizeof(err)) != 0)
		ck_abort_msg("unexpected error: %s", err);
}

/*
 * Load an invalid text: it must fail with exactly "<file>:<line>: <msg>"
 * (or "<file>: <msg>" for line 0), and leave cfg untouched.
 */
static void load_err(const char *text, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void load_err(const char *text, int line, const char *fmt, ...)
{
	struct homa_config cfg, before;
	char err[512] = "", msg[400], want[512], path[64];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	config_defaults(&cfg);
	cfg.proto.max_overcommit = 77; /* a marker: must survive */
	before = cfg;
	tmp_write(text);
	snprintf(path, sizeof(path), "%s", tmp_path);
	rc = config_load(&cfg, path, err, sizeof(err));
	tmp_remove();
	if (line > 0)
		snprintf(want, sizeof(want), "%s:%d: %s", path, line, msg);
	else
		snprintf(want, sizeof(want), "%s: %s", path, msg);
	ck_assert_msg(rc == -1, "accepted: %s", text);
	ck_assert_str_eq(err, want);
	ck_assert_uint_eq(cfg.proto.max_overcommit, 77);
	ck_assert_str_eq(cfg.path, before.path);
}

/* Every field of a and b, compared one by one (no padding compared). */
static void assert_same(const struct homa_config *a,
			const struct homa_config *b)
{
	const struct homa_params *p = &a->proto, *q = &b->proto;

#define SAME(f)                                          \
	ck_assert_msg(p->f == q->f, #f ": %llu != %llu", \
		      (unsigned long long)p->f, (unsigned long long)q->f)
	SAME(link_mbps);
	SAME(unsched_bytes);
	SAME(max_nic_est_backlog_usecs);
	SAME(max_nic_queue_usecs);
	SAME(defer_min_bytes);
	SAME(pacer_fifo_fraction);
	SAME(max_overcommit);
	SAME(max_incoming);
	SAME(max_sched_prio);
	SAME(num_priorities);
	SAME(fifo_grant_increment);
	SAME(grant_fifo_fraction);
	for (int i = 0; i < HOMA_NUM_PRIORITIES; i++)
		SAME(unsched_cutoffs[i]);
	SAME(cutoff_version);
	SAME(resend_ticks);
	SAME(resend_interval);
	SAME(timeout_ticks);
	SAME(request_ack_ticks);
	SAME(reap_limit);
	SAME(dead_buffs_limit);
	SAME(wmem_max);
	SAME(tick_usecs);
	SAME(mtu);
	SAME(max_rpcs);
	SAME(max_rpcs_per_peer);
	SAME(peer_pool_percent);
	SAME(max_peers);
	SAME(max_sockets);
	SAME(max_gaps);
	SAME(need_ack_timeout);
	SAME(live_peer_resends);
	SAME(stalled_peer_ticks);
	SAME(resend_peer_limit);
	SAME(peer_window_usecs);
	SAME(grant_pace_factor);
	SAME(unsched_from_rtt);
	SAME(incast_threshold);
	SAME(incast_unsched_bytes);
	SAME(n_rate_rules);
	for (unsigned i = 0; i < p->n_rate_rules; i++) {
		SAME(rate_rules[i].prefix_len);
		SAME(rate_rules[i].mbps);
		ck_assert_mem_eq(&p->rate_rules[i].prefix,
				 &q->rate_rules[i].prefix,
				 sizeof(p->rate_rules[i].prefix));
	}
#undef SAME
#define SAME(f)                                          \
	ck_assert_msg(a->f == b->f, #f ": %llu != %llu", \
		      (unsigned long long)a->f, (unsigned long long)b->f)
	SAME(link);
	SAME(udp_port);
	SAME(ipv4);
	SAME(ipv6);
	SAME(n_addresses);
	for (unsigned i = 0; i < a->n_addresses; i++)
		ck_assert_str_eq(a->addresses[i].text, b->addresses[i].text);
	SAME(n_interfaces);
	for (unsigned i = 0; i < a->n_interfaces; i++)
		ck_assert_str_eq(a->interfaces[i], b->interfaces[i]);
	SAME(mtu);
	SAME(rx_buffers);
	SAME(tx_queue);
	SAME(ring_entries);
	SAME(rcvbuf);
	SAME(ring_wait);
	ck_assert_str_eq(a->control_socket, b->control_socket);
	SAME(socket_mode);
	ck_assert_str_eq(a->socket_group, b->socket_group);
	ck_assert_str_eq(a->client_socket, b->client_socket);
	SAME(client_socket_mode);
	ck_assert_str_eq(a->client_socket_group, b->client_socket_group);
	SAME(n_bind_uids);
	for (unsigned i = 0; i < a->n_bind_uids; i++)
		SAME(bind_uids[i]);
	SAME(n_bind_gids);
	for (unsigned i = 0; i < a->n_bind_gids; i++)
		SAME(bind_gids[i]);
	SAME(n_direct_gids);
	for (unsigned i = 0; i < a->n_direct_gids; i++)
		SAME(direct_gids[i]);
	SAME(direct_receive);
	SAME(max_inline);
	ck_assert_str_eq(a->user, b->user);
	SAME(log_level);
	SAME(max_clients);
	SAME(max_sockets_per_client);
	SAME(max_direct_sockets);
	SAME(max_rpcs);
	SAME(max_peers);
	SAME(max_memory);
	SAME(max_client_memory);
	SAME(max_rpcs_per_client);
	SAME(test.seed);
	SAME(test.rx_reorder_us);
	SAME(test.tx_reorder_us);
	SAME(test.rx_delay_us);
	SAME(test.tx_delay_us);
	SAME(test.max_held);
#undef SAME
#define SAME(f) ck_assert_msg(a->f == b->f, #f ": %g != %g", a->f, b->f)
	SAME(test.rx_drop);
	SAME(test.tx_drop);
	SAME(test.rx_dup);
	SAME(test.tx_dup);
	SAME(test.rx_reorder);
	SAME(test.tx_reorder);
	SAME(test.rx_delay);
	SAME(test.tx_delay);
#undef SAME
}

START_TEST(config_defaults__values)
{
	struct homa_config c;
	const uint32_t cutoffs[8] = {0, 0, 0, 0, 1000000, 15000, 2800, 200};

	memset(&c, 0xa5, sizeof(c));
	config_defaults(&c);
	ck_assert_str_eq(c.path, "");
	ck_assert_uint_eq(c.proto.link_mbps, 25000);
	ck_assert_uint_eq(c.proto.unsched_bytes, 40000);
	ck_assert_uint_eq(c.proto.max_nic_est_backlog_usecs, 5);
	ck_assert_uint_eq(c.proto.max_nic_queue_usecs, 40);
	ck_assert_uint_eq(c.proto.defer_min_bytes, 1000);
	ck_assert_uint_eq(c.proto.pacer_fifo_fraction, 50);
	ck_assert_uint_eq(c.proto.max_overcommit, 8);
	ck_assert_uint_eq(c.proto.max_incoming, 0); /* from link_mbps */
	ck_assert_uint_eq(c.proto.max_sched_prio, 3);
	ck_assert_uint_eq(c.proto.num_priorities, 8);
	ck_assert_uint_eq(c.proto.fifo_grant_increment, 50000);
	ck_assert_uint_eq(c.proto.grant_fifo_fraction, 50);
	for (int i = 0; i < 8; i++)
		ck_assert_uint_eq(c.proto.unsched_cutoffs[i], cutoffs[i]);
	ck_assert_uint_eq(c.proto.cutoff_version, 1);
	ck_assert_uint_eq(c.proto.resend_ticks, 5);
	ck_assert_uint_eq(c.proto.resend_interval, 5);
	ck_assert_uint_eq(c.proto.timeout_ticks, 100);
	ck_assert_uint_eq(c.proto.request_ack_ticks, 2);
	ck_assert_uint_eq(c.proto.reap_limit, 10);
	ck_assert_uint_eq(c.proto.dead_buffs_limit, 5000);
	ck_assert_uint_eq(c.proto.wmem_max, 100000000);
	ck_assert_uint_eq(c.proto.tick_usecs, 1000);
	ck_assert_uint_eq(c.proto.max_rpcs, 100000);
	ck_assert_uint_eq(c.proto.max_rpcs_per_peer, 10000);
	ck_assert_uint_eq(c.proto.peer_pool_percent, 50);
	ck_assert_uint_eq(c.proto.max_peers, 10000);
	ck_assert_uint_eq(c.proto.max_sockets, 4096);
	ck_assert_uint_eq(c.proto.max_gaps, 256);
	ck_assert_uint_eq(c.proto.need_ack_timeout, 10);
	ck_assert_uint_eq(c.proto.live_peer_resends, 10);
	ck_assert_uint_eq(c.proto.stalled_peer_ticks, 1000);
	ck_assert_uint_eq(c.proto.resend_peer_limit, 16);
	ck_assert_uint_eq(c.proto.peer_window_usecs, 4000);
	ck_assert_uint_eq(c.proto.grant_pace_factor, 0);
	ck_assert_uint_eq(c.proto.n_rate_rules, 0);
	ck_assert_int_eq(c.link, HOMA_LINK_IP);
	ck_assert_uint_eq(c.udp_port, 4146);
	ck_assert(c.ipv4 && c.ipv6);
	ck_assert_uint_eq(c.n_addresses, 0);
	ck_assert_uint_eq(c.n_interfaces, 0);
	ck_assert_uint_eq(c.mtu, 0);
	ck_assert_uint_eq(c.rx_buffers, 512);
	ck_assert_uint_eq(c.tx_queue, 4096);
	ck_assert_uint_eq(c.ring_entries, 256);
	ck_assert_uint_eq(c.rcvbuf, 0);
	ck_assert_int_eq(c.ring_wait, HOMA_RING_WAIT_URING);
	ck_assert_str_eq(c.control_socket, "/run/homad/homad.sock");
	ck_assert_uint_eq(c.socket_mode, 0660);
	ck_assert_str_eq(c.socket_group, "");
	ck_assert_str_eq(c.client_socket, "/run/homad/homa.sock");
	ck_assert_uint_eq(c.client_socket_mode, 0666);
	ck_assert_str_eq(c.client_socket_group, "");
	ck_assert_uint_eq(c.n_bind_uids, 0);
	ck_assert_uint_eq(c.n_bind_gids, 0);
	ck_assert_uint_eq(c.max_inline, 1024);
	ck_assert_str_eq(c.user, "");
	ck_assert_int_eq(c.log_level, LOG_LEVEL_INFO);
	ck_assert_uint_eq(c.max_clients, 1024);
	ck_assert_uint_eq(c.max_sockets_per_client, 64);
	ck_assert_uint_eq(c.max_rpcs, 100000);
	ck_assert_uint_eq(c.max_peers, 10000);
	ck_assert_uint_eq(c.max_memory, 68719476736ULL);
	ck_assert_uint_eq(c.max_client_memory, 8589934592ULL);
	ck_assert_uint_eq(c.max_rpcs_per_client, 10000);
	/* Fault injection: all off. */
	ck_assert_uint_eq(c.test.seed, 0);
	ck_assert(c.test.rx_drop == 0.0 && c.test.tx_drop == 0.0);
	ck_assert(c.test.rx_dup == 0.0 && c.test.tx_dup == 0.0);
	ck_assert(c.test.rx_reorder == 0.0 && c.test.tx_reorder == 0.0);
	ck_assert(c.test.rx_delay == 0.0 && c.test.tx_delay == 0.0);
	ck_assert_uint_eq(c.test.rx_reorder_us, 100);
	ck_assert_uint_eq(c.test.tx_reorder_us, 100);
	ck_assert_uint_eq(c.test.rx_delay_us, 1000);
	ck_assert_uint_eq(c.test.tx_delay_us, 1000);
	ck_assert_uint_eq(c.test.max_held, 4096);
	ck_assert(!fault_params_active(&c.test));
}
END_TEST

START_TEST(config_defaults__engine_params)
{
	struct homa_config c, d;

	config_defaults(&c);
	config_defaults(&d);
	engine_params_default(&d.proto);
	assert_same(&c, &d);
}
END_TEST

/* The installed, commented example parses and sets only the defaults. */
START_TEST(config_load__shipped_conf)
{
	struct homa_config c, d;
	char src[4096], path[4200], err[512] = "";

	top_srcdir(src, sizeof(src));
	snprintf(path, sizeof(path), "%s/conf/homa.conf", src);
	config_defaults(&d);
	ck_assert_msg(config_load(&c, path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c.path, path);
	assert_same(&c, &d);
}
END_TEST

/*
 * The shipped file shows every key commented out as "#key = value;": with
 * those "#" removed it must still load, set every key once (a key set twice
 * is a syntax error) and give exactly the defaults, so the documented
 * defaults are the real ones.
 */
START_TEST(config_load__shipped_conf_uncommented)
{
	struct homa_config c, d;
	char src[4096], path[4200], line[512], err[512] = "";
	char *text;
	size_t len = 0, cap = 1 << 16;
	int settings = 0;
	FILE *f;

	top_srcdir(src, sizeof(src));
	snprintf(path, sizeof(path), "%s/conf/homa.conf", src);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	text = malloc(cap);
	ck_assert_ptr_nonnull(text);
	text[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line + strspn(line, " \t");

		if (p[0] == '#' && p[1] >= 'a' && p[1] <= 'z') {
			memmove(p, p + 1, strlen(p));
			settings++;
		}
		ck_assert_uint_lt(len + strlen(line), cap);
		memcpy(text + len, line, strlen(line) + 1);
		len += strlen(line);
	}
	fclose(f);
	/*
	 * 35 protocol, 14 network, 3 control, 8 clients, 2 daemon and 8
	 * limits keys, peers, and 14 test keys.
	 */
	ck_assert_int_eq(settings, 85);
	tmp_write(text);
	free(text);
	config_defaults(&d);
	ck_assert_msg(config_load(&c, tmp_path, err, sizeof(err)) == 0, "%s",
		      err);
	tmp_remove();
	assert_same(&c, &d);
}
END_TEST

START_TEST(config_load__empty_file)
{
	struct homa_config c, d;

	load_ok("", &c);
	config_defaults(&d);
	assert_same(&c, &d);
	load_ok("# only a comment\nprotocol = { };\n", &c);
	assert_same(&c, &d);
}
END_TEST

/* Every key, each set to something other than its default. */
START_TEST(config_load__every_key)
{
	const uint32_t cutoffs[8] = {7, 6, 5, 4, 900000, 10000, 2000, 100};
	struct homa_config c;
	struct in6_addr v6;

	load_ok("protocol = {\n"
		"  link_mbps = 100000; unsched_bytes = 60000;\n"
		"  max_nic_est_backlog_usecs = 7; max_nic_queue_usecs = 50;\n"
		"  defer_min_bytes = 2000; pacer_fifo_fraction = 100;\n"
		"  max_overcommit = 4; max_incoming = 800000;\n"
		"  max_sched_prio = 2; num_priorities = 6;\n"
		"  fifo_grant_increment = 60000; grant_fifo_fraction = 0;\n"
		"  unsched_cutoffs = [7, 6, 5, 4, 900000, 10000, 2000, 100];\n"
		"  cutoff_version = 9; resend_ticks = 6; resend_interval = 7;\n"
		"  timeout_ticks = 200; request_ack_ticks = 3;\n"
		"  reap_limit = 20; dead_buffs_limit = 6000;\n"
		"  wmem_max = 200000000; tick_usecs = 500;\n"
		"  max_rpcs_per_peer = 77; max_sockets = 88; max_gaps = 99;\n"
		"  need_ack_timeout = 0; live_peer_resends = 0;\n"
		"  stalled_peer_ticks = 0;\n"
		"  resend_peer_limit = 3; peer_window_usecs = 2500;\n"
		"  grant_pace_factor = 3;\n"
		"};\n"
		"clients = { socket = \"/tmp/c.sock\"; socket_mode = "
		"\"0660\";\n"
		"  socket_group = \"users\";\n"
		"  bind_users = [\"root\", \"1001\", \"nobody\"];\n"
		"  bind_groups = (\"root\", 1002, \"4000000000\");\n"
		"  direct_send_groups = (\"root\", 77);\n"
		"  direct_receive = false;\n"
		"  max_inline = 16384; };\n"
		"peers = ( { prefix = \"10.0.0.0/24\"; rate_mbps = 1000; },\n"
		"  { rate_mbps = 500; prefix = \"FD00::/64\"; },\n"
		"  { prefix = \"192.168.1.7\"; rate_mbps = 1; } );\n"
		"network = {\n"
		"  link = \"udp\"; udp_port = 5000; ipv4 = true; ipv6 = "
		"false;\n"
		"  addresses = [\"10.1.2.3\", \"127.0.0.1\"];\n"
		"  interfaces = (\"eth0\", \"veth-a.100\");\n"
		"  mtu = 9000; rx_buffers = 1024; tx_queue = 8192;\n"
		"  ring_entries = 512; ring_wait = \"poll\"; rcvbuf = 65536;\n"
		"};\n"
		"control = { socket = \"/tmp/h.sock\"; socket_mode = 384;\n"
		"  socket_group = \"homa\"; };\n"
		"daemon = { user = \"nobody\"; log_level = \"debug\"; };\n"
		"limits = { max_clients = 10; max_sockets_per_client = 2;\n"
		"  max_rpcs = 300; max_peers = 40; max_memory = 2097152;\n"
		"  max_client_memory = 3145728; max_rpcs_per_client = 77;\n"
		"  max_direct_sockets = 0; };\n",
		&c);
	ck_assert_uint_eq(c.n_direct_gids, 2);
	ck_assert_uint_eq(c.direct_gids[0], 0);
	ck_assert_uint_eq(c.direct_gids[1], 77);
	ck_assert(!c.direct_receive);
	ck_assert_uint_eq(c.max_direct_sockets, 0);
	ck_assert_uint_eq(c.proto.link_mbps, 100000);
	ck_assert_uint_eq(c.proto.unsched_bytes, 60000);
	ck_assert_uint_eq(c.proto.max_nic_est_backlog_usecs, 7);
	ck_assert_uint_eq(c.proto.max_nic_queue_usecs, 50);
	ck_assert_uint_eq(c.proto.defer_min_bytes, 2000);
	ck_assert_uint_eq(c.proto.pacer_fifo_fraction, 100);
	ck_assert_uint_eq(c.proto.max_overcommit, 4);
	ck_assert_uint_eq(c.proto.max_incoming, 800000);
	ck_assert_uint_eq(c.proto.max_sched_prio, 2);
	ck_assert_uint_eq(c.proto.num_priorities, 6);
	ck_assert_uint_eq(c.proto.fifo_grant_increment, 60000);
	ck_assert_uint_eq(c.proto.grant_fifo_fraction, 0);
	for (int i = 0; i < 8; i++)
		ck_assert_uint_eq(c.proto.unsched_cutoffs[i], cutoffs[i]);
	ck_assert_uint_eq(c.proto.cutoff_version, 9);
	ck_assert_uint_eq(c.proto.resend_ticks, 6);
	ck_assert_uint_eq(c.proto.resend_interval, 7);
	ck_assert_uint_eq(c.proto.timeout_ticks, 200);
	ck_assert_uint_eq(c.proto.request_ack_ticks, 3);
	ck_assert_uint_eq(c.proto.reap_limit, 20);
	ck_assert_uint_eq(c.proto.dead_buffs_limit, 6000);
	ck_assert_uint_eq(c.proto.wmem_max, 200000000);
	ck_assert_uint_eq(c.proto.tick_usecs, 500);
	ck_assert_uint_eq(c.proto.max_rpcs_per_peer, 77);
	ck_assert_uint_eq(c.proto.max_sockets, 88);
	ck_assert_uint_eq(c.proto.max_gaps, 99);
	ck_assert_uint_eq(c.proto.need_ack_timeout, 0);
	ck_assert_uint_eq(c.proto.live_peer_resends, 0);
	ck_assert_uint_eq(c.proto.stalled_peer_ticks, 0);
	ck_assert_uint_eq(c.proto.resend_peer_limit, 3);
	ck_assert_uint_eq(c.proto.peer_window_usecs, 2500);
	ck_assert_uint_eq(c.proto.grant_pace_factor, 3);
	/* limits.max_rpcs and max_peers are the engine's limits too. */
	ck_assert_uint_eq(c.proto.max_rpcs, 300);
	ck_assert_uint_eq(c.proto.max_peers, 40);
	ck_assert_str_eq(c.client_socket, "/tmp/c.sock");
	ck_assert_uint_eq(c.client_socket_mode, 0660);
	ck_assert_str_eq(c.client_socket_group, "users");
	ck_assert_uint_eq(c.n_bind_uids, 3);
	ck_assert_uint_eq(c.bind_uids[0], 0);
	ck_assert_uint_eq(c.bind_uids[1], 1001);
	ck_assert_uint_eq(c.bind_uids[2], getpwnam("nobody")->pw_uid);
	ck_assert_uint_eq(c.n_bind_gids, 3);
	ck_assert_uint_eq(c.bind_gids[0], 0);
	ck_assert_uint_eq(c.bind_gids[1], 1002);
	ck_assert_uint_eq(c.bind_gids[2], 4000000000u);
	ck_assert_uint_eq(c.max_inline, 16384);
	ck_assert_uint_eq(c.proto.n_rate_rules, 3);
	inet_pton(AF_INET6, "::ffff:10.0.0.0", &v6);
	ck_assert_mem_eq(&c.proto.rate_rules[0].prefix.in6, &v6, sizeof(v6));
	ck_assert_uint_eq(c.proto.rate_rules[0].prefix_len, 96 + 24);
	ck_assert_uint_eq(c.proto.rate_rules[0].mbps, 1000);
	inet_pton(AF_INET6, "fd00::", &v6);
	ck_assert_mem_eq(&c.proto.rate_rules[1].prefix.in6, &v6, sizeof(v6));
	ck_assert_uint_eq(c.proto.rate_rules[1].prefix_len, 64);
	ck_assert_uint_eq(c.proto.rate_rules[1].mbps, 500);
	inet_pton(AF_INET6, "::ffff:192.168.1.7", &v6);
	ck_assert_mem_eq(&c.proto.rate_rules[2].prefix.in6, &v6, sizeof(v6));
	ck_assert_uint_eq(c.proto.rate_rules[2].prefix_len, 128);
	ck_assert_uint_eq(c.proto.rate_rules[2].mbps, 1);
	ck_assert_int_eq(c.link, HOMA_LINK_UDP);
	ck_assert_uint_eq(c.udp_port, 5000);
	ck_assert(c.ipv4);
	ck_assert(!c.ipv6);
	ck_assert_uint_eq(c.n_addresses, 2);
	ck_assert_int_eq(c.addresses[0].family, AF_INET);
	ck_assert_uint_eq(c.addresses[0].a.v4.s_addr, htonl(0x0a010203));
	ck_assert_str_eq(c.addresses[0].text, "10.1.2.3");
	ck_assert_str_eq(c.addresses[1].text, "127.0.0.1");
	ck_assert_uint_eq(c.n_interfaces, 2);
	ck_assert_str_eq(c.interfaces[0], "eth0");
	ck_assert_str_eq(c.interfaces[1], "veth-a.100");
	ck_assert_uint_eq(c.mtu, 9000);
	ck_assert_uint_eq(c.rx_buffers, 1024);
	ck_assert_uint_eq(c.tx_queue, 8192);
	ck_assert_uint_eq(c.ring_entries, 512);
	ck_assert_uint_eq(c.rcvbuf, 65536);
	ck_assert_int_eq(c.ring_wait, HOMA_RING_WAIT_POLL);
	ck_assert_str_eq(c.control_socket, "/tmp/h.sock");
	ck_assert_uint_eq(c.socket_mode, 0600);
	ck_assert_str_eq(c.socket_group, "homa");
	ck_assert_str_eq(c.user, "nobody");
	ck_assert_int_eq(c.log_level, LOG_LEVEL_DEBUG);
	ck_assert_uint_eq(c.max_clients, 10);
	ck_assert_uint_eq(c.max_sockets_per_client, 2);
	ck_assert_uint_eq(c.max_rpcs, 300);
	ck_assert_uint_eq(c.max_peers, 40);
	ck_assert_uint_eq(c.max_memory, 2097152);
	ck_assert_uint_eq(c.max_client_memory, 3145728);
	ck_assert_uint_eq(c.max_rpcs_per_client, 77);

	/* IPv6 addresses are normalized; the family follows the text. */
	load_ok("network = { ipv4 = false;\n"
		"  addresses = [\"FD00:0:0::1\", \"::1\"]; };\n",
		&c);
	ck_assert_uint_eq(c.n_addresses, 2);
	ck_assert_int_eq(c.addresses[0].family, AF_INET6);
	ck_assert_str_eq(c.addresses[0].text, "fd00::1");
	inet_pton(AF_INET6, "fd00::1", &v6);
	ck_assert_mem_eq(&c.addresses[0].a.v6, &v6, sizeof(v6));
	ck_assert_str_eq(c.addresses[1].text, "::1");
	ck_assert(!c.ipv4);
	ck_assert(c.ipv6);

	/* Empty arrays mean "any" / "all". */
	load_ok("network = { addresses = []; interfaces = []; };\n", &c);
	ck_assert_uint_eq(c.n_addresses, 0);
	ck_assert_uint_eq(c.n_interfaces, 0);
}
END_TEST

/* An absent group or key keeps its default. */
START_TEST(config_load__partial)
{
	struct homa_config c, d;

	load_ok("protocol = { max_overcommit = 3; };\n", &c);
	config_defaults(&d);
	d.proto.max_overcommit = 3;
	assert_same(&c, &d);
}
END_TEST

START_TEST(config_load__limits_of_ranges)
{
	struct homa_config c;

	load_ok("protocol = { max_overcommit = 1; link_mbps = 1000000;\n"
		"  max_sched_prio = 0; num_priorities = 1;\n"
		"  unsched_cutoffs = [1000000, 0, 0, 0, 0, 0, 0, 0]; };\n"
		"network = { mtu = 576; udp_port = 65535; };\n"
		"control = { socket_mode = 0; };\n",
		&c);
	ck_assert_uint_eq(c.proto.max_overcommit, 1);
	ck_assert_uint_eq(c.proto.link_mbps, 1000000);
	ck_assert_uint_eq(c.proto.num_priorities, 1);
	ck_assert_uint_eq(c.proto.unsched_cutoffs[0], 1000000);
	ck_assert_uint_eq(c.mtu, 576);
	ck_assert_uint_eq(c.udp_port, 65535);
	ck_assert_uint_eq(c.socket_mode, 0);
	load_ok("protocol = { max_overcommit = 128; };\n"
		"network = { mtu = 65535; };\n",
		&c);
	ck_assert_uint_eq(c.proto.max_overcommit, 128);
	ck_assert_uint_eq(c.mtu, 65535);
	load_ok("network = { mtu = 0; };\n", &c);
	ck_assert_uint_eq(c.mtu, 0);
}
END_TEST

START_TEST(config_load__int64_keys)
{
	struct homa_config c;

	load_ok("protocol = { wmem_max = 5000000000L; };\n"
		"limits = { max_memory = 1099511627776L; };\n",
		&c);
	ck_assert_uint_eq(c.proto.wmem_max, 5000000000ULL);
	ck_assert_uint_eq(c.max_memory, 1099511627776ULL);
	/* Plain integers for 64-bit keys; L integers for 32-bit keys. */
	load_ok("protocol = { wmem_max = 1000; max_overcommit = 4L; };\n"
		"limits = { max_memory = 0x100000; };\n",
		&c);
	ck_assert_uint_eq(c.proto.wmem_max, 1000);
	ck_assert_uint_eq(c.proto.max_overcommit, 4);
	ck_assert_uint_eq(c.max_memory, 1048576);
	load_err("limits = { max_memory = 1099511627777L; };\n", 1,
		 "max_memory = 1099511627777 is out of range "
		 "(1048576..1099511627776)");
	load_err("protocol = { max_overcommit = 129L; };\n", 1,
		 "max_overcommit = 129 is out of range (1..128)");
}
END_TEST

/* libconfig cuts plain integers to 32 bits: such literals are refused. */
START_TEST(config_load__int_too_big_for_32_bits)
{
	load_err("limits = {\n max_memory = 5000000000;\n};\n", 2,
		 "max_memory = 5000000000 needs an L suffix to be read as a "
		 "64-bit integer (write 5000000000L)");
	load_err("protocol = {\n\n max_overcommit = 4294967297; };\n", 3,
		 "max_overcommit = 4294967297 is out of range (1..128)");
	load_err("protocol = { unsched_cutoffs = [0, 0, 0,\n"
		 "  4294967296, 0, 0, 0, 0]; };\n",
		 2,
		 "unsched_cutoffs[3] = 4294967296 is out of range "
		 "(0..1000000)");
	load_err("protocol = { max_overcommit = 0x80000000; };\n", 1,
		 "max_overcommit = 0x80000000 is out of range (1..128)");
	load_err("protocol = { wmem_max = 99999999999999999999L; };\n", 1,
		 "wmem_max = 99999999999999999999L is out of range "
		 "(1..1099511627776)");
	load_err("limits = { max_memory = -5000000000; };\n", 1,
		 "max_memory = -5000000000 is out of range "
		 "(1048576..1099511627776)");
}
END_TEST

START_TEST(config_load__out_of_range)
{
	struct homa_config c;

	/* max_incoming takes 0: derived from link_mbps. */
	load_ok("protocol = { max_incoming = 0; };\n", &c);
	ck_assert_uint_eq(c.proto.max_incoming, 0);
	load_ok("protocol = { max_incoming = 30000; };\n", &c);
	ck_assert_uint_eq(c.proto.max_incoming, 30000);
	load_err("protocol = { max_incoming = -1; };\n", 1,
		 "max_incoming = -1 is out of range (0 or 1..1000000000)");
	load_err("# comment\nprotocol = {\n  max_overcommit = 0;\n};\n", 3,
		 "max_overcommit = 0 is out of range (1..128)");
	load_err("protocol = { max_overcommit = 129; };\n", 1,
		 "max_overcommit = 129 is out of range (1..128)");
	load_err("protocol = { max_overcommit = -1; };\n", 1,
		 "max_overcommit = -1 is out of range (1..128)");
	load_err("protocol = { link_mbps = 1000001; };\n", 1,
		 "link_mbps = 1000001 is out of range (1..1000000)");
	load_err("protocol = { unsched_bytes = 0; };\n", 1,
		 "unsched_bytes = 0 is out of range (1..1000000)");
	load_err("protocol = { num_priorities = 9; };\n", 1,
		 "num_priorities = 9 is out of range (1..8)");
	load_err("protocol = { max_sched_prio = 8; };\n", 1,
		 "max_sched_prio = 8 is out of range (0..7)");
	load_err("protocol = { cutoff_version = 0; };\n", 1,
		 "cutoff_version = 0 is out of range (1..65535)");
	load_err("protocol = { tick_usecs = 99; };\n", 1,
		 "tick_usecs = 99 is out of range (100..100000)");
	load_err("protocol = { wmem_max = 0; };\n", 1,
		 "wmem_max = 0 is out of range (1..1099511627776)");
	load_err("network = { udp_port = 0; };\n", 1,
		 "udp_port = 0 is out of range (1..65535)");
	load_err("network = { udp_port = 65536; };\n", 1,
		 "udp_port = 65536 is out of range (1..65535)");
	load_err("network = { mtu = 575; };\n", 1,
		 "mtu = 575 is out of range (0 or 576..65535)");
	load_err("network = { mtu = 65536; };\n", 1,
		 "mtu = 65536 is out of range (0 or 576..65535)");
	load_err("network = { rx_buffers = 500; };\n", 1,
		 "rx_buffers = 500 is not a power of two");
	load_err("network = { rx_buffers = 8; };\n", 1,
		 "rx_buffers = 8 is out of range (16..32768)");
	load_err("network = { rcvbuf = 1023; };\n", 1,
		 "rcvbuf = 1023 is out of range (0 or 1024..1073741824)");
	load_err("limits = { max_clients = 0; };\n", 1,
		 "max_clients = 0 is out of range (1..65536)");
	load_err("limits = { max_memory = 1048575; };\n", 1,
		 "max_memory = 1048575 is out of range "
		 "(1048576..1099511627776)");
}
END_TEST

START_TEST(config_load__wrong_type)
{
	load_err("protocol = {\n\n\n\n\n\n  link_mbps = \"fast\";\n};\n", 7,
		 "link_mbps = \"fast\" has the wrong type (integer expected)");
	load_err("protocol = { link_mbps = 1.5; };\n", 1,
		 "link_mbps = 1.5 has the wrong type (integer expected)");
	load_err("protocol = { link_mbps = true; };\n", 1,
		 "link_mbps = true has the wrong type (integer expected)");
	load_err("protocol = { link_mbps = [1]; };\n", 1,
		 "link_mbps = [ ... ] has the wrong type (integer expected)");
	load_err("network = { ipv4 = 1; };\n", 1,
		 "ipv4 = 1 has the wrong type (boolean expected)");
	load_err("network = { link = 1; };\n", 1,
		 "link = 1 has the wrong type (string expected)");
	load_err("daemon = { user = 0; };\n", 1,
		 "user = 0 has the wrong type (string expected)");
	load_err("network = { addresses = \"10.0.0.1\"; };\n", 1,
		 "addresses = \"10.0.0.1\" has the wrong type (array of "
		 "strings expected)");
	load_err("network = { addresses = [1]; };\n", 1,
		 "addresses[0] = 1 has the wrong type (string expected)");
	load_err("network = { interfaces = ( \"eth0\", 2 ); };\n", 1,
		 "interfaces[1] = 2 has the wrong type (string expected)");
	load_err("protocol = { unsched_cutoffs = 5; };\n", 1,
		 "unsched_cutoffs = 5 has the wrong type (array of 8 "
		 "integers expected)");
	load_err("protocol = { unsched_cutoffs = (0, 0, 0, \"x\", 0, 0, 0, "
		 "0); };\n",
		 1,
		 "unsched_cutoffs[3] = \"x\" has the wrong type (integer "
		 "expected)");
	load_err("control = { socket_mode = true; };\n", 1,
		 "socket_mode = true has the wrong type (integer or octal "
		 "string expected)");
	load_err("\nprotocol = 5;\n", 2,
		 "protocol = 5 has the wrong type (group expected)");
	load_err("limits = { max_memory = \"1G\"; };\n", 1,
		 "max_memory = \"1G\" has the wrong type (integer expected)");
}
END_TEST

START_TEST(config_load__unknown_key)
{
	load_err("\n\nprotocol = { foo = 1; };\n", 3,
		 "unknown key 'protocol.foo'");
	load_err("network = {\n link_mbps = 1; };\n", 2,
		 "unknown key 'network.link_mbps'");
	load_err("daemon = { sub = { a = 1; }; };\n", 1,
		 "unknown key 'daemon.sub'");
	load_err("verbose = true;\n", 1, "unknown key 'verbose'");
	load_err("link_mbps = 1000;\n", 1,
		 "unknown key 'link_mbps' (it belongs in the protocol group)");
}
END_TEST

START_TEST(config_load__unknown_group)
{
	load_err("protocol = { };\nfoo = { a = 1; };\n", 2,
		 "unknown group 'foo'");
	load_err("Protocol = { };\n", 1, "unknown group 'Protocol'");
}
END_TEST

START_TEST(config_load__syntax_error)
{
	load_err("protocol = {\n  link_mbps = ;\n};\n", 2, "syntax error");
	load_err("protocol = { link_mbps = 1 2; };\n", 1, "syntax error");
	load_err("protocol = {\n max_overcommit = 1;\n max_overcommit = 2;\n"
		 "};\n",
		 3, "syntax error: duplicate setting name");
	load_err("network = { addresses = [\"a\", 1]; };\n", 1,
		 "syntax error: mismatched element type in array");
	load_err("@include \"other.conf\"\n", 1, "@include is not supported");
}
END_TEST

START_TEST(config_load__missing_file)
{
	struct homa_config c;
	char err[512];

	config_defaults(&c);
	c.proto.max_overcommit = 77;
	ck_assert_int_eq(
		config_load(&c, "/nonexistent/homa.conf", err, sizeof(err)),
		-1);
	ck_assert_str_eq(err,
			 "/nonexistent/homa.conf: No such file or directory");
	ck_assert_uint_eq(c.proto.max_overcommit, 77);
	/* Explicit: must exist. */
	ck_assert_int_eq(config_load_default(&c, "/nonexistent/homa.conf", true,
					     err, sizeof(err)),
			 -1);
	ck_assert_str_eq(err,
			 "/nonexistent/homa.conf: No such file or directory");
	ck_assert_uint_eq(c.proto.max_overcommit, 77);
	/* A directory is not a file. */
	ck_assert_int_eq(config_load(&c, "/tmp", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "/tmp: Is a directory");
}
END_TEST

/* Files that are not text of a sane size are refused before parsing. */
START_TEST(config_load__nul_and_huge_files)
{
	struct homa_config c;
	char err[512], want[600];
	int fd;

	config_defaults(&c);
	tmp_write("");
	fd = open(tmp_path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "a = 1;\0\n", 8), 8);
	close(fd);
	ck_assert_int_eq(config_load(&c, tmp_path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: file contains a NUL byte", tmp_path);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(truncate(tmp_path, 1024 * 1024 + 1), 0);
	ck_assert_int_eq(config_load(&c, tmp_path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: file larger than 1048576 bytes",
		 tmp_path);
	ck_assert_str_eq(err, want);
	tmp_remove();
}
END_TEST

/* The text entry point: the same result and messages as the file's. */
START_TEST(config_load_text__same_as_file)
{
	static const char good[] = "protocol = { max_overcommit = 3; };\n"
				   "limits = { max_memory = 5000000000L; };\n";
	static const char bad[] = "protocol = {\n\tmax_overcommit = 0;\n};\n";
	struct homa_config a, b;
	char err[512], want[600];
	static char big[1024 * 1024 + 1];

	memset(&a, 0x5a, sizeof(a));
	ck_assert_msg(config_load_text(&a, "x.conf", good, strlen(good), err,
				       sizeof(err)) == 0,
		      "%s", err);
	ck_assert_str_eq(a.path, "x.conf");
	ck_assert_uint_eq(a.proto.max_overcommit, 3);
	ck_assert_uint_eq(a.max_memory, UINT64_C(5000000000));
	tmp_write(good);
	memset(&b, 0x5a, sizeof(b));
	ck_assert_int_eq(config_load(&b, tmp_path, err, sizeof(err)), 0);
	tmp_remove();
	memset(b.path, 0, sizeof(b.path));
	strcpy(b.path, "x.conf");
	ck_assert_int_eq(memcmp(&a, &b, sizeof(a)), 0);

	/* Errors name the text like a file, and leave cfg alone. */
	memset(&b, 0x5a, sizeof(b));
	ck_assert_int_eq(config_load_text(&b, "x.conf", bad, strlen(bad), err,
					  sizeof(err)),
			 -1);
	ck_assert_str_eq(err, "x.conf:2: max_overcommit = 0 is out of range "
			      "(1..128)");
	memset(&a, 0x5a, sizeof(a));
	ck_assert_int_eq(memcmp(&a, &b, sizeof(a)), 0);

	/* Not NUL-terminated: only len bytes are read. */
	ck_assert_int_eq(config_load_text(&b, "x.conf", "a = 1;\0\n", 8, err,
					  sizeof(err)),
			 -1);
	ck_assert_str_eq(err, "x.conf: file contains a NUL byte");
	ck_assert_int_eq(
		config_load_text(&b, "x.conf", good, 10, err, sizeof(err)), -1);
	memset(big, ' ', sizeof(big));
	ck_assert_int_eq(config_load_text(&b, "x.conf", big, sizeof(big), err,
					  sizeof(err)),
			 -1);
	snprintf(want, sizeof(want), "x.conf: file larger than 1048576 bytes");
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(config_load_text(&b, "x.conf", big, sizeof(big) - 1,
					  err, sizeof(err)),
			 0);
}
END_TEST

START_TEST(config_load_default__missing_default_file)
{
	struct homa_config c, d;
	char err[512] = "x";

	memset(&c, 0, sizeof(c));
	c.proto.max_overcommit = 77;
	snprintf(c.path, sizeof(c.path), "/old/path");
	ck_assert_int_eq(config_load_default(&c, "/nonexistent/homa.conf",
					     false, err, sizeof(err)),
			 0);
	config_defaults(&d);
	assert_same(&c, &d);
	ck_assert_str_eq(c.path, "");
}
END_TEST

START_TEST(config_load_default__existing_file)
{
	struct homa_config c;
	char err[512] = "";
	char path[64];

	tmp_write("protocol = { max_overcommit = 5; };\n");
	snprintf(path, sizeof(path), "%s", tmp_path);
	config_defaults(&c);
	ck_assert_int_eq(config_load_default(&c, path, false, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(c.proto.max_overcommit, 5);
	ck_assert_str_eq(c.path, path);
	tmp_remove();

	/* A bad default file is an error, not a silent fallback. */
	tmp_write("protocol = { max_overcommit = 0; };\n");
	snprintf(path, sizeof(path), "%s", tmp_path);
	ck_assert_int_eq(config_load_default(&c, path, false, err, sizeof(err)),
			 -1);
	tmp_remove();
	ck_assert_uint_eq(c.proto.max_overcommit, 5);
}
END_TEST

/* A file that cannot be read (not ENOENT) is an error even by default. */
START_TEST(config_load_default__unreadable)
{
	struct homa_config c;
	char err[512] = "";

	config_defaults(&c);
	ck_assert_int_eq(
		config_load_default(&c, "/tmp", false, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "/tmp: Is a directory");
}
END_TEST

START_TEST(config_load__socket_mode)
{
	struct homa_config c;

	load_ok("control = { socket_mode = 432; };\n", &c);
	ck_assert_uint_eq(c.socket_mode, 0660);
	load_ok("control = { socket_mode = 0x1a4; };\n", &c);
	ck_assert_uint_eq(c.socket_mode, 0644);
	load_ok("control = { socket_mode = \"0600\"; };\n", &c);
	ck_assert_uint_eq(c.socket_mode, 0600);
	load_ok("control = { socket_mode = \"640\"; };\n", &c);
	ck_assert_uint_eq(c.socket_mode, 0640);
	load_ok("control = { socket_mode = \"0777\"; };\n", &c);
	ck_assert_uint_eq(c.socket_mode, 0777);
	load_ok("control = { socket_mode = 0; };\n", &c);
	ck_assert_uint_eq(c.socket_mode, 0);

	load_err("control = { socket_mode = 512; };\n", 1,
		 "socket_mode = 512 is out of range (0..0777)");
	load_err("control = { socket_mode = \"1000\"; };\n", 1,
		 "socket_mode = \"1000\" is not an octal mode in 0..0777 "
		 "(e.g. \"0660\")");
	load_err("control = { socket_mode = \"0689\"; };\n", 1,
		 "socket_mode = \"0689\" is not an octal mode in 0..0777 "
		 "(e.g. \"0660\")");
	load_err("control = { socket_mode = \"\"; };\n", 1,
		 "socket_mode = \"\" is not an octal mode in 0..0777 "
		 "(e.g. \"0660\")");
	/* libconfig would read 0440 as decimal 440 = 0670: refused. */
	load_err("control = {\n socket_mode = 0440; };\n", 2,
		 "socket_mode = 0440 is read as decimal by libconfig, which "
		 "has no octal integers: write \"0440\" for an octal mode");
	load_err("protocol = { max_overcommit = 08; };\n", 1,
		 "max_overcommit = 08 has a leading zero (libconfig has no "
		 "octal integers)");
}
END_TEST

START_TEST(config_load__bad_address)
{
	char many[1024];
	size_t n;

	load_err("network = {\n addresses = [\"10.0.0.1\",\n"
		 " \"10.0.0.300\"]; };\n",
		 3,
		 "addresses[1] = \"10.0.0.300\" is not an IPv4 or IPv6 "
		 "address");
	load_err("network = { addresses = [\"eth0\"]; };\n", 1,
		 "addresses[0] = \"eth0\" is not an IPv4 or IPv6 address");
	load_err("network = { addresses = [\"fd00::1\", \"FD00::1\"]; };\n", 1,
		 "addresses[1] = \"FD00::1\" is listed twice");
	load_err("network = { ipv4 = false; addresses = [\"::1\", "
		 "\"10.0.0.1\"]; };\n",
		 1,
		 "addresses[1] = \"10.0.0.1\" is an IPv4 address but ipv4 = "
		 "false");
	load_err("network = {\n ipv6 = false;\n addresses = [\"fd00::1\"]; "
		 "};\n",
		 3,
		 "addresses[0] = \"fd00::1\" is an IPv6 address but ipv6 = "
		 "false");
	n = (size_t)snprintf(many, sizeof(many), "network = { addresses = [");
	for (int i = 0; i < 17; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n,
				      "%s\"10.0.0.%d\"", i ? ", " : "", i + 1);
	snprintf(many + n, sizeof(many) - n, "]; };\n");
	load_err(many, 1, "addresses has 17 elements (at most 16 allowed)");
}
END_TEST

START_TEST(config_load__bad_interface)
{
	load_err("network = { interfaces = [\"a-very-long-ifname\"]; };\n", 1,
		 "interfaces[0] = \"a-very-long-ifname\" is not an interface "
		 "name (1..15 characters, no '/', ':' or blanks)");
	load_err("network = { interfaces = [\"\"]; };\n", 1,
		 "interfaces[0] = \"\" is not an interface name (1..15 "
		 "characters, no '/', ':' or blanks)");
	load_err("network = { interfaces = [\"eth0\", \"eth 1\"]; };\n", 1,
		 "interfaces[1] = \"eth 1\" is not an interface name (1..15 "
		 "characters, no '/', ':' or blanks)");
	load_err("network = { interfaces = [\"eth0\", \"eth0\"]; };\n", 1,
		 "interfaces[1] = \"eth0\" is listed twice");
}
END_TEST

START_TEST(config_load__bad_link_name)
{
	load_err("network = { link = \"tcp\"; };\n", 1,
		 "link = \"tcp\" is not allowed (ip, udp)");
	load_err("network = { link = \"IP\"; };\n", 1,
		 "link = \"IP\" is not allowed (ip, udp)");
	load_err("network = { ring_wait = \"epoll\"; };\n", 1,
		 "ring_wait = \"epoll\" is not allowed (io_uring, poll)");
	load_err("daemon = { log_level = \"verbose\"; };\n", 1,
		 "log_level = \"verbose\" is not allowed (err, warning, "
		 "notice, info, debug)");
}
END_TEST

START_TEST(config_load__bad_strings)
{
	char long_path[256], want[256];

	load_err("control = { socket = \"homad.sock\"; };\n", 1,
		 "socket = \"homad.sock\" is not an absolute path");
	load_err("control = { socket = \"\"; };\n", 1,
		 "socket = \"\" is not an absolute path");
	snprintf(long_path, sizeof(long_path),
		 "control = { socket = \"/%0108d\"; };\n", 0);
	snprintf(want, sizeof(want),
		 "socket = \"/%059d...\" is too long (at most 107 characters)",
		 0);
	load_err(long_path, 1, "%s", want);
	load_err("daemon = { user = \"a:b\"; };\n", 1,
		 "user = \"a:b\" is not a valid user name (no '/', ':', "
		 "blanks, or leading '-')");
	load_err("control = { socket_group = \"-g\"; };\n", 1,
		 "socket_group = \"-g\" is not a valid group name (no '/', "
		 "':', blanks, or leading '-')");
	load_err("daemon = { user = "
		 "\"u123456789012345678901234567890123456789012345678901234567"
		 "890123\"; };\n",
		 1,
		 "user = "
		 "\"u123456789012345678901234567890123456789012345678901234567"
		 "890123\" is too long (at most 63 characters)");
}
END_TEST

START_TEST(config_load__cutoffs)
{
	load_err("protocol = {\n unsched_cutoffs = [0, 0, 0, 0, 1000000, "
		 "15000, 2800];\n};\n",
		 2, "unsched_cutoffs has 7 elements (exactly 8 expected)");
	load_err("protocol = { unsched_cutoffs = [0, 0, 0, 0, 1000000, "
		 "15000, 2800, 200, 100]; };\n",
		 1, "unsched_cutoffs has 9 elements (exactly 8 expected)");
	load_err("protocol = { unsched_cutoffs = [0, 0, 0, 0, 1000001, "
		 "15000, 2800, 200]; };\n",
		 1,
		 "unsched_cutoffs[4] = 1000001 is out of range "
		 "(0..1000000)");
	load_err("protocol = { unsched_cutoffs = [0, 0, 0, 0, 1000000, "
		 "15000, 2800, -1]; };\n",
		 1, "unsched_cutoffs[7] = -1 is out of range (0..1000000)");
}
END_TEST

START_TEST(config_load__cross_field)
{
	load_err("protocol = {\n num_priorities = 4;\n max_sched_prio = 4;\n"
		 "};\n",
		 3, "max_sched_prio = 4 must be less than num_priorities (4)");
	load_err("protocol = {\n num_priorities = 3;\n};\n", 2,
		 "max_sched_prio = 3 must be less than num_priorities (3)");
	load_err("protocol = { resend_ticks = 10;\n timeout_ticks = 10; };\n",
		 2,
		 "timeout_ticks = 10 must be greater than resend_ticks (10)");
	load_err("protocol = {\n resend_ticks = 100; };\n", 2,
		 "timeout_ticks = 100 must be greater than resend_ticks (100)");
	load_err("protocol = { max_nic_est_backlog_usecs = 41; };\n", 1,
		 "max_nic_est_backlog_usecs = 41 must not exceed "
		 "max_nic_queue_usecs (40)");
	load_err("network = {\n ipv4 = false;\n ipv6 = false;\n};\n", 3,
		 "ipv4 = false and ipv6 = false: at least one must be true");
}
END_TEST

/* The engine's limits in the protocol group. */
START_TEST(config_load__protocol_limits)
{
	struct homa_config c;

	load_ok("protocol = { need_ack_timeout = 10000; max_gaps = 65536;\n"
		"  max_sockets = 1048576; max_rpcs_per_peer = 10000000; };\n",
		&c);
	ck_assert_uint_eq(c.proto.need_ack_timeout, 10000);
	ck_assert_uint_eq(c.proto.max_gaps, 65536);
	ck_assert_uint_eq(c.proto.max_sockets, 1048576);
	ck_assert_uint_eq(c.proto.max_rpcs_per_peer, 10000000);
	load_err("protocol = { max_rpcs_per_peer = 0; };\n", 1,
		 "max_rpcs_per_peer = 0 is out of range (1..10000000)");
	load_ok("protocol = { peer_pool_percent = 100; };\n", &c);
	ck_assert_uint_eq(c.proto.peer_pool_percent, 100);
	load_err("protocol = { peer_pool_percent = 0; };\n", 1,
		 "peer_pool_percent = 0 is out of range (1..100)");
	load_err("protocol = { peer_pool_percent = 101; };\n", 1,
		 "peer_pool_percent = 101 is out of range (1..100)");
	load_err("protocol = { max_sockets = 1048577; };\n", 1,
		 "max_sockets = 1048577 is out of range (1..1048576)");
	load_err("protocol = {\n max_gaps = 0; };\n", 2,
		 "max_gaps = 0 is out of range (1..65536)");
	load_err("protocol = { need_ack_timeout = 10001; };\n", 1,
		 "need_ack_timeout = 10001 is out of range (0 or 1..10000)");
	load_err("protocol = { need_ack_timeout = -1; };\n", 1,
		 "need_ack_timeout = -1 is out of range (0 or 1..10000)");
	load_err("protocol = { live_peer_resends = 10001; };\n", 1,
		 "live_peer_resends = 10001 is out of range (0 or 1..10000)");
	load_err("protocol = { stalled_peer_ticks = 1000001; };\n", 1,
		 "stalled_peer_ticks = 1000001 is out of range (0 or "
		 "3..1000000)");
	load_err("protocol = { timeout_ticks = 200;\n"
		 " stalled_peer_ticks = 200; };\n",
		 2,
		 "stalled_peer_ticks = 200 must be 0 or greater than "
		 "timeout_ticks (200)");
	load_err("protocol = { resend_peer_limit = 100001; };\n", 1,
		 "resend_peer_limit = 100001 is out of range (0 or 1..100000)");
	load_err("protocol = { grant_pace_factor = 65; };\n", 1,
		 "grant_pace_factor = 65 is out of range (0 or 1..64)");
	load_err("protocol = { peer_window_usecs = 1000001; };\n", 1,
		 "peer_window_usecs = 1000001 is out of range (0 or "
		 "1..1000000)");
	/* Beyond the module: RTT-based unscheduled bytes, incast. */
	load_ok("protocol = { unsched_from_rtt = 1; incast_threshold = 0;\n"
		"  incast_unsched_bytes = 40000; };\n",
		&c);
	ck_assert_uint_eq(c.proto.unsched_from_rtt, 1);
	ck_assert_uint_eq(c.proto.incast_threshold, 0);
	ck_assert_uint_eq(c.proto.incast_unsched_bytes, 40000);
	load_err("protocol = { unsched_from_rtt = 2; };\n", 1,
		 "unsched_from_rtt = 2 is out of range (0..1)");
	load_err("protocol = { incast_unsched_bytes = 0; };\n", 1,
		 "incast_unsched_bytes = 0 is out of range (1..1000000)");
	load_err("protocol = { unsched_bytes = 5000;\n"
		 "  incast_unsched_bytes = 6000; };\n",
		 2,
		 "incast_unsched_bytes = 6000 must not exceed unsched_bytes "
		 "(5000)");
	/* The MTU is the link's, and the limits are set in one place. */
	load_err("protocol = { mtu = 1500; };\n", 1,
		 "unknown key 'protocol.mtu'");
	load_err("protocol = { max_rpcs = 5; };\n", 1,
		 "unknown key 'protocol.max_rpcs'");
	load_err("protocol = { max_peers = 5; };\n", 1,
		 "unknown key 'protocol.max_peers'");
	load_ok("limits = { max_rpcs = 1; max_peers = 1000000; };\n", &c);
	ck_assert_uint_eq(c.max_rpcs, 1);
	ck_assert_uint_eq(c.proto.max_rpcs, 1);
	ck_assert_uint_eq(c.max_peers, 1000000);
	ck_assert_uint_eq(c.proto.max_peers, 1000000);
}
END_TEST

START_TEST(config_load__clients)
{
	struct homa_config c;

	load_ok("clients = { socket_mode = 0; max_inline = 0;\n"
		"  bind_users = []; bind_groups = [\"0\"]; };\n",
		&c);
	ck_assert_uint_eq(c.client_socket_mode, 0);
	ck_assert_uint_eq(c.max_inline, 0);
	ck_assert_uint_eq(c.n_bind_uids, 0);
	ck_assert_uint_eq(c.n_bind_gids, 1);
	ck_assert_uint_eq(c.bind_gids[0], 0);
	/* The control socket may move as long as the two differ. */
	load_ok("control = { socket = \"/run/homad/homa.sock\"; };\n"
		"clients = { socket = \"/run/homad/apps.sock\"; };\n",
		&c);
	ck_assert_str_eq(c.control_socket, "/run/homad/homa.sock");
	ck_assert_str_eq(c.client_socket, "/run/homad/apps.sock");

	load_err("clients = { socket = \"homa.sock\"; };\n", 1,
		 "socket = \"homa.sock\" is not an absolute path");
	load_err("clients = {\n socket = \"/run/homad/homad.sock\"; };\n", 2,
		 "clients.socket = \"/run/homad/homad.sock\" is also "
		 "control.socket: the two sockets need different paths");
	load_err("\ncontrol = { socket = \"/run/homad/homa.sock\"; };\n", 2,
		 "clients.socket = \"/run/homad/homa.sock\" is also "
		 "control.socket: the two sockets need different paths");
	load_err("clients = { socket_mode = \"0800\"; };\n", 1,
		 "socket_mode = \"0800\" is not an octal mode in 0..0777 "
		 "(e.g. \"0660\")");
	load_err("clients = { socket_mode = 0666; };\n", 1,
		 "socket_mode = 0666 is read as decimal by libconfig, which "
		 "has no octal integers: write \"0666\" for an octal mode");
	load_err("clients = { socket_group = \"a b\"; };\n", 1,
		 "socket_group = \"a b\" is not a valid group name (no '/', "
		 "':', blanks, or leading '-')");
	load_err("clients = { max_inline = 16385; };\n", 1,
		 "max_inline = 16385 is out of range (0..16384)");
	load_err("clients = { max_inline = \"1k\"; };\n", 1,
		 "max_inline = \"1k\" has the wrong type (integer expected)");
	load_err("max_inline = 5;\n", 1,
		 "unknown key 'max_inline' (it belongs in the clients group)");
	load_err("clients = { bind_ports = []; };\n", 1,
		 "unknown key 'clients.bind_ports'");
}
END_TEST

START_TEST(config_load__bind_ids)
{
	char many[1024];
	size_t n;

	load_err("clients = {\n bind_users = [\"root\",\n"
		 " \"no-such-user-homa\"]; };\n",
		 3,
		 "bind_users[1] = \"no-such-user-homa\" is not a known user");
	load_err("clients = { bind_groups = [\"no-such-group-homa\"]; };\n", 1,
		 "bind_groups[0] = \"no-such-group-homa\" is not a known "
		 "group");
	load_err("clients = { bind_users = [\"12ab\"]; };\n", 1,
		 "bind_users[0] = \"12ab\" is not a known user");
	load_err("clients = { bind_users = [\"4294967295\"]; };\n", 1,
		 "bind_users[0] = \"4294967295\" is out of range "
		 "(0..4294967294)");
	load_err("clients = { bind_users = (0, -1); };\n", 1,
		 "bind_users[1] = -1 is out of range (0..4294967294)");
	load_err("clients = { bind_users = [\"a:b\"]; };\n", 1,
		 "bind_users[0] = \"a:b\" is not a valid user name (no '/', "
		 "':', blanks, or leading '-')");
	load_err("clients = { bind_groups = [\"\"]; };\n", 1,
		 "bind_groups[0] = \"\" is not a valid group name (no '/', "
		 "':', blanks, or leading '-')");
	load_err("clients = { bind_users = [\"root\", \"0\"]; };\n", 1,
		 "bind_users[1] = \"0\" is listed twice (uid 0)");
	load_err("clients = { bind_users = \"root\"; };\n", 1,
		 "bind_users = \"root\" has the wrong type (list of user "
		 "names or uids expected)");
	load_err("clients = { bind_groups = (\"root\", true); };\n", 1,
		 "bind_groups[1] = true has the wrong type (group name or "
		 "gid expected)");
	n = (size_t)snprintf(many, sizeof(many), "clients = { bind_users = [");
	for (int i = 0; i < 17; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "%s%d",
				      i ? ", " : "", 1000 + i);
	snprintf(many + n, sizeof(many) - n, "]; };\n");
	load_err(many, 1, "bind_users has 17 elements (at most 16 allowed)");
}
END_TEST

START_TEST(config_load__peers)
{
	struct homa_config c;
	char many[4096];
	size_t n;

	load_ok("peers = ();\n", &c);
	ck_assert_uint_eq(c.proto.n_rate_rules, 0);
	load_ok("peers = ( { prefix = \"0.0.0.0/0\"; rate_mbps = 1000000; },\n"
		"  { prefix = \"::/0\"; rate_mbps = 7; } );\n",
		&c);
	ck_assert_uint_eq(c.proto.n_rate_rules, 2);
	ck_assert_uint_eq(c.proto.rate_rules[0].prefix_len, 96);
	ck_assert_uint_eq(c.proto.rate_rules[0].mbps, 1000000);
	ck_assert_uint_eq(c.proto.rate_rules[1].prefix_len, 0);
	ck_assert_uint_eq(c.proto.rate_rules[1].mbps, 7);

	load_err("peers = { prefix = \"10.0.0.0/8\"; rate_mbps = 1; };\n", 1,
		 "peers = { ... } has the wrong type (list of { prefix; "
		 "rate_mbps; } groups expected)");
	load_err("peers = [\"10.0.0.0/8\"];\n", 1,
		 "peers = [ ... ] has the wrong type (list of { prefix; "
		 "rate_mbps; } groups expected)");
	load_err("peers = ( \"10.0.0.0/8\" );\n", 1,
		 "peers[0] = \"10.0.0.0/8\" has the wrong type (group { "
		 "prefix; rate_mbps; } expected)");
	load_err("peers = (\n { prefix = \"10.0.0.0/8\"; },\n"
		 " { rate_mbps = 1; } );\n",
		 2, "peers[0] has no rate_mbps");
	load_err("peers = ( { prefix = \"10.0.0.0/8\"; rate_mbps = 1; },\n"
		 " { rate_mbps = 1; } );\n",
		 2, "peers[1] has no prefix");
	load_err("peers = ( { prefix = \"10.0.0.0/8\";\n rate_mbps = 0; } );\n",
		 2, "peers[0].rate_mbps = 0 is out of range (1..1000000)");
	load_err("peers = ( { prefix = \"10.0.0.0/8\"; rate_mbps = \"1G\"; } "
		 ");\n",
		 1,
		 "peers[0].rate_mbps = \"1G\" has the wrong type (integer "
		 "expected)");
	load_err("peers = ( { prefix = 10; rate_mbps = 1; } );\n", 1,
		 "peers[0].prefix = 10 has the wrong type (string expected)");
	load_err("peers = ( { prefix = \"10.0.0.0/8\"; rate_mbps = 1;\n"
		 " burst = 5; } );\n",
		 2, "unknown key 'peers[0].burst'");
	load_err("peers = ( { prefix = \"10.0.0.0/33\"; rate_mbps = 1; } );\n",
		 1,
		 "peers[0].prefix = \"10.0.0.0/33\" has a prefix length out "
		 "of range (0..32)");
	load_err("peers = ( { prefix = \"fd00::/129\"; rate_mbps = 1; } );\n",
		 1,
		 "peers[0].prefix = \"fd00::/129\" has a prefix length out "
		 "of range (0..128)");
	load_err("peers = ( { prefix = \"10.0.0.1/24\"; rate_mbps = 1; } );\n",
		 1,
		 "peers[0].prefix = \"10.0.0.1/24\" has address bits set past "
		 "the prefix length");
	load_err("peers = ( { prefix = \"fd00::1:0/96\"; rate_mbps = 1; } );\n",
		 1,
		 "peers[0].prefix = \"fd00::1:0/96\" has address bits set "
		 "past the prefix length");
	load_err("peers = ( { prefix = \"10.0.0.0/x\"; rate_mbps = 1; } );\n",
		 1,
		 "peers[0].prefix = \"10.0.0.0/x\" is not an IPv4 or IPv6 "
		 "prefix (e.g. \"10.0.0.0/24\")");
	load_err("peers = ( { prefix = \"eth0\"; rate_mbps = 1; } );\n", 1,
		 "peers[0].prefix = \"eth0\" is not an IPv4 or IPv6 prefix "
		 "(e.g. \"10.0.0.0/24\")");
	load_err("peers = ( { prefix = \"/8\"; rate_mbps = 1; } );\n", 1,
		 "peers[0].prefix = \"/8\" is not an IPv4 or IPv6 prefix "
		 "(e.g. \"10.0.0.0/24\")");
	load_err("peers = ( { prefix = \"10.0.0.0/8\"; rate_mbps = 1; },\n"
		 " { prefix = \"10.0.0.0/8\"; rate_mbps = 2; } );\n",
		 2, "peers[1].prefix is listed twice (as peers[0].prefix)");
	load_err("protocol = { peers = (); };\n", 1,
		 "unknown key 'protocol.peers'");
	n = (size_t)snprintf(many, sizeof(many), "peers = (");
	for (int i = 0; i < 33; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n,
				      "%s{ prefix = \"10.0.%d.0/24\"; "
				      "rate_mbps = 100; }",
				      i ? ", " : "", i);
	snprintf(many + n, sizeof(many) - n, ");\n");
	load_err(many, 1, "peers has 33 elements (at most 32 allowed)");
}
END_TEST

START_TEST(config_load__path_too_long)
{
	struct homa_config c;
	char path[5000], err[6000];

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	ck_assert_int_eq(config_load(&c, path, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, ": File name too long"));
}
END_TEST

/* A short error buffer truncates the message; no buffer at all is fine. */
START_TEST(config_load__small_err_buffer)
{
	struct homa_config c;
	char err[8];

	config_defaults(&c);
	ck_assert_int_eq(config_load(&c, "/nonexistent/x", err, sizeof(err)),
			 -1);
	ck_assert_str_eq(err, "/nonexi");
	ck_assert_int_eq(config_load(&c, "/nonexistent/x", NULL, 0), -1);
}
END_TEST

/* The test group: every key, the kinds of values, the ranges. */
START_TEST(config_load__test_group)
{
	struct homa_config c;

	load_ok("test = {\n"
		"  seed = 42; rx_drop = 0.05; tx_drop = 0.5;\n"
		"  rx_dup = 0.25; tx_dup = 1.0; rx_reorder = 1;\n"
		"  tx_reorder = 0; rx_reorder_us = 7; tx_reorder_us = 8;\n"
		"  rx_delay = 1e-3; tx_delay = 0.75; rx_delay_us = 20000;\n"
		"  tx_delay_us = 10000000; max_held = 1048576;\n"
		"};\n",
		&c);
	ck_assert_uint_eq(c.test.seed, 42);
	ck_assert(c.test.rx_drop == 0.05);
	ck_assert(c.test.tx_drop == 0.5);
	ck_assert(c.test.rx_dup == 0.25);
	ck_assert(c.test.tx_dup == 1.0);
	ck_assert(c.test.rx_reorder == 1.0);
	ck_assert(c.test.tx_reorder == 0.0);
	ck_assert_uint_eq(c.test.rx_reorder_us, 7);
	ck_assert_uint_eq(c.test.tx_reorder_us, 8);
	ck_assert(c.test.rx_delay == 0.001);
	ck_assert(c.test.tx_delay == 0.75);
	ck_assert_uint_eq(c.test.rx_delay_us, 20000);
	ck_assert_uint_eq(c.test.tx_delay_us, 10000000);
	ck_assert_uint_eq(c.test.max_held, 1048576);
	ck_assert(fault_params_active(&c.test));
	load_ok("test = { seed = 9223372036854775807L; };\n", &c);
	ck_assert_uint_eq(c.test.seed, 9223372036854775807ull);

	load_err("test = {\n rx_drop = 1.5; };\n", 2,
		 "rx_drop = 1.5 is out of range (0.0..1.0)");
	load_err("test = { tx_dup = -0.1; };\n", 1,
		 "tx_dup = -0.1 is out of range (0.0..1.0)");
	load_err("test = { rx_delay = 2; };\n", 1,
		 "rx_delay = 2 is out of range (0.0..1.0)");
	load_err("test = { rx_drop = \"0.1\"; };\n", 1,
		 "rx_drop = \"0.1\" has the wrong type (number 0.0..1.0 "
		 "expected)");
	load_err("test = { tx_reorder = true; };\n", 1,
		 "tx_reorder = true has the wrong type (number 0.0..1.0 "
		 "expected)");
	load_err("test = { rx_delay_us = 0; };\n", 1,
		 "rx_delay_us = 0 is out of range (1..10000000)");
	load_err("test = { tx_reorder_us = 10000001; };\n", 1,
		 "tx_reorder_us = 10000001 is out of range (1..10000000)");
	load_err("test = { max_held = 0; };\n", 1,
		 "max_held = 0 is out of range (1..1048576)");
	load_err("test = { seed = -1; };\n", 1,
		 "seed = -1 is out of range (0..9223372036854775807)");
	load_err("test = { rx_delay_us = 1.5; };\n", 1,
		 "rx_delay_us = 1.5 has the wrong type (integer expected)");
	load_err("test = { drop = 0.1; };\n", 1, "unknown key 'test.drop'");
	load_err("rx_drop = 0.1;\n", 1,
		 "unknown key 'rx_drop' (it belongs in the test group)");
}
END_TEST

/* config_set: a test key at run time, with the file's checks. */
START_TEST(config_set__test_keys)
{
	struct homa_config c, d;
	char err[256];

	config_defaults(&c);
	ck_assert_int_eq(
		config_set(&c, "test.rx_drop", "0.05", err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	ck_assert(c.test.rx_drop == 0.05);
	ck_assert_int_eq(config_set(&c, "test.tx_dup", "1", err, sizeof(err)),
			 0);
	ck_assert(c.test.tx_dup == 1.0);
	ck_assert_int_eq(
		config_set(&c, "test.rx_delay_us", "20000", err, sizeof(err)),
		0);
	ck_assert_uint_eq(c.test.rx_delay_us, 20000);
	ck_assert_int_eq(
		config_set(&c, "test.seed", "123456789012L", err, sizeof(err)),
		0);
	ck_assert_uint_eq(c.test.seed, 123456789012ull);
	ck_assert_int_eq(
		config_set(&c, "test.max_held", " 16 ", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.test.max_held, 16);
	/* Everything else stays. */
	config_defaults(&d);
	d.test = c.test;
	assert_same(&c, &d);
}
END_TEST

static void set_err(const char *key, const char *value, int rc,
		    const char *want)
{
	struct homa_config c, before;
	char err[256] = "";

	config_defaults(&c);
	c.test.tx_drop = 0.5; /* a marker: must survive */
	before = c;
	ck_assert_int_eq(config_set(&c, key, value, err, sizeof(err)), rc);
	ck_assert_str_eq(err, want);
	assert_same(&c, &before);
}

START_TEST(config_set__errors)
{
	set_err("test.rx_drop", "2", -EINVAL,
		"test.rx_drop = 2 is out of range (0.0..1.0)");
	set_err("test.tx_drop", "-0.5", -EINVAL,
		"test.tx_drop = -0.5 is out of range (0.0..1.0)");
	set_err("test.rx_delay_us", "0", -EINVAL,
		"test.rx_delay_us = 0 is out of range (1..10000000)");
	set_err("test.max_held", "0.5", -EINVAL,
		"test.max_held = 0.5 has the wrong type (integer expected)");
	set_err("test.rx_dup", "\"x\"", -EINVAL,
		"test.rx_dup = \"x\" has the wrong type (number 0.0..1.0 "
		"expected)");
	set_err("test.rx_dup", "lots", -EINVAL,
		"test.rx_dup = lots is not a valid value");
	set_err("test.rx_dup", "", -EINVAL,
		"test.rx_dup = '' is not a single value");
	/* One value only: no way to set a second key through the first. */
	set_err("test.rx_drop", "0.1; tx_drop = 0.2", -EINVAL,
		"test.rx_drop = '0.1; tx_drop = 0.2' is not a single value");
	set_err("test.rx_drop", "{ a = 1 }", -EINVAL,
		"test.rx_drop = '{ a = 1 }' is not a single value");
	set_err("test.seed", "5000000000", -EINVAL,
		"seed = 5000000000 needs an L suffix to be read as a 64-bit "
		"integer (write 5000000000L)");
	set_err("test.bogus", "1", -ENOENT,
		"unknown key 'test.bogus' (keys are written group.name, e.g. "
		"test.rx_drop)");
	set_err("rx_drop", "1", -ENOENT,
		"unknown key 'rx_drop' (keys are written group.name, e.g. "
		"test.rx_drop)");
	set_err("test.rx_drop.x", "1", -ENOENT,
		"unknown key 'test.rx_drop.x' (keys are written group.name, "
		"e.g. test.rx_drop)");
	set_err(".peers", "1", -ENOENT,
		"unknown key '.peers' (keys are written group.name, e.g. "
		"test.rx_drop)");
	set_err("network.mtu", "1500", -EPERM,
		"network.mtu needs a restart: it cannot change while homad "
		"runs (nor can " CONFIG_RESTART_KEYS "); edit homa.conf and "
		"restart homad");
	set_err("limits.max_clients", "10", -EPERM,
		"limits.max_clients needs a restart: it cannot change while "
		"homad runs (nor can " CONFIG_RESTART_KEYS "); edit homa.conf "
		"and restart homad");
	/* Checks between keys apply too. */
	set_err("protocol.num_priorities", "3", -EINVAL,
		"max_sched_prio = 3 must be less than num_priorities (3)");
	set_err("protocol.max_overcommit", "0", -EINVAL,
		"protocol.max_overcommit = 0 is out of range (1..128)");
}
END_TEST

/* Every key a reload changes can be set, lists included. */
START_TEST(config_set__runtime_keys)
{
	struct homa_config c;
	char err[256] = "";

	config_defaults(&c);
	ck_assert_int_eq(config_set(&c, "protocol.max_overcommit", "4", err,
				    sizeof(err)),
			 0);
	ck_assert_uint_eq(c.proto.max_overcommit, 4);
	ck_assert_int_eq(
		config_set(&c, "limits.max_rpcs", "500", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.max_rpcs, 500);
	ck_assert_uint_eq(c.proto.max_rpcs, 500);
	ck_assert_int_eq(config_set(&c, "daemon.log_level", "\"debug\"", err,
				    sizeof(err)),
			 0);
	ck_assert_int_eq(c.log_level, LOG_LEVEL_DEBUG);
	ck_assert_int_eq(config_set(&c, "protocol.unsched_cutoffs",
				    "[1, 2, 3, 4, 5, 6, 7, 8]", err,
				    sizeof(err)),
			 0);
	ck_assert_uint_eq(c.proto.unsched_cutoffs[7], 8);
	ck_assert_int_eq(config_set(&c, "peers",
				    "( { prefix = \"10.0.0.0/8\"; "
				    "rate_mbps = 100; } )",
				    err, sizeof(err)),
			 0);
	ck_assert_uint_eq(c.proto.n_rate_rules, 1);
	ck_assert_uint_eq(c.proto.rate_rules[0].mbps, 100);
	ck_assert_int_eq(config_set(&c, "clients.bind_users", "[0, 1000]", err,
				    sizeof(err)),
			 0);
	ck_assert_uint_eq(c.n_bind_uids, 2);
	/* Still one setting only, lists or not. */
	ck_assert_int_eq(config_set(&c, "clients.bind_users",
				    "[1]; max_inline = 5", err, sizeof(err)),
			 -EINVAL);
	ck_assert_uint_eq(c.n_bind_uids, 2);
}
END_TEST

/* config_foreach: each runtime value set back gives the same config. */
struct foreach_ctx {
	struct homa_config *c;
	unsigned keys, runtime;
	bool saw_mtu_restart, saw_peers;
};

static void foreach_visit(void *arg, const char *key, const char *value,
			  bool runtime)
{
	struct foreach_ctx *x = arg;
	struct homa_config before = *x->c;
	char err[256] = "";
	int rc;

	x->keys++;
	if (strcmp(key, "network.mtu") == 0)
		x->saw_mtu_restart = !runtime;
	if (strcmp(key, "peers") == 0)
		x->saw_peers = runtime;
	rc = config_set(x->c, key, value, err, sizeof(err));
	if (!runtime) {
		ck_assert_int_eq(rc, -EPERM);
		return;
	}
	x->runtime++;
	ck_assert_msg(rc == 0, "%s = %s: %s", key, value, err);
	assert_same(x->c, &before);
}

START_TEST(config_foreach__round_trip)
{
	struct homa_config c;
	char err[256] = "";
	struct foreach_ctx x = {.c = &c};

	config_defaults(&c);
	ck_assert_int_eq(config_set(&c, "peers",
				    "( { prefix = \"10.1.0.0/16\"; "
				    "rate_mbps = 100; }, { prefix = "
				    "\"fd00::/8\"; rate_mbps = 7; } )",
				    err, sizeof(err)),
			 0);
	ck_assert_int_eq(
		config_set(&c, "clients.bind_groups", "[5]", err, sizeof(err)),
		0);
	ck_assert_int_eq(config_set(&c, "clients.direct_send_groups", "[5, 6]",
				    err, sizeof(err)),
			 0);
	ck_assert_uint_eq(c.n_direct_gids, 2);
	ck_assert_uint_eq(c.direct_gids[1], 6);
	ck_assert_uint_eq(c.n_bind_gids, 1);
	ck_assert_int_eq(
		config_set(&c, "test.rx_drop", "0.25", err, sizeof(err)), 0);
	config_foreach(&c, foreach_visit, &x);
	ck_assert(x.saw_mtu_restart);
	ck_assert(x.saw_peers);
	ck_assert_uint_gt(x.runtime, 40);
	ck_assert_uint_gt(x.keys, x.runtime);
}
END_TEST

START_TEST(config_link_name__names)
{
	ck_assert_str_eq(config_link_name(HOMA_LINK_IP), "ip");
	ck_assert_str_eq(config_link_name(HOMA_LINK_UDP), "udp");
	ck_assert_str_eq(config_link_name((enum homa_link_kind)42), "?");
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, config_defaults__values);
	tcase_add_test(tc, config_defaults__engine_params);
	tcase_add_test(tc, config_load__shipped_conf);
	tcase_add_test(tc, config_load__shipped_conf_uncommented);
	tcase_add_test(tc, config_load__empty_file);
	tcase_add_test(tc, config_load__every_key);
	tcase_add_test(tc, config_load__partial);
	tcase_add_test(tc, config_load__limits_of_ranges);
	tcase_add_test(tc, config_load__int64_keys);
	tcase_add_test(tc, config_load__int_too_big_for_32_bits);
	tcase_add_test(tc, config_load__out_of_range);
	tcase_add_test(tc, config_load__wrong_type);
	tcase_add_test(tc, config_load__unknown_key);
	tcase_add_test(tc, config_load__unknown_group);
	tcase_add_test(tc, config_load__syntax_error);
	tcase_add_test(tc, config_load__missing_file);
	tcase_add_test(tc, config_load__nul_and_huge_files);
	tcase_add_test(tc, config_load_default__missing_default_file);
	tcase_add_test(tc, config_load_default__existing_file);
	tcase_add_test(tc, config_load_default__unreadable);
	tcase_add_test(tc, config_load__socket_mode);
	tcase_add_test(tc, config_load__bad_address);
	tcase_add_test(tc, config_load__bad_interface);
	tcase_add_test(tc, config_load__bad_link_name);
	tcase_add_test(tc, config_load__bad_strings);
	tcase_add_test(tc, config_load__cutoffs);
	tcase_add_test(tc, config_load__cross_field);
	tcase_add_test(tc, config_load__protocol_limits);
	tcase_add_test(tc, config_load__clients);
	tcase_add_test(tc, config_load__bind_ids);
	tcase_add_test(tc, config_load__peers);
	tcase_add_test(tc, config_load__path_too_long);
	tcase_add_test(tc, config_load__small_err_buffer);
	tcase_add_test(tc, config_load_text__same_as_file);
	tcase_add_test(tc, config_load__test_group);
	tcase_add_test(tc, config_set__test_keys);
	tcase_add_test(tc, config_set__errors);
	tcase_add_test(tc, config_set__runtime_keys);
	tcase_add_test(tc, config_foreach__round_trip);
	tcase_add_test(tc, config_link_name__names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
