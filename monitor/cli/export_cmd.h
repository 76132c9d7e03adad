/* export_cmd: the command line of memtop's export formats: `--format FMT [--value V]` for report
 * and snapshot (rows of args.c's option table), and the `export`, `diff` and `serve` commands,
 * which read their own words.
 * Errors a user can cause: one line on stderr, exit status 2. */
#ifndef MEMTOP_EXPORT_CMD_H
#define MEMTOP_EXPORT_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "export/snapshot.h"

/* The setters of --format FMT, --value V (report, snapshot) and --skip-frames REGEX,
 * --no-skip-frames; 0, or an exit status after saying what is wrong. */
int cli_format_option(const char *val);
int cli_value_option(const char *val);
int cli_skip_frames_option(const char *regex);
int cli_no_skip_frames_option(void);
/* After the whole line is read: configures the wrappers dropped from stacks and checks what the
 * options say together (--value needs folded; pprof needs -o FILE). 0 or an exit status. */
int cli_format_check(const char *cmd, const char *output);
/* The snapshot of report/snapshot in the format taken above (text when none). */
int cli_write_formatted(struct session *s, FILE *out, const struct snapshot_options *so, char *err,
			size_t errlen);
/* True when report/snapshot write the text snapshot (no --format, or --format text). */
bool cli_format_is_text(void);
/* memtop export --format FMT [--value V] [-o FILE] SNAPSHOT (argv[0] is "export") */
int cli_export_main(int argc, char **argv);
/* memtop diff [--format text|pprof|folded] [--value V] [-o FILE] A B (argv[0] is "diff") */
int cli_diff_main(int argc, char **argv);
/* memtop serve [--listen ADDR:PORT] [--any-address] (argv[0] is "serve"); serve.c */
int cli_serve_main(int argc, char **argv);

#endif
