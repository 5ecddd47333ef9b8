/*
 * dp_req.h - the fields of a VolumeDriver request (the JSON body dockerd
 * sends): strings looked up in any letter case, the volume Name (present
 * and a valid cstorfs volume name) and the mount ID. A bad field fails the
 * call's answer with a message that names the field.
 *
 * Not here: the -o options of Create (dp_opts), anything that asks the
 * daemon.
 */
#ifndef DP_REQ_H
#define DP_REQ_H

#include <cjson/cJSON.h>

#include "dp_answer.h"

/* The longest volume name, in bytes. */
#define DP_NAME_MAX 255

/*
 * dp_req_string - field @key of @req (compared in any letter case) into
 * *@out: its string (borrowed from @req), or NULL when absent or null.
 * Errors: -EINVAL (recorded in @a) when the field is of another type.
 */
int dp_req_string(struct dp_answer *a, const cJSON *req, const char *key, const char **out);

/*
 * dp_req_name - the request's Name into *@name (borrowed from @req).
 * Errors (recorded in @a): -EINVAL when it is missing, not a string,
 * empty, "." or "..", or holds '/' or '@'; -ENAMETOOLONG over DP_NAME_MAX.
 */
int dp_req_name(struct dp_answer *a, const cJSON *req, const char **name);

/*
 * dp_req_id - the request's mount ID into *@id (borrowed from @req): ""
 * when absent, null or empty (the ID-less holder, see dp_refs.h).
 * Errors: -EINVAL (recorded in @a) when it is not a string.
 */
int dp_req_id(struct dp_answer *a, const cJSON *req, const char **id);

#endif /* DP_REQ_H */
