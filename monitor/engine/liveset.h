/* liveset: the set of live heap blocks of the target, keyed by address. One writer (the ingest
 * thread) inserts and removes; any reader registered with liburcu (memb) iterates under
 * urcu_memb_read_lock without blocking the writer. Must never reuse or free a removed block, nor a
 * replaced table, before a grace period has passed (call_rcu batches), nor reuse a block removed
 * after a pin was taken before that pin is released (liveset_pin: walks keep references).
 *
 * Why not rculfhash: at 1 M live blocks its split-ordered lists cost ~4 cache misses per operation
 * and its lazy resize ran away in memory under a continuously read-locked writer (measured: 0.17 M
 * events/s, >2 GB at 400 k blocks). This is an open-addressing table of pointers (linear probing,
 * tombstones so readers never see entries move) replaced wholesale through RCU when it grows.
 * A slot holds the block pointer with a 16-bit hash tag in its top bits (user addresses fit in 48
 * bits): readers must go through liveset_iter_next, never read slots themselves. */
#ifndef MEMTOP_LIVESET_H
#define MEMTOP_LIVESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urcu/urcu-memb.h>

#include "debug_assert.h"

#define LIVESET_F_REALLOC 0x1u
#define LIVESET_F_TABLE 0x2u   /* loaded from the target's live table at attach, no event seen yet */
#define LIVESET_F_SAMPLED 0x4u /* a sample: stands for memtop_sample_weight(size) blocks */

/* 32 bytes, from a slab (no malloc header): never across two cache lines. Never modified after
 * insertion. 48 bits hold any size that can succeed and 2^48 allocations (days at 1 G/s). */
struct liveset_block {
	uint64_t addr;
	uint64_t size : 48;   /* requested size */
	uint64_t flags : 16;
	uint64_t seq : 48;    /* allocation order */
	uint64_t thread : 16; /* engine thread id (saturates at LIVESET_THREAD_MAX) */
	uint32_t stack_id;
	uint32_t time_ms;     /* target monotonic ms (wraps after 49 days; ages are modular) */
};
#define LIVESET_THREAD_MAX 0xffffu
_Static_assert(sizeof(struct liveset_block) == 32, "a block is half a cache line");

/* A block from its fields, its four words built in registers. Initialised field by field, GCC
 * writes the bitfields by read-modify-write of the words on the stack: a two-byte store into a
 * word, then an eight-byte load of that word that store forwarding cannot serve (the monitor's
 * in-cache ingest: a quarter of engine_apply's samples sat on one). Bitfields are allocated from
 * the low bits on the little-endian ABIs we build for (x86-64 SysV, AAPCS64); a unit test holds
 * the layout. Fields wider than theirs are cut as the bitfields would cut them. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "liveset_block_make's words");
static inline struct liveset_block liveset_block_make(uint64_t addr, uint64_t size, uint16_t flags,
						      uint64_t seq, uint16_t thread,
						      uint32_t stack_id, uint32_t time_ms)
{
	const uint64_t low48 = (1ull << 48) - 1;
	const uint64_t w[4] = {addr, (size & low48) | (uint64_t)flags << 48,
			       (seq & low48) | (uint64_t)thread << 48,
			       stack_id | (uint64_t)time_ms << 32};
	struct liveset_block b;
	__builtin_memcpy(&b, w, sizeof b);
	return b;
}

struct liveset_table;
struct liveset_retire;
struct liveset_slab;
struct liveset_store;

/* A block named in 32 bits: slab number << 16 | index in the slab (at most 65 536 slabs of 65 534
 * blocks). Decoded with liveset_pin_block, valid while the pin it was taken under is held. */
typedef uint32_t liveset_ref;

/* A pin keeps every block its holder saw while iterating from being reused (and the slabs from being
 * unmapped, even after liveset_destroy) until liveset_unpin: a walk keeps 4-byte references to
 * live-set blocks instead of copies. Blocks removed after the pin was taken are held back from reuse
 * while it lasts, so a pin should live seconds (a walk refreshed every 2 s), not hours. */
struct liveset_pin {
	struct liveset_store *store;
	uint64_t epoch; /* store->epoch when pinned: batches retired at a later epoch are held */
};

struct liveset {
	struct liveset_table *table; /* rcu pointer */
	uint64_t count;              /* live entries (writer) */
	uint64_t tombs;              /* tombstones in the current table (writer) */
	struct liveset_retire *retire;        /* removals waiting to be handed to call_rcu */
	struct liveset_block *free_list;      /* writer-private, never-used blocks of the slabs */
	struct liveset_retire *reuse;         /* writer-private, reclaimed batch being reused */
	struct liveset_retire *ready;         /* writer-private, batches freed with no reader about */
	size_t reuse_i;                       /* next block of reuse to hand out */
	struct liveset_retire *held, *held_tail; /* writer-private, batches a pin holds back (FIFO) */
	struct liveset_store *store;          /* slabs, pins, reclaimed batches: shared, refcounted */
	uint64_t slab_blocks;                 /* blocks carved so far (memory accounting) */
	struct debug_owner writer;            /* the thread of liveset_init (MEMTOP_DEBUG checks it) */
};

