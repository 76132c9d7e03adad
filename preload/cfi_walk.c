/* The walk of the cached CFI unwinder: from the caller's registers, one cached rule per frame (a
 * per-thread direct-mapped table first, the per-process table next), the return address and frame
 * pointer read from the stack at offsets from the CFA. Any frame the rules cannot express, any read
 * outside this thread's stack, a dlopen or dlclose in progress: -1, and the caller asks libunwind
 * for the whole stack. Never allocates through malloc, never faults (every read is inside [the
 * walk's own sp, the stack's top)). */
#include <sys/mman.h>

#include "cfi.h"

/* libunwind stops at return addresses below this (a null or garbage frame), and so do we. */
#define CFI_PC_MIN 0x4000

/* 4096 slots of 16 bytes: 64 KiB per thread (pages touched as slots are), so that the rules of a
 * program's hot frames are read from L1/L2 rather than from the 1 MiB shared table. 512 slots held
 * python3's frames but not cc1's (thousands of distinct return addresses: a fifth of its walk's
 * time went to the shared table). Written only by its thread, and never by a nested capture
 * (captures do not nest on a thread: preload_stack_capture). */
#define CFI_L1_LOG2 12
#define CFI_L1_SLOTS (1u << CFI_L1_LOG2)

/* What a thread maps at its first walk (t->cfi_l1 points to it): the rule table, and the memo of
 * the stacks it interned lately (unwind.c). Pages are touched as slots are used. */
#define CFI_MEMO_LOG2 10
struct cfi_thread_mem {
	struct cfi_slot l1[CFI_L1_SLOTS];
	struct shm_stack_memo memo[1u << CFI_MEMO_LOG2];
};

static struct cfi_thread_mem *cfi_mem_get(struct preload_thread *t)
{
	if (preload_likely(t->cfi_l1 != NULL))
		return t->cfi_l1 == PRELOAD_CFI_L1_NONE ? NULL : t->cfi_l1;
	void *m = mmap(NULL, sizeof(struct cfi_thread_mem), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->cfi_l1 = m == MAP_FAILED ? PRELOAD_CFI_L1_NONE : m;
	return m == MAP_FAILED ? NULL : m;
}

struct shm_stack_memo *preload_cfi_stack_memo(struct preload_thread *t, unsigned *log2)
{
	struct cfi_thread_mem *m = t->cfi_l1;
	*log2 = CFI_MEMO_LOG2;
	return m && m != PRELOAD_CFI_L1_NONE ? m->memo : NULL;
}

void preload_cfi_thread_exit(struct preload_thread *t)
{
	void *mem = t->cfi_l1;
	t->cfi_l1 = PRELOAD_CFI_L1_NONE; /* later captures of this thread (TLS destructors) skip it */
	if (mem && mem != PRELOAD_CFI_L1_NONE)
		munmap(mem, sizeof(struct cfi_thread_mem));
}

/* The rule word for pc in this epoch: the thread's table, the process's, or computed and cached. */
static bool cfi_rule_for(struct cfi_slot *l1, uintptr_t pc, uint64_t epoch, uint64_t *w)
{
	uint64_t key = cfi_key(pc, epoch);
	struct cfi_slot *s = NULL;
	if (l1) {
		s = &l1[cfi_hash(pc) >> (64 - CFI_L1_LOG2)];
		if (preload_likely(s->key == key && (s->rule >> 40) == cfi_rule_tag(epoch))) {
			*w = s->rule;
			return true;
		}
	}
	if (!cfi_cache_get(pc, epoch, w)) {
		struct cfi_rule rule;
		bool subs_changed;
		cfi_rule_compute(pc, epoch, &rule, &subs_changed);
		if (subs_changed) {
			cfi_epoch_bump();
			return false; /* this walk's epoch is gone: libunwind takes it */
		}
		*w = cfi_pack(&rule, epoch);
		cfi_cache_put(pc, epoch, *w);
	}
	if (s && (uint64_t)pc >> CFI_PC_BITS == 0) {
		s->key = key;
		s->rule = *w;
	}
	return true;
}

static inline bool cfi_read(uintptr_t addr, uintptr_t lo, uintptr_t hi, uintptr_t *out)
{
	if (addr < lo || addr > hi - sizeof(uintptr_t) || (addr & (sizeof(uintptr_t) - 1)))
		return false;
	*out = *(const uintptr_t *)addr;
	return true;
}

__attribute__((noinline)) int preload_cfi_unwind(struct preload_thread *t, uint64_t *out, int max,
						  int keep)
{
	struct cfi_regs r;
	uintptr_t hi = t->stack_hi;
	uint64_t word = cfi_loader_word();
	if (hi == 0 || (word & CFI_BUSY_MASK) || !cfi_arch_caller_regs(&r))
		return -1;
	uint64_t epoch = word >> 16;
	uintptr_t lo = r.sp;
	if (lo < t->stack_lo || lo >= hi)
		return -1; /* on another stack (sigaltstack, a coroutine's) */
	struct cfi_thread_mem *mem = cfi_mem_get(t);
	struct cfi_slot *l1 = mem ? mem->l1 : NULL;
	uintptr_t own_lo = preload_own_lo, own_hi = preload_own_hi;
	int n = 0;
	for (int raw = 0; raw < max && n < keep; raw++) {
		uint64_t w;
		/* a return address: the call is the instruction before it */
		if (!cfi_rule_for(l1, r.pc - 1, epoch, &w) || cfi_word_kind(w) == CFI_FALLBACK)
			return -1;
		if (cfi_word_kind(w) == CFI_LAST)
			break;
		uintptr_t cfa = cfi_word_cfa(w, r.sp, r.fp), base = cfi_word_base(w, cfa), ra, fp = r.fp;
		if (cfa <= r.sp || !cfi_read(base + cfi_word_ra_off(w), lo, hi, &ra) ||
		    (cfi_word_fp_saved(w) && !cfi_read(base + cfi_word_fp_off(w), lo, hi, &fp)))
			return -1;
		r.sp = cfa;
		r.fp = fp;
		r.pc = ra;
		if (ra < CFI_PC_MIN)
			break;
		/* our own frames (the hook, the capture) are dropped here rather than after the walk,
		 * so that the walk stops once it has `keep` frames of the program */
		if (ra - own_lo >= own_hi - own_lo)
			out[n++] = ra;
	}
	return n;
}
