/*
 * cs_fuse.c - the FUSE low-level operations of one mounted volume: each
 * handler decodes the request, calls the store library, replies once.
 *
 * What it does not do: mount, run the loop, open or close the volume
 * (cs_session.c), check permissions (the kernel does, default_permissions
 * is always on), or turn errors into text (store errors are negative
 * errnos and go straight to fuse_reply_err; unexpected ones are logged).
 *
 * Inode numbers are the store's (FUSE_ROOT_ID == CS_ROOT_INO == 1).
 *
 * Caching. cstorfs is the only writer of its volume, so entries (also
 * negative ones) and attributes are cached for CS_FUSE_TIMEOUT, the page
 * cache is kept across opens (keep_cache, no auto_inval_data), readdir
 * results are cached by the kernel, and the kernel's writeback cache is on
 * for read-write mounts (it then owns size/mtime of files being written,
 * handles O_APPEND, may read files opened O_WRONLY, and writes pages back
 * through write). Every change made through this mount is seen by the
 * kernel: replies to setattr/mknod/mkdir/symlink/link/create carry fresh
 * attributes, and the kernel itself invalidates what unlink, rename,
 * write, fallocate and copy_file_range change. FUSE_CAP_HANDLE_KILLPRIV is
 * turned off: cs_write does not clear setuid/setgid, the kernel asks for
 * it with a setattr instead. With the writeback cache the kernel never
 * refreshes st_blocks by itself after writing pages back, so fsync tells
 * it to drop the inode's cached attributes (fuse_lowlevel_notify_inval_inode
 * with a negative offset: attributes only, no page cache, no inode lock);
 * at close the kernel drops st_blocks itself. Flush is answered ENOSYS
 * once (the kernel stops sending it): close(2) costs no round trip, and
 * the store's write buffer is written out by the session's flusher thread
 * (cs_session.c) within a second, or by the next fsync.
 *
 * Opens. Nothing here needs per-open state, so the first open and opendir
 * are answered ENOSYS (FUSE_CAP_NO_OPEN_SUPPORT / NO_OPENDIR_SUPPORT): the
 * kernel then opens files and directories by itself, keeping the page cache
 * and caching listings, and sends no open, release, opendir or releasedir.
 * create still opens (and is released). An open inode stays alive through
 * the kernel's lookup reference (nlookup), which it holds while any file
 * is open.
 *
 * The node table. For every inode the kernel holds we keep:
 *   nlookup  entry replies (lookup, mknod, mkdir, symlink, link, create,
 *            readdirplus entries other than "." and "..") minus forgets;
 *   nopen    open/create replies minus releases;
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
#include "cs_fuse.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cs_log.h"

#define CS_FUSE_TIMEOUT 3600.0        /* seconds: entries and attributes */
#define CS_FUSE_MAX_WRITE (1u << 20)  /* bytes per WRITE request */
#define CS_FUSE_BLKSIZE 65536         /* st_blksize: the chunk size */
#define CS_FUSE_COPY_STEP (1u << 20)  /* copy_file_range: bytes per step */
#define CS_FUSE_COPY_MAX (64u << 20)  /* copy_file_range: bytes per request */
#define CS_FUSE_TABLE_MIN 1024        /* initial buckets (power of two) */

#define TRACE(...) cs_debug("fuse: " __VA_ARGS__)

struct node {
	uint64_t ino;
	uint64_t nlookup;
	uint64_t nopen;
	int orphan;
	struct node *next;
};

struct cs_fuse {
	cs_vol *vol;
	struct fuse_session *se; /* for notifications; NULL: none */
	int readonly;
	int no_open, no_opendir; /* answer open / opendir with ENOSYS */
	void (*on_init)(void *arg);
	void *init_arg;
	/*
	 * Lock order: lock is a leaf. Nothing else is locked, no store call
	 * is made and no reply is sent while it is held. It guards buckets,
	 * nbuckets, count and every node.
	 */
	pthread_mutex_t lock;
	struct node **buckets;
	size_t nbuckets; /* power of two */
	size_t count;
};

