/*
 * dp_mnt.h - the plugin's view of the kernel's mount table: which FUSE
 * mounts sit under its mount root (/proc/self/mountinfo), whether one is
 * alive, and detaching a dead one. It never mounts: the cstorfs daemon
 * does (through cs_client); it only cleans up what a dead daemon left.
 */
#ifndef DP_MNT_H
#define DP_MNT_H

#include <stddef.h>

/*
 * dp_mnt_list_under - the FUSE mount points directly below @root (paths
 * @root/NAME; the topmost entry once even if stacked). *@paths is a
 * malloc'd array of @*n malloc'd strings (dp_mnt_list_free).
 * Errors: -errno opening /proc/self/mountinfo; -ENOMEM.
 */
int dp_mnt_list_under(const char *root, char ***paths, size_t *n);
void dp_mnt_list_free(char **paths, size_t n);

/* 1 when any FUSE mount sits exactly at @path, else 0. */
int dp_mnt_is_fuse(const char *path);

/*
 * dp_mnt_state - 1 when a FUSE mount at @path answers, 0 when nothing is
 * mounted there, -ENOTCONN when the FUSE mount is dead (its daemon is
 * gone), another -errno when statfs fails otherwise.
 */
int dp_mnt_state(const char *path);

/* Detach the mount at @path lazily (umount2 MNT_DETACH, else
 * fusermount3 -u -z). Errors: -EIO when it is still mounted afterwards. */
int dp_mnt_detach(const char *path);

#endif /* DP_MNT_H */
