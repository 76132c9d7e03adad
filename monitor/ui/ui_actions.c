/* ui_actions: the one table that maps keys to what they do (htop's Action.c). The help overlay is
 * generated from it, so every bound key is documented. Actions change UI state only; they must never
 * draw or call the model except through ui_main's query/snapshot entry points. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui_state.h"
#include "ui_view_common.h"

#define CTRL(c) ((c) & 0x1f)
#define KEY_ESC 27

static struct ui_table *active_table(struct ui *ui)
{
	return &ui->tables[ui->view];
}

static void act_view(struct ui *ui, int key)
{
	ui_switch_view(ui, (enum ui_view_id)(key - '1'));
}

static void act_next_view(struct ui *ui, int key)
{
	int step = key == KEY_BTAB ? UI_VIEW_COUNT - 1 : 1;
	ui_switch_view(ui, (enum ui_view_id)((ui->view + step) % UI_VIEW_COUNT));
}

static void act_move(struct ui *ui, int key)
{
	struct ui_table *t = active_table(ui);
	long page = t->page_rows > 0 ? t->page_rows : 10;
	switch (key) {
	case KEY_UP:
	case 'k':
		ui_table_move(ui, t, -1);
		break;
	case KEY_DOWN:
	case 'j':
		ui_table_move(ui, t, 1);
		break;
	case KEY_PPAGE:
		ui_table_move(ui, t, -page);
		break;
	case KEY_NPAGE:
	case ' ':
		ui_table_move(ui, t, page);
		break;
	case KEY_HOME:
	case 'g':
		ui_table_home(ui, t);
		break;
	case KEY_END:
	case 'G':
		ui_table_end(ui, t);
		break;
	}
}

static void act_enter(struct ui *ui, int key)
{
	(void)key;
	ui->pending_activate = true;
}

static void act_sort(struct ui *ui, int key)
{
	const struct ui_view_ops *ops = ui_view_ops_of(ui->view);
	struct ui_table *t = active_table(ui);
	if (key == 'i' || key == 'I') {
		ui_sort_by(ui, t->sort_col, true);
	} else {
		int step = (key == '<' || key == ',') ? ops->n_cols - 1 : 1;
		ui_sort_by(ui, (t->sort_col + step) % ops->n_cols, false);
	}
}

void ui_sort_by(struct ui *ui, int col, bool toggle_direction)
{
	const struct ui_view_ops *ops = ui_view_ops_of(ui->view);
	struct ui_table *t = active_table(ui);
	if (col < 0 || col >= ops->n_cols)
		return;
	if (toggle_direction && col == t->sort_col) {
		t->ascending = !t->ascending;
	} else {
		t->sort_col = col;
		/* Numbers read best largest first, names alphabetically. */
		t->ascending = ops->cols[col].text_key;
	}
	ui_message(ui, false, "sorted by %s, %s", ops->cols[t->sort_col].title,
		   t->ascending ? "ascending" : "descending");
	ui_rows_changed(ui);
}

static void act_filter(struct ui *ui, int key)
{
	(void)key;
	ui->editing_filter = true;
}

static void act_clear_filters(struct ui *ui, int key)
{
	(void)key;
	bool had_thread = ui->thread_filter != MODEL_ANY_THREAD;
	ui->thread_filter = MODEL_ANY_THREAD;
	ui->name_filter[0] = '\0';
	ui->stack_open = false;
	ui_rows_changed(ui);
	if (had_thread)
		ui_invalidate_queries(ui);
	ui_message(ui, false, "filters cleared");
}

static void act_pause(struct ui *ui, int key)
{
	(void)key;
	ui_set_paused(ui, !ui->paused);
	ui_message(ui, false, ui->paused ? "display paused (ingest continues); p resumes" : "display resumed");
}

static void act_snapshot(struct ui *ui, int key)
{
	(void)key;
	char name[PATH_MAX], path[PATH_MAX], err[256] = "";
	model_snapshot_default_path(ui->s, name, sizeof name);
	const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	int len = ui->opt.snapshot_dir ? snprintf(path, sizeof path, "%s/%s", ui->opt.snapshot_dir, base)
				       : snprintf(path, sizeof path, "%s", name);
	if (len < 0 || (size_t)len >= sizeof path) {
		ui_message(ui, true, "snapshot failed: the path is too long");
		return;
	}
	int rc = model_snapshot_write(ui->s, path, err, sizeof err);
	if (rc != 0) {
		ui_message(ui, true, "snapshot failed: %s", err[0] ? err : "unknown error");
		return;
	}
	char full[PATH_MAX];
	ui_message(ui, false, "snapshot written to %s", realpath(path, full) ? full : path);
}

