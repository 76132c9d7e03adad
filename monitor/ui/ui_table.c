/* ui_table: the sortable, scrolling table every view draws through: filter and sort rows (rebuilt
 * only when the data, a filter or the sort changed), keep the selection on the same item, draw the
 * visible rows. Must never compute model data: cells come from the view's callbacks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui_glyphs.h"
#include "ui_query.h"
#include "ui_sort.h"
#include "ui_state.h"

static bool ensure_cap(struct ui_table *t, size_t n)
{
	if (n <= t->cap)
		return true;
	size_t cap = t->cap ? t->cap : 256;
	while (cap < n)
		cap *= 2;
	uint32_t *rows = realloc(t->rows, cap * sizeof *rows);
	if (!rows)
		return false;
	t->rows = rows;
	t->cap = cap;
	return true;
}

/* Two arrays of n sort items and n keys, kept for the next rebuild. */
static bool ensure_scratch(struct ui_table *t, size_t n)
{
	if (n <= t->scratch_cap)
		return true;
	size_t cap = t->scratch_cap ? t->scratch_cap : 256;
	while (cap < n)
		cap *= 2;
	struct ui_sort_item *items = malloc(2 * cap * sizeof *items);
	const char **keys = malloc(cap * sizeof *keys);
	if (!items || !keys) {
		free(items);
		free(keys);
		return false;
	}
	free(t->scratch);
	free(t->scratch_keys);
	t->scratch = items;
	t->scratch_keys = keys;
	t->scratch_cap = cap;
	return true;
}

/* Text columns of interned strings: sort by cached rank (a radix sort), ranking again only when a
 * string not seen before shows up (new call sites, newly symbolized frames). */
static void sort_by_rank(struct ui *ui, const struct ui_view_ops *ops, struct ui_table *t,
			 const struct model_view *v, int col)
{
	size_t n = t->n_rows;
	const char **keys = t->scratch_keys;
	struct ui_sort_item *items = t->scratch;
	int32_t *ranks = (int32_t *)(items + n); /* the second half is free until the sort */
	for (size_t i = 0; i < n; i++) {
		const char *k = ops->str_key(ui, v, t->rows[i], col);
		keys[i] = k ? k : "";
	}
	if (ui_strcache_get_many(&ui->rank_cache, keys, n, ranks, INT32_MAX) < n &&
	    !ui_query_text_async(ui, UI_TEXT_RANK, keys, n)) {
		ui_strcache_rank(&ui->rank_cache, keys, n);
		ui_strcache_get_many(&ui->rank_cache, keys, n, ranks, INT32_MAX);
	}
	/* else new strings sort last until the worker's ranks come (a frame or two) */
	for (size_t i = 0; i < n; i++)
		items[i] = (struct ui_sort_item){(uint64_t)(uint32_t)ranks[i], t->rows[i]};
	struct ui_sort_item *sorted = ui_sort_numeric(items, items + n, n, t->ascending);
	for (size_t i = 0; i < n; i++)
		t->rows[i] = sorted[i].row;
}

static void sort_rows(struct ui *ui, const struct ui_view_ops *ops, struct ui_table *t,
		      const struct model_view *v)
{
	size_t n = t->n_rows;
	if (n < 2 || t->sort_col < 0 || t->sort_col >= ops->n_cols || !ensure_scratch(t, n))
		return;
	int col = t->sort_col;
	if (ops->source_sorted && n == ops->count(ui, v) && ops->source_sorted(ui, col, t->ascending))
		return; /* every row kept, in source order: already sorted */
	if (ops->cols[col].text_key && ops->cols[col].interned) {
		sort_by_rank(ui, ops, t, v, col);
		return;
	}
	if (ops->cols[col].text_key) {
		struct ui_sort_text *items = malloc(n * sizeof *items);
		if (!items)
			return;
		for (size_t i = 0; i < n; i++)
			items[i] = (struct ui_sort_text){ops->str_key(ui, v, t->rows[i], col), t->rows[i]};
		ui_sort_strings(items, n, t->ascending);
		for (size_t i = 0; i < n; i++)
			t->rows[i] = items[i].row;
		free(items);
		return;
	}
	struct ui_sort_item *items = t->scratch;
	for (size_t i = 0; i < n; i++)
		items[i] = (struct ui_sort_item){ops->num_key(ui, v, t->rows[i], col), t->rows[i]};
	struct ui_sort_item *sorted = ui_sort_numeric(items, items + n, n, t->ascending);
	for (size_t i = 0; i < n; i++)
		t->rows[i] = sorted[i].row;
}

