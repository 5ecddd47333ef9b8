/*
 * main_ctl.c - cstorfs-ctl, the command line of cstorfs: the table of its
 * commands, and main.
 *
 * Every command is one or two control API requests through cs_client
 * (which starts the daemon when none answers). Each row below declares a
 * command once: its words, arguments, options, help and handler; ctl_cmd.c
 * parses and checks command lines against it, prints the help from it and
 * runs the handler; the handlers live by resource in ctl_volumes.c,
 * ctl_snapshots.c, ctl_streams.c and ctl_store.c. README.md's table of
 * cstorfs-ctl commands must name every row (test_cli_table.py checks it,
 * through `cstorfs-ctl help --commands`). docs/interfaces.md is the
 * contract for commands, output and exit codes.
 */
#include <signal.h>

#include "ctl_cmd.h"
#include "ctl_push.h"
#include "ctl_snapshots.h"
#include "ctl_store.h"
#include "ctl_streams.h"
#include "ctl_volumes.h"

/*
 * Writing a row: ARGS(ARG(META, TYPE, more fields...), ...) and
 * OPTS(FLAG(NAME, ALIAS, HELP, more...), VALUE(NAME, ALIAS, TYPE, META,
 * HELP, more...), ...); "more" are designated fields (.flags, .check,
 * .what). The fields of a row are those of struct ctl_cmd (ctl_cmd.h).
 */
#define ARG(m, t, ...)                                                                             \
	{                                                                                          \
		.meta = (m), .type = (t), __VA_ARGS__                                              \
	}
#define ARGS(...) ((const struct ctl_arg[]){__VA_ARGS__, {0}})
#define FLAG(n, a, h, ...)                                                                         \
	{                                                                                          \
		.name = (n), .alias = (a), .type = CTL_FLAG, .help = (h), __VA_ARGS__              \
	}
#define VALUE(n, a, t, m, h, ...)                                                                  \
	{                                                                                          \
		.name = (n), .alias = (a), .type = (t), .meta = (m), .help = (h), __VA_ARGS__      \
	}
#define OPTS(...) ((const struct ctl_opt[]){__VA_ARGS__, {0}})

/* What several rows share. */
#define A_VOLUME ARGS(ARG("VOLUME", CTL_ARG_VOLUME))
#define A_SNAPSHOT ARGS(ARG("VOLUME@NAME", CTL_ARG_SNAPSHOT))
#define O_COMPRESSION                                                                              \
	VALUE("--compression", NULL, CTL_STRING, "zstd:N|none",                                    \
	      "zstd at level N (1..19), or none; default zstd:1 (a clone: the origin's)",          \
	      .check = ctl_check_compression)
#define O_QUOTA VALUE("--quota", NULL, CTL_SIZE, "SIZE", "at most SIZE of data (default: none)")
#define O_CHUNK_SIZE                                                                               \
	VALUE("--chunk-size", NULL, CTL_SIZE, "SIZE",                                              \
	      "bytes per chunk, a power of two from 4K to 1M (default 64K; like ZFS's recordsize)")
#define O_QUIET FLAG("--quiet", "-q", "no progress line on stderr")

/* The four scrub rows take the same words, so that scrub status and stop
 * can say which of them do not go there (@hide: CTL_HIDE). */
#define SCRUB_OPTS(rate, wait, quiet, cancel)                                                      \
	OPTS(VALUE("--rate", NULL, CTL_SIZE, "SIZE", "read at most SIZE per second",               \
		   .check = ctl_check_rate, .flags = (rate)),                                      \
	     FLAG("--wait", NULL, "until it ends, then the report", .flags = (wait)),              \
	     FLAG("--quiet", NULL, "no progress line", .flags = (quiet)),                          \
	     FLAG("--cancel", NULL, "cancel the running scrub", .flags = (cancel)))
#define SCRUB_VOLUME(hide) ARGS(ARG("VOLUME", CTL_ARG_VOLUME, .flags = CTL_OPTIONAL | (hide)))
#define H CTL_HIDE

