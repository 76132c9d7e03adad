/* ui_glyphs: the cells of the sparkline and the memory-map heatmap, as levels and glyph strings,
 * in Unicode block characters or an ASCII fallback. Pure computation: must never call curses. */
#ifndef MEMTOP_UI_GLYPHS_H
#define MEMTOP_UI_GLYPHS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UI_SPARK_LEVELS 8

/* Levels (0 = nothing, 1..8) for the last `width` samples, scaled so that the largest sample in
 * that window is 8 and any non-zero sample is at least 1. Columns before the oldest sample get 0.
 * Returns the maximum sample of the window (the scale). */
uint64_t ui_spark_levels(const uint64_t *samples, size_t n, size_t width, uint8_t *levels);

enum ui_heat_kind {
	UI_HEAT_NOT_RESIDENT = 0, /* no live bytes and no resident page (or residency unknown) */
	UI_HEAT_RESIDENT_EMPTY,   /* pages resident but no live heap: fragmentation, shown loudly */
	UI_HEAT_USED,             /* live bytes: level 1..8 by density */
};
struct ui_heat_cell {
	enum ui_heat_kind kind;
	uint8_t level; /* 1..8 for UI_HEAT_USED */
};

/* Reduces `divisions` heat divisions of a mapping of `span` bytes to `cells` display cells (cells <=
 * divisions merges neighbours; cells > divisions is clamped to divisions). Returns the number of cells
 * written. resident may be NULL (unknown). */
size_t ui_heat_cells(const uint64_t *heat_bytes, const uint8_t *resident, size_t divisions,
		     uint64_t span, size_t cells, struct ui_heat_cell *out);

/* Glyph strings for the current charset (ui_glyphs_set_utf8). */
void ui_glyphs_set_utf8(bool utf8);
const char *ui_glyph_spark(uint8_t level);       /* 0..8 */
const char *ui_glyph_heat(struct ui_heat_cell c);

#endif
