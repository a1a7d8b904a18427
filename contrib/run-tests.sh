#!/bin/sh
# Build homad from a clean state and run every test: unit (Check),
# integration (network namespaces; needs root, else those tests skip and
# say why) and `make distcheck`; then `make check` again in a second build
# with AddressSanitizer + UBSan (build-san/, gcc), and the libFuzzer
# targets of tests/fuzz, built with clang (build-fuzz/), each run for
# FUZZ_SECS seconds (default 20) by tests/fuzz/run.sh.  Ends with the tally
# line "N passed, N failed, N skipped" (each fuzz target counts as one
# test: passed when it found no crash in its time).
#
#   contrib/run-tests.sh            # everything
#   contrib/run-tests.sh --quick    # no distcheck, no sanitizer/fuzz builds
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"
build_san="$top/build-san"
build_fuzz="$top/build-fuzz"
fuzz_secs=${FUZZ_SECS:-20}
jobs=$(nproc 2>/dev/null || echo 2)
quick=no
[ "${1:-}" = "--quick" ] && quick=yes

log() { printf '== %s\n' "$*"; }

cd "$top" || exit 1
log "autoreconf"
autoreconf -fi >/dev/null 2>&1 || { autoreconf -fi; exit 1; }
rm -rf "$build"
mkdir -p "$build"
cd "$build" || exit 1
log "configure --enable-werror"
"$top/configure" --enable-werror -q || exit 1
log "make"
make -j"$jobs" >make.log 2>&1 || { cat make.log; exit 1; }

log "make check"
make -j1 check >check.log 2>&1
check_rc=$?
grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' check.log

dist_rc=0
if [ "$quick" = no ]; then
	log "make distcheck"
	make -j"$jobs" distcheck >distcheck.log 2>&1
	dist_rc=$?
	[ $dist_rc -eq 0 ] || tail -n 60 distcheck.log
	grep -E '^=+$|archives ready|is ready for distribution' distcheck.log | tail -n 3
fi

san_rc=0
fuzz_pass=0
fuzz_fail=0
if [ "$quick" = no ]; then
	# The same tests under ASan + UBSan (homad included).
	log "sanitizer build: configure --enable-werror --enable-sanitizers; make check"
	t0=$(date +%s)
	rm -rf "$build_san"
	mkdir -p "$build_san"
	if (cd "$build_san" && "$top/configure" --enable-werror \
		--enable-sanitizers -q && make -j"$jobs" >make.log 2>&1); then
		(cd "$build_san" && make -j1 check >check.log 2>&1)
		san_rc=$?
		grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' "$build_san/check.log" |
			sed 's/^/san: /'
	else
		tail -n 40 "$build_san/make.log" 2>/dev/null
		echo "sanitizer build FAILED"
		san_rc=2
	fi
	log "sanitizer build: $(($(date +%s) - t0)) s"

	# libFuzzer targets: clang only (--enable-fuzz refuses another CC).
	log "fuzz build: CC=clang configure --enable-fuzz; make fuzz; tests/fuzz/run.sh ($fuzz_secs s each)"
	t0=$(date +%s)
	rm -rf "$build_fuzz"
	mkdir -p "$build_fuzz"
	if ! command -v clang >/dev/null 2>&1; then
		echo "fuzz: clang not found (contrib/install-deps.sh installs clang and libclang-rt-14-dev)"
		fuzz_fail=4
	elif ! (cd "$build_fuzz" && CC=clang \
		"$top/configure" --enable-werror --enable-fuzz -q &&
		make -j"$jobs" fuzz >make.log 2>&1); then
		tail -n 40 "$build_fuzz/make.log" 2>/dev/null
		echo "fuzz build FAILED"
		fuzz_fail=4
	else
		sh "$top/tests/fuzz/run.sh" "$build_fuzz" "$fuzz_secs" >"$build_fuzz/fuzz.log" 2>&1
		cat "$build_fuzz/fuzz.log"
		fuzz_pass=$(grep -c '^PASS: ' "$build_fuzz/fuzz.log")
		fuzz_fail=$(grep -c '^FAIL: ' "$build_fuzz/fuzz.log")
	fi
	log "fuzz: $(($(date +%s) - t0)) s"
fi

# Tally: each Check case counts once (its suite's "Checks: N, Failures: F,
# Errors: E" line); every other test counts once by its automake result.
# The sanitizer build's tests count again, as tests of their own.
passed=0
failed=0
skipped=0
cd "$top" || exit 1
dirs=build
[ "$quick" = no ] && dirs="build build-san"
for trs in $(find $dirs -path '*/homad-*' -prune -o -name '*.trs' -print 2>/dev/null); do
	res=$(sed -n 's/^:test-result: //p' "$trs" | head -n 1)
	logf=${trs%.trs}.log
	summary=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$logf" 2>/dev/null | tail -n 1)
	if [ -n "$summary" ]; then
		n=$(echo "$summary" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
		f=$(echo "$summary" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
		e=$(echo "$summary" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
		passed=$((passed + n - f - e))
		failed=$((failed + f + e))
	else
		case "$res" in
		PASS | XFAIL) passed=$((passed + 1)) ;;
		SKIP) skipped=$((skipped + 1)) ;;
		*) failed=$((failed + 1)) ;;
		esac
	fi
done
for b in $dirs; do
	[ -d "$b" ] || continue
	f=$(grep -lE '^:test-result: (FAIL|ERROR|XPASS)' $(find "$b" -path '*/homad-*' -prune -o -name '*.trs' -print) 2>/dev/null)
	for f in $f; do
		echo "---- ${f%.trs}.log"
		tail -n 40 "${f%.trs}.log"
	done
done
[ $check_rc -ne 0 ] && [ $failed -eq 0 ] && failed=1
[ $san_rc -ne 0 ] && [ $failed -eq 0 ] && failed=1
[ $dist_rc -ne 0 ] && failed=$((failed + 1)) && echo "make distcheck FAILED"
passed=$((passed + fuzz_pass))
failed=$((failed + fuzz_fail))
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
