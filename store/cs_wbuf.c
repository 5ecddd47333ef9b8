/*
 * cs_wbuf.c - the write buffer: small writes (and, with a writeback
 * thread, large ones) wait in memory as whole chunks and are committed
 * in batches; the size rule that keeps every reader's view right.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cs_priv.h"

/* Copy what the write buffer holds of [off, end) of @ino over @out. */
void cs_wb_overlay(struct cs_volstate *vs, uint64_t ino, uint64_t off, uint64_t end,
                       uint8_t *out)
{
	for (int i = 0; i < CS_WB_SLOTS; i++) {
		const struct cs_wslot *w = &vs->wb[i];
		uint64_t cs = w->idx * vs->rec.chunk_size, ce = cs + vs->rec.chunk_size;
		uint64_t a = cs > off ? cs : off, b = ce < end ? ce : end;

		if (w->ino == ino && a < b)
			memcpy(out + (a - off), w->data + (a - cs), b - a);
	}
}


/* ---- the write buffer (struct cs_wslot in cs_priv.h) ----
 *
 * THE SIZE RULE. A file's size, as every reader of its attributes sees it
 * (getattr, lookup, readdirplus, the replies to setattr and link, read,
 * lseek), is the size in its inode record raised to the end of the
 * furthest write the buffer holds for it (cs_file_view); its mtime
 * likewise. The kernel adopts that size whenever it (re)loads the inode,
 * for instance after evicting it under memory pressure, so a view that
 * left out buffered writes would make the file shrink back and lose what
 * was written past the record's size (issue 12: a file grown by a small
 * write, closed, evicted, then looked up, came back with its old size).
 *
 * The rule holds because of three orderings, all under the volume lock:
 *  1. A slot is freed only after the batch that wrote its chunk (and the
 *     size it gave the file) is committed (wb_flush_locked): a reader that
 *     finds no slot finds the committed record, and a flush that fails
 *     keeps every slot (nothing acknowledged is dropped).
 *  2. An operation that reads or rewrites a file's extents (truncate,
 *     fallocate, a write through the buffer) first commits that file's
 *     slots in the same hold of the lock (cs_file_txn_begin,
 *     cs_txn_commit_keep): no slot written before it can land on top of it
 *     afterwards with stale bytes or a stale size.
 *  3. A flush commits a size only as far as the chunk it writes
 *     (slot_end): a record never claims bytes still in the buffer, so a
 *     crash cannot turn unflushed writes into zeros inside the file.
 * wb_used counts the slots in use; readers that see 0 need no lock.
 *
 * THE WRITEBACK (cs_vol_writeback, the daemon's flusher thread). It takes
 * the slots in use (marking them held), and without the lock encodes
 * their chunks, puts them and syncs the chunk store; then, under the lock,
 * commits those of them that are still what it took (same filling, no
 * write since: fill and gen) and frees them. A slot written or refilled
 * meanwhile stays for the next round, and what was put for it is garbage
 * (never named). While a slot is held nobody writes into its bytes: a
 * writer copies them first (wb_own) and the writeback frees the old copy.
 * Up to WB_PARALLEL writebacks run at once, on different slots (a slot
 * held by one is not taken by another): a writer that finds the buffer
 * full writes back what the flusher did not take, on the other core. If
 * two commit the same chunk, the older one finds the slot written since
 * and leaves it. So a writer waits only when the buffer is full and both
 * run.
 */

#define WB_BYTES (32u << 20)      /* the buffer of a volume, about */
#define WB_MAX_WRITE (1u << 20)   /* the largest write it takes (FUSE's) */
#define WB_PARALLEL 2             /* writebacks at once (on different slots) */

/* Slots a volume of chunk size @csz uses: 4 to CS_WB_SLOTS. */
static int slots_for(uint64_t csz)
{
	uint64_t n = WB_BYTES / csz;

	return n < 4 ? 4 : n > CS_WB_SLOTS ? CS_WB_SLOTS : (int)n;
}

/* The most chunks one buffered write may touch: a quarter of the slots. */
static int span_for(uint64_t csz)
{
	return slots_for(csz) / 4;
}

static int wb_slots(const struct cs_volstate *vs)
{
	return slots_for(vs->rec.chunk_size);
}

/* May a write of @size bytes at @off (chunks of @csz) wait in the buffer?
 * Up to FUSE's largest write: small files, database pages, and streams of
 * large writes, which the writeback then encodes beside the writer. */
