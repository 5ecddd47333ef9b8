/*
 * ctl_streams.h - cstorfs-ctl's replication commands: send, receive,
 * stream inspect. Handlers and printers of their rows in main_ctl.c's
 * table (see ctl_cmd.h for the contract).
 */
#ifndef CTL_STREAMS_H
#define CTL_STREAMS_H

#include "ctl_cmd.h"

/* --resume's check: a token is not empty. */
int ctl_check_token(const char *opt, const char *val, uint64_t *num);

/*
 * send VOLUME@SNAP [-i|-I [BASEVOL@]BASE] [-o FILE] [--resume TOKEN]
 * [--dry-run] [--quiet]: GET /v1/volumes/VOLUME/send?..., the stream to
 * stdout (never a terminal) or FILE (removed again when nothing came);
 * --dry-run: its size only (ctl_send_print).
 */
int ctl_send(struct ctl *x, struct ctl_args *a);
void ctl_send_print(const struct ctl *x, const struct ctl_args *a);

/*
 * receive VOLUME [-i FILE] [--force] [--quiet], --resume-token VOLUME,
 * --abort VOLUME: POST /v1/volumes/VOLUME/receive with the stream from
 * stdin (never a terminal) or FILE; GET .../receive/token; DELETE
 * .../receive. A target changed since the base (ESTALE) exits with 5.
 */
int ctl_receive(struct ctl *x, struct ctl_args *a);
void ctl_receive_print(const struct ctl *x, const struct ctl_args *a);

/* stream inspect FILE ('-': stdin): the stream's header and records, and
 * whether it is whole and intact (exit 1 when not). Prints itself. */
int ctl_stream_inspect(struct ctl *x, struct ctl_args *a);

#endif /* CTL_STREAMS_H */
