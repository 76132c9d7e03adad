/* view: builds the immutable model_view from the engine on the ingest thread and publishes it with
 * rcu_assign_pointer; old views come back with call_rcu, to be reused. O(call sites + threads +
 * tags) per build, the sites from what changed (view_sites.c): it must never walk the live set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "proc/segcheck.h"
#include "session/session_internal.h"
#include "symbols/symbols.h"

struct model_view_box {
	struct rcu_head rcu;
	struct session *owner; /* its spare_view slot takes the box back when readers left it */
	size_t bytes;          /* mapped size when mapped, 0 when from malloc */
	size_t cap;            /* usable size from the box's start */
	struct model_view v;
};

/* A view of 50 k call sites is a few MiB, built 5 times a second and freed on the call_rcu thread.
 * From malloc, each slightly bigger view lands above the freed hole and the arena only grows
 * (measured: +45 MiB over a 40 s cc1 run); mapped views go back to the kernel when freed. */
#define VIEW_MMAP_MIN (256u << 10)

static void view_release(struct model_view_box *b)
{
	if (b && b->bytes)
		munmap(b, b->bytes);
	else
		free(b);
}

/* The view readers left last (spare_view) when it is big enough: its pages are already mapped
 * (fresh ones cost a fault each: most of a 50 k-site publish's time); else a new one, mapped with
 * an eighth to spare so that a growing table does not map anew every time. */
static struct model_view_box *view_alloc(struct session *s, size_t bytes)
{
	struct model_view_box *b = __atomic_exchange_n(&s->spare_view, NULL, __ATOMIC_ACQ_REL);
	if (b && b->cap >= bytes)
		return b;
	view_release(b);
	if (bytes < VIEW_MMAP_MIN) {
		b = malloc(bytes);
		if (b) {
			b->bytes = 0;
			b->cap = bytes;
		}
	} else {
		size_t len = bytes + bytes / 8;
		/* populated: one kernel entry, not one fault per page (written whole right away) */
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		b = p;
		b->bytes = b->cap = len;
	}
	if (b)
		b->owner = s;
	return b;
}

static uint64_t self_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "re");
	unsigned long size = 0, rss = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &rss) != 2)
		rss = 0;
	fclose(f);
	return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* The target exited or was killed: the rates published from here on are 0. */
static bool target_gone(struct session *s)
{
	enum model_state st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
	return st == MODEL_STATE_EXITED || st == MODEL_STATE_CRASHED;
}

static void fill_threads(struct session *s, struct model_thread *out, size_t n)
{
	bool gone = target_gone(s);
	for (size_t i = 0; i < n; i++) {
		const struct engine_thread *t = &s->eng.threads[i];
		struct model_thread *m = &out[i];
		memset(m, 0, sizeof(*m));
		m->id = (uint32_t)i;
		m->tid = t->tid;
		memcpy(m->name, t->name, sizeof(m->name));
		m->name[15] = '\0';
		m->alive = t->alive && s->state == MODEL_STATE_RUNNING;
		m->live_bytes = t->live_bytes;
		m->live_blocks = t->live_blocks;
		m->allocs = t->allocs;
		m->frees = t->frees;
		m->allocs_per_s = gone ? 0 : t->allocs_per_s; /* see fill_totals */
		m->frees_per_s = gone ? 0 : t->frees_per_s;
		m->cross_frees = t->cross_frees;
	}
}

static void fill_tags(struct session *s, struct model_tag *out, size_t n, uint64_t now)
{
	for (size_t i = 0; i < n; i++) {
		const struct engine_tag *t = &s->eng.tags[i];
		struct model_tag *m = &out[i];
		memset(m, 0, sizeof(*m));
		m->id = t->id;
		m->time_ns = t->time_ns;
		m->seq = t->seq;
		m->age_ns = now > t->time_ns ? now - t->time_ns : 0;
		struct memtop_tag mt;
		if (s->seg_open && shm_tag_read(&s->seg, t->id, &mt) == 0) {
			memcpy(m->name, mt.name, sizeof(m->name));
			m->name[sizeof(m->name) - 1] = '\0';
		} else {
			snprintf(m->name, sizeof m->name, "tag-%u", t->id);
		}
	}
}

