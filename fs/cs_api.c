/*
 * cs_api.c - the control API server (see cs_api.h and docs/interfaces.md).
 *
 * Requests: libmicrohttpd calls handle_request() several times per
 * request: first with the headers (the peer's credentials are checked
 * then, and a Content-Length over 1 MiB is refused at once), then with
 * pieces of the body (gathered in struct req, at most CS_BODY_MAX bytes),
 * then once more to answer. POST /v1/volumes/NAME/receive is the one
 * exception to the body limit: its body is a replication stream, fed to
 * the store as it arrives (see "Replication streams" below); GET .../send
 * answers with a streamed body. Every input is validated here, once: names
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
#include <fcntl.h>
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
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "cs_api.h"
#include "cs_api_scrub.h"
#include "cs_log.h"
#include "cs_session.h"
#include "cs_store.h"

#define CS_BODY_MAX (1024u * 1024u) /* request bodies over this: 413 */
#define CS_CONN_TIMEOUT 300	    /* idle connection timeout, seconds */

enum mount_state { MOUNT_STARTING, MOUNT_LIVE, MOUNT_ENDED };

/* One FUSE session serving every shared mount point of a volume. */
struct shared {
	struct cs_api *api;
	struct cs_session *s;
	int refs; /* table entries pointing here (api->lock) */
};

struct mount {
	struct mount *next;
	struct cs_api *api;
	struct cs_session *s; /* NULL while STARTING; shared: sh->s */
	struct shared *sh;    /* shared mounts: the session they share */
	char *volume;	      /* "VOLUME" or "VOLUME@SNAPSHOT" */
	char *mountpoint;     /* canonical absolute path */
	char *options;	      /* effective options, e.g. "ro,allow_other" */
	int readonly;	      /* this mount point refuses writes */
	int shared;
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

	/* Serialises creating and removing shared mount points (binds and
	 * their session). Lock order: shared_lock, then lock. */
	pthread_mutex_t shared_lock;

	/* Background gc: gc_due (monotonic seconds, 0: none) is set after a
	 * snapshot goes; gc_run serialises cs_gc() calls. Order: gc_run, then
	 * lock. */
	pthread_mutex_t gc_run;
	double gc_due;
	pthread_t gc_thread;
	int gc_running;

	struct cs_api_scrub *scrub; /* /v1/scrub (cs_api_scrub.c) */
};

/* Per-request state (MHD's con_cls). */
struct req {
	char *body;
	size_t len;
	int too_large;
	struct recv_req *recv; /* POST .../receive: the body goes to cs_recv */
	int checked;	       /* peer credentials checked */
	int stop_after;	       /* POST /v1/daemon/stop answered */
	uid_t uid;
	gid_t gid;
};

/* An answer under construction. */
struct reply {
	unsigned status;
	cJSON *json;		     /* owned; NULL on error */
	struct MHD_Response *stream; /* owned; a streamed answer (send) instead */
};

/* ------------------------------------------------------------------ */
/* Errors and answers                                                 */
/* ------------------------------------------------------------------ */

