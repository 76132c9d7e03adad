/* fake_model: synthetic model.h for tests and the refresh benchmark (see fake_model.h).
 * Deterministic data; views are swapped under RCU like the engine does, but never by another thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "fake_model.h"
#include "session/session.h" /* the fake tree of one process below (session_tree_*) */

struct session {
	struct model_view *view;
	struct model_site *sites;
	struct model_thread *threads;
	struct model_block *blocks;
	size_t n_sites, n_threads, n_blocks;
	char (*funcs)[32];
	unsigned walks, maps;
	bool marked;
	uint64_t mark_seq;
	uint64_t generation;
	uint64_t lost_events;
	uint64_t duplicate_allocs, unknown_frees;
	bool attached_late;
};

static const char *const files[] = {"parser.c", "cache.c", "net/socket.c", "util/strbuf.c"};

struct session *fake_session_new(size_t n_sites, size_t n_threads, size_t n_blocks)
{
	struct session *s = calloc(1, sizeof *s);
	s->n_sites = n_sites;
	s->n_threads = n_threads;
	s->n_blocks = n_blocks;
	s->funcs = calloc(n_sites ? n_sites : 1, sizeof *s->funcs);
	s->sites = calloc(n_sites ? n_sites : 1, sizeof *s->sites);
	s->threads = calloc(n_threads ? n_threads : 1, sizeof *s->threads);
	s->blocks = calloc(n_blocks ? n_blocks : 1, sizeof *s->blocks);
	/* Blocks: sizes 16..4111, spread over sites (site i gets a share decreasing with i). */
	for (size_t b = 0; b < n_blocks; b++) {
		struct model_block *k = &s->blocks[b];
		k->addr = 0x10000000ull + b * 64;
		k->size = 16 + (b * 7919) % 4096;
		k->seq = b;
		k->age_ns = (n_blocks - b) * 1000ull;
		k->stack_id = n_sites ? (uint32_t)(1 + (b * b) % n_sites) : 0;
		k->thread_id = n_threads ? (uint32_t)(b % n_threads) : 0;
		k->from_realloc = b % 13 == 0;
	}
	for (size_t i = 0; i < n_sites; i++) {
		struct model_site *site = &s->sites[i];
		snprintf(s->funcs[i], sizeof s->funcs[i], "alloc_fn_%zu", i);
		site->stack_id = (uint32_t)(i + 1);
		site->top = (struct model_frame){.pc = 0x400000 + i * 16, .module = "/usr/bin/fake",
						 .module_off = i * 16, .func = s->funcs[i],
						 .file = files[i % 4], .line = (int)(10 + i % 900)};
	}
	for (size_t b = 0; b < n_blocks; b++) {
		struct model_site *site = &s->sites[s->blocks[b].stack_id - 1];
		if (!n_sites)
			break;
		site->live_bytes += s->blocks[b].size;
		site->live_blocks++;
		site->allocs++;
	}
	for (size_t t = 0; t < n_threads; t++) {
		struct model_thread *th = &s->threads[t];
		th->id = (uint32_t)t;
		th->tid = (int32_t)(1000 + t);
		snprintf(th->name, sizeof th->name, "worker-%u", (unsigned)(t % 100000));
		th->alive = t % 5 != 4;
	}
	for (size_t b = 0; b < n_blocks && n_threads; b++) {
		s->threads[s->blocks[b].thread_id].live_bytes += s->blocks[b].size;
		s->threads[s->blocks[b].thread_id].live_blocks++;
	}
	fake_session_publish(s, 0);
	return s;
}

static int by_live_desc(const void *a, const void *b)
{
	const struct model_site *x = a, *y = b;
	if (x->live_bytes != y->live_bytes)
		return x->live_bytes < y->live_bytes ? 1 : -1;
	return (x->stack_id > y->stack_id) - (x->stack_id < y->stack_id);
}

static void free_view(struct model_view *v)
{
	if (!v)
		return;
	free((void *)v->sites);
	free((void *)v->threads);
	free(v);
}

