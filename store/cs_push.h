/*
 * cs_push.h - off-host copies in the pool (issue 15 item 4): a snapshot's
 * stream, kept as objects in the RADOS pool of a store's chunks, so that a
 * host that is lost loses nothing that was pushed. Any store of the same
 * pool pulls it back into a volume, without moving chunk data.
 *
 *   cs_push          store VOLUME@SNAP's stream (full, or incremental
 *                    against an earlier push of the same volume)
 *   cs_pushed_list   what the pool holds
 *   cs_pushed_delete remove a pushed copy and give back what it held
 *   cs_pull          recreate the volume, with its snapshots
 *
 * Only a store whose chunks are in a RADOS pool has these (the others:
 * -EOPNOTSUPP). Each call opens its own connection to the cluster, with
 * the store's spec ("\0CS"), and closes it. The objects, their ordering
 * rule and what a crash leaves are described in cs_push.c; the pool's
 * objects of pushed copies are in cs_pushobj.c. Every error leaves a
 * message in cs_last_error().
 */
#ifndef CS_PUSH_H
#define CS_PUSH_H

#include <stdint.h>

#include "cs_store.h"

/* struct cs_pushed, enum cs_pushed_state: in cs_store.h. */

struct cs_push_opts {
	const char *volume, *snap; /* what to push */
	const char *name;          /* its name in the pool; NULL: "VOLUME@SNAP" */
	const char *from;          /* incremental from this snapshot of the volume,
	                              which must have been pushed; NULL: full */
};

/*
 * cs_push - push @o->volume@@o->snap into the pool; *@out describes the
 * pushed copy (complete). The copy holds its own mark on every chunk its
 * stream names, so those objects stay in the pool whatever the stores do.
 * Errors: -EOPNOTSUPP the store's chunks are local; -EINVAL a bad name;
 * -ENOENT no such volume or snapshot, or no pushed copy of @o->from;
 * -EEXIST a pushed copy of that name exists; -EIO the cluster (a chunk
 * missing from the pool, an object that cannot be written; nothing is
 * left listed then); the errors of cs_send.
 */
int cs_push(cs_store *st, const struct cs_push_opts *o, struct cs_pushed *out);

/* Every pushed copy in the pool, by name: *@out (caller frees), *@n.
 * Errors: -EOPNOTSUPP, -EIO. */
int cs_pushed_list(cs_store *st, struct cs_pushed **out, size_t *n);

/*
 * cs_pushed_delete - remove pushed copy @name: its marks (each chunk
 * object no store or other copy marks goes with it), its objects, its
 * entry. Errors: -ENOENT no such copy; -EBUSY another copy is incremental
 * to it (delete that one first); -EOPNOTSUPP; -EIO (what was done stays
 * done: the copy is left "deleting", and a delete again finishes it).
 */
int cs_pushed_delete(cs_store *st, const char *name);

struct cs_pull_result {
	char volume[CS_NAME_MAX + 1];
	char snapshot[CS_NAME_MAX + 1]; /* the newest snapshot received */
	uint64_t streams, bytes, chunks;
};

/*
 * cs_pull - recreate pushed copy @name as volume @volume (NULL: the volume
 * pushed), with its snapshots: the streams of its chain, base first, each
 * read whole and checked before any is received. Errors: -ENOENT no such
 * copy (or its base is gone); -EBUSY the copy is not complete; -EEXIST
 * @volume exists; -EBADMSG a stream object damaged or missing (nothing is
 * changed); -EOPNOTSUPP; the errors of cs_recv_* (the volume is removed
 * again when a later stream of the chain fails).
 */
int cs_pull(cs_store *st, const char *name, const char *volume, struct cs_pull_result *out);

#endif /* CS_PUSH_H */
