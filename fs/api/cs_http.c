/*
 * cs_http.c - the HTTP plumbing of the control API (see cs_http.h).
 *
 * Requests: libmicrohttpd calls handle_request() several times per
 * request: first with the headers (the peer's credentials are checked
 * then, the router's begin may take the body as a stream, and a
 * Content-Length over 1 MiB is refused at once), then with pieces of the
 * body (gathered in struct cs_http_req, at most CS_HTTP_BODY_MAX bytes, or
 * fed to the stream's consumer), then once more to answer. request_done()
 * runs the request's on_end and frees it.
 *
 * Every input is validated by the resources, once, with the helpers at the
 * end of this file: names (cs_name_check), JSON types, unknown fields.
 *
 * It does not route (cs_api.c) and holds no lock: MHD runs one thread per
 * connection, and a request's state is its own.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cs_http.h"
#include "cs_log.h"
#include "cs_store.h"

#define CS_CONN_TIMEOUT 300 /* idle connection timeout, seconds */

struct cs_http {
	struct MHD_Daemon *mhd;
	int listen_fd;
	const struct cs_http_ops *ops;
	void *ctx;
};

/* ------------------------------------------------------------------ */
/* Errors and answers                                                 */
/* ------------------------------------------------------------------ */

unsigned cs_http_status(int err)
{
	switch (err) {
	case EINVAL:
	case ENAMETOOLONG:
	case EBADMSG:
	case EPIPE:
		return 400;
	case EACCES:
	case EPERM:
		return 403;
	case ENOENT:
		return 404;
	case EEXIST:
	case EBUSY:
	case ENOTEMPTY:
	case ESTALE:
		return 409;
	case E2BIG:
		return 413;
	case EDQUOT:
	case ENOSPC:
		return 507;
	default:
		return 500;
	}
}

static cJSON *error_json(int err, const char *msg)
{
	const char *code = strerrorname_np(err);
	cJSON *root = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(root, "error");

	cJSON_AddStringToObject(e, "code", code ? code : "EIO");
	cJSON_AddNumberToObject(e, "errno", err);
	cJSON_AddStringToObject(e, "message", msg);
	return root;
}

int cs_http_fail(struct cs_http_reply *r, int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (err < 0)
		err = -err;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON_Delete(r->json);
	r->status = cs_http_status(err);
	r->json = error_json(err, msg);
	return -err;
}

int cs_http_fail_store(struct cs_http_reply *r, int err, const char *what)
{
	const char *m = cs_last_error();

	if (m && *m)
		return cs_http_fail(r, err, "%s", m);
	return cs_http_fail(r, err, "%s: %s", what, strerror(err < 0 ? -err : err));
}

int cs_http_not_allowed(struct cs_http_reply *r, const struct cs_http_req *q)
{
	cs_http_fail(r, EINVAL, "method %.16s not allowed on %.256s", q->method, q->url);
	r->status = 405;
	return -EINVAL;
}

void cs_http_ok(struct cs_http_reply *r, unsigned status, cJSON *json)
{
	cJSON_Delete(r->json);
	r->status = status;
	r->json = json ? json : cJSON_CreateObject();
}

void cs_http_time(int64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void cs_http_add_u64s(cJSON *o, const void *s, const struct cs_http_u64 *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v;

		memcpy(&v, (const char *)s + f[i].off, sizeof(v));
		cJSON_AddNumberToObject(o, f[i].name, (double)v);
	}
}

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, const cJSON *json)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text = json ? cJSON_PrintUnformatted(json) : NULL;
	char *buf = NULL;
	int n;

	n = asprintf(&buf, "%s\n", text ? text : "{}");
	free(text);
	if (n < 0)
		return MHD_NO;
	resp = MHD_create_response_from_buffer((size_t)n, buf, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, int err, unsigned status,
				  const char *msg)
{
	cJSON *j = error_json(err, msg);
	enum MHD_Result ret = send_json(conn, status, j);

	cJSON_Delete(j);
	return ret;
}

/* Send @r (a JSON object or a streamed response), logging errors. */
static enum MHD_Result send_reply(struct cs_http_req *q, struct cs_http_reply *r)
{
	enum MHD_Result ret;

