/*
 * cs_client.h - the control API client: the one module every client of
 * cstorfsd uses (cstorfs-ctl, the cstorfs mount command, the Docker and
 * FlexVolume shims). It finds the store directory, starts the daemon when
 * none answers, sends HTTP/JSON requests over the daemon's unix socket
 * (libcurl) and turns the daemon's error objects into negative errnos with
 * the daemon's message kept. It also parses and formats sizes and checks
 * names the way the daemon does, so command lines fail early.
 *
 * It does not print anything; callers decide what to say.
 *
 * Errors: every function returning int returns 0 or a negative errno.
 * Besides the daemon's own errnos (ENOENT, EEXIST, EBUSY, EINVAL, ...):
 *   CS_CLIENT_EUNREACHABLE  the daemon cannot be reached or started
 *                           (exit code 3);
 *   -EPROTO                 the daemon's answer was not understood.
 */
#ifndef CS_CLIENT_H
#define CS_CLIENT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The daemon could not be reached or started (never an errno the daemon
 * sends). */
#define CS_CLIENT_EUNREACHABLE (-EHOSTDOWN)

/* Exit codes shared by cstorfs-ctl and cstorfs (docs/interfaces.md). */
enum cs_exit {
	CS_EXIT_OK = 0,
	CS_EXIT_FAIL = 1,
	CS_EXIT_USAGE = 2,
	CS_EXIT_DAEMON = 3,
	CS_EXIT_NOTFOUND = 4,
	CS_EXIT_EXISTS = 5,
};

/* Default request timeouts, seconds. */
#define CS_CLIENT_CONNECT_TIMEOUT 5
#define CS_CLIENT_TIMEOUT 60	   /* any request, mounts included */
#define CS_CLIENT_START_TIMEOUT 10 /* waiting for a spawned daemon */

struct cs_client;

/*
 * cs_client_store_dir - resolve the store directory: @given (a --store
 * argument) when not NULL, else $CSTORFS_STORE, else /var/lib/cstorfs for
 * root, else $HOME/.local/share/cstorfs. The result is absolute (resolved
 * with realpath when it exists, else made absolute against the current
 * directory). Returns a malloc'd string the caller frees, or NULL on
 * ENOMEM / no HOME (errno set).
 */
char *cs_client_store_dir(const char *given);

/*
 * cs_client_new - a client for the daemon of store @store_dir (absolute).
 * Does not contact the daemon. Caller owns *@out (cs_client_free).
 * Errors: -ENAMETOOLONG the socket path does not fit a sockaddr_un;
 *         -ENOMEM.
 */
int cs_client_new(const char *store_dir, struct cs_client **out);
void cs_client_free(struct cs_client *c);

/* The store directory and the socket path (owned by the client). */
const char *cs_client_store(const struct cs_client *c);
const char *cs_client_socket(const struct cs_client *c);

/* Non-zero when a daemon answers on the socket now. */
int cs_client_ping(struct cs_client *c);

/*
 * cs_client_ensure_daemon - make sure a daemon answers: when none does,
 * start `cstorfsd --store DIR --create` ($CSTORFSD, else cstorfsd beside
 * this executable, else from PATH), fully detached (its stdio is not
 * inherited), and wait up to CS_CLIENT_START_TIMEOUT seconds for the
 * socket to answer.
 * Errors: CS_CLIENT_EUNREACHABLE (message from cs_client_errmsg(), which
 * carries the daemon's own complaint such as "store in use by pid N").
 */
int cs_client_ensure_daemon(struct cs_client *c);

/*
 * cs_client_request - send @method @path (e.g. "/v1/volumes") with @body
 * (may be NULL; serialised, not taken) and wait at most @timeout_s seconds
 * (0: CS_CLIENT_TIMEOUT). On a 2xx answer returns 0 and, when @out is not
 * NULL, sets *@out to the parsed body (caller owns; cJSON_Delete). On an
 * error answer returns the daemon's -errno and keeps its message.
 * Errors: the daemon's errnos; CS_CLIENT_EUNREACHABLE (no connection);
 *         -ETIMEDOUT (no answer in time); -EPROTO (bad answer); -ENOMEM.
 */
int cs_client_request(struct cs_client *c, const char *method, const char *path, const cJSON *body,
		      long timeout_s, cJSON **out);

/* The message of the client's last failure ("" after a success); owned by
 * the client, valid until its next call. */
const char *cs_client_errmsg(const struct cs_client *c);

/* The exit code (enum cs_exit) for the result @err of a client call. */
int cs_client_exit_code(int err);

/*
 * cs_client_urlencode - percent-encode @s for a query string. Returns a
 * malloc'd string (caller frees) or NULL on ENOMEM.
 */
char *cs_client_urlencode(const char *s);

/* Check a volume name as the daemon does: 0, -EINVAL (empty, '/', ".",
 * "..") or -ENAMETOOLONG (over 255 bytes). */
