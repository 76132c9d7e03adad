/* The machine's part of the CFI unwinder: DWARF register numbers of the stack and frame pointers
 * (the return address column comes from each CIE) and the registers of the walk's caller. x86_64
 * reads its own frame record; aarch64 takes them in a few instructions of assembly, before any
 * prologue moves them. Elsewhere the walk defers to libunwind. Must never read anything but its own
 * frame record or registers. */
#include <stddef.h>

#include "cfi.h"

#if defined(__x86_64__)
const int cfi_reg_sp = 7, cfi_reg_fp = 6; /* rsp, rbp */

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
#elif defined(__aarch64__)
const int cfi_reg_sp = 31, cfi_reg_fp = 29; /* sp, x29 */

/* A frame record's place in an aarch64 frame depends on the function's locals, so the caller's sp
 * cannot be derived from x29 here: at this function's entry (bl changes only x30) sp and x29 are
 * still the caller's and x30 is the return address into it. */
_Static_assert(offsetof(struct cfi_regs, pc) == 0 && offsetof(struct cfi_regs, sp) == 8 &&
		       offsetof(struct cfi_regs, fp) == 16,
	       "cfi_arch_caller_regs stores at these offsets");
__asm__(".text\n"
	".p2align 2\n"
	".globl cfi_arch_caller_regs\n"
	".hidden cfi_arch_caller_regs\n"
	".type cfi_arch_caller_regs, %function\n"
	"cfi_arch_caller_regs:\n"
	".cfi_startproc\n"
	"\tstr x30, [x0]\n"
	"\tmov x1, sp\n"
	"\tstr x1, [x0, #8]\n"
	"\tstr x29, [x0, #16]\n"
	"\tmov w0, #1\n"
	"\tret\n"
	".cfi_endproc\n"
	".size cfi_arch_caller_regs, . - cfi_arch_caller_regs\n");
#else
const int cfi_reg_sp = -1, cfi_reg_fp = -1;

bool cfi_arch_caller_regs(struct cfi_regs *r)
{
	(void)r;
	return false;
}
#endif
