#!/bin/sh
# contrib/bench/compare, short runs of each comparison on test-beds of its
# own (named after this process): the table's rows and their numbers, the
# Homa/TCP ratios computed from them, the data files and every homad's
# counters (TAG-hI.metrics, the Homa RPCs counted there), -r's median and
# range lines, the load plot (when gnuplot is installed), a small scale run
# (every response checked), and nothing left
# afterwards (no namespace, run directory or homad).  Numbers are checked
# for form and consistency, never against a speed: this machine is shared
# and noisy.
. "$(dirname "$0")/lib.sh"

require_netns
require_cmd tc "tc (iproute2)"
require_cmd nft "nft (nftables)"
setup_tmp

COMPARE="$top_srcdir/contrib/bench/compare"
BENCH="$top_builddir/contrib/bench/homa-bench"
[ -x "$BENCH" ] || fail "no $BENCH (build it first)"
"$BENCH" protocols | grep -qx homa ||
	fail "homa-bench was built without the homa backend"
NAME=c$$
HOMA_TESTBED_RUNDIR="$T_TMP/run"
HOMAD="$top_builddir/homad"
HOMACTL="$top_builddir/homactl"
export HOMA_TESTBED_RUNDIR HOMAD HOMACTL

on_exit() {
	rc=$?
	"$top_srcdir/contrib/testbed" -n "$NAME" down >/dev/null 2>&1
	(exit $rc)
	cleanup
}
trap on_exit EXIT

# cmp DIR ARGS...: run compare with its output in DIR/out.
cmp() {
	dir=$1
	shift
	sh "$COMPARE" -n "$NAME" -o "$dir" "$@" >"$T_TMP/out" 2>"$T_TMP/err" ||
		{
			cat "$T_TMP/out" "$T_TMP/err"
			fail "compare $*"
		}
	cp "$T_TMP/out" "$dir/out"
}

# cells DIR LABEL: the cells after LABEL on its line of DIR/out.
cells() {
	awk -v l="$2" 'index($0, l) == 1 {
		print substr($0, length(l) + 1); exit }' "$1/out"
}

num() {
	echo "$1" | grep -qE '^[0-9]+(\.[0-9]+)?$'
}

# check_ratio A B R: R is A/B to 2 decimals (within 0.01).
check_ratio() {
	awk -v a="$1" -v b="$2" -v r="$3" 'BEGIN {
		d = a / b - r; exit !(d < 0.0051 && d > -0.0051) }' ||
		fail "ratio $3 is not $1 / $2"
}


# --- latency ----------------------------------------------------------------
D="$T_TMP/lat"
cmp "$D" -d 1 latency
grep -q "^latency: unloaded 100-byte echo h1 -> h2, 1 in flight, 1 s" \
	"$D/out" || fail "latency: no heading"
for row in "RTT P50 (us)" "RTT P99 (us)" "CPU per RPC (us)"; do
	# shellcheck disable=SC2046
	set -- $(cells "$D" "$row")
	[ $# -eq 3 ] || fail "latency: row \"$row\": $*"
	num "$1" && num "$2" && num "$3" || fail "latency: row \"$row\": $*"
	check_ratio "$2" "$1" "$3"
done
for f in latency-tcp.summary latency-homa.summary latency-homa.rpcs; do
	[ -s "$D/$f" ] || fail "latency: no $f"
done
for h in h1 h2; do
	[ -s "$D/latency-homa-$h.metrics" ] || fail "latency: no $h metrics"
done
# The client's homad sent every request the bench counted (and more: the
# base-RTT probe's).
rpcs=$(awk '$1 == "rpcs" { print $2 }' "$D/latency-homa.summary")
started=$(metric "$D/latency-homa-h2.metrics" server_requests_started)
[ -n "$rpcs" ] && [ "$started" -ge "$rpcs" ] ||
	fail "latency: h2's homad started $started requests for $rpcs RPCs"
# Context switches per RPC: numbers for both (homads: Homa only), the
# parts add up to the "all" rows, homad-dp's are part of its homad's, and
# every homad waited for its RPCs (one at a time: nothing to do between).
for row in "ctx sw/RPC vol., all" "ctx sw/RPC invol., all" \
	"  client (h1) vol." "  client (h1) invol." "  server (h2) vol." \
	"  server (h2) invol." "  homad h1 vol." "  homad h1 invol." \
	"    of which homad-dp vol." "  homad h2 vol." "  homad h2 invol." \
	"homad loop wake-ups/RPC" "  of which blocking"; do
	# shellcheck disable=SC2046
	set -- $(cells "$D" "$row")
	[ $# -eq 3 ] && num "$2" || fail "latency: row \"$row\": $*"
	case $row in
	*homad* | *blocking) [ "$1" = - ] ;;
	*) num "$1" ;;
	esac || fail "latency: row \"$row\": TCP has \"$1\""
done
homa() {
	set -- $(cells "$D" "$1")
	echo "$2"
}
for k in vol. invol.; do
	awk -v a="$(homa "ctx sw/RPC $k, all")" \
		-v c="$(homa "  client (h1) $k")" \
		-v s="$(homa "  server (h2) $k")" \
		-v h="$(homa "  homad h1 $k")" -v g="$(homa "  homad h2 $k")" \
		'BEGIN { d = a - (c + s + h + g); exit !(d < 0.03 && d > -0.03) }' ||
		fail "latency: Homa's $k context switches do not add up"
