/*
 * main_ctl.c - cstorfs-ctl, the command line of cstorfs. Every command is
 * one or two control API requests through cs_client (which starts the
 * daemon when none answers). This file parses and checks the command
 * line, and prints answers as tables (or the API's JSON with --json).
 * docs/interfaces.md is the contract for commands, output and exit codes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cs_client.h"
#include "cs_store.h" /* the stream parser (stream inspect), no store */

#define PROG "cstorfs-ctl"

struct ctl {
	const char *store_arg;
	int json;
	int bytes;
	struct cs_client *c;
	int argc; /* the command and its arguments, globals removed */
	char **argv;
};

static const char usage_text[] =
    "usage: " PROG " [--store DIR] [--json] [--bytes] COMMAND ...\n"
    "\n"
    "Commands:\n"
    "  volume create NAME [--compression zstd:N|none] [--quota SIZE]\n"
    "                               create a volume (zstd level N 1..19)\n"
    "  volume list                  list volumes\n"
    "  volume inspect NAME          show one volume\n"
    "  volume rename OLD NEW        rename a volume (not while mounted)\n"
    "  volume rm NAME [--force]     remove a volume (--force unmounts it first)\n"
    "  mount NAME[@SNAPSHOT] MOUNTPOINT [-o OPTIONS] [--shared]\n"
    "                               mount a volume (a snapshot: read-only);\n"
    "                               OPTIONS: ro, rw, allow_other, allow_root,\n"
    "                               default_permissions, ...; --shared (root):\n"
    "                               one session per volume, more mount points\n"
    "                               are bind mounts of it\n"
    "  unmount MOUNTPOINT           unmount\n"
    "  snapshot create VOLUME@NAME  snapshot a volume (O(1))\n"
    "  snapshot list [VOLUME]       list snapshots (of every volume when omitted)\n"
    "  snapshot rm VOLUME@NAME      remove a snapshot (space is reclaimed shortly)\n"
    "  snapshot rename VOLUME@OLD NEW\n"
    "                               rename a snapshot\n"
    "  clone VOLUME@SNAPSHOT NEWVOLUME [--compression zstd:N|none] [--quota SIZE]\n"
    "                               a new volume sharing the snapshot's data (O(1))\n"
    "  promote VOLUME               make a clone independent of its origin\n"
    "  rollback VOLUME@NAME [-r] [--force]\n"
    "                               make the volume what the snapshot holds;\n"
    "                               -r destroys later snapshots, --force unmounts\n"
    "  diff VOLUME@A [VOLUME@B]     paths changed from A to B (or the live volume):\n"
    "                               + created, - deleted, M modified, R renamed\n"
    "  gc                           reclaim space now; prints what it freed\n"
    "  check                        the store's consistency check: counters,\n"
    "                               chunk references, every referenced chunk\n"
    "                               present; prints OK or each problem (exit 1)\n"
    "  send VOLUME@SNAP [-i|-I [BASEVOL@]BASE] [-o FILE] [--resume TOKEN]\n"
    "       [--dry-run] [--quiet]   write a replication stream of the snapshot to\n"
    "                               stdout (never a terminal) or FILE; -i: only the\n"
    "                               changes since BASE (of VOLUME, or BASEVOL: a\n"
    "                               clone's origin); -I: with every snapshot in\n"
    "                               between; --resume: the rest of a cut stream\n"
    "                               (VOLUME@SNAP may then be omitted); --dry-run:\n"
    "                               print the stream's exact size only\n"
    "  receive VOLUME [-i FILE] [--force] [--quiet]\n"
    "                               apply a stream read from stdin or FILE; a full\n"
    "                               stream creates VOLUME; --force rolls VOLUME back\n"
    "                               to the base first if it changed since\n"
    "  receive --resume-token VOLUME\n"
    "                               print the token to resume a cut receive\n"
    "  receive --abort VOLUME       discard a cut receive (the same send | receive\n"
    "                               run again finishes it instead)\n"
    "  stream inspect FILE          describe a stream and check it (no daemon)\n"
    "  scrub [VOLUME] [--rate SIZE] [--wait] [--quiet]\n"
    "                               read and verify every chunk of the store (or\n"
    "                               the chunks VOLUME and its snapshots use) in the\n"
    "                               background; --rate: at most SIZE per second;\n"
    "                               --wait: until it ends, then the report (exit 1\n"
    "                               when damage was found); scrub start VOLUME for\n"
    "                               a volume named status or stop\n"
    "  scrub status [--wait]        its progress, or the last result: each damaged\n"
    "                               chunk with the files and snapshots using it\n"
    "  scrub stop | scrub --cancel  cancel the running scrub\n"
    "  status                       the daemon, its store and its mounts\n"
    "  daemon start                 start the store's daemon if none runs\n"
    "  daemon stop                  stop the store's daemon (unmounts everything)\n"
    "\n"
    "Options:\n"
    "  --store DIR   the store (default: $CSTORFS_STORE, else /var/lib/cstorfs\n"
    "                as root, else ~/.local/share/cstorfs)\n"
    "  --json        print the API's JSON answer\n"
    "  --bytes       print sizes as exact byte counts\n"
    "  --quiet       (send, receive) no progress bar on stderr\n"
    "  -h, --help    this help\n"
    "\n"
    "SIZE: bytes, or with a suffix K, M, G, T (powers of 1024; KiB, KB, K alike).\n"
    "A daemon (cstorfsd) is started for the store when none answers.\n"
    "\n"
    "Exit codes:\n"
    "  0  ok\n"
    "  1  failure reported by the daemon, or an I/O error\n"
    "  2  usage error (bad command line, bad name or size)\n"
    "  3  cannot reach or start the daemon, or the store is in use\n"
    "  4  not found (ENOENT)\n"
    "  5  already exists or busy (EEXIST, EBUSY, ENOTEMPTY; receive: the target\n"
    "     changed since the stream's base, ESTALE)\n"
    "  Stream errors (corrupt or cut stream, a stream inspect that fails its\n"
    "  check) exit with 1.\n";

/* Report a failed client call and return its exit code. */
static int failed(struct ctl *x, int err)
{
	const char *m = x->c ? cs_client_errmsg(x->c) : "";

	cs_cli_err("%s", *m ? m : strerror(-err));
	return cs_client_exit_code(err);
}

/* ------------------------------------------------------------------ */
/* JSON and formatting helpers                                        */
/* ------------------------------------------------------------------ */

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(it) ? it->valuestring : "";
}

static uint64_t jnum(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(it) && it->valuedouble > 0 ? (uint64_t)it->valuedouble : 0;
}

static int jbool(const cJSON *o, const char *k)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static const char *size_str(const struct ctl *x, uint64_t n, char *buf, size_t len)
{
	if (x->bytes)
		snprintf(buf, len, "%llu", (unsigned long long)n);
	else
		cs_format_size(n, buf, len);
	return buf;
}

static void print_json(const cJSON *j)
{
	char *s = cJSON_Print(j);

	if (s)
		printf("%s\n", s);
	free(s);
}

static void print_empty_json(const struct ctl *x)
{
	if (x->json)
		printf("{}\n");
}

/* A simple table: rows of cells, columns padded to their widest cell. */
#define TABLE_COLS 8
struct table {
	int ncols, nrows, cap;
	char *(*rows)[TABLE_COLS];
};

static void table_add(struct table *t, const char *const *cells)
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

static void table_print_free(struct table *t)
{
	int w[TABLE_COLS] = {0};
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
/* Argument helpers                                                   */
/* ------------------------------------------------------------------ */

static int check_name_arg(const char *what, const char *name)
{
	int err = cs_client_name_check(name);

	if (err == -ENAMETOOLONG)
		return cs_cli_usage("%s is longer than 255 bytes", what);
	if (err)
		return cs_cli_usage("invalid %s '%s': 1-255 bytes, no '/', not '.' or '..'", what,
				   name);
	return 0;
}

/* A volume name: as any name, and no '@' (it separates snapshots). */
static int check_volume_arg(const char *name)
{
	int rc = check_name_arg("volume name", name);

	if (rc == 0 && strchr(name, '@'))
		rc = cs_cli_usage("invalid volume name '%s': no '@'", name);
	return rc;
}

static int check_compression_arg(const char *s)
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

/* Match "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i. Returns
 * 1 when matched (value in *val), 0 when not, -1 when the value is
 * missing. */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n))
		return 0;
	if (argv[*i][n] == '=') {
		*val = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*val = argv[++*i];
	return 1;
}

static int split_arg(const char *spec, int need_snap, char **vol, char **snap);

static int connect_daemon(struct ctl *x)
{
	int err = cs_client_ensure_daemon(x->c);

	return err ? failed(x, err) : 0;
}

/* ------------------------------------------------------------------ */
/* volume ...                                                         */
/* ------------------------------------------------------------------ */

static void print_volume(const struct ctl *x, const cJSON *v)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(v, "stats");
	const cJSON *mps = cJSON_GetObjectItemCaseSensitive(v, "mounts");
	const cJSON *mp;
	char b[32];
	int first = 1;

	printf("name:           %s\n", jstr(v, "name"));
	printf("uuid:           %s\n", jstr(v, "uuid"));
	printf("id:             %llu\n", (unsigned long long)jnum(v, "id"));
	printf("created:        %s\n", jstr(v, "created"));
	printf("compression:    %s\n", jstr(v, "compression"));
	printf("quota:          %s\n",
	       jnum(v, "quota") ? size_str(x, jnum(v, "quota"), b, sizeof(b)) : "none");
	printf("epoch:          %llu\n", (unsigned long long)jnum(v, "epoch"));
	printf("mounted:        %s", jbool(v, "mounted") ? "yes" : "no");
	cJSON_ArrayForEach(mp, mps)
	{
		if (cJSON_IsString(mp)) {
			printf("%s%s", first ? " (" : ", ", mp->valuestring);
			first = 0;
		}
	}
	printf("%s\n", first ? "" : ")");
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
	first = 1;
	cJSON_ArrayForEach(mp, cJSON_GetObjectItemCaseSensitive(v, "props"))
	{
		if (cJSON_IsString(mp)) {
			printf("%s%s=%s", first ? " " : ", ", mp->string, mp->valuestring);
			first = 0;
		}
	}
	printf("%s\n", first ? " -" : "");
}

