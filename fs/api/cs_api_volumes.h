/*
 * cs_api_volumes.h - the control API's volume resource: /v1/volumes (list,
 * create, and create as a clone of a snapshot), /v1/volumes/NAME (inspect,
 * rename and set options, delete), its properties (.../props) and the
 * promotion of a clone (.../promote); docs/interfaces.md lists requests
 * and answers. Also the checks the other resources share about volumes:
 * a volume that must exist, "VOLUME@SNAPSHOT" names, unmounting a volume
 * before it changes under its mounts.
 *
 * It does not handle snapshots (cs_api_snapshots.c) or mounts
 * (cs_api_mounts.c), and the route table is in cs_api.c.
 */
#ifndef CS_API_VOLUMES_H
#define CS_API_VOLUMES_H

#include "cs_api_int.h"

/* ---- handlers (cs_api_handler; q->arg[0] the volume's name) ---- */

cs_api_handler cs_api_volumes_list;
cs_api_handler cs_api_volume_create;
cs_api_handler cs_api_volume_get;
cs_api_handler cs_api_volume_patch;
cs_api_handler cs_api_volume_delete;
cs_api_handler cs_api_volume_promote;
cs_api_handler cs_api_props_get;
cs_api_handler cs_api_props_patch;

/* ---- for the other resources ---- */

/* Answer @status with the volume object of @name; the store's error when it
 * cannot be read. Returns 0 or the negative errno answered. */
int cs_api_volume_answer(struct cs_api *api, struct cs_http_reply *r, unsigned status,
			 const char *name);

/* Check @name, then read the volume into @info: 404 ENOENT when it does not
 * exist, 400 when the name is invalid. Returns 0 or the errno answered. */
int cs_api_volume_must_exist(struct cs_api *api, struct cs_http_reply *r, const char *name,
			     struct cs_volume_info *info);

/* Split "VOLUME[@SNAPSHOT]" @spec into @vol (CS_NAME_MAX + 1 bytes) and a
 * pointer into @spec at the snapshot's name (NULL without '@'), checking
 * both names (400). Returns 0 or the errno answered. */
int cs_api_volume_spec(struct cs_http_reply *r, const char *spec, char *vol, const char **snap);

/* 404 ENOENT unless volume @vol (and snapshot @snap of it, when not NULL)
 * exists. Returns 0 or the errno answered. */
int cs_api_volume_spec_exists(struct cs_api *api, struct cs_http_reply *r, const char *vol,
			      const char *snap);

/* Before @name changes under its mounts (delete, rollback): 409 EBUSY when
 * it or a snapshot of it is mounted, unless @force, which ends those
 * sessions first (@why in the log). Returns 0 or the errno answered. */
int cs_api_volume_unmount(struct cs_api *api, struct cs_http_reply *r, const char *name, int force,
			  const char *why);

/* Add @st as the "stats" member of @o (volumes and snapshots). */
void cs_api_stats_json(cJSON *o, const struct cs_volume_stats *st);

#endif /* CS_API_VOLUMES_H */
