/* ui_stats: MEMTOP_UI_STATS=1 measures the dashboard on a real target: CPU of the UI thread per frame
 * (mean, p99, max, overall and per view) and the worker's query times, printed to stderr on exit
 * (tests/tui/bench_real.sh reads it). Must never draw, nor cost anything when the variable is unset. */
#ifndef MEMTOP_UI_STATS_H
#define MEMTOP_UI_STATS_H

#include <stdint.h>

#include "ui_state.h"

struct ui_stats;

/* NULL when MEMTOP_UI_STATS is not set: every call below then does nothing. */
struct ui_stats *ui_stats_new(void);
/* CPU time of the calling thread, for frame costs. */
uint64_t ui_stats_thread_cpu_ns(void);
/* One frame of the UI thread: everything it did since the previous frame (keys, installing a
 * result, drawing), shown in view. */
void ui_stats_frame(struct ui_stats *st, enum ui_view_id view, uint64_t cpu_ns);
/* One query result: its wall time on the worker. */
void ui_stats_query(struct ui_stats *st, enum ui_view_id view, uint64_t wall_ns);
/* Prints the summary to stderr and frees st. */
void ui_stats_print_free(struct ui_stats *st);

#endif
