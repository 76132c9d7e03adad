/* Unit tests of compact walks (walk.c): 4-byte references that read the same blocks as a copying
 * walk, unchanged after the blocks are freed and their memory offered again, and after
 * model_walk_keep; grouping by call site without a copy. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "walk.h"

enum { N = 3000 };

static const struct model_walk_filter all = {.kind = MODEL_WALK_ALL, .thread_id = MODEL_ANY_THREAD,
					     .stack_id = MODEL_ANY_STACK};

static struct liveset_block blk(uint64_t i)
{
	return (struct liveset_block){.addr = i << 6, .size = i, .seq = i, .thread = (uint16_t)(i % 3),
				      .stack_id = (uint32_t)(1 + i % 7), .time_ms = walk_now_ms(),
				      .flags = i % 5 == 0 ? LIVESET_F_REALLOC : 0};
}

static void fill(struct liveset *ls)
{
	assert_int_equal(liveset_init(ls), 0);
	for (uint64_t i = 1; i <= N; i++) {
		struct liveset_block b = blk(i);
		assert_non_null(liveset_insert(ls, &b));
	}
}

/* Every block 1..N exactly once, with the fields it was inserted with. */
static void assert_walk_is_original(const struct model_walk *w)
{
	assert_int_equal(w->count, N);
	assert_null(w->blocks);
	char *seen = calloc(N + 1, 1);
	uint64_t total = 0;
	for (size_t i = 0; i < w->count; i++) {
		struct model_block b = model_walk_block(w, i);
		uint64_t k = b.addr >> 6;
		assert_true(k >= 1 && k <= N);
		assert_false(seen[k]);
		seen[k] = 1;
		assert_int_equal(b.size, k);
		assert_int_equal(b.seq, k);
		assert_int_equal(b.thread_id, k % 3);
		assert_int_equal(b.stack_id, 1 + k % 7);
		assert_int_equal(b.from_realloc, k % 5 == 0);
		total += b.size;
	}
	assert_int_equal(total, w->total_bytes);
	free(seen);
}

/* Frees the N blocks from `first` on and allocates N others after them: without the walk's pin
 * they would reuse the freed ones. */
static void replace_all(struct liveset *ls, uint64_t first)
{
	for (uint64_t i = first; i < first + N; i++)
		assert_non_null(liveset_take_h(ls, i << 6, liveset_hash(i << 6)));
	liveset_flush_retired(ls);
	for (uint64_t i = first + N; i < first + 2 * N; i++) {
		struct liveset_block b = {.addr = i << 6, .size = 999999, .seq = i, .stack_id = 99};
		assert_non_null(liveset_insert(ls, &b));
		liveset_flush_retired(ls);
	}
}

static void test_compact_walk_outlives_frees(void **state)
{
	(void)state;
	struct liveset ls;
	fill(&ls);
	struct model_walk *w = walk_liveset_compact(&ls, &all, 0);
	assert_non_null(w);
	assert_walk_is_original(w);
	replace_all(&ls, 1);
	assert_walk_is_original(w);
	model_walk_keep(w);     /* copies: the pin goes, the blocks may be reused now */
	replace_all(&ls, N + 1); /* reuses blocks 1..N, which the walk no longer reads */
	assert_walk_is_original(w);
	model_walk_free(w);
	liveset_destroy(&ls);
}

static void test_compact_walk_filters_like_a_copy(void **state)
{
	(void)state;
	struct liveset ls;
	fill(&ls);
	struct model_walk_filter f = all;
	f.thread_id = 1;
	f.kind = MODEL_WALK_SINCE_MARK;
	struct model_walk *c = walk_liveset_compact(&ls, &f, N / 2);
	struct model_walk *w = walk_liveset(&ls, &f, N / 2);
	assert_int_equal(c->count, w->count);
	assert_int_equal(c->total_bytes, w->total_bytes);
	for (size_t i = 0; i < c->count; i++) {
		struct model_block b = model_walk_block(c, i);
		assert_int_equal(b.thread_id, 1);
		assert_true(b.seq > N / 2);
	}
	/* grouped by site: the same sites, bytes and blocks from both */
	struct model_suspect_site *gc = NULL, *gw = NULL;
	size_t nc = walk_group_by_site(c, &gc), nw = walk_group_by_site(w, &gw);
	assert_int_equal(nc, 7);
	assert_int_equal(nc, nw);
	for (size_t i = 0; i < nc; i++) {
		assert_int_equal(gc[i].stack_id, gw[i].stack_id);
		assert_int_equal(gc[i].bytes, gw[i].bytes);
		assert_int_equal(gc[i].blocks, gw[i].blocks);
		assert_true(i == 0 || gc[i - 1].bytes >= gc[i].bytes);
	}
	free(gc);
	free(gw);
	model_walk_free(c);
	model_walk_free(w);
	liveset_destroy(&ls);
}

/* A walk may outlive its live set (the engine replaces it at exec). */
static void test_compact_walk_outlives_the_set(void **state)
{
	(void)state;
	struct liveset ls;
	fill(&ls);
	struct model_walk *w = walk_liveset_compact(&ls, &all, 0);
	liveset_destroy(&ls);
	assert_walk_is_original(w);
	model_walk_free(w);
}

int main(void)
{
	urcu_memb_register_thread();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compact_walk_outlives_frees),
		cmocka_unit_test(test_compact_walk_filters_like_a_copy),
		cmocka_unit_test(test_compact_walk_outlives_the_set),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	urcu_memb_unregister_thread();
	return rc;
}
