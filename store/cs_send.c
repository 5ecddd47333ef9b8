/*
 * cs_send.c - producing replication streams.
 *
 * Full stream of VOL@SNAP: every key the snapshot sees (through a clone's
 * origins too, so the result stands alone), each extent preceded by its
 * chunk the first time the chunk appears, then a snapshot record and the
 * trailer. Incremental from BASE: only the keys of the volume's own layer
 * with a version written after BASE (at or before SNAP) — the versioned
 * keys say what changed without walking the rest — as puts or deletes, and
 * only chunks BASE does not reference. A clone's stream from its origin's
 * snapshot is the incremental of everything the clone wrote itself.
 *
 * The stream is deterministic for given snapshots, so an interrupted one
 * can be produced again from any record: the resume token carries the
 * receiver's next record number and chain, and records before it are only
 * counted, not read or hashed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/sha.h>

#include "cs_chunkstore.h"
#include "cs_priv.h"
#include "cs_streamfmt.h"

/* ---- a set of chunk hashes (open addressing) ---- */

struct hset {
	uint8_t (*v)[CS_HASH_LEN];
	uint8_t *used;
	size_t n, cap;
};

static int hset_has(const struct hset *s, const uint8_t *h)
{
	size_t i;

	if (!s->cap)
		return 0;
	for (i = be64_get(h) & (s->cap - 1); s->used[i]; i = (i + 1) & (s->cap - 1))
		if (!memcmp(s->v[i], h, CS_HASH_LEN))
			return 1;
	return 0;
}

static int hset_add(struct hset *s, const uint8_t *h)
{
	size_t i;

	if (hset_has(s, h))
		return 0;
	if (2 * (s->n + 1) > s->cap) {
		struct hset g = { 0 };

		g.cap = s->cap ? 2 * s->cap : 1024;
		g.v = malloc(g.cap * CS_HASH_LEN);
		g.used = calloc(g.cap, 1);
		if (!g.v || !g.used) {
			free(g.v);
			free(g.used);
			return -ENOMEM;
		}
		for (i = 0; i < s->cap; i++)
			if (s->used[i])
				hset_add(&g, s->v[i]);
		free(s->v);
		free(s->used);
		*s = g;
	}
	for (i = be64_get(h) & (s->cap - 1); s->used[i]; i = (i + 1) & (s->cap - 1))
		;
	memcpy(s->v[i], h, CS_HASH_LEN);
	s->used[i] = 1;
	s->n++;
	return 0;
}

static void hset_free(struct hset *s)
{
	free(s->v);
	free(s->used);
}

/* ---- the sender ---- */

struct sender {
	cs_store *st;
	struct cs_swriter w;
	int size_only;            /* count bytes: read no chunk */
	int names;                /* chunks by name (CS_STREAM_NAMES) */
	struct hset have;         /* chunks the receiver has or was sent */
	struct cs_volrec vol;     /* the volume's record (layer 0 id, chain) */
	struct cs_chain chain;
	struct cs_obuf pl;        /* payload being built */
	uint64_t emitted;         /* bytes of this stream (a resumed one: its part) */
	int rc;
};

static struct cs_volrec view_of(const struct sender *s, uint64_t epoch)
{
	struct cs_volrec r = s->vol;

	r.epoch = epoch;
	r.snapshot_view = 1;
	r.chain = s->chain.n ? &s->chain : NULL;
	return r;
}

/* Emit (or count) a record whose payload is s->pl. */
static int emit(struct sender *s, int type)
{
	if (s->pl.oom)
		return -ENOMEM;
	if (s->w.seq >= s->w.skip_below)
		s->emitted += CS_REC_HDR + s->pl.len + CS_REC_CHECK;
	if (s->size_only || s->w.seq < s->w.skip_below) { /* count only */
		s->w.seq++;
		s->w.offset += CS_REC_HDR + s->pl.len + CS_REC_CHECK;
		return 0;
	}
	return cs_swriter_record(&s->w, type, s->pl.p, s->pl.len, 0);
}

