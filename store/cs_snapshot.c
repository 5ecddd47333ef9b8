/*
 * cs_snapshot.c - snapshot, clone, rollback and promote operations, and the
 * read-only views of snapshots. The records and keys they write are
 * cs_snaprec.c's ('S', 'T', 'K'); this file decides when they change.
 *
 * A snapshot is one batch: its two keys and the volume record with the
 * epoch bumped, taken under the volume's lock so that it falls between two
 * operations. Nothing else is written: O(1) whatever the volume holds.
 * A clone is one batch too: a new volume record whose origin is (VID,
 * epoch), its name, and the 'K' key that keeps the origin alive.
 *
 * Rollback and promote touch many keys, so they are two-phase: one batch
 * marks the volume (CS_VOL_ROLLBACK, or a promote in progress), then the
 * keys change in batches, then a last batch clears the mark. A crash in
 * between leaves the mark, and cs_store_open() finishes the work.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "cs_priv.h"

static void snap_to_info(const struct cs_snaprec *s, struct cs_snapshot_info *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->name, s->name, sizeof(out->name));
	memcpy(out->uuid, s->uuid, 16);
	out->epoch = s->epoch;
	out->ctime_ns = s->ctime_ns;
	out->stats = s->stats;
}

/* 0 when @volume (id @vid) has no snapshot @name, -EEXIST when it has, or
 * the error. */
static int snap_free(cs_store *st, uint64_t vid, const char *volume, const char *name)
{
	struct cs_snaprec s;
	int rc = cs_snap_load(st, vid, volume, name, &s);

	if (rc == 0)
		return cs_fail(-EEXIST, "snapshot '%s@%s' already exists", volume, name);
	return rc == -ENOENT ? 0 : rc;
}

int cs_snapshot_create(cs_store *st, const char *volume, const char *name,
                       struct cs_snapshot_info *out)
{
	struct cs_volstate *vs = NULL;
	struct cs_snaprec s;
	struct cs_volrec r;
	struct cs_txn t;
	uint8_t k[CS_KEY_MAX], v[CS_SNAPREC_LEN];
	uint64_t vid;
	int rc;

	if ((rc = cs_volname_check(volume)) || (rc = cs_snapname_check(name)))
		return rc;
	pthread_mutex_lock(&st->vlock);
	rc = cs_vol_lookup_name(st, volume, &vid);
	if (rc)
		goto out;
	rc = snap_free(st, vid, volume, name);
	if (rc)
		goto out;
	vs = cs_vs_find(st, vid, 1); /* what the write buffer holds goes in too */
	rc = vs ? cs_wb_flush_vs(st, vs) : 0;
	if (rc == 0)
		rc = cs_live_rec(st, vid, &vs, &r);
	if (rc)
		goto out;
	cs_txn_begin(&t, st, NULL);
	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "%s", name);
	if ((rc = cs_uuid_generate(s.uuid))) {
		cs_txn_abort(&t, 0);
		cs_live_done(vs, &r, 0);
		goto out;
	}
	s.epoch = r.epoch;
	s.ctime_ns = (int64_t)t.now.tv_sec * 1000000000 + t.now.tv_nsec;
	s.next_ino = r.next_ino;
	s.stats = r.stats;
	r.epoch++;
	r.written_bytes = 0;
	r.changes = 0;
	cs_txn_put(&t, k, cs_snap_key(k, vid, name), v, cs_snaprec_encode(&s, v));
	cs_txn_put(&t, k, cs_snap_epoch_key(k, vid, s.epoch), name, strlen(name));
	rc = cs_txn_commit_live(&t, vs, &r);
	if (rc == 0 && out)
		snap_to_info(&s, out);
out:
	pthread_mutex_unlock(&st->vlock);
	return rc;
}

/* ---- used bytes: stored bytes of versions only one snapshot sees ---- */

struct used_ctx {
	const uint64_t *ret; /* retained epochs, ascending */
	size_t nret;
	uint64_t *used;      /* per retained epoch */
	uint8_t last[CS_KEY_MAX];
	size_t last_len;
	uint64_t upper;      /* epoch of the next newer version of the key */
};

/* Index of the only retained epoch in [lo, hi), or -1 (none or several). */
static long only_retained(const uint64_t *r, size_t n, uint64_t lo, uint64_t hi)
{
	size_t a = 0, b = n;

	while (a < b) { /* first >= lo */
		size_t m = (a + b) / 2;

		if (r[m] < lo)
			a = m + 1;
		else
			b = m;
	}
	if (a >= n || r[a] >= hi)
		return -1;
	if (a + 1 < n && r[a + 1] < hi)
		return -1;
	return (long)a;
}

