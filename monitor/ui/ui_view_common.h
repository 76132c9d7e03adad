/* ui_view_common: helpers the views share: the name and thread filters, the expanded stack panel,
 * and the view table. Internal to monitor/ui/; must never compute model data itself. */
#ifndef MEMTOP_UI_VIEW_COMMON_H
#define MEMTOP_UI_VIEW_COMMON_H

#include "ui_state.h"

bool ui_name_filter_active(const struct ui *ui);
bool ui_thread_filter_active(const struct ui *ui);
/* Does the frame's function, file or module contain the name filter (case-insensitive)? */
bool ui_frame_matches(struct ui *ui, const struct model_frame *f);
/* Starts loading what ui_frame_matches will look up for f (its function's cached answer). */
void ui_frame_match_prefetch(const struct ui *ui, const struct model_frame *f);
/* The active filters, shown first on the title line: "[thread 1234 worker] [/alloc] " or "". */
void ui_fmt_filters(const struct ui *ui, char *buf, size_t n);
/* The expanded stack panel under a table: lines wanted, and drawing it. */
int ui_stack_panel_lines(const struct ui *ui, int avail);
void ui_stack_panel_draw(struct ui *ui, uint32_t stack_id, int y, int h, int w);
/* Enter on a row whose detail is a call stack: open or close the stack panel (an ops->activate). */
void ui_stack_panel_toggle(struct ui *ui, const struct model_view *v, size_t i);
/* "1.2s ago" for a per-block result's age. */
void ui_fmt_result_age(const struct ui *ui, enum ui_view_id id, char *buf, size_t n);

#endif
