#!/bin/bash
# ceph-dev.sh - a one-node Ceph cluster (one monitor, one mgr, one OSD) for tests and for
# trying the RADOS chunk storage (issue 15), from Debian's packages, without systemd.
#
#   scripts/ceph-dev.sh start DIR [--pool NAME] [--size SIZE] [--objectstore memstore|bluestore]
#                                 [--no-mgr]
#   scripts/ceph-dev.sh stop DIR
#   scripts/ceph-dev.sh status DIR
#
# start prints the path of the ceph.conf it wrote (DIR/ceph.conf) on stdout and nothing else;
# clients use it: `rados -c DIR/ceph.conf -p cstorfs ls`. The pool (default cstorfs, or
# $CEPH_DEV_POOL) has size 1 and application rados; start returns once its placement groups
# are active+clean. --size is the OSD's capacity (default 2G; memstore keeps it in RAM, about
# 2.2x the bytes stored in RSS, bluestore a sparse file DIR/osd.0.block). --no-mgr skips the
# mgr (300 MB less; then PG states cannot be listed, so start waits for a probe write instead).
#
# Everything lives under DIR: the conf, the daemons' data, logs (DIR/log), admin sockets and
# pid files (DIR/run). Authentication is off (auth ... required = none): a cluster for one
# machine's tests, bound to 127.0.0.1 only. The monitor's two ports are picked at random from
# 20000-32767 among those nobody listens on, under a lock (/tmp/ceph-dev.ports.lock) held until
# the monitor has bound them, so two clusters started at the same moment never collide; the
# OSD and mgr bind the first free ports of Ceph's usual 6800-7300 range by themselves.
#
# A start on a DIR whose cluster is still running fails (exit 3); on a DIR whose daemons are
# dead (stopped, killed, machine rebooted) it wipes the old cluster under DIR and starts a new
# one. stop signals only the pids in DIR/run/*.pid whose command line names DIR's conf: the
# OSD first (an OSD whose monitor is gone waits for it), then the mgr, then the monitor; each
# gets SIGTERM, a bounded wait, then SIGKILL.
#
# Exit codes: 0 ok; 1 failure (the last lines of the daemon's log on stderr); 2 usage;
# 3 already running (start) / not running (status); 4 Ceph's packages are missing.
set -u

PORT_LOCK=/tmp/ceph-dev.ports.lock
START_TIMEOUT=${CEPH_DEV_TIMEOUT:-90}	# seconds for each wait of a start

die() { echo "ceph-dev.sh: $*" >&2; exit 1; }
usage() {
	echo "usage: $0 start DIR [--pool NAME] [--size SIZE] [--objectstore memstore|bluestore] [--no-mgr]" >&2
	echo "       $0 stop DIR | status DIR" >&2
	exit 2
}

need_packages() {
	local missing="" b
	for b in ceph-mon ceph-osd ceph-mgr ceph monmaptool rados; do
		command -v "$b" >/dev/null 2>&1 || missing="$missing $b"
	done
	if [ -n "$missing" ]; then
		echo "ceph-dev.sh: missing Ceph programs:$missing; install Debian's packages:" \
			"apt-get install -y ceph-mon ceph-osd ceph-mgr ceph-common (or scripts/deps.sh test)" >&2
		exit 4
	fi
}

# Sizes: 2G, 512M, 1073741824.
parse_size() {
	local n=${1%[KkMmGg]} u=${1##*[0-9]}
	case "$n" in '' | *[!0-9]*) return 1 ;; esac
	case "$u" in
	'') echo "$n" ;;
	K | k) echo $((n << 10)) ;;
	M | m) echo $((n << 20)) ;;
	G | g) echo $((n << 30)) ;;
	*) return 1 ;;
	esac
}

# --- processes: only the pids of our pid files, only if they run our conf -------------

DAEMONS="osd.0 mgr.x mon.a"	# the order of stop

