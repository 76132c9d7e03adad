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

struct liveset_table {
	struct rcu_head rcu;
	size_t mask;
	size_t bytes;
	size_t limit; /* live + tombstones above this: rebuild (70 % load) */
	uintptr_t slots[];
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
	/* line-aligned, so that no 32-byte block spans two cache lines */
	struct liveset_block blocks[SLAB_BLOCKS] __attribute__((aligned(64)));
};
_Static_assert(sizeof(struct liveset_slab) <= HUGE_BYTES, "a slab is one 2 MiB page");

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
		if (p != MAP_FAILED && (uintptr_t)p + len > PTR_MASK) {
			munmap(p, len);
			return NULL;
		}
		return p == MAP_FAILED ? NULL : p;
	}
	/* over-map by 2 MiB and trim, so the block is 2 MiB aligned */
	char *p = mmap(NULL, len + HUGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if ((uintptr_t)p + len + HUGE_BYTES > PTR_MASK) {
		/* slots keep a tag above bit 48: Linux maps there only when asked with a hint */
		munmap(p, len + HUGE_BYTES);
		return NULL;
	}
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
		t->limit = cap / 10 * 7;
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

/* Blocks come back from the batches freed without a grace period first (newest first: still in
 * cache), then from those call_rcu reclaimed (oldest first). */
static struct liveset_block *liveset_reuse_block(struct liveset *ls)
{
	for (;;) {
		struct liveset_retire *r = ls->reuse;
		if (r && ls->reuse_i < r->n) {
			struct liveset_block *b = r->blocks[ls->reuse_i++];
			/* reclaimed blocks were last written a grace period ago: far out of cache */
			if (ls->reuse_i + REUSE_PREFETCH < r->n)
				__builtin_prefetch(r->blocks[ls->reuse_i + REUSE_PREFETCH], 1);
			return b;
		}
		if (r && !ls->retire) { /* an empty batch is the next retire list: no malloc */
			r->n = 0;
			ls->retire = r;
		} else {
			free(r);
		}
		if (ls->ready) {
			ls->reuse = ls->ready;
			ls->ready = ls->ready->next;
		} else {
			ls->reuse = liveset_take_reclaimed(ls);
		}
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

/* Iterating readers of any live set in the process (liveset_read_begin/end). Global rather than
 * per set: engine_reset replaces a set wholesale while a reader may be entering it. */
static int liveset_readers;

void liveset_read_begin(void)
{
	__atomic_add_fetch(&liveset_readers, 1, __ATOMIC_SEQ_CST);
	/* pairs with the fence in liveset_flush_retired: either the writer sees us, or we see the
	 * slots it cleared and never reach the blocks it reuses */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void liveset_read_end(void)
{
	/* our reads of the blocks happen before the writer, reading 0, writes into them again */
	__atomic_sub_fetch(&liveset_readers, 1, __ATOMIC_RELEASE);
}

void liveset_flush_retired(struct liveset *ls)
{
	struct liveset_retire *r = ls->retire;
	if (!r || !r->n)
		return;
	ls->retire = NULL;
	/* The blocks are unlinked. When no reader is iterating, nobody holds them: the writer may reuse
	 * them at once, while they are still in its cache, instead of a grace period later (by then an
	 * allocation storm has gone through megabytes of other blocks). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&liveset_readers, __ATOMIC_SEQ_CST) == 0) {
		r->next = ls->ready;
		ls->ready = r;
		return;
	}
	urcu_memb_call_rcu(&r->rcu, liveset_reclaim_cb);
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
	uint64_t h = liveset_hash(b->addr);
	size_t i = h & t->mask;
	while (t->slots[i] != SLOT_EMPTY)
		i = (i + 1) & t->mask;
	t->slots[i] = slot_word(b, h);
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
		if (old->slots[i] > SLOT_TOMB)
			table_place(t, slot_block(old->slots[i]));
	rcu_assign_pointer(ls->table, t);
	ls->tombs = 0;
	urcu_memb_call_rcu(&old->rcu, table_free_cb);
	return 0;
}

/* Slot i loses its block. Usually it becomes a tombstone (probes for later entries may run through
 * it). When the next slot is empty no probe runs through i to a later slot, so i and the tombstones
 * just before it can be empty again: with many removals and few live blocks (an allocation storm)
 * tombstones would otherwise fill the table, lengthen every miss and force rebuilds. Readers only
 * iterate: they skip empty and tombstone alike, and no entry moves. */
static void table_clear(struct liveset *ls, struct liveset_table *t, size_t i)
{
	ls->count--;
	if (t->slots[(i + 1) & t->mask] != SLOT_EMPTY) {
		CMM_STORE_SHARED(t->slots[i], SLOT_TOMB);
		ls->tombs++;
		return;
	}
	CMM_STORE_SHARED(t->slots[i], SLOT_EMPTY);
	for (i = (i - 1) & t->mask; t->slots[i] == SLOT_TOMB; i = (i - 1) & t->mask) {
		CMM_STORE_SHARED(t->slots[i], SLOT_EMPTY);
		ls->tombs--;
	}
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

struct liveset_block *liveset_put_h(struct liveset *ls, const struct liveset_block *src, uint64_t h,
				    struct liveset_block *old, bool *replaced)
{
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
			ls->count--;
			break;
		}
	}
	struct liveset_block *b = liveset_block_alloc(ls);
	if (!b) {
		if (*replaced) { /* the stale block is retired: its slot must not point to it */
			ls->count++;
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
	ls->count++;
	return b;
}

struct liveset_block *liveset_insert(struct liveset *ls, const struct liveset_block *src)
{
	struct liveset_block old;
	bool replaced;
	return liveset_put_h(ls, src, liveset_hash(src->addr), &old, &replaced);
}

void liveset_remove(struct liveset *ls, struct liveset_block *b)
{
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

void liveset_prefetch_slot(struct liveset *ls, uint64_t h)
{
	__builtin_prefetch(&ls->table->slots[h & ls->table->mask]);
}

void liveset_prefetch_block(struct liveset *ls, uint64_t h)
{
	uintptr_t w = ls->table->slots[h & ls->table->mask];
	if (slot_may_hold(w, h))
		__builtin_prefetch(slot_block(w));
}

const struct liveset_block *liveset_peek(struct liveset *ls, uint64_t addr, uint64_t h)
{
	uintptr_t w = ls->table->slots[h & ls->table->mask];
	return slot_may_hold(w, h) && slot_block(w)->addr == addr ? slot_block(w) : NULL;
}

const struct liveset_block *liveset_take_h(struct liveset *ls, uint64_t addr, uint64_t h)
{
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
	it->t = rcu_dereference(ls->table);
	it->i = 0;
}

struct liveset_block *liveset_iter_next(struct liveset_iter *it)
{
	while (it->i <= it->t->mask) {
		uintptr_t w = rcu_dereference(it->t->slots[it->i]);
		it->i++;
		if (w > SLOT_TOMB)
			return slot_block(w);
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
	free(ls->retire);
	for (struct liveset_retire *r = ls->ready, *n; r; r = n) {
		n = r->next;
		free(r);
	}
	for (struct liveset_retire *r = ls->reclaimed->head, *n; r; r = n) {
		n = r->next;
		free(r);
	}
	free(ls->reclaimed);
	memset(ls, 0, sizeof(*ls));
}
