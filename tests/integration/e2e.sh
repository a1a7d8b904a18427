#!/bin/sh
# e2e.sh - homad end to end through libhomaclient: two hosts (namespaces A
# and B joined by veth, a homad in each, its control and client sockets in
# a temp dir) and a third, C, joined to B, with an address and no homad.
# tests/integration/e2e_test plays the applications.  Every case of the
# issue's list, one line each ("# case: result, numbers"):
#   - echo RPCs of 1 .. 1,000,000 bytes, byte-exact, IPv4 and IPv6, on the
#     ip and the udp link; requests to an unbound port and to a socket that
#     is not a server fail at once with ENOTCONN; to C (no homad) with
#     EPROTONOSUPPORT;
#   - 1,000 concurrent RPCs from 10 client processes (both links); 50
#     sockets in one process, bound and default ports; private RPCs;
#     completion cookies; aborts, silent and with an errno; shutdown waking
#     blocked waiters with ESHUTDOWN; bind conflicts (EADDRINUSE); receive
#     pool exhaustion stalling, then completing after recycling; 0- and
#     1,000,001-byte sends (EINVAL); kill -9 of a client (and of a server)
#     with RPCs in flight: homad's RPC count back to its baseline;
#   - homad stopped with SIGTERM, and with SIGKILL: blocked applications
#     wake with an error within a bounded time.
# Exit 0 only if every case passed; 77 only without root or netns.
. "$(dirname "$0")/lib.sh"

E2E="$top_builddir/tests/integration/e2e_test"
[ -x "$E2E" ] || fail "$E2E not built"

require_netns
setup_tmp
A=hd-$$-a
B=hd-$$-b
C=hd-$$-c
make_pair "$A" "$B"
# C: an address, no homad; its kernel answers Homa packets with ICMP
# protocol unreachable (IPv6: parameter problem, unknown next header).
ip netns add "$C" || fail "ip netns add $C"
T_NS="$T_NS $C"
ip link add vc-$$ netns "$B" type veth peer name vd-$$ netns "$C" ||
	fail "cannot create veth pair B-C"
ip -n "$B" addr add "10.202.$net.1/24" dev vc-$$
ip -n "$C" addr add "10.202.$net.2/24" dev vd-$$
ip -n "$B" addr add "fd47:$net::1/64" dev vc-$$ nodad
ip -n "$C" addr add "fd47:$net::2/64" dev vd-$$ nodad
ip -n "$C" link set lo up
ip -n "$B" link set vc-$$ up
ip -n "$C" link set vd-$$ up
C4="10.202.$net.2"
C6="fd47:$net::2"
for n in "$A" "$B" "$C"; do
	# The ICMP cases must not depend on the kernel's ICMP rate limit.
	ip netns exec "$n" sysctl -q -w net.ipv4.icmp_ratelimit=0 \
		net.ipv6.icmp.ratelimit=0 >/dev/null || fail "sysctl in $n"
done

# Per host (a, b): control socket, client socket; the namespace.
# run_case NAME HOST COMMAND ARGS...: e2e_test COMMAND (lib.sh's run_case).
e2e_case() {
	name=$1
	host=$2
	shift 2
	run_case "$name" "$host" "$E2E" "$@"
}

# start_homads LINK: a homad in A and one in B on that link.
start_homads() {
	printf 'network = {\n\tlink = "%s";\n};\n' "$1" >"$T_TMP/homa.conf"
	start_homads_conf "$T_TMP/homa.conf" "$T_TMP/homa.conf"
}

# hpid HOST: the pid of HOST's homad.
hpid() { if [ "$1" = a ]; then echo "$HA"; else echo "$HB"; fi; }

# stop_homads: SIGTERM both; each must exit 0 within 10 s.
stop_homads() {
	kill -TERM "$HA" "$HB"
	for h in a b; do
		bounded_wait "$(hpid $h)" 10 ||
			{ cat "$T_TMP/$h.log"; fail "homad $h did not stop"; }
		[ "$WAIT_RC" -eq 0 ] ||
			{ cat "$T_TMP/$h.log"; fail "homad $h exited $WAIT_RC"; }
	done
}


