/*
 * cs_api_snapshots.c - the control API's snapshot resource (see
 * cs_api_snapshots.h and docs/interfaces.md).
 *
 * A snapshot is taken after a syncfs(2) of a live mount of its volume, so
 * that what the kernel holds dirty (writeback cache) is in it; a diff
 * syncs the same way. A mounted snapshot is neither renamed nor deleted
 * (409 EBUSY), and a rollback refuses what the store would refuse before
 * it unmounts anything for it. Deleting a snapshot or rolling back frees
 * chunks: the background gc (cs_api_store.c) is asked to give back their
 * space.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_api_snapshots.h"
#include "cs_api_store.h"
#include "cs_api_volumes.h"
#include "cs_log.h"
#include "cs_mounts.h"

static cJSON *snapshot_json(const char *volume, const struct cs_snapshot_info *si)
{
	cJSON *o = cJSON_CreateObject();
	char uuid[40], when[40];

	cs_uuid_format(si->uuid, uuid);
	cs_http_time(si->ctime_ns, when, sizeof(when));
	cJSON_AddStringToObject(o, "name", si->name);
	cJSON_AddStringToObject(o, "volume", volume);
	cJSON_AddStringToObject(o, "uuid", uuid);
	cJSON_AddNumberToObject(o, "epoch", (double)si->epoch);
	cJSON_AddStringToObject(o, "created", when);
	cJSON_AddNumberToObject(o, "referenced_bytes", (double)si->stats.logical_bytes);
	cJSON_AddNumberToObject(o, "used_bytes", (double)si->used_bytes);
	cJSON_AddNumberToObject(o, "clones", (double)si->clones);
	cs_api_stats_json(o, &si->stats);
	return o;
}

static int snapshot_fail(struct cs_http_reply *r, int err, const char *vol, const char *snap)
{
	if (err == -ENOENT && !cs_last_error()[0])
		return cs_http_fail(r, err, "snapshot '%s@%s' does not exist", vol, snap);
	return cs_http_fail_store(r, err, snap); /* the store's message names what is wrong */
}

/* The volume of the path (which must exist) and, with @snap, the snapshot
 * of the path (a valid name). */
static int path_args(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r,
		     const char **vol, const char **snap)
{
	struct cs_volume_info info;
	int err;

	*vol = q->arg[0];
	if ((err = cs_api_volume_must_exist(api, r, *vol, &info)))
		return err;
	if (!snap)
		return 0;
	*snap = q->arg[1];
	return cs_http_name(r, "snapshot name", *snap);
}

/* A name for a new or renamed snapshot: valid, and without '@'. */
static int new_name(struct cs_http_reply *r, const char *what, const char *name)
{
	int err = cs_http_name(r, what, name);

	if (!err && strchr(name, '@'))
		err = cs_http_fail(r, EINVAL, "invalid snapshot name '%.255s': no '@'", name);
	return err;
}

int cs_api_snapshots_list(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	struct cs_snapshot_info *si = NULL;
	const char *vol;
	cJSON *root, *arr;
	size_t n = 0, i;
	int err;

	if ((err = path_args(api, q, r, &vol, NULL)))
		return err;
	err = cs_snapshot_list(api->st, vol, &si, &n);
	if (err)
		return cs_http_fail_store(r, err, vol);
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "snapshots");
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, snapshot_json(vol, &si[i]));
	free(si);
	cs_http_ok(r, 200, root);
	return 0;
}

int cs_api_snapshot_create(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	static const char *const fields[] = {"name", NULL};
	struct cs_snapshot_info si;
	const char *vol, *name;
	cJSON *body = NULL;
	int err;

	if ((err = path_args(api, q, r, &vol, NULL)) || (err = cs_http_body(r, q, &body)) ||
	    (err = cs_http_fields(r, body, fields)) ||
	    (err = cs_http_string(r, body, "name", 1, &name)) ||
	    (err = new_name(r, "snapshot name", name)))
		goto out;
	cs_mounts_sync(api->mounts, vol);
	err = cs_snapshot_create(api->st, vol, name, &si);
	if (err) {
		snapshot_fail(r, err, vol, name);
		goto out;
	}
	cs_info("created snapshot '%s@%s'", vol, name);
	cs_http_ok(r, 201, snapshot_json(vol, &si));
out:
	cJSON_Delete(body);
	return err;
}