void fake_session_publish(struct session *s, int jitter)
{
	struct model_view *v = calloc(1, sizeof *v);
	v->generation = ++s->generation;
	v->session = (struct model_session_info){.pid = 4242, .state = MODEL_STATE_RUNNING,
						 .uptime_ns = 83ull * 1000000000ull, .from_start = true};
	snprintf(v->session.command, sizeof v->session.command, "./fake-target --serve");
	struct model_site *sites = malloc((s->n_sites ? s->n_sites : 1) * sizeof *sites);
	for (size_t i = 0; i < s->n_sites; i++) {
		if (jitter)
			s->sites[i].live_bytes += (i * 31 + s->generation) % 3;
		sites[i] = s->sites[i];
		sites[i].growth = (int64_t)(i % 7) - 3;
		sites[i].growing = i % 11 == 0;
	}
	qsort(sites, s->n_sites, sizeof *sites, by_live_desc);
	struct model_thread *threads = malloc((s->n_threads ? s->n_threads : 1) * sizeof *threads);
	memcpy(threads, s->threads, s->n_threads * sizeof *threads);
	v->sites = sites;
	v->n_sites = s->n_sites;
	v->threads = threads;
	v->n_threads = s->n_threads;
	uint64_t live = 0;
	for (size_t b = 0; b < s->n_blocks; b++)
		live += s->blocks[b].size;
	v->totals.live_bytes = live;
	v->totals.live_blocks = s->n_blocks;
	v->totals.peak_bytes = live;
	v->totals.allocs = s->n_blocks + 100;
	v->totals.frees = 100;
	v->totals.allocs_per_s = 1234;
	v->totals.frees_per_s = 1200;
	v->totals.bytes_per_s = 56789;
	v->totals.segment_bytes = 10u << 20;
	v->totals.monitor_bytes = 20u << 20;
	v->totals.overhead_bytes = 30u << 20;
	v->history.interval_ms = 1000;
	v->history.count = 120;
	for (int i = 0; i < 120; i++)
		v->history.live_bytes[i] = live / 120 * (uint64_t)(i + 1);
	v->marked = s->marked;
	v->totals.lost_events = s->lost_events;
	v->totals.duplicate_allocs = s->duplicate_allocs;
	v->totals.unknown_frees = s->unknown_frees;
	v->session.from_start = !s->attached_late;
	/* the engine's rule (view.c) */
	v->session.approximate = s->lost_events || s->duplicate_allocs ||
				 (v->session.from_start && s->unknown_frees);
	v->session.attached_ns = 12ull * 1000000000ull;
	struct model_view *old = s->view;
	rcu_assign_pointer(s->view, v);
	if (old) {
		urcu_memb_synchronize_rcu();
		free_view(old);
	}
}

void fake_session_free(struct session *s)
{
	free_view(s->view);
	free(s->sites);
	free(s->threads);
	free(s->blocks);
	free(s->funcs);
	free(s);
}

void fake_session_set_health(struct session *s, uint64_t lost_events, bool from_start)
{
	s->lost_events = lost_events;
	s->attached_late = !from_start;
}

void fake_session_set_inexact(struct session *s, uint64_t duplicate_allocs, uint64_t unknown_frees)
{
	s->duplicate_allocs = duplicate_allocs;
	s->unknown_frees = unknown_frees;
}

unsigned fake_walks_opened(struct session *s)
{
	return s->walks;
}

unsigned fake_maps_computed(struct session *s)
{
	return s->maps;
}

/* ------------------------------------------------------------------ model.h */

const struct model_view *model_view_get(struct session *s)
{
	return rcu_dereference(s->view);
}

void model_request_publish(struct session *s)
{
	fake_session_publish(s, 0);
}

int model_site_stack(struct session *s, uint32_t stack_id, struct model_frame *out, int max)
{
	if (stack_id == 0 || stack_id > s->n_sites)
		return -1;
	int n = max < 3 ? max : 3;
	for (int i = 0; i < n; i++) {
		out[i] = s->sites[stack_id - 1].top;
		if (i > 0)
			out[i].func = i == 1 ? "caller" : "main";
	}
	return n;
}

struct model_walk *model_walk_open(struct session *s, const struct model_walk_filter *f)
{
	s->walks++;
	struct model_walk *w = calloc(1, sizeof *w);
	struct model_block *rows = malloc((s->n_blocks ? s->n_blocks : 1) * sizeof *rows);
	size_t n = 0;
	for (size_t b = 0; b < s->n_blocks; b++) {
		const struct model_block *k = &s->blocks[b];
		if (f->kind == MODEL_WALK_SINCE_MARK && (!s->marked || k->seq < s->mark_seq))
			continue;
		if (f->thread_id != MODEL_ANY_THREAD && k->thread_id != f->thread_id)
			continue;
		if (f->stack_id != MODEL_ANY_STACK && k->stack_id != f->stack_id)
			continue;
		if (k->age_ns < f->min_age_ns)
			continue;
		rows[n++] = *k;
		w->total_bytes += k->size;
	}
	w->count = n;
	w->blocks = rows;
	return w;
}

/* As the real one: blocks is NULL and the rows are reached through model_walk_block only. */
struct model_walk *model_walk_open_compact(struct session *s, const struct model_walk_filter *f)
{
	struct model_walk *w = model_walk_open(s, f);
	w->priv = (void *)w->blocks;
	w->blocks = NULL;
	return w;
}

