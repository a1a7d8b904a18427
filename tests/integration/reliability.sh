#!/bin/sh
# reliability.sh - homad when processes die and peers misbehave.  Hosts are
# network namespaces: A (servers) and B (clients) joined by veth, a homad in
# each; H (a hostile host, no homad) joined to A.  The applications are
# tests/integration/rel_test and e2e_test; H's packets come from
# tests/integration/hostile_peer.  One line per case ("# case: result,
# numbers"):
#   - peer homad killed (SIGKILL) under load (messages of 20,000 and
#     300,000 bytes), ip and udp links: every RPC
#     to it fails promptly (ip: EPROTONOSUPPORT, from the ICMP protocol
#     unreachable A's kernel sends once homad's raw socket is gone; udp:
#     ENOTCONN, from the ICMP port unreachable), time from the kill to
#     each failure (max, P99); after a restart new RPCs succeed;
#   - peer host silent (nftables drops all its traffic): ETIMEDOUT within
#     250 ms at default settings; RPCs succeed once the drop ends;
#   - client processes killed (SIGKILL) with many RPCs in flight, and a
#     server process holding many requests: homad's RPCs, Homa sockets,
#     clients and client memory back to their baselines on both hosts,
#     its RSS back near its baseline;
#   - homad restarted (SIGTERM, then SIGKILL) under a client that reopens
#     its handle on errors: errors are ECONNRESET/ESHUTDOWN, it makes
#     progress again, recovery time printed;
#   - a hostile peer (ip and udp links) floods A with bad DATA (huge
#     lengths, offsets past the end), requests with random ids, GRANT and
#     RESEND for unknown RPCs, ACK floods and garbage CUTOFFS at 20,000
#     packets/s while a legitimate client in B keeps
#     echoing: A's counters show the drops, its memory stays bounded, the
#     legitimate RPCs keep completing (count, P99);
#   - a hostile peer holds the receive pool (1 MB requests it never
#     finishes, kept alive): with peer_pool_percent 100 a legitimate
#     client stalls, at the default 50% it keeps echoing.
# Hostile clients of the client channel are chan.sh's.
# Exit 0 only if every case passed; 77 only without root, netns or nft.
. "$(dirname "$0")/lib.sh"

E2E="$top_builddir/tests/integration/e2e_test"
REL="$top_builddir/tests/integration/rel_test"
HOSTILE="$top_builddir/tests/integration/hostile_peer"
# Restarted homads append to their logs: a failure shows every run.
HOMAD_LOG_APPEND=1
for p in "$E2E" "$REL" "$HOSTILE"; do
	[ -x "$p" ] || fail "$p not built"
done

require_netns
require_cmd nft "nft (nftables) for the silent host"
setup_tmp
A=hd-$$-a
B=hd-$$-b
H=hd-$$-h
make_pair "$A" "$B"
ip netns add "$H" || fail "ip netns add $H"
T_NS="$T_NS $H"
ip link add vh-$$ netns "$A" type veth peer name vi-$$ netns "$H" ||
	fail "cannot create veth pair A-H"
ip -n "$A" addr add "10.203.$net.1/24" dev vh-$$
ip -n "$H" addr add "10.203.$net.2/24" dev vi-$$
ip -n "$H" link set lo up
ip -n "$A" link set vh-$$ up
ip -n "$H" link set vi-$$ up
AH4="10.203.$net.1"
for n in "$A" "$B" "$H"; do
	# Failures must not depend on the kernel's ICMP rate limit.
	ip netns exec "$n" sysctl -q -w net.ipv4.icmp_ratelimit=0 \
		net.ipv6.icmp.ratelimit=0 >/dev/null || fail "sysctl in $n"
done
if ! ip netns exec "$A" nft list tables >/dev/null 2>&1; then
	skip "nftables does not work in a network namespace here"
fi

rss_kb() { awk "/^${2:-VmRSS}:/ {print \$2}" "/proc/$1/status"; }

