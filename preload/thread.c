/* Per-thread state: a thread claims a slot in the segment's thread table on its first recorded call
 * and releases it when it exits (pthread key destructor). Calls made after the release (later TLS
 * destructors) are counted in the shared overflow slot, so nothing goes uncounted.
 * Runs under the reentrancy guard; must never be reached from inside the guard itself. */
#include <errno.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload.h"

static pthread_key_t preload_thread_key;
static bool preload_thread_key_ok;

static void preload_thread_exit(void *unused)
{
	(void)unused;
	struct preload_thread *t = &preload_tls;
	if (t->c && !t->overflow &&
	    __atomic_load_n(&preload_state, __ATOMIC_ACQUIRE) == PRELOAD_ACTIVE) {
		preload_peak_fold(t);
		shm_thread_release(&preload_seg, t->slot);
	}
	t->c = NULL;
	t->attach = PRELOAD_THREAD_GONE;
	preload_unwind_thread_exit(t);
}

void preload_thread_key_init(void)
{
	preload_thread_key_ok = pthread_key_create(&preload_thread_key, preload_thread_exit) == 0;
}

/* Stack bounds for the frame-pointer and CFI walks, so that they never read outside this thread's
 * stack. */
static void preload_thread_stack_bounds(struct preload_thread *t)
{
	pthread_attr_t attr;
	void *addr;
	size_t size;
	t->stack_lo = t->stack_hi = 0;
	if (pthread_getattr_np(pthread_self(), &attr) != 0)
		return;
	if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
		t->stack_lo = (uintptr_t)addr;
		t->stack_hi = (uintptr_t)addr + size;
	}
	pthread_attr_destroy(&attr);
}

void preload_thread_attach(struct preload_thread *t)
{
	struct shm_segment *seg = &preload_seg;
	int saved = errno; /* the hooks keep errno only around the calls that may change it: this one */
	t->guard++;
	if (t->attach == PRELOAD_THREAD_GONE) {
		t->slot = (uint16_t)(seg->threads_count - 1);
	} else {
		char name[MEMTOP_THREAD_NAME_MAX + 1] = {0};
		syscall(SYS_prctl, PR_GET_NAME, name, 0, 0, 0);
		t->slot = shm_thread_claim(seg, (int32_t)gettid(), name);
		t->attach = PRELOAD_THREAD_ATTACHED;
		if (preload_thread_key_ok)
			pthread_setspecific(preload_thread_key, (void *)1);
		if (preload_cfg.unwinder != PRELOAD_UNWIND_LIBUNWIND && preload_cfg.depth)
			preload_thread_stack_bounds(t);
	}
	t->overflow = shm_thread_is_overflow(seg, t->slot);
	t->errno_at = &errno;
	__atomic_store_n(&t->c, &seg->threads[t->slot].c, __ATOMIC_RELAXED);
	t->guard--;
	errno = saved;
}

/* fork child: the slot belonged to the parent's segment. */
void preload_thread_forget(struct preload_thread *t)
{
	t->c = NULL;
	t->attach = PRELOAD_THREAD_NEW;
	t->overflow = 0;
	t->slot = 0;
	t->last_depth = 0; /* its id belonged to the parent's stack table */
}

void preload_thread_rename(const char *name)
{
	struct preload_thread *t = &preload_tls;
	if (__atomic_load_n(&preload_state, __ATOMIC_ACQUIRE) != PRELOAD_ACTIVE || t->guard || !name)
		return;
	if (!t->c)
		preload_thread_attach(t);
	if (t->overflow)
		return;
	shm_thread_set_name(&preload_seg, t->slot, name);
	preload_push_simple(MEMTOP_EV_THREAD_NAME, t->slot);
}
