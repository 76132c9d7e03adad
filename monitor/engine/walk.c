/* walk: per-block queries computed on request (heap walk, incremental walk, grouping by call site)
 * by iterating a live set under the RCU read lock; session/queries.c runs them on a session. O(live blocks); callers cache the results.
 * Must never modify the live set (that is the ingest thread's job). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu/urcu-memb.h>

#include "engine/engine.h"
#include "engine/walk.h"
#include "shm.h"

uint32_t walk_now_ms(void)
{
	return (uint32_t)(shm_clock_ns(CLOCK_MONOTONIC) / 1000000u);
}

static uint64_t walk_age_ns(uint32_t now_ms, uint32_t then_ms)
{
	uint32_t d = now_ms - then_ms; /* modular: survives the 49-day wrap */
	if (d > 0x80000000u)
		return 0; /* block stamped slightly in the future (coarse clock) */
	return (uint64_t)d * 1000000ull;
}

static bool walk_match(const struct liveset_block *b, const struct model_walk_filter *f,
		       uint64_t mark_seq, uint32_t now_ms)
{
	if (f->kind == MODEL_WALK_SINCE_MARK && b->seq <= mark_seq)
		return false;
	if (f->thread_id != MODEL_ANY_THREAD && b->thread != f->thread_id)
		return false;
	if (f->stack_id != MODEL_ANY_STACK && b->stack_id != f->stack_id)
		return false;
	if (f->min_age_ns && walk_age_ns(now_ms, b->time_ms) < f->min_age_ns)
		return false;
	if ((f->seq_from || f->seq_to) && (b->seq < f->seq_from || (f->seq_to && b->seq >= f->seq_to)))
		return false;
	return true;
}

