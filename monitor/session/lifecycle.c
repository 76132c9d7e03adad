/* lifecycle: a session's life after attach or run: start the threads, wait for the target's end
 * or a drained ring, the exit status to pass through, teardown, and the requests of model.h that go
 * through the ingest thread. Leaves a running target running. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "session/session_internal.h"
#include "symbols/skipframes.h"
#include "symbols/strpool.h"
#include "symbols/symbols.h"

void session_default_options(struct session_options *o)
{
	memset(o, 0, sizeof(*o));
	o->publish_ms = 200;
	o->history_ms = 1000;
	o->growth_ms = 1000;
	o->pending_wait_ms = 1000;
}
struct session *session_new(const struct session_options *o)
{
	struct session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (o)
		s->opt = *o;
	else
		session_default_options(&s->opt);
	s->seg.fd = -1;
	s->state = MODEL_STATE_STARTING;
	pthread_mutex_init(&s->sym_lock, NULL);
	pthread_rwlock_init(&s->seg_lock, NULL);
	pthread_mutex_init(&s->finish_lock, NULL);
	pthread_cond_init(&s->finish_cond, NULL);
	return s;
}
/* The claim is held since attach: drain at once, and let the symbolizer (slow to set up: libdwfl
 * reads every module) join the running ingest thread when it is ready. */
int session_start(struct session *s, char *err, size_t len)
{
	if (!s->opt.no_symbols) {
		s->eng.on_new_site = session_early_site;
		s->eng.on_new_site_ctx = s;
		s->strings = strpool_new();
		if (!s->strings) {
			snprintf(err, len, "out of memory");
			session_kill_child(s);
			return -1;
		}
	}
	if (pthread_create(&s->ingest_thread, NULL, session_ingest_main, s) != 0) {
		snprintf(err, len, "cannot start the ingest thread");
		session_kill_child(s);
		return -1;
	}
	s->ingest_running = true;
	if (!s->opt.no_symbols) {
		struct symbols *sym = session_symbols_start(s, err, len);
		if (!sym)
			return -1; /* session_destroy stops the ingest thread */
		if (session_symbols_install(s, sym) != 0) {
			symbols_free(sym);
			snprintf(err, len, "out of memory");
			return -1;
		}
		/* callers wait on the symbolizer next: it must know the early sites by then */
		for (int i = 0; i < 500 && !__atomic_load_n(&s->sym_adopted, __ATOMIC_ACQUIRE); i++)
			usleep(1000);
	}
	return 0;
}

bool session_finished(struct session *s)
{
	return __atomic_load_n(&s->finished, __ATOMIC_ACQUIRE) != 0;
}

/* A target held at its start for us (MEMTOP_WAIT, a followed tree) that has not yet seen our claim:
 * it clears the flag once it has, before it returns from the call it was held in. */
static bool session_target_still_held(struct session *s)
{
	struct memtop_seg_header h;
	return s->held_at_start && shm_header_read(&s->seg, &h) == 0 && (h.flags & MEMTOP_FLAG_WAITING);
}

void session_wait_drained(struct session *s, unsigned timeout_ms)
{
	uint64_t start = __atomic_load_n(&s->empty_polls, __ATOMIC_ACQUIRE);
	bool held = session_target_still_held(s);
	for (unsigned waited = 0; waited < timeout_ms && !session_finished(s); waited += 2) {
		/* Until a held target runs, an empty ring says nothing of it (a snapshot taken then was
		 * empty, yet listed the blocks its walk found a moment later): count from its release. */
		if (held && !(held = session_target_still_held(s)))
			start = __atomic_load_n(&s->empty_polls, __ATOMIC_ACQUIRE);
		/* two empty polls after our call: the first may have started before it */
		if (!held && __atomic_load_n(&s->empty_polls, __ATOMIC_ACQUIRE) >= start + 2)
			break;
		usleep(2000);
	}
	uint64_t gen = __atomic_load_n(&s->view_generation, __ATOMIC_ACQUIRE);
	model_request_publish(s);
	for (unsigned waited = 0; waited < 1000 && __atomic_load_n(&s->view_generation,
								   __ATOMIC_ACQUIRE) == gen; waited += 2)
		usleep(2000);
}

void session_wait_finished_for(struct session *s, unsigned ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)ms * 1000000;
	until.tv_sec += until.tv_nsec / 1000000000;
	until.tv_nsec %= 1000000000;
	pthread_mutex_lock(&s->finish_lock);
	if (s->ingest_running && !session_finished(s))
		pthread_cond_timedwait(&s->finish_cond, &s->finish_lock, &until);
	pthread_mutex_unlock(&s->finish_lock);
}

void session_wait_finished(struct session *s)
{
	/* in slices: the ingest thread may stop without finishing (ingest_running is this thread's) */
	while (s->ingest_running && !session_finished(s))
		session_wait_finished_for(s, 100);
}

