/*
 * sd.h - the part of libsystemd homad uses (sd-daemon.h), or, when it is
 * built --without-systemd, stand-ins: no socket activation (a homad started
 * with LISTEN_FDS refuses to guess: EOPNOTSUPP), no watchdog, and no
 * notification beyond the unix NOTIFY_SOCKETs ctl.c writes to itself.
 */
#ifndef HOMAD_SD_H
#define HOMAD_SD_H

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#else
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define SD_LISTEN_FDS_START 3

/* Sockets passed to this process (LISTEN_PID is ours): refused. */
static inline int sd_listen_fds(int unset_environment)
{
	const char *pid = getenv("LISTEN_PID");

	(void)unset_environment;
	if (getenv("LISTEN_FDS") == NULL || pid == NULL ||
	    strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	return -EOPNOTSUPP;
}

static inline int sd_is_socket(int fd, int family, int type, int listening)
{
	(void)fd, (void)family, (void)type, (void)listening;
	return -EOPNOTSUPP;
}

static inline int sd_is_socket_unix(int fd, int type, int listening,
				    const char *path, size_t length)
{
	(void)fd, (void)type, (void)listening, (void)path, (void)length;
	return -EOPNOTSUPP;
}

static inline int sd_notify(int unset_environment, const char *state)
{
	(void)unset_environment, (void)state;
	return 0;
}

static inline int sd_watchdog_enabled(int unset_environment, uint64_t *usec)
{
	(void)unset_environment, (void)usec;
	return 0;
}
#endif

#endif /* HOMAD_SD_H */
