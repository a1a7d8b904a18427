#!/bin/sh
# homad as a process: start in a namespace with no config file, READY=1 on
# NOTIFY_SOCKET, every vector packet counted per type by `homactl metrics`,
# malformed and garbage packets counted as dropped, the udp link, SIGHUP with
# a broken and a good config, one homad per namespace, the privilege drop,
# SIGTERM exiting 0.
. "$(dirname "$0")/lib.sh"

require_netns
setup_tmp
A=hd-$$-a
B=hd-$$-b
make_pair "$A" "$B"
SOCK="$T_TMP/homad.sock"

# homactl_in NS ARGS...: homactl against this test's homad.
homactl_in() {
	ns=$1
	shift
	ip netns exec "$ns" "$HOMACTL" -s "$SOCK" "$@"
}

# start_homad_notify NS LOG ARGS...: start homad with NOTIFY_SOCKET, wait READY=1.
start_homad_notify() {
	ns=$1
	log=$2
	shift 2
	: >"$T_TMP/notify.out"
	"$NOTIFY_LISTEN" "$T_TMP/notify.sock" "$T_TMP/notify.out" &
	NPID=$!
	T_PIDS="$T_PIDS $NPID"
	wait_for test -S "$T_TMP/notify.sock" || fail "notify listener"
	NOTIFY_SOCKET="$T_TMP/notify.sock" ip netns exec "$ns" \
		"$HOMAD" -S "$SOCK" -C "${SOCK%.sock}-clients.sock" "$@" >"$log" 2>&1 &
	HPID=$!
	T_PIDS="$T_PIDS $HPID"
	wait_for grep -q '^READY=1' "$T_TMP/notify.out" ||
		{ cat "$log"; fail "no READY=1 from homad"; }
}

# stop_homad: SIGTERM, expect exit 0 and STOPPING=1.
stop_homad() {
	kill -TERM "$HPID"
	wait "$HPID"
	rc=$?
	[ $rc -eq 0 ] || { cat "$1"; fail "homad exited $rc on SIGTERM"; }
	grep -q '^STOPPING=1' "$T_TMP/notify.out" || fail "no STOPPING=1"
	kill "$NPID" 2>/dev/null
	wait "$NPID" 2>/dev/null
	[ ! -e "$SOCK" ] || fail "control socket left behind"
	[ ! -e "${SOCK%.sock}-clients.sock" ] || fail "client socket left behind"
}

# expect_counts SENDLOG: every "sent TYPE N" / "sent malformed R N" line of
# pktsend output must equal the increase of that counter.
expect_counts() {
	homactl_in "$A" metrics >"$T_TMP/m.after" || fail "homactl metrics"
	while read -r _ what a b; do
		if [ "$what" = malformed ]; then
			name=malformed_packets
			label=$a
			n=$b
		else
			name=packets_received
			label=$what
			n=$a
		fi
		before=$(metric "$T_TMP/m.before" $name "$label")
		after=$(metric "$T_TMP/m.after" $name "$label")
		got=$((after - before))
		[ "$got" -eq "$n" ] ||
			fail "$name{$label}: sent $n, homad counted $got"
		note "$name{$label}: $n sent, $got counted"
	done <"$1"
}

# send_and_check LABEL PKTSEND-ARGS...: snapshot, send, wait, compare.
send_and_check() {
	what_sent=$1
	shift
	homactl_in "$A" metrics >"$T_TMP/m.before" || fail "homactl metrics"
	ip netns exec "$B" "$PKTSEND" "$@" >"$T_TMP/sent" ||
		fail "pktsend $what_sent"
	grep -q '^sent ' "$T_TMP/sent" || fail "pktsend $what_sent sent nothing"
	total=$(awk '{s += $NF} END {print s}' "$T_TMP/sent")
	# wait until every packet has been counted (valid + malformed)
	i=0
	while :; do
		homactl_in "$A" metrics >"$T_TMP/m.now"
		seen=$(awk '/^homad_(packets_received|malformed_packets)_total/ {s += $2} END {print s}' "$T_TMP/m.now")
		was=$(awk '/^homad_(packets_received|malformed_packets)_total/ {s += $2} END {print s}' "$T_TMP/m.before")
		[ $((seen - was)) -ge "$total" ] && break
		i=$((i + 1))
		[ $i -gt 100 ] && break
		sleep 0.1
	done
	expect_counts "$T_TMP/sent"
	kill -0 "$HPID" 2>/dev/null || fail "homad died during $what_sent"
	note "$what_sent: $total packets accounted for"
}

# --- 1. ip link, no config file ------------------------------------------
start_homad_notify "$A" "$T_TMP/homad1.log"
note "homad started with no config file, READY=1 received"
homactl_in "$A" status >"$T_TMP/status" || fail "homactl status"
cat "$T_TMP/status"
grep -q 'link: *ip' "$T_TMP/status" || fail "status does not show link ip"
grep -q '^config: *defaults' "$T_TMP/status" ||
	note "a default config file exists on this machine; status shows it"

