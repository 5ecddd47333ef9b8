/*
 * test_scrub.c - cs_scrub_*: a scrub reads every chunk (or one volume's),
 * finds chunks damaged in RocksDB (rewritten with wrong bytes under their
 * key, or deleted, with the store closed), names the files and snapshots
 * that use them, honours a rate limit and a cancel, and leaves its summary
 * in the store.
 *
 * Scrub handles a test starts are tracked and freed by the teardown before
 * the store closes, so a failing test leaves no thread behind.
 */
#include "testutil.h"
#include <fcntl.h>
#include <unistd.h>

#include <errno.h>
#include <string.h>
#include <openssl/evp.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>

#define FX (*(struct tu_fx **)state)
#define R CS_ROOT_INO
#define CH ((uint64_t)CS_CHUNK_SIZE)

/* ------------------------------------------------------------------ */
/* Fixture: tracked scrubs                                            */
/* ------------------------------------------------------------------ */

#define MAX_SCRUBS 8
static cs_scrub *scrubs[MAX_SCRUBS];

static cs_scrub *scrub_start(struct tu_fx *fx, const char *volume, uint64_t rate)
{
	struct cs_scrub_opts o = {.volume = volume, .rate = rate};
	cs_scrub *s = NULL;

	TU_OK(cs_scrub_start(fx->st, &o, &s));
	for (int i = 0; i < MAX_SCRUBS; i++)
		if (!scrubs[i]) {
			scrubs[i] = s;
			return s;
		}
	fail_msg("more than %d scrubs in one test", MAX_SCRUBS);
	return NULL;
}

static void scrub_free(cs_scrub *s)
{
	for (int i = 0; i < MAX_SCRUBS; i++)
		if (scrubs[i] == s)
			scrubs[i] = NULL;
	cs_scrub_free(s);
}

static int teardown(void **state)
{
	for (int i = 0; i < MAX_SCRUBS; i++) {
		cs_scrub_free(scrubs[i]);
		scrubs[i] = NULL;
	}
	return tu_teardown(state);
}

/* Start a scrub, wait for its end (60 s at most), return its status; the
 * handle stays in *@out (NULL: freed here). */
static struct cs_scrub_status scrub_run(struct tu_fx *fx, const char *volume, uint64_t rate,
					cs_scrub **out)
{
	struct cs_scrub_status st;
	cs_scrub *s = scrub_start(fx, volume, rate);

	TU_EXPECT_RC(cs_scrub_wait(s, 60000), 0);
	cs_scrub_status(s, &st);
	if (out)
		*out = s;
	else
		scrub_free(s);
	return st;
}

/* ------------------------------------------------------------------ */
/* Data and damage                                                    */
/* ------------------------------------------------------------------ */

