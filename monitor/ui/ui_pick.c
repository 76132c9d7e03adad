/* ui_pick: the htop-style list of traced processes that `memtop` without a pid shows on a terminal
 * (arrows move, `/` searches, a click selects, Enter picks, q quits). It draws only the rows it is
 * given: it must never open a segment, and it never returns a pid that is not one of its rows. */
#include <stdio.h>
#include <string.h>

#include "ui.h"
#include "ui_crt.h"
#include "ui_format.h"

struct pick_state {
	const struct ui_pick_row *rows;
	const struct ui_pick_words *words;
	int n;
	int selected;
	int top;             /* first row drawn */
	bool searching;
	bool not_found;
	char search[64];
};

#define PICK_FIRST_ROW 2 /* title line, column header */

static int pick_visible_rows(void)
{
	int h = LINES - PICK_FIRST_ROW - 1; /* the key bar takes the last line */
	return h > 1 ? h : 1;
}

static bool pick_row_matches(const struct ui_pick_row *r, const char *text)
{
	char pid[16];
	snprintf(pid, sizeof pid, "%d", r->pid);
	return strstr(pid, text) || (r->command && strstr(r->command, text));
}

/* Moves the selection to the first row at or after `from` that matches the search (wrapping). */
static void pick_search_from(struct pick_state *st, int from)
{
	st->not_found = true;
	for (int i = 0; i < st->n; i++) {
		int k = (from + i) % st->n;
		if (pick_row_matches(&st->rows[k], st->search)) {
			st->selected = k;
			st->not_found = false;
			return;
		}
	}
}

static void pick_draw_row(const struct pick_state *st, int i, int y)
{
	const struct ui_pick_row *r = &st->rows[i];
	char live[32], line[512];
	ui_fmt_count(live, sizeof live, r->live_bytes);
	snprintf(line, sizeof line, "%7d %15s %-7s %-9s %s", r->pid, live, r->mode, r->monitored,
		 r->command ? r->command : "?");
	attr_t a = i == st->selected ? ui_attr(UI_C_SELECTED) : ui_attr(UI_C_DEFAULT);
	attron(a);
	mvaddnstr(y, 0, line, COLS);
	if (i == st->selected) /* the bar spans the width, as htop's */
		for (int x = (int)strlen(line); x < COLS; x++)
			mvaddch(y, x, ' ');
	attroff(a);
}

static void pick_draw_bar(const struct pick_state *st)
{
	int y = LINES - 1;
	move(y, 0);
	clrtoeol();
	if (st->searching) {
		attron(ui_attr(st->not_found ? UI_C_ERROR : UI_C_FILTER));
		mvprintw(y, 0, "Search: %s%s", st->search, st->not_found ? "  (not found)" : "");
		attroff(ui_attr(st->not_found ? UI_C_ERROR : UI_C_FILTER));
		return;
	}
	const char *const keys[][2] = {{"Enter", st->words->enter_key}, {"/", "Search "}, {"n", "Next "},
				       {"q", "Quit"}};
	int x = 0;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0] && x < COLS; i++) {
		attron(ui_attr(UI_C_STATUS_KEY));
		mvaddnstr(y, x, keys[i][0], COLS - x);
		attroff(ui_attr(UI_C_STATUS_KEY));
		x += (int)strlen(keys[i][0]);
		attron(ui_attr(UI_C_STATUS));
		mvaddnstr(y, x, keys[i][1], COLS - x > 0 ? COLS - x : 0);
		attroff(ui_attr(UI_C_STATUS));
		x += (int)strlen(keys[i][1]) + 1;
	}
}

static void pick_draw(struct pick_state *st)
{
	int h = pick_visible_rows();
	if (st->selected < st->top)
		st->top = st->selected;
	if (st->selected >= st->top + h)
		st->top = st->selected - h + 1;
	erase();
	attron(ui_attr(UI_C_TITLE));
	/* what Enter will do, in words: the selection bar alone is lost on a monochrome terminal */
	mvprintw(0, 0, "memtop: %d %s; Enter %s pid %d", st->n,
		 st->n == 1 ? st->words->what_one : st->words->what_many, st->words->verb,
		 st->rows[st->selected].pid);
	attroff(ui_attr(UI_C_TITLE));
	char head[128];
	snprintf(head, sizeof head, "%7s %15s %-7s %-9s %s", "PID", "LIVE_BYTES", st->words->mode_col,
		 st->words->monitored_col, "COMMAND");
	attron(ui_attr(UI_C_TABLE_HEADER));
	mvaddnstr(1, 0, head, COLS);
	for (int x = (int)strlen(head); x < COLS; x++)
		mvaddch(1, x, ' ');
	attroff(ui_attr(UI_C_TABLE_HEADER));
	for (int i = st->top; i < st->n && i < st->top + h; i++)
		pick_draw_row(st, i, PICK_FIRST_ROW + i - st->top);
	pick_draw_bar(st);
	refresh();
}

