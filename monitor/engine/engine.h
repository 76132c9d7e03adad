/* engine: the monitor's model of the target heap, updated one event at a time by the ingest thread
 * (live set, per call site and per thread aggregates, totals, tags, the incremental-walk mark).
 * Knows nothing of the segment or of curses: events come in, views go out. Single writer. */
#ifndef MEMTOP_ENGINE_H
#define MEMTOP_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "memtop/segment.h"
#include "engine/liveset.h"
#include "engine/realloc_pairs.h"
#include "model.h"

#define ENGINE_NO_THREAD 0xffffffffu

/* Three cache lines exactly, in an array that starts on a line (engine_grow_sites): the fields
 * every event touches are one line, not two. At 152 bytes, 7 records in 8 had them across two
 * lines, one of which the batch loop's prefetch missed. The type itself asks no alignment: the
 * engine (inside a calloc'd session) holds two records of its own. */
struct engine_site {
	/* what every event of the site touches, first and together (one line) */
	uint64_t live_bytes, live_blocks;
	uint64_t allocs, bytes_allocated, frees;
	/* live at the latest peak: valid while peak_epoch == (uint32_t)engine.peak_epoch, else
	 * live_* still are (the site has not changed since that peak): engine_site_peak reads it */
	uint32_t peak_epoch;
	uint32_t samples;                    /* live sampled blocks (LIVESET_F_SAMPLED) among them */
	bool listed;                         /* stack id is in engine.site_ids */
	uint8_t hist_n, hist_pos;
	uint32_t list_index;                 /* its index in engine.site_ids (when listed) */
	uint32_t dirty_epoch; /* == engine.dirty_epoch: changed since the last engine_sites_clean */
	uint64_t peak_live_bytes, peak_live_blocks;
	/* colder */
	uint64_t temporary;                  /* freed with no allocation in between (heaptrack's) */
	uint64_t hist[MODEL_GROWTH_SAMPLES]; /* live_bytes sampled once per growth interval */
	uint64_t pad[5];                     /* to 192 bytes */
};
_Static_assert(sizeof(struct engine_site) == 192, "a site is three cache lines");

struct engine_thread {
	int32_t tid;
	char name[16];
	bool alive;
	uint16_t slot;
	uint32_t generation;
	uint64_t live_bytes, live_blocks, allocs, frees, cross_frees;
	uint64_t rate_allocs, rate_frees; /* counts at the last rate sample */
	double allocs_per_s, frees_per_s;
};

struct engine_tag {
	uint32_t id;
	uint64_t time_ns;
	uint64_t seq;
};

/* What the engine needs to know about a thread slot when it first sees it (from the segment). */
typedef void (*engine_slot_info_fn)(void *ctx, uint16_t slot, int32_t *tid, char name[16],
				    uint32_t *generation);

struct engine {
	struct liveset live;
	/* totals (requested sizes) */
	uint64_t live_bytes, live_blocks, peak_bytes, peak_blocks;
	uint64_t peak_epoch;      /* +1 at each new peak of live_bytes (sites snapshot lazily) */
	uint64_t temporary;       /* allocations freed with no allocation in between */
	uint64_t size_hist[MODEL_SIZE_BUCKETS]; /* allocations by size: bucket k holds [2^(k-1), 2^k) */
	struct model_timeline timeline;
	uint64_t timeline_base_ns, timeline_next_ns; /* first event's time; next point's earliest */
	uint64_t allocs, frees, bytes_allocated, bytes_freed, unknown_frees;
	uint64_t events, invalid_events, skipped_events, duplicate_allocs;
	/* late attach (engine_seed): blocks loaded from the target's live table; frees of table
	 * blocks the load did not see (removed between the claim and the read: not unknown); the
	 * sampling mean of sampled blocks (0: none), whose sizes and counts are then estimates */
	uint64_t seeded_blocks, handover_frees;
	uint64_t sample_mean;
	uint64_t next_seq; /* allocation sequence; the first block gets 1 */
	/* call sites: indexed by stack id; the overflow and signal ids have their own entries */
	struct engine_site *sites;
	uint32_t sites_cap, max_stack_id;
	struct engine_site overflow_site;
	struct engine_site signal_site; /* MEMTOP_STACK_SIGNAL: calls made in a signal handler */
	uint32_t *site_ids; /* ids seen, in first-seen order */
	uint32_t n_site_ids, site_ids_cap;
	/* sites changed since the last engine_sites_clean (indexes in site_ids, each once): a view
	 * publish refreshes only these. dirty_all: every site (a new model, a growth sample). */
	uint32_t *dirty_sites;
	uint32_t n_dirty, dirty_cap;
	uint32_t dirty_epoch; /* +1 at each clean: no site is in the new epoch's list yet */
	bool dirty_all;
	/* threads: records by engine thread id; slot_thread maps a segment slot to its current record */
	struct engine_thread *threads;
	uint32_t n_threads, threads_cap;
	uint32_t *slot_thread;
	struct realloc_pairs reallocs; /* realloc calls whose BEGIN or END is still to come */
	uint32_t n_slots;
	engine_slot_info_fn slot_info;
	void *slot_info_ctx;
	/* tags */
	struct engine_tag *tags;
	uint32_t n_tags, tags_cap;
	bool maps_changed;     /* a MAPS_CHANGED event was seen since the symbolizer last looked */
	bool names_changed;
	/* incremental walk */
	uint64_t mark_seq;     /* 0 = unmarked; else blocks with seq > mark_seq are "since mark" */
	uint64_t mark_time_ns;
	uint64_t since_mark_bytes, since_mark_blocks;
	/* callback for new stack ids (the symbolizer queue) */
	void (*on_new_site)(void *ctx, uint32_t stack_id);
	void *on_new_site_ctx;
	/* the only thread that may change the model: engine_init's, then engine_claim_writer's */
	struct debug_owner writer;
};

