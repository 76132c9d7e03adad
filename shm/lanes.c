/* TARGET side: which lane of the ring an event goes to.
 *
 * Invariant 1 (causal order per address) needs one order only among the events of one address, so
 * every event about an address goes to the lane of that address: the lane's tickets order them as
 * the single ring did. Lanes are handed out per 64 MiB region of the address space, round-robin in
 * the order regions are first used, and remembered process-wide (a region never changes lane).
 * glibc gives every arena its own 64 MiB-aligned heaps, so threads that allocate from different
 * arenas push into different lanes and never share a ticket counter. */
#include <string.h>

#include "internal.h"

__thread struct shm_lane_cache shm_lane_cache_tls __attribute__((tls_model("initial-exec")));

static inline uint64_t region_hash(uint64_t region)
{
	return (region * 0x9e3779b97f4a7c15ull) >> 32;
}

/* Finds or adds region in the map. An entry is written once (CAS from 0) and never changes, so a
 * region's lane is the same for every thread. With the map full, a hash picks the lane: still a
 * function of the address, so the order per address holds. */
static uint32_t lane_lookup(struct shm_segment *seg, uint64_t region)
{
	uint32_t mask = seg->lanes - 1;
	uint64_t h = region_hash(region);
	/* A short probe run: with the map (nearly) full, every new region falls to the hash. */
	for (uint32_t probe = 0; probe < 16; probe++) {
		uint64_t *slot = &seg->lane_map[(h + probe) % SHM_LANE_MAP_SIZE];
		uint64_t e = __atomic_load_n(slot, __ATOMIC_RELAXED);
		if (e == 0) {
			uint32_t lane = __atomic_fetch_add(&seg->lane_next, 1, __ATOMIC_RELAXED) & mask;
			uint64_t mine = region << 5 | (lane + 1);
			if (__atomic_compare_exchange_n(slot, &e, mine, false, __ATOMIC_RELAXED,
							__ATOMIC_RELAXED))
				return lane;
			/* another thread filled this slot first: e now holds its entry */
		}
		if (e >> 5 == region)
			return (uint32_t)((e & 31) - 1) & mask;
	}
	return (uint32_t)h & mask;
}

uint32_t shm_lane_of_slow(struct shm_segment *seg, uint64_t region)
{
	struct shm_lane_cache *c = &shm_lane_cache_tls;
	if (c->epoch != seg->epoch) { /* entries of another segment (before fork, or a test's) */
		memset(c->entry, 0, sizeof c->entry);
		__atomic_signal_fence(__ATOMIC_SEQ_CST); /* cleared before the epoch says they are ours */
		c->epoch = seg->epoch;
	}
	uint32_t lane = seg->lanes > 1 ? lane_lookup(seg, region) : 0;
	unsigned i = (unsigned)region & (SHM_LANE_CACHE - 1);
	__atomic_store_n(&c->entry[i], (region + 1) << SHM_LANE_CACHE_SHIFT | lane, __ATOMIC_RELAXED);
	return lane;
}
