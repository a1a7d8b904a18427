#!/bin/sh
# stress.sh - many RPCs between 3 hosts over a lossy network: every
# response matches its request, no RPC lost, none executed twice, none
# stuck at the end.
#
# Three hosts on a contrib/testbed test-bed (h1..h3 joined through a router
# namespace, MTU $STRESS_MTU [9000], no rate limit), 5% of forwarded
# packets dropped at random by nftables in the router's forward hook, and
# in every host a homad whose test group injects faults: rx_dup, tx_dup
# (duplicated packets), rx_reorder (packets held back rx_reorder_us);
# every timeout at its default.  $STRESS_HOGS CPU hogs (default 2: busy
# loops at homad's nice level) run for the whole case.  Every host runs a
# stress_test server (counting executions per request id) and, in each of
# $STRESS_RUNS consecutive runs (default 10), a client sending to the
# servers of the other two hosts: $STRESS_RPCS RPCs per run (default
# 5,000; `make check-long` runs 100,000 once at MTU 9000 and once at MTU
# 1500), W3 and W4 sizes capped at 1 MB, 32 in flight per client.
#
# Checks: every client's RPCs all ok (no failure, no mismatched response,
# none still in flight at its deadline, no RPC left in its homad); every
# id executed exactly once over the servers; each homad back to 0 RPCs
# within 10 s; no homad died; packets were dropped, duplicated and
# reordered.  Prints the counters (nftables drops, RESENDs,
# retransmissions, stale request copies dropped, injected faults,
# timeouts) and a summary line: RPCs, time, P50/P99 completion time per
# size class, drops, resends, dups.  STRESS_KEEP=DIR keeps the logs of a
# failed run in DIR.
. "$(dirname "$0")/lib.sh"

STRESS="$top_builddir/tests/integration/stress_test"
TESTBED="$top_srcdir/contrib/testbed"
[ -x "$STRESS" ] || fail "$STRESS not built"
[ -x "$HOMAD" ] || fail "$HOMAD not built"

RPCS=${STRESS_RPCS:-5000}
case $RPCS in
'' | *[!0-9]*) fail "STRESS_RPCS=\"$RPCS\" is not a number" ;;
esac
RUNS=${STRESS_RUNS:-10}
case $RUNS in
'' | *[!0-9]* | 0) fail "STRESS_RUNS=\"$RUNS\" is not a count (1..80)" ;;
esac
[ "$RUNS" -le 80 ] || fail "STRESS_RUNS must be at most 80 (client ids)"
NHOGS=${STRESS_HOGS:-2}
case $NHOGS in
'' | *[!0-9]*) fail "STRESS_HOGS=\"$NHOGS\" is not a number" ;;
esac
[ "$RPCS" -ge 3 ] || fail "STRESS_RPCS must be at least 3"
MTU=${STRESS_MTU:-9000}
case $MTU in
'' | *[!0-9]*) fail "STRESS_MTU=\"$MTU\" is not a number" ;;
esac
HOSTS=3
PORT=4000
OUTSTANDING=32
# A client that is not done by then has RPCs stuck (1 s per 250 RPCs is
# several times what they take on a loaded 2-core machine).
TIMEOUT=$((30 + RPCS / 250))

require_netns
require_cmd nft "nft (nftables) for the loss"
setup_tmp

NAME=st$$
HOMA_TESTBED_RUNDIR="$T_TMP/run"
export HOMA_TESTBED_RUNDIR
RUNDIR="$HOMA_TESTBED_RUNDIR/$NAME"
export HOMAD

tb() {
	"$TESTBED" -n "$NAME" "$@"
}

on_exit() {
	rc=$?
	if [ $rc -ne 0 ] && [ -n "${STRESS_KEEP:-}" ]; then
		rm -rf "$STRESS_KEEP" && cp -a "$T_TMP" "$STRESS_KEEP" &&
			echo "# kept the logs in $STRESS_KEEP"
	fi
	tb down >/dev/null 2>&1
	(exit $rc)
	cleanup
}
trap on_exit EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }

ctl() { echo "$RUNDIR/h$1/homad.sock"; }

# hstat HOST KEY: a number of `homactl -j status` of host HOST (1..3).
hstat() {
	"$HOMACTL" -s "$(ctl "$1")" -j status |
		sed -n "s/^ *\"$2\": *\([0-9]*\).*/\1/p"
}

hstat_is() {
	[ "$(hstat "$1" "$2")" = "$3" ]
}

# sum_metric NAME [LABEL]: a counter summed over the hosts' metrics files.
sum_metric() {
	t=0
	for k in 1 2 3; do
		t=$((t + $(metric "$T_TMP/h$k.metrics" "$@")))
	done
	echo $t
}

# The fault injection of homad's test group (homa.conf(5)); the protocol's
# timeouts at their defaults.
cat >"$T_TMP/faults.conf" <<EOF
test = {
	rx_dup = 0.02;
	tx_dup = 0.02;
	rx_reorder = 0.05;
	rx_reorder_us = 200;
};
EOF
printf 'network = { link = "ip"; };\n' >"$T_TMP/check.conf"
cat "$T_TMP/faults.conf" >>"$T_TMP/check.conf"
"$HOMAD" -n -c "$T_TMP/check.conf" >"$T_TMP/check.out" 2>&1 ||
	fail "homad refuses the fault injection keys: $(cat "$T_TMP/check.out")"

