/* ui_draw: small drawing helpers over stdscr: clipped text in a colour meaning, filled bars.
 * Must never decide what to show; callers pass finished strings. */
#include <string.h>
#include <wchar.h>

#include "ui_state.h"

/* Bytes of text that fit in maxw columns, and the columns they take. */
static size_t fit_bytes(const char *text, int maxw, int *cols_out)
{
	mbstate_t st;
	memset(&st, 0, sizeof st);
	size_t len = strlen(text), off = 0;
	int cols = 0;
	while (off < len) {
		wchar_t wc;
		size_t k = mbrtowc(&wc, text + off, len - off, &st);
		int cw;
		if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
			/* Invalid in this locale: count the byte as one column. */
			memset(&st, 0, sizeof st);
			k = 1;
			cw = 1;
		} else {
			cw = wcwidth(wc);
			if (cw < 0)
				cw = 1;
		}
		if (cols + cw > maxw)
			break;
		cols += cw;
		off += k;
	}
	*cols_out = cols;
	return off;
}

int ui_text_width(const char *text)
{
	int cols;
	fit_bytes(text, 1 << 30, &cols);
	return cols;
}

void ui_draw_text(int y, int x, int maxw, enum ui_color c, const char *text)
{
	if (maxw <= 0 || y < 0 || x < 0)
		return;
	int cols;
	size_t bytes = fit_bytes(text, maxw, &cols);
	attrset(ui_attr(c));
	mvaddnstr(y, x, text, (int)bytes);
	attrset(A_NORMAL);
}

void ui_draw_fill(int y, int x, int w, enum ui_color c)
{
	if (w <= 0)
		return;
	attrset(ui_attr(c));
	mvhline(y, x, ' ', w);
	attrset(A_NORMAL);
}
