/* model.h: the read side of the monitor engine, the ONLY interface the dashboard (monitor/ui/) uses.
 * Everything here is computed by the engine (ingest thread, symbolizer thread); the UI never walks
 * the live set itself and never includes anything below this header except session.h's opaque type.
 *
 * Threading contract (liburcu memb flavour, <urcu/urcu-memb.h>):
 *  - A thread that reads views must be registered: urcu_memb_register_thread() once, and
 *    urcu_memb_unregister_thread() before it exits. (memtop's main thread is registered by main.c.)
 *  - model_view_get() must be called inside urcu_memb_read_lock()/urcu_memb_read_unlock(); the view
 *    and every pointer reachable from it (rows, strings) stay valid until the read unlock. Copy what
 *    you need to keep longer. Views are immutable: never write into them.
 *  - The engine publishes a new view every `publish_ms` (default 200 ms, session_options) with
 *    rcu_assign_pointer semantics (rcu_xchg_pointer) and frees the old one with call_rcu. A view is
 *    O(call sites + threads) to build (~15 ms at 50 k sites, on the ingest thread); it never
 *    contains per-block data.
 *  - Per-block queries (walks, leak suspects, maps heatmap) are RESULT objects computed on request:
 *    cost O(live blocks) (measured at 1 M blocks on the 2-core CI box: walk ~0.4 s CPU, suspects
 *    ~0.6 s; 1 ms per 2.5 k blocks), immutable, owned by the caller, freed with
 *    the matching *_free(). Call them when the user asks / when the view is shown, and cache them:
 *    do not call them on every refresh. They may be called from any registered thread, without holding
 *    the read lock (they take it internally).
 *  - Symbol strings (function, file) are interned for the whole session: pointers stay valid until
 *    session_destroy(). A frame not yet symbolized has func == NULL (show the raw address).
 *
 * `memtop demo` runs the workload `memtop-demo` (monitor/ui/meson.build), found by main.c next to
 * the memtop executable, in ui/ or ../monitor/ui/ below it, or in the install bindir.
 */
#ifndef MEMTOP_MODEL_H
#define MEMTOP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct session; /* opaque; see session.h (created by main.c, handed to ui_run) */

/* ------------------------------------------------------------------ session state */

enum model_state {
	MODEL_STATE_STARTING = 0, /* target launched, not attached yet */
	MODEL_STATE_RUNNING = 1,
	MODEL_STATE_EXITED = 2,  /* target ran exit(); exit_status valid. Final state kept. */
	MODEL_STATE_CRASHED = 3, /* target died without its exit path (signal): term_signal valid */
};

struct model_session_info {
	pid_t pid;
	char exe[256];       /* executable path from the segment header */
	char command[256];   /* command line (from /proc/PID/cmdline at attach, spaces between args) */
	enum model_state state;
	int exit_status;     /* MODEL_STATE_EXITED: the status passed to exit() */
	int term_signal;     /* MODEL_STATE_CRASHED: the signal when known (memtop run), else 0 */
	uint64_t uptime_ns;  /* since the target process started (or since attach if unknown) */
	uint64_t attached_ns;/* time since memtop attached */
	bool from_start;     /* attached with MEMTOP_WAIT (memtop run/report): nothing missed */
	/* The live set may differ from the target's heap: events were lost (lost_events), an address
	 * was allocated twice without a free between (duplicate_allocs: a free was never seen), a free
	 * named an unknown address although tracking started with the process (from_start and
	 * unknown_frees: an allocation was never seen), or the segment is bad. */
	bool approximate;
	/* The segment shrank under the mapping (SIGBUS): nothing more can be read; the figures are
	 * frozen at the last good read while the target may well live on. */
	bool segment_truncated;
	/* Counters read from the segment were impossible (scribbled): they are no longer believed;
	 * the target-side figures stay at the last sane read. */
	bool segment_damaged;
	/* The target binds another malloc than libmemtop's (an allocator preloaded before it): the
	 * preload sees no allocation, so the figures stay at zero for that reason. */
	bool allocator_not_bound;
	/* memtop inject loaded the library into the running process at this CLOCK_REALTIME ns (0: it
	 * was preloaded): blocks allocated before are unknown, their frees count as unknown frees. */
	uint64_t injected_at_ns;
	/* The target's live table (MEMTOP_LIVE): 0 off, 1 sampled, 2 exact. With samples loaded at
	 * attach (estimated), live figures are estimates from 1 sample per sample_bytes; reader: this
	 * monitor reads the table beside another monitor that holds the ring. */
	uint32_t live_mode;
	uint64_t sample_bytes;
	bool estimated;
	bool reader;
	uint64_t seeded_blocks;  /* blocks loaded from the table */
	uint64_t live_overflow;  /* blocks the target could not record in its table */
};

