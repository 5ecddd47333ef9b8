/*
 * ctl_store.h - cstorfs-ctl's commands about the store and its daemon: gc,
 * check, status, daemon start and stop, scrub. Handlers and printers of
 * their rows in main_ctl.c's table (see ctl_cmd.h for the contract).
 */
#ifndef CTL_STORE_H
#define CTL_STORE_H

#include "ctl_cmd.h"

/* gc: POST /v1/gc, what it freed. */
int ctl_gc(struct ctl *x, struct ctl_args *a);
void ctl_gc_print(const struct ctl *x, const struct ctl_args *a);
/* check: POST /v1/check; prints "OK: ..." or each problem, exit 1 and a
 * line on stderr when the store is inconsistent. Prints itself. */
int ctl_check(struct ctl *x, struct ctl_args *a);
/* status: GET /v1/status: daemon, store, health, counters, last scrub,
 * mounts. */
int ctl_status(struct ctl *x, struct ctl_args *a);
void ctl_status_print(const struct ctl *x, const struct ctl_args *a);
/* daemon start: nothing but the row's CTL_DAEMON. */
int ctl_daemon_start(struct ctl *x, struct ctl_args *a);
/* store create (ctl_storecreate.c) */
int ctl_store_create(struct ctl *x, struct ctl_args *a);
/* daemon stop: POST /v1/daemon/stop, then wait up to 30 s for the
 * process to go (exit 1 if it does not); no daemon is no error. Prints
 * itself. */
int ctl_daemon_stop(struct ctl *x, struct ctl_args *a);

/* --rate's check: a SIZE per second ("100M", "100M/s"; 0: no limit). */
int ctl_check_rate(const char *opt, const char *val, uint64_t *rate);
/*
 * scrub [VOLUME] [--rate SIZE] [--wait] [--quiet] [--cancel], scrub start,
 * scrub status [--wait], scrub stop: POST, GET or DELETE /v1/scrub; with
 * --wait poll until it ends and print the report (exit 1 when it found
 * damage, failed or was cancelled).
 */
int ctl_scrub(struct ctl *x, struct ctl_args *a);
void ctl_scrub_print(const struct ctl *x, const struct ctl_args *a);

#endif /* CTL_STORE_H */
