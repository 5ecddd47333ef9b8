/*
 * cs_streamfmt.c - replication stream framing: records, checksums, the
 * chain, the header, and a parser that needs no store (used by receive,
 * by `stream inspect` and by the fuzz target). See cs_streamfmt.h for the
 * wire format. Every length and field is checked here, once: bad input is
 * -EBADMSG and a message naming the byte offset and record.
 */
#include <errno.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <zstd.h>

#include "cs_priv.h"
#include "cs_streamfmt.h"

void cs_obuf_put(struct cs_obuf *b, const void *data, size_t len)
{
	if (b->oom)
		return;
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *np;

		while (cap < b->len + len)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

void cs_obuf_u8(struct cs_obuf *b, uint8_t v)
{
	cs_obuf_put(b, &v, 1);
}

void cs_obuf_u16(struct cs_obuf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	cs_obuf_put(b, x, 2);
}

void cs_obuf_u32(struct cs_obuf *b, uint32_t v)
{
	uint8_t x[4];

	be32_put(x, v);
	cs_obuf_put(b, x, 4);
}

void cs_obuf_u64(struct cs_obuf *b, uint64_t v)
{
	uint8_t x[8];

	be64_put(x, v);
	cs_obuf_put(b, x, 8);
}

void cs_obuf_str(struct cs_obuf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	cs_obuf_u16(b, (uint16_t)n);
	cs_obuf_put(b, s, n);
}

int cs_ibuf_get(struct cs_ibuf *b, void *out, size_t len)
{
	if (len > b->len - b->pos)
		return -1;
	memcpy(out, b->p + b->pos, len);
	b->pos += len;
	return 0;
}

int cs_ibuf_u8(struct cs_ibuf *b, uint8_t *v)
{
	return cs_ibuf_get(b, v, 1);
}

int cs_ibuf_u16(struct cs_ibuf *b, uint16_t *v)
{
	uint8_t x[2];

	if (cs_ibuf_get(b, x, 2))
		return -1;
	*v = (uint16_t)((x[0] << 8) | x[1]);
	return 0;
}

int cs_ibuf_u32(struct cs_ibuf *b, uint32_t *v)
{
	uint8_t x[4];

	if (cs_ibuf_get(b, x, 4))
		return -1;
	*v = be32_get(x);
	return 0;
}

int cs_ibuf_u64(struct cs_ibuf *b, uint64_t *v)
{
	uint8_t x[8];

	if (cs_ibuf_get(b, x, 8))
		return -1;
	*v = be64_get(x);
	return 0;
}

int cs_ibuf_str(struct cs_ibuf *b, char *out, size_t size)
{
	uint16_t n;

	if (cs_ibuf_u16(b, &n) || n >= size || cs_ibuf_get(b, out, n))
		return -1;
	out[n] = 0;
	return memchr(out, 0, n) ? -1 : 0;
}

void cs_header_encode(struct cs_obuf *b, const struct cs_stream_header *h)
{
	cs_obuf_put(b, CS_STREAM_MAGIC, 8);
	cs_obuf_u32(b, h->version);
	cs_obuf_u32(b, h->flags);
	cs_obuf_put(b, h->stream_id, 32);
	cs_obuf_u64(b, h->resume_seq);
	cs_obuf_u64(b, h->total_bytes);
	cs_obuf_str(b, h->volume);
	cs_obuf_put(b, h->volume_uuid, 16);
	cs_obuf_u32(b, cs_compression_word(h->compression, h->chunk_size));
	cs_obuf_u64(b, h->quota);
	cs_obuf_str(b, h->snap);
	cs_obuf_put(b, h->snap_uuid, 16);
	cs_obuf_u64(b, (uint64_t)h->snap_ctime_ns);
	cs_obuf_str(b, h->base_volume);
	cs_obuf_str(b, h->base);
	cs_obuf_put(b, h->base_uuid, 16);
	if (h->flags & CS_STREAM_NAMES) { /* optional: where the named chunks are */
		cs_obuf_str(b, h->pool_fsid);
		cs_obuf_str(b, h->pool);
	}
}

int cs_header_decode(struct cs_stream_header *h, const uint8_t *p, size_t len)
{
	struct cs_ibuf b = { p, len, 0 };
	char magic[8];
	uint32_t comp;
	uint64_t ct;

	memset(h, 0, sizeof(*h));
	if (cs_ibuf_get(&b, magic, 8) || memcmp(magic, CS_STREAM_MAGIC, 8))
		return cs_fail(-EBADMSG, "not a cstorfs stream (bad magic)");
	if (cs_ibuf_u32(&b, &h->version) || cs_ibuf_u32(&b, &h->flags))
		goto bad;
	if (h->version != CS_STREAM_VERSION)
		return cs_fail(-EBADMSG, "stream format version %u is not supported (this build "
		               "reads %d)", h->version, CS_STREAM_VERSION);
	if (h->flags & ~(uint32_t)(CS_STREAM_INCREMENTAL | CS_STREAM_RESUMED |
	                           CS_STREAM_INTERMEDIATES | CS_STREAM_NAMES))
		return cs_fail(-EBADMSG, "stream header: unknown flags 0x%x (a newer cstorfs "
		               "wrote this stream)", h->flags & ~(uint32_t)0xf);
	if (cs_ibuf_get(&b, h->stream_id, 32) || cs_ibuf_u64(&b, &h->resume_seq) ||
	    cs_ibuf_u64(&b, &h->total_bytes) || cs_ibuf_str(&b, h->volume, sizeof(h->volume)) ||
	    cs_ibuf_get(&b, h->volume_uuid, 16) || cs_ibuf_u32(&b, &comp) ||
	    cs_ibuf_u64(&b, &h->quota) || cs_ibuf_str(&b, h->snap, sizeof(h->snap)) ||
	    cs_ibuf_get(&b, h->snap_uuid, 16) || cs_ibuf_u64(&b, &ct) ||
	    cs_ibuf_str(&b, h->base_volume, sizeof(h->base_volume)) ||
	    cs_ibuf_str(&b, h->base, sizeof(h->base)) || cs_ibuf_get(&b, h->base_uuid, 16))
		goto bad;
	if ((h->flags & CS_STREAM_NAMES) &&
	    (cs_ibuf_str(&b, h->pool_fsid, sizeof(h->pool_fsid)) || !h->pool_fsid[0] ||
	     cs_ibuf_str(&b, h->pool, sizeof(h->pool)) || !h->pool[0]))
		goto bad;
	if (b.pos != len)
		goto bad;
	h->snap_ctime_ns = (int64_t)ct;
	if (cs_compression_split(comp, &h->compression, &h->chunk_size) ||
	    cs_name_check(h->volume) || cs_name_check(h->snap))
		return cs_fail(-EBADMSG, "stream header: invalid volume, snapshot or options");
	if ((h->flags & CS_STREAM_INCREMENTAL) &&
	    (cs_name_check(h->base) || cs_name_check(h->base_volume)))
		return cs_fail(-EBADMSG, "stream header: invalid base snapshot");
	return 0;
bad:
	return cs_fail(-EBADMSG, "stream header is malformed");
}

/* ---- writer ---- */

int cs_swriter_record(struct cs_swriter *w, int type, const void *payload, size_t len,
                      int unchained)
{
	uint8_t hdr[CS_REC_HDR], digest[32], link[64];
	size_t total = CS_REC_HDR + len + CS_REC_CHECK;
	int rc = 0;

	CS_ASSERT(len <= CS_REC_MAX_PAYLOAD);
	hdr[0] = (uint8_t)type;
	hdr[1] = 0;
	be32_put(hdr + 2, (uint32_t)len);
	be64_put(hdr + 6, w->seq);
	w->rec.len = 0;
	cs_obuf_put(&w->rec, hdr, sizeof(hdr));
	cs_obuf_put(&w->rec, payload, len);
	if (w->rec.oom)
		return -ENOMEM;
	SHA256(w->rec.p, w->rec.len, digest);
	cs_obuf_put(&w->rec, digest, CS_REC_CHECK);
	if (w->rec.oom)
		return -ENOMEM;
	if (!unchained) {
		memcpy(link, w->chain, 32);
		memcpy(link + 32, digest, 32);
		SHA256(link, 64, w->chain);
	}
	if (!w->count_only && (unchained || w->seq >= w->skip_below))
		rc = w->fn(w->ctx, w->rec.p, w->rec.len);
	if (!unchained) {
		w->seq++;
		w->offset += total;
	}
	return rc;
}

int cs_swriter_trailer(struct cs_swriter *w)
{
	uint8_t t[48];

	memcpy(t, w->chain, 32);
	be64_put(t + 32, w->seq);
	be64_put(t + 40, w->offset);
	return cs_swriter_record(w, CS_REC_TRAILER, t, sizeof(t), 0);
}

/* ---- parser ---- */

struct cs_sparser {
	cs_record_fn fn;
	void *ctx;
	uint8_t *buf;      /* bytes of the record being assembled */
	size_t len, cap;
	uint64_t offset;   /* stream offset of buf[0] (original numbering) */
	uint64_t next_seq;
	uint8_t chain[32];
	int have_resume;   /* continuing a partial receive that stopped ... */
	uint64_t resume_seq, resume_offset; /* ... before this record, at this byte */
	uint8_t resume_chain[32];           /* ... with this chain */
	int skipping;      /* the whole stream again: records before resume_seq
	                      are checked and chained, not passed on */
	int state;         /* 0 header, 1 records, 2 done */
	struct cs_stream_header hdr;
};

struct cs_sparser *cs_sparser_new(cs_record_fn fn, void *ctx)
{
	struct cs_sparser *p = calloc(1, sizeof(*p));

	if (p) {
		p->fn = fn;
		p->ctx = ctx;
	}
	return p;
}

void cs_sparser_free(struct cs_sparser *p)
{
	if (!p)
		return;
	free(p->buf);
	free(p);
}

const struct cs_stream_header *cs_sparser_header(const struct cs_sparser *p)
{
	return p->state ? &p->hdr : NULL;
}

void cs_sparser_resume(struct cs_sparser *p, uint64_t next_seq, uint64_t offset,
                       const uint8_t chain[32])
{
	CS_ASSERT(p->state == 0 && p->len == 0 && next_seq > 0);
	p->resume_seq = next_seq;
	p->resume_offset = offset;
	memcpy(p->resume_chain, chain, 32);
	p->have_resume = 1;
}

void cs_sparser_state(const struct cs_sparser *p, uint64_t *next_seq, uint64_t *offset,
                      uint8_t chain[32])
{
	if (p->skipping) { /* still behind the partial receive: its position */
		*next_seq = p->resume_seq;
		*offset = p->resume_offset;
		memcpy(chain, p->resume_chain, 32);
		return;
	}
	*next_seq = p->next_seq;
	*offset = p->offset;
	memcpy(chain, p->chain, 32);
}

#define BAD(p, seq, ...) bad_at(p, seq, __VA_ARGS__)

static int __attribute__((format(printf, 3, 4)))
bad_at(struct cs_sparser *p, uint64_t seq, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return cs_fail(-EBADMSG, "stream rejected at byte %llu (record %llu): %s",
	               (unsigned long long)p->offset, (unsigned long long)seq, why);
}

/*
 * The header (record 0, or the first record of a resumed stream). Without
 * a partial receive it must be a whole stream's. Continuing one, it may be
 * either the resumed stream (a "resumed" header at the record where the
 * partial receive stopped: numbering and chain go on from there) or the
 * whole stream again (records before that point are then skipped, see
 * skip_done). In that case @fn sees the header first, before the checks
 * here, so that the receiver refuses another stream in its own words.
 * Returns 1 when @fn has seen the header, 0 when not yet, or an error.
 */
static int header_record(struct cs_sparser *p, uint64_t seq, const uint8_t *payload,
                         uint32_t len, int *resumed_hdr)
{
	int resumed, rc = cs_header_decode(&p->hdr, payload, len);

	if (rc)
		return BAD(p, seq, "%s", cs_last_error());
	resumed = !!(p->hdr.flags & CS_STREAM_RESUMED);
	if (!p->have_resume) {
		if (resumed)
			return BAD(p, seq, "a resumed stream needs a partial receive to continue "
			           "(nothing to resume)");
		if (seq != 0)
			return BAD(p, seq, "header has sequence %llu, expected 0",
			           (unsigned long long)seq);
		p->state = 1;
		return 0;
	}
	if (resumed) /* its records are numbered as in the whole stream */
		p->offset = p->resume_offset;
	p->state = 1;
	rc = p->fn ? p->fn(p->ctx, CS_REC_HEADER, seq, p->offset, payload, len) : 0;
	if (rc)
		return rc;
	if (!resumed) {
		if (seq != 0)
			return BAD(p, seq, "header has sequence %llu, expected 0",
			           (unsigned long long)seq);
		p->skipping = 1;
		return 1;
	}
	if (p->hdr.resume_seq != p->resume_seq || seq != p->resume_seq)
		return BAD(p, seq, "resumed stream starts at record %llu, expected %llu",
		           (unsigned long long)p->hdr.resume_seq,
		           (unsigned long long)p->resume_seq);
	p->next_seq = p->resume_seq;
	memcpy(p->chain, p->resume_chain, 32);
	*resumed_hdr = 1;
	return 1;
}

/* Skipping: the record before the partial receive's stopping point has
 * been read. The records so far must be the ones received before: the
 * same chain at the same byte. Then the stream goes on as a resumed one. */
static int skip_done(struct cs_sparser *p, uint64_t seq, size_t total)
{
	if (memcmp(p->chain, p->resume_chain, 32) || p->offset + total != p->resume_offset)
		return BAD(p, seq, "records 0 to %llu differ from the ones the partial receive "
		           "holds (it received another version of this stream)",
		           (unsigned long long)seq);
	p->skipping = 0;
	return 0;
}

/* One complete record is in p->buf[0..total). */
static int record(struct cs_sparser *p, size_t total)
{
	uint8_t digest[32], link[64];
	int type = p->buf[0];
	uint32_t len = be32_get(p->buf + 2);
	uint64_t seq = be64_get(p->buf + 6);
	const uint8_t *payload = p->buf + CS_REC_HDR;
	int resumed_hdr = 0, seen = 0, rc;

	SHA256(p->buf, CS_REC_HDR + len, digest);
#ifndef CS_FUZZING /* fuzz builds skip checksums so mutations reach the decoders */
	if (memcmp(digest, p->buf + CS_REC_HDR + len, CS_REC_CHECK))
		return BAD(p, seq, "checksum mismatch (the record is corrupted)");
#endif
	if (p->state == 0) {
		if (type != CS_REC_HEADER)
			return BAD(p, seq, "the stream does not start with a header");
		seen = header_record(p, seq, payload, len, &resumed_hdr);
		if (seen < 0)
			return seen;
	} else {
		if (type == CS_REC_HEADER)
			return BAD(p, seq, "a second header in the stream");
		if (seq != p->next_seq)
			return BAD(p, seq, "out of order: expected record %llu",
			           (unsigned long long)p->next_seq);
		if (type == CS_REC_TRAILER) {
			if (p->skipping)
				return BAD(p, seq, "the stream ends before the %llu records the "
				           "partial receive holds (it received another version "
				           "of this stream)", (unsigned long long)p->resume_seq);
			if (len != 48)
				return BAD(p, seq, "malformed trailer");
#ifndef CS_FUZZING
			if (memcmp(payload, p->chain, 32))
				return BAD(p, seq, "whole-stream checksum mismatch (records missing, "
				           "swapped or altered)");
#endif
			if (be64_get(payload + 32) != seq || be64_get(payload + 40) != p->offset)
				return BAD(p, seq, "trailer counts do not match the stream");
			p->state = 2;
		} else if (type == CS_REC_NAMED && !(p->hdr.flags & CS_STREAM_NAMES)) {
			return BAD(p, seq, "a chunk by name in a stream that carries chunk bytes");
		} else if (type != CS_REC_CHUNK && type != CS_REC_KEY && type != CS_REC_SNAPSHOT &&
		           type != CS_REC_NAMED) {
			return BAD(p, seq, "unknown record type 0x%02x", type);
		}
	}
	if (!resumed_hdr && type != CS_REC_TRAILER) {
		memcpy(link, p->chain, 32);
		memcpy(link + 32, digest, 32);
		SHA256(link, 64, p->chain);
	}
	if (!seen && !p->skipping) { /* a skipped record was received before */
		rc = p->fn ? p->fn(p->ctx, type, seq, p->offset, payload, len) : 0;
		if (rc)
			return rc;
	}
	if (resumed_hdr)
		return 0;
	if (p->skipping && seq + 1 == p->resume_seq && (rc = skip_done(p, seq, total)))
		return rc;
	p->next_seq = seq + 1;
	p->offset += total;
	return 0;
}

int cs_sparser_feed(struct cs_sparser *p, const void *data, size_t n)
{
	const uint8_t *in = data;

	while (n > 0) {
		size_t need, take;

		if (p->state == 2)
			return BAD(p, p->next_seq, "data after the trailer");
		need = CS_REC_HDR;
		if (p->len >= CS_REC_HDR) {
			uint32_t len = be32_get(p->buf + 2);

			if (p->state == 0 && (p->buf[0] != CS_REC_HEADER || p->buf[1] != 0))
				return BAD(p, 0, "not a cstorfs stream (it does not start with a "
				           "stream header)");
			if (p->buf[1] != 0 || len > CS_REC_MAX_PAYLOAD)
				return BAD(p, p->next_seq, "malformed record header");
			need = CS_REC_HDR + len + CS_REC_CHECK;
		}
		if (p->cap < need) {
			size_t cap = need < 4096 ? 4096 : need;
			uint8_t *nb = realloc(p->buf, cap);

			if (!nb)
				return -ENOMEM;
			p->buf = nb;
			p->cap = cap;
		}
		take = need - p->len < n ? need - p->len : n;
		memcpy(p->buf + p->len, in, take);
		p->len += take;
		in += take;
		n -= take;
		if (p->len == need && need > CS_REC_HDR) {
			int rc = record(p, need);

			p->len = 0;
			if (rc)
				return rc;
		}
	}
	return 0;
}

int cs_sparser_end(struct cs_sparser *p)
{
	if (p->state == 2)
		return 0;
	return cs_fail(-EPIPE, "stream cut at byte %llu (in record %llu): no trailer",
	               (unsigned long long)(p->offset + p->len),
	               (unsigned long long)p->next_seq);
}

/* ---- record contents ---- */

static int key_check(uint64_t seq, const uint8_t *p, size_t len)
{
	struct cs_ibuf b = { p, len, 0 };
	uint8_t tag, op;
	uint16_t sl;
	uint32_t vl;

	if (cs_ibuf_u8(&b, &tag) || cs_ibuf_u8(&b, &op) || cs_ibuf_u16(&b, &sl) ||
	    sl > CS_KEY_MAX - 17 || b.pos + sl + 4 > len)
		goto bad;
	b.pos += sl;
	if (cs_ibuf_u32(&b, &vl) || vl != len - b.pos || op > 1 || (op == 0 && vl != 0) ||
	    tag == 0 || !strchr("IDCXE", tag) || sl < 8)
		goto bad;
	if (tag == 'E' && (sl != 16 || (op == 1 && vl != CS_HASH_LEN + 8)))
		goto bad;
	if ((tag == 'I' && sl != 8) || (tag == 'C' && sl != 16))
		goto bad;
	if ((tag == 'D' || tag == 'X') && (sl < 10 || p[4 + sl - 1] != 0 ||
	                                   memchr(p + 4 + 8, 0, sl - 9) != NULL))
		goto bad; /* dir/ino, a name, its NUL */
	if (tag == 'D' && cs_name_check((const char *)p + 4 + 8))
		goto bad;
	return 0;
bad:
	return cs_fail(-EBADMSG, "record %llu: malformed key record", (unsigned long long)seq);
}

int cs_stream_snap_decode(struct cs_snaprec *s, const uint8_t *p, size_t len)
{
	struct cs_ibuf b = { p, len, 0 };
	uint64_t *x = &s->stats.inodes, ct;

	memset(s, 0, sizeof(*s));
	if (cs_ibuf_str(&b, s->name, sizeof(s->name)) || cs_name_check(s->name) ||
	    strchr(s->name, '@') || cs_ibuf_get(&b, s->uuid, 16) || cs_ibuf_u64(&b, &ct) ||
	    cs_ibuf_u64(&b, &s->next_ino))
		return -1;
	for (int i = 0; i < 6; i++)
		if (cs_ibuf_u64(&b, &x[i]))
			return -1;
	s->ctime_ns = (int64_t)ct;
	return b.pos == len && s->next_ino > CS_ROOT_INO ? 0 : -1;
}

/* A chunk record: its stored form must decode to bytes whose SHA-256 is
 * its name (a stream cannot plant data under another chunk's name). */
static int chunk_check(uint64_t seq, const uint8_t *p, size_t len)
{
	uint8_t hash[CS_HASH_LEN], *raw;
	size_t n = 0, rawlen;

	if (len < CS_HASH_LEN + 6 || p[CS_HASH_LEN] != 1)
		return cs_fail(-EBADMSG, "record %llu: malformed chunk", (unsigned long long)seq);
	rawlen = be32_get(p + CS_HASH_LEN + 2);
	if (rawlen == 0 || rawlen > CS_CHUNK_MAX)
		return cs_fail(-EBADMSG, "record %llu: chunk length %zu", (unsigned long long)seq,
		               rawlen);
	raw = malloc(rawlen);
	if (!raw)
		return -ENOMEM;
	if (p[CS_HASH_LEN + 1] == 0 && len - CS_HASH_LEN - 6 == rawlen) {
		memcpy(raw, p + CS_HASH_LEN + 6, rawlen);
		n = rawlen;
	} else if (p[CS_HASH_LEN + 1] == 1) {
		n = ZSTD_decompress(raw, rawlen, p + CS_HASH_LEN + 6, len - CS_HASH_LEN - 6);
		if (ZSTD_isError(n))
			n = 0;
	}
	if (n == rawlen)
		SHA256(raw, n, hash);
	free(raw);
#ifdef CS_FUZZING
	memcpy(hash, p, CS_HASH_LEN);
#endif
	if (n != rawlen || memcmp(hash, p, CS_HASH_LEN))
		return cs_fail(-EBADMSG, "record %llu: chunk content does not match its SHA-256",
		               (unsigned long long)seq);
	return 0;
}

int cs_stream_check_record(int type, uint64_t seq, const uint8_t *p, size_t len)
{
	struct cs_snaprec s;

	switch (type) {
	case CS_REC_CHUNK:
		return chunk_check(seq, p, len);
	case CS_REC_NAMED: /* hash, stored length (6-byte chunk header and more), raw length */
		if (len != CS_HASH_LEN + 8 || be32_get(p + CS_HASH_LEN) < 7 ||
		    be32_get(p + CS_HASH_LEN) > CS_CHUNK_VALUE_MAX ||
		    be32_get(p + CS_HASH_LEN + 4) == 0 || be32_get(p + CS_HASH_LEN + 4) > CS_CHUNK_MAX)
			return cs_fail(-EBADMSG, "record %llu: malformed chunk name",
			               (unsigned long long)seq);
		return 0;
	case CS_REC_KEY:
		return key_check(seq, p, len);
	case CS_REC_SNAPSHOT:
		return cs_stream_snap_decode(&s, p, len)
		               ? cs_fail(-EBADMSG, "record %llu: malformed snapshot record",
		                         (unsigned long long)seq)
		               : 0;
	default:
		return 0; /* header and trailer: checked by the parser */
	}
}
