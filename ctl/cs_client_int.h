/*
 * cs_client_int.h - what the files of the control API client share and its
 * callers never see: the client object and the request plumbing.
 *
 *   cs_client.c         store directory, the client object, requests, ping
 *   cs_client_daemon.c  starting the daemon when none answers
 *   cs_client_calls.c   the typed calls (volumes, properties, mounts,
 *                       snapshots, scrub)
 *   cs_client_stream.c  replication streams (send, receive)
 *   cs_client_text.c    sizes, names, URL encoding, exit codes, messages
 *
 * Not installed, not part of the API: cs_client.h is.
 */
#ifndef CS_CLIENT_INT_H
#define CS_CLIENT_INT_H

#include <curl/curl.h>

#include "cs_client.h"

#define CS_SOCKET_NAME "cstorfsd.sock"
#define CS_RESPONSE_MAX (64u << 20) /* refuse answers larger than this */

struct cs_client {
	char *store;
	char *sock;
	CURL *curl;
	char errmsg[1024];
};

/* An answer gathered in memory, at most CS_RESPONSE_MAX bytes. */
struct membuf {
	char *data;
	size_t len;
	int overflow; /* the answer was larger: the transfer was stopped */
};

/* Keep a message for cs_client_errmsg(). */
void csc_set_err(struct cs_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The monotonic clock in seconds. */
double csc_now(void);

/* A libcurl write callback appending to the struct membuf @ud. */
size_t csc_membuf_write(char *ptr, size_t size, size_t nmemb, void *ud);

/* Map an error answer (HTTP @status, body @json, may be NULL) onto a
 * negative errno and keep its message. Never CS_CLIENT_EUNREACHABLE. */
int csc_parse_error(struct cs_client *c, long status, cJSON *json);

/* Map a failed transfer onto a negative errno and keep a message. */
int csc_curl_failure(struct cs_client *c, CURLcode rc);

/* @s percent-encoded, every byte but letters, digits and those in @keep.
 * Returns a malloc'd string or NULL on ENOMEM. */
char *csc_encode(const char *s, const char *keep);

/* "/v1/volumes/NAME" + @suffix (may be NULL), NAME percent-encoded ('/'
 * too, so a bad name cannot change the path). Malloc'd, NULL on ENOMEM. */
char *csc_volume_path(const char *name, const char *suffix);

/* cs_client_request with the default timeout on @path, which it frees
 * (NULL: -ENOMEM, from a failed path builder). */
int csc_request_path(struct cs_client *c, const char *method, char *path, const cJSON *body,
		     cJSON **out);

#endif /* CS_CLIENT_INT_H */
