/*
 * cs_scrubmap.c - a scrub's damage list, and the files that use each
 * damaged chunk.
 *
 * Which files (MAPPING, only when damage was found and the scrub was not
 * cancelled). A raw scan of every extent key picks the volumes whose own
 * keys, or whose origins' keys, name a damaged chunk. Each view of such a
 * volume (its snapshots oldest first, then the live volume) is scanned as
 * that view reads it (cs_kv_scanv, through a clone's origins), and every
 * inode found with a damaged chunk is turned into a path at that view:
 * the inode's parent pointer, the parent's entry naming it ('C' keys), up
 * to the root. Uses are grouped per chunk by (volume, path): whether the
 * live volume sees it and which snapshots do. A version that no view sees
 * (garbage awaiting gc) names no file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cs_scrubmap.h"

#define PATH_LEN 4096   /* longest path reported */
#define PATH_DEPTH 4096 /* deepest directory tree walked */


void cs_scrub_damage_add(struct cs_scrub *s, const uint8_t *hash, const char *reason)
{
	struct damage *d;

	pthread_mutex_lock(&s->lock);
	s->status.damaged++;
	if (s->ndmg < CS_SCRUB_DAMAGE_MAX &&
	    cs_grow((void **)&s->dmg, &s->capdmg, s->ndmg + 1, sizeof(*s->dmg)) == 0) {
		d = &s->dmg[s->ndmg++];
		memset(d, 0, sizeof(*d));
		memcpy(d->hash, hash, CS_HASH_LEN);
		cs_hash_hex(hash, d->hex);
		snprintf(d->reason, sizeof(d->reason), "%s", reason);
	}
	pthread_mutex_unlock(&s->lock);
}

void cs_scrub_damage_free(struct damage *d)
{
	for (size_t i = 0; i < d->nuses; i++) {
		struct use *u = &d->uses[i];

		free((char *)u->f.volume);
		free((char *)u->f.path);
		for (size_t j = 0; j < u->f.nsnapshots; j++)
			free(u->snaps[j]);
		free(u->snaps);
	}
	free(d->uses);
}

struct damage *cs_scrub_damage_find(struct cs_scrub *s, const uint8_t *hash)
{
	return bsearch(hash, s->dmg, s->ndmg, sizeof(*s->dmg), cs_scrub_hash_cmp);
}

/* Record that view @snap (NULL: the live volume) of @volume sees inode
 * @ino, at @path (NULL: no name), using chunk @d. Called by the thread
 * only, during MAPPING (readers look at uses once the scrub has ended). */
int cs_scrub_use_add(struct damage *d, const char *volume, const char *path, uint64_t ino,
		   const char *snap)
{
	struct use *u = NULL;

	for (size_t i = 0; i < d->nuses && !u; i++) {
		struct use *c = &d->uses[i];

		if (!strcmp(c->f.volume, volume) && (path ? c->f.path && !strcmp(c->f.path, path)
							  : !c->f.path && c->f.inode == ino))
			u = c;
	}
	if (!u) {
		if (d->nuses >= CS_SCRUB_FILES_MAX) {
			d->more++;
			return 0;
		}
		if (cs_grow((void **)&d->uses, &d->capuses, d->nuses + 1, sizeof(*d->uses)))
			return -ENOMEM;
		u = &d->uses[d->nuses];
		memset(u, 0, sizeof(*u));
		u->f.volume = strdup(volume);
		u->f.path = path ? strdup(path) : NULL;
		u->f.inode = ino;
		if (!u->f.volume || (path && !u->f.path)) {
			free((char *)u->f.volume);
			free((char *)u->f.path);
			return -ENOMEM;
		}
		d->nuses++;
	}
	if (!snap) {
		u->f.live = 1;
		return 0;
	}
	for (size_t j = 0; j < u->f.nsnapshots; j++)
		if (!strcmp(u->snaps[j], snap))
			return 0;
	if (cs_grow((void **)&u->snaps, &u->capsnaps, u->f.nsnapshots + 1, sizeof(*u->snaps)))
		return -ENOMEM;
	u->snaps[u->f.nsnapshots] = strdup(snap);
	if (!u->snaps[u->f.nsnapshots])
		return -ENOMEM;
	u->f.nsnapshots++;
	u->f.snapshots = (const char *const *)u->snaps;
	return 0;
}

/* ---- mapping damaged chunks to files ---- */

/* A volume as MAPPING sees it: its live record, origins and snapshots. */
struct vinfo {
	struct cs_volrec rec;
	struct cs_chain chain;
	uint64_t *epochs; /* snapshot epochs, ascending */
	char **names;	  /* their names */
	size_t nsnaps, capepochs, capnames;
	int relevant;
};

struct vols {
	struct vinfo *v;
	size_t n, cap;
};