static unsigned errno_status(int err)
{
	switch (err) {
	case EINVAL:
	case ENAMETOOLONG:
	case EBADMSG:
	case EPIPE:
		return 400;
	case EACCES:
	case EPERM:
		return 403;
	case ENOENT:
		return 404;
	case EEXIST:
	case EBUSY:
	case ENOTEMPTY:
	case ESTALE:
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

/* on_end of a shared session: every mount point of it has gone. */
static void shared_on_end(struct cs_session *s, void *ctx)
{
	struct shared *sh = ctx;
	struct cs_api *api = sh->api;
	struct mount *m;

	pthread_mutex_lock(&api->lock);
	for (m = api->mounts; m; m = m->next)
		if (m->sh == sh && m->state == MOUNT_LIVE)
			m->state = MOUNT_ENDED;
	api->reap_wanted = 1;
	pthread_cond_broadcast(&api->cond);
	pthread_mutex_unlock(&api->lock);
}

/* Detach one bind mount point (busy: lazily). */
static void bind_detach(const char *mp)
{
	if (umount2(mp, 0) == 0)
		return;
	if (errno == EBUSY && umount2(mp, MNT_DETACH) == 0) {
		cs_warn("%s is busy: detached it", mp);
		return;
	}
	if (errno != EINVAL && errno != ENOENT)
		cs_err("cannot unmount %s: %s", mp, strerror(errno));
}

/*
 * Release a shared entry taken from the table (shared_lock held, lock
 * not). Not the last one: detach its mount point only, and when the
 * session had it recorded as its own, move the record to a mount point
 * that remains. The last one: the session goes with it.
 */
static void shared_release(struct cs_api *api, struct mount *m, int ended)
{
	struct shared *sh = m->sh;
	const struct mount *o;
	char *other = NULL;
	int last;

	pthread_mutex_lock(&api->lock);
	last = --sh->refs == 0;
	for (o = api->mounts; !last && o; o = o->next)
		if (o->sh == sh && o->state == MOUNT_LIVE) {
			other = strdup(o->mountpoint);
			break;
		}
	pthread_mutex_unlock(&api->lock);
	if (last) {
		if (!ended && strcmp(cs_session_mountpoint(sh->s), m->mountpoint))
			cs_session_set_mountpoint(sh->s, m->mountpoint);
		cs_session_free(sh->s);
		free(sh);
	} else if (!ended) {
		if (other && !strcmp(cs_session_mountpoint(sh->s), m->mountpoint))
			cs_session_set_mountpoint(sh->s, other);
		bind_detach(m->mountpoint);
	}
	free(other);
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
		if (m->sh) {
			pthread_mutex_lock(&api->shared_lock);
			shared_release(api, m, ended);
			pthread_mutex_unlock(&api->shared_lock);
		} else {
			cs_session_free(m->s);
		}
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
	cJSON_AddBoolToObject(o, "shared", m->shared);
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
		if (m->state == MOUNT_ENDED || !pick_volume(m, volume))
			continue;
		if (rw && (m->readonly || strchr(m->volume, '@')) && !m->shared)
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

static int prop_add_fwd(void *ctx, const char *name, const char *value)
{
	cJSON_AddStringToObject(ctx, name, value);
	return 0;
}

static cJSON *volume_json(struct cs_api *api, const struct cs_volume_info *v)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *mps = cJSON_CreateArray();
	cJSON *stats, *props;
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
	if (v->origin[0])
		cJSON_AddStringToObject(o, "origin", v->origin);
	else
		cJSON_AddNullToObject(o, "origin");
	cJSON_AddNumberToObject(o, "snapshots", (double)v->snapshots);
	cJSON_AddNumberToObject(o, "written_bytes", (double)v->written_bytes);
	props = cJSON_CreateObject();
	if (cs_volume_prop_list(api->st, v->name, prop_add_fwd, props) < 0)
		cs_warn("properties of '%s': %s", v->name, cs_last_error());
	cJSON_AddItemToObject(o, "props", props);

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

static int clone_create(struct cs_api *api, struct req *q, const char *name, const char *from,
			const cJSON *body, struct reply *r);

static int volume_create(struct cs_api *api, struct req *q, struct reply *r)
{
	static const char *const fields[] = {"name", "compression", "quota", "from", NULL};
	struct cs_volume_opts opts = {.compression = -1, .quota = 0};
	const char *name, *comp, *from;
	cJSON *body = NULL;
	int err, has_quota;

	if ((err = parse_body(r, q, &body)) || (err = check_fields(r, body, fields)) ||
	    (err = get_string(r, body, "name", 1, &name)) ||
	    (err = check_name(r, "volume name", name)) ||
	    (err = get_string(r, body, "from", 0, &from)) ||
	    (err = get_string(r, body, "compression", 0, &comp)) ||
	    (comp && (err = parse_compression(r, comp, &opts.compression))) ||
	    (err = get_quota(r, body, &has_quota, &opts.quota)))
		goto out;
	if (strchr(name, '@')) {
		err = fail(r, EINVAL, "invalid volume name '%.255s': no '@'", name);
		goto out;
	}
	if (from) {
		err = clone_create(api, q, name, from, body, r);
		goto out;
	}
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

static void gc_schedule(struct cs_api *api);

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
	gc_schedule(api); /* the freed chunks' blob space (cs_gc) */
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
	unsigned readahead_kb; /* CS_READAHEAD_KB_MAX at most; 0: the kernel's */
	unsigned dirty_ratio;  /* percent, 100 at most; 0: the kernel's */
	char effective[128];
};

/* The value of a numeric mount option NAME=N: decimal, at most @max. */
static int parse_uint_opt(struct reply *r, const char *name, const char *v, unsigned max,
			  const char *unit, unsigned *out)
{
	unsigned long n = 0;

	if (!*v || strlen(v) > 8)
		goto bad;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		n = n * 10 + (unsigned long)(*p - '0');
	}
	if (n > max)
		goto bad;
	*out = (unsigned)n;
	return 0;
bad:
	return fail(r, EINVAL, "mount option %s must be %s from 0 to %u, not '%.32s'", name, unit,
		    max, v);
}

static int parse_mount_options(struct reply *r, const char *s, struct mount_opts *mo)
{
	char *copy = strdup(s ? s : ""), *tok, *save = NULL;
	int err = 0;

	memset(mo, 0, sizeof(*mo));
	mo->readahead_kb = CS_READAHEAD_KB_DEFAULT;
	mo->dirty_ratio = CS_DIRTY_RATIO_DEFAULT;
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
		if (!strncmp(tok, "readahead_kb=", 13)) {
			if ((err = parse_uint_opt(r, "readahead_kb", tok + 13, CS_READAHEAD_KB_MAX,
						  "a number of KiB", &mo->readahead_kb)))
				goto out;
			continue;
		}
		if (!strncmp(tok, "dirty_ratio=", 12)) {
			if ((err = parse_uint_opt(r, "dirty_ratio", tok + 12, 100, "a percentage",
						  &mo->dirty_ratio)))
				goto out;
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
	snprintf(mo->effective, sizeof(mo->effective), "%s%s%s,readahead_kb=%u,dirty_ratio=%u",
		 mo->readonly ? "ro" : "rw", mo->allow_other ? ",allow_other" : "",
		 mo->allow_root ? ",allow_root" : "", mo->readahead_kb, mo->dirty_ratio);
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
		if (!strcmp(m->volume, nm->volume) && !nm->readonly &&
		    (!m->readonly || m->shared)) {
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

/* Split "VOLUME@SNAPSHOT" into @vol (CS_NAME_MAX + 1 bytes) and a pointer
 * to the snapshot name (NULL without '@'), checking both names. */
static int split_snapshot(struct reply *r, const char *spec, char *vol, const char **snap)
{
	const char *at = strrchr(spec, '@');
	size_t n = at ? (size_t)(at - spec) : strlen(spec);
	int err;

	*snap = NULL;
	if (n > CS_NAME_MAX)
		return fail(r, ENAMETOOLONG, "volume name is longer than %u bytes", CS_NAME_MAX);
	memcpy(vol, spec, n);
	vol[n] = '\0';
	if ((err = check_name(r, "volume name", vol)))
		return err;
	if (at) {
		if ((err = check_name(r, "snapshot name", at + 1)))
			return err;
		*snap = at + 1;
	}
	return 0;
}

/* Answer ENOENT for a volume or snapshot that does not exist (or the
 * store's error). Returns 0 when it exists. */
static int check_exists(struct cs_api *api, struct reply *r, const char *vol, const char *snap)
{
	struct cs_snapshot_info si;
	struct cs_volume_info vi;
	int err = cs_volume_get(api->st, vol, &vi);

	if (err == -ENOENT)
		return fail(r, err, "volume '%s' does not exist", vol);
	if (err)
		return fail_store(r, err, vol);
	if (!snap)
		return 0;
	err = cs_snapshot_stat(api->st, vol, snap, &si);
	if (err == -ENOENT)
		return fail(r, err, "snapshot '%s@%s' does not exist", vol, snap);
	if (err)
		return fail_store(r, err, snap);
	return 0;
}

/* Bind-mount @src (a mount point of a shared session) at @dst with its own
 * read-only flag, keeping @src's nosuid/nodev/noexec. */
static int bind_create(const char *src, const char *dst, int readonly)
{
	unsigned long keep = 0;
	struct statvfs sv;
	struct stat st;
	int err;

	if (stat(dst, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (statvfs(src, &sv) == 0) {
		keep |= (sv.f_flag & ST_NOSUID) ? MS_NOSUID : 0;
		keep |= (sv.f_flag & ST_NODEV) ? MS_NODEV : 0;
		keep |= (sv.f_flag & ST_NOEXEC) ? MS_NOEXEC : 0;
	}
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0) {
		err = -errno;
		cs_err("cannot bind %s at %s: %s", src, dst, strerror(errno));
		return err;
	}
	if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | keep | (readonly ? MS_RDONLY : 0), NULL) <
	    0) {
		err = -errno;
		cs_err("cannot remount %s %s: %s", dst, readonly ? "ro" : "rw", strerror(errno));
		umount2(dst, MNT_DETACH);
		return err;
	}
	return 0;
}

/*
 * Reserve @nm's mount point for a shared mount (lock held). Sets *@src to
 * a mount point of the volume's shared session (malloc'd) and *@sh to it,
 * or both NULL when the volume has none yet. Returns 1 (and answers) when
 * the same shared mount exists already, 0 when reserved, or an error.
 */
static int shared_reserve(struct cs_api *api, struct mount *nm, struct reply *r, struct shared **sh,
			  char **src)
{
	struct mount *m, **pp;

	*sh = NULL;
	*src = NULL;
	for (m = api->mounts; m; m = m->next) {
		if (m->state == MOUNT_ENDED)
			continue;
		if (!strcmp(m->mountpoint, nm->mountpoint)) {
			if (m->state == MOUNT_LIVE && m->shared && !strcmp(m->volume, nm->volume) &&
			    m->readonly == nm->readonly) {
				ok(r, 200, mount_json(m));
				return 1;
			}
			return fail(r, EBUSY, "%s is already a mount point of volume '%s'",
				    nm->mountpoint, m->volume);
		}
	}
	for (m = api->mounts; m; m = m->next) {
		if (m->state != MOUNT_LIVE || !m->sh || strcmp(m->volume, nm->volume))
			continue;
		*src = strdup(m->mountpoint);
		if (!*src)
			return fail(r, ENOMEM, "out of memory");
		*sh = m->sh;
		break;
	}
	for (m = api->mounts; !*sh && m; m = m->next) {
		if (m->state != MOUNT_ENDED && !strcmp(m->volume, nm->volume) && !m->readonly)
			return fail(r, EBUSY,
				    "volume '%s' is already mounted read-write at %s (not shared)",
				    nm->volume, m->mountpoint);
	}
	for (pp = &api->mounts; *pp; pp = &(*pp)->next)
		;
	nm->state = MOUNT_STARTING;
	nm->next = NULL;
	*pp = nm;
	return 0;
}

/* Start the session of a volume's first shared mount (shared_lock held).
 * It runs read-write (unless a snapshot) so that read-write binds can
 * follow; a read-only first mount point is remounted read-only. */
static int shared_start(struct cs_api *api, struct mount *nm, struct cs_session_opts *so,
			int snapshot, struct shared **out)
{
	struct shared *sh = calloc(1, sizeof(*sh));
	int err;

	*out = NULL;
	if (!sh)
		return -ENOMEM;
	sh->api = api;
	so->readonly = snapshot;
	err = cs_session_start(api->st, nm->volume, nm->mountpoint, so, shared_on_end, sh, &sh->s);
	if (err) {
		free(sh);
		return err;
	}
	if (nm->readonly && !snapshot &&
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

/* A shared mount: a bind of the volume's shared session, or its first
 * mount point (which starts the session). */
static int shared_mount(struct cs_api *api, struct mount *nm, struct cs_session_opts *so,
			int snapshot, struct reply *r)
{
	struct shared *sh = NULL;
	char *src = NULL;
	int err, fresh = 0;

	pthread_mutex_lock(&api->shared_lock);
	pthread_mutex_lock(&api->lock);
	err = shared_reserve(api, nm, r, &sh, &src);
	pthread_mutex_unlock(&api->lock);
	if (err)
		goto out; /* 1: it exists already (answered) */
	if (sh) {
		err = bind_create(src, nm->mountpoint, nm->readonly);
	} else {
		err = shared_start(api, nm, so, snapshot, &sh);
		fresh = 1;
	}
	if (err) {
		mount_unreserve(api, nm);
		mount_error(r, err, nm->volume, nm->mountpoint);
		goto out;
	}
	pthread_mutex_lock(&api->lock);
	nm->sh = sh;
	nm->s = sh->s;
	sh->refs++;
	nm->state = MOUNT_LIVE;
	if (fresh && cs_session_ended(sh->s)) {
		nm->state = MOUNT_ENDED;
		api->reap_wanted = 1;
		pthread_cond_broadcast(&api->cond);
	}
	ok(r, 201, mount_json(nm));
	pthread_mutex_unlock(&api->lock);
	cs_info("mounted volume '%s' at %s (%s, shared%s)", nm->volume, nm->mountpoint, nm->options,
		fresh ? "" : ", bind");
out:
	pthread_mutex_unlock(&api->shared_lock);
	free(src);
	return err;
}

static int mount_create(struct cs_api *api, struct req *q, struct reply *r)
{
	static const char *const fields[] = {"volume", "mountpoint", "options", "shared", NULL};
	struct cs_session_opts so = {0};
	struct mount_opts mo;
	struct mount *nm = NULL;
	const char *volume, *mp, *options, *snap;
	const cJSON *shared;
	char real[PATH_MAX], vol[CS_NAME_MAX + 1];
	char *fsname = NULL;
	cJSON *body = NULL;
	int err, is_shared = 0;

	if ((err = parse_body(r, q, &body)) || (err = check_fields(r, body, fields)) ||
	    (err = get_string(r, body, "volume", 1, &volume)) ||
	    (err = split_snapshot(r, volume, vol, &snap)) ||
	    (err = get_string(r, body, "mountpoint", 1, &mp)) ||
	    (err = get_string(r, body, "options", 0, &options)) ||
	    (err = parse_mount_options(r, options, &mo)))
		goto out;
	shared = cJSON_GetObjectItemCaseSensitive(body, "shared");
	if (shared && !cJSON_IsBool(shared)) {
		err = fail(r, EINVAL, "field 'shared' must be true or false");
		goto out;
	}
	is_shared = cJSON_IsTrue(shared);
	if (is_shared && (q->uid != 0 || geteuid() != 0)) {
		err = fail(r, EPERM, "shared mounts need root (the daemon and its client)");
		goto out;
	}
	if (snap && !mo.readonly) {
		/* A snapshot is read-only whatever the options say. */
		mo.readonly = 1;
		memcpy(mo.effective, "ro", 2);
	}
	if (mp[0] != '/') {
		err = fail(r, EINVAL, "mount point '%.1024s' is not an absolute path", mp);
		goto out;
	}
	if ((err = resolve_mountpoint(mp, real))) {
		mount_error(r, err, volume, mp);
		goto out;
	}
	if ((err = check_exists(api, r, vol, snap)))
		goto out;
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
	nm->shared = is_shared;
	so.readonly = mo.readonly;
	so.allow_other = mo.allow_other;
	so.allow_root = mo.allow_root;
	so.readahead_kb = mo.readahead_kb;
	so.dirty_ratio = mo.dirty_ratio;
	so.fsname = fsname;
	if (is_shared) {
		err = shared_mount(api, nm, &so, snap != NULL, r);
		if (err == 0)
			nm = NULL; /* owned by the table */
		if (err > 0)
			err = 0;
		goto out;
	}
	if ((err = mount_reserve(api, nm, r)))
		goto out;
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
	if (!list) {
		struct statfs sf;

		/* A dead mount a killed daemon left is no session's: detach it. */
		if (statfs(mp, &sf) < 0 && errno == ENOTCONN && clear_dead_mount(mp) == 0) {
			ok(r, 200, NULL);
			return 0;
		}
		return fail(r, ENOENT, "nothing is mounted at %s", mp);
	}
	free_taken(api, list, "unmount requested");
	ok(r, 200, NULL);
	return 0;
}

static int method_not_allowed(struct reply *r, const char *method, const char *url);

/* ------------------------------------------------------------------ */
/* Background gc                                                      */
/* ------------------------------------------------------------------ */

#define CS_GC_DELAY 2.0 /* seconds after a snapshot goes */
#define CS_GC_POLL 60  /* seconds between checks for blob garbage */

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* @ts = CLOCK_REALTIME now + @seconds (the clock of api->cond). */
static void realtime_after(struct timespec *ts, int seconds)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += seconds;
}

/* Ask the gc thread to run cs_gc() a moment from now. */
static void gc_schedule(struct cs_api *api)
{
	pthread_mutex_lock(&api->lock);
	if (!api->gc_due)
		api->gc_due = mono_now() + CS_GC_DELAY;
	pthread_cond_broadcast(&api->cond);
	pthread_mutex_unlock(&api->lock);
}

static int gc_run(struct cs_api *api, struct cs_gc_stats *gs)
{
	int err;

	memset(gs, 0, sizeof(*gs));
	pthread_mutex_lock(&api->gc_run);
	err = cs_gc(api->st, gs);
	pthread_mutex_unlock(&api->gc_run);
	if (err)
		cs_err("gc: %s", cs_last_error());
	else if (gs->versions_freed || gs->chunks_freed)
		cs_info("gc: freed %llu versions, %llu chunks (%llu bytes)",
			(unsigned long long)gs->versions_freed,
			(unsigned long long)gs->chunks_freed, (unsigned long long)gs->bytes_freed);
	return err;
}

/* The disk space of deleted chunks (cs_gc_compact): only from the gc
 * thread, as it may take as long as rewriting the live data. */
static void gc_compact(struct cs_api *api)
{
	int rc;

	pthread_mutex_lock(&api->gc_run);
	rc = cs_gc_compact(api->st);
	pthread_mutex_unlock(&api->gc_run);
	if (rc < 0)
		cs_err("gc: compacting chunk files: %s", cs_last_error());
	else if (rc > 0)
		cs_info("gc: compacted the chunk files (space of deleted chunks given back)");
}

/* The gc thread: sleeps on api->cond until gc_due passes. It shares the
 * reaper's condition variable (broadcasts wake both). */
static void *gc_main(void *arg)
{
	struct cs_api *api = arg;
	struct cs_gc_stats gs;
	struct timespec ts;
	double due;

	pthread_mutex_lock(&api->lock);
	while (!api->quit) {
		due = api->gc_due;
		if (!due) {
			/* now and then: the disk space of chunks deleted by
			 * overwrites and unlinks (cs_gc_compact) */
			realtime_after(&ts, CS_GC_POLL);
			if (pthread_cond_timedwait(&api->cond, &api->lock, &ts) == ETIMEDOUT &&
			    !api->gc_due && !api->quit) {
				pthread_mutex_unlock(&api->lock); /* no store call under it */
				due = cs_gc_wanted(api->st) ? mono_now() : 0;
				pthread_mutex_lock(&api->lock);
				if (due && !api->gc_due)
					api->gc_due = due;
			}
			continue;
		}
		if (mono_now() < due) {
			realtime_after(&ts, 1);
			pthread_cond_timedwait(&api->cond, &api->lock, &ts);
			continue;
		}
		api->gc_due = 0;
		pthread_mutex_unlock(&api->lock);
		if (gc_run(api, &gs) == 0)
			gc_compact(api);
		pthread_mutex_lock(&api->lock);
	}
	pthread_mutex_unlock(&api->lock);
	return NULL;
}

static int gc_post(struct cs_api *api, struct reply *r)
{
	struct cs_gc_stats gs;
	cJSON *o;
	int err = gc_run(api, &gs);

	if (err)
		return fail_store(r, err, "gc");
	if (cs_gc_wanted(api->st))
		gc_schedule(api); /* the disk space, in the background */
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "versions_freed", (double)gs.versions_freed);
	cJSON_AddNumberToObject(o, "chunks_freed", (double)gs.chunks_freed);
	cJSON_AddNumberToObject(o, "bytes_freed", (double)gs.bytes_freed);
	ok(r, 200, o);
	return 0;
}

/* ---- check ---- */

#define CS_CHECK_MAX_LISTED 1000 /* problems listed in one answer */

struct check_list {
	cJSON *problems;
	uint64_t n;
};

static void check_problem(void *ctx, const char *problem)
{
	struct check_list *l = ctx;

	if (l->n++ < CS_CHECK_MAX_LISTED)
		cJSON_AddItemToArray(l->problems, cJSON_CreateString(problem));
}

/* POST /v1/check: cs_store_check on the live store; problems found are an
 * answer (ok false), not an error. */
static int check_post(struct cs_api *api, struct reply *r)
{
	struct check_list l = { .problems = cJSON_CreateArray() };
	struct cs_store_stats s;
	char msg[640];
	cJSON *o;
	int err = cs_store_check(api->st, &s, check_problem, &l);

	if (err && err != -EUCLEAN) {
		cJSON_Delete(l.problems);
		return fail_store(r, err, "check");
	}
	if (err)
		snprintf(msg, sizeof(msg), "%llu problem%s; the first: %s", (unsigned long long)l.n,
			 l.n == 1 ? "" : "s", cs_last_error());
	else
		snprintf(msg, sizeof(msg), "consistent: %llu volumes, %llu inodes, %llu chunks, "
			 "%llu chunk references", (unsigned long long)s.volumes,
			 (unsigned long long)s.inodes, (unsigned long long)s.chunks,
			 (unsigned long long)s.chunk_refs);
	if (err)
		cs_warn("check: %s", msg);
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "ok", !err);
	cJSON_AddStringToObject(o, "message", msg);
	cJSON_AddNumberToObject(o, "problems_found", (double)l.n);
	cJSON_AddItemToObject(o, "problems", l.problems);
	ok(r, 200, o);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                          */
/* ------------------------------------------------------------------ */

static void stats_json(cJSON *o, const struct cs_volume_stats *st)
{
	cJSON *stats = cJSON_AddObjectToObject(o, "stats");

	cJSON_AddNumberToObject(stats, "inodes", (double)st->inodes);
	cJSON_AddNumberToObject(stats, "logical_bytes", (double)st->logical_bytes);
	cJSON_AddNumberToObject(stats, "apparent_bytes", (double)st->apparent_bytes);
	cJSON_AddNumberToObject(stats, "stored_bytes", (double)st->stored_bytes);
	cJSON_AddNumberToObject(stats, "raw_bytes", (double)st->raw_bytes);
	cJSON_AddNumberToObject(stats, "chunk_refs", (double)st->chunk_refs);
}

static cJSON *snapshot_json(const char *volume, const struct cs_snapshot_info *si)
{
	cJSON *o = cJSON_CreateObject();
	char uuid[40], when[40];

	cs_uuid_format(si->uuid, uuid);
	format_time(si->ctime_ns, when, sizeof(when));
	cJSON_AddStringToObject(o, "name", si->name);
	cJSON_AddStringToObject(o, "volume", volume);
	cJSON_AddStringToObject(o, "uuid", uuid);
	cJSON_AddNumberToObject(o, "epoch", (double)si->epoch);
	cJSON_AddStringToObject(o, "created", when);
	cJSON_AddNumberToObject(o, "referenced_bytes", (double)si->stats.logical_bytes);
	cJSON_AddNumberToObject(o, "used_bytes", (double)si->used_bytes);
	cJSON_AddNumberToObject(o, "clones", (double)si->clones);
	stats_json(o, &si->stats);
	return o;
}

/* A volume that must exist: 404 with a clear message otherwise. */
static int volume_must_exist(struct cs_api *api, struct reply *r, const char *name,
			     struct cs_volume_info *info)
{
	int err = check_name(r, "volume name", name);

	if (err)
		return err;
	err = cs_volume_get(api->st, name, info);
	if (err == -ENOENT)
		return fail(r, err, "volume '%s' does not exist", name);
	if (err)
		return fail_store(r, err, name);
	return 0;
}

static int snapshot_fail(struct reply *r, int err, const char *vol, const char *snap)
{
	if (err == -ENOENT && !cs_last_error()[0])
		return fail(r, err, "snapshot '%s@%s' does not exist", vol, snap);
	return fail_store(r, err, snap); /* the store's message names what is wrong */
}

static int snapshots_list(struct cs_api *api, const char *vol, struct reply *r)
{
	struct cs_snapshot_info *si = NULL;
	struct cs_volume_info info;
	cJSON *root, *arr;
	size_t n = 0, i;
	int err;

	if ((err = volume_must_exist(api, r, vol, &info)))
		return err;
	err = cs_snapshot_list(api->st, vol, &si, &n);
	if (err)
		return fail_store(r, err, vol);
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "snapshots");
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, snapshot_json(vol, &si[i]));
	free(si);
	ok(r, 200, root);
	return 0;
}

/* syncfs(2) on a mount of @vol, so dirty kernel pages (writeback cache)
 * reach the store before a snapshot is taken. */
static void sync_volume_mount(struct cs_api *api, const char *vol)
{
	char where[PATH_MAX];
	const struct mount *m;
	int fd, found = 0;

	pthread_mutex_lock(&api->lock);
	for (m = api->mounts; m; m = m->next)
		if (m->state == MOUNT_LIVE && !strcmp(m->volume, vol)) {
			snprintf(where, sizeof(where), "%s", m->mountpoint);
			found = 1;
			break;
		}
	pthread_mutex_unlock(&api->lock);
	if (!found)
		return;
	fd = open(where, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd) < 0)
		cs_warn("snapshot of '%s': syncfs %s: %s", vol, where, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static int snapshot_create(struct cs_api *api, const char *vol, struct req *q, struct reply *r)
{
	static const char *const fields[] = {"name", NULL};
	struct cs_snapshot_info si;
	struct cs_volume_info info;
	const char *name;
	cJSON *body = NULL;
	int err;

	if ((err = volume_must_exist(api, r, vol, &info)) || (err = parse_body(r, q, &body)) ||
	    (err = check_fields(r, body, fields)) ||
	    (err = get_string(r, body, "name", 1, &name)) ||
	    (err = check_name(r, "snapshot name", name)))
		goto out;
	if (strchr(name, '@')) {
		err = fail(r, EINVAL, "invalid snapshot name '%.255s': no '@'", name);
		goto out;
	}
	sync_volume_mount(api, vol);
	err = cs_snapshot_create(api->st, vol, name, &si);
	if (err) {
		snapshot_fail(r, err, vol, name);
		goto out;
	}
	cs_info("created snapshot '%s@%s'", vol, name);
	ok(r, 201, snapshot_json(vol, &si));
out:
	cJSON_Delete(body);
	return err;
}

static int snapshot_get(struct cs_api *api, const char *vol, const char *name, struct reply *r)
{
	struct cs_snapshot_info si;
	struct cs_volume_info info;
	int err;

	if ((err = volume_must_exist(api, r, vol, &info)) ||
	    (err = check_name(r, "snapshot name", name)))
		return err;
	err = cs_snapshot_get(api->st, vol, name, &si);
	if (err)
		return snapshot_fail(r, err, vol, name);
	ok(r, 200, snapshot_json(vol, &si));
	return 0;
}

/* Non-zero (and @where set) when snapshot @vol@@snap is mounted. */
static int snapshot_mounted(struct cs_api *api, const char *vol, const char *snap, char *where,
			    size_t wlen)
{
	const struct mount *m;
	char spec[2 * CS_NAME_MAX + 2];
	int n = 0;

	snprintf(spec, sizeof(spec), "%s@%s", vol, snap);
	pthread_mutex_lock(&api->lock);
	for (m = api->mounts; m; m = m->next)
		if (m->state != MOUNT_ENDED && !strcmp(m->volume, spec) && !n++)
			snprintf(where, wlen, "%s", m->mountpoint);
	pthread_mutex_unlock(&api->lock);
	return n;
}

static int snapshot_patch(struct cs_api *api, const char *vol, const char *name, struct req *q,
			  struct reply *r)
{
	static const char *const fields[] = {"name", NULL};
	struct cs_snapshot_info si;
	struct cs_volume_info info;
	char where[PATH_MAX];
	const char *to;
	cJSON *body = NULL;
	int err;

	if ((err = volume_must_exist(api, r, vol, &info)) ||
	    (err = check_name(r, "snapshot name", name)) || (err = parse_body(r, q, &body)) ||
	    (err = check_fields(r, body, fields)) || (err = get_string(r, body, "name", 1, &to)) ||
	    (err = check_name(r, "new snapshot name", to)))
		goto out;
	if (strchr(to, '@')) {
		err = fail(r, EINVAL, "invalid snapshot name '%.255s': no '@'", to);
		goto out;
	}
	reap_ended(api);
	if (strcmp(name, to) && snapshot_mounted(api, vol, name, where, sizeof(where))) {
		err = fail(r, EBUSY, "snapshot '%s@%s' is mounted at %s", vol, name, where);
		goto out;
	}
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
	ok(r, 200, snapshot_json(vol, &si));
out:
	cJSON_Delete(body);
	return err;
}

static int snapshot_delete(struct cs_api *api, const char *vol, const char *name, struct reply *r)
{
	struct cs_volume_info info;
	char where[PATH_MAX];
	int err;

	if ((err = volume_must_exist(api, r, vol, &info)) ||
	    (err = check_name(r, "snapshot name", name)))
		return err;
	reap_ended(api);
	if (snapshot_mounted(api, vol, name, where, sizeof(where)))
		return fail(r, EBUSY, "snapshot '%s@%s' is mounted at %s", vol, name, where);
	err = cs_snapshot_delete(api->st, vol, name);
	if (err)
		return snapshot_fail(r, err, vol, name);
	cs_info("removed snapshot '%s@%s'", vol, name);
	gc_schedule(api);
	ok(r, 200, NULL);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Clones, promote, rollback, diff                                    */
/* ------------------------------------------------------------------ */

static int clone_create(struct cs_api *api, struct req *q, const char *name, const char *from,
			const cJSON *body, struct reply *r)
{
	struct cs_volume_opts opts;
	struct cs_volume_info origin;
	char vol[CS_NAME_MAX + 1];
	const char *snap, *comp = NULL;
	int err, has_quota;
	uint64_t quota = 0;

	if ((err = split_snapshot(r, from, vol, &snap)))
		return err;
	if (!snap)
		return fail(r, EINVAL, "field 'from' must be VOLUME@SNAPSHOT, not '%.255s'", from);
	if ((err = check_exists(api, r, vol, snap)) || (err = cs_volume_get(api->st, vol, &origin)))
		return err < 0 && !r->json ? fail_store(r, err, vol) : err;
	opts.compression = origin.compression;
	opts.quota = origin.quota;
	if ((err = get_string(r, body, "compression", 0, &comp)) ||
	    (comp && (err = parse_compression(r, comp, &opts.compression))) ||
	    (err = get_quota(r, body, &has_quota, &quota)))
		return err;
	if (has_quota)
		opts.quota = quota;
	err = cs_clone_create(api->st, vol, snap, name, &opts, NULL);
	if (err == -EEXIST)
		return fail(r, err, "volume '%s' already exists", name);
	if (err)
		return fail_store(r, err, name);
	cs_info("created volume '%s' as a clone of '%s@%s'", name, vol, snap);
	(void)q;
	return volume_answer(api, r, 201, name);
}

static int volume_promote(struct cs_api *api, const char *vol, struct reply *r)
{
	struct cs_volume_info info;
	char where[PATH_MAX];
	int err;

	if ((err = volume_must_exist(api, r, vol, &info)))
		return err;
	if (!info.origin[0])
		return fail(r, EINVAL, "volume '%s' is not a clone", vol);
	reap_ended(api);
	if (volume_mount_count(api, vol, 0, where, sizeof(where)))
		return fail(r, EBUSY, "volume '%s' is mounted at %s", vol, where);
	err = cs_clone_promote(api->st, vol);
	if (err)
		return fail_store(r, err, vol);
	cs_info("promoted volume '%s' (was a clone of '%s')", vol, info.origin);
	gc_schedule(api);
	return volume_answer(api, r, 200, vol);
}

static int get_bool(struct reply *r, const cJSON *obj, const char *key, int *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	*out = 0;
	if (!it)
		return 0;
	if (!cJSON_IsBool(it))
		return fail(r, EINVAL, "field '%s' must be true or false", key);
	*out = cJSON_IsTrue(it);
	return 0;
}

/* "later snapshot VOL@SNAP is the origin of clones: A, B" */
static int fail_clones(struct cs_api *api, struct reply *r, const char *vol, const char *snap)
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
	return fail(r, EBUSY, "later snapshot '%s' is the origin of clones: %s", origin, names);
}

/* Refuse a rollback the store would refuse before unmounting anything for
 * it: the snapshot must exist, later snapshots need destroy_later, and
 * none of them may have clones. */
static int rollback_precheck(struct cs_api *api, struct reply *r, const char *vol,
			     const char *snap, int destroy_later)
{
	struct cs_snapshot_info *si = NULL;
	char later[1024] = "";
	size_t n = 0, i, len = 0;
	uint64_t epoch = 0;
	int err, found = 0;

	err = cs_snapshot_list(api->st, vol, &si, &n);
	if (err)
		return fail_store(r, err, vol);
	for (i = 0; i < n; i++)
		if (!strcmp(si[i].name, snap)) {
			found = 1;
			epoch = si[i].epoch;
		}
	err = found ? 0 : fail(r, ENOENT, "snapshot '%s@%s' does not exist", vol, snap);
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
		err = fail(r, EEXIST,
			   "snapshots newer than '%s@%s' exist: %s (use -r to destroy them)", vol,
			   snap, later);
	return err;
}

static int volume_rollback(struct cs_api *api, const char *vol, struct req *q, struct reply *r)
{
	static const char *const fields[] = {"snapshot", "destroy_later", "force", NULL};
	struct cs_volume_info info;
	char where[PATH_MAX];
	struct mount *list;
	const char *snap;
	cJSON *body = NULL;
	int err, destroy_later, force;

	if ((err = volume_must_exist(api, r, vol, &info)) || (err = parse_body(r, q, &body)) ||
	    (err = check_fields(r, body, fields)) ||
	    (err = get_string(r, body, "snapshot", 1, &snap)) ||
	    (err = check_name(r, "snapshot name", snap)) ||
	    (err = get_bool(r, body, "destroy_later", &destroy_later)) ||
	    (err = get_bool(r, body, "force", &force)) ||
	    (err = rollback_precheck(api, r, vol, snap, destroy_later)))
		goto out;
	reap_ended(api);
	if (volume_mount_count(api, vol, 0, where, sizeof(where))) {
		if (!force) {
			err =
			    fail(r, EBUSY, "volume '%s' is mounted at %s (unmount it or use force)",
				 vol, where);
			goto out;
		}
		pthread_mutex_lock(&api->lock);
		list = take_mounts(api, pick_volume, vol);
		pthread_mutex_unlock(&api->lock);
		free_taken(api, list, "rollback");
		if (volume_mount_count(api, vol, 0, where, sizeof(where))) {
			err = fail(r, EBUSY, "volume '%s' is being mounted at %s", vol, where);
			goto out;
		}
	}
	err = cs_rollback(api->st, vol, snap, destroy_later);
	if (err) {
		snapshot_fail(r, err, vol, snap);
		goto out;
	}
	cs_info("rolled volume '%s' back to '%s'%s", vol, snap,
		destroy_later ? " (later snapshots destroyed)" : "");
	gc_schedule(api);
	err = volume_answer(api, r, 200, vol);
out:
	cJSON_Delete(body);
	return err;
}

struct diff_ctx {
	cJSON *arr;
	size_t n;
};

static int diff_one(void *ctx, int change, const char *path, const char *newpath)
{
	struct diff_ctx *d = ctx;
	cJSON *o = cJSON_CreateObject();
	char c[2] = {(char)change, 0};

	cJSON_AddStringToObject(o, "change", c);
	cJSON_AddStringToObject(o, "path", path);
	if (newpath)
		cJSON_AddStringToObject(o, "new_path", newpath);
	cJSON_AddItemToArray(d->arr, o);
	d->n++;
	return 0;
}

/* "A" or "VOL@A" (VOL must then be @vol). */
static int diff_snap_arg(struct reply *r, const char *vol, const char *key, const char *v,
			 const char **out)
{
	const char *at;

	*out = v;
	if (!v)
		return 0;
	at = strrchr(v, '@');
	if (at) {
		if ((size_t)(at - v) != strlen(vol) || strncmp(v, vol, strlen(vol)))
			return fail(r, EINVAL, "'%s' must name a snapshot of volume '%s'", key,
				    vol);
		*out = at + 1;
	}
	return check_name(r, "snapshot name", *out);
}

static int volume_diff(struct cs_api *api, struct MHD_Connection *conn, const char *vol,
		       struct reply *r)
{
	const char *from = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "from");
	const char *to = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "to");
	struct diff_ctx d = {0};
	struct cs_volume_info info;
	cJSON *root;
	int err;

	if ((err = volume_must_exist(api, r, vol, &info)))
		return err;
	if (!from || !*from)
		return fail(r, EINVAL, "query parameter 'from' is required");
	if (to && !*to)
		to = NULL;
	if ((err = diff_snap_arg(r, vol, "from", from, &from)) ||
	    (err = diff_snap_arg(r, vol, "to", to, &to)))
		return err;
	sync_volume_mount(api, vol);
	root = cJSON_CreateObject();
	d.arr = cJSON_AddArrayToObject(root, "changes");
	err = cs_diff(api->st, vol, from, to, diff_one, &d);
	if (err) {
		cJSON_Delete(root);
		if (err == -EINVAL)
			return fail(r, err, "snapshot '%s' is not older than '%s'", from,
				    to ? to : "the live volume");
		return fail_store(r, err, vol);
	}
	ok(r, 200, root);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Properties                                                         */
/* ------------------------------------------------------------------ */

static int prop_name_check(struct reply *r, const char *name)
{
	size_t n = strlen(name), i;

	if (n == 0 || n > CS_NAME_MAX)
		return fail(r, EINVAL, "property names are 1-255 bytes");
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._:-", c)))
			return fail(r, EINVAL,
				    "invalid property name '%.255s': only [A-Za-z0-9._:-]", name);
	}
	return 0;
}

static int prop_add(void *ctx, const char *name, const char *value)
{
	cJSON_AddStringToObject(ctx, name, value);
	return 0;
}

/* The volume's properties as a JSON object (NULL on error, answered). */
static cJSON *props_json(struct cs_api *api, const char *vol, struct reply *r)
{
	cJSON *o = cJSON_CreateObject();
	int err = cs_volume_prop_list(api->st, vol, prop_add, o);

	if (err) {
		cJSON_Delete(o);
		if (r)
			fail_store(r, err, vol);
		return NULL;
	}
	return o;
}

static int props_answer(struct cs_api *api, const char *vol, struct reply *r)
{
	cJSON *props = props_json(api, vol, r), *o;

	if (!props)
		return -EIO;
	o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "props", props);
	ok(r, 200, o);
	return 0;
}

