/*
 * cs_session.c - one FUSE session: open a volume, mount it, run libfuse's
 * multi-threaded loop on a thread of its own, and tear it all down when the
 * mount goes away (see cs_session.h for the contract). The operations
 * themselves are in cs_fuse.c; the control API owns sessions (its table: api/cs_mounts.c).
 *
 * States of a session, and who moves it:
 *   STARTING  cs_session_start: mount point checked, volume opened,
 *             fuse_session mounted, loop thread started; start waits for
 *             the kernel's INIT to be answered, then arms on_end.
 *   LIVE      the loop serves requests.
 *   ENDED     the loop returned (the kernel mount went away: unmounted from
 *             outside, or by cs_session_stop); the loop thread released the
 *             orphans still held, closed the volume, set `ended`, then ran
 *             on_end when armed. Nothing but the thread and the
 *             fuse_session struct remain.
 *   STOPPED   cs_session_stop joined the thread and destroyed the
 *             fuse_session.
 *
 * Stopping. The mount is taken away *first*, with the loop still running:
 * the kernel writes back dirty pages (writeback cache) while it tears the
 * superblock down, and those WRITE requests must be served. Calling
 * fuse_session_exit() before unmounting would deadlock (workers stop
 * taking requests while umount waits for them), and libfuse's
 * fuse_session_unmount() closes the device fd under the workers' feet.
 * So: syncfs() the mount first (dirty pages of files still open would
 * otherwise be lost if the connection has to be aborted), then
 * umount2(mp, 0) as root (MNT_DETACH when busy), else
 * `fusermount3 -u -z`; once the superblock is gone the kernel aborts the
 * connection, every worker's read returns ENODEV and the loop returns. A
 * detached mount with files still open keeps the connection; after
 * CS_SESSION_STOP_WAIT seconds stop aborts it through
 * /sys/fs/fuse/connections/N/abort (mounting fusectl there if needed, as
 * root). The mount point is only unmounted while it still shows our
 * superblock (st_dev), so a later mount at the same place is never hit.
 */
#include "cs_session.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cs_fuse.h"
#include "cs_log.h"
#include "cs_mountinfo.h"
#include "cs_thread.h"

#define CS_SESSION_INIT_WAIT 10 /* seconds for the kernel's INIT */
#define CS_SESSION_STOP_WAIT 5  /* seconds before aborting the connection */
#define CS_SESSION_TICK_NS 250000000LL /* the flusher's period */
#define CS_SESSION_BUSY_NS 4000000LL    /* and while the write buffer holds data */
#define CS_FUSECTL "/sys/fs/fuse/connections"

extern char **environ;

struct cs_session {
	cs_vol *vol;             /* closed (NULL) by the loop thread at end */
	struct cs_fuse *fs;      /* freed (NULL) by the loop thread at end */
	struct fuse_session *se; /* destroyed by stop after the join */
	char *volume;
	char *mountpoint;
	int readonly;
	dev_t dev;               /* st_dev of the mounted root, 0 unknown */
	cs_session_end_fn on_end;
	void *ctx;
	pthread_t thread;
	int thread_live;         /* created and not yet joined */

	/* Lock order: stop_lock, then lock. stop_lock serialises
	 * cs_session_stop; lock (a leaf: never held across a libfuse, store
	 * or on_end call) guards the fields below and signals cond. */
	pthread_mutex_t stop_lock;
	pthread_mutex_t lock;
	pthread_cond_t cond;     /* CLOCK_MONOTONIC */
	int init_done;
	int armed;               /* on_end may run */
	int ended;               /* also read without lock (atomic) */
	int flusher_stop;        /* tells the flusher thread to return */
};

/* ------------------------------------------------------------------ */
/* libfuse's messages into our log                                    */
/* ------------------------------------------------------------------ */

static void fuse_log_sink(enum fuse_log_level level, const char *fmt,
                          va_list ap)
{
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	if (level <= FUSE_LOG_ERR)
		cs_err("libfuse: %s", msg);
	else if (level <= FUSE_LOG_NOTICE)
		cs_info("libfuse: %s", msg);
	else
		cs_debug("libfuse: %s", msg);
}

