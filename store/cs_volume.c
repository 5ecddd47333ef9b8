/*
 * cs_volume.c - volumes: create/rename/delete, options, info, handles.
 * Their records, names and lookups are cs_rec.c's, below.
 *
 * Keys owned: 'N' name -> VID, 'V' VID -> record (encoded by cs_rec.c). A
 * volume's name index and record change together in one batch. Deletion is two-phase: one
 * batch removes the name and marks the record DELETING (the volume is gone
 * for every caller), then its keys are removed in batches and the record
 * last; cs_store_open finishes a deletion a crash interrupted.
 * Handles of one volume share one cs_volstate (its lock and record).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "cs_health.h"
#include "cs_priv.h"

static int check_opts(const struct cs_volume_opts *o)
{
	if (o && (o->compression < -1 || o->compression > 19))
		return cs_fail(-EINVAL, "compression level %d is outside 0..19 (0 = none)",
		               o->compression);
	return o && o->chunk_size ? cs_chunk_size_check(o->chunk_size) : 0;
}

static void fill_info(cs_store *st, const struct cs_volrec *r, struct cs_volume_info *out)
{
	struct cs_volstate *vs = cs_vs_find(st, r->id, 1);

	memset(out, 0, sizeof(*out));
	out->written_bytes = r->written_bytes;
	out->snapshots = cs_snapshot_count(st, r->id);
	if (r->origin_id)
		cs_snapshot_origin_name(st, r->origin_id, r->origin_epoch, out->origin,
		                        sizeof(out->origin));
	memcpy(out->name, r->name, sizeof(out->name));
	memcpy(out->uuid, r->uuid, 16);
	out->id = r->id;
	out->ctime_ns = r->ctime_ns;
	out->compression = r->compression;
	out->chunk_size = r->chunk_size;
	out->quota = r->quota;
	out->epoch = r->epoch;
	out->stats = r->stats;
	for (vs = st->vols; vs; vs = vs->next)
		if (vs->id == r->id) {
			out->open_rw |= vs->rw_open;
			out->open_count += vs->nopen;
		}
}

int cs_volume_begin_new(cs_store *st, struct cs_txn *t, struct cs_volrec *r, const char *name,
                        const struct cs_volume_opts *opts, const struct cs_volume_opts *dflt)
{
	int rc;

	cs_txn_begin(t, st, NULL);
	memset(r, 0, sizeof(*r));
	pthread_mutex_lock(&st->lock);
	r->id = st->sb.next_vol_id++;
	pthread_mutex_unlock(&st->lock);
	snprintf(r->name, sizeof(r->name), "%s", name);
	if ((rc = cs_uuid_generate(r->uuid)))
		return cs_txn_abort(t, rc);
	r->ctime_ns = (int64_t)t->now.tv_sec * 1000000000 + t->now.tv_nsec;
	r->compression = (!opts || opts->compression < 0) ? dflt->compression : opts->compression;
	r->quota = opts ? opts->quota : dflt->quota;
	r->chunk_size = opts && opts->chunk_size ? opts->chunk_size : dflt->chunk_size;
	r->epoch = r->base_epoch = 1;
	return 0;
}

void cs_txn_put_volname(struct cs_txn *t, const char *name, uint64_t vid)
{
	uint8_t k[1 + CS_NAME_MAX], idb[8];
	size_t klen;

	cs_volname_key(k, &klen, name);
	be64_put(idb, vid);
	cs_txn_put(t, k, klen, idb, 8);
}

int cs_volume_create(cs_store *st, const char *name,
                     const struct cs_volume_opts *opts, uid_t uid, gid_t gid,
                     struct cs_volume_info *out)
{
	static const struct cs_volume_opts dflt = { CS_DEFAULT_ZSTD_LEVEL, 0, CS_CHUNK_SIZE };
	struct cs_inode root;
	struct cs_txn t;
	int rc;

	if ((rc = cs_volname_check(name)) || (rc = check_opts(opts)))
		return rc;
	pthread_mutex_lock(&st->vlock);
	rc = cs_volname_free(st, name);
	if (rc == 0)
		rc = cs_volume_begin_new(st, &t, &t.rec, name, opts, &dflt);
	if (rc)
		goto out;
	t.rec.next_ino = CS_ROOT_INO;
	cs_inode_init(&t, &root, S_IFDIR | 0755, uid, gid);
	CS_ASSERT(root.ino == CS_ROOT_INO);
	root.parent = CS_ROOT_INO;
	cs_txn_put_inode(&t, &root);
	cs_txn_put_volname(&t, name, t.rec.id);
	cs_txn_put_volrec(&t, &t.rec);
	{
		struct cs_volrec rec = t.rec;

		rc = cs_txn_commit(&t);
		if (rc == 0 && out)
			fill_info(st, &rec, out);
	}
out:
	pthread_mutex_unlock(&st->vlock);
	return rc;
}

int cs_volume_get(cs_store *st, const char *name, struct cs_volume_info *out)
{
	struct cs_volrec r;
	uint64_t vid;
	int rc = cs_name_check(name);

	if (rc)
		return rc;
	pthread_mutex_lock(&st->vlock);
	cs_wb_flush_open(st);
	rc = cs_vol_lookup_name(st, name, &vid);
	if (rc == 0)
		rc = cs_volrec_load(st, vid, &r);
	if (rc == 0)
		fill_info(st, &r, out);
	pthread_mutex_unlock(&st->vlock);
	return rc;
}

struct list_ctx {
	cs_store *st;
	struct cs_volume_info *v;
	size_t n, cap;
};

static int list_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                   size_t vlen)
{
	struct list_ctx *l = ctx;
	struct cs_volrec r;
	int rc;

	if (vlen != 8)
		return cs_fail(-EIO, "corrupt volume name record");
	rc = cs_volrec_load(l->st, be64_get(v), &r);
	if (rc)
		return rc;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct cs_volume_info *nv = realloc(l->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	fill_info(l->st, &r, &l->v[l->n++]);
	return 0;
}

int cs_volume_list(cs_store *st, struct cs_volume_info **out, size_t *n)
{
	struct list_ctx l = { .st = st };
	int rc;

	/* 'N' keys sort by name: the list comes out sorted. */
	pthread_mutex_lock(&st->vlock);
	cs_wb_flush_open(st);
	rc = cs_kv_scan(st, st->cf_meta, (const uint8_t *)"N", 1, list_fn, &l);
	pthread_mutex_unlock(&st->vlock);
	if (rc) {
		free(l.v);
		*out = NULL;
		*n = 0;
		return rc;
	}
	*out = l.v;
	*n = l.n;
	return 0;
}

