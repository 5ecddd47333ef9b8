/*
 * cs_api_store.c - status, gc and check of the store (see cs_api_store.h).
 *
 * Background gc: gc->due (monotonic seconds, 0: none) is set a moment
 * after a snapshot or a volume goes (cs_api_gc_schedule); the gc thread
 * sleeps on gc->cond until it passes, then runs cs_gc() and, when that
 * succeeded, cs_gc_compact(). Every CS_GC_POLL seconds without a request
 * it asks the store whether space of deleted chunks waits (cs_gc_wanted:
 * a look at the chunk files' live counts, cheap), so a full disk gets the
 * room files deleted in a volume held within seconds. POST /v1/gc
 * runs cs_gc() at once, in the request's thread.
 *
 * Lock order: gc->run (serialises cs_gc and cs_gc_compact calls), then
 * gc->lock (a leaf guarding due and quit; no store call under it).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cs_api.h"
#include "cs_api_scrub.h"
#include "cs_api_store.h"
#include "cs_log.h"
#include "cs_mounts.h"
#include "cs_thread.h"

#define CS_GC_DELAY 2.0		 /* seconds after a snapshot goes */
#define CS_GC_POLL 2		 /* seconds between checks for chunk garbage */
#define CS_CHECK_MAX_LISTED 1000 /* problems listed in one answer */

struct cs_api_gc {
	cs_store *st;
	pthread_mutex_t run;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a gc is due, or quit */
	double due;
	int quit;
	pthread_t thread;
};

/* ------------------------------------------------------------------ */
/* Status                                                             */
/* ------------------------------------------------------------------ */

#define HEALTH_U64(m) CS_HTTP_U64(struct cs_store_health, m)
static const struct cs_http_u64 health_counters[] = {
    HEALTH_U64(free_bytes), HEALTH_U64(reserve_bytes), HEALTH_U64(resumes)};

#define STATS_U64(m) CS_HTTP_U64(struct cs_store_stats, m)
static const struct cs_http_u64 stats_counters[] = {
    STATS_U64(volumes),	  STATS_U64(chunks),	   STATS_U64(chunk_refs),
    STATS_U64(raw_bytes), STATS_U64(stored_bytes), STATS_U64(logical_bytes),
    STATS_U64(inodes),	  STATS_U64(snapshots),	   STATS_U64(pending_reclaim)};

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
	CS_HTTP_ADD_U64S(o, &h, health_counters);
	return o;
}

#define CHUNKS_U64(m) CS_HTTP_U64(struct cs_store_chunks, m)
static const struct cs_http_u64 chunks_counters[] = {
    CHUNKS_U64(files), CHUNKS_U64(bytes), CHUNKS_U64(live_bytes), CHUNKS_U64(reclaimed_bytes)};

/* Where the chunk bytes live (cs_store_chunks). */
static cJSON *chunk_store_json(struct cs_api *api)
{
	struct cs_store_chunks c;
	cJSON *o = cJSON_CreateObject();

	cs_store_chunks(api->st, &c);
	cJSON_AddStringToObject(o, "kind", c.kind);
	CS_HTTP_ADD_U64S(o, &c, chunks_counters);
	return o;
}

static cJSON *stats_json(const struct cs_store_stats *s)
{
	cJSON *so = cJSON_CreateObject();

	CS_HTTP_ADD_U64S(so, s, stats_counters);
	return so;
}

int cs_api_status_get(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	struct cs_store_stats s;
	cJSON *o;
	int err;

	err = cs_store_stats(api->st, &s);
	if (err)
		return cs_http_fail_store(r, err, "store statistics");
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "pid", getpid());
	cJSON_AddStringToObject(o, "store", cs_store_path(api->st));
	cJSON_AddStringToObject(o, "version", CS_VERSION);
	cJSON_AddNumberToObject(o, "uptime_s", (double)(time(NULL) - api->started));
	cJSON_AddItemToObject(o, "mounts", cs_mounts_json(api->mounts));
	cJSON_AddItemToObject(o, "health", health_json(api));
	cJSON_AddItemToObject(o, "stats", stats_json(&s));
	cJSON_AddItemToObject(o, "chunk_store", chunk_store_json(api));
	cJSON_AddItemToObject(o, "scrub", cs_api_scrub_summary(api->scrub));
	cs_http_ok(r, 200, o);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Gc                                                                 */
/* ------------------------------------------------------------------ */

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* @ts = CLOCK_REALTIME now + @seconds (the clock of gc->cond). */
static void realtime_after(struct timespec *ts, int seconds)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += seconds;
}

void cs_api_gc_schedule(struct cs_api_gc *gc)
{
	pthread_mutex_lock(&gc->lock);
	if (!gc->due)
		gc->due = mono_now() + CS_GC_DELAY;
	pthread_cond_broadcast(&gc->cond);
	pthread_mutex_unlock(&gc->lock);
}

