#!/bin/sh
# faults.sh - homad's link-layer fault injection (homa.conf group test,
# `homactl set test.*`): two hosts (namespaces A and B joined by veth, a
# homad in each), echo RPCs from B to an e2e_test server in A.  One line per
# case ("# case: result, numbers"):
#   - rx_drop from homa.conf in A, then tx_drop set in B with homactl set:
#     every echo byte-exact (Homa retransmits), the drop counters move and
#     so do homad's resend counters;
#   - duplicates and reordering, both directions: echoes complete, the
#     counters move;
#   - every received packet in A delayed 20 ms: the round trip of a small
#     echo (contrib/examples/echo_client's median) grows by about 20 ms;
#   - max_held 1 under delays: holds refused are counted, RPCs complete;
#   - homactl set with a bad key or value fails (exit 1) with a clear
#     message, without a value is a usage error (exit 2);
#   - a SIGHUP reload applies the file's test group (all off): then no
#     fault counter moves while echoes run;
#   - on the udp link (GSO sends), every fault at once in both hosts:
#     echoes complete, every counter moves.
# Exit 0 only if every case passed; 77 only without root or netns.
. "$(dirname "$0")/lib.sh"

E2E="$top_builddir/tests/integration/e2e_test"
ECHO_CLIENT="$top_builddir/contrib/examples/echo_client"
[ -x "$E2E" ] || fail "$E2E not built"
[ -x "$ECHO_CLIENT" ] || fail "$ECHO_CLIENT not built"

require_netns
setup_tmp
A=hd-$$-fa
B=hd-$$-fb
make_pair "$A" "$B"

hctl() {
	h=$1
	shift
	"$HOMACTL" -s "$(ctl "$h")" "$@"
}
# hset HOST KEY VALUE: homactl set, quietly.
hset() { hctl "$1" set "$2" "$3" >/dev/null; }

# snap TAG: both hosts' metrics into $T_TMP/{a,b}.TAG.
snap() {
	for h in a b; do
		hctl $h metrics >"$T_TMP/$h.$1" || fail "homactl metrics $h"
	done
}

# delta HOST NAME FROM TO: how much counter NAME of HOST grew.
delta() {
	echo $(($(metric "$T_TMP/$1.$4" "$2") - $(metric "$T_TMP/$1.$3" "$2")))
}

# fault_sum FROM TO: every fault_* counter of both hosts, growth summed.
fault_sum() {
	sum=0
	for h in a b; do
		for c in rx_drops tx_drops rx_dups tx_dups rx_reorders \
			tx_reorders rx_delays tx_delays held_overflows; do
			sum=$((sum + $(delta $h "fault_$c" "$1" "$2")))
		done
	done
	echo $sum
}

# all_moved FROM TO COUNTER...: each fault_COUNTER grew in both hosts;
# TEXT = "a.COUNTER +N ..." either way.
all_moved() {
	from=$1
	to=$2
	shift 2
	moved=0
	TEXT=""
	for h in a b; do
		for c in "$@"; do
			n=$(delta $h "fault_$c" "$from" "$to")
			[ "$n" -gt 0 ] || moved=1
			TEXT="$TEXT $h.$c +$n"
		done
	done
	return $moved
}

# echo_ok NAME: byte-exact echoes of 1 B .. 1 MB from B to A, IPv4 and
# IPv6; OUT = e2e_test's lines, 0 when both passed.
SIZES=1,1400,1401,40000,65536,500000,1000000
echo_ok() {
	OUT=""
	for fam in 4 6; do
		if [ $fam = 4 ]; then dst=$A4; else dst=$A6; fi
		if ! o=$(HOMA_SOCKET=$(sock b) ip netns exec "$B" timeout 60 \
			"$E2E" echo -f $fam -d "$dst" -p 100 --sizes "$SIZES" \
			2>&1); then
			OUT="IPv$fam: $o"
			return 1
		fi
		OUT="$OUT IPv$fam: $o;"
	done
	return 0
}

# rtt_us: median round trip, us, of 50 echoes of 100 B from B to A.
rtt_us() {
	HOMA_SOCKET=$(sock b) ip netns exec "$B" timeout 60 "$ECHO_CLIENT" \
		-4 -S "$A4" -p 100 -b 100 -n 50 |
		sed -n 's/^latency us: .* p50 \([0-9]*\).*/\1/p'
}

# A drops 5% of what it receives from the start (homa.conf); B is clean.
cat >"$T_TMP/a.conf" <<EOF
test = {
	seed = 1;
	rx_drop = 0.05;
};
EOF
: >"$T_TMP/b.conf"

# start: a homad in A and B with $T_TMP/{a,b}.conf, the echo server in A.
start() {
	start_homads_conf "$T_TMP/a.conf" "$T_TMP/b.conf"
	rm -f "$T_TMP/srv.ready"
	HOMA_SOCKET=$(sock a) ip netns exec "$A" "$E2E" server -f 6 \
		--echo 100 --ready "$T_TMP/srv.ready" >"$T_TMP/srv.log" 2>&1 &
	T_PIDS="$T_PIDS $!"
	wait_for test -f "$T_TMP/srv.ready" ||
		{ cat "$T_TMP/srv.log"; fail "the echo server did not start"; }
}

