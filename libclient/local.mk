# libclient/: libhomaclient, the native client library (one installed
# header, homa/client.h).  Its objects live in a convenience library so the
# unit tests link exactly what ships; the shared library exports hc_* only.
LIBCLIENT_SOURCES = libclient/client_int.h libclient/client.c \
	libclient/conn.c libclient/send.c libclient/recv.c \
	libclient/evq.c libclient/txarea.c libclient/txtrack.c \
	libclient/addr.c libclient/handoff.c libclient/direct.c \
	libclient/drx.c libclient/zmem.c \
	daemon/core/wire.c

noinst_LTLIBRARIES += libhomaclient_core.la
libhomaclient_core_la_SOURCES = $(LIBCLIENT_SOURCES)
libhomaclient_core_la_CPPFLAGS = -I$(top_srcdir)/libclient \
	-I$(top_srcdir)/daemon/core \
	-I$(top_builddir)/proto -I$(top_srcdir)/proto
libhomaclient_core_la_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS) \
	$(PTHREAD_LIBS)
libhomaclient_core_la_LIBADD = libhomaproto.la $(PTHREAD_LIBS)

lib_LTLIBRARIES = libhomaclient.la
libhomaclient_la_SOURCES =
libhomaclient_la_LIBADD = libhomaclient_core.la $(PROTOBUF_C_LIBS) \
	$(PTHREAD_LIBS)
libhomaclient_la_LDFLAGS = -version-info 1:0:1 -export-symbols-regex '^hc_' \
	-no-undefined

homaclientincdir = $(includedir)/homa
homaclientinc_HEADERS = libclient/homa/client.h

pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = libclient/libhomaclient.pc
EXTRA_DIST += libclient/libhomaclient.pc.in
