#!/bin/sh
# dataplane.sh - how homad's data plane waits, end to end (two namespaces,
# a homad in each, e2e_test as the applications):
#   1. the link's receives are armed by the data-plane thread, so packets
#      never wake the control-plane thread (io_uring runs completion work
#      on the task that submitted the request);
#      without spin mode, the loop sleeps whenever it waits (it does not
#      poll for the timer's ticks), and its sends do not end its waits:
#      beside its ticks, B's loop turns at most twice per echo (for the
#      request from the application and the response from A), not once
#      more per wake-up to reap the completions of the sends it made;
#   2. spin mode (network.spin_us, applied by a reload) replaces sleeps by
#      polling (fewer than a quarter of the sleeps of the same echoes
#      without it), and echoes stay byte-exact; back off by another reload.
# Exit 0 only if every check passed; 77 only without root or netns.
. "$(dirname "$0")/lib.sh"

require_netns
setup_tmp
A=hd-$$-da
B=hd-$$-db
make_pair "$A" "$B"
E2E="$top_builddir/tests/integration/e2e_test"
N=300

conf() {
	cat >"$T_TMP/$1.conf" <<CONF
network = { link = "udp"; spin_us = $2; };
CONF
}

conf a 0
conf b 0
start_homads_conf "$T_TMP/a.conf" "$T_TMP/b.conf"
PID_a=$HA
PID_b=$HB

start_server a srv -f 4 --echo 100

# N sequential 100-byte echoes from B, in runs of 30 (each run then also
# sends its 30 at once).
SIZES=$(awk 'BEGIN { for (i = 0; i < 30; i++)
	printf "%s%d", (i ? "," : ""), 100 + i }')
echoes() {
	i=0
	while [ $i -lt $((N / 30)) ]; do
		HOMA_SOCKET="$(sock b)" ip netns exec "$B" "$E2E" echo \
			-f 4 -d "$A4" -p 100 --sizes "$SIZES" \
			>"$T_TMP/echo.log" 2>&1 ||
			{ cat "$T_TMP/echo.log"; fail "echo RPCs failed ($1)"; }
		i=$((i + 1))
	done
}

# switches PID: context switches of homad's main (control-plane) thread.
switches() {
	awk '/^(non)?voluntary_ctxt_switches/ { s += $2 } END { print s }' \
		"/proc/$1/task/$1/status"
}

# sleeps_wakeups: "SLEEPS WAKEUPS TICKS" of B's data plane.
sleeps_wakeups() {
	"$HOMACTL" -s "$(ctl b)" metrics >"$T_TMP/m" ||
		fail "homactl metrics"
	echo "$(metric "$T_TMP/m" loop_sleeps) $(metric "$T_TMP/m" loop_wakeups)" \
		"$(metric "$T_TMP/m" loop_ticks)"
}

# ---- 1. packets do not wake the control plane -----------------------------
c0=$(switches "$PID_b")
set -- $(sleeps_wakeups)
s0=$1 w0=$2 t0=$3
echoes "spin off"
set -- $(sleeps_wakeups)
s1=$1 w1=$2 t1=$3
c1=$(switches "$PID_b")
dc=$((c1 - c0))
ds=$((s1 - s0))
note "spin off: $((2 * N)) echoes; B's control thread switched $dc times," \
	"its data plane slept $ds times in $((w1 - w0)) wake-ups" \
	"($((t1 - t0)) ticks)"
# Each echo's request and response packets are a wake-up each when they
# are handled by a thread that is asleep; the control thread only answers
# homactl (a few switches per call).
[ "$dc" -lt $((N / 4)) ] ||
	fail "the control-plane thread woke $dc times for $((2 * N)) echoes"
[ "$ds" -ge "$N" ] ||
	fail "spin off: only $ds sleeps for $((2 * N)) echoes"
# Without spinning, a pass that does not sleep is one that found work
# already there; small echoes never wait for the pacer, and the timer's
# ticks are slept for, not polled for (that cost ~6 passes per tick).
dp_polls=$((w1 - w0 - ds))
[ "$dp_polls" -le $((ds / 10)) ] ||
	fail "spin off: $dp_polls passes polled against $ds sleeps"
# Sends (to A, to the application) post no completion when they succeed,
# so the wait that submits them sleeps: beside the timer's ticks (more
# of them the longer a busy machine stretches the echoes), B wakes for
# the request and for the response of each echo, fewer when echoes
# overlap: 1.5-1.6 per echo, also beside two CPU hogs.  A completion per
# send cost each wake-up one more pass: 2.45-2.6 per echo.
dw=$((w1 - w0 - (t1 - t0)))
[ "$dw" -le $((2 * 2 * N)) ] ||
	fail "spin off: $dw loop passes (ticks aside) for $((2 * N))" \
		"echoes: more than 2 each (do sends end the waits?)"
ds_off=$ds

# ---- 2. spin mode --------------------------------------------------------
# reload_b SPIN: B reloads with that spin_us.
reloads_b() {
	grep -c "reloading the configuration" "$T_TMP/b.log"
}
# More reloads logged than $n0 (a function: wait_for re-runs it).
reloaded_b() {
	[ "$(reloads_b)" -gt "$n0" ]
}
reload_b() {
	n0=$(reloads_b)
	conf b "$1"
	kill -HUP "$PID_b"
	wait_for reloaded_b || fail "B did not reload"
	sleep 0.2
}
reload_b 2000
set -- $(sleeps_wakeups)
s0=$1 w0=$2
echoes "spin 2000 us"
set -- $(sleeps_wakeups)
s1=$1 w1=$2
ds=$((s1 - s0))
note "spin_us = 2000: $((2 * N)) echoes; B's data plane slept $ds times" \
	"in $((w1 - w0)) wake-ups"
# Against the same run without spinning: a busy machine stretches the
# gaps between echoes past spin_us at times (the spinning thread or the
# client descheduled), so the count alone says less than the ratio.
[ "$ds" -lt $((ds_off / 4)) ] ||
	fail "spin mode: still $ds sleeps ($ds_off without spinning)"

reload_b 0
set -- $(sleeps_wakeups)
s0=$1
echoes "spin off again"
set -- $(sleeps_wakeups)
ds=$(($1 - s0))
note "spin_us = 0 again: $ds sleeps"
[ "$ds" -ge "$N" ] || fail "spin off again: only $ds sleeps"

grep -q "reload failed" "$T_TMP/b.log" && fail "a reload was refused"
kill -TERM "$PID_a" "$PID_b"
echo PASS