# rss_back BEFORE AFTER: homad's RSS (kB) is back within 8 MiB of BEFORE.
# Not in an AddressSanitizer build: there freed memory waits in ASan's
# quarantine, so the RSS says nothing (ASan reports leaks itself at exit).
ASAN_HOMAD=0
grep -q __asan_init "$HOMAD" 2>/dev/null && ASAN_HOMAD=1
rss_back() {
	[ $ASAN_HOMAD = 1 ] || [ "$2" -le $(($1 + 8192)) ]
}


# write_conf LINK [LIMITS] [PROTOCOL]: both hosts' homa.conf.
write_conf() {
	for h in a b; do
		printf 'network = {\n\tlink = "%s";\n};\nlimits = {\n%s\n};\nprotocol = {\n%s\n};\n' \
			"$1" "${2:-}" "${3:-}" >"$T_TMP/$h.conf"
	done
}

# stop_homad HOST: SIGTERM; it must exit 0 within 10 s.
stop_homad() {
	if [ "$1" = a ]; then p=$HA; else p=$HB; fi
	kill -TERM "$p" 2>/dev/null
	bounded_wait "$p" 10 && [ "$WAIT_RC" -eq 0 ] ||
		{ cat "$T_TMP/$1.log"; fail "homad $1 did not stop cleanly"; }
}


# The nftables table that makes A silent: it drops all of A's traffic, in
# and out, but loopback.
cat >"$T_TMP/silent.nft" <<EOF
table inet rel_silent {
	chain in { type filter hook input priority 0; policy drop;
		iif lo accept; }
	chain out { type filter hook output priority 0; policy drop;
		oif lo accept; }
}
EOF

T_START=$(now_ms)

# ---- 1. peer homad killed, peer host silent, under load -------------------
for link in ip udp; do
	if [ $link = ip ]; then icmp_err=EPROTONOSUPPORT; else icmp_err=ENOTCONN; fi
	write_conf $link
	start_homad a
	start_homad b
	start_server a echo -f 4 --echo 100
	ECHO=$SRV
	for size in 20000 300000; do
		if [ $size -gt 100000 ]; then nrpc=8; else nrpc=64; fi
		run_case "peer homad SIGKILL under load, $link link, $size B" b \
			"$REL" load -f 4 -d "$A4" -p 100 -n $nrpc --size $size \
			--warm 300 --run "kill -9 $HA" --window 300 \
			--expect $icmp_err --within 250
		bounded_wait "$HA" 5
		bounded_wait "$ECHO" 5
		start_homad a
		start_server a echo -f 4 --echo 100
		ECHO=$SRV
		run_case "after the peer's restart, $link link" b "$REL" \
			echoload -f 4 -d "$A4" -p 100 -n 8 --size $size \
			--seconds 0.5 --min-rpcs 20

		run_case "peer host silent (nft drop) under load, $link link, \
$size B" b "$REL" load -f 4 -d "$A4" -p 100 -n $nrpc --size $size --warm 300 \
			--run "ip netns exec $A nft -f $T_TMP/silent.nft" \
			--window 300 --expect ETIMEDOUT --within 250
		ip netns exec "$A" nft delete table inet rel_silent ||
			fail "cannot delete the nft table"
		run_case "after the silence, $link link" b "$REL" echoload \
			-f 4 -d "$A4" -p 100 -n 8 --size $size --seconds 0.5 \
			--min-rpcs 20
	done
	kill "$ECHO" 2>/dev/null
	wait "$ECHO" 2>/dev/null
	stop_homad a
	stop_homad b
done

# ---- 2. clients and a server killed with many RPCs in flight -------------
write_conf ip
start_homad a
start_homad b
sleep 0.3
for h in a b; do
	for k in rpcs homa_sockets clients client_memory; do
		eval "base_${h}_$k=\$(hstat $h $k)"
	done
done

