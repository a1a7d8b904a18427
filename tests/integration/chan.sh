#!/bin/sh
# chan.sh - the client channel end to end: two namespaces joined by veth, a
# homad in each (control and client sockets in a temp dir), chan_test as
# the applications, speaking the client protocol itself.
#   1. echo RPCs of 1 .. 1,000,000 bytes, byte-exact, from a client in B to
#      servers in A, IPv4 and IPv6, on the ip and the udp link; a request
#      to an unbound port fails at once with ENOTCONN (ICMP port
#      unreachable); homad stopping closes the servers' sessions;
#   2. hostile clients (bad seals, sizes, extents, ids, bpages, datagrams)
#      are refused or disconnected and counted, while another client's
#      RPCs keep working; so are direct-send clients (root's group in
#      clients.direct_send_groups) forging ring records (another
#      connection's id, tx bytes outside their area, a torn record), and
#      one forging packets about another connection's ids through its
#      socket receives nothing on it and cannot write homad's peer table;
#   3. kill -9 of a client (and of a server) with RPCs in flight: homad's
#      RPC and client counts return to their baseline.
. "$(dirname "$0")/lib.sh"

CHAN_TEST="$top_builddir/tests/integration/chan_test"
# Its start_server (lib.sh) starts chan_test servers, not e2e_test.
SERVER_PROG=$CHAN_TEST
[ -x "$CHAN_TEST" ] || fail "$CHAN_TEST not built"

require_netns
setup_tmp
# The bind cases connect as other users.
chmod 755 "$T_TMP"
A=hd-$$-a
B=hd-$$-b
make_pair "$A" "$B"
for n in "$A" "$B"; do
	# The ENOTCONN cases must not depend on the ICMP rate limit.
	ip netns exec "$n" sysctl -q -w net.ipv4.icmp_ratelimit=0 \
		net.ipv6.icmp.ratelimit=0 >/dev/null || fail "sysctl in $n"
done

# Paths per namespace: control socket, client socket, log.
ctl() { echo "$T_TMP/$1.ctl"; }
sock() { echo "$T_TMP/$1.sock"; }

# Not for background jobs: $! must be the process itself.
inB() { ip netns exec "$B" "$@"; }

# start_homads LINK [CLIENTS [LIMITS]]: a homad in A and one in B on that
# link, with CLIENTS and LIMITS as the bodies of those groups.
start_homads() {
	printf 'network = {\n\tlink = "%s";\n};\nclients = {\n%s\n};\n' \
		"$1" "${2:-}" >"$T_TMP/homa.conf"
	printf 'limits = {\n%s\n};\n' "${3:-}" >>"$T_TMP/homa.conf"
	start_homads_conf "$T_TMP/homa.conf" "$T_TMP/homa.conf"
	[ -S "$(sock a)" ] || fail "no client socket $(sock a)"
	mode=$(stat -c %a "$(sock a)")
	[ "$mode" = 666 ] || fail "client socket mode $mode, expected 666"
}

# stop_homads: SIGTERM both; they must exit 0 and remove their sockets.
stop_homads() {
	kill -TERM "$HA" "$HB"
	wait "$HA"
	rc=$?
	[ $rc -eq 0 ] || { cat "$T_TMP/a.log"; fail "homad in A exited $rc"; }
	wait "$HB"
	rc=$?
	[ $rc -eq 0 ] || { cat "$T_TMP/b.log"; fail "homad in B exited $rc"; }
	for f in "$(sock a)" "$(sock b)" "$(ctl a)" "$(ctl b)"; do
		[ ! -e "$f" ] || fail "$f left behind"
	done
}


# status_field CTL KEY: the first number of "KEY:" in `homactl status`.
status_field() {
	"$HOMACTL" -s "$1" status | awk -v k="$2:" '$1 == k { print $2 }'
}

# field_is CTL KEY VALUE: for wait_for.
field_is() {
	[ "$(status_field "$1" "$2")" = "$3" ]
}

SIZES=1,1399,1400,1401,40000,40001,65535,65536,500000,1000000

