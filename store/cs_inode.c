/*
 * cs_inode.c - inode records: encoding, loading, attributes, setattr,
 * orphans and purging.
 *
 * Keys owned: 'I' VID ino ~E (the record), 'O' VID ino (orphan marker).
 * Record: version byte, then fixed fields (mode, nlink, uid, gid, rdev,
 * size, data_bytes, atime/mtime/ctime/btime, generation, parent,
 * next_cookie, nentries), then data_len bytes of inline data (regular
 * files of size <= CS_INLINE_MAX) or the symlink target.
 * Every put of a record adds the change in its logical, apparent and inline
 * bytes (and in the inode count) to the volume's counters: the counters
 * follow the records by construction.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cs_priv.h"

#define INODE_VERSION 1

#define INODE_F(kind, m) CS_FIELD(CS_F##kind, struct cs_inode, m)
/* The record's fixed fields, after its version byte; data_len bytes of
 * data follow them. */
static const struct cs_field inode_fields[] = {
	INODE_F(32, mode),       INODE_F(32, nlink),       INODE_F(32, uid),
	INODE_F(32, gid),        INODE_F(64, rdev),        INODE_F(64, size),
	INODE_F(64, data_bytes), INODE_F(TIME, atime),     INODE_F(TIME, mtime),
	INODE_F(TIME, ctime),    INODE_F(TIME, btime),     INODE_F(64, generation),
	INODE_F(64, parent),     INODE_F(64, next_cookie), INODE_F(64, nentries),
	INODE_F(32, data_len)};

static size_t inode_encode(const struct cs_inode *in, uint8_t *b)
{
	uint8_t *p = b;

	*p++ = INODE_VERSION;
	p = CS_FIELDS_PUT(p, in, inode_fields);
	memcpy(p, in->data, in->data_len);
	return (size_t)(p - b) + in->data_len;
}

static uint64_t apparent_of(const struct cs_inode *in)
{
	return (S_ISREG(in->mode) || S_ISLNK(in->mode)) ? in->size : 0;
}

static uint64_t inline_of(const struct cs_inode *in)
{
	return S_ISREG(in->mode) ? in->data_len : 0;
}

static void acct_set(struct cs_inode *in)
{
	in->acct_live = 1;
	in->acct_logical = in->data_bytes;
	in->acct_apparent = apparent_of(in);
	in->acct_inline = inline_of(in);
}

static int inode_decode(struct cs_inode *in, uint64_t ino, const uint8_t *b,
                        size_t len)
{
	const uint8_t *p = b + 1;

	if (len < CS_INODE_FIXED || b[0] != INODE_VERSION)
		goto bad;
	in->ino = ino;
	p = CS_FIELDS_GET(p, in, inode_fields);
	if (in->data_len > CS_SYMLINK_MAX || CS_INODE_FIXED + in->data_len != len)
		goto bad;
	memcpy(in->data, p, in->data_len);
	acct_set(in);
	return 0;
bad:
	return cs_fail(-EIO, "inode %llu: corrupt record", (unsigned long long)ino);
}

int cs_inode_load_rec(cs_store *st, const struct cs_volrec *rec, uint64_t ino,
                      struct cs_inode *out)
{
	uint8_t k[CS_KEY_MAX];
	const uint8_t *v;
	size_t klen, vlen;
	char *buf;
	int rc;

	klen = cs_key_inode(k, rec->id, ino);
	rc = cs_kv_getv(st, rec, k, klen, &buf, &v, &vlen, NULL);
	if (rc == -ENOENT)
		return cs_fail(-ENOENT, "volume '%s': no inode %llu", rec->name,
		               (unsigned long long)ino);
	if (rc)
		return rc;
	rc = inode_decode(out, ino, v, vlen);
	free(buf);
	return rc;
}

int cs_inode_load(cs_vol *vol, uint64_t ino, struct cs_inode *out)
{
	return cs_inode_load_rec(vol->st, &vol->vs->rec, ino, out);
}

