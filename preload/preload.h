/* Internal declarations shared by the files of libmemtop.so (the preload). Nothing declared here is
 * exported (the library is built with hidden visibility); only the interposed functions and the
 * public memtop_* API carry visibility("default"). Must never declare anything that allocates. */
#ifndef MEMTOP_PRELOAD_H
#define MEMTOP_PRELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampler.h"
#include "shm.h"

#define PRELOAD_EXPORT __attribute__((visibility("default")))
#define preload_likely(x) __builtin_expect(!!(x), 1)
#define preload_unlikely(x) __builtin_expect(!!(x), 0)

/* Life cycle of the process-wide state (preload_state). The hot path tests only for ACTIVE. */
enum preload_state {
	PRELOAD_UNRESOLVED = 0, /* real functions not looked up yet: bootstrap arena serves calls */
	PRELOAD_PREINIT,        /* real functions known, not started: the next call starts us */
	PRELOAD_ACTIVE,         /* segment mapped: count into thread slots, push events */
	PRELOAD_OFF,            /* disabled or segment creation failed: pure pass-through */
	PRELOAD_CHILD_PENDING,  /* fork child: the segment is created by the first hooked call */
	PRELOAD_CREATING,       /* a thread is creating the child's segment */
	PRELOAD_STARTING,       /* a thread is starting us (config, segment, warm-up): other threads
				   count into preload_preinit meanwhile */
	PRELOAD_DORMANT,        /* loaded late (memtop inject), not started: pass-through until
				   memtop_inject_start */
};

/* The functions we interpose, as found behind us (dlsym RTLD_NEXT). */
struct preload_real {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	size_t (*malloc_usable_size)(void *);
	void *(*dlopen)(const char *, int);
	int (*dlclose)(void *);
	int (*prctl)(int, unsigned long, unsigned long, unsigned long, unsigned long);
	int (*pthread_setname_np)(unsigned long, const char *);
	void (*exit)(int) __attribute__((noreturn));
	void (*_exit)(int) __attribute__((noreturn));
	void (*_Exit)(int) __attribute__((noreturn));
};

/* MEMTOP_UNWIND: CFI is the cached DWARF unwinder (cfi.h), libunwind for what it cannot express;
 * CHECK records libunwind's stacks and compares the CFI walk's with them (a test mode). */
enum preload_unwinder {
	PRELOAD_UNWIND_LIBUNWIND = 0,
	PRELOAD_UNWIND_FP = 1,
	PRELOAD_UNWIND_CFI = 2,
	PRELOAD_UNWIND_CHECK = 3,
};

/* Settings from the MEMTOP_* environment variables (config.c). */
struct preload_config {
	uint32_t depth;       /* MEMTOP_DEPTH: frames per stack, 0 = no stacks */
	enum preload_unwinder unwinder; /* MEMTOP_UNWIND */
	uint32_t ring;        /* MEMTOP_RING: ring capacity in events */
	uint32_t lanes;       /* MEMTOP_LANES: ring lanes, 0 = automatic */
	uint32_t stacks;      /* MEMTOP_STACKS: stack table capacity */
	uint32_t wait_s;      /* MEMTOP_WAIT: seconds to wait for a monitor at start, 0 = no wait */
	uint32_t block_ms;    /* MEMTOP_BLOCK_MS: bounded wait on a full lane */
	bool disable;         /* MEMTOP_DISABLE: pure pass-through, no segment */
	uint32_t live;        /* MEMTOP_LIVE: MEMTOP_LIVE_SAMPLED (default), _EXACT or _OFF */
	uint64_t sample_bytes; /* MEMTOP_SAMPLE_BYTES: mean bytes between samples */
	uint64_t sample_seed; /* MEMTOP_SAMPLE_SEED, else random per process (never 0) */
	uint32_t follow_root; /* MEMTOP_FOLLOW: root pid of the tree memtop follows, 0 = none */
	uint32_t follow_monitor; /* MEMTOP_FOLLOW_MONITOR: pid of the memtop that follows it */
};

/* Per-thread state, initial-exec TLS so that reaching it never allocates or takes a lock. */
enum preload_attach { PRELOAD_THREAD_NEW = 0, PRELOAD_THREAD_ATTACHED, PRELOAD_THREAD_GONE };

