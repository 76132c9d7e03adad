/* bench_ui_refresh: CPU cost of one dashboard refresh against a synthetic model of 1 M live blocks,
 * 50 000 call sites and 64 threads, drawn headless at 160x48 (UTF-8 glyphs). The engine's own cost
 * (publishing views, computing walks) is excluded: only ui_draw_frame is timed, with the thread CPU
 * clock; per-block queries are timed apart (memtop runs them on its worker thread). Prints one line
 * per case: mean, p99 and max ms per refresh. Target: < 5 ms for every frame. */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "fake_model.h"
#include "headless.h"
#include "ui_glyphs.h"
#include "ui_query.h"
#include "ui_state.h"

static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void report(const char *name, double *ms, int n)
{
	double total = 0;
	for (int i = 0; i < n; i++)
		total += ms[i];
	qsort(ms, (size_t)n, sizeof *ms, cmp_double);
	int p99 = (int)((n - 1) * 0.99 + 0.5);
	printf("%-58s mean %6.3f  p99 %6.3f  max %6.3f ms  (%d)\n", name, total / n, ms[p99], ms[n - 1], n);
}

/* new_view: publish a new view before each refresh (the common case: data changed). The first frame
 * after a key (new sort, new filter) is included: it is one of the frames. */
static void run_case(const char *name, struct ui *ui, struct session *s, int frames, bool new_view)
{
	double ms[frames];
	for (int i = 0; i < frames; i++) {
		if (new_view)
			fake_session_publish(s, 1);
		double t0 = cpu_ms();
		struct ui_text_job job; /* as memtop's loop: answers the worker finished */
		if (ui->worker && ui_query_worker_take_text(ui->worker, &job))
			ui_query_text_install(ui, &job);
		ui_draw_frame(ui);
		ms[i] = cpu_ms() - t0;
		/* memtop draws every -d seconds: the worker has long finished by the next frame */
		while (ui->worker && ui_query_worker_busy(ui->worker))
			usleep(1000);
	}
	report(name, ms, frames);
}

/* A per-block query as memtop runs it: computed on the worker (timed apart: not the UI thread's
 * CPU), then installed and drawn by the UI thread, each cycle with a new view published. */
static void run_query_case(const char *name, struct ui *ui, struct session *s, int cycles)
{
	double ui_ms[cycles], worker_ms[cycles];
	char line[160];
	for (int i = 0; i < cycles; i++) {
		fake_session_publish(s, 1);
		struct ui_query_req rq = ui_query_request_of(ui);
		struct ui_query_res res;
		double t0 = cpu_ms();
		ui_query_compute(s, &rq, &res);
		double t1 = cpu_ms();
		ui_query_install(ui, &res);
		ui_draw_frame(ui);
		double t2 = cpu_ms();
		ui_query_res_free(&res); /* memtop frees it on the worker */
		ui_ms[i] = t2 - t1;
		worker_ms[i] = t1 - t0 + cpu_ms() - t2;
	}
	snprintf(line, sizeof line, "%s: install + frame (UI thread)", name);
	report(line, ui_ms, cycles);
	snprintf(line, sizeof line, "%s: query (worker thread)", name);
	report(line, worker_ms, cycles);
}

static void sort_by(struct ui *ui, int col, bool ascending)
{
	ui->tables[ui->view].sort_col = col;
	ui->tables[ui->view].ascending = ascending;
	ui_rows_changed(ui);
}

static void name_filter(struct ui *ui, const char *text)
{
	snprintf(ui->name_filter, sizeof ui->name_filter, "%s", text);
	ui_rows_changed(ui);
}

int main(int argc, char **argv)
{
	size_t blocks = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	size_t sites = argc > 2 ? strtoull(argv[2], NULL, 10) : 50000;
	int frames = 50;
	setlocale(LC_ALL, "C.UTF-8");
	urcu_memb_register_thread();
	SCREEN *scr = headless_open(48, 160);
	if (!scr) {
		fprintf(stderr, "bench_ui_refresh: cannot open a headless terminal\n");
		return 1;
	}
	ui_glyphs_set_utf8(true);
	ui_crt_init_attrs(true);
	struct session *s = fake_session_new(sites, 64, blocks);
	struct ui_options o = {0};
	struct ui *ui = calloc(1, sizeof *ui);
	ui_init(ui, s, &o);
	printf("model: %zu live blocks, %zu call sites, 64 threads; screen 160x48\n", blocks, sites);

	/* The worker answers what costs more than a frame (ranks and filter answers of new strings);
	 * the per-block queries below are computed in the open to time them apart. */
	ui->worker = ui_query_worker_start(s);
	ui_switch_view(ui, UI_VIEW_SITES);
	ui_draw_frame(ui);
	run_case("call sites, new view each refresh", ui, s, frames, true);
	run_case("call sites, redraw (same view)", ui, s, frames, false);
	sort_by(ui, 4, true); /* by function name */
	run_case("call sites sorted by name, new view each refresh", ui, s, frames, true);
	sort_by(ui, 1, false); /* by blocks */
	run_case("call sites sorted by blocks, new view each refresh", ui, s, frames, true);
	name_filter(ui, "fn_12");
	run_case("call sites filtered /fn_12, new view each refresh", ui, s, frames, true);
	name_filter(ui, "");
	sort_by(ui, 0, false);
	ui->stack_open = true;
	run_case("call sites with the stack panel, new view each refresh", ui, s, frames, true);
	ui->stack_open = false;

	ui_switch_view(ui, UI_VIEW_THREADS);
	run_case("threads, new view each refresh", ui, s, frames, true);

	ui_query_worker_stop(ui->worker);
	ui->worker = NULL;

	ui_switch_view(ui, UI_VIEW_WALK);
	run_query_case("heap walk by address", ui, s, 5);
	/* Follow a block in the middle: each install finds it again by identity. */
	ui_table_move(ui, &ui->tables[UI_VIEW_WALK], (long)blocks / 2);
	run_case("heap walk, new view each refresh", ui, s, frames, true);
	sort_by(ui, 1, false); /* by size */
	run_query_case("heap walk by size", ui, s, 5);
	sort_by(ui, 5, true); /* by function name */
	run_query_case("heap walk by function", ui, s, 5);
	name_filter(ui, "fn_12");
	run_query_case("heap walk filtered /fn_12", ui, s, 5);
	name_filter(ui, "");
	sort_by(ui, 3, true); /* by age */
	run_query_case("heap walk by age", ui, s, 5);
	ui_table_end(ui, &ui->tables[UI_VIEW_WALK]);
	run_case("heap walk at the last page, new view each refresh", ui, s, frames, true);

	ui_switch_view(ui, UI_VIEW_MAPS);
	ui_query_active(ui);
	run_case("memory map, new view each refresh", ui, s, frames, true);
	ui_switch_view(ui, UI_VIEW_SUSPECTS);
	ui_query_active(ui);
	run_case("leak suspects, new view each refresh", ui, s, frames, true);

	ui_fini(ui);
	free(ui);
	fake_session_free(s);
	headless_close(scr);
	urcu_memb_unregister_thread();
	return 0;
}
