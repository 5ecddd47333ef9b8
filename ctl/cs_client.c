/*
 * cs_client.c - the control API client (see cs_client.h): the store
 * directory, the client object and its requests.
 *
 * Requests: one libcurl easy handle per client, reset for each request,
 * talking HTTP/1.1 to http://localhost/v1/... through the daemon's unix
 * socket (CURLOPT_UNIX_SOCKET_PATH). Every request has a connect timeout
 * and a total timeout. Error answers carry {"error": {"code", "errno",
 * "message"}}; the errno becomes the return value, the message is kept.
 *
 * The other files of the client (cs_client_int.h lists them) build on
 * cs_client_request: starting the daemon, the typed calls, streams.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cs_client_int.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void csc_set_err(struct cs_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
}

double csc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* Store directory                                                    */
/* ------------------------------------------------------------------ */

static char *make_absolute(const char *p)
{
	char resolved[PATH_MAX];
	char cwd[PATH_MAX];
	char *out = NULL;

	if (realpath(p, resolved))
		return strdup(resolved);
	if (p[0] == '/')
		return strdup(p);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&out, "%s/%s", strcmp(cwd, "/") ? cwd : "", p) < 0)
		return NULL;
	return out;
}

char *cs_client_store_dir(const char *given)
{
	const char *env = getenv("CSTORFS_STORE");
	const char *home;
	char *p = NULL;
	char *abs;

	if (given && *given)
		return make_absolute(given);
	if (env && *env)
		return make_absolute(env);
	if (geteuid() == 0)
		return strdup("/var/lib/cstorfs");
	home = getenv("HOME");
	if (!home || !*home) {
		errno = ENOENT;
		return NULL;
	}
	if (asprintf(&p, "%s/.local/share/cstorfs", home) < 0)
		return NULL;
	abs = make_absolute(p);
	free(p);
	return abs;
}

/* ------------------------------------------------------------------ */
/* Client                                                             */
/* ------------------------------------------------------------------ */

int cs_client_new(const char *store_dir, struct cs_client **out)
{
	struct sockaddr_un sa;
	struct cs_client *c;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_once(&curl_once, curl_init_once);
	c->store = strdup(store_dir);
	if (!c->store || asprintf(&c->sock, "%s/%s", store_dir, CS_SOCKET_NAME) < 0) {
		c->sock = NULL;
		cs_client_free(c);
		return -ENOMEM;
	}
	if (strlen(c->sock) >= sizeof(sa.sun_path)) {
		cs_client_free(c);
		return -ENAMETOOLONG;
	}
	c->curl = curl_easy_init();
	if (!c->curl) {
		cs_client_free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void cs_client_free(struct cs_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->store);
	free(c->sock);
	free(c);
}

const char *cs_client_store(const struct cs_client *c)
{
	return c->store;
}

const char *cs_client_socket(const struct cs_client *c)
{
	return c->sock;
}

const char *cs_client_errmsg(const struct cs_client *c)
{
	return c->errmsg;
}

/* ------------------------------------------------------------------ */
/* Requests                                                           */
/* ------------------------------------------------------------------ */

size_t csc_membuf_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct membuf *mb = ud;
	size_t n = size * nmemb;
	char *p;

	if (mb->len + n > CS_RESPONSE_MAX) {
		mb->overflow = 1;
		return 0;
	}
	p = realloc(mb->data, mb->len + n + 1);
	if (!p)
		return 0;
	mb->data = p;
	memcpy(mb->data + mb->len, ptr, n);
	mb->len += n;
	mb->data[mb->len] = '\0';
	return n;
}

/* Map an error answer onto a negative errno and keep its message. */
int csc_parse_error(struct cs_client *c, long status, cJSON *json)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(json, "error");
	const cJSON *num = cJSON_GetObjectItemCaseSensitive(e, "errno");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
	int err = 0;

	if (cJSON_IsNumber(num) && num->valuedouble > 0 && num->valuedouble < 4096)
		err = (int)num->valuedouble;
	if (err == 0) {
		switch (status) {
		case 400:
			err = EINVAL;
			break;
		case 403:
			err = EACCES;
			break;
		case 404:
			err = ENOENT;
			break;
		case 409:
			err = EBUSY;
			break;
		case 413:
			err = E2BIG;
			break;
		case 507:
			err = ENOSPC;
			break;
		default:
			err = EIO;
			break;
		}
	}
	if (cJSON_IsString(msg) && msg->valuestring[0])
		csc_set_err(c, "%s", msg->valuestring);
	else
		csc_set_err(c, "daemon answered HTTP %ld: %s", status, strerror(err));
	/* Never let a daemon errno collide with our private marker. */
	if (-err == CS_CLIENT_EUNREACHABLE)
		err = EIO;
	return -err;
}

int csc_curl_failure(struct cs_client *c, CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		csc_set_err(c, "cannot reach the daemon at %s", c->sock);
		return CS_CLIENT_EUNREACHABLE;
	case CURLE_OPERATION_TIMEDOUT:
		csc_set_err(c, "the daemon did not answer in time (%s)", c->sock);
		return -ETIMEDOUT;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		csc_set_err(c, "the daemon closed the connection (%s)", curl_easy_strerror(rc));
		return -ECONNRESET;
	default:
		csc_set_err(c, "request failed: %s", curl_easy_strerror(rc));
		return -EIO;
	}
}

int cs_client_request(struct cs_client *c, const char *method, const char *path, const cJSON *body,
		      long timeout_s, cJSON **out)
{
	struct curl_slist *hdrs = NULL;
	struct membuf mb = {0};
	char *url = NULL, *text = NULL;
	cJSON *json = NULL;
	long status = 0;
	CURLcode rc;
	int ret;

	if (out)
		*out = NULL;
	c->errmsg[0] = '\0';
	if (asprintf(&url, "http://localhost%s", path) < 0) {
		url = NULL;
		ret = -ENOMEM;
		goto out;
	}
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->sock);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, (long)CS_CLIENT_CONNECT_TIMEOUT);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT,
			 timeout_s > 0 ? timeout_s : (long)CS_CLIENT_TIMEOUT);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, csc_membuf_write);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &mb);
	hdrs = curl_slist_append(hdrs, "Expect:");
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (body) {
		text = cJSON_PrintUnformatted(body);
		if (!text) {
			ret = -ENOMEM;
			goto out;
		}
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
	}
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);

	rc = curl_easy_perform(c->curl);
	if (rc != CURLE_OK) {
		ret = mb.overflow ? (csc_set_err(c, "answer too large"), -EPROTO)
				  : csc_curl_failure(c, rc);
		goto out;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	json = mb.data ? cJSON_Parse(mb.data) : NULL;
	if (status < 200 || status > 299) {
		ret = csc_parse_error(c, status, json);
		goto out;
	}
	if (!json) {
		csc_set_err(c, "the daemon's answer is not JSON (HTTP %ld)", status);
		ret = -EPROTO;
		goto out;
	}
	if (out) {
		*out = json;
		json = NULL;
	}
	ret = 0;
out:
	cJSON_Delete(json);
	curl_slist_free_all(hdrs);
	free(mb.data);
	free(text);
	free(url);
	return ret;
}

int cs_client_ping(struct cs_client *c)
{
	cJSON *st = NULL;
	int r;

	if (access(c->sock, F_OK) != 0)
		return 0;
	r = cs_client_request(c, "GET", "/v1/status", NULL, 5, &st);
	cJSON_Delete(st);
	/* Any well-formed answer means someone is serving; a 403 too. */
	return r == 0 || r == -EACCES;
}
