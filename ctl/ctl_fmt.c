/*
 * ctl_fmt.c - cstorfs-ctl's output helpers (see ctl_fmt.h): JSON fields,
 * sizes, tables, the progress line, request paths.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_fmt.h"

const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(it) ? it->valuestring : "";
}

uint64_t jnum(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(it) && it->valuedouble > 0 ? (uint64_t)it->valuedouble : 0;
}

int jbool(const cJSON *o, const char *k)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

const char *size_str(const struct ctl *x, uint64_t n, char *buf, size_t len)
{
	if (x->bytes)
		snprintf(buf, len, "%llu", (unsigned long long)n);
	else
		cs_format_size(n, buf, len);
	return buf;
}

void ctl_print_json(const cJSON *j)
{
	char *s = cJSON_Print(j);

	if (s)
		printf("%s\n", s);
	free(s);
}

/* ------------------------------------------------------------------ */
/* Tables                                                             */
/* ------------------------------------------------------------------ */

void ctl_table_add(struct ctl_table *t, const char *const *cells)
{
	int i;

	if (t->nrows == t->cap) {
		int cap = t->cap ? t->cap * 2 : 16;
		void *p = realloc(t->rows, sizeof(*t->rows) * (size_t)cap);

		if (!p)
			return;
		t->rows = p;
		t->cap = cap;
	}
	for (i = 0; i < t->ncols; i++)
		t->rows[t->nrows][i] = strdup(cells[i] ? cells[i] : "");
	t->nrows++;
}

void ctl_table_print_free(struct ctl_table *t)
{
	int w[CTL_TABLE_COLS] = {0};
	int r, i;

	for (r = 0; r < t->nrows; r++)
		for (i = 0; i < t->ncols; i++) {
			int n = t->rows[r][i] ? (int)strlen(t->rows[r][i]) : 0;

			if (n > w[i])
				w[i] = n;
		}
	for (r = 0; r < t->nrows; r++) {
		for (i = 0; i < t->ncols; i++) {
			const char *s = t->rows[r][i] ? t->rows[r][i] : "";

			if (i == t->ncols - 1)
				printf("%s\n", s);
			else
				printf("%-*s  ", w[i], s);
			free(t->rows[r][i]);
		}
	}
	free(t->rows);
}

/* ------------------------------------------------------------------ */
/* The progress line                                                  */
/* ------------------------------------------------------------------ */

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void progress_draw(struct ctl_progress *p, int final)
{
	char done[32], total[32], rate[32], eta[32] = "";
	double el = mono_s() - p->start, r = el > 0 ? p->done / el : 0;

	cs_format_size(p->done, done, sizeof(done));
	cs_format_size((uint64_t)r, rate, sizeof(rate));
	if (p->total && p->done <= p->total) {
		cs_format_size(p->total, total, sizeof(total));
		if (r > 0 && !final) {
			double left = (double)(p->total - p->done) / r;

			snprintf(eta, sizeof(eta), "  ETA %d:%02d", (int)left / 60, (int)left % 60);
		}
		fprintf(stderr, "\r%s %s / %s  %3d%%  %s/s%s\033[K", p->verb, done, total,
			(int)(100.0 * p->done / (p->total ? p->total : 1)), rate, eta);
	} else {
		fprintf(stderr, "\r%s %s  %s/s\033[K", p->verb, done, rate);
	}
	if (final)
		fputc('\n', stderr);
	fflush(stderr);
}

void ctl_progress_cb(void *ctx, uint64_t done, uint64_t total)
{
	struct ctl_progress *p = ctx;
	double now = mono_s();

	p->done = done;
	p->total = total;
	if (now - p->last >= 0.2) {
		p->last = now;
		progress_draw(p, 0);
	}
}

void ctl_progress_init(struct ctl_progress *p, const char *verb, int quiet)
{
	memset(p, 0, sizeof(*p));
	p->on = !quiet && isatty(STDERR_FILENO);
	p->verb = verb;
	p->start = p->last = mono_s();
}

void ctl_progress_end(struct ctl_progress *p, int ok)
{
	if (p->on && (ok || p->done))
		progress_draw(p, 1);
}

/* ------------------------------------------------------------------ */
/* Request paths                                                      */
/* ------------------------------------------------------------------ */

char *ctl_vol_url(const char *vol, const char *suffix)
{
	char *enc = cs_client_urlencode(vol), *p = NULL;

	if (enc && asprintf(&p, "/v1/volumes/%s%s", enc, suffix ? suffix : "") < 0)
		p = NULL;
	free(enc);
	return p;
}

int ctl_query_add(char **q, const char *key, const char *value)
{
	char *enc = cs_client_urlencode(value), *n = NULL;

	if (!enc || asprintf(&n, "%s%s%s=%s", *q, strchr(*q, '?') ? "&" : "?", key, enc) < 0)
		n = NULL;
	free(enc);
	if (!n)
		return -ENOMEM;
	free(*q);
	*q = n;
	return 0;
}
