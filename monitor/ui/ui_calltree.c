/* ui_calltree: the caller tree of view 7 built from call sites' stacks (innermost first): merge
 * by frame (function, file:line; module+offset or pc when unresolved), inclusive sums, children
 * by live bytes. Never touches curses or the session, never holds more than UI_CTREE_MAX_NODES. */
#include <stdlib.h>
#include <string.h>

#include "ui_calltree.h"

static uint64_t str_hash(uint64_t h, const char *s)
{
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (h ^ 0xff) * 1099511628211ull; /* NULL and "" differ from a shared prefix */
}

static uint64_t mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return k;
}

/* What makes two frames one node: resolved frames by name and line, others by address. */
static uint64_t frame_hash(const struct model_frame *f)
{
	uint64_t h = 1469598103934665603ull;
	if (f->func)
		return mix(str_hash(str_hash(h, f->func), f->file) + (uint64_t)(uint32_t)f->line);
	if (f->module)
		return mix(str_hash(h, f->module) + f->module_off);
	return mix(h + f->pc);
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_frame(const struct model_frame *a, const struct model_frame *b)
{
	if (a->func || b->func)
		return same_str(a->func, b->func) && same_str(a->file, b->file) && a->line == b->line;
	if (a->module || b->module)
		return same_str(a->module, b->module) && a->module_off == b->module_off;
	return a->pc == b->pc;
}

static bool grow_slots(struct ui_ctree *t)
{
	size_t cap = t->slots ? (t->mask + 1) * 2 : 1024;
	uint64_t *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return false;
	for (size_t i = 1; i < t->n; i++) { /* every node but the root is keyed by its parent */
		const struct ui_ctree_node *nd = &t->nodes[i];
		size_t j = mix(frame_hash(&nd->frame) ^ mix(nd->parent + 1ull)) & (cap - 1);
		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->mask = cap - 1;
	return true;
}

static bool ensure_root(struct ui_ctree *t)
{
	if (t->n)
		return true;
	t->cap = 256;
	t->nodes = calloc(t->cap, sizeof *t->nodes);
	if (!t->nodes || !grow_slots(t))
		return false;
	t->nodes[0] = (struct ui_ctree_node){.parent = UI_CTREE_NONE, .first_child = UI_CTREE_NONE,
					     .next_sibling = UI_CTREE_NONE};
	t->n = 1;
	return true;
}

/* The child of parent for frame f, made when new; UI_CTREE_NONE when full or out of memory. */
static uint32_t child_of(struct ui_ctree *t, uint32_t parent, const struct model_frame *f)
{
	size_t j = mix(frame_hash(f) ^ mix(parent + 1ull)) & t->mask;
	for (; t->slots[j]; j = (j + 1) & t->mask) {
		uint32_t k = (uint32_t)(t->slots[j] - 1);
		if (t->nodes[k].parent == parent && same_frame(&t->nodes[k].frame, f))
			return k;
	}
	if (t->n >= UI_CTREE_MAX_NODES) {
		t->truncated = true;
		return UI_CTREE_NONE;
	}
	if (t->n == t->cap) {
		struct ui_ctree_node *nn = realloc(t->nodes, t->cap * 2 * sizeof *nn);
		if (!nn)
			return UI_CTREE_NONE;
		t->nodes = nn;
		t->cap *= 2;
	}
	uint32_t k = (uint32_t)t->n++;
	struct ui_ctree_node *p = &t->nodes[parent];
	t->nodes[k] = (struct ui_ctree_node){
		.frame = *f, .parent = parent, .first_child = UI_CTREE_NONE,
		.next_sibling = p->first_child, .depth = parent ? p->depth + 1 : 0,
		.path = mix(p->path ^ frame_hash(f)) | 1};
	p->first_child = k;
	t->slots[j] = k + 1ull;
	if ((t->n + 1) * 2 > t->mask + 1 && !grow_slots(t))
		return UI_CTREE_NONE;
	return k;
}

int ui_ctree_add(struct ui_ctree *t, const struct model_frame *frames, int n, uint64_t live_bytes,
		 uint64_t live_blocks, uint64_t allocs)
{
	if (!ensure_root(t))
		return -1;
	t->n_sites++;
	uint32_t at = 0;
	for (int i = 0; i <= n; i++) {
		struct ui_ctree_node *nd = &t->nodes[at];
		nd->live_bytes += live_bytes;
		nd->live_blocks += live_blocks;
		nd->allocs += allocs;
		if (i == n)
			break;
		uint32_t k = child_of(t, at, &frames[i]);
		if (k == UI_CTREE_NONE)
			return t->truncated ? 0 : -1; /* full: counted down to here */
		at = k;
	}
	return 0;
}

static const char *name_of(const struct ui_ctree_node *nd)
{
	return nd->frame.func ? nd->frame.func : nd->frame.module ? nd->frame.module : "";
}

static int by_live_desc(const void *x, const void *y)
{
	const struct ui_ctree_node *a = *(const struct ui_ctree_node *const *)x;
	const struct ui_ctree_node *b = *(const struct ui_ctree_node *const *)y;
	if (a->live_bytes != b->live_bytes)
		return a->live_bytes > b->live_bytes ? -1 : 1;
	if (a->allocs != b->allocs)
		return a->allocs > b->allocs ? -1 : 1;
	int c = strcmp(name_of(a), name_of(b));
	if (c)
		return c;
	return a->frame.line != b->frame.line ? (a->frame.line < b->frame.line ? -1 : 1)
					      : (a->path < b->path ? -1 : a->path > b->path);
}

void ui_ctree_sort(struct ui_ctree *t)
{
	const struct ui_ctree_node **kids = malloc((t->n + 1) * sizeof *kids);
	if (!kids)
		return; /* unsorted, still whole */
	for (size_t p = 0; p < t->n; p++) {
		size_t m = 0;
		for (uint32_t k = t->nodes[p].first_child; k != UI_CTREE_NONE; k = t->nodes[k].next_sibling)
			kids[m++] = &t->nodes[k];
		if (m < 2)
			continue;
		qsort(kids, m, sizeof *kids, by_live_desc);
		t->nodes[p].first_child = (uint32_t)(kids[0] - t->nodes);
		for (size_t i = 0; i < m; i++)
			t->nodes[kids[i] - t->nodes].next_sibling =
				i + 1 < m ? (uint32_t)(kids[i + 1] - t->nodes) : UI_CTREE_NONE;
	}
	free(kids);
}

static bool is_open(uint64_t path, const uint64_t *open, size_t n_open)
{
	for (size_t i = 0; i < n_open; i++)
		if (open[i] == path)
			return true;
	return false;
}

size_t ui_ctree_rows(const struct ui_ctree *t, const uint64_t *open, size_t n_open, uint32_t *rows,
		     size_t max)
{
	if (!t->n)
		return 0;
	size_t n = 0;
	uint32_t k = t->nodes[0].first_child;
	while (k != UI_CTREE_NONE) { /* depth first without a stack: down, else next, else up */
		const struct ui_ctree_node *nd = &t->nodes[k];
		if (n < max)
			rows[n] = k;
		n++;
		if (nd->first_child != UI_CTREE_NONE && is_open(nd->path, open, n_open)) {
			k = nd->first_child;
			continue;
		}
		while (k != UI_CTREE_NONE && t->nodes[k].next_sibling == UI_CTREE_NONE)
			k = t->nodes[k].parent ? t->nodes[k].parent : UI_CTREE_NONE;
		if (k != UI_CTREE_NONE)
			k = t->nodes[k].next_sibling;
	}
	return n;
}

void ui_ctree_free(struct ui_ctree *t)
{
	free(t->nodes);
	free(t->slots);
	memset(t, 0, sizeof *t);
}
