/* ui_state: the dashboard's state shared by its modules (views, tables, filters, cached per-block
 * results) and the interfaces between them. Internal to monitor/ui/; the state is owned by the UI
 * thread alone, so nothing here is locked. Views read the model only under the urcu read lock. */
#ifndef MEMTOP_UI_STATE_H
#define MEMTOP_UI_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "ui.h"
#include "ui_calltree.h"
#include "ui_crt.h"
#include "ui_sort.h"
#include "ui_walk_rows.h"

enum ui_view_id {
	UI_VIEW_SITES = 0,
	UI_VIEW_THREADS,
	UI_VIEW_WALK,
	UI_VIEW_INCREMENTAL,
	UI_VIEW_MAPS,
	UI_VIEW_SUSPECTS,
	UI_VIEW_CALLERS,
	UI_VIEW_COUNT
};

struct ui;

/* ------------------------------------------------------------------ tables */

struct ui_column {
	const char *title;
	int width;     /* fixed width; 0 = flexible: takes what the fixed columns leave */
	bool left;     /* left-aligned text (numbers are right-aligned) */
	bool text_key; /* sorted by ops->str_key rather than ops->num_key */
	bool interned; /* str_key returns session-interned strings (model.h: stable until the session
	                * ends), so their order can be cached by pointer across views */
	const char *what; /* what it shows, for the help (?) */
};

/* A view: where its rows come from and how they look. Rows are indices into the view's source
 * (the published model view's array or a cached per-block result). */
struct ui_view_ops {
	const char *name;  /* tab label */
	const char *tab;   /* shorter tab label when the tabs do not fit whole (NULL: name) */
	const char *title; /* long name for the title line */
	const struct ui_column *cols;
	int n_cols;
	int default_sort;
	bool default_ascending;
	bool follows_generation; /* rows come from the published view: rebuild on each new one */
	/* Rows arrive filtered and sorted with the query result (a million blocks must never be sorted
	 * on the UI thread): the table shows them as installed, and keep/num_key/str_key are unused. */
	bool rows_from_query;
	int row_height;          /* screen lines per row (1, or 2 for the map heatmap) */
	size_t (*count)(struct ui *ui, const struct model_view *v);
	bool (*keep)(struct ui *ui, const struct model_view *v, size_t i); /* NULL = every row */
	uint64_t (*num_key)(struct ui *ui, const struct model_view *v, size_t i, int col);
	const char *(*str_key)(struct ui *ui, const struct model_view *v, size_t i, int col);
	uint64_t (*row_id)(struct ui *ui, const struct model_view *v, size_t i);
	/* Is the source already in this order (then sorting is skipped)? NULL = never. */
	bool (*source_sorted)(struct ui *ui, int col, bool ascending);
	/* Text of one cell of a visible row, and the colour meaning to draw it with. */
	void (*cell)(struct ui *ui, const struct model_view *v, size_t i, int col, char *buf, size_t n,
		     enum ui_color *color);
	/* Second line of a two-line row (row_height 2). */
	void (*draw_line2)(struct ui *ui, const struct model_view *v, size_t i, int y, int w);
	/* The title line: counts, filters, times. */
	void (*title_line)(struct ui *ui, const struct model_view *v, char *buf, size_t n);
	/* Extra panel under the table (expanded stack, growing sites): lines it wants, and its drawing. */
	int (*extra_lines)(struct ui *ui, const struct model_view *v, int avail);
	void (*draw_extra)(struct ui *ui, const struct model_view *v, int y, int h, int w);
	/* Enter on the selected row. */
	void (*activate)(struct ui *ui, const struct model_view *v, size_t i);
};

