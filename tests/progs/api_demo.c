/* Example of the program-side API (include/memtop/memtop.h): tags, statistics, peak, and
 * enable/disable. It runs unchanged without the preload (every call is then a no-op) and checks its
 * own figures when the preload is there: exact deltas in a single-threaded section. */
#include <malloc.h>
#include <string.h>

#include "expect.h"
#include "memtop/memtop.h"

SITE static void site_api_phase(void **blocks, int n, size_t size)
{
	for (int i = 0; i < n; i++)
		blocks[i] = malloc(size);
}

int main(void)
{
	static void *blocks[100];
	struct memtop_stats before, after, peak;
	expect_init();
	if (!memtop_present()) {
		printf("memtop not preloaded: API calls are no-ops\n");
		CHECK(memtop_stats(&before) == -1 && memtop_mark("x") == -1);
		return 0;
	}
	if (memtop_stats(&before) != 0) {
		/* preloaded, but MEMTOP_DISABLE=1 or the segment could not be created */
		printf("memtop present but tracing is off\n");
		CHECK(memtop_mark("x") == -1);
		return 0;
	}
	CHECK(memtop_mark("phase-one") == 1);
	CHECK(memtop_stats(&before) == 0);
	site_api_phase(blocks, 100, 1000);
	CHECK(memtop_stats(&after) == 0);
	size_t usable = malloc_usable_size(blocks[0]);
	CHECK(after.allocs - before.allocs == 100);
	CHECK(after.frees == before.frees);
	CHECK(after.in_use - before.in_use == 100 * usable);
	CHECK(after.bytes_requested - before.bytes_requested == 100 * 1000);
	CHECK(after.peak_in_use >= after.in_use);

	for (int i = 0; i < 100; i++)
		free(blocks[i]);
	CHECK(memtop_stats(&peak) == 0);
	CHECK(peak.frees - after.frees == 100 && peak.in_use == before.in_use);
	/* single thread: the peak is exact to within one 64 KiB fold */
	CHECK(peak.peak_in_use + 65536 >= after.in_use);
	memtop_reset_peak();
	CHECK(memtop_stats(&peak) == 0 && peak.peak_in_use == peak.in_use);

	/* disabled: counted, but no events (the consumer sees untracked ones instead) */
	memtop_disable();
	void *hidden = malloc(4242);
	memtop_enable();
	CHECK(memtop_mark("phase-two") == 2);
	free(hidden);
	EXPECT("site_api_phase", 100, 0, 0);
	printf("expect-tag phase-one\nexpect-tag phase-two\n");
	return 0;
}
