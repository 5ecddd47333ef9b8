/*
 * fv_mount.h - the driver's mount and unmount, done by the store's daemon.
 *
 * The driver never runs a FUSE session itself: it asks cstorfsd (started
 * through the client module when none answers, detached from kubelet's
 * process group and pipes) for a SHARED mount at the pod directory, so the
 * mount outlives the driver and two pods on one node can mount one volume.
 * Unmount gets only the pod directory: the daemon's mount table says which
 * mount sits there; a cstorfs mount the daemon does not know (its daemon
 * died) is detached lazily from /proc/self/mountinfo.
 *
 * Both functions return 0 or a negative errno, with @msg (always set on
 * failure) telling the operator what to fix. Neither blocks for long: the
 * client's requests have timeouts, and filesystem calls through a mount
 * run in a child process that is killed when it hangs.
 */
#ifndef FV_MOUNT_H
#define FV_MOUNT_H

#include <stddef.h>

#include "fv_conf.h"
#include "fv_opts.h"

/*
 * fv_mount - mount @o->volume at @poddir (absolute; created 0750 when
 * missing), creating or cloning the volume as @o says, read-only when
 * @o->readonly, and give the volume root to @o->fsgroup (setgid, 02775)
 * on read-write mounts. Mounting again at a pod dir that already holds the
 * same volume succeeds. Errors: -EINVAL bad pod dir; -ENOENT no such
 * volume (and no create); CS_CLIENT_EUNREACHABLE no daemon; the daemon's
 * errnos; -ETIMEDOUT the fsGroup change hung. On an error after the mount
 * was made, the mount is undone.
 */
int fv_mount(const struct fv_conf *conf, const char *poddir, const struct fv_opts *o, char *msg,
	     size_t msglen);

/*
 * fv_unmount - unmount whatever cstorfs mount sits at @poddir. Nothing
 * mounted there (or no such directory) is success. Errors: -EINVAL
 * relative path; -EBUSY a non-cstorfs filesystem is mounted there (left
 * alone); the daemon's errnos; -EIO the mount stayed.
 */
int fv_unmount(const struct fv_conf *conf, const char *poddir, char *msg, size_t msglen);

#endif /* FV_MOUNT_H */
