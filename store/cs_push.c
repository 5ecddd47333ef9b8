/*
 * cs_push.c - off-host copies in the pool (cs_push.h, issue 15 item 4):
 * push a snapshot's stream into the pool of the store's chunks, list,
 * delete, pull. The objects are cs_pushobj.c's (its header lists them);
 * the stream is cs_send's, received by cs_recv as any stream of chunk
 * names. It does not touch a store's own marks: a pushed copy holds marks
 * of its own.
 *
 * WHAT KEEPS A PUSHED COPY WHOLE. A copy's stream names chunks by hash; a
 * store that deletes its volume and collects its garbage releases its own
 * marks and the last one removes the object (cs_rados.c). So a copy marks
 * every chunk its stream names with its own omap key "cstorfs.push.ID",
 * which no store removes: a store's release removes only its key, and the
 * object only when its key was the last (under a version assertion). An
 * incremental copy's stream names only the chunks its base's does not, so
 * a copy needs its base: pull applies the chain, base first, and a base
 * is not deleted while a copy is incremental to it.
 *
 * THE ORDERING RULE of a push (each step durable, a RADOS write being
 * acknowledged once every replica has it, before the next begins):
 *   1. the stream is made (cs_send, into memory) and parsed: its chunks;
 *   2. the index entry, state PENDING, with the copy's id and how many
 *      parts it will have (a version-asserted write: the name is free,
 *      the base is there and complete);
 *   3. the list of marks (parts "m"), read back;
 *   4. the marks, one per chunk (assert_exists + omap_set, after checking
 *      the object holds that chunk: cs_rados_mark), PUSH_THREADS at once,
 *      all acknowledged before step 5;
 *   5. the stream (parts "s"), each read back and compared;
 *   6. the entry set COMPLETE (version-asserted: still ours, PENDING).
 * Only a COMPLETE copy is pulled; so a listed copy has its every mark and
 * byte in the pool. A failed push undoes its steps (marks released, parts
 * removed, entry removed). A crash leaves a PENDING entry naming
 * everything it may have made (the id and part counts were in it before
 * anything was made; the marks list before any mark): `pushed --delete`
 * removes it. Nothing made by a push is ever unnamed by the index.
 *
 * A DELETE sets the entry DELETING (version-asserted: no copy is
 * incremental to it), releases each mark of its list (cs_rados_unmark:
 * the object goes with the last mark), removes the parts, then the entry,
 * then the index object if it is empty. Every step may be done again: a
 * delete that stopped half way is finished by another.
 *
 * A PULL checks before it changes anything: the copy and each base are
 * COMPLETE, the volume name is free, every stream of the chain is read
 * whole and matches its SHA-256. Then each stream is received (base
 * first; a receive stages everything until its trailer checks); a later
 * stream that fails removes the volume the earlier ones made.
 *
 * MEMORY. A push holds its stream and its list of chunks in memory, a pull
 * the streams of the chain: a stream of names is about 0.23% of the data
 * it names (2.4 MB a GiB), so a volume of some TiB would want the stream
 * spooled through the parts instead (not done).
 */
#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cs_par.h"
#include "cs_priv.h"
#include "cs_push.h"
#include "cs_pushobj.h"
#include "cs_rados_conn.h"
#include "cs_streamfmt.h"

#define PUSH_RETRIES 16 /* index writes lost to others' changes */
#define PUSH_CHAIN_MAX 256
#define NAMED_LEN (CS_HASH_LEN + 8)

/* A stream in memory and the chunks it names. */
struct pstream {
	uint8_t *p;
	size_t len, cap;
	uint8_t *hashes; /* 32 bytes each */
	uint32_t *lens;  /* stored and raw length of each, two words each */
	size_t n, capn, capl;
	struct cs_stream_header h;
};

static void pstream_free(struct pstream *s)
{
	free(s->p);
	free(s->hashes);
	free(s->lens);
}

