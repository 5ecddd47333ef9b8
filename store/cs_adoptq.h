/*
 * cs_adoptq.h - chunks by name to adopt, many at once (cs_adoptq.c): what a
 * receive of a stream of chunk names (cs_recv.c) gathers from the records
 * of one piece of its input, then adopts together before it stages them.
 */
#ifndef CS_ADOPTQ_H
#define CS_ADOPTQ_H

#include <stddef.h>
#include <stdint.h>

#include "cs_chunkstore.h"
#include "cs_priv.h"

#define CS_ADOPT_THREADS 16 /* adopts in flight: each two round trips */

struct cs_adopt {
	uint8_t hash[CS_HASH_LEN];
	uint32_t len, raw_len;   /* stored and raw lengths the stream names */
	uint8_t ref[CS_REF_MAX]; /* adopt's ref, once adopted */
	int reflen;              /* > 0: adopted */
};

struct cs_adoptq {
	struct cs_adopt *v;
	size_t n, cap;
};

/* Queue chunk @hash (@len bytes stored, @raw_len of data): 0 or -ENOMEM.
 * Nothing is asked of the chunk store yet. */
int cs_adoptq_add(struct cs_adoptq *q, const uint8_t *hash, uint32_t len, uint32_t raw_len);

/* Adopt every chunk queued (the chunk store's adopt op, CS_ADOPT_THREADS
 * at a time). 0: each v[i] holds its ref, every mark durable (adopt's
 * promise, so rule 1 of cs_chunkstore.h holds for a batch written after
 * this returns); the caller names each one (named()) as after a put and
 * empties the queue. Else the first error, naming its chunk: the marks
 * taken were given back (named(0)), the queue is empty. */
int cs_adoptq_run(struct cs_chunkstore *cs, struct cs_adoptq *q);

void cs_adoptq_free(struct cs_adoptq *q);

#endif
