/* Unit tests of the engine: exact aggregates for every event type, realloc's BEGIN/END split
 * (success, failure, NULL, zero size), cross-thread and unknown frees, marks, growth; and the
 * batch loop (prefetching at scale) against one event at a time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "engine/engine.h"

static struct engine E;

static uint64_t next_link; /* the realloc number BEGIN and END carry (0: a test sets none) */

static void apply(uint8_t type, uint16_t slot, uint32_t stack, uint64_t addr, uint64_t size,
		  uint64_t aux, uint8_t flags)
{
	struct memtop_event ev = {.type = type, .flags = flags, .thread_slot = slot, .stack_id = stack,
				  .timestamp_ns = 5000000000ull, .addr = addr, .size = size, .aux = aux,
				  .link = next_link};
	urcu_memb_read_lock();
	engine_apply(&E, &ev);
	urcu_memb_read_unlock();
	engine_batch_end(&E);
}

static int setup(void **state)
{
	(void)state;
	return engine_init(&E, 8, 1000);
}

static int teardown(void **state)
{
	(void)state;
	engine_destroy(&E);
	return 0;
}

static void test_malloc_free(void **state)
{
	(void)state;
	apply(MEMTOP_EV_MALLOC, 0, 1, 0x100, 10, 0, 0);
	apply(MEMTOP_EV_CALLOC, 0, 1, 0x200, 20, 0, 0);
	apply(MEMTOP_EV_MEMALIGN, 0, 2, 0x300, 30, 64, 0);
	apply(MEMTOP_EV_MALLOC, 0, 2, 0, 40, 0, MEMTOP_EVF_FAILED); /* failed: no block */
	apply(MEMTOP_EV_FREE, 0, 0, 0x200, 0, 0, 0);
	apply(MEMTOP_EV_FREE, 0, 0, 0, 0, 0, 0);       /* free(NULL): nothing */
	apply(MEMTOP_EV_FREE, 0, 0, 0x999, 0, 0, 0);   /* allocated before attach */
	assert_int_equal(E.live_bytes, 40);
	assert_int_equal(E.live_blocks, 2);
	assert_int_equal(E.allocs, 3);
	assert_int_equal(E.frees, 1);
	assert_int_equal(E.unknown_frees, 1);
	assert_int_equal(E.peak_bytes, 60);
	assert_int_equal(engine_site(&E, 1)->live_bytes, 10);
	assert_int_equal(engine_site(&E, 1)->allocs, 2);
	assert_int_equal(engine_site(&E, 1)->frees, 1);
	assert_int_equal(engine_site(&E, 2)->live_blocks, 1);
	assert_int_equal(E.n_site_ids, 2);
}

static void site_peak(uint32_t id, uint64_t bytes, uint64_t blocks)
{
	uint64_t b, n;
	engine_site_peak(&E, engine_site(&E, id), &b, &n);
	assert_int_equal(b, bytes);
	assert_int_equal(n, blocks);
}

/* Peak attribution without replay: after every event each site's figures at the latest peak of
 * live bytes; temporary allocations; the size histogram. */
static void test_peak_temporary_sizes(void **state)
{
	(void)state;
	apply(MEMTOP_EV_MALLOC, 0, 1, 0x100, 100, 0, 0);  /* peak 100: site 1 100 */
	apply(MEMTOP_EV_MALLOC, 0, 2, 0x200, 300, 0, 0);  /* peak 400: 1 100, 2 300 */
	site_peak(1, 100, 1);
	site_peak(2, 300, 1);
	apply(MEMTOP_EV_FREE, 0, 0, 0x200, 0, 0, 0);      /* temporary: the latest allocation */
	apply(MEMTOP_EV_MALLOC, 0, 3, 0x300, 50, 0, 0);   /* 150 live: below the peak */
	apply(MEMTOP_EV_MALLOC, 0, 1, 0x400, 10, 0, 0);   /* 160 */
	site_peak(1, 100, 1);
	site_peak(2, 300, 1);
	site_peak(3, 0, 0);
	apply(MEMTOP_EV_FREE, 0, 0, 0x300, 0, 0, 0);      /* not temporary: 0x400 came after */
	apply(MEMTOP_EV_MALLOC, 0, 2, 0x500, 400, 0, 0);  /* peak 510: 1 110, 2 400, 3 0 */
	site_peak(1, 110, 2);
	site_peak(2, 400, 1);
	site_peak(3, 0, 0);
	apply(MEMTOP_EV_FREE, 0, 0, 0x100, 0, 0, 0);
	site_peak(1, 110, 2);
	assert_int_equal(E.peak_bytes, 510);
	assert_int_equal(E.temporary, 1);
	assert_int_equal(engine_site(&E, 2)->temporary, 1);
	assert_int_equal(engine_site(&E, 3)->temporary, 0);
	assert_int_equal(E.size_hist[6], 1); /* 50: [32, 64) */
	assert_int_equal(E.size_hist[7], 1); /* 100 */
	assert_int_equal(E.size_hist[4], 1); /* 10: [8, 16) */
	assert_int_equal(E.size_hist[9], 2); /* 300, 400: [256, 512) */
}