static int pstream_write(void *ctx, const void *buf, size_t len)
{
	struct pstream *s = ctx;
	int rc = cs_grow((void **)&s->p, &s->cap, s->len + len, 1);

	if (rc)
		return rc;
	memcpy(s->p + s->len, buf, len);
	s->len += len;
	return 0;
}

static int pstream_record(void *ctx, int type, uint64_t seq, uint64_t off, const uint8_t *p,
			  size_t len)
{
	struct pstream *s = ctx;
	int rc;

	(void)seq;
	(void)off;
	if (type == CS_REC_CHUNK)
		return cs_fail(-EIO, "the stream carries chunk bytes, not names");
	if (type != CS_REC_NAMED)
		return 0;
	if (len != NAMED_LEN)
		return cs_fail(-EIO, "a chunk name record of %zu bytes", len);
	rc = cs_grow((void **)&s->hashes, &s->capn, s->n + 1, CS_HASH_LEN);
	if (rc == 0)
		rc = cs_grow((void **)&s->lens, &s->capl, s->n + 1, 2 * sizeof(uint32_t));
	if (rc)
		return rc;
	memcpy(s->hashes + s->n * CS_HASH_LEN, p, CS_HASH_LEN);
	s->lens[2 * s->n] = be32_get(p + CS_HASH_LEN);
	s->lens[2 * s->n + 1] = be32_get(p + CS_HASH_LEN + 4);
	s->n++;
	return 0;
}

/* Step 1: the stream of @o (incremental from @o->from) and its chunks. */
static int stream_make(cs_store *st, const struct cs_push_opts *o, struct pstream *s)
{
	struct cs_send_opts so = {.volume = o->volume, .snap = o->snap, .base = o->from};
	struct cs_sparser *ps;
	int rc = cs_send(st, &so, pstream_write, s);

	if (rc)
		return rc;
	ps = cs_sparser_new(pstream_record, s);
	if (!ps)
		return -ENOMEM;
	rc = cs_sparser_feed(ps, s->p, s->len);
	if (rc == 0)
		rc = cs_sparser_end(ps);
	if (rc == 0)
		s->h = *cs_sparser_header(ps);
	cs_sparser_free(ps);
	if (rc == 0 && !(s->h.flags & CS_STREAM_NAMES))
		rc = cs_fail(-EOPNOTSUPP, "the stream of %s@%s carries chunk bytes: pushed copies "
			     "need a store whose chunks are in the pool", o->volume, o->snap);
	return rc == -EBADMSG || rc == -EPIPE ? cs_fail(-EIO, "the stream made for the push does "
							"not parse: %s", cs_last_error()) : rc;
}

static uint32_t parts_of(size_t len)
{
	return len ? (uint32_t)((len + CS_PUSH_PART - 1) / CS_PUSH_PART) : 1;
}

/* Change the index: @step reads the index @x and writes its change (a
 * cs_pushidx_put or _del under @x's reading), again while another change
 * came between (-ERANGE). */
typedef int (*idx_step)(struct cs_pushpool *pp, struct pushidx *x, void *ctx);

static int idx_change(struct cs_pushpool *pp, idx_step step, void *ctx)
{
	int rc = -ERANGE;

	for (int tries = 0; rc == -ERANGE && tries < PUSH_RETRIES; tries++) {
		struct pushidx x;

		rc = cs_pushidx_read(pp, &x);
		if (rc == 0)
			rc = step(pp, &x, ctx);
		cs_pushidx_free(&x);
	}
	return rc == -ERANGE ? cs_fail(-EIO, "the index of pushed copies kept changing") : rc;
}

struct claim_ctx {
	struct pushent *e;
	const char *from;
};

/* Step 2: the new entry (PENDING) in the index, its name free and its
 * base (the copy of the stream's base snapshot) complete. */