int cs_inode_begin(struct cs_txn *t, cs_vol *vol, uint64_t ino, struct cs_inode *in)
{
	int rc = cs_txn_begin(t, vol->st, vol);

	if (rc)
		return rc;
	rc = cs_inode_load(vol, ino, in);
	return rc ? cs_txn_abort(t, rc) : 0;
}

void cs_txn_put_inode(struct cs_txn *t, struct cs_inode *in)
{
	uint8_t k[CS_KEY_MAX], v[CS_INODE_FIXED + CS_SYMLINK_MAX + 1];
	struct cs_volume_stats *s = &t->rec.stats;

	if (!in->acct_live)
		s->inodes++;
	s->logical_bytes += in->data_bytes - in->acct_logical;
	s->apparent_bytes += apparent_of(in) - in->acct_apparent;
	s->stored_bytes += inline_of(in) - in->acct_inline;
	acct_set(in);
	cs_txn_putv(t, k, cs_key_inode(k, t->rec.id, in->ino), v, inode_encode(in, v));
}

void cs_inode_init(struct cs_txn *t, struct cs_inode *in, uint32_t mode,
                   uint32_t uid, uint32_t gid)
{
	memset(in, 0, offsetof(struct cs_inode, data));
	in->ino = t->rec.next_ino++;
	in->mode = mode;
	in->nlink = S_ISDIR(mode) ? 2 : 1;
	in->uid = uid;
	in->gid = gid;
	in->atime = in->mtime = in->ctime = in->btime = t->now;
	in->generation = 1;
	in->next_cookie = 3; /* 0: ".", 1: "..", then entries */
}

void cs_inode_to_attr(const struct cs_inode *in, struct cs_attr *out)
{
	memset(out, 0, sizeof(*out));
	out->ino = in->ino;
	out->mode = in->mode;
	out->nlink = in->nlink;
	out->uid = in->uid;
	out->gid = in->gid;
	out->rdev = in->rdev;
	out->size = in->size;
	out->blocks = (in->data_bytes + 511) / 512;
	out->atime = in->atime;
	out->mtime = in->mtime;
	out->ctime = in->ctime;
	out->btime = in->btime;
	out->generation = in->generation;
}

struct xdel_ctx {
	struct cs_txn *t;
};

static int xattr_del_fn(void *ctx, const uint8_t *k, size_t klen,
                        const uint8_t *v, size_t vlen,
			const struct cs_ver *ver)
{
	struct xdel_ctx *x = ctx;

	cs_txn_delv(x->t, k, klen);
	return 0;
}

static void orphan_key(uint8_t *k, uint64_t vid, uint64_t ino)
{
	k[0] = 'O';
	be64_put(k + 1, vid);
	be64_put(k + 9, ino);
}

int cs_inode_purge(struct cs_txn *t, struct cs_inode *in)
{
	struct cs_volume_stats *s = &t->rec.stats;
	struct xdel_ctx x = { t };
	uint8_t k[CS_KEY_MAX];
	int rc = 0;

	k[0] = 'X';
	be64_put(k + 1, t->rec.id);
	be64_put(k + 9, in->ino);
	rc = cs_kv_scanv(t->st, &t->rec, k, 17, NULL, 0, xattr_del_fn, &x);
	if (rc)
		return rc;
	cs_txn_delv(t, k, cs_key_inode(k, t->rec.id, in->ino));
	orphan_key(k, t->rec.id, in->ino);
	cs_txn_del(t, k, 17);
	if (in->acct_live) {
		s->inodes--;
		s->logical_bytes -= in->acct_logical;
		s->apparent_bytes -= in->acct_apparent;
		s->stored_bytes -= in->acct_inline;
		in->acct_live = 0;
	}
	return 0;
}

void cs_txn_orphan(struct cs_txn *t, uint64_t ino)
{
	uint8_t k[17];

	orphan_key(k, t->rec.id, ino);
	cs_txn_put(t, k, 17, "", 0);
}
