#!/bin/sh
# Build homad from a clean state and run every test: unit (Check),
# integration (network namespaces; needs root, else those tests skip and
# say why) and `make distcheck` in build/; then `make check` again in a
# second build with AddressSanitizer + UBSan (build-san/, clang: its UBSan
# checks more than gcc's; SAN_CC=gcc for gcc), and the libFuzzer targets of
# tests/fuzz, built with clang (build-fuzz/), each run for FUZZ_SECS
# seconds (default 20) by tests/fuzz/run.sh.
#
# While it runs it prints each phase with the time since the start, a
# line per test as it ends, and a line per minute of a long silence.  At
# the end: each failed test with the command that re-runs it alone and the
# tail of its log, the counts per build, and last the tally line
# "N passed, N failed, N skipped" (each Check case counts once, each fuzz
# target counts as one test: passed when it found no crash in its time;
# the sanitizer build's tests count again; distcheck adds one failure when
# it fails).
#
#   contrib/run-tests.sh            # everything
#   contrib/run-tests.sh --quick    # no distcheck, no sanitizer/fuzz builds
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"
build_san="$top/build-san"
build_fuzz="$top/build-fuzz"
fuzz_secs=${FUZZ_SECS:-20}
fuzz_targets=4
san_cc=${SAN_CC:-clang}
jobs=$(nproc 2>/dev/null || echo 2)
quick=no
[ "${1:-}" = "--quick" ] && quick=yes
start=$(date +%s)

# 75 -> "1m15s"; elapsed: the time since the start, "  1m15s"
dur() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
elapsed() {
	_el=$(($(date +%s) - start))
	printf '%3dm%02ds' $((_el / 60)) $((_el % 60))
}
log() { printf '== [%s] %s\n' "$(elapsed)" "$*"; }

