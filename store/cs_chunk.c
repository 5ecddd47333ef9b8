/*
 * cs_chunk.c - chunk values: hashing, compression, verification.
 *
 * A chunk is at most its volume's chunk size (CS_CHUNK_MAX) raw bytes, keyed by the SHA-256 of those
 * bytes. Its stored value is a 6-byte header followed by the payload:
 *
 *   byte 0     format (1)
 *   byte 1     codec: 0 raw, 1 zstd
 *   bytes 2-5  raw length, big-endian
 *   payload    the raw bytes, or their zstd frame
 *
 * zstd is used only when it saves at least 1/8 of the chunk (ZFS's rule);
 * otherwise the raw bytes are kept (nearly random data costs no
 * decompression on read, and compressing it would cost a third of the
 * write path's CPU for a few percent). A 4 KiB sample is tried first at
 * zstd's fastest levels: when it does not save 1/8, the chunk is kept raw
 * without compressing the rest.
 * Every read decompresses and re-hashes: corruption is an error (-EIO with
 * the chunk named), never data.
 *
 * Where the encoded chunk lives is the chunk store's business
 * (cs_chunkstore.h): the "chunks" family maps the hash to a ref; a store
 * written before chunk stores holds the encoded chunk there itself, and
 * those are still read.
 */
#include <errno.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <zstd.h>

#include "cs_health.h"
#include "cs_priv.h"
#include "cs_rados.h"

#define CHUNK_FORMAT 1
#define CODEC_RAW 0
#define CODEC_ZSTD 1
#define HDR 6

/* One compression and one decompression context per thread, reused: a
 * fresh context per call (ZSTD_compress) allocates and clears its tables
 * every time, which showed in profiles as page faults and zeroing. They
 * are freed when the thread exits. */
struct zctx {
	ZSTD_CCtx *c;
	ZSTD_DCtx *d;
};

static pthread_key_t zkey;
static pthread_once_t zonce = PTHREAD_ONCE_INIT;

static void zctx_free(void *p)
{
	struct zctx *z = p;

	ZSTD_freeCCtx(z->c);
	ZSTD_freeDCtx(z->d);
	free(z);
}

static void zkey_create(void)
{
	pthread_key_create(&zkey, zctx_free);
}

/* This thread's contexts (members created on first use); NULL: no memory. */
static struct zctx *zctx(void)
{
	struct zctx *z;

	pthread_once(&zonce, zkey_create);
	z = pthread_getspecific(zkey);
	if (!z && (z = calloc(1, sizeof(*z))) && pthread_setspecific(zkey, z)) {
		free(z);
		z = NULL;
	}
	return z;
}

static ZSTD_CCtx *cctx(void)
{
	struct zctx *z = zctx();

	if (z && !z->c)
		z->c = ZSTD_createCCtx();
	return z ? z->c : NULL;
}

static ZSTD_DCtx *dctx(void)
{
	struct zctx *z = zctx();

	if (z && !z->d)
		z->d = ZSTD_createDCtx();
	return z ? z->d : NULL;
}

/* ZSTD_compress through this thread's context (a one-off one without). */
static size_t zcompress(void *dst, size_t cap, const void *src, size_t len, int level)
{
	ZSTD_CCtx *c = cctx();

	return c ? ZSTD_compressCCtx(c, dst, cap, src, len, level)
		 : ZSTD_compress(dst, cap, src, len, level);
}

/* Does the first SAMPLE bytes' compression, at zstd's fast level -3, save
 * at least 1/8? About 3.5 us here (level 1 takes 12.6 us, and let a fifth
 * of fio's 7%-compressible chunks through to a full compression that then
 * saved too little); spares incompressible data (media, archives,
 * encrypted files) the rest. */
#define SAMPLE 4096
#define SAMPLE_LEVEL (-3)
static int worth_compressing(const void *raw)
{
	char out[SAMPLE + 512];
	size_t n = zcompress(out, sizeof(out), raw, SAMPLE, SAMPLE_LEVEL);

	return !ZSTD_isError(n) && n <= SAMPLE - SAMPLE / 8;
}

