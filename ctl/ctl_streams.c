/*
 * ctl_streams.c - cstorfs-ctl's replication commands (see ctl_streams.h):
 * send writes a snapshot's stream to stdout or a file, receive applies one
 * read from stdin or a file, both through the daemon with a progress line
 * on a terminal; stream inspect reads a stream with the store library's
 * parser alone (no store, no daemon) and checks it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_store.h" /* the stream parser (stream inspect), no store */
#include "ctl_fmt.h"
#include "ctl_streams.h"

/* ------------------------------------------------------------------ */
/* send                                                               */
/* ------------------------------------------------------------------ */

int ctl_check_token(const char *opt, const char *val, uint64_t *num)
{
	return *val ? 0 : cs_cli_usage("--resume needs a TOKEN");
}

/* What the table cannot check of a send's arguments. */
static int send_check(const struct ctl_args *a)
{
	const char *token = ctl_str(a, "--resume");
	int bases = ctl_opt(a, "-i")->count + ctl_opt(a, "-I")->count;

	if (bases > 1)
		return cs_cli_usage("give one of -i and -I, once");
	if (!a->npos && !token)
		return cs_cli_usage("send needs VOLUME@SNAPSHOT");
	if (token && bases)
		return cs_cli_usage("--resume takes the base from the token: no -i/-I");
	if (a->npos && !token && !a->snap[0])
		return cs_cli_usage("'%s' is not VOLUME@SNAPSHOT", a->pos[0]);
	return 0;
}

/* Build /v1/volumes/VOL/send?... from the arguments: 0 or an exit code. */
static int send_url(const struct ctl_args *a, char **url)
{
	const char *base = ctl_opt(a, "-I")->count ? ctl_str(a, "-I") : ctl_str(a, "-i");
	const char *token = ctl_str(a, "--resume"), *snap = a->npos ? a->snap[0] : NULL;
	char *bvol = NULL, *bsnap = NULL, *q = strdup("/send");
	int rc = 0;

	*url = NULL;
	if (!q)
		return ctl_failed(NULL, -ENOMEM);
	if (base && strchr(base, '@'))
		rc = ctl_split(base, 1, &bvol, &bsnap);
	else if (base)
		rc = ctl_check_name("base snapshot name", base);
	if (rc)
		goto out;
	if ((snap && ctl_query_add(&q, "snap", snap)) ||
	    (base && ctl_query_add(&q, "base", bsnap ? bsnap : base)) ||
	    (bvol && ctl_query_add(&q, "base_volume", bvol)) ||
	    (ctl_flag(a, "-I") && ctl_query_add(&q, "intermediates", "1")) ||
	    (ctl_flag(a, "--with-data") && ctl_query_add(&q, "with_data", "1")) ||
	    (token && ctl_query_add(&q, "resume", token)) ||
	    (ctl_flag(a, "--dry-run") && ctl_query_add(&q, "dry_run", "1"))) {
		rc = ctl_failed(NULL, -ENOMEM);
		goto out;
	}
	/* A resumed stream is named by its token; the path needs some volume. */
	*url = ctl_vol_url(a->npos ? a->vol[0] : "-", q);
	if (!*url)
		rc = ctl_failed(NULL, -ENOMEM);
out:
	free(q);
	free(bvol);
	free(bsnap);
	return rc;
}

/* Write the stream of @url to stdout or -o FILE. */
static int send_stream(struct ctl *x, const struct ctl_args *a, const char *url)
{
	const char *out = ctl_str(a, "-o");
	struct ctl_progress p;
	int rc, fd = STDOUT_FILENO;

	if (out) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			cs_cli_err("%s: %s", out, strerror(errno));
			return CS_EXIT_FAIL;
		}
	}
	ctl_progress_init(&p, "sent", ctl_flag(a, "--quiet"));
	rc = cs_client_send(x->c, url, fd, p.on ? ctl_progress_cb : NULL, &p, &p.done);
	ctl_progress_end(&p, rc == 0);
	if (out && close(fd) < 0 && !rc) {
		cs_cli_err("%s: %s", out, strerror(errno));
		return CS_EXIT_FAIL;
	}
	if (rc && out && p.done == 0)
		unlink(out); /* nothing was sent: leave no empty file */
	return rc;
}

