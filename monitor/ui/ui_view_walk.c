/* ui_view_walk: views 3 (heap walk: every live block) and 4 (incremental walk: blocks allocated since
 * the last mark and still live). Rows come from a walk result the engine computes on view entry, on
 * the slow timer or on demand, already filtered and sorted by the query worker (ui_walk_rows.c);
 * a frame touches only the visible page. Must never walk the live set nor sort its rows itself. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "ui_format.h"
#include "ui_view_common.h"

enum {
	COL_ADDR = UI_WALK_ADDR,
	COL_SIZE = UI_WALK_SIZE,
	COL_TID = UI_WALK_TID,
	COL_AGE = UI_WALK_AGE,
	COL_REALLOC = UI_WALK_REALLOC,
	COL_FRAME = UI_WALK_FRAME,
	N_COLS = UI_WALK_NCOLS
};

static const struct ui_column cols[N_COLS] = {
	[COL_ADDR] = {"ADDRESS", 14, true, false,
		.what = "address of the live block"},
	[COL_SIZE] = {"SIZE", 7, false, false,
		.what = "its size in bytes, as asked of the allocator"},
	[COL_TID] = {"TID", 7, false, false,
		.what = "the thread that allocated it"},
	[COL_AGE] = {"AGE", 6, false, false,
		.what = "time since it was allocated"},
	[COL_REALLOC] = {"R", 1, true, false,
		.what = "R: the block comes from realloc"},
	[COL_FRAME] = {"FUNCTION FILE:LINE", 0, true, true, true,
		.what = "the allocating function and its file:line (Enter: the whole stack)"},
};

static bool incremental(const struct ui *ui)
{
	return ui->view == UI_VIEW_INCREMENTAL;
}

static enum ui_view_id view_id(const struct ui *ui)
{
	return incremental(ui) ? UI_VIEW_INCREMENTAL : UI_VIEW_WALK;
}

static struct model_walk *walk_of(const struct ui *ui)
{
	return incremental(ui) ? ui->inc_walk : ui->walk;
}

/* Block i of the shown walk into *b; false past its end. */
static bool block_at(const struct ui *ui, size_t i, struct model_block *b)
{
	struct model_walk *w = walk_of(ui);
	if (!w || i >= w->count)
		return false;
	*b = model_walk_block(w, i);
	return true;
}

/* The rows installed with the walk, or none while view 4 has no mark. */
static size_t count(struct ui *ui, const struct model_view *v)
{
	if (incremental(ui) && (!v || !v->marked))
		return 0;
	return ui->tables[view_id(ui)].n_query;
}

struct ui_walk_order ui_walk_order_wanted(const struct ui *ui, enum ui_view_id id)
{
	struct ui_walk_order o = {.sort_col = ui->tables[id].sort_col, .ascending = ui->tables[id].ascending};
	snprintf(o.name_filter, sizeof o.name_filter, "%s", ui->name_filter);
	return o;
}

void ui_walk_install(struct ui *ui, enum ui_view_id id, struct model_walk **walk, struct ui_walk_rows *rows)
{
	int k = id == UI_VIEW_INCREMENTAL;
	struct ui_table *t = &ui->tables[id];
	struct model_walk **slot = k ? &ui->inc_walk : &ui->walk;
	/* The selected block, read before its walk goes: it is found again in the new rows. */
	bool follow = t->have_selected_id && *slot && t->selected < t->n_query;
	struct model_block sel = follow ? model_walk_block(*slot, t->rows[t->selected]) : (struct model_block){0};
	struct model_walk *old_walk = *slot;
	struct ui_walk_rows old = ui->walk_rows[k];
	old.rows = t->rows;
	old.n = t->n_query;
	*slot = *walk;
	if (ui->paused)
		model_walk_keep(*slot); /* asked before the pause: kept while it lasts */
	t->rows = rows->rows;
	t->cap = t->n_query = rows->rows ? rows->n : 0;
	ui->walk_rows[k] = *rows;
	ui->walk_rows[k].rows = NULL; /* the table owns them now */
	*walk = old_walk;             /* the caller frees what was replaced */
	*rows = old;
	if (follow) {
		bool exact;
		size_t at = ui_walk_rows_find(*slot, &ui->walk_rows[k], t->rows, t->n_query, &sel, &exact);
		if (at != SIZE_MAX)
			t->selected = at; /* gone: the block that now takes its place in the order */
	}
	if (t->selected >= t->n_query)
		t->selected = t->n_query ? t->n_query - 1 : 0;
	ui->walk_asked[k] = ui->walk_rows[k].order;
}

void ui_walk_free_all(struct ui *ui)
{
	if (ui->walk)
		model_walk_free(ui->walk);
	if (ui->inc_walk)
		model_walk_free(ui->inc_walk);
	ui->walk = ui->inc_walk = NULL;
	ui_walk_rows_free(&ui->walk_rows[0]);
	ui_walk_rows_free(&ui->walk_rows[1]);
}

static int32_t tid_of(const struct model_view *v, uint32_t thread_id)
{
	if (v && thread_id < v->n_threads && v->threads[thread_id].id == thread_id)
		return v->threads[thread_id].tid;
	for (size_t i = 0; v && i < v->n_threads; i++)
		if (v->threads[i].id == thread_id)
			return v->threads[i].tid;
	return -1;
}

