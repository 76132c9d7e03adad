/* memtop sampling: the weight of a block recorded by the byte sampler (MEMTOP_LIVE=sampled), the
 * one formula both sides use. A pure function; must never depend on anything but its arguments. */
#ifndef MEMTOP_SAMPLING_H
#define MEMTOP_SAMPLING_H

#include <math.h>
#include <stdint.h>

/* A block of `size` bytes was sampled with probability 1 - exp(-size/mean) (a Poisson process on
 * bytes of mean `mean`), so counting it 1/p times makes sums of bytes and blocks unbiased. */
static inline double memtop_sample_weight(uint64_t size, uint64_t mean)
{
	if (mean == 0 || size == 0)
		return 1.0;
	double p = -expm1(-(double)size / (double)mean);
	return p > 0 ? 1.0 / p : 1.0;
}

#endif
