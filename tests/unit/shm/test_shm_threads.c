/* Unit tests of the thread table: claim, release, reuse with a new generation, the shared overflow
 * slot when the table is full, and process totals that stay exact across releases and reuse. */
#include "shm_test_util.h"

#include <stdlib.h>

/* setup_segment (shm_test_util.h) makes 4 slots: 3 regular + the overflow slot. */

/* What the preload does per event: the owner bumps its own slot's counters. */
static void count_allocs(struct shm_segment *seg, uint16_t slot, uint64_t n, uint64_t bytes)
{
	struct memtop_counters *c = &seg->threads[slot].c;
	__atomic_fetch_add(&c->allocs, n, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->usable_alloc, n * bytes, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->req_bytes, n * bytes, __ATOMIC_RELAXED);
}

static void count_frees(struct shm_segment *seg, uint16_t slot, uint64_t n, uint64_t bytes)
{
	struct memtop_counters *c = &seg->threads[slot].c;
	__atomic_fetch_add(&c->frees, n, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->usable_freed, n * bytes, __ATOMIC_RELAXED);
}

static void test_claim_release_reuse(void **state)
{
	struct shm_segment *seg = *state;
	assert_int_equal(seg->threads_count, 4);
	uint16_t a = shm_thread_claim(seg, 100, "alpha");
	uint16_t b = shm_thread_claim(seg, 101, "beta");
	uint16_t c = shm_thread_claim(seg, 102, "a-very-long-thread-name");
	assert_true(a < 3 && b < 3 && c < 3);
	assert_true(a != b && b != c && a != c);
	assert_false(shm_thread_is_overflow(seg, a));

	struct memtop_thread_slot s;
	assert_int_equal(shm_thread_read(seg, c, &s), 0);
	assert_int_equal(s.tid, 102);
	assert_int_equal(s.state, MEMTOP_SLOT_LIVE);
	assert_int_equal(s.generation, 1);
	assert_string_equal(s.name, "a-very-long-thr"); /* 15 chars + NUL */

	/* the table is full: the fourth thread shares the overflow slot */
	uint16_t d = shm_thread_claim(seg, 103, "delta");
	uint16_t e = shm_thread_claim(seg, 104, "epsilon");
	assert_int_equal(d, 3);
	assert_int_equal(e, 3);
	assert_true(shm_thread_is_overflow(seg, d));
	assert_int_equal(shm_thread_read(seg, 3, &s), 0);
	assert_string_equal(s.name, "(overflow)");
	shm_thread_release(seg, d); /* the overflow slot is never released */
	assert_int_equal(seg->threads[3].state, MEMTOP_SLOT_LIVE);
	shm_thread_set_name(seg, d, "renamed"); /* nor renamed */
	assert_string_equal(seg->threads[3].name, "(overflow)");

	shm_thread_release(seg, b);
	assert_int_equal(seg->threads[b].state, MEMTOP_SLOT_FREE);
	uint16_t f = shm_thread_claim(seg, 105, "phi");
	assert_int_equal(f, b); /* the only free slot */
	assert_int_equal(shm_thread_read(seg, f, &s), 0);
	assert_int_equal(s.generation, 2);
	assert_int_equal(s.tid, 105);
	assert_string_equal(s.name, "phi");
	shm_thread_set_name(seg, f, "renamed");
	assert_int_equal(shm_thread_read(seg, f, &s), 0);
	assert_string_equal(s.name, "renamed");

	assert_int_equal(shm_thread_read(seg, seg->threads_count, &s), -1);
	assert_int_equal(shm_thread_read(seg, UINT32_MAX, &s), -1);
}

/* Totals are the plain sum over slots; a released slot keeps its counts, and its next owner's own
 * share is c - base. */
static void test_totals_exact_across_release(void **state)
{
	struct shm_segment *seg = *state;
	uint16_t a = shm_thread_claim(seg, 200, "a");
	count_allocs(seg, a, 10, 32);
	count_frees(seg, a, 4, 32);
	shm_thread_release(seg, a);
	uint16_t b = shm_thread_claim(seg, 201, "b");
	uint16_t c = shm_thread_claim(seg, 202, "c");
	uint16_t d = shm_thread_claim(seg, 203, "d");
	uint16_t o = shm_thread_claim(seg, 204, "o");
	assert_true(shm_thread_is_overflow(seg, o));
	count_allocs(seg, b, 5, 64);
	count_allocs(seg, c, 7, 16);
	count_frees(seg, d, 2, 32);
	count_allocs(seg, o, 3, 100);
	__atomic_fetch_add(&seg->threads[o].c.dropped, 9, __ATOMIC_RELAXED);
	__atomic_fetch_add(&seg->threads[c].c.untracked, 11, __ATOMIC_RELAXED);

	/* whichever slot reused a's, its owner's own share starts at zero */
	uint16_t reused = a == b ? b : a == c ? c : d;
	struct memtop_thread_slot s;
	assert_int_equal(shm_thread_read(seg, reused, &s), 0);
	assert_int_equal(s.generation, 2);
	assert_int_equal(s.base.allocs, 10);
	assert_int_equal(s.base.frees, 4);

	struct memtop_counters t;
	assert_int_equal(shm_totals(seg, &t), 0);
	assert_int_equal(t.allocs, 10 + 5 + 7 + 3);
	assert_int_equal(t.frees, 4 + 2);
	assert_int_equal(t.usable_alloc, 320 + 320 + 112 + 300);
	assert_int_equal(t.usable_freed, 128 + 64);
	assert_int_equal(t.req_bytes, 320 + 320 + 112 + 300);
	assert_int_equal(t.dropped, 9);
	assert_int_equal(t.untracked, 11);

	shm_thread_release(seg, b);
	shm_thread_release(seg, c);
	shm_thread_release(seg, d);
	struct memtop_counters after;
	assert_int_equal(shm_totals(seg, &after), 0);
	assert_memory_equal(&after, &t, sizeof t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_claim_release_reuse, setup_segment, teardown_segment),
		cmocka_unit_test_setup_teardown(test_totals_exact_across_release, setup_segment,
						teardown_segment),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	test_unlink_segment(getpid());
	return failed;
}
