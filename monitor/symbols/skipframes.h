/* skipframes: which frames are allocator wrappers (xmalloc, g_malloc, zmalloc, PyMem_*, operator
 * new, the C++ library's inline allocation code...), dropped from the top of every stack shown so
 * that a site names who allocated. Process-wide: configured once by the command line before any
 * session starts, read by the symbolizer thread. Never drops a stack's last frame. */
#ifndef MEMTOP_SKIPFRAMES_H
#define MEMTOP_SKIPFRAMES_H

#include <stdbool.h>
#include <stddef.h>

/* The built-in wrappers (function names, whole-name POSIX extended regex), documented in
 * docs/export-formats.md. */
extern const char symbols_builtin_wrappers[];

/* user_regex: more function names (whole-name POSIX extended regex), or NULL; no_builtin: drop
 * the built-in list. 0, or -1 with the regex error in err. Call before any session starts. */
int symbols_skip_configure(const char *user_regex, bool no_builtin, char *err, size_t errlen);
/* Whether stacks are shown with their wrapper frames dropped (the default) or whole: the dashboard's
 * w key flips it while sessions run, so it is an atomic read by the threads that name frames. */
void symbols_skip_set_active(bool active);
bool symbols_skip_active(void);
/* Whether a frame of function func in source file file (either may be NULL) is a wrapper. */
bool symbols_is_wrapper(const char *func, const char *file);

#endif