struct preload_thread {
	uint32_t guard;       /* > 0: inside our own code; nested calls go straight to the real allocator */
	/* 1 while this thread captures a stack (unwind.c). A call nested in it (a signal handler that
	 * interrupted the unwinder) is counted and pushed like any other, with MEMTOP_STACK_SIGNAL
	 * for its stack: the unwinder is not reentrant, but the address and size are known. */
	uint8_t unwinding;
	uint8_t attach;       /* enum preload_attach */
	uint8_t overflow;     /* slot is the shared overflow slot: atomic counter adds */
	uint16_t slot;
	struct memtop_counters *c; /* this thread's counters in the segment */
	/* This thread's errno (&errno, set with c): the hooks keep errno through a push without a
	 * call to __errno_location each (python3 churn: 2 of the ~190 instructions of a free). */
	int *errno_at;
	int64_t inuse_pending;     /* usable bytes not yet folded into the global in-use (peak) */
	uintptr_t stack_lo, stack_hi; /* bounds for the frame-pointer and CFI walks (0 = unknown) */
	uint64_t reallocs;            /* realloc calls so far: links a realloc's BEGIN and END */
	/* The last stack this thread interned: loops allocating from one place skip the shared table.
	 * Its frames are compared where the stack table holds them (written once, never again). */
	uint32_t last_stack_id;
	uint32_t last_depth; /* 0 = nothing cached */
	uint32_t last_frames_off;
	/* The CFI walk's per-thread first-level rule cache (cfi_walk.c): NULL until the first walk,
	 * PRELOAD_CFI_L1_NONE when it could not be mapped or the thread has exited. */
	void *cfi_l1;
	struct sampler sampler; /* MEMTOP_LIVE=sampled: bytes to the next sampled byte (live.c) */
};
#define PRELOAD_CFI_L1_NONE ((void *)-1)

extern __thread struct preload_thread preload_tls __attribute__((tls_model("initial-exec")));

/* Signal safety of the per-thread words (counters of an owned slot, in-use delta, realloc number):
 * one thread writes each, but a signal handler that allocates runs on that thread, between any two
 * instructions of the interrupted hook. A load + add + store would then lose the handler's add
 * (stored over by the interrupted store). These helpers change the word in one instruction, which a
 * signal cannot split; no lock prefix is needed (no other thread writes it), and a reader in
 * another thread or process sees the old or the new value (aligned 8-byte store). Elsewhere than
 * x86-64 (and under ThreadSanitizer, which cannot see inside asm) a relaxed atomic add does it: on
 * AArch64 one LSE ldadd, or an ldxr/stxr loop that a signal between the two restarts (the handler's
 * exception return clears the exclusive monitor), so the handler's add is never lost either. */
static inline void preload_add_own(uint64_t *word, uint64_t v)
{
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
	__asm__ volatile("addq %1, %0" : "+m"(*word) : "er"(v));
#else
	__atomic_add_fetch(word, v, __ATOMIC_RELAXED);
#endif
}

/* Adds v and returns the value before, in one instruction (see preload_add_own). */
static inline uint64_t preload_fetch_add_own(uint64_t *word, uint64_t v)
{
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
	__asm__ volatile("xaddq %0, %1" : "+r"(v), "+m"(*word));
	return v;
#else
	return __atomic_fetch_add(word, v, __ATOMIC_RELAXED);
#endif
}

extern struct preload_real preload_real;
extern struct preload_config preload_cfg;
extern struct shm_segment preload_seg;
extern int preload_state;     /* enum preload_state, atomic */
extern int preload_recording; /* memtop_enable/memtop_disable, atomic */
extern struct memtop_counters preload_preinit; /* counts made before the segment existed (atomic) */

/* bootstrap.c: a static arena for calls made while the real functions are being looked up. */
void *preload_bootstrap_alloc(size_t size, size_t align);
#define PRELOAD_BOOTSTRAP_BYTES (64 * 1024)
extern unsigned char preload_bootstrap_arena[PRELOAD_BOOTSTRAP_BYTES];
/* Inline: every free and realloc asks first. */
static inline bool preload_bootstrap_owns(const void *p)
{
	const unsigned char *c = p;
	return c >= preload_bootstrap_arena && c < preload_bootstrap_arena + PRELOAD_BOOTSTRAP_BYTES;
}
size_t preload_bootstrap_size(const void *p);

/* real.c: looks the real functions up once (under the reentrancy guard). */
void preload_resolve(void);

/* usable.c: malloc_usable_size without its cache miss, when glibc's chunk layout is confirmed. */
extern bool preload_usable_fast;
void preload_usable_init(void);
/* glibc chunk header: size word before the block; bit 1 = mmapped (header 16 bytes, else 8). */
static inline uint64_t preload_usable_header(const void *p)
{
	uint64_t sz = ((const uint64_t *)p)[-1];
	return (sz & ~(uint64_t)7) - ((sz & 2) ? 16 : 8);
}
static inline uint64_t preload_usable(void *p)
{
	if (preload_likely(preload_usable_fast))
		return preload_usable_header(p);
	return preload_real.malloc_usable_size(p);
}

