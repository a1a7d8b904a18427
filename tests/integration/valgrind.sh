#!/bin/sh
# valgrind.sh - homad and libhomaclient valgrind-clean on a smoke test.
# Two hosts (namespaces A and B joined by veth), each with a homad under
# valgrind's memcheck.  The applications (tests/integration/e2e_test,
# linked to the shared libhomaclient) and homactl run under memcheck too:
#   - an echo server in each host; echo RPCs of 1 B .. 1 MB from B to A
#     (IPv4) and from A to B (IPv6), byte-exact; private RPCs; 100
#     concurrent RPCs from two client processes;
#   - a reload (SIGHUP) of each homad;
#   - homactl status and metrics of each homad;
#   - each homad stopped with SIGTERM must exit 0, which under
#     --error-exitcode=99 means no memcheck error and no definite leak;
#     the servers see their homad go and must exit 0 as well, and every
#     report must be empty.
# The homads sleep in poll(2) (network.ring_wait = "poll"): valgrind 3.19
# (Debian 12's) treats io_uring_enter as a call that does not block, so
# while the data plane waits in it no other thread of homad runs, and
# with the default "io_uring" wait homad would never answer its control
# socket.  tests/integration/valgrind.supp holds suppressions for errors
# proven to be in system libraries (none needed so far).
# Exit 77 only without valgrind, root or netns.
. "$(dirname "$0")/lib.sh"

E2E="$top_builddir/tests/integration/e2e_test"
LIBTOOL="$top_builddir/libtool"
SUPP="$top_srcdir/tests/integration/valgrind.supp"
[ -x "$E2E" ] || fail "$E2E not built"
[ -x "$LIBTOOL" ] || fail "$LIBTOOL not found"
command -v valgrind >/dev/null 2>&1 ||
	skip "needs valgrind (contrib/install-deps.sh installs it)"

require_netns
setup_tmp
A=hd-$$-va
B=hd-$$-vb
make_pair "$A" "$B"

T_START=$(now_ms)

# vg NAME NS CMD...: CMD in namespace NS under memcheck, its report in
# $T_TMP/NAME.vg; killed after $VG_LIMIT seconds if that is set.  Programs
# linked to the shared libhomaclient are libtool wrapper scripts: libtool
# --mode=execute runs valgrind on the real binary.  vg execs: call it in a
# subshell (&, $(...), (...)); in the background without VG_LIMIT, $! is
# then the program's pid.
vg() {
	name=$1
	ns=$2
	shift 2
	exec ${VG_LIMIT:+timeout -s KILL "$VG_LIMIT"} \
		ip netns exec "$ns" "$LIBTOOL" --mode=execute valgrind -q \
		--error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite --show-leak-kinds=definite \
		--suppressions="$SUPP" --log-file="$T_TMP/$name.vg" "$@"
}

# vg_report NAME: memcheck's report of NAME, for a failure message.
vg_report() {
	echo "--- valgrind report of $1:"
	cat "$T_TMP/$1.vg" 2>/dev/null
}

# wait_long CMD...: retry a command for up to 60 s (programs start 20-50
# times slower under memcheck, and the machine may be busy).
wait_long() {
	i=0
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -gt 600 ] && return 1
		sleep 0.1
	done
	return 0
}

# ---- homad in A and B, under memcheck --------------------------------------
printf 'network = {\n\tring_wait = "poll";\n};\n' >"$T_TMP/homa.conf"
for h in a b; do
	vg "homad$h" "$(ns_of $h)" "$HOMAD" -c "$T_TMP/homa.conf" \
		-S "$T_TMP/$h.ctl" -C "$T_TMP/$h.sock" >"$T_TMP/$h.log" 2>&1 &
	if [ $h = a ]; then HA=$!; else HB=$!; fi
	T_PIDS="$T_PIDS $!"
done
for h in a b; do
	wait_long "$HOMACTL" -s "$T_TMP/$h.ctl" status || {
		cat "$T_TMP/$h.log"
		vg_report "homad$h"
		fail "homad in $h did not start (under memcheck)"
	}
done
note "both homads up under memcheck in $(($(now_ms) - T_START)) ms"

# ---- an echo server in each host, under memcheck --------------------------
# start_server HOST ARGS...: an e2e_test server in HOST (a, b); SRV = its
# pid.
start_server() {
	h=$1
	shift
	rm -f "$T_TMP/srv$h.ready"
	HOMA_SOCKET="$T_TMP/$h.sock" vg "srv$h" "$(ns_of "$h")" "$E2E" \
		server --ready "$T_TMP/srv$h.ready" "$@" \
		>"$T_TMP/srv$h.log" 2>&1 &
	SRV=$!
	T_PIDS="$T_PIDS $SRV"
	wait_long test -f "$T_TMP/srv$h.ready" || {
		cat "$T_TMP/srv$h.log"
		vg_report "srv$h"
		fail "echo server in $h did not start"
	}
}
start_server a -f 4 --echo 100
SA=$SRV
start_server b -f 6 --echo 101
SB=$SRV