static int props_patch(struct cs_api *api, const char *vol, struct req *q, struct reply *r)
{
	struct cs_volume_info info;
	const cJSON *it;
	cJSON *body = NULL;
	int err;

	if ((err = volume_must_exist(api, r, vol, &info)) || (err = parse_body(r, q, &body)))
		goto out;
	if (!cJSON_IsObject(body)) {
		err = fail(r, EINVAL, "request body must be a JSON object");
		goto out;
	}
	/* Validate everything first: a bad request changes nothing. */
	cJSON_ArrayForEach(it, body)
	{
		if ((err = prop_name_check(r, it->string ? it->string : "")))
			goto out;
		if (!cJSON_IsNull(it) && !cJSON_IsString(it)) {
			err = fail(r, EINVAL, "property '%s' must be a string or null", it->string);
			goto out;
		}
		if (cJSON_IsString(it) && strlen(it->valuestring) > CS_PROP_VALUE_MAX) {
			err = fail(r, E2BIG, "property '%s' is longer than %u bytes", it->string,
				   CS_PROP_VALUE_MAX);
			goto out;
		}
	}
	cJSON_ArrayForEach(it, body)
	{
		err = cs_volume_prop_set(api->st, vol, it->string,
					 cJSON_IsString(it) ? it->valuestring : NULL);
		if (err == -ENOENT && cJSON_IsNull(it))
			err = 0; /* deleting an absent property */
		if (err) {
			fail_store(r, err, vol);
			goto out;
		}
	}
	err = props_answer(api, vol, r);
out:
	cJSON_Delete(body);
	return err;
}

