/*
 * dp_driver.c - the VolumeDriver endpoints over the cstorfs control API
 * (see dp_driver.h; the protocol is shared/PROTOCOLS.md).
 *
 * Each endpoint is a handler that decodes the request, calls the daemon and
 * fills a struct answer exactly once: a success object, or an errno and a
 * message that becomes {"Err": "..."}. A handler whose daemon went away
 * (CS_CLIENT_EUNREACHABLE) is run once more after cs_client_ensure_daemon()
 * has started a new one; handlers are written so that running one again
 * after a partial failure is harmless.
 *
 * Properties this module owns, per volume (the store keeps them with the
 * volume and deletes them with it):
 *   docker.refs  mount references, dp_refs_format() JSON; absent = none
 *   docker.opts  the -o options given at Create (JSON object of strings)
 *
 * Invariants (between calls, with the lock released):
 *   - ROOT/NAME is a live mount of volume NAME only if docker.refs of NAME
 *     totals > 0, except when a step failed (it was logged) and the next
 *     Mount, Unmount, Remove or a restart puts it right;
 *   - docker.refs never holds a reference of another boot after
 *     dp_driver_recover(), nor after any call that read it.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cs_client.h"
#include "dp_driver.h"
#include "dp_log.h"
#include "dp_mnt.h"
#include "dp_refs.h"

#define OPTS_PROP "docker.opts"
#define MOUNT_OPTIONS "allow_other"
#define BOOT_ID_FILE "/proc/sys/kernel/random/boot_id"
#define NAME_MAX_BYTES 255

struct dp_driver {
	pthread_mutex_t lock; /* serialises every call; leaf */
	struct cs_client *c;
	char *root;    /* canonical, no trailing '/' */
	int root_made; /* root_ready() created it (or found it) */
	char boot[DP_BOOT_ID_LEN + 1];
};

static int root_ready(struct dp_driver *d);

struct answer {
	cJSON *json; /* success object (NULL: {}) */
	int err;     /* 0 or a negative errno */
	char msg[1024];
};

/* ------------------------------------------------------------------ */
/* Answers                                                            */
/* ------------------------------------------------------------------ */

