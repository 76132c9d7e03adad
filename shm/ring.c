/* The event ring: a bounded multi-producer single-consumer queue of one-cache-line records with
 * per-cell sequence numbers, after Vyukov's bounded MPMC queue with one change: the consumer never
 * writes a cell. A producer commits ticket t by storing seq = t + 1 (release) after the record; the
 * consumer frees cells by publishing ring_tail (release) once per batch, and producers take a
 * ticket only below ring_tail + ring_cap. So each record crosses from a producer's cache to the
 * consumer's once, instead of the cell line bouncing back for a "free" mark.
 * Producers never lock; the consumer trusts nothing it reads. Positions are free-running 64-bit tickets.
 *
 * Invariant (causal order per address, DESIGN invariant 1): records are consumed in ticket order, and a
 * ticket is taken by a successful CAS on ring_head, so whoever calls reserve first is consumed first. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "guard.h"
#include "internal.h"

static inline uint64_t ring_mask(const struct shm_segment *seg)
{
	return (uint64_t)seg->ring_cap - 1;
}

static inline struct memtop_event *ring_cell(const struct shm_segment *seg, uint64_t ticket)
{
	return &seg->ring[ticket & ring_mask(seg)];
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* ---- TARGET side ---- */

struct full_wait {
	uint64_t deadline_ns;
	uint64_t next_check_ns;
	unsigned spins;
};

/* Called when the cell for our ticket still holds an unconsumed record. Returns true to retry,
 * false to drop. Waits only while a live consumer exists, and at most block_ms per full episode:
 * after one timeout, later pushes drop at once until the ring has space again (seg->dropping). */
static bool ring_wait_full(struct shm_segment *seg, struct full_wait *w)
{
	if (__atomic_load_n(&seg->dropping, __ATOMIC_RELAXED) || !shm_consumer_present(seg))
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
		__atomic_store_n(&seg->dropping, 1, __ATOMIC_RELAXED);
		return false;
	}
	if (now >= w->next_check_ns) {
		/* Slow check (kill + /proc read): a dead or stale consumer never blocks the target. */
		if (!shm_consumer_alive(seg)) {
			/* Dead consumer: later pushes drop at once instead of re-checking per call. */
			__atomic_store_n(&seg->dropping, 1, __ATOMIC_RELAXED);
			return false;
		}
		w->next_check_ns = now + 50000000ull;
	}
	struct timespec ts = {0, w->spins < 200 ? 20000 : 200000};
	w->spins++;
	nanosleep(&ts, NULL);
	return true;
}

/* Tickets below ring_tail + ring_cap have free cells: the consumer publishes ring_tail (release)
 * after it has copied every record below it. The bound is cached per process and refreshed only
 * when a ticket reaches it, so producers read the consumer's line about once per batch. */
static uint64_t ring_free_below(struct shm_segment *seg, bool refresh)
{
	uint64_t cached = __atomic_load_n(&seg->free_below, __ATOMIC_ACQUIRE);
	if (!refresh)
		return cached;
	uint64_t bound = __atomic_load_n(&seg->hdr->ring_tail, __ATOMIC_ACQUIRE) + seg->ring_cap;
	/* Store only when it moved: on a full ring every producer refreshes on every attempt, and a
	 * store each time would bounce the line between them. acquire/release through the cache: a
	 * thread using a bound another thread read still happens-after the consumer's copy of the
	 * cells below it. */
	if (bound != cached)
		__atomic_store_n(&seg->free_below, bound, __ATOMIC_RELEASE);
	return bound;
}

