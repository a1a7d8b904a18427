#!/bin/sh
# The Quick start demo: install dependencies, build homad (if needed), then
# run real Homa RPCs between two hosts: network namespaces homad-demo-a and
# homad-demo-b joined by a veth pair, a homad in each.  An echo server
# (contrib/examples/echo_server) in A answers an echo client in B: 2,000
# RPCs of 100 bytes and 200 of 100 KB, every response checked byte for
# byte; the demo prints the latency percentiles per size and `homactl
# status` of each homad, then deletes everything it made.  Uses only
# addresses inside the namespaces it creates.  Needs root.  A second run
# first removes whatever an interrupted run left behind.
#
# Environment: DEMO_BUILD = the build directory (default ./build, created
# and configured if absent).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${DEMO_BUILD:-$top/build}

[ "$(id -u)" -eq 0 ] || {
	echo "demo: run as root (network namespaces, raw sockets)" >&2
	exit 1
}

sh "$top/contrib/install-deps.sh"
TARGETS="homad homactl contrib/examples/echo_server contrib/examples/echo_client"
if [ ! -f "$build/Makefile" ]; then
	echo "== configuring homad in $build"
	(cd "$top" && autoreconf -fi >/dev/null 2>&1)
	mkdir -p "$build"
	(cd "$build" && "$top/configure" -q)
fi
echo "== building homad, homactl and the examples (if needed)"
# shellcheck disable=SC2086
(cd "$build" && make -s -j"$(nproc)" $TARGETS >/dev/null)

A=homad-demo-a
B=homad-demo-b
A4=10.146.77.1
B4=10.146.77.2
PORT=4000
run=""

# Stop every process in the demo's namespaces, delete them and the temp
# directories (this run's and any an interrupted run left behind).
cleanup() {
	for n in $A $B; do
		pids=$(ip netns pids "$n" 2>/dev/null || true)
		[ -z "$pids" ] && continue
		# shellcheck disable=SC2086
		kill -TERM $pids 2>/dev/null || true
		i=0
		while [ -n "$(ip netns pids "$n" 2>/dev/null || true)" ] &&
			[ $i -lt 30 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
	done
	ip netns del $A 2>/dev/null || true
	ip netns del $B 2>/dev/null || true
	rm -rf /tmp/homad-demo.*
}
trap cleanup EXIT
trap 'exit 1' INT TERM
cleanup
run=$(mktemp -d /tmp/homad-demo.XXXXXX)

echo "== two hosts: $A ($A4) and $B ($B4), joined by a veth pair"
ip netns add $A
ip netns add $B
ip link add demo-a netns $A type veth peer name demo-b netns $B
ip -n $A addr add $A4/24 dev demo-a
ip -n $B addr add $B4/24 dev demo-b
for n in $A $B; do ip -n "$n" link set lo up; done
ip -n $A link set demo-a up
ip -n $B link set demo-b up

# wait_until SECONDS CMD...: retry CMD every 0.1 s, at most SECONDS.
wait_until() {
	limit=$(($1 * 10))
	shift
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt $limit ] || return 1
		sleep 0.1
	done
}

echo "== homad in each (control and client sockets in $run)"
for n in $A $B; do
	ip netns exec "$n" "$build/homad" -S "$run/$n.ctl" -C "$run/$n.sock" \
		>"$run/$n.log" 2>&1 &
done
for n in $A $B; do
	wait_until 10 "$build/homactl" -s "$run/$n.ctl" status || {
		cat "$run/$n.log"
		echo "demo: homad in $n did not start" >&2
		exit 1
	}
done

echo "== echo_server in $A, port $PORT"
ip netns exec $A "$build/contrib/examples/echo_server" -s "$run/$A.sock" \
	-p $PORT >"$run/server.log" 2>&1 &
wait_until 10 grep -q "listening" "$run/server.log" || {
	cat "$run/server.log"
	echo "demo: echo_server did not start" >&2
	exit 1
}

# echo COUNT BYTES LABEL: run echo_client in B, keep its summary.
echo_run() {
	ip netns exec $B timeout 60 "$build/contrib/examples/echo_client" \
		-s "$run/$B.sock" -S $A4 -p $PORT -n "$1" -b "$2" \
		>"$run/client-$2.out" 2>&1 || {
		cat "$run/client-$2.out"
		echo "demo: echo_client ($1 x $2 bytes) failed" >&2
		exit 1
	}
	awk -v label="$3" -v n="$1" '
		/RPCs\/s/ { rate = $(NF - 1) }
		/^latency us:/ {
			for (i = 1; i <= NF; i++) {
				if ($i == "p50") p50 = $(i + 1)
				if ($i == "p99") p99 = $(i + 1)
				if ($i == "max") max = $(i + 1)
			}
		}
		END {
			printf "%-8s %6d %10s %10s %10s %10s\n", label, n,
				p50, p99, max, rate
		}' "$run/client-$2.out" >>"$run/table"
}

echo "== echo_client in $B: 2,000 RPCs of 100 B, then 200 of 100 KB," \
	"one at a time, every response checked byte for byte"
printf "%-8s %6s %10s %10s %10s %10s\n" size RPCs "P50 us" "P99 us" \
	"max us" "RPCs/s" >"$run/table"
echo_run 2000 100 "100 B"
echo_run 200 100000 "100 KB"
cat "$run/table"

for n in $A $B; do
	echo "== homactl status ($n)"
	ip netns exec "$n" "$build/homactl" -s "$run/$n.ctl" status
done
echo "== done: every response was correct; cleaning up"