/* The timeline in fixed memory: 1000 events a millisecond apart thin it to at most
 * MODEL_TIMELINE_MAX points, the step doubling each time it fills; times stay in order. */
static void test_timeline_thins(void **state)
{
	(void)state;
	for (uint64_t i = 0; i < 1000; i++) {
		struct memtop_event ev = {.type = MEMTOP_EV_MALLOC, .stack_id = 1,
					  .timestamp_ns = 7000000000ull + i * 1000000ull,
					  .addr = 0x1000 + i * 16, .size = 8};
		urcu_memb_read_lock();
		engine_apply(&E, &ev);
		urcu_memb_read_unlock();
	}
	const struct model_timeline *tl = &E.timeline;
	assert_int_equal(tl->step_ms, 4); /* 1 -> 2 at 256 points, -> 4 at 512 ms */
	assert_true(tl->n <= MODEL_TIMELINE_MAX && tl->n >= MODEL_TIMELINE_MAX / 2);
	assert_int_equal(tl->t_ms[0], 0);
	assert_int_equal(tl->live_bytes[0], 8);
	for (uint32_t i = 1; i < tl->n; i++) {
		assert_true(tl->t_ms[i] > tl->t_ms[i - 1]);
		assert_int_equal(tl->live_bytes[i], 8 * (uint64_t)(tl->t_ms[i] + 1));
	}
	assert_true(tl->t_ms[tl->n - 1] >= 995);
}

static void apply_at(uint8_t type, uint64_t ts_ns, uint64_t addr, uint64_t size)
{
	struct memtop_event ev = {.type = type, .stack_id = 1, .timestamp_ns = ts_ns, .addr = addr,
				  .size = size};
	urcu_memb_read_lock();
	engine_apply(&E, &ev);
	urcu_memb_read_unlock();
}

/* A spike that rises and falls between two points has no point of its own but stays in its
 * bucket's max (and the fall in a later bucket's min), through every thinning of the line. */
static void test_timeline_keeps_spikes(void **state)
{
	(void)state;
	const uint64_t t0 = 9000000000ull, ms = 1000000ull;
	apply_at(MEMTOP_EV_MALLOC, t0, 0x100, 100);              /* point 0: 100 */
	apply_at(MEMTOP_EV_MALLOC, t0 + ms / 4, 0x200, 50000);   /* same step: no point */
	apply_at(MEMTOP_EV_FREE, t0 + ms / 2, 0x200, 0);
	const struct model_timeline *tl = &E.timeline;
	assert_int_equal(tl->n, 1);
	assert_int_equal(tl->live_bytes[0], 100);
	assert_int_equal(tl->max_bytes[0], 50100);
	assert_int_equal(tl->min_bytes[0], 100);
	/* 1000 more points a ms apart; a dip to 0 and back within the 700th step */
	for (uint64_t i = 1; i <= 1000; i++) {
		apply_at(MEMTOP_EV_MALLOC, t0 + i * ms, 0x1000 + i * 16, 8);
		if (i == 700) {
			apply_at(MEMTOP_EV_FREE, t0 + i * ms + 1000, 0x100, 0);
			apply_at(MEMTOP_EV_MALLOC, t0 + i * ms + 2000, 0x100, 100);
		}
	}
	assert_int_equal(tl->step_ms, 4);
	uint64_t top = 0, bottom = UINT64_MAX;
	for (uint32_t i = 0; i < tl->n; i++) {
		assert_true(tl->min_bytes[i] <= tl->live_bytes[i] && tl->live_bytes[i] <= tl->max_bytes[i]);
		top = tl->max_bytes[i] > top ? tl->max_bytes[i] : top;
		bottom = tl->min_bytes[i] < bottom ? tl->min_bytes[i] : bottom;
	}
	assert_int_equal(tl->max_bytes[0], 50100); /* merged twice, still there */
	assert_int_equal(top, 50100);
	assert_int_equal(bottom, 100);             /* the first point's own value */
	/* the dip: 700 small blocks live (5600 B) with the 100 gone, in the bucket holding 700 ms */
	uint32_t k = 0;
	while (k + 1 < tl->n && tl->t_ms[k + 1] <= 700)
		k++;
	assert_int_equal(tl->min_bytes[k], 5600);
}

