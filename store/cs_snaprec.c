/*
 * cs_snaprec.c - snapshot records and the keys of snapshots and clones:
 * encoding, lookups by name, epoch and uuid, the epochs a volume keeps, and
 * the clones of a snapshot. It changes no volume: the operations that take
 * snapshots, clone, roll back and promote are cs_snapshot.c's, above the
 * volumes; this file sits below them (cs_volume.c asks it how many
 * snapshots and clones a volume has).
 *
 * Keys owned: 'S' VID name '\0' -> snapshot record; 'T' VID epoch -> name;
 * 'K' VID epoch CLONE_VID -> "" (the clones of a snapshot).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cs_priv.h"

#define SNAPREC_VERSION 1

#define SNAPREC_F(kind, m) CS_FIELD(CS_F##kind, struct cs_snaprec, m)
/* The record, after its version byte (the name is in the key). */
static const struct cs_field snaprec_fields[] = {
	SNAPREC_F(UUID, uuid),   SNAPREC_F(64, epoch),    SNAPREC_F(64, ctime_ns),
	SNAPREC_F(64, next_ino), SNAPREC_F(STATS, stats)};

size_t cs_snaprec_encode(const struct cs_snaprec *s, uint8_t *b)
{
	uint8_t *p = b;

	*p++ = SNAPREC_VERSION;
	p = CS_FIELDS_PUT(p, s, snaprec_fields);
	return (size_t)(p - b);
}

static int snaprec_decode(struct cs_snaprec *s, const char *name, const uint8_t *b,
                          size_t len)
{
	if (len != CS_SNAPREC_LEN || b[0] != SNAPREC_VERSION)
		return cs_fail(-EIO, "snapshot '%s': corrupt record", name);
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	CS_FIELDS_GET(b + 1, s, snaprec_fields);
	return 0;
}

size_t cs_snap_key(uint8_t *k, uint64_t vid, const char *name)
{
	size_t nl = strlen(name);

	k[0] = 'S';
	be64_put(k + 1, vid);
	memcpy(k + 9, name, nl);
	k[9 + nl] = 0;
	return 10 + nl;
}

size_t cs_snap_epoch_key(uint8_t *k, uint64_t vid, uint64_t epoch)
{
	k[0] = 'T';
	be64_put(k + 1, vid);
	be64_put(k + 9, epoch);
	return 17;
}

size_t cs_snap_clone_key(uint8_t *k, uint64_t vid, uint64_t epoch, uint64_t clone)
{
	k[0] = 'K';
	be64_put(k + 1, vid);
	be64_put(k + 9, epoch);
	be64_put(k + 17, clone);
	return 25;
}

int cs_snapname_check(const char *name)
{
	int rc = cs_name_check(name);

	if (rc == 0 && strchr(name, '@'))
		rc = cs_fail(-EINVAL, "snapshot name '%s' contains '@'", name);
	return rc;
}

int cs_snap_load(cs_store *st, uint64_t vid, const char *vname, const char *name,
                     struct cs_snaprec *s)
{
	uint8_t k[CS_KEY_MAX];
	size_t vlen;
	char *v;
	int rc;

	rc = cs_kv_get(st, st->cf_meta, k, cs_snap_key(k, vid, name), &v, &vlen);
	if (rc == -ENOENT)
		return cs_fail(-ENOENT, "snapshot '%s@%s' does not exist", vname, name);
	if (rc)
		return rc;
	rc = snaprec_decode(s, name, (uint8_t *)v, vlen);
	free(v);
	return rc;
}

/* Under st->vlock: the id of volume @volume and its snapshot @name. */
int cs_snap_find_named(cs_store *st, const char *volume, const char *name, uint64_t *vid,
                     struct cs_snaprec *s)
{
	int rc = cs_vol_lookup_name(st, volume, vid);

	return rc ? rc : cs_snap_load(st, *vid, volume, name, s);
}

/* The snapshot name of epoch @epoch of @vid into @name. */
int cs_snap_name_of(cs_store *st, uint64_t vid, uint64_t epoch, char *name,
                        size_t size)
{
	uint8_t k[17];
	size_t vlen;
	char *v;
	int rc;

	rc = cs_kv_get(st, st->cf_meta, k, cs_snap_epoch_key(k, vid, epoch), &v, &vlen);
	if (rc)
		return rc;
	snprintf(name, size, "%.*s", (int)vlen, v);
	free(v);
	return 0;
}

int cs_epochs_add(struct cs_epochs *e, uint64_t x)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 16;
		uint64_t *nv = realloc(e->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		e->v = nv;
		e->cap = cap;
	}
	e->v[e->n++] = x;
	return 0;
}

static int epoch_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                    size_t vlen)
{
	return klen == 17 ? cs_epochs_add(ctx, be64_get(k + 9)) : 0;
}

int cs_snap_epochs(cs_store *st, uint64_t vid, struct cs_epochs *e)
{
	uint8_t p[9];

	p[0] = 'T';
	be64_put(p + 1, vid);
	return cs_kv_scan(st, st->cf_meta, p, 9, epoch_fn, e);
}

uint64_t cs_snapshot_count(cs_store *st, uint64_t vid)
{
	struct cs_epochs e = { 0 };
	uint64_t n;

	cs_snap_epochs(st, vid, &e);
	n = e.n;
	free(e.v);
	return n;
}

