/*
 * cs_recv.c - receiving replication streams.
 *
 * Keys owned: 'W' volume-name -> the state of a receive into that name;
 * 'Z' RID seq -> a staged key or snapshot record; 'Q' RID hash -> a chunk
 * this receive stored (in "chunks", without a reference count yet).
 *
 * States of a receive (in 'W'):
 *   RECEIVING  records are verified one by one and staged, in batches that
 *              also record how far the stream got (next record, byte
 *              offset, chain): a cut stream keeps its progress. Another
 *              receive into the name continues it, with either
 *               - the same stream again (a plain rerun of the command):
 *                 the records before the recorded next record are read
 *                 past, checked only by their checksums and the chain,
 *                 which must equal the recorded chain at the recorded
 *                 offset (they are the records staged before); or
 *               - the resumed stream (`send --resume`, cs_recv_resume_token):
 *                 a "resumed" header, then the records from there on.
 *              Any other stream (another stream id) is refused, naming
 *              both, and changes nothing. A continued receive that fails
 *              keeps the progress it had (rejected records were never
 *              staged); only `--abort` (cs_recv_abort) discards it.
 *   APPLYING   the trailer checked; the staged records are turned into the
 *              volume's keys. A full stream (or a clone) builds a volume
 *              that has no name until the last batch; an incremental
 *              writes its versions at the target's next epoch, which no
 *              reader sees until the batch that records the snapshot moves
 *              the volume to it. cs_store_open re-runs an interrupted apply.
 * Corrupt input to a fresh receive discards everything staged: the store
 * is as it was.
 *
 * A stream that was received already is refused (-EEXIST, "received
 * already"): for a full stream the volume exists and holds the stream's
 * snapshot, for an incremental the target holds it. The refusal is
 * decided from the header alone, before any record is staged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "cs_adoptq.h"
#include "cs_chunkstore.h"
#include "cs_health.h"
#include "cs_priv.h"
#include "cs_streamfmt.h"

#define ST_RECEIVING 0
#define ST_APPLYING 1
#define STAGE_RECORDS 256
#define STAGE_BYTES (8u << 20)

struct rstate {
	uint64_t rid;
	int phase;
	unsigned flags;           /* CS_RECV_FORCE */
	uint64_t next_seq, offset;
	uint8_t chain[32];
	uint8_t *hdr;             /* the original header's payload */
	size_t hdr_len;
};

struct cs_recv {
	cs_store *st;
	char volume[CS_NAME_MAX + 1];
	struct rstate s;
	struct cs_sparser *p;
	struct cs_stream_header h;
	struct cs_stream_header ph; /* resumed: the partial receive's header */
	int have_header, failed, resumed, foreign;
	rocksdb_writebatch_t *wb;
	size_t staged, staged_bytes;
	uint64_t chunks_new, chunks_present, records;
	struct staged_ref *refs; /* chunks put for the batch in wb */
	size_t nrefs, caprefs;
	struct cs_adoptq aq;     /* chunks by name, adopted at the end of a feed */
	struct cs_recv *next;
};

/* A chunk put into the chunk store, named by the next staged batch. */
struct staged_ref {
	uint8_t ref[CS_REF_MAX];
	size_t len;
};

/* Receives running in this process (names), under st->vlock. */
static struct cs_recv *running;
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t wkey(uint8_t *k, const char *volume)
{
	size_t n = strlen(volume);

	k[0] = 'W';
	memcpy(k + 1, volume, n);
	return 1 + n;
}

static size_t zkey(uint8_t *k, char tag, uint64_t rid, uint64_t x)
{
	k[0] = (uint8_t)tag;
	be64_put(k + 1, rid);
	be64_put(k + 9, x);
	return 17;
}

static void state_encode(struct cs_obuf *b, const struct rstate *s)
{
	cs_obuf_u8(b, 1);
	cs_obuf_u64(b, s->rid);
	cs_obuf_u8(b, (uint8_t)s->phase);
	cs_obuf_u32(b, s->flags);
	cs_obuf_u64(b, s->next_seq);
	cs_obuf_u64(b, s->offset);
	cs_obuf_put(b, s->chain, 32);
	cs_obuf_u32(b, (uint32_t)s->hdr_len);
	cs_obuf_put(b, s->hdr, s->hdr_len);
}

