#!/bin/bash
# link.sh - the link layer and the data plane between two network namespaces.
#
# Two namespaces joined by a veth pair, IPv4 and IPv6 on it.  For {ip, udp}
# x {IPv4, IPv6}: link_test sends 64 DATA packets through daemon/link.c
# (all queued, one io_uring submit, priorities cycling 0..7) and a plain
# socket in the other namespace checks every packet and its priority.
# Then the data plane itself (dp_create/dp_start/SNAPSHOT/STOP) receives
# packets through engine_rx, a UDP GSO burst arrives as one GRO read and is
# split, interface binding and the MTU show in the snapshot, ICMP errors
# are read from the error queues, and without CAP_NET_RAW dp_create refuses
# with a clear message.  link_sendv merges a run of DATA packets of one
# message into UDP GSO sends (counted), each arriving whole; ICMP errors
# (the kernel's, and the link's own port unreachable answers) reach the
# link's ICMP callback, and a plain socket sees the link's answers as
# ECONNREFUSED quoting its packet; the answers are rate-limited.  The
# receive classes (link.h) split a mix of DATA and control packets exactly,
# and a backlog hands the control packets over first.  Probes (link_probe)
# of B's host come back through the link's echo callback, with their
# sequences; a host that ignores echo requests, or is absent, answers
# nothing.
#
# Needs root and `ip netns`; exits 77 (skip) only when those are absent.

set -u

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: link.sh needs root (network namespaces, raw sockets)"
	exit 77
fi
if ! command -v ip >/dev/null 2>&1; then
	echo "SKIP: link.sh needs the ip command (iproute2)"
	exit 77
fi

builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
LT=$builddir/tests/integration/link_test
[ -x "$LT" ] || fail "$LT not built"

NA=hd-$$-a
NB=hd-$$-b
VA=hdl$$a
VB=hdl$$b
TMP=$(mktemp -d /tmp/link.sh.XXXXXX) || fail "mktemp"
PIDS=

cleanup() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null
	done
	ip netns del "$NA" 2>/dev/null
	ip netns del "$NB" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

if ! ip netns add "$NA" 2>"$TMP/err"; then
	echo "SKIP: cannot create a network namespace: $(cat "$TMP/err")"
	exit 77
fi
ip netns add "$NB" || fail "ip netns add $NB"

NET=10.199.$(($$ % 200))
A4=$NET.1
B4=$NET.2
A6=fd99::1
B6=fd99::2

ip link add "$VA" netns "$NA" type veth peer name "$VB" netns "$NB" ||
	fail "cannot create a veth pair"
ip -n "$NA" addr add "$A4/24" dev "$VA" || fail "address $A4"
ip -n "$NB" addr add "$B4/24" dev "$VB" || fail "address $B4"
ip -n "$NA" addr add "$A6/64" dev "$VA" nodad || fail "address $A6"
ip -n "$NB" addr add "$B6/64" dev "$VB" nodad || fail "address $B6"
for ns in "$NA" "$NB"; do
	ip -n "$ns" link set lo up || fail "lo up in $ns"
	# ICMP tests must not depend on the per-peer ICMP rate limit.
	ip netns exec "$ns" sysctl -q -w net.ipv4.icmp_ratelimit=0 \
		net.ipv6.icmp.ratelimit=0 >/dev/null ||
		fail "sysctl in $ns"
done
ip -n "$NA" link set "$VA" up || fail "link up"
ip -n "$NB" link set "$VB" up || fail "link up"

inA() { ip netns exec "$NA" "$@"; }
inB() { ip netns exec "$NB" "$@"; }

# Start "$@" in namespace B in the background; wait until it wrote $READY.
READY=$TMP/ready
start_in_b() {
	rm -f "$READY"
	inB "$@" --ready "$READY" &
	BG=$!
	PIDS="$PIDS $BG"
	for _ in $(seq 100); do
		[ -f "$READY" ] && return 0
		kill -0 "$BG" 2>/dev/null || break
		sleep 0.05
	done
	wait "$BG"
	fail "$* did not get ready"
}

# A case failed before the background program finished: stop it.
abort_b() {
	kill "$BG" 2>/dev/null
	wait "$BG" 2>/dev/null
	return 1
}

fails=0
check() {
	local name=$1
	shift
	if "$@"; then
		echo "PASS: $name"
	else
		echo "FAIL: $name"
		fails=$((fails + 1))
	fi
}

