#!/bin/sh
# homactl.sh - every homactl command against live homads with traffic: two
# hosts (namespaces A and B joined by veth, a homad in each).  In A an
# e2e_test server (a sink on port 4000 that never answers, an echo on
# 4001); in B a client holding 20 requests to the sink, and echo traffic.
# One line per case ("# case: result, numbers"):
#   - status, sockets, rpcs (and --port, --peer), peers, config, metrics
#     (text, -j, -i like nstat), set, reload: text and JSON, the JSON
#     parsed and its documented keys checked; the held RPCs visible in
#     `rpcs` (both sides) while they last and gone after;
#   - set: a run-time key applied, a bad value and a restart-only key
#     refused with the reason and nothing changed;
#   - reload: applied, a restart-only key kept (and named), a lowered
#     clients.max_inline refused while clients are connected (with the
#     reason, nothing changed), a broken file refused;
#   - the metrics pass `promtool check metrics`; `homactl metrics --http`
#     (under systemd-socket-activate, as homad-metrics.socket runs it)
#     answers curl: 200 with metrics that pass promtool, HEAD, 404, 405;
#   - options before and after the command, prefixes, exit 2 for usage;
#     errors that say what is wrong: the client socket, no socket, a stale
#     socket (homad not running), permission denied;
#   - homad -n refuses what start-up refuses (an unknown interface, an
#     address not on the host, daemon.user root).
# Exit 0 only if every case passed; 77 when root/netns are absent, or when
# every case passed but promtool, curl or systemd-socket-activate are not
# installed (the cases that need them say so).
. "$(dirname "$0")/lib.sh"

E2E="$top_builddir/tests/integration/e2e_test"
[ -x "$E2E" ] || fail "$E2E not built"

require_netns
require_cmd python3 "python3 (JSON checks)"
setup_tmp
A=hd-$$-a
B=hd-$$-b
make_pair "$A" "$B"
MISSING=""

printf 'network = {\n\tlink = "ip";\n};\n' >"$T_TMP/a.conf"
cp "$T_TMP/a.conf" "$T_TMP/b.conf"
start_homads_conf "$T_TMP/a.conf" "$T_TMP/b.conf"

# hctl HOST ARGS...: homactl against HOST's homad.
hctl() {
	h=$1
	shift
	"$HOMACTL" -s "$(ctl "$h")" "$@"
}

# json_check FILE PYTHON: run PYTHON with d = FILE's JSON; it prints what
# is wrong (nothing when all is well).
json_check() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print("not JSON: %s" % e)
    sys.exit(0)
def keys(o, want, what):
    miss = [k for k in want.split() if k not in o]
    if miss:
        print("%s lacks %s" % (what, ",".join(miss)))
exec(sys.argv[2])
EOF
}

# check NAME FILE PYTHON: a case passing when json_check finds nothing.
check() {
	why=$(json_check "$2" "$3")
	if [ -z "$why" ]; then
		pass "$1" "$(head -c 200 "$2" | tr '\n' ' ')"
	else
		failed "$1" "$why"
	fi
}

# ---- traffic ---------------------------------------------------------
HOMA_SOCKET=$(sock a) ip netns exec "$A" "$E2E" server -f 4 --sink 4000 \
	--echo 4001 --ready "$T_TMP/srv.ready" >"$T_TMP/srv.log" 2>&1 &
SRV=$!
T_PIDS="$T_PIDS $SRV"
wait_for test -f "$T_TMP/srv.ready" || fail "server: $(cat "$T_TMP/srv.log")"
HOMA_SOCKET=$(sock b) ip netns exec "$B" "$E2E" hold -f 4 -d "$A4" \
	--sink 4000 -n 20 --size 5000 --ready "$T_TMP/hold.ready" \
	>"$T_TMP/hold.log" 2>&1 &
HOLD=$!
T_PIDS="$T_PIDS $HOLD"
wait_for test -f "$T_TMP/hold.ready" || fail "hold: $(cat "$T_TMP/hold.log")"