# A Check suite's log: "57 checks" (and the failures), else nothing.
checks_of() {
	_s=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$1" 2>/dev/null | tail -n 1)
	[ -n "$_s" ] || return 0
	_n=$(echo "$_s" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
	_f=$(echo "$_s" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
	_e=$(echo "$_s" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
	if [ $((_f + _e)) -eq 0 ]; then
		printf '%s checks, ' "$_n"
	else
		printf '%s checks, %s failed, ' "$_n" $((_f + _e))
	fi
}

# stream LABEL LOG PREFIX DIR: read a command's output on stdin, keep it in
# LOG, and print each test result line (PASS:, FAIL:, ...) as it comes with
# the time since the previous one (and the Check cases of DIR/TEST.log).
# "@tick@" lines (the ticker's, every 30 s) print a progress line when
# nothing was printed for a minute.
stream() {
	_label=$1 _logf=$2 _prefix=$3 _dir=$4
	: >"$_logf"
	_last=$(date +%s)
	_said=$_last
	while IFS= read -r _line; do
		_now=$(date +%s)
		case $_line in
		@tick@)
			if [ $((_now - _said)) -ge 55 ]; then
				printf '   [%s] ... %s: %s since the last result\n' \
					"$(elapsed)" "$_label" "$(dur $((_now - _last)))"
				_said=$_now
			fi
			continue
			;;
		PASS:* | FAIL:* | SKIP:* | XFAIL:* | XPASS:* | ERROR:*)
			_extra=
			[ -n "$_dir" ] && _extra=$(checks_of "$_dir/${_line#*: }.log")
			printf '   [%s] %s%s (%s%ss)\n' "$(elapsed)" "$_prefix" \
				"$_line" "$_extra" $((_now - _last))
			_last=$_now
			_said=$_now
			;;
		esac
		printf '%s\n' "$_line" >>"$_logf"
	done
}

# Writes "@tick@" every 30 s until its reader is gone (sleep's stdout is
# not the pipe: a killed ticker leaves nothing holding it open).
ticker() {
	while sleep 30 >/dev/null; do
		echo @tick@ || exit 0
	done
}

# run_streamed LABEL LOG PREFIX DIR CMD...: run CMD (stdin /dev/null,
# output kept in LOG) through stream; returns CMD's exit status.
run_streamed() {
	_rlabel=$1 _rlog=$2 _rprefix=$3 _rdir=$4
	shift 4
	rm -f "$_rlog.rc"
	{
		ticker &
		_tpid=$!
		"$@" </dev/null 2>&1
		echo $? >"$_rlog.rc"
		kill "$_tpid" 2>/dev/null
	} | stream "$_rlabel" "$_rlog" "$_rprefix" "$_rdir"
	_rc=$(cat "$_rlog.rc" 2>/dev/null || echo 1)
	rm -f "$_rlog.rc"
	return "$_rc"
}

# The TESTS of the build in the current directory.
tests_of() {
	# shellcheck disable=SC2016
	printf 'run-tests-print:\n\t@echo $(TESTS)\n' |
		make -s -f Makefile -f - run-tests-print 2>/dev/null | tail -n 1
}

# make_check DIR NAME PREFIX: `make check` in DIR, streamed; sets check_rc.
make_check() {
	_t=$(cd "$1" && tests_of)
	_t0=$(date +%s)
	# The test programs first, in parallel (a failure shows again below).
	log "make check TESTS= ($2/): the test programs"
	(cd "$1" && run_streamed "make check TESTS= ($2/)" check-build.log \
		"" "" make -j"$jobs" check TESTS=)
	log "make check ($2/): $(echo "$_t" | wc -w) tests"
	(cd "$1" && run_streamed "make check ($2/)" check.log "$3" "$1" \
		make -j1 check)
	check_rc=$?
	log "make check ($2/) done in $(dur $(($(date +%s) - _t0)))"
}

# count DIR: the tally of DIR's tests in c_pass, c_fail, c_skip; the logs
# of the failed ones in c_failed.  Each Check case counts once (its suite's
# "Checks: N, Failures: F, Errors: E" line); every other test counts once
# by its automake result.
count() {
	c_pass=0 c_fail=0 c_skip=0 c_failed=
	for _trs in $(find "$1" -path '*/homad-*' -prune -o -name '*.trs' -print 2>/dev/null | sort); do
		_res=$(sed -n 's/^:test-result: //p' "$_trs" | head -n 1)
		_logf=${_trs%.trs}.log
		case $_res in
		FAIL | ERROR | XPASS) c_failed="$c_failed $_logf" ;;
		esac
		_s=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$_logf" 2>/dev/null | tail -n 1)
		if [ -n "$_s" ]; then
			_n=$(echo "$_s" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
			_f=$(echo "$_s" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
			_e=$(echo "$_s" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
			c_pass=$((c_pass + _n - _f - _e))
			c_fail=$((c_fail + _f + _e))
		else
			case $_res in
			PASS | XFAIL) c_pass=$((c_pass + 1)) ;;
			SKIP) c_skip=$((c_skip + 1)) ;;
			*) c_fail=$((c_fail + 1)) ;;
			esac
		fi
	done
}

