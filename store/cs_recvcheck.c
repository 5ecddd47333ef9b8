/*
 * cs_recvcheck.c - does a stream fit the volume it is received into?
 *
 * A full stream makes a new volume; an incremental one lands on the
 * volume holding its base snapshot, unchanged since (or rolled back to it
 * with --force), or makes a clone of a base some other volume holds. A
 * stream already received is refused with -EEXIST, saying so. cs_recv.c
 * asks before it stages anything.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cs_chunkstore.h"
#include "cs_priv.h"
#include "cs_streamfmt.h"

/* Latest snapshot of @vid (by epoch), or -ENOENT. */
static int latest_snap(cs_store *st, uint64_t vid, const char *vname, struct cs_snaprec *out)
{
	struct cs_snaprec *v;
	size_t n;
	int rc = cs_snap_between(st, vid, vname, 0, UINT64_MAX, &v, &n);

	if (rc)
		return rc;
	if (n == 0)
		rc = -ENOENT;
	else
		*out = v[n - 1];
	free(v);
	return rc;
}

static int has_snap_uuid(cs_store *st, uint64_t vid, const char *vname, const uint8_t *uuid)
{
	struct cs_snaprec *v;
	size_t n;
	int found = 0;

	if (cs_snap_between(st, vid, vname, 0, UINT64_MAX, &v, &n))
		return 0;
	for (size_t i = 0; i < n; i++)
		found |= !memcmp(v[i].uuid, uuid, 16);
	free(v);
	return found;
}

/* "web@monday (full, stream 0123456789abcdef)": which stream @h is. */
void cs_stream_desc(char *buf, size_t size, const struct cs_stream_header *h)
{
	char id[17];

	for (int i = 0; i < 8; i++)
		snprintf(id + 2 * i, 3, "%02x", h->stream_id[i]);
	if (h->flags & CS_STREAM_INCREMENTAL)
		snprintf(buf, size, "%s@%s (incremental from %s@%s%s, stream %s)", h->volume,
		         h->snap, h->base_volume, h->base,
		         h->flags & CS_STREAM_INTERMEDIATES ? " with every snapshot between" : "",
		         id);
	else
		snprintf(buf, size, "%s@%s (full, stream %s)", h->volume, h->snap, id);
}

/* Does the stream @h fit the target @volume? (under vlock) With @fix, a
 * target changed since the base is rolled back to it (--force). */
int cs_recv_check_target(cs_store *st, const char *volume, const struct cs_stream_header *h,
                         int fix)
{
	struct cs_snaprec base, last;
	struct cs_volrec r;
	uint64_t vid, bvid;
	int rc = cs_vol_lookup_name(st, volume, &vid);

	if (rc && rc != -ENOENT)
		return rc;
	if (!(h->flags & CS_STREAM_INCREMENTAL)) {
		if (rc == 0 && has_snap_uuid(st, vid, volume, h->snap_uuid))
			return cs_fail(-EEXIST, "volume '%s' already exists and holds snapshot '%s' "
			               "of this stream: it was received already (nothing to do)",
			               volume, h->snap);
		if (rc == 0)
			return cs_fail(-EEXIST, "volume '%s' already exists: a full stream creates a "
			               "new volume", volume);
		return 0;
	}
	if (rc == -ENOENT) { /* a clone of a snapshot some other volume here has */
		rc = cs_snap_by_uuid(st, h->base_uuid, &bvid, &base);
		if (rc == -ENOENT)
			return cs_fail(-ENOENT, "the base snapshot %s@%s of this incremental stream "
			               "is not in this store", h->base_volume, h->base);
		return rc;
	}
	if (has_snap_uuid(st, vid, volume, h->snap_uuid))
		return cs_fail(-EEXIST, "volume '%s' already has snapshot '%s' of this stream: "
		               "it was received already (nothing to do)", volume, h->snap);
	if (!has_snap_uuid(st, vid, volume, h->base_uuid))
		return cs_fail(-ENOENT, "volume '%s' has no snapshot '%s' (the stream's base)",
		               volume, h->base);
	if (cs_vs_find(st, vid, 0))
		return cs_fail(-EBUSY, "volume '%s' is in use (mounted)", volume);
	rc = cs_volrec_load(st, vid, &r);
	if (rc == 0 && r.chunk_size != h->chunk_size)
		return cs_fail(-EINVAL, "volume '%s' has %u-byte chunks, the stream's %u-byte ones",
			       volume, r.chunk_size, h->chunk_size);
	if (rc == 0)
		rc = latest_snap(st, vid, volume, &last);
	if (rc)
		return rc;
	if (!memcmp(last.uuid, h->base_uuid, 16) && r.changes == 0 && r.epoch == last.epoch + 1)
		return 0;
	if (!fix)
		return cs_fail(-ESTALE, "volume '%s' changed since snapshot '%s' (the stream's "
		               "base): use --force to roll it back first", volume, h->base);
	rc = cs_snap_by_uuid(st, h->base_uuid, &bvid, &base);
	if (rc)
		return rc;
	pthread_mutex_unlock(&st->vlock); /* cs_rollback takes vlock itself */
	rc = cs_rollback(st, volume, base.name, 1);
	pthread_mutex_lock(&st->vlock);
	return rc;
}

int cs_recv_check_pool(cs_store *st, const struct cs_stream_header *h)
{
	char fsid[40] = "", pool[128] = "", here[256];
	int rc;

	if (!(h->flags & CS_STREAM_NAMES))
		return 0;
	rc = st->chunks->ops->pool(st->chunks, fsid, pool);
	if (rc && rc != -EOPNOTSUPP)
		return rc;
	if (rc == 0 && !strcmp(fsid, h->pool_fsid) && !strcmp(pool, h->pool))
		return 0;
	if (rc)
		snprintf(here, sizeof(here), "this store keeps its chunks in local files");
	else
		snprintf(here, sizeof(here), "this store's chunks are in RADOS pool %s of "
		         "cluster %s", pool, fsid);
	return cs_fail(-EXDEV, "the stream carries chunk names, not chunk bytes: its chunks "
	               "are in RADOS pool %s of cluster %s, and %s; send it again with "
	               "`cstorfs-ctl send --with-data` (nothing was changed)", h->pool,
	               h->pool_fsid, here);
}
