#!/bin/sh
# syscalls.sh - system calls per RPC of libhomaclient applications (issue
# 13): a homad in each of two namespaces, tests/integration/syscalls_test
# with a client on A's and an echo server on B's; it counts the library's
# socket calls per 100-byte RPC (counted, not timed): a send and one
# blocking read per RPC when waiting in hc_recv (forever, with a timeout,
# for a private id), a poll more in a poll loop, no read that finds
# nothing; timed waits end after their timeout, also after a fork.
# Exit 0 pass, 1 fail, 77 only without root or netns.
. "$(dirname "$0")/lib.sh"

PROG="$top_builddir/tests/integration/syscalls_test"
[ -x "$PROG" ] || fail "$PROG not built"

require_netns
setup_tmp
A=hd-$$-a
B=hd-$$-b
make_pair "$A" "$B"
printf 'network = {\n\tlink = "ip";\n};\n' >"$T_TMP/homa.conf"
start_homads_conf "$T_TMP/homa.conf" "$T_TMP/homa.conf"

if out=$(ip netns exec "$A" timeout 120 "$PROG" -a "$(sock a)" \
	-b "$(sock b)" -d "$B4" 2>"$T_TMP/err"); then
	echo "$out" | sed 's/^/# /'
	echo "PASS: system calls per RPC"
else
	rc=$?
	echo "$out" | sed 's/^/# /'
	cat "$T_TMP/err"
	fail "system calls per RPC (exit $rc)"
fi
