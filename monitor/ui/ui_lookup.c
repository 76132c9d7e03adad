/* ui_lookup: small indexes over data the engine published: stack id -> call site of a view (for the
 * top frame of walk rows), call sites grouped from a thread's walk, and answers cached per interned
 * string (sort rank, name-filter match). They only rearrange engine results; they must never read
 * the live set or the segment. */
#include <stdlib.h>
#include <string.h>

#include "ui_state.h"

static size_t hash_id(uint32_t id)
{
	return (size_t)((id * 0x9E3779B1u) ^ (id >> 16));
}

static void sitemap_build(struct ui_sitemap *m, const struct model_view *v)
{
	size_t want = 64;
	while (want < v->n_sites * 2)
		want *= 2;
	if (want - 1 != m->mask || !m->slots) {
		free(m->slots);
		m->slots = calloc(want, sizeof *m->slots);
		m->mask = m->slots ? want - 1 : 0;
	} else {
		memset(m->slots, 0, want * sizeof *m->slots);
	}
	m->valid = m->slots != NULL;
	if (!m->valid)
		return;
	for (size_t i = 0; i < v->n_sites; i++) {
		size_t h = hash_id(v->sites[i].stack_id) & m->mask;
		while (m->slots[h])
			h = (h + 1) & m->mask;
		m->slots[h] = (uint32_t)i + 1;
	}
	m->generation = v->generation;
}

const struct model_site *ui_sitemap_find(struct ui *ui, const struct model_view *v, uint32_t stack_id)
{
	struct ui_sitemap *m = &ui->sitemap;
	if (!v || v->n_sites == 0)
		return NULL;
	if (!m->valid || m->generation != v->generation)
		sitemap_build(m, v);
	if (!m->valid)
		return NULL;
	for (size_t h = hash_id(stack_id) & m->mask; m->slots[h]; h = (h + 1) & m->mask) {
		const struct model_site *site = &v->sites[m->slots[h] - 1];
		if (site->stack_id == stack_id)
			return site;
	}
	return NULL;
}

void ui_sitemap_free(struct ui_sitemap *m)
{
	free(m->slots);
	memset(m, 0, sizeof *m);
}

void ui_stack_top(struct ui *ui, const struct model_view *v, uint32_t stack_id, struct model_frame *out)
{
	const struct model_site *site = ui_sitemap_find(ui, v, stack_id);
	if (site) {
		*out = site->top;
		return;
	}
	/* A site newer than the view: ask the engine for the stack (first frame only). */
	memset(out, 0, sizeof *out);
	if (stack_id != 0)
		model_site_stack(ui->s, stack_id, out, 1);
}

/* ------------------------------------------------------------------ grouping a walk by stack */

/* index: row + 1 by stack id, sized for twice the rows (grown with them, not with the blocks). */
static bool group_index(const struct ui_group *g, uint32_t **index, size_t cap)
{
	uint32_t *ni = calloc(cap, sizeof *ni);
	if (!ni)
		return false;
	for (size_t i = 0; i < g->n; i++) {
		size_t h = hash_id(g->rows[i].stack_id) & (cap - 1);
		while (ni[h])
			h = (h + 1) & (cap - 1);
		ni[h] = (uint32_t)i + 1;
	}
	free(*index);
	*index = ni;
	return true;
}

void ui_group_build(struct ui_group *g, const struct model_walk *w)
{
	g->n = 0;
	g->bytes = g->blocks = 0;
	if (!w)
		return;
	size_t cap = 1024;
	uint32_t *index = NULL;
	if (!group_index(g, &index, cap))
		return;
	for (size_t i = 0; i < w->count; i++) {
		struct model_block blk = model_walk_block(w, i), *b = &blk;
		if ((g->n + 1) * 2 > cap) {
			if (!group_index(g, &index, cap * 2))
				break;
			cap *= 2;
		}
		size_t h = hash_id(b->stack_id) & (cap - 1);
		while (index[h] && g->rows[index[h] - 1].stack_id != b->stack_id)
			h = (h + 1) & (cap - 1);
		if (!index[h]) {
			if (g->n == g->cap) {
				size_t ncap = g->cap ? g->cap * 2 : 256;
				struct ui_group_row *rows = realloc(g->rows, ncap * sizeof *rows);
				if (!rows)
					break;
				g->rows = rows;
				g->cap = ncap;
			}
			g->rows[g->n] = (struct ui_group_row){.stack_id = b->stack_id};
			index[h] = (uint32_t)++g->n;
		}
		struct ui_group_row *r = &g->rows[index[h] - 1];
		r->bytes += b->size;
		r->blocks++;
		if (b->age_ns > r->oldest_age_ns)
			r->oldest_age_ns = b->age_ns;
		g->bytes += b->size;
		g->blocks++;
	}
	free(index);
}

