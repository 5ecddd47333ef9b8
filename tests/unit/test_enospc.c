/*
 * test_enospc.c - the store library on a full filesystem (cs_health.c):
 * RocksDB's error strings become ENOSPC / EDQUOT / EROFS / EIO; a store
 * cannot be created on a full filesystem and leaves nothing behind; on a
 * filesystem filled by the store's own writes, writes and syncs fail with
 * -ENOSPC (a sync used to abort inside RocksDB: FlushWAL after a failed
 * write), cs_store_health says FULL, synced data reads back, and once room
 * is made writes go on without reopening.
 *
 * The filesystem tests mount a tmpfs of their own (root only: skipped
 * otherwise), unmounted (detached if busy) in the teardown.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cs_health.h"
#include "testutil.h"

#define R CS_ROOT_INO
#define MiB (1u << 20)
#define FS_MB 192
#define BALLAST_MB 112 /* removed to make room: RocksDB's memtables (96 MiB) can flush */
#define RESUME_S 60    /* RocksDB polls the free space every few seconds */

struct efx {
	struct tu_fx fx; /* fx.dir: the store, inside fs */
	char fs[PATH_MAX - 16];
	char ballast[PATH_MAX + 16];
	int mounted;
};

#define EFX (*(struct efx **)state)

static int efx_setup(void **state)
{
	struct efx *e = calloc(1, sizeof(*e));
	char opts[32];

	if (!e)
		return -1;
	*state = e;
	if (geteuid() != 0)
		return 0; /* the test skips */
	tu_new_path(e->fs, sizeof(e->fs), "fs");
	snprintf(opts, sizeof(opts), "size=%um", FS_MB);
	if (mkdir(e->fs, 0755) < 0 || mount("cstorfs-enospc", e->fs, "tmpfs", 0, opts) < 0)
		return 0;
	e->mounted = 1;
	snprintf(e->fx.dir, sizeof(e->fx.dir), "%s/store", e->fs);
	snprintf(e->ballast, sizeof(e->ballast), "%s/ballast", e->fs);
	e->fx.cred.uid = 1000;
	e->fx.cred.gid = 1000;
	return 0;
}

static int efx_teardown(void **state)
{
	struct efx *e = *state;

	if (!e)
		return 0;
	tu_store_close(&e->fx);
	if (e->mounted && umount2(e->fs, 0) < 0)
		umount2(e->fs, MNT_DETACH);
	if (e->fs[0])
		rmdir(e->fs);
	free(e);
	*state = NULL;
	return 0;
}

static void need_fs(struct efx *e)
{
	if (!e->mounted)
		skip(); /* not root, or no tmpfs */
}

/* A file of @mb MiB (all of the free space when @mb is 0) beside the store;
 * then give back all but @free_kib KiB of the free space when @mb is 0. */
static void make_ballast(struct efx *e, unsigned mb, unsigned free_kib)
{
	static char zero[MiB];
	int fd = open(e->ballast, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct statvfs sv;

	TU_EXPECT(fd >= 0, "open %s: %s", e->ballast, strerror(errno));
	for (unsigned i = 0; mb == 0 || i < mb; i++)
		if (write(fd, zero, sizeof(zero)) != (ssize_t)sizeof(zero))
			break;
	if (mb == 0) {
		struct stat sb;

		TU_EXPECT(fstat(fd, &sb) == 0 && statvfs(e->fs, &sv) == 0, "stat");
		off_t keep = sb.st_size + (off_t)sv.f_bavail * sv.f_frsize - (off_t)free_kib * 1024;
		TU_EXPECT(ftruncate(fd, keep > 0 ? keep : 0) == 0, "ftruncate: %s",
			  strerror(errno));
	}
	close(fd);
}

static int dir_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* ------------------------------------------------------------------ */

/* RocksDB's error strings, through the write door (the fault seam): the
 * errno the caller gets and the state the store is left in (a FULL store
 * whose RocksDB did not really stop resumes at its first probe). */
static void test_rocksdb_errors_map_to_errnos_and_states(void **state)
{
	static const struct {
		const char *rocks;
		int err;
		enum cs_health_state st;
	} c[] = {
	    {"IO error: No space left on device: While pwrite to file at offset 0: "
	     "/s/db/000014.blob: No space left on device",
	     -ENOSPC, CS_HEALTH_FULL},
	    {"IO error: Space limit reached", -ENOSPC, CS_HEALTH_FULL},
	    {"IO error: While appending to file: /s/db/000010.sst: Disk quota exceeded", -EDQUOT,
	     CS_HEALTH_FULL},
	    {"IO error: While open a file for appending: /s/db/x: Read-only file system", -EROFS,
	     CS_HEALTH_READONLY},
	    {"Corruption: block checksum mismatch", -EIO, CS_HEALTH_READONLY},
	};
	struct tu_fx *fx = *(struct tu_fx **)state;
	struct cs_store_health h;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		cs_health_fail_next_write(fx->st, c[i].rocks);
		TU_EXPECT_RC(cs_store_sync(fx->st), c[i].err);
		TU_OK(cs_store_health(fx->st, &h));
		if (c[i].st == CS_HEALTH_READONLY) {
			TU_EXPECT_EQ(h.state, CS_HEALTH_READONLY, c[i].rocks);
			TU_EXPECT_RC(h.err, c[i].err);
		} else { /* FULL, or OK again: RocksDB never really stopped */
			TU_EXPECT(h.state != CS_HEALTH_READONLY,
				  "a full disk made it read-only: %s", c[i].rocks);
		}
		tu_store_reopen(fx, 1); /* a fresh state for the next case */
	}
}

