/*
 * cs_scrub.c - scrub: read back every chunk and check it, in a thread of
 * its own, at a bounded rate; then name the files that use what is damaged.
 *
 * What is read.
 *  - The whole store: every chunk a reference record ('R' hash) names, in
 *    hash order, in batches of SCRUB_BATCH records. No iterator lives
 *    across a batch, so a long scrub pins no memtable or file.
 *  - One volume: every chunk an extent version of the volume names (every
 *    version: its snapshots' too, and garbage not yet reclaimed), and for a
 *    clone what each origin holds at the epoch the clone reads through.
 *    The list is sorted and each chunk read once (the list costs 36 bytes
 *    per extent version; it is made before reading starts: LISTING).
 *  Chunks staged by an unfinished receive ('Q' keys) are not read.
 *
 * How. cs_chunk_read(): the value is fetched without RocksDB's checksum,
 * decompressed and its SHA-256 compared with its key, so a flipped byte
 * anywhere in a blob file shows. A chunk that fails is damaged, unless its
 * reference record is gone by then: a concurrent unlink, volume deletion
 * or gc freed it, and it is skipped (a chunk's bytes never change under
 * its key, so a failed read of one still referenced is real damage).
 *
 * Rate. With a limit, after each chunk the thread sleeps while the stored
 * bytes read are ahead of rate x time since reading began; a cancel wakes
 * it at once (s->cond, on CLOCK_MONOTONIC).
 *
 * Which files: cs_scrubmap.c (MAPPING, only when damage was found).
 *
 * Result. The handle keeps status and damage list until cs_scrub_free().
 * When the thread ends it also writes a summary (no damage list) under the
 * meta key "\0SCRUB" with a plain put (format: scrubrec_encode), read back
 * by cs_scrub_last(); nothing else reads or writes that key.
 *
 * Locks. The thread takes st->vlock (and an open volume's vs->lock under
 * it, the documented order) only while it copies the volume records for
 * MAPPING or LISTING; every read of keys and chunks takes no lock.
 * s->lock is a leaf: status, cancel, the damage list.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cs_priv.h"
#include "cs_scrubmap.h"

#define SCRUB_BATCH 1024 /* reference records read per iterator */

static const uint8_t SCRUB_KEY[] = {0, 'S', 'C', 'R', 'U', 'B'};
#define SCRUBREC_VERSION 1

/* A chunk to read: its hash and stored length (for progress and rate). */
struct item {
	uint8_t hash[CS_HASH_LEN];
	uint32_t stored;
};

struct items {
	struct item *v;
	size_t n, cap;
};

/* ---- time ---- */

static struct timespec mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts;
}

static int64_t ts_ns(struct timespec ts)
{
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts_ns(ts);
}

/* ---- growing arrays ---- */

