/*
 * cs_api.h - the control API server of cstorfsd: HTTP/1.1 + JSON on the
 * daemon's unix socket (docs/interfaces.md lists every endpoint), served by
 * libmicrohttpd with one thread per connection. It owns the table of FUSE
 * sessions (one per mount) and is the only place where requests are
 * validated and errnos become HTTP statuses and JSON error objects.
 * cs_api.c holds its route table; the HTTP plumbing, the session table and
 * one module per resource are under fs/api/.
 *
 * It does not bind the socket, detach or handle signals: cstorfsd's main
 * does, and hands the listening socket in.
 */
#ifndef CS_API_H
#define CS_API_H

#include "cs_store.h"

#define CS_VERSION "0.1.0"

struct cs_api;

/*
 * cs_api_start - serve the control API for @st on @listen_fd (a bound,
 * listening AF_UNIX stream socket; the server takes it over and closes it
 * in cs_api_free). When a client asks the daemon to stop (POST
 * /v1/daemon/stop), one byte is written to @stop_fd once the answer has
 * been sent; the caller then shuts down as on SIGTERM.
 * Returns 0 and *@out (caller owns; cs_api_free).
 * Errors: -ENOMEM; -EIO the HTTP server failed to start.
 */
int cs_api_start(cs_store *st, int listen_fd, int stop_fd, struct cs_api **out);

/* Stop answering requests: closes the socket, waits for the requests in
 * progress to finish. Idempotent. Sessions stay mounted. */
void cs_api_stop(struct cs_api *api);

/* Stop the server if needed, then end every session (flush and unmount,
 * one log line each) and free everything. NULL does nothing. The store is
 * left open for the caller to close. */
void cs_api_free(struct cs_api *api);

#endif /* CS_API_H */
