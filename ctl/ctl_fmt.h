/*
 * ctl_fmt.h - cstorfs-ctl's output helpers: reading fields of the API's
 * JSON answers, sizes as --bytes wants them, aligned tables, the progress
 * line of send, receive and scrub, and the paths of volume requests.
 * Nothing here talks to the daemon.
 */
#ifndef CTL_FMT_H
#define CTL_FMT_H

#include <stddef.h>
#include <stdint.h>

#include "ctl_cmd.h"

/* Member @k of object @o: a string ("" when absent or not a string), a
 * number (0 when absent, negative or not a number), a boolean. */
const char *jstr(const cJSON *o, const char *k);
uint64_t jnum(const cJSON *o, const char *k);
int jbool(const cJSON *o, const char *k);

/* @n bytes into @buf as "1.5G" (or exact with --bytes); returns @buf. */
const char *size_str(const struct ctl *x, uint64_t n, char *buf, size_t len);

/* @j as indented JSON on stdout. */
void ctl_print_json(const cJSON *j);

/* A table on stdout: rows of cells, each column padded to its widest
 * cell. Zero-initialise with .ncols set (at most CTL_TABLE_COLS); the
 * first row added is the head. */
#define CTL_TABLE_COLS 8
struct ctl_table {
	int ncols, nrows, cap;
	char *(*rows)[CTL_TABLE_COLS];
};
/* Add a row of .ncols cells (copied; NULL cells print empty). */
void ctl_table_add(struct ctl_table *t, const char *const *cells);
/* Print the rows and free them. */
void ctl_table_print_free(struct ctl_table *t);

/* A progress line on stderr, redrawn at most 5 times a second, only when
 * stderr is a terminal and not @quiet: "sent 1.2G / 3.4G  35%  80M/s". */
struct ctl_progress {
	int on; /* drawn at all */
	const char *verb;
	double start, last;
	uint64_t done, total;
};
void ctl_progress_init(struct ctl_progress *p, const char *verb, int quiet);
/* A cs_client_progress_fn: @ctx is the struct ctl_progress. */
void ctl_progress_cb(void *ctx, uint64_t done, uint64_t total);
/* The last line (after a success, or after a failure that moved bytes). */
void ctl_progress_end(struct ctl_progress *p, int ok);

/* "/v1/volumes/VOL" + @suffix (may be NULL), VOL percent-encoded: a
 * malloc'd string or NULL on ENOMEM. */
char *ctl_vol_url(const char *vol, const char *suffix);

/* Append "?key=value" or "&key=value" (value percent-encoded) to the
 * malloc'd *@q. 0 or -ENOMEM (*@q unchanged). */
int ctl_query_add(char **q, const char *key, const char *value);

#endif /* CTL_FMT_H */
