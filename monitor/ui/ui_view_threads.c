/* ui_view_threads: view 2, the target's threads with their live heap, rates and cross-thread frees;
 * Enter filters the other views to the selected thread (Enter again clears it).
 * Rows are the engine's per-thread aggregates; must never compute them itself. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ui_format.h"
#include "ui_view_common.h"

enum { COL_TID, COL_NAME, COL_LIVE, COL_BLOCKS, COL_ARATE, COL_FRATE, COL_XFREES, COL_ALLOCS,
       COL_STATE, N_COLS };

static const struct ui_column cols[N_COLS] = {
	[COL_TID] = {"TID", 7, false, false,
		.what = "thread id (the process id for the main thread)"},
	[COL_NAME] = {"NAME", 15, true, true,
		.what = "thread name (prctl, pthread_setname_np)"},
	[COL_LIVE] = {"LIVE", 7, false, false,
		.what = "bytes of live blocks this thread allocated"},
	[COL_BLOCKS] = {"BLOCKS", 8, false, false,
		.what = "live blocks this thread allocated"},
	[COL_ARATE] = {"ALLOC/S", 7, false, false,
		.what = "allocations per second, over the last second"},
	[COL_FRATE] = {"FREE/S", 7, false, false,
		.what = "frees per second, over the last second"},
	[COL_XFREES] = {"XFREES", 6, false, false,
		.what = "frees by this thread of blocks another thread allocated"},
	[COL_ALLOCS] = {"ALLOCS", 8, false, false,
		.what = "allocations since tracking began"},
	[COL_STATE] = {"STATE", 0, true, true,
		.what = "alive, or exited (its live blocks stay counted)"},
};

static size_t count(struct ui *ui, const struct model_view *v)
{
	(void)ui;
	return v ? v->n_threads : 0;
}

static uint64_t num_key(struct ui *ui, const struct model_view *v, size_t i, int col)
{
	(void)ui;
	const struct model_thread *t = &v->threads[i];
	switch (col) {
	case COL_TID:
		return (uint64_t)(uint32_t)t->tid;
	case COL_LIVE:
		return t->live_bytes;
	case COL_BLOCKS:
		return t->live_blocks;
	case COL_ARATE:
		return ui_sort_key_double(t->allocs_per_s);
	case COL_FRATE:
		return ui_sort_key_double(t->frees_per_s);
	case COL_XFREES:
		return t->cross_frees;
	case COL_ALLOCS:
		return t->allocs;
	default:
		return 0;
	}
}

static const char *str_key(struct ui *ui, const struct model_view *v, size_t i, int col)
{
	(void)ui;
	if (col == COL_STATE)
		return v->threads[i].alive ? "alive" : "exited";
	return v->threads[i].name;
}

static uint64_t row_id(struct ui *ui, const struct model_view *v, size_t i)
{
	(void)ui;
	return v->threads[i].id;
}

static void cell(struct ui *ui, const struct model_view *v, size_t i, int col, char *buf, size_t n,
		 enum ui_color *color)
{
	const struct model_thread *t = &v->threads[i];
	if (t->id == ui->thread_filter)
		*color = UI_C_FILTER;
	else if (!t->alive)
		*color = UI_C_DIM;
	switch (col) {
	case COL_TID:
		snprintf(buf, n, "%d", (int)t->tid);
		break;
	case COL_NAME:
		snprintf(buf, n, "%.15s", t->name[0] ? t->name : "?");
		break;
	case COL_LIVE:
		ui_fmt_count(buf, n, t->live_bytes);
		break;
	case COL_BLOCKS:
		ui_fmt_count(buf, n, t->live_blocks);
		break;
	case COL_ARATE:
		ui_fmt_rate_count(buf, n, t->allocs_per_s);
		break;
	case COL_FRATE:
		ui_fmt_rate_count(buf, n, t->frees_per_s);
		break;
	case COL_XFREES:
		ui_fmt_count(buf, n, t->cross_frees);
		break;
	case COL_ALLOCS:
		ui_fmt_count(buf, n, t->allocs);
		break;
	case COL_STATE:
		snprintf(buf, n, "%s", t->alive ? "alive" : "exited");
		break;
	}
}

static void title_line(struct ui *ui, const struct model_view *v, char *buf, size_t n)
{
	(void)ui;
	size_t alive = 0;
	for (size_t i = 0; v && i < v->n_threads; i++)
		alive += v->threads[i].alive;
	snprintf(buf, n, "Threads: %zu (%zu alive)  Enter: show only the selected thread", v ? v->n_threads : 0,
		 alive);
}

static void activate(struct ui *ui, const struct model_view *v, size_t i)
{
	const struct model_thread *t = &v->threads[i];
	if (ui->thread_filter == t->id) {
		ui->thread_filter = MODEL_ANY_THREAD;
		ui_message(ui, false, "thread filter cleared");
	} else {
		ui->thread_filter = t->id;
		ui->thread_filter_tid = t->tid;
		snprintf(ui->thread_filter_name, sizeof ui->thread_filter_name, "%.15s", t->name);
		ui_message(ui, false, "showing only thread %d (%s) in the other views", (int)t->tid, t->name);
	}
	ui_invalidate_queries(ui);
}

/* Under the threads: the tags the program set with memtop_tag(), newest first. */
static int extra_lines(struct ui *ui, const struct model_view *v, int avail)
{
	(void)ui;
	size_t tags = v ? v->n_tags : 0;
	int want = 1 + (int)(tags == 0 ? 1 : tags < 6 ? tags : 6);
	return want <= avail / 3 ? want : avail / 3;
}

static void draw_extra(struct ui *ui, const struct model_view *v, int y, int h, int w)
{
	(void)ui;
	char line[160], age[32];
	size_t n = v ? v->n_tags : 0;
	ui_draw_fill(y, 0, w, UI_C_TABLE_HEADER);
	snprintf(line, sizeof line, "Tags set by the program (memtop_tag): %zu", n);
	ui_draw_text(y, 0, w, UI_C_TABLE_HEADER, line);
	if (n == 0 && h > 1)
		ui_draw_text(y + 1, 1, w - 1, UI_C_DIM, "none");
	for (int i = 0; i < h - 1 && (size_t)i < n; i++) {
		const struct model_tag *t = &v->tags[n - 1 - (size_t)i];
		snprintf(line, sizeof line, "#%-4u %-47s %s ago", t->id, t->name,
			 ui_fmt_age(age, sizeof age, t->age_ns));
		ui_draw_text(y + 1 + i, 1, w - 1, UI_C_DEFAULT, line);
	}
}

const struct ui_view_ops ui_view_threads = {
	.name = "Threads",
	.title = "Threads",
	.cols = cols,
	.n_cols = N_COLS,
	.default_sort = COL_LIVE,
	.default_ascending = false,
	.follows_generation = true,
	.row_height = 1,
	.count = count,
	.num_key = num_key,
	.str_key = str_key,
	.row_id = row_id,
	.cell = cell,
	.title_line = title_line,
	.extra_lines = extra_lines,
	.draw_extra = draw_extra,
	.activate = activate,
};