# hold_clients: 4 clients in B holding 100 requests each (1,000 to
# 120,000 bytes) to a sink on port 104 in A (SINK); HOLDS, total.
hold_clients() {
	start_server a sink -f 4 --sink 104
	SINK=$SRV
	HOLDS=""
	total=0
	j=0
	for size in 1000 20000 60000 120000; do
		j=$((j + 1))
		rm -f "$T_TMP/hold$j.ready"
		HOMA_SOCKET=$(sock b) ip netns exec "$B" "$E2E" hold -f 4 \
			-d "$A4" --sink 104 -n 100 --size $size \
			--ready "$T_TMP/hold$j.ready" >"$T_TMP/hold$j.log" 2>&1 &
		HOLDS="$HOLDS $!"
		T_PIDS="$T_PIDS $!"
		total=$((total + 100))
	done
}

# A first round, not checked, so that RSS counts from after it: the
# first traffic touches pages that stay (the link's receive buffers,
# tables at their working size); a leak grows with every round.
hold_clients
for j in 1 2 3 4; do
	wait_for test -f "$T_TMP/hold$j.ready" || break
done
wait_for hstat_is a rpcs $((base_a_rpcs + total))
kill -9 $HOLDS
for p in $HOLDS; do wait "$p" 2>/dev/null; done
wait_for hstat_is b rpcs "$base_b_rpcs"
kill -9 "$SINK"
wait "$SINK" 2>/dev/null
wait_for hstat_is a rpcs "$base_a_rpcs"
wait_for hstat_is a clients "$base_a_clients"
rss_a0=$(rss_kb "$HA")
rss_b0=$(rss_kb "$HB")
hold_clients
name="kill -9 of 4 clients with $total RPCs in flight"
ok=1
for j in 1 2 3 4; do
	wait_for test -f "$T_TMP/hold$j.ready" ||
		{ ok=0; failed "$name" "hold $j did not start: \
$(cat "$T_TMP/hold$j.log")"; }
done
if [ $ok = 1 ]; then
	if ! wait_for hstat_is a rpcs $((base_a_rpcs + total)); then
		failed "$name" "A holds $(hstat a rpcs) RPCs, expected \
$((base_a_rpcs + total))"
	else
		peak_b=$(hstat b client_memory)
		peak_rss_b=$(rss_kb "$HB")
		t0=$(now_ms)
		kill -9 $HOLDS
		for p in $HOLDS; do wait "$p" 2>/dev/null; done
		back=1
		for k in rpcs homa_sockets clients client_memory; do
			eval "want=\$base_b_$k"
			wait_for hstat_is b $k "$want" || back=0
		done
		t1=$(now_ms)
		rss_b1=$(rss_kb "$HB")
		if [ $back = 1 ] && rss_back "$rss_b0" "$rss_b1"; then
			pass "$name" "B back to $base_b_rpcs RPCs, \
$base_b_homa_sockets sockets, $base_b_clients clients, $base_b_client_memory \
bytes of client memory (peak $peak_b) in $((t1 - t0)) ms; RSS ${rss_b0} kB \
-> ${peak_rss_b} kB -> ${rss_b1} kB"
		else
			failed "$name" "B: $(hstat b rpcs) RPCs ($base_b_rpcs), \
$(hstat b homa_sockets) sockets ($base_b_homa_sockets), $(hstat b clients) \
clients ($base_b_clients), $(hstat b client_memory) bytes \
($base_b_client_memory); RSS ${rss_b0} -> ${rss_b1} kB"
		fi
	fi
fi
name="kill -9 of a server holding $total requests"
peak_a=$(hstat a client_memory)
peak_rss_a=$(rss_kb "$HA")
t0=$(now_ms)
kill -9 "$SINK"
wait "$SINK" 2>/dev/null
back=1
for k in rpcs homa_sockets clients client_memory; do
	eval "want=\$base_a_$k"
	wait_for hstat_is a $k "$want" || back=0