# ---- status, sockets ---------------------------------------------------
name="status, text and JSON"
if hctl a status >"$T_TMP/st.txt" 2>&1 && grep -q '^rpcs: ' "$T_TMP/st.txt" &&
	hctl a status -j >"$T_TMP/st.json" 2>&1; then
	check "$name" "$T_TMP/st.json" 'keys(d, "version pid uptime_ms link udp_port mtu sockets config_path log_level reloads_ok reloads_failed last_reload_error packets_received malformed_packets client_socket clients rpcs dead_rpcs homa_sockets client_memory buffer_waits rx_backlog_bytes rx_ctl_backlog_bytes rx_backlog_peak_bytes rx_kernel_drops ctl_connections_refused ctl_requests_bad ctl_requests_timed_out", "status")'
else
	failed "$name" "$(cat "$T_TMP/st.txt")"
fi

name="sockets: the sink's socket with its 20 requests"
if hctl a -j sockets >"$T_TMP/so.json" 2>&1 && hctl a so >"$T_TMP/so.txt"; then
	check "$name" "$T_TMP/so.json" '
keys(d, "sockets total", "sockets")
s = [x for x in d["sockets"] if x.get("port") == 4000]
if not s:
    print("no socket on port 4000: %s" % d)
else:
    keys(s[0], "pid uid port server rpcs pool_bytes pool_free_bytes tx_bytes shutdown direct_send direct_messages direct_receive direct_received", "a socket")
    if not s[0]["server"] or s[0]["direct_send"] or s[0]["rpcs"] < 20 or s[0]["pool_bytes"] == 0 or s[0]["pid"] != '"$SRV"':
        print("port 4000: %s (server pid '"$SRV"')" % s[0])'
else
	failed "$name" "$(cat "$T_TMP/so.json")"
fi

# ---- rpcs ----------------------------------------------------------------
RPCKEYS="id client peer peer_port port state tx_length tx_sent tx_granted tx_prio rx_length rx_remaining rx_gaps rx_gap_bytes rx_granted flags"
name="rpcs in B: the 20 held client RPCs, to the sink"
if hctl b rpcs -j >"$T_TMP/rb.json" 2>&1 && hctl b rpcs >"$T_TMP/rb.txt"; then
	check "$name" "$T_TMP/rb.json" '
keys(d, "rpcs total", "rpcs")
r = [x for x in d["rpcs"] if x["peer"] == "'"$A4"'" and x["peer_port"] == 4000]
for x in r:
    keys(x, "'"$RPCKEYS"'", "an rpc")
if len(r) != 20 or any(not x["client"] or x["tx_length"] != 5000 for x in r):
    print("%d RPCs to the sink: %s" % (len(r), r[:2]))'
else
	failed "$name" "$(cat "$T_TMP/rb.json")"
fi
name="rpcs in A: 20 server RPCs in service on port 4000 (--port, --peer)"
if hctl a rpcs --port 4000 -j >"$T_TMP/ra.json" 2>&1 &&
	hctl a -j rpcs --peer "$B4" >"$T_TMP/rp.json" 2>&1 &&
	hctl a -j rpcs --peer 10.9.9.9 >"$T_TMP/rn.json" 2>&1 &&
	hctl a -j rpcs --port 4001 >"$T_TMP/r1.json" 2>&1; then
	check "$name" "$T_TMP/ra.json" '
r = d["rpcs"]
p = json.load(open("'"$T_TMP/rp.json"'"))["rpcs"]
n = json.load(open("'"$T_TMP/rn.json"'"))["rpcs"]
o = json.load(open("'"$T_TMP/r1.json"'"))["rpcs"]
if len(r) != 20 or any(x["client"] or x["state"] != "in_service" or x["port"] != 4000 or x["rx_length"] != 5000 for x in r):
    print("port 4000: %d RPCs %s" % (len(r), r[:2]))
if len(p) < 20 or any(x["peer"] != "'"$B4"'" for x in p):
    print("--peer B: %d" % len(p))