static int state_decode(struct rstate *s, const uint8_t *p, size_t len)
{
	struct cs_ibuf b = { p, len, 0 };
	uint8_t ver, phase;
	uint32_t hl;

	memset(s, 0, sizeof(*s));
	if (cs_ibuf_u8(&b, &ver) || ver != 1 || cs_ibuf_u64(&b, &s->rid) ||
	    cs_ibuf_u8(&b, &phase) || cs_ibuf_u32(&b, &s->flags) ||
	    cs_ibuf_u64(&b, &s->next_seq) || cs_ibuf_u64(&b, &s->offset) ||
	    cs_ibuf_get(&b, s->chain, 32) || cs_ibuf_u32(&b, &hl) || hl != len - b.pos)
		return cs_fail(-EIO, "corrupt receive state");
	s->phase = phase;
	s->hdr = malloc(hl ? hl : 1);
	if (!s->hdr)
		return -ENOMEM;
	memcpy(s->hdr, p + b.pos, hl);
	s->hdr_len = hl;
	return 0;
}

static int state_load(cs_store *st, const char *volume, struct rstate *s)
{
	uint8_t k[1 + CS_NAME_MAX];
	size_t vlen;
	char *v;
	int rc = cs_kv_get(st, st->cf_meta, k, wkey(k, volume), &v, &vlen);

	if (rc == -ENOENT)
		return cs_fail(-ENOENT, "no partial receive into '%s'", volume);
	if (rc)
		return rc;
	rc = state_decode(s, (uint8_t *)v, vlen);
	free(v);
	return rc;
}

static void state_put(rocksdb_writebatch_t *wb, cs_store *st, const char *volume,
                      const struct rstate *s)
{
	struct cs_obuf b = { 0 };
	uint8_t k[1 + CS_NAME_MAX];

	state_encode(&b, s);
	CS_ASSERT(!b.oom);
	rocksdb_writebatch_put_cf(wb, st->cf_meta, (const char *)k, wkey(k, volume),
	                          (const char *)b.p, b.len);
	free(b.p);
}

/* Through the write door (cs_health.c): @grows when the batch stores
 * chunk data (staged records), not when it discards. */
static int write_batch(cs_store *st, rocksdb_writebatch_t *wb, int grows)
{
	return cs_store_write(st, wb, grows, 0, "write staged records");
}

/* ---- discarding staged state ---- */

struct discard {
	cs_store *st;
	rocksdb_writebatch_t *wb;
	size_t n;
	int rc;
	uint8_t last[9 + CS_HASH_LEN]; /* the next batch starts after it */
	size_t last_len;
};

/* A staged chunk marker: the chunk goes too unless something references it. */
static int discard_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                      size_t vlen)
{
	struct discard *d = ctx;
	uint8_t rk[1 + CS_HASH_LEN];
	char *rv = NULL;
	size_t rlen;
	int rc;

	if (klen != 9 + CS_HASH_LEN)
		return 0;
	memcpy(d->last, k, klen);
	d->last_len = klen;
	rk[0] = 'R';
	memcpy(rk + 1, k + 9, CS_HASH_LEN);
	rc = cs_kv_get(d->st, d->st->cf_meta, rk, sizeof(rk), &rv, &rlen);
	free(rv);
	if (rc == -ENOENT) { /* nothing references it: it was only staged */
		rc = cs_kv_get(d->st, d->st->cf_chunks, k + 9, CS_HASH_LEN, &rv, &rlen);
		if (rc == 0) /* its bytes' space comes back in reclaim (accounting only) */
			cs_chunk_dropped(d->st, k + 9, (uint8_t *)rv, rlen);
		free(rv);
		if (rc && rc != -ENOENT)
			return d->rc = rc;
		rocksdb_writebatch_delete_cf(d->wb, d->st->cf_chunks, (const char *)k + 9,
		                             CS_HASH_LEN);
	} else if (rc)
		return d->rc = rc;
	rocksdb_writebatch_delete_cf(d->wb, d->st->cf_meta, (const char *)k, klen);
	return ++d->n >= 4096;
}

/* Remove every 'Z' and 'Q' key of @rid (and unreferenced staged chunks):
 * the staged records in one range delete, the chunk markers in batches,
 * each under st->lock so that no commit references a chunk in between. */
