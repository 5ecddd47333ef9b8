/*
 * dp_vol.c - a volume's references and its mount at ROOT/NAME (see
 * dp_vol.h; the references' rules are in dp_refs.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cs_client.h"
#include "dp_answer.h"
#include "dp_driver_int.h"
#include "dp_log.h"
#include "dp_mnt.h"
#include "dp_refs.h"
#include "dp_root.h"
#include "dp_vol.h"

#define MOUNT_OPTIONS "allow_other"

const char *dp_vol_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int dp_vol_get(struct dp_driver *d, struct dp_answer *a, const char *name, cJSON **vol)
{
	int err = cs_client_volume_get(d->c, name, vol);

	if (err == -ENOENT)
		return dp_fail(a, err, "volume '%s' not found", name);
	if (err)
		return dp_fail_call(a, d->c, err, "cannot look up the volume");
	return 0;
}

int dp_vol_load_refs(struct dp_driver *d, struct dp_answer *a, const char *name,
		     struct dp_refs *refs)
{
	cJSON *props = NULL;
	int err = cs_client_props_get(d->c, name, &props);

	refs->v = NULL;
	refs->len = 0;
	if (err == -ENOENT)
		return dp_fail(a, err, "volume '%s' not found", name);
	if (err)
		return dp_fail_call(a, d->c, err, "cannot read the mount references");
	err = dp_refs_parse(dp_vol_str(props, DP_REFS_PROP), refs);
	if (err == -EINVAL)
		dp_warn("volume '%s': unreadable property %s dropped", name, DP_REFS_PROP);
	cJSON_Delete(props);
	if (err == -ENOMEM)
		return dp_fail(a, err, "out of memory");
	dp_refs_drop_other_boots(refs, d->boot);
	return 0;
}

int dp_vol_save_refs(struct dp_driver *d, struct dp_answer *a, const char *name,
		     const struct dp_refs *refs)
{
	char *text = NULL;
	int err;

	if (dp_refs_total(refs) > 0 && !(text = dp_refs_format(refs)))
		return dp_fail(a, -ENOMEM, "out of memory");
	err = cs_client_prop_set(d->c, name, DP_REFS_PROP, text);
	free(text);
	if (err)
		return dp_fail_call(a, d->c, err, "cannot record the mount references");
	return 0;
}

/* dp_fail_call() for a daemon call about volume @name at @path. */
static int fail_at(struct dp_driver *d, struct dp_answer *a, int err, const char *verb,
		   const char *name, const char *path)
{
	char what[PATH_MAX + 300];

	snprintf(what, sizeof(what), "cannot %s volume '%s' at %s", verb, name, path);
	return dp_fail_call(a, d->c, err, what);
}

int dp_vol_ensure_mounted(struct dp_driver *d, struct dp_answer *a, const char *name,
			  const char *path)
{
	int st = dp_mnt_state(path), err;

	if (st == 1)
		return 0;
	if (st < 0) {
		dp_warn("the mount of '%s' at %s is dead (%s): detaching it", name, path,
			strerror(-st));
		if (dp_mnt_detach(path))
			return dp_fail(a, -EIO, "cannot detach the dead mount at %s", path);
	}
	err = dp_root_ready(&d->root);
	if (err)
		return dp_fail(a, err, "cannot create the mount root %s: %s", d->root.path,
			       strerror(-err));
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return dp_fail(a, -errno, "cannot create the mount point %s: %s", path,
			       strerror(errno));
	err = cs_client_mount(d->c, name, path, MOUNT_OPTIONS, CS_CLIENT_MOUNT_SHARED, NULL);
	if (err)
		return fail_at(d, a, err, "mount", name, path);
	dp_info("mounted volume '%s' at %s", name, path);
	return 0;
}

int dp_vol_release_mount(struct dp_driver *d, struct dp_answer *a, const char *name,
			 const char *path)
{
	int err = cs_client_unmount(d->c, path, 1);

	if (err)
		return fail_at(d, a, err, "unmount", name, path);
	if (dp_mnt_is_fuse(path) && dp_mnt_detach(path))
		return dp_fail(a, -EIO, "cannot unmount volume '%s' at %s", name, path);
	if (rmdir(path) == 0)
		dp_info("unmounted volume '%s' from %s", name, path);
	return 0;
}

/* 1 when the daemon's volume object @vol lists @path among its mounts. */
static int mounted_at(const cJSON *vol, const char *path)
{
	const cJSON *m, *mp;

	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(vol, "mounts"))
	{
		mp = cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, "mountpoint") : m;
		if (cJSON_IsString(mp) && !strcmp(mp->valuestring, path))
			return 1;
	}
	return 0;
}

const char *dp_vol_mountpoint(const struct dp_driver *d, const cJSON *vol, char *buf)
{
	const char *name = dp_vol_str(vol, "name");

	if (!name || dp_root_volume_path(&d->root, name, buf) || !mounted_at(vol, buf))
		return "";
	return buf;
}