	if (r->status >= 500)
		cs_err("%s %s: %s", q->method, q->url,
		       cJSON_GetObjectItem(cJSON_GetObjectItem(r->json, "error"), "message")
			   ->valuestring);
	else if (r->status >= 400)
		cs_debug("%s %s: answered %u", q->method, q->url, r->status);
	if (r->stream) {
		ret = MHD_queue_response(q->conn, r->status, r->stream);
		MHD_destroy_response(r->stream);
		cJSON_Delete(r->json);
		return ret;
	}
	ret = send_json(q->conn, r->status ? r->status : 500, r->json);
	cJSON_Delete(r->json);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Requests                                                           */
/* ------------------------------------------------------------------ */

/* Check the peer's credentials: root or the daemon's own user. */
static int peer_allowed(struct cs_http_req *q)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return 0;
	q->uid = cred.uid;
	q->gid = cred.gid;
	return cred.uid == 0 || cred.uid == geteuid();
}

/* The first call, with the headers: a new request. */
static enum MHD_Result request_begin(struct cs_http *h, struct MHD_Connection *conn,
				     const char *url, const char *method, void **con_cls)
{
	struct cs_http_req *q = calloc(1, sizeof(*q));
	const char *clen;

	if (!q)
		return MHD_NO;
	*con_cls = q;
	q->conn = conn;
	q->url = url;
	q->method = method;
	if (!peer_allowed(q)) {
		cs_warn("refused a control API request from uid %u", (unsigned)q->uid);
		return send_error(conn, EACCES, 403,
				  "permission denied: only root or the daemon's user may "
				  "use this socket");
	}
	if (h->ops->begin(h->ctx, q) < 0)
		return MHD_NO;
	if (q->feed) /* a stream: no size limit */
		return MHD_YES;
	clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (clen && strtoull(clen, NULL, 10) > CS_HTTP_BODY_MAX)
		return send_error(conn, E2BIG, 413, "request body larger than 1 MiB");
	return MHD_YES;
}

/* A piece of the body: gathered, or dropped once over the limit. */
static enum MHD_Result request_gather(struct cs_http_req *q, const char *data, size_t n)
{
	char *p;

	if (q->too_large || q->len + n > CS_HTTP_BODY_MAX) {
		q->too_large = 1;
		free(q->body);
		q->body = NULL;
		q->len = 0;
		return MHD_YES;
	}
	p = realloc(q->body, q->len + n + 1);
	if (!p)
		return MHD_NO;
	q->body = p;
	memcpy(q->body + q->len, data, n);
	q->len += n;
	q->body[q->len] = '\0';
	return MHD_YES;
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **con_cls)
{
	struct cs_http *h = cls;
	struct cs_http_req *q = *con_cls;
	struct cs_http_reply r = {0};
	size_t n = *upload_data_size;

	if (!q)
		return request_begin(h, conn, url, method, con_cls);
	if (n) {
		*upload_data_size = 0;
		if (q->feed) {
			q->feed(q, upload_data, n);
			return MHD_YES;
		}
		return request_gather(q, upload_data, n);
	}
	if (q->too_large)
		return send_error(conn, E2BIG, 413, "request body larger than 1 MiB");
	h->ops->answer(h->ctx, q, &r);
	return send_reply(q, &r);
}

static void request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct cs_http_req *q = *con_cls;

	if (!q)
		return;
	if (q->on_end)
		q->on_end(q, (int)toe);
	free(q->body);
	free(q);
	*con_cls = NULL;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	cs_warn("http: %s", msg);
}

int cs_http_start(int listen_fd, const struct cs_http_ops *ops, void *ctx, struct cs_http **out)
{
	struct cs_http *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h)
		return -ENOMEM;
	h->ops = ops;
	h->ctx = ctx;
	h->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
				      MHD_USE_ERROR_LOG,
				  0, NULL, NULL, handle_request, h, MHD_OPTION_EXTERNAL_LOGGER,
				  mhd_logger, h, MHD_OPTION_LISTEN_SOCKET, listen_fd,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CS_CONN_TIMEOUT,
				  MHD_OPTION_NOTIFY_COMPLETED, request_done, h, MHD_OPTION_END);
	if (!h->mhd) {
		free(h);
		return -EIO;
	}
	h->listen_fd = listen_fd;
	*out = h;
	return 0;
}

