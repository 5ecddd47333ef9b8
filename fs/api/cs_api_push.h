/*
 * cs_api_push.h - the control API's pushed copies (issue 15 item 4): push
 * a snapshot's stream into the pool of the store's chunks (POST /v1/push),
 * list what the pool holds (GET /v1/pushed), remove a copy (DELETE
 * /v1/pushed?name=NAME), pull one into a volume (POST /v1/pull);
 * docs/interfaces.md lists the fields and answers. The work is the
 * store's (store/cs_push.h); the route table is in cs_api.c.
 */
#ifndef CS_API_PUSH_H
#define CS_API_PUSH_H

#include "cs_api_int.h"

cs_api_handler cs_api_push;
cs_api_handler cs_api_pushed_list;
cs_api_handler cs_api_pushed_delete;
cs_api_handler cs_api_pull;

#endif /* CS_API_PUSH_H */