static int used_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                   size_t vlen)
{
	struct used_ctx *u = ctx;
	size_t llen = klen - 8;
	uint64_t e = UINT64_MAX - be64_get(k + llen);
	long i;

	if (u->last_len != llen || memcmp(u->last, k, llen) != 0) {
		memcpy(u->last, k, llen); /* newest version of a new key */
		u->last_len = llen;
		u->upper = UINT64_MAX;
	}
	if (vlen == 1 + CS_HASH_LEN + 8 && v[0] == 1) {
		i = only_retained(u->ret, u->nret, e, u->upper);
		if (i >= 0)
			u->used[i] += be32_get(v + 1 + CS_HASH_LEN + 4);
	}
	u->upper = e;
	return 0;
}

static int compute_used(cs_store *st, const struct cs_volrec *r, uint64_t **ret,
                        uint64_t **used, size_t *n)
{
	struct used_ctx u = { 0 };
	uint8_t p[9];
	int rc;

	rc = cs_retained_epochs(st, r, ret, n);
	if (rc)
		return rc;
	*used = calloc(*n, sizeof(**used));
	if (!*used) {
		free(*ret);
		return -ENOMEM;
	}
	u.ret = *ret;
	u.nret = *n;
	u.used = *used;
	p[0] = 'E';
	be64_put(p + 1, r->id);
	rc = cs_kv_scan(st, st->cf_meta, p, 9, used_fn, &u);
	if (rc) {
		free(*ret);
		free(*used);
	}
	return rc;
}

struct list_ctx {
	cs_store *st;
	uint64_t vid;
	const char *vname;
	struct cs_snapshot_info *v;
	size_t n, cap;
};

static int list_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                   size_t vlen)
{
	struct list_ctx *l = ctx;
	char name[CS_NAME_MAX + 1];
	struct cs_snaprec s;
	int rc;

	if (klen != 17 || vlen > CS_NAME_MAX)
		return cs_fail(-EIO, "corrupt snapshot index");
	memcpy(name, v, vlen);
	name[vlen] = 0;
	rc = cs_snap_load(l->st, l->vid, l->vname, name, &s);
	if (rc)
		return rc;
	if (cs_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
		return -ENOMEM;
	snap_to_info(&s, &l->v[l->n]);
	l->v[l->n].clones = cs_clone_count(l->st, l->vid, s.epoch, NULL, 0);
	l->n++;
	return 0;
}

/* Fill used_bytes of @v[0..n) (sorted by epoch, as listed). */
static int fill_used(cs_store *st, const struct cs_volrec *r,
                     struct cs_snapshot_info *v, size_t n)
{
	uint64_t *ret, *used;
	size_t nret, j = 0;
	int rc = compute_used(st, r, &ret, &used, &nret);

	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		while (j < nret && ret[j] < v[i].epoch)
			j++;
		if (j < nret && ret[j] == v[i].epoch)
			v[i].used_bytes = used[j];
	}
	free(ret);
	free(used);
	return 0;
}

static int list_locked(cs_store *st, const char *volume, struct list_ctx *l,
                       struct cs_volrec *r)
{
	struct cs_volstate *vs;
	uint8_t p[9];
	int rc;

	rc = cs_vol_lookup_name(st, volume, &l->vid);
	if (rc)
		return rc;
	rc = cs_live_rec(st, l->vid, &vs, r);
	cs_live_done(vs, r, 0);
	if (rc)
		return rc;
	l->st = st;
	l->vname = volume;
	p[0] = 'T';
	be64_put(p + 1, l->vid);
	rc = cs_kv_scan(st, st->cf_meta, p, 9, list_fn, l);
	if (rc == 0)
		rc = fill_used(st, r, l->v, l->n);
	return rc;
}

int cs_snapshot_list(cs_store *st, const char *volume, struct cs_snapshot_info **out,
                     size_t *n)
{
	struct list_ctx l = { 0 };
	struct cs_volrec r;
	int rc = cs_volname_check(volume);

	*out = NULL;
	*n = 0;
	if (rc)
		return rc;
	pthread_mutex_lock(&st->vlock);
	rc = list_locked(st, volume, &l, &r);
	pthread_mutex_unlock(&st->vlock);
	if (rc) {
		free(l.v);
		return rc;
	}
	*out = l.v;
	*n = l.n;
	return 0;
}

