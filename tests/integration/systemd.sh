#!/bin/sh
# systemd.sh - `systemctl start homad` for real: systemd boots in a
# container (systemd-nspawn: its root a tmpfs, /usr the host's, read-only;
# a private network) with `make install DESTDIR=...` of this build laid
# read-only over its /usr/local, where systemd finds homad's units in
# /usr/local/lib/systemd/system.  One line per case:
#   - `systemctl start homad` reaches active (Type=notify: READY=1), with
#     homad's STATUS= text; `homactl status` answers;
#   - `systemctl reload homad` reloads (homactl status counts it);
#   - the watchdog restarts a homad that stops answering (SIGSTOP);
#   - socket activation: with homad.service stopped and homad.socket
#     listening, the first `homactl status` starts homad and is answered;
#   - the scrape unit homad-metrics.socket answers curl with homad's
#     metrics;
#   - `systemctl stop homad` stops it cleanly (exit 0, Result=success);
#   - the journal holds homad's lines at their priorities (notice, info),
#     the "<N>" prefixes taken off.
# The container boots to basic.target (sockets, no services started but
# what a case starts), with no first-boot questions, and
# systemd-networkd-wait-online masked: its private network has only lo, and
# homad.service waits for network-online.target.  It is always stopped on
# exit (trap), and a `timeout` bounds its life even if this script dies.
# Skips (77) without root or systemd-nspawn, when systemd-nspawn cannot
# boot here (its log shown), and for a build whose prefix is /usr (its
# install tree cannot be laid over the container's /usr).
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root (systemd-nspawn)"
require_cmd systemd-nspawn "systemd-nspawn (Debian package systemd-container)"
require_cmd nsenter "nsenter (Debian package util-linux)"
require_cmd curl "curl (Debian package curl)"

prefix=$(sed -n 's/^prefix = //p' "$top_builddir/Makefile")
case $prefix in
/ | /usr | /usr/) skip "built with prefix $prefix: its install tree" \
	"cannot be laid over the container's /usr" ;;
/*) ;;
*) fail "no absolute prefix in $top_builddir/Makefile ($prefix)" ;;
esac

setup_tmp
dest="$T_TMP/dest"
# The build's own `make install`, into a staging tree (not the make
# running this test: no jobserver).
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" install \
	DESTDIR="$dest" >"$T_TMP/install.log" 2>&1 ||
	{ cat "$T_TMP/install.log"; fail "make install DESTDIR=$dest failed"; }
units="$dest$prefix/lib/systemd/system"
for u in homad.service homad.socket homad-metrics.socket \
	homad-metrics@.service; do
	[ -f "$units/$u" ] || skip "$u is not installed in $prefix/lib/systemd/" \
		"system (configured --with-systemdsystemunitdir elsewhere)"
done
binds="--bind-ro=$dest$prefix:/usr/local"
# The units name the installed programs by their configured paths.
[ "$prefix" = /usr/local ] || binds="$binds --bind-ro=$dest$prefix:$prefix"
homactl="$prefix/bin/homactl"
metrics_port=$(sed -n 's/^ListenStream=127\.0\.0\.1:\([0-9]*\)$/\1/p' \
	"$units/homad-metrics.socket")
[ -n "$metrics_port" ] ||
	fail "homad-metrics.socket has no ListenStream=127.0.0.1:PORT"

# ---- the container ---------------------------------------------------------
machine="hd-$$"
NSPAWN_TIMEOUT=110 # seconds: its whole life, whatever happens here
# Arguments after the directory go to the container's systemd.
# shellcheck disable=SC2086
SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 timeout -s TERM -k 5 $NSPAWN_TIMEOUT \
	systemd-nspawn --register=no --keep-unit --volatile=yes -D / --boot \
	--private-network -M "$machine" $binds \
	systemd.firstboot=off systemd.unit=basic.target \
	systemd.mask=systemd-networkd-wait-online.service \
	</dev/null >"$T_TMP/nspawn.log" 2>&1 &
TIMEOUT_PID=$!
NSPAWN_PID=""
CPID="" # the container's systemd, as the host sees it

# stop_container: power it off (SIGTERM to systemd-nspawn), at most 15 s,
# then kill what is left.
stop_container() {
	[ -n "$NSPAWN_PID" ] && kill -TERM "$NSPAWN_PID" 2>/dev/null
	i=0
	while kill -0 "$TIMEOUT_PID" 2>/dev/null && [ $i -lt 150 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$TIMEOUT_PID" 2>/dev/null; then
		echo "# the container did not stop within 15 s: killed"
		# The container's init: SIGKILL ends its whole PID namespace.
		[ -n "$CPID" ] && kill -9 "$CPID" 2>/dev/null
		[ -n "$NSPAWN_PID" ] && kill -9 "$NSPAWN_PID" 2>/dev/null
		kill -9 "$TIMEOUT_PID" 2>/dev/null
	fi
	wait "$TIMEOUT_PID" 2>/dev/null
}
on_exit() {
	rc=$?
	stop_container
	(exit $rc)
	cleanup
}
trap on_exit EXIT

# Find systemd-nspawn (timeout's child), then its child, the container's
# systemd.
i=0
while [ -z "$CPID" ]; do
	if ! kill -0 "$TIMEOUT_PID" 2>/dev/null; then
		cat "$T_TMP/nspawn.log"
		skip "systemd-nspawn cannot boot a container here (its log above)"
	fi
	[ -n "$NSPAWN_PID" ] || NSPAWN_PID=$(pgrep -P "$TIMEOUT_PID" -x systemd-nspawn)
	[ -n "$NSPAWN_PID" ] && CPID=$(pgrep -P "$NSPAWN_PID" -x systemd)
	i=$((i + 1))
	[ $i -gt 300 ] && { cat "$T_TMP/nspawn.log"; fail "no container systemd within 30 s"; }
	sleep 0.1
done

# in_ct CMD...: CMD inside the container (all its namespaces), at most 30 s.
in_ct() { timeout 30 nsenter -t "$CPID" -a "$@"; }
sctl() { in_ct systemctl "$@"; }
prop() { sctl show -P "$2" "$1"; }
hctl() { in_ct "$homactl" "$@"; }
# hjson KEY: a number of `homactl -j status`.
hjson() { hctl -j status | sed -n "s/^ *\"$1\": *\([0-9]*\).*/\1/p"; }
hjson_is() { [ "$(hjson "$1")" = "$2" ]; }
substate_is() { [ "$(prop homad SubState)" = "$1" ]; }
journal() { in_ct journalctl --no-pager -u homad "$@"; }
T0=$(now_ms)
# ok NAME TEXT...: lib.sh's pass, the words joined; ko: its failed.
ok() { n_=$1; shift; pass "$n_" "$*"; }
ko() { n_=$1; shift; failed "$n_" "$*"; }