static void test_realloc_paths(void **state)
{
	(void)state;
	/* realloc(NULL, 50) */
	apply(MEMTOP_EV_REALLOC_END, 0, 3, 0x1000, 50, 0, 0);
	/* realloc(0x1000, 500) -> 0x2000 */
	apply(MEMTOP_EV_REALLOC_BEGIN, 0, 3, 0x1000, 0, 0, 0);
	assert_int_equal(E.live_blocks, 0); /* the old block left the live set at BEGIN */
	apply(MEMTOP_EV_REALLOC_END, 0, 4, 0x2000, 500, 0x1000, 0);
	/* failed realloc(0x2000, huge): the old block stays, attributed to its site */
	apply(MEMTOP_EV_REALLOC_BEGIN, 0, 5, 0x2000, 0, 0, 0);
	apply(MEMTOP_EV_REALLOC_END, 0, 5, 0, 1ull << 60, 0x2000, MEMTOP_EVF_FAILED);
	assert_int_equal(E.live_bytes, 500);
	assert_int_equal(engine_site(&E, 4)->live_blocks, 1);
	assert_int_equal(engine_site(&E, 5)->allocs, 0);
	struct liveset_block *b = liveset_lookup(&E.live, 0x2000);
	assert_non_null(b);
	assert_true(b->flags & LIVESET_F_REALLOC);
	/* realloc(0x2000, 0): frees */
	apply(MEMTOP_EV_REALLOC_BEGIN, 0, 6, 0x2000, 0, 0, 0);
	apply(MEMTOP_EV_REALLOC_END, 0, 6, 0, 0, 0x2000, 0);
	assert_int_equal(E.live_blocks, 0);
	assert_int_equal(E.allocs, 2);
	assert_int_equal(E.frees, 2);
	assert_int_equal(E.unknown_frees, 0);
}

/* Invariant 1: thread 1 reallocs A; before END, thread 2 gets A from malloc (A was released by the
 * real realloc). BEGIN removed A already, so the new A is not confused with the old one. */
static void test_realloc_address_reused_by_other_thread(void **state)
{
	(void)state;
	apply(MEMTOP_EV_MALLOC, 1, 7, 0xA000, 16, 0, 0);
	apply(MEMTOP_EV_REALLOC_BEGIN, 1, 7, 0xA000, 0, 0, 0);
	apply(MEMTOP_EV_MALLOC, 2, 8, 0xA000, 16, 0, 0);
	apply(MEMTOP_EV_REALLOC_END, 1, 7, 0xB000, 4000, 0xA000, 0);
	assert_int_equal(E.live_blocks, 2);
	assert_int_equal(E.live_bytes, 4016);
	assert_int_equal(E.duplicate_allocs, 0);
	assert_int_equal(liveset_lookup(&E.live, 0xA000)->stack_id, 8);
}

/* Lanes: a realloc that moves its block to another region pushes END in the new block's lane, so
 * the engine may see END before BEGIN (flagged split). Either order gives the same result, and the
 * old block is freed at BEGIN, after every earlier event of its address (here: its malloc, which
 * came through a lane that was behind). */
