/* cli: the memtop command line (parsing, subcommands, batch mode, segment listing, gc).
 * Errors a user can cause end here as one line on stderr and a non-zero exit. */
#ifndef MEMTOP_CLI_H
#define MEMTOP_CLI_H

#include <stdbool.h>

#include "export/snapshot.h"

struct cli_options {
	const char *cmd;          /* subcommand or NULL */
	int pid;
	bool batch;
	long iterations;          /* -n (0 = until the target exits) */
	double delay_s;           /* -d */
	const char *output;       /* -o FILE */
	const char *preload;      /* --preload */
	const char *sysroot;      /* --sysroot */
	bool no_color;
	bool no_symbols;          /* --no-symbols: raw addresses only (no libdwfl) */
	unsigned divisions;
	unsigned expire_s;
	struct snapshot_options snap;
	char **argv_rest;         /* after -- (run/report) or positional (symbolize FILE) */
	int argc_rest;
};

/* Set by SIGINT/SIGTERM/SIGHUP in batch mode: leave the loop, release the claim, exit. */
extern volatile int cli_interrupted;

int cli_batch(struct session *s, const struct cli_options *o);
/* Lists traced processes; on a terminal asks for one and sets *chosen (0 = none). */
int cli_list(int *chosen);
int cli_gc(void);
/* What `memtop gc` does, silently: every command calls it first so that /dev/shm never fills with
 * the segments of processes that are gone (killed, or unable to remove their own). */
void cli_gc_quiet(void);

#endif
