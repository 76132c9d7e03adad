/* bench_ui_refresh: CPU cost of one dashboard refresh against a synthetic model of 1 M live blocks,
 * 50 000 call sites and 64 threads, drawn headless at 160x48 (UTF-8 glyphs). The engine's own cost
 * (publishing views, computing walks) is excluded: only ui_draw_frame is timed, with the thread CPU
 * clock. Prints one line per case: mean and max ms per refresh. Target: < 5 ms. */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu/urcu-memb.h>

#include "fake_model.h"
#include "headless.h"
#include "ui_glyphs.h"
#include "ui_state.h"

static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* new_view: publish a new view before each refresh (the common case: data changed). */
static void run_case(const char *name, struct ui *ui, struct session *s, int frames, bool new_view)
{
	double total = 0, max = 0;
	for (int i = 0; i < frames; i++) {
		if (new_view)
			fake_session_publish(s, 1);
		double t0 = cpu_ms();
		ui_draw_frame(ui);
		double dt = cpu_ms() - t0;
		total += dt;
		if (dt > max)
			max = dt;
	}
	printf("%-52s mean %6.3f ms  max %6.3f ms  (%d refreshes)\n", name, total / frames, max, frames);
}

static void timed(const char *name, struct ui *ui, void (*fn)(struct ui *))
{
	double t0 = cpu_ms();
	fn(ui);
	ui_draw_frame(ui);
	printf("%-52s %6.1f ms (once, on entry / slow timer / key)\n", name, cpu_ms() - t0);
}

static void query_active(struct ui *ui)
{
	ui_query_active(ui);
}

static void bump_stamp(struct ui *ui)
{
	ui->stamp++;
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

	ui_switch_view(ui, UI_VIEW_SITES);
	ui_draw_frame(ui);
	run_case("call sites, new view each refresh", ui, s, frames, true);
	run_case("call sites, redraw (same view)", ui, s, frames, false);
	ui->tables[UI_VIEW_SITES].sort_col = 4; /* by function name */
	ui->tables[UI_VIEW_SITES].ascending = true;
	ui->stamp++;
	run_case("call sites sorted by name, new view each refresh", ui, s, frames, true);
	ui->tables[UI_VIEW_SITES].sort_col = 1; /* by blocks */
	ui->stamp++;
	run_case("call sites sorted by blocks, new view each refresh", ui, s, frames, true);
	snprintf(ui->name_filter, sizeof ui->name_filter, "fn_12");
	ui->stamp++;
	run_case("call sites filtered /fn_12, new view each refresh", ui, s, frames, true);
	ui->name_filter[0] = '\0';
	ui->stamp++;
	ui->stack_open = true;
	run_case("call sites with the stack panel, new view each refresh", ui, s, frames, true);
	ui->stack_open = false;

	ui_switch_view(ui, UI_VIEW_THREADS);
	run_case("threads, new view each refresh", ui, s, frames, true);

	ui_switch_view(ui, UI_VIEW_WALK);
	timed("heap walk: engine walk + first rebuild (1 M rows)", ui, query_active);
	run_case("heap walk, new view each refresh", ui, s, frames, true);
	ui->tables[UI_VIEW_WALK].sort_col = 1; /* by size */
	timed("heap walk: re-sort by size (1 M rows)", ui, bump_stamp);
	ui_table_end(ui, &ui->tables[UI_VIEW_WALK]);
	run_case("heap walk at the last page, new view each refresh", ui, s, frames, true);

	ui_switch_view(ui, UI_VIEW_MAPS);
	query_active(ui);
	run_case("memory map, new view each refresh", ui, s, frames, true);
	ui_switch_view(ui, UI_VIEW_SUSPECTS);
	query_active(ui);
	run_case("leak suspects, new view each refresh", ui, s, frames, true);

	ui_fini(ui);
	free(ui);
	fake_session_free(s);
	headless_close(scr);
	urcu_memb_unregister_thread();
	return 0;
}
