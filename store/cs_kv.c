/*
 * cs_kv.c - key building and reads over RocksDB, versioned and plain.
 *
 * A versioned logical key is stored once per epoch that wrote it, with the
 * inverted epoch appended (cs_priv.h), so a seek to "key + ~E" lands on the
 * newest version at or below epoch E. When a volume has no history (no
 * snapshot, no origin) every key has exactly one version, at the current
 * epoch, and a plain point get finds it: the fast path.
 * Writes go through cs_txn.c, never here.
 */
#include <errno.h>
#include <stdlib.h>

#include "cs_priv.h"

/* cs_kv_pin: this thread's reads see one RocksDB snapshot (NULL: the
 * latest data, the normal case). */
static __thread rocksdb_readoptions_t *pinned_ro;

void cs_kv_pin(rocksdb_readoptions_t *ro)
{
	pinned_ro = ro;
}

/* The read options of an iterator of @st on this thread. */
static rocksdb_readoptions_t *iter_ro(cs_store *st)
{
	return pinned_ro ? pinned_ro : st->ro;
}

static size_t key_head(uint8_t *k, char tag, uint64_t vid, uint64_t a)
{
	k[0] = (uint8_t)tag;
	be64_put(k + 1, vid);
	be64_put(k + 9, a);
	return 17;
}

size_t cs_key_vol(uint8_t *k, char tag, uint64_t vid, uint64_t a)
{
	return key_head(k, tag, vid, a);
}

size_t cs_key_inode(uint8_t *k, uint64_t vid, uint64_t ino)
{
	return key_head(k, 'I', vid, ino);
}

static size_t key_named(uint8_t *k, char tag, uint64_t vid, uint64_t a,
                        const char *name)
{
	size_t n = key_head(k, tag, vid, a);
	size_t len = strlen(name);

	CS_ASSERT(len <= CS_NAME_MAX);
	memcpy(k + n, name, len);
	k[n + len] = 0;
	return n + len + 1;
}

size_t cs_key_dirent(uint8_t *k, uint64_t vid, uint64_t dir, const char *name)
{
	return key_named(k, 'D', vid, dir, name);
}

size_t cs_key_xattr(uint8_t *k, uint64_t vid, uint64_t ino, const char *name)
{
	return key_named(k, 'X', vid, ino, name);
}

size_t cs_key_cookie(uint8_t *k, uint64_t vid, uint64_t dir, uint64_t cookie)
{
	size_t n = key_head(k, 'C', vid, dir);

	be64_put(k + n, cookie);
	return n + 8;
}

size_t cs_key_extent(uint8_t *k, uint64_t vid, uint64_t ino, uint64_t idx)
{
	size_t n = key_head(k, 'E', vid, ino);

	be64_put(k + n, idx);
	return n + 8;
}

size_t cs_key_version(uint8_t *k, size_t len, uint64_t epoch)
{
	be64_put(k + len, UINT64_MAX - epoch);
	return len + 8;
}

void cs_hash_hex(const uint8_t hash[CS_HASH_LEN], char *buf)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < CS_HASH_LEN; i++) {
		buf[2 * i] = hex[hash[i] >> 4];
		buf[2 * i + 1] = hex[hash[i] & 15];
	}
	buf[2 * CS_HASH_LEN] = 0;
}

int cs_rec_has_history(const struct cs_volrec *rec)
{
	return rec->epoch != rec->base_epoch || rec->origin_id != 0 || rec->snapshot_view;
}

int cs_kv_get(cs_store *st, rocksdb_column_family_handle_t *cf,
              const uint8_t *key, size_t klen, char **val, size_t *vlen)
{
	/* chunks are verified against their SHA-256 by the caller: RocksDB's own
	 * (software) CRC over the same bytes would only cost time */
	rocksdb_readoptions_t *ro = cf == st->cf_chunks ? st->ro_chunk : st->ro;
	char *err = NULL;

	*val = rocksdb_get_cf(st->db, pinned_ro ? pinned_ro : ro, cf, (const char *)key, klen,
	                      vlen, &err);
	if (err)
		return cs_rocks_fail(err, "read");
	return *val ? 0 : -ENOENT;
}

/* The layers of a view: (vid, epoch) of the volume, then of its origins. */
static uint32_t view_layers(const struct cs_volrec *rec, uint64_t *vid, uint64_t *ep)
{
	uint32_t n = 1;

	vid[0] = rec->id;
	ep[0] = rec->epoch;
	if (rec->chain)
		for (uint32_t i = 0; i < rec->chain->n; i++, n++) {
			vid[n] = rec->chain->l[i].vid;
			ep[n] = rec->chain->l[i].epoch;
		}
	return n;
}

