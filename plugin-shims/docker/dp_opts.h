/*
 * dp_opts.h - the -o options of `docker volume create` (the request's
 * "Opts" object): compression=zstd:N|zstd|none, quota=SIZE,
 * from=VOLUME@SNAPSHOT, keys in any letter case. Each value is checked
 * here, so a bad one is refused naming the option before the daemon is
 * asked; anything else is refused naming it.
 *
 * The options as given (keys in lower case) are kept with the volume as
 * the property DP_OPTS_PROP, for Get to show. Not here: creating the
 * volume (dp_ep_change), whether a `from` snapshot exists (the daemon
 * says).
 */
#ifndef DP_OPTS_H
#define DP_OPTS_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "dp_answer.h"

#define DP_OPTS_PROP "docker.opts"

struct dp_opts {
	const char *compression; /* NULL: the daemon's default; borrowed from the request */
	const char *from;	 /* NULL: not a clone; borrowed from the request */
	uint64_t quota;		 /* 0: none */
	cJSON *given;		 /* normalised copy for DP_OPTS_PROP (owned) */
};

/*
 * dp_opts_parse - fill *@o (zeroed by the caller) from the Opts of @req
 * (absent or null: no options). The strings stay @req's.
 * Errors (recorded in @a): -EINVAL for Opts that are not an object, an
 * unknown option, a value that is not a string or not valid, an option
 * given twice (in any letter case); -ENOMEM. Call dp_opts_clear() in any
 * case.
 */
int dp_opts_parse(struct dp_answer *a, const cJSON *req, struct dp_opts *o);

/* dp_opts_clear - free what dp_opts_parse made; *@o is zeroed. */
void dp_opts_clear(struct dp_opts *o);

#endif /* DP_OPTS_H */
