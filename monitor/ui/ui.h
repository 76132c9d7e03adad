/* ui.h: the entry point of memtop's live ncurses dashboard (monitor/ui/).
 * main.c calls ui_run() with an attached session; the dashboard reads only what model.h publishes and
 * never touches the live set or the segment itself. Nothing outside monitor/ui/ includes curses. */
#ifndef MEMTOP_UI_H
#define MEMTOP_UI_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

/* Filled by main.c from the command line. Every field has a meaningful zero value, so
 * `struct ui_options o = {0}` is a valid configuration. */
struct ui_options {
	unsigned delay_ms;       /* refresh interval (-d SEC); 0 = 1000 ms. Per-block queries (walks,
	                          * suspects, maps) refresh at most every max(delay, 2 s) or on demand. */
	bool no_color;           /* --no-color: monochrome attribute table even on a colour terminal */
	unsigned heat_divisions; /* --divisions N for the memory-map heatmap; 0 = MODEL_HEAT_DEFAULT (32) */
	unsigned expire_s;       /* --expire N: age of a leak suspect in seconds; 0 = 60 */
	const char *snapshot_dir;/* where the `s` key writes; NULL = current directory */
	const char *target_output;/* memtop run: the file the target's stdout and stderr go to, named
	                          * in the header; NULL: none */
	bool quit_on_exit;       /* true: return as soon as the target has exited or crashed;
	                          * false: keep showing the final state until the user quits */
	struct session_tree *tree;/* memtop run: the process tree followed; P lists its processes */
	struct session **switch_to;/* with tree: set to the process picked from that list (ui_run then
	                          * returns, and the caller runs it again on that session) */
};

/* Runs the dashboard on the terminal (stdin/stdout) until the user quits (q, F10, Ctrl-C, SIGTERM,
 * SIGHUP) or, with quit_on_exit, until the target is gone. The calling thread must be registered with
 * urcu memb (main.c does it). The session keeps ingesting meanwhile; quitting leaves the target running.
 * Returns the exit status memtop should use: 0, or 1 when the terminal could not be initialised
 * (a one-line reason has then been printed on stderr). */
int ui_run(struct session *s, const struct ui_options *o);

/* One traced process in the picker (`memtop` without a pid); cli/seglist.c fills them. */
struct ui_pick_row {
	int pid;
	unsigned long long live_bytes; /* heap in use, from the segment's counters */
	const char *mode;              /* the live table: off, sampled or exact */
	const char *monitored;         /* yes (a monitor is attached), no, or dead (stale segment) */
	const char *command;
};

/* The htop-style list of traced processes: arrows, PgUp/PgDn, Home/End move; `/` searches pid and
 * command; Enter picks; q, Esc or F10 quits. Returns the pid picked, 0 when the user quit, or -1
 * when the terminal could not be initialised (a one-line reason is then in err). */
int ui_pick(const struct ui_pick_row *rows, int n, char *err, size_t errlen);
/* The same list with its own words: the title ("%d <what>; Enter <verb> pid %d") and the headers of
 * the mode and monitored columns. */
struct ui_pick_words {
	const char *what_one, *what_many; /* "traced process", "traced processes" */
	const char *verb;                 /* "attaches to" */
	const char *mode_col, *monitored_col, *enter_key;
};
int ui_pick_with(const struct ui_pick_row *rows, int n, const struct ui_pick_words *words, int selected,
		 char *err, size_t errlen);

#endif