# The pid in DIR/run/NAME.pid if that process is alive (not a zombie) and runs DIR's conf.
daemon_pid() {
	local f="$D/run/$1.pid" pid st
	[ -r "$f" ] || return 1
	pid=$(cat "$f" 2>/dev/null) || return 1
	case "$pid" in '' | *[!0-9]*) return 1 ;; esac
	st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
	[ "$st" != Z ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-c $D/ceph.conf" || return 1
	echo "$pid"
}

# Wait up to $2 tenths of a second for pid $1 to end.
wait_gone() {
	local i=0 st
	while [ "$i" -lt "$2" ]; do
		st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
		[ "$st" = Z ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

stop_one() {
	local pid
	pid=$(daemon_pid "$1") || { rm -f "$D/run/$1.pid"; return 0; }
	kill -TERM "$pid" 2>/dev/null
	# an OSD saves memstore's contents on a clean stop: give it longer
	if ! wait_gone "$pid" "$2"; then
		echo "ceph-dev.sh: $1 (pid $pid) still running after SIGTERM; SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null
		wait_gone "$pid" 50 || die "$1 (pid $pid) survives SIGKILL"
	fi
	rm -f "$D/run/$1.pid"
}

cmd_stop() {
	stop_one osd.0 150
	stop_one mgr.x 50
	stop_one mon.a 50
}

cmd_status() {
	local n pid up=0
	for n in mon.a mgr.x osd.0; do
		if pid=$(daemon_pid "$n"); then
			echo "$n: running, pid $pid"
			up=$((up + 1))
		else
			echo "$n: not running"
		fi
	done
	[ "$up" -gt 0 ] || return 3
	[ -r "$D/ceph.conf" ] && echo "conf: $D/ceph.conf"
	timeout 10 ceph -c "$D/ceph.conf" --connect-timeout 5 health 2>/dev/null | sed 's/^/health: /'
	return 0
}

# --- start --------------------------------------------------------------------------

# Two free TCP ports on 127.0.0.1 outside the ephemeral range (so no outgoing connection
# holds them a moment later), as "P2 P1".
pick_ports() {
	python3 - <<'EOF'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
while True:
    p = random.randrange(20000, 32767, 2)
    if free(p) and free(p + 1):
        print(p, p + 1)
        break
EOF
}

write_conf() {
	cat >"$D/ceph.conf" <<EOF
# written by scripts/ceph-dev.sh: a one-node test cluster, no authentication, 127.0.0.1 only
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$P2,v1:127.0.0.1:$P1]
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
run dir = $D/run
crash dir = $D/crash
exporter sock dir = $D/run
log file = $D/log/\$name.log
ms bind ipv6 = false
public addr = 127.0.0.1
osd objectstore = $OBJSTORE
memstore device bytes = $SIZE
bluestore block path = $D/osd.0.block
bluestore block create = true
bluestore block size = $SIZE
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
osd crush chooseleaf type = 0
paxos propose interval = 0.1
mgr stats period = 1
mon mgr digest period = 1
mgr tick period = 1
mon data avail warn = 2
mon data avail crit = 1
mon warn on insecure global id reclaim allowed = false
mon warn on pool no redundancy = false
mon osd full ratio = .95
mon osd nearfull ratio = .90
osd pool default pg num = 8
osd pool default pgp num = 8

[mon.a]
mon data = $D/mon.a
admin socket = $D/run/mon.a.asok
pid file = $D/run/mon.a.pid
log file = $D/log/mon.a.log

[mgr.x]
mgr data = $D/mgr.x
admin socket = $D/run/mgr.x.asok
pid file = $D/run/mgr.x.pid
log file = $D/log/mgr.x.log
mgr module path = $D/mgr-modules
mgr initial modules =

[osd.0]
osd data = $D/osd.0
admin socket = $D/run/osd.0.asok
pid file = $D/run/osd.0.pid
log file = $D/log/osd.0.log
EOF
}

# The mgr's always-on modules (the monitor insists on them) and nothing else: half the
# start time and the memory of the full set.
mgr_modules() {
	local src=/usr/share/ceph/mgr m
	mkdir -p "$D/mgr-modules"
	for m in mgr_module.py mgr_util.py balancer crash devicehealth orchestrator \
		pg_autoscaler progress rbd_support status telemetry volumes; do
		[ -e "$src/$m" ] && ln -sfn "$src/$m" "$D/mgr-modules/$m"
	done
}

# Print the last lines of a log and fail.
fail_log() {
	echo "ceph-dev.sh: $1" >&2
	[ -r "$D/log/$2.log" ] && tail -n 15 "$D/log/$2.log" | sed 's/^/  | /' >&2
	cmd_stop
	exit 1
}

CEPH() { timeout 20 ceph -c "$D/ceph.conf" --connect-timeout 10 "$@"; }

# wait_for WHAT LOGNAME COMMAND...: retry COMMAND until it succeeds or START_TIMEOUT.
wait_for() {
	local what=$1 log=$2 end=$((SECONDS + START_TIMEOUT))
	shift 2
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$end" ] || fail_log "timed out waiting for $what" "$log"
		sleep 0.2
	done
}

mon_up() {
	local pid
	pid=$(daemon_pid mon.a) || return 1
	CEPH quorum_status
}

# The monitor: monmap, mkfs, start. Port choice and bind happen under the lock.
start_mon() {
	local try
	for try in 1 2 3; do
		exec 9>"$PORT_LOCK"
		flock 9
		read -r P2 P1 < <(pick_ports)
		[ -n "$P1" ] || die "cannot pick free ports"
		write_conf
		rm -rf "$D/mon.a" "$D/monmap"
		monmaptool --create --clobber --fsid "$FSID" \
			--addv a "[v2:127.0.0.1:$P2,v1:127.0.0.1:$P1]" "$D/monmap" >/dev/null 2>&1 ||
			die "monmaptool failed"
		ceph-mon -c "$D/ceph.conf" --mkfs -i a --monmap "$D/monmap" 9>&- >/dev/null 2>&1 ||
			fail_log "ceph-mon --mkfs failed" mon.a
		ceph-mon -c "$D/ceph.conf" -i a 9>&- >/dev/null 2>&1 ||
			fail_log "ceph-mon failed to start" mon.a
		# the pid file appears once the monitor has bound its ports
		local end=$((SECONDS + 10))
		while ! daemon_pid mon.a >/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.1; done
		flock -u 9
		exec 9>&-
		if daemon_pid mon.a >/dev/null; then
			wait_for "the monitor's quorum" mon.a mon_up
			return 0
		fi
		grep -q "Address already in use" "$D/log/mon.a.log" 2>/dev/null ||
			fail_log "the monitor did not start" mon.a
		echo "ceph-dev.sh: port $P2/$P1 taken meanwhile, again with others" >&2
	done
	fail_log "the monitor found no free port" mon.a
}

osd_up_in() {
	CEPH osd dump -f json | python3 -c '
import json, sys
o = [x for x in json.load(sys.stdin)["osds"] if x["osd"] == 0]
sys.exit(0 if o and o[0]["up"] == 1 and o[0]["in"] == 1 else 1)'
}

pgs_clean() {
	CEPH pg ls-by-pool "$POOL" -f json | python3 -c '
import json, sys
d = json.load(sys.stdin)
pgs = d["pg_stats"] if isinstance(d, dict) else d
sys.exit(0 if pgs and all(p["state"] == "active+clean" for p in pgs) else 1)'
}

probe_write() {
	timeout 20 rados -c "$D/ceph.conf" -p "$POOL" put ceph-dev-probe /dev/null &&
		timeout 20 rados -c "$D/ceph.conf" -p "$POOL" rm ceph-dev-probe
}

start_osd() {
	local uuid
	uuid=$(cat /proc/sys/kernel/random/uuid)
	[ "$(CEPH osd new "$uuid" 2>/dev/null)" = 0 ] || fail_log "ceph osd new did not give osd 0" mon.a
	mkdir -p "$D/osd.0"
	ceph-osd -c "$D/ceph.conf" -i 0 --mkfs --osd-uuid "$uuid" >/dev/null 2>&1 ||
		fail_log "ceph-osd --mkfs failed" osd.0
	ceph-osd -c "$D/ceph.conf" -i 0 >/dev/null 2>&1 || fail_log "ceph-osd failed to start" osd.0
	wait_for "osd.0 up and in" osd.0 osd_up_in
}

cmd_start() {
	local n
	for n in mon.a mgr.x osd.0; do
		daemon_pid "$n" >/dev/null && {
			echo "ceph-dev.sh: a cluster is already running in $D ($n); stop it first" >&2
			exit 3
		}
	done
	# a dead cluster: start clean (only what this script creates)
	rm -rf "$D/mon.a" "$D/mgr.x" "$D/osd.0" "$D/osd.0.block" "$D/run" "$D/log" "$D/crash" \
		"$D/mgr-modules" "$D/monmap" "$D/ceph.conf"
	mkdir -p "$D/run" "$D/log" "$D/crash" "$D/mgr.x" || die "cannot create $D's directories"
	FSID=$(cat /proc/sys/kernel/random/uuid)
	start_mon
	if [ "$MGR" = 1 ]; then
		mgr_modules
		ceph-mgr -c "$D/ceph.conf" -i x >/dev/null 2>&1 || fail_log "ceph-mgr failed to start" mgr.x
	fi
	start_osd
	CEPH osd pool create "$POOL" 8 8 replicated --size 1 --yes-i-really-mean-it >/dev/null 2>&1 ||
		CEPH osd pool create "$POOL" 8 8 >/dev/null 2>&1 || fail_log "cannot create pool $POOL" mon.a
	CEPH osd pool set "$POOL" size 1 --yes-i-really-mean-it >/dev/null 2>&1
	CEPH osd pool application enable "$POOL" rados >/dev/null 2>&1 ||
		fail_log "cannot enable application rados on $POOL" mon.a
	if [ "$MGR" = 1 ]; then
		wait_for "pool $POOL's PGs active+clean" osd.0 pgs_clean
	else
		wait_for "a first write to pool $POOL" osd.0 probe_write
	fi
	echo "$D/ceph.conf"
}

[ $# -ge 2 ] || usage
CMD=$1
case "$2" in /*) D=$2 ;; *) D=$(pwd)/$2 ;; esac
D=${D%/}
shift 2
POOL=${CEPH_DEV_POOL:-cstorfs}
SIZE=$((2 << 30))
OBJSTORE=memstore
MGR=1
while [ $# -gt 0 ]; do
	case "$1" in
	--pool) [ $# -ge 2 ] || usage; POOL=$2; shift ;;
	--size) [ $# -ge 2 ] || usage
		SIZE=$(parse_size "$2") || { echo "ceph-dev.sh: bad size: $2" >&2; exit 2; }
		shift ;;
	--objectstore) [ $# -ge 2 ] || usage; OBJSTORE=$2; shift
		case "$OBJSTORE" in memstore | bluestore) ;; *) usage ;; esac ;;
	--no-mgr) MGR=0 ;;
	*) usage ;;
	esac
	shift
done
case "$POOL" in '' | *[!A-Za-z0-9_.-]*)
	echo "ceph-dev.sh: bad pool name: '$POOL' (letters, digits, _ . -)" >&2; exit 2 ;;
esac

case "$CMD" in
start)
	need_packages
	[ "$(id -u)" = 0 ] || { echo "ceph-dev.sh: start needs root" >&2; exit 1; }
	mkdir -p "$D" || die "cannot create $D"
	D=$(cd "$D" && pwd -P)
	cmd_start
	;;
stop)
	[ -d "$D" ] || { echo "ceph-dev.sh: no such directory: $D" >&2; exit 1; }
	D=$(cd "$D" && pwd -P)
	cmd_stop
	;;
status)
	[ -d "$D" ] || { echo "ceph-dev.sh: no such directory: $D" >&2; exit 1; }
	D=$(cd "$D" && pwd -P)
	cmd_status
	;;
*) usage ;;
esac
