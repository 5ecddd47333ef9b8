/*
 * ctl_volumes.c - cstorfs-ctl's volume commands (see ctl_volumes.h):
 * volume create, list, inspect, rename, rm; mount, unmount. Their
 * arguments arrive checked by the table (ctl_cmd.c); what is left here is
 * the request and the text of the answer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_fmt.h"
#include "ctl_volumes.h"

int ctl_check_compression(const char *opt, const char *s, uint64_t *num)
{
	char *end;
	long v;

	if (!strcmp(s, "none") || !strcmp(s, "zstd"))
		return 0;
	if (!strncmp(s, "zstd:", 5) && s[5] >= '0' && s[5] <= '9') {
		v = strtol(s + 5, &end, 10);
		if (!*end && v >= 1 && v <= 19)
			return 0;
	}
	return cs_cli_usage("invalid compression '%s': use none or zstd:N (N 1..19)", s);
}

int ctl_volume_create(struct ctl *x, struct ctl_args *a)
{
	const struct ctl_val *quota = ctl_opt(a, "--quota"), *chunk = ctl_opt(a, "--chunk-size");
	const char *comp = ctl_str(a, "--compression");
	cJSON *body = cJSON_CreateObject();
	int rc;

	cJSON_AddStringToObject(body, "name", a->pos[0]);
	if (comp)
		cJSON_AddStringToObject(body, "compression", comp);
	if (quota->count)
		cJSON_AddNumberToObject(body, "quota", (double)quota->num);
	if (chunk->count)
		cJSON_AddNumberToObject(body, "chunk_size", (double)chunk->num);
	rc = cs_client_request(x->c, "POST", "/v1/volumes", body, 0, &a->ans);
	cJSON_Delete(body);
	return rc;
}

int ctl_volume_list(struct ctl *x, struct ctl_args *a)
{
	return cs_client_volume_list(x->c, &a->ans);
}

void ctl_volume_list_print(const struct ctl *x, const struct ctl_args *a)
{
	static const char *const head[] = {"NAME",    "MOUNTED", "COMPRESSION", "QUOTA",
					   "LOGICAL", "STORED",	 "CREATED"};
	struct ctl_table t = {.ncols = 7};
	const cJSON *v;

	ctl_table_add(&t, head);
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(a->ans, "volumes"))
	{
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(v, "stats");
		char q[32], l[32], s[32];
		const char *row[7];

		row[0] = jstr(v, "name");
		row[1] = jbool(v, "mounted") ? "yes" : "no";
		row[2] = jstr(v, "compression");
		row[3] = jnum(v, "quota") ? size_str(x, jnum(v, "quota"), q, sizeof(q)) : "-";
		row[4] = size_str(x, jnum(st, "logical_bytes"), l, sizeof(l));
		row[5] = size_str(x, jnum(st, "stored_bytes"), s, sizeof(s));
		row[6] = jstr(v, "created");
		ctl_table_add(&t, row);
	}
	ctl_table_print_free(&t);
}

int ctl_volume_inspect(struct ctl *x, struct ctl_args *a)
{
	return cs_client_volume_get(x->c, a->pos[0], &a->ans);
}

/* The strings of array or object @list as " a, b" (@pairs: " k=v, ..."),
 * @none when there are none. */
static void print_list(const cJSON *list, int pairs, const char *open, const char *none,
		       const char *close)
{
	const cJSON *it;
	int first = 1;

	cJSON_ArrayForEach(it, list)
	{
		if (!cJSON_IsString(it))
			continue;
		printf("%s", first ? open : ", ");
		if (pairs)
			printf("%s=", it->string);
		printf("%s", it->valuestring);
		first = 0;
	}
	printf("%s\n", first ? none : close);
}

