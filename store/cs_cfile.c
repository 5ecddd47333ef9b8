/*
 * cs_cfile.c - local chunk files: the chunk store of a store on one host.
 *
 * Chunk bytes are appended to files DIR/chunks/XXXXXXXX.ck (the file id in
 * hex), one file written at a time (the active one) up to CF_MAX bytes.
 * Each record is a header and an encoded chunk:
 *
 *   bytes 0-3    magic "CSK1"
 *   bytes 4-7    stored length of the encoded chunk, big-endian
 *   bytes 8-39   the chunk's SHA-256
 *   then         the encoded chunk (cs_chunk.c)
 *
 * A ref ('F') is the common head (cs_chunkstore.h), then the file id (4
 * bytes) and the offset of the encoded chunk (8 bytes). The bytes are
 * written once: no WAL, no memtable, no compaction carries them again.
 *
 * THE STAGE. put() copies the record into the stage, an aligned buffer of
 * the active file's newest bytes from the start of their first 4 KiB
 * block; sync() (or CF_STAGE bytes waiting) writes it with O_DIRECT in
 * whole blocks, the last one padded and written again with what follows.
 * Nothing reads staged bytes: an index entry names a record only after a
 * sync (rule 1), and reclaim writes the stage out before reading a file.
 * The page cache is skipped: copying chunks into fresh page-cache pages
 * was a third of the daemon's time in a sequential write. Where O_DIRECT
 * is refused (tmpfs) the stage goes out by pwrite. A failed write keeps
 * the stage; the sync that met it fails, so nothing names what was lost.
 *
 * Durability (rule 1 of cs_chunkstore.h): sync() writes the stage out and
 * fdatasyncs the dirty files (and the directory when a file was created)
 * in a group: a thread that finds a sync running waits for it and then
 * finds its own writes covered, or runs the next one for everyone
 * waiting. Files grow in CF_PREALLOC steps (fallocate), so a sync writes
 * the data, not a new allocation each time.
 *
 * Space (rules 2 and 3): a file's live bytes are the records the index
 * names; the rest is garbage (chunks whose last reference went, copies a
 * race or a crash left). reclaim() takes the file with the most garbage
 * once its live bytes fall under half of it, copies its live records to
 * the active file, syncs them, points their index entries at the copies
 * in one synced batch (under st->lock, only where the entry still names
 * the old copy), then deletes the file: a file is deleted only after a
 * synced batch, so no durable entry can name it. It moves at most a
 * budget per call and pauses while foreground writes run (CF_YIELD_NS).
 * A file nothing names goes at the next WAL sync (settle()). Readers take
 * a reference on a file: one deleted under a read stays open until then.
 *
 * Open recovers: live bytes are counted from the index, a file's tail
 * past the last named byte (writes whose batch never came) is cut, and a
 * file nothing names is deleted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cs_cfstage.h"
#include "cs_chunkstore.h"
#include "cs_health.h"
#include "cs_priv.h"

#define CF_MAGIC "CSK1"
#define CF_HDR 40                    /* record header bytes */
#define CF_MAX (64ull << 20)         /* a file is sealed past this */
#define CF_PREALLOC (8ull << 20)     /* growth step */
#define CF_REF_LEN (CS_REF_HEAD + 12)
#define CF_YIELD_NS 10000000LL       /* reclaim pauses this long behind writers */
#define CF_YIELD_EVERY (1ull << 20)  /* after moving this much (<= 100 MiB/s then) */

struct cfile {
	uint32_t id;
	int fd;
	int dfd;        /* the same file opened O_DIRECT (-1: not yet) */
	uint64_t size;  /* end of the last record (reserved space included) */
	uint64_t alloc; /* bytes preallocated (the file's length) */
	uint64_t live;  /* bytes of named records, headers included */
	uint64_t scan;  /* reclaim: records before this offset are moved */
	int refs;       /* 1 while in the table, +1 per read or write in flight */
	int pending;    /* puts whose batch has not said yet whether it names them */
	uint64_t dead;  /* nothing named in it at settle() number this (0: not seen so) */
	int dirty;      /* written since its last fdatasync */
};

