/* ui_crt: curses setup and teardown, the colour table, key input, and terminal restore on signals.
 * The only file that calls initscr/endwin or installs signal handlers for the UI; it must never
 * draw content or read the model. SIGBUS is left alone: the shm guard owns it. */
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ui_crt.h"
#include "ui_glyphs.h"

static attr_t crt_colors[UI_C_COUNT];
static bool crt_active;
static SCREEN *crt_screen;
static bool crt_utf8;
static bool crt_color;
static volatile sig_atomic_t crt_quit;

/* Signals that end memtop: restore the terminal first so the shell is usable. */
static const int fatal_signals[] = {SIGSEGV, SIGABRT, SIGFPE, SIGILL};
static const int quit_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define N_FATAL (sizeof fatal_signals / sizeof fatal_signals[0])
#define N_QUIT (sizeof quit_signals / sizeof quit_signals[0])
static struct sigaction saved_fatal[N_FATAL], saved_quit[N_QUIT];

attr_t ui_attr(enum ui_color c)
{
	return (unsigned)c < UI_C_COUNT ? crt_colors[c] : A_NORMAL;
}

bool ui_crt_utf8(void)
{
	return crt_utf8;
}

bool ui_crt_has_color(void)
{
	return crt_color;
}

bool ui_crt_quit_requested(void)
{
	return crt_quit != 0;
}

