/* The machine's part of the CFI unwinder, x86_64: DWARF register numbers (rsp 7, rbp 6; the return
 * address column comes from the CIE) and the registers of the walk's caller, read from its own
 * frame record. Another machine adds a file like this one; elsewhere the walk defers to libunwind.
 * Must never read anything but its own frame record. */
#include "cfi.h"

#if defined(__x86_64__)
const int cfi_reg_sp = 7, cfi_reg_fp = 6;

/* The preload is built with frame pointers, so this function's frame is [saved rbp][return
 * address] at rbp, and its CFA (the caller's rsp after the call returns) is rbp + 16. */
__attribute__((noinline)) bool cfi_arch_caller_regs(struct cfi_regs *r)
{
	const uintptr_t *frame = __builtin_frame_address(0);
	r->fp = frame[0];
	r->pc = frame[1];
	r->sp = (uintptr_t)frame + 16;
	return true;
}
#else
const int cfi_reg_sp = -1, cfi_reg_fp = -1;

bool cfi_arch_caller_regs(struct cfi_regs *r)
{
	(void)r;
	return false;
}
#endif
