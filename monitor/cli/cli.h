/* cli: the memtop command line (parsing, subcommands, batch mode, segment listing, gc).
 * Errors a user can cause end here as one line on stderr and a non-zero exit. */
#ifndef MEMTOP_CLI_H
#define MEMTOP_CLI_H

#include <stdbool.h>

#include "export/snapshot.h"

#define CLI_MAX_OPERANDS 4

/* Exit statuses of memtop itself (run and report otherwise pass the target's status through);
 * documented in --help and memtop(1). */
#define CLI_EXIT_FAILURE 1     /* the command could not do its work (one line on stderr says why) */
#define CLI_EXIT_USAGE 2       /* the command line is wrong */
/* report: processes of the tree still running this long after the root ended are written as they
 * are then, and left running (memtop(1)) */
#define CLI_TREE_LINGER_MS 5000
#define CLI_EXIT_APPROXIMATE 120 /* report: written, but events were lost (the target exited 0) */

struct cli_options {
	const char *cmd;          /* subcommand or NULL (memtop PID, or the list) */
	int pid;
	bool batch;
	long iterations;          /* -n (0 = until the target exits) */
	double delay_s;           /* -d */
	const char *output;       /* -o FILE */
	const char *preload;      /* --preload */
	const char *sysroot;      /* --sysroot */
	int tree_pid;             /* symbolize --pid: a process of a tree report (0: the root) */
	bool no_color;
	bool no_symbols;          /* --no-symbols: raw addresses only (no libdwfl) */
	bool inject_undo;         /* inject --undo */
	bool inject;              /* PID, snapshot --inject: inject first when untraced */
	unsigned divisions;
	unsigned expire_s;
	struct snapshot_options snap;
	char **argv_rest;         /* the target's command, after -- (run/report) */
	int argc_rest;
	const char *operands[CLI_MAX_OPERANDS]; /* words that are not options, after the command */
	int noperands;
};

/* What a command takes besides options. */
enum cli_operand_kind {
	CLI_OPERAND_NONE,
	CLI_OPERAND_PID,     /* one pid, into o->pid */
	CLI_OPERAND_FILES,   /* up to max_operands words, into o->operands */
	CLI_OPERAND_COMMAND, /* the target's command line, after -- only */
};

/* One row of the command table (main.c). A new command is a row there; its options are rows of
 * the option table (args.c) that name it in their `commands`. */
struct cli_command {
	const char *name;      /* the word after memtop; "PID" is the dashboard of a pid (no word) */
	const char *synopsis;  /* what follows "memtop NAME" in --help */
	const char *summary;   /* one line for --help */
	enum cli_operand_kind operand;
	int max_operands;      /* CLI_OPERAND_FILES */
	int (*run)(const struct cli_options *o);
};

/* Parses argv (GNU getopt_long: --opt=value, --opt value, bundled -bn1, -oFILE; the target's
 * command after --) for one of `cmds` (ended by a row with run == NULL). Returns 0, or the exit
 * status after saying why in one line (or printing --help / --version: then -1, exit 0). */
int cli_parse(int argc, char **argv, const struct cli_command *cmds, struct cli_options *o);
/* The row of o->cmd ("PID" when o->cmd is NULL). */
const struct cli_command *cli_command_of(const struct cli_command *cmds, const char *name);
/* One line on stderr, "memtop: " + fmt; returns CLI_EXIT_USAGE. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Set by SIGINT/SIGTERM/SIGHUP in batch mode: leave the loop, release the claim, exit. */
extern volatile int cli_interrupted;

int cli_batch(struct session *s, const struct cli_options *o);
/* Lists traced processes; on a terminal asks for one and sets *chosen (0 = none). */
int cli_list(int *chosen);
int cli_gc(void);
/* What `memtop gc` does, silently: every command calls it first so that /dev/shm never fills with
 * the segments of processes that are gone (killed, or unable to remove their own). */
void cli_gc_quiet(void);

/* The target's output under the dashboard: a new file ${TMPDIR:-/tmp}/memtop-run-XXXXXX.out (its
 * fd, or -1 after one line on stderr), renamed memtop-PID.out once the pid is known; shown (its
 * last lines) when the dashboard has closed, and removed when the target ended having said nothing. */
int cli_output_create(char *path, size_t len);
void cli_output_name_by_pid(char *path, size_t len, int pid);
void cli_output_show(const char *path, const char *cmd, bool finished);

#endif
