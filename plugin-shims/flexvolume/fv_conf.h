/*
 * fv_conf.h - where the FlexVolume driver finds its store and daemon.
 *
 * kubelet runs the driver with its own environment and from the plugin
 * directory, which must hold nothing but the driver (kubelet re-runs
 * `init` on any change there). So the configuration never lives beside the
 * executable: it is /etc/cstorfs/flexvolume.conf ($CSTORFS_FLEX_CONF
 * names another file), lines of KEY=VALUE, '#' comments:
 *
 *   STORE=/var/lib/cstorfs       the store directory (absolute)
 *   CSTORFSD=/usr/local/bin/cstorfsd   the daemon binary (optional)
 *
 * The environment wins over the file ($CSTORFS_STORE, $CSTORFSD); the
 * store defaults to /var/lib/cstorfs. A missing file is not an error.
 */
#ifndef FV_CONF_H
#define FV_CONF_H

#include <stddef.h>

#define FV_CONF_FILE "/etc/cstorfs/flexvolume.conf"
#define FV_DEFAULT_STORE "/var/lib/cstorfs"

struct fv_conf {
	char store[4096];    /* absolute store directory */
	char cstorfsd[4096]; /* daemon binary, "" = the client's own search */
	char file[4096];     /* the configuration file read (or looked for) */
};

/*
 * fv_conf_load - fill @conf from the file and the environment, then export
 * CSTORFSD (when configured) and append the usual system directories to
 * PATH so the client module can start the daemon from kubelet's sparse
 * environment.
 * Errors: -EINVAL a malformed line or a relative STORE (@msg says which,
 * naming the file and line); -EIO the file exists but cannot be read.
 */
int fv_conf_load(struct fv_conf *conf, char *msg, size_t msglen);

#endif /* FV_CONF_H */
