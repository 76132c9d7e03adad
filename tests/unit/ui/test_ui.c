/* Unit tests of the dashboard: the pure formatting, glyph and sort helpers, and whole frames drawn
 * headless against a synthetic model (tables, filters, query caching, too-small, help). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <locale.h>
#include <string.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "fake_model.h"
#include "headless.h"
#include "ui_format.h"
#include "ui_glyphs.h"
#include "ui_query.h"
#include "ui_sort.h"
#include "ui_state.h"

static void test_fmt_count(void **st)
{
	(void)st;
	char b[32];
	assert_string_equal(ui_fmt_count(b, sizeof b, 0), "0");
	assert_string_equal(ui_fmt_count(b, sizeof b, 999), "999");
	assert_string_equal(ui_fmt_count(b, sizeof b, 1000), "1,000");
	assert_string_equal(ui_fmt_count(b, sizeof b, 1234567), "1,234,567");
	assert_string_equal(ui_fmt_count(b, sizeof b, 18446744073709551615ull), "18,446,744,073,709,551,615");
}

static void test_fmt_bytes(void **st)
{
	(void)st;
	char b[32];
	assert_string_equal(ui_fmt_bytes_short(b, sizeof b, 0), "0");
	assert_string_equal(ui_fmt_bytes_short(b, sizeof b, 99999), "99999");
	assert_string_equal(ui_fmt_bytes_short(b, sizeof b, 100000), "97.7K");
	assert_string_equal(ui_fmt_bytes_short(b, sizeof b, 1048576), "1.0M");
	assert_string_equal(ui_fmt_bytes_short(b, sizeof b, 1023ull << 20), "1.0G"); /* never "1023.0M" */
	assert_string_equal(ui_fmt_bytes_short(b, sizeof b, 5ull << 30), "5.0G");
	assert_string_equal(ui_fmt_bytes_signed(b, sizeof b, 1229), "+1229");
	assert_string_equal(ui_fmt_bytes_signed(b, sizeof b, -300), "-300");
	assert_string_equal(ui_fmt_bytes_signed(b, sizeof b, 0), "0");
	assert_string_equal(ui_fmt_bytes_signed(b, sizeof b, -(200 << 10)), "-200.0K");
	assert_string_equal(ui_fmt_bytes_human(b, sizeof b, 512), "512 B");
	assert_string_equal(ui_fmt_bytes_human(b, sizeof b, 16500), "16.1 KiB");
	assert_true(strlen(ui_fmt_bytes_short(b, sizeof b, UINT64_MAX)) <= 6);
}

static void test_fmt_time_rate(void **st)
{
	(void)st;
	char b[32];
	const uint64_t s = 1000000000ull;
	assert_string_equal(ui_fmt_age(b, sizeof b, 59 * s + s / 2), "59s");
	assert_string_equal(ui_fmt_age(b, sizeof b, 307 * s), "5m07s");
	assert_string_equal(ui_fmt_age(b, sizeof b, (2 * 3600 + 180) * s), "2h03m");
	assert_string_equal(ui_fmt_age(b, sizeof b, (3 * 86400 + 4 * 3600) * s), "3d04h");
	assert_string_equal(ui_fmt_uptime(b, sizeof b, 83 * s), "00:01:23");
	assert_string_equal(ui_fmt_uptime(b, sizeof b, (86400 + 3661) * s), "1d 01:01:01");
	assert_string_equal(ui_fmt_rate(b, sizeof b, 0), "0");
	assert_string_equal(ui_fmt_rate(b, sizeof b, 9999.4), "9999");
	assert_string_equal(ui_fmt_rate(b, sizeof b, 191300), "191.3K");
	assert_string_equal(ui_fmt_rate(b, sizeof b, 2.5e6), "2.5M");
}

static void test_fmt_frame(void **st)
{
	(void)st;
	char b[128];
	struct model_frame f = {.pc = 0x401234, .module = "/usr/lib/libx.so", .module_off = 0x1f,
				.func = "parse", .file = "/src/a/parser.c", .line = 42};
	assert_string_equal(ui_fmt_frame(b, sizeof b, &f), "parse parser.c:42");
	f.file = NULL;
	assert_string_equal(ui_fmt_frame(b, sizeof b, &f), "parse libx.so+0x1f");
	f.func = NULL;
	assert_string_equal(ui_fmt_frame(b, sizeof b, &f), "libx.so+0x1f");
	f.module = NULL;
	assert_string_equal(ui_fmt_frame(b, sizeof b, &f), "0x401234");
	f.pc = 0;
	assert_string_equal(ui_fmt_frame(b, sizeof b, &f), "(no stack)");
}

