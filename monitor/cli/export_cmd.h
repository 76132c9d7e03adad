/* export_cmd: the command line of memtop's export formats: `--format FMT [--value V]` for report
 * and snapshot, and the `export` and `serve` commands, kept out of main.c's option parsing.
 * Errors a user can cause: one line on stderr, exit status 2. */
#ifndef MEMTOP_EXPORT_CMD_H
#define MEMTOP_EXPORT_CMD_H

#include <stddef.h>
#include <stdio.h>

#include "export/snapshot.h"

/* Removes --format FMT and --value V (also --opt=V) from the words before `--` and remembers them
 * for cli_write_formatted; --skip-frames REGEX and --no-skip-frames (every command) configure the
 * allocator wrappers dropped from stacks. Returns 0, or an exit status after saying what is wrong. */
int cli_format_take(int *argc, char **argv);
/* The snapshot of report/snapshot in the format taken above (text when none). */
int cli_write_formatted(struct session *s, FILE *out, const struct snapshot_options *so, char *err,
			size_t errlen);
/* memtop export --format FMT [--value V] [-o FILE] SNAPSHOT (argv[0] is "export") */
int cli_export_main(int argc, char **argv);
/* memtop diff [--format text|pprof|folded] [--value V] [-o FILE] A B (argv[0] is "diff") */
int cli_diff_main(int argc, char **argv);
/* memtop serve [--listen ADDR:PORT] [--any-address] (argv[0] is "serve"); serve.c */
int cli_serve_main(int argc, char **argv);

#endif