/* Seek @it to the newest version of @lkey at or below @epoch. Returns 1 and
 * the raw value when this layer has one, 0 when it has none. */
static int seek_version(rocksdb_iterator_t *it, const uint8_t *lkey, size_t llen,
                        uint64_t epoch, const char **val, size_t *vlen,
                        uint64_t *ver_epoch)
{
	uint8_t k[CS_KEY_MAX];
	const char *ik;
	size_t iklen;

	memcpy(k, lkey, llen);
	rocksdb_iter_seek(it, (const char *)k, cs_key_version(k, llen, epoch));
	if (!rocksdb_iter_valid(it))
		return 0;
	ik = rocksdb_iter_key(it, &iklen);
	if (iklen != llen + 8 || memcmp(ik, lkey, llen) != 0)
		return 0;
	*ver_epoch = UINT64_MAX - be64_get((const uint8_t *)ik + llen);
	*val = rocksdb_iter_value(it, vlen);
	return 1;
}

int cs_kv_getv(cs_store *st, const struct cs_volrec *rec, const uint8_t *key,
               size_t klen, char **buf, const uint8_t **val, size_t *vlen,
               struct cs_ver *ver)
{
	uint64_t vid[CS_MAX_CLONE_DEPTH + 1], ep[CS_MAX_CLONE_DEPTH + 1], vep = 0;
	uint8_t k[CS_KEY_MAX];
	size_t len = 0;
	int rc, layer = 0;

	CS_ASSERT(klen + 8 <= sizeof(k) && klen >= 9);
	*buf = NULL;
	if (!cs_rec_has_history(rec)) { /* one version per key: a point get */
		memcpy(k, key, klen);
		rc = cs_kv_get(st, st->cf_meta, k, cs_key_version(k, klen, rec->epoch), buf, &len);
		if (rc)
			return rc;
		vep = rec->epoch;
	} else {
		uint32_t n = view_layers(rec, vid, ep);
		rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, iter_ro(st), st->cf_meta);
		const char *iv = NULL;

		memcpy(k, key, klen);
		rc = -ENOENT;
		for (uint32_t i = 0; i < n; i++) {
			be64_put(k + 1, vid[i]);
			if (seek_version(it, k, klen, ep[i], &iv, &len, &vep)) {
				layer = (int)i;
				rc = 0;
				break;
			}
		}
		if (rc == 0) {
			*buf = malloc(len ? len : 1);
			if (*buf)
				memcpy(*buf, iv, len);
			else
				rc = -ENOMEM;
		}
		rocksdb_iter_destroy(it);
		if (rc)
			return rc;
	}
	if (len < 1 || (*buf)[0] != 1) {
		int tomb = len >= 1 && (*buf)[0] == 0;

		free(*buf);
		*buf = NULL;
		return tomb ? -ENOENT : cs_fail(-EIO, "corrupt versioned record");
	}
	*val = (const uint8_t *)*buf + 1;
	*vlen = len - 1;
	if (ver) {
		ver->epoch = vep;
		ver->layer = layer;
	}
	return 0;
}

/* One layer of a merged scan: its iterator and the visible version of the
 * logical key it stands on. */
struct layer_it {
	rocksdb_iterator_t *it;
	uint64_t epoch;
	uint8_t prefix[CS_KEY_MAX];
	size_t plen;
	uint8_t cur[CS_KEY_MAX];
	size_t curlen;
	const uint8_t *val;
	size_t vlen;
	uint64_t ver_epoch;
	int valid;
};

/* Move @l to the next logical key that has a version visible at its epoch. */
static void layer_next(struct layer_it *l, int first)
{
	uint8_t last[CS_KEY_MAX];
	size_t last_len = 0;

	if (!first) {
		memcpy(last, l->cur, l->curlen);
		last_len = l->curlen;
		rocksdb_iter_next(l->it);
	}
	l->valid = 0;
	for (; rocksdb_iter_valid(l->it); rocksdb_iter_next(l->it)) {
		size_t klen, llen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(l->it, &klen);

		if (klen < l->plen + 8 || memcmp(k, l->prefix, l->plen) != 0)
			return;
		llen = klen - 8;
		if (last_len == llen && memcmp(k, last, llen) == 0)
			continue; /* an older version of a key already decided */
		if (UINT64_MAX - be64_get(k + llen) > l->epoch)
			continue; /* newer than the view */
		CS_ASSERT(llen <= sizeof(l->cur));
		memcpy(l->cur, k, llen);
		l->curlen = llen;
		l->ver_epoch = UINT64_MAX - be64_get(k + llen);
		l->val = (const uint8_t *)rocksdb_iter_value(l->it, &l->vlen);
		l->valid = 1;
		return;
	}
}

