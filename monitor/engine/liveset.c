/* liveset: single-writer open-addressing hash of live blocks with RCU readers: the table and its
 * iteration (block memory, reuse and pins are liveset_store.c).
 * Slots hold block pointers; removal writes a tombstone (entries never move while a table is
 * published), growth or too many tombstones build a new table that replaces the old one through
 * rcu_assign_pointer. Blocks come from slabs and go back to the writer only after a grace period
 * and once no pin (a walk holding 4-byte references) may still name them. */
#include "engine/liveset_writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct liveset_table *table_new(size_t cap, struct liveset_store *store)
{
	struct liveset_table *t = malloc(sizeof(*t));
	if (!t)
		return NULL;
	t->bytes = cap * sizeof(*t->slots);
	t->slots = liveset_huge_alloc(t->bytes); /* zero-filled by mmap */
	if (!t->slots) {
		free(t);
		return NULL;
	}
	t->store = store;
	t->mask = cap - 1;
	t->limit = cap / 10 * 7;
	return t;
}

static void table_free(struct liveset_table *t)
{
	if (t) {
		liveset_huge_free(t->slots, t->bytes);
		free(t);
	}
}

int liveset_init(struct liveset *ls)
{
	memset(ls, 0, sizeof(*ls));
	debug_owner_claim(&ls->writer);
	ls->store = liveset_store_new();
	ls->table = ls->store ? table_new(TABLE_MIN, ls->store) : NULL;
	if (!ls->store || !ls->table)
		return -ENOMEM;
	return 0;
}

/* Tables published in place of others, in any live set of the process (liveset_iter_yield). Bumped
 * after the new table is stored and before the old one goes to call_rcu: a reader that loaded this
 * before the table and finds it unchanged in a later read section holds a table not yet freed. */
static uint64_t liveset_tables_published;

void liveset_tables_changed(void)
{
	__atomic_add_fetch(&liveset_tables_published, 1, __ATOMIC_SEQ_CST);
}

/* ---- table ---- */

static void table_free_cb(struct rcu_head *head)
{
	struct liveset_table *t = caa_container_of(head, struct liveset_table, rcu);
	table_free(t);
}

static void table_place_h(struct liveset_table *t, struct liveset_block *b, uint64_t h)
{
	size_t i = h & t->mask;
	while (t->slots[i] != SLOT_EMPTY)
		i = (i + 1) & t->mask;
	t->slots[i] = slot_word(b, h);
}

/* Places every live block of old into t. A rebuild at 1 M live blocks reads 1 M blocks at random
 * (their addresses give the new slots) and writes 1 M slots at random: software-pipelined like the
 * batch loop, blocks REBUILD_BLOCK entries ahead and their new slots REBUILD_SLOT ahead. */
#define REBUILD_BLOCK 16
#define REBUILD_SLOT 8
#define REBUILD_RING 32 /* > REBUILD_BLOCK, a power of two */
static void table_place_all(struct liveset_table *t, const struct liveset_table *old)
{
	struct liveset_block *ring[REBUILD_RING];
	uint64_t hr[REBUILD_RING];
	size_t n = 0, hashed = 0, placed = 0;
	for (size_t i = 0; i <= old->mask; i++) {
		if (old->slots[i] <= SLOT_TOMB)
			continue;
		ring[n % REBUILD_RING] = slot_block(old->slots[i]);
		memtop_prefetch(ring[n % REBUILD_RING]);
		n++;
		if (n - hashed > REBUILD_BLOCK - REBUILD_SLOT) {
			hr[hashed % REBUILD_RING] = liveset_hash(ring[hashed % REBUILD_RING]->addr);
			memtop_prefetch(&t->slots[hr[hashed % REBUILD_RING] & t->mask]);
			hashed++;
		}
		if (hashed - placed > REBUILD_SLOT) {
			table_place_h(t, ring[placed % REBUILD_RING], hr[placed % REBUILD_RING]);
			placed++;
		}
	}
	for (; hashed < n; hashed++)
		hr[hashed % REBUILD_RING] = liveset_hash(ring[hashed % REBUILD_RING]->addr);
	for (; placed < n; placed++)
		table_place_h(t, ring[placed % REBUILD_RING], hr[placed % REBUILD_RING]);
}

