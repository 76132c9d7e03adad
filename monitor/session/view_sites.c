/* view_sites: the call-site table of a published view, sorted by live bytes (then stack id), made
 * from the previous view and the engine's dirty list: unchanged sites are copied in their order,
 * only changed ones are read from the engine, sorted and merged in (O(changed) reads and sort,
 * one sequential copy). Publisher only. It must never walk the live set nor write a published view. */
#include <stdlib.h>
#include <string.h>

#include "prefetch.h"
#include "session/session_internal.h"
#include "symbols/skipframes.h"
#include "symbols/symbols.h"

/* Sort key of a site: ascending (neg_live, stack_id) is descending live bytes, then stack id. */
struct view_sites_key {
	uint64_t neg_live;
	uint32_t stack_id;
	uint32_t idx; /* index in engine.site_ids */
};

#define VS_GONE 0xffffffffu /* idx[] of a position whose site changed: taken from the keys */

static bool vs_realloc(void **p, size_t bytes)
{
	void *n = realloc(*p, bytes);
	if (!n)
		return false;
	*p = n;
	return true;
}

static bool vs_reserve(struct view_sites *vs, uint32_t n)
{
	if (n <= vs->cap)
		return true;
	uint32_t cap = vs->cap ? vs->cap : 1024;
	while (cap < n)
		cap *= 2;
	if (!vs_realloc((void **)&vs->pos, sizeof(uint32_t) * cap) ||
	    !vs_realloc((void **)&vs->idx, sizeof(uint32_t) * cap) ||
	    !vs_realloc((void **)&vs->idx_next, sizeof(uint32_t) * cap) ||
	    !vs_realloc((void **)&vs->unresolved, cap) ||
	    !vs_realloc((void **)&vs->newpos, sizeof(uint32_t) * cap) ||
	    !vs_realloc((void **)&vs->order, sizeof(uint32_t) * cap) ||
	    !vs_realloc((void **)&vs->keys, sizeof(struct view_sites_key) * cap) ||
	    !vs_realloc((void **)&vs->keys_tmp, sizeof(struct view_sites_key) * cap))
		return false; /* the arrays that grew are still valid at the old size */
	vs->cap = cap;
	return true;
}

void view_sites_free(struct view_sites *vs)
{
	free(vs->pos);
	free(vs->idx);
	free(vs->idx_next);
	free(vs->unresolved);
	free(vs->newpos);
	free(vs->order);
	free(vs->keys);
	free(vs->keys_tmp);
	memset(vs, 0, sizeof(*vs));
}

/* LSD radix sort on the 12 key bytes, 8 bits a pass; a pass where every key has the same byte
 * (most of live bytes' high ones) is skipped. qsort of 50 k view rows cost ~10 ms alone. */
static struct view_sites_key *vs_sort(struct view_sites_key *a, struct view_sites_key *tmp, size_t n,
				      unsigned first_pass)
{
	for (unsigned pass = first_pass; pass < 12; pass++) {
		unsigned shift = pass < 4 ? pass * 8 : (pass - 4) * 8;
		size_t count[256] = {0};
		for (size_t i = 0; i < n; i++) {
			uint64_t v = pass < 4 ? a[i].stack_id : a[i].neg_live;
			count[(v >> shift) & 255]++;
		}
		if (n == 0 || count[((pass < 4 ? a[0].stack_id : a[0].neg_live) >> shift) & 255] == n)
			continue;
		size_t sum = 0;
		for (unsigned d = 0; d < 256; d++) {
			size_t c = count[d];
			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++) {
			uint64_t v = pass < 4 ? a[i].stack_id : a[i].neg_live;
			tmp[count[(v >> shift) & 255]++] = a[i];
		}
		struct view_sites_key *t = a;
		a = tmp;
		tmp = t;
	}
	return a;
}

/* Changed sites are read in an order unrelated to memory (first change, then live bytes): at 50 k
 * sites most reads miss the cache, so the reads of the site PREFETCH_AHEAD places later start now. */
