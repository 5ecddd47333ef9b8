/*
 * cs_mountpoint.c - mount points in the kernel (see cs_mountpoint.h):
 * realpath and statfs, /proc/self/mountinfo, mount(2) and umount2(2).
 *
 * A daemon killed with SIGKILL leaves its FUSE mounts behind, answering
 * ENOTCONN; only a mount whose type is fuse.cstorfs is ever detached here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cs_log.h"
#include "cs_mountpoint.h"
#include "cs_mountinfo.h"

/* Non-zero when a cstorfs FUSE mount sits at @mp. */
static int is_cstorfs_mount(const char *mp)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char *line = NULL, field[PATH_MAX], *sep;
	size_t cap = 0;
	int found = 0;

	if (!f)
		return 0;
	while (!found && getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%*s %*s %*s %*s %4095s", field) != 1)
			continue;
		cs_mountinfo_unescape(field);
		sep = strstr(line, " - ");
		found = !strcmp(field, mp) && sep && !strncmp(sep + 3, "fuse.cstorfs ", 13);
	}
	free(line);
	fclose(f);
	return found;
}

int cs_mountpoint_clear_dead(const char *mp)
{
	pid_t pid;
	int status;

	if (!is_cstorfs_mount(mp))
		return -ENOENT;
	if (umount2(mp, MNT_DETACH) == 0)
		goto done;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", "-z", mp, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -EIO;
done:
	cs_warn("detached the dead cstorfs mount at %s (left by a killed daemon)", mp);
	return 0;
}

int cs_mountpoint_dead(const char *mp)
{
	struct statfs sf;

	return statfs(mp, &sf) < 0 && errno == ENOTCONN;
}

int cs_mountpoint_resolve(const char *mp, char *real)
{
	if (!realpath(mp, real)) {
		if (errno != ENOTCONN)
			return -errno;
		if (cs_mountpoint_clear_dead(mp) || !realpath(mp, real))
			return -ENOTCONN;
	}
	/* Cached attributes may hide a dead mount from stat(); statfs asks. */
	if (cs_mountpoint_dead(real) && cs_mountpoint_clear_dead(real))
		return -ENOTCONN;
	return 0;
}

int cs_mountpoint_bind(const char *src, const char *dst, int readonly)
{
	unsigned long keep = 0;
	struct statvfs sv;
	struct stat st;
	int err;

	if (stat(dst, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (statvfs(src, &sv) == 0) {
		keep |= (sv.f_flag & ST_NOSUID) ? MS_NOSUID : 0;
		keep |= (sv.f_flag & ST_NODEV) ? MS_NODEV : 0;
		keep |= (sv.f_flag & ST_NOEXEC) ? MS_NOEXEC : 0;
	}
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0) {
		err = -errno;
		cs_err("cannot bind %s at %s: %s", src, dst, strerror(errno));
		return err;
	}
	if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | keep | (readonly ? MS_RDONLY : 0), NULL) <
	    0) {
		err = -errno;
		cs_err("cannot remount %s %s: %s", dst, readonly ? "ro" : "rw", strerror(errno));
		umount2(dst, MNT_DETACH);
		return err;
	}
	return 0;
}

void cs_mountpoint_unbind(const char *mp)
{
	if (umount2(mp, 0) == 0)
		return;
	if (errno == EBUSY && umount2(mp, MNT_DETACH) == 0) {
		cs_warn("%s is busy: detached it", mp);
		return;
	}
	if (errno != EINVAL && errno != ENOENT)
		cs_err("cannot unmount %s: %s", mp, strerror(errno));
}