T_START=$(now_ms)
tb up --hosts $HOSTS --mtu "$MTU" --rate none --loss 5 --homad \
	--homad-conf "$T_TMP/faults.conf" >"$T_TMP/up.out" 2>&1 ||
	fail "testbed up: $(cat "$T_TMP/up.out")"
for h in 1 2 3; do
	eval "HPID$h=\$(cat \"\$RUNDIR/h$h/homad.pid\")"
done

# --- servers ----------------------------------------------------------------
for h in 1 2 3; do
	"$TESTBED" -n "$NAME" exec h$h "$STRESS" server -p $PORT \
		--ready "$T_TMP/srv$h.ready" --counts "$T_TMP/srv$h.counts" \
		>"$T_TMP/srv$h.log" 2>&1 &
	eval "SRV$h=\$!"
	T_PIDS="$T_PIDS $!"
done
for h in 1 2 3; do
	wait_for test -f "$T_TMP/srv$h.ready" ||
		fail "server in h$h did not start: $(cat "$T_TMP/srv$h.log")"
done

# --- CPU hogs for the whole case ---------------------------------------------
HOGS=""
if [ "$NHOGS" -gt 0 ]; then hog_lock; fi
i=0
while [ $i -lt "$NHOGS" ]; do
	i=$((i + 1))
	sh -c 'while :; do :; done' &
	HOGS="$HOGS $!"
	T_PIDS="$T_PIDS $!"
done

# --- clients: each to the servers of the other two hosts, RUNS times --------
# ("$TESTBED" exec, not tb: $! must be the process itself, which the
# testbed's exec becomes.)  Client ids: run r, host h: 3 (r - 1) + h.
WL="$top_srcdir/contrib/workloads"
per=$((RPCS / HOSTS))
T0=$(now_ms)
FAILS=0
BAD_RUNS=0
run=0
while [ $run -lt "$RUNS" ]; do
	run=$((run + 1))
	run_fails=$FAILS
	for h in 1 2 3; do
		n=$per
		[ $h -eq 1 ] && n=$((RPCS - per * (HOSTS - 1)))
		dsts=""
		for j in 1 2 3; do
			[ $j -ne $h ] && dsts="$dsts -d $(tb addr h$j)"
		done
		c=$((3 * (run - 1) + h))
		# shellcheck disable=SC2086
		"$TESTBED" -n "$NAME" exec h$h "$STRESS" client --id $c \
			-n $n $dsts -p $PORT --outstanding $OUTSTANDING \
			--timeout $TIMEOUT --seed $run \
			--progress --workloads "$WL/w3.csv,$WL/w4.csv" \
			--times "$T_TMP/cli$c.times" >"$T_TMP/cli$c.out" \
			2>"$T_TMP/cli$c.err" &
		eval "CLI$h=\$!"
		T_PIDS="$T_PIDS $!"
	done
	for h in 1 2 3; do
		eval "pid=\$CLI$h"
		c=$((3 * (run - 1) + h))
		if wait "$pid"; then
			[ "$RUNS" -eq 1 ] && note "$(cat "$T_TMP/cli$c.out")"
		else
			FAILS=$((FAILS + 1))
			note "run $run: client in h$h FAILED:" \
				"$(cat "$T_TMP/cli$c.out")"
			grep -v "sent,.*in flight$" "$T_TMP/cli$c.err" |
				head -40 | sed 's/^/#   /'
		fi
	done
	[ $FAILS -ne "$run_fails" ] && BAD_RUNS=$((BAD_RUNS + 1))
done
T_RPCS=$(($(now_ms) - T0))
# shellcheck disable=SC2086
[ -n "$HOGS" ] && kill $HOGS 2>/dev/null
if [ "$NHOGS" -gt 0 ]; then hog_unlock; fi
if [ $BAD_RUNS -eq 0 ]; then
	note "0 failed RPCs in $RUNS consecutive runs of $RPCS RPCs with" \
		"$NHOGS CPU hogs ($((T_RPCS / 1000)) s)"
else
	note "$BAD_RUNS of $RUNS consecutive runs of $RPCS RPCs with $NHOGS" \
		"CPU hogs had failed RPCs ($((T_RPCS / 1000)) s)"
fi

# --- every homad back to 0 RPCs; metrics -------------------------------------
for h in 1 2 3; do
	eval "hp=\$HPID$h"
	if ! kill -0 "$hp" 2>/dev/null; then
		FAILS=$((FAILS + 1))
		note "homad in h$h DIED: $(tail -20 "$RUNDIR/h$h/homad.log")"
	fi