/* A chunk by name (a stream of names: the receiver shares our pool): its
 * stored and raw lengths, from its ref, after the hash in s->pl. */
static int send_name(struct sender *s, const uint8_t *hash)
{
	struct cs_chunkref h = { 0 };
	char *v = NULL;
	size_t vlen;
	int rc;

	if (s->size_only || s->w.seq < s->w.skip_below) { /* a fixed length */
		s->pl.len += 8;
		return emit(s, CS_REC_NAMED);
	}
	rc = cs_kv_get(s->st, s->st->cf_chunks, hash, CS_HASH_LEN, &v, &vlen);
	if (rc == 0 && (cs_chunkref_decode((uint8_t *)v, vlen, &h) || h.tag != 'O'))
		rc = cs_fail(-EIO, "a chunk of the snapshot is not in the store's RADOS pool "
		             "(send it with --with-data)");
	free(v);
	if (rc)
		return rc == -ENOENT ? cs_fail(-EIO, "a chunk of the snapshot is missing") : rc;
	cs_obuf_u32(&s->pl, h.stored_len);
	cs_obuf_u32(&s->pl, h.raw_len);
	return emit(s, CS_REC_NAMED);
}

/* The chunk record for @hash, unless the receiver has it. */
static int send_chunk(struct sender *s, const uint8_t *hash)
{
	uint8_t rk[1 + CS_HASH_LEN];
	char *v = NULL;
	size_t vlen;
	int rc;

	if (hset_has(&s->have, hash))
		return 0;
	rc = hset_add(&s->have, hash);
	if (rc)
		return rc;
	s->pl.len = 0;
	cs_obuf_put(&s->pl, hash, CS_HASH_LEN);
	if (s->names)
		return send_name(s, hash);
	if (s->size_only || s->w.seq < s->w.skip_below) {
		/* only the length matters: the chunk as stored, from its refcount */
		rk[0] = 'R';
		memcpy(rk + 1, hash, CS_HASH_LEN);
		rc = cs_kv_get(s->st, s->st->cf_meta, rk, sizeof(rk), &v, &vlen);
		if (rc == 0 && vlen == 16)
			s->pl.len += be32_get((uint8_t *)v + 12);
		free(v);
		if (rc)
			return rc == -ENOENT ? cs_fail(-EIO, "a chunk of the snapshot is missing") : rc;
		return emit(s, CS_REC_CHUNK);
	}
	rc = cs_chunk_value(s->st, hash, &v, &vlen);
	if (rc)
		return rc == -ENOENT ? cs_fail(-EIO, "a chunk of the snapshot is missing") : rc;
	cs_obuf_put(&s->pl, v, vlen);
	free(v);
	return emit(s, CS_REC_CHUNK);
}

/* A key record: put @val (or delete when NULL) of logical key @k. */
static int send_key(struct sender *s, const uint8_t *k, size_t klen, const uint8_t *val,
                    size_t vlen)
{
	int rc;

	if (val && k[0] == 'E' && vlen == CS_HASH_LEN + 8) {
		rc = send_chunk(s, val);
		if (rc)
			return rc;
	}
	s->pl.len = 0;
	cs_obuf_u8(&s->pl, k[0]);
	cs_obuf_u8(&s->pl, val ? 1 : 0);
	cs_obuf_u16(&s->pl, (uint16_t)(klen - 9));
	cs_obuf_put(&s->pl, k + 9, klen - 9);
	cs_obuf_u32(&s->pl, val ? (uint32_t)vlen : 0);
	if (val)
		cs_obuf_put(&s->pl, val, vlen);
	return emit(s, CS_REC_KEY);
}

static int full_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
                   const struct cs_ver *ver)
{
	struct sender *s = ctx;

	return s->rc = send_key(s, k, klen, v, vlen);
}

