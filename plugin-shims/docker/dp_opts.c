/*
 * dp_opts.c - checking the -o options of a Create (see dp_opts.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "cs_client.h"
#include "dp_answer.h"
#include "dp_opts.h"

static int check_compression(struct dp_answer *a, const char *s)
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
	return dp_fail(a, -EINVAL,
		       "invalid value '%.64s' for option 'compression': \"none\", \"zstd\" or "
		       "\"zstd:N\" with N 1..19",
		       s);
}

static int check_from(struct dp_answer *a, const char *s)
{
	char *vol = NULL, *snap = NULL;
	int err = cs_client_split_snapshot(s, &vol, &snap);

	if (err == -ENOMEM)
		return dp_fail(a, err, "out of memory");
	if (err || !snap)
		err =
		    dp_fail(a, -EINVAL,
			    "invalid value '%.300s' for option 'from': VOLUME@SNAPSHOT expected "
			    "(make the snapshot with cstorfs-ctl snapshot create VOLUME@SNAPSHOT)",
			    s);
	free(vol);
	free(snap);
	return err;
}

/* One -o KEY=VALUE; @key is compared without regard to case. */
static int parse_option(struct dp_answer *a, const char *key, const cJSON *val, struct dp_opts *o)
{
	const char *v;
	int err;

	if (!cJSON_IsString(val))
		return dp_fail(a, -EINVAL, "option '%.64s' must have a string value", key);
	v = val->valuestring;
	if (!strcasecmp(key, "compression")) {
		if ((err = check_compression(a, v)))
			return err;
		o->compression = v;
	} else if (!strcasecmp(key, "quota")) {
		if (cs_parse_size(v, &o->quota) < 0)
			return dp_fail(a, -EINVAL,
				       "invalid value '%.64s' for option 'quota': a size such as "
				       "10G, 512M or 1048576 expected",
				       v);
	} else if (!strcasecmp(key, "from")) {
		if ((err = check_from(a, v)))
			return err;
		o->from = v;
	} else {
		return dp_fail(a, -EINVAL,
			       "unknown option '%.64s' (known options: compression=zstd:N|none, "
			       "quota=SIZE, from=VOLUME@SNAPSHOT)",
			       key);
	}
	return cJSON_AddStringToObject(o->given, key, v) ? 0 : dp_fail(a, -ENOMEM, "out of memory");
}

int dp_opts_parse(struct dp_answer *a, const cJSON *req, struct dp_opts *o)
{
	const cJSON *opts = cJSON_GetObjectItem(req, "Opts"), *it;
	char key[72];
	size_t i;
	int err;

	if (!(o->given = cJSON_CreateObject()))
		return dp_fail(a, -ENOMEM, "out of memory");
	if (!opts || cJSON_IsNull(opts))
		return 0;
	if (!cJSON_IsObject(opts))
		return dp_fail(a, -EINVAL, "field 'Opts' must be an object of strings");
	cJSON_ArrayForEach(it, opts)
	{
		snprintf(key, sizeof(key), "%s", it->string ? it->string : "");
		for (i = 0; key[i]; i++)
			key[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] + 32 : key[i]);
		if (cJSON_GetObjectItem(o->given, key))
			return dp_fail(a, -EINVAL, "option '%s' given twice", key);
		if ((err = parse_option(a, key, it, o)))
			return err;
	}
	return 0;
}

void dp_opts_clear(struct dp_opts *o)
{
	cJSON_Delete(o->given);
	memset(o, 0, sizeof(*o));
}
