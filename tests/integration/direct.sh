#!/bin/sh
# direct.sh - direct send (homa.conf clients.direct_send_groups): two hosts
# (namespaces A and B joined by veth, a homad in each, root's group allowed),
# an e2e_test echo server in A, echo clients in B.  One line per case:
#   - ip link, IPv4: echoes of sizes around the direct limit (one packet,
#     1424 bytes at MTU 1500) byte-exact; the requests up to the limit go
#     from B's library (B's direct_messages), the responses from A's
#     library (A's direct_messages), none beyond it; homad was not handed a
#     SendRequest for them (chan_commands grows by the others only);
#   - ip link, AF_INET6 sockets: granted with a second send socket (raw
#     IPv6, protocol 146): echoes to an IPv6 peer around its limit (1404
#     bytes) byte-exact, the short ones sent by both libraries; an
#     AF_INET6 socket's IPv4 (v4-mapped) peer through the IPv4 socket;
#     that raw IPv6 socket receives nothing while IPv6 Homa traffic
#     arrives (tests/integration/chan_test direct -f 6);
#   - direct receive (ip link, IPv4 peers): B's library reads the
#     single-packet responses itself (B's direct_responses and
#     chan_direct_rx_records, none handed back), and A's server library
#     the single-packet requests (its request socket: A's direct_requests
#     and chan_direct_srx_records), also an AF_INET6 server's from IPv4
#     clients (v4-mapped); 600 responses held
#     unrecycled at once, more than the library's own area takes: the rest
#     handed to B's homad (DirectPacket, direct_fallback_packets), all
#     exact; an event loop polling hc_fd gets every response without a
#     stall; the receive socket as a hostile client sees it (chan_test
#     rxprobe): its filter locked, its own responses arrive, no other
#     connection's nor forged ones of another key, port or shape, nothing
#     of a later connection through a descriptor kept after its own; the
#     request socket as a hostile server without CAP_NET_RAW sees it
#     (chan_test srxprobe): its filter locked, only whole requests to its
#     port, revoked with its port (a kept descriptor reads nothing of the
#     next server's requests and cannot be bound back); with A's homad
#     killed, a server's library closes its request socket itself
#     (e2e_test srxloss);
#   - loss: A and B drop 30% of what they receive (test.rx_drop), B's
#     library 30% of what its receive socket reads and A's server 30% of
#     what its request socket reads ($HOMA_TEST_DRX_DROP):
#     every echo exact, recovered by homad's retransmission of directly
#     sent requests and responses (both hosts' resent_packets grow), no
#     bad ring record;
#   - a request lost while the client's homad was idle (no timer: the
#     library rings its doorbell) completes (B's homad resends it);
#   - limits.max_direct_sockets 1 in B: 10 client processes at once, one
#     granted at a time, the others refused and counted
#     (chan_direct_refused), all their RPCs complete;
#   - not in the list (direct_send_groups of another gid): denied and
#     counted (chan_direct_denied), echoes exact;
#   - udp link (limit 1416 bytes: 8 fewer for the UDP header): echoes
#     exact, the short ones sent by the libraries (IPv4 and IPv6: 1396);
#     with 30% loss both ways, recovered by homad's retransmission; a
#     direct-send client (IPv4, and IPv6 with its UDP socket for IPv6)
#     (tests/integration/chan_test direct) receives nothing on its UDP
#     socket (locked drop-all filter) while forging packets about another
#     connection's ids, and cannot write homad's peer table.
# Exit 0 only if every case passed; 77 only without root or netns.
. "$(dirname "$0")/lib.sh"

E2E="$top_builddir/tests/integration/e2e_test"
CHAN_TEST="$top_builddir/tests/integration/chan_test"
[ -x "$E2E" ] || fail "$E2E not built"
[ -x "$CHAN_TEST" ] || fail "$CHAN_TEST not built"

require_netns
setup_tmp
A=hd-$$-da
B=hd-$$-db
make_pair "$A" "$B"

hctl() {
	h=$1
	shift
	"$HOMACTL" -s "$(ctl "$h")" "$@"
}
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
# both NAME FROM TO: how much counter NAME grew in A and B together.
both() {
	echo $(($(delta a "$1" "$2" "$3") + $(delta b "$1" "$2" "$3")))
}

