/* ui_stats: per-frame CPU of the dashboard thread and per-query wall time of the worker, kept only
 * under MEMTOP_UI_STATS=1 and printed on exit as mean, p99 and max. Must never touch curses. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ui_stats.h"

struct sample_set {
	uint32_t *us; /* microseconds, saturated */
	size_t n, cap;
};

struct ui_stats {
	struct sample_set frames, view_frames[UI_VIEW_COUNT];
	uint64_t queries, query_ns, query_max_ns;
	uint64_t view_query_max_ns[UI_VIEW_COUNT];
};

struct ui_stats *ui_stats_new(void)
{
	if (!getenv("MEMTOP_UI_STATS"))
		return NULL;
	return calloc(1, sizeof(struct ui_stats));
}

uint64_t ui_stats_thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sample_add(struct sample_set *s, uint64_t ns)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		uint32_t *us = realloc(s->us, cap * sizeof *us);
		if (!us)
			return;
		s->us = us;
		s->cap = cap;
	}
	uint64_t us = ns / 1000;
	s->us[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

void ui_stats_frame(struct ui_stats *st, enum ui_view_id view, uint64_t cpu_ns)
{
	if (!st)
		return;
	sample_add(&st->frames, cpu_ns);
	if (view < UI_VIEW_COUNT)
		sample_add(&st->view_frames[view], cpu_ns);
}

void ui_stats_query(struct ui_stats *st, enum ui_view_id view, uint64_t wall_ns)
{
	if (!st)
		return;
	st->queries++;
	st->query_ns += wall_ns;
	if (wall_ns > st->query_max_ns)
		st->query_max_ns = wall_ns;
	if (view < UI_VIEW_COUNT && wall_ns > st->view_query_max_ns[view])
		st->view_query_max_ns[view] = wall_ns;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* "N frames, CPU per frame mean A ms p99 B ms max C ms" */
static void print_frames(const char *what, struct sample_set *s)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < s->n; i++)
		sum += s->us[i];
	if (s->n > 1)
		qsort(s->us, s->n, sizeof *s->us, cmp_u32);
	size_t p99 = s->n ? (size_t)((double)(s->n - 1) * 0.99 + 0.5) : 0;
	fprintf(stderr, "memtop ui: %s%zu frames, CPU per frame mean %.3f ms p99 %.3f ms max %.3f ms\n", what,
		s->n, s->n ? (double)sum / (double)s->n / 1e3 : 0.0, s->n ? s->us[p99] / 1e3 : 0.0,
		s->n ? s->us[s->n - 1] / 1e3 : 0.0);
}

void ui_stats_print_free(struct ui_stats *st)
{
	if (!st)
		return;
	print_frames("", &st->frames);
	for (int i = 0; i < UI_VIEW_COUNT; i++) {
		char what[64];
		if (!st->view_frames[i].n)
			continue;
		snprintf(what, sizeof what, "view %d %s: ", i + 1, ui_view_ops_of((enum ui_view_id)i)->name);
		print_frames(what, &st->view_frames[i]);
	}
	fprintf(stderr, "memtop ui: %" PRIu64 " queries (wall time on the query thread), mean %.1f ms max %.1f ms\n",
		st->queries, st->queries ? (double)st->query_ns / (double)st->queries / 1e6 : 0.0,
		(double)st->query_max_ns / 1e6);
	fprintf(stderr, "memtop ui: slowest query per view (ms):");
	for (int i = 0; i < UI_VIEW_COUNT; i++)
		fprintf(stderr, " %d:%.1f", i + 1, (double)st->view_query_max_ns[i] / 1e6);
	fprintf(stderr, "\n");
	free(st->frames.us);
	for (int i = 0; i < UI_VIEW_COUNT; i++)
		free(st->view_frames[i].us);
	free(st);
}
