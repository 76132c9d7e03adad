/* export: the formats memtop writes besides its text snapshot (pprof, folded stacks, massif), all
 * made from a text snapshot read back (snapdoc), so each is exact for what the text holds and the
 * text stays the source of truth. Never reads the live set but through snapshot_write. */
#ifndef MEMTOP_EXPORT_H
#define MEMTOP_EXPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "export/pbwrite.h"
#include "export/snapdoc.h"
#include "export/snapshot.h"

enum export_format { EXPORT_TEXT = 0, EXPORT_PPROF, EXPORT_FOLDED, EXPORT_MASSIF };
/* what a folded line's value counts */
enum export_value { EXPORT_LIVE_BYTES = 0, EXPORT_LIVE_BLOCKS, EXPORT_ALLOCS, EXPORT_BYTES };

struct export_options {
	enum export_format format;
	enum export_value value;
};

/* "text", "pprof", "folded", "massif"; false for anything else */
bool export_format_parse(const char *name, enum export_format *f);
/* "live-bytes", "live-blocks", "allocs", "bytes" */
bool export_value_parse(const char *name, enum export_value *v);

/* Writes d in a non-text format. 0, or -1 with a reason in err. */
int export_write(const struct snapdoc *d, const struct export_options *o, FILE *out, char *err,
		 size_t errlen);
/* A session in any format: text as snapshot_write writes it; the others through a text snapshot
 * held in memory, with every call site (all_sites) so that allocation totals include freed sites. */
int export_session(struct session *s, FILE *out, const struct snapshot_options *so,
		   const struct export_options *eo, char *err, size_t errlen);

/* pprof: profile.proto, uncompressed, into out (the unit test decodes it) */
int pprof_encode(const struct snapdoc *d, struct pbw *out);
/* ... gzipped, as pprof files are */
int pprof_write(const struct snapdoc *d, FILE *out, char *err, size_t errlen);
int folded_write(const struct snapdoc *d, enum export_value v, FILE *out);
int massif_write(const struct snapdoc *d, FILE *out);

#endif
