/* live: the preload's side of the live table (shm/livetable.h), kept with or without a monitor so
 * that a monitor attaching late sees the heap already there. MEMTOP_LIVE=exact records every block,
 * sampled (the default) the blocks the byte sampler picks, off nothing. Runs inside the hooks:
 * never allocates, preserves errno, never waits but for a bounded chunk growth. */
#include <errno.h>
#include <string.h>

#include "livetable.h"
#include "preload.h"

/* Counters by address hash of the sampled blocks in the table (saturating at 255: a saturated
 * counter only costs table lookups). Zero: the block is certainly not in the table. */
uint8_t preload_live_filter[PRELOAD_LIVE_FILTER];

static void preload_filter_add(uint64_t addr, int delta)
{
	uint8_t *c = &preload_live_filter[preload_live_filter_slot(addr)];
	uint8_t v = __atomic_load_n(c, __ATOMIC_RELAXED);
	while (v != 255 && !(delta < 0 && v == 0)) {
		if (__atomic_compare_exchange_n(c, &v, (uint8_t)(v + delta), false, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			return;
	}
}

void preload_live_add(struct preload_thread *t, uint64_t addr, uint64_t req, uint16_t flags,
		      uint32_t *stack, const void *hook_frame)
{
	int saved = errno; /* unwinding and a chunk growth make system calls */
	bool sampled = preload_cfg.live == MEMTOP_LIVE_SAMPLED;
	if (sampled)
		flags |= MEMTOP_LIVEF_SAMPLED;
	*stack = preload_cfg.depth ? preload_stack_capture(t, hook_frame) : MEMTOP_STACK_NONE;
	if (sampled) /* before the insert: a free of the block must find the counter set */
		preload_filter_add(addr, 1);
	if (!shm_live_insert(&preload_seg, addr, req, *stack, t->slot, shm_now_ns(), flags) && sampled)
		preload_filter_add(addr, -1);
	errno = saved;
}

bool preload_live_forget_slow(uint64_t addr, struct memtop_live_entry *out)
{
	if (!shm_live_remove(&preload_seg, addr, out))
		return false;
	if (preload_cfg.live == MEMTOP_LIVE_SAMPLED)
		preload_filter_add(addr, -1);
	return true;
}

/* The child's table is new and empty: no address of the parent's is in it. */
void preload_live_fork_child(void)
{
	memset(preload_live_filter, 0, sizeof preload_live_filter);
}