static void test_spark_levels(void **st)
{
	(void)st;
	uint64_t samples[] = {0, 1, 50, 100};
	uint8_t lv[6];
	uint64_t max = ui_spark_levels(samples, 4, 6, lv);
	assert_int_equal(max, 100);
	uint8_t want[] = {0, 0, 0, 1, 4, 8}; /* padded on the left; a tiny non-zero value stays visible */
	assert_memory_equal(lv, want, 6);
	max = ui_spark_levels(samples, 4, 2, lv); /* only the newest samples fit */
	assert_int_equal(max, 100);
	assert_int_equal(lv[0], 4);
	assert_int_equal(lv[1], 8);
}

static void test_heat_cells(void **st)
{
	(void)st;
	uint64_t bytes[] = {1000, 0, 0, 500};
	uint8_t resident[] = {100, 100, 0, 100};
	struct ui_heat_cell c[4];
	assert_int_equal(ui_heat_cells(bytes, resident, 4, 4000, 4, c), 4);
	assert_int_equal(c[0].kind, UI_HEAT_USED);
	assert_int_equal(c[0].level, 8);
	assert_int_equal(c[1].kind, UI_HEAT_RESIDENT_EMPTY); /* fragmentation stands out */
	assert_int_equal(c[2].kind, UI_HEAT_NOT_RESIDENT);
	assert_int_equal(c[3].kind, UI_HEAT_USED);
	assert_int_equal(c[3].level, 4);
	/* Two display cells for four divisions: neighbours merge. */
	assert_int_equal(ui_heat_cells(bytes, resident, 4, 4000, 2, c), 2);
	assert_int_equal(c[0].level, 4);
	assert_int_equal(c[1].level, 2);
	/* Residency unknown: an empty division is not claimed resident. */
	ui_heat_cells(bytes, NULL, 4, 4000, 4, c);
	assert_int_equal(c[1].kind, UI_HEAT_NOT_RESIDENT);
	ui_glyphs_set_utf8(false);
	assert_string_equal(ui_glyph_heat(c[0]), "8");
	assert_string_equal(ui_glyph_heat((struct ui_heat_cell){UI_HEAT_RESIDENT_EMPTY, 0}), "!");
	ui_glyphs_set_utf8(true);
	assert_string_equal(ui_glyph_heat((struct ui_heat_cell){UI_HEAT_RESIDENT_EMPTY, 0}), "░");
	assert_string_equal(ui_glyph_spark(8), "█");
}

static void test_sort_numeric(void **st)
{
	(void)st;
	struct ui_sort_item items[6] = {{5, 0}, {1, 1}, {5, 2}, {300, 3}, {0, 4}, {1ull << 40, 5}}, tmp[6];
	struct ui_sort_item *r = ui_sort_numeric(items, tmp, 6, false);
	uint32_t want_desc[] = {5, 3, 0, 2, 1, 4}; /* equal keys keep input order */
	for (int i = 0; i < 6; i++)
		assert_int_equal(r[i].row, want_desc[i]);
	struct ui_sort_item s2[3] = {{ui_sort_key_signed(-5), 0}, {ui_sort_key_signed(3), 1},
				     {ui_sort_key_signed(0), 2}};
	r = ui_sort_numeric(s2, tmp, 3, true);
	assert_int_equal(r[0].row, 0);
	assert_int_equal(r[1].row, 2);
	assert_int_equal(r[2].row, 1);
	struct ui_sort_text t[3] = {{"beta", 0}, {NULL, 1}, {"alpha", 2}};
	ui_sort_strings(t, 3, true);
	assert_int_equal(t[0].row, 1);
	assert_int_equal(t[1].row, 2);
	assert_int_equal(t[2].row, 0);
}

/* ------------------------------------------------------------------ whole frames, headless */

struct frame_fixture {
	SCREEN *scr;
	struct session *s;
	struct ui ui;
};

