/*
 * fv_main.c - cstorfs-flexvolume: the Kubernetes FlexVolume driver
 * (installed as .../volume/exec/cstorfs~cstorfs/cstorfs).
 *
 * kubelet runs it once per call: `init`, `mount <podDir> <json>`,
 * `unmount <podDir>`, and calls cstorfs does not implement (attach,
 * detach, waitforattach, isattached, mountdevice, unmountdevice,
 * getvolumename, expandvolume, expandfs, anything new), which answer
 * "Not supported". Every call prints exactly one JSON object on stdout,
 * nothing on stderr, exits 0 (Success, Not supported) or 1 (Failure), and
 * is bounded by a deadline well under kubelet's patience (there is none).
 * See shared/PROTOCOLS.md, "Kubernetes FlexVolume".
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "fv_conf.h"
#include "fv_mount.h"
#include "fv_opts.h"
#include "fv_reply.h"

/* Every call ends within this many seconds (the daemon start is up to
 * 10 s, each request up to its own timeout; kubelet has no timeout).
 * $CSTORFS_FLEX_TIMEOUT may lower it (tests), never raise it. */
#define FV_DEADLINE_S 40

static const char init_reply[] =
    "{\"status\":\"Success\",\"capabilities\":{\"attach\":false,\"selinuxRelabel\":false,"
    "\"fsGroup\":false,\"supportsMetrics\":true,\"requiresFSResize\":false}}";

/* A printable, bounded copy of an argv word for messages and the log. */
static void sanitize(const char *in, char *out, size_t cap)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < cap; i++)
		out[i] = isprint((unsigned char)in[i]) ? in[i] : '?';
	out[i] = '\0';
}

static unsigned deadline_s(void)
{
	const char *env = getenv("CSTORFS_FLEX_TIMEOUT");
	char *end;
	long v;

	if (!env || !*env)
		return FV_DEADLINE_S;
	v = strtol(env, &end, 10);
	if (*end || v < 1 || v > FV_DEADLINE_S)
		return FV_DEADLINE_S;
	return (unsigned)v;
}

static int do_mount(const struct fv_conf *conf, int argc, char **argv)
{
	struct fv_opts o;
	char msg[1024] = "";
	int err;

	if (argc != 4)
		return fv_reply_failure("mount needs 2 arguments (<pod dir> <json options>), "
					"got %d",
					argc - 2);
	/* Parsing wipes argv[3]: kubelet's JSON carries the secrets. */
	err = fv_opts_parse(argv[3], &o, msg, sizeof(msg));
	if (err)
		return fv_reply_failure("%s", msg);
	fv_log(LOG_INFO, "mount volume '%s' at %s (%s, %d secret key(s)%s%s)", o.volume, argv[2],
	       o.readonly ? "ro" : "rw", o.secrets, o.pod[0] ? ", pod " : "", o.pod);
	err = fv_mount(conf, argv[2], &o, msg, sizeof(msg));
	if (err)
		return fv_reply_failure("%s", msg);
	return fv_reply_success();
}

static int do_unmount(const struct fv_conf *conf, int argc, char **argv)
{
	char msg[1024] = "";
	int err;

	if (argc != 3)
		return fv_reply_failure("unmount needs 1 argument (<pod dir>), got %d", argc - 2);
	err = fv_unmount(conf, argv[2], msg, sizeof(msg));
	if (err)
		return fv_reply_failure("%s", msg);
	return fv_reply_success();
}

int main(int argc, char **argv)
{
	struct fv_conf conf;
	char call[65], hint[9000], msg[1024] = "";

	fv_reply_stdio();
	if (argc < 2)
		return fv_reply_failure("no call given (expected init, mount or unmount)");
	sanitize(argv[1], call, sizeof(call));
	if (!strcmp(call, "init"))
		return fv_reply_raw(init_reply, FV_EXIT_OK);
	if (strcmp(call, "mount") && strcmp(call, "unmount"))
		return fv_reply_notsupported(call);

	if (fv_conf_load(&conf, msg, sizeof(msg)))
		return fv_reply_failure("%s", msg);
	snprintf(hint, sizeof(hint),
		 "the cstorfs daemon for store %s is slow or hung (check `cstorfs-ctl --store %s "
		 "status` and the system log)",
		 conf.store, conf.store);
	fv_reply_deadline(call, hint, deadline_s());
	if (!strcmp(call, "mount"))
		return do_mount(&conf, argc, argv);
	return do_unmount(&conf, argc, argv);
}
