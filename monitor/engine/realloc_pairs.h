/* Realloc calls in flight: a BEGIN waiting for its END, or (when the END went to another lane and
 * came first) an END waiting for its BEGIN. A pair is found by what both events carry: the thread
 * slot, the thread's realloc number (event link) and the old block's address. */
#ifndef MEMTOP_REALLOC_PAIRS_H
#define MEMTOP_REALLOC_PAIRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/liveset.h"

struct realloc_pair {
	uint64_t old_addr; /* 0 = empty entry */
	uint64_t link;
	uint16_t slot;
	bool known;         /* BEGIN came first and the old block was live: data holds it */
	bool ended;         /* END came first: BEGIN frees the old block (by end_thread) */
	uint32_t end_thread;
	struct liveset_block data;
};

struct realloc_pairs {
	struct realloc_pair *v;
	size_t cap, used; /* cap: 0 or a power of two */
};

struct realloc_pair *realloc_pairs_find(struct realloc_pairs *t, uint16_t slot, uint64_t link,
					uint64_t old_addr);
/* A new entry for the key (its other fields zero), or NULL when memory is short. */
struct realloc_pair *realloc_pairs_add(struct realloc_pairs *t, uint16_t slot, uint64_t link,
				       uint64_t old_addr);
void realloc_pairs_remove(struct realloc_pairs *t, struct realloc_pair *p);
void realloc_pairs_free(struct realloc_pairs *t);

#endif