/* ------------------------------------------------------------------ totals */

#define MODEL_SIZE_BUCKETS 65
struct model_totals {
	/* From the live set (requested sizes, as valgrind reports them). */
	uint64_t live_bytes;
	uint64_t live_blocks;
	uint64_t peak_bytes;      /* max live_bytes seen since attach */
	uint64_t peak_blocks;
	/* Counted from the events applied (realloc = free of the old block + alloc of the new). */
	uint64_t allocs;
	uint64_t frees;
	uint64_t bytes_allocated; /* requested */
	uint64_t bytes_freed;     /* requested size of the freed blocks that were known */
	uint64_t unknown_frees;   /* frees of addresses not in the live set (allocated before attach) */
	uint64_t lost_events;     /* dropped by the target (ring full) + skipped + invalid records */
	uint64_t dropped_events;  /* dropped by the target: the ring stayed full (part of lost_events) */
	uint64_t skipped_events;  /* tickets a dead producer never committed (part of lost_events) */
	uint64_t invalid_events;  /* records that failed validation (part of lost_events) */
	uint64_t duplicate_allocs;/* allocations of an address already live: its free was never seen */
	uint64_t events;          /* records applied since attach */
	/* Rates over the last second (per second). */
	double allocs_per_s;
	double frees_per_s;
	double bytes_per_s;       /* requested bytes allocated per second */
	double events_per_s;
	/* The target's own counters (exact even when events are dropped; usable sizes). */
	uint64_t target_allocs;
	uint64_t target_frees;
	uint64_t target_usable_in_use; /* usable_alloc - usable_freed over all slots */
	uint64_t target_untracked;     /* calls made while no monitor was attached */
	/* Tool overhead. */
	uint64_t segment_bytes;   /* size of the shared segment */
	uint64_t monitor_bytes;   /* memtop's own memory (VmRSS of memtop, refreshed each second) */
	uint64_t model_bytes;     /* of which the live set and aggregates (exact, from the engine) */
	uint64_t overhead_bytes;  /* segment_bytes + monitor_bytes */
	uint64_t stacks_used;     /* distinct call stacks interned by the target */
	uint64_t stacks_overflow; /* stacks refused because the table was full */
	/* Analysis (heaptrack's questions). */
	uint64_t temporary_allocs; /* freed with no other allocation in between */
	uint64_t size_hist[MODEL_SIZE_BUCKETS]; /* allocations by requested size: bucket 0 holds size
						 * 0, bucket k >= 1 sizes in [2^(k-1), 2^k) */
};

/* Sparkline history: one sample of live_bytes per `interval_ms` (default 1000), oldest first. */
#define MODEL_HISTORY_MAX 600
struct model_history {
	uint32_t interval_ms;
	uint32_t count;                    /* valid samples, <= MODEL_HISTORY_MAX */
	uint64_t live_bytes[MODEL_HISTORY_MAX];
};

/* Live bytes over time, kept by the engine per event in fixed memory: a point when an event comes
 * at least step_ms after the last point; when full, two neighbours merge and the step doubles.
 * t_ms counts from the first event the engine applied. Point i also stands for the bucket of time
 * up to the next point: max_bytes/min_bytes are the extremes live bytes reached in it (its own
 * value included), so a rise and fall between two points is kept (the last bucket is still open). */
#define MODEL_TIMELINE_MAX 256
struct model_timeline {
	uint32_t step_ms;
	uint32_t n;
	uint32_t t_ms[MODEL_TIMELINE_MAX];
	uint64_t live_bytes[MODEL_TIMELINE_MAX];
	uint64_t max_bytes[MODEL_TIMELINE_MAX];
	uint64_t min_bytes[MODEL_TIMELINE_MAX];
};

/* ------------------------------------------------------------------ symbols */

struct model_frame {
	uint64_t pc;          /* raw return address (as captured in the target) */
	const char *module;   /* file name of the mapping, or NULL when unknown */
	uint64_t module_off;  /* pc - module load address */
	const char *func;     /* NULL until symbolized or when unknown */
	const char *file;     /* source file (NULL when no line info) */
	int line;
	bool inlined;         /* an inline frame expanded from the next (outer) physical frame */
};

/* ------------------------------------------------------------------ call sites */

