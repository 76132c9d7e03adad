/* ui_walk_rows: filters and sorts a heap walk's blocks for display on the query worker, so that the
 * UI thread never does O(n log n) work over a million rows; finds a block again by binary search.
 * The sort needs 10 bytes per block besides the 4-byte rows it returns (no copy of keys or blocks).
 * Reads only model.h results and session-interned strings: must never touch struct ui or curses. */
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "ui_walk_rows.h"

#define NO_STACK 0xffffffffu /* an empty slot in the stack tables (never a real stack id here) */

bool ui_walk_order_equal(const struct ui_walk_order *a, const struct ui_walk_order *b)
{
	return a->sort_col == b->sort_col && a->ascending == b->ascending &&
	       strcmp(a->name_filter, b->name_filter) == 0;
}

static size_t hash_id(uint32_t id)
{
	return (size_t)((id * 0x9E3779B1u) ^ (id >> 16));
}

/* ------------------------------------------------------------------ the distinct stacks of a walk */

struct stack_info {
	uint32_t id;
	uint32_t rank;
	const char *name; /* top frame's function, else module; session-interned */
	bool match;       /* top frame matches the name filter */
};

struct stack_set {
	struct stack_info *info;
	size_t n, cap;
	uint32_t *slots; /* info index + 1 by stack id, 0 = empty */
	size_t mask;
	/* the published view's sites by stack id, for the top frames */
	const struct model_view *v;
	uint32_t *site_slots;
	size_t site_mask;
};

static bool set_rehash(struct stack_set *ss, size_t cap)
{
	uint32_t *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return false;
	for (size_t i = 0; i < ss->n; i++) {
		size_t h = hash_id(ss->info[i].id) & (cap - 1);
		while (slots[h])
			h = (h + 1) & (cap - 1);
		slots[h] = (uint32_t)i + 1;
	}
	free(ss->slots);
	ss->slots = slots;
	ss->mask = cap - 1;
	return true;
}

static void index_sites(struct stack_set *ss, const struct model_view *v)
{
	ss->v = v;
	if (!v || !v->n_sites)
		return;
	size_t cap = 64;
	while (cap < v->n_sites * 2)
		cap *= 2;
	ss->site_slots = calloc(cap, sizeof *ss->site_slots);
	if (!ss->site_slots)
		return;
	ss->site_mask = cap - 1;
	for (size_t i = 0; i < v->n_sites; i++) {
		size_t h = hash_id(v->sites[i].stack_id) & ss->site_mask;
		while (ss->site_slots[h])
			h = (h + 1) & ss->site_mask;
		ss->site_slots[h] = (uint32_t)i + 1;
	}
}

/* The top frame as the views draw it: the published site's, else the engine's stack. */
static void top_frame(struct session *s, const struct stack_set *ss, uint32_t id, struct model_frame *out)
{
	if (ss->site_slots) {
		for (size_t h = hash_id(id) & ss->site_mask; ss->site_slots[h]; h = (h + 1) & ss->site_mask) {
			const struct model_site *site = &ss->v->sites[ss->site_slots[h] - 1];
			if (site->stack_id == id) {
				*out = site->top;
				return;
			}
		}
	}
	memset(out, 0, sizeof *out);
	if (id != 0)
		model_site_stack(s, id, out, 1);
}

static bool frame_matches(const struct model_frame *f, const char *filter)
{
	return (f->func && strcasestr(f->func, filter)) || (f->file && strcasestr(f->file, filter)) ||
	       (f->module && strcasestr(f->module, filter));
}

/* The info of stack id, added on first sight. NULL when out of memory. */
static struct stack_info *stack_of(struct session *s, struct stack_set *ss, uint32_t id, const char *filter)
{
	size_t h = hash_id(id) & ss->mask;
	for (; ss->slots[h]; h = (h + 1) & ss->mask)
		if (ss->info[ss->slots[h] - 1].id == id)
			return &ss->info[ss->slots[h] - 1];
	if (ss->n == ss->cap) {
		size_t cap = ss->cap * 2;
		struct stack_info *info = realloc(ss->info, cap * sizeof *info);
		if (!info)
			return NULL;
		ss->info = info;
		ss->cap = cap;
	}
	if ((ss->n + 1) * 2 > ss->mask + 1) {
		if (!set_rehash(ss, (ss->mask + 1) * 2))
			return NULL;
		for (h = hash_id(id) & ss->mask; ss->slots[h]; h = (h + 1) & ss->mask)
			;
	}
	struct model_frame top;
	top_frame(s, ss, id, &top);
	struct stack_info *si = &ss->info[ss->n];
	*si = (struct stack_info){.id = id, .name = top.func ? top.func : top.module,
				  .match = !filter[0] || frame_matches(&top, filter)};
	ss->slots[h] = (uint32_t)++ss->n;
	return si;
}

