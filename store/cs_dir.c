/*
 * cs_dir.c - directories: lookup, create, link, unlink, rename, readdir.
 *
 * Keys owned: 'D' VID dir name -> (ino, type, cookie) for lookups and
 * 'C' VID dir cookie -> (ino, type, name) for listings. Each entry gets a
 * cookie from its directory's next_cookie counter when it is created and
 * keeps it when renamed inside the directory; readdir offsets are cookies,
 * so a listing resumes exactly where it stopped whatever was added or
 * removed meanwhile (cookies 0 and 1 are "." and "..").
 * Every function here is one transaction (cs_txn.c): entries, both
 * inodes' link counts and the directories' times change together.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cs_priv.h"

#define MAX_LINKS 65000u
#define DIRENT_LEN 20

struct dent {
	uint64_t ino, cookie;
	uint32_t type;
};

static int dent_get(cs_store *st, const struct cs_volrec *rec, uint64_t dir,
                    const char *name, struct dent *d)
{
	uint8_t k[CS_KEY_MAX];
	const uint8_t *v;
	size_t vlen;
	char *buf;
	int rc;

	rc = cs_kv_getv(st, rec, k, cs_key_dirent(k, rec->id, dir, name), &buf, &v, &vlen, NULL);
	if (rc)
		return rc;
	if (vlen != DIRENT_LEN) {
		free(buf);
		return cs_fail(-EIO, "directory %llu: corrupt entry '%s'",
		               (unsigned long long)dir, name);
	}
	d->ino = be64_get(v);
	d->type = be32_get(v + 8);
	d->cookie = be64_get(v + 12);
	free(buf);
	return 0;
}

/* Write both keys of entry @name -> @d in directory @dir. */
static void dent_put(struct cs_txn *t, uint64_t dir, const char *name,
                     const struct dent *d)
{
	uint8_t k[CS_KEY_MAX], v[12 + CS_NAME_MAX];
	size_t nl = strlen(name);

	be64_put(v, d->ino);
	be32_put(v + 8, d->type);
	be64_put(v + 12, d->cookie);
	cs_txn_putv(t, k, cs_key_dirent(k, t->rec.id, dir, name), v, DIRENT_LEN);
	memcpy(v + 12, name, nl);
	cs_txn_putv(t, k, cs_key_cookie(k, t->rec.id, dir, d->cookie), v, 12 + nl);
}

static void dent_del(struct cs_txn *t, uint64_t dir, const char *name,
                     const struct dent *d)
{
	uint8_t k[CS_KEY_MAX];

	cs_txn_delv(t, k, cs_key_dirent(k, t->rec.id, dir, name));
	cs_txn_delv(t, k, cs_key_cookie(k, t->rec.id, dir, d->cookie));
}

static void dir_touch(struct cs_txn *t, struct cs_inode *dir)
{
	dir->mtime = dir->ctime = t->now;
}

/* Add a new entry to @dir (caller puts @dir). */
static void dir_add(struct cs_txn *t, struct cs_inode *dir, const char *name,
                    uint64_t ino, uint32_t mode)
{
	struct dent d = { .ino = ino, .type = mode & S_IFMT, .cookie = dir->next_cookie++ };

	dent_put(t, dir->ino, name, &d);
	dir->nentries++;
	dir_touch(t, dir);
}

static void dir_remove(struct cs_txn *t, struct cs_inode *dir, const char *name,
                       const struct dent *d)
{
	dent_del(t, dir->ino, name, d);
	CS_ASSERT(dir->nentries > 0);
	dir->nentries--;
	dir_touch(t, dir);
}

static int load_dir(cs_vol *vol, uint64_t ino, struct cs_inode *in)
{
	int rc = cs_inode_load(vol, ino, in);

	if (rc == 0 && !S_ISDIR(in->mode))
		rc = cs_fail(-ENOTDIR, "inode %llu is not a directory", (unsigned long long)ino);
	return rc;
}

