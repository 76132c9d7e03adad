/* ui_glyphs: sparkline and heatmap cell levels plus their Unicode/ASCII glyphs.
 * Pure computation on arrays handed in: must never call curses or read the model. */
#include "ui_glyphs.h"

static bool glyphs_utf8;

void ui_glyphs_set_utf8(bool utf8)
{
	glyphs_utf8 = utf8;
}

/* Index 0 is "nothing here"; 1..8 rise in height/density. */
static const char *const spark_utf8[] = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
static const char *const spark_ascii[] = {" ", "_", ".", ",", "-", "~", "=", "*", "#"};
static const char *const heat_utf8[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
static const char *const heat_ascii[] = {"1", "2", "3", "4", "5", "6", "7", "8"};

static uint8_t scale_level(uint64_t v, uint64_t max)
{
	if (v == 0 || max == 0)
		return 0;
	/* Round up so that any non-zero value is visible. */
	uint64_t level = (v * UI_SPARK_LEVELS + max - 1) / max;
	if (v > UINT64_MAX / UI_SPARK_LEVELS) /* avoid overflow for huge values */
		level = (v / (max / UI_SPARK_LEVELS + 1)) + 1;
	if (level < 1)
		level = 1;
	if (level > UI_SPARK_LEVELS)
		level = UI_SPARK_LEVELS;
	return (uint8_t)level;
}

uint64_t ui_spark_levels(const uint64_t *samples, size_t n, size_t width, uint8_t *levels)
{
	size_t shown = n < width ? n : width;
	const uint64_t *window = samples + (n - shown);
	uint64_t max = 0;
	for (size_t i = 0; i < shown; i++)
		if (window[i] > max)
			max = window[i];
	size_t pad = width - shown;
	for (size_t i = 0; i < pad; i++)
		levels[i] = 0;
	for (size_t i = 0; i < shown; i++)
		levels[pad + i] = scale_level(window[i], max);
	return max;
}

size_t ui_heat_cells(const uint64_t *heat_bytes, const uint8_t *resident, size_t divisions,
		     uint64_t span, size_t cells, struct ui_heat_cell *out)
{
	if (divisions == 0 || cells == 0)
		return 0;
	if (cells > divisions)
		cells = divisions;
	for (size_t c = 0; c < cells; c++) {
		size_t from = c * divisions / cells;
		size_t to = (c + 1) * divisions / cells;
		uint64_t bytes = 0;
		unsigned res = 0;
		for (size_t d = from; d < to; d++) {
			bytes += heat_bytes[d];
			if (resident && resident[d] > res)
				res = resident[d];
		}
		uint64_t cell_span = span / divisions * (to - from);
		if (cell_span == 0)
			cell_span = 1;
		if (bytes > 0) {
			/* Density of live bytes in the cell's stretch of address space. */
			uint64_t level = bytes >= cell_span ? 8 : (bytes * 8 + cell_span - 1) / cell_span;
			out[c].kind = UI_HEAT_USED;
			out[c].level = (uint8_t)(level < 1 ? 1 : level > 8 ? 8 : level);
		} else {
			out[c].kind = res > 0 ? UI_HEAT_RESIDENT_EMPTY : UI_HEAT_NOT_RESIDENT;
			out[c].level = 0;
		}
	}
	return cells;
}

const char *ui_glyph_spark(uint8_t level)
{
	if (level > UI_SPARK_LEVELS)
		level = UI_SPARK_LEVELS;
	return glyphs_utf8 ? spark_utf8[level] : spark_ascii[level];
}

const char *ui_glyph_heat(struct ui_heat_cell c)
{
	switch (c.kind) {
	case UI_HEAT_RESIDENT_EMPTY:
		return glyphs_utf8 ? "░" : "!";
	case UI_HEAT_USED: {
		uint8_t l = c.level < 1 ? 1 : c.level > 8 ? 8 : c.level;
		return glyphs_utf8 ? heat_utf8[l - 1] : heat_ascii[l - 1];
	}
	case UI_HEAT_NOT_RESIDENT:
	default:
		return glyphs_utf8 ? "·" : ".";
	}
}
