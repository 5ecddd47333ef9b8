/*
 * cs_client_calls.c - the typed calls of the control API client (see
 * cs_client.h), by resource: volumes and their properties, mounts,
 * snapshots, scrub. Each builds one request of docs/interfaces.md and
 * sends it with cs_client_request; none starts the daemon.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_client_int.h"

/* ------------------------------------------------------------------ */
/* Volumes and properties                                             */
/* ------------------------------------------------------------------ */

char *csc_volume_path(const char *name, const char *suffix)
{
	char *enc = csc_encode(name, "-._~"), *p = NULL;

	if (!enc)
		return NULL;
	if (asprintf(&p, "/v1/volumes/%s%s", enc, suffix ? suffix : "") < 0)
		p = NULL;
	free(enc);
	return p;
}

int csc_request_path(struct cs_client *c, const char *method, char *path, const cJSON *body,
		     cJSON **out)
{
	int r;

	if (!path) {
		csc_set_err(c, "out of memory");
		return -ENOMEM;
	}
	r = cs_client_request(c, method, path, body, 0, out);
	free(path);
	return r;
}

int cs_client_volume_get(struct cs_client *c, const char *name, cJSON **out)
{
	return csc_request_path(c, "GET", csc_volume_path(name, NULL), NULL, out);
}

int cs_client_volume_list(struct cs_client *c, cJSON **out)
{
	return cs_client_request(c, "GET", "/v1/volumes", NULL, 0, out);
}

int cs_client_volume_create(struct cs_client *c, const char *name, const char *from,
			    const char *compression, uint64_t quota, cJSON **out)
{
	cJSON *body = cJSON_CreateObject();
	int r = -ENOMEM;

	if (out)
		*out = NULL;
	if (!body || !cJSON_AddStringToObject(body, "name", name) ||
	    (from && !cJSON_AddStringToObject(body, "from", from)) ||
	    (compression && !cJSON_AddStringToObject(body, "compression", compression)) ||
	    (quota && !cJSON_AddNumberToObject(body, "quota", (double)quota)))
		goto out;
	r = cs_client_request(c, "POST", "/v1/volumes", body, 0, out);
out:
	cJSON_Delete(body);
	return r;
}

int cs_client_volume_delete(struct cs_client *c, const char *name, int force)
{
	return csc_request_path(c, "DELETE", csc_volume_path(name, force ? "?force=1" : NULL), NULL,
				NULL);
}

/* Take the "props" member out of an answer. */
static int take_props(struct cs_client *c, cJSON *ans, cJSON **out)
{
	cJSON *props = cJSON_DetachItemFromObjectCaseSensitive(ans, "props");

	cJSON_Delete(ans);
	if (!cJSON_IsObject(props)) {
		cJSON_Delete(props);
		csc_set_err(c, "the daemon's answer has no props object");
		return -EPROTO;
	}
	if (out)
		*out = props;
	else
		cJSON_Delete(props);
	return 0;
}

/* GET or PATCH (with @changes) /v1/volumes/NAME/props. */
static int props_call(struct cs_client *c, const char *method, const char *volume,
		      const cJSON *changes, cJSON **out)
{
	cJSON *ans = NULL;
	int r;

	if (out)
		*out = NULL;
	r = csc_request_path(c, method, csc_volume_path(volume, "/props"), changes, &ans);
	return r < 0 ? r : take_props(c, ans, out);
}

int cs_client_props_get(struct cs_client *c, const char *volume, cJSON **out)
{
	return props_call(c, "GET", volume, NULL, out);
}

int cs_client_props_set(struct cs_client *c, const char *volume, const cJSON *changes, cJSON **out)
{
	return props_call(c, "PATCH", volume, changes, out);
}

int cs_client_prop_get(struct cs_client *c, const char *volume, const char *prop, char **value)
{
	cJSON *props = NULL;
	const cJSON *v;
	int r;

	*value = NULL;
	r = cs_client_props_get(c, volume, &props);
	if (r < 0)
		return r;
	v = cJSON_GetObjectItemCaseSensitive(props, prop);
	if (!cJSON_IsString(v)) {
		csc_set_err(c, "volume '%s' has no property '%s'", volume, prop);
		r = -ENOENT;
	} else if (!(*value = strdup(v->valuestring))) {
		r = -ENOMEM;
	}
	cJSON_Delete(props);
	return r;
}

