/* Call stacks for allocation events: libunwind's unw_backtrace (default) or a frame-pointer walk
 * (MEMTOP_UNWIND=fp), with the preload's own leading frames removed so that frame 0 is the caller of
 * malloc. Stacks are interned in the segment. Runs under the reentrancy guard (libunwind may
 * allocate); the frame-pointer walk must never read outside the thread's stack. */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <link.h>
#include <string.h>

#include "preload.h"

/* Leading frames of our own that a capture may see: capture, hook helper(s), the hook. */
#define UNWIND_OWN_MAX 8

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

void preload_unwind_init(void)
{
	dl_iterate_phdr(unwind_find_self, (void *)(uintptr_t)preload_unwind_init);
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	/* Warm-up: libunwind reads unwind tables and may allocate on first use; do it here, guarded. */
	void *warm[4];
	unw_backtrace(warm, 4);
}

static inline bool unwind_is_own(uintptr_t pc)
{
	return pc >= own_lo && pc < own_hi;
}

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

uint32_t preload_stack_capture(struct preload_thread *t)
{
	int want = (int)preload_cfg.depth + UNWIND_OWN_MAX;
	uint64_t frames[MEMTOP_MAX_DEPTH + UNWIND_OWN_MAX];
	int n;
	t->guard++;
	if (preload_cfg.unwinder == PRELOAD_UNWIND_FP) {
		n = unwind_fp(t, frames, want);
	} else {
		void *raw[MEMTOP_MAX_DEPTH + UNWIND_OWN_MAX];
		n = unw_backtrace(raw, want);
		for (int i = 0; i < n; i++)
			frames[i] = (uintptr_t)raw[i];
	}
	int skip = 0;
	while (skip < n && unwind_is_own(frames[skip]))
		skip++;
	int depth = n - skip;
	if (depth > (int)preload_cfg.depth)
		depth = (int)preload_cfg.depth;
	uint32_t id = depth > 0 ? shm_stack_intern(&preload_seg, frames + skip, (uint32_t)depth)
				: MEMTOP_STACK_NONE;
	t->guard--;
	return id;
}
