/*
 * cs_mounts.h - the daemon's table of FUSE sessions, one entry per mount
 * point: it starts sessions (cs_session_start), shares one session among
 * the mount points of a "shared" volume (bind mounts), notices a session
 * that ended by itself (fusermount3 -u) and frees it in a reaper thread,
 * and ends sessions on request. The control API (cs_api_mounts.c and the
 * volume and snapshot resources) is its only user.
 *
 * It validates nothing and answers no HTTP: its callers check names, mount
 * options and permissions, and turn its errors and conflict messages into
 * answers. Mount objects are JSON: {"volume", "mountpoint", "readonly",
 * "shared", "options"}.
 */
#ifndef CS_MOUNTS_H
#define CS_MOUNTS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "cs_session.h"
#include "cs_store.h"

struct cs_mounts;

/* What to mount, and how. */
struct cs_mount_spec {
	const char *volume;	   /* "VOLUME" or "VOLUME@SNAPSHOT" */
	const char *mountpoint;	   /* canonical absolute path */
	const char *options;	   /* the effective options, for listings */
	int readonly;		   /* this mount point refuses writes */
	int shared;		   /* one session for all of the volume's mount points */
	int snapshot;		   /* volume names a snapshot */
	struct cs_session_opts so; /* for a new session (so.readonly may change) */
};

/* The table of store @st, its reaper thread started. Returns 0 and *@out
 * (cs_mounts_free). Errors: -ENOMEM; pthread_create's. */
int cs_mounts_new(cs_store *st, struct cs_mounts **out);

/* Stop the reaper, end every session (flush and unmount, a log line
 * each), free. NULL does nothing. */
void cs_mounts_free(struct cs_mounts *mt);

/*
 * cs_mounts_add - mount @ms: a new session, or for a shared mount a bind
 * of the volume's shared session when it has one. Returns 0 mounted, *@json
 * the new mount (caller owns); 1 the same shared mount exists already,
 * *@json it. Errors, with *@json NULL: -EBUSY the mount point is taken or a
 * read-write mount of the volume conflicts, -ENOMEM, both explained in
 * @msg (@len bytes); the session's or the bind's errno (cs_session_start,
 * cs_mountpoint_bind) with @msg "" (cs_last_error may say more).
 */
int cs_mounts_add(struct cs_mounts *mt, struct cs_mount_spec *ms, cJSON **json, char *msg,
		  size_t len);

/* End the live sessions at @mountpoint (as given, else its realpath);
 * @why goes to the log. Errors: -ENOENT none there. */
int cs_mounts_end_at(struct cs_mounts *mt, const char *mountpoint, const char *why);

/* End the sessions of @volume and of its snapshots ("VOLUME@SNAP"). */
void cs_mounts_end_volume(struct cs_mounts *mt, const char *volume, const char *why);

/* Free the sessions that ended by themselves now (the reaper does it too). */
void cs_mounts_reap(struct cs_mounts *mt);

/* The live mounts as a JSON array (caller owns). */
cJSON *cs_mounts_json(struct cs_mounts *mt);

/* The mount points of live mounts of exactly @volume, a JSON array of
 * strings (caller owns). */
cJSON *cs_mounts_of(struct cs_mounts *mt, const char *volume);

/* How many entries of @volume and its snapshots are live or starting; one
 * of their mount points is copied to @where (@wlen bytes) when any. */
int cs_mounts_count(struct cs_mounts *mt, const char *volume, char *where, size_t wlen);

/* Non-zero (and a mount point in @where) when snapshot @vol@@snap is
 * mounted or being mounted. */
int cs_mounts_snapshot_at(struct cs_mounts *mt, const char *vol, const char *snap, char *where,
			  size_t wlen);

/* syncfs(2) on a live mount of @volume, so dirty kernel pages (writeback
 * cache) reach the store before a snapshot or a diff; failures are logged. */
void cs_mounts_sync(struct cs_mounts *mt, const char *volume);

#endif /* CS_MOUNTS_H */
