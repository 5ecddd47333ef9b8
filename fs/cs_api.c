/*
 * cs_api.c - the control API of cstorfsd (see cs_api.h): its route table,
 * which is the API at a glance, and its lifecycle. docs/interfaces.md
 * describes every request and answer.
 *
 * A request goes: the HTTP plumbing (api/cs_http.c) reads it and checks
 * the peer; the router below finds its route by path and method; the
 * route's handler, in one module per resource under fs/api/, validates it,
 * calls the store or the session table, and answers. Nothing is validated
 * here but the path itself.
 *
 *   api/cs_http.c           HTTP on the unix socket, request and answer helpers
 *   api/cs_api_volumes.c    volumes, their properties, clones
 *   api/cs_api_snapshots.c  snapshots, rollback, diff
 *   api/cs_api_mounts.c     mounts (the sessions: api/cs_mounts.c)
 *   api/cs_api_streams.c    send and receive
 *   api/cs_api_push.c       pushed copies in the pool: push, pushed, pull
 *   api/cs_api_store.c      status, gc (and its thread), check
 *   api/cs_api_scrub.c      scrub
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_api.h"
#include "cs_log.h"
#include "api/cs_api_int.h"
#include "api/cs_api_mounts.h"
#include "api/cs_api_push.h"
#include "api/cs_api_scrub.h"
#include "api/cs_api_snapshots.h"
#include "api/cs_api_store.h"
#include "api/cs_api_streams.h"
#include "api/cs_api_volumes.h"
#include "api/cs_mounts.h"

static cs_api_handler daemon_stop;

struct route {
	const char *method;
	const char *path; /* the pattern, see below */
	cs_api_handler *answer;
	cs_api_body_begin *body; /* a streamed request body; NULL: JSON, 1 MiB at most */
	const char *what;
};

/*
 * The routes. A path pattern is literal text except for
 *   {name}   one segment of the path (up to the next '/'),
 *   {name*}  the rest of the path, '/' included,
 *   [/]      at its end: an optional trailing '/'.
 * The parameters reach the handler as q->arg[0], q->arg[1] in this order.
 * The first pattern that matches the path names the resource, and the
 * method picks its row (none: 405 EINVAL); no pattern: 404 ENOENT.
 */
