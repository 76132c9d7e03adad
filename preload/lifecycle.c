/* The life of the preload in a process: the start-up (config, segment, warm-up, wait for a
 * monitor) run by the first hooked call of the process, or by the constructor when no call came
 * first, the slow path that decides how a hooked call is handled before the segment exists, fork
 * (the child gets its own segment, created by its first hooked call) and exit (mark the header,
 * unlink when nobody is attached). Must never use stdio streams or allocate outside the reentrancy
 * guard. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "preload.h"
#include "record.h"

int preload_state = PRELOAD_UNRESOLVED;
int preload_recording = 1;
struct preload_config preload_cfg = {.depth = 16};
struct shm_segment preload_seg = {.fd = -1};
struct memtop_counters preload_preinit;
__thread struct preload_thread preload_tls __attribute__((tls_model("initial-exec")));

static int preload_exit_status;
static int preload_have_exit_status;
static int preload_exited;

static void preload_say(const char *msg)
{
	char line[320];
	int n = snprintf(line, sizeof line, "memtop: %s\n", msg);
	if (n > 0)
		(void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void preload_count_preinit(bool alloc, uint64_t usable, uint64_t req)
{
	struct memtop_counters *c = &preload_preinit;
	if (alloc) {
		__atomic_add_fetch(&c->allocs, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&c->usable_alloc, usable, __ATOMIC_RELAXED);
		__atomic_add_fetch(&c->req_bytes, req, __ATOMIC_RELAXED);
	} else {
		__atomic_add_fetch(&c->frees, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&c->usable_freed, usable, __ATOMIC_RELAXED);
	}
	__atomic_add_fetch(&c->untracked, 1, __ATOMIC_RELAXED);
	preload_add_own((uint64_t *)&preload_tls.inuse_pending, alloc ? usable : -usable);
}

/* Moves the counts made before the segment existed into the calling thread's slot. */
static void preload_fold_preinit(struct preload_thread *t)
{
	struct memtop_counters pre;
	preload_attached(t);
	for (size_t i = 0; i < sizeof pre / sizeof(uint64_t); i++) {
		uint64_t *src = (uint64_t *)&preload_preinit + i;
		((uint64_t *)&pre)[i] = __atomic_exchange_n(src, 0, __ATOMIC_RELAXED);
	}
	preload_count(t, &t->c->allocs, pre.allocs);
	preload_count(t, &t->c->frees, pre.frees);
	preload_count(t, &t->c->usable_alloc, pre.usable_alloc);
	preload_count(t, &t->c->usable_freed, pre.usable_freed);
	preload_count(t, &t->c->req_bytes, pre.req_bytes);
	preload_count(t, &t->c->untracked, pre.untracked);
}

/* Creates /memtop.<pid>. A segment with our pid and our start time can only be our own, left by this
 * process before it called exec: remove it and retry once. */
#define PRELOAD_EXEC_FOLLOW_MS 3000u
/* A process of a followed tree (MEMTOP_FOLLOW) waits this long at its start for the memtop that
 * follows the tree, so that it is traced from its first allocation; bounded: a process that memtop
 * does not take (not its descendant, or memtop is gone) goes on after it. */
#define PRELOAD_TREE_WAIT_MS 2000u

/* Whether a process of a followed tree should wait for memtop: not once the memtop that follows
 * the tree is gone (a report interrupted while the tree runs on), or every process it starts would
 * wait in vain. */
static bool preload_follower_alive(void)
{
	if (!preload_cfg.follow_root)
		return false;
	if (!preload_cfg.follow_monitor)
		return true;
	int saved = errno;
	bool alive = kill((pid_t)preload_cfg.follow_monitor, 0) == 0 || errno == EPERM;
	errno = saved;
	return alive;
}
static bool preload_follow_exec; /* our pre-exec segment had a live consumer */

