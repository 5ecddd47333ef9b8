/*
 * cs_pushobj.h - the pool's objects of pushed copies (cs_pushobj.c), for
 * cs_push.c: the connection from a store's spec, the index object and its
 * entries, and the parts of a copy's stream and of its list of marks.
 * Private to store/.
 *
 * THE OBJECTS (in the pool of the chunks; none has a chunk's name, 64 hex
 * digits, so a store's sweep passes them by):
 *   cstorfs.pushed           the index: one omap entry per pushed copy,
 *                            key its name, value struct pushent encoded
 *   cstorfs.push.ID.sK       part K of the copy's stream (ID: 32 hex
 *                            digits, random per push), CS_PUSH_PART bytes
 *                            each but the last
 *   cstorfs.push.ID.mK       part K of its list of marks: the 32-byte hash
 *                            of every chunk its stream names
 * and on each such chunk object the omap key "cstorfs.push.ID" (the copy's
 * mark; a store's is "cstorfs.store.ID", cs_rados.c).
 *
 * Every change of the index asserts the version it was read at (or
 * creates it exclusively), so two changes made from the same reading
 * cannot both land: a push naming a base and the delete of that base, two
 * pushes of one name.
 */
#ifndef CS_PUSHOBJ_H
#define CS_PUSHOBJ_H

#include <rados/librados.h>
#include <stddef.h>
#include <stdint.h>

#include "cs_store.h"

#define CS_PUSH_PART (4u << 20)
#define CS_PUSH_INDEX "cstorfs.pushed"

/* A connection to the pool of a store's chunks. */
struct cs_pushpool {
	rados_t cl;
	rados_ioctx_t io;
	char pool[128];
};

/* An index entry. */
struct pushent {
	struct cs_pushed pub;
	uint8_t id[16];
	uint8_t sum[32];        /* SHA-256 of the whole stream */
	uint8_t snap_uuid[16];  /* the snapshot pushed (the stream's header) */
	uint8_t base_uuid[16];  /* an incremental's base snapshot, else zeros */
	uint32_t sparts, mparts; /* parts of the stream and of the marks list */
};

/* The index as read: its entries by name, and the version to assert. */
struct pushidx {
	struct pushent *e;
	size_t n;
	uint64_t ver;
	int exists; /* the index object is there (else a change creates it) */
};

/* Connect to the pool of @st's chunks. -EOPNOTSUPP (local chunks), or
 * the errors of cs_rados_connect. */
int cs_pushpool_open(cs_store *st, struct cs_pushpool *pp);
void cs_pushpool_close(struct cs_pushpool *pp);

/* Read the whole index into @x (cs_pushidx_free). -EIO: unreadable or a
 * damaged entry (the message names it). */
int cs_pushidx_read(struct cs_pushpool *pp, struct pushidx *x);
void cs_pushidx_free(struct pushidx *x);
/* The entry named @name in @x, or NULL. */
struct pushent *cs_pushidx_find(struct pushidx *x, const char *name);

/* Set entry @e (@set 1) or remove entry @name (@set 0), asserting @x's
 * version: 0, -ERANGE when the index changed since @x was read (read it
 * again), or -EIO (the message says why). */
int cs_pushidx_put(struct cs_pushpool *pp, const struct pushidx *x, const struct pushent *e);
int cs_pushidx_del(struct cs_pushpool *pp, const struct pushidx *x, const char *name);
/* Remove the index object if it holds no entry (read again here). */
void cs_pushidx_drop_empty(struct cs_pushpool *pp);

/* The name of part @k of kind @kind ('s' stream, 'm' marks) of copy @id
 * (room: 64), and the copy's mark key (room: 48; returns its length). */
void cs_push_part_oid(const uint8_t id[16], int kind, uint32_t k, char *oid);
size_t cs_push_mark_key(const uint8_t id[16], char *key);

/* Write @len bytes of @buf as parts of kind @kind of @id, each read back
 * and compared (*@nparts: how many). 0, or -EIO/-ENOSPC naming the part. */
int cs_push_parts_write(struct cs_pushpool *pp, const uint8_t id[16], int kind,
			const uint8_t *buf, size_t len, uint32_t *nparts);
/* Read the @nparts parts of kind @kind of @id, @len bytes in all, into a
 * new buffer *@out (caller frees). -EBADMSG: a part missing or of another
 * size (the message names it); -EIO. */
int cs_push_parts_read(struct cs_pushpool *pp, const uint8_t id[16], int kind,
		       uint32_t nparts, size_t len, uint8_t **out);
/* Remove parts of kind @kind of @id from @from to @nparts (missing ones
 * are fine): 0 or the first error. */
int cs_push_parts_rm(struct cs_pushpool *pp, const uint8_t id[16], int kind, uint32_t nparts);

#endif /* CS_PUSHOBJ_H */