static int discard_staged(cs_store *st, uint64_t rid)
{
	uint8_t from[9], to[9], p[9], last[9 + CS_HASH_LEN];
	size_t last_len = 0;
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	int rc;

	from[0] = to[0] = 'Z';
	be64_put(from + 1, rid);
	be64_put(to + 1, rid + 1);
	if (rid == UINT64_MAX)
		to[0] = 'Z' + 1;
	rocksdb_writebatch_delete_range_cf(wb, st->cf_meta, (const char *)from, 9,
	                                   (const char *)to, 9);
	rc = write_batch(st, wb, 0);
	rocksdb_writebatch_destroy(wb);
	p[0] = 'Q';
	be64_put(p + 1, rid);
	while (rc == 0) {
		struct discard d = { st, rocksdb_writebatch_create(), 0, 0, { 0 }, 0 };

		pthread_mutex_lock(&st->lock);
		rc = cs_kv_scan_after(st, st->cf_meta, p, 9, last, last_len, discard_fn, &d);
		if (rc == 0)
			rc = d.rc;
		if (rc == 0 && d.n)
			rc = write_batch(st, d.wb, 0);
		pthread_mutex_unlock(&st->lock);
		rocksdb_writebatch_destroy(d.wb);
		if (d.n == 0)
			break;
		memcpy(last, d.last, d.last_len);
		last_len = d.last_len;
	}
	return rc;
}

static int discard_all(cs_store *st, const char *volume, uint64_t rid)
{
	rocksdb_writebatch_t *wb;
	uint8_t k[1 + CS_NAME_MAX];
	int rc = discard_staged(st, rid);

	if (rc)
		return rc;
	wb = rocksdb_writebatch_create();
	rocksdb_writebatch_delete_cf(wb, st->cf_meta, (const char *)k, wkey(k, volume));
	rc = write_batch(st, wb, 0);
	rocksdb_writebatch_destroy(wb);
	return rc;
}

/* ---- receiving records ---- */

/* The batch in r->wb was written (@named) or dropped: tell the chunk
 * store about the chunks it was to name. */
static void settle_refs(struct cs_recv *r, int named)
{
	for (size_t i = 0; i < r->nrefs; i++)
		cs_chunk_named(r->st, r->refs[i].ref, r->refs[i].len, named);
	r->nrefs = 0;
}

static int adopt_queued(struct cs_recv *r);

static int flush_stage(struct cs_recv *r)
{
	int rc = adopt_queued(r); /* none left by a feed: a safety net */

	if (rc || !r->staged)
		return rc;
	cs_sparser_state(r->p, &r->s.next_seq, &r->s.offset, r->s.chain);
	state_put(r->wb, r->st, r->volume, &r->s);
	if (r->nrefs) /* rule 1 of cs_chunkstore.h: the bytes before their names */
		rc = cs_chunk_durable(r->st);
	if (rc == 0)
		rc = write_batch(r->st, r->wb, 1);
	settle_refs(r, rc == 0);
	rocksdb_writebatch_clear(r->wb);
	r->staged = r->staged_bytes = 0;
	return rc;
}

/* Chunk @hash, put or adopted (@ref, @reflen), named in r->wb (refs has
 * room: stage_chunk grew it). */
static void stage_ref(struct cs_recv *r, const uint8_t *hash, const uint8_t *ref, size_t reflen)
{
	struct staged_ref *sr = &r->refs[r->nrefs++];
	uint8_t qk[9 + CS_HASH_LEN];

	memcpy(sr->ref, ref, reflen);
	sr->len = reflen;
	rocksdb_writebatch_put_cf(r->wb, r->st->cf_chunks, (const char *)hash, CS_HASH_LEN,
	                          (const char *)sr->ref, sr->len);
	qk[0] = 'Q';
	be64_put(qk + 1, r->s.rid);
	memcpy(qk + 9, hash, CS_HASH_LEN);
	rocksdb_writebatch_put_cf(r->wb, r->st->cf_meta, (const char *)qk, 9 + CS_HASH_LEN, "", 0);
}

/* The chunks by name queued by the records of a feed: adopted together
 * (cs_adoptq.c: many in flight, not two round trips each one after the
 * other), then staged as puts. Before the feed returns, so a missing or
 * mismatched object fails the feed that carried its record, as one
 * adopted at once did; the run gave back the marks of the others then. */
static int adopt_queued(struct cs_recv *r)
{
	int rc;

	if (r->aq.n == 0)
		return 0;
	rc = cs_adoptq_run(r->st->chunks, &r->aq);
	for (size_t i = 0; rc == 0 && i < r->aq.n; i++)
		stage_ref(r, r->aq.v[i].hash, r->aq.v[i].ref, (size_t)r->aq.v[i].reflen);
	r->aq.n = 0;
	return rc;
}

/* A chunk record (verified by cs_stream_check_record): stage it unless the
 * store has it. A chunk by name (CS_REC_NAMED, the pool checked at the
 * header) is in the pool: it is queued for adopt_queued, where the chunk
 * store checks it is and takes this store's mark on it (adopt), staged as
 * a put: a discarded receive drops the mark (discard_fn, then reclaim). */
