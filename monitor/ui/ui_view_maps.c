/* ui_view_maps: view 5, the heap against the memory map: each heap mapping's size, RSS, live heap
 * bytes and heap % of RSS, with its heatmap on the line below (resident-but-empty stretches stand out).
 * Rows come from model_maps_compute (on entry, slow timer, +/-); must never read /proc itself. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ui_format.h"
#include "ui_glyphs.h"
#include "ui_view_common.h"

enum { COL_START, COL_SIZE, COL_RSS, COL_HEAP, COL_PCT, COL_BLOCKS, COL_NAME, N_COLS };

static const struct ui_column cols[N_COLS] = {
	[COL_START] = {"START", 14, true, false,
		.what = "start address of the mapping"},
	[COL_SIZE] = {"SIZE", 7, false, false,
		.what = "mapping size in bytes"},
	[COL_RSS] = {"RSS", 7, false, false,
		.what = "its resident bytes (smaps Rss)"},
	[COL_HEAP] = {"HEAP", 7, false, false,
		.what = "bytes of live blocks inside it"},
	[COL_PCT] = {"HEAP%", 6, false, false,
		.what = "HEAP as a percentage of RSS"},
	[COL_BLOCKS] = {"BLOCKS", 8, false, false,
		.what = "live blocks inside it"},
	[COL_NAME] = {"MAPPING", 0, true, true,
		.what = "file or kind of the mapping; the line under it: where its live bytes are"},
};

static const struct model_map_row *row_at(const struct ui *ui, size_t i)
{
	return ui->maps && i < ui->maps->n_rows ? &ui->maps->rows[i] : NULL;
}

static size_t count(struct ui *ui, const struct model_view *v)
{
	(void)v;
	return ui->maps ? ui->maps->n_rows : 0;
}

static uint64_t num_key(struct ui *ui, const struct model_view *v, size_t i, int col)
{
	(void)v;
	const struct model_map_row *r = row_at(ui, i);
	switch (col) {
	case COL_START:
		return r->start;
	case COL_SIZE:
		return r->size_kib;
	case COL_RSS:
		return r->rss_kib;
	case COL_HEAP:
		return r->heap_bytes;
	case COL_PCT:
		return ui_sort_key_double(r->heap_pct_of_rss);
	case COL_BLOCKS:
		return r->heap_blocks;
	default:
		return 0;
	}
}

static const char *str_key(struct ui *ui, const struct model_view *v, size_t i, int col)
{
	(void)v;
	(void)col;
	return row_at(ui, i)->name;
}

static uint64_t row_id(struct ui *ui, const struct model_view *v, size_t i)
{
	(void)v;
	return row_at(ui, i)->start;
}

static void cell(struct ui *ui, const struct model_view *v, size_t i, int col, char *buf, size_t n,
		 enum ui_color *color)
{
	(void)v;
	const struct model_map_row *r = row_at(ui, i);
	switch (col) {
	case COL_START:
		snprintf(buf, n, "0x%012" PRIx64, r->start);
		*color = UI_C_DIM;
		break;
	case COL_SIZE:
		ui_fmt_count(buf, n, r->size_kib * 1024);
		break;
	case COL_RSS:
		ui_fmt_count(buf, n, r->rss_kib * 1024);
		break;
	case COL_HEAP:
		ui_fmt_count(buf, n, r->heap_bytes);
		break;
	case COL_PCT:
		snprintf(buf, n, "%.1f", r->heap_pct_of_rss);
		if (r->rss_kib && r->heap_pct_of_rss < 50.0)
			*color = UI_C_WARN; /* less than half of what is resident is live heap */
		break;
	case COL_BLOCKS:
		ui_fmt_count(buf, n, r->heap_blocks);
		break;
	case COL_NAME:
		/* Only paths and [names] are names: anything else is shown as anonymous. */
		snprintf(buf, n, "%s", r->name[0] == '/' || r->name[0] == '[' ? r->name : "[anon]");
		break;
	}
}

static enum ui_color heat_color(struct ui_heat_cell c)
{
	switch (c.kind) {
	case UI_HEAT_RESIDENT_EMPTY:
		return UI_C_HEAT_WASTE;
	case UI_HEAT_USED:
		return c.level >= 6 ? UI_C_HEAT_HIGH : c.level >= 3 ? UI_C_HEAT_MID : UI_C_HEAT_LOW;
	default:
		return UI_C_HEAT_NONE;
	}
}

/* The heatmap line is "[" cells "]" with a column of margin each side: the cells drawn for a
 * screen w wide, which the title must name (never more than the divisions asked for). */