bool session_wait_untraced(struct session *s)
{
	if (s->untraced_waited)
		return true;
	bool lost = s->untraced || __atomic_load_n(&s->exec_lost, __ATOMIC_ACQUIRE);
	if (!lost || !s->child || (s->ingest_running && !session_finished(s)))
		return false; /* the ingest thread still owns the child (it reaps it) */
	int st;
	pid_t r;
	while ((r = waitpid(s->child, &st, 0)) < 0 && errno == EINTR)
		;
	if (r != s->child)
		return false;
	s->child = 0;
	s->untraced_waited = true;
	s->untraced_exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	/* the figures stay the old image's, but how the process ended is known now: a report
	 * written after this says so instead of "running" */
	if (WIFEXITED(st)) {
		/* atomic: the ingest thread, idle now, still reads them when it publishes */
		__atomic_store_n(&s->exit_status, WEXITSTATUS(st), __ATOMIC_RELAXED);
		session_set_state(s, MODEL_STATE_EXITED);
	} else {
		__atomic_store_n(&s->term_signal, WIFSIGNALED(st) ? WTERMSIG(st) : 0, __ATOMIC_RELAXED);
		session_set_state(s, MODEL_STATE_CRASHED);
	}
	if (s->ingest_running)
		session_wait_drained(s, 0); /* a view with that state */
	return true;
}

int session_exit_code(struct session *s)
{
	if (s->untraced_waited)
		return s->untraced_exit_code;
	/* acquire: the status was written before the state (session_set_state) */
	enum model_state st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
	if (st == MODEL_STATE_EXITED)
		return s->exit_status;
	if (st == MODEL_STATE_CRASHED)
		return s->term_signal ? 128 + s->term_signal : 1;
	return 0;
}

/* A target that exits while a consumer holds the claim leaves the name to that consumer. A monitor
 * leaving before it noticed the exit removes it then, if the name is still this very segment. */
static void session_unlink_if_left_to_us(struct session *s)
{
	struct memtop_seg_header h;
	if (shm_header_read(&s->seg, &h) != 0 || !(h.flags & MEMTOP_FLAG_EXITED))
		return;
	char name[64], path[96];
	shm_segment_name(s->pid, name, sizeof name);
	snprintf(path, sizeof path, "/dev/shm%s", name);
	struct stat mine, named;
	if (s->seg.fd >= 0 && fstat(s->seg.fd, &mine) == 0 && lstat(path, &named) == 0 &&
	    mine.st_ino == named.st_ino && mine.st_dev == named.st_dev)
		shm_unlink(name);
}
void session_destroy(struct session *s)
{
	if (!s)
		return;
	if (s->ingest_running) {
		__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
		pthread_join(s->ingest_thread, NULL);
		s->ingest_running = false;
	}
	/* Release the claim as soon as nobody drains, before the symbolizer's slow teardown: a
	 * claimed ring that nobody reads makes the target wait up to MEMTOP_BLOCK_MS per call. */
	if (s->seg_open && s->claimed && (!session_finished(s) || s->state == MODEL_STATE_RUNNING)) {
		shm_consumer_release(&s->seg);
		session_unlink_if_left_to_us(s);
	}
	session_symbols_stop_all(s);
	if (s->seg_open) {
		shm_segment_close(&s->seg, false);
		s->seg_open = false;
	}
	urcu_memb_barrier();
	view_free_all(s);
	if (s->eng.slot_thread)
		engine_destroy(&s->eng);
	session_symbols_free_all(s);
	strpool_free(s->strings);
	pthread_mutex_destroy(&s->sym_lock);
	pthread_rwlock_destroy(&s->seg_lock);
	pthread_mutex_destroy(&s->finish_lock);
	pthread_cond_destroy(&s->finish_cond);
	free(s->slot_generation);
	free(s->early_sites);
	free(s->initial_maps);
	free(s->raw_maps);
	free(s);
}

/* ---- model.h requests that go through the ingest thread ---- */

void model_request_publish(struct session *s)
{
	__atomic_store_n(&s->publish_request, 1, __ATOMIC_RELEASE);
}

void model_mark_all(struct session *s)
{
	__atomic_store_n(&s->mark_request, 1, __ATOMIC_RELEASE);
}

void model_unmark(struct session *s)
{
	__atomic_store_n(&s->mark_request, 2, __ATOMIC_RELEASE);
}

void model_set_skip_wrappers(bool skip)
{
	symbols_skip_set_active(skip);
}

bool model_skip_wrappers(void)
{
	return symbols_skip_active();
}

pid_t session_pid(const struct session *s)
{
	return s->pid;
}

bool session_target_ended(const struct session *s)
{
	return session_proc_gone(s->pid, s->target_start_ticks);
}

bool session_untraced(const struct session *s)
{
	return s->untraced;
}