int cs_volume_rename(cs_store *st, const char *from, const char *to)
{
	struct cs_volrec r;
	struct cs_txn t;
	uint8_t k[1 + CS_NAME_MAX];
	size_t klen;
	uint64_t vid;
	int rc;

	if ((rc = cs_volname_check(from)) || (rc = cs_volname_check(to)))
		return rc;
	rc = cs_vol_lookup_locked(st, from, &vid);
	if (rc)
		return rc;
	if (!strcmp(from, to))
		goto out;
	rc = cs_volname_free(st, to); /* an error looking it up stops the rename too */
	if (rc)
		goto out;
	if (cs_vs_find(st, vid, 0)) {
		rc = cs_fail(-EBUSY, "volume '%s' is in use", from);
		goto out;
	}
	rc = cs_volrec_load(st, vid, &r);
	if (rc)
		goto out;
	snprintf(r.name, sizeof(r.name), "%s", to);
	cs_txn_begin(&t, st, NULL);
	cs_volname_key(k, &klen, from);
	cs_txn_del(&t, k, klen);
	cs_txn_put_volname(&t, to, vid);
	cs_txn_put_volrec(&t, &r);
	rc = cs_txn_commit(&t);
out:
	pthread_mutex_unlock(&st->vlock);
	return rc;
}