/* What a block counts for in bytes and blocks: itself, or for a sample (LIVESET_F_SAMPLED) what
 * it stands for. The fraction of the weight is rounded up or down by a hash of the address, so the
 * integer counts stay unbiased (a 1 MiB sample stands for 1.16 blocks) and a block counts the same
 * on insert and remove (sums come back to 0 when every sample goes). */
void engine_block_weight(uint16_t flags, uint64_t addr, uint64_t size, uint64_t mean,
			 uint64_t *bytes, uint64_t *blocks);

/* n_slots: thread table size of the segment; max_stack_id: largest valid stack id (stacks_cap). */
int engine_init(struct engine *e, uint32_t n_slots, uint32_t max_stack_id);
void engine_destroy(struct engine *e);
/* The calling thread becomes the engine's only writer (the ingest thread, when it starts; the
 * thread of engine_init is the writer until then). MEMTOP_DEBUG builds check every WRITER ONLY
 * call against it. */
void engine_claim_writer(struct engine *e);
/* Empties the model for a new program image (the target exec'd: its heap and stack ids are gone).
 * Readers walking e->live under the RCU read lock are waited for before the old model is freed;
 * callbacks are kept. WRITER ONLY, outside the read lock. Returns -ENOMEM (model unchanged). */
int engine_reset(struct engine *e, uint32_t n_slots, uint32_t max_stack_id);

/* Adds a block read from the target's live table at attach (flags: LIVESET_F_*, TABLE added).
 * A later allocation event of the same address replaces it without counting a duplicate.
 * WRITER ONLY, inside urcu_memb_read_lock, before the first event is applied. */
void engine_seed(struct engine *e, uint64_t addr, uint64_t size, uint32_t stack_id, uint16_t slot,
		 uint64_t time_ns, uint16_t flags);

/* Applies one validated event. WRITER ONLY, inside urcu_memb_read_lock. TEST-ONLY (tests and
 * benches): the session applies whole batches with engine_apply_batch. */
void engine_apply(struct engine *e, const struct memtop_event *ev);
/* Applies n validated events in order, prefetching the hash slots and blocks of later events so
 * that cache misses overlap (at 1 M live blocks they dominate). WRITER ONLY, inside the read lock. */
void engine_apply_batch(struct engine *e, const struct memtop_event *ev, size_t n);
/* End of a batch: retire removed blocks. */
static inline void engine_batch_end(struct engine *e)
{
	liveset_flush_retired(&e->live);
}

struct engine_site *engine_site(struct engine *e, uint32_t stack_id);
/* engine_site of a listed stack id (the view publisher's reads): the array entry, inline. */
static inline struct engine_site *engine_site_listed(struct engine *e, uint32_t stack_id)
{
	if (__builtin_expect(stack_id < e->sites_cap && stack_id <= e->max_stack_id, 1))
		return &e->sites[stack_id];
	return engine_site(e, stack_id);
}
/* The publisher has seen every change: the dirty list starts again empty. WRITER ONLY. */
void engine_sites_clean(struct engine *e);
uint32_t engine_thread_for_slot(struct engine *e, uint16_t slot);
/* The slot got a new owner (generation changed): its next events start a new thread record. */
void engine_slot_reused(struct engine *e, uint16_t slot);

/* The timeline's slow path (history.c): a point at ts_ns, thinning the line when it is full. */
void engine_timeline_point(struct engine *e, uint64_t ts_ns);
/* After an event that changed the live set: a point when due, else the open bucket's extremes
 * (two compares: a spike that rises and falls between two points stays in the line). */
static inline void engine_timeline_note(struct engine *e, uint64_t ts_ns)
{
	struct model_timeline *tl = &e->timeline;
	if (__builtin_expect(ts_ns >= e->timeline_next_ns, 0)) { /* the first event too: next is 0 */
		engine_timeline_point(e, ts_ns);
		return;
	}
	if (e->live_bytes > tl->max_bytes[tl->n - 1])
		tl->max_bytes[tl->n - 1] = e->live_bytes;
	if (e->live_bytes < tl->min_bytes[tl->n - 1])
		tl->min_bytes[tl->n - 1] = e->live_bytes;
}

/* What the site had live at the latest peak of live bytes (kept per event, never replayed). */
static inline void engine_site_peak(const struct engine *e, const struct engine_site *s,
				    uint64_t *bytes, uint64_t *blocks)
{
	bool since = s->peak_epoch == (uint32_t)e->peak_epoch;
	*bytes = since ? s->peak_live_bytes : s->live_bytes;
	*blocks = since ? s->peak_live_blocks : s->live_blocks;
}

/* Samples growth history of every site and thread rates (call once per growth interval). */
void engine_sample_growth(struct engine *e);
void engine_sample_rates(struct engine *e, double seconds);
void engine_mark_all(struct engine *e, uint64_t now_ns);
void engine_unmark(struct engine *e);

/* Growth of a site over its history; sets *growing when it never fell and rose overall. */
int64_t engine_site_growth(const struct engine_site *s, bool *growing);

#endif