# --- link_send batches with per-packet priority, checked by plain sockets --
link_case() { # link family dst
	start_in_b "$LT" recv --link "$1" --family "$2" --count 64 --timeout 10
	inA "$LT" send --link "$1" --dst "$3" --count 64 || { abort_b; return 1; }
	wait "$BG"
}
check "ip IPv4: 64 batched sends, priorities kept" link_case ip 4 "$B4"
check "ip IPv6: 64 batched sends, priorities kept" link_case ip 6 "$B6"
check "udp IPv4: 64 batched sends, priorities kept" link_case udp 4 "$B4"
check "udp IPv6: 64 batched sends, priorities kept" link_case udp 6 "$B6"

# --- the same, received through the link (multishot recvmsg) --------------
lrecv_case() { # link family dst
	start_in_b "$LT" lrecv --link "$1" --family "$2" --count 64 \
		--timeout 10
	inA "$LT" send --link "$1" --dst "$3" --count 64 ||
		{ abort_b; return 1; }
	wait "$BG"
}
check "ip IPv4: link receives 64, priorities from the IP header" \
	lrecv_case ip 4 "$B4"
check "ip IPv6: link receives 64, priorities from IPV6_TCLASS" \
	lrecv_case ip 6 "$B6"
check "udp IPv4: link receives 64, priorities from IP_TOS" \
	lrecv_case udp 4 "$B4"
check "udp IPv6: link receives 64, priorities from IPV6_TCLASS" \
	lrecv_case udp 6 "$B6"

# --- more sends than the SQ holds: one submit per full SQ, none lost -------
many_case() {
	start_in_b "$LT" recv --link ip --family 4 --count 600 --timeout 10
	inA "$LT" send --link ip --dst "$B4" --count 600 ||
		{ abort_b; return 1; }
	wait "$BG"
}
check "ip IPv4: 600 sends through a 256-entry SQ" many_case

# --- a full send queue refuses and counts ---------------------------------
full_case() {
	start_in_b "$LT" recv --link udp --family 6 --count 16 --timeout 10
	inA "$LT" send --link udp --dst "$B6" --count 64 --tx-queue 16 ||
		{ abort_b; return 1; }
	wait "$BG"
}
check "udp IPv6: 16 tx slots: 16 sent, 48 refused as queue drops" full_case

# --- link_sendv: a run of DATA packets of one message leaves by GSO --------
# MTU 1500: a Homa packet of 1,472 bytes (IPv4) or 1,452 (IPv6) is one
# segment; 44 (45) fit the 65,507 bytes of one UDP_SEGMENT call.  The
# receiver's plain UDP socket (no UDP_GRO) must get every packet whole.
gso_case() { # link family dst payload count last expect-sends [more]
	local link=$1 fam=$2 dst=$3 pl=$4 n=$5 last=$6 sends=$7
	shift 7
	start_in_b "$LT" recv --link "$link" --family "$fam" --count "$n" \
		--payload "$pl" --timeout 10
	inA "$LT" sendv --link "$link" --dst "$dst" --count "$n" \
		--payload "$pl" --last "$last" --prio 3 \
		--expect-sends "$sends" "$@" || { abort_b; return 1; }
	wait "$BG"
}
check "udp IPv4: 100 DATA of one message in 3 GSO sends (44 per call)" \
	gso_case udp 4 "$B4" 1416 100 700 3
check "udp IPv6: 100 DATA of one message in 3 GSO sends (45 per call)" \
	gso_case udp 6 "$B6" 1396 100 1396 3
check "udp IPv4: a submit ends the run: 100 DATA, submit every 10: 10 sends" \
	gso_case udp 4 "$B4" 1416 100 1416 10 --submit-every 10
check "udp IPv4: packets too big for one unfragmented segment: no GSO" \
	gso_case udp 4 "$B4" 1430 10 1430 10
check "ip IPv4: no GSO on raw IP: 50 DATA in 50 sends" \
	gso_case ip 4 "$B4" 1400 50 1400 50
check "ip IPv6: no GSO on raw IP: 50 DATA in 50 sends" \
	gso_case ip 6 "$B6" 1380 50 1380 50

# --- the data plane receives through engine_rx -----------------------------
dp_case() { # link
	start_in_b "$LT" dp --link "$1" --expect 64 --timeout 10 \
		--expect-sockets 2
	inA "$LT" send --link "$1" --dst "$B4" --count 32 || { abort_b; return 1; }
	inA "$LT" send --link "$1" --dst "$B6" --count 32 || { abort_b; return 1; }
	wait "$BG"
}
check "ip data plane: 32 IPv4 + 32 IPv6 DATA in its snapshot" dp_case ip
check "udp data plane: 32 IPv4 + 32 IPv6 DATA in its snapshot" dp_case udp

