/*
 * cs_err.c - the store's error messages: one thread-local message per
 * thread, set when a call fails (cs_fail), read with cs_last_error().
 * RocksDB's error strings stop here: they become an errno (cs_rocks_errno:
 * -ENOSPC, -EDQUOT, -EROFS or -EIO) and a message. Also the one helper
 * for growing arrays (cs_grow), the lowest module being the place for it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cs_priv.h"

static __thread char last_error[512];
static __thread int last_noted; /* last_error was given to the sink */
static cs_notice_fn notice_sink;

const char *cs_last_error(void)
{
	return last_error;
}

int cs_fail(int err, const char *fmt, ...)
{
	va_list ap;

	last_noted = 0;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return err;
}

void cs_set_notice(cs_notice_fn fn)
{
	__atomic_store_n(&notice_sink, fn, __ATOMIC_RELEASE);
}

void cs_notice(int error, const char *fmt, ...)
{
	cs_notice_fn fn = __atomic_load_n(&notice_sink, __ATOMIC_ACQUIRE);
	char msg[sizeof(last_error)];
	va_list ap;

	if (!fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fn(error, msg);
}

void cs_error_noted(void)
{
	last_noted = 1;
}

int cs_last_error_noted(void)
{
	return last_noted;
}

/* RocksDB's statuses print as "IO error: No space left on device: While
 * appending to file: DIR/000010.log: No space left on device" (its NoSpace
 * subcode, and the posix layer's strerror), "IO error: ... Disk quota
 * exceeded" (EDQUOT has no subcode of its own), "IO error: Space limit
 * reached" (an SstFileManager limit). */
int cs_rocks_errno(const char *errstr)
{
	if (!errstr)
		return -EIO;
	if (strstr(errstr, "No space left on device") || strstr(errstr, "Space limit reached"))
		return -ENOSPC;
	if (strstr(errstr, "Disk quota exceeded"))
		return -EDQUOT;
	if (strstr(errstr, "Read-only file system"))
		return -EROFS;
	return -EIO;
}

int cs_rocks_fail(char *errstr, const char *what)
{
	int err = cs_rocks_errno(errstr);

	cs_fail(err, "%s: %s", what, errstr ? errstr : "unknown RocksDB error");
	rocksdb_free(errstr);
	return err;
}

void cs_assert_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "cstorfs: assertion failed: %s (%s:%d)\n", what, file, line);
	abort();
}

int cs_grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *nv;

	if (n <= *cap)
		return 0;
	ncap = *cap ? 2 * *cap : 16;
	if (ncap < n)
		ncap = n;
	nv = realloc(*v, ncap * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}
