/* engine_internal: what the two halves of the engine share, for monitor/engine/engine*.c only
 * (engine.c: the model's tables; engine_apply.c: the events applied to them). Others use engine.h. */
#ifndef MEMTOP_ENGINE_INTERNAL_H
#define MEMTOP_ENGINE_INTERNAL_H

#include "engine/engine.h"

/* Grows *arr (elements of elem bytes, zero-filled) to at least need, doubling; false without
 * memory (the array is left as it was). */
bool engine_grow(void **arr, uint32_t *cap, uint32_t need, size_t elem);

/* The site of a stack id, about to change: the array entry when the id was seen before (the common
 * case, inline), else engine_site (grows the array, lists the site, sends bad ids to the overflow
 * site). A site changes at most once per publish into the dirty list: one epoch compare per event. */
static inline struct engine_site *engine_site_of(struct engine *e, uint32_t stack_id)
{
	struct engine_site *s;
	if (__builtin_expect(stack_id < e->sites_cap && stack_id <= e->max_stack_id &&
			     e->sites[stack_id].listed, 1))
		s = &e->sites[stack_id];
	else
		s = engine_site(e, stack_id);
	if (__builtin_expect(s->dirty_epoch != e->dirty_epoch && s->listed, 0)) {
		s->dirty_epoch = e->dirty_epoch;
		e->dirty_sites[e->n_dirty++] = s->list_index;
	}
	return s;
}

#endif