static int send_full(struct sender *s, uint64_t epoch)
{
	struct cs_volrec r = view_of(s, epoch);
	uint8_t p[9];
	int rc = 0;

	for (const char *tag = "IDCXE"; *tag && rc == 0; tag++) {
		p[0] = (uint8_t)*tag;
		be64_put(p + 1, r.id);
		rc = cs_kv_scanv(s->st, &r, p, 9, NULL, 0, full_fn, s);
	}
	return rc;
}

struct incr {
	struct sender *s;
	struct cs_volrec lo, hi; /* views before and after */
	uint64_t from, to;       /* versions in (from, to] of layer 0 */
	uint8_t last[CS_KEY_MAX];
	size_t last_len;
};

static int incr_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct incr *in = ctx;
	size_t llen = klen - 8;
	uint64_t e = UINT64_MAX - be64_get(k + llen);
	const uint8_t *val;
	size_t len;
	char *buf = NULL;
	int rc;

	if (e <= in->from || e > in->to)
		return 0;
	if (in->last_len == llen && !memcmp(in->last, k, llen))
		return 0;
	memcpy(in->last, k, llen);
	in->last_len = llen;
	rc = cs_kv_getv(in->s->st, &in->hi, k, llen, &buf, &val, &len, NULL);
	if (rc == 0) {
		rc = send_key(in->s, k, llen, val, len);
	} else if (rc == -ENOENT) { /* gone at hi: a delete if lo had it */
		rc = cs_kv_getv(in->s->st, &in->lo, k, llen, &buf, &val, &len, NULL);
		if (rc == 0)
			rc = send_key(in->s, k, llen, NULL, 0);
		else if (rc == -ENOENT)
			rc = 0;
	}
	free(buf);
	return in->s->rc = rc;
}

static int send_incremental(struct sender *s, const struct cs_volrec *lo, uint64_t from,
                            uint64_t to)
{
	struct incr in = { .s = s, .lo = *lo, .from = from, .to = to };
	uint8_t p[9];
	int rc = 0;

	in.hi = view_of(s, to);
	for (const char *tag = "IDCXE"; *tag && rc == 0; tag++) {
		p[0] = (uint8_t)*tag;
		be64_put(p + 1, s->vol.id);
		in.last_len = 0;
		rc = cs_kv_scan(s->st, s->st->cf_meta, p, 9, incr_fn, &in);
	}
	return rc;
}

static int snap_record(struct sender *s, const struct cs_snaprec *sn)
{
	const uint64_t *x = &sn->stats.inodes;

	s->pl.len = 0;
	cs_obuf_str(&s->pl, sn->name);
	cs_obuf_put(&s->pl, sn->uuid, 16);
	cs_obuf_u64(&s->pl, (uint64_t)sn->ctime_ns);
	cs_obuf_u64(&s->pl, sn->next_ino);
	for (int i = 0; i < 6; i++)
		cs_obuf_u64(&s->pl, x[i]);
	return emit(s, CS_REC_SNAPSHOT);
}

static int base_chunk_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                         size_t vlen, const struct cs_ver *ver)
{
	return vlen == CS_HASH_LEN + 8 ? hset_add(ctx, v) : 0;
}

/* ---- resolving what to send ---- */

struct plan {
	struct cs_volrec vol;      /* the volume sent */
	struct cs_snaprec snap;    /* SNAP */
	struct cs_snaprec base;    /* BASE (incremental) */
	struct cs_volrec basevol;  /* BASE's volume */
	int incremental, from_origin;
	struct cs_snaprec *mid;    /* intermediates after BASE up to SNAP */
	size_t nmid;
	struct cs_stream_header h;
};

