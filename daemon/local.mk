# daemon/: homad itself.  Everything but main.c goes into the convenience
# library libhomad.la, which the tests link, so tests exercise exactly what
# ships.
noinst_LTLIBRARIES += libhomad.la
libhomad_la_SOURCES = \
	daemon/core/wire.c daemon/core/wire.h \
	daemon/core/metrics.c daemon/core/metrics.h \
	daemon/core/engine.c daemon/core/engine.h \
	daemon/log.c daemon/log.h \
	daemon/config.c daemon/config.h \
	daemon/uring.c daemon/uring.h \
	daemon/link.c daemon/link.h \
	daemon/dataplane.c daemon/dataplane.h
libhomad_la_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS) $(LIBCONFIG_CFLAGS)
libhomad_la_LIBADD = $(URING_LIBS) $(LIBCONFIG_LIBS) $(PTHREAD_LIBS)
