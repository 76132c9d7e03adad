/* history: what the engine keeps over time rather than per event: the live-bytes timeline (a
 * point when due, with the extremes of its bucket; thinned when full), the growth samples of each
 * call site and the per-thread rates, the dirty-site list's epoch and the thread slots' owners
 * (publish time), and the mark of the incremental walk. WRITER ONLY (the ingest thread). */
#include "engine/engine.h"
#include "debug_assert.h"

void engine_timeline_point(struct engine *e, uint64_t ts_ns)
{
	struct model_timeline *tl = &e->timeline;
	if (!tl->step_ms) { /* the first event: the line starts here, one point per ms at first */
		tl->step_ms = 1;
		e->timeline_base_ns = ts_ns;
	}
	if (tl->n == MODEL_TIMELINE_MAX) { /* full: pairs merge (the first's point, both's extremes) */
		for (uint32_t i = 0; i < MODEL_TIMELINE_MAX / 2; i++) {
			uint32_t a = 2 * i, b = 2 * i + 1;
			tl->t_ms[i] = tl->t_ms[a];
			tl->live_bytes[i] = tl->live_bytes[a];
			tl->max_bytes[i] = tl->max_bytes[a] > tl->max_bytes[b] ? tl->max_bytes[a] : tl->max_bytes[b];
			tl->min_bytes[i] = tl->min_bytes[a] < tl->min_bytes[b] ? tl->min_bytes[a] : tl->min_bytes[b];
		}
		tl->n = MODEL_TIMELINE_MAX / 2;
		tl->step_ms *= 2;
	}
	uint64_t t_ms = ts_ns > e->timeline_base_ns ? (ts_ns - e->timeline_base_ns) / 1000000u : 0;
	tl->t_ms[tl->n] = t_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)t_ms;
	tl->live_bytes[tl->n] = tl->max_bytes[tl->n] = tl->min_bytes[tl->n] = e->live_bytes;
	tl->n++;
	e->timeline_next_ns = e->timeline_base_ns + (t_ms + tl->step_ms) * 1000000u;
}

/* ---- periodic samples (publish time, not per event) ---- */

void engine_sites_clean(struct engine *e)
{
	DEBUG_ASSERT_OWNER(&e->writer);
	e->n_dirty = 0;
	e->dirty_all = false;
	if (__builtin_expect(++e->dirty_epoch == 0, 0)) { /* after 2^32 publishes: no old epoch left */
		for (uint32_t i = 0; i < e->n_site_ids; i++)
			engine_site(e, e->site_ids[i])->dirty_epoch = 0;
		e->dirty_epoch = 1;
	}
}

void engine_slot_reused(struct engine *e, uint16_t slot)
{
	DEBUG_ASSERT_OWNER(&e->writer);
	if (slot >= e->n_slots)
		return;
	uint32_t id = e->slot_thread[slot];
	if (id != ENGINE_NO_THREAD && id < e->n_threads)
		e->threads[id].alive = false;
	e->slot_thread[slot] = ENGINE_NO_THREAD;
}

void engine_sample_growth(struct engine *e)
{
	e->dirty_all = true; /* every site's growth may change */
	for (uint32_t i = 0; i < e->n_site_ids; i++) {
		struct engine_site *s = engine_site(e, e->site_ids[i]);
		s->hist[s->hist_pos] = s->live_bytes;
		s->hist_pos = (uint8_t)((s->hist_pos + 1) % MODEL_GROWTH_SAMPLES);
		if (s->hist_n < MODEL_GROWTH_SAMPLES)
			s->hist_n++;
	}
}

int64_t engine_site_growth(const struct engine_site *s, bool *growing)
{
	*growing = false;
	if (s->hist_n < 2)
		return 0;
	/* oldest sample is at hist_pos when full, else at 0 */
	unsigned first = s->hist_n == MODEL_GROWTH_SAMPLES ? s->hist_pos : 0;
	uint64_t prev = s->hist[first];
	bool never_fell = true;
	for (unsigned k = 1; k < s->hist_n; k++) {
		uint64_t v = s->hist[(first + k) % MODEL_GROWTH_SAMPLES];
		if (v < prev)
			never_fell = false;
		prev = v;
	}
	int64_t growth = (int64_t)s->live_bytes - (int64_t)s->hist[first];
	*growing = never_fell && s->live_bytes >= prev && growth > 0 &&
		   s->hist_n == MODEL_GROWTH_SAMPLES;
	return growth;
}

void engine_sample_rates(struct engine *e, double seconds)
{
	if (seconds <= 0)
		return;
	for (uint32_t i = 0; i < e->n_threads; i++) {
		struct engine_thread *t = &e->threads[i];
		t->allocs_per_s = (double)(t->allocs - t->rate_allocs) / seconds;
		t->frees_per_s = (double)(t->frees - t->rate_frees) / seconds;
		t->rate_allocs = t->allocs;
		t->rate_frees = t->frees;
	}
}

/* mark_seq is read by walks on other threads (atomic there): stored atomically here. */
void engine_mark_all(struct engine *e, uint64_t now_ns)
{
	DEBUG_ASSERT_OWNER(&e->writer);
	__atomic_store_n(&e->mark_seq, e->next_seq - 1, __ATOMIC_RELAXED);
	e->mark_time_ns = now_ns;
	e->since_mark_bytes = 0;
	e->since_mark_blocks = 0;
}

void engine_unmark(struct engine *e)
{
	DEBUG_ASSERT_OWNER(&e->writer);
	__atomic_store_n(&e->mark_seq, 0, __ATOMIC_RELAXED);
	e->mark_time_ns = 0;
	e->since_mark_bytes = e->live_bytes;
	e->since_mark_blocks = e->live_blocks;
}
