/*
 * ctl_store.c - cstorfs-ctl's commands about the store and its daemon (see
 * ctl_store.h): gc, check, status, daemon start and stop, scrub.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_fmt.h"
#include "ctl_store.h"

/* ------------------------------------------------------------------ */
/* gc, check                                                          */
/* ------------------------------------------------------------------ */

int ctl_gc(struct ctl *x, struct ctl_args *a)
{
	return cs_client_request(x->c, "POST", "/v1/gc", NULL, 0, &a->ans);
}

void ctl_gc_print(const struct ctl *x, const struct ctl_args *a)
{
	char b[32];

	printf("freed %llu versions, %llu chunks, %s\n",
	       (unsigned long long)jnum(a->ans, "versions_freed"),
	       (unsigned long long)jnum(a->ans, "chunks_freed"),
	       size_str(x, jnum(a->ans, "bytes_freed"), b, sizeof(b)));
}

/* The whole store is read: no time limit but a day. */
int ctl_check(struct ctl *x, struct ctl_args *a)
{
	const cJSON *p, *list;
	cJSON *ans = NULL;
	int rc, good;

	rc = cs_client_request(x->c, "POST", "/v1/check", NULL, 86400, &a->ans);
	if (rc)
		return rc;
	a->printed = 1;
	ans = a->ans;
	good = jbool(ans, "ok");
	if (x->json) {
		ctl_print_json(ans);
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
	return good ? 0 : CS_EXIT_FAIL;
}

/* ------------------------------------------------------------------ */
/* status                                                             */
/* ------------------------------------------------------------------ */

static void print_mounts(const cJSON *mounts)
{
	static const char *const head[] = {"VOLUME", "MOUNTPOINT", "OPTIONS", "SHARED"};
	struct ctl_table t = {.ncols = 4};
	const cJSON *m;

	if (cJSON_GetArraySize(mounts) == 0) {
		printf("mounts:   none\n");
		return;
	}
	printf("mounts:\n");
	ctl_table_add(&t, head);
	cJSON_ArrayForEach(m, mounts)
	{
		const char *row[4] = {jstr(m, "volume"), jstr(m, "mountpoint"), jstr(m, "options"),
				      jbool(m, "shared") ? "yes" : "no"};

		ctl_table_add(&t, row);
	}
	ctl_table_print_free(&t);
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

int ctl_status(struct ctl *x, struct ctl_args *a)
{
	return cs_client_request(x->c, "GET", "/v1/status", NULL, 0, &a->ans);
}

void ctl_status_print(const struct ctl *x, const struct ctl_args *a)
{
	const cJSON *ans = a->ans, *st = cJSON_GetObjectItemCaseSensitive(ans, "stats");
	const cJSON *cs = cJSON_GetObjectItemCaseSensitive(ans, "chunk_store");
	uint64_t up = jnum(ans, "uptime_s");
	char b1[32], b2[32], b3[32];

	printf("daemon:   pid %llu, version %s, up %llud %02llu:%02llu:%02llu\n",
	       (unsigned long long)jnum(ans, "pid"), jstr(ans, "version"),
	       (unsigned long long)(up / 86400), (unsigned long long)(up / 3600 % 24),
	       (unsigned long long)(up / 60 % 60), (unsigned long long)(up % 60));
	printf("store:    %s\n", jstr(ans, "store"));
	print_health(x, cJSON_GetObjectItemCaseSensitive(ans, "health"));
	printf("volumes:  %llu, %llu inodes, %s logical\n", (unsigned long long)jnum(st, "volumes"),
	       (unsigned long long)jnum(st, "inodes"),
	       size_str(x, jnum(st, "logical_bytes"), b1, sizeof(b1)));
	printf("chunks:   %llu (%llu references), %s raw, %s stored\n",
	       (unsigned long long)jnum(st, "chunks"), (unsigned long long)jnum(st, "chunk_refs"),
	       size_str(x, jnum(st, "raw_bytes"), b2, sizeof(b2)),
	       size_str(x, jnum(st, "stored_bytes"), b3, sizeof(b3)));
	if (cJSON_IsObject(cs))
		printf("chunk store: %s, %llu files, %s on disk, %s live, %s given back\n",
		       jstr(cs, "kind"), (unsigned long long)jnum(cs, "files"),
		       size_str(x, jnum(cs, "bytes"), b1, sizeof(b1)),
		       size_str(x, jnum(cs, "live_bytes"), b2, sizeof(b2)),
		       size_str(x, jnum(cs, "reclaimed_bytes"), b3, sizeof(b3)));
	printf("snapshots: %llu (%llu volumes awaiting gc)\n",
	       (unsigned long long)jnum(st, "snapshots"),
	       (unsigned long long)jnum(st, "pending_reclaim"));
	printf("scrub:    ");
	if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(ans, "scrub")))
		scrub_line(x, cJSON_GetObjectItemCaseSensitive(ans, "scrub"));
	else
		printf("never run\n");
	print_mounts(cJSON_GetObjectItemCaseSensitive(ans, "mounts"));
}

/* ------------------------------------------------------------------ */
/* daemon start, daemon stop                                          */
/* ------------------------------------------------------------------ */

