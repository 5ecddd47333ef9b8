/*
 * test_cfile.c - local chunk files (store/cs_cfile.c) through the public
 * library: chunk bytes are written once, to the chunk files and not the
 * database; bytes nothing names are cut at open; space comes back by
 * liveness (a file nothing uses goes without a copy; a mostly-garbage one
 * has its live chunks moved) while readers and writers go on; a store
 * whose chunks live in the database (written before chunk files) still
 * reads, and frees them.
 */
#include "testutil.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FX ((struct tu_fx *)*state)
#define R CS_ROOT_INO
#define MiB (1u << 20)

/* Write @mib MiB of fresh random bytes to new file @name; returns its ino. */
static uint64_t write_random(struct tu_fx *fx, const char *name, unsigned mib, uint64_t seed)
{
	uint8_t *buf = tu_malloc(MiB);
	uint64_t ino = tu_mkfile(fx, fx->vol, R, name);
	struct tu_rng r;

	tu_rng_seed(&r, seed);
	for (unsigned i = 0; i < mib; i++) {
		tu_rng_fill(&r, buf, MiB);
		tu_write(fx->vol, ino, (uint64_t)i * MiB, buf, MiB);
	}
	tu_free(buf);
	return ino;
}

static void read_random(struct tu_fx *fx, uint64_t ino, unsigned mib, uint64_t seed)
{
	uint8_t *buf = tu_malloc(MiB);
	struct tu_rng r;

	tu_rng_seed(&r, seed);
	for (unsigned i = 0; i < mib; i++) {
		tu_rng_fill(&r, buf, MiB);
		tu_read_expect(fx->vol, ino, (uint64_t)i * MiB, buf, MiB);
	}
	tu_free(buf);
}

static void delete_file(struct tu_fx *fx, const char *name)
{
	uint64_t orphan = 0;

	TU_OK(cs_unlink(fx->vol, R, name, &orphan));
	if (orphan)
		TU_OK(cs_orphan_release(fx->vol, orphan));
}

/* 16 MiB of incompressible data: its bytes are in the chunk files, once;
 * the database holds only metadata. */
static void test_chunk_bytes_are_written_once_to_chunk_files(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_store_chunks c;
	uint64_t ino = write_random(fx, "f", 16, 1), files = 0;

	TU_OK(cs_vol_sync(fx->vol));
	uint64_t chunks = tu_disk_bytes(fx, "chunks", &files), db = tu_disk_bytes(fx, "db", NULL);
	TU_EXPECT(chunks >= 16 * MiB, "chunk files take %llu bytes for 16 MiB",
		  (unsigned long long)chunks);
	TU_EXPECT(db < 4 * MiB, "the database takes %llu bytes for 16 MiB of chunk data",
		  (unsigned long long)db);
	TU_OK(cs_store_chunks(fx->st, &c));
	TU_EXPECT_STR(c.kind, "local", "chunk store kind");
	TU_EXPECT(c.files == files && c.files >= 1, "%llu chunk files counted, %llu on disk",
		  (unsigned long long)c.files, (unsigned long long)files);
	TU_EXPECT(c.live_bytes >= 16 * MiB && c.live_bytes <= c.bytes, "live %llu of %llu",
		  (unsigned long long)c.live_bytes, (unsigned long long)c.bytes);
	tu_store_reopen(fx, 1);
	read_random(fx, ino, 16, 1);
	tu_check_recount(fx);
}

/* A tail of a chunk file nothing names (a put whose batch never came: a
 * crash between the two) is cut at the next open; named bytes stay. */