/* clang-format off */
static const struct route routes[] = {
	/* method  path pattern                           handler, streamed body,
	 *  what it does */

	/* the daemon and the store */
	{"GET",    "/v1/status",                          cs_api_status_get, NULL,
	 "the daemon, its mounts, the store's health and statistics, the last scrub"},
	{"POST",   "/v1/daemon/stop",                     daemon_stop, NULL,
	 "answer, then stop as on SIGTERM (every volume unmounted)"},
	{"POST",   "/v1/gc",                              cs_api_gc_post, NULL,
	 "free now what deleted snapshots and volumes left behind"},
	{"POST",   "/v1/check",                           cs_api_check_post, NULL,
	 "the store's consistency check (problems found are an answer, not an error)"},
	{"GET",    "/v1/scrub",                           cs_api_scrub_get, NULL,
	 "the running or the last scrub, with its damage list"},
	{"POST",   "/v1/scrub",                           cs_api_scrub_post, NULL,
	 "start reading back every chunk, of the store or of a volume: {volume?, rate?}"},
	{"DELETE", "/v1/scrub",                           cs_api_scrub_delete, NULL,
	 "cancel the running scrub"},

	/* volumes */
	{"GET",    "/v1/volumes[/]",                      cs_api_volumes_list, NULL,
	 "every volume"},
	{"POST",   "/v1/volumes[/]",                      cs_api_volume_create, NULL,
	 "create a volume {name, compression?, quota?}, or a clone {..., from: VOL@SNAP}"},
	{"GET",    "/v1/volumes/{vol}",                   cs_api_volume_get, NULL,
	 "one volume"},
	{"PATCH",  "/v1/volumes/{vol}",                   cs_api_volume_patch, NULL,
	 "rename it or change its options: {name?, compression?, quota?}"},
	{"DELETE", "/v1/volumes/{vol}",                   cs_api_volume_delete, NULL,
	 "delete it (?force=1: unmount it first)"},
	{"GET",    "/v1/volumes/{vol}/props",             cs_api_props_get, NULL,
	 "its user properties"},
	{"PATCH",  "/v1/volumes/{vol}/props",             cs_api_props_patch, NULL,
	 "set properties ({NAME: VALUE}), delete them ({NAME: null})"},
	{"POST",   "/v1/volumes/{vol}/promote",           cs_api_volume_promote, NULL,
	 "a clone takes over its origin's older snapshots"},

	/* snapshots */
	{"GET",    "/v1/volumes/{vol}/snapshots[/]",      cs_api_snapshots_list, NULL,
	 "the volume's snapshots, oldest first"},
	{"POST",   "/v1/volumes/{vol}/snapshots[/]",      cs_api_snapshot_create, NULL,
	 "take a snapshot: {name}"},
	{"GET",    "/v1/volumes/{vol}/snapshots/{snap*}", cs_api_snapshot_get, NULL,
	 "one snapshot"},
	{"PATCH",  "/v1/volumes/{vol}/snapshots/{snap*}", cs_api_snapshot_patch, NULL,
	 "rename it: {name}"},
	{"DELETE", "/v1/volumes/{vol}/snapshots/{snap*}", cs_api_snapshot_delete, NULL,
	 "delete it"},
	{"POST",   "/v1/volumes/{vol}/rollback",          cs_api_volume_rollback, NULL,
	 "roll the volume back: {snapshot, destroy_later?, force?}"},
	{"GET",    "/v1/volumes/{vol}/diff",              cs_api_volume_diff, NULL,
	 "the changed paths: ?from=SNAP[&to=SNAP] (no to: the live volume)"},

	/* replication streams */
	{"GET",    "/v1/volumes/{vol}/send",              cs_api_send, NULL,
	 "a snapshot as a stream: ?snap, base, base_volume, intermediates, resume, dry_run"},
	{"POST",   "/v1/volumes/{vol}/receive",           cs_api_receive, cs_api_receive_begin,
	 "receive the stream that is the body (?force=1)"},
	{"DELETE", "/v1/volumes/{vol}/receive",           cs_api_receive_abort, NULL,
	 "drop a partial receive"},
	{"GET",    "/v1/volumes/{vol}/receive/token",     cs_api_receive_token, NULL,
	 "the token that resumes a partial receive"},

	/* pushed copies in the pool of the store's chunks (issue 15) */
	{"POST",   "/v1/push",                            cs_api_push, NULL,
	 "push a snapshot's stream into the pool: {volume, snapshot, as?, from?}"},
	{"GET",    "/v1/pushed",                          cs_api_pushed_list, NULL,
	 "the pushed copies the pool holds"},
	{"DELETE", "/v1/pushed",                          cs_api_pushed_delete, NULL,
	 "remove a pushed copy and its marks: ?name=NAME"},
	{"POST",   "/v1/pull",                            cs_api_pull, NULL,
	 "recreate a pushed copy as a volume: {name, volume?}"},

	/* mounts */
	{"GET",    "/v1/mounts",                          cs_api_mounts_list, NULL,
	 "every mount"},
	{"POST",   "/v1/mounts",                          cs_api_mount_create, NULL,
	 "mount {volume: VOL or VOL@SNAP, mountpoint, options?, shared?}"},
	{"DELETE", "/v1/mounts",                          cs_api_mount_delete, NULL,
	 "unmount ?mountpoint=PATH"},
};
/* clang-format on */

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* ------------------------------------------------------------------ */
/* Routing                                                            */
/* ------------------------------------------------------------------ */

/*
 * Non-zero when @url matches @pat. With @buf (a copy of @url) and @args
 * (CS_HTTP_ARGS pointers), each parameter is NUL-terminated in @buf and
 * pointed at by the next of @args.
 */
static int path_match(const char *pat, const char *url, char *buf, const char **args)
{
	const char *u = url, *end;
	size_t len;
	int n = 0;

	while (*pat) {
		if (!strcmp(pat, "[/]"))
			return !*u || !strcmp(u, "/");
		if (*pat != '{') {
			if (*pat++ != *u++)
				return 0;
			continue;
		}
		end = strchr(pat, '}');
		len = end[-1] == '*' ? strlen(u) : strcspn(u, "/");
		if (args && n < CS_HTTP_ARGS) {
			args[n++] = buf + (u - url);
			buf[u - url + len] = '\0';
		}
		u += len;
		pat = end + 1;
	}
	return !*u;
}