/* A key while the search line is open: printable text refines, Enter keeps the row, Esc cancels. */
static void pick_search_key(struct pick_state *st, int key)
{
	size_t len = strlen(st->search);
	if (key == 27 || key == '\n' || key == '\r' || key == KEY_ENTER) {
		st->searching = false;
	} else if (key == KEY_BACKSPACE || key == 127 || key == 8) {
		if (len)
			st->search[len - 1] = '\0';
		pick_search_from(st, st->selected);
	} else if (key >= 32 && key < 127 && len + 1 < sizeof st->search) {
		st->search[len] = (char)key;
		st->search[len + 1] = '\0';
		pick_search_from(st, st->selected);
	}
}

/* A click selects the row under it; the wheel moves the selection, as in the dashboard. */
static void pick_mouse(struct pick_state *st)
{
	MEVENT ev;
	if (getmouse(&ev) != OK)
		return;
	if (ev.bstate & BUTTON1_RELEASED) { /* ui_crt_init: why the release */
		int i = st->top + ev.y - PICK_FIRST_ROW;
		if (ev.y >= PICK_FIRST_ROW && ev.y < LINES - 1 && i < st->n)
			st->selected = i;
	} else if (ev.bstate & BUTTON4_PRESSED) {
		st->selected -= 3;
#ifdef BUTTON5_PRESSED
	} else if (ev.bstate & BUTTON5_PRESSED) {
		st->selected += 3;
#endif
	}
}

/* Returns 1 when the key picks the selected row, -1 when it quits, 0 otherwise. */
static int pick_key(struct pick_state *st, int key)
{
	int h = pick_visible_rows();
	switch (key) {
	case KEY_UP: case 'k': st->selected--; break;
	case KEY_DOWN: case 'j': st->selected++; break;
	case KEY_PPAGE: st->selected -= h; break;
	case KEY_NPAGE: st->selected += h; break;
	case KEY_HOME: st->selected = 0; break;
	case KEY_END: st->selected = st->n - 1; break;
	case '/': st->searching = true; st->search[0] = '\0'; st->not_found = false; break;
	case 'n': case KEY_F(3):
		if (st->search[0])
			pick_search_from(st, st->selected + 1);
		break;
	case '\n': case '\r': case KEY_ENTER: return 1;
	case 'q': case 27: case KEY_F(10): return -1;
	case KEY_MOUSE: pick_mouse(st); break;
	default: break;
	}
	if (st->selected >= st->n)
		st->selected = st->n - 1;
	if (st->selected < 0)
		st->selected = 0;
	return 0;
}

int ui_pick(const struct ui_pick_row *rows, int n, char *err, size_t errlen)
{
	static const struct ui_pick_words words = {"traced process", "traced processes", "attaches to",
						   "MODE", "MONITORED", "Attach "};
	return ui_pick_with(rows, n, &words, 0, err, errlen);
}

int ui_pick_with(const struct ui_pick_row *rows, int n, const struct ui_pick_words *words, int selected,
		 char *err, size_t errlen)
{
	if (n <= 0)
		return 0;
	if (ui_crt_init(false, err, errlen) != 0)
		return -1;
	struct pick_state st = {.rows = rows, .words = words, .n = n,
				.selected = selected >= 0 && selected < n ? selected : 0};
	int picked = 0;
	while (!ui_crt_quit_requested()) {
		pick_draw(&st);
		int key = ui_crt_getkey(500);
		if (key == ERR || key == KEY_RESIZE)
			continue;
		if (st.searching) {
			pick_search_key(&st, key);
			continue;
		}
		int r = pick_key(&st, key);
		if (r < 0)
			break;
		if (r > 0) {
			picked = rows[st.selected].pid;
			break;
		}
	}
	ui_crt_done();
	return picked;
}
