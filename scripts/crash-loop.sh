#!/bin/sh
# crash-loop.sh - the crash loop (tests/integration/test_crash.py) for as long as asked.
#
#   scripts/crash-loop.sh [MINUTES]      default 30; BUILD=DIR names the build directory
#
# Runs the pytest crash test again and again, each run a fresh store, its own seed and about a
# minute of kill -9 / remount / check cycles, until MINUTES have passed; stops at the first
# failure, which it prints whole (seed, cycle, the operations involved). At the end: the runs,
# crash cycles, operations and fsyncs survived, and the command. Exit 0 when every run passed.
# Called by `make crash-soak` (CRASH_SOAK_MINUTES).
set -u

minutes=${1:-30}
case $minutes in '' | *[!0-9]*) echo "usage: $0 [MINUTES]" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$here" && cd "${BUILD:-build}" && pwd) || exit 2
tmp=$(mktemp -d /tmp/crash-loop.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

report=$tmp/report.jsonl
: >"$report"
end=$(($(date +%s) + minutes * 60))
runs=0
status=0
echo "crash loop: $minutes minutes with $build"
while [ "$(date +%s)" -lt "$end" ]; do
	left=$((end - $(date +%s)))
	secs=60
	[ "$left" -lt "$secs" ] && secs=$left
	[ "$secs" -lt 5 ] && secs=5
	runs=$((runs + 1))
	if ! (cd "$here" && CSTORFS_BUILD="$build" CRASH_SECONDS=$secs CRASH_REPORT="$report" \
		/usr/bin/python3 -m pytest -q -s -p no:cacheprovider \
		tests/integration/test_crash.py >"$tmp/run.log" 2>&1); then
		cat "$tmp/run.log"
		echo "crash loop: run $runs FAILED (its seed is in the output above)"
		status=1
		break
	fi
	tail -n 1 "$report"
done
/usr/bin/python3 - "$report" "$runs" "$minutes" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
keys = ("cycles", "startup_kills", "snapshots", "ops", "syncs", "files")
tot = {k: sum(r.get(k, 0) for r in rows) for k in keys}
print(f"crash loop: {sys.argv[2]} runs in {sys.argv[3]} minutes: {tot['cycles']} cycles "
      f"(kill -9 while writing, remount, verify, cstorfs-ctl check), "
      f"{tot['startup_kills']} more kills of a starting daemon, {tot['snapshots']} snapshots "
      f"taken while writing and verified, {tot['ops']} operations, {tot['syncs']} fsyncs, "
      f"{tot['files']} files verified")
EOF
echo "command: make crash-soak CRASH_SOAK_MINUTES=$minutes (scripts/crash-loop.sh $minutes)"
exit $status