static void test_realloc_split_end_first(void **state)
{
	(void)state;
	apply(MEMTOP_EV_MALLOC, 1, 7, 0xA000, 16, 0, 0);
	/* END first: the new block is live at once, the old one still is */
	apply(MEMTOP_EV_REALLOC_END, 1, 9, 0xB000, 4000, 0xA000, MEMTOP_EVF_SPLIT);
	assert_int_equal(E.live_blocks, 2);
	assert_int_equal(E.live_bytes, 4016);
	/* BEGIN frees the old block; thread 2 then reuses its address */
	apply(MEMTOP_EV_REALLOC_BEGIN, 1, 7, 0xA000, 0, 0, 0);
	apply(MEMTOP_EV_MALLOC, 2, 8, 0xA000, 32, 0, 0);
	assert_int_equal(E.live_blocks, 2);
	assert_int_equal(E.live_bytes, 4032);
	assert_int_equal(E.allocs, 3);
	assert_int_equal(E.frees, 1);
	assert_int_equal(E.unknown_frees, 0);
	assert_int_equal(E.duplicate_allocs, 0);
	assert_int_equal(engine_site(&E, 7)->frees, 1);
	assert_int_equal(liveset_lookup(&E.live, 0xA000)->stack_id, 8);
	assert_true(liveset_lookup(&E.live, 0xB000)->flags & LIVESET_F_REALLOC);

	/* the old block's malloc itself may come after the split END (its lane was further behind) */
	apply(MEMTOP_EV_REALLOC_END, 3, 11, 0xD000, 64, 0xC000, MEMTOP_EVF_SPLIT);
	apply(MEMTOP_EV_MALLOC, 3, 10, 0xC000, 8, 0, 0);
	apply(MEMTOP_EV_REALLOC_BEGIN, 3, 10, 0xC000, 0, 0, 0);
	assert_null(liveset_lookup(&E.live, 0xC000));
	assert_non_null(liveset_lookup(&E.live, 0xD000));
	assert_int_equal(engine_site(&E, 10)->live_blocks, 0);
	assert_int_equal(engine_site(&E, 10)->frees, 1);
	assert_int_equal(E.unknown_frees, 0);

	/* BEGIN first, then the split END: the usual path */
	apply(MEMTOP_EV_REALLOC_BEGIN, 2, 8, 0xA000, 0, 0, 0);
	apply(MEMTOP_EV_REALLOC_END, 2, 12, 0xE000, 100, 0xA000, MEMTOP_EVF_SPLIT);
	assert_null(liveset_lookup(&E.live, 0xA000));
	assert_int_equal(E.live_blocks, 3); /* 0xB000, 0xD000, 0xE000 */
	assert_int_equal(E.live_bytes, 4000 + 64 + 100);
	assert_int_equal(E.unknown_frees, 0);
}

/* One thread loops: p = malloc() (always address O, lane 1); p = realloc(p, big) (another lane);
 * free(p). Two calls are in flight in the ring at once; the lanes may give both ENDs first
 * (E1 E2 B1 B2) or both BEGINs first (B1 B2 E1 E2): each END meets its own BEGIN by link. */
static void loop_events(bool ends_first, bool fail_second)
{
	const uint64_t O = 0x5000;
	uint64_t new1 = 0x7f0000000000ull, new2 = new1 + 0x4000000;
	/* lane of O, in causal order: M1 B1 M2 B2 */
	struct { uint8_t type; uint64_t addr, aux, link; uint8_t flags; } lane_o[] = {
		{MEMTOP_EV_MALLOC, O, 0, 0, 0},
		{MEMTOP_EV_REALLOC_BEGIN, O, 0, 1, 0},
		{MEMTOP_EV_MALLOC, O, 0, 0, 0},
		{MEMTOP_EV_REALLOC_BEGIN, O, 0, 2, 0},
	}, lane_new[] = {
		{MEMTOP_EV_REALLOC_END, new1, O, 1, MEMTOP_EVF_SPLIT},
		{MEMTOP_EV_FREE, new1, 0, 0, 0},
		{MEMTOP_EV_REALLOC_END, new2, O, 2, MEMTOP_EVF_SPLIT},
	};
	if (fail_second) { /* the second realloc fails: its END is in O's lane, after its BEGIN */
		lane_new[2] = (typeof(lane_new[2])){MEMTOP_EV_FREE, 0x9999, 0, 0, 0}; /* filler */
	}
	for (int pass = 0; pass < 2; pass++) {
		bool do_new = ends_first ? pass == 0 : pass == 1;
		size_t n = do_new ? 3 : 4;
		for (size_t i = 0; i < n; i++) {
			const typeof(lane_o[0]) *x = do_new ? &lane_new[i] : &lane_o[i];
			next_link = x->link;
			apply(x->type, 1, x->type == MEMTOP_EV_MALLOC ? 20 : 21, x->addr,
			      x->type == MEMTOP_EV_MALLOC ? 100 : 40 << 20, x->aux, x->flags);
		}
		if (!do_new && fail_second) {
			next_link = 2;
			apply(MEMTOP_EV_REALLOC_END, 1, 21, 0, 1ull << 60, O, MEMTOP_EVF_FAILED);
		}
	}
	next_link = 0;
}

