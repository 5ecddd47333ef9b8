#!/bin/bash
# run.sh - issue 7's benchmark harness: cstorfs beside the native filesystem and libfuse's
# passthrough_ll, in the same run and on the same disk. Called by `make bench` (which installs
# the tools and builds everything first); writes benchmarks/RESULTS.md.
#
# Environment:
#   BENCH_QUICK=1      smoke run: small sizes, one round (a couple of minutes)
#   BENCH_DIR=DIR      where the systems live (default /var/tmp/cstorfs-bench; never tmpfs)
#   BENCH_ROUNDS=N     rounds (default 3; medians need >= 3)
#   BENCH_SYSTEMS="native ptll cstorfs"       subset of systems
#   BENCH_WORKLOADS="seq rand meta tree wdw rados"  subset of workloads (wdw: write-delete-write;
#                      rados: a volume on a one-node Ceph pool beside `rados bench`, cstorfs only)
#   BENCH_RADOS_ROUNDS=N  rounds that run the rados workload (default all; each boots a cluster,
#                      about 40 s a round in full mode). One workload alone, small:
#                      BENCH_QUICK=1 BENCH_SYSTEMS=cstorfs BENCH_WORKLOADS=rados
#   BENCH_OUT=FILE     report path (default benchmarks/RESULTS.md)
#   BENCH_KEEP_BIN=1   reuse the binaries the previous run copied to build/bench/bin
#                      (profile the very build that produced RESULTS.md)
#   BENCH_HOLD=FILE    (profiling, benchmarks/profile.sh) before each cstorfs workload phase,
#                      write the daemon pid and phase name to FILE, wait until FILE is removed
#
# Everything it mounts is unmounted and every daemon it starts is stopped on exit, error or
# Ctrl-C (trap). Needs root (drop_caches, FUSE mounts).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build
BB=$B/bench
# The product binaries are copied to $BB/bin at start, so the whole run measures one build
# even if build/ is rebuilt meanwhile (the client starts the cstorfsd beside itself).
CTL=$BB/bin/cstorfs-ctl
PTLL=$BB/passthrough_ll
META=$BB/metabench
PY=/usr/bin/python3
BENCH_DIR=${BENCH_DIR:-/var/tmp/cstorfs-bench}
QUICK=${BENCH_QUICK:-0}
SYSTEMS=${BENCH_SYSTEMS:-native ptll cstorfs}
WORKLOADS=${BENCH_WORKLOADS:-seq rand meta tree wdw rados}
OUT=${BENCH_OUT:-$ROOT/benchmarks/RESULTS.md}

if [ "$QUICK" = 1 ]; then
	ROUNDS=${BENCH_ROUNDS:-1}
	SEQ_MIB=128 RAND_MIB=32 RAND_RT=2 META_FILES=2000 WDW_MIB=128 RADOS_MIB=128
else
	ROUNDS=${BENCH_ROUNDS:-3}
	SEQ_MIB=1024 RAND_MIB=256 RAND_RT=6 META_FILES=20000 WDW_MIB=512 RADOS_MIB=1024
fi
RADOS_ROUNDS=${BENCH_RADOS_ROUNDS:-$ROUNDS}
RADOS_BS=65536	# rados bench's object size: the 64 KiB of a cstorfs chunk
CEPH_DEV=$ROOT/scripts/ceph-dev.sh
CEPH_DIR=""	# the cluster we started (stopped on every path)
WDW_LOOPS=4
META_DIRS=20
RES=$BENCH_DIR/results.tsv
FAIL=$RES.fail
LOG=$BENCH_DIR/log
TARBALL=$BENCH_DIR/pytree.tar

say() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (drop_caches and mounts need it)"
mkdir -p "$BB/bin"
if [ "${BENCH_KEEP_BIN:-0}" != 1 ] || [ ! -x "$BB/bin/cstorfsd" ]; then
	cp -p "$B/cstorfs-ctl" "$B/cstorfsd" "$BB/bin/" || die "build first (make all)"
fi
export CSTORFSD=$BB/bin/cstorfsd
for t in "$CTL" "$CSTORFSD" "$PTLL" "$META" fio "$PY" fusermount3 mountpoint; do
	command -v "$t" >/dev/null || die "missing $t (run through 'make bench')"
done

# ---------------------------------------------------------------- cleanup
MOUNTED=()   # mount points we mounted
PTLL_PIDS=() # passthrough_ll processes we started
STORES=()    # cstorfs stores whose daemon we may have started

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

