/*
 * cs_diff.c - what changed between two epochs of a volume.
 *
 * Only keys with a version written in (from, to] can differ, so the scan
 * reads the volume's own keys and looks closer only at those: entries
 * ('D'), inodes ('I'), extents ('E') and xattrs ('X'). Trees are never
 * walked and compared. Paths are rebuilt from the parent pointer every
 * inode keeps and a search of that directory's entries (with a search of
 * every entry as the fallback for a hard link whose first name went).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cs_priv.h"

#define PATH_MAX_LEN 4096

struct dchange { /* an entry that differs */
	uint64_t dir, ino_a, ino_b;
	char name[CS_NAME_MAX + 1];
	int paired; /* used by a rename */
};

struct ichange { /* an inode whose record, data or xattrs differ */
	uint64_t ino;
	int data;     /* extents or xattrs changed */
	int record;   /* record changed beyond its ctime */
};

struct diff {
	cs_store *st;
	struct cs_volrec ra, rb; /* views at from and to */
	uint64_t a, b;
	struct dchange *d;
	size_t nd, capd;
	struct ichange *in;
	size_t ni, capi;
	uint8_t last[CS_KEY_MAX];
	size_t last_len;
	int rc;
};

static void *grow(void *v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return v;
	*cap = *cap ? 2 * *cap : 64;
	return realloc(v, *cap * size);
}

static struct ichange *ichange_get(struct diff *df, uint64_t ino)
{
	void *nv;

	for (size_t i = df->ni; i-- > 0;)
		if (df->in[i].ino == ino)
			return &df->in[i];
	nv = grow(df->in, &df->capi, df->ni, sizeof(*df->in));
	if (!nv)
		return NULL;
	df->in = nv;
	memset(&df->in[df->ni], 0, sizeof(*df->in));
	df->in[df->ni].ino = ino;
	return &df->in[df->ni++];
}

/* Value of logical key @k as seen by view @r (NULL, 0 when absent). */
static int value_at(struct diff *df, const struct cs_volrec *r, const uint8_t *k,
                    size_t klen, char **buf, const uint8_t **v, size_t *vlen)
{
	int rc = cs_kv_getv(df->st, r, k, klen, buf, v, vlen, NULL);

	if (rc == -ENOENT) {
		*buf = NULL;
		*v = NULL;
		*vlen = 0;
		return 0;
	}
	return rc;
}

/* Inode records equal but for their ctime and parent pointer (what a
 * rename changes)? Offsets as encoded by cs_inode.c. */
static int same_but_rename(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	const size_t ct = 1 + 16 + 24 + 24;     /* ctime: 12 bytes */
	const size_t par = ct + 12 + 12 + 8;   /* parent: 8 bytes, after btime, generation */

	if (alen != blen || alen < CS_INODE_FIXED)
		return 0;
	return !memcmp(a, b, ct) && !memcmp(a + ct + 12, b + ct + 12, par - ct - 12) &&
	       !memcmp(a + par + 8, b + par + 8, alen - par - 8);
}

static int look_closer(struct diff *df, const uint8_t *k, size_t llen)
{
	const uint8_t *va, *vb;
	size_t la, lb;
	char *ba = NULL, *bb = NULL;
	int rc;

	rc = value_at(df, &df->ra, k, llen, &ba, &va, &la);
	if (rc == 0)
		rc = value_at(df, &df->rb, k, llen, &bb, &vb, &lb);
	if (rc || (la == lb && (la == 0 || !memcmp(va, vb, la)) && !!va == !!vb))
		goto out;
	if (k[0] == 'D') {
		struct dchange *c;
		void *nv = grow(df->d, &df->capd, df->nd, sizeof(*df->d));

		if (!nv) {
			rc = -ENOMEM;
			goto out;
		}
		df->d = nv;
		c = &df->d[df->nd++];
		memset(c, 0, sizeof(*c));
		c->dir = be64_get(k + 9);
		snprintf(c->name, sizeof(c->name), "%s", (const char *)k + 17);
		c->ino_a = va && la >= 8 ? be64_get(va) : 0;
		c->ino_b = vb && lb >= 8 ? be64_get(vb) : 0;
		if (c->ino_a == c->ino_b)
			df->nd--; /* same inode, only the cookie moved */
	} else {
		struct ichange *c = ichange_get(df, be64_get(k + 9));

		if (!c) {
			rc = -ENOMEM;
			goto out;
		}
		if (k[0] != 'I')
			c->data = 1;
		else if (!va || !vb || !same_but_rename(va, la, vb, lb))
			c->record = 1;
	}
out:
	free(ba);
	free(bb);
	return rc;
}

