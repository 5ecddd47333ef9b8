#!/bin/bash
# cstorfs-events.sh - cs_fsx's event commands for one cstorfs mount.
#
#   cstorfs-events.sh BUILD STORE VOLUME MOUNTPOINT evict|remount|restart|kill
#
#   evict    echo 2 > /proc/sys/vm/drop_caches (cs_fsx has closed every file first)
#   remount  fusermount3 -u, then mount again
#   restart  cstorfs-ctl daemon stop (flushes, unmounts), wait for the daemon to exit, mount
#            again (which starts a new daemon)
#   kill     kill -9 the daemon, wait for it to exit, unmount lazily, mount again
#
# Every wait is bounded (about 20 s); a step that fails prints one line and exits 1. It
# leaves no process behind but the store's daemon, which the caller stops.
set -u
[ $# -eq 5 ] || { echo "usage: $0 BUILD STORE VOLUME MOUNTPOINT evict|remount|restart|kill" >&2; exit 2; }
B=$1 S=$2 V=$3 M=$4 WHAT=$5

die() {
	echo "cstorfs-events: $WHAT: $*" >&2
	exit 1
}

mounted() {
	awk -v m="$(realpath -s "$M")" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo
}

wait_gone() {
	local i
	for i in $(seq 400); do
		[ -d "/proc/$1" ] || return 0
		sleep 0.05
	done
	die "daemon $1 still running after 20 s"
}

# Mount again, retried while the daemon still releases the volume's old session.
mount_again() {
	local i err
	for i in $(seq 100); do
		err=$("$B/cstorfs" "$S:$V" "$M" 2>&1) && mounted && return 0
		sleep 0.2
	done
	die "cannot mount $S:$V at $M: $err"
}

pid=$(cat "$S/cstorfsd.pid" 2>/dev/null)
case $WHAT in
evict)
	echo 2 >/proc/sys/vm/drop_caches || die "drop_caches"
	;;
remount)
	for i in $(seq 100); do
		mounted || break
		fusermount3 -u "$M" 2>/dev/null || sleep 0.2
	done
	mounted && die "$M stays mounted (busy?)"
	mount_again
	;;
restart)
	[ -n "$pid" ] || die "no pid file in $S"
	"$B/cstorfs-ctl" --store "$S" daemon stop >/dev/null || die "daemon stop failed"
	wait_gone "$pid"
	mounted && die "$M still mounted after daemon stop"
	mount_again
	;;
kill)
	[ -n "$pid" ] || die "no pid file in $S"
	kill -9 "$pid" || die "kill -9 $pid"
	wait_gone "$pid"
	fusermount3 -u -z "$M" 2>/dev/null || umount -l "$M" 2>/dev/null
	mounted && die "$M still mounted after the kill"
	mount_again
	;;
*)
	die "unknown event"
	;;
esac
exit 0
