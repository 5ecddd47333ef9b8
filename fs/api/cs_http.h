/*
 * cs_http.h - the HTTP plumbing of the control API: a libmicrohttpd server
 * on a listening unix socket (one thread per connection), the state of one
 * request (its peer's credentials, its body gathered up to 1 MiB or handed
 * piece by piece to a consumer), the answer (a JSON object, or a streamed
 * body), and the helpers every resource uses to read a request and to
 * answer it: errno to HTTP status, the error object, JSON body fields,
 * names, query parameters.
 *
 * It knows no resource and no route: the router (cs_api.c) gives it two
 * callbacks, begin (the headers arrived) and answer (the body is complete).
 * It does not bind the socket and starts no thread of its own beyond MHD's.
 *
 * Errors are answered as {"error": {"code": "ENOENT", "errno": 2,
 * "message": "..."}} with the status of cs_http_status().
 */
#ifndef CS_HTTP_H
#define CS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#define CS_HTTP_BODY_MAX (1024u * 1024u) /* a gathered body over this: 413 */
#define CS_HTTP_ARGS 2			 /* path parameters of a route, at most */

struct cs_http;

/* One request, from its headers to its end. */
struct cs_http_req {
	const char *method;
	const char *url; /* the path; read the query with cs_http_query() */
	struct MHD_Connection *conn;
	uid_t uid, gid; /* the peer's credentials (SO_PEERCRED) */
	/* The path parameters of the route, in the order of its pattern; set
	 * by the router for the duration of one call. */
	const char *arg[CS_HTTP_ARGS];
	char *body; /* the gathered body, NUL-terminated; NULL: none */
	size_t len;
	/* Set by begin to take the body as a stream: each piece goes to feed
	 * as it arrives (no size limit) and nothing is gathered. */
	void (*feed)(struct cs_http_req *q, const char *data, size_t len);
	/* Set by begin or by a handler: runs once when the request ends,
	 * answered or not (@toe: MHD's termination code). */
	void (*on_end)(struct cs_http_req *q, int toe);
	void *data; /* what feed and on_end work on; theirs to free */
	int too_large;
};

/* An answer under construction: a JSON object, or a streamed response. */
struct cs_http_reply {
	unsigned status;
	cJSON *json;		     /* owned */
	struct MHD_Response *stream; /* owned; instead of json (a send) */
};

struct cs_http_ops {
	/* The headers of a new request arrived (the peer is allowed). May set
	 * q->feed, q->on_end and q->data. Returns 0, or a negative errno to
	 * drop the connection. */
	int (*begin)(void *ctx, struct cs_http_req *q);
	/* The body is complete: fill @r (status 0 answers 500). */
	void (*answer)(void *ctx, struct cs_http_req *q, struct cs_http_reply *r);
};

/*
 * cs_http_start - serve HTTP on @listen_fd (a bound, listening AF_UNIX
 * stream socket), calling @ops with @ctx. Only root and the daemon's own
 * user may connect (others: 403). On success the server owns @listen_fd.
 * Returns 0 and *@out (cs_http_free). Errors: -ENOMEM; -EIO MHD failed.
 */
int cs_http_start(int listen_fd, const struct cs_http_ops *ops, void *ctx, struct cs_http **out);

/* Stop answering: close the socket, wait for the requests in progress to
 * end, free. NULL does nothing. */
void cs_http_free(struct cs_http *h);

/* ---- answers ---- */

/* The HTTP status of an errno (positive): 400, 403, 404, 409, 413, 507 or
 * 500 (docs/interfaces.md). */
unsigned cs_http_status(int err);

/* Answer an error: @err a positive or negative errno, the message from
 * @fmt. Returns -|@err|, so a handler can `return cs_http_fail(...)`. */
int cs_http_fail(struct cs_http_reply *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An error from the store: its own message (cs_last_error) when it left
 * one, else "@what: strerror". Returns -|@err|. */
int cs_http_fail_store(struct cs_http_reply *r, int err, const char *what);

/* 405 for @method on @q's path. Returns -EINVAL. */
int cs_http_not_allowed(struct cs_http_reply *r, const struct cs_http_req *q);

/* Answer @status with @json (taken over; NULL: {}). */
void cs_http_ok(struct cs_http_reply *r, unsigned status, cJSON *json);

/* @ns (nanoseconds since the epoch) as "YYYY-MM-DDTHH:MM:SSZ" in @buf. */
void cs_http_time(int64_t ns, char *buf, size_t len);

/*
 * A counter of a store struct (a uint64_t member) answered as a JSON
 * number under the member's own name: the answers' counters are tables of
 * these (CS_HTTP_U64), so a name in the API is a name in cs_store.h.
 */
struct cs_http_u64 {
	const char *name;
	size_t off;
};
/* clang-format off */
#define CS_HTTP_U64(type, member) { #member, offsetof(type, member) }
/* clang-format on */

/* Add the @n counters @f of the struct at @s to @o, in table order;
 * CS_HTTP_ADD_U64S: all of the array @tab. */
void cs_http_add_u64s(cJSON *o, const void *s, const struct cs_http_u64 *f, size_t n);
#define CS_HTTP_ADD_U64S(o, s, tab) cs_http_add_u64s(o, s, tab, sizeof(tab) / sizeof((tab)[0]))

/* ---- requests ---- */

/* The request body as JSON: *@out (caller owns, cJSON_Delete), or 400
 * EINVAL (no body, a NUL in a string, malformed). */
int cs_http_body(struct cs_http_reply *r, const struct cs_http_req *q, cJSON **out);

/* 400 EINVAL unless @obj is an object whose members are all in @allowed
 * (NULL-terminated); the message lists the unknown ones. */
int cs_http_fields(struct cs_http_reply *r, const cJSON *obj, const char *const *allowed);

/* Member @key of @obj as a string (borrowed from @obj) in *@out; NULL when
 * absent and not @required. 400 EINVAL when required and absent, or not a
 * string. */
int cs_http_string(struct cs_http_reply *r, const cJSON *obj, const char *key, int required,
		   const char **out);

/* Member @key of @obj as true/false in *@out (0 when absent); 400 EINVAL
 * when it is not a boolean. */
int cs_http_bool(struct cs_http_reply *r, const cJSON *obj, const char *key, int *out);

/* 400 EINVAL / ENAMETOOLONG unless @name is a valid volume or snapshot
 * name (cs_name_check); @what names it in the message. */
int cs_http_name(struct cs_http_reply *r, const char *what, const char *name);

/* Query parameter @key (borrowed), NULL when absent. */
const char *cs_http_query(const struct cs_http_req *q, const char *key);

/* Non-zero when query parameter @key is "1" or "true". */
int cs_http_query_flag(const struct cs_http_req *q, const char *key);

#endif /* CS_HTTP_H */