wait_gone() { # PID SECONDS
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		pid_alive "$1" || return 0
		sleep 0.1
	done
	return 1
}

unmount_mp() {
	local mp=$1 i
	for ((i = 0; i < 50; i++)); do
		mountpoint -q "$mp" 2>/dev/null || return 0
		fusermount3 -u "$mp" 2>/dev/null || umount "$mp" 2>/dev/null || true
		mountpoint -q "$mp" 2>/dev/null || return 0
		sleep 0.2
	done
	say "lazy unmount of $mp"
	fusermount3 -uz "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
}

stop_store() {
	local st=$1 pid=""
	[ -f "$st/cstorfsd.pid" ] && pid=$(cat "$st/cstorfsd.pid" 2>/dev/null || true)
	pid_alive "$pid" || return 0
	"$CTL" --store "$st" daemon stop >/dev/null 2>&1 || true
	wait_gone "$pid" 30 && return 0
	say "cstorfsd $pid did not stop; SIGTERM"
	kill -TERM "$pid" 2>/dev/null || true
	wait_gone "$pid" 10 && return 0
	kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$? mp pid st
	set +e
	trap - EXIT INT TERM
	for mp in "${MOUNTED[@]}"; do unmount_mp "$mp"; done
	for pid in "${PTLL_PIDS[@]}"; do
		if pid_alive "$pid"; then
			kill -TERM "$pid" 2>/dev/null
			wait_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null
		fi
	done
	for st in "${STORES[@]}"; do stop_store "$st"; done
	# after the stores: a daemon whose cluster is gone would wait on it
	if [ -n "$CEPH_DIR" ]; then
		"$CEPH_DEV" stop "$CEPH_DIR" >>"$LOG" 2>&1 || say "WARNING: ceph-dev.sh stop $CEPH_DIR failed"
	fi
	for mp in "${MOUNTED[@]}"; do
		mountpoint -q "$mp" 2>/dev/null && say "WARNING: $mp still mounted"
	done
	[ "$rc" = 0 ] || say "failed (exit $rc); log: $LOG"
	exit "$rc"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT
trap 'say terminated; exit 143' TERM

# ---------------------------------------------------------------- helpers
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

now() { echo "$EPOCHREALTIME"; }
elapsed() { $PY -c "import sys; print('%.4f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }

ROUND=0
rec() { printf '%s\t%s\t%s\t%s\n' "$ROUND" "$1" "$2" "$3" >>"$RES"; }
recfail() { printf '%s\t%s\t%s\t%s\n' "$ROUND" "$1" "$2" "$3" >>"$FAIL"; }

# CPU seconds (all threads) of PID
cpu_s() {
	local f
	read -r -a f <"/proc/$1/stat"
	# the comm field has no spaces here (cstorfsd, passthrough_ll): utime=14 stime=15
	$PY -c "import os,sys; print((int(sys.argv[1])+int(sys.argv[2]))/os.sysconf('SC_CLK_TCK'))" "${f[13]}" "${f[14]}"
}

# record VmRSS and VmHWM (KiB) of the current daemon under PHASE
rec_mem() {
	local sys=$1 phase=$2 pid
	pid=$(daemon_pid "$sys")
	[ -n "$pid" ] || return 0
	rec "$sys" "rss_$phase" "$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")"
	rec "$sys" "hwm_$phase" "$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")"
}

# fio NAME ARGS... -> "MiB/s IOPS p99us" on stdout; non-zero on failure
run_fio() {
	local name=$1 js=$BENCH_DIR/fio-$1.json err=$BENCH_DIR/fio-$1.err rc=0
	shift
	echo "fio $name $*" >>"$LOG"
	fio --name="$name" --ioengine=psync --output-format=json --output="$js" "$@" >"$err" 2>&1 || rc=$?
	cat "$err" >>"$LOG"
	if [ "$rc" != 0 ]; then
		cat "$js" >>"$LOG" 2>/dev/null
		return 1
	fi
	$PY "$ROOT/benchmarks/bench.py" fio "$js"
}

# the error fio reported for job NAME, e.g. "Invalid argument"
fio_err() {
	local e
	e=$(grep -o 'io_u error on file [^:]*: [^:]*' "$BENCH_DIR/fio-$1.err" 2>/dev/null | tail -1 | sed 's/.*: //')
	[ -n "$e" ] || e=$(grep -m1 -o 'fio: .*' "$BENCH_DIR/fio-$1.err" 2>/dev/null | cut -c6-60 | tr '|' '/')
	echo "${e:-error}"
}

