/*
 * dp_root.c - choosing and creating the mount root (see dp_root.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dp_req.h"
#include "dp_root.h"

/* mkdir -p @path (0755). */
static int make_dirs(const char *path)
{
	char buf[PATH_MAX];
	char *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * The canonical form of @want in @out (PATH_MAX) without creating anything:
 * the realpath of its longest existing ancestor, then the components that do
 * not exist yet ("." dropped, ".." taken lexically: nothing below a missing
 * directory can be a symlink). Once the path exists, realpath() gives the
 * same string, so mount points built from it match /proc/self/mountinfo.
 */
static int canonical_path(const char *want, char *out)
{
	char buf[PATH_MAX], rest[PATH_MAX] = "", *slash, *comp, *save = NULL;
	size_t len;

	if (want[0] == '/') {
		if (snprintf(buf, sizeof(buf), "%s", want) >= (int)sizeof(buf))
			return -ENAMETOOLONG;
	} else {
		if (!getcwd(rest, sizeof(rest)))
			return -errno;
		if (snprintf(buf, sizeof(buf), "%s/%s", rest, want) >= (int)sizeof(buf))
			return -ENAMETOOLONG;
		rest[0] = '\0';
	}
	/* Move components from the end of buf to rest until buf exists. */
	while (!realpath(buf, out)) {
		if (errno != ENOENT)
			return -errno;
		slash = strrchr(buf, '/'); /* buf is absolute */
		len = strlen(slash);
		memmove(rest + len, rest, strlen(rest) + 1);
		memcpy(rest, slash, len);
		slash[slash == buf] = '\0';
	}
	for (comp = strtok_r(rest, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		len = strlen(out);
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			slash = strrchr(out, '/');
			if (slash)
				slash[slash == out] = '\0';
			continue;
		}
		if (len + 1 + strlen(comp) >= PATH_MAX)
			return -ENAMETOOLONG;
		snprintf(out + len, PATH_MAX - len, "%s%s", len > 1 ? "/" : "", comp);
	}
	return 0;
}

int dp_root_init(struct dp_root *r, const char *store, const char *mount_root)
{
	char *want = NULL, real[PATH_MAX];
	int err;

	if (mount_root)
		want = strdup(mount_root);
	else if (asprintf(&want, "%s/mounts", store) < 0)
		want = NULL;
	if (!want)
		return -ENOMEM;
	err = canonical_path(want, real);
	free(want);
	if (err)
		return err;
	if (strlen(real) + 1 + DP_NAME_MAX >= PATH_MAX)
		return -ENAMETOOLONG;
	r->path = strdup(real);
	return r->path ? 0 : -ENOMEM;
}

int dp_root_ready(struct dp_root *r)
{
	int err;

	if (r->made)
		return 0;
	err = make_dirs(r->path);
	if (err)
		return err;
	r->made = 1;
	return 0;
}

int dp_root_volume_path(const struct dp_root *r, const char *name, char *buf)
{
	if ((size_t)snprintf(buf, PATH_MAX, "%s/%s", r->path, name) >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

void dp_root_free(struct dp_root *r)
{
	free(r->path);
	r->path = NULL;
	r->made = 0;
}
