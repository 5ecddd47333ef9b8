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

int cs_rec_has_history(const struct cs_volrec *rec)
{
	return rec->epoch != rec->base_epoch;
}

int cs_kv_get(cs_store *st, rocksdb_column_family_handle_t *cf,
              const uint8_t *key, size_t klen, char **val, size_t *vlen)
{
	char *err = NULL;

	*val = rocksdb_get_cf(st->db, st->ro, cf, (const char *)key, klen, vlen, &err);
	if (err)
		return cs_rocks_fail(err, "read");
	return *val ? 0 : -ENOENT;
}

static int version_visible(const uint8_t *k, size_t klen, const uint8_t *logical,
                           size_t llen, uint64_t epoch)
{
	if (klen != llen + 8 || memcmp(k, logical, llen) != 0)
		return -1; /* another logical key */
	return UINT64_MAX - be64_get(k + llen) <= epoch;
}

int cs_kv_getv(cs_store *st, const struct cs_volrec *rec, const uint8_t *key,
               size_t klen, char **buf, const uint8_t **val, size_t *vlen)
{
	uint8_t k[CS_KEY_MAX];
	size_t n, len = 0;
	int rc;

	CS_ASSERT(klen + 8 <= sizeof(k));
	memcpy(k, key, klen);
	n = cs_key_version(k, klen, rec->epoch);
	*buf = NULL;
	if (!cs_rec_has_history(rec)) {
		rc = cs_kv_get(st, st->cf_meta, k, n, buf, &len);
		if (rc)
			return rc;
	} else {
		rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf_meta);
		const char *ik, *iv;
		size_t iklen;

		rocksdb_iter_seek(it, (const char *)k, n);
		rc = -ENOENT;
		if (rocksdb_iter_valid(it)) {
			ik = rocksdb_iter_key(it, &iklen);
			if (version_visible((const uint8_t *)ik, iklen, key, klen,
			                    rec->epoch) == 1) {
				iv = rocksdb_iter_value(it, &len);
				*buf = malloc(len ? len : 1);
				if (!*buf)
					rc = -ENOMEM;
				else {
					memcpy(*buf, iv, len);
					rc = 0;
				}
			}
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
	return 0;
}

int cs_kv_scanv(cs_store *st, const struct cs_volrec *rec,
                const uint8_t *prefix, size_t plen, const uint8_t *start,
                size_t slen, cs_scan_fn fn, void *ctx)
{
	uint8_t seek[CS_KEY_MAX], last[CS_KEY_MAX];
	size_t last_len = 0;
	rocksdb_iterator_t *it;
	int rc = 0;

	CS_ASSERT(plen + slen <= sizeof(seek));
	memcpy(seek, prefix, plen);
	memcpy(seek + plen, start, slen);
	it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf_meta);
	for (rocksdb_iter_seek(it, (const char *)seek, plen + slen);
	     rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen, vlen, llen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
		const uint8_t *v;

		if (klen < plen + 8 || memcmp(k, prefix, plen) != 0)
			break;
		llen = klen - 8;
		if (last_len == llen && memcmp(k, last, llen) == 0)
			continue; /* an older version of a key already decided */
		if (UINT64_MAX - be64_get(k + llen) > rec->epoch)
			continue; /* newer than the view */
		CS_ASSERT(llen <= sizeof(last));
		memcpy(last, k, llen);
		last_len = llen;
		v = (const uint8_t *)rocksdb_iter_value(it, &vlen);
		if (vlen < 1 || v[0] != 1)
			continue; /* tombstone */
		rc = fn(ctx, k, llen, v + 1, vlen - 1);
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

int cs_kv_scan(cs_store *st, rocksdb_column_family_handle_t *cf,
               const uint8_t *prefix, size_t plen, cs_scan_fn fn, void *ctx)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->ro, cf);
	int rc = 0;

	for (rocksdb_iter_seek(it, (const char *)prefix, plen);
	     rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
		const uint8_t *v;

		if (klen < plen || memcmp(k, prefix, plen) != 0)
			break;
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
