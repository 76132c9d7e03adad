/* symbols: turns the target's return addresses into function, file:line (inline frames too) with
 * libdwfl, on ONE thread (libdwfl is not thread-safe). Results are interned for the session and
 * published per stack id with release stores; readers never call libdwfl. */
#ifndef MEMTOP_SYMBOLS_H
#define MEMTOP_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "model.h"

struct strpool;
struct symbols;

/* Where a live symbolizer reads its target: the session fills it (so symbols/ never sees the
 * session). The callbacks are called from the symbolizer thread only. */
struct symbols_source {
	pid_t pid;
	uint32_t stacks_cap;     /* highest stack id the segment can hold */
	char *initial_maps;      /* /proc/PID/maps read at the claim, or NULL: taken over by the start */
	struct strpool *strings; /* names are interned there (outlives the symbolizer), or NULL */
	/* Copies call stack `id` (innermost first) into pcs; its depth, or -1 when unreadable. */
	int (*stack_read)(void *ctx, uint32_t id, uint64_t *pcs, uint32_t max);
	/* The segment's maps generation now; false when the target no longer runs or the header is
	 * unreadable (then the map is left as it is). */
	bool (*maps_generation)(void *ctx, uint64_t *generation);
	void *ctx;
};

/* ---- live: the symbolizer thread of a session ---- */
struct symbols *symbols_start_live(struct symbols_source *src, char *err, size_t len);
/* Called by the ingest thread for each new stack id (never blocks). */
void symbols_enqueue_site(void *ctx, uint32_t stack_id);
/* First frame outside memtop's own library and allocator wrappers; raw (func NULL) when not
 * resolved yet. */
bool symbols_top_frame(struct symbols *sy, uint32_t stack_id, struct model_frame *out);
/* Whole stack with inline frames, allocator wrappers dropped from its top (never the last frame);
 * falls back to raw frames from the segment. */
int symbols_stack(struct symbols *sy, uint32_t stack_id, struct model_frame *out, int max);
/* The ingest thread read a fresh memory map right after a MAPS_CHANGED event (while the new library
 * is surely mapped): hand it over (takes ownership of text). */
void symbols_maps_update(struct symbols *sy, char *text);
/* Waits (bounded) until every enqueued stack is resolved: snapshots want full symbols. */
void symbols_wait_idle(struct symbols *sy, unsigned timeout_ms);
/* A copy of the latest memory map text (snapshot MAPS section); free() it. NULL if none. */
char *symbols_maps_copy(struct symbols *sy);
void symbols_stop(struct symbols *sy);
void symbols_free(struct symbols *sy);

/* ---- the resolver itself (also used offline by `memtop symbolize`) ---- */
struct symdb;
#define SYMDB_MAX_INLINE 8
struct symdb_result {
	const char *module;   /* interned */
	uint64_t module_off;
	int n;                /* frames: [0] innermost (inlined callee) ... [n-1] the physical function */
	struct {
		const char *func; /* interned, NULL when unknown */
		const char *file; /* interned, NULL when unknown */
		int line;
	} f[SYMDB_MAX_INLINE];
};
/* The resolution of one address as cached (immutable, owned by the db, valid until symdb_free):
 * 16 bytes per inline level instead of a fixed array, since a big program has 100 k of them. */
struct symdb_line {
	const char *func; /* interned, NULL when unknown */
	const char *file; /* interned, NULL when unknown */
	int line;
};
struct symdb_frames {
	const char *module; /* interned */
	uint64_t module_off;
	int n;              /* [0] innermost inlined callee ... [n-1] the physical function */
	uint32_t wrappers;  /* bit k: f[k] is an allocator wrapper (skipframes.h), skipped at the top */
	struct symdb_line f[];
};
/* Cached resolution of a return address, or NULL when no module holds it. */
const struct symdb_frames *symdb_lookup(struct symdb *db, uint64_t pc);
/* maps_text: /proc/PID/maps format. sysroot: look for files under it first (NULL = none). */
struct symdb *symdb_new(const char *maps_text, const char *sysroot, char *err, size_t len);
void symdb_free(struct symdb *db);
/* Resolves a return address (looked up at pc-1). Returns 0 (module known) or -1. */
int symdb_resolve(struct symdb *db, uint64_t pc, struct symdb_result *out);
/* Re-reports modules from fresh maps text (cache kept). */
int symdb_refresh(struct symdb *db, const char *maps_text);
/* Interns a string for the life of the db (or of the interner's pool when one is set). */
const char *symdb_intern(struct symdb *db, const char *str);
/* Names are interned by fn from now on (a pool that outlives the db: the live session's, so that
 * names handed to readers stay valid after this db is freed). Call before the first lookup. */
typedef const char *(*symdb_intern_fn)(void *ctx, const char *str);
void symdb_set_interner(struct symdb *db, symdb_intern_fn fn, void *ctx);
/* Offline: the build-id (hex) a snapshot recorded for the file mapped at path. From then on only a
 * file with that id is used for the module (see symdb_module_check). -1: not a valid id, or ENOMEM. */
int symdb_expect_build_id(struct symdb *db, const char *path, const char *hex);
/* What became of a module's file once a lookup needed it. */
enum symdb_check {
	SYMDB_UNCHECKED,  /* no lookup needed its file yet */
	SYMDB_UNVERIFIED, /* a file was found; no build-id was recorded to check it against */
	SYMDB_MATCH,      /* a file with the recorded build-id was found and is used */
	SYMDB_MISMATCH,   /* files were found, none with the recorded build-id: none is used */
	SYMDB_MISSING,    /* no file found */
};
/* expected/found_hex/found_path (may be NULL) point into the db: the recorded id ("" none) and, on
 * a mismatch, the first file tried and its id ("" when it has none). */
enum symdb_check symdb_module_check(struct symdb *db, const char *path, const char **expected,
				    const char **found_hex, const char **found_path);

/* Reads /proc/PID/maps into a malloc'ed string (NULL on failure). */
char *symbols_read_maps(pid_t pid);

#endif
