/*
 * cs_api.c - the control API server (see cs_api.h and docs/interfaces.md).
 *
 * Requests: libmicrohttpd calls handle_request() several times per
 * request: first with the headers (the peer's credentials are checked
 * then, and a Content-Length over 1 MiB is refused at once), then with
 * pieces of the body (gathered in struct req, at most CS_BODY_MAX bytes),
 * then once more to answer. Every input is validated here, once: names
 * (cs_name_check), sizes, JSON types, unknown fields. Errors are answered
 * as {"error": {"code": "ENOENT", "errno": 2, "message": "..."}}.
 *
 * Sessions: the table `api->mounts` lists one struct mount per FUSE
 * session. An entry is in one of three states:
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
 * Lock order: api->lock is a leaf (only cs_log's lock is taken under it,
 * through logging). Never held across a store, session or MHD call.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "cs_api.h"
#include "cs_log.h"
#include "cs_session.h"
#include "cs_store.h"

#define CS_BODY_MAX (1024u * 1024u) /* request bodies over this: 413 */
#define CS_CONN_TIMEOUT 300	    /* idle connection timeout, seconds */

enum mount_state { MOUNT_STARTING, MOUNT_LIVE, MOUNT_ENDED };

struct mount {
	struct mount *next;
	struct cs_api *api;
	struct cs_session *s; /* NULL while STARTING */
	char *volume;
	char *mountpoint; /* canonical absolute path */
	char *options;	  /* effective options, e.g. "ro,allow_other" */
	int readonly;
	enum mount_state state;
};

struct cs_api {
	cs_store *st;
	struct MHD_Daemon *mhd;
	int listen_fd;
	int stop_fd;
	time_t started;

	pthread_mutex_t lock; /* leaf; protects mounts, quit, reap_wanted */
	pthread_cond_t cond;  /* signalled when a session ended or on quit */
	struct mount *mounts;
	int quit;
	int reap_wanted;
	pthread_t reaper;
	int reaper_running;
};

/* Per-request state (MHD's con_cls). */
struct req {
	char *body;
	size_t len;
	int too_large;
	int checked;	/* peer credentials checked */
	int stop_after; /* POST /v1/daemon/stop answered */
	uid_t uid;
	gid_t gid;
};

/* An answer under construction. */
struct reply {
	unsigned status;
	cJSON *json; /* owned; NULL on error */
};

/* ------------------------------------------------------------------ */
/* Errors and answers                                                 */
/* ------------------------------------------------------------------ */

static unsigned errno_status(int err)
{
	switch (err) {
	case EINVAL:
	case ENAMETOOLONG:
		return 400;
	case EACCES:
	case EPERM:
		return 403;
	case ENOENT:
		return 404;
	case EEXIST:
	case EBUSY:
	case ENOTEMPTY:
		return 409;
	case E2BIG:
		return 413;
	case EDQUOT:
	case ENOSPC:
		return 507;
	default:
		return 500;
	}
}

static cJSON *error_json(int err, const char *msg)
{
	const char *code = strerrorname_np(err);
	cJSON *root = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(root, "error");

	cJSON_AddStringToObject(e, "code", code ? code : "EIO");
	cJSON_AddNumberToObject(e, "errno", err);
	cJSON_AddStringToObject(e, "message", msg);
	return root;
}

/* Set @r to an error (@err a positive or negative errno). */
static int fail(struct reply *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct reply *r, int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (err < 0)
		err = -err;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON_Delete(r->json);
	r->status = errno_status(err);
	r->json = error_json(err, msg);
	return -err;
}

/* An error from the store: its own message when it left one. */
static int fail_store(struct reply *r, int err, const char *what)
{
	const char *m = cs_last_error();

	if (m && *m)
		return fail(r, err, "%s", m);
	return fail(r, err, "%s: %s", what, strerror(err < 0 ? -err : err));
}

