/*
 * fv_mount.c - mount and unmount through the daemon (see fv_mount.h).
 *
 * Mount: pod dir -> daemon (ensure running) -> volume exists (create or
 * clone when asked) -> shared mount -> fsGroup on the root -> done; any
 * failure after the mount undoes it, so kubelet can remove the pod dir.
 *
 * Unmount: pod dir -> daemon, if one answers (never start one just to
 * unmount) -> DELETE the mount point (unknown: fine) -> whatever cstorfs
 * mount /proc/self/mountinfo still shows there is detached lazily.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cs_client.h"
#include "fv_mount.h"
#include "fv_reply.h"
#include "cs_mountinfo.h"

#define FV_FSGROUP_MODE 02775
#define FV_CHILD_TIMEOUT_MS 10000
#define FV_UNMOUNT_TRIES 8

/* ------------------------------------------------------------------ */
/* Paths and /proc/self/mountinfo                                     */
/* ------------------------------------------------------------------ */

/* Canonical form of @path without touching @path itself (it may be a dead
 * FUSE mount): realpath of its parent plus its last component. */
static int canon_path(const char *path, char *out)
{
	char parent[PATH_MAX], real[PATH_MAX];
	const char *base;
	char *slash;
	size_t n = strlen(path);

	if (path[0] != '/' || n >= PATH_MAX)
		return -EINVAL;
	strcpy(parent, path);
	while (n > 1 && parent[n - 1] == '/')
		parent[--n] = '\0';
	slash = strrchr(parent, '/');
	base = slash + 1;
	if (!strcmp(base, ".") || !strcmp(base, "..") || !*base)
		return realpath(path, out) ? 0 : -errno;
	if (slash == parent) {
		strcpy(real, "/");
	} else {
		*slash = '\0';
		if (!realpath(parent, real))
			return -errno;
	}
	if (snprintf(out, PATH_MAX, "%s/%s", strcmp(real, "/") ? real : "", base) >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* The filesystem type of the topmost mount at @mp into @fstype (e.g.
 * "fuse.cstorfs"); returns 1 when something is mounted there. */
static int mounted_at(const char *mp, char *fstype, size_t cap)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, *field = NULL, *sep;
	size_t lcap = 0;
	int found = 0;

	if (!f)
		return 0;
	while (getline(&line, &lcap, f) > 0) {
		free(field);
		field = NULL;
		if (sscanf(line, "%*s %*s %*s %*s %ms", &field) != 1)
			continue;
		cs_mountinfo_unescape(field);
		sep = strstr(line, " - ");
		if (strcmp(field, mp) || !sep)
			continue;
		found = 1;
		snprintf(fstype, cap, "%.*s", (int)strcspn(sep + 3, " "), sep + 3);
	}
	free(field);
	free(line);
	fclose(f);
	return found;
}

static int is_cstorfs_type(const char *fstype)
{
	return !strncmp(fstype, "fuse.cstorfs", 12);
}

/* ------------------------------------------------------------------ */
/* The daemon                                                         */
/* ------------------------------------------------------------------ */

/* A client for the configured store; with @start, a daemon answers. */
static int client_open(const struct fv_conf *conf, int start, struct cs_client **out, char *msg,
		       size_t msglen)
{
	int err = cs_client_new(conf->store, out);

	if (err) {
		snprintf(msg, msglen, "cannot use store %s: %s (set STORE in %s)", conf->store,
			 strerror(-err), conf->file);
		return err;
	}
	if (!start)
		return 0;
	err = cs_client_ensure_daemon(*out);
	if (err)
		snprintf(msg, msglen,
			 "%s. Is cstorfsd installed (set CSTORFSD in %s or put it on PATH) and "
			 "is %s a usable store directory?",
			 cs_client_errmsg(*out), conf->file, conf->store);
	return err;
}

/* The mount the daemon lists at @mp: *@volume (malloc'd) and *@ro. */
static int daemon_mount_at(struct cs_client *c, const char *mp, char **volume, int *ro)
{
	const cJSON *m, *list;
	cJSON *ans = NULL;
	int err;

	*volume = NULL;
	err = cs_client_mount_list(c, &ans);
	if (err)
		return err;
	list = cJSON_GetObjectItemCaseSensitive(ans, "mounts");
	err = -ENOENT;
	cJSON_ArrayForEach(m, list)
	{
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(m, "mountpoint");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, "volume");

		if (!cJSON_IsString(p) || !cJSON_IsString(v) || strcmp(p->valuestring, mp))
			continue;
		*ro = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "readonly"));
		*volume = strdup(v->valuestring);
		err = *volume ? 0 : -ENOMEM;
		break;
	}
	cJSON_Delete(ans);
	return err;
}