# ---- echo RPCs both ways, clients under memcheck ---------------------------
SIZES=1,1400,1401,65536,500000,1000000
# echo_case NAME HOST COMMAND ARGS...: an e2e_test client command in HOST,
# at most 90 s (NAME: one word, it names the report).
echo_case() {
	name=$1
	h=$2
	shift 2
	t0=$(now_ms)
	if out=$(HOMA_SOCKET="$T_TMP/$h.sock" VG_LIMIT=90 vg "$name" \
		"$(ns_of "$h")" "$E2E" "$@" 2>"$T_TMP/$name.err"); then
		note "$name: pass, $out ($(($(now_ms) - t0)) ms)"
	else
		rc=$?
		cat "$T_TMP/$name.err"
		vg_report "$name"
		fail "$name: e2e_test $1 exited $rc"
	fi
}
echo_case echo-b-to-a-ipv4 b echo -f 4 -d "$A4" -p 100 --sizes "$SIZES"
echo_case echo-a-to-b-ipv6 a echo -f 6 -d "$B6" -p 101 --sizes "$SIZES"
echo_case private-b-to-a b echo -f 4 -d "$A4" -p 100 --sizes 1,100000 \
	--private
# Two forked client processes (memcheck follows them, same report), 50
# RPCs outstanding each.
echo_case concurrent-a-to-b a concurrent -f 6 -d "$B6" -p 101 --procs 2 \
	-n 50 --within 60000

# ---- a reload (SIGHUP) of each homad ----------------------------------------
for h in a b; do
	if [ $h = a ]; then hp=$HA; else hp=$HB; fi
	kill -HUP "$hp"
	wait_long sh -c "'$HOMACTL' -s '$T_TMP/$h.ctl' -t 30000 status |
		grep -q '^reloads: *1 ok, 0 failed'" ||
		fail "homad in $h did not reload: $(cat "$T_TMP/$h.log")"
done
note "SIGHUP: both homads reloaded homa.conf"

# ---- homactl under memcheck ------------------------------------------------
for h in a b; do
	for cmd in status metrics; do
		out="$T_TMP/homactl-$cmd-$h.out"
		(VG_LIMIT=60 vg "homactl-$cmd-$h" "$(ns_of $h)" "$HOMACTL" \
			-s "$T_TMP/$h.ctl" -t 30000 $cmd) >"$out" 2>&1 || {
			cat "$out"
			vg_report "homactl-$cmd-$h"
			fail "homactl $cmd of $h under memcheck"
		}
	done
	grep -q '^homad_packets_received_total{type="DATA"} [1-9]' \
		"$T_TMP/homactl-metrics-$h.out" ||
		fail "homactl metrics of $h: no DATA packets counted"
	grep -q '^uptime:' "$T_TMP/homactl-status-$h.out" ||
		fail "homactl status of $h: $(cat "$T_TMP/homactl-status-$h.out")"
done
note "homactl status and metrics of both: clean, $(grep -c '^homad_' \
	"$T_TMP/homactl-metrics-a.out") metric lines"

# ---- stop: each homad (memcheck's verdict), then its server ---------------
# stopped NAME PID WHAT: PID exits 0 within 60 s (under --error-exitcode,
# 99 means memcheck errors or definite leaks: its report is shown).
stopped() {
	if ! bounded_wait "$2" 60; then
		vg_report "$1"
		fail "$3 did not exit within 60 s"
	fi
	if [ "$WAIT_RC" -ne 0 ]; then
		vg_report "$1"
		fail "$3 exited $WAIT_RC"
	fi
}
for h in a b; do
	if [ $h = a ]; then hp=$HA sp=$SA; else hp=$HB sp=$SB; fi
	t0=$(now_ms)
	kill -TERM "$hp"
	stopped "homad$h" "$hp" "homad in $h after SIGTERM"
	note "homad in $h: SIGTERM to exit 0 in $(($(now_ms) - t0)) ms"
	stopped "srv$h" "$sp" "the echo server in $h after homad stopped"
	grep -q "homad closed the connection" "$T_TMP/srv$h.log" ||
		fail "the server in $h did not see homad stop: $(cat \
"$T_TMP/srv$h.log")"
done
# Every program ran under memcheck (it made its report file) and every
# report is empty.
for name in homada homadb srva srvb echo-b-to-a-ipv4 echo-a-to-b-ipv6 \
	private-b-to-a concurrent-a-to-b homactl-status-a homactl-metrics-b; do
	[ -f "$T_TMP/$name.vg" ] || fail "$name did not run under memcheck"
done
for f in "$T_TMP"/*.vg; do
	[ -s "$f" ] && { cat "$f"; fail "memcheck reported in $f"; }
done
note "valgrind.sh: 2 homads, libhomaclient (2 servers, 4 clients) and \
homactl memcheck-clean, $(($(now_ms) - T_START)) ms"