# server_gone NAME PID: the server saw homad close its connection and
# exited 0 (within 10 s).
server_gone() {
	bounded_wait "$2" 10 && [ "$WAIT_RC" -eq 0 ] &&
		grep -q "homad closed the connection" "$T_TMP/$1.log"
}

# idle_port NAME: the port of server NAME's socket that is not a server.
idle_port() {
	sed -n 's/^idle //p' "$T_TMP/$1.ready"
}

SIZES=1,1399,1400,1401,40000,40001,65535,65536,500000,1000000
T_START=$(now_ms)

for link in ip udp; do
	start_homads "$link"
	start_server a srv4 -f 4 --echo 100 --sink 102 --idle
	S4=$SRV
	start_server a srv6 -f 6 --echo 101 --sink 103 --idle
	S6=$SRV

	# ---- echo, unreachable ports and hosts -----------------------------
	e2e_case "echo $link IPv4" b echo -f 4 -d "$A4" -p 100 --sizes "$SIZES"
	e2e_case "echo $link IPv6" b echo -f 6 -d "$A6" -p 101 --sizes "$SIZES"
	e2e_case "echo $link IPv6 private" b echo -f 6 -d "$A6" -p 101 \
		--sizes "$SIZES" --private
	for fam in 4 6; do
		if [ $fam = 4 ]; then dst=$A4; c=$C4; else dst=$A6; c=$C6; fi
		e2e_case "unbound port $link IPv$fam" b unreach -f $fam \
			-d "$dst" -p 999 --expect ENOTCONN --within 50
		e2e_case "non-server socket $link IPv$fam" b unreach -f $fam \
			-d "$dst" -p "$(idle_port srv$fam)" --expect ENOTCONN \
			--within 50
		# On the udp link C's kernel finds no socket on homad's UDP
		# port: ICMP port unreachable, so ENOTCONN.
		if [ $link = ip ]; then err=EPROTONOSUPPORT; else err=ENOTCONN; fi
		e2e_case "host without homad $link IPv$fam" b unreach -f $fam \
			-d "$c" -p 100 --expect $err --within 50
	done

	e2e_case "1000 concurrent RPCs, 10 processes, $link" b concurrent \
		-f 4 -d "$A4" -p 100 --procs 10 -n 100 --within 30000

	if [ $link = ip ]; then
		# ---- the library's cases, once -----------------------------
		start_server a tagged -f 6 --tagged 50 --bind-base 3000
		TAGGED=$SRV
		hs=$(hstat a homa_sockets)
		e2e_case "many sockets and ports" b many -f 6 -d "$A6" \
			--ports-file "$T_TMP/tagged.ready" -n 50
		echo "#   (homad in A had $hs Homa sockets open)"
		kill "$TAGGED"
		wait "$TAGGED" 2>/dev/null
		e2e_case "private RPCs" b private -f 6 -d "$A6" -p 101
		e2e_case "completion cookies" b cookies -f 4 -d "$A4" -p 100
		e2e_case "abort" b abort -f 4 -d "$A4" -p 100 --sink 102
		e2e_case "shutdown wakes blocked waiters" b shutdown -f 6 \
			-d "$A6" --sink 103
		e2e_case "bind conflicts" a bind -f 4 --taken 100
		e2e_case "recv pool exhaustion" b pool -f 4 -d "$A4" -p 100
		e2e_case "0 and 1,000,001-byte sends" b einval -f 6 -d "$A6" \
			-p 101

		# ---- kill -9 of a client, then of a server, RPCs in flight --
		start_server a ksink -f 4 --sink 104
		KSINK=$SRV
		base_a=$(hstat a rpcs)
		base_b=$(hstat b rpcs)
		clients_b=$(hstat b clients)
		rm -f "$T_TMP/hold.ready"
		HOMA_SOCKET=$(sock b) ip netns exec "$B" "$E2E" hold -f 4 \
			-d "$A4" --sink 104 -n 50 --size 300000 \
			--ready "$T_TMP/hold.ready" >"$T_TMP/hold.log" 2>&1 &
		HOLD=$!
		T_PIDS="$T_PIDS $HOLD"
		name="kill -9 of a client with 50 RPCs in flight"
		if ! wait_for test -f "$T_TMP/hold.ready"; then
			failed "$name" "hold did not start: $(cat "$T_TMP/hold.log")"
		elif ! wait_for hstat_is b rpcs $((base_b + 50)) ||
			! wait_for hstat_is a rpcs $((base_a + 50)); then
			failed "$name" "B $(hstat b rpcs) RPCs (expected \
$((base_b + 50))), A $(hstat a rpcs) (expected $((base_a + 50)))"
		else
			t0=$(now_ms)
			kill -9 "$HOLD"
			wait "$HOLD" 2>/dev/null
			if wait_for hstat_is b rpcs "$base_b" &&
				wait_for hstat_is b clients "$clients_b"; then
				pass "$name" "B's RPCs $base_b -> $((base_b + \
50)) -> $(hstat b rpcs), clients back to $clients_b, in $(($(now_ms) - t0)) ms"
			else
				failed "$name" "B: $(hstat b rpcs) RPCs \
(baseline $base_b), $(hstat b clients) clients (baseline $clients_b)"
			fi
		fi
		name="kill -9 of a server holding 50 requests"
		t0=$(now_ms)
		kill -9 "$KSINK"
		wait "$KSINK" 2>/dev/null
		if wait_for hstat_is a rpcs "$base_a"; then
			pass "$name" "A's RPCs $((base_a + 50)) -> $(hstat a rpcs) \
in $(($(now_ms) - t0)) ms"
		else
			failed "$name" "A: $(hstat a rpcs) RPCs (baseline $base_a)"
		fi
		stop_homads
		server_gone srv4 "$S4" && server_gone srv6 "$S6" ||
			fail "a server did not see homad stop: \
$(cat "$T_TMP/srv4.log" "$T_TMP/srv6.log")"
	fi