static void ok(struct reply *r, unsigned status, cJSON *json)
{
	cJSON_Delete(r->json);
	r->status = status;
	r->json = json ? json : cJSON_CreateObject();
}

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, const cJSON *json)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text = json ? cJSON_PrintUnformatted(json) : NULL;
	char *buf = NULL;
	int n;

	n = asprintf(&buf, "%s\n", text ? text : "{}");
	free(text);
	if (n < 0)
		return MHD_NO;
	resp = MHD_create_response_from_buffer((size_t)n, buf, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, int err, unsigned status,
				  const char *msg)
{
	cJSON *j = error_json(err, msg);
	enum MHD_Result ret = send_json(conn, status, j);

	cJSON_Delete(j);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Input validation                                                   */
/* ------------------------------------------------------------------ */

/* Check that @obj is a JSON object whose members are all in @allowed
 * (NULL-terminated). */
static int check_fields(struct reply *r, const cJSON *obj, const char *const *allowed)
{
	char unknown[512] = "";
	const cJSON *it;
	size_t used = 0;
	int bad = 0;

	if (!cJSON_IsObject(obj))
		return fail(r, EINVAL, "request body must be a JSON object");
	cJSON_ArrayForEach(it, obj)
	{
		const char *const *a;
		int found = 0;

		for (a = allowed; *a; a++)
			if (it->string && !strcmp(it->string, *a))
				found = 1;
		if (found)
			continue;
		bad++;
		if (used < sizeof(unknown) - 1)
			used +=
			    (size_t)snprintf(unknown + used, sizeof(unknown) - used, "%s'%.64s'",
					     bad > 1 ? ", " : "", it->string ? it->string : "");
	}
	if (bad)
		return fail(r, EINVAL, "unknown field%s: %s", bad > 1 ? "s" : "", unknown);
	return 0;
}

/* Non-zero when the JSON text holds a NUL byte or a \u0000 escape (cJSON
 * would cut the string there: "a\u0000b" must not become "a"). */
static int has_nul(const char *s, size_t len)
{
	size_t i, bs = 0;

	if (memchr(s, '\0', len))
		return 1;
	for (i = 0; i < len; i++) {
		if (s[i] == '\\') {
			bs++;
			continue;
		}
		if (s[i] == 'u' && (bs & 1) && i + 4 < len && !strncmp(s + i + 1, "0000", 4))
			return 1;
		bs = 0;
	}
	return 0;
}

static int parse_body(struct reply *r, const struct req *q, cJSON **out)
{
	*out = NULL;
	if (!q->body || q->len == 0)
		return fail(r, EINVAL, "request body missing (JSON object expected)");
	if (has_nul(q->body, q->len))
		return fail(r, EINVAL, "strings must not contain NUL characters");
	*out = cJSON_ParseWithLength(q->body, q->len);
	if (!*out)
		return fail(r, EINVAL, "malformed JSON");
	return 0;
}

static int check_name(struct reply *r, const char *what, const char *name)
{
	int err = cs_name_check(name);

	if (err == -ENAMETOOLONG)
		return fail(r, err, "%s is longer than %u bytes", what, CS_NAME_MAX);
	if (err)
		return fail(r, err, "invalid %s '%.255s': 1-255 bytes, no '/', not '.' or '..'",
			    what, name);
	return 0;
}

/* A string member, when present, must be a string. */
static int get_string(struct reply *r, const cJSON *obj, const char *key, int required,
		      const char **out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	*out = NULL;
	if (!it) {
		if (required)
			return fail(r, EINVAL, "field '%s' is required", key);
		return 0;
	}
	if (!cJSON_IsString(it))
		return fail(r, EINVAL, "field '%s' must be a string", key);
	*out = it->valuestring;
	return 0;
}

static int parse_compression(struct reply *r, const char *s, int *level)
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
	return fail(r, EINVAL, "invalid compression '%.64s': \"none\" or \"zstd:N\" with N 1..19",
		    s);
}

static int get_quota(struct reply *r, const cJSON *obj, int *present, uint64_t *quota)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, "quota");
	double v;

	*present = 0;
	if (!it)
		return 0;
	if (!cJSON_IsNumber(it))
		return fail(r, EINVAL, "field 'quota' must be a number of bytes");
	v = it->valuedouble;
	if (v < 0 || v != (double)(uint64_t)v || v > 18446744073709549568.0)
		return fail(r, EINVAL, "field 'quota' must be a non-negative integer (bytes)");
	*quota = (uint64_t)v;
	*present = 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The session table                                                  */
/* ------------------------------------------------------------------ */

static void mount_free(struct mount *m)
{
	if (!m)
		return;
	free(m->volume);
	free(m->mountpoint);
	free(m->options);
	free(m);
}

/* on_end: runs on the session's own thread; never frees anything. */
static void mount_on_end(struct cs_session *s, void *ctx)
{
	struct mount *m = ctx;
	struct cs_api *api = m->api;

	pthread_mutex_lock(&api->lock);
	m->state = MOUNT_ENDED;
	api->reap_wanted = 1;
	pthread_cond_broadcast(&api->cond);
	pthread_mutex_unlock(&api->lock);
}

/* Unlink from the table every entry that @pick selects; returns them as
 * a list. Called with api->lock held. */
