/*
 * cs_scrubmap.h - what a scrub's two halves share (store-private): the
 * scrub handle, its damage list, and the mapping of damaged chunks to the
 * files and snapshots that use them (cs_scrubmap.c). cs_scrub.c reads the
 * chunks, runs the thread and answers the public calls (cs_scrub.h).
 */
#ifndef CS_SCRUBMAP_H
#define CS_SCRUBMAP_H

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "cs_priv.h"

/* One file using a damaged chunk (the public struct plus what owns it). */
struct use {
	struct cs_scrub_file f; /* strings malloc'd; f.snapshots is snaps */
	char **snaps;
	size_t capsnaps;
};

struct damage {
	uint8_t hash[CS_HASH_LEN];
	char hex[2 * CS_HASH_LEN + 1];
	char reason[256];
	struct use *uses;
	size_t nuses, capuses;
	uint64_t more;
};

struct cs_scrub {
	cs_store *st;
	char volume[CS_NAME_MAX + 1];
	uint64_t rate;
	void (*on_end)(void *ctx, cs_scrub *s);
	void *ctx;
	pthread_t thread;
	int have_thread;
	pthread_mutex_t lock; /* leaf: everything below */
	pthread_cond_t cond;  /* CLOCK_MONOTONIC; rate pauses, waiters on the end */
	int cancel;	      /* also read without the lock (atomic) */
	struct cs_scrub_status status;
	struct timespec t_start, t_end, t_read; /* monotonic */
	struct damage *dmg;			/* sorted by hash (found in that order) */
	size_t ndmg, capdmg;
};

static inline int cs_scrub_cancelled(struct cs_scrub *s)
{
	return __atomic_load_n(&s->cancel, __ATOMIC_RELAXED);
}

/* Order of chunk hashes (an item and a damage entry both start with one). */
static inline int cs_scrub_hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CS_HASH_LEN);
}

/* Enter @phase (under s->lock); READING starts the rate's clock. */
static inline void cs_scrub_set_phase(struct cs_scrub *s, int phase)
{
	pthread_mutex_lock(&s->lock);
	s->status.phase = phase;
	if (phase == CS_SCRUB_READING)
		clock_gettime(CLOCK_MONOTONIC, &s->t_read);
	pthread_mutex_unlock(&s->lock);
}

/* Note chunk @hash as damaged for @reason (under s->lock; hashes come in
 * order). Out of memory: the damage is counted, not listed. */
void cs_scrub_damage_add(struct cs_scrub *s, const uint8_t *hash, const char *reason);
void cs_scrub_damage_free(struct damage *d);
/* The damage entry of @hash, or NULL. */
struct damage *cs_scrub_damage_find(struct cs_scrub *s, const uint8_t *hash);
/* Name the files and snapshots that use each damaged chunk (MAPPING). */
int cs_scrub_map_damage(struct cs_scrub *s);

#endif /* CS_SCRUBMAP_H */