# systemd's private bus socket comes first (systemctl talks through it).
i=0
while ! in_ct test -S /run/systemd/private && [ $i -lt 300 ] &&
	kill -0 "$TIMEOUT_PID" 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
state=$(in_ct systemctl is-system-running --wait 2>&1)
case $state in
running | degraded) ;;
*)
	if ! kill -0 "$TIMEOUT_PID" 2>/dev/null; then
		cat "$T_TMP/nspawn.log"
		skip "systemd-nspawn cannot boot a container here (its log above)"
	fi
	sctl --failed --no-pager
	fail "the container's systemd is \"$state\" after booting"
	;;
esac
ok "boot" "systemd in container $machine is $state after $(($(now_ms) - T0)) ms"

# ---- start -----------------------------------------------------------------
t=$(now_ms)
if ! sctl start homad.service; then
	journal | tail -20
	fail "systemctl start homad failed"
fi
ms=$(($(now_ms) - t))
st=$(prop homad ActiveState)/$(prop homad SubState)
text=$(prop homad StatusText)
[ "$st" = active/running ] || { journal | tail -20; fail "homad is $st after start"; }
case $text in
"link ip, "*) ;;
*) fail "homad's STATUS= text is \"$text\"" ;;
esac
ok "systemctl start homad" "active/running in $ms ms (Type=notify), status \"$text\""

pid1=$(prop homad MainPID)
if [ "$(hjson pid)" = "$pid1" ]; then
	ok "homactl status" "answered by homad pid $pid1 (the unit's MainPID)"
else
	ko "homactl status" "pid $(hjson pid), MainPID $pid1"
fi

# ---- reload ----------------------------------------------------------------
if ! sctl reload homad.service; then
	ko "systemctl reload homad" "exited non-zero"
elif wait_for hjson_is reloads_ok 1 && hjson_is reloads_failed 0 &&
	[ "$(prop homad MainPID)" = "$pid1" ]; then
	ok "systemctl reload homad" "homactl status: 1 reload ok, 0 failed, same pid"
else
	ko "systemctl reload homad" "reloads_ok $(hjson reloads_ok)," \
		"reloads_failed $(hjson reloads_failed)"
fi

