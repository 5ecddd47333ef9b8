/*
 * dp_recover.c - adopting, detaching and remounting at start what an
 * earlier run left (see dp_recover.h).
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cs_client.h"
#include "dp_answer.h"
#include "dp_driver_int.h"
#include "dp_log.h"
#include "dp_mnt.h"
#include "dp_recover.h"
#include "dp_refs.h"
#include "dp_root.h"
#include "dp_vol.h"

/* Drop references of earlier boots of @vol; returns its remaining total. */
static unsigned long reconcile_refs(struct dp_driver *d, const cJSON *vol)
{
	const char *name = dp_vol_str(vol, "name");
	struct dp_answer a = {0};
	struct dp_refs refs = {0};
	unsigned long n;
	size_t dropped;

	if (!name ||
	    dp_refs_parse(dp_vol_str(cJSON_GetObjectItemCaseSensitive(vol, "props"), DP_REFS_PROP),
			  &refs))
		return 0;
	dropped = dp_refs_drop_other_boots(&refs, d->boot);
	n = dp_refs_total(&refs);
	if (dropped) {
		dp_info("volume '%s': dropped %zu reference(s) of an earlier boot", name, dropped);
		if (dp_vol_save_refs(d, &a, name, &refs))
			dp_warn("volume '%s': %s", name, a.msg);
	}
	dp_refs_clear(&refs);
	return n;
}

static const cJSON *find_volume(const cJSON *list, const char *name)
{
	const cJSON *vol;

	cJSON_ArrayForEach(vol, cJSON_GetObjectItemCaseSensitive(list, "volumes"))
	{
		const char *n = dp_vol_str(vol, "name");

		if (n && !strcmp(n, name))
			return vol;
	}
	return NULL;
}

/* A mount left below the root by an earlier run: adopt, detach or unmount. */
static void recover_mount(struct dp_driver *d, const cJSON *list, const char *path)
{
	const char *name = strrchr(path, '/') + 1;
	const cJSON *vol = find_volume(list, name);
	struct dp_answer a = {0};
	int st = dp_mnt_state(path);

	if (st < 0) {
		dp_warn("found a dead mount at %s (%s): detaching it", path, strerror(-st));
		dp_mnt_detach(path);
		return;
	}
	if (vol && reconcile_refs(d, vol) > 0) {
		dp_info("adopted the mount of volume '%s' at %s", name, path);
		return;
	}
	dp_info("found an unreferenced mount at %s: unmounting it", path);
	if (dp_vol_release_mount(d, &a, name, path))
		dp_warn("%s", a.msg);
}

/* Volumes with references but no live mount get one again. */
static void remount_referenced(struct dp_driver *d, const cJSON *list)
{
	const cJSON *vol;
	char path[PATH_MAX];

	cJSON_ArrayForEach(vol, cJSON_GetObjectItemCaseSensitive(list, "volumes"))
	{
		const char *name = dp_vol_str(vol, "name");
		struct dp_answer a = {0};

		if (!name || reconcile_refs(d, vol) == 0 ||
		    dp_root_volume_path(&d->root, name, path))
			continue;
		if (dp_vol_ensure_mounted(d, &a, name, path))
			dp_warn("volume '%s' has references but cannot be mounted: %s", name,
				a.msg);
	}
}

int dp_recover_run(struct dp_driver *d)
{
	cJSON *list = NULL;
	char **mps = NULL;
	size_t n = 0, i;
	int err;

	err = cs_client_ensure_daemon(d->c);
	if (err) {
		dp_err("cannot start the cstorfs daemon of %s: %s", cs_client_store(d->c),
		       cs_client_errmsg(d->c));
		goto out;
	}
	if ((err = dp_root_ready(&d->root)))
		dp_err("cannot create the mount root %s: %s", d->root.path, strerror(-err));
	err = cs_client_volume_list(d->c, &list);
	if (err) {
		dp_err("cannot list the volumes: %s", cs_client_errmsg(d->c));
		goto out;
	}
	err = dp_mnt_list_under(d->root.path, &mps, &n);
	if (err)
		dp_err("cannot read /proc/self/mountinfo: %s", strerror(-err));
	for (i = 0; i < n; i++)
		recover_mount(d, list, mps[i]);
	remount_referenced(d, list);
out:
	dp_mnt_list_free(mps, n);
	cJSON_Delete(list);
	return err;
}