#define MODEL_GROWTH_SAMPLES 8
struct model_site {
	uint32_t stack_id;     /* 0 = no stack, 0xffffffff = stack table overflow,
				  0xfffffffe = in a signal handler (one frame "<in signal handler>") */
	uint64_t live_bytes;
	uint64_t live_blocks;
	uint64_t allocs;       /* total allocations from this site since attach */
	uint64_t bytes_allocated;
	uint64_t frees;        /* frees of blocks from this site */
	int64_t growth;        /* live_bytes now - live_bytes MODEL_GROWTH_SAMPLES samples ago */
	bool growing;          /* live bytes rose (never fell) across the last MODEL_GROWTH_SAMPLES */
	bool estimated;        /* holds samples from the live table: live figures are estimates */
	struct model_frame top;/* first frame outside memtop's own library (symbolized lazily) */
	uint64_t peak_bytes;   /* live at the moment of the peak of total live bytes */
	uint64_t peak_blocks;
	uint64_t temporary;    /* allocations freed with no other allocation in between */
};

/* ------------------------------------------------------------------ threads */

struct model_thread {
	uint32_t id;          /* engine thread id (stable for the session; use as a filter value) */
	int32_t tid;          /* kernel tid */
	char name[16];
	bool alive;           /* false once the thread exited (its blocks may still be live) */
	uint64_t live_bytes;  /* live blocks this thread allocated */
	uint64_t live_blocks;
	uint64_t allocs;
	uint64_t frees;
	double allocs_per_s;
	double frees_per_s;
	uint64_t cross_frees; /* frees by this thread of blocks another thread allocated */
};

/* ------------------------------------------------------------------ tags */

struct model_tag {
	uint32_t id;          /* 1-based tag id */
	char name[48];
	uint64_t time_ns;     /* monotonic timestamp from the target */
	uint64_t age_ns;      /* how long ago (at view build time) */
	uint64_t seq;         /* allocation sequence number at the tag (for "between tags") */
};

/* ------------------------------------------------------------------ the published view */

struct model_view {
	uint64_t generation;  /* increments with each published view */
	uint64_t built_ns;    /* monotonic time of build */
	struct model_session_info session;
	struct model_totals totals;
	struct model_history history;
	struct model_timeline timeline;
	size_t n_sites;
	const struct model_site *sites;     /* sorted by live_bytes descending, then stack_id */
	size_t n_threads;
	const struct model_thread *threads; /* by id */
	size_t n_tags;
	const struct model_tag *tags;       /* by id */
	/* Incremental walk mark (model_mark_all / model_unmark). */
	bool marked;
	uint64_t mark_age_ns;    /* how long ago the mark was set */
	uint64_t since_mark_blocks; /* live blocks allocated after the mark (maintained per event) */
	uint64_t since_mark_bytes;
};

/* Current view, or NULL before the first publish. Caller holds urcu_memb_read_lock(). */
const struct model_view *model_view_get(struct session *s);
/* Ask the engine to publish a fresh view now (async; returns at once). */
void model_request_publish(struct session *s);

/* Allocator wrapper frames (xmalloc, operator new, --skip-frames...) dropped from the top of the
 * stacks shown (the default), or every frame kept; process-wide, seen from the next publish on. */
void model_set_skip_wrappers(bool skip);
bool model_skip_wrappers(void);

/* Full stack of a call site (symbolized as far as known, inline frames expanded).
 * Returns the number of frames written (<= max), or -1 for an unknown stack id. */
int model_site_stack(struct session *s, uint32_t stack_id, struct model_frame *out, int max);

/* ------------------------------------------------------------------ walks (computed on request) */

enum model_walk_kind {
	MODEL_WALK_ALL = 0,        /* every live block */
	MODEL_WALK_SINCE_MARK = 1, /* live blocks allocated after the last model_mark_all() */
};

struct model_walk_filter {
	enum model_walk_kind kind;
	uint32_t thread_id;        /* model_thread.id, or MODEL_ANY_THREAD */
	uint32_t stack_id;         /* or MODEL_ANY_STACK */
	uint64_t min_age_ns;       /* only blocks at least this old (0 = all) */
	uint64_t seq_from, seq_to; /* only blocks allocated with from <= seq < to (0,0 = all): tags */
};
#define MODEL_ANY_THREAD 0xffffffffu
#define MODEL_ANY_STACK 0xfffffffdu /* no stack id: 0xfffffffe and 0xffffffff are reserved ids */

struct model_block {
	uint64_t addr;
	uint64_t size;        /* requested */
	uint64_t seq;         /* allocation order (ingest sequence) */
	uint64_t age_ns;      /* at walk time */
	uint32_t stack_id;
	uint32_t thread_id;   /* model_thread.id */
	bool from_realloc;
	bool sampled;         /* a sample from the live table (MEMTOP_LIVE=sampled): it stands for
				 model_sample_weight blocks (estimates) */
};

/* Immutable result of a walk: blocks in allocation order (oldest first), or, for a compact walk,
 * in no particular order with blocks == NULL (read them with model_walk_block). */
