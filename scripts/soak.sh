#!/bin/bash
# soak.sh - run cs_fsx against a real cstorfs mount for SOAK_MINUTES (default 30).
#
#   make soak [SOAK_MINUTES=N]     or     SOAK_MINUTES=N BUILD=build scripts/soak.sh
#
# One fresh store (three volumes) in a temporary directory; the checker runs in rotating modes
# (plain, evict, remount, restart, kill -9, several files with hard links, O_DIRECT,
# everything at once, and volumes of 4 KiB and 1 MiB chunks, as test_fsx.py has them),
# SOAK_RUN_SECONDS (default 60) a run, seeds SOAK_SEED (default: the
# time) + 0, 1, 2, ... Prints each run's summary, then the total operations and crashes
# survived. At the first failure it stops, keeps the run's log as BUILD/soak-fail-SEED.log,
# prints the replay command and exits 1. The mount, the daemon and the temporary directory
# go on every exit.
set -u
BUILD=$(realpath "${BUILD:-build}")
MINUTES=${SOAK_MINUTES:-30}

# SOAK_JOBS (default 2) independent rotations side by side, each with its own store, daemon,
# mount and seeds (SOAK_SEED + 1000 * job): the totals are their sums; the first failure
# fails the whole soak (the others run to their end).
JOBS=${SOAK_JOBS:-2}
if [ "$JOBS" -gt 1 ]; then
	base=${SOAK_SEED:-$(date +%s)}
	outs=$(mktemp -d /tmp/cstorfs-soakjobs.XXXXXX)
	trap 'rm -rf "$outs"' EXIT
	for j in $(seq 0 $((JOBS - 1))); do
		SOAK_JOBS=1 SOAK_SEED=$((base + 1000 * j)) "$0" >"$outs/$j" 2>&1 &
	done
	rc=0
	for j in $(seq 0 $((JOBS - 1))); do wait -n || rc=1; done
	for j in $(seq 0 $((JOBS - 1))); do sed "s/^soak:/soak[job $j]:/" "$outs/$j"; done
	sum() { cat "$outs"/* | sed -n "s/^soak: ok: .* \([0-9]*\) $1.*/\1/p" | awk '{ s += $1 } END { print s + 0 }'; }
	[ $rc = 0 ] && echo "soak: ok: $JOBS jobs x $MINUTES min, $(sum operations) operations," \
		"$(sum 'kill -9') kill -9 crashes survived"
	exit $rc
fi

RUN=${SOAK_RUN_SECONDS:-60}
SEED0=${SOAK_SEED:-$(date +%s)}
FSX=$BUILD/cs_fsx
EVENTS=$(realpath "$(dirname "$0")/../tests/fsx/cstorfs-events.sh")
EVICT='echo 2 > /proc/sys/vm/drop_caches'

for p in cs_fsx cstorfsd cstorfs-ctl cstorfs; do
	[ -x "$BUILD/$p" ] || { echo "soak: $BUILD/$p missing (run make)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "soak: needs root (FUSE mounts, drop_caches)" >&2; exit 2; }

W=$(mktemp -d /tmp/cstorfs-soak.XXXXXX)
S=$W/store M=$W/mnt
mkdir -p "$S" "$M"

cleanup() {
	local pid
	fusermount3 -u "$M" 2>/dev/null || fusermount3 -u -z "$M" 2>/dev/null
	pid=$(cat "$S/cstorfsd.pid" 2>/dev/null)
	if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
		timeout 30 "$BUILD/cstorfs-ctl" --store "$S" daemon stop >/dev/null 2>&1
		for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
		[ -d "/proc/$pid" ] && kill -9 "$pid"
	fi
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export PATH="$BUILD:$PATH"
"$BUILD/cstorfsd" --store "$S" --create || exit 2
"$BUILD/cstorfs-ctl" --store "$S" volume create soak >/dev/null || exit 2
"$BUILD/cstorfs-ctl" --store "$S" volume create soak4k --chunk-size 4K >/dev/null || exit 2
"$BUILD/cstorfs-ctl" --store "$S" volume create soak1m --chunk-size 1M >/dev/null || exit 2
VOL=soak
"$BUILD/cstorfs" "$S:$VOL" "$M" || exit 2

# Mount volume $1 at $M in place of the one there (a run's files are all closed).
use_volume() {
	[ "$1" = "$VOL" ] && return 0
	fusermount3 -u "$M" || return 1
	VOL=$1
	"$BUILD/cstorfs" "$S:$VOL" "$M"
}

ev() { printf '%q ' "$EVENTS" "$BUILD" "$S" "$VOL" "$M" "$1"; }
MODES=(plain evict remount restart kill links direct all chunk4k chunk1m)
mode_args() {
	case $1 in
	plain) ;;
	evict) A+=(--evict "$EVICT") ;;
	remount) A+=(--remount "$(ev remount)" --event-prob 0.005) ;;
	restart) A+=(--restart "$(ev restart)" --event-prob 0.005) ;;
	kill) A+=(--kill "$(ev kill)" --event-prob 0.005) ;;
	links) A+=(--files 4 --links --evict "$EVICT") ;;
	direct) A+=(--direct --files 2) ;;
	all) A+=(--files 3 --links --direct --evict "$EVICT" --remount "$(ev remount)"
		--restart "$(ev restart)" --kill "$(ev kill)" --event-prob 0.005) ;;
	chunk4k) A+=(--direct --files 2 --restart "$(ev restart)" --event-prob 0.005) ;;
	chunk1m) A+=(--remount "$(ev remount)" --event-prob 0.005) ;;
	esac
}

