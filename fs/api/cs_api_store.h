/*
 * cs_api_store.h - the control API's resources about the store as a whole:
 * the daemon's status (GET /v1/status: the daemon, its mounts, the store's
 * statistics and health, the last scrub), garbage collection (POST /v1/gc,
 * and the background gc thread that runs it after snapshots and volumes
 * go and gives back the disk space of deleted chunks), and the consistency
 * check (POST /v1/check); docs/interfaces.md lists the answers.
 *
 * The scrub has its own module (cs_api_scrub.c); the route table is in
 * cs_api.c.
 */
#ifndef CS_API_STORE_H
#define CS_API_STORE_H

#include "cs_api_int.h"

cs_api_handler cs_api_status_get;
cs_api_handler cs_api_gc_post;
cs_api_handler cs_api_check_post;

struct cs_api_gc;

/* The background gc of @st, its thread started. Returns 0 and *@out
 * (cs_api_gc_free). Errors: -ENOMEM; pthread_create's. */
int cs_api_gc_new(cs_store *st, struct cs_api_gc **out);

/* Stop the gc thread (after the cs_gc run in progress, if any), free.
 * NULL does nothing. */
void cs_api_gc_free(struct cs_api_gc *gc);

/* Ask the gc thread to run cs_gc() a moment from now (after a snapshot,
 * a volume or a clone's origin went). */
void cs_api_gc_schedule(struct cs_api_gc *gc);

#endif /* CS_API_STORE_H */
