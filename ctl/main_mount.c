/*
 * main_mount.c - cstorfs, the mount command:
 *
 *   cstorfs STORE:VOLUME[@SNAPSHOT] MOUNTPOINT [-o OPTIONS] [-f]
 *
 * also as mount.fuse3 runs it (`mount -t fuse3 'cstorfs#STORE:VOLUME' MNT`
 * or an fstab line calls `cstorfs STORE:VOLUME MNT -o rw,dev,suid,...`).
 * It asks the store's daemon (started when none answers) to mount and
 * returns once the mount is usable; with -f it stays until the mount goes
 * away (and unmounts on SIGINT/SIGTERM). Exit codes as cstorfs-ctl.
 *
 * STORE:VOLUME: a volume name has no '/', and a store path may hold ':',
 * so the split is at a ':' with no '/' after it; when several qualify
 * (a volume name with ':'), the last one whose left side is an existing
 * directory wins, else the last one.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cs_client.h"
#include "cs_mountinfo.h"

#define PROG "cstorfs"

static const char usage_text[] =
    "usage: " PROG " STORE:VOLUME[@SNAPSHOT] MOUNTPOINT [-o OPTIONS] [-f]\n"
    "  (a snapshot mounts read-only)\n"
    "\n"
    "Mount volume VOLUME of the cstorfs store in directory STORE at\n"
    "MOUNTPOINT, starting the store's daemon (cstorfsd) when none runs.\n"
    "Unmount with: fusermount3 -u MOUNTPOINT (or cstorfs-ctl unmount).\n"
    "\n"
    "  -o OPTIONS  comma list: ro, rw, allow_other, allow_root,\n"
    "              default_permissions, readahead_kb=N (kernel read-ahead,\n"
    "              KiB, default 8192), dirty_ratio=N (percent of the\n"
    "              system's dirty page limit the mount may hold, default\n"
    "              10; 0 in either: the kernel's), rados_timeout=SECONDS\n"
    "              (a store whose chunks are in a RADOS pool: an fsync or a\n"
    "              read fails with EIO after waiting that long for the pool,\n"
    "              1-3600, instead of the store's timeout=; for every volume\n"
    "              of the store's daemon); accepted and ignored:\n"
    "              dev, nodev,\n"
    "              suid, nosuid, exec, noexec, atime, noatime, relatime,\n"
    "              async, auto, noauto, user, nouser, _netdev, nofail\n"
    "  -f          stay in the foreground until the mount goes away\n"
    "  -h, --help  this help\n"
    "\n"
    "Exit codes: 0 ok, 1 failure, 2 usage error, 3 cannot reach or start\n"
    "the daemon, 4 not found, 5 already exists or busy.\n";

static const char *const accepted_opts[] = {
    "ro",     "rw",	"allow_other", "allow_root", "default_permissions",
    "dev",    "nodev",	"suid",	       "nosuid",     "exec",
    "noexec", "atime",	"noatime",     "relatime",   "async",
    "auto",   "noauto", "user",	       "nouser",     "_netdev",
    "nofail", NULL};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	stop_requested = 1;
}

static int is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* @p made absolute against the current directory, unresolved. */
static char *make_abs(const char *p, char *out)
{
	char cwd[PATH_MAX];

	if (p[0] == '/')
		return snprintf(out, PATH_MAX, "%s", p) < PATH_MAX ? out : NULL;
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	return snprintf(out, PATH_MAX, "%s/%s", cwd, p) < PATH_MAX ? out : NULL;
}

/* Split @src (modified) into store and volume. */
static int split_source(char *src, char **store, char **volume)
{
	char *p, *best = NULL, *fallback = NULL;

	if (!strncmp(src, "cstorfs#", 8))
		src += 8;
	for (p = src; (p = strchr(p, ':')); p++) {
		if (strchr(p + 1, '/') || p == src || !p[1])
			continue;
		*p = '\0';
		if (is_dir(src))
			best = p;
		*p = ':';
	}
	/* The last candidate is the default; a directory match overrides. */
	for (p = src; (p = strchr(p, ':')); p++)
		if (!strchr(p + 1, '/') && p != src && p[1])
			fallback = p;
	if (!best)
		best = fallback;
	if (!best)
		return -EINVAL;
	*best = '\0';
	*store = src;
	*volume = best + 1;
	return 0;
}