static void test_unnamed_tail_is_cut_at_open(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t ino = write_random(fx, "f", 3, 2);
	char path[PATH_MAX + 64];
	struct stat before, after;
	uint8_t junk[100000];
	int fd;

	TU_OK(cs_vol_sync(fx->vol));
	tu_store_close(fx);
	snprintf(path, sizeof(path), "%.3000s/chunks/00000001.ck", fx->dir);
	TU_EXPECT(stat(path, &before) == 0, "stat %s: %s", path, strerror(errno));
	memset(junk, 0xab, sizeof(junk));
	fd = open(path, O_WRONLY | O_APPEND);
	TU_EXPECT(fd >= 0 && write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk),
		  "appending to %s", path);
	close(fd);
	tu_store_reopen(fx, 1);
	TU_EXPECT(stat(path, &after) == 0, "stat %s", path);
	TU_EXPECT_EQ(after.st_size, before.st_size, "the unnamed tail was not cut");
	read_random(fx, ino, 3, 2);
	ino = write_random(fx, "g", 2, 3); /* appends where the tail was */
	TU_OK(cs_vol_sync(fx->vol));
	tu_store_reopen(fx, 1);
	read_random(fx, tu_lookup(fx->vol, R, "f"), 3, 2);
	read_random(fx, ino, 2, 3);
	tu_check_recount(fx);
}

/* Write, delete, write: a chunk file nothing uses goes without a copy,
 * and the disk the store takes stays that of the live data. */
static void test_write_delete_write_gives_space_back(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_store_chunks c;
	uint64_t peak = 0;

	for (int round = 0; round < 3; round++) {
		uint64_t ino = write_random(fx, "big", 100, 10 + (uint64_t)round);

		TU_OK(cs_vol_sync(fx->vol));
		read_random(fx, ino, 2, 10 + (uint64_t)round);
		delete_file(fx, "big");
		TU_OK(cs_gc(fx->st, NULL));
		TU_EXPECT(cs_gc_wanted(fx->st), "round %d: 100 MiB deleted, nothing due", round);
		int gc = cs_gc_compact(fx->st);
		TU_EXPECT(gc == 1, "round %d: nothing given back (%d: %s)", round, gc, cs_last_error());
		uint64_t on_disk = tu_disk_bytes(fx, "chunks", NULL);
		if (on_disk > peak)
			peak = on_disk;
		TU_OK(cs_store_chunks(fx->st, &c));
		TU_EXPECT(c.live_bytes < MiB, "round %d: %llu bytes live after deleting all",
			  round, (unsigned long long)c.live_bytes);
	}
	TU_EXPECT(peak < 16 * MiB, "chunk files took %llu bytes after deleting everything",
		  (unsigned long long)peak);
	TU_OK(cs_store_chunks(fx->st, &c));
	TU_EXPECT(c.reclaimed_bytes >= 250 * (uint64_t)MiB, "only %llu bytes given back",
		  (unsigned long long)c.reclaimed_bytes);
	tu_check_recount(fx);
}

/* A delete gives back the chunk files nothing names any more at once
 * (settle: its commit syncs the WAL when a whole file died, so rule 2
 * holds), without the gc; files that still hold a live chunk stay. */
static void test_a_sync_after_a_delete_gives_dead_files_back(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t keep = write_random(fx, "keep", 3, 31), nfiles = 0;

	write_random(fx, "big", 140, 32);
	TU_OK(cs_vol_sync(fx->vol));
	TU_EXPECT(tu_disk_bytes(fx, "chunks", &nfiles) > 140 * (uint64_t)MiB && nfiles >= 3,
		  "140 MiB written: %llu files", (unsigned long long)nfiles);
	delete_file(fx, "big");
	/* the delete's own commit saw a whole file die: its WAL sync and the
	 * file's removal came with it, before any sync of ours */
	uint64_t after = tu_disk_bytes(fx, "chunks", &nfiles);
	TU_EXPECT(after < 80 * (uint64_t)MiB, "%llu bytes in %llu chunk files after the delete",
		  (unsigned long long)after, (unsigned long long)nfiles);
	TU_OK(cs_vol_sync(fx->vol));
	after = tu_disk_bytes(fx, "chunks", &nfiles);
	TU_EXPECT(after < 80 * (uint64_t)MiB, "%llu bytes in %llu chunk files after the sync",
		  (unsigned long long)after, (unsigned long long)nfiles);
	read_random(fx, keep, 3, 31);
	tu_store_reopen(fx, 1);
	read_random(fx, tu_lookup(fx->vol, R, "keep"), 3, 31);
	tu_check_recount(fx);
}

