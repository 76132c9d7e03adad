/* The thread table: one slot per live thread with its cumulative counters, plus a shared overflow
 * slot (the last one) for threads beyond capacity, so nothing is ever uncounted.
 * TARGET: claim/release/rename (allocation-free). MONITOR: guarded copies and totals. */
#include <string.h>

#include "guard.h"
#include "internal.h"

bool shm_thread_is_overflow(const struct shm_segment *seg, uint16_t slot)
{
	return slot == seg->threads_count - 1;
}

static void slot_copy_name(struct memtop_thread_slot *s, const char *name)
{
	size_t i = 0;
	if (name)
		for (; i < MEMTOP_THREAD_NAME_MAX - 1 && name[i]; i++)
			s->name[i] = name[i];
	memset(s->name + i, 0, MEMTOP_THREAD_NAME_MAX - i);
}

uint16_t shm_thread_claim(struct shm_segment *seg, int32_t tid, const char *name)
{
	uint32_t n = seg->threads_count - 1;
	/* Start the scan near the tid so concurrent thread starts rarely race for one slot. */
	uint32_t start = (uint32_t)tid % n;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = (start + k) % n;
		struct memtop_thread_slot *s = &seg->threads[i];
		uint32_t expected = MEMTOP_SLOT_FREE;
		if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) != MEMTOP_SLOT_FREE)
			continue;
		if (!__atomic_compare_exchange_n(&s->state, &expected, MEMTOP_SLOT_LIVE, false,
						 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			continue;
		/* We own the slot: only we write its counters from now on. */
		s->generation++;
		s->tid = tid;
		s->claimed_ns = shm_now_ns();
		slot_copy_name(s, name);
		memcpy(&s->base, &s->c, sizeof s->c);
		return (uint16_t)i;
	}
	return (uint16_t)n;
}

void shm_thread_release(struct shm_segment *seg, uint16_t slot)
{
	if (slot >= seg->threads_count - 1)
		return;
	/* Counters stay in the slot (cumulative), so totals are unchanged by the release. */
	__atomic_store_n(&seg->threads[slot].state, MEMTOP_SLOT_FREE, __ATOMIC_RELEASE);
}

void shm_thread_set_name(struct shm_segment *seg, uint16_t slot, const char *name)
{
	if (slot < seg->threads_count - 1)
		slot_copy_name(&seg->threads[slot], name);
}

int shm_thread_read(struct shm_segment *seg, uint32_t idx, struct memtop_thread_slot *out)
{
	if (idx >= seg->threads_count)
		return -1;
	volatile int rc = 0;
	SHM_GUARD_BEGIN {
		memcpy(out, &seg->threads[idx], sizeof *out);
		out->name[MEMTOP_THREAD_NAME_MAX - 1] = '\0';
	} SHM_GUARD_FAIL {
		rc = -1;
	} SHM_GUARD_END;
	return rc;
}

int shm_totals(struct shm_segment *seg, struct memtop_counters *out)
{
	volatile int rc = 0;
	memset(out, 0, sizeof *out);
	SHM_GUARD_BEGIN {
		for (uint32_t i = 0; i < seg->threads_count; i++) {
			const struct memtop_counters *c = &seg->threads[i].c;
			out->allocs += __atomic_load_n(&c->allocs, __ATOMIC_RELAXED);
			out->frees += __atomic_load_n(&c->frees, __ATOMIC_RELAXED);
			out->usable_alloc += __atomic_load_n(&c->usable_alloc, __ATOMIC_RELAXED);
			out->usable_freed += __atomic_load_n(&c->usable_freed, __ATOMIC_RELAXED);
			out->req_bytes += __atomic_load_n(&c->req_bytes, __ATOMIC_RELAXED);
			out->dropped += __atomic_load_n(&c->dropped, __ATOMIC_RELAXED);
			out->untracked += __atomic_load_n(&c->untracked, __ATOMIC_RELAXED);
		}
	} SHM_GUARD_FAIL {
		rc = -1;
	} SHM_GUARD_END;
	return rc;
}

int shm_header_read(struct shm_segment *seg, struct memtop_seg_header *out)
{
	volatile int rc = 0;
	SHM_GUARD_BEGIN {
		memcpy(out, seg->hdr, sizeof *out);
		out->exe[MEMTOP_EXE_MAX - 1] = '\0';
	} SHM_GUARD_FAIL {
		rc = -1;
	} SHM_GUARD_END;
	return rc;
}