# ---- watchdog --------------------------------------------------------------
wd=$(prop homad WatchdogUSec)
t=$(now_ms)
in_ct kill -STOP "$pid1"
i=0
while [ "$(prop homad NRestarts)" = 0 ] && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
wait_for substate_is running
pid2=$(prop homad MainPID)
ms=$(($(now_ms) - t))
if [ "$(prop homad NRestarts)" = 1 ] && [ "$pid2" != "$pid1" ] &&
	[ "$pid2" != 0 ] && journal | grep -q "Watchdog timeout" &&
	wait_for hjson_is pid "$pid2"; then
	ok "watchdog" "homad stopped with SIGSTOP, restarted after $ms ms" \
		"(WatchdogSec $wd): pid $pid1 -> $pid2, homactl answers"
else
	ko "watchdog" "after $ms ms: NRestarts $(prop homad NRestarts)," \
		"pid $pid1 -> $pid2, $(prop homad SubState)"
	journal | tail -15
fi

# ---- socket activation -----------------------------------------------------
sctl stop homad.service 2>/dev/null
st=$(prop homad ActiveState)
sock=$(prop homad.socket ActiveState)
t=$(now_ms)
if [ "$st" != inactive ] || [ "$sock" != active ]; then
	ko "socket activation" "after stopping homad.service: homad $st," \
		"homad.socket $sock"
elif ! out=$(hctl status); then
	ko "socket activation" "homactl status failed: $out"
else
	ms=$(($(now_ms) - t))
	pid3=$(prop homad MainPID)
	if [ "$(prop homad ActiveState)" = active ] &&
		echo "$out" | grep -q "^pid: *$pid3\$" &&
		journal _PID="$pid3" | grep -q "control socket passed by systemd"; then
		ok "socket activation" "homad.service inactive, homad.socket" \
			"listening; homactl status started homad (pid $pid3) and" \
			"was answered in $ms ms"
	else
		ko "socket activation" "homad $(prop homad ActiveState)," \
			"pid $pid3; homactl said: $(echo "$out" | head -3)"
	fi
fi

# ---- the scrape unit -------------------------------------------------------
sctl start homad-metrics.socket
in_ct curl -sS -m 10 -w '\n%{http_code}\n' \
	"http://127.0.0.1:$metrics_port/metrics" >"$T_TMP/metrics" 2>&1
code=$(tail -n 1 "$T_TMP/metrics")
if [ "$code" = 200 ] &&
	grep -q '^homad_packets_received_total{type="DATA"} ' "$T_TMP/metrics"; then
	ok "scrape unit" "curl http://127.0.0.1:$metrics_port/metrics: HTTP" \
		"200, $(grep -c '^homad_' "$T_TMP/metrics") homad_ samples"
else
	ko "scrape unit" "curl: $code; $(head -c 300 "$T_TMP/metrics")"
fi

# ---- stop ------------------------------------------------------------------
pid3=$(prop homad MainPID)
t=$(now_ms)
if sctl stop homad.service homad.socket 2>/dev/null; then
	ms=$(($(now_ms) - t))
	r="$(prop homad ActiveState) $(prop homad Result)"
	r="$r $(prop homad ExecMainCode)/$(prop homad ExecMainStatus)"
	# ExecMainCode 1: CLD_EXITED.
	if [ "$r" = "inactive success 1/0" ] &&
		journal _PID="$pid3" | grep -q "homad stopped" &&
		! in_ct test -e /run/homad/homad.sock; then
		ok "systemctl stop homad" "in $ms ms: exit 0, Result=success," \
			"\"homad stopped\" logged, sockets removed"
	else
		ko "systemctl stop homad" "state/result/code: $r"
	fi
else
	ko "systemctl stop homad" "systemctl stop failed"
fi

# ---- the journal -----------------------------------------------------------
notice=$(journal -t homad -p notice..notice -o cat)
info=$(journal -t homad -p info..info -o cat)
if echo "$notice" | grep -q "^homad .* ready: " &&
	echo "$notice" | grep -q "^configuration reloaded" &&
	echo "$info" | grep -q "^homad .* starting, configuration" &&
	! journal -t homad -o cat | grep -q '^<[0-7]>'; then
	ok "journal" "$(echo "$notice" | wc -l) notice and" \
		"$(echo "$info" | wc -l) info lines of homad, prefixes taken off"
else
	ko "journal" "notice: $(echo "$notice" | head -3 | tr '\n' '|')" \
		"info: $(echo "$info" | head -3 | tr '\n' '|')"
	journal -t homad -o verbose | grep -E "PRIORITY|MESSAGE=" | head -20
fi

echo "# systemd.sh: $CASES cases, $FAILS failed, $(($(now_ms) - T0)) ms" \
	"after the container started"
[ $FAILS -eq 0 ] || exit 1
exit 0