# ---------------------------------------------------------------- systems
# sys_up SYS: fresh, mounted; sets WD (where the workload works)
# sys_cold SYS: unmount, stop the FUSE daemon, drop caches, start and remount (same data)
# sys_down SYS: unmount, stop, remove everything
WD=""
PTLL_PID=""

ptll_mount() {
	local src=$BENCH_DIR/ptll/src mp=$BENCH_DIR/ptll/mnt i
	mkdir -p "$src" "$mp"
	MOUNTED+=("$mp")
	"$PTLL" -f -o source="$src" "$mp" >>"$LOG" 2>&1 &
	PTLL_PID=$!
	PTLL_PIDS+=("$PTLL_PID")
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$mp" && return 0
		pid_alive "$PTLL_PID" || die "passthrough_ll exited; see $LOG"
		sleep 0.1
	done
	die "passthrough_ll did not mount $mp"
}
ptll_umount() {
	unmount_mp "$BENCH_DIR/ptll/mnt"
	wait_gone "$PTLL_PID" 10 || { kill -TERM "$PTLL_PID" 2>/dev/null || true; wait_gone "$PTLL_PID" 5 || true; }
	wait "$PTLL_PID" 2>/dev/null || true
	PTLL_PID=""
}

CS_STORE=$BENCH_DIR/cstorfs/store
CS_VOL_OPTS=() # extra `volume create` options (the 4 KiB-chunk volume of wl_rand)
CS_MNT=$BENCH_DIR/cstorfs/mnt
cs_mount() {
	mkdir -p "$CS_MNT"
	MOUNTED+=("$CS_MNT")
	STORES+=("$CS_STORE")
	"$CTL" --store "$CS_STORE" mount bench "$CS_MNT" >>"$LOG" 2>&1 || die "cstorfs mount failed; see $LOG"
	mountpoint -q "$CS_MNT" || die "cstorfs: $CS_MNT not mounted after 'mount'"
}
cs_umount() {
	unmount_mp "$CS_MNT"
	stop_store "$CS_STORE"
}

daemon_pid() {
	case $1 in
	ptll) echo "$PTLL_PID" ;;
	cstorfs) cat "$CS_STORE/cstorfsd.pid" 2>/dev/null || true ;;
	*) echo "" ;;
	esac
}

sys_up() {
	case $1 in
	native)
		rm -rf "$BENCH_DIR/native"
		mkdir -p "$BENCH_DIR/native/data"
		WD=$BENCH_DIR/native/data
		;;
	ptll)
		rm -rf "$BENCH_DIR/ptll"
		ptll_mount
		WD=$BENCH_DIR/ptll/mnt
		;;
	cstorfs)
		rm -rf "$BENCH_DIR/cstorfs"
		mkdir -p "$BENCH_DIR/cstorfs"
		STORES+=("$CS_STORE")
		"$CTL" --store "$CS_STORE" volume create bench "${CS_VOL_OPTS[@]}" >>"$LOG" 2>&1 ||
			die "cstorfs volume create ${CS_VOL_OPTS[*]} failed; see $LOG"
		cs_mount
		WD=$CS_MNT
		;;
	esac
	sync
}

sys_cold() {
	case $1 in
	native) drop_caches ;;
	ptll) ptll_umount; drop_caches; ptll_mount ;;
	cstorfs) cs_umount; drop_caches; cs_mount ;;
	esac
}

sys_down() {
	case $1 in
	ptll) ptll_umount ;;
	cstorfs) cs_umount ;;
	esac
	rm -rf "${BENCH_DIR:?}/$1"
}

# profiling hook: let a profiler attach to the daemon before the workload starts
hold() {
	[ -n "${BENCH_HOLD:-}" ] && [ "$1" = cstorfs ] || return 0
	echo "$(daemon_pid cstorfs) $2" >"$BENCH_HOLD"
	while [ -e "$BENCH_HOLD" ]; do sleep 0.2; done
}