static int claim_step(struct cs_pushpool *pp, struct pushidx *x, void *ctx)
{
	static const uint8_t zero[16];
	struct claim_ctx *c = ctx;
	struct pushent *e = c->e, *b = NULL;

	for (size_t i = 0; c->from && !b && i < x->n; i++)
		if (x->e[i].pub.state == CS_PUSHED_COMPLETE && memcmp(x->e[i].snap_uuid, zero, 16) &&
		    !memcmp(x->e[i].snap_uuid, e->base_uuid, 16))
			b = &x->e[i];
	if (cs_pushidx_find(x, e->pub.name))
		return cs_fail(-EEXIST, "a pushed copy named '%s' is in RADOS pool %s already "
			       "(push --as NAME, or pushed --delete it)", e->pub.name, pp->pool);
	if (c->from && !b)
		return cs_fail(-ENOENT, "no pushed copy of %s@%s in RADOS pool %s: push it first "
			       "(an incremental needs its base there)", e->pub.volume, c->from,
			       pp->pool);
	if (b)
		snprintf(e->pub.base, sizeof(e->pub.base), "%s", b->pub.name);
	return cs_pushidx_put(pp, x, e);
}

/* Our entry (the same name and id) in @x, or NULL. */
static struct pushent *ours(struct pushidx *x, const struct pushent *e)
{
	struct pushent *cur = cs_pushidx_find(x, e->pub.name);

	return cur && !memcmp(cur->id, e->id, 16) ? cur : NULL;
}

/* Step 6: our PENDING entry set COMPLETE. */
static int complete_step(struct cs_pushpool *pp, struct pushidx *x, void *ctx)
{
	struct pushent *e = ctx, *cur = ours(x, e);

	if (!cur || cur->pub.state != CS_PUSHED_PENDING)
		return cs_fail(-ENOENT, "pushed copy '%s' was removed meanwhile", e->pub.name);
	e->pub.state = CS_PUSHED_COMPLETE;
	return cs_pushidx_put(pp, x, e);
}

/* The last step of a delete or an undone push: our entry removed. */
static int remove_step(struct cs_pushpool *pp, struct pushidx *x, void *ctx)
{
	struct pushent *e = ctx;

	return ours(x, e) ? cs_pushidx_del(pp, x, e->pub.name) : 0;
}

static int entry_remove(struct cs_pushpool *pp, struct pushent *e)
{
	int rc = idx_change(pp, remove_step, e);

	if (rc == 0)
		cs_pushidx_drop_empty(pp);
	return rc;
}

/* ---- marks, PUSH_THREADS at a time ---- */

#define PUSH_THREADS 8 /* marks in flight (cs_par.c): each a round trip or two */

/* The marks of copy @id on the chunks @hashes (and their lengths @lens,
 * to check them: a push) in @pp's pool. */
struct marking {
	struct cs_pushpool *pp;
	char key[48];
	size_t keylen;
	const uint8_t *hashes;
	const uint32_t *lens;
};

static void marking_init(struct marking *m, struct cs_pushpool *pp, const uint8_t id[16],
			 const uint8_t *hashes, const uint32_t *lens)
{
	m->pp = pp;
	m->keylen = cs_push_mark_key(id, m->key);
	m->hashes = hashes;
	m->lens = lens;
}

/* Step 4, one chunk: its object holds the chunk named, and our mark. */
static int mark_one(void *ctx, size_t i)
{
	struct marking *m = ctx;
	char oid[2 * CS_HASH_LEN + 1];
	uint64_t size = 0;
	int rc;

	cs_rados_hex(m->hashes + i * CS_HASH_LEN, CS_HASH_LEN, oid);
	rc = cs_rados_mark(m->pp->io, oid, m->key, m->keylen, m->lens[2 * i], m->lens[2 * i + 1],
			   &size);
	if (rc == 1)
		return cs_fail(-EIO, "chunk %s: %llu bytes in RADOS pool %s, not the %u named", oid,
			       (unsigned long long)size, m->pp->pool, m->lens[2 * i]);
	if (rc == -ENOENT)
		return cs_fail(-EIO, "chunk %s: missing from RADOS pool %s", oid, m->pp->pool);
	return rc < 0 ? cs_fail(-EIO, "RADOS pool %s: marking chunk %s: %s", m->pp->pool, oid,
				strerror(-rc)) : 0;
}

