/*
 * cs_api_streams.c - replication streams over the control API (see
 * cs_api_streams.h).
 *
 * Send. cs_send pushes bytes through a write function; MHD pulls them
 * through a content reader. A producer thread runs cs_send into a bounded
 * ring (struct send_job); the reader, run by the connection's own thread
 * (MHD_USE_THREAD_PER_CONNECTION, so it may block), takes them out. The
 * handler waits for the first byte (or the end) before answering, so an
 * error before any byte is an ordinary JSON error; an error later cuts the
 * response (the client sees a short transfer and says so).
 *
 * Lock order: job->lock is a leaf. The job is freed by MHD's free callback
 * (or by the handler when no response was made): it cancels the producer
 * (its next write fails with -ECANCELED), joins it and frees.
 *
 * Receive. The body is not gathered: when the headers arrive the receive
 * starts (cs_recv_begin), each piece of the body is fed to it as it
 * arrives, and the answer finishes it. The first error is kept (the handle
 * is freed at once, so a retry is not refused as "running"); the rest of
 * the body is read and dropped, and the error is the answer. A connection
 * that goes away mid-body is a cut stream: the request's end finishes the
 * receive (cs_recv_finish keeps what arrived for a resume, -EPIPE) and
 * frees the handle.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_api_streams.h"
#include "cs_log.h"
#include "cs_thread.h"

/* ------------------------------------------------------------------ */
/* Send                                                               */
/* ------------------------------------------------------------------ */

#define CS_SEND_RING (1024u * 1024u)

struct send_job {
	cs_store *st;
	char volume[CS_NAME_MAX + 1], snap[CS_NAME_MAX + 1];
	char base_volume[CS_NAME_MAX + 1], base[CS_NAME_MAX + 1];
	char *token;
	struct cs_send_opts o;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* data, room, end or cancel */
	uint8_t *ring;
	size_t head, len;  /* ring[head .. head+len) (mod CS_SEND_RING) */
	uint64_t produced; /* bytes written by cs_send so far */
	int done, err, cancelled;
	char msg[1024]; /* cs_last_error() of the producer on failure */
	pthread_t thread;
	int started;
};

static int send_job_write(void *ctx, const void *buf, size_t len)
{
	struct send_job *j = ctx;
	const uint8_t *p = buf;

	pthread_mutex_lock(&j->lock);
	while (len) {
		size_t tail, n;

		while (j->len == CS_SEND_RING && !j->cancelled)
			pthread_cond_wait(&j->cond, &j->lock);
		if (j->cancelled) {
			pthread_mutex_unlock(&j->lock);
			return -ECANCELED;
		}
		tail = (j->head + j->len) % CS_SEND_RING;
		n = CS_SEND_RING - j->len;
		if (n > CS_SEND_RING - tail)
			n = CS_SEND_RING - tail;
		if (n > len)
			n = len;
		memcpy(j->ring + tail, p, n);
		j->len += n;
		j->produced += n;
		p += n;
		len -= n;
		pthread_cond_broadcast(&j->cond);
	}
	pthread_mutex_unlock(&j->lock);
	return 0;
}

static void *send_job_main(void *arg)
{
	struct send_job *j = arg;
	int err = cs_send(j->st, &j->o, send_job_write, j);

	pthread_mutex_lock(&j->lock);
	j->done = 1;
	j->err = err;
	if (err)
		snprintf(j->msg, sizeof(j->msg), "%s",
			 cs_last_error()[0] ? cs_last_error() : strerror(-err));
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
	if (err && err != -ECANCELED)
		cs_warn("send %s@%s failed after %llu bytes: %s", j->volume, j->snap,
			(unsigned long long)j->produced, j->msg);
	return NULL;
}

static void send_job_free(void *cls)
{
	struct send_job *j = cls;

	if (!j)
		return;
	if (j->started)
		cs_thread_stop(j->thread, &j->lock, &j->cond, &j->cancelled);
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->lock);
	free(j->ring);
	free(j->token);
	free(j);
}

/* MHD's content reader: blocks until bytes, the end or an error. */
static ssize_t send_job_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct send_job *j = cls;
	ssize_t ret;
	size_t n;

	pthread_mutex_lock(&j->lock);
	while (j->len == 0 && !j->done)
		pthread_cond_wait(&j->cond, &j->lock);
	if (j->len) {
		n = j->len < max ? j->len : max;
		if (n > CS_SEND_RING - j->head)
			n = CS_SEND_RING - j->head;
		memcpy(buf, j->ring + j->head, n);
		j->head = (j->head + n) % CS_SEND_RING;
		j->len -= n;
		pthread_cond_broadcast(&j->cond);
		ret = (ssize_t)n;
	} else {
		ret = j->err ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
	}
	pthread_mutex_unlock(&j->lock);
	return ret;
}