bool shm_ring_reserve(struct shm_segment *seg, uint64_t *ticket)
{
	struct memtop_seg_header *h = seg->hdr;
	struct full_wait w = {0, 0, 0};
	uint64_t pos = __atomic_load_n(&h->ring_head, __ATOMIC_RELAXED);
	bool refreshed = false;
	for (;;) {
		if (pos < ring_free_below(seg, false) ||
		    (!refreshed && pos < ring_free_below(seg, (refreshed = true)))) {
			/* Cell free for ticket pos: take the ticket. Relaxed is enough: the bound
			 * (acquire) orders our record writes after the consumer's copy, and the
			 * cell's seq (release in commit) publishes them. */
			if (__atomic_compare_exchange_n(&h->ring_head, &pos, pos + 1, true,
							__ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
				if (__builtin_expect(seg->dropping, 0))
					__atomic_store_n(&seg->dropping, 0, __ATOMIC_RELAXED);
				*ticket = pos;
				return true;
			}
			continue; /* pos now holds the head another producer moved */
		}
		/* The cell still holds ticket pos - cap, unconsumed: the ring is full. */
		if (!ring_wait_full(seg, &w))
			return false;
		refreshed = false;
		pos = __atomic_load_n(&h->ring_head, __ATOMIC_RELAXED);
	}
}

void shm_ring_commit(struct shm_segment *seg, uint64_t ticket, const struct memtop_event *ev)
{
	struct memtop_event *cell = ring_cell(seg, ticket);
#ifdef __SANITIZE_THREAD__
	/* The producer of this cell one lap earlier happens-before us through the consumer process
	 * (its seq release, the consumer's copy, the consumer's ring_tail release, our acquire of the
	 * bound). ThreadSanitizer cannot see that process; acquiring the earlier seq gives it the
	 * same edge. Not in normal builds: the load would cost a coherence round trip. */
	(void)__atomic_load_n(&cell->seq, __ATOMIC_ACQUIRE);
#endif
	cell->type = ev->type;
	cell->flags = ev->flags;
	cell->thread_slot = ev->thread_slot;
	cell->stack_id = ev->stack_id;
	cell->timestamp_ns = ev->timestamp_ns;
	cell->addr = ev->addr;
	cell->size = ev->size;
	cell->aux = ev->aux;
	cell->usable = ev->usable;
	/* Publish: the record's fields happen-before the consumer's acquire of seq. */
	__atomic_store_n(&cell->seq, ticket + 1, __ATOMIC_RELEASE);
}

enum shm_push_result shm_ring_push(struct shm_segment *seg, const struct memtop_event *ev)
{
	uint64_t ticket;
	if (!shm_consumer_present(seg))
		return SHM_NO_CONSUMER;
	if (!shm_ring_reserve(seg, &ticket))
		return SHM_DROPPED;
	shm_ring_commit(seg, ticket, ev);
	return SHM_PUSHED;
}

/* ---- MONITOR side ---- */

enum shm_pop_status shm_ring_pop(struct shm_segment *seg, struct memtop_event *out, size_t max,
				 size_t *n)
{
	volatile size_t got = 0;
	volatile uint64_t tail = seg->tail;
	volatile enum shm_pop_status st = SHM_POP_OK;
	SHM_GUARD_BEGIN {
		while (got < max) {
			struct memtop_event *cell = ring_cell(seg, tail);
			/* Ready when the producer of ticket tail committed: seq = tail + 1 (a cell of an
			 * earlier lap holds tail - cap + 1, a never-used cell 0). We never write cells:
			 * each record crosses from a producer's cache to ours once. */
			uint64_t seq = __atomic_load_n(&cell->seq, __ATOMIC_ACQUIRE);
			if (seq != tail + 1) {
				/* Touch the producers' head line only when we must tell empty from
				 * pending; a partial batch leaves it alone. */
				if (got == 0) {
					uint64_t head = __atomic_load_n(&seg->hdr->ring_head,
									__ATOMIC_ACQUIRE);
					st = head == tail ? SHM_POP_EMPTY : SHM_POP_PENDING;
				}
				break;
			}
			memcpy(&out[got], cell, sizeof *cell);
			got++;
			tail++;
		}
		/* Free the copied cells (release: our copies happen-before a producer's reuse). */
		if (got)
			__atomic_store_n(&seg->hdr->ring_tail, tail, __ATOMIC_RELEASE);
	} SHM_GUARD_FAIL {
		st = SHM_POP_BUS;
	} SHM_GUARD_END;
	seg->tail = tail;
	*n = got;
	return got ? SHM_POP_OK : st;
}

void shm_ring_skip(struct shm_segment *seg)
{
	seg->tail++;
	SHM_GUARD_BEGIN {
		__atomic_store_n(&seg->hdr->ring_tail, seg->tail, __ATOMIC_RELEASE);
	} SHM_GUARD_FAIL {
	} SHM_GUARD_END;
}

const char *shm_event_check(const struct shm_segment *seg, const struct memtop_event *ev)
{
	if (ev->type == MEMTOP_EV_NONE || ev->type >= MEMTOP_EV_TYPE_MAX)
		return "unknown event type";
	if (ev->thread_slot >= seg->threads_count)
		return "thread slot out of range";
	if (ev->stack_id != MEMTOP_STACK_NONE && ev->stack_id != MEMTOP_STACK_OVERFLOW &&
	    ev->stack_id >= seg->stacks_cap)
		return "stack id out of range";
	if (ev->type == MEMTOP_EV_TAG && (ev->aux == 0 || ev->aux > seg->tags_cap))
		return "tag id out of range";
	return NULL;
}