int cs_chunk_encode(const void *raw, size_t len, int level,
                    uint8_t hash[CS_HASH_LEN], char **value, size_t *vlen)
{
	size_t bound = ZSTD_compressBound(len);
	char *v;

	CS_ASSERT(len > 0 && len <= CS_CHUNK_MAX);
	SHA256(raw, len, hash);
	v = malloc(HDR + (bound > len ? bound : len));
	if (!v)
		return -ENOMEM;
	v[0] = CHUNK_FORMAT;
	be32_put((uint8_t *)v + 2, (uint32_t)len);
	if (level > 0 && len > 2 * SAMPLE && !worth_compressing(raw)) {
		level = 0; /* a sample did not shrink: do not spend zstd on the rest */
	}
	if (level > 0) {
		size_t n = zcompress(v + HDR, bound, raw, len, level);

		if (!ZSTD_isError(n) && n <= len - len / 8) {
			v[1] = CODEC_ZSTD;
			*value = v;
			*vlen = HDR + n;
			return 0;
		}
	}
	v[1] = CODEC_RAW;
	memcpy(v + HDR, raw, len);
	*value = v;
	*vlen = HDR + len;
	return 0;
}

static int chunk_bad(const uint8_t hash[CS_HASH_LEN], const char *why)
{
	char hex[2 * CS_HASH_LEN + 1];

	cs_hash_hex(hash, hex);
	return cs_fail(-EIO, "chunk %s: %s", hex, why);
}

/* Is index value @v an encoded chunk kept in the database (older stores)? */
static int inline_value(const uint8_t *v, size_t vlen)
{
	return vlen >= HDR && v[0] == CHUNK_FORMAT;
}

int cs_chunk_lens(const uint8_t *v, size_t vlen, uint32_t *stored, uint32_t *raw)
{
	struct cs_chunkref r;

	if (inline_value(v, vlen)) {
		*stored = (uint32_t)vlen;
		*raw = be32_get(v + 2);
		return 0;
	}
	if (cs_chunkref_decode(v, vlen, &r))
		return -EIO;
	*stored = r.stored_len;
	*raw = r.raw_len;
	return 0;
}

/* This thread's buffer for an encoded chunk, reused: a fresh one per read
 * costs page faults. Freed when the thread exits. */
static pthread_key_t vkey;
static pthread_once_t vonce = PTHREAD_ONCE_INIT;

static void vkey_create(void)
{
	pthread_key_create(&vkey, free);
}

static char *value_buf(void)
{
	char *b;

	pthread_once(&vonce, vkey_create);
	b = pthread_getspecific(vkey);
	if (!b && (b = malloc(CS_CHUNK_VALUE_MAX)) && pthread_setspecific(vkey, b)) {
		free(b);
		b = NULL;
	}
	return b;
}

/* The encoded chunk @hash into @buf (CS_CHUNK_VALUE_MAX), or into a new
 * buffer (*@alloc) when it is kept in the database. */
static int fetch(cs_store *st, const uint8_t *hash, char *buf, char **alloc, size_t *vlen)
{
	char *v = NULL;
	size_t len = 0;
	int rc = cs_kv_get(st, st->cf_chunks, hash, CS_HASH_LEN, &v, &len);

	*alloc = NULL;
	if (rc)
		return rc;
	if (inline_value((uint8_t *)v, len)) {
		*alloc = v;
		*vlen = len;
		return 0;
	}
	rc = st->chunks->ops->get(st->chunks, hash, (uint8_t *)v, len, buf, CS_CHUNK_VALUE_MAX);
	free(v);
	if (rc < 0)
		return rc;
	*vlen = (size_t)rc;
	return 0;
}

int cs_chunk_value(cs_store *st, const uint8_t hash[CS_HASH_LEN], char **val, size_t *vlen)
{
	char *buf = malloc(CS_CHUNK_VALUE_MAX), *alloc;
	int rc = buf ? fetch(st, hash, buf, &alloc, vlen) : -ENOMEM;

	if (rc || alloc) {
		free(buf);
		*val = rc ? NULL : alloc;
		return rc;
	}
	*val = buf;
	return 0;
}

int cs_chunk_put(cs_store *st, const uint8_t hash[CS_HASH_LEN], const char *value, size_t vlen,
		 uint8_t *ref)
{
	if (vlen < HDR || vlen > CS_CHUNK_VALUE_MAX)
		return chunk_bad(hash, "an encoded chunk of an impossible length");
	return st->chunks->ops->put(st->chunks, hash, value, (uint32_t)vlen,
				    be32_get((const uint8_t *)value + 2), ref);
}

