/*
 * cs_xattr.c - extended attributes of any namespace.
 *
 * Keys owned: 'X' VID ino name '\0' ~E -> the value (0..64 KiB).
 * Setting or removing one changes the inode's ctime in the same batch.
 * Names and sizes are checked here, once: names 1..255 bytes, values up
 * to CS_XATTR_VALUE_MAX.
 */
#include <errno.h>
#include <stdlib.h>

#include "cs_priv.h"

static int xname_check(const char *name)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0 || len > CS_NAME_MAX)
		return cs_fail(-ERANGE, "xattr name of %zu bytes (1..%u allowed)", len,
		               CS_NAME_MAX);
	return 0;
}

static int xattr_change(cs_vol *vol, uint64_t ino, const char *name,
                        const void *value, size_t size, int flags, int remove)
{
	uint8_t k[CS_KEY_MAX];
	const uint8_t *v;
	struct cs_inode in;
	struct cs_txn t;
	size_t klen, vlen;
	char *buf = NULL;
	int rc, exists;

	rc = cs_inode_begin(&t, vol, ino, &in);
	if (rc)
		return rc;
	klen = cs_key_xattr(k, t.rec.id, ino, name);
	rc = cs_kv_getv(vol->st, &t.rec, k, klen, &buf, &v, &vlen, NULL);
	free(buf);
	if (rc && rc != -ENOENT)
		return cs_txn_abort(&t, rc);
	exists = rc == 0;
	if (remove || (flags & CS_XATTR_REPLACE)) {
		if (!exists)
			return cs_txn_abort(&t, cs_fail(-ENODATA, "inode %llu has no xattr '%s'",
			                                (unsigned long long)ino, name));
	}
	if ((flags & CS_XATTR_CREATE) && exists)
		return cs_txn_abort(&t, cs_fail(-EEXIST, "inode %llu already has xattr '%s'",
		                                (unsigned long long)ino, name));
	if (remove)
		cs_txn_delv(&t, k, klen);
	else
		cs_txn_putv(&t, k, klen, value, size);
	in.ctime = t.now;
	cs_txn_put_inode(&t, &in);
	return cs_txn_commit(&t);
}

int cs_setxattr(cs_vol *vol, uint64_t ino, const char *name, const void *value,
                size_t size, int flags)
{
	int rc = xname_check(name);

	if (rc)
		return rc;
	if (size > CS_XATTR_VALUE_MAX)
		return cs_fail(-E2BIG, "xattr value of %zu bytes (at most %u)", size,
		               CS_XATTR_VALUE_MAX);
	if ((flags & CS_XATTR_CREATE) && (flags & CS_XATTR_REPLACE))
		return cs_fail(-EINVAL, "XATTR_CREATE and XATTR_REPLACE together");
	if (flags & ~(CS_XATTR_CREATE | CS_XATTR_REPLACE))
		return cs_fail(-EINVAL, "unknown xattr flags 0x%x", flags);
	return xattr_change(vol, ino, name, value, size, flags, 0);
}

int cs_removexattr(cs_vol *vol, uint64_t ino, const char *name)
{
	int rc = xname_check(name);

	return rc ? rc : xattr_change(vol, ino, name, NULL, 0, 0, 1);
}

ssize_t cs_getxattr(cs_vol *vol, uint64_t ino, const char *name, void *out,
                    size_t size)
{
	uint8_t k[CS_KEY_MAX];
	const uint8_t *v;
	struct cs_inode in;
	size_t vlen;
	char *buf;
	int rc = xname_check(name);

	if (rc)
		return rc;
	rc = cs_kv_getv(vol->st, &vol->vs->rec, k,
	                cs_key_xattr(k, vol->vs->rec.id, ino, name), &buf, &v, &vlen, NULL);
	if (rc == -ENOENT) {
		rc = cs_inode_load(vol, ino, &in); /* ENOENT for the inode first */
		return rc ? rc : cs_fail(-ENODATA, "inode %llu has no xattr '%s'",
		                         (unsigned long long)ino, name);
	}
	if (rc)
		return rc;
	if (size > 0) {
		if (size < vlen) {
			free(buf);
			return cs_fail(-ERANGE, "xattr '%s' is %zu bytes", name, vlen);
		}
		memcpy(out, v, vlen);
	}
	free(buf);
	return (ssize_t)vlen;
}

struct list_ctx {
	char *buf;
	size_t size, len;
};

static int list_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                   size_t vlen,
			const struct cs_ver *ver)
{
	struct list_ctx *l = ctx;
	size_t nl = klen - 17; /* the name and its NUL */

	if (l->size && l->len + nl <= l->size)
		memcpy(l->buf + l->len, k + 17, nl);
	l->len += nl;
	return 0;
}

ssize_t cs_listxattr(cs_vol *vol, uint64_t ino, char *buf, size_t size)
{
	struct list_ctx l = { buf, size, 0 };
	struct cs_inode in;
	uint8_t prefix[17];
	int rc = cs_inode_load(vol, ino, &in);

	if (rc)
		return rc;
	prefix[0] = 'X';
	be64_put(prefix + 1, vol->vs->rec.id);
	be64_put(prefix + 9, ino);
	rc = cs_kv_scanv(vol->st, &vol->vs->rec, prefix, 17, NULL, 0, list_fn, &l);
	if (rc)
		return rc;
	if (size && l.len > size)
		return cs_fail(-ERANGE, "xattr names need %zu bytes", l.len);
	return (ssize_t)l.len;
}