int ctl_daemon_start(struct ctl *x, struct ctl_args *a)
{
	return 0; /* the row's CTL_DAEMON did it */
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

int ctl_daemon_stop(struct ctl *x, struct ctl_args *a)
{
	cJSON *st = NULL;
	pid_t pid = 0;
	int rc;

	a->printed = 1;
	if (!cs_client_ping(x->c)) {
		if (x->json)
			printf("{}\n");
		else
			printf("no daemon is running for %s\n", cs_client_store(x->c));
		return 0;
	}
	if (cs_client_request(x->c, "GET", "/v1/status", NULL, 0, &st) == 0)
		pid = (pid_t)jnum(st, "pid");
	cJSON_Delete(st);
	rc = cs_client_request(x->c, "POST", "/v1/daemon/stop", NULL, 0, NULL);
	if (rc)
		return rc;
	/* Return once it is gone, so the store is free again. */
	if (pid > 0 && wait_gone(pid, 30) < 0) {
		cs_cli_err("the daemon (pid %d) is still stopping", (int)pid);
		return CS_EXIT_FAIL;
	}
	printf("%s\n", x->json ? "{}" : "daemon stopped");
	return 0;
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
	struct ctl_progress p;
	cJSON *s = NULL;
	int rc;

	ctl_progress_init(&p, "scrub", quiet);
	for (;;) {
		cJSON_Delete(s);
		s = NULL;
		rc = cs_client_scrub_status(x->c, &s);
		if (rc) {
			ctl_progress_end(&p, 0);
			return ctl_failed(x, rc);
		}
		if (p.on)
			ctl_progress_cb(&p, jnum(s, "bytes_done"), jnum(s, "bytes_total"));
		if (strcmp(jstr(s, "state"), "running"))
			break;
		usleep(250 * 1000);
	}
	ctl_progress_end(&p, 1);
	*out = s;
	return 0;
}

/* Print a final scrub object; the exit code: 1 when it found damage,
 * failed or was cancelled. */
static int scrub_result(struct ctl *x, const cJSON *s)
{
	const char *state = jstr(s, "state");

	if (x->json)
		ctl_print_json(s);
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

int ctl_check_rate(const char *opt, const char *s, uint64_t *rate)
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

enum scrub_mode { SCRUB_START, SCRUB_STATUS, SCRUB_CANCEL };

/* What a scrub row asks for: its word, or bare scrub's --cancel. */
static enum scrub_mode scrub_mode(const struct ctl_args *a)
{
	const char *sub = a->cmd->sub;

	if (sub && !strcmp(sub, "status"))
		return SCRUB_STATUS;
	if ((sub && !strcmp(sub, "stop")) || (!sub && ctl_flag(a, "--cancel")))
		return SCRUB_CANCEL;
	return SCRUB_START;
}

/* The options that do not go with the mode (the rows of scrub status and
 * stop accept them hidden, to say so). */
static int scrub_check(const struct ctl_args *a, enum scrub_mode mode)
{
	if (a->cmd->sub && mode != SCRUB_CANCEL && ctl_flag(a, "--cancel"))
		return cs_cli_usage("--cancel does not go with scrub %s", a->cmd->sub);
	if (mode != SCRUB_START && (a->npos || ctl_flag(a, "--rate")))
		return cs_cli_usage("scrub %s takes no volume and no --rate",
				    mode == SCRUB_STATUS ? "status" : "--cancel");
	if (mode == SCRUB_CANCEL && ctl_flag(a, "--wait"))
		return cs_cli_usage("--wait does not go with --cancel (it waits anyway)");
	return 0;
}

int ctl_scrub(struct ctl *x, struct ctl_args *a)
{
	enum scrub_mode mode = scrub_mode(a);
	cJSON *s = NULL;
	int rc;

	if ((rc = scrub_check(a, mode)) || (rc = ctl_connect(x)))
		return rc;
	if (mode == SCRUB_CANCEL)
		return cs_client_scrub_cancel(x->c, &a->ans);
	if (mode == SCRUB_START) {
		rc = cs_client_scrub_start(x->c, a->npos ? a->pos[0] : NULL,
					   ctl_opt(a, "--rate")->num, &a->ans);
		if (rc || !ctl_flag(a, "--wait"))
			return rc;
	}
	if (!ctl_flag(a, "--wait"))
		return cs_client_scrub_status(x->c, &a->ans);
	a->printed = 1;
	if ((rc = scrub_wait(x, ctl_flag(a, "--quiet"), &s)))
		return rc;
	rc = scrub_result(x, s);
	cJSON_Delete(s);
	return rc;
}

void ctl_scrub_print(const struct ctl *x, const struct ctl_args *a)
{
	uint64_t rate = ctl_opt(a, "--rate")->num;
	const cJSON *s = a->ans;
	char w[300], r[32];

	switch (scrub_mode(a)) {
	case SCRUB_CANCEL:
		printf("scrub cancelled after %llu of %llu chunks, %llu damaged\n",
		       (unsigned long long)jnum(s, "chunks_done"),
		       (unsigned long long)jnum(s, "chunks_total"),
		       (unsigned long long)jnum(s, "damaged"));
		break;
	case SCRUB_START:
		printf("scrub started (%s, %s%s); '" PROG " scrub status' shows its progress\n",
		       scrub_what(s, w, sizeof(w)),
		       rate ? size_str(x, rate, r, sizeof(r)) : "no rate limit", rate ? "/s" : "");
		break;
	default:
		scrub_print(x, s);
	}
}