void cs_http_free(struct cs_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->mhd);
	close(h->listen_fd);
	free(h);
}

/* ------------------------------------------------------------------ */
/* Reading requests                                                   */
/* ------------------------------------------------------------------ */

int cs_http_fields(struct cs_http_reply *r, const cJSON *obj, const char *const *allowed)
{
	char unknown[512] = "";
	const cJSON *it;
	size_t used = 0;
	int bad = 0;

	if (!cJSON_IsObject(obj))
		return cs_http_fail(r, EINVAL, "request body must be a JSON object");
	cJSON_ArrayForEach(it, obj)
	{
		const char *const *a;
		int found = 0;

		for (a = allowed; *a; a++)
			if (it->string && !strcmp(it->string, *a))
				found = 1;
		if (found)
			continue;
		bad++;
		if (used < sizeof(unknown) - 1)
			used +=
			    (size_t)snprintf(unknown + used, sizeof(unknown) - used, "%s'%.64s'",
					     bad > 1 ? ", " : "", it->string ? it->string : "");
	}
	if (bad)
		return cs_http_fail(r, EINVAL, "unknown field%s: %s", bad > 1 ? "s" : "", unknown);
	return 0;
}

/* Non-zero when the JSON text holds a NUL byte or a \u0000 escape (cJSON
 * would cut the string there: "a\u0000b" must not become "a"). */
static int has_nul(const char *s, size_t len)
{
	size_t i, bs = 0;

	if (memchr(s, '\0', len))
		return 1;
	for (i = 0; i < len; i++) {
		if (s[i] == '\\') {
			bs++;
			continue;
		}
		if (s[i] == 'u' && (bs & 1) && i + 4 < len && !strncmp(s + i + 1, "0000", 4))
			return 1;
		bs = 0;
	}
	return 0;
}

int cs_http_body(struct cs_http_reply *r, const struct cs_http_req *q, cJSON **out)
{
	*out = NULL;
	if (!q->body || q->len == 0)
		return cs_http_fail(r, EINVAL, "request body missing (JSON object expected)");
	if (has_nul(q->body, q->len))
		return cs_http_fail(r, EINVAL, "strings must not contain NUL characters");
	*out = cJSON_ParseWithLength(q->body, q->len);
	if (!*out)
		return cs_http_fail(r, EINVAL, "malformed JSON");
	return 0;
}

int cs_http_name(struct cs_http_reply *r, const char *what, const char *name)
{
	int err = cs_name_check(name);

	if (err == -ENAMETOOLONG)
		return cs_http_fail(r, err, "%s is longer than %u bytes", what, CS_NAME_MAX);
	if (err)
		return cs_http_fail(r, err,
				    "invalid %s '%.255s': 1-255 bytes, no '/', not '.' or '..'",
				    what, name);
	return 0;
}

int cs_http_string(struct cs_http_reply *r, const cJSON *obj, const char *key, int required,
		   const char **out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	*out = NULL;
	if (!it) {
		if (required)
			return cs_http_fail(r, EINVAL, "field '%s' is required", key);
		return 0;
	}
	if (!cJSON_IsString(it))
		return cs_http_fail(r, EINVAL, "field '%s' must be a string", key);
	*out = it->valuestring;
	return 0;
}

int cs_http_bool(struct cs_http_reply *r, const cJSON *obj, const char *key, int *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	*out = 0;
	if (!it)
		return 0;
	if (!cJSON_IsBool(it))
		return cs_http_fail(r, EINVAL, "field '%s' must be true or false", key);
	*out = cJSON_IsTrue(it);
	return 0;
}

const char *cs_http_query(const struct cs_http_req *q, const char *key)
{
	return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, key);
}

int cs_http_query_flag(const struct cs_http_req *q, const char *key)
{
	const char *v = cs_http_query(q, key);

	return v && (!strcmp(v, "1") || !strcmp(v, "true"));
}