done
t1=$(now_ms)
rss_a1=$(rss_kb "$HA")
if [ $back = 1 ] && rss_back "$rss_a0" "$rss_a1"; then
	pass "$name" "A back to $base_a_rpcs RPCs, $base_a_homa_sockets \
sockets, $base_a_clients clients, $base_a_client_memory bytes of client \
memory (peak $peak_a) in $((t1 - t0)) ms; RSS ${rss_a0} kB -> \
${peak_rss_a} kB -> ${rss_a1} kB"
else
	failed "$name" "A: $(hstat a rpcs) RPCs ($base_a_rpcs), \
$(hstat a homa_sockets) sockets ($base_a_homa_sockets), $(hstat a clients) \
clients ($base_a_clients), $(hstat a client_memory) bytes \
($base_a_client_memory); RSS ${rss_a0} -> ${rss_a1} kB"
fi

# ---- 3. homad restarted under a client that reconnects --------------------
start_server a echo -f 4 --echo 100
ECHO=$SRV
rm -f "$T_TMP/recon.ready"
HOMA_SOCKET=$(sock b) ip netns exec "$B" "$REL" reconnect -f 4 -d "$A4" \
	-p 100 --size 5000 --seconds 5 --within 3000 \
	--ready "$T_TMP/recon.ready" >"$T_TMP/recon.out" 2>&1 &
RECON=$!
T_PIDS="$T_PIDS $RECON"
name="homad restarted (SIGTERM, SIGKILL) under a reconnecting client"
if ! wait_for test -f "$T_TMP/recon.ready"; then
	failed "$name" "the client did not start: $(cat "$T_TMP/recon.out")"
else
	sleep 0.5
	stop_homad b
	start_homad b
	sleep 1
	kill -9 "$HB"
	wait "$HB" 2>/dev/null
	start_homad b
	if ! bounded_wait "$RECON" 20; then
		failed "$name" "the client hangs"
	elif [ "$WAIT_RC" -ne 0 ]; then
		failed "$name" "$(tr '\n' ' ' <"$T_TMP/recon.out")"
	else
		pass "$name" "$(cat "$T_TMP/recon.out")"
	fi
fi