static int items_add(struct items *l, const uint8_t *hash, uint32_t stored)
{
	if (cs_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
		return -ENOMEM;
	memcpy(l->v[l->n].hash, hash, CS_HASH_LEN);
	l->v[l->n++].stored = stored;
	return 0;
}

/* ---- reading ---- */

/* Does chunk @hash still have a reference record? (errors: assume so) */
static int still_referenced(cs_store *st, const uint8_t *hash)
{
	uint8_t k[1 + CS_HASH_LEN];
	size_t vlen;
	char *v = NULL;
	int rc;

	k[0] = 'R';
	memcpy(k + 1, hash, CS_HASH_LEN);
	rc = cs_kv_get(st, st->cf_meta, k, sizeof(k), &v, &vlen);
	free(v);
	return rc != -ENOENT;
}

/* The reason in a cs_chunk_read message ("chunk HEX: why"): "why". */
static const char *reason_of(const char *msg)
{
	if (!strncmp(msg, "chunk ", 6) && strlen(msg) > 6 + 2 * CS_HASH_LEN + 2 &&
	    !strncmp(msg + 6 + 2 * CS_HASH_LEN, ": ", 2))
		return msg + 6 + 2 * CS_HASH_LEN + 2;
	return *msg ? msg : "unreadable";
}

/* Count one chunk read, then pause as the rate asks. -ECANCELED when
 * cancelled (before or during the pause). */
static int progress(struct cs_scrub *s, uint32_t stored)
{
	struct cs_scrub_status *t = &s->status;
	int rc;

	pthread_mutex_lock(&s->lock);
	t->chunks_done++;
	t->bytes_done += stored;
	if (t->chunks_done > t->chunks_total)
		t->chunks_total = t->chunks_done;
	if (t->bytes_done > t->bytes_total)
		t->bytes_total = t->bytes_done;
	if (s->rate) {
		double due = (double)t->bytes_done / (double)s->rate;
		struct timespec until = s->t_read;
		int64_t ns = ts_ns(until) + (int64_t)(due * 1e9);

		until.tv_sec = ns / 1000000000;
		until.tv_nsec = ns % 1000000000;
		while (!s->cancel && ts_ns(mono()) < ns)
			pthread_cond_timedwait(&s->cond, &s->lock, &until);
	}
	rc = s->cancel ? -ECANCELED : 0;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Read and check one chunk; damage is recorded, not returned. */
static int check_one(struct cs_scrub *s, const struct item *it, uint8_t *buf)
{
	char msg[256];
	int rc = cs_chunk_read(s->st, it->hash, buf, CS_CHUNK_MAX);

	if (rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "%s", reason_of(cs_last_error()));
		if (still_referenced(s->st, it->hash))
			cs_scrub_damage_add(s, it->hash, msg);
	}
	return progress(s, it->stored);
}

static int check_items(struct cs_scrub *s, const struct items *l, uint8_t *buf)
{
	int rc = 0;

	for (size_t i = 0; i < l->n && rc == 0; i++)
		rc = check_one(s, &l->v[i], buf);
	return rc;
}

/* The whole store: the 'R' records in batches. */
struct ref_batch {
	struct items *l;
	uint8_t last[1 + CS_HASH_LEN];
};

static int ref_batch_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct ref_batch *b = ctx;

	if (klen != 1 + CS_HASH_LEN || vlen != 16)
		return 0; /* not a reference record (cs_store_recount reports it) */
	memcpy(b->last, k, klen);
	if (items_add(b->l, k + 1, be32_get(v + 12)))
		return -ENOMEM;
	return b->l->n == SCRUB_BATCH;
}

static int scrub_store(struct cs_scrub *s, uint8_t *buf)
{
	struct items l = {0};
	struct ref_batch b = {&l, {0}};
	int rc, first = 1;

	do { /* the totals were set by cs_scrub_start */
		l.n = 0;
		rc = cs_kv_scan_after(s->st, s->st->cf_meta, (const uint8_t *)"R", 1,
				      first ? NULL : b.last, first ? 0 : sizeof(b.last),
				      ref_batch_fn, &b);
		first = 0;
		if (rc == 0)
			rc = check_items(s, &l, buf);
	} while (rc == 0 && l.n == SCRUB_BATCH);
	free(l.v);
	return rc;
}

/* One volume: its chunks, listed first. */
struct list_ctx {
	struct cs_scrub *s;
	struct items *l;
};

static int list_raw_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct list_ctx *c = ctx;

	if (vlen != 1 + CS_HASH_LEN + 8 || v[0] != 1)
		return 0; /* a tombstone */
	if ((c->l->n & 4095) == 0 && cs_scrub_cancelled(c->s))
		return -ECANCELED;
	return items_add(c->l, v + 1, be32_get(v + 1 + CS_HASH_LEN + 4));
}

static int list_view_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
			const struct cs_ver *ver)
{
	struct list_ctx *c = ctx;

	if (vlen != CS_HASH_LEN + 8)
		return 0;
	if ((c->l->n & 4095) == 0 && cs_scrub_cancelled(c->s))
		return -ECANCELED;
	return items_add(c->l, v, be32_get(v + CS_HASH_LEN + 4));
}

/* The live record of volume @name and its origin chain (under vlock). */
static int volume_rec(cs_store *st, const char *name, struct cs_volrec *r, struct cs_chain *chain)
{
	struct cs_volstate *vs;
	uint64_t vid;
	int rc;

	pthread_mutex_lock(&st->vlock);
	rc = cs_vol_lookup_name(st, name, &vid);
	if (rc == 0 && (vs = cs_vs_find(st, vid, 1))) {
		pthread_mutex_lock(&vs->lock);
		*r = vs->rec;
		pthread_mutex_unlock(&vs->lock);
	} else if (rc == 0) {
		rc = cs_volrec_load(st, vid, r);
	}
	pthread_mutex_unlock(&st->vlock);
	if (rc == 0)
		rc = cs_chain_load(st, r, chain);
	r->chain = NULL;
	return rc;
}