# conf LINK GID [EXTRA [NETWORK]]: a homa.conf for both homads (NETWORK:
# more settings of its network group).
conf() {
	printf 'network = {\n\tlink = "%s";\n%s\n};\nclients = {\n\tdirect_send_groups = [%s];\n};\n%s\n' \
		"$1" "${4:-}" "$2" "${3:-}" >"$T_TMP/homa.conf"
}
stop_homads() {
	kill -TERM "$HA" "$HB" 2>/dev/null
	for p in "$HA" "$HB"; do
		bounded_wait "$p" 10 || fail "homad $p did not stop"
	done
	for p in $SRVS; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	SRVS=
}

# loss_case LINK MAX PORT: both homads drop 30% of what they receive (and
# the libraries' receive sockets as the servers and clients say, see
# $HOMA_TEST_DRX_DROP) while 8 echoes of 1, 700 and MAX bytes to PORT run:
# all exact, every request and response sent directly, both homads
# retransmit (their resent_packets).
loss_case() {
	name="loss $1: directly sent messages retransmitted by homad"
	for h in a b; do
		hctl $h set test.rx_drop 0.3 >/dev/null ||
			fail "homactl set in $h"
	done
	snap l4
	ok=true
	for i in 1 2 3 4 5 6 7 8; do
		if ! HOMA_SOCKET=$(sock b) HOMA_TEST_DRX_DROP=0.3 \
			ip netns exec "$B" timeout 40 \
			"$E2E" echo -f 4 -d "$A4" -p "$3" --sizes 1,700,$2 \
			>/dev/null 2>"$T_TMP/case.err"; then
			ok=false
			break
		fi
	done
	snap l5
	for h in a b; do
		hctl $h set test.rx_drop 0 >/dev/null ||
			fail "homactl set in $h"
	done
	drops=$(both fault_rx_drops l4 l5)
	rq=$(delta b direct_messages l4 l5)
	rs=$(delta a direct_messages l4 l5)
	rp=$(delta b resent_packets l4 l5)
	ra=$(delta a resent_packets l4 l5)
	bad=$(both chan_direct_bad l4 l5)
	if $ok && [ "$drops" -gt 0 ] && [ "$rq" -eq 48 ] && [ "$rs" -eq 48 ] &&
		[ "$rp" -gt 0 ] && [ "$ra" -gt 0 ] && [ "$bad" -eq 0 ]; then
		pass "$name" "48 echoes exact, $drops packets dropped, B \
resent $rp packets, A $ra, direct requests $rq, responses $rs"
	else
		failed "$name" "ok $ok, drops $drops, direct requests $rq, \
responses $rs (48 each expected), B resent $rp, A $ra, bad $bad: \
$(tr '\n' ' ' <"$T_TMP/case.err")"
	fi
}

# direct_echo LABEL FAMILY DEST PORT SIZES N LIMIT [R]: a new client in B
# echoes SIZES (each twice) byte-exact; N requests went from B's library
# and N responses from A's (those up to LIMIT bytes), the client was
# granted, no bad record; R of the responses (default 0) B's library read
# itself (direct receive), none handed to B's homad, and R of the requests
# A's library read itself (its request socket).
direct_echo() {
	snap e0
	run_case "direct echo $1" b "$E2E" echo -f "$2" -d "$3" -p "$4" \
		--sizes "$5"
	snap e1
	name="direct messages $1"
	rq=$(delta b direct_messages e0 e1)
	rs=$(delta a direct_messages e0 e1)
	gb=$(delta b chan_direct_granted e0 e1)
	cb=$(delta b chan_commands e0 e1)
	bad=$(both chan_direct_bad e0 e1)
	rx=$(delta b direct_responses e0 e1)
	rr=$(delta b chan_direct_rx_records e0 e1)
	fb=$(delta b direct_fallback_packets e0 e1)
	qx=$(delta a direct_requests e0 e1)
	qr=$(delta a chan_direct_srx_records e0 e1)
	if [ "$rq" -eq "$6" ] && [ "$rs" -eq "$6" ] && [ "$gb" -eq 1 ] &&
		[ "$bad" -eq 0 ] && [ "$rx" -eq "${8:-0}" ] &&
		[ "$rr" -eq "${8:-0}" ] && [ "$fb" -eq 0 ] &&
		[ "$qx" -eq "${8:-0}" ] && [ "$qr" -eq "${8:-0}" ]; then
		pass "$name" "B's library sent $rq requests, A's $rs \
responses directly (<= $7 bytes), B's library received $rx responses \
itself, A's $qx requests, B's homad took $cb commands"
	else
		failed "$name" "requests $rq, responses $rs ($6 each \
expected), granted $gb, bad $bad, received directly $rx and records $rr, \
requests received directly $qx and records $qr (${8:-0} expected), handed \
back $fb"
	fi
}