# --- the buffer ring runs dry: the receive is re-armed, nothing is lost ---
dry_case() {
	start_in_b "$LT" dp --link ip --expect 256 --timeout 10 \
		--rx-buffers 4 --expect-rearms
	inA "$LT" send --link ip --dst "$B4" --count 256 ||
		{ abort_b; return 1; }
	wait "$BG"
}
check "ip data plane with 4 rx buffers: 256 DATA, re-armed" dry_case

# --- one GSO send arrives as one GRO read and is split ----------------------
gro_case() {
	start_in_b "$LT" dp --link udp --expect 40 --timeout 10 --expect-gro
	inA "$LT" gso --dst "$B4" --count 40 || { abort_b; return 1; }
	wait "$BG"
}
check "udp data plane: 40 GSO segments split out of GRO reads" gro_case

# --- addresses x interfaces, MTU from the interface -------------------------
bind_case() {
	ip -n "$NA" link set "$VA" mtu 9000 || return 1
	ip -n "$NB" link set "$VB" mtu 9000 || return 1
	start_in_b "$LT" dp --link ip --expect 16 --timeout 10 \
		--address "$B4" --address "$B6" --interface "$VB" \
		--expect-mtu 9000 --expect-sockets 2
	inA "$LT" send --link ip --dst "$B4" --count 8 || { abort_b; return 1; }
	inA "$LT" send --link ip --dst "$B6" --count 8 || { abort_b; return 1; }
	wait "$BG"
}
check "ip data plane bound to addresses and $VB: MTU 9000 seen" bind_case

# --- GSO at MTU 9000: 7 segments of 8,972 bytes per call (64 KiB cap) -----
gso9000_case() { # family dst payload
	start_in_b "$LT" recv --link udp --family "$1" --count 20 \
		--payload "$3" --timeout 10
	inA "$LT" sendv --link udp --dst "$2" --count 20 --payload "$3" \
		--mtu 9000 --expect-sends 3 || { abort_b; return 1; }
	wait "$BG"
}
check "udp IPv4 MTU 9000: 20 DATA in 3 GSO sends (7 per call)" \
	gso9000_case 4 "$B4" 8916
check "udp IPv6 MTU 9000: 20 DATA in 3 GSO sends (7 per call)" \
	gso9000_case 6 "$B6" 8896

# --- receive classes: each packet read once, by its class's socket, and ---
# control packets handed over first although they arrived behind the DATA.
classes_case() { # link family dst
	start_in_b "$LT" classes --link "$1" --family "$2" --count 200 \
		--timeout 10
	inA "$LT" mix --link "$1" --dst "$3" --count 200 || { abort_b; return 1; }
	wait "$BG"
}
check "ip IPv4: receive classes partition the packets, control first" \
	classes_case ip 4 "$B4"
check "ip IPv6: receive classes partition the packets, control first" \
	classes_case ip 6 "$B6"
check "udp IPv4: receive classes partition the packets, control first" \
	classes_case udp 4 "$B4"
check "udp IPv6: receive classes partition the packets, control first" \
	classes_case udp 6 "$B6"

# --- ICMP errors about our packets reach the link's ICMP callback ---------
# No raw 146 socket (or UDP socket) in B: the kernel answers.  Every
# packet's error must reach the callback with its type, code, the
# destination as peer and the quoted dport and sender_id.
check "ip IPv4: protocol unreachable (3/2) to the ICMP callback" \
	inA "$LT" send --link ip --dst "$B4" --count 8 --icmp-type 3 \
	--icmp-code 2
check "ip IPv6: parameter problem (4/1) to the ICMP callback" \
	inA "$LT" send --link ip --dst "$B6" --count 8 --icmp-type 4 \
	--icmp-code 1
check "udp IPv4: kernel port unreachable (3/3) to the ICMP callback" \
	inA "$LT" send --link udp --dst "$B4" --count 8 --icmp-type 3 \
	--icmp-code 3
check "udp IPv6: kernel port unreachable (1/4) to the ICMP callback" \
	inA "$LT" send --link udp --dst "$B6" --count 8 --icmp-type 1 \
	--icmp-code 4

# --- link_port_unreachable: B's link answers every packet with ICMP --------
# A plain socket with IP_RECVERR sees ECONNREFUSED quoting its packet ...
probe_case() { # link family dst
	start_in_b "$LT" responder --link "$1" --family "$2" --count 8 \
		--timeout 10
	inA "$LT" probe --link "$1" --dst "$3" --count 8 --timeout 5 ||
		{ abort_b; return 1; }
	wait "$BG"
}
check "ip IPv4: port unreachable from the link: ECONNREFUSED, quoted" \
	probe_case ip 4 "$B4"