static inline struct cs_fuse *req_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

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

/* Raise @ino's counts by @nlookup and @nopen. -ENOMEM: nothing changed. */
static int node_ref(struct cs_fuse *fs, uint64_t ino, uint64_t nlookup,
                    uint64_t nopen)
{
	struct node **p, *n;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	p = node_slot(fs, ino);
	n = *p;
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n) {
			rc = -ENOMEM;
			goto out;
		}
		n->ino = ino;
		*p = n;
		if (++fs->count > fs->nbuckets)
			node_grow(fs);
	}
	n->nlookup += nlookup;
	n->nopen += nopen;
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
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
static void node_unref(struct cs_fuse *fs, uint64_t ino, uint64_t nlookup,
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
static void node_orphan(struct cs_fuse *fs, uint64_t ino)
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
static void reply_err(fuse_req_t req, const char *op, int rc)
{
	if (rc >= 0)
		rc = -EIO;
	if (rc == -EIO || rc == -ENOMEM || rc == -EUCLEAN)
		cs_err("fuse: %s: %s (%s)", op, strerror(-rc), cs_last_error());
	else
		TRACE("%s: %s", op, strerror(-rc));
	fuse_reply_err(req, -rc);
}

static void attr_to_stat(const struct cs_attr *a, struct stat *st)
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

static void fill_entry(struct fuse_entry_param *e, const struct cs_attr *a)
{
	memset(e, 0, sizeof(*e));
	e->ino = a->ino;
	e->generation = a->generation;
	attr_to_stat(a, &e->attr);
	e->attr_timeout = CS_FUSE_TIMEOUT;
	e->entry_timeout = CS_FUSE_TIMEOUT;
}

/* An entry reply: one more lookup reference on @a->ino (invariant 2). */
static void reply_entry(fuse_req_t req, const struct cs_attr *a)
{
	struct cs_fuse *fs = req_fs(req);
	struct fuse_entry_param e;

	fill_entry(&e, a);
	if (node_ref(fs, a->ino, 1, 0) < 0) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fuse_reply_entry(req, &e) == -ENOENT)
		node_unref(fs, a->ino, 1, 0);
}

static void reply_attr(fuse_req_t req, const struct cs_attr *a)
{
	struct stat st;

	attr_to_stat(a, &st);
	fuse_reply_attr(req, &st, CS_FUSE_TIMEOUT);
}

static struct cs_cred req_cred(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cs_cred cred = { .uid = ctx->uid, .gid = ctx->gid };

	return cred;
}

/* ------------------------------------------------------------------ */
/* Session, inodes, attributes                                        */
/* ------------------------------------------------------------------ */

