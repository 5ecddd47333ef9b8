/*
 * cs_rec.c - volume records and names: the field tables the records are
 * encoded from (struct cs_field), encoding and decoding the 'V'
 * record, the 'N' name key, name checks (once, at the store's boundary),
 * uuids, lookups of a volume by name or id and of a clone's origin chain,
 * and the open volume states. It writes nothing: cs_volume.c creates,
 * renames and deletes volumes, cs_txn.c writes the record with each batch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "cs_priv.h"

/* ---- record fields (struct cs_field) ---- */

#define STATS_F(m) CS_FIELD(CS_F64, struct cs_volume_stats, m)
static const struct cs_field stats_fields[] = {
	STATS_F(inodes),     STATS_F(logical_bytes), STATS_F(apparent_bytes),
	STATS_F(chunk_refs), STATS_F(raw_bytes),     STATS_F(stored_bytes)};

/* Nanoseconds fit in 4 bytes. */
static const struct cs_field time_fields[] = {CS_FIELD(CS_F64, struct timespec, tv_sec),
                                              CS_FIELD(CS_F32, struct timespec, tv_nsec)};

/* What each kind of field takes in a record and in its struct (member 0:
 * any integer of 4 or 8 bytes), and the fields it is made of. */
static const struct {
	uint8_t stored;
	uint16_t member;
	const struct cs_field *sub;
	size_t nsub;
} field_kinds[] = {
	[CS_F32] = {4, 0, NULL, 0},
	[CS_F64] = {8, 0, NULL, 0},
	[CS_FUUID] = {16, 16, NULL, 0},
	[CS_FTIME] = {12, sizeof(struct timespec), time_fields, 2},
	[CS_FSTATS] = {6 * 8, sizeof(struct cs_volume_stats), stats_fields, 6},
};

/* Move an integer between a member (@m, of @msize bytes: 4 or 8) and
 * @w big-endian bytes at @p: into the record when @put, else out of it. */
static void int_move(uint8_t *p, size_t w, uint8_t *m, size_t msize, int put)
{
	uint64_t v = 0;
	uint32_t v32;

	if (put) {
		if (msize == 4)
			memcpy(&v32, m, 4), v = v32;
		else
			memcpy(&v, m, 8);
		if (w == 4)
			be32_put(p, (uint32_t)v);
		else
			be64_put(p, v);
		return;
	}
	v = w == 4 ? be32_get(p) : be64_get(p);
	if (msize == 4)
		v32 = (uint32_t)v, memcpy(m, &v32, 4);
	else
		memcpy(m, &v, 8);
}

/* Move the @n fields @f between the struct at @s and the record at @p:
 * into the record when @put (then @s is only read), else out of it (then
 * @p is only read). Returns the end of the fields in the record. */
static uint8_t *fields_move(uint8_t *p, uint8_t *s, const struct cs_field *f, size_t n, int put)
{
	for (; n--; f++) {
		size_t w = field_kinds[f->kind].stored, msize = field_kinds[f->kind].member;
		uint8_t *m = s + f->off;

		CS_ASSERT(msize ? f->size == msize : f->size == 4 || f->size == 8);
		if (field_kinds[f->kind].sub)
			fields_move(p, m, field_kinds[f->kind].sub, field_kinds[f->kind].nsub, put);
		else if (!msize)
			int_move(p, w, m, f->size, put);
		else if (put)
			memcpy(p, m, w);
		else
			memcpy(m, p, w);
		p += w;
	}
	return p;
}

uint8_t *cs_fields_put(uint8_t *p, const void *s, const struct cs_field *f, size_t n)
{
	return fields_move(p, (uint8_t *)s, f, n, 1);
}

const uint8_t *cs_fields_get(const uint8_t *p, void *s, const struct cs_field *f, size_t n)
{
	return fields_move((uint8_t *)p, s, f, n, 0);
}

/* ---- chunk sizes and the compression word ---- */

uint32_t cs_compression_word(int level, uint32_t chunk_size)
{
	uint32_t shift = 0;

	if (chunk_size && chunk_size != CS_CHUNK_SIZE)
		while ((1u << shift) < chunk_size)
			shift++;
	return (uint32_t)level | shift << 16;
}

int cs_chunk_size_check(uint32_t size)
{
	if (size < CS_CHUNK_MIN || size > CS_CHUNK_MAX || (size & (size - 1)))
		return cs_fail(-EINVAL, "chunk size %u is not a power of two from %u to %u bytes",
			       size, CS_CHUNK_MIN, CS_CHUNK_MAX);
	return 0;
}