void model_walk_keep(struct model_walk *w)
{
	(void)w;
}

struct model_block model_walk_block(const struct model_walk *w, size_t i)
{
	return w->blocks ? w->blocks[i] : ((const struct model_block *)w->priv)[i];
}

size_t model_walk_page(const struct model_walk *w, size_t offset, size_t limit,
		       const struct model_block **rows)
{
	if (!w->blocks || offset >= w->count)
		return 0;
	*rows = w->blocks + offset;
	return w->count - offset < limit ? w->count - offset : limit;
}

void model_walk_free(struct model_walk *w)
{
	free((void *)w->blocks);
	free(w->priv);
	free(w);
}

void model_mark_all(struct session *s)
{
	s->marked = true;
	s->mark_seq = s->n_blocks - s->n_blocks / 10; /* pretend the last tenth came after the mark */
}

void model_unmark(struct session *s)
{
	s->marked = false;
}

static bool fake_skip_wrappers = true;

void model_set_skip_wrappers(bool skip)
{
	fake_skip_wrappers = skip;
}

bool model_skip_wrappers(void)
{
	return fake_skip_wrappers;
}

struct model_suspects *model_suspects_compute(struct session *s, uint64_t expire_ns)
{
	(void)expire_ns;
	struct model_suspects *r = calloc(1, sizeof *r);
	size_t n = s->n_sites < 100 ? s->n_sites : 100;
	struct model_suspect_site *sites = calloc(n ? n : 1, sizeof *sites);
	for (size_t i = 0; i < n; i++) {
		sites[i] = (struct model_suspect_site){.stack_id = s->sites[i].stack_id,
						       .bytes = s->sites[i].live_bytes,
						       .blocks = s->sites[i].live_blocks,
						       .oldest_age_ns = 90ull * 1000000000ull,
						       .top = s->sites[i].top};
		r->bytes += sites[i].bytes;
		r->blocks += sites[i].blocks;
	}
	r->sites = sites;
	r->n_sites = n;
	r->expire_ns = expire_ns;
	return r;
}

void model_suspects_free(struct model_suspects *r)
{
	free((void *)r->sites);
	free(r);
}

struct model_maps *model_maps_compute(struct session *s, uint32_t divisions)
{
	s->maps++;
	struct model_maps *m = calloc(1, sizeof *m);
	struct model_map_row *rows = calloc(2, sizeof *rows);
	if (divisions == 0)
		divisions = MODEL_HEAT_DEFAULT;
	for (int r = 0; r < 2; r++) {
		struct model_map_row *row = &rows[r];
		row->start = 0x10000000ull + (uint64_t)r * (256u << 20);
		row->end = row->start + (64u << 20);
		snprintf(row->name, sizeof row->name, "%s", r == 0 ? "[heap]" : "");
		row->size_kib = 64 * 1024;
		row->rss_kib = 48 * 1024;
		row->divisions = divisions;
		row->heat_resident_known = true;
		for (uint32_t d = 0; d < divisions; d++) {
			row->heat_bytes[d] = d % 4 == 1 ? 0 : (uint64_t)d * 40000;
			row->heat_resident[d] = d % 4 == 3 ? 0 : 100;
			row->heap_bytes += row->heat_bytes[d];
		}
		row->heap_blocks = row->heap_bytes / 1000;
		row->heap_pct_of_rss = (double)row->heap_bytes / (row->rss_kib * 1024.0) * 100.0;
	}
	m->rows = rows;
	m->n_rows = 2;
	m->pagemap_readable = true;
	return m;
}

void model_maps_free(struct model_maps *m)
{
	free((void *)m->rows);
	free(m);
}

int model_snapshot_write(struct session *s, const char *path, char *err, size_t errlen)
{
	(void)s;
	FILE *f = fopen(path, "w");
	if (!f) {
		snprintf(err, errlen, "cannot write %s", path);
		return -1;
	}
	fprintf(f, "fake snapshot\n");
	fclose(f);
	return 0;
}

void model_snapshot_default_path(struct session *s, char *buf, size_t len)
{
	(void)s;
	snprintf(buf, len, "memtop-4242-fake.txt");
}

/* The process tree of memtop run (session.h): the fake dashboard shows one process. */
size_t session_tree_count(struct session_tree *t)
{
	(void)t;
	return 1;
}

struct session *session_tree_get(struct session_tree *t, size_t i, pid_t *ppid)
{
	(void)t;
	(void)i;
	(void)ppid;
	return NULL;
}

pid_t session_pid(const struct session *s)
{
	(void)s;
	return 1;
}