static void sha256(const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 0;

	EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

/* One chunk of random bytes from @seed (last byte non-zero: a chunk is
 * stored without trailing zeros) and its SHA-256. */
static uint8_t *chunk_bytes(uint64_t seed, uint8_t hash[32])
{
	uint8_t *b = tu_malloc(CH);
	struct tu_rng r;

	assert_non_null(b);
	tu_rng_seed(&r, seed);
	tu_rng_fill(&r, b, CH);
	b[CH - 1] = 0xff;
	if (hash)
		sha256(b, CH, hash);
	return b;
}

/* Write chunk @seed at chunk index @idx of @ino. */
static void put_chunk(cs_vol *v, uint64_t ino, uint64_t idx, uint64_t seed, uint8_t hash[32])
{
	uint8_t *b = chunk_bytes(seed, hash);

	tu_write(v, ino, idx * CH, b, CH);
	tu_free(b);
}

enum harm { CORRUPT, DELETE };

/* With the store closed: open its RocksDB directly and damage the value
 * of chunk @hash (flip a byte near its end, under the same key) or delete
 * it. Returns 0, or -1 with @err filled. */
static int harm_chunk(const char *store, const uint8_t hash[32], enum harm how, char *err,
		      size_t errlen)
{
	char path[PATH_MAX + 8], *e = NULL;
	rocksdb_options_t *opt = rocksdb_options_create();
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_column_family_handle_t *h[8] = {0};
	const rocksdb_options_t *cfo[8];
	rocksdb_t *db = NULL;
	char **cfs = NULL, *val = NULL;
	size_t ncf = 0, vlen = 0;
	int ci = -1, ret = -1;

	snprintf(path, sizeof(path), "%s/db", store);
	rocksdb_writeoptions_set_sync(wo, 1);
	cfs = rocksdb_list_column_families(opt, path, &ncf, &e);
	if (e || ncf > 8) {
		snprintf(err, errlen, "list column families: %s", e ? e : "too many");
		goto out;
	}
	for (size_t i = 0; i < ncf; i++) {
		cfo[i] = opt;
		if (!strcmp(cfs[i], "chunks"))
			ci = (int)i;
	}
	if (ci < 0) {
		snprintf(err, errlen, "no \"chunks\" column family");
		goto out;
	}
	db =
	    rocksdb_open_column_families(opt, path, (int)ncf, (const char *const *)cfs, cfo, h, &e);
	if (e) {
		snprintf(err, errlen, "open %.200s: %.200s", path, e);
		db = NULL;
		goto out;
	}
	val = rocksdb_get_cf(db, ro, h[ci], (const char *)hash, 32, &vlen, &e);
	if (e || !val || vlen < 16) {
		snprintf(err, errlen, "chunk not found in \"chunks\" (%s)", e ? e : "absent");
		goto out;
	}
	if (how == CORRUPT && val[0] == 'F' && vlen == 21) {
		/* a ref into a chunk file (store/cs_cfile.c): flip a byte there */
		const unsigned char *u = (const unsigned char *)val;
		uint32_t stored = (uint32_t)u[1] << 24 | u[2] << 16 | u[3] << 8 | u[4];
		uint32_t id = (uint32_t)u[9] << 24 | u[10] << 16 | u[11] << 8 | u[12];
		uint64_t off = 0;
		char fpath[PATH_MAX + 32];
		unsigned char c;
		int fd;

		for (int i = 13; i < 21; i++)
			off = off << 8 | u[i];
		snprintf(fpath, sizeof(fpath), "%.3000s/chunks/%08x.ck", store, id);
		fd = open(fpath, O_RDWR);
		if (fd < 0 || pread(fd, &c, 1, (off_t)(off + stored - 3)) != 1 ||
		    (c ^= 0x5a, pwrite(fd, &c, 1, (off_t)(off + stored - 3))) != 1 || fsync(fd)) {
			snprintf(err, errlen, "flipping a byte of %.200s: %s", fpath, strerror(errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		close(fd);
		ret = 0;
		goto out;
	}
	if (how == CORRUPT) {
		val[vlen - 3] ^= 0x5a;
		rocksdb_put_cf(db, wo, h[ci], (const char *)hash, 32, val, vlen, &e);
	} else {
		rocksdb_delete_cf(db, wo, h[ci], (const char *)hash, 32, &e);
	}
	if (e)
		snprintf(err, errlen, "rewrite: %s", e);
	else
		ret = 0;
out:
	rocksdb_free(e);
	rocksdb_free(val);
	for (size_t i = 0; i < ncf && i < 8; i++)
		if (h[i])
			rocksdb_column_family_handle_destroy(h[i]);
	if (db)
		rocksdb_close(db);
	if (cfs)
		rocksdb_list_column_families_destroy(cfs, ncf);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_readoptions_destroy(ro);
	rocksdb_options_destroy(opt);
	return ret;
}

/* Close the store, damage chunk @hash, reopen (volume "vol" reopened). */
static void damage(struct tu_fx *fx, const uint8_t hash[32], enum harm how)
{
	char err[512];

	TU_OK(cs_store_sync(fx->st));
	tu_store_close(fx);
	TU_EXPECT(harm_chunk(fx->dir, hash, how, err, sizeof(err)) == 0, "damaging: %s", err);
	tu_store_reopen(fx, 1);
}

/* ------------------------------------------------------------------ */
/* What a scrub reported                                              */
/* ------------------------------------------------------------------ */

#define MAX_REPORT 32
struct report {
	int n;
	char hex[MAX_REPORT][65];
	char reason[MAX_REPORT][256];
	/* one line per file: "VOLUME:PATH live=L snaps=A,B" */
	char files[MAX_REPORT][1024];
};

static int report_fn(void *ctx, const struct cs_scrub_damage *d)
{
	struct report *r = ctx;
	size_t used = 0;
	char *f;

	if (r->n == MAX_REPORT)
		return 0;
	snprintf(r->hex[r->n], 65, "%s", d->hex);
	snprintf(r->reason[r->n], 256, "%s", d->reason);
	f = r->files[r->n];
	f[0] = 0;
	for (size_t i = 0; i < d->nfiles; i++) {
		const struct cs_scrub_file *x = &d->files[i];

		used += (size_t)snprintf(f + used, 1024 - used, "[%s:%s live=%d snaps=", x->volume,
					 x->path ? x->path : "-", x->live);
		for (size_t j = 0; j < x->nsnapshots && used < 1024; j++)
			used += (size_t)snprintf(f + used, 1024 - used, "%s%s", j ? "," : "",
						 x->snapshots[j]);
		if (used < 1024)
			used += (size_t)snprintf(f + used, 1024 - used, "]");
		if (used >= 1024)
			break;
	}
	r->n++;
	return 0;
}

static void report_of(cs_scrub *s, struct report *r)
{
	memset(r, 0, sizeof(*r));
	TU_OK(cs_scrub_damage_foreach(s, report_fn, r));
}

static void hexof(const uint8_t h[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
}

#define EXPECT_FILE(r, i, want)                                                                    \
	TU_EXPECT(strstr((r)->files[i], want) != NULL,                                             \
		  "the damaged chunk's files\n  expected to contain: %s\n  seen:     %s", want,    \
		  (r)->files[i])

/* ------------------------------------------------------------------ */
/* Tests                                                              */
/* ------------------------------------------------------------------ */

static void test_clean_store_scrub_reads_every_chunk_and_finds_nothing(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	uint8_t *text = tu_malloc(3 * CH);

	assert_non_null(text);
	tu_fill_text(text, 3 * CH, 7); /* compressed chunks */
	tu_write(fx->vol, f, 0, text, 3 * CH);
	tu_free(text);
	put_chunk(fx->vol, f, 3, 1, NULL); /* a raw one */
	put_chunk(fx->vol, f, 4, 1, NULL); /* the same bytes: stored once */
	TU_OK(cs_snapshot_create(fx->st, "vol", "s1", NULL));
	put_chunk(fx->vol, f, 0, 2, NULL); /* the snapshot keeps the old one */
	TU_OK(cs_volume_create(fx->st, "empty", NULL, 0, 0, NULL));
	struct cs_store_stats ss = tu_stats(fx);

	cs_scrub *s;
	struct cs_scrub_status st = scrub_run(fx, NULL, 0, &s);
	struct report r;

	report_of(s, &r);
	TU_EXPECT_STR(cs_scrub_state_name(st.state), "finished", "state");
	TU_EXPECT_STR(cs_scrub_phase_name(st.phase), "done", "phase");
	TU_EXPECT_EQ(st.damaged, 0, "damaged chunks");
	TU_EXPECT_EQ(r.n, 0, "damage reported");
	TU_EXPECT_EQ(ss.chunks, 5, "chunks in the store (3 text + 1 raw + 1 rewritten)");
	TU_EXPECT_EQ(st.chunks_done, ss.chunks, "chunks read");
	TU_EXPECT_EQ(st.chunks_total, ss.chunks, "chunks to read");
	TU_EXPECT_EQ(st.bytes_done, ss.stored_bytes, "bytes read");
	TU_EXPECT_EQ(st.bytes_total, ss.stored_bytes, "bytes to read");
	TU_EXPECT_STR(st.volume, "", "volume of a whole-store scrub");
	TU_EXPECT(st.started_ns > 0 && st.finished_ns >= st.started_ns, "times %lld %lld",
		  (long long)st.started_ns, (long long)st.finished_ns);
	/* an empty volume: nothing to read, and that is fine */
	st = scrub_run(fx, "empty", 0, NULL);
	TU_EXPECT_STR(cs_scrub_state_name(st.state), "finished", "state (empty volume)");
	TU_EXPECT_EQ(st.chunks_total, 0, "chunks of an empty volume");
}

/*
 * Chunk X is used by: vol:/d/f as snapshot s1 saw it, vol:/g (the same
 * inode renamed) in s2 and live, vol:/h live (the same bytes, deduplicated),
 * other:/o live, and clone cl of vol@s1 through its origin at /d/f.
 */
static void test_corrupt_chunk_is_named_with_files_and_snapshots(void **state)
{
	struct tu_fx *fx = FX;
	uint8_t x[32], a[32];
	char xhex[65], ahex[65];
	uint64_t d = tu_mkdir(fx, fx->vol, R, "d");
	uint64_t f = tu_mkfile(fx, fx->vol, d, "f");

	put_chunk(fx->vol, f, 0, 100, a);
	put_chunk(fx->vol, f, 1, 200, x);
	TU_OK(cs_snapshot_create(fx->st, "vol", "s1", NULL));
	TU_OK(cs_rename(fx->vol, d, "f", R, "g", 0, NULL));
	TU_OK(cs_snapshot_create(fx->st, "vol", "s2", NULL));
	put_chunk(fx->vol, tu_mkfile(fx, fx->vol, R, "h"), 0, 200, NULL);
	TU_OK(cs_volume_create(fx->st, "other", NULL, 0, 0, NULL));
	cs_vol *o = tu_vol_open(fx, "other", 0);
	put_chunk(o, tu_mkfile(fx, o, R, "o"), 2, 200, NULL);
	TU_OK(cs_clone_create(fx->st, "vol", "s1", "cl", NULL, NULL));
	damage(fx, x, CORRUPT);

	cs_scrub *s;
	struct cs_scrub_status st = scrub_run(fx, NULL, 0, &s);
	struct report r;

	report_of(s, &r);
	hexof(x, xhex);
	hexof(a, ahex);
	TU_EXPECT_STR(cs_scrub_state_name(st.state), "finished", "state");
	TU_EXPECT_EQ(st.damaged, 1, "damaged chunks");
	TU_EXPECT_EQ(st.chunks_done, 2, "chunks read");
	TU_EXPECT_EQ(r.n, 1, "damaged chunks reported");
	TU_EXPECT_STR(r.hex[0], xhex, "the damaged chunk");
	TU_EXPECT(strstr(r.reason[0], "SHA-256") != NULL, "reason: %s", r.reason[0]);
	EXPECT_FILE(&r, 0, "[vol:/d/f live=0 snaps=s1]");
	EXPECT_FILE(&r, 0, "[vol:/g live=1 snaps=s2]");
	EXPECT_FILE(&r, 0, "[vol:/h live=1 snaps=]");
	EXPECT_FILE(&r, 0, "[other:/o live=1 snaps=]");
	EXPECT_FILE(&r, 0, "[cl:/d/f live=1 snaps=]");
	TU_EXPECT(strstr(r.files[0], ahex) == NULL, "chunk A named");
	/* and reading the file says the same */
	uint8_t buf[16];
	TU_EXPECT_RC(cs_read(fx->vol, tu_lookup(fx->vol, R, "g"), CH, buf, sizeof(buf)), -EIO);
}

static void test_missing_chunk_is_reported(void **state)
{
	struct tu_fx *fx = FX;
	uint8_t x[32];
	char xhex[65];
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");

	put_chunk(fx->vol, f, 0, 1, NULL);
	put_chunk(fx->vol, f, 1, 2, x);
	damage(fx, x, DELETE);
	cs_scrub *s;
	struct cs_scrub_status st = scrub_run(fx, NULL, 0, &s);
	struct report r;

	report_of(s, &r);
	hexof(x, xhex);
	TU_EXPECT_EQ(st.damaged, 1, "damaged chunks");
	TU_EXPECT_EQ(r.n, 1, "damaged chunks reported");
	TU_EXPECT_STR(r.hex[0], xhex, "the missing chunk");
	TU_EXPECT(strstr(r.reason[0], "missing") != NULL, "reason: %s", r.reason[0]);
	EXPECT_FILE(&r, 0, "[vol:/f live=1 snaps=]");
}

static void test_corrupt_compressed_chunk_is_found(void **state)
{
	struct tu_fx *fx = FX;
	uint8_t *text = tu_malloc(CH), h[32];
	uint64_t f = tu_mkfile(fx, fx->vol, R, "text");

	assert_non_null(text);
	tu_fill_text(text, CH, 3);
	sha256(text, CH, h);
	tu_write(fx->vol, f, 0, text, CH);
	tu_free(text);
	TU_EXPECT(tu_stats(fx).stored_bytes < CH / 2, "the text chunk is compressed");
	damage(fx, h, CORRUPT);
	cs_scrub *s;
	struct cs_scrub_status st = scrub_run(fx, NULL, 0, &s);
	struct report r;

	report_of(s, &r);
	TU_EXPECT_EQ(st.damaged, 1, "damaged chunks");
	TU_EXPECT_EQ(r.n, 1, "damaged chunks reported");
	EXPECT_FILE(&r, 0, "[vol:/text live=1 snaps=]");
}

static void test_volume_scrub_reads_only_that_volumes_chunks(void **state)
{
	struct tu_fx *fx = FX;
	uint8_t b1[32];

	TU_OK(cs_volume_create(fx->st, "a", NULL, 0, 0, NULL));
	TU_OK(cs_volume_create(fx->st, "b", NULL, 0, 0, NULL));
	cs_vol *va = tu_vol_open(fx, "a", 0), *vb = tu_vol_open(fx, "b", 0);
	uint64_t fa = tu_mkfile(fx, va, R, "fa");

	put_chunk(va, fa, 0, 10, NULL);
	put_chunk(va, fa, 1, 11, NULL);
	TU_OK(cs_snapshot_create(fx->st, "a", "s", NULL));
	put_chunk(va, fa, 1, 12, NULL); /* a's snapshot holds 11, live 12 */
	put_chunk(vb, tu_mkfile(fx, vb, R, "fb"), 0, 20, b1);
	TU_OK(cs_clone_create(fx->st, "a", "s", "ca", NULL, NULL));
	tu_vol_close(fx, va);
	tu_vol_close(fx, vb);
	damage(fx, b1, CORRUPT);

	struct cs_scrub_status st = scrub_run(fx, "a", 0, NULL);
	TU_EXPECT_STR(cs_scrub_state_name(st.state), "finished", "state (a)");
	TU_EXPECT_STR(st.volume, "a", "volume");
	TU_EXPECT_EQ(st.chunks_total, 3, "chunks of a (live and snapshot)");
	TU_EXPECT_EQ(st.chunks_done, 3, "chunks read of a");
	TU_EXPECT_EQ(st.damaged, 0, "damage in a");
	st = scrub_run(fx, "ca", 0, NULL);
	TU_EXPECT_EQ(st.chunks_done, 2, "chunks a clone reads through (a@s)");
	TU_EXPECT_EQ(st.damaged, 0, "damage in ca");

	cs_scrub *s;
	struct report r;
	st = scrub_run(fx, "b", 0, &s);
	report_of(s, &r);
	TU_EXPECT_EQ(st.chunks_done, 1, "chunks read of b");
	TU_EXPECT_EQ(st.damaged, 1, "damage in b");
	TU_EXPECT_EQ(r.n, 1, "damage reported for b");
	EXPECT_FILE(&r, 0, "[b:/fb live=1 snaps=]");
}

/* 8 chunks at 64 KiB/s: about 8 s unless cancelled, so a cancel that
 * did not work shows as "finished". */
static void test_cancel_stops_a_rate_limited_scrub(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	struct cs_scrub_status st;

	for (uint64_t i = 0; i < 8; i++)
		put_chunk(fx->vol, f, i, 50 + i, NULL);
	TU_OK(cs_store_sync(fx->st));
	cs_scrub *s = scrub_start(fx, NULL, CH);
	cs_scrub_status(s, &st);
	TU_EXPECT_STR(cs_scrub_state_name(st.state), "running", "state after start");
	TU_EXPECT_EQ(st.rate, CH, "rate");
	TU_EXPECT_EQ(st.chunks_total, 8, "chunks to read");
	cs_scrub_cancel(s);
	TU_EXPECT_RC(cs_scrub_wait(s, 30000), 0);
	cs_scrub_status(s, &st);
	TU_EXPECT_STR(cs_scrub_state_name(st.state), "cancelled", "state after cancel");
	TU_EXPECT(st.chunks_done < 8, "a cancelled scrub read all %llu chunks",
		  (unsigned long long)st.chunks_done);
	scrub_free(s);
	/* a handle freed while running stops it too (teardown would hang) */
	s = scrub_start(fx, NULL, CH);
	scrub_free(s);
	struct cs_scrub_status last;
	TU_OK(cs_scrub_last(fx->st, &last));
	TU_EXPECT_STR(cs_scrub_state_name(last.state), "cancelled", "last state after a free");
}

/* on_end: counts its calls and sees the final state. */
static int ended_calls, ended_state;
static void on_end(void *ctx, cs_scrub *s)
{
	struct cs_scrub_status st;

	cs_scrub_status(s, &st);
	ended_calls++;
	ended_state = st.state;
}

static void test_rate_limited_scrub_completes_and_calls_on_end(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	struct cs_scrub_opts o = {.rate = 4 * CH, .on_end = on_end};
	struct cs_scrub_status st;
	cs_scrub *s = NULL;

	for (uint64_t i = 0; i < 4; i++)
		put_chunk(fx->vol, f, i, 70 + i, NULL);
	ended_calls = ended_state = 0;
	TU_OK(cs_scrub_start(fx->st, &o, &s));
	scrubs[0] = s;
	TU_EXPECT_RC(cs_scrub_wait(s, 60000), 0);
	cs_scrub_status(s, &st);
	scrub_free(s); /* joins: on_end has run */
	TU_EXPECT_STR(cs_scrub_state_name(st.state), "finished", "state");
	TU_EXPECT_EQ(st.chunks_done, 4, "chunks read");
	TU_EXPECT(st.bytes_per_s > 0, "a rate is reported");
	TU_EXPECT_EQ(ended_calls, 1, "on_end calls");
	TU_EXPECT_STR(cs_scrub_state_name(ended_state), "finished", "state seen by on_end");
}

/* Chunks freed while the scrub runs are not damage: a rate-limited scrub
 * reads the first chunk, then every file goes. */
static void test_chunks_freed_during_a_scrub_are_not_damage(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");

	for (uint64_t i = 0; i < 6; i++)
		put_chunk(fx->vol, f, i, 90 + i, NULL);
	TU_OK(cs_store_sync(fx->st));
	cs_scrub *s = scrub_start(fx, NULL, 2 * CH);
	TU_OK(cs_unlink(fx->vol, R, "f", NULL));
	TU_EXPECT_EQ(tu_stats(fx).chunks, 0, "chunks left after the unlink");
	TU_EXPECT_RC(cs_scrub_wait(s, 60000), 0);
	struct cs_scrub_status st;
	cs_scrub_status(s, &st);
	TU_EXPECT_STR(cs_scrub_state_name(st.state), "finished", "state");
	TU_EXPECT_EQ(st.damaged, 0, "damage reported for freed chunks");
	scrub_free(s);
}

static void test_last_result_is_kept_across_reopen(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_scrub_status last;
	uint8_t x[32];

	TU_EXPECT_RC(cs_scrub_last(fx->st, &last), -ENOENT);
	put_chunk(fx->vol, tu_mkfile(fx, fx->vol, R, "f"), 0, 5, x);
	put_chunk(fx->vol, tu_mkfile(fx, fx->vol, R, "g"), 0, 6, NULL);
	damage(fx, x, CORRUPT);
	struct cs_scrub_status st = scrub_run(fx, "vol", 0, NULL);
	tu_store_reopen(fx, 1);
	TU_OK(cs_scrub_last(fx->st, &last));
	TU_EXPECT_STR(cs_scrub_state_name(last.state), "finished", "last state");
	TU_EXPECT_STR(last.volume, "vol", "last volume");
	TU_EXPECT_EQ(last.damaged, 1, "last damaged");
	TU_EXPECT_EQ(last.chunks_done, 2, "last chunks read");
	TU_EXPECT_EQ(last.bytes_done, st.bytes_done, "last bytes read");
	TU_EXPECT_EQ(last.started_ns, st.started_ns, "last start");
	TU_EXPECT_EQ(last.finished_ns, st.finished_ns, "last end");
}

static void test_bad_arguments_are_refused(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_scrub_opts o = {0};
	cs_scrub *s = NULL;
	char longname[300];

	o.volume = "nosuch";
	TU_EXPECT_RC(cs_scrub_start(fx->st, &o, &s), -ENOENT);
	TU_EXPECT(strstr(cs_last_error(), "nosuch") != NULL, "message: %s", cs_last_error());
	o.volume = "a/b";
	TU_EXPECT_RC(cs_scrub_start(fx->st, &o, &s), -EINVAL);
	o.volume = "vol@snap";
	TU_EXPECT_RC(cs_scrub_start(fx->st, &o, &s), -EINVAL);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	o.volume = longname;
	TU_EXPECT_RC(cs_scrub_start(fx->st, &o, &s), -ENAMETOOLONG);
	TU_EXPECT(s == NULL, "a handle after a refusal");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_clean_store_scrub_reads_every_chunk_and_finds_nothing),
	    T(test_corrupt_chunk_is_named_with_files_and_snapshots),
	    T(test_missing_chunk_is_reported),
	    T(test_corrupt_compressed_chunk_is_found),
	    T(test_volume_scrub_reads_only_that_volumes_chunks),
	    T(test_cancel_stops_a_rate_limited_scrub),
	    T(test_rate_limited_scrub_completes_and_calls_on_end),
	    T(test_chunks_freed_during_a_scrub_are_not_damage),
	    T(test_last_result_is_kept_across_reopen),
	    T(test_bad_arguments_are_refused),
	};
	return cmocka_run_group_tests_name("scrub", tests, tu_group_setup, tu_group_teardown);
}