static void act_mark(struct ui *ui, int key)
{
	ui->marked = key == 'm';
	if (key == 'm') {
		model_mark_all(ui->s);
		ui_message(ui, false, "marked every live block as walked; view 4 shows what comes next");
	} else {
		model_unmark(ui->s);
		ui_message(ui, false, "mark removed");
	}
	/* The engine republishes with the mark; the incremental walk must be taken again. */
	model_request_publish(ui->s);
	ui_query_params_changed(ui, UI_VIEW_INCREMENTAL);
}

/* Right and Left (+ and - too): open and close the caller tree's selected node (view 7). */
static void act_fold(struct ui *ui, int key)
{
	if (ui->view != UI_VIEW_CALLERS) {
		ui_message(ui, false, "Right and Left open and close nodes of the caller tree (7)");
		return;
	}
	ui_callers_fold(ui, key == KEY_RIGHT || key == '+' || key == '=' ? UI_CALLERS_OPEN
									 : UI_CALLERS_CLOSE);
}

static void act_divisions(struct ui *ui, int key)
{
	if (ui->view == UI_VIEW_CALLERS) { /* no heatmap there: + and - fold the tree */
		act_fold(ui, key);
		return;
	}
	unsigned d = ui->heat_divisions;
	if (key == '+' || key == '=')
		d = d * 2 > MODEL_HEAT_MAX ? MODEL_HEAT_MAX : d * 2;
	else
		d = d / 2 < 1 ? 1 : d / 2;
	ui->heat_divisions = d;
	ui_query_params_changed(ui, UI_VIEW_MAPS);
	ui_message(ui, false, "heatmap: %u divisions", d);
}