done

# ---- homad stopped under blocked applications (udp link still up) --------
# In each host an application blocked in hc_recv (for any message and for
# a private response) on RPCs to a local sink; B's homad gets SIGTERM, A's
# SIGKILL.
start_server b bsink -f 4 --sink 102
BSINK=$SRV
for h in a b; do
	if [ $h = a ]; then dst=$A4; else dst=$B4; fi
	rm -f "$T_TMP/block$h.ready"
	HOMA_SOCKET=$(sock $h) ip netns exec "$(ns_of $h)" "$E2E" block -f 4 \
		-d "$dst" --sink 102 --ready "$T_TMP/block$h.ready" \
		--within 5000 >"$T_TMP/block$h.out" 2>&1 &
	if [ $h = a ]; then BLA=$!; else BLB=$!; fi
	T_PIDS="$T_PIDS $!"
done
for h in a b; do
	wait_for test -f "$T_TMP/block$h.ready" ||
		fail "block in $h did not start: $(cat "$T_TMP/block$h.out")"
done
for sig in TERM KILL; do
	if [ $sig = TERM ]; then
		h=b hp=$HB bp=$BLB
	else
		h=a hp=$HA bp=$BLA
	fi
	name="homad SIG$sig under blocked clients"
	t0=$(now_ms)
	kill -$sig "$hp"
	if ! bounded_wait "$bp" 10; then
		failed "$name" "the client is still blocked after 10 s"
	elif [ "$WAIT_RC" -ne 0 ]; then
		failed "$name" "$(tr '\n' ' ' <"$T_TMP/block$h.out")"
	else
		pass "$name" "$(cat "$T_TMP/block$h.out"), $(($(now_ms) - t0)) \
ms after the signal"
	fi
	bounded_wait "$hp" 10
	if [ $sig = TERM ] && [ "$WAIT_RC" -ne 0 ]; then
		failed "homad SIGTERM exit status" "$WAIT_RC: $(cat "$T_TMP/b.log")"
	fi
done
name="servers when homad stops"
if server_gone bsink "$BSINK" && server_gone srv4 "$S4" &&
	server_gone srv6 "$S6"; then
	pass "$name" "servers blocked in poll saw homad go (SIGTERM in B, \
SIGKILL in A) and exited"
else
	failed "$name" "a server did not see homad go"
fi

echo "# e2e.sh: $CASES cases, $FAILS failed, $(($(now_ms) - T_START)) ms"
[ "$FAILS" -eq 0 ]