struct busy {
	struct tu_fx *fx;
	uint64_t ino;
	int stop, err, rounds;
};

/* Read file "keep" (12 MiB, seed 21) again and again. */
static void *reader_main(void *arg)
{
	struct busy *b = arg;
	uint8_t *want = malloc(MiB), *got = malloc(MiB);
	struct tu_rng r;

	while (want && got && !__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE) && !b->err) {
		tu_rng_seed(&r, 21);
		for (unsigned i = 0; i < 12 && !b->err; i++) {
			tu_rng_fill(&r, want, MiB);
			ssize_t n = cs_read(b->fx->vol, b->ino, (uint64_t)i * MiB, got, MiB);

			if (n != (ssize_t)MiB || memcmp(want, got, MiB))
				b->err = n < 0 ? (int)n : -EIO;
		}
		b->rounds++;
	}
	free(want);
	free(got);
	return NULL;
}

/* Live chunks of mostly-garbage files move while a reader reads them and
 * a writer writes: every byte reads back, during and after, and the
 * counters add up. */
static void test_reclaim_moves_live_chunks_under_readers_and_writers(void **state)
{
	struct tu_fx *fx = FX;
	uint8_t *buf = tu_malloc(MiB);
	uint64_t keep = tu_mkfile(fx, fx->vol, R, "keep"), junk = tu_mkfile(fx, fx->vol, R, "junk");
	struct tu_rng rk, rj;
	struct busy b = {.fx = fx, .ino = keep};
	pthread_t t;

	/* interleaved: every chunk file holds both */
	tu_rng_seed(&rk, 21);
	tu_rng_seed(&rj, 22);
	for (unsigned i = 0; i < 96; i++) {
		int k = i % 8 == 0;

		tu_rng_fill(k ? &rk : &rj, buf, MiB);
		tu_write(fx->vol, k ? keep : junk, (uint64_t)(k ? i / 8 : i - i / 8 - 1) * MiB, buf,
			 MiB);
	}
	TU_OK(cs_vol_sync(fx->vol));
	uint64_t before = tu_disk_bytes(fx, "chunks", NULL);
	delete_file(fx, "junk");
	TU_OK(pthread_create(&t, NULL, reader_main, &b));
	uint64_t w = write_random(fx, "new", 8, 23); /* while reclaim may run */
	int rc;
	while ((rc = cs_gc_compact(fx->st)) == 1)
		;
	TU_OK(rc);
	__atomic_store_n(&b.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	TU_EXPECT_RC(b.err, 0);
	TU_EXPECT(b.rounds >= 1, "the reader never finished a round");
	uint64_t after = tu_disk_bytes(fx, "chunks", NULL);
	TU_EXPECT(after < before / 2, "chunk files: %llu bytes before, %llu after",
		  (unsigned long long)before, (unsigned long long)after);
	read_random(fx, keep, 12, 21);
	read_random(fx, w, 8, 23);
	tu_store_reopen(fx, 1);
	read_random(fx, tu_lookup(fx->vol, R, "keep"), 12, 21);
	read_random(fx, tu_lookup(fx->vol, R, "new"), 8, 23);
	tu_free(buf);
	tu_check_recount(fx);
}

/* ---- a store written before chunk files ---- */

/* With the store closed: move every chunk's bytes from the chunk files into
 * the database's "chunks" family, as stores kept them before chunk files,
 * and remove the chunk files. Returns the number of chunks moved. */
static int make_old_store(const char *store)
{
	char path[PATH_MAX + 8], *e = NULL;
	rocksdb_options_t *opt = rocksdb_options_create();
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_column_family_handle_t *h[8] = {0};
	const rocksdb_options_t *cfo[8];
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	size_t ncf = 0;
	char **cfs;
	int ci = -1, n = 0;

	snprintf(path, sizeof(path), "%.3000s/db", store);
	rocksdb_writeoptions_set_sync(wo, 1);
	cfs = rocksdb_list_column_families(opt, path, &ncf, &e);
	TU_EXPECT(!e && ncf <= 8, "list column families: %s", e ? e : "too many");
	for (size_t i = 0; i < ncf; i++) {
		cfo[i] = opt;
		if (!strcmp(cfs[i], "chunks"))
			ci = (int)i;
	}
	rocksdb_t *db = rocksdb_open_column_families(opt, path, (int)ncf, (const char *const *)cfs,
						     cfo, h, &e);
	TU_EXPECT(!e && ci >= 0, "open %s: %s", path, e ? e : "no chunks family");
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(db, ro, h[ci]);
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t kl, vl;
		const char *k = rocksdb_iter_key(it, &kl);
		const unsigned char *v = (const unsigned char *)rocksdb_iter_value(it, &vl);
		char fpath[PATH_MAX + 32];
		uint32_t stored, id;
		uint64_t off = 0;
		char *val;
		int fd;

		TU_EXPECT(vl == 21 && v[0] == 'F', "an index entry that is not a chunk-file ref");
		stored = (uint32_t)v[1] << 24 | v[2] << 16 | v[3] << 8 | v[4];
		id = (uint32_t)v[9] << 24 | v[10] << 16 | v[11] << 8 | v[12];
		for (int i = 13; i < 21; i++)
			off = off << 8 | v[i];
		snprintf(fpath, sizeof(fpath), "%.3000s/chunks/%08x.ck", store, id);
		val = tu_malloc(stored);
		fd = open(fpath, O_RDONLY);
		TU_EXPECT(fd >= 0 && pread(fd, val, stored, (off_t)off) == (ssize_t)stored,
			  "reading %s", fpath);
		close(fd);
		rocksdb_writebatch_put_cf(wb, h[ci], k, kl, val, stored);
		tu_free(val);
		n++;
	}
	rocksdb_iter_destroy(it);
	rocksdb_write(db, wo, wb, &e);
	TU_EXPECT(!e, "write: %s", e ? e : "");
	rocksdb_writebatch_destroy(wb);
	for (size_t i = 0; i < ncf; i++)
		rocksdb_column_family_handle_destroy(h[i]);
	rocksdb_close(db);
	rocksdb_list_column_families_destroy(cfs, ncf);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_readoptions_destroy(ro);
	rocksdb_options_destroy(opt);
	snprintf(path, sizeof(path), "%.3000s/chunks", store);
	tu_rmrf(path);
	return n;
}