static void on_fatal_signal(int sig)
{
	/* endwin is not async-signal-safe, but the process is dying anyway and a terminal left in raw
	 * mode is worse (htop does the same). */
	if (crt_active)
		endwin();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void on_quit_signal(int sig)
{
	(void)sig;
	crt_quit = 1;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_fatal_signal;
	sa.sa_flags = SA_RESETHAND;
	for (size_t i = 0; i < N_FATAL; i++)
		sigaction(fatal_signals[i], &sa, &saved_fatal[i]);
	sa.sa_handler = on_quit_signal;
	sa.sa_flags = 0; /* no SA_RESTART: getch returns at once */
	for (size_t i = 0; i < N_QUIT; i++)
		sigaction(quit_signals[i], &sa, &saved_quit[i]);
}

static void restore_signals(void)
{
	for (size_t i = 0; i < N_FATAL; i++)
		sigaction(fatal_signals[i], &saved_fatal[i], NULL);
	for (size_t i = 0; i < N_QUIT; i++)
		sigaction(quit_signals[i], &saved_quit[i], NULL);
}

/* Monochrome: attributes only, readable on any terminal. */
static void set_monochrome(void)
{
	for (int i = 0; i < UI_C_COUNT; i++)
		crt_colors[i] = A_NORMAL;
	crt_colors[UI_C_TITLE] = A_BOLD;
	crt_colors[UI_C_VALUE] = A_BOLD;
	crt_colors[UI_C_ALERT] = A_BOLD | A_REVERSE | A_BLINK;
	crt_colors[UI_C_WARN] = A_BOLD;
	crt_colors[UI_C_STATE_LIVE] = A_BOLD;
	crt_colors[UI_C_STATE_DEAD] = A_BOLD | A_REVERSE;
	crt_colors[UI_C_TAB_ACTIVE] = A_REVERSE | A_BOLD;
	crt_colors[UI_C_TABLE_HEADER] = A_REVERSE;
	crt_colors[UI_C_SORT_COLUMN] = A_REVERSE | A_BOLD | A_UNDERLINE;
	crt_colors[UI_C_SELECTED] = A_REVERSE;
	crt_colors[UI_C_DIM] = A_DIM;
	crt_colors[UI_C_GROWING] = A_BOLD;
	crt_colors[UI_C_HEAT_HIGH] = A_BOLD;
	crt_colors[UI_C_HEAT_WASTE] = A_REVERSE;
	crt_colors[UI_C_HEAT_NONE] = A_DIM;
	crt_colors[UI_C_STATUS] = A_REVERSE;
	crt_colors[UI_C_STATUS_KEY] = A_BOLD;
	crt_colors[UI_C_MESSAGE] = A_BOLD;
	crt_colors[UI_C_ERROR] = A_BOLD | A_REVERSE;
	crt_colors[UI_C_FILTER] = A_BOLD | A_UNDERLINE;
	crt_colors[UI_C_HELP_KEY] = A_BOLD;
}

static attr_t pair(short n, short fg, short bg)
{
	init_pair(n, fg, bg);
	return COLOR_PAIR(n);
}

static void set_colors(void)
{
	use_default_colors();
	short n = 1;
	set_monochrome(); /* attributes the colour scheme does not override */
	crt_colors[UI_C_TITLE] = pair(n++, COLOR_CYAN, -1) | A_BOLD;
	crt_colors[UI_C_LABEL] = pair(n++, COLOR_CYAN, -1);
	crt_colors[UI_C_VALUE] = A_BOLD;
	crt_colors[UI_C_ALERT] = pair(n++, COLOR_WHITE, COLOR_RED) | A_BOLD;
	crt_colors[UI_C_WARN] = pair(n++, COLOR_YELLOW, -1) | A_BOLD;
	crt_colors[UI_C_STATE_LIVE] = pair(n++, COLOR_GREEN, -1) | A_BOLD;
	crt_colors[UI_C_STATE_DEAD] = pair(n++, COLOR_RED, -1) | A_BOLD;
	crt_colors[UI_C_TAB] = pair(n++, COLOR_WHITE, COLOR_BLUE);
	crt_colors[UI_C_TAB_ACTIVE] = pair(n++, COLOR_BLACK, COLOR_CYAN) | A_BOLD;
	crt_colors[UI_C_TABLE_HEADER] = pair(n++, COLOR_BLACK, COLOR_GREEN);
	crt_colors[UI_C_SORT_COLUMN] = pair(n++, COLOR_BLACK, COLOR_CYAN) | A_BOLD;
	crt_colors[UI_C_SELECTED] = pair(n++, COLOR_BLACK, COLOR_CYAN);
	crt_colors[UI_C_DIM] = pair(n++, COLOR_BLUE, -1) | A_BOLD;
	crt_colors[UI_C_GROWING] = pair(n++, COLOR_MAGENTA, -1) | A_BOLD;
	crt_colors[UI_C_SPARK] = pair(n++, COLOR_GREEN, -1);
	crt_colors[UI_C_HEAT_LOW] = pair(n++, COLOR_GREEN, -1);
	crt_colors[UI_C_HEAT_MID] = pair(n++, COLOR_YELLOW, -1);
	crt_colors[UI_C_HEAT_HIGH] = pair(n++, COLOR_RED, -1) | A_BOLD;
	crt_colors[UI_C_HEAT_WASTE] = pair(n++, COLOR_WHITE, COLOR_MAGENTA);
	crt_colors[UI_C_HEAT_NONE] = pair(n++, COLOR_BLUE, -1);
	crt_colors[UI_C_STATUS] = pair(n++, COLOR_BLACK, COLOR_CYAN);
	crt_colors[UI_C_STATUS_KEY] = pair(n++, COLOR_WHITE, -1) | A_BOLD;
	crt_colors[UI_C_MESSAGE] = pair(n++, COLOR_GREEN, -1) | A_BOLD;
	crt_colors[UI_C_ERROR] = pair(n++, COLOR_WHITE, COLOR_RED) | A_BOLD;
	crt_colors[UI_C_FILTER] = pair(n++, COLOR_YELLOW, -1) | A_BOLD;
	crt_colors[UI_C_HELP] = A_NORMAL;
	crt_colors[UI_C_HELP_KEY] = pair(n++, COLOR_CYAN, -1) | A_BOLD;
}

void ui_crt_init_attrs(bool color)
{
	crt_color = color && has_colors() && start_color() == OK && COLOR_PAIRS >= 32;
	if (crt_color)
		set_colors();
	else
		set_monochrome();
}

int ui_crt_init(bool no_color, char *err, size_t errlen)
{
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		snprintf(err, errlen, "the dashboard needs a terminal (use -b for plain-text batch output)");
		return -1;
	}
	setlocale(LC_ALL, "");
	crt_utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	ui_glyphs_set_utf8(crt_utf8);
	/* newterm instead of initscr: initscr exits the process on an unknown TERM. */
	const char *term = getenv("TERM");
	SCREEN *scr = newterm(NULL, stdout, stdin);
	if (!scr) {
		snprintf(err, errlen, "cannot initialise the terminal (TERM=%s): set TERM or use -b",
			 term ? term : "(unset)");
		return -1;
	}
	set_term(scr);
	char *cup = tigetstr("cup");
	if (cup == NULL || cup == (char *)-1) {
		/* A terminal that cannot move the cursor (TERM=dumb) would show garbage. */
		endwin();
		delscreen(scr);
		snprintf(err, errlen, "the terminal (TERM=%s) cannot move the cursor: use -b for plain-text output",
			 term ? term : "(unset)");
		return -1;
	}
	crt_screen = scr;
	crt_active = true;
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	/* Clicks and the wheel, as htop: a click is acted on at its release, with no click timing.
	 * Not at its press: a press and its release read together (a busy frame, a slow link) come
	 * out of ncurses as one event, the last of the run, and the click was lost. */
	mousemask(BUTTON1_RELEASED | BUTTON4_PRESSED
#ifdef BUTTON5_PRESSED
		  | BUTTON5_PRESSED
#endif
		  , NULL);
	mouseinterval(0);
	ui_crt_init_attrs(!no_color);
	crt_quit = 0;
	install_signals();
	return 0;
}

void ui_crt_done(void)
{
	if (!crt_active)
		return;
	curs_set(1);
	endwin();
	delscreen(crt_screen);
	crt_screen = NULL;
	crt_active = false;
	restore_signals();
}

int ui_crt_getkey(int timeout_ms)
{
	wtimeout(stdscr, timeout_ms);
	return wgetch(stdscr);
}