/* --compression and --quota, as volume create and clone take them. */
struct vol_opts {
	const char *comp, *quota;
	uint64_t q; /* the quota in bytes, once checked */
};

/* Take argv[*i] when it is one of them (with its value): 1 taken, 0 not
 * one of them, -1 its value is missing (the usage error is printed). */
static int vol_opt_take(int argc, char **argv, int *i, struct vol_opts *o)
{
	const char *val;
	int m;

	if ((m = opt_value(argc, argv, i, "--compression", &val))) {
		if (m < 0)
			return cs_cli_usage("--compression needs a value"), -1;
		o->comp = val;
		return 1;
	}
	if ((m = opt_value(argc, argv, i, "--quota", &val))) {
		if (m < 0)
			return cs_cli_usage("--quota needs a value"), -1;
		o->quota = val;
		return 1;
	}
	return 0;
}

/* Check the values taken: 0 or the usage exit code. */
static int vol_opts_check(struct vol_opts *o)
{
	int rc, err;

	if (o->comp && (rc = check_compression_arg(o->comp)))
		return rc;
	if (o->quota && (err = cs_parse_size(o->quota, &o->q)))
		return cs_cli_usage("invalid size '%s' for --quota%s", o->quota,
				   err == -ERANGE ? " (too large)" : "");
	return 0;
}

static int cmd_volume_create(struct ctl *x, int argc, char **argv)
{
	const char *name = NULL;
	struct vol_opts o = { 0 };
	cJSON *body = NULL, *ans = NULL;
	int i, m, rc;

	for (i = 0; i < argc; i++) {
		if ((m = vol_opt_take(argc, argv, &i, &o))) {
			if (m < 0)
				return CS_EXIT_USAGE;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return cs_cli_usage("unknown option '%s' for volume create", argv[i]);
		} else if (!name) {
			name = argv[i];
		} else {
			return cs_cli_usage("unexpected argument '%s'", argv[i]);
		}
	}
	if (!name)
		return cs_cli_usage("volume create needs a NAME");
	if ((rc = check_volume_arg(name)) || (rc = vol_opts_check(&o)))
		return rc;
	if ((rc = connect_daemon(x)))
		return rc;
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "name", name);
	if (o.comp)
		cJSON_AddStringToObject(body, "compression", o.comp);
	if (o.quota)
		cJSON_AddNumberToObject(body, "quota", (double)o.q);
	rc = cs_client_request(x->c, "POST", "/v1/volumes", body, 0, &ans);
	cJSON_Delete(body);
	if (rc)
		return failed(x, rc);
	if (x->json)
		print_json(ans);
	else
		printf("created volume '%s'\n", name);
	cJSON_Delete(ans);
	return 0;
}

static int cmd_volume_list(struct ctl *x, int argc, char **argv)
{
	static const char *const head[] = {"NAME",    "MOUNTED", "COMPRESSION", "QUOTA",
					   "LOGICAL", "STORED",	 "CREATED"};
	struct table t = {.ncols = 7};
	const cJSON *vols, *v;
	cJSON *ans = NULL;
	int rc;

	if (argc > 0)
		return cs_cli_usage("unexpected argument '%s'", argv[0]);
	if ((rc = connect_daemon(x)))
		return rc;
	rc = cs_client_request(x->c, "GET", "/v1/volumes", NULL, 0, &ans);
	if (rc)
		return failed(x, rc);
	if (x->json) {
		print_json(ans);
		cJSON_Delete(ans);
		return 0;
	}
	vols = cJSON_GetObjectItemCaseSensitive(ans, "volumes");
	table_add(&t, head);
	cJSON_ArrayForEach(v, vols)
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
		table_add(&t, row);
	}
	table_print_free(&t);
	cJSON_Delete(ans);
	return 0;
}

/* A path for a volume: /v1/volumes/NAME (NAME percent-encoded). */
static char *volume_path(const char *name, const char *query)
{
	char *enc = cs_client_urlencode(name), *p = NULL;

	if (!enc)
		return NULL;
	if (asprintf(&p, "/v1/volumes/%s%s", enc, query ? query : "") < 0)
		p = NULL;
	free(enc);
	return p;
}

static int cmd_volume_inspect(struct ctl *x, int argc, char **argv)
{
	cJSON *ans = NULL;
	char *path;
	int rc;

	if (argc != 1)
		return cs_cli_usage("volume inspect needs exactly one NAME");
	if ((rc = check_volume_arg(argv[0])))
		return rc;
	if ((rc = connect_daemon(x)))
		return rc;
	path = volume_path(argv[0], NULL);
	rc = path ? cs_client_request(x->c, "GET", path, NULL, 0, &ans) : -ENOMEM;
	free(path);
	if (rc)
		return failed(x, rc);
	if (x->json)
		print_json(ans);
	else
		print_volume(x, ans);
	cJSON_Delete(ans);
	return 0;
}

static int cmd_volume_rename(struct ctl *x, int argc, char **argv)
{
	cJSON *body;
	char *path;
	int rc;

	if (argc != 2)
		return cs_cli_usage("volume rename needs OLD and NEW");
	if ((rc = check_volume_arg(argv[0])) ||
	    (rc = check_name_arg("new volume name", argv[1])))
		return rc;
	if ((rc = connect_daemon(x)))
		return rc;
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "name", argv[1]);
	path = volume_path(argv[0], NULL);
	rc = path ? cs_client_request(x->c, "PATCH", path, body, 0, NULL) : -ENOMEM;
	free(path);
	cJSON_Delete(body);
	if (rc)
		return failed(x, rc);
	if (x->json)
		print_empty_json(x);
	else
		printf("renamed volume '%s' to '%s'\n", argv[0], argv[1]);
	return 0;
}

static int cmd_volume_rm(struct ctl *x, int argc, char **argv)
{
	const char *name = NULL;
	int force = 0, i, rc;
	char *path;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f"))
			force = 1;
		else if (argv[i][0] == '-' && argv[i][1])
			return cs_cli_usage("unknown option '%s' for volume rm", argv[i]);
		else if (!name)
			name = argv[i];
		else
			return cs_cli_usage("unexpected argument '%s'", argv[i]);
	}
	if (!name)
		return cs_cli_usage("volume rm needs a NAME");
	if ((rc = check_volume_arg(name)))
		return rc;
	if ((rc = connect_daemon(x)))
		return rc;
	path = volume_path(name, force ? "?force=1" : NULL);
	rc = path ? cs_client_request(x->c, "DELETE", path, NULL, 600, NULL) : -ENOMEM;
	free(path);
	if (rc)
		return failed(x, rc);
	if (x->json)
		print_empty_json(x);
	else
		printf("removed volume '%s'\n", name);
	return 0;
}

static int cmd_volume(struct ctl *x, int argc, char **argv)
{
	if (argc < 1)
		return cs_cli_usage("volume needs a subcommand (create, list, inspect, rename, rm)");
	if (!strcmp(argv[0], "create"))
		return cmd_volume_create(x, argc - 1, argv + 1);
	if (!strcmp(argv[0], "list") || !strcmp(argv[0], "ls"))
		return cmd_volume_list(x, argc - 1, argv + 1);
	if (!strcmp(argv[0], "inspect"))
		return cmd_volume_inspect(x, argc - 1, argv + 1);
	if (!strcmp(argv[0], "rename"))
		return cmd_volume_rename(x, argc - 1, argv + 1);
	if (!strcmp(argv[0], "rm") || !strcmp(argv[0], "remove"))
		return cmd_volume_rm(x, argc - 1, argv + 1);
	return cs_cli_usage("unknown volume subcommand '%s'", argv[0]);
}

/* ------------------------------------------------------------------ */
/* mount, unmount                                                     */
/* ------------------------------------------------------------------ */

static int cmd_mount(struct ctl *x, int argc, char **argv)
{
	const char *name = NULL, *mp = NULL, *opts = NULL, *val;
	char real[PATH_MAX], *vol = NULL, *snap = NULL;
	cJSON *ans = NULL;
	int i, m, rc, shared = 0;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--shared")) {
			shared = 1;
		} else if (!strncmp(argv[i], "-o", 2) && argv[i][2]) {
			opts = argv[i] + 2;
		} else if ((m = opt_value(argc, argv, &i, "-o", &val)) ||
			   (m = opt_value(argc, argv, &i, "--options", &val))) {
			if (m < 0)
				return cs_cli_usage("-o needs OPTIONS");
			opts = val;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return cs_cli_usage("unknown option '%s' for mount", argv[i]);
		} else if (!name) {
			name = argv[i];
		} else if (!mp) {
			mp = argv[i];
		} else {
			return cs_cli_usage("unexpected argument '%s'", argv[i]);
		}
	}
	if (!name || !mp)
		return cs_cli_usage("mount needs NAME and MOUNTPOINT");
	if ((rc = split_arg(name, 0, &vol, &snap)))
		return rc;
	free(vol);
	free(snap);
	/* ENOTCONN: a mount left by a killed daemon; the daemon clears it. */
	if (!realpath(mp, real) &&
	    (errno != ENOTCONN || mp[0] != '/' || snprintf(real, sizeof(real), "%s", mp) < 0)) {
		cs_cli_err("mount point %s: %s", mp, strerror(errno));
		return errno == ENOENT ? CS_EXIT_NOTFOUND : CS_EXIT_FAIL;
	}
	if ((rc = connect_daemon(x)))
		return rc;
	rc = cs_client_mount(x->c, name, real, opts, shared ? CS_CLIENT_MOUNT_SHARED : 0, &ans);
	if (rc)
		return failed(x, rc);
	if (x->json)
		print_json(ans);
	else
		printf("mounted %s '%s' at %s%s%s\n", strchr(name, '@') ? "snapshot" : "volume",
		       name, real, jbool(ans, "readonly") ? " (read-only)" : "",
		       jbool(ans, "shared") ? " (shared)" : "");
	cJSON_Delete(ans);
	return 0;
}

