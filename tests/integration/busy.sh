#!/bin/sh
# busy.sh - homad on a busy machine, with a stalled homad and a slow
# peer, all with the default timeouts (homa.conf(5): timeout_ticks,
# live_peer_resends, resend_interval):
#   - 1,000 concurrent RPCs from 10 client processes (mixed sizes up to
#     100 KB, every byte checked), OVERLOAD_RUNS times in a row (default
#     10) on each link, while two CPU hogs (busy loops at homad's nice
#     level) run for the whole case: no RPC may fail;
#   - the client's own homad stopped (SIGSTOP) for 150 ms in the middle of
#     such traffic, three times: no RPC fails (its silence is not its
#     peer's);
#   - the server's homad stopped for 300 ms (three times timeout_ticks) in
#     the middle of such traffic, three times: no RPC fails (its host's
#     kernel answers the client's probes: stalled_peer_ticks);
#   - a slow sender: the server's homad paces its responses to the client
#     at 300 Mbit/s (a peers rate rule) while the client's homad believes
#     in a 25 Gbit/s link: 16 echoes of 500 KB at once, no timeout, and the
#     bytes retransmitted are at most 5% of the message bytes;
#   - the server's homad stopped for good (its host up): the client's RPCs
#     fail with ETIMEDOUT within stalled_peer_ticks x tick_usecs (1 s)
#     plus 500 ms (ticks run late on a busy machine), counted as stalled (a host that answers nothing fails
#     them after timeout_ticks: reliability.sh).
# Each case prints its numbers (counters of both homads).  Exit 0 only if
# every case passed; 77 only without root or netns.
. "$(dirname "$0")/lib.sh"

E2E="$top_builddir/tests/integration/e2e_test"
[ -x "$E2E" ] || fail "$E2E not built"
RUNS=${OVERLOAD_RUNS:-10}

require_netns
setup_tmp
A=ho-$$-a
B=ho-$$-b
make_pair "$A" "$B"

# start_homads LINK [EXTRA_A]: a homad in A (EXTRA_A: more homa.conf text
# for A only) and one in B, on LINK.
start_homads() {
	printf 'network = {\n\tlink = "%s";\n};\n' "$1" >"$T_TMP/b.conf"
	cp "$T_TMP/b.conf" "$T_TMP/a.conf"
	[ -n "${2:-}" ] && printf '%s\n' "$2" >>"$T_TMP/a.conf"
	start_homads_conf "$T_TMP/a.conf" "$T_TMP/b.conf"
}

stop_homads() {
	kill -CONT "$HA" "$HB" 2>/dev/null
	kill -TERM "$HA" "$HB" 2>/dev/null
	bounded_wait "$HA" 10
	bounded_wait "$HB" 10
	kill "$SRV" 2>/dev/null
	wait "$SRV" 2>/dev/null
}


# snap HOST TAG: save HOST's metrics as $T_TMP/HOST.TAG.
snap() {
	"$HOMACTL" -s "$(ctl "$1")" metrics >"$T_TMP/$1.$2" 2>/dev/null
}

# delta HOST NAME: NAME's growth in HOST between snapshots 0 and 1.
delta() {
	echo $(($(metric "$T_TMP/$1.1" "$2") - $(metric "$T_TMP/$1.0" "$2")))
}

# hogs_start / hogs_stop: two busy loops at our nice level (homad's).
HOGS=""
hogs_start() {
	hog_lock
	for i in 1 2; do
		sh -c 'while :; do :; done' &
		HOGS="$HOGS $!"
		T_PIDS="$T_PIDS $!"
	done
}
hogs_stop() {
	# shellcheck disable=SC2086
	kill $HOGS 2>/dev/null
	for p in $HOGS; do wait "$p" 2>/dev/null; done
	HOGS=""
	hog_unlock
}

# homad_warnings: the distinct warnings both homads logged (for a failure).
homad_warnings() {
	for h in a b; do
		grep -v "^homad: homad \|socket /\|data plane: \(ip\|udp\) link" \
			"$T_TMP/$h.log" 2>/dev/null | sort | uniq -c | head -5 |
			sed "s/^ */$h: /"
	done | tr '\n' ';'
}

# concurrent: 10 processes x 100 RPCs outstanding; its output line in OUT.
concurrent() {
	OUT=$(HOMA_SOCKET=$(sock b) ip netns exec "$B" timeout 60 "$E2E" \
		concurrent -f 4 -d "$A4" -p 100 --procs 10 -n 100 \
		--within 50000 2>"$T_TMP/case.err")
}

# timeout_counts: the timeout, RESEND and receive counters of both homads.
timeout_counts() {
	echo "client timeouts $(delta b client_rpc_timeouts)" \
		"(peer silent $(delta b client_timeouts_peer_silent), peer" \
		"stalled $(delta b client_timeouts_peer_stalled), RPC" \
		"silent $(delta b client_timeouts_rpc_silent))," \
		"server timeouts $(delta a server_rpc_timeouts)," \
		"kept for a live peer (ticks) a $(delta a timeouts_peer_alive)" \
		"b $(delta b timeouts_peer_alive), for a host up b" \
		"$(delta b timeouts_host_up), probes b $(delta b probes_sent)" \
		"answered $(delta b probe_replies)," \
		"RESENDs a $(delta a resend_requests) b $(delta b resend_requests)," \
		"resent bytes a $(delta a resent_bytes) b $(delta b resent_bytes)," \
		"kernel rx drops a $(delta a link_rx_kernel_drops)" \
		"b $(delta b link_rx_kernel_drops), rx re-arms" \
		"a $(delta a link_rx_rearms) b $(delta b link_rx_rearms)," \
		"rx errors a $(delta a link_rx_errors) b $(delta b link_rx_errors)"
}