static int preload_segment_create(void)
{
	struct shm_config cfg;
	char err[256];
	shm_config_defaults(&cfg);
	cfg.ring_cap = preload_cfg.ring;
	cfg.lanes = preload_cfg.lanes;
	cfg.stacks_cap = preload_cfg.stacks;
	cfg.max_depth = preload_cfg.depth;
	cfg.block_ms = preload_cfg.block_ms;
	cfg.live_mode = preload_cfg.live;
	cfg.live_sample_bytes = preload_cfg.sample_bytes;
	cfg.tree_root = (int32_t)preload_cfg.follow_root;
	/* whoever waits for a consumer next is marked waiting from the start (see preload_start) */
	cfg.waiting = preload_cfg.wait_s || preload_follower_alive();
	pid_t pid = getpid();
	int rc = shm_segment_create(&preload_seg, &cfg, pid, err, sizeof err);
	if (rc == -EEXIST) {
		preload_follow_exec = shm_segment_retire_exec(pid);
		cfg.waiting |= preload_follow_exec;
		rc = shm_segment_create(&preload_seg, &cfg, pid, err, sizeof err);
	}
	if (rc == 0 && preload_seg.live_mode != preload_cfg.live) {
		/* /dev/shm had no room for the live table: the hooks must not record into it */
		preload_say("no room in /dev/shm for the live table; keeping counters only "
			    "(MEMTOP_LIVE=off)");
		preload_cfg.live = preload_seg.live_mode;
	}
	if (rc == 0 && preload_seg.fd >= 0) {
		/* The mapping is all we need; an open descriptor would show in the program's fd table
		 * and, once the program reuses its number, must never be closed by us. */
		close(preload_seg.fd);
		preload_seg.fd = -1;
	}
	if (rc != 0) {
		char msg[300];
		snprintf(msg, sizeof msg, "%s; running untraced", err);
		preload_say(msg);
	}
	return rc;
}

/* Blocks the start-up (the first hooked call) until a consumer claims the segment, at most
 * `ms`; on timeout says timeout_msg (when not NULL) and goes on untraced by a consumer. The nap
 * starts at 50 us and doubles up to 1 ms: a monitor that is on its way (memtop report, a tree's
 * follower) claims within a millisecond or two, and a whole 1 ms nap was most of each traced
 * process's wait; a monitor that does not come costs no more wake-ups than before. */
static void preload_wait_for_consumer(uint64_t ms, const char *timeout_msg)
{
	struct memtop_seg_header *h = preload_seg.hdr;
	struct timespec start, now, nap = {0, 50000};
	__atomic_or_fetch(&h->flags, MEMTOP_FLAG_WAITING, __ATOMIC_RELEASE);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!shm_consumer_present(&preload_seg)) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		int64_t waited_ns = (int64_t)(now.tv_sec - start.tv_sec) * 1000000000 +
				    (now.tv_nsec - start.tv_nsec);
		if (waited_ns >= (int64_t)ms * 1000000) {
			if (timeout_msg)
				preload_say(timeout_msg);
			break;
		}
		nanosleep(&nap, NULL);
		if (nap.tv_nsec < 1000000)
			nap.tv_nsec = nap.tv_nsec * 2 < 1000000 ? nap.tv_nsec * 2 : 1000000;
	}
	__atomic_and_fetch(&h->flags, ~MEMTOP_FLAG_WAITING, __ATOMIC_RELEASE);
}

/* A new process of the followed tree, its segment made: rings the follower, so that it takes us
 * now rather than at its next rescan. */
static void preload_ring_follower(void)
{
	if (preload_cfg.follow_monitor)
		shm_follow_ring(preload_cfg.follow_monitor, preload_cfg.follow_root);
}

/* The segment was created marked waiting, and no wait came after all (the follower just went). */
static void preload_not_waiting(void)
{
	__atomic_and_fetch(&preload_seg.hdr->flags, ~MEMTOP_FLAG_WAITING, __ATOMIC_RELEASE);
}

/* fork: the forking thread holds the guard across fork, so nothing it allocates in between is recorded
 * into the parent's ring from the child. */
static void preload_fork_prepare(void)
{
	preload_tls.guard++;
}

static void preload_fork_parent(void)
{
	preload_tls.guard--;
}

/* The child must never write the parent's segment. It inherits the parent's heap, so its counters
 * start from the parent's totals (its in-use bytes stay exact); its own segment is made lazily. */
