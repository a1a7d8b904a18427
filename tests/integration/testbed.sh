#!/bin/sh
# contrib/testbed: up with 2 hosts, IPv4/IPv6 ping and TCP (homa-bench)
# through the router, the 8 htb priority classes and their filters (a
# TOS-marked ping lands in its class), the bottleneck rate holding TCP, a
# loss rule only when asked (and losing packets), homad's generated
# link_mbps, `up` refusing a second time, a failed `up` and `down` leaving
# nothing behind.
. "$(dirname "$0")/lib.sh"

require_netns
require_cmd tc "tc (iproute2)"
require_cmd nft "nft (nftables)"
require_cmd ping "ping (iputils-ping)"
setup_tmp

TESTBED="$top_srcdir/contrib/testbed"
BENCH="$top_builddir/contrib/bench/homa-bench"
[ -x "$BENCH" ] || fail "no $BENCH (build it first)"
NAME=t$$
HOMA_TESTBED_RUNDIR="$T_TMP/run"
export HOMA_TESTBED_RUNDIR
RUNDIR="$HOMA_TESTBED_RUNDIR/$NAME"

tb() {
	"$TESTBED" -n "$NAME" "$@"
}

# Whatever happens, the test-bed goes; lib.sh's cleanup then exits with
# the test's status.
on_exit() {
	rc=$?
	tb down >/dev/null 2>&1
	(exit $rc)
	cleanup
}
trap on_exit EXIT

# class_pkts DEV CLASS: packets sent by an htb class on the router.
class_pkts() {
	ip netns exec "$NAME-r" tc -s class show dev "$1" |
		awk -v c="$2" '$1 == "class" && $3 == c { f = 1; next }
			f && /Sent/ { print $4; exit }'
}

# --- up, addresses, forwarding -------------------------------------------
tb up --hosts 2 --rate 100mbit || fail "up"
tb status >"$T_TMP/status" || fail "status says it is not up"
grep -q "2 hosts" "$T_TMP/status" || fail "status: $(cat "$T_TMP/status")"
tb up --hosts 2 2>/dev/null && fail "a second up succeeded"
[ "$(tb addr h2)" = 10.147.2.2 ] || fail "addr h2"
tb exec h1 ping -c 3 -i 0.2 -W 2 "$(tb addr h2)" >/dev/null ||
	fail "IPv4 ping h1 -> h2 through the router"
tb exec h2 ping -6 -c 3 -i 0.2 -W 2 "$(tb addr h1 -6)" >/dev/null ||
	fail "IPv6 ping h2 -> h1 through the router"
hops=$(tb exec h1 ip route get 10.147.2.2 | grep -c "via 10.147.1.1")
[ "$hops" -eq 1 ] || fail "h1 does not route to h2 through the router"
note "ping through the router: IPv4 and IPv6 ok"

# --- htb: 8 priority classes, filters on the TOS bits --------------------
classes=$(ip netns exec "$NAME-r" tc class show dev h2 |
	grep -c "parent 1:1 leaf")
[ "$classes" -eq 8 ] || fail "h2: $classes leaf classes, not 8"
p=0
while [ $p -le 7 ]; do
	ip netns exec "$NAME-r" tc class show dev h2 |
		grep -q "class htb 1:2$p parent 1:1 leaf 2$p: prio $((7 - p)) " ||
		fail "class 1:2$p (Homa priority $p) is not htb prio $((7 - p))"
	p=$((p + 1))
done
filters=$(ip netns exec "$NAME-r" tc filter show dev h2 | grep -c flowid)
[ "$filters" -eq 16 ] || fail "h2: $filters u32 filters, not 16"
qdisc=$(ip netns exec "$NAME-r" tc qdisc show dev h2 | grep -c "bfifo.*limit")
[ "$qdisc" -eq 8 ] || fail "h2: $qdisc bounded leaf queues, not 8"
before=$(class_pkts h2 1:27)
tb exec h1 ping -Q 0xe0 -c 5 -i 0.1 -W 2 10.147.2.2 >/dev/null ||
	fail "ping with TOS 0xe0"
after=$(class_pkts h2 1:27)
[ $((after - before)) -ge 5 ] ||
	fail "TOS 0xe0 pings: class 1:27 sent $((after - before)), not >= 5"
before=$(class_pkts h2 1:23)
tb exec h1 ping -6 -Q 0x60 -c 5 -i 0.1 -W 2 fd47:0:0:2::2 >/dev/null ||
	fail "IPv6 ping with traffic class 0x60"
after=$(class_pkts h2 1:23)
[ $((after - before)) -ge 5 ] ||
	fail "tclass 0x60 pings: class 1:23 sent $((after - before)), not >= 5"
note "8 strict-priority classes; TOS 7 -> 1:27, IPv6 tclass 3 -> 1:23"