# stop: SIGTERM both homads; each must exit 0.
stop() {
	kill -TERM "$HA" "$HB"
	for p in "$HA" "$HB"; do
		wait "$p" || { cat "$T_TMP/a.log" "$T_TMP/b.log"; fail "homad \
$p exited $?"; }
	done
}

start

# ---- drops -----------------------------------------------------------------
name="rx_drop 0.05 in A (homa.conf)"
snap d0
if echo_ok; then
	snap d1
	drops=$(delta a fault_rx_drops d0 d1)
	rq=$(($(delta a resend_requests d0 d1) + $(delta b resend_requests d0 d1)))
	rs=$(($(delta a resent_packets d0 d1) + $(delta b resent_packets d0 d1)))
	if [ "$drops" -gt 0 ] && [ "$rq" -gt 0 ] && [ "$rs" -gt 0 ]; then
		pass "$name" "$drops packets dropped, $rq RESENDs, $rs \
packets resent;$OUT"
	else
		failed "$name" "fault_rx_drops +$drops, resend_requests +$rq, \
resent_packets +$rs"
	fi
else
	failed "$name" "$OUT"
fi

name="tx_drop 0.05 in B (homactl set)"
hset a test.rx_drop 0 || fail "homactl set test.rx_drop 0"
hset b test.tx_drop 0.05 || fail "homactl set test.tx_drop 0.05"
snap e0
if echo_ok; then
	snap e1
	drops=$(delta b fault_tx_drops e0 e1)
	adrops=$(delta a fault_rx_drops e0 e1)
	rq=$(($(delta a resend_requests e0 e1) + $(delta b resend_requests e0 e1)))
	rs=$(($(delta a resent_packets e0 e1) + $(delta b resent_packets e0 e1)))
	if [ "$drops" -gt 0 ] && [ "$adrops" -eq 0 ] && [ "$rq" -gt 0 ] &&
		[ "$rs" -gt 0 ]; then
		pass "$name" "$drops packets dropped (A's rx drops now \
$adrops), $rq RESENDs, $rs packets resent;$OUT"
	else
		failed "$name" "fault_tx_drops +$drops, A's fault_rx_drops \
+$adrops, resend_requests +$rq, resent_packets +$rs"
	fi
else
	failed "$name" "$OUT"
fi
hset b test.tx_drop 0.0 || fail "homactl set test.tx_drop 0.0"

# ---- duplicates ------------------------------------------------------------
name="rx_dup and tx_dup 0.2 in both"
for h in a b; do
	hset $h test.rx_dup 0.2 && hset $h test.tx_dup 0.2 ||
		fail "homactl set test.*_dup in $h"
done
snap u0
if echo_ok; then
	snap u1
	disc=$(($(delta a packet_discards u0 u1) + $(delta b packet_discards u0 u1)))
	if all_moved u0 u1 rx_dups tx_dups; then
		pass "$name" "$TEXT, packet_discards +$disc;$OUT"
	else
		failed "$name" "$TEXT"
	fi
else
	failed "$name" "$OUT"
fi
for h in a b; do
	hset $h test.rx_dup 0 && hset $h test.tx_dup 0 ||
		fail "homactl set test.*_dup 0 in $h"
done

# ---- reordering ------------------------------------------------------------
name="rx_reorder and tx_reorder 0.3 (up to 500 us) in both"
for h in a b; do
	for d in rx tx; do
		hset $h test.${d}_reorder 0.3 &&
			hset $h test.${d}_reorder_us 500 ||
			fail "homactl set test.${d}_reorder in $h"
	done
done
snap r0
if echo_ok; then
	snap r1
	if all_moved r0 r1 rx_reorders tx_reorders; then
		pass "$name" "$TEXT;$OUT"
	else
		failed "$name" "$TEXT"
	fi
else
	failed "$name" "$OUT"
fi
for h in a b; do
	hset $h test.rx_reorder 0 && hset $h test.tx_reorder 0 ||
		fail "homactl set test.*_reorder 0 in $h"
done

# ---- delay -----------------------------------------------------------------
name="rx_delay 1.0 of 20 ms in A"
base=$(rtt_us)
hset a test.rx_delay_us 20000 && hset a test.rx_delay 1.0 ||
	fail "homactl set test.rx_delay in A"
snap y0
slow=$(rtt_us)
snap y1
delays=$(delta a fault_rx_delays y0 y1)
if [ -z "$base" ] || [ -z "$slow" ]; then
	failed "$name" "no round trip measured (before '$base', after '$slow')"
