/* queries: the per-block requests of model.h (walks, leak suspects, a site's stack, the maps
 * heatmap) run on a session's live set and current symbolizer. Computed on request, owned by the
 * caller; never modifies the live set (that is the ingest thread's job). */
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "engine/heatmap.h"
#include "engine/walk.h"
#include "session/session_internal.h"
#include "symbols/symbols.h"

static const struct model_walk_filter *walk_filter_or_all(const struct model_walk_filter *f)
{
	static const struct model_walk_filter all = {.kind = MODEL_WALK_ALL,
						     .thread_id = MODEL_ANY_THREAD,
						     .stack_id = MODEL_ANY_STACK};
	return f ? f : &all;
}

struct model_walk *model_walk_open(struct session *s, const struct model_walk_filter *f)
{
	struct model_walk *w = walk_liveset(&s->eng.live, walk_filter_or_all(f),
					    __atomic_load_n(&s->eng.mark_seq, __ATOMIC_RELAXED));
	if (w) /* set by the ingest thread before its first event, at each reload for a reader */
		w->sample_mean = __atomic_load_n(&s->eng.sample_mean, __ATOMIC_RELAXED);
	return w;
}

struct model_walk *model_walk_open_compact(struct session *s, const struct model_walk_filter *f)
{
	struct model_walk *w = walk_liveset_compact(&s->eng.live, walk_filter_or_all(f),
						    __atomic_load_n(&s->eng.mark_seq, __ATOMIC_RELAXED));
	if (w)
		w->sample_mean = __atomic_load_n(&s->eng.sample_mean, __ATOMIC_RELAXED);
	return w;
}

static int growth_cmp(const void *a, const void *b)
{
	const struct model_site *x = a, *y = b;
	if (x->growth != y->growth)
		return x->growth > y->growth ? -1 : 1;
	return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

struct model_suspects *model_suspects_compute(struct session *s, uint64_t expire_ns)
{
	struct model_suspects *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->expire_ns = expire_ns;
	struct model_walk_filter f = {.kind = MODEL_WALK_ALL, .thread_id = MODEL_ANY_THREAD,
				      .stack_id = MODEL_ANY_STACK, .min_age_ns = expire_ns ? expire_ns : 1};
	struct model_walk *w = model_walk_open_compact(s, &f);
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

static bool heatmap_target_running(struct session *s)
{
	urcu_memb_read_lock();
	const struct model_view *v = model_view_get(s);
	bool running = !v || v->session.state == MODEL_STATE_RUNNING;
	urcu_memb_read_unlock();
	return running;
}

struct model_maps *model_maps_compute(struct session *s, uint32_t divisions)
{
	if (!heatmap_target_running(s)) {
		struct model_maps *m = calloc(1, sizeof(*m));
		if (m)
			m->target_gone = true;
		return m;
	}
	return heatmap_compute(s->pid, &s->eng.live, divisions);
}