static int cmd_unmount(struct ctl *x, int argc, char **argv)
{
	char real[PATH_MAX], *enc = NULL, *path = NULL;
	char cwd[PATH_MAX];
	const char *mp;
	int rc;

	if (argc != 1)
		return cs_cli_usage("unmount needs exactly one MOUNTPOINT");
	mp = argv[0];
	/* A dead FUSE mount cannot be resolved: then keep the path as is. */
	if (realpath(mp, real)) {
		mp = real;
	} else if (mp[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)) ||
		    snprintf(real, sizeof(real), "%s/%s", cwd, mp) >= (int)sizeof(real))
			return cs_cli_usage("cannot resolve %s", mp);
		mp = real;
	}
	if ((rc = connect_daemon(x)))
		return rc;
	enc = cs_client_urlencode(mp);
	if (!enc || asprintf(&path, "/v1/mounts?mountpoint=%s", enc) < 0) {
		free(enc);
		return failed(x, -ENOMEM);
	}
	rc = cs_client_request(x->c, "DELETE", path, NULL, 0, NULL);
	free(path);
	free(enc);
	if (rc)
		return failed(x, rc);
	if (x->json)
		print_empty_json(x);
	else
		printf("unmounted %s\n", mp);
	return 0;
}

/* ------------------------------------------------------------------ */
/* snapshot, clone, promote, rollback, diff, gc                       */
/* ------------------------------------------------------------------ */

/* Split "VOLUME@SNAP" (required snapshot part unless @opt_snap). The
 * parts are malloc'd. Returns 0 or an exit code (usage error). */
static int split_arg(const char *spec, int need_snap, char **vol, char **snap)
{
	int err = cs_client_split_snapshot(spec, vol, snap);

	if (err == -ENOMEM) {
		cs_cli_err("out of memory");
		return CS_EXIT_FAIL;
	}
	if (err)
		return cs_cli_usage("invalid %s '%s'", need_snap ? "VOLUME@SNAPSHOT" : "name", spec);
	if (need_snap && !*snap) {
		free(*vol);
		*vol = NULL;
		return cs_cli_usage("'%s' is not VOLUME@SNAPSHOT", spec);
	}
	if (*snap && strchr(*vol, '@')) {
		free(*vol);
		free(*snap);
		*vol = *snap = NULL;
		return cs_cli_usage("invalid volume name in '%s'", spec);
	}
	return 0;
}

static void print_snapshots(const struct ctl *x, const cJSON *snaps, struct table *t)
{
	const cJSON *s;
	char ref[32], used[32], full[2 * 256 + 2];

	cJSON_ArrayForEach(s, snaps)
	{
		const char *row[5];

		snprintf(full, sizeof(full), "%s@%s", jstr(s, "volume"), jstr(s, "name"));
		row[0] = full;
		row[1] = size_str(x, jnum(s, "referenced_bytes"), ref, sizeof(ref));
		row[2] = size_str(x, jnum(s, "used_bytes"), used, sizeof(used));
		row[3] = jstr(s, "created");
		row[4] = jnum(s, "clones") ? "yes" : "-";
		table_add(t, row);
	}
}

static int cmd_snapshot_create(struct ctl *x, int argc, char **argv)
{
	char *vol = NULL, *snap = NULL;
	cJSON *ans = NULL;
	int rc;

	if (argc != 1)
		return cs_cli_usage("snapshot create needs VOLUME@NAME");
	if ((rc = split_arg(argv[0], 1, &vol, &snap)) || (rc = connect_daemon(x)))
		goto out;
	rc = cs_client_snapshot_create(x->c, vol, snap, &ans);
	if (rc) {
		rc = failed(x, rc);
		goto out;
	}
	if (x->json)
		print_json(ans);
	else
		printf("created snapshot '%s@%s'\n", vol, snap);
out:
	cJSON_Delete(ans);
	free(vol);
	free(snap);
	return rc;
}

static int cmd_snapshot_list(struct ctl *x, int argc, char **argv)
{
	static const char *const head[] = {"SNAPSHOT", "REFERENCED", "USED", "CREATED", "CLONES"};
	struct table t = {.ncols = 5};
	cJSON *all = NULL, *vols = NULL, *ans = NULL, *arr;
	const cJSON *v;
	int rc;

	if (argc > 1)
		return cs_cli_usage("snapshot list takes at most one VOLUME");
	if (argc == 1 && (rc = check_volume_arg(argv[0])))
		return rc;
	if ((rc = connect_daemon(x)))
		return rc;
	all = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(all, "snapshots");
	if (argc == 1) {
		rc = cs_client_snapshot_list(x->c, argv[0], &ans);
		if (rc)
			goto fail;
		cJSON_Delete(all);
		all = ans;
		ans = NULL;
	} else {
		rc = cs_client_volume_list(x->c, &vols);
		if (rc)
			goto fail;
		cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(vols, "volumes"))
		{
			cJSON *s, *next;

			rc = cs_client_snapshot_list(x->c, jstr(v, "name"), &ans);
			if (rc == -ENOENT)
				continue; /* removed meanwhile */
			if (rc)
				goto fail;
			s = cJSON_GetObjectItemCaseSensitive(ans, "snapshots");
			for (s = s ? s->child : NULL; s; s = next) {
				next = s->next;
				cJSON_AddItemToArray(
				    arr,
				    cJSON_DetachItemViaPointer(
					cJSON_GetObjectItemCaseSensitive(ans, "snapshots"), s));
			}
			cJSON_Delete(ans);
			ans = NULL;
		}
	}
	if (x->json) {
		print_json(all);
	} else {
		const cJSON *snaps = cJSON_GetObjectItemCaseSensitive(all, "snapshots");

		if (cJSON_GetArraySize(snaps) == 0) {
			printf("no snapshots\n");
		} else {
			table_add(&t, head);
			print_snapshots(x, snaps, &t);
			table_print_free(&t);
		}
	}
	rc = 0;
	goto out;
fail:
	rc = failed(x, rc);
out:
	cJSON_Delete(all);
	cJSON_Delete(vols);
	cJSON_Delete(ans);
	return rc;
}

static int cmd_snapshot_rm(struct ctl *x, int argc, char **argv)
{
	char *vol = NULL, *snap = NULL;
	int rc;

	if (argc != 1)
		return cs_cli_usage("snapshot rm needs VOLUME@NAME");
	if ((rc = split_arg(argv[0], 1, &vol, &snap)) || (rc = connect_daemon(x)))
		goto out;
	rc = cs_client_snapshot_delete(x->c, vol, snap);
	if (rc) {
		rc = failed(x, rc);
		goto out;
	}
	if (x->json)
		print_empty_json(x);
	else
		printf("removed snapshot '%s@%s'\n", vol, snap);
out:
	free(vol);
	free(snap);
	return rc;
}

/* "/v1/volumes/VOL" + @suffix (names are checked: no '/'). */
static char *vol_url(const char *vol, const char *suffix)
{
	char *enc = cs_client_urlencode(vol), *p = NULL;

	if (enc && asprintf(&p, "/v1/volumes/%s%s", enc, suffix) < 0)
		p = NULL;
	free(enc);
	return p;
}

static int cmd_snapshot_rename(struct ctl *x, int argc, char **argv)
{
	char *vol = NULL, *snap = NULL, *enc = NULL, *sfx = NULL, *url = NULL;
	cJSON *body = NULL, *ans = NULL;
	int rc;

	if (argc != 2)
		return cs_cli_usage("snapshot rename needs VOLUME@OLD and NEW");
	if ((rc = split_arg(argv[0], 1, &vol, &snap)) ||
	    (rc = check_name_arg("snapshot name", argv[1])))
		goto out;
	if (strchr(argv[1], '@')) {
		rc = cs_cli_usage("invalid snapshot name '%s': no '@'", argv[1]);
		goto out;
	}
	if ((rc = connect_daemon(x)))
		goto out;
	enc = cs_client_urlencode(snap);
	if (!enc || asprintf(&sfx, "/snapshots/%s", enc) < 0 || !(url = vol_url(vol, sfx))) {
		rc = failed(x, -ENOMEM);
		goto out;
	}
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "name", argv[1]);
	rc = cs_client_request(x->c, "PATCH", url, body, 0, &ans);
	if (rc) {
		rc = failed(x, rc);
		goto out;
	}
	if (x->json)
		print_json(ans);
	else
		printf("renamed snapshot '%s@%s' to '%s@%s'\n", vol, snap, vol, argv[1]);
out:
	cJSON_Delete(body);
	cJSON_Delete(ans);
	free(vol);
	free(snap);
	free(enc);
	free(sfx);
	free(url);
	return rc;
}