static int fail(struct answer *a, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record a failure (the first one wins) and return @err (negative). */
static int fail(struct answer *a, int err, const char *fmt, ...)
{
	va_list ap;

	if (a->err)
		return a->err;
	a->err = err < 0 ? err : -EIO;
	va_start(ap, fmt);
	vsnprintf(a->msg, sizeof(a->msg), fmt, ap);
	va_end(ap);
	return a->err;
}

/* A failure of the daemon call that just returned @err, said with @what. */
static int fail_call(struct dp_driver *d, struct answer *a, int err, const char *what)
{
	const char *m = cs_client_errmsg(d->c);

	return fail(a, err, "%s: %s", what, m && *m ? m : strerror(-err));
}

static void succeed(struct answer *a, cJSON *json)
{
	cJSON_Delete(a->json);
	a->json = json;
}

/* ------------------------------------------------------------------ */
/* Request fields                                                     */
/* ------------------------------------------------------------------ */

/* Field @key of @req in any letter case: a string, or NULL when absent or
 * null. Other types fail. */
static int get_string(struct answer *a, const cJSON *req, const char *key, const char **out)
{
	const cJSON *it = cJSON_GetObjectItem(req, key); /* case-insensitive */

	*out = NULL;
	if (!it || cJSON_IsNull(it))
		return 0;
	if (!cJSON_IsString(it))
		return fail(a, -EINVAL, "field '%s' must be a string", key);
	*out = it->valuestring;
	return 0;
}

static int check_name(struct answer *a, const char *name)
{
	size_t n = strlen(name);

	if (n == 0)
		return fail(a, -EINVAL, "invalid volume name: it is empty");
	if (n > NAME_MAX_BYTES)
		return fail(a, -ENAMETOOLONG, "invalid volume name: %zu bytes, at most %d allowed",
			    n, NAME_MAX_BYTES);
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return fail(a, -EINVAL, "invalid volume name '%s': reserved", name);
	if (strchr(name, '/'))
		return fail(a, -EINVAL, "invalid volume name '%s': it contains '/'", name);
	if (strchr(name, '@'))
		return fail(a, -EINVAL,
			    "invalid volume name '%s': it contains '@' (VOLUME@SNAPSHOT names a "
			    "snapshot)",
			    name);
	return 0;
}

/* The request's Name, present and valid. */
static int get_name(struct answer *a, const cJSON *req, const char **name)
{
	int err = get_string(a, req, "Name", name);

	if (err)
		return err;
	if (!*name)
		return fail(a, -EINVAL, "missing field 'Name' (the volume name)");
	return check_name(a, *name);
}

/* ------------------------------------------------------------------ */
/* Volumes, references, mount points                                  */
/* ------------------------------------------------------------------ */

static int volume_path(struct dp_driver *d, const char *name, char *buf)
{
	if ((size_t)snprintf(buf, PATH_MAX, "%s/%s", d->root, name) >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* The string property @key of the props object @props, or NULL. */
static const char *prop_str(const cJSON *props, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(props, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The references of @name into *@refs (empty when it has none). A missing
 * volume fails with -ENOENT. Unreadable references are logged and dropped:
 * they cannot be honoured. */
static int load_refs(struct dp_driver *d, struct answer *a, const char *name, struct dp_refs *refs)
{
	cJSON *props = NULL;
	int err = cs_client_props_get(d->c, name, &props);

	refs->v = NULL;
	refs->len = 0;
	if (err == -ENOENT)
		return fail(a, err, "volume '%s' not found", name);
	if (err)
		return fail_call(d, a, err, "cannot read the mount references");
	err = dp_refs_parse(prop_str(props, DP_REFS_PROP), refs);
	if (err == -EINVAL)
		dp_warn("volume '%s': unreadable property %s dropped", name, DP_REFS_PROP);
	cJSON_Delete(props);
	if (err == -ENOMEM)
		return fail(a, err, "out of memory");
	dp_refs_drop_other_boots(refs, d->boot);
	return 0;
}

static int save_refs(struct dp_driver *d, struct answer *a, const char *name,
		     const struct dp_refs *refs)
{
	char *text = NULL;
	int err;

	if (dp_refs_total(refs) > 0 && !(text = dp_refs_format(refs)))
		return fail(a, -ENOMEM, "out of memory");
	err = cs_client_prop_set(d->c, name, DP_REFS_PROP, text);
	free(text);
	if (err)
		return fail_call(d, a, err, "cannot record the mount references");
	return 0;
}

/* Make sure a live mount of @name sits at @path: adopt one that answers,
 * detach a dead one, else ask the daemon to mount. */
static int ensure_mounted(struct dp_driver *d, struct answer *a, const char *name, const char *path)
{
	int st = dp_mnt_state(path), err;

	if (st == 1)
		return 0;
	if (st < 0) {
		dp_warn("the mount of '%s' at %s is dead (%s): detaching it", name, path,
			strerror(-st));
		if (dp_mnt_detach(path))
			return fail(a, -EIO, "cannot detach the dead mount at %s", path);
	}
	err = root_ready(d);
	if (err)
		return fail(a, err, "cannot create the mount root %s: %s", d->root, strerror(-err));
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return fail(a, -errno, "cannot create the mount point %s: %s", path,
			    strerror(errno));
	err = cs_client_mount(d->c, name, path, MOUNT_OPTIONS, CS_CLIENT_MOUNT_SHARED, NULL);
	if (err) {
		char what[PATH_MAX + 300];

		snprintf(what, sizeof(what), "cannot mount volume '%s' at %s", name, path);
		return fail_call(d, a, err, what);
	}
	dp_info("mounted volume '%s' at %s", name, path);
	return 0;
}

/* Take down whatever is mounted at @path (the daemon's mount, or a dead
 * one it does not know) and remove the empty mount point. */
static int release_mount(struct dp_driver *d, struct answer *a, const char *name, const char *path)
{
	int err = cs_client_unmount(d->c, path, 1);

	if (err) {
		char what[PATH_MAX + 300];

		snprintf(what, sizeof(what), "cannot unmount volume '%s' at %s", name, path);
		return fail_call(d, a, err, what);
	}
	if (dp_mnt_is_fuse(path) && dp_mnt_detach(path))
		return fail(a, -EIO, "cannot unmount volume '%s' at %s", name, path);
	if (rmdir(path) == 0)
		dp_info("unmounted volume '%s' from %s", name, path);
	return 0;
}

/* 1 when the daemon's volume object @vol lists @path among its mounts. */
static int vol_mounted_at(const cJSON *vol, const char *path)
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

/* The Mountpoint to report for the daemon's volume object @vol: our mount
 * point when the daemon has the volume mounted there, else "". */
static const char *reported_mountpoint(struct dp_driver *d, const cJSON *vol, char *buf)
{
	const char *name = prop_str(vol, "name");

	if (!name || volume_path(d, name, buf) || !vol_mounted_at(vol, buf))
		return "";
	return buf;
}

/* ------------------------------------------------------------------ */
/* Create                                                             */
/* ------------------------------------------------------------------ */

struct create_opts {
	const char *compression;
	const char *from;
	uint64_t quota;
	cJSON *given; /* normalised copy for docker.opts */
};

static int check_compression(struct answer *a, const char *s)
{
	char *end;
	long v;

	if (!strcmp(s, "none") || !strcmp(s, "zstd"))
		return 0;
	if (!strncmp(s, "zstd:", 5) && s[5] >= '0' && s[5] <= '9') {
		errno = 0;
		v = strtol(s + 5, &end, 10);
		if (!errno && !*end && v >= 1 && v <= 19)
			return 0;
	}
	return fail(a, -EINVAL,
		    "invalid value '%.64s' for option 'compression': \"none\", \"zstd\" or "
		    "\"zstd:N\" with N 1..19",
		    s);
}

static int check_from(struct answer *a, const char *s)
{
	char *vol = NULL, *snap = NULL;
	int err = cs_client_split_snapshot(s, &vol, &snap);

	if (err == -ENOMEM)
		return fail(a, err, "out of memory");
	if (err || !snap)
		err = fail(a, -EINVAL,
			   "invalid value '%.300s' for option 'from': VOLUME@SNAPSHOT expected "
			   "(make the snapshot with cstorfs-ctl snapshot create VOLUME@SNAPSHOT)",
			   s);
	free(vol);
	free(snap);
	return err;
}

/* One -o KEY=VALUE; @key is compared without regard to case. */
static int parse_option(struct answer *a, const char *key, const cJSON *val, struct create_opts *o)
{
	const char *v;
	int err;

	if (!cJSON_IsString(val))
		return fail(a, -EINVAL, "option '%.64s' must have a string value", key);
	v = val->valuestring;
	if (!strcasecmp(key, "compression")) {
		if ((err = check_compression(a, v)))
			return err;
		o->compression = v;
	} else if (!strcasecmp(key, "quota")) {
		if (cs_parse_size(v, &o->quota) < 0)
			return fail(a, -EINVAL,
				    "invalid value '%.64s' for option 'quota': a size such as "
				    "10G, 512M or 1048576 expected",
				    v);
	} else if (!strcasecmp(key, "from")) {
		if ((err = check_from(a, v)))
			return err;
		o->from = v;
	} else {
		return fail(a, -EINVAL,
			    "unknown option '%.64s' (known options: compression=zstd:N|none, "
			    "quota=SIZE, from=VOLUME@SNAPSHOT)",
			    key);
	}
	return cJSON_AddStringToObject(o->given, key, v) ? 0 : fail(a, -ENOMEM, "out of memory");
}

static int parse_options(struct answer *a, const cJSON *req, struct create_opts *o)
{
	const cJSON *opts = cJSON_GetObjectItem(req, "Opts"), *it;
	char key[72];
	size_t i;
	int err;

	if (!opts || cJSON_IsNull(opts))
		return 0;
	if (!cJSON_IsObject(opts))
		return fail(a, -EINVAL, "field 'Opts' must be an object of strings");
	cJSON_ArrayForEach(it, opts)
	{
		snprintf(key, sizeof(key), "%s", it->string ? it->string : "");
		for (i = 0; key[i]; i++)
			key[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] + 32 : key[i]);
		if (cJSON_GetObjectItem(o->given, key))
			return fail(a, -EINVAL, "option '%s' given twice", key);
		if ((err = parse_option(a, key, it, o)))
			return err;
	}
	return 0;
}

static int create_failed(struct dp_driver *d, struct answer *a, int err, const char *name,
			 const struct create_opts *o)
{
	if (err == -EEXIST)
		return fail(a, err, "volume '%s' already exists", name);
	if (err == -ENOENT && o->from)
		return fail_call(d, a, err, "option 'from'");
	if (err == -EINVAL || err == -EDQUOT || err == -ENOSPC)
		return fail_call(d, a, err, "cannot create the volume");
	return fail_call(d, a, err, "cannot create the volume");
}

static int h_create(struct dp_driver *d, const cJSON *req, struct answer *a)
{
	struct create_opts o = {0};
	const char *name;
	char *text = NULL;
	int err;

	if ((err = get_name(a, req, &name)))
		return err;
	if (!(o.given = cJSON_CreateObject()))
		return fail(a, -ENOMEM, "out of memory");
	if ((err = parse_options(a, req, &o)))
		goto out;
	err = cs_client_volume_create(d->c, name, o.from, o.compression, o.quota, NULL);
	if (err) {
		create_failed(d, a, err, name, &o);
		goto out;
	}
	text = cJSON_PrintUnformatted(o.given);
	err = text ? cs_client_prop_set(d->c, name, OPTS_PROP, text) : -ENOMEM;
	if (err) {
		fail_call(d, a, err, "cannot record the volume's options");
		cs_client_volume_delete(d->c, name, 0); /* nothing half-made */
		goto out;
	}
	dp_info("created volume '%s' (options %s)", name, text);
out:
	free(text);
	cJSON_Delete(o.given);
	return err;
}

/* ------------------------------------------------------------------ */
/* Mount, Unmount                                                     */
/* ------------------------------------------------------------------ */

/* The request's ID: "" when absent, null or empty (the ID-less holder). */
static int get_id(struct answer *a, const cJSON *req, const char **id)
{
	int err = get_string(a, req, "ID", id);

	if (!err && !*id)
		*id = "";
	return err;
}

static int h_mount(struct dp_driver *d, const cJSON *req, struct answer *a)
{
	struct dp_refs refs = {0};
	const char *name, *id;
	char path[PATH_MAX];
	cJSON *ans;
	int err;

	if ((err = get_name(a, req, &name)) || (err = get_id(a, req, &id)))
		return err;
	if (volume_path(d, name, path))
		return fail(a, -ENAMETOOLONG, "mount point for '%s' is too long", name);
	if ((err = load_refs(d, a, name, &refs)))
		return err;
	if ((err = ensure_mounted(d, a, name, path)))
		goto out;
	if (dp_refs_take(&refs, id, d->boot)) {
		err = fail(a, -ENOMEM, "out of memory");
		goto out;
	}
	if ((err = save_refs(d, a, name, &refs)))
		goto out; /* the next Unmount or restart takes an unreferenced mount down */
	ans = cJSON_CreateObject();
	if (!ans || !cJSON_AddStringToObject(ans, "Mountpoint", path)) {
		cJSON_Delete(ans);
		err = fail(a, -ENOMEM, "out of memory");
		goto out;
	}
	succeed(a, ans);
	dp_debug("mount '%s' id '%s': %lu reference(s)", name, id, dp_refs_total(&refs));
out:
	dp_refs_clear(&refs);
	return err;
}

static int h_unmount(struct dp_driver *d, const cJSON *req, struct answer *a)
{
	struct dp_refs refs = {0};
	const char *name, *id;
	char path[PATH_MAX];
	int err;

	if ((err = get_name(a, req, &name)) || (err = get_id(a, req, &id)))
		return err;
	if (volume_path(d, name, path))
		return 0; /* cannot be mounted */
	err = load_refs(d, a, name, &refs);
	if (err == -ENOENT) {
		a->err = 0; /* Unmount of an unknown volume succeeds */
		return 0;
	}
	if (err)
		return err;
	if (!dp_refs_release(&refs, id))
		dp_debug("unmount '%s': id '%s' holds no reference", name, id);
	if ((err = save_refs(d, a, name, &refs)))
		goto out;
	if (dp_refs_total(&refs) == 0)
		err = release_mount(d, a, name, path);
	dp_debug("unmount '%s' id '%s': %lu reference(s) left", name, id, dp_refs_total(&refs));
out:
	dp_refs_clear(&refs);
	return err;
}

/* ------------------------------------------------------------------ */
/* Remove, Path, Get, List                                            */
/* ------------------------------------------------------------------ */

static int h_remove(struct dp_driver *d, const cJSON *req, struct answer *a)
{
	struct dp_refs refs = {0};
	const char *name;
	char path[PATH_MAX];
	unsigned long n;
	int err;

	if ((err = get_name(a, req, &name)))
		return err;
	if (volume_path(d, name, path))
		return fail(a, -ENAMETOOLONG, "mount point for '%s' is too long", name);
	if ((err = load_refs(d, a, name, &refs)))
		return err;
	n = dp_refs_total(&refs);
	dp_refs_clear(&refs);
	if (n > 0)
		return fail(a, -EBUSY,
			    "volume '%s' is in use: mounted for %lu reference(s); stop the "
			    "containers using it first",
			    name, n);
	if ((err = release_mount(d, a, name, path)))
		return err;
	err = cs_client_volume_delete(d->c, name, 0);
	if (err == -EBUSY)
		return fail_call(d, a, err, "volume is in use");
	if (err == -ENOENT)
		return fail(a, err, "volume '%s' not found", name);
	if (err)
		return fail_call(d, a, err, "cannot remove the volume");
	dp_info("removed volume '%s'", name);
	return 0;
}

/* GET the volume @name into *@vol; -ENOENT says "not found". */
static int get_volume(struct dp_driver *d, struct answer *a, const char *name, cJSON **vol)
{
	int err = cs_client_volume_get(d->c, name, vol);

	if (err == -ENOENT)
		return fail(a, err, "volume '%s' not found", name);
	if (err)
		return fail_call(d, a, err, "cannot look up the volume");
	return 0;
}

static int h_path(struct dp_driver *d, const cJSON *req, struct answer *a)
{
	const char *name;
	char buf[PATH_MAX];
	cJSON *vol = NULL, *ans;
	int err;

	if ((err = get_name(a, req, &name)) || (err = get_volume(d, a, name, &vol)))
		return err;
	ans = cJSON_CreateObject();
	if (!ans || !cJSON_AddStringToObject(ans, "Mountpoint", reported_mountpoint(d, vol, buf)))
		err = fail(a, -ENOMEM, "out of memory");
	else
		succeed(a, ans), ans = NULL;
	cJSON_Delete(ans);
	cJSON_Delete(vol);
	return err;
}

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

/* docker volume inspect shows this verbatim. */
static cJSON *volume_status(struct dp_driver *d, const char *name, const cJSON *vol)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(vol, "props");
	double stored = stat_num(vol, "stored_bytes"), logical = stat_num(vol, "logical_bytes");
	const cJSON *quota = cJSON_GetObjectItemCaseSensitive(vol, "quota");
	const char *origin = prop_str(vol, "origin"), *opts;
	cJSON *st = cJSON_CreateObject(), *refs_json;
	struct dp_refs refs = {0};
	char ratio[32];
	size_t i;

	add_size(st, "used", stat_num(vol, "logical_bytes"));
	cJSON_AddNumberToObject(st, "logical_bytes", stat_num(vol, "logical_bytes"));
	cJSON_AddNumberToObject(st, "stored_bytes", stored);
	snprintf(ratio, sizeof(ratio), "%.2fx", stored > 0 ? logical / stored : 1.0);
	cJSON_AddStringToObject(st, "compression_ratio", ratio);
	cJSON_AddStringToObject(st, "compression", prop_str(vol, "compression") ?: "");
	if (cJSON_IsNumber(quota) && quota->valuedouble > 0)
		add_size(st, "quota", quota->valuedouble);
	else
		cJSON_AddStringToObject(st, "quota", "none");
	cJSON_AddStringToObject(st, "origin", origin ? origin : "");
	cJSON_AddItemToObject(st, "snapshots", snapshot_names(d, name, vol));
	if (!cJSON_IsObject(props) || dp_refs_parse(prop_str(props, DP_REFS_PROP), &refs))
		refs.len = 0;
	dp_refs_drop_other_boots(&refs, d->boot);
	cJSON_AddNumberToObject(st, "mounts", (double)dp_refs_total(&refs));
	refs_json = cJSON_AddObjectToObject(st, "references");
	for (i = 0; refs_json && i < refs.len; i++)
		cJSON_AddNumberToObject(refs_json, refs.v[i].id[0] ? refs.v[i].id : "(no ID)",
					(double)refs.v[i].count);
	dp_refs_clear(&refs);
	opts = prop_str(props, OPTS_PROP);
	cJSON_AddItemToObject(st, "options", opts ? cJSON_Parse(opts) : cJSON_CreateObject());
	return st;
}

/* Get while the daemon fails in some other way than "not found": the
 * volume, with the failure in its Status (an Err would mean "gone"). */
static int degraded_get(struct answer *a, const char *name, cJSON *ans)
{
	cJSON *v = cJSON_AddObjectToObject(ans, "Volume"), *st;

	dp_warn("Get '%s': %s", name, a->msg);
	if (!v || !cJSON_AddStringToObject(v, "Name", name) ||
	    !cJSON_AddStringToObject(v, "Mountpoint", "") ||
	    !(st = cJSON_AddObjectToObject(v, "Status")) ||
	    !cJSON_AddStringToObject(st, "error", a->msg)) {
		cJSON_Delete(ans);
		return -ENOMEM; /* a->err is set already */
	}
	a->err = 0;
	succeed(a, ans);
	return 0;
}

static int h_get(struct dp_driver *d, const cJSON *req, struct answer *a)
{
	const char *name, *created;
	char buf[PATH_MAX];
	cJSON *vol = NULL, *ans = cJSON_CreateObject(), *v;
	int err;

	if ((err = get_name(a, req, &name)))
		goto out;
	err = get_volume(d, a, name, &vol);
	if (err && err != -ENOENT && err != CS_CLIENT_EUNREACHABLE) {
		/* An Err makes dockerd forget the volume: say it exists. */
		err = degraded_get(a, name, ans);
		ans = NULL;
		goto out;
	}
	if (err)
		goto out;
	v = cJSON_AddObjectToObject(ans, "Volume");
	if (!v) {
		err = fail(a, -ENOMEM, "out of memory");
		goto out;
	}
	cJSON_AddStringToObject(v, "Name", name);
	cJSON_AddStringToObject(v, "Mountpoint", reported_mountpoint(d, vol, buf));
	created = prop_str(vol, "created");
	if (created && *created)
		cJSON_AddStringToObject(v, "CreatedAt", created);
	cJSON_AddItemToObject(v, "Status", volume_status(d, name, vol));
	succeed(a, ans);
	ans = NULL;
out:
	cJSON_Delete(ans);
	cJSON_Delete(vol);
	return err;
}

static int h_list(struct dp_driver *d, const cJSON *req, struct answer *a)
{
	cJSON *list = NULL, *ans = cJSON_CreateObject(), *arr, *vol, *e;
	char buf[PATH_MAX];
	const char *name;
	int err = cs_client_volume_list(d->c, &list);

	if (err) {
		fail_call(d, a, err, "cannot list the volumes");
		goto out;
	}
	arr = cJSON_AddArrayToObject(ans, "Volumes");
	cJSON_ArrayForEach(vol, cJSON_GetObjectItemCaseSensitive(list, "volumes"))
	{
		name = prop_str(vol, "name");
		if (!name || !arr || !(e = cJSON_CreateObject()))
			continue;
		cJSON_AddItemToArray(arr, e);
		cJSON_AddStringToObject(e, "Name", name);
		cJSON_AddStringToObject(e, "Mountpoint", reported_mountpoint(d, vol, buf));
	}
	succeed(a, ans);
	ans = NULL;
out:
	cJSON_Delete(ans);
	cJSON_Delete(list);
	return err;
}

static int h_activate(struct dp_driver *d, const cJSON *req, struct answer *a)
{
	cJSON *ans = cJSON_CreateObject(), *impl = cJSON_AddArrayToObject(ans, "Implements");

	if (!impl) {
		cJSON_Delete(ans);
		return fail(a, -ENOMEM, "out of memory");
	}
	cJSON_AddItemToArray(impl, cJSON_CreateString("VolumeDriver"));
	succeed(a, ans);
	return 0;
}

static int h_capabilities(struct dp_driver *d, const cJSON *req, struct answer *a)
{
	cJSON *ans = cJSON_CreateObject(), *caps = cJSON_AddObjectToObject(ans, "Capabilities");

	if (!caps || !cJSON_AddStringToObject(caps, "Scope", "local")) {
		cJSON_Delete(ans);
		return fail(a, -ENOMEM, "out of memory");
	}
	succeed(a, ans);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                           */
/* ------------------------------------------------------------------ */

typedef int (*handler_fn)(struct dp_driver *d, const cJSON *req, struct answer *a);

static const struct {
	const char *endpoint;
	handler_fn fn;
	int needs_daemon;
} handlers[] = {
    {"Plugin.Activate", h_activate, 0},	  {"VolumeDriver.Capabilities", h_capabilities, 0},
    {"VolumeDriver.Create", h_create, 1}, {"VolumeDriver.Remove", h_remove, 1},
    {"VolumeDriver.Mount", h_mount, 1},	  {"VolumeDriver.Unmount", h_unmount, 1},
    {"VolumeDriver.Path", h_path, 1},	  {"VolumeDriver.Get", h_get, 1},
    {"VolumeDriver.List", h_list, 1},
};

static void answer_reset(struct answer *a)
{
	cJSON_Delete(a->json);
	memset(a, 0, sizeof(*a));
}

/* Run handler @i; once more after starting a daemon that had gone away. */
static void run_handler(struct dp_driver *d, size_t i, const cJSON *req, struct answer *a)
{
	int err = handlers[i].fn(d, req, a);

	if (err != CS_CLIENT_EUNREACHABLE || !handlers[i].needs_daemon)
		return;
	dp_warn("%s: the daemon is unreachable; starting it", handlers[i].endpoint);
	if (cs_client_ensure_daemon(d->c)) {
		answer_reset(a);
		fail(a, CS_CLIENT_EUNREACHABLE,
		     "the cstorfs daemon of store %s cannot be started: %s", cs_client_store(d->c),
		     cs_client_errmsg(d->c));
		return;
	}
	answer_reset(a);
	handlers[i].fn(d, req, a);
}

int dp_driver_call(struct dp_driver *d, const char *endpoint, const cJSON *req, cJSON **resp)
{
	struct answer a = {0};
	size_t i;
	int status = 200;

	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (!strcmp(handlers[i].endpoint, endpoint))
			break;
	if (i == sizeof(handlers) / sizeof(handlers[0])) {
		fail(&a, -ENOSYS, "unknown endpoint '/%.200s'", endpoint);
		status = 404;
	} else {
		pthread_mutex_lock(&d->lock);
		run_handler(d, i, req, &a);
		pthread_mutex_unlock(&d->lock);
	}
	if (a.err) {
		cJSON_Delete(a.json);
		a.json = cJSON_CreateObject();
		if (a.json)
			cJSON_AddStringToObject(a.json, "Err", a.msg);
		dp_info("%s: %s", endpoint, a.msg);
		*resp = a.json;
		return status == 200 ? 500 : status;
	}
	*resp = a.json ? a.json : cJSON_CreateObject();
	return status;
}

/* ------------------------------------------------------------------ */
/* Recovery at start                                                  */
/* ------------------------------------------------------------------ */

/* Drop references of earlier boots of @vol; returns its remaining total. */
static unsigned long reconcile_refs(struct dp_driver *d, const cJSON *vol)
{
	const char *name = prop_str(vol, "name");
	struct answer a = {0};
	struct dp_refs refs = {0};
	unsigned long n;
	size_t dropped;

	if (!name ||
	    dp_refs_parse(prop_str(cJSON_GetObjectItemCaseSensitive(vol, "props"), DP_REFS_PROP),
			  &refs))
		return 0;
	dropped = dp_refs_drop_other_boots(&refs, d->boot);
	n = dp_refs_total(&refs);
	if (dropped) {
		dp_info("volume '%s': dropped %zu reference(s) of an earlier boot", name, dropped);
		if (save_refs(d, &a, name, &refs))
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
		const char *n = prop_str(vol, "name");

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
	struct answer a = {0};
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
	if (release_mount(d, &a, name, path))
		dp_warn("%s", a.msg);
}

/* Volumes with references but no live mount get one again. */
static void remount_referenced(struct dp_driver *d, const cJSON *list)
{
	const cJSON *vol;
	char path[PATH_MAX];

	cJSON_ArrayForEach(vol, cJSON_GetObjectItemCaseSensitive(list, "volumes"))
	{
		const char *name = prop_str(vol, "name");
		struct answer a = {0};

		if (!name || reconcile_refs(d, vol) == 0 || volume_path(d, name, path))
			continue;
		if (ensure_mounted(d, &a, name, path))
			dp_warn("volume '%s' has references but cannot be mounted: %s", name,
				a.msg);
	}
}

int dp_driver_recover(struct dp_driver *d)
{
	cJSON *list = NULL;
	char **mps = NULL;
	size_t n = 0, i;
	int err;

	pthread_mutex_lock(&d->lock);
	err = cs_client_ensure_daemon(d->c);
	if (err) {
		dp_err("cannot start the cstorfs daemon of %s: %s", cs_client_store(d->c),
		       cs_client_errmsg(d->c));
		goto out;
	}
	if ((err = root_ready(d)))
		dp_err("cannot create the mount root %s: %s", d->root, strerror(-err));
	err = cs_client_volume_list(d->c, &list);
	if (err) {
		dp_err("cannot list the volumes: %s", cs_client_errmsg(d->c));
		goto out;
	}
	err = dp_mnt_list_under(d->root, &mps, &n);
	if (err)
		dp_err("cannot read /proc/self/mountinfo: %s", strerror(-err));
	for (i = 0; i < n; i++)
		recover_mount(d, list, mps[i]);
	remount_referenced(d, list);
out:
	dp_mnt_list_free(mps, n);
	cJSON_Delete(list);
	pthread_mutex_unlock(&d->lock);
	return err;
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                          */
/* ------------------------------------------------------------------ */

static int read_boot_id(char *buf)
{
	FILE *f = fopen(BOOT_ID_FILE, "re");
	int ok;

	if (!f)
		return -errno;
	ok = fgets(buf, DP_BOOT_ID_LEN + 1, f) != NULL;
	fclose(f);
	if (!ok)
		return -EIO;
	buf[strcspn(buf, "\n")] = '\0';
	return buf[0] ? 0 : -EIO;
}

/* mkdir -p @path (0755). */
static int make_dirs(const char *path)
{
	char buf[PATH_MAX];
	char *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * The canonical form of @want in @out (PATH_MAX) without creating anything:
 * the realpath of its longest existing ancestor, then the components that do
 * not exist yet ("." dropped, ".." taken lexically: nothing below a missing
 * directory can be a symlink). Once the path exists, realpath() gives the
 * same string, so mount points built from it match /proc/self/mountinfo.
 */
static int canonical_path(const char *want, char *out)
{
	char buf[PATH_MAX], rest[PATH_MAX] = "", *slash, *comp, *save = NULL;
	size_t len;

	if (want[0] == '/') {
		if (snprintf(buf, sizeof(buf), "%s", want) >= (int)sizeof(buf))
			return -ENAMETOOLONG;
	} else {
		if (!getcwd(rest, sizeof(rest)))
			return -errno;
		if (snprintf(buf, sizeof(buf), "%s/%s", rest, want) >= (int)sizeof(buf))
			return -ENAMETOOLONG;
		rest[0] = '\0';
	}
	/* Move components from the end of buf to rest until buf exists. */
	while (!realpath(buf, out)) {
		if (errno != ENOENT)
			return -errno;
		slash = strrchr(buf, '/'); /* buf is absolute */
		len = strlen(slash);
		memmove(rest + len, rest, strlen(rest) + 1);
		memcpy(rest, slash, len);
		slash[slash == buf] = '\0';
	}
	for (comp = strtok_r(rest, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		len = strlen(out);
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			slash = strrchr(out, '/');
			if (slash)
				slash[slash == out] = '\0';
			continue;
		}
		if (len + 1 + strlen(comp) >= PATH_MAX)
			return -ENAMETOOLONG;
		snprintf(out + len, PATH_MAX - len, "%s%s", len > 1 ? "/" : "", comp);
	}
	return 0;
}

/*
 * Choose the mount root (default STORE/mounts) but create nothing yet: see
 * root_ready(). The default stays inside the store so that one directory
 * holds everything and earlier installs find their mounts where they were.
 */
static int setup_root(struct dp_driver *d, const char *mount_root)
{
	char *want = NULL, real[PATH_MAX];
	int err;

	if (mount_root)
		want = strdup(mount_root);
	else if (asprintf(&want, "%s/mounts", cs_client_store(d->c)) < 0)
		want = NULL;
	if (!want)
		return -ENOMEM;
	err = canonical_path(want, real);
	free(want);
	if (err)
		return err;
	if (strlen(real) + 1 + NAME_MAX_BYTES >= PATH_MAX)
		return -ENAMETOOLONG;
	d->root = strdup(real);
	return d->root ? 0 : -ENOMEM;
}

/*
 * Create the mount root, once, only after the daemon has answered: by then
 * the store exists. A mount root inside a store directory that does not
 * exist yet (the default, STORE/mounts, on a new machine) would otherwise
 * make the directory hold "other files", and the daemon's --create refuses
 * such a directory: every call would fail.
 */
static int root_ready(struct dp_driver *d)
{
	int err;

	if (d->root_made)
		return 0;
	err = make_dirs(d->root);
	if (err)
		return err;
	d->root_made = 1;
	return 0;
}

int dp_driver_new(const char *store_dir, const char *mount_root, struct dp_driver **out)
{
	struct dp_driver *d = calloc(1, sizeof(*d));
	char *store = NULL;
	int err;

	*out = NULL;
	if (!d)
		return -ENOMEM;
	pthread_mutex_init(&d->lock, NULL);
	if ((err = read_boot_id(d->boot)))
		goto fail;
	store = cs_client_store_dir(store_dir);
	if (!store) {
		err = -errno ? -errno : -ENOMEM;
		goto fail;
	}
	if ((err = cs_client_new(store, &d->c)) || (err = setup_root(d, mount_root)))
		goto fail;
	free(store);
	*out = d;
	return 0;
fail:
	free(store);
	dp_driver_free(d);
	return err;
}

void dp_driver_free(struct dp_driver *d)
{
	if (!d)
		return;
	cs_client_free(d->c);
	free(d->root);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

const char *dp_driver_store(const struct dp_driver *d)
{
	return cs_client_store(d->c);
}

const char *dp_driver_mount_root(const struct dp_driver *d)
{
	return d->root;
}
