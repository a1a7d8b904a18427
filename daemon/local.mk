# daemon/core/: the sans-I/O engine, a convenience library of its own whose
# include path reaches only daemon/core (not daemon/, not proto/): a core file
# that includes log.h or chan.h does not build.  tests/unit/core_symbols.sh
# checks what it takes from outside (nm -u) against core_symbols.allow.
noinst_LTLIBRARIES += libhomacore.la
libhomacore_la_SOURCES = \
	daemon/core/wire.c daemon/core/wire.h \
	daemon/core/metrics.c daemon/core/metrics.h \
	daemon/core/engine.c daemon/core/engine.h \
	daemon/core/homa_int.h \
	daemon/core/sock.c daemon/core/pool.c daemon/core/peer.c \
	daemon/core/rpc.c daemon/core/msgout.c daemon/core/msgin.c \
	daemon/core/grant.c daemon/core/pacer.c daemon/core/timer.c
libhomacore_la_CPPFLAGS = -I$(top_srcdir)/daemon/core
libhomacore_la_CFLAGS = $(AM_CFLAGS)

# daemon/: homad itself.  Everything but main.c goes into the convenience
# library libhomad.la (with libhomacore.la in it), which the tests link, so
# tests exercise exactly what ships.
noinst_LTLIBRARIES += libhomad.la
libhomad_la_SOURCES = \
	daemon/log.c daemon/log.h daemon/clock.h \
	daemon/conf.c daemon/conf.h daemon/paths.h \
	daemon/uring.c daemon/uring.h \
	daemon/link.c daemon/link.h \
	daemon/linkpkt.c daemon/linkpkt.h \
	daemon/fault.c daemon/fault.h \
	daemon/stats.c daemon/stats.h \
	daemon/dataplane.c daemon/dataplane.h \
	daemon/session.c daemon/session.h daemon/session_stats.h \
	daemon/chan.c daemon/chan.h \
	daemon/ctl.c daemon/ctl.h \
	daemon/privs.c daemon/privs.h daemon/sd.h
libhomad_la_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS) $(LIBCONFIG_CFLAGS) \
	$(SYSTEMD_CFLAGS) $(PROTOBUF_C_CFLAGS) $(LIBCAP_CFLAGS)
libhomad_la_LIBADD = libhomacore.la libhomaproto.la $(URING_LIBS) \
	$(LIBCONFIG_LIBS) $(SYSTEMD_LIBS) $(EV_LIBS) $(LIBCAP_LIBS) $(PTHREAD_LIBS)

sbin_PROGRAMS += homad
homad_SOURCES = daemon/main.c
homad_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
homad_LDADD = libhomad.la

bin_PROGRAMS += homactl
homactl_SOURCES = daemon/homactl.c daemon/homactl_util.c daemon/paths.h \
	daemon/homactl_util.h
homactl_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS) $(JSONC_CFLAGS)
homactl_LDADD = libhomaproto.la $(JSONC_LIBS)

# The generated protocol header must exist before these compile (a plain
# `make homad` in a fresh tree does not go through BUILT_SOURCES).
daemon/libhomad_la-ctl.lo daemon/homactl-homactl.$(OBJEXT): proto/homa_ctl.pb-c.h
daemon/libhomad_la-chan.lo daemon/libhomad_la-dataplane.lo: \
	proto/homa_client.pb-c.h

# homactl's bash completion (configure: --with-bashcompletiondir).
bashcompletion_DATA = contrib/bash-completion/homactl
EXTRA_DIST += contrib/bash-completion/homactl
