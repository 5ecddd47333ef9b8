/*
 * cs_api_volumes.c - the control API's volume resource (see
 * cs_api_volumes.h and docs/interfaces.md, "Control API").
 *
 * Every handler validates its input first (names, JSON types, unknown
 * fields) and changes nothing when it answers an error. A volume that is
 * renamed, deleted or promoted must not be mounted: renaming and promoting
 * answer 409 EBUSY, deleting too unless ?force=1, which ends its sessions
 * (and those of its snapshots) first. Deleting or promoting a volume frees
 * chunks: the background gc (cs_api_store.c) is asked to give back their
 * space.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_api_store.h"
#include "cs_api_volumes.h"
#include "cs_log.h"
#include "cs_mounts.h"

/* ------------------------------------------------------------------ */
/* Volume objects                                                     */
/* ------------------------------------------------------------------ */

#define STATS_U64(m) CS_HTTP_U64(struct cs_volume_stats, m)
static const struct cs_http_u64 stats_counters[] = {
    STATS_U64(inodes),	     STATS_U64(logical_bytes), STATS_U64(apparent_bytes),
    STATS_U64(stored_bytes), STATS_U64(raw_bytes),     STATS_U64(chunk_refs)};

void cs_api_stats_json(cJSON *o, const struct cs_volume_stats *st)
{
	cJSON *stats = cJSON_AddObjectToObject(o, "stats");

	CS_HTTP_ADD_U64S(stats, st, stats_counters);
}

static int prop_add(void *ctx, const char *name, const char *value)
{
	cJSON_AddStringToObject(ctx, name, value);
	return 0;
}

static cJSON *volume_json(struct cs_api *api, const struct cs_volume_info *v)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *mps, *props;
	char uuid[40], when[40], comp[16];

	cs_uuid_format(v->uuid, uuid);
	cs_http_time(v->ctime_ns, when, sizeof(when));
	if (v->compression > 0)
		snprintf(comp, sizeof(comp), "zstd:%d", v->compression);
	else
		snprintf(comp, sizeof(comp), "none");

	cJSON_AddStringToObject(o, "name", v->name);
	cJSON_AddStringToObject(o, "uuid", uuid);
	cJSON_AddNumberToObject(o, "id", (double)v->id);
	cJSON_AddStringToObject(o, "created", when);
	cJSON_AddStringToObject(o, "compression", comp);
	cJSON_AddNumberToObject(o, "chunk_size", (double)v->chunk_size);
	cJSON_AddNumberToObject(o, "quota", (double)v->quota);
	cJSON_AddNumberToObject(o, "epoch", (double)v->epoch);
	mps = cs_mounts_of(api->mounts, v->name);
	cJSON_AddBoolToObject(o, "mounted", cJSON_GetArraySize(mps) > 0);
	cJSON_AddItemToObject(o, "mounts", mps);
	if (v->origin[0])
		cJSON_AddStringToObject(o, "origin", v->origin);
	else
		cJSON_AddNullToObject(o, "origin");
	cJSON_AddNumberToObject(o, "snapshots", (double)v->snapshots);
	cJSON_AddNumberToObject(o, "written_bytes", (double)v->written_bytes);
	props = cJSON_CreateObject();
	if (cs_volume_prop_list(api->st, v->name, prop_add, props) < 0)
		cs_warn("properties of '%s': %s", v->name, cs_last_error());
	cJSON_AddItemToObject(o, "props", props);
	cs_api_stats_json(o, &v->stats);
	return o;
}