done
# The servers' sockets stay open, so their RPCs must end by the protocol
# (acks), not by a socket closing.
for h in 1 2 3; do
	if ! wait_for hstat_is $h rpcs 0; then
		FAILS=$((FAILS + 1))
		note "homad in h$h still has $(hstat $h rpcs) RPCs after 10 s"
	fi
	"$HOMACTL" -s "$(ctl $h)" metrics >"$T_TMP/h$h.metrics" 2>&1 ||
		fail "homactl metrics in h$h: $(cat "$T_TMP/h$h.metrics")"
done

# --- servers: every id executed exactly once --------------------------------
ids=0
for h in 1 2 3; do
	eval "pid=\$SRV$h"
	kill -TERM "$pid"
	if ! wait "$pid"; then
		FAILS=$((FAILS + 1))
		note "server in h$h FAILED: $(cat "$T_TMP/srv$h.log")"
	fi
	[ -f "$T_TMP/srv$h.counts" ] ||
		fail "server in h$h wrote no counts: $(cat "$T_TMP/srv$h.log")"
	c() { sed -n "s/^$1 //p" "$T_TMP/srv$h.counts"; }
	req=$(c requests) sids=$(c ids) dups=$(c duplicates) bad=$(c bad)
	note "server in h$h: $req requests, $sids ids, $dups executed twice" \
		"or more, $bad bad"
	ids=$((ids + sids))
	if [ "$dups" -ne 0 ] || [ "$bad" -ne 0 ] || [ "$req" -ne "$sids" ]; then
		FAILS=$((FAILS + 1))
		note "server in h$h: DUPLICATE or BAD requests:"
		grep "^dup " "$T_TMP/srv$h.counts" | head -20 |
			while read -r _ cl seq _; do
				echo "#   $cl/$seq executed twice; its client:" \
					"$(grep "RPC $seq " "$T_TMP/cli$cl.err" ||
						awk -v q="$seq" '$4 == q {
						print "ok, id", $5, "sent at", $6,
						"s, rtt", $3 / 1e6, "ms" }' \
						"$T_TMP/cli$cl.times")"
			done
		sed 's/^/#   /' "$T_TMP/srv$h.log" | head -20
	fi
done
if [ "$ids" -ne $((RPCS * RUNS)) ]; then
	FAILS=$((FAILS + 1))
	note "servers executed $ids distinct requests, expected" \
		"$((RPCS * RUNS))"
fi

# --- counters ---------------------------------------------------------------
drops=$(ip netns exec "$NAME-r" nft list chain inet testbed forward |
	sed -n 's/.*numgen.*counter packets \([0-9]*\) .*/\1/p')
resends=$(sum_metric resend_requests)
resent=$(sum_metric resent_packets)
ctimeouts=$(sum_metric client_rpc_timeouts)
stimeouts=$(sum_metric server_rpc_timeouts)
discards=$(sum_metric packet_discards)
data_sent=$(sum_metric packets_sent DATA)
rxdups=$(sum_metric fault_rx_dups)
txdups=$(sum_metric fault_tx_dups)
reorders=$(sum_metric fault_rx_reorders)
faults=" rx_dup $rxdups, tx_dup $txdups, rx_reorder $reorders"
note "nftables dropped ${drops:-?} packets; homads sent $data_sent DATA," \
	"$resends RESENDs, $resent DATA again, discarded $discards;" \
	"stale request copies dropped $(sum_metric stale_requests);" \
	"timeouts: $ctimeouts client, $stimeouts server," \
	"$(sum_metric need_ack_timeouts) need-ack; kept for a silent peer" \
	"whose host is up $(sum_metric timeouts_host_up) ticks (probes" \
	"$(sum_metric probes_sent), answered $(sum_metric probe_replies));" \
	"faults:$faults"
# How long each homad was kept from its CPU (a stalled homad is silent).
late=""
for k in 1 2 3; do
	ms=$(awk '/^homad_loop_late_seconds_max_total /{printf "%d", $2 * 1000}' \
		"$T_TMP/h$k.metrics")
	late="$late h$k ${ms:-?} ms ($(metric "$T_TMP/h$k.metrics" \
		loop_late_ticks) ticks >= 10 ms late);"
done
note "homads' longest delay past a tick's deadline:${late%;}"
# The network was as bad as intended.
if [ "${drops:-0}" -eq 0 ] || [ "$((rxdups + txdups))" -eq 0 ] ||
	[ "$reorders" -eq 0 ]; then
	FAILS=$((FAILS + 1))
	note "the faults did not happen (drops ${drops:-?}, dups" \
		"$((rxdups + txdups)), reorders $reorders)"
fi
pcts=$("$STRESS" report "$T_TMP"/cli*.times)
secs="$((T_RPCS / 1000)).$((T_RPCS % 1000 / 100))"
echo "# stress.sh: $RUNS x $RPCS RPCs, $NHOGS CPU hogs, MTU $MTU, in $secs s (test" \
	"$(($(now_ms) - T_START)) ms), $pcts; drops ${drops:-?}, resends" \
	"$resends, retransmitted $resent, dups $((rxdups + txdups))," \
	"reorders $reorders, $FAILS failures"
[ "$FAILS" -eq 0 ]
