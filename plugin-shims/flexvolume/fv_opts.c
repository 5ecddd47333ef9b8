/*
 * fv_opts.c - decode and check kubelet's mount options (see fv_opts.h).
 * Pure: no I/O beyond the caller's buffers, so every branch is testable
 * through the driver's `mount` call.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "cs_client.h"
#include "fv_opts.h"

/* A message for a bad option: names the key, never the value. */
#define BAD(...) (snprintf(msg, msglen, __VA_ARGS__), -EINVAL)

static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n--)
		*v++ = 0;
}

/* Valid padded or unpadded standard base64 (RFC 4648 section 4), also with
 * the URL-safe alphabet; whitespace is not allowed. */
static int base64_valid(const char *s)
{
	size_t n = 0, pad = 0;

	for (; *s; s++, n++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '=') {
			pad++;
			continue;
		}
		if (pad)
			return 0;
		if (!isalnum(ch) && ch != '+' && ch != '/' && ch != '-' && ch != '_')
			return 0;
	}
	if (pad > 2)
		return 0;
	if (pad)
		return n % 4 == 0;
	return n % 4 != 1;
}

static int copy_opt(char *dst, size_t cap, const char *key, const char *val, char *msg,
		    size_t msglen)
{
	if (strlen(val) >= cap)
		return BAD("option '%s' is too long (at most %zu bytes)", key, cap - 1);
	strcpy(dst, val);
	return 0;
}

static int parse_bool(const char *key, const char *val, int *out, char *msg, size_t msglen)
{
	if (!strcasecmp(val, "true") || !strcasecmp(val, "yes") || !strcmp(val, "1")) {
		*out = 1;
		return 0;
	}
	if (!*val || !strcasecmp(val, "false") || !strcasecmp(val, "no") || !strcmp(val, "0")) {
		*out = 0;
		return 0;
	}
	return BAD("option '%s' must be \"true\" or \"false\"", key);
}

/* "VOL@SNAP" with both parts valid names. */
static int parse_snapref(const char *key, const char *val, char *msg, size_t msglen)
{
	const char *at = strchr(val, '@');
	char vol[512];

	if (!at || at == val || !at[1] || strchr(at + 1, '@') || (size_t)(at - val) >= sizeof(vol))
		return BAD("option '%s' must be VOLUME@SNAPSHOT", key);
	memcpy(vol, val, (size_t)(at - val));
	vol[at - val] = '\0';
	if (cs_client_name_check(vol) || cs_client_name_check(at + 1))
		return BAD("option '%s' must be VOLUME@SNAPSHOT with valid names "
			   "(no '/', not '.' or '..', at most 255 bytes)",
			   key);
	return 0;
}

static int parse_volume(struct fv_opts *o, const char *val, char *msg, size_t msglen)
{
	int err;

	if (!*val)
		return BAD("option 'volume' is empty: name the cstorfs volume to mount");
	if (strchr(val, '@')) {
		if ((err = parse_snapref("volume", val, msg, msglen)))
			return err;
		o->snapshot = 1;
	} else if (cs_client_name_check(val)) {
		return BAD("option 'volume' is not a valid volume name (1-255 bytes, no '/', "
			   "not '.' or '..')");
	}
	return copy_opt(o->volume, sizeof(o->volume), "volume", val, msg, msglen);
}

static int parse_gid(const char *key, const char *val, struct fv_opts *o, char *msg, size_t msglen)
{
	unsigned long long g;
	char *end;

	if (!*val)
		return 0;
	errno = 0;
	g = strtoull(val, &end, 10);
	if (!isdigit((unsigned char)val[0]) || *end || errno || g >= 0xffffffffULL)
		return BAD("option '%s' must be a numeric group id", key);
	o->have_fsgroup = 1;
	o->fsgroup = (gid_t)g;
	return 0;
}

/* One key of the object. The older fsGroup key only counts when the newer
 * one is absent or empty (@saw_mounter). */