/* One chunk's mark released (the object with it when it was the last). */
static int unmark_one(void *ctx, size_t i)
{
	struct marking *m = ctx;
	char oid[2 * CS_HASH_LEN + 1];
	int rc;

	cs_rados_hex(m->hashes + i * CS_HASH_LEN, CS_HASH_LEN, oid);
	rc = cs_rados_unmark(m->pp->io, oid, m->key, m->keylen);
	return rc ? cs_fail(-EIO, "RADOS pool %s: releasing chunk %s: %s", m->pp->pool, oid,
			    strerror(-rc)) : 0;
}

/* Release copy @id's marks on the @n chunks @hashes: 0 or the first error. */
static int unmark_all(struct cs_pushpool *pp, const uint8_t id[16], const uint8_t *hashes,
		      size_t n)
{
	struct marking m;

	marking_init(&m, pp, id, hashes, NULL);
	return cs_par_each(n, PUSH_THREADS, unmark_one, &m);
}

/* Undo a push that failed after its claim (@marking: the marks had begun;
 * releasing one never taken does nothing). */
static void push_undo(struct cs_pushpool *pp, struct pushent *e, const struct pstream *s,
		      int marking)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", cs_last_error());
	if (unmark_all(pp, e->id, s->hashes, marking ? s->n : 0) == 0 &&
	    cs_push_parts_rm(pp, e->id, 's', e->sparts) == 0 &&
	    cs_push_parts_rm(pp, e->id, 'm', e->mparts) == 0)
		entry_remove(pp, e); /* else it stays PENDING: pushed --delete */
	cs_fail(-EIO, "%s", msg);
}

/* Steps 3 to 6 for the claimed entry @e. */
static int push_fill(struct cs_pushpool *pp, struct pushent *e, const struct pstream *s)
{
	struct marking m;
	uint32_t n;
	int rc = cs_push_parts_write(pp, e->id, 'm', s->hashes, s->n * CS_HASH_LEN, &n);
	int began = rc == 0; /* the marks (undo releases them) */

	marking_init(&m, pp, e->id, s->hashes, s->lens);
	if (began)
		rc = cs_par_each(s->n, PUSH_THREADS, mark_one, &m);
	if (rc == 0)
		rc = cs_push_parts_write(pp, e->id, 's', s->p, s->len, &n);
	if (rc == 0)
		rc = idx_change(pp, complete_step, e);
	if (rc) {
		int err = rc;

		push_undo(pp, e, s, began);
		return err;
	}
	return 0;
}

/* The entry of a new push of stream @s. */
static int entry_new(struct pushent *e, const struct cs_push_opts *o, const char *name,
		     const struct pstream *s)
{
	struct timespec now;

	memset(e, 0, sizeof(*e));
	if (getrandom(e->id, sizeof(e->id), 0) != (ssize_t)sizeof(e->id))
		return cs_fail(-EIO, "no random bytes for a pushed copy's id");
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(e->pub.name, sizeof(e->pub.name), "%s", name);
	snprintf(e->pub.volume, sizeof(e->pub.volume), "%s", o->volume);
	snprintf(e->pub.snap, sizeof(e->pub.snap), "%s", o->snap);
	e->pub.bytes = s->len;
	e->pub.chunks = s->n;
	e->pub.ctime_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	e->pub.state = CS_PUSHED_PENDING;
	SHA256(s->p, s->len, e->sum);
	memcpy(e->snap_uuid, s->h.snap_uuid, 16);
	if (s->h.flags & CS_STREAM_INCREMENTAL)
		memcpy(e->base_uuid, s->h.base_uuid, 16);
	e->sparts = parts_of(s->len);
	e->mparts = parts_of(s->n * CS_HASH_LEN);
	return 0;
}