int cs_client_prop_set(struct cs_client *c, const char *volume, const char *prop, const char *value)
{
	cJSON *body = cJSON_CreateObject();
	int r = -ENOMEM;

	if (!body)
		return r;
	if (value ? cJSON_AddStringToObject(body, prop, value) != NULL
		  : cJSON_AddNullToObject(body, prop) != NULL)
		r = cs_client_props_set(c, volume, body, NULL);
	cJSON_Delete(body);
	return r;
}

/* ------------------------------------------------------------------ */
/* Mounts                                                             */
/* ------------------------------------------------------------------ */

int cs_client_mount(struct cs_client *c, const char *volume, const char *mountpoint,
		    const char *options, unsigned flags, cJSON **out)
{
	cJSON *body = cJSON_CreateObject();
	char *opts = NULL;
	int r = -ENOMEM;

	if (out)
		*out = NULL;
	if (flags & CS_CLIENT_MOUNT_RDONLY) {
		if (asprintf(&opts, "%s%sro", options && *options ? options : "",
			     options && *options ? "," : "") < 0) {
			opts = NULL;
			goto out;
		}
		options = opts;
	}
	if (!body || !cJSON_AddStringToObject(body, "volume", volume) ||
	    !cJSON_AddStringToObject(body, "mountpoint", mountpoint) ||
	    (options && *options && !cJSON_AddStringToObject(body, "options", options)) ||
	    ((flags & CS_CLIENT_MOUNT_SHARED) && !cJSON_AddTrueToObject(body, "shared")))
		goto out;
	r = cs_client_request(c, "POST", "/v1/mounts", body, 0, out);
out:
	free(opts);
	cJSON_Delete(body);
	return r;
}

int cs_client_unmount(struct cs_client *c, const char *mountpoint, int missing_ok)
{
	char *enc = cs_client_urlencode(mountpoint), *path = NULL;
	int r;

	if (!enc || asprintf(&path, "/v1/mounts?mountpoint=%s", enc) < 0) {
		free(enc);
		return -ENOMEM;
	}
	free(enc);
	r = cs_client_request(c, "DELETE", path, NULL, 0, NULL);
	free(path);
	if (r == -ENOENT && missing_ok) {
		c->errmsg[0] = '\0';
		r = 0;
	}
	return r;
}

int cs_client_mount_list(struct cs_client *c, cJSON **out)
{
	return cs_client_request(c, "GET", "/v1/mounts", NULL, 0, out);
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                          */
/* ------------------------------------------------------------------ */

static char *snap_path(const char *volume, const char *snap)
{
	char *enc = cs_client_urlencode(snap ? snap : ""), *sfx = NULL, *p;

	if (!enc)
		return NULL;
	/* urlencode keeps '/', which a valid snapshot name never has. */
	if (asprintf(&sfx, "/snapshots%s%s", snap ? "/" : "", enc) < 0)
		sfx = NULL;
	free(enc);
	if (!sfx)
		return NULL;
	p = csc_volume_path(volume, sfx);
	free(sfx);
	return p;
}

int cs_client_snapshot_list(struct cs_client *c, const char *volume, cJSON **out)
{
	return csc_request_path(c, "GET", snap_path(volume, NULL), NULL, out);
}

int cs_client_snapshot_create(struct cs_client *c, const char *volume, const char *snap,
			      cJSON **out)
{
	cJSON *body = cJSON_CreateObject();
	int r = -ENOMEM;

	if (out)
		*out = NULL;
	if (body && cJSON_AddStringToObject(body, "name", snap))
		r = csc_request_path(c, "POST", snap_path(volume, NULL), body, out);
	cJSON_Delete(body);
	return r;
}

int cs_client_snapshot_delete(struct cs_client *c, const char *volume, const char *snap)
{
	return csc_request_path(c, "DELETE", snap_path(volume, snap), NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* Scrub                                                              */
/* ------------------------------------------------------------------ */

int cs_client_scrub_start(struct cs_client *c, const char *volume, uint64_t rate, cJSON **out)
{
	cJSON *body = cJSON_CreateObject();
	int r = -ENOMEM;

	if (out)
		*out = NULL;
	if (body && (!volume || cJSON_AddStringToObject(body, "volume", volume)) &&
	    cJSON_AddNumberToObject(body, "rate", (double)rate))
		r = cs_client_request(c, "POST", "/v1/scrub", body, 0, out);
	cJSON_Delete(body);
	return r;
}

int cs_client_scrub_status(struct cs_client *c, cJSON **out)
{
	return cs_client_request(c, "GET", "/v1/scrub", NULL, 0, out);
}

int cs_client_scrub_cancel(struct cs_client *c, cJSON **out)
{
	return cs_client_request(c, "DELETE", "/v1/scrub", NULL, 0, out);
}
