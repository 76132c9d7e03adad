/* ingest: the ingest thread drains the ring into the engine, heartbeats the claim, publishes
 * views, and notices the target's exit, crash or exec. Must never block the target: waits on
 * uncommitted tickets only while the producer may still live. The engine's only writer. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "session/session_internal.h"
#include "symbols/symbols.h"

#define HEARTBEAT_NS (100ull * 1000000ull)
#define LIVENESS_NS (20ull * 1000000ull)
/* Our own child (memtop run/report) is checked with one waitpid(WNOHANG): cheap enough to do often,
 * and a short-lived target's report should not wait 20 ms to notice the exit. */
#define LIVENESS_CHILD_NS (2ull * 1000000ull)
/* ---- ingest ---- */

bool session_proc_gone(pid_t pid, uint64_t start_ticks)
{
	char state;
	uint64_t start;
	if (!shm_proc_stat(pid, &state, &start) || state == 'Z' || state == 'X')
		return true;
	return start_ticks && start != start_ticks;
}

/* Ingest thread (or before it starts): the state is read by other threads (the symbolizer, the
 * main thread's exit status), so it is stored last, with release, after exit_status/term_signal. */
void session_set_state(struct session *s, enum model_state st)
{
	__atomic_store_n(&s->state, st, __ATOMIC_RELEASE);
}

/* Returns true once the target is gone; records how it ended. */
bool session_target_gone(struct session *s)
{
	struct memtop_seg_header h;
	bool have_hdr = shm_header_read(&s->seg, &h) == 0;
	if (s->child) {
		int st;
		pid_t r = waitpid(s->child, &st, WNOHANG);
		if (r != s->child)
			return false;
		s->child = 0;
		if (WIFEXITED(st)) {
			s->exit_status = WEXITSTATUS(st);
			/* read again now that it is reaped: the exit mark comes just before the end. No
			 * mark: the exit was another image's (an exec with LD_PRELOAD dropped that ended
			 * before EXEC_UNTRACED_NS) or a raw exit system call */
			if (shm_header_read(&s->seg, &h) == 0 && !(h.flags & MEMTOP_FLAG_EXITED))
				__atomic_store_n(&s->exit_unseen, true, __ATOMIC_RELEASE);
			session_set_state(s, MODEL_STATE_EXITED);
		} else {
			s->term_signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
			session_set_state(s, MODEL_STATE_CRASHED);
		}
		return true;
	}
	if (s->from_start && s->state != MODEL_STATE_RUNNING)
		return true; /* child already reaped */
	if (!session_proc_gone(s->pid, s->target_start_ticks))
		return false;
	if (have_hdr && (h.flags & MEMTOP_FLAG_EXITED)) {
		s->exit_status = h.exit_status;
		session_set_state(s, MODEL_STATE_EXITED);
	} else {
		session_set_state(s, MODEL_STATE_CRASHED);
	}
	return true;
}

int session_stack_read(struct session *s, uint32_t id, uint64_t *pcs, uint32_t max)
{
	pthread_rwlock_rdlock(&s->seg_lock);
	int n = s->seg_open ? shm_stack_read(&s->seg, id, pcs, max) : -1;
	pthread_rwlock_unlock(&s->seg_lock);
	return n;
}

/* Validates every record (the segment is untrusted), compacts the valid ones, applies them. */
static void session_apply_batch(struct session *s, struct memtop_event *buf, size_t n)
{
	size_t valid = 0;
	for (size_t i = 0; i < n; i++) {
		if (shm_event_check(&s->seg, &buf[i]) != NULL) {
			s->eng.invalid_events++;
			continue;
		}
		if (valid != i)
			buf[valid] = buf[i];
		valid++;
	}
	session_adopt_symbols(s);
	urcu_memb_read_lock();
	engine_apply_batch(&s->eng, buf, valid);
	urcu_memb_read_unlock();
	if (s->eng.maps_changed) {
		/* read the map now, while the library just loaded is surely still there */
		s->eng.maps_changed = false;
		if (s->ingest_sym)
			symbols_maps_update(s->ingest_sym, symbols_read_maps(s->pid));
		else if (s->opt.no_symbols)
			session_keep_raw_maps(s, symbols_read_maps(s->pid));
		else
			s->early_maps_changed = true;
	}
	engine_batch_end(&s->eng);
}

static void session_handle_requests(struct session *s, uint64_t now)
{
	int m = __atomic_exchange_n(&s->mark_request, 0, __ATOMIC_ACQ_REL);
	if (m)
		shm_ring_clock_pause(&s->seg); /* a pass over the live set: see the publish's */
	if (m == 1)
		engine_mark_all(&s->eng, now);
	else if (m == 2)
		engine_unmark(&s->eng);
	if (m)
		__atomic_store_n(&s->publish_request, 1, __ATOMIC_RELEASE);
}

