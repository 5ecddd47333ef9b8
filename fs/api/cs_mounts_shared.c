/*
 * cs_mounts_shared.c - the shared sessions of the session table (see
 * cs_mounts.h and cs_mounts_int.h): the mount points of a volume mounted
 * "shared" are table entries that point at one struct shared, the FUSE
 * session they share. The first one starts the session (read-write unless a
 * snapshot, so read-write binds can follow), the others are bind mounts of
 * a mount point of it, each with its own read-only flag, and the last one
 * to go ends it.
 *
 * Lock order: mt->shared_lock (held while a shared mount point is created
 * or removed), then mt->lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "cs_log.h"
#include "cs_mountpoint.h"
#include "cs_mounts_int.h"

/* on_end of a shared session: every mount point of it has gone. */
static void shared_on_end(struct cs_session *s, void *ctx)
{
	struct shared *sh = ctx;
	struct cs_mounts *mt = sh->mt;
	struct mount *m;

	pthread_mutex_lock(&mt->lock);
	for (m = mt->list; m; m = m->next)
		if (m->sh == sh && m->state == MOUNT_LIVE)
			m->state = MOUNT_ENDED;
	mt->reap_wanted = 1;
	pthread_cond_broadcast(&mt->cond);
	pthread_mutex_unlock(&mt->lock);
}

/*
 * Release a shared entry taken from the table (shared_lock held, lock
 * not). Not the last one: detach its mount point only, and when the
 * session had it recorded as its own, move the record to a mount point
 * that remains. The last one: the session goes with it.
 */
static void shared_release(struct cs_mounts *mt, struct mount *m, int ended)
{
	struct shared *sh = m->sh;
	const struct mount *o;
	char *other = NULL;
	int last;

	pthread_mutex_lock(&mt->lock);
	last = --sh->refs == 0;
	for (o = mt->list; !last && o; o = o->next)
		if (o->sh == sh && o->state == MOUNT_LIVE) {
			other = strdup(o->mountpoint);
			break;
		}
	pthread_mutex_unlock(&mt->lock);
	if (last) {
		if (!ended && strcmp(cs_session_mountpoint(sh->s), m->mountpoint))
			cs_session_set_mountpoint(sh->s, m->mountpoint);
		cs_session_free(sh->s);
		free(sh);
	} else if (!ended) {
		if (other && !strcmp(cs_session_mountpoint(sh->s), m->mountpoint))
			cs_session_set_mountpoint(sh->s, other);
		cs_mountpoint_unbind(m->mountpoint);
	}
	free(other);
}

/* The entry at @nm's mount point: 1 and *@json when it is the same shared
 * mount, else -EBUSY; 0 when there is none (lock held). */
static int shared_taken(struct cs_mounts *mt, struct mount *nm, cJSON **json, char *msg, size_t len)
{
	const struct mount *m;

	for (m = mt->list; m; m = m->next) {
		if (m->state == MOUNT_ENDED || strcmp(m->mountpoint, nm->mountpoint))
			continue;
		if (m->state == MOUNT_LIVE && m->shared && !strcmp(m->volume, nm->volume) &&
		    m->readonly == nm->readonly) {
			*json = cs_mounts_entry_json(m);
			return 1;
		}
		snprintf(msg, len, "%s is already a mount point of volume '%s'", nm->mountpoint,
			 m->volume);
		return -EBUSY;
	}
	return 0;
}

/*
 * Reserve @nm's mount point for a shared mount (lock held). Sets *@src to
 * a mount point of the volume's shared session (malloc'd) and *@sh to it,
 * or both NULL when the volume has none yet. Returns 1 (*@json set) when
 * the same shared mount exists already, 0 when reserved, or an error.
 */