static int frame_setup(void **st)
{
	static struct frame_fixture f;
	memset(&f, 0, sizeof f);
	f.scr = headless_open(24, 80);
	if (!f.scr)
		return -1;
	ui_glyphs_set_utf8(false);
	ui_crt_init_attrs(false); /* monochrome: attributes are checkable without colour pairs */
	f.s = fake_session_new(40, 4, 2000);
	struct ui_options o = {0};
	ui_init(&f.ui, f.s, &o);
	*st = &f;
	return 0;
}

static int frame_teardown(void **st)
{
	struct frame_fixture *f = *st;
	ui_fini(&f->ui);
	fake_session_free(f->s);
	headless_close(f->scr);
	return 0;
}

static void draw(struct frame_fixture *f)
{
	if (f->ui.need_query)
		ui_query_active(&f->ui);
	ui_draw_frame(&f->ui);
}

static void test_frame_layout(void **st)
{
	struct frame_fixture *f = *st;
	draw(f);
	assert_non_null(strstr(headless_line(0), "pid 4242"));
	assert_non_null(strstr(headless_line(0), "./fake-target --serve"));
	assert_non_null(strstr(headless_line(0), "up 00:01:23  running"));
	assert_non_null(strstr(headless_line(1), "in 2,000 blocks"));
	assert_non_null(strstr(headless_line(5), " 1 Call sites "));
	assert_non_null(strstr(headless_line(6), "Call sites: 40 shown of 40"));
	assert_non_null(strstr(headless_line(7), "LIVE"));
	assert_non_null(strstr(headless_line(23), "? Help"));
	/* The first row is the site with the most live bytes (the view's own order). */
	const struct model_view *v = model_view_get(f->s);
	char want[64];
	snprintf(want, sizeof want, "%s ", v->sites[0].top.func);
	assert_non_null(strstr(headless_line(8), want));
}

static void test_frame_lost_events(void **st)
{
	struct frame_fixture *f = *st;
	draw(f);
	assert_non_null(strstr(headless_line(3), "Lost 0 "));
	fake_session_set_health(f->s, 1234, false);
	fake_session_publish(f->s, 0);
	draw(f);
	assert_non_null(strstr(headless_line(3), " 1,234 EVENTS LOST: live set approximate "));
	/* Shown loudly: the alert attribute, not the plain one. */
	assert_true(mvinch(3, 2) & A_REVERSE);
	assert_false(mvinch(2, 2) & A_REVERSE);
	assert_non_null(strstr(headless_line(0), "attached 00:00:12"));
}

/* Every count that makes the live set approximate is on the status line, loudly; unknown frees only
 * when the target was tracked from its start (after a late attach they are expected). */
static void test_frame_inexact_counts(void **st)
{
	struct frame_fixture *f = *st;
	fake_session_set_inexact(f->s, 3, 0);
	fake_session_publish(f->s, 0);
	draw(f);
	assert_non_null(strstr(headless_line(3), " 3 DUPLICATE ALLOCS: live set approximate "));
	assert_true(mvinch(3, 2) & A_REVERSE);
	fake_session_set_health(f->s, 1234, true);
	fake_session_set_inexact(f->s, 3, 7);
	fake_session_publish(f->s, 0);
	draw(f);
	assert_non_null(strstr(headless_line(3),
			       " 1,234 EVENTS LOST, 3 DUPLICATE ALLOCS, 7 UNKNOWN FREES: live set approximate "));
	fake_session_set_health(f->s, 0, false);
	fake_session_set_inexact(f->s, 0, 7);
	fake_session_publish(f->s, 0);
	draw(f);
	assert_non_null(strstr(headless_line(3), "Lost 0 "));
	assert_null(strstr(headless_line(3), "approximate"));
}

static void test_frame_too_small(void **st)
{
	struct frame_fixture *f = *st;
	resizeterm(10, 40);
	draw(f);
	assert_non_null(strstr(headless_line(0), "Terminal too small: 40x10."));
	assert_non_null(strstr(headless_line(1), "at least 60x16"));
	resizeterm(24, 80);
	draw(f);
	assert_false(headless_contains("too small"));
}

