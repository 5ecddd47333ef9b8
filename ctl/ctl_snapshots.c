/*
 * ctl_snapshots.c - cstorfs-ctl's snapshot commands (see ctl_snapshots.h):
 * snapshot create, list, rm, rename; clone, promote, rollback, diff.
 * VOLUME@SNAPSHOT arguments arrive split (args->vol[i], args->snap[i]).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_fmt.h"
#include "ctl_snapshots.h"

int ctl_snapshot_create(struct ctl *x, struct ctl_args *a)
{
	return cs_client_snapshot_create(x->c, a->vol[0], a->snap[0], &a->ans);
}

/* Move the snapshots of answer @ans to the end of array @arr. */
static void move_snapshots(cJSON *ans, cJSON *arr)
{
	cJSON *list = cJSON_GetObjectItemCaseSensitive(ans, "snapshots"), *s, *next;

	for (s = list ? list->child : NULL; s; s = next) {
		next = s->next;
		cJSON_AddItemToArray(arr, cJSON_DetachItemViaPointer(list, s));
	}
}

int ctl_snapshot_list(struct ctl *x, struct ctl_args *a)
{
	cJSON *vols = NULL, *ans = NULL, *arr;
	const cJSON *v;
	int rc;

	if (a->npos == 1)
		return cs_client_snapshot_list(x->c, a->pos[0], &a->ans);
	a->ans = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(a->ans, "snapshots");
	rc = cs_client_volume_list(x->c, &vols);
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(vols, "volumes"))
	{
		rc = cs_client_snapshot_list(x->c, jstr(v, "name"), &ans);
		if (rc == -ENOENT)
			continue; /* removed meanwhile */
		if (rc)
			break;
		move_snapshots(ans, arr);
		cJSON_Delete(ans);
		ans = NULL;
	}
	cJSON_Delete(vols);
	return rc == -ENOENT ? 0 : rc;
}

void ctl_snapshot_list_print(const struct ctl *x, const struct ctl_args *a)
{
	static const char *const head[] = {"SNAPSHOT", "REFERENCED", "USED", "CREATED", "CLONES"};
	const cJSON *snaps = cJSON_GetObjectItemCaseSensitive(a->ans, "snapshots"), *s;
	struct ctl_table t = {.ncols = 5};
	char ref[32], used[32], full[2 * 256 + 2];

	if (cJSON_GetArraySize(snaps) == 0) {
		printf("no snapshots\n");
		return;
	}
	ctl_table_add(&t, head);
	cJSON_ArrayForEach(s, snaps)
	{
		const char *row[5];

		snprintf(full, sizeof(full), "%s@%s", jstr(s, "volume"), jstr(s, "name"));
		row[0] = full;
		row[1] = size_str(x, jnum(s, "referenced_bytes"), ref, sizeof(ref));
		row[2] = size_str(x, jnum(s, "used_bytes"), used, sizeof(used));
		row[3] = jstr(s, "created");
		row[4] = jnum(s, "clones") ? "yes" : "-";
		ctl_table_add(&t, row);
	}
	ctl_table_print_free(&t);
}

int ctl_snapshot_rm(struct ctl *x, struct ctl_args *a)
{
	return cs_client_snapshot_delete(x->c, a->vol[0], a->snap[0]);
}

int ctl_snapshot_rename(struct ctl *x, struct ctl_args *a)
{
	char *enc = cs_client_urlencode(a->snap[0]), *sfx = NULL, *url = NULL;
	cJSON *body = cJSON_CreateObject();
	int rc = -ENOMEM;

	if (enc && asprintf(&sfx, "/snapshots/%s", enc) < 0)
		sfx = NULL;
	url = sfx ? ctl_vol_url(a->vol[0], sfx) : NULL;
	if (url) {
		cJSON_AddStringToObject(body, "name", a->pos[1]);
		rc = cs_client_request(x->c, "PATCH", url, body, 0, &a->ans);
	}
	cJSON_Delete(body);
	free(enc);
	free(sfx);
	free(url);
	return rc;
}

int ctl_clone(struct ctl *x, struct ctl_args *a)
{
	return cs_client_volume_create(x->c, a->pos[1], a->pos[0], ctl_str(a, "--compression"),
				       ctl_opt(a, "--quota")->num, &a->ans);
}

int ctl_promote(struct ctl *x, struct ctl_args *a)
{
	char *url = ctl_vol_url(a->pos[0], "/promote");
	int rc = url ? cs_client_request(x->c, "POST", url, NULL, 0, &a->ans) : -ENOMEM;

	free(url);
	return rc;
}

int ctl_rollback(struct ctl *x, struct ctl_args *a)
{
	char *url = ctl_vol_url(a->vol[0], "/rollback");
	cJSON *body = cJSON_CreateObject();
	int rc = -ENOMEM;

	if (url && body) {
		cJSON_AddStringToObject(body, "snapshot", a->snap[0]);
		cJSON_AddBoolToObject(body, "destroy_later", ctl_flag(a, "-r"));
		cJSON_AddBoolToObject(body, "force", ctl_flag(a, "--force"));
		rc = cs_client_request(x->c, "POST", url, body, 0, &a->ans);
	}
	cJSON_Delete(body);
	free(url);
	return rc;
}

int ctl_diff(struct ctl *x, struct ctl_args *a)
{
	const char *from = a->snap[0], *to = a->npos == 2 ? a->snap[1] : NULL;
	char *ea = NULL, *eb = NULL, *sfx = NULL, *url = NULL;
	int rc;

	if (a->npos == 2 && strcmp(a->vol[0], a->vol[1]))
		return cs_cli_usage("both snapshots must be of the same volume");
	if ((rc = ctl_connect(x)))
		return rc;
	ea = cs_client_urlencode(from);
	eb = to ? cs_client_urlencode(to) : NULL;
	if (ea && (!to || eb) &&
	    asprintf(&sfx, "/diff?from=%s%s%s", ea, to ? "&to=" : "", to ? eb : "") < 0)
		sfx = NULL;
	url = sfx ? ctl_vol_url(a->vol[0], sfx) : NULL;
	rc = url ? cs_client_request(x->c, "GET", url, NULL, 0, &a->ans) : -ENOMEM;
	free(ea);
	free(eb);
	free(sfx);
	free(url);
	return rc;
}

void ctl_diff_print(const struct ctl *x, const struct ctl_args *a)
{
	const cJSON *ch;

	cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(a->ans, "changes"))
	{
		if (!strcmp(jstr(ch, "change"), "R"))
			printf("R %s -> %s\n", jstr(ch, "path"), jstr(ch, "new_path"));
		else
			printf("%s %s\n", jstr(ch, "change"), jstr(ch, "path"));
	}
}
