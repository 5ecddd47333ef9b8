#!/bin/sh
# build-managed-plugin.sh - build the cstorfs managed (v2) Docker plugin:
# a rootfs holding the built binaries (cstorfs-docker-plugin, cstorfsd,
# cstorfs-ctl), the shared libraries they load (found with ldd), fusermount3
# and the directories the plugin needs, next to config.json; then
# `docker plugin create NAME DIR`.
#
# Usage: plugin-shims/docker/build-managed-plugin.sh [--rootfs-only DIR] [NAME]
#   NAME           plugin name (default cstorfs); enable it with
#                  `docker plugin enable NAME`, use it with -d NAME
#   --rootfs-only  only assemble the plugin directory (config.json, rootfs/)
#                  in DIR, without calling docker
# Environment: BUILD (default build/), DOCKER (default docker; may carry
# flags, e.g. "docker -H unix:///run/other.sock").
# Run `make` first. Needs root for `docker plugin create`.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$repo/build}
DOCKER=${DOCKER:-docker}
only=""
if [ "${1:-}" = "--rootfs-only" ]; then
	[ $# -ge 2 ] || { echo "usage: $0 [--rootfs-only DIR] [NAME]" >&2; exit 2; }
	only=$2
	shift 2
fi
NAME=${1:-cstorfs}

bins="$BUILD/cstorfs-docker-plugin $BUILD/cstorfsd $BUILD/cstorfs-ctl"
for b in $bins; do
	[ -x "$b" ] || { echo "$0: $b missing: run make first" >&2; exit 1; }
done
fusermount=$(command -v fusermount3 || true)
[ -n "$fusermount" ] || { echo "$0: fusermount3 not found (apt-get install fuse3)" >&2; exit 1; }

if [ -n "$only" ]; then
	dir=$only
	mkdir -p "$dir"
else
	dir=$(mktemp -d)
	trap 'rm -rf "$dir"' EXIT
fi
root=$dir/rootfs
rm -rf "$root"
mkdir -p "$root/usr/sbin" "$root/usr/bin" "$root/run/docker/plugins" "$root/mnt/cstorfs" \
	"$root/var/lib/cstorfs" "$root/tmp" "$root/dev" "$root/proc" "$root/sys" "$root/etc"
chmod 1777 "$root/tmp"

# Copy @1 into the rootfs at the same path (symlinks resolved).
copy_in() {
	mkdir -p "$root$(dirname "$1")"
	cp -L "$1" "$root$1"
}

for b in $bins; do
	cp "$b" "$root/usr/sbin/"
done
cp "$fusermount" "$root/usr/bin/fusermount3"

# Shared libraries and the dynamic loader, as ldd lists them.
for b in $bins "$fusermount"; do
	ldd "$b" | awk '/=> \// {print $3} /^\t\// {print $1}'
done | sort -u | while read -r lib; do
	copy_in "$lib"
done

printf 'root:x:0:0:root:/:/usr/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf 'user_allow_other\n' >"$root/etc/fuse.conf"
cp "$here/config.json" "$dir/config.json"

if [ -n "$only" ]; then
	echo "plugin directory ready in $dir (config.json, rootfs/)"
	exit 0
fi
$DOCKER plugin create "$NAME" "$dir"
echo "created plugin $NAME; enable it with: $DOCKER plugin enable $NAME"
