/*
 * ctl_volumes.h - cstorfs-ctl's volume commands: volume create, list,
 * inspect, rename, rm; mount and unmount. The handlers and printers of
 * their rows in main_ctl.c's table (struct ctl_cmd, ctl_cmd.h): each
 * handler returns 0, a negative errno or a reported exit code, and leaves
 * the answer to print in args->ans.
 */
#ifndef CTL_VOLUMES_H
#define CTL_VOLUMES_H

#include "ctl_cmd.h"

/* --compression's check: "none", "zstd" or "zstd:N" with N 1..19. */
int ctl_check_compression(const char *opt, const char *val, uint64_t *num);

/* volume create NAME [--compression C] [--quota SIZE]: POST /v1/volumes. */
int ctl_volume_create(struct ctl *x, struct ctl_args *a);
/* volume list: GET /v1/volumes, printed as a table. */
int ctl_volume_list(struct ctl *x, struct ctl_args *a);
void ctl_volume_list_print(const struct ctl *x, const struct ctl_args *a);
/* volume inspect NAME: GET /v1/volumes/NAME, printed field by field. */
int ctl_volume_inspect(struct ctl *x, struct ctl_args *a);
void ctl_volume_inspect_print(const struct ctl *x, const struct ctl_args *a);
/* volume rename OLD NEW: PATCH /v1/volumes/OLD. */
int ctl_volume_rename(struct ctl *x, struct ctl_args *a);
/* volume rm NAME [--force]: DELETE /v1/volumes/NAME[?force=1]. */
int ctl_volume_rm(struct ctl *x, struct ctl_args *a);

/* mount NAME[@SNAPSHOT] MOUNTPOINT [-o OPTIONS] [--shared]: resolves the
 * mount point (exit 4 when it does not exist), then POST /v1/mounts. */
int ctl_mount(struct ctl *x, struct ctl_args *a);
void ctl_mount_print(const struct ctl *x, const struct ctl_args *a);
/* unmount MOUNTPOINT: DELETE /v1/mounts?mountpoint=PATH. */
int ctl_unmount(struct ctl *x, struct ctl_args *a);
void ctl_unmount_print(const struct ctl *x, const struct ctl_args *a);

#endif /* CTL_VOLUMES_H */
