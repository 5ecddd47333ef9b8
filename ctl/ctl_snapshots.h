/*
 * ctl_snapshots.h - cstorfs-ctl's snapshot commands: snapshot create,
 * list, rm, rename; clone, promote, rollback, diff. Handlers and printers
 * of their rows in main_ctl.c's table (see ctl_cmd.h for the contract).
 */
#ifndef CTL_SNAPSHOTS_H
#define CTL_SNAPSHOTS_H

#include "ctl_cmd.h"

/* snapshot create VOLUME@NAME: POST /v1/volumes/VOLUME/snapshots. */
int ctl_snapshot_create(struct ctl *x, struct ctl_args *a);
/* snapshot list [VOLUME]: the snapshots of VOLUME, or of every volume
 * (one request each, a volume removed meanwhile skipped), as one
 * {"snapshots": [...]}. */
int ctl_snapshot_list(struct ctl *x, struct ctl_args *a);
void ctl_snapshot_list_print(const struct ctl *x, const struct ctl_args *a);
/* snapshot rm VOLUME@NAME: DELETE /v1/volumes/VOLUME/snapshots/NAME. */
int ctl_snapshot_rm(struct ctl *x, struct ctl_args *a);
/* snapshot rename VOLUME@OLD NEW: PATCH .../snapshots/OLD. */
int ctl_snapshot_rename(struct ctl *x, struct ctl_args *a);
/* clone VOLUME@SNAPSHOT NEWVOLUME [--compression C] [--quota SIZE]. */
int ctl_clone(struct ctl *x, struct ctl_args *a);
/* promote VOLUME: POST /v1/volumes/VOLUME/promote. */
int ctl_promote(struct ctl *x, struct ctl_args *a);
/* rollback VOLUME@NAME [-r] [--force]: POST /v1/volumes/VOLUME/rollback. */
int ctl_rollback(struct ctl *x, struct ctl_args *a);
/* diff VOLUME@A [VOLUME@B]: both of one volume (usage error otherwise);
 * GET /v1/volumes/VOLUME/diff, printed one change a line. */
int ctl_diff(struct ctl *x, struct ctl_args *a);
void ctl_diff_print(const struct ctl *x, const struct ctl_args *a);

#endif /* CTL_SNAPSHOTS_H */
