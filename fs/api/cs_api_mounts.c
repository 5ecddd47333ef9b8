/*
 * cs_api_mounts.c - the control API's mount resource (see cs_api_mounts.h).
 *
 * A mount request is checked whole before anything is mounted: the volume
 * (or snapshot) exists, the mount point is an absolute path to a directory
 * (a dead cstorfs mount found there is detached first), the options are
 * known; a shared mount needs root on both sides. The session table
 * refuses a mount point that is taken and a second read-write mount of a
 * volume.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_api_mounts.h"
#include "cs_api_volumes.h"
#include "cs_mountpoint.h"
#include "cs_mounts.h"

/* Options a mount may name that the daemon decides itself. */
static const char *const ignored_opts[] = {"dev",
					   "nodev",
					   "suid",
					   "nosuid",
					   "exec",
					   "noexec",
					   "atime",
					   "noatime",
					   "relatime",
					   "async",
					   "auto",
					   "noauto",
					   "user",
					   "nouser",
					   "_netdev",
					   "nofail",
					   "default_permissions",
					   NULL};

struct mount_opts {
	int readonly, allow_other, allow_root;
	unsigned readahead_kb; /* CS_READAHEAD_KB_MAX at most; 0: the kernel's */
	unsigned dirty_ratio;  /* percent, 100 at most; 0: the kernel's */
	unsigned rados_timeout; /* seconds, 1-3600; 0: not given (the store's) */
	char effective[160];
};

/* The value of a numeric mount option NAME=N: decimal, at most @max. */
static int parse_uint_opt(struct cs_http_reply *r, const char *name, const char *v, unsigned max,
			  const char *unit, unsigned *out)
{
	unsigned long n = 0;

	if (!*v || strlen(v) > 8)
		goto bad;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		n = n * 10 + (unsigned long)(*p - '0');
	}
	if (n > max)
		goto bad;
	*out = (unsigned)n;
	return 0;
bad:
	return cs_http_fail(r, EINVAL, "mount option %s must be %s from 0 to %u, not '%.32s'", name,
			    unit, max, v);
}

/* One option of the list: 0 (known, applied to @mo) or an error. */
static int parse_one_opt(struct cs_http_reply *r, const char *tok, struct mount_opts *mo)
{
	const char *const *ig;

	if (!strcmp(tok, "ro") || !strcmp(tok, "rw"))
		mo->readonly = !strcmp(tok, "ro");
	else if (!strcmp(tok, "allow_other"))
		mo->allow_other = 1;
	else if (!strcmp(tok, "allow_root"))
		mo->allow_root = 1;
	else if (!strncmp(tok, "readahead_kb=", 13))
		return parse_uint_opt(r, "readahead_kb", tok + 13, CS_READAHEAD_KB_MAX,
				      "a number of KiB", &mo->readahead_kb);
	else if (!strncmp(tok, "dirty_ratio=", 12))
		return parse_uint_opt(r, "dirty_ratio", tok + 12, 100, "a percentage",
				      &mo->dirty_ratio);
	else if (!strncmp(tok, "rados_timeout=", 14)) {
		if (parse_uint_opt(r, "rados_timeout", tok + 14, 3600, "a number of seconds",
				   &mo->rados_timeout))
			return -EINVAL;
		if (!mo->rados_timeout)
			return cs_http_fail(r, EINVAL, "mount option rados_timeout must be a "
					    "number of seconds from 1 to 3600, not '0'");
	} else {
		for (ig = ignored_opts; *ig; ig++)
			if (!strcmp(tok, *ig))
				return 0;
		return cs_http_fail(r, EINVAL, "unknown mount option '%.64s'", tok);
	}
	return 0;
}

static int parse_mount_options(struct cs_http_reply *r, const char *s, struct mount_opts *mo)
{
	char *copy = strdup(s ? s : ""), *tok, *save = NULL;
	int err = 0;

	memset(mo, 0, sizeof(*mo));
	mo->readahead_kb = CS_READAHEAD_KB_DEFAULT;
	mo->dirty_ratio = CS_DIRTY_RATIO_DEFAULT;
	if (!copy)
		return cs_http_fail(r, ENOMEM, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok && !err; tok = strtok_r(NULL, ",", &save))
		err = parse_one_opt(r, tok, mo);
	if (!err && mo->allow_other && mo->allow_root)
		err = cs_http_fail(r, EINVAL,
				   "mount options allow_other and allow_root exclude each other");
	if (!err)
		snprintf(mo->effective, sizeof(mo->effective),
			 "%s%s%s,readahead_kb=%u,dirty_ratio=%u", mo->readonly ? "ro" : "rw",
			 mo->allow_other ? ",allow_other" : "", mo->allow_root ? ",allow_root" : "",
			 mo->readahead_kb, mo->dirty_ratio);
	if (!err && mo->rados_timeout) {
		size_t n = strlen(mo->effective);

		snprintf(mo->effective + n, sizeof(mo->effective) - n, ",rados_timeout=%u",
			 mo->rados_timeout);
	}
	free(copy);
	return err;
}