static void test_realloc_split_two_in_flight(void **state)
{
	(void)state;
	for (int order = 0; order < 2; order++) {
		engine_destroy(&E);
		assert_int_equal(engine_init(&E, 8, 1000), 0);
		loop_events(order == 0, false);
		/* live: new2 only; both mallocs' blocks were freed by their reallocs */
		assert_int_equal(E.live_blocks, 1);
		assert_int_equal(E.live_bytes, 40 << 20);
		assert_non_null(liveset_lookup(&E.live, 0x7f0004000000ull));
		assert_int_equal(E.allocs, 4);
		assert_int_equal(E.frees, 3);
		assert_int_equal(E.unknown_frees, 0);
		assert_int_equal(E.duplicate_allocs, 0);
		assert_int_equal(engine_site(&E, 20)->frees, 2);
		assert_int_equal(E.reallocs.used, 0);
	}
	/* the second realloc fails: its old block (the second malloc) stays live */
	for (int order = 0; order < 2; order++) {
		engine_destroy(&E);
		assert_int_equal(engine_init(&E, 8, 1000), 0);
		loop_events(order == 0, true);
		assert_int_equal(E.live_blocks, 1);
		assert_int_equal(E.live_bytes, 100);
		assert_int_equal(liveset_lookup(&E.live, 0x5000)->stack_id, 20);
		assert_int_equal(E.unknown_frees, 1); /* the filler free */
		assert_int_equal(E.reallocs.used, 0);
	}
}

static void test_cross_thread_free(void **state)
{
	(void)state;
	apply(MEMTOP_EV_MALLOC, 1, 9, 0xC000, 100, 0, 0);
	apply(MEMTOP_EV_FREE, 2, 0, 0xC000, 0, 0, 0);
	uint32_t t1 = engine_thread_for_slot(&E, 1), t2 = engine_thread_for_slot(&E, 2);
	assert_int_equal(E.threads[t1].allocs, 1);
	assert_int_equal(E.threads[t1].live_blocks, 0);
	assert_int_equal(E.threads[t2].frees, 1);
	assert_int_equal(E.threads[t2].cross_frees, 1);
	assert_int_equal(E.threads[t1].cross_frees, 0);
}

static void test_mark_unmark(void **state)
{
	(void)state;
	apply(MEMTOP_EV_MALLOC, 0, 1, 0x10, 1, 0, 0);
	apply(MEMTOP_EV_MALLOC, 0, 1, 0x20, 2, 0, 0);
	engine_mark_all(&E, 1);
	assert_int_equal(E.since_mark_blocks, 0);
	apply(MEMTOP_EV_MALLOC, 0, 1, 0x30, 4, 0, 0);
	apply(MEMTOP_EV_MALLOC, 0, 1, 0x40, 8, 0, 0);
	apply(MEMTOP_EV_FREE, 0, 0, 0x10, 0, 0, 0); /* older than the mark: no change */
	apply(MEMTOP_EV_FREE, 0, 0, 0x40, 0, 0, 0);
	assert_int_equal(E.since_mark_blocks, 1);
	assert_int_equal(E.since_mark_bytes, 4);
	engine_unmark(&E);
	assert_int_equal(E.since_mark_blocks, 2);
	assert_int_equal(E.since_mark_bytes, 6);
}

