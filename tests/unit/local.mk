# Unit tests: one Check suite per module (test_X.c tests X.c), no root.
# Adding one is a line in unit_tests and its flags line:
#	unit_tests += tests/unit/test_X
#	tests_unit_test_X_CPPFLAGS = $(unit_cppflags)
# Its source is tests/unit/test_X.c unless tests_unit_test_X_SOURCES says
# more; it links LDADD (libhomad.la, Check, libpcap), the default of every
# program that does not name its own _LDADD (all others do).
unit_cppflags = $(TESTS_CPPFLAGS) $(CHECK_CFLAGS) $(PCAP_CFLAGS) \
	$(LIBCONFIG_CFLAGS)
LDADD = $(TESTS_LDADD) $(PCAP_LIBS)

unit_tests = tests/unit/test_wire tests/unit/test_config \
	tests/unit/test_engine tests/unit/test_log
tests_unit_test_wire_SOURCES = tests/unit/test_wire.c tests/unit/pcapvec.c \
	tests/unit/pcapvec.h tests/unit/enginetest.c tests/unit/enginetest.h
tests_unit_test_wire_CPPFLAGS = $(unit_cppflags)
tests_unit_test_config_CPPFLAGS = $(unit_cppflags)
tests_unit_test_engine_CPPFLAGS = $(unit_cppflags)
tests_unit_test_log_CPPFLAGS = $(unit_cppflags)

# daemon/linkpkt.c: the link's IP, GRO and ICMP parsers and builders, on
# the captures of tests/vectors and malformed variants, without privileges.
unit_tests += tests/unit/test_linkpkt
tests_unit_test_linkpkt_SOURCES = tests/unit/test_linkpkt.c \
	tests/unit/pcapvec.c tests/unit/pcapvec.h
tests_unit_test_linkpkt_CPPFLAGS = $(unit_cppflags)

# The engine's modules (daemon/core): one suite each; all but pool use the
# engine harness tests/unit/enginetest.[ch].
unit_enginetest = tests/unit/enginetest.c tests/unit/enginetest.h
unit_tests += tests/unit/test_pool
tests_unit_test_pool_CPPFLAGS = $(unit_cppflags)
unit_tests += tests/unit/test_sock
tests_unit_test_sock_SOURCES = tests/unit/test_sock.c $(unit_enginetest)
tests_unit_test_sock_CPPFLAGS = $(unit_cppflags)
unit_tests += tests/unit/test_peer
tests_unit_test_peer_SOURCES = tests/unit/test_peer.c $(unit_enginetest)
tests_unit_test_peer_CPPFLAGS = $(unit_cppflags)
unit_tests += tests/unit/test_rpc
tests_unit_test_rpc_SOURCES = tests/unit/test_rpc.c $(unit_enginetest)
tests_unit_test_rpc_CPPFLAGS = $(unit_cppflags)
unit_tests += tests/unit/test_msgout
tests_unit_test_msgout_SOURCES = tests/unit/test_msgout.c $(unit_enginetest)
tests_unit_test_msgout_CPPFLAGS = $(unit_cppflags)
unit_tests += tests/unit/test_msgin
tests_unit_test_msgin_SOURCES = tests/unit/test_msgin.c $(unit_enginetest)
tests_unit_test_msgin_CPPFLAGS = $(unit_cppflags)
unit_tests += tests/unit/test_grant
tests_unit_test_grant_SOURCES = tests/unit/test_grant.c $(unit_enginetest)
tests_unit_test_grant_CPPFLAGS = $(unit_cppflags)
unit_tests += tests/unit/test_pacer
tests_unit_test_pacer_SOURCES = tests/unit/test_pacer.c $(unit_enginetest)
tests_unit_test_pacer_CPPFLAGS = $(unit_cppflags)
unit_tests += tests/unit/test_timer
tests_unit_test_timer_SOURCES = tests/unit/test_timer.c $(unit_enginetest)
tests_unit_test_timer_CPPFLAGS = $(unit_cppflags)

# A deterministic fuzz of the whole engine: 1,000,000 mutated and random
# packets (run it under ASan/UBSan too: configure with
# CFLAGS="-g -O1 -fsanitize=address,undefined").
unit_tests += tests/unit/test_engine_fuzz
tests_unit_test_engine_fuzz_SOURCES = tests/unit/test_engine_fuzz.c \
	tests/unit/pcapvec.c tests/unit/pcapvec.h
tests_unit_test_engine_fuzz_CPPFLAGS = $(unit_cppflags)

# The engine against the kernel module's captures (tests/vectors/kernel).
unit_tests += tests/unit/test_conformance
tests_unit_test_conformance_SOURCES = tests/unit/test_conformance.c \
	tests/unit/pcapvec.c tests/unit/pcapvec.h tests/unit/enginetest.h
tests_unit_test_conformance_CPPFLAGS = $(unit_cppflags)

# libhomaclient's internals (libclient/), no homad: allocator, tracking,
# event queue, addresses, and the protocol against a test-played peer.
unit_tests += tests/unit/test_client
tests_unit_test_client_CPPFLAGS = -I$(top_srcdir)/libclient \
	-I$(top_srcdir)/daemon/core \
	-I$(top_builddir)/proto -I$(top_srcdir)/proto
tests_unit_test_client_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) \
	$(PROTOBUF_C_CFLAGS) $(PTHREAD_LIBS)
tests_unit_test_client_LDADD = libhomaclient_core.la $(CHECK_LIBS) \
	$(PROTOBUF_C_LIBS) $(PTHREAD_LIBS)

# daemon/fault.c: the fault injector's decisions, holds and limits.
unit_tests += tests/unit/test_fault
tests_unit_test_fault_CPPFLAGS = $(unit_cppflags)

# homactl's pure parts (daemon/homactl_util.c): command prefixes,
# Prometheus names and escaping, the module's counter names, HTTP requests.
unit_tests += tests/unit/test_homactl
tests_unit_test_homactl_SOURCES = tests/unit/test_homactl.c \
	daemon/homactl_util.c daemon/homactl_util.h
tests_unit_test_homactl_CPPFLAGS = $(unit_cppflags)
tests_unit_test_homactl_LDADD = $(CHECK_LIBS)

# The engine's allocator: every allocation of a scenario refused in turn.
unit_tests += tests/unit/test_alloc
tests_unit_test_alloc_CPPFLAGS = $(unit_cppflags)

# daemon/session.c: the client protocol as a client drives it (datagrams and
# real memfds in, events out), every validator and state change; no root.
unit_tests += tests/unit/test_session
tests_unit_test_session_SOURCES = tests/unit/test_session.c libclient/direct.c \
	libclient/addr.c tests/unit/enginetest.c tests/unit/enginetest.h
tests_unit_test_session_CPPFLAGS = $(unit_cppflags) $(PROTOBUF_C_CFLAGS) \
	-I$(top_srcdir)/libclient -I$(top_srcdir)/daemon/core
tests/unit/test_session-test_session.$(OBJEXT): \
	proto/homa_client.pb-c.h
libclient/tests_unit_test_session-direct.$(OBJEXT): \
	proto/homa_client.pb-c.h

check_PROGRAMS += $(unit_tests)
TESTS += $(unit_tests)

# daemon/core is sans-I/O: what libhomacore.la takes from outside (nm -u)
# against an allow-list, and its includes (no root; works under the
# sanitizers and in a VPATH build).
TESTS += tests/unit/core_symbols.sh
EXTRA_DIST += tests/unit/core_symbols.sh tests/unit/core_symbols.allow
AM_TESTS_ENVIRONMENT += NM='$(NM)'; export NM;
