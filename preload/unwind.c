/* Call stacks for allocation events: libunwind's unw_backtrace, the cached CFI walk (cfi.h, with
 * libunwind for what it cannot express) or a frame-pointer walk (MEMTOP_UNWIND), with the preload's
 * own leading frames removed so that frame 0 is the caller of malloc. Stacks are interned in the
 * segment. Never reentered on a thread: a call nested in a capture (a signal handler) gets
 * MEMTOP_STACK_SIGNAL instead; the walks must never read outside the thread's stack. */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#include "cfi.h"
#include "preload.h"

/* Leading frames of our own that a capture sees: the walk's wrapper, the check mode's, the capture
 * itself, at most one non-inlined helper (realloc, memalign family) and the hook. Asking for more
 * would make every unwind step further. */
#define UNWIND_OWN_MAX 6

/* address range of libmemtop.so's loaded segments (the CFI walk drops frames there too) */
uintptr_t preload_own_lo, preload_own_hi;

static int unwind_find_self(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	uintptr_t me = (uintptr_t)data, lo = UINTPTR_MAX, hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;
		if (start < lo)
			lo = start;
		if (start + ph->p_memsz > hi)
			hi = start + ph->p_memsz;
	}
	if (me < lo || me >= hi)
		return 0;
	preload_own_lo = lo;
	preload_own_hi = hi;
	return 1;
}

/* libunwind opens a pipe on first use (to validate memory). Left alone it would take the lowest
 * free descriptors (3, 4), shifting every descriptor number the program gets afterwards. Filling the
 * low numbers with temporary descriptors first puts the pipe at UNWIND_FD_FLOOR or above. */
#define UNWIND_FD_FLOOR 200

static void unwind_first_use_high_fds(void)
{
	int pads[UNWIND_FD_FLOOR], n = 0;
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null_fd >= 0 && null_fd < UNWIND_FD_FLOOR) {
		pads[n++] = null_fd;
		while (n < UNWIND_FD_FLOOR) {
			int fd = fcntl(null_fd, F_DUPFD_CLOEXEC, 0);
			if (fd < 0)
				break;
			if (fd >= UNWIND_FD_FLOOR) {
				close(fd);
				break;
			}
			pads[n++] = fd;
		}
	} else if (null_fd >= 0) {
		close(null_fd);
	}
	/* libunwind initialises on its first call (here: the caching policy). The warm-up then reads
	 * unwind tables and may allocate; both happen here, under the guard. */
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	void *warm[4];
	unw_backtrace(warm, 4);
	while (n > 0)
		close(pads[--n]);
}

void preload_unwind_init(void)
{
	dl_iterate_phdr(unwind_find_self, (void *)(uintptr_t)preload_unwind_init);
	if (preload_cfg.depth == 0 || preload_cfg.unwinder == PRELOAD_UNWIND_FP)
		return;
	/* the CFI walk's cache; without it every capture goes to libunwind */
	if (preload_cfg.unwinder != PRELOAD_UNWIND_LIBUNWIND)
		cfi_cache_init();
	unwind_first_use_high_fds();
}

static inline bool unwind_is_own(uintptr_t pc)
{
	return pc >= preload_own_lo && pc < preload_own_hi;
}

/* The walk reads a frame record as {caller's frame pointer, return address} at the frame pointer:
 * the x86-64 frame (push rbp; mov rbp, rsp) and the AArch64 one (stp x29, x30, [sp]; mov x29, sp;
 * AAPCS64 makes the record mandatory where x29 is kept). 32-bit ARM (the record's place depends on
 * the compiler) and others are refused here rather than walked wrong. */
#if !defined(__x86_64__) && !defined(__aarch64__)
#error "unwind_fp: frame records are known for x86-64 and aarch64 only; add this architecture's layout"
#endif

/* Walks saved frame pointers. Each frame must lie inside this thread's stack, above the previous
 * one and 8-byte aligned; anything else ends the walk (code without frame pointers just gives a
 * shorter or stranger stack, never a fault). */
static __attribute__((noinline)) int unwind_fp(struct preload_thread *t, uint64_t *out, int max)
{
	uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
	uintptr_t lo = t->stack_lo, hi = t->stack_hi;
	int n = 0;
	if (hi == 0) {
		/* Unknown bounds: allow a small window above the current frame. */
		lo = fp;
		hi = fp + (256u << 10);
	}
	while (n < max) {
		if (fp < lo || fp > hi - 2 * sizeof(uintptr_t) || (fp & 7))
			break;
		const uintptr_t *frame = (const uintptr_t *)fp;
		uintptr_t next = frame[0], ret = frame[1];
		if (ret == 0)
			break;
		out[n++] = ret;
		if (next <= fp)
			break;
		fp = next;
	}
	return n;
}

void preload_unwind_thread_exit(struct preload_thread *t)
{
	preload_cfi_thread_exit(t);
}

void preload_unwind_loader_begin(void)
{
	cfi_loader_begin();
}