static void want_if(struct fuse_conn_info *conn, unsigned cap)
{
	if (conn->capable & cap)
		conn->want |= cap;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct cs_fuse *fs = userdata;

	conn->max_write = CS_FUSE_MAX_WRITE;
	conn->time_gran = 1;
	if (conn->max_background < 64) {
		conn->max_background = 64;
		conn->congestion_threshold = 48;
	}
	if (!fs->readonly)
		want_if(conn, FUSE_CAP_WRITEBACK_CACHE);
	/* with the writeback cache the kernel stamps mtime/ctime at write(2)
	 * and sends them with a setattr; the store must not restamp them when
	 * the data arrives later */
	cs_vol_set_write_times(fs->vol, !(conn->want & FUSE_CAP_WRITEBACK_CACHE));
	/* open and opendir keep no state here (the kernel's lookup reference
	 * keeps an open inode alive): answering ENOSYS to the first one tells
	 * the kernel to stop sending open/release and opendir/releasedir. An
	 * O_TRUNC open then comes as a setattr, so no atomic O_TRUNC. */
	want_if(conn, FUSE_CAP_NO_OPEN_SUPPORT);
	want_if(conn, FUSE_CAP_NO_OPENDIR_SUPPORT);
	fs->no_open = !!(conn->want & FUSE_CAP_NO_OPEN_SUPPORT);
	fs->no_opendir = !!(conn->want & FUSE_CAP_NO_OPENDIR_SUPPORT);
	if (!fs->no_open)
		want_if(conn, FUSE_CAP_ATOMIC_O_TRUNC);
	else
		conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	want_if(conn, FUSE_CAP_READDIRPLUS);
	want_if(conn, FUSE_CAP_READDIRPLUS_AUTO);
	want_if(conn, FUSE_CAP_CACHE_SYMLINKS);
	want_if(conn, FUSE_CAP_PARALLEL_DIROPS);
	want_if(conn, FUSE_CAP_ASYNC_READ);
	conn->want &= ~(FUSE_CAP_EXPORT_SUPPORT | FUSE_CAP_HANDLE_KILLPRIV |
	                FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_DONT_MASK |
	                FUSE_CAP_POSIX_ACL);
	TRACE("init: proto %u.%u capable 0x%x want 0x%x max_write %u",
	      conn->proto_major, conn->proto_minor, conn->capable, conn->want,
	      conn->max_write);
	if (fs->on_init)
		fs->on_init(fs->init_arg);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cs_attr a;
	int rc;

	TRACE("lookup %llu/%s", (unsigned long long)parent, name);
	rc = cs_lookup(req_fs(req)->vol, parent, name, &a);
	if (rc == -ENOENT) {
		/* Negative entry, cached as long as positive ones. */
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		e.entry_timeout = CS_FUSE_TIMEOUT;
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc < 0) {
		reply_err(req, "lookup", rc);
		return;
	}
	reply_entry(req, &a);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	TRACE("forget %llu %llu", (unsigned long long)ino,
	      (unsigned long long)nlookup);
	node_unref(req_fs(req), ino, nlookup, 0);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
                            struct fuse_forget_data *forgets)
{
	size_t i;

	TRACE("forget_multi %zu", count);
	for (i = 0; i < count; i++)
		node_unref(req_fs(req), forgets[i].ino, forgets[i].nlookup, 0);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
	struct cs_attr a;
	int rc;

	TRACE("getattr %llu", (unsigned long long)ino);
	rc = cs_getattr(req_fs(req)->vol, ino, &a);
	if (rc < 0)
		reply_err(req, "getattr", rc);
	else
		reply_attr(req, &a);
}

/* FUSE_SET_ATTR_* to CS_SET_*, values into @in. */
static unsigned setattr_mask(const struct stat *attr, int to_set,
                             struct cs_attr *in)
{
	unsigned mask = 0;

	if (to_set & FUSE_SET_ATTR_MODE) {
		mask |= CS_SET_MODE;
		in->mode = attr->st_mode;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		mask |= CS_SET_UID;
		in->uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		mask |= CS_SET_GID;
		in->gid = attr->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		mask |= CS_SET_SIZE;
		in->size = (uint64_t)attr->st_size;
	}
	if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
		mask |= CS_SET_ATIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_ATIME) {
		mask |= CS_SET_ATIME;
		in->atime = attr->st_atim;
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		mask |= CS_SET_MTIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_MTIME) {
		mask |= CS_SET_MTIME;
		in->mtime = attr->st_mtim;
	}
	if (to_set & FUSE_SET_ATTR_CTIME) {
		mask |= CS_SET_CTIME;
		in->ctime = attr->st_ctim;
	}
	return mask;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                       int to_set, struct fuse_file_info *fi)
{
	struct cs_fuse *fs = req_fs(req);
	struct cs_attr in, out;
	unsigned mask;
	int rc;

	memset(&in, 0, sizeof(in));
	mask = setattr_mask(attr, to_set, &in);
	TRACE("setattr %llu valid 0x%x mask 0x%x", (unsigned long long)ino,
	      to_set, mask);
	if (mask)
		rc = cs_setattr(fs->vol, ino, &in, mask, &out);
	else
		rc = cs_getattr(fs->vol, ino, &out);
	if (rc < 0)
		reply_err(req, "setattr", rc);
	else
		reply_attr(req, &out);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct cs_fuse *fs = req_fs(req);
	struct cs_attr a;
	int rc;

	TRACE("access %llu 0%o", (unsigned long long)ino, mask);
	rc = cs_getattr(fs->vol, ino, &a);
	if (rc == 0 && (mask & W_OK) && fs->readonly)
		rc = -EROFS;
	if (rc < 0)
		reply_err(req, "access", rc);
	else
		fuse_reply_err(req, 0);
}

