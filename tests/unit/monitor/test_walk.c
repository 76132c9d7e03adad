/* Unit tests of compact walks (walk.c): 4-byte references that read the same blocks as a copying
 * walk, unchanged after the blocks are freed and their memory offered again, and after
 * model_walk_keep; grouping by call site without a copy. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/liveset_writer.h" /* liveset_take_h */
#include "engine/walk.h"

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
		assert_in_range(k, 1, N);
		if (k >= 1 && k <= N) { /* for the analyser: assert_* is not known to stop */
			assert_false(seen[k]);
			seen[k] = 1;
		}
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

/* The ingest thread churns (frees, allocates, flushes batches) while walks are taken and read on
 * another thread: what a walk read at its time must read the same until it is freed, whatever
 * the writer reuses meanwhile (run under TSan too). */
struct churn {
	struct liveset *ls;
	int stop;
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;
	urcu_memb_register_thread();
	liveset_claim_writer(c->ls); /* the set's writer from here (fill ran on the main thread) */
	uint64_t next = N + 1, oldest = 1;
	/* bounded: under TSan the walks are slow, and every block freed during one is held */
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE) && next < 200000) {
		for (int k = 0; k < 64; k++, next++, oldest++) {
			liveset_take_h(c->ls, oldest << 6, liveset_hash(oldest << 6));
			struct liveset_block b = blk(next);
			liveset_insert(c->ls, &b);
		}
		liveset_flush_retired(c->ls);
	}
	urcu_memb_unregister_thread();
	return NULL;
}

static void test_compact_walk_under_churn(void **state)
{
	(void)state;
	struct liveset ls;
	fill(&ls);
	struct churn c = {.ls = &ls};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, churn_main, &c), 0);
	for (int round = 0; round < 40; round++) {
		struct model_walk *w = walk_liveset_compact(&ls, &all, 0);
		assert_non_null(w);
		struct model_block *first = malloc((w->count ? w->count : 1) * sizeof(*first));
		for (size_t i = 0; i < w->count; i++) {
			first[i] = model_walk_block(w, i);
			assert_int_equal(first[i].size, first[i].addr >> 6); /* a whole block, never torn */
		}
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL); /* the writer frees and reuses meanwhile */
		for (size_t i = 0; i < w->count; i++) {
			struct model_block b = model_walk_block(w, i);
			assert_int_equal(b.addr, first[i].addr);
			assert_int_equal(b.seq, first[i].seq);
		}
		free(first);
		model_walk_free(w);
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	liveset_destroy(&ls);
}

int main(void)
{
	urcu_memb_register_thread();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compact_walk_outlives_frees),
		cmocka_unit_test(test_compact_walk_filters_like_a_copy),
		cmocka_unit_test(test_compact_walk_outlives_the_set),
		cmocka_unit_test(test_compact_walk_under_churn),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	urcu_memb_unregister_thread();
	return rc;
}
