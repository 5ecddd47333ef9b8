/*
 * cs_par.c - one call per index on a few threads (cs_par.h).
 *
 * Threads made for each run, not a pool: a run is a batch of cluster round
 * trips (hundreds to thousands of them), so the few creations are noise,
 * and nothing lives on between runs to be shut down.
 */
#include <pthread.h>
#include <stdio.h>

#include "cs_par.h"
#include "cs_priv.h"

struct par {
	size_t n, next;
	int (*fn)(void *ctx, size_t i);
	void *ctx;
	pthread_mutex_t mu; /* next, rc, msg */
	int rc;             /* the first error: the rest stop */
	char msg[512];      /* its message (cs_last_error is per thread) */
};

static void *par_worker(void *arg)
{
	struct par *p = arg;

	for (;;) {
		size_t i;
		int rc;

		pthread_mutex_lock(&p->mu);
		i = p->rc ? p->n : p->next++;
		pthread_mutex_unlock(&p->mu);
		if (i >= p->n)
			return NULL;
		rc = p->fn(p->ctx, i);
		pthread_mutex_lock(&p->mu);
		if (rc && !p->rc) {
			p->rc = rc;
			snprintf(p->msg, sizeof(p->msg), "%s", cs_last_error());
		}
		pthread_mutex_unlock(&p->mu);
	}
}

int cs_par_each(size_t n, unsigned threads, int (*fn)(void *ctx, size_t i), void *ctx)
{
	struct par p = {.n = n, .fn = fn, .ctx = ctx};
	pthread_t t[CS_PAR_MAX];
	unsigned nt = 0;

	if (threads > CS_PAR_MAX)
		threads = CS_PAR_MAX;
	pthread_mutex_init(&p.mu, NULL);
	/* one thread for a single call: it may as well be this one */
	while (n > 1 && nt < threads && nt < n && !pthread_create(&t[nt], NULL, par_worker, &p))
		nt++;
	if (nt == 0)
		par_worker(&p);
	while (nt > 0)
		pthread_join(t[--nt], NULL);
	pthread_mutex_destroy(&p.mu);
	return p.rc ? cs_fail(p.rc, "%s", p.msg) : 0;
}