static int mount_error(struct cs_http_reply *r, int err, const char *volume, const char *mp)
{
	const char *m = cs_last_error();

	switch (-err) {
	case ENOENT:
		return cs_http_fail(r, err, "mount point %s does not exist", mp);
	case ENOTDIR:
		return cs_http_fail(r, err, "mount point %s is not a directory", mp);
	case ENOTEMPTY:
		return cs_http_fail(r, err, "mount point %s is not empty", mp);
	case EBUSY:
		return cs_http_fail(r, err, "volume '%s' is already open read-write", volume);
	case ENOTCONN:
		return cs_http_fail(
		    r, err,
		    "mount point %s is a dead FUSE mount; unmount it first (fusermount3 -u %s)", mp,
		    mp);
	default:
		if (m && *m)
			return cs_http_fail(r, err, "cannot mount volume '%s' at %s: %s", volume,
					    mp, m);
		return cs_http_fail(r, err, "cannot mount volume '%s' at %s: %s", volume, mp,
				    strerror(-err));
	}
}

int cs_api_mounts_list(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	cJSON *o = cJSON_CreateObject();

	cs_mounts_reap(api->mounts);
	cJSON_AddItemToObject(o, "mounts", cs_mounts_json(api->mounts));
	cs_http_ok(r, 200, o);
	return 0;
}

/* What POST /v1/mounts asks, checked. */
struct mount_req {
	const char *volume, *mp, *snap;
	char vol[CS_NAME_MAX + 1];
	struct mount_opts mo;
	int shared;
};

static int mount_req_read(struct cs_http_reply *r, const struct cs_http_req *q, const cJSON *body,
			  struct mount_req *m)
{
	static const char *const fields[] = {"volume", "mountpoint", "options", "shared", NULL};
	const char *options;
	int err;

	if ((err = cs_http_fields(r, body, fields)) ||
	    (err = cs_http_string(r, body, "volume", 1, &m->volume)) ||
	    (err = cs_api_volume_spec(r, m->volume, m->vol, &m->snap)) ||
	    (err = cs_http_string(r, body, "mountpoint", 1, &m->mp)) ||
	    (err = cs_http_string(r, body, "options", 0, &options)) ||
	    (err = parse_mount_options(r, options, &m->mo)) ||
	    (err = cs_http_bool(r, body, "shared", &m->shared)))
		return err;
	if (m->shared && (q->uid != 0 || geteuid() != 0))
		return cs_http_fail(r, EPERM,
				    "shared mounts need root (the daemon and its client)");
	if (m->snap && !m->mo.readonly) {
		/* A snapshot is read-only whatever the options say. */
		m->mo.readonly = 1;
		memcpy(m->mo.effective, "ro", 2);
	}
	if (m->mp[0] != '/')
		return cs_http_fail(r, EINVAL, "mount point '%.1024s' is not an absolute path",
				    m->mp);
	return 0;
}

int cs_api_mount_create(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	struct cs_mount_spec ms = {0};
	struct mount_req m = {0};
	char real[PATH_MAX], msg[1024];
	char *fsname = NULL;
	cJSON *body = NULL, *json;
	int err;

	if ((err = cs_http_body(r, q, &body)) || (err = mount_req_read(r, q, body, &m)))
		goto out;
	if ((err = cs_mountpoint_resolve(m.mp, real))) {
		mount_error(r, err, m.volume, m.mp);
		goto out;
	}
	if ((err = cs_api_volume_spec_exists(api, r, m.vol, m.snap)))
		goto out;
	/* the store's, so every volume of this daemon's store */
	if (m.mo.rados_timeout && (err = cs_store_rados_timeout(api->st, m.mo.rados_timeout))) {
		cs_http_fail(r, -err, "%s", cs_last_error());
		goto out;
	}
	if (asprintf(&fsname, "%s:%s", cs_store_path(api->st), m.volume) < 0) {
		fsname = NULL;
		err = cs_http_fail(r, ENOMEM, "out of memory");
		goto out;
	}
	ms.volume = m.volume;
	ms.mountpoint = real;
	ms.options = m.mo.effective;
	ms.readonly = ms.so.readonly = m.mo.readonly;
	ms.shared = m.shared;
	ms.snapshot = m.snap != NULL;
	ms.so.allow_other = m.mo.allow_other;
	ms.so.allow_root = m.mo.allow_root;
	ms.so.readahead_kb = m.mo.readahead_kb;
	ms.so.dirty_ratio = m.mo.dirty_ratio;
	ms.so.fsname = fsname;
	err = cs_mounts_add(api->mounts, &ms, &json, msg, sizeof(msg));
	if (err < 0 && msg[0])
		cs_http_fail(r, err, "%s", msg);
	else if (err < 0)
		mount_error(r, err, m.volume, real);
	else
		cs_http_ok(r, err ? 200 : 201, json); /* 1: the same shared mount exists */
	err = err > 0 ? 0 : err;
out:
	free(fsname);
	cJSON_Delete(body);
	return err;
}

int cs_api_mount_delete(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	const char *mp = cs_http_query(q, "mountpoint");

	if (!mp || !*mp)
		return cs_http_fail(r, EINVAL, "query parameter 'mountpoint' is required");
	if (mp[0] != '/')
		return cs_http_fail(r, EINVAL, "mount point '%.1024s' is not an absolute path", mp);
	if (cs_mounts_end_at(api->mounts, mp, "unmount requested") < 0) {
		/* A dead mount a killed daemon left is no session's: detach it. */
		if (!cs_mountpoint_dead(mp) || cs_mountpoint_clear_dead(mp) != 0)
			return cs_http_fail(r, ENOENT, "nothing is mounted at %s", mp);
	}
	cs_http_ok(r, 200, NULL);
	return 0;
}
