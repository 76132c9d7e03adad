/* ui_view_sites: view 1, call sites by live bytes with their top frame; Enter expands the stack.
 * Rows are the engine's per-site aggregates, or, under a thread filter, that thread's blocks grouped
 * by stack from a walk. Must never walk the live set itself. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui_format.h"
#include "ui_query.h"
#include "ui_view_common.h"

enum { COL_LIVE, COL_BLOCKS, COL_ALLOCS, COL_GROWTH, COL_FRAME, N_COLS };

static const struct ui_column cols[N_COLS] = {
	[COL_LIVE] = {"LIVE", 7, false, false,
		.what = "bytes of live blocks allocated at this call site"},
	[COL_BLOCKS] = {"BLOCKS", 9, false, false,
		.what = "live blocks allocated there"},
	[COL_ALLOCS] = {"ALLOCS", 10, false, false,
		.what = "allocations made there since tracking began (freed or not)"},
	[COL_GROWTH] = {"GROWTH", 7, false, false,
		.what = "change of LIVE over the last 8 one-second samples, in bytes"},
	[COL_FRAME] = {"FUNCTION FILE:LINE", 0, true, true, true,
		.what = "the allocating function and its file:line (Enter: the whole stack)"},
};

/* One row whatever the source. */
struct site_row {
	uint32_t stack_id;
	uint64_t live_bytes, live_blocks;
	const struct model_site *site; /* NULL when not in the view (new site) */
	struct model_frame top;
};

static bool grouped(const struct ui *ui)
{
	return ui_thread_filter_active(ui);
}

static void get_row(struct ui *ui, const struct model_view *v, size_t i, struct site_row *r)
{
	if (grouped(ui)) {
		const struct ui_group_row *g = &ui->site_group.rows[i];
		r->stack_id = g->stack_id;
		r->live_bytes = g->bytes;
		r->live_blocks = g->blocks;
		r->site = ui_sitemap_find(ui, v, g->stack_id);
		if (r->site)
			r->top = r->site->top;
		else
			ui_stack_top(ui, v, g->stack_id, &r->top);
		return;
	}
	const struct model_site *s = &v->sites[i];
	r->stack_id = s->stack_id;
	r->live_bytes = s->live_bytes;
	r->live_blocks = s->live_blocks;
	r->site = s;
	r->top = s->top;
}

static size_t count(struct ui *ui, const struct model_view *v)
{
	if (grouped(ui))
		return ui->site_group_valid ? ui->site_group.n : 0;
	return v ? v->n_sites : 0;
}

/* 1 or 0 when the match cache knows str, -1 when not. */
static int cached_match(const struct ui *ui, const char *str)
{
	int32_t hit;
	if (!str)
		return 0;
	return ui_strcache_get(&ui->match_cache, str, &hit) ? hit != 0 : -1;
}

/* Asks the worker whether each row's function, file and module match the name filter. */
static void ask_matches(struct ui *ui, const struct model_view *v, size_t n)
{
	if (ui->match_job_pending && !strcmp(ui->match_job_filter, ui->name_filter))
		return;
	const char **keys = malloc(3 * n * sizeof *keys);
	if (!keys)
		return;
	for (size_t i = 0; i < n; i++) {
		struct site_row r;
		get_row(ui, v, i, &r);
		keys[3 * i] = r.top.func;
		keys[3 * i + 1] = r.top.file;
		keys[3 * i + 2] = r.top.module;
	}
	ui_query_text_async(ui, UI_TEXT_MATCH, keys, 3 * n);
	free(keys);
}

/* Many rows and a new filter: 50 000 strcasestr cost more than a frame, so the worker answers; until
 * then rows keep the old filter's answers, and rows with new strings are hidden. */
static bool compute_keep_async(struct ui *ui, const struct model_view *v, size_t n)
{
	if (!ui->worker || n < UI_TEXT_ASYNC_MIN)
		return false;
	bool complete = strcmp(ui->match_filter, ui->name_filter) == 0;
	for (size_t i = 0; i < n; i++) {
		if (!grouped(ui) && i + 16 < n)
			ui_frame_match_prefetch(ui, &v->sites[i + 16].top);
		struct site_row r;
		get_row(ui, v, i, &r);
		int a = cached_match(ui, r.top.func), b = cached_match(ui, r.top.file);
		int c = cached_match(ui, r.top.module);
		bool kept = a == 1 || b == 1 || c == 1;
		if (!kept && (a < 0 || b < 0 || c < 0))
			complete = false;
		ui->site_keep.keep[i] = kept;
	}
	if (!complete)
		ask_matches(ui, v, n);
	return true;
}

/* The filter's answer for every row of this view at once: 50 000 function names are 50 000 cache
 * misses in the match cache, overlapped by prefetching a few rows ahead. */
static void compute_keep(struct ui *ui, const struct model_view *v)
{
	size_t n = count(ui, v);
	if (n > ui->site_keep.cap) {
		uint8_t *k = realloc(ui->site_keep.keep, n);
		if (!k) {
			ui->site_keep.valid = false;
			return;
		}
		ui->site_keep.keep = k;
		ui->site_keep.cap = n;
	}
	if (!compute_keep_async(ui, v, n)) {
		for (size_t i = 0; i < n; i++) {
			if (!grouped(ui) && i + 16 < n)
				ui_frame_match_prefetch(ui, &v->sites[i + 16].top);
			struct site_row r;
			get_row(ui, v, i, &r);
			ui->site_keep.keep[i] = ui_frame_matches(ui, &r.top);
		}
	}
	ui->site_keep.generation = v ? v->generation : 0;
	ui->site_keep.stamp = ui->stamp;
	ui->site_keep.valid = true;
}

