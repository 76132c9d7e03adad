/* ui_main: the dashboard's loop: wait for a key or the refresh timer, run the key's action, recompute
 * the active view's per-block result when due, draw one frame under the urcu read lock.
 * It must never hold the read lock while computing walks, maps or suspects, nor across a wait. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu/urcu-memb.h>

#include "ui_crt.h"
#include "ui_query.h"
#include "ui_state.h"
#include "ui_stats.h"
#include "ui_view_common.h"

/* Per-block queries cost O(live blocks): refresh them at most this often on their own. */
#define UI_SLOW_MS 2000u

uint64_t ui_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void ui_message(struct ui *ui, bool error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ui->message, sizeof ui->message, fmt, ap);
	va_end(ap);
	ui->message_error = error;
	/* Long enough to read, and a snapshot path stays until the next message. */
	ui->message_until_ns = ui_now_ns() + (error ? 10 : 5) * 1000000000ull;
}

void ui_invalidate_queries(struct ui *ui)
{
	for (int i = 0; i < UI_VIEW_COUNT; i++)
		ui->query_ns[i] = 0;
	ui->site_group_valid = false;
	ui->suspect_group_valid = false;
	ui->query_epoch++;
	ui->need_query = true;
	ui->stamp++;
}

void ui_query_params_changed(struct ui *ui, enum ui_view_id view)
{
	ui->query_ns[view] = 0;
	ui->query_epoch++;
	if (ui->view == view)
		ui->need_query = true;
	ui->stamp++;
}

void ui_query_active(struct ui *ui)
{
	ui->need_query = false;
	if (!ui_query_needed(ui, ui->view))
		return;
	struct ui_query_req rq = ui_query_request_of(ui);
	if (rq.view == UI_VIEW_WALK || rq.view == UI_VIEW_INCREMENTAL)
		ui->walk_asked[rq.view == UI_VIEW_INCREMENTAL] = rq.order;
	if (ui->worker) {
		ui_query_worker_post(ui->worker, &rq);
		ui->query_pending[ui->view] = true;
		return;
	}
	struct ui_query_res res;
	ui_query_compute(ui->s, &rq, &res);
	ui_query_install(ui, &res);
	ui_query_res_free(&res);
}

void ui_switch_view(struct ui *ui, enum ui_view_id id)
{
	if (id >= UI_VIEW_COUNT)
		return;
	if (id != ui->view)
		ui_query_release(ui, ui->view);
	ui->view = id;
	ui->stack_open = false;
	/* Entering a view shows fresh per-block data unless it was computed moments ago. */
	uint64_t age = ui_now_ns() - ui->query_ns[id];
	if (!ui->query_ns[id] || age > UI_SLOW_MS * 1000000ull || ui_query_order_stale(ui))
		ui->need_query = true;
}

void ui_rows_changed(struct ui *ui)
{
	ui->stamp++;
	if (ui_query_order_stale(ui))
		ui->need_query = true; /* a walk view: its rows come sorted and filtered from the worker */
}

/* A deep copy of the view (arrays, not the session-interned strings) shown while paused. */
static struct model_view *copy_view(const struct model_view *v)
{
	struct model_view *c = malloc(sizeof *c);
	if (!c)
		return NULL;
	*c = *v;
	struct model_site *sites = malloc((v->n_sites ? v->n_sites : 1) * sizeof *sites);
	struct model_thread *threads = malloc((v->n_threads ? v->n_threads : 1) * sizeof *threads);
	struct model_tag *tags = malloc((v->n_tags ? v->n_tags : 1) * sizeof *tags);
	if (!sites || !threads || !tags) {
		free(sites);
		free(threads);
		free(tags);
		free(c);
		return NULL;
	}
	if (v->n_sites)
		memcpy(sites, v->sites, v->n_sites * sizeof *sites);
	if (v->n_threads)
		memcpy(threads, v->threads, v->n_threads * sizeof *threads);
	if (v->n_tags)
		memcpy(tags, v->tags, v->n_tags * sizeof *tags);
	c->sites = sites;
	c->threads = threads;
	c->tags = tags;
	return c;
}

static void free_view_copy(struct model_view *c)
{
	if (!c)
		return;
	free((void *)c->sites);
	free((void *)c->threads);
	free((void *)c->tags);
	free(c);
}