#define PREFETCH_AHEAD 16

static void vs_prefetch_site(const struct engine *e, uint32_t id)
{
	if (id < e->sites_cap) {
		const char *p = (const char *)&e->sites[id];
		for (size_t off = 0; off < sizeof(struct engine_site); off += 64)
			memtop_prefetch(p + off);
	}
}

static struct view_sites_key vs_key_of(struct session *s, uint32_t idx)
{
	uint32_t id = s->eng.site_ids[idx];
	return (struct view_sites_key){.neg_live = ~engine_site_listed(&s->eng, id)->live_bytes, .stack_id = id,
				       .idx = idx};
}

/* Every figure of a site but its top frame. */
static void vs_fill_one(struct session *s, struct model_site *m, uint32_t idx)
{
	uint32_t id = s->eng.site_ids[idx];
	const struct engine_site *es = engine_site_listed(&s->eng, id);
	memset(m, 0, sizeof(*m));
	m->stack_id = id;
	m->live_bytes = es->live_bytes;
	m->live_blocks = es->live_blocks;
	m->estimated = es->samples > 0;
	m->allocs = es->allocs;
	m->bytes_allocated = es->bytes_allocated;
	m->frees = es->frees;
	m->temporary = es->temporary;
	engine_site_peak(&s->eng, es, &m->peak_bytes, &m->peak_blocks);
	m->growth = engine_site_growth(es, &m->growing);
}

static void vs_rebuild(struct session *s, struct model_site *out, uint32_t n)
{
	struct view_sites *vs = &s->vsites;
	for (uint32_t i = 0; i < n; i++) {
		if (i + PREFETCH_AHEAD < n) {
			uint32_t ahead = s->eng.site_ids[i + PREFETCH_AHEAD];
			if (ahead < s->eng.sites_cap)
				memtop_prefetch(&s->eng.sites[ahead].live_bytes);
		}
		vs->keys[i] = vs_key_of(s, i);
	}
	struct view_sites_key *k = vs_sort(vs->keys, vs->keys_tmp, n, 0);
	for (uint32_t p = 0; p < n; p++) {
		uint32_t i = k[p].idx;
		if (p + PREFETCH_AHEAD < n)
			vs_prefetch_site(&s->eng, k[p + PREFETCH_AHEAD].stack_id);
		vs_fill_one(s, &out[p], i);
		vs->idx[p] = i;
		vs->pos[i] = p;
		vs->unresolved[i] = 1;
	}
}

/* The changed sites' keys, sorted: first by stack id alone (the order of engine.sites in memory),
 * their live bytes then read in that order (a stream, not 50 k misses), then by live bytes (stable:
 * stack ids stay in order among equals). *mem gets the changed sites in memory order. */
static const struct view_sites_key *vs_changed_sorted(struct session *s, const uint32_t **mem)
{
	struct view_sites *vs = &s->vsites;
	struct engine *e = &s->eng;
	uint32_t nd = e->n_dirty;
	for (uint32_t j = 0; j < nd; j++) {
		uint32_t i = e->dirty_sites[j];
		vs->keys[j] = (struct view_sites_key){.stack_id = e->site_ids[i], .idx = i};
	}
	struct view_sites_key *k = vs_sort(vs->keys, vs->keys_tmp, nd, 0); /* live 0: by id only */
	for (uint32_t j = 0; j < nd; j++) {
		k[j].neg_live = ~engine_site_listed(e, k[j].stack_id)->live_bytes;
		vs->order[j] = k[j].idx;
	}
	*mem = vs->order;
	return vs_sort(k, k == vs->keys ? vs->keys_tmp : vs->keys, nd, 4);
}

/* prev: the current view's sites, in vs->idx order. Positions first (a merge of keys), then the
 * changed sites are read in memory order and written to their positions (scattered writes do not
 * wait; scattered reads did). False when the dirty list does not add up (the caller rebuilds). */