struct ui_table {
	uint32_t *rows; /* source indices after filter and sort, in display order */
	size_t n_rows, cap;
	size_t n_query; /* rows_from_query views: rows installed with the last result (n_rows <= it) */
	size_t selected, top;
	int sort_col;
	bool ascending;
	uint64_t selected_id; /* identity of the selected row, kept across rebuilds */
	bool have_selected_id;
	bool built;
	uint64_t built_generation;
	uint64_t built_stamp;
	struct ui_sort_item *scratch; /* sort buffers kept between rebuilds: no page faults per frame */
	const char **scratch_keys;
	size_t scratch_cap;
	int page_rows; /* rows visible at the last draw (PgUp/PgDn) */
	/* Keys move the selection relative to what was drawn; applied at the next draw, after a
	 * rebuild has put the selected row back by identity. */
	long pending_delta;
	int pending_jump; /* 0 none, -1 home, +1 end */
};

/* ------------------------------------------------------------------ call sites grouped from a walk */

/* Used when a thread filter is active: the engine's per-site aggregates are process-wide, so the
 * thread's sites are grouped from a walk of that thread's blocks. */
struct ui_group_row {
	uint32_t stack_id;
	uint64_t bytes, blocks;
	uint64_t oldest_age_ns;
};
struct ui_group {
	struct ui_group_row *rows;
	size_t n, cap;
	uint64_t bytes, blocks;
};
void ui_group_build(struct ui_group *g, const struct model_walk *w);
void ui_group_free(struct ui_group *g);

/* ------------------------------------------------------------------ stack id -> call site lookup */

struct ui_sitemap {
	uint32_t *slots; /* site index + 1, 0 = empty; open addressing on stack_id */
	size_t mask;
	uint64_t generation;
	bool valid;
};
/* The call site of stack_id in view v, or NULL. Rebuilt lazily when v's generation changes. */
const struct model_site *ui_sitemap_find(struct ui *ui, const struct model_view *v, uint32_t stack_id);
void ui_sitemap_free(struct ui_sitemap *m);
/* The top frame of a stack for display: from the view's site, else the engine's full stack. */
void ui_stack_top(struct ui *ui, const struct model_view *v, uint32_t stack_id, struct model_frame *out);

/* ------------------------------------------------------------------ per-string cache */

/* Remembers a value per session-interned string pointer (its sort rank, whether it matches the name
 * filter), so that a new view of 50 000 call sites costs hash lookups instead of string work. */
struct ui_strcache_slot {
	const char *key; /* NULL = empty */
	int32_t val;
};
struct ui_strcache {
	struct ui_strcache_slot *slots;
	size_t mask, used;
};
bool ui_strcache_get(const struct ui_strcache *c, const char *key, int32_t *val);
/* Starts loading key's slot into the cache, for a lookup a little later. */
void ui_strcache_prefetch(const struct ui_strcache *c, const char *key);
/* vals[i] for each keys[i] (absent when not cached); returns the index of the first key not cached,
 * or n. */
size_t ui_strcache_get_many(const struct ui_strcache *c, const char *const *keys, size_t n, int32_t *vals,
			    int32_t absent);
/* c := the rank of each distinct key in strcmp order (equal strings, equal ranks). NULL keys skipped. */
void ui_strcache_rank(struct ui_strcache *c, const char *const *keys, size_t n);
/* Adds to c, for each key not in it, whether it contains filter (case-insensitive). */
void ui_strcache_match(struct ui_strcache *c, const char *const *keys, size_t n, const char *filter);
void ui_strcache_put(struct ui_strcache *c, const char *key, int32_t val);
void ui_strcache_clear(struct ui_strcache *c);
void ui_strcache_free(struct ui_strcache *c);

/* ------------------------------------------------------------------ the dashboard */

struct ui {
	struct session *s;
	struct ui_options opt;
	enum ui_view_id view;
	struct ui_table tables[UI_VIEW_COUNT];
	uint64_t stamp; /* bumped by anything that changes rows: filters, sort, new query results */

	/* filters */
	uint32_t thread_filter; /* model_thread.id or MODEL_ANY_THREAD */
	int32_t thread_filter_tid;
	char thread_filter_name[16];
	char name_filter[64];
	bool editing_filter;

