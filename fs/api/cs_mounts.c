/*
 * cs_mounts.c - the table of FUSE sessions (see cs_mounts.h).
 *
 * The list mt->list holds one struct mount per mount point. An entry is in
 * one of three states:
 *   STARTING  inserted (under the lock) before cs_session_start() runs
 *             without the lock, so two requests cannot mount the same
 *             mount point; invisible to listings;
 *   LIVE      mounted;
 *   ENDED     the session ended by itself (fusermount3 -u): its on_end
 *             callback marked it, and the next reap (the reaper thread,
 *             woken by on_end, or the next request) removes it from the
 *             table and calls cs_session_free() outside the lock.
 * An entry leaves the table (under the lock) before cs_session_free() is
 * called on it, so it is freed exactly once. cs_session_free() and
 * cs_session_start() are never called with the lock held: a session's
 * on_end takes the lock.
 *
 * Shared mounts: the mount points of a volume mounted "shared" are entries
 * that point at one struct shared, the session they share
 * (cs_mounts_shared.c).
 *
 * Lock order: shared_lock (creating and removing shared mount points),
 * then lock. mt->lock is a leaf (only cs_log's lock is taken under it,
 * through logging), never held across a store, session or mount call.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_log.h"
#include "cs_mounts_int.h"
#include "cs_thread.h"

static void mount_free(struct mount *m)
{
	if (!m)
		return;
	free(m->volume);
	free(m->mountpoint);
	free(m->options);
	free(m);
}

static struct mount *mount_new(struct cs_mounts *mt, const struct cs_mount_spec *ms)
{
	struct mount *m = calloc(1, sizeof(*m));

	if (!m || !(m->volume = strdup(ms->volume)) || !(m->mountpoint = strdup(ms->mountpoint)) ||
	    !(m->options = strdup(ms->options))) {
		mount_free(m);
		return NULL;
	}
	m->mt = mt;
	m->readonly = ms->readonly;
	m->shared = ms->shared;
	return m;
}

cJSON *cs_mounts_entry_json(const struct mount *m)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "volume", m->volume);
	cJSON_AddStringToObject(o, "mountpoint", m->mountpoint);
	cJSON_AddBoolToObject(o, "readonly", m->readonly);
	cJSON_AddBoolToObject(o, "shared", m->shared);
	cJSON_AddStringToObject(o, "options", m->options);
	return o;
}

/* ------------------------------------------------------------------ */
/* Ending sessions                                                    */
/* ------------------------------------------------------------------ */

/* on_end of a session of its own: runs on the session's own thread;
 * never frees anything. */
static void mount_on_end(struct cs_session *s, void *ctx)
{
	struct mount *m = ctx;
	struct cs_mounts *mt = m->mt;

	pthread_mutex_lock(&mt->lock);
	m->state = MOUNT_ENDED;
	mt->reap_wanted = 1;
	pthread_cond_broadcast(&mt->cond);
	pthread_mutex_unlock(&mt->lock);
}

/* Unlink from the table every entry that @pick selects; returns them as
 * a list. Called with mt->lock held. */
static struct mount *take_locked(struct cs_mounts *mt,
				 int (*pick)(const struct mount *, const void *), const void *arg)
{
	struct mount **pp = &mt->list, *taken = NULL, *m;

	while ((m = *pp)) {
		if (m->state != MOUNT_STARTING && pick(m, arg)) {
			*pp = m->next;
			m->next = taken;
			taken = m;
		} else {
			pp = &m->next;
		}
	}
	return taken;
}

static struct mount *take_mounts(struct cs_mounts *mt,
				 int (*pick)(const struct mount *, const void *), const void *arg)
{
	struct mount *taken;

	pthread_mutex_lock(&mt->lock);
	taken = take_locked(mt, pick, arg);
	pthread_mutex_unlock(&mt->lock);
	return taken;
}

/* Free the sessions of a list taken from the table (lock not held). */
static void free_taken(struct cs_mounts *mt, struct mount *list, const char *why)
{
	struct mount *m;
	int ended;

	while ((m = list)) {
		list = m->next;
		pthread_mutex_lock(&mt->lock);
		ended = m->state == MOUNT_ENDED;
		pthread_mutex_unlock(&mt->lock);
		if (m->sh)
			cs_mounts_release_shared(mt, m, ended);
		else
			cs_session_free(m->s);
		cs_info("unmounted volume '%s' from %s (%s)", m->volume, m->mountpoint,
			ended ? "unmounted from outside" : why);
		mount_free(m);
	}
}

static int pick_ended(const struct mount *m, const void *arg)
{
	return m->state == MOUNT_ENDED;
}

static int pick_all(const struct mount *m, const void *arg)
{
	return 1;
}

/* The volume's own mounts and those of its snapshots ("VOL@SNAP"). */
static int pick_volume(const struct mount *m, const void *arg)
{
	const char *v = arg, *at = strrchr(m->volume, '@');
	size_t n = at ? (size_t)(at - m->volume) : strlen(m->volume);

	return n == strlen(v) && !strncmp(m->volume, v, n);
}

