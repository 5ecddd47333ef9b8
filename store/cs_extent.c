/*
 * cs_extent.c - a file's chunks: extents, loading and storing a chunk, and
 * encoding whole chunks before the volume is locked (the write paths of
 * cs_wbuf.c and cs_file.c build on these).
 *
 * Keys owned: 'E' VID ino idx ~E -> extent: SHA-256 of the chunk (32),
 * raw length (4), stored length (4). Chunk idx covers bytes
 * [idx * C, (idx + 1) * C) where C is the volume's chunk size (rec->
 * chunk_size, fixed at creation, CS_CHUNK_MIN..CS_CHUNK_MAX; a clone has
 * its origin's, so shared extents mean the same bytes). A chunk's raw bytes are
 * stored without their trailing zeros: bytes past the raw length read as
 * zeros, and an all-zero chunk is a hole (no extent at all).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cs_priv.h"

int cs_ext_decode(struct cs_ext *e, const uint8_t *v, size_t vlen)
{
	if (vlen != CS_EXT_LEN)
		return cs_fail(-EIO, "corrupt extent record");
	memcpy(e->hash, v, CS_HASH_LEN);
	e->raw_len = be32_get(v + CS_HASH_LEN);
	e->stored_len = be32_get(v + CS_HASH_LEN + 4);
	if (e->raw_len == 0 || e->raw_len > CS_CHUNK_MAX)
		return cs_fail(-EIO, "corrupt extent record");
	return 0;
}

/* The extent of chunk @idx as of the view: 0, -ENOENT (a hole), -EIO. */
int cs_ext_get(cs_store *st, const struct cs_volrec *rec, uint64_t ino,
                   uint64_t idx, struct cs_ext *e)
{
	uint8_t k[CS_KEY_MAX];
	const uint8_t *v;
	struct cs_ver ver;
	size_t vlen;
	char *buf;
	int rc;

	rc = cs_kv_getv(st, rec, k, cs_key_extent(k, rec->id, ino, idx), &buf, &v, &vlen, &ver);
	if (rc)
		return rc;
	rc = cs_ext_decode(e, v, vlen);
	e->owned = cs_ver_owned(&ver, rec);
	free(buf);
	return rc;
}

/* Replace chunk @idx's extent @old (NULL: a hole) by @new (NULL: make it a
 * hole), with its encoded chunk @value; counters follow. The old version's
 * chunk reference is dropped only when the version is the volume's own in
 * the current epoch (overwritten in place); a version a snapshot or an
 * origin holds keeps its reference, and a tombstone or a newer version
 * hides it from the live view. */
int cs_ext_replace(struct cs_txn *t, struct cs_inode *in, uint64_t idx,
                       const struct cs_ext *old, const struct cs_ext *new, char *value,
                       size_t vlen)
{
	struct cs_volume_stats *s = &t->rec.stats;
	uint8_t k[CS_KEY_MAX], v[CS_EXT_LEN];
	size_t klen = cs_key_extent(k, t->rec.id, in->ino, idx);
	int rc;

	if (old) {
		if (old->owned) {
			rc = cs_txn_chunk_ref(t, old->hash, -1, old->raw_len, old->stored_len,
			                      NULL, 0);
			if (rc)
				goto fail;
			t->rec.written_bytes -= old->raw_len;
		}
		s->chunk_refs--;
		s->raw_bytes -= old->raw_len;
		s->stored_bytes -= old->stored_len;
		in->data_bytes -= old->raw_len;
	}
	if (!new) {
		if (old)
			cs_txn_delv(t, k, klen);
		return 0;
	}
	rc = cs_txn_chunk_ref(t, new->hash, 1, new->raw_len, new->stored_len, value, vlen);
	value = NULL; /* owned by the txn now, even on failure */
	if (rc)
		return rc;
	s->chunk_refs++;
	t->rec.written_bytes += new->raw_len;
	s->raw_bytes += new->raw_len;
	s->stored_bytes += new->stored_len;
	in->data_bytes += new->raw_len;
	memcpy(v, new->hash, CS_HASH_LEN);
	be32_put(v + CS_HASH_LEN, new->raw_len);
	be32_put(v + CS_HASH_LEN + 4, new->stored_len);
	cs_txn_putv(t, k, klen, v, CS_EXT_LEN);
	return 0;
fail:
	free(value);
	return rc;
}

/* Fill @buf (the volume's chunk size) with chunk @idx's bytes: zeros past
 * its raw length, all zeros for a hole. *@e / *@have tell what extent was
 * found. */
int cs_file_chunk_load(cs_store *st, const struct cs_volrec *rec, uint64_t ino,
                      uint64_t idx, uint8_t *buf, struct cs_ext *e, int *have)
{
	uint32_t csz = rec->chunk_size;
	int rc = cs_ext_get(st, rec, ino, idx, e);

	*have = 0;
	if (rc == -ENOENT) {
		memset(buf, 0, csz);
		return 0;
	}
	if (rc)
		return rc;
	rc = cs_chunk_read(st, e->hash, buf, csz);
	if (rc < 0)
		return rc;
	if ((uint32_t)rc != e->raw_len) {
		char hex[2 * CS_HASH_LEN + 1];

		cs_hash_hex(e->hash, hex);
		return cs_fail(-EIO, "inode %llu chunk %llu: chunk %s has %d bytes, extent says %u",
		               (unsigned long long)ino, (unsigned long long)idx, hex, rc,
		               e->raw_len);
	}
	memset(buf + e->raw_len, 0, csz - e->raw_len);
	*have = 1;
	return 0;
}

