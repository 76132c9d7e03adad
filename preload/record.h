/* The hot path shared by the allocation hooks: decide how a call is handled (mode), count it in the
 * calling thread's slot, and push its event. Cost with no stack: a TLS read, one relaxed load of the
 * consumer claim (its clock beside it: shm_consumer_clock), malloc_usable_size and one ring push.
 * Must never allocate, lock, or leave errno changed. */
#ifndef MEMTOP_PRELOAD_RECORD_H
#define MEMTOP_PRELOAD_RECORD_H

#include <errno.h>
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#endif

#include "preload.h"
#include "ring_push.h"

enum preload_mode {
	PRELOAD_MODE_ACTIVE = 0, /* count and push */
	PRELOAD_MODE_PASS,       /* nested call or disabled: straight to the real function */
	PRELOAD_MODE_PREINIT,    /* no segment yet: count into preload_preinit */
};

int preload_mode_slow(struct preload_thread *t);

static inline int preload_mode(struct preload_thread *t)
{
	if (preload_likely(__atomic_load_n(&preload_state, __ATOMIC_RELAXED) == PRELOAD_ACTIVE &&
			   t->guard == 0))
		return PRELOAD_MODE_ACTIVE;
	return preload_mode_slow(t);
}

/* Adds to one of this thread's counters: one unlocked add for an owned slot (single writer, safe
 * against a signal handler of this thread: preload_add_own), an atomic add for the shared overflow
 * slot (overflow: t->overflow). */
static inline void preload_count_as(bool overflow, uint64_t *field, uint64_t v)
{
	if (preload_unlikely(overflow))
		__atomic_add_fetch(field, v, __ATOMIC_RELAXED);
	else
		preload_add_own(field, v);
}

static inline void preload_count(struct preload_thread *t, uint64_t *field, uint64_t v)
{
	preload_count_as(t->overflow, field, v);
}

static inline struct preload_thread *preload_attached(struct preload_thread *t)
{
	if (preload_unlikely(t->c == NULL))
		preload_thread_attach(t);
	return t;
}

void preload_count_preinit(bool alloc, uint64_t usable, uint64_t req);

/* Records a new block in the live table when MEMTOP_LIVE says so: in sampled mode a subtraction
 * and a branch for the blocks the sampler skips. Before the push decision (the claim load): a
 * monitor claiming meanwhile then finds the block in the table or its event in the ring. */
static inline void preload_live_note(struct preload_thread *t, uint64_t addr, uint64_t req,
				     uint16_t flags, uint32_t *stack, const void *hook_frame)
{
	uint32_t live = preload_cfg.live;
	if (live == MEMTOP_LIVE_OFF)
		return;
	if (preload_likely(live == MEMTOP_LIVE_SAMPLED) &&
	    preload_likely(!sampler_take(&t->sampler, req, preload_cfg.sample_bytes,
					 preload_cfg.sample_seed)))
		return;
	preload_live_add(t, addr, req, flags, stack, hook_frame);
}

/* True when events should be pushed now; otherwise counts the event as untracked. */
static inline bool preload_should_push(struct preload_thread *t)
{
	if (preload_likely(shm_consumer_present(&preload_seg) &&
			   __atomic_load_n(&preload_recording, __ATOMIC_RELAXED)))
		return true;
	preload_count(t, &t->c->untracked, 1);
	return false;
}

/* True while the process has one thread: glibc clears __libc_single_threaded in pthread_create,
 * before the new thread exists, and never sets it again in this process. A fork child pushes into a
 * segment of its own (the atfork child handler closes the parent's before anything is recorded); a
 * vfork child runs while its single-threaded parent waits. Then no other thread or process pushes
 * into our segment, and the ring may take tickets without a locked instruction (shm_ring_push_as).
 * Threads made by a raw clone() would share our TLS, which the preload does not support anyway. */
static inline bool preload_alone(void)
{
#if __has_include(<sys/single_threaded.h>)
	return __libc_single_threaded != 0;
#else
	return false;
#endif
}

/* Counts an event the ring did not take; returns true when it did. */
static inline bool preload_pushed(struct preload_thread *t, enum shm_push_result r)
{
	if (preload_unlikely(r != SHM_PUSHED))
		preload_count(t, r == SHM_DROPPED ? &t->c->dropped : &t->c->untracked, 1);
	return r == SHM_PUSHED;
}