# ---- 1. echo RPCs on both links, both families ---------------------------
for link in ip udp; do
	start_homads "$link"
	start_server a echo4 -s "$(sock a)" -f 4 -p 100
	S4=$SRV
	start_server a echo6 -s "$(sock a)" -f 6 -p 101
	S6=$SRV
	inB "$CHAN_TEST" client -s "$(sock b)" -f 4 -d "$A4" -p 100 \
		--sizes "$SIZES" -c 2 ||
		fail "$link IPv4: echo RPCs"
	note "$link IPv4: echo of $SIZES bytes, byte-exact"
	inB "$CHAN_TEST" client -s "$(sock b)" -f 6 -d "$A6" -p 101 \
		--sizes "$SIZES" -c 2 --private ||
		fail "$link IPv6: echo RPCs"
	note "$link IPv6: private echo of $SIZES bytes, byte-exact"
	inB "$CHAN_TEST" client -s "$(sock b)" -f 6 -d "$A4" -p 101 \
		--sizes 1,40001,1000000 ||
		fail "$link IPv6 socket to a v4-mapped peer: echo RPCs"
	note "$link: an AF_INET6 socket talks to a v4-mapped peer"
	inB "$CHAN_TEST" unbound -s "$(sock b)" -f 4 -d "$A4" -p 999 \
		--within 1000 || fail "$link IPv4: unbound port"
	inB "$CHAN_TEST" unbound -s "$(sock b)" -f 6 -d "$A6" -p 999 \
		--within 1000 || fail "$link IPv6: unbound port"
	note "$link: requests to an unbound port fail with ENOTCONN at once"
	stop_homads
	# The servers see homad go away (EOF) and exit 0.
	wait "$S4" || fail "$link: IPv4 server: $(cat "$T_TMP/echo4.log")"
	wait "$S6" || fail "$link: IPv6 server: $(cat "$T_TMP/echo6.log")"
	grep -q "homad closed the connection" "$T_TMP/echo4.log" ||
		fail "$link: the server did not see homad stop"
	note "$link: homad stopped, its sessions closed, sockets removed"
done

# ---- 2. hostile clients, bind permissions ----------------------------------
start_homads ip 'bind_users = [ "4321" ]; bind_groups = [ "4322" ];
	direct_send_groups = [ 0 ];' \
	'max_sockets_per_client = 3;'
"$HOMACTL" -s "$(ctl b)" metrics >"$T_TMP/m.before" || fail "metrics"
inB "$CHAN_TEST" limit -s "$(sock b)" -f 4 -n 4 >/dev/null ||
	fail "max_sockets_per_client"
note "limits.max_sockets_per_client = 3: the 4th socket refused (EMFILE)"
inB "$CHAN_TEST" bind -s "$(sock b)" -f 4 -p 0x1234 --uid 65534 \
	--gid 65534 --expect 13 >/dev/null || fail "bind by uid 65534"
inB "$CHAN_TEST" bind -s "$(sock b)" -f 4 -p 0x1234 --uid 4321 \
	--gid 65534 >/dev/null || fail "bind by bind_users"
inB "$CHAN_TEST" bind -s "$(sock b)" -f 6 -p 0x1234 --uid 65534 \
	--gid 4322 >/dev/null || fail "bind by bind_groups"
inB "$CHAN_TEST" bind -s "$(sock b)" -f 6 -p 0x1234 >/dev/null ||
	fail "bind by root"
inB "$CHAN_TEST" bind -s "$(sock b)" -f 4 -p 0x9000 --uid 65534 \
	--gid 65534 --expect 22 >/dev/null || fail "bind above 0x7fff"
"$HOMACTL" -s "$(ctl b)" metrics >"$T_TMP/m.after" || fail "metrics"
got=$(($(metric "$T_TMP/m.after" chan_bind_denied) -
	$(metric "$T_TMP/m.before" chan_bind_denied)))
[ "$got" -eq 1 ] || fail "chan_bind_denied: 1 expected, $got counted"
got=$(($(metric "$T_TMP/m.after" chan_refused) -
	$(metric "$T_TMP/m.before" chan_refused)))
[ "$got" -eq 1 ] || fail "chan_refused: 1 expected, $got counted"
note "ports below 0x8000: bind_users, bind_groups and root only (EACCES)"
start_server a echo4 -s "$(sock a)" -f 4 -p 100
"$HOMACTL" -s "$(ctl b)" metrics >"$T_TMP/m.before" || fail "metrics"
# A well-behaved client keeps sending meanwhile, on its own connection.
ip netns exec "$B" "$CHAN_TEST" client -s "$(sock b)" -f 4 -d "$A4" \
	-p 100 --sizes 1,1400,40001 -c 4 -r 400 >"$T_TMP/bystander.log" 2>&1 &
BYST=$!
T_PIDS="$T_PIDS $BYST"
OPEN_CASES="no-seals grow-seal-only wrong-size not-memfd no-fds rx-odd
	bad-version not-open open-recycle"
MSG_CASES="tx-range tx-overflow id-outside id-odd id-twice bad-recycle
	piggy-recycle recycle-twice resp-range recycle-beyond recycle-unaligned oversize
	garbage fds-after-open wrong-family inline-too-big no-seq second-open
	no-command"
n_open=0
n_msg=0
for c in $OPEN_CASES; do
	inB "$CHAN_TEST" hostile -s "$(sock b)" -f 4 --case "$c" \
		-d "$A4" -p 100 >/dev/null || fail "hostile $c"
	n_open=$((n_open + 1))
done
for c in $MSG_CASES; do
	inB "$CHAN_TEST" hostile -s "$(sock b)" -f 4 --case "$c" \
		-d "$A4" -p 100 >/dev/null || fail "hostile $c"
	n_msg=$((n_msg + 1))