# probe_case NAME FAMILY DEST PORT: chan_test's direct client in B
# receives nothing on its direct sockets while echoes (and, IPv4, forged
# packets) flow.
probe_case() {
	if out=$(ip netns exec "$B" timeout 40 "$CHAN_TEST" direct \
		-s "$(sock b)" -f "$2" --case probe -d "$3" -p "$4" 2>&1); then
		pass "$1" "$out"
	else
		failed "$1" "$(echo "$out" | tr '\n' ' ')"
	fi
}

# One packet of payload at MTU 1500 over IPv4: 1500 - 20 - 56.
MAX=1424
SIZES=1,100,1000,1423,$MAX,$((MAX + 1)),1500,40000,100000
# Sizes up to MAX, in SIZES: each is sent twice by `echo`.
NDIRECT=5

# ---- ip link --------------------------------------------------------------
conf ip 0
start_homads_conf "$T_TMP/homa.conf" "$T_TMP/homa.conf"
start_server a srv -f 4 --echo 100
SRVS=$SRV
start_server a srv6 -f 6 --echo 101
SRVS="$SRVS $SRV"
direct_echo "ip IPv4" 4 "$A4" 100 "$SIZES" $((2 * NDIRECT)) $MAX \
	$((2 * NDIRECT))

# homactl sockets in A: the IPv4 echo server was granted direct send and
# sent its responses itself; the IPv6 one was granted, and sent none yet.
name="homactl sockets: direct send per socket"
why=
if hctl a -j sockets >"$T_TMP/so.json" 2>&1 &&
	hctl a sockets >"$T_TMP/so.txt" 2>&1; then
	why=$(python3 - "$T_TMP/so.json" $((2 * NDIRECT)) <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
p = {x["port"]: x for x in d["sockets"]}
v4, v6 = p.get(100), p.get(101)
if v4 is None or v6 is None:
    print("no sockets on ports 100 and 101: %s" % d)
elif not v4["direct_send"] or v4["direct_messages"] != int(sys.argv[2]):
    print("port 100: %s (direct send, %s messages expected)" % (v4, sys.argv[2]))
elif not v6["direct_send"] or v6["direct_messages"] != 0:
    print("port 101: %s (direct send, no message yet expected)" % v6)
EOF
)
	awk -v n=$((2 * NDIRECT)) '$3 == 100 && $9 == n { a = 1 }
		$3 == 101 && $9 == 0 { b = 1 } END { exit !(a && b) }' \
		"$T_TMP/so.txt" || why="$why text: $(tr '\n' ' ' <"$T_TMP/so.txt")"
else
	why="homactl sockets failed: $(tr '\n' ' ' <"$T_TMP/so.json")"
fi
if [ -z "$why" ]; then
	pass "$name" "port 100: $((2 * NDIRECT)) direct messages, port 101: 0"
else
	failed "$name" "$why"
fi

# More responses held at once than the library's own area takes (256):
# the rest go to B's homad (DirectPacket) and come back through the pool.
# --parked: the receive socket is parked (bound to 224.0.0.0, passed over
# by the kernel before its clone) whenever no response is awaited.
snap h0
run_case "direct receive: 600 responses held at once, parked when idle" b \
	"$E2E" hoard -f 4 -d "$A4" -p 100 -n 600 --sizes 1,100,1000,$MAX \
	--parked
snap h1
name="direct receive: the library's area full, homad takes the rest"
rx=$(delta b direct_responses h0 h1)
fb=$(delta b direct_fallback_packets h0 h1)
st=$(delta b chan_direct_rx_stale h0 h1)
if [ "$rx" -ge 256 ] && [ "$fb" -gt 0 ] && [ $((rx + fb)) -ge 600 ]; then
	pass "$name" "$rx received directly, $fb handed to homad, $st stale"