/* Rebuilds into a table sized for `count` entries at <= 40 % load, and publishes it. */
int liveset_rebuild(struct liveset *ls, uint64_t count)
{
	size_t cap = TABLE_MIN;
	while ((double)cap * 0.4 < (double)count)
		cap *= 2;
	struct liveset_table *old = ls->table, *t = table_new(cap, ls->store);
	if (!t)
		return -ENOMEM;
	table_place_all(t, old);
	__atomic_store_n(&ls->table, t, __ATOMIC_RELEASE); /* rcu_assign_pointer, seen by TSan */
	liveset_tables_changed();
	ls->tombs = 0;
	urcu_memb_call_rcu(&old->rcu, table_free_cb);
	return 0;
}

struct liveset_block *liveset_lookup(struct liveset *ls, uint64_t addr)
{
	struct liveset_table *t = ls->table;
	uint64_t h = liveset_hash(addr);
	for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
		uintptr_t w = t->slots[i];
		if (w == SLOT_EMPTY)
			return NULL;
		if (slot_may_hold(w, h) && slot_block(w)->addr == addr)
			return slot_block(w);
	}
}

struct liveset_block *liveset_insert(struct liveset *ls, const struct liveset_block *src)
{
	struct liveset_block old;
	bool replaced;
	return liveset_put_h(ls, src, liveset_hash(src->addr), &old, &replaced);
}

void liveset_remove(struct liveset *ls, struct liveset_block *b)
{
	DEBUG_ASSERT_OWNER(&ls->writer);
	struct liveset_table *t = ls->table;
	uint64_t h = liveset_hash(b->addr);
	size_t i = h & t->mask;
	while (slot_block(t->slots[i]) != b) {
		if (t->slots[i] == SLOT_EMPTY)
			return; /* not in the table: nothing to do */
		i = (i + 1) & t->mask;
	}
	table_clear(ls, t, i);
	liveset_retire_block(ls, b);
}

bool liveset_take(struct liveset *ls, uint64_t addr, struct liveset_block *out)
{
	const struct liveset_block *b = liveset_take_h(ls, addr, liveset_hash(addr));
	if (b)
		*out = *b;
	return b != NULL;
}

size_t liveset_memory(const struct liveset *ls)
{
	return (size_t)ls->slab_blocks * sizeof(struct liveset_block) +
	       (ls->table->mask + 1) * sizeof(void *);
}

void liveset_iter_init(struct liveset *ls, struct liveset_iter *it)
{
	/* acquire loads (a plain mov on x86, as rcu_dereference) pair with the writer's release stores
	 * of the table and of each slot, in a way ThreadSanitizer sees (it cannot see liburcu's) */
	it->tables_gen = __atomic_load_n(&liveset_tables_published, __ATOMIC_ACQUIRE); /* before t */
	it->t = __atomic_load_n(&ls->table, __ATOMIC_ACQUIRE);
	it->i = 0;
}

bool liveset_iter_yield(struct liveset_iter *it)
{
	DEBUG_ASSERT(urcu_memb_read_ongoing());
	urcu_memb_read_unlock();
	urcu_memb_read_lock();
	/* a table freed in the gap was replaced before the call_rcu that frees it, hence before the
	 * grace period that ended before this section began: the count has moved */
	return __atomic_load_n(&liveset_tables_published, __ATOMIC_SEQ_CST) == it->tables_gen;
}

struct liveset_block *liveset_iter_next(struct liveset_iter *it)
{
	while (it->i <= it->t->mask) {
		uintptr_t w = __atomic_load_n(&it->t->slots[it->i], __ATOMIC_ACQUIRE);
		it->i++;
		if (w > SLOT_TOMB)
			return slot_block(w);
	}
	return NULL;
}

void liveset_destroy(struct liveset *ls)
{
	if (!ls->store) {
		table_free(ls->table);
		memset(ls, 0, sizeof(*ls));
		return;
	}
	if (ls->table) {
		liveset_flush_retired(ls);
		urcu_memb_barrier(); /* every pending batch is now in the reclaimed list, tables freed */
		table_free(ls->table);
	}
	free(ls->reuse);
	free(ls->retire);
	liveset_free_batches(ls->ready);
	liveset_free_batches(ls->held);
	/* the slabs (and the reclaimed batches) go with the store: now, or with the last pin */
	liveset_store_unref(ls->store);
	memset(ls, 0, sizeof(*ls));
}