static void test_creating_a_store_on_a_full_fs_fails_with_enospc_and_leaves_nothing(void **state)
{
	static const unsigned free_kib[] = {0, 64, 1024, 3072};
	struct efx *e = EFX;
	char db[PATH_MAX + 8];

	need_fs(e);
	snprintf(db, sizeof(db), "%s/db", e->fx.dir);
	for (size_t i = 0; i < sizeof(free_kib) / sizeof(free_kib[0]); i++) {
		make_ballast(e, 0, free_kib[i]);
		TU_EXPECT_RC(cs_store_open(e->fx.dir, CS_STORE_CREATE, &e->fx.st), -ENOSPC);
		TU_EXPECT(e->fx.st == NULL, "a store handle on failure");
		TU_EXPECT(strstr(cs_last_error(), "space") != NULL,
			  "%u KiB free: the message does not say why: \"%s\"", free_kib[i],
			  cs_last_error());
		TU_EXPECT(!dir_exists(db), "%u KiB free: a half-created database was left",
			  free_kib[i]);
	}
	TU_OK(unlink(e->ballast));
	TU_OK(cs_store_open(e->fx.dir, CS_STORE_CREATE, &e->fx.st));
	TU_OK(cs_volume_create(e->fx.st, "vol", NULL, 0, 0, NULL));
}

/* Write 64 KiB blocks of random bytes to @ino from @off until a write or a
 * sync every MiB fails; returns that error (0 if @limit bytes went in). */
static int fill(cs_vol *v, uint64_t ino, uint64_t *off, uint64_t limit, struct tu_rng *r)
{
	static uint8_t buf[64 * 1024];
	int rc = 0;

	while (*off < limit && rc == 0) {
		ssize_t n;

		tu_rng_fill(r, buf, sizeof(buf));
		n = cs_write(v, ino, *off, buf, sizeof(buf));
		if (n < 0)
			return (int)n;
		*off += (uint64_t)n;
		if (*off % MiB == 0)
			rc = cs_vol_sync(v);
	}
	return rc;
}

