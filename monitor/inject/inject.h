/* inject: `memtop inject [--undo] PID`: loads libmemtop.so into a running process that was started
 * without it and starts tracing it (or puts its allocation calls back). Refuses, with the target
 * untouched, whatever it cannot do safely. Includes proc/ only; called by cli/. */
#ifndef MEMTOP_INJECT_H
#define MEMTOP_INJECT_H

#include <stdbool.h>
#include <sys/types.h>

/* The `inject` command. argv[0] is "inject"; lib is the absolute path of libmemtop.so (NULL when
 * it was not found: only --undo can run then). Returns the exit status. */
int inject_command(int argc, char **argv, const char *lib);
/* The same for a pid already read (the cli's option table): inject lib (absolute path), or with
 * undo put the slots back (lib may be NULL). Returns the exit status. */
int inject_pid(pid_t pid, const char *lib, bool undo);

#endif