/* Make sure @o->volume exists, creating or cloning it when asked. */
static int volume_ensure(struct cs_client *c, const struct fv_conf *conf, const struct fv_opts *o,
			 char *msg, size_t msglen)
{
	int err;

	if (o->snapshot)
		return 0; /* the daemon says whether VOL@SNAP exists */
	err = cs_client_volume_get(c, o->volume, NULL);
	if (err != -ENOENT) {
		if (err)
			snprintf(msg, msglen, "cannot look up volume '%s': %s", o->volume,
				 cs_client_errmsg(c));
		return err;
	}
	if (!o->create) {
		snprintf(msg, msglen,
			 "volume '%s' does not exist in store %s: create it (cstorfs-ctl --store "
			 "%s volume create %s) or set create: \"true\" in the flexVolume options",
			 o->volume, conf->store, conf->store, o->volume);
		return err;
	}
	err = cs_client_volume_create(c, o->volume, o->from[0] ? o->from : NULL,
				      o->compression[0] ? o->compression : NULL,
				      o->have_quota ? o->quota : 0, NULL);
	if (err == -EEXIST)
		return 0; /* another pod created it meanwhile */
	if (err) {
		snprintf(msg, msglen, "cannot %s volume '%s'%s%s: %s",
			 o->from[0] ? "clone" : "create", o->volume, o->from[0] ? " from " : "",
			 o->from, cs_client_errmsg(c));
		return err;
	}
	fv_log(LOG_INFO, "%s volume '%s'%s%s", o->from[0] ? "cloned" : "created", o->volume,
	       o->from[0] ? " from " : "", o->from);
	return 0;
}

/* ------------------------------------------------------------------ */
/* fsGroup: through the mount, in a child that may be killed           */
/* ------------------------------------------------------------------ */

static void child_fsgroup(const char *mp, gid_t gid)
{
	int null = open("/dev/null", O_RDWR);

	/* Never hold kubelet's pipe, even while stuck in the filesystem. */
	if (null >= 0) {
		dup2(null, 1);
		dup2(null, 2);
	}
	if (chown(mp, (uid_t)-1, gid) < 0)
		_exit(errno & 0xff);
	if (chmod(mp, FV_FSGROUP_MODE) < 0)
		_exit(errno & 0xff);
	_exit(0);
}

/* Wait for @pid at most @ms; kill it when it overstays. Returns its exit
 * status as -errno, or -ETIMEDOUT. */
static int child_wait(pid_t pid, int ms)
{
	struct timespec nap = {0, 10 * 1000 * 1000};
	int status, waited;

	for (waited = 0; waited < ms; waited += 10) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? -WEXITSTATUS(status) : -EIO;
		if (r < 0 && errno != EINTR)
			return -ECHILD;
		nanosleep(&nap, NULL);
	}
	kill(pid, SIGKILL);
	for (waited = 0; waited < 1000 && waitpid(pid, &status, WNOHANG) == 0; waited += 10)
		nanosleep(&nap, NULL);
	return -ETIMEDOUT;
}

static int apply_fsgroup(const char *mp, gid_t gid, char *msg, size_t msglen)
{
	pid_t pid = fork();
	int err;

	if (pid < 0) {
		err = -errno;
		snprintf(msg, msglen, "cannot apply fsGroup %u to %s: fork: %s", (unsigned)gid, mp,
			 strerror(errno));
		return err;
	}
	if (pid == 0)
		child_fsgroup(mp, gid);
	err = child_wait(pid, FV_CHILD_TIMEOUT_MS);
	if (err)
		snprintf(msg, msglen,
			 "cannot give the volume root at %s to fsGroup %u (chown/chmod 02775): %s",
			 mp, (unsigned)gid,
			 err == -ETIMEDOUT ? "the filesystem did not answer" : strerror(-err));
	return err;
}

/* ------------------------------------------------------------------ */
/* Mount                                                              */
/* ------------------------------------------------------------------ */

