/*
 * dp_root.h - the mount root: the directory below which volume NAME is
 * mounted at ROOT/NAME. At start its canonical path is chosen (default
 * STORE/mounts) without creating anything; it is created (mkdir -p) only
 * once the daemon has answered, because by then the store exists: a mount
 * root inside a store directory that does not exist yet (the default, on a
 * new machine) would otherwise make the directory hold "other files", and
 * the daemon's --create refuses such a directory.
 *
 * Not here: the mounts (dp_vol asks the daemon to mount; dp_mnt reads the
 * kernel's mount table), the store directory (cs_client finds it).
 * Thread-compatible (the driver's lock covers it).
 */
#ifndef DP_ROOT_H
#define DP_ROOT_H

struct dp_root {
	char *path; /* canonical, no trailing '/'; owned */
	int made;   /* dp_root_ready() created it (or found it) */
};

/*
 * dp_root_init - choose the mount root into *@r (zeroed by the caller):
 * @mount_root, or @store/mounts when it is NULL, made canonical without
 * creating anything (the realpath of its longest existing ancestor, then
 * the missing components, so that mount points built from it match
 * /proc/self/mountinfo once they exist). The default stays inside the
 * store so that one directory holds everything and earlier installs find
 * their mounts where they were.
 * Errors: -ENOMEM; -ENAMETOOLONG (no room left below it for a volume
 * name); -errno resolving the existing part.
 */
int dp_root_init(struct dp_root *r, const char *store, const char *mount_root);

/* dp_root_ready - create the mount root (mkdir -p, 0755) unless an earlier
 * call did. Errors: -errno of mkdir; -ENAMETOOLONG. */
int dp_root_ready(struct dp_root *r);

/* dp_root_volume_path - ROOT/@name into @buf (PATH_MAX bytes).
 * Errors: -ENAMETOOLONG. */
int dp_root_volume_path(const struct dp_root *r, const char *name, char *buf);

/* dp_root_free - free what dp_root_init made; safe on a zeroed one. */
void dp_root_free(struct dp_root *r);

#endif /* DP_ROOT_H */
