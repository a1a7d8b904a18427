# Unit tests: one Check suite per module (test_X.c tests X.c).
check_PROGRAMS += tests/unit/test_wire tests/unit/test_config \
	tests/unit/test_engine tests/unit/test_log
TESTS += tests/unit/test_wire tests/unit/test_config tests/unit/test_engine \
	tests/unit/test_log

tests_unit_test_wire_SOURCES = tests/unit/test_wire.c tests/unit/pcapvec.c \
	tests/unit/pcapvec.h
tests_unit_test_wire_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_wire_CFLAGS = $(TESTS_CFLAGS) $(PCAP_CFLAGS)
tests_unit_test_wire_LDADD = $(TESTS_LDADD) $(PCAP_LIBS)

# daemon/linkpkt.c: the link's IP, GRO and ICMP parsers and builders, on
# the captures of tests/vectors and malformed variants, without privileges.
check_PROGRAMS += tests/unit/test_linkpkt
TESTS += tests/unit/test_linkpkt
tests_unit_test_linkpkt_SOURCES = tests/unit/test_linkpkt.c \
	tests/unit/pcapvec.c tests/unit/pcapvec.h
tests_unit_test_linkpkt_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_linkpkt_CFLAGS = $(TESTS_CFLAGS) $(PCAP_CFLAGS)
tests_unit_test_linkpkt_LDADD = $(TESTS_LDADD) $(PCAP_LIBS)

tests_unit_test_engine_SOURCES = tests/unit/test_engine.c
tests_unit_test_engine_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_engine_CFLAGS = $(TESTS_CFLAGS)
tests_unit_test_engine_LDADD = $(TESTS_LDADD)

tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_config_CFLAGS = $(TESTS_CFLAGS) $(LIBCONFIG_CFLAGS)
tests_unit_test_config_LDADD = $(TESTS_LDADD)

tests_unit_test_log_SOURCES = tests/unit/test_log.c
tests_unit_test_log_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_log_CFLAGS = $(TESTS_CFLAGS)
tests_unit_test_log_LDADD = $(TESTS_LDADD)

# The engine's modules (daemon/core): one suite each; all but pool use the
# engine harness tests/unit/enginetest.[ch].
check_PROGRAMS += tests/unit/test_pool tests/unit/test_sock tests/unit/test_peer tests/unit/test_rpc tests/unit/test_msgout tests/unit/test_msgin tests/unit/test_grant tests/unit/test_pacer tests/unit/test_timer
TESTS += tests/unit/test_pool tests/unit/test_sock tests/unit/test_peer tests/unit/test_rpc tests/unit/test_msgout tests/unit/test_msgin tests/unit/test_grant tests/unit/test_pacer tests/unit/test_timer

tests_unit_test_pool_SOURCES = tests/unit/test_pool.c
tests_unit_test_pool_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_pool_CFLAGS = $(TESTS_CFLAGS)
tests_unit_test_pool_LDADD = $(TESTS_LDADD)

tests_unit_test_sock_SOURCES = tests/unit/test_sock.c tests/unit/enginetest.c \
	tests/unit/enginetest.h
tests_unit_test_sock_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_sock_CFLAGS = $(TESTS_CFLAGS)
tests_unit_test_sock_LDADD = $(TESTS_LDADD)

tests_unit_test_peer_SOURCES = tests/unit/test_peer.c tests/unit/enginetest.c \
	tests/unit/enginetest.h
tests_unit_test_peer_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_peer_CFLAGS = $(TESTS_CFLAGS)
tests_unit_test_peer_LDADD = $(TESTS_LDADD)

tests_unit_test_rpc_SOURCES = tests/unit/test_rpc.c tests/unit/enginetest.c \
	tests/unit/enginetest.h
tests_unit_test_rpc_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_rpc_CFLAGS = $(TESTS_CFLAGS)
tests_unit_test_rpc_LDADD = $(TESTS_LDADD)

tests_unit_test_msgout_SOURCES = tests/unit/test_msgout.c tests/unit/enginetest.c \
	tests/unit/enginetest.h
tests_unit_test_msgout_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_msgout_CFLAGS = $(TESTS_CFLAGS)
tests_unit_test_msgout_LDADD = $(TESTS_LDADD)

tests_unit_test_msgin_SOURCES = tests/unit/test_msgin.c tests/unit/enginetest.c \
	tests/unit/enginetest.h
tests_unit_test_msgin_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_msgin_CFLAGS = $(TESTS_CFLAGS)
tests_unit_test_msgin_LDADD = $(TESTS_LDADD)

tests_unit_test_grant_SOURCES = tests/unit/test_grant.c tests/unit/enginetest.c \
	tests/unit/enginetest.h
tests_unit_test_grant_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_grant_CFLAGS = $(TESTS_CFLAGS)
tests_unit_test_grant_LDADD = $(TESTS_LDADD)

tests_unit_test_pacer_SOURCES = tests/unit/test_pacer.c tests/unit/enginetest.c \
	tests/unit/enginetest.h
