/* ui_calltree: call sites merged by caller into a tree (view 7): roots are the allocating
 * functions (frame #0 once allocator wrappers are folded), children their callers, each node with
 * the live bytes, live blocks and allocations of every site under it. Pure data: no curses, no
 * session; it never copies a frame's strings (they are session-interned) and never grows past
 * UI_CTREE_MAX_NODES nodes (deeper frames of later sites are then counted at the last node). */
#ifndef MEMTOP_UI_CALLTREE_H
#define MEMTOP_UI_CALLTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define UI_CTREE_MAX_NODES (1u << 18)
#define UI_CTREE_NONE 0xffffffffu

struct ui_ctree_node {
	struct model_frame frame;        /* the function (and its call line) this node stands for */
	uint32_t parent, first_child, next_sibling; /* indices, UI_CTREE_NONE for none */
	uint32_t depth;                  /* 0 for an allocating function */
	uint64_t path;                   /* hash of the frames from the root: a node's identity across
					  * rebuilds (what stays expanded, what stays selected) */
	uint64_t live_bytes, live_blocks, allocs; /* inclusive of the subtree */
};

struct ui_ctree {
	struct ui_ctree_node *nodes;     /* [0] is the hidden root: the sum of every site */
	size_t n, cap;
	uint64_t *slots;                 /* open addressing: (parent, frame) -> node index + 1 */
	size_t mask;
	bool truncated;                  /* a site's frames were cut at UI_CTREE_MAX_NODES */
	size_t n_sites;
};

/* Adds one site: frames innermost first (#0 the allocating function). -1 when out of memory. */
int ui_ctree_add(struct ui_ctree *t, const struct model_frame *frames, int n, uint64_t live_bytes,
		 uint64_t live_blocks, uint64_t allocs);
/* Orders every node's children by live bytes, then allocations, then name (call once, at the end). */
void ui_ctree_sort(struct ui_ctree *t);
/* The rows shown: the root's children and, under each node whose path is in open[0..n_open), its
 * children, depth first. Writes up to max node indices; returns how many rows there are. */
size_t ui_ctree_rows(const struct ui_ctree *t, const uint64_t *open, size_t n_open, uint32_t *rows,
		     size_t max);
void ui_ctree_free(struct ui_ctree *t);

#endif
