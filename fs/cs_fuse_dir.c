/*
 * cs_fuse_dir.c - the FUSE handlers for directories (opendir, readdir,
 * readdirplus, fsyncdir), statfs and extended attributes: decode, call the
 * store, reply once. Listings are cached by the kernel (cstorfs is its
 * volumes' only writer); readdirplus entries take lookup references like
 * any entry reply (cs_fuse_node.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include "cs_fuse_int.h"
#include "cs_log.h"

/* ------------------------------------------------------------------ */
/* Directories                                                        */
/* ------------------------------------------------------------------ */

void cs_op_opendir(fuse_req_t req, fuse_ino_t ino,
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
	cs_fill_entry(&e, &a);
	n = fuse_add_direntry_plus(d->req, d->buf + d->pos, rem, name, &e,
	                           (off_t)next);
	if (n > rem)
		return 1;
	if (cs_node_ref(d->fs, ino, 1, 0) < 0) {
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
		cs_reply_err(req, op, rc);
	else
		fuse_reply_buf(req, d.buf, d.pos);
	free(d.buf);
}

void cs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, 0);
}

void cs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
                           off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, 1);
}

void cs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
                          struct fuse_file_info *fi)
{
	TRACE("releasedir %llu", (unsigned long long)ino);
	fuse_reply_err(req, 0);
}

void cs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
                        struct fuse_file_info *fi)
{
	int rc;

	TRACE("fsyncdir %llu", (unsigned long long)ino);
	rc = cs_vol_sync(req_fs(req)->vol);
	cs_reply_rc(req, "fsyncdir", rc);
}

void cs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct cs_statfs f;
	struct statvfs sv;
	int rc;

	TRACE("statfs");
	rc = cs_statfs(req_fs(req)->vol, &f);
	if (rc < 0) {
		cs_reply_err(req, "statfs", rc);
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

void cs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                        const char *value, size_t size, int flags)
{
	static const struct cs_flag_map map[] = {
		{ XATTR_CREATE, CS_XATTR_CREATE },
		{ XATTR_REPLACE, CS_XATTR_REPLACE },
	};
	int rc = cs_map_flags((unsigned)flags, map, 2);

	TRACE("setxattr %llu %s %zu", (unsigned long long)ino, name, size);
	if (rc >= 0)
		rc = cs_setxattr(req_fs(req)->vol, ino, name, value, size, rc);
	cs_reply_rc(req, "setxattr", rc);
}

/* getxattr and listxattr: size 0 asks for the length only. */
static void reply_xattr_value(fuse_req_t req, const char *op, ssize_t n,
                              const char *buf, size_t size)
{
	if (n < 0)
		cs_reply_err(req, op, (int)n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

void cs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
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

void cs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
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

void cs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	int rc;

	TRACE("removexattr %llu %s", (unsigned long long)ino, name);
	rc = cs_removexattr(req_fs(req)->vol, ino, name);
	cs_reply_rc(req, "removexattr", rc);
}