tests_unit_test_pacer_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_pacer_CFLAGS = $(TESTS_CFLAGS)
tests_unit_test_pacer_LDADD = $(TESTS_LDADD)

tests_unit_test_timer_SOURCES = tests/unit/test_timer.c tests/unit/enginetest.c \
	tests/unit/enginetest.h
tests_unit_test_timer_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_timer_CFLAGS = $(TESTS_CFLAGS)
tests_unit_test_timer_LDADD = $(TESTS_LDADD)

# A deterministic fuzz of the whole engine: 1,000,000 mutated and random
# packets (run it under ASan/UBSan too: configure with
# CFLAGS="-g -O1 -fsanitize=address,undefined").
check_PROGRAMS += tests/unit/test_engine_fuzz
TESTS += tests/unit/test_engine_fuzz
tests_unit_test_engine_fuzz_SOURCES = tests/unit/test_engine_fuzz.c \
	tests/unit/pcapvec.c tests/unit/pcapvec.h
tests_unit_test_engine_fuzz_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_engine_fuzz_CFLAGS = $(TESTS_CFLAGS) $(PCAP_CFLAGS)
tests_unit_test_engine_fuzz_LDADD = $(TESTS_LDADD) $(PCAP_LIBS)

# The engine against the kernel module's captures (tests/vectors/kernel).
check_PROGRAMS += tests/unit/test_conformance
TESTS += tests/unit/test_conformance
tests_unit_test_conformance_SOURCES = tests/unit/test_conformance.c \
	tests/unit/pcapvec.c tests/unit/pcapvec.h tests/unit/enginetest.h
tests_unit_test_conformance_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_conformance_CFLAGS = $(TESTS_CFLAGS) $(PCAP_CFLAGS)
tests_unit_test_conformance_LDADD = $(TESTS_LDADD) $(PCAP_LIBS)

# libhomaclient's internals (libclient/), no homad: allocator, tracking,
# event queue, addresses, and the protocol against a test-played peer.
check_PROGRAMS += tests/unit/test_client
TESTS += tests/unit/test_client
tests_unit_test_client_SOURCES = tests/unit/test_client.c
tests_unit_test_client_CPPFLAGS = -I$(top_srcdir)/libclient \
	-I$(top_builddir)/proto -I$(top_srcdir)/proto
tests_unit_test_client_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) \
	$(PROTOBUF_C_CFLAGS) $(PTHREAD_LIBS)
tests_unit_test_client_LDADD = libhomaclient_core.la $(CHECK_LIBS) \
	$(PROTOBUF_C_LIBS) $(PTHREAD_LIBS)

# daemon/fault.c: the fault injector's decisions, holds and limits.
check_PROGRAMS += tests/unit/test_fault
TESTS += tests/unit/test_fault
tests_unit_test_fault_SOURCES = tests/unit/test_fault.c
tests_unit_test_fault_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_fault_CFLAGS = $(TESTS_CFLAGS)
tests_unit_test_fault_LDADD = $(TESTS_LDADD)

# homactl's pure parts (daemon/homactl_util.c): command prefixes,
# Prometheus names and escaping, the module's counter names, HTTP requests.
check_PROGRAMS += tests/unit/test_homactl
TESTS += tests/unit/test_homactl
tests_unit_test_homactl_SOURCES = tests/unit/test_homactl.c \
	daemon/homactl_util.c daemon/homactl_util.h
tests_unit_test_homactl_CPPFLAGS = $(TESTS_CPPFLAGS) -I$(top_srcdir)/daemon
tests_unit_test_homactl_CFLAGS = $(TESTS_CFLAGS)
tests_unit_test_homactl_LDADD = $(CHECK_LIBS)

# daemon/core is sans-I/O: what libhomacore.la takes from outside (nm -u)
# against an allow-list, and its includes (no root; works under the
# sanitizers and in a VPATH build).
TESTS += tests/unit/core_symbols.sh
EXTRA_DIST += tests/unit/core_symbols.sh tests/unit/core_symbols.allow
AM_TESTS_ENVIRONMENT += NM='$(NM)'; export NM;

# The engine's allocator: every allocation of a scenario refused in turn.
check_PROGRAMS += tests/unit/test_alloc
TESTS += tests/unit/test_alloc
tests_unit_test_alloc_SOURCES = tests/unit/test_alloc.c
tests_unit_test_alloc_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_alloc_CFLAGS = $(TESTS_CFLAGS)
tests_unit_test_alloc_LDADD = $(TESTS_LDADD)

# daemon/session.c: the client protocol as a client drives it (datagrams and
# real memfds in, events out), every validator and state change; no root.
check_PROGRAMS += tests/unit/test_session
TESTS += tests/unit/test_session
tests_unit_test_session_SOURCES = tests/unit/test_session.c
tests_unit_test_session_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_session_CFLAGS = $(TESTS_CFLAGS) $(PROTOBUF_C_CFLAGS)
tests_unit_test_session_LDADD = $(TESTS_LDADD)
tests/unit/tests_unit_test_session-test_session.$(OBJEXT): \
	proto/homa_client.pb-c.h