int cs_lookup(cs_vol *vol, uint64_t parent, const char *name, struct cs_attr *out)
{
	struct cs_inode dir, in;
	struct dent d;
	size_t len = name ? strlen(name) : 0;
	int rc;

	if (len == 0 || strchr(name, '/'))
		return cs_fail(-EINVAL, "invalid name");
	if (len > CS_NAME_MAX)
		return cs_fail(-ENAMETOOLONG, "name of %zu bytes is too long", len);
	rc = load_dir(vol, parent, &dir);
	if (rc)
		return rc;
	if (!strcmp(name, ".")) {
		cs_inode_to_attr(&dir, out);
		return 0;
	}
	if (!strcmp(name, ".."))
		return cs_getattr(vol, dir.parent, out);
	rc = dent_get(vol->st, &vol->vs->rec, parent, name, &d);
	if (rc == -ENOENT)
		return cs_fail(-ENOENT, "no entry '%s' in directory %llu", name,
		               (unsigned long long)parent);
	if (rc)
		return rc;
	rc = cs_inode_load_view(vol, d.ino, &in);
	if (rc == 0)
		cs_inode_to_attr(&in, out);
	return rc;
}

/*
 * Common start of every create: begin, load the parent, refuse an existing
 * name, make the inode. On success the txn is open and @dir, @in are set.
 */
static int create_begin(struct cs_txn *t, cs_vol *vol, uint64_t parent,
                        const char *name, uint32_t mode,
                        const struct cs_cred *cred, struct cs_inode *dir,
                        struct cs_inode *in)
{
	struct dent d;
	int rc = cs_name_check(name);

	if (rc)
		return rc;
	rc = cs_txn_begin(t, vol->st, vol);
	if (rc)
		return rc;
	rc = load_dir(vol, parent, dir);
	if (rc)
		return cs_txn_abort(t, rc);
	if (dir->nlink == 0)
		return cs_txn_abort(t, cs_fail(-ENOENT, "directory %llu was removed",
		                               (unsigned long long)parent));
	rc = dent_get(vol->st, &t->rec, parent, name, &d);
	if (rc == 0)
		return cs_txn_abort(t, cs_fail(-EEXIST, "'%s' exists in directory %llu", name,
		                               (unsigned long long)parent));
	if (rc != -ENOENT)
		return cs_txn_abort(t, rc);
	cs_inode_init(t, in, mode, cred->uid, cred->gid);
	in->parent = parent; /* every inode knows a directory naming it (diff paths) */
	if (dir->mode & S_ISGID) {
		in->gid = dir->gid;
		if (S_ISDIR(mode))
			in->mode |= S_ISGID;
	}
	return 0;
}

static int create_commit(struct cs_txn *t, struct cs_inode *dir, const char *name,
                         struct cs_inode *in, struct cs_attr *out)
{
	int rc;

	dir_add(t, dir, name, in->ino, in->mode);
	cs_txn_put_inode(t, dir);
	cs_txn_put_inode(t, in);
	rc = cs_txn_commit(t);
	if (rc == 0 && out)
		cs_inode_to_attr(in, out);
	return rc;
}

int cs_mknod(cs_vol *vol, uint64_t parent, const char *name, uint32_t mode,
             uint64_t rdev, const struct cs_cred *cred, struct cs_attr *out)
{
	struct cs_inode dir, in;
	struct cs_txn t;
	int rc;

	if ((mode & S_IFMT) == 0)
		mode |= S_IFREG;
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFIFO: case S_IFSOCK: case S_IFCHR: case S_IFBLK:
		break;
	default:
		return cs_fail(-EINVAL, "mknod: unsupported file type 0%o", mode & S_IFMT);
	}
	rc = create_begin(&t, vol, parent, name, mode & (S_IFMT | 07777), cred, &dir, &in);
	if (rc)
		return rc;
	if (S_ISCHR(mode) || S_ISBLK(mode))
		in.rdev = rdev;
	return create_commit(&t, &dir, name, &in, out);
}

int cs_mkdir(cs_vol *vol, uint64_t parent, const char *name, uint32_t mode,
             const struct cs_cred *cred, struct cs_attr *out)
{
	struct cs_inode dir, in;
	struct cs_txn t;
	int rc;

	rc = create_begin(&t, vol, parent, name, S_IFDIR | (mode & 07777), cred, &dir, &in);
	if (rc)
		return rc;
	in.parent = parent;
	dir.nlink++;
	return create_commit(&t, &dir, name, &in, out);
}

