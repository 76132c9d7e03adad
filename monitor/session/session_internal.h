/* session_internal: the session's state, shared by the files of monitor/session/ only (and by
 * white-box unit tests and benchmarks that build a session without a target). Everything above
 * monitor/session/ goes through session.h. Each field says which thread writes it. */
#ifndef MEMTOP_SESSION_INTERNAL_H
#define MEMTOP_SESSION_INTERNAL_H

#include "engine/engine.h"
#include "session/session.h"

struct model_view_box;
struct session_symref;
struct strpool;

#define INGEST_BATCH 1024

/* session_attach's refusal of a segment not marked for options.tree_root (tree.c tells it apart
 * from a segment not ready yet) */
#define SESSION_NOT_IN_TREE "is not marked as a process of the tree of"

/* The call-site table of the published view, kept by the publisher between publishes: where each
 * site (by its index in engine.site_ids) sits in the view, so that a publish re-sorts only the
 * sites the engine changed since the last one and copies the rest in order. */
struct view_sites_key;
struct view_sites {
	uint32_t n;                  /* sites in the current view (0: the next publish rebuilds) */
	uint32_t cap;
	uint32_t *pos;               /* site index -> position in the current view */
	uint32_t *idx, *idx_next;    /* position -> site index (current, being built) */
	uint8_t *unresolved;         /* site index -> its top frame is not symbolized yet */
	uint32_t *newpos, *order;    /* a publish's: changed site -> new position; changed sites */
	struct view_sites_key *keys, *keys_tmp; /* changed sites, sorted */
	const void *sym;             /* the symbolizer the top frames came from */
	bool skip;                   /* symbols_skip_active() they were named with */
	uint64_t peak_epoch;         /* engine.peak_epoch at the last publish */
};

struct session {
	pid_t pid;
	pid_t child;              /* memtop run/report: our child (waited by the ingest thread) */
	/* memtop run/report, main thread only: the child made no segment (untraced from its start),
	 * or went where memtop cannot follow (exec_lost); session_wait_untraced waits for it. */
	bool untraced;
	bool untraced_waited;
	int untraced_exit_code;
	/* ingest thread, before it sets exec_lost: why the program exec'd cannot be traced ("" when
	 * the new image just made no segment in time) */
	char exec_lost_why[768];
	/* ingest thread: the executable (device, inode) of the image being traced, for `execs` images
	 * followed, and when it was first seen replaced by another one with no new segment */
	uint64_t image_dev, image_ino, image_changed_ns;
	unsigned image_execs;
	bool image_known;
	struct shm_segment seg;
	/* Held for writing by the ingest thread only while it swaps seg for the segment of a new
	 * image (exec); other threads read the segment through session_stack_read. */
	pthread_rwlock_t seg_lock;
	bool seg_open;
	unsigned execs;           /* program images followed through exec */
	bool claimed;             /* the consumer claim is ours */
	/* Another monitor holds the claim: this session reads the live table only, reloading it at
	 * each publish (late_attach.c). Set at bind, never changed. */
	bool reader;
	/* ingest thread (late_attach.c): the live table's mode, blocks it could not hold (target's
	 * count), entries unreadable at the last load, a chunk or the table that could not be read */
	uint32_t live_mode;
	uint64_t live_overflow, live_busy, live_stale_dropped;
	bool live_unreadable;
	struct session_options opt;
	struct engine eng;
	char exe[256];
	char command[256];
	uint64_t target_start_ticks; /* /proc start time of the target (clock ticks after boot) */
	uint64_t attach_mono_ns;
	uint64_t attach_real_ns;
	bool from_start;
	bool held_at_start;  /* claimed while the target waited for a consumer at its start (a process
				of a followed tree): nothing it allocated since was missed, so nothing
				is estimated; not from_start, as a fork child inherits an unknown heap */
	bool exe_symbolize_self;

	pthread_t ingest_thread;
	bool ingest_running;
	int stop;                 /* atomic: ask the ingest thread to leave */
	int publish_request;      /* atomic */
	int mark_request;         /* atomic: 1 mark, 2 unmark */
	int finished;             /* atomic: target gone and ring drained; final view published */
	pthread_mutex_t finish_lock; /* with finish_cond: session_wait_finished sleeps until then */
	pthread_cond_t finish_cond;
	uint64_t empty_polls;     /* atomic: times the ingest found the ring empty (drain detection) */

	/* Written by the ingest thread (atomic release, after exit_status and term_signal). The UI
	 * reads the published view's copy; other threads load it atomically. */
	enum model_state state;
	int exit_status, term_signal;
	bool segment_truncated;   /* ingest thread: SIGBUS on the ring, ingest stopped */
	bool segment_damaged;     /* ingest thread: impossible counters in the segment */
	bool exit_unseen;         /* atomic: our child exited, yet its traced image never marked it */
	int damage_said;          /* atomic bits: which of the two the user was told on stderr */