# ---- 4. a hostile peer ----------------------------------------------------
kill "$ECHO" 2>/dev/null
wait "$ECHO" 2>/dev/null
stop_homad a
stop_homad b
# H's kernel would answer homad's RESENDs and GRANTs with ICMP protocol
# (or port) unreachable, which ends H's RPCs at once (even with
# hostile_peer's raw socket open): a real attacker stays silent, so H
# drops them.
ip netns exec "$H" nft -f - <<EOF || fail "nft in H"
table ip rel_hostile {
	chain out { type filter hook output priority 0; policy accept;
		icmp type destination-unreachable drop; }
}
EOF
# end_hostile_case NAME: the case NAME passes when A's RPCs go back to
# base_rpcs (the hostile peer's end); then the echo server and both
# homads stop.
end_hostile_case() {
	if wait_for hstat_is a rpcs "$base_rpcs"; then
		pass "$1" "A back to $base_rpcs RPCs, RSS $(rss_kb "$HA") kB"
	else
		failed "$1" "A holds $(hstat a rpcs) RPCs (baseline $base_rpcs)"
	fi
	kill "$ECHO" 2>/dev/null
	wait "$ECHO" 2>/dev/null
	stop_homad a
	stop_homad b
}
# d NAME [LABEL]: how much a counter of A moved.
d() {
	echo $(($(metric "$T_TMP/m.after" "$@") - $(metric "$T_TMP/m.before" "$@")))
}
sent() { sed -n "s/^$1 $2 //p" "$T_TMP/hostile.out"; }
for link in ip udp; do
	if [ $link = ip ]; then udp_opt=""; else udp_opt="-u 4146"; fi
	# Tight RPC limits, so that the flood of requests with random ids
	# meets them, and 128 MiB of client memory (the echo server maps
	# 80 MiB); the rest at defaults.
	write_conf $link "max_rpcs = 20000; max_memory = 134217728;" \
		"max_rpcs_per_peer = 100;"
	start_homad a
	start_homad b
	start_server a echo -f 4 --echo 100
	ECHO=$SRV
	sleep 0.3
	base_rpcs=$(hstat a rpcs)
	rss0=$(rss_kb "$HA")
	anon0=$(rss_kb "$HA" RssAnon)
	"$HOMACTL" -s "$(ctl a)" metrics >"$T_TMP/m.before" || fail "metrics"
	HOMA_SOCKET=$(sock b) ip netns exec "$B" "$REL" echoload -f 4 \
		-d "$A4" -p 100 -n 4 --size 10000 --seconds 3 --min-rpcs 200 \
		>"$T_TMP/legit.out" 2>&1 &
	LEGIT=$!
	T_PIDS="$T_PIDS $LEGIT"
	# shellcheck disable=SC2086
	ip netns exec "$H" "$HOSTILE" $udp_opt -d "$AH4" -p 100 -r 20000 \
		-t 2.5 -s 7 >"$T_TMP/hostile.out" 2>&1
	hrc=$?
	bounded_wait "$LEGIT" 20
	lrc=$WAIT_RC
	"$HOMACTL" -s "$(ctl a)" metrics >"$T_TMP/m.after" || fail "metrics"
	hwm=$(rss_kb "$HA" VmHWM)
	anon=$(rss_kb "$HA" RssAnon)
	name="hostile peer, $link link: bad DATA, random ids, unknown \
GRANT/RESEND, ACK and CUTOFFS floods"
	why=""
	[ $hrc -eq 0 ] ||
		why="$why hostile_peer failed: $(cat "$T_TMP/hostile.out");"
	running "$HA" || why="$why homad in A died;"
	[ "$(d malformed_packets msg_length)" -gt 0 ] ||
		why="$why malformed msg_length did not move;"
	[ "$(d malformed_packets offset)" -gt 0 ] ||
		why="$why malformed offset did not move;"
	[ "$(d unknown_rpcs)" -gt 0 ] || why="$why unknown_rpcs did not move;"
	for t in GRANT RESEND ACK CUTOFFS; do
		[ "$(d packets_received "$t")" -gt 0 ] ||
			why="$why no $t counted received;"
	done
	limit_drops=$(($(d server_cant_create_rpcs) + $(d rpc_limit_drops)))
	[ "$limit_drops" -gt 0 ] ||
		why="$why no request refused by the RPC limits;"
	# homad's peak RSS: client memory it maps (limits.max_memory,
	# 128 MiB) and its own tables, bounded by the limits: 32 MiB for
	# them is far above what they need, far below what unbounded ones
	# would take under this flood.
	# (Not under AddressSanitizer: see rss_back.)
	[ $ASAN_HOMAD = 1 ] || [ "$hwm" -le $((131072 + 32768)) ] ||
		why="$why homad's peak RSS ${hwm} kB (from ${rss0} kB);"
	[ $ASAN_HOMAD = 1 ] || [ "$anon" -le $((anon0 + 32768)) ] ||
		why="$why homad's private memory ${anon0} kB -> ${anon} kB;"
	[ "$lrc" -eq 0 ] ||
		why="$why legitimate client: $(cat "$T_TMP/legit.out");"
	if [ -z "$why" ]; then
		pass "$name" "$(sent sent randid) random-id requests, \
$(d malformed_packets msg_length) huge-length and $(d malformed_packets \
offset) bad-offset DATA dropped, $(d unknown_rpcs) unknown-RPC packets, \
$limit_drops requests over the RPC limits; RSS ${rss0} kB -> peak ${hwm} kB \
(private ${anon0} -> ${anon} kB); legitimate: $(cat "$T_TMP/legit.out")"
	else
		failed "$name" "$why $(tr '\n' ' ' <"$T_TMP/hostile.out"); \
A: $(d server_requests_started) requests started, $(d server_rpc_timeouts) \
timed out, $(d server_cant_create_rpcs) + $(d rpc_limit_drops) refused, \
$(d link_rx_datagrams) datagrams"
	fi
	end_hostile_case "after the hostile peer, $link link: its RPCs end"