static int scan_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                   size_t vlen)
{
	struct diff *df = ctx;
	size_t llen = klen - 8;
	uint64_t e = UINT64_MAX - be64_get(k + llen);

	if (e <= df->a || e > df->b)
		return 0;
	if (df->last_len == llen && !memcmp(df->last, k, llen))
		return 0; /* this key was looked at already */
	memcpy(df->last, k, llen);
	df->last_len = llen;
	df->rc = look_closer(df, k, llen);
	return df->rc;
}

struct find_name {
	uint64_t ino;
	char *name;
	uint64_t dir;
	int found;
};

static int find_name_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                        size_t vlen, const struct cs_ver *ver)
{
	struct find_name *f = ctx;

	if (vlen < 12 || be64_get(v) != f->ino)
		return 0;
	if (k[0] == 'C') {
		snprintf(f->name, CS_NAME_MAX + 1, "%.*s", (int)(vlen - 12), (const char *)v + 12);
	} else { /* 'D' key: the name is in the key */
		snprintf(f->name, CS_NAME_MAX + 1, "%s", (const char *)k + 17);
		f->dir = be64_get(k + 9);
	}
	f->found = 1;
	return 1;
}

/* Name of @ino in directory @dir (or anywhere, when @dir has none) at @r. */
static int name_of(struct diff *df, const struct cs_volrec *r, uint64_t dir, uint64_t ino,
                   char *name, uint64_t *where)
{
	struct find_name f = { ino, name, dir, 0 };
	uint8_t p[17];
	int rc;

	p[0] = 'C';
	be64_put(p + 1, r->id);
	be64_put(p + 9, dir);
	rc = cs_kv_scanv(df->st, r, p, 17, NULL, 0, find_name_fn, &f);
	if (rc == 0 && !f.found) { /* a hard link whose first name went */
		rc = cs_kv_scanv(df->st, r, p, 9, NULL, 0, find_name_fn, &f);
		dir = f.dir;
	}
	if (rc)
		return rc;
	if (!f.found)
		return cs_fail(-ENOENT, "inode %llu has no name", (unsigned long long)ino);
	*where = dir;
	return 0;
}

/* Absolute path of @ino at view @r into @out (PATH_MAX_LEN). */
static int path_of(struct diff *df, const struct cs_volrec *r, uint64_t ino, char *out)
{
	char tmp[PATH_MAX_LEN], name[CS_NAME_MAX + 1];
	int rc, depth = 0;

	out[0] = 0;
	while (ino != CS_ROOT_INO) {
		struct cs_inode in;
		uint64_t dir = 0;
		size_t nl, ol = strlen(out);

		if (++depth > 4096)
			return cs_fail(-ELOOP, "path of inode %llu too deep", (unsigned long long)ino);
		rc = cs_inode_load_rec(df->st, r, ino, &in);
		if (rc == 0)
			rc = name_of(df, r, in.parent, ino, name, &dir);
		if (rc)
			return rc;
		nl = strlen(name);
		if (1 + nl + ol >= PATH_MAX_LEN)
			return cs_fail(-ENAMETOOLONG, "path of inode %llu too long",
			               (unsigned long long)ino);
		tmp[0] = '/';
		memcpy(tmp + 1, name, nl);
		memcpy(tmp + 1 + nl, out, ol + 1);
		memcpy(out, tmp, 1 + nl + ol + 1);
		ino = dir;
	}
	if (!out[0])
		strcpy(out, "/");
	return 0;
}

static int entry_path(struct diff *df, const struct cs_volrec *r, uint64_t dir,
                      const char *name, char *out)
{
	char d[PATH_MAX_LEN];
	int rc = path_of(df, r, dir, d);

	size_t dl, nl = strlen(name);

	if (rc)
		return rc;
	dl = strcmp(d, "/") ? strlen(d) : 0;
	if (dl + 1 + nl >= PATH_MAX_LEN)
		return cs_fail(-ENAMETOOLONG, "path too long");
	memcpy(out, d, dl);
	out[dl] = '/';
	memcpy(out + dl + 1, name, nl + 1);
	return 0;
}

static int exists_at(struct diff *df, const struct cs_volrec *r, uint64_t ino)
{
	struct cs_inode in;

	return ino && cs_inode_load_rec(df->st, r, ino, &in) == 0;
}