/* Time since the target process started (since attach when its start time is unknown). */
static uint64_t target_uptime_ns(const struct session *s, uint64_t now)
{
	uint64_t attached = now - s->attach_mono_ns;
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t boot_ns = shm_clock_ns(CLOCK_BOOTTIME);
	uint64_t start_ns = hz > 0 ? s->target_start_ticks * (1000000000ull / (uint64_t)hz) : 0;
	return start_ns && boot_ns > start_ns ? boot_ns - start_ns : attached;
}

/* The counts the rates and totals come from. A reader (beside another monitor) applies no events:
 * its counts are the target's own counters, which the preload keeps whoever drains the ring. */
static void counted(const struct session *s, uint64_t *allocs, uint64_t *frees, uint64_t *bytes)
{
	if (s->reader) {
		*allocs = s->target_totals.allocs;
		*frees = s->target_totals.frees;
		*bytes = s->target_totals.req_bytes;
	} else {
		*allocs = s->eng.allocs;
		*frees = s->eng.frees;
		*bytes = s->eng.bytes_allocated;
	}
}

/* Periodic samples: sparkline, growth, rates, own memory. */
static void take_samples(struct session *s, uint64_t now)
{
	/* Also after the target is gone: the final publish must carry the final counters (they no
	 * longer change, and the read is SIGBUS-guarded). First: a reader's rates are made of them. */
	if (s->seg_open) {
		struct memtop_counters c;
		if (segcheck_counters(&s->seg, target_uptime_ns(s, now), &c))
			s->target_totals = c;
		else if (shm_totals(&s->seg, &c) == 0 && !s->segment_damaged)
			/* readable but impossible: scribbled. Keep the last sane figures. */
			__atomic_store_n(&s->segment_damaged, true, __ATOMIC_RELEASE);
	}
	uint64_t allocs, frees, bytes;
	counted(s, &allocs, &frees, &bytes);
	if (now - s->last_history_ns >= (uint64_t)s->opt.history_ms * 1000000ull) {
		s->history[s->history_pos] = s->eng.live_bytes;
		s->history_pos = (s->history_pos + 1) % MODEL_HISTORY_MAX;
		if (s->history_n < MODEL_HISTORY_MAX)
			s->history_n++;
		s->last_history_ns = now;
	}
	if (now - s->last_growth_ns >= (uint64_t)s->opt.growth_ms * 1000000ull) {
		engine_sample_growth(&s->eng);
		s->last_growth_ns = now;
	}
	if (now - s->last_rate_ns >= 1000000000ull) {
		double sec = s->last_rate_ns ? (double)(now - s->last_rate_ns) / 1e9 : 0;
		if (sec > 0) {
			s->allocs_per_s = (double)(allocs - s->rate_allocs) / sec;
			s->frees_per_s = (double)(frees - s->rate_frees) / sec;
			s->bytes_per_s = (double)(bytes - s->rate_bytes) / sec;
			s->events_per_s = (double)(s->eng.events - s->rate_events) / sec;
			engine_sample_rates(&s->eng, sec);
		}
		s->rate_allocs = allocs;
		s->rate_frees = frees;
		s->rate_bytes = bytes;
		s->rate_events = s->eng.events;
		s->last_rate_ns = now;
		s->monitor_rss = self_rss_bytes();
	}
}

