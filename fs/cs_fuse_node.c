/*
 * cs_fuse_node.c - the state of one FUSE session's operations: the table
 * of inodes the kernel holds, and the reply helpers every handler uses
 * (internal to the cs_fuse_*.c files, through cs_fuse_int.h).
 *
 * The node table. For every inode the kernel holds we keep:
 *   nlookup  entry replies (lookup, mknod, mkdir, symlink, link, create,
 *            readdirplus entries other than "." and "..") minus forgets;
 *   nopen    open replies minus releases (create counts as a lookup:
 *            the kernel may send no release for it, cs_fuse.c);
 *   orphan   cs_unlink/cs_rename reported the inode's last link gone.
 * Invariants:
 *   1. A node exists iff nlookup + nopen > 0.
 *   2. Counts are raised before the reply that makes the kernel hold the
 *      reference (a forget may race with our return from the reply), and
 *      lowered again when that reply fails with ENOENT (request
 *      interrupted: the kernel never got it).
 *   3. An orphan is released (cs_orphan_release) exactly when it has no
 *      node: at once when reported with none, else when its node goes;
 *      orphans still held when the session ends are released by
 *      cs_fuse_free. Releases run outside the table lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cs_fuse_int.h"
#include "cs_log.h"

/* ------------------------------------------------------------------ */
/* Node table                                                         */
/* ------------------------------------------------------------------ */

static size_t node_hash(const struct cs_fuse *fs, uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 32) & (fs->nbuckets - 1);
}

/* The slot pointing at @ino's node (or at the NULL ending its chain). */
static struct node **node_slot(struct cs_fuse *fs, uint64_t ino)
{
	struct node **p = &fs->buckets[node_hash(fs, ino)];

	while (*p && (*p)->ino != ino)
		p = &(*p)->next;
	return p;
}

/* Double the buckets; on ENOMEM keep the longer chains. */
static void node_grow(struct cs_fuse *fs)
{
	size_t i, n = fs->nbuckets * 2;
	struct node **old = fs->buckets, **nb = calloc(n, sizeof(*nb));
	size_t oldn = fs->nbuckets;

	if (!nb)
		return;
	fs->buckets = nb;
	fs->nbuckets = n;
	for (i = 0; i < oldn; i++) {
		struct node *e = old[i], *next;

		for (; e; e = next) {
			size_t h = node_hash(fs, e->ino);

			next = e->next;
			e->next = nb[h];
			nb[h] = e;
		}
	}
	free(old);
}

/* @ino's node, added with no counts when it has none (fs->lock held).
 * NULL: no memory, nothing added. */
static struct node *node_get(struct cs_fuse *fs, uint64_t ino)
{
	struct node **p = node_slot(fs, ino), *n = *p;

	if (n)
		return n;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->ino = ino;
	*p = n;
	if (++fs->count > fs->nbuckets)
		node_grow(fs); /* moves the nodes, not into new memory */
	return n;
}

/* Raise @ino's counts by @nlookup and @nopen. -ENOMEM: nothing changed. */
int cs_node_ref(struct cs_fuse *fs, uint64_t ino, uint64_t nlookup,
                    uint64_t nopen)
{
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	n = node_get(fs, ino);
	if (n) {
		n->nlookup += nlookup;
		n->nopen += nopen;
	}
	pthread_mutex_unlock(&fs->lock);
	return n ? 0 : -ENOMEM;
}

static void orphan_release(struct cs_fuse *fs, uint64_t ino)
{
	int rc = cs_orphan_release(fs->vol, ino);

	if (rc < 0)
		cs_err("fuse: releasing orphan inode %llu: %s",
		       (unsigned long long)ino, cs_last_error());
	else
		TRACE("released orphan inode %llu", (unsigned long long)ino);
}

/* Lower @ino's counts; drop the node at zero and release it if orphan. */
void cs_node_unref(struct cs_fuse *fs, uint64_t ino, uint64_t nlookup,
                       uint64_t nopen)
{
	struct node **p, *n;
	int release = 0;

	pthread_mutex_lock(&fs->lock);
	p = node_slot(fs, ino);
	n = *p;
	if (!n) {
		pthread_mutex_unlock(&fs->lock);
		cs_warn("fuse: unref of unknown inode %llu",
		        (unsigned long long)ino);
		return;
	}
	n->nlookup -= nlookup < n->nlookup ? nlookup : n->nlookup;
	n->nopen -= nopen < n->nopen ? nopen : n->nopen;
	if (n->nlookup == 0 && n->nopen == 0) {
		*p = n->next;
		fs->count--;
		release = n->orphan;
		free(n);
	}
	pthread_mutex_unlock(&fs->lock);
	if (release)
		orphan_release(fs, ino);
}

