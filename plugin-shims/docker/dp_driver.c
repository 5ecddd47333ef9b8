/*
 * dp_driver.c - the driver's front door (see dp_driver.h; the protocol is
 * shared/PROTOCOLS.md): making and freeing the driver, the table of
 * endpoints, and running one call under the lock.
 *
 * Each endpoint is a handler (dp_ep.h) that decodes the request, calls the
 * daemon and fills a struct dp_answer exactly once: a success object, or
 * an errno and a message that becomes {"Err": "..."}.
 * A handler whose daemon went away (CS_CLIENT_EUNREACHABLE) is run once
 * more after cs_client_ensure_daemon() has started a new one; handlers are
 * written so that running one again after a partial failure is harmless.
 *
 * Properties the driver owns, per volume (the store keeps them with the
 * volume and deletes them with it):
 *   docker.refs  mount references, dp_refs_format() JSON; absent = none
 *   docker.opts  the -o options given at Create (JSON object of strings)
 *
 * Where the rest is:
 *   dp_ep_change  Create, Remove, Mount, Unmount
 *   dp_ep_query   Activate, Capabilities, Path, Get, List
 *   dp_answer     one call's answer
 *   dp_req        a request's Name and ID
 *   dp_opts       Create's -o options
 *   dp_vol        a volume's references and its mount at ROOT/NAME
 *   dp_root       choosing and creating the mount root
 *   dp_recover    what an earlier run left, at start
 *   dp_refs       the reference counts (pure data)
 *   dp_mnt        the kernel's mount table
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cs_client.h"
#include "dp_answer.h"
#include "dp_driver.h"
#include "dp_driver_int.h"
#include "dp_ep.h"
#include "dp_log.h"
#include "dp_recover.h"
#include "dp_root.h"

#define BOOT_ID_FILE "/proc/sys/kernel/random/boot_id"

typedef int (*handler_fn)(struct dp_driver *d, const cJSON *req, struct dp_answer *a);

static const struct {
	const char *endpoint;
	handler_fn fn;
	int needs_daemon;
} handlers[] = {
    {"Plugin.Activate", dp_ep_activate, 0},   {"VolumeDriver.Capabilities", dp_ep_capabilities, 0},
    {"VolumeDriver.Create", dp_ep_create, 1}, {"VolumeDriver.Remove", dp_ep_remove, 1},
    {"VolumeDriver.Mount", dp_ep_mount, 1},   {"VolumeDriver.Unmount", dp_ep_unmount, 1},
    {"VolumeDriver.Path", dp_ep_path, 1},     {"VolumeDriver.Get", dp_ep_get, 1},
    {"VolumeDriver.List", dp_ep_list, 1},
};

#define N_HANDLERS (sizeof(handlers) / sizeof(handlers[0]))

/* Run handler @i; once more after starting a daemon that had gone away. */
static void run_handler(struct dp_driver *d, size_t i, const cJSON *req, struct dp_answer *a)
{
	int err = handlers[i].fn(d, req, a);

	if (err != CS_CLIENT_EUNREACHABLE || !handlers[i].needs_daemon)
		return;
	dp_warn("%s: the daemon is unreachable; starting it", handlers[i].endpoint);
	if (cs_client_ensure_daemon(d->c)) {
		dp_answer_reset(a);
		dp_fail(a, CS_CLIENT_EUNREACHABLE,
			"the cstorfs daemon of store %s cannot be started: %s",
			cs_client_store(d->c), cs_client_errmsg(d->c));
		return;
	}
	dp_answer_reset(a);
	handlers[i].fn(d, req, a);
}

int dp_driver_call(struct dp_driver *d, const char *endpoint, const cJSON *req, cJSON **resp)
{
	struct dp_answer a = {0};
	size_t i;
	int status = 200;

	for (i = 0; i < N_HANDLERS; i++)
		if (!strcmp(handlers[i].endpoint, endpoint))
			break;
	if (i == N_HANDLERS) {
		dp_fail(&a, -ENOSYS, "unknown endpoint '/%.200s'", endpoint);
		status = 404;
	} else {
		pthread_mutex_lock(&d->lock);
		run_handler(d, i, req, &a);
		pthread_mutex_unlock(&d->lock);
	}
	if (a.err) {
		cJSON_Delete(a.json);
		a.json = cJSON_CreateObject();
		if (a.json)
			cJSON_AddStringToObject(a.json, "Err", a.msg);
		dp_info("%s: %s", endpoint, a.msg);
		*resp = a.json;
		return status == 200 ? 500 : status;
	}
	*resp = a.json ? a.json : cJSON_CreateObject();
	return status;
}

int dp_driver_recover(struct dp_driver *d)
{
	int err;

	pthread_mutex_lock(&d->lock);
	err = dp_recover_run(d);
	pthread_mutex_unlock(&d->lock);
	return err;
}

static int read_boot_id(char *buf)
{
	FILE *f = fopen(BOOT_ID_FILE, "re");
	int ok;

	if (!f)
		return -errno;
	ok = fgets(buf, DP_BOOT_ID_LEN + 1, f) != NULL;
	fclose(f);
	if (!ok)
		return -EIO;
	buf[strcspn(buf, "\n")] = '\0';
	return buf[0] ? 0 : -EIO;
}

int dp_driver_new(const char *store_dir, const char *mount_root, struct dp_driver **out)
{
	struct dp_driver *d = calloc(1, sizeof(*d));
	char *store = NULL;
	int err;

	*out = NULL;
	if (!d)
		return -ENOMEM;
	pthread_mutex_init(&d->lock, NULL);
	if ((err = read_boot_id(d->boot)))
		goto fail;
	store = cs_client_store_dir(store_dir);
	if (!store) {
		err = -errno ? -errno : -ENOMEM;
		goto fail;
	}
	if ((err = cs_client_new(store, &d->c)) ||
	    (err = dp_root_init(&d->root, cs_client_store(d->c), mount_root)))
		goto fail;
	free(store);
	*out = d;
	return 0;
fail:
	free(store);
	dp_driver_free(d);
	return err;
}

void dp_driver_free(struct dp_driver *d)
{
	if (!d)
		return;
	cs_client_free(d->c);
	dp_root_free(&d->root);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

const char *dp_driver_store(const struct dp_driver *d)
{
	return cs_client_store(d->c);
}

const char *dp_driver_mount_root(const struct dp_driver *d)
{
	return d->root.path;
}