elif [ $((slow - base)) -ge 18000 ] && [ $((slow - base)) -le 30000 ] &&
	[ "$delays" -ge 100 ]; then
	pass "$name" "median round trip $base us -> $slow us (+$((slow - \
base)) us), $delays packets delayed"
else
	failed "$name" "median round trip $base us -> $slow us, \
fault_rx_delays +$delays"
fi

name="max_held 1 under rx_delay"
hset a test.max_held 1 && hset a test.rx_delay_us 2000 ||
	fail "homactl set test.max_held in A"
snap h0
if echo_ok; then
	snap h1
	over=$(delta a fault_held_overflows h0 h1)
	delays=$(delta a fault_rx_delays h0 h1)
	if [ "$over" -gt 0 ] && [ "$delays" -gt 0 ]; then
		pass "$name" "$delays packets delayed, $over passed through \
(limit reached);$OUT"
	else
		failed "$name" "fault_held_overflows +$over, fault_rx_delays \
+$delays"
	fi
else
	failed "$name" "$OUT"
fi

# ---- homactl set: errors ---------------------------------------------------
# set_refused WANT ARGS...: homactl set ARGS must exit 1 with WANT in its
# message.
set_refused() {
	want=$1
	shift
	hctl a set "$@" >"$T_TMP/set.out" 2>&1
	rc=$?
	if [ $rc -ne 1 ] || ! grep -qF "$want" "$T_TMP/set.out"; then
		echo "'set $*': exit $rc, '$(cat "$T_TMP/set.out")'"
		return 1
	fi
	echo "'set $*': $(cat "$T_TMP/set.out");"
}
name="homactl set with bad keys and values"
text=""
bad=""
for c in "out of range (0.0..1.0)|test.rx_drop|2" \
	"out of range (0.0..1.0)|test.tx_dup|-0.1" \
	"out of range (1..10000000)|test.rx_delay_us|0" \
	"wrong type (integer expected)|test.max_held|1.5" \
	"is not a valid value|test.rx_drop|lots" \
	"is not a single value|test.rx_drop|0.1; tx_drop = 1" \
	"unknown key 'test.drop'|test.drop|0.1" \
	"needs a restart|network.mtu|1400"; do
	want=${c%%|*}
	rest=${c#*|}
	key=${rest%%|*}
	val=${rest#*|}
	if o=$(set_refused "$want" "$key" "$val"); then
		text="$text $o"
	else
		bad="$bad $o"
	fi
done
hctl a set test.rx_drop >"$T_TMP/set.out" 2>&1
rc=$?
[ $rc -eq 2 ] || bad="$bad 'set test.rx_drop' (no value): exit $rc"
# Nothing of that reached the data plane: still no drops.
snap b0
echo_ok || bad="$bad echo after the refused sets: $OUT"
snap b1
[ "$(delta a fault_rx_drops b0 b1)" -eq 0 ] ||
	bad="$bad A dropped packets after refused sets"
if [ -z "$bad" ]; then
	pass "$name" "$text 'set test.rx_drop': exit 2"
else
	failed "$name" "$bad"
fi

# ---- reload: the file's test group (all off) -------------------------------
name="SIGHUP reload turns every fault off"
: >"$T_TMP/a.conf"
r0=$(hctl a -j status | sed -n 's/^ *"reloads_ok": *\([0-9]*\).*/\1/p')
kill -HUP "$HA"
wait_for sh -c "$HOMACTL -s $(ctl a) -j status |
	grep -q '\"reloads_ok\": *$((r0 + 1))'" ||
	fail "homad a did not reload: $(cat "$T_TMP/a.log")"
snap o0
if echo_ok; then
	snap o1
	sum=$(fault_sum o0 o1)
	if [ "$sum" -eq 0 ]; then
		pass "$name" "no fault counter moved;$OUT"
	else
		failed "$name" "fault counters grew by $sum in all"
	fi
else
	failed "$name" "$OUT"
fi

stop

# ---- the udp link: held and duplicated packets leave GSO runs ---------------
name="udp link, every fault in both directions"
for h in a b; do
	cat >"$T_TMP/$h.conf" <<EOF
network = { link = "udp"; };
test = {
	rx_drop = 0.01; tx_drop = 0.01;
	rx_dup = 0.05; tx_dup = 0.05;
	rx_reorder = 0.1; tx_reorder = 0.1; tx_reorder_us = 300;
	rx_delay = 0.02; tx_delay = 0.02; rx_delay_us = 200; tx_delay_us = 200;
};
EOF
done
start
snap g0
if echo_ok; then
	snap g1
	if all_moved g0 g1 rx_drops tx_drops rx_dups tx_dups rx_reorders \
		tx_reorders rx_delays tx_delays; then
		pass "$name" "$TEXT;$OUT"
	else
		failed "$name" "$TEXT"
	fi
else
	failed "$name" "$OUT"
fi
stop

echo "# $CASES cases, $FAILS failed"
[ "$FAILS" -eq 0 ] || exit 1
exit 0
