/*
 * cs_mountpoint.h - mount points in the kernel, for the session table and
 * the /v1/mounts resource: a mount point's canonical path, the dead FUSE
 * mounts a killed daemon leaves behind (detected and detached, only when
 * they are cstorfs'), and the bind mounts of shared sessions.
 *
 * It keeps no state and starts no session (cs_session.c mounts FUSE).
 */
#ifndef CS_MOUNTPOINT_H
#define CS_MOUNTPOINT_H

#include <limits.h>

/* Canonicalise the mount point @mp into @real (PATH_MAX bytes), detaching
 * a dead cstorfs mount found there. Errors: realpath's (-ENOENT,
 * -ENOTDIR, ...); -ENOTCONN a dead mount that could not be detached. */
int cs_mountpoint_resolve(const char *mp, char *real);

/* Non-zero when @mp is a dead FUSE mount (statfs says ENOTCONN). */
int cs_mountpoint_dead(const char *mp);

/* Detach the dead cstorfs FUSE mount at @mp: umount2(MNT_DETACH) as root,
 * else fusermount3 -u -z. Errors: -ENOENT no cstorfs mount there; -EIO
 * fusermount3 failed; a fork error. */
int cs_mountpoint_clear_dead(const char *mp);

/* Bind-mount @src (a mount point of a shared session) at the directory
 * @dst, read-only when @readonly, keeping @src's nosuid/nodev/noexec.
 * Errors: -ENOENT, -ENOTDIR @dst; mount(2)'s (logged). */
int cs_mountpoint_bind(const char *src, const char *dst, int readonly);

/* Detach the bind mount at @mp (lazily when busy); errors are logged. */
void cs_mountpoint_unbind(const char *mp);

#endif /* CS_MOUNTPOINT_H */