/* libunwind's unw_step caches are dropped after a module change (its docs ask for this after
 * dlclose); its fast trace cache (unw_backtrace) has no such flush and can serve a rule of an
 * unloaded module: the check mode's reference is therefore the unw_step walk. */
void preload_unwind_loader_end(void)
{
	cfi_loader_end();
	if (preload_cfg.unwinder == PRELOAD_UNWIND_CHECK && preload_cfg.depth)
		unw_flush_cache(unw_local_addr_space, 0, 0);
}

static __attribute__((noinline)) int unwind_libunwind(uint64_t *frames, int want)
{
	void *raw[MEMTOP_MAX_DEPTH + UNWIND_OWN_MAX];
	int n = unw_backtrace(raw, want);
	for (int i = 0; i < n; i++)
		frames[i] = (uintptr_t)raw[i];
	return n;
}

/* Drops our own frames: the leading ones (capture, hook) and the main() wrapper at the bottom. */
static int unwind_strip_own(uint64_t *frames, int n)
{
	int depth = 0;
	for (int i = 0; i < n && depth < (int)preload_cfg.depth; i++)
		if (!unwind_is_own(frames[i]))
			frames[depth++] = frames[i];
	return depth;
}

/* MEMTOP_UNWIND=check: stacks compared, stacks that differed, CFI walks that deferred to libunwind
 * (relaxed atomics: figures, read once at exit). */
static uint64_t check_compared, check_differ, check_fallback;

static void unwind_check_say_differ(const uint64_t *want, int nw, const uint64_t *got, int ng,
				    const char *what)
{
	char line[1024];
	int len = snprintf(line, sizeof line, "memtop: unwind check: differ: libunwind");
	for (int i = 0; i < nw && len < (int)sizeof line - 40; i++)
		len += snprintf(line + len, sizeof line - (size_t)len, " %#" PRIx64, want[i]);
	len += snprintf(line + len, sizeof line - (size_t)len, " | %s", what);
	for (int i = 0; i < ng && len < (int)sizeof line - 40; i++)
		len += snprintf(line + len, sizeof line - (size_t)len, " %#" PRIx64, got[i]);
	len += snprintf(line + len, sizeof line - (size_t)len, "\n");
	(void)!write(2, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
}

/* libunwind's full DWARF walk, one unw_step per frame: the check mode's reference. */
static __attribute__((noinline)) int unwind_libunwind_steps(uint64_t *frames, int want)
{
	unw_context_t uc;
	unw_cursor_t c;
	int n = 0;
	unw_getcontext(&uc);
	if (unw_init_local(&c, &uc) < 0)
		return 0;
	while (n < want && unw_step(&c) > 0) {
		unw_word_t ip;
		if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0)
			break;
		frames[n++] = ip;
	}
	return n;
}

/* Whether the segment's frame arena holds frames[0..depth) at off (checked against its size). */
static bool unwind_frames_at(uint32_t off, const uint64_t *frames, uint32_t depth)
{
	return off <= preload_seg.frames_cap && depth <= preload_seg.frames_cap - off &&
	       !memcmp(&preload_seg.frames[off], frames, depth * sizeof *frames);
}

/* Whether stack id of preload_seg holds exactly frames[0..n). */
static bool unwind_stack_is(uint32_t id, const uint64_t *frames, int n)
{
	return id < preload_seg.stacks_cap && preload_seg.stacks[id].depth == (uint32_t)n &&
	       unwind_frames_at(preload_seg.stacks[id].frames_off, frames, (uint32_t)n);
}

/* Records libunwind's stack; compares the CFI walk's with it, and the stack the walk's trie node
 * names (when it names one) too. *stack_of: the node's id cache once both agree, else NULL. */
static int unwind_check(struct preload_thread *t, uint64_t *frames, int want, uint32_t **stack_of,
			const void *hook_frame)
{
	uint64_t got[MEMTOP_MAX_DEPTH + UNWIND_OWN_MAX];
	uint32_t *cached = NULL;
	int ng = preload_cfi_unwind(t, got, want, (int)preload_cfg.depth, &cached, hook_frame);
	int n = unwind_strip_own(frames, unwind_libunwind_steps(frames, want));
	*stack_of = NULL;
	if (ng < 0) {
		__atomic_add_fetch(&check_fallback, 1, __ATOMIC_RELAXED);
		return n;
	}
	__atomic_add_fetch(&check_compared, 1, __ATOMIC_RELAXED);
	if (ng != n || memcmp(got, frames, (size_t)n * sizeof *frames)) {
		if (__atomic_add_fetch(&check_differ, 1, __ATOMIC_RELAXED) <= 5)
			unwind_check_say_differ(frames, n, got, ng, "cfi");
		return n;
	}
	if (cached && *cached != MEMTOP_STACK_NONE && !unwind_stack_is(*cached, frames, n)) {
		if (__atomic_add_fetch(&check_differ, 1, __ATOMIC_RELAXED) <= 5) {
			char what[48];
			snprintf(what, sizeof what, "trie's stack id %" PRIu32 " (not these frames)",
				 *cached);
			unwind_check_say_differ(frames, n, got, 0, what);
		}
		return n;
	}
	*stack_of = cached;
	return n;
}