struct cfstore {
	struct cs_chunkstore cs;
	int dirfd;
	pthread_mutex_t mu; /* everything below but the sync state */
	struct cfile **f;   /* by id, ascending */
	size_t n, cap;
	struct cfile *active;
	int dir_dirty;           /* a file was created or deleted since the last sync */
	uint64_t wseq;           /* puts completed */
	uint64_t fg_at;          /* CLOCK_MONOTONIC ns of the last put */
	uint64_t reclaimed;      /* bytes given back since open */
	pthread_mutex_t sync_mu; /* one sync at a time */
	uint64_t synced;         /* wseq covered by the last sync (read atomically) */
	pthread_mutex_t wmu;     /* the stage (taken before mu, after sync_mu) */
	struct cf_stage stage;
	struct cfile *sf;        /* the file it belongs to (a reference), or NULL */
	uint64_t settles;        /* settle() tokens given */
	int dead_new;            /* a sealed file lost its last live record */
};

static __thread uint64_t my_wseq; /* the last put of this thread */
/* This thread is reclaiming: its copies take only the room they need and
 * skip the free-space admission (they free more than they take: on a full
 * disk, deleting files must still give the room back). */
static __thread int reclaiming;

static struct cfstore *cf_of(struct cs_chunkstore *cs)
{
	return (struct cfstore *)cs;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fname(uint32_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%08x.ck", id);
}

/* The file @id (mu held), or NULL. */
static struct cfile *find(struct cfstore *c, uint32_t id)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (c->f[mid]->id == id)
			return c->f[mid];
		if (c->f[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int insert(struct cfstore *c, struct cfile *f)
{
	size_t i;
	int rc = cs_grow((void **)&c->f, &c->cap, c->n + 1, sizeof(*c->f));

	if (rc)
		return rc;
	for (i = c->n; i > 0 && c->f[i - 1]->id > f->id; i--)
		c->f[i] = c->f[i - 1];
	c->f[i] = f;
	c->n++;
	return 0;
}

/* Drop a reference on @f (mu held); the last one closes it. */
static void unref(struct cfile *f)
{
	if (--f->refs == 0) {
		close(f->fd);
		if (f->dfd >= 0)
			close(f->dfd);
		free(f);
	}
}

/* Take @f out of the table and unlink it (mu held): open reads finish. */
static void remove_file(struct cfstore *c, struct cfile *f)
{
	char name[32];
	size_t i;

	for (i = 0; i < c->n && c->f[i] != f; i++)
		;
	CS_ASSERT(i < c->n);
	memmove(c->f + i, c->f + i + 1, (c->n - i - 1) * sizeof(*c->f));
	c->n--;
	fname(f->id, name, sizeof(name));
	unlinkat(c->dirfd, name, 0); /* if it stays, nothing names it: the next open removes it */
	c->dir_dirty = 1;
	c->reclaimed += f->alloc > f->size ? f->alloc : f->size;
	unref(f);
}

static struct cfile *file_new(int fd, uint32_t id)
{
	struct cfile *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->id = id;
	f->fd = fd;
	f->dfd = -1;
	f->refs = 1;
	return f;
}

/* Start a new active file (mu held). */
static int start_file(struct cfstore *c)
{
	uint32_t id = c->n ? c->f[c->n - 1]->id + 1 : 1;
	struct cfile *f;
	char name[32];
	int fd, rc;

	if (id == 0)
		return cs_fail(-EOVERFLOW, "chunk files: out of file numbers");
	fname(id, name, sizeof(name));
	fd = openat(c->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return cs_fail(-errno, "chunk files: creating %s: %s", name, strerror(errno));
	f = file_new(fd, id);
	rc = f ? insert(c, f) : -ENOMEM;
	if (rc) {
		unlinkat(c->dirfd, name, 0);
		close(fd);
		free(f);
		return rc;
	}
	if (c->active && c->active->alloc > c->active->size &&
	    ftruncate(c->active->fd, (off_t)c->active->size) == 0) /* give back the rest */
		c->active->alloc = c->active->size;
	c->active = f;
	c->dir_dirty = 1;
	return 0;
}

/* Reserve @len bytes in the active file (mu held): its offset in *@off. */
static int reserve(struct cfstore *c, uint64_t len, struct cfile **out, uint64_t *off)
{
	struct cfile *f = c->active;
	int rc;

	if (!f || f->size + len > CF_MAX) {
		rc = start_file(c);
		if (rc)
			return rc;
		f = c->active;
	}
	if (f->size + len > f->alloc) {
		uint64_t want = f->size + len + CF_PREALLOC - 1;

		want -= want % CF_PREALLOC;
		if (reclaiming)
			want = f->size + len;
		else if (cs_health_admit_data(c->cs.st, want - f->alloc, "write chunk")) {
			want = f->size + len; /* nearly full: only what this chunk needs */
			rc = cs_health_admit_data(c->cs.st, want - f->alloc, "write chunk");
			if (rc)
				return rc;
		}
		rc = posix_fallocate(f->fd, (off_t)f->alloc, (off_t)(want - f->alloc));
		if (rc)
			return cs_fail(-rc, "chunk files: growing %08x.ck: %s", f->id, strerror(rc));
		f->alloc = want;
	}
	*off = f->size;
	f->size += len;
	f->refs++;
	f->pending++; /* from here, not after the write: reclaim must not take a file
		       * whose bytes a batch is about to name (named() ends it) */
	f->live += len;
	*out = f;
	return 0;
}

/* Write out the stage (wmu held); then a sealed file loses its padding. */
static int stage_flush(struct cfstore *c)
{
	struct cfile *f = c->sf;
	int rc = f ? cf_stage_flush(&c->stage) : 0;

	if (rc || !f)
		return rc;
	pthread_mutex_lock(&c->mu);
	f->dirty = 1;
	if (f != c->active && f->alloc <= f->size && ftruncate(f->fd, (off_t)f->size) == 0)
		f->alloc = f->size; /* sealed: no padding past its end */
	pthread_mutex_unlock(&c->mu);
	return 0;
}

/* Append record @hdr + @val (@len bytes) at @off of @f to the stage (wmu
 * held), writing out first what it held of another file, or too much. */
static int stage_put(struct cfstore *c, struct cfile *f, uint64_t off, const uint8_t *hdr,
		     const void *val, uint32_t len)
{
	struct cfile *old = c->sf;
	char name[32];
	int rc = 0;

	if (old == f && cf_stage_full(&c->stage, CF_HDR + len))
		rc = stage_flush(c);
	if (rc == 0 && !(old == f && cf_stage_at(&c->stage, f->fd, off))) {
		rc = stage_flush(c);
		if (rc == 0 && !c->stage.buffered && f->dfd < 0) {
			fname(f->id, name, sizeof(name));
			f->dfd = openat(c->dirfd, name, O_WRONLY | O_DIRECT | O_CLOEXEC);
		}
		if (rc == 0) {
			pthread_mutex_lock(&c->mu);
			f->refs++;
			c->sf = f;
			if (old)
				unref(old);
			pthread_mutex_unlock(&c->mu);
			cf_stage_move(&c->stage, f->id, f->fd, f->dfd, off);
		}
	}
	if (rc == 0)
		cf_stage_append(&c->stage, hdr, CF_HDR, val, len);
	return rc;
}

static int cf_put(struct cs_chunkstore *cs, const uint8_t *hash, const void *val, uint32_t len,
		  uint32_t raw_len, uint8_t *ref)
{
	struct cfstore *c = cf_of(cs);
	struct cs_chunkref r = {.tag = 'F', .stored_len = len, .raw_len = raw_len};
	uint8_t hdr[CF_HDR];
	struct cfile *f = NULL;
	uint64_t off = 0;
	int rc;

	memcpy(hdr, CF_MAGIC, 4);
	be32_put(hdr + 4, len);
	memcpy(hdr + 8, hash, CS_HASH_LEN);
	pthread_mutex_lock(&c->wmu);
	pthread_mutex_lock(&c->mu);
	rc = reserve(c, CF_HDR + (uint64_t)len, &f, &off);
	pthread_mutex_unlock(&c->mu);
	if (rc) {
		pthread_mutex_unlock(&c->wmu);
		return rc;
	}
	rc = stage_put(c, f, off, hdr, val, len);
	pthread_mutex_lock(&c->mu);
	if (rc == 0) {
		my_wseq = ++c->wseq; /* staged: the next sync covers it */
		if (!reclaiming) /* a writer's put, not reclaim's own */
			c->fg_at = now_ns();
	} else { /* the reserved bytes are garbage, and nothing will name them */
		f->pending--;
		f->live -= CF_HDR + (uint64_t)len;
	}
	cs_chunkref_encode(&r, ref);
	be32_put(ref + CS_REF_HEAD, f->id);
	be64_put(ref + CS_REF_HEAD + 4, off + CF_HDR);
	unref(f);
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_unlock(&c->wmu);
	return rc ? rc : CF_REF_LEN;
}

/* Write the stage out (from sync and reclaim). */
static int stage_write(struct cfstore *c)
{
	int rc;

	pthread_mutex_lock(&c->wmu);
	rc = stage_flush(c);
	pthread_mutex_unlock(&c->wmu);
	return rc;
}

/* fdatasync every dirty file, and the directory when it changed. */
static int sync_files(struct cfstore *c)
{
	struct cfile **todo;
	size_t n = 0;
	int rc = 0, dir;

	pthread_mutex_lock(&c->mu);
	todo = malloc((c->n ? c->n : 1) * sizeof(*todo));
	if (!todo) {
		pthread_mutex_unlock(&c->mu);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->n; i++)
		if (c->f[i]->dirty) {
			c->f[i]->dirty = 0;
			c->f[i]->refs++;
			todo[n++] = c->f[i];
		}
	dir = c->dir_dirty;
	c->dir_dirty = 0;
	pthread_mutex_unlock(&c->mu);
	for (size_t i = 0; i < n; i++)
		if (rc == 0 && fdatasync(todo[i]->fd) < 0)
			rc = cs_fail(-errno, "chunk files: syncing %08x.ck: %s", todo[i]->id,
				     strerror(errno));
	if (rc == 0 && dir && fsync(c->dirfd) < 0)
		rc = cs_fail(-errno, "chunk files: syncing the directory: %s", strerror(errno));
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < n; i++) {
		if (rc)
			todo[i]->dirty = 1; /* what a failed sync wrote is unknown: never named */
		unref(todo[i]);
	}
	if (rc && dir)
		c->dir_dirty = 1;
	pthread_mutex_unlock(&c->mu);
	free(todo);
	return rc;
}

static int cf_sync(struct cs_chunkstore *cs)
{
	struct cfstore *c = cf_of(cs);
	uint64_t need = my_wseq, target;
	int rc;

	if (__atomic_load_n(&c->synced, __ATOMIC_ACQUIRE) >= need && !c->dir_dirty)
		return 0;
	pthread_mutex_lock(&c->sync_mu);
	if (c->synced >= need && !c->dir_dirty) { /* a sync that ran meanwhile covered it */
		pthread_mutex_unlock(&c->sync_mu);
		return 0;
	}
	pthread_mutex_lock(&c->mu);
	target = c->wseq;
	pthread_mutex_unlock(&c->mu);
	rc = stage_write(c);
	if (rc == 0)
		rc = sync_files(c);
	if (rc == 0)
		__atomic_store_n(&c->synced, target, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&c->sync_mu);
	return rc;
}

static int bad_ref(const uint8_t *hash, const char *why)
{
	char hex[2 * CS_HASH_LEN + 1];

	cs_hash_hex(hash, hex);
	return cs_fail(-EIO, "chunk %s: %s", hex, why);
}

/* The file and offset of 'F' ref @ref (mu held for the lookup). */
static int ref_locate(struct cfstore *c, const uint8_t *hash, const uint8_t *ref, size_t reflen,
		      struct cs_chunkref *r, struct cfile **f, uint64_t *off)
{
	uint32_t id;

	if (reflen != CF_REF_LEN || cs_chunkref_decode(ref, reflen, r) || r->tag != 'F')
		return bad_ref(hash, "bad index entry");
	id = be32_get(ref + CS_REF_HEAD);
	*off = be64_get(ref + CS_REF_HEAD + 4);
	*f = find(c, id);
	if (!*f)
		return bad_ref(hash, "its chunk file is missing");
	if (*off < CF_HDR || *off + r->stored_len > (*f)->size)
		return bad_ref(hash, "its chunk file is too short");
	return 0;
}

static int cf_get(struct cs_chunkstore *cs, const uint8_t *hash, const uint8_t *ref,
		  size_t reflen, void *buf, size_t cap)
{
	struct cfstore *c = cf_of(cs);
	struct cs_chunkref r;
	struct cfile *f;
	uint64_t off;
	ssize_t n;
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = ref_locate(c, hash, ref, reflen, &r, &f, &off);
	if (rc == 0)
		f->refs++;
	pthread_mutex_unlock(&c->mu);
	if (rc)
		return rc;
	if (r.stored_len > cap)
		rc = bad_ref(hash, "longer than a chunk");
	else if ((n = pread(f->fd, buf, r.stored_len, (off_t)off)) != (ssize_t)r.stored_len)
		rc = n < 0 ? cs_fail(-EIO, "chunk files: reading %08x.ck: %s", f->id,
				     strerror(errno))
			   : bad_ref(hash, "its chunk file is too short");
	pthread_mutex_lock(&c->mu);
	unref(f);
	pthread_mutex_unlock(&c->mu);
	return rc ? rc : (int)r.stored_len;
}

/* Does nothing name a record of @f any more, nor can (mu held)? Puts go
 * to the active file and the stage's only, so such a file stays so. */
static int unnamed(const struct cfstore *c, const struct cfile *f)
{
	return f != c->active && f != c->sf && !f->live && !f->pending && f->size;
}

/* The record of @ref left file @ref names (its bytes garbage from now):
 * take it off the file's live bytes; with @settle, a put is settled too. */
static void lose(struct cfstore *c, const uint8_t *ref, size_t reflen, int live, int settle)
{
	struct cs_chunkref r;
	struct cfile *f;

	if (reflen != CF_REF_LEN || cs_chunkref_decode(ref, reflen, &r))
		return;
	pthread_mutex_lock(&c->mu);
	f = find(c, be32_get(ref + CS_REF_HEAD));
	if (f && live)
		f->live -= f->live > CF_HDR + r.stored_len ? CF_HDR + r.stored_len : f->live;
	if (f && settle)
		f->pending--;
	if (f && unnamed(c, f))
		c->dead_new = 1;
	pthread_mutex_unlock(&c->mu);
}

static void cf_drop(struct cs_chunkstore *cs, const uint8_t *hash, const uint8_t *ref,
		    size_t reflen)
{
	(void)hash;
	lose(cf_of(cs), ref, reflen, 1, 0);
}

static void cf_named(struct cs_chunkstore *cs, const uint8_t *ref, size_t reflen, int named)
{
	lose(cf_of(cs), ref, reflen, !named, 1);
}

static int cf_check(struct cs_chunkstore *cs, const uint8_t *hash, const uint8_t *ref,
		    size_t reflen)
{
	struct cfstore *c = cf_of(cs);
	struct cs_chunkref r;
	struct cfile *f;
	uint64_t off;
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = ref_locate(c, hash, ref, reflen, &r, &f, &off);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* The file most worth reclaiming (mu held): live under half its size, no
 * put waiting for its batch, the most garbage first; the active file
 * too once it holds CF_PREALLOC (cf_reclaim seals it first). */
static struct cfile *victim(struct cfstore *c)
{
	struct cfile *best = NULL;

	for (size_t i = 0; i < c->n; i++) {
		struct cfile *f = c->f[i];

		if (f->pending || f->live * 2 >= f->size ||
		    (f == c->active && f->size < CF_PREALLOC))
			continue;
		if (!best || f->size - f->live > best->size - best->live)
			best = f;
	}
	return best;
}

/* Files nothing names (unnamed): note them before a WAL sync, delete them
 * after it. */
static uint64_t cf_settle(struct cs_chunkstore *cs, uint64_t token)
{
	struct cfstore *c = cf_of(cs);
	uint64_t t;

	pthread_mutex_lock(&c->mu);
	t = token ? token : ++c->settles;
	if (!token)
		c->dead_new = 0;
	for (size_t i = c->n; i-- > 0;) {
		struct cfile *f = c->f[i];
		int dead = unnamed(c, f);

		if (!token && dead && !f->dead)
			f->dead = t;
		else if (token && dead && f->dead && f->dead <= token)
			remove_file(c, f);
	}
	pthread_mutex_unlock(&c->mu);
	return t;
}

static int cf_settle_due(struct cs_chunkstore *cs)
{
	return __atomic_load_n(&cf_of(cs)->dead_new, __ATOMIC_RELAXED);
}

static int cf_wanted(struct cs_chunkstore *cs)
{
	struct cfstore *c = cf_of(cs);
	int due;

	pthread_mutex_lock(&c->mu);
	due = victim(c) != NULL;
	pthread_mutex_unlock(&c->mu);
	return due;
}

static void cf_space(struct cs_chunkstore *cs, struct cs_chunkspace *out)
{
	struct cfstore *c = cf_of(cs);

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n; i++) {
		out->bytes += c->f[i]->alloc > c->f[i]->size ? c->f[i]->alloc : c->f[i]->size;
		out->live_bytes += c->f[i]->live;
	}
	out->files = c->n;
	out->reclaimed = c->reclaimed;
	pthread_mutex_unlock(&c->mu);
}

static void cf_close(struct cs_chunkstore *cs)
{
	struct cfstore *c = cf_of(cs);

	if (!c)
		return;
	if (c->sf) { /* unsynced puts: never named, but not left half-written */
		(void)stage_flush(c);
		unref(c->sf);
	}
	cf_stage_fini(&c->stage);
	if (c->active && c->active->alloc > c->active->size &&
	    ftruncate(c->active->fd, (off_t)c->active->size) == 0)
		c->active->alloc = c->active->size;
	for (size_t i = 0; i < c->n; i++)
		unref(c->f[i]);
	free(c->f);
	if (c->dirfd >= 0)
		close(c->dirfd);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->sync_mu);
	pthread_mutex_destroy(&c->wmu);
	free(c);
}

/* ---- reclaim ---- */

/* A live record copied to the active file, its entry not yet repointed. */
struct moved {
	uint8_t hash[CS_HASH_LEN];
	uint8_t old[CF_REF_LEN], new[CF_REF_LEN];
};

/* Does the index name record @hash at @off of file @id? 1 yes (its ref in
 * @ref), 0 no, <0 an error. */
static int named_here(cs_store *st, const uint8_t *hash, uint32_t id, uint64_t off,
		      uint8_t *ref)
{
	char *v = NULL;
	size_t vlen;
	int rc = cs_kv_get(st, st->cf_chunks, hash, CS_HASH_LEN, &v, &vlen);

	if (rc)
		return rc == -ENOENT ? 0 : rc;
	rc = vlen == CF_REF_LEN && v[0] == 'F' && be32_get((uint8_t *)v + CS_REF_HEAD) == id &&
	     be64_get((uint8_t *)v + CS_REF_HEAD + 4) == off;
	if (rc)
		memcpy(ref, v, CF_REF_LEN);
	free(v);
	return rc;
}

/* Point the index entries of @m at their copies, where they still name
 * the old ones, in one synced batch (rule 2: the old file may go after). */
static int repoint(struct cfstore *c, struct moved *m, size_t n)
{
	cs_store *st = c->cs.st;
	rocksdb_writebatch_t *wb;
	char *keep = calloc(n ? n : 1, 1);
	int rc = keep ? cf_sync(&c->cs) : -ENOMEM; /* rule 1: the copies durable first */

	wb = rocksdb_writebatch_create();
	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		uint8_t ref[CF_REF_LEN];
		int here = named_here(st, m[i].hash, be32_get(m[i].old + CS_REF_HEAD),
				      be64_get(m[i].old + CS_REF_HEAD + 4), ref);

		if (here < 0)
			rc = here;
		else if (here && !memcmp(ref, m[i].old, CF_REF_LEN)) {
			keep[i] = 1;
			rocksdb_writebatch_put_cf(wb, st->cf_chunks, (const char *)m[i].hash,
						  CS_HASH_LEN, (const char *)m[i].new, CF_REF_LEN);
		}
	}
	if (rc == 0)
		rc = cs_store_write(st, wb, 0, 1, "reclaim chunk files");
	pthread_mutex_unlock(&st->lock);
	rocksdb_writebatch_destroy(wb);
	for (size_t i = 0; i < n; i++) {
		cf_named(&c->cs, m[i].new, CF_REF_LEN, rc == 0 && keep && keep[i]);
		if (rc == 0 && keep && keep[i])
			cf_drop(&c->cs, m[i].hash, m[i].old, CF_REF_LEN);
	}
	free(keep);
	return rc;
}

/* Copy the named records of @f from its scan position on, at most about
 * @budget bytes, then repoint them. 1: the file is done, 0: more left. */
static int move_records(struct cfstore *c, struct cfile *f, uint64_t budget)
{
	uint8_t *buf = malloc(CF_HDR + CS_CHUNK_VALUE_MAX);
	struct moved *m = NULL;
	size_t n = 0, cap = 0;
	uint64_t pos = f->scan, moved = 0, paced = 0;
	int rc = buf ? 0 : -ENOMEM;

	reclaiming = 1;

	while (rc == 0 && pos + CF_HDR <= f->size && moved < budget) {
		uint32_t len;
		int here;

		if (pread(f->fd, buf, CF_HDR, (off_t)pos) != CF_HDR || memcmp(buf, CF_MAGIC, 4)) {
			rc = cs_fail(-EIO, "chunk files: %08x.ck: no record at offset %llu", f->id,
				     (unsigned long long)pos);
			break;
		}
		len = be32_get(buf + 4);
		if (len > CS_CHUNK_VALUE_MAX || pos + CF_HDR + len > f->size) {
			rc = cs_fail(-EIO, "chunk files: %08x.ck: bad record at offset %llu",
				     f->id, (unsigned long long)pos);
			break;
		}
		rc = cs_grow((void **)&m, &cap, n + 1, sizeof(*m));
		here = rc ? rc : named_here(c->cs.st, buf + 8, f->id, pos + CF_HDR, m[n].old);
		if (here < 0)
			rc = here;
		else if (here) {
			struct cs_chunkref r;

			cs_chunkref_decode(m[n].old, CF_REF_LEN, &r);
			if (pread(f->fd, buf + CF_HDR, len, (off_t)(pos + CF_HDR)) != (ssize_t)len)
				rc = cs_fail(-EIO, "chunk files: reading %08x.ck: %s", f->id,
					     strerror(errno));
			else if ((rc = cf_put(&c->cs, buf + 8, buf + CF_HDR, len, r.raw_len,
					      m[n].new)) > 0) {
				memcpy(m[n].hash, buf + 8, CS_HASH_LEN);
				n++;
				moved += CF_HDR + len;
				rc = 0;
			}
		}
		pos += CF_HDR + len;
		if (rc == 0 && moved - paced >= CF_YIELD_EVERY) {
			struct timespec ts = {0, CF_YIELD_NS}; /* writers are busy: let them go first */

			paced = moved;
			if (now_ns() - __atomic_load_n(&c->fg_at, __ATOMIC_RELAXED) < 2 * CF_YIELD_NS)
				nanosleep(&ts, NULL);
		}
	}
	reclaiming = 0;
	if (rc == 0 && n)
		rc = repoint(c, m, n);
	else
		for (size_t i = 0; i < n; i++)
			cf_named(&c->cs, m[i].new, CF_REF_LEN, 0);
	free(m);
	free(buf);
	if (rc)
		return rc;
	f->scan = pos;
	return pos + CF_HDR > f->size;
}

static int cf_reclaim(struct cs_chunkstore *cs, uint64_t budget)
{
	struct cfstore *c = cf_of(cs);
	struct cfile *f;
	int rc;

	pthread_mutex_lock(&c->mu);
	f = victim(c);
	rc = f && f == c->active ? start_file(c) : 0; /* puts go elsewhere from now */
	if (f && rc == 0)
		f->refs++;
	pthread_mutex_unlock(&c->mu);
	if (!f || rc)
		return rc;
	rc = stage_write(c); /* the file's staged records, before reading it */
	if (rc == 0)
		rc = move_records(c, f, budget);
	if (rc == 1) /* rule 2: every batch that dropped its records durable */
		rc = cs_store_sync_wal(c->cs.st);
	pthread_mutex_lock(&c->mu);
	if (rc == 0 && f->scan + CF_HDR > f->size && !f->pending && find(c, f->id) == f)
		remove_file(c, f);
	unref(f);
	rc = rc < 0 ? rc : victim(c) != NULL;
	pthread_mutex_unlock(&c->mu);
	if (rc >= 0 && c->dir_dirty)
		rc = cf_sync(cs) < 0 ? -EIO : rc;
	return rc;
}

/* ---- open and recovery ---- */

/* Local chunk files are this store's own: no other store can share them,
 * so a stream must carry their bytes (cs_send.c). */
static int cf_pool(struct cs_chunkstore *cs, char *fsid, char *pool)
{
	return -EOPNOTSUPP;
}

static int cf_adopt(struct cs_chunkstore *cs, const uint8_t *hash, uint32_t len,
		    uint32_t raw_len, uint8_t *ref)
{
	return -EOPNOTSUPP;
}

static const struct cs_chunkstore_ops cf_ops = {
	.kind = "local",
	.put = cf_put,
	.sync = cf_sync,
	.named = cf_named,
	.get = cf_get,
	.drop = cf_drop,
	.settle = cf_settle,
	.settle_due = cf_settle_due,
	.wanted = cf_wanted,
	.reclaim = cf_reclaim,
	.check = cf_check,
	.space = cf_space,
	.pool = cf_pool,
	.adopt = cf_adopt,
	.close = cf_close,
};

/* Every XXXXXXXX.ck of the directory into the table, size 0 (recovery
 * sets it to the end of the last named record). */
static int list_files(struct cfstore *c)
{
	DIR *d;
	struct dirent *de;
	int fd = dup(c->dirfd), rc = 0;

	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return cs_fail(-errno, "chunk files: listing: %s", strerror(errno));
	}
	while (rc == 0 && (de = readdir(d))) {
		char tail[8];
		unsigned int id;
		struct cfile *f;
		struct stat sb;

		if (sscanf(de->d_name, "%8x.c%7s", &id, tail) != 2 || strcmp(tail, "k") ||
		    strlen(de->d_name) != 11 || id == 0)
			continue;
		fd = openat(c->dirfd, de->d_name, O_RDWR | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &sb) < 0) {
			rc = cs_fail(-errno, "chunk files: opening %s: %s", de->d_name,
				     strerror(errno));
			if (fd >= 0)
				close(fd);
			break;
		}
		f = file_new(fd, id);
		rc = f ? insert(c, f) : -ENOMEM;
		if (rc) {
			close(fd);
			free(f);
		} else {
			f->alloc = (uint64_t)sb.st_size;
		}
	}
	closedir(d);
	return rc;
}