if n or o:
    print("--peer 10.9.9.9: %d, --port 4001: %d" % (len(n), len(o)))'
else
	failed "$name" "$(cat "$T_TMP/ra.json" "$T_TMP/rp.json")"
fi

# ---- peers -----------------------------------------------------------------
name="peers in B: A with its RPCs, cutoffs and RTT"
if hctl b peers -j >"$T_TMP/pe.json" 2>&1 && hctl b pe >"$T_TMP/pe.txt"; then
	check "$name" "$T_TMP/pe.json" '
keys(d, "peers total", "peers")
p = [x for x in d["peers"] if x["addr"] == "'"$A4"'"]
if not p:
    print("no peer %s: %s" % ("'"$A4"'", d))
else:
    keys(p[0], "addr rpcs cutoffs_in cutoff_version_in cutoffs_out cutoff_version_out rtt_ns resends acks_pending last_heard_ms rate_mbps homad incoming", "a peer")
    if p[0]["rpcs"] < 20 or len(p[0]["cutoffs_out"]) != 8:
        print("peer A: %s" % p[0])'
else
	failed "$name" "$(cat "$T_TMP/pe.json")"
fi

# ---- config, set -------------------------------------------------------------
name="config: every key, restart-only ones marked"
if hctl a config -j >"$T_TMP/c0.json" 2>&1 && hctl a conf >"$T_TMP/c0.txt" &&
	grep -q '^protocol.max_overcommit = 8$' "$T_TMP/c0.txt" &&
	grep -q '^network.mtu = 0  (restart)$' "$T_TMP/c0.txt"; then
	check "$name" "$T_TMP/c0.json" '
keys(d, "path keys restart_keys", "config")
keys(d["keys"], "protocol.max_overcommit network.link peers limits.max_rpcs test.rx_drop clients.max_inline", "config keys")
if "network.mtu" not in d["restart_keys"] or "protocol.max_overcommit" in d["restart_keys"]:
    print("restart_keys: %s" % d["restart_keys"])'
else
	failed "$name" "$(cat "$T_TMP/c0.json" "$T_TMP/c0.txt" | head -5)"
fi

# refused CASE WANT HOST ARGS...: homactl exits 1 saying WANT, and the
# running configuration is what it was.
refused() {
	n=$1
	want=$2
	h=$3
	shift 3
	hctl "$h" config -j >"$T_TMP/before.json"
	hctl "$h" "$@" >"$T_TMP/ref.out" 2>&1
	rc=$?
	hctl "$h" config -j >"$T_TMP/after.json"
	if [ $rc -ne 1 ]; then
		failed "$n" "exit $rc: $(cat "$T_TMP/ref.out")"
	elif ! grep -qF -- "$want" "$T_TMP/ref.out"; then
		failed "$n" "no \"$want\" in: $(cat "$T_TMP/ref.out")"
	elif ! cmp -s "$T_TMP/before.json" "$T_TMP/after.json"; then
		failed "$n" "the configuration changed"
	else
		pass "$n" "$(cat "$T_TMP/ref.out")"
	fi
}

name="set protocol.max_overcommit 4 (run-time key)"
if hctl a set protocol.max_overcommit 4 -j >"$T_TMP/set.json" 2>&1 &&
	hctl a config | grep -q '^protocol.max_overcommit = 4$'; then
	check "$name" "$T_TMP/set.json" 'keys(d, "key value", "set")'
else
	failed "$name" "$(cat "$T_TMP/set.json")"
fi
refused "set of an out-of-range value" \
	"protocol.max_overcommit = 0 is out of range (1..128)" a \
	set protocol.max_overcommit 0
refused "set of a restart-only key" "network.mtu needs a restart" a \
	set network.mtu 1400
refused "set of an unknown key" "unknown key 'protocol.nope'" a \
	set protocol.nope 1
refused "set of two settings in one" "is not a single value" a \
	set test.rx_drop "0.1; tx_drop = 1"