void ctl_volume_inspect_print(const struct ctl *x, const struct ctl_args *a)
{
	const cJSON *v = a->ans, *st = cJSON_GetObjectItemCaseSensitive(v, "stats");
	char b[32];

	printf("name:           %s\n", jstr(v, "name"));
	printf("uuid:           %s\n", jstr(v, "uuid"));
	printf("id:             %llu\n", (unsigned long long)jnum(v, "id"));
	printf("created:        %s\n", jstr(v, "created"));
	printf("compression:    %s\n", jstr(v, "compression"));
	printf("chunk size:     %s\n", size_str(x, jnum(v, "chunk_size"), b, sizeof(b)));
	printf("quota:          %s\n",
	       jnum(v, "quota") ? size_str(x, jnum(v, "quota"), b, sizeof(b)) : "none");
	printf("epoch:          %llu\n", (unsigned long long)jnum(v, "epoch"));
	printf("mounted:        %s", jbool(v, "mounted") ? "yes" : "no");
	print_list(cJSON_GetObjectItemCaseSensitive(v, "mounts"), 0, " (", "", ")");
	printf("inodes:         %llu\n", (unsigned long long)jnum(st, "inodes"));
	printf("logical bytes:  %s\n", size_str(x, jnum(st, "logical_bytes"), b, sizeof(b)));
	printf("apparent bytes: %s\n", size_str(x, jnum(st, "apparent_bytes"), b, sizeof(b)));
	printf("stored bytes:   %s\n", size_str(x, jnum(st, "stored_bytes"), b, sizeof(b)));
	printf("raw bytes:      %s\n", size_str(x, jnum(st, "raw_bytes"), b, sizeof(b)));
	printf("chunk refs:     %llu\n", (unsigned long long)jnum(st, "chunk_refs"));
	printf("origin:         %s\n", jstr(v, "origin")[0] ? jstr(v, "origin") : "-");
	printf("snapshots:      %llu\n", (unsigned long long)jnum(v, "snapshots"));
	printf("written:        %s\n", size_str(x, jnum(v, "written_bytes"), b, sizeof(b)));
	printf("properties:    ");
	print_list(cJSON_GetObjectItemCaseSensitive(v, "props"), 1, " ", " -", "");
}

int ctl_volume_rename(struct ctl *x, struct ctl_args *a)
{
	cJSON *body = cJSON_CreateObject();
	char *path = ctl_vol_url(a->pos[0], NULL);
	int rc;

	cJSON_AddStringToObject(body, "name", a->pos[1]);
	rc = path ? cs_client_request(x->c, "PATCH", path, body, 0, NULL) : -ENOMEM;
	free(path);
	cJSON_Delete(body);
	return rc;
}

int ctl_volume_rm(struct ctl *x, struct ctl_args *a)
{
	char *path = ctl_vol_url(a->pos[0], ctl_flag(a, "--force") ? "?force=1" : NULL);
	int rc;

	/* Every chunk only it uses is dropped: allow ten minutes. */
	rc = path ? cs_client_request(x->c, "DELETE", path, NULL, 600, NULL) : -ENOMEM;
	free(path);
	return rc;
}

int ctl_mount(struct ctl *x, struct ctl_args *a)
{
	const char *mp = a->pos[1];
	int rc;

	/* ENOTCONN: a mount left by a killed daemon; the daemon clears it. */
	if (!realpath(mp, a->path) && (errno != ENOTCONN || mp[0] != '/' ||
				       snprintf(a->path, sizeof(a->path), "%s", mp) < 0)) {
		cs_cli_err("mount point %s: %s", mp, strerror(errno));
		return errno == ENOENT ? CS_EXIT_NOTFOUND : CS_EXIT_FAIL;
	}
	if ((rc = ctl_connect(x)))
		return rc;
	return cs_client_mount(x->c, a->pos[0], a->path, ctl_str(a, "-o"),
			       ctl_flag(a, "--shared") ? CS_CLIENT_MOUNT_SHARED : 0, &a->ans);
}

void ctl_mount_print(const struct ctl *x, const struct ctl_args *a)
{
	printf("mounted %s '%s' at %s%s%s\n", a->snap[0] ? "snapshot" : "volume", a->pos[0],
	       a->path, jbool(a->ans, "readonly") ? " (read-only)" : "",
	       jbool(a->ans, "shared") ? " (shared)" : "");
}

int ctl_unmount(struct ctl *x, struct ctl_args *a)
{
	const char *mp = a->pos[0];
	char cwd[PATH_MAX];
	int rc;

	/* A dead FUSE mount cannot be resolved: then keep the path as is. */
	if (!realpath(mp, a->path)) {
		if (mp[0] == '/')
			snprintf(a->path, sizeof(a->path), "%s", mp);
		else if (!getcwd(cwd, sizeof(cwd)) || snprintf(a->path, sizeof(a->path), "%s/%s",
							       cwd, mp) >= (int)sizeof(a->path))
			return cs_cli_usage("cannot resolve %s", mp);
	}
	if ((rc = ctl_connect(x)))
		return rc;
	return cs_client_unmount(x->c, a->path, 0);
}

void ctl_unmount_print(const struct ctl *x, const struct ctl_args *a)
{
	printf("unmounted %s\n", a->path);
}