check "ip IPv6: port unreachable from the link: ECONNREFUSED, quoted" \
	probe_case ip 6 "$B6"
check "udp IPv4: port unreachable from the link: ECONNREFUSED, quoted" \
	probe_case udp 4 "$B4"
check "udp IPv6: port unreachable from the link: ECONNREFUSED, quoted" \
	probe_case udp 6 "$B6"

# ... and A's link hands it to its ICMP callback.
icmp_resp_case() { # link family dst type code
	start_in_b "$LT" responder --link "$1" --family "$2" --count 8 \
		--timeout 10
	inA "$LT" send --link "$1" --dst "$3" --count 8 --icmp-type "$4" \
		--icmp-code "$5" || { abort_b; return 1; }
	wait "$BG"
}
check "ip IPv4: link's port unreachable (3/3) to the ICMP callback" \
	icmp_resp_case ip 4 "$B4" 3 3
check "ip IPv6: link's port unreachable (1/4) to the ICMP callback" \
	icmp_resp_case ip 6 "$B6" 1 4
check "udp IPv4: link's port unreachable (3/3) to the ICMP callback" \
	icmp_resp_case udp 4 "$B4" 3 3
check "udp IPv6: link's port unreachable (1/4) to the ICMP callback" \
	icmp_resp_case udp 6 "$B6" 1 4

check "ip IPv4: port unreachable answers rate-limited (bursts of 100)" \
	inA "$LT" ratelimit --link ip --dst "$B4" --count 300
check "udp IPv6: port unreachable answers rate-limited (bursts of 100)" \
	inA "$LT" ratelimit --link udp --dst "$B6" --count 300

# --- probes: echo requests to a peer host, replies through the echo fn -----
# B runs no homad: its kernel answers.  Every probe's reply must reach the
# link's echo callback with its sequence and B's address; a reply with
# another identifier (a plain raw socket's ping) is counted as foreign.
for link in ip udp; do
	check "$link IPv4: 64 probes of $B4 answered, sequences kept" \
		inA "$LT" echo --link "$link" --dst "$B4" --count 64
	check "$link IPv6: 64 probes of $B6 answered, sequences kept" \
		inA "$LT" echo --link "$link" --dst "$B6" --count 64
done
check "ip IPv4: probes leave 1/8 of 16 tx slots to Homa packets" \
	inA "$LT" echo --link ip --dst "$B4" --count 20 --tx-queue 16
check "udp IPv6: probes leave 1/8 of 16 tx slots to Homa packets" \
	inA "$LT" echo --link udp --dst "$B6" --count 20 --tx-queue 16

# A host that is there but answers no echo request, and an address no
# host has (no ARP / neighbour answer): no reply within 500 ms.
silent_case() { # link dst
	inA "$LT" echo --link "$1" --dst "$2" --count 8 --silent
}
inB sysctl -q -w net.ipv4.icmp_echo_ignore_all=1 \
	net.ipv6.icmp.echo_ignore_all=1 >/dev/null ||
	fail "sysctl echo_ignore_all in $NB"
for link in ip udp; do
	check "$link IPv4: probes of $B4 ignoring echo: no reply" \
		silent_case "$link" "$B4"
	check "$link IPv6: probes of $B6 ignoring echo: no reply" \
		silent_case "$link" "$B6"
done
inB sysctl -q -w net.ipv4.icmp_echo_ignore_all=0 \
	net.ipv6.icmp.echo_ignore_all=0 >/dev/null ||
	fail "sysctl echo_ignore_all in $NB"
check "ip IPv4: probes of $NET.3 (no host): no reply" silent_case ip "$NET.3"
check "udp IPv6: probes of fd99::3 (no host): no reply" \
	silent_case udp fd99::3

# --- without CAP_NET_RAW the ip link refuses, saying why -------------------
noraw_case() {
	local out
	if ! command -v setpriv >/dev/null 2>&1; then
		echo "(setpriv absent: case not run)"
		return 1
	fi
	# Still root, but CAP_NET_RAW is out of the bounding set.
	out=$(setpriv --inh-caps=-net_raw --bounding-set=-net_raw \
		"$LT" dp --link ip --expect 1 --timeout 1 2>&1)
	[ $? -ne 0 ] && echo "$out" | grep -q "needs CAP_NET_RAW"
}
check "dp_create without CAP_NET_RAW: clear refusal" noraw_case

[ "$fails" -eq 0 ] || fail "$fails case(s) failed"
echo "link.sh: all cases passed"
exit 0