int cs_compression_split(uint32_t word, int *level, uint32_t *chunk_size)
{
	uint32_t shift = word >> 16 & 0xff;

	*level = (int)(word & 0xffff);
	*chunk_size = CS_CHUNK_SIZE;
	if (word >> 24 || *level > 19 || (shift && (shift < 12 || shift > 20)))
		return -EINVAL; /* (a shift of 32 or more would not even be defined) */
	if (shift)
		*chunk_size = 1u << shift;
	return 0;
}

/* ---- the volume record ('V') ---- */

#define VOLREC_F(kind, m) CS_FIELD(CS_F##kind, struct cs_volrec, m)
/* After the version byte; then the name's length (2 bytes) and the name. */
static const struct cs_field volrec_fields[] = {
	VOLREC_F(64, id),             VOLREC_F(UUID, uuid),       VOLREC_F(64, ctime_ns),
	VOLREC_F(32, compression),    VOLREC_F(64, quota),        VOLREC_F(64, epoch),
	VOLREC_F(64, base_epoch),     VOLREC_F(64, next_ino),     VOLREC_F(32, flags),
	VOLREC_F(64, origin_id),      VOLREC_F(64, origin_epoch), VOLREC_F(64, written_bytes),
	VOLREC_F(64, rollback_epoch), VOLREC_F(64, changes),      VOLREC_F(STATS, stats)};

size_t cs_volrec_encode(const struct cs_volrec *r, uint8_t *b)
{
	struct cs_volrec w = *r; /* the level and the chunk size in one word */
	size_t nl = strlen(r->name);
	uint8_t *p = b;

	w.compression = (int)cs_compression_word(r->compression, r->chunk_size);
	*p++ = CS_VOLREC_VERSION;
	p = CS_FIELDS_PUT(p, &w, volrec_fields);
	*p++ = (uint8_t)(nl >> 8);
	*p++ = (uint8_t)nl;
	memcpy(p, r->name, nl);
	return (size_t)(p - b) + nl;
}

int cs_volrec_decode(struct cs_volrec *r, const uint8_t *b, size_t len)
{
	const uint8_t *p = b;
	size_t nl;

	if (len < CS_VOLREC_FIXED || b[0] != CS_VOLREC_VERSION)
		return cs_fail(-EIO, "corrupt volume record");
	memset(r, 0, sizeof(*r));
	p = CS_FIELDS_GET(p + 1, r, volrec_fields);
	nl = ((size_t)p[0] << 8) | p[1];
	p += 2;
	if (nl > CS_NAME_MAX || CS_VOLREC_FIXED + nl != len)
		return cs_fail(-EIO, "corrupt volume record");
	memcpy(r->name, p, nl);
	r->name[nl] = 0;
	if (cs_compression_split((uint32_t)r->compression, &r->compression, &r->chunk_size))
		return cs_fail(-EIO, "corrupt volume record (compression word)");
	return 0;
}

int cs_uuid_generate(uint8_t u[16])
{
	if (getrandom(u, 16, 0) != 16)
		return cs_fail(-EIO, "no random bytes for a uuid");
	u[6] = (u[6] & 0x0f) | 0x40; /* version 4 */
	u[8] = (u[8] & 0x3f) | 0x80; /* variant 1 */
	return 0;
}

void cs_uuid_format(const uint8_t u[16], char *buf)
{
	snprintf(buf, 37,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
	         u[11], u[12], u[13], u[14], u[15]);
}

int cs_name_check(const char *name)
{
	size_t len;

	if (!name)
		return cs_fail(-EINVAL, "no name given");
	len = strlen(name);
	if (len == 0)
		return cs_fail(-EINVAL, "empty name");
	if (len > CS_NAME_MAX)
		return cs_fail(-ENAMETOOLONG, "name of %zu bytes is longer than %u", len,
		               CS_NAME_MAX);
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return cs_fail(-EINVAL, "name '%s' is reserved", name);
	if (strchr(name, '/'))
		return cs_fail(-EINVAL, "name '%s' contains '/'", name);
	return 0;
}

/* Volume names also may not contain '@' (it separates snapshots). */
int cs_volname_check(const char *name)
{
	int rc = cs_name_check(name);

	if (rc)
		return rc;
	if (strchr(name, '@'))
		return cs_fail(-EINVAL, "volume name '%s' contains '@'", name);
	return 0;
}

int cs_vol_lookup_locked(cs_store *st, const char *name, uint64_t *vid)
{
	int rc;

	pthread_mutex_lock(&st->vlock);
	rc = cs_vol_lookup_name(st, name, vid);
	if (rc)
		pthread_mutex_unlock(&st->vlock);
	return rc;
}

int cs_volname_free(cs_store *st, const char *name)
{
	uint64_t vid;
	int rc = cs_vol_lookup_name(st, name, &vid);

	if (rc == 0)
		return cs_fail(-EEXIST, "volume '%s' already exists", name);
	return rc == -ENOENT ? 0 : rc;
}