static int push_names(const struct cs_push_opts *o, char *name, size_t size)
{
	int rc = cs_volname_check(o->volume);

	if (rc == 0)
		rc = cs_name_check(o->snap);
	if (rc == 0 && o->from)
		rc = cs_name_check(o->from);
	if (rc == 0 && o->from && !strcmp(o->from, o->snap))
		rc = cs_fail(-EINVAL, "the base of an incremental push must be an older snapshot");
	if (rc)
		return rc;
	if (o->name)
		snprintf(name, size, "%s", o->name);
	else if ((size_t)snprintf(name, size, "%s@%s", o->volume, o->snap) >= size)
		return cs_fail(-ENAMETOOLONG, "'%s@%s' is too long for a pushed copy's name: "
			       "give one (push --as NAME)", o->volume, o->snap);
	rc = cs_name_check(o->name ? o->name : name);
	return rc ? cs_fail(rc, "bad name for a pushed copy: %s", cs_last_error()) : 0;
}

int cs_push(cs_store *st, const struct cs_push_opts *o, struct cs_pushed *out)
{
	struct cs_pushpool pp;
	struct pstream s = {0};
	struct pushent e;
	char name[CS_NAME_MAX + 1];
	int rc = push_names(o, name, sizeof(name));

	if (rc)
		return rc;
	rc = cs_pushpool_open(st, &pp);
	if (rc)
		return rc;
	rc = stream_make(st, o, &s);
	if (rc == 0)
		rc = entry_new(&e, o, name, &s);
	if (rc == 0)
		rc = idx_change(&pp, claim_step, &(struct claim_ctx){&e, o->from});
	if (rc == 0)
		rc = push_fill(&pp, &e, &s);
	if (rc == 0 && out)
		*out = e.pub;
	pstream_free(&s);
	cs_pushpool_close(&pp);
	return rc;
}

/* ---- list, delete ---- */

int cs_pushed_list(cs_store *st, struct cs_pushed **out, size_t *n)
{
	struct cs_pushpool pp;
	struct pushidx x;
	int rc = cs_pushpool_open(st, &pp);

	*out = NULL;
	*n = 0;
	if (rc)
		return rc;
	rc = cs_pushidx_read(&pp, &x);
	cs_pushpool_close(&pp);
	if (rc)
		return rc;
	*out = calloc(x.n ? x.n : 1, sizeof(**out));
	if (!*out) {
		cs_pushidx_free(&x);
		return -ENOMEM;
	}
	for (size_t i = 0; i < x.n; i++)
		(*out)[i] = x.e[i].pub;
	*n = x.n;
	cs_pushidx_free(&x);
	return 0;
}

struct delete_ctx {
	const char *name;
	struct pushent e;
};

/* The first step of a delete: the entry set DELETING (a copy is in
 * c->e), unless another copy is incremental to it. */
static int delete_step(struct cs_pushpool *pp, struct pushidx *x, void *ctx)
{
	struct delete_ctx *c = ctx;
	struct pushent *cur = cs_pushidx_find(x, c->name);

	if (!cur)
		return cs_fail(-ENOENT, "no pushed copy '%s' in RADOS pool %s", c->name, pp->pool);
	for (size_t i = 0; i < x->n; i++)
		if (!strcmp(x->e[i].pub.base, c->name))
			return cs_fail(-EBUSY, "pushed copy '%s' is incremental to '%s': delete it "
				       "first", x->e[i].pub.name, c->name);
	c->e = *cur;
	c->e.pub.state = CS_PUSHED_DELETING;
	return cur->pub.state == CS_PUSHED_DELETING ? 0 : cs_pushidx_put(pp, x, &c->e);
}

/* Release the marks listed in part @k of @e's list (a part never written,
 * by a push that stopped before it, took no mark: nothing to do). */
