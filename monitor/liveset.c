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
#define RETIRE_BATCH 4096 /* most blocks per batch; a batch starts small and grows */
#define RETIRE_FIRST 64
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
	size_t n, cap;
	struct liveset_block *blocks[];
};

/* Batches whose grace period has passed, queued whole by the call_rcu thread. It must not write
 * into the blocks: lines it touched would have to travel back to the ingest core, one cache miss per
 * reused block (that was a third of the ingest time in an allocation storm). */
struct liveset_reclaimed {
	pthread_mutex_t lock;
	struct liveset_retire *head, *tail;
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

/* Takes the oldest reclaimed batch (the writer reuses its blocks in order). */
static struct liveset_retire *liveset_take_reclaimed(struct liveset *ls)
{
	pthread_mutex_lock(&ls->reclaimed->lock);
	struct liveset_retire *r = ls->reclaimed->head;
	if (r) {
		ls->reclaimed->head = r->next;
		if (!r->next)
			ls->reclaimed->tail = NULL;
	}
	pthread_mutex_unlock(&ls->reclaimed->lock);
	return r;
}

static struct liveset_block *liveset_reuse_block(struct liveset *ls)
{
	for (;;) {
		struct liveset_retire *r = ls->reuse;
		if (r && ls->reuse_i < r->n) {
			struct liveset_block *b = r->blocks[ls->reuse_i++];
			if (ls->reuse_i + 4 < r->n)
				__builtin_prefetch(r->blocks[ls->reuse_i + 4], 1);
			return b;
		}
		free(r);
		ls->reuse = liveset_take_reclaimed(ls);
		ls->reuse_i = 0;
		if (!ls->reuse)
			return NULL;
	}
}

static struct liveset_block *liveset_block_alloc(struct liveset *ls)
{
	struct liveset_block *b = liveset_reuse_block(ls);
	if (b)
		return b;
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
	b = ls->free_list;
	ls->free_list = (struct liveset_block *)(uintptr_t)b->addr;
	return b;
}

static void liveset_reclaim_cb(struct rcu_head *head)
{
	struct liveset_retire *r = caa_container_of(head, struct liveset_retire, rcu);
	struct liveset_reclaimed *home = r->home;
	r->next = NULL;
	pthread_mutex_lock(&home->lock);
	if (home->tail)
		home->tail->next = r;
	else
		home->head = r;
	home->tail = r;
	pthread_mutex_unlock(&home->lock);
}

void liveset_flush_retired(struct liveset *ls)
{
	if (ls->retire && ls->retire->n) {
		urcu_memb_call_rcu(&ls->retire->rcu, liveset_reclaim_cb);
		ls->retire = NULL;
	}
}

/* Batches are sized to what the ingest batch removes (8 bytes per removed block in flight), not
 * to the maximum: a grace period can take a while on a busy 2-core machine. */
static void liveset_retire_block(struct liveset *ls, struct liveset_block *b)
{
	struct liveset_retire *r = ls->retire;
	if (!r || r->n == r->cap) {
		size_t cap = r ? r->cap * 2 : RETIRE_FIRST;
		struct liveset_retire *nr = realloc(r, sizeof(*r) + cap * sizeof(r->blocks[0]));
		if (!nr)
			return; /* no memory to defer the free: leak this block rather than race readers */
		if (!r) {
			nr->n = 0;
			nr->home = ls->reclaimed;
		}
		nr->cap = cap;
		ls->retire = r = nr;
	}
	r->blocks[r->n++] = b;
	if (r->n == RETIRE_BATCH)
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

	for (struct liveset_slab *s = ls->slabs, *n; s; s = n) {
		n = s->next;
		huge_free(s, sizeof(*s));
	}
	huge_free(ls->table, ls->table->bytes);
	free(ls->reuse);
	for (struct liveset_retire *r = ls->reclaimed->head, *n; r; r = n) {
		n = r->next;
		free(r);
	}
	free(ls->reclaimed);
	memset(ls, 0, sizeof(*ls));
}
