/* ui_query: per-block queries (walks with their display order, maps, suspects) and answers about
 * many strings, as requests computed by one worker thread, and their installation into the UI state
 * on the UI thread. The worker calls only model.h; it must never touch struct ui or curses. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "ui_query.h"
#include "ui_view_common.h"

bool ui_query_needed(const struct ui *ui, enum ui_view_id view)
{
	switch (view) {
	case UI_VIEW_SITES:
		return ui_thread_filter_active(ui); /* else the published view has everything */
	case UI_VIEW_WALK:
	case UI_VIEW_INCREMENTAL:
	case UI_VIEW_MAPS:
	case UI_VIEW_SUSPECTS:
	case UI_VIEW_CALLERS: /* a stack per site: symbol lookups, off the UI thread */
		return true;
	default:
		return false;
	}
}

static bool walk_view(enum ui_view_id view)
{
	return view == UI_VIEW_WALK || view == UI_VIEW_INCREMENTAL;
}

bool ui_query_order_stale(const struct ui *ui)
{
	if (!walk_view(ui->view))
		return false;
	int k = ui->view == UI_VIEW_INCREMENTAL;
	struct ui_walk_order want = ui_walk_order_wanted(ui, ui->view);
	return !ui_walk_order_equal(&want, &ui->walk_rows[k].order) &&
	       !ui_walk_order_equal(&want, &ui->walk_asked[k]);
}

struct ui_query_req ui_query_request_of(const struct ui *ui)
{
	struct ui_query_req rq = {
		.view = ui->view,
		.thread_filter = ui->thread_filter,
		.expire_s = ui->expire_s,
		.divisions = ui->heat_divisions,
		.epoch = ui->query_epoch,
		.marked = ui->marked,
	};
	if (walk_view(ui->view))
		rq.order = ui_walk_order_wanted(ui, ui->view);
	return rq;
}

static struct model_walk *walk(struct session *s, enum model_walk_kind kind, uint32_t thread,
			       uint64_t min_age_ns)
{
	struct model_walk_filter f = {
		.kind = kind,
		.thread_id = thread,
		.stack_id = MODEL_ANY_STACK,
		.min_age_ns = min_age_ns,
	};
	return model_walk_open_compact(s, &f);
}

static void group_walk(struct ui_query_res *out, struct model_walk *w)
{
	ui_group_build(&out->group, w);
	out->group_valid = w != NULL;
	if (w)
		model_walk_free(w);
}

/* One site of the caller tree, copied out of the view (its stack is read after the read lock). */
struct callers_site {
	uint32_t stack_id;
	uint64_t bytes, blocks, allocs;
};

static struct callers_site *callers_sites(struct session *s, const struct ui_group *g, size_t *n)
{
	struct callers_site *cs = NULL;
	*n = 0;
	if (g) {
		cs = calloc(g->n + 1, sizeof *cs);
		for (size_t i = 0; cs && i < g->n; i++) /* allocations are not counted per thread */
			cs[(*n)++] = (struct callers_site){g->rows[i].stack_id, g->rows[i].bytes,
							   g->rows[i].blocks, 0};
		return cs;
	}
	urcu_memb_read_lock();
	const struct model_view *v = model_view_get(s);
	size_t m = v ? v->n_sites : 0;
	cs = calloc(m + 1, sizeof *cs);
	for (size_t i = 0; cs && i < m; i++)
		cs[(*n)++] = (struct callers_site){v->sites[i].stack_id, v->sites[i].live_bytes,
						   v->sites[i].live_blocks, v->sites[i].allocs};
	urcu_memb_read_unlock();
	return cs;
}

/* Every site's stack (wrappers folded as view 1 shows them) merged into the caller tree: sites
 * with nothing live and no allocation add nothing. NULL when out of memory. */
static struct ui_ctree *callers_tree(struct session *s, const struct ui_group *g)
{
	size_t n;
	struct callers_site *cs = callers_sites(s, g, &n);
	struct ui_ctree *t = calloc(1, sizeof *t);
	struct model_frame frames[64];
	bool failed = !cs || !t;
	for (size_t i = 0; !failed && i < n; i++) {
		if (!cs[i].bytes && !cs[i].blocks && !cs[i].allocs)
			continue;
		int depth = cs[i].stack_id ? model_site_stack(s, cs[i].stack_id, frames, 64) : 0;
		if (depth <= 0) { /* one node that says "(no stack)" */
			frames[0] = (struct model_frame){0};
			depth = 1;
		}
		failed = ui_ctree_add(t, frames, depth, cs[i].bytes, cs[i].blocks, cs[i].allocs) != 0;
	}
	free(cs);
	if (failed && t) {
		ui_ctree_free(t);
		free(t);
		return NULL;
	}
	ui_ctree_sort(t);
	return t;
}