else
	failed "$name" "received directly $rx, handed to homad $fb (>= 256 \
and > 0, 600 in all expected), stale $st"
fi
# An event loop: hc_recv(0) until -EAGAIN, then poll on hc_fd (epoll over
# the connection and the receive socket); a message read from the receive
# socket must not be left behind while the loop sleeps.
run_case "direct receive: an event loop polling hc_fd" b "$E2E" hoard -f 4 \
	-d "$A4" -p 100 -n 100 --sizes 1,100,1000 --poll --parked
name="direct receive: the receive socket as a hostile client sees it"
if out=$(ip netns exec "$B" timeout 60 "$CHAN_TEST" rxprobe \
	-s "$(sock b)" -f 4 -d "$A4" -p 100 2>&1); then
	pass "$name" "$out"
else
	failed "$name" "$(echo "$out" | tr '\n' ' ')"
fi

# IPv6: one packet of payload is 20 bytes less (the IPv6 header).
MAX6=$((MAX - 20))
SIZES6=1,100,1000,$((MAX6 - 1)),$MAX6,$((MAX6 + 1)),1500,40000
direct_echo "ip IPv6" 6 "$A6" 101 "$SIZES6" $((2 * NDIRECT)) $MAX6
# An AF_INET6 socket's IPv4 peer (v4-mapped): the IPv4 send socket.
direct_echo "ip AF_INET6 to IPv4" 6 "$A4" 100 "$SIZES" $((2 * NDIRECT)) $MAX \
	$((2 * NDIRECT))
# An AF_INET6 server's IPv4 clients (v4-mapped): its request socket.
direct_echo "ip IPv4 to an AF_INET6 server" 4 "$A4" 101 "$SIZES" \
	$((2 * NDIRECT)) $MAX $((2 * NDIRECT))
probe_case "ip: the IPv6 direct socket receives nothing" 6 "$A6" 101

# A server whose request socket drops 30% of what it reads: A's homad no
# longer sees those requests, so B's must resend them.
HOMA_TEST_DRX_DROP=0.3
export HOMA_TEST_DRX_DROP
start_server a srvl -f 4 --echo 102
unset HOMA_TEST_DRX_DROP
SRVS="$SRVS $SRV"
loss_case ip $MAX 102

# The request socket as a hostile server without CAP_NET_RAW sees it.
snap r0
name="direct receive: a request socket as a hostile server sees it"
if out=$(ip netns exec "$A" timeout 60 "$CHAN_TEST" srxprobe \
	-s "$(sock a)" -f 4 -p 103 2>&1); then
	snap r1
	rv=$(delta a chan_direct_srx_revoked r0 r1)
	if [ "$rv" -ge 1 ]; then
		pass "$name" "$out; $rv revoked"
	else
		failed "$name" "$out; but A revoked $rv request sockets"
	fi
else
	failed "$name" "$(echo "$out" | tr '\n' ' ')"
fi

# homad gone: nothing revokes a request socket then, so the library closes
# its own as soon as it sees the connection lost (A's homad killed last).
HOMA_SOCKET=$(sock a) ip netns exec "$A" timeout 60 "$E2E" srxloss -f 4 \
	-p 104 --ready "$T_TMP/srxloss.ready" >"$T_TMP/srxloss.out" 2>&1 &
SRXLOSS=$!
T_PIDS="$T_PIDS $SRXLOSS"
wait_for test -f "$T_TMP/srxloss.ready" ||
	fail "srxloss did not start: $(cat "$T_TMP/srxloss.out")"

# An idle client host: its homad sleeps with no timer, so the library rings
# (proto/homa_shm.h's doorbell) after its record; A drops everything for
# 300 ms, so the request is lost and only B's homad can resend it.
name="a lost request from an idle host"
sleep 0.3
hctl a set test.rx_drop 1 >/dev/null || fail "homactl set in A"
snap i0
t0=$(now_ms)
HOMA_SOCKET=$(sock b) ip netns exec "$B" timeout 40 "$E2E" echo -f 4 \
	-d "$A4" -p 100 --sizes 100 >"$T_TMP/idle.out" 2>&1 &
