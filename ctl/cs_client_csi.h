/*
 * cs_client_csi.h - calls of the control API client that only the CSI
 * plugin (plugin-shims/csi) needs so far: the daemon's status, for the
 * store's free space, and raising a volume's quota, for volume expansion.
 * Same conventions as cs_client.h: 0 or a negative errno, *@out owned by
 * the caller (cJSON_Delete), cs_client_errmsg() says why a call failed,
 * and none of them starts the daemon.
 */
#ifndef CS_CLIENT_CSI_H
#define CS_CLIENT_CSI_H

#include <stdint.h>

#include "cs_client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GET /v1/status: *@out is the status object (docs/interfaces.md), whose
 * "health" carries "free_bytes" and "reserve_bytes". */
int cs_client_status(struct cs_client *c, cJSON **out);

/*
 * PATCH /v1/volumes/NAME {"quota": @quota}: set the volume's quota in
 * bytes (0: none). *@out (may be NULL) is the volume afterwards.
 * Errors: -ENOENT no such volume; -EINVAL bad name; -ENAMETOOLONG.
 */
int cs_client_volume_set_quota(struct cs_client *c, const char *name, uint64_t quota,
			       cJSON **out);

#ifdef __cplusplus
}
#endif

#endif /* CS_CLIENT_CSI_H */
