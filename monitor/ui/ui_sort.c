/* ui_sort: stable radix sort of (key, row) pairs and a string sort for text columns.
 * Pure: must never call curses or the model. */
#include <stdlib.h>
#include <string.h>

#include "ui_sort.h"

struct ui_sort_item *ui_sort_numeric(struct ui_sort_item *items, struct ui_sort_item *tmp, size_t n,
				     bool ascending)
{
	uint64_t flip = ascending ? 0 : ~0ull;
	uint64_t all_or = 0, all_and = ~0ull;
	for (size_t i = 0; i < n; i++) {
		items[i].key ^= flip;
		all_or |= items[i].key;
		all_and &= items[i].key;
	}
	struct ui_sort_item *src = items, *dst = tmp;
	for (int shift = 0; shift < 64; shift += 8) {
		/* Skip a pass when every key has the same byte there (common: small sizes). */
		if ((((all_or ^ all_and) >> shift) & 0xff) == 0)
			continue;
		size_t count[257] = {0};
		for (size_t i = 0; i < n; i++)
			count[((src[i].key >> shift) & 0xff) + 1]++;
		for (int b = 0; b < 256; b++)
			count[b + 1] += count[b];
		for (size_t i = 0; i < n; i++)
			dst[count[(src[i].key >> shift) & 0xff]++] = src[i];
		struct ui_sort_item *t = src;
		src = dst;
		dst = t;
	}
	for (size_t i = 0; i < n; i++)
		src[i].key ^= flip;
	return src;
}

static int cmp_text_asc(const void *a, const void *b)
{
	const struct ui_sort_text *x = a, *y = b;
	int c = strcmp(x->key ? x->key : "", y->key ? y->key : "");
	if (c)
		return c;
	return (x->row > y->row) - (x->row < y->row);
}

static int cmp_text_desc(const void *a, const void *b)
{
	const struct ui_sort_text *x = a, *y = b;
	int c = strcmp(y->key ? y->key : "", x->key ? x->key : "");
	if (c)
		return c;
	return (x->row > y->row) - (x->row < y->row);
}

void ui_sort_strings(struct ui_sort_text *items, size_t n, bool ascending)
{
	if (n > 1)
		qsort(items, n, sizeof *items, ascending ? cmp_text_asc : cmp_text_desc);
}
