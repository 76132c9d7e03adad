/* Usable size of a block for the counters, fast. glibc's malloc_usable_size also reads the next
 * chunk's header (a likely cache miss); for an in-use chunk the answer is in the block's own size
 * word. We use that only after checking, at start, that it agrees with malloc_usable_size on blocks
 * of every kind (small, large, mmapped, aligned); with any other allocator behind us, or on any
 * disagreement, we keep calling malloc_usable_size. Never allocates outside the start-up check. */
#include "preload.h"

bool preload_usable_fast;

static bool usable_agrees(void *p)
{
	return p && preload_usable_header(p) == preload_real.malloc_usable_size(p);
}

/* Runs under the reentrancy guard with the real functions resolved. */
void preload_usable_init(void)
{
	static const size_t sizes[] = {1, 24, 100, 1000, 5000, 70000, 200000, 3u << 20};
	bool ok = preload_real.malloc && preload_real.free && preload_real.memalign &&
		  preload_real.malloc_usable_size;
	for (size_t i = 0; ok && i < sizeof sizes / sizeof sizes[0]; i++) {
		void *a = preload_real.malloc(sizes[i]);
		void *b = preload_real.memalign(256, sizes[i]);
		void *c = preload_real.calloc(1, sizes[i]);
		ok = usable_agrees(a) && usable_agrees(b) && usable_agrees(c);
		preload_real.free(a);
		preload_real.free(b);
		preload_real.free(c);
	}
	preload_usable_fast = ok;
}