IDLE=$!
T_PIDS="$T_PIDS $IDLE"
sleep 0.3
hctl a set test.rx_drop 0 >/dev/null || fail "homactl set in A"
# B's homad resends within a few of its RESEND rounds (5, 10, 20 ms...)
# once it has the record; without the doorbell it took it only at its
# next wake-up for anything else (8 s here).
if wait "$IDLE" && [ $(($(now_ms) - t0)) -lt 3000 ]; then
	snap i1
	pass "$name" "done in $(($(now_ms) - t0)) ms (A dropped for 300): \
$(cat "$T_TMP/idle.out"); A dropped $(delta a fault_rx_drops i0 i1), B \
resent $(delta b resent_packets i0 i1)"
else
	failed "$name" "after $(($(now_ms) - t0)) ms: \
$(tr '\n' ' ' <"$T_TMP/idle.out")"
fi
name="direct receive: homad gone, the library closes its request socket"
kill -KILL "$HA"
if wait "$SRXLOSS"; then
	pass "$name" "$(cat "$T_TMP/srxloss.out")"
else
	failed "$name" "$(tr '\n' ' ' <"$T_TMP/srxloss.out")"
fi
stop_homads

# ---- limits.max_direct_sockets, and a group not listed --------------------
# (B's homad bound to its address: its receive sockets are too, and the
# library unparks them there.)
conf ip 0 'limits = {
	max_direct_sockets = 1;
};' "addresses = [\"$B4\"];"
cp "$T_TMP/homa.conf" "$T_TMP/b.conf"
conf ip 4242
start_homads_conf "$T_TMP/homa.conf" "$T_TMP/b.conf"
snap l0
start_server a srv -f 4 --echo 100
SRVS=$SRV
run_case "10 processes, one direct socket" b "$E2E" concurrent -f 4 \
	-d "$A4" -p 100 --procs 10 -n 20 --within 30000
snap l1
name="limits.max_direct_sockets 1"
gb=$(delta b chan_direct_granted l0 l1)
rf=$(delta b chan_direct_refused l0 l1)
if [ "$gb" -ge 1 ] && [ $((gb + rf)) -eq 10 ] && [ "$rf" -ge 1 ]; then
	pass "$name" "$gb granted, $rf refused (counted), RPCs complete"
else
	failed "$name" "granted $gb, refused $rf (10 in all expected)"
fi
run_case "direct receive: parked, unparked at homad's own address" b \
	"$E2E" hoard -f 4 -d "$A4" -p 100 -n 20 --sizes 1,100,1000 --parked \
	--home "$B4"
name="group not in direct_send_groups"
dn=$(delta a chan_direct_denied l0 l1)
rs=$(delta a direct_messages l0 l1)
if [ "$dn" -ge 1 ] && [ "$rs" -eq 0 ]; then
	pass "$name" "A's server denied ($dn), its responses via homad"
else
	failed "$name" "denied $dn, direct responses $rs"
fi
stop_homads

# ---- udp link --------------------------------------------------------------
conf udp 0
start_homads_conf "$T_TMP/homa.conf" "$T_TMP/homa.conf"
start_server a srv -f 4 --echo 100
SRVS=$SRV
start_server a srv6 -f 6 --echo 101
SRVS="$SRVS $SRV"
# 8 bytes fewer: the UDP header.
UMAX=$((MAX - 8))
direct_echo "udp IPv4" 4 "$A4" 100 \
	1,100,1000,$((UMAX - 1)),$UMAX,$((UMAX + 1)),1500,40000 10 $UMAX
UMAX6=$((MAX6 - 8))
direct_echo "udp IPv6" 6 "$A6" 101 \
	1,100,1000,$((UMAX6 - 1)),$UMAX6,$((UMAX6 + 1)),1500,40000 10 $UMAX6
loss_case udp $UMAX 100
probe_case "udp: the direct socket receives nothing" 4 "$A4" 100
probe_case "udp: the IPv6 direct socket receives nothing" 6 "$A6" 101
stop_homads

echo "# $CASES cases, $FAILS failed"
[ "$FAILS" -eq 0 ]
