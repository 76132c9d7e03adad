/* liveset_writer: the writer's calls of every event (insert, remove, the batch's prefetch hints),
 * inline so that the ingest loop (engine/engine_apply.c) compiles them into its own code, as
 * liburcu's static headers do for its fast paths: out of line, the calls and their register saves
 * were a fifth of an event's instructions (bench_engine under callgrind). WRITER ONLY: the thread
 * that owns the set (liveset_claim_writer). The table layout they use is liveset_internal.h's. */
#ifndef MEMTOP_LIVESET_WRITER_H
#define MEMTOP_LIVESET_WRITER_H

#include "engine/liveset_internal.h"

/* The writer alone changes count; readers read it as a hint (walks size their arrays by it). */
static inline void count_add(struct liveset *ls, int64_t d)
{
	__atomic_store_n(&ls->count, ls->count + (uint64_t)d, __ATOMIC_RELAXED);
}

/* Slot i loses its block. Usually it becomes a tombstone (probes for later entries may run through
 * it). When the next slot is empty no probe runs through i to a later slot, so i and the tombstones
 * just before it can be empty again: with many removals and few live blocks (an allocation storm)
 * tombstones would otherwise fill the table, lengthen every miss and force rebuilds. Readers only
 * iterate: they skip empty and tombstone alike, and no entry moves. */
static inline void table_clear(struct liveset *ls, struct liveset_table *t, size_t i)
{
	count_add(ls, -1);
	if (t->slots[(i + 1) & t->mask] != SLOT_EMPTY) {
		__atomic_store_n(&t->slots[i], SLOT_TOMB, __ATOMIC_RELAXED);
		ls->tombs++;
		return;
	}
	/* in locals: the stores would otherwise make the compiler reload the table and the count at
	 * every step (they may alias them, as far as it knows) */
	uintptr_t *slots = t->slots;
	const size_t mask = t->mask;
	uint64_t cleared = 0;
	__atomic_store_n(&slots[i], SLOT_EMPTY, __ATOMIC_RELAXED);
	for (i = (i - 1) & mask; slots[i] == SLOT_TOMB; i = (i - 1) & mask) {
		__atomic_store_n(&slots[i], SLOT_EMPTY, __ATOMIC_RELAXED);
		cleared++;
	}
	ls->tombs -= cleared;
}

/* Insert in one probe (h = liveset_hash(b->addr)). A block already live at that address is
 * replaced: it is copied to *old, retired, and *replaced set (also when NULL is returned, the old
 * block is gone). Returns the stored block, NULL on ENOMEM. */
static inline struct liveset_block *liveset_put_h(struct liveset *ls, const struct liveset_block *src,
						  uint64_t h, struct liveset_block *old, bool *replaced)
{
	DEBUG_ASSERT_OWNER(&ls->writer);
	*replaced = false;
	struct liveset_table *t = ls->table;
	if (__builtin_expect(ls->count + ls->tombs + 1 > t->limit, 0)) {
		if (liveset_rebuild(ls, ls->count + 1) != 0)
			return NULL;
		t = ls->table;
	}
	/* one probe: the block live at this address (its free was lost) or the first reusable slot */
	size_t i = h & t->mask, dest = SIZE_MAX;
	for (;; i = (i + 1) & t->mask) {
		uintptr_t w = t->slots[i];
		if (w == SLOT_EMPTY)
			break;
		if (w == SLOT_TOMB) {
			if (dest == SIZE_MAX)
				dest = i;
		} else if (slot_may_hold(w, h) && slot_block(w)->addr == src->addr) {
			*replaced = true;
			*old = *slot_block(w);
			liveset_retire_block(ls, slot_block(w));
			dest = i; /* same slot: readers see the old block or the new one */
			count_add(ls, -1);
			break;
		}
	}
	struct liveset_block *b = liveset_block_alloc(ls);
	if (!b) {
		if (*replaced) { /* the stale block is retired: its slot must not point to it */
			count_add(ls, 1);
			table_clear(ls, t, dest);
		}
		return NULL;
	}
	*b = *src;
	if (dest == SIZE_MAX)
		dest = i;
	else if (!*replaced)
		ls->tombs--;
	/* the block is complete before readers can reach it (rcu_assign_pointer, for a tagged word) */
	__atomic_store_n(&t->slots[dest], slot_word(b, h), __ATOMIC_RELEASE);
	count_add(ls, 1);
	return b;
}

