/* engine_apply: applies target events to the model (live set + aggregates) in the order the ring
 * gives them: each address's events in causal order (one lane per address), a realloc's BEGIN and
 * END possibly swapped when they went to different lanes.
 * The hot path is engine_apply_h: one hash per event, one live-set probe, a few counter updates;
 * at scale, batches go through it in a prefetching pipeline (engine_apply_pipelined). Cost and how
 * it is measured: README "Monitor speed" (bench_engine ingest). It must never block, never read
 * the segment, and never walk the live set. */
#include "engine/engine_internal.h"
#include "engine/liveset_writer.h"

#include <math.h>

#include "memtop/sampling.h"
#include "prefetch.h"

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
	/* set when replaced: zeroed, as GCC cannot tell through the inlined probe */
	struct liveset_block old = {0};
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
	struct liveset_block b =
		liveset_block_make(ev->addr, ev->size, flags, e->next_seq++, (uint16_t)thread,
				   ev->stack_id, (uint32_t)(ev->timestamp_ns / 1000000u));
	uint64_t size = b.size; /* as kept (48 bits): frees subtract the same */
	struct engine_site *s = engine_site_of(e, ev->stack_id);
	s->allocs++;
	s->bytes_allocated += size;
	e->threads[thread].allocs++;
	e->allocs++;
	e->bytes_allocated += size;
	e->size_hist[size ? 64 - __builtin_clzll(size) : 0]++;
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
	struct liveset_block b =
		liveset_block_make(addr, size, flags | LIVESET_F_TABLE, e->next_seq++,
				   (uint16_t)thread, stack_id, (uint32_t)(time_ns / 1000000u));
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

/* ---- batches ---- */

/* At scale every event misses the cache two to four times (its slot, the block a free removes, the
 * call site), each miss depending on the one before: the block is found through the slot, a free's
 * site through its block. So a batch goes through a software pipeline: the event PIPE_SLOT places
 * ahead of the one applied has its address hashed and its slot asked for; PIPE_BLOCK ahead, its
 * probe run is read (the slot has come) and the block a free removes is asked for, or an
 * allocation's site; PIPE_SITE ahead, a free's site is asked for from its block; then the event is
 * applied, its lines in cache. Each stage is several events' work after the one before, so every
 * miss has that long to come, while the misses of about PIPE_SLOT events overlap.
 * bench_engine ingest (1 M live): 15.7 -> 19.5 M events/s against groups of 64 events in passes
 * (every miss of a group asked for before any of it was applied: the apply work did not overlap
 * them, and the first pass stalled on its own prefetches). Prefetches only, and what they find is a
 * hint (a block may be removed or replaced by an event in between: the apply probes again): the
 * order and the result are those of engine_apply. */
#define PIPE_SLOT 24
#define PIPE_BLOCK 16
#define PIPE_SITE 8
/* holds the events between the first stage and the apply: an entry is read before it is reused */
#define PIPE_RING 32
_Static_assert(PIPE_RING > PIPE_SLOT && (PIPE_RING & (PIPE_RING - 1)) == 0 && PIPE_SLOT > PIPE_BLOCK &&
		       PIPE_BLOCK > PIPE_SITE && PIPE_SITE > 0,
	       "the stages come in order, and the ring outlasts the pipeline's length");
/* Below this many live blocks the table and the blocks stay in cache: prefetching is pure cost. */
#define PREFETCH_MIN_LIVE 32768

struct engine_pipe {
	uint64_t h[PIPE_RING];                       /* each event's address hash, from the first stage */
	const struct liveset_block *blk[PIPE_RING]; /* the block a free removes, as the second found it */
};

static inline void pipe_ask_slot(struct engine *e, struct engine_pipe *p, const struct memtop_event *ev,
				 size_t i)
{
	p->h[i % PIPE_RING] = liveset_hash(ev[i].addr);
	liveset_prefetch_slot(&e->live, p->h[i % PIPE_RING]);
}