static void test_queries_cached(void **st)
{
	struct frame_fixture *f = *st;
	unsigned before = fake_walks_opened(f->s);
	ui_switch_view(&f->ui, UI_VIEW_WALK);
	for (int i = 0; i < 10; i++) {
		fake_session_publish(f->s, 1);
		draw(f);
	}
	/* One walk on entry, none per frame. */
	assert_int_equal(fake_walks_opened(f->s), before + 1);
	assert_true(headless_contains("Heap walk: 2000 blocks"));
	ui_switch_view(&f->ui, UI_VIEW_MAPS);
	draw(f);
	draw(f);
	assert_int_equal(fake_maps_computed(f->s), 1);
	assert_true(headless_contains("[heap]"));
	assert_true(headless_contains("32 divisions"));
}

static struct model_block walk_row(struct frame_fixture *f, size_t at)
{
	return model_walk_block(f->ui.walk, f->ui.tables[UI_VIEW_WALK].rows[at]);
}

/* The heap walk's rows come sorted and filtered with the query (never sorted on the UI thread), and
 * the selection stays on its block across a re-sort, found by binary search. */
static void test_walk_sorted_by_query(void **st)
{
	struct frame_fixture *f = *st;
	struct ui_table *t = &f->ui.tables[UI_VIEW_WALK];
	ui_switch_view(&f->ui, UI_VIEW_WALK);
	draw(f);
	assert_int_equal(t->n_rows, 2000);
	for (size_t i = 1; i < t->n_rows; i++)
		assert_true(walk_row(f, i - 1).addr < walk_row(f, i).addr);
	ui_table_move(&f->ui, t, 700);
	draw(f);
	uint64_t sel = walk_row(f, t->selected).addr;
	assert_int_equal(t->selected_id, sel);
	unsigned walks = fake_walks_opened(f->s);
	ui_actions_handle(&f->ui, '>'); /* size, largest first */
	assert_true(f->ui.need_query);
	draw(f);
	assert_int_equal(fake_walks_opened(f->s), walks + 1);
	assert_int_equal(t->n_rows, 2000);
	for (size_t i = 1; i < t->n_rows; i++) {
		const struct model_block ra = walk_row(f, i - 1), rb = walk_row(f, i), *a = &ra, *b = &rb;
		assert_true(a->size > b->size || (a->size == b->size && a->addr > b->addr));
	}
	assert_int_equal(walk_row(f, t->selected).addr, sel); /* same block, elsewhere */
	assert_int_not_equal(t->selected, 700);
	/* By function: ranks of the top frame's name, then address. */
	t->sort_col = UI_WALK_FRAME;
	t->ascending = true;
	ui_rows_changed(&f->ui);
	draw(f);
	assert_int_equal(walk_row(f, t->selected).addr, sel);
	const struct model_view *v = model_view_get(f->s);
	for (size_t i = 1; i < t->n_rows; i++) {
		const struct model_site *x = ui_sitemap_find(&f->ui, v, walk_row(f, i - 1).stack_id);
		const struct model_site *y = ui_sitemap_find(&f->ui, v, walk_row(f, i).stack_id);
		assert_true(strcmp(x->top.func, y->top.func) <= 0);
	}
	/* The name filter is applied by the query too. */
	snprintf(f->ui.name_filter, sizeof f->ui.name_filter, "alloc_fn_3");
	ui_rows_changed(&f->ui);
	draw(f);
	size_t want = 0;
	for (size_t i = 0; i < f->ui.walk->count; i++) {
		const struct model_site *x = ui_sitemap_find(&f->ui, v, model_walk_block(f->ui.walk, i).stack_id);
		want += strstr(x->top.func, "alloc_fn_3") != NULL;
	}
	assert_true(want > 0 && want < 2000);
	assert_int_equal(t->n_rows, want);
	assert_true(headless_contains(" match"));
	/* Leaving the view drops its walk (a million blocks are ~50 MB); entering takes it again. */
	ui_switch_view(&f->ui, UI_VIEW_SITES);
	assert_null(f->ui.walk);
	assert_int_equal(t->n_rows, 0);
	/* View 4 without a mark has nothing to walk. */
	walks = fake_walks_opened(f->s);
	ui_switch_view(&f->ui, UI_VIEW_INCREMENTAL);
	draw(f);
	assert_int_equal(fake_walks_opened(f->s), walks);
	assert_true(headless_contains("no mark set"));
}

static void wait_worker(struct ui *ui)
{
	for (int i = 0; i < 5000 && ui_query_worker_busy(ui->worker); i++)
		usleep(1000);
	struct ui_text_job job;
	if (ui_query_worker_take_text(ui->worker, &job))
		ui_query_text_install(ui, &job);
}

