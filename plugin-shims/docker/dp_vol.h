/*
 * dp_vol.h - the bookkeeping of one volume's mount: its references (the
 * property DP_REFS_PROP, read and written through the daemon, see
 * dp_refs.h for what they mean) and its mount at ROOT/NAME (asked of the
 * daemon, a shared allow_other mount), plus the volume objects the daemon
 * returns (looking one up, its Mountpoint as dockerd should see it).
 *
 * Every function records a failure in the call's answer (dp_answer.h) and
 * returns it; none holds state of its own. The caller holds the driver's
 * lock. Not here: deciding when to mount or unmount (the endpoints in
 * dp_ep_change and the start-up in dp_recover do), the kernel's mount table
 * (dp_mnt).
 */
#ifndef DP_VOL_H
#define DP_VOL_H

#include <cjson/cJSON.h>

#include "dp_answer.h"
#include "dp_refs.h"

struct dp_driver;

/* dp_vol_str - the string member @key of the JSON object @obj (a volume or
 * its props, as the daemon returns them), or NULL. Borrowed from @obj. */
const char *dp_vol_str(const cJSON *obj, const char *key);

/*
 * dp_vol_get - the daemon's object for volume @name into *@vol (caller
 * frees with cJSON_Delete). Errors (recorded in @a): -ENOENT "not found";
 * the daemon's errno otherwise (CS_CLIENT_EUNREACHABLE when it is gone).
 */
int dp_vol_get(struct dp_driver *d, struct dp_answer *a, const char *name, cJSON **vol);

/*
 * dp_vol_load_refs - the references of @name into *@refs (empty when it has
 * none; dp_refs_clear it in any case), references of another boot dropped.
 * Unreadable references are logged and dropped: they cannot be honoured.
 * Errors (recorded in @a): -ENOENT "not found"; -ENOMEM; the daemon's errno.
 */
int dp_vol_load_refs(struct dp_driver *d, struct dp_answer *a, const char *name,
		     struct dp_refs *refs);

/*
 * dp_vol_save_refs - store @refs as the references of @name (none: the
 * property is removed). Errors (recorded in @a): -ENOMEM; the daemon's
 * errno.
 */
int dp_vol_save_refs(struct dp_driver *d, struct dp_answer *a, const char *name,
		     const struct dp_refs *refs);

/*
 * dp_vol_ensure_mounted - make sure a live mount of @name sits at @path
 * (ROOT/@name): adopt one that answers, detach a dead one, else create the
 * mount root and the mount point and ask the daemon to mount.
 * Errors (recorded in @a): -EIO (a dead mount stays); -errno of mkdir; the
 * daemon's errno.
 */
int dp_vol_ensure_mounted(struct dp_driver *d, struct dp_answer *a, const char *name,
			  const char *path);

/*
 * dp_vol_release_mount - take down whatever is mounted at @path (the
 * daemon's mount of @name, or a dead one it does not know) and remove the
 * empty mount point. Nothing mounted is fine. Errors (recorded in @a):
 * the daemon's errno; -EIO when a FUSE mount stays.
 */
int dp_vol_release_mount(struct dp_driver *d, struct dp_answer *a, const char *name,
			 const char *path);

/*
 * dp_vol_mountpoint - the Mountpoint to report for the daemon's volume
 * object @vol: ROOT/NAME (written into @buf, PATH_MAX bytes) when the
 * daemon has the volume mounted there, else "". Never fails.
 */
const char *dp_vol_mountpoint(const struct dp_driver *d, const cJSON *vol, char *buf);

#endif /* DP_VOL_H */
