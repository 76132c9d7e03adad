/* ui_walk_rows: the display order of a heap-walk view (name filter + sort over a million blocks),
 * built on the query worker next to the walk itself, and the binary search that finds a block again
 * in it on the UI thread. Pure over model.h: must never touch struct ui or curses. */
#ifndef MEMTOP_UI_WALK_ROWS_H
#define MEMTOP_UI_WALK_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* The walk views' columns (ui_view_walk.c draws them in this order). */
enum ui_walk_col {
	UI_WALK_ADDR,
	UI_WALK_SIZE,
	UI_WALK_TID,
	UI_WALK_AGE,
	UI_WALK_REALLOC,
	UI_WALK_FRAME,
	UI_WALK_NCOLS
};

/* What a walk's rows are filtered and ordered by: a copy of the UI's settings at request time. */
struct ui_walk_order {
	int sort_col;
	bool ascending;
	char name_filter[64]; /* "" = every block */
};

bool ui_walk_order_equal(const struct ui_walk_order *a, const struct ui_walk_order *b);

/* Rows are ordered by (column key, address), so that every block has one place and a block can be
 * found again by binary search. The age column is keyed by allocation order (seq), which, unlike the
 * age itself, does not change between two walks. */
struct ui_walk_rows {
	struct ui_walk_order order;
	uint32_t *rows; /* indices into the walk's blocks, filtered, in display order */
	size_t n;
	/* Frame column only: stack id -> rank of its top frame's name in strcmp order. */
	uint32_t *rank_ids, *rank_vals;
	size_t rank_mask;
};

/* Filters and sorts w's blocks (any urcu-registered thread; cost O(n) + a radix sort).
 * Returns 0, or -1 when out of memory (out is then empty). */
int ui_walk_rows_build(struct session *s, const struct model_walk *w, const struct ui_walk_order *o,
		       struct ui_walk_rows *out);

/* Where block b belongs in rows (an array of n indices into w ordered as r says): the first position
 * not before it, or SIZE_MAX when its place cannot be known (its stack is not in this walk). *exact
 * tells whether the block at that position is b (same address). O(log n). */
size_t ui_walk_rows_find(const struct model_walk *w, const struct ui_walk_rows *r, const uint32_t *rows,
			 size_t n, const struct model_block *b, bool *exact);

void ui_walk_rows_free(struct ui_walk_rows *r);

#endif
