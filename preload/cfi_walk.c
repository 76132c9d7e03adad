/* The walk of the cached CFI unwinder: from the caller's registers, one cached rule per frame (a
 * hash, two loads), the return address and frame pointer read from the stack at offsets from the
 * CFA. Any frame the rules cannot express, any read outside this thread's stack, a dlopen or
 * dlclose in progress: -1, and the caller asks libunwind for the whole stack.
 * Never allocates, never faults (every read is inside [the walk's own sp, the stack's top)). */
#include "cfi.h"

/* libunwind stops at return addresses below this (a null or garbage frame), and so do we. */
#define CFI_PC_MIN 0x4000

static bool cfi_rule_for(uintptr_t pc, uint64_t epoch, struct cfi_rule *rule)
{
	if (preload_likely(cfi_cache_get(pc, epoch, rule)))
		return true;
	bool subs_changed;
	cfi_rule_compute(pc, epoch, rule, &subs_changed);
	if (subs_changed) {
		cfi_epoch_bump();
		return false; /* this walk's epoch is gone: libunwind takes it */
	}
	cfi_cache_put(pc, epoch, rule);
	return true;
}

static inline bool cfi_read(uintptr_t addr, uintptr_t lo, uintptr_t hi, uintptr_t *out)
{
	if (addr < lo || addr > hi - sizeof(uintptr_t) || (addr & (sizeof(uintptr_t) - 1)))
		return false;
	*out = *(const uintptr_t *)addr;
	return true;
}

__attribute__((noinline)) int preload_cfi_unwind(struct preload_thread *t, uint64_t *out, int max)
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
	int n = 0;
	while (n < max) {
		struct cfi_rule rule;
		/* a return address: the call is the instruction before it */
		if (!cfi_rule_for(r.pc - 1, epoch, &rule) || rule.kind == CFI_FALLBACK)
			return -1;
		if (rule.kind == CFI_LAST)
			break;
		uintptr_t cfa = (rule.cfa_on_fp ? r.fp : r.sp) + rule.cfa_off, ra, fp = r.fp;
		if (cfa <= r.sp || !cfi_read(cfa + (intptr_t)rule.ra_off, lo, hi, &ra) ||
		    (rule.fp_saved && !cfi_read(cfa + (intptr_t)rule.fp_off, lo, hi, &fp)))
			return -1;
		r.sp = cfa;
		r.fp = fp;
		r.pc = ra;
		if (ra < CFI_PC_MIN)
			break;
		out[n++] = ra;
	}
	return n;
}
