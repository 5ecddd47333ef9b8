/*
 * cs_cfstage.h - the stage of the local chunk files (cs_cfstage.c): an
 * aligned buffer holding the newest bytes of one file, written out with
 * O_DIRECT in whole blocks. Private to cs_cfile.c, which locks it (one
 * writer at a time) and keeps the file open while the stage names it.
 */
#ifndef CS_CFSTAGE_H
#define CS_CFSTAGE_H

#include <stddef.h>
#include <stdint.h>

#define CF_ALIGN 4096u      /* direct writes: offsets, lengths, buffer */
#define CF_STAGE (4u << 20) /* staged bytes that make a write */

struct cf_stage {
	uint8_t *buf;   /* CF_STAGE + one record + alignment, CF_ALIGN-aligned */
	int fd, dfd;    /* the file it belongs to, plainly and O_DIRECT (-1: none) */
	uint32_t id;    /* that file's number (for messages) */
	uint64_t start; /* the file offset of buf[0] (aligned) */
	size_t len;     /* bytes in it */
	int dirty;      /* bytes in it not written yet */
	int buffered;   /* O_DIRECT was refused here: plain pwrite from now on */
};

/* 0 or -ENOMEM. */
int cf_stage_init(struct cf_stage *s);
void cf_stage_fini(struct cf_stage *s);
/* Write out what is staged: whole blocks (the last one padded with zeros),
 * or plain bytes when buffered; then keep only the last partial block. 0,
 * or -errno with a message (the stage is kept for the next try). */
int cf_stage_flush(struct cf_stage *s);
/* Would @len more bytes pass CF_STAGE? */
int cf_stage_full(const struct cf_stage *s, size_t len);
/* Does the stage end at @off of file @fd? */
int cf_stage_at(const struct cf_stage *s, int fd, uint64_t off);
/* Point the (written out) stage at offset @off of file @id (@fd; @dfd the
 * same opened O_DIRECT, or -1): the bytes of @off's block before it are
 * read in, to be written again with what follows. */
void cf_stage_move(struct cf_stage *s, uint32_t id, int fd, int dfd, uint64_t off);
/* Append @a (@alen bytes) and @b (@blen) (room checked by cf_stage_full). */
void cf_stage_append(struct cf_stage *s, const void *a, size_t alen, const void *b, size_t blen);

#endif