static int stage_chunk(struct cs_recv *r, int type, const uint8_t *p, size_t len)
{
	uint8_t rk[1 + CS_HASH_LEN], ref[CS_REF_MAX];
	size_t n;
	char *v = NULL;
	int rc;

	rk[0] = 'R';
	memcpy(rk + 1, p, CS_HASH_LEN);
	rc = cs_kv_get(r->st, r->st->cf_meta, rk, sizeof(rk), &v, &n);
	free(v);
	if (rc == 0) {
		r->chunks_present++;
		return 0;
	}
	if (rc != -ENOENT)
		return rc;
	/* room for this one and every one queued: adopt_queued cannot fail
	 * on memory once it holds marks */
	rc = cs_grow((void **)&r->refs, &r->caprefs, r->nrefs + r->aq.n + 1, sizeof(*r->refs));
	if (rc)
		return rc;
	r->chunks_new++;
	if (type == CS_REC_NAMED)
		return cs_adoptq_add(&r->aq, p, be32_get(p + CS_HASH_LEN),
		                     be32_get(p + CS_HASH_LEN + 4));
	rc = cs_chunk_put(r->st, p, (const char *)p + CS_HASH_LEN, len - CS_HASH_LEN, ref);
	if (rc < 0)
		return rc;
	stage_ref(r, p, ref, (size_t)rc);
	return 0;
}

/* Continuing a partial receive: the header @p must be of the same stream,
 * either the resumed stream or the whole stream again (then its header is
 * the one received before, byte for byte). The parser checks the rest. */
static int continues_partial(struct cs_recv *r, const uint8_t *p, size_t len)
{
	char had[4 * CS_NAME_MAX + 128], got[4 * CS_NAME_MAX + 128];

	r->have_header = 1;
	if (memcmp(r->h.stream_id, r->ph.stream_id, 32)) {
		cs_stream_desc(had, sizeof(had), &r->ph);
		cs_stream_desc(got, sizeof(got), &r->h);
		r->foreign = 1;
		return cs_fail(-EBUSY, "a partial receive into '%s' holds another stream: %llu "
		               "of %llu bytes of %s; this stream is %s. Finish the partial "
		               "receive by rerunning its send (or resume it: `cstorfs-ctl send "
		               "--resume TOKEN`, TOKEN from `cstorfs-ctl receive --resume-token "
		               "%s`), or discard it with `cstorfs-ctl receive --abort %s`; "
		               "nothing was changed", r->volume, (unsigned long long)r->s.offset,
		               (unsigned long long)r->ph.total_bytes, had, got, r->volume, r->volume);
	}
	if (!(r->h.flags & CS_STREAM_RESUMED) &&
	    (len != r->s.hdr_len || memcmp(p, r->s.hdr, len)))
		return cs_fail(-EBADMSG, "stream rejected at byte 0 (record 0): its header differs "
		               "from the one the partial receive holds (the source volume was "
		               "renamed or its options changed since)");
	return 0;
}

static int on_record(void *ctx, int type, uint64_t seq, uint64_t offset,
                     const uint8_t *p, size_t len)
{
	struct cs_recv *r = ctx;
	uint8_t k[17];
	int rc = 0;

	r->records++;
	rc = cs_stream_check_record(type, seq, p, len);
	if (rc)
		return rc;
	switch (type) {
	case CS_REC_HEADER:
		r->h = *cs_sparser_header(r->p);
		rc = cs_recv_check_pool(r->st, &r->h);
		if (rc)
			return rc;
		if (r->resumed)
			return continues_partial(r, p, len);
		pthread_mutex_lock(&r->st->vlock);
		rc = cs_recv_check_target(r->st, r->volume, &r->h, 0);
		if (rc == -ESTALE && (r->s.flags & CS_RECV_FORCE))
			rc = 0; /* rolled back at apply time */
		pthread_mutex_unlock(&r->st->vlock);
		if (rc)
			return rc;
		r->s.hdr = malloc(len);
		if (!r->s.hdr)
			return -ENOMEM;
		memcpy(r->s.hdr, p, len);
		r->s.hdr_len = len;
		r->staged++; /* the state record starts with this batch */
		r->have_header = 1;
		return 0;
	case CS_REC_CHUNK:
	case CS_REC_NAMED:
		rc = stage_chunk(r, type, p, len);
		break;
	case CS_REC_KEY:
	case CS_REC_SNAPSHOT: {
		uint8_t *v = malloc(len + 1);

		if (!v)
			return -ENOMEM;
		v[0] = (uint8_t)type;
		memcpy(v + 1, p, len);
		rocksdb_writebatch_put_cf(r->wb, r->st->cf_meta, (const char *)k,
		                          zkey(k, 'Z', r->s.rid, seq), (const char *)v, len + 1);
		free(v);
		break;
	}
	case CS_REC_TRAILER:
		return 0;
	}
	if (rc)
		return rc;
	(void)offset;
	r->staged++;
	r->staged_bytes += len;
	return 0;
}