static void restore_selection(struct ui *ui, const struct ui_view_ops *ops, struct ui_table *t,
			      const struct model_view *v)
{
	if (t->have_selected_id && ops->row_id) {
		for (size_t i = 0; i < t->n_rows; i++) {
			if (ops->row_id(ui, v, t->rows[i]) == t->selected_id) {
				t->selected = i;
				return;
			}
		}
	}
	if (t->selected >= t->n_rows)
		t->selected = t->n_rows ? t->n_rows - 1 : 0;
}

void ui_table_rebuild_if_stale(struct ui *ui, const struct ui_view_ops *ops, struct ui_table *t,
			       const struct model_view *v)
{
	uint64_t gen = v ? v->generation : 0;
	if (t->built && t->built_stamp == ui->stamp && (!ops->follows_generation || t->built_generation == gen))
		return;
	if (ops->rows_from_query) {
		/* Installed filtered and sorted by the query (ui_walk_install); only the count can shrink. */
		size_t shown = ops->count(ui, v);
		t->n_rows = shown < t->n_query ? shown : t->n_query;
		if (t->selected >= t->n_rows)
			t->selected = t->n_rows ? t->n_rows - 1 : 0;
		t->built = true;
		t->built_stamp = ui->stamp;
		t->built_generation = gen;
		return;
	}
	size_t n = ops->count(ui, v);
	t->n_rows = 0;
	if (n > UINT32_MAX || !ensure_cap(t, n))
		n = 0;
	for (size_t i = 0; i < n; i++)
		if (!ops->keep || ops->keep(ui, v, i))
			t->rows[t->n_rows++] = (uint32_t)i;
	sort_rows(ui, ops, t, v);
	restore_selection(ui, ops, t, v);
	t->built = true;
	t->built_stamp = ui->stamp;
	t->built_generation = gen;
}

static void apply_pending_moves(struct ui *ui, const struct ui_view_ops *ops, struct ui_table *t,
				const struct model_view *v)
{
	bool moved = t->pending_delta != 0 || t->pending_jump != 0;
	if (t->pending_jump < 0)
		t->selected = 0;
	else if (t->pending_jump > 0)
		t->selected = t->n_rows ? t->n_rows - 1 : 0;
	long target = (long)t->selected + t->pending_delta;
	if (target < 0)
		target = 0;
	if (t->n_rows == 0)
		target = 0;
	else if ((size_t)target >= t->n_rows)
		target = (long)t->n_rows - 1;
	t->selected = (size_t)target;
	t->pending_delta = 0;
	t->pending_jump = 0;
	if (moved)
		t->have_selected_id = true; /* from now on the selection follows its item */
	if (t->n_rows && ops->row_id)
		t->selected_id = ops->row_id(ui, v, t->rows[t->selected]);
}

/* x offset and width of each column for a table w columns wide: a fixed column is as wide as its
 * widest visible cell (numbers are exact, with separators: never cut), at least its set width;
 * the flexible ones share what is left. */
static void layout_columns(struct ui *ui, const struct ui_view_ops *ops, const struct ui_table *t,
			   const struct model_view *v, int visible, int w, int *xs, int *ws)
{
	int fixed = 0, flex = 0;
	for (int c = 0; c < ops->n_cols; c++) {
		ws[c] = ops->cols[c].width;
		if (!ws[c]) {
			flex++;
			continue;
		}
		int title = ui_text_width(ops->cols[c].title) + (c == t->sort_col);
		if (ws[c] < title)
			ws[c] = title;
		for (int r = 0; r < visible && t->top + (size_t)r < t->n_rows; r++) {
			char buf[128];
			enum ui_color color = UI_C_DEFAULT;
			buf[0] = '\0';
			ops->cell(ui, v, t->rows[t->top + (size_t)r], c, buf, sizeof buf, &color);
			int cw = ui_text_width(buf);
			if (cw > ws[c])
				ws[c] = cw;
		}
		fixed += ws[c] + 1;
	}
	int each = flex ? (w - fixed) / flex : 0;
	if (each < 4)
		each = 4;
	int x = 0;
	for (int c = 0; c < ops->n_cols; c++) {
		xs[c] = x;
		if (!ws[c])
			ws[c] = each;
		x += ws[c] + 1;
	}
}

