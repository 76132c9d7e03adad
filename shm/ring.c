/* The event ring: lanes (shm/lanes.c) of half-cache-line records, each lane a bounded multi-producer
 * single-consumer queue with per-cell sequence numbers, after Vyukov's bounded MPMC queue with one
 * change: the consumer never writes a cell. A producer commits ticket t of a lane by storing
 * seq = t + 1 mod 2^32 (release) after the record; the consumer frees cells by publishing the
 * lane's tail (release) once per batch, and producers take a ticket only below tail + lane_cap. So
 * each line of two records crosses from a producer's cache to the consumer's once, instead of the
 * cell line bouncing back for a "free" mark. Producers never lock; the consumer trusts nothing it
 * reads. Positions are free-running 64-bit tickets. An event is one record, or two in consecutive
 * tickets taken together when it carries words the first cannot (include/memtop/segment.h).
 *
 * Invariant (causal order per address, DESIGN invariant 1): every event about an address goes to
 * that address's lane; a lane is consumed in ticket order, and a ticket is taken by a successful CAS
 * on the lane's head, so whoever reserves first is consumed first. Threads on different lanes share
 * no line on the push path: the cost of a call does not grow with the number of threads.
 * Events that must be ordered against every lane (tags) are barriers: one copy per lane.
 * This file is the producers' side (reserve, push, barriers), its usual path inline in
 * shm/ring_push.h (the preload's hooks take it from there); shm/ring_pop.c is the consumer's. */
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "ring_push.h"

struct full_wait {
	uint64_t deadline_ns;
	uint64_t next_check_ns;
	unsigned spins;
};

/* Called when the cell for our ticket still holds an unconsumed record. Returns true to retry,
 * false to drop. Waits only while a live consumer exists, and at most block_ms per full episode:
 * after one timeout, later pushes to the lane drop at once until it has space again (dropping). */
static bool ring_wait_full(struct shm_segment *seg, struct shm_lane_local *l, struct full_wait *w)
{
	if (__atomic_load_n(&l->dropping, __ATOMIC_RELAXED) || !shm_consumer_present(seg))
		return false;
	if (w->spins < 64) {
		w->spins++;
		cpu_relax();
		return true;
	}
	uint64_t now = shm_now_ns();
	if (w->deadline_ns == 0) {
		w->deadline_ns = now + (uint64_t)seg->block_ms * 1000000ull;
		w->next_check_ns = now;
	}
	if (now >= w->deadline_ns) {
		__atomic_store_n(&l->dropping, 1, __ATOMIC_RELAXED);
		return false;
	}
	if (now >= w->next_check_ns) {
		/* Slow check (kill + /proc read): a dead or stale consumer never blocks the target. */
		if (!shm_consumer_alive(seg)) {
			/* Dead consumer: later pushes drop at once instead of re-checking per call. */
			__atomic_store_n(&l->dropping, 1, __ATOMIC_RELAXED);
			return false;
		}
		w->next_check_ns = now + 50000000ull;
	}
	struct timespec ts = {0, w->spins < 200 ? 20000 : 200000};
	w->spins++;
	/* The raw system call: glibc's nanosleep is a cancellation point, and a thread cancelled
	 * here would leave its earlier tickets (a barrier's) uncommitted for good. */
	syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, NULL);
	return true;
}

/* Tickets below tail + lane_cap have free cells: the consumer publishes the lane's tail (release)
 * after it has copied every record below it. The bound is cached per process and refreshed only
 * when a ticket reaches it, so producers read the consumer's line about once per batch. */
static uint64_t lane_free_below(struct shm_segment *seg, uint32_t lane, bool refresh)
{
	struct shm_lane_local *l = &seg->lane[lane];
	uint64_t cached = lane_free_bound(seg, lane);
	if (!refresh)
		return cached;
	uint64_t bound = __atomic_load_n(&lane_ctl(seg, lane)->tail, __ATOMIC_ACQUIRE) + seg->lane_cap;
	/* Store only when it moved: on a full lane every producer refreshes on every attempt, and a
	 * store each time would bounce the line between them. acquire/release through the cache: a
	 * thread using a bound another thread read still happens-after the consumer's copy of the
	 * cells below it. */
	if (DEBUG_ASSERT_ENABLED) { /* before the store: whoever uses the stored bound sees it */
		uint64_t seen = __atomic_load_n(&l->bound_seen, __ATOMIC_RELAXED);
		while (seen < bound && !__atomic_compare_exchange_n(&l->bound_seen, &seen, bound, true,
								   __ATOMIC_RELEASE, __ATOMIC_RELAXED))
			;
	}
	if (bound != cached)
		__atomic_store_n(&l->free_below, bound, __ATOMIC_RELEASE);
	return bound;
}

/* Takes count consecutive tickets of lane (*ticket is the first), waiting on a full lane as w
 * allows (w is shared by the lanes of one barrier, so that the whole barrier waits at most
 * block_ms). */