end=$(($(date +%s) + MINUTES * 60))
ops=0 kills=0 restarts=0 remounts=0 evicts=0 runs=0
while [ "$(date +%s)" -lt "$end" ]; do
	mode=${MODES[$((runs % ${#MODES[@]}))]}
	seed=$((SEED0 + runs))
	left=$((end - $(date +%s)))
	secs=$((left < RUN ? (left < 5 ? 5 : left) : RUN))
	case $mode in chunk4k) v=soak4k ;; chunk1m) v=soak1m ;; *) v=soak ;; esac
	use_volume $v || { echo "soak: cannot mount volume $v for run $runs" >&2; exit 1; }
	d=$M/run$runs
	mkdir "$d" && sleep 1 && stat "$d" >/dev/null || exit 1 # attributes the kernel holds
	A=(--seed "$seed" --seconds "$secs" --log "$W/run.log")
	mode_args "$mode"
	[ "$mode" = evict ] || A+=(--sleep-prob 0.0005)
	out=$(timeout $((secs + 300)) "$FSX" "${A[@]}" "$d" 2>"$W/err")
	rc=$?
	echo "soak: run $runs ($mode): ${out:-no summary}"
	if [ $rc -ne 0 ]; then
		cp "$W/run.log" "$BUILD/soak-fail-$seed.log"
		cat "$W/err" >&2
		echo "soak: FAILED in run $runs ($mode, volume $VOL, seed $seed, exit $rc); log kept:" \
			"$BUILD/soak-fail-$seed.log" >&2
		echo "soak: replay on a fresh volume: $FSX --replay $BUILD/soak-fail-$seed.log" \
			"$(printf '%q ' "${A[@]:6}")DIR" >&2
		exit 1
	fi
	rm -rf "$d"
	for k in ops kill restart remount evict; do
		v=$(sed -n "s/.* $k=\([0-9]*\).*/\1/p" <<<"$out")
		case $k in
		ops) ops=$((ops + v)) ;; kill) kills=$((kills + v)) ;;
		restart) restarts=$((restarts + v)) ;; remount) remounts=$((remounts + v)) ;;
		evict) evicts=$((evicts + v)) ;;
		esac
	done
	runs=$((runs + 1))
done
echo "soak: ok: $runs runs in $MINUTES min, $ops operations, $kills kill -9 crashes," \
	"$restarts restarts, $remounts remounts, $evicts evictions survived (seeds $SEED0..$((SEED0 + runs - 1)))"
