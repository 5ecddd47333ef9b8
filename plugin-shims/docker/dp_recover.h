/*
 * dp_recover.h - putting right, at start, what an earlier run left: start
 * the daemon when none runs (creating the store when there is none),
 * create the mount root, drop references of earlier boots, then look at
 * the FUSE mounts below the mount root: adopt live ones that still have
 * references, detach dead ones (ENOTCONN), unmount unreferenced ones; and
 * remount referenced volumes that have no live mount.
 *
 * Failures are logged and left for the next call to retry; nothing here
 * answers a request. Not here: the rules of references (dp_refs), reading
 * the mount table (dp_mnt), the mount and unmount steps (dp_vol).
 */
#ifndef DP_RECOVER_H
#define DP_RECOVER_H

struct dp_driver;

/*
 * dp_recover_run - do all of the above; the caller holds the driver's
 * lock. Returns 0 or the first -errno (the daemon could not be started,
 * the volumes could not be listed, /proc/self/mountinfo unreadable).
 */
int dp_recover_run(struct dp_driver *d);

#endif /* DP_RECOVER_H */