struct model_walk {
	uint64_t taken_ns;
	size_t count;
	uint64_t total_bytes;
	uint64_t sample_mean;  /* sampling mean of its sampled blocks (0: none can be) */
	const struct model_block *blocks;
	/* private */
	void *priv;
};
struct model_walk *model_walk_open(struct session *s, const struct model_walk_filter *f);
/* The same blocks in 4 bytes each instead of a 48-byte copy: references into the live set, which
 * keeps every block the walk names unchanged (and unreused once freed) until model_walk_free. So
 * free it within seconds: blocks freed meanwhile cost their 32 bytes until then. */
struct model_walk *model_walk_open_compact(struct session *s, const struct model_walk_filter *f);
/* Makes a compact walk pin nothing, at 32 bytes per block: for a walk kept for long (a paused
 * display), where the blocks freed meanwhile would pile up. No-op on other walks. O(count); only the
 * walk's owner may call it (it changes how the walk is stored, not what it holds). */
void model_walk_keep(struct model_walk *w);
/* Block i (< count) of any walk, as of the walk's time. */
struct model_block model_walk_block(const struct model_walk *w, size_t i);
/* Paged access: returns min(limit, count - offset) rows starting at offset (0 past the end).
 * Not for a compact walk (it returns 0 rows there). Only the e2e driver calls it today. */
size_t model_walk_page(const struct model_walk *w, size_t offset, size_t limit,
		       const struct model_block **rows);
void model_walk_free(struct model_walk *w);

/* Incremental walk marks: O(1) (the mark is a sequence number, not a per-block flag). */
void model_mark_all(struct session *s);
void model_unmark(struct session *s);

/* ------------------------------------------------------------------ leak suspects */

struct model_suspect_site {
	uint32_t stack_id;
	uint64_t bytes;       /* bytes of blocks older than the expire age */
	uint64_t blocks;
	bool estimated;       /* holds samples: bytes and blocks are estimates */
	uint64_t oldest_age_ns;
	struct model_frame top;
};
struct model_suspects {
	uint64_t expire_ns;
	uint64_t bytes, blocks;           /* totals over all suspect sites */
	size_t n_sites;
	const struct model_suspect_site *sites; /* sorted by bytes desc, then stack_id */
	size_t n_growing;
	const struct model_site *growing; /* sites with growing == true, sorted by growth desc */
	void *priv;
};
struct model_suspects *model_suspects_compute(struct session *s, uint64_t expire_ns);
void model_suspects_free(struct model_suspects *r);

/* ------------------------------------------------------------------ memory map + heatmap */

#define MODEL_HEAT_DEFAULT 32
#define MODEL_HEAT_MAX 256
struct model_map_row {
	uint64_t start, end;
	char perms[5];
	char name[128];       /* "[heap]", "" for anonymous, or the file path */
	uint64_t size_kib;
	uint64_t rss_kib;     /* from smaps */
	uint64_t heap_bytes;  /* live block bytes inside [start, end) (requested sizes, by block start) */
	uint64_t heap_blocks;
	double heap_pct_of_rss; /* heap_bytes / (rss_kib*1024) * 100; 0 when rss is 0 */
	uint32_t divisions;
	uint64_t heat_bytes[MODEL_HEAT_MAX];    /* live bytes per division (sum == heap_bytes) */
	uint8_t heat_resident[MODEL_HEAT_MAX];  /* % (0..100) of the division's pages resident */
	bool heat_resident_known;               /* false when pagemap was not readable */
};
struct model_maps {
	uint64_t taken_ns;
	bool pagemap_readable; /* false: say "resident pages unknown (pagemap not readable)" */
	bool target_gone;      /* the process has exited: maps unavailable, rows empty */
	size_t n_rows;
	const struct model_map_row *rows; /* heap-holding mappings only, by start address */
	void *priv;
};
/* divisions: 1..MODEL_HEAT_MAX (0 = MODEL_HEAT_DEFAULT). */
struct model_maps *model_maps_compute(struct session *s, uint32_t divisions);
void model_maps_free(struct model_maps *m);

/* ------------------------------------------------------------------ snapshot to a file */

/* Writes a text snapshot (docs/snapshot-format.md) of the current state to path.
 * Returns 0, or -errno with a one-line reason in err. Safe from the UI thread (the `s` key). */
int model_snapshot_write(struct session *s, const char *path, char *err, size_t errlen);
/* A default file name in the current directory: "memtop-<pid>-<YYYYmmdd-HHMMSS>.txt". */
void model_snapshot_default_path(struct session *s, char *buf, size_t len);

/* ------------------------------------------------------------------ dashboard entry point */

/* The dashboard's entry point ui_run() and its options (struct ui_options, every field 0 by
 * default) are declared and documented in monitor/ui/ui.h only. ui_run returns when the user quits;
 * the session keeps ingesting meanwhile and main.c tears it down afterwards. */

#endif
