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

/* A copy of the @len bytes at @b, NUL-terminated (caller frees); NULL: no memory. */
static char *value_dup(const char *b, size_t len)
{
	char *s = malloc(len + 1);

	if (s) {
		memcpy(s, b, len);
		s[len] = 0;
	}
	return s;
}

static int no_prop(const char *volume, const char *prop)
{
	return cs_fail(-ENOENT, "volume '%s' has no property '%s'", volume, prop);
}

/*
 * Property @prop of volume @vid, named @volume (vlock held), in *@value
 * (caller frees). -ENOENT when the volume has no such property, -ENOMEM,
 * or the store's error.
 */
static int prop_read(cs_store *st, const char *volume, uint64_t vid, const char *prop,
                     char **value)
{
	uint8_t k[CS_KEY_MAX];
	size_t vlen;
	char *v;
	int rc = cs_kv_get(st, st->cf_meta, k, prop_key(k, vid, prop), &v, &vlen);

	if (rc == -ENOENT)
		return no_prop(volume, prop);
	if (rc)
		return rc;
	*value = value_dup(v, vlen);
	free(v);
	return *value ? 0 : -ENOMEM;
}

/*
 * Check @volume, @prop and @value (NULL: none), in that order, then find
 * the volume: 0 with st->vlock held and *@vid, or the error without it.
 */
static int prop_begin(cs_store *st, const char *volume, const char *prop, const char *value,
                      uint64_t *vid)
{
	int rc;

	if ((rc = cs_volname_check(volume)) || (rc = prop_check(prop)))
		return rc;
	if (value && strlen(value) > CS_PROP_VALUE_MAX)
		return cs_fail(-E2BIG, "property '%s': value longer than %u bytes", prop,
		               CS_PROP_VALUE_MAX);
	return cs_vol_lookup_locked(st, volume, vid);
}

int cs_volume_prop_set(cs_store *st, const char *volume, const char *prop,
                       const char *value)
{
	uint8_t k[CS_KEY_MAX];
	struct cs_txn t;
	uint64_t vid;
	size_t klen;
	char *old;
	int rc = prop_begin(st, volume, prop, value, &vid);

	if (rc)
		return rc;
	if (!value) {
		rc = prop_read(st, volume, vid, prop, &old);
		if (rc)
			goto out;
		free(old);
	}
	klen = prop_key(k, vid, prop);
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
	uint64_t vid;
	int rc;

	*value = NULL;
	rc = prop_begin(st, volume, prop, NULL, &vid);
	if (rc)
		return rc == -ENOENT ? no_prop(volume, prop) : rc; /* no volume, none */
	rc = prop_read(st, volume, vid, prop, value);
	pthread_mutex_unlock(&st->vlock);
	return rc;
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
	val = value_dup((const char *)v, vlen);
	if (!val)
		return -ENOMEM;
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
