/*
 * cs_api_scrub.c - the control API's scrub resource (see cs_api_scrub.h
 * and docs/interfaces.md, "Scrub").
 *
 * One scrub at a time: sc->cur is the running scrub or the last one that
 * ran in this daemon (its damage list stays available until the next
 * scrub starts); sc->last is the summary the store kept from an earlier
 * daemon, shown until a scrub runs here. The scrub's thread logs its end
 * (and each damaged chunk with the files using it) through on_end.
 *
 * Lock: sc->lock guards cur and last; it is held across store scrub calls
 * (cs_scrub_start takes the store's volume lock briefly), never across a
 * store call that waits on I/O for long, and never taken by the scrub's
 * thread (on_end uses only the handle it is given).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_api_scrub.h"
#include "cs_log.h"

#define CANCEL_WAIT_MS 10000 /* DELETE answers once the scrub stopped, or after this */

struct cs_api_scrub {
	cs_store *st;
	pthread_mutex_t lock;
	cs_scrub *cur;		     /* running or last scrub of this daemon */
	struct cs_scrub_status last; /* kept by the store, when !cur */
	int have_last;
};

/* ------------------------------------------------------------------ */
/* Answers                                                            */
/* ------------------------------------------------------------------ */

/* A time member: RFC 3339 UTC, or null for 0 (not yet). */
static void add_time(cJSON *o, const char *key, int64_t ns)
{
	char buf[32];

	if (!ns) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	cs_http_time(ns, buf, sizeof(buf));
	cJSON_AddStringToObject(o, key, buf);
}

#define STATUS_U64(m) CS_HTTP_U64(struct cs_scrub_status, m)
static const struct cs_http_u64 status_counters[] = {
    STATUS_U64(chunks_done), STATUS_U64(chunks_total), STATUS_U64(bytes_done),
    STATUS_U64(bytes_total), STATUS_U64(bytes_per_s),  STATUS_U64(damaged)};

static cJSON *status_json(const struct cs_scrub_status *t)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "state", cs_scrub_state_name(t->state));
	cJSON_AddStringToObject(o, "phase", cs_scrub_phase_name(t->phase));
	if (t->volume[0])
		cJSON_AddStringToObject(o, "volume", t->volume);
	else
		cJSON_AddNullToObject(o, "volume");
	cJSON_AddNumberToObject(o, "rate", (double)t->rate);
	add_time(o, "started", t->started_ns);
	add_time(o, "finished", t->finished_ns);
	cJSON_AddNumberToObject(o, "elapsed_s", (double)t->elapsed_ms / 1000.0);
	CS_HTTP_ADD_U64S(o, t, status_counters);
	if (t->state == CS_SCRUB_FAILED) {
		const char *code = strerrorname_np(-t->error);

		cJSON_AddStringToObject(o, "error_code", code ? code : "EIO");
		cJSON_AddStringToObject(o, "message", t->message);
	}
	return o;
}

static int damage_add(void *ctx, const struct cs_scrub_damage *d)
{
	cJSON *o = cJSON_CreateObject(), *files = cJSON_CreateArray();

	cJSON_AddStringToObject(o, "chunk", d->hex);
	cJSON_AddStringToObject(o, "reason", d->reason);
	for (size_t i = 0; i < d->nfiles; i++) {
		const struct cs_scrub_file *f = &d->files[i];
		cJSON *fo = cJSON_CreateObject(), *snaps = cJSON_CreateArray();

		cJSON_AddStringToObject(fo, "volume", f->volume);
		if (f->path)
			cJSON_AddStringToObject(fo, "path", f->path);
		else
			cJSON_AddNullToObject(fo, "path");
		cJSON_AddNumberToObject(fo, "inode", (double)f->inode);
		cJSON_AddBoolToObject(fo, "live", f->live);
		for (size_t j = 0; j < f->nsnapshots; j++)
			cJSON_AddItemToArray(snaps, cJSON_CreateString(f->snapshots[j]));
		cJSON_AddItemToObject(fo, "snapshots", snaps);
		cJSON_AddItemToArray(files, fo);
	}
	cJSON_AddItemToObject(o, "files", files);
	cJSON_AddNumberToObject(o, "files_more", (double)d->files_more);
	cJSON_AddItemToArray(ctx, o);
	return 0;
}

