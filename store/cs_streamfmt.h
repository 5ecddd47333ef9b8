/*
 * cs_streamfmt.h - replication stream records: encoding (for cs_send) and
 * the internal parts of parsing shared with cs_recv. Private to store/.
 *
 * A record on the wire:
 *   u8 type | u8 zero | u32 payload length | u64 sequence | payload |
 *   8 bytes: the first 8 bytes of SHA-256 over everything before them
 * Lengths and numbers are big-endian. The header is record 0. The trailer's
 * payload holds the chain: c(0) = 32 zero bytes, c(i+1) = SHA-256(c(i) ||
 * SHA-256(record i)) over every record before the trailer, then the number
 * of those records and the trailer's byte offset.
 */
#ifndef CS_STREAMFMT_H
#define CS_STREAMFMT_H

#include <stdint.h>
#include <stddef.h>

#include "cs_priv.h"

#define CS_STREAM_MAGIC "CSSTREAM"
#define CS_STREAM_VERSION 1
#define CS_REC_HDR 14         /* type, zero, length, sequence */
#define CS_REC_CHECK 8
#define CS_REC_MAX_PAYLOAD (1u << 20)

/* A growing output buffer for one record. */
struct cs_obuf {
	uint8_t *p;
	size_t len, cap;
	int oom;
};

void cs_obuf_put(struct cs_obuf *b, const void *data, size_t len);
void cs_obuf_u8(struct cs_obuf *b, uint8_t v);
void cs_obuf_u16(struct cs_obuf *b, uint16_t v);
void cs_obuf_u32(struct cs_obuf *b, uint32_t v);
void cs_obuf_u64(struct cs_obuf *b, uint64_t v);
void cs_obuf_str(struct cs_obuf *b, const char *s); /* u16 length + bytes */

/* Reading a payload: every get fails (returns -1) past the end. */
struct cs_ibuf {
	const uint8_t *p;
	size_t len, pos;
};

int cs_ibuf_get(struct cs_ibuf *b, void *out, size_t len);
int cs_ibuf_u8(struct cs_ibuf *b, uint8_t *v);
int cs_ibuf_u16(struct cs_ibuf *b, uint16_t *v);
int cs_ibuf_u32(struct cs_ibuf *b, uint32_t *v);
int cs_ibuf_u64(struct cs_ibuf *b, uint64_t *v);
int cs_ibuf_str(struct cs_ibuf *b, char *out, size_t size); /* NUL-free, < size */

/* Header payload encoding / decoding (decoding validates every field). */
void cs_header_encode(struct cs_obuf *b, const struct cs_stream_header *h);
int cs_header_decode(struct cs_stream_header *h, const uint8_t *p, size_t len);

/* The writer side: frames records and keeps the chain. */
struct cs_swriter {
	cs_write_fn fn;
	void *ctx;
	uint64_t seq, offset;  /* next record, bytes produced (original stream) */
	uint64_t skip_below;   /* resumed: records before this are not emitted */
	uint8_t chain[32];
	int count_only;        /* only count bytes (send --dry-run) */
	struct cs_obuf rec;
};

/* Frame and emit one record (type, payload); chains it unless @unchained. */
int cs_swriter_record(struct cs_swriter *w, int type, const void *payload, size_t len,
                      int unchained);
/* Emit the trailer (chain, count, offset). */
int cs_swriter_trailer(struct cs_swriter *w);

/* Decode a snapshot record's payload: 0 or -1. */
int cs_stream_snap_decode(struct cs_snaprec *s, const uint8_t *p, size_t len);

/*
 * cs_sparser_resume - before the first byte: the stream continues a partial
 * receive that holds records 0 .. @next_seq - 1 (@next_seq > 0), @offset
 * bytes, with chain @chain. The stream is then either
 *  - the resumed stream (`send --resume`): a "resumed" header carrying
 *    @next_seq, then records @next_seq on; or
 *  - the whole stream again (a plain rerun): records before @next_seq are
 *    checked (checksum, sequence) and chained but not passed to the record
 *    function; at @next_seq the chain and the byte offset must equal @chain
 *    and @offset (they are the records received before), and the records
 *    from there on are passed on as usual. A stream that differs there, or
 *    ends before, is rejected (-EBADMSG).
 * Either way the record function sees the header first, before it is
 * checked against @next_seq, so that the caller can refuse another stream
 * (another stream id) with its own error.
 */
void cs_sparser_resume(struct cs_sparser *p, uint64_t next_seq, uint64_t offset,
                       const uint8_t chain[32]);
/* Where the parse stands (the next record, its byte offset, the chain of
 * the records before it): what a partial receive records. While records
 * are being skipped, the position given to cs_sparser_resume. */
void cs_sparser_state(const struct cs_sparser *p, uint64_t *next_seq, uint64_t *offset,
                      uint8_t chain[32]);

/* ---- fitting a stream to its target (cs_recvcheck.c) ---- */

/* "web@monday (full, stream 0123456789abcdef)": which stream @h is. */
void cs_stream_desc(char *buf, size_t size, const struct cs_stream_header *h);
/* Does the stream @h fit the target @volume? (under st->vlock) With @fix,
 * a target changed since the base is rolled back to it (--force). */
int cs_recv_check_target(cs_store *st, const char *volume, const struct cs_stream_header *h,
                         int fix);
/* A stream of chunk names (CS_STREAM_NAMES) fits a store whose chunks are
 * in the same pool (cluster fsid and pool name); else -EXDEV, the message
 * saying to send with --with-data. 0 for a stream with chunk bytes. */
int cs_recv_check_pool(cs_store *st, const struct cs_stream_header *h);

#endif /* CS_STREAMFMT_H */