static struct mount *take_mounts(struct cs_api *api,
				 int (*pick)(const struct mount *, const void *), const void *arg)
{
	struct mount **pp = &api->mounts, *taken = NULL, *m;

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

/* Free the sessions of a list taken from the table (lock not held). */
static void free_taken(struct cs_api *api, struct mount *list, const char *why)
{
	struct mount *m;
	int ended;

	while ((m = list)) {
		list = m->next;
		pthread_mutex_lock(&api->lock);
		ended = m->state == MOUNT_ENDED;
		pthread_mutex_unlock(&api->lock);
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

static int pick_volume(const struct mount *m, const void *arg)
{
	return !strcmp(m->volume, (const char *)arg);
}

static void reap_ended(struct cs_api *api)
{
	struct mount *list;

	pthread_mutex_lock(&api->lock);
	api->reap_wanted = 0;
	list = take_mounts(api, pick_ended, NULL);
	pthread_mutex_unlock(&api->lock);
	free_taken(api, list, "ended");
}

static void *reaper_main(void *arg)
{
	struct cs_api *api = arg;

	pthread_mutex_lock(&api->lock);
	while (!api->quit) {
		if (!api->reap_wanted) {
			pthread_cond_wait(&api->cond, &api->lock);
			continue;
		}
		pthread_mutex_unlock(&api->lock);
		reap_ended(api);
		pthread_mutex_lock(&api->lock);
	}
	pthread_mutex_unlock(&api->lock);
	return NULL;
}

static cJSON *mount_json(const struct mount *m)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "volume", m->volume);
	cJSON_AddStringToObject(o, "mountpoint", m->mountpoint);
	cJSON_AddBoolToObject(o, "readonly", m->readonly);
	cJSON_AddStringToObject(o, "options", m->options);
	return o;
}

/* The live mounts as a JSON array. */
static cJSON *mounts_json(struct cs_api *api)
{
	cJSON *arr = cJSON_CreateArray();
	const struct mount *m;

	pthread_mutex_lock(&api->lock);
	for (m = api->mounts; m; m = m->next)
		if (m->state == MOUNT_LIVE)
			cJSON_AddItemToArray(arr, mount_json(m));
	pthread_mutex_unlock(&api->lock);
	return arr;
}

/* Count the entries of @volume that are live or starting; with @rw only
 * read-write ones. When @where is not NULL, copy one mount point there. */
static int volume_mount_count(struct cs_api *api, const char *volume, int rw, char *where,
			      size_t wlen)
{
	const struct mount *m;
	int n = 0;

	pthread_mutex_lock(&api->lock);
	for (m = api->mounts; m; m = m->next) {
		if (m->state == MOUNT_ENDED || strcmp(m->volume, volume))
			continue;
		if (rw && m->readonly)
			continue;
		if (where && n == 0)
			snprintf(where, wlen, "%s", m->mountpoint);
		n++;
	}
	pthread_mutex_unlock(&api->lock);
	return n;
}

/* ------------------------------------------------------------------ */
/* Volumes                                                            */
/* ------------------------------------------------------------------ */

static void format_time(int64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static cJSON *volume_json(struct cs_api *api, const struct cs_volume_info *v)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *mps = cJSON_CreateArray();
	cJSON *stats;
	const struct mount *m;
	char uuid[40], when[40], comp[16];

	cs_uuid_format(v->uuid, uuid);
	format_time(v->ctime_ns, when, sizeof(when));
	if (v->compression > 0)
		snprintf(comp, sizeof(comp), "zstd:%d", v->compression);
	else
		snprintf(comp, sizeof(comp), "none");

	cJSON_AddStringToObject(o, "name", v->name);
	cJSON_AddStringToObject(o, "uuid", uuid);
	cJSON_AddNumberToObject(o, "id", (double)v->id);
	cJSON_AddStringToObject(o, "created", when);
	cJSON_AddStringToObject(o, "compression", comp);
	cJSON_AddNumberToObject(o, "quota", (double)v->quota);
	cJSON_AddNumberToObject(o, "epoch", (double)v->epoch);

	pthread_mutex_lock(&api->lock);
	for (m = api->mounts; m; m = m->next)
		if (m->state == MOUNT_LIVE && !strcmp(m->volume, v->name))
			cJSON_AddItemToArray(mps, cJSON_CreateString(m->mountpoint));
	pthread_mutex_unlock(&api->lock);
	cJSON_AddBoolToObject(o, "mounted", cJSON_GetArraySize(mps) > 0);
	cJSON_AddItemToObject(o, "mounts", mps);

	stats = cJSON_AddObjectToObject(o, "stats");
	cJSON_AddNumberToObject(stats, "inodes", (double)v->stats.inodes);
	cJSON_AddNumberToObject(stats, "logical_bytes", (double)v->stats.logical_bytes);
	cJSON_AddNumberToObject(stats, "apparent_bytes", (double)v->stats.apparent_bytes);
	cJSON_AddNumberToObject(stats, "stored_bytes", (double)v->stats.stored_bytes);
	cJSON_AddNumberToObject(stats, "raw_bytes", (double)v->stats.raw_bytes);
	cJSON_AddNumberToObject(stats, "chunk_refs", (double)v->stats.chunk_refs);
	return o;
}

static int volume_answer(struct cs_api *api, struct reply *r, unsigned status, const char *name)
{
	struct cs_volume_info info;
	int err = cs_volume_get(api->st, name, &info);

	if (err)
		return fail_store(r, err, name);
	ok(r, status, volume_json(api, &info));
	return 0;
}

static int volumes_list(struct cs_api *api, struct reply *r)
{
	struct cs_volume_info *v = NULL;
	cJSON *root, *arr;
	size_t n = 0, i;
	int err;

	err = cs_volume_list(api->st, &v, &n);
	if (err)
		return fail_store(r, err, "listing volumes");
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "volumes");
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, volume_json(api, &v[i]));
	free(v);
	ok(r, 200, root);
	return 0;
}