static void preload_fork_child(void)
{
	struct preload_thread *t = &preload_tls;
	int st = __atomic_load_n(&preload_state, __ATOMIC_RELAXED);
	if (st == PRELOAD_ACTIVE) {
		struct memtop_counters sum = {0};
		for (uint32_t i = 0; i < preload_seg.threads_count; i++) {
			const struct memtop_counters *c = &preload_seg.threads[i].c;
			sum.allocs += c->allocs;
			sum.frees += c->frees;
			sum.usable_alloc += c->usable_alloc;
			sum.usable_freed += c->usable_freed;
			sum.req_bytes += c->req_bytes;
		}
		shm_segment_close(&preload_seg, false);
		preload_live_fork_child();
		preload_preinit = sum;
		preload_thread_forget(t);
		__atomic_store_n(&preload_exited, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&preload_state, PRELOAD_CHILD_PENDING, __ATOMIC_RELEASE);
	}
	t->guard--;
}

/* Called by the first hooked call of a fork child: creates the child's segment. Other threads that
 * arrive meanwhile count into preload_preinit. */
static void preload_child_segment(struct preload_thread *t)
{
	int expected = PRELOAD_CHILD_PENDING;
	if (!__atomic_compare_exchange_n(&preload_state, &expected, PRELOAD_CREATING, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	t->guard++;
	int rc = preload_segment_create();
	t->guard--;
	if (rc != 0) {
		__atomic_store_n(&preload_state, PRELOAD_OFF, __ATOMIC_RELEASE);
		return;
	}
	__atomic_store_n(&preload_state, PRELOAD_ACTIVE, __ATOMIC_RELEASE);
	preload_fold_preinit(t);
	if (preload_follower_alive()) {
		preload_ring_follower();
		preload_wait_for_consumer(PRELOAD_TREE_WAIT_MS, NULL);
	} else {
		preload_not_waiting();
	}
}

/* The start-up: what a constructor would do, run by the first hooked call of the process (other
 * libraries' constructors allocate before ours runs: libstdc++'s emergency pool), so that the
 * process is traced from its first allocation and MEMTOP_WAIT holds that call until the monitor is
 * there. Exactly once: the thread that moves the state from PREINIT to STARTING does it; other
 * threads count into preload_preinit meanwhile, and a call nested in it (dlsym, pthread_atfork,
 * the unwinder's warm-up, the usable-size probe: the preload's own) passes through under the guard.
 * The caller holds no guard. */
static void preload_start(struct preload_thread *t)
{
	extern char **environ;
	if (!environ)
		return; /* before libc's own start: MEMTOP_* cannot be read yet; the next call starts */
	int expected = PRELOAD_PREINIT;
	if (!__atomic_compare_exchange_n(&preload_state, &expected, PRELOAD_STARTING, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	t->guard++;
	preload_config_read(&preload_cfg);
	/* MEMTOP_WAIT is for the process the monitor launched, not for everything it runs. */
	preload_env_remove("MEMTOP_WAIT");
	/* memtop itself (LD_PRELOAD exported by its user) is never traced: dlsym finds its marker */
	if (preload_cfg.disable || dlsym(RTLD_DEFAULT, "memtop_monitor_process") ||
	    preload_segment_create() != 0) {
		__atomic_store_n(&preload_state, PRELOAD_OFF, __ATOMIC_RELEASE);
		t->guard--;
		return;
	}
	/* A new process of the followed tree (a fork child that exec'd, vfork + exec) rings before the
	 * rest of its start (libunwind's first use, about 1 ms), so that the follower's attach runs
	 * meanwhile: rung after it, the follower's claim came after the start, in every process. */
	bool follower = !preload_cfg.wait_s && !preload_follow_exec && preload_follower_alive();
	if (follower)
		preload_ring_follower();
	preload_thread_key_init();
	pthread_atfork(preload_fork_prepare, preload_fork_parent, preload_fork_child);
	preload_unwind_init();
	preload_usable_init();
	preload_bound_check();
	__atomic_store_n(&preload_state, PRELOAD_ACTIVE, __ATOMIC_RELEASE);
	t->guard--;
	preload_fold_preinit(t);
	if (preload_cfg.wait_s)
		preload_wait_for_consumer((uint64_t)preload_cfg.wait_s * 1000,
					  "no monitor attached within the MEMTOP_WAIT timeout; continuing");
	else if (preload_follow_exec)
		/* The monitor that traced us before exec follows to this segment: give it a moment so
		 * the new image is tracked from its first allocation. */
		preload_wait_for_consumer(PRELOAD_EXEC_FOLLOW_MS, NULL);
	else if (follower)
		preload_wait_for_consumer(PRELOAD_TREE_WAIT_MS, NULL);
	else
		preload_not_waiting();
}

int preload_start_injected(void)
{
	preload_config_read(&preload_cfg);
	if (preload_cfg.disable)
		return -ECANCELED;
	if (dlsym(RTLD_DEFAULT, "memtop_monitor_process"))
		return -EPERM; /* memtop itself is never traced */
	int rc = preload_segment_create();
	if (rc != 0)
		return rc < 0 ? rc : -EIO;
	preload_not_waiting(); /* memtop inject holds nothing at a start long past */
	preload_thread_key_init();
	pthread_atfork(preload_fork_prepare, preload_fork_parent, preload_fork_child);
	preload_unwind_init();
	preload_usable_init();
	__atomic_or_fetch(&preload_seg.hdr->flags, MEMTOP_FLAG_INJECTED, __ATOMIC_RELEASE);
	__atomic_store_n(&preload_state, PRELOAD_ACTIVE, __ATOMIC_RELEASE);
	return 0;
}

int preload_mode_slow(struct preload_thread *t)
{
	for (;;) {
		int st = __atomic_load_n(&preload_state, __ATOMIC_ACQUIRE);
		if (t->guard)
			return PRELOAD_MODE_PASS;
		switch (st) {
		case PRELOAD_ACTIVE:
			return PRELOAD_MODE_ACTIVE;
		case PRELOAD_UNRESOLVED:
			preload_resolve();
			continue;
		case PRELOAD_PREINIT:
			preload_start(t);
			st = __atomic_load_n(&preload_state, __ATOMIC_ACQUIRE);
			if (st == PRELOAD_PREINIT)
				return PRELOAD_MODE_PREINIT; /* too early to start (no environ yet) */
			continue;
		case PRELOAD_CHILD_PENDING:
			preload_child_segment(t);
			continue;
		case PRELOAD_STARTING:
		case PRELOAD_CREATING:
			return PRELOAD_MODE_PREINIT;
		default:
			return PRELOAD_MODE_PASS;
		}
	}
}

/* Marks the header exited (once). With no live consumer attached nobody will drain the segment, so
 * its name goes now; the mapping stays, so calls made later in the exit path remain safe. */
void preload_mark_exited(int status, bool have_status)
{
	if (__atomic_load_n(&preload_state, __ATOMIC_ACQUIRE) != PRELOAD_ACTIVE ||
	    preload_in_vfork_child())
		return;
	if (__atomic_exchange_n(&preload_exited, 1, __ATOMIC_ACQ_REL))
		return;
	struct memtop_seg_header *h = preload_seg.hdr;
	__atomic_store_n(&h->exit_status, have_status ? status : -1, __ATOMIC_RELAXED);
	__atomic_or_fetch(&h->flags, MEMTOP_FLAG_EXITED, __ATOMIC_RELEASE);
	if (!shm_consumer_present(&preload_seg) || !shm_consumer_alive(&preload_seg)) {
		char name[64];
		shm_segment_name(preload_seg.pid, name, sizeof name);
		shm_unlink(name);
	}
}

void preload_note_exit_status(int status)
{
	__atomic_store_n(&preload_exit_status, status, __ATOMIC_RELAXED);
	__atomic_store_n(&preload_have_exit_status, 1, __ATOMIC_RELEASE);
}

/* Starts us if no hooked call did before (a program that allocates nothing before main). */
__attribute__((constructor)) static void preload_constructor(void)
{
	struct preload_thread *t = &preload_tls;
	if (t->guard)
		return;
	if (__atomic_load_n(&preload_state, __ATOMIC_ACQUIRE) == PRELOAD_UNRESOLVED) {
		if (preload_inject_detect()) {
			preload_inject_dormant(); /* memtop inject loaded us: it starts us */
			return;
		}
		preload_resolve();
	}
	preload_start(t);
}

__attribute__((destructor)) static void preload_destructor(void)
{
	preload_unwind_report();
	preload_mark_exited(preload_exit_status,
			    __atomic_load_n(&preload_have_exit_status, __ATOMIC_ACQUIRE));
}