/* Order of logical keys across layers: the volume id (bytes 1-8) is not
 * compared. */
static int lkey_cmp(const struct layer_it *a, const struct layer_it *b)
{
	size_t n = (a->curlen < b->curlen ? a->curlen : b->curlen) - 9;
	int c = a->cur[0] - b->cur[0];

	if (c)
		return c;
	c = memcmp(a->cur + 9, b->cur + 9, n);
	if (c)
		return c;
	return (a->curlen > b->curlen) - (a->curlen < b->curlen);
}

int cs_kv_scanv(cs_store *st, const struct cs_volrec *rec,
                const uint8_t *prefix, size_t plen, const uint8_t *start,
                size_t slen, cs_scanv_fn fn, void *ctx)
{
	uint64_t vid[CS_MAX_CLONE_DEPTH + 1], ep[CS_MAX_CLONE_DEPTH + 1];
	uint32_t n = view_layers(rec, vid, ep);
	struct layer_it *ls = calloc(n, sizeof(*ls));
	uint8_t seek[CS_KEY_MAX];
	int rc = 0;

	if (!ls)
		return -ENOMEM;
	CS_ASSERT(plen >= 9 && plen + slen <= sizeof(seek));
	for (uint32_t i = 0; i < n; i++) {
		struct layer_it *l = &ls[i];

		memcpy(l->prefix, prefix, plen);
		be64_put(l->prefix + 1, vid[i]);
		l->plen = plen;
		l->epoch = ep[i];
		memcpy(seek, l->prefix, plen);
		if (slen)
			memcpy(seek + plen, start, slen);
		l->it = rocksdb_create_iterator_cf(st->db, iter_ro(st), st->cf_meta);
		rocksdb_iter_seek(l->it, (const char *)seek, plen + slen);
		layer_next(l, 1);
	}
	for (;;) {
		struct layer_it *top = NULL;
		struct cs_ver ver;
		int layer = 0;

		for (uint32_t i = 0; i < n; i++)
			if (ls[i].valid && (!top || lkey_cmp(&ls[i], top) < 0))
				top = &ls[i], layer = (int)i;
		if (!top)
			break;
		if (top->vlen >= 1 && top->val[0] == 1) { /* not a tombstone */
			uint8_t key[CS_KEY_MAX];

			memcpy(key, top->cur, top->curlen);
			be64_put(key + 1, rec->id);
			ver.epoch = top->ver_epoch;
			ver.layer = layer;
			rc = fn(ctx, key, top->curlen, top->val + 1, top->vlen - 1, &ver);
			if (rc)
				break;
		}
		/* every layer standing on the same logical key moves past it */
		for (uint32_t i = n; i-- > 0;)
			if (&ls[i] != top && ls[i].valid && lkey_cmp(&ls[i], top) == 0)
				layer_next(&ls[i], 0);
		layer_next(top, 0);
	}
	for (uint32_t i = 0; i < n; i++) {
		char *err = NULL;

		if (rc == 0) {
			rocksdb_iter_get_error(ls[i].it, &err);
			if (err)
				rc = cs_rocks_fail(err, "scan");
		}
		rocksdb_iter_destroy(ls[i].it);
	}
	free(ls);
	return rc > 0 ? 0 : rc;
}

int cs_kv_scan(cs_store *st, rocksdb_column_family_handle_t *cf,
               const uint8_t *prefix, size_t plen, cs_scan_fn fn, void *ctx)
{
	return cs_kv_scan_after(st, cf, prefix, plen, NULL, 0, fn, ctx);
}

int cs_kv_scan_after(cs_store *st, rocksdb_column_family_handle_t *cf,
                     const uint8_t *prefix, size_t plen, const uint8_t *after,
                     size_t alen, cs_scan_fn fn, void *ctx)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, iter_ro(st), cf);
	int rc = 0;

	if (alen)
		rocksdb_iter_seek(it, (const char *)after, alen);
	else
		rocksdb_iter_seek(it, (const char *)prefix, plen);
	for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
		const uint8_t *v;

		if (klen < plen || memcmp(k, prefix, plen) != 0)
			break;
		if (alen && klen == alen && !memcmp(k, after, alen))
			continue; /* the last key handled */
		v = (const uint8_t *)rocksdb_iter_value(it, &vlen);
		rc = fn(ctx, k, klen, v, vlen);
		if (rc)
			break;
	}
	if (rc == 0) {
		char *err = NULL;

		rocksdb_iter_get_error(it, &err);
		if (err)
			rc = cs_rocks_fail(err, "scan");
	}
	rocksdb_iter_destroy(it);
	return rc > 0 ? 0 : rc;
}
