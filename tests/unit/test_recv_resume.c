/*
 * test_recv_resume.c - a cut receive is finished by receiving the same
 * stream again (issue 13): the receiver reads past the records it holds,
 * checking them by the chain, and goes on. Also: another stream while a
 * partial receive exists is refused naming both and changing nothing; a
 * corrupted rerun is refused and keeps the partial receive; --abort, then
 * the rerun starts from scratch; a rerun after the receive completed says
 * "received already"; the resume token still works beside the rerun.
 *
 * Streams go from a source store to a second store (so that the receiver
 * stages chunks it does not have). A received snapshot is exact when its
 * own full stream equals the source's record for record between the header
 * and the trailer (every key and value of the volume, every chunk as
 * stored, the snapshot record; only the header names another volume, and
 * the trailer's chain covers the header).
 */
#include "testutil.h"

#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define FX (*(struct tu_fx **)state)
#define R CS_ROOT_INO
#define CH ((size_t)CS_CHUNK_SIZE)
#define REC_HDR 14 /* type, zero, length, sequence */
#define REC_CHECK 8

static cs_store *dst;
static char dst_dir[PATH_MAX];

static int setup(void **state)
{
	if (tu_setup(state))
		return -1;
	tu_new_path(dst_dir, sizeof(dst_dir), "dst");
	if (mkdir(dst_dir, 0700) || cs_store_open(dst_dir, CS_STORE_CREATE, &dst)) {
		print_error("cannot create the receiving store %s: %s\n", dst_dir, cs_last_error());
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	cs_store_close(dst);
	dst = NULL;
	tu_rmrf(dst_dir);
	return tu_teardown(state);
}

/* ------------------------------------------------------------------ */
/* Streams in memory                                                  */
/* ------------------------------------------------------------------ */

struct stream {
	uint8_t *p;
	size_t len, cap;
	size_t nrec;	 /* records, the trailer included */
	size_t off[512]; /* each record's byte offset; off[nrec] = len */
};

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int stream_put(void *ctx, const void *buf, size_t len)
{
	struct stream *s = ctx;

	if (s->len + len > s->cap)
		return -ENOSPC;
	memcpy(s->p + s->len, buf, len);
	s->len += len;
	return 0;
}

/* Split @s into records (asserting the framing). */
static void stream_index(struct stream *s)
{
	size_t o = 0;

	s->nrec = 0;
	while (o < s->len) {
		TU_EXPECT(s->nrec < 511, "more than 511 records");
		s->off[s->nrec++] = o;
		o += REC_HDR + get32(s->p + o + 2) + REC_CHECK;
	}
	TU_EXPECT_EQ(o, s->len, "stream ends on a record boundary");
	s->off[s->nrec] = o;
}

/* The stream of @vol@@snap from @base (NULL: full) or @token (tracked
 * memory). */
static struct stream *send_stream(cs_store *st, const char *vol, const char *snap, const char *base,
				  const char *token)
{
	struct cs_send_opts o = {.volume = vol, .snap = snap, .base = base, .resume_token = token};
	struct stream *s = tu_calloc(sizeof(*s));
	uint64_t size;

	assert_non_null(s);
	TU_OK(cs_send_size(st, &o, &size));
	s->cap = (size_t)size;
	s->p = tu_malloc(s->cap ? s->cap : 1);
	assert_non_null(s->p);
	TU_OK(cs_send(st, &o, stream_put, s));
	TU_EXPECT_EQ(s->len, size, "stream size vs cs_send_size");
	stream_index(s);
	return s;
}

static void stream_free(struct stream *s)
{
	tu_free(s->p);
	tu_free(s);
}

/* Receive @len bytes of @p into @vol of the receiving store, fed in pieces
 * of odd sizes. Returns the first error; the message is in @msg. */
static int receive(const char *vol, const uint8_t *p, size_t len, struct cs_recv_result *res,
		   char *msg, size_t msize)
{
	struct cs_recv *r = NULL;
	size_t off = 0, step = 1000;
	int rc = cs_recv_begin(dst, vol, 0, &r);

	while (rc == 0 && off < len) {
		size_t n = len - off < step ? len - off : step;

		rc = cs_recv_feed(r, p + off, n);
		off += n;
		step = step * 3 % 70001 + 7;
	}
	if (rc == 0)
		rc = cs_recv_finish(r, res);
	if (msg)
		snprintf(msg, msize, "%s", rc ? cs_last_error() : "");
	cs_recv_free(r);
	return rc;
}

static void receive_ok(const char *vol, const struct stream *s, struct cs_recv_result *res)
{
	struct cs_recv_result tmp;
	char msg[1024];
	int rc = receive(vol, s->p, s->len, res ? res : &tmp, msg, sizeof(msg));

	if (rc)
		fail_msg("receive into %s\n  expected: 0\n  seen:     %s (\"%s\")", vol,
			 tu_errname(rc), msg);
}

/* The token of the partial receive into @vol, or "" when there is none. */
static void token_of(const char *vol, char *buf, size_t size)
{
	int rc = cs_recv_resume_token(dst, vol, buf, size);

	TU_EXPECT(rc == 0 || rc == -ENOENT, "cs_recv_resume_token(%s): %s", vol, tu_errname(rc));
	if (rc)
		buf[0] = 0;
}

/* Records of the partial receive into @vol: the next record of its token
 * ("1-" hex(stream id 32, next record 8, ...)). */
static uint64_t held_records(const char *vol)
{
	char tok[512];
	uint64_t n = 0;

	token_of(vol, tok, sizeof(tok));
	TU_EXPECT(strlen(tok) > 2 + 80, "a partial receive into %s", vol);
	for (int i = 0; i < 16; i++) {
		char c = tok[2 + 64 + i];

		n = n * 16 + (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	return n;
}

/* Exact: the full stream of @dvol@@snap on the receiving store equals
 * @src (the source's full stream of the snapshot) after the header. */
static void expect_exact(const struct stream *src, const char *dvol, const char *snap)
{
	struct stream *got = send_stream(dst, dvol, snap, NULL, NULL);

	TU_EXPECT_EQ(got->nrec, src->nrec, "records of the received snapshot's stream");
	TU_EXPECT_EQ(got->len - got->off[1], src->len - src->off[1],
		     "bytes after the header of the received snapshot's stream");
	for (size_t i = 1; i + 1 < src->nrec; i++) /* the trailer's chain covers the header */
		if (memcmp(got->p + got->off[i], src->p + src->off[i],
			   src->off[i + 1] - src->off[i]))
			fail_msg("%s@%s: record %zu differs from the source's", dvol, snap, i);
	stream_free(got);
}

/* 20 cut points over @s: inside the header, at its end, at record
 * boundaries, inside records (first, middle, last byte), just before and
 * inside the trailer, one byte short of the end. */
static size_t cut_points(const struct stream *s, size_t *cut)
{
	size_t n = 0, last = s->nrec - 1, mid = s->nrec / 2;

	cut[n++] = 5;
	cut[n++] = REC_HDR + 3;
	cut[n++] = s->off[1] - 1;
	cut[n++] = s->off[1];
	cut[n++] = s->off[1] + 1;
	cut[n++] = s->off[2];
	cut[n++] = s->off[2] + REC_HDR;
	cut[n++] = s->off[3] - 3;
	for (size_t k = 1; k <= 6; k++) {
		size_t i = 3 + k * (last - 4) / 7;

		cut[n++] = k % 2 ? s->off[i] : (s->off[i] + s->off[i + 1]) / 2;
	}
	cut[n++] = s->off[mid];
	cut[n++] = s->off[last - 1] + 1;
	cut[n++] = s->off[last];
	cut[n++] = s->off[last] + REC_HDR + 20;
	cut[n++] = s->len - REC_CHECK;
	cut[n++] = s->len - 1;
	return n;
}

/* Records wholly in the first @cut bytes. */
static size_t whole_records(const struct stream *s, size_t cut)
{
	size_t i = 0;

	while (i < s->nrec && s->off[i + 1] <= cut)
		i++;
	return i;
}

/* ------------------------------------------------------------------ */
/* The source                                                         */
/* ------------------------------------------------------------------ */

static void write_seeded(struct tu_fx *fx, uint64_t parent, const char *name, size_t len,
			 uint64_t seed)
{
	uint64_t ino = tu_mkfile(fx, fx->vol, parent, name);
	uint8_t *b = tu_malloc(len);

	assert_non_null(b);
	tu_fill_text(b, len, seed);
	tu_write(fx->vol, ino, 0, b, len);
	tu_free(b);
}

/* vol@s1: files of several chunks, a small one, a directory, a hard link,
 * a symlink, xattrs; vol@s2: some of it changed, deleted and added. */
static void build_source(struct tu_fx *fx)
{
	struct tu_rng rng;
	uint64_t d = tu_mkdir(fx, fx->vol, R, "dir"), small;
	char name[32];
	uint8_t raw[3000];

	tu_rng_seed(&rng, 13);
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		write_seeded(fx, i % 2 ? d : R, name, 2 * CH + 1000 * (size_t)i, 100 + (uint64_t)i);
	}
	tu_rng_fill(&rng, raw, sizeof(raw)); /* incompressible: stored raw */
	small = tu_mkfile(fx, fx->vol, R, "small");
	tu_write(fx->vol, small, 0, raw, sizeof(raw));
	TU_OK(cs_link(fx->vol, small, d, "hard", NULL));
	TU_OK(cs_symlink(fx->vol, R, "sym", "dir/hard", &fx->cred, NULL));
	TU_OK(cs_setxattr(fx->vol, small, "user.color", "blue", 4, 0));
	TU_OK(cs_snapshot_create(fx->st, "vol", "s1", NULL));
	write_seeded(fx, R, "new", 12 * CH, 200);
	TU_OK(cs_unlink(fx->vol, R, "f2", NULL));
	write_seeded(fx, d, "f1b", CH + 5, 201);
	TU_OK(cs_setxattr(fx->vol, small, "user.color", "red", 3, 0));
	TU_OK(cs_snapshot_create(fx->st, "vol", "s2", NULL));
}

/* ------------------------------------------------------------------ */
/* Tests                                                              */
/* ------------------------------------------------------------------ */

/* Cut a full stream at 20 points, each into its own volume; each time the
 * same stream again finishes the receive, reading past what the partial
 * receive holds, and the snapshot is exact. */
static void test_rerun_after_a_cut_finishes_a_full_stream(void **state)
{
	struct tu_fx *fx = FX;

	build_source(fx);
	struct stream *s = send_stream(fx->st, "vol", "s1", NULL, NULL);
	size_t cut[32], n = cut_points(s, cut);
	char vol[32], msg[1024];

	TU_EXPECT(s->nrec >= 30, "a stream of %zu records is too short for the test", s->nrec);
	for (size_t i = 0; i < n; i++) {
		struct cs_recv_result res;
		size_t held = whole_records(s, cut[i]);
		int rc;

		snprintf(vol, sizeof(vol), "c%zu", i);
		rc = receive(vol, s->p, cut[i], NULL, msg, sizeof(msg));
		TU_EXPECT_RC(rc, -EPIPE);
		if (held == 0) {
			char tok[512];

			token_of(vol, tok, sizeof(tok));
			TU_EXPECT(!tok[0], "cut at byte %zu (in the header): no partial receive",
				  cut[i]);
		} else {
			TU_EXPECT(strstr(msg, "run the same send | receive again") &&
				      strstr(msg, "--abort"),
				  "cut at %zu: the message says how to go on: %s", cut[i], msg);
			TU_EXPECT_EQ(held_records(vol), held, "records the partial receive holds");
		}
		receive_ok(vol, s, &res);
		/* read past: only the header and the records it lacked */
		TU_EXPECT_EQ(res.records, held ? 1 + s->nrec - held : s->nrec,
			     "records handled by the rerun");
		TU_EXPECT_EQ(res.bytes, s->len, "bytes of the stream");
		expect_exact(s, vol, "s1");
	}
	stream_free(s);
}

static void test_rerun_after_a_cut_finishes_an_incremental_stream(void **state)
{
	struct tu_fx *fx = FX;

	build_source(fx);
	struct stream *s1 = send_stream(fx->st, "vol", "s1", NULL, NULL);
	struct stream *inc = send_stream(fx->st, "vol", "s2", "s1", NULL);
	struct stream *s2 = send_stream(fx->st, "vol", "s2", NULL, NULL);
	/* each target gets s1 first; expect_exact compares with the full s2 */
	size_t cut[32], n = cut_points(inc, cut);
	char vol[32], msg[1024];

	TU_EXPECT(inc->nrec >= 30, "an incremental of %zu records is too short", inc->nrec);
	for (size_t i = 0; i < n; i++) {
		struct cs_recv_result res;
		size_t held = whole_records(inc, cut[i]);

		snprintf(vol, sizeof(vol), "i%zu", i);
		receive_ok(vol, s1, NULL);
		TU_EXPECT_RC(receive(vol, inc->p, cut[i], NULL, msg, sizeof(msg)), -EPIPE);
		if (held)
			TU_EXPECT_EQ(held_records(vol), held, "records the partial receive holds");
		receive_ok(vol, inc, &res);
		TU_EXPECT_EQ(res.records, held ? 1 + inc->nrec - held : inc->nrec,
			     "records handled by the rerun");
		TU_EXPECT_STR(res.snapshot, "s2", "snapshot received");
		expect_exact(s2, vol, "s2");
		expect_exact(s1, vol, "s1");
	}
	stream_free(s1);
	stream_free(inc);
	stream_free(s2);
}

/* A rerun cut again (while reading past, then after), rerun once more. */
static void test_a_rerun_cut_again_keeps_the_progress_and_a_third_run_finishes(void **state)
{
	struct tu_fx *fx = FX;
	char msg[1024];

	build_source(fx);
	struct stream *s = send_stream(fx->st, "vol", "s1", NULL, NULL);
	size_t a = s->off[s->nrec / 3] + 100, b = s->off[2 * s->nrec / 3] + 100;

	TU_EXPECT_RC(receive("v", s->p, b, NULL, msg, sizeof(msg)), -EPIPE);
	uint64_t held = held_records("v");
	/* cut while still reading past what is held: nothing changes */
	TU_EXPECT_RC(receive("v", s->p, a, NULL, msg, sizeof(msg)), -EPIPE);
	TU_EXPECT_EQ(held_records("v"), held, "records held after a rerun cut earlier");
	/* cut after it: the receive got further */
	TU_EXPECT_RC(receive("v", s->p, s->len - 100, NULL, msg, sizeof(msg)), -EPIPE);
	TU_EXPECT(held_records("v") > held, "the partial receive got further");
	receive_ok("v", s, NULL);
	expect_exact(s, "v", "s1");
	stream_free(s);
}

static struct cs_store_stats dst_stats(void)
{
	struct cs_store_stats st;

	TU_OK(cs_store_stats(dst, &st));
	return st;
}

/* Another stream while a partial receive exists: refused naming both
 * streams and the ways out; the partial receive is as it was. */
static void test_another_stream_over_a_partial_receive_is_refused_naming_both(void **state)
{
	struct tu_fx *fx = FX;
	char msg[1024], before[512], after[512];

	build_source(fx);
	struct stream *s1 = send_stream(fx->st, "vol", "s1", NULL, NULL);
	struct stream *s2 = send_stream(fx->st, "vol", "s2", NULL, NULL);
	struct stream *inc = send_stream(fx->st, "vol", "s2", "s1", NULL);

	TU_EXPECT_RC(receive("x", s1->p, s1->len / 2, NULL, msg, sizeof(msg)), -EPIPE);
	token_of("x", before, sizeof(before));
	struct cs_store_stats st0 = dst_stats();
	const struct stream *other[] = {s2, inc};
	for (int i = 0; i < 2; i++) {
		TU_EXPECT_RC(receive("x", other[i]->p, other[i]->len, NULL, msg, sizeof(msg)),
			     -EBUSY);
		TU_EXPECT(strstr(msg, "vol@s1 (full, stream ") &&
			      strstr(msg, i ? "vol@s2 (incremental from vol@s1, stream "
					    : "vol@s2 (full, stream "),
			  "the message names both streams: %s", msg);
		TU_EXPECT(strstr(msg, "cstorfs-ctl receive --abort x") &&
			      strstr(msg, "cstorfs-ctl receive --resume-token x") &&
			      strstr(msg, "rerunning its send"),
			  "the message gives the ways out: %s", msg);
		token_of("x", after, sizeof(after));
		TU_EXPECT_STR(after, before, "the partial receive after the refusal");
		struct cs_store_stats st1 = dst_stats();
		TU_EXPECT_EQ(st1.chunks, st0.chunks, "chunks after the refusal");
		TU_EXPECT_EQ(st1.volumes, st0.volumes, "volumes after the refusal");
	}
	/* and the partial receive's own stream still finishes it */
	receive_ok("x", s1, NULL);
	expect_exact(s1, "x", "s1");
	stream_free(s1);
	stream_free(s2);
	stream_free(inc);
}

/* A corrupted rerun: refused, the partial receive kept as it was (a flip
 * in the part it holds) or kept with what was good (a flip after). */
static void test_a_corrupted_rerun_is_refused_and_keeps_the_partial_receive(void **state)
{
	struct tu_fx *fx = FX;
	char msg[1024], before[512], after[512];

	build_source(fx);
	struct stream *s = send_stream(fx->st, "vol", "s1", NULL, NULL);
	size_t held = s->nrec / 2, flip[] = {s->off[0] + 20, s->off[3] + REC_HDR + 7,
					     s->off[held - 1] + 2, s->off[held + 4] + 30};

	TU_EXPECT_RC(receive("c", s->p, s->off[held] + 10, NULL, msg, sizeof(msg)), -EPIPE);
	TU_EXPECT_EQ(held_records("c"), held, "records held");
	for (size_t i = 0; i < sizeof(flip) / sizeof(flip[0]); i++) {
		token_of("c", before, sizeof(before));
		s->p[flip[i]] ^= 0x10;
		TU_EXPECT_RC(receive("c", s->p, s->len, NULL, msg, sizeof(msg)), -EBADMSG);
		s->p[flip[i]] ^= 0x10;
		TU_EXPECT(strstr(msg, "rejected at byte") && strstr(msg, "is kept") &&
			      strstr(msg, "--abort c"),
			  "flip at %zu: the message says where and that the partial receive is "
			  "kept: %s",
			  flip[i], msg);
		token_of("c", after, sizeof(after));
		if (flip[i] < s->off[held])
			TU_EXPECT_STR(after, before, "the partial receive after the refusal");
		else
			TU_EXPECT(after[0], "a partial receive is kept");
	}
	/* A record of the part held, altered with a valid checksum: the chain
	 * tells it from the one received. */
	{
		uint8_t *r = s->p + s->off[held - 2];
		uint32_t len = get32(r + 2);
		uint8_t digest[32];

		r[REC_HDR + len - 1] ^= 1;
		SHA256(r, REC_HDR + len, digest);
		memcpy(r + REC_HDR + len, digest, REC_CHECK);
		TU_EXPECT_RC(receive("c", s->p, s->len, NULL, msg, sizeof(msg)), -EBADMSG);
		TU_EXPECT(strstr(msg, "differ from the ones the partial receive holds"),
			  "an altered record is found by the chain: %s", msg);
		stream_free(s);
		s = send_stream(fx->st, "vol", "s1", NULL, NULL);
	}
	receive_ok("c", s, NULL);
	expect_exact(s, "c", "s1");
	stream_free(s);
}

/* --abort discards the partial receive: the rerun starts from nothing. */
static void test_after_abort_the_rerun_starts_from_scratch(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_recv_result res;
	char msg[1024], tok[512];

	build_source(fx);
	struct stream *s = send_stream(fx->st, "vol", "s1", NULL, NULL);
	struct cs_store_stats st0 = dst_stats();

	TU_EXPECT_RC(receive("a", s->p, s->len / 2, NULL, msg, sizeof(msg)), -EPIPE);
	TU_OK(cs_recv_abort(dst, "a"));
	token_of("a", tok, sizeof(tok));
	TU_EXPECT(!tok[0], "no partial receive after abort");
	TU_EXPECT_EQ(dst_stats().chunks, st0.chunks, "chunks after abort");
	receive_ok("a", s, &res);
	TU_EXPECT_EQ(res.records, s->nrec, "every record handled");
	expect_exact(s, "a", "s1");
	stream_free(s);
}

/* A rerun after the receive completed: refused, "received already". */
static void test_a_rerun_after_the_receive_completed_says_received_already(void **state)
{
	struct tu_fx *fx = FX;
	char msg[1024];

	build_source(fx);
	struct stream *s1 = send_stream(fx->st, "vol", "s1", NULL, NULL);
	struct stream *inc = send_stream(fx->st, "vol", "s2", "s1", NULL);

	receive_ok("d", s1, NULL);
	TU_EXPECT_RC(receive("d", s1->p, s1->len, NULL, msg, sizeof(msg)), -EEXIST);
	TU_EXPECT(strstr(msg, "received already"), "full stream again: %s", msg);
	receive_ok("d", inc, NULL);
	TU_EXPECT_RC(receive("d", inc->p, inc->len, NULL, msg, sizeof(msg)), -EEXIST);
	TU_EXPECT(strstr(msg, "received already"), "incremental again: %s", msg);
	/* a full stream of another snapshot into an existing volume: as before */
	struct stream *s2 = send_stream(fx->st, "vol", "s2", NULL, NULL);
	TU_EXPECT_RC(receive("e", s1->p, s1->len, NULL, msg, sizeof(msg)), 0);
	TU_EXPECT_RC(receive("e", s2->p, s2->len, NULL, msg, sizeof(msg)), -EEXIST);
	TU_EXPECT(strstr(msg, "a full stream creates a new volume"), "%s", msg);
	expect_exact(s2, "d", "s2");
	stream_free(s1);
	stream_free(s2);
	stream_free(inc);
}

/* The resume token still gives the rest only, also after a rerun was cut. */
static void test_the_resume_token_still_sends_only_the_rest(void **state)
{
	struct tu_fx *fx = FX;
	char msg[1024], tok[512];

	build_source(fx);
	struct stream *s = send_stream(fx->st, "vol", "s1", NULL, NULL);

	TU_EXPECT_RC(receive("t", s->p, s->len / 3, NULL, msg, sizeof(msg)), -EPIPE);
	TU_EXPECT_RC(receive("t", s->p, 2 * s->len / 3, NULL, msg, sizeof(msg)), -EPIPE);
	token_of("t", tok, sizeof(tok));
	struct stream *rest = send_stream(fx->st, NULL, NULL, NULL, tok);
	TU_EXPECT(rest->len < s->len / 2, "the resumed stream (%zu bytes) is the rest of %zu",
		  rest->len, s->len);
	receive_ok("t", rest, NULL);
	expect_exact(s, "t", "s1");
	stream_free(rest);
	stream_free(s);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_rerun_after_a_cut_finishes_a_full_stream),
	    T(test_rerun_after_a_cut_finishes_an_incremental_stream),
	    T(test_a_rerun_cut_again_keeps_the_progress_and_a_third_run_finishes),
	    T(test_another_stream_over_a_partial_receive_is_refused_naming_both),
	    T(test_a_corrupted_rerun_is_refused_and_keeps_the_partial_receive),
	    T(test_after_abort_the_rerun_starts_from_scratch),
	    T(test_a_rerun_after_the_receive_completed_says_received_already),
	    T(test_the_resume_token_still_sends_only_the_rest),
	};
	return cmocka_run_group_tests_name("recv_resume", tests, tu_group_setup, tu_group_teardown);
}
