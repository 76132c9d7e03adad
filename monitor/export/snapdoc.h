/* snapdoc: a text snapshot (docs/snapshot-format.md) read back into memory, the one input of every
 * export format (pprof, folded, massif). Reads only what the text holds; never touches a session.
 * The text is untrusted: a line it cannot read is an error with its number, never a guess. */
#ifndef MEMTOP_SNAPDOC_H
#define MEMTOP_SNAPDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct snapdoc_frame {
	const char *func;   /* NULL when the snapshot says ?? */
	const char *file;   /* NULL when it has no file:line */
	int line;
	bool inlined;       /* expanded from the next (outer) frame with the same pc */
	uint64_t pc;
	const char *module; /* NULL when ?? */
	uint64_t module_off;
};

struct snapdoc_site {
	uint32_t id;
	uint64_t live_bytes, live_blocks;
	bool has_totals;    /* the (allocs= frees= bytes_allocated=) part was there */
	uint64_t allocs, frees, bytes_allocated;
	size_t first_frame, n_frames; /* into snapdoc.frames, innermost (#0) first */
	uint64_t peak_bytes, peak_blocks; /* live at the peak ("## peak"), 0 when not listed there */
};

struct snapdoc_map {          /* one file-backed line of the "## maps" section */
	uint64_t start, end, offset;
	bool exec;
	const char *path;
};

struct snapdoc_module {       /* "## modules": the build-id a file had ("-" is none: NULL) */
	const char *build_id;
	const char *path;
};

struct snapdoc {
	int pid;
	const char *exe, *command, *time; /* NULL when absent */
	uint64_t uptime_ms, live_bytes, live_blocks, allocs, frees, bytes_allocated, bytes_freed;
	uint64_t peak_bytes, peak_blocks;
	bool has_peak_sites;        /* the snapshot has a "## peak" section */
	uint64_t peak_unlisted;     /* peak bytes of sites "## sites" does not hold (no --all-sites) */
	/* "## timeline": live bytes at t_ms from the first event, and the most they reached until
	 * the next point (the point's own value in a snapshot without max=) (docs/snapshot-format.md) */
	uint32_t *timeline_ms;
	uint64_t *timeline_bytes, *timeline_max;
	size_t n_timeline, cap_timeline;
	struct snapdoc_site *sites;
	size_t n_sites;
	struct snapdoc_frame *frames;
	size_t n_frames;
	struct snapdoc_map *maps;
	size_t n_maps;
	struct snapdoc_module *modules;
	size_t n_modules;
	/* a diff (diff.c): site values are B - A as int64 in the uint64 fields, and frames come from
	 * two processes, so addresses are not one address space (no maps of its own, no location
	 * sharing) */
	bool is_diff;
	const struct snapdoc **site_docs; /* in a diff: the document each site's frames come from,
					    whose maps and build ids name their mappings */
	char *text;                 /* owns every string above (NULL in a diff: A and B own them) */
	size_t cap_sites, cap_frames, cap_maps, cap_modules;
};

/* Reads a whole snapshot from in. NULL with a reason in err (a line number when one is wrong). */
struct snapdoc *snapdoc_read(FILE *in, char *err, size_t errlen);
/* A report of a process tree (docs/snapshot-format.md) holds one snapshot per process: the one of
 * process pid (0: the first, the root's). */
struct snapdoc *snapdoc_read_pid(FILE *in, int pid, char *err, size_t errlen);
/* All of in as one string (no NUL byte inside), or NULL with a reason. */
char *snapdoc_read_text(FILE *in, char *err, size_t errlen);
/* Moves the snapshot of process pid (0: the first) of a report to the start of text and ends the
 * string after it. 0, or -1 with a reason when the file holds no such process. */
int snapdoc_select(char *text, int pid, char *err, size_t errlen);
/* The same from a text the document takes over (freed with it, or at once on error). */
struct snapdoc *snapdoc_parse(char *text, char *err, size_t errlen);
void snapdoc_free(struct snapdoc *d);

/* The build-id recorded for a file, or NULL. */
const char *snapdoc_build_id(const struct snapdoc *d, const char *path);
/* The maps line holding pc, or NULL. */
const struct snapdoc_map *snapdoc_map_of(const struct snapdoc *d, uint64_t pc);

#endif