static void fill_totals(struct session *s, struct model_totals *t)
{
	const struct engine *e = &s->eng;
	memset(t, 0, sizeof(*t));
	t->live_bytes = e->live_bytes;
	t->live_blocks = e->live_blocks;
	t->peak_bytes = e->peak_bytes;
	t->peak_blocks = e->peak_blocks;
	t->temporary_allocs = e->temporary;
	memcpy(t->size_hist, e->size_hist, sizeof t->size_hist);
	counted(s, &t->allocs, &t->frees, &t->bytes_allocated);
	t->bytes_freed = e->bytes_freed;
	t->unknown_frees = e->unknown_frees;
	t->dropped_events = s->target_totals.dropped;
	t->skipped_events = s->skipped_tickets;
	t->invalid_events = e->invalid_events;
	t->lost_events = t->dropped_events + t->skipped_events + t->invalid_events;
	t->duplicate_allocs = e->duplicate_allocs;
	t->events = e->events;
	/* A gone target allocates nothing: the last second's rates would stay on screen for ever
	 * (no event comes to renew them). */
	if (target_gone(s))
		t->allocs_per_s = t->frees_per_s = t->bytes_per_s = t->events_per_s = 0;
	else {
		t->allocs_per_s = s->allocs_per_s;
		t->frees_per_s = s->frees_per_s;
		t->bytes_per_s = s->bytes_per_s;
		t->events_per_s = s->events_per_s;
	}
	t->target_allocs = s->target_totals.allocs;
	t->target_frees = s->target_totals.frees;
	t->target_usable_in_use = s->target_totals.usable_alloc - s->target_totals.usable_freed;
	t->target_untracked = s->target_totals.untracked;
	t->segment_bytes = s->seg.size;
	t->monitor_bytes = s->monitor_rss;
	t->model_bytes = liveset_memory(&e->live) + (uint64_t)e->sites_cap * sizeof(*e->sites) +
			 (uint64_t)e->threads_cap * sizeof(*e->threads) +
			 (uint64_t)e->site_ids_cap * sizeof(uint32_t);
	t->overhead_bytes = t->segment_bytes + t->monitor_bytes;
	struct memtop_seg_header h; /* one copy: checked, then used */
	if (s->seg_open && shm_header_read(&s->seg, &h) == 0) {
		if (h.stacks_used <= (uint64_t)s->seg.stacks_cap + 1) {
			t->stacks_used = h.stacks_used ? h.stacks_used - 1 : 0;
			t->stacks_overflow = h.stacks_overflow;
		} else {
			__atomic_store_n(&s->segment_damaged, true, __ATOMIC_RELEASE);
		}
	}
}

/* Every count that means the live set is not exact (model_session_info.approximate). Unknown frees
 * count only when tracking started with the process: after a late attach they are the frees of
 * blocks allocated before it. */
static bool view_live_set_inexact(const struct model_totals *t, const struct model_session_info *m)
{
	return t->lost_events || t->duplicate_allocs || (m->from_start && t->unknown_frees) ||
	       m->segment_truncated || m->segment_damaged;
}

static void fill_session(struct session *s, struct model_session_info *m, const struct model_totals *t,
			 uint64_t now)
{
	memset(m, 0, sizeof(*m));
	m->pid = s->pid;
	snprintf(m->exe, sizeof m->exe, "%s", s->exe);
	snprintf(m->command, sizeof m->command, "%s", s->command);
	/* acquire: the main thread may set the state of a target it reaped (exit status first) */
	m->state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
	m->exit_status = __atomic_load_n(&s->exit_status, __ATOMIC_RELAXED);
	m->term_signal = __atomic_load_n(&s->term_signal, __ATOMIC_RELAXED);
	m->attached_ns = now - s->attach_mono_ns;
	m->uptime_ns = target_uptime_ns(s, now);
	m->from_start = s->from_start;
	m->segment_truncated = __atomic_load_n(&s->segment_truncated, __ATOMIC_ACQUIRE);
	m->segment_damaged = __atomic_load_n(&s->segment_damaged, __ATOMIC_ACQUIRE);
	struct memtop_seg_header h;
	bool have_hdr = s->seg_open && shm_header_read(&s->seg, &h) == 0;
	m->allocator_not_bound = have_hdr && (h.flags & MEMTOP_FLAG_NOT_BOUND);
	m->injected_at_ns = have_hdr && (h.flags & MEMTOP_FLAG_INJECTED) ? h.created_realtime_ns : 0;
	m->approximate = view_live_set_inexact(t, m);
	m->live_mode = s->live_mode;
	m->sample_bytes = s->eng.sample_mean;
	m->estimated = s->live_mode == MEMTOP_LIVE_SAMPLED && !s->from_start && !s->held_at_start;
	m->reader = s->reader;
	m->seeded_blocks = s->eng.seeded_blocks;
	m->live_overflow = have_hdr ? h.live_overflow : s->live_overflow;
}