int cs_api_volume_answer(struct cs_api *api, struct cs_http_reply *r, unsigned status,
			 const char *name)
{
	struct cs_volume_info info;
	int err = cs_volume_get(api->st, name, &info);

	if (err)
		return cs_http_fail_store(r, err, name);
	cs_http_ok(r, status, volume_json(api, &info));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Checks the resources share                                         */
/* ------------------------------------------------------------------ */

int cs_api_volume_must_exist(struct cs_api *api, struct cs_http_reply *r, const char *name,
			     struct cs_volume_info *info)
{
	int err = cs_http_name(r, "volume name", name);

	if (err)
		return err;
	err = cs_volume_get(api->st, name, info);
	if (err == -ENOENT)
		return cs_http_fail(r, err, "volume '%s' does not exist", name);
	if (err)
		return cs_http_fail_store(r, err, name);
	return 0;
}

int cs_api_volume_spec(struct cs_http_reply *r, const char *spec, char *vol, const char **snap)
{
	const char *at = strrchr(spec, '@');
	size_t n = at ? (size_t)(at - spec) : strlen(spec);
	int err;

	*snap = NULL;
	if (n > CS_NAME_MAX)
		return cs_http_fail(r, ENAMETOOLONG, "volume name is longer than %u bytes",
				    CS_NAME_MAX);
	memcpy(vol, spec, n);
	vol[n] = '\0';
	if ((err = cs_http_name(r, "volume name", vol)))
		return err;
	if (at) {
		if ((err = cs_http_name(r, "snapshot name", at + 1)))
			return err;
		*snap = at + 1;
	}
	return 0;
}

int cs_api_volume_spec_exists(struct cs_api *api, struct cs_http_reply *r, const char *vol,
			      const char *snap)
{
	struct cs_snapshot_info si;
	struct cs_volume_info vi;
	int err = cs_volume_get(api->st, vol, &vi);

	if (err == -ENOENT)
		return cs_http_fail(r, err, "volume '%s' does not exist", vol);
	if (err)
		return cs_http_fail_store(r, err, vol);
	if (!snap)
		return 0;
	err = cs_snapshot_stat(api->st, vol, snap, &si);
	if (err == -ENOENT)
		return cs_http_fail(r, err, "snapshot '%s@%s' does not exist", vol, snap);
	if (err)
		return cs_http_fail_store(r, err, snap);
	return 0;
}

int cs_api_volume_unmount(struct cs_api *api, struct cs_http_reply *r, const char *name, int force,
			  const char *why)
{
	char where[PATH_MAX];

	cs_mounts_reap(api->mounts);
	if (!cs_mounts_count(api->mounts, name, where, sizeof(where)))
		return 0;
	if (!force)
		return cs_http_fail(r, EBUSY,
				    "volume '%s' is mounted at %s (unmount it or use force)", name,
				    where);
	cs_mounts_end_volume(api->mounts, name, why);
	if (cs_mounts_count(api->mounts, name, where, sizeof(where)))
		return cs_http_fail(r, EBUSY, "volume '%s' is being mounted at %s", name, where);
	return 0;
}

/* 409 EBUSY when @name or a snapshot of it is mounted. */
static int refuse_mounted(struct cs_api *api, struct cs_http_reply *r, const char *name)
{
	char where[PATH_MAX];

	if (cs_mounts_count(api->mounts, name, where, sizeof(where)))
		return cs_http_fail(r, EBUSY, "volume '%s' is mounted at %s", name, where);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Options: compression and quota                                     */
/* ------------------------------------------------------------------ */

static int parse_compression(struct cs_http_reply *r, const char *s, int *level)
{
	char *end;
	long v;

	if (!strcmp(s, "none")) {
		*level = 0;
		return 0;
	}
	if (!strcmp(s, "zstd")) {
		*level = CS_DEFAULT_ZSTD_LEVEL;
		return 0;
	}
	if (!strncmp(s, "zstd:", 5) && s[5] >= '0' && s[5] <= '9') {
		errno = 0;
		v = strtol(s + 5, &end, 10);
		if (!errno && !*end && v >= 1 && v <= 19) {
			*level = (int)v;
			return 0;
		}
	}
	return cs_http_fail(r, EINVAL,
			    "invalid compression '%.64s': \"none\" or \"zstd:N\" with N 1..19", s);
}

/* Field @name of @obj, a number of bytes: *@present 0 when absent. */
static int get_bytes(struct cs_http_reply *r, const cJSON *obj, const char *name, int *present,
		     uint64_t *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	double v;

	*present = 0;
	if (!it)
		return 0;
	if (!cJSON_IsNumber(it))
		return cs_http_fail(r, EINVAL, "field '%s' must be a number of bytes", name);
	v = it->valuedouble;
	if (v < 0 || v != (double)(uint64_t)v || v > 18446744073709549568.0)
		return cs_http_fail(r, EINVAL,
				    "field '%s' must be a non-negative integer (bytes)", name);
	*out = (uint64_t)v;
	*present = 1;
	return 0;
}

/* The "compression", "quota" and "chunk_size" of @body over the values in
 * @opts (the store says whether a chunk size is one a volume may have). */
static int body_opts(struct cs_http_reply *r, const cJSON *body, struct cs_volume_opts *opts)
{
	const char *comp;
	uint64_t quota = 0, chunk = 0;
	int err, has_quota, has_chunk;

	if ((err = cs_http_string(r, body, "compression", 0, &comp)) ||
	    (comp && (err = parse_compression(r, comp, &opts->compression))) ||
	    (err = get_bytes(r, body, "quota", &has_quota, &quota)) ||
	    (err = get_bytes(r, body, "chunk_size", &has_chunk, &chunk)))
		return err;
	if (has_quota)
		opts->quota = quota;
	if (has_chunk && (chunk == 0 || chunk > CS_CHUNK_MAX))
		return cs_http_fail(r, EINVAL, "field 'chunk_size' must be a power of two from %u "
				    "to %u bytes", CS_CHUNK_MIN, CS_CHUNK_MAX);
	if (has_chunk)
		opts->chunk_size = (uint32_t)chunk;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Handlers                                                           */
/* ------------------------------------------------------------------ */

int cs_api_volumes_list(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	struct cs_volume_info *v = NULL;
	cJSON *root, *arr;
	size_t n = 0, i;
	int err;

	err = cs_volume_list(api->st, &v, &n);
	if (err)
		return cs_http_fail_store(r, err, "listing volumes");
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "volumes");
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, volume_json(api, &v[i]));
	free(v);
	cs_http_ok(r, 200, root);
	return 0;
}

/* Answer @err, the failure of making volume @made (creating, cloning or
 * renaming @name): "already exists" for -EEXIST, else the store's error. */
static int fail_making(struct cs_http_reply *r, int err, const char *made, const char *name)
{
	if (err == -EEXIST)
		return cs_http_fail(r, err, "volume '%s' already exists", made);
	return cs_http_fail_store(r, err, name);
}

/* POST /v1/volumes with "from": a clone of snapshot @from named @name, its
 * options those of its origin unless @body sets them. */
static int clone_create(struct cs_api *api, const char *name, const char *from, const cJSON *body,
			struct cs_http_reply *r)
{
	struct cs_volume_opts opts = {0};
	struct cs_volume_info origin;
	char vol[CS_NAME_MAX + 1];
	const char *snap;
	int err;

	if ((err = cs_api_volume_spec(r, from, vol, &snap)))
		return err;
	if (!snap)
		return cs_http_fail(r, EINVAL, "field 'from' must be VOLUME@SNAPSHOT, not '%.255s'",
				    from);
	if ((err = cs_api_volume_spec_exists(api, r, vol, snap)) ||
	    (err = cs_volume_get(api->st, vol, &origin)))
		return err < 0 && !r->json ? cs_http_fail_store(r, err, vol) : err;
	opts.compression = origin.compression;
	opts.quota = origin.quota;
	if ((err = body_opts(r, body, &opts)))
		return err;
	err = cs_clone_create(api->st, vol, snap, name, &opts, NULL);
	if (err)
		return fail_making(r, err, name, name);
	cs_info("created volume '%s' as a clone of '%s@%s'", name, vol, snap);
	return cs_api_volume_answer(api, r, 201, name);
}

int cs_api_volume_create(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	static const char *const fields[] = {"name", "compression", "quota", "chunk_size", "from", NULL};
	struct cs_volume_opts opts = {.compression = -1, .quota = 0};
	const char *name, *from;
	cJSON *body = NULL;
	int err;

	if ((err = cs_http_body(r, q, &body)) || (err = cs_http_fields(r, body, fields)) ||
	    (err = cs_http_string(r, body, "name", 1, &name)) ||
	    (err = cs_http_name(r, "volume name", name)) ||
	    (err = cs_http_string(r, body, "from", 0, &from)) || (err = body_opts(r, body, &opts)))
		goto out;
	if (strchr(name, '@')) {
		err = cs_http_fail(r, EINVAL, "invalid volume name '%.255s': no '@'", name);
		goto out;
	}
	if (from) {
		err = clone_create(api, name, from, body, r);
		goto out;
	}
	err = cs_volume_create(api->st, name, &opts, q->uid, q->gid, NULL);
	if (err) {
		fail_making(r, err, name, name);
	} else {
		cs_info("created volume '%s'", name);
		err = cs_api_volume_answer(api, r, 201, name);
	}
out:
	cJSON_Delete(body);
	return err;
}

int cs_api_volume_get(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	struct cs_volume_info info;
	int err = cs_api_volume_must_exist(api, r, q->arg[0], &info);

	if (err == 0)
		cs_http_ok(r, 200, volume_json(api, &info));
	return err;
}

/* Rename @name to @to (not mounted). */
static int volume_rename(struct cs_api *api, struct cs_http_reply *r, const char *name,
			 const char *to)
{
	int err = refuse_mounted(api, r, name);

	if (err)
		return err;
	err = cs_volume_rename(api->st, name, to);
	if (err)
		return fail_making(r, err, to, name);
	cs_info("renamed volume '%s' to '%s'", name, to);
	return 0;
}

int cs_api_volume_patch(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	static const char *const fields[] = {"name", "compression", "quota", NULL};
	const char *name = q->arg[0], *to = NULL, *comp = NULL;
	struct cs_volume_info info;
	struct cs_volume_opts opts = {0};
	cJSON *body = NULL;
	int err, has_quota = 0;
	uint64_t quota = 0;

	if ((err = cs_http_name(r, "volume name", name)) || (err = cs_http_body(r, q, &body)) ||
	    (err = cs_http_fields(r, body, fields)) ||
	    (err = cs_http_string(r, body, "name", 0, &to)) ||
	    (to && (err = cs_http_name(r, "new volume name", to))) ||
	    (err = cs_http_string(r, body, "compression", 0, &comp)) ||
	    (err = get_bytes(r, body, "quota", &has_quota, &quota)) ||
	    (err = cs_api_volume_must_exist(api, r, name, &info)))
		goto out;
	opts.compression = info.compression;
	opts.quota = has_quota ? quota : info.quota;
	if (comp && (err = parse_compression(r, comp, &opts.compression)))
		goto out;
	if (to && strcmp(to, name)) {
		if ((err = volume_rename(api, r, name, to)))
			goto out;
		name = to;
	}
	if ((comp || has_quota) && (err = cs_volume_set_opts(api->st, name, &opts)))
		cs_http_fail_store(r, err, name);
	else
		err = cs_api_volume_answer(api, r, 200, name);
out:
	cJSON_Delete(body);
	return err;
}

int cs_api_volume_delete(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	const char *name = q->arg[0];
	int err;

	if ((err = cs_http_name(r, "volume name", name)) ||
	    (err = cs_api_volume_unmount(api, r, name, cs_http_query_flag(q, "force"),
					 "volume removed")))
		return err;
	err = cs_volume_delete(api->st, name);
	if (err == -ENOENT)
		return cs_http_fail(r, err, "volume '%s' does not exist", name);
	if (err)
		return cs_http_fail_store(r, err, name);
	cs_info("removed volume '%s'", name);
	cs_api_gc_schedule(api->gc); /* the freed chunks' blob space (cs_gc) */
	cs_http_ok(r, 200, NULL);
	return 0;
}

int cs_api_volume_promote(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	const char *vol = q->arg[0];
	struct cs_volume_info info;
	int err;

	if ((err = cs_api_volume_must_exist(api, r, vol, &info)))
		return err;
	if (!info.origin[0])
		return cs_http_fail(r, EINVAL, "volume '%s' is not a clone", vol);
	cs_mounts_reap(api->mounts);
	if ((err = refuse_mounted(api, r, vol)))
		return err;
	err = cs_clone_promote(api->st, vol);
	if (err)
		return cs_http_fail_store(r, err, vol);
	cs_info("promoted volume '%s' (was a clone of '%s')", vol, info.origin);
	cs_api_gc_schedule(api->gc);
	return cs_api_volume_answer(api, r, 200, vol);
}

/* ------------------------------------------------------------------ */
/* Properties                                                         */
/* ------------------------------------------------------------------ */

static int prop_name_check(struct cs_http_reply *r, const char *name)
{
	size_t n = strlen(name), i;

	if (n == 0 || n > CS_NAME_MAX)
		return cs_http_fail(r, EINVAL, "property names are 1-255 bytes");
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._:-", c)))
			return cs_http_fail(r, EINVAL,
					    "invalid property name '%.255s': only [A-Za-z0-9._:-]",
					    name);
	}
	return 0;
}

