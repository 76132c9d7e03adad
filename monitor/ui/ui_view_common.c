/* ui_view_common: filters, the stack panel and result ages shared by the views.
 * Must never compute model data: it formats what the engine returns. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ui_format.h"
#include "ui_view_common.h"

const struct ui_view_ops *ui_view_ops_of(enum ui_view_id id)
{
	static const struct ui_view_ops *const all[UI_VIEW_COUNT] = {
		&ui_view_sites, &ui_view_threads, &ui_view_walk,
		&ui_view_incremental, &ui_view_maps, &ui_view_suspects, &ui_view_callers,
	};
	return all[id < UI_VIEW_COUNT ? id : 0];
}

bool ui_name_filter_active(const struct ui *ui)
{
	return ui->name_filter[0] != '\0';
}

bool ui_thread_filter_active(const struct ui *ui)
{
	return ui->thread_filter != MODEL_ANY_THREAD;
}

/* Symbol strings are interned for the session (model.h), so a string's answer is cached by pointer
 * until the filter text changes. */
static bool string_matches(struct ui *ui, const char *str)
{
	if (!str)
		return false;
	int32_t hit;
	if (ui_strcache_get(&ui->match_cache, str, &hit))
		return hit != 0;
	bool match = strcasestr(str, ui->name_filter) != NULL;
	ui_strcache_put(&ui->match_cache, str, match);
	return match;
}

bool ui_frame_matches(struct ui *ui, const struct model_frame *f)
{
	if (!ui->name_filter[0])
		return true;
	if (strcmp(ui->match_filter, ui->name_filter) != 0) {
		ui_strcache_clear(&ui->match_cache);
		snprintf(ui->match_filter, sizeof ui->match_filter, "%s", ui->name_filter);
	}
	return string_matches(ui, f->func) || string_matches(ui, f->file) || string_matches(ui, f->module);
}

void ui_frame_match_prefetch(const struct ui *ui, const struct model_frame *f)
{
	ui_strcache_prefetch(&ui->match_cache, f->func);
}

void ui_fmt_filters(const struct ui *ui, char *buf, size_t n)
{
	size_t len = 0;
	buf[0] = '\0';
	if (ui_thread_filter_active(ui) && len < n)
		len += (size_t)snprintf(buf + len, n - len, "[thread %d %s] ", (int)ui->thread_filter_tid,
					ui->thread_filter_name);
	if (ui_name_filter_active(ui) && len < n)
		snprintf(buf + len, n - len, "[/%s] ", ui->name_filter);
}

int ui_stack_panel_lines(const struct ui *ui, int avail)
{
	if (!ui->stack_open)
		return 0;
	int want = avail / 2;
	return want < 3 ? 0 : want;
}

void ui_stack_panel_toggle(struct ui *ui, const struct model_view *v, size_t i)
{
	(void)v;
	(void)i;
	ui->stack_open = !ui->stack_open;
}

/* The first frame to show: the user's scroll, kept for the same stack, clamped so that the
 * panel is full. */
static int stack_panel_first(struct ui *ui, uint32_t stack_id, int n, int rows)
{
	if (ui->stack_scroll_id != stack_id) {
		ui->stack_scroll_id = stack_id;
		ui->stack_scroll = 0;
	}
	int last_first = n > rows ? n - rows : 0;
	if (ui->stack_scroll > last_first)
		ui->stack_scroll = last_first;
	if (ui->stack_scroll < 0)
		ui->stack_scroll = 0;
	return ui->stack_scroll;
}

static void stack_panel_title(uint32_t stack_id, int n, int first, int shown, char *line, size_t len)
{
	if (n < 0) {
		snprintf(line, len, "Stack #%" PRIu32 ": unknown stack id (Enter closes)", stack_id);
		return;
	}
	size_t k = (size_t)snprintf(line, len, "Stack #%" PRIu32 ": %d frame%s", stack_id, n,
				    n == 1 ? "" : "s");
	int above = first, below = n - first - shown;
	if ((above || below) && k < len)
		k += (size_t)snprintf(line + k, len - k, ", #%d-#%d shown", first, first + shown - 1);
	if (above && k < len)
		k += (size_t)snprintf(line + k, len - k, ", %d more above", above);
	if (below && k < len)
		k += (size_t)snprintf(line + k, len - k, ", %d more below", below);
	if (k < len)
		snprintf(line + k, len - k, (above || below) ? " ([ ] scroll, Enter closes)"
							     : " (Enter closes)");
}

void ui_stack_panel_draw(struct ui *ui, uint32_t stack_id, int y, int h, int w)
{
	char line[600];
	struct model_frame frames[64];
	int n = stack_id == 0 ? 0 : model_site_stack(ui->s, stack_id, frames, 64);
	int rows = h - 1 > 0 ? h - 1 : 0;
	int first = n > 0 ? stack_panel_first(ui, stack_id, n, rows) : 0;
	int shown = n > 0 ? (n - first < rows ? n - first : rows) : 0;
	ui_draw_fill(y, 0, w, UI_C_TABLE_HEADER);
	stack_panel_title(stack_id, n, first, shown, line, sizeof line);
	ui_draw_text(y, 0, w, UI_C_TABLE_HEADER, line);
	if (stack_id == 0)
		ui_draw_text(y + 1, 1, w - 1, UI_C_DIM, "no stack recorded (unwinding off or failed)");
	for (int r = 0; r < shown; r++) {
		int i = first + r;
		char frame[512];
		ui_fmt_frame(frame, sizeof frame, &frames[i]);
		snprintf(line, sizeof line, "#%-2d %s%s", i, frames[i].inlined ? "(inline) " : "", frame);
		ui_draw_text(y + 1 + r, 1, w - 1, UI_C_DEFAULT, line);
		int used = ui_text_width(line) + 3;
		if (frames[i].module && frames[i].file && frames[i].line > 0 && used + 20 < w) {
			snprintf(line, sizeof line, "%s+0x%" PRIx64, ui_basename(frames[i].module),
				 frames[i].module_off);
			ui_draw_text(y + 1 + r, used, w - used, UI_C_DIM, line);
		}
	}
}

void ui_fmt_result_age(const struct ui *ui, enum ui_view_id id, char *buf, size_t n)
{
	if (!ui->query_ns[id]) {
		snprintf(buf, n, ui->query_pending[id] ? "computing..." : "not computed yet");
		return;
	}
	char age[32];
	ui_fmt_age(age, sizeof age, ui_now_ns() - ui->query_ns[id]);
	snprintf(buf, n, "%s ago, %" PRIu64 " ms", age, ui->query_cost_ns[id] / 1000000);
}