static void fuse_log_setup(void)
{
	fuse_set_log_func(fuse_log_sink);
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                      */
/* ------------------------------------------------------------------ */

/* The mount point must be an existing, empty directory. */
static int check_mountpoint(const char *mp)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = 0;

	if (mp[0] != '/') {
		cs_err("mount point '%s' is not an absolute path", mp);
		return -EINVAL;
	}
	if (stat(mp, &st) < 0) {
		rc = -errno;
		cs_err("mount point %s: %s", mp, strerror(-rc));
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		cs_err("mount point %s is not a directory", mp);
		return -ENOTDIR;
	}
	d = opendir(mp);
	if (!d) {
		rc = -errno;
		cs_err("mount point %s: %s", mp, strerror(-rc));
		return rc;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			cs_err("mount point %s is not empty", mp);
			rc = -ENOTEMPTY;
			break;
		}
	}
	closedir(d);
	return rc;
}

/* argv for fuse_session_new: "cstorfsd -o OPTIONS". */
static int build_args(const struct cs_session_opts *o, const char *volume,
                      struct fuse_args *args)
{
	char *opts = NULL, *fsname = NULL;
	int rc = -ENOMEM;

	if (o->allow_other && o->allow_root) {
		cs_err("allow_other and allow_root exclude each other");
		return -EINVAL;
	}
	if (asprintf(&fsname, "fsname=%s", o->fsname ? o->fsname : volume) < 0) {
		fsname = NULL;
		goto out;
	}
	if (fuse_opt_add_arg(args, "cstorfsd") ||
	    fuse_opt_add_opt(&opts, "default_permissions") ||
	    fuse_opt_add_opt_escaped(&opts, fsname) ||
	    fuse_opt_add_opt(&opts, "subtype=cstorfs") ||
	    fuse_opt_add_opt(&opts, o->readonly ? "ro" : "rw") ||
	    (o->allow_other && fuse_opt_add_opt(&opts, "allow_other")) ||
	    (o->allow_root && fuse_opt_add_opt(&opts, "allow_root")) ||
	    (o->extra && o->extra[0] && fuse_opt_add_opt(&opts, o->extra)) ||
	    fuse_opt_add_arg(args, "-o") || fuse_opt_add_arg(args, opts))
		goto out;
	cs_debug("session: fuse options %s", opts);
	rc = 0;
out:
	free(opts);
	free(fsname);
	return rc;
}

/* @ts = CLOCK_MONOTONIC now + @ns (the clock of s->cond). */
static void deadline_after(struct timespec *ts, long long ns)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ns += ts->tv_nsec;
	ts->tv_sec += (time_t)(ns / 1000000000LL);
	ts->tv_nsec = (long)(ns % 1000000000LL);
}

/* Wait (lock held) until @flag is set or @seconds pass; returns @flag. */
static int wait_flag(struct cs_session *s, const int *flag, int seconds)
{
	struct timespec ts;

	deadline_after(&ts, seconds * 1000000000LL);
	while (!*flag) {
		if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) == ETIMEDOUT)
			break;
	}
	return *flag;
}

/* ------------------------------------------------------------------ */
/* The loop thread                                                    */
/* ------------------------------------------------------------------ */

