/* engine: applies target events to the model (live set + aggregates) in the order the ring gives
 * them: each address's events in causal order (one lane per address), a realloc's BEGIN and END
 * possibly swapped when they went to different lanes.
 * The hot path is engine_apply_h: one hash per event, one live-set probe, a few counter updates;
 * at scale, batches go through it in prefetched groups (engine_apply_group). Cost and how it is
 * measured: README "Monitor speed" (bench_engine ingest). It must never block, never read the
 * segment, and never walk the live set. */
#include "engine/engine.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "memtop/sampling.h"

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

static bool engine_grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
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

/* ---- block accounting (every change of the live set goes through these two) ---- */

/* What a block counts for: itself, or for a sample what it stands for (rounded the same way on
 * insert and remove, so the sums come back to 0 when every sample is freed). */
void engine_block_weight(uint16_t flags, uint64_t addr, uint64_t size, uint64_t mean,
			 uint64_t *bytes, uint64_t *blocks)
{
	if (!(flags & LIVESET_F_SAMPLED)) {
		*bytes = size;
		*blocks = 1;
		return;
	}
	double w = memtop_sample_weight(size, mean);
	double u = (double)(liveset_hash(addr) >> 11) * 0x1.0p-53; /* uniform in [0, 1) */
	double wb = (double)size * w;
	*bytes = (uint64_t)wb + (wb - floor(wb) > u);
	*blocks = (uint64_t)w + (w - floor(w) > u);
}

static inline void engine_weight(const struct engine *e, const struct liveset_block *b,
				 uint64_t *bytes, uint64_t *blocks)
{
	if (__builtin_expect(!(b->flags & LIVESET_F_SAMPLED), 1)) {
		*bytes = b->size;
		*blocks = 1;
		return;
	}
	engine_block_weight(b->flags, b->addr, b->size, e->sample_mean, bytes, blocks);
}

/* Before a site's live figures change: when a peak came since they last changed, they are what the
 * site held at that peak (peak attribution in O(1) per event, never by replay). */
static inline void engine_site_touch(const struct engine *e, struct engine_site *s)
{
	if (__builtin_expect(s->peak_epoch != (uint32_t)e->peak_epoch, 0)) {
		s->peak_live_bytes = s->live_bytes;
		s->peak_live_blocks = s->live_blocks;
		s->peak_epoch = (uint32_t)e->peak_epoch;
	}
}

static void engine_account_insert(struct engine *e, struct engine_site *s, const struct liveset_block *b)
{
	engine_site_touch(e, s);
	uint64_t bytes, blocks;
	engine_weight(e, b, &bytes, &blocks);
	if (__builtin_expect(b->flags & LIVESET_F_SAMPLED, 0))
		s->samples++;
	s->live_bytes += bytes;
	s->live_blocks += blocks;
	struct engine_thread *t = &e->threads[b->thread];
	t->live_bytes += bytes;
	t->live_blocks += blocks;
	e->live_bytes += bytes;
	e->live_blocks += blocks;
	if (e->live_bytes > e->peak_bytes) {
		e->peak_bytes = e->live_bytes;
		e->peak_epoch++;
	}
	if (e->live_blocks > e->peak_blocks)
		e->peak_blocks = e->live_blocks;
	if (b->seq > e->mark_seq) {
		e->since_mark_bytes += bytes;
		e->since_mark_blocks += blocks;
	}
}

static void engine_account_remove(struct engine *e, struct engine_site *s, const struct liveset_block *b)
{
	engine_site_touch(e, s);
	uint64_t bytes, blocks;
	engine_weight(e, b, &bytes, &blocks);
	/* what is removed was added by engine_account_insert with the same weight: no figure goes
	 * below zero */
	DEBUG_ASSERT(s->live_bytes >= bytes && s->live_blocks >= blocks);
	DEBUG_ASSERT(e->threads[b->thread].live_bytes >= bytes &&
		     e->threads[b->thread].live_blocks >= blocks);
	DEBUG_ASSERT(e->live_bytes >= bytes && e->live_blocks >= blocks);
	DEBUG_ASSERT(b->seq <= e->mark_seq ||
		     (e->since_mark_bytes >= bytes && e->since_mark_blocks >= blocks));
	if (__builtin_expect(b->flags & LIVESET_F_SAMPLED, 0))
		s->samples--;
	s->live_bytes -= bytes;
	s->live_blocks -= blocks;
	struct engine_thread *t = &e->threads[b->thread];
	t->live_bytes -= bytes;
	t->live_blocks -= blocks;
	e->live_bytes -= bytes;
	e->live_blocks -= blocks;
	if (b->seq > e->mark_seq) {
		e->since_mark_bytes -= bytes;
		e->since_mark_blocks -= blocks;
	}
}