/* ------------------------------------------------------------------ */
/* Namespace                                                          */
/* ------------------------------------------------------------------ */

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                     mode_t mode, dev_t rdev)
{
	struct cs_cred cred = req_cred(req);
	struct cs_attr a;
	int rc;

	TRACE("mknod %llu/%s 0%o", (unsigned long long)parent, name, mode);
	rc = cs_mknod(req_fs(req)->vol, parent, name, mode, rdev, &cred, &a);
	if (rc < 0)
		reply_err(req, "mknod", rc);
	else
		reply_entry(req, &a);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                     mode_t mode)
{
	struct cs_cred cred = req_cred(req);
	struct cs_attr a;
	int rc;

	TRACE("mkdir %llu/%s 0%o", (unsigned long long)parent, name, mode);
	rc = cs_mkdir(req_fs(req)->vol, parent, name, mode, &cred, &a);
	if (rc < 0)
		reply_err(req, "mkdir", rc);
	else
		reply_entry(req, &a);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                       const char *name)
{
	struct cs_cred cred = req_cred(req);
	struct cs_attr a;
	int rc;

	TRACE("symlink %llu/%s -> %s", (unsigned long long)parent, name, link);
	rc = cs_symlink(req_fs(req)->vol, parent, name, link, &cred, &a);
	if (rc < 0)
		reply_err(req, "symlink", rc);
	else
		reply_entry(req, &a);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[CS_SYMLINK_MAX + 1];
	ssize_t rc;

	TRACE("readlink %llu", (unsigned long long)ino);
	rc = cs_readlink(req_fs(req)->vol, ino, buf, sizeof(buf));
	if (rc < 0) {
		reply_err(req, "readlink", (int)rc);
		return;
	}
	buf[(size_t)rc < sizeof(buf) ? (size_t)rc : sizeof(buf) - 1] = '\0';
	fuse_reply_readlink(req, buf);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
                    const char *newname)
{
	struct cs_attr a;
	int rc;

	TRACE("link %llu -> %llu/%s", (unsigned long long)ino,
	      (unsigned long long)newparent, newname);
	rc = cs_link(req_fs(req)->vol, ino, newparent, newname, &a);
	if (rc < 0)
		reply_err(req, "link", rc);
	else
		reply_entry(req, &a);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cs_fuse *fs = req_fs(req);
	uint64_t orphan = 0;
	int rc;

	TRACE("unlink %llu/%s", (unsigned long long)parent, name);
	rc = cs_unlink(fs->vol, parent, name, &orphan);
	if (rc < 0) {
		reply_err(req, "unlink", rc);
		return;
	}
	if (orphan)
		node_orphan(fs, orphan);
	fuse_reply_err(req, 0);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int rc;

	TRACE("rmdir %llu/%s", (unsigned long long)parent, name);
	rc = cs_rmdir(req_fs(req)->vol, parent, name);
	if (rc < 0)
		reply_err(req, "rmdir", rc);
	else
		fuse_reply_err(req, 0);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                      fuse_ino_t newparent, const char *newname,
                      unsigned int flags)
{
	struct cs_fuse *fs = req_fs(req);
	uint64_t orphan = 0;
	unsigned cflags = 0;
	int rc;

	TRACE("rename %llu/%s -> %llu/%s flags 0x%x", (unsigned long long)parent,
	      name, (unsigned long long)newparent, newname, flags);
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		reply_err(req, "rename", -EINVAL);
		return;
	}
	if (flags & RENAME_NOREPLACE)
		cflags |= CS_RENAME_NOREPLACE;
	if (flags & RENAME_EXCHANGE)
		cflags |= CS_RENAME_EXCHANGE;
	rc = cs_rename(fs->vol, parent, name, newparent, newname, cflags,
	               &orphan);
	if (rc < 0) {
		reply_err(req, "rename", rc);
		return;
	}
	if (orphan)
		node_orphan(fs, orphan);
	fuse_reply_err(req, 0);
}

