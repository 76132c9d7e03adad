/* sampler: the draws behind sampler_take (sampler.h). Exponential distances by inversion,
 * -mean * ln(U) with U uniform in (0, 1] from a xorshift64* generator: tcmalloc's scheme. Never
 * allocates; log() is pure. */
#include <math.h>

#include "sampler.h"

static uint64_t sampler_next(struct sampler *s)
{
	uint64_t x = s->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* A distance >= 1 byte, exponential with mean `mean`. */
static int64_t sampler_draw(struct sampler *s, uint64_t mean)
{
	double u = (double)((sampler_next(s) >> 11) + 1) * 0x1.0p-53; /* (0, 1] */
	double d = -log(u) * (double)mean;
	if (d > 9.0e18)
		d = 9.0e18;
	return d < 1.0 ? 1 : (int64_t)d;
}

void sampler_seed(struct sampler *s, uint64_t seed, uint64_t mean)
{
	/* splitmix64 of the seed: close seeds (thread numbers) give unrelated streams */
	uint64_t z = seed + 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	s->rng = z ? z : 0x2545f4914f6cdd1dull;
	s->left = sampler_draw(s, mean);
}

/* Threads seeded so far: the n-th thread to sample draws from seed + n, so that a fixed
 * MEMTOP_SAMPLE_SEED gives the same draws in every run (thread slots and tids vary). */
static uint64_t sampler_threads;

bool sampler_take_slow(struct sampler *s, uint64_t size, uint64_t mean, uint64_t seed)
{
	if (__builtin_expect(s->rng == 0, 0)) {
		/* first call of the thread: the block is measured against a fresh distance */
		sampler_seed(s, seed + __atomic_fetch_add(&sampler_threads, 1, __ATOMIC_RELAXED), mean);
		s->left -= (int64_t)size;
		if (s->left > 0)
			return false;
	}
	/* Sampled. The next point lies an exponential distance past this block's end (the process
	 * is memoryless: what fell inside the block does not matter). */
	s->left = sampler_draw(s, mean);
	return true;
}
