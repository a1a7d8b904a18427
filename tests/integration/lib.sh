# Shared helpers for homad's integration tests (sourced, POSIX sh + bash-isms
# avoided).  Tests create their own network namespaces with unique names,
# use only addresses inside them, and delete everything on exit.

: "${top_builddir:=$(pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"

HOMAD="$top_builddir/homad"
HOMACTL="$top_builddir/homactl"
PKTSEND="$top_builddir/tests/integration/pktsend"
NOTIFY_LISTEN="$top_builddir/tests/integration/notify_listen"
VECTORS="$top_srcdir/tests/vectors"

T_NS=""      # namespaces to delete
T_PIDS=""    # processes to kill
T_TMP=""     # temp dir

skip() {
	echo "SKIP: $*"
	exit 77
}

fail() {
	echo "FAIL: $*"
	exit 1
}

note() {
	echo "# $*"
}

# require_cmd CMD WHAT: skip, saying "needs WHAT", without CMD.
require_cmd() {
	command -v "$1" >/dev/null 2>&1 || skip "needs $2"
}

# Prerequisites that may truly be absent: root, ip netns, veth.
require_netns() {
	[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces"
	require_cmd ip "ip (iproute2)"
	probe="hd-probe-$$"
	ip netns add "$probe" 2>/dev/null ||
		skip "cannot create network namespaces here"
	ip netns del "$probe"
}

# hog_lock / hog_unlock: the part of a test that runs its own CPU hogs
# (busy.sh, stress.sh) holds this lock, so that two such tests run at once
# (make -j2 check, distcheck) do not add up to four hogs and each other's
# traffic: each is written for two hogs beside homad.  Released at exit.
hog_lock() {
	exec 9>"${TMPDIR:-/tmp}/homad-tests-hogs.lock" &&
		flock 9 || fail "cannot lock ${TMPDIR:-/tmp}/homad-tests-hogs.lock"
}
hog_unlock() {
	flock -u 9 2>/dev/null
	exec 9>&-
}

cleanup() {
	rc=$?
	for p in $T_PIDS; do
		kill -9 "$p" 2>/dev/null
	done
	for n in $T_NS; do
		ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$n" 2>/dev/null
	done
	[ -n "$T_TMP" ] && rm -rf "$T_TMP"
	exit $rc
}

setup_tmp() {
	T_TMP=$(mktemp -d /tmp/homad-test.XXXXXX)
	trap cleanup EXIT
	trap 'exit 1' INT TERM
}

# make_pair A B: two namespaces joined by a veth pair, with
# 10.201.N.1/24 + fd46:N::1/64 in A and .2 / ::2 in B (N from the pid).
make_pair() {
	a=$1
	b=$2
	net=$(( $$ % 200 + 20 ))
	ip netns add "$a" || fail "ip netns add $a"
	T_NS="$T_NS $a"
	ip netns add "$b" || fail "ip netns add $b"
	T_NS="$T_NS $b"
	ip link add va-$$ netns "$a" type veth peer name vb-$$ netns "$b" ||
		fail "cannot create veth pair"
	ip -n "$a" addr add "10.201.$net.1/24" dev va-$$
	ip -n "$b" addr add "10.201.$net.2/24" dev vb-$$
	ip -n "$a" addr add "fd46:$net::1/64" dev va-$$ nodad
	ip -n "$b" addr add "fd46:$net::2/64" dev vb-$$ nodad
	for n in "$a" "$b"; do
		ip -n "$n" link set lo up
	done
	# No duplicate address detection on the link-local addresses either,
	# and each side's neighbour entry for the other made up front: the
	# first packets of a test must not wait for (or be dropped during)
	# neighbour discovery, which an IPv6 case's 100 ms timeout may not
	# outlast on a busy machine.
	ip netns exec "$a" sysctl -qw "net.ipv6.conf.va-$$.accept_dad=0" \
		2>/dev/null
	ip netns exec "$b" sysctl -qw "net.ipv6.conf.vb-$$.accept_dad=0" \
		2>/dev/null
	ip -n "$a" link set va-$$ up
	ip -n "$b" link set vb-$$ up
	mac_a=$(ip -n "$a" -o link show va-$$ | sed -n 's/.*link\/ether \([^ ]*\).*/\1/p')
	mac_b=$(ip -n "$b" -o link show vb-$$ | sed -n 's/.*link\/ether \([^ ]*\).*/\1/p')
	if [ -n "$mac_a" ] && [ -n "$mac_b" ]; then
		ip -n "$a" neigh replace "10.201.$net.2" lladdr "$mac_b" \
			dev va-$$ nud permanent
		ip -n "$a" neigh replace "fd46:$net::2" lladdr "$mac_b" \
			dev va-$$ nud permanent
		ip -n "$b" neigh replace "10.201.$net.1" lladdr "$mac_a" \
			dev vb-$$ nud permanent
		ip -n "$b" neigh replace "fd46:$net::1" lladdr "$mac_a" \
			dev vb-$$ nud permanent
	fi
	A4="10.201.$net.1"
	B4="10.201.$net.2"
	A6="fd46:$net::1"
	B6="fd46:$net::2"
	IF_A=va-$$
	IF_B=vb-$$
}

# wait_for CMD...: retry a command for up to 10 s.
wait_for() {
	i=0
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -gt 100 ] && return 1
		sleep 0.1
	done
	return 0
}