/* ------------------------------------------------------------------ */
/* Files                                                              */
/* ------------------------------------------------------------------ */

static void set_open_flags(struct fuse_file_info *fi)
{
	fi->keep_cache = 1; /* only writer: the page cache stays valid */
	fi->noflush = 1;    /* flush does nothing here */
	fi->direct_io = (fi->flags & O_DIRECT) ? 1 : 0;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cs_fuse *fs = req_fs(req);
	int rc;

	TRACE("open %llu flags 0%o", (unsigned long long)ino, fi->flags);
	if (fs->no_open) {
		fuse_reply_err(req, ENOSYS); /* the kernel opens by itself from now on */
		return;
	}
	if (fi->flags & O_TRUNC) { /* FUSE_CAP_ATOMIC_O_TRUNC */
		struct cs_attr in;

		memset(&in, 0, sizeof(in));
		rc = cs_setattr(fs->vol, ino, &in, CS_SET_SIZE | CS_SET_MTIME_NOW,
		                NULL);
		if (rc < 0) {
			reply_err(req, "open", rc);
			return;
		}
	}
	set_open_flags(fi);
	if (node_ref(fs, ino, 0, 1) < 0) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fuse_reply_open(req, fi) == -ENOENT)
		node_unref(fs, ino, 0, 1);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                      mode_t mode, struct fuse_file_info *fi)
{
	struct cs_fuse *fs = req_fs(req);
	struct cs_cred cred = req_cred(req);
	struct fuse_entry_param e;
	struct cs_attr a;
	int rc;

	TRACE("create %llu/%s 0%o flags 0%o", (unsigned long long)parent, name,
	      mode, fi->flags);
	rc = cs_mknod(fs->vol, parent, name, S_IFREG | (mode & 07777), 0, &cred,
	              &a);
	if (rc < 0) {
		reply_err(req, "create", rc);
		return;
	}
	fill_entry(&e, &a);
	set_open_flags(fi);
	if (node_ref(fs, a.ino, 1, 1) < 0) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fuse_reply_create(req, &e, fi) == -ENOENT)
		node_unref(fs, a.ino, 1, 1);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
	char *buf = NULL;
	ssize_t n;

	TRACE("read %llu %zu@%lld", (unsigned long long)ino, size,
	      (long long)off);
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = cs_read(req_fs(req)->vol, ino, (uint64_t)off, buf, size);
	if (n < 0)
		reply_err(req, "read", (int)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
                     size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n;

	TRACE("write %llu %zu@%lld", (unsigned long long)ino, size,
	      (long long)off);
	n = cs_write(req_fs(req)->vol, ino, (uint64_t)off, buf, size);
	if (n < 0)
		reply_err(req, "write", (int)n);
	else
		fuse_reply_write(req, (size_t)n);
}