static int cmd_snapshot(struct ctl *x, int argc, char **argv)
{
	if (argc < 1)
		return cs_cli_usage("snapshot needs a subcommand: create, list, rm, rename");
	if (!strcmp(argv[0], "create"))
		return cmd_snapshot_create(x, argc - 1, argv + 1);
	if (!strcmp(argv[0], "list") || !strcmp(argv[0], "ls"))
		return cmd_snapshot_list(x, argc - 1, argv + 1);
	if (!strcmp(argv[0], "rm") || !strcmp(argv[0], "remove"))
		return cmd_snapshot_rm(x, argc - 1, argv + 1);
	if (!strcmp(argv[0], "rename"))
		return cmd_snapshot_rename(x, argc - 1, argv + 1);
	return cs_cli_usage("unknown snapshot subcommand '%s'", argv[0]);
}

static int cmd_clone(struct ctl *x, int argc, char **argv)
{
	const char *src = NULL, *name = NULL;
	struct vol_opts o = { 0 };
	char *vol = NULL, *snap = NULL;
	cJSON *ans = NULL;
	int i, m, rc;

	for (i = 0; i < argc; i++) {
		if ((m = vol_opt_take(argc, argv, &i, &o))) {
			if (m < 0)
				return CS_EXIT_USAGE;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return cs_cli_usage("unknown option '%s' for clone", argv[i]);
		} else if (!src) {
			src = argv[i];
		} else if (!name) {
			name = argv[i];
		} else {
			return cs_cli_usage("unexpected argument '%s'", argv[i]);
		}
	}
	if (!src || !name)
		return cs_cli_usage("clone needs VOLUME@SNAPSHOT and NEWVOLUME");
	if ((rc = check_volume_arg(name)) || (rc = vol_opts_check(&o)))
		return rc;
	if ((rc = split_arg(src, 1, &vol, &snap)) || (rc = connect_daemon(x)))
		goto out;
	rc = cs_client_volume_create(x->c, name, src, o.comp, o.q, &ans);
	if (rc) {
		rc = failed(x, rc);
		goto out;
	}
	if (x->json)
		print_json(ans);
	else
		printf("created volume '%s' as a clone of '%s'\n", name, src);
out:
	cJSON_Delete(ans);
	free(vol);
	free(snap);
	return rc;
}

static int cmd_promote(struct ctl *x, int argc, char **argv)
{
	cJSON *ans = NULL;
	char *url;
	int rc;

	if (argc != 1)
		return cs_cli_usage("promote needs VOLUME");
	if ((rc = check_volume_arg(argv[0])) || (rc = connect_daemon(x)))
		return rc;
	url = vol_url(argv[0], "/promote");
	if (!url)
		return failed(x, -ENOMEM);
	rc = cs_client_request(x->c, "POST", url, NULL, 0, &ans);
	free(url);
	if (rc)
		return failed(x, rc);
	if (x->json)
		print_json(ans);
	else
		printf("promoted volume '%s': it no longer depends on its origin\n", argv[0]);
	cJSON_Delete(ans);
	return 0;
}

static int cmd_rollback(struct ctl *x, int argc, char **argv)
{
	const char *spec = NULL;
	char *vol = NULL, *snap = NULL, *url = NULL;
	cJSON *body = NULL, *ans = NULL;
	int i, rc, later = 0, force = 0;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-r"))
			later = 1;
		else if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f"))
			force = 1;
		else if (argv[i][0] == '-' && argv[i][1])
			return cs_cli_usage("unknown option '%s' for rollback", argv[i]);
		else if (!spec)
			spec = argv[i];
		else
			return cs_cli_usage("unexpected argument '%s'", argv[i]);
	}
	if (!spec)
		return cs_cli_usage("rollback needs VOLUME@SNAPSHOT");
	if ((rc = split_arg(spec, 1, &vol, &snap)) || (rc = connect_daemon(x)))
		goto out;
	url = vol_url(vol, "/rollback");
	body = cJSON_CreateObject();
	if (!url || !body) {
		rc = failed(x, -ENOMEM);
		goto out;
	}
	cJSON_AddStringToObject(body, "snapshot", snap);
	cJSON_AddBoolToObject(body, "destroy_later", later);
	cJSON_AddBoolToObject(body, "force", force);
	rc = cs_client_request(x->c, "POST", url, body, 0, &ans);
	if (rc) {
		rc = failed(x, rc);
		goto out;
	}
	if (x->json)
		print_json(ans);
	else
		printf("rolled volume '%s' back to '%s'\n", vol, snap);
out:
	cJSON_Delete(body);
	cJSON_Delete(ans);
	free(url);
	free(vol);
	free(snap);
	return rc;
}

static int cmd_diff(struct ctl *x, int argc, char **argv)
{
	char *va = NULL, *a = NULL, *vb = NULL, *b = NULL, *ea = NULL, *eb = NULL;
	char *url = NULL, *sfx = NULL;
	cJSON *ans = NULL;
	const cJSON *ch;
	int rc;

	if (argc < 1 || argc > 2)
		return cs_cli_usage("diff needs VOLUME@A [VOLUME@B]");
	if ((rc = split_arg(argv[0], 1, &va, &a)))
		goto out;
	if (argc == 2) {
		if ((rc = split_arg(argv[1], 0, &vb, &b)))
			goto out;
		if (strcmp(va, vb)) {
			rc = cs_cli_usage("both snapshots must be of the same volume");
			goto out;
		}
	}
	if ((rc = connect_daemon(x)))
		goto out;
	ea = cs_client_urlencode(a);
	eb = b ? cs_client_urlencode(b) : NULL;
	if (!ea || (b && !eb) ||
	    asprintf(&sfx, "/diff?from=%s%s%s", ea, b ? "&to=" : "", b ? eb : "") < 0 ||
	    !(url = vol_url(va, sfx))) {
		rc = failed(x, -ENOMEM);
		goto out;
	}
	rc = cs_client_request(x->c, "GET", url, NULL, 0, &ans);
	if (rc) {
		rc = failed(x, rc);
		goto out;
	}
	if (x->json) {
		print_json(ans);
		goto out;
	}
	cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(ans, "changes"))
	{
		if (!strcmp(jstr(ch, "change"), "R"))
			printf("R %s -> %s\n", jstr(ch, "path"), jstr(ch, "new_path"));
		else
			printf("%s %s\n", jstr(ch, "change"), jstr(ch, "path"));
	}
out:
	cJSON_Delete(ans);
	free(va);
	free(a);
	free(vb);
	free(b);
	free(ea);
	free(eb);
	free(sfx);
	free(url);
	return rc;
}

static int cmd_gc(struct ctl *x, int argc, char **argv)
{
	cJSON *ans = NULL;
	char b[32];
	int rc;

	(void)argv;
	if (argc != 0)
		return cs_cli_usage("gc takes no arguments");
	if ((rc = connect_daemon(x)))
		return rc;
	rc = cs_client_request(x->c, "POST", "/v1/gc", NULL, 0, &ans);
	if (rc)
		return failed(x, rc);
	if (x->json)
		print_json(ans);
	else
		printf("freed %llu versions, %llu chunks, %s\n",
		       (unsigned long long)jnum(ans, "versions_freed"),
		       (unsigned long long)jnum(ans, "chunks_freed"),
		       size_str(x, jnum(ans, "bytes_freed"), b, sizeof(b)));
	cJSON_Delete(ans);
	return 0;
}

/* check: the store's own consistency check, through the daemon. The
 * whole store is read: no time limit but a day. */
static int cmd_check(struct ctl *x, int argc, char **argv)
{
	const cJSON *p, *list;
	cJSON *ans = NULL;
	int rc, good;

	(void)argv;
	if (argc != 0)
		return cs_cli_usage("check takes no arguments");
	if ((rc = connect_daemon(x)))
		return rc;
	rc = cs_client_request(x->c, "POST", "/v1/check", NULL, 86400, &ans);
	if (rc)
		return failed(x, rc);
	good = jbool(ans, "ok");
	if (x->json) {
		print_json(ans);
	} else if (good) {
		printf("OK: %s\n", jstr(ans, "message"));
	} else {
		list = cJSON_GetObjectItemCaseSensitive(ans, "problems");
		cJSON_ArrayForEach(p, list)
			printf("problem: %s\n", cJSON_IsString(p) ? p->valuestring : "?");
		if (jnum(ans, "problems_found") > (uint64_t)cJSON_GetArraySize(list))
			printf("... %llu problems in all\n",
			       (unsigned long long)jnum(ans, "problems_found"));
	}
	if (!good)
		cs_cli_err("the store is inconsistent: %s", jstr(ans, "message"));
	cJSON_Delete(ans);
	return good ? 0 : CS_EXIT_FAIL;
}

/* ------------------------------------------------------------------ */
/* status, daemon                                                     */
/* ------------------------------------------------------------------ */

static void print_mounts(const cJSON *mounts)
{
	static const char *const head[] = {"VOLUME", "MOUNTPOINT", "OPTIONS", "SHARED"};
	struct table t = {.ncols = 4};
	const cJSON *m;

	if (cJSON_GetArraySize(mounts) == 0) {
		printf("mounts:   none\n");
		return;
	}
	printf("mounts:\n");
	table_add(&t, head);
	cJSON_ArrayForEach(m, mounts)
	{
		const char *row[4] = {jstr(m, "volume"), jstr(m, "mountpoint"), jstr(m, "options"),
				      jbool(m, "shared") ? "yes" : "no"};

		table_add(&t, row);
	}
	table_print_free(&t);
}

static void scrub_line(const struct ctl *x, const cJSON *s);

/* "health:   ok, 1.2G free" or "health:   full (ENOSPC) since TIME: why"
 * (a full disk, or read-only after a failed write). */
