/* liveset: the set of live heap blocks of the target, keyed by address (rculfhash, memb flavour).
 * One writer (the ingest thread) inserts and removes; any registered reader may iterate under
 * urcu_memb_read_lock. Must never free a removed block before a grace period (call_rcu batches). */
#ifndef MEMTOP_LIVESET_H
#define MEMTOP_LIVESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>

#define LIVESET_F_REALLOC 0x1u

/* 16 (node) + 8 + 8 + 8 + 4 + 4 + 2 + 2 = 52 -> 56 bytes; malloc rounds it to a 64-byte chunk. */
struct liveset_block {
	struct cds_lfht_node node;
	uint64_t addr;
	uint64_t size;      /* requested size */
	uint64_t seq;       /* allocation order */
	uint32_t stack_id;
	uint32_t time_ms;   /* target monotonic ms (wraps after 49 days; ages are relative) */
	uint16_t thread;    /* engine thread id (saturates at LIVESET_THREAD_MAX) */
	uint16_t flags;
};
#define LIVESET_THREAD_MAX 0xffffu

struct liveset_retire; /* batch of removed blocks waiting for a grace period */

struct liveset {
	struct cds_lfht *ht;
	uint64_t count;
	struct liveset_retire *retire;
};

/* Creates an empty set. Returns 0 or -ENOMEM. */
int liveset_init(struct liveset *ls);
/* Frees everything (no reader may be inside; waits for pending grace periods). */
void liveset_destroy(struct liveset *ls);

/* WRITER ONLY, inside urcu_memb_read_lock. insert copies *b (node ignored); returns the new block or
 * NULL on ENOMEM. lookup returns the block with that address or NULL. remove unlinks it and queues it
 * for freeing after a grace period (b must not be used by the writer afterwards). */
struct liveset_block *liveset_insert(struct liveset *ls, const struct liveset_block *b);
struct liveset_block *liveset_lookup(struct liveset *ls, uint64_t addr);
void liveset_remove(struct liveset *ls, struct liveset_block *b);
/* Hands queued removals to call_rcu. Call at the end of each ingest batch. */
void liveset_flush_retired(struct liveset *ls);

/* READERS: iterate under urcu_memb_read_lock. */
#define liveset_for_each(ls, iter, blk)                                                        \
	cds_lfht_for_each_entry((ls)->ht, (iter), (blk), node)

#endif
