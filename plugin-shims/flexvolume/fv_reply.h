/*
 * fv_reply.h - the FlexVolume driver's one answer and its log.
 *
 * kubelet reads the driver's stdout and stderr combined and parses them as
 * ONE JSON object. This module owns that channel: fv_reply_stdio() points
 * stderr at /dev/null before anything else runs (so no library can print),
 * and exactly one of fv_reply_success/_failure/_notsupported writes the
 * answer, with a single write(2). A deadline (alarm) answers Failure and
 * exits when a call takes too long, so kubelet never waits on a hung call.
 *
 * Logging goes to syslog (ident "cstorfs-flexvolume") and, when
 * $CSTORFS_FLEX_LOG names a file, also appends there (for tests and for
 * hosts without a syslog daemon). Never log option values: they may hold
 * secrets.
 */
#ifndef FV_REPLY_H
#define FV_REPLY_H

/* Exit codes: kubelet treats a non-zero exit with "Success" as an error. */
#define FV_EXIT_OK 0
#define FV_EXIT_FAIL 1

/*
 * fv_reply_stdio - make fds 0-2 valid, send stderr to /dev/null, open the
 * log. Call first thing in main. Never fails (a driver that cannot open
 * /dev/null still answers on stdout).
 */
void fv_reply_stdio(void);

/*
 * fv_reply_deadline - arm the deadline: after @seconds the driver answers
 * {"status":"Failure","message":...} naming @call and @what (an operator
 * hint, copied) and exits 1, unless an answer was written already.
 */
void fv_reply_deadline(const char *call, const char *what, unsigned seconds);

/* Write the answer and return the exit code for it. Only the first answer
 * is written; later calls write nothing and return the same code. */
int fv_reply_success(void);
int fv_reply_notsupported(const char *call);
int fv_reply_failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Write @json (a complete object, no newline) verbatim as the answer. */
int fv_reply_raw(const char *json, int exit_code);

/* Log at syslog priority @prio (LOG_ERR, LOG_INFO, ...). */
void fv_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* FV_REPLY_H */