static void print_health(const struct ctl *x, const cJSON *h)
{
	char a[32], when[32] = "";
	time_t since = (time_t)jnum(h, "since");
	struct tm tm;

	if (!cJSON_IsObject(h))
		return;
	if (!strcmp(jstr(h, "state"), "ok")) {
		printf("health:   ok, %s free\n", size_str(x, jnum(h, "free_bytes"), a, sizeof(a)));
		return;
	}
	if (since && localtime_r(&since, &tm))
		strftime(when, sizeof(when), " since %Y-%m-%d %H:%M:%S", &tm);
	printf("health:   %s (%s)%s: %s\n", jstr(h, "state"), jstr(h, "error"), when,
	       jstr(h, "message"));
}

static int cmd_status(struct ctl *x, int argc, char **argv)
{
	const cJSON *st;
	cJSON *ans = NULL;
	uint64_t up;
	char a[32], b[32], c[32];
	int rc;

	if (argc > 0)
		return cs_cli_usage("unexpected argument '%s'", argv[0]);
	if ((rc = connect_daemon(x)))
		return rc;
	rc = cs_client_request(x->c, "GET", "/v1/status", NULL, 0, &ans);
	if (rc)
		return failed(x, rc);
	if (x->json) {
		print_json(ans);
		cJSON_Delete(ans);
		return 0;
	}
	st = cJSON_GetObjectItemCaseSensitive(ans, "stats");
	up = jnum(ans, "uptime_s");
	printf("daemon:   pid %llu, version %s, up %llud %02llu:%02llu:%02llu\n",
	       (unsigned long long)jnum(ans, "pid"), jstr(ans, "version"),
	       (unsigned long long)(up / 86400), (unsigned long long)(up / 3600 % 24),
	       (unsigned long long)(up / 60 % 60), (unsigned long long)(up % 60));
	printf("store:    %s\n", jstr(ans, "store"));
	print_health(x, cJSON_GetObjectItemCaseSensitive(ans, "health"));
	printf("volumes:  %llu, %llu inodes, %s logical\n", (unsigned long long)jnum(st, "volumes"),
	       (unsigned long long)jnum(st, "inodes"),
	       size_str(x, jnum(st, "logical_bytes"), a, sizeof(a)));
	printf("chunks:   %llu (%llu references), %s raw, %s stored\n",
	       (unsigned long long)jnum(st, "chunks"), (unsigned long long)jnum(st, "chunk_refs"),
	       size_str(x, jnum(st, "raw_bytes"), b, sizeof(b)),
	       size_str(x, jnum(st, "stored_bytes"), c, sizeof(c)));
	printf("snapshots: %llu (%llu volumes awaiting gc)\n",
	       (unsigned long long)jnum(st, "snapshots"),
	       (unsigned long long)jnum(st, "pending_reclaim"));
	printf("scrub:    ");
	if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(ans, "scrub")))
		scrub_line(x, cJSON_GetObjectItemCaseSensitive(ans, "scrub"));
	else
		printf("never run\n");
	print_mounts(cJSON_GetObjectItemCaseSensitive(ans, "mounts"));
	cJSON_Delete(ans);
	return 0;
}

/* Non-zero while @pid runs (a zombie has finished: its parent, which may
 * be whoever started a foreground daemon, just has not reaped it yet). */
static int pid_running(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kill(pid, 0) == 0 || errno == EPERM;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* Wait up to @secs for process @pid to go away. */
static int wait_gone(pid_t pid, int secs)
{
	int i;

	for (i = 0; i < secs * 20; i++) {
		if (!pid_running(pid))
			return 0;
		usleep(50 * 1000);
	}
	return -ETIMEDOUT;
}

static int cmd_daemon(struct ctl *x, int argc, char **argv)
{
	cJSON *st = NULL;
	pid_t pid = 0;
	int rc;

	if (argc != 1)
		return cs_cli_usage("daemon needs a subcommand (start, stop)");
	if (!strcmp(argv[0], "start")) {
		if ((rc = connect_daemon(x)))
			return rc;
		print_empty_json(x);
		return 0;
	}
	if (strcmp(argv[0], "stop"))
		return cs_cli_usage("unknown daemon subcommand '%s'", argv[0]);
	if (!cs_client_ping(x->c)) {
		if (x->json)
			print_empty_json(x);
		else
			printf("no daemon is running for %s\n", cs_client_store(x->c));
		return 0;
	}
	if (cs_client_request(x->c, "GET", "/v1/status", NULL, 0, &st) == 0)
		pid = (pid_t)jnum(st, "pid");
	cJSON_Delete(st);
	rc = cs_client_request(x->c, "POST", "/v1/daemon/stop", NULL, 0, NULL);
	if (rc)
		return failed(x, rc);
	/* Return once it is gone, so the store is free again. */
	if (pid > 0 && wait_gone(pid, 30) < 0) {
		cs_cli_err("the daemon (pid %d) is still stopping", (int)pid);
		return CS_EXIT_FAIL;
	}
	if (x->json)
		print_empty_json(x);
	else
		printf("daemon stopped\n");
	return 0;
}

/* ------------------------------------------------------------------ */
/* send, receive, stream inspect                                      */
/* ------------------------------------------------------------------ */

/* A progress line on stderr, redrawn at most 5 times a second. */
struct progress {
	int on;
	const char *verb;
	double start, last;
	uint64_t done, total;
};

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void progress_draw(struct progress *p, int final)
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

static void progress_cb(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;
	double now = mono_s();

	p->done = done;
	p->total = total;
	if (now - p->last >= 0.2) {
		p->last = now;
		progress_draw(p, 0);
	}
}

static void progress_init(struct progress *p, const char *verb, int quiet)
{
	memset(p, 0, sizeof(*p));
	p->on = !quiet && isatty(STDERR_FILENO);
	p->verb = verb;
	p->start = p->last = mono_s();
}

static void progress_end(struct progress *p, int ok)
{
	if (p->on && (ok || p->done))
		progress_draw(p, 1);
}

/* Append "?key=value" or "&key=value" (value percent-encoded) to *@q. */
static int query_add(char **q, const char *key, const char *value)
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

struct send_args {
	const char *spec, *base, *out, *token;
	int intermediates, dry_run, quiet;
};

static int send_parse(int argc, char **argv, struct send_args *a)
{
	const char *v;
	int i, m;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-i") || !strcmp(argv[i], "-I")) {
			if (a->base)
				return cs_cli_usage("give one of -i and -I, once");
			if (i + 1 >= argc)
				return cs_cli_usage("%s needs [VOLUME@]SNAPSHOT", argv[i]);
			a->intermediates = argv[i][1] == 'I';
			a->base = argv[++i];
		} else if (!strcmp(argv[i], "-o")) {
			if (i + 1 >= argc)
				return cs_cli_usage("-o needs a FILE");
			a->out = argv[++i];
		} else if ((m = opt_value(argc, argv, &i, "--resume", &v))) {
			if (m < 0 || !*v)
				return cs_cli_usage("--resume needs a TOKEN");
			a->token = v;
		} else if (!strcmp(argv[i], "--dry-run") || !strcmp(argv[i], "-n")) {
			a->dry_run = 1;
		} else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
			a->quiet = 1;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return cs_cli_usage("unknown option '%s' for send", argv[i]);
		} else if (!a->spec) {
			a->spec = argv[i];
		} else {
			return cs_cli_usage("unexpected argument '%s'", argv[i]);
		}
	}
	if (!a->spec && !a->token)
		return cs_cli_usage("send needs VOLUME@SNAPSHOT");
	if (a->token && a->base)
		return cs_cli_usage("--resume takes the base from the token: no -i/-I");
	return 0;
}

/* Build /v1/volumes/VOL/send?... from the arguments. */
static int send_url(const struct send_args *a, int dry_run, char **url)
{
	char *vol = NULL, *snap = NULL, *bvol = NULL, *bsnap = NULL, *q = strdup("/send");
	int rc = 0;

	*url = NULL;
	if (!q)
		return failed(NULL, -ENOMEM);
	if (a->spec && (rc = split_arg(a->spec, !a->token, &vol, &snap)))
		goto out;
	if (a->base) {
		if (strchr(a->base, '@')) {
			if ((rc = split_arg(a->base, 1, &bvol, &bsnap)))
				goto out;
		} else if ((rc = check_name_arg("base snapshot name", a->base))) {
			goto out;
		}
	}
	if ((snap && query_add(&q, "snap", snap)) ||
	    (a->base && query_add(&q, "base", bsnap ? bsnap : a->base)) ||
	    (bvol && query_add(&q, "base_volume", bvol)) ||
	    (a->intermediates && query_add(&q, "intermediates", "1")) ||
	    (a->token && query_add(&q, "resume", a->token)) ||
	    (dry_run && query_add(&q, "dry_run", "1"))) {
		rc = failed(NULL, -ENOMEM);
		goto out;
	}
	/* A resumed stream is named by its token; the path needs some volume. */
	*url = vol_url(vol ? vol : "-", q);
	if (!*url)
		rc = failed(NULL, -ENOMEM);
out:
	free(q);
	free(vol);
	free(snap);
	free(bvol);
	free(bsnap);
	return rc;
}

static int send_dry_run(struct ctl *x, const char *url)
{
	cJSON *ans = NULL;
	char b[32];
	int rc = cs_client_request(x->c, "GET", url, NULL, 0, &ans);

	if (rc)
		return failed(x, rc);
	if (x->json)
		print_json(ans);
	else
		printf("%s\n", x->bytes ? (snprintf(b, sizeof(b), "%llu",
						    (unsigned long long)jnum(ans, "size")),
					   b)
					: size_str(x, jnum(ans, "size"), b, sizeof(b)));
	cJSON_Delete(ans);
	return 0;
}