done
inB "$CHAN_TEST" hostile -s "$(sock b)" -f 6 --case wrong-family \
	-d "$A6" -p 100 >/dev/null || fail "hostile wrong-family (IPv6)"
n_msg=$((n_msg + 1))
n_direct=0
for c in probe forge-id forge-extent torn; do
	inB "$CHAN_TEST" direct -s "$(sock b)" -f 4 --case "$c" \
		-d "$A4" -p 100 >"$T_TMP/direct.log" 2>&1 ||
		fail "direct $c: $(cat "$T_TMP/direct.log")"
	[ $c = probe ] || n_direct=$((n_direct + 1))
done
n_msg=$((n_msg + n_direct))
wait "$BYST" ||
	fail "the well-behaved client failed: $(cat "$T_TMP/bystander.log")"
note "a well-behaved client's 3 x 400 x 4 RPCs went on unharmed"
inB "$CHAN_TEST" info -s "$(sock b)" -f 6 >/dev/null ||
	fail "info/bind/shutdown after the hostile clients"
"$HOMACTL" -s "$(ctl b)" metrics >"$T_TMP/m.after" || fail "metrics"
for pair in "chan_bad_open $n_open" "chan_bad_messages $n_msg" \
	"chan_direct_bad $n_direct" "chan_direct_torn 1" \
	"chan_direct_granted 4"; do
	set -- $pair
	got=$(($(metric "$T_TMP/m.after" "$1") - $(metric "$T_TMP/m.before" "$1")))
	[ "$got" -eq "$2" ] || fail "$1: $2 hostile clients, counted $got"
	note "$1: $2 hostile clients, $got counted"
done
wait_for field_is "$(ctl b)" clients 0 || fail "clients left in B"
note "hostile clients: refused or disconnected, each counted"

# ---- 3. kill -9 with RPCs in flight --------------------------------------
start_server a sink -s "$(sock a)" -f 4 -p 102 --sink
SINK=$SRV
base_a=$(status_field "$(ctl a)" rpcs)
ip netns exec "$B" "$CHAN_TEST" hold -s "$(sock b)" -f 4 -d "$A4" \
	-p 102 -n 50 --size 300000 --ready "$T_TMP/hold.ready" \
	>"$T_TMP/hold.log" 2>&1 &
HOLD=$!
T_PIDS="$T_PIDS $HOLD"
wait_for test -f "$T_TMP/hold.ready" || fail "hold did not start"
wait_for field_is "$(ctl b)" rpcs 50 ||
	fail "B: $(status_field "$(ctl b)" rpcs) RPCs, expected 50"
wait_for field_is "$(ctl a)" rpcs $((base_a + 50)) ||
	fail "A: $(status_field "$(ctl a)" rpcs) RPCs, expected $((base_a + 50))"
kill -9 "$HOLD"
wait "$HOLD" 2>/dev/null
wait_for field_is "$(ctl b)" rpcs 0 ||
	fail "B: $(status_field "$(ctl b)" rpcs) RPCs after kill -9"
wait_for field_is "$(ctl b)" clients 0 || fail "B: client not reclaimed"
note "kill -9 of a client with 50 RPCs in flight: B back to 0 RPCs"
kill -9 "$SINK"
wait "$SINK" 2>/dev/null
wait_for field_is "$(ctl a)" rpcs "$base_a" ||
	fail "A: $(status_field "$(ctl a)" rpcs) RPCs after kill -9"
note "kill -9 of a server holding 50 requests: A back to $base_a RPCs"
stop_homads

# ---- 4. socket activation: both sockets passed, told apart by path -------
if command -v systemd-socket-activate >/dev/null 2>&1; then
	ip netns exec "$A" systemd-socket-activate --seqpacket \
		-l "$(ctl a)" -l "$(sock a)" \
		"$HOMAD" -C "$(sock a)" >"$T_TMP/act.log" 2>&1 &
	HA=$!
	T_PIDS="$T_PIDS $HA"
	wait_for test -S "$(sock a)" || fail "systemd-socket-activate"
	# The first client starts homad.
	ip netns exec "$A" "$CHAN_TEST" info -s "$(sock a)" -f 4 >/dev/null ||
		{ cat "$T_TMP/act.log"; fail "client through an activated socket"; }
	grep -q "client socket .* passed by systemd" "$T_TMP/act.log" ||
		fail "homad did not take the passed client socket"
	grep -q "control socket passed by systemd" "$T_TMP/act.log" ||
		fail "homad did not take the passed control socket"
	mode=$(stat -c %a "$(sock a)")
	[ "$mode" = 666 ] || fail "activated client socket mode $mode"
	"$HOMACTL" -s "$(ctl a)" status >/dev/null || fail "activated control"
	kill -TERM "$HA"
	wait "$HA" || fail "activated homad exited $?"
	note "socket activation: client and control sockets told apart by path"
else
	note "systemd-socket-activate absent: the activation case was not run"
fi
echo "chan.sh: all cases passed"
exit 0