int cs_wb_candidate(uint64_t off, size_t size, uint64_t csz)
{
	return size <= WB_MAX_WRITE && (off + size - 1) / csz - off / csz < (uint64_t)span_for(csz);
}

static int64_t ns_since(const struct timespec *a, const struct timespec *b)
{
	return (int64_t)(b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);
}

static struct cs_wslot *wb_find(struct cs_volstate *vs, uint64_t ino, uint64_t idx)
{
	for (int i = 0; i < CS_WB_SLOTS; i++)
		if (vs->wb[i].ino == ino && vs->wb[i].idx == idx && ino)
			return &vs->wb[i];
	return NULL;
}

#define WB_KEEP 64                 /* slots whose bytes an idle volume keeps */
#define WB_IDLE_NS 2000000000LL    /* idle: no writeback for this long */

/* A freed slot keeps its bytes for the next filling: freeing and taking
 * them again for every chunk faulted in fresh zeroed pages (clear_page, a
 * sixth of the daemon's time in a sequential write). A volume left idle
 * gives back all but WB_KEEP of them (wb_trim). */
static void wb_free(struct cs_volstate *vs, struct cs_wslot *w)
{
	w->ino = 0;
	__atomic_store_n(&vs->wb_used, vs->wb_used - 1, __ATOMIC_RELEASE);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The buffer is empty: once no writeback ran for WB_IDLE_NS, free the
 * bytes of the slots past WB_KEEP. */
static void wb_trim(struct cs_volstate *vs)
{
	pthread_mutex_lock(&vs->lock);
	if (!vs->wb_used && !vs->wb_busy && mono_ns() - vs->wb_last > WB_IDLE_NS)
		for (int i = WB_KEEP; i < CS_WB_SLOTS; i++) {
			free(vs->wb[i].data); /* free and unheld: no writeback runs */
			vs->wb[i].data = NULL;
		}
	pthread_mutex_unlock(&vs->lock);
}

/* How far a flush of slot @w may raise its file's recorded size: its
 * writes' end, but not past its own chunk (rule 3). */
static uint64_t slot_end(const struct cs_volstate *vs, const struct cs_wslot *w)
{
	uint64_t ce = (w->idx + 1) * vs->rec.chunk_size;

	return w->size < ce ? w->size : ce;
}

static void raise_times(const struct cs_volstate *vs, struct cs_inode *in,
                        const struct timespec *mt)
{
	if (!vs->keep_times && ns_since(&in->mtime, mt) > 0)
		in->mtime = in->ctime = *mt;
}

void cs_file_view(const struct cs_volstate *vs, struct cs_inode *in)
{
	if (!S_ISREG(in->mode) || !__atomic_load_n(&vs->wb_used, __ATOMIC_ACQUIRE))
		return;
	for (int i = 0; i < CS_WB_SLOTS; i++) {
		const struct cs_wslot *w = &vs->wb[i];

		if (w->ino != in->ino || !w->ino)
			continue;
		if (w->size > in->size)
			in->size = w->size;
		raise_times(vs, in, &w->mtime);
	}
}

int cs_file_commit_reply(struct cs_txn *t, struct cs_inode *in, struct cs_attr *out)
{
	int rc;

	cs_txn_put_inode(t, in);
	cs_file_view(t->vs, in); /* the size rule, for the reply */
	rc = cs_txn_commit(t);
	if (rc == 0 && out)
		cs_inode_to_attr(in, out);
	return rc;
}

int cs_inode_load_view(cs_vol *vol, uint64_t ino, struct cs_inode *out)
{
	struct cs_volstate *vs = vol->vs;
	int locked = !vol->rdonly && __atomic_load_n(&vs->wb_used, __ATOMIC_ACQUIRE);
	int rc;

	if (locked)
		pthread_mutex_lock(&vs->lock);
	rc = cs_inode_load(vol, ino, out);
	if (rc == 0 && locked)
		cs_file_view(vs, out);
	if (locked)
		pthread_mutex_unlock(&vs->lock);
	return rc;
}

/* Put into @t the chunks of the slots marked in @pick, an inode at a time
 * (each inode is loaded and put once: a txn does not read its own
 * writes), with the sizes and times they give their files (rule 3). The
 * slots stay in use: wb_flush_locked frees them once this is committed. */
static int wb_write_picked(struct cs_txn *t, const char pick[CS_WB_SLOTS],
			   struct cs_pre_chunk *pre)
{
	struct cs_volstate *vs = t->vs;
	char done[CS_WB_SLOTS] = { 0 };
	int rc = 0;

	for (int i = 0; i < CS_WB_SLOTS && rc == 0; i++) {
		uint64_t ino = vs->wb[i].ino;
		struct cs_inode in;

		if (!pick[i] || done[i])
			continue;
		rc = cs_inode_load_rec(t->st, &t->rec, ino, &in);
		for (int j = i; j < CS_WB_SLOTS && rc == 0; j++) {
			struct cs_wslot *w = &vs->wb[j];
			struct cs_ext e;

			if (!pick[j] || w->ino != ino)
				continue;
			rc = cs_ext_get(t->st, &t->rec, ino, w->idx, &e);
			if ((rc == 0 || rc == -ENOENT) && pre) /* encoded by the writeback */
				rc = cs_store_pre(t, &in, w->idx, &pre[j], rc == 0 ? &e : NULL);
			else if (rc == 0 || rc == -ENOENT)
				rc = cs_file_chunk_store(t, &in, w->idx, w->data, rc == 0 ? &e : NULL);
			if (slot_end(vs, w) > in.size)
				in.size = slot_end(vs, w);
			raise_times(vs, &in, &w->mtime);
			done[j] = 1;
		}
		if (rc == 0)
			cs_txn_put_inode(t, &in);
	}
	return rc;
}

/* Mark in @pick the slots of @ino (0: every inode), with @only_old only
 * those that waited CS_WB_AGE_NS by @now; returns how many. */
static int wb_pick(const struct cs_volstate *vs, uint64_t ino, int only_old,
                   const struct timespec *now, char pick[CS_WB_SLOTS])
{
	int n = 0;

	for (int i = 0; i < CS_WB_SLOTS; i++) {
		const struct cs_wslot *w = &vs->wb[i];

		pick[i] = w->ino && (!ino || w->ino == ino) &&
		          !(only_old && ns_since(&w->since, now) < CS_WB_AGE_NS);
		n += pick[i];
	}
	return n;
}

/* Commit the slots marked in @pick inside @t (the volume locked, the
 * batch empty) and free them (rule 1); @t stays open with an empty batch.
 * On failure every slot is kept and the batch is empty again. */
static int wb_commit_picked(struct cs_txn *t, const char pick[CS_WB_SLOTS],
			    struct cs_pre_chunk *pre)
{
	int rc = wb_write_picked(t, pick, pre);

	if (rc) {
		cs_txn_reset(t);
		return rc;
	}
	rc = cs_txn_commit_keep(t);
	for (int i = 0; i < CS_WB_SLOTS && rc == 0; i++)
		if (pick[i])
			wb_free(t->vs, &t->vs->wb[i]);
	return rc;
}

int cs_wb_flush_locked(struct cs_txn *t, uint64_t ino, int only_old)
{
	char pick[CS_WB_SLOTS];

	if (!t->vs->wb_used || !wb_pick(t->vs, ino, only_old, &t->now, pick))
		return 0;
	return wb_commit_picked(t, pick, NULL);
}

void cs_wb_discard(struct cs_volstate *vs, uint64_t ino)
{
	if (!vs)
		return;
	for (int i = 0; i < CS_WB_SLOTS; i++)
		if (vs->wb[i].ino && vs->wb[i].ino == ino)
			wb_free(vs, &vs->wb[i]);
}

int cs_file_txn_begin(struct cs_txn *t, cs_vol *vol, uint64_t ino)
{
	int rc = cs_txn_begin(t, vol->st, vol);

	if (rc == 0)
		rc = cs_wb_flush_locked(t, ino, 0);
	return rc ? cs_txn_abort(t, rc) : 0;
}

int cs_file_inode_begin(struct cs_txn *t, cs_vol *vol, uint64_t ino, struct cs_inode *in)
{
	int rc = cs_file_txn_begin(t, vol, ino);

	if (rc)
		return rc;
	rc = cs_inode_load(vol, ino, in);
	return rc ? cs_txn_abort(t, rc) : 0;
}

/* The slot holding chunk @idx of @in: found, or a free one filled from the
 * store's chunk (not read when @whole: the write covers it all). Returns 1
 * when no slot is free (the caller then writes the chunk through). */
static int wb_get(struct cs_txn *t, struct cs_inode *in, uint64_t idx, int whole,
		  struct cs_wslot **out)
{
	struct cs_volstate *vs = t->vs;
	struct cs_wslot *w = wb_find(vs, in->ino, idx);
	struct cs_ext e;
	int have, rc;

	if (w) {
		*out = w;
		return 0;
	}
	for (int i = 0; i < wb_slots(vs) && !w; i++)
		if (!vs->wb[i].ino)
			w = &vs->wb[i];
	if (!w)
		return 1;
	if (w->held) { /* freed while the writeback reads it: its buffer is the writeback's */
		w->data = NULL;
		w->held = 0;
	}
	if (!w->data && !(w->data = malloc(vs->rec.chunk_size)))
		return -ENOMEM;
	have = 0;
	if (whole) { /* not read, but its length counted (st_blocks) */
		rc = cs_ext_get(t->st, &t->rec, in->ino, idx, &e);
		have = rc == 0;
		rc = rc == -ENOENT ? 0 : rc;
	} else {
		rc = cs_file_chunk_load(t->st, &t->rec, in->ino, idx, w->data, &e, &have);
	}
	if (rc)
		return rc;
	w->old_raw = have ? e.raw_len : 0;
	w->ino = in->ino;
	w->idx = idx;
	w->since = w->mtime = t->now;
	w->size = 0;
	w->fill = ++vs->wb_fills;
	w->gen = 0;
	__atomic_store_n(&vs->wb_used, vs->wb_used + 1, __ATOMIC_RELEASE);
	*out = w;
	return 0;
}

/* At the start of a write (@t just begun): commit the slots that waited
 * long enough, or every slot when fewer than span_for() are free (a
 * buffered write fills at most that many). All of them at once: one commit
 * puts their chunks and syncs the chunk store once (cs_txn.c), where
 * committing the oldest one or two per write cost a sync per small file. */
int cs_wb_make_room(struct cs_txn *t)
{
	struct cs_volstate *vs = t->vs;
	char pick[CS_WB_SLOTS];
	int n;

	if (!vs->wb_used)
		return 0;
	n = wb_pick(vs, 0, 1, &t->now, pick);
	if (vs->wb_used - n > wb_slots(vs) - span_for(vs->rec.chunk_size))
		n = wb_pick(vs, 0, 0, &t->now, pick);
	return n ? wb_commit_picked(t, pick, NULL) : 0;
}

/* Commit, in a transaction of its own, every slot of @vs (with @only_old:
 * those that waited CS_WB_AGE_NS); nothing to do takes no lock. */
static int wb_flush_own_txn(cs_store *st, struct cs_volstate *vs, int only_old)
{
	cs_vol v = { .st = st, .vs = vs };
	struct cs_txn t;
	int rc;

	if (!__atomic_load_n(&vs->wb_used, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&vs->lock); /* a running writeback ends first: it may */
	while (vs->wb_busy)            /* commit what this would encode again */
		pthread_cond_wait(&vs->wb_cond, &vs->lock);
	pthread_mutex_unlock(&vs->lock);
	rc = cs_txn_begin(&t, st, &v);
	if (rc)
		return rc;
	rc = cs_wb_flush_locked(&t, 0, only_old);
	return cs_txn_abort(&t, rc); /* committed already: only ends the txn */
}

int cs_wb_flush_vs(cs_store *st, struct cs_volstate *vs)
{
	return wb_flush_own_txn(st, vs, 0);
}

int cs_wb_flush_open(cs_store *st)
{
	int rc = 0;

	for (struct cs_volstate *vs = st->vols; vs; vs = vs->next)
		if (!vs->snap_epoch && vs->rw_open) {
			int r = cs_wb_flush_vs(st, vs); /* unflushed slots stay for a retry */

			if (r && !rc)
				rc = r;
		}
	return rc;
}

void cs_wb_release(struct cs_volstate *vs)
{
	CS_ASSERT(!vs->wb_busy); /* the caller stopped its writeback thread */
	for (int i = 0; i < CS_WB_SLOTS; i++) {
		/* a slot left here is one the last flush could not write (a full
		 * disk): its closer syncs first and was told; it goes now */
		vs->wb[i].ino = 0;
		free(vs->wb[i].data);
		vs->wb[i].data = NULL;
	}
}

int cs_vol_flush(cs_vol *vol)
{
	return vol->rdonly ? 0 : cs_wb_flush_vs(vol->st, vol->vs);
}

int cs_vol_flush_aged(cs_vol *vol)
{
	return vol->rdonly ? 0 : wb_flush_own_txn(vol->st, vol->vs, 1);
}

/* Before writing into slot @w: when the writeback holds its bytes, write
 * into a copy (the writeback frees the old bytes when it is done). */
static int wb_own(struct cs_volstate *vs, struct cs_wslot *w)
{
	uint8_t *copy;

	if (!w->held)
		return 0;
	copy = malloc(vs->rec.chunk_size);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, w->data, vs->rec.chunk_size);
	w->data = copy;
	w->held = 0;
	return 0;
}

/* Does the write buffer hold a chunk of @ino in [first, last]? */
int cs_wb_overlaps(struct cs_volstate *vs, uint64_t ino, uint64_t first, uint64_t last)
{
	for (int i = 0; i < CS_WB_SLOTS; i++)
		if (vs->wb[i].ino == ino && ino && vs->wb[i].idx >= first && vs->wb[i].idx <= last)
			return 1;
	return 0;
}

/* A write that may wait (wb_candidate) into a chunked file of a volume
 * without quota goes into the write buffer when its chunks have slots; the
 * buffer is committed later in one batch with one chunk-file sync (a sync
 * per small file made an untar of 8,000 files take 16 s). 1: did not fit. */
int cs_wb_write(struct cs_txn *t, struct cs_inode *in, uint64_t off,
                          const uint8_t *src, size_t size)
{
	struct cs_volstate *vs = t->vs;
	uint64_t csz = t->rec.chunk_size, first = off / csz, last = (off + size - 1) / csz;
	int need = 0, free_slots = 0, rc;

	/* an inline file stays out, unless it is empty and the write takes it
	 * past the inline size: then chunk 0 holds it all (a new small file
	 * written in one request, an untar's every file) */
	if (t->rec.quota || !cs_wb_candidate(off, size, csz) ||
	    (in->size <= CS_INLINE_MAX && (in->size != 0 || off + size <= CS_INLINE_MAX)))
		return 1;
	for (uint64_t idx = first; idx <= last; idx++)
		need += !wb_find(vs, in->ino, idx);
	for (int i = 0; i < wb_slots(vs); i++)
		free_slots += !vs->wb[i].ino;
	if (free_slots < need)
		return 1;
	for (uint64_t pos = off, end = off + size; pos < end;) {
		uint64_t idx = pos / csz, co = pos % csz;
		uint64_t n = csz - co;
		struct cs_wslot *w;

		if (n > end - pos)
			n = end - pos;
		rc = wb_get(t, in, idx, co == 0 && n == csz, &w);
		CS_ASSERT(rc <= 0); /* a slot was free */
		if (rc == 0)
			rc = wb_own(vs, w);
		if (rc)
			return rc;
		memcpy(w->data + co, src + (pos - off), n);
		w->gen++;
		if (off + size > w->size)
			w->size = off + size;
		w->mtime = t->now;
		pos += n;
	}
	return 0;
}

static int wb_writeback(cs_vol *vol, int all);

/* Slots in use that no writeback holds (vs->lock held). */
static int wb_unheld(const struct cs_volstate *vs)
{
	int n = 0;

	for (int i = 0; i < CS_WB_SLOTS; i++)
		n += vs->wb[i].ino && !vs->wb[i].held;
	return n;
}

void cs_wb_wait_room(cs_vol *vol, uint64_t off, size_t size)
{
	struct cs_volstate *vs = vol->vs;
	uint64_t csz = vs->rec.chunk_size; /* fixed at creation */
	int need = (int)((off + size - 1) / csz - off / csz) + 1 + span_for(csz);

	if (vol->rdonly || !cs_wb_candidate(off, size, csz))
		return;
	pthread_mutex_lock(&vs->lock);
	while (wb_slots(vs) - vs->wb_used < need) {
		if (vs->wb_busy >= WB_PARALLEL || (vs->wb_busy && !wb_unheld(vs))) {
			pthread_cond_wait(&vs->wb_cond, &vs->lock);
			continue;
		}
		/* nobody writes it out: do it here, outside the lock too (an
		 * error is the write's own to meet: cs_wb_make_room) */
		pthread_mutex_unlock(&vs->lock);
		if (wb_writeback(vol, 1) < 0)
			return;
		pthread_mutex_lock(&vs->lock);
	}
	pthread_mutex_unlock(&vs->lock);
}

/* What the writeback took of a slot: its filling, its writes, its bytes. */
struct wb_taken {
	uint64_t fill, gen;
	uint8_t *data;
};

/* Take the slots due (vs->lock held) that no other writeback holds: all
 * of them with @all or once the buffer is an eighth full, else those past
 * their age. Marks them held; returns how many. */
static int wb_take(struct cs_volstate *vs, int all, char pick[CS_WB_SLOTS], struct wb_taken *tk)
{
	struct timespec now;
	int n;

	clock_gettime(CLOCK_REALTIME, &now);
	wb_pick(vs, 0, !all && vs->wb_used < wb_slots(vs) / 8, &now, pick);
	n = 0;
	for (int i = 0; i < CS_WB_SLOTS; i++) {
		struct cs_wslot *w = &vs->wb[i];

		pick[i] = pick[i] && !w->held;
		if (pick[i]) {
			tk[i] = (struct wb_taken){ w->fill, w->gen, w->data };
			w->held = 1;
			n++;
		}
	}
	vs->wb_busy += n > 0;
	return n;
}

/* Encode the chunks taken into @pw (by slot; the others stay holes),
 * then put and sync them as a write's whole chunks are (no lock held). */
static int wb_encode(cs_store *st, const char pick[CS_WB_SLOTS], const struct wb_taken *tk,
		     struct cs_pre_write *pw, uint32_t csz, int level)
{
	int rc = 0;

	for (int i = 0; i < CS_WB_SLOTS && rc == 0; i++)
		if (pick[i])
			rc = cs_pre_encode_one(&pw->c[i], tk[i].data, csz, level);
	return rc ? rc : cs_pre_store(st, pw);
}

/* Give the taken slots' bytes back (vs->lock held) and end the writeback. */
static void wb_untake(struct cs_volstate *vs, const char pick[CS_WB_SLOTS],
		      const struct wb_taken *tk)
{
	for (int i = 0; i < CS_WB_SLOTS; i++) {
		struct cs_wslot *w = &vs->wb[i];

		if (!pick[i])
			continue;
		if (w->data == tk[i].data)
			w->held = 0;
		else /* a writer copied it, or the slot was refilled: ours now */
			free(tk[i].data);
	}
	vs->wb_busy--;
	vs->wb_last = mono_ns();
	pthread_cond_broadcast(&vs->wb_cond);
}

int cs_vol_writeback(cs_vol *vol)
{
	return wb_writeback(vol, 0);
}

/* The writeback: with @all, every slot (a writer that found no room). */
static int wb_writeback(cs_vol *vol, int all)
{
	struct cs_volstate *vs = vol->vs;
	struct cs_pre_write pw = {.n = CS_WB_SLOTS};
	struct wb_taken *tk = NULL;
	char pick[CS_WB_SLOTS], mine[CS_WB_SLOTS];
	struct cs_txn t;
	uint32_t csz;
	int rc, level, n;

	if (vol->rdonly)
		return 0;
	if (!__atomic_load_n(&vs->wb_used, __ATOMIC_ACQUIRE)) {
		wb_trim(vs);
		return 0;
	}
	tk = calloc(CS_WB_SLOTS, sizeof(*tk));
	pw.c = calloc(CS_WB_SLOTS, sizeof(*pw.c));
	if (!tk || !pw.c) {
		free(tk);
		free(pw.c);
		return -ENOMEM;
	}
	pthread_mutex_lock(&vs->lock);
	n = vs->wb_busy >= WB_PARALLEL ? 0 : wb_take(vs, all, pick, tk);
	csz = vs->rec.chunk_size;
	level = vs->rec.compression;
	pthread_mutex_unlock(&vs->lock);
	rc = n ? wb_encode(vol->st, pick, tk, &pw, csz, level) : 0;
	if (n && cs_txn_begin(&t, vol->st, vol) == 0) {
		memcpy(mine, pick, sizeof(mine));
		for (int i = 0; i < CS_WB_SLOTS; i++) { /* only what nobody wrote since */
			struct cs_wslot *w = &vs->wb[i];

			mine[i] = pick[i] && w->ino && w->fill == tk[i].fill && w->gen == tk[i].gen;
		}
		if (rc == 0)
			rc = wb_commit_picked(&t, mine, pw.c);
		wb_untake(vs, pick, tk);
		n = vs->wb_used;
		cs_txn_abort(&t, 0); /* committed already: only ends the txn */
	} else if (n) { /* a read-only volume (a failed store): give the slots back */
		rc = rc ? rc : -EROFS;
		pthread_mutex_lock(&vs->lock);
		wb_untake(vs, pick, tk);
		pthread_mutex_unlock(&vs->lock);
	} else {
		n = __atomic_load_n(&vs->wb_used, __ATOMIC_ACQUIRE);
	}
	cs_pre_free(vol->st, &pw); /* what was put and not committed is garbage */
	free(tk);
	return rc ? rc : n;
}