void cs_snapshot_origin_name(cs_store *st, uint64_t vid, uint64_t epoch, char *buf,
                             size_t size)
{
	char snap[CS_NAME_MAX + 1] = "?";
	struct cs_volrec r;

	if (cs_volrec_load(st, vid, &r) != 0)
		snprintf(r.name, sizeof(r.name), "?");
	cs_snap_name_of(st, vid, epoch, snap, sizeof(snap));
	snprintf(buf, size, "%s@%s", r.name, snap);
}

int cs_retained_epochs(cs_store *st, const struct cs_volrec *r, uint64_t **out,
                       size_t *n)
{
	struct cs_epochs e = { 0 };
	int rc = cs_snap_epochs(st, r->id, &e);

	if (rc == 0)
		rc = cs_epochs_add(&e, r->epoch);
	if (rc) {
		free(e.v);
		return rc;
	}
	*out = e.v;
	*n = e.n;
	return 0;
}

struct clone_names {
	cs_store *st;
	char *buf;
	size_t size, len;
	uint64_t n;
};

static int clone_name_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                         size_t vlen)
{
	struct clone_names *c = ctx;
	struct cs_volrec r;

	c->n++;
	if (c->buf && cs_volrec_load(c->st, be64_get(k + 17), &r) == 0 && c->len < c->size) {
		int w = snprintf(c->buf + c->len, c->size - c->len, "%s%s", c->len ? ", " : "",
		                 r.name);

		c->len += w > 0 ? (size_t)w : 0;
	}
	return 0;
}

/* How many clones snapshot (@vid, @epoch) has; their names into @names. */
uint64_t cs_clone_count(cs_store *st, uint64_t vid, uint64_t epoch, char *names,
                            size_t size)
{
	struct clone_names c = { st, names, size, 0, 0 };
	uint8_t p[25];

	cs_snap_clone_key(p, vid, epoch, 0);
	if (names && size)
		names[0] = 0;
	cs_kv_scan(st, st->cf_meta, p, 17, clone_name_fn, &c);
	return c.n;
}

/* The 'K' key naming clone @r (clones only): removed with the clone. */
void cs_clone_unlink(struct cs_txn *t, const struct cs_volrec *r)
{
	uint8_t k[25];

	if (r->origin_id)
		cs_txn_del(t, k, cs_snap_clone_key(k, r->origin_id, r->origin_epoch, r->id));
}

/* Does any snapshot of @vid have clones? Their names into @names. */
int cs_volume_has_clones(cs_store *st, uint64_t vid, char *names, size_t size)
{
	struct cs_epochs e = { 0 };
	int found = 0;

	cs_snap_epochs(st, vid, &e);
	for (size_t i = 0; i < e.n && !found; i++)
		found = cs_clone_count(st, vid, e.v[i], names, size) > 0;
	free(e.v);
	return found;
}

int cs_snapshot_epoch(cs_store *st, uint64_t vid, const char *vname, const char *name,
                      uint64_t *epoch)
{
	struct cs_snaprec s;
	int rc = cs_snap_load(st, vid, vname, name, &s);

	if (rc == 0)
		*epoch = s.epoch;
	return rc;
}

int cs_snap_find(cs_store *st, uint64_t vid, const char *vname, const char *name,
                 struct cs_snaprec *out)
{
	return cs_snap_load(st, vid, vname, name, out);
}

struct uuid_find {
	cs_store *st;
	const uint8_t *uuid;
	uint64_t vid;
	struct cs_snaprec *out;
	int found;
};

static int uuid_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct uuid_find *f = ctx;
	char name[CS_NAME_MAX + 1];

	if (klen < 11 || klen - 10 > CS_NAME_MAX || vlen != CS_SNAPREC_LEN ||
	    memcmp(v + 1, f->uuid, 16))
		return 0;
	memcpy(name, k + 9, klen - 10);
	name[klen - 10] = 0;
	f->vid = be64_get(k + 1);
	f->found = 1;
	return snaprec_decode(f->out, name, v, vlen) ? -EIO : 1;
}

int cs_snap_by_uuid(cs_store *st, const uint8_t uuid[16], uint64_t *vid,
                    struct cs_snaprec *out)
{
	struct uuid_find f = { st, uuid, 0, out, 0 };
	int rc = cs_kv_scan(st, st->cf_meta, (const uint8_t *)"S", 1, uuid_fn, &f);

	if (rc)
		return rc;
	if (!f.found)
		return cs_fail(-ENOENT, "no snapshot with that identity in this store");
	*vid = f.vid;
	return 0;
}

int cs_snap_between(cs_store *st, uint64_t vid, const char *vname, uint64_t lo,
                    uint64_t hi, struct cs_snaprec **out, size_t *n)
{
	struct cs_epochs e = { 0 };
	struct cs_snaprec *v = NULL;
	size_t k = 0;
	int rc = cs_snap_epochs(st, vid, &e);

	if (rc == 0 && e.n && !(v = calloc(e.n, sizeof(*v))))
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < e.n; i++) {
		char name[CS_NAME_MAX + 1];

		if (e.v[i] <= lo || e.v[i] > hi)
			continue;
		rc = cs_snap_name_of(st, vid, e.v[i], name, sizeof(name));
		if (rc == 0)
			rc = cs_snap_load(st, vid, vname, name, &v[k++]);
	}
	free(e.v);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*n = k;
	return 0;
}
