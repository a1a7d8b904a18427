/*
 * test_homactl.c - the pure parts of homactl (daemon/homactl_util.c):
 * command prefixes, Prometheus names and escaping, the kernel module's
 * counter names, HTTP request lines.
 */
#include <config.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "homactl_util.h"

static const char *const cmds[] = {
	"status",  "sockets", "rpcs", "peers",
	"metrics", "config",  "set",  "reload",
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

START_TEST(match__exact_prefix_ambiguous)
{
	ck_assert_int_eq(homactl_match("status", cmds, NCMDS), 0);
	ck_assert_int_eq(homactl_match("st", cmds, NCMDS), 0);
	ck_assert_int_eq(homactl_match("so", cmds, NCMDS), 1);
	ck_assert_int_eq(homactl_match("rp", cmds, NCMDS), 2);
	ck_assert_int_eq(homactl_match("p", cmds, NCMDS), 3);
	ck_assert_int_eq(homactl_match("m", cmds, NCMDS), 4);
	ck_assert_int_eq(homactl_match("c", cmds, NCMDS), 5);
	ck_assert_int_eq(homactl_match("se", cmds, NCMDS), 6);
	ck_assert_int_eq(homactl_match("set", cmds, NCMDS), 6);
	ck_assert_int_eq(homactl_match("re", cmds, NCMDS), 7);
	ck_assert_int_eq(homactl_match("s", cmds, NCMDS),
			 HOMACTL_MATCH_AMBIGUOUS);
	ck_assert_int_eq(homactl_match("r", cmds, NCMDS),
			 HOMACTL_MATCH_AMBIGUOUS);
	ck_assert_int_eq(homactl_match("", cmds, NCMDS), HOMACTL_MATCH_NONE);
	ck_assert_int_eq(homactl_match("statusx", cmds, NCMDS),
			 HOMACTL_MATCH_NONE);
	ck_assert_int_eq(homactl_match("x", cmds, NCMDS), HOMACTL_MATCH_NONE);
	/* An exact name wins over being a prefix of a longer one. */
	{
		static const char *const two[] = {"set", "settle"};

		ck_assert_int_eq(homactl_match("set", two, 2), 0);
		ck_assert_int_eq(homactl_match("sett", two, 2), 1);
	}
}
END_TEST

/* What f wrote, as a string (freed by the caller). */
static char *escaped(const char *s, bool label)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	homactl_prom_escape(f, s, label);
	fclose(f);
	return buf;
}

START_TEST(prom_escape__help_and_labels)
{
	char *a = escaped("a\\b\n\"c\"", false);
	char *b = escaped("a\\b\n\"c\"", true);
	char *c = escaped(NULL, true);

	ck_assert_str_eq(a, "a\\\\b\\n\"c\"");
	ck_assert_str_eq(b, "a\\\\b\\n\\\"c\\\"");
	ck_assert_str_eq(c, "");
	free(a);
	free(b);
	free(c);
}
END_TEST

START_TEST(prom_name__suffixes_and_seconds)
{
	char buf[128];

	ck_assert(
		!homactl_prom_name(buf, sizeof(buf), "resent_packets", false));
	ck_assert_str_eq(buf, "homad_resent_packets_total");
	ck_assert(!homactl_prom_name(buf, sizeof(buf), "link_rx_backlog_bytes",
				     true));
	ck_assert_str_eq(buf, "homad_link_rx_backlog_bytes");
	ck_assert(homactl_prom_name(buf, sizeof(buf), "loop_tick_ns", false));
	ck_assert_str_eq(buf, "homad_loop_tick_seconds_total");
	ck_assert(
		homactl_prom_name(buf, sizeof(buf), "loop_tick_ns_max", false));
	ck_assert_str_eq(buf, "homad_loop_tick_seconds_max_total");
	/* "_ns" only as a whole part of the name. */
	ck_assert(
		!homactl_prom_name(buf, sizeof(buf), "dns_nsx_answers", false));
	ck_assert_str_eq(buf, "homad_dns_nsx_answers_total");
}
END_TEST