# ---------------------------------------------------------------- workloads
wl_seq() {
	local sys=$1 kind args pid c0 c1 r f
	for kind in incomp comp; do
		# fresh random bytes in every block (fio refills the buffer before each write; with
		# a compress percentage it refills anyway): nothing to deduplicate, nothing cached
		args=(--refill_buffers)
		if [ "$kind" = comp ]; then args+=(--buffer_compress_percentage=50); fi
		sys_up "$sys"
		f=$WD/seq.dat
		pid=$(daemon_pid "$sys")
		hold "$sys" "seq_${kind}_write"
		if [ -n "$pid" ]; then c0=$(cpu_s "$pid"); fi
		if r=$(run_fio "seq_write_$kind" --rw=write --bs=1M --size=${SEQ_MIB}M --end_fsync=1 \
			--filename="$f" "${args[@]}"); then
			rec "$sys" "seq_write_$kind" "${r%% *}"
		else
			recfail "$sys" "seq_write_$kind" "$(fio_err "seq_write_$kind")"
		fi
		if [ -n "$pid" ]; then
			c1=$(cpu_s "$pid")
			rec "$sys" "cpu_per_gib_$kind" "$($PY -c "import sys; print((float(sys.argv[2])-float(sys.argv[1]))*1024/float(sys.argv[3]))" "$c0" "$c1" "$SEQ_MIB")"
		fi
		rec_mem "$sys" "seq_${kind}_write"
		if [ "$sys" = cstorfs ] &&
			"$CTL" --store "$CS_STORE" --json volume inspect bench >"$BENCH_DIR/vol.json" 2>>"$LOG"; then
			rec "$sys" "stored_ratio_$kind" "$($PY "$ROOT/benchmarks/bench.py" vol "$BENCH_DIR/vol.json" | awk '{ if ($1 > 0) printf "%.3f", $2 / $1; else print 0 }')"
		fi
		sys_cold "$sys"
		hold "$sys" "seq_${kind}_read"
		if r=$(run_fio "seq_read_$kind" --rw=read --bs=1M --size=${SEQ_MIB}M --filename="$f"); then
			rec "$sys" "seq_read_$kind" "${r%% *}"
		else
			recfail "$sys" "seq_read_$kind" "$(fio_err "seq_read_$kind")"
		fi
		rec_mem "$sys" "seq_${kind}_read"
		sys_down "$sys"
	done
}

wl_rand() {
	local sys=$1 f mode dir rw r iops p99 warm
	sys_up "$sys"
	f=$WD/rand.dat
	run_fio rand_layout --rw=write --bs=1M --size=${RAND_MIB}M --end_fsync=1 --filename="$f" >/dev/null ||
		die "$sys: laying out $f failed"
	for mode in buf dir; do
		dir=0
		if [ "$mode" = dir ]; then dir=1; fi
		for rw in randread randwrite; do
			# buffered: warm page cache (pre_read), as a working set that fits in memory
			warm=()
			hold "$sys" "${rw}_$mode"
			if [ "$mode" = buf ]; then warm=(--pre_read=1); fi
			if r=$(run_fio "${rw}_$mode" --rw=$rw --bs=4k --size=${RAND_MIB}M --direct=$dir \
				--runtime=$RAND_RT --ramp_time=1 --time_based --filename="$f" "${warm[@]}"); then
				read -r _ iops p99 <<<"$r"
				rec "$sys" "${rw}_${mode}_iops" "$iops"
				rec "$sys" "${rw}_${mode}_p99" "$p99"
			else
				recfail "$sys" "${rw}_${mode}_iops" "$(fio_err "${rw}_$mode")"
			fi
			if [ "$rw" = randwrite ]; then sync "$f"; fi
		done
	done
	rec_mem "$sys" rand
	sys_down "$sys"
	if [ "$sys" = cstorfs ] && [ -n "$CHUNK_OPT" ]; then rand_dio4k; fi
}

# issue 14: O_DIRECT 4 KiB random writes on a volume with 4 KiB chunks (only when
# `volume create` has a chunk-size option; the report compares it with native's O_DIRECT)
rand_dio4k() {
	local f r iops p99
	CS_VOL_OPTS=("$CHUNK_OPT" 4K)
	sys_up cstorfs
	CS_VOL_OPTS=()
	f=$WD/rand.dat
	run_fio rand_layout --rw=write --bs=1M --size=${RAND_MIB}M --end_fsync=1 --filename="$f" >/dev/null ||
		die "cstorfs ($CHUNK_OPT 4K): laying out $f failed"
	hold cstorfs randwrite_dir4k
	if r=$(run_fio randwrite_dir4k --rw=randwrite --bs=4k --size=${RAND_MIB}M --direct=1 \
		--runtime=$RAND_RT --ramp_time=1 --time_based --filename="$f"); then
		read -r _ iops p99 <<<"$r"
		rec cstorfs randwrite_dir4k_iops "$iops"
		rec cstorfs randwrite_dir4k_p99 "$p99"
	else
		recfail cstorfs randwrite_dir4k_iops "$(fio_err randwrite_dir4k)"
	fi
	sys_down cstorfs
}