int cs_symlink(cs_vol *vol, uint64_t parent, const char *name,
               const char *target, const struct cs_cred *cred, struct cs_attr *out)
{
	struct cs_inode dir, in;
	struct cs_txn t;
	size_t len = target ? strlen(target) : 0;
	int rc;

	if (len == 0)
		return cs_fail(-EINVAL, "empty symlink target");
	if (len > CS_SYMLINK_MAX)
		return cs_fail(-ENAMETOOLONG, "symlink target of %zu bytes is too long", len);
	rc = create_begin(&t, vol, parent, name, S_IFLNK | 0777, cred, &dir, &in);
	if (rc)
		return rc;
	memcpy(in.data, target, len);
	in.data_len = (uint32_t)len;
	in.size = len;
	return create_commit(&t, &dir, name, &in, out);
}

ssize_t cs_readlink(cs_vol *vol, uint64_t ino, char *buf, size_t size)
{
	struct cs_inode in;
	int rc = cs_inode_load(vol, ino, &in);

	if (rc)
		return rc;
	if (!S_ISLNK(in.mode))
		return cs_fail(-EINVAL, "inode %llu is not a symlink", (unsigned long long)ino);
	if (size < in.data_len + 1)
		return cs_fail(-ERANGE, "buffer too small for the target");
	memcpy(buf, in.data, in.data_len);
	buf[in.data_len] = 0;
	return in.data_len;
}

int cs_link(cs_vol *vol, uint64_t ino, uint64_t newparent, const char *newname,
            struct cs_attr *out)
{
	struct cs_inode dir, in;
	struct cs_txn t;
	struct dent d;
	int rc = cs_name_check(newname);

	if (rc)
		return rc;
	rc = cs_txn_begin(&t, vol->st, vol);
	if (rc)
		return rc;
	rc = cs_inode_load(vol, ino, &in);
	if (rc == 0 && S_ISDIR(in.mode))
		rc = cs_fail(-EPERM, "inode %llu is a directory: no hard links",
		             (unsigned long long)ino);
	if (rc == 0 && in.nlink >= MAX_LINKS)
		rc = cs_fail(-EMLINK, "inode %llu has too many links", (unsigned long long)ino);
	if (rc == 0)
		rc = load_dir(vol, newparent, &dir);
	if (rc == 0 && dir.nlink == 0)
		rc = cs_fail(-ENOENT, "directory %llu was removed", (unsigned long long)newparent);
	if (rc == 0) {
		rc = dent_get(vol->st, &t.rec, newparent, newname, &d);
		if (rc == 0)
			rc = cs_fail(-EEXIST, "'%s' exists", newname);
		else if (rc == -ENOENT)
			rc = 0;
	}
	if (rc)
		return cs_txn_abort(&t, rc);
	if (in.nlink == 0) { /* linking an orphan back (linkat of an O_TMPFILE) */
		uint8_t k[17];

		k[0] = 'O';
		be64_put(k + 1, t.rec.id);
		be64_put(k + 9, ino);
		cs_txn_del(&t, k, 17);
	}
	in.nlink++;
	in.ctime = t.now;
	if (in.nlink == 1)
		in.parent = newparent;
	dir_add(&t, &dir, newname, ino, in.mode);
	cs_txn_put_inode(&t, &dir);
	return cs_file_commit_reply(&t, &in, out);
}

/* Drop one link of @in (already removed from its directory): orphan it or
 * purge it when it was the last. */
static int drop_link(struct cs_txn *t, struct cs_inode *in, uint64_t *orphan)
{
	in->nlink--;
	in->ctime = t->now;
	if (in->nlink > 0) {
		cs_txn_put_inode(t, in);
		return 0;
	}
	if (orphan) {
		*orphan = in->ino;
		cs_txn_orphan(t, in->ino);
		cs_txn_put_inode(t, in);
		return 0;
	}
	return cs_file_purge(t, in);
}

/* Begin removing entry @name of @parent: the txn, the directory, the entry
 * and its inode; on failure the txn is ended. */
static int remove_begin(struct cs_txn *t, cs_vol *vol, uint64_t parent, const char *name,
                        struct cs_inode *dir, struct dent *d, struct cs_inode *in)
{
	int rc = cs_txn_begin(t, vol->st, vol);

	if (rc)
		return rc;
	rc = load_dir(vol, parent, dir);
	if (rc == 0)
		rc = dent_get(vol->st, &t->rec, parent, name, d);
	if (rc == -ENOENT)
		rc = cs_fail(-ENOENT, "no entry '%s'", name);
	if (rc == 0)
		rc = cs_inode_load(vol, d->ino, in);
	return rc ? cs_txn_abort(t, rc) : 0;
}

