/*
 * cs_par.h - run one call per index on a few threads (cs_par.c): for work
 * that waits on a cluster one round trip at a time (marks in a RADOS pool:
 * cs_push.c, cs_adoptq.c), where the waits, not the cores, are the cost.
 */
#ifndef CS_PAR_H
#define CS_PAR_H

#include <stddef.h>

#define CS_PAR_MAX 32 /* threads at most */

/* Run @fn(@ctx, i) for every i in [0, @n) on up to @threads threads (at
 * most CS_PAR_MAX; on this thread alone when none can be made). The first
 * error stops the calls not yet begun (the ones running finish): 0, or
 * that error with its message (cs_last_error). @fn must be safe to call
 * from any thread. */
int cs_par_each(size_t n, unsigned threads, int (*fn)(void *ctx, size_t i), void *ctx);

#endif