int ctl_send(struct ctl *x, struct ctl_args *a)
{
	int rc, dry_run = ctl_flag(a, "--dry-run");
	char *url = NULL;

	if ((rc = send_check(a)) || (rc = send_url(a, &url)))
		return rc;
	if (!dry_run && !ctl_str(a, "-o") && isatty(STDOUT_FILENO))
		rc = cs_cli_usage("refusing to write a stream to a terminal: redirect stdout "
				  "or use -o FILE");
	else if (!(rc = ctl_connect(x)) && dry_run)
		rc = cs_client_request(x->c, "GET", url, NULL, 0, &a->ans);
	else if (!rc)
		rc = send_stream(x, a, url);
	a->printed = !dry_run; /* the stream is the output */
	free(url);
	return rc;
}

void ctl_send_print(const struct ctl *x, const struct ctl_args *a)
{
	char b[32];

	printf("%s\n", size_str(x, jnum(a->ans, "size"), b, sizeof(b)));
}

/* ------------------------------------------------------------------ */
/* receive                                                            */
/* ------------------------------------------------------------------ */

/* Exit code for a receive error: a target that changed since the base is
 * a conflict, like an existing volume. */
static int recv_failed(struct ctl *x, int err)
{
	int rc = ctl_failed(x, err);

	return err == -ESTALE ? CS_EXIT_EXISTS : rc;
}

/* --resume-token (GET .../receive/token) or --abort (DELETE .../receive). */
static int recv_simple(struct ctl *x, struct ctl_args *a, int abort_it)
{
	char *url = ctl_vol_url(a->pos[0], abort_it ? "/receive" : "/receive/token");
	int rc;

	if (!url)
		return -ENOMEM;
	rc = cs_client_request(x->c, abort_it ? "DELETE" : "GET", url, NULL, 0, &a->ans);
	free(url);
	return rc ? recv_failed(x, rc) : 0;
}

/* Apply the stream read from stdin or -i FILE. */
static int recv_stream(struct ctl *x, struct ctl_args *a)
{
	const char *in = ctl_str(a, "-i");
	int rc, fd = STDIN_FILENO;
	struct ctl_progress p;
	char *url = NULL;

	if (in && (fd = open(in, O_RDONLY | O_CLOEXEC)) < 0) {
		cs_cli_err("%s: %s", in, strerror(errno));
		return CS_EXIT_FAIL;
	}
	url = ctl_vol_url(a->pos[0], ctl_flag(a, "--force") ? "/receive?force=1" : "/receive");
	if (!url) {
		rc = -ENOMEM;
		goto out;
	}
	ctl_progress_init(&p, "received", ctl_flag(a, "--quiet"));
	rc = cs_client_receive(x->c, url, fd, p.on ? ctl_progress_cb : NULL, &p, &a->ans);
	ctl_progress_end(&p, rc == 0);
	if (rc)
		rc = recv_failed(x, rc);
out:
	if (in)
		close(fd);
	free(url);
	return rc;
}

int ctl_receive(struct ctl *x, struct ctl_args *a)
{
	int token = ctl_flag(a, "--resume-token"), abort_it = ctl_flag(a, "--abort"), rc;
	const char *in = ctl_str(a, "-i");

	if ((token && abort_it) || ((token || abort_it) && (in || ctl_flag(a, "--force"))))
		return cs_cli_usage("--resume-token and --abort take only a VOLUME");
	if (!token && !abort_it && !in && isatty(STDIN_FILENO))
		return cs_cli_usage("refusing to read a stream from a terminal: redirect stdin "
				    "or use -i FILE");
	if ((rc = ctl_connect(x)))
		return rc;
	if (token || abort_it)
		return recv_simple(x, a, abort_it);
	return recv_stream(x, a);
}

void ctl_receive_print(const struct ctl *x, const struct ctl_args *a)
{
	const cJSON *ans = a->ans;
	char b[32];

	if (ctl_flag(a, "--abort"))
		printf("discarded the partial receive into '%s'\n", a->pos[0]);
	else if (ctl_flag(a, "--resume-token"))
		printf("%s\n", jstr(ans, "token"));
	else if (!ctl_flag(a, "--quiet"))
		printf("received '%s@%s': %s in %llu records, %llu new chunks (%llu already "
		       "here)\n",
		       a->pos[0], jstr(ans, "snapshot"),
		       size_str(x, jnum(ans, "bytes"), b, sizeof(b)),
		       (unsigned long long)jnum(ans, "records"),
		       (unsigned long long)jnum(ans, "chunks_new"),
		       (unsigned long long)jnum(ans, "chunks_present"));
}

/* ------------------------------------------------------------------ */
/* stream inspect                                                     */
/* ------------------------------------------------------------------ */

