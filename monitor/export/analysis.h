/* analysis: the sections of the text snapshot that answer heaptrack's questions: the call sites
 * live at the peak, temporary allocations, sites by number of calls, the size histogram. Written
 * from a copy of the view (never under the RCU read lock); docs/snapshot-format.md. */
#ifndef MEMTOP_ANALYSIS_H
#define MEMTOP_ANALYSIS_H

#include <stdio.h>

#include "model.h"

/* v: the snapshot's private copy of the view (any order of sites); ses names the top frames. */
void snapshot_write_analysis(FILE *out, struct session *ses, const struct model_view *v);

#endif