/* Slots whose generation changed belong to a new thread now. Checked at publish time only. */
static void session_check_slots(struct session *s)
{
	for (uint32_t i = 0; i < s->eng.n_slots && i < s->seg.threads_count; i++) {
		if (s->eng.slot_thread[i] == ENGINE_NO_THREAD)
			continue;
		struct memtop_thread_slot ts;
		if (shm_thread_read(&s->seg, i, &ts) != 0)
			return;
		struct engine_thread *t = &s->eng.threads[s->eng.slot_thread[i]];
		if (ts.generation != s->slot_generation[i] ||
		    (ts.state == MEMTOP_SLOT_FREE && !shm_thread_is_overflow(&s->seg, (uint16_t)i))) {
			if (ts.state == MEMTOP_SLOT_FREE)
				t->alive = false;
			if (ts.generation != s->slot_generation[i])
				engine_slot_reused(&s->eng, (uint16_t)i);
		} else if (s->eng.names_changed) {
			memcpy(t->name, ts.name, 16);
			t->name[15] = '\0';
		}
	}
	s->eng.names_changed = false;
}

void session_finish(struct session *s, struct memtop_event *buf)
{
	/* The producers are gone: drain what is left, skipping tickets nobody will commit. */
	for (int guard = 0; guard < (1 << 26); guard++) {
		size_t n = 0;
		enum shm_pop_status st = shm_ring_pop(&s->seg, buf, INGEST_BATCH, &n);
		if (n)
			session_apply_batch(s, buf, n);
		if (st == SHM_POP_PENDING) {
			shm_ring_skip(&s->seg);
			s->skipped_tickets++;
		} else if (st != SHM_POP_OK) {
			break;
		}
	}
}

void session_unlink_segment(struct session *s)
{
	char name[64];
	shm_segment_name(s->pid, name, sizeof name);
	shm_unlink(name);
}
/* After the target is gone the thread stays to serve marks and publish requests on the final state. */
static void session_idle_loop(struct session *s)
{
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now = shm_clock_ns(CLOCK_MONOTONIC);
		if (!s->ingest_sym) {
			session_adopt_symbols(s);
			if (s->ingest_sym)
				__atomic_store_n(&s->publish_request, 1, __ATOMIC_RELEASE);
		}
		session_handle_requests(s, now);
		if (__atomic_exchange_n(&s->publish_request, 0, __ATOMIC_ACQ_REL))
			session_publish_view(s, now);
		usleep(10000);
	}
}

/* The ingest loop's clocks and backoff, kept across rounds. */
struct ingest_clock {
	uint64_t last_hb, last_live, last_pub;
	struct shm_pace pace; /* when to pop again (shm/ring_pace.c) */
};

/* The top of each round: heartbeat the claim, take a new symbolizer, serve requests, and publish a
 * view when it is due or asked for. */
static void ingest_housekeeping(struct session *s, struct ingest_clock *c, uint64_t now)
{
	if (now - c->last_hb >= HEARTBEAT_NS) {
		shm_consumer_heartbeat(&s->seg);
		c->last_hb = now;
	}
	session_adopt_symbols(s);
	session_handle_requests(s, now);
	if (now - c->last_pub >= (uint64_t)s->opt.publish_ms * 1000000ull ||
	    __atomic_exchange_n(&s->publish_request, 0, __ATOMIC_ACQ_REL)) {
		/* A view may take longer than a nap (tens of ms at 50 k sites): meanwhile the
		 * producers' records take their own clock, not our last pop's. Only here and before
		 * a mark: each pause costs the producers a clock call per record until our next pop
		 * that finds records. */
		shm_ring_clock_pause(&s->seg);
		session_check_slots(s);
		session_publish_view(s, now);
		c->last_pub = now;
	}
}

enum ingest_target {
	INGEST_TARGET_RUNS,     /* go on polling */
	INGEST_TARGET_FOLLOWED, /* it exec'd and we follow the new image: poll again at once */
	INGEST_TARGET_OVER,     /* gone, or exec'd where we cannot follow: the loop ends */
};

/* Whether the target is still there to read, checked when the ring is empty: exec (followed or
 * not), exec into something untraceable, exit. */
static enum ingest_target ingest_check_target(struct session *s, struct memtop_event *buf,
					      uint64_t now)
{
	/* the first symbolizer must be in place before the images change under it */
	if (session_execed(s) && (s->opt.no_symbols || __atomic_load_n(&s->sym, __ATOMIC_ACQUIRE))) {
		session_adopt_symbols(s);
		if (session_follow_exec(s, buf))
			return INGEST_TARGET_FOLLOWED;
		/* not followed: keep the old image's final state and say why */
		__atomic_store_n(&s->exec_lost, true, __ATOMIC_RELEASE);
		return INGEST_TARGET_OVER;
	}
	if (session_exec_untraceable(s, now)) {
		session_finish(s, buf); /* the old image's threads are gone */
		session_unlink_image_segment(s);
		__atomic_store_n(&s->exec_lost, true, __ATOMIC_RELEASE);
		return INGEST_TARGET_OVER;
	}
	if (session_target_gone(s)) {
		session_finish(s, buf);
		session_unlink_segment(s);
		return INGEST_TARGET_OVER;
	}
	return INGEST_TARGET_RUNS;
}