# stall_case WHO PID SECS MS: WHO's homad (PID) stopped for SECS (MS ms)
# in the middle of 1,000 concurrent RPCs, three times: none may fail.
stall_case() {
	snap a 0
	snap b 0
	bad=0
	for i in 1 2 3; do
		(concurrent && echo "$OUT" >"$T_TMP/stall.out") &
		cpid=$!
		sleep 0.1
		kill -STOP "$2"
		sleep "$3"
		kill -CONT "$2"
		wait "$cpid" || {
			bad=$((bad + 1))
			echo "#   $1 stall $i: $(tr '\n' ' ' <"$T_TMP/case.err")"
		}
	done
	snap a 1
	snap b 1
	if [ $bad -eq 0 ]; then
		pass "$1 homad stalled $4 ms $link" \
			"3 of 3 runs of 1,000 RPCs complete; $(timeout_counts)"
	else
		failed "$1 homad stalled $4 ms $link" \
			"$bad of 3 runs failed; $(timeout_counts)"
	fi
}

for link in ip udp; do
	start_homads $link
	start_server a srv -f 4 --echo 100

	# ---- 1,000 concurrent RPCs, CPU hogs, RUNS times ---------------
	snap a 0
	snap b 0
	hogs_start
	bad=0
	i=0
	t0=$(now_ms)
	while [ $i -lt "$RUNS" ]; do
		i=$((i + 1))
		if ! concurrent; then
			bad=$((bad + 1))
			echo "#   run $i: $(tr '\n' ' ' <"$T_TMP/case.err")"
		fi
	done
	hogs_stop
	snap a 1
	snap b 1
	what="$RUNS runs x 1,000 RPCs with 2 CPU hogs, $(($(now_ms) - t0)) ms"
	if [ $bad -eq 0 ]; then
		pass "concurrent under load $link" \
			"0 failed RPCs in $RUNS consecutive runs ($what); $(timeout_counts)"
	else
		failed "concurrent under load $link" \
			"$bad of $RUNS runs had failed RPCs ($what); $(timeout_counts); homad logs: $(homad_warnings)"
	fi

	# ---- the client's homad stalled for 150 ms, the server's 300 ms --
	stall_case client "$HB" 0.15 150
	stall_case server "$HA" 0.3 300

	# ---- the server's homad stopped for good ----------------------
	snap b 0
	kill -STOP "$HA"
	if out=$(HOMA_SOCKET=$(sock b) ip netns exec "$B" timeout 20 "$E2E" \
		unreach -f 4 -d "$A4" -p 100 --expect ETIMEDOUT --within 1500 \
		2>"$T_TMP/case.err"); then
		snap b 1
		if [ "$(delta b client_timeouts_peer_stalled)" -gt 0 ]; then
			pass "server homad stopped $link" \
				"$out; timeouts for a stalled peer $(delta b client_timeouts_peer_stalled), probes $(delta b probes_sent) answered $(delta b probe_replies)"
		else
			failed "server homad stopped $link" \
				"$out; but no timeout counted as stalled: $(timeout_counts)"
		fi
	else
		failed "server homad stopped $link" \
			"$(tr '\n' ' ' <"$T_TMP/case.err")"
	fi
	stop_homads
done

# ---- a slow sender: A paces what it sends to B at 300 Mbit/s ----------
start_homads ip "peers = ( { prefix = \"$B4/32\"; rate_mbps = 300; } );"
start_server a srv -f 4 --echo 100
snap a 0
snap b 0
SIZES=500000
for i in 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do
	SIZES="$SIZES,500000"
done
if out=$(HOMA_SOCKET=$(sock b) ip netns exec "$B" timeout 60 "$E2E" echo \
	-f 4 -d "$A4" -p 100 --sizes "$SIZES" 2>"$T_TMP/case.err"); then
	snap a 1
	snap b 1
	sent=$(delta a server_response_bytes_done)
	resent=$(delta a resent_bytes)
	tmo=$(($(delta b client_rpc_timeouts) + $(delta a server_rpc_timeouts)))
	what="$out; responses $sent bytes, resent $resent bytes, RESENDs from b $(delta b resend_requests), deferred $(delta b resends_deferred), timeouts $tmo"
	if [ "$sent" -gt 0 ] && [ $((resent * 100)) -le $((sent * 5)) ] &&
		[ "$tmo" -eq 0 ]; then
		pass "slow sender (300 Mbit/s)" "$what"
	else
		failed "slow sender (300 Mbit/s)" "$what"
	fi
else
	failed "slow sender (300 Mbit/s)" "$(tr '\n' ' ' <"$T_TMP/case.err")"
fi
stop_homads

echo "# busy: $CASES cases, $FAILS failed"
[ $FAILS -eq 0 ] || exit 1
exit 0
