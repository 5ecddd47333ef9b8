/*
 * fv_opts.h - the options kubelet passes to `mount`, checked and decoded.
 *
 * kubelet sends one JSON object of strings: its own "kubernetes.io/..." keys
 * (readwrite, fsType, pod.*, mounterArgs.FsGroup or the older fsGroup,
 * secret/<key> in base64, ...) and, last, the pod's flexVolume.options:
 *
 *   volume       the cstorfs volume to mount (required; "VOL@SNAP" mounts a
 *                snapshot read-only)
 *   create       "true": create the volume when it does not exist
 *   from         "VOL@SNAP": create the volume as a clone of that snapshot
 *                when it does not exist
 *   compression  "zstd:N" or "none", for a volume this call creates
 *   quota        a size ("10G", bytes) for a volume this call creates
 *
 * Secrets are checked (valid base64) and then wiped from memory; no value
 * of any option is ever put into a message or the log, since kubelet's
 * JSON carries the secrets.
 */
#ifndef FV_OPTS_H
#define FV_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FV_SECRET_PREFIX "kubernetes.io/secret/"

struct fv_opts {
	char volume[512];     /* volume name, or VOL@SNAP */
	char from[512];	      /* clone origin VOL@SNAP, "" = none */
	char compression[32]; /* "" = the daemon's default */
	int create;	      /* create (or clone) when missing */
	int snapshot;	      /* volume names a snapshot (read-only) */
	int readonly;	      /* kubernetes.io/readwrite == "ro" */
	int have_quota;
	uint64_t quota;
	int have_fsgroup;
	gid_t fsgroup;
	int secrets;   /* number of secret keys accepted */
	char pod[256]; /* "namespace/name" for the log, "" if unknown */
};

/*
 * fv_opts_parse - parse kubelet's JSON @text into @o. @text is wiped
 * (zeroed) before returning, whatever the outcome, so the secrets in it do
 * not outlive the parse (it may be argv memory: this also hides them from
 * /proc/PID/cmdline).
 * Errors: -EINVAL with @msg (never quoting a value) naming the option to
 * fix; -ENOMEM.
 */
int fv_opts_parse(char *text, struct fv_opts *o, char *msg, size_t msglen);

#endif /* FV_OPTS_H */
