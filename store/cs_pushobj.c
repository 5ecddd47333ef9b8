/*
 * cs_pushobj.c - the pool's objects of pushed copies (cs_pushobj.h says
 * which): the connection from the store's spec, the index and the
 * encoding of its entries, the parts of streams and of lists of marks.
 * It takes no mark and knows no ordering: cs_push.c does both.
 */
#include <errno.h>
#include <rados/librados.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_priv.h"
#include "cs_pushobj.h"
#include "cs_rados_conn.h"
#include "cs_streamfmt.h"

#define ENT_FORMAT 1
#define IDX_PAGE 1024 /* entries per read of the index */
#define PP_WFLAGS LIBRADOS_OPERATION_FULL_TRY
#define PP_RMFLAGS (LIBRADOS_OPERATION_FULL_TRY | LIBRADOS_OPERATION_FULL_FORCE)

/* ---- the connection ---- */

int cs_pushpool_open(cs_store *st, struct cs_pushpool *pp)
{
	struct cs_rados_cfg cfg;
	char *v = NULL;
	size_t vlen = 0;
	int rc = cs_kv_get(st, st->cf_meta, (const uint8_t *)"\0CS", 3, &v, &vlen);

	memset(pp, 0, sizeof(*pp));
	if (rc == -ENOENT || (rc == 0 && (vlen < 6 || memcmp(v, "rados:", 6))))
		rc = cs_fail(-EOPNOTSUPP, "store %s keeps its chunks in local files: pushed copies "
			     "live in a RADOS pool (a store made with --chunks rados:POOL)", st->path);
	if (rc == 0)
		rc = cs_rados_parse(v, vlen, &cfg);
	free(v);
	if (rc)
		return rc;
	if (!cfg.timeout_s)
		cfg.timeout_s = CS_RADOS_TIMEOUT_DEFAULT;
	snprintf(pp->pool, sizeof(pp->pool), "%s", cfg.pool);
	rc = cs_rados_connect(&cfg, &pp->cl, &pp->io);
	if (rc) {
		if (pp->cl)
			rados_shutdown(pp->cl);
		pp->cl = NULL;
	}
	return rc;
}

void cs_pushpool_close(struct cs_pushpool *pp)
{
	if (pp->io)
		rados_ioctx_destroy(pp->io);
	if (pp->cl)
		rados_shutdown(pp->cl);
	pp->io = NULL;
	pp->cl = NULL;
}

/* A librados failure @rc of @what on @oid, as -EIO (or -ENOSPC). */
static int pp_fail(struct cs_pushpool *pp, int rc, const char *what, const char *oid)
{
	int err = rc == -ENOSPC || rc == -EDQUOT ? -ENOSPC : -EIO;

	return cs_fail(err, "RADOS pool %s: %s %s: %s%s", pp->pool, what, oid, strerror(-rc),
		       rc == -ETIMEDOUT ? " (the cluster did not answer in time)" : "");
}

/* ---- index entries ---- */

static void ent_encode(struct cs_obuf *b, const struct pushent *e)
{
	cs_obuf_u8(b, ENT_FORMAT);
	cs_obuf_u8(b, (uint8_t)e->pub.state);
	cs_obuf_put(b, e->id, 16);
	cs_obuf_put(b, e->sum, 32);
	cs_obuf_put(b, e->snap_uuid, 16);
	cs_obuf_put(b, e->base_uuid, 16);
	cs_obuf_u64(b, e->pub.bytes);
	cs_obuf_u64(b, e->pub.chunks);
	cs_obuf_u64(b, (uint64_t)e->pub.ctime_ns);
	cs_obuf_u32(b, e->sparts);
	cs_obuf_u32(b, e->mparts);
	cs_obuf_str(b, e->pub.volume);
	cs_obuf_str(b, e->pub.snap);
	cs_obuf_str(b, e->pub.base);
}

/* Decode entry @key (@kl bytes) of value @v (@vl): 0 or -EIO. */
static int ent_decode(struct pushent *e, const char *key, size_t kl, const char *v, size_t vl)
{
	struct cs_ibuf b = {(const uint8_t *)v, vl, 0};
	uint8_t fmt = 0, state = 0;
	uint64_t ct = 0;

	memset(e, 0, sizeof(*e));
	if (kl == 0 || kl > CS_NAME_MAX || memchr(key, 0, kl) || cs_ibuf_u8(&b, &fmt) ||
	    fmt != ENT_FORMAT || cs_ibuf_u8(&b, &state) || state < CS_PUSHED_COMPLETE ||
	    state > CS_PUSHED_DELETING || cs_ibuf_get(&b, e->id, 16) ||
	    cs_ibuf_get(&b, e->sum, 32) || cs_ibuf_get(&b, e->snap_uuid, 16) ||
	    cs_ibuf_get(&b, e->base_uuid, 16) || cs_ibuf_u64(&b, &e->pub.bytes) ||
	    cs_ibuf_u64(&b, &e->pub.chunks) || cs_ibuf_u64(&b, &ct) ||
	    cs_ibuf_u32(&b, &e->sparts) || cs_ibuf_u32(&b, &e->mparts) ||
	    cs_ibuf_str(&b, e->pub.volume, sizeof(e->pub.volume)) ||
	    cs_ibuf_str(&b, e->pub.snap, sizeof(e->pub.snap)) ||
	    cs_ibuf_str(&b, e->pub.base, sizeof(e->pub.base)) || b.pos != b.len)
		return cs_fail(-EIO, "index of pushed copies: the entry '%.*s' is damaged",
			       (int)(kl > 255 ? 255 : kl), key);
	memcpy(e->pub.name, key, kl);
	e->pub.name[kl] = '\0';
	e->pub.state = state;
	e->pub.ctime_ns = (int64_t)ct;
	return 0;
}