/* The scrub object of @s, with its damage list. */
static cJSON *scrub_json(cs_scrub *s)
{
	struct cs_scrub_status t;
	cJSON *o, *list = cJSON_CreateArray();

	cs_scrub_status(s, &t);
	o = status_json(&t);
	cs_scrub_damage_foreach(s, damage_add, list);
	cJSON_AddNumberToObject(o, "damage_more",
				(double)(t.damaged - (uint64_t)cJSON_GetArraySize(list)));
	cJSON_AddItemToObject(o, "damage", list);
	return o;
}

/* Under sc->lock: the current scrub's object, else the kept summary's
 * (damage null: its list was not kept), else {"state": "none"}. */
static cJSON *current_json(struct cs_api_scrub *sc)
{
	cJSON *o;

	if (sc->cur)
		return scrub_json(sc->cur);
	if (!sc->have_last) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "state", "none");
		return o;
	}
	o = status_json(&sc->last);
	cJSON_AddNullToObject(o, "damage");
	return o;
}

/* ------------------------------------------------------------------ */
/* Requests                                                           */
/* ------------------------------------------------------------------ */

/* The scrub thread ended: log the result, each damaged chunk and its files. */
static int log_damage(void *ctx, const struct cs_scrub_damage *d)
{
	cs_err("scrub: chunk %s is damaged: %s", d->hex, d->reason);
	for (size_t i = 0; i < d->nfiles; i++)
		cs_err("scrub:   used by %s:%s%s (%zu snapshots)", d->files[i].volume,
		       d->files[i].path ? d->files[i].path : "(unnamed inode)",
		       d->files[i].live ? " (live)" : "", d->files[i].nsnapshots);
	return 0;
}

static void on_end(void *ctx, cs_scrub *s)
{
	struct cs_scrub_status t;

	cs_scrub_status(s, &t);
	if (t.state == CS_SCRUB_FAILED)
		cs_err("scrub failed after %llu chunks: %s", (unsigned long long)t.chunks_done,
		       t.message);
	else
		cs_info("scrub %s%s%s: %llu chunks (%llu bytes) read in %.1f s, %llu damaged",
			cs_scrub_state_name(t.state), t.volume[0] ? " of volume " : "", t.volume,
			(unsigned long long)t.chunks_done, (unsigned long long)t.bytes_done,
			(double)t.elapsed_ms / 1000.0, (unsigned long long)t.damaged);
	if (t.damaged)
		cs_scrub_damage_foreach(s, log_damage, NULL);
}

/* One member of the request body: "volume" (a name, or null for the whole
 * store) or "rate" (bytes per second, 0: no limit). */
static int parse_member(struct cs_http_reply *r, const cJSON *it, char *volume, uint64_t *rate)
{
	int err;

	if (!strcmp(it->string, "volume") && cJSON_IsString(it)) {
		err = cs_name_check(it->valuestring);
		if (!err && strchr(it->valuestring, '@'))
			err = -EINVAL;
		if (err)
			return cs_http_fail(r, err,
					    "invalid volume name '%.255s': 1-255 bytes, no '/' or "
					    "'@', not '.' or '..'",
					    it->valuestring);
		snprintf(volume, CS_NAME_MAX + 1, "%s", it->valuestring);
	} else if (!strcmp(it->string, "volume") && cJSON_IsNull(it)) {
		*volume = 0; /* the whole store */
	} else if (!strcmp(it->string, "rate") && cJSON_IsNumber(it) && it->valuedouble >= 0 &&
		   it->valuedouble < 1.8e19 &&
		   it->valuedouble == (double)(uint64_t)it->valuedouble) {
		*rate = (uint64_t)it->valuedouble;
	} else if (!strcmp(it->string, "volume") || !strcmp(it->string, "rate")) {
		return cs_http_fail(r, EINVAL, "field '%s' must be %s", it->string,
				    it->string[0] == 'v'
					? "a volume name"
					: "a non-negative integer (bytes per second)");
	} else {
		return cs_http_fail(r, EINVAL, "unknown field '%.64s'", it->string);
	}
	return 0;
}

/* The request body: none, {} or {"volume": NAME, "rate": BYTES_PER_S}. */
static int parse_start(struct cs_http_reply *r, const struct cs_http_req *q, char *volume,
		       uint64_t *rate)
{
	const cJSON *it;
	cJSON *o = NULL;
	int err;

	*volume = 0;
	*rate = 0;
	if (!q->body || !q->len)
		return 0;
	if ((err = cs_http_body(r, q, &o)))
		return err;
	if (!cJSON_IsObject(o))
		err = cs_http_fail(r, EINVAL, "request body must be a JSON object");
	for (it = err ? NULL : o->child; it && !err; it = it->next)
		err = parse_member(r, it, volume, rate);
	cJSON_Delete(o);
	return err;
}

