/*
 * dp_driver.h - the Docker volume driver: answers Plugin.Activate and the
 * VolumeDriver endpoints (shared/PROTOCOLS.md) by calling the cstorfs
 * daemon's control API through cs_client. No HTTP here (dp_http carries the
 * requests); no FUSE (the daemon mounts).
 *
 * State: none in memory that matters. Volume definitions are the daemon's
 * volumes (compression, quota, origin) plus the property "docker.opts"
 * (the -o options as given, for Get); mount references are the property
 * "docker.refs" (dp_refs.h). Both live in the store, so a restarted plugin
 * (or dockerd) finds them again; nothing depends on Plugin.Activate.
 *
 * Mounts: volume NAME is mounted at ROOT/NAME (a shared, allow_other mount
 * by the daemon) while its references total more than zero, and only then.
 *
 * Every call is serialised by one lock (the cs_client handle is not
 * thread-safe, and a Mount must not race an Unmount of the same volume).
 */
#ifndef DP_DRIVER_H
#define DP_DRIVER_H

#include <cjson/cJSON.h>

struct dp_driver;

/*
 * dp_driver_new - a driver for the store at @store_dir (NULL: cs_client's
 * default) mounting volumes below @mount_root (NULL: STORE/mounts; may lie
 * inside the store or anywhere else). Creates nothing and does not contact
 * the daemon: the store is created by the daemon the first call (or
 * dp_driver_recover) starts (`cstorfsd --create`), and the mount root only
 * after that daemon answered, so a mount root inside a store directory that
 * does not exist yet cannot make the daemon refuse the directory.
 * Errors: -ENAMETOOLONG; -errno resolving the mount root; -ENOMEM; -EIO
 * (no boot id).
 */
int dp_driver_new(const char *store_dir, const char *mount_root, struct dp_driver **out);
void dp_driver_free(struct dp_driver *d);

/* The store directory and the canonical mount root (owned by @d). */
const char *dp_driver_store(const struct dp_driver *d);
const char *dp_driver_mount_root(const struct dp_driver *d);

/*
 * dp_driver_recover - at start: start the daemon when none runs (creating
 * the store when there is none), create the mount root, drop references of
 * earlier boots, then look at the FUSE mounts below the mount root left by
 * an earlier run: adopt live ones that still have references, detach dead
 * ones (ENOTCONN), unmount unreferenced ones; remount referenced volumes
 * that have no live mount. Logs what it did; failures are logged
 * and left for the next call to retry. Returns 0 or the first -errno.
 */
int dp_driver_recover(struct dp_driver *d);

/*
 * dp_driver_call - answer @endpoint ("Plugin.Activate",
 * "VolumeDriver.Mount", ...) for the request object @req (NULL: an empty
 * body). *@resp is always a JSON object (caller owns): the success answer,
 * or {"Err": "message"}. Returns the HTTP status to send (200, or 500 with
 * an Err, 404 for an unknown endpoint). *@resp is NULL only on ENOMEM.
 */
int dp_driver_call(struct dp_driver *d, const char *endpoint, const cJSON *req, cJSON **resp);

#endif /* DP_DRIVER_H */