static int props_get(struct cs_api *api, const char *vol, struct reply *r)
{
	struct cs_volume_info info;
	int err = volume_must_exist(api, r, vol, &info);

	return err ? err : props_answer(api, vol, r);
}

/* ------------------------------------------------------------------ */
/* Replication streams                                                */
/* ------------------------------------------------------------------ */

/*
 * Send. cs_send pushes bytes through a write function; MHD pulls them
 * through a content reader. A producer thread runs cs_send into a bounded
 * ring (struct send_job); the reader, run by the connection's own thread
 * (MHD_USE_THREAD_PER_CONNECTION, so it may block), takes them out. The
 * request handler waits for the first byte (or the end) before answering,
 * so an error before any byte is an ordinary JSON error; an error later
 * cuts the response (the client sees a short transfer and says so).
 *
 * Lock order: job->lock is a leaf. The job is freed by MHD's free callback
 * (or by the handler when no response was made): it cancels the producer
 * (its next write fails with -ECANCELED), joins it and frees.
 */
#define CS_SEND_RING (1024u * 1024u)

struct send_job {
	cs_store *st;
	char volume[CS_NAME_MAX + 1], snap[CS_NAME_MAX + 1];
	char base_volume[CS_NAME_MAX + 1], base[CS_NAME_MAX + 1];
	char *token;
	struct cs_send_opts o;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* data, room, end or cancel */
	uint8_t *ring;
	size_t head, len;  /* ring[head .. head+len) (mod CS_SEND_RING) */
	uint64_t produced; /* bytes written by cs_send so far */
	int done, err, cancelled;
	char msg[1024]; /* cs_last_error() of the producer on failure */
	pthread_t thread;
	int started;
};