static int pick_mountpoint(const struct mount *m, const void *arg)
{
	return m->state == MOUNT_LIVE && !strcmp(m->mountpoint, arg);
}

void cs_mounts_reap(struct cs_mounts *mt)
{
	struct mount *list;

	pthread_mutex_lock(&mt->lock);
	mt->reap_wanted = 0;
	list = take_locked(mt, pick_ended, NULL);
	pthread_mutex_unlock(&mt->lock);
	free_taken(mt, list, "ended");
}

static void *reaper_main(void *arg)
{
	struct cs_mounts *mt = arg;

	pthread_mutex_lock(&mt->lock);
	while (!mt->quit) {
		if (!mt->reap_wanted) {
			pthread_cond_wait(&mt->cond, &mt->lock);
			continue;
		}
		pthread_mutex_unlock(&mt->lock);
		cs_mounts_reap(mt);
		pthread_mutex_lock(&mt->lock);
	}
	pthread_mutex_unlock(&mt->lock);
	return NULL;
}

int cs_mounts_end_at(struct cs_mounts *mt, const char *mountpoint, const char *why)
{
	char real[PATH_MAX];
	struct mount *list;

	cs_mounts_reap(mt);
	list = take_mounts(mt, pick_mountpoint, mountpoint);
	if (!list && realpath(mountpoint, real))
		list = take_mounts(mt, pick_mountpoint, real);
	if (!list)
		return -ENOENT;
	free_taken(mt, list, why);
	return 0;
}

void cs_mounts_end_volume(struct cs_mounts *mt, const char *volume, const char *why)
{
	free_taken(mt, take_mounts(mt, pick_volume, volume), why);
}

/* ------------------------------------------------------------------ */
/* Looking at the table                                               */
/* ------------------------------------------------------------------ */

cJSON *cs_mounts_json(struct cs_mounts *mt)
{
	cJSON *arr = cJSON_CreateArray();
	const struct mount *m;

	pthread_mutex_lock(&mt->lock);
	for (m = mt->list; m; m = m->next)
		if (m->state == MOUNT_LIVE)
			cJSON_AddItemToArray(arr, cs_mounts_entry_json(m));
	pthread_mutex_unlock(&mt->lock);
	return arr;
}

cJSON *cs_mounts_of(struct cs_mounts *mt, const char *volume)
{
	cJSON *arr = cJSON_CreateArray();
	const struct mount *m;

	pthread_mutex_lock(&mt->lock);
	for (m = mt->list; m; m = m->next)
		if (m->state == MOUNT_LIVE && !strcmp(m->volume, volume))
			cJSON_AddItemToArray(arr, cJSON_CreateString(m->mountpoint));
	pthread_mutex_unlock(&mt->lock);
	return arr;
}

/* Count the entries not ENDED that @pick selects, copying the first one's
 * mount point to @where. */
static int count_mounts(struct cs_mounts *mt, int (*pick)(const struct mount *, const void *),
			const void *arg, char *where, size_t wlen)
{
	const struct mount *m;
	int n = 0;

	pthread_mutex_lock(&mt->lock);
	for (m = mt->list; m; m = m->next) {
		if (m->state == MOUNT_ENDED || !pick(m, arg))
			continue;
		if (where && n == 0)
			snprintf(where, wlen, "%s", m->mountpoint);
		n++;
	}
	pthread_mutex_unlock(&mt->lock);
	return n;
}

int cs_mounts_count(struct cs_mounts *mt, const char *volume, char *where, size_t wlen)
{
	return count_mounts(mt, pick_volume, volume, where, wlen);
}

static int pick_name(const struct mount *m, const void *arg)
{
	return !strcmp(m->volume, arg);
}

int cs_mounts_snapshot_at(struct cs_mounts *mt, const char *vol, const char *snap, char *where,
			  size_t wlen)
{
	char spec[2 * CS_NAME_MAX + 2];

	snprintf(spec, sizeof(spec), "%s@%s", vol, snap);
	return count_mounts(mt, pick_name, spec, where, wlen);
}

