/* Unit tests of the byte sampler (preload/sampler.c) with fixed seeds: each block size is sampled
 * at its Poisson probability 1 - exp(-size/mean), and the weighted estimates of bytes and blocks
 * per size are unbiased: within 4.5 standard deviations on one heap, and within 4 standard errors
 * averaged over 400 seeds. The bounds are derived from the binomial variance of the estimator. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "memtop/sampling.h"
#include "sampler.h"

#define MEAN 524288u

struct heap_site {
	uint64_t size, count;
	double est_bytes, est_blocks;
	uint64_t sampled;
};

/* Runs one heap through the sampler: the sizes interleaved as a program would allocate them. */
static void run_heap(struct heap_site *sites, size_t n, uint64_t seed)
{
	struct sampler s = {0};
	uint64_t left[8];
	/* seeded here: a first call seeds with the thread's ordinal added, which grows per call */
	sampler_seed(&s, seed, MEAN);
	for (size_t k = 0; k < n; k++) {
		left[k] = sites[k].count;
		sites[k].est_bytes = sites[k].est_blocks = 0;
		sites[k].sampled = 0;
	}
	for (bool more = true; more;) {
		more = false;
		for (size_t k = 0; k < n; k++) {
			/* in proportion: the small blocks come many at a time */
			uint64_t burst = sites[k].count / 1024 + 1;
			for (uint64_t b = 0; b < burst && left[k]; b++, left[k]--) {
				if (!sampler_take(&s, sites[k].size, MEAN, seed))
					continue;
				double w = memtop_sample_weight(sites[k].size, MEAN);
				sites[k].sampled++;
				sites[k].est_bytes += w * (double)sites[k].size;
				sites[k].est_blocks += w;
			}
			more |= left[k] != 0;
		}
	}
}

/* Standard deviation of the bytes estimate of one site: (s/p) * sqrt(N p (1-p)). */
static double sd_bytes(const struct heap_site *h)
{
	double p = -expm1(-(double)h->size / MEAN);
	return (double)h->size / p * sqrt((double)h->count * p * (1 - p));
}

static void test_one_heap_within_bounds(void **state)
{
	(void)state;
	/* 64 MiB of 64 B, 128 MiB of 4 KiB, 128 MiB of 1 MiB blocks */
	struct heap_site sites[] = {{.size = 64, .count = 1u << 20}, {.size = 4096, .count = 1u << 15},
				    {.size = 1u << 20, .count = 128}};
	run_heap(sites, 3, 12345);
	for (size_t k = 0; k < 3; k++) {
		double truth = (double)sites[k].size * (double)sites[k].count;
		double dev = fabs(sites[k].est_bytes - truth) / sd_bytes(&sites[k]);
		printf("# size %llu: %llu samples, estimate %.0f for %.0f bytes (%.2f sd)\n",
		       (unsigned long long)sites[k].size, (unsigned long long)sites[k].sampled,
		       sites[k].est_bytes, truth, dev);
		assert_true(dev < 4.5);
		/* the blocks estimate is the bytes estimate over the size: the same bound */
		assert_true(fabs(sites[k].est_blocks * (double)sites[k].size - sites[k].est_bytes) <
			    1e-6 * truth + 1);
	}
}

static void test_unbiased_over_seeds(void **state)
{
	(void)state;
	struct heap_site sites[] = {{.size = 64, .count = 100000}, {.size = 4096, .count = 4096},
				    {.size = 1u << 20, .count = 16}};
	double sum[3] = {0};
	const int runs = 400;
	for (int r = 0; r < runs; r++) {
		run_heap(sites, 3, 1000 + (uint64_t)r);
		for (size_t k = 0; k < 3; k++)
			sum[k] += sites[k].est_bytes;
	}
	for (size_t k = 0; k < 3; k++) {
		double truth = (double)sites[k].size * (double)sites[k].count;
		double se = sd_bytes(&sites[k]) / sqrt(runs);
		double dev = fabs(sum[k] / runs - truth) / se;
		printf("# size %llu: mean estimate %.0f for %.0f bytes (%.2f standard errors)\n",
		       (unsigned long long)sites[k].size, sum[k] / runs, truth, dev);
		assert_true(dev < 4.0);
	}
}

/* The same seed gives the same draws; another seed other draws. */
static void test_seed_fixes_draws(void **state)
{
	(void)state;
	struct heap_site a[] = {{.size = 4096, .count = 20000}};
	struct heap_site b[] = {{.size = 4096, .count = 20000}};
	struct heap_site c[] = {{.size = 4096, .count = 20000}};
	run_heap(a, 1, 7);
	run_heap(b, 1, 7);
	run_heap(c, 1, 8);
	assert_int_equal(a[0].sampled, b[0].sampled);
	assert_true(a[0].est_bytes == b[0].est_bytes);
	assert_true(a[0].sampled != c[0].sampled || a[0].est_bytes != c[0].est_bytes ||
		    a[0].sampled == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_heap_within_bounds),
		cmocka_unit_test(test_unbiased_over_seeds),
		cmocka_unit_test(test_seed_fixes_draws),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