static int send_job_write(void *ctx, const void *buf, size_t len)
{
	struct send_job *j = ctx;
	const uint8_t *p = buf;

	pthread_mutex_lock(&j->lock);
	while (len) {
		size_t tail, n;

		while (j->len == CS_SEND_RING && !j->cancelled)
			pthread_cond_wait(&j->cond, &j->lock);
		if (j->cancelled) {
			pthread_mutex_unlock(&j->lock);
			return -ECANCELED;
		}
		tail = (j->head + j->len) % CS_SEND_RING;
		n = CS_SEND_RING - j->len;
		if (n > CS_SEND_RING - tail)
			n = CS_SEND_RING - tail;
		if (n > len)
			n = len;
		memcpy(j->ring + tail, p, n);
		j->len += n;
		j->produced += n;
		p += n;
		len -= n;
		pthread_cond_broadcast(&j->cond);
	}
	pthread_mutex_unlock(&j->lock);
	return 0;
}

static void *send_job_main(void *arg)
{
	struct send_job *j = arg;
	int err = cs_send(j->st, &j->o, send_job_write, j);

	pthread_mutex_lock(&j->lock);
	j->done = 1;
	j->err = err;
	if (err)
		snprintf(j->msg, sizeof(j->msg), "%s",
			 cs_last_error()[0] ? cs_last_error() : strerror(-err));
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
	if (err && err != -ECANCELED)
		cs_warn("send %s@%s failed after %llu bytes: %s", j->volume, j->snap,
			(unsigned long long)j->produced, j->msg);
	return NULL;
}