static int plan_make(cs_store *st, const struct cs_send_opts *o, struct plan *p)
{
	uint64_t vid, bvid;
	int rc;

	memset(p, 0, sizeof(*p));
	if ((rc = cs_volname_check(o->volume)) || (rc = cs_name_check(o->snap)))
		return rc;
	rc = cs_vol_lookup_name(st, o->volume, &vid);
	if (rc == 0)
		rc = cs_volrec_load(st, vid, &p->vol);
	if (rc == 0)
		rc = cs_snap_find(st, vid, o->volume, o->snap, &p->snap);
	if (rc)
		return rc;
	if (o->base) {
		const char *bv = o->base_volume ? o->base_volume : o->volume;

		if ((rc = cs_volname_check(bv)) || (rc = cs_name_check(o->base)))
			return rc;
		rc = cs_vol_lookup_name(st, bv, &bvid);
		if (rc == 0)
			rc = cs_volrec_load(st, bvid, &p->basevol);
		if (rc == 0)
			rc = cs_snap_find(st, bvid, bv, o->base, &p->base);
		if (rc)
			return rc;
		p->incremental = 1;
		if (bvid != vid) {
			if (p->vol.origin_id != bvid || p->vol.origin_epoch != p->base.epoch)
				return cs_fail(-EINVAL, "'%s@%s' is not the origin of '%s'", bv,
				               o->base, o->volume);
			p->from_origin = 1;
		} else if (p->base.epoch >= p->snap.epoch) {
			return cs_fail(-EINVAL, "base '%s@%s' is not older than '%s@%s'", bv, o->base,
			               o->volume, o->snap);
		}
		if (o->flags & CS_SEND_INTERMEDIATES) {
			rc = cs_snap_between(st, vid, o->volume, p->from_origin ? 0 : p->base.epoch,
			                     p->snap.epoch, &p->mid, &p->nmid);
			if (rc)
				return rc;
		}
	} else if (o->flags & CS_SEND_INTERMEDIATES) {
		return cs_fail(-EINVAL, "intermediate snapshots need a base (-i)");
	}
	/* the header */
	p->h.version = CS_STREAM_VERSION;
	p->h.flags = (p->incremental ? CS_STREAM_INCREMENTAL : 0) |
	             (p->nmid ? CS_STREAM_INTERMEDIATES : 0);
	rc = (o->flags & CS_SEND_WITH_DATA) ? -EOPNOTSUPP
	     : st->chunks->ops->pool(st->chunks, p->h.pool_fsid, p->h.pool);
	if (rc == 0) /* chunks in a pool other stores can share: their names */
		p->h.flags |= CS_STREAM_NAMES;
	else if (rc != -EOPNOTSUPP)
		return rc;
	snprintf(p->h.volume, sizeof(p->h.volume), "%s", p->vol.name);
	memcpy(p->h.volume_uuid, p->vol.uuid, 16);
	p->h.compression = p->vol.compression;
	p->h.chunk_size = p->vol.chunk_size;
	p->h.quota = p->vol.quota;
	snprintf(p->h.snap, sizeof(p->h.snap), "%s", p->snap.name);
	memcpy(p->h.snap_uuid, p->snap.uuid, 16);
	p->h.snap_ctime_ns = p->snap.ctime_ns;
	if (p->incremental) {
		snprintf(p->h.base_volume, sizeof(p->h.base_volume), "%s", p->basevol.name);
		snprintf(p->h.base, sizeof(p->h.base), "%s", p->base.name);
		memcpy(p->h.base_uuid, p->base.uuid, 16);
	}
	{
		uint8_t id[36];

		memcpy(id, p->snap.uuid, 16);
		memcpy(id + 16, p->h.base_uuid, 16);
		be32_put(id + 32, p->h.flags);
		SHA256(id, sizeof(id), p->h.stream_id);
	}
	return 0;
}

