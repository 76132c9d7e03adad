/* ui_help: the help overlay, listing every key of the action table in a box over the current view.
 * It must never hold its own list of keys: ui_actions_help() is the single source. */
#include <stdio.h>
#include <string.h>

#include "ui_state.h"

void ui_help_draw(struct ui *ui, int rows, int cols)
{
	(void)ui;
	size_t n;
	const struct ui_action *acts = ui_actions_help(&n);
	int key_w = 10, text_w = 0;
	for (size_t i = 0; i < n; i++) {
		int w = ui_text_width(acts[i].what);
		if (w > text_w)
			text_w = w;
	}
	int col_w = key_w + 1 + text_w;
	/* One column when it fits in height, else two side by side. */
	int avail_h = rows - 4;
	int ncols = (int)n <= avail_h ? 1 : 2;
	int per_col = ((int)n + ncols - 1) / ncols;
	if (ncols == 2 && col_w * 2 + 5 > cols)
		col_w = (cols - 5) / 2;
	int box_w = ncols * col_w + (ncols - 1) * 2 + 4;
	if (box_w > cols)
		box_w = cols;
	int box_h = per_col + 4;
	if (box_h > rows)
		box_h = rows;
	int y0 = (rows - box_h) / 2, x0 = (cols - box_w) / 2;
	for (int y = 0; y < box_h; y++)
		ui_draw_fill(y0 + y, x0, box_w, UI_C_HELP);
	attrset(ui_attr(UI_C_HELP_KEY));
	mvhline(y0, x0, ACS_HLINE, box_w);
	mvhline(y0 + box_h - 1, x0, ACS_HLINE, box_w);
	mvvline(y0, x0, ACS_VLINE, box_h);
	mvvline(y0, x0 + box_w - 1, ACS_VLINE, box_h);
	mvaddch(y0, x0, ACS_ULCORNER);
	mvaddch(y0, x0 + box_w - 1, ACS_URCORNER);
	mvaddch(y0 + box_h - 1, x0, ACS_LLCORNER);
	mvaddch(y0 + box_h - 1, x0 + box_w - 1, ACS_LRCORNER);
	attrset(A_NORMAL);
	ui_draw_text(y0, x0 + 2, box_w - 4, UI_C_HELP_KEY, " memtop keys (any key closes) ");
	for (size_t i = 0; i < n; i++) {
		int c = (int)i / per_col, r = (int)i % per_col;
		int x = x0 + 2 + c * (col_w + 2), y = y0 + 2 + r;
		if (y >= y0 + box_h - 1)
			break;
		ui_draw_text(y, x, key_w, UI_C_HELP_KEY, acts[i].keys);
		ui_draw_text(y, x + key_w + 1, col_w - key_w - 1, UI_C_HELP, acts[i].what);
	}
}