/* config.c */
void preload_config_read(struct preload_config *cfg);
void preload_env_remove(const char *name);

/* lifecycle.c: start-up (at the first hooked call, or in the constructor when no call came first),
 * exit, fork; the slow path that creates a fork child's segment. */
void preload_slow_init(void);
void preload_mark_exited(int status, bool have_status);
void preload_note_exit_status(int status);
/* hooks_process.c: true in a vfork child (or clone(CLONE_VM) child) running in the memory of the
 * process whose segment is mapped: it must never mark, unlink or hand over that segment. */
bool preload_in_vfork_child(void);

/* lifecycle.c: the start-up of a library loaded late (memtop inject): segment marked INJECTED,
 * no wait for a monitor. 0 or -errno. */
int preload_start_injected(void);
/* inject_entry.c: loaded late? (our symbols are not in the program's scope) Then the constructor
 * calls preload_inject_dormant instead of starting; the dlopen hook routes new objects. */
bool preload_inject_detect(void);
void preload_inject_dormant(void);
void preload_inject_route_new(void);

/* thread.c: thread slot claim and release. */
void preload_thread_attach(struct preload_thread *t);
void preload_thread_key_init(void);
void preload_thread_forget(struct preload_thread *t);
void preload_thread_rename(const char *name);

/* unwind.c */
void preload_unwind_init(void);
/* hook_frame: the frame record of the preload function the allocation came through (the caller of
 * that function is where the walk may start, PRELOAD_HOOK_FRAME), or NULL. */
uint32_t preload_stack_capture(struct preload_thread *t, const void *hook_frame);
/* The frame record of the function this is written in (the preload is built with frame pointers):
 * the CFI walk starts at its caller instead of stepping every frame of ours from its own (python3
 * churn under callgrind: 3.8 such steps and ~80 instructions per walk). */
#define PRELOAD_HOOK_FRAME() ((const void *)__builtin_frame_address(0))
void preload_unwind_loader_begin(void); /* around a real dlopen/dlclose: no cached rule is served */
void preload_unwind_loader_end(void);
void preload_unwind_report(void);
void preload_unwind_thread_exit(struct preload_thread *t); /* the thread's unwinder state goes */ /* MEMTOP_UNWIND=check: one line of figures on stderr */

/* peak.c: process-wide in-use and peak, folded from per-thread deltas. */
#define PRELOAD_PEAK_FOLD_BYTES (64 * 1024)
void preload_peak_fold(struct preload_thread *t);
uint64_t preload_peak_get(void);
void preload_peak_reset(uint64_t inuse_now);

/* bound.c: warns once and sets MEMTOP_FLAG_NOT_BOUND when the process binds another malloc. */
void preload_bound_check(void);

/* live.c: the live table kept with or without a monitor (MEMTOP_LIVE). A filter of counters by
 * address hash says "certainly not in the table" in one load for the blocks the sampler skipped. */
#define PRELOAD_LIVE_FILTER (1u << 14)
extern uint8_t preload_live_filter[PRELOAD_LIVE_FILTER];
static inline uint32_t preload_live_filter_slot(uint64_t addr)
{
	return (uint32_t)(((addr >> 4) * 0x9e3779b97f4a7c15ull) >> 50);
}
/* Records a new block when the mode (and the sampler) says so; *stack gets the stack captured for
 * it, or MEMTOP_STACK_OVERFLOW - 2 (PRELOAD_STACK_UNSET) when none was. */
#define PRELOAD_STACK_UNSET 0xfffffffdu
void preload_live_add(struct preload_thread *t, uint64_t addr, uint64_t req, uint16_t flags,
		      uint32_t *stack, const void *hook_frame);
/* Removes a block about to be freed; true when it was in the table (copy in *out if not NULL). */
bool preload_live_forget_slow(uint64_t addr, struct memtop_live_entry *out);
static inline bool preload_live_forget(uint64_t addr, struct memtop_live_entry *out)
{
	if (preload_likely(preload_cfg.live == MEMTOP_LIVE_SAMPLED) &&
	    preload_likely(__atomic_load_n(&preload_live_filter[preload_live_filter_slot(addr)],
					   __ATOMIC_RELAXED) == 0))
		return false;
	if (preload_cfg.live == MEMTOP_LIVE_OFF)
		return false;
	return preload_live_forget_slow(addr, out);
}
void preload_live_fork_child(void);

/* events.c: the non-allocation events (tags, thread names, maps changes). */
void preload_push_simple(uint8_t type, uint64_t aux);

#endif