static int gc_run(struct cs_api_gc *gc, struct cs_gc_stats *gs)
{
	int err;

	memset(gs, 0, sizeof(*gs));
	pthread_mutex_lock(&gc->run);
	err = cs_gc(gc->st, gs);
	pthread_mutex_unlock(&gc->run);
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
static void gc_compact(struct cs_api_gc *gc)
{
	int rc;

	pthread_mutex_lock(&gc->run);
	rc = cs_gc_compact(gc->st);
	pthread_mutex_unlock(&gc->run);
	if (rc < 0)
		cs_err("gc: compacting chunk files: %s", cs_last_error());
	else if (rc > 0)
		cs_info("gc: compacted the chunk files (space of deleted chunks given back)");
}

/* Nothing due: wait up to CS_GC_POLL seconds, then ask the store whether
 * chunks deleted by overwrites and unlinks wait for their disk space
 * (gc->lock held; released around the store call). */
static void gc_idle(struct cs_api_gc *gc)
{
	struct timespec ts;
	double due;

	realtime_after(&ts, CS_GC_POLL);
	if (pthread_cond_timedwait(&gc->cond, &gc->lock, &ts) != ETIMEDOUT || gc->due || gc->quit)
		return;
	pthread_mutex_unlock(&gc->lock); /* no store call under it */
	due = cs_gc_wanted(gc->st) ? mono_now() : 0;
	pthread_mutex_lock(&gc->lock);
	if (due && !gc->due)
		gc->due = due;
}

static void *gc_main(void *arg)
{
	struct cs_api_gc *gc = arg;
	struct cs_gc_stats gs;
	struct timespec ts;

	pthread_mutex_lock(&gc->lock);
	while (!gc->quit) {
		if (!gc->due) {
			gc_idle(gc);
			continue;
		}
		if (mono_now() < gc->due) {
			realtime_after(&ts, 1);
			pthread_cond_timedwait(&gc->cond, &gc->lock, &ts);
			continue;
		}
		gc->due = 0;
		pthread_mutex_unlock(&gc->lock);
		if (gc_run(gc, &gs) == 0)
			gc_compact(gc);
		pthread_mutex_lock(&gc->lock);
	}
	pthread_mutex_unlock(&gc->lock);
	return NULL;
}

/* Free @gc and its locks; its thread is not running (never started, or joined). */
static void gc_destroy(struct cs_api_gc *gc)
{
	pthread_cond_destroy(&gc->cond);
	pthread_mutex_destroy(&gc->lock);
	pthread_mutex_destroy(&gc->run);
	free(gc);
}

int cs_api_gc_new(cs_store *st, struct cs_api_gc **out)
{
	struct cs_api_gc *gc = calloc(1, sizeof(*gc));
	int err;

	*out = NULL;
	if (!gc)
		return -ENOMEM;
	gc->st = st;
	pthread_mutex_init(&gc->run, NULL);
	pthread_mutex_init(&gc->lock, NULL);
	pthread_cond_init(&gc->cond, NULL);
	err = pthread_create(&gc->thread, NULL, gc_main, gc);
	if (err)
		gc_destroy(gc);
	else
		*out = gc;
	return -err;
}

void cs_api_gc_free(struct cs_api_gc *gc)
{
	if (!gc)
		return;
	cs_thread_stop(gc->thread, &gc->lock, &gc->cond, &gc->quit);
	gc_destroy(gc);
}

#define GC_U64(m) CS_HTTP_U64(struct cs_gc_stats, m)
static const struct cs_http_u64 gc_counters[] = {GC_U64(versions_freed), GC_U64(chunks_freed),
						 GC_U64(bytes_freed)};

int cs_api_gc_post(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	struct cs_gc_stats gs;
	cJSON *o;
	int err = gc_run(api->gc, &gs);

	if (err)
		return cs_http_fail_store(r, err, "gc");
	if (cs_gc_wanted(api->st))
		cs_api_gc_schedule(api->gc); /* the disk space, in the background */
	o = cJSON_CreateObject();
	CS_HTTP_ADD_U64S(o, &gs, gc_counters);
	cs_http_ok(r, 200, o);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Check                                                              */
/* ------------------------------------------------------------------ */

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
int cs_api_check_post(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	struct check_list l = {.problems = cJSON_CreateArray()};
	struct cs_store_stats s;
	char msg[640];
	cJSON *o;
	int err = cs_store_check(api->st, &s, check_problem, &l);

	if (err && err != -EUCLEAN) {
		cJSON_Delete(l.problems);
		return cs_http_fail_store(r, err, "check");
	}
	if (err)
		snprintf(msg, sizeof(msg), "%llu problem%s; the first: %s", (unsigned long long)l.n,
			 l.n == 1 ? "" : "s", cs_last_error());
	else
		snprintf(msg, sizeof(msg),
			 "consistent: %llu volumes, %llu inodes, %llu chunks, "
			 "%llu chunk references",
			 (unsigned long long)s.volumes, (unsigned long long)s.inodes,
			 (unsigned long long)s.chunks, (unsigned long long)s.chunk_refs);
	if (err)
		cs_warn("check: %s", msg);
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "ok", !err);
	cJSON_AddStringToObject(o, "message", msg);
	cJSON_AddNumberToObject(o, "problems_found", (double)l.n);
	cJSON_AddItemToObject(o, "problems", l.problems);
	cs_http_ok(r, 200, o);
	return 0;
}