/* Pushes one of the hooks' events (never a TAG: preload_push_simple), after preload_should_push
 * found the consumer. Returns true when the event is in the ring. */
static inline __attribute__((always_inline)) bool preload_push(struct preload_thread *t,
								 struct memtop_event *ev)
{
	ev->thread_slot = t->slot;
	ev->timestamp_ns = shm_consumer_clock(&preload_seg);
	return preload_pushed(t, shm_ring_push_record(&preload_seg, ev, preload_alone()));
}

/* The counters and the slot's kind in locals: GCC loaded both again after each add (the add is an
 * asm on memory), 3 instructions an add. Only this thread's attach changes them, and a signal
 * handler on it attaches only a thread that has no counters yet. */
static inline void preload_count_alloc(struct preload_thread *t, uint64_t usable, uint64_t req)
{
	struct memtop_counters *c = t->c;
	const bool overflow = t->overflow;
	preload_count_as(overflow, &c->allocs, 1);
	preload_count_as(overflow, &c->usable_alloc, usable);
	preload_count_as(overflow, &c->req_bytes, req);
	preload_add_own((uint64_t *)&t->inuse_pending, usable);
	if (preload_unlikely(t->inuse_pending >= PRELOAD_PEAK_FOLD_BYTES))
		preload_peak_fold(t);
}

static inline void preload_count_free(struct preload_thread *t, uint64_t usable)
{
	struct memtop_counters *c = t->c;
	const bool overflow = t->overflow;
	preload_count_as(overflow, &c->frees, 1);
	preload_count_as(overflow, &c->usable_freed, usable);
	preload_add_own((uint64_t *)&t->inuse_pending, -usable);
	if (preload_unlikely(t->inuse_pending <= -PRELOAD_PEAK_FOLD_BYTES))
		preload_peak_fold(t);
}

/* An allocation returned p (non-NULL). type is MALLOC, CALLOC, MEMALIGN or REALLOC_END (for
 * realloc(NULL, n)); aux is the alignment or 0; hook_frame: PRELOAD_HOOK_FRAME() of the caller.
 * The ticket is taken here, after the real call. */
static inline void preload_on_alloc(struct preload_thread *t, int mode, uint8_t type, void *p,
				    uint64_t req, uint64_t aux, const void *hook_frame)
{
	uint64_t usable = preload_usable(p);
	if (preload_unlikely(mode == PRELOAD_MODE_PREINIT)) {
		preload_count_preinit(true, usable, req);
		return;
	}
	preload_attached(t);
	preload_count_alloc(t, usable, req);
	uint32_t stack = PRELOAD_STACK_UNSET;
	preload_live_note(t, (uintptr_t)p, req,
			  type == MEMTOP_EV_REALLOC_END ? MEMTOP_LIVEF_REALLOC : 0, &stack, hook_frame);
	if (preload_should_push(t)) {
		int *errno_at = t->errno_at;
		int saved = *errno_at; /* unwinding and a full-ring wait may make system calls */
		struct memtop_event ev = {
			.type = type, .addr = (uintptr_t)p, .size = req, .aux = aux, .usable = usable,
		};
		if (stack == PRELOAD_STACK_UNSET)
			stack = preload_cfg.depth ? preload_stack_capture(t, hook_frame) : MEMTOP_STACK_NONE;
		ev.stack_id = stack;
		preload_push(t, &ev);
		*errno_at = saved;
	}
}

/* A block is about to be freed: count it and push FREE before the real free (its ticket then
 * precedes any reuse of the address by another thread). */
static inline void preload_on_free(struct preload_thread *t, int mode, void *p)
{
	uint64_t usable = preload_usable(p);
	if (preload_unlikely(mode == PRELOAD_MODE_PREINIT)) {
		preload_count_preinit(false, usable, 0);
		return;
	}
	preload_attached(t);
	preload_count_free(t, usable);
	/* out of the table before the push decision (the claim load) and before the real free */
	bool tabled = preload_live_forget((uintptr_t)p, NULL);
	if (preload_should_push(t)) {
		int *errno_at = t->errno_at;
		int saved = *errno_at; /* a full-ring wait may make system calls */
		struct memtop_event ev = {.type = MEMTOP_EV_FREE, .addr = (uintptr_t)p,
					  .flags = tabled ? MEMTOP_EVF_TABLED : 0};
		preload_push(t, &ev);
		*errno_at = saved;
	}
}

#endif