static int volume_create(struct cs_api *api, struct req *q, struct reply *r)
{
	static const char *const fields[] = {"name", "compression", "quota", NULL};
	struct cs_volume_opts opts = {.compression = -1, .quota = 0};
	const char *name, *comp;
	cJSON *body = NULL;
	int err, has_quota;

	if ((err = parse_body(r, q, &body)) || (err = check_fields(r, body, fields)) ||
	    (err = get_string(r, body, "name", 1, &name)) ||
	    (err = check_name(r, "volume name", name)) ||
	    (err = get_string(r, body, "compression", 0, &comp)) ||
	    (comp && (err = parse_compression(r, comp, &opts.compression))) ||
	    (err = get_quota(r, body, &has_quota, &opts.quota)))
		goto out;
	err = cs_volume_create(api->st, name, &opts, q->uid, q->gid, NULL);
	if (err == -EEXIST) {
		fail(r, err, "volume '%s' already exists", name);
		goto out;
	}
	if (err) {
		fail_store(r, err, name);
		goto out;
	}
	cs_info("created volume '%s'", name);
	err = volume_answer(api, r, 201, name);
out:
	cJSON_Delete(body);
	return err;
}

static int volume_get(struct cs_api *api, const char *name, struct reply *r)
{
	int err = check_name(r, "volume name", name);

	if (err)
		return err;
	err = volume_answer(api, r, 200, name);
	if (err == -ENOENT)
		fail(r, err, "volume '%s' does not exist", name);
	return err;
}

static int volume_patch(struct cs_api *api, const char *name, struct req *q, struct reply *r)
{
	static const char *const fields[] = {"name", "compression", "quota", NULL};
	struct cs_volume_info info;
	struct cs_volume_opts opts;
	const char *to = NULL, *comp = NULL;
	char where[PATH_MAX];
	cJSON *body = NULL;
	int err, has_quota = 0;
	uint64_t quota = 0;

	if ((err = check_name(r, "volume name", name)) || (err = parse_body(r, q, &body)) ||
	    (err = check_fields(r, body, fields)) || (err = get_string(r, body, "name", 0, &to)) ||
	    (to && (err = check_name(r, "new volume name", to))) ||
	    (err = get_string(r, body, "compression", 0, &comp)) ||
	    (err = get_quota(r, body, &has_quota, &quota)))
		goto out;
	err = cs_volume_get(api->st, name, &info);
	if (err) {
		if (err == -ENOENT)
			fail(r, err, "volume '%s' does not exist", name);
		else
			fail_store(r, err, name);
		goto out;
	}
	opts.compression = info.compression;
	opts.quota = info.quota;
	if (comp && (err = parse_compression(r, comp, &opts.compression)))
		goto out;
	if (has_quota)
		opts.quota = quota;
	if (to && strcmp(to, name)) {
		if (volume_mount_count(api, name, 0, where, sizeof(where))) {
			err = fail(r, EBUSY, "volume '%s' is mounted at %s", name, where);
			goto out;
		}
		err = cs_volume_rename(api->st, name, to);
		if (err == -EEXIST)
			fail(r, err, "volume '%s' already exists", to);
		else if (err)
			fail_store(r, err, name);
		if (err)
			goto out;
		cs_info("renamed volume '%s' to '%s'", name, to);
		name = to;
	}
	if (comp || has_quota) {
		err = cs_volume_set_opts(api->st, name, &opts);
		if (err) {
			fail_store(r, err, name);
			goto out;
		}
	}
	err = volume_answer(api, r, 200, name);
out:
	cJSON_Delete(body);
	return err;
}

