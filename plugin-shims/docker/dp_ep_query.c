/*
 * dp_ep_query.c - Activate, Capabilities, Path, Get (with the Status that
 * `docker volume inspect` shows) and List: the endpoints that only look
 * (see dp_ep.h). Nothing here changes the store, a reference or a mount.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "cs_client.h"
#include "dp_answer.h"
#include "dp_driver_int.h"
#include "dp_ep.h"
#include "dp_log.h"
#include "dp_opts.h"
#include "dp_refs.h"
#include "dp_req.h"
#include "dp_vol.h"

int dp_ep_activate(struct dp_driver *d, const cJSON *req, struct dp_answer *a)
{
	cJSON *ans = cJSON_CreateObject(), *impl = cJSON_AddArrayToObject(ans, "Implements");

	if (!impl) {
		cJSON_Delete(ans);
		return dp_fail(a, -ENOMEM, "out of memory");
	}
	cJSON_AddItemToArray(impl, cJSON_CreateString("VolumeDriver"));
	dp_succeed(a, &ans);
	return 0;
}

int dp_ep_capabilities(struct dp_driver *d, const cJSON *req, struct dp_answer *a)
{
	cJSON *ans = cJSON_CreateObject(), *caps = cJSON_AddObjectToObject(ans, "Capabilities");

	if (!caps || !cJSON_AddStringToObject(caps, "Scope", "local")) {
		cJSON_Delete(ans);
		return dp_fail(a, -ENOMEM, "out of memory");
	}
	dp_succeed(a, &ans);
	return 0;
}

int dp_ep_path(struct dp_driver *d, const cJSON *req, struct dp_answer *a)
{
	const char *name;
	char buf[PATH_MAX];
	cJSON *vol = NULL, *ans;
	int err;

	if ((err = dp_req_name(a, req, &name)) || (err = dp_vol_get(d, a, name, &vol)))
		return err;
	ans = cJSON_CreateObject();
	if (!ans || !cJSON_AddStringToObject(ans, "Mountpoint", dp_vol_mountpoint(d, vol, buf)))
		err = dp_fail(a, -ENOMEM, "out of memory");
	else
		dp_succeed(a, &ans);
	cJSON_Delete(ans);
	cJSON_Delete(vol);
	return err;
}

/* ------------------------------------------------------------------ */
/* Status, for docker volume inspect                                  */
/* ------------------------------------------------------------------ */

static double stat_num(const cJSON *vol, const char *key)
{
	const cJSON *v =
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(vol, "stats"), key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* Names of the snapshots of @name: the volume's "snapshots" when it is a
 * list, else asked of the daemon. */
static cJSON *snapshot_names(struct dp_driver *d, const char *name, const cJSON *vol)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(vol, "snapshots"), *s, *n;
	cJSON *names = cJSON_CreateArray(), *ans = NULL;

	if (!cJSON_IsArray(list) && cs_client_snapshot_list(d->c, name, &ans) == 0)
		list = cJSON_GetObjectItemCaseSensitive(ans, "snapshots");
	cJSON_ArrayForEach(s, list)
	{
		n = cJSON_IsObject(s) ? cJSON_GetObjectItemCaseSensitive(s, "name") : s;
		if (cJSON_IsString(n))
			cJSON_AddItemToArray(names, cJSON_CreateString(n->valuestring));
	}
	cJSON_Delete(ans);
	return names;
}

static void add_size(cJSON *o, const char *key, double bytes)
{
	char buf[32];

	cs_format_size((uint64_t)bytes, buf, sizeof(buf));
	cJSON_AddStringToObject(o, key, buf);
}

/* "mounts" (the references of this boot in the volume's @props) and
 * "references" (the count per mount ID) into @st. */
static void add_references(struct dp_driver *d, cJSON *st, const cJSON *props)
{
	struct dp_refs refs = {0};
	cJSON *per_id;
	size_t i;

	if (!cJSON_IsObject(props) || dp_refs_parse(dp_vol_str(props, DP_REFS_PROP), &refs))
		refs.len = 0;
	dp_refs_drop_other_boots(&refs, d->boot);
	cJSON_AddNumberToObject(st, "mounts", (double)dp_refs_total(&refs));
	per_id = cJSON_AddObjectToObject(st, "references");
	for (i = 0; per_id && i < refs.len; i++)
		cJSON_AddNumberToObject(per_id, refs.v[i].id[0] ? refs.v[i].id : "(no ID)",
					(double)refs.v[i].count);
	dp_refs_clear(&refs);
}

