/* liveset: single-writer open-addressing hash of live blocks with RCU readers.
 * Slots hold block pointers; removal writes a tombstone (entries never move while a table is
 * published), growth or too many tombstones build a new table that replaces the old one through
 * rcu_assign_pointer. Blocks come from slabs and go back to the writer only after a grace period
 * and once no pin (a walk holding 4-byte references) may still name them. */
#include "engine/liveset.h"

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
/* exactly: huge_alloc then aligns it to 2 MiB, and liveset_ref_of finds a block's slab by rounding
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

static struct liveset_table *table_new(size_t cap, struct liveset_store *store)
{
	struct liveset_table *t = malloc(sizeof(*t));
	if (!t)
		return NULL;
	t->bytes = cap * sizeof(*t->slots);
	t->slots = huge_alloc(t->bytes); /* zero-filled by mmap */
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
		huge_free(t->slots, t->bytes);
		free(t);
	}
}

static struct liveset_store *store_new(void)
{
	struct liveset_store *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->dir = mmap(NULL, SLABS_MAX * sizeof(*st->dir), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (st->dir == MAP_FAILED) {
		free(st);
		return NULL;
	}
	pthread_mutex_init(&st->lock, NULL);
	st->min_pin = UINT64_MAX;
	st->refs = 1;
	return st;
}

/* Called by the last holder: the set is destroyed and no pin remains. */
static void store_free(struct liveset_store *st)
{
	for (uint32_t i = 0; i < st->n_slabs; i++)
		huge_free(st->dir[i], sizeof(struct liveset_slab));
	munmap(st->dir, SLABS_MAX * sizeof(*st->dir));
	for (struct liveset_retire *r = st->head, *n; r; r = n) {
		n = r->next;
		free(r);
	}
	free(st->pins);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

static void store_unref(struct liveset_store *st)
{
	pthread_mutex_lock(&st->lock);
	bool last = --st->refs == 0;
	pthread_mutex_unlock(&st->lock);
	if (last)
		store_free(st);
}

int liveset_init(struct liveset *ls)
{
	memset(ls, 0, sizeof(*ls));
	ls->store = store_new();
	ls->table = ls->store ? table_new(TABLE_MIN, ls->store) : NULL;
	if (!ls->store || !ls->table)
		return -ENOMEM;
	return 0;
}

/* ---- block memory ---- */

/* Takes the oldest reclaimed batch (the writer reuses its blocks in order). */
static struct liveset_retire *liveset_take_reclaimed(struct liveset *ls)
{
	struct liveset_store *st = ls->store;
	pthread_mutex_lock(&st->lock);
	struct liveset_retire *r = st->head;
	if (r) {
		st->head = r->next;
		if (!r->next)
			st->tail = NULL;
	}
	pthread_mutex_unlock(&st->lock);
	return r;
}

/* A batch retired at epoch e may hold blocks a pin taken at an epoch below e saw (they were linked
 * when its iteration ran); a pin taken at e or later saw the batch's slots cleared (the epoch is
 * stored after the clears, with release, and read by the pin with acquire). The writer reads
 * min_pin after taking the batch: a pin registered while the batch waited for its grace period was
 * registered inside its read section, so before the grace period ended (and call_rcu's callback and
 * the store lock order that before this read); a pin whose reader the flush did not see (the ready
 * path) never saw the batch's blocks. */
static bool batch_reusable(const struct liveset *ls, const struct liveset_retire *r)
{
	return r->epoch <= __atomic_load_n(&ls->store->min_pin, __ATOMIC_SEQ_CST);
}

static void held_push(struct liveset *ls, struct liveset_retire *r)
{
	r->next = NULL;
	if (ls->held_tail)
		ls->held_tail->next = r;
	else
		ls->held = r;
	ls->held_tail = r;
}

/* The next batch whose blocks may be reused: the oldest held back by a pin if it is free now, else
 * those freed without a grace period (newest first: still in cache), then those call_rcu reclaimed
 * (oldest first). Batches a pin still holds are set aside in order. */
static struct liveset_retire *liveset_next_batch(struct liveset *ls)
{
	struct liveset_retire *r = ls->held;
	if (r && batch_reusable(ls, r)) {
		ls->held = r->next;
		if (!ls->held)
			ls->held_tail = NULL;
		return r;
	}
	for (;;) {
		if (ls->ready) {
			r = ls->ready;
			ls->ready = r->next;
		} else {
			r = liveset_take_reclaimed(ls);
		}
		if (!r || batch_reusable(ls, r))
			return r;
		held_push(ls, r);
	}
}

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
		ls->reuse = liveset_next_batch(ls);
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
		struct liveset_store *st = ls->store;
		if (st->n_slabs == SLABS_MAX)
			return NULL; /* 4.3 G blocks: references would not fit 32 bits */
		struct liveset_slab *s = huge_alloc(sizeof(*s));
		if (!s)
			return NULL;
		s->index = st->n_slabs;
		/* before any block of s is linked (the slot store is a release) */
		__atomic_store_n(&st->dir[st->n_slabs], s, __ATOMIC_RELAXED);
		st->n_slabs++;
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
	struct liveset_store *home = r->home;
	r->next = NULL;
	pthread_mutex_lock(&home->lock);
	if (home->tail)
		home->tail->next = r;
	else
		home->head = r;
	home->tail = r;
	pthread_mutex_unlock(&home->lock);
}

/* Tables published in place of others, in any live set of the process (liveset_iter_yield). Bumped
 * after the new table is stored and before the old one goes to call_rcu: a reader that loaded this
 * before the table and finds it unchanged in a later read section holds a table not yet freed. */
static uint64_t liveset_tables_published;

void liveset_tables_changed(void)
{
	__atomic_add_fetch(&liveset_tables_published, 1, __ATOMIC_SEQ_CST);
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
	/* after the slots were cleared: a pin that reads this epoch or a later one never saw them */
	r->epoch = ls->store->epoch + 1;
	__atomic_store_n(&ls->store->epoch, r->epoch, __ATOMIC_SEQ_CST);
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
			nr->home = ls->store;
		}
		nr->cap = cap;
		ls->retire = r = nr;
	}
	r->blocks[r->n++] = b;
	if (r->n == RETIRE_BATCH)
		liveset_flush_retired(ls);
}