/* Check @volume and @name, take st->vlock and find snapshot @name of
 * @volume (its volume's id into *@vid). Returns 0 with st->vlock held, or
 * a negative errno without it. */
static int snap_lookup_locked(cs_store *st, const char *volume, const char *name,
                              uint64_t *vid, struct cs_snaprec *s)
{
	int rc;

	if ((rc = cs_volname_check(volume)) || (rc = cs_snapname_check(name)))
		return rc;
	pthread_mutex_lock(&st->vlock);
	rc = cs_snap_find_named(st, volume, name, vid, s);
	if (rc)
		pthread_mutex_unlock(&st->vlock);
	return rc;
}

int cs_snapshot_stat(cs_store *st, const char *volume, const char *name,
                     struct cs_snapshot_info *out)
{
	struct cs_snaprec s;
	uint64_t vid;
	int rc;

	rc = snap_lookup_locked(st, volume, name, &vid, &s);
	if (rc)
		return rc;
	snap_to_info(&s, out);
	out->clones = cs_clone_count(st, vid, s.epoch, NULL, 0);
	pthread_mutex_unlock(&st->vlock);
	return 0;
}

int cs_snapshot_get(cs_store *st, const char *volume, const char *name,
                    struct cs_snapshot_info *out)
{
	struct cs_snapshot_info *v;
	size_t n;
	int rc;

	if ((rc = cs_snapname_check(name)))
		return rc;
	rc = cs_snapshot_list(st, volume, &v, &n);
	if (rc)
		return rc;
	rc = cs_fail(-ENOENT, "snapshot '%s@%s' does not exist", volume, name);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name)) {
			*out = v[i];
			rc = 0;
		}
	free(v);
	return rc;
}

/* Is a view of snapshot @epoch of @vid open? */
static int snap_open(cs_store *st, uint64_t vid, uint64_t epoch)
{
	for (struct cs_volstate *vs = st->vols; vs; vs = vs->next)
		if (vs->id == vid && vs->snap_epoch == epoch)
			return 1;
	return 0;
}

int cs_snapshot_rename(cs_store *st, const char *volume, const char *from,
                       const char *to)
{
	struct cs_snaprec s;
	struct cs_txn t;
	uint8_t k[CS_KEY_MAX], v[CS_SNAPREC_LEN];
	uint64_t vid;
	int rc;

	if ((rc = cs_volname_check(volume)) || (rc = cs_snapname_check(from)) ||
	    (rc = cs_snapname_check(to)))
		return rc;
	pthread_mutex_lock(&st->vlock);
	rc = cs_snap_find_named(st, volume, from, &vid, &s);
	if (rc || !strcmp(from, to))
		goto out;
	rc = snap_free(st, vid, volume, to);
	if (rc)
		goto out;
	if (snap_open(st, vid, s.epoch)) {
		rc = cs_fail(-EBUSY, "snapshot '%s@%s' is in use", volume, from);
		goto out;
	}
	snprintf(s.name, sizeof(s.name), "%s", to);
	cs_txn_begin(&t, st, NULL);
	cs_txn_del(&t, k, cs_snap_key(k, vid, from));
	cs_txn_put(&t, k, cs_snap_key(k, vid, to), v, cs_snaprec_encode(&s, v));
	cs_txn_put(&t, k, cs_snap_epoch_key(k, vid, s.epoch), to, strlen(to));
	rc = cs_txn_commit(&t);
out:
	pthread_mutex_unlock(&st->vlock);
	return rc;
}

int cs_snapshot_delete(cs_store *st, const char *volume, const char *name)
{
	struct cs_volstate *vs = NULL;
	struct cs_snaprec s;
	struct cs_volrec r;
	struct cs_txn t;
	char clones[1024];
	uint8_t k[CS_KEY_MAX];
	uint64_t vid;
	int rc;

	rc = snap_lookup_locked(st, volume, name, &vid, &s);
	if (rc)
		return rc;
	if (cs_clone_count(st, vid, s.epoch, clones, sizeof(clones))) {
		rc = cs_fail(-EBUSY, "snapshot '%s@%s' is the origin of clones: %s (promote or "
		             "delete them first)", volume, name, clones);
		goto out;
	}
	if (snap_open(st, vid, s.epoch)) {
		rc = cs_fail(-EBUSY, "snapshot '%s@%s' is in use (mounted)", volume, name);
		goto out;
	}
	rc = cs_live_rec(st, vid, &vs, &r);
	if (rc)
		goto out;
	r.flags |= CS_VOL_RECLAIM;
	cs_txn_begin(&t, st, NULL);
	cs_txn_del(&t, k, cs_snap_key(k, vid, name));
	cs_txn_del(&t, k, cs_snap_epoch_key(k, vid, s.epoch));
	rc = cs_txn_commit_live(&t, vs, &r);
out:
	pthread_mutex_unlock(&st->vlock);
	return rc;
}