int cs_volume_set_opts(cs_store *st, const char *name,
                       const struct cs_volume_opts *opts)
{
	struct cs_volstate *vs;
	struct cs_volrec r;
	struct cs_txn t;
	uint64_t vid;
	int rc = cs_name_check(name);

	if (rc == 0)
		rc = check_opts(opts);
	if (rc)
		return rc;
	rc = cs_vol_lookup_locked(st, name, &vid);
	if (rc)
		return rc;
	rc = cs_live_rec(st, vid, &vs, &r);
	if (rc)
		goto out;
	if (opts->chunk_size && opts->chunk_size != r.chunk_size) {
		rc = cs_fail(-EINVAL, "volume '%s' has %u-byte chunks: the chunk size is chosen at "
			     "creation", name, r.chunk_size);
		cs_live_done(vs, &r, 0);
		goto out;
	}
	if (opts->compression >= 0)
		r.compression = opts->compression;
	r.quota = opts->quota;
	cs_txn_begin(&t, st, NULL);
	rc = cs_txn_commit_live(&t, vs, &r);
out:
	pthread_mutex_unlock(&st->vlock);
	return rc;
}

int cs_volume_delete(cs_store *st, const char *name)
{
	struct cs_volrec r;
	struct cs_txn t;
	char clones[1024];
	uint8_t k[1 + CS_NAME_MAX];
	size_t klen;
	uint64_t vid;
	int rc;

	if ((rc = cs_volname_check(name)) || (rc = cs_vol_lookup_locked(st, name, &vid)))
		return rc;
	if (cs_vs_find(st, vid, 0))
		rc = cs_fail(-EBUSY, "volume '%s' is in use", name);
	if (rc == 0 && cs_volume_has_clones(st, vid, clones, sizeof(clones)))
		rc = cs_fail(-EBUSY, "volume '%s' has snapshots that are origins of clones: %s "
		             "(promote or delete them first)", name, clones);
	if (rc == 0)
		rc = cs_volrec_load(st, vid, &r);
	if (rc == 0) {
		r.flags |= CS_VOL_DELETING;
		cs_txn_begin(&t, st, NULL);
		cs_volname_key(k, &klen, name);
		cs_txn_del(&t, k, klen);
		cs_clone_unlink(&t, &r);
		cs_txn_put_volrec(&t, &r);
		rc = cs_txn_commit(&t);
	}
	pthread_mutex_unlock(&st->vlock);
	if (rc == 0)
		rc = cs_volume_finish_delete(st, vid);
	return rc;
}

struct drop_ctx {
	struct cs_txn *t;
	uint64_t after;
	size_t n;
	int rc;
	uint8_t last[CS_KEY_MAX + 8]; /* the last key seen: the next batch starts after it */
	size_t last_len;
};

static int drop_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                   size_t vlen)
{
	struct drop_ctx *d = ctx;

	CS_ASSERT(klen <= sizeof(d->last));
	memcpy(d->last, k, klen);
	d->last_len = klen;
	if (d->after && UINT64_MAX - be64_get(k + klen - 8) <= d->after)
		return 0; /* a version old enough to stay */
	if (k[0] == 'E' && vlen == 1 + CS_HASH_LEN + 8 && v[0] == 1) {
		d->rc = cs_txn_chunk_ref(d->t, v + 1, -1, be32_get(v + 1 + CS_HASH_LEN),
		                         be32_get(v + 1 + CS_HASH_LEN + 4), NULL, 0);
		if (d->rc)
			return d->rc;
	}
	cs_txn_del(d->t, k, klen);
	return ++d->n >= 4096; /* a batch at a time */
}

