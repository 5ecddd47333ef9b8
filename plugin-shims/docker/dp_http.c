/*
 * dp_http.c - HTTP transport of the Docker volume plugin (see dp_http.h).
 *
 * libmicrohttpd calls handle() several times per request: first with the
 * headers (a struct conn is made), then with pieces of the body (gathered,
 * or counted and dropped once over DP_HTTP_BODY_MAX), then once more with
 * no data, when the answer is queued. The connection's state is freed in
 * done(). Only POST is served; the endpoint is the path without its '/'.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "dp_http.h"
#include "dp_log.h"

#define CONN_TIMEOUT 300 /* idle connection timeout, seconds */
#define CONTENT_TYPE "application/vnd.docker.plugins.v1+json"

struct dp_http {
	struct MHD_Daemon *mhd;
	struct dp_driver *d;
};

struct conn {
	char *body;
	size_t len;
	int too_large;
};

static enum MHD_Result send_json(struct MHD_Connection *mc, unsigned status, const cJSON *json)
{
	char *text = json ? cJSON_PrintUnformatted(json) : NULL;
	static const char oom[] = "{\"Err\":\"out of memory\"}";
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (text)
		resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	else
		resp = MHD_create_response_from_buffer(sizeof(oom) - 1, (void *)oom,
						       MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
	ret = MHD_queue_response(mc, text ? status : 500, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_err(struct MHD_Connection *mc, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum MHD_Result send_err(struct MHD_Connection *mc, unsigned status, const char *fmt, ...)
{
	cJSON *json = cJSON_CreateObject();
	enum MHD_Result ret;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dp_info("refused a request: %s", msg);
	if (json)
		cJSON_AddStringToObject(json, "Err", msg);
	ret = send_json(mc, status, json);
	cJSON_Delete(json);
	return ret;
}

/* 1 when the JSON text holds a NUL: a raw 0 byte or a \u0000 escape
 * (which cJSON would silently cut the string at). */
static int has_nul(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\0')
			return 1;
		if (s[i] != '\\' || i + 1 >= len)
			continue;
		if (s[i + 1] == 'u' && i + 5 < len && !strncmp(s + i + 2, "0000", 4))
			return 1;
		i++; /* skip the escaped character, so "\\u0000" is text */
	}
	return 0;
}

/* 1 when @s is empty or only white space. */
static int blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!strchr(" \t\r\n", s[i]))
			return 0;
	return 1;
}

static enum MHD_Result answer(struct dp_http *h, struct MHD_Connection *mc, const char *url,
			      const char *method, struct conn *c)
{
	cJSON *req = NULL, *resp = NULL;
	enum MHD_Result ret;
	int status;

	if (strcmp(method, "POST"))
		return send_err(mc, 405, "method %.16s not allowed: the plugin API is POST only",
				method);
	if (c->too_large)
		return send_err(mc, 413, "request body larger than %u bytes refused",
				DP_HTTP_BODY_MAX);
	if (has_nul(c->body ? c->body : "", c->len))
		return send_err(mc, 400,
				"request contains a NUL character, which no name, "
				"ID or option may contain");
	if (c->len && !blank(c->body, c->len)) {
		req = cJSON_ParseWithLength(c->body, c->len);
		if (!req)
			return send_err(mc, 400, "request body is not valid JSON");
		if (!cJSON_IsObject(req)) {
			cJSON_Delete(req);
			return send_err(mc, 400, "request body must be a JSON object");
		}
	}
	status = dp_driver_call(h->d, url[0] == '/' ? url + 1 : url, req, &resp);
	ret = send_json(mc, (unsigned)status, resp);
	cJSON_Delete(resp);
	cJSON_Delete(req);
	return ret;
}

static int gather(struct conn *c, const char *data, size_t n)
{
	char *p;

	if (c->too_large || c->len + n > DP_HTTP_BODY_MAX) {
		c->too_large = 1;
		free(c->body);
		c->body = NULL;
		c->len = 0;
		return 0;
	}
	p = realloc(c->body, c->len + n + 1);
	if (!p)
		return -ENOMEM;
	c->body = p;
	memcpy(c->body + c->len, data, n);
	c->len += n;
	c->body[c->len] = '\0';
	return 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *mc, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct conn *c = *con_cls;
	size_t n;

	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return MHD_NO;
		*con_cls = c;
		return MHD_YES;
	}
	if (*upload_data_size) {
		n = *upload_data_size;
		*upload_data_size = 0;
		return gather(c, upload_data, n) ? MHD_NO : MHD_YES;
	}
	return answer(cls, mc, url, method, c);
}

static void done(void *cls, struct MHD_Connection *mc, void **con_cls,
		 enum MHD_RequestTerminationCode toe)
{
	struct conn *c = *con_cls;

	if (!c)
		return;
	free(c->body);
	free(c);
	*con_cls = NULL;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	dp_warn("http: %s", msg);
}

int dp_http_start(int listen_fd, struct dp_driver *d, struct dp_http **out)
{
	struct dp_http *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h)
		return -ENOMEM;
	h->d = d;
	h->mhd = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
	    NULL, NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, h,
	    MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)CONN_TIMEOUT, MHD_OPTION_NOTIFY_COMPLETED, done, h, MHD_OPTION_END);
	if (!h->mhd) {
		free(h);
		return -EIO;
	}
	*out = h;
	return 0;
}

void dp_http_stop(struct dp_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->mhd);
	free(h);
}