/* Prefetch hints for a batch, by hash. The line(s) where the probe for the address starts, and the
 * block of the first slot of the probe run whose tag matches h, returned as a hint (it may be
 * another address's block, or be removed before the caller gets there: compare the address before
 * trusting it, and only ever read it, never keep it past the batch).
 * 8 slots share a line: a probe that starts in the last two of its line may go on into the next
 * one (linear probing, up to 70 % of the slots live or tombstones). */
static inline void liveset_prefetch_slot(struct liveset *ls, uint64_t h)
{
	const struct liveset_table *t = ls->table;
	size_t i = h & t->mask;
	memtop_prefetch(&t->slots[i]);
	if ((i & 7) >= 6)
		memtop_prefetch(&t->slots[(i + 2) & t->mask]);
}

/* Follows the probe run as a lookup would (only the slots, never a block: those are still on their
 * way), up to the first empty slot or PREFETCH_PROBE slots: a block found past its home slot must
 * be prefetched too. The removal then reads the slot after the block's (table_clear), and when that
 * one is empty, walks back over the tombstones before it: the line of either neighbour is asked
 * for when it is not the block's line (a free of the first slot of a line stalled on the line
 * before: a tenth of the pipelined ingest's samples, bench_engine ingest under perf). */
#define PREFETCH_PROBE 8
static inline const struct liveset_block *liveset_prefetch_block(struct liveset *ls, uint64_t h)
{
	const struct liveset_table *t = ls->table;
	size_t i = h & t->mask;
	for (int n = 0; n < PREFETCH_PROBE; n++, i = (i + 1) & t->mask) {
		uintptr_t w = t->slots[i];
		if (w == SLOT_EMPTY)
			return NULL;
		if (slot_may_hold(w, h)) {
			memtop_prefetch(slot_block(w));
			if ((i & 7) == 7)
				memtop_prefetch(&t->slots[(i + 1) & t->mask]);
			else if ((i & 7) == 0 && t->slots[i + 1] == SLOT_EMPTY)
				memtop_prefetch(&t->slots[(i - 1) & t->mask]);
			return slot_block(w);
		}
	}
	return NULL;
}

/* For an insert: its probe runs from the home slot to the first empty one. When the home line
 * (asked for by liveset_prefetch_slot) has no empty slot from there on, the probe goes on into
 * the next line: that one is asked for now. Live and tombstone slots fill up to 70 % of the table
 * before a rebuild, and at such loads many probes cross a line. */
static inline void liveset_prefetch_insert(struct liveset *ls, uint64_t h)
{
	const struct liveset_table *t = ls->table;
	size_t i = h & t->mask;
	const size_t end = (i | 7) + 1; /* the home line's last slot + 1; the table is 2^k >= 8 slots */
	for (; i < end; i++)
		if (t->slots[i] == SLOT_EMPTY)
			return;
	memtop_prefetch(&t->slots[end & t->mask]);
}

/* Removes the block at addr (h = liveset_hash(addr)) and returns it, readable by the writer until
 * its next insert (a retired block may be reused from then on), or NULL. */
static inline const struct liveset_block *liveset_take_h(struct liveset *ls, uint64_t addr,
							 uint64_t h)
{
	DEBUG_ASSERT_OWNER(&ls->writer);
	struct liveset_table *t = ls->table;
	for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
		uintptr_t w = t->slots[i];
		if (w == SLOT_EMPTY)
			return NULL;
		if (slot_may_hold(w, h) && slot_block(w)->addr == addr) {
			table_clear(ls, t, i);
			liveset_retire_block(ls, slot_block(w));
			return slot_block(w);
		}
	}
}

#endif
