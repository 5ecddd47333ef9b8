/*
 * cs_fuse_int.h - what the cs_fuse_*.c files share: the session state
 * (struct cs_fuse), the node table's calls (cs_fuse_node.c), the reply
 * helpers, and the directory and xattr handlers (cs_fuse_dir.c) that the
 * operations table in cs_fuse.c names. Nothing outside fs/cs_fuse*.c
 * includes it.
 */
#ifndef CS_FUSE_INT_H
#define CS_FUSE_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#include "cs_fuse.h"

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

/* ---- the node table (cs_fuse_node.c); invariants at its top ---- */

/* Raise @ino's counts by @nlookup and @nopen. -ENOMEM: nothing changed. */
int cs_node_ref(struct cs_fuse *fs, uint64_t ino, uint64_t nlookup, uint64_t nopen);
/* Lower @ino's counts; drop the node at zero and release it if orphan. */
void cs_node_unref(struct cs_fuse *fs, uint64_t ino, uint64_t nlookup, uint64_t nopen);
/* The store reported @ino's last link gone: release it now if the kernel
 * holds no reference, else when its node goes. */
void cs_node_orphan(struct cs_fuse *fs, uint64_t ino);

/* ---- replies (cs_fuse_node.c): each sends exactly one reply ---- */

/* Reply a negative errno @rc; log the ones that mean trouble. */
void cs_reply_err(fuse_req_t req, const char *op, int rc);
/* An entry reply: one more lookup reference on @a->ino (invariant 2). */
void cs_reply_entry(fuse_req_t req, const struct cs_attr *a);
void cs_reply_attr(fuse_req_t req, const struct cs_attr *a);
/* A handler's tail: @rc < 0 goes to cs_reply_err(@op), else the success
 * reply: empty (cs_reply_rc), an entry for @a, or @a's attributes. */
void cs_reply_rc(fuse_req_t req, const char *op, int rc);
void cs_reply_entry_rc(fuse_req_t req, const char *op, int rc, const struct cs_attr *a);
void cs_reply_attr_rc(fuse_req_t req, const char *op, int rc, const struct cs_attr *a);
void cs_attr_to_stat(const struct cs_attr *a, struct stat *st);
void cs_fill_entry(struct fuse_entry_param *e, const struct cs_attr *a);
struct cs_cred cs_req_cred(fuse_req_t req);
/* A flag of a FUSE call and the store's flag that means the same. */
struct cs_flag_map {
	unsigned fuse, store;
};
/* The store's flags for FUSE's @flags (the @n flags @map knows), or
 * -EINVAL when @flags has one it does not know. */
int cs_map_flags(unsigned flags, const struct cs_flag_map *map, size_t n);

/* ---- directories, statfs, extended attributes (cs_fuse_dir.c) ---- */

void cs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void cs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void cs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void cs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void cs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void cs_op_statfs(fuse_req_t req, fuse_ino_t ino);
void cs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags);
void cs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void cs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void cs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif /* CS_FUSE_INT_H */
