/*
 * cs_err.c - the store's error messages: one thread-local message per
 * thread, set when a call fails (cs_fail), read with cs_last_error().
 * RocksDB's error strings stop here: they become -EIO and a message.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cs_priv.h"

static __thread char last_error[512];

const char *cs_last_error(void)
{
	return last_error;
}

int cs_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return err;
}

int cs_rocks_fail(char *errstr, const char *what)
{
	cs_fail(-EIO, "%s: %s", what, errstr ? errstr : "unknown RocksDB error");
	rocksdb_free(errstr);
	return -EIO;
}

void cs_assert_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "cstorfs: assertion failed: %s (%s:%d)\n", what, file, line);
	abort();
}
