#!/bin/sh
# Install every package needed to build, test and run homad on Debian 12.
# Idempotent: packages already present are left alone.  Run as root.
set -eu

PKGS="
build-essential pkg-config autoconf automake libtool make
liburing-dev libev-dev libconfig-dev libsystemd-dev
libprotobuf-c-dev protobuf-c-compiler check libpcap-dev libjson-c-dev libcap-dev
iproute2 nftables libcap2-bin systemd clang-format python3 gzip xz-utils
gnuplot-nox iputils-ping valgrind
clang libclang-rt-14-dev
"

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

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