static void test_growth(void **state)
{
	(void)state;
	uint64_t addr = 0x100000;
	for (int k = 0; k < MODEL_GROWTH_SAMPLES; k++) {
		apply(MEMTOP_EV_MALLOC, 0, 11, addr, 100, 0, 0);
		addr += 0x100;
		/* site 12 goes up and down: +100 on even samples, -100 on odd ones */
		if (k % 2 == 0)
			apply(MEMTOP_EV_MALLOC, 0, 12, 0x900000, 100, 0, 0);
		else
			apply(MEMTOP_EV_FREE, 0, 0, 0x900000, 0, 0, 0);
		addr += 0x100;
		engine_sample_growth(&E);
	}
	bool growing;
	int64_t g = engine_site_growth(engine_site(&E, 11), &growing);
	assert_true(growing);
	assert_int_equal(g, 700);
	engine_site_growth(engine_site(&E, 12), &growing);
	assert_false(growing);
}

static void test_tags(void **state)
{
	(void)state;
	apply(MEMTOP_EV_MALLOC, 0, 1, 0x10, 1, 0, 0);
	apply(MEMTOP_EV_TAG, 0, 0, 0, 0, 1, 0);
	apply(MEMTOP_EV_MALLOC, 0, 1, 0x20, 1, 0, 0);
	assert_int_equal(E.n_tags, 1);
	assert_int_equal(E.tags[0].id, 1);
	assert_int_equal(E.tags[0].seq, 2); /* the next block's sequence number */
	assert_int_equal(liveset_lookup(&E.live, 0x20)->seq, 2);
}

/* Random (also nonsensical) event sequences never break the engine's bookkeeping: the totals always
 * equal the sums over the live set, over call sites and over threads. */
static void test_random_sequences_keep_invariants(void **state)
{
	(void)state;
	uint64_t r = 12345;
	for (int i = 0; i < 200000; i++) {
		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		uint8_t type = (uint8_t)(r % (MEMTOP_EV_TYPE_MAX + 2));
		uint16_t slot = (uint16_t)((r >> 8) % 12);       /* includes out-of-range slots */
		uint32_t stack = (uint32_t)((r >> 16) % 1100);  /* includes ids above max */
		uint64_t addr = ((r >> 24) % 512) * 16;         /* small pool: reuse, double frees */
		uint64_t size = (r >> 40) % 300;
		uint64_t aux = ((r >> 33) % 512) * 16;
		apply(type, slot, stack, addr, size, aux, (uint8_t)((r >> 60) & 1));
	}
	uint64_t bytes = 0, blocks = 0;
	struct liveset_iter it;
	struct liveset_block *b;
	urcu_memb_read_lock();
	liveset_for_each(&E.live, &it, b) {
		bytes += b->size;
		blocks++;
	}
	urcu_memb_read_unlock();
	assert_int_equal(blocks, E.live_blocks);
	assert_int_equal(bytes, E.live_bytes);
	uint64_t sb = 0, sn = 0;
	for (uint32_t i = 0; i < E.n_site_ids; i++) {
		sb += engine_site(&E, E.site_ids[i])->live_bytes;
		sn += engine_site(&E, E.site_ids[i])->live_blocks;
	}
	assert_int_equal(sb, E.live_bytes);
	assert_int_equal(sn, E.live_blocks);
	uint64_t tb = 0;
	for (uint32_t i = 0; i < E.n_threads; i++)
		tb += E.threads[i].live_bytes;
	assert_int_equal(tb, E.live_bytes);
}

/* An address allocated again while live: its free was lost. The stale block is dropped and counted
 * (duplicate_allocs), so allocs - frees no longer equals the live blocks: the view must then call
 * the live set approximate (test_snapshot.c checks the header and the flag). */
static void test_duplicate_alloc(void **state)
{
	(void)state;
	apply(MEMTOP_EV_MALLOC, 0, 1, 0x100, 10, 0, 0);
	apply(MEMTOP_EV_MALLOC, 0, 2, 0x100, 30, 0, 0); /* no free of 0x100 in between */
	assert_int_equal(E.duplicate_allocs, 1);
	assert_int_equal(E.allocs, 2);
	assert_int_equal(E.frees, 0);
	assert_int_equal(E.live_blocks, 1);
	assert_int_equal(E.live_bytes, 30);
	assert_int_equal(E.peak_bytes, 30); /* the stale block left before the new one came */
	assert_int_equal(engine_site(&E, 1)->live_blocks, 0);
	assert_int_equal(engine_site(&E, 1)->live_bytes, 0);
	assert_int_equal(engine_site(&E, 2)->live_bytes, 30);
	apply(MEMTOP_EV_FREE, 0, 0, 0x100, 0, 0, 0);
	assert_int_equal(E.live_blocks, 0);
	assert_int_equal(E.unknown_frees, 0);
	assert_int_equal(E.duplicate_allocs, 1);
}