done
awk -v d="$(homa "    of which homad-dp vol.")" -v h="$(homa "  homad h1 vol.")" \
	-v w="$(homa "  homad h2 vol.")" -v l="$(homa "homad loop wake-ups/RPC")" \
	-v b="$(homa "  of which blocking")" \
	'BEGIN { exit !(d <= h && h > 0 && w > 0 && b <= l && b > 0) }' ||
	fail "latency: homad context switches or loop wake-ups: $(grep -E \
		'homad|blocking' "$D/out" | tr -s ' ')"
for p in tcp homa; do
	for k in vcsw_per_rpc ivcsw_per_rpc; do
		v=$(awk -v k=$k '$1 == k { print $2 }' "$D/latency-$p.summary")
		num "$v" || fail "latency: $p summary has no $k"
	done
	grep -q "^# vcsw [0-9]" "$D/latency-$p.rpcs" ||
		fail "latency: $p .rpcs has no vcsw"
	# The server counts what it received (the client's RPCs at least).
	n=$(sed -n 's/^server: \([0-9]*\) requests, .* context switches .*/\1/p' \
		"$D/server-$p.log")
	r=$(awk '$1 == "rpcs" { print $2 }' "$D/latency-$p.summary")
	[ -n "$n" ] && [ "$n" -ge "$r" ] ||
		fail "latency: $p server counted \"$n\" requests for $r RPCs"
done
testbed_gone latency
note "latency: $(cells "$D" "RTT P50 (us)" | tr -s ' ')"
note "latency: $(cells "$D" "ctx sw/RPC vol., all" | tr -s ' ') voluntary context switches per RPC"

# --- throughput, twice: -r 2 ---------------------------------------------
D="$T_TMP/tp"
cmp "$D" -d 1 -r 2 throughput
for k in 1 2; do
	[ -s "$D/run-$k/throughput-tcp.summary" ] || fail "throughput: run $k"
	[ -s "$D/run-$k/throughput-homa-udp-h1.metrics" ] ||
		fail "throughput: run $k: no udp metrics"
done
grep -q "^over 2 runs: median \[min-max\]" "$D/out" ||
	fail "throughput: no summary of the runs"
# The summary's goodput line: three "median [min-max]" cells, each median
# within its range.
line=$(awk '/^over 2 runs/ { s = 1 } s && /^goodput/' "$D/out")
echo "$line" | awk '{
	n = 0
	for (i = 1; i <= NF; i++)
		if ($i ~ /^\[/) {
			split(substr($i, 2, length($i) - 2), r, "-")
			m = $(i - 1) + 0
			if (!(r[1] + 0 <= m && m <= r[2] + 0)) exit 1
			n++
		}
	exit n != 3 }' || fail "throughput: summary line: $line"
testbed_gone throughput
note "throughput: $line"

# --- load -------------------------------------------------------------------
D="$T_TMP/load"
cmp "$D" -d 2 load
# shellcheck disable=SC2046
set -- $(cells "$D" "achieved Gbit/s (of 0.8)")
[ $# -eq 2 ] && num "$1" && num "$2" || fail "load: achieved: $*"
grep -qE '^  1000000 +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+$' "$D/out" ||
	fail "load: no 1 MB bucket row"
[ -s "$D/load-homa-h4.metrics" ] || fail "load: no server metrics"
# shellcheck disable=SC2046
set -- $(cells "$D" "resent KB per GB delivered")
[ $# -eq 2 ] && [ "$1" = - ] && num "$2" || fail "load: resent: $*"
if command -v gnuplot >/dev/null 2>&1; then
	[ -s "$D/load-slowdown.png" ] || fail "load: no plot"
fi
testbed_gone load
note "load: short P99 $(cells "$D" "short_p99_us" | tr -s ' ')"

# --- scale, small: 2 processes x 10 sockets x 50 RPCs ------------------------
D="$T_TMP/scale"
cmp "$D" -d 1 -S 2x10x50 scale
grep -q "^completed 1000 of 1000: 0 wrong, 0 failed$" "$D/out" ||
	fail "scale: not every response came back right: $(tail -n 3 "$D/out")"
# shellcheck disable=SC2046
set -- $(cells "$D" "RPCs (homactl status)")
[ "$1" -ge 1000 ] && [ "$2" -ge 1000 ] ||
	fail "scale: homads held $* RPCs, not all 1000 each"
for row in "RSS per RPC (bytes)" "homactl status (ms)" \
	"tick mean, waiting (us)"; do
	# shellcheck disable=SC2046
	set -- $(cells "$D" "$row")
	[ $# -eq 2 ] && num "$1" && num "$2" || fail "scale: row \"$row\": $*"
done
started=$(metric "$D/scale-h2.metrics" server_requests_started)
[ "$started" -eq 1000 ] || fail "scale: h2 started $started requests"
testbed_gone scale
note "scale: $(cells "$D" "RSS per RPC (bytes)" | tr -s ' ')"
echo "PASS: compare latency, throughput (-r 2), load and scale"