/* Data reached the store: make the kernel ask again for st_blocks. */
static void inval_attr(struct cs_fuse *fs, fuse_ino_t ino)
{
	int rc;

	if (!fs->se || fs->readonly)
		return;
	rc = fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
	if (rc < 0 && rc != -ENOENT)
		cs_debug("fuse: inval inode %llu: %s", (unsigned long long)ino,
		         strerror(-rc));
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	TRACE("flush %llu", (unsigned long long)ino);
	/* Nothing to do at close: the kernel has written the dirty pages back
	 * (and checked their errors) before asking, the session's flusher
	 * writes out the store's write buffer within a second, and fsync syncs.
	 * ENOSYS tells the kernel to stop sending flush. */
	fuse_reply_err(req, ENOSYS);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
	TRACE("release %llu", (unsigned long long)ino);
	node_unref(req_fs(req), ino, 0, 1);
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                     struct fuse_file_info *fi)
{
	int rc;

	TRACE("fsync %llu", (unsigned long long)ino);
	rc = cs_vol_sync(req_fs(req)->vol);
	if (rc < 0) {
		reply_err(req, "fsync", rc);
		return;
	}
	inval_attr(req_fs(req), ino);
	fuse_reply_err(req, 0);
}

static int falloc_mode(int mode)
{
	if (mode == 0)
		return 0;
	if (mode == FALLOC_FL_KEEP_SIZE)
		return CS_FALLOC_KEEP_SIZE;
	if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE))
		return CS_FALLOC_PUNCH_HOLE | CS_FALLOC_KEEP_SIZE;
	if (mode == FALLOC_FL_ZERO_RANGE)
		return CS_FALLOC_ZERO_RANGE;
	if (mode == (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE))
		return CS_FALLOC_ZERO_RANGE | CS_FALLOC_KEEP_SIZE;
	/* COLLAPSE_RANGE and INSERT_RANGE would shift every extent after the
	 * range (a rewrite of the file's tail, not an O(1) change here), and
	 * no container workload we know needs them: refused, as on tmpfs. */
	return -EOPNOTSUPP;
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
                         off_t off, off_t len, struct fuse_file_info *fi)
{
	int cmode = falloc_mode(mode), rc;

	TRACE("fallocate %llu mode 0x%x %lld@%lld", (unsigned long long)ino,
	      mode, (long long)len, (long long)off);
	if (cmode < 0) {
		reply_err(req, "fallocate", cmode);
		return;
	}
	if (off < 0 || len <= 0) {
		reply_err(req, "fallocate", -EINVAL);
		return;
	}
	rc = cs_fallocate(req_fs(req)->vol, ino, cmode, (uint64_t)off,
	                  (uint64_t)len);
	if (rc < 0)
		reply_err(req, "fallocate", rc);
	else
		fuse_reply_err(req, 0);
}