void cs_mounts_sync(struct cs_mounts *mt, const char *volume)
{
	char where[PATH_MAX];
	const struct mount *m;
	int fd, found = 0;

	pthread_mutex_lock(&mt->lock);
	for (m = mt->list; m; m = m->next)
		if (m->state == MOUNT_LIVE && !strcmp(m->volume, volume)) {
			snprintf(where, sizeof(where), "%s", m->mountpoint);
			found = 1;
			break;
		}
	pthread_mutex_unlock(&mt->lock);
	if (!found)
		return;
	fd = open(where, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd) < 0)
		cs_warn("snapshot of '%s': syncfs %s: %s", volume, where, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* ------------------------------------------------------------------ */
/* Starting sessions                                                  */
/* ------------------------------------------------------------------ */

void cs_mounts_insert(struct cs_mounts *mt, struct mount *nm)
{
	struct mount **pp = &mt->list;

	while (*pp)
		pp = &(*pp)->next;
	nm->state = MOUNT_STARTING;
	nm->next = NULL;
	*pp = nm;
}

void cs_mounts_unreserve(struct cs_mounts *mt, struct mount *nm)
{
	struct mount **pp;

	pthread_mutex_lock(&mt->lock);
	for (pp = &mt->list; *pp; pp = &(*pp)->next) {
		if (*pp == nm) {
			*pp = nm->next;
			break;
		}
	}
	pthread_mutex_unlock(&mt->lock);
}

/* Insert a STARTING entry for @nm unless its mount point is taken or a
 * read-write mount of the volume conflicts (-EBUSY, said in @msg). */
static int mount_reserve(struct cs_mounts *mt, struct mount *nm, char *msg, size_t len)
{
	struct mount *m;
	int err = 0;

	pthread_mutex_lock(&mt->lock);
	for (m = mt->list; m && !err; m = m->next) {
		if (m->state == MOUNT_ENDED)
			continue;
		if (!strcmp(m->mountpoint, nm->mountpoint)) {
			snprintf(msg, len, "%s is already a mount point of volume '%s'",
				 nm->mountpoint, m->volume);
			err = -EBUSY;
		} else if (!strcmp(m->volume, nm->volume) && !nm->readonly &&
			   (!m->readonly || m->shared)) {
			snprintf(msg, len, "volume '%s' is already mounted read-write at %s",
				 nm->volume, m->mountpoint);
			err = -EBUSY;
		}
	}
	if (!err)
		cs_mounts_insert(mt, nm);
	pthread_mutex_unlock(&mt->lock);
	return err;
}

/* A mount of its own session. */
static int mount_own(struct cs_mounts *mt, struct mount *nm, struct cs_mount_spec *ms, cJSON **json,
		     char *msg, size_t len)
{
	int err = mount_reserve(mt, nm, msg, len);

	if (err)
		return err;
	err =
	    cs_session_start(mt->st, nm->volume, nm->mountpoint, &ms->so, mount_on_end, nm, &nm->s);
	if (err) {
		cs_mounts_unreserve(mt, nm);
		cs_err("cannot mount volume '%s' at %s: %s", nm->volume, nm->mountpoint,
		       strerror(-err));
		return err;
	}
	pthread_mutex_lock(&mt->lock);
	if (nm->state == MOUNT_STARTING)
		nm->state = MOUNT_LIVE;
	else
		mt->reap_wanted = 1; /* ended already: let the reaper have it */
	pthread_cond_broadcast(&mt->cond);
	*json = cs_mounts_entry_json(nm);
	pthread_mutex_unlock(&mt->lock);
	cs_info("mounted volume '%s' at %s (%s)", nm->volume, nm->mountpoint, nm->options);
	return 0;
}

int cs_mounts_add(struct cs_mounts *mt, struct cs_mount_spec *ms, cJSON **json, char *msg,
		  size_t len)
{
	struct mount *nm;
	int err;

	*json = NULL;
	msg[0] = '\0';
	cs_mounts_reap(mt);
	nm = mount_new(mt, ms);
	if (!nm) {
		snprintf(msg, len, "out of memory");
		return -ENOMEM;
	}
	if (ms->shared)
		err = cs_mounts_add_shared(mt, nm, ms, json, msg, len);
	else
		err = mount_own(mt, nm, ms, json, msg, len);
	if (err)
		mount_free(nm); /* else the table owns it */
	return err;
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                          */
/* ------------------------------------------------------------------ */

int cs_mounts_new(cs_store *st, struct cs_mounts **out)
{
	struct cs_mounts *mt = calloc(1, sizeof(*mt));
	int err;

	*out = NULL;
	if (!mt)
		return -ENOMEM;
	mt->st = st;
	pthread_mutex_init(&mt->lock, NULL);
	pthread_mutex_init(&mt->shared_lock, NULL);
	pthread_cond_init(&mt->cond, NULL);
	err = pthread_create(&mt->reaper, NULL, reaper_main, mt);
	if (err) {
		cs_mounts_free(mt);
		return -err;
	}
	mt->reaper_running = 1;
	*out = mt;
	return 0;
}

void cs_mounts_free(struct cs_mounts *mt)
{
	if (!mt)
		return;
	if (mt->reaper_running)
		cs_thread_stop(mt->reaper, &mt->lock, &mt->cond, &mt->quit);
	free_taken(mt, take_mounts(mt, pick_all, NULL), "daemon stopping");
	pthread_cond_destroy(&mt->cond);
	pthread_mutex_destroy(&mt->shared_lock);
	pthread_mutex_destroy(&mt->lock);
	free(mt);
}