/* @ino lost its last link: release it now if the kernel holds nothing. */
void cs_node_orphan(struct cs_fuse *fs, uint64_t ino)
{
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	n = *node_slot(fs, ino);
	if (n)
		n->orphan = 1;
	pthread_mutex_unlock(&fs->lock);
	if (!n)
		orphan_release(fs, ino);
	else
		TRACE("inode %llu orphaned, still held",
		      (unsigned long long)ino);
}

struct cs_fuse *cs_fuse_new(cs_vol *vol, int readonly,
                            void (*on_init)(void *arg), void *arg)
{
	struct cs_fuse *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->buckets = calloc(CS_FUSE_TABLE_MIN, sizeof(*fs->buckets));
	if (!fs->buckets) {
		free(fs);
		return NULL;
	}
	fs->nbuckets = CS_FUSE_TABLE_MIN;
	fs->vol = vol;
	fs->readonly = readonly;
	fs->on_init = on_init;
	fs->init_arg = arg;
	pthread_mutex_init(&fs->lock, NULL);
	return fs;
}

void cs_fuse_set_session(struct cs_fuse *fs, struct fuse_session *se)
{
	fs->se = se;
}

void cs_fuse_free(struct cs_fuse *fs)
{
	size_t i;

	if (!fs)
		return;
	for (i = 0; i < fs->nbuckets; i++) {
		struct node *n, *next;

		for (n = fs->buckets[i]; n; n = next) {
			next = n->next;
			if (n->orphan)
				orphan_release(fs, n->ino);
			free(n);
		}
	}
	free(fs->buckets);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
}

/* ------------------------------------------------------------------ */
/* Replies                                                            */
/* ------------------------------------------------------------------ */

/* Reply a negative errno @rc; log the ones that mean trouble. */
void cs_reply_err(fuse_req_t req, const char *op, int rc)
{
	if (rc >= 0)
		rc = -EIO;
	/* a fault the store's notice logged already (a RADOS pool away) is
	 * not logged again at every request */
	if ((rc == -EIO || rc == -ENOMEM || rc == -EUCLEAN) && !cs_last_error_noted())
		cs_err("fuse: %s: %s (%s)", op, strerror(-rc), cs_last_error());
	else
		TRACE("%s: %s", op, strerror(-rc));
	fuse_reply_err(req, -rc);
}

void cs_attr_to_stat(const struct cs_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = (off_t)a->size;
	st->st_blksize = CS_FUSE_BLKSIZE;
	st->st_blocks = (blkcnt_t)a->blocks;
	st->st_atim = a->atime;
	st->st_mtim = a->mtime;
	st->st_ctim = a->ctime;
}

void cs_fill_entry(struct fuse_entry_param *e, const struct cs_attr *a)
{
	memset(e, 0, sizeof(*e));
	e->ino = a->ino;
	e->generation = a->generation;
	cs_attr_to_stat(a, &e->attr);
	e->attr_timeout = CS_FUSE_TIMEOUT;
	e->entry_timeout = CS_FUSE_TIMEOUT;
}

/* An entry reply: one more lookup reference on @a->ino (invariant 2). */
void cs_reply_entry(fuse_req_t req, const struct cs_attr *a)
{
	struct cs_fuse *fs = req_fs(req);
	struct fuse_entry_param e;

	cs_fill_entry(&e, a);
	if (cs_node_ref(fs, a->ino, 1, 0) < 0) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fuse_reply_entry(req, &e) == -ENOENT)
		cs_node_unref(fs, a->ino, 1, 0);
}

void cs_reply_attr(fuse_req_t req, const struct cs_attr *a)
{
	struct stat st;

	cs_attr_to_stat(a, &st);
	fuse_reply_attr(req, &st, CS_FUSE_TIMEOUT);
}

/* A handler's tail: @rc < 0 is an error reply, else an empty success. */
void cs_reply_rc(fuse_req_t req, const char *op, int rc)
{
	if (rc < 0)
		cs_reply_err(req, op, rc);
	else
		fuse_reply_err(req, 0);
}

/* A handler's tail: @rc < 0 is an error reply, else an entry for @a. */
void cs_reply_entry_rc(fuse_req_t req, const char *op, int rc, const struct cs_attr *a)
{
	if (rc < 0)
		cs_reply_err(req, op, rc);
	else
		cs_reply_entry(req, a);
}

/* A handler's tail: @rc < 0 is an error reply, else the attributes @a. */
void cs_reply_attr_rc(fuse_req_t req, const char *op, int rc, const struct cs_attr *a)
{
	if (rc < 0)
		cs_reply_err(req, op, rc);
	else
		cs_reply_attr(req, a);
}

struct cs_cred cs_req_cred(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cs_cred cred = { .uid = ctx->uid, .gid = ctx->gid };

	return cred;
}

int cs_map_flags(unsigned flags, const struct cs_flag_map *map, size_t n)
{
	int out = 0;

	for (size_t i = 0; i < n; i++)
		if (flags & map[i].fuse) {
			out |= (int)map[i].store;
			flags &= ~map[i].fuse;
		}
	return flags ? -EINVAL : out;
}
