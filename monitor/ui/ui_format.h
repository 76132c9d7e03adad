/* ui_format: turns model numbers into the short strings the dashboard shows (bytes, counts, rates,
 * durations, frames). Pure functions, no curses and no model access: unit-tested on their own.
 * Every function writes a NUL-terminated string that fits in n bytes and returns buf. */
#ifndef MEMTOP_UI_FORMAT_H
#define MEMTOP_UI_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* 1234567 -> "1,234,567" */
char *ui_fmt_count(char *buf, size_t n, uint64_t v);
/* Table cells: one unit per column, the header's form. Signed count: "+10,475", "-300", "0". */
char *ui_fmt_count_signed(char *buf, size_t n, int64_t v);
/* A per-second rate as a whole count: "0", "75,512". */
char *ui_fmt_rate_count(char *buf, size_t n, double v);
/* Exact below 100000 ("99999"), then binary units with one decimal: "97.7K", "1.2M", "3.0G", "1.1T".
 * Exact where tests and users compare small figures, short where columns are narrow (<= 6 chars). */
char *ui_fmt_bytes_short(char *buf, size_t n, uint64_t v);
/* Signed form of the above for growth columns: "+1.2K", "-300", "0". */
char *ui_fmt_bytes_signed(char *buf, size_t n, int64_t v);
/* "117.7 MiB", "512 B". */
char *ui_fmt_bytes_human(char *buf, size_t n, uint64_t v);
/* Per-second rate: "0", "12", "1234", "12.3K", "1.5M" (no unit suffix). */
char *ui_fmt_rate(char *buf, size_t n, double v);
/* Age: "0s", "59s", "5m07s", "2h03m", "3d04h". */
char *ui_fmt_age(char *buf, size_t n, uint64_t ns);
/* Uptime: "00:01:23", or "2d 03:04:05". */
char *ui_fmt_uptime(char *buf, size_t n, uint64_t ns);
/* A frame: "func file:line" (file basename), "func module+0x1f0", "module+0x1f0", or "0x7f..".
 * Never NULL-dereferences: a frame not yet symbolized shows its raw location. */
char *ui_fmt_frame(char *buf, size_t n, const struct model_frame *f);
/* True for the signals of a program fault (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP,
 * SIGSYS): "crashed"; the others ended it from outside: "killed". */
bool ui_signal_is_crash(int sig);
/* Basename of a path ("a/b/c.c" -> "c.c"); NULL -> "". */
const char *ui_basename(const char *path);

#endif
