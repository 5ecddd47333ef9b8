#!/bin/bash
# snapbench.sh - snapshot, clone and replication-stream benchmarks (issues 4 and 5): cstorfs
# beside btrfs (a subvolume on a loop device), the same content, in the same run, on the same
# disk. A benchmark, not a test: never part of `make test`. Writes benchmarks/RESULTS-snapshots.md.
#
# Per data set (1,000 / 100,000 / up to 1,000,000 files of 4 KiB, and one 4 GiB file; all bytes
# from one 64 MiB /dev/urandom block with a unique header per file / per 64 KiB chunk, so nothing
# compresses or deduplicates), each system gets a fresh store / a fresh btrfs on a sparse image:
#   content written through the mount (2 writer processes)
#   snapshot create (read-only) x3, clone (writable snapshot) x3: whole CLI commands, after `sync`
#   (4 GiB file and 100,000 files) cold sequential read of a snapshot and of a clone 10 deep of it
#   full send to a file, stream size; full receive into a second store (btrfs: a second dir)
#   1% of the data rewritten in place, a snapshot; incremental send, size; incremental receive
# Caches are dropped (sync; drop_caches) before every send, receive and read; the cstorfs daemon
# is restarted and the mounts remounted before reads.
#
# Environment:
#   SNAPBENCH_DIR=DIR      work directory (default /var/tmp/cstorfs-snapbench; removed at exit)
#   SNAPBENCH_REPS=N       repetitions (default 3; medians need >= 3)
#   SNAPBENCH_BUDGET=S     the run's time budget, seconds (default 1200): the largest file set is
#                          1,000,000 files if its cost, extrapolated from the 100,000 set, fits
#                          what is left, else the largest of 500k/300k/200k that does
#   SNAPBENCH_MAXFILES=N   force the largest file set (0: skip it)
#   SNAPBENCH_BIG_GIB=N    size of the single file (default 4)
#   SNAPBENCH_SETS="1k 100k big max"   subset of data sets
#   SNAPBENCH_OUT=FILE     report (default benchmarks/RESULTS-snapshots.md)
# Needs root (loop devices, mounts, drop_caches), btrfs-progs (scripts/deps.sh bench) and a build.
# Everything it mounts, starts or attaches is undone at exit, error or Ctrl-C.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${SNAPBENCH_DIR:-/var/tmp/cstorfs-snapbench}
REPS=${SNAPBENCH_REPS:-3}
BUDGET=${SNAPBENCH_BUDGET:-1200}
BIG_GIB=${SNAPBENCH_BIG_GIB:-4}
MID=${SNAPBENCH_MID:-100000}  # the "100k" set (smaller only for smoke runs)
SETS=${SNAPBENCH_SETS:-1k 100k big max}
OUT=${SNAPBENCH_OUT:-$ROOT/benchmarks/RESULTS-snapshots.md}
PY="/usr/bin/python3 $ROOT/benchmarks/snapbench.py"
BIN=$W/bin
CTL=$BIN/cstorfs-ctl
MNTCMD=$BIN/cstorfs
RES=$W/results.tsv
NOTES=$W/notes
LOG=$W/log
T_START=$(date +%s)

