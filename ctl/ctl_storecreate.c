/*
 * ctl_storecreate.c - `cstorfs-ctl store create`: make a store, choosing
 * where its chunks live (local chunk files, or a Ceph RADOS pool shared by
 * several stores, issue 15). It runs the store library here, not through
 * a daemon: a store being created has none; the next command starts one.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_store.h"
#include "ctl_store.h"

/* The spec cs_store_open_chunks takes, from the options: 0 or an exit code. */
static int chunk_spec(const struct ctl_args *a, char *spec, size_t len)
{
	const char *chunks = ctl_str(a, "--chunks"), *conf = ctl_str(a, "--ceph-conf");
	const char *id = ctl_str(a, "--ceph-id");
	char abs[PATH_MAX];
	int n;

	if (!chunks)
		chunks = "local";
	if (strcmp(chunks, "local") && strncmp(chunks, "rados:", 6)) {
		fprintf(stderr, "cstorfs-ctl: --chunks: 'local' or 'rados:POOL', not '%s'\n", chunks);
		return CS_EXIT_USAGE;
	}
	if ((conf || id) && !strcmp(chunks, "local")) {
		fprintf(stderr, "cstorfs-ctl: --ceph-conf and --ceph-id go with --chunks rados:POOL\n");
		return CS_EXIT_USAGE;
	}
	if (conf && !realpath(conf, abs)) {
		fprintf(stderr, "cstorfs-ctl: --ceph-conf %s: %s\n", conf, strerror(errno));
		return CS_EXIT_USAGE;
	}
	n = snprintf(spec, len, "%s%s%s%s%s", chunks, conf ? ";conf=" : "", conf ? abs : "",
		     id ? ";id=" : "", id ? id : "");
	if (n < 0 || (size_t)n >= len || (conf && strchr(abs, ';')) || (id && strchr(id, ';'))) {
		fprintf(stderr, "cstorfs-ctl: --ceph-conf or --ceph-id: too long, or holds ';'\n");
		return CS_EXIT_USAGE;
	}
	return 0;
}

int ctl_store_create(struct ctl *x, struct ctl_args *a)
{
	char spec[PATH_MAX + 512], *dir = cs_client_store_dir(x->store_arg);
	cs_store *st = NULL;
	int rc = dir ? chunk_spec(a, spec, sizeof(spec)) : CS_EXIT_FAIL;

	if (rc == 0) {
		rc = cs_store_open_chunks(dir, CS_STORE_CREATE, spec, &st);
		if (rc == 0) {
			cs_store_close(st);
			printf("created store %s (chunks: %s)\n", dir, spec);
		} else {
			fprintf(stderr, "cstorfs-ctl: %s\n", cs_last_error());
			rc = rc == -EEXIST ? CS_EXIT_EXISTS : rc == -EBUSY ? CS_EXIT_DAEMON
			   : rc == -EINVAL ? CS_EXIT_USAGE : CS_EXIT_FAIL;
		}
	}
	a->printed = 1;
	free(dir);
	return rc;
}
