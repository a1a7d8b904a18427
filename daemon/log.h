/*
 * log.h - homad's one small logging API.
 *
 * Lines go to stderr.  Under systemd (JOURNAL_STREAM set, or forced with
 * log_init) each line carries an sd-daemon "<N>" priority prefix so that
 * journald records the level; otherwise lines are prefixed with the program
 * name.  Safe to call from any thread (one fprintf per line).
 */
#ifndef HOMAD_LOG_H
#define HOMAD_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* Set the program name and level; prefixes follow JOURNAL_STREAM. */
void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parse "err", "warning", "notice", "info", "debug"; -1 if unknown. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);

/* Warning with ": strerror(errno)" appended. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Warning without errno. */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Error with errno text, then exit(1): only for homad's own invariants. */
_Noreturn void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/* Error without errno text, then exit(1). */
_Noreturn void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#endif /* HOMAD_LOG_H */