/* The TID of a walk's block. The walk can be younger than the view drawn beside it (taken while
 * the display is paused, or before the next publish): a thread it names that the view does not
 * know yet is looked up in the newest view (a thread's TID never changes). Unknown: -1. */
static int32_t block_tid(struct ui *ui, const struct model_view *v, uint32_t thread_id)
{
	int32_t tid = tid_of(v, thread_id);
	if (tid >= 0 || !ui->s)
		return tid;
	urcu_memb_read_lock();
	tid = tid_of(model_view_get(ui->s), thread_id);
	urcu_memb_read_unlock();
	return tid;
}

static uint64_t row_id(struct ui *ui, const struct model_view *v, size_t i)
{
	(void)v;
	struct model_block b;
	return block_at(ui, i, &b) ? b.addr : 0;
}

static void cell(struct ui *ui, const struct model_view *v, size_t i, int col, char *buf, size_t n,
		 enum ui_color *color)
{
	struct model_block blk, *b = &blk;
	if (!block_at(ui, i, b))
		return;
	struct model_frame top;
	switch (col) {
	case COL_ADDR:
		snprintf(buf, n, "0x%012" PRIx64, b->addr);
		*color = UI_C_DIM;
		break;
	case COL_SIZE:
		ui_fmt_count(buf, n, b->size);
		break;
	case COL_TID: {
		int32_t tid = block_tid(ui, v, b->thread_id);
		if (tid >= 0)
			snprintf(buf, n, "%d", (int)tid);
		else /* a thread younger than every view, for one refresh: never a made-up number */
			snprintf(buf, n, "?");
		break;
	}
	case COL_AGE:
		ui_fmt_age(buf, n, b->age_ns);
		break;
	case COL_REALLOC:
		snprintf(buf, n, "%s", b->from_realloc ? "R" : "");
		break;
	case COL_FRAME:
		ui_stack_top(ui, v, b->stack_id, &top);
		ui_fmt_frame(buf, n, &top);
		if (!top.func)
			*color = UI_C_DIM;
		break;
	}
}

static void title_line(struct ui *ui, const struct model_view *v, char *buf, size_t n)
{
	struct model_walk *w = walk_of(ui);
	enum ui_view_id id = incremental(ui) ? UI_VIEW_INCREMENTAL : UI_VIEW_WALK;
	char bytes[32], age[64], mark[32];
	ui_fmt_result_age(ui, id, age, sizeof age);
	if (incremental(ui) && (!v || !v->marked)) {
		snprintf(buf, n, "Incremental walk: no mark set. Press m to mark every live block as walked");
	} else if (!w) {
		snprintf(buf, n, "%s: %s", incremental(ui) ? "Incremental walk" : "Heap walk", age);
	} else if (incremental(ui)) {
		snprintf(buf, n, "Since mark (set %s ago): %zu blocks, %s bytes (%s)",
			 ui_fmt_age(mark, sizeof mark, v->mark_age_ns), w->count,
			 ui_fmt_count(bytes, sizeof bytes, w->total_bytes), age);
	} else {
		snprintf(buf, n, "Heap walk: %zu blocks, %s bytes (%s)", w->count,
			 ui_fmt_count(bytes, sizeof bytes, w->total_bytes), age);
	}
	if (ui_name_filter_active(ui)) {
		size_t len = strlen(buf);
		snprintf(buf + len, n - len, ", %zu match", ui->tables[id].n_rows);
	}
	/* A new sort or filter is being applied by the query worker: the old rows stay meanwhile. */
	struct ui_walk_order want = ui_walk_order_wanted(ui, id);
	const struct ui_walk_order *have = &ui->walk_rows[id == UI_VIEW_INCREMENTAL].order;
	if (w && !ui_walk_order_equal(&want, have)) {
		size_t len = strlen(buf);
		bool resort = want.sort_col != have->sort_col || want.ascending != have->ascending;
		snprintf(buf + len, n - len, resort ? " sorting..." : " filtering...");
	}
}

static int extra_lines(struct ui *ui, const struct model_view *v, int avail)
{
	(void)v;
	return ui_stack_panel_lines(ui, avail);
}

static void draw_extra(struct ui *ui, const struct model_view *v, int y, int h, int w)
{
	(void)v;
	enum ui_view_id id = incremental(ui) ? UI_VIEW_INCREMENTAL : UI_VIEW_WALK;
	long row = ui_table_selected_row(&ui->tables[id]);
	struct model_block b;
	if (row < 0 || !block_at(ui, (size_t)row, &b)) {
		ui_draw_text(y, 0, w, UI_C_DIM, "no block selected");
		return;
	}
	ui_stack_panel_draw(ui, b.stack_id, y, h, w);
}

#define WALK_OPS(NAME, TAB, TITLE)                                                                   \
	{                                                                                            \
		.name = NAME, .tab = TAB, .title = TITLE, .cols = cols, .n_cols = N_COLS,            \
		.default_sort = COL_ADDR, .default_ascending = true, .follows_generation = false,    \
		.rows_from_query = true, .row_height = 1, .count = count, .row_id = row_id,          \
		.cell = cell, .title_line = title_line,                                              \
		.extra_lines = extra_lines, .draw_extra = draw_extra,                \
		.activate = ui_stack_panel_toggle,                                                      \
	}

const struct ui_view_ops ui_view_walk = WALK_OPS("Heap walk", NULL, "Heap walk");
const struct ui_view_ops ui_view_incremental = WALK_OPS("Incremental", "Incr", "Incremental walk");