void ui_query_compute(struct session *s, const struct ui_query_req *rq, struct ui_query_res *out)
{
	memset(out, 0, sizeof *out);
	out->req = *rq;
	uint64_t t0 = ui_now_ns();
	uint64_t expire_ns = (uint64_t)rq->expire_s * 1000000000ull;
	bool by_thread = rq->thread_filter != MODEL_ANY_THREAD;
	switch (rq->view) {
	case UI_VIEW_SITES:
		if (by_thread)
			group_walk(out, walk(s, MODEL_WALK_ALL, rq->thread_filter, 0));
		break;
	case UI_VIEW_WALK:
		out->walk = walk(s, MODEL_WALK_ALL, rq->thread_filter, 0);
		ui_walk_rows_build(s, out->walk, &rq->order, &out->rows);
		break;
	case UI_VIEW_INCREMENTAL:
		/* Without a mark every block is "since the mark": not worth a copy nobody sees. */
		if (rq->marked)
			out->walk = walk(s, MODEL_WALK_SINCE_MARK, rq->thread_filter, 0);
		ui_walk_rows_build(s, out->walk, &rq->order, &out->rows);
		break;
	case UI_VIEW_MAPS:
		out->maps = model_maps_compute(s, rq->divisions);
		break;
	case UI_VIEW_SUSPECTS:
		out->suspects = model_suspects_compute(s, expire_ns);
		if (by_thread)
			group_walk(out, walk(s, MODEL_WALK_ALL, rq->thread_filter, expire_ns));
		break;
	case UI_VIEW_CALLERS:
		if (by_thread) /* the thread's blocks by stack, as view 1 under the filter */
			group_walk(out, walk(s, MODEL_WALK_ALL, rq->thread_filter, 0));
		out->ctree = callers_tree(s, by_thread ? &out->group : NULL);
		break;
	default:
		break;
	}
	out->cost_ns = ui_now_ns() - t0;
}

void ui_query_res_free(struct ui_query_res *res)
{
	if (res->walk)
		model_walk_free(res->walk);
	ui_walk_rows_free(&res->rows);
	if (res->maps)
		model_maps_free(res->maps);
	if (res->suspects)
		model_suspects_free(res->suspects);
	ui_group_free(&res->group);
	if (res->ctree) {
		ui_ctree_free(res->ctree);
		free(res->ctree);
	}
	memset(res, 0, sizeof *res);
}

/* Installing swaps: what a result replaces goes back into it, so that the caller can free it on
 * the worker (freeing a million-block walk unmaps its arrays and releases its live-set pin:
 * time the UI thread must not pay). */
static void swap_group(struct ui_group *slot, bool *valid, struct ui_group *in, bool in_valid)
{
	struct ui_group old = *slot;
	*slot = *in;
	*valid = in_valid;
	*in = old;
}

#define SWAP_PTR(a, b)                                                                               \
	do {                                                                                         \
		__typeof__(a) swap_tmp_ = (a);                                                      \
		(a) = (b);                                                                           \
		(b) = swap_tmp_;                                                                     \
	} while (0)

void ui_query_release(struct ui *ui, enum ui_view_id view)
{
	if (!walk_view(view))
		return;
	int k = view == UI_VIEW_INCREMENTAL;
	struct ui_table *t = &ui->tables[view];
	struct ui_query_res res = {.req = {.view = view}};
	res.walk = k ? ui->inc_walk : ui->walk;
	res.rows = ui->walk_rows[k];
	res.rows.rows = t->rows;
	if (k)
		ui->inc_walk = NULL;
	else
		ui->walk = NULL;
	memset(&ui->walk_rows[k], 0, sizeof ui->walk_rows[k]);
	memset(&ui->walk_asked[k], 0, sizeof ui->walk_asked[k]);
	t->rows = NULL;
	t->cap = t->n_query = t->n_rows = 0;
	t->built = false;
	ui->query_ns[view] = 0;
	if (ui->worker)
		ui_query_worker_free_later(ui->worker, &res);
	else
		ui_query_res_free(&res);
}

