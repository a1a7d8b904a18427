/*
 * paths.h - where homad and homactl look when not told: the configuration
 * file under configure's sysconfdir (where `make install` puts homa.conf),
 * and homad's sockets under /run/homad whatever the prefix (systemd's
 * homad.socket listens there).  libhomaclient's public homa/client.h states
 * the client socket for applications (HC_DEFAULT_SOCKET): the same path.
 */
#ifndef HOMAD_PATHS_H
#define HOMAD_PATHS_H

#ifndef SYSCONFDIR
#error "SYSCONFDIR is defined by the build (Makefile.am's AM_CPPFLAGS)"
#endif

#define HOMA_CONF_DEFAULT_PATH		SYSCONFDIR "/homa.conf"
#define HOMA_CONF_DEFAULT_SOCKET	"/run/homad/homad.sock"
#define HOMA_CONF_DEFAULT_CLIENT_SOCKET "/run/homad/homa.sock"

#endif /* HOMAD_PATHS_H */