static int parse_key(struct fv_opts *o, const char *key, const char *val, int saw_mounter,
		     char *msg, size_t msglen)
{
	int err = 0;

	if (!strncmp(key, FV_SECRET_PREFIX, strlen(FV_SECRET_PREFIX))) {
		if (!base64_valid(val))
			return BAD("secret '%.128s' is not valid base64 (kubelet passes secrets "
				   "base64-encoded; check the Secret named in secretRef)",
				   key + strlen(FV_SECRET_PREFIX));
		o->secrets++;
	} else if (!strcmp(key, "volume")) {
		err = parse_volume(o, val, msg, msglen);
	} else if (!strcmp(key, "create")) {
		err = parse_bool(key, val, &o->create, msg, msglen);
	} else if (!strcmp(key, "from")) {
		if (*val && !(err = parse_snapref(key, val, msg, msglen)))
			err = copy_opt(o->from, sizeof(o->from), key, val, msg, msglen);
	} else if (!strcmp(key, "compression")) {
		err = copy_opt(o->compression, sizeof(o->compression), key, val, msg, msglen);
	} else if (!strcmp(key, "quota")) {
		if (*val && cs_parse_size(val, &o->quota))
			return BAD("option 'quota' must be a size such as 10G or 1048576");
		o->have_quota = *val != '\0';
	} else if (!strcmp(key, "kubernetes.io/readwrite")) {
		if (strcmp(val, "ro") && strcmp(val, "rw") && *val)
			return BAD("option 'kubernetes.io/readwrite' must be \"ro\" or \"rw\"");
		o->readonly = !strcmp(val, "ro");
	} else if (!strcmp(key, "kubernetes.io/mounterArgs.FsGroup")) {
		err = parse_gid(key, val, o, msg, msglen);
	} else if (!strcmp(key, "kubernetes.io/fsGroup")) {
		if (!saw_mounter)
			err = parse_gid(key, val, o, msg, msglen);
	}
	return err;
}

static void note_pod(struct fv_opts *o, const cJSON *obj)
{
	const cJSON *ns = cJSON_GetObjectItemCaseSensitive(obj, "kubernetes.io/pod.namespace");
	const cJSON *nm = cJSON_GetObjectItemCaseSensitive(obj, "kubernetes.io/pod.name");

	if (cJSON_IsString(ns) && cJSON_IsString(nm))
		snprintf(o->pod, sizeof(o->pod), "%.120s/%.120s", ns->valuestring, nm->valuestring);
}

/* Zero every string value in the tree (the secrets among them). */
static void wipe_values(cJSON *obj)
{
	cJSON *it;

	cJSON_ArrayForEach(it, obj)
	{
		if (cJSON_IsString(it) && it->valuestring)
			wipe(it->valuestring, strlen(it->valuestring));
	}
}

int fv_opts_parse(char *text, struct fv_opts *o, char *msg, size_t msglen)
{
	const cJSON *it, *mounter;
	cJSON *obj = NULL;
	int saw_mounter = 0, err = 0;

	memset(o, 0, sizeof(*o));
	obj = cJSON_Parse(text);
	wipe(text, strlen(text));
	if (!obj || !cJSON_IsObject(obj)) {
		err = BAD("the options argument is not a JSON object (kubelet passes one "
			  "object of strings; check the flexVolume options in the pod spec)");
		goto out;
	}
	/* The newer fsGroup key wins wherever it sits in the object. */
	mounter = cJSON_GetObjectItemCaseSensitive(obj, "kubernetes.io/mounterArgs.FsGroup");
	if (cJSON_IsString(mounter) && mounter->valuestring[0])
		saw_mounter = 1;
	cJSON_ArrayForEach(it, obj)
	{
		if (!it->string)
			continue;
		if (!cJSON_IsString(it)) {
			err = BAD("option '%.128s' must be a string (quote it in the pod spec)",
				  it->string);
			goto out;
		}
		if ((err = parse_key(o, it->string, it->valuestring, saw_mounter, msg, msglen)))
			goto out;
	}
	if (!o->volume[0]) {
		err = BAD("the flexVolume options have no 'volume': name the cstorfs volume to "
			  "mount, e.g. options: {volume: \"web\", create: \"true\"}");
		goto out;
	}
	if (o->from[0])
		o->create = 1;
	if (o->snapshot) {
		if (o->create) {
			err = BAD("option 'volume' names a snapshot (VOLUME@SNAPSHOT), which "
				  "cannot be created here: drop 'create'/'from', or use 'from' "
				  "to clone it into a new volume");
			goto out;
		}
		o->readonly = 1;
	}
	note_pod(o, obj);
out:
	if (obj)
		wipe_values(obj);
	cJSON_Delete(obj);
	return err;
}
