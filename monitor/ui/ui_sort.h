/* ui_sort: orders table rows by a 64-bit key (stable LSD radix sort) or by a string, so that
 * re-sorting 50 000 call sites or a million blocks stays far below a frame's budget.
 * Pure: must never call curses or the model. */
#ifndef MEMTOP_UI_SORT_H
#define MEMTOP_UI_SORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ui_sort_item {
	uint64_t key;
	uint32_t row;
};

/* Sorts items by key (ascending or descending); equal keys keep their input order.
 * tmp must hold n items. Returns the array holding the result (items or tmp). */
struct ui_sort_item *ui_sort_numeric(struct ui_sort_item *items, struct ui_sort_item *tmp, size_t n,
				     bool ascending);

struct ui_sort_text {
	const char *key; /* NULL sorts as "" */
	uint32_t row;
};
/* Sorts by strcmp of key, ties by row (so the order is total and repeatable). */
void ui_sort_strings(struct ui_sort_text *items, size_t n, bool ascending);

/* Signed and floating keys mapped to unsigned keys with the same order. */
static inline uint64_t ui_sort_key_signed(int64_t v)
{
	return (uint64_t)v ^ (1ull << 63);
}
static inline uint64_t ui_sort_key_double(double v)
{
	return v > 0 ? (uint64_t)(v * 1000.0) : 0;
}

#endif