static void test_store_with_chunks_in_the_database_still_reads_and_frees(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t a = write_random(fx, "a", 4, 31);

	write_random(fx, "b", 2, 32);
	TU_OK(cs_vol_sync(fx->vol));
	tu_store_close(fx);
	TU_EXPECT(make_old_store(fx->dir) >= 96, "too few chunks moved into the database");
	tu_store_reopen(fx, 1);
	read_random(fx, tu_lookup(fx->vol, R, "a"), 4, 31);
	tu_check_recount(fx);
	delete_file(fx, "b"); /* frees chunks kept in the database */
	a = write_random(fx, "c", 2, 33); /* new chunks go to chunk files */
	TU_OK(cs_vol_sync(fx->vol));
	tu_check_recount(fx);
	tu_store_reopen(fx, 1);
	read_random(fx, tu_lookup(fx->vol, R, "a"), 4, 31);
	read_random(fx, tu_lookup(fx->vol, R, "c"), 2, 33);
	(void)a;
	tu_check_recount(fx);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_chunk_bytes_are_written_once_to_chunk_files),
	    T(test_a_sync_after_a_delete_gives_dead_files_back),
	    T(test_unnamed_tail_is_cut_at_open),
	    T(test_write_delete_write_gives_space_back),
	    T(test_reclaim_moves_live_chunks_under_readers_and_writers),
	    T(test_store_with_chunks_in_the_database_still_reads_and_frees),
	};
	return cmocka_run_group_tests_name("chunk files", tests, tu_group_setup,
					   tu_group_teardown);
}
