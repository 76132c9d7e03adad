/* ui_view_suspects: view 6, leak suspects: blocks older than the expire age grouped by call site,
 * and below them the call sites whose live bytes keep growing. Rows come from model_suspects_compute
 * (or, under a thread filter, from that thread's old blocks grouped by stack). Never walks itself. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ui_format.h"
#include "ui_view_common.h"

enum { COL_BYTES, COL_BLOCKS, COL_OLDEST, COL_FRAME, N_COLS };

static const struct ui_column cols[N_COLS] = {
	[COL_BYTES] = {"BYTES", 7, false, false,
		.what = "bytes of blocks older than the expire age (e/E) from this call site"},
	[COL_BLOCKS] = {"BLOCKS", 9, false, false,
		.what = "how many such blocks"},
	[COL_OLDEST] = {"OLDEST", 7, false, false,
		.what = "age of the oldest of them"},
	[COL_FRAME] = {"FUNCTION FILE:LINE", 0, true, true, true,
		.what = "the allocating function and its file:line (Enter: the whole stack)"},
};

struct suspect_row {
	uint32_t stack_id;
	uint64_t bytes, blocks, oldest_age_ns;
	struct model_frame top;
};

static bool grouped(const struct ui *ui)
{
	return ui_thread_filter_active(ui);
}

static void get_row(struct ui *ui, const struct model_view *v, size_t i, struct suspect_row *r)
{
	if (grouped(ui)) {
		const struct ui_group_row *g = &ui->suspect_group.rows[i];
		*r = (struct suspect_row){g->stack_id, g->bytes, g->blocks, g->oldest_age_ns, {0}};
		ui_stack_top(ui, v, g->stack_id, &r->top);
		return;
	}
	const struct model_suspect_site *s = &ui->suspects->sites[i];
	*r = (struct suspect_row){s->stack_id, s->bytes, s->blocks, s->oldest_age_ns, s->top};
}

static size_t count(struct ui *ui, const struct model_view *v)
{
	(void)v;
	if (grouped(ui))
		return ui->suspect_group_valid ? ui->suspect_group.n : 0;
	return ui->suspects ? ui->suspects->n_sites : 0;
}

static bool keep(struct ui *ui, const struct model_view *v, size_t i)
{
	if (!ui_name_filter_active(ui))
		return true;
	struct suspect_row r;
	get_row(ui, v, i, &r);
	return ui_frame_matches(ui, &r.top);
}

static uint64_t num_key(struct ui *ui, const struct model_view *v, size_t i, int col)
{
	struct suspect_row r;
	get_row(ui, v, i, &r);
	switch (col) {
	case COL_BYTES:
		return r.bytes;
	case COL_BLOCKS:
		return r.blocks;
	case COL_OLDEST:
		return r.oldest_age_ns;
	default:
		return 0;
	}
}

static const char *str_key(struct ui *ui, const struct model_view *v, size_t i, int col)
{
	(void)col;
	struct suspect_row r;
	get_row(ui, v, i, &r);
	return r.top.func ? r.top.func : r.top.module;
}

static uint64_t row_id(struct ui *ui, const struct model_view *v, size_t i)
{
	struct suspect_row r;
	get_row(ui, v, i, &r);
	return r.stack_id;
}

static void cell(struct ui *ui, const struct model_view *v, size_t i, int col, char *buf, size_t n,
		 enum ui_color *color)
{
	struct suspect_row r;
	get_row(ui, v, i, &r);
	switch (col) {
	case COL_BYTES:
		ui_fmt_count(buf, n, r.bytes);
		break;
	case COL_BLOCKS:
		ui_fmt_count(buf, n, r.blocks);
		break;
	case COL_OLDEST:
		ui_fmt_age(buf, n, r.oldest_age_ns);
		break;
	case COL_FRAME:
		ui_fmt_frame(buf, n, &r.top);
		if (!r.top.func)
			*color = UI_C_DIM;
		break;
	}
}

static void title_line(struct ui *ui, const struct model_view *v, char *buf, size_t n)
{
	(void)v;
	char age[64], bytes[32], expire[32];
	uint64_t total_bytes = grouped(ui) ? ui->suspect_group.bytes : ui->suspects ? ui->suspects->bytes : 0;
	uint64_t total_blocks = grouped(ui) ? ui->suspect_group.blocks : ui->suspects ? ui->suspects->blocks : 0;
	ui_fmt_result_age(ui, UI_VIEW_SUSPECTS, age, sizeof age);
	snprintf(buf, n, "Leak suspects older than %s (e/E): %zu sites, %s bytes in %" PRIu64 " blocks (%s)",
		 ui_fmt_age(expire, sizeof expire, (uint64_t)ui->expire_s * 1000000000ull),
		 ui->tables[UI_VIEW_SUSPECTS].n_rows, ui_fmt_count(bytes, sizeof bytes, total_bytes),
		 total_blocks, age);
}

/* Below the table: the expanded stack when open, else the growing call sites. */
static int extra_lines(struct ui *ui, const struct model_view *v, int avail)
{
	(void)v;
	if (ui->stack_open)
		return ui_stack_panel_lines(ui, avail);
	size_t growing = ui->suspects ? ui->suspects->n_growing : 0;
	int want = 1 + (int)(growing < 5 ? growing : 5);
	if (growing == 0)
		want = 2;
	return want <= avail / 3 ? want : avail / 3;
}

