/* Usable size of a block for the counters, fast. glibc's malloc_usable_size also reads the next
 * chunk's header (a likely cache miss); for an in-use chunk the answer is in the block's own size
 * word. We use that only after checking, at start, that it agrees with malloc_usable_size on blocks
 * of every kind (small, large, mmapped, aligned); with any other allocator behind us, or on any
 * disagreement, we keep calling malloc_usable_size. Never allocates outside the start-up check, and
 * the check must leave the allocator's state (thresholds) as it found it. */
#include <stdlib.h>
#include <string.h>

#include "preload.h"

bool preload_usable_fast;

/* The mmapped probe: glibc's free raises its dynamic mmap threshold (and trim threshold) to the size
 * of a freed mmapped chunk only when that size is at most DEFAULT_MMAP_THRESHOLD_MAX (32 MiB on
 * 64-bit; glibc 2.36 malloc.c, __libc_free). A probe above it checks the mmapped layout and leaves
 * the threshold alone, so the program serves its blocks from mmap or the heap as it would bare.
 * Its pages are never touched (calloc skips the memset of fresh mmapped chunks): it costs three
 * mmap/munmap pairs, no memory. Every other probe size stays below the initial threshold
 * (128 KiB), so it comes from the heap and never reaches that code. With malloc perturbation on
 * (MALLOC_PERTURB_ or the glibc.malloc.perturb tunable), glibc writes every byte of a new block:
 * the probe would touch 120 MiB, so there is no probe and malloc_usable_size serves (correct,
 * slower: perturbation is a debugging setting). */
#define USABLE_PROBE_MMAPPED (40u << 20)

extern char **environ;

/* True when glibc perturbs new blocks (environ scan: getenv may be the program's own). */
static bool usable_perturbed(void)
{
	for (char **e = environ; e && *e; e++) {
		const char *v = *e;
		if (!strncmp(v, "MALLOC_PERTURB_=", 16) && strtol(v + 16, NULL, 0) != 0)
			return true;
		if (!strncmp(v, "GLIBC_TUNABLES=", 15) && strstr(v, "glibc.malloc.perturb="))
			return true;
	}
	return false;
}

static bool usable_agrees(void *p)
{
	return p && preload_usable_header(p) == preload_real.malloc_usable_size(p);
}

/* Runs under the reentrancy guard with the real functions resolved. */
void preload_usable_init(void)
{
	static const size_t sizes[] = {1, 24, 100, 1000, 5000, 70000, USABLE_PROBE_MMAPPED};
	bool ok = preload_real.malloc && preload_real.free && preload_real.memalign &&
		  preload_real.calloc && preload_real.malloc_usable_size && !usable_perturbed();
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
