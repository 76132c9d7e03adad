/* inject_bp: the second way to take a thread at a safe point, for a process whose threads are all
 * busy: a breakpoint at malloc's entry (no allocator lock is held there), the first thread that
 * reaches it from outside the loader is kept, the breakpoint is removed and every other thread is
 * let go at once. Bounded in time; never leaves the breakpoint, a stopped thread or a changed
 * register behind. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "inject/inject_ptrace.h"

#define BP_MAX_THREADS 4096
#define BP_DRAIN_MS 3000

struct bp {
	pid_t pid;
	pid_t tids[BP_MAX_THREADS]; /* traced by us; 0 once let go */
	int n;
	uint64_t addr;
	unsigned char orig[INJECT_ARCH_BREAKPOINT_LEN];
	int mem_fd;
	bool planted;
};

static int bp_index(struct bp *b, pid_t tid)
{
	for (int i = 0; i < b->n; i++)
		if (b->tids[i] == tid)
			return i;
	if (b->n == BP_MAX_THREADS)
		return -1;
	b->tids[b->n] = tid;
	return b->n++;
}

/* Seizes every thread (new ones follow through TRACECLONE). 0, or -errno of the first refusal. */
static int bp_seize_all(struct bp *b)
{
	pid_t tids[BP_MAX_THREADS];
	for (int round = 0; round < 10; round++) {
		int n = inject_list_tasks(b->pid, tids, BP_MAX_THREADS), added = 0;
		for (int i = 0; i < n; i++) {
			bool known = false;
			for (int k = 0; k < b->n; k++)
				known |= b->tids[k] == tids[i];
			if (known)
				continue;
			if (ptrace(PTRACE_SEIZE, tids[i], NULL, (void *)PTRACE_O_TRACECLONE) != 0) {
				if (errno == ESRCH)
					continue;
				return -errno;
			}
			bp_index(b, tids[i]);
			added++;
		}
		if (!added)
			return 0;
	}
	return 0;
}

static int bp_plant(struct bp *b, bool on)
{
	unsigned char insn[INJECT_ARCH_BREAKPOINT_LEN];
	if (on) {
		if (pread(b->mem_fd, b->orig, sizeof b->orig, (off_t)b->addr) != (ssize_t)sizeof b->orig)
			return -1;
		inject_arch_breakpoint(insn);
	} else {
		if (!b->planted)
			return 0;
		memcpy(insn, b->orig, sizeof insn);
	}
	if (pwrite(b->mem_fd, insn, sizeof insn, (off_t)b->addr) != (ssize_t)sizeof insn)
		return -1;
	b->planted = on;
	return 0;
}

/* A SIGTRAP stop at our breakpoint: pc moved back to the function's first instruction. */
static bool bp_rewind(struct bp *b, pid_t tid, struct inject_regs *r)
{
	if (inject_arch_get_gp(tid, r) != 0 ||
	    inject_arch_pc(r) != b->addr + INJECT_ARCH_TRAP_ADVANCE)
		return false;
	inject_arch_set_pc(r, b->addr);
	inject_arch_set_gp(tid, r);
	return true;
}

/* Is the thread stopped at the entry outside the loader (which may hold its own lock)? */
static bool bp_caller_safe(struct bp *b, const struct inject_regs *r, const struct inject_object *ldso)
{
	uint64_t word = 0;
	if (pread(b->mem_fd, &word, sizeof word, (off_t)inject_arch_sp(r)) != (ssize_t)sizeof word)
		return false;
	return !ldso || !inject_object_contains(ldso, inject_arch_entry_return(r, word));
}

/* One stop of a thread that is not (or not yet) the chosen one. keep: let it run on traced
 * (waiting for the breakpoint), else detach it. */
static void bp_service(struct bp *b, pid_t tid, int st, bool keep, struct inject_regs *scratch)
{
	int sig = 0, event = st >> 16;
	if (event == PTRACE_EVENT_CLONE) {
		unsigned long child = 0;
		if (ptrace(PTRACE_GETEVENTMSG, tid, NULL, &child) == 0)
			bp_index(b, (pid_t)child);
	} else if (!event && WSTOPSIG(st) == SIGTRAP) {
		if (!bp_rewind(b, tid, scratch))
			sig = SIGTRAP; /* not ours: the program's own */
	} else if (!event) {
		sig = WSTOPSIG(st);
	}
	/* A thread that ran into the breakpoint while we interrupted it reports the interrupt first
	 * (the kernel takes job-control traps before dequeuing signals) with its SIGTRAP still
	 * pending: detached now, that SIGTRAP would kill the process. It runs on traced, straight into
	 * its SIGTRAP stop (it never returns to user space in between), where it is rewound. */
	if (!keep && event == PTRACE_EVENT_STOP && inject_signal_pending(b->pid, tid, SIGTRAP))
		keep = true;
	if (keep) {
		ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig);
		return;
	}
	ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)sig);
	int i = bp_index(b, tid);
	if (i >= 0)
		b->tids[i] = 0;
}