/* On the call_rcu thread: no reader holds the box any more; it becomes the next publish's. */
static void view_free_cb(struct rcu_head *h)
{
	struct model_view_box *b = caa_container_of(h, struct model_view_box, rcu);
	view_release(__atomic_exchange_n(&b->owner->spare_view, b, __ATOMIC_ACQ_REL));
}

void session_publish_view(struct session *s, uint64_t now)
{
	take_samples(s, now);
	size_t ns = s->eng.n_site_ids, nt = s->eng.n_threads, ng = s->eng.n_tags;
	size_t bytes = sizeof(struct model_view_box) + ns * sizeof(struct model_site) +
		       nt * sizeof(struct model_thread) + ng * sizeof(struct model_tag);
	struct model_view_box *box = view_alloc(s, bytes);
	if (!box)
		return;
	struct model_view_box *cur = s->view; /* the publisher is its only writer */
	struct model_site *sites = (struct model_site *)(box + 1);
	if (!view_sites_fill(s, cur ? cur->v.sites : NULL, cur ? cur->v.n_sites : 0, sites, ns)) {
		view_release(box);
		return;
	}
	struct model_view *v = &box->v;
	memset(v, 0, sizeof(*v));
	struct model_thread *threads = (struct model_thread *)(sites + ns);
	struct model_tag *tags = (struct model_tag *)(threads + nt);
	v->generation = __atomic_load_n(&s->view_generation, __ATOMIC_RELAXED) + 1; /* we write it */
	v->built_ns = now;
	fill_totals(s, &v->totals);
	fill_session(s, &v->session, &v->totals, now);
	v->history.interval_ms = s->opt.history_ms;
	v->history.count = s->history_n;
	for (uint32_t i = 0; i < s->history_n; i++) {
		uint32_t first = s->history_n == MODEL_HISTORY_MAX ? s->history_pos : 0;
		v->history.live_bytes[i] = s->history[(first + i) % MODEL_HISTORY_MAX];
	}
	v->timeline = s->eng.timeline;
	fill_threads(s, threads, nt);
	fill_tags(s, tags, ng, now);
	v->n_sites = ns;
	v->sites = sites;
	v->n_threads = nt;
	v->threads = threads;
	v->n_tags = ng;
	v->tags = tags;
	v->marked = s->eng.mark_seq != 0;
	v->mark_age_ns = v->marked ? now - s->eng.mark_time_ns : 0;
	v->since_mark_blocks = s->eng.since_mark_blocks;
	v->since_mark_bytes = s->eng.since_mark_bytes;
	struct model_view_box *old = rcu_xchg_pointer(&s->view, box);
	/* after the swap: a waiter that sees the new generation finds the new view */
	__atomic_store_n(&s->view_generation, v->generation, __ATOMIC_RELEASE);
	if (old)
		urcu_memb_call_rcu(&old->rcu, view_free_cb);
}

const struct model_view *model_view_get(struct session *s)
{
	DEBUG_ASSERT(urcu_memb_read_ongoing());
	struct model_view_box *box = rcu_dereference(s->view);
	return box ? &box->v : NULL;
}

void view_free_all(struct session *s)
{
	struct model_view_box *old = rcu_xchg_pointer(&s->view, NULL);
	if (old) {
		urcu_memb_synchronize_rcu();
		view_release(old);
	}
	urcu_memb_barrier(); /* no view_free_cb left to put a box in spare_view */
	view_release(__atomic_exchange_n(&s->spare_view, NULL, __ATOMIC_ACQ_REL));
	view_sites_free(&s->vsites);
}