void ui_query_install(struct ui *ui, struct ui_query_res *res)
{
	if (res->req.epoch != ui->query_epoch)
		return; /* asked before the filters or parameters changed: all of it is garbage */
	if (walk_view(res->req.view) && res->req.view != ui->view)
		return; /* the view was left meanwhile: its walk is not kept (ui_query_release) */
	switch (res->req.view) {
	case UI_VIEW_SITES:
		swap_group(&ui->site_group, &ui->site_group_valid, &res->group, res->group_valid);
		break;
	case UI_VIEW_WALK:
	case UI_VIEW_INCREMENTAL:
		ui_walk_install(ui, res->req.view, &res->walk, &res->rows);
		break;
	case UI_VIEW_MAPS:
		SWAP_PTR(ui->maps, res->maps);
		break;
	case UI_VIEW_SUSPECTS:
		SWAP_PTR(ui->suspects, res->suspects);
		if (res->req.thread_filter != MODEL_ANY_THREAD)
			swap_group(&ui->suspect_group, &ui->suspect_group_valid, &res->group, res->group_valid);
		break;
	case UI_VIEW_CALLERS:
		SWAP_PTR(ui->ctree, res->ctree);
		ui_callers_rows(ui);
		break;
	default:
		break;
	}
	ui->query_ns[res->req.view] = ui_now_ns();
	ui->query_cost_ns[res->req.view] = res->cost_ns;
	ui->stamp++;
}

/* ------------------------------------------------------------------ answers about strings */

void ui_text_job_free(struct ui_text_job *job)
{
	free(job->keys);
	ui_strcache_free(&job->cache);
	memset(job, 0, sizeof *job);
}

static void text_compute(struct ui_text_job *job)
{
	if (job->kind == UI_TEXT_RANK)
		ui_strcache_rank(&job->cache, job->keys, job->n);
	else
		ui_strcache_match(&job->cache, job->keys, job->n, job->filter);
}

bool ui_query_text_async(struct ui *ui, enum ui_text_kind kind, const char *const *keys, size_t n)
{
	if (!ui->worker || n < UI_TEXT_ASYNC_MIN)
		return false;
	if (kind == UI_TEXT_RANK ? ui->rank_job_pending
				 : ui->match_job_pending && !strcmp(ui->match_job_filter, ui->name_filter))
		return true; /* asked already: its answers cover these rows or will be asked again */
	struct ui_text_job job = {.kind = kind, .n = n};
	job.keys = malloc(n * sizeof *job.keys);
	if (!job.keys)
		return false;
	memcpy(job.keys, keys, n * sizeof *keys);
	if (kind == UI_TEXT_RANK) {
		ui->rank_job_pending = true;
	} else {
		snprintf(job.filter, sizeof job.filter, "%s", ui->name_filter);
		snprintf(ui->match_job_filter, sizeof ui->match_job_filter, "%s", ui->name_filter);
		ui->match_job_pending = true;
	}
	ui_query_worker_post_text(ui->worker, &job);
	return true;
}

void ui_query_text_install(struct ui *ui, struct ui_text_job *job)
{
	struct ui_strcache old;
	if (job->kind == UI_TEXT_RANK) {
		ui->rank_job_pending = false;
		old = ui->rank_cache;
		ui->rank_cache = job->cache;
	} else {
		if (strcmp(job->filter, ui->match_job_filter) == 0)
			ui->match_job_pending = false;
		if (strcmp(job->filter, ui->name_filter) != 0) {
			ui_text_job_free(job); /* the filter changed again meanwhile */
			return;
		}
		old = ui->match_cache;
		ui->match_cache = job->cache;
		snprintf(ui->match_filter, sizeof ui->match_filter, "%s", job->filter);
	}
	job->cache = old;
	ui_text_job_free(job);
	ui->stamp++;
}

/* ------------------------------------------------------------------ the worker */

struct ui_query_worker {
	struct session *s;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool has_req, running, has_res, stop;
	struct ui_query_req req;
	struct ui_query_res res;
	struct ui_query_res trash[4]; /* replaced results, freed by the worker */
	int n_trash;
	bool has_text, text_running, has_text_res;
	struct ui_text_job text, text_res;
};

