/*
 * test_log.c - unit tests of daemon/log.c: level names, the line formats
 * with and without systemd's journal, level filtering, errno text, fatal.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/log.h"

static char cap_path[64];
static int saved_stderr = -1;

/* Send stderr to a fresh temporary file until capture_end. */
static void capture_begin(void)
{
	int fd;

	snprintf(cap_path, sizeof(cap_path), "/tmp/homa-test-log-XXXXXX");
	fd = mkstemp(cap_path);
	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(saved_stderr, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
}

/* Restore stderr; the captured text goes to buf. */
static void capture_end(char *buf, size_t len)
{
	FILE *f;
	size_t n;

	fflush(stderr);
	ck_assert_int_eq(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(saved_stderr);
	f = fopen(cap_path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(cap_path);
}

START_TEST(log_level_parse__names)
{
	const char *names[] = {"err", "warning", "notice", "info", "debug"};

	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(log_level_parse(names[i]), LOG_LEVEL_ERR + i);
		ck_assert_str_eq(log_level_name(LOG_LEVEL_ERR + i), names[i]);
	}
	ck_assert_int_eq(log_level_parse("warn"), -1);
	ck_assert_int_eq(log_level_parse("INFO"), -1);
	ck_assert_int_eq(log_level_parse(""), -1);
	ck_assert_int_eq(log_level_parse(NULL), -1);
	ck_assert_str_eq(log_level_name((enum log_level)2), "?");
	ck_assert_str_eq(log_level_name((enum log_level)8), "?");
}
END_TEST

START_TEST(log_set_level__clamps)
{
	log_set_level(LOG_LEVEL_NOTICE);
	ck_assert_int_eq(log_get_level(), LOG_LEVEL_NOTICE);
	log_set_level((enum log_level)0);
	ck_assert_int_eq(log_get_level(), LOG_LEVEL_ERR);
	log_set_level((enum log_level)99);
	ck_assert_int_eq(log_get_level(), LOG_LEVEL_DEBUG);
}
END_TEST

START_TEST(log_init__plain_lines)
{
	char out[1024];

	unsetenv("JOURNAL_STREAM");
	log_init("/usr/sbin/homad", LOG_LEVEL_INFO);
	ck_assert_int_eq(log_get_level(), LOG_LEVEL_INFO);
	capture_begin();
	log_warnx("bad packet from %s", "10.0.0.1");
	log_notice("ready");
	log_info("%d sockets", 3);
	log_debug("not shown");
	capture_end(out, sizeof(out));
	ck_assert_str_eq(out, "homad: warning: bad packet from 10.0.0.1\n"
			      "homad: ready\n"
			      "homad: 3 sockets\n");
}
END_TEST

START_TEST(log_init__journal_lines)
{
	char out[1024];

	setenv("JOURNAL_STREAM", "8:12345", 1);
	log_init("homad", LOG_LEVEL_DEBUG);
	capture_begin();
	log_warnx("w");
	log_notice("n");
	log_info("i");
	log_debug("d");
	capture_end(out, sizeof(out));
	ck_assert_str_eq(out, "<4>w\n<5>n\n<6>i\n<7>d\n");
}
END_TEST

START_TEST(log_set_level__drops_above)
{
	char out[1024];

	unsetenv("JOURNAL_STREAM");
	log_init("t", LOG_LEVEL_WARNING);
	capture_begin();
	log_notice("dropped");
	log_info("dropped");
	log_debug("dropped");
	log_warnx("kept");
	log_set_level(LOG_LEVEL_DEBUG);
	log_debug("now kept");
	capture_end(out, sizeof(out));
	ck_assert_str_eq(out, "t: warning: kept\nt: now kept\n");
}
END_TEST

START_TEST(log_warn__errno_text)
{
	char out[1024];

	unsetenv("JOURNAL_STREAM");
	log_init("homad", LOG_LEVEL_INFO);
	capture_begin();
	errno = ENOENT;
	log_warn("open %s", "/x");
	ck_assert_int_eq(errno, ENOENT);
	errno = 0;
	log_warn("no error");
	capture_end(out, sizeof(out));
	ck_assert_str_eq(out, "homad: warning: open /x: No such file or "
			      "directory\nhomad: warning: no error\n");
}
END_TEST

START_TEST(log_info__long_line_cut)
{
	char big[3000], out[4096];

	unsetenv("JOURNAL_STREAM");
	log_init("h", LOG_LEVEL_INFO);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	capture_begin();
	log_info("%s", big);
	capture_end(out, sizeof(out));
	ck_assert_uint_eq(strlen(out), strlen("h: ") + 1023 + 1);
	ck_assert_str_eq(out + strlen(out) - 5, "x...\n");
}
END_TEST

/* Run fn in a child with stderr captured; returns its exit status. */
static int run_child(void (*fn)(void), char *out, size_t len)
{
	int status;
	pid_t pid;

	capture_begin();
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fn();
		_exit(99); /* fn must not return */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	capture_end(out, len);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void call_fatalx(void)
{
	unsetenv("JOURNAL_STREAM");
	log_init("homad", LOG_LEVEL_ERR);
	fatalx("broken invariant %d", 7);
}

static void call_fatal_journal(void)
{
	setenv("JOURNAL_STREAM", "1:2", 1);
	log_init("homad", LOG_LEVEL_INFO);
	errno = EBADF;
	fatal("close");
}

START_TEST(fatal__exits_1)
{
	char out[1024];

	ck_assert_int_eq(run_child(call_fatalx, out, sizeof(out)), 1);
	ck_assert_str_eq(out, "homad: error: broken invariant 7\n");
	ck_assert_int_eq(run_child(call_fatal_journal, out, sizeof(out)), 1);
	ck_assert_str_eq(out, "<3>close: Bad file descriptor\n");
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, log_level_parse__names);
	tcase_add_test(tc, log_set_level__clamps);
	tcase_add_test(tc, log_init__plain_lines);
	tcase_add_test(tc, log_init__journal_lines);
	tcase_add_test(tc, log_set_level__drops_above);
	tcase_add_test(tc, log_warn__errno_text);
	tcase_add_test(tc, log_info__long_line_cut);
	tcase_add_test(tc, fatal__exits_1);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