static int shared_reserve(struct cs_mounts *mt, struct mount *nm, struct shared **sh, char **src,
			  cJSON **json, char *msg, size_t len)
{
	struct mount *m;
	int err;

	*sh = NULL;
	*src = NULL;
	if ((err = shared_taken(mt, nm, json, msg, len)))
		return err;
	for (m = mt->list; m; m = m->next) {
		if (m->state != MOUNT_LIVE || !m->sh || strcmp(m->volume, nm->volume))
			continue;
		*src = strdup(m->mountpoint);
		if (!*src) {
			snprintf(msg, len, "out of memory");
			return -ENOMEM;
		}
		*sh = m->sh;
		break;
	}
	for (m = mt->list; !*sh && m; m = m->next) {
		if (m->state != MOUNT_ENDED && !strcmp(m->volume, nm->volume) && !m->readonly) {
			snprintf(msg, len,
				 "volume '%s' is already mounted read-write at %s (not shared)",
				 nm->volume, m->mountpoint);
			return -EBUSY;
		}
	}
	cs_mounts_insert(mt, nm);
	return 0;
}

/* Start the session of a volume's first shared mount (shared_lock held).
 * It runs read-write (unless a snapshot) so that read-write binds can
 * follow; a read-only first mount point is remounted read-only. */
static int shared_start(struct cs_mounts *mt, struct mount *nm, struct cs_mount_spec *ms,
			struct shared **out)
{
	struct shared *sh = calloc(1, sizeof(*sh));
	int err;

	*out = NULL;
	if (!sh)
		return -ENOMEM;
	sh->mt = mt;
	ms->so.readonly = ms->snapshot;
	err = cs_session_start(mt->st, nm->volume, nm->mountpoint, &ms->so, shared_on_end, sh,
			       &sh->s);
	if (err) {
		free(sh);
		return err;
	}
	if (nm->readonly && !ms->snapshot &&
	    mount(NULL, nm->mountpoint, NULL,
		  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0) {
		err = -errno;
		cs_err("cannot remount %s read-only: %s", nm->mountpoint, strerror(errno));
		cs_session_free(sh->s);
		free(sh);
		return err;
	}
	*out = sh;
	return 0;
}

int cs_mounts_add_shared(struct cs_mounts *mt, struct mount *nm, struct cs_mount_spec *ms,
			 cJSON **json, char *msg, size_t len)
{
	struct shared *sh = NULL;
	char *src = NULL;
	int err, fresh = 0;

	pthread_mutex_lock(&mt->shared_lock);
	pthread_mutex_lock(&mt->lock);
	err = shared_reserve(mt, nm, &sh, &src, json, msg, len);
	pthread_mutex_unlock(&mt->lock);
	if (err)
		goto out; /* 1: it exists already */
	if (sh) {
		err = cs_mountpoint_bind(src, nm->mountpoint, nm->readonly);
	} else {
		err = shared_start(mt, nm, ms, &sh);
		fresh = 1;
	}
	if (err) {
		cs_mounts_unreserve(mt, nm);
		goto out;
	}
	pthread_mutex_lock(&mt->lock);
	nm->sh = sh;
	nm->s = sh->s;
	sh->refs++;
	nm->state = MOUNT_LIVE;
	if (fresh && cs_session_ended(sh->s)) {
		nm->state = MOUNT_ENDED;
		mt->reap_wanted = 1;
		pthread_cond_broadcast(&mt->cond);
	}
	*json = cs_mounts_entry_json(nm);
	pthread_mutex_unlock(&mt->lock);
	cs_info("mounted volume '%s' at %s (%s, shared%s)", nm->volume, nm->mountpoint, nm->options,
		fresh ? "" : ", bind");
out:
	pthread_mutex_unlock(&mt->shared_lock);
	free(src);
	return err;
}

void cs_mounts_release_shared(struct cs_mounts *mt, struct mount *m, int ended)
{
	pthread_mutex_lock(&mt->shared_lock);
	shared_release(mt, m, ended);
	pthread_mutex_unlock(&mt->shared_lock);
}
