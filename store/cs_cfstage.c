/*
 * cs_cfstage.c - the stage of the local chunk files (see cs_cfstage.h and
 * THE STAGE in cs_cfile.c): records are copied into an aligned buffer and
 * written with O_DIRECT in whole 4 KiB blocks. The last block of a write
 * is padded with zeros and written again, with what follows it, by the
 * next one; its earlier bytes are the same both times, so a torn rewrite
 * leaves them as they were. It knows nothing of records or files' state.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_cfstage.h"
#include "cs_priv.h"

#define STAGE_CAP (CF_STAGE + CS_CHUNK_VALUE_MAX + 64 + 2 * CF_ALIGN)

int cf_stage_init(struct cf_stage *s)
{
	memset(s, 0, sizeof(*s));
	s->fd = s->dfd = -1;
	if (posix_memalign((void **)&s->buf, CF_ALIGN, STAGE_CAP)) {
		s->buf = NULL;
		return -ENOMEM;
	}
	return 0;
}

void cf_stage_fini(struct cf_stage *s)
{
	free(s->buf);
	s->buf = NULL;
}

int cf_stage_flush(struct cf_stage *s)
{
	size_t len = s->len, keep = s->len % CF_ALIGN;
	ssize_t n = -1;

	if (s->fd < 0 || !s->dirty)
		return 0;
	if (!s->buffered && s->dfd >= 0) {
		size_t wlen = (len + CF_ALIGN - 1) / CF_ALIGN * CF_ALIGN;

		memset(s->buf + len, 0, wlen - len);
		n = pwrite(s->dfd, s->buf, wlen, (off_t)s->start);
		if (n < 0 && errno == EINVAL) /* refused after all: go on without it */
			s->buffered = 1;
		else
			n = n == (ssize_t)wlen ? (ssize_t)len : n < 0 ? -1 : 0;
	} else {
		s->buffered = 1;
	}
	if (s->buffered)
		n = pwrite(s->fd, s->buf, len, (off_t)s->start);
	if (n != (ssize_t)len)
		return cs_fail(n < 0 ? -errno : -EIO, "chunk files: writing %08x.ck: %s", s->id,
			       n < 0 ? strerror(errno) : "short write");
	memmove(s->buf, s->buf + (len - keep), keep);
	s->start += len - keep;
	s->len = keep;
	s->dirty = 0;
	return 0;
}

int cf_stage_full(const struct cf_stage *s, size_t len)
{
	return s->len + len > CF_STAGE;
}

int cf_stage_at(const struct cf_stage *s, int fd, uint64_t off)
{
	return s->fd == fd && s->start + s->len == off;
}

void cf_stage_move(struct cf_stage *s, uint32_t id, int fd, int dfd, uint64_t off)
{
	s->id = id;
	s->fd = fd;
	s->dfd = dfd;
	s->start = off / CF_ALIGN * CF_ALIGN;
	s->len = off - s->start;
	s->dirty = 0;
	if (s->len && pread(fd, s->buf, s->len, (off_t)s->start) != (ssize_t)s->len)
		memset(s->buf, 0, s->len); /* past the end: never named (recovery cut it) */
}

void cf_stage_append(struct cf_stage *s, const void *a, size_t alen, const void *b, size_t blen)
{
	memcpy(s->buf + s->len, a, alen);
	memcpy(s->buf + s->len + alen, b, blen);
	s->len += alen + blen;
	s->dirty = 1;
}
