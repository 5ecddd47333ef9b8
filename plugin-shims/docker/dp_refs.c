/*
 * dp_refs.c - per-ID mount reference counts of a Docker volume (see
 * dp_refs.h for the rules and the invariants).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dp_refs.h"

static struct dp_ref *find(const struct dp_refs *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->len; i++)
		if (!strcmp(r->v[i].id, id))
			return &r->v[i];
	return NULL;
}

static void remove_at(struct dp_refs *r, size_t i)
{
	free(r->v[i].id);
	memmove(&r->v[i], &r->v[i + 1], (r->len - i - 1) * sizeof(r->v[0]));
	r->len--;
}

static int append(struct dp_refs *r, const char *id, unsigned long count, const char *boot)
{
	struct dp_ref *nv = realloc(r->v, (r->len + 1) * sizeof(*nv));
	struct dp_ref *e;

	if (!nv)
		return -ENOMEM;
	r->v = nv;
	e = &r->v[r->len];
	memset(e, 0, sizeof(*e));
	e->id = strdup(id);
	if (!e->id)
		return -ENOMEM;
	e->count = count;
	strncpy(e->boot, boot ? boot : "", DP_BOOT_ID_LEN);
	r->len++;
	return 0;
}

static int parse_entry(struct dp_refs *r, const cJSON *e)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
	const cJSON *count = cJSON_GetObjectItemCaseSensitive(e, "count");
	const cJSON *boot = cJSON_GetObjectItemCaseSensitive(e, "boot");

	if (!cJSON_IsString(id) || !cJSON_IsNumber(count) || count->valuedouble < 1 ||
	    find(r, id->valuestring))
		return 0; /* skipped: see dp_refs_parse */
	return append(r, id->valuestring,
		      id->valuestring[0] ? (unsigned long)count->valuedouble : 1,
		      cJSON_IsString(boot) ? boot->valuestring : "");
}

int dp_refs_parse(const char *text, struct dp_refs *out)
{
	cJSON *root, *arr, *e;
	int err = 0;

	out->v = NULL;
	out->len = 0;
	if (!text || !*text)
		return 0;
	root = cJSON_Parse(text);
	arr = cJSON_GetObjectItemCaseSensitive(root, "refs");
	if (!cJSON_IsObject(root) || !cJSON_IsArray(arr)) {
		cJSON_Delete(root);
		return -EINVAL;
	}
	cJSON_ArrayForEach(e, arr)
	{
		err = parse_entry(out, e);
		if (err)
			break;
	}
	cJSON_Delete(root);
	if (err)
		dp_refs_clear(out);
	return err;
}

char *dp_refs_format(const struct dp_refs *r)
{
	cJSON *root = cJSON_CreateObject(), *arr, *e;
	char *text = NULL;
	size_t i;

	if (!root || !cJSON_AddNumberToObject(root, "version", 1) ||
	    !(arr = cJSON_AddArrayToObject(root, "refs")))
		goto out;
	for (i = 0; i < r->len; i++) {
		e = cJSON_CreateObject();
		if (!e)
			goto out;
		cJSON_AddItemToArray(arr, e);
		if (!cJSON_AddStringToObject(e, "id", r->v[i].id) ||
		    !cJSON_AddNumberToObject(e, "count", (double)r->v[i].count) ||
		    !cJSON_AddStringToObject(e, "boot", r->v[i].boot))
			goto out;
	}
	text = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return text;
}

int dp_refs_take(struct dp_refs *r, const char *id, const char *boot)
{
	struct dp_ref *e;

	if (!id)
		id = "";
	e = find(r, id);
	if (!e)
		return append(r, id, 1, boot);
	if (id[0]) /* the ID-less holder stays at 1 */
		e->count++;
	strncpy(e->boot, boot ? boot : "", DP_BOOT_ID_LEN);
	return 0;
}

int dp_refs_release(struct dp_refs *r, const char *id)
{
	struct dp_ref *e = find(r, id ? id : "");

	if (!e)
		return 0;
	if (--e->count == 0)
		remove_at(r, (size_t)(e - r->v));
	return 1;
}

size_t dp_refs_drop_other_boots(struct dp_refs *r, const char *boot)
{
	size_t i = 0, dropped = 0;

	while (i < r->len) {
		if (strcmp(r->v[i].boot, boot)) {
			remove_at(r, i);
			dropped++;
		} else {
			i++;
		}
	}
	return dropped;
}

unsigned long dp_refs_total(const struct dp_refs *r)
{
	unsigned long n = 0;
	size_t i;

	for (i = 0; i < r->len; i++)
		n += r->v[i].count;
	return n;
}

void dp_refs_clear(struct dp_refs *r)
{
	size_t i;

	for (i = 0; i < r->len; i++)
		free(r->v[i].id);
	free(r->v);
	r->v = NULL;
	r->len = 0;
}