# explain DIR NAME LOG...: for each failed test's log, the commands that
# re-run it alone (one Check case: CK_RUN_CASE) and the tail of its log.
explain() {
	_d=$1 _name=$2
	shift 2
	for _logf in "$@"; do
		_test=${_logf#"$_d"/}
		_test=${_test%.log}
		# The test's name as make check printed it (e2e.sh: e2e.log).
		_t=$(sed -n "s#^[A-Z]*: \($_test\(\.[a-z]*\)\{0,1\}\)\$#\1#p" \
			"$_d/check.log" 2>/dev/null | head -n 1)
		[ -n "$_t" ] && _test=$_t
		echo "---- FAILED ($_name/): $_test"
		echo "  re-run: cd $_d && make check TESTS=$_test"
		# Check's failure lines: FILE:LINE:F|E:TCASE:TEST:ITER: message
		_cases=$(grep -E '^[^:]+:[0-9]+:[FE]:[^:]+:[^:]+:' "$_logf" |
			cut -d: -f4 | sort -u)
		_suite=$(sed -n 's/^Running suite(s): //p' "$_logf" | head -n 1)
		for _c in $_cases; do
			echo "  one case: cd $_d && CK_RUN_SUITE='$_suite' CK_RUN_CASE='$_c' $_test"
		done
		echo "  last 40 lines of $_logf:"
		tail -n 40 "$_logf" | sed 's/^/  | /'
	done
}

# The normal build failed to configure or build: nothing ran.
build_failed() {
	tail -n 60 "$1" 2>/dev/null
	log "$2 FAILED (log: $1)"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
}

cd "$top" || exit 1
log "autoreconf"
autoreconf -fi >/dev/null 2>&1 || { autoreconf -fi; exit 1; }
rm -rf "$build"
mkdir -p "$build"
cd "$build" || exit 1
log "configure --enable-werror (build/)"
"$top/configure" --enable-werror -q >configure.log 2>&1 ||
	build_failed "$build/configure.log" "configure (build/)"
log "make (build/)"
run_streamed "make (build/)" make.log "" "" make -j"$jobs" ||
	build_failed "$build/make.log" "make (build/)"

make_check "$build" build ""
build_rc=$check_rc

dist_rc=0
if [ "$quick" = no ]; then
	# Builds the tarball, then builds and checks it in a read-only copy.
	log "make distcheck (build/): the tarball, built and checked again"
	t0=$(date +%s)
	run_streamed "make distcheck" distcheck.log "distcheck: " "" \
		make -j"$jobs" distcheck
	dist_rc=$?
	log "make distcheck: $([ $dist_rc -eq 0 ] && echo passed || echo FAILED) in $(dur $(($(date +%s) - t0)))"
fi

san_rc=0
san_built=no
fuzz_pass=0
fuzz_fail=0
fuzz_state="not run"
if [ "$quick" = no ]; then
	# The same tests under ASan + UBSan (homad included); any report is
	# fatal (configure: -fno-sanitize-recover=all).
	if ! command -v "$san_cc" >/dev/null 2>&1; then
		echo "sanitizer build: $san_cc not found, using gcc (contrib/install-deps.sh installs clang)"
		san_cc=gcc
	fi
	rm -rf "$build_san"
	mkdir -p "$build_san"
	log "configure CC=$san_cc --enable-werror --enable-sanitizers (build-san/)"
	if (cd "$build_san" && CC=$san_cc "$top/configure" --enable-werror \
		--enable-sanitizers -q >configure.log 2>&1); then
		log "make (build-san/)"
		if (cd "$build_san" && run_streamed "make (build-san/)" make.log \
			"" "" make -j"$jobs"); then
			san_built=yes
			make_check "$build_san" build-san "san: "
			san_rc=$check_rc
		else
			tail -n 40 "$build_san/make.log"
		fi
	else
		tail -n 40 "$build_san/configure.log"
	fi
	if [ $san_built = no ]; then
		echo "sanitizer build FAILED"
		san_rc=2
	fi

	# libFuzzer targets: clang only (--enable-fuzz refuses another CC).
	log "fuzz build (build-fuzz/): CC=clang configure --enable-fuzz; make fuzz"
	t0=$(date +%s)
	rm -rf "$build_fuzz"
	mkdir -p "$build_fuzz"
	if ! command -v clang >/dev/null 2>&1; then
		echo "fuzz: clang not found (contrib/install-deps.sh installs clang and libclang-rt-14-dev)"
		fuzz_fail=$fuzz_targets
		fuzz_state="clang not found"
	elif ! (cd "$build_fuzz" && CC=clang \
		"$top/configure" --enable-werror --enable-fuzz -q >configure.log 2>&1 &&
		run_streamed "make fuzz" make.log "" "" make -j"$jobs" fuzz); then
		tail -n 40 "$build_fuzz/configure.log" "$build_fuzz/make.log" 2>/dev/null
		echo "fuzz build FAILED"
		fuzz_fail=$fuzz_targets
		fuzz_state="build FAILED"
	else
		log "fuzz: tests/fuzz/run.sh, $fuzz_secs s per target"
		run_streamed "fuzz" "$build_fuzz/fuzz.log" "fuzz: " "" \
			sh "$top/tests/fuzz/run.sh" "$build_fuzz" "$fuzz_secs"
		fuzz_pass=$(grep -c '^PASS: ' "$build_fuzz/fuzz.log")
		fuzz_fail=$(grep -c '^FAIL: ' "$build_fuzz/fuzz.log")
		fuzz_state=ran
	fi
	log "fuzz: done in $(dur $(($(date +%s) - t0)))"
fi

# ---- results ---------------------------------------------------------
log "results"
passed=0
failed=0
skipped=0
summary=
# note LABEL TEXT: one line of the counts per build.
note() {
	summary="$summary$(printf '%-31s %s' "$1" "$2")
"
}
# add NAME DIR RC: count DIR's tests, explain its failures, note its line.
add() {
	count "$2"
	# shellcheck disable=SC2086
	explain "$2" "${2##*/}" $c_failed
	if [ "$3" -ne 0 ] && [ $c_fail -eq 0 ]; then
		echo "---- FAILED (${2##*/}/): make check, with no failed test (see ${2##*/}/check.log):"
		tail -n 20 "$2/check.log" 2>/dev/null | sed 's/^/  | /'
		c_fail=1
	fi
	passed=$((passed + c_pass))
	failed=$((failed + c_fail))
	skipped=$((skipped + c_skip))
	note "$1" "$c_pass passed, $c_fail failed, $c_skip skipped"
}
add "normal (build/):" "$build" "$build_rc"
if [ "$quick" = no ]; then
	if [ $san_built = yes ]; then
		add "sanitizer (build-san/, $san_cc):" "$build_san" "$san_rc"
	else
		failed=$((failed + 1))
		note "sanitizer (build-san/):" "build FAILED (1 failure)"
	fi
	# shellcheck disable=SC2013
	for f in $(grep '^FAIL: ' "$build_fuzz/fuzz.log" 2>/dev/null | cut -d' ' -f2); do
		echo "---- FAILED (build-fuzz/): $f"
		echo "  re-run: sh tests/fuzz/run.sh build-fuzz $fuzz_secs $f"
		echo "  the crash: build-fuzz/tests/fuzz/$f build-fuzz/fuzz-out/crashes/$f-*"
		echo "  last 20 lines of build-fuzz/fuzz-out/logs/$f.log:"
		tail -n 20 "$build_fuzz/fuzz-out/logs/$f.log" | sed 's/^/  | /'
	done
	passed=$((passed + fuzz_pass))
	failed=$((failed + fuzz_fail))
	if [ "$fuzz_state" = ran ]; then
		note "fuzz (build-fuzz/):" "$fuzz_pass passed, $fuzz_fail failed"
	else
		note "fuzz (build-fuzz/):" "$fuzz_state ($fuzz_fail failures)"
	fi
	if [ $dist_rc -eq 0 ]; then
		note "distcheck (build/):" "passed (its tests are not counted again)"
	else
		failed=$((failed + 1))
		echo "---- FAILED (build/): make distcheck"
		echo "  re-run: cd $build && make distcheck"
		grep -E '^(FAIL|ERROR|XPASS): ' "$build/distcheck.log" |
			sed 's/^/  its test /'
		echo "  its tests' logs: $build/homad-*/_build/sub/"
		echo "  last 25 lines of $build/distcheck.log:"
		tail -n 25 "$build/distcheck.log" | sed 's/^/  | /'
		note "distcheck (build/):" "FAILED (1 failure)"
	fi
fi
printf '%s' "$summary"
log "done"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
