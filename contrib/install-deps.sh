#!/bin/sh
# Install the packages needed to build, test and run homad on Debian 12.
# Only what is missing: packages already present are left alone, never
# upgraded (apt-get install --no-upgrade, naming only the missing ones), and
# `apt-get update` runs only when something is missing.  Prints one line
# per package it adds; apt's own output goes to a log file that is shown
# only when apt fails.  Run as root.
set -eu

PKGS="
build-essential pkg-config autoconf automake libtool make
liburing-dev libev-dev libconfig-dev libsystemd-dev
libprotobuf-c-dev protobuf-c-compiler check libpcap-dev libjson-c-dev libcap-dev
iproute2 nftables libcap2-bin systemd clang-format python3 gzip xz-utils
gnuplot-nox iputils-ping valgrind curl prometheus
clang libclang-rt-14-dev
tshark systemd-container
"
# tshark asks whether non-root users may capture (wireshark-common); under
# DEBIAN_FRONTEND=noninteractive below it takes the default, no.

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "install-deps: all build and test dependencies are present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: need root to install:$missing" >&2
	exit 1
fi

log=$(mktemp "${TMPDIR:-/tmp}/homad-install-deps.XXXXXX") || exit 1
# apt failed: show its output, keep the log, stop.
apt_failed() {
	echo "install-deps: $1 failed; its output ($log):" >&2
	cat "$log" >&2
	exit 1
}
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing:$missing (apt's output: $log)"
apt-get update -qq >>"$log" 2>&1 || apt_failed "apt-get update"
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends --no-upgrade $missing \
	>>"$log" 2>&1 || apt_failed "apt-get install$missing"
for p in $missing; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		echo "install-deps: $p is still not installed" >>"$log"
		apt_failed "installing $p"
	fi
	echo "install-deps: added $p"
done
rm -f "$log"
