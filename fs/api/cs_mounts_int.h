/*
 * cs_mounts_int.h - what the session table's two files share: its state and
 * its entries (the invariants are at the top of cs_mounts.c), the entry
 * helpers of cs_mounts.c and the shared sessions of cs_mounts_shared.c.
 * Nothing outside fs/api/cs_mounts*.c includes it.
 */
#ifndef CS_MOUNTS_INT_H
#define CS_MOUNTS_INT_H

#include <pthread.h>

#include "cs_mounts.h"

enum mount_state { MOUNT_STARTING, MOUNT_LIVE, MOUNT_ENDED };

/* One FUSE session serving every shared mount point of a volume. */
struct shared {
	struct cs_mounts *mt;
	struct cs_session *s;
	int refs; /* table entries pointing here (mt->lock) */
};

struct mount {
	struct mount *next;
	struct cs_mounts *mt;
	struct cs_session *s; /* NULL while STARTING; shared: sh->s */
	struct shared *sh;    /* shared mounts: the session they share */
	char *volume;	      /* "VOLUME" or "VOLUME@SNAPSHOT" */
	char *mountpoint;     /* canonical absolute path */
	char *options;	      /* effective options, e.g. "ro,allow_other" */
	int readonly;	      /* this mount point refuses writes */
	int shared;
	enum mount_state state;
};

struct cs_mounts {
	cs_store *st;
	pthread_mutex_t lock; /* leaf; protects list, quit, reap_wanted */
	pthread_cond_t cond;  /* signalled when a session ended or on quit */
	struct mount *list;
	int quit;
	int reap_wanted;
	pthread_t reaper;
	int reaper_running;
	pthread_mutex_t shared_lock; /* see the lock order above */
};

/* ---- entries (cs_mounts.c) ---- */

/* The mount object of @m (caller owns; mt->lock held). */
cJSON *cs_mounts_entry_json(const struct mount *m);

/* Append @nm to the table as STARTING (mt->lock held). */
void cs_mounts_insert(struct cs_mounts *mt, struct mount *nm);

/* Unlink @nm from the table again (its start failed; mt->lock not held). */
void cs_mounts_unreserve(struct cs_mounts *mt, struct mount *nm);

/* ---- shared sessions (cs_mounts_shared.c) ---- */

/* Mount @nm shared: a bind of its volume's shared session, or the first
 * mount point, which starts it. As cs_mounts_add; on success the table
 * owns @nm. */
int cs_mounts_add_shared(struct cs_mounts *mt, struct mount *nm, struct cs_mount_spec *ms,
			 cJSON **json, char *msg, size_t len);

/* Release the shared entry @m taken from the table (takes shared_lock;
 * mt->lock not held): its bind mount goes, and with the last entry the
 * session; @ended: the session already ended by itself. */
void cs_mounts_release_shared(struct cs_mounts *mt, struct mount *m, int ended);

#endif /* CS_MOUNTS_INT_H */