static int volume_delete(struct cs_api *api, const char *name, int force, struct reply *r)
{
	struct mount *list;
	char where[PATH_MAX];
	int err = check_name(r, "volume name", name);

	if (err)
		return err;
	reap_ended(api);
	if (volume_mount_count(api, name, 0, where, sizeof(where))) {
		if (!force)
			return fail(r, EBUSY,
				    "volume '%s' is mounted at %s (unmount it or use force)", name,
				    where);
		pthread_mutex_lock(&api->lock);
		list = take_mounts(api, pick_volume, name);
		pthread_mutex_unlock(&api->lock);
		free_taken(api, list, "volume removed");
		if (volume_mount_count(api, name, 0, where, sizeof(where)))
			return fail(r, EBUSY, "volume '%s' is being mounted at %s", name, where);
	}
	err = cs_volume_delete(api->st, name);
	if (err == -ENOENT)
		return fail(r, err, "volume '%s' does not exist", name);
	if (err)
		return fail_store(r, err, name);
	cs_info("removed volume '%s'", name);
	ok(r, 200, NULL);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Mounts                                                             */
/* ------------------------------------------------------------------ */

static const char *const ignored_opts[] = {"dev",
					   "nodev",
					   "suid",
					   "nosuid",
					   "exec",
					   "noexec",
					   "atime",
					   "noatime",
					   "relatime",
					   "async",
					   "auto",
					   "noauto",
					   "user",
					   "nouser",
					   "_netdev",
					   "nofail",
					   "default_permissions",
					   NULL};

struct mount_opts {
	int readonly, allow_other, allow_root;
	char effective[64];
};

static int parse_mount_options(struct reply *r, const char *s, struct mount_opts *mo)
{
	char *copy = strdup(s ? s : ""), *tok, *save = NULL;
	int err = 0;

	memset(mo, 0, sizeof(*mo));
	if (!copy)
		return fail(r, ENOMEM, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const char *const *ig;
		int known = 0;

		if (!strcmp(tok, "ro")) {
			mo->readonly = 1;
			continue;
		}
		if (!strcmp(tok, "rw")) {
			mo->readonly = 0;
			continue;
		}
		if (!strcmp(tok, "allow_other")) {
			mo->allow_other = 1;
			continue;
		}
		if (!strcmp(tok, "allow_root")) {
			mo->allow_root = 1;
			continue;
		}
		for (ig = ignored_opts; *ig; ig++)
			if (!strcmp(tok, *ig))
				known = 1;
		if (!known) {
			err = fail(r, EINVAL, "unknown mount option '%.64s'", tok);
			goto out;
		}
	}
	if (mo->allow_other && mo->allow_root) {
		err =
		    fail(r, EINVAL, "mount options allow_other and allow_root exclude each other");
		goto out;
	}
	snprintf(mo->effective, sizeof(mo->effective), "%s%s%s", mo->readonly ? "ro" : "rw",
		 mo->allow_other ? ",allow_other" : "", mo->allow_root ? ",allow_root" : "");
out:
	free(copy);
	return err;
}

/* Insert a STARTING entry for @mp unless the mount point is taken or a
 * read-write mount of the volume conflicts. */
static int mount_reserve(struct cs_api *api, struct mount *nm, struct reply *r)
{
	struct mount *m;
	int err = 0;

	pthread_mutex_lock(&api->lock);
	for (m = api->mounts; m; m = m->next) {
		if (m->state == MOUNT_ENDED)
			continue;
		if (!strcmp(m->mountpoint, nm->mountpoint)) {
			err = fail(r, EBUSY, "%s is already a mount point of volume '%s'",
				   nm->mountpoint, m->volume);
			break;
		}
		if (!strcmp(m->volume, nm->volume) && !nm->readonly && !m->readonly) {
			err = fail(r, EBUSY, "volume '%s' is already mounted read-write at %s",
				   nm->volume, m->mountpoint);
			break;
		}
	}
	if (!err) {
		struct mount **pp = &api->mounts;

		while (*pp)
			pp = &(*pp)->next;
		nm->state = MOUNT_STARTING;
		nm->next = NULL;
		*pp = nm;
	}
	pthread_mutex_unlock(&api->lock);
	return err;
}

static void mount_unreserve(struct cs_api *api, struct mount *nm)
{
	struct mount **pp;

	pthread_mutex_lock(&api->lock);
	for (pp = &api->mounts; *pp; pp = &(*pp)->next) {
		if (*pp == nm) {
			*pp = nm->next;
			break;
		}
	}
	pthread_mutex_unlock(&api->lock);
}

/* Decode mountinfo's octal escapes (\040 for a space, ...) in place. */
static void mountinfo_unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
}

/* Non-zero when a cstorfs FUSE mount sits at @mp. */
static int is_cstorfs_mount(const char *mp)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char *line = NULL, field[PATH_MAX], *sep;
	size_t cap = 0;
	int found = 0;

	if (!f)
		return 0;
	while (!found && getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%*s %*s %*s %*s %4095s", field) != 1)
			continue;
		mountinfo_unescape(field);
		sep = strstr(line, " - ");
		found = !strcmp(field, mp) && sep && !strncmp(sep + 3, "fuse.cstorfs ", 13);
	}
	free(line);
	fclose(f);
	return found;
}

/*
 * A daemon killed with SIGKILL leaves its FUSE mounts behind, answering
 * ENOTCONN. Detach such a mount at @mp (only a cstorfs one) so that the
 * mount point can be used again: umount2(MNT_DETACH) as root, else
 * fusermount3 -u -z. Returns 0 when it was detached.
 */