wl_meta() {
	local sys=$1 out
	sys_up "$sys"
	mb() { # PHASE METRIC
		hold "$sys" "meta_$1"
		if out=$("$META" "$1" "$WD" "$META_FILES" "$META_DIRS" 2>>"$LOG"); then
			rec "$sys" "$2" "$(echo "$out" | awk '{print $4}')"
		else
			die "$sys: metabench $1 failed; see $LOG"
		fi
	}
	mb create meta_create
	mb write meta_write
	drop_caches
	mb stat meta_stat_cold
	mb stat meta_stat_warm
	drop_caches
	mb readdir meta_readdir_cold
	mb orc meta_orc
	mb unlink meta_unlink
	rec_mem "$sys" meta
	sys_down "$sys"
}

wl_tree() {
	local sys=$1 t0 t1
	sys_up "$sys"
	cat "$TARBALL" >/dev/null
	hold "$sys" tree
	t0=$(now)
	tar -xf "$TARBALL" -C "$WD" || die "$sys: untar failed"
	t1=$(now)
	rec "$sys" tree_untar "$(elapsed "$t0" "$t1")"
	drop_caches
	t0=$(now)
	tar -cf - -C "$WD" . | cat >/dev/null
	t1=$(now)
	rec "$sys" tree_tarread "$(elapsed "$t0" "$t1")"
	t0=$(now)
	rm -rf "$WD/usr" || die "$sys: rm -rf failed"
	t1=$(now)
	rec "$sys" tree_rm "$(elapsed "$t0" "$t1")"
	rec_mem "$sys" tree
	sys_down "$sys"
}

# issue 14's write-delete-write loop: write WDW_MIB of fresh random bytes (end fsync), delete
# it, sync; WDW_LOOPS times on one mount and one daemon. Each loop's wall time (fio start to
# the end of its fsync) is recorded; a store that leaves reclaiming its deleted chunks to the
# next writer shows it in loops 2-4. cstorfs's background gc runs as it would (never by hand).
wl_wdw() {
	local sys=$1 f i t0 t1 r
	sys_up "$sys"
	f=$WD/wdw.dat
	hold "$sys" wdw
	for ((i = 1; i <= WDW_LOOPS; i++)); do
		t0=$(now)
		# fio seeds its buffer generator the same way every run (randrepeat): without a seed
		# of its own each loop would write the previous loop's bytes, and a store that has
		# not yet dropped them would deduplicate instead of writing
		r=$(run_fio "wdw_$i" --rw=write --bs=1M --size=${WDW_MIB}M --end_fsync=1 --refill_buffers \
			--randseed=$((ROUND * 100 + i)) --filename="$f") ||
			die "$sys: write-delete-write loop $i failed; see $LOG"
		t1=$(now)
		rec "$sys" "wdw_t$i" "$(elapsed "$t0" "$t1")"
		rec "$sys" "wdw_mibs$i" "${r%% *}"
		rm -f "$f" || die "$sys: rm $f failed"
		sync
		if [ "$sys" = cstorfs ]; then cs_chunks "wdw_$i"; fi
	done
	if [ "$sys" = cstorfs ]; then
		# what the background gc gives back once the writers stop (it polls every 2 s)
		sleep 6
		cs_chunks wdw_settled
	fi
	rec_mem "$sys" wdw
	sys_down "$sys"
}

