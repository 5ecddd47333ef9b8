/*
 * cs_client_stream.c - replication streams through the control API client
 * (cs_client_send, cs_client_receive; see cs_client.h). The bodies are
 * streamed: a send writes the stream to a descriptor as it arrives, a
 * receive uploads from a descriptor (chunked, or with Content-Length for
 * a regular file); neither holds the whole stream. An error answer is JSON
 * like any other and becomes the daemon's errno.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cs_client_int.h"

/* State of one streamed transfer. A send writes the body to fd when the
 * answer is 2xx; an error answer (JSON) is gathered in err_body. */
struct xfer {
	struct cs_client *c;
	int fd;
	int ok_status; /* 1: 2xx answer, 0: error answer, -1: not known yet */
	uint64_t done, total;
	int io_err;	  /* errno of a failed read/write on fd */
	struct membuf mb; /* error answer (send) or the answer (receive) */
	cs_client_progress_fn progress;
	void *ctx;
};

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static size_t send_header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nitems;
	static const char name[] = "X-Cstorfs-Stream-Size:";

	if (n > sizeof(name) && !strncasecmp(buf, name, sizeof(name) - 1))
		x->total = strtoull(buf + sizeof(name) - 1, NULL, 10);
	return n;
}

static size_t send_write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	long status = 0;

	if (x->ok_status < 0) {
		curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &status);
		x->ok_status = status >= 200 && status <= 299;
	}
	if (!x->ok_status)
		return csc_membuf_write(ptr, size, nmemb, &x->mb);
	x->io_err = write_all(x->fd, ptr, n);
	if (x->io_err)
		return 0;
	x->done += n;
	if (x->progress)
		x->progress(x->ctx, x->done, x->total);
	return n;
}

/* Reset the handle for a streamed request of @path with headers @hdrs;
 * *@url is its URL (the caller frees it). 0 or -ENOMEM. */
static int stream_setup(struct cs_client *c, const char *path, struct curl_slist *hdrs, char **url)
{
	c->errmsg[0] = '\0';
	if (!hdrs || asprintf(url, "http://localhost%s", path) < 0) {
		*url = NULL;
		csc_set_err(c, "out of memory");
		return -ENOMEM;
	}
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->sock);
	curl_easy_setopt(c->curl, CURLOPT_URL, *url);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, (long)CS_CLIENT_CONNECT_TIMEOUT);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	return 0;
}

/* The result of a streamed transfer that did not succeed at the HTTP
 * level, or of its error answer. */
static int stream_result(struct xfer *x, CURLcode rc, const char *what)
{
	struct cs_client *c = x->c;
	long status = 0;
	cJSON *json;
	int ret;

	if (x->io_err) {
		csc_set_err(c, "%s: %s", what, strerror(x->io_err));
		return -x->io_err;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK && x->ok_status == 1) {
		csc_set_err(c,
			    "the stream was cut after %llu bytes: the daemon failed while sending "
			    "(see its log): %s",
			    (unsigned long long)x->done, curl_easy_strerror(rc));
		return -EIO;
	}
	if (rc != CURLE_OK)
		return x->mb.overflow ? (csc_set_err(c, "answer too large"), -EPROTO)
				      : csc_curl_failure(c, rc);
	if (status >= 200 && status <= 299)
		return 0;
	json = x->mb.data ? cJSON_Parse(x->mb.data) : NULL;
	ret = csc_parse_error(c, status, json);
	cJSON_Delete(json);
	return ret;
}

int cs_client_send(struct cs_client *c, const char *path, int fd, cs_client_progress_fn progress,
		   void *ctx, uint64_t *bytes)
{
	struct xfer x = {.c = c, .fd = fd, .ok_status = -1, .progress = progress, .ctx = ctx};
	struct curl_slist *hdrs =
	    curl_slist_append(NULL, "Accept: application/octet-stream, application/json");
	char *url = NULL;
	int ret;

	if (bytes)
		*bytes = 0;
	ret = stream_setup(c, path, hdrs, &url);
	if (ret == 0) {
		curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, send_header_cb);
		curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, &x);
		curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, send_write_cb);
		curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &x);
		ret = stream_result(&x, curl_easy_perform(c->curl), "writing the stream");
	}
	if (bytes)
		*bytes = x.done;
	curl_slist_free_all(hdrs);
	free(x.mb.data);
	free(url);
	return ret;
}

static size_t recv_read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	ssize_t n;

	do
		n = read(x->fd, buf, size * nitems);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		x->io_err = errno;
		return CURL_READFUNC_ABORT;
	}
	x->done += (size_t)n;
	if (x->progress)
		x->progress(x->ctx, x->done, x->total);
	return (size_t)n;
}

/* Upload from x->fd to the request set up, and parse the answer into
 * *@out (may be NULL). */
static int recv_upload(struct xfer *x, cJSON **out)
{
	struct cs_client *c = x->c;
	cJSON *json = NULL;
	struct stat sb;
	CURLcode rc;
	int ret;

	curl_easy_setopt(c->curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, "POST");
	curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, recv_read_cb);
	curl_easy_setopt(c->curl, CURLOPT_READDATA, x);
	if (fstat(x->fd, &sb) == 0 && S_ISREG(sb.st_mode) && lseek(x->fd, 0, SEEK_CUR) == 0) {
		x->total = (uint64_t)sb.st_size;
		curl_easy_setopt(c->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)sb.st_size);
	}
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, csc_membuf_write);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &x->mb);
	rc = curl_easy_perform(c->curl);
	x->ok_status = 0; /* a failure after the upload is the daemon's, not a cut */
	ret = stream_result(x, rc, "reading the stream");
	if (ret)
		return ret;
	json = x->mb.data ? cJSON_Parse(x->mb.data) : NULL;
	if (!json) {
		csc_set_err(c, "the daemon's answer is not JSON");
		return -EPROTO;
	}
	if (out) {
		*out = json;
		json = NULL;
	}
	cJSON_Delete(json);
	return 0;
}

int cs_client_receive(struct cs_client *c, const char *path, int fd, cs_client_progress_fn progress,
		      void *ctx, cJSON **out)
{
	struct xfer x = {.c = c, .fd = fd, .ok_status = -1, .progress = progress, .ctx = ctx};
	struct curl_slist *hdrs = NULL;
	char *url = NULL;
	int ret;

	if (out)
		*out = NULL;
	hdrs = curl_slist_append(hdrs, "Expect:");
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
	ret = stream_setup(c, path, hdrs, &url);
	if (ret == 0)
		ret = recv_upload(&x, out);
	curl_slist_free_all(hdrs);
	free(x.mb.data);
	free(url);
	return ret;
}