static int clear_dead_mount(const char *mp)
{
	pid_t pid;
	int status;

	if (!is_cstorfs_mount(mp))
		return -ENOENT;
	if (umount2(mp, MNT_DETACH) == 0)
		goto done;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", "-z", mp, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -EIO;
done:
	cs_warn("detached the dead cstorfs mount at %s (left by a killed daemon)", mp);
	return 0;
}

/* Canonicalise the mount point @mp into @real (PATH_MAX), detaching a
 * dead cstorfs mount found there. */
static int resolve_mountpoint(const char *mp, char *real)
{
	struct statfs sf;

	if (!realpath(mp, real)) {
		if (errno != ENOTCONN)
			return -errno;
		if (clear_dead_mount(mp) || !realpath(mp, real))
			return -ENOTCONN;
	}
	/* Cached attributes may hide a dead mount from stat(); statfs asks. */
	if (statfs(real, &sf) < 0 && errno == ENOTCONN && clear_dead_mount(real))
		return -ENOTCONN;
	return 0;
}

static int mount_error(struct reply *r, int err, const char *volume, const char *mp)
{
	const char *m = cs_last_error();

	switch (-err) {
	case ENOENT:
		return fail(r, err, "mount point %s does not exist", mp);
	case ENOTDIR:
		return fail(r, err, "mount point %s is not a directory", mp);
	case ENOTEMPTY:
		return fail(r, err, "mount point %s is not empty", mp);
	case EBUSY:
		return fail(r, err, "volume '%s' is already open read-write", volume);
	case ENOTCONN:
		return fail(
		    r, err,
		    "mount point %s is a dead FUSE mount; unmount it first (fusermount3 -u %s)", mp,
		    mp);
	default:
		if (m && *m)
			return fail(r, err, "cannot mount volume '%s' at %s: %s", volume, mp, m);
		return fail(r, err, "cannot mount volume '%s' at %s: %s", volume, mp,
			    strerror(-err));
	}
}

static int mount_create(struct cs_api *api, struct req *q, struct reply *r)
{
	static const char *const fields[] = {"volume", "mountpoint", "options", NULL};
	struct cs_session_opts so = {0};
	struct cs_volume_info info;
	struct mount_opts mo;
	struct mount *nm = NULL;
	const char *volume, *mp, *options;
	char real[PATH_MAX];
	char *fsname = NULL;
	cJSON *body = NULL;
	int err;

	if ((err = parse_body(r, q, &body)) || (err = check_fields(r, body, fields)) ||
	    (err = get_string(r, body, "volume", 1, &volume)) ||
	    (err = check_name(r, "volume name", volume)) ||
	    (err = get_string(r, body, "mountpoint", 1, &mp)) ||
	    (err = get_string(r, body, "options", 0, &options)) ||
	    (err = parse_mount_options(r, options, &mo)))
		goto out;
	if (mp[0] != '/') {
		err = fail(r, EINVAL, "mount point '%.1024s' is not an absolute path", mp);
		goto out;
	}
	if ((err = resolve_mountpoint(mp, real))) {
		mount_error(r, err, volume, mp);
		goto out;
	}
	err = cs_volume_get(api->st, volume, &info);
	if (err) {
		if (err == -ENOENT)
			fail(r, err, "volume '%s' does not exist", volume);
		else
			fail_store(r, err, volume);
		goto out;
	}
	reap_ended(api);
	nm = calloc(1, sizeof(*nm));
	if (!nm || !(nm->volume = strdup(volume)) || !(nm->mountpoint = strdup(real)) ||
	    !(nm->options = strdup(mo.effective)) ||
	    asprintf(&fsname, "%s:%s", cs_store_path(api->st), volume) < 0) {
		fsname = NULL;
		err = fail(r, ENOMEM, "out of memory");
		goto out;
	}
	nm->api = api;
	nm->readonly = mo.readonly;
	if ((err = mount_reserve(api, nm, r)))
		goto out;

	so.readonly = mo.readonly;
	so.allow_other = mo.allow_other;
	so.allow_root = mo.allow_root;
	so.fsname = fsname;
	err = cs_session_start(api->st, volume, real, &so, mount_on_end, nm, &nm->s);
	if (err) {
		mount_unreserve(api, nm);
		mount_error(r, err, volume, real);
		cs_err("cannot mount volume '%s' at %s: %s", volume, real, strerror(-err));
		goto out;
	}
	pthread_mutex_lock(&api->lock);
	if (nm->state == MOUNT_STARTING)
		nm->state = MOUNT_LIVE;
	else
		api->reap_wanted = 1; /* ended already: let the reaper have it */
	pthread_cond_broadcast(&api->cond);
	ok(r, 201, mount_json(nm));
	pthread_mutex_unlock(&api->lock);
	cs_info("mounted volume '%s' at %s (%s)", volume, real, mo.effective);
	nm = NULL; /* owned by the table */
out:
	mount_free(nm);
	free(fsname);
	cJSON_Delete(body);
	return err;
}

