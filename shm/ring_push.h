/* ring_push: the producers' usual path through the event ring (shm/ring.c says how the ring works),
 * inline in the preload's hooks: no call, and the event's type is known there, so its lane's
 * choice folds. The slow paths (a moved head, a full lane, a barrier) stay in ring.c. The record's
 * copy into its cell goes field by field (ring_commit says why: python3 churn under report, half of
 * the push's samples sat on loads the store buffer could not serve). For the preload and ring.c;
 * every other user calls shm_ring_push. */
#ifndef MEMTOP_SHM_RING_PUSH_H
#define MEMTOP_SHM_RING_PUSH_H

#include "debug_assert.h"
#include "ring_lane.h"

/* ring.c: a ticket of lane when the inline take could not have it (the head moved, or the cached
 * bound was reached: refresh it, wait on a full lane as block_ms allows); false: drop the record.
 * The barrier's push (a copy in every lane) for a TAG. */
bool shm_ring_reserve_as(struct shm_segment *seg, uint32_t lane, uint32_t count, uint64_t *ticket,
			 bool alone);
enum shm_push_result shm_ring_push_barrier(struct shm_segment *seg, const struct memtop_event *ev);

/* Tickets below this have free cells (the bound last read from the consumer's tail, cached per
 * process: ring.c refreshes it). Acquire: our record writes come after the consumer's copy. */
static inline uint64_t lane_free_bound(const struct shm_segment *seg, uint32_t lane)
{
	return __atomic_load_n(&seg->lane[lane].free_below, __ATOMIC_ACQUIRE);
}

/* Takes tickets *pos to *pos + count - 1 of a lane if its head still holds *pos; else *pos becomes
 * the head. `alone`: no other thread or process can reserve in this segment now (shm_ring_push_as
 * says when). Then x86-64 takes them with cmpxchg without the lock prefix: a single instruction, so
 * a signal handler on this thread finds it done or not begun, and no other writer of the line
 * exists. A locked instruction waits for this core's store buffer to drain, that is for the last
 * record's stores to cells whose lines the consumer read (python3 under report: lane_reserve had
 * 15 % of the target's samples; unlocked, the wait moves to those stores, which
 * lane_prefetch_ahead then starts early). Elsewhere, and under ThreadSanitizer (it cannot see the
 * instruction), the atomic CAS. */
static inline bool lane_take(uint64_t *head, uint64_t *pos, uint32_t count, bool alone)
{
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
	if (alone) {
		uint64_t seen = *pos;
		__asm__ volatile("cmpxchgq %2, %1"
				 : "+a"(seen), "+m"(*head)
				 : "r"(*pos + count)
				 : "memory", "cc");
		bool took = seen == *pos;
		*pos = seen;
		return took;
	}
#else
	(void)alone;
#endif
	/* Relaxed is enough: the bound (acquire) orders our record writes after the consumer's copy,
	 * and the cell's seq (release in commit) publishes them. */
	return __atomic_compare_exchange_n(head, pos, *pos + count, true, __ATOMIC_RELAXED,
					   __ATOMIC_RELAXED);
}

/* Ticket pos of lane was just taken: a lane that was dropping (a full episode timed out) takes
 * records again. */
static inline void lane_took(struct shm_segment *seg, uint32_t lane, uint64_t pos, uint64_t *ticket)
{
	if (__builtin_expect(__atomic_load_n(&seg->lane[lane].dropping, __ATOMIC_RELAXED), 0))
		__atomic_store_n(&seg->lane[lane].dropping, 0, __ATOMIC_RELAXED);
	*ticket = pos;
}

/* The usual case of lane_reserve, inline in the push: the head's count tickets have free cells and
 * the take succeeds at the first try. Else false, and lane_reserve does the rest (retries, a full
 * lane). python3 churn under callgrind: the push took ~150 instructions, a fifth of them the
 * calls' entries and exits. */
static inline __attribute__((always_inline)) bool lane_reserve_fast(struct shm_segment *seg,
								    uint32_t lane, uint32_t count,
								    uint64_t *ticket, bool alone)
{
	uint64_t *head = &lane_ctl(seg, lane)->head;
	uint64_t pos = __atomic_load_n(head, __ATOMIC_RELAXED);
	if (pos + count > lane_free_bound(seg, lane) || !lane_take(head, &pos, count, alone))
		return false;
	lane_took(seg, lane, pos, ticket);
	return true;
}