static void test_full_fs_gives_enospc_keeps_synced_data_and_resumes(void **state)
{
	struct efx *e = EFX;
	struct tu_fx *fx = &e->fx;
	struct cs_store_health h;
	struct tu_rng r;
	static uint8_t kept[MiB + 777], back[sizeof(kept)];
	uint64_t f, big, after, off = 0;
	time_t deadline;
	int rc;

	need_fs(e);
	tu_rng_seed(&r, 0xe05bc);
	make_ballast(e, BALLAST_MB, 0);
	TU_OK(cs_store_open(fx->dir, CS_STORE_CREATE, &fx->st));
	TU_OK(cs_volume_create(fx->st, "vol", NULL, 0, 0, NULL));
	fx->vol = tu_vol_open(fx, "vol", 0);
	TU_OK(cs_store_health(fx->st, &h));
	TU_EXPECT_EQ(h.state, CS_HEALTH_OK, "health of a fresh store");
	TU_EXPECT(h.free_bytes > 0 && h.reserve_bytes > 0, "free / reserve not measured");

	f = tu_mkfile(fx, fx->vol, R, "kept");
	tu_rng_fill(&r, kept, sizeof(kept));
	TU_EXPECT_RC(cs_write(fx->vol, f, 0, kept, sizeof(kept)), sizeof(kept));
	TU_OK(cs_vol_sync(fx->vol));

	big = tu_mkfile(fx, fx->vol, R, "big");
	after = tu_mkfile(fx, fx->vol, R, "after"); /* created while there is room */
	rc = fill(fx->vol, big, &off, (uint64_t)FS_MB * 2 * MiB, &r);
	TU_EXPECT_RC(rc, -ENOSPC);
	/* every write and sync now; a sync used to abort in RocksDB's FlushWAL */
	for (int i = 0; i < 3; i++) {
		rc = fill(fx->vol, big, &off, off + MiB, &r);
		TU_EXPECT_RC(rc, -ENOSPC);
		rc = cs_store_sync(fx->st);
		TU_EXPECT(rc == -ENOSPC || rc == 0, "sync on a full disk: %s", tu_errname(rc));
	}
	TU_OK(cs_store_health(fx->st, &h));
	TU_EXPECT_EQ(h.state, CS_HEALTH_FULL, "health on a full disk");
	TU_EXPECT_RC(h.err, -ENOSPC);
	TU_EXPECT(h.since > 0 && h.message[0], "no time or message for FULL");
	TU_EXPECT_STR(cs_health_state_name(h.state), "full", "state name");
	TU_EXPECT_RC(cs_read(fx->vol, f, 0, back, sizeof(back)), sizeof(back));
	TU_EXPECT(memcmp(back, kept, sizeof(kept)) == 0, "synced data changed on a full disk");

	TU_OK(unlink(e->ballast)); /* room on the backing filesystem */
	deadline = time(NULL) + RESUME_S;
	off = 0;
	while ((rc = fill(fx->vol, after, &off, off + MiB, &r)) != 0) {
		TU_EXPECT_RC(rc, -ENOSPC);
		TU_EXPECT(time(NULL) < deadline, "writes did not resume within %d s", RESUME_S);
		usleep(200 * 1000);
	}
	TU_OK(cs_store_health(fx->st, &h));
	TU_EXPECT_EQ(h.state, CS_HEALTH_OK, "health once room was made");
	TU_EXPECT_RC(h.err, 0);

	tu_store_reopen(fx, 1);
	TU_EXPECT_RC(cs_read(fx->vol, f, 0, back, sizeof(back)), sizeof(back));
	TU_EXPECT(memcmp(back, kept, sizeof(kept)) == 0, "synced data changed after reopen");
	tu_check_recount(fx);
}

static void test_a_failed_write_makes_the_store_read_only_until_reopened(void **state)
{
	struct tu_fx *fx = *(struct tu_fx **)state;
	struct cs_store_health h;
	char back[16];
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");

	TU_EXPECT_RC(cs_write(fx->vol, f, 0, "before", 6), 6);
	TU_OK(cs_vol_sync(fx->vol));
	cs_health_fail_next_write(fx->st, "IO error: While appending to file: /s/db/000009.log: "
					  "Input/output error");
	TU_EXPECT_RC(cs_store_sync(fx->st), -EIO);
	TU_EXPECT(strstr(cs_last_error(), "Input/output error") != NULL, "message: \"%s\"",
		  cs_last_error());
	TU_OK(cs_store_health(fx->st, &h));
	TU_EXPECT_EQ(h.state, CS_HEALTH_READONLY, "health after an I/O error");
	TU_EXPECT_RC(h.err, -EIO);
	TU_EXPECT_STR(cs_health_state_name(h.state), "read-only", "state name");
	TU_EXPECT(strstr(h.message, "000009.log") != NULL, "message: \"%s\"", h.message);
	for (int i = 0; i < 3; i++) { /* sticky: nothing is failing any more */
		TU_EXPECT_RC(cs_store_sync(fx->st), -EIO);
		TU_EXPECT(strstr(cs_last_error(), "read-only") != NULL, "message: \"%s\"",
			  cs_last_error());
	}
	TU_EXPECT_RC(cs_read(fx->vol, f, 0, back, sizeof(back)), 6); /* reads go on */
	TU_EXPECT(memcmp(back, "before", 6) == 0, "data changed");

	tu_store_reopen(fx, 1);
	TU_OK(cs_store_health(fx->st, &h));
	TU_EXPECT_EQ(h.state, CS_HEALTH_OK, "health after reopening");
	TU_EXPECT_RC(cs_write(fx->vol, f, 6, "+after", 6), 6);
	TU_OK(cs_vol_sync(fx->vol));
	TU_EXPECT_RC(cs_read(fx->vol, f, 0, back, sizeof(back)), 12);
	TU_EXPECT(memcmp(back, "before+after", 12) == 0, "data after reopening");
}