void ui_set_paused(struct ui *ui, bool paused)
{
	if (paused == ui->paused)
		return;
	if (paused) {
		urcu_memb_read_lock();
		const struct model_view *v = model_view_get(ui->s);
		ui->paused_view = v ? copy_view(v) : NULL;
		urcu_memb_read_unlock();
		/* a shown walk would pin every block freed while the display stays paused */
		model_walk_keep(ui->walk);
		model_walk_keep(ui->inc_walk);
	} else {
		free_view_copy(ui->paused_view);
		ui->paused_view = NULL;
	}
	ui->paused = paused;
	ui->stamp++;
}

void ui_init(struct ui *ui, struct session *s, const struct ui_options *o)
{
	memset(ui, 0, sizeof *ui);
	ui->s = s;
	if (o)
		ui->opt = *o;
	if (!ui->opt.delay_ms)
		ui->opt.delay_ms = 1000;
	ui->heat_divisions = ui->opt.heat_divisions ? ui->opt.heat_divisions : MODEL_HEAT_DEFAULT;
	if (ui->heat_divisions > MODEL_HEAT_MAX)
		ui->heat_divisions = MODEL_HEAT_MAX;
	ui->expire_s = ui->opt.expire_s ? ui->opt.expire_s : 60;
	ui->thread_filter = MODEL_ANY_THREAD;
	for (int i = 0; i < UI_VIEW_COUNT; i++) {
		const struct ui_view_ops *ops = ui_view_ops_of((enum ui_view_id)i);
		ui->tables[i].sort_col = ops->default_sort;
		ui->tables[i].ascending = ops->default_ascending;
	}
	ui->stamp = 1;
}

void ui_fini(struct ui *ui)
{
	ui_query_worker_stop(ui->worker); /* waits for a running query: it uses the session */
	for (int i = 0; i < UI_VIEW_COUNT; i++)
		ui_table_free(&ui->tables[i]);
	ui_walk_free_all(ui);
	if (ui->maps)
		model_maps_free(ui->maps);
	if (ui->suspects)
		model_suspects_free(ui->suspects);
	ui_group_free(&ui->site_group);
	ui_group_free(&ui->suspect_group);
	ui_callers_free(ui);
	ui_sitemap_free(&ui->sitemap);
	ui_strcache_free(&ui->rank_cache);
	ui_strcache_free(&ui->match_cache);
	free(ui->site_keep.keep);
	free_view_copy(ui->paused_view);
	memset(ui, 0, sizeof *ui);
}

/* ------------------------------------------------------------------ drawing */

static void draw_tabs(struct ui *ui, int y, int w)
{
	ui_draw_fill(y, 0, w, UI_C_TAB);
	int x = 0;
	ui->hits.tab_y = y;
	char label[48];
	for (int i = 0; i < UI_VIEW_COUNT; i++) { /* do the whole names fit? else the short ones */
		snprintf(label, sizeof label, " %d %s ", i + 1, ui_view_ops_of((enum ui_view_id)i)->name);
		x += ui_text_width(label);
	}
	bool short_names = x > w;
	x = 0;
	for (int i = 0; i < UI_VIEW_COUNT; i++) {
		const struct ui_view_ops *ops = ui_view_ops_of((enum ui_view_id)i);
		snprintf(label, sizeof label, " %d %s ", i + 1, short_names && ops->tab ? ops->tab : ops->name);
		ui->hits.tab_x[i] = x < w ? x : w;
		if (x < w)
			ui_draw_text(y, x, w - x, i == (int)ui->view ? UI_C_TAB_ACTIVE : UI_C_TAB, label);
		x += ui_text_width(label);
	}
	ui->hits.tab_x[UI_VIEW_COUNT] = x < w ? x : w;
}

static void draw_status(struct ui *ui, int y, int w)
{
	if (ui->editing_filter) {
		char line[160];
		snprintf(line, sizeof line, "Filter by function or file: %s", ui->name_filter);
		ui_draw_fill(y, 0, w, UI_C_DEFAULT);
		ui_draw_text(y, 0, w, UI_C_FILTER, line);
		int x = ui_text_width(line);
		if (x < w)
			ui_draw_text(y, x, 1, UI_C_SELECTED, " ");
		int hx = x + 2;
		if (hx + 30 < w)
			ui_draw_text(y, hx, w - hx, UI_C_DIM, "(Enter keeps, Esc clears)");
		return;
	}
	if (ui->message[0] && ui_now_ns() < ui->message_until_ns) {
		ui_draw_text(y, 0, w, ui->message_error ? UI_C_ERROR : UI_C_MESSAGE, ui->message);
		return;
	}
	static const char *const hints[][2] = {
		{"?", "Help"}, {"1-7", "Views"}, {"Enter", "Expand"}, {"/", "Filter"}, {"<>", "Sort"},
		{"s", "Snapshot"}, {"m", "Mark"}, {"p", "Pause"}, {"q", "Quit"},
	};
	ui_draw_fill(y, 0, w, UI_C_STATUS);
	int x = 0;
	for (size_t i = 0; i < sizeof hints / sizeof hints[0] && x < w; i++) {
		ui_draw_text(y, x, w - x, UI_C_STATUS_KEY, hints[i][0]);
		x += ui_text_width(hints[i][0]) + 1;
		ui_draw_text(y, x, w - x, UI_C_STATUS, hints[i][1]);
		x += ui_text_width(hints[i][1]) + 1;
	}
}

