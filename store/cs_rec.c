/*
 * cs_rec.c - volume records and names: encoding and decoding the 'V'
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

size_t cs_volrec_encode(const struct cs_volrec *r, uint8_t *b)
{
	size_t nl = strlen(r->name);
	uint8_t *p = b;

	*p++ = CS_VOLREC_VERSION;
	be64_put(p, r->id), p += 8;
	memcpy(p, r->uuid, 16), p += 16;
	be64_put(p, (uint64_t)r->ctime_ns), p += 8;
	be32_put(p, (uint32_t)r->compression), p += 4;
	be64_put(p, r->quota), p += 8;
	be64_put(p, r->epoch), p += 8;
	be64_put(p, r->base_epoch), p += 8;
	be64_put(p, r->next_ino), p += 8;
	be32_put(p, r->flags), p += 4;
	be64_put(p, r->origin_id), p += 8;
	be64_put(p, r->origin_epoch), p += 8;
	be64_put(p, r->written_bytes), p += 8;
	be64_put(p, r->rollback_epoch), p += 8;
	be64_put(p, r->changes), p += 8;
	be64_put(p, r->stats.inodes), p += 8;
	be64_put(p, r->stats.logical_bytes), p += 8;
	be64_put(p, r->stats.apparent_bytes), p += 8;
	be64_put(p, r->stats.chunk_refs), p += 8;
	be64_put(p, r->stats.raw_bytes), p += 8;
	be64_put(p, r->stats.stored_bytes), p += 8;
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
	p++;
	r->id = be64_get(p), p += 8;
	memcpy(r->uuid, p, 16), p += 16;
	r->ctime_ns = (int64_t)be64_get(p), p += 8;
	r->compression = (int)be32_get(p), p += 4;
	r->quota = be64_get(p), p += 8;
	r->epoch = be64_get(p), p += 8;
	r->base_epoch = be64_get(p), p += 8;
	r->next_ino = be64_get(p), p += 8;
	r->flags = be32_get(p), p += 4;
	r->origin_id = be64_get(p), p += 8;
	r->origin_epoch = be64_get(p), p += 8;
	r->written_bytes = be64_get(p), p += 8;
	r->rollback_epoch = be64_get(p), p += 8;
	r->changes = be64_get(p), p += 8;
	r->stats.inodes = be64_get(p), p += 8;
	r->stats.logical_bytes = be64_get(p), p += 8;
	r->stats.apparent_bytes = be64_get(p), p += 8;
	r->stats.chunk_refs = be64_get(p), p += 8;
	r->stats.raw_bytes = be64_get(p), p += 8;
	r->stats.stored_bytes = be64_get(p), p += 8;
	nl = ((size_t)p[0] << 8) | p[1];
	p += 2;
	if (nl > CS_NAME_MAX || CS_VOLREC_FIXED + nl != len)
		return cs_fail(-EIO, "corrupt volume record");
	memcpy(r->name, p, nl);
	r->name[nl] = 0;
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