/* Copy up to @len bytes; returns the count or a negative errno. */
static ssize_t copy_range(cs_vol *vol, uint64_t in, uint64_t off_in,
                          uint64_t out, uint64_t off_out, size_t len)
{
	size_t step = len < CS_FUSE_COPY_STEP ? len : CS_FUSE_COPY_STEP;
	char *buf = malloc(step ? step : 1);
	size_t done = 0;
	ssize_t n = 0;

	if (!buf)
		return -ENOMEM;
	while (done < len) {
		size_t want = len - done < step ? len - done : step;

		n = cs_read(vol, in, off_in + done, buf, want);
		if (n <= 0)
			break;
		n = cs_write(vol, out, off_out + done, buf, (size_t)n);
		if (n <= 0)
			break;
		done += (size_t)n;
		if ((size_t)n < want)
			break;
	}
	free(buf);
	/* A failure after some bytes were copied reports the short count. */
	return n < 0 && done == 0 ? n : (ssize_t)done;
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
                               off_t off_in, struct fuse_file_info *fi_in,
                               fuse_ino_t ino_out, off_t off_out,
                               struct fuse_file_info *fi_out, size_t len,
                               int flags)
{
	ssize_t n;

	TRACE("copy_file_range %llu %zu@%lld -> %llu @%lld",
	      (unsigned long long)ino_in, len, (long long)off_in,
	      (unsigned long long)ino_out, (long long)off_out);
	if (flags != 0 || off_in < 0 || off_out < 0) {
		reply_err(req, "copy_file_range", -EINVAL);
		return;
	}
	if (len > CS_FUSE_COPY_MAX)
		len = CS_FUSE_COPY_MAX;
	n = copy_range(req_fs(req)->vol, ino_in, (uint64_t)off_in, ino_out,
	               (uint64_t)off_out, len);
	if (n < 0)
		reply_err(req, "copy_file_range", (int)n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
                     struct fuse_file_info *fi)
{
	int64_t rc;

	TRACE("lseek %llu %lld whence %d", (unsigned long long)ino,
	      (long long)off, whence);
	if ((whence != SEEK_DATA && whence != SEEK_HOLE) || off < 0) {
		reply_err(req, "lseek", -EINVAL);
		return;
	}
	rc = cs_lseek(req_fs(req)->vol, ino, (uint64_t)off,
	              whence == SEEK_DATA ? CS_SEEK_DATA : CS_SEEK_HOLE);
	if (rc < 0)
		reply_err(req, "lseek", (int)rc);
	else
		fuse_reply_lseek(req, (off_t)rc);
}

/* ------------------------------------------------------------------ */
/* Directories                                                        */
/* ------------------------------------------------------------------ */

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
	TRACE("opendir %llu", (unsigned long long)ino);
	if (req_fs(req)->no_opendir) {
		fuse_reply_err(req, ENOSYS); /* it caches listings then too */
		return;
	}
	fi->cache_readdir = 1; /* only writer: the kernel may cache listings */
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

struct dir_fill {
	fuse_req_t req;
	struct cs_fuse *fs;
	int plus;
	char *buf;
	size_t size, pos;
	int err; /* a store error met while filling, or 0 */
};

static int is_dot_or_dotdot(const char *name)
{
	return name[0] == '.' &&
	       (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* One readdirplus entry; returns non-zero to stop (buffer full, error). */
static int dir_fill_plus(struct dir_fill *d, const char *name, uint64_t ino,
                         uint32_t type, uint64_t next)
{
	size_t rem = d->size - d->pos, n;
	struct fuse_entry_param e;
	struct cs_attr a;
	int rc;

	memset(&e, 0, sizeof(e));
	if (is_dot_or_dotdot(name)) {
		/* The kernel takes no reference on these. */
		e.attr.st_ino = ino;
		e.attr.st_mode = type;
		n = fuse_add_direntry_plus(d->req, d->buf + d->pos, rem, name,
		                           &e, (off_t)next);
		if (n > rem)
			return 1;
		d->pos += n;
		return 0;
	}
	rc = cs_getattr(d->fs->vol, ino, &a);
	if (rc == -ENOENT)
		return 0; /* removed meanwhile: skip it */
	if (rc < 0) {
		d->err = rc;
		return 1;
	}
	fill_entry(&e, &a);
	n = fuse_add_direntry_plus(d->req, d->buf + d->pos, rem, name, &e,
	                           (off_t)next);
	if (n > rem)
		return 1;
	if (node_ref(d->fs, ino, 1, 0) < 0) {
		d->err = -ENOMEM;
		return 1;
	}
	d->pos += n;
	return 0;
}

static int dir_fill_cb(void *ctx, const char *name, uint64_t ino,
                       uint32_t type, uint64_t next)
{
	struct dir_fill *d = ctx;
	size_t rem = d->size - d->pos, n;
	struct stat st;

	if (d->plus)
		return dir_fill_plus(d, name, ino, type, next);
	memset(&st, 0, sizeof(st));
	st.st_ino = ino;
	st.st_mode = type;
	n = fuse_add_direntry(d->req, d->buf + d->pos, rem, name, &st,
	                      (off_t)next);
	if (n > rem)
		return 1;
	d->pos += n;
	return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       int plus)
{
	struct dir_fill d = { .req = req, .fs = req_fs(req), .plus = plus,
	                      .size = size };
	const char *op = plus ? "readdirplus" : "readdir";
	int rc;

	TRACE("%s %llu %zu@%lld", op, (unsigned long long)ino, size,
	      (long long)off);
	d.buf = malloc(size ? size : 1);
	if (!d.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = cs_readdir(d.fs->vol, ino, (uint64_t)off, dir_fill_cb, &d);
	if (rc == -ENOENT)
		rc = 0; /* removed while open: it lists as empty */
	if (rc == 0)
		rc = d.err;
	/* An error can only be told before any entry was stored. */
	if (rc < 0 && d.pos == 0)
		reply_err(req, op, rc);
	else
		fuse_reply_buf(req, d.buf, d.pos);
	free(d.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
                           off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
                          struct fuse_file_info *fi)
{
	TRACE("releasedir %llu", (unsigned long long)ino);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
                        struct fuse_file_info *fi)
{
	int rc;

	TRACE("fsyncdir %llu", (unsigned long long)ino);
	rc = cs_vol_sync(req_fs(req)->vol);
	if (rc < 0)
		reply_err(req, "fsyncdir", rc);
	else
		fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct cs_statfs f;
	struct statvfs sv;
	int rc;

	TRACE("statfs");
	rc = cs_statfs(req_fs(req)->vol, &f);
	if (rc < 0) {
		reply_err(req, "statfs", rc);
		return;
	}
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = f.bsize;
	sv.f_frsize = f.bsize;
	sv.f_blocks = f.blocks;
	sv.f_bfree = f.bfree;
	sv.f_bavail = f.bavail;
	sv.f_files = f.files;
	sv.f_ffree = f.ffree;
	sv.f_favail = f.ffree;
	sv.f_namemax = f.namemax;
	fuse_reply_statfs(req, &sv);
}

/* ------------------------------------------------------------------ */
/* Extended attributes                                                */
/* ------------------------------------------------------------------ */

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                        const char *value, size_t size, int flags)
{
	int cflags = 0, rc;

	TRACE("setxattr %llu %s %zu", (unsigned long long)ino, name, size);
	if (flags & ~(XATTR_CREATE | XATTR_REPLACE)) {
		reply_err(req, "setxattr", -EINVAL);
		return;
	}
	if (flags & XATTR_CREATE)
		cflags |= CS_XATTR_CREATE;
	if (flags & XATTR_REPLACE)
		cflags |= CS_XATTR_REPLACE;
	rc = cs_setxattr(req_fs(req)->vol, ino, name, value, size, cflags);
	if (rc < 0)
		reply_err(req, "setxattr", rc);
	else
		fuse_reply_err(req, 0);
}

/* getxattr and listxattr: size 0 asks for the length only. */
static void reply_xattr_value(fuse_req_t req, const char *op, ssize_t n,
                              const char *buf, size_t size)
{
	if (n < 0)
		reply_err(req, op, (int)n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                        size_t size)
{
	char *buf = NULL;
	ssize_t n;

	TRACE("getxattr %llu %s %zu", (unsigned long long)ino, name, size);
	if (size && !(buf = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = cs_getxattr(req_fs(req)->vol, ino, name, buf, size);
	reply_xattr_value(req, "getxattr", n, buf, size);
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char *buf = NULL;
	ssize_t n;

	TRACE("listxattr %llu %zu", (unsigned long long)ino, size);
	if (size && !(buf = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = cs_listxattr(req_fs(req)->vol, ino, buf, size);
	reply_xattr_value(req, "listxattr", n, buf, size);
	free(buf);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	int rc;

	TRACE("removexattr %llu %s", (unsigned long long)ino, name);
	rc = cs_removexattr(req_fs(req)->vol, ino, name);
	if (rc < 0)
		reply_err(req, "removexattr", rc);
	else
		fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops cs_fuse_oplist = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.access = op_access,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.readlink = op_readlink,
	.link = op_link,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.fallocate = op_fallocate,
	.copy_file_range = op_copy_file_range,
	.lseek = op_lseek,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
};

const struct fuse_lowlevel_ops *cs_fuse_ops(void)
{
	return &cs_fuse_oplist;
}