int cs_client_name_check(const char *name);

/*
 * cs_parse_size - parse "1024", "10G", "512MiB", "4k", "1.5G" (suffixes K,
 * M, G, T, P, powers of 1024, case-insensitive, optional "iB"/"B").
 * Errors: -EINVAL not a size; -ERANGE over 2^64-1.
 */
int cs_parse_size(const char *s, uint64_t *out);

/* Format @n as "1.5G", "512M", "100B" (powers of 1024) into @buf. */
void cs_format_size(uint64_t n, char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Typed calls (for cstorfs-ctl, the Docker plugin, the FlexVolume     */
/* driver). Each sends one request of docs/interfaces.md; on success   */
/* *@out (when the function has one and it is not NULL) is the parsed  */
/* answer, owned by the caller (cJSON_Delete). On failure *@out is     */
/* NULL, the return is the daemon's -errno (or CS_CLIENT_EUNREACHABLE, */
/* -ETIMEDOUT, -EPROTO, -ENOMEM) and cs_client_errmsg() says why.      */
/* None of them starts the daemon: call cs_client_ensure_daemon first. */
/* These signatures are stable.                                        */
/* ------------------------------------------------------------------ */

/* GET /v1/volumes/NAME: *@out is the volume object. Errors: -ENOENT. */
int cs_client_volume_get(struct cs_client *c, const char *name, cJSON **out);

/* GET /v1/volumes: *@out is {"volumes": [volume...]}. */
int cs_client_volume_list(struct cs_client *c, cJSON **out);

/*
 * POST /v1/volumes: create volume @name; with @from ("VOL@SNAP", may be
 * NULL) an O(1) clone of that snapshot. @compression ("zstd:N" or "none")
 * may be NULL (default; a clone: the origin's); @quota 0 means none (a
 * clone: the origin's). *@out is the new volume.
 * Errors: -EEXIST; -ENOENT (@from does not exist); -EINVAL bad name,
 * compression or @from; -ENAMETOOLONG.
 */
int cs_client_volume_create(struct cs_client *c, const char *name, const char *from,
			    const char *compression, uint64_t quota, cJSON **out);

/* DELETE /v1/volumes/NAME[?force=1]. Errors: -ENOENT; -EBUSY mounted
 * (without @force) or snapshots of it have clones. */
int cs_client_volume_delete(struct cs_client *c, const char *name, int force);

/*
 * GET /v1/volumes/NAME/props: *@out is the "props" object
 * {"name": "value", ...} itself (not the wrapper). Errors: -ENOENT.
 */
int cs_client_props_get(struct cs_client *c, const char *volume, cJSON **out);

/*
 * PATCH /v1/volumes/NAME/props with @changes ({"name": "value" or null}):
 * null deletes (deleting an absent property is not an error). *@out (may
 * be NULL) is the resulting "props" object.
 * Errors: -ENOENT no volume; -EINVAL bad property name or value type;
 * -E2BIG value over 64 KiB.
 */
int cs_client_props_set(struct cs_client *c, const char *volume, const cJSON *changes, cJSON **out);

/* One property: *@value is a malloc'd copy (caller frees).
 * Errors: -ENOENT no volume or no such property. */
int cs_client_prop_get(struct cs_client *c, const char *volume, const char *prop, char **value);

/* Set one property (@value NULL deletes it). Errors as cs_client_props_set. */
int cs_client_prop_set(struct cs_client *c, const char *volume, const char *prop,
		       const char *value);

#define CS_CLIENT_MOUNT_SHARED 0x1 /* "shared": true (daemon must run as root) */
#define CS_CLIENT_MOUNT_RDONLY 0x2 /* add "ro" to the options */

/*
 * POST /v1/mounts: mount @volume ("VOL" or "VOL@SNAP": a snapshot mounts
 * read-only) at @mountpoint (absolute, existing; empty unless it is a
 * shared bind). @options: "ro,allow_other,..." or NULL. @flags:
 * CS_CLIENT_MOUNT_*. With SHARED the daemon keeps one FUSE session per
 * volume and bind-mounts it at every further mount point. Mounting a
 * shared volume again at a mount point it already has succeeds (returns
 * the existing mount) when its read-only flag matches. *@out: the mount
 * object. Errors: -ENOENT; -EBUSY (already mounted read-write, not
 * shared; or the mount point is taken by something else); -EPERM shared
 * without root; -EINVAL bad options; -ENOTEMPTY; -EIO.
 */
int cs_client_mount(struct cs_client *c, const char *volume, const char *mountpoint,
		    const char *options, unsigned flags, cJSON **out);

/*
 * DELETE /v1/mounts?mountpoint=PATH: unmount that mount point only (a
 * shared volume's other mount points stay). With @missing_ok, -ENOENT
 * (nothing mounted there) counts as success, for idempotent unmounts.
 */
int cs_client_unmount(struct cs_client *c, const char *mountpoint, int missing_ok);

/* GET /v1/mounts: *@out is {"mounts": [mount...]}; each mount is
 * {"volume", "mountpoint", "readonly", "shared", "options"}. */
int cs_client_mount_list(struct cs_client *c, cJSON **out);

/* Snapshots of @volume (oldest first): *@out is {"snapshots": [...]}. */
int cs_client_snapshot_list(struct cs_client *c, const char *volume, cJSON **out);

/* Create snapshot @snap of @volume; *@out the snapshot object.
 * Errors: -ENOENT; -EEXIST; -EINVAL. */
int cs_client_snapshot_create(struct cs_client *c, const char *volume, const char *snap,
			      cJSON **out);

/* Delete a snapshot. Errors: -ENOENT; -EBUSY clones depend on it or it is
 * mounted. */
int cs_client_snapshot_delete(struct cs_client *c, const char *volume, const char *snap);

/*
 * Scrub (POST/GET/DELETE /v1/scrub): *@out is the scrub object
 * {"state", "phase", "volume", "rate", "started", "finished", "elapsed_s",
 * "chunks_done", "chunks_total", "bytes_done", "bytes_total",
 * "bytes_per_s", "damaged", "damage": [{"chunk", "reason", "files":
 * [{"volume", "path", "inode", "live", "snapshots"}], "files_more"}],
 * "damage_more"} (docs/interfaces.md).
 */
/* Start a scrub of @volume (NULL: the whole store) reading at most @rate
 * stored bytes per second (0: no limit). Errors: -EBUSY a scrub runs;
 * -ENOENT no such volume; -EINVAL bad name. */
int cs_client_scrub_start(struct cs_client *c, const char *volume, uint64_t rate, cJSON **out);
/* The running or last scrub ({"state": "none"} when none ran). */
int cs_client_scrub_status(struct cs_client *c, cJSON **out);
/* Cancel the running scrub; *@out (may be NULL) is its object once it
 * stopped. Errors: -ENOENT none runs. */
int cs_client_scrub_cancel(struct cs_client *c, cJSON **out);

/*
 * cs_client_split_snapshot - split "VOL@SNAP" at its last '@' into
 * malloc'd *@vol and *@snap (caller frees both). Without '@', *@snap is
 * NULL. Errors: -EINVAL empty part or bad name; -ENOMEM.
 */
int cs_client_split_snapshot(const char *spec, char **vol, char **snap);

/* ------------------------------------------------------------------ */
/* Replication streams (streamed bodies; none of them buffers the     */
/* whole stream)                                                      */
/* ------------------------------------------------------------------ */

/* Called as bytes move: @done so far, @total the expected size (0 when
 * unknown). */
typedef void (*cs_client_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/*
 * cs_client_send - GET @path (/v1/volumes/NAME/send?...) and write the
 * stream to @fd as it arrives. The expected size comes from the
 * X-Cstorfs-Stream-Size header. @progress may be NULL. *@bytes (may be
 * NULL) is what was written. No total timeout (a stream takes as long as
 * it takes; the connect timeout applies).
 * Errors: the daemon's errnos (answered before the first byte: -ENOENT,
 * -EINVAL, ...); -EIO the daemon cut the stream after it began (its log
 * says why); the errno of a failed write(2) on @fd (e.g. -EPIPE);
 * CS_CLIENT_EUNREACHABLE; -ENOMEM.
 */
int cs_client_send(struct cs_client *c, const char *path, int fd, cs_client_progress_fn progress,
		   void *ctx, uint64_t *bytes);

/*
 * cs_client_receive - POST @path (/v1/volumes/NAME/receive[?force=1])
 * with a body read from @fd until end of file (chunked upload; with
 * Content-Length when @fd is a regular file). @progress may be NULL
 * (@total is the file's size, or 0). On success *@out (may be NULL) is
 * the answer {"snapshot", "bytes", "records", "chunks_new",
 * "chunks_present"}.
 * Errors: the daemon's errnos (-EBADMSG corrupt stream, -EPIPE cut
 * stream, -EEXIST, -ESTALE, -EBUSY, -ENOENT); the errno of a failed
 * read(2) on @fd; CS_CLIENT_EUNREACHABLE; -ECONNRESET; -ENOMEM.
 */
int cs_client_receive(struct cs_client *c, const char *path, int fd, cs_client_progress_fn progress,
		      void *ctx, cJSON **out);

/* Messages of the command-line programs on stderr, each one line
 * "PROG: message". cs_cli_set_prog names PROG (once, first thing in main). */
void cs_cli_set_prog(const char *prog);
void cs_cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same with " (see PROG --help)" appended; returns CS_EXIT_USAGE. */
int cs_cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif

#endif /* CS_CLIENT_H */
