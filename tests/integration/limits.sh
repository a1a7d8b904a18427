#!/bin/sh
# homad's per-client limits through libhomaclient: limits.max_client_memory
# (a socket whose regions would exceed it is refused with ENOMEM) and
# limits.max_rpcs_per_client (one request too many fails with ENOBUFS).
. "$(dirname "$0")/lib.sh"

require_netns
setup_tmp
A=hd-$$-la
B=hd-$$-lb
make_pair "$A" "$B"
LIMITS_TEST="$top_builddir/tests/integration/limits_test"

cat >"$T_TMP/homa.conf" <<CONF
limits = { max_client_memory = 2097152; max_rpcs_per_client = 5; };
CONF
for n in "$A" "$B"; do
	ip netns exec "$n" "$HOMAD" -c "$T_TMP/homa.conf" -S "$T_TMP/$n.ctl" \
		-C "$T_TMP/$n.sock" >"$T_TMP/$n.log" 2>&1 &
	T_PIDS="$T_PIDS $!"
done
for n in "$A" "$B"; do
	wait_for "$HOMACTL" -s "$T_TMP/$n.ctl" status ||
		{ cat "$T_TMP/$n.log"; fail "homad in $n did not start"; }
done

out=$(HOMA_SOCKET="$T_TMP/$B.sock" ip netns exec "$B" "$LIMITS_TEST" \
	memory 2097152) || fail "max_client_memory: $out"
note "limits.max_client_memory = 2 MiB: $out"

# A sink in A: a bound server socket that never answers, so requests to
# it stay outstanding.
HOMA_SOCKET="$T_TMP/$A.sock" ip netns exec "$A" "$LIMITS_TEST" \
	sink 4000 >"$T_TMP/sink.log" 2>&1 &
SINK=$!
T_PIDS="$T_PIDS $SINK"
wait_for grep -q listening "$T_TMP/sink.log" || fail "sink did not start"
out=$(HOMA_SOCKET="$T_TMP/$B.sock" ip netns exec "$B" "$LIMITS_TEST" \
	rpcs 5 "$A4" 4000) || fail "max_rpcs_per_client: $out"
note "limits.max_rpcs_per_client = 5: $out"
echo PASS
