#!/bin/sh
# The Quick start demo: install dependencies, build homad, start it in two
# network namespaces joined by a veth pair, and show what each sees.  Uses
# only addresses inside the namespaces it creates, and deletes them at the
# end.  Needs root (network namespaces, raw sockets).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"

[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (network namespaces)" >&2; exit 1; }

sh "$top/contrib/install-deps.sh"
if [ ! -x "$build/homad" ] || [ ! -x "$build/tests/integration/pktsend" ]; then
	echo "== building homad"
	(cd "$top" && autoreconf -fi >/dev/null 2>&1)
	mkdir -p "$build"
	(cd "$build" && "$top/configure" -q && make -j"$(nproc)" >/dev/null &&
		make tests/integration/pktsend >/dev/null)
fi

A=homad-demo-a
B=homad-demo-b
run=""
cleanup() {
	for n in $A $B; do
		ip netns pids $n 2>/dev/null | xargs -r kill 2>/dev/null || true
	done
	sleep 0.3
	ip netns del $A 2>/dev/null || true
	ip netns del $B 2>/dev/null || true
	[ -z "$run" ] || rm -rf "$run"
}
trap cleanup EXIT
cleanup 2>/dev/null || true
run=$(mktemp -d /tmp/homad-demo.XXXXXX)

echo "== two hosts: $A (10.146.77.1, fd46:77::1) and $B (10.146.77.2, fd46:77::2)"
ip netns add $A
ip netns add $B
ip link add demo-a netns $A type veth peer name demo-b netns $B
ip -n $A addr add 10.146.77.1/24 dev demo-a
ip -n $B addr add 10.146.77.2/24 dev demo-b
ip -n $A addr add fd46:77::1/64 dev demo-a nodad
ip -n $B addr add fd46:77::2/64 dev demo-b nodad
for n in $A $B; do ip -n $n link set lo up; done
ip -n $A link set demo-a up
ip -n $B link set demo-b up

for n in $A $B; do
	ip netns exec $n "$build/homad" -S "$run/$n.sock" -C "$run/$n-clients.sock" >"$run/$n.log" 2>&1 &
done
for n in $A $B; do
	i=0
	until ip netns exec $n "$build/homactl" -s "$run/$n.sock" status >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 50 ] || { cat "$run/$n.log"; exit 1; }
		sleep 0.1
	done
done

echo "== $B sends the Homa packets the kernel module exchanged in a real session"
ip netns exec $B "$build/tests/integration/pktsend" -d 10.146.77.1 \
	-p "$top/tests/vectors/kernel/main_vm_client_vs_crafted_server.pcap"
sleep 0.3
for n in $A $B; do
	echo "== homactl status ($n)"
	ip netns exec $n "$build/homactl" -s "$run/$n.sock" status
done
echo "== homactl metrics ($A), packet counters"
ip netns exec $A "$build/homactl" -s "$run/$A.sock" metrics |
	grep -E '^homad_(packets_received|malformed_packets)_total' | grep -v ' 0$' || true