/* Everything after the header. */
static int generate(struct sender *s, struct plan *p)
{
	int rc;

	rc = cs_chain_load(s->st, &p->vol, &s->chain);
	if (rc)
		return rc;
	s->vol = p->vol;
	if (!p->incremental) {
		rc = send_full(s, p->snap.epoch);
		return rc ? rc : snap_record(s, &p->snap);
	}
	{ /* what the receiver has: every chunk the base sees */
		struct cs_volrec b = p->basevol;
		struct cs_chain bc;
		uint8_t pre[9];

		rc = cs_chain_load(s->st, &b, &bc);
		if (rc)
			return rc;
		b.chain = bc.n ? &bc : NULL;
		b.epoch = p->base.epoch;
		b.snapshot_view = 1;
		pre[0] = 'E';
		be64_put(pre + 1, b.id);
		rc = cs_kv_scanv(s->st, &b, pre, 9, NULL, 0, base_chunk_fn, &s->have);
		if (rc)
			return rc;
		if (p->nmid == 0) {
			rc = send_incremental(s, &b, p->from_origin ? 0 : p->base.epoch, p->snap.epoch);
			return rc ? rc : snap_record(s, &p->snap);
		}
		for (size_t i = 0; i < p->nmid && rc == 0; i++) {
			uint64_t from = i ? p->mid[i - 1].epoch : (p->from_origin ? 0 : p->base.epoch);
			struct cs_volrec lo = i ? view_of(s, p->mid[i - 1].epoch) : b;

			rc = send_incremental(s, &lo, from, p->mid[i].epoch);
			if (rc == 0)
				rc = snap_record(s, &p->mid[i]);
		}
		return rc;
	}
}

static int run(cs_store *st, struct plan *p, struct sender *s)
{
	size_t hlen;
	int rc;

	s->pl.len = 0;
	cs_header_encode(&s->pl, &p->h);
	hlen = CS_REC_HDR + s->pl.len + CS_REC_CHECK;
	s->emitted = hlen;
	if (s->size_only) {
		s->w.seq = 1;
		s->w.offset = hlen;
	} else {
		if (s->w.skip_below > 0) /* a resumed header carries where it resumes */
			s->w.seq = s->w.skip_below;
		rc = cs_swriter_record(&s->w, CS_REC_HEADER, s->pl.p, s->pl.len,
		                       s->w.skip_below > 0);
		if (rc)
			return rc;
		/* a resumed stream: the original header was record 0, as long */
		s->w.seq = 1;
		s->w.offset = hlen;
	}
	rc = generate(s, p);
	if (rc)
		return rc;
	s->emitted += CS_REC_HDR + 48 + CS_REC_CHECK;
	if (s->size_only) {
		s->w.seq++;
		s->w.offset += CS_REC_HDR + 48 + CS_REC_CHECK;
		return 0;
	}
	return cs_swriter_trailer(&s->w);
}

/* ---- resume tokens: "1-" + hex(stream id, next seq, offset, chain,
 *      snap uuid, base uuid, flags) ---- */

#define TOKEN_BYTES (32 + 8 + 8 + 32 + 16 + 16 + 4)

int cs_token_encode(char *buf, size_t size, const uint8_t id[32], uint64_t seq,
                    uint64_t offset, const uint8_t chain[32], const uint8_t snap[16],
                    const uint8_t base[16], uint32_t flags)
{
	uint8_t b[TOKEN_BYTES];
	static const char hex[] = "0123456789abcdef";

	if (size < 3 + 2 * TOKEN_BYTES)
		return cs_fail(-ERANGE, "token buffer too small");
	memcpy(b, id, 32);
	be64_put(b + 32, seq);
	be64_put(b + 40, offset);
	memcpy(b + 48, chain, 32);
	memcpy(b + 80, snap, 16);
	memcpy(b + 96, base, 16);
	be32_put(b + 112, flags);
	buf[0] = '1';
	buf[1] = '-';
	for (size_t i = 0; i < TOKEN_BYTES; i++) {
		buf[2 + 2 * i] = hex[b[i] >> 4];
		buf[3 + 2 * i] = hex[b[i] & 15];
	}
	buf[2 + 2 * TOKEN_BYTES] = 0;
	return 0;
}

static int token_decode(const char *t, uint8_t *b)
{
	if (strlen(t) != 2 + 2 * TOKEN_BYTES || t[0] != '1' || t[1] != '-')
		return cs_fail(-EINVAL, "not a cstorfs resume token");
	for (size_t i = 0; i < TOKEN_BYTES; i++) {
		unsigned v;

		if (sscanf(t + 2 + 2 * i, "%2x", &v) != 1)
			return cs_fail(-EINVAL, "not a cstorfs resume token");
		b[i] = (uint8_t)v;
	}
	return 0;
}

