/* inject_arch for an architecture memtop inject does not support yet: the machine is EM_NONE, so
 * every target is refused as "another architecture" before anything else runs. Never called
 * past that check; each function fails. */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "inject/inject_arch.h"

int inject_arch_machine(void)
{
	return EM_NONE;
}

int inject_arch_save(pid_t tid, struct inject_regs *r)
{
	(void)tid;
	(void)r;
	errno = ENOSYS;
	return -1;
}

int inject_arch_restore(pid_t tid, const struct inject_regs *r)
{
	return inject_arch_save(tid, (struct inject_regs *)(void *)r);
}

int inject_arch_set_gp(pid_t tid, const struct inject_regs *r)
{
	return inject_arch_restore(tid, r);
}

int inject_arch_get_gp(pid_t tid, struct inject_regs *r)
{
	return inject_arch_save(tid, r);
}

uint64_t inject_arch_pc(const struct inject_regs *r)
{
	(void)r;
	return 0;
}

uint64_t inject_arch_sp(const struct inject_regs *r)
{
	(void)r;
	return 0;
}

long inject_arch_syscall(const struct inject_regs *r)
{
	(void)r;
	return -1;
}

uint64_t inject_arch_retval(const struct inject_regs *r)
{
	(void)r;
	return 0;
}

void inject_arch_set_pc(struct inject_regs *r, uint64_t pc)
{
	(void)r;
	(void)pc;
}

void inject_arch_breakpoint(unsigned char insn[INJECT_ARCH_BREAKPOINT_LEN])
{
	memset(insn, 0, INJECT_ARCH_BREAKPOINT_LEN);
}

uint64_t inject_arch_entry_return(const struct inject_regs *r, uint64_t word_at_sp)
{
	(void)r;
	return word_at_sp;
}

uint64_t inject_arch_sp_at_entry(void)
{
	return 0;
}

void inject_arch_call(const struct inject_regs *from, struct inject_regs *call, uint64_t fn,
		      const uint64_t *args, int nargs, uint64_t sp)
{
	(void)fn;
	(void)args;
	(void)nargs;
	(void)sp;
	memcpy(call, from, sizeof *call);
}