static void draw_too_small(int rows, int cols)
{
	char line[128];
	snprintf(line, sizeof line, "Terminal too small: %dx%d.", cols, rows);
	ui_draw_text(0, 0, cols, UI_C_ERROR, line);
	snprintf(line, sizeof line, "memtop needs at least %dx%d.", UI_MIN_COLS, UI_MIN_ROWS);
	if (rows > 1)
		ui_draw_text(1, 0, cols, UI_C_DEFAULT, line);
	if (rows > 2)
		ui_draw_text(2, 0, cols, UI_C_DEFAULT, "Enlarge it, or q to quit.");
}

static void draw_view(struct ui *ui, const struct model_view *v, int y, int h, int w)
{
	const struct ui_view_ops *ops = ui_view_ops_of(ui->view);
	struct ui_table *t = &ui->tables[ui->view];
	char title[512] = "";
	/* Rebuild before the title so that it can report the row count. */
	ui_table_rebuild_if_stale(ui, ops, t, v);
	ops->title_line(ui, v, title, sizeof title);
	/* Filters first: at 80 columns the end of the title is what gets cut. */
	char filters[128];
	ui_fmt_filters(ui, filters, sizeof filters);
	int fx = ui_text_width(filters);
	ui_draw_text(y, 0, w, UI_C_FILTER, filters);
	ui_draw_text(y, fx, w - fx, UI_C_DEFAULT, title);
	int body = h - 1;
	int extra = ops->extra_lines ? ops->extra_lines(ui, v, body) : 0;
	ui_table_draw(ui, ops, t, v, y + 1, body - extra, w);
	if (extra > 0 && ops->draw_extra)
		ops->draw_extra(ui, v, y + 1 + body - extra, extra, w);
}

void ui_draw_frame(struct ui *ui)
{
	getmaxyx(stdscr, ui->rows, ui->cols);
	erase();
	ui->hits.tab_y = ui->hits.head_y = -1; /* drawn below, or nothing to click */
	if (ui->rows < UI_MIN_ROWS || ui->cols < UI_MIN_COLS) {
		draw_too_small(ui->rows, ui->cols);
	} else {
		urcu_memb_read_lock();
		const struct model_view *v = ui->paused ? ui->paused_view : model_view_get(ui->s);
		int hl = ui_header_lines();
		ui_header_draw(ui, v, ui->cols);
		draw_tabs(ui, hl, ui->cols);
		if (ui->timeline)
			ui_timeline_draw(ui, v, hl + 1, ui->rows - hl - 2, ui->cols);
		else
			draw_view(ui, v, hl + 1, ui->rows - hl - 2, ui->cols);
		draw_status(ui, ui->rows - 1, ui->cols);
		urcu_memb_read_unlock();
		if (ui->help)
			ui_help_draw(ui, ui->rows, ui->cols);
	}
	wnoutrefresh(stdscr);
	doupdate();
	ui->frames++;
}

/* ------------------------------------------------------------------ input */

static void edit_filter(struct ui *ui, int key)
{
	size_t len = strlen(ui->name_filter);
	if (key == '\n' || key == '\r' || key == KEY_ENTER) {
		ui->editing_filter = false;
	} else if (key == 27) { /* Esc */
		ui->editing_filter = false;
		ui->name_filter[0] = '\0';
	} else if (key == KEY_BACKSPACE || key == 127 || key == 8) {
		if (len)
			ui->name_filter[len - 1] = '\0';
	} else if (key >= 32 && key < 127 && len + 1 < sizeof ui->name_filter) {
		ui->name_filter[len] = (char)key;
		ui->name_filter[len + 1] = '\0';
	} else {
		return;
	}
	ui_rows_changed(ui); /* filter as you type */
}

