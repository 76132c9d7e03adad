/* ui_help: the help page over the current view: every key of the action table, then what each
 * column of the view and each figure of the header means, scrolled with the arrows. It must never
 * hold its own list of keys or columns: ui_actions_help() and the views' column tables are. */
#include <stdio.h>
#include <string.h>

#include "ui_state.h"

struct help_line {
	const char *left;  /* key or column title; NULL: a section title in `text` */
	const char *text;
};

/* What the header's figures are, for a newcomer (the columns explain themselves per view). */
static const struct help_line header_notes[] = {
	{NULL, "The header"},
	{"Live", "bytes and blocks allocated and not yet freed, exact, and their peak"},
	{"Rate", "allocations, frees and bytes allocated per second, over the last second"},
	{"Lost", "events the target dropped on a full ring: the live set is then approximate"},
	{"unknown frees", "frees of blocks never seen allocated (made before memtop attached)"},
	{"overhead", "memory memtop costs: the shared segment and memtop's own"},
	{"Numbers", "bytes and counts are exact, with thousands separators as in the header"},
};
#define N_HEADER_NOTES (sizeof header_notes / sizeof header_notes[0])

/* Every line of the page, in order; returns how many (at most max). */
static int help_lines(const struct ui *ui, struct help_line *out, int max)
{
	size_t n_keys;
	const struct ui_action *acts = ui_actions_help(&n_keys);
	const struct ui_view_ops *ops = ui_view_ops_of(ui->view);
	int n = 0;
	if (n < max)
		out[n++] = (struct help_line){NULL, "Keys"};
	for (size_t i = 0; i < n_keys && n < max; i++)
		out[n++] = (struct help_line){acts[i].keys, acts[i].what};
	if (ops && n + 2 < max) {
		out[n++] = (struct help_line){"", ""};
		out[n++] = (struct help_line){NULL, ops->title};
		for (int c = 0; c < ops->n_cols && n < max; c++)
			out[n++] = (struct help_line){ops->cols[c].title,
						      ops->cols[c].what ? ops->cols[c].what : ""};
	}
	if (n < max)
		out[n++] = (struct help_line){"", ""};
	for (size_t i = 0; i < N_HEADER_NOTES && n < max; i++)
		out[n++] = header_notes[i];
	return n;
}

static void draw_frame(int y0, int x0, int box_h, int box_w)
{
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
}

void ui_help_draw(struct ui *ui, int rows, int cols)
{
	struct help_line lines[96];
	int n = help_lines(ui, lines, (int)(sizeof lines / sizeof lines[0]));
	int key_w = 13, text_w = 0;
	for (int i = 0; i < n; i++) {
		int w = ui_text_width(lines[i].text) + (lines[i].left ? key_w + 1 : 0);
		if (w > text_w)
			text_w = w;
	}
	int box_w = text_w + 4 < cols ? text_w + 4 : cols;
	int box_h = n + 4 < rows ? n + 4 : rows;
	int page = box_h - 4 > 1 ? box_h - 4 : 1;
	if (ui->help_scroll > n - page)
		ui->help_scroll = n - page;
	if (ui->help_scroll < 0)
		ui->help_scroll = 0;
	int y0 = (rows - box_h) / 2, x0 = (cols - box_w) / 2;
	draw_frame(y0, x0, box_h, box_w);
	ui_draw_text(y0, x0 + 2, box_w - 4, UI_C_HELP_KEY,
		     n > page ? " memtop help (Up Down PgUp PgDn scroll, other keys close) "
			      : " memtop help (any key closes) ");
	for (int r = 0; r < page && ui->help_scroll + r < n; r++) {
		const struct help_line *l = &lines[ui->help_scroll + r];
		int y = y0 + 2 + r, x = x0 + 2, w = box_w - 4;
		if (!l->left) {
			ui_draw_text(y, x, w, UI_C_HELP_KEY, l->text);
			continue;
		}
		ui_draw_text(y, x, key_w, UI_C_HELP_KEY, l->left);
		ui_draw_text(y, x + key_w + 1, w - key_w - 1, UI_C_HELP, l->text);
	}
	int below = n - ui->help_scroll - page;
	if (below > 0 || ui->help_scroll > 0) {
		char more[64];
		snprintf(more, sizeof more, " %d more above, %d more below ", ui->help_scroll,
			 below > 0 ? below : 0);
		ui_draw_text(y0 + box_h - 1, x0 + 2, box_w - 4, UI_C_HELP_KEY, more);
	}
}

bool ui_help_key(struct ui *ui, int key)
{
	int step;
	switch (key) {
	case KEY_UP: case 'k': step = -1; break;
	case KEY_DOWN: case 'j': step = 1; break;
	case KEY_PPAGE: step = -(ui->rows > 8 ? ui->rows - 8 : 1); break;
	case KEY_NPAGE: case ' ': step = ui->rows > 8 ? ui->rows - 8 : 1; break;
	case KEY_HOME: case 'g': ui->help_scroll = 0; return true;
	case KEY_END: case 'G': ui->help_scroll = 1 << 20; return true; /* clamped when drawn */
	default: return false;
	}
	ui->help_scroll += step;
	if (ui->help_scroll < 0)
		ui->help_scroll = 0;
	return true;
}
