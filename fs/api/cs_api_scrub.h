/*
 * cs_api_scrub.h - the control API's scrub resource (/v1/scrub, and the
 * "scrub" member of GET /v1/status): one scrub at a time per daemon, run
 * by the store library's scrub thread (cs_scrub_*), its result kept until
 * the next one starts. docs/interfaces.md lists the requests and answers.
 *
 * The control API (cs_api.c) owns one struct cs_api_scrub (api->scrub),
 * routes /v1/scrub to the handlers below and frees it before the store
 * closes.
 */
#ifndef CS_API_SCRUB_H
#define CS_API_SCRUB_H

#include <cjson/cJSON.h>

#include "cs_api_int.h"

struct cs_api_scrub;

/* The scrub resource of @st, with the summary of the last scrub the store
 * kept (if any). Returns 0 and *@out (cs_api_scrub_free). Errors: -ENOMEM. */
int cs_api_scrub_new(cs_store *st, struct cs_api_scrub **out);

/* Cancel a running scrub, wait for its thread, free. NULL does nothing. */
void cs_api_scrub_free(struct cs_api_scrub *sc);

/*
 * Handlers (cs_api_handler):
 *   POST    start a scrub (body, optional: {"volume"?, "rate"?}): 202 the
 *           scrub object; 409 EBUSY one runs; 404 ENOENT no such volume;
 *           400 EINVAL bad body;
 *   GET     200 the running or last scrub ({"state": "none"} when none ran);
 *   DELETE  cancel the running scrub: 200 the scrub object once it stopped;
 *           404 ENOENT none runs.
 */
cs_api_handler cs_api_scrub_post;
cs_api_handler cs_api_scrub_get;
cs_api_handler cs_api_scrub_delete;

/* The scrub object without its damage list, for GET /v1/status; JSON null
 * when no scrub ever ran on the store. Caller owns it. */
cJSON *cs_api_scrub_summary(struct cs_api_scrub *sc);

#endif /* CS_API_SCRUB_H */
