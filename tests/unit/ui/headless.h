/* headless: curses on /dev/null at a chosen size, so tests and the benchmark can draw real frames
 * without a terminal, and read the drawn text back. Test-only. */
#ifndef MEMTOP_TEST_HEADLESS_H
#define MEMTOP_TEST_HEADLESS_H

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline SCREEN *headless_open(int rows, int cols)
{
	setenv("TERM", "xterm-256color", 1);
	FILE *out = fopen("/dev/null", "w");
	FILE *in = fopen("/dev/null", "r");
	SCREEN *scr = newterm("xterm-256color", out, in);
	if (!scr)
		return NULL;
	set_term(scr);
	resizeterm(rows, cols);
	return scr;
}

static inline void headless_close(SCREEN *scr)
{
	endwin();
	delscreen(scr);
}

/* Text of screen line y (ASCII; wide glyphs are not used in headless tests). */
static inline const char *headless_line(int y)
{
	static char buf[1024];
	int n = mvinnstr(y, 0, buf, COLS < 1000 ? COLS : 1000);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* True when any line contains needle. */
static inline int headless_contains(const char *needle)
{
	for (int y = 0; y < LINES; y++)
		if (strstr(headless_line(y), needle))
			return 1;
	return 0;
}

#endif