int cs_api_scrub_post(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	struct cs_api_scrub *sc = api->scrub;
	struct cs_scrub_opts o = {.on_end = on_end};
	char volume[CS_NAME_MAX + 1];
	struct cs_scrub_status t;
	cs_scrub *s = NULL;
	int err;

	if ((err = parse_start(r, q, volume, &o.rate)))
		return err;
	o.volume = volume[0] ? volume : NULL;
	pthread_mutex_lock(&sc->lock);
	if (sc->cur) {
		cs_scrub_status(sc->cur, &t);
		if (t.state == CS_SCRUB_RUNNING) {
			pthread_mutex_unlock(&sc->lock);
			return cs_http_fail(r, EBUSY,
					    "a scrub is already running (%s%s, %llu of %llu "
					    "chunks); cancel it first",
					    t.volume[0] ? "volume " : "the whole store", t.volume,
					    (unsigned long long)t.chunks_done,
					    (unsigned long long)t.chunks_total);
		}
	}
	err = cs_scrub_start(sc->st, &o, &s);
	if (err) {
		pthread_mutex_unlock(&sc->lock);
		return cs_http_fail(r, err, "%s",
				    *cs_last_error() ? cs_last_error() : strerror(-err));
	}
	cs_scrub_free(sc->cur); /* the previous result: it has ended */
	sc->cur = s;
	if (o.rate)
		cs_info("scrub started: %s%s, at most %llu bytes/s",
			o.volume ? "volume " : "the whole store", o.volume ? o.volume : "",
			(unsigned long long)o.rate);
	else
		cs_info("scrub started: %s%s, no rate limit",
			o.volume ? "volume " : "the whole store", o.volume ? o.volume : "");
	cs_http_ok(r, 202, scrub_json(s));
	pthread_mutex_unlock(&sc->lock);
	return 0;
}

int cs_api_scrub_delete(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	struct cs_api_scrub *sc = api->scrub;
	struct cs_scrub_status t;

	pthread_mutex_lock(&sc->lock);
	if (sc->cur)
		cs_scrub_status(sc->cur, &t);
	if (!sc->cur || t.state != CS_SCRUB_RUNNING) {
		pthread_mutex_unlock(&sc->lock);
		return cs_http_fail(r, ENOENT, "no scrub is running");
	}
	cs_scrub_cancel(sc->cur);
	if (cs_scrub_wait(sc->cur, CANCEL_WAIT_MS) < 0)
		cs_warn("scrub: still stopping %d ms after the cancel", CANCEL_WAIT_MS);
	cs_http_ok(r, 200, scrub_json(sc->cur));
	pthread_mutex_unlock(&sc->lock);
	return 0;
}

int cs_api_scrub_get(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	struct cs_api_scrub *sc = api->scrub;

	pthread_mutex_lock(&sc->lock);
	cs_http_ok(r, 200, current_json(sc));
	pthread_mutex_unlock(&sc->lock);
	return 0;
}

cJSON *cs_api_scrub_summary(struct cs_api_scrub *sc)
{
	struct cs_scrub_status t;
	cJSON *o = NULL;

	pthread_mutex_lock(&sc->lock);
	if (sc->cur) {
		cs_scrub_status(sc->cur, &t);
		o = status_json(&t);
	} else if (sc->have_last) {
		o = status_json(&sc->last);
	}
	pthread_mutex_unlock(&sc->lock);
	return o ? o : cJSON_CreateNull();
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                          */
/* ------------------------------------------------------------------ */

int cs_api_scrub_new(cs_store *st, struct cs_api_scrub **out)
{
	struct cs_api_scrub *sc = calloc(1, sizeof(*sc));

	*out = NULL;
	if (!sc)
		return -ENOMEM;
	sc->st = st;
	pthread_mutex_init(&sc->lock, NULL);
	sc->have_last = cs_scrub_last(st, &sc->last) == 0;
	*out = sc;
	return 0;
}

void cs_api_scrub_free(struct cs_api_scrub *sc)
{
	if (!sc)
		return;
	cs_scrub_free(sc->cur); /* cancels a running scrub and joins it */
	pthread_mutex_destroy(&sc->lock);
	free(sc);
}
