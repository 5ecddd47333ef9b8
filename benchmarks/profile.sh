#!/bin/bash
# profile.sh - perf profiles of cstorfsd under the harness's workloads.
#
#   benchmarks/profile.sh OUTDIR WORKLOAD PHASE...
#
# Runs benchmarks/run.sh for cstorfs only (one round, BENCH_QUICK sizes unless BENCH_QUICK=0),
# and for each PHASE named (seq_incomp_write, seq_incomp_read, seq_comp_write, seq_comp_read,
# randread_buf, randwrite_buf, randread_dir, randwrite_dir, meta_create, meta_write, meta_stat,
# meta_readdir, meta_orc, meta_unlink, tree, wdw, randwrite_dir4k) attaches `perf record --call-graph dwarf` to that
# phase's cstorfsd until the next phase starts or the daemon exits. Writes OUTDIR/PHASE.data
# and OUTDIR/PHASE.txt (self time by library, samples per thread, inclusive time by symbol).
# Build first (make all, plus build/bench/* as `make bench` does). Example:
#   benchmarks/profile.sh /var/tmp/prof seq seq_incomp_write seq_incomp_read
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: profile.sh OUTDIR WORKLOAD PHASE...}
wl=${2:?usage: profile.sh OUTDIR WORKLOAD PHASE...}
shift 2
mkdir -p "$out"
hold=$out/hold
rm -f "$hold"
PERF_PIDS=()
cleanup() {
	local p
	for p in "${PERF_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	[ -n "${RUN_PID:-}" ] && kill -TERM "$RUN_PID" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT

BENCH_DIR=${BENCH_DIR:-/var/tmp/cstorfs-bench/profile} BENCH_HOLD=$hold BENCH_SYSTEMS=cstorfs BENCH_WORKLOADS=$wl BENCH_ROUNDS=1 \
	BENCH_QUICK=${BENCH_QUICK:-1} BENCH_OUT=$out/RESULTS.md "$ROOT/benchmarks/run.sh" >"$out/run.log" 2>&1 &
RUN_PID=$!
while kill -0 "$RUN_PID" 2>/dev/null; do
	if [ -e "$hold" ]; then
		read -r pid phase <"$hold"
		# a new phase: end the previous phase's perf
		for p in "${PERF_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
		PERF_PIDS=()
		for want in "$@"; do
			if [ "$want" = "$phase" ]; then
				echo "profile.sh: perf on cstorfsd $pid during $phase" >&2
				perf record -F 999 --call-graph dwarf,16384 -p "$pid" -o "$out/$phase.data" \
					>"$out/$phase.perf.log" 2>&1 &
				PERF_PIDS+=($!)
				sleep 1
			fi
		done
		rm -f "$hold"
	fi
	sleep 0.1
done
wait "$RUN_PID" || { echo "profile.sh: run.sh failed, see $out/run.log" >&2; exit 1; }
for p in "${PERF_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
PERF_PIDS=()
for want in "$@"; do
	[ -s "$out/$want.data" ] || continue
	{
		# Debian's librocksdb/libzstd have no symbols for internal functions: self time by
		# library is the useful flat view, the inclusive view names the exported entry points.
		echo "### $want: self time by library"
		perf report -i "$out/$want.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^$' | head -20
		echo "### $want: samples per thread id"
		perf script -i "$out/$want.data" -F tid 2>/dev/null | sort | uniq -c | sort -rn | head -10
		echo "### $want: inclusive (children) by symbol"
		perf report -i "$out/$want.data" --children --sort sym --stdio --percent-limit 5 -g none 2>/dev/null | grep -v '^$' | head -60
	} >"$out/$want.txt"
	echo "profile.sh: $out/$want.txt" >&2
done
