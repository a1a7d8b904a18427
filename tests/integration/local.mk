# Integration tests: real homad processes in network namespaces they create
# and delete themselves (root needed; they skip with exit 77 and a reason
# when it is truly absent).
check_PROGRAMS += tests/integration/pktsend tests/integration/link_test \
	tests/integration/notify_listen tests/integration/chan_test
TESTS += tests/integration/link.sh tests/integration/daemon.sh \
	tests/integration/testbed.sh tests/integration/chan.sh
# The units (not built --without-systemd).
if SYSTEMD
TESTS += tests/integration/systemd_verify.sh
endif
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

# A stopped homad flooded through tiny receive buffers: no ICMP
# unreachable from its kernel, drops shown in status and metrics.
TESTS += tests/integration/overload.sh
EXTRA_DIST += tests/integration/overload.sh

# Applications of libhomaclient checking homad end to end (e2e.sh): echo
# servers, sinks, and clients for every case of the issue's list.
check_PROGRAMS += tests/integration/e2e_test
TESTS += tests/integration/e2e.sh
EXTRA_DIST += tests/integration/e2e.sh

# Direct send from the library (clients.direct_send_groups), through
# e2e_test: limits, loss, links.
TESTS += tests/integration/direct.sh
EXTRA_DIST += tests/integration/direct.sh

# homad under overload (busy CPUs, a stalled homad, a slow sender, a
# stopped peer), with the default timeouts, through e2e_test.
TESTS += tests/integration/busy.sh
EXTRA_DIST += tests/integration/busy.sh
tests_integration_e2e_test_SOURCES = tests/integration/e2e_test.c
tests_integration_e2e_test_CPPFLAGS = $(TESTS_CPPFLAGS) -I$(top_srcdir)/libclient
tests_integration_e2e_test_CFLAGS = $(AM_CFLAGS) $(PTHREAD_LIBS)
tests_integration_e2e_test_LDADD = libhomaclient.la $(PTHREAD_LIBS)

# System calls per RPC of libhomaclient applications (issue 13): counted by
# syscalls_test, which defines the socket calls the library makes.
check_PROGRAMS += tests/integration/syscalls_test
TESTS += tests/integration/syscalls.sh
EXTRA_DIST += tests/integration/syscalls.sh
tests_integration_syscalls_test_SOURCES = tests/integration/syscalls_test.c
tests_integration_syscalls_test_CPPFLAGS = $(TESTS_CPPFLAGS) -I$(top_srcdir)/libclient
tests_integration_syscalls_test_CFLAGS = $(AM_CFLAGS) $(PTHREAD_LIBS)
tests_integration_syscalls_test_LDADD = libhomaclient.la $(PTHREAD_LIBS) -ldl

# homad's per-client limits (memory, outstanding requests) through
# libhomaclient.
check_PROGRAMS += tests/integration/limits_test
TESTS += tests/integration/limits.sh
EXTRA_DIST += tests/integration/limits.sh
tests_integration_limits_test_SOURCES = tests/integration/limits_test.c
tests_integration_limits_test_CPPFLAGS = $(TESTS_CPPFLAGS) -I$(top_srcdir)/libclient
tests_integration_limits_test_LDADD = libhomaclient.la

# stress.sh: 3 hosts on contrib/testbed, 5% loss at the router, homad's
# fault injection; servers counting executions per request id, clients
# with W3/W4 sizes checking every response.  `make check-long` runs the
# full 100,000 RPCs.
check_PROGRAMS += tests/integration/stress_test
TESTS += tests/integration/stress.sh
EXTRA_DIST += tests/integration/stress.sh
tests_integration_stress_test_SOURCES = tests/integration/stress_test.c \
	contrib/bench/workload.c contrib/bench/bench.h
tests_integration_stress_test_CPPFLAGS = $(TESTS_CPPFLAGS) \
	-I$(top_srcdir)/libclient -I$(top_srcdir)/contrib/bench \
	-DWORKLOADS_DIR='"$(abs_top_srcdir)/contrib/workloads"'
tests_integration_stress_test_LDADD = libhomaclient.la

# The long tests: the full stress runs, 100,000 RPCs with jumbo frames and
# 100,000 with Ethernet-sized ones (about a minute; STRESS_RPCS=N for
# another count).
check-long:
	for mtu in 9000 1500; do \
		STRESS_RPCS=$${STRESS_RPCS:-100000} STRESS_MTU=$$mtu \
		$(MAKE) $(AM_MAKEFLAGS) check \
			TESTS=tests/integration/stress.sh || exit 1; \
		grep '^# stress.sh:' tests/integration/stress.log; \
	done
.PHONY: check-long

# Process-level failures (reliability.sh): peers killed or silent, clients
# killed, homad restarted under clients, a hostile peer on the wire.
check_PROGRAMS += tests/integration/rel_test tests/integration/hostile_peer
TESTS += tests/integration/reliability.sh
EXTRA_DIST += tests/integration/reliability.sh
tests_integration_rel_test_SOURCES = tests/integration/rel_test.c
tests_integration_rel_test_CPPFLAGS = $(TESTS_CPPFLAGS) -I$(top_srcdir)/libclient
tests_integration_rel_test_LDADD = libhomaclient.la
tests_integration_hostile_peer_SOURCES = tests/integration/hostile_peer.c
tests_integration_hostile_peer_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_integration_hostile_peer_LDADD = libhomad.la

# Link-layer fault injection (faults.sh): drops, duplicates, reordering and
# delay from homa.conf's test group and `homactl set`, through e2e_test's
# echoes and contrib/examples/echo_client's round trips.
TESTS += tests/integration/faults.sh
EXTRA_DIST += tests/integration/faults.sh

# valgrind.sh: homad (both hosts), libhomaclient's applications and homactl
# under memcheck on an echo smoke test; clean or it fails.  Not in the
# --enable-sanitizers build: AddressSanitizer's programs cannot run under
# valgrind (and that build checks memory itself).
if !SANITIZERS
TESTS += tests/integration/valgrind.sh
endif
EXTRA_DIST += tests/integration/valgrind.sh tests/integration/valgrind.supp

# How the data plane waits: packets never wake the control thread; spin
# mode (network.spin_us) replaces sleeps by polling.
TESTS += tests/integration/dataplane.sh
EXTRA_DIST += tests/integration/dataplane.sh

# contrib/bench/compare: short runs of latency, throughput (-r 2) and load
# on test-beds of its own; the tables, data files and homad counters.
TESTS += tests/integration/compare.sh
EXTRA_DIST += tests/integration/compare.sh

# contrib/wireshark/homa.lua under tshark: the vectors' listings, made
# packets of each malformed kind and of the udp link, homad's own traffic.
TESTS += tests/integration/wireshark.sh
EXTRA_DIST += tests/integration/wireshark.sh tests/integration/wireshark_check.py

# homactl.sh: every homactl command against live homads with traffic
# (JSON keys, set and reload refusals, promtool, --http through curl, the
# errors of a wrong or absent socket), and homad -n's start-up checks.
TESTS += tests/integration/homactl.sh
EXTRA_DIST += tests/integration/homactl.sh

# systemd.sh: `systemctl start homad` for real, in a systemd booted by
# systemd-nspawn over this build's make install: notify, reload, watchdog,
# socket activation, the scrape unit, stop, the journal.  Not in the
# --enable-sanitizers build: homad.service's system call filter (~@debug)
# denies LeakSanitizer the ptrace it needs at exit.
if !SANITIZERS
if SYSTEMD
TESTS += tests/integration/systemd.sh
endif
endif
EXTRA_DIST += tests/integration/systemd.sh