int cs_api_snapshot_get(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	struct cs_snapshot_info si;
	const char *vol, *name;
	int err;

	if ((err = path_args(api, q, r, &vol, &name)))
		return err;
	err = cs_snapshot_get(api->st, vol, name, &si);
	if (err)
		return snapshot_fail(r, err, vol, name);
	cs_http_ok(r, 200, snapshot_json(vol, &si));
	return 0;
}

/* 409 EBUSY when snapshot @vol@@name is mounted. */
static int refuse_mounted(struct cs_api *api, struct cs_http_reply *r, const char *vol,
			  const char *name)
{
	char where[PATH_MAX];

	if (cs_mounts_snapshot_at(api->mounts, vol, name, where, sizeof(where)))
		return cs_http_fail(r, EBUSY, "snapshot '%s@%s' is mounted at %s", vol, name,
				    where);
	return 0;
}

int cs_api_snapshot_patch(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	static const char *const fields[] = {"name", NULL};
	struct cs_snapshot_info si;
	const char *vol, *name, *to;
	cJSON *body = NULL;
	int err;

	if ((err = path_args(api, q, r, &vol, &name)) || (err = cs_http_body(r, q, &body)) ||
	    (err = cs_http_fields(r, body, fields)) ||
	    (err = cs_http_string(r, body, "name", 1, &to)) ||
	    (err = new_name(r, "new snapshot name", to)))
		goto out;
	cs_mounts_reap(api->mounts);
	if (strcmp(name, to) && (err = refuse_mounted(api, r, vol, name)))
		goto out;
	err = cs_snapshot_rename(api->st, vol, name, to);
	if (err) {
		snapshot_fail(r, err, vol, err == -EEXIST ? to : name);
		goto out;
	}
	if ((err = cs_snapshot_stat(api->st, vol, to, &si))) {
		snapshot_fail(r, err, vol, to);
		goto out;
	}
	cs_info("renamed snapshot '%s@%s' to '%s'", vol, name, to);
	cs_http_ok(r, 200, snapshot_json(vol, &si));
out:
	cJSON_Delete(body);
	return err;
}

int cs_api_snapshot_delete(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	const char *vol, *name;
	int err;

	if ((err = path_args(api, q, r, &vol, &name)))
		return err;
	cs_mounts_reap(api->mounts);
	if ((err = refuse_mounted(api, r, vol, name)))
		return err;
	err = cs_snapshot_delete(api->st, vol, name);
	if (err)
		return snapshot_fail(r, err, vol, name);
	cs_info("removed snapshot '%s@%s'", vol, name);
	cs_api_gc_schedule(api->gc);
	cs_http_ok(r, 200, NULL);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Rollback                                                           */
/* ------------------------------------------------------------------ */

/* "later snapshot VOL@SNAP is the origin of clones: A, B" */
static int fail_clones(struct cs_api *api, struct cs_http_reply *r, const char *vol,
		       const char *snap)
{
	struct cs_volume_info *v = NULL;
	char origin[2 * CS_NAME_MAX + 2], names[1024] = "";
	size_t n = 0, len = 0;

	snprintf(origin, sizeof(origin), "%s@%s", vol, snap);
	if (cs_volume_list(api->st, &v, &n) == 0)
		for (size_t i = 0; i < n; i++)
			if (!strcmp(v[i].origin, origin) && len < sizeof(names))
				len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
							len ? ", " : "", v[i].name);
	free(v);
	return cs_http_fail(r, EBUSY, "later snapshot '%s' is the origin of clones: %s", origin,
			    names);
}

/* Refuse a rollback the store would refuse before unmounting anything for
 * it: the snapshot must exist, later snapshots need destroy_later, and
 * none of them may have clones. */