static void draw_growing(struct ui *ui, int y, int h, int w)
{
	const struct model_suspects *s = ui->suspects;
	char line[600], frame[512], growth[32], live[32];
	ui_draw_fill(y, 0, w, UI_C_TABLE_HEADER);
	snprintf(line, sizeof line, "Growing call sites (live bytes rose over the last %d samples): %zu",
		 MODEL_GROWTH_SAMPLES, s ? s->n_growing : 0);
	ui_draw_text(y, 0, w, UI_C_TABLE_HEADER, line);
	if (!s || s->n_growing == 0) {
		if (h > 1)
			ui_draw_text(y + 1, 1, w - 1, UI_C_DIM, "none");
		return;
	}
	for (int i = 0; i < h - 1 && (size_t)i < s->n_growing; i++) {
		const struct model_site *g = &s->growing[i];
		ui_fmt_count_signed(growth, sizeof growth, g->growth);
		ui_fmt_count(live, sizeof live, g->live_bytes);
		ui_fmt_frame(frame, sizeof frame, &g->top);
		snprintf(line, sizeof line, "%7s live %7s  %s", growth, live, frame);
		ui_draw_text(y + 1 + i, 0, w, UI_C_GROWING, line);
	}
}

static void draw_extra(struct ui *ui, const struct model_view *v, int y, int h, int w)
{
	if (!ui->stack_open) {
		draw_growing(ui, y, h, w);
		return;
	}
	long row = ui_table_selected_row(&ui->tables[UI_VIEW_SUSPECTS]);
	if (row < 0) {
		ui_draw_text(y, 0, w, UI_C_DIM, "no call site selected");
		return;
	}
	struct suspect_row r;
	get_row(ui, v, (size_t)row, &r);
	ui_stack_panel_draw(ui, r.stack_id, y, h, w);
}

const struct ui_view_ops ui_view_suspects = {
	.name = "Leaks",
	.title = "Leak suspects",
	.cols = cols,
	.n_cols = N_COLS,
	.default_sort = COL_BYTES,
	.default_ascending = false,
	.follows_generation = false,
	.row_height = 1,
	.count = count,
	.keep = keep,
	.num_key = num_key,
	.str_key = str_key,
	.row_id = row_id,
	.cell = cell,
	.title_line = title_line,
	.extra_lines = extra_lines,
	.draw_extra = draw_extra,
	.activate = ui_stack_panel_toggle,
};