/* ---- engine_apply_batch at scale equals engine_apply one event at a time ----
 * Above PREFETCH_MIN_LIVE (32 k live blocks) the batch loop runs ahead of the events it applies
 * (hashes, probe runs, block and site hints); none of that may change a figure. */

#define SCALE_LIVE 60000u
#define SCALE_EVENTS 400000u

static uint64_t scale_rand(uint64_t *r)
{
	*r ^= *r << 13;
	*r ^= *r >> 7;
	*r ^= *r << 17;
	return *r;
}

/* The next event of a churn over a pool of live addresses: allocations, frees of live, unknown
 * and NULL addresses, duplicate allocations, reallocs (BEGIN then END, or a split END first). */
static size_t scale_events(struct memtop_event *ev, uint64_t *live, uint64_t *r, uint64_t *next_addr,
			   uint64_t *link, uint64_t t)
{
	uint64_t x = scale_rand(r);
	uint32_t k = (uint32_t)((x >> 8) % SCALE_LIVE);
	struct memtop_event base = {.thread_slot = (uint16_t)((x >> 40) % 8),
				    .stack_id = 1 + (uint32_t)((x >> 20) % 900),
				    .timestamp_ns = 1000000000ull + t * 1000ull,
				    .size = 1 + (x >> 48) % 4000};
	ev[0] = ev[1] = base;
	switch (x % 16) {
	case 0: /* realloc, BEGIN first */
	case 1: /* realloc, split END first */
		ev[0].type = MEMTOP_EV_REALLOC_BEGIN;
		ev[0].addr = live[k];
		ev[0].link = ++*link;
		ev[1].type = MEMTOP_EV_REALLOC_END;
		ev[1].addr = *next_addr;
		ev[1].aux = live[k];
		ev[1].link = *link;
		ev[1].flags = MEMTOP_EVF_SPLIT;
		if (x % 16 == 1) {
			struct memtop_event tmp = ev[0];
			ev[0] = ev[1];
			ev[1] = tmp;
		}
		live[k] = *next_addr;
		*next_addr += 32;
		return 2;
	case 2: /* a free of an address never allocated, or of NULL */
		ev[0].type = MEMTOP_EV_FREE;
		ev[0].addr = x & 1 ? 0 : 0x900000000000ull + (x >> 30) % 100000 * 16;
		return 1;
	case 3: /* an allocation at a live address (its free was lost) */
		ev[0].type = MEMTOP_EV_MALLOC;
		ev[0].addr = live[k];
		return 1;
	default: /* free a live block, allocate a new one */
		ev[0].type = MEMTOP_EV_FREE;
		ev[0].addr = live[k];
		ev[1].type = x % 16 == 4 ? MEMTOP_EV_CALLOC : MEMTOP_EV_MALLOC;
		ev[1].addr = *next_addr;
		live[k] = *next_addr;
		*next_addr += 32;
		return 2;
	}
}

static void scale_assert_site_equal(const struct engine_site *a, const struct engine_site *b)
{
	assert_int_equal(a->live_bytes, b->live_bytes);
	assert_int_equal(a->live_blocks, b->live_blocks);
	assert_int_equal(a->allocs, b->allocs);
	assert_int_equal(a->bytes_allocated, b->bytes_allocated);
	assert_int_equal(a->frees, b->frees);
	assert_int_equal(a->temporary, b->temporary);
}