/* The newest WAL file number in the store's database directory. */
static unsigned long newest_wal(const char *store)
{
	char path[PATH_MAX + 8];
	unsigned long max = 0;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/db", store);
	d = opendir(path);
	TU_EXPECT(d != NULL, "opendir %s", path);
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n > 4 && !strcmp(de->d_name + n - 4, ".log") &&
		    strtoul(de->d_name, NULL, 10) > max)
			max = strtoul(de->d_name, NULL, 10);
	}
	closedir(d);
	return max;
}

static void test_a_failed_wal_append_keeps_writes_out_until_a_newer_wal(void **state)
{
	struct tu_fx *fx = *(struct tu_fx **)state;
	struct cs_store_health h;
	char err[PATH_MAX + 256];

	snprintf(err, sizeof(err),
		 "IO error: No space left on device: While appending to file: "
		 "%s/db/%06lu.log: No space left on device",
		 fx->dir, newest_wal(fx->dir));
	cs_health_fail_next_write(fx->st, err);
	TU_EXPECT_RC(cs_store_sync(fx->st), -ENOSPC);
	/* RocksDB never failed: a write would go through, but the WAL that
	 * failed is still the current one, so none is let through (the writer
	 * of a failed WAL aborts on its next append in RocksDB 7.8) */
	for (int i = 0; i < 3; i++) {
		TU_OK(cs_store_health(fx->st, &h));
		TU_EXPECT_EQ(h.state, CS_HEALTH_FULL, "health while the failed WAL is current");
		TU_EXPECT_RC(h.err, -ENOSPC);
		TU_EXPECT_RC(cs_store_sync(fx->st), -ENOSPC);
		usleep(600 * 1000); /* past the once-a-second resume attempts */
	}
	tu_store_reopen(fx, 1); /* a new WAL */
	TU_OK(cs_store_health(fx->st, &h));
	TU_EXPECT_EQ(h.state, CS_HEALTH_OK, "health after reopening");
	TU_OK(cs_store_sync(fx->st));
}

/* A LOG directory in /dev/shm/cstorfs-UID/DIR holding DIR/cstorfs-store =
 * @owner (the store it belongs to); its path in @out. */
static void fake_log_dir(char *out, size_t n, const char *name, const char *owner)
{
	char path[PATH_MAX + 32];
	FILE *f;

	snprintf(out, n, "/dev/shm/cstorfs-%u/%s", (unsigned)geteuid(), name);
	TU_EXPECT(mkdir(out, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", out, strerror(errno));
	snprintf(path, sizeof(path), "%s/cstorfs-store", out);
	f = fopen(path, "w");
	TU_EXPECT(f && fputs(owner, f) >= 0 && fclose(f) == 0, "write %s", path);
}

static void test_log_dirs_of_stores_gone_are_swept_at_open(void **state)
{
	struct tu_fx *fx = *(struct tu_fx **)state;
	char gone[PATH_MAX], live[PATH_MAX], path[PATH_MAX + 32];
	struct stat sb;

	snprintf(path, sizeof(path), "/dev/shm/cstorfs-%u", (unsigned)geteuid());
	if (stat(path, &sb) < 0)
		skip(); /* no /dev/shm: the LOG stays in the store */
	fake_log_dir(gone, sizeof(gone), "0000000000000001", "/nonexistent/cstorfs-gone");
	fake_log_dir(live, sizeof(live), "0000000000000002", fx->dir);
	tu_store_reopen(fx, 1);
	TU_EXPECT(stat(gone, &sb) < 0 && errno == ENOENT,
		  "the LOG directory of a store gone stayed");
	TU_EXPECT(stat(live, &sb) == 0, "the LOG directory of a live store was removed");
	snprintf(path, sizeof(path), "%s/cstorfs-store", live);
	unlink(path);
	rmdir(live);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, efx_setup, efx_teardown)
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_rocksdb_errors_map_to_errnos_and_states, tu_setup,
					    tu_teardown),
	    T(test_creating_a_store_on_a_full_fs_fails_with_enospc_and_leaves_nothing),
	    T(test_full_fs_gives_enospc_keeps_synced_data_and_resumes),
	    cmocka_unit_test_setup_teardown(
		test_a_failed_write_makes_the_store_read_only_until_reopened, tu_setup,
		tu_teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_failed_wal_append_keeps_writes_out_until_a_newer_wal, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_log_dirs_of_stores_gone_are_swept_at_open,
					    tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests_name("enospc", tests, tu_group_setup, tu_group_teardown);
}
