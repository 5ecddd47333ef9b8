/*
 * cs_prop.c - volume properties: 'P' VID name -> value (unversioned).
 *
 * Small strings that tools keep with a volume; deleted with it; never part
 * of a snapshot, a clone or a stream.
 */
#include <errno.h>
#include <stdlib.h>

#include "cs_priv.h"

static int prop_check(const char *prop)
{
	size_t len = prop ? strlen(prop) : 0;

	if (len == 0 || len > CS_NAME_MAX)
		return cs_fail(-EINVAL, "property name of %zu bytes (1..%u allowed)", len,
		               CS_NAME_MAX);
	for (const char *p = prop; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == ':' ||
		      *p == '-'))
			return cs_fail(-EINVAL, "property name '%s' has a character outside "
			               "[A-Za-z0-9._:-]", prop);
	return 0;
}

static size_t prop_key(uint8_t *k, uint64_t vid, const char *prop)
{
	size_t n = strlen(prop);

	k[0] = 'P';
	be64_put(k + 1, vid);
	memcpy(k + 9, prop, n);
	return 9 + n;
}

int cs_volume_prop_set(cs_store *st, const char *volume, const char *prop,
                       const char *value)
{
	uint8_t k[CS_KEY_MAX];
	struct cs_txn t;
	uint64_t vid;
	size_t klen;
	char *old;
	int rc;

	if ((rc = cs_volname_check(volume)) || (rc = prop_check(prop)))
		return rc;
	if (value && strlen(value) > CS_PROP_VALUE_MAX)
		return cs_fail(-E2BIG, "property '%s': value longer than %u bytes", prop,
		               CS_PROP_VALUE_MAX);
	rc = cs_vol_lookup_locked(st, volume, &vid);
	if (rc)
		return rc;
	klen = prop_key(k, vid, prop);
	if (!value) {
		size_t vlen;

		rc = cs_kv_get(st, st->cf_meta, k, klen, &old, &vlen);
		if (rc == -ENOENT)
			rc = cs_fail(-ENOENT, "volume '%s' has no property '%s'", volume, prop);
		if (rc)
			goto out;
		free(old);
	}
	cs_txn_begin(&t, st, NULL);
	if (value)
		cs_txn_put(&t, k, klen, value, strlen(value));
	else
		cs_txn_del(&t, k, klen);
	rc = cs_txn_commit(&t);
out:
	pthread_mutex_unlock(&st->vlock);
	return rc;
}

int cs_volume_prop_get(cs_store *st, const char *volume, const char *prop, char **value)
{
	uint8_t k[CS_KEY_MAX];
	uint64_t vid;
	size_t vlen;
	char *v;
	int rc;

	*value = NULL;
	if ((rc = cs_volname_check(volume)) || (rc = prop_check(prop)))
		return rc;
	pthread_mutex_lock(&st->vlock);
	rc = cs_vol_lookup_name(st, volume, &vid);
	if (rc == 0)
		rc = cs_kv_get(st, st->cf_meta, k, prop_key(k, vid, prop), &v, &vlen);
	pthread_mutex_unlock(&st->vlock);
	if (rc == -ENOENT)
		return cs_fail(-ENOENT, "volume '%s' has no property '%s'", volume, prop);
	if (rc)
		return rc;
	*value = malloc(vlen + 1);
	if (!*value) {
		free(v);
		return -ENOMEM;
	}
	memcpy(*value, v, vlen);
	(*value)[vlen] = 0;
	free(v);
	return 0;
}

struct list_ctx {
	cs_prop_fn fn;
	void *ctx;
};

static int list_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                   size_t vlen)
{
	struct list_ctx *l = ctx;
	char name[CS_NAME_MAX + 1], *val;
	int rc;

	if (klen - 9 > CS_NAME_MAX)
		return cs_fail(-EIO, "corrupt property key");
	memcpy(name, k + 9, klen - 9);
	name[klen - 9] = 0;
	val = malloc(vlen + 1);
	if (!val)
		return -ENOMEM;
	memcpy(val, v, vlen);
	val[vlen] = 0;
	rc = l->fn(l->ctx, name, val);
	free(val);
	return rc ? 1 : 0;
}

int cs_volume_prop_list(cs_store *st, const char *volume, cs_prop_fn fn, void *ctx)
{
	struct list_ctx l = { fn, ctx };
	uint8_t p[9];
	uint64_t vid;
	int rc = cs_volname_check(volume);

	if (rc)
		return rc;
	rc = cs_vol_lookup_locked(st, volume, &vid);
	if (rc)
		return rc;
	p[0] = 'P';
	be64_put(p + 1, vid);
	rc = cs_kv_scan(st, st->cf_meta, p, 9, list_fn, &l);
	pthread_mutex_unlock(&st->vlock);
	return rc;
}
