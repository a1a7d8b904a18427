#!/bin/sh
# Build homad from a clean state and run every test: unit (Check),
# integration (network namespaces; needs root, else those tests skip and
# say why) and `make distcheck`.  Ends with the tally line
# "N passed, N failed, N skipped".
#
#   contrib/run-tests.sh            # everything
#   contrib/run-tests.sh --quick    # no distcheck
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"
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

# Tally: each Check case counts once (its suite's "Checks: N, Failures: F,
# Errors: E" line); every other test counts once by its automake result.
passed=0
failed=0
skipped=0
for trs in $(find . -path ./homad-* -prune -o -name '*.trs' -print); do
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
if [ $check_rc -ne 0 ]; then
	for f in $(grep -lE '^:test-result: (FAIL|ERROR|XPASS)' $(find . -name '*.trs')); do
		echo "---- ${f%.trs}.log"
		tail -n 40 "${f%.trs}.log"
	done
	[ $failed -eq 0 ] && failed=1
fi
[ $dist_rc -ne 0 ] && failed=$((failed + 1)) && echo "make distcheck FAILED"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