void preload_unwind_report(void)
{
	if (preload_cfg.unwinder != PRELOAD_UNWIND_CHECK || preload_cfg.depth == 0)
		return;
	char line[160];
	int len = snprintf(line, sizeof line,
			   "memtop: unwind check: %" PRIu64 " stacks compared, %" PRIu64
			   " differ, %" PRIu64 " deferred to libunwind\n",
			   __atomic_load_n(&check_compared, __ATOMIC_RELAXED),
			   __atomic_load_n(&check_differ, __ATOMIC_RELAXED),
			   __atomic_load_n(&check_fallback, __ATOMIC_RELAXED));
	(void)!write(2, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
}

/* Interns through a one-entry per-thread cache: same frames as last time, same id. The frames are
 * compared in the segment's frame arena (a published stack's frames never change), not copied: the
 * copy cost as much as the compare. The cache has one writer at a time: only a capture writes it,
 * and captures never nest on a thread. A fork child forgets it (preload_thread_forget). */
static uint32_t unwind_intern(struct preload_thread *t, const uint64_t *frames, uint32_t depth)
{
	if (depth == 0)
		return MEMTOP_STACK_NONE;
	if (depth == t->last_depth && unwind_frames_at(t->last_frames_off, frames, depth))
		return t->last_stack_id;
	unsigned memo_log2;
	struct shm_stack_memo *memo = preload_cfi_stack_memo(t, &memo_log2);
	uint32_t id = memo ? shm_stack_intern_memo(&preload_seg, frames, depth, memo, memo_log2)
			   : shm_stack_intern(&preload_seg, frames, depth);
	if (id != MEMTOP_STACK_OVERFLOW && id != MEMTOP_STACK_NONE && id < preload_seg.stacks_cap) {
		t->last_frames_off = preload_seg.stacks[id].frames_off;
		t->last_depth = depth;
		t->last_stack_id = id;
	}
	return id;
}

/* Invariant (reentrancy): a signal handler may run on this thread anywhere in a hook. When it lands
 * inside a capture (t->unwinding), its own calls are counted and pushed like any other (the live
 * set stays exact) but take no stack: libunwind's per-thread cache, its state mid-walk and our
 * last-stack cache all belong to the interrupted capture. Landing anywhere else, it captures its
 * own stack normally: no capture is in progress on the thread then. The counters it adds to are
 * changed in single instructions (preload_add_own), and its ring push never waits on the ticket the
 * interrupted push may hold: tickets are taken and committed in any order, and a lane full past
 * that ticket waits block_ms at most, then drops and counts (ring.c). Before this, the capture held
 * the reentrancy guard, and such calls went uncounted and unrecorded: freed blocks stayed live.
 * libunwind and the frame-pointer walk do not allocate through malloc while they unwind, so a
 * nested call here comes from a signal handler. */
uint32_t preload_stack_capture(struct preload_thread *t, const void *hook_frame)
{
	if (preload_unlikely(t->unwinding))
		return MEMTOP_STACK_SIGNAL;
	int want = (int)preload_cfg.depth + UNWIND_OWN_MAX;
	uint64_t frames[MEMTOP_MAX_DEPTH + UNWIND_OWN_MAX];
	uint32_t *stack_of = NULL; /* where the walk's trie node caches these frames' id (cfi only) */
	int n;
	t->unwinding = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* set before the walk starts, as a handler sees it */
	switch (preload_cfg.unwinder) {
	case PRELOAD_UNWIND_FP:
		n = unwind_strip_own(frames, unwind_fp(t, frames, want));
		break;
	case PRELOAD_UNWIND_CFI:
		n = preload_cfi_unwind(t, frames, want, (int)preload_cfg.depth, &stack_of, hook_frame);
		if (preload_unlikely(n < 0)) {
			stack_of = NULL;
			n = unwind_strip_own(frames, unwind_libunwind(frames, want));
		}
		break;
	case PRELOAD_UNWIND_CHECK:
		n = unwind_check(t, frames, want, &stack_of, hook_frame);
		break;
	default:
		n = unwind_strip_own(frames, unwind_libunwind(frames, want));
	}
	uint32_t id;
	if (stack_of && *stack_of != MEMTOP_STACK_NONE) {
		/* These frames, interned before by this thread in this segment. Not asserted against
		 * the segment's copy: that is shared memory, which a damaged or scribbled segment
		 * changes under us (rel-scribble), and the target must never abort for it.
		 * MEMTOP_UNWIND=check compares the trie's ids with libunwind's frames. */
		id = *stack_of;
	} else {
		id = unwind_intern(t, frames, (uint32_t)n);
		if (stack_of && id != MEMTOP_STACK_OVERFLOW && id < preload_seg.stacks_cap)
			*stack_of = id;
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* the walk and the cache are done before clearing */
	t->unwinding = 0;
	return id;
}