/* The record (and its extension when `ext`, in ticket + 1) of ev into its cells. Field by field,
 * each in its own width: the caller stored them so (a byte, two, four, eight), and a load that
 * spans two of its stores, as the compiler's merged copy made (two bytes over type and flags,
 * sixteen over timestamp and address), cannot be served from the store buffer and waits for both
 * stores to reach the cache. Relaxed atomic stores are not merged, nor are the loads that feed
 * them; a plain store each on x86-64 and arm64. The extension is committed first: a consumer that
 * sees the record committed finds its extension committed too. */
static inline __attribute__((always_inline)) void
ring_commit(struct shm_segment *seg, uint32_t lane, uint64_t ticket, const struct memtop_event *ev,
	    bool ext)
{
	/* the tickets came from lane_reserve: their cells were free (below the bound) when taken */
	DEBUG_ASSERT(lane < seg->lanes);
	DEBUG_ASSERT(ticket < __atomic_load_n(&seg->lane[lane].bound_seen, __ATOMIC_ACQUIRE));
	DEBUG_ASSERT(!ext ||
		     ticket + 1 < __atomic_load_n(&seg->lane[lane].bound_seen, __ATOMIC_ACQUIRE));
	struct memtop_record *cell = lane_cell(seg, lane, ticket);
#ifdef __SANITIZE_THREAD__
	/* The producer of this cell one lap earlier happens-before us through the consumer process
	 * (its seq release, the consumer's copy, the consumer's tail release, our acquire of the
	 * bound). ThreadSanitizer cannot see that process; acquiring the earlier seq gives it the
	 * same edge. Not in normal builds: the load would cost a coherence round trip. */
	(void)__atomic_load_n(&cell->seq, __ATOMIC_ACQUIRE);
	if (ext)
		(void)__atomic_load_n(&lane_cell(seg, lane, ticket + 1)->seq, __ATOMIC_ACQUIRE);
#endif
	uint64_t delta = ev->usable - ev->size;
	uint8_t flags = ev->flags;
	if (ext) {
		struct memtop_record_ext *x = (struct memtop_record_ext *)lane_cell(seg, lane, ticket + 1);
		__atomic_store_n(&x->type, MEMTOP_EV_EXT, __ATOMIC_RELAXED);
		__atomic_store_n(&x->size_hi, (uint16_t)(ev->size >> MEMTOP_SIZE_BITS), __ATOMIC_RELAXED);
		__atomic_store_n(&x->aux, ev->aux, __ATOMIC_RELAXED);
		__atomic_store_n(&x->link, ev->link, __ATOMIC_RELAXED);
		__atomic_store_n(&x->usable, ev->usable, __ATOMIC_RELAXED);
		__atomic_store_n(&x->seq, lane_seq(ticket + 1), __ATOMIC_RELEASE);
		delta = MEMTOP_USABLE_ESCAPE;
		flags |= MEMTOP_EVF_EXT;
	}
	__atomic_store_n(&cell->type, ev->type, __ATOMIC_RELAXED);
	__atomic_store_n(&cell->flags, flags, __ATOMIC_RELAXED);
	__atomic_store_n(&cell->thread_slot, ev->thread_slot, __ATOMIC_RELAXED);
	__atomic_store_n(&cell->stack_id, ev->stack_id, __ATOMIC_RELAXED);
	__atomic_store_n(&cell->time, (uint32_t)(ev->timestamp_ns / MEMTOP_TIME_UNIT_NS),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&cell->addr, ev->addr, __ATOMIC_RELAXED);
	__atomic_store_n(&cell->size_usable,
			 (ev->size & ((1ull << MEMTOP_SIZE_BITS) - 1)) | delta << MEMTOP_SIZE_BITS,
			 __ATOMIC_RELAXED);
	/* Publish: the record's fields happen-before the consumer's acquire of seq. */
	__atomic_store_n(&cell->seq, lane_seq(ticket), __ATOMIC_RELEASE);
}