static bool lane_reserve(struct shm_segment *seg, uint32_t lane, uint32_t count, uint64_t *ticket,
			 struct full_wait *w, bool alone)
{
	struct memtop_lane *c = lane_ctl(seg, lane);
	struct shm_lane_local *l = &seg->lane[lane];
	uint64_t pos = __atomic_load_n(&c->head, __ATOMIC_RELAXED);
	bool refreshed = false;
	for (;;) {
		uint64_t last = pos + count - 1;
		if (last < lane_free_below(seg, lane, false) ||
		    (!refreshed && last < lane_free_below(seg, lane, (refreshed = true)))) {
			/* Cells free for tickets pos to last: take them. */
			if (lane_take(&c->head, &pos, count, alone)) {
				lane_took(seg, lane, pos, ticket);
				return true;
			}
			continue; /* pos now holds the head another producer moved */
		}
		/* A cell still holds a ticket of the lap before, unconsumed: the lane is full. */
		if (!ring_wait_full(seg, l, w))
			return false;
		refreshed = false;
		pos = __atomic_load_n(&c->head, __ATOMIC_RELAXED);
	}
}

bool shm_ring_reserve(struct shm_segment *seg, uint32_t lane, uint64_t *ticket)
{
	return shm_ring_reserve_as(seg, lane, 2, ticket, false);
}

void shm_ring_commit(struct shm_segment *seg, uint32_t lane, uint64_t ticket,
		     const struct memtop_event *ev)
{
	bool ext = record_needs_ext(ev);
	ring_commit(seg, lane, ticket, ev, ext);
	if (!ext) {
		struct memtop_event pad = {.type = MEMTOP_EV_PAD};
		ring_commit(seg, lane, ticket + 1, &pad, false);
	}
}

/* One barrier at a time per process, so that every lane holds the copies of two barriers in the
 * same order (the consumer could not release either otherwise). The lock word holds the owner's tid:
 * a signal handler that interrupts its own thread's barrier gets false instead of waiting forever.
 * A holder waits at most block_ms on full lanes, and so do we for the lock: then the barrier drops. */
static bool barrier_lock(struct shm_segment *seg)
{
	int32_t me = (int32_t)syscall(SYS_gettid);
	uint64_t deadline = 0;
	for (;;) {
		int32_t free_word = 0;
		if (__atomic_compare_exchange_n(&seg->barrier_lock, &free_word, me, false,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return true;
		if (free_word == me)
			return false;
		uint64_t now = shm_now_ns();
		if (deadline == 0)
			deadline = now + (uint64_t)seg->block_ms * 1000000ull;
		else if (now > deadline)
			return false;
		sched_yield();
	}
}

/* A copy of ev in every lane (two records each: the barrier's number is in the extension). All
 * tickets are reserved before any is committed, so once the consumer sees one copy every lane has
 * its copy's tickets taken: the barrier sits after everything reserved before it in any lane.
 * Lanes that stay full past the bound (block_ms for the whole barrier, while our earlier tickets
 * hold their lanes back) drop the barrier: the tickets already taken are committed as PAD
 * records, which the consumer skips. */
enum shm_push_result shm_ring_push_barrier(struct shm_segment *seg, const struct memtop_event *ev)
{
	uint64_t tickets[MEMTOP_LANES_MAX];
	struct full_wait w = {0, 0, 0}; /* one bound for the whole barrier */
	if (!barrier_lock(seg))
		return SHM_DROPPED;
	uint32_t got = 0;
	while (got < seg->lanes && lane_reserve(seg, got, 2, &tickets[got], &w, false))
		got++;
	bool whole = got == seg->lanes;
	struct memtop_event copy = *ev;
	if (whole) {
		copy.flags |= MEMTOP_EVF_BARRIER;
		copy.link = ++seg->barrier_seq;
	} else {
		memset(&copy, 0, sizeof copy);
		copy.type = MEMTOP_EV_PAD;
	}
	for (uint32_t k = 0; k < got; k++) {
		if (whole) {
			ring_commit(seg, k, tickets[k], &copy, true);
		} else {
			ring_commit(seg, k, tickets[k], &copy, false);
			ring_commit(seg, k, tickets[k] + 1, &copy, false);
		}
	}
	__atomic_store_n(&seg->barrier_lock, 0, __ATOMIC_RELEASE);
	return whole ? SHM_PUSHED : SHM_DROPPED;
}

#if defined(__x86_64__)
int8_t shm_cpu_prefetchw = -1;

bool shm_cpu_probe_prefetchw(void)
{
	unsigned a, b, c = 0, d;
	int8_t has = __get_cpuid(0x80000001u, &a, &b, &c, &d) && (c & (1u << 8)) ? 1 : 0;
	__atomic_store_n(&shm_cpu_prefetchw, has, __ATOMIC_RELAXED);
	return has;
}
#endif

bool shm_ring_reserve_as(struct shm_segment *seg, uint32_t lane, uint32_t count, uint64_t *ticket,
			 bool alone)
{
	struct full_wait w = {0, 0, 0};
	return lane_reserve(seg, lane, count, ticket, &w, alone);
}

enum shm_push_result shm_ring_push_as(struct shm_segment *seg, const struct memtop_event *ev,
				     bool alone)
{
	return shm_ring_push_inline(seg, ev, alone);
}

enum shm_push_result shm_ring_push(struct shm_segment *seg, const struct memtop_event *ev)
{
	return shm_ring_push_as(seg, ev, false);
}