/* ---- the index ---- */

/* One page of the index after @after: appended to @x; *@more set. */
static int idx_page(struct cs_pushpool *pp, struct pushidx *x, const char *after,
		    unsigned char *more)
{
	rados_read_op_t op = rados_create_read_op();
	rados_omap_iter_t it = NULL;
	int rc, rc_vals = 0;
	size_t cap = x->n;

	if (!op)
		return -ENOMEM;
	rados_read_op_omap_get_vals2(op, after, "", IDX_PAGE, &it, more, &rc_vals);
	rc = cs_rados_read_ver(pp->io, op, CS_PUSH_INDEX, &x->ver);
	rc = rc ? rc : rc_vals;
	while (rc == 0 && it) {
		char *k, *v;
		size_t kl, vl;

		if (rados_omap_get_next2(it, &k, &v, &kl, &vl) || !k)
			break;
		if (x->n == cap && (rc = cs_grow((void **)&x->e, &cap, x->n + 1, sizeof(*x->e))))
			break;
		rc = ent_decode(&x->e[x->n], k, kl, v, vl);
		x->n += rc == 0;
	}
	if (it)
		rados_omap_get_end(it);
	rados_release_read_op(op);
	return rc;
}

int cs_pushidx_read(struct cs_pushpool *pp, struct pushidx *x)
{
	unsigned char more = 1;
	uint64_t first = 0;
	int rc = 0;

	memset(x, 0, sizeof(*x));
	x->exists = 1;
	for (int page = 0; rc == 0 && more; page++) {
		rc = idx_page(pp, x, x->n ? x->e[x->n - 1].pub.name : "", &more);
		if (rc == 0 && page == 0)
			first = x->ver;
		if (rc == 0 && x->ver != first) { /* changed between pages: again */
			x->n = 0;
			more = 1;
			page = -1;
		}
	}
	if (rc == -ENOENT) {
		x->exists = 0;
		x->n = 0;
		return 0;
	}
	if (rc == -EIO || rc == -ENOMEM)
		return rc;
	return rc ? pp_fail(pp, rc, "reading", CS_PUSH_INDEX) : 0;
}

void cs_pushidx_free(struct pushidx *x)
{
	free(x->e);
	x->e = NULL;
	x->n = 0;
}

struct pushent *cs_pushidx_find(struct pushidx *x, const char *name)
{
	for (size_t i = 0; i < x->n; i++)
		if (!strcmp(x->e[i].pub.name, name))
			return &x->e[i];
	return NULL;
}

/* A write op on the index under @x's reading: the guard goes first (an
 * omap_set before a create would make the object, failing the create). */
static rados_write_op_t idx_op(const struct pushidx *x)
{
	rados_write_op_t op = rados_create_write_op();

	if (op && x->exists)
		rados_write_op_assert_version(op, x->ver);
	else if (op)
		rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, NULL);
	return op;
}

/* Send @op (idx_op's); -ERANGE when the index changed since it was read. */
static int idx_send(struct cs_pushpool *pp, const struct pushidx *x, rados_write_op_t op)
{
	int rc = rados_write_op_operate2(op, pp->io, CS_PUSH_INDEX, NULL, PP_RMFLAGS);

	rados_release_write_op(op);
	if (rc == -ERANGE || rc == -EOVERFLOW || rc == -EEXIST || (rc == -ENOENT && x->exists))
		return -ERANGE;
	return rc ? pp_fail(pp, rc, "writing", CS_PUSH_INDEX) : 0;
}

int cs_pushidx_put(struct cs_pushpool *pp, const struct pushidx *x, const struct pushent *e)
{
	struct cs_obuf b = {0};
	rados_write_op_t op;
	const char *k = e->pub.name, *v;
	size_t kl = strlen(k), vl;
	int rc;

	ent_encode(&b, e);
	if (b.oom || !(op = idx_op(x))) {
		free(b.p);
		return -ENOMEM;
	}
	v = (const char *)b.p;
	vl = b.len;
	rados_write_op_omap_set2(op, &k, &v, &kl, &vl, 1);
	rc = idx_send(pp, x, op);
	free(b.p);
	return rc;
}