int cs_volume_drop_keys(cs_store *st, uint64_t vid, const char *tags, uint64_t after)
{
	uint8_t prefix[9];
	int rc = 0;

	for (const char *tag = tags; *tag && rc == 0; tag++) {
		uint8_t last[CS_KEY_MAX + 8];
		size_t last_len = 0;

		prefix[0] = (uint8_t)*tag;
		be64_put(prefix + 1, vid);
		for (;;) {
			struct cs_txn t;
			struct drop_ctx d = { .t = &t, .after = after };

			cs_txn_begin(&t, st, NULL);
			rc = cs_kv_scan_after(st, st->cf_meta, prefix, 9, last, last_len, drop_fn, &d);
			if (rc == 0)
				rc = d.rc;
			if (rc || d.last_len == 0 || (d.n == 0 && d.last_len == last_len &&
			                              !memcmp(d.last, last, last_len))) {
				cs_txn_abort(&t, 0);
				break;
			}
			rc = d.n ? cs_txn_commit(&t) : cs_txn_abort(&t, 0);
			if (rc)
				break;
			memcpy(last, d.last, d.last_len);
			last_len = d.last_len;
		}
	}
	return rc;
}

int cs_volume_finish_delete(cs_store *st, uint64_t vid)
{
	int rc = cs_volume_drop_keys(st, vid, "IDCXEOSTP", 0);

	if (rc == 0) {
		struct cs_txn t;
		uint8_t k[9];

		cs_txn_begin(&t, st, NULL);
		k[0] = 'V';
		be64_put(k + 1, vid);
		cs_txn_del(&t, k, 9);
		rc = cs_txn_commit(&t);
	}
	return rc;
}

static int vol_attach(cs_store *st, uint64_t vid, int flags, cs_vol **out)
{
	struct cs_volstate *vs = cs_vs_find(st, vid, 1);
	cs_vol *vol;
	int rc;

	if (vs && !(flags & CS_VOL_RDONLY) && vs->rw_open)
		return cs_fail(-EBUSY, "volume '%s' is already open read-write", vs->rec.name);
	vol = calloc(1, sizeof(*vol));
	if (!vol)
		return -ENOMEM;
	if (!vs) {
		vs = calloc(1, sizeof(*vs));
		if (!vs) {
			free(vol);
			return -ENOMEM;
		}
		rc = cs_volrec_load(st, vid, &vs->rec);
		if (rc == 0 && (vs->rec.flags & CS_VOL_DELETING))
			rc = cs_fail(-ENOENT, "volume %llu is being deleted",
			             (unsigned long long)vid);
		if (rc == 0 && (vs->rec.flags & CS_VOL_ROLLBACK))
			rc = cs_fail(-EBUSY, "volume '%s' is being rolled back", vs->rec.name);
		if (rc == 0)
			rc = cs_chain_load(st, &vs->rec, &vs->chain);
		vs->rec.chain = vs->chain.n ? &vs->chain : NULL;
		if (rc) {
			free(vs);
			free(vol);
			return rc;
		}
		vs->id = vid;
		pthread_mutex_init(&vs->lock, NULL);
		pthread_cond_init(&vs->wb_cond, NULL);
		vs->next = st->vols;
		st->vols = vs;
	}
	vs->nopen++;
	if (!(flags & CS_VOL_RDONLY))
		vs->rw_open = 1;
	vol->st = st;
	vol->vs = vs;
	vol->rdonly = !!(flags & CS_VOL_RDONLY);
	*out = vol;
	return 0;
}

int cs_vol_open(cs_store *st, const char *name, int flags, cs_vol **out)
{
	uint64_t vid;
	int rc = cs_name_check(name);

	*out = NULL;
	if (rc)
		return rc;
	pthread_mutex_lock(&st->vlock);
	rc = cs_vol_lookup_name(st, name, &vid);
	if (rc == 0)
		rc = vol_attach(st, vid, flags, out);
	pthread_mutex_unlock(&st->vlock);
	return rc;
}

int cs_vol_open_id(cs_store *st, uint64_t vid, int flags, cs_vol **out)
{
	int rc;

	pthread_mutex_lock(&st->vlock);
	rc = vol_attach(st, vid, flags, out);
	pthread_mutex_unlock(&st->vlock);
	return rc;
}

