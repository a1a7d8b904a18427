# Integration tests: real homad processes in network namespaces they create
# and delete themselves (root needed; they skip with exit 77 and a reason
# when it is truly absent).
check_PROGRAMS += tests/integration/pktsend tests/integration/link_test \
	tests/integration/notify_listen tests/integration/chan_test
TESTS += tests/integration/link.sh tests/integration/daemon.sh \
	tests/integration/systemd_verify.sh tests/integration/testbed.sh tests/integration/chan.sh
EXTRA_DIST += tests/integration/lib.sh tests/integration/link.sh \
	tests/integration/daemon.sh tests/integration/systemd_verify.sh \
	tests/integration/testbed.sh \
	tests/integration/chan.sh

# Sends the Homa packets of pcaps (or garbage) from a raw socket.
tests_integration_pktsend_SOURCES = tests/integration/pktsend.c \
	tests/unit/pcapvec.c tests/unit/pcapvec.h
tests_integration_pktsend_CPPFLAGS = $(TESTS_CPPFLAGS) -I$(top_srcdir)/tests/unit
tests_integration_pktsend_CFLAGS = $(AM_CFLAGS) $(PCAP_CFLAGS)
tests_integration_pktsend_LDADD = libhomad.la $(PCAP_LIBS)

# Drives daemon/link.c directly: batched sends with per-packet priority.
tests_integration_link_test_SOURCES = tests/integration/link_test.c
tests_integration_link_test_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_integration_link_test_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS)
tests_integration_link_test_LDADD = libhomad.la

# A NOTIFY_SOCKET listener: records sd_notify datagrams to a file.
tests_integration_notify_listen_SOURCES = tests/integration/notify_listen.c
tests_integration_notify_listen_CFLAGS = $(AM_CFLAGS)

# A client of homad's client channel speaking the protocol directly
# (protobuf-c, memfds, SCM_RIGHTS): echo RPCs and hostile clients.
tests_integration_chan_test_SOURCES = tests/integration/chan_test.c
tests_integration_chan_test_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_integration_chan_test_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS)
tests_integration_chan_test_LDADD = libhomaproto.la $(PROTOBUF_C_LIBS)
tests/integration/tests_integration_chan_test-chan_test.$(OBJEXT): \
	proto/homa_client.pb-c.h

# Applications of libhomaclient checking homad end to end (e2e.sh): echo
# servers, sinks, and clients for every case of the issue's list.
check_PROGRAMS += tests/integration/e2e_test
TESTS += tests/integration/e2e.sh
EXTRA_DIST += tests/integration/e2e.sh
tests_integration_e2e_test_SOURCES = tests/integration/e2e_test.c
tests_integration_e2e_test_CPPFLAGS = $(TESTS_CPPFLAGS) -I$(top_srcdir)/libclient
tests_integration_e2e_test_CFLAGS = $(AM_CFLAGS) $(PTHREAD_LIBS)
tests_integration_e2e_test_LDADD = libhomaclient.la $(PTHREAD_LIBS)

# homad's per-client limits (memory, outstanding requests) through
# libhomaclient.
check_PROGRAMS += tests/integration/limits_test
TESTS += tests/integration/limits.sh
EXTRA_DIST += tests/integration/limits.sh
tests_integration_limits_test_SOURCES = tests/integration/limits_test.c
tests_integration_limits_test_CPPFLAGS = $(TESTS_CPPFLAGS) -I$(top_srcdir)/libclient
tests_integration_limits_test_LDADD = libhomaclient.la