/* Thousands of new function names are ranked and matched by the worker, not in a frame: the first
 * frame shows the rows in a provisional order, the next the worker's answer. */
static void test_sites_text_by_worker(void **st)
{
	struct frame_fixture *f = *st;
	ui_fini(&f->ui);
	fake_session_free(f->s);
	f->s = fake_session_new(UI_TEXT_ASYNC_MIN + 100, 4, 20000);
	struct ui_options o = {0};
	ui_init(&f->ui, f->s, &o);
	f->ui.worker = ui_query_worker_start(f->s);
	assert_non_null(f->ui.worker);
	struct ui_table *t = &f->ui.tables[UI_VIEW_SITES];
	ui_switch_view(&f->ui, UI_VIEW_SITES);
	t->sort_col = 4; /* function name */
	t->ascending = true;
	ui_rows_changed(&f->ui);
	draw(f);
	assert_true(f->ui.rank_job_pending);
	assert_true(headless_contains("sorting..."));
	wait_worker(&f->ui);
	assert_false(f->ui.rank_job_pending);
	draw(f);
	assert_false(headless_contains("sorting..."));
	const struct model_view *v = model_view_get(f->s);
	assert_int_equal(t->n_rows, v->n_sites);
	for (size_t i = 1; i < t->n_rows; i++)
		assert_true(strcmp(v->sites[t->rows[i - 1]].top.func, v->sites[t->rows[i]].top.func) <= 0);
	/* The name filter: answers from the worker too. */
	snprintf(f->ui.name_filter, sizeof f->ui.name_filter, "alloc_fn_12");
	ui_rows_changed(&f->ui);
	draw(f);
	assert_true(f->ui.match_job_pending);
	wait_worker(&f->ui);
	draw(f);
	size_t want = 0;
	for (size_t i = 0; i < v->n_sites; i++)
		want += strstr(v->sites[i].top.func, "alloc_fn_12") != NULL;
	assert_int_equal(t->n_rows, want); /* alloc_fn_12, 120..129, 1200..1299 */
	assert_int_equal(want, 111);
}

static void test_name_filter_and_selection(void **st)
{
	struct frame_fixture *f = *st;
	ui_switch_view(&f->ui, UI_VIEW_SITES);
	snprintf(f->ui.name_filter, sizeof f->ui.name_filter, "alloc_fn_1");
	f->ui.stamp++;
	draw(f);
	/* alloc_fn_1 and alloc_fn_10..19 */
	assert_int_equal(f->ui.tables[UI_VIEW_SITES].n_rows, 11);
	assert_true(headless_contains("[/alloc_fn_1] Call sites: 11 shown of 40"));
	f->ui.name_filter[0] = '\0';
	f->ui.stamp++;
	draw(f);
	/* Select the third row, then change the order: the selection stays on the same site. */
	struct ui_table *t = &f->ui.tables[UI_VIEW_SITES];
	ui_table_move(&f->ui, t, 2);
	draw(f);
	uint64_t id = t->selected_id;
	t->ascending = !t->ascending;
	f->ui.stamp++;
	draw(f);
	const struct model_view *v = model_view_get(f->s);
	const struct model_site *sel = NULL;
	for (size_t i = 0; i < v->n_sites; i++)
		if (i == t->rows[t->selected])
			sel = &v->sites[i];
	assert_non_null(sel);
	assert_int_equal(sel->stack_id, id);
	assert_true(t->selected > 30); /* it moved with its site to the other end */
}

static void test_thread_filter_groups_sites(void **st)
{
	struct frame_fixture *f = *st;
	ui_switch_view(&f->ui, UI_VIEW_SITES);
	f->ui.thread_filter = 1;
	f->ui.thread_filter_tid = 1001;
	snprintf(f->ui.thread_filter_name, sizeof f->ui.thread_filter_name, "worker-1");
	ui_invalidate_queries(&f->ui);
	draw(f);
	assert_true(headless_contains("[thread 1001 worker-1] Call sites of one thread"));
	/* 500 of the 2000 blocks belong to thread 1. */
	assert_int_equal(f->ui.site_group.blocks, 500);
	f->ui.thread_filter = MODEL_ANY_THREAD;
	ui_invalidate_queries(&f->ui);
	draw(f);
	assert_true(headless_contains("Call sites: 40 shown of 40"));
}