static int prepare_poddir(const char *poddir, char *mp, char *msg, size_t msglen)
{
	char fstype[64] = "";
	struct stat st;
	int err;

	if (poddir[0] != '/') {
		snprintf(msg, msglen, "the pod directory '%.512s' is not an absolute path", poddir);
		return -EINVAL;
	}
	if ((err = canon_path(poddir, mp))) {
		snprintf(msg, msglen, "cannot resolve the pod directory %.512s: %s", poddir,
			 strerror(-err));
		return err;
	}
	if (mounted_at(mp, fstype, sizeof(fstype)))
		return 0; /* the daemon decides (same volume: fine) */
	if (mkdir(mp, 0750) < 0 && errno != EEXIST) {
		err = -errno;
		snprintf(msg, msglen, "cannot create the pod directory %s: %s", mp,
			 strerror(errno));
		return err;
	}
	if (stat(mp, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(msg, msglen, "the pod directory %s is not a directory", mp);
		return -ENOTDIR;
	}
	return 0;
}

/* The daemon refused: the same volume already there is success. */
static int mount_refused(struct cs_client *c, const char *mp, const struct fv_opts *o, int err,
			 char *msg, size_t msglen)
{
	char *have = NULL;
	int ro = 0;

	if (err == -EBUSY && !daemon_mount_at(c, mp, &have, &ro)) {
		int same = !strcmp(have, o->volume) && ro == o->readonly;

		snprintf(msg, msglen, "%s is already a mount of volume '%s' (%s); unmount it first",
			 mp, have, ro ? "read-only" : "read-write");
		free(have);
		return same ? 0 : err;
	}
	if (err == -EPERM)
		snprintf(msg, msglen,
			 "cannot mount volume '%s' at %s: %s (shared mounts need cstorfsd "
			 "running as root)",
			 o->volume, mp, cs_client_errmsg(c));
	else
		snprintf(msg, msglen, "cannot mount volume '%s' at %s: %s", o->volume, mp,
			 cs_client_errmsg(c));
	return err;
}

int fv_mount(const struct fv_conf *conf, const char *poddir, const struct fv_opts *o, char *msg,
	     size_t msglen)
{
	struct cs_client *c = NULL;
	char mp[PATH_MAX];
	unsigned flags;
	int err;

	if ((err = prepare_poddir(poddir, mp, msg, msglen)))
		goto out;
	if ((err = client_open(conf, 1, &c, msg, msglen)))
		goto out;
	if ((err = volume_ensure(c, conf, o, msg, msglen)))
		goto out;
	flags =
	    (o->snapshot ? 0 : CS_CLIENT_MOUNT_SHARED) | (o->readonly ? CS_CLIENT_MOUNT_RDONLY : 0);
	err = cs_client_mount(c, o->volume, mp, "allow_other", flags, NULL);
	if (err) {
		err = mount_refused(c, mp, o, err, msg, msglen);
		goto out;
	}
	if (o->have_fsgroup && !o->readonly && (err = apply_fsgroup(mp, o->fsgroup, msg, msglen))) {
		if (cs_client_unmount(c, mp, 1))
			fv_log(LOG_ERR, "cannot undo the mount at %s: %s", mp, cs_client_errmsg(c));
		goto out;
	}
	fv_log(LOG_INFO, "mounted volume '%s' at %s (%s%s%s)", o->volume, mp,
	       o->readonly ? "ro" : "rw", o->pod[0] ? ", pod " : "", o->pod);
out:
	cs_client_free(c);
	return err;
}

/* ------------------------------------------------------------------ */
/* Unmount                                                            */
/* ------------------------------------------------------------------ */

/* Detach every cstorfs layer left at @mp (dead daemon, stale binds). */
static int detach_leftovers(const char *mp, char *msg, size_t msglen)
{
	char fstype[64];
	int i;

	for (i = 0; i < FV_UNMOUNT_TRIES; i++) {
		fstype[0] = '\0';
		if (!mounted_at(mp, fstype, sizeof(fstype)))
			return 0;
		if (!is_cstorfs_type(fstype)) {
			snprintf(msg, msglen,
				 "%s is a %s mount, not a cstorfs one: not touching it (unmount "
				 "it by hand)",
				 mp, fstype[0] ? fstype : "foreign");
			return -EBUSY;
		}
		if (umount2(mp, MNT_DETACH) < 0 && errno != EINVAL) {
			int err = -errno;

			snprintf(msg, msglen, "cannot detach the cstorfs mount at %s: %s", mp,
				 strerror(errno));
			return err;
		}
		fv_log(LOG_WARNING, "detached a cstorfs mount the daemon did not hold at %s", mp);
	}
	snprintf(msg, msglen, "%s stays mounted after %d unmounts", mp, FV_UNMOUNT_TRIES);
	return -EIO;
}

int fv_unmount(const struct fv_conf *conf, const char *poddir, char *msg, size_t msglen)
{
	struct cs_client *c = NULL;
	char mp[PATH_MAX];
	int err;

	if (poddir[0] != '/') {
		snprintf(msg, msglen, "the pod directory '%.512s' is not an absolute path", poddir);
		return -EINVAL;
	}
	err = canon_path(poddir, mp);
	if (err == -ENOENT || err == -ENOTDIR)
		return 0; /* its parent is gone: nothing can be mounted there */
	if (err) {
		snprintf(msg, msglen, "cannot resolve the pod directory %.512s: %s", poddir,
			 strerror(-err));
		return err;
	}
	if ((err = client_open(conf, 0, &c, msg, msglen)))
		goto out;
	if (cs_client_ping(c)) {
		err = cs_client_unmount(c, mp, 1);
		if (err) {
			snprintf(msg, msglen, "cannot unmount %s: %s", mp, cs_client_errmsg(c));
			goto out;
		}
	}
	err = detach_leftovers(mp, msg, msglen);
	if (!err)
		fv_log(LOG_INFO, "unmounted %s", mp);
out:
	cs_client_free(c);
	return err;
}
