/*
 * dp_ep_change.c - the endpoints that change a volume or its mount:
 * Create, Remove, Mount, Unmount (see dp_ep.h). Not the ones that only
 * look (dp_ep_query.c).
 *
 * Invariants (between calls, with the driver's lock released):
 *   - ROOT/NAME is a live mount of volume NAME only if its references
 *     total > 0, except when a step failed (it was logged) and the next
 *     Mount, Unmount, Remove or a restart puts it right;
 *   - the references never hold one of another boot after a call that
 *     read them (dp_vol_load_refs drops those).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "cs_client.h"
#include "dp_answer.h"
#include "dp_driver_int.h"
#include "dp_ep.h"
#include "dp_log.h"
#include "dp_opts.h"
#include "dp_refs.h"
#include "dp_req.h"
#include "dp_root.h"
#include "dp_vol.h"

static int create_failed(struct dp_driver *d, struct dp_answer *a, int err, const char *name,
			 const struct dp_opts *o)
{
	if (err == -EEXIST)
		return dp_fail(a, err, "volume '%s' already exists", name);
	if (err == -ENOENT && o->from)
		return dp_fail_call(a, d->c, err, "option 'from'");
	return dp_fail_call(a, d->c, err, "cannot create the volume");
}

int dp_ep_create(struct dp_driver *d, const cJSON *req, struct dp_answer *a)
{
	struct dp_opts o = {0};
	const char *name;
	char *text = NULL;
	int err;

	if ((err = dp_req_name(a, req, &name)))
		return err;
	if ((err = dp_opts_parse(a, req, &o)))
		goto out;
	err = cs_client_volume_create(d->c, name, o.from, o.compression, o.quota, NULL);
	if (err) {
		create_failed(d, a, err, name, &o);
		goto out;
	}
	text = cJSON_PrintUnformatted(o.given);
	err = text ? cs_client_prop_set(d->c, name, DP_OPTS_PROP, text) : -ENOMEM;
	if (err) {
		dp_fail_call(a, d->c, err, "cannot record the volume's options");
		cs_client_volume_delete(d->c, name, 0); /* nothing half-made */
		goto out;
	}
	dp_info("created volume '%s' (options %s)", name, text);
out:
	free(text);
	dp_opts_clear(&o);
	return err;
}

/* The request's Name and its mount point ROOT/NAME (@path, PATH_MAX). */
static int name_and_path(struct dp_driver *d, struct dp_answer *a, const cJSON *req,
			 const char **name, char *path)
{
	int err = dp_req_name(a, req, name);

	if (err)
		return err;
	if (dp_root_volume_path(&d->root, *name, path))
		return dp_fail(a, -ENAMETOOLONG, "mount point for '%s' is too long", *name);
	return 0;
}

int dp_ep_remove(struct dp_driver *d, const cJSON *req, struct dp_answer *a)
{
	struct dp_refs refs = {0};
	const char *name;
	char path[PATH_MAX];
	unsigned long n;
	int err;

	if ((err = name_and_path(d, a, req, &name, path)))
		return err;
	if ((err = dp_vol_load_refs(d, a, name, &refs)))
		return err;
	n = dp_refs_total(&refs);
	dp_refs_clear(&refs);
	if (n > 0)
		return dp_fail(a, -EBUSY,
			       "volume '%s' is in use: mounted for %lu reference(s); stop the "
			       "containers using it first",
			       name, n);
	if ((err = dp_vol_release_mount(d, a, name, path)))
		return err;
	err = cs_client_volume_delete(d->c, name, 0);
	if (err == -EBUSY)
		return dp_fail_call(a, d->c, err, "volume is in use");
	if (err == -ENOENT)
		return dp_fail(a, err, "volume '%s' not found", name);
	if (err)
		return dp_fail_call(a, d->c, err, "cannot remove the volume");
	dp_info("removed volume '%s'", name);
	return 0;
}

int dp_ep_mount(struct dp_driver *d, const cJSON *req, struct dp_answer *a)
{
	struct dp_refs refs = {0};
	const char *name, *id;
	char path[PATH_MAX];
	cJSON *ans = NULL;
	int err;

	if ((err = name_and_path(d, a, req, &name, path)) || (err = dp_req_id(a, req, &id)))
		return err;
	if ((err = dp_vol_load_refs(d, a, name, &refs)))
		return err;
	if ((err = dp_vol_ensure_mounted(d, a, name, path)))
		goto out;
	if (dp_refs_take(&refs, id, d->boot)) {
		err = dp_fail(a, -ENOMEM, "out of memory");
		goto out;
	}
	if ((err = dp_vol_save_refs(d, a, name, &refs)))
		goto out; /* the next Unmount or restart takes an unreferenced mount down */
	ans = cJSON_CreateObject();
	if (!ans || !cJSON_AddStringToObject(ans, "Mountpoint", path)) {
		err = dp_fail(a, -ENOMEM, "out of memory");
		goto out;
	}
	dp_succeed(a, &ans);
	dp_debug("mount '%s' id '%s': %lu reference(s)", name, id, dp_refs_total(&refs));
out:
	cJSON_Delete(ans);
	dp_refs_clear(&refs);
	return err;
}

int dp_ep_unmount(struct dp_driver *d, const cJSON *req, struct dp_answer *a)
{
	struct dp_refs refs = {0};
	const char *name, *id;
	char path[PATH_MAX];
	int err;

	if ((err = dp_req_name(a, req, &name)) || (err = dp_req_id(a, req, &id)))
		return err;
	if (dp_root_volume_path(&d->root, name, path))
		return 0; /* cannot be mounted */
	err = dp_vol_load_refs(d, a, name, &refs);
	if (err == -ENOENT) {
		a->err = 0; /* Unmount of an unknown volume succeeds */
		return 0;
	}
	if (err)
		return err;
	if (!dp_refs_release(&refs, id))
		dp_debug("unmount '%s': id '%s' holds no reference", name, id);
	if ((err = dp_vol_save_refs(d, a, name, &refs)))
		goto out;
	if (dp_refs_total(&refs) == 0)
		err = dp_vol_release_mount(d, a, name, path);
	dp_debug("unmount '%s' id '%s': %lu reference(s) left", name, id, dp_refs_total(&refs));
out:
	dp_refs_clear(&refs);
	return err;
}
