/* The bootstrap arena: a small static bump allocator that serves the few allocations made while the
 * real functions are being looked up (dlsym calls calloc). Its blocks are never freed or reused.
 * Must never call any allocator and never grow: when it is exhausted the call fails with NULL. */
#include <stdint.h>
#include <string.h>

#include "preload.h"

#define BOOTSTRAP_HEADER 16u /* holds the block size, keeps 16-byte alignment */

_Alignas(4096) unsigned char preload_bootstrap_arena[PRELOAD_BOOTSTRAP_BYTES];
static size_t bootstrap_used;

void *preload_bootstrap_alloc(size_t size, size_t align)
{
	if (align < BOOTSTRAP_HEADER)
		align = BOOTSTRAP_HEADER;
	if (align > 4096 || (align & (align - 1)) || size > PRELOAD_BOOTSTRAP_BYTES)
		return NULL;
	size_t used = __atomic_load_n(&bootstrap_used, __ATOMIC_RELAXED);
	for (;;) {
		size_t start = (used + BOOTSTRAP_HEADER + align - 1) & ~(align - 1);
		size_t end = start + ((size + 15) & ~(size_t)15);
		if (end > PRELOAD_BOOTSTRAP_BYTES)
			return NULL;
		if (__atomic_compare_exchange_n(&bootstrap_used, &used, end, false, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED)) {
			/* The arena is zero and never reused, so calloc needs no memset. */
			uint64_t sz = size;
			memcpy(&preload_bootstrap_arena[start - sizeof sz], &sz, sizeof sz);
			return &preload_bootstrap_arena[start];
		}
	}
}

size_t preload_bootstrap_size(const void *p)
{
	uint64_t sz;
	memcpy(&sz, (const unsigned char *)p - sizeof sz, sizeof sz);
	return (size_t)sz;
}
