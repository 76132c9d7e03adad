/* sampler: Poisson sampling of allocations by bytes (as tcmalloc, jemalloc and Go do): the
 * distance to the next sampled byte is exponential with mean `mean`, so a block of s bytes is
 * sampled with probability 1 - exp(-s/mean) whatever the sizes around it. Per-thread state, a
 * xorshift PRNG; never allocates, never locks, never calls anything but log(). */
#ifndef MEMTOP_PRELOAD_SAMPLER_H
#define MEMTOP_PRELOAD_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

struct sampler {
	int64_t left;  /* bytes until the next sampled byte; <= 0: the next call crosses it */
	uint64_t rng;  /* xorshift64* state, 0 = not seeded yet */
};

/* Seeds s (seed 0 is replaced by a fixed non-zero constant) and draws the first distance. */
void sampler_seed(struct sampler *s, uint64_t seed, uint64_t mean);
/* The slow half of sampler_take: the block crossed the sampling point (or s is not seeded). */
bool sampler_take_slow(struct sampler *s, uint64_t size, uint64_t mean, uint64_t seed);

/* True when a block of size bytes is sampled. One subtraction and a branch when it is not.
 * seed: the process's seed, used only when s was never seeded (with the thread's ordinal). */
static inline bool sampler_take(struct sampler *s, uint64_t size, uint64_t mean, uint64_t seed)
{
	s->left -= (int64_t)size;
	if (__builtin_expect(s->left > 0, 1))
		return false;
	return sampler_take_slow(s, size, mean, seed);
}

#endif