static int rollback_precheck(struct cs_api *api, struct cs_http_reply *r, const char *vol,
			     const char *snap, int destroy_later)
{
	struct cs_snapshot_info *si = NULL;
	char later[1024] = "";
	size_t n = 0, i, len = 0;
	uint64_t epoch = 0;
	int err, found = 0;

	err = cs_snapshot_list(api->st, vol, &si, &n);
	if (err)
		return cs_http_fail_store(r, err, vol);
	for (i = 0; i < n; i++)
		if (!strcmp(si[i].name, snap)) {
			found = 1;
			epoch = si[i].epoch;
		}
	err = found ? 0 : cs_http_fail(r, ENOENT, "snapshot '%s@%s' does not exist", vol, snap);
	for (i = 0; i < n && !err; i++) {
		if (si[i].epoch <= epoch)
			continue;
		if (si[i].clones)
			err = fail_clones(api, r, vol, si[i].name);
		else if (len < sizeof(later))
			len += (size_t)snprintf(later + len, sizeof(later) - len, "%s%s",
						len ? ", " : "", si[i].name);
	}
	free(si);
	if (!err && len && !destroy_later)
		err = cs_http_fail(
		    r, EEXIST, "snapshots newer than '%s@%s' exist: %s (use -r to destroy them)",
		    vol, snap, later);
	return err;
}

int cs_api_volume_rollback(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	static const char *const fields[] = {"snapshot", "destroy_later", "force", NULL};
	const char *vol, *snap;
	cJSON *body = NULL;
	int err, destroy_later, force;

	if ((err = path_args(api, q, r, &vol, NULL)) || (err = cs_http_body(r, q, &body)) ||
	    (err = cs_http_fields(r, body, fields)) ||
	    (err = cs_http_string(r, body, "snapshot", 1, &snap)) ||
	    (err = cs_http_name(r, "snapshot name", snap)) ||
	    (err = cs_http_bool(r, body, "destroy_later", &destroy_later)) ||
	    (err = cs_http_bool(r, body, "force", &force)) ||
	    (err = rollback_precheck(api, r, vol, snap, destroy_later)) ||
	    (err = cs_api_volume_unmount(api, r, vol, force, "rollback")))
		goto out;
	err = cs_rollback(api->st, vol, snap, destroy_later);
	if (err) {
		snapshot_fail(r, err, vol, snap);
		goto out;
	}
	cs_info("rolled volume '%s' back to '%s'%s", vol, snap,
		destroy_later ? " (later snapshots destroyed)" : "");
	cs_api_gc_schedule(api->gc);
	err = cs_api_volume_answer(api, r, 200, vol);
out:
	cJSON_Delete(body);
	return err;
}

/* ------------------------------------------------------------------ */
/* Diff                                                               */
/* ------------------------------------------------------------------ */

static int diff_one(void *ctx, int change, const char *path, const char *newpath)
{
	cJSON *o = cJSON_CreateObject();
	char c[2] = {(char)change, 0};

	cJSON_AddStringToObject(o, "change", c);
	cJSON_AddStringToObject(o, "path", path);
	if (newpath)
		cJSON_AddStringToObject(o, "new_path", newpath);
	cJSON_AddItemToArray(ctx, o);
	return 0;
}

/* "A" or "VOL@A" (VOL must then be @vol). */
static int diff_snap_arg(struct cs_http_reply *r, const char *vol, const char *key, const char *v,
			 const char **out)
{
	const char *at;

	*out = v;
	if (!v)
		return 0;
	at = strrchr(v, '@');
	if (at) {
		if ((size_t)(at - v) != strlen(vol) || strncmp(v, vol, strlen(vol)))
			return cs_http_fail(r, EINVAL, "'%s' must name a snapshot of volume '%s'",
					    key, vol);
		*out = at + 1;
	}
	return cs_http_name(r, "snapshot name", *out);
}

int cs_api_volume_diff(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	const char *from = cs_http_query(q, "from"), *to = cs_http_query(q, "to"), *vol;
	cJSON *root;
	int err;

	if ((err = path_args(api, q, r, &vol, NULL)))
		return err;
	if (!from || !*from)
		return cs_http_fail(r, EINVAL, "query parameter 'from' is required");
	if (to && !*to)
		to = NULL;
	if ((err = diff_snap_arg(r, vol, "from", from, &from)) ||
	    (err = diff_snap_arg(r, vol, "to", to, &to)))
		return err;
	cs_mounts_sync(api->mounts, vol);
	root = cJSON_CreateObject();
	err = cs_diff(api->st, vol, from, to, diff_one, cJSON_AddArrayToObject(root, "changes"));
	if (err) {
		cJSON_Delete(root);
		if (err == -EINVAL)
			return cs_http_fail(r, err, "snapshot '%s' is not older than '%s'", from,
					    to ? to : "the live volume");
		return cs_http_fail_store(r, err, vol);
	}
	cs_http_ok(r, 200, root);
	return 0;
}
