/* liveset_internal: what the two halves of the live set share, for monitor/engine/liveset*.c
 * only: the table, slab, retired-batch and store layouts, the slot word helpers, and the store's
 * calls the table makes (liveset.c: the table and its iteration; liveset_store.c: block memory, its
 * reuse after a grace period, pins), and for liveset_writer.h, the writer's inline calls, which the
 * ingest loop includes. Nothing else includes it: others use liveset.h. */
#ifndef MEMTOP_LIVESET_INTERNAL_H
#define MEMTOP_LIVESET_INTERNAL_H

#include <pthread.h>

#include "engine/liveset.h"
#include "prefetch.h"

/* Slot words: empty, tombstone, or tag (top 16 bits of the hash) | block pointer. */
#define SLOT_EMPTY ((uintptr_t)0)
#define SLOT_TOMB ((uintptr_t)1)
#define TAG_SHIFT 48
#define PTR_MASK ((uintptr_t)((UINT64_C(1) << TAG_SHIFT) - 1))
#define RETIRE_BATCH 4096 /* most blocks per batch; a batch starts small and grows */
#define RETIRE_FIRST 64
#define REUSE_PREFETCH 12 /* blocks ahead */
#define HUGE_BYTES (2u << 20)
#define SLAB_BLOCKS ((HUGE_BYTES - 64) / sizeof(struct liveset_block))
#define TABLE_MIN 4096u
#define SLAB_INDEX_BITS 16 /* a reference is slab << 16 | index: SLAB_BLOCKS must fit */
#define SLABS_MAX (UINT32_C(1) << (32 - SLAB_INDEX_BITS))
_Static_assert(SLAB_BLOCKS < (1u << SLAB_INDEX_BITS), "a block's index in its slab fits 16 bits");

struct liveset_table {
	struct rcu_head rcu;
	struct liveset_store *store; /* of the set the table belongs to (engine_reset swaps sets) */
	size_t mask;
	size_t bytes; /* of slots */
	size_t limit; /* live + tombstones above this: rebuild (70 % load) */
	/* apart from the header, so that a table of 2^k slots takes exactly 2^k words of 2 MiB pages
	 * (with the header in front, 32 MiB of slots took 34 MiB) */
	uintptr_t *slots;
};

struct liveset_retire {
	struct rcu_head rcu;
	struct liveset_store *home;
	struct liveset_retire *next; /* in the reclaimed, ready or held list (one at a time) */
	uint64_t epoch;              /* store->epoch given at the flush: pins older than it hold it */
	size_t n, cap;
	struct liveset_block *blocks[];
};

/* What the set shares with the call_rcu thread and with pins, and what outlives the set while a pin
 * remains: the slabs, the pins, and the batches whose grace period has passed, queued whole by the
 * call_rcu thread. That thread must not write into the blocks: lines it touched would have to travel
 * back to the ingest core, one cache miss per reused block (that was a third of the ingest time in
 * an allocation storm). */
struct liveset_store {
	pthread_mutex_t lock; /* head/tail, pins, refs */
	struct liveset_retire *head, *tail;
	uint64_t epoch;       /* written by the writer alone (+1 per flushed batch), read by pins */
	uint64_t min_pin;     /* smallest pinned epoch, UINT64_MAX without pins: written under lock */
	uint64_t *pins;       /* epochs of the pins held (a multiset; a handful at most) */
	size_t n_pins, cap_pins;
	size_t refs;          /* the set itself + one per pin: the last one frees the store */
	uint32_t n_slabs;     /* writer (and the last unref) */
	/* SLABS_MAX entries, mmapped (untouched pages cost nothing). An entry is written before any
	 * block of its slab is linked, and never changes until the store is freed. */
	struct liveset_slab **dir;
};

struct liveset_slab {
	uint32_t index; /* in store->dir */
	/* line-aligned, so that no 32-byte block spans two cache lines */
	struct liveset_block blocks[SLAB_BLOCKS] __attribute__((aligned(64)));
};
/* exactly: liveset_huge_alloc then aligns it to 2 MiB, and liveset_ref_of finds a block's slab by rounding
 * its address down */
_Static_assert(sizeof(struct liveset_slab) == HUGE_BYTES, "a slab is one 2 MiB page");

static inline uintptr_t slot_tag(uint64_t h)
{
	return (uintptr_t)(h >> TAG_SHIFT << TAG_SHIFT);
}

static inline uintptr_t slot_word(const struct liveset_block *b, uint64_t h)
{
	return (uintptr_t)b | slot_tag(h);
}

static inline struct liveset_block *slot_block(uintptr_t w)
{
	return (struct liveset_block *)(w & PTR_MASK);
}

/* A live slot whose tag matches h: the only slots whose block a probe reads. */
static inline bool slot_may_hold(uintptr_t w, uint64_t h)
{
	return w > SLOT_TOMB && (w & ~PTR_MASK) == slot_tag(h);
}

/* ---- liveset.c, for liveset_writer.h ---- */

/* Rebuilds into a table sized for `count` entries at <= 40 % load, and publishes it (0, or
 * -ENOMEM: the old table stays). Out of line: the insert's rare path. */
int liveset_rebuild(struct liveset *ls, uint64_t count);

/* ---- liveset_store.c, for liveset.c ---- */

/* Anonymous memory below 2^48 (slots keep a tag above), on 2 MiB pages when at least that big. */
void *liveset_huge_alloc(size_t bytes);
void liveset_huge_free(void *p, size_t bytes);
/* The store of a new set (one reference: the set's), or NULL. */
struct liveset_store *liveset_store_new(void);
/* Drops a reference: the last one (the set's or a pin's) frees the slabs and the store. */
void liveset_store_unref(struct liveset_store *st);
/* WRITER ONLY: a block to fill (a reusable retired one first, else a fresh slab block), or NULL.
 * The slow path of liveset_block_alloc below. */
struct liveset_block *liveset_block_alloc_slow(struct liveset *ls);
/* WRITER ONLY: queues an unlinked block for reuse once no reader nor pin can see it. The slow path
 * of liveset_retire_block below (a new or bigger batch, or a full one to flush). */
void liveset_retire_block_slow(struct liveset *ls, struct liveset_block *b);

/* The two calls of every insert and remove, inline here since the table and the store are two
 * files: the usual case is one array access each. */
static inline struct liveset_block *liveset_block_alloc(struct liveset *ls)
{
	struct liveset_retire *r = ls->reuse;
	if (__builtin_expect(r && ls->reuse_i < r->n, 1)) {
		struct liveset_block *b = r->blocks[ls->reuse_i++];
		/* reclaimed blocks were last written a grace period ago: far out of cache */
		if (ls->reuse_i + REUSE_PREFETCH < r->n)
			memtop_prefetch(r->blocks[ls->reuse_i + REUSE_PREFETCH]);
		return b;
	}
	return liveset_block_alloc_slow(ls);
}

static inline void liveset_retire_block(struct liveset *ls, struct liveset_block *b)
{
	struct liveset_retire *r = ls->retire;
	if (__builtin_expect(r && r->n < r->cap && r->n + 1 < RETIRE_BATCH, 1))
		r->blocks[r->n++] = b;
	else
		liveset_retire_block_slow(ls, b);
}
/* Frees a list of batches (linked by next) without looking at their blocks. */
void liveset_free_batches(struct liveset_retire *r);

#endif