static int vols_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct vols *l = ctx;
	struct vinfo *vi;

	if (klen != 9)
		return 0;
	if (cs_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
		return -ENOMEM;
	vi = &l->v[l->n];
	memset(vi, 0, sizeof(*vi));
	if (cs_volrec_decode(&vi->rec, v, vlen) != 0 ||
	    (vi->rec.flags & (CS_VOL_DELETING | CS_VOL_RECEIVING)))
		return 0; /* not a volume anyone sees */
	l->n++;
	return 0;
}

static int snaps_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct vinfo *vi = ctx;
	char *name;

	if (klen != 17 || vlen > CS_NAME_MAX)
		return 0;
	if (cs_grow((void **)&vi->epochs, &vi->capepochs, vi->nsnaps + 1, sizeof(*vi->epochs)) ||
	    cs_grow((void **)&vi->names, &vi->capnames, vi->nsnaps + 1, sizeof(*vi->names)))
		return -ENOMEM;
	name = strndup((const char *)v, vlen);
	if (!name)
		return -ENOMEM;
	vi->epochs[vi->nsnaps] = be64_get(k + 9);
	vi->names[vi->nsnaps++] = name;
	return 0;
}

static void vols_free(struct vols *l)
{
	for (size_t i = 0; i < l->n; i++) {
		for (size_t j = 0; j < l->v[i].nsnaps; j++)
			free(l->v[i].names[j]);
		free(l->v[i].names);
		free(l->v[i].epochs);
	}
	free(l->v);
}

/* Every volume: records (the current ones for open volumes), chains and
 * snapshots. */
static int vols_load(cs_store *st, struct vols *l)
{
	uint8_t p[9];
	int rc;

	pthread_mutex_lock(&st->vlock);
	rc = cs_kv_scan(st, st->cf_meta, (const uint8_t *)"V", 1, vols_fn, l);
	for (size_t i = 0; rc == 0 && i < l->n; i++) {
		struct cs_volstate *vs = cs_vs_find(st, l->v[i].rec.id, 1);

		if (vs) {
			pthread_mutex_lock(&vs->lock);
			l->v[i].rec = vs->rec;
			pthread_mutex_unlock(&vs->lock);
		}
		l->v[i].rec.chain = NULL;
	}
	pthread_mutex_unlock(&st->vlock);
	for (size_t i = 0; rc == 0 && i < l->n; i++) {
		struct vinfo *vi = &l->v[i];

		rc = cs_chain_load(st, &vi->rec, &vi->chain);
		p[0] = 'T';
		be64_put(p + 1, vi->rec.id);
		if (rc == 0)
			rc = cs_kv_scan(st, st->cf_meta, p, 9, snaps_fn, vi);
	}
	return rc;
}

/* The volumes whose own extent keys name a damaged chunk. */
struct marks {
	struct cs_scrub *s;
	uint64_t *vid;
	size_t n, cap;
	uint64_t seen;
};

static int mark_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct marks *m = ctx;
	uint64_t vid;

	if ((++m->seen & 4095) == 0 && cs_scrub_cancelled(m->s))
		return -ECANCELED;
	if (klen < 9 || vlen != 1 + CS_HASH_LEN + 8 || v[0] != 1 || !cs_scrub_damage_find(m->s, v + 1))
		return 0;
	vid = be64_get(k + 1);
	for (size_t i = 0; i < m->n; i++)
		if (m->vid[i] == vid)
			return 0;
	if (cs_grow((void **)&m->vid, &m->cap, m->n + 1, sizeof(*m->vid)))
		return -ENOMEM;
	m->vid[m->n++] = vid;
	return 0;
}

static int marked(const struct marks *m, uint64_t vid)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->vid[i] == vid)
			return 1;
	return 0;
}

/* The name of inode @ino in directory @dir at view @r (a hard link whose
 * entry there went: in any directory), and the directory it is in. */
struct name_find {
	cs_store *st;
	uint64_t ino, dir;
	char name[CS_NAME_MAX + 1];
	int found;
};

static int name_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
		   const struct cs_ver *ver)
{
	struct name_find *f = ctx;

	if (klen < 17 || vlen < 12 || vlen > 12 + CS_NAME_MAX || be64_get(v) != f->ino)
		return 0;
	memcpy(f->name, v + 12, vlen - 12);
	f->name[vlen - 12] = 0;
	f->dir = be64_get(k + 9);
	f->found = 1;
	return 1;
}

static int name_of(cs_store *st, const struct cs_volrec *r, uint64_t dir, uint64_t ino,
		   struct name_find *f)
{
	uint8_t p[17];
	int rc;

	memset(f, 0, sizeof(*f));
	f->ino = ino;
	p[0] = 'C';
	be64_put(p + 1, r->id);
	be64_put(p + 9, dir);
	rc = cs_kv_scanv(st, r, p, 17, NULL, 0, name_fn, f);
	if (rc == 0 && !f->found)
		rc = cs_kv_scanv(st, r, p, 9, NULL, 0, name_fn, f);
	if (rc == 0 && !f->found)
		rc = -ENOENT;
	return rc;
}

