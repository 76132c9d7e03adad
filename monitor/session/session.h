/* session: one monitored target: the segment, the engine, the ingest and symbolizer threads, the
 * published view, and the target's fate (running, exited, crashed). The interface for the CLI and
 * the exports; the dashboard sees only the opaque pointer and model.h. Never touches curses. */
#ifndef MEMTOP_SESSION_H
#define MEMTOP_SESSION_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "model.h"
#include "shm.h"

struct symbols;

struct session_options {
	unsigned publish_ms;      /* view publish interval (default 200) */
	unsigned history_ms;      /* sparkline sample interval (default 1000) */
	unsigned growth_ms;       /* call-site growth sample interval (default 1000) */
	unsigned pending_wait_ms; /* bounded wait for an uncommitted ticket of a dead producer */
	bool no_symbols;          /* do not start the symbolizer */
	bool allow_other_uid;
	int child_output_fd;      /* session_run: > 0 becomes the target's stdout and stderr, and its
	                           * stdin is /dev/null (the dashboard owns the terminal); 0 inherits */
	bool follow_tree;         /* session_run: the target's descendants are marked (MEMTOP_FOLLOW)
	                           * and memtop becomes their subreaper, for session_tree_start */
	pid_t tree_root;          /* session_attach: > 0 takes only a segment marked as a process of
	                           * the tree of this root (MEMTOP_FLAG_TREE) */
};

/* Opaque outside monitor/session/ (session_internal.h). */
struct session;

/* The traced process (after exec: the same pid). */
pid_t session_pid(const struct session *s);
/* memtop run/report: our child made no segment (untraced from its start); session_wait_untraced
 * waits for it. */
bool session_untraced(const struct session *s);


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
/* The same, at most ms milliseconds (a waiter that also watches other things). */
void session_wait_finished_for(struct session *s, unsigned ms);
bool session_finished(struct session *s);
/* The target process has ended (gone, or a zombie not yet reaped), whether or not the ingest
 * thread has seen it: the session is then finished once the ring is drained. Any thread. */
bool session_target_ended(const struct session *s);
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

/* ---- the whole process tree of memtop report/run (tree.c) ---- */

struct session_tree;
/* Follows every process that descends from root (started by session_run with follow_tree): each
 * gets a session of its own, started, with options o. Returns NULL when out of memory. */
struct session_tree *session_tree_start(struct session *root, const struct session_options *o);
/* Waits until the root and every process found have ended; descendants that outlive the root are
 * waited for at most linger_ms after it, then left running (their figures as they are then).
 * Returns early once *interrupted is non-zero. Finding new processes stops here. */
void session_tree_wait(struct session_tree *t, unsigned linger_ms, volatile int *interrupted);
/* Sessions of the tree, the root first (index 0), then in the order they were found. */
size_t session_tree_count(struct session_tree *t);
struct session *session_tree_get(struct session_tree *t, size_t i, pid_t *ppid);
/* Destroys the descendants' sessions (never the root's: the caller's). */
void session_tree_destroy(struct session_tree *t);

#endif
