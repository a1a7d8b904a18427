#!/bin/sh
# wireshark.sh - contrib/wireshark/homa.lua under tshark.
#   1. every capture of tests/vectors decodes to exactly the fields of its
#      .txt listing: the same frames are Homa, every listed field has the
#      listed value, valid packets carry no error and nothing malformed,
#      invalid ones the dissector's malformed error for their reason;
#   2. packets the vectors lack (each malformed kind, the udp link over
#      IPv4 and IPv6, homad's DATA marker and flags), made by
#      wireshark_check.py --make, likewise;
#   3. homad's own traffic, captured with dumpcap in a test namespace while
#      echo RPCs (IPv4 and IPv6, 1 B .. 500 KB) run on the ip link and on
#      the udp link: every Homa frame decodes, none malformed, every DATA
#      packet with homad's marker.
# One line per capture; exit 0 only if all pass.  Skips (77) without
# tshark/dumpcap (Debian package tshark) or python3, and for part 3 only,
# without root or network namespaces (parts 1 and 2 have run then).
. "$(dirname "$0")/lib.sh"

LUA="$top_srcdir/contrib/wireshark/homa.lua"
CHECK="$top_srcdir/tests/integration/wireshark_check.py"
E2E="$top_builddir/tests/integration/e2e_test"
require_cmd tshark "tshark (Debian package tshark)"
require_cmd dumpcap "dumpcap (Debian package wireshark-common)"
require_cmd python3 "python3"
[ -x "$E2E" ] || fail "$E2E not built"

setup_tmp
bad=0
checked=0
check() {
	checked=$((checked + 1))
	python3 "$CHECK" "$LUA" "$@" && return 0
	bad=$((bad + 1))
	return 1
}

# ---- 1, 2: the vectors and the made packets -------------------------------
t0=$(now_ms)
for p in "$VECTORS"/*/*.pcap; do
	check "$p" "${p%.pcap}.txt"
done
python3 "$CHECK" --make "$T_TMP/made.pcap" "$T_TMP/made.txt" ||
	fail "wireshark_check.py --make failed"
check "$T_TMP/made.pcap" "$T_TMP/made.txt"
note "vectors and made packets: $(($(now_ms) - t0)) ms"

# ---- 3: homad's own traffic -----------------------------------------------
if [ "$(id -u)" -ne 0 ] || ! ip netns add "hd-probe-$$" 2>/dev/null; then
	[ $bad -eq 0 ] || fail "$bad of $checked captures did not decode as listed"
	skip "homad's own traffic needs root and network namespaces ($checked" \
		"captures checked)"
fi
ip netns del "hd-probe-$$"
A=hd-$$-a
B=hd-$$-b
make_pair "$A" "$B"

for link in ip udp; do
	t0=$(now_ms)
	printf 'network = {\n\tlink = "%s";\n};\n' "$link" >"$T_TMP/homa.conf"
	start_homads_conf "$T_TMP/homa.conf" "$T_TMP/homa.conf"
	cap="$T_TMP/homad-$link.pcapng"
	ip netns exec "$B" dumpcap -q -i "$IF_B" -w "$cap" \
		>"$T_TMP/dumpcap.log" 2>&1 &
	DC=$!
	T_PIDS="$T_PIDS $DC"
	# dumpcap names its file once it captures.
	wait_for grep -q "^File: " "$T_TMP/dumpcap.log" ||
		{ cat "$T_TMP/dumpcap.log"; fail "dumpcap did not start"; }
	rm -f "$T_TMP/srv.ready"
	HOMA_SOCKET=$(sock a) ip netns exec "$A" "$E2E" server \
		--ready "$T_TMP/srv.ready" -f 4 --echo 100 >"$T_TMP/srv4.log" 2>&1 &
	S4=$!
	HOMA_SOCKET=$(sock a) ip netns exec "$A" "$E2E" server \
		--ready "$T_TMP/srv6.ready" -f 6 --echo 101 >"$T_TMP/srv6.log" 2>&1 &
	S6=$!
	T_PIDS="$T_PIDS $S4 $S6"
	wait_for test -f "$T_TMP/srv.ready" ||
		{ cat "$T_TMP/srv4.log"; fail "echo server (IPv4) did not start"; }
	wait_for test -f "$T_TMP/srv6.ready" ||
		{ cat "$T_TMP/srv6.log"; fail "echo server (IPv6) did not start"; }
	for fam in 4 6; do
		if [ $fam = 4 ]; then dst=$A4; port=100; else dst=$A6; port=101; fi
		HOMA_SOCKET=$(sock b) ip netns exec "$B" timeout 40 "$E2E" echo \
			-f $fam -d "$dst" -p $port --sizes 1,1400,40001,500000 \
			>"$T_TMP/echo.log" 2>&1 ||
			{ cat "$T_TMP/echo.log"; fail "echo $link IPv$fam failed"; }
	done
	kill "$S4" "$S6" "$HA" "$HB"
	for p in "$S4" "$S6" "$HA" "$HB"; do
		bounded_wait "$p" 10 || fail "process $p did not stop"
	done
	# SIGINT: dumpcap writes out what it has and exits.
	kill -INT "$DC"
	bounded_wait "$DC" 10 ||
		{ cat "$T_TMP/dumpcap.log"; fail "dumpcap did not stop"; }
	if ! check "$cap" --homad; then
		cp "$cap" "$top_builddir/tests/integration/wireshark-$link.pcapng" &&
			note "capture kept: tests/integration/wireshark-$link.pcapng"
	fi
	note "homad's traffic on the $link link: $(($(now_ms) - t0)) ms"
done

[ $bad -eq 0 ] || fail "$bad of $checked captures did not decode as expected"
echo "PASS: $checked captures decoded as expected"
exit 0