/* Naps nap_us, or less when the target ends meanwhile (exit_fd: a pidfd, readable from its end;
 * -1 without one: the whole nap). True when it ended: an idle nap grows to a few ms
 * (shm/ring_pace.c), and a report used to wait it out after its target's last event. */
static bool ingest_nap(int exit_fd, unsigned nap_us)
{
	if (exit_fd < 0) {
		usleep(nap_us);
		return false;
	}
	struct pollfd p = {.fd = exit_fd, .events = POLLIN};
	struct timespec t = {.tv_sec = nap_us / 1000000, .tv_nsec = (long)(nap_us % 1000000) * 1000};
	return ppoll(&p, 1, &t, NULL) == 1;
}

/* Drains the ring until the target is over (true) or the session stops (false). */
static bool ingest_loop(struct session *s, struct memtop_event *buf, int exit_fd)
{
	struct ingest_clock c = {0};
	shm_pace_init(&c.pace);
	for (;;) {
		uint64_t now = shm_clock_ns(CLOCK_MONOTONIC);
		ingest_housekeeping(s, &c, now);
		if (__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE))
			return false;
		size_t n = 0;
		enum shm_pop_status st = shm_ring_pop(&s->seg, buf, INGEST_BATCH, &n);
		unsigned nap_us = shm_pace_after_pop(&c.pace, &s->seg, n, INGEST_BATCH, st);
		if (n) {
			session_apply_batch(s, buf, n);
			/* A short batch: the ring is drained and the producers are running. Polling again
			 * at once would take a few events at a time (each pop costs a cache-line transfer
			 * per record and our per-batch work) on a core the target could use; a nap lets
			 * them fill a batch (a 64 k ring holds ~5 ms of a 12 M events/s storm). */
			if (nap_us)
				usleep(nap_us);
			continue;
		}
		if (st == SHM_POP_BUS) {
			/* the file shrank under the mapping: the target may live on, we just cannot
			 * read it any more. Keep the last good state and say so; never call it a crash. */
			__atomic_store_n(&s->segment_truncated, true, __ATOMIC_RELEASE);
			return true;
		}
		if (st == SHM_POP_EMPTY)
			__atomic_add_fetch(&s->empty_polls, 1, __ATOMIC_RELEASE);
		if (now - c.last_live >= (s->child ? LIVENESS_CHILD_NS : LIVENESS_NS)) {
			c.last_live = now;
			enum ingest_target t = ingest_check_target(s, buf, now);
			if (t == INGEST_TARGET_FOLLOWED)
				continue;
			if (t == INGEST_TARGET_OVER)
				return true;
		}
		/* an idle target costs few wake-ups; its end is checked at once */
		if (ingest_nap(exit_fd, nap_us)) {
			c.last_live = 0;
			exit_fd = -1; /* readable for good now: later naps (if any) are whole */
		}
	}
}

void *session_ingest_main(void *arg)
{
	struct session *s = arg;
	urcu_memb_register_thread();
	engine_claim_writer(&s->eng); /* the engine's only writer from here */
	struct memtop_event *buf = malloc(sizeof(*buf) * INGEST_BATCH);
	bool gone;
	if (s->reader) {
		gone = session_reader_loop(s); /* beside another monitor: the table only */
	} else {
		/* before the first pop: the handover (late_attach.c) */
		session_live_load(s, s->held_at_start);
		/* the pid stays the target's through an exec, and until we reap it (our child) or
		 * find it gone: a pid used again since only wakes a nap early */
		int exit_fd = (int)syscall(SYS_pidfd_open, s->pid, 0);
		gone = buf && ingest_loop(s, buf, exit_fd);
		if (exit_fd >= 0)
			close(exit_fd);
	}
	session_check_slots(s);
	session_publish_view(s, shm_clock_ns(CLOCK_MONOTONIC));
	__atomic_store_n(&s->finished, gone ? 1 : 0, __ATOMIC_RELEASE);
	/* wake memtop report at once: it prints as soon as the target is gone and drained */
	pthread_mutex_lock(&s->finish_lock);
	pthread_cond_broadcast(&s->finish_cond);
	pthread_mutex_unlock(&s->finish_lock);
	if (gone)
		session_idle_loop(s);
	free(buf);
	urcu_memb_unregister_thread();
	return NULL;
}
