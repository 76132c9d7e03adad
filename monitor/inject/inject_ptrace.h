/* inject_ptrace: takes one thread of another process at a safe point (blocked in a system call
 * that holds no allocator or loader lock), calls functions in it, and gives it back with every
 * register, the stack bytes it used and its interrupted system call exactly as they were. Every
 * wait is bounded. Knows nothing of memtop's library: inject.c says what to call. */
#ifndef MEMTOP_INJECT_PTRACE_H
#define MEMTOP_INJECT_PTRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "inject/inject_arch.h"
#include "inject/inject_elf.h"

struct inject_thread {
	pid_t pid, tid;
	int mem_fd;                  /* /proc/PID/mem */
	struct inject_regs saved;    /* the state to give back */
	struct inject_regs call;     /* scratch */
	uint64_t scratch_lo;         /* [scratch_lo, saved sp) is written: its bytes are kept */
	unsigned char *stack_copy;
	size_t stack_len;
	uint64_t sp;                 /* stack pointer for the calls */
	uint64_t str_addr;           /* where the string argument lives */
	size_t str_cap;
};

/* Seizes a thread of pid that waits in a system call where nothing is locked (the syscall's code
 * in libc). Returns 0, -2 when no thread did so for a while (inject_take_at_entry may then
 * do), or -1 with one sentence in err; on EPERM *perm_denied is set. */
int inject_take_thread(pid_t pid, const struct inject_object *libc, struct inject_thread *t,
		       size_t str_cap, int *perm_denied, char *err, size_t errlen);
/* Seizes every thread, plants a breakpoint at fn (malloc's entry: no allocator lock is held
 * there) and takes the first thread that reaches it from outside the loader (ldso); the
 * breakpoint is removed and every other thread let go at once. For processes whose threads are
 * all busy (none waits in a system call). 0, or -1 with err. */
int inject_take_at_entry(pid_t pid, uint64_t fn, const struct inject_object *ldso,
			 struct inject_thread *t, size_t str_cap, int timeout_ms, int *perm_denied,
			 char *err, size_t errlen);
/* Shared by the two ways of taking a thread (inject_ptrace.c, inject_bp.c). */
int inject_thread_ready(struct inject_thread *t, size_t str_cap, char *err, size_t errlen);
int inject_wait_stop(pid_t tid, int *status, int timeout_ms);
int inject_list_tasks(pid_t pid, pid_t *tids, int max);
/* May the thread end a call with a fault (SIGSEGV neither blocked nor ignored)? */
bool inject_segv_usable(pid_t pid, pid_t tid);
/* Is `sig` pending for the thread itself (SigPnd: a trap or fault the kernel sent to it)? */
bool inject_signal_pending(pid_t pid, pid_t tid, int sig);
uint64_t inject_now_ms(void);

/* Writes a NUL-terminated string to the scratch area for the next call. */
int inject_put_string(struct inject_thread *t, const char *s);
/* Calls fn(args) in the thread, waiting at most timeout_ms. Returns 0 with *ret, or -1 (err). */
int inject_call(struct inject_thread *t, uint64_t fn, const uint64_t *args, int nargs,
		uint64_t *ret, int timeout_ms, char *err, size_t errlen);
/* Reads a string of the target (at most len-1 bytes). */
int inject_read_string(struct inject_thread *t, uint64_t addr, char *buf, size_t len);
/* Restores registers and stack bytes, lets the interrupted system call restart as the kernel
 * would, and detaches. Returns 0, or -1 (err). */
int inject_release(struct inject_thread *t, char *err, size_t errlen);

#endif