void cs_vol_close(cs_vol *vol)
{
	cs_store *st;
	struct cs_volstate *vs, **p;

	if (!vol)
		return;
	st = vol->st;
	vs = vol->vs;
	if (!vol->rdonly)
		cs_vol_flush(vol); /* a failure here can only be lost: callers sync first */
	pthread_mutex_lock(&st->vlock);
	if (!vol->rdonly)
		vs->rw_open = 0;
	if (--vs->nopen == 0) {
		for (p = &st->vols; *p != vs; p = &(*p)->next)
			;
		*p = vs->next;
		cs_wb_release(vs);
		pthread_cond_destroy(&vs->wb_cond);
		pthread_mutex_destroy(&vs->lock);
		free(vs);
	}
	pthread_mutex_unlock(&st->vlock);
	free(vol);
}

int cs_vol_info(cs_vol *vol, struct cs_volume_info *out)
{
	pthread_mutex_lock(&vol->st->vlock);
	cs_wb_flush_open(vol->st);
	pthread_mutex_lock(&vol->vs->lock);
	fill_info(vol->st, &vol->vs->rec, out);
	pthread_mutex_unlock(&vol->vs->lock);
	pthread_mutex_unlock(&vol->st->vlock);
	return 0;
}

void cs_vol_set_write_times(cs_vol *vol, int on)
{
	pthread_mutex_lock(&vol->vs->lock);
	vol->vs->keep_times = !on;
	pthread_mutex_unlock(&vol->vs->lock);
}

int cs_vol_sync(cs_vol *vol)
{
	int rc = cs_vol_flush(vol);

	return rc ? rc : cs_chunk_sync_wal(vol->st);
}

int cs_statfs(cs_vol *vol, struct cs_statfs *out)
{
	struct cs_volrec r;
	const uint64_t bs = 4096;

	pthread_mutex_lock(&vol->vs->lock);
	r = vol->vs->rec;
	pthread_mutex_unlock(&vol->vs->lock);
	memset(out, 0, sizeof(*out));
	out->bsize = bs;
	out->namemax = CS_NAME_MAX;
	if (r.quota) {
		uint64_t used = (r.stats.logical_bytes + bs - 1) / bs;

		out->blocks = r.quota / bs;
		out->bfree = out->blocks > used ? out->blocks - used : 0;
		out->bavail = out->bfree;
	} else {
		struct statvfs sv;

		if (statvfs(vol->st->path, &sv) < 0)
			return cs_fail(-errno, "statfs of %s: %s", vol->st->path, strerror(errno));
		out->blocks = (uint64_t)sv.f_blocks * sv.f_frsize / bs;
		out->bfree = (uint64_t)sv.f_bfree * sv.f_frsize / bs;
		out->bavail = (uint64_t)sv.f_bavail * sv.f_frsize / bs;
	}
	out->ffree = UINT32_MAX > r.stats.inodes ? UINT32_MAX - r.stats.inodes : 0;
	out->files = r.stats.inodes + out->ffree;
	return 0;
}

struct orphan_list {
	uint64_t (*v)[2];
	size_t n, cap;
};

static int orphan_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                     size_t vlen)
{
	struct orphan_list *l = ctx;

	if (klen != 17)
		return 0;
	if (cs_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
		return -ENOMEM;
	l->v[l->n][0] = be64_get(k + 1);
	l->v[l->n][1] = be64_get(k + 9);
	l->n++;
	return 0;
}

int cs_store_purge_orphans(cs_store *st)
{
	struct orphan_list l = { 0 };
	int rc;

	rc = cs_kv_scan(st, st->cf_meta, (const uint8_t *)"O", 1, orphan_fn, &l);
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		cs_vol *vol;

		rc = cs_vol_open_id(st, l.v[i][0], 0, &vol);
		if (rc == -ENOENT) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		rc = cs_orphan_release(vol, l.v[i][1]);
		cs_vol_close(vol);
	}
	free(l.v);
	return rc;
}