static void session_inited(void *arg)
{
	struct cs_session *s = arg;

	pthread_mutex_lock(&s->lock);
	s->init_done = 1;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* The flusher thread of a read-write session: the volume's writeback
 * (cs_vol_writeback). While the write buffer holds data it looks every
 * CS_SESSION_BUSY_NS (the buffer is written out once an eighth full, by
 * this thread, beside the writers), else every CS_SESSION_TICK_NS, and
 * after an error. Flush requests are not used (cs_fuse.c), so without it
 * the data of a file written and closed would wait for the next write,
 * sync or stat. */
static void *flusher_main(void *arg)
{
	struct cs_session *s = arg;
	int rc = 0, last = 0;

	pthread_setname_np(pthread_self(), "cstorfs-flush");
	pthread_mutex_lock(&s->lock);
	while (!s->flusher_stop) {
		struct timespec ts;

		deadline_after(&ts, rc > 0 ? CS_SESSION_BUSY_NS : CS_SESSION_TICK_NS);
		pthread_cond_timedwait(&s->cond, &s->lock, &ts);
		if (s->flusher_stop)
			break;
		pthread_mutex_unlock(&s->lock);
		rc = cs_vol_writeback(s->vol);
		if (rc < 0 && rc != last) /* the next write or sync reports it too */
			cs_err("session: writing out buffered data of %s: %s", s->volume,
			       cs_last_error());
		last = rc < 0 ? rc : 0;
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void *session_main(void *arg)
{
	struct cs_session *s = arg;
	struct fuse_loop_config cfg = { .clone_fd = 0, .max_idle_threads = 10 };
	pthread_t flusher;
	int rc, armed, flushing = 0;

	/* libfuse's workers are created from this thread and inherit the name
	 * (profiles and top -H show "cstorfs-fuse", not the HTTP thread's) */
	pthread_setname_np(pthread_self(), "cstorfs-fuse");
	if (!s->readonly) {
		rc = pthread_create(&flusher, NULL, flusher_main, s);
		if (rc == 0)
			flushing = 1;
		else
			cs_warn("session: no flusher thread for %s: %s", s->mountpoint,
			        strerror(rc));
	}
	rc = fuse_session_loop_mt(s->se, &cfg);
	if (rc != 0)
		cs_warn("session: loop for %s ended with %d", s->mountpoint, rc);
	if (flushing)
		cs_thread_stop(flusher, &s->lock, &s->cond, &s->flusher_stop);
	/* No-op when the kernel mount is gone (the usual case); closes the
	 * device fd. */
	fuse_session_unmount(s->se);
	cs_fuse_free(s->fs); /* releases the orphans the kernel still held */
	s->fs = NULL;
	cs_vol_close(s->vol); /* flushes buffered data */
	s->vol = NULL;
	cs_info("fuse session for volume '%s' at %s ended", s->volume,
	        s->mountpoint);

	pthread_mutex_lock(&s->lock);
	__atomic_store_n(&s->ended, 1, __ATOMIC_RELEASE);
	armed = s->armed;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (armed && s->on_end)
		s->on_end(s, s->ctx);
	return NULL;
}

/* Start the loop thread with the process's stop signals blocked in it (and
 * so in libfuse's workers, which it creates). */
static int start_thread(struct cs_session *s)
{
	sigset_t block, old;
	int rc;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	rc = pthread_create(&s->thread, NULL, session_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		cs_err("session: cannot start a thread: %s", strerror(rc));
		return -rc;
	}
	s->thread_live = 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Unmounting                                                         */
/* ------------------------------------------------------------------ */

static int run_fusermount(const char *mp)
{
	char *argv[] = { "fusermount3", "-u", "-q", "-z", (char *)mp, NULL };
	int rc, status;
	pid_t pid;

	rc = posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ);
	if (rc != 0) {
		cs_err("session: cannot run fusermount3: %s", strerror(rc));
		return -rc;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		cs_warn("session: fusermount3 -u %s failed", mp);
		return -EIO;
	}
	return 0;
}

/* Take the kernel mount away if it is still ours (the loop must run). */
static void session_unmount(struct cs_session *s)
{
	const char *mp = s->mountpoint;
	struct stat st;

	/* Without s->dev (start failed before INIT) stat could hang. */
	if (s->dev && stat(mp, &st) == 0 && st.st_dev != s->dev) {
		cs_debug("session: %s no longer shows our mount", mp);
		return;
	}
	if (s->dev) {
		/* Write dirty pages back while the loop still serves them: a
		 * busy mount is only detached, and may be aborted later. */
		int fd = open(mp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd >= 0) {
			if (syncfs(fd) < 0)
				cs_warn("session: syncfs %s: %s", mp, strerror(errno));
			close(fd);
		}
	}
	if (geteuid() != 0) {
		run_fusermount(mp);
		return;
	}
	if (umount2(mp, 0) == 0)
		return;
	if (errno == EBUSY) {
		cs_warn("session: %s is busy: detaching it", mp);
		if (umount2(mp, MNT_DETACH) == 0)
			return;
	}
	if (errno != EINVAL && errno != ENOENT)
		cs_err("session: cannot unmount %s: %s", mp, strerror(errno));
}

/*
 * Other mount points of our superblock (bind mounts: shared mounts, or
 * binds made by others such as a container runtime) keep the connection
 * alive after our own mount point went. Stop must end the session, and
 * aborting the connection under a bind in use would fail its I/O, so they
 * are detached first (lazily: open files keep working until closed).
 * Returns how many were detached.
 */
static int session_detach_binds(struct cs_session *s)
{
	FILE *f;
	char *line = NULL, mp[4096];
	size_t cap = 0;
	unsigned maj, mnr;
	int n = 0;

	if (!s->dev || geteuid() != 0 || !(f = fopen("/proc/self/mountinfo", "r")))
		return 0;
	while (getline(&line, &cap, f) > 0) {
		/* id parent major:minor root mountpoint ... */
		if (sscanf(line, "%*s %*s %u:%u %*s %4095s", &maj, &mnr, mp) != 3 ||
		    makedev(maj, mnr) != s->dev)
			continue;
		cs_mountinfo_unescape(mp);
		if (umount2(mp, MNT_DETACH) == 0) {
			cs_warn("session: detached the bind of %s at %s", s->volume, mp);
			n++;
		}
	}
	free(line);
	fclose(f);
	return n;
}

/* Abort the FUSE connection: every worker's read then fails with ENODEV. */
static void session_abort(struct cs_session *s)
{
	unsigned kdev = (major(s->dev) << 20) | minor(s->dev);
	char path[128];
	int fd;

	if (!s->dev)
		return;
	snprintf(path, sizeof(path), CS_FUSECTL "/%u/abort", kdev);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && geteuid() == 0 &&
	    mount("fusectl", CS_FUSECTL, "fusectl", 0, NULL) == 0)
		fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		cs_err("session: cannot abort the connection of %s (%s: %s)",
		       s->mountpoint, path, strerror(errno));
		return;
	}
	if (write(fd, "1", 1) != 1)
		cs_err("session: aborting %s: %s", path, strerror(errno));
	else
		cs_warn("session: aborted the connection of %s", s->mountpoint);
	close(fd);
}

/* ------------------------------------------------------------------ */
/* Public                                                             */
/* ------------------------------------------------------------------ */

static struct cs_session *session_new(const char *volume, const char *mp,
                                      int readonly)
{
	struct cs_session *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;

	if (!s)
		return NULL;
	s->volume = strdup(volume);
	s->mountpoint = strdup(mp);
	if (!s->volume || !s->mountpoint) {
		free(s->volume);
		free(s->mountpoint);
		free(s);
		return NULL;
	}
	s->readonly = readonly;
	pthread_mutex_init(&s->stop_lock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	return s;
}

/* Write @val to /sys/class/bdi/MAJ:MIN/@knob of the mount's backing device
 * (its bdi, named by the anonymous device number). Needs root; without it
 * the kernel's setting stays (logged at debug level). */
static void set_bdi(const struct cs_session *s, const char *knob, unsigned val)
{
	char path[80], text[16];
	int fd, n;

	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/%s", major(s->dev), minor(s->dev),
	         knob);
	n = snprintf(text, sizeof(text), "%u\n", val);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, text, (size_t)n) != n)
		cs_debug("session: cannot set %s to %u: %s", path, val, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* The mount's read-ahead and dirty page share (0: leave the kernel's). */