/* Keep the accepted options; "defaults" and x-* (mount(8)'s own) are
 * dropped. Returns a malloc'd list or NULL with *@bad set. */
static char *filter_options(const char *in, const char **bad, char *badbuf, size_t badlen)
{
	char *copy = strdup(in), *tok, *save = NULL, *out;
	size_t used = 0;

	*bad = NULL;
	out = calloc(1, strlen(in) + 1);
	if (!copy || !out) {
		free(copy);
		free(out);
		return NULL;
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const char *const *a;
		int ok = 0;

		if (!strcmp(tok, "defaults") || !strncmp(tok, "x-", 2))
			continue;
		if (!strncmp(tok, "readahead_kb=", 13) || !strncmp(tok, "dirty_ratio=", 12) ||
		    !strncmp(tok, "rados_timeout=", 14))
			ok = 1; /* the daemon checks the value */
		for (a = accepted_opts; *a; a++)
			if (!strcmp(tok, *a))
				ok = 1;
		if (!ok) {
			snprintf(badbuf, badlen, "%s", tok);
			*bad = badbuf;
			free(copy);
			free(out);
			return NULL;
		}
		used += (size_t)sprintf(out + used, "%s%s", used ? "," : "", tok);
	}
	free(copy);
	return out;
}

/* Non-zero while @mp is a mount point in /proc/self/mountinfo. */
static int is_mounted(const char *mp)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[8192], field[PATH_MAX];
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		/* id parent major:minor root mountpoint ... */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", field) != 1)
			continue;
		cs_mountinfo_unescape(field);
		found = !strcmp(field, mp);
	}
	fclose(f);
	return found;
}

/* The command line, parsed. */
struct mount_args {
	const char *src, *mp; /* STORE:VOLUME[@SNAPSHOT], MOUNTPOINT */
	char *optlist;	      /* every -o joined with ',' (NULL: none) */
	int foreground, help;
};

/* Parse @argv into @a: 0, or the exit code of a usage error (printed).
 * -h/--help stops at once with a->help set. */
static int parse_args(int argc, char **argv, struct mount_args *a)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			a->help = 1;
			return 0;
		} else if (!strcmp(arg, "-f")) {
			a->foreground = 1;
		} else if (!strncmp(arg, "-o", 2)) {
			const char *v = arg[2] ? arg + 2 : (i + 1 < argc ? argv[++i] : NULL);
			char *joined = NULL;

			if (!v)
				return cs_cli_usage("-o needs OPTIONS");
			if (asprintf(&joined, "%s%s%s", a->optlist ? a->optlist : "",
				     a->optlist ? "," : "", v) < 0)
				return CS_EXIT_FAIL;
			free(a->optlist);
			a->optlist = joined;
		} else if (arg[0] == '-' && arg[1]) {
			return cs_cli_usage("unknown option '%s'", arg);
		} else if (!a->src) {
			a->src = arg;
		} else if (!a->mp) {
			a->mp = arg;
		} else {
			return cs_cli_usage("unexpected argument '%s'", arg);
		}
	}
	if (!a->src || !a->mp)
		return cs_cli_usage("needs STORE:VOLUME and MOUNTPOINT");
	return 0;
}

/* VOLUME or VOLUME@SNAPSHOT (a read-only snapshot mount); neither part
 * holds '/', so the STORE: split is not affected. 0 or a usage error. */
