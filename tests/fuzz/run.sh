#!/bin/sh
# Run every libFuzzer target of tests/fuzz for a bounded time (CI).
#
#   tests/fuzz/run.sh BUILDDIR [SECONDS] [TARGET...]
#
# BUILDDIR: a build configured with CC=clang --enable-fuzz where `make fuzz`
# has run.  SECONDS: per target (default 20).  Seeds come from
# tests/fuzz/mkseeds.py (the captures of tests/vectors, conf/homa.conf,
# hand-made client messages); the corpus grows in BUILDDIR/fuzz-out/corpus/
# and is reused by the next run.  Prints one line per target,
#   PASS: fuzz_wire (123456 execs in 20 s)   or   FAIL: fuzz_wire ...
# with the crashing input kept in BUILDDIR/fuzz-out/crashes/.  Exit status
# 0 when no target crashed.
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: run.sh BUILDDIR [SECONDS] [TARGET...]}
secs=${2:-20}
[ $# -ge 2 ] && shift 2 || shift $#
targets=${*:-fuzz_wire fuzz_engine fuzz_client_msg fuzz_config}
out="$build/fuzz-out"

mkdir -p "$out/crashes" "$out/logs" || exit 1
rm -rf "$out/seeds"
python3 "$src/tests/fuzz/mkseeds.py" "$src" "$out/seeds" >/dev/null || exit 1

# Stop at the first ASan/UBSan report; leaks are reported too.
ASAN_OPTIONS="abort_on_error=1:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
LSAN_OPTIONS="suppressions=$src/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS

rc=0
for t in $targets; do
	bin="$build/tests/fuzz/$t"
	if [ ! -x "$bin" ]; then
		echo "FAIL: $t (not built: configure CC=clang --enable-fuzz; make fuzz)"
		rc=1
		continue
	fi
	asan=$ASAN_OPTIONS
	case $t in
	# Scripts of a few dozen steps: 20x the inputs of 64 KB ones in
	# the same time, about the same coverage (README.md, Speed).
	fuzz_engine) maxlen=512 ;;
	# libconfig leaks (lsan.supp) on many inputs, and libFuzzer then
	# scans the heap, ASan's quarantine included: a 16 MB one (not
	# 256) still holds hundreds of loads' frees (README.md, Speed).
	fuzz_config) maxlen=16384 asan="quarantine_size_mb=16:$asan" ;;
	*) maxlen=9100 ;;
	esac
	mkdir -p "$out/corpus/$t"
	log="$out/logs/$t.log"
	ASAN_OPTIONS=$asan "$bin" -max_total_time="$secs" -timeout=25 \
		-rss_limit_mb=2048 -max_len=$maxlen -print_final_stats=1 \
		-artifact_prefix="$out/crashes/$t-" \
		"$out/corpus/$t" "$out/seeds/$t" >"$log" 2>&1
	r=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ $r -eq 0 ]; then
		echo "PASS: $t (${execs:-?} execs in $secs s)"
	else
		echo "FAIL: $t (exit $r after ${execs:-?} execs; see $log)"
		grep -E 'invariant failed|ERROR: |SUMMARY|Test unit written' "$log" | head -n 5
		rc=1
	fi
done
exit $rc
