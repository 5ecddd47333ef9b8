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
 * create counts as a lookup only: after the first ENOSYS the kernel sends
 * no release for created files either. An open inode stays alive through
 * the kernel's lookup reference (nlookup), which it holds while any file
 * is open.
 *
 * Files: cs_fuse_node.c keeps the table of inodes the kernel holds and the
 * reply helpers every handler uses; cs_fuse_dir.c answers directories,
 * statfs and extended attributes; this file the rest and the table of
 * operations. cs_fuse_int.h is what they share.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cs_fuse_int.h"
#include "cs_log.h"

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
		cs_reply_err(req, "lookup", rc);
		return;
	}
	cs_reply_entry(req, &a);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	TRACE("forget %llu %llu", (unsigned long long)ino,
	      (unsigned long long)nlookup);
	cs_node_unref(req_fs(req), ino, nlookup, 0);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
                            struct fuse_forget_data *forgets)
{
	size_t i;

	TRACE("forget_multi %zu", count);
	for (i = 0; i < count; i++)
		cs_node_unref(req_fs(req), forgets[i].ino, forgets[i].nlookup, 0);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
	struct cs_attr a;
	int rc;

	TRACE("getattr %llu", (unsigned long long)ino);
	rc = cs_getattr(req_fs(req)->vol, ino, &a);
	cs_reply_attr_rc(req, "getattr", rc, &a);
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
	cs_reply_attr_rc(req, "setattr", rc, &out);
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
	cs_reply_rc(req, "access", rc);
}