	/* display state */
	bool paused;
	struct model_view *paused_view; /* deep copy shown while paused */
	bool help;
	bool timeline; /* t: the live-bytes chart in place of the view's table */
	int help_scroll; /* first line of the help page shown */
	bool stack_open; /* Enter on a call site: the full stack under the table */
	int stack_scroll;        /* first frame shown in the stack panel ([ and ] move it) */
	uint32_t stack_scroll_id;/* the stack it applies to: another stack starts at its top */
	unsigned heat_divisions;
	unsigned expire_s;
	char message[256];
	bool message_error;
	uint64_t message_until_ns;
	int rows, cols;

	/* per-block results, computed on view entry, on the slow timer, or on demand */
	struct model_walk *walk;        /* heap walk (view 3) */
	struct model_walk *inc_walk;    /* incremental walk (view 4) */
	/* The order of each walk's rows as installed (the rows themselves are the table's), and the
	 * order last asked of the worker: [0] heap walk, [1] incremental walk. */
	struct ui_walk_rows walk_rows[2];
	struct ui_walk_order walk_asked[2];
	bool marked;                    /* m pressed (and not u since): view 4 has something to walk */
	struct model_maps *maps;        /* view 5 */
	struct model_suspects *suspects;/* view 6 */
	struct ui_group site_group;     /* view 1 under a thread filter */
	bool site_group_valid;
	struct ui_group suspect_group;  /* view 6 under a thread filter */
	struct ui_ctree *ctree;         /* view 7: call sites merged by caller (NULL: not yet) */
	uint64_t *ctree_open;           /* paths of the nodes shown open (ui_view_callers.c) */
	size_t n_ctree_open;
	bool suspect_group_valid;
	uint64_t query_ns[UI_VIEW_COUNT]; /* when each view's result was computed (0 = never) */
	uint64_t query_cost_ns[UI_VIEW_COUNT];
	uint64_t query_epoch;           /* bumped when filters or parameters change: older results are stale */
	bool query_pending[UI_VIEW_COUNT]; /* asked of the worker, not installed yet */
	struct ui_query_worker *worker; /* NULL: queries run inline (tests, or no thread) */

	struct ui_sitemap sitemap;
	struct ui_strcache rank_cache;  /* interned string -> rank in strcmp order */
	struct ui_strcache match_cache; /* interned string -> contains match_filter (0/1) */
	char match_filter[64];          /* the name filter match_cache was filled for */
	/* Ranking or matching tens of thousands of new strings costs more than a frame: the worker
	 * does it (ui_query_text_async); these say what it was asked. */
	bool rank_job_pending;
	bool match_job_pending;
	char match_job_filter[64];
	struct {                        /* view 1: which rows the name filter keeps, for one view */
		uint8_t *keep;
		size_t cap;
		uint64_t generation, stamp;
		bool valid;
	} site_keep;
	/* Where the last frame drew what a mouse click can hit (ui_mouse.c reads it). */
	struct {
		int tab_y;                      /* the view tabs' line; -1 = not drawn */
		int tab_x[UI_VIEW_COUNT + 1];   /* tab i spans [tab_x[i], tab_x[i+1]) */
		int head_y;                     /* the table's column header; -1 = no table drawn */
		int col_x[16], col_w[16], n_cols;
		int row_y, row_h, rows_shown;   /* first row's line, lines per row, rows drawn */
	} hits;
	bool pending_activate; /* Enter: run ops->activate on the selected row at the next draw */
	bool need_query;       /* an action invalidated the active view's result */
	bool quit;
	bool pick_process; /* P: quit to the list of the tree's processes (ui_tree.c) */
	uint64_t frames;
};

extern const struct ui_view_ops ui_view_sites, ui_view_threads, ui_view_walk, ui_view_incremental,
	ui_view_maps, ui_view_suspects, ui_view_callers;

/* ui_view_callers.c: the caller tree's rows after a new tree or an open/close, the selection kept
 * on the same node; and opening (Right, +), closing (Left, -) or toggling (Enter) the selected one. */
void ui_callers_rows(struct ui *ui);
enum ui_callers_fold { UI_CALLERS_OPEN, UI_CALLERS_CLOSE, UI_CALLERS_TOGGLE };
void ui_callers_fold(struct ui *ui, enum ui_callers_fold how);
void ui_callers_free(struct ui *ui);
const struct ui_view_ops *ui_view_ops_of(enum ui_view_id id);

