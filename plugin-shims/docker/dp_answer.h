/*
 * dp_answer.h - the answer to one VolumeDriver call, as its handler fills
 * it: a success object, or the first failure (a negative errno and a
 * message, which dp_driver_call() sends as {"Err": "message"}).
 *
 * Not here: the HTTP status (dp_driver chooses it), reading the request
 * (dp_req), any I/O. An answer belongs to one call and one thread.
 */
#ifndef DP_ANSWER_H
#define DP_ANSWER_H

#include <cjson/cJSON.h>

struct cs_client;

struct dp_answer {
	cJSON *json; /* success object (NULL: {}) */
	int err;     /* 0 or a negative errno */
	char msg[1024];
};

/*
 * dp_fail - record a failure: @err (negative; anything else becomes -EIO)
 * with the printf-formatted message. The first failure wins: a later call
 * changes nothing. Returns the recorded errno (negative), so a handler can
 * `return dp_fail(...)`.
 */
int dp_fail(struct dp_answer *a, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * dp_fail_call - dp_fail() for the daemon call on @c that just returned
 * @err: the message is "@what: " and the daemon's own message (or
 * strerror(-@err) when it gave none). Returns as dp_fail().
 */
int dp_fail_call(struct dp_answer *a, struct cs_client *c, int err, const char *what);

/* dp_succeed - make *@json the success object: @a takes it (replacing any
 * earlier one) and *@json becomes NULL. */
void dp_succeed(struct dp_answer *a, cJSON **json);

/* dp_answer_reset - forget everything recorded (to run a handler again). */
void dp_answer_reset(struct dp_answer *a);

#endif /* DP_ANSWER_H */