static void draw_cell(int y, int x, int cw, int maxx, bool left, enum ui_color color, const char *text)
{
	if (x >= maxx)
		return;
	int avail = maxx - x < cw ? maxx - x : cw;
	int tw = ui_text_width(text);
	int pad = (!left && tw < avail) ? avail - tw : 0;
	ui_draw_text(y, x + pad, avail - pad, color, text);
}

static void draw_header(const struct ui_view_ops *ops, const struct ui_table *t, int y, int w,
			const int *xs, const int *ws)
{
	ui_draw_fill(y, 0, w, UI_C_TABLE_HEADER);
	for (int c = 0; c < ops->n_cols; c++) {
		char title[64];
		bool sorted = c == t->sort_col;
		const char *arrow = !sorted ? "" : ui_crt_utf8() ? (t->ascending ? "▲" : "▼")
								 : (t->ascending ? "^" : "v");
		snprintf(title, sizeof title, "%s%s", ops->cols[c].title, arrow);
		draw_cell(y, xs[c], ws[c], w, ops->cols[c].left,
			  sorted ? UI_C_SORT_COLUMN : UI_C_TABLE_HEADER, title);
	}
}

void ui_table_draw(struct ui *ui, const struct ui_view_ops *ops, struct ui_table *t,
		   const struct model_view *v, int y, int h, int w)
{
	if (h < 2 || w < 1)
		return;
	ui_table_rebuild_if_stale(ui, ops, t, v);
	apply_pending_moves(ui, ops, t, v);
	int xs[16], ws[16];
	int rh = ops->row_height > 1 ? ops->row_height : 1;
	int visible = (h - 1) / rh;
	t->page_rows = visible > 1 ? visible - 1 : 1;
	if (t->selected < t->top)
		t->top = t->selected;
	if (visible > 0 && t->selected >= t->top + (size_t)visible)
		t->top = t->selected - (size_t)visible + 1;
	if (t->top + (size_t)visible > t->n_rows)
		t->top = t->n_rows > (size_t)visible ? t->n_rows - (size_t)visible : 0;
	layout_columns(ui, ops, t, v, visible, w, xs, ws);
	draw_header(ops, t, y, w, xs, ws);
	ui->hits.head_y = y;
	ui->hits.n_cols = ops->n_cols < 16 ? ops->n_cols : 16;
	memcpy(ui->hits.col_x, xs, sizeof(int) * (size_t)ui->hits.n_cols);
	memcpy(ui->hits.col_w, ws, sizeof(int) * (size_t)ui->hits.n_cols);
	ui->hits.row_y = y + 1;
	ui->hits.row_h = rh;
	ui->hits.rows_shown = 0;
	for (int r = 0; r < visible && t->top + (size_t)r < t->n_rows; r++) {
		size_t at = t->top + (size_t)r;
		size_t src = t->rows[at];
		int ry = y + 1 + r * rh;
		bool sel = at == t->selected;
		ui->hits.rows_shown = r + 1;
		if (sel)
			ui_draw_fill(ry, 0, w, UI_C_SELECTED);
		for (int c = 0; c < ops->n_cols; c++) {
			char buf[512];
			enum ui_color color = UI_C_DEFAULT;
			buf[0] = '\0';
			ops->cell(ui, v, src, c, buf, sizeof buf, &color);
			draw_cell(ry, xs[c], ws[c], w, ops->cols[c].left, sel ? UI_C_SELECTED : color, buf);
		}
		if (rh > 1 && ops->draw_line2)
			ops->draw_line2(ui, v, src, ry + 1, w);
	}
	if (ui->pending_activate) {
		ui->pending_activate = false;
		if (t->n_rows && ops->activate)
			ops->activate(ui, v, t->rows[t->selected]);
	}
}

void ui_table_move(struct ui *ui, struct ui_table *t, long delta)
{
	(void)ui;
	t->pending_delta += delta;
}

void ui_table_home(struct ui *ui, struct ui_table *t)
{
	(void)ui;
	t->pending_jump = -1;
	t->pending_delta = 0;
}

void ui_table_end(struct ui *ui, struct ui_table *t)
{
	(void)ui;
	t->pending_jump = 1;
	t->pending_delta = 0;
}

long ui_table_selected_row(const struct ui_table *t)
{
	return t->n_rows ? (long)t->rows[t->selected] : -1;
}

void ui_table_free(struct ui_table *t)
{
	free(t->rows);
	free(t->scratch);
	free(t->scratch_keys);
	memset(t, 0, sizeof *t);
}