# issue 15: a volume whose chunks live in a RADOS pool (a one-node cluster of
# scripts/ceph-dev.sh, memstore, booted here) beside `rados bench` on the same pool in the same
# run, the pool's own limit. cstorfs: fio writes RADOS_MIB (1 MiB blocks, fresh random bytes,
# end fsync), remount with caches dropped, fio reads it back. rados bench: as many 64 KiB
# objects (--max-objects), 16 in flight, written then read back (seq).
wl_rados() {
	local sys=$1 conf r
	[ "$sys" = cstorfs ] || return 0
	if [ "$ROUND" -gt "$RADOS_ROUNDS" ]; then return 0; fi
	# a missing or failing cluster costs this table only, not the report of the whole run
	if ! command -v ceph-osd >/dev/null || ! command -v rados >/dev/null; then
		say "rados: Ceph's packages are missing (scripts/deps.sh test installs them); skipped"
		recfail cstorfs rados_cs_write "no Ceph packages"
		return 0
	fi
	CEPH_DIR=$BENCH_DIR/ceph
	# memstore keeps the pool in RAM: room for cstorfs's copy and rados bench's
	if ! conf=$("$CEPH_DEV" start "$CEPH_DIR" --size $((RADOS_MIB * 3 + 512))M 2>>"$LOG"); then
		say "rados: ceph-dev.sh start $CEPH_DIR failed; see $LOG"
		recfail cstorfs rados_cs_write "no cluster: ceph-dev.sh start failed"
		"$CEPH_DEV" stop "$CEPH_DIR" >>"$LOG" 2>&1 || true
		CEPH_DIR=""
		return 0
	fi
	rm -rf "$BENCH_DIR/cstorfs"
	mkdir -p "$BENCH_DIR/cstorfs"
	STORES+=("$CS_STORE")
	"$CTL" --store "$CS_STORE" store create --chunks rados:cstorfs --ceph-conf "$conf" >>"$LOG" 2>&1 ||
		die "cstorfs store create --chunks rados:cstorfs failed; see $LOG"
	"$CTL" --store "$CS_STORE" volume create bench >>"$LOG" 2>&1 || die "cstorfs volume create failed; see $LOG"
	cs_mount
	hold cstorfs rados_write
	if r=$(run_fio rados_write --rw=write --bs=1M --size=${RADOS_MIB}M --end_fsync=1 --refill_buffers \
		--filename="$CS_MNT/rados.dat"); then
		rec cstorfs rados_cs_write "${r%% *}"
	else
		recfail cstorfs rados_cs_write "$(fio_err rados_write)"
	fi
	sys_cold cstorfs
	hold cstorfs rados_read
	if r=$(run_fio rados_read --rw=read --bs=1M --size=${RADOS_MIB}M --filename="$CS_MNT/rados.dat"); then
		rec cstorfs rados_cs_read "${r%% *}"
	else
		recfail cstorfs rados_cs_read "$(fio_err rados_read)"
	fi
	rec_mem cstorfs rados
	rados_df "$conf" cs
	rados_second_store "$conf"
	sys_down cstorfs
	rados_bench "$conf"
	# an empty pool stops fast (memstore saves what it holds on a clean stop)
	timeout 60 ceph -c "$conf" osd pool delete cstorfs cstorfs --yes-i-really-really-mean-it >>"$LOG" 2>&1 || true
	"$CEPH_DEV" stop "$CEPH_DIR" >>"$LOG" 2>&1 || die "ceph-dev.sh stop $CEPH_DIR failed; see $LOG"
	CEPH_DIR=""
	rm -rf "${BENCH_DIR:?}/ceph"
}

# a second store of the pool (another host) writes the same bytes (copied from the first
# volume, fsync'd): the pool's bytes after both (rados_pool_bytes_cs2) against after one show
# the chunks stored once across hosts
rados_second_store() {
	local st=$BENCH_DIR/cstorfs/store2 mnt=$BENCH_DIR/cstorfs/mnt2
	STORES+=("$st")
	if ! "$CTL" --store "$st" store create --chunks rados:cstorfs --ceph-conf "$1" >>"$LOG" 2>&1 ||
		! "$CTL" --store "$st" volume create bench >>"$LOG" 2>&1; then
		recfail cstorfs rados_pool_bytes_cs2 "the second store could not be created"
		return 0
	fi
	mkdir -p "$mnt"
	MOUNTED+=("$mnt")
	if "$CTL" --store "$st" mount bench "$mnt" >>"$LOG" 2>&1 &&
		dd if="$CS_MNT/rados.dat" of="$mnt/rados.dat" bs=1M conv=fsync status=none 2>>"$LOG"; then
		rados_df "$1" cs2
	else
		recfail cstorfs rados_pool_bytes_cs2 "the second store's write failed"
	fi
	unmount_mp "$mnt"
	stop_store "$st"
}

