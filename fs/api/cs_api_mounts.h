/*
 * cs_api_mounts.h - the control API's mount resource, /v1/mounts: list the
 * mounts, mount a volume or a snapshot ("VOLUME@SNAPSHOT", always read-only)
 * at a mount point with its options, unmount a mount point;
 * docs/interfaces.md lists requests, mount options and answers.
 *
 * It validates requests and explains failures; the sessions themselves are
 * the session table's (cs_mounts.c). The route table is in cs_api.c.
 */
#ifndef CS_API_MOUNTS_H
#define CS_API_MOUNTS_H

#include "cs_api_int.h"

cs_api_handler cs_api_mounts_list;
cs_api_handler cs_api_mount_create;
cs_api_handler cs_api_mount_delete; /* ?mountpoint=PATH */

#endif /* CS_API_MOUNTS_H */