/* ------------------------------------------------------------------ */
/* Namespace                                                          */
/* ------------------------------------------------------------------ */

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                     mode_t mode, dev_t rdev)
{
	struct cs_cred cred = cs_req_cred(req);
	struct cs_attr a;
	int rc;

	TRACE("mknod %llu/%s 0%o", (unsigned long long)parent, name, mode);
	rc = cs_mknod(req_fs(req)->vol, parent, name, mode, rdev, &cred, &a);
	cs_reply_entry_rc(req, "mknod", rc, &a);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                     mode_t mode)
{
	struct cs_cred cred = cs_req_cred(req);
	struct cs_attr a;
	int rc;

	TRACE("mkdir %llu/%s 0%o", (unsigned long long)parent, name, mode);
	rc = cs_mkdir(req_fs(req)->vol, parent, name, mode, &cred, &a);
	cs_reply_entry_rc(req, "mkdir", rc, &a);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                       const char *name)
{
	struct cs_cred cred = cs_req_cred(req);
	struct cs_attr a;
	int rc;

	TRACE("symlink %llu/%s -> %s", (unsigned long long)parent, name, link);
	rc = cs_symlink(req_fs(req)->vol, parent, name, link, &cred, &a);
	cs_reply_entry_rc(req, "symlink", rc, &a);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[CS_SYMLINK_MAX + 1];
	ssize_t rc;

	TRACE("readlink %llu", (unsigned long long)ino);
	rc = cs_readlink(req_fs(req)->vol, ino, buf, sizeof(buf));
	if (rc < 0) {
		cs_reply_err(req, "readlink", (int)rc);
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
	cs_reply_entry_rc(req, "link", rc, &a);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cs_fuse *fs = req_fs(req);
	uint64_t orphan = 0;
	int rc;

	TRACE("unlink %llu/%s", (unsigned long long)parent, name);
	rc = cs_unlink(fs->vol, parent, name, &orphan);
	if (rc < 0) {
		cs_reply_err(req, "unlink", rc);
		return;
	}
	if (orphan)
		cs_node_orphan(fs, orphan);
	fuse_reply_err(req, 0);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int rc;

	TRACE("rmdir %llu/%s", (unsigned long long)parent, name);
	rc = cs_rmdir(req_fs(req)->vol, parent, name);
	cs_reply_rc(req, "rmdir", rc);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                      fuse_ino_t newparent, const char *newname,
                      unsigned int flags)
{
	static const struct cs_flag_map map[] = {
		{ RENAME_NOREPLACE, CS_RENAME_NOREPLACE },
		{ RENAME_EXCHANGE, CS_RENAME_EXCHANGE },
	};
	struct cs_fuse *fs = req_fs(req);
	int cflags = cs_map_flags(flags, map, 2);
	uint64_t orphan = 0;
	int rc;

	TRACE("rename %llu/%s -> %llu/%s flags 0x%x", (unsigned long long)parent,
	      name, (unsigned long long)newparent, newname, flags);
	rc = cflags;
	if (rc >= 0)
		rc = cs_rename(fs->vol, parent, name, newparent, newname,
		               (unsigned)cflags, &orphan);
	if (rc < 0) {
		cs_reply_err(req, "rename", rc);
		return;
	}
	if (orphan)
		cs_node_orphan(fs, orphan);
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
			cs_reply_err(req, "open", rc);
			return;
		}
	}
	set_open_flags(fi);
	if (cs_node_ref(fs, ino, 0, 1) < 0) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fuse_reply_open(req, fi) == -ENOENT)
		cs_node_unref(fs, ino, 0, 1);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                      mode_t mode, struct fuse_file_info *fi)
{
	struct cs_fuse *fs = req_fs(req);
	struct cs_cred cred = cs_req_cred(req);
	struct fuse_entry_param e;
	struct cs_attr a;
	int rc;

	TRACE("create %llu/%s 0%o flags 0%o", (unsigned long long)parent, name,
	      mode, fi->flags);
	rc = cs_mknod(fs->vol, parent, name, S_IFREG | (mode & 07777), 0, &cred,
	              &a);
	if (rc < 0) {
		cs_reply_err(req, "create", rc);
		return;
	}
	cs_fill_entry(&e, &a);
	set_open_flags(fi);
	/* a lookup, not an open: once an open was answered ENOSYS the kernel
	 * sends no RELEASE for created files either (6.18), and an open count
	 * never lowered kept every file created and deleted on the mount, with
	 * its data, until unmount. The lookup holds the inode while it is open
	 * (the kernel forgets it only after the last close). */
	if (cs_node_ref(fs, a.ino, 1, 0) < 0) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fuse_reply_create(req, &e, fi) == -ENOENT)
		cs_node_unref(fs, a.ino, 1, 0);
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
	cs_read_ahead(req_fs(req)->vol, ino, (uint64_t)off, size);
	n = cs_read(req_fs(req)->vol, ino, (uint64_t)off, buf, size);
	if (n < 0)
		cs_reply_err(req, "read", (int)n);
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
		cs_reply_err(req, "write", (int)n);
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
	cs_node_unref(req_fs(req), ino, 0, 1);
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                     struct fuse_file_info *fi)
{
	int rc;

	TRACE("fsync %llu", (unsigned long long)ino);
	rc = cs_vol_sync(req_fs(req)->vol);
	if (rc < 0) {
		cs_reply_err(req, "fsync", rc);
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
		cs_reply_err(req, "fallocate", cmode);
		return;
	}
	if (off < 0 || len <= 0) {
		cs_reply_err(req, "fallocate", -EINVAL);
		return;
	}
	rc = cs_fallocate(req_fs(req)->vol, ino, cmode, (uint64_t)off,
	                  (uint64_t)len);
	cs_reply_rc(req, "fallocate", rc);
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
		cs_reply_err(req, "copy_file_range", -EINVAL);
		return;
	}
	if (len > CS_FUSE_COPY_MAX)
		len = CS_FUSE_COPY_MAX;
	n = copy_range(req_fs(req)->vol, ino_in, (uint64_t)off_in, ino_out,
	               (uint64_t)off_out, len);
	if (n < 0)
		cs_reply_err(req, "copy_file_range", (int)n);
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
		cs_reply_err(req, "lseek", -EINVAL);
		return;
	}
	rc = cs_lseek(req_fs(req)->vol, ino, (uint64_t)off,
	              whence == SEEK_DATA ? CS_SEEK_DATA : CS_SEEK_HOLE);
	if (rc < 0)
		cs_reply_err(req, "lseek", (int)rc);
	else
		fuse_reply_lseek(req, (off_t)rc);
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
	.opendir = cs_op_opendir,
	.readdir = cs_op_readdir,
	.readdirplus = cs_op_readdirplus,
	.releasedir = cs_op_releasedir,
	.fsyncdir = cs_op_fsyncdir,
	.statfs = cs_op_statfs,
	.setxattr = cs_op_setxattr,
	.getxattr = cs_op_getxattr,
	.listxattr = cs_op_listxattr,
	.removexattr = cs_op_removexattr,
};

const struct fuse_lowlevel_ops *cs_fuse_ops(void)
{
	return &cs_fuse_oplist;
}
