/* ui_view_walk: views 3 (heap walk: every live block) and 4 (incremental walk: blocks allocated since
 * the last mark and still live). Rows come from a walk result the engine computes on view entry, on
 * the slow timer or on demand; drawing touches only the visible page. Must never walk the live set. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ui_format.h"
#include "ui_view_common.h"

enum { COL_ADDR, COL_SIZE, COL_TID, COL_AGE, COL_REALLOC, COL_FRAME, N_COLS };

static const struct ui_column cols[N_COLS] = {
	[COL_ADDR] = {"ADDRESS", 14, true, false},
	[COL_SIZE] = {"SIZE", 7, false, false},
	[COL_TID] = {"TID", 7, false, false},
	[COL_AGE] = {"AGE", 6, false, false},
	[COL_REALLOC] = {"R", 1, true, false},
	[COL_FRAME] = {"FUNCTION FILE:LINE", 0, true, true, true},
};

static bool incremental(const struct ui *ui)
{
	return ui->view == UI_VIEW_INCREMENTAL;
}

static struct model_walk *walk_of(const struct ui *ui)
{
	return incremental(ui) ? ui->inc_walk : ui->walk;
}

static const struct model_block *block_at(const struct ui *ui, size_t i)
{
	const struct model_block *b = NULL;
	struct model_walk *w = walk_of(ui);
	if (!w || model_walk_page(w, i, 1, &b) != 1)
		return NULL;
	return b;
}

static size_t count(struct ui *ui, const struct model_view *v)
{
	struct model_walk *w = walk_of(ui);
	if (incremental(ui) && v && !v->marked)
		return 0;
	return w ? w->count : 0;
}

/* The name filter asks for a block's top frame; blocks share few stacks, so remember the answer
 * per stack id for the length of one rebuild. */
struct match_memo {
	uint64_t stamp, generation;
	uint32_t ids[4096];
	int8_t answer[4096]; /* 0 unknown, 1 match, -1 no match */
};
static struct match_memo memo;

static bool keep(struct ui *ui, const struct model_view *v, size_t i)
{
	if (!ui_name_filter_active(ui))
		return true;
	const struct model_block *b = block_at(ui, i);
	if (!b)
		return false;
	uint64_t gen = v ? v->generation : 0;
	if (memo.stamp != ui->stamp || memo.generation != gen) {
		memset(memo.answer, 0, sizeof memo.answer);
		memo.stamp = ui->stamp;
		memo.generation = gen;
	}
	size_t h = (b->stack_id * 2654435761u) & 4095;
	if (memo.answer[h] && memo.ids[h] == b->stack_id)
		return memo.answer[h] > 0;
	struct model_frame top;
	ui_stack_top(ui, v, b->stack_id, &top);
	bool match = ui_frame_matches(ui, &top);
	memo.ids[h] = b->stack_id;
	memo.answer[h] = match ? 1 : -1;
	return match;
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

static uint64_t num_key(struct ui *ui, const struct model_view *v, size_t i, int col)
{
	(void)v;
	const struct model_block *b = block_at(ui, i);
	if (!b)
		return 0;
	switch (col) {
	case COL_ADDR:
		return b->addr;
	case COL_SIZE:
		return b->size;
	case COL_TID:
		return b->thread_id;
	case COL_AGE:
		return b->age_ns;
	case COL_REALLOC:
		return b->from_realloc;
	default:
		return 0;
	}
}

static const char *str_key(struct ui *ui, const struct model_view *v, size_t i, int col)
{
	(void)col;
	const struct model_block *b = block_at(ui, i);
	if (!b)
		return NULL;
	const struct model_site *site = ui_sitemap_find(ui, v, b->stack_id);
	return site ? (site->top.func ? site->top.func : site->top.module) : NULL;
}

static uint64_t row_id(struct ui *ui, const struct model_view *v, size_t i)
{
	(void)v;
	const struct model_block *b = block_at(ui, i);
	return b ? b->addr : 0;
}

static void cell(struct ui *ui, const struct model_view *v, size_t i, int col, char *buf, size_t n,
		 enum ui_color *color)
{
	const struct model_block *b = block_at(ui, i);
	if (!b)
		return;
	struct model_frame top;
	switch (col) {
	case COL_ADDR:
		snprintf(buf, n, "0x%012" PRIx64, b->addr);
		*color = UI_C_DIM;
		break;
	case COL_SIZE:
		ui_fmt_bytes_short(buf, n, b->size);
		break;
	case COL_TID:
		snprintf(buf, n, "%d", (int)tid_of(v, b->thread_id));
		break;
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
			 ui_fmt_bytes_short(bytes, sizeof bytes, w->total_bytes), age);
	} else {
		snprintf(buf, n, "Heap walk: %zu blocks, %s bytes (%s)", w->count,
			 ui_fmt_bytes_short(bytes, sizeof bytes, w->total_bytes), age);
	}
	if (ui_name_filter_active(ui)) {
		size_t len = strlen(buf);
		snprintf(buf + len, n - len, ", %zu match", ui->tables[id].n_rows);
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
	const struct model_block *b = row < 0 ? NULL : block_at(ui, (size_t)row);
	if (!b) {
		ui_draw_text(y, 0, w, UI_C_DIM, "no block selected");
		return;
	}
	ui_stack_panel_draw(ui, b->stack_id, y, h, w);
}

#define WALK_OPS(NAME, TITLE)                                                                        \
	{                                                                                            \
		.name = NAME, .title = TITLE, .cols = cols, .n_cols = N_COLS,                        \
		.default_sort = COL_ADDR, .default_ascending = true, .follows_generation = false,    \
		.row_height = 1, .count = count, .keep = keep, .num_key = num_key,                   \
		.str_key = str_key, .row_id = row_id, .cell = cell, .title_line = title_line,        \
		.extra_lines = extra_lines, .draw_extra = draw_extra,                \
		.activate = ui_stack_panel_toggle,                                                      \
	}

const struct ui_view_ops ui_view_walk = WALK_OPS("Heap walk", "Heap walk");
const struct ui_view_ops ui_view_incremental = WALK_OPS("Incremental", "Incremental walk");
