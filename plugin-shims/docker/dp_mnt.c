/*
 * dp_mnt.c - FUSE mounts under the plugin's mount root (see dp_mnt.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dp_log.h"
#include "dp_mnt.h"
#include "cs_mountinfo.h"

/* Parse one mountinfo line: mount point into @mp (PATH_MAX), and whether
 * its type is FUSE. Returns 0, or -EINVAL for a line it cannot read. */
static int parse_line(const char *line, char *mp, int *is_fuse)
{
	const char *sep = strstr(line, " - ");

	if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
		return -EINVAL;
	cs_mountinfo_unescape(mp);
	*is_fuse = !strncmp(sep + 3, "fuse.", 5) || !strncmp(sep + 3, "fuse ", 5);
	return 0;
}

/* 1 when @mp is @root/NAME with NAME a single component. */
static int directly_under(const char *root, const char *mp)
{
	size_t n = strlen(root);

	return !strncmp(mp, root, n) && mp[n] == '/' && mp[n + 1] && !strchr(mp + n + 1, '/');
}

static int contains(char **v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return 1;
	return 0;
}

int dp_mnt_list_under(const char *root, char ***paths, size_t *n)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, mp[PATH_MAX], **v = NULL, **nv;
	size_t cap = 0, len = 0;
	int is_fuse, err = 0;

	*paths = NULL;
	*n = 0;
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		if (parse_line(line, mp, &is_fuse) || !is_fuse || !directly_under(root, mp) ||
		    contains(v, len, mp))
			continue;
		nv = realloc(v, (len + 1) * sizeof(*v));
		if (!nv || !(nv[len] = strdup(mp))) {
			v = nv ? nv : v;
			err = -ENOMEM;
			break;
		}
		v = nv;
		len++;
	}
	free(line);
	fclose(f);
	if (err) {
		dp_mnt_list_free(v, len);
		return err;
	}
	*paths = v;
	*n = len;
	return 0;
}

void dp_mnt_list_free(char **paths, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

int dp_mnt_is_fuse(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, mp[PATH_MAX];
	size_t cap = 0;
	int is_fuse, found = 0;

	if (!f)
		return 0;
	while (!found && getline(&line, &cap, f) > 0)
		found = !parse_line(line, mp, &is_fuse) && is_fuse && !strcmp(mp, path);
	free(line);
	fclose(f);
	return found;
}

int dp_mnt_state(const char *path)
{
	struct statfs sf;

	if (!dp_mnt_is_fuse(path))
		return 0;
	/* Cached attributes may hide a dead mount from stat(); statfs asks. */
	if (statfs(path, &sf) < 0)
		return -errno;
	return 1;
}

static int run_fusermount(const char *path)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", "-z", path, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return -EIO;
	return 0;
}

int dp_mnt_detach(const char *path)
{
	if (umount2(path, MNT_DETACH) < 0 && run_fusermount(path) < 0)
		dp_warn("cannot detach %s: %s", path, strerror(errno));
	if (dp_mnt_is_fuse(path))
		return -EIO;
	dp_info("detached the mount at %s", path);
	return 0;
}
