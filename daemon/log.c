/*
 * log.c - homad's logging: one line per message on stderr.
 *
 * Under systemd (JOURNAL_STREAM in the environment when log_init runs)
 * each line is "<N>message", N the syslog priority, which journald turns
 * into the record's level; otherwise "progname: message", with "error: " or
 * "warning: " before the message at those levels.  Messages above the
 * current level are dropped.  Each line is written with one fprintf, so
 * lines from different threads never interleave; the level is an atomic
 * that the control thread may change (config reload) while others log.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Longest message kept; longer ones are cut and end in "...". */
#define LOG_LINE_MAX 1024

static char log_progname[64] = "homad";
static bool log_journal;
static atomic_int log_level = LOG_LEVEL_INFO;

static const char *const log_names[] = {
	[LOG_LEVEL_ERR] = "err",       [LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_NOTICE] = "notice", [LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

void log_init(const char *progname, enum log_level level)
{
	const char *js = getenv("JOURNAL_STREAM");
	const char *slash;

	if (progname != NULL) {
		slash = strrchr(progname, '/');
		snprintf(log_progname, sizeof(log_progname), "%s",
			 slash != NULL ? slash + 1 : progname);
	}
	log_journal = js != NULL && js[0] != '\0';
	log_set_level(level);
}

void log_set_level(enum log_level level)
{
	if (level < LOG_LEVEL_ERR)
		level = LOG_LEVEL_ERR;
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&log_level,
						    memory_order_relaxed);
}

int log_level_parse(const char *name)
{
	if (name == NULL)
		return -1;
	for (int l = LOG_LEVEL_ERR; l <= LOG_LEVEL_DEBUG; l++)
		if (strcmp(log_names[l], name) == 0)
			return l;
	return -1;
}

const char *log_level_name(enum log_level level)
{
	if (level < LOG_LEVEL_ERR || level > LOG_LEVEL_DEBUG)
		return "?";
	return log_names[level];
}

/*
 * Format and write one line at level; errnum != 0 appends its text.  errno
 * is left as the caller had it.
 */
static void log_vline(enum log_level level, int errnum, const char *fmt,
		      va_list ap)
{
	char msg[LOG_LINE_MAX];
	const char *word = "";
	int saved = errno;
	int n;

	if ((int)level > (int)log_get_level())
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n >= 0 && errnum != 0 && (size_t)n < sizeof(msg)) {
		errno = errnum;
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %m");
	}
	if (n >= (int)sizeof(msg))
		memcpy(msg + sizeof(msg) - 4, "...", 4);

	if (log_journal) {
		fprintf(stderr, "<%d>%s\n", (int)level, msg);
	} else {
		if (level == LOG_LEVEL_ERR)
			word = "error: ";
		else if (level == LOG_LEVEL_WARNING)
			word = "warning: ";
		fprintf(stderr, "%s: %s%s\n", log_progname, word, msg);
	}
	errno = saved;
}

void log_warn(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_WARNING, errnum, fmt, ap);
	va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_WARNING, 0, fmt, ap);
	va_end(ap);
}

void log_notice(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_NOTICE, 0, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_INFO, 0, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_DEBUG, 0, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_ERR, errnum, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