static void scale_assert_equal(struct engine *one, struct engine *batch)
{
	assert_int_equal(one->live_bytes, batch->live_bytes);
	assert_int_equal(one->live_blocks, batch->live_blocks);
	assert_int_equal(one->peak_bytes, batch->peak_bytes);
	assert_int_equal(one->peak_blocks, batch->peak_blocks);
	assert_int_equal(one->allocs, batch->allocs);
	assert_int_equal(one->frees, batch->frees);
	assert_int_equal(one->bytes_allocated, batch->bytes_allocated);
	assert_int_equal(one->bytes_freed, batch->bytes_freed);
	assert_int_equal(one->unknown_frees, batch->unknown_frees);
	assert_int_equal(one->duplicate_allocs, batch->duplicate_allocs);
	assert_int_equal(one->temporary, batch->temporary);
	assert_int_equal(one->events, batch->events);
	assert_int_equal(one->n_site_ids, batch->n_site_ids);
	for (uint32_t i = 0; i < one->n_site_ids; i++) {
		assert_int_equal(one->site_ids[i], batch->site_ids[i]);
		scale_assert_site_equal(engine_site(one, one->site_ids[i]),
					engine_site(batch, batch->site_ids[i]));
		uint64_t pa, pb, qa, qb;
		engine_site_peak(one, engine_site(one, one->site_ids[i]), &pa, &qa);
		engine_site_peak(batch, engine_site(batch, batch->site_ids[i]), &pb, &qb);
		assert_int_equal(pa, pb);
		assert_int_equal(qa, qb);
	}
	assert_int_equal(one->n_threads, batch->n_threads);
	for (uint32_t i = 0; i < one->n_threads; i++) {
		assert_int_equal(one->threads[i].live_bytes, batch->threads[i].live_bytes);
		assert_int_equal(one->threads[i].allocs, batch->threads[i].allocs);
		assert_int_equal(one->threads[i].frees, batch->threads[i].frees);
		assert_int_equal(one->threads[i].cross_frees, batch->threads[i].cross_frees);
	}
	/* the same blocks, with the same record each */
	assert_int_equal(one->live.count, batch->live.count);
	struct liveset_iter it;
	struct liveset_block *b;
	liveset_for_each(&one->live, &it, b) {
		const struct liveset_block *o = liveset_lookup(&batch->live, b->addr);
		assert_non_null(o);
		assert_memory_equal(o, b, sizeof *b);
	}
}

static void test_batch_prefetched_equals_one_by_one(void **state)
{
	(void)state;
	static struct engine one, batch;
	static uint64_t live[SCALE_LIVE];
	static struct memtop_event ev[1100];
	assert_int_equal(engine_init(&one, 8, 1000), 0);
	assert_int_equal(engine_init(&batch, 8, 1000), 0);
	uint64_t r = 0x9e3779b97f4a7c15ull, next_addr = 0x7f0000000000ull, link = 0;
	for (uint32_t i = 0; i < SCALE_LIVE; i++) { /* the pool, live in both: over the prefetch bar */
		live[i] = next_addr;
		next_addr += 32;
		ev[0] = (struct memtop_event){.type = MEMTOP_EV_MALLOC, .thread_slot = (uint16_t)(i % 8),
					      .stack_id = 1 + i % 900, .addr = live[i], .size = 1 + i % 500,
					      .timestamp_ns = 1000000000ull};
		urcu_memb_read_lock();
		engine_apply(&one, &ev[0]);
		engine_apply(&batch, &ev[0]);
		urcu_memb_read_unlock();
	}
	engine_batch_end(&one);
	engine_batch_end(&batch);
	for (uint64_t done = 0, t = 0; done < SCALE_EVENTS; t++) {
		size_t n = 0, want = 1 + (size_t)(scale_rand(&r) % 1024); /* batches of any length */
		while (n < want)
			n += scale_events(&ev[n], live, &r, &next_addr, &link, t);
		urcu_memb_read_lock();
		for (size_t i = 0; i < n; i++)
			engine_apply(&one, &ev[i]);
		engine_apply_batch(&batch, ev, n);
		urcu_memb_read_unlock();
		engine_batch_end(&one);
		engine_batch_end(&batch);
		done += n;
	}
	assert_true(batch.live.count >= 32768); /* the prefetching loop ran to the end */
	assert_true(batch.frees > SCALE_EVENTS / 4);
	urcu_memb_read_lock();
	scale_assert_equal(&one, &batch);
	urcu_memb_read_unlock();
	urcu_memb_barrier();
	engine_destroy(&one);
	engine_destroy(&batch);
}

int main(void)
{
	urcu_memb_register_thread();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_malloc_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_alloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_realloc_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_realloc_address_reused_by_other_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_realloc_split_end_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_realloc_split_two_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cross_thread_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mark_unmark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_growth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peak_temporary_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeline_thins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeline_keeps_spikes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_sequences_keep_invariants, setup, teardown),
		cmocka_unit_test(test_batch_prefetched_equals_one_by_one),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	urcu_memb_unregister_thread();
	return rc;
}
