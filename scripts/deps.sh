#!/bin/sh
# deps.sh - install the Debian packages cstorfs needs, when any is missing.
#
# Usage: scripts/deps.sh [build|test|bench]   (default: test)
# Idempotent and quiet when everything is there; needs root (or sudo) only
# when something must be installed. Non-interactive: safe in CI.
set -eu

BUILD="build-essential pkg-config librocksdb-dev libzstd-dev libcjson-dev
libssl-dev libmicrohttpd-dev libcurl4-openssl-dev libfuse3-dev fuse3 librados-dev
libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler"
TEST="libcmocka-dev python3 python3-pytest python3-yaml attr util-linux procps docker.io busybox-static
systemd git ceph-mon ceph-osd ceph-mgr ceph-common python3-grpcio python3-grpc-tools"
FUZZ="clang libclang-rt-14-dev"
BENCH="fio linux-perf btrfs-progs"

want="$BUILD"
case "${1:-test}" in
build) ;;
test) want="$BUILD $TEST $FUZZ" ;;
bench) want="$BUILD $TEST $FUZZ $BENCH" ;;
*) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps.sh: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
		echo "deps.sh: missing packages:$missing; run as root to install them" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