/* A free of a block the model does not hold. A block the target took out of its live table
 * (TABLED) after our load missed it was seen leaving, not lost (session/late_attach.c). */
static void engine_unknown_free(struct engine *e, const struct memtop_event *ev)
{
	if (ev->flags & MEMTOP_EVF_TABLED)
		e->handover_frees++;
	else
		e->unknown_frees++;
}

/* Removes the block at addr (if live) and returns a copy in *out. */
static bool engine_take(struct engine *e, uint64_t addr, uint64_t h, struct liveset_block *out)
{
	const struct liveset_block *b = liveset_take_h(&e->live, addr, h);
	if (!b)
		return false;
	*out = *b;
	engine_account_remove(e, engine_site_of(e, b->stack_id), b);
	return true;
}

/* Inserts b (h = its address's hash, s = its site) in one probe of the live set. */
static void engine_put(struct engine *e, const struct liveset_block *b, uint64_t h,
		       struct engine_site *s)
{
	struct liveset_block old;
	bool replaced;
	struct liveset_block *stored = liveset_put_h(&e->live, b, h, &old, &replaced);
	/* A live address allocated again means its free was lost: the stale block is dropped, and
	 * accounted before the new one so that the peak never counts both. The stale block's site
	 * is known (listed), so s stays valid. */
	if (__builtin_expect(replaced, 0)) {
		/* a block loaded from the table whose allocation event came too (it raced the
		 * claim): the same block, not a lost free */
		if (!(old.flags & LIVESET_F_TABLE))
			e->duplicate_allocs++;
		engine_account_remove(e, engine_site_of(e, old.stack_id), &old);
	}
	if (stored)
		engine_account_insert(e, s, b);
}

static void engine_alloc(struct engine *e, const struct memtop_event *ev, uint64_t h,
			 uint32_t thread, uint16_t flags)
{
	struct liveset_block b = {
		.addr = ev->addr,
		.size = ev->size,
		.seq = e->next_seq++,
		.stack_id = ev->stack_id,
		.time_ms = (uint32_t)(ev->timestamp_ns / 1000000u),
		.thread = (uint16_t)thread,
		.flags = flags,
	};
	struct engine_site *s = engine_site_of(e, ev->stack_id);
	s->allocs++;
	s->bytes_allocated += b.size; /* as kept (48 bits): frees subtract the same */
	e->threads[thread].allocs++;
	e->allocs++;
	e->bytes_allocated += b.size;
	e->size_hist[b.size ? 64 - __builtin_clzll(b.size) : 0]++;
	engine_put(e, &b, h, s);
}

/* A block (already removed from the live set) is confirmed freed by `thread`. */
static void engine_count_free(struct engine *e, struct engine_site *s, const struct liveset_block *b,
			      uint32_t thread)
{
	s->frees++;
	e->threads[thread].frees++;
	if (b->thread != thread)
		e->threads[thread].cross_frees++;
	e->frees++;
	e->bytes_freed += b->size;
}

static void engine_free(struct engine *e, const struct memtop_event *ev, uint64_t h, uint32_t thread)
{
	if (ev->addr == 0)
		return;
	const struct liveset_block *b = liveset_take_h(&e->live, ev->addr, h);
	if (!b) {
		engine_unknown_free(e, ev);
		return;
	}
	struct engine_site *s = engine_site_of(e, b->stack_id);
	if (b->seq + 1 == e->next_seq) { /* the latest allocation: none came in between */
		s->temporary++;
		e->temporary++;
	}
	engine_account_remove(e, s, b);
	engine_count_free(e, s, b, thread);
}

/* ---- realloc: BEGIN takes the old block out (it may be reused by another thread before END) ----
 * BEGIN goes to the old block's lane, END to the new block's: when they differ (END flagged split)
 * the END may come first. Either way the pair meets in e->reallocs, keyed by slot, link (the
 * thread's realloc number) and old address. */