/* Copy an optional query argument @key into @buf (a name), "" when absent. */
static int query_name(struct cs_http_reply *r, const struct cs_http_req *q, const char *key,
		      const char *what, char *buf, int required)
{
	const char *v = cs_http_query(q, key);

	buf[0] = '\0';
	if (!v || !*v)
		return required ? cs_http_fail(r, EINVAL, "query parameter '%s' is required", key)
				: 0;
	if (cs_http_name(r, what, v))
		return -EINVAL;
	snprintf(buf, CS_NAME_MAX + 1, "%s", v);
	return 0;
}

/* Read the names of the query string into @j and point its options at
 * them. */
static int send_job_opts(struct cs_http_reply *r, const struct cs_http_req *q, struct send_job *j)
{
	const char *tok = cs_http_query(q, "resume");
	int err;

	if ((err = query_name(r, q, "snap", "snapshot name", j->snap, !tok || !*tok)) ||
	    (err = query_name(r, q, "base", "base snapshot name", j->base, 0)) ||
	    (err = query_name(r, q, "base_volume", "base volume name", j->base_volume, 0)))
		return err;
	if (j->base_volume[0] && !j->base[0])
		return cs_http_fail(r, EINVAL, "base_volume needs base");
	if (tok && *tok && !(j->token = strdup(tok)))
		return cs_http_fail(r, ENOMEM, "out of memory");
	j->o.volume = j->volume;
	j->o.snap = j->snap;
	j->o.base = j->base[0] ? j->base : NULL;
	j->o.base_volume = j->base[0] ? (j->base_volume[0] ? j->base_volume : j->volume) : NULL;
	j->o.flags = cs_http_query_flag(q, "intermediates") ? CS_SEND_INTERMEDIATES : 0;
	if (cs_http_query_flag(q, "with_data")) /* chunk bytes even on a shared pool */
		j->o.flags |= CS_SEND_WITH_DATA;
	j->o.resume_token = j->token;
	return 0;
}

/* A new job for the send of @q's volume, from the query string. */
static int send_job_new(struct cs_api *api, const struct cs_http_req *q, struct cs_http_reply *r,
			struct send_job **out)
{
	const char *vol = q->arg[0];
	struct send_job *j;
	int err;

	*out = NULL;
	if ((err = cs_http_name(r, "volume name", vol)))
		return err;
	j = calloc(1, sizeof(*j));
	if (!j)
		return cs_http_fail(r, ENOMEM, "out of memory");
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->cond, NULL);
	j->st = api->st;
	snprintf(j->volume, sizeof(j->volume), "%s", vol);
	if ((err = send_job_opts(r, q, j))) {
		send_job_free(j);
		return err;
	}
	*out = j;
	return 0;
}

static int count_write(void *ctx, const void *buf, size_t len)
{
	*(uint64_t *)ctx += len;
	return 0;
}

/* The exact size of the stream: from metadata, except a resumed stream,
 * which cs_send_size does not describe: that one is produced and counted. */
static int send_size(struct send_job *j, uint64_t *size)
{
	*size = 0;
	if (!j->token)
		return cs_send_size(j->st, &j->o, size);
	return cs_send(j->st, &j->o, count_write, size);
}

static int send_fail(struct cs_http_reply *r, int err, const struct send_job *j, const char *msg)
{
	if (msg && *msg)
		return cs_http_fail(r, err, "%s", msg);
	if (err == -ENOENT)
		return cs_http_fail(r, err, "volume '%s' or its snapshot '%s' does not exist",
				    j->volume, j->snap);
	return cs_http_fail(r, err, "send %s@%s: %s", j->volume, j->snap, strerror(-err));
}

/* Start the producer and wait for its first byte or its end: an error
 * before any byte is answered as JSON. */
static int send_job_run(struct send_job *j, struct cs_http_reply *r)
{
	int err;

	j->ring = malloc(CS_SEND_RING);
	if (!j->ring)
		return cs_http_fail(r, ENOMEM, "out of memory");
	err = pthread_create(&j->thread, NULL, send_job_main, j);
	if (err)
		return cs_http_fail(r, err, "cannot start the send: %s", strerror(err));
	j->started = 1;
	pthread_mutex_lock(&j->lock);
	while (j->len == 0 && !j->done)
		pthread_cond_wait(&j->cond, &j->lock);
	err = j->produced == 0 && j->done ? j->err : 0;
	pthread_mutex_unlock(&j->lock);
	if (err)
		return send_fail(r, err, j, j->msg);
	return 0;
}

/* Answer with the stream of a running job (taken over on success). */
static int send_answer(struct send_job *j, uint64_t size, struct cs_http_reply *r)
{
	struct MHD_Response *resp;
	char sz[32];

	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, send_job_read, j,
						 send_job_free);
	if (!resp)
		return cs_http_fail(r, ENOMEM, "out of memory");
	MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
	MHD_add_response_header(resp, "X-Cstorfs-Stream-Size", sz);
	r->status = 200;
	r->stream = resp;
	return 0;
}