# ---- reload ------------------------------------------------------------------
name="reload: applied, a restart-only key kept and named"
printf 'network = {\n\tlink = "ip";\n\trx_buffers = 1024;\n};\n' \
	>"$T_TMP/a.conf"
if hctl a reload >"$T_TMP/rl.txt" 2>&1 &&
	grep -q 'kept until a restart: network.rx_buffers' "$T_TMP/rl.txt" &&
	hctl a config | grep -q '^network.rx_buffers = 512  (restart)$' &&
	hctl a config | grep -q '^protocol.max_overcommit = 8$' &&
	hctl a -j reload >"$T_TMP/rl.json" 2>&1; then
	check "$name" "$T_TMP/rl.json" 'keys(d, "config_path reloads_ok restart_needed", "reload")'
else
	failed "$name" "$(cat "$T_TMP/rl.txt" "$T_TMP/rl.json")"
fi
printf 'network = {\n\tlink = "ip";\n};\nclients = {\n\tmax_inline = 100;\n};\n' \
	>"$T_TMP/a.conf"
refused "reload lowering clients.max_inline under clients" \
	"clients.max_inline 100 is lower than the running 1024" a reload
hctl a -j status >"$T_TMP/st2.json"
check "... the refusal in status" "$T_TMP/st2.json" '
if d["reloads_failed"] < 1 or "max_inline" not in d["last_reload_error"]:
    print("status: %s / %s" % (d["reloads_failed"], d["last_reload_error"]))'
printf 'protocol = {\n\tmax_overcommit = 0;\n};\n' >"$T_TMP/a.conf"
refused "reload of a broken file" "max_overcommit = 0 is out of range" a reload
cp "$T_TMP/b.conf" "$T_TMP/a.conf"

# ---- metrics -----------------------------------------------------------------
# Echo traffic from B until $T_TMP/stop exists.
(
	while [ ! -f "$T_TMP/stop" ]; do
		HOMA_SOCKET=$(sock b) ip netns exec "$B" "$E2E" concurrent \
			-f 4 -d "$A4" -p 4001 --procs 2 -n 50 || exit 1
	done
) >"$T_TMP/conc.log" 2>&1 &
CONC=$!
T_PIDS="$T_PIDS $CONC"
name="metrics -j (options after the command)"
if hctl b metrics -j >"$T_TMP/m.json" 2>&1; then
	check "$name" "$T_TMP/m.json" '
keys(d, "packets_sent packets_received resent_packets server_cant_create_rpcs dropped_data_no_bufs", "metrics")
if d["packets_sent"]["DATA"] == 0:
    print("no DATA sent: %s" % d["packets_sent"])'
else
	failed "$name" "$(cat "$T_TMP/m.json")"
fi
name="metrics -i 1 -c 2 (changes, the module's names)"
if hctl b metrics -i 1 -c 2 >"$T_TMP/mi.txt" 2>&1 &&
	[ "$(grep -c '^#counter' "$T_TMP/mi.txt")" -eq 2 ] &&
	grep -Eq '^packets_sent_DATA +[1-9][0-9]* +[0-9.]+$' "$T_TMP/mi.txt" &&
	hctl b -j -i 1 -c 1 metrics >"$T_TMP/mi.json" 2>&1; then
	check "$name" "$T_TMP/mi.json" '
keys(d, "interval_s counters gauges", "metrics -i -j")
c = d["counters"].get("packets_rcvd_DATA") or d["counters"].get("packets_sent_DATA")
if not c or c["delta"] <= 0 or c["rate"] <= 0:
    print("no DATA counted: %s" % d["counters"])'
else
	failed "$name" "$(head -20 "$T_TMP/mi.txt")"