static void handle_key(struct ui *ui, int key)
{
	if (key == KEY_RESIZE)
		return; /* the next frame reads the new size */
	if (ui->editing_filter) {
		edit_filter(ui, key);
		return;
	}
	if (ui->help) {
		if (!ui_help_key(ui, key))
			ui->help = false; /* any other key closes the help */
		return;
	}
	if (key == KEY_MOUSE)
		ui_mouse_handle(ui);
	else
		ui_actions_handle(ui, key);
}

static bool target_gone(struct ui *ui)
{
	bool gone = false;
	urcu_memb_read_lock();
	const struct model_view *v = model_view_get(ui->s);
	if (v)
		gone = v->session.state == MODEL_STATE_EXITED || v->session.state == MODEL_STATE_CRASHED;
	urcu_memb_read_unlock();
	return gone;
}

int ui_run(struct session *s, const struct ui_options *o)
{
	char err[256];
	if (ui_crt_init(o && o->no_color, err, sizeof err) != 0) {
		fprintf(stderr, "memtop: %s\n", err);
		return 1;
	}
	struct ui *ui = malloc(sizeof *ui);
	if (!ui) {
		ui_crt_done();
		fprintf(stderr, "memtop: out of memory\n");
		return 1;
	}
	ui_init(ui, s, o);
	ui->worker = ui_query_worker_start(s); /* NULL: queries run inline, still correct */
	struct ui_stats *st = ui_stats_new(); /* NULL unless MEMTOP_UI_STATS is set */
	uint64_t frame_cpu0 = ui_stats_thread_cpu_ns();
	ui_switch_view(ui, UI_VIEW_SITES);
	uint64_t delay_ns = (uint64_t)ui->opt.delay_ms * 1000000ull;
	uint64_t slow_ns = delay_ns > UI_SLOW_MS * 1000000ull ? delay_ns : UI_SLOW_MS * 1000000ull;
	uint64_t next_frame = 0;
	while (!ui->quit && !ui_crt_quit_requested()) {
		uint64_t now = ui_now_ns();
		bool due = now >= next_frame;
		if (!ui->paused && ui->query_ns[ui->view] && now - ui->query_ns[ui->view] >= slow_ns &&
		    !ui->query_pending[ui->view])
			ui->need_query = true;
		if (ui_query_order_stale(ui))
			ui->need_query = true;
		if (ui->need_query && (!ui->paused || !ui->query_ns[ui->view]))
			ui_query_active(ui);
		struct ui_query_res res;
		if (ui->worker && ui_query_worker_take(ui->worker, &res)) {
			ui_stats_query(st, res.req.view, res.cost_ns); /* the UI thread stays free meanwhile */
			ui->query_pending[res.req.view] = false;
			ui_query_install(ui, &res);
			ui_query_worker_free_later(ui->worker, &res);
		}
		struct ui_text_job text;
		if (ui->worker && ui_query_worker_take_text(ui->worker, &text))
			ui_query_text_install(ui, &text);
		ui_draw_frame(ui);
		if (st) {
			/* Everything since the last frame: keys, the install above, this draw. */
			uint64_t c = ui_stats_thread_cpu_ns();
			ui_stats_frame(st, ui->view, c - frame_cpu0);
			frame_cpu0 = c;
		}
		if (due)
			next_frame = now + delay_ns;
		if (ui->opt.quit_on_exit && target_gone(ui))
			break;
		now = ui_now_ns();
		int wait_ms = next_frame > now ? (int)((next_frame - now + 999999) / 1000000) : 0;
		/* A query in flight: look for its result often, so it shows as soon as it is ready. */
		if (ui->worker && ui_query_worker_busy(ui->worker) && wait_ms > 50)
			wait_ms = 50;
		int key = ui_crt_getkey(wait_ms);
		/* Handle every key already typed before drawing again (held arrow keys), but draw at
		 * least every 256 (a terminal that keeps sending must not freeze the screen). */
		for (int n = 0; key != ERR && n < 256; n++) {
			handle_key(ui, key);
			if (ui->quit)
				break;
			key = ui_crt_getkey(0);
		}
	}
	bool pick = ui->pick_process;
	ui_fini(ui);
	free(ui);
	ui_crt_done();
	ui_stats_print_free(st);
	if (pick)
		ui_tree_pick(s, o);
	return 0;
}