int cs_recv_begin(cs_store *st, const char *volume, unsigned flags, struct cs_recv **out)
{
	struct cs_recv *r;
	int rc;

	*out = NULL;
	if ((rc = cs_volname_check(volume)))
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->st = st;
	snprintf(r->volume, sizeof(r->volume), "%s", volume);
	pthread_mutex_lock(&running_lock);
	for (struct cs_recv *o = running; o; o = o->next)
		if (o->st == st && !strcmp(o->volume, volume)) {
			pthread_mutex_unlock(&running_lock);
			free(r);
			return cs_fail(-EBUSY, "a receive into '%s' is already running", volume);
		}
	r->next = running;
	running = r;
	pthread_mutex_unlock(&running_lock);
	r->p = cs_sparser_new(on_record, r);
	r->wb = rocksdb_writebatch_create();
	if (!r->p) {
		cs_recv_free(r);
		return -ENOMEM;
	}
	rc = state_load(st, volume, &r->s);
	if (rc == 0) { /* a partial receive: this stream must continue it */
		struct cs_stream_header h;

		if (r->s.phase != ST_RECEIVING || r->s.next_seq == 0 ||
		    cs_header_decode(&h, r->s.hdr, r->s.hdr_len)) {
			cs_recv_free(r);
			return cs_fail(-EBUSY, "the receive into '%s' is being applied", volume);
		}
		cs_sparser_resume(r->p, r->s.next_seq, r->s.offset, r->s.chain);
		r->ph = h;
		r->resumed = 1;
	} else if (rc == -ENOENT) {
		memset(&r->s, 0, sizeof(r->s));
		if (getrandom(&r->s.rid, sizeof(r->s.rid), 0) != sizeof(r->s.rid)) {
			cs_recv_free(r);
			return cs_fail(-EIO, "no random bytes");
		}
		r->s.flags = flags;
	} else {
		cs_recv_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int cs_recv_feed(struct cs_recv *r, const void *buf, size_t len)
{
	int rc;

	if (r->failed)
		return cs_fail(-EINVAL, "receive already failed");
	rc = cs_sparser_feed(r->p, buf, len);
	if (rc == 0)
		rc = adopt_queued(r);
	if (rc == 0 && (r->staged >= STAGE_RECORDS || r->staged_bytes >= STAGE_BYTES))
		rc = flush_stage(r);
	if (rc) {
		char msg[512];

		r->failed = 1;
		snprintf(msg, sizeof(msg), "%s", cs_last_error());
		r->aq.n = 0; /* none adopted (a failed run gave its marks back) */
		settle_refs(r, 0);
		rocksdb_writebatch_clear(r->wb);
		r->staged = 0;
		/* a fresh receive keeps nothing; a resumed one keeps the progress
		 * it had (the rejected bytes were never staged) */
		if (!r->resumed)
			discard_all(r->st, r->volume, r->s.rid);
		if (!r->resumed || r->foreign)
			return cs_fail(rc, "%s", msg);
		cs_fail(rc, "%s; the partial receive into '%s' is kept (%llu of %llu bytes): "
		        "rerun its send to finish it, or discard it with `cstorfs-ctl receive "
		        "--abort %s`", msg, r->volume, (unsigned long long)r->s.offset,
		        (unsigned long long)r->ph.total_bytes, r->volume);
	}
	return rc;
}

/* ---- applying ---- */

struct apply {
	cs_store *st;
	struct cs_volrec rec;   /* the target volume as it becomes */
	struct cs_txn t;
	int open;               /* t is open */
	size_t n;
	struct cs_recv_result *res;
};

static int apply_key(struct apply *a, const uint8_t *p, size_t len)
{
	struct cs_ibuf b = { p, len, 0 };
	uint8_t key[CS_KEY_MAX], tag, op;
	uint16_t sl;
	uint32_t vl;
	char *old = NULL;
	size_t olen, klen, n;
	int rc;

	cs_ibuf_u8(&b, &tag);
	cs_ibuf_u8(&b, &op);
	cs_ibuf_u16(&b, &sl);
	key[0] = tag;
	be64_put(key + 1, a->rec.id);
	cs_ibuf_get(&b, key + 9, sl);
	klen = 9 + sl;
	cs_ibuf_u32(&b, &vl);
	n = cs_key_version(key, klen, a->rec.epoch);
	/* a version already at this epoch (a re-run apply): drop its reference */
	rc = cs_kv_get(a->st, a->st->cf_meta, key, n, &old, &olen);
	if (rc == 0 && tag == 'E' && olen == 1 + CS_HASH_LEN + 8 && old[0] == 1)
		rc = cs_txn_chunk_ref(&a->t, (uint8_t *)old + 1, -1,
		                      be32_get((uint8_t *)old + 1 + CS_HASH_LEN),
		                      be32_get((uint8_t *)old + 1 + CS_HASH_LEN + 4), NULL, 0);
	free(old);
	if (rc && rc != -ENOENT)
		return rc;
	if (op == 0) {
		cs_txn_delv(&a->t, key, klen);
		return 0;
	}
	if (tag == 'E') {
		rc = cs_txn_chunk_ref(&a->t, p + b.pos, 1, be32_get(p + b.pos + CS_HASH_LEN),
		                      be32_get(p + b.pos + CS_HASH_LEN + 4), NULL, 0);
		if (rc)
			return rc;
	}
	cs_txn_putv(&a->t, key, klen, p + b.pos, vl);
	return 0;
}

static int apply_snap(struct apply *a, const uint8_t *p, size_t len)
{
	struct cs_snaprec s;
	struct cs_obuf b = { 0 };
	uint8_t k[CS_KEY_MAX];
	size_t nl;

	if (cs_stream_snap_decode(&s, p, len))
		return cs_fail(-EIO, "staged snapshot record is corrupt");
	s.epoch = a->rec.epoch;
	/* the snapshot record, as cs_snapshot.c writes it */
	cs_obuf_u8(&b, 1);
	cs_obuf_put(&b, s.uuid, 16);
	cs_obuf_u64(&b, s.epoch);
	cs_obuf_u64(&b, (uint64_t)s.ctime_ns);
	cs_obuf_u64(&b, s.next_ino);
	for (int i = 0; i < 6; i++)
		cs_obuf_u64(&b, (&s.stats.inodes)[i]);
	if (b.oom)
		return -ENOMEM;
	nl = strlen(s.name);
	k[0] = 'S';
	be64_put(k + 1, a->rec.id);
	memcpy(k + 9, s.name, nl);
	k[9 + nl] = 0;
	cs_txn_put(&a->t, k, 10 + nl, b.p, b.len);
	free(b.p);
	k[0] = 'T';
	be64_put(k + 9, s.epoch);
	cs_txn_put(&a->t, k, 17, s.name, nl);
	a->rec.epoch++;
	a->rec.next_ino = s.next_ino;
	a->rec.stats = s.stats;
	a->rec.written_bytes = 0;
	a->rec.changes = 0;
	snprintf(a->res->snapshot, sizeof(a->res->snapshot), "%s", s.name);
	return 0;
}

static int apply_commit(struct apply *a)
{
	int rc;

	if (!a->open)
		return 0;
	cs_txn_put_volrec(&a->t, &a->rec);
	a->open = 0;
	rc = cs_txn_commit(&a->t);
	a->n = 0;
	return rc;
}

static int apply_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct apply *a = ctx;
	int rc;

	if (!a->open) {
		cs_txn_begin(&a->t, a->st, NULL);
		a->t.rec = a->rec; /* versions go to the target's epoch */
		a->open = 1;
	}
	a->t.rec.epoch = a->rec.epoch;
	if (vlen < 1)
		return cs_fail(-EIO, "staged record is corrupt");
	if (v[0] == CS_REC_KEY) {
		rc = apply_key(a, v + 1, vlen - 1);
	} else {
		rc = apply_snap(a, v + 1, vlen - 1);
		if (rc == 0) /* a snapshot makes what came before visible: commit */
			return apply_commit(a);
	}
	if (rc == 0 && ++a->n >= 4096)
		rc = apply_commit(a);
	return rc;
}

/* Create the hidden target volume (full stream or clone). */
static int make_target(cs_store *st, const char *volume, const struct cs_stream_header *h,
                       struct cs_volrec *r)
{
	struct cs_snaprec base;
	struct cs_txn t;
	uint64_t bvid;
	int rc;

	memset(r, 0, sizeof(*r));
	pthread_mutex_lock(&st->lock);
	r->id = st->sb.next_vol_id++;
	pthread_mutex_unlock(&st->lock);
	snprintf(r->name, sizeof(r->name), "%s", volume);
	rc = cs_uuid_generate(r->uuid);
	if (rc)
		return rc;
	cs_txn_begin(&t, st, NULL);
	r->ctime_ns = (int64_t)t.now.tv_sec * 1000000000 + t.now.tv_nsec;
	r->compression = h->compression;
	r->chunk_size = h->chunk_size;
	r->quota = h->quota;
	r->epoch = r->base_epoch = 1;
	r->next_ino = CS_ROOT_INO + 1;
	r->flags = CS_VOL_RECEIVING;
	if (h->flags & CS_STREAM_INCREMENTAL) {
		struct cs_volrec o;

		rc = cs_snap_by_uuid(st, h->base_uuid, &bvid, &base);
		if (rc == 0)
			rc = cs_volrec_load(st, bvid, &o);
		if (rc == 0 && o.chunk_size != h->chunk_size)
			rc = cs_fail(-EINVAL, "the stream's volume has %u-byte chunks, the base "
				     "snapshot's volume '%s' %u-byte ones", h->chunk_size, o.name,
				     o.chunk_size);
		if (rc)
			return cs_txn_abort(&t, rc);
		r->origin_id = bvid;
		r->origin_epoch = base.epoch;
		r->next_ino = base.next_ino;
		r->stats = base.stats;
		uint8_t k[25];

		k[0] = 'K';
		be64_put(k + 1, bvid);
		be64_put(k + 9, base.epoch);
		be64_put(k + 17, r->id);
		cs_txn_put(&t, k, 25, "", 0);
	}
	cs_txn_put_volrec(&t, r);
	return cs_txn_commit(&t);
}

static int apply_all(struct cs_recv *rv, struct cs_recv_result *res)
{
	cs_store *st = rv->st;
	struct apply a = { .st = st, .res = res };
	struct cs_chain chain;
	uint64_t vid;
	uint8_t p[9];
	int rc, fresh;

	pthread_mutex_lock(&st->vlock);
	rc = cs_recv_check_target(st, rv->volume, &rv->h, !!(rv->s.flags & CS_RECV_FORCE));
	if (rc)
		goto out;
	fresh = cs_vol_lookup_name(st, rv->volume, &vid) == -ENOENT;
	if (fresh)
		rc = make_target(st, rv->volume, &rv->h, &a.rec);
	else
		rc = cs_volrec_load(st, vid, &a.rec);
	if (rc == 0)
		rc = cs_chain_load(st, &a.rec, &chain);
	if (rc)
		goto out;
	a.rec.chain = chain.n ? &chain : NULL;
	p[0] = 'Z';
	be64_put(p + 1, rv->s.rid);
	rc = cs_kv_scan(st, st->cf_meta, p, 9, apply_fn, &a);
	if (rc == 0)
		rc = apply_commit(&a);
	else if (a.open)
		cs_txn_abort(&a.t, rc);
	if (rc)
		goto out;
	if (fresh) { /* the volume appears: its name, in one batch */
		struct cs_txn t;
		uint8_t k[1 + CS_NAME_MAX], idb[8];
		size_t klen;

		a.rec.flags &= ~CS_VOL_RECEIVING;
		cs_txn_begin(&t, st, NULL);
		cs_volname_key(k, &klen, rv->volume);
		be64_put(idb, a.rec.id);
		cs_txn_put(&t, k, klen, idb, 8);
		cs_txn_put_volrec(&t, &a.rec);
		rc = cs_txn_commit(&t);
	}
out:
	pthread_mutex_unlock(&st->vlock);
	return rc;
}

int cs_recv_finish(struct cs_recv *r, struct cs_recv_result *out)
{
	struct cs_recv_result res = { 0 };
	int rc;

	if (r->failed)
		return cs_fail(-EINVAL, "receive already failed");
	rc = cs_sparser_end(r->p);
	if (rc == -EPIPE) { /* cut: keep the progress for a resume */
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", cs_last_error());
		r->failed = 1;
		if (!r->have_header && !r->resumed) {
			discard_all(r->st, r->volume, r->s.rid);
			return cs_fail(-EPIPE, "%s", msg);
		}
		rc = flush_stage(r);
		if (rc)
			return rc;
		return cs_fail(-EPIPE, "%s; the part received is kept: run the same send | "
		               "receive again to finish it (the receive reads past what it has; "
		               "`cstorfs-ctl send --resume TOKEN`, TOKEN from `cstorfs-ctl "
		               "receive --resume-token %s`, sends only the rest), or discard it "
		               "with `cstorfs-ctl receive --abort %s`", msg, r->volume, r->volume);
	}
	if (rc)
		return rc;
	r->s.phase = ST_APPLYING;
	r->staged++;
	rc = flush_stage(r);
	if (rc == 0)
		rc = apply_all(r, &res);
	if (rc == 0)
		rc = discard_all(r->st, r->volume, r->s.rid);
	r->failed = 1;
	if (rc == 0 && out) {
		res.records = r->records;
		res.bytes = cs_sparser_header(r->p) ? r->s.offset : 0;
		res.chunks_new = r->chunks_new;
		res.chunks_present = r->chunks_present;
		*out = res;
	}
	if (rc && rc != -EIO) { /* the stream did not fit after all: nothing kept */
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", cs_last_error());
		discard_all(r->st, r->volume, r->s.rid);
		cs_fail(rc, "%s", msg);
	}
	return rc;
}

void cs_recv_free(struct cs_recv *r)
{
	struct cs_recv **p;

	if (!r)
		return;
	pthread_mutex_lock(&running_lock);
	for (p = &running; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	pthread_mutex_unlock(&running_lock);
	cs_sparser_free(r->p);
	settle_refs(r, 0);
	free(r->refs);
	cs_adoptq_free(&r->aq);
	if (r->wb)
		rocksdb_writebatch_destroy(r->wb);
	free(r->s.hdr);
	free(r);
}

int cs_recv_resume_token(cs_store *st, const char *volume, char *buf, size_t size)
{
	struct cs_stream_header h;
	struct rstate s;
	int rc;

	if ((rc = cs_volname_check(volume)))
		return rc;
	rc = state_load(st, volume, &s);
	if (rc)
		return rc;
	rc = cs_header_decode(&h, s.hdr, s.hdr_len);
	if (rc == 0)
		rc = cs_token_encode(buf, size, h.stream_id, s.next_seq, s.offset, s.chain,
		                     h.snap_uuid, h.base_uuid, h.flags);
	free(s.hdr);
	return rc;
}

int cs_recv_abort(cs_store *st, const char *volume)
{
	struct rstate s;
	int rc;

	if ((rc = cs_volname_check(volume)))
		return rc;
	pthread_mutex_lock(&running_lock);
	for (struct cs_recv *o = running; o; o = o->next)
		if (o->st == st && !strcmp(o->volume, volume)) {
			pthread_mutex_unlock(&running_lock);
			return cs_fail(-EBUSY, "the receive into '%s' is running", volume);
		}
	pthread_mutex_unlock(&running_lock);
	rc = state_load(st, volume, &s);
	if (rc)
		return rc;
	rc = discard_all(st, volume, s.rid);
	free(s.hdr);
	return rc;
}

/* ---- recovery at open ---- */

struct wlist {
	char (*names)[CS_NAME_MAX + 1];
	size_t n, cap;
};

static int wlist_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct wlist *l = ctx;

	if (klen < 2 || klen - 1 > CS_NAME_MAX)
		return 0;
	if (cs_grow((void **)&l->names, &l->cap, l->n + 1, sizeof(*l->names)))
		return -ENOMEM;
	memcpy(l->names[l->n], k + 1, klen - 1);
	l->names[l->n][klen - 1] = 0;
	l->n++;
	return 0;
}

/* Re-run every receive whose stream was complete when the process died
 * (hidden half-built volumes were deleted by then); one that no longer
 * fits is discarded. Partial (cut) receives stay for a resume. */
int cs_recv_recover(cs_store *st)
{
	struct wlist l = { 0 };
	int rc = cs_kv_scan(st, st->cf_meta, (const uint8_t *)"W", 1, wlist_fn, &l);

	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		struct cs_recv r = { .st = st };
		struct cs_recv_result res;

		snprintf(r.volume, sizeof(r.volume), "%s", l.names[i]);
		rc = state_load(st, r.volume, &r.s);
		if (rc)
			break;
		if (r.s.phase == ST_APPLYING) {
			int arc = cs_header_decode(&r.h, r.s.hdr, r.s.hdr_len);

			if (arc == 0)
				arc = apply_all(&r, &res);
			rc = discard_all(st, r.volume, r.s.rid);
		}
		free(r.s.hdr);
	}
	free(l.names);
	return rc;
}