static const struct ctl_cmd commands[] = {
    /* volumes and mounts (ctl_volumes.c) */
    {.name = "volume",
     .sub = "create",
     .args = ARGS(ARG("NAME", CTL_ARG_VOLUME)),
     .opts = OPTS(O_COMPRESSION, O_QUOTA, O_CHUNK_SIZE),
     .help = "create a volume",
     .flags = CTL_DAEMON,
     .run = ctl_volume_create,
     .done = "created volume '{0}'"},
    {.name = "volume",
     .sub = "list",
     .alias = "ls",
     .help = "list volumes",
     .flags = CTL_DAEMON,
     .run = ctl_volume_list,
     .print = ctl_volume_list_print},
    {.name = "volume",
     .sub = "inspect",
     .args = ARGS(ARG("NAME", CTL_ARG_VOLUME)),
     .help = "show one volume",
     .flags = CTL_DAEMON,
     .run = ctl_volume_inspect,
     .print = ctl_volume_inspect_print},
    {.name = "volume",
     .sub = "rename",
     .args = ARGS(ARG("OLD", CTL_ARG_VOLUME), ARG("NEW", CTL_ARG_NAME, .what = "new volume name")),
     .help = "rename a volume (not while mounted)",
     .flags = CTL_DAEMON,
     .run = ctl_volume_rename,
     .done = "renamed volume '{0}' to '{1}'"},
    {.name = "volume",
     .sub = "rm",
     .alias = "remove",
     .args = ARGS(ARG("NAME", CTL_ARG_VOLUME)),
     .opts = OPTS(FLAG("--force", "-f", "unmount it first")),
     .help = "remove a volume and every chunk nothing else uses",
     .flags = CTL_DAEMON,
     .run = ctl_volume_rm,
     .done = "removed volume '{0}'"},
    {.name = "mount",
     .args = ARGS(ARG("NAME[@SNAPSHOT]", CTL_ARG_VOLSNAP), ARG("MOUNTPOINT", CTL_ARG_ANY)),
     .opts = OPTS(VALUE("-o", "--options", CTL_STRING, "OPTIONS",
			"ro, rw, allow_other, allow_root, default_permissions, readahead_kb=N, "
			"dirty_ratio=N, rados_timeout=N, ..."),
		  FLAG("--shared", NULL,
		       "(root) one session per volume; more mount points are bind mounts of it")),
     .help = "mount a volume (a snapshot: read-only)",
     .run = ctl_mount,
     .print = ctl_mount_print},
    {.name = "unmount",
     .alias = "umount",
     .args = ARGS(ARG("MOUNTPOINT", CTL_ARG_ANY)),
     .help = "unmount",
     .run = ctl_unmount,
     .print = ctl_unmount_print},

    /* snapshots and clones (ctl_snapshots.c) */
    {.name = "snapshot",
     .sub = "create",
     .args = A_SNAPSHOT,
     .help = "snapshot a volume (O(1))",
     .flags = CTL_DAEMON,
     .run = ctl_snapshot_create,
     .done = "created snapshot '{0}'"},
    {.name = "snapshot",
     .sub = "list",
     .alias = "ls",
     .args = ARGS(ARG("VOLUME", CTL_ARG_VOLUME, .flags = CTL_OPTIONAL)),
     .help = "list snapshots (of every volume when omitted)",
     .flags = CTL_DAEMON,
     .run = ctl_snapshot_list,
     .print = ctl_snapshot_list_print},
    {.name = "snapshot",
     .sub = "rm",
     .alias = "remove",
     .args = A_SNAPSHOT,
     .help = "remove a snapshot (space is reclaimed shortly)",
     .flags = CTL_DAEMON,
     .run = ctl_snapshot_rm,
     .done = "removed snapshot '{0}'"},
    {.name = "snapshot",
     .sub = "rename",
     .args = ARGS(ARG("VOLUME@OLD", CTL_ARG_SNAPSHOT), ARG("NEW", CTL_ARG_SNAPNAME)),
     .help = "rename a snapshot",
     .flags = CTL_DAEMON,
     .run = ctl_snapshot_rename,
     .done = "renamed snapshot '{0}' to '{0.vol}@{1}'"},
    {.name = "clone",
     .args = ARGS(ARG("VOLUME@SNAPSHOT", CTL_ARG_SNAPSHOT), ARG("NEWVOLUME", CTL_ARG_VOLUME)),
     .opts = OPTS(O_COMPRESSION, O_QUOTA),
     .help = "a new volume sharing the snapshot's data (O(1))",
     .flags = CTL_DAEMON,
     .run = ctl_clone,
     .done = "created volume '{1}' as a clone of '{0}'"},
    {.name = "promote",
     .args = A_VOLUME,
     .help = "make a clone independent of its origin",
     .flags = CTL_DAEMON,
     .run = ctl_promote,
     .done = "promoted volume '{0}': it no longer depends on its origin"},
    {.name = "rollback",
     .args = A_SNAPSHOT,
     .opts = OPTS(FLAG("-r", NULL, "destroy the later snapshots"),
		  FLAG("--force", "-f", "unmount the volume first")),
     .help = "make the volume what the snapshot holds",
     .flags = CTL_DAEMON,
     .run = ctl_rollback,
     .done = "rolled volume '{0.vol}' back to '{0.snap}'"},
    {.name = "diff",
     .args = ARGS(ARG("VOLUME@A", CTL_ARG_SNAPSHOT),
		  ARG("VOLUME@B", CTL_ARG_VOLSNAP, .flags = CTL_OPTIONAL)),
     .help = "paths changed from A to B (or the live volume): + created, - deleted, "
	     "M modified, R renamed",
     .run = ctl_diff,
     .print = ctl_diff_print},

    /* the store (ctl_store.c) */
    {.name = "gc",
     .help = "reclaim space now; prints what it freed",
     .flags = CTL_DAEMON,
     .run = ctl_gc,
     .print = ctl_gc_print},
    {.name = "check",
     .help = "the store's consistency check: counters, chunk references, every referenced "
	     "chunk present; prints OK or each problem (exit 1)",
     .flags = CTL_DAEMON,
     .run = ctl_check},

    /* replication (ctl_streams.c) */
    {.name = "send",
     .args = ARGS(ARG("VOLUME@SNAP", CTL_ARG_VOLSNAP, .flags = CTL_OPTIONAL)),
     .opts = OPTS(VALUE("-i", NULL, CTL_STRING, "[BASEVOL@]BASE",
			"only the changes since BASE (of VOLUME, or of BASEVOL: a clone's "
			"origin)"),
		  VALUE("-I", NULL, CTL_STRING, "[BASEVOL@]BASE",
			"the same, with every snapshot in between", .flags = CTL_ALT),
		  VALUE("-o", NULL, CTL_STRING, "FILE", "write to FILE"),
		  VALUE("--resume", NULL, CTL_STRING, "TOKEN",
			"the rest of a cut stream (VOLUME@SNAP may then be omitted)",
			.check = ctl_check_token),
		  FLAG("--dry-run", "-n", "print the stream's exact size only"),
		  FLAG("--with-data", NULL, "carry chunk bytes even when the store's chunks are "
		       "in a RADOS pool (else a stream of chunk names, for stores of that pool)"),
		  O_QUIET),
     .help = "write a replication stream of the snapshot to stdout (never a terminal) or FILE",
     .run = ctl_send,
     .print = ctl_send_print},
    {.name = "receive",
     .alias = "recv",
     .args = A_VOLUME,
     .opts = OPTS(VALUE("-i", NULL, CTL_STRING, "FILE", "read from FILE"),
		  FLAG("--force", "-F", "roll VOLUME back to the base first if it changed since"),
		  O_QUIET, FLAG("--resume-token", NULL, "print the token to resume a cut receive"),
		  FLAG("--abort", NULL,
		       "discard a cut receive (the same send | receive run again finishes it "
		       "instead)")),
     .help = "apply a stream read from stdin (never a terminal) or FILE; a full stream "
	     "creates VOLUME",
     .run = ctl_receive,
     .print = ctl_receive_print},
    {.name = "stream",
     .sub = "inspect",
     .args = ARGS(ARG("FILE", CTL_ARG_ANY)),
     .help = "describe a stream ('-': stdin) and check it (no daemon)",
     .flags = CTL_NO_STORE,
     .run = ctl_stream_inspect},

    /* pushed copies in the pool of a RADOS store (ctl_push.c) */
    {.name = "push",
     .args = A_SNAPSHOT,
     .opts = OPTS(VALUE("--as", NULL, CTL_STRING, "NAME",
			"the copy's name in the pool (default VOLUME@SNAP)",
			.check = ctl_check_pushname),
		  VALUE("--from", NULL, CTL_STRING, "SNAP",
			"incremental to the pushed copy of VOLUME@SNAP (an older snapshot)")),
     .help = "keep the snapshot's stream in the store's RADOS pool, holding every chunk it "
	     "names: a lost host loses nothing pushed",
     .flags = CTL_DAEMON,
     .run = ctl_push,
     .print = ctl_push_print},
    {.name = "pushed",
     .opts = OPTS(VALUE("--delete", NULL, CTL_STRING, "NAME",
			"remove the pushed copy NAME and give back what it held",
			.check = ctl_check_pushname)),
     .help = "list the pushed copies the pool holds (name, snapshot, base, bytes, date)",
     .flags = CTL_DAEMON,
     .run = ctl_pushed,
     .print = ctl_pushed_print},
    {.name = "pull",
     .args = ARGS(ARG("NAME", CTL_ARG_NAME, .what = "pushed copy name"),
		  ARG("VOLUME", CTL_ARG_VOLUME, .flags = CTL_OPTIONAL)),
     .help = "recreate a pushed copy, with its snapshots, as VOLUME (default: the volume "
	     "pushed) on this store of the same pool; no chunk data moves",
     .flags = CTL_DAEMON,
     .run = ctl_pull,
     .print = ctl_pull_print},

    /* scrub (ctl_store.c) */
    {.name = "scrub",
     .args = SCRUB_VOLUME(0),
     .opts = SCRUB_OPTS(0, 0, 0, 0),
     .help = "read and verify in the background every chunk of the store (or those VOLUME and "
	     "its snapshots use); --wait: exit 1 when damage was found",
     .run = ctl_scrub,
     .print = ctl_scrub_print},
    {.name = "scrub",
     .sub = "start",
     .args = SCRUB_VOLUME(0),
     .opts = SCRUB_OPTS(0, 0, 0, H),
     .help = "the same (for a volume named status or stop)",
     .run = ctl_scrub,
     .print = ctl_scrub_print},
    {.name = "scrub",
     .sub = "status",
     .args = SCRUB_VOLUME(H),
     .opts = SCRUB_OPTS(H, 0, 0, H),
     .help = "its progress, or the last result: each damaged chunk with the files and "
	     "snapshots using it",
     .run = ctl_scrub,
     .print = ctl_scrub_print},
    {.name = "scrub",
     .sub = "stop",
     .alias = "cancel",
     .args = SCRUB_VOLUME(H),
     .opts = SCRUB_OPTS(H, H, H, H),
     .help = "cancel the running scrub (as scrub --cancel)",
     .run = ctl_scrub,
     .print = ctl_scrub_print},

    /* the store (ctl_storecreate.c) */
    {.name = "store",
     .sub = "create",
     .opts = OPTS(VALUE("--chunks", NULL, CTL_STRING, "local|rados:POOL",
			"where chunks live: local chunk files (default), or a Ceph RADOS pool"),
		  VALUE("--ceph-conf", NULL, CTL_STRING, "FILE", "the cluster's ceph.conf"),
		  VALUE("--ceph-id", NULL, CTL_STRING, "NAME", "the Ceph client name (default admin)")),
     .help = "create the store (no daemon runs for it yet)",
     .run = ctl_store_create},
    /* the daemon (ctl_store.c) */
    {.name = "status",
     .help = "the daemon, its store, its health and its mounts",
     .flags = CTL_DAEMON,
     .run = ctl_status,
     .print = ctl_status_print},
    {.name = "daemon",
     .sub = "start",
     .help = "start the store's daemon if none runs",
     .flags = CTL_DAEMON,
     .run = ctl_daemon_start},
    {.name = "daemon",
     .sub = "stop",
     .help = "stop the store's daemon (unmounts everything)",
     .run = ctl_daemon_stop},
    {0}};

static const char footer[] =
    "\n"
    "SIZE: bytes, or with a suffix K, M, G, T (powers of 1024; KiB, KB, K alike).\n"
    "A daemon (cstorfsd) is started for the store when none answers.\n"
    "\n"
    "Exit codes:\n"
    "  0  ok\n"
    "  1  failure reported by the daemon, or an I/O error\n"
    "  2  usage error (bad command line, bad name or size)\n"
    "  3  cannot reach or start the daemon, or the store is in use\n"
    "  4  not found (ENOENT)\n"
    "  5  already exists or busy (EEXIST, EBUSY, ENOTEMPTY; receive: the target\n"
    "     changed since the stream's base, ESTALE)\n"
    "  Stream errors (corrupt or cut stream, a stream inspect that fails its\n"
    "  check) exit with 1.\n";

int main(int argc, char **argv)
{
	cs_cli_set_prog(PROG);
	signal(SIGPIPE, SIG_IGN);
	return ctl_main(commands, footer, argc, argv);
}
