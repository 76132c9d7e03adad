/* ui_crt: the only module that sets up and tears down curses, owns the colour table, reads keys,
 * and restores the terminal when memtop is killed by a signal (htop's CRT.c).
 * Drawing code uses ui_attr(UI_C_...) and never colour pair numbers or literal attributes. */
#ifndef MEMTOP_UI_CRT_H
#define MEMTOP_UI_CRT_H

#include <stdbool.h>
#include <stddef.h>

#include <curses.h>

/* Colours by meaning. The table behind them has a colour and a monochrome version. */
enum ui_color {
	UI_C_DEFAULT = 0,
	UI_C_TITLE,        /* program name in the header */
	UI_C_LABEL,        /* header labels */
	UI_C_VALUE,        /* header figures */
	UI_C_ALERT,        /* lost events: the live set is approximate (must be impossible to miss) */
	UI_C_WARN,         /* unknown frees, pagemap unreadable, stack table overflow */
	UI_C_STATE_LIVE,   /* target running */
	UI_C_STATE_DEAD,   /* target exited or crashed */
	UI_C_TAB,
	UI_C_TAB_ACTIVE,
	UI_C_TABLE_HEADER,
	UI_C_SORT_COLUMN,  /* header of the column the table is sorted by */
	UI_C_SELECTED,     /* the selected row */
	UI_C_DIM,          /* raw addresses, secondary text */
	UI_C_GROWING,      /* call sites whose live bytes keep rising */
	UI_C_SPARK,
	UI_C_HEAT_LOW,
	UI_C_HEAT_MID,
	UI_C_HEAT_HIGH,
	UI_C_HEAT_WASTE,   /* resident pages without live heap */
	UI_C_HEAT_NONE,
	UI_C_STATUS,       /* bottom key bar */
	UI_C_STATUS_KEY,
	UI_C_MESSAGE,      /* "snapshot written to ..." */
	UI_C_ERROR,
	UI_C_FILTER,       /* active filters and the filter prompt */
	UI_C_HELP,
	UI_C_HELP_KEY,
	UI_C_COUNT
};

/* Current attribute for a meaning (colour or monochrome table). */
attr_t ui_attr(enum ui_color c);

/* Initialise curses on the controlling terminal. Returns 0, or -1 with a one-line reason in err
 * (not a terminal, unknown TERM). Sets the locale from the environment. */
int ui_crt_init(bool no_color, char *err, size_t errlen);
/* Builds the attribute table for the current curses screen (ui_crt_init does it; headless tests and
 * the benchmark call it after their own newterm). */
void ui_crt_init_attrs(bool color);
/* Restore the terminal; safe to call twice. */
void ui_crt_done(void);
/* True when Unicode block glyphs can be drawn (UTF-8 locale). */
bool ui_crt_utf8(void);
/* True when the colour table is in use (not monochrome). */
bool ui_crt_has_color(void);
/* Wait up to timeout_ms (-1 = forever) for a key; returns ERR on timeout. */
int ui_crt_getkey(int timeout_ms);
/* True after SIGINT, SIGTERM or SIGHUP: the main loop quits cleanly. */
bool ui_crt_quit_requested(void);

#endif
