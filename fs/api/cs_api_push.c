/*
 * cs_api_push.c - pushed copies over the control API (see cs_api_push.h).
 *
 * Each request runs in its connection's own thread for as long as the
 * store's call takes (a push marks every chunk it names, one round trip
 * each); clients give these requests a long timeout. A pulled volume is
 * a volume as any other; a deleted copy frees nothing of this store's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_api_push.h"
#include "cs_log.h"
#include "cs_push.h"

static const char *const state_names[] = {"?", "complete", "pending", "deleting"};

static cJSON *pushed_json(const struct cs_pushed *p)
{
	cJSON *o = cJSON_CreateObject();
	char when[40];

	cs_http_time(p->ctime_ns, when, sizeof(when));
	cJSON_AddStringToObject(o, "name", p->name);
	cJSON_AddStringToObject(o, "volume", p->volume);
	cJSON_AddStringToObject(o, "snapshot", p->snap);
	cJSON_AddStringToObject(o, "base", p->base);
	cJSON_AddNumberToObject(o, "bytes", (double)p->bytes);
	cJSON_AddNumberToObject(o, "chunks", (double)p->chunks);
	cJSON_AddStringToObject(o, "created", when);
	cJSON_AddStringToObject(o, "state", state_names[p->state <= 3 ? p->state : 0]);
	return o;
}

/* POST /v1/push {volume, snapshot, as?, from?} */
int cs_api_push(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	static const char *const fields[] = {"volume", "snapshot", "as", "from", NULL};
	struct cs_push_opts o = {0};
	struct cs_pushed p;
	cJSON *body = NULL;
	int err;

	if ((err = cs_http_body(r, q, &body)) || (err = cs_http_fields(r, body, fields)) ||
	    (err = cs_http_string(r, body, "volume", 1, &o.volume)) ||
	    (err = cs_http_string(r, body, "snapshot", 1, &o.snap)) ||
	    (err = cs_http_string(r, body, "as", 0, &o.name)) ||
	    (err = cs_http_string(r, body, "from", 0, &o.from)))
		goto out;
	err = cs_push(api->st, &o, &p);
	if (err) {
		cs_http_fail_store(r, err, "push");
		goto out;
	}
	cs_info("pushed '%s@%s' as '%s' (%llu bytes, %llu chunks)", o.volume, o.snap, p.name,
		(unsigned long long)p.bytes, (unsigned long long)p.chunks);
	cs_http_ok(r, 201, pushed_json(&p));
out:
	cJSON_Delete(body);
	return err;
}

/* GET /v1/pushed */
int cs_api_pushed_list(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	struct cs_pushed *p = NULL;
	cJSON *root, *arr;
	size_t n = 0;
	int err = cs_pushed_list(api->st, &p, &n);

	(void)q;
	if (err)
		return cs_http_fail_store(r, err, "listing pushed copies");
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "pushed");
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, pushed_json(&p[i]));
	free(p);
	cs_http_ok(r, 200, root);
	return 0;
}

/* DELETE /v1/pushed?name=NAME */
int cs_api_pushed_delete(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	const char *name = cs_http_query(q, "name");
	int err;

	if (!name)
		return cs_http_fail(r, EINVAL, "which pushed copy? (?name=NAME)");
	err = cs_pushed_delete(api->st, name);
	if (err)
		return cs_http_fail_store(r, err, "deleting a pushed copy");
	cs_info("deleted pushed copy '%s'", name);
	cs_http_ok(r, 200, NULL);
	return 0;
}

/* POST /v1/pull {name, volume?} */
int cs_api_pull(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	static const char *const fields[] = {"name", "volume", NULL};
	struct cs_pull_result res;
	const char *name, *volume;
	cJSON *body = NULL, *o;
	int err;

	if ((err = cs_http_body(r, q, &body)) || (err = cs_http_fields(r, body, fields)) ||
	    (err = cs_http_string(r, body, "name", 1, &name)) ||
	    (err = cs_http_string(r, body, "volume", 0, &volume)))
		goto out;
	err = cs_pull(api->st, name, volume, &res);
	if (err) {
		cs_http_fail_store(r, err, "pull");
		goto out;
	}
	cs_info("pulled '%s' into volume '%s' (%llu streams, %llu bytes)", name, res.volume,
		(unsigned long long)res.streams, (unsigned long long)res.bytes);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "volume", res.volume);
	cJSON_AddStringToObject(o, "snapshot", res.snapshot);
	cJSON_AddNumberToObject(o, "streams", (double)res.streams);
	cJSON_AddNumberToObject(o, "bytes", (double)res.bytes);
	cJSON_AddNumberToObject(o, "chunks", (double)res.chunks);
	cs_http_ok(r, 201, o);
out:
	cJSON_Delete(body);
	return err;
}