int cs_vol_open_snapshot(cs_store *st, const char *volume, const char *name,
                         cs_vol **out)
{
	struct cs_volstate *vs = NULL, *live;
	struct cs_snaprec s;
	uint64_t vid;
	cs_vol *vol = NULL;
	int rc;

	*out = NULL;
	rc = snap_lookup_locked(st, volume, name, &vid, &s);
	if (rc)
		return rc;
	rc = -ENOMEM;
	vs = calloc(1, sizeof(*vs));
	vol = calloc(1, sizeof(*vol));
	if (!vs || !vol)
		goto out;
	rc = cs_live_rec(st, vid, &live, &vs->rec);
	cs_live_done(live, &vs->rec, 0);
	if (rc == 0 && (vs->rec.flags & CS_VOL_ROLLBACK))
		rc = cs_fail(-EBUSY, "volume '%s' is being rolled back", volume);
	if (rc == 0)
		rc = cs_chain_load(st, &vs->rec, &vs->chain);
	if (rc)
		goto out;
	vs->rec.chain = vs->chain.n ? &vs->chain : NULL;
	vs->rec.epoch = s.epoch;
	vs->rec.snapshot_view = 1;
	vs->rec.next_ino = s.next_ino;
	vs->rec.stats = s.stats;
	vs->id = vid;
	vs->snap_epoch = s.epoch;
	vs->nopen = 1;
	pthread_mutex_init(&vs->lock, NULL);
	pthread_cond_init(&vs->wb_cond, NULL);
	vs->next = st->vols;
	st->vols = vs;
	vol->st = st;
	vol->vs = vs;
	vol->rdonly = 1;
	*out = vol;
	vs = NULL;
	vol = NULL;
out:
	pthread_mutex_unlock(&st->vlock);
	free(vs);
	free(vol);
	return rc;
}

int cs_clone_create(cs_store *st, const char *volume, const char *snap,
                    const char *newname, const struct cs_volume_opts *opts,
                    struct cs_volume_info *out)
{
	struct cs_volume_opts from;
	struct cs_volrec o, c;
	struct cs_chain chain;
	struct cs_snaprec s;
	struct cs_txn t;
	uint8_t k[CS_KEY_MAX];
	uint64_t vid;
	int rc;

	if ((rc = cs_volname_check(volume)) || (rc = cs_snapname_check(snap)) ||
	    (rc = cs_volname_check(newname)))
		return rc;
	if (opts && (opts->compression < -1 || opts->compression > 19))
		return cs_fail(-EINVAL, "compression level %d is outside 0..19", opts->compression);
	pthread_mutex_lock(&st->vlock);
	rc = cs_snap_find_named(st, volume, snap, &vid, &s);
	if (rc == 0)
		rc = cs_volrec_load(st, vid, &o);
	if (rc == 0)
		rc = cs_chain_load(st, &o, &chain);
	if (rc)
		goto out;
	if (chain.n >= CS_CLONE_DEPTH_MAX) {
		rc = cs_fail(-EMLINK, "'%s' is a clone %u deep: no deeper clones", volume, chain.n);
		goto out;
	}
	from.compression = o.compression; /* what opts does not say: the origin's */
	from.quota = o.quota;
	from.chunk_size = o.chunk_size; /* and always its chunk size: extents are shared */
	if (opts && opts->chunk_size && opts->chunk_size != o.chunk_size) {
		rc = cs_fail(-EINVAL, "a clone has its origin's chunk size (%u bytes)", o.chunk_size);
		goto out;
	}
	rc = cs_volname_free(st, newname);
	if (rc == 0)
		rc = cs_volume_begin_new(st, &t, &c, newname, opts, &from);
	if (rc)
		goto out;
	c.next_ino = s.next_ino;
	c.origin_id = vid;
	c.origin_epoch = s.epoch;
	c.stats = s.stats;
	cs_txn_put_volname(&t, newname, c.id);
	cs_txn_put(&t, k, cs_snap_clone_key(k, vid, s.epoch, c.id), "", 0);
	cs_txn_put_volrec(&t, &c);
	rc = cs_txn_commit(&t);
	if (rc == 0 && out) {
		pthread_mutex_unlock(&st->vlock);
		return cs_volume_get(st, newname, out);
	}
out:
	pthread_mutex_unlock(&st->vlock);
	return rc;
}

