/* ui_query: the per-block queries behind views 1 (under a thread filter), 3, 4, 5 and 6 (walks, maps,
 * suspects), computed off the UI thread by one worker so that a slow walk never freezes the keys and
 * no frame sorts a million rows; also the ranks and filter answers of thousands of strings. A request
 * is a copy of the parameters; results are installed by the UI thread only, and what they replace is
 * freed on the worker. The worker must never touch struct ui. */
#ifndef MEMTOP_UI_QUERY_H
#define MEMTOP_UI_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "ui_state.h"

struct ui_query_req {
	enum ui_view_id view;
	uint32_t thread_filter; /* MODEL_ANY_THREAD or a thread id */
	unsigned expire_s;
	unsigned divisions;
	uint64_t epoch;         /* ui->query_epoch when asked: older results are discarded */
	bool marked;            /* view 4: a mark is set (else there is nothing to walk) */
	struct ui_walk_order order; /* views 3 and 4: how the rows are filtered and sorted */
};

struct ui_query_res {
	struct ui_query_req req;
	struct model_walk *walk;
	struct ui_walk_rows rows; /* walk's rows in req.order */
	struct model_maps *maps;
	struct model_suspects *suspects;
	struct ui_group group;
	bool group_valid;
	struct ui_ctree *ctree;   /* view 7 */
	uint64_t cost_ns;       /* wall time of the computation */
};

/* Does this view have a per-block result at all (under the current filters)? */
bool ui_query_needed(const struct ui *ui, enum ui_view_id view);
/* Does the active view show rows in an order (sort, name filter) that the worker has not been asked
 * for yet? Then it needs a query: the UI thread never sorts a walk itself. */
bool ui_query_order_stale(const struct ui *ui);
/* The request for the active view with the current parameters. */
struct ui_query_req ui_query_request_of(const struct ui *ui);
/* Computes a result (any registered thread). */
void ui_query_compute(struct session *s, const struct ui_query_req *rq, struct ui_query_res *out);
/* Installs a result into the UI (UI thread). What it replaces (or all of res, when it is stale) is
 * left in res: the caller frees it, on the worker if there is one (ui_query_worker_free_later). */
void ui_query_install(struct ui *ui, struct ui_query_res *res);
void ui_query_res_free(struct ui_query_res *res);
/* Drops a view's per-block result when the view is left (a million-block walk is ~50 MB): the heap
 * walks only; it is taken again on entry. */
void ui_query_release(struct ui *ui, enum ui_view_id view);

/* ------------------------------------------------------------------ answers about strings */

/* Ranks (strcmp order) or name-filter answers for the session-interned strings of tens of thousands
 * of rows: computed by the worker, installed into ui->rank_cache / ui->match_cache. */
enum ui_text_kind { UI_TEXT_RANK, UI_TEXT_MATCH };
struct ui_text_job {
	enum ui_text_kind kind;
	const char **keys; /* owned by the job */
	size_t n;
	char filter[64];   /* UI_TEXT_MATCH: the name filter */
	struct ui_strcache cache;
};
/* Below this many strings the UI thread answers at once (it costs well under a millisecond). */
#define UI_TEXT_ASYNC_MIN 4096
/* Asks the worker for the answers about keys (the current name filter for UI_TEXT_MATCH), unless
 * it is already working on them. False when the caller must compute them itself (no worker, or few
 * keys). The answers arrive later through ui_query_text_install. */
bool ui_query_text_async(struct ui *ui, enum ui_text_kind kind, const char *const *keys, size_t n);
/* Installs finished answers (UI thread); consumes job. */
void ui_query_text_install(struct ui *ui, struct ui_text_job *job);
void ui_text_job_free(struct ui_text_job *job);

/* The worker. start returns -1 when the thread cannot be created (queries then run inline). */
struct ui_query_worker;
struct ui_query_worker *ui_query_worker_start(struct session *s);
/* Replaces any request not yet started. */
void ui_query_worker_post(struct ui_query_worker *w, const struct ui_query_req *rq);
/* Replaces any text job not yet started; takes job's keys. */
void ui_query_worker_post_text(struct ui_query_worker *w, struct ui_text_job *job);
/* Takes finished answers if there are some. */
bool ui_query_worker_take_text(struct ui_query_worker *w, struct ui_text_job *out);
/* Takes a finished result if there is one. */
bool ui_query_worker_take(struct ui_query_worker *w, struct ui_query_res *out);
/* Hands a result to the worker to free (big walks cost milliseconds to unmap); empties res. */
void ui_query_worker_free_later(struct ui_query_worker *w, struct ui_query_res *res);
/* True while a request is queued or running. */
bool ui_query_worker_busy(struct ui_query_worker *w);
/* Waits for the running query to end, then stops the thread. */
void ui_query_worker_stop(struct ui_query_worker *w);

#endif