static inline void pipe_ask_block(struct engine *e, struct engine_pipe *p, const struct memtop_event *ev,
				  size_t i)
{
	const struct liveset_block **b = &p->blk[i % PIPE_RING];
	*b = NULL;
	if (ev[i].type == MEMTOP_EV_FREE || ev[i].type == MEMTOP_EV_REALLOC_BEGIN)
		*b = liveset_prefetch_block(&e->live, p->h[i % PIPE_RING]);
	else {
		liveset_prefetch_insert(&e->live, p->h[i % PIPE_RING]);
		if (ev[i].stack_id < e->sites_cap)
			memtop_prefetch(&e->sites[ev[i].stack_id]);
	}
}

static inline void pipe_ask_site(struct engine *e, const struct engine_pipe *p, const struct memtop_event *ev,
				 size_t i)
{
	const struct liveset_block *b = p->blk[i % PIPE_RING];
	if (b && b->addr == ev[i].addr && b->stack_id < e->sites_cap)
		memtop_prefetch(&e->sites[b->stack_id]);
}

/* The apply of one event, out of line: for the pipeline's first and last rounds (below), so that
 * the flattened loop holds one copy of the apply, in its full rounds. */
static __attribute__((noinline)) void engine_apply_one(struct engine *e, const struct memtop_event *ev,
							uint64_t h)
{
	engine_apply_h(e, ev, h);
}

/* A round of the pipeline at k (the event whose slot is asked for), each stage only where its event
 * is in the batch: the rounds while the pipeline fills (k < PIPE_SLOT) and drains (k >= n). */
static inline __attribute__((always_inline)) void pipe_round_edge(struct engine *e, struct engine_pipe *p,
								  const struct memtop_event *ev, size_t n,
								  size_t k)
{
	if (k < n)
		pipe_ask_slot(e, p, ev, k);
	if (k >= PIPE_SLOT - PIPE_BLOCK && k - (PIPE_SLOT - PIPE_BLOCK) < n)
		pipe_ask_block(e, p, ev, k - (PIPE_SLOT - PIPE_BLOCK));
	if (k >= PIPE_SLOT - PIPE_SITE && k - (PIPE_SLOT - PIPE_SITE) < n)
		pipe_ask_site(e, p, ev, k - (PIPE_SLOT - PIPE_SITE));
	if (k >= PIPE_SLOT)
		engine_apply_one(e, &ev[k - PIPE_SLOT], p->h[(k - PIPE_SLOT) % PIPE_RING]);
}

/* flatten: the whole apply of an event (engine_apply_h and what it calls, the live set's inline
 * calls) is compiled into this loop: out of line, the calls and their register saves were about a
 * fifth of an event's instructions (bench_engine ingest under callgrind: 6.55 G -> 5.36 G). The
 * rounds between the pipeline's filling and draining have every stage's event in the batch and
 * test none (the tests were ~18 instructions an event, bench_engine ingest under callgrind). */
__attribute__((flatten)) static void engine_apply_pipelined(struct engine *e,
							    const struct memtop_event *ev, size_t n)
{
	struct engine_pipe p;
	size_t k = 0;
	for (; k < PIPE_SLOT; k++)
		pipe_round_edge(e, &p, ev, n, k);
	for (; k < n; k++) {
		pipe_ask_slot(e, &p, ev, k);
		pipe_ask_block(e, &p, ev, k - (PIPE_SLOT - PIPE_BLOCK));
		pipe_ask_site(e, &p, ev, k - (PIPE_SLOT - PIPE_SITE));
		engine_apply_h(e, &ev[k - PIPE_SLOT], p.h[(k - PIPE_SLOT) % PIPE_RING]);
	}
	for (; k < n + PIPE_SLOT; k++)
		pipe_round_edge(e, &p, ev, n, k);
}

/* A live set in cache: no prefetching, the apply compiled into the loop all the same. */
__attribute__((flatten)) static void engine_apply_in_cache(struct engine *e,
							   const struct memtop_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++)
		engine_apply_h(e, &ev[i], liveset_hash(ev[i].addr));
}

void engine_apply_batch(struct engine *e, const struct memtop_event *ev, size_t n)
{
	DEBUG_ASSERT_OWNER(&e->writer);
	DEBUG_ASSERT(urcu_memb_read_ongoing());
	if (e->live.count >= PREFETCH_MIN_LIVE)
		engine_apply_pipelined(e, ev, n);
	else
		engine_apply_in_cache(e, ev, n);
}
