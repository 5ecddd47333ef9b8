/*
 * cs_api_snapshots.h - the control API's snapshot resource: a volume's
 * snapshots (/v1/volumes/NAME/snapshots[/SNAP]: list, take, inspect,
 * rename, delete), rolling a volume back to one (.../rollback) and the
 * changes between two of them or since one (.../diff); docs/interfaces.md
 * lists requests and answers.
 *
 * Clones (a volume made from a snapshot, and its promotion) are volumes:
 * cs_api_volumes.c. The route table is in cs_api.c.
 */
#ifndef CS_API_SNAPSHOTS_H
#define CS_API_SNAPSHOTS_H

#include "cs_api_int.h"

/* Handlers (cs_api_handler): q->arg[0] the volume, q->arg[1] the snapshot. */
cs_api_handler cs_api_snapshots_list;
cs_api_handler cs_api_snapshot_create;
cs_api_handler cs_api_snapshot_get;
cs_api_handler cs_api_snapshot_patch;
cs_api_handler cs_api_snapshot_delete;
cs_api_handler cs_api_volume_rollback;
cs_api_handler cs_api_volume_diff;

#endif /* CS_API_SNAPSHOTS_H */