static int cmd_send(struct ctl *x, int argc, char **argv)
{
	struct send_args a = {0};
	struct progress p;
	char *url = NULL;
	int rc, fd = STDOUT_FILENO;

	if ((rc = send_parse(argc, argv, &a)) || (rc = send_url(&a, a.dry_run, &url)))
		return rc;
	if (!a.dry_run && !a.out && isatty(STDOUT_FILENO)) {
		rc = cs_cli_usage("refusing to write a stream to a terminal: redirect stdout "
				 "or use -o FILE");
		goto out;
	}
	if ((rc = connect_daemon(x)))
		goto out;
	if (a.dry_run) {
		rc = send_dry_run(x, url);
		goto out;
	}
	if (a.out) {
		fd = open(a.out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			cs_cli_err("%s: %s", a.out, strerror(errno));
			rc = CS_EXIT_FAIL;
			goto out;
		}
	}
	progress_init(&p, "sent", a.quiet);
	rc = cs_client_send(x->c, url, fd, p.on ? progress_cb : NULL, &p, &p.done);
	progress_end(&p, rc == 0);
	if (a.out && close(fd) < 0 && !rc) {
		cs_cli_err("%s: %s", a.out, strerror(errno));
		rc = CS_EXIT_FAIL;
		goto out;
	}
	if (rc && a.out && p.done == 0)
		unlink(a.out); /* nothing was sent: leave no empty file */
	if (rc)
		rc = failed(x, rc);
out:
	free(url);
	return rc;
}

/* Exit code for a receive error: a target that changed since the base is
 * a conflict, like an existing volume. */
static int recv_failed(struct ctl *x, int err)
{
	int rc = failed(x, err);

	return err == -ESTALE ? CS_EXIT_EXISTS : rc;
}

static int recv_simple(struct ctl *x, const char *vol, int abort_it)
{
	char *url = vol_url(vol, abort_it ? "/receive" : "/receive/token");
	cJSON *ans = NULL;
	int rc;

	if (!url)
		return failed(x, -ENOMEM);
	rc = cs_client_request(x->c, abort_it ? "DELETE" : "GET", url, NULL, 0, &ans);
	free(url);
	if (rc)
		return recv_failed(x, rc);
	if (x->json)
		print_json(ans);
	else if (abort_it)
		printf("discarded the partial receive into '%s'\n", vol);
	else
		printf("%s\n", jstr(ans, "token"));
	cJSON_Delete(ans);
	return 0;
}

static void print_received(const struct ctl *x, const char *vol, const cJSON *ans)
{
	char b[32];

	printf("received '%s@%s': %s in %llu records, %llu new chunks (%llu already here)\n", vol,
	       jstr(ans, "snapshot"), size_str(x, jnum(ans, "bytes"), b, sizeof(b)),
	       (unsigned long long)jnum(ans, "records"),
	       (unsigned long long)jnum(ans, "chunks_new"),
	       (unsigned long long)jnum(ans, "chunks_present"));
}

static int cmd_receive(struct ctl *x, int argc, char **argv)
{
	const char *vol = NULL, *in = NULL;
	int i, rc, force = 0, quiet = 0, token = 0, abort_it = 0, fd = STDIN_FILENO;
	struct progress p;
	cJSON *ans = NULL;
	char *url = NULL;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-i")) {
			if (i + 1 >= argc)
				return cs_cli_usage("-i needs a FILE");
			in = argv[++i];
		} else if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-F")) {
			force = 1;
		} else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
			quiet = 1;
		} else if (!strcmp(argv[i], "--resume-token")) {
			token = 1;
		} else if (!strcmp(argv[i], "--abort")) {
			abort_it = 1;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return cs_cli_usage("unknown option '%s' for receive", argv[i]);
		} else if (!vol) {
			vol = argv[i];
		} else {
			return cs_cli_usage("unexpected argument '%s'", argv[i]);
		}
	}
	if (!vol)
		return cs_cli_usage("receive needs a VOLUME");
	if ((rc = check_volume_arg(vol)))
		return rc;
	if (token + abort_it > 1 || ((token || abort_it) && (in || force)))
		return cs_cli_usage("--resume-token and --abort take only a VOLUME");
	if (!token && !abort_it && !in && isatty(STDIN_FILENO))
		return cs_cli_usage("refusing to read a stream from a terminal: redirect stdin "
				   "or use -i FILE");
	if ((rc = connect_daemon(x)))
		return rc;
	if (token || abort_it)
		return recv_simple(x, vol, abort_it);
	if (in && (fd = open(in, O_RDONLY | O_CLOEXEC)) < 0) {
		cs_cli_err("%s: %s", in, strerror(errno));
		return CS_EXIT_FAIL;
	}
	url = vol_url(vol, force ? "/receive?force=1" : "/receive");
	if (!url) {
		rc = failed(x, -ENOMEM);
		goto out;
	}
	progress_init(&p, "received", quiet);
	rc = cs_client_receive(x->c, url, fd, p.on ? progress_cb : NULL, &p, &ans);
	progress_end(&p, rc == 0);
	if (rc) {
		rc = recv_failed(x, rc);
		goto out;
	}
	if (x->json)
		print_json(ans);
	else if (!quiet)
		print_received(x, vol, ans);
out:
	if (in && fd >= 0)
		close(fd);
	cJSON_Delete(ans);
	free(url);
	return rc;
}

/* stream inspect: the parser of the store library, without a store. */
struct inspect {
	uint64_t count[5], bytes[5]; /* header, chunk, key, snapshot, trailer */
	uint64_t payload_bytes[5];
};

static int rec_index(int type)
{
	switch (type) {
	case CS_REC_HEADER:
		return 0;
	case CS_REC_CHUNK:
		return 1;
	case CS_REC_KEY:
		return 2;
	case CS_REC_SNAPSHOT:
		return 3;
	default:
		return 4;
	}
}

/* Framing of a record on the wire (store/cs_streamfmt.h): a 14-byte head
 * (type, zero, length, sequence) and an 8-byte check. */
#define REC_OVERHEAD (14 + 8)

static int inspect_record(void *ctx, int type, uint64_t seq, uint64_t offset,
			  const uint8_t *payload, size_t len)
{
	struct inspect *in = ctx;
	int i = rec_index(type);

	in->count[i]++;
	in->bytes[i] += len + REC_OVERHEAD;
	in->payload_bytes[i] += len;
	return 0;
}

static void uuid_str(const uint8_t u[16], char *buf)
{
	static const char hex[] = "0123456789abcdef";
	int i, o = 0;

	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[o++] = '-';
		buf[o++] = hex[u[i] >> 4];
		buf[o++] = hex[u[i] & 15];
	}
	buf[o] = '\0';
}

static const char *const rec_names[5] = {"header", "chunk", "key", "snapshot", "trailer"};

/* The stream id in hex (64 digits); a receive's errors name its first 16. */
static void stream_id_hex(const struct cs_stream_header *h, char *buf, size_t size)
{
	for (size_t i = 0; i < sizeof(h->stream_id) && 2 * i + 2 < size; i++)
		snprintf(buf + 2 * i, 3, "%02x", h->stream_id[i]);
}

static cJSON *inspect_json(const struct cs_stream_header *h, const struct inspect *in,
			   uint64_t size, const char *check)
{
	cJSON *o = cJSON_CreateObject(), *hj, *rj;
	char u[40], id[65];
	int i;

	cJSON_AddNumberToObject(o, "size", (double)size);
	if (h) {
		hj = cJSON_AddObjectToObject(o, "header");
		cJSON_AddNumberToObject(hj, "version", h->version);
		stream_id_hex(h, id, sizeof(id));
		cJSON_AddStringToObject(hj, "stream_id", id);
		cJSON_AddBoolToObject(hj, "incremental", !!(h->flags & CS_STREAM_INCREMENTAL));
		cJSON_AddBoolToObject(hj, "intermediates", !!(h->flags & CS_STREAM_INTERMEDIATES));
		cJSON_AddBoolToObject(hj, "resumed", !!(h->flags & CS_STREAM_RESUMED));
		cJSON_AddNumberToObject(hj, "resume_record", (double)h->resume_seq);
		cJSON_AddNumberToObject(hj, "total_bytes", (double)h->total_bytes);
		cJSON_AddStringToObject(hj, "volume", h->volume);
		uuid_str(h->volume_uuid, u);
		cJSON_AddStringToObject(hj, "volume_uuid", u);
		cJSON_AddStringToObject(hj, "snapshot", h->snap);
		uuid_str(h->snap_uuid, u);
		cJSON_AddStringToObject(hj, "snapshot_uuid", u);
		if (h->flags & CS_STREAM_INCREMENTAL) {
			cJSON_AddStringToObject(hj, "base_volume", h->base_volume);
			cJSON_AddStringToObject(hj, "base", h->base);
			uuid_str(h->base_uuid, u);
			cJSON_AddStringToObject(hj, "base_uuid", u);
		}
		cJSON_AddNumberToObject(hj, "compression", h->compression);
		cJSON_AddNumberToObject(hj, "quota", (double)h->quota);
	}
	rj = cJSON_AddObjectToObject(o, "records");
	for (i = 0; i < 5; i++) {
		cJSON *e = cJSON_AddObjectToObject(rj, rec_names[i]);

		cJSON_AddNumberToObject(e, "count", (double)in->count[i]);
		cJSON_AddNumberToObject(e, "bytes", (double)in->bytes[i]);
	}
	cJSON_AddBoolToObject(o, "ok", !*check);
	if (*check)
		cJSON_AddStringToObject(o, "error", check);
	return o;
}

