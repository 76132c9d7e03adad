/* snapshot_internal: the pieces the snapshot files of monitor/export/ share: one writer per section
 * of the text format (snapshot_sections.c) and the frame line both writing and offline symbolizing
 * print. Only for monitor/export/; everything else goes through snapshot.h. */
#ifndef MEMTOP_SNAPSHOT_INTERNAL_H
#define MEMTOP_SNAPSHOT_INTERNAL_H

#include <stdio.h>
#include <sys/types.h>

#include "export/snapshot.h"

/* "  #DEPTH func file:line [inlined] 0xPC module+0xOFF": the line memtop symbolize parses back. */
void snapshot_print_frame(FILE *out, int depth, const struct model_frame *f);

/* Sorts a private copy of a view's sites by stack id, as snapshot_write_sites expects them. */
void snapshot_sort_sites_by_id(struct model_site *sites, size_t n);

/* The sections, in the order snapshot_write calls them. v is a private copy of the published view
 * (its sites sorted by snapshot_sort_sites_by_id): none of these runs under the RCU read lock. */
/* "starting", "running", "exited" or "crashed": the snapshot's word for a target's state. */
const char *snapshot_state_name(enum model_state st);
void snapshot_write_header(FILE *out, const struct model_view *v);
void snapshot_write_threads(FILE *out, const struct model_view *v);
void snapshot_write_tags(FILE *out, const struct model_view *v);
void snapshot_write_sites(FILE *out, struct session *s, const struct model_view *v,
			  const struct model_suspect_site *g, size_t ng, const struct snapshot_options *o);
void snapshot_write_blocks(FILE *out, const struct model_walk *w);
void snapshot_write_heatmap(FILE *out, struct session *s, uint32_t divisions);
/* maps: the target's /proc/PID/maps text (NULL when unreadable). */
void snapshot_write_modules(FILE *out, const char *maps, pid_t pid);
void snapshot_write_maps(FILE *out, char *maps);

#endif