/* The snapshot with uuid @uuid (the token's @what) and its volume's record. */
static int token_snap(cs_store *st, const uint8_t *uuid, const char *what,
                      struct cs_snaprec *sn, struct cs_volrec *vr)
{
	uint64_t vid;
	int rc = cs_snap_by_uuid(st, uuid, &vid, sn);

	if (rc == 0)
		rc = cs_volrec_load(st, vid, vr);
	if (rc == -ENOENT)
		return cs_fail(-ENOENT, "the %s of the resume token is not in this store", what);
	return rc;
}

/* Fill send options from a token: volume, snap and base found by uuid. */
static int plan_from_token(cs_store *st, const char *token, struct plan *p,
                           struct sender *s)
{
	uint8_t b[TOKEN_BYTES], zero[16] = { 0 };
	struct cs_send_opts o = { 0 };
	struct cs_snaprec sn, bs;
	struct cs_volrec vr, br;
	uint32_t flags;
	int rc;

	rc = token_decode(token, b);
	if (rc)
		return rc;
	flags = be32_get(b + 112);
	rc = token_snap(st, b + 80, "snapshot", &sn, &vr);
	if (rc)
		return rc;
	o.volume = vr.name;
	o.snap = sn.name;
	if (memcmp(b + 96, zero, 16)) {
		rc = token_snap(st, b + 96, "base", &bs, &br);
		if (rc)
			return rc;
		o.base_volume = br.name;
		o.base = bs.name;
	}
	if (flags & CS_STREAM_INTERMEDIATES)
		o.flags |= CS_SEND_INTERMEDIATES;
	if (!(flags & CS_STREAM_NAMES))
		o.flags |= CS_SEND_WITH_DATA;
	rc = plan_make(st, &o, p);
	if (rc)
		return rc;
	if (memcmp(p->h.stream_id, b, 32))
		return cs_fail(-EINVAL, "the resume token does not match the stream it names");
	s->w.skip_below = be64_get(b + 32);
	if (s->w.skip_below == 0)
		return cs_fail(-EINVAL, "resume token at record 0: send the whole stream");
	memcpy(s->w.chain, b + 48, 32);
	p->h.flags |= CS_STREAM_RESUMED;
	p->h.resume_seq = s->w.skip_below;
	(void)be64_get(b + 40);
	return 0;
}

static int send_common(cs_store *st, const struct cs_send_opts *o, int size_only,
                       cs_write_fn fn, void *ctx, uint64_t *size)
{
	struct sender s = { .st = st, .size_only = size_only };
	struct plan p;
	int rc;

	s.w.fn = fn;
	s.w.ctx = ctx;
	pthread_mutex_lock(&st->vlock);
	rc = o->resume_token ? plan_from_token(st, o->resume_token, &p, &s) : plan_make(st, o, &p);
	pthread_mutex_unlock(&st->vlock);
	if (rc)
		goto out;
	s.names = !!(p.h.flags & CS_STREAM_NAMES);
	if (!size_only) { /* the header says how big this stream is, for progress */
		uint64_t total;

		rc = send_common(st, o, 1, NULL, NULL, &total);
		if (rc)
			goto out;
		p.h.total_bytes = total;
	}
	rc = run(st, &p, &s);
	if (rc == 0 && size)
		*size = s.emitted;
out:
	free(p.mid);
	hset_free(&s.have);
	free(s.pl.p);
	free(s.w.rec.p);
	return rc;
}

int cs_send(cs_store *st, const struct cs_send_opts *o, cs_write_fn fn, void *ctx)
{
	return send_common(st, o, 0, fn, ctx, NULL);
}

int cs_send_size(cs_store *st, const struct cs_send_opts *o, uint64_t *size)
{
	return send_common(st, o, 1, NULL, NULL, size);
}
