/* ui_panel_timeline: the live-bytes timeline (model_timeline, kept by the engine) drawn as a chart
 * with a bytes axis and a time axis in place of the active view's table (key t). It reads only the
 * published view it is handed and must never change UI state or call the model. */
#include <stdio.h>
#include <string.h>

#include "ui_format.h"
#include "ui_glyphs.h"
#include "ui_state.h"

#define TL_LABEL_W 11 /* "1023.9 MiB" and the axis glyph */

/* "0s", "0.45s", "12.3s", "754s": seconds, with fewer decimals as the span grows. */
static void fmt_secs(char *buf, size_t n, uint64_t ms)
{
	if (ms == 0)
		snprintf(buf, n, "0s");
	else if (ms < 10000)
		snprintf(buf, n, "%.2fs", (double)ms / 1000.0);
	else if (ms < 100000)
		snprintf(buf, n, "%.1fs", (double)ms / 1000.0);
	else
		snprintf(buf, n, "%llus", (unsigned long long)(ms / 1000));
}

/* Live bytes shown by column c of pw-1 time columns over [0, span]: the highest value the line
 * reaches in the column, its buckets' maxima included (a peak narrower than a column or than a
 * step stays visible), else the value carried in. */
static uint64_t column_value(const struct model_timeline *tl, uint32_t *next, uint64_t *carry, int c,
			     int cols, uint64_t span)
{
	uint64_t end = span * (uint64_t)(c + 1) / (uint64_t)cols;
	uint64_t v = *carry;
	while (*next < tl->n && (tl->t_ms[*next] < end || (c == cols - 1 && tl->t_ms[*next] <= end))) {
		if (tl->max_bytes[*next] > v)
			v = tl->max_bytes[*next];
		*carry = tl->live_bytes[(*next)++];
	}
	return v;
}

/* Filled rows (0..plot_h) for v on a scale whose top row is ymax: rounded to the nearest row. */
static int bar_rows(uint64_t v, uint64_t ymax, int plot_h)
{
	if (!ymax)
		return 0;
	return (int)(((unsigned __int128)v * (unsigned)plot_h + ymax / 2) / ymax);
}

static void draw_y_axis(int y0, int plot_h, uint64_t ymax)
{
	char num[32], lab[40];
	for (int r = 0; r < plot_h; r++) {
		bool tick = r == 0 || r == plot_h / 2;
		if (tick) {
			/* the value a bar reaching this row stands for */
			uint64_t at = ymax * (uint64_t)(plot_h - r) / (uint64_t)plot_h;
			snprintf(lab, sizeof lab, "%*s", TL_LABEL_W - 1, ui_fmt_bytes_human(num, sizeof num, at));
			ui_draw_text(y0 + r, 0, TL_LABEL_W - 1, UI_C_LABEL, lab);
		}
		ui_draw_text(y0 + r, TL_LABEL_W - 1, 1, UI_C_DIM, ui_crt_utf8() ? (tick ? "┤" : "│") : "|");
	}
	snprintf(lab, sizeof lab, "%*s", TL_LABEL_W - 1, "0 B");
	ui_draw_text(y0 + plot_h, 0, TL_LABEL_W - 1, UI_C_LABEL, lab);
}

static void draw_x_axis(int y, int pw, uint64_t span)
{
	const char *line = ui_crt_utf8() ? "─" : "-";
	ui_draw_text(y, TL_LABEL_W - 1, 1, UI_C_DIM, ui_crt_utf8() ? "└" : "+");
	for (int c = 0; c < pw; c++)
		ui_draw_text(y, TL_LABEL_W + c, 1, UI_C_DIM, line);
	char a[24], b[24], lab[64];
	fmt_secs(a, sizeof a, 0);
	ui_draw_text(y + 1, TL_LABEL_W, pw, UI_C_LABEL, a);
	fmt_secs(b, sizeof b, span / 2);
	int mid = pw / 2 - ui_text_width(b) / 2;
	ui_draw_text(y + 1, TL_LABEL_W + mid, pw - mid, UI_C_LABEL, b);
	fmt_secs(b, sizeof b, span);
	snprintf(lab, sizeof lab, "%s now", b);
	int right = pw - ui_text_width(lab);
	if (right > mid + 8)
		ui_draw_text(y + 1, TL_LABEL_W + right, pw - right, UI_C_LABEL, lab);
}

void ui_timeline_draw(struct ui *ui, const struct model_view *v, int y, int h, int w)
{
	(void)ui;
	char title[320], now_s[32], top_s[32];
	const struct model_timeline *tl = v ? &v->timeline : NULL;
	if (!tl || tl->n == 0) {
		ui_draw_text(y, 0, w, UI_C_DEFAULT, "Live bytes over time: no allocation seen yet (t: back)");
		return;
	}
	/* the chart's scale: the highest point of the line or the present, whichever is higher */
	uint64_t now = v->totals.live_bytes, ymax = now, span = tl->t_ms[tl->n - 1];
	for (uint32_t i = 0; i < tl->n; i++)
		if (tl->max_bytes[i] > ymax)
			ymax = tl->max_bytes[i];
	snprintf(title, sizeof title,
		 "Live bytes over time: now %s B, top %s B; %u points >= %u ms apart (t: back)",
		 ui_fmt_count(now_s, sizeof now_s, now), ui_fmt_count(top_s, sizeof top_s, ymax), tl->n,
		 tl->step_ms);
	ui_draw_text(y, 0, w, UI_C_DEFAULT, title);
	int plot_h = h - 4, pw = w - TL_LABEL_W - 1;
	if (plot_h < 2 || pw < 16)
		return;
	ui_draw_text(y + 1, 0, w, UI_C_LABEL, "  live bytes");
	int y0 = y + 2;
	draw_y_axis(y0, plot_h, ymax);
	draw_x_axis(y0 + plot_h, pw, span);
	/* pw-1 columns of time, then the present in the last one (its own colour) */
	uint32_t next = 0;
	uint64_t carry = 0;
	const char *full = ui_glyph_spark(UI_SPARK_LEVELS);
	for (int c = 0; c < pw; c++) {
		bool present = c == pw - 1;
		uint64_t val = present ? now : column_value(tl, &next, &carry, c, pw - 1, span ? span : 1);
		int rows = bar_rows(val, ymax, plot_h);
		if (val && !rows)
			rows = 1; /* anything live shows */
		for (int r = 0; r < rows; r++)
			ui_draw_text(y0 + plot_h - 1 - r, TL_LABEL_W + c, 1, present ? UI_C_VALUE : UI_C_SPARK, full);
	}
}
