/*
 * cs_fuse.h - the FUSE low-level operations of one mounted volume
 * (internal to fs/: cs_session.c is its only user).
 *
 * A struct cs_fuse is the userdata of one fuse_session: the open volume,
 * whether it is read-only, and the table of inodes the kernel holds (lookup
 * counts from entry replies, open counts from open/create) that decides
 * when an unlinked inode (an orphan) can be released. It does not mount,
 * run the loop or own the volume handle: cs_session.c does.
 */
#ifndef CS_FUSE_H
#define CS_FUSE_H

#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>

#include "cs_store.h"

struct cs_fuse;

/*
 * cs_fuse_new - the operations' state for volume @vol (borrowed: it must
 * stay open until cs_fuse_free). @readonly: the volume is open read-only
 * (no writeback cache is asked for). @on_init(@arg) runs on a worker thread
 * once the kernel's INIT request has been answered. Returns NULL when out
 * of memory.
 */
struct cs_fuse *cs_fuse_new(cs_vol *vol, int readonly,
                            void (*on_init)(void *arg), void *arg);

/*
 * cs_fuse_free - after the loop has ended (no request can run any more):
 * release every orphan the kernel still held (it sends no forget after an
 * unmount), then free. The volume stays open. NULL does nothing.
 */
void cs_fuse_free(struct cs_fuse *fs);

/* Tell @fs its session (before the loop starts): used to invalidate the
 * kernel's cached attributes after data reaches the store. */
void cs_fuse_set_session(struct cs_fuse *fs, struct fuse_session *se);

/* The operations table; pass the cs_fuse as the session's userdata. */
const struct fuse_lowlevel_ops *cs_fuse_ops(void);

#endif /* CS_FUSE_H */