static bool vs_update(struct session *s, const struct model_site *prev, uint32_t prev_n,
		      struct model_site *out, uint32_t n)
{
	struct view_sites *vs = &s->vsites;
	const struct engine *e = &s->eng;
	uint32_t nd = e->n_dirty, old_changed = 0;
	for (uint32_t j = 0; j < nd; j++)
		old_changed += e->dirty_sites[j] < prev_n;
	if (nd > n || (uint64_t)prev_n - old_changed + nd != n)
		return false;
	for (uint32_t j = 0; j < nd; j++)
		if (e->dirty_sites[j] < prev_n)
			vs->idx[vs->pos[e->dirty_sites[j]]] = VS_GONE;
	const uint32_t *mem;
	const struct view_sites_key *k = vs_changed_sorted(s, &mem);
	/* a new peak since the last publish: a site unchanged since holds at the peak what it holds */
	bool peak_moved = e->peak_epoch != vs->peak_epoch;
	uint32_t a = 0, b = 0;
	for (uint32_t p = 0; p < n; p++) {
		while (a < prev_n && vs->idx[a] == VS_GONE)
			a++;
		bool old = a < prev_n &&
			   (b >= nd || prev[a].live_bytes > ~k[b].neg_live ||
			    (prev[a].live_bytes == ~k[b].neg_live && prev[a].stack_id < k[b].stack_id));
		if (old) {
			uint32_t i = vs->idx[a];
			out[p] = prev[a++];
			if (peak_moved) {
				out[p].peak_bytes = out[p].live_bytes;
				out[p].peak_blocks = out[p].live_blocks;
			}
			vs->idx_next[p] = i;
			vs->pos[i] = p;
		} else {
			vs->idx_next[p] = k[b].idx; /* its pos[] is still the old one: its top is there */
			vs->newpos[k[b++].idx] = p;
		}
	}
	for (uint32_t j = 0; j < nd; j++) {
		if (j + PREFETCH_AHEAD < nd && mem[j + PREFETCH_AHEAD] < prev_n)
			memtop_prefetch(&prev[vs->pos[mem[j + PREFETCH_AHEAD]]].top);
		uint32_t i = mem[j], p = vs->newpos[i];
		vs_fill_one(s, &out[p], i);
		if (i < prev_n) /* events do not change a top frame: keep the one named */
			out[p].top = prev[vs->pos[i]].top;
		else
			vs->unresolved[i] = 1;
		vs->pos[i] = p;
	}
	uint32_t *t = vs->idx;
	vs->idx = vs->idx_next;
	vs->idx_next = t;
	return true;
}

bool view_sites_fill(struct session *s, const struct model_site *prev, size_t prev_n,
		     struct model_site *out, size_t n)
{
	struct view_sites *vs = &s->vsites;
	struct engine *e = &s->eng;
	if (!vs_reserve(vs, (uint32_t)n))
		return false;
	bool skip = symbols_skip_active();
	bool rebuild = e->dirty_all || !prev || prev_n != vs->n || n < prev_n ||
		       vs->sym != (const void *)s->ingest_sym || vs->skip != skip;
	if (rebuild || !vs_update(s, prev, (uint32_t)prev_n, out, (uint32_t)n))
		vs_rebuild(s, out, (uint32_t)n);
	/* top frames: symbolized lazily by the symbolizer thread, asked again until named */
	if (s->ingest_sym) /* publishing runs on the ingest thread */
		for (uint32_t p = 0; p < n; p++) {
			uint32_t i = vs->idx[p];
			if (vs->unresolved[i])
				vs->unresolved[i] = !symbols_top_frame(s->ingest_sym, out[p].stack_id,
								      &out[p].top);
		}
	vs->n = (uint32_t)n;
	vs->sym = s->ingest_sym;
	vs->skip = skip;
	vs->peak_epoch = e->peak_epoch;
	engine_sites_clean(e);
	return true;
}