say() { printf '[snapbench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
note() { echo "- $*" >>"$NOTES"; say "note: $*"; }

[ "$(id -u)" = 0 ] || die "run as root (loop devices, mounts, drop_caches)"
for t in mkfs.btrfs btrfs losetup fusermount3 mountpoint python3 cc; do
	command -v "$t" >/dev/null || die "missing $t (sh scripts/deps.sh bench)"
done
[ -x "$ROOT/build/cstorfs-ctl" ] && [ -f "$ROOT/build/libcstore.a" ] || die "build first (make)"
case "$W" in /var/tmp/*|/srv/*|/home/*|/root/*) ;; *) die "SNAPBENCH_DIR must be on a real disk under /var/tmp, /srv, /home or /root" ;; esac
[ -e "$W" ] && die "$W exists (a run in progress, or left by a killed one: check, then remove it)"

# ---------------------------------------------------------------- cleanup
CS_STORES=()   # cstorfs stores whose daemon we may have started
LOOPS=()       # loop devices we attached
BTMNTS=()      # btrfs mount points
cleanup() {
	local rc=$? s pid m l
	trap - EXIT INT TERM
	set +e
	for s in "${CS_STORES[@]}"; do
		[ -d "$s" ] || continue
		"$CTL" --store "$s" daemon stop >/dev/null 2>&1
		if [ -f "$s/cstorfsd.pid" ]; then
			pid=$(cat "$s/cstorfsd.pid" 2>/dev/null)
			if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && \
				tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$s"; then
				kill "$pid"; sleep 1; kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
			fi
		fi
	done
	# any FUSE mount left under the work dir (the daemon normally removed them)
	for m in $(awk -v w="$W/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r); do
		fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for m in "${BTMNTS[@]}"; do mountpoint -q "$m" && umount "$m"; done
	for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
	if [ "$rc" != 0 ] && [ -f "$LOG" ]; then
		say "failed; last lines of the log:"; tail -20 "$LOG" >&2
	fi
	rm -rf "$W"
	say "cleaned up"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$W" "$BIN"
: >"$RES"; : >"$NOTES"; : >"$LOG"
# One build for the whole run, even if build/ is rebuilt meanwhile.
cp "$ROOT/build/cstorfs-ctl" "$ROOT/build/cstorfsd" "$ROOT/build/cstorfs" "$BIN/"
export CSTORFSD=$BIN/cstorfsd
if "$CTL" --help 2>&1 | grep -q '^  send '; then
	STREAMS=cli
else
	STREAMS=lib
	cc -O2 -I"$ROOT/store" "$ROOT/benchmarks/snapbench-stream.c" "$ROOT/build/libcstore.a" \
		-lrocksdb -lzstd -lcrypto -lpthread -o "$BIN/snapbench-stream"
	note "cstorfs-ctl had no send/receive when this ran: cstorfs streams were measured with benchmarks/snapbench-stream.c (cs_send / cs_recv_* of build/libcstore.a, the daemon stopped), not the CLI."
fi

# ---------------------------------------------------------------- helpers
# tmsync SYSTEM SET METRIC: after a timed receive, time `sync` too and record METRIC_sync =
# the receive's seconds + the sync's (until the received data is on disk)
tmsync() {
	local t0 t1
	t0=$(now); sync; t1=$(now)
	rec "$1" "$2" "$3_sync" "$(awk -v a="$t0" -v b="$t1" -v r="$4" 'BEGIN {printf "%.4f", r + b - a}')"
}
rec() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RES"; }
now() { date +%s.%N; }
# tm SYSTEM SET METRIC CMD...: time the whole command, record seconds, echo them
tm() {
	local sys=$1 set=$2 metric=$3 t0 t1 s; shift 3
	t0=$(now)
	"$@" >>"$LOG" 2>&1 || die "$sys $set $metric failed: $*"
	t1=$(now)
	s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", b - a}')
	rec "$sys" "$set" "$metric" "$s"
	echo "$s"
}
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
mib() { awk -v b="$1" 'BEGIN {printf "%.2f", b / 1048576}'; }
fsize() { stat -c %s "$1"; }

# ---- cstorfs
cs() { "$CTL" --store "$1" "${@:2}"; }
cs_mount() {  # STORE VOL MNT
	mkdir -p "$3"; "$MNTCMD" "$1:$2" "$3" >>"$LOG" 2>&1 || die "mount $1:$2"
}
cs_umount() { mountpoint -q "$2" && { cs "$1" unmount "$2" >>"$LOG" 2>&1 || die "unmount $2"; }; return 0; }
cs_stop() { cs "$1" daemon stop >>"$LOG" 2>&1 || true; }
cs_send() {  # STORE VOL SNAP BASE|- OUT
	if [ "$STREAMS" = cli ]; then
		if [ "$4" = - ]; then cs "$1" send "$2@$3" -o "$5" --quiet
		else cs "$1" send "$2@$3" -i "$2@$4" -o "$5" --quiet; fi
	else "$BIN/snapbench-stream" send "$1" "$2" "$3" "$4" "$5"; fi
}
cs_recv() {  # STORE VOL IN
	if [ "$STREAMS" = cli ]; then cs "$1" receive "$2" -i "$3" --quiet
	else "$BIN/snapbench-stream" recv "$1" "$2" "$3"; fi
}

# ---- btrfs on a loop device
BT_IMG="" BT_LOOP="" BT_MNT=""
bt_up() {  # SET: fresh filesystem
	BT_IMG=$W/$1/btrfs.img BT_MNT=$W/$1/bt
	mkdir -p "$BT_MNT"
	truncate -s 64G "$BT_IMG"
	BT_LOOP=$(losetup -f --show "$BT_IMG"); LOOPS+=("$BT_LOOP")
	mkfs.btrfs -q -f "$BT_LOOP" >>"$LOG" 2>&1
	mount "$BT_LOOP" "$BT_MNT"; BTMNTS+=("$BT_MNT")
}
bt_remount() { umount "$BT_MNT"; mount "$BT_LOOP" "$BT_MNT"; }
bt_down() {
	mountpoint -q "$BT_MNT" && umount "$BT_MNT"
	losetup -d "$BT_LOOP"; LOOPS=("${LOOPS[@]/$BT_LOOP}")
	rm -f "$BT_IMG"
}
bt_subdel() { btrfs subvolume delete -c "$@" >>"$LOG" 2>&1; btrfs subvolume sync "$BT_MNT" >>"$LOG" 2>&1; }

# ---------------------------------------------------------------- one data set
# run_set NAME NFILES|big STREAM_REPS DO_READ
run_set() {
	local set=$1 n=$2 sreps=$3 do_read=$4 d=$W/$1 i s S S2 M v
	say "== $set ($([ "$n" = big ] && echo "one $BIG_GIB GiB file" || echo "$n files of 4 KiB"))"
	mkdir -p "$d"
	S=$d/cs S2=$d/cs-recv M=$d/csm
	CS_STORES+=("$S" "$S2")
	cs "$S" volume create v >>"$LOG"
	cs_mount "$S" v "$M"
	bt_up "$set"
	btrfs subvolume create "$BT_MNT/vol" >>"$LOG"
	mkdir -p "$BT_MNT/snaps" "$BT_MNT/clones" "$BT_MNT/recv"

	# content
	local sysn target
	for sysn in cstorfs btrfs; do
		[ $sysn = cstorfs ] && target=$M || target=$BT_MNT/vol
		if [ "$n" = big ]; then
			s=$($PY mkbig "$W/block" "$target/big" "$BIG_GIB")
		else
			s=$($PY mkfiles "$W/block" "$target" "$n" 2)
		fi
		sync
		rec $sysn "$set" create "$s"
		say "$sysn: content written in $s s"
	done

	# snapshots and clones (whole commands; nothing dirty before each)
	for i in $(seq 1 "$REPS"); do
		sync; tm cstorfs "$set" snap cs "$S" snapshot create "v@snap$i" >/dev/null
		sync; tm btrfs "$set" snap btrfs subvolume snapshot -r "$BT_MNT/vol" "$BT_MNT/snaps/snap$i" >/dev/null
	done
	for i in $(seq 1 "$REPS"); do
		sync; tm cstorfs "$set" clone cs "$S" clone v@snap1 "c$i" >/dev/null
		sync; tm btrfs "$set" clone btrfs subvolume snapshot "$BT_MNT/snaps/snap1" "$BT_MNT/clones/c$i" >/dev/null
	done
	say "snapshots and clones: $(grep -P "\t$set\t(snap|clone)\t" "$RES" | awk '{printf "%s/%s=%s ", $1, $3, $4}')"

	# cold reads: origin against a clone 10 deep
	if [ "$do_read" = 1 ]; then
		cs "$S" clone v@snap1 d1 >>"$LOG"
		btrfs subvolume snapshot "$BT_MNT/snaps/snap1" "$BT_MNT/clones/d1" >>"$LOG"
		for i in $(seq 2 10); do
			cs "$S" snapshot create "d$((i - 1))@s" >>"$LOG"
			cs "$S" clone "d$((i - 1))@s" "d$i" >>"$LOG"
			btrfs subvolume snapshot "$BT_MNT/clones/d$((i - 1))" "$BT_MNT/clones/d$i" >>"$LOG"
		done
		local r bytes secs files
		for i in $(seq 1 "$REPS"); do
			for r in origin clone10; do
				cs_umount "$S" "$M"; cs_umount "$S" "$d/csm10"; cs_stop "$S"; drop
				# the origin is the snapshot the chain starts from (read-only: reading it
				# changes no atime, which btrfs would otherwise send in the incremental)
				if [ $r = origin ]; then cs_mount "$S" v@snap1 "$d/csm10"
				else cs_mount "$S" d10 "$d/csm10"; fi
				target=$d/csm10
				read -r bytes secs files < <($PY readall "$target")
				rec cstorfs "$set" "read_$r" "$(awk -v b="$bytes" -v s="$secs" 'BEGIN {printf "%.1f", b / 1048576 / s}')"
				[ "$n" = big ] || rec cstorfs "$set" "read_${r}_fps" "$(awk -v f="$files" -v s="$secs" 'BEGIN {printf "%.0f", f / s}')"
				bt_remount; drop
				[ $r = origin ] && target=$BT_MNT/snaps/snap1 || target=$BT_MNT/clones/d10
				read -r bytes secs files < <($PY readall "$target")
				rec btrfs "$set" "read_$r" "$(awk -v b="$bytes" -v s="$secs" 'BEGIN {printf "%.1f", b / 1048576 / s}')"
				[ "$n" = big ] || rec btrfs "$set" "read_${r}_fps" "$(awk -v f="$files" -v s="$secs" 'BEGIN {printf "%.0f", f / s}')"
			done
		done
		cs_umount "$S" "$d/csm10"
		if ! mountpoint -q "$M"; then cs_mount "$S" v "$M"; fi
		say "reads: $(grep -P "\t$set\tread_" "$RES" | awk '{printf "%s/%s=%s ", $1, $3, $4}')"
	fi

	# 1% changed, then a snapshot (untimed), in both; the streams are taken after it
	if [ "$n" = big ]; then
		$PY modbig "$W/block" "$M/big"; $PY modbig "$W/block" "$BT_MNT/vol/big"
	else
		$PY modfiles "$W/block" "$M" "$n"; $PY modfiles "$W/block" "$BT_MNT/vol" "$n"
	fi
	sync
	cs "$S" snapshot create v@inc >>"$LOG"
	btrfs subvolume snapshot -r "$BT_MNT/vol" "$BT_MNT/snaps/inc" >>"$LOG"
	local base=snap$REPS
	[ "$STREAMS" = lib ] && { cs_umount "$S" "$M"; cs_stop "$S"; }

	# full send / receive
	local F=$d/full.stream FB=$d/full.btstream sz t
	for i in $(seq 1 "$sreps"); do
		drop; t=$(tm cstorfs "$set" send cs_send "$S" v "$base" - "$F")
		sz=$(fsize "$F"); rec cstorfs "$set" send_mib "$(mib "$sz")"
		rec cstorfs "$set" send_rate "$(awk -v b="$sz" -v t="$t" 'BEGIN {printf "%.1f", b / 1048576 / t}')"
		drop; t=$(tm btrfs "$set" send btrfs send -q -f "$FB" "$BT_MNT/snaps/$base")
		sz=$(fsize "$FB"); rec btrfs "$set" send_mib "$(mib "$sz")"
		rec btrfs "$set" send_rate "$(awk -v b="$sz" -v t="$t" 'BEGIN {printf "%.1f", b / 1048576 / t}')"
	done
	say "full send: $(grep -P "\t$set\tsend" "$RES" | awk '{printf "%s/%s=%s ", $1, $3, $4}')"
	for i in $(seq 1 "$sreps"); do
		if [ "$i" -gt 1 ]; then
			cs_stop "$S2"; rm -rf "$S2"
			bt_subdel "$BT_MNT/recv/$base"
		fi
		if [ "$STREAMS" = cli ]; then cs "$S2" daemon start >>"$LOG" 2>&1; fi
		drop; t=$(tm cstorfs "$set" recv cs_recv "$S2" v "$F"); tmsync cstorfs "$set" recv "$t"
		drop; t=$(tm btrfs "$set" recv btrfs receive -q -f "$FB" "$BT_MNT/recv"); tmsync btrfs "$set" recv "$t"
	done
	rm -f "$F" "$FB"
	say "full receive: $(grep -P "\t$set\trecv" "$RES" | awk '{printf "%s/%s=%s ", $1, $3, $4}')"

	# incremental send / receive
	local FI=$d/inc.stream FBI=$d/inc.btstream
	for i in $(seq 1 "$REPS"); do
		drop; tm cstorfs "$set" isend cs_send "$S" v inc "$base" "$FI" >/dev/null
		rec cstorfs "$set" isend_mib "$(mib "$(fsize "$FI")")"
		drop; tm btrfs "$set" isend btrfs send -q -p "$BT_MNT/snaps/$base" -f "$FBI" "$BT_MNT/snaps/inc" >/dev/null
		rec btrfs "$set" isend_mib "$(mib "$(fsize "$FBI")")"
	done
	for i in $(seq 1 "$REPS"); do
		if [ "$i" -gt 1 ]; then
			if [ "$STREAMS" = cli ]; then cs "$S2" rollback "v@$base" -r >>"$LOG" 2>&1 || die "rollback"
			else cs "$S2" rollback "v@$base" -r >>"$LOG" 2>&1 || die "rollback"; cs_stop "$S2"; fi
			bt_subdel "$BT_MNT/recv/inc"
		fi
		[ "$STREAMS" = lib ] && cs_stop "$S2"
		drop; t=$(tm cstorfs "$set" irecv cs_recv "$S2" v "$FI"); tmsync cstorfs "$set" irecv "$t"
		drop; t=$(tm btrfs "$set" irecv btrfs receive -q -f "$FBI" "$BT_MNT/recv"); tmsync btrfs "$set" irecv "$t"
	done
	say "incremental: $(grep -P "\t$set\ti(send|recv)" "$RES" | awk '{printf "%s/%s=%s ", $1, $3, $4}')"

	# tear down this set
	cs_umount "$S" "$M"; cs_stop "$S"; cs_stop "$S2"
	bt_down
	rm -rf "$d"
}

# ---------------------------------------------------------------- machine facts
git_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git_dirty=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
say "work dir $W; streams through: $STREAMS; budget ${BUDGET}s"
$PY block "$W/block"

# ---------------------------------------------------------------- the sets
# seconds one pass of SET takes: content once, one of each stream operation (per repetition)
set_secs() {
	awk -F'\t' -v s="$1" -v r="$REPS" '$2 != s {next}
		$3 == "create" {t += $4} $3 ~ /^i?(send|recv_sync)$/ {t += $4 / r} END {print t + 0}' "$RES"
}
for set in $SETS; do
	case $set in
	1k) run_set 1k 1000 "$REPS" 0 ;;
	100k) run_set 100k "$MID" "$REPS" 1 ;;
	big) run_set big big "$REPS" 1 ;;
	max)
		if [ -n "${SNAPBENCH_MAXFILES:-}" ]; then
			nmax=$SNAPBENCH_MAXFILES
		else
			# cost of one 100k pass (content + one of each stream op, both systems), scaled
			# by 10 per 1,000,000 files, x1.3 margin, against what the budget has left
			per100k=$(set_secs 100k)
			left=$(( BUDGET - ($(date +%s) - T_START) ))
			nmax=0
			for cand in 1000000 500000 300000 200000; do
				need=$(awk -v p="$per100k" -v c="$cand" -v mid="$MID" \
					'BEGIN {printf "%d", p / 100000 * c * 1.3 / 1}')
				say "max set: $cand files would need ~${need}s, ${left}s left"
				if [ "$need" -le "$left" ]; then nmax=$cand; break; fi
			done
			[ "$nmax" = 0 ] && nmax=200000
			[ "$nmax" != 1000000 ] && note "the largest file set was cut to $nmax files (1,000,000 would not fit the ${BUDGET}s budget, extrapolating from the 100,000 set)"
		fi
		if [ "$nmax" -gt 0 ]; then
			# streams once at this size (each pass takes minutes); snapshots/clones $REPS times
			run_set max "$nmax" 1 0
			echo "$nmax" >"$W/maxn"
		fi
		;;
	*) die "unknown set $set" ;;
	esac
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
maxn=$(cat "$W/maxn" 2>/dev/null || echo 0)
{
	echo "# Snapshots, clones and replication streams: cstorfs beside btrfs"
	echo
	echo "Written by \`benchmarks/snapbench.sh\` (the lead wires \`make bench-snapshots\` to it); a rerun rewrites everything above \"Findings\", which it keeps."
	echo
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ); run took $(( ($(date +%s) - T_START) / 60 )) min"
	echo "- commit: $git_rev$([ "$git_dirty" -gt 0 ] && echo " plus uncommitted changes in $git_dirty tracked files (colleagues' work in progress)")"
	echo "- machine: $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}'), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, Linux $(uname -r)"
	echo "- disk: $(findmnt -n -T "$(dirname "$W")" -o SOURCE,FSTYPE | tr -s ' ') under $(dirname "$W"); btrfs: $(btrfs --version | awk '{print $2}'), mkfs.btrfs defaults on a sparse 64 GiB image file on that disk, through a loop device"
	echo "- load average at start / end: $LOAD0 / $LOAD1 (the machine is shared: other benchmarks and test suites may have run at the same time; figures are noisy accordingly)"
	echo "- cstorfs: default options (zstd:1), one store per data set, received into a second store; streams via $([ "$STREAMS" = cli ] && echo '`cstorfs-ctl send -o FILE` / `cstorfs-ctl receive -i FILE` (whole commands; the daemons were running)' || echo 'the library helper (see notes)')"
	echo "- btrfs: \`btrfs subvolume snapshot -r\` (snapshot), \`btrfs subvolume snapshot\` (clone), \`btrfs send [-p] -f FILE\`, \`btrfs receive -f FILE\` into a directory of the same filesystem"
	echo "- data: files of 4 KiB (1,000 per directory) or one $BIG_GIB GiB file, every 4 KiB file / 64 KiB chunk a unique 16-byte header + bytes of one 64 MiB /dev/urandom block: incompressible, no dedup. 1% changed = every 100th file (or 64 KiB chunk of the big file) rewritten in place. Content written by \`snapbench.py\` with 2 processes through the mount."
	echo "- method: every timing is the whole command (receive + sync: the receive, then \`sync\` until its data is on disk, since neither receive syncs); \`sync\` (untimed) before each snapshot/clone; \`sync; echo 3 > drop_caches\` before each send, receive and read; before reads the cstorfs daemon is stopped and the volume remounted, btrfs is remounted. Read = sequential 1 MiB reads of every file, in path order, of the first snapshot (the origin, read-only) and of a clone 10 deep of it (clone of a snapshot of a clone ..., nothing written in between). Repetitions: $REPS (streams of the largest file set: 1)."
	if [ "$maxn" -gt 0 ]; then echo "- largest file set: $(printf "%'d" "$maxn") files"; fi
	if [ -s "$NOTES" ]; then echo; echo "Notes:"; echo; cat "$NOTES"; fi
	echo
	echo "## Results"
} >"$W/facts"
$PY report "$RES" "$W/report.md" "$W/facts" "$maxn" "$BIG_GIB" "$MID"
cp "$W/report.md" "$OUT"
say "wrote $OUT"
