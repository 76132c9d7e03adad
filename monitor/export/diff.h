/* diff: `memtop diff A B`, growth per call site between two text snapshots. Sites are matched by
 * their frames (function, file:line; module+offset when unresolved), never by id or address, so
 * two runs of one program compare. Reads only the two documents; they must outlive the diff. */
#ifndef MEMTOP_DIFF_H
#define MEMTOP_DIFF_H

#include <stdio.h>

#include "export/snapdoc.h"

enum { DIFF_LIVE_BYTES, DIFF_LIVE_BLOCKS, DIFF_ALLOCS, DIFF_BYTES_ALLOCATED, DIFF_N };

struct diff_entry {
	char *sig;                          /* the frames' identity */
	int from_b;                         /* 1 when the site is in B (its frames are B's) */
	const struct snapdoc_site *site;    /* the site whose frames are shown */
	const struct snapdoc *src;          /* ... and its document */
	int64_t a[DIFF_N], b[DIFF_N];
};

struct snapdiff {
	const struct snapdoc *a, *b;
	struct diff_entry *e;               /* changed sites, by live bytes growth, largest first */
	size_t n;
	struct snapdoc doc;                 /* the same as a document of deltas (is_diff) */
};

/* NULL with a reason in err (out of memory). */
struct snapdiff *snapdiff_new(const struct snapdoc *a, const struct snapdoc *b, char *err,
			      size_t errlen);
int snapdiff_write_text(const struct snapdiff *df, const char *name_a, const char *name_b, FILE *out);
void snapdiff_free(struct snapdiff *df);

#endif
