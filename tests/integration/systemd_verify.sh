#!/bin/sh
# systemd_verify.sh - `systemd-analyze verify` on the built units:
# homad.service, homad.socket and the scrape units homad-metrics.socket and
# homad-metrics@.service (as the instance homad-metrics@0.service).
#
# The generated services name the installed homad (sbindir) and homactl
# (bindir), which need not exist yet: the units are copied into a
# temporary directory with ExecStart pointing at the programs just built.  Any message about our units
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
msocket="$top_srcdir/systemd/homad-metrics.socket"
mservice="$top_builddir/systemd/homad-metrics@.service"
homad="$top_builddir/homad"
homactl="$top_builddir/homactl"
for f in "$service" "$socket" "$msocket" "$mservice" "$homad" "$homactl"; do
	if [ ! -f "$f" ]; then
		echo "FAIL: $f is missing (run make first)"
		exit 1
	fi
done
case "$homad" in
/*) ;;
*) homad="$(pwd)/$homad" ;;
esac
case "$homactl" in
/*) ;;
*) homactl="$(pwd)/$homactl" ;;
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
if ! grep -q '^ExecStart=[^ ]*/homactl metrics --http$' "$mservice"; then
	echo "FAIL: no ExecStart=.../homactl metrics --http line in $mservice"
	exit 1
fi
if ! grep -q '^ListenStream=127\.0\.0\.1:9146$' "$msocket" ||
	! grep -q '^Accept=yes$' "$msocket"; then
	echo "FAIL: $msocket does not listen on 127.0.0.1:9146 with Accept=yes"
	exit 1
fi
sed "s|^ExecStart=[^ ]*/homactl|ExecStart=$homactl|" "$mservice" \
	>"$tmp/homad-metrics@.service"
cp "$msocket" "$tmp/homad-metrics.socket"
# An instance, as the socket starts them (a template alone is not loaded).
cp "$tmp/homad-metrics@.service" "$tmp/homad-metrics@0.service"

# --man=no: the man pages are not installed yet.  Offline verification:
# no running systemd is needed.
systemd-analyze verify --man=no "$tmp/homad.service" "$tmp/homad.socket" \
	"$tmp/homad-metrics.socket" "$tmp/homad-metrics@0.service" \
	>"$tmp/out" 2>&1
rc=$?
cat "$tmp/out"
if [ $rc -ne 0 ]; then
	echo "FAIL: systemd-analyze verify exited $rc"
	exit 1
fi
if grep -q 'homad\(-metrics@\?[0-9]*\)\?\.\(service\|socket\)' "$tmp/out"; then
	echo "FAIL: systemd-analyze verify complained about the units"
	exit 1
fi
echo "PASS: homad.service, homad.socket, homad-metrics.socket and" \
	"homad-metrics@.service verify cleanly"
exit 0