static int scrub_volume(struct cs_scrub *s, uint8_t *buf)
{
	struct items l = {0};
	struct list_ctx c = {s, &l};
	struct cs_volrec r;
	struct cs_chain *chain = malloc(sizeof(*chain));
	uint8_t p[9];
	size_t n = 0;
	int rc;

	if (!chain)
		return -ENOMEM;
	rc = volume_rec(s->st, s->volume, &r, chain);
	p[0] = 'E';
	be64_put(p + 1, r.id);
	if (rc == 0) /* every version of its own keys */
		rc = cs_kv_scan(s->st, s->st->cf_meta, p, 9, list_raw_fn, &c);
	for (uint32_t i = 0; rc == 0 && i < chain->n; i++) {
		/* what each origin holds at the epoch the clone reads it */
		struct cs_volrec o = {
		    .id = chain->l[i].vid, .epoch = chain->l[i].epoch, .snapshot_view = 1};

		be64_put(p + 1, o.id);
		rc = cs_kv_scanv(s->st, &o, p, 9, NULL, 0, list_view_fn, &c);
	}
	free(chain);
	if (rc == 0 && l.n)
		qsort(l.v, l.n, sizeof(*l.v), cs_scrub_hash_cmp);
	for (size_t i = 0; rc == 0 && i < l.n; i++) /* each chunk once */
		if (n == 0 || memcmp(l.v[i].hash, l.v[n - 1].hash, CS_HASH_LEN))
			l.v[n++] = l.v[i];
	if (rc == 0) {
		l.n = n;
		pthread_mutex_lock(&s->lock);
		s->status.chunks_total = n;
		for (size_t i = 0; i < n; i++)
			s->status.bytes_total += l.v[i].stored;
		pthread_mutex_unlock(&s->lock);
		cs_scrub_set_phase(s, CS_SCRUB_READING);
		rc = check_items(s, &l, buf);
	}
	free(l.v);
	return rc;
}

/* ---- the summary kept in the store ---- */

static size_t scrubrec_encode(const struct cs_scrub_status *t, uint8_t *b)
{
	const uint64_t n[] = {t->rate,	      (uint64_t)t->started_ns, (uint64_t)t->finished_ns,
			      t->elapsed_ms,  t->chunks_total,	       t->bytes_total,
			      t->chunks_done, t->bytes_done,	       t->damaged};
	size_t vl = strlen(t->volume), ml = strlen(t->message);
	uint8_t *p = b;

	*p++ = SCRUBREC_VERSION;
	*p++ = (uint8_t)t->state;
	be32_put(p, (uint32_t)-t->error), p += 4;
	for (size_t i = 0; i < sizeof(n) / sizeof(n[0]); i++, p += 8)
		be64_put(p, n[i]);
	*p++ = (uint8_t)vl;
	memcpy(p, t->volume, vl), p += vl;
	*p++ = (uint8_t)ml;
	memcpy(p, t->message, ml), p += ml;
	return (size_t)(p - b);
}

static int scrubrec_decode(struct cs_scrub_status *t, const uint8_t *b, size_t len)
{
	uint64_t n[9];
	const uint8_t *p = b + 6, *end = b + len;
	size_t vl, ml;

	memset(t, 0, sizeof(*t));
	if (len < 6 + sizeof(n) + 2 || b[0] != SCRUBREC_VERSION)
		return cs_fail(-EIO, "corrupt scrub record");
	t->state = b[1];
	t->error = -(int)be32_get(b + 2);
	for (size_t i = 0; i < 9; i++, p += 8)
		n[i] = be64_get(p);
	vl = *p++;
	if (vl > CS_NAME_MAX || p + vl + 1 > end)
		return cs_fail(-EIO, "corrupt scrub record");
	memcpy(t->volume, p, vl), p += vl;
	ml = *p++;
	if (ml >= sizeof(t->message) || p + ml != end)
		return cs_fail(-EIO, "corrupt scrub record");
	memcpy(t->message, p, ml);
	t->rate = n[0];
	t->started_ns = (int64_t)n[1];
	t->finished_ns = (int64_t)n[2];
	t->elapsed_ms = n[3];
	t->chunks_total = n[4];
	t->bytes_total = n[5];
	t->chunks_done = n[6];
	t->bytes_done = n[7];
	t->damaged = n[8];
	t->phase = CS_SCRUB_DONE;
	t->bytes_per_s = t->elapsed_ms ? t->bytes_done * 1000 / t->elapsed_ms : 0;
	return 0;
}

