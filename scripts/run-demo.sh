#!/bin/sh
# run-demo.sh - `make run`: a store in ./store-demo (or $CSTORFS_STORE), a
# volume "demo" in it, mounted at ./mnt. Run from the repository root after
# building. Idempotent: a second run notices the mount and says so.
set -eu

cd "$(dirname "$0")/.."
CTL=build/cstorfs-ctl
MOUNT=build/cstorfs
STORE=${CSTORFS_STORE:-./store-demo}
VOLUME=demo
MNT=./mnt

for p in "$CTL" "$MOUNT" build/cstorfsd; do
	if [ ! -x "$p" ]; then
		echo "run-demo.sh: $p is missing; run make first" >&2
		exit 1
	fi
done
if [ ! -e /dev/fuse ]; then
	echo "run-demo.sh: /dev/fuse is missing (modprobe fuse?)" >&2
	exit 1
fi

# Use the daemon built here, not one found elsewhere.
CSTORFSD=$(pwd)/build/cstorfsd
export CSTORFSD

mkdir -p "$STORE" "$MNT"
STORE=$(cd "$STORE" && pwd)
MNT=$(cd "$MNT" 2>/dev/null && pwd || echo "$(pwd)/mnt")

if "$CTL" --store "$STORE" volume inspect "$VOLUME" >/dev/null 2>&1; then
	echo "volume '$VOLUME' exists in $STORE"
else
	"$CTL" --store "$STORE" volume create "$VOLUME"
fi

if awk -v m="$MNT" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo; then
	echo "$MNT is already mounted"
else
	"$MOUNT" "$STORE:$VOLUME" "$MNT"
	echo "mounted volume '$VOLUME' of $STORE at $MNT"
fi

cat <<EOF

Use it:
  echo hello > $MNT/hello.txt; ls -l $MNT
  $CTL --store $STORE status
  $CTL --store $STORE volume inspect $VOLUME

Unmount and stop:
  fusermount3 -u $MNT
  $CTL --store $STORE daemon stop
EOF