int cs_api_send(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	struct send_job *j = NULL;
	uint64_t size = 0;
	cJSON *o;
	int err;

	if ((err = send_job_new(api, q, r, &j)))
		return err;
	err = send_size(j, &size);
	if (err) {
		send_fail(r, err, j, cs_last_error());
		goto out;
	}
	if (cs_http_query_flag(q, "dry_run")) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "size", (double)size);
		cs_http_ok(r, 200, o);
		goto out;
	}
	if ((err = send_job_run(j, r)) || (err = send_answer(j, size, r)))
		goto out;
	j = NULL; /* the response owns it now */
	cs_info("sending %s (%llu bytes)", q->arg[0], (unsigned long long)size);
out:
	send_job_free(j);
	return err;
}

/* ------------------------------------------------------------------ */
/* Receive                                                            */
/* ------------------------------------------------------------------ */

struct recv_req {
	char volume[CS_NAME_MAX + 1];
	struct cs_recv *h;
	int err;
	char msg[1024];
};

static void recv_req_fail(struct recv_req *rr, int err, const char *msg)
{
	rr->err = err;
	snprintf(rr->msg, sizeof(rr->msg), "%s", msg && *msg ? msg : strerror(-err));
	cs_recv_free(rr->h);
	rr->h = NULL;
}

static void recv_feed(struct cs_http_req *q, const char *data, size_t len)
{
	struct recv_req *rr = q->data;
	int err;

	if (!rr->h)
		return; /* failed already: drop the rest */
	err = cs_recv_feed(rr->h, data, len);
	if (err)
		recv_req_fail(rr, err, cs_last_error());
}

/* The request ended. Before the answer (the client went away mid-body):
 * finish the receive as a cut stream, so what arrived is kept for a
 * resume. */
static void recv_end(struct cs_http_req *q, int toe)
{
	struct recv_req *rr = q->data;
	int err;

	if (rr->h) {
		err = cs_recv_finish(rr->h, NULL);
		cs_info("receive into %s: connection ended (%d) before the answer: %s", rr->volume,
			toe, err ? cs_last_error() : "the stream was complete and is applied");
		cs_recv_free(rr->h);
	}
	free(rr);
	q->data = NULL;
}

int cs_api_receive_begin(struct cs_api *api, struct cs_http_req *q)
{
	struct recv_req *rr = calloc(1, sizeof(*rr));
	const char *vol = q->arg[0];
	int err;

	if (!rr)
		return -ENOMEM;
	q->data = rr;
	q->feed = recv_feed;
	q->on_end = recv_end;
	snprintf(rr->volume, sizeof(rr->volume), "%s", vol);
	err = cs_name_check(vol);
	if (err) {
		recv_req_fail(rr, err, "invalid volume name: 1-255 bytes, no '/', not '.' or '..'");
		return 0;
	}
	err =
	    cs_recv_begin(api->st, vol, cs_http_query_flag(q, "force") ? CS_RECV_FORCE : 0, &rr->h);
	if (err)
		recv_req_fail(rr, err, cs_last_error());
	return 0;
}

#define RECV_U64(m) CS_HTTP_U64(struct cs_recv_result, m)
static const struct cs_http_u64 recv_counters[] = {RECV_U64(bytes), RECV_U64(records),
						   RECV_U64(chunks_new), RECV_U64(chunks_present)};

int cs_api_receive(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	struct recv_req *rr = q->data;
	struct cs_recv_result res = {0};
	cJSON *o;
	int err;

	if (!rr)
		return cs_http_not_allowed(r, q);
	err = rr->err;
	if (!err) {
		err = cs_recv_finish(rr->h, &res);
		if (err)
			recv_req_fail(rr, err, cs_last_error());
	}
	cs_recv_free(rr->h);
	rr->h = NULL;
	if (err) {
		err = cs_http_fail(r, err, "receive into '%s': %s", rr->volume, rr->msg);
		cs_info("receive into %s refused: %s", rr->volume, rr->msg);
		return err;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "snapshot", res.snapshot);
	CS_HTTP_ADD_U64S(o, &res, recv_counters);
	cs_http_ok(r, 200, o);
	cs_info("received %s@%s (%llu bytes)", rr->volume, res.snapshot,
		(unsigned long long)res.bytes);
	return 0;
}

/* The store's answer to a call on the partial receive of @q's volume. */
static int partial_fail(struct cs_http_reply *r, int err, const char *vol)
{
	if (err == -ENOENT)
		return cs_http_fail(r, err, "no partial receive into '%s'", vol);
	return cs_http_fail_store(r, err, vol);
}

int cs_api_receive_token(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	const char *vol = q->arg[0];
	char tok[512];
	cJSON *o;
	int err;

	if ((err = cs_http_name(r, "volume name", vol)))
		return err;
	err = cs_recv_resume_token(api->st, vol, tok, sizeof(tok));
	if (err)
		return partial_fail(r, err, vol);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "token", tok);
	cs_http_ok(r, 200, o);
	return 0;
}

int cs_api_receive_abort(struct cs_api *api, struct cs_http_req *q, struct cs_http_reply *r)
{
	const char *vol = q->arg[0];
	int err;

	if ((err = cs_http_name(r, "volume name", vol)))
		return err;
	err = cs_recv_abort(api->st, vol);
	if (err)
		return partial_fail(r, err, vol);
	cs_http_ok(r, 200, NULL);
	return 0;
}