static int delete_part(struct cs_pushpool *pp, const struct pushent *e, uint32_t k)
{
	char oid[64];
	uint64_t size = 0;
	time_t mtime;
	uint8_t *buf;
	int rc;

	cs_push_part_oid(e->id, 'm', k, oid);
	rc = rados_stat(pp->io, oid, &size, &mtime);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return cs_fail(-EIO, "RADOS pool %s: %s: %s", pp->pool, oid, strerror(-rc));
	if (size > CS_PUSH_PART || !(buf = malloc(size ? size : 1)))
		return size > CS_PUSH_PART ? cs_fail(-EIO, "RADOS pool %s: %s is too big", pp->pool,
						     oid) : -ENOMEM;
	rc = rados_read(pp->io, oid, (char *)buf, size, 0);
	if (rc >= 0)
		rc = unmark_all(pp, e->id, buf, (size_t)rc / CS_HASH_LEN);
	else
		rc = cs_fail(-EIO, "RADOS pool %s: reading %s: %s", pp->pool, oid, strerror(-rc));
	free(buf);
	return rc;
}

int cs_pushed_delete(cs_store *st, const char *name)
{
	struct cs_pushpool pp;
	struct delete_ctx c = {.name = name};
	int rc = cs_name_check(name);

	if (rc)
		return rc;
	rc = cs_pushpool_open(st, &pp);
	if (rc)
		return rc;
	rc = idx_change(&pp, delete_step, &c);
	for (uint32_t k = 0; rc == 0 && k < c.e.mparts; k++)
		rc = delete_part(&pp, &c.e, k);
	if (rc == 0)
		rc = cs_push_parts_rm(&pp, c.e.id, 's', c.e.sparts);
	if (rc == 0)
		rc = cs_push_parts_rm(&pp, c.e.id, 'm', c.e.mparts);
	if (rc == 0)
		rc = entry_remove(&pp, &c.e);
	cs_pushpool_close(&pp);
	return rc;
}

/* ---- pull ---- */

/* The chain of copy @name in @x, base first, into @chain (PUSH_CHAIN_MAX
 * room): *@n entries, each COMPLETE. */
static int pull_chain(struct cs_pushpool *pp, struct pushidx *x, const char *name,
		      struct pushent **chain, size_t *n)
{
	struct pushent *e = cs_pushidx_find(x, name);
	const char *want = name;

	for (*n = 0; *n < PUSH_CHAIN_MAX; ++*n) {
		if (!e && *n == 0)
			return cs_fail(-ENOENT, "no pushed copy '%s' in RADOS pool %s (cstorfs-ctl "
				       "pushed lists them)", name, pp->pool);
		if (!e)
			return cs_fail(-ENOENT, "pushed copy '%s' is incremental to '%s', which is "
				       "not in RADOS pool %s", chain[*n - 1]->pub.name, want,
				       pp->pool);
		if (e->pub.state != CS_PUSHED_COMPLETE)
			return cs_fail(-EBUSY, "pushed copy '%s' is not complete (a push or a delete "
				       "that did not finish): pushed --delete removes it",
				       e->pub.name);
		chain[*n] = e;
		if (!e->pub.base[0])
			break;
		want = e->pub.base;
		e = cs_pushidx_find(x, want);
	}
	if (*n == PUSH_CHAIN_MAX)
		return cs_fail(-EIO, "pushed copy '%s': a chain of more than %d copies", name,
			       PUSH_CHAIN_MAX);
	++*n;
	for (size_t i = 0; i < *n / 2; i++) { /* base first */
		struct pushent *t = chain[i];

		chain[i] = chain[*n - 1 - i];
		chain[*n - 1 - i] = t;
	}
	return 0;
}