/* Absolute path of @ino at view @r into @out (PATH_LEN bytes). -ENOENT:
 * it has no name (unlinked while open). */
static int path_of(cs_store *st, const struct cs_volrec *r, uint64_t ino, char *out)
{
	struct name_find f;
	size_t pos = PATH_LEN - 1;
	int rc;

	out[pos] = 0;
	for (int depth = 0; ino != CS_ROOT_INO; depth++) {
		struct cs_inode in;
		size_t nl;

		if (depth > PATH_DEPTH)
			return -ELOOP;
		rc = cs_inode_load_rec(st, r, ino, &in);
		if (rc == 0)
			rc = name_of(st, r, in.parent, ino, &f);
		if (rc)
			return rc;
		nl = strlen(f.name);
		if (nl + 1 > pos)
			return -ENAMETOOLONG;
		pos -= nl;
		memcpy(out + pos, f.name, nl);
		out[--pos] = '/';
		ino = f.dir;
	}
	if (pos == PATH_LEN - 1)
		out[--pos] = '/';
	memmove(out, out + pos, PATH_LEN - pos);
	return 0;
}

/* The inodes of one view that use a damaged chunk. */
struct hit {
	struct damage *d;
	uint64_t ino;
};

struct view_scan {
	struct cs_scrub *s;
	struct hit *v;
	size_t n, cap;
	uint64_t seen;
};

static int view_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
		   const struct cs_ver *ver)
{
	struct view_scan *w = ctx;
	struct damage *d;

	if ((++w->seen & 4095) == 0 && cs_scrub_cancelled(w->s))
		return -ECANCELED;
	if (klen < 17 || vlen != CS_HASH_LEN + 8 || !(d = cs_scrub_damage_find(w->s, v)))
		return 0;
	if (w->n && w->v[w->n - 1].d == d && w->v[w->n - 1].ino == be64_get(k + 9))
		return 0; /* the same file, another chunk index */
	if (cs_grow((void **)&w->v, &w->cap, w->n + 1, sizeof(*w->v)))
		return -ENOMEM;
	w->v[w->n].d = d;
	w->v[w->n++].ino = be64_get(k + 9);
	return 0;
}

/* Scan view @r of volume @vi (@snap: the snapshot's name, NULL: live). */
static int map_view(struct cs_scrub *s, struct vinfo *vi, struct cs_volrec *r, const char *snap,
		    char *path)
{
	struct view_scan w = {.s = s};
	uint8_t p[9];
	int rc;

	p[0] = 'E';
	be64_put(p + 1, r->id);
	rc = cs_kv_scanv(s->st, r, p, 9, NULL, 0, view_fn, &w);
	for (size_t i = 0; rc == 0 && i < w.n; i++) {
		int prc = path_of(s->st, r, w.v[i].ino, path);

		rc = cs_scrub_use_add(w.v[i].d, vi->rec.name, prc ? NULL : path, w.v[i].ino, snap);
	}
	free(w.v);
	return rc;
}

static int map_volume(struct cs_scrub *s, struct vinfo *vi, char *path)
{
	struct cs_volrec r = vi->rec;
	int rc = 0;

	r.chain = vi->chain.n ? &vi->chain : NULL;
	r.snapshot_view = 1;
	for (size_t i = 0; rc == 0 && i < vi->nsnaps; i++) {
		r.epoch = vi->epochs[i];
		rc = map_view(s, vi, &r, vi->names[i], path);
	}
	r.epoch = vi->rec.epoch;
	r.snapshot_view = 0;
	if (rc == 0)
		rc = map_view(s, vi, &r, NULL, path);
	return rc;
}

int cs_scrub_map_damage(struct cs_scrub *s)
{
	struct vols l = {0};
	struct marks m = {.s = s};
	char *path = malloc(PATH_LEN);
	int rc;

	if (!path)
		return -ENOMEM;
	cs_scrub_set_phase(s, CS_SCRUB_MAPPING);
	pthread_mutex_lock(&s->lock); /* found in hash order: keep it certain */
	qsort(s->dmg, s->ndmg, sizeof(*s->dmg), cs_scrub_hash_cmp);
	pthread_mutex_unlock(&s->lock);
	rc = cs_kv_scan(s->st, s->st->cf_meta, (const uint8_t *)"E", 1, mark_fn, &m);
	if (rc == 0)
		rc = vols_load(s->st, &l);
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		struct vinfo *vi = &l.v[i];

		vi->relevant = marked(&m, vi->rec.id);
		for (uint32_t j = 0; j < vi->chain.n; j++)
			vi->relevant |= marked(&m, vi->chain.l[j].vid);
		if (vi->relevant)
			rc = map_volume(s, vi, path);
	}
	vols_free(&l);
	free(m.vid);
	free(path);
	return rc;
}