/* ---- table ---- */

/* The writer alone changes count; readers read it as a hint (walks size their arrays by it). */
static inline void count_add(struct liveset *ls, int64_t d)
{
	__atomic_store_n(&ls->count, ls->count + (uint64_t)d, __ATOMIC_RELAXED);
}

static void table_free_cb(struct rcu_head *head)
{
	struct liveset_table *t = caa_container_of(head, struct liveset_table, rcu);
	table_free(t);
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
	struct liveset_table *old = ls->table, *t = table_new(cap, ls->store);
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i <= old->mask; i++)
		if (old->slots[i] > SLOT_TOMB)
			table_place(t, slot_block(old->slots[i]));
	__atomic_store_n(&ls->table, t, __ATOMIC_RELEASE); /* rcu_assign_pointer, seen by TSan */
	liveset_tables_changed();
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
	count_add(ls, -1);
	if (t->slots[(i + 1) & t->mask] != SLOT_EMPTY) {
		__atomic_store_n(&t->slots[i], SLOT_TOMB, __ATOMIC_RELAXED);
		ls->tombs++;
		return;
	}
	__atomic_store_n(&t->slots[i], SLOT_EMPTY, __ATOMIC_RELAXED);
	for (i = (i - 1) & t->mask; t->slots[i] == SLOT_TOMB; i = (i - 1) & t->mask) {
		__atomic_store_n(&t->slots[i], SLOT_EMPTY, __ATOMIC_RELAXED);
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
	/* acquire loads (a plain mov on x86, as rcu_dereference) pair with the writer's release stores
	 * of the table and of each slot, in a way ThreadSanitizer sees (it cannot see liburcu's) */
	it->tables_gen = __atomic_load_n(&liveset_tables_published, __ATOMIC_ACQUIRE); /* before t */
	it->t = __atomic_load_n(&ls->table, __ATOMIC_ACQUIRE);
	it->i = 0;
}

bool liveset_iter_yield(struct liveset_iter *it)
{
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

static void free_batches(struct liveset_retire *r)
{
	for (struct liveset_retire *n; r; r = n) {
		n = r->next;
		free(r);
	}
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
	free_batches(ls->ready);
	free_batches(ls->held);
	/* the slabs (and the reclaimed batches) go with the store: now, or with the last pin */
	store_unref(ls->store);
	memset(ls, 0, sizeof(*ls));
}

/* ---- pins and references ---- */

static void store_update_min_pin(struct liveset_store *st)
{
	uint64_t min = UINT64_MAX;
	for (size_t i = 0; i < st->n_pins; i++)
		if (st->pins[i] < min)
			min = st->pins[i];
	__atomic_store_n(&st->min_pin, min, __ATOMIC_SEQ_CST);
}

int liveset_pin(const struct liveset_iter *it, struct liveset_pin *pin)
{
	struct liveset_store *st = it->t->store; /* not ls->store: the set may be swapped meanwhile */
	pthread_mutex_lock(&st->lock);
	if (st->n_pins == st->cap_pins) {
		size_t cap = st->cap_pins ? st->cap_pins * 2 : 8;
		uint64_t *pins = realloc(st->pins, cap * sizeof(*pins));
		if (!pins) {
			pthread_mutex_unlock(&st->lock);
			return -ENOMEM;
		}
		st->pins = pins;
		st->cap_pins = cap;
	}
	/* Read inside the caller's iteration section and registered before it ends: see
	 * batch_reusable for why a batch retired after this epoch cannot be reused meanwhile. */
	pin->epoch = __atomic_load_n(&st->epoch, __ATOMIC_SEQ_CST);
	pin->store = st;
	st->pins[st->n_pins++] = pin->epoch;
	st->refs++;
	store_update_min_pin(st);
	pthread_mutex_unlock(&st->lock);
	return 0;
}

void liveset_unpin(struct liveset_pin *pin)
{
	struct liveset_store *st = pin->store;
	if (!st)
		return;
	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < st->n_pins; i++) {
		if (st->pins[i] == pin->epoch) {
			st->pins[i] = st->pins[--st->n_pins];
			break;
		}
	}
	store_update_min_pin(st);
	bool last = --st->refs == 0;
	pthread_mutex_unlock(&st->lock);
	if (last)
		store_free(st); /* the set was destroyed before this pin went */
	pin->store = NULL;
}

liveset_ref liveset_ref_of(const struct liveset_block *b)
{
	/* slabs are 2 MiB-aligned (huge_alloc): the slab of a block is its address rounded down */
	const struct liveset_slab *s =
		(const struct liveset_slab *)((uintptr_t)b & ~(uintptr_t)(HUGE_BYTES - 1));
	return s->index << SLAB_INDEX_BITS | (uint32_t)(b - s->blocks);
}

const struct liveset_block *liveset_pin_block(const struct liveset_pin *pin, liveset_ref ref)
{
	const struct liveset_slab *s = __atomic_load_n(&pin->store->dir[ref >> SLAB_INDEX_BITS], __ATOMIC_RELAXED);
	return &s->blocks[ref & ((1u << SLAB_INDEX_BITS) - 1)];
}