static void inspect_print(const struct ctl *x, const struct cs_stream_header *h,
			  const struct inspect *in, uint64_t size, const char *check)
{
	char u[40], b[32], id[65];
	int i;

	printf("size:         %s\n", size_str(x, size, b, sizeof(b)));
	if (h) {
		printf("version:      %u\n", h->version);
		printf("kind:         %s%s%s\n",
		       h->flags & CS_STREAM_INCREMENTAL ? "incremental" : "full",
		       h->flags & CS_STREAM_INTERMEDIATES ? ", with intermediate snapshots" : "",
		       h->flags & CS_STREAM_RESUMED ? ", resumed" : "");
		if (h->flags & CS_STREAM_RESUMED)
			printf("resumed at:   record %llu\n", (unsigned long long)h->resume_seq);
		stream_id_hex(h, id, sizeof(id));
		printf("stream id:    %s\n", id);
		uuid_str(h->volume_uuid, u);
		printf("volume:       %s (%s)\n", h->volume, u);
		uuid_str(h->snap_uuid, u);
		printf("snapshot:     %s (%s)\n", h->snap, u);
		if (h->flags & CS_STREAM_INCREMENTAL) {
			uuid_str(h->base_uuid, u);
			printf("base:         %s@%s (%s)\n", h->base_volume, h->base, u);
		}
		if (h->compression > 0)
			printf("compression:  zstd:%d\n", h->compression);
		else
			printf("compression:  none\n");
		printf("quota:        %s\n",
		       h->quota ? size_str(x, h->quota, b, sizeof(b)) : "none");
		printf("stream size:  %s (from the header)\n",
		       size_str(x, h->total_bytes, b, sizeof(b)));
	} else {
		printf("header:       none read\n");
	}
	printf("\n%-10s %10s %14s\n", "RECORD", "COUNT", "BYTES");
	for (i = 0; i < 5; i++)
		printf("%-10s %10llu %14s\n", rec_names[i], (unsigned long long)in->count[i],
		       size_str(x, in->bytes[i], b, sizeof(b)));
	if (*check)
		printf("\ncheck:        bad: %s\n", check);
	else
		printf("\ncheck:        ok (every record and the trailer's chain)\n");
}

static int cmd_stream(struct ctl *x, int argc, char **argv)
{
	struct inspect in = {0};
	struct cs_sparser *sp = NULL;
	char check[1024] = "", buf[1 << 16];
	uint64_t size = 0;
	int fd, rc = 0;
	ssize_t n;

	if (argc < 1 || strcmp(argv[0], "inspect"))
		return cs_cli_usage("stream needs a subcommand: inspect FILE");
	if (argc != 2)
		return cs_cli_usage("stream inspect needs exactly one FILE ('-': stdin)");
	fd = strcmp(argv[1], "-") ? open(argv[1], O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (fd < 0) {
		cs_cli_err("%s: %s", argv[1], strerror(errno));
		return CS_EXIT_FAIL;
	}
	sp = cs_sparser_new(inspect_record, &in);
	if (!sp) {
		cs_cli_err("out of memory");
		rc = CS_EXIT_FAIL;
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cs_cli_err("%s: %s", argv[1], strerror(errno));
			rc = CS_EXIT_FAIL;
			goto out;
		}
		size += (uint64_t)n;
		if (!*check && cs_sparser_feed(sp, buf, (size_t)n) < 0)
			snprintf(check, sizeof(check), "%s", cs_last_error());
	}
	if (!*check && cs_sparser_end(sp) < 0)
		snprintf(check, sizeof(check), "%s", cs_last_error());
	if (x->json) {
		cJSON *o = inspect_json(cs_sparser_header(sp), &in, size, check);

		print_json(o);
		cJSON_Delete(o);
	} else {
		inspect_print(x, cs_sparser_header(sp), &in, size, check);
	}
	rc = *check ? CS_EXIT_FAIL : 0;
out:
	cs_sparser_free(sp);
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

/* ------------------------------------------------------------------ */
/* scrub                                                              */
/* ------------------------------------------------------------------ */

/* "the whole store" or "volume NAME" of a scrub object, into @buf. */
static const char *scrub_what(const cJSON *s, char *buf, size_t len)
{
	const char *v = jstr(s, "volume");

	if (*v)
		snprintf(buf, len, "volume %s", v);
	else
		snprintf(buf, len, "the whole store");
	return buf;
}

/* One line: "finished (the whole store), 5000 chunks, 312M, 2 damaged". */
static void scrub_line(const struct ctl *x, const cJSON *s)
{
	uint64_t done = jnum(s, "chunks_done"), total = jnum(s, "chunks_total");
	char w[300], b[32];

	printf("%s (%s), %llu", jstr(s, "state"), scrub_what(s, w, sizeof(w)),
	       (unsigned long long)done);
	if (!strcmp(jstr(s, "state"), "running"))
		printf(" of %llu", (unsigned long long)total);
	printf(" chunks, %s read, %llu damaged", size_str(x, jnum(s, "bytes_done"), b, sizeof(b)),
	       (unsigned long long)jnum(s, "damaged"));
	if (*jstr(s, "finished"))
		printf(", ended %s", jstr(s, "finished"));
	else if (*jstr(s, "started"))
		printf(", started %s", jstr(s, "started"));
	printf("\n");
}

static void scrub_print_file(const cJSON *f)
{
	const cJSON *snaps = cJSON_GetObjectItemCaseSensitive(f, "snapshots"), *sn;
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(f, "path");
	int n = 0;

	if (cJSON_IsString(path))
		printf("    %s:%s  (", jstr(f, "volume"), path->valuestring);
	else
		printf("    %s: inode %llu, no name  (", jstr(f, "volume"),
		       (unsigned long long)jnum(f, "inode"));
	if (jbool(f, "live"))
		printf("live%s", cJSON_GetArraySize(snaps) ? "; " : "");
	if (cJSON_GetArraySize(snaps))
		printf("snapshot%s ", cJSON_GetArraySize(snaps) > 1 ? "s" : "");
	cJSON_ArrayForEach(sn, snaps)
	{
		printf("%s%s", n++ ? ", " : "", cJSON_IsString(sn) ? sn->valuestring : "?");
	}
	printf(")\n");
}

/* The whole report of a scrub object. */
static void scrub_print(const struct ctl *x, const cJSON *s)
{
	const cJSON *dl = cJSON_GetObjectItemCaseSensitive(s, "damage"), *d, *f;
	const char *state = jstr(s, "state");
	char a[32], b[32], r[32], w[300];

	if (!strcmp(state, "none")) {
		printf("no scrub has run on this store\n");
		return;
	}
	printf("scrub:    %s (%s)", state, scrub_what(s, w, sizeof(w)));
	if (!strcmp(state, "running"))
		printf(", %s", jstr(s, "phase"));
	printf("\n");
	printf("started:  %s", jstr(s, "started"));
	if (*jstr(s, "finished"))
		printf(", ended %s", jstr(s, "finished"));
	printf(" (%.1f s)\n",
	       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(s, "elapsed_s")));
	printf("read:     %llu of %llu chunks, %s of %s, %s/s",
	       (unsigned long long)jnum(s, "chunks_done"),
	       (unsigned long long)jnum(s, "chunks_total"),
	       size_str(x, jnum(s, "bytes_done"), a, sizeof(a)),
	       size_str(x, jnum(s, "bytes_total"), b, sizeof(b)),
	       size_str(x, jnum(s, "bytes_per_s"), r, sizeof(r)));
	if (jnum(s, "rate"))
		printf(" (limit %s/s)", size_str(x, jnum(s, "rate"), r, sizeof(r)));
	printf("\n");
	if (!strcmp(state, "failed"))
		printf("error:    %s\n", jstr(s, "message"));
	printf("damaged:  %llu chunk%s\n", (unsigned long long)jnum(s, "damaged"),
	       jnum(s, "damaged") == 1 ? "" : "s");
	if (jnum(s, "damaged") && cJSON_IsNull(dl))
		printf(
		    "  (the list of damaged chunks is not kept across daemon restarts: run scrub "
		    "again)\n");
	cJSON_ArrayForEach(d, dl)
	{
		const cJSON *files = cJSON_GetObjectItemCaseSensitive(d, "files");

		printf("  chunk %s: %s\n", jstr(d, "chunk"), jstr(d, "reason"));
		if (!cJSON_GetArraySize(files))
			printf("    %s\n", !strcmp(state, "finished") ? "no file uses it"
								      : "(files not looked for)");
		cJSON_ArrayForEach(f, files)
		{
			scrub_print_file(f);
		}
		if (jnum(d, "files_more"))
			printf("    ... and %llu more\n",
			       (unsigned long long)jnum(d, "files_more"));
	}
	if (jnum(s, "damage_more"))
		printf("  ... and %llu more damaged chunks\n",
		       (unsigned long long)jnum(s, "damage_more"));
}

/* Poll the scrub until it ends (a progress line on a terminal); *@out is
 * its last object. */
static int scrub_wait(struct ctl *x, int quiet, cJSON **out)
{
	struct progress p;
	cJSON *s = NULL;
	int rc;

	progress_init(&p, "scrub", quiet);
	for (;;) {
		cJSON_Delete(s);
		s = NULL;
		rc = cs_client_scrub_status(x->c, &s);
		if (rc) {
			progress_end(&p, 0);
			return failed(x, rc);
		}
		if (p.on)
			progress_cb(&p, jnum(s, "bytes_done"), jnum(s, "bytes_total"));
		if (strcmp(jstr(s, "state"), "running"))
			break;
		usleep(250 * 1000);
	}
	progress_end(&p, 1);
	*out = s;
	return 0;
}

/* Print a final scrub object; the exit code: 1 when it found damage,
 * failed or was cancelled. */