static void summary_save(cs_store *st, const struct cs_scrub_status *t)
{
	uint8_t b[2 + 4 + 9 * 8 + 2 + CS_NAME_MAX + 256];
	char *err = NULL;

	rocksdb_put_cf(st->db, st->wo, st->cf_meta, (const char *)SCRUB_KEY, sizeof(SCRUB_KEY),
		       (const char *)b, scrubrec_encode(t, b), &err);
	free(err); /* only a summary: the result is still in the handle */
}

int cs_scrub_last(cs_store *st, struct cs_scrub_status *out)
{
	size_t vlen;
	char *v;
	int rc = cs_kv_get(st, st->cf_meta, SCRUB_KEY, sizeof(SCRUB_KEY), &v, &vlen);

	if (rc == -ENOENT)
		return cs_fail(-ENOENT, "no scrub has run on this store");
	if (rc)
		return rc;
	rc = scrubrec_decode(out, (const uint8_t *)v, vlen);
	free(v);
	return rc;
}

/* ---- the thread and the handle ---- */

static void *scrub_main(void *arg)
{
	struct cs_scrub *s = arg;
	struct cs_scrub_status t;
	uint8_t *buf = malloc(CS_CHUNK_MAX);
	struct timespec end;
	int rc;

	if (!buf)
		rc = -ENOMEM;
	else if (s->volume[0])
		rc = scrub_volume(s, buf);
	else
		rc = scrub_store(s, buf);
	free(buf);
	if (rc == 0 && s->ndmg && !cs_scrub_cancelled(s))
		rc = cs_scrub_map_damage(s);
	/* the result: saved in the store first, then shown (a waiter that
	 * sees the end finds the summary there) */
	end = mono();
	cs_scrub_status(s, &t);
	if (rc == -ECANCELED || (rc == 0 && cs_scrub_cancelled(s))) {
		t.state = CS_SCRUB_CANCELLED;
	} else if (rc) {
		t.state = CS_SCRUB_FAILED;
		t.error = rc;
		snprintf(t.message, sizeof(t.message), "%s",
			 *cs_last_error() ? cs_last_error() : strerror(-rc));
	} else {
		t.state = CS_SCRUB_FINISHED;
	}
	t.phase = CS_SCRUB_DONE;
	t.finished_ns = wall_ns();
	t.elapsed_ms = (uint64_t)((ts_ns(end) - ts_ns(s->t_start)) / 1000000);
	t.bytes_per_s = t.elapsed_ms ? t.bytes_done * 1000 / t.elapsed_ms : 0;
	summary_save(s->st, &t);
	pthread_mutex_lock(&s->lock);
	s->status = t;
	s->t_end = end;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (s->on_end)
		s->on_end(s->ctx, s);
	return NULL;
}

