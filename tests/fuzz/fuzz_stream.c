/*
 * fuzz_stream.c - libFuzzer target for the replication stream parser.
 *
 * Feeds arbitrary bytes, in pieces whose sizes come from the input itself,
 * to the store-free parser (cs_sparser_*) and checks every record the way
 * receive does (cs_stream_check_record). Nothing may crash, leak, hang or
 * read out of bounds; any input is either accepted or rejected with an
 * error. Seeds: tests/fuzz/corpus (valid full and incremental streams).
 *
 *   make fuzz                  run for FUZZ_SECONDS (default 20)
 *   build/fuzz_stream DIR...   longer runs by hand
 */
#include <stddef.h>
#include <stdint.h>

#include "cs_store.h"

static int on_record(void *ctx, int type, uint64_t seq, uint64_t offset,
                     const uint8_t *payload, size_t len)
{
	(void)ctx;
	(void)offset;
	return cs_stream_check_record(type, seq, payload, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_sparser *p = cs_sparser_new(on_record, NULL);
	size_t step = size ? (size_t)data[0] % 97 + 1 : 1, off = 0;
	int rc = 0;

	if (!p)
		return 0;
	while (off < size && rc == 0) {
		size_t n = size - off < step ? size - off : step;

		rc = cs_sparser_feed(p, data + off, n);
		off += n;
		step = step * 7 % 4093 + 1;
	}
	if (rc == 0)
		cs_sparser_end(p);
	cs_sparser_header(p);
	cs_sparser_free(p);
	return 0;
}