int cs_file_chunks(cs_store *st, const struct cs_volrec *rec, uint64_t ino, uint64_t off,
                   uint64_t end, int (*fn)(void *ctx, struct cs_chunk_part *p), void *ctx)
{
	uint32_t csz = rec->chunk_size;
	struct cs_chunk_part p;
	int rc = 0;

	p.buf = malloc(csz);
	if (!p.buf)
		return -ENOMEM;
	for (p.pos = off; p.pos < end && rc == 0; p.pos += p.n) {
		p.idx = p.pos / csz;
		p.co = p.pos % csz;
		p.n = csz - p.co;
		if (p.n > end - p.pos)
			p.n = end - p.pos;
		rc = cs_file_chunk_load(st, rec, ino, p.idx, p.buf, &p.e, &p.have);
		if (rc == 0)
			rc = fn(ctx, &p);
	}
	free(p.buf);
	return rc;
}

/* Store @buf as chunk @idx (trailing zeros trimmed; all zeros: a hole). */
int cs_file_chunk_store(struct cs_txn *t, struct cs_inode *in, uint64_t idx,
                       const uint8_t *buf, const struct cs_ext *old)
{
	struct cs_ext e;
	size_t len = t->rec.chunk_size;
	char *value;
	size_t vlen;
	int rc;

	while (len > 0 && buf[len - 1] == 0)
		len--;
	if (len == 0)
		return cs_ext_replace(t, in, idx, old, NULL, NULL, 0);
	rc = cs_chunk_encode(buf, len, t->rec.compression, e.hash, &value, &vlen);
	if (rc)
		return rc;
	if (old && old->raw_len == len && !memcmp(old->hash, e.hash, CS_HASH_LEN)) {
		free(value); /* unchanged */
		return 0;
	}
	e.raw_len = (uint32_t)len;
	e.stored_len = (uint32_t)vlen;
	return cs_ext_replace(t, in, idx, old, &e, value, vlen);
}

int cs_file_check(const struct cs_inode *in)
{
	if (S_ISDIR(in->mode))
		return cs_fail(-EISDIR, "inode %llu is a directory", (unsigned long long)in->ino);
	if (!S_ISREG(in->mode))
		return cs_fail(-EINVAL, "inode %llu is not a regular file",
		               (unsigned long long)in->ino);
	return 0;
}

void cs_pre_free(cs_store *st, struct cs_pre_write *pw)
{
	for (size_t i = 0; i < pw->n; i++) {
		if (pw->c[i].reflen) /* put but not used: garbage */
			cs_chunk_named(st, pw->c[i].ref, pw->c[i].reflen, 0);
		free(pw->c[i].value);
	}
	free(pw->c);
	pw->n = 0;
	pw->c = NULL;
}

int cs_pre_encode_one(struct cs_pre_chunk *c, const uint8_t *d, uint32_t csz, int level)
{
	size_t len = csz;

	memset(c, 0, sizeof(*c));
	while (len > 0 && d[len - 1] == 0)
		len--;
	c->raw_len = (uint32_t)len;
	return len ? cs_chunk_encode(d, len, level, c->hash, &c->value, &c->vlen) : 0;
}

int cs_pre_encode(struct cs_pre_write *pw, uint64_t off, const uint8_t *src, size_t size,
                      int level, uint32_t csz)
{
	uint64_t first = (off + csz - 1) / csz;
	uint64_t end = (off + size) / csz;

	memset(pw, 0, sizeof(*pw));
	if (end <= first)
		return 0;
	pw->c = calloc(end - first, sizeof(*pw->c));
	if (!pw->c)
		return -ENOMEM;
	pw->first = first;
	pw->n = end - first;
	for (size_t i = 0; i < pw->n; i++) {
		int rc = cs_pre_encode_one(&pw->c[i], src + ((first + i) * csz - off), csz, level);

		if (rc) {
			cs_pre_free(NULL, pw); /* nothing put yet */
			return rc;
		}
	}
	return 0;
}

/* Put the bytes of the encoded chunks the store does not hold into the
 * chunk store and make them durable, before the volume is locked: writers
 * of one volume then sync in parallel (one fdatasync for all of them),
 * and the lock covers only the metadata. A chunk some other writer stores
 * meanwhile leaves this copy as garbage (the commit names one). */
int cs_pre_store(cs_store *st, struct cs_pre_write *pw)
{
	int rc = 0, put = 0;

	for (size_t i = 0; i < pw->n && rc == 0; i++) {
		struct cs_pre_chunk *c = &pw->c[i];

		if (!c->value) /* a hole */
			continue;
		rc = cs_chunk_put_new(st, c->hash, c->value, c->vlen, c->ref);
		if (rc > 0) {
			c->reflen = (size_t)rc;
			put = 1;
			rc = 0;
		}
	}
	return rc == 0 && put ? cs_chunk_durable(st) : rc;
}

/* Store pre-encoded chunk @c as chunk @idx over @old (NULL: a hole). */
int cs_store_pre(struct cs_txn *t, struct cs_inode *in, uint64_t idx,
                     struct cs_pre_chunk *c, const struct cs_ext *old)
{
	struct cs_ext e;
	char *value = c->value;
	int rc;

	c->value = NULL; /* consumed */
	if (c->raw_len == 0)
		return cs_ext_replace(t, in, idx, old, NULL, NULL, 0);
	if (old && old->raw_len == c->raw_len && !memcmp(old->hash, c->hash, CS_HASH_LEN)) {
		free(value); /* unchanged */
		return 0;
	}
	memcpy(e.hash, c->hash, CS_HASH_LEN);
	e.raw_len = c->raw_len;
	e.stored_len = (uint32_t)c->vlen;
	rc = cs_ext_replace(t, in, idx, old, &e, value, c->vlen);
	if (rc == 0 && c->reflen) { /* the txn settles it from here */
		cs_txn_chunk_stored(t, c->ref, c->reflen);
		c->reflen = 0;
	}
	return rc;
}