/* The route of @q; NULL (and with @r, 404 or 405 answered) when none. */
static const struct route *route_find(const struct cs_http_req *q, struct cs_http_reply *r)
{
	const char *pattern = NULL;
	size_t i;

	for (i = 0; i < NROUTES && !pattern; i++)
		if (path_match(routes[i].path, q->url, NULL, NULL))
			pattern = routes[i].path;
	if (!pattern) {
		if (r)
			cs_http_fail(r, ENOENT, "no such resource: %.256s", q->url);
		return NULL;
	}
	for (i = 0; i < NROUTES; i++)
		if (!strcmp(routes[i].path, pattern) && !strcmp(routes[i].method, q->method))
			return &routes[i];
	if (r)
		cs_http_not_allowed(r, q);
	return NULL;
}

/* Set q->arg from the path of route @rt; *@buf holds them (args_clear). */
static int args_set(const struct route *rt, struct cs_http_req *q, char **buf)
{
	*buf = strdup(q->url);
	if (!*buf)
		return -ENOMEM;
	path_match(rt->path, q->url, *buf, q->arg);
	return 0;
}

static void args_clear(struct cs_http_req *q, char *buf)
{
	memset(q->arg, 0, sizeof(q->arg));
	free(buf);
}

/* A volume name in a deeper path (/v1/volumes/NAME/...) that no volume can
 * have is refused whatever follows: 400. */
static int check_path_volume(const struct cs_http_req *q, struct cs_http_reply *r)
{
	const char *name = q->url + 12, *slash;
	size_t n;

	if (strncmp(q->url, "/v1/volumes/", 12) || !(slash = strchr(name, '/')))
		return 0;
	n = (size_t)(slash - name);
	if (n == 0 || n > CS_NAME_MAX)
		return cs_http_fail(r, n ? ENAMETOOLONG : EINVAL, "bad volume name in %.256s",
				    q->url);
	return 0;
}

/* The headers arrived: a route that streams its body starts here. */
static int api_begin(void *ctx, struct cs_http_req *q)
{
	const struct route *rt = route_find(q, NULL);
	char *buf;
	int err;

	if (!rt || !rt->body)
		return 0;
	if (args_set(rt, q, &buf))
		return -ENOMEM;
	err = rt->body(ctx, q);
	args_clear(q, buf);
	return err;
}

static void api_answer(void *ctx, struct cs_http_req *q, struct cs_http_reply *r)
{
	const struct route *rt;
	char *buf;

	if (check_path_volume(q, r) || !(rt = route_find(q, r)))
		return;
	if (args_set(rt, q, &buf)) {
		cs_http_fail(r, ENOMEM, "out of memory");
		return;
	}
	rt->answer(ctx, q, r);
	args_clear(q, buf);
}

static const struct cs_http_ops api_ops = {.begin = api_begin, .answer = api_answer};

/* ------------------------------------------------------------------ */
/* Lifecycle                                                          */
/* ------------------------------------------------------------------ */

/* POST /v1/daemon/stop answered: tell the main thread. */
static void stop_signal(struct cs_http_req *q, int toe)
{
	struct cs_api *api = q->data;
	char one = 1;

	if (api->stop_fd >= 0 && write(api->stop_fd, &one, 1) < 0)
		cs_err("cannot signal the main thread to stop: %s", strerror(errno));
}

static int daemon_stop(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	cs_info("stop requested through the control API");
	q->data = api;
	q->on_end = stop_signal;
	cs_http_ok(r, 200, NULL);
	return 0;
}

int cs_api_start(cs_store *st, int listen_fd, int stop_fd, struct cs_api **out)
{
	struct cs_api *api;
	int err;

	*out = NULL;
	api = calloc(1, sizeof(*api));
	if (!api)
		return -ENOMEM;
	api->st = st;
	api->stop_fd = stop_fd;
	api->started = time(NULL);
	if ((err = cs_mounts_new(st, &api->mounts)) || (err = cs_api_gc_new(st, &api->gc)) ||
	    (err = cs_api_scrub_new(st, &api->scrub)) ||
	    (err = cs_http_start(listen_fd, &api_ops, api, &api->http))) {
		cs_api_free(api); /* listen_fd is still the caller's */
		return err;
	}
	*out = api;
	return 0;
}

void cs_api_stop(struct cs_api *api)
{
	if (!api)
		return;
	cs_http_free(api->http);
	api->http = NULL;
}

void cs_api_free(struct cs_api *api)
{
	if (!api)
		return;
	cs_api_stop(api);
	cs_api_scrub_free(api->scrub); /* before the store closes */
	cs_api_gc_free(api->gc);
	cs_mounts_free(api->mounts); /* ends every session */
	free(api);
}