static void scrub_destroy(struct cs_scrub *s)
{
	for (size_t i = 0; i < s->ndmg; i++)
		cs_scrub_damage_free(&s->dmg[i]);
	free(s->dmg);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int cs_scrub_start(cs_store *st, const struct cs_scrub_opts *o, cs_scrub **out)
{
	struct cs_scrub *s;
	pthread_condattr_t ca;
	uint64_t vid;
	int rc;

	*out = NULL;
	if (o && o->volume) {
		rc = cs_volname_check(o->volume);
		if (rc)
			return rc;
	}
	pthread_mutex_lock(&st->vlock);
	/* what the write buffers hold is read too (a failed flush keeps it
	 * buffered: not in the store, nothing to read) */
	(void)cs_wb_flush_open(st);
	rc = o && o->volume ? cs_vol_lookup_name(st, o->volume, &vid) : 0;
	pthread_mutex_unlock(&st->vlock);
	if (rc)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->st = st;
	s->rate = o ? o->rate : 0;
	s->on_end = o ? o->on_end : NULL;
	s->ctx = o ? o->ctx : NULL;
	if (o && o->volume)
		snprintf(s->volume, sizeof(s->volume), "%s", o->volume);
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	s->status.state = CS_SCRUB_RUNNING;
	s->status.phase = s->volume[0] ? CS_SCRUB_LISTING : CS_SCRUB_READING;
	memcpy(s->status.volume, s->volume, sizeof(s->volume));
	s->status.rate = s->rate;
	s->status.started_ns = wall_ns();
	s->t_start = s->t_read = mono();
	if (!s->volume[0]) { /* the whole store: every chunk it counts */
		pthread_mutex_lock(&st->lock);
		s->status.chunks_total = st->sb.chunks;
		s->status.bytes_total = st->sb.stored_bytes;
		pthread_mutex_unlock(&st->lock);
	}
	rc = pthread_create(&s->thread, NULL, scrub_main, s);
	if (rc) {
		scrub_destroy(s);
		return cs_fail(-EAGAIN, "cannot start a scrub thread: %s", strerror(rc));
	}
	s->have_thread = 1;
	*out = s;
	return 0;
}

void cs_scrub_status(cs_scrub *s, struct cs_scrub_status *out)
{
	int64_t ns;

	pthread_mutex_lock(&s->lock);
	*out = s->status;
	ns = ts_ns(out->state == CS_SCRUB_RUNNING ? mono() : s->t_end) - ts_ns(s->t_start);
	pthread_mutex_unlock(&s->lock);
	out->elapsed_ms = ns > 0 ? (uint64_t)(ns / 1000000) : 0;
	out->bytes_per_s = ns > 0 ? (uint64_t)((double)out->bytes_done * 1e9 / (double)ns) : 0;
}

void cs_scrub_cancel(cs_scrub *s)
{
	pthread_mutex_lock(&s->lock);
	__atomic_store_n(&s->cancel, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

int cs_scrub_wait(cs_scrub *s, int timeout_ms)
{
	int64_t until = ts_ns(mono()) + (int64_t)timeout_ms * 1000000;
	struct timespec ts = {until / 1000000000, until % 1000000000};
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	while (s->status.state == CS_SCRUB_RUNNING && rc == 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&s->cond, &s->lock);
		else if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) == ETIMEDOUT)
			rc = s->status.state == CS_SCRUB_RUNNING ? -ETIMEDOUT : 0;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int cs_scrub_damage_foreach(cs_scrub *s, cs_scrub_damage_fn fn, void *ctx)
{
	struct cs_scrub_file *files = NULL;
	int rc = 0, ended;

	pthread_mutex_lock(&s->lock);
	ended = s->status.state != CS_SCRUB_RUNNING;
	for (size_t i = 0; i < s->ndmg && rc == 0; i++) {
		struct damage *d = &s->dmg[i];
		struct cs_scrub_damage pub = {.reason = d->reason};
		size_t nf = ended ? d->nuses : 0;

		memcpy(pub.hash, d->hash, CS_HASH_LEN);
		memcpy(pub.hex, d->hex, sizeof(pub.hex));
		if (nf) {
			files = calloc(nf, sizeof(*files));
			if (!files) {
				rc = -ENOMEM;
				break;
			}
			for (size_t j = 0; j < nf; j++)
				files[j] = d->uses[j].f;
			pub.files = files;
			pub.nfiles = nf;
			pub.files_more = d->more;
		}
		rc = fn(ctx, &pub);
		free(files);
		files = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void cs_scrub_free(cs_scrub *s)
{
	if (!s)
		return;
	if (s->have_thread) {
		cs_scrub_cancel(s);
		pthread_join(s->thread, NULL);
	}
	scrub_destroy(s);
}

const char *cs_scrub_state_name(int state)
{
	switch (state) {
	case CS_SCRUB_RUNNING:
		return "running";
	case CS_SCRUB_FINISHED:
		return "finished";
	case CS_SCRUB_CANCELLED:
		return "cancelled";
	case CS_SCRUB_FAILED:
		return "failed";
	default:
		return "none";
	}
}

const char *cs_scrub_phase_name(int phase)
{
	switch (phase) {
	case CS_SCRUB_LISTING:
		return "listing";
	case CS_SCRUB_READING:
		return "reading";
	case CS_SCRUB_MAPPING:
		return "mapping";
	case CS_SCRUB_DONE:
		return "done";
	default:
		return "none";
	}
}