/* docker volume inspect shows this verbatim. */
static cJSON *volume_status(struct dp_driver *d, const char *name, const cJSON *vol)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(vol, "props");
	double stored = stat_num(vol, "stored_bytes"), logical = stat_num(vol, "logical_bytes");
	const cJSON *quota = cJSON_GetObjectItemCaseSensitive(vol, "quota");
	const char *origin = dp_vol_str(vol, "origin"), *opts;
	cJSON *st = cJSON_CreateObject();
	char ratio[32];

	add_size(st, "used", logical);
	cJSON_AddNumberToObject(st, "logical_bytes", logical);
	cJSON_AddNumberToObject(st, "stored_bytes", stored);
	snprintf(ratio, sizeof(ratio), "%.2fx", stored > 0 ? logical / stored : 1.0);
	cJSON_AddStringToObject(st, "compression_ratio", ratio);
	cJSON_AddStringToObject(st, "compression", dp_vol_str(vol, "compression") ?: "");
	if (cJSON_IsNumber(quota) && quota->valuedouble > 0)
		add_size(st, "quota", quota->valuedouble);
	else
		cJSON_AddStringToObject(st, "quota", "none");
	cJSON_AddStringToObject(st, "origin", origin ? origin : "");
	cJSON_AddItemToObject(st, "snapshots", snapshot_names(d, name, vol));
	add_references(d, st, props);
	opts = dp_vol_str(props, DP_OPTS_PROP);
	cJSON_AddItemToObject(st, "options", opts ? cJSON_Parse(opts) : cJSON_CreateObject());
	return st;
}

/* ------------------------------------------------------------------ */
/* Get, List                                                          */
/* ------------------------------------------------------------------ */

/* {"Name": @name, "Mountpoint": ...} for the daemon's volume object @vol
 * (NULL: unknown, Mountpoint ""). NULL on ENOMEM. */
static cJSON *volume_entry(const struct dp_driver *d, const char *name, const cJSON *vol)
{
	cJSON *e = cJSON_CreateObject();
	char buf[PATH_MAX];

	if (e && cJSON_AddStringToObject(e, "Name", name) &&
	    cJSON_AddStringToObject(e, "Mountpoint", dp_vol_mountpoint(d, vol, buf)))
		return e;
	cJSON_Delete(e);
	return NULL;
}

/* Answer {"Volume": @v}, taking @v (NULL: out of memory). */
static int answer_volume(struct dp_answer *a, cJSON *v)
{
	cJSON *ans = cJSON_CreateObject();

	if (!v || !ans || !cJSON_AddItemToObject(ans, "Volume", v)) {
		cJSON_Delete(v);
		cJSON_Delete(ans);
		return dp_fail(a, -ENOMEM, "out of memory");
	}
	dp_succeed(a, &ans);
	return 0;
}

/* Get while the daemon fails in some other way than "not found" (the
 * failure is in @a): the volume, with the failure in its Status. */
static int degraded_get(struct dp_driver *d, struct dp_answer *a, const char *name)
{
	cJSON *v = volume_entry(d, name, NULL), *st;
	int err;

	dp_warn("Get '%s': %s", name, a->msg);
	if (v && (!(st = cJSON_AddObjectToObject(v, "Status")) ||
		  !cJSON_AddStringToObject(st, "error", a->msg))) {
		cJSON_Delete(v);
		v = NULL;
	}
	err = answer_volume(a, v); /* on ENOMEM, a keeps the daemon's failure */
	if (!err)
		a->err = 0;
	return err;
}

int dp_ep_get(struct dp_driver *d, const cJSON *req, struct dp_answer *a)
{
	const char *name, *created;
	cJSON *vol = NULL, *v;
	int err;

	if ((err = dp_req_name(a, req, &name)))
		return err;
	err = dp_vol_get(d, a, name, &vol);
	if (err && err != -ENOENT && err != CS_CLIENT_EUNREACHABLE)
		return degraded_get(d, a, name); /* an Err makes dockerd forget the volume */
	if (err)
		return err;
	v = volume_entry(d, name, vol);
	created = dp_vol_str(vol, "created");
	if (v && created && *created)
		cJSON_AddStringToObject(v, "CreatedAt", created);
	if (v)
		cJSON_AddItemToObject(v, "Status", volume_status(d, name, vol));
	err = answer_volume(a, v);
	cJSON_Delete(vol);
	return err;
}

int dp_ep_list(struct dp_driver *d, const cJSON *req, struct dp_answer *a)
{
	cJSON *list = NULL, *ans = cJSON_CreateObject(), *arr, *vol;
	const char *name;
	int err = cs_client_volume_list(d->c, &list);

	if (err) {
		dp_fail_call(a, d->c, err, "cannot list the volumes");
		goto out;
	}
	arr = cJSON_AddArrayToObject(ans, "Volumes");
	cJSON_ArrayForEach(vol, cJSON_GetObjectItemCaseSensitive(list, "volumes"))
	{
		name = dp_vol_str(vol, "name");
		if (name && arr)
			cJSON_AddItemToArray(arr, volume_entry(d, name, vol));
	}
	dp_succeed(a, &ans);
out:
	cJSON_Delete(ans);
	cJSON_Delete(list);
	return err;
}