/* Lets every traced thread but `chosen` go: interrupt, service its stop, detach. Bounded. */
static void bp_release_others(struct bp *b, pid_t chosen, struct inject_regs *scratch)
{
	for (int i = 0; i < b->n; i++)
		if (b->tids[i] && b->tids[i] != chosen)
			ptrace(PTRACE_INTERRUPT, b->tids[i], NULL, NULL);
	uint64_t end = inject_now_ms() + BP_DRAIN_MS;
	for (;;) {
		int left = 0;
		for (int i = 0; i < b->n; i++)
			left += b->tids[i] && b->tids[i] != chosen;
		if (!left || inject_now_ms() >= end)
			return;
		int st;
		pid_t w = waitpid(-1, &st, __WALL | WNOHANG);
		if (w <= 0) {
			struct timespec nap = {0, 1000000};
			nanosleep(&nap, NULL);
			continue;
		}
		if (w == chosen)
			continue;
		int i = bp_index(b, w);
		if (!WIFSTOPPED(st)) {
			if (i >= 0)
				b->tids[i] = 0;
			continue;
		}
		if (i >= 0 && !b->tids[i])
			continue;
		bp_service(b, w, st, false, scratch);
		if ((st >> 16) == PTRACE_EVENT_CLONE) /* its new thread stops once: interrupt not needed */
			continue;
	}
}

/* A thread at the breakpoint that must not be taken (the loader called malloc, and may hold its
 * lock): the breakpoint is lifted for one instruction of that thread, then planted again. */
static void bp_step_over(struct bp *b, pid_t tid)
{
	int st = 0, sig = 0;
	bp_plant(b, false);
	if (ptrace(PTRACE_SINGLESTEP, tid, NULL, NULL) == 0 &&
	    inject_wait_stop(tid, &st, 1000) == 1 && WIFSTOPPED(st) && !(st >> 16) &&
	    WSTOPSIG(st) != SIGTRAP)
		sig = WSTOPSIG(st);
	bp_plant(b, true);
	ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig);
}

/* Waits for the first thread at the breakpoint called from outside the loader; 0 when none. */
static pid_t bp_wait_hit(struct bp *b, const struct inject_object *ldso, int timeout_ms,
			 struct inject_regs *r)
{
	uint64_t end = inject_now_ms() + (uint64_t)timeout_ms;
	while (inject_now_ms() < end) {
		int st;
		pid_t w = waitpid(-1, &st, __WALL | WNOHANG);
		if (w <= 0) {
			struct timespec nap = {0, 200000};
			nanosleep(&nap, NULL);
			continue;
		}
		int i = bp_index(b, w);
		if (!WIFSTOPPED(st)) {
			if (i >= 0)
				b->tids[i] = 0;
			continue;
		}
		if (!(st >> 16) && WSTOPSIG(st) == SIGTRAP && bp_rewind(b, w, r)) {
			if (bp_caller_safe(b, r, ldso) && inject_segv_usable(b->pid, w))
				return w;
			bp_step_over(b, w);
			continue;
		}
		bp_service(b, w, st, true, r);
	}
	return 0;
}

int inject_take_at_entry(pid_t pid, uint64_t fn, const struct inject_object *ldso,
			 struct inject_thread *t, size_t str_cap, int timeout_ms, int *perm_denied,
			 char *err, size_t errlen)
{
	static struct bp b; /* large: off the stack; one injection per process */
	char mem[64];
	memset(&b, 0, sizeof b);
	memset(t, 0, sizeof *t);
	b.pid = t->pid = pid;
	b.addr = fn;
	t->mem_fd = -1;
	snprintf(mem, sizeof mem, "/proc/%d/mem", (int)pid);
	int rc = bp_seize_all(&b);
	if (rc == -EPERM || rc == -EACCES)
		*perm_denied = 1;
	b.mem_fd = rc == 0 ? open(mem, O_RDWR | O_CLOEXEC) : -1;
	pid_t chosen = 0;
	if (b.mem_fd >= 0 && bp_plant(&b, true) == 0)
		chosen = bp_wait_hit(&b, ldso, timeout_ms, &t->call);
	bp_plant(&b, false);
	bp_release_others(&b, chosen, &t->call);
	if (b.mem_fd >= 0)
		close(b.mem_fd);
	if (!chosen) {
		if (!*perm_denied && (b.n == 0 || kill(pid, 0) != 0))
			snprintf(err, errlen, "process %d is gone", (int)pid);
		else if (!*perm_denied)
			snprintf(err, errlen, "no thread of process %d waited in a system call or called "
				 "malloc within %d s: it cannot be injected safely now", (int)pid,
				 1 + timeout_ms / 1000);
		return -1;
	}
	t->tid = chosen;
	ptrace(PTRACE_SETOPTIONS, chosen, NULL, NULL); /* threads its calls create are not ours */
	if (inject_arch_save(chosen, &t->saved) != 0) {
		snprintf(err, errlen, "cannot read the registers of thread %d", (int)chosen);
		ptrace(PTRACE_DETACH, chosen, NULL, NULL);
		return -1;
	}
	return inject_thread_ready(t, str_cap, err, errlen);
}