static void send_job_free(void *cls)
{
	struct send_job *j = cls;

	if (!j)
		return;
	if (j->started) {
		pthread_mutex_lock(&j->lock);
		j->cancelled = 1;
		pthread_cond_broadcast(&j->cond);
		pthread_mutex_unlock(&j->lock);
		pthread_join(j->thread, NULL);
	}
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->lock);
	free(j->ring);
	free(j->token);
	free(j);
}

/* MHD's content reader: blocks until bytes, the end or an error. */
static ssize_t send_job_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct send_job *j = cls;
	ssize_t ret;
	size_t n;

	pthread_mutex_lock(&j->lock);
	while (j->len == 0 && !j->done)
		pthread_cond_wait(&j->cond, &j->lock);
	if (j->len) {
		n = j->len < max ? j->len : max;
		if (n > CS_SEND_RING - j->head)
			n = CS_SEND_RING - j->head;
		memcpy(buf, j->ring + j->head, n);
		j->head = (j->head + n) % CS_SEND_RING;
		j->len -= n;
		pthread_cond_broadcast(&j->cond);
		ret = (ssize_t)n;
	} else {
		ret = j->err ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
	}
	pthread_mutex_unlock(&j->lock);
	return ret;
}

/* Copy an optional query argument @key into @buf (a name), "" when absent. */
static int query_name(struct reply *r, struct MHD_Connection *conn, const char *key,
		      const char *what, char *buf, int required)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);

	buf[0] = '\0';
	if (!v || !*v)
		return required ? fail(r, EINVAL, "query parameter '%s' is required", key) : 0;
	if (check_name(r, what, v))
		return -EINVAL;
	snprintf(buf, CS_NAME_MAX + 1, "%s", v);
	return 0;
}

static int query_flag(struct MHD_Connection *conn, const char *key)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);

	return v && (!strcmp(v, "1") || !strcmp(v, "true"));
}

/* Read the send options of the query string into a new job. */
static int send_job_new(struct cs_api *api, struct MHD_Connection *conn, const char *vol,
			struct reply *r, struct send_job **out)
{
	const char *tok = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "resume");
	struct send_job *j;
	int err;

	*out = NULL;
	if ((err = check_name(r, "volume name", vol)))
		return err;
	j = calloc(1, sizeof(*j));
	if (!j)
		return fail(r, ENOMEM, "out of memory");
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->cond, NULL);
	j->st = api->st;
	snprintf(j->volume, sizeof(j->volume), "%s", vol);
	if ((err = query_name(r, conn, "snap", "snapshot name", j->snap, !tok || !*tok)) ||
	    (err = query_name(r, conn, "base", "base snapshot name", j->base, 0)) ||
	    (err = query_name(r, conn, "base_volume", "base volume name", j->base_volume, 0)))
		goto fail;
	if (j->base_volume[0] && !j->base[0]) {
		err = fail(r, EINVAL, "base_volume needs base");
		goto fail;
	}
	if (tok && *tok && !(j->token = strdup(tok))) {
		err = fail(r, ENOMEM, "out of memory");
		goto fail;
	}
	j->o.volume = j->volume;
	j->o.snap = j->snap;
	j->o.base = j->base[0] ? j->base : NULL;
	j->o.base_volume = j->base[0] ? (j->base_volume[0] ? j->base_volume : j->volume) : NULL;
	j->o.flags = query_flag(conn, "intermediates") ? CS_SEND_INTERMEDIATES : 0;
	j->o.resume_token = j->token;
	*out = j;
	return 0;