static bool keep(struct ui *ui, const struct model_view *v, size_t i)
{
	if (!ui_name_filter_active(ui))
		return true;
	if (!ui->site_keep.valid || ui->site_keep.stamp != ui->stamp ||
	    ui->site_keep.generation != (v ? v->generation : 0))
		compute_keep(ui, v);
	if (!ui->site_keep.valid) {
		struct site_row r;
		get_row(ui, v, i, &r);
		return ui_frame_matches(ui, &r.top);
	}
	return ui->site_keep.keep[i] != 0;
}

static uint64_t num_key(struct ui *ui, const struct model_view *v, size_t i, int col)
{
	struct site_row r;
	get_row(ui, v, i, &r);
	switch (col) {
	case COL_LIVE:
		return r.live_bytes;
	case COL_BLOCKS:
		return r.live_blocks;
	case COL_ALLOCS:
		return r.site ? r.site->allocs : 0;
	case COL_GROWTH:
		return ui_sort_key_signed(r.site ? r.site->growth : 0);
	default:
		return 0;
	}
}

static const char *str_key(struct ui *ui, const struct model_view *v, size_t i, int col)
{
	(void)col;
	struct site_row r;
	get_row(ui, v, i, &r);
	return r.top.func ? r.top.func : r.top.module;
}

/* Called for every row when a rebuild looks for the selected site: no whole-row copy. */
static uint64_t row_id(struct ui *ui, const struct model_view *v, size_t i)
{
	return grouped(ui) ? ui->site_group.rows[i].stack_id : v->sites[i].stack_id;
}

/* The engine publishes its sites by live bytes, largest first (ties by stack id, which is the
 * index order a stable sort keeps): the default order needs no sort. */
static bool source_sorted(struct ui *ui, int col, bool ascending)
{
	return !grouped(ui) && col == COL_LIVE && !ascending;
}

static void cell(struct ui *ui, const struct model_view *v, size_t i, int col, char *buf, size_t n,
		 enum ui_color *color)
{
	struct site_row r;
	get_row(ui, v, i, &r);
	bool growing = r.site && r.site->growing;
	switch (col) {
	case COL_LIVE:
		ui_fmt_count(buf, n, r.live_bytes);
		break;
	case COL_BLOCKS:
		ui_fmt_count(buf, n, r.live_blocks);
		break;
	case COL_ALLOCS:
		if (r.site && !grouped(ui))
			ui_fmt_count(buf, n, r.site->allocs);
		else
			snprintf(buf, n, "-");
		break;
	case COL_GROWTH:
		if (r.site && !grouped(ui))
			ui_fmt_count_signed(buf, n, r.site->growth);
		else
			snprintf(buf, n, "-");
		if (growing)
			*color = UI_C_GROWING;
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
	const struct ui_table *t = &ui->tables[UI_VIEW_SITES];
	if (grouped(ui)) {
		char age[64], bytes[32];
		ui_fmt_result_age(ui, UI_VIEW_SITES, age, sizeof age);
		snprintf(buf, n, "Call sites of one thread: %zu shown, %s in %" PRIu64 " blocks (%s)",
			 t->n_rows, ui_fmt_count(bytes, sizeof bytes, ui->site_group.bytes),
			 ui->site_group.blocks, age);
	} else {
		snprintf(buf, n, "Call sites: %zu shown of %zu", t->n_rows, v ? v->n_sites : 0);
	}
	/* The worker is ranking or matching new strings: the rows are in a provisional order. */
	if (ui->rank_job_pending || (ui->match_job_pending && ui_name_filter_active(ui))) {
		size_t len = strlen(buf);
		snprintf(buf + len, n - len, ui->rank_job_pending ? " sorting..." : " filtering...");
	}
}

static int extra_lines(struct ui *ui, const struct model_view *v, int avail)
{
	(void)v;
	return ui_stack_panel_lines(ui, avail);
}

static void draw_extra(struct ui *ui, const struct model_view *v, int y, int h, int w)
{
	long row = ui_table_selected_row(&ui->tables[UI_VIEW_SITES]);
	if (row < 0) {
		ui_draw_text(y, 0, w, UI_C_DIM, "no call site selected");
		return;
	}
	struct site_row r;
	get_row(ui, v, (size_t)row, &r);
	ui_stack_panel_draw(ui, r.stack_id, y, h, w);
}

const struct ui_view_ops ui_view_sites = {
	.name = "Call sites",
	.title = "Call sites",
	.cols = cols,
	.n_cols = N_COLS,
	.default_sort = COL_LIVE,
	.default_ascending = false,
	.follows_generation = true,
	.row_height = 1,
	.count = count,
	.keep = keep,
	.num_key = num_key,
	.str_key = str_key,
	.row_id = row_id,
	.source_sorted = source_sorted,
	.cell = cell,
	.title_line = title_line,
	.extra_lines = extra_lines,
	.draw_extra = draw_extra,
	.activate = ui_stack_panel_toggle,
};