START_TEST(flat_name__module_names)
{
	char buf[128];

	homactl_flat_name(buf, sizeof(buf), "packets_sent", "type", "DATA");
	ck_assert_str_eq(buf, "packets_sent_DATA");
	homactl_flat_name(buf, sizeof(buf), "packets_received", "type",
			  "GRANT");
	ck_assert_str_eq(buf, "packets_rcvd_GRANT");
	homactl_flat_name(buf, sizeof(buf), "priority_bytes", "priority", "3");
	ck_assert_str_eq(buf, "priority3_bytes");
	homactl_flat_name(buf, sizeof(buf), "priority_packets", "priority",
			  "7");
	ck_assert_str_eq(buf, "priority7_packets");
	homactl_flat_name(buf, sizeof(buf), "malformed_packets", "reason",
			  "short");
	ck_assert_str_eq(buf, "malformed_packets_short");
	homactl_flat_name(buf, sizeof(buf), "resent_packets", "", "");
	ck_assert_str_eq(buf, "resent_packets");
	homactl_flat_name(buf, sizeof(buf), "resent_packets", NULL, NULL);
	ck_assert_str_eq(buf, "resent_packets");
}
END_TEST

START_TEST(http_classify__requests)
{
	ck_assert_int_eq(homactl_http_classify("GET /metrics HTTP/1.1"),
			 HOMACTL_HTTP_METRICS);
	ck_assert_int_eq(homactl_http_classify("GET / HTTP/1.0"),
			 HOMACTL_HTTP_METRICS);
	ck_assert_int_eq(homactl_http_classify("GET /metrics?x=1 HTTP/1.1"),
			 HOMACTL_HTTP_METRICS);
	ck_assert_int_eq(homactl_http_classify("HEAD /metrics HTTP/1.1"),
			 HOMACTL_HTTP_HEAD);
	ck_assert_int_eq(homactl_http_classify("POST /metrics HTTP/1.1"),
			 HOMACTL_HTTP_BAD_METHOD);
	ck_assert_int_eq(homactl_http_classify("GET /metricsx HTTP/1.1"),
			 HOMACTL_HTTP_NOT_FOUND);
	ck_assert_int_eq(homactl_http_classify("GET /other HTTP/1.1"),
			 HOMACTL_HTTP_NOT_FOUND);
	ck_assert_int_eq(homactl_http_classify("GET /metrics HTTP/2.0"),
			 HOMACTL_HTTP_BAD_VERSION);
	ck_assert_int_eq(homactl_http_classify("GET /metrics"),
			 HOMACTL_HTTP_BAD_REQUEST);
	ck_assert_int_eq(homactl_http_classify("GET metrics HTTP/1.1"),
			 HOMACTL_HTTP_BAD_REQUEST);
	ck_assert_int_eq(homactl_http_classify(""), HOMACTL_HTTP_BAD_REQUEST);
	ck_assert_int_eq(homactl_http_classify("GET  /metrics HTTP/1.1"),
			 HOMACTL_HTTP_BAD_REQUEST);
	ck_assert_int_eq(homactl_http_classify("GET /metrics HTTP/1.1 x"),
			 HOMACTL_HTTP_BAD_REQUEST);
	ck_assert_int_eq(homactl_http_classify("GET /metrics FTP/1.1"),
			 HOMACTL_HTTP_BAD_REQUEST);
}
END_TEST

START_TEST(args__numbers_and_values)
{
	ck_assert(homactl_is_number("-1"));
	ck_assert(homactl_is_number("-0.1"));
	ck_assert(homactl_is_number("-.5"));
	ck_assert(homactl_is_number("-1e3"));
	ck_assert(homactl_is_number("-5000000000L"));
	ck_assert(!homactl_is_number("-j"));
	ck_assert(!homactl_is_number("-1x"));
	ck_assert(!homactl_is_number("-"));
	ck_assert(!homactl_is_number("1"));
	ck_assert(homactl_takes_value("-s"));
	ck_assert(homactl_takes_value("-js"));
	ck_assert(!homactl_takes_value("-sPATH"));
	ck_assert(!homactl_takes_value("-j"));
	ck_assert(homactl_takes_value("--port"));
	ck_assert(homactl_takes_value("--peer"));
	ck_assert(!homactl_takes_value("--peer=1.2.3.4"));
	ck_assert(!homactl_takes_value("--json"));
	ck_assert(!homactl_takes_value("--http"));
}
END_TEST

static Suite *homactl_suite(void)
{
	Suite *s = suite_create("homactl");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, match__exact_prefix_ambiguous);
	tcase_add_test(tc, prom_escape__help_and_labels);
	tcase_add_test(tc, prom_name__suffixes_and_seconds);
	tcase_add_test(tc, flat_name__module_names);
	tcase_add_test(tc, http_classify__requests);
	tcase_add_test(tc, args__numbers_and_values);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(homactl_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
