/*
 * cs_client_csi.c - the client calls the CSI plugin adds (see
 * cs_client_csi.h). Kept apart from cs_client_calls.c so the typed calls
 * every shim shares stay as they are; both use the request plumbing of
 * cs_client_int.h.
 */
#include <errno.h>

#include "cs_client_csi.h"
#include "cs_client_int.h"

int cs_client_status(struct cs_client *c, cJSON **out)
{
	return cs_client_request(c, "GET", "/v1/status", NULL, 0, out);
}

int cs_client_volume_set_quota(struct cs_client *c, const char *name, uint64_t quota,
			       cJSON **out)
{
	cJSON *body = cJSON_CreateObject();
	int r;

	if (out)
		*out = NULL;
	if (!body || !cJSON_AddNumberToObject(body, "quota", (double)quota)) {
		cJSON_Delete(body);
		csc_set_err(c, "out of memory");
		return -ENOMEM;
	}
	r = csc_request_path(c, "PATCH", csc_volume_path(name, NULL), body, out);
	cJSON_Delete(body);
	return r;
}
