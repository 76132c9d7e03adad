/* snapshot: the text export of a session (docs/snapshot-format.md, format version 2) and the offline
 * re-symbolization of such a file. Deterministic order; never holds the RCU read lock across I/O. */
#ifndef MEMTOP_SNAPSHOT_H
#define MEMTOP_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "model.h"

#define SNAPSHOT_FORMAT_VERSION 3

struct snapshot_options {
	bool blocks;            /* list every live block */
	bool heatmap;           /* the maps heatmap section */
	bool all_sites;         /* include call sites with no live block */
	uint32_t thread_id;     /* MODEL_ANY_THREAD or one engine thread id */
	uint64_t older_than_ns; /* only blocks at least this old */
	const char *tag_from;   /* only blocks allocated after this tag (name or id) */
	const char *tag_to;     /* ... and before this one */
	uint32_t divisions;
	unsigned max_frames;    /* frames per site (0 = all) */
	unsigned symbols_wait_ms; /* how long to wait for pending symbolization (default 30 s) */
};

void snapshot_default_options(struct snapshot_options *o);
/* A CLOCK_REALTIME time in ns as the snapshot writes times: 2026-12-05T15:00:23Z. */
void snapshot_utc(uint64_t realtime_ns, char *buf, size_t len);
/* Writes the snapshot. Returns 0 or -1 with a reason in err. */
int snapshot_write(struct session *s, FILE *out, const struct snapshot_options *o, char *err,
		   size_t errlen);
struct session_tree;
/* memtop report of a process tree (session_tree_*): the root's snapshot, then each other process's
 * after a '# memtop process PID ppid PPID' line, then '# memtop tree' with the totals and one row
 * per process. 0 or -1 with a reason in err. */
int snapshot_write_tree(struct session_tree *t, FILE *out, const struct snapshot_options *o,
			char *err, size_t errlen);
/* One warning line on err for each process of the tree but the root whose figures are not exact
 * from its start (followed late, events lost). Returns 1 when it warned. */
int snapshot_tree_warn(struct session_tree *t, FILE *err);
/* memtop report / snapshot: when the published live set is approximate because events or frees
 * were missed, one line on err naming each count (a bad segment is told by session_report_damage).
 * Returns 1 when it warned. */
int snapshot_warn_inexact(struct session *s, FILE *err);
/* memtop symbolize: rewrites the frames of a snapshot using its MAPS section (and sysroot). Frames
 * of a module whose files all have another build-id than the snapshot recorded stay as they are,
 * with one warning line per module on warn (may be NULL); -1 when no module could be used. */
int snapshot_symbolize(FILE *in, FILE *out, FILE *warn, const char *sysroot, char *err,
		       size_t errlen);
/* The same for the snapshot of process pid in a report of a process tree (0: the root's, the
 * first); only that snapshot is written. */
int snapshot_symbolize_pid(FILE *in, int pid, FILE *out, FILE *warn, const char *sysroot, char *err,
			   size_t errlen);

#endif
