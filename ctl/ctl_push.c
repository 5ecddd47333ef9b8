/*
 * ctl_push.c - cstorfs-ctl's pushed copies (see ctl_push.h): a snapshot's
 * stream kept in the pool of the store's chunks, listed, removed, pulled
 * into a volume on any store of that pool. A push or a pull takes a round
 * trip to the cluster per chunk: they wait up to PUSH_TIMEOUT.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_fmt.h"
#include "ctl_push.h"

#define PUSH_TIMEOUT (24 * 3600)

int ctl_check_pushname(const char *opt, const char *val, uint64_t *num)
{
	(void)num;
	return ctl_check_name(strcmp(opt, "--as") ? "pushed copy name" : "name for the copy", val);
}

int ctl_push(struct ctl *x, struct ctl_args *a)
{
	cJSON *body = cJSON_CreateObject();
	const char *as = ctl_str(a, "--as"), *from = ctl_str(a, "--from");
	int rc = -ENOMEM;

	if (body && cJSON_AddStringToObject(body, "volume", a->vol[0]) &&
	    cJSON_AddStringToObject(body, "snapshot", a->snap[0]) &&
	    (!as || cJSON_AddStringToObject(body, "as", as)) &&
	    (!from || cJSON_AddStringToObject(body, "from", from)))
		rc = cs_client_request(x->c, "POST", "/v1/push", body, PUSH_TIMEOUT, &a->ans);
	cJSON_Delete(body);
	return rc;
}

void ctl_push_print(const struct ctl *x, const struct ctl_args *a)
{
	const char *base = jstr(a->ans, "base");
	char b[32];

	printf("pushed '%s@%s' as '%s'%s%s%s: a stream of %s, %llu chunks held in the pool\n",
	       jstr(a->ans, "volume"), jstr(a->ans, "snapshot"), jstr(a->ans, "name"),
	       base[0] ? " (incremental to '" : "", base, base[0] ? "')" : "",
	       size_str(x, jnum(a->ans, "bytes"), b, sizeof(b)),
	       (unsigned long long)jnum(a->ans, "chunks"));
}

int ctl_pushed(struct ctl *x, struct ctl_args *a)
{
	const char *name = ctl_str(a, "--delete");
	char *url = NULL;
	int rc;

	if (!name)
		return cs_client_request(x->c, "GET", "/v1/pushed", NULL, 0, &a->ans);
	url = strdup("/v1/pushed");
	if (!url || ctl_query_add(&url, "name", name)) {
		free(url);
		return -ENOMEM;
	}
	rc = cs_client_request(x->c, "DELETE", url, NULL, PUSH_TIMEOUT, &a->ans);
	free(url);
	return rc;
}

/* The cells of pushed copy @p: @row (6), pointing into @p, @snap and @bytes. */
static void pushed_row(const struct ctl *x, const cJSON *p, const char **row, char *snap,
		       size_t snaplen, char *bytes, size_t byteslen)
{
	const char *base = jstr(p, "base");

	snprintf(snap, snaplen, "%s@%s", jstr(p, "volume"), jstr(p, "snapshot"));
	row[0] = jstr(p, "name");
	row[1] = snap;
	row[2] = base[0] ? base : "-";
	row[3] = size_str(x, jnum(p, "bytes"), bytes, byteslen);
	row[4] = jstr(p, "created");
	row[5] = jstr(p, "state");
}

void ctl_pushed_print(const struct ctl *x, const struct ctl_args *a)
{
	static const char *const head[] = {"NAME", "SNAPSHOT", "BASE", "BYTES", "CREATED",
					   "STATE"};
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(a->ans, "pushed"), *p;
	const char *del = ctl_str(a, "--delete"), *row[6];
	struct ctl_table t = {.ncols = 6};
	char bytes[32], snap[2 * 256 + 2];

	if (del || cJSON_GetArraySize(list) == 0) {
		if (del)
			printf("deleted pushed copy '%s'\n", del);
		else
			printf("no pushed copies\n");
		return;
	}
	ctl_table_add(&t, head);
	cJSON_ArrayForEach(p, list)
	{
		pushed_row(x, p, row, snap, sizeof(snap), bytes, sizeof(bytes));
		ctl_table_add(&t, row);
	}
	ctl_table_print_free(&t);
}

int ctl_pull(struct ctl *x, struct ctl_args *a)
{
	cJSON *body = cJSON_CreateObject();
	int rc = -ENOMEM;

	if (body && cJSON_AddStringToObject(body, "name", a->pos[0]) &&
	    (a->npos < 2 || cJSON_AddStringToObject(body, "volume", a->pos[1])))
		rc = cs_client_request(x->c, "POST", "/v1/pull", body, PUSH_TIMEOUT, &a->ans);
	cJSON_Delete(body);
	return rc;
}

void ctl_pull_print(const struct ctl *x, const struct ctl_args *a)
{
	char b[32];

	printf("pulled '%s' into volume '%s' (to snapshot '%s'): %llu stream%s, %s\n",
	       a->pos[0], jstr(a->ans, "volume"), jstr(a->ans, "snapshot"),
	       (unsigned long long)jnum(a->ans, "streams"), jnum(a->ans, "streams") == 1 ? "" : "s",
	       size_str(x, jnum(a->ans, "bytes"), b, sizeof(b)));
}