/* Find a volume id by name (under vlock). */
int cs_vol_lookup_name(cs_store *st, const char *name, uint64_t *vid)
{
	uint8_t k[1 + CS_NAME_MAX];
	size_t nl = strlen(name), vlen;
	char *v;
	int rc;

	k[0] = 'N';
	memcpy(k + 1, name, nl);
	rc = cs_kv_get(st, st->cf_meta, k, 1 + nl, &v, &vlen);
	if (rc == -ENOENT)
		return cs_fail(-ENOENT, "volume '%s' does not exist", name);
	if (rc)
		return rc;
	if (vlen != 8) {
		free(v);
		return cs_fail(-EIO, "volume '%s': corrupt name record", name);
	}
	*vid = be64_get((uint8_t *)v);
	free(v);
	return 0;
}

int cs_volrec_load(cs_store *st, uint64_t vid, struct cs_volrec *r)
{
	uint8_t k[9];
	size_t vlen;
	char *v;
	int rc;

	k[0] = 'V';
	be64_put(k + 1, vid);
	rc = cs_kv_get(st, st->cf_meta, k, 9, &v, &vlen);
	if (rc == -ENOENT)
		return cs_fail(-ENOENT, "volume %llu has no record", (unsigned long long)vid);
	if (rc)
		return rc;
	rc = cs_volrec_decode(r, (uint8_t *)v, vlen);
	free(v);
	return rc;
}

struct cs_volstate *cs_vs_find(cs_store *st, uint64_t vid, int live_only)
{
	for (struct cs_volstate *vs = st->vols; vs; vs = vs->next)
		if (vs->id == vid && (!live_only || vs->snap_epoch == 0))
			return vs;
	return NULL;
}

int cs_live_rec(cs_store *st, uint64_t vid, struct cs_volstate **vs, struct cs_volrec *r)
{
	*vs = cs_vs_find(st, vid, 1);
	if (*vs) {
		pthread_mutex_lock(&(*vs)->lock);
		*r = (*vs)->rec;
		return 0;
	}
	return cs_volrec_load(st, vid, r);
}

void cs_live_done(struct cs_volstate *vs, const struct cs_volrec *r, int commit_ok)
{
	if (!vs)
		return;
	if (commit_ok) {
		const struct cs_chain *c = vs->rec.chain;

		vs->rec = *r;
		vs->rec.chain = c;
	}
	pthread_mutex_unlock(&vs->lock);
}

void cs_volname_key(uint8_t *k, size_t *klen, const char *name)
{
	size_t nl = strlen(name);

	k[0] = 'N';
	memcpy(k + 1, name, nl);
	*klen = 1 + nl;
}

int cs_chain_load(cs_store *st, const struct cs_volrec *r, struct cs_chain *c)
{
	struct cs_volrec o;
	uint64_t id = r->origin_id, ep = r->origin_epoch;
	int rc;

	c->n = 0;
	while (id) {
		if (c->n == CS_MAX_CLONE_DEPTH)
			return cs_fail(-EIO, "volume '%s': clone chain too deep", r->name);
		c->l[c->n].vid = id;
		c->l[c->n].epoch = ep;
		c->n++;
		rc = cs_volrec_load(st, id, &o);
		if (rc)
			return rc;
		id = o.origin_id;
		ep = o.origin_epoch;
	}
	return 0;
}

/* ---- the superblock ("\0SB") ---- */

static const char SB_MAGIC[8] = "CSTORFS";

size_t cs_sb_encode(const struct cs_sb *sb, uint8_t *buf)
{
	memcpy(buf, SB_MAGIC, 8);
	be32_put(buf + 8, CS_FORMAT_VERSION);
	be64_put(buf + 12, sb->next_vol_id);
	be64_put(buf + 20, sb->chunks);
	be64_put(buf + 28, sb->chunk_refs);
	be64_put(buf + 36, sb->raw_bytes);
	be64_put(buf + 44, sb->stored_bytes);
	return 52;
}

int cs_sb_decode(struct cs_sb *sb, const uint8_t *buf, size_t len)
{
	if (len != 52 || memcmp(buf, SB_MAGIC, 8) != 0)
		return cs_fail(-EINVAL, "not a cstorfs store (bad superblock)");
	if (be32_get(buf + 8) != CS_FORMAT_VERSION)
		return cs_fail(-EINVAL, "store format %u is not supported (this build reads %d)",
		               be32_get(buf + 8), CS_FORMAT_VERSION);
	sb->next_vol_id = be64_get(buf + 12);
	sb->chunks = be64_get(buf + 20);
	sb->chunk_refs = be64_get(buf + 28);
	sb->raw_bytes = be64_get(buf + 36);
	sb->stored_bytes = be64_get(buf + 44);
	return 0;
}
