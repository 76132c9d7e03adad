/* Process-wide bytes in use and their peak for memtop_get_stats. Each thread accumulates its in-use
 * delta privately and folds it into one global atomic only when it passes PRELOAD_PEAK_FOLD_BYTES
 * (64 KiB) either way, so the cost per call does not grow with the number of threads.
 * Precision: the folded value differs from the true in-use by less than 64 KiB per thread, so the
 * peak can be missed or overstated by at most (threads that allocate) x 64 KiB. Never allocates. */
#include "preload.h"

static int64_t preload_inuse_folded;
static uint64_t preload_peak;

void preload_peak_fold(struct preload_thread *t)
{
	/* One exchange: a signal handler of this thread that adds in between is never lost. */
	int64_t delta = __atomic_exchange_n(&t->inuse_pending, 0, __ATOMIC_RELAXED);
	int64_t now = __atomic_add_fetch(&preload_inuse_folded, delta, __ATOMIC_RELAXED);
	if (delta <= 0 || now <= 0)
		return;
	uint64_t peak = __atomic_load_n(&preload_peak, __ATOMIC_RELAXED);
	while ((uint64_t)now > peak &&
	       !__atomic_compare_exchange_n(&preload_peak, &peak, (uint64_t)now, true, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

uint64_t preload_peak_get(void)
{
	return __atomic_load_n(&preload_peak, __ATOMIC_RELAXED);
}

void preload_peak_reset(uint64_t inuse_now)
{
	__atomic_store_n(&preload_peak, inuse_now, __ATOMIC_RELAXED);
}