static size_t heat_cells_drawn(unsigned divisions, int w)
{
	size_t d = divisions > MODEL_HEAT_MAX ? MODEL_HEAT_MAX : divisions;
	size_t avail = w > 4 ? (size_t)(w - 4) : 0;
	return d < avail ? d : avail;
}

static void draw_line2(struct ui *ui, const struct model_view *v, size_t i, int y, int w)
{
	(void)v;
	const struct model_map_row *r = row_at(ui, i);
	struct ui_heat_cell cells[MODEL_HEAT_MAX];
	size_t divisions = r->divisions > MODEL_HEAT_MAX ? MODEL_HEAT_MAX : r->divisions;
	int avail = w - 4;
	if (avail < 1 || divisions == 0)
		return;
	size_t n = ui_heat_cells(r->heat_bytes, r->heat_resident_known ? r->heat_resident : NULL, divisions,
				 r->end - r->start, (size_t)avail, cells);
	ui_draw_text(y, 1, 1, UI_C_DIM, "[");
	for (size_t c = 0; c < n; c++)
		ui_draw_text(y, 2 + (int)c, 1, heat_color(cells[c]), ui_glyph_heat(cells[c]));
	ui_draw_text(y, 2 + (int)n, 1, UI_C_DIM, "]");
}

static void title_line(struct ui *ui, const struct model_view *v, char *buf, size_t n)
{
	(void)v;
	char age[64];
	ui_fmt_result_age(ui, UI_VIEW_MAPS, age, sizeof age);
	const struct model_maps *m = ui->maps;
	if (m && m->target_gone)
		snprintf(buf, n, "Memory map: the target has exited, its maps are gone");
	else if (heat_cells_drawn(ui->heat_divisions, ui->cols) < ui->heat_divisions)
		/* more divisions than columns: each cell merges several, say how many are drawn */
		snprintf(buf, n, "Memory map: %zu heap mappings, %u divisions in %zu cells (+/-), %s",
			 m ? m->n_rows : 0, ui->heat_divisions,
			 heat_cells_drawn(ui->heat_divisions, ui->cols), age);
	else
		snprintf(buf, n, "Memory map: %zu heap mappings, %u divisions (+/-), %s",
			 m ? m->n_rows : 0, ui->heat_divisions, age);
	if (ui_thread_filter_active(ui)) {
		size_t len = strlen(buf);
		snprintf(buf + len, n - len, "  (all threads)");
	}
}

static int extra_lines(struct ui *ui, const struct model_view *v, int avail)
{
	(void)ui;
	(void)v;
	return avail >= 6 ? 1 : 0;
}

static void draw_extra(struct ui *ui, const struct model_view *v, int y, int h, int w)
{
	(void)v;
	(void)h;
	struct ui_heat_cell full = {UI_HEAT_USED, 8}, sparse = {UI_HEAT_USED, 1};
	struct ui_heat_cell waste = {UI_HEAT_RESIDENT_EMPTY, 0}, none = {UI_HEAT_NOT_RESIDENT, 0};
	int x = 0;
	ui_draw_text(y, x, w - x, UI_C_DEFAULT, "Legend:");
	x += 8;
	struct {
		struct ui_heat_cell c;
		const char *what;
	} items[] = {{full, "full"}, {sparse, "sparse"}, {waste, "resident, no live heap"},
		     {none, "not resident"}};
	for (size_t i = 0; i < 4 && x < w; i++) {
		ui_draw_text(y, x, w - x, heat_color(items[i].c), ui_glyph_heat(items[i].c));
		ui_draw_text(y, x + 2, w - x - 2, UI_C_DEFAULT, items[i].what);
		x += 3 + ui_text_width(items[i].what) + 1;
	}
	if (ui->maps && !ui->maps->pagemap_readable && x + 10 < w)
		ui_draw_text(y, x, w - x, UI_C_WARN, "resident pages unknown (pagemap not readable)");
}

const struct ui_view_ops ui_view_maps = {
	.name = "Memory map",
	.tab = "Map",
	.title = "Memory map",
	.cols = cols,
	.n_cols = N_COLS,
	.default_sort = COL_START,
	.default_ascending = true,
	.follows_generation = false,
	.row_height = 2,
	.count = count,
	.num_key = num_key,
	.str_key = str_key,
	.row_id = row_id,
	.cell = cell,
	.draw_line2 = draw_line2,
	.title_line = title_line,
	.extra_lines = extra_lines,
	.draw_extra = draw_extra,
};