# --- TCP through the 100 Mbit/s bottleneck -------------------------------
# Directly, not through tb(): $! must be the server itself.
"$TESTBED" -n "$NAME" exec h2 "$BENCH" server -q &
SRV=$!
T_PIDS="$T_PIDS $SRV"
listening() {
	tb exec h2 ss -Hltn "sport = :4147" | grep -q LISTEN
}
wait_for listening || fail "homa-bench server on h2 is not listening"
tb exec h1 "$BENCH" client -q -s 10.147.2.2 -w 1000000 -c 2 -d 1.5 \
	-o "$T_TMP/tcp" >"$T_TMP/tcp.out" 2>&1 ||
	{ cat "$T_TMP/tcp.out"; fail "homa-bench tcp client h1 -> h2"; }
gbps=$(awk '$1 == "req_gbps" {print $2}' "$T_TMP/tcp.summary")
awk -v g="$gbps" 'BEGIN { exit !(g > 0.05 && g < 0.11) }' ||
	fail "TCP through a 100 Mbit/s bottleneck: $gbps Gbit/s"
note "TCP 1 MB RPCs h1 -> h2 through 100 Mbit/s: $gbps Gbit/s"
# Its client gone, the server must sleep (it once spun on the closed
# connection, a CPU taken from whatever was measured next), and SIGTERM
# must reach and stop it.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}
t0=$(cpu_ticks "$SRV") || fail "homa-bench server is gone"
sleep 1
t1=$(cpu_ticks "$SRV") || fail "homa-bench server is gone"
[ $((t1 - t0)) -le 10 ] ||
	fail "idle TCP server used $((t1 - t0)) clock ticks in 1 s"
kill "$SRV" 2>/dev/null
i=0
while kill -0 "$SRV" 2>/dev/null && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
kill -0 "$SRV" 2>/dev/null && fail "homa-bench server ignored SIGTERM"
wait "$SRV" 2>/dev/null
note "idle TCP server: $((t1 - t0)) clock ticks in 1 s; SIGTERM stops it"

# --- no loss rule unless asked; down -------------------------------------
if ip netns exec "$NAME-r" nft list ruleset | grep -q numgen; then
	fail "a loss rule without --loss"
fi
tb down || fail "down"
testbed_gone "down"
tb status >/dev/null && fail "status says a downed test-bed is up"

# --- loss ----------------------------------------------------------------
tb up --hosts 2 --rate none --loss 50 >/dev/null || fail "up --loss 50"
ip netns exec "$NAME-r" nft list chain inet testbed forward |
	grep -q "numgen random mod 10000 < 5000 .*drop" ||
	fail "no loss rule in the router's forward chain"
tb exec h1 ping -c 40 -i 0.01 -W 1 10.147.2.2 >"$T_TMP/ping" 2>&1
got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$T_TMP/ping")
[ -n "$got" ] && [ "$got" -lt 35 ] ||
	fail "50% loss: $got of 40 pings answered"
tb down || fail "down after loss"
testbed_gone "down after loss"
note "loss 50%: $got of 40 pings answered"

# --- homad told the bottleneck's rate --------------------------------------
# link_mbps: the --rate, 100000 with --rate none, and a --homad-conf file's
# protocol group instead of the generated line.
HOMAD="$top_builddir/homad"
export HOMAD
for case in "100mbit::100" "none::100000" \
	"1gbit:protocol = { link_mbps = 777; };:777"; do
	rate=${case%%:*}
	rest=${case#*:}
	extra=${rest%:*}
	want=${rest##*:}
	set -- --rate "$rate"
	if [ -n "$extra" ]; then
		echo "$extra" >"$T_TMP/extra.conf"
		set -- "$@" --homad-conf "$T_TMP/extra.conf"
	fi
	tb up --hosts 1 --homad "$@" >/dev/null || fail "up --homad $*"
	n=$(grep -c "link_mbps" "$RUNDIR/h1/homa.conf")
	grep -q "link_mbps = $want;" "$RUNDIR/h1/homa.conf" && [ "$n" -eq 1 ] ||
		fail "--rate $rate: $(cat "$RUNDIR/h1/homa.conf")"
	tb down || fail "down after --homad"
done
testbed_gone "down after --homad"
note "homad's link_mbps: 100 (100mbit), 100000 (none), 777 (its own file)"

# --- a failing up cleans up after itself ---------------------------------
HOMAD=/bin/false tb up --hosts 2 --homad >"$T_TMP/fail" 2>&1 &&
	fail "up with a homad that exits succeeded"
grep -q "homad in h1 exited" "$T_TMP/fail" || fail "$(cat "$T_TMP/fail")"
testbed_gone "failed up"
tb up --hosts 0 2>/dev/null && fail "--hosts 0 accepted"
testbed_gone "refused up"
note "failed up: nothing left behind"
exit 0
