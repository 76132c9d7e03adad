/* ui_mouse: the dashboard's mouse, as htop's: a click on a view tab switches to it, on a row selects
 * it, on a column header sorts by it (again: the other way); the wheel scrolls. It acts only on what
 * the last frame drew (ui->hits) and changes UI state through the same calls as the keys. */
#include "ui_crt.h"
#include "ui_state.h"
#include "ui_view_common.h"

#define UI_WHEEL_ROWS 3 /* rows per wheel notch, as htop */

static int tab_at(const struct ui *ui, int x)
{
	for (int i = 0; i < UI_VIEW_COUNT; i++)
		if (x >= ui->hits.tab_x[i] && x < ui->hits.tab_x[i + 1])
			return i;
	return -1;
}

static int column_at(const struct ui *ui, int x)
{
	for (int c = 0; c < ui->hits.n_cols; c++)
		if (x >= ui->hits.col_x[c] && x < ui->hits.col_x[c] + ui->hits.col_w[c])
			return c;
	return -1;
}

static void click(struct ui *ui, int y, int x)
{
	struct ui_table *t = &ui->tables[ui->view];
	if (y == ui->hits.tab_y) {
		int tab = tab_at(ui, x);
		if (tab >= 0)
			ui_switch_view(ui, (enum ui_view_id)tab);
	} else if (ui->hits.head_y >= 0 && y == ui->hits.head_y) {
		int col = column_at(ui, x);
		if (col >= 0)
			ui_sort_by(ui, col, true);
	} else if (ui->hits.head_y >= 0 && y >= ui->hits.row_y && ui->hits.row_h > 0) {
		int r = (y - ui->hits.row_y) / ui->hits.row_h;
		if (r < ui->hits.rows_shown) {
			/* from the top of what was drawn: the next draw applies it */
			t->pending_jump = -1;
			t->pending_delta = (long)t->top + r;
		}
	}
}

void ui_mouse_handle(struct ui *ui)
{
	MEVENT ev;
	if (getmouse(&ev) != OK || ui->help || ui->editing_filter)
		return;
	struct ui_table *t = &ui->tables[ui->view];
	if (ev.bstate & (BUTTON1_RELEASED | BUTTON1_CLICKED)) /* ui_crt_init: why the release */
		click(ui, ev.y, ev.x);
	else if (ev.bstate & BUTTON4_PRESSED)
		ui_table_move(ui, t, -UI_WHEEL_ROWS);
#ifdef BUTTON5_PRESSED
	else if (ev.bstate & BUTTON5_PRESSED)
		ui_table_move(ui, t, UI_WHEEL_ROWS);
#endif
}
