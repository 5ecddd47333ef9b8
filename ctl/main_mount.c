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
    "              10; 0 in either: the kernel's); accepted and ignored:\n"
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
		if (!strncmp(tok, "readahead_kb=", 13) || !strncmp(tok, "dirty_ratio=", 12))
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
		/* mountinfo escapes space, tab, newline, backslash as \ooo */
		char dec[PATH_MAX], *d = dec;
		const char *s;

		for (s = field; *s && d < dec + sizeof(dec) - 1; s++) {
			if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' &&
			    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
				*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
				s += 3;
			} else {
				*d++ = *s;
			}
		}
		*d = '\0';
		found = !strcmp(dec, mp);
	}
	fclose(f);
	return found;
}

static int unmount_request(struct cs_client *c, const char *mp)
{
	char *enc = cs_client_urlencode(mp), *path = NULL;
	int rc;

	if (!enc || asprintf(&path, "/v1/mounts?mountpoint=%s", enc) < 0) {
		free(enc);
		return -ENOMEM;
	}
	rc = cs_client_request(c, "DELETE", path, NULL, 0, NULL);
	free(path);
	free(enc);
	return rc;
}

int main(int argc, char **argv)
{
	const char *src_arg = NULL, *mp_arg = NULL;
	char *src = NULL, *store_part, *volume, *store = NULL, *opts = NULL;
	char real_mp[PATH_MAX], badbuf[128], *optlist = NULL;
	struct cs_client *c = NULL;
	const char *bad;
	int foreground = 0, i, rc, err;
	cJSON *body = NULL;

	cs_cli_set_prog(PROG);
	signal(SIGPIPE, SIG_IGN);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			return 0;
		} else if (!strcmp(a, "-f")) {
			foreground = 1;
		} else if (!strcmp(a, "-o") || !strncmp(a, "-o", 2)) {
			const char *v = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
			char *joined = NULL;

			if (!v)
				return cs_cli_usage("-o needs OPTIONS");
			if (asprintf(&joined, "%s%s%s", optlist ? optlist : "", optlist ? "," : "",
				     v) < 0)
				return CS_EXIT_FAIL;
			free(optlist);
			optlist = joined;
		} else if (a[0] == '-' && a[1]) {
			return cs_cli_usage("unknown option '%s'", a);
		} else if (!src_arg) {
			src_arg = a;
		} else if (!mp_arg) {
			mp_arg = a;
		} else {
			return cs_cli_usage("unexpected argument '%s'", a);
		}
	}
	if (!src_arg || !mp_arg)
		return cs_cli_usage("needs STORE:VOLUME and MOUNTPOINT");

	rc = CS_EXIT_FAIL;
	src = strdup(src_arg);
	if (!src)
		goto out;
	if (split_source(src, &store_part, &volume) < 0) {
		rc = cs_cli_usage("'%s' is not STORE:VOLUME", src_arg);
		goto out;
	}
	/* VOLUME or VOLUME@SNAPSHOT (a read-only snapshot mount); neither
	 * part holds '/', so the STORE: split above is not affected. */
	{
		char *v = NULL, *sn = NULL;
		int bad_name = cs_client_split_snapshot(volume, &v, &sn);

		if (!bad_name && sn && strchr(v, '@'))
			bad_name = -EINVAL;
		free(v);
		free(sn);
		if (bad_name) {
			rc = cs_cli_usage("invalid volume name '%s'", volume);
			goto out;
		}
	}
	if (optlist) {
		opts = filter_options(optlist, &bad, badbuf, sizeof(badbuf));
		if (!opts) {
			rc = bad ? cs_cli_usage("unknown mount option '%s'", bad) : CS_EXIT_FAIL;
			goto out;
		}
	}
	/* ENOTCONN: a mount left by a killed daemon; the daemon clears it. */
	if (!realpath(mp_arg, real_mp)) {
		if (errno != ENOTCONN || !make_abs(mp_arg, real_mp)) {
			cs_cli_err("mount point %s: %s", mp_arg, strerror(errno));
			rc = errno == ENOENT ? CS_EXIT_NOTFOUND : CS_EXIT_FAIL;
			goto out;
		}
	} else if (!is_dir(real_mp)) {
		cs_cli_err("mount point %s is not a directory", real_mp);
		goto out;
	}
	store = cs_client_store_dir(store_part);
	if (!store)
		goto out;
	err = cs_client_new(store, &c);
	if (err) {
		cs_cli_err("store %s: %s", store,
		       err == -ENAMETOOLONG ? "path too long for a unix socket" : strerror(-err));
		goto out;
	}
	err = cs_client_ensure_daemon(c);
	if (err) {
		cs_cli_err("%s", cs_client_errmsg(c));
		rc = cs_client_exit_code(err);
		goto out;
	}
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "volume", volume);
	cJSON_AddStringToObject(body, "mountpoint", real_mp);
	if (opts && *opts)
		cJSON_AddStringToObject(body, "options", opts);
	err = cs_client_request(c, "POST", "/v1/mounts", body, 0, NULL);
	if (err) {
		cs_cli_err("%s", cs_client_errmsg(c));
		rc = cs_client_exit_code(err);
		goto out;
	}
	rc = 0;
	if (foreground) {
		struct sigaction sa = {.sa_handler = on_signal};

		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		while (!stop_requested && is_mounted(real_mp))
			usleep(200 * 1000);
		if (stop_requested && is_mounted(real_mp)) {
			err = unmount_request(c, real_mp);
			if (err && err != -ENOENT) {
				cs_cli_err("unmount %s: %s", real_mp, cs_client_errmsg(c));
				rc = cs_client_exit_code(err);
			}
		}
	}
out:
	cJSON_Delete(body);
	cs_client_free(c);
	free(store);
	free(opts);
	free(optlist);
	free(src);
	return rc;
}
