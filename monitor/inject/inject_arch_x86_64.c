/* inject_arch for x86_64: user_regs_struct through PTRACE_GETREGS, the extended state through
 * PTRACE_GETREGSET NT_X86_XSTATE, and the System V call convention. The only file of the injector
 * that knows register names; must never touch the target's memory. */
#include <elf.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>

#include "inject/inject_arch.h"

_Static_assert(sizeof(struct user_regs_struct) <= sizeof(((struct inject_regs *)0)->gp),
	       "inject_regs.gp too small");

/* gp is an array of words: copied to and from the kernel's struct (no type punning) */
static struct user_regs_struct gp_of(const struct inject_regs *r)
{
	struct user_regs_struct g;
	memcpy(&g, r->gp, sizeof g);
	return g;
}

int inject_arch_machine(void)
{
	return EM_X86_64;
}

int inject_arch_get_gp(pid_t tid, struct inject_regs *r)
{
	struct user_regs_struct g;
	if (ptrace(PTRACE_GETREGS, tid, NULL, &g) != 0)
		return -1;
	memcpy(r->gp, &g, sizeof g);
	return 0;
}

int inject_arch_set_gp(pid_t tid, const struct inject_regs *r)
{
	struct user_regs_struct g = gp_of(r);
	return ptrace(PTRACE_SETREGS, tid, NULL, &g) == 0 ? 0 : -1;
}

int inject_arch_save(pid_t tid, struct inject_regs *r)
{
	if (inject_arch_get_gp(tid, r) != 0)
		return -1;
	struct iovec iov = {r->xstate, sizeof r->xstate};
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) != 0) {
		/* no XSAVE: the legacy FPU/SSE area */
		if (ptrace(PTRACE_GETFPREGS, tid, NULL, r->xstate) != 0)
			return -1;
		r->xstate_len = 0;
		return 0;
	}
	r->xstate_len = iov.iov_len;
	return 0;
}

int inject_arch_restore(pid_t tid, const struct inject_regs *r)
{
	int rc = 0;
	if (r->xstate_len) {
		struct iovec iov = {(void *)r->xstate, r->xstate_len};
		rc = ptrace(PTRACE_SETREGSET, tid, (void *)NT_X86_XSTATE, &iov);
	} else {
		rc = ptrace(PTRACE_SETFPREGS, tid, NULL, r->xstate);
	}
	if (inject_arch_set_gp(tid, r) != 0)
		return -1;
	return rc == 0 ? 0 : -1;
}

uint64_t inject_arch_pc(const struct inject_regs *r)
{
	return gp_of(r).rip;
}

uint64_t inject_arch_sp(const struct inject_regs *r)
{
	return gp_of(r).rsp;
}

long inject_arch_syscall(const struct inject_regs *r)
{
	return (long)gp_of(r).orig_rax;
}

uint64_t inject_arch_retval(const struct inject_regs *r)
{
	return gp_of(r).rax;
}

void inject_arch_set_pc(struct inject_regs *r, uint64_t pc)
{
	struct user_regs_struct g = gp_of(r);
	g.rip = pc;
	memcpy(r->gp, &g, sizeof g);
}

void inject_arch_breakpoint(unsigned char insn[INJECT_ARCH_BREAKPOINT_LEN])
{
	insn[0] = 0xcc; /* int3 */
}

uint64_t inject_arch_entry_return(const struct inject_regs *r, uint64_t word_at_sp)
{
	(void)r;
	return word_at_sp;
}

uint64_t inject_arch_sp_at_entry(void)
{
	return 8; /* the call pushed the return address onto a 16-byte aligned stack */
}

void inject_arch_call(const struct inject_regs *from, struct inject_regs *call, uint64_t fn,
		      const uint64_t *args, int nargs, uint64_t sp)
{
	struct user_regs_struct g = gp_of(from);
	unsigned long long *slot[] = {&g.rdi, &g.rsi, &g.rdx, &g.rcx, &g.r8, &g.r9};
	for (int i = 0; i < nargs && i < 6; i++)
		*slot[i] = args[i];
	g.rip = fn;
	g.rsp = sp;
	g.rax = 0;            /* no vector registers used by a variadic callee */
	g.orig_rax = (unsigned long long)-1; /* no syscall restart on the way to fn */
	g.eflags &= ~(1ull << 10); /* DF clear, as the ABI wants at a call */
	memcpy(call->gp, from->gp, sizeof call->gp);
	memcpy(call->gp, &g, sizeof g);
}
