/* segcheck: tells possible target-side counters from scribbled ones, so that the monitor marks a
 * damaged segment instead of printing nonsense as fact. Never trusts a value before bounding it;
 * never writes to the segment. */
#include "proc/segcheck.h"

/* No allocator serves more than this many calls per second per process (glibc malloc+free on a
 * fast core: ~50 M/s; this leaves two orders of magnitude for many cores). */
#define CALLS_PER_S_MAX 4000000000ull
/* Slack for a process whose uptime is unknown or tiny. */
#define CALLS_SLACK (60ull * CALLS_PER_S_MAX)
/* The largest single block a 48-bit address space can hold. */
#define BLOCK_MAX (1ull << 47)

static bool add_ok(uint64_t *sum, uint64_t v)
{
	return !__builtin_add_overflow(*sum, v, sum);
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static bool slot_add(struct memtop_counters *sum, const struct memtop_counters *c, uint64_t calls_max)
{
	if (c->allocs > calls_max || c->frees > calls_max || c->dropped > calls_max ||
	    c->untracked > calls_max)
		return false;
	return add_ok(&sum->allocs, c->allocs) && add_ok(&sum->frees, c->frees) &&
	       add_ok(&sum->usable_alloc, c->usable_alloc) && add_ok(&sum->usable_freed, c->usable_freed) &&
	       add_ok(&sum->req_bytes, c->req_bytes) && add_ok(&sum->dropped, c->dropped) &&
	       add_ok(&sum->untracked, c->untracked);
}

static bool totals_possible(const struct memtop_counters *t, uint64_t calls_max)
{
	uint64_t calls = t->allocs + t->frees; /* both bounded by calls_max: no overflow */
	if (calls > 2 * calls_max)
		return false;
	/* every dropped or untracked event is one call counted (realloc: two events at most) */
	if (t->dropped > 2 * calls + 4096 || t->untracked > 2 * calls + 4096)
		return false;
	/* frees without an allocation exist (blocks from before the preload), never by this much */
	if (t->frees > 4 * t->allocs + (1ull << 24))
		return false;
	if (t->usable_alloc > mul_sat(t->allocs + 1, BLOCK_MAX) ||
	    t->req_bytes > mul_sat(t->allocs + 1, BLOCK_MAX))
		return false;
	if (t->usable_freed > mul_sat(t->frees + 1, BLOCK_MAX) ||
	    t->usable_freed > t->usable_alloc + (1ull << 32) * 4)
		return false;
	return true;
}

bool segcheck_counters(struct shm_segment *seg, uint64_t uptime_ns, struct memtop_counters *out)
{
	uint64_t calls_max = mul_sat(uptime_ns / 1000000000ull, CALLS_PER_S_MAX);
	if (calls_max > UINT64_MAX - CALLS_SLACK)
		calls_max = UINT64_MAX - CALLS_SLACK;
	calls_max += CALLS_SLACK;
	if (calls_max > (1ull << 62))
		calls_max = 1ull << 62;
	struct memtop_counters sum = {0};
	for (uint32_t i = 0; i < seg->threads_count; i++) {
		struct memtop_thread_slot ts;
		if (shm_thread_read(seg, i, &ts) != 0 || !slot_add(&sum, &ts.c, calls_max))
			return false;
	}
	if (!totals_possible(&sum, calls_max))
		return false;
	*out = sum;
	return true;
}
