/* ring_lane: what the two halves of the event ring share, for shm/ring.c and shm/ring_push.h (the
 * producers' push and the ring's design) and shm/ring_pop.c (the consumer's pop) only: where a
 * lane's control lines and cells are, and the spin-wait hint. */
#ifndef MEMTOP_SHM_RING_LANE_H
#define MEMTOP_SHM_RING_LANE_H

#include "shm.h"

static inline struct memtop_lane *lane_ctl(const struct shm_segment *seg, uint32_t lane)
{
	return &seg->hdr->lanes[lane];
}

static inline struct memtop_record *lane_cell(const struct shm_segment *seg, uint32_t lane,
					      uint64_t ticket)
{
	return &seg->ring[(uint64_t)lane * seg->lane_cap + (ticket & (seg->lane_cap - 1))];
}

/* The sequence number a record of ticket t carries once committed (32 bits: a cell of the lap
 * before holds t + 1 - lane_cap, and lane_cap < 2^31). */
static inline uint32_t lane_seq(uint64_t ticket)
{
	return (uint32_t)(ticket + 1);
}

/* Whether an event needs the extension record: an aux or link word, or a usable size that is not
 * its size plus less than MEMTOP_USABLE_ESCAPE (or a size of 2^48 or more). */
static inline bool record_needs_ext(const struct memtop_event *ev)
{
	return ev->aux != 0 || ev->link != 0 || (ev->size >> MEMTOP_SIZE_BITS) != 0 ||
	       ev->usable - ev->size >= MEMTOP_USABLE_ESCAPE;
}

/* A hint inside a spin-wait (a waiting producer, full_wait): lets the other hardware thread run and
 * saves power. Only a hint: any architecture may spin without one. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

#endif