/* 1 when the store holds chunk @hash with references, 0 when not, <0. */
static int chunk_known(cs_store *st, const uint8_t hash[CS_HASH_LEN])
{
	uint8_t key[1 + CS_HASH_LEN];
	char *v = NULL;
	size_t vlen;
	int rc;

	key[0] = 'R';
	memcpy(key + 1, hash, CS_HASH_LEN);
	rc = cs_kv_get(st, st->cf_meta, key, sizeof(key), &v, &vlen);
	free(v);
	return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

int cs_chunk_put_new(cs_store *st, const uint8_t hash[CS_HASH_LEN], const char *value,
		     size_t vlen, uint8_t *ref)
{
	if (chunk_known(st, hash) != 0) /* held, or an error the commit meets again */
		return 0;
	return cs_chunk_put(st, hash, value, vlen, ref);
}

int cs_chunk_durable(cs_store *st)
{
	return st->chunks->ops->sync(st->chunks);
}

void cs_chunk_settle_due(cs_store *st)
{
	const struct cs_chunkstore_ops *ops = st->chunks->ops;

	if (ops->settle_due && ops->settle_due(st->chunks))
		(void)cs_chunk_sync_wal(st); /* best effort: the gc gives it back else */
}

int cs_chunk_sync_wal(cs_store *st)
{
	const struct cs_chunkstore_ops *ops = st->chunks->ops;
	uint64_t token = ops->settle ? ops->settle(st->chunks, 0) : 0;
	int rc = cs_store_sync_wal(st);

	if (rc == 0 && token)
		ops->settle(st->chunks, token);
	return rc;
}

void cs_chunk_named(cs_store *st, const uint8_t *ref, size_t reflen, int named)
{
	st->chunks->ops->named(st->chunks, ref, reflen, named);
}

void cs_chunk_dropped(cs_store *st, const uint8_t *hash, const uint8_t *v, size_t vlen)
{
	if (!inline_value(v, vlen)) /* older stores' chunks: RocksDB's blob GC */
		st->chunks->ops->drop(st->chunks, hash, v, vlen);
}

int cs_chunkstore_open(cs_store *st)
{
	char *v = NULL;
	size_t vlen = 0;
	int rc = cs_kv_get(st, st->cf_meta, (const uint8_t *)"\0CS", 3, &v, &vlen);

	if (rc == -ENOENT || (rc == 0 && vlen == 5 && !memcmp(v, "local", 5)))
		rc = cs_cfile_open(st, &st->chunks);
	else if (rc == 0 && vlen > 6 && !memcmp(v, "rados:", 6))
		rc = cs_rados_open_spec(st, v, vlen, &st->chunks);
	else if (rc == 0)
		rc = cs_fail(-EINVAL, "store %s keeps its chunks in '%.*s', which this build "
			     "cannot open", st->path, (int)(vlen > 200 ? 200 : vlen), v);
	free(v);
	return rc;
}

int cs_chunk_read(cs_store *st, const uint8_t hash[CS_HASH_LEN], uint8_t *out, size_t cap)
{
	uint8_t check[CS_HASH_LEN];
	char *buf = value_buf(), *alloc = NULL, *v;
	size_t vlen = 0, raw;
	int rc;

	rc = buf ? fetch(st, hash, buf, &alloc, &vlen) : -ENOMEM;
	if (rc == -ENOENT)
		return chunk_bad(hash, "missing from the store");
	if (rc)
		return rc;
	v = alloc ? alloc : buf;
	rc = -EIO;
	if (vlen < HDR || v[0] != CHUNK_FORMAT) {
		rc = chunk_bad(hash, "bad header");
		goto out;
	}
	raw = be32_get((uint8_t *)v + 2);
	if (raw == 0 || raw > cap) {
		rc = chunk_bad(hash, "bad length");
		goto out;
	}
	if (v[1] == CODEC_RAW) {
		if (vlen - HDR != raw) {
			rc = chunk_bad(hash, "length mismatch");
			goto out;
		}
		memcpy(out, v + HDR, raw);
	} else if (v[1] == CODEC_ZSTD) {
		ZSTD_DCtx *d = dctx();
		size_t n = d ? ZSTD_decompressDCtx(d, out, raw, v + HDR, vlen - HDR)
			     : ZSTD_decompress(out, raw, v + HDR, vlen - HDR);

		if (ZSTD_isError(n) || n != raw) {
			rc = chunk_bad(hash, "does not decompress");
			goto out;
		}
	} else {
		rc = chunk_bad(hash, "unknown codec");
		goto out;
	}
	SHA256(out, raw, check);
	if (memcmp(check, hash, CS_HASH_LEN) != 0) {
		rc = chunk_bad(hash, "content does not match its SHA-256 (corrupted)");
		goto out;
	}
	rc = (int)raw;
out:
	free(alloc);
	return rc;
}
