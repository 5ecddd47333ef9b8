/*
 * dp_http.h - the plugin's HTTP/1.1 server (libmicrohttpd) on a unix
 * socket the caller has bound and listens on. It gathers each request's
 * body (at most DP_HTTP_BODY_MAX bytes; more is read and discarded, then
 * refused), parses it as JSON and hands it to dp_driver_call(). Every
 * answer is a JSON object; a request it cannot read gets {"Err": "..."}.
 * It accepts any Accept and Content-Type (dockerd sends no Content-Type).
 */
#ifndef DP_HTTP_H
#define DP_HTTP_H

#include "dp_driver.h"

#define DP_HTTP_BODY_MAX (1024u * 1024u)

struct dp_http;

/*
 * dp_http_start - serve requests on @listen_fd (taken on success: closed
 * by dp_http_stop; still the caller's on failure) with one thread per
 * connection, answering through @d
 * (borrowed until dp_http_stop). Errors: -ENOMEM; -EIO (libmicrohttpd
 * refused to start).
 */
int dp_http_start(int listen_fd, struct dp_driver *d, struct dp_http **out);

/* Stop serving (waits for requests in progress) and free; NULL is fine. */
void dp_http_stop(struct dp_http *h);

#endif /* DP_HTTP_H */
