/*
 * cs_api_streams.h - the control API's replication streams: send a
 * snapshot (or the difference from a base) as a streamed response body
 * (GET /v1/volumes/NAME/send), receive one as a streamed request body into
 * a volume (POST /v1/volumes/NAME/receive), and the partial receive a cut
 * stream leaves (.../receive/token to resume it, DELETE .../receive to drop
 * it); docs/interfaces.md lists the query parameters and answers.
 *
 * The stream format and its checks are the store's (cs_send, cs_recv_*);
 * this module moves bytes between them and HTTP. The route table is in
 * cs_api.c.
 */
#ifndef CS_API_STREAMS_H
#define CS_API_STREAMS_H

#include "cs_api_int.h"

/* Handlers (cs_api_handler): q->arg[0] the volume. */
cs_api_handler cs_api_send;
cs_api_handler cs_api_receive; /* the answer, once the body ended */
cs_api_handler cs_api_receive_token;
cs_api_handler cs_api_receive_abort;

/* The body of POST .../receive (cs_api_body_begin): starts the receive
 * when the headers arrive; each piece of the body is fed to it as it
 * arrives. */
cs_api_body_begin cs_api_receive_begin;

#endif /* CS_API_STREAMS_H */
