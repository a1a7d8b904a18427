/*
 * privs.h - dropping root once homad's privileged set-up is done.
 *
 * homad starts as root (or with the capabilities of its systemd unit),
 * opens its raw sockets and its control socket, then switches to an
 * unprivileged user, keeping exactly one capability: CAP_NET_RAW (permitted
 * and effective), which raw sockets of IP protocol 146 may need again
 * later.  Capabilities are per thread: call before any thread is created.
 */
#ifndef HOMAD_PRIVS_H
#define HOMAD_PRIVS_H

#include <stddef.h>

/*
 * Switch the process to user (a name from the passwd database): its
 * primary group only, no supplementary groups, then a capability set of
 * only CAP_NET_RAW (permitted and effective; inheritable and ambient
 * empty; where CAP_SETPCAP allows it, the bounding set too), and
 * no_new_privs.  Then verify with privs_check.  Returns 0, or -1 with a
 * one-line reason in err: the user does not exist or is root, a call
 * failed (named, with its error), or the result is not what was asked.
 */
int privs_drop(const char *user, char *err, size_t errlen);

/*
 * Check that the process runs as a non-root user (real, effective and
 * saved ids) and that its permitted and effective capabilities are exactly
 * CAP_NET_RAW.  Returns 0, or -1 with the reason in err.
 */
int privs_check(char *err, size_t errlen);

#endif /* HOMAD_PRIVS_H */