done

# ---- 5. a hostile peer holding the receive pool ---------------------------
# H starts 200 requests of 65,536 bytes and sends their first packet
# again and again: A gives each a bpage (the echo server's 8 MiB pool has
# 128) and never times them out.  First with the per-peer share off
# (peer_pool_percent 100): the legitimate client's requests wait behind
# them for good (which shows that the attack bites); then at the default
# share, 50%: H holds half the pool and the client keeps echoing.
for pct in 100 50; do
	write_conf ip "" "peer_pool_percent = $pct;"
	start_homad a
	start_homad b
	start_server a echo -f 4 --echo 100 --rx-pool 8388608
	ECHO=$SRV
	sleep 0.3
	base_rpcs=$(hstat a rpcs)
	"$HOMACTL" -s "$(ctl a)" metrics >"$T_TMP/m.before" || fail "metrics"
	ip netns exec "$H" "$HOSTILE" -d "$AH4" -p 100 -k hold -n 200 \
		-r 5000 -t 5 -s 9 >"$T_TMP/hostile.out" 2>&1 &
	HOLD=$!
	T_PIDS="$T_PIDS $HOLD"
	sleep 0.5
	HOMA_SOCKET=$(sock b) ip netns exec "$B" "$REL" echoload -f 4 \
		-d "$A4" -p 100 -n 4 --size 10000 --seconds 3 --min-rpcs 200 \
		>"$T_TMP/legit.out" 2>&1 &
	LEGIT=$!
	T_PIDS="$T_PIDS $LEGIT"
	# While H holds on, homactl status counts the messages that wait.
	sleep 2
	waits=$(hstat a buffer_waits)
	bounded_wait "$LEGIT" 8
	lrc=$WAIT_RC
	"$HOMACTL" -s "$(ctl a)" metrics >"$T_TMP/m.after" || fail "metrics"
	bounded_wait "$HOLD" 10
	hrc=$WAIT_RC
	why=""
	[ "$hrc" -eq 0 ] ||
		why="$why hostile_peer failed: $(cat "$T_TMP/hostile.out");"
	running "$HA" || why="$why homad in A died;"
	[ "${waits:-0}" -gt 0 ] || why="$why homactl status shows no buffer waits;"
	if [ "$pct" = 100 ]; then
		name="a peer holding the pool, no per-peer share: the \
legitimate client stalls (the attack works)"
		[ "$lrc" -ne 0 ] ||
			why="$why the client got through: $(cat "$T_TMP/legit.out"),\
 $(d buffer_alloc_failures) messages found the pool full;"
		[ "$(d buffer_alloc_failures)" -gt 0 ] ||
			why="$why no message found the pool full;"
		detail="$(d buffer_alloc_failures) messages found the pool \
full, $waits waiting; client: \
$(tr '\n' ' ' <"$T_TMP/legit.out")"
	else
		name="a peer holding the pool, peer_pool_percent 50: the \
legitimate client keeps echoing"
		[ "$lrc" -eq 0 ] ||
			why="$why legitimate client: $(cat "$T_TMP/legit.out");"
		[ "$(d pool_share_waits)" -gt 0 ] ||
			why="$why pool_share_waits did not move;"
		detail="$(d pool_share_waits) of H's requests over its share, \
$(d buffer_alloc_failures) found the pool full, $waits waiting; legitimate: \
$(cat "$T_TMP/legit.out")"
	fi
	if [ -z "$why" ]; then
		pass "$name" "$detail"
	else
		failed "$name" "$why $(tr '\n' ' ' <"$T_TMP/hostile.out")"
	fi
	end_hostile_case "after the pool holder, peer_pool_percent $pct: its \
RPCs end"
done

echo "# reliability.sh: $CASES cases, $FAILS failed, $(($(now_ms) - T_START)) ms"
[ "$FAILS" -eq 0 ]
