/*
 * cs_rados_conn.c - what a RADOS chunk store needs before its first chunk
 * (cs_rados.h): the spec recorded at store creation, parsed and checked
 * with clear errors; the store's id on chunk objects; the connection to the
 * cluster, every operation bounded by the spec's timeout; the store's
 * "left work behind" flag; and two lookups cs_rados.c makes that need
 * none of its state (a step of the sweep, an object's size and key).
 */
#include <ctype.h>
#include <errno.h>
#include <rados/librados.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cs_health.h"
#include "cs_priv.h"
#include "cs_rados_conn.h"

/* Copy option value @v (@n bytes) into @dst (@cap): 0 or -EINVAL. */
static int opt_copy(char *dst, size_t cap, const char *v, size_t n, const char *what)
{
	if (n == 0 || n >= cap || memchr(v, '\0', n))
		return cs_fail(-EINVAL, "RADOS chunk store: bad %s (1-%zu bytes, no NUL)", what,
			       cap - 1);
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static int pool_name_ok(const char *p)
{
	for (; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.'))
			return 0;
	return 1;
}

/* One option "name=value" of @n bytes. */
static int parse_opt(struct cs_rados_cfg *cfg, const char *o, size_t n)
{
	const char *eq = memchr(o, '=', n);
	size_t kl = eq ? (size_t)(eq - o) : n, vl = eq ? n - kl - 1 : 0;
	char num[16];
	char *end;
	unsigned long t;

	if (eq && kl == 4 && !memcmp(o, "conf", 4))
		return opt_copy(cfg->conf, sizeof(cfg->conf), eq + 1, vl, "conf");
	if (eq && kl == 2 && !memcmp(o, "id", 2))
		return opt_copy(cfg->id, sizeof(cfg->id), eq + 1, vl, "id");
	if (eq && kl == 7 && !memcmp(o, "timeout", 7)) {
		if (opt_copy(num, sizeof(num), eq + 1, vl, "timeout"))
			return -EINVAL;
		errno = 0;
		t = strtoul(num, &end, 10);
		if (errno || *end || num[0] < '1' || num[0] > '9' || t > 3600)
			return cs_fail(-EINVAL, "RADOS chunk store: bad timeout '%s' (1-3600 s)", num);
		cfg->timeout_s = (unsigned)t;
		return 0;
	}
	return cs_fail(-EINVAL, "RADOS chunk store: unknown option '%.*s' (conf=, id=, timeout=)",
		       (int)(n > 64 ? 64 : n), o);
}

int cs_rados_parse(const char *spec, size_t len, struct cs_rados_cfg *cfg)
{
	const char *p, *end = spec + len, *semi;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (len < 6 || memcmp(spec, "rados:", 6))
		return cs_fail(-EINVAL, "not a RADOS chunk store: expected rados:POOL[;conf=FILE]"
			       "[;id=NAME][;timeout=SECONDS]");
	p = spec + 6;
	semi = memchr(p, ';', (size_t)(end - p));
	rc = opt_copy(cfg->pool, sizeof(cfg->pool), p, (size_t)((semi ? semi : end) - p),
		      "pool name");
	if (rc == 0 && !pool_name_ok(cfg->pool))
		rc = cs_fail(-EINVAL, "RADOS chunk store: bad pool name '%s' (letters, digits, "
			     "_ - .)", cfg->pool);
	while (rc == 0 && semi) {
		p = semi + 1;
		semi = memchr(p, ';', (size_t)(end - p));
		rc = parse_opt(cfg, p, (size_t)((semi ? semi : end) - p));
	}
	return rc;
}

#define RD_ID_KEY "\0CSR"

/* The store's id on chunk objects: meta key "\0CSR", made on first use. */
int cs_rados_store_id(cs_store *st, uint8_t id[16])
{
	char *v = NULL;
	size_t vlen = 0;
	rocksdb_writebatch_t *wb;
	int rc = cs_kv_get(st, st->cf_meta, (const uint8_t *)RD_ID_KEY, 4, &v, &vlen);

	if (rc == 0 && vlen == 16)
		memcpy(id, v, 16);
	else if (rc == 0)
		rc = cs_fail(-EIO, "store %s: its RADOS store id is damaged", st->path);
	free(v);
	if (rc != -ENOENT)
		return rc;
	if (getrandom(id, 16, 0) != 16)
		return cs_fail(-EIO, "store %s: no random bytes for its RADOS store id", st->path);
	wb = rocksdb_writebatch_create();
	if (!wb)
		return -ENOMEM;
	rocksdb_writebatch_put_cf(wb, st->cf_meta, RD_ID_KEY, 4, (const char *)id, 16);
	rc = cs_store_write(st, wb, 0, 1, "RADOS store id");
	rocksdb_writebatch_destroy(wb);
	return rc;
}

/* The error of a failed connection step @what (librados error @rc). */
static int connect_fail(const struct cs_rados_cfg *cfg, int rc, const char *what)
{
	const char *conf = cfg->conf[0] ? cfg->conf : "librados's default ceph.conf";

	if (rc == -ETIMEDOUT)
		return cs_fail(-ETIMEDOUT, "RADOS: %s (conf %s): the cluster did not answer in %u s",
			       what, conf, cfg->timeout_s);
	return cs_fail(rc == -ENOENT || rc == -ENOMEM ? rc : -EIO, "RADOS: %s (conf %s): %s",
		       what, conf, strerror(-rc));
}

int cs_rados_connect(const struct cs_rados_cfg *cfg, rados_t *cl, rados_ioctx_t *io)
{
	char t[16];
	int rc, align = 0;

	if (!cfg->pool[0] || !pool_name_ok(cfg->pool))
		return cs_fail(-EINVAL, "RADOS: bad pool name '%s' (letters, digits, _ - .)",
			       cfg->pool);
	rc = rados_create(cl, cfg->id[0] ? cfg->id : NULL);
	if (rc < 0)
		return connect_fail(cfg, rc, "creating the client");
	rc = rados_conf_read_file(*cl, cfg->conf[0] ? cfg->conf : NULL);
	if (rc < 0)
		return connect_fail(cfg, rc, "reading the configuration");
	snprintf(t, sizeof(t), "%u", cfg->timeout_s);
	if (rados_conf_set(*cl, "rados_osd_op_timeout", t) < 0 ||
	    rados_conf_set(*cl, "rados_mon_op_timeout", t) < 0 ||
	    rados_conf_set(*cl, "client_mount_timeout", t) < 0)
		return connect_fail(cfg, -EINVAL, "setting the timeouts");
	rc = rados_connect(*cl);
	if (rc < 0)
		return connect_fail(cfg, rc, "connecting to the cluster");
	rc = rados_ioctx_create(*cl, cfg->pool, io);
	if (rc == -ENOENT)
		return cs_fail(-ENOENT, "RADOS: no pool '%s' in the cluster", cfg->pool);
	if (rc < 0)
		return connect_fail(cfg, rc, "opening the pool");
	rc = rados_ioctx_pool_requires_alignment2(*io, &align);
	if (rc == 0 && align)
		return cs_fail(-EINVAL, "RADOS: pool '%s' is erasure-coded: chunks need a replicated "
			       "pool (omap)", cfg->pool);
	return rc < 0 ? connect_fail(cfg, rc, "opening the pool") : 0;
}

#define RD_DIRTY_KEY "\0CSRD"

int cs_rados_dirty(cs_store *st, int set)
{
	rocksdb_writebatch_t *wb;
	char *v = NULL;
	size_t vlen;
	int rc;

	if (set < 0) {
		rc = cs_kv_get(st, st->cf_meta, (const uint8_t *)RD_DIRTY_KEY, 5, &v, &vlen);
		free(v);
		return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
	}
	wb = rocksdb_writebatch_create();
	if (set)
		rocksdb_writebatch_put_cf(wb, st->cf_meta, RD_DIRTY_KEY, 5, "", 0);
	else
		rocksdb_writebatch_delete_cf(wb, st->cf_meta, RD_DIRTY_KEY, 5);
	rc = cs_store_write(st, wb, 0, 1, "RADOS chunk store state");
	rocksdb_writebatch_destroy(wb);
	return rc;
}

/* 64 hex digits into a hash: 0, or -1 when @s is not a chunk's name. */
static int unhex(const char *s, uint8_t *hash)
{
	for (int i = 0; i < 2 * CS_HASH_LEN; i++) {
		const char *d = strchr("0123456789abcdef", s[i]);

		if (!s[i] || !d)
			return -1;
		hash[i / 2] = (uint8_t)(hash[i / 2] << 4 | (d - "0123456789abcdef"));
	}
	return s[2 * CS_HASH_LEN] ? -1 : 0;
}

int cs_rados_sweep_step(cs_store *st, rados_list_ctx_t l, size_t max,
			void (*found)(void *ctx, const uint8_t *hash), void *ctx)
{
	uint8_t hash[CS_HASH_LEN];
	const char *name;
	char *v = NULL;
	size_t vlen;

	for (size_t i = 0; i < max; i++) {
		int rc = rados_nobjects_list_next(l, &name, NULL, NULL);

		if (rc == -ENOENT)
			return 0;
		if (rc < 0)
			return cs_fail(-EIO, "listing: %s", strerror(-rc));
		if (unhex(name, hash))
			continue; /* not a chunk */
		rc = cs_kv_get(st, st->cf_chunks, hash, CS_HASH_LEN, &v, &vlen);
		free(v);
		v = NULL;
		if (rc == -ENOENT)
			found(ctx, hash);
		else if (rc)
			return rc;
	}
	return 1;
}

int cs_rados_stat_marked(rados_ioctx_t io, const char *oid, const char *key, size_t keylen,
			 uint64_t *size)
{
	rados_read_op_t op = rados_create_read_op();
	const char *k = key;
	rados_omap_iter_t it = NULL;
	int rc, rc_stat = 0, rc_keys = 0, found = 0;

	if (!op)
		return -ENOMEM;
	rados_read_op_stat(op, size, NULL, &rc_stat);
	rados_read_op_omap_get_vals_by_keys2(op, &k, 1, &keylen, &it, &rc_keys);
	rc = rados_read_op_operate(op, io, oid, 0);
	if (rc == 0)
		rc = rc_stat ? rc_stat : rc_keys;
	if (rc == 0 && it) {
		char *okey, *val;
		size_t kl, vl;

		while (rados_omap_get_next2(it, &okey, &val, &kl, &vl) == 0 && okey)
			found |= kl == keylen && !memcmp(okey, key, kl);
	}
	if (it)
		rados_omap_get_end(it);
	rados_release_read_op(op);
	return rc < 0 ? rc : found;
}

int cs_rados_mark(rados_ioctx_t io, const char *oid, const char *key, size_t keylen,
		  uint32_t len, uint32_t raw_len, uint64_t *size)
{
	rados_read_op_t rop = rados_create_read_op();
	rados_write_op_t op;
	const char *v = "";
	char head[6];
	size_t vl = 0, got = 0;
	int rc, rc_stat = 0, rc_read = 0;

	if (!rop)
		return -ENOMEM;
	rados_read_op_stat(rop, size, NULL, &rc_stat);
	rados_read_op_read(rop, 0, sizeof(head), head, &got, &rc_read);
	rc = rados_read_op_operate(rop, io, oid, 0);
	rados_release_read_op(rop);
	if (rc == 0)
		rc = rc_stat ? rc_stat : rc_read;
	if (rc < 0)
		return rc;
	/* the raw length is the chunk's own (cs_chunk.c's header), not the
	 * stream's word: the store's accounting must not take it on trust */
	if (*size != len || got != sizeof(head) || be32_get((uint8_t *)head + 2) != raw_len)
		return 1;
	op = rados_create_write_op();
	if (!op)
		return -ENOMEM;
	/* B of cs_rados.c's put: the object may go between the stat and
	 * this op (another store's last release); then -ENOENT, no mark */
	rados_write_op_assert_exists(op);
	rados_write_op_omap_set2(op, &key, &v, &keylen, &vl, 1);
	rc = rados_write_op_operate2(op, io, oid, NULL, LIBRADOS_OPERATION_FULL_TRY);
	rados_release_write_op(op);
	return rc;
}

/* @n bytes as lowercase hex, NUL-terminated, into @out (2n + 1). */
void cs_rados_hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* ---- the error generation, per thread and store ---- */

#define RD_SEEN_SLOTS 4
static uint64_t rd_instances; /* chunk stores opened in this process */
static __thread struct {
	uint64_t inst; /* not the pointer: a new store may get a closed one's */
	uint64_t gen;
} seen[RD_SEEN_SLOTS];
static __thread unsigned seen_next;

/* This thread's last seen error generation of the store opened as @inst;
 * a store it has not met starts at 0 (a past failure is reported once:
 * conservative). */
uint64_t *cs_rados_seen_gen(uint64_t inst)
{
	unsigned i;

	for (i = 0; i < RD_SEEN_SLOTS; i++)
		if (seen[i].inst == inst)
			return &seen[i].gen;
	i = seen_next++ % RD_SEEN_SLOTS;
	seen[i].inst = inst;
	seen[i].gen = 0;
	return &seen[i].gen;
}

uint64_t cs_rados_instance(void)
{
	return __atomic_add_fetch(&rd_instances, 1, __ATOMIC_RELAXED);
}

/* ---- version-asserted removal, for marks other than a store's own ---- */

int cs_rados_read_ver(rados_ioctx_t io, rados_read_op_t op, const char *oid, uint64_t *ver)
{
	rados_completion_t c;
	int rc = rados_aio_create_completion2(NULL, NULL, &c);

	if (rc < 0)
		return rc;
	rc = rados_aio_read_op_operate(op, io, c, oid, 0);
	if (rc == 0) {
		rados_aio_wait_for_complete(c);
		rc = rados_aio_get_return_value(c);
		*ver = rados_aio_get_version(c);
	}
	rados_aio_release(c);
	return rc < 0 ? rc : 0;
}

/* Read the first two omap keys of @oid and its version: into *@n the
 * count, *@ours whether @key is one of them. */
static int unmark_read(rados_ioctx_t io, const char *oid, const char *key, size_t keylen,
		       int *n, int *ours, uint64_t *ver)
{
	rados_read_op_t op = rados_create_read_op();
	rados_omap_iter_t it = NULL;
	int rc, rc_keys = 0;

	if (!op)
		return -ENOMEM;
	rados_read_op_omap_get_keys2(op, "", 2, &it, NULL, &rc_keys);
	rc = cs_rados_read_ver(io, op, oid, ver);
	rc = rc ? rc : rc_keys;
	for (*n = 0, *ours = 0; rc == 0 && it; ++*n) {
		char *k, *v;
		size_t kl, vl;

		if (rados_omap_get_next2(it, &k, &v, &kl, &vl) || !k)
			break;
		*ours |= kl == keylen && !memcmp(k, key, kl);
	}
	if (it)
		rados_omap_get_end(it);
	rados_release_read_op(op);
	return rc;
}

int cs_rados_unmark(rados_ioctx_t io, const char *oid, const char *key, size_t keylen)
{
	for (int tries = 0; tries < 16; tries++) {
		rados_write_op_t op;
		uint64_t ver = 0;
		int n, ours, rc = unmark_read(io, oid, key, keylen, &n, &ours, &ver);

		if (rc == -ENOENT || (rc == 0 && !ours))
			return 0;
		if (rc < 0)
			return rc;
		op = rados_create_write_op();
		if (!op)
			return -ENOMEM;
		/* as cs_rados.c's release (its invariant 2): under the version
		 * seen, so that a store marking the object meanwhile keeps it */
		rados_write_op_assert_version(op, ver);
		if (n == 1)
			rados_write_op_remove(op);
		else
			rados_write_op_omap_rm_keys2(op, &key, &keylen, 1);
		rc = rados_write_op_operate2(op, io, oid, NULL, LIBRADOS_OPERATION_FULL_TRY |
					     LIBRADOS_OPERATION_FULL_FORCE);
		rados_release_write_op(op);
		if (rc != -ERANGE)
			return rc == -ENOENT ? 0 : rc;
	}
	return -EAGAIN;
}