static void test_help_overlay(void **st)
{
	struct frame_fixture *f = *st;
	resizeterm(24, 80); /* a page: the keys first, the rest below */
	f->ui.help = true;
	f->ui.help_scroll = 0;
	draw(f);
	assert_true(headless_contains("more below"));
	resizeterm(60, 160); /* the whole page */
	draw(f);
	assert_true(headless_contains("memtop help"));
	size_t n;
	const struct ui_action *acts = ui_actions_help(&n);
	for (size_t i = 0; i < n; i++)
		assert_true(headless_contains(acts[i].what));
	/* then what the view's columns mean, further down the page */
	assert_true(ui_help_key(&f->ui, KEY_END));
	draw(f);
	const struct ui_view_ops *ops = ui_view_ops_of(f->ui.view);
	for (int c = 0; c < ops->n_cols; c++)
		assert_true(headless_contains(ops->cols[c].what));
	assert_false(ui_help_key(&f->ui, 'x'));
	f->ui.help = false;
	resizeterm(24, 80);
	draw(f);
	assert_false(headless_contains("memtop help"));
}

static void test_actions(void **st)
{
	struct frame_fixture *f = *st;
	assert_true(ui_actions_handle(&f->ui, '4'));
	assert_int_equal(f->ui.view, UI_VIEW_INCREMENTAL);
	assert_true(ui_actions_handle(&f->ui, '\t'));
	assert_int_equal(f->ui.view, UI_VIEW_MAPS);
	assert_true(ui_actions_handle(&f->ui, KEY_BTAB));
	assert_int_equal(f->ui.view, UI_VIEW_INCREMENTAL);
	assert_true(ui_actions_handle(&f->ui, '+'));
	assert_int_equal(f->ui.heat_divisions, 64);
	ui_actions_handle(&f->ui, '-');
	ui_actions_handle(&f->ui, '-');
	assert_int_equal(f->ui.heat_divisions, 16);
	assert_int_equal(f->ui.expire_s, 60);
	ui_actions_handle(&f->ui, 'e');
	assert_int_equal(f->ui.expire_s, 120);
	ui_actions_handle(&f->ui, 'E');
	ui_actions_handle(&f->ui, 'E');
	assert_int_equal(f->ui.expire_s, 30);
	ui_actions_handle(&f->ui, 'p');
	assert_true(f->ui.paused);
	assert_non_null(f->ui.paused_view);
	ui_actions_handle(&f->ui, 'p');
	assert_false(f->ui.paused);
	assert_false(ui_actions_handle(&f->ui, 'Z'));
	ui_actions_handle(&f->ui, 'q');
	assert_true(f->ui.quit);
}

int main(void)
{
	setlocale(LC_ALL, "C");
	urcu_memb_register_thread();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fmt_count),
		cmocka_unit_test(test_fmt_bytes),
		cmocka_unit_test(test_fmt_time_rate),
		cmocka_unit_test(test_fmt_frame),
		cmocka_unit_test(test_spark_levels),
		cmocka_unit_test(test_heat_cells),
		cmocka_unit_test(test_sort_numeric),
		cmocka_unit_test_setup_teardown(test_frame_layout, frame_setup, frame_teardown),
		cmocka_unit_test_setup_teardown(test_frame_lost_events, frame_setup, frame_teardown),
		cmocka_unit_test_setup_teardown(test_frame_inexact_counts, frame_setup, frame_teardown),
		cmocka_unit_test_setup_teardown(test_frame_too_small, frame_setup, frame_teardown),
		cmocka_unit_test_setup_teardown(test_queries_cached, frame_setup, frame_teardown),
		cmocka_unit_test_setup_teardown(test_walk_sorted_by_query, frame_setup, frame_teardown),
		cmocka_unit_test_setup_teardown(test_sites_text_by_worker, frame_setup, frame_teardown),
		cmocka_unit_test_setup_teardown(test_name_filter_and_selection, frame_setup, frame_teardown),
		cmocka_unit_test_setup_teardown(test_thread_filter_groups_sites, frame_setup, frame_teardown),
		cmocka_unit_test_setup_teardown(test_help_overlay, frame_setup, frame_teardown),
		cmocka_unit_test_setup_teardown(test_actions, frame_setup, frame_teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	urcu_memb_unregister_thread();
	return rc;
}