static int props_answer(struct cs_api *api, const char *vol, struct cs_http_reply *r)
{
	cJSON *props = cJSON_CreateObject(), *o;
	int err = cs_volume_prop_list(api->st, vol, prop_add, props);

	if (err) {
		cJSON_Delete(props);
		cs_http_fail_store(r, err, vol);
		return -EIO;
	}
	o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "props", props);
	cs_http_ok(r, 200, o);
	return 0;
}

/* Validate every member of @body first: a bad request changes nothing. */
static int props_check(struct cs_http_reply *r, const cJSON *body)
{
	const cJSON *it;
	int err;

	if (!cJSON_IsObject(body))
		return cs_http_fail(r, EINVAL, "request body must be a JSON object");
	cJSON_ArrayForEach(it, body)
	{
		if ((err = prop_name_check(r, it->string ? it->string : "")))
			return err;
		if (!cJSON_IsNull(it) && !cJSON_IsString(it))
			return cs_http_fail(r, EINVAL, "property '%s' must be a string or null",
					    it->string);
		if (cJSON_IsString(it) && strlen(it->valuestring) > CS_PROP_VALUE_MAX)
			return cs_http_fail(r, E2BIG, "property '%s' is longer than %u bytes",
					    it->string, CS_PROP_VALUE_MAX);
	}
	return 0;
}

int cs_api_props_patch(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	const char *vol = q->arg[0];
	struct cs_volume_info info;
	const cJSON *it;
	cJSON *body = NULL;
	int err;

	if ((err = cs_api_volume_must_exist(api, r, vol, &info)) ||
	    (err = cs_http_body(r, q, &body)) || (err = props_check(r, body)))
		goto out;
	cJSON_ArrayForEach(it, body)
	{
		err = cs_volume_prop_set(api->st, vol, it->string,
					 cJSON_IsString(it) ? it->valuestring : NULL);
		if (err == -ENOENT && cJSON_IsNull(it))
			err = 0; /* deleting an absent property */
		if (err) {
			cs_http_fail_store(r, err, vol);
			goto out;
		}
	}
	err = props_answer(api, vol, r);
out:
	cJSON_Delete(body);
	return err;
}

int cs_api_props_get(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	struct cs_volume_info info;
	int err = cs_api_volume_must_exist(api, r, q->arg[0], &info);

	return err ? err : props_answer(api, q->arg[0], r);
}