static int report(struct diff *df, cs_diff_fn fn, void *ctx)
{
	char p1[PATH_MAX_LEN], p2[PATH_MAX_LEN];
	int rc = 0;

	/* renames: one name of an inode gone and one added, the inode alive */
	for (size_t i = 0; i < df->nd && rc == 0; i++) {
		struct dchange *o = &df->d[i];

		if (!o->ino_a || o->paired || !exists_at(df, &df->rb, o->ino_a))
			continue;
		for (size_t j = 0; j < df->nd; j++) {
			struct dchange *n = &df->d[j];

			if (n->ino_b != o->ino_a || n->paired || j == i)
				continue;
			o->paired = n->paired = 1;
			rc = entry_path(df, &df->ra, o->dir, o->name, p1);
			if (rc == 0)
				rc = entry_path(df, &df->rb, n->dir, n->name, p2);
			if (rc == 0 && fn(ctx, CS_DIFF_RENAMED, p1, p2))
				return 0;
			break;
		}
	}
	for (size_t i = 0; i < df->nd && rc == 0; i++) { /* names gone */
		struct dchange *c = &df->d[i];

		if (!c->ino_a || (c->paired && c->ino_b == 0))
			continue;
		if (c->paired && c->ino_b && c->ino_b != c->ino_a) {
			/* the name now holds another inode; its old one was renamed */
		} else if (!c->paired) {
			rc = entry_path(df, &df->ra, c->dir, c->name, p1);
			if (rc == 0 && fn(ctx, CS_DIFF_DELETED, p1, NULL))
				return 0;
		}
	}
	for (size_t i = 0; i < df->nd && rc == 0; i++) { /* names added */
		struct dchange *c = &df->d[i];
		int renamed_here = 0;

		if (!c->ino_b)
			continue;
		for (size_t j = 0; j < df->nd; j++)
			if (df->d[j].paired && df->d[j].ino_a == c->ino_b && j != i)
				renamed_here = 1;
		if (renamed_here && c->paired)
			continue;
		rc = entry_path(df, &df->rb, c->dir, c->name, p1);
		if (rc == 0 && fn(ctx, CS_DIFF_CREATED, p1, NULL))
			return 0;
	}
	for (size_t i = 0; i < df->ni && rc == 0; i++) { /* inodes changed */
		struct ichange *c = &df->in[i];

		if (!(c->data || c->record) || !exists_at(df, &df->ra, c->ino) ||
		    !exists_at(df, &df->rb, c->ino))
			continue;
		rc = path_of(df, &df->rb, c->ino, p1);
		if (rc == 0 && fn(ctx, CS_DIFF_MODIFIED, p1, NULL))
			return 0;
	}
	return rc;
}

/* The view of @vid at snapshot @name (or live when NULL) into @r. */
static int view_at(cs_store *st, uint64_t vid, const char *vname, const char *name,
                   struct cs_volrec *r, struct cs_chain *chain)
{
	struct cs_volstate *vs = cs_vs_find(st, vid, 1);
	struct cs_snapshot_info si;
	int rc;

	if (vs && !name) { /* the live volume: with what its write buffer holds */
		rc = cs_wb_flush_vs(st, vs);
		if (rc)
			return rc;
	}
	if (vs) {
		pthread_mutex_lock(&vs->lock);
		*r = vs->rec;
		pthread_mutex_unlock(&vs->lock);
	} else {
		rc = cs_volrec_load(st, vid, r);
		if (rc)
			return rc;
	}
	rc = cs_chain_load(st, r, chain);
	if (rc)
		return rc;
	r->chain = chain->n ? chain : NULL;
	if (!name)
		return 0;
	rc = cs_snapshot_epoch(st, vid, vname, name, &si.epoch);
	if (rc)
		return rc;
	r->epoch = si.epoch;
	r->snapshot_view = 1;
	return 0;
}

int cs_diff(cs_store *st, const char *volume, const char *from, const char *to,
            cs_diff_fn fn, void *ctx)
{
	struct cs_chain ca, cb;
	struct diff *df;
	uint64_t vid;
	uint8_t p[9];
	int rc;

	if ((rc = cs_volname_check(volume)) || (rc = cs_name_check(from)) ||
	    (to && (rc = cs_name_check(to))))
		return rc;
	df = calloc(1, sizeof(*df));
	if (!df)
		return -ENOMEM;
	df->st = st;
	pthread_mutex_lock(&st->vlock);
	rc = cs_vol_lookup_name(st, volume, &vid);
	if (rc == 0)
		rc = view_at(st, vid, volume, from, &df->ra, &ca);
	if (rc == 0)
		rc = view_at(st, vid, volume, to, &df->rb, &cb);
	pthread_mutex_unlock(&st->vlock);
	if (rc)
		goto out;
	df->a = df->ra.epoch;
	df->b = df->rb.epoch;
	if (df->a == df->b)
		goto out; /* the same epoch: nothing changed */
	if (df->a > df->b) {
		rc = cs_fail(-EINVAL, "'%s@%s' is not older than %s%s%s", volume, from,
		             to ? volume : "the live volume", to ? "@" : "", to ? to : "");
		goto out;
	}
	for (const char *tag = "DIEX"; *tag && rc == 0; tag++) {
		p[0] = (uint8_t)*tag;
		be64_put(p + 1, vid);
		df->last_len = 0;
		rc = cs_kv_scan(st, st->cf_meta, p, 9, scan_fn, df);
		if (rc == 0)
			rc = df->rc;
	}
	if (rc == 0)
		rc = report(df, fn, ctx);
out:
	free(df->d);
	free(df->in);
	free(df);
	return rc;
}
