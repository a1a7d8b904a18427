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

# Prerequisites that may truly be absent: root, ip netns, veth.
require_netns() {
	[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces"
	command -v ip >/dev/null 2>&1 || skip "needs ip (iproute2)"
	probe="hd-probe-$$"
	ip netns add "$probe" 2>/dev/null ||
		skip "cannot create network namespaces here"
	ip netns del "$probe"
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
	ip -n "$a" link set va-$$ up
	ip -n "$b" link set vb-$$ up
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