/* Count one index entry: live bytes, and the named end of its file. */
static int count_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct cfstore *c = ctx;
	struct cs_chunkref r;
	struct cfile *f;
	uint64_t end;

	if (klen != CS_HASH_LEN || vlen != CF_REF_LEN || v[0] != 'F')
		return 0; /* a chunk stored in the database itself, or another backend's */
	cs_chunkref_decode(v, vlen, &r);
	f = find(c, be32_get(v + CS_REF_HEAD));
	end = be64_get(v + CS_REF_HEAD + 4) + r.stored_len;
	if (!f || end > f->alloc)
		return 0; /* bytes missing: reads and `cstorfs-ctl check` say which */
	f->live += CF_HDR + (uint64_t)r.stored_len;
	if (end > f->size)
		f->size = end;
	return 0;
}

/* Rule 3: cut every file to its last named byte; delete a file nothing
 * names. */
static int recover(struct cfstore *c)
{
	int rc = cs_kv_scan(c->cs.st, c->cs.st->cf_chunks, (const uint8_t *)"", 0, count_fn, c);

	for (size_t i = c->n; rc == 0 && i-- > 0;) {
		struct cfile *f = c->f[i];

		f->scan = 0;
		if (f->size == 0) {
			remove_file(c, f);
		} else if (f->alloc > f->size) {
			if (ftruncate(f->fd, (off_t)f->size) < 0)
				rc = cs_fail(-errno, "chunk files: cutting %08x.ck: %s", f->id,
					     strerror(errno));
			f->alloc = f->size;
		}
	}
	c->reclaimed = 0;
	if (rc == 0 && c->n && c->f[c->n - 1]->size < CF_MAX / 2)
		c->active = c->f[c->n - 1]; /* go on appending to the newest */
	if (rc == 0 && c->dir_dirty && fsync(c->dirfd) < 0)
		rc = cs_fail(-errno, "chunk files: syncing the directory: %s", strerror(errno));
	c->dir_dirty = 0;
	return rc;
}

int cs_cfile_open(cs_store *st, struct cs_chunkstore **out)
{
	struct cfstore *c = calloc(1, sizeof(*c));
	char path[PATH_MAX];
	int rc;

	if (!c)
		return -ENOMEM;
	c->cs.ops = &cf_ops;
	c->cs.st = st;
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->sync_mu, NULL);
	pthread_mutex_init(&c->wmu, NULL);
	if (cf_stage_init(&c->stage)) {
		c->dirfd = -1;
		rc = -ENOMEM;
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/chunks", st->path);
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		rc = cs_fail(-errno, "chunk files: creating %s: %s", path, strerror(errno));
		c->dirfd = -1;
		goto fail;
	}
	c->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0) {
		rc = cs_fail(-errno, "chunk files: opening %s: %s", path, strerror(errno));
		goto fail;
	}
	rc = list_files(c);
	if (rc == 0)
		rc = recover(c);
	if (rc)
		goto fail;
	*out = &c->cs;
	return 0;
fail:
	cf_close(&c->cs);
	return rc;
}
