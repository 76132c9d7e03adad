/* liveset: single-writer open-addressing hash of live blocks with RCU readers.
 * Slots hold block pointers; removal writes a tombstone (entries never move while a table is
 * published), growth or too many tombstones build a new table that replaces the old one through
 * rcu_assign_pointer. Blocks come from slabs and go back to the writer only after a grace period. */
#include "liveset.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define TOMB ((struct liveset_block *)1)
#define RETIRE_BATCH 4096
#define HUGE_BYTES (2u << 20)
#define SLAB_BLOCKS ((HUGE_BYTES - 64) / sizeof(struct liveset_block))
#define TABLE_MIN 4096u

struct liveset_table {
	struct rcu_head rcu;
	size_t mask;
	size_t bytes;
	struct liveset_block *slots[];
};

struct liveset_retire {
	struct rcu_head rcu;
	struct liveset_reclaimed *home;
	struct liveset_retire *next; /* in the reclaimed list */
	size_t n;
	struct liveset_block *blocks[RETIRE_BATCH];
};

/* Batches whose grace period has passed, handed back to the writer by the call_rcu thread. */
struct liveset_reclaimed {
	pthread_mutex_t lock;
	struct liveset_retire *list;
};

struct liveset_slab {
	struct liveset_slab *next;
	struct liveset_block blocks[SLAB_BLOCKS];
};

/* Addresses are aligned and clustered: mix all bits (murmur3 finaliser). */
static inline size_t liveset_hash(uint64_t a)
{
	a ^= a >> 33;
	a *= 0xff51afd7ed558ccdULL;
	a ^= a >> 33;
	a *= 0xc4ceb9fe1a85ec53ULL;
	a ^= a >> 33;
	return (size_t)a;
}

/* Big tables and slabs are accessed at random: on 2 MiB pages (THP on request) the TLB covers
 * them. They come from mmap, not malloc, so that a table replaced by a bigger one goes back to the
 * kernel at once (malloc's dynamic mmap threshold would keep it in an arena). */
static size_t huge_round(size_t bytes)
{
	if (bytes < HUGE_BYTES) /* small tables: plain pages, no 2 MiB page for 32 KiB of slots */
		return (bytes + 4095) & ~(size_t)4095;
	return (bytes + HUGE_BYTES - 1) & ~(size_t)(HUGE_BYTES - 1);
}

