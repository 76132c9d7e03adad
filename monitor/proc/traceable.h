/* traceable: tells, before a command is started, whether the preload can reach it at all. The
 * kernel runs setuid/setgid programs and programs with file capabilities in secure mode, where the
 * loader ignores LD_PRELOAD; a static program has no loader. Pure inspection of files: never runs,
 * opens for writing or changes anything. */
#ifndef MEMTOP_TRACEABLE_H
#define MEMTOP_TRACEABLE_H

#include <stddef.h>

/* Resolves cmd as execvp would (PATH when it has no '/'). Returns 0 when it can be traced or
 * cannot be judged (execvp then has its say), -1 with one sentence in why (no trailing newline)
 * when LD_PRELOAD would not reach it. A `#!` script is judged by its interpreter. */
int traceable_check(const char *cmd, char *why, size_t len);

/* The same for a file already resolved (e.g. /proc/PID/exe after an exec). */
int traceable_check_path(const char *path, char *why, size_t len);

#endif
