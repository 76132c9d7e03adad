/* Unit tests of the caller tree (ui_calltree.c): sites merged by caller, sums inclusive of the
 * subtree, children by live bytes, rows shown as nodes are opened, the node cap. No curses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ui_calltree.h"

#define F(fn, ln) ((struct model_frame){.func = (fn), .file = "p.c", .line = (ln), .pc = 0x1000 + (ln)})

/* leaf_a is called from mid (line 20) twice over (by main:30 and main:31) and from main:32
 * directly; leaf_b from main:33. */
static void build(struct ui_ctree *t)
{
	struct model_frame s1[] = {F("leaf_a", 5), F("mid", 20), F("main", 30)};
	struct model_frame s2[] = {F("leaf_a", 5), F("mid", 20), F("main", 31)};
	struct model_frame s3[] = {F("leaf_a", 5), F("main", 32)};
	struct model_frame s4[] = {F("leaf_b", 9), F("main", 33)};
	assert_int_equal(ui_ctree_add(t, s1, 3, 100, 1, 4), 0);
	assert_int_equal(ui_ctree_add(t, s2, 3, 300, 3, 3), 0);
	assert_int_equal(ui_ctree_add(t, s3, 2, 50, 5, 9), 0);
	assert_int_equal(ui_ctree_add(t, s4, 2, 1000, 2, 2), 0);
	ui_ctree_sort(t);
}

static const struct ui_ctree_node *row(const struct ui_ctree *t, const uint32_t *rows, size_t i)
{
	return &t->nodes[rows[i]];
}

static void test_merge_sums_sort(void **st)
{
	(void)st;
	struct ui_ctree t = {0};
	build(&t);
	uint32_t rows[16];
	size_t n = ui_ctree_rows(&t, NULL, 0, rows, 16);
	assert_int_equal(n, 2); /* two allocating functions, leaf_b first (1000 B) */
	assert_string_equal(row(&t, rows, 0)->frame.func, "leaf_b");
	assert_int_equal(row(&t, rows, 0)->live_bytes, 1000);
	const struct ui_ctree_node *a = row(&t, rows, 1);
	assert_string_equal(a->frame.func, "leaf_a");
	assert_int_equal(a->live_bytes, 450);
	assert_int_equal(a->live_blocks, 9);
	assert_int_equal(a->allocs, 16);
	assert_int_equal(t.nodes[0].live_bytes, 1450);
	/* open leaf_a: mid (400 B, both mid:20 merged) before main:32 (50 B) */
	uint64_t open[2] = {a->path};
	n = ui_ctree_rows(&t, open, 1, rows, 16);
	assert_int_equal(n, 4);
	assert_string_equal(row(&t, rows, 2)->frame.func, "mid");
	assert_int_equal(row(&t, rows, 2)->live_bytes, 400);
	assert_int_equal(row(&t, rows, 2)->live_blocks, 4);
	assert_int_equal(row(&t, rows, 2)->allocs, 7);
	assert_int_equal(row(&t, rows, 2)->depth, 1);
	assert_string_equal(row(&t, rows, 3)->frame.func, "main");
	assert_int_equal(row(&t, rows, 3)->frame.line, 32);
	/* open mid too: main:31 (300) before main:30 (100), then main:32 */
	open[1] = row(&t, rows, 2)->path;
	n = ui_ctree_rows(&t, open, 2, rows, 16);
	assert_int_equal(n, 6);
	assert_int_equal(row(&t, rows, 3)->frame.line, 31);
	assert_int_equal(row(&t, rows, 3)->live_bytes, 300);
	assert_int_equal(row(&t, rows, 3)->depth, 2);
	assert_int_equal(row(&t, rows, 4)->frame.line, 30);
	assert_int_equal(row(&t, rows, 5)->frame.line, 32);
	/* closing leaf_a hides its subtree though mid stays open */
	n = ui_ctree_rows(&t, open + 1, 1, rows, 16);
	assert_int_equal(n, 2);
	ui_ctree_free(&t);
}

/* A node's path is its identity across rebuilds: the same sites give the same paths. */
static void test_paths_stable(void **st)
{
	(void)st;
	struct ui_ctree t1 = {0}, t2 = {0};
	build(&t1);
	build(&t2);
	uint32_t r1[4], r2[4];
	assert_int_equal(ui_ctree_rows(&t1, NULL, 0, r1, 4), 2);
	assert_int_equal(ui_ctree_rows(&t2, NULL, 0, r2, 4), 2);
	assert_true(t1.nodes[r1[1]].path == t2.nodes[r2[1]].path);
	assert_true(t1.nodes[r1[0]].path != t1.nodes[r1[1]].path);
	ui_ctree_free(&t1);
	ui_ctree_free(&t2);
}

/* Unresolved frames merge by module+offset; a site with no frames counts at the root only. */
static void test_unresolved(void **st)
{
	(void)st;
	struct ui_ctree t = {0};
	struct model_frame u1 = {.module = "/lib/x.so", .module_off = 0x10, .pc = 0x7000};
	struct model_frame u2 = {.module = "/lib/x.so", .module_off = 0x10, .pc = 0x9000};
	assert_int_equal(ui_ctree_add(&t, &u1, 1, 10, 1, 1), 0);
	assert_int_equal(ui_ctree_add(&t, &u2, 1, 20, 1, 1), 0);
	assert_int_equal(ui_ctree_add(&t, NULL, 0, 5, 1, 1), 0);
	ui_ctree_sort(&t);
	uint32_t rows[4];
	assert_int_equal(ui_ctree_rows(&t, NULL, 0, rows, 4), 1);
	assert_int_equal(t.nodes[rows[0]].live_bytes, 30);
	assert_int_equal(t.nodes[0].live_bytes, 35);
	ui_ctree_free(&t);
}

/* Memory is bounded: past UI_CTREE_MAX_NODES a site is counted down to the last node it has. */
static void test_node_cap(void **st)
{
	(void)st;
	struct ui_ctree t = {0};
	struct model_frame f[2] = {F("leaf", 1), F("caller", 0)};
	for (uint32_t i = 0; i < UI_CTREE_MAX_NODES; i++) {
		f[1].line = (int)i;
		assert_int_equal(ui_ctree_add(&t, f, 2, 1, 1, 1), 0);
	}
	assert_true(t.truncated);
	assert_int_equal(t.n, UI_CTREE_MAX_NODES);
	uint32_t r;
	assert_int_equal(ui_ctree_rows(&t, NULL, 0, &r, 1), 1);
	assert_int_equal(t.nodes[r].live_bytes, UI_CTREE_MAX_NODES); /* every site counted at leaf */
	ui_ctree_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_sums_sort),
		cmocka_unit_test(test_paths_stable),
		cmocka_unit_test(test_unresolved),
		cmocka_unit_test(test_node_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
