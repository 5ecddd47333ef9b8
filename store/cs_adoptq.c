/*
 * cs_adoptq.c - chunks by name adopted many at once (cs_adoptq.h).
 *
 * An adopt waits on the pool twice (the object's size and head read, then
 * the mark written: cs_rados_conn.c's cs_rados_mark), so one chunk at a
 * time a receive of 16,384 names took 8-11 s, all of it waiting. The
 * adopts of a piece of input are independent (each marks its own object;
 * the chunk store's table of puts in flight is thread-safe, and the same
 * chunk twice is two puts, as it was one after the other), so they go on
 * a few threads over the store's one connection (cs_par.c), which keeps
 * up to CS_ADOPT_THREADS of them in flight.
 *
 * Every guarantee is the one-at-a-time adopt's: a run returns only when
 * every adopt it began has returned, each mark durable when its adopt
 * returned; a failed one (a missing object, a wrong length) fails the run
 * with its message, and the run gives back the marks the others took, so
 * nothing of the piece is staged and nothing holds a mark for it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cs_adoptq.h"
#include "cs_par.h"
#include "cs_priv.h"

int cs_adoptq_add(struct cs_adoptq *q, const uint8_t *hash, uint32_t len, uint32_t raw_len)
{
	struct cs_adopt *a;
	int rc = cs_grow((void **)&q->v, &q->cap, q->n + 1, sizeof(*q->v));

	if (rc)
		return rc;
	a = &q->v[q->n++];
	memcpy(a->hash, hash, CS_HASH_LEN);
	a->len = len;
	a->raw_len = raw_len;
	a->reflen = 0;
	return 0;
}

struct adopting {
	struct cs_chunkstore *cs;
	struct cs_adopt *v;
};

static int adopt_one(void *ctx, size_t i)
{
	struct adopting *g = ctx;
	struct cs_adopt *a = &g->v[i];
	int rc = g->cs->ops->adopt(g->cs, a->hash, a->len, a->raw_len, a->ref);

	if (rc < 0)
		return rc;
	a->reflen = rc; /* only this thread writes v[i] */
	return 0;
}

int cs_adoptq_run(struct cs_chunkstore *cs, struct cs_adoptq *q)
{
	struct adopting g = {cs, q->v};
	int rc = cs_par_each(q->n, CS_ADOPT_THREADS, adopt_one, &g);

	if (rc == 0)
		return 0;
	for (size_t i = 0; i < q->n; i++) /* not named after all */
		if (q->v[i].reflen > 0)
			cs->ops->named(cs, q->v[i].ref, (size_t)q->v[i].reflen, 0);
	q->n = 0;
	return rc;
}

void cs_adoptq_free(struct cs_adoptq *q)
{
	free(q->v);
	q->v = NULL;
	q->n = q->cap = 0;
}