fail:
	send_job_free(j);
	return err;
}

static int count_write(void *ctx, const void *buf, size_t len)
{
	*(uint64_t *)ctx += len;
	return 0;
}

/* The exact size of the stream: from metadata, except a resumed stream,
 * which cs_send_size does not describe: that one is produced and counted. */
static int send_size(struct send_job *j, uint64_t *size)
{
	*size = 0;
	if (!j->token)
		return cs_send_size(j->st, &j->o, size);
	return cs_send(j->st, &j->o, count_write, size);
}

static int send_fail(struct reply *r, int err, const struct send_job *j, const char *msg)
{
	if (msg && *msg)
		return fail(r, err, "%s", msg);
	if (err == -ENOENT)
		return fail(r, err, "volume '%s' or its snapshot '%s' does not exist", j->volume,
			    j->snap);
	return fail(r, err, "send %s@%s: %s", j->volume, j->snap, strerror(-err));
}

static int volume_send(struct cs_api *api, struct MHD_Connection *conn, const char *vol,
		       struct reply *r)
{
	struct MHD_Response *resp;
	struct send_job *j = NULL;
	char sz[32];
	uint64_t size = 0;
	int err;

	if ((err = send_job_new(api, conn, vol, r, &j)))
		return err;
	err = send_size(j, &size);
	if (err) {
		send_fail(r, err, j, cs_last_error());
		goto out;
	}
	if (query_flag(conn, "dry_run")) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddNumberToObject(o, "size", (double)size);
		ok(r, 200, o);
		goto out;
	}
	j->ring = malloc(CS_SEND_RING);
	if (!j->ring) {
		err = fail(r, ENOMEM, "out of memory");
		goto out;
	}
	err = pthread_create(&j->thread, NULL, send_job_main, j);
	if (err) {
		err = fail(r, err, "cannot start the send: %s", strerror(err));
		goto out;
	}
	j->started = 1;
	/* Wait for the first byte or the end: an early error is a JSON one. */
	pthread_mutex_lock(&j->lock);
	while (j->len == 0 && !j->done)
		pthread_cond_wait(&j->cond, &j->lock);
	err = j->produced == 0 && j->done ? j->err : 0;
	pthread_mutex_unlock(&j->lock);
	if (err) {
		send_fail(r, err, j, j->msg);
		goto out;
	}
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, send_job_read, j,
						 send_job_free);
	if (!resp) {
		err = fail(r, ENOMEM, "out of memory");
		goto out;
	}
	j = NULL; /* the response owns it now */
	MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
	MHD_add_response_header(resp, "X-Cstorfs-Stream-Size", sz);
	r->status = 200;
	r->stream = resp;
	cs_info("sending %s (%llu bytes)", vol, (unsigned long long)size);
out:
	send_job_free(j);
	return err;
}

/*
 * Receive. The body is not gathered: the first call of the handler (the
 * headers) starts the receive (cs_recv_begin), each piece of the body is
 * fed to it as it arrives, and the last call finishes it. The first error
 * is kept (the handle is freed at once, so a retry is not refused as
 * "running"); the rest of the body is read and dropped, and the error is
 * the answer. A connection that goes away mid-body is a cut stream:
 * request_done() finishes the receive (cs_recv_finish keeps what arrived
 * for a resume, -EPIPE) and frees the handle.
 */
struct recv_req {
	char volume[CS_NAME_MAX + 1];
	struct cs_recv *h;
	int err;
	char msg[1024];
};

static void recv_req_free(struct recv_req *rr)
{
	if (!rr)
		return;
	cs_recv_free(rr->h);
	free(rr);
}

static void recv_req_fail(struct recv_req *rr, int err, const char *msg)
{
	rr->err = err;
	snprintf(rr->msg, sizeof(rr->msg), "%s", msg && *msg ? msg : strerror(-err));
	cs_recv_free(rr->h);
	rr->h = NULL;
}

/* Non-zero when @method @url is POST /v1/volumes/NAME/receive; NAME in @vol. */
static int is_receive(const char *method, const char *url, char *vol)
{
	const char *slash;
	size_t n;

	if (strcmp(method, "POST") || strncmp(url, "/v1/volumes/", 12))
		return 0;
	slash = strchr(url + 12, '/');
	if (!slash || strcmp(slash, "/receive"))
		return 0;
	n = (size_t)(slash - (url + 12));
	if (n > CS_NAME_MAX)
		n = 0; /* an empty name: refused by cs_name_check */
	memcpy(vol, url + 12, n);
	vol[n] = '\0';
	return 1;
}

static struct recv_req *recv_start(struct cs_api *api, struct MHD_Connection *conn, const char *vol)
{
	struct recv_req *rr = calloc(1, sizeof(*rr));
	int err;

	if (!rr)
		return NULL;
	snprintf(rr->volume, sizeof(rr->volume), "%s", vol);
	err = cs_name_check(vol);
	if (err) {
		recv_req_fail(rr, err, "invalid volume name: 1-255 bytes, no '/', not '.' or '..'");
		return rr;
	}
	err = cs_recv_begin(api->st, vol, query_flag(conn, "force") ? CS_RECV_FORCE : 0, &rr->h);
	if (err)
		recv_req_fail(rr, err, cs_last_error());
	return rr;
}

static void recv_feed(struct recv_req *rr, const char *data, size_t len)
{
	int err;

	if (!rr->h)
		return; /* failed already: drop the rest */
	err = cs_recv_feed(rr->h, data, len);
	if (err)
		recv_req_fail(rr, err, cs_last_error());
}

static void recv_answer(struct recv_req *rr, struct reply *r)
{
	struct cs_recv_result res = {0};
	cJSON *o;
	int err = rr->err;

	if (!err) {
		err = cs_recv_finish(rr->h, &res);
		if (err)
			recv_req_fail(rr, err, cs_last_error());
	}
	cs_recv_free(rr->h);
	rr->h = NULL;
	if (err) {
		fail(r, err, "receive into '%s': %s", rr->volume, rr->msg);
		cs_info("receive into %s refused: %s", rr->volume, rr->msg);
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "snapshot", res.snapshot);
	cJSON_AddNumberToObject(o, "bytes", (double)res.bytes);
	cJSON_AddNumberToObject(o, "records", (double)res.records);
	cJSON_AddNumberToObject(o, "chunks_new", (double)res.chunks_new);
	cJSON_AddNumberToObject(o, "chunks_present", (double)res.chunks_present);
	ok(r, 200, o);
	cs_info("received %s@%s (%llu bytes)", rr->volume, res.snapshot,
		(unsigned long long)res.bytes);
}

/* The body ended early (the client went away): finish the receive as a
 * cut stream, so what arrived is kept for a resume. */
static void recv_cut(struct recv_req *rr, enum MHD_RequestTerminationCode toe)
{
	int err = cs_recv_finish(rr->h, NULL);

	cs_info("receive into %s: connection ended (%d) before the answer: %s", rr->volume,
		(int)toe, err ? cs_last_error() : "the stream was complete and is applied");
	cs_recv_free(rr->h);
	rr->h = NULL;
}

static int recv_token(struct cs_api *api, const char *vol, struct reply *r)
{
	char tok[512];
	cJSON *o;
	int err;

	if ((err = check_name(r, "volume name", vol)))
		return err;
	err = cs_recv_resume_token(api->st, vol, tok, sizeof(tok));
	if (err == -ENOENT)
		return fail(r, err, "no partial receive into '%s'", vol);
	if (err)
		return fail_store(r, err, vol);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "token", tok);
	ok(r, 200, o);
	return 0;
}

static int recv_abort(struct cs_api *api, const char *vol, struct reply *r)
{
	int err;

	if ((err = check_name(r, "volume name", vol)))
		return err;
	err = cs_recv_abort(api->st, vol);
	if (err == -ENOENT)
		return fail(r, err, "no partial receive into '%s'", vol);
	if (err)
		return fail_store(r, err, vol);
	ok(r, 200, NULL);
	return 0;
}

