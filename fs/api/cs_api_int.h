/*
 * cs_api_int.h - what the control API's resource modules share: the
 * server's state (struct cs_api, one per daemon, made by cs_api_start in
 * cs_api.c) and the shape of a route's handler. Only fs/cs_api.c and
 * fs/api/cs_api_*.c include it; the HTTP plumbing (cs_http), the session
 * table (cs_mounts) and the store know nothing of it.
 */
#ifndef CS_API_INT_H
#define CS_API_INT_H

#include <time.h>

#include "cs_http.h"
#include "cs_store.h"

struct cs_api {
	cs_store *st;
	struct cs_http *http;	    /* NULL once stopped */
	struct cs_mounts *mounts;   /* the FUSE sessions (cs_mounts.c) */
	struct cs_api_gc *gc;	    /* background gc (cs_api_store.c) */
	struct cs_api_scrub *scrub; /* /v1/scrub (cs_api_scrub.c) */
	int stop_fd;		    /* POST /v1/daemon/stop writes a byte here */
	time_t started;
};

/*
 * A route's handler: answer @q in @r (always: a status and a JSON object,
 * or a streamed response). Path parameters are in q->arg[], in the order
 * of the route's pattern. Returns 0 or the negative errno it answered.
 */
typedef int cs_api_handler(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r);

/*
 * A route that takes its body as a stream: called when the headers arrive
 * (q->arg[] set as for the handler) to set q->feed, q->on_end and q->data.
 * Returns 0, or -ENOMEM to drop the connection.
 */
typedef int cs_api_body_begin(struct cs_api *api, struct cs_http_req *q);

#endif /* CS_API_INT_H */
