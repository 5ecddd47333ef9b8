/*
 * cs_scrub.h - scrub: read back and verify every chunk of the store or of
 * one volume (cs_scrub.c). A chapter of the library's manual, included at
 * the end of cs_store.h; its conventions (errors, ownership) are the ones
 * written at the top of cs_store.h.
 */
#ifndef CS_SCRUB_H
#define CS_SCRUB_H

#include "cs_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Scrub (cs_scrub.c)                                                 */
/* ------------------------------------------------------------------ */

/*
 * A scrub reads back every chunk the store holds (every chunk a reference
 * record names), or every chunk one volume's live files and snapshots
 * reference (for a clone, with what it reads through from its origins),
 * each once: it fetches the stored value, decompresses it and checks its
 * SHA-256, as every read does. It runs in a thread of its own, at most at
 * a given rate, and can be cancelled. When damage was found, a last phase
 * finds every file (volume, path) and snapshot that uses each damaged
 * chunk. A chunk freed while the scrub runs is skipped, never reported.
 * Chunks staged by an unfinished receive are not read.
 * The summary of the last scrub (not its damage list) is kept in the
 * store: cs_scrub_last() reads it after a restart.
 */

enum cs_scrub_state {
	CS_SCRUB_RUNNING = 1,
	CS_SCRUB_FINISHED,  /* every chunk was read (damage or not) */
	CS_SCRUB_CANCELLED, /* cs_scrub_cancel() or cs_scrub_free() stopped it */
	CS_SCRUB_FAILED,    /* the store could not be read: status.error */
};

enum cs_scrub_phase {
	CS_SCRUB_LISTING = 1, /* one volume: collecting the chunks it references */
	CS_SCRUB_READING,     /* reading and checking chunks */
	CS_SCRUB_MAPPING,     /* finding the files that use damaged chunks */
	CS_SCRUB_DONE,
};

#define CS_SCRUB_DAMAGE_MAX 256 /* damaged chunks kept in detail (all counted) */
#define CS_SCRUB_FILES_MAX 64   /* files kept per damaged chunk (all counted) */

typedef struct cs_scrub cs_scrub;

struct cs_scrub_opts {
	const char *volume; /* NULL: every chunk of the store */
	uint64_t rate;      /* stored bytes read per second at most; 0: no limit */
	/* Called once by the scrub's thread when it has ended (result final,
	 * summary saved), or NULL. It may call cs_scrub_status and
	 * cs_scrub_damage_foreach on @s, never cs_scrub_free or _wait. */
	void (*on_end)(void *ctx, cs_scrub *s);
	void *ctx;
};

struct cs_scrub_status {
	int state, phase;                   /* enum cs_scrub_state, cs_scrub_phase */
	char volume[CS_NAME_MAX + 1];       /* "" for the whole store */
	uint64_t rate;                      /* the limit asked for (0: none) */
	int64_t started_ns, finished_ns;    /* wall clock; finished 0 while running */
	uint64_t elapsed_ms;                /* running time so far, or in all */
	uint64_t chunks_total, bytes_total; /* what it set out to read (bytes as
	                                       stored); known once LISTING is over,
	                                       raised if chunks written meanwhile
	                                       are read too */
	uint64_t chunks_done, bytes_done;   /* read and checked so far */
	uint64_t bytes_per_s;               /* average rate so far */
	uint64_t damaged;                   /* damaged chunks found */
	int error;                          /* FAILED: the negative errno */
	char message[256];                  /* FAILED: why */
};

/* One file using a damaged chunk: a path of @volume, and which views of
 * the volume see the version of the file that uses it. */
struct cs_scrub_file {
	const char *volume;
	const char *path;                /* absolute; NULL when the inode has no
	                                    name (unlinked while open) */
	uint64_t inode;
	int live;                        /* the live volume uses it */
	size_t nsnapshots;
	const char *const *snapshots;    /* names of the snapshots that do, oldest
	                                    first */
};

struct cs_scrub_damage {
	uint8_t hash[32];
	char hex[65];                    /* the chunk's SHA-256 as hex */
	const char *reason;              /* e.g. "content does not match its SHA-256
	                                    (corrupted)", "missing from the store" */
	size_t nfiles;                   /* files listed in @files */
	const struct cs_scrub_file *files;
	uint64_t files_more;             /* uses not listed (over CS_SCRUB_FILES_MAX) */
};

/*
 * cs_scrub_start - start a scrub of @st as @o says (NULL: the whole store,
 * no rate limit) in a new thread. Returns 0 and *@out (caller owns;
 * cs_scrub_free, which must be called before cs_store_close). Any number
 * may run at once; the daemon runs one at a time.
 * Errors: -ENOENT no volume @o->volume; -EINVAL / -ENAMETOOLONG bad name;
 *         -EAGAIN no thread could be made; -ENOMEM.
 */
int cs_scrub_start(cs_store *st, const struct cs_scrub_opts *o, cs_scrub **out);

/* A consistent copy of the scrub's progress (or result) into @out.
 * Cheap; any thread, any time. */
void cs_scrub_status(cs_scrub *s, struct cs_scrub_status *out);

/* Ask the scrub to stop; returns at once (it stops within a chunk's read,
 * waking from a rate-limit pause). Its state becomes CS_SCRUB_CANCELLED
 * unless it had ended already; the files of the damage found so far are
 * not looked for. */
void cs_scrub_cancel(cs_scrub *s);

/* Wait until the scrub has ended, at most @timeout_ms (< 0: no limit).
 * Returns 0 when it has ended, -ETIMEDOUT when not yet. */
int cs_scrub_wait(cs_scrub *s, int timeout_ms);

/*
 * cs_scrub_damage_foreach - call @fn once per damaged chunk kept (at most
 * CS_SCRUB_DAMAGE_MAX; status.damaged counts them all), in the order found
 * (hash order). While the scrub runs, files are not known yet (nfiles 0).
 * What @fn gets is valid during the call only; the scrub is locked
 * meanwhile (@fn must not call into it). A non-zero return from @fn stops
 * the walk and is returned.
 */
typedef int (*cs_scrub_damage_fn)(void *ctx, const struct cs_scrub_damage *d);
int cs_scrub_damage_foreach(cs_scrub *s, cs_scrub_damage_fn fn, void *ctx);

/* Cancel the scrub if it runs, wait for its thread, free everything.
 * NULL does nothing. */
void cs_scrub_free(cs_scrub *s);

/* The summary of the last scrub that ended in @st (kept across restarts)
 * into @out. Errors: -ENOENT no scrub ever ended; -EIO corrupt record. */
int cs_scrub_last(cs_store *st, struct cs_scrub_status *out);

/* "running", "finished", "cancelled", "failed" (else "none"). */
const char *cs_scrub_state_name(int state);
/* "listing", "reading", "mapping", "done" (else "none"). */
const char *cs_scrub_phase_name(int phase);

#ifdef __cplusplus
}
#endif

#endif /* CS_SCRUB_H */
