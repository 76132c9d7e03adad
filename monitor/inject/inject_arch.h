/* inject_arch: everything the injector knows about one architecture: saving and restoring every
 * register of a stopped thread, and setting up a function call in it. x86_64 today
 * (inject_arch_x86_64.c); aarch64 is one more file with these functions; elsewhere
 * inject_arch_none.c makes every target "another architecture". Never touches memory. */
#ifndef MEMTOP_INJECT_ARCH_H
#define MEMTOP_INJECT_ARCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define INJECT_XSTATE_MAX 16384

/* The whole register state of a thread: general registers and the extended (FPU/SSE/AVX) state. */
struct inject_regs {
	uint64_t gp[32]; /* struct user_regs_struct, opaque here */
	unsigned char xstate[INJECT_XSTATE_MAX];
	size_t xstate_len;
};

/* The ELF machine this build can inject into (EM_X86_64). */
int inject_arch_machine(void);
/* Reads / writes every register of a ptrace-stopped thread. 0 or -1 (errno set). */
int inject_arch_save(pid_t tid, struct inject_regs *r);
int inject_arch_restore(pid_t tid, const struct inject_regs *r);
/* Only the general registers (used for the call itself). */
int inject_arch_set_gp(pid_t tid, const struct inject_regs *r);
int inject_arch_get_gp(pid_t tid, struct inject_regs *r);

uint64_t inject_arch_pc(const struct inject_regs *r);
uint64_t inject_arch_sp(const struct inject_regs *r);
/* The system call the thread was stopped in (orig_rax), or -1 when none. */
long inject_arch_syscall(const struct inject_regs *r);
uint64_t inject_arch_retval(const struct inject_regs *r);

void inject_arch_set_pc(struct inject_regs *r, uint64_t pc);
/* The breakpoint instruction (written over the first bytes of a function) and its length; a
 * thread that executes it stops with SIGTRAP and pc = address + INJECT_ARCH_TRAP_ADVANCE. */
#define INJECT_ARCH_BREAKPOINT_LEN 1
#define INJECT_ARCH_TRAP_ADVANCE 1
void inject_arch_breakpoint(unsigned char insn[INJECT_ARCH_BREAKPOINT_LEN]);
/* Where a thread stopped at a function's first instruction returns to: the word at sp on x86_64
 * (word_at_sp, read by the caller), the link register elsewhere. */
uint64_t inject_arch_entry_return(const struct inject_regs *r, uint64_t word_at_sp);

/* A call of fn(args[0..nargs)) from the state `from`: the stack pointer is moved to `sp` (the
 * caller reserved the memory and wrote the return address `ret` there: it must fault, so that the
 * return is seen as a stop) and syscall restart is cancelled for the duration of the call. Up to 6
 * integer arguments. */
void inject_arch_call(const struct inject_regs *from, struct inject_regs *call, uint64_t fn,
		      const uint64_t *args, int nargs, uint64_t sp);
/* The alignment the stack pointer must have at a function's first instruction, as (sp % 16). */
uint64_t inject_arch_sp_at_entry(void);

#endif
