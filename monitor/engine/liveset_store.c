/* liveset_store: the memory behind the live set: 2 MiB slabs of blocks, removed blocks retired in
 * batches and reused only once no reader iterates and no pin (a walk holding 4-byte references)
 * may still name them, and the pins themselves. The call_rcu thread only queues whole batches: it
 * must never write into a block (the cache lines would travel back to the ingest core). */
#include "engine/liveset_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

/* Big tables and slabs are accessed at random: on 2 MiB pages (THP on request) the TLB covers
 * them. They come from mmap, not malloc, so that a table replaced by a bigger one goes back to the
 * kernel at once (malloc's dynamic mmap threshold would keep it in an arena). */
static size_t huge_round(size_t bytes)
{
	if (bytes < HUGE_BYTES) /* small tables: plain pages, no 2 MiB page for 32 KiB of slots */
		return (bytes + 4095) & ~(size_t)4095;
	return (bytes + HUGE_BYTES - 1) & ~(size_t)(HUGE_BYTES - 1);
}

void *liveset_huge_alloc(size_t bytes)
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

void liveset_huge_free(void *p, size_t bytes)
{
	if (p)
		munmap(p, huge_round(bytes));
}

struct liveset_store *liveset_store_new(void)
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
		liveset_huge_free(st->dir[i], sizeof(struct liveset_slab));
	munmap(st->dir, SLABS_MAX * sizeof(*st->dir));
	for (struct liveset_retire *r = st->head, *n; r; r = n) {
		n = r->next;
		free(r);
	}
	free(st->pins);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

void liveset_store_unref(struct liveset_store *st)
{
	pthread_mutex_lock(&st->lock);
	bool last = --st->refs == 0;
	pthread_mutex_unlock(&st->lock);
	if (last)
		store_free(st);
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
				memtop_prefetch(r->blocks[ls->reuse_i + REUSE_PREFETCH]);
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

struct liveset_block *liveset_block_alloc_slow(struct liveset *ls)
{
	struct liveset_block *b = liveset_reuse_block(ls);
	if (b)
		return b;
	if (!ls->free_list) {
		struct liveset_store *st = ls->store;
		if (st->n_slabs == SLABS_MAX)
			return NULL; /* 4.3 G blocks: references would not fit 32 bits */
		struct liveset_slab *s = liveset_huge_alloc(sizeof(*s));
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
void liveset_retire_block_slow(struct liveset *ls, struct liveset_block *b)
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

void liveset_free_batches(struct liveset_retire *r)
{
	for (struct liveset_retire *n; r; r = n) {
		n = r->next;
		free(r);
	}
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
	DEBUG_ASSERT(urcu_memb_read_ongoing());
	DEBUG_ASSERT(__atomic_load_n(&liveset_readers, __ATOMIC_RELAXED) > 0); /* liveset_read_begin */
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
	/* slabs are 2 MiB-aligned (liveset_huge_alloc): the slab of a block is its address rounded down */
	const struct liveset_slab *s =
		(const struct liveset_slab *)((uintptr_t)b & ~(uintptr_t)(HUGE_BYTES - 1));
	return s->index << SLAB_INDEX_BITS | (uint32_t)(b - s->blocks);
}

const struct liveset_block *liveset_pin_block(const struct liveset_pin *pin, liveset_ref ref)
{
	const struct liveset_slab *s = __atomic_load_n(&pin->store->dir[ref >> SLAB_INDEX_BITS], __ATOMIC_RELAXED);
	return &s->blocks[ref & ((1u << SLAB_INDEX_BITS) - 1)];
}
