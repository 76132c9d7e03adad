/* The public API (include/memtop/memtop.h) as the preload implements it. Statistics are summed from
 * the thread slots of our own segment, so they are exact whatever happened to the events.
 * Must never allocate; callable from any thread of the traced program. */
#include <string.h>

#include "memtop/memtop.h"
#include "preload.h"

static bool api_active(void)
{
	return __atomic_load_n(&preload_state, __ATOMIC_ACQUIRE) == PRELOAD_ACTIVE;
}

PRELOAD_EXPORT void memtop_enable(void)
{
	__atomic_store_n(&preload_recording, 1, __ATOMIC_RELAXED);
}

PRELOAD_EXPORT void memtop_disable(void)
{
	__atomic_store_n(&preload_recording, 0, __ATOMIC_RELAXED);
}

PRELOAD_EXPORT int memtop_tag(const char *name)
{
	if (!api_active() || !name)
		return -1;
	struct preload_thread *t = &preload_tls;
	t->guard++;
	uint32_t id = shm_tag_register(&preload_seg, name, shm_now_ns());
	t->guard--;
	if (id)
		preload_push_simple(MEMTOP_EV_TAG, id);
	return (int)id;
}

static void api_sum(struct memtop_counters *sum)
{
	memset(sum, 0, sizeof *sum);
	for (uint32_t i = 0; i < preload_seg.threads_count; i++) {
		const struct memtop_counters *c = &preload_seg.threads[i].c;
		sum->allocs += __atomic_load_n(&c->allocs, __ATOMIC_RELAXED);
		sum->frees += __atomic_load_n(&c->frees, __ATOMIC_RELAXED);
		sum->usable_alloc += __atomic_load_n(&c->usable_alloc, __ATOMIC_RELAXED);
		sum->usable_freed += __atomic_load_n(&c->usable_freed, __ATOMIC_RELAXED);
		sum->req_bytes += __atomic_load_n(&c->req_bytes, __ATOMIC_RELAXED);
		sum->dropped += __atomic_load_n(&c->dropped, __ATOMIC_RELAXED);
	}
}

static uint64_t api_in_use(const struct memtop_counters *sum)
{
	return sum->usable_alloc > sum->usable_freed ? sum->usable_alloc - sum->usable_freed : 0;
}

PRELOAD_EXPORT int memtop_get_stats(struct memtop_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!api_active())
		return -1;
	struct memtop_counters sum;
	preload_peak_fold(&preload_tls);
	api_sum(&sum);
	out->allocs = sum.allocs;
	out->frees = sum.frees;
	out->bytes_allocated = sum.usable_alloc;
	out->bytes_freed = sum.usable_freed;
	out->in_use = api_in_use(&sum);
	uint64_t peak = preload_peak_get();
	out->peak_in_use = peak > out->in_use ? peak : out->in_use;
	out->bytes_requested = sum.req_bytes;
	out->events_dropped = sum.dropped;
	return 0;
}

PRELOAD_EXPORT void memtop_reset_peak(void)
{
	if (!api_active())
		return;
	struct memtop_counters sum;
	preload_peak_fold(&preload_tls);
	api_sum(&sum);
	preload_peak_reset(api_in_use(&sum));
}