/* ---- rollback ---- */

int cs_rollback_finish(cs_store *st, uint64_t vid)
{
	struct cs_volrec r;
	struct cs_snaprec s;
	struct cs_txn t;
	char name[CS_NAME_MAX + 1];
	int rc;

	rc = cs_volrec_load(st, vid, &r);
	if (rc || !(r.flags & CS_VOL_ROLLBACK))
		return rc;
	rc = cs_snap_name_of(st, vid, r.rollback_epoch, name, sizeof(name));
	if (rc == 0)
		rc = cs_snap_load(st, vid, r.name, name, &s);
	if (rc == 0)
		rc = cs_volume_drop_keys(st, vid, "IDCXE", r.rollback_epoch);
	if (rc)
		return rc;
	r.epoch = r.rollback_epoch + 1;
	r.next_ino = s.next_ino;
	r.stats = s.stats;
	r.written_bytes = 0;
	r.changes = 0;
	r.flags &= ~CS_VOL_ROLLBACK;
	r.rollback_epoch = 0;
	cs_txn_begin(&t, st, NULL);
	cs_txn_put_volrec(&t, &r);
	return cs_txn_commit(&t);
}

int cs_rollback(cs_store *st, const char *volume, const char *snap, int destroy_later)
{
	struct cs_snaprec s;
	struct cs_volrec r;
	struct cs_epochs e = { 0 };
	struct cs_txn t;
	char later[1024] = "", clones[1024];
	uint8_t k[CS_KEY_MAX];
	uint64_t vid;
	size_t len = 0;
	int rc;

	rc = snap_lookup_locked(st, volume, snap, &vid, &s);
	if (rc)
		return rc;
	if (cs_vs_find(st, vid, 0))
		rc = cs_fail(-EBUSY, "volume '%s' is in use (mounted)", volume);
	if (rc == 0)
		rc = cs_volrec_load(st, vid, &r);
	if (rc == 0)
		rc = cs_snap_epochs(st, vid, &e);
	if (rc)
		goto out;
	for (size_t i = 0; i < e.n; i++) {
		char n[CS_NAME_MAX + 1];

		if (e.v[i] <= s.epoch)
			continue;
		cs_snap_name_of(st, vid, e.v[i], n, sizeof(n));
		if (cs_clone_count(st, vid, e.v[i], clones, sizeof(clones))) {
			rc = cs_fail(-EBUSY, "later snapshot '%s@%s' is the origin of clones: %s",
			             volume, n, clones);
			goto out;
		}
		if (len < sizeof(later))
			len += (size_t)snprintf(later + len, sizeof(later) - len, "%s%s",
			                        len ? ", " : "", n);
	}
	if (len && !destroy_later) {
		rc = cs_fail(-EEXIST, "snapshots newer than '%s@%s' exist: %s (use -r to destroy "
		             "them)", volume, snap, later);
		goto out;
	}
	cs_txn_begin(&t, st, NULL);
	for (size_t i = 0; i < e.n; i++) {
		char n[CS_NAME_MAX + 1];

		if (e.v[i] <= s.epoch || cs_snap_name_of(st, vid, e.v[i], n, sizeof(n)))
			continue;
		cs_txn_del(&t, k, cs_snap_key(k, vid, n));
		cs_txn_del(&t, k, cs_snap_epoch_key(k, vid, e.v[i]));
	}
	r.flags |= CS_VOL_ROLLBACK;
	r.rollback_epoch = s.epoch;
	cs_txn_put_volrec(&t, &r);
	rc = cs_txn_commit(&t);
	if (rc == 0)
		rc = cs_rollback_finish(st, vid);
out:
	pthread_mutex_unlock(&st->vlock);
	free(e.v);
	return rc;
}

/* ---- promote: copy what a clone reads through into the clone ---- */