/* A text job (milliseconds) runs before a query (up to a second): it unblocks a visible table. */
static void run_text_job(struct ui_query_worker *w)
{
	struct ui_text_job job = w->text;
	memset(&w->text, 0, sizeof w->text);
	w->has_text = false;
	w->text_running = true;
	pthread_mutex_unlock(&w->lock);
	text_compute(&job);
	pthread_mutex_lock(&w->lock);
	w->text_running = false;
	if (w->has_text_res)
		ui_text_job_free(&w->text_res);
	w->text_res = job;
	w->has_text_res = true;
}

static void free_trash(struct ui_query_worker *w)
{
	while (w->n_trash > 0) {
		struct ui_query_res r = w->trash[--w->n_trash];
		pthread_mutex_unlock(&w->lock);
		ui_query_res_free(&r);
		pthread_mutex_lock(&w->lock);
	}
}

static void *worker_main(void *arg)
{
	struct ui_query_worker *w = arg;
	urcu_memb_register_thread();
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->has_req && !w->has_text && !w->n_trash && !w->stop)
			pthread_cond_wait(&w->wake, &w->lock);
		if (w->stop)
			break;
		if (w->has_text)
			run_text_job(w);
		free_trash(w);
		if (!w->has_req)
			continue;
		struct ui_query_req rq = w->req;
		w->has_req = false;
		w->running = true;
		pthread_mutex_unlock(&w->lock);
		struct ui_query_res res;
		ui_query_compute(w->s, &rq, &res);
		pthread_mutex_lock(&w->lock);
		w->running = false;
		if (w->has_res)
			ui_query_res_free(&w->res); /* the UI never took the previous one: newer wins */
		w->res = res;
		w->has_res = true;
	}
	pthread_mutex_unlock(&w->lock);
	urcu_memb_unregister_thread();
	return NULL;
}

struct ui_query_worker *ui_query_worker_start(struct session *s)
{
	struct ui_query_worker *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->s = s;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->wake);
		free(w);
		return NULL;
	}
	return w;
}

void ui_query_worker_post(struct ui_query_worker *w, const struct ui_query_req *rq)
{
	pthread_mutex_lock(&w->lock);
	w->req = *rq;
	w->has_req = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

bool ui_query_worker_take(struct ui_query_worker *w, struct ui_query_res *out)
{
	pthread_mutex_lock(&w->lock);
	bool got = w->has_res;
	if (got) {
		*out = w->res;
		memset(&w->res, 0, sizeof w->res);
		w->has_res = false;
	}
	pthread_mutex_unlock(&w->lock);
	return got;
}

void ui_query_worker_free_later(struct ui_query_worker *w, struct ui_query_res *res)
{
	pthread_mutex_lock(&w->lock);
	bool queued = w->n_trash < (int)(sizeof w->trash / sizeof w->trash[0]);
	if (queued) {
		w->trash[w->n_trash++] = *res;
		pthread_cond_signal(&w->wake);
	}
	pthread_mutex_unlock(&w->lock);
	if (!queued)
		ui_query_res_free(res); /* never happens in practice: one result per query */
	else
		memset(res, 0, sizeof *res);
}

void ui_query_worker_post_text(struct ui_query_worker *w, struct ui_text_job *job)
{
	pthread_mutex_lock(&w->lock);
	if (w->has_text)
		ui_text_job_free(&w->text); /* not started: the newer one replaces it */
	w->text = *job;
	w->has_text = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	memset(job, 0, sizeof *job);
}

bool ui_query_worker_take_text(struct ui_query_worker *w, struct ui_text_job *out)
{
	pthread_mutex_lock(&w->lock);
	bool got = w->has_text_res;
	if (got) {
		*out = w->text_res;
		memset(&w->text_res, 0, sizeof w->text_res);
		w->has_text_res = false;
	}
	pthread_mutex_unlock(&w->lock);
	return got;
}

bool ui_query_worker_busy(struct ui_query_worker *w)
{
	pthread_mutex_lock(&w->lock);
	bool busy = w->has_req || w->running || w->has_text || w->text_running;
	pthread_mutex_unlock(&w->lock);
	return busy;
}

void ui_query_worker_stop(struct ui_query_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	if (w->has_res)
		ui_query_res_free(&w->res);
	while (w->n_trash > 0)
		ui_query_res_free(&w->trash[--w->n_trash]);
	ui_text_job_free(&w->text);
	ui_text_job_free(&w->text_res);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->wake);
	free(w);
}