static int check_volume(const char *volume)
{
	char *v = NULL, *sn = NULL;
	int bad = cs_client_split_snapshot(volume, &v, &sn);

	if (!bad && sn && strchr(v, '@'))
		bad = -EINVAL;
	free(v);
	free(sn);
	return bad ? cs_cli_usage("invalid volume name '%s'", volume) : 0;
}

/* The mount point @mp made absolute into @real (PATH_MAX): 0 or an exit
 * code (printed). */
static int resolve_mountpoint(const char *mp, char *real)
{
	/* ENOTCONN: a mount left by a killed daemon; the daemon clears it. */
	if (!realpath(mp, real)) {
		if (errno != ENOTCONN || !make_abs(mp, real)) {
			cs_cli_err("mount point %s: %s", mp, strerror(errno));
			return errno == ENOENT ? CS_EXIT_NOTFOUND : CS_EXIT_FAIL;
		}
	} else if (!is_dir(real)) {
		cs_cli_err("mount point %s is not a directory", real);
		return CS_EXIT_FAIL;
	}
	return 0;
}

/* A client for the daemon of store @store_part, started when none
 * answers: 0 with *@out set, or an exit code (printed). */
static int connect_store(const char *store_part, struct cs_client **out)
{
	char *store = cs_client_store_dir(store_part);
	int err;

	if (!store)
		return CS_EXIT_FAIL;
	err = cs_client_new(store, out);
	if (err) {
		cs_cli_err("store %s: %s", store,
			   err == -ENAMETOOLONG ? "path too long for a unix socket"
						: strerror(-err));
		free(store);
		return CS_EXIT_FAIL;
	}
	free(store);
	err = cs_client_ensure_daemon(*out);
	if (err) {
		cs_cli_err("%s", cs_client_errmsg(*out));
		return cs_client_exit_code(err);
	}
	return 0;
}

/* -f: stay until the mount at @mp goes away; on SIGINT/SIGTERM unmount
 * it. Returns the exit code. */
static int stay_foreground(struct cs_client *c, const char *mp)
{
	struct sigaction sa = {.sa_handler = on_signal};
	int err;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!stop_requested && is_mounted(mp))
		usleep(200 * 1000);
	if (stop_requested && is_mounted(mp)) {
		err = cs_client_unmount(c, mp, 1);
		if (err) {
			cs_cli_err("unmount %s: %s", mp, cs_client_errmsg(c));
			return cs_client_exit_code(err);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct mount_args a = {0};
	char *src = NULL, *store_part, *volume, *opts = NULL;
	char real_mp[PATH_MAX], badbuf[128];
	struct cs_client *c = NULL;
	const char *bad;
	int rc, err;

	cs_cli_set_prog(PROG);
	signal(SIGPIPE, SIG_IGN);
	rc = parse_args(argc, argv, &a);
	if (rc || a.help) {
		if (a.help)
			fputs(usage_text, stdout);
		goto out;
	}
	rc = CS_EXIT_FAIL;
	src = strdup(a.src);
	if (!src)
		goto out;
	if (split_source(src, &store_part, &volume) < 0) {
		rc = cs_cli_usage("'%s' is not STORE:VOLUME", a.src);
		goto out;
	}
	if ((rc = check_volume(volume)))
		goto out;
	if (a.optlist) {
		opts = filter_options(a.optlist, &bad, badbuf, sizeof(badbuf));
		if (!opts) {
			rc = bad ? cs_cli_usage("unknown mount option '%s'", bad) : CS_EXIT_FAIL;
			goto out;
		}
	}
	if ((rc = resolve_mountpoint(a.mp, real_mp)) || (rc = connect_store(store_part, &c)))
		goto out;
	err = cs_client_mount(c, volume, real_mp, opts, 0, NULL);
	if (err) {
		cs_cli_err("%s", cs_client_errmsg(c));
		rc = cs_client_exit_code(err);
		goto out;
	}
	if (a.foreground)
		rc = stay_foreground(c, real_mp);
out:
	cs_client_free(c);
	free(opts);
	free(a.optlist);
	free(src);
	return rc;
}