static int block_seq_cmp(const void *a, const void *b)
{
	const struct model_block *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* What a walk owns: its copies (model_walk_open), or 4-byte references and the pin that keeps the
 * blocks they name unchanged (model_walk_open_compact: a live-set block is never modified while
 * linked, and a pinned one is not reused once unlinked). */
struct walk_priv {
	struct model_block *copies;
	liveset_ref *refs;
	struct liveset_block *kept; /* model_walk_keep: the referenced blocks, copied; refs freed */
	struct liveset_pin pin;
	uint32_t now_ms; /* the walk's time: ages are computed against it */
};

static struct model_block walk_block_of(const struct liveset_block *b, uint32_t now_ms)
{
	return (struct model_block){.addr = b->addr, .size = b->size, .seq = b->seq,
				    .age_ns = walk_age_ns(now_ms, b->time_ms), .stack_id = b->stack_id,
				    .thread_id = b->thread,
				    .from_realloc = (b->flags & LIVESET_F_REALLOC) != 0,
				    .sampled = (b->flags & LIVESET_F_SAMPLED) != 0};
}

/* Grows *arr (of cap elements) to hold n + 1. By an eighth: the first guess is the live count, and
 * only the blocks allocated during the walk come on top (doubling 8 MB of references at 2 M blocks
 * for a few thousand of them cost 8 MB more). */
static bool walk_reserve(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return true;
	size_t ncap = *cap + *cap / 8 + 1024;
	void *na = realloc(*arr, ncap * elem);
	if (!na)
		return false;
	*arr = na;
	*cap = ncap;
	return true;
}

/* Slots of the table read per RCU read section (liveset_iter_yield between them): 64 k slots take
 * about a millisecond, so grace periods (and the views they free) wait that long, not a whole walk. */
#define WALK_SLICE_SLOTS 65536u

/* One pass over ls into p (see walk_collect). Called inside a read section and the iteration
 * section; sliced: leaves the read section every WALK_SLICE_SLOTS slots. Returns false when a new
 * table was published during a gap: nothing of this pass may be kept (blocks would be seen twice
 * or missed), and p->refs/p->copies and the pin are left for the caller to drop. */
static bool walk_collect_pass(struct liveset *ls, const struct model_walk_filter *f, uint64_t mark_seq,
			      bool compact, bool sliced, struct walk_priv *p, size_t *count,
			      uint64_t *total_bytes)
{
	size_t n = 0, cap;
	uint64_t bytes = 0;
	struct liveset_iter it;
	struct liveset_block *b;
	liveset_iter_init(ls, &it);
	cap = __atomic_load_n(&ls->count, __ATOMIC_RELAXED) + 1024; /* a hint: the set changes */
	void **arr = compact ? (void **)&p->refs : (void **)&p->copies;
	size_t elem = compact ? sizeof(*p->refs) : sizeof(*p->copies);
	/* the pin is taken in this first section, before the first slot is read (liveset_pin) */
	if (compact && liveset_pin(&it, &p->pin) != 0)
		cap = 0;
	*arr = cap ? malloc(cap * elem) : NULL;
	size_t next_yield = WALK_SLICE_SLOTS;
	while (*arr && (b = liveset_iter_next(&it)) != NULL) {
		if (walk_match(b, f, mark_seq, p->now_ms)) {
			if (!walk_reserve(arr, &cap, n, elem))
				break;
			/* taken now: a block met before a gap is held only by the pin (compact) */
			if (compact)
				p->refs[n] = liveset_ref_of(b);
			else
				p->copies[n] = walk_block_of(b, p->now_ms);
			bytes += b->size;
			n++;
		}
		if (sliced && it.i >= next_yield) {
			next_yield = it.i + WALK_SLICE_SLOTS;
			if (!liveset_iter_yield(&it))
				return false;
		}
	}
	*count = n;
	*total_bytes += bytes;
	if (*arr && n + 4096 < cap) { /* a filtered walk: give the rest back */
		void *na = realloc(*arr, (n ? n : 1) * elem);
		if (na)
			*arr = na;
	}
	return true;
}

/* Iterates ls once: copies (compact false) or pins and references (compact true) the blocks that
 * match f into p. Returns the number kept. The read section is left between slices of the table
 * (a pinned reference or a copy needs no read section once taken); a table replaced meanwhile (a
 * resize or an exec's reset) starts the walk again, then in one section so that it ends. */
static size_t walk_collect(struct liveset *ls, const struct model_walk_filter *f, uint64_t mark_seq,
			   bool compact, struct walk_priv *p, uint64_t *total_bytes)
{
	size_t n = 0;
	urcu_memb_read_lock();
	liveset_read_begin();
	if (!walk_collect_pass(ls, f, mark_seq, compact, true, p, &n, total_bytes)) {
		free(compact ? (void *)p->refs : (void *)p->copies);
		p->refs = NULL;
		p->copies = NULL;
		liveset_unpin(&p->pin);
		n = 0;
		walk_collect_pass(ls, f, mark_seq, compact, false, p, &n, total_bytes);
	}
	liveset_read_end();
	urcu_memb_read_unlock();
	return n;
}

static struct model_walk *walk_make(struct liveset *ls, const struct model_walk_filter *f,
				    uint64_t mark_seq, bool compact)
{
	struct model_walk *w = calloc(1, sizeof(*w));
	struct walk_priv *p = calloc(1, sizeof(*p));
	if (!w || !p) {
		free(w);
		free(p);
		return NULL;
	}
	w->priv = p;
	p->now_ms = walk_now_ms();
	w->count = walk_collect(ls, f, mark_seq, compact, p, &w->total_bytes);
	if (!compact && w->count > 1)
		qsort(p->copies, w->count, sizeof(*p->copies), block_seq_cmp);
	w->blocks = p->copies;
	w->taken_ns = shm_clock_ns(CLOCK_MONOTONIC);
	return w;
}

struct model_walk *walk_liveset(struct liveset *ls, const struct model_walk_filter *f,
				uint64_t mark_seq)
{
	return walk_make(ls, f, mark_seq, false);
}

struct model_walk *walk_liveset_compact(struct liveset *ls, const struct model_walk_filter *f,
					uint64_t mark_seq)
{
	return walk_make(ls, f, mark_seq, true);
}

struct model_block model_walk_block(const struct model_walk *w, size_t i)
{
	if (w->blocks)
		return w->blocks[i];
	const struct walk_priv *p = w->priv;
	if (p->kept)
		return walk_block_of(&p->kept[i], p->now_ms);
	return walk_block_of(liveset_pin_block(&p->pin, p->refs[i]), p->now_ms);
}

void model_walk_keep(struct model_walk *w)
{
	struct walk_priv *p = w ? w->priv : NULL;
	if (!p || !p->refs)
		return;
	struct liveset_block *kept = malloc((w->count ? w->count : 1) * sizeof(*kept));
	if (!kept)
		return; /* stays pinned: correct, only dearer */
	for (size_t i = 0; i < w->count; i++)
		kept[i] = *liveset_pin_block(&p->pin, p->refs[i]);
	free(p->refs);
	p->refs = NULL;
	p->kept = kept;
	liveset_unpin(&p->pin);
}

size_t model_walk_page(const struct model_walk *w, size_t offset, size_t limit,
		       const struct model_block **rows)
{
	if (!w || !w->blocks || offset >= w->count) {
		*rows = NULL;
		return 0;
	}
	*rows = w->blocks + offset;
	return w->count - offset < limit ? w->count - offset : limit;
}

void model_walk_free(struct model_walk *w)
{
	if (!w)
		return;
	struct walk_priv *p = w->priv;
	free(p->copies);
	free(p->refs);
	free(p->kept);
	liveset_unpin(&p->pin);
	free(p);
	free(w);
}

/* ---- leak suspects ---- */

static int suspect_cmp(const void *a, const void *b)
{
	const struct model_suspect_site *x = a, *y = b;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

static size_t walk_hash_id(uint32_t id)
{
	return (size_t)((id * 0x9E3779B1u) ^ (id >> 16));
}

/* slots (site index + 1 by stack id, 0 = empty) sized for twice the sites. */
static bool walk_site_index(uint32_t **slots, size_t *mask, const struct model_suspect_site *sites,
			    size_t n, size_t cap)
{
	uint32_t *ns = calloc(cap, sizeof(*ns));
	if (!ns)
		return false;
	for (size_t i = 0; i < n; i++) {
		size_t h = walk_hash_id(sites[i].stack_id) & (cap - 1);
		while (ns[h])
			h = (h + 1) & (cap - 1);
		ns[h] = (uint32_t)i + 1;
	}
	free(*slots);
	*slots = ns;
	*mask = cap - 1;
	return true;
}

/* Groups a walk by stack id in memory for its sites (not its blocks), sorted by bytes desc then
 * stack id. */
size_t walk_group_by_site(const struct model_walk *w, struct model_suspect_site **out)
{
	*out = NULL;
	if (!w->count)
		return 0;
	size_t n = 0, cap = 256, mask = 0;
	struct model_suspect_site *sites = malloc(cap * sizeof(*sites));
	uint32_t *slots = NULL;
	if (!sites || !walk_site_index(&slots, &mask, sites, 0, 2 * cap)) {
		free(sites);
		return 0;
	}
	for (size_t i = 0; i < w->count; i++) {
		struct model_block b = model_walk_block(w, i);
		size_t h = walk_hash_id(b.stack_id) & mask;
		while (slots[h] && sites[slots[h] - 1].stack_id != b.stack_id)
			h = (h + 1) & mask;
		if (!slots[h]) {
			if (n == cap) {
				struct model_suspect_site *ns = realloc(sites, cap * 2 * sizeof(*ns));
				if (ns)
					sites = ns;
				if (!ns || !walk_site_index(&slots, &mask, sites, n, 4 * cap)) {
					free(sites);
					free(slots);
					return 0;
				}
				cap *= 2;
				for (h = walk_hash_id(b.stack_id) & mask; slots[h]; h = (h + 1) & mask)
					;
			}
			sites[n] = (struct model_suspect_site){.stack_id = b.stack_id};
			slots[h] = (uint32_t)++n;
		}
		struct model_suspect_site *ss = &sites[slots[h] - 1];
		uint64_t bytes, blocks;
		engine_block_weight(b.sampled ? LIVESET_F_SAMPLED : 0, b.addr, b.size, w->sample_mean,
				    &bytes, &blocks);
		ss->bytes += bytes;
		ss->blocks += blocks;
		ss->estimated |= b.sampled;
		if (b.age_ns > ss->oldest_age_ns)
			ss->oldest_age_ns = b.age_ns;
	}
	free(slots);
	if (n > 1)
		qsort(sites, n, sizeof(*sites), suspect_cmp);
	*out = sites;
	return n;
}

void model_suspects_free(struct model_suspects *r)
{
	if (!r)
		return;
	free((void *)r->sites);
	free((void *)r->growing);
	free(r);
}