/* stream inspect: the parser of the store library, without a store. */
struct inspect {
	uint64_t count[5], bytes[5]; /* header, chunk, key, snapshot, trailer */
	uint64_t payload_bytes[5];
};

static int rec_index(int type)
{
	switch (type) {
	case CS_REC_HEADER:
		return 0;
	case CS_REC_CHUNK:
	case CS_REC_NAMED: /* a chunk by name: counted with the chunks */
		return 1;
	case CS_REC_KEY:
		return 2;
	case CS_REC_SNAPSHOT:
		return 3;
	default:
		return 4;
	}
}

/* Framing of a record on the wire (store/cs_streamfmt.h): a 14-byte head
 * (type, zero, length, sequence) and an 8-byte check. */
#define REC_OVERHEAD (14 + 8)

static int inspect_record(void *ctx, int type, uint64_t seq, uint64_t offset,
			  const uint8_t *payload, size_t len)
{
	struct inspect *in = ctx;
	int i = rec_index(type);

	in->count[i]++;
	in->bytes[i] += len + REC_OVERHEAD;
	in->payload_bytes[i] += len;
	return 0;
}

static void uuid_str(const uint8_t u[16], char *buf)
{
	static const char hex[] = "0123456789abcdef";
	int i, o = 0;

	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[o++] = '-';
		buf[o++] = hex[u[i] >> 4];
		buf[o++] = hex[u[i] & 15];
	}
	buf[o] = '\0';
}

static const char *const rec_names[5] = {"header", "chunk", "key", "snapshot", "trailer"};

/* The stream id in hex (64 digits); a receive's errors name its first 16. */
static void stream_id_hex(const struct cs_stream_header *h, char *buf, size_t size)
{
	for (size_t i = 0; i < sizeof(h->stream_id) && 2 * i + 2 < size; i++)
		snprintf(buf + 2 * i, 3, "%02x", h->stream_id[i]);
}

static cJSON *inspect_json(const struct cs_stream_header *h, const struct inspect *in,
			   uint64_t size, const char *check)
{
	cJSON *o = cJSON_CreateObject(), *hj, *rj;
	char u[40], id[65];
	int i;

	cJSON_AddNumberToObject(o, "size", (double)size);
	if (h) {
		hj = cJSON_AddObjectToObject(o, "header");
		cJSON_AddNumberToObject(hj, "version", h->version);
		stream_id_hex(h, id, sizeof(id));
		cJSON_AddStringToObject(hj, "stream_id", id);
		cJSON_AddBoolToObject(hj, "incremental", !!(h->flags & CS_STREAM_INCREMENTAL));
		cJSON_AddBoolToObject(hj, "intermediates", !!(h->flags & CS_STREAM_INTERMEDIATES));
		cJSON_AddBoolToObject(hj, "resumed", !!(h->flags & CS_STREAM_RESUMED));
		cJSON_AddNumberToObject(hj, "resume_record", (double)h->resume_seq);
		cJSON_AddNumberToObject(hj, "total_bytes", (double)h->total_bytes);
		cJSON_AddStringToObject(hj, "volume", h->volume);
		uuid_str(h->volume_uuid, u);
		cJSON_AddStringToObject(hj, "volume_uuid", u);
		cJSON_AddStringToObject(hj, "snapshot", h->snap);
		uuid_str(h->snap_uuid, u);
		cJSON_AddStringToObject(hj, "snapshot_uuid", u);
		if (h->flags & CS_STREAM_INCREMENTAL) {
			cJSON_AddStringToObject(hj, "base_volume", h->base_volume);
			cJSON_AddStringToObject(hj, "base", h->base);
			uuid_str(h->base_uuid, u);
			cJSON_AddStringToObject(hj, "base_uuid", u);
		}
		if (h->flags & CS_STREAM_NAMES) { /* chunks by name, in this pool */
			cJSON_AddStringToObject(hj, "pool", h->pool);
			cJSON_AddStringToObject(hj, "pool_fsid", h->pool_fsid);
		}
		cJSON_AddNumberToObject(hj, "compression", h->compression);
		cJSON_AddNumberToObject(hj, "quota", (double)h->quota);
	}
	rj = cJSON_AddObjectToObject(o, "records");
	for (i = 0; i < 5; i++) {
		cJSON *e = cJSON_AddObjectToObject(rj, rec_names[i]);

		cJSON_AddNumberToObject(e, "count", (double)in->count[i]);
		cJSON_AddNumberToObject(e, "bytes", (double)in->bytes[i]);
	}
	cJSON_AddBoolToObject(o, "ok", !*check);
	if (*check)
		cJSON_AddStringToObject(o, "error", check);
	return o;
}