# one homad per namespace
if ip netns exec "$A" "$HOMAD" -S "$T_TMP/second.sock" -C "$T_TMP/second-clients.sock" >"$T_TMP/second.log" 2>&1; then
	fail "a second homad started in the same namespace"
fi
grep -q "already running in this network namespace" "$T_TMP/second.log" ||
	{ cat "$T_TMP/second.log"; fail "second homad: unclear message"; }
note "second homad refused: $(cat "$T_TMP/second.log")"

send_and_check "handmade IPv4" -d "$A4" \
	-p "$VECTORS/handmade/homa_sample.pcap" -p "$VECTORS/handmade/homa_edge.pcap"
send_and_check "handmade IPv6" -d "$A6" \
	-p "$VECTORS/handmade/homa_sample.pcap" -p "$VECTORS/handmade/homa_edge.pcap"
for p in "$VECTORS"/kernel/*.pcap; do
	case "$p" in
	*ipv6*) dst=$A6 ;;
	*) dst=$A4 ;;
	esac
	send_and_check "$(basename "$p")" -d "$dst" -p "$p"
done
send_and_check "truncated headers" -d "$A4" -g truncated:50
send_and_check "garbage" -d "$A6" -g garbage:500
homactl_in "$A" status >/dev/null || fail "homad stopped answering"
stop_homad "$T_TMP/homad1.log"
note "SIGTERM: exit 0, STOPPING=1"

# --- 2. udp link from a config file; reloads -----------------------------
CONF="$T_TMP/homa.conf"
cat >"$CONF" <<CONF
network = { link = "udp"; udp_port = 4999; };
daemon = { log_level = "info"; };
CONF
start_homad_notify "$A" "$T_TMP/homad2.log" -c "$CONF"
homactl_in "$A" status >"$T_TMP/status" || fail "homactl status"
grep -q 'link: *udp' "$T_TMP/status" || fail "status does not show link udp"
send_and_check "udp: handmade" -u 4999 -d "$A4" -p "$VECTORS/handmade/homa_sample.pcap"
send_and_check "udp: kernel IPv6" -u 4999 -d "$A6" -p "$VECTORS/kernel/ipv6_kernel_client.pcap"
send_and_check "udp: garbage" -u 4999 -d "$A4" -g garbage:200

# a broken config is rejected and the old one kept
printf 'protocol = { max_overcommit = 0; };\n' >"$CONF"
kill -HUP "$HPID"
wait_for grep -q "max_overcommit = 0 is out of range" "$T_TMP/homad2.log" ||
	{ cat "$T_TMP/homad2.log"; fail "no log line for the broken config"; }
homactl_in "$A" status >"$T_TMP/status" || fail "homad died on a bad reload"
grep -Eq 'reloads: *0 ok, 1 failed' "$T_TMP/status" ||
	{ cat "$T_TMP/status"; fail "status does not show the failed reload"; }
grep -q 'log level: *info' "$T_TMP/status" || fail "old config not kept"
send_and_check "udp after bad reload" -u 4999 -d "$A4" -p "$VECTORS/handmade/homa_sample.pcap"
note "SIGHUP with a broken config: rejected, old config kept"

# a good config is applied
cat >"$CONF" <<CONF
network = { link = "udp"; udp_port = 4999; };
daemon = { log_level = "debug"; };
CONF
kill -HUP "$HPID"
wait_for sh -c "ip netns exec $A $HOMACTL -s $SOCK status | grep -Eq 'reloads: *1 ok'" ||
	fail "good reload not applied"
homactl_in "$A" status | grep -q 'log level: *debug' || fail "new log level not in effect"
note "SIGHUP with a good config: applied"
stop_homad "$T_TMP/homad2.log"

# --- 3. privilege drop ----------------------------------------------------
if id nobody >/dev/null 2>&1; then
	# the socket's directory must let the unprivileged homad remove it
	mkdir "$T_TMP/run"
	chown nobody "$T_TMP/run"
	chmod 0755 "$T_TMP"
	SOCK="$T_TMP/run/homad.sock"
	start_homad_notify "$A" "$T_TMP/homad3.log" -u nobody
	uid=$(awk '/^Uid:/ {print $2}' /proc/$HPID/status)
	capeff=$(awk '/^CapEff:/ {print $2}' /proc/$HPID/status)
	[ "$uid" != 0 ] || fail "homad -u nobody still runs as root"
	[ "$capeff" = "0000000000002000" ] ||
		fail "homad -u nobody has capabilities $capeff, expected CAP_NET_RAW only"
	send_and_check "unprivileged" -d "$A4" -p "$VECTORS/handmade/homa_sample.pcap"
	note "dropped to uid $uid with CapEff $capeff; still receiving"
	stop_homad "$T_TMP/homad3.log"
else
	note "no user 'nobody' on this machine: privilege drop not exercised"
fi
echo "PASS"