static int pick_mountpoint(const struct mount *m, const void *arg)
{
	return m->state == MOUNT_LIVE && !strcmp(m->mountpoint, arg);
}

static int mount_delete(struct cs_api *api, struct MHD_Connection *conn, struct reply *r)
{
	const char *mp = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "mountpoint");
	char real[PATH_MAX];
	struct mount *list;

	if (!mp || !*mp)
		return fail(r, EINVAL, "query parameter 'mountpoint' is required");
	if (mp[0] != '/')
		return fail(r, EINVAL, "mount point '%.1024s' is not an absolute path", mp);
	reap_ended(api);
	pthread_mutex_lock(&api->lock);
	list = take_mounts(api, pick_mountpoint, mp);
	pthread_mutex_unlock(&api->lock);
	if (!list && realpath(mp, real)) {
		pthread_mutex_lock(&api->lock);
		list = take_mounts(api, pick_mountpoint, real);
		pthread_mutex_unlock(&api->lock);
	}
	if (!list)
		return fail(r, ENOENT, "nothing is mounted at %s", mp);
	free_taken(api, list, "unmount requested");
	ok(r, 200, NULL);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Status                                                             */
/* ------------------------------------------------------------------ */

static int status_get(struct cs_api *api, struct reply *r)
{
	struct cs_store_stats s;
	cJSON *o, *so;
	int err;

	err = cs_store_stats(api->st, &s);
	if (err)
		return fail_store(r, err, "store statistics");
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "pid", getpid());
	cJSON_AddStringToObject(o, "store", cs_store_path(api->st));
	cJSON_AddStringToObject(o, "version", CS_VERSION);
	cJSON_AddNumberToObject(o, "uptime_s", (double)(time(NULL) - api->started));
	cJSON_AddItemToObject(o, "mounts", mounts_json(api));
	so = cJSON_AddObjectToObject(o, "stats");
	cJSON_AddNumberToObject(so, "volumes", (double)s.volumes);
	cJSON_AddNumberToObject(so, "chunks", (double)s.chunks);
	cJSON_AddNumberToObject(so, "chunk_refs", (double)s.chunk_refs);
	cJSON_AddNumberToObject(so, "raw_bytes", (double)s.raw_bytes);
	cJSON_AddNumberToObject(so, "stored_bytes", (double)s.stored_bytes);
	cJSON_AddNumberToObject(so, "logical_bytes", (double)s.logical_bytes);
	cJSON_AddNumberToObject(so, "inodes", (double)s.inodes);
	ok(r, 200, o);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Routing                                                            */
/* ------------------------------------------------------------------ */

static int method_not_allowed(struct reply *r, const char *method, const char *url)
{
	fail(r, EINVAL, "method %.16s not allowed on %.256s", method, url);
	r->status = 405;
	return -EINVAL;
}

static void route(struct cs_api *api, struct MHD_Connection *conn, const char *url,
		  const char *method, struct req *q, struct reply *r)
{
	const char *name;
	const char *force;

	if (!strcmp(url, "/v1/status")) {
		if (strcmp(method, "GET"))
			method_not_allowed(r, method, url);
		else
			status_get(api, r);
	} else if (!strcmp(url, "/v1/volumes") || !strcmp(url, "/v1/volumes/")) {
		if (!strcmp(method, "GET"))
			volumes_list(api, r);
		else if (!strcmp(method, "POST"))
			volume_create(api, q, r);
		else
			method_not_allowed(r, method, url);
	} else if (!strncmp(url, "/v1/volumes/", 12)) {
		name = url + 12;
		if (!strcmp(method, "GET")) {
			volume_get(api, name, r);
		} else if (!strcmp(method, "PATCH")) {
			volume_patch(api, name, q, r);
		} else if (!strcmp(method, "DELETE")) {
			force = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "force");
			volume_delete(api, name,
				      force && (!strcmp(force, "1") || !strcmp(force, "true")), r);
		} else {
			method_not_allowed(r, method, url);
		}
	} else if (!strcmp(url, "/v1/mounts")) {
		if (!strcmp(method, "GET")) {
			cJSON *o = cJSON_CreateObject();

			reap_ended(api);
			cJSON_AddItemToObject(o, "mounts", mounts_json(api));
			ok(r, 200, o);
		} else if (!strcmp(method, "POST")) {
			mount_create(api, q, r);
		} else if (!strcmp(method, "DELETE")) {
			mount_delete(api, conn, r);
		} else {
			method_not_allowed(r, method, url);
		}
	} else if (!strcmp(url, "/v1/daemon/stop")) {
		if (strcmp(method, "POST")) {
			method_not_allowed(r, method, url);
		} else {
			cs_info("stop requested through the control API");
			q->stop_after = 1;
			ok(r, 200, NULL);
		}
	} else {
		fail(r, ENOENT, "no such resource: %.256s", url);
	}
}

