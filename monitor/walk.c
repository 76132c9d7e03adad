/* walk: per-block queries computed on request (heap walk, incremental walk, leak suspects) by
 * iterating the live set under the RCU read lock. O(live blocks); callers cache the results.
 * Must never modify the live set (that is the ingest thread's job). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu/urcu-memb.h>

#include "session.h"
#include "symbols.h"
#include "walk.h"

uint32_t walk_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

uint64_t walk_age_ns(uint32_t now_ms, uint32_t then_ms)
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

struct model_walk *walk_liveset(struct liveset *ls, const struct model_walk_filter *f,
				uint64_t mark_seq, size_t size_hint)
{
	struct model_walk *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	uint32_t now_ms = walk_now_ms();
	size_t cap = 0, n = 0;
	struct model_block *rows = NULL;
	struct liveset_iter it;
	struct liveset_block *b;
	urcu_memb_read_lock();
	liveset_read_begin();
	cap = size_hint + 1024; /* the set may change while we walk */
	rows = malloc(cap * sizeof(*rows));
	if (rows) {
		liveset_for_each(ls, &it, b) {
			if (!walk_match(b, f, mark_seq, now_ms))
				continue;
			if (n == cap) {
				struct model_block *nr = realloc(rows, cap * 2 * sizeof(*rows));
				if (!nr)
					break;
				rows = nr;
				cap *= 2;
			}
			rows[n++] = (struct model_block){
				.addr = b->addr, .size = b->size, .seq = b->seq,
				.age_ns = walk_age_ns(now_ms, b->time_ms), .stack_id = b->stack_id,
				.thread_id = b->thread, .from_realloc = (b->flags & LIVESET_F_REALLOC) != 0};
		}
	}
	liveset_read_end();
	urcu_memb_read_unlock();
	if (n > 1)
		qsort(rows, n, sizeof(*rows), block_seq_cmp);
	w->count = n;
	w->blocks = rows;
	w->priv = rows;
	for (size_t i = 0; i < n; i++)
		w->total_bytes += rows[i].size;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	w->taken_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return w;
}

struct model_walk *model_walk_open(struct session *s, const struct model_walk_filter *f)
{
	struct model_walk_filter all = {.kind = MODEL_WALK_ALL, .thread_id = MODEL_ANY_THREAD,
					.stack_id = MODEL_ANY_STACK};
	/* the size comes from the published view: the live set's own count is the ingest thread's */
	urcu_memb_read_lock();
	const struct model_view *v = model_view_get(s);
	size_t hint = v ? (size_t)v->totals.live_blocks : 0;
	urcu_memb_read_unlock();
	return walk_liveset(&s->eng.live, f ? f : &all,
			    __atomic_load_n(&s->eng.mark_seq, __ATOMIC_RELAXED), hint);
}

size_t model_walk_page(const struct model_walk *w, size_t offset, size_t limit,
		       const struct model_block **rows)
{
	if (!w || offset >= w->count) {
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
	free(w->priv);
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

static int growth_cmp(const void *a, const void *b)
{
	const struct model_site *x = a, *y = b;
	if (x->growth != y->growth)
		return x->growth > y->growth ? -1 : 1;
	return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

/* Groups a walk (sorted by seq) by stack id. */
size_t walk_group_by_site(const struct model_walk *w, struct model_suspect_site **out)
{
	*out = NULL;
	if (!w->count)
		return 0;
	struct model_block *tmp = malloc(w->count * sizeof(*tmp));
	struct model_suspect_site *sites = calloc(w->count, sizeof(*sites));
	if (!tmp || !sites) {
		free(tmp);
		free(sites);
		return 0;
	}
	memcpy(tmp, w->blocks, w->count * sizeof(*tmp));
	int (*by_stack)(const void *, const void *) = NULL;
	(void)by_stack;
	/* sort by stack id then group */
	for (size_t i = 0; i < w->count; i++)
		tmp[i].seq = ((uint64_t)tmp[i].stack_id << 32) | (i & 0xffffffffu);
	qsort(tmp, w->count, sizeof(*tmp), block_seq_cmp);
	size_t n = 0;
	for (size_t i = 0; i < w->count; i++) {
		if (n == 0 || sites[n - 1].stack_id != tmp[i].stack_id) {
			sites[n].stack_id = tmp[i].stack_id;
			n++;
		}
		struct model_suspect_site *ss = &sites[n - 1];
		ss->bytes += tmp[i].size;
		ss->blocks++;
		if (tmp[i].age_ns > ss->oldest_age_ns)
			ss->oldest_age_ns = tmp[i].age_ns;
	}
	free(tmp);
	qsort(sites, n, sizeof(*sites), suspect_cmp);
	*out = sites;
	return n;
}

struct model_suspects *model_suspects_compute(struct session *s, uint64_t expire_ns)
{
	struct model_suspects *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->expire_ns = expire_ns;
	struct model_walk_filter f = {.kind = MODEL_WALK_ALL, .thread_id = MODEL_ANY_THREAD,
				      .stack_id = MODEL_ANY_STACK, .min_age_ns = expire_ns ? expire_ns : 1};
	struct model_walk *w = model_walk_open(s, &f);
	struct model_suspect_site *sites = NULL;
	size_t n = w ? walk_group_by_site(w, &sites) : 0;
	struct symbols *sym = session_symbols_get(s); /* replaced at exec */
	for (size_t i = 0; i < n; i++) {
		r->bytes += sites[i].bytes;
		r->blocks += sites[i].blocks;
		if (sym)
			symbols_top_frame(sym, sites[i].stack_id, &sites[i].top);
	}
	session_symbols_put(s, sym);
	model_walk_free(w);
	r->sites = sites;
	r->n_sites = n;
	/* growing sites come from the current view (no per-block work) */
	urcu_memb_read_lock();
	const struct model_view *v = model_view_get(s);
	size_t ng = 0;
	struct model_site *grow = NULL;
	if (v && v->n_sites) {
		grow = malloc(v->n_sites * sizeof(*grow));
		for (size_t i = 0; grow && i < v->n_sites; i++)
			if (v->sites[i].growing)
				grow[ng++] = v->sites[i];
	}
	urcu_memb_read_unlock();
	if (ng > 1)
		qsort(grow, ng, sizeof(*grow), growth_cmp);
	r->growing = grow;
	r->n_growing = ng;
	r->priv = NULL;
	return r;
}

void model_suspects_free(struct model_suspects *r)
{
	if (!r)
		return;
	free((void *)r->sites);
	free((void *)r->growing);
	free(r);
}

int model_site_stack(struct session *s, uint32_t stack_id, struct model_frame *out, int max)
{
	if (stack_id == MEMTOP_STACK_SIGNAL) /* that one's frame needs no symbols */
		return symbols_stack(NULL, stack_id, out, max);
	struct symbols *sym = session_symbols_get(s); /* replaced at exec */
	if (sym) {
		int n = symbols_stack(sym, stack_id, out, max);
		session_symbols_put(s, sym);
		return n;
	}
	if (max <= 0)
		return -1;
	uint64_t pcs[MEMTOP_MAX_DEPTH];
	int n = session_stack_read(s, stack_id, pcs, MEMTOP_MAX_DEPTH);
	if (n < 0)
		return -1;
	if (n > max)
		n = max;
	for (int i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].pc = pcs[i];
	}
	return n;
}
