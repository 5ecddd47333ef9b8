/*
 * dp_answer.c - one VolumeDriver call's answer: the first failure, or the
 * success object (see dp_answer.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cs_client.h"
#include "dp_answer.h"

int dp_fail(struct dp_answer *a, int err, const char *fmt, ...)
{
	va_list ap;

	if (a->err)
		return a->err;
	a->err = err < 0 ? err : -EIO;
	va_start(ap, fmt);
	vsnprintf(a->msg, sizeof(a->msg), fmt, ap);
	va_end(ap);
	return a->err;
}

int dp_fail_call(struct dp_answer *a, struct cs_client *c, int err, const char *what)
{
	const char *m = cs_client_errmsg(c);

	return dp_fail(a, err, "%s: %s", what, m && *m ? m : strerror(-err));
}

void dp_succeed(struct dp_answer *a, cJSON **json)
{
	cJSON_Delete(a->json);
	a->json = *json;
	*json = NULL;
}

void dp_answer_reset(struct dp_answer *a)
{
	cJSON_Delete(a->json);
	memset(a, 0, sizeof(*a));
}
