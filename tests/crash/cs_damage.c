/*
 * cs_damage.c - damage a stopped store on purpose, for the tests of
 * `cstorfs-ctl check` (tests/integration/test_check.py).
 *
 *   cs_damage STORE drop-chunk   delete the first chunk ("chunks" family)
 *   cs_damage STORE bump-ref     add one to the first chunk reference count
 *                                ('R' record in "meta")
 *   cs_damage STORE cut-chunk-file  cut the chunk file holding the first
 *                                chunk just before that chunk's bytes (its
 *                                name stays in "chunks": bytes missing)
 *
 * Opens STORE/db with RocksDB directly (no daemon may hold it), makes the
 * one change with a synced write and prints the chunk's SHA-256 in hex on
 * stdout, so the test can look for it in the check's report. Exit 0 done,
 * 1 failure (message on stderr), 2 usage.
 */
#include <limits.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#define HASH_LEN 32

struct db {
	rocksdb_options_t *opt;
	rocksdb_t *db;
	char **cfs;
	size_t ncf;
	rocksdb_column_family_handle_t **h;
};

static void db_close(struct db *d)
{
	for (size_t i = 0; d->h && i < d->ncf; i++)
		if (d->h[i])
			rocksdb_column_family_handle_destroy(d->h[i]);
	if (d->db)
		rocksdb_close(d->db);
	if (d->cfs)
		rocksdb_list_column_families_destroy(d->cfs, d->ncf);
	free(d->h);
	if (d->opt)
		rocksdb_options_destroy(d->opt);
}

static int db_open(struct db *d, const char *store)
{
	const rocksdb_options_t **cfo = NULL;
	char path[PATH_MAX];
	char *err = NULL;

	snprintf(path, sizeof(path), "%s/db", store);
	d->opt = rocksdb_options_create();
	d->cfs = rocksdb_list_column_families(d->opt, path, &d->ncf, &err);
	if (err)
		goto fail;
	cfo = calloc(d->ncf, sizeof(*cfo));
	d->h = calloc(d->ncf, sizeof(*d->h));
	if (!cfo || !d->h) {
		free(cfo);
		fprintf(stderr, "cs_damage: out of memory\n");
		return -1;
	}
	for (size_t i = 0; i < d->ncf; i++)
		cfo[i] = d->opt;
	d->db = rocksdb_open_column_families(d->opt, path, (int)d->ncf, (const char *const *)d->cfs,
					     cfo, d->h, &err);
	free(cfo);
	if (!err)
		return 0;
fail:
	fprintf(stderr, "cs_damage: open %s: %s\n", path, err);
	free(err);
	d->db = NULL;
	return -1;
}

static rocksdb_column_family_handle_t *cf(struct db *d, const char *name)
{
	for (size_t i = 0; i < d->ncf; i++)
		if (!strcmp(d->cfs[i], name))
			return d->h[i];
	return NULL;
}

static void print_hash(const unsigned char *h)
{
	for (int i = 0; i < HASH_LEN; i++)
		printf("%02x", h[i]);
	printf("\n");
}

/* The first key of @family starting with @prefix (@plen bytes) into @key
 * and its value into @val (malloc'd); 0, or -1 when there is none. */
static int first_key(struct db *d, rocksdb_column_family_handle_t *family, const char *prefix,
		     size_t plen, char *key, size_t *klen, char **val, size_t *vlen)
{
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(d->db, ro, family);
	int rc = -1;

	rocksdb_iter_seek(it, prefix, plen);
	if (rocksdb_iter_valid(it)) {
		const char *k = rocksdb_iter_key(it, klen);
		const char *v = rocksdb_iter_value(it, vlen);

		if (*klen >= plen && *klen <= 1 + HASH_LEN && !memcmp(k, prefix, plen)) {
			memcpy(key, k, *klen);
			*val = malloc(*vlen ? *vlen : 1);
			if (*val) {
				memcpy(*val, v, *vlen);
				rc = 0;
			}
		}
	}
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return rc;
}