static const struct stack_info *stack_find(const struct stack_set *ss, uint32_t id)
{
	for (size_t h = hash_id(id) & ss->mask; ss->slots[h]; h = (h + 1) & ss->mask)
		if (ss->info[ss->slots[h] - 1].id == id)
			return &ss->info[ss->slots[h] - 1];
	return NULL;
}

static void set_free(struct stack_set *ss)
{
	free(ss->info);
	free(ss->slots);
	free(ss->site_slots);
	memset(ss, 0, sizeof *ss);
}

/* Every distinct stack of w with its top frame and filter answer. */
static int collect_stacks(struct session *s, const struct model_walk *w, const char *filter,
			  struct stack_set *ss)
{
	memset(ss, 0, sizeof *ss);
	ss->cap = 1024;
	ss->info = malloc(ss->cap * sizeof *ss->info);
	if (!ss->info || !set_rehash(ss, 2048))
		return -1;
	int rc = 0;
	/* The view's sites are read under the read lock; their frames' strings are session-interned,
	 * so the copies stay valid after it. */
	urcu_memb_read_lock();
	index_sites(ss, model_view_get(s));
	for (size_t i = 0; i < w->count && rc == 0; i++)
		if (!stack_of(s, ss, model_walk_block(w, i).stack_id, filter))
			rc = -1;
	urcu_memb_read_unlock();
	free(ss->site_slots);
	ss->site_slots = NULL;
	ss->v = NULL;
	return rc;
}