/* Whether this x86-64 CPU has PREFETCHW (CPUID 0x80000001, ECX bit 8): 1, 0, or -1 before the first
 * look, which ring.c makes (a benign race: every thread finds the same answer). */
#if defined(__x86_64__)
extern int8_t shm_cpu_prefetchw;
bool shm_cpu_probe_prefetchw(void);

static inline bool cpu_has_prefetchw(void)
{
	int8_t has = __atomic_load_n(&shm_cpu_prefetchw, __ATOMIC_RELAXED);
	return __builtin_expect(has >= 0, 1) ? has != 0 : shm_cpu_probe_prefetchw();
}
#endif

/* The line of the cell LANE_PREFETCH_AHEAD tickets on is asked for now, for writing, so that the
 * record that lands there finds it in this core's cache instead of waiting for it to come from the
 * consumer's, which read it a lap ago. With a locked take, the lock waits for this core's earlier
 * record stores; unlocked (alone), those stores wait: either way one miss per line, unless the
 * line was asked for early enough (python3 under report: the target's stalls sat on the take, then
 * on the stores). One line ahead was too late for a thread pushing back to back: 16 lines ahead
 * (when a record was a line), the storm under report took 0.29 -> 0.23 s (median of 9,
 * interleaved with 1, 2, 4 and 8 ahead, which fell in between); 32 records are those 16 lines.
 * Only a cell the consumer is done with (below the lane's bound last seen): a cell it has still to
 * read would be pulled away from it. With other producers on the lane the cell may be another
 * thread's: that thread then takes the line from this core instead of from the consumer's, the
 * same one transfer (the ring benchmark's 2 producers on one lane: no worse). */
#define LANE_PREFETCH_AHEAD 32
static inline void lane_prefetch_ahead(struct shm_segment *seg, uint32_t lane, uint64_t ticket)
{
	uint64_t ahead = ticket + LANE_PREFETCH_AHEAD;
	if (ahead >= lane_free_bound(seg, lane))
		return;
#if defined(__x86_64__)
	if (cpu_has_prefetchw())
		__asm__ volatile("prefetchw %0" ::"m"(*(const char *)lane_cell(seg, lane, ahead)));
#else
	__builtin_prefetch(lane_cell(seg, lane, ahead), 1, 3);
#endif
}

/* The push of an event that is not a TAG, for a caller that has just found the consumer present
 * (the preload's hooks: preload_should_push; a consumer gone since then is the same race as one
 * gone between that load and the ticket). No path here takes ev's address out of line, so a
 * record built in the caller stays in its registers and its constant fields fold (the hooks
 * built the event in memory, then read its type back to choose between the barrier and the lane:
 * python3 churn under callgrind, ~240 instructions a free with its push). SHM_PUSHED or
 * SHM_DROPPED. */
static inline __attribute__((always_inline)) enum shm_push_result
shm_ring_push_record(struct shm_segment *seg, const struct memtop_event *ev, bool alone)
{
	DEBUG_ASSERT(ev->type != MEMTOP_EV_TAG);
	uint64_t ticket;
	uint32_t lane = shm_event_lane(seg, ev);
	bool ext = record_needs_ext(ev);
	if (__builtin_expect(!lane_reserve_fast(seg, lane, 1 + ext, &ticket, alone), 0) &&
	    !shm_ring_reserve_as(seg, lane, 1 + ext, &ticket, alone))
		return SHM_DROPPED;
	ring_commit(seg, lane, ticket, ev, ext);
	lane_prefetch_ahead(seg, lane, ticket);
	return SHM_PUSHED;
}

/* shm_ring_push_as (shm.h), inline. For a record built in the caller with a type known there (the
 * lane's choice folds); a TAG takes the barrier's path out of line. */
static inline __attribute__((always_inline)) enum shm_push_result
shm_ring_push_inline(struct shm_segment *seg, const struct memtop_event *ev, bool alone)
{
	if (!shm_consumer_present(seg))
		return SHM_NO_CONSUMER;
	if (__builtin_expect(ev->type == MEMTOP_EV_TAG, 0))
		return shm_ring_push_barrier(seg, ev);
	return shm_ring_push_record(seg, ev, alone);
}

#endif