static void engine_realloc_begin(struct engine *e, const struct memtop_event *ev, uint64_t h)
{
	if (ev->addr == 0)
		return;
	struct realloc_pair *p = realloc_pairs_find(&e->reallocs, ev->thread_slot, ev->link, ev->addr);
	if (p && p->ended) { /* the END was applied already: finish the free now */
		struct liveset_block b;
		if (engine_take(e, ev->addr, h, &b))
			engine_count_free(e, engine_site_of(e, b.stack_id), &b, p->end_thread);
		else
			engine_unknown_free(e, ev);
		realloc_pairs_remove(&e->reallocs, p);
		return;
	}
	if (!p)
		p = realloc_pairs_add(&e->reallocs, ev->thread_slot, ev->link, ev->addr);
	if (!p) { /* no memory to remember it: treat the old block as freed now */
		struct liveset_block b;
		if (!engine_take(e, ev->addr, h, &b))
			engine_unknown_free(e, ev);
		return;
	}
	p->known = engine_take(e, ev->addr, h, &p->data);
}

/* A split END before its BEGIN: the new block is live now; the old one is freed when BEGIN comes,
 * after every earlier event of that address. False when there is no memory to remember it. */
static bool engine_realloc_end_first(struct engine *e, const struct memtop_event *ev, uint64_t h,
				     uint32_t thread)
{
	struct realloc_pair *q = realloc_pairs_add(&e->reallocs, ev->thread_slot, ev->link, ev->aux);
	if (!q)
		return false;
	q->ended = true;
	q->end_thread = thread;
	engine_alloc(e, ev, h, thread, LIVESET_F_REALLOC);
	return true;
}

/* h: hash of ev->addr (the new block). */
static void engine_realloc_end(struct engine *e, const struct memtop_event *ev, uint64_t h,
			       uint32_t thread)
{
	struct realloc_pair *p = realloc_pairs_find(&e->reallocs, ev->thread_slot, ev->link, ev->aux);
	bool failed = (ev->flags & MEMTOP_EVF_FAILED) || (ev->addr == 0 && ev->size > 0);
	if (!p && !failed && (ev->flags & MEMTOP_EVF_SPLIT) && ev->addr && ev->aux &&
	    engine_realloc_end_first(e, ev, h, thread))
		return;
	if (failed) {
		if (p && p->known) /* the old block is still live, unchanged */
			engine_put(e, &p->data, liveset_hash(p->data.addr),
				   engine_site_of(e, p->data.stack_id));
	} else {
		if (p && p->known)
			engine_count_free(e, engine_site_of(e, p->data.stack_id), &p->data, thread);
		else if (ev->aux)
			engine_unknown_free(e, ev);
		if (ev->addr)
			engine_alloc(e, ev, h, thread, LIVESET_F_REALLOC);
	}
	if (p)
		realloc_pairs_remove(&e->reallocs, p);
}

void engine_seed(struct engine *e, uint64_t addr, uint64_t size, uint32_t stack_id, uint16_t slot,
		 uint64_t time_ns, uint16_t flags)
{
	uint32_t thread = engine_thread_for_slot(e, slot);
	struct liveset_block b = {
		.addr = addr,
		.size = size,
		.seq = e->next_seq++,
		.stack_id = stack_id,
		.time_ms = (uint32_t)(time_ns / 1000000u),
		.thread = (uint16_t)thread,
		.flags = flags | LIVESET_F_TABLE,
	};
	e->seeded_blocks++;
	engine_put(e, &b, liveset_hash(addr), engine_site_of(e, stack_id));
}

/* h = liveset_hash(ev->addr), computed once per event by the batch loop. */
static inline void engine_apply_h(struct engine *e, const struct memtop_event *ev, uint64_t h)
{
	uint32_t thread = ev->thread_slot < e->n_slots ? e->slot_thread[ev->thread_slot]
						       : ENGINE_NO_THREAD;
	if (__builtin_expect(thread == ENGINE_NO_THREAD, 0))
		thread = engine_thread_for_slot(e, ev->thread_slot);
	e->events++;
	switch (ev->type) {
	case MEMTOP_EV_MALLOC:
	case MEMTOP_EV_CALLOC:
	case MEMTOP_EV_MEMALIGN:
		if (ev->addr && !(ev->flags & MEMTOP_EVF_FAILED))
			engine_alloc(e, ev, h, thread, 0);
		engine_timeline_note(e, ev->timestamp_ns);
		break;
	case MEMTOP_EV_FREE:
		engine_free(e, ev, h, thread);
		engine_timeline_note(e, ev->timestamp_ns);
		break;
	case MEMTOP_EV_REALLOC_BEGIN:
		engine_realloc_begin(e, ev, h);
		break;
	case MEMTOP_EV_REALLOC_END:
		engine_realloc_end(e, ev, h, thread);
		engine_timeline_note(e, ev->timestamp_ns);
		break;
	case MEMTOP_EV_TAG:
		if (engine_grow((void **)&e->tags, &e->tags_cap, e->n_tags + 1, sizeof(*e->tags)))
			e->tags[e->n_tags++] = (struct engine_tag){
				.id = (uint32_t)ev->aux, .time_ns = ev->timestamp_ns, .seq = e->next_seq};
		break;
	case MEMTOP_EV_THREAD_NAME:
		e->names_changed = true;
		break;
	case MEMTOP_EV_MAPS_CHANGED:
		e->maps_changed = true;
		break;
	default:
		e->invalid_events++;
		break;
	}
}