/* Route /v1/volumes/NAME/REST (REST after the slash). */
static void route_volume_sub(struct cs_api *api, struct MHD_Connection *conn, const char *vol,
			     const char *rest, const char *method, struct req *q, struct reply *r)
{
	const char *url = rest;

	if (!strcmp(rest, "snapshots") || !strcmp(rest, "snapshots/")) {
		if (!strcmp(method, "GET"))
			snapshots_list(api, vol, r);
		else if (!strcmp(method, "POST"))
			snapshot_create(api, vol, q, r);
		else
			method_not_allowed(r, method, url);
	} else if (!strncmp(rest, "snapshots/", 10)) {
		const char *snap = rest + 10;

		if (!strcmp(method, "GET"))
			snapshot_get(api, vol, snap, r);
		else if (!strcmp(method, "PATCH"))
			snapshot_patch(api, vol, snap, q, r);
		else if (!strcmp(method, "DELETE"))
			snapshot_delete(api, vol, snap, r);
		else
			method_not_allowed(r, method, url);
	} else if (!strcmp(rest, "props")) {
		if (!strcmp(method, "GET"))
			props_get(api, vol, r);
		else if (!strcmp(method, "PATCH"))
			props_patch(api, vol, q, r);
		else
			method_not_allowed(r, method, url);
	} else if (!strcmp(rest, "promote")) {
		if (!strcmp(method, "POST"))
			volume_promote(api, vol, r);
		else
			method_not_allowed(r, method, url);
	} else if (!strcmp(rest, "rollback")) {
		if (!strcmp(method, "POST"))
			volume_rollback(api, vol, q, r);
		else
			method_not_allowed(r, method, url);
	} else if (!strcmp(rest, "diff")) {
		if (!strcmp(method, "GET"))
			volume_diff(api, conn, vol, r);
		else
			method_not_allowed(r, method, url);
	} else if (!strcmp(rest, "send")) {
		if (!strcmp(method, "GET"))
			volume_send(api, conn, vol, r);
		else
			method_not_allowed(r, method, url);
	} else if (!strcmp(rest, "receive")) {
		if (!strcmp(method, "DELETE"))
			recv_abort(api, vol, r);
		else if (!strcmp(method, "POST") && q->recv)
			recv_answer(q->recv, r);
		else
			method_not_allowed(r, method, url);
	} else if (!strcmp(rest, "receive/token")) {
		if (!strcmp(method, "GET"))
			recv_token(api, vol, r);
		else
			method_not_allowed(r, method, url);
	} else {
		fail(r, ENOENT, "no such resource: /v1/volumes/%.255s/%.256s", vol, rest);
	}
}

/* ------------------------------------------------------------------ */
/* Status                                                             */
/* ------------------------------------------------------------------ */

/* The store's health (cs_store_health): "ok", "full" or "read-only". */
static cJSON *health_json(struct cs_api *api)
{
	struct cs_store_health h;
	cJSON *o = cJSON_CreateObject();
	const char *code;

	cs_store_health(api->st, &h);
	code = h.err ? strerrorname_np(-h.err) : NULL;
	cJSON_AddStringToObject(o, "state", cs_health_state_name(h.state));
	cJSON_AddStringToObject(o, "error", code ? code : "");
	cJSON_AddStringToObject(o, "message", h.message);
	cJSON_AddNumberToObject(o, "since", (double)h.since);
	cJSON_AddNumberToObject(o, "free_bytes", (double)h.free_bytes);
	cJSON_AddNumberToObject(o, "reserve_bytes", (double)h.reserve_bytes);
	cJSON_AddNumberToObject(o, "resumes", (double)h.resumes);
	return o;
}

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
	cJSON_AddItemToObject(o, "health", health_json(api));
	so = cJSON_AddObjectToObject(o, "stats");
	cJSON_AddNumberToObject(so, "volumes", (double)s.volumes);
	cJSON_AddNumberToObject(so, "chunks", (double)s.chunks);
	cJSON_AddNumberToObject(so, "chunk_refs", (double)s.chunk_refs);
	cJSON_AddNumberToObject(so, "raw_bytes", (double)s.raw_bytes);
	cJSON_AddNumberToObject(so, "stored_bytes", (double)s.stored_bytes);
	cJSON_AddNumberToObject(so, "logical_bytes", (double)s.logical_bytes);
	cJSON_AddNumberToObject(so, "inodes", (double)s.inodes);
	cJSON_AddNumberToObject(so, "snapshots", (double)s.snapshots);
	cJSON_AddNumberToObject(so, "pending_reclaim", (double)s.pending_reclaim);
	cJSON_AddItemToObject(o, "scrub", cs_api_scrub_summary(api->scrub));
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
	} else if (!strncmp(url, "/v1/volumes/", 12) && strchr(url + 12, '/')) {
		char vol[CS_NAME_MAX + 1];
		const char *slash = strchr(url + 12, '/');
		size_t n = (size_t)(slash - (url + 12));

		if (n == 0 || n > CS_NAME_MAX) {
			fail(r, n ? ENAMETOOLONG : EINVAL, "bad volume name in %.256s", url);
			return;
		}
		memcpy(vol, url + 12, n);
		vol[n] = '\0';
		route_volume_sub(api, conn, vol, slash + 1, method, q, r);
	} else if (!strcmp(url, "/v1/scrub")) {
		r->status = cs_api_scrub_answer(api->scrub, method, q->body, q->len, &r->json);
	} else if (!strcmp(url, "/v1/gc")) {
		if (strcmp(method, "POST"))
			method_not_allowed(r, method, url);
		else
			gc_post(api, r);
	} else if (!strcmp(url, "/v1/check")) {
		if (strcmp(method, "POST"))
			method_not_allowed(r, method, url);
		else
			check_post(api, r);
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
	char rvol[CS_NAME_MAX + 1];

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
		if (is_receive(method, url, rvol)) { /* a stream: no size limit */
			q->recv = recv_start(api, conn, rvol);
			if (!q->recv)
				return MHD_NO;
			q->checked = 1;
			return MHD_YES;
		}
		clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						   MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clen && strtoull(clen, NULL, 10) > CS_BODY_MAX)
			return send_error(conn, E2BIG, 413, "request body larger than 1 MiB");
		q->checked = 1;
		return MHD_YES;
	}
	if (*upload_data_size && q->recv) {
		recv_feed(q->recv, upload_data, *upload_data_size);
		*upload_data_size = 0;
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
	if (r.stream) {
		ret = MHD_queue_response(conn, r.status, r.stream);
		MHD_destroy_response(r.stream);
		cJSON_Delete(r.json);
		return ret;
	}
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
	if (q->recv && q->recv->h) /* the connection went away mid-body: a cut */
		recv_cut(q->recv, toe);
	recv_req_free(q->recv);
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
	pthread_mutex_init(&api->shared_lock, NULL);
	pthread_mutex_init(&api->gc_run, NULL);
	pthread_cond_init(&api->cond, NULL);
	err = pthread_create(&api->reaper, NULL, reaper_main, api);
	if (err) {
		err = -err;
		goto fail;
	}
	api->reaper_running = 1;
	err = pthread_create(&api->gc_thread, NULL, gc_main, api);
	if (err) {
		err = -err;
		goto fail;
	}
	api->gc_running = 1;
	err = cs_api_scrub_new(st, &api->scrub);
	if (err)
		goto fail;
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
	cs_api_scrub_free(api->scrub); /* before the store closes */
	if (api->reaper_running) {
		pthread_mutex_lock(&api->lock);
		api->quit = 1;
		pthread_cond_broadcast(&api->cond);
		pthread_mutex_unlock(&api->lock);
		pthread_join(api->reaper, NULL);
	}
	if (api->gc_running) {
		pthread_mutex_lock(&api->lock);
		api->quit = 1;
		pthread_cond_broadcast(&api->cond);
		pthread_mutex_unlock(&api->lock);
		pthread_join(api->gc_thread, NULL);
	}
	pthread_mutex_lock(&api->lock);
	list = take_mounts(api, pick_all, NULL);
	pthread_mutex_unlock(&api->lock);
	free_taken(api, list, "daemon stopping");
	pthread_cond_destroy(&api->cond);
	pthread_mutex_destroy(&api->gc_run);
	pthread_mutex_destroy(&api->shared_lock);
	pthread_mutex_destroy(&api->lock);
	free(api);
}