int cs_unlink(cs_vol *vol, uint64_t parent, const char *name, uint64_t *orphan)
{
	struct cs_inode dir, in;
	struct cs_txn t;
	struct dent d;
	int rc = cs_name_check(name);

	if (orphan)
		*orphan = 0;
	if (rc)
		return rc;
	rc = remove_begin(&t, vol, parent, name, &dir, &d, &in);
	if (rc)
		return rc;
	if (S_ISDIR(in.mode))
		return cs_txn_abort(&t, cs_fail(-EISDIR, "'%s' is a directory", name));
	dir_remove(&t, &dir, name, &d);
	cs_txn_put_inode(&t, &dir);
	rc = drop_link(&t, &in, orphan);
	if (rc) {
		if (orphan)
			*orphan = 0;
		return cs_txn_abort(&t, rc);
	}
	rc = cs_txn_commit(&t);
	if (rc && orphan)
		*orphan = 0;
	return rc;
}

int cs_rmdir(cs_vol *vol, uint64_t parent, const char *name)
{
	struct cs_inode dir, in;
	struct cs_txn t;
	struct dent d;
	int rc;

	if (name && !strcmp(name, "."))
		return cs_fail(-EINVAL, "cannot remove '.'");
	if (name && !strcmp(name, ".."))
		return cs_fail(-EBUSY, "cannot remove '..'");
	rc = cs_name_check(name);
	if (rc)
		return rc;
	rc = remove_begin(&t, vol, parent, name, &dir, &d, &in);
	if (rc)
		return rc;
	if (!S_ISDIR(in.mode))
		rc = cs_fail(-ENOTDIR, "'%s' is not a directory", name);
	else if (in.nentries > 0)
		rc = cs_fail(-ENOTEMPTY, "directory '%s' is not empty", name);
	if (rc)
		return cs_txn_abort(&t, rc);
	dir_remove(&t, &dir, name, &d);
	dir.nlink--;
	cs_txn_put_inode(&t, &dir);
	rc = cs_file_purge(&t, &in);
	if (rc)
		return cs_txn_abort(&t, rc);
	return cs_txn_commit(&t);
}

/* Is directory @anc equal to @ino or one of its ancestors? */
static int is_ancestor(cs_vol *vol, uint64_t anc, uint64_t ino)
{
	struct cs_inode in;
	int rc, depth = 0;

	while (1) {
		if (ino == anc)
			return 1;
		if (ino == CS_ROOT_INO || ++depth > 100000)
			return 0;
		rc = cs_inode_load(vol, ino, &in);
		if (rc)
			return rc;
		ino = in.parent;
	}
}

struct rename_op {
	cs_vol *vol;
	struct cs_txn t;
	struct cs_inode p1s, p2s, i1, i2;
	struct cs_inode *p1, *p2; /* p2 == p1 when the same directory */
	struct dent e1, e2;
	int have2;
};

static int rename_check(struct rename_op *r, unsigned flags)
{
	int rc;

	if (r->i1.ino == r->i2.ino && r->have2)
		return 1; /* both names link one inode: nothing to do */
	if (S_ISDIR(r->i1.mode) && r->p1 != r->p2) {
		rc = is_ancestor(r->vol, r->i1.ino, r->p2->ino);
		if (rc)
			return rc < 0 ? rc : cs_fail(-EINVAL, "cannot move a directory into itself");
	}
	if (!r->have2)
		return 0;
	if (flags & CS_RENAME_EXCHANGE) {
		if (S_ISDIR(r->i2.mode) && r->p1 != r->p2) {
			rc = is_ancestor(r->vol, r->i2.ino, r->p1->ino);
			if (rc)
				return rc < 0 ? rc : cs_fail(-EINVAL, "cannot move a directory into itself");
		}
		return 0;
	}
	if (S_ISDIR(r->i1.mode) && !S_ISDIR(r->i2.mode))
		return cs_fail(-ENOTDIR, "target is not a directory");
	if (!S_ISDIR(r->i1.mode) && S_ISDIR(r->i2.mode))
		return cs_fail(-EISDIR, "target is a directory");
	if (S_ISDIR(r->i2.mode) && r->i2.nentries > 0)
		return cs_fail(-ENOTEMPTY, "target directory is not empty");
	return 0;
}