struct promote {
	struct cs_txn *t;
	const struct cs_volrec *clone;
	uint8_t resume[CS_KEY_MAX];
	size_t resume_len;
	size_t n;
	int rc;
};

/*
 * Each key the origin chain shows is written into the clone's layer at the
 * clone's base epoch, unless the clone has a version there already. The
 * base epoch is older than every other version of the clone, so every view
 * of the clone (its snapshots too) reads exactly what it read through the
 * origin before. Extents gain a reference (the chunk is shared, not copied).
 */
static int promote_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                      size_t vlen, const struct cs_ver *ver)
{
	struct promote *p = ctx;
	uint8_t key[CS_KEY_MAX];
	char *old = NULL, *tagged;
	size_t olen, n;
	int rc;

	memcpy(key, k, klen);
	be64_put(key + 1, p->clone->id);
	n = cs_key_version(key, klen, p->clone->base_epoch);
	rc = cs_kv_get(p->t->st, p->t->st->cf_meta, key, n, &old, &olen);
	free(old);
	if (rc == 0)
		goto next; /* the clone's own version shadows the origin's */
	if (rc != -ENOENT)
		return p->rc = rc;
	if (k[0] == 'E' && vlen == CS_HASH_LEN + 8) {
		rc = cs_txn_chunk_ref(p->t, v, 1, be32_get(v + CS_HASH_LEN),
		                      be32_get(v + CS_HASH_LEN + 4), NULL, 0);
		if (rc)
			return p->rc = rc;
	}
	tagged = malloc(vlen + 1);
	if (!tagged)
		return p->rc = -ENOMEM;
	tagged[0] = 1;
	memcpy(tagged + 1, v, vlen);
	rocksdb_writebatch_put_cf(p->t->wb, p->t->st->cf_meta, (const char *)key, n, tagged,
	                          vlen + 1);
	free(tagged);
next:
	memcpy(p->resume, k + 9, klen - 9); /* resume just past this key */
	p->resume[klen - 9] = 0;
	p->resume_len = klen - 9 + 1;
	return ++p->n >= 4096;
}

int cs_clone_promote(cs_store *st, const char *volume)
{
	struct cs_volrec r, o;
	struct cs_chain chain, rest;
	struct cs_txn t;
	uint64_t vid;
	int rc;

	if ((rc = cs_volname_check(volume)))
		return rc;
	pthread_mutex_lock(&st->vlock);
	rc = cs_vol_lookup_name(st, volume, &vid);
	if (rc == 0 && cs_vs_find(st, vid, 0))
		rc = cs_fail(-EBUSY, "volume '%s' is in use (mounted)", volume);
	if (rc == 0)
		rc = cs_volrec_load(st, vid, &r);
	if (rc == 0 && !r.origin_id)
		rc = cs_fail(-EINVAL, "volume '%s' is not a clone", volume);
	if (rc == 0)
		rc = cs_chain_load(st, &r, &chain);
	if (rc)
		goto out;
	/* the origin's own view: its first layer, reading through the rest */
	memset(&o, 0, sizeof(o));
	o.id = chain.l[0].vid;
	o.epoch = chain.l[0].epoch;
	o.snapshot_view = 1;
	rest.n = chain.n - 1;
	memcpy(rest.l, chain.l + 1, rest.n * sizeof(rest.l[0]));
	o.chain = rest.n ? &rest : NULL;
	for (const char *tag = "IDCXE"; *tag && rc == 0; tag++) {
		struct promote p = { .clone = &r };
		uint8_t prefix[9];

		prefix[0] = (uint8_t)*tag;
		be64_put(prefix + 1, o.id);
		do {
			p.t = &t;
			p.n = 0;
			cs_txn_begin(&t, st, NULL);
			rc = cs_kv_scanv(st, &o, prefix, 9, p.resume, p.resume_len, promote_fn, &p);
			if (rc == 0)
				rc = p.rc;
			if (rc) {
				cs_txn_abort(&t, rc);
				break;
			}
			rc = cs_txn_commit(&t);
		} while (rc == 0 && p.n >= 4096);
	}
	if (rc)
		goto out;
	cs_txn_begin(&t, st, NULL);
	cs_clone_unlink(&t, &r);
	r.origin_id = r.origin_epoch = 0;
	cs_txn_put_volrec(&t, &r);
	rc = cs_txn_commit(&t);
out:
	pthread_mutex_unlock(&st->vlock);
	return rc;
}