/* ui_mouse.c: a click on a tab, a row or a column header, or the wheel (KEY_MOUSE). */
void ui_mouse_handle(struct ui *ui);
/* Sorting by column col (again: the other direction), said on the status line. */
void ui_sort_by(struct ui *ui, int col, bool toggle_direction);

/* ui_table.c */
void ui_table_rebuild_if_stale(struct ui *ui, const struct ui_view_ops *ops, struct ui_table *t,
			       const struct model_view *v);
void ui_table_draw(struct ui *ui, const struct ui_view_ops *ops, struct ui_table *t,
		   const struct model_view *v, int y, int h, int w);
void ui_table_move(struct ui *ui, struct ui_table *t, long delta);
void ui_table_home(struct ui *ui, struct ui_table *t);
void ui_table_end(struct ui *ui, struct ui_table *t);
/* Source index of the selected row, or -1 when the table is empty. */
long ui_table_selected_row(const struct ui_table *t);
void ui_table_free(struct ui_table *t);

/* ui_view_walk.c: the walk views' rows. The order the UI asks for now (sort, name filter) ... */
struct ui_walk_order ui_walk_order_wanted(const struct ui *ui, enum ui_view_id id);
/* ... and installing a walk with its rows, keeping the selection on the same block (O(log n)).
 * Swaps: *walk and *rows then hold what was replaced, for the caller to free. */
void ui_walk_install(struct ui *ui, enum ui_view_id id, struct model_walk **walk, struct ui_walk_rows *rows);
void ui_walk_free_all(struct ui *ui);

/* ui_main.c */
uint64_t ui_now_ns(void);
void ui_message(struct ui *ui, bool error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Recompute the active view's per-block result: through the worker when there is one, else now. */
void ui_query_active(struct ui *ui);
/* The active view's parameters changed (mark, divisions, expire age): recompute, drop older results. */
void ui_query_params_changed(struct ui *ui, enum ui_view_id view);
/* A sort or the name filter changed: rebuild the rows (asks the worker in the walk views). */
void ui_rows_changed(struct ui *ui);
/* Forget every cached per-block result (filters changed). */
void ui_invalidate_queries(struct ui *ui);
/* Draw one whole frame (header, tabs, view, status) and push it to the terminal. */
void ui_draw_frame(struct ui *ui);
void ui_init(struct ui *ui, struct session *s, const struct ui_options *o);
/* ui_tree.c: the list of the tree's processes; sets *o->switch_to (shown when quit). */
void ui_tree_pick(struct session *shown, const struct ui_options *o);
void ui_fini(struct ui *ui);
void ui_switch_view(struct ui *ui, enum ui_view_id id);
void ui_set_paused(struct ui *ui, bool paused);

/* ui_header.c: lines used by the header meters, drawn from row 0. */
int ui_header_lines(void);
void ui_header_draw(struct ui *ui, const struct model_view *v, int w);

/* ui_panel_timeline.c: the live-bytes chart, drawn in rows y..y+h-1 instead of the view's table. */
void ui_timeline_draw(struct ui *ui, const struct model_view *v, int y, int h, int w);

/* ui_help.c */
void ui_help_draw(struct ui *ui, int rows, int cols);
/* A key while the help is shown: true when it scrolled the page (other keys close it). */
bool ui_help_key(struct ui *ui, int key);

/* ui_actions.c */
struct ui_action {
	const char *keys;  /* as shown in the help */
	const char *what;  /* what it does */
};
/* Runs the action bound to key; returns false when the key is not bound. */
bool ui_actions_handle(struct ui *ui, int key);
/* The help list, in display order. */
const struct ui_action *ui_actions_help(size_t *n);

/* Drawing helpers (ui_draw.c) */
void ui_draw_text(int y, int x, int maxw, enum ui_color c, const char *text);
void ui_draw_fill(int y, int x, int w, enum ui_color c);
/* Number of terminal columns text takes (UTF-8 aware). */
int ui_text_width(const char *text);

#define UI_MIN_COLS 60
#define UI_MIN_ROWS 16

#endif