static void *huge_alloc(size_t bytes)
{
	size_t len = huge_round(bytes);
	if (len < HUGE_BYTES) {
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	/* over-map by 2 MiB and trim, so the block is 2 MiB aligned */
	char *p = mmap(NULL, len + HUGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	char *aligned = (char *)(((uintptr_t)p + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1));
	if (aligned > p)
		munmap(p, (size_t)(aligned - p));
	if (aligned + len < p + len + HUGE_BYTES)
		munmap(aligned + len, (size_t)(p + len + HUGE_BYTES - (aligned + len)));
	madvise(aligned, len, MADV_HUGEPAGE);
	return aligned;
}

static void huge_free(void *p, size_t bytes)
{
	if (p)
		munmap(p, huge_round(bytes));
}

static struct liveset_table *table_new(size_t cap)
{
	size_t bytes = sizeof(struct liveset_table) + cap * sizeof(struct liveset_block *);
	struct liveset_table *t = huge_alloc(bytes); /* zero-filled by mmap */
	if (t) {
		t->mask = cap - 1;
		t->bytes = bytes;
	}
	return t;
}

int liveset_init(struct liveset *ls)
{
	memset(ls, 0, sizeof(*ls));
	ls->reclaimed = calloc(1, sizeof(*ls->reclaimed));
	ls->table = table_new(TABLE_MIN);
	if (!ls->reclaimed || !ls->table)
		return -ENOMEM;
	pthread_mutex_init(&ls->reclaimed->lock, NULL);
	return 0;
}

/* ---- block memory ---- */

static void liveset_take_reclaimed(struct liveset *ls)
{
	pthread_mutex_lock(&ls->reclaimed->lock);
	struct liveset_retire *r = ls->reclaimed->list;
	ls->reclaimed->list = NULL;
	pthread_mutex_unlock(&ls->reclaimed->lock);
	while (r) {
		struct liveset_retire *next = r->next;
		for (size_t i = 0; i < r->n; i++) {
			/* past the grace period: nobody reads it, reuse addr as the free link */
			r->blocks[i]->addr = (uint64_t)(uintptr_t)ls->free_list;
			ls->free_list = r->blocks[i];
		}
		free(r);
		r = next;
	}
}

static struct liveset_block *liveset_block_alloc(struct liveset *ls)
{
	if (!ls->free_list)
		liveset_take_reclaimed(ls);
	if (!ls->free_list) {
		struct liveset_slab *s = huge_alloc(sizeof(*s));
		if (!s)
			return NULL;
		s->next = ls->slabs;
		ls->slabs = s;
		ls->slab_blocks += SLAB_BLOCKS;
		for (size_t i = SLAB_BLOCKS; i-- > 0;) {
			s->blocks[i].addr = (uint64_t)(uintptr_t)ls->free_list;
			ls->free_list = &s->blocks[i];
		}
	}
	struct liveset_block *b = ls->free_list;
	ls->free_list = (struct liveset_block *)(uintptr_t)b->addr;
	return b;
}

static void liveset_reclaim_cb(struct rcu_head *head)
{
	struct liveset_retire *r = caa_container_of(head, struct liveset_retire, rcu);
	pthread_mutex_lock(&r->home->lock);
	r->next = r->home->list;
	r->home->list = r;
	pthread_mutex_unlock(&r->home->lock);
}

void liveset_flush_retired(struct liveset *ls)
{
	if (ls->retire && ls->retire->n) {
		urcu_memb_call_rcu(&ls->retire->rcu, liveset_reclaim_cb);
		ls->retire = NULL;
	}
}

static void liveset_retire_block(struct liveset *ls, struct liveset_block *b)
{
	if (!ls->retire) {
		ls->retire = malloc(sizeof(*ls->retire));
		if (!ls->retire)
			return; /* no memory to defer: leak this block rather than race readers */
		ls->retire->n = 0;
		ls->retire->home = ls->reclaimed;
	}
	ls->retire->blocks[ls->retire->n++] = b;
	if (ls->retire->n == RETIRE_BATCH)
		liveset_flush_retired(ls);
}

/* ---- table ---- */

static void table_free_cb(struct rcu_head *head)
{
	struct liveset_table *t = caa_container_of(head, struct liveset_table, rcu);
	huge_free(t, t->bytes);
}

static void table_place(struct liveset_table *t, struct liveset_block *b)
{
	size_t i = liveset_hash(b->addr) & t->mask;
	while (t->slots[i] && t->slots[i] != TOMB)
		i = (i + 1) & t->mask;
	t->slots[i] = b;
}

/* Rebuilds into a table sized for `count` entries at <= 40 % load, and publishes it. */
static int liveset_rebuild(struct liveset *ls, uint64_t count)
{
	size_t cap = TABLE_MIN;
	while ((double)cap * 0.4 < (double)count)
		cap *= 2;
	struct liveset_table *old = ls->table, *t = table_new(cap);
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i <= old->mask; i++)
		if (old->slots[i] && old->slots[i] != TOMB)
			table_place(t, old->slots[i]);
	rcu_assign_pointer(ls->table, t);
	ls->tombs = 0;
	urcu_memb_call_rcu(&old->rcu, table_free_cb);
	return 0;
}

struct liveset_block *liveset_lookup(struct liveset *ls, uint64_t addr)
{
	struct liveset_table *t = ls->table;
	size_t i = liveset_hash(addr) & t->mask;
	for (;;) {
		struct liveset_block *b = t->slots[i];
		if (!b)
			return NULL;
		if (b != TOMB && b->addr == addr)
			return b;
		i = (i + 1) & t->mask;
	}
}

struct liveset_block *liveset_insert(struct liveset *ls, const struct liveset_block *src)
{
	struct liveset_table *t = ls->table;
	if ((double)(ls->count + ls->tombs + 1) > (double)(t->mask + 1) * 0.7) {
		if (liveset_rebuild(ls, ls->count + 1) != 0)
			return NULL;
		t = ls->table;
	}
	struct liveset_block *b = liveset_block_alloc(ls);
	if (!b)
		return NULL;
	*b = *src;
	size_t i = liveset_hash(b->addr) & t->mask;
	while (t->slots[i] && t->slots[i] != TOMB)
		i = (i + 1) & t->mask;
	if (t->slots[i] == TOMB)
		ls->tombs--;
	/* the block is complete before readers can reach it */
	rcu_assign_pointer(t->slots[i], b);
	ls->count++;
	return b;
}

void liveset_remove(struct liveset *ls, struct liveset_block *b)
{
	struct liveset_table *t = ls->table;
	size_t i = liveset_hash(b->addr) & t->mask;
	while (t->slots[i] != b) {
		if (!t->slots[i])
			return; /* not in the table: nothing to do */
		i = (i + 1) & t->mask;
	}
	CMM_STORE_SHARED(t->slots[i], TOMB);
	ls->tombs++;
	ls->count--;
	liveset_retire_block(ls, b);
}

void liveset_prefetch_slot(struct liveset *ls, uint64_t addr)
{
	__builtin_prefetch(&ls->table->slots[liveset_hash(addr) & ls->table->mask]);
}

void liveset_prefetch_block(struct liveset *ls, uint64_t addr)
{
	struct liveset_block *b = ls->table->slots[liveset_hash(addr) & ls->table->mask];
	if (b && b != TOMB)
		__builtin_prefetch(b);
}

const struct liveset_block *liveset_peek(struct liveset *ls, uint64_t addr)
{
	struct liveset_block *b = ls->table->slots[liveset_hash(addr) & ls->table->mask];
	return b && b != TOMB && b->addr == addr ? b : NULL;
}

bool liveset_take(struct liveset *ls, uint64_t addr, struct liveset_block *out)
{
	struct liveset_table *t = ls->table;
	size_t i = liveset_hash(addr) & t->mask;
	for (;;) {
		struct liveset_block *b = t->slots[i];
		if (!b)
			return false;
		if (b != TOMB && b->addr == addr) {
			*out = *b;
			CMM_STORE_SHARED(t->slots[i], TOMB);
			ls->tombs++;
			ls->count--;
			liveset_retire_block(ls, b);
			return true;
		}
		i = (i + 1) & t->mask;
	}
}

size_t liveset_memory(const struct liveset *ls)
{
	return (size_t)ls->slab_blocks * sizeof(struct liveset_block) +
	       (ls->table->mask + 1) * sizeof(void *);
}

void liveset_iter_init(struct liveset *ls, struct liveset_iter *it)
{
	it->t = rcu_dereference(ls->table);
	it->i = 0;
}

struct liveset_block *liveset_iter_next(struct liveset_iter *it)
{
	while (it->i <= it->t->mask) {
		struct liveset_block *b = rcu_dereference(it->t->slots[it->i]);
		it->i++;
		if (b && b != TOMB)
			return b;
	}
	return NULL;
}

void liveset_destroy(struct liveset *ls)
{
	if (!ls->table)
		return;
	liveset_flush_retired(ls);
	urcu_memb_barrier(); /* every pending batch is now in the reclaimed list, tables freed */
	pthread_mutex_lock(&ls->reclaimed->lock);
	for (struct liveset_retire *r = ls->reclaimed->list, *n; r; r = n) {
		n = r->next;
		free(r);
	}
	pthread_mutex_unlock(&ls->reclaimed->lock);
	for (struct liveset_slab *s = ls->slabs, *n; s; s = n) {
		n = s->next;
		huge_free(s, sizeof(*s));
	}
	huge_free(ls->table, ls->table->bytes);
	free(ls->reclaimed);
	memset(ls, 0, sizeof(*ls));
}
