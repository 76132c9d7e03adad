/* libFuzzer harness for the monitor's /proc readers: procmaps_parse (maps and smaps text from a
 * target we do not trust: a file name can hold anything), then procmaps_find and procmaps_spread
 * over what it returned, as the heatmap does. Must never crash, hang or read out of bounds.
 * Built by tests/ci/fuzz-extra.sh (clang, -fsanitize=fuzzer,address,undefined). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proc/procmaps.h"

static uint64_t word(const uint8_t *d, size_t n, size_t at)
{
	uint64_t v = 0;
	for (size_t i = 0; i < 8 && at + i < n; i++)
		v |= (uint64_t)d[at + i] << (8 * i);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct procmaps_entry *e = NULL;
	ssize_t n = procmaps_parse(text, &e);
	if (n > 0) {
		for (ssize_t i = 0; i < n; i++) {
			/* every entry is well formed: terminated strings, end >= start */
			if (strlen(e[i].name) >= sizeof e[i].name || strlen(e[i].perms) >= sizeof e[i].perms ||
			    e[i].end < e[i].start)
				abort();
		}
		uint64_t addr = word(data, size, 0);
		ssize_t k = procmaps_find(e, (size_t)n, addr);
		if (k >= n)
			abort();
		/* spread a block over the first mapping: the parts must sum to the size */
		uint32_t div = (uint32_t)(word(data, size, 8) % 257);
		uint64_t heat[257] = {0};
		uint64_t bsize = word(data, size, 16) % (1ull << 40);
		uint64_t start = e[0].start, end = e[0].end;
		if (div && end > start && end - start < (1ull << 48)) {
			uint64_t a = start + (addr % (end - start));
			procmaps_spread(start, end, div, a, bsize, heat);
			uint64_t sum = 0;
			for (uint32_t d = 0; d < div; d++)
				sum += heat[d];
			if (sum != bsize)
				abort();
		}
	}
	free(e);
	free(text);
	return 0;
}
