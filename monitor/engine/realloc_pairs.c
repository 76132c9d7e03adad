/* The table of realloc calls in flight (realloc_pairs.h): open addressing with linear probing and
 * backward-shift deletion, so it never fills with tombstones. Ingest thread only. */
#include <stdlib.h>
#include <string.h>

#include "engine/realloc_pairs.h"

static size_t pair_home(const struct realloc_pairs *t, uint16_t slot, uint64_t link, uint64_t old)
{
	uint64_t h = (old ^ (link << 17) ^ ((uint64_t)slot << 49)) * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 32) & (t->cap - 1);
}

static bool pair_is(const struct realloc_pair *p, uint16_t slot, uint64_t link, uint64_t old)
{
	return p->old_addr == old && p->link == link && p->slot == slot;
}

struct realloc_pair *realloc_pairs_find(struct realloc_pairs *t, uint16_t slot, uint64_t link,
					uint64_t old_addr)
{
	if (!t->cap || !old_addr)
		return NULL;
	for (size_t i = pair_home(t, slot, link, old_addr);; i = (i + 1) & (t->cap - 1)) {
		if (!t->v[i].old_addr)
			return NULL;
		if (pair_is(&t->v[i], slot, link, old_addr))
			return &t->v[i];
	}
}

static struct realloc_pair *pair_slot(struct realloc_pairs *t, uint16_t slot, uint64_t link,
				      uint64_t old)
{
	size_t i = pair_home(t, slot, link, old);
	while (t->v[i].old_addr)
		i = (i + 1) & (t->cap - 1);
	return &t->v[i];
}

static bool pairs_grow(struct realloc_pairs *t)
{
	size_t cap = t->cap ? t->cap * 2 : 64;
	struct realloc_pairs n = {calloc(cap, sizeof(struct realloc_pair)), cap, t->used};
	if (!n.v)
		return false;
	for (size_t i = 0; i < t->cap; i++)
		if (t->v[i].old_addr)
			*pair_slot(&n, t->v[i].slot, t->v[i].link, t->v[i].old_addr) = t->v[i];
	free(t->v);
	*t = n;
	return true;
}

struct realloc_pair *realloc_pairs_add(struct realloc_pairs *t, uint16_t slot, uint64_t link,
				       uint64_t old_addr)
{
	if (!old_addr || ((t->used + 1) * 2 > t->cap && !pairs_grow(t)))
		return NULL;
	struct realloc_pair *p = pair_slot(t, slot, link, old_addr);
	memset(p, 0, sizeof *p);
	p->old_addr = old_addr;
	p->link = link;
	p->slot = slot;
	t->used++;
	return p;
}

void realloc_pairs_remove(struct realloc_pairs *t, struct realloc_pair *p)
{
	size_t mask = t->cap - 1, hole = (size_t)(p - t->v);
	/* Shift back every later entry of the run that may live in the hole. */
	for (size_t j = (hole + 1) & mask; t->v[j].old_addr; j = (j + 1) & mask) {
		size_t home = pair_home(t, t->v[j].slot, t->v[j].link, t->v[j].old_addr);
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			t->v[hole] = t->v[j];
			hole = j;
		}
	}
	t->v[hole].old_addr = 0;
	t->used--;
}

void realloc_pairs_free(struct realloc_pairs *t)
{
	free(t->v);
	memset(t, 0, sizeof *t);
}
