/*
 * dp_ep.h - the VolumeDriver endpoints (shared/PROTOCOLS.md), one handler
 * each. A handler decodes the request @req (never NULL: an empty body is
 * {}), calls the daemon and fills the answer @a once: a success object, or
 * the first failure (dp_answer.h). It returns 0 or the recorded -errno,
 * CS_CLIENT_EUNREACHABLE when the daemon has gone away: dp_driver_call()
 * then starts one and runs the handler again, so every step is harmless to
 * repeat. The caller holds the driver's lock.
 *
 * Two files hold them:
 *   dp_ep_change.c  Create, Remove, Mount, Unmount: change a volume or its
 *                   mount, keeping the rules of dp_refs.h (a repeated Mount
 *                   returns the same path; the mount goes when no reference
 *                   is left; Unmount of an unknown ID or volume succeeds;
 *                   Remove refuses a volume still referenced);
 *   dp_ep_query.c   Activate, Capabilities, Path, Get, List: only look.
 * A Mountpoint is reported only where the daemon has the volume mounted.
 *
 * Not here: the table of endpoint names (dp_driver.c), the -o options
 * (dp_opts), the mechanics of mounting and of references (dp_vol).
 */
#ifndef DP_EP_H
#define DP_EP_H

#include <cjson/cJSON.h>

#include "dp_answer.h"

struct dp_driver;

/* Plugin.Activate: answers {"Implements": ["VolumeDriver"]}. */
int dp_ep_activate(struct dp_driver *d, const cJSON *req, struct dp_answer *a);

/* VolumeDriver.Capabilities: answers {"Capabilities": {"Scope": "local"}}. */
int dp_ep_capabilities(struct dp_driver *d, const cJSON *req, struct dp_answer *a);

/*
 * VolumeDriver.Create {Name, Opts}: a volume with the -o options
 * (dp_opts.h), which are kept as its DP_OPTS_PROP; a half-made volume is
 * deleted again. Answers {}. Errors: -EEXIST; -EINVAL (a name or an
 * option); -ENOENT (option from); the daemon's errno.
 */
int dp_ep_create(struct dp_driver *d, const cJSON *req, struct dp_answer *a);

/* VolumeDriver.Remove {Name}: unmount and delete. Answers {}.
 * Errors: -EBUSY while referenced; -ENOENT; the daemon's errno. */
int dp_ep_remove(struct dp_driver *d, const cJSON *req, struct dp_answer *a);

/* VolumeDriver.Mount {Name, ID}: one more reference for ID, mounting the
 * volume when it is not. Answers {"Mountpoint": ROOT/NAME}.
 * Errors: -ENOENT; -EIO (a dead mount stays); the daemon's errno. */
int dp_ep_mount(struct dp_driver *d, const cJSON *req, struct dp_answer *a);

/* VolumeDriver.Unmount {Name, ID}: one reference of ID fewer, unmounting
 * when none is left. Answers {}. Errors: the daemon's errno. */
int dp_ep_unmount(struct dp_driver *d, const cJSON *req, struct dp_answer *a);

/* VolumeDriver.Path {Name}: answers {"Mountpoint": ROOT/NAME or ""}.
 * Errors: -ENOENT; the daemon's errno. */
int dp_ep_path(struct dp_driver *d, const cJSON *req, struct dp_answer *a);

/*
 * VolumeDriver.Get {Name}: answers {"Volume": {Name, Mountpoint,
 * CreatedAt?, Status}}; Status is what `docker volume inspect` shows
 * (used, logical_bytes, stored_bytes, compression_ratio, compression,
 * quota, origin, snapshots, mounts, references, options). When the daemon
 * fails otherwise than "not found" or "unreachable", it still answers the
 * volume, with the failure as Status.error: an Err would make dockerd
 * forget the volume. Errors: -ENOENT; CS_CLIENT_EUNREACHABLE; -EINVAL.
 */
int dp_ep_get(struct dp_driver *d, const cJSON *req, struct dp_answer *a);

/* VolumeDriver.List: answers {"Volumes": [{Name, Mountpoint}, ...]}.
 * Errors: the daemon's errno. */
int dp_ep_list(struct dp_driver *d, const cJSON *req, struct dp_answer *a);

#endif /* DP_EP_H */