static void rename_exchange(struct rename_op *r, const char *n1, const char *n2)
{
	struct cs_txn *t = &r->t;
	struct dent a = r->e1, b = r->e2;

	/* each name keeps its cookie and now names the other inode */
	a.ino = r->i2.ino;
	a.type = r->i2.mode & S_IFMT;
	b.ino = r->i1.ino;
	b.type = r->i1.mode & S_IFMT;
	dent_put(t, r->p1->ino, n1, &a);
	dent_put(t, r->p2->ino, n2, &b);
	r->i1.parent = r->p2->ino;
	r->i2.parent = r->p1->ino;
	if (r->p1 != r->p2) {
		if (S_ISDIR(r->i1.mode)) {
			r->p1->nlink--;
			r->p2->nlink++;
		}
		if (S_ISDIR(r->i2.mode)) {
			r->p2->nlink--;
			r->p1->nlink++;
		}
	}
	r->i2.ctime = t->now;
}

static int rename_move(struct rename_op *r, const char *n1, const char *n2,
                       uint64_t *orphan)
{
	struct cs_txn *t = &r->t;
	int rc = 0;

	if (r->have2) { /* the target goes first */
		dir_remove(t, r->p2, n2, &r->e2);
		if (S_ISDIR(r->i2.mode)) {
			r->p2->nlink--;
			rc = cs_file_purge(t, &r->i2);
		} else {
			rc = drop_link(t, &r->i2, orphan);
		}
		if (rc)
			return rc;
		r->have2 = 0; /* written (or purged) already */
	}
	if (r->p1 == r->p2) {
		struct dent d = r->e1;
		uint8_t k[CS_KEY_MAX];

		/* same directory: the entry keeps its cookie (its place) */
		cs_txn_delv(t, k, cs_key_dirent(k, t->rec.id, r->p1->ino, n1));
		dent_put(t, r->p1->ino, n2, &d);
		dir_touch(t, r->p1);
		return 0;
	}
	dir_remove(t, r->p1, n1, &r->e1);
	dir_add(t, r->p2, n2, r->i1.ino, r->i1.mode);
	r->i1.parent = r->p2->ino;
	if (S_ISDIR(r->i1.mode)) {
		r->p1->nlink--;
		r->p2->nlink++;
	}
	return 0;
}

/* Load both directories, the source entry and inode, and the target's
 * when there is one (r->have2). */
static int rename_load(struct rename_op *r, uint64_t parent, const char *name,
                       uint64_t newparent, const char *newname, unsigned flags)
{
	cs_vol *vol = r->vol;
	int rc;

	r->p1 = &r->p1s;
	rc = load_dir(vol, parent, r->p1);
	if (rc)
		return rc;
	r->p2 = r->p1;
	if (newparent != parent) {
		r->p2 = &r->p2s;
		rc = load_dir(vol, newparent, r->p2);
		if (rc)
			return rc;
	}
	rc = dent_get(vol->st, &r->t.rec, parent, name, &r->e1);
	if (rc == -ENOENT)
		rc = cs_fail(-ENOENT, "no entry '%s'", name);
	if (rc == 0)
		rc = cs_inode_load(vol, r->e1.ino, &r->i1);
	if (rc)
		return rc;
	rc = dent_get(vol->st, &r->t.rec, newparent, newname, &r->e2);
	if (rc == 0) {
		r->have2 = 1;
		rc = cs_inode_load(vol, r->e2.ino, &r->i2);
	} else if (rc == -ENOENT) {
		rc = (flags & CS_RENAME_EXCHANGE) ? cs_fail(-ENOENT, "no entry '%s'", newname) : 0;
	}
	return rc;
}

