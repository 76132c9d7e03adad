/* ui_view_callers: view 7, the caller tree: call sites merged by caller, from the allocating
 * function out to its callers, each node with live bytes, blocks and allocations of its subtree.
 * The tree is built by the query worker (ui_query.c); this file only lays out its rows, opens and
 * closes nodes, and draws. Must never read a stack or walk the live set itself. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui_format.h"
#include "ui_query.h"
#include "ui_view_common.h"

enum { COL_LIVE, COL_BLOCKS, COL_ALLOCS, COL_FRAME, N_COLS };

static const struct ui_column cols[N_COLS] = {
	[COL_LIVE] = {"LIVE", 9, false, false,
		.what = "bytes of live blocks allocated under this node (its callers' sites included)"},
	[COL_BLOCKS] = {"BLOCKS", 9, false, false,
		.what = "live blocks allocated under this node"},
	[COL_ALLOCS] = {"ALLOCS", 10, false, false,
		.what = "allocations made under this node since tracking began (- under a thread filter)"},
	[COL_FRAME] = {"CALLER TREE", 0, true, true,
		.what = "the allocating function, then (open it) who called it, file:line where known"},
};

/* Open paths are kept across rebuilds (a new tree every 2 s); a few thousand at most. */
#define CALLERS_MAX_OPEN 4096

static struct ui_table *table(struct ui *ui)
{
	return &ui->tables[UI_VIEW_CALLERS];
}

static const struct ui_ctree_node *node(const struct ui *ui, size_t i)
{
	return &ui->ctree->nodes[i];
}

static bool is_open(const struct ui *ui, uint64_t path, size_t *at)
{
	for (size_t k = 0; k < ui->n_ctree_open; k++)
		if (ui->ctree_open[k] == path) {
			if (at)
				*at = k;
			return true;
		}
	return false;
}

void ui_callers_rows(struct ui *ui)
{
	struct ui_table *t = table(ui);
	/* the selected node by its path: the rows may index a tree just replaced */
	uint64_t keep = t->have_selected_id ? t->selected_id : 0;
	size_t n = ui->ctree ? ui_ctree_rows(ui->ctree, ui->ctree_open, ui->n_ctree_open, NULL, 0) : 0;
	if (n > t->cap) {
		uint32_t *rows = realloc(t->rows, n * sizeof *rows);
		if (!rows)
			n = t->cap;
		else {
			t->rows = rows;
			t->cap = n;
		}
	}
	if (ui->ctree)
		ui_ctree_rows(ui->ctree, ui->ctree_open, ui->n_ctree_open, t->rows, n);
	t->n_query = t->n_rows = n;
	for (size_t i = 0; keep && i < n; i++)
		if (node(ui, t->rows[i])->path == keep) {
			t->selected = i;
			break;
		}
	if (t->selected >= n)
		t->selected = n ? n - 1 : 0;
	t->selected_id = keep;
	t->have_selected_id = keep != 0;
	t->built = false;
	ui->stamp++;
}

/* Moves typed before this key are applied at the next draw (ui_table.c): apply them now, so that
 * Down Down Right opens the row two below, not the one drawn selected. */
static void settle_selection(struct ui_table *t)
{
	if (t->pending_jump)
		t->selected = t->pending_jump < 0 || !t->n_rows ? 0 : t->n_rows - 1;
	long target = (long)t->selected + t->pending_delta;
	if (target < 0 || !t->n_rows)
		target = 0;
	else if ((size_t)target >= t->n_rows)
		target = (long)t->n_rows - 1;
	if (t->pending_delta || t->pending_jump)
		t->have_selected_id = true;
	t->selected = (size_t)target;
	t->pending_delta = 0;
	t->pending_jump = 0;
}

void ui_callers_fold(struct ui *ui, enum ui_callers_fold how)
{
	struct ui_table *t = table(ui);
	settle_selection(t);
	if (!ui->ctree || t->selected >= t->n_rows)
		return;
	const struct ui_ctree_node *nd = node(ui, t->rows[t->selected]);
	t->selected_id = nd->path;
	t->have_selected_id = true;
	size_t at;
	bool open = is_open(ui, nd->path, &at);
	if (how == UI_CALLERS_TOGGLE)
		how = open ? UI_CALLERS_CLOSE : UI_CALLERS_OPEN;
	if (how == UI_CALLERS_CLOSE && !open && nd->parent) {
		/* Left on a closed node goes to its parent, as in a file tree */
		for (size_t i = t->selected; i-- > 0;)
			if (t->rows[i] == nd->parent) {
				t->selected = i;
				break;
			}
		t->selected_id = node(ui, t->rows[t->selected])->path;
		t->have_selected_id = true;
		ui->stamp++;
		return;
	}
	if (how == UI_CALLERS_CLOSE && open)
		ui->ctree_open[at] = ui->ctree_open[--ui->n_ctree_open];
	if (how == UI_CALLERS_OPEN && !open && nd->first_child != UI_CTREE_NONE) {
		if (ui->n_ctree_open == CALLERS_MAX_OPEN) {
			ui_message(ui, true, "%d nodes are open already: close some first", CALLERS_MAX_OPEN);
			return;
		}
		if (!ui->ctree_open) {
			ui->ctree_open = malloc(CALLERS_MAX_OPEN * sizeof *ui->ctree_open);
			if (!ui->ctree_open)
				return;
		}
		ui->ctree_open[ui->n_ctree_open++] = nd->path;
	}
	ui_callers_rows(ui);
}

