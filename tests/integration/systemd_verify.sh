#!/bin/sh
# systemd_verify.sh - `systemd-analyze verify` on the built units.
#
# The generated homad.service names the installed homad (sbindir), which
# need not exist yet: the units are copied into a temporary directory with
# ExecStart pointing at the homad just built.  Any message about our units
# (or a non-zero exit) fails the test.  Skips (77) only when systemd-analyze
# is not installed.
set -u

: "${top_builddir:?top_builddir must be set (make check sets it)}"
: "${top_srcdir:?top_srcdir must be set (make check sets it)}"

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze not found (Debian package: systemd)"
	exit 77
fi

service="$top_builddir/systemd/homad.service"
socket="$top_srcdir/systemd/homad.socket"
homad="$top_builddir/homad"
for f in "$service" "$socket" "$homad"; do
	if [ ! -f "$f" ]; then
		echo "FAIL: $f is missing (run make first)"
		exit 1
	fi
done
case "$homad" in
/*) ;;
*) homad="$(pwd)/$homad" ;;
esac

tmp=$(mktemp -d /tmp/homad-units.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

if ! grep -q '^ExecStart=[^ ]*/homad\( \|$\)' "$service"; then
	echo "FAIL: no ExecStart=.../homad line in $service"
	exit 1
fi
sed "s|^ExecStart=[^ ]*/homad|ExecStart=$homad|" "$service" \
	>"$tmp/homad.service"
cp "$socket" "$tmp/homad.socket"

# --man=no: the man pages are not installed yet.  Offline verification:
# no running systemd is needed.
systemd-analyze verify --man=no "$tmp/homad.service" "$tmp/homad.socket" \
	>"$tmp/out" 2>&1
rc=$?
cat "$tmp/out"
if [ $rc -ne 0 ]; then
	echo "FAIL: systemd-analyze verify exited $rc"
	exit 1
fi
if grep -q 'homad\.\(service\|socket\)' "$tmp/out"; then
	echo "FAIL: systemd-analyze verify complained about the units"
	exit 1
fi
echo "PASS: homad.service and homad.socket verify cleanly"
exit 0