static void inspect_print(const struct ctl *x, const struct cs_stream_header *h,
			  const struct inspect *in, uint64_t size, const char *check)
{
	char u[40], b[32], id[65];
	int i;

	printf("size:         %s\n", size_str(x, size, b, sizeof(b)));
	if (h) {
		printf("version:      %u\n", h->version);
		printf("kind:         %s%s%s\n",
		       h->flags & CS_STREAM_INCREMENTAL ? "incremental" : "full",
		       h->flags & CS_STREAM_INTERMEDIATES ? ", with intermediate snapshots" : "",
		       h->flags & CS_STREAM_RESUMED ? ", resumed" : "");
		if (h->flags & CS_STREAM_RESUMED)
			printf("resumed at:   record %llu\n", (unsigned long long)h->resume_seq);
		stream_id_hex(h, id, sizeof(id));
		printf("stream id:    %s\n", id);
		uuid_str(h->volume_uuid, u);
		printf("volume:       %s (%s)\n", h->volume, u);
		uuid_str(h->snap_uuid, u);
		printf("snapshot:     %s (%s)\n", h->snap, u);
		if (h->flags & CS_STREAM_INCREMENTAL) {
			uuid_str(h->base_uuid, u);
			printf("base:         %s@%s (%s)\n", h->base_volume, h->base, u);
		}
		if (h->flags & CS_STREAM_NAMES)
			printf("chunks:       by name, in RADOS pool %s of cluster %s\n", h->pool,
			       h->pool_fsid);
		if (h->compression > 0)
			printf("compression:  zstd:%d\n", h->compression);
		else
			printf("compression:  none\n");
		printf("quota:        %s\n",
		       h->quota ? size_str(x, h->quota, b, sizeof(b)) : "none");
		printf("stream size:  %s (from the header)\n",
		       size_str(x, h->total_bytes, b, sizeof(b)));
	} else {
		printf("header:       none read\n");
	}
	printf("\n%-10s %10s %14s\n", "RECORD", "COUNT", "BYTES");
	for (i = 0; i < 5; i++)
		printf("%-10s %10llu %14s\n", rec_names[i], (unsigned long long)in->count[i],
		       size_str(x, in->bytes[i], b, sizeof(b)));
	if (*check)
		printf("\ncheck:        bad: %s\n", check);
	else
		printf("\ncheck:        ok (every record and the trailer's chain)\n");
}

/* Feed the stream of @fd (named @name) to a parser: 0 with *@size and
 * @check ("" when the stream is good, else why not), or an exit code. */
static int inspect_read(int fd, const char *name, struct inspect *in, struct cs_sparser *sp,
			uint64_t *size, char *check, size_t len)
{
	char buf[1 << 16];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cs_cli_err("%s: %s", name, strerror(errno));
			return CS_EXIT_FAIL;
		}
		*size += (uint64_t)n;
		if (!*check && cs_sparser_feed(sp, buf, (size_t)n) < 0)
			snprintf(check, len, "%s", cs_last_error());
	}
	if (!*check && cs_sparser_end(sp) < 0)
		snprintf(check, len, "%s", cs_last_error());
	return 0;
}

int ctl_stream_inspect(struct ctl *x, struct ctl_args *a)
{
	const char *name = a->pos[0];
	struct inspect in = {0};
	struct cs_sparser *sp = NULL;
	char check[1024] = "";
	uint64_t size = 0;
	int fd, rc;

	a->printed = 1;
	fd = strcmp(name, "-") ? open(name, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (fd < 0) {
		cs_cli_err("%s: %s", name, strerror(errno));
		return CS_EXIT_FAIL;
	}
	sp = cs_sparser_new(inspect_record, &in);
	if (!sp) {
		cs_cli_err("out of memory");
		rc = CS_EXIT_FAIL;
		goto out;
	}
	if ((rc = inspect_read(fd, name, &in, sp, &size, check, sizeof(check))))
		goto out;
	if (x->json) {
		cJSON *o = inspect_json(cs_sparser_header(sp), &in, size, check);

		ctl_print_json(o);
		cJSON_Delete(o);
	} else {
		inspect_print(x, cs_sparser_header(sp), &in, size, check);
	}
	rc = *check ? CS_EXIT_FAIL : 0;
out:
	cs_sparser_free(sp);
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}