static void tune_bdi(const struct cs_session *s, const struct cs_session_opts *o)
{
	if (!s->dev)
		return;
	if (o->readahead_kb)
		set_bdi(s, "read_ahead_kb", o->readahead_kb);
	if (o->dirty_ratio && !s->readonly)
		set_bdi(s, "max_ratio", o->dirty_ratio);
}

/* Mount and start the loop; on failure leaves what was built for
 * cs_session_free to undo. */
static int session_launch(struct cs_session *s,
                          const struct cs_session_opts *opts)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	const struct fuse_lowlevel_ops *ops = cs_fuse_ops();
	struct stat st;
	int rc, ok;

	rc = build_args(opts, s->volume, &args);
	if (rc < 0)
		goto out;
	s->se = fuse_session_new(&args, ops, sizeof(*ops), s->fs);
	if (!s->se) {
		cs_err("session: libfuse refused the options for %s", s->mountpoint);
		rc = -EINVAL;
		goto out;
	}
	cs_fuse_set_session(s->fs, s->se);
	if (fuse_session_mount(s->se, s->mountpoint) != 0) {
		cs_err("session: cannot mount %s", s->mountpoint);
		rc = -EIO;
		goto out;
	}
	rc = start_thread(s);
	if (rc < 0) {
		fuse_session_unmount(s->se);
		goto out;
	}
	pthread_mutex_lock(&s->lock);
	ok = wait_flag(s, &s->init_done, CS_SESSION_INIT_WAIT) && !s->ended;
	pthread_mutex_unlock(&s->lock);
	if (!ok) {
		cs_err("session: the kernel did not start %s", s->mountpoint);
		rc = -EIO;
		goto out;
	}
	if (stat(s->mountpoint, &st) == 0)
		s->dev = st.st_dev;
	tune_bdi(s, opts);
	pthread_mutex_lock(&s->lock);
	s->armed = !s->ended; /* from now on on_end reports the end */
	ok = s->armed;
	pthread_mutex_unlock(&s->lock);
	if (!ok) {
		cs_err("session: %s went away while starting", s->mountpoint);
		rc = -EIO;
	}
out:
	fuse_opt_free_args(&args);
	return rc;
}

/* Open the session's volume, or for "VOLUME@SNAPSHOT" (split at the last
 * '@': snapshot names never hold one) a read-only view of the snapshot. */