static int scrub_result(struct ctl *x, const cJSON *s)
{
	const char *state = jstr(s, "state");

	if (x->json)
		print_json(s);
	else
		scrub_print(x, s);
	if (!strcmp(state, "failed")) {
		cs_cli_err("the scrub failed: %s", jstr(s, "message"));
		return CS_EXIT_FAIL;
	}
	if (!strcmp(state, "cancelled")) {
		cs_cli_err("the scrub was cancelled");
		return CS_EXIT_FAIL;
	}
	if (jnum(s, "damaged")) {
		cs_cli_err("%llu damaged chunk%s found", (unsigned long long)jnum(s, "damaged"),
			   jnum(s, "damaged") == 1 ? "" : "s");
		return CS_EXIT_FAIL;
	}
	return 0;
}

/* "100M", "100M/s", "0": bytes per second. */
static int parse_rate(const char *s, uint64_t *rate)
{
	char buf[64];
	size_t n = strlen(s);

	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, s, n);
	buf[n] = 0;
	if (n > 2 && !strcmp(buf + n - 2, "/s"))
		buf[n - 2] = 0;
	if (!*buf || cs_parse_size(buf, rate) < 0)
		return cs_cli_usage("invalid rate '%s': bytes per second, e.g. 100M (0: no limit)",
				    s);
	return 0;
}

static int cmd_scrub(struct ctl *x, int argc, char **argv)
{
	enum { START, STATUS, CANCEL } mode = START;
	const char *volume = NULL, *val;
	int wait = 0, quiet = 0, rated = 0, explicit = 0, i, m, rc;
	uint64_t rate = 0;
	cJSON *s = NULL;

	if (argc > 0 && (!strcmp(argv[0], "status") || !strcmp(argv[0], "stop") ||
			 !strcmp(argv[0], "cancel") || !strcmp(argv[0], "start"))) {
		if (!strcmp(argv[0], "status"))
			mode = STATUS;
		else if (strcmp(argv[0], "start"))
			mode = CANCEL;
		explicit = 1;
		argc--, argv++;
	}
	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--wait")) {
			wait = 1;
		} else if (!strcmp(argv[i], "--quiet")) {
			quiet = 1;
		} else if (!strcmp(argv[i], "--cancel")) {
			if (explicit && mode != CANCEL)
				return cs_cli_usage("--cancel does not go with scrub %s",
						    mode == STATUS ? "status" : "start");
			mode = CANCEL;
		} else if ((m = opt_value(argc, argv, &i, "--rate", &val))) {
			if (m < 0)
				return cs_cli_usage(
				    "--rate needs a value (bytes per second, e.g. 100M)");
			if ((rc = parse_rate(val, &rate)))
				return rc;
			rated = 1;
		} else if (argv[i][0] == '-') {
			return cs_cli_usage("unknown scrub option '%s'", argv[i]);
		} else if (volume) {
			return cs_cli_usage("scrub takes one volume at most ('%s' and '%s')",
					    volume, argv[i]);
		} else {
			if ((rc = check_volume_arg(argv[i])))
				return rc;
			volume = argv[i];
		}
	}
	if (mode != START && (volume || rated))
		return cs_cli_usage("scrub %s takes no volume and no --rate",
				    mode == STATUS ? "status" : "--cancel");
	if (mode == CANCEL && wait)
		return cs_cli_usage("--wait does not go with --cancel (it waits anyway)");
	if ((rc = connect_daemon(x)))
		return rc;
	if (mode == CANCEL) {
		rc = cs_client_scrub_cancel(x->c, &s);
		if (rc)
			return failed(x, rc);
		if (x->json)
			print_json(s);
		else
			printf("scrub cancelled after %llu of %llu chunks, %llu damaged\n",
			       (unsigned long long)jnum(s, "chunks_done"),
			       (unsigned long long)jnum(s, "chunks_total"),
			       (unsigned long long)jnum(s, "damaged"));
		cJSON_Delete(s);
		return 0;
	}
	if (mode == START) {
		char w[300], r[32];

		rc = cs_client_scrub_start(x->c, volume, rate, &s);
		if (rc)
			return failed(x, rc);
		if (!wait) {
			if (x->json)
				print_json(s);
			else
				printf("scrub started (%s, %s%s); '" PROG " scrub status' shows "
				       "its progress\n",
				       scrub_what(s, w, sizeof(w)),
				       rate ? size_str(x, rate, r, sizeof(r)) : "no rate limit",
				       rate ? "/s" : "");
			cJSON_Delete(s);
			return 0;
		}
		cJSON_Delete(s);
		s = NULL;
	}
	if (wait) {
		rc = scrub_wait(x, quiet, &s);
		if (rc)
			return rc;
		rc = scrub_result(x, s);
		cJSON_Delete(s);
		return rc;
	}
	rc = cs_client_scrub_status(x->c, &s);
	if (rc)
		return failed(x, rc);
	if (x->json)
		print_json(s);
	else
		scrub_print(x, s);
	cJSON_Delete(s);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Main                                                               */
/* ------------------------------------------------------------------ */

/* Take the global options out of argv, wherever they are (before "--"). */
static int parse_globals(struct ctl *x, int argc, char **argv)
{
	int i, n = 0, m, rest = 0;
	const char *val;

	x->argv = calloc((size_t)argc + 1, sizeof(char *));
	if (!x->argv)
		return CS_EXIT_FAIL;
	for (i = 1; i < argc; i++) {
		if (rest) {
			x->argv[n++] = argv[i];
		} else if (!strcmp(argv[i], "--")) {
			rest = 1;
		} else if (!strcmp(argv[i], "--json")) {
			x->json = 1;
		} else if (!strcmp(argv[i], "--bytes")) {
			x->bytes = 1;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_text, stdout);
			exit(0);
		} else if ((m = opt_value(argc, argv, &i, "--store", &val))) {
			if (m < 0 || !*val)
				return cs_cli_usage("--store needs a directory");
			x->store_arg = val;
		} else {
			x->argv[n++] = argv[i];
		}
	}
	x->argc = n;
	return 0;
}

int main(int argc, char **argv)
{
	struct ctl x = {0};
	const char *cmd;
	char *store = NULL;
	int rc, err;

	cs_cli_set_prog(PROG);
	signal(SIGPIPE, SIG_IGN);
	if ((rc = parse_globals(&x, argc, argv)))
		goto out;
	if (x.argc == 0) {
		fputs(usage_text, stderr);
		rc = CS_EXIT_USAGE;
		goto out;
	}
	cmd = x.argv[0];
	if (!strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		rc = 0;
		goto out;
	}
	if (strcmp(cmd, "volume") && strcmp(cmd, "mount") && strcmp(cmd, "unmount") &&
	    strcmp(cmd, "umount") && strcmp(cmd, "status") && strcmp(cmd, "daemon") &&
	    strcmp(cmd, "snapshot") && strcmp(cmd, "clone") && strcmp(cmd, "promote") &&
	    strcmp(cmd, "rollback") && strcmp(cmd, "diff") && strcmp(cmd, "gc") &&
	    strcmp(cmd, "check") && strcmp(cmd, "scrub") &&
	    strcmp(cmd, "send") && strcmp(cmd, "receive") && strcmp(cmd, "recv") &&
	    strcmp(cmd, "stream")) {
		rc = cs_cli_usage("unknown command '%s'", cmd);
		goto out;
	}
	if (!strcmp(cmd, "stream")) { /* no daemon, no store */
		rc = cmd_stream(&x, x.argc - 1, x.argv + 1);
		goto out;
	}
	store = cs_client_store_dir(x.store_arg);
	if (!store) {
		cs_cli_err("cannot find a store directory: %s (use --store DIR)", strerror(errno));
		rc = CS_EXIT_USAGE;
		goto out;
	}
	err = cs_client_new(store, &x.c);
	if (err) {
		cs_cli_err("store %s: %s", store,
		       err == -ENAMETOOLONG ? "path too long for a unix socket" : strerror(-err));
		rc = err == -ENAMETOOLONG ? CS_EXIT_USAGE : CS_EXIT_FAIL;
		goto out;
	}
	if (!strcmp(cmd, "volume"))
		rc = cmd_volume(&x, x.argc - 1, x.argv + 1);
	else if (!strcmp(cmd, "mount"))
		rc = cmd_mount(&x, x.argc - 1, x.argv + 1);
	else if (!strcmp(cmd, "unmount") || !strcmp(cmd, "umount"))
		rc = cmd_unmount(&x, x.argc - 1, x.argv + 1);
	else if (!strcmp(cmd, "status"))
		rc = cmd_status(&x, x.argc - 1, x.argv + 1);
	else if (!strcmp(cmd, "snapshot"))
		rc = cmd_snapshot(&x, x.argc - 1, x.argv + 1);
	else if (!strcmp(cmd, "clone"))
		rc = cmd_clone(&x, x.argc - 1, x.argv + 1);
	else if (!strcmp(cmd, "promote"))
		rc = cmd_promote(&x, x.argc - 1, x.argv + 1);
	else if (!strcmp(cmd, "rollback"))
		rc = cmd_rollback(&x, x.argc - 1, x.argv + 1);
	else if (!strcmp(cmd, "diff"))
		rc = cmd_diff(&x, x.argc - 1, x.argv + 1);
	else if (!strcmp(cmd, "gc"))
		rc = cmd_gc(&x, x.argc - 1, x.argv + 1);
	else if (!strcmp(cmd, "check"))
		rc = cmd_check(&x, x.argc - 1, x.argv + 1);
	else if (!strcmp(cmd, "scrub"))
		rc = cmd_scrub(&x, x.argc - 1, x.argv + 1);
	else if (!strcmp(cmd, "send"))
		rc = cmd_send(&x, x.argc - 1, x.argv + 1);
	else if (!strcmp(cmd, "receive") || !strcmp(cmd, "recv"))
		rc = cmd_receive(&x, x.argc - 1, x.argv + 1);
	else
		rc = cmd_daemon(&x, x.argc - 1, x.argv + 1);
out:
	cs_client_free(x.c);
	free(store);
	free(x.argv);
	return rc;
}