# testbed_gone LABEL: contrib/testbed's test-bed $NAME left nothing: no
# namespace, no run directory under $HOMA_TESTBED_RUNDIR, no homad (its
# command line names the run directory).
testbed_gone() {
	left=$(ip netns list | awk '{print $1}' | grep "^$NAME-" || true)
	[ -z "$left" ] || fail "$1: namespaces left: $left"
	[ ! -e "$HOMA_TESTBED_RUNDIR/$NAME" ] ||
		fail "$1: $HOMA_TESTBED_RUNDIR/$NAME left"
	for p in $(pgrep -x homad); do
		cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)
		case $cmd in
		*"/$NAME/"*) fail "$1: homad left: $cmd" ;;
		esac
	done
	return 0
}

# metric FILE NAME [LABELVALUE]: value of a counter in `homactl metrics`
# output (0 if absent).
metric() {
	if [ -n "${3:-}" ]; then
		v=$(grep "^homad_$2_total{[a-z_]*=\"$3\"} " "$1" | awk '{print $2}')
	else
		v=$(grep "^homad_$2_total " "$1" | awk '{print $2}')
	fi
	echo "${v:-0}"
}

# ---- tests with two hosts, "a" and "b" (namespaces $A and $B) -----------
# Per host: its control socket, its client socket, its namespace.
ctl() { echo "$T_TMP/$1.ctl"; }
sock() { echo "$T_TMP/$1.sock"; }
ns_of() { if [ "$1" = a ]; then echo "$A"; else echo "$B"; fi; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# running PID: PID exists and is not a zombie.
running() {
	st=$(sed -n 's/^[0-9]* ([^)]*) \(.\).*/\1/p' "/proc/$1/stat" \
		2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}

# bounded_wait PID SECONDS: wait for PID (a child) to exit, at most
# SECONDS, then kill -9 it.  WAIT_RC = its exit status; returns 1 if it
# had to be killed.
bounded_wait() {
	n=0
	while running "$1"; do
		n=$((n + 1))
		if [ $n -gt $(($2 * 50)) ]; then
			kill -9 "$1" 2>/dev/null
			wait "$1" 2>/dev/null
			WAIT_RC=137
			return 1
		fi
		sleep 0.02
	done
	# (2>/dev/null: no "Killed" line from the shell for kill -9.)
	wait "$1" 2>/dev/null
	WAIT_RC=$?
	return 0
}

# spawn_homad HOST CONF: a homad in HOST's namespace (a, b) with CONF, its
# control socket ctl HOST and client socket sock HOST (stale ones removed),
# its output in $T_TMP/HOST.log (appended to if HOMAD_LOG_APPEND is set,
# else truncated); HA or HB = its pid.  Does not wait: see homad_up.
spawn_homad() {
	rm -f "$(sock "$1")" "$(ctl "$1")"
	if [ -n "${HOMAD_LOG_APPEND:-}" ]; then
		ip netns exec "$(ns_of "$1")" "$HOMAD" -c "$2" \
			-S "$(ctl "$1")" -C "$(sock "$1")" >>"$T_TMP/$1.log" 2>&1 &
	else
		ip netns exec "$(ns_of "$1")" "$HOMAD" -c "$2" \
			-S "$(ctl "$1")" -C "$(sock "$1")" >"$T_TMP/$1.log" 2>&1 &
	fi
	if [ "$1" = a ]; then HA=$!; else HB=$!; fi
	T_PIDS="$T_PIDS $!"
}

# homad_up HOST: wait until HOST's homad answers `homactl status`.
homad_up() {
	wait_for "$HOMACTL" -s "$(ctl "$1")" status ||
		{ cat "$T_TMP/$1.log"; fail "homad $1 did not start"; }
}

# start_homad HOST [CONF]: HOST's homad with CONF ($T_TMP/HOST.conf), up.
start_homad() {
	spawn_homad "$1" "${2:-$T_TMP/$1.conf}"
	homad_up "$1"
}

# start_homads_conf CONF_A CONF_B: a homad in A with CONF_A and one in B
# with CONF_B, started together, each up before it returns.
start_homads_conf() {
	spawn_homad a "$1"
	spawn_homad b "$2"
	homad_up a
	homad_up b
}

# start_server HOST NAME ARGS...: `$SERVER_PROG server --ready FILE ARGS...`
# (SERVER_PROG: e2e_test unless the script sets it) in HOST's namespace
# with HOST's client socket in $HOMA_SOCKET, its output in $T_TMP/NAME.log;
# returns once the server is ready.  SRV = its pid.
start_server() {
	host=$1
	name=$2
	shift 2
	rm -f "$T_TMP/$name.ready"
	HOMA_SOCKET=$(sock "$host") ip netns exec "$(ns_of "$host")" \
		"${SERVER_PROG:-$E2E}" server --ready "$T_TMP/$name.ready" "$@" \
		>"$T_TMP/$name.log" 2>&1 &
	SRV=$!
	T_PIDS="$T_PIDS $SRV"
	wait_for test -f "$T_TMP/$name.ready" ||
		{ cat "$T_TMP/$name.log"; fail "server $name did not start"; }
}

# hstat HOST KEY: a number of `homactl -j status` of HOST (a, b).
hstat() {
	"$HOMACTL" -s "$(ctl "$1")" -j status |
		sed -n "s/^ *\"$2\": *\([0-9]*\).*/\1/p"
}

# hstat_is HOST KEY VALUE: for wait_for.
hstat_is() {
	[ "$(hstat "$1" "$2")" = "$3" ]
}

# Scripts of many cases: pass NAME TEXT / failed NAME TEXT print a case's
# line and count it (CASES, FAILS).
FAILS=0
CASES=0
pass() {
	CASES=$((CASES + 1))
	echo "# $1: pass, $2"
}
failed() {
	CASES=$((CASES + 1))
	FAILS=$((FAILS + 1))
	echo "# $1: FAIL, $2"
}

# run_case NAME HOST PROGRAM ARGS...: PROGRAM in HOST's namespace (homad's
# client socket from $HOMA_SOCKET), at most 40 s: a pass with its output,
# or a failure with its exit status and stderr.
run_case() {
	name=$1
	host=$2
	shift 2
	if out=$(HOMA_SOCKET=$(sock "$host") ip netns exec "$(ns_of "$host")" \
		timeout 40 "$@" 2>"$T_TMP/case.err"); then
		pass "$name" "$out"
	else
		rc=$?
		[ $rc -eq 124 ] && echo "timed out after 40 s" >>"$T_TMP/case.err"
		failed "$name" "exit $rc: $(tr '\n' ' ' <"$T_TMP/case.err")"
	fi
}