/* Read and check the streams of @chain[0..n) into @bufs. */
static int pull_read(struct cs_pushpool *pp, struct pushent **chain, size_t n, uint8_t **bufs)
{
	uint8_t sum[32];
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = cs_push_parts_read(pp, chain[i]->id, 's', chain[i]->sparts,
					chain[i]->pub.bytes, &bufs[i]);
		if (rc == 0) {
			SHA256(bufs[i], chain[i]->pub.bytes, sum);
			if (memcmp(sum, chain[i]->sum, 32))
				rc = cs_fail(-EBADMSG, "pushed copy '%s': its stream in RADOS pool %s "
					     "is damaged (not the SHA-256 it was pushed with)",
					     chain[i]->pub.name, pp->pool);
		} else {
			rc = cs_fail(rc, "pushed copy '%s': %s", chain[i]->pub.name,
				     cs_last_error());
		}
	}
	return rc;
}

/* Receive stream @p (@len bytes) into @volume. */
static int pull_one(cs_store *st, const char *volume, const uint8_t *p, size_t len,
		    struct cs_recv_result *res)
{
	struct cs_recv *r;
	int rc = cs_recv_begin(st, volume, 0, &r);

	for (size_t off = 0; rc == 0 && off < len; off += 1u << 20)
		rc = cs_recv_feed(r, p + off, len - off < (1u << 20) ? len - off : 1u << 20);
	if (rc == 0)
		rc = cs_recv_finish(r, res);
	if (r)
		cs_recv_free(r);
	return rc;
}

/* Receive the streams @bufs of @chain into @volume, base first; a failure
 * removes what the earlier ones made. */
static int pull_apply(cs_store *st, const char *volume, struct pushent **chain, size_t n,
		      uint8_t **bufs, struct cs_pull_result *out)
{
	struct cs_recv_result res = {0};
	char msg[512];
	int rc = 0;
	size_t i;

	for (i = 0; i < n && rc == 0; i++) {
		rc = pull_one(st, volume, bufs[i], chain[i]->pub.bytes, &res);
		out->bytes += chain[i]->pub.bytes;
		out->chunks += res.chunks_new;
	}
	if (rc == 0) {
		out->streams = n;
		snprintf(out->snapshot, sizeof(out->snapshot), "%s", res.snapshot);
		return 0;
	}
	snprintf(msg, sizeof(msg), "%s", cs_last_error());
	cs_recv_abort(st, volume); /* the failed one's part, if any */
	if (i > 1)
		cs_volume_delete(st, volume);
	return cs_fail(rc, "pulling '%s' (stream %zu of %zu): %s", chain[n - 1]->pub.name, i, n,
		       msg);
}

int cs_pull(cs_store *st, const char *name, const char *volume, struct cs_pull_result *out)
{
	struct cs_pushpool pp;
	struct pushidx x = {0};
	struct pushent *chain[PUSH_CHAIN_MAX];
	struct cs_volume_info vi;
	uint8_t **bufs = NULL;
	size_t n = 0;
	int rc = cs_name_check(name);

	memset(out, 0, sizeof(*out));
	if (rc == 0 && volume)
		rc = cs_volname_check(volume);
	if (rc == 0)
		rc = cs_pushpool_open(st, &pp);
	if (rc)
		return rc;
	rc = cs_pushidx_read(&pp, &x);
	if (rc == 0)
		rc = pull_chain(&pp, &x, name, chain, &n);
	if (rc == 0) {
		snprintf(out->volume, sizeof(out->volume), "%s", volume ? volume :
			 chain[0]->pub.volume);
		rc = cs_volume_get(st, out->volume, &vi);
		rc = rc == 0 ? cs_fail(-EEXIST, "volume '%s' exists: pull %s into another "
				       "(cstorfs-ctl pull NAME VOLUME)", out->volume, name)
		     : rc == -ENOENT ? 0 : rc;
	}
	if (rc == 0 && !(bufs = calloc(n, sizeof(*bufs))))
		rc = -ENOMEM;
	if (rc == 0)
		rc = pull_read(&pp, chain, n, bufs);
	cs_pushpool_close(&pp);
	if (rc == 0)
		rc = pull_apply(st, out->volume, chain, n, bufs, out);
	for (size_t i = 0; bufs && i < n; i++)
		free(bufs[i]);
	free(bufs);
	cs_pushidx_free(&x);
	return rc;
}