fi
touch "$T_TMP/stop"
bounded_wait "$CONC" 60 || true
[ "$WAIT_RC" -eq 0 ] || failed "echo traffic" "$(tail -3 "$T_TMP/conc.log")
a: $(grep -v ' info: ' "$T_TMP/a.log" | tail -5)
b: $(grep -v ' info: ' "$T_TMP/b.log" | tail -5)
a: $(hctl a metrics | grep -E '^homad_(client|server)_timeouts|tick_seconds_max|kernel_drops' | tr '\n' ' ')
b: $(hctl b metrics | grep -E '^homad_(client|server)_timeouts|tick_seconds_max|kernel_drops' | tr '\n' ' ')"
name="peers in B after the echoes: A is a homad"
hctl b -j peers >"$T_TMP/pe2.json" 2>&1
check "$name" "$T_TMP/pe2.json" '
p = [x for x in d["peers"] if x["addr"] == "'"$A4"'"]
if not p or not p[0]["homad"]:
    print("peer A: %s" % p)'

hctl b metrics >"$T_TMP/m.txt" 2>&1 || failed "metrics" "$(cat "$T_TMP/m.txt")"
if command -v promtool >/dev/null 2>&1; then
	if promtool check metrics <"$T_TMP/m.txt" >"$T_TMP/prom.out" 2>&1; then
		pass "promtool check metrics" "$(wc -l <"$T_TMP/m.txt") lines"
	else
		failed "promtool check metrics" "$(head -5 "$T_TMP/prom.out")"
	fi
else
	MISSING="$MISSING promtool"
	note "promtool check metrics: not run (promtool not installed:" \
		"Debian package prometheus)"
fi

# ---- metrics --http ------------------------------------------------------------
if command -v curl >/dev/null 2>&1 &&
	command -v systemd-socket-activate >/dev/null 2>&1; then
	port=$((20000 + $$ % 20000))
	ip netns exec "$B" systemd-socket-activate -l "127.0.0.1:$port" \
		--accept --inetd -E "HOMAD_SOCKET=$(ctl b)" \
		"$HOMACTL" metrics --http >"$T_TMP/ssa.log" 2>&1 &
	T_PIDS="$T_PIDS $!"
	url="http://127.0.0.1:$port"
	wait_for ip netns exec "$B" curl -s -o /dev/null "$url/metrics"
	code=$(ip netns exec "$B" curl -s -D "$T_TMP/h.hdr" -o "$T_TMP/h.body" \
		-w '%{http_code}' "$url/metrics")
	n404=$(ip netns exec "$B" curl -s -o /dev/null -w '%{http_code}' "$url/x")
	n405=$(ip netns exec "$B" curl -s -o /dev/null -w '%{http_code}' \
		-X POST "$url/metrics")
	head=$(ip netns exec "$B" curl -s -I -o /dev/null -w '%{http_code}' \
		"$url/metrics")
	name="metrics --http: curl GET, HEAD, 404, 405"
	if [ "$code" = 200 ] && [ "$n404" = 404 ] && [ "$n405" = 405 ] &&
		[ "$head" = 200 ] &&
		grep -qi '^content-type: text/plain; version=0.0.4' "$T_TMP/h.hdr" &&
		grep -q '^homad_packets_sent_total{type="DATA"} [1-9]' "$T_TMP/h.body"; then
		pass "$name" "$(wc -c <"$T_TMP/h.body") bytes"
	else
		failed "$name" "GET $code HEAD $head /x $n404 POST $n405: $(head -3 "$T_TMP/h.body")"
	fi
	if command -v promtool >/dev/null 2>&1; then
		if promtool check metrics <"$T_TMP/h.body" >"$T_TMP/prom.out" 2>&1; then
			pass "promtool check metrics on the scrape" "ok"
		else
			failed "promtool check metrics on the scrape" \
				"$(head -5 "$T_TMP/prom.out")"
		fi
	fi
else
	MISSING="$MISSING curl/systemd-socket-activate"
	note "metrics --http: not run (needs curl and systemd-socket-activate)"
fi