static const unsigned expire_steps[] = {1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
#define N_EXPIRE (sizeof expire_steps / sizeof expire_steps[0])

static void act_expire(struct ui *ui, int key)
{
	size_t i = 0;
	while (i + 1 < N_EXPIRE && expire_steps[i] < ui->expire_s)
		i++;
	if (key == 'e') {
		if (expire_steps[i] <= ui->expire_s && i + 1 < N_EXPIRE)
			i++;
	} else {
		if (i > 0)
			i--;
	}
	ui->expire_s = expire_steps[i];
	ui_query_params_changed(ui, UI_VIEW_SUSPECTS);
	ui_message(ui, false, "leak suspects: blocks older than %us", ui->expire_s);
}

static void act_refresh(struct ui *ui, int key)
{
	(void)key;
	model_request_publish(ui->s);
	ui->need_query = true;
}

static void act_help(struct ui *ui, int key)
{
	(void)key;
	ui->help = !ui->help;
	ui->help_scroll = 0;
}

static void act_timeline(struct ui *ui, int key)
{
	(void)key;
	ui->timeline = !ui->timeline;
}

/* w: the real caller at the top of each site (the default), or the allocator wrapper it called */
static void act_wrappers(struct ui *ui, int key)
{
	(void)key;
	model_set_skip_wrappers(!model_skip_wrappers());
	model_request_publish(ui->s);
	ui_message(ui, false, model_skip_wrappers() ? "allocator wrapper frames dropped from the top of stacks"
						    : "allocator wrapper frames kept at the top of stacks");
}

static void act_quit(struct ui *ui, int key)
{
	(void)key;
	ui->quit = true;
}

/* P: memtop run follows a process tree; the dashboard closes for the list of its processes and
 * comes back on the one picked (ui_tree.c). */
static void act_processes(struct ui *ui, int key)
{
	(void)key;
	if (!ui->opt.tree || !ui->opt.switch_to)
		return;
	ui->pick_process = true;
	ui->quit = true;
}

/* [ and ]: the expanded stack by a few frames (the panel clamps it when drawn). */
static void act_stack_scroll(struct ui *ui, int key)
{
	if (!ui->stack_open) {
		ui_message(ui, false, "Enter expands a stack first; [ and ] then scroll it");
		return;
	}
	ui->stack_scroll += key == '[' || key == KEY_SR ? -3 : 3;
	if (ui->stack_scroll < 0)
		ui->stack_scroll = 0;
}

static void act_redraw(struct ui *ui, int key)
{
	(void)ui;
	(void)key;
	clearok(curscr, TRUE); /* Ctrl-L: the terminal was scribbled on; repaint every cell once */
}

struct binding {
	int keys[8]; /* 0-terminated */
	void (*fn)(struct ui *ui, int key);
	struct ui_action help;
};

static const struct binding bindings[] = {
	{{'1', '2', '3', '4', '5', '6', '7'}, act_view, {"1-7", "views: sites threads walk incremental map leaks callers"}},
	{{'\t', KEY_BTAB}, act_next_view, {"Tab S-Tab", "next / previous view"}},
	{{KEY_UP, KEY_DOWN, 'k', 'j'}, act_move, {"Up Down", "move the selection (also k j)"}},
	{{KEY_PPAGE, KEY_NPAGE, ' '}, act_move, {"PgUp PgDn", "move by a page"}},
	{{KEY_HOME, KEY_END, 'g', 'G'}, act_move, {"Home End", "first / last row"}},
	{{'\n', '\r', KEY_ENTER}, act_enter, {"Enter", "expand the stack / thread: filter by it / open or close a caller tree node"}},
	{{KEY_RIGHT, KEY_LEFT}, act_fold, {"Right Left", "caller tree (7): open / close the node (Left on a closed one: up to its parent)"}},
	{{'[', ']', KEY_SR, KEY_SF}, act_stack_scroll, {"[ ]", "scroll the expanded stack (also S-Up S-Down)"}},
	{{'<', '>', ',', '.'}, act_sort, {"< >", "sort by the previous / next column"}},
	{{'i', 'I'}, act_sort, {"i", "invert the sort order"}},
	{{'/'}, act_filter, {"/", "filter by function or file name"}},
	{{'c', KEY_ESC}, act_clear_filters, {"c Esc", "clear the thread and name filters"}},
	{{'p'}, act_pause, {"p", "pause the display (ingest continues)"}},
	{{'s'}, act_snapshot, {"s", "write a snapshot file and say where"}},
	{{'m'}, act_mark, {"m", "mark all live blocks as walked"}},
	{{'u'}, act_mark, {"u", "remove the mark"}},
	{{'+', '=', '-'}, act_divisions, {"+ -", "more / fewer heatmap divisions; caller tree: open / close"}},
	{{'e', 'E'}, act_expire, {"e E", "raise / lower the leak expire age"}},
	{{'r', KEY_F(5)}, act_refresh, {"r F5", "recompute walks, maps and suspects now"}},
	{{CTRL('l')}, act_redraw, {"Ctrl-L", "repaint the screen"}},
	{{'t'}, act_timeline, {"t", "live bytes over time: chart in place of the view / back"}},
	{{'w'}, act_wrappers, {"w", "drop / keep allocator wrapper frames (xmalloc, new...)"}},
	{{'P'}, act_processes, {"P", "memtop run: the processes of the tree; Enter shows one"}},
	{{'?', 'h', KEY_F(1)}, act_help, {"? h F1", "this help: keys, columns, header"}},
	{{'q', 'Q', KEY_F(10)}, act_quit, {"q F10", "quit; the target keeps running"}},
	/* handled by ui_mouse.c; listed here so that the help says it */
	{{0}, NULL, {"mouse", "click a tab, a row, a column header (sort); wheel scrolls"}},
};
#define N_BINDINGS (sizeof bindings / sizeof bindings[0])

bool ui_actions_handle(struct ui *ui, int key)
{
	for (size_t b = 0; b < N_BINDINGS; b++)
		for (const int *k = bindings[b].keys; *k && k < bindings[b].keys + 8; k++)
			if (*k == key) {
				bindings[b].fn(ui, key);
				return true;
			}
	return false;
}

const struct ui_action *ui_actions_help(size_t *n)
{
	static struct ui_action list[N_BINDINGS];
	for (size_t b = 0; b < N_BINDINGS; b++)
		list[b] = bindings[b].help;
	*n = N_BINDINGS;
	return list;
}
