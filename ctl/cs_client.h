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

#ifdef __cplusplus
}
#endif

#endif /* CS_CLIENT_H */