# ---- the held RPCs end ------------------------------------------------------
kill -9 "$HOLD" 2>/dev/null
kill -9 "$SRV" 2>/dev/null
wait "$HOLD" "$SRV" 2>/dev/null
rpcs_gone() {
	[ "$(hctl "$1" -j rpcs | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["rpcs"]) + d["total"])')" = 0 ]
}
name="rpcs gone once the applications are"
if wait_for rpcs_gone a && wait_for rpcs_gone b; then
	pass "$name" "A and B list none"
else
	failed "$name" "A: $(hctl a rpcs | tail -1), B: $(hctl b rpcs | tail -1)"
fi

# ---- the command line -------------------------------------------------------
# usage CASE RC WANT ARGS...: homactl ARGS exits RC saying WANT.
usage() {
	n=$1
	want_rc=$2
	want=$3
	shift 3
	"$HOMACTL" "$@" >"$T_TMP/u.out" 2>&1
	rc=$?
	if [ $rc -eq "$want_rc" ] && grep -qF -- "$want" "$T_TMP/u.out"; then
		pass "$n" "exit $rc: $(head -1 "$T_TMP/u.out")"
	else
		failed "$n" "exit $rc: $(cat "$T_TMP/u.out")"
	fi
}
usage "options after the command" 0 '"pid"' status -s "$(ctl a)" -j
usage "a prefix" 0 "version:" -s "$(ctl a)" stat
usage "an ambiguous prefix" 2 '"s" is ambiguous' -s "$(ctl a)" s
usage "an unknown command" 2 'unknown command "frob"' frob
usage "two commands" 2 "one command at a time" -s "$(ctl a)" status metrics
usage "an option of another command" 2 "status takes no --port" status \
	--port 5
usage "set without a value" 2 "usage: homactl set KEY VALUE" set test.rx_drop
usage "the client socket" 1 "not homad's control socket" -s "$(sock a)" status
usage "no socket" 1 "no such socket: homad is not running" \
	-s "$T_TMP/none.sock" status
python3 -c "import socket; s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind('$T_TMP/stale.sock'); s.close()"
usage "a stale socket" 1 "connection refused: homad is not running" \
	-s "$T_TMP/stale.sock" status
if command -v setpriv >/dev/null 2>&1; then
	chmod 0700 "$T_TMP"
	chmod 0711 "$T_TMP"
	chmod 0600 "$(ctl a)"
	name="permission denied"
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$HOMACTL" -s "$(ctl a)" status 2>&1)
	rc=$?
	chmod 0660 "$(ctl a)"
	chmod 0700 "$T_TMP"
	if [ $rc -eq 1 ] && echo "$out" | grep -q "permission denied"; then
		pass "$name" "$out"
	else
		failed "$name" "exit $rc: $out"
	fi
fi
kill -TERM "$HA"
bounded_wait "$HA" 10 || true
usage "a stopped homad" 1 "homad is not running" -s "$(ctl a)" status

# ---- homad -n ----------------------------------------------------------------
printf 'network = {\n\tinterfaces = ["nosuchif0"];\n};\n' >"$T_TMP/n1.conf"
printf 'network = {\n\taddresses = ["10.99.99.99"];\n};\n' >"$T_TMP/n2.conf"
for c in "no interface \"nosuchif0\"|-c|$T_TMP/n1.conf" \
	"10.99.99.99 is not an address of this host|-c|$T_TMP/n2.conf" \
	"has uid 0: refusing to run as root|-u|root"; do
	want=${c%%|*}
	rest=${c#*|}
	opt=${rest%%|*}
	val=${rest#*|}
	out=$(ip netns exec "$A" "$HOMAD" -n "$opt" "$val" 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && echo "$out" | grep -qF "$want"; then
		pass "homad -n $opt $(basename "$val")" "$out"
	else
		failed "homad -n $opt $(basename "$val")" "exit $rc: $out"
	fi
done

echo "# homactl.sh: $CASES cases, $FAILS failed"
[ "$FAILS" -eq 0 ] || exit 1
if [ -n "$MISSING" ]; then
	echo "SKIP: every case run passed; not installed:$MISSING"
	exit 77
fi
exit 0