/* Check the peer's credentials: root or the daemon's own user. */
static int peer_allowed(struct MHD_Connection *conn, struct req *q)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return 0;
	q->uid = cred.uid;
	q->gid = cred.gid;
	return cred.uid == 0 || cred.uid == geteuid();
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **con_cls)
{
	struct cs_api *api = cls;
	struct req *q = *con_cls;
	struct reply r = {0};
	enum MHD_Result ret;
	const char *clen;

	if (!q) {
		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		*con_cls = q;
		if (!peer_allowed(conn, q)) {
			cs_warn("refused a control API request from uid %u", (unsigned)q->uid);
			return send_error(conn, EACCES, 403,
					  "permission denied: only root or the daemon's user may "
					  "use this socket");
		}
		clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						   MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clen && strtoull(clen, NULL, 10) > CS_BODY_MAX)
			return send_error(conn, E2BIG, 413, "request body larger than 1 MiB");
		q->checked = 1;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (q->too_large || q->len + n > CS_BODY_MAX) {
			q->too_large = 1;
			free(q->body);
			q->body = NULL;
			q->len = 0;
			return MHD_YES;
		}
		char *p = realloc(q->body, q->len + n + 1);
		if (!p)
			return MHD_NO;
		q->body = p;
		memcpy(q->body + q->len, upload_data, n);
		q->len += n;
		q->body[q->len] = '\0';
		return MHD_YES;
	}
	if (q->too_large)
		return send_error(conn, E2BIG, 413, "request body larger than 1 MiB");

	route(api, conn, url, method, q, &r);
	if (r.status >= 500)
		cs_err("%s %s: %s", method, url,
		       cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "error"), "message")
			   ->valuestring);
	else if (r.status >= 400)
		cs_debug("%s %s: answered %u", method, url, r.status);
	ret = send_json(conn, r.status ? r.status : 500, r.json);
	cJSON_Delete(r.json);
	return ret;
}

static void request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct cs_api *api = cls;
	struct req *q = *con_cls;
	char one = 1;

	if (!q)
		return;
	if (q->stop_after && api->stop_fd >= 0) {
		if (write(api->stop_fd, &one, 1) < 0)
			cs_err("cannot signal the main thread to stop: %s", strerror(errno));
	}
	free(q->body);
	free(q);
	*con_cls = NULL;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	cs_warn("http: %s", msg);
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                          */
/* ------------------------------------------------------------------ */

int cs_api_start(cs_store *st, int listen_fd, int stop_fd, struct cs_api **out)
{
	struct cs_api *api;
	int err;

	*out = NULL;
	api = calloc(1, sizeof(*api));
	if (!api)
		return -ENOMEM;
	api->st = st;
	api->listen_fd = listen_fd;
	api->stop_fd = stop_fd;
	api->started = time(NULL);
	pthread_mutex_init(&api->lock, NULL);
	pthread_cond_init(&api->cond, NULL);
	err = pthread_create(&api->reaper, NULL, reaper_main, api);
	if (err) {
		err = -err;
		goto fail;
	}
	api->reaper_running = 1;
	api->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
					MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
				    0, NULL, NULL, handle_request, api, MHD_OPTION_EXTERNAL_LOGGER,
				    mhd_logger, api, MHD_OPTION_LISTEN_SOCKET, listen_fd,
				    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CS_CONN_TIMEOUT,
				    MHD_OPTION_NOTIFY_COMPLETED, request_done, api, MHD_OPTION_END);
	if (!api->mhd) {
		err = -EIO;
		goto fail;
	}
	*out = api;
	return 0;
fail:
	api->listen_fd = -1; /* still the caller's */
	cs_api_free(api);
	return err;
}

void cs_api_stop(struct cs_api *api)
{
	if (!api || !api->mhd)
		return;
	MHD_stop_daemon(api->mhd);
	api->mhd = NULL;
	if (api->listen_fd >= 0)
		close(api->listen_fd);
	api->listen_fd = -1;
}

void cs_api_free(struct cs_api *api)
{
	struct mount *list;

	if (!api)
		return;
	cs_api_stop(api);
	if (api->reaper_running) {
		pthread_mutex_lock(&api->lock);
		api->quit = 1;
		pthread_cond_broadcast(&api->cond);
		pthread_mutex_unlock(&api->lock);
		pthread_join(api->reaper, NULL);
	}
	pthread_mutex_lock(&api->lock);
	list = take_mounts(api, pick_all, NULL);
	pthread_mutex_unlock(&api->lock);
	free_taken(api, list, "daemon stopping");
	pthread_cond_destroy(&api->cond);
	pthread_mutex_destroy(&api->lock);
	free(api);
}