void ui_group_free(struct ui_group *g)
{
	free(g->rows);
	memset(g, 0, sizeof *g);
}

/* ------------------------------------------------------------------ per-string cache */

static size_t hash_ptr(const char *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return (size_t)(x ^ (x >> 32));
}

bool ui_strcache_get(const struct ui_strcache *c, const char *key, int32_t *val)
{
	if (!c->slots)
		return false;
	for (size_t h = hash_ptr(key) & c->mask; c->slots[h].key; h = (h + 1) & c->mask) {
		if (c->slots[h].key == key) {
			*val = c->slots[h].val;
			return true;
		}
	}
	return false;
}

void ui_strcache_prefetch(const struct ui_strcache *c, const char *key)
{
	if (c->slots && key)
		__builtin_prefetch(&c->slots[hash_ptr(key) & c->mask]);
}

/* Lookups of 50 000 keys are cache misses each: prefetching the slots some keys ahead lets the
 * misses overlap instead of following one another. */
#define PREFETCH_AHEAD 16

size_t ui_strcache_get_many(const struct ui_strcache *c, const char *const *keys, size_t n, int32_t *vals,
			    int32_t absent)
{
	size_t missing = n;
	for (size_t i = 0; i < n; i++) {
		if (i + PREFETCH_AHEAD < n)
			ui_strcache_prefetch(c, keys[i + PREFETCH_AHEAD]);
		if (!ui_strcache_get(c, keys[i], &vals[i])) {
			vals[i] = absent;
			if (missing == n)
				missing = i;
		}
	}
	return missing;
}

static bool strcache_grow(struct ui_strcache *c)
{
	size_t cap = c->slots ? (c->mask + 1) * 2 : 1024;
	struct ui_strcache_slot *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return false;
	for (size_t i = 0; c->slots && i <= c->mask; i++) {
		if (!c->slots[i].key)
			continue;
		size_t h = hash_ptr(c->slots[i].key) & (cap - 1);
		while (slots[h].key)
			h = (h + 1) & (cap - 1);
		slots[h] = c->slots[i];
	}
	free(c->slots);
	c->slots = slots;
	c->mask = cap - 1;
	return true;
}

void ui_strcache_put(struct ui_strcache *c, const char *key, int32_t val)
{
	if (!key)
		return;
	if ((!c->slots || (c->used + 1) * 2 > c->mask + 1) && !strcache_grow(c))
		return;
	size_t h = hash_ptr(key) & c->mask;
	while (c->slots[h].key && c->slots[h].key != key)
		h = (h + 1) & c->mask;
	if (!c->slots[h].key)
		c->used++;
	c->slots[h].key = key;
	c->slots[h].val = val;
}

void ui_strcache_clear(struct ui_strcache *c)
{
	if (c->slots)
		memset(c->slots, 0, (c->mask + 1) * sizeof *c->slots);
	c->used = 0;
}

void ui_strcache_free(struct ui_strcache *c)
{
	free(c->slots);
	memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------------ per-string answers */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void ui_strcache_rank(struct ui_strcache *c, const char *const *keys, size_t n)
{
	const char **distinct = malloc((n ? n : 1) * sizeof *distinct);
	if (!distinct)
		return;
	ui_strcache_clear(c);
	size_t d = 0;
	int32_t seen;
	for (size_t i = 0; i < n; i++) {
		if (keys[i] && !ui_strcache_get(c, keys[i], &seen)) {
			ui_strcache_put(c, keys[i], 0);
			distinct[d++] = keys[i];
		}
	}
	if (d > 1)
		qsort(distinct, d, sizeof *distinct, cmp_str);
	int32_t rank = 0;
	for (size_t i = 0; i < d; i++) {
		if (i > 0 && strcmp(distinct[i - 1], distinct[i]) != 0)
			rank++;
		ui_strcache_put(c, distinct[i], rank);
	}
	free(distinct);
}

void ui_strcache_match(struct ui_strcache *c, const char *const *keys, size_t n, const char *filter)
{
	int32_t seen;
	for (size_t i = 0; i < n; i++)
		if (keys[i] && !ui_strcache_get(c, keys[i], &seen))
			ui_strcache_put(c, keys[i], strcasestr(keys[i], filter) != NULL);
}