static int session_open_volume(cs_store *st, struct cs_session *s)
{
	char *at = strrchr(s->volume, '@');
	char *vol;
	int rc;

	if (!at)
		return cs_vol_open(st, s->volume, s->readonly ? CS_VOL_RDONLY : 0, &s->vol);
	vol = strndup(s->volume, (size_t)(at - s->volume));
	if (!vol)
		return -ENOMEM;
	rc = cs_vol_open_snapshot(st, vol, at + 1, &s->vol);
	free(vol);
	return rc;
}

int cs_session_start(cs_store *st, const char *volume, const char *mountpoint,
                     const struct cs_session_opts *opts, cs_session_end_fn on_end,
                     void *ctx, struct cs_session **out)
{
	static pthread_once_t log_once = PTHREAD_ONCE_INIT;
	struct cs_session *s = NULL;
	int rc;

	*out = NULL;
	if (!st || !volume || !mountpoint || !opts)
		return -EINVAL;
	pthread_once(&log_once, fuse_log_setup);
	rc = check_mountpoint(mountpoint);
	if (rc < 0)
		return rc;
	/* "VOLUME@SNAPSHOT": a snapshot view, always read-only. */
	s = session_new(volume, mountpoint, opts->readonly || strchr(volume, '@'));
	if (!s)
		return -ENOMEM;
	s->on_end = on_end;
	s->ctx = ctx;
	rc = session_open_volume(st, s);
	if (rc < 0) {
		cs_err("session: cannot open volume '%s': %s", volume,
		       cs_last_error());
		goto fail;
	}
	s->fs = cs_fuse_new(s->vol, s->readonly, session_inited, s);
	if (!s->fs) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = session_launch(s, opts);
	if (rc < 0)
		goto fail;
	cs_info("fuse session for volume '%s' mounted at %s (%s)", volume,
	        mountpoint, s->readonly ? "ro" : "rw");
	*out = s;
	return 0;
fail:
	cs_session_free(s);
	return rc;
}

void cs_session_stop(struct cs_session *s)
{
	int ended;

	if (!s)
		return;
	/* From on_end (the loop thread itself): the loop has ended already
	 * and the thread cannot join itself. */
	if (s->thread_live && pthread_equal(pthread_self(), s->thread))
		return;
	pthread_mutex_lock(&s->stop_lock);
	if (s->thread_live) {
		if (!cs_session_ended(s))
			session_unmount(s);
		pthread_mutex_lock(&s->lock);
		ended = wait_flag(s, &s->ended, CS_SESSION_STOP_WAIT);
		pthread_mutex_unlock(&s->lock);
		if (!ended && session_detach_binds(s) > 0) {
			pthread_mutex_lock(&s->lock);
			ended = wait_flag(s, &s->ended, CS_SESSION_STOP_WAIT);
			pthread_mutex_unlock(&s->lock);
		}
		if (!ended) {
			session_abort(s);
			pthread_mutex_lock(&s->lock);
			ended = wait_flag(s, &s->ended, CS_SESSION_STOP_WAIT);
			pthread_mutex_unlock(&s->lock);
			if (!ended)
				cs_err("session: loop for %s does not end; waiting",
				       s->mountpoint);
		}
		pthread_join(s->thread, NULL);
		s->thread_live = 0;
	}
	if (s->se) {
		fuse_session_destroy(s->se); /* fd closed already, if mounted */
		s->se = NULL;
	}
	/* Never started a thread (failed start): close what start opened. */
	cs_fuse_free(s->fs);
	s->fs = NULL;
	cs_vol_close(s->vol);
	s->vol = NULL;
	__atomic_store_n(&s->ended, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&s->stop_lock);
}

void cs_session_free(struct cs_session *s)
{
	if (!s)
		return;
	cs_session_stop(s);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->stop_lock);
	free(s->volume);
	free(s->mountpoint);
	free(s);
}

int cs_session_ended(const struct cs_session *s)
{
	return __atomic_load_n(&s->ended, __ATOMIC_ACQUIRE);
}

const char *cs_session_volume(const struct cs_session *s)
{
	return s->volume;
}

const char *cs_session_mountpoint(const struct cs_session *s)
{
	return s->mountpoint;
}

int cs_session_readonly(const struct cs_session *s)
{
	return s->readonly;
}

int cs_session_set_mountpoint(struct cs_session *s, const char *mountpoint)
{
	char *mp = strdup(mountpoint), *old;

	if (!mp)
		return -ENOMEM;
	pthread_mutex_lock(&s->stop_lock);
	pthread_mutex_lock(&s->lock);
	old = s->mountpoint;
	s->mountpoint = mp;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&s->stop_lock);
	cs_debug("session: volume '%s' now recorded at %s (was %s)", s->volume, mp, old);
	free(old);
	return 0;
}