# rados bench write then seq on the pool: RADOS_MIB in 64 KiB objects, 16 in flight; its
# "Bandwidth (MB/sec)" is MiB/s (bytes / 2^20 / s)
rados_bench() {
	local conf=$1 mode out bw metric opts n=$((RADOS_MIB * 1048576 / RADOS_BS))
	for mode in write seq; do
		out=$BENCH_DIR/rados-bench-$mode.out
		# seq reads back what write left (--no-cleanup) and takes neither -b nor a count
		opts=(-t 16)
		metric=rados_bench_read
		if [ "$mode" = write ]; then
			opts+=(--no-cleanup -b "$RADOS_BS" --max-objects "$n")
			metric=rados_bench_write
		fi
		echo "rados bench 600 $mode ${opts[*]}" >>"$LOG"
		if timeout 900 rados -c "$conf" -p cstorfs bench 600 "$mode" "${opts[@]}" >"$out" 2>&1; then
			bw=$(awk -F: '/^Bandwidth \(MB\/sec\)/ { gsub(/ /, "", $2); print $2 }' "$out")
		else
			bw=""
		fi
		tail -n 20 "$out" >>"$LOG"
		if [ -n "$bw" ]; then
			rec radosbench "$metric" "$bw"
		else
			recfail radosbench "$metric" "rados bench $mode failed"
		fi
	done
}

# record the pool's bytes and objects (`rados df`) as rados_pool_{bytes,objects}_TAG; the
# mgr's figures lag its 1 s stats period
rados_df() {
	local v
	sleep 3
	if ! timeout 60 rados -c "$1" df --format=json >"$BENCH_DIR/rados-df.json" 2>>"$LOG"; then
		say "rados df failed; see $LOG"
		return 0
	fi
	read -r -a v <<<"$($PY "$ROOT/benchmarks/bench.py" radosdf "$BENCH_DIR/rados-df.json" cstorfs)"
	rec cstorfs "rados_pool_bytes_$2" "${v[0]}"
	rec cstorfs "rados_pool_objects_$2" "${v[1]}"
}

# record the chunk store's files, bytes, live_bytes, reclaimed_bytes (cstorfs-ctl status)
cs_chunks() {
	local js=$BENCH_DIR/status.json v k m
	if ! "$CTL" --store "$CS_STORE" --json status >"$js" 2>>"$LOG"; then
		say "cstorfs-ctl status failed; see $LOG"
		return 0
	fi
	read -r -a v <<<"$($PY "$ROOT/benchmarks/bench.py" chunks "$js")"
	k=0
	for m in files bytes live_bytes reclaimed_bytes; do
		rec cstorfs "cs_${m}_$1" "${v[$k]}"
		k=$((k + 1))
	done
}

# ---------------------------------------------------------------- main
mkdir -p "$BENCH_DIR"
fstype=$(findmnt -n -o FSTYPE -T "$BENCH_DIR")
[ "$fstype" != tmpfs ] || die "$BENCH_DIR is on tmpfs; set BENCH_DIR to a disk"
for s in native ptll cstorfs; do
	for mp in "$BENCH_DIR/$s/mnt"; do
		if mountpoint -q "$mp" 2>/dev/null; then die "$mp is mounted (left by another run?); unmount it first"; fi
	done
done
rm -rf "$BENCH_DIR"/{native,ptll,cstorfs} "$RES" "$FAIL" "$BENCH_DIR"/fio-*
: >"$LOG"
# passthrough_ll keeps one O_PATH descriptor per inode the kernel knows
ulimit -Hn 1048576 2>/dev/null || true
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
META_NOTE=""
fd_hard=$(ulimit -Hn)
if [[ $SYSTEMS == *ptll* ]] && [ "$fd_hard" != unlimited ] && [ "$fd_hard" -lt $((META_FILES + 1000)) ]; then
	# passthrough_ll holds an O_PATH descriptor for every inode the kernel references: with
	# all files of the test alive in the dcache it needs NFILES + NDIRS + a few descriptors.
	# Use the same, slightly smaller count for every system rather than let it fail (EMFILE).
	n=$(((fd_hard - 1000) / 1000 * 1000))
	META_NOTE="the open-file hard limit here is $fd_hard (no CAP_SYS_RESOURCE to raise it) and passthrough_ll keeps one descriptor per inode the kernel holds, so it fails (EMFILE) at $META_FILES files; all three systems use $n files instead"
	say "metadata: $META_NOTE"
	META_FILES=$n
