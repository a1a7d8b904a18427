/*
 * privs.c - dropping root, keeping CAP_NET_RAW (see privs.h).
 */
#include <config.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <unistd.h>

#include "privs.h"

/* A capability state holding only CAP_NET_RAW, permitted and effective. */
static cap_t privs_wanted(void)
{
	cap_value_t raw = CAP_NET_RAW;
	cap_t caps = cap_init();

	if (caps == NULL)
		return NULL;
	if (cap_set_flag(caps, CAP_PERMITTED, 1, &raw, CAP_SET) < 0 ||
	    cap_set_flag(caps, CAP_EFFECTIVE, 1, &raw, CAP_SET) < 0) {
		cap_free(caps);
		return NULL;
	}
	return caps;
}

/*
 * Shrink the bounding set to CAP_NET_RAW when we may (CAP_SETPCAP
 * effective); under a systemd unit whose CapabilityBoundingSet lacks
 * CAP_SETPCAP the unit has bounded it already.
 */
static int privs_drop_bounding(char *err, size_t errlen)
{
	cap_flag_value_t setpcap = CAP_CLEAR;
	cap_t cur = cap_get_proc();
	int max = (int)cap_max_bits();

	if (cur == NULL) {
		snprintf(err, errlen, "cap_get_proc: %s", strerror(errno));
		return -1;
	}
	cap_get_flag(cur, CAP_SETPCAP, CAP_EFFECTIVE, &setpcap);
	cap_free(cur);
	if (setpcap != CAP_SET)
		return 0;
	for (int c = 0; c < max; c++) {
		if (c == CAP_NET_RAW)
			continue;
		if (cap_drop_bound((cap_value_t)c) < 0 && errno != EINVAL) {
			snprintf(err, errlen,
				 "cannot drop capability %d from the bounding "
				 "set: %s",
				 c, strerror(errno));
			return -1;
		}
	}
	return 0;
}

int privs_drop(const char *user, char *err, size_t errlen)
{
	struct passwd *pw;
	cap_t caps;
	uid_t uid;
	gid_t gid;

	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		if (errno != 0 && errno != ENOENT && errno != ESRCH)
			snprintf(err, errlen, "cannot look up user \"%s\": %s",
				 user, strerror(errno));
		else
			snprintf(err, errlen, "user \"%s\" does not exist",
				 user);
		return -1;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (uid == 0) {
		snprintf(err, errlen,
			 "user \"%s\" has uid 0: refusing to run as root after "
			 "start-up",
			 user);
		return -1;
	}
	if (privs_drop_bounding(err, errlen) < 0)
		return -1;
	/* Keep the permitted set across the uid change. */
	if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) < 0) {
		snprintf(err, errlen, "prctl(PR_SET_KEEPCAPS): %s",
			 strerror(errno));
		return -1;
	}
	if (setgroups(1, &gid) < 0) {
		snprintf(err, errlen, "setgroups(%u): %s", (unsigned)gid,
			 strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) < 0) {
		snprintf(err, errlen, "setresgid(%u): %s", (unsigned)gid,
			 strerror(errno));
		return -1;
	}
	if (setresuid(uid, uid, uid) < 0) {
		snprintf(err, errlen, "setresuid(%u): %s", (unsigned)uid,
			 strerror(errno));
		return -1;
	}
	caps = privs_wanted();
	if (caps == NULL) {
		snprintf(err, errlen, "libcap: %s", strerror(errno));
		return -1;
	}
	if (cap_set_proc(caps) < 0) {
		snprintf(err, errlen, "cannot keep only CAP_NET_RAW: %s",
			 strerror(errno));
		cap_free(caps);
		return -1;
	}
	cap_free(caps);
	if (prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) < 0) {
		snprintf(err, errlen, "prctl(PR_SET_KEEPCAPS, 0): %s",
			 strerror(errno));
		return -1;
	}
	/* Ambient capabilities (a unit may raise some): none after exec. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0L, 0L, 0L) < 0 &&
	    errno != EINVAL) {
		snprintf(err, errlen, "cannot clear ambient capabilities: %s",
			 strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0) {
		snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s",
			 strerror(errno));
		return -1;
	}
	return privs_check(err, errlen);
}

int privs_check(char *err, size_t errlen)
{
	uid_t ruid, euid, suid;
	cap_t cur, wanted;
	int diff;

	if (getresuid(&ruid, &euid, &suid) < 0) {
		snprintf(err, errlen, "getresuid: %s", strerror(errno));
		return -1;
	}
	if (ruid == 0 || euid == 0 || suid == 0) {
		snprintf(err, errlen, "still running as root (uids %u/%u/%u)",
			 (unsigned)ruid, (unsigned)euid, (unsigned)suid);
		return -1;
	}
	cur = cap_get_proc();
	wanted = privs_wanted();
	if (cur == NULL || wanted == NULL) {
		snprintf(err, errlen, "libcap: %s", strerror(errno));
		cap_free(cur);
		cap_free(wanted);
		return -1;
	}
	diff = cap_compare(cur, wanted);
	if (diff != 0) {
		char *text = cap_to_text(cur, NULL);

		snprintf(err, errlen,
			 "capabilities are \"%s\", not only cap_net_raw=ep",
			 text != NULL ? text : "?");
		cap_free(text);
	}
	cap_free(cur);
	cap_free(wanted);
	return diff == 0 ? 0 : -1;
}