	/* lost events, kept separately from the engine's own counters */
	uint64_t dropped_by_target, skipped_tickets;
	struct memtop_counters target_totals;
	uint64_t monitor_rss;

	/* the current view (rcu pointer) */
	struct model_view_box *view;
	/* publisher only: what the current view's call sites were made from (view_sites.c) */
	struct view_sites vsites;
	/* a view the readers have left, kept for the next publish (atomic: the call_rcu thread
	 * puts it, the publisher takes it): no fresh pages to fault in for every view */
	struct model_view_box *spare_view;
	uint64_t view_generation; /* atomic: written by the ingest thread after each publish */
	uint64_t history[MODEL_HISTORY_MAX];
	uint32_t history_n, history_pos;
	uint64_t last_history_ns, last_growth_ns, last_rate_ns, last_rss_ns;
	uint64_t rate_allocs, rate_frees, rate_bytes, rate_events;
	double allocs_per_s, frees_per_s, bytes_per_s, events_per_s;
	uint32_t *slot_generation; /* last seen generation per slot */

	/* The current image's symbolizer, NULL while there is none. Set under sym_lock (atomic
	 * release) by session_start while ingest already runs, and replaced at each exec by the ingest
	 * thread, which adopts it as ingest_sym and hands it the sites it saw before (early_sites).
	 * Other threads borrow it with session_symbols_get/put: a symbolizer retired at exec is freed
	 * when its last borrower gives it back (names stay valid: they live in `strings`). */
	struct symbols *sym;
	struct symbols *ingest_sym;
	pthread_mutex_t sym_lock;
	struct session_symref *symrefs; /* under sym_lock: every symbolizer not freed yet */
	struct strpool *strings;  /* names of every symbolizer of the session (strpool.h) */
	bool exec_lost;           /* the target exec'd and its new segment could not be followed */
	uint32_t *early_sites;
	size_t early_n, early_cap;
	bool early_maps_changed;
	char *initial_maps;       /* /proc/PID/maps read just before the claim (for symbols_start_live) */
	char *raw_maps;           /* --no-symbols: the image's map for the snapshot (under sym_lock) */
	int sym_adopted;          /* atomic: the ingest thread took over sym */
};

/* ---- lifecycle.c ---- */
struct session *session_new(const struct session_options *o);

/* ---- attach.c ---- */
/* Claims the opened segment and prepares the engine. */
int session_bind(struct session *s, char *err, size_t len);
void session_note_image(struct session *s);
void session_read_cmdline(pid_t pid, char *out, size_t len);
void session_slot_info(void *ctx, uint16_t slot, int32_t *tid, char name[16], uint32_t *gen);

/* ---- spawn.c ---- */
void session_kill_child(struct session *s);

/* ---- ingest.c (ingest thread) ---- */
void *session_ingest_main(void *arg);
bool session_proc_gone(pid_t pid, uint64_t start_ticks);
void session_set_state(struct session *s, enum model_state st);
void session_finish(struct session *s, struct memtop_event *buf);
void session_unlink_segment(struct session *s);

/* ---- late_attach.c (ingest thread) ---- */
void session_live_load(struct session *s, bool held_at_start);
void session_reader_reload(struct session *s);
bool session_reader_loop(struct session *s);
const char *session_live_mode_name(uint32_t mode);
bool session_target_gone(struct session *s);

/* ---- exec_follow.c (ingest thread) ---- */
bool session_execed(struct session *s);
bool session_follow_exec(struct session *s, struct memtop_event *buf);
void session_unlink_image_segment(struct session *s);
bool session_exec_untraceable(struct session *s, uint64_t now);

/* ---- symref.c ---- */
/* Starts a symbolizer for the current image (takes initial_maps). */
struct symbols *session_symbols_start(struct session *s, char *err, size_t len);
int session_symbols_install(struct session *s, struct symbols *sym);
void session_symbols_retire(struct session *s);
void session_symbols_stop_all(struct session *s);
void session_symbols_free_all(struct session *s);
void session_keep_raw_maps(struct session *s, char *maps);
void session_early_site(void *ctx, uint32_t stack_id);
void session_adopt_symbols(struct session *s);

/* ---- view.c (ingest thread, or a session without one) ---- */
void session_publish_view(struct session *s, uint64_t now_ns);
void view_free_all(struct session *s);
/* ---- view_sites.c: the view's call sites, sorted by live bytes (then stack id), refreshed from
 * the engine's dirty list; prev/prev_n: the current view's. False when out of memory. ---- */
bool view_sites_fill(struct session *s, const struct model_site *prev, size_t prev_n,
		     struct model_site *out, size_t n);
void view_sites_free(struct view_sites *vs);

#endif