/* Cut the chunk file of the first chunk (a ref 'F': stored length, raw
 * length, file id, offset; store/cs_cfile.c) at the chunk's first byte. */
static int cut_chunk_file(struct db *d, const char *store)
{
	char key[1 + HASH_LEN], *val = NULL, path[PATH_MAX];
	const unsigned char *v;
	unsigned long long off = 0;
	unsigned int id;
	size_t klen, vlen;
	int rc = -1;

	if (first_key(d, cf(d, "chunks"), "", 0, key, &klen, &val, &vlen) || klen != HASH_LEN ||
	    vlen != 21 || val[0] != 'F') {
		fprintf(stderr, "cs_damage: the store holds no chunk in a chunk file\n");
		goto out;
	}
	v = (const unsigned char *)val;
	id = (unsigned int)v[9] << 24 | v[10] << 16 | v[11] << 8 | v[12];
	for (int i = 13; i < 21; i++)
		off = off << 8 | v[i];
	snprintf(path, sizeof(path), "%s/chunks/%08x.ck", store, id);
	if (truncate(path, (off_t)off) < 0) {
		perror(path);
		goto out;
	}
	print_hash((unsigned char *)key);
	rc = 0;
out:
	free(val);
	return rc;
}

static int damage(struct db *d, const char *what)
{
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	char key[1 + HASH_LEN], *val = NULL, *err = NULL;
	size_t klen, vlen;
	int rc = -1;

	rocksdb_writeoptions_set_sync(wo, 1);
	if (!strcmp(what, "drop-chunk")) {
		if (first_key(d, cf(d, "chunks"), "", 0, key, &klen, &val, &vlen) ||
		    klen != HASH_LEN) {
			fprintf(stderr, "cs_damage: the store holds no chunk\n");
			goto out;
		}
		rocksdb_delete_cf(d->db, wo, cf(d, "chunks"), key, klen, &err);
		if (!err)
			print_hash((unsigned char *)key);
	} else {
		uint64_t n = 0;

		if (first_key(d, cf(d, "meta"), "R", 1, key, &klen, &val, &vlen) ||
		    klen != 1 + HASH_LEN || vlen < 8) {
			fprintf(stderr, "cs_damage: the store holds no reference record\n");
			goto out;
		}
		for (int i = 0; i < 8; i++) /* big-endian count first */
			n = n << 8 | (unsigned char)val[i];
		n++;
		for (int i = 7; i >= 0; i--, n >>= 8)
			val[i] = (char)(n & 0xff);
		rocksdb_put_cf(d->db, wo, cf(d, "meta"), key, klen, val, vlen, &err);
		if (!err)
			print_hash((unsigned char *)key + 1);
	}
	if (err) {
		fprintf(stderr, "cs_damage: write: %s\n", err);
		free(err);
		goto out;
	}
	rc = 0;
out:
	free(val);
	rocksdb_writeoptions_destroy(wo);
	return rc;
}

int main(int argc, char **argv)
{
	struct db d = {0};
	int rc;

	if (argc != 3 || (strcmp(argv[2], "drop-chunk") && strcmp(argv[2], "bump-ref") &&
			  strcmp(argv[2], "cut-chunk-file"))) {
		fprintf(stderr, "usage: cs_damage STORE drop-chunk|bump-ref|cut-chunk-file\n");
		return 2;
	}
	if (db_open(&d, argv[1])) {
		db_close(&d);
		return 1;
	}
	if (!cf(&d, "chunks") || !cf(&d, "meta")) {
		fprintf(stderr, "cs_damage: %s is not a cstorfs store\n", argv[1]);
		db_close(&d);
		return 1;
	}
	rc = strcmp(argv[2], "cut-chunk-file") ? damage(&d, argv[2]) : cut_chunk_file(&d, argv[1]);
	db_close(&d);
	return rc ? 1 : 0;
}
