/*
 * cs_session.h - one FUSE session: one volume of a store mounted at one
 * mount point, served by libfuse's low-level API in a multi-threaded loop.
 *
 * The control API owns sessions (its table: api/cs_mounts.c); the FUSE operations
 * (cs_fuse.c) implement them. A session holds its volume open (read-write
 * unless read-only) for its whole life. Lifecycle:
 *
 *   cs_session_start()  mounts and returns once the mount is usable;
 *                       the loop runs in a thread of the session's own.
 *   (unmounted from outside by fusermount3 -u / umount)
 *                       the loop ends, buffered data is flushed, the
 *                       volume is closed, then on_end(s, ctx) runs on the
 *                       session's thread. on_end must not free @s.
 *   cs_session_stop()   unmounts if still mounted, waits for the loop to
 *                       end, closes the volume. Idempotent.
 *   cs_session_free()   stops if needed, joins the thread, frees.
 */
#ifndef CS_SESSION_H
#define CS_SESSION_H

#include "cs_store.h"

struct cs_session;

struct cs_session_opts {
	int readonly;          /* mount read-only (writes fail with EROFS) */
	int allow_other;       /* -o allow_other */
	int allow_root;        /* -o allow_root */
	const char *fsname;    /* fsname shown in /proc/mounts ("STORE:VOLUME"); NULL: volume name */
	const char *extra;     /* further validated FUSE options, comma list, or NULL */
	unsigned readahead_kb; /* the mount's kernel read-ahead (its bdi's
	                          read_ahead_kb) set after mounting; 0: the kernel's */
	unsigned dirty_ratio;  /* the share (percent) of the system's dirty page
	                          limit the mount may hold (its bdi's max_ratio);
	                          0: the kernel's (1 for FUSE) */
};

/* Mount option readahead_kb: default and upper bound (KiB). Sequential reads
 * of a FUSE mount arrive as the kernel's read-ahead requests; its default
 * window (128 KiB) leaves one or two requests in flight, a few MiB keep the
 * session's threads and the disk busy. */
#define CS_READAHEAD_KB_DEFAULT 8192u
#define CS_READAHEAD_KB_MAX 1048576u

/* Mount option dirty_ratio: default (percent). The kernel lets a FUSE mount
 * hold 1% of the system's dirty page limit, so a writer of scattered pages
 * stalls on writeback as soon as a few tens of MiB are dirty; the daemon is
 * a trusted (root) server, so its mounts may hold a tenth like a disk's share. */
#define CS_DIRTY_RATIO_DEFAULT 10u

typedef void (*cs_session_end_fn)(struct cs_session *s, void *ctx);

/*
 * cs_session_start - open @volume of @st (read-only when opts->readonly)
 * and mount it at @mountpoint. @volume "VOLUME@SNAPSHOT" (split at the
 * last '@') mounts a read-only view of that snapshot (readonly forced); (an absolute path to an existing directory).
 * Returns 0 and *@out once the kernel mount is in place.
 * Errors: -ENOENT no such volume or mount point; -EBUSY the volume is
 *         already open read-write (for a read-write mount);
 *         -ENOTDIR mount point not a directory; -ENOTEMPTY mount point not
 *         empty; -EINVAL bad options; -EIO FUSE failed to mount (the
 *         reason is in cs_last_error()).
 */
int cs_session_start(cs_store *st, const char *volume, const char *mountpoint,
                     const struct cs_session_opts *opts, cs_session_end_fn on_end,
                     void *ctx, struct cs_session **out);

/* Unmount (if mounted) and wait for the loop to end; flushes and closes
 * the volume. Safe after the session ended by itself. */
void cs_session_stop(struct cs_session *s);

/* Stop if needed, join the session thread and free. NULL does nothing.
 * Never call it from on_end. */
void cs_session_free(struct cs_session *s);

/* Non-zero once the loop has ended (unmounted from outside or stopped). */
int cs_session_ended(const struct cs_session *s);

/*
 * cs_session_set_mountpoint - record @mountpoint (another mount point of
 * the same superblock: a bind mount of the session's mount) as the
 * session's own, so that cs_session_stop() unmounts a path that is still
 * mounted. For shared mounts, when the original mount point goes while
 * binds remain. The caller must not hold a pointer returned by
 * cs_session_mountpoint() across this call. Errors: -ENOMEM.
 *
 * cs_session_stop() unmounts the recorded mount point; if the loop does
 * not end because other mount points of the superblock remain (binds), it
 * detaches those (as root) before it ever aborts the connection.
 */
int cs_session_set_mountpoint(struct cs_session *s, const char *mountpoint);

/* Accessors; strings owned by the session. */
const char *cs_session_volume(const struct cs_session *s);
const char *cs_session_mountpoint(const struct cs_session *s);
int cs_session_readonly(const struct cs_session *s);

#endif /* CS_SESSION_H */
