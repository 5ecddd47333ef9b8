/*
 * ctl_push.h - cstorfs-ctl's pushed copies (issue 15 item 4): push, pushed,
 * pull. Handlers and printers of their rows in main_ctl.c's table (see
 * ctl_cmd.h for the contract); the work is the daemon's (/v1/push,
 * /v1/pushed, /v1/pull).
 */
#ifndef CTL_PUSH_H
#define CTL_PUSH_H

#include "ctl_cmd.h"

/* --as and --delete's check: a valid name for a pushed copy. */
int ctl_check_pushname(const char *opt, const char *val, uint64_t *num);

/* push VOLUME@SNAP [--as NAME] [--from SNAP]: POST /v1/push. */
int ctl_push(struct ctl *x, struct ctl_args *a);
void ctl_push_print(const struct ctl *x, const struct ctl_args *a);

/* pushed [--delete NAME]: GET /v1/pushed, or DELETE /v1/pushed?name=. */
int ctl_pushed(struct ctl *x, struct ctl_args *a);
void ctl_pushed_print(const struct ctl *x, const struct ctl_args *a);

/* pull NAME [VOLUME]: POST /v1/pull. */
int ctl_pull(struct ctl *x, struct ctl_args *a);
void ctl_pull_print(const struct ctl *x, const struct ctl_args *a);

#endif /* CTL_PUSH_H */
