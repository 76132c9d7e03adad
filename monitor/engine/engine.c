/* engine: the model's tables: its life (init, reset, destroy), the call sites by stack id and the
 * threads by slot, grown as ids and slots come. The events are applied to them in engine_apply.c. */
#include "engine/engine_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ENGINE_SITES_INIT 1024u
#define ENGINE_HUGE_BYTES (2u << 20)

int engine_init(struct engine *e, uint32_t n_slots, uint32_t max_stack_id)
{
	memset(e, 0, sizeof(*e));
	debug_owner_claim(&e->writer);
	if (liveset_init(&e->live))
		return -ENOMEM;
	e->next_seq = 1;
	e->dirty_all = true;
	e->dirty_epoch = 1; /* sites start at 0: not listed as changed yet */
	e->max_stack_id = max_stack_id;
	e->n_slots = n_slots ? n_slots : 1;
	e->slot_thread = malloc(sizeof(uint32_t) * e->n_slots);
	if (!e->slot_thread)
		return -ENOMEM;
	for (uint32_t i = 0; i < e->n_slots; i++)
		e->slot_thread[i] = ENGINE_NO_THREAD;
	return 0;
}

void engine_destroy(struct engine *e)
{
	liveset_destroy(&e->live);
	free(e->sites);
	free(e->site_ids);
	free(e->dirty_sites);
	free(e->threads);
	free(e->slot_thread);
	realloc_pairs_free(&e->reallocs);
	free(e->tags);
	memset(e, 0, sizeof(*e));
}

void engine_claim_writer(struct engine *e)
{
	debug_owner_claim(&e->writer);
	liveset_claim_writer(&e->live);
}

int engine_reset(struct engine *e, uint32_t n_slots, uint32_t max_stack_id)
{
	DEBUG_ASSERT_OWNER(&e->writer);
	DEBUG_ASSERT(!urcu_memb_read_ongoing()); /* synchronize_rcu below */
	struct engine fresh;
	if (engine_init(&fresh, n_slots, max_stack_id) != 0) {
		engine_destroy(&fresh);
		return -ENOMEM;
	}
	fresh.slot_info = e->slot_info;
	fresh.slot_info_ctx = e->slot_info_ctx;
	fresh.on_new_site = e->on_new_site;
	fresh.on_new_site_ctx = e->on_new_site_ctx;
	fresh.sample_mean = e->sample_mean; /* walks read it: no transient 0 (the next load sets it) */
	struct engine old = *e;
	/* readers find only the empty table from here; once they have left the old one, free it */
	rcu_assign_pointer(e->live.table, fresh.live.table);
	liveset_tables_changed(); /* readers pausing an iteration (liveset_iter_yield) must not go on */
	__atomic_store_n(&e->mark_seq, 0, __ATOMIC_RELAXED);
	urcu_memb_synchronize_rcu();
	*e = fresh;
	engine_destroy(&old);
	return 0;
}

bool engine_grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
	if (need <= *cap)
		return true;
	uint32_t ncap = *cap ? *cap : 64;
	while (ncap < need)
		ncap *= 2;
	void *n = realloc(*arr, (size_t)ncap * elem);
	if (!n)
		return false;
	memset((char *)n + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
	*arr = n;
	*cap = ncap;
	return true;
}

/* engine_grow for the site array, which must stay 64-byte aligned (realloc gives 16). */
static bool engine_grow_sites(struct engine *e, uint32_t need)
{
	if (need <= e->sites_cap)
		return true;
	uint32_t ncap = e->sites_cap ? e->sites_cap : 64;
	while (ncap < need)
		ncap *= 2;
	size_t bytes = (size_t)ncap * sizeof(struct engine_site);
	struct engine_site *n = NULL;
	if (bytes >= ENGINE_HUGE_BYTES) {
		/* 50 k sites are 9.6 MB read at random: on 2 MiB pages, not 2,400 TLB entries */
		bytes = (bytes + ENGINE_HUGE_BYTES - 1) & ~(size_t)(ENGINE_HUGE_BYTES - 1);
		if (posix_memalign((void **)&n, ENGINE_HUGE_BYTES, bytes) == 0)
			madvise(n, bytes, MADV_HUGEPAGE);
		else
			n = NULL;
	} else {
		n = aligned_alloc(64, bytes);
	}
	if (!n)
		return false;
	if (e->sites_cap)
		memcpy(n, e->sites, (size_t)e->sites_cap * sizeof(*n));
	memset(n + e->sites_cap, 0, (size_t)(ncap - e->sites_cap) * sizeof(*n));
	free(e->sites);
	e->sites = n;
	e->sites_cap = ncap;
	return true;
}

static void engine_list_site(struct engine *e, uint32_t stack_id, struct engine_site *s)
{
	if (!engine_grow((void **)&e->dirty_sites, &e->dirty_cap, e->n_site_ids + 1, sizeof(uint32_t)) ||
	    !engine_grow((void **)&e->site_ids, &e->site_ids_cap, e->n_site_ids + 1, sizeof(uint32_t)))
		return;
	s->list_index = e->n_site_ids;
	e->site_ids[e->n_site_ids++] = stack_id;
	s->listed = true;
	s->dirty_epoch = e->dirty_epoch; /* new: the next publish adds it */
	e->dirty_sites[e->n_dirty++] = s->list_index;
	if (e->on_new_site)
		e->on_new_site(e->on_new_site_ctx, stack_id);
}

struct engine_site *engine_site(struct engine *e, uint32_t stack_id)
{
	struct engine_site *s;
	if (stack_id == MEMTOP_STACK_SIGNAL) {
		s = &e->signal_site;
	} else if (stack_id == MEMTOP_STACK_OVERFLOW || stack_id > e->max_stack_id) {
		s = &e->overflow_site;
		stack_id = MEMTOP_STACK_OVERFLOW;
	} else {
		if (stack_id >= e->sites_cap &&
		    !engine_grow_sites(e, stack_id + 1 > ENGINE_SITES_INIT ? stack_id + 1
									 : ENGINE_SITES_INIT))
			return &e->overflow_site;
		s = &e->sites[stack_id];
	}
	if (__builtin_expect(!s->listed, 0))
		engine_list_site(e, stack_id, s);
	return s;
}

static uint32_t engine_new_thread(struct engine *e, uint16_t slot)
{
	if (e->n_threads >= LIVESET_THREAD_MAX - 1)
		return LIVESET_THREAD_MAX - 1; /* saturate: the last record collects the rest */
	if (!engine_grow((void **)&e->threads, &e->threads_cap, e->n_threads + 1, sizeof(*e->threads)))
		return 0;
	uint32_t id = e->n_threads++;
	struct engine_thread *t = &e->threads[id];
	memset(t, 0, sizeof(*t));
	t->slot = slot;
	t->alive = true;
	t->tid = slot;
	if (e->slot_info)
		e->slot_info(e->slot_info_ctx, slot, &t->tid, t->name, &t->generation);
	return id;
}

uint32_t engine_thread_for_slot(struct engine *e, uint16_t slot)
{
	if (slot >= e->n_slots)
		slot = (uint16_t)(e->n_slots - 1);
	uint32_t id = e->slot_thread[slot];
	if (__builtin_expect(id == ENGINE_NO_THREAD, 0)) {
		id = engine_new_thread(e, slot);
		e->slot_thread[slot] = id;
	}
	return id;
}
