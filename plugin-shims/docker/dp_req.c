/*
 * dp_req.c - reading a VolumeDriver request's fields (see dp_req.h).
 */
#include <errno.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dp_answer.h"
#include "dp_req.h"

int dp_req_string(struct dp_answer *a, const cJSON *req, const char *key, const char **out)
{
	const cJSON *it = cJSON_GetObjectItem(req, key); /* case-insensitive */

	*out = NULL;
	if (!it || cJSON_IsNull(it))
		return 0;
	if (!cJSON_IsString(it))
		return dp_fail(a, -EINVAL, "field '%s' must be a string", key);
	*out = it->valuestring;
	return 0;
}

static int check_name(struct dp_answer *a, const char *name)
{
	size_t n = strlen(name);

	if (n == 0)
		return dp_fail(a, -EINVAL, "invalid volume name: it is empty");
	if (n > DP_NAME_MAX)
		return dp_fail(a, -ENAMETOOLONG,
			       "invalid volume name: %zu bytes, at most %d allowed", n,
			       DP_NAME_MAX);
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return dp_fail(a, -EINVAL, "invalid volume name '%s': reserved", name);
	if (strchr(name, '/'))
		return dp_fail(a, -EINVAL, "invalid volume name '%s': it contains '/'", name);
	if (strchr(name, '@'))
		return dp_fail(a, -EINVAL,
			       "invalid volume name '%s': it contains '@' (VOLUME@SNAPSHOT names a "
			       "snapshot)",
			       name);
	return 0;
}

int dp_req_name(struct dp_answer *a, const cJSON *req, const char **name)
{
	int err = dp_req_string(a, req, "Name", name);

	if (err)
		return err;
	if (!*name)
		return dp_fail(a, -EINVAL, "missing field 'Name' (the volume name)");
	return check_name(a, *name);
}

int dp_req_id(struct dp_answer *a, const cJSON *req, const char **id)
{
	int err = dp_req_string(a, req, "ID", id);

	if (!err && !*id)
		*id = "";
	return err;
}