void ui_callers_free(struct ui *ui)
{
	if (ui->ctree) {
		ui_ctree_free(ui->ctree);
		free(ui->ctree);
		ui->ctree = NULL;
	}
	free(ui->ctree_open);
	ui->ctree_open = NULL;
	ui->n_ctree_open = 0;
}

static size_t count(struct ui *ui, const struct model_view *v)
{
	(void)v;
	return ui->ctree ? table(ui)->n_query : 0;
}

static uint64_t row_id(struct ui *ui, const struct model_view *v, size_t i)
{
	(void)v;
	return node(ui, i)->path;
}

static bool source_sorted(struct ui *ui, int col, bool ascending)
{
	(void)ui;
	(void)col;
	(void)ascending;
	return true; /* a tree keeps its shape: children by live bytes */
}

static void cell(struct ui *ui, const struct model_view *v, size_t i, int col, char *buf, size_t n,
		 enum ui_color *color)
{
	(void)v;
	const struct ui_ctree_node *nd = node(ui, i);
	switch (col) {
	case COL_LIVE:
		ui_fmt_count(buf, n, nd->live_bytes);
		break;
	case COL_BLOCKS:
		ui_fmt_count(buf, n, nd->live_blocks);
		break;
	case COL_ALLOCS:
		if (ui_thread_filter_active(ui))
			snprintf(buf, n, "-");
		else
			ui_fmt_count(buf, n, nd->allocs);
		break;
	case COL_FRAME: {
		char frame[512];
		bool utf8 = ui_crt_utf8(), leaf = nd->first_child == UI_CTREE_NONE;
		const char *mark = leaf ? " " : is_open(ui, nd->path, NULL) ? (utf8 ? "▾" : "-")
									     : (utf8 ? "▸" : "+");
		unsigned indent = nd->depth < 40 ? 2 * nd->depth : 80;
		snprintf(buf, n, "%*s%s %s", (int)indent, "", mark, ui_fmt_frame(frame, sizeof frame, &nd->frame));
		if (!nd->frame.func)
			*color = UI_C_DIM;
		break;
	}
	}
}

static void title_line(struct ui *ui, const struct model_view *v, char *buf, size_t n)
{
	(void)v;
	char age[64];
	ui_fmt_result_age(ui, UI_VIEW_CALLERS, age, sizeof age);
	size_t roots = 0;
	for (uint32_t k = ui->ctree && ui->ctree->n ? ui->ctree->nodes[0].first_child : UI_CTREE_NONE;
	     k != UI_CTREE_NONE; k = ui->ctree->nodes[k].next_sibling)
		roots++;
	snprintf(buf, n, "Caller tree: %zu allocating function%s, %zu rows shown%s (Enter Right + open, "
		 "Left - close; %s)", roots, roots == 1 ? "" : "s", table(ui)->n_rows,
		 ui->ctree && ui->ctree->truncated ? ", cut at its node limit" : "", age);
}

static int extra_lines(struct ui *ui, const struct model_view *v, int avail)
{
	(void)ui;
	(void)v;
	return avail >= 8 ? 3 : 0;
}

/* The selected node's path in the tree: the allocating function, then its caller, and so on. */
static void draw_extra(struct ui *ui, const struct model_view *v, int y, int h, int w)
{
	(void)v;
	struct ui_table *t = table(ui);
	ui_draw_fill(y, 0, w, UI_C_TABLE_HEADER);
	if (!ui->ctree || t->selected >= t->n_rows) {
		ui_draw_text(y, 0, w, UI_C_TABLE_HEADER, "Path: no node selected");
		return;
	}
	char line[2048], frame[512];
	size_t len = 0;
	uint32_t chain[64];
	int depth = 0;
	for (uint32_t k = t->rows[t->selected]; k && k != UI_CTREE_NONE && depth < 64; k = node(ui, k)->parent)
		chain[depth++] = k;
	ui_draw_text(y, 0, w, UI_C_TABLE_HEADER, "Path: the allocating function, then each caller");
	line[0] = '\0';
	for (int d = depth - 1; d >= 0 && len + 4 < sizeof line; d--)
		len += (size_t)snprintf(line + len, sizeof line - len, "%s%s", d == depth - 1 ? "" : " > ",
					ui_fmt_frame(frame, sizeof frame, &node(ui, chain[d])->frame));
	for (int r = 1; r < h && len; r++) { /* wrapped over the lines it has */
		size_t off = (size_t)(r - 1) * (size_t)(w > 2 ? w - 1 : 1);
		if (off >= len)
			break;
		ui_draw_text(y + r, 1, w - 1, UI_C_DEFAULT, line + off);
	}
}

static void activate(struct ui *ui, const struct model_view *v, size_t i)
{
	(void)v;
	(void)i;
	ui_callers_fold(ui, UI_CALLERS_TOGGLE);
}

const struct ui_view_ops ui_view_callers = {
	.name = "Callers",
	.title = "Caller tree",
	.cols = cols,
	.n_cols = N_COLS,
	.default_sort = COL_LIVE,
	.default_ascending = false,
	.rows_from_query = true,
	.row_height = 1,
	.count = count,
	.row_id = row_id,
	.source_sorted = source_sorted,
	.cell = cell,
	.title_line = title_line,
	.extra_lines = extra_lines,
	.draw_extra = draw_extra,
	.activate = activate,
};
