#!/bin/sh
# preload.sh - unmodified Linux Homa programs on homad: tests/preload's
# preload_test (written only against homa/homa.h) runs under homa-run with
# the build tree's libhomapreload, a homad in each of two namespaces (A:
# clients, B: servers).  One line per case ("# case: result, numbers"):
# echo 1..1,000,000 bytes byte-exact in the receive region (IPv4, IPv6),
# private and shared; 0 and 1,000,001 bytes refused; error cases; an epoll
# server with many client sockets; a threaded client; aborts; HOMAIOCINFO
# with RPCs in flight; shutdown waking recvmsg; fork and fork+exec; UDP and
# TCP beside Homa.  Exit 0 only if every case passed; 77 only without root
# or netns.
. "$(dirname "$0")/../integration/lib.sh"

PT="$top_builddir/tests/preload/preload_test"
LIB="$top_builddir/.libs/libhomapreload.so"
[ -x "$PT" ] || fail "$PT not built"
[ -r "$LIB" ] || fail "$LIB not built"
HOMA_PRELOAD_LIB=$LIB
export HOMA_PRELOAD_LIB
RUN="$top_builddir/contrib/homa-run"
[ -x "$RUN" ] || fail "$RUN not built"

# A sanitizer build whose runtime is a shared library (gcc's libasan) must
# have it first in LD_PRELOAD; clang links its runtime into the program.
asan=$(ldd "$PT" 2>/dev/null | awk '/libasan/ {print $3; exit}')
if [ -n "$asan" ]; then
	LD_PRELOAD="$asan"
	export LD_PRELOAD
fi

require_netns
setup_tmp
# A sanitizer's report runs llvm-symbolizer with this environment: without
# the sanitizer's runtime it cannot load the instrumented library, so it
# runs without LD_PRELOAD.
if nm "$PT" 2>/dev/null | grep -q __asan_init; then
	sym=$(command -v llvm-symbolizer || ls /usr/bin/llvm-symbolizer-* \
		2>/dev/null | head -n 1)
	if [ -n "$sym" ]; then
		printf '#!/bin/sh\nunset LD_PRELOAD\nexec %s "$@"\n' "$sym" \
			>"$T_TMP/llvm-symbolizer"
		chmod +x "$T_TMP/llvm-symbolizer"
		ASAN_SYMBOLIZER_PATH=$T_TMP/llvm-symbolizer
		export ASAN_SYMBOLIZER_PATH
	fi
fi
A=hp-$$-a
B=hp-$$-b
make_pair "$A" "$B"
printf 'network = {\n\tlink = "ip";\n};\n' >"$T_TMP/homa.conf"
start_homads_conf "$T_TMP/homa.conf" "$T_TMP/homa.conf"

# serve HOST CMD PORT [6]: a preload_test server in HOST's namespace.
serve() {
	h=$1
	shift
	HOMA_SOCKET=$(sock "$h") ip netns exec "$(ns_of "$h")" \
		"$RUN" "$PT" "$@" >"$T_TMP/srv-$2.out" 2>&1 &
	T_PIDS="$T_PIDS $!"
	wait_for grep -q listening "$T_TMP/srv-$2.out" ||
		{ cat "$T_TMP/srv-$2.out"; fail "server $* did not start"; }
}
serve b server 100
serve b server 106 6
serve b epserver 101
serve b sink 102

pcase() {
	name=$1
	shift
	t0=$(now_ms)
	run_case "$name" a "$RUN" "$PT" "$@"
	note "$name: $(($(now_ms) - t0)) ms"
}
pcase echo-ipv4 echo "$B4" 100
pcase echo-ipv6 echo "$B6" 106
pcase errors errors "$B4" 100
pcase epoll-many many "$B4" 101 40 25
pcase threaded threaded "$B4" 100 500
pcase abort abort "$B4" 102
pcase info info "$B4" 102
pcase shutdown shutdown "$B4" 102
pcase fork fork "$B4" 100
pcase fork-exec forkexec "$B4" 100
pcase mixed mixed "$B4" 101
# No library: the same program finds no Homa (EPROTONOSUPPORT, no module).
if out=$(ip netns exec "$A" "$PT" echo "$B4" 100 2>&1); then
	failed without-preload "ran without the library: $out"
else
	case $out in
	*"socket: Protocol not supported"*)
		pass without-preload "socket() EPROTONOSUPPORT" ;;
	*) failed without-preload "$out" ;;
	esac
fi

for f in "$T_TMP"/srv-*.out; do
	if grep -q "preload_test" "$f"; then
		failed "server $(basename "$f")" "$(cat "$f")"
	fi
done
echo "# $CASES cases, $FAILS failed"
[ "$FAILS" -eq 0 ] || { cat "$T_TMP/a.log" "$T_TMP/b.log" | tail -20; exit 1; }
exit 0