static int cmp_name(const void *a, const void *b)
{
	const struct stack_info *x = *(const struct stack_info *const *)a;
	const struct stack_info *y = *(const struct stack_info *const *)b;
	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

/* Ranks the stacks by name (equal names, equal ranks) and keeps the ranks in r for ui_walk_rows_find. */
static int rank_stacks(struct stack_set *ss, struct ui_walk_rows *r)
{
	struct stack_info **by_name = malloc((ss->n ? ss->n : 1) * sizeof *by_name);
	size_t cap = 64;
	while (cap < ss->n * 2)
		cap *= 2;
	r->rank_ids = malloc(cap * sizeof *r->rank_ids);
	r->rank_vals = malloc(cap * sizeof *r->rank_vals);
	if (!by_name || !r->rank_ids || !r->rank_vals) {
		free(by_name);
		return -1;
	}
	r->rank_mask = cap - 1;
	memset(r->rank_ids, 0xff, cap * sizeof *r->rank_ids); /* NO_STACK everywhere */
	for (size_t i = 0; i < ss->n; i++)
		by_name[i] = &ss->info[i];
	if (ss->n > 1)
		qsort(by_name, ss->n, sizeof *by_name, cmp_name);
	uint32_t rank = 0;
	for (size_t i = 0; i < ss->n; i++) {
		if (i > 0 && cmp_name(&by_name[i - 1], &by_name[i]) != 0)
			rank++;
		by_name[i]->rank = rank;
		size_t h = hash_id(by_name[i]->id) & r->rank_mask;
		while (r->rank_ids[h] != NO_STACK)
			h = (h + 1) & r->rank_mask;
		r->rank_ids[h] = by_name[i]->id;
		r->rank_vals[h] = rank;
	}
	free(by_name);
	return 0;
}

static bool rank_of(const struct ui_walk_rows *r, uint32_t stack_id, uint32_t *rank)
{
	if (!r->rank_ids)
		return false;
	for (size_t h = hash_id(stack_id) & r->rank_mask; r->rank_ids[h] != NO_STACK; h = (h + 1) & r->rank_mask) {
		if (r->rank_ids[h] == stack_id) {
			*rank = r->rank_vals[h];
			return true;
		}
	}
	return false;
}

/* ------------------------------------------------------------------ keys, sort, search */

/* The sort key of a block in column col; false when it cannot be known (a stack not ranked). */
static bool key_of(const struct ui_walk_rows *r, const struct model_block *b, uint64_t *key)
{
	uint32_t rank;
	switch (r->order.sort_col) {
	case UI_WALK_SIZE:
		*key = b->size;
		return true;
	case UI_WALK_TID:
		*key = b->thread_id;
		return true;
	case UI_WALK_AGE:
		*key = ~b->seq; /* youngest (latest allocated) first when ascending */
		return true;
	case UI_WALK_REALLOC:
		*key = b->from_realloc;
		return true;
	case UI_WALK_FRAME:
		if (!rank_of(r, b->stack_id, &rank))
			return false;
		*key = rank;
		return true;
	default:
		*key = b->addr;
		return true;
	}
}

/* What one radix pass sorts by: the address (first pass) or the column's key, flipped when
 * descending (the address, the tie-breaker, descends too). */
struct walk_sort {
	const struct model_walk *w;
	const struct ui_walk_rows *r;
	bool by_addr;
	uint64_t flip;
};

static uint64_t sort_key(const struct walk_sort *ws, uint32_t row)
{
	struct model_block b = model_walk_block(ws->w, row);
	uint64_t k = b.addr;
	if (!ws->by_addr)
		key_of(ws->r, &b, &k);
	return k ^ ws->flip;
}

#define DIGIT_BITS 16 /* few passes: each one reads the blocks again, at random */
#define DIGITS (1u << DIGIT_BITS)

/* Stable LSD radix sort of rows by sort_key, skipping the digits every key shares. tmp: n rows,
 * digit: n digits, count: DIGITS + 1. Returns the array holding the result (rows or tmp). */
static uint32_t *sort_rows(const struct walk_sort *ws, uint32_t *rows, uint32_t *tmp, uint16_t *digit,
			   size_t *count, size_t n)
{
	uint64_t all_or = 0, all_and = ~0ull;
	for (size_t i = 0; i < n; i++) {
		uint64_t k = sort_key(ws, rows[i]);
		all_or |= k;
		all_and &= k;
	}
	for (int shift = 0; shift < 64; shift += DIGIT_BITS) {
		if ((((all_or ^ all_and) >> shift) & (DIGITS - 1)) == 0)
			continue;
		memset(count, 0, (DIGITS + 1) * sizeof *count);
		for (size_t i = 0; i < n; i++) {
			digit[i] = (uint16_t)(sort_key(ws, rows[i]) >> shift);
			count[digit[i] + 1]++;
		}
		for (size_t d = 0; d < DIGITS; d++)
			count[d + 1] += count[d];
		for (size_t i = 0; i < n; i++)
			tmp[count[digit[i]]++] = rows[i];
		uint32_t *t = rows;
		rows = tmp;
		tmp = t;
	}
	return rows;
}

int ui_walk_rows_build(struct session *s, const struct model_walk *w, const struct ui_walk_order *o,
		       struct ui_walk_rows *out)
{
	memset(out, 0, sizeof *out);
	out->order = *o;
	if (!w || w->count == 0)
		return 0;
	if (w->count > UINT32_MAX)
		return -1;
	bool by_frame = o->sort_col == UI_WALK_FRAME;
	struct stack_set ss = {0};
	uint32_t *rows = NULL, *tmp = NULL;
	uint16_t *digit = NULL;
	size_t *count = NULL;
	if ((o->name_filter[0] || by_frame) && collect_stacks(s, w, o->name_filter, &ss) != 0)
		goto fail;
	if (by_frame && rank_stacks(&ss, out) != 0)
		goto fail;
	rows = malloc(w->count * sizeof *rows);
	if (!rows)
		goto fail;
	size_t n = 0;
	for (size_t i = 0; i < w->count; i++) {
		if (o->name_filter[0] && !stack_find(&ss, model_walk_block(w, i).stack_id)->match)
			continue;
		rows[n++] = (uint32_t)i;
	}
	tmp = malloc((n ? n : 1) * sizeof *tmp);
	digit = malloc((n ? n : 1) * sizeof *digit);
	count = malloc((DIGITS + 1) * sizeof *count);
	if (!tmp || !digit || !count)
		goto fail;
	/* LSD order: by address first, then a stable sort by the column gives (key, address). */
	struct walk_sort ws = {.w = w, .r = out, .by_addr = true, .flip = o->ascending ? 0 : ~0ull};
	uint32_t *sorted = sort_rows(&ws, rows, tmp, digit, count, n);
	if (o->sort_col != UI_WALK_ADDR) {
		ws.by_addr = false;
		sorted = sort_rows(&ws, sorted, sorted == rows ? tmp : rows, digit, count, n);
	}
	free(sorted == rows ? tmp : rows);
	free(digit);
	free(count);
	out->rows = sorted;
	out->n = n;
	set_free(&ss);
	return 0;
fail:
	free(rows);
	free(tmp);
	free(digit);
	free(count);
	set_free(&ss);
	ui_walk_rows_free(out);
	out->order = *o;
	return -1;
}

/* Is a before b in the order (key, address), ascending or descending? */
static bool before(bool ascending, uint64_t ka, uint64_t aa, uint64_t kb, uint64_t ab)
{
	if (ka != kb)
		return ascending ? ka < kb : ka > kb;
	return ascending ? aa < ab : aa > ab;
}

size_t ui_walk_rows_find(const struct model_walk *w, const struct ui_walk_rows *r, const uint32_t *rows,
			 size_t n, const struct model_block *b, bool *exact)
{
	*exact = false;
	uint64_t kb;
	if (!w || !key_of(r, b, &kb))
		return SIZE_MAX;
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct model_block m = model_walk_block(w, rows[mid]);
		uint64_t km = 0;
		key_of(r, &m, &km);
		if (before(r->order.ascending, km, m.addr, kb, b->addr))
			lo = mid + 1;
		else
			hi = mid;
	}
	*exact = lo < n && model_walk_block(w, rows[lo]).addr == b->addr;
	return lo;
}

void ui_walk_rows_free(struct ui_walk_rows *r)
{
	free(r->rows);
	free(r->rank_ids);
	free(r->rank_vals);
	memset(r, 0, sizeof *r);
}