int cs_pushidx_del(struct cs_pushpool *pp, const struct pushidx *x, const char *name)
{
	rados_write_op_t op = idx_op(x);
	size_t kl = strlen(name);

	if (!op)
		return -ENOMEM;
	rados_write_op_omap_rm_keys2(op, &name, &kl, 1);
	return idx_send(pp, x, op);
}

void cs_pushidx_drop_empty(struct cs_pushpool *pp)
{
	struct pushidx x;
	rados_write_op_t op;

	if (cs_pushidx_read(pp, &x) == 0 && x.exists && x.n == 0 &&
	    (op = rados_create_write_op())) {
		rados_write_op_assert_version(op, x.ver);
		rados_write_op_remove(op);
		/* a push meanwhile: -ERANGE, and the index stays, rightly */
		(void)rados_write_op_operate2(op, pp->io, CS_PUSH_INDEX, NULL, PP_RMFLAGS);
		rados_release_write_op(op);
	}
	cs_pushidx_free(&x);
}

/* ---- parts ---- */

void cs_push_part_oid(const uint8_t id[16], int kind, uint32_t k, char *oid)
{
	char hex[33];

	cs_rados_hex(id, 16, hex);
	snprintf(oid, 64, "cstorfs.push.%s.%c%u", hex, kind, k);
}

size_t cs_push_mark_key(const uint8_t id[16], char *key)
{
	char hex[33];

	cs_rados_hex(id, 16, hex);
	return (size_t)snprintf(key, 48, "cstorfs.push.%s", hex);
}

/* Write part @oid (@len bytes of @p) and read it back: 0 or an error. */
static int part_write(struct cs_pushpool *pp, const char *oid, const uint8_t *p, size_t len)
{
	uint8_t *back = malloc(len ? len : 1);
	int rc;

	if (!back)
		return -ENOMEM;
	rc = rados_write_full(pp->io, oid, (const char *)p, len);
	if (rc == 0) {
		rc = rados_read(pp->io, oid, (char *)back, len, 0);
		rc = rc < 0 ? rc : (size_t)rc != len || memcmp(back, p, len) ? -EIO : 0;
	}
	free(back);
	return rc ? pp_fail(pp, rc, rc == -EIO ? "reading back (it differs)" : "writing", oid)
		  : 0;
}

int cs_push_parts_write(struct cs_pushpool *pp, const uint8_t id[16], int kind,
			const uint8_t *buf, size_t len, uint32_t *nparts)
{
	char oid[64];
	uint32_t k = 0;
	int rc = 0;

	/* an empty list is one empty part: every copy has part 0 */
	for (size_t off = 0; rc == 0 && (off < len || k == 0); off += CS_PUSH_PART, k++) {
		size_t n = len - off < CS_PUSH_PART ? len - off : CS_PUSH_PART;

		cs_push_part_oid(id, kind, k, oid);
		rc = part_write(pp, oid, buf + off, n);
	}
	*nparts = k;
	return rc;
}

int cs_push_parts_read(struct cs_pushpool *pp, const uint8_t id[16], int kind,
		       uint32_t nparts, size_t len, uint8_t **out)
{
	uint8_t *buf = malloc(len ? len : 1);
	char oid[64];
	size_t off = 0;
	int rc = buf ? 0 : -ENOMEM;

	for (uint32_t k = 0; rc == 0 && k < nparts; k++) {
		size_t want = len - off < CS_PUSH_PART ? len - off : CS_PUSH_PART;

		cs_push_part_oid(id, kind, k, oid);
		rc = rados_read(pp->io, oid, (char *)buf + off, want, 0);
		if (rc == -ENOENT)
			rc = cs_fail(-EBADMSG, "RADOS pool %s: object %s is missing", pp->pool, oid);
		else if (rc >= 0 && (size_t)rc != want)
			rc = cs_fail(-EBADMSG, "RADOS pool %s: object %s holds %d bytes, not %zu",
				     pp->pool, oid, rc, want);
		else if (rc < 0)
			rc = pp_fail(pp, rc, "reading", oid);
		else
			rc = 0;
		off += want;
	}
	if (rc == 0 && off != len)
		rc = cs_fail(-EBADMSG, "RADOS pool %s: %u parts hold %zu bytes, not %zu", pp->pool,
			     nparts, off, len);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

int cs_push_parts_rm(struct cs_pushpool *pp, const uint8_t id[16], int kind, uint32_t nparts)
{
	char oid[64];
	int rc = 0;

	for (uint32_t k = 0; k < nparts; k++) {
		int r;

		cs_push_part_oid(id, kind, k, oid);
		r = rados_remove(pp->io, oid);
		if (r < 0 && r != -ENOENT && rc == 0)
			rc = pp_fail(pp, r, "removing", oid);
	}
	return rc;
}