fi

if [ ! -s "$TARBALL" ]; then
	say "making $TARBALL from /usr/lib/python3*"
	tar -cf "$TARBALL.tmp" -C / $(cd / && ls -d usr/lib/python3*) 2>>"$LOG"
	mv "$TARBALL.tmp" "$TARBALL"
fi

# issue 14's per-volume chunk size: measured only once `volume create` has the option
CHUNK_OPT=$("$CTL" volume create --help 2>&1 | awk '/^  volume create/ { p = 1; print; next } p && /^  [a-z]/ { p = 0 } p' |
	grep -oE -- '--(recordsize|chunk[-_]size)' | head -1 || true)

T_START=$(now)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
disk_dev=$(findmnt -n -o SOURCE -T "$BENCH_DIR")
disk_name=$(lsblk -no PKNAME "$disk_dev" 2>/dev/null | head -1)
[ -n "$disk_name" ] || disk_name=$(basename "$disk_dev")
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown) ($(git -C "$ROOT" log -1 --format=%s 2>/dev/null | cut -c1-70))"
	echo "dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -vc '^.. benchmarks/' || true) changed/untracked paths outside benchmarks/ (binaries built from the working tree)"
	echo "binary=cstorfsd sha256 $(sha256sum "$CSTORFSD" | cut -c1-16), built $(date -u -r "$CSTORFSD" '+%Y-%m-%d %H:%M UTC')"
	echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "cores=$(nproc)"
	echo "mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "kernel=$(uname -r)"
	echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "benchdir=$BENCH_DIR"
	echo "fs=$fstype on $disk_dev ($(findmnt -n -o OPTIONS -T "$BENCH_DIR"))"
	echo "disk=$disk_name, $(lsblk -dno SIZE "/dev/$disk_name" 2>/dev/null | tr -d ' '), rotational=$(cat "/sys/block/$disk_name/queue/rotational" 2>/dev/null || echo ?), model: $(lsblk -dno MODEL "/dev/$disk_name" 2>/dev/null | sed 's/ *$//' || true)"
	echo "fio=$(fio --version)"
	echo "libfuse=$(pkg-config --modversion fuse3)"
	echo "ptll=$PTLL (from /usr/share/doc/libfuse3-dev/examples/passthrough_ll.c)"
	echo "rounds=$ROUNDS"
	echo "quick=$QUICK"
	echo "seq_size=${SEQ_MIB} MiB"
	echo "rand_size=${RAND_MIB} MiB"
	echo "rand_runtime=$RAND_RT"
	echo "meta_files=$META_FILES"
	echo "wdw=$WDW_LOOPS x ${WDW_MIB} MiB"
	echo "chunk_opt=${CHUNK_OPT:-none}"
	echo "rados=${RADOS_MIB} MiB, $RADOS_ROUNDS round(s), a one-node memstore cluster (scripts/ceph-dev.sh), $(ceph --version 2>/dev/null | cut -d' ' -f1-3 || echo 'no ceph')"
	[ -z "$META_NOTE" ] || echo "meta_note=$META_NOTE"
	echo "tree=$(tar -tf "$TARBALL" | wc -l) entries, $(($(stat -c %s "$TARBALL") / 1048576)) MiB"
	echo "params=seq ${SEQ_MIB} MiB, random file ${RAND_MIB} MiB x ${RAND_RT} s, metadata ${META_FILES} files in ${META_DIRS} dirs, write-delete-write ${WDW_LOOPS} x ${WDW_MIB} MiB, ${ROUNDS} round(s)"
} >"$BENCH_DIR/meta"

say "systems: $SYSTEMS; workloads: $WORKLOADS; rounds: $ROUNDS; dir: $BENCH_DIR ($fstype)"
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
	for wl in $WORKLOADS; do
		for sys in $SYSTEMS; do
			say "round $ROUND/$ROUNDS: $wl on $sys"
			"wl_$wl" "$sys"
		done
	done
done
T_END=$(now)
echo "duration=$(elapsed "$T_START" "$T_END" | cut -d. -f1) s" >>"$BENCH_DIR/meta"
echo "load=load average (1/5/15 min) at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg); anything above ~0.5 means other processes shared the cores and widened the min–max" >>"$BENCH_DIR/meta"
$PY "$ROOT/benchmarks/bench.py" report "$RES" "$BENCH_DIR/meta" "$OUT"
say "wrote $OUT"