int cs_rename(cs_vol *vol, uint64_t parent, const char *name, uint64_t newparent,
              const char *newname, unsigned flags, uint64_t *orphan)
{
	struct rename_op *r;
	int rc;

	if (orphan)
		*orphan = 0;
	if (flags & ~(unsigned)(CS_RENAME_NOREPLACE | CS_RENAME_EXCHANGE))
		return cs_fail(-EINVAL, "unknown rename flags 0x%x", flags);
	if ((flags & CS_RENAME_NOREPLACE) && (flags & CS_RENAME_EXCHANGE))
		return cs_fail(-EINVAL, "NOREPLACE and EXCHANGE together");
	if (name && newname && (!strcmp(name, ".") || !strcmp(name, "..") ||
	                        !strcmp(newname, ".") || !strcmp(newname, "..")))
		return cs_fail(-EBUSY, "cannot rename '.' or '..'");
	if ((rc = cs_name_check(name)) || (rc = cs_name_check(newname)))
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->vol = vol;
	/* what the write buffer holds goes in first (as ext4's auto_da_alloc):
	 * a file written and renamed over another (the atomic-replace idiom)
	 * must not come back empty after a crash */
	rc = cs_file_txn_begin(&r->t, vol, 0);
	if (rc)
		goto out_free;
	rc = rename_load(r, parent, name, newparent, newname, flags);
	if (rc)
		goto abort;
	if (r->have2 && (flags & CS_RENAME_NOREPLACE)) {
		rc = cs_fail(-EEXIST, "'%s' exists", newname);
		goto abort;
	}
	rc = rename_check(r, flags);
	if (rc == 1) { /* same inode: rename(2) does nothing */
		rc = 0;
		goto abort;
	}
	if (rc)
		goto abort;
	if (flags & CS_RENAME_EXCHANGE)
		rename_exchange(r, name, newname);
	else
		rc = rename_move(r, name, newname, orphan);
	if (rc)
		goto abort;
	r->i1.ctime = r->t.now;
	dir_touch(&r->t, r->p1);
	dir_touch(&r->t, r->p2);
	cs_txn_put_inode(&r->t, r->p1);
	if (r->p2 != r->p1)
		cs_txn_put_inode(&r->t, r->p2);
	cs_txn_put_inode(&r->t, &r->i1);
	if (r->have2)
		cs_txn_put_inode(&r->t, &r->i2);
	rc = cs_txn_commit(&r->t);
	if (rc && orphan)
		*orphan = 0;
	goto out_free;
abort:
	if (orphan)
		*orphan = 0;
	cs_txn_abort(&r->t, rc);
out_free:
	free(r);
	return rc;
}

struct readdir_ctx {
	cs_readdir_fn fn;
	void *ctx;
};

static int readdir_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                      size_t vlen,
			const struct cs_ver *ver)
{
	struct readdir_ctx *r = ctx;
	char name[CS_NAME_MAX + 1];
	size_t nl;

	if (klen != 25 || vlen < 13 || vlen - 12 > CS_NAME_MAX)
		return cs_fail(-EIO, "corrupt directory entry");
	nl = vlen - 12;
	memcpy(name, v + 12, nl);
	name[nl] = 0;
	return r->fn(r->ctx, name, be64_get(v), be32_get(v + 8), be64_get(k + 17) + 1) ? 1 : 0;
}

int cs_readdir(cs_vol *vol, uint64_t ino, uint64_t off, cs_readdir_fn fn, void *ctx)
{
	struct readdir_ctx r = { fn, ctx };
	struct cs_volrec rec = vol->vs->rec;
	struct cs_inode dir;
	uint8_t prefix[17], start[8];
	int rc;

	rc = load_dir(vol, ino, &dir);
	if (rc)
		return rc;
	if (off == 0 && fn(ctx, ".", ino, S_IFDIR, 1))
		return 0;
	if (off <= 1 && fn(ctx, "..", dir.parent, S_IFDIR, 2))
		return 0;
	prefix[0] = 'C';
	be64_put(prefix + 1, rec.id);
	be64_put(prefix + 9, ino);
	be64_put(start, off < 3 ? 3 : off);
	return cs_kv_scanv(vol->st, &rec, prefix, 17, start, 8, readdir_fn, &r);
}

int cs_orphan_release(cs_vol *vol, uint64_t ino)
{
	struct cs_inode in;
	struct cs_txn t;
	int rc;

	rc = cs_txn_begin(&t, vol->st, vol);
	if (rc)
		return rc;
	rc = cs_inode_load(vol, ino, &in);
	if (rc == -ENOENT || (rc == 0 && in.nlink > 0))
		return cs_txn_abort(&t, 0);
	if (rc == 0)
		rc = cs_file_purge(&t, &in);
	if (rc)
		return cs_txn_abort(&t, rc);
	return cs_txn_commit(&t);
}
