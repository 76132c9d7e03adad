/* Call stacks for allocation events: libunwind's unw_backtrace (default) or a frame-pointer walk
 * (MEMTOP_UNWIND=fp), with the preload's own leading frames removed so that frame 0 is the caller of
 * malloc. Stacks are interned in the segment. Never reentered on a thread: a call nested in a
 * capture (a signal handler) gets MEMTOP_STACK_SIGNAL instead; the frame-pointer walk must never
 * read outside the thread's stack. */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#include "preload.h"

/* Leading frames of our own that a capture sees: the capture itself, at most one non-inlined helper
 * (realloc, memalign family) and the hook. Asking for more would make every unwind step further. */
#define UNWIND_OWN_MAX 4

static uintptr_t own_lo, own_hi; /* address range of libmemtop.so's loaded segments */

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
	own_lo = lo;
	own_hi = hi;
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
	if (preload_cfg.depth == 0 || preload_cfg.unwinder != PRELOAD_UNWIND_LIBUNWIND)
		return;
	unwind_first_use_high_fds();
}

static inline bool unwind_is_own(uintptr_t pc)
{
	return pc >= own_lo && pc < own_hi;
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

/* Interns through a one-entry per-thread cache: same frames as last time, same id. The cache has
 * one writer at a time: only a capture writes it, and captures never nest on a thread. */
static uint32_t unwind_intern(struct preload_thread *t, const uint64_t *frames, uint32_t depth)
{
	if (depth == 0)
		return MEMTOP_STACK_NONE;
	if (depth == t->last_depth && !memcmp(frames, t->last_frames, depth * sizeof *frames))
		return t->last_stack_id;
	uint32_t id = shm_stack_intern(&preload_seg, frames, depth);
	if (id != MEMTOP_STACK_OVERFLOW && id != MEMTOP_STACK_NONE) {
		memcpy(t->last_frames, frames, depth * sizeof *frames);
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
uint32_t preload_stack_capture(struct preload_thread *t)
{
	if (preload_unlikely(t->unwinding))
		return MEMTOP_STACK_SIGNAL;
	int want = (int)preload_cfg.depth + UNWIND_OWN_MAX;
	uint64_t frames[MEMTOP_MAX_DEPTH + UNWIND_OWN_MAX];
	int n;
	t->unwinding = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* set before the walk starts, as a handler sees it */
	if (preload_cfg.unwinder == PRELOAD_UNWIND_FP) {
		n = unwind_fp(t, frames, want);
	} else {
		void *raw[MEMTOP_MAX_DEPTH + UNWIND_OWN_MAX];
		n = unw_backtrace(raw, want);
		for (int i = 0; i < n; i++)
			frames[i] = (uintptr_t)raw[i];
	}
	/* Drop our own frames: the leading ones (capture, hook) and the main() wrapper at the bottom. */
	int depth = 0;
	for (int i = 0; i < n && depth < (int)preload_cfg.depth; i++)
		if (!unwind_is_own(frames[i]))
			frames[depth++] = frames[i];
	uint32_t id = unwind_intern(t, frames, (uint32_t)depth);
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* the walk and the cache are done before clearing */
	t->unwinding = 0;
	return id;
}