void engine_apply(struct engine *e, const struct memtop_event *ev)
{
	DEBUG_ASSERT_OWNER(&e->writer);
	DEBUG_ASSERT(urcu_memb_read_ongoing());
	engine_apply_h(e, ev, liveset_hash(ev->addr));
}

/* ---- the live-bytes timeline ---- */

/* At scale every event misses the cache two to four times (its slot, the block a free removes, the
 * call site), and on a shared 2-core VM prefetches interleaved with the apply work overlapped badly.
 * So a batch is applied in groups of ENGINE_GROUP events, each in passes: hash every address and
 * prefetch its slot; walk each probe run and prefetch the block a free removes, or an allocation's
 * site; prefetch each free's site from its block; then apply the group in order. A pass is a short
 * loop with nothing else to do, so its misses overlap, and the group's lines (a few hundred) stay
 * in cache until the apply. Prefetches only: the order and the result are those of engine_apply. */
#define ENGINE_GROUP 64
/* Below this many live blocks the table and the blocks stay in cache: prefetching is pure cost. */
#define PREFETCH_MIN_LIVE 32768

/* The slot and the site of the event ENGINE_LATE places ahead, asked for again while the group is
 * applied: by their turn many of the lines the passes asked for were not in the cache (perf on
 * bench_engine: half of the insert's samples on its slot's load, two thirds of an allocation's on
 * its site's). b: the block a free removes, found in the passes (NULL: an allocation, or none). */
#define ENGINE_LATE 8
static inline void engine_prefetch_late(struct engine *e, const struct memtop_event *ev, uint64_t h,
					const struct liveset_block *b)
{
	liveset_prefetch_slot(&e->live, h);
	uint32_t site = b ? (b->addr == ev->addr ? b->stack_id : UINT32_MAX) : ev->stack_id;
	if (site < e->sites_cap)
		__builtin_prefetch(&e->sites[site]);
}

static void engine_apply_group(struct engine *e, const struct memtop_event *ev, size_t n)
{
	uint64_t h[ENGINE_GROUP];
	const struct liveset_block *blk[ENGINE_GROUP];
	for (size_t i = 0; i < n; i++) {
		h[i] = liveset_hash(ev[i].addr);
		liveset_prefetch_slot(&e->live, h[i]);
	}
	for (size_t i = 0; i < n; i++) {
		blk[i] = NULL;
		if (ev[i].type == MEMTOP_EV_FREE || ev[i].type == MEMTOP_EV_REALLOC_BEGIN)
			blk[i] = liveset_prefetch_block(&e->live, h[i]);
		else if (ev[i].stack_id < e->sites_cap)
			__builtin_prefetch(&e->sites[ev[i].stack_id]);
	}
	for (size_t i = 0; i < n; i++) {
		const struct liveset_block *b = blk[i];
		if (b && b->addr == ev[i].addr && b->stack_id < e->sites_cap)
			__builtin_prefetch(&e->sites[b->stack_id]);
	}
	for (size_t i = 0; i < n; i++) {
		if (i + ENGINE_LATE < n)
			engine_prefetch_late(e, &ev[i + ENGINE_LATE], h[i + ENGINE_LATE], blk[i + ENGINE_LATE]);
		engine_apply_h(e, &ev[i], h[i]);
	}
}

void engine_apply_batch(struct engine *e, const struct memtop_event *ev, size_t n)
{
	DEBUG_ASSERT_OWNER(&e->writer);
	DEBUG_ASSERT(urcu_memb_read_ongoing());
	if (e->live.count >= PREFETCH_MIN_LIVE) {
		for (size_t i = 0; i < n; i += ENGINE_GROUP)
			engine_apply_group(e, ev + i, n - i < ENGINE_GROUP ? n - i : ENGINE_GROUP);
		return;
	}
	for (size_t i = 0; i < n; i++)
		engine_apply_h(e, &ev[i], liveset_hash(ev[i].addr));
}
