/* session: one monitored target: the segment, the engine, the ingest and symbolizer threads, the
 * published view, and the target's fate (running, exited, crashed). Used by main.c and the engine
 * modules; the dashboard sees only the opaque pointer and model.h. Never touches curses. */
#ifndef MEMTOP_SESSION_H
#define MEMTOP_SESSION_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine.h"
#include "model.h"
#include "shm.h"

struct symbols;
struct model_view_box;
struct session_symref;
struct strpool;

struct session_options {
	unsigned publish_ms;      /* view publish interval (default 200) */
	unsigned history_ms;      /* sparkline sample interval (default 1000) */
	unsigned growth_ms;       /* call-site growth sample interval (default 1000) */
	unsigned pending_wait_ms; /* bounded wait for an uncommitted ticket of a dead producer */
	bool no_symbols;          /* do not start the symbolizer */
	bool allow_other_uid;
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
	struct session_options opt;
	struct engine eng;
	char exe[256];
	char command[256];
	uint64_t target_start_ticks; /* /proc start time of the target (clock ticks after boot) */
	uint64_t attach_mono_ns;
	uint64_t attach_real_ns;
	bool from_start;
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

/* Attach to a running traced process. Returns NULL with a one-line reason in err. */
struct session *session_attach(pid_t pid, const struct session_options *o, char *err, size_t len);
/* Start argv with the preload (MEMTOP_WAIT=1) and attach from its first allocation. A command the
 * preload cannot reach (setuid, capabilities, static) is refused before the start (NULL). A child
 * that makes no segment is left running: the session comes back with `untraced` set and the reason
 * in err. */
struct session *session_run(char *const argv[], const char *preload, const struct session_options *o,
			    char *err, size_t len);
/* A copy of the current image's /proc/PID/maps as last read (the symbolizer's, or with
 * --no-symbols the one kept for snapshots), NULL if none; the caller frees it. Any thread. */
char *session_maps_copy(struct session *s);
/* Starts the ingest (and symbolizer) threads. */
int session_start(struct session *s, char *err, size_t len);
/* Waits until the target is gone and every event is applied (the final view is published). */
void session_wait_finished(struct session *s);
bool session_finished(struct session *s);
/* Waits (bounded) until everything queued at the time of the call is applied and a view published
 * after it: what `memtop snapshot PID` needs before writing. */
void session_wait_drained(struct session *s, unsigned timeout_ms);
/* memtop run/report, main thread: when our child runs on untraced (it never made a segment, or
 * exec'd a program memtop cannot follow), waits for it to end and returns true; its exit code is
 * then what session_exit_code gives. Never kills it. False when there is nothing to wait for. */
bool session_wait_untraced(struct session *s);
/* Stops the threads, releases the claim, unmaps. Leaves a running target running. */
void session_destroy(struct session *s);
/* memtop run/report: the exit status to pass through (128+signal when killed). */
int session_exit_code(struct session *s);
/* Tells the user once (one line on stderr each) that the segment was truncated or damaged, that
 * an exec could not be followed, or that the target binds another malloc (figures all zero). Returns non-zero when the figures stopped before the target did
 * (truncated, or exec not followed). */
int session_report_damage(struct session *s);
void session_default_options(struct session_options *o);

/* The current symbolizer, held until session_symbols_put (NULL when there is none: then no put).
 * Any thread but the ingest thread; never hold it across a wait for the ingest thread. */
struct symbols *session_symbols_get(struct session *s);
void session_symbols_put(struct session *s, struct symbols *sym);

/* Reads a call stack from the segment; safe from any thread, across exec. -1 when unreadable. */
int session_stack_read(struct session *s, uint32_t id, uint64_t *pcs, uint32_t max);

/* Internal to the engine modules. */
void session_publish_view(struct session *s, uint64_t now_ns);
void view_free_all(struct session *s);

#endif