struct liveset_iter {
	struct liveset_table *t;
	size_t i;
	uint64_t tables_gen; /* liveset_tables_gen when t was loaded */
};

int liveset_init(struct liveset *ls);
/* The calling thread becomes the set's only writer (liveset_init's thread is, until then). */
static inline void liveset_claim_writer(struct liveset *ls)
{
	debug_owner_claim(&ls->writer);
}
/* Frees everything (no reader may be inside; waits for pending grace periods). */
void liveset_destroy(struct liveset *ls);

/* Addresses are aligned and clustered: mix all bits (murmur3 finaliser). The writer may compute it
 * once per event and pass it to the *_h calls below (the low bits pick the slot, the high 16 bits
 * are a tag kept in the slot so that a probe skips other blocks without reading them). */
static inline uint64_t liveset_hash(uint64_t a)
{
	a ^= a >> 33;
	a *= 0xff51afd7ed558ccdULL;
	a ^= a >> 33;
	a *= 0xc4ceb9fe1a85ec53ULL;
	a ^= a >> 33;
	return a;
}

/* TEST-ONLY (the engine uses the _h variants). WRITER ONLY. insert copies *b; returns the stored
 * block or NULL on ENOMEM. lookup returns the block with that address or NULL. remove unlinks it
 * and retires it (the writer must not use b afterwards). */
struct liveset_block *liveset_insert(struct liveset *ls, const struct liveset_block *b);
struct liveset_block *liveset_lookup(struct liveset *ls, uint64_t addr);
void liveset_remove(struct liveset *ls, struct liveset_block *b);
/* TEST-ONLY. lookup + remove in one probe: copies the block to *out and retires it; false: absent. */
bool liveset_take(struct liveset *ls, uint64_t addr, struct liveset_block *out);
/* The writer's hot calls (liveset_put_h, liveset_take_h, the prefetch hints) are inline, in
 * engine/liveset_writer.h. */
/* Frees queued removals: for reuse at once when no reader iterates (liveset_read_begin), else
 * through call_rcu. Call at the end of each ingest batch, outside the read lock or inside. */
void liveset_flush_retired(struct liveset *ls);
/* Bytes the live set holds (slabs + table), for the memory benchmark and the overhead figure. */
size_t liveset_memory(const struct liveset *ls);

/* READERS (and the writer): iterate under urcu_memb_read_lock, AND between liveset_read_begin and
 * liveset_read_end (the writer reuses removed blocks at once while nobody is between those two; the
 * RCU read lock alone protects the table, not the blocks). Blocks inserted or removed during the
 * iteration may or may not be seen; blocks live throughout are seen exactly once. The writer's own
 * iterations need neither. */
void liveset_read_begin(void);
void liveset_read_end(void);
void liveset_iter_init(struct liveset *ls, struct liveset_iter *it);
struct liveset_block *liveset_iter_next(struct liveset_iter *it);
/* READERS: leaves the RCU read section and enters a new one between two slots, so that a long
 * iteration (2 M blocks: hundreds of ms) does not hold back every grace period meanwhile (each one
 * frees a published view of a few MiB). The table may only be freed in the gap if a new one was
 * published: then it returns false (inside the new section) and the iteration must not go on; it
 * may start again from liveset_iter_init. Blocks seen before the gap are protected as before only
 * by a pin (liveset_pin) or not at all: copy what you need before calling this. liveset_read_begin
 * stays in force across the gap. */
bool liveset_iter_yield(struct liveset_iter *it);
/* WRITERS: a table was published in place of another one that will be freed after a grace period
 * (call it after the pointer store, before call_rcu or synchronize_rcu). */
void liveset_tables_changed(void);
/* READERS, inside the iteration section above (urcu read lock + liveset_read_begin), after
 * liveset_iter_init and before the first liveset_iter_next: pins the blocks that iteration will see
 * (0, or -ENOMEM). A reference taken from one of them stays valid until liveset_unpin, on any
 * thread, even after liveset_destroy. */
int liveset_pin(const struct liveset_iter *it, struct liveset_pin *pin);
void liveset_unpin(struct liveset_pin *pin);
/* The reference of a block (any block of the set) and back. */
liveset_ref liveset_ref_of(const struct liveset_block *b);
const struct liveset_block *liveset_pin_block(const struct liveset_pin *pin, liveset_ref ref);

#define liveset_for_each(ls, it, blk)                                                          \
	for (liveset_iter_init((ls), (it)); ((blk) = liveset_iter_next(it)) != NULL;)

#endif
