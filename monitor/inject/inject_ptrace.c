/* inject_ptrace: one thread of another process taken at a safe point, calls run in it, and the
 * thread given back exactly (inject_ptrace.h). Every wait here has a deadline; a thread is never
 * left stopped or with a changed register. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "inject/inject_ptrace.h"

#define INJECT_RED_ZONE 128
#define INJECT_ROUNDS 25         /* passes over the threads looking for a safe one (20 ms apart) */
#define INJECT_STOP_MS 2000      /* longest wait for a thread to stop */

uint64_t inject_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void nap_ms(long ms)
{
	struct timespec ts = {0, ms * 1000000};
	nanosleep(&ts, NULL);
}

/* waitpid with a deadline: 1 with *status, 0 on timeout, -1 on error. */
int inject_wait_stop(pid_t tid, int *status, int timeout_ms)
{
	uint64_t end = inject_now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		pid_t r = waitpid(tid, status, __WALL | WNOHANG);
		if (r == tid)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
		if (inject_now_ms() >= end)
			return 0;
		nap_ms(1);
	}
}

/* System calls that hold no allocator or loader lock while they wait, and that the kernel
 * restarts (or that return to a caller that retries) after a ptrace stop. */
static bool syscall_is_safe(long nr)
{
	static const long safe[] = {
		SYS_read, SYS_pread64, SYS_readv, SYS_nanosleep, SYS_clock_nanosleep, SYS_ppoll,
		SYS_pselect6, SYS_epoll_pwait, SYS_accept, SYS_accept4, SYS_recvfrom, SYS_recvmsg,
		SYS_wait4, SYS_waitid, SYS_rt_sigsuspend, SYS_rt_sigtimedwait,
#ifdef SYS_poll /* the older calls that newer architectures (aarch64) do not have */
		SYS_poll,
#endif
#ifdef SYS_select
		SYS_select,
#endif
#ifdef SYS_epoll_wait
		SYS_epoll_wait,
#endif
#ifdef SYS_pause
		SYS_pause,
#endif
	};
	for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
		if (safe[i] == nr)
			return true;
	return false;
}

/* From /proc/PID/task/TID/syscall (no stop needed): blocked in a safe call from libc's code?
 * The file needs the same permission as ptrace: EACCES/EPERM there is the refusal, said early. */
static bool looks_safe(pid_t pid, pid_t tid, const struct inject_object *libc, int *denied)
{
	char path[96], buf[256];
	snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*denied = errno == EACCES || errno == EPERM;
		return false;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	if (n < 0)
		*denied = errno == EACCES || errno == EPERM;
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	long nr;
	unsigned long a[6], sp, pc;
	if (sscanf(buf, "%ld %lx %lx %lx %lx %lx %lx %lx %lx", &nr, &a[0], &a[1], &a[2], &a[3], &a[4],
		   &a[5], &sp, &pc) != 9)
		return false;
	return syscall_is_safe(nr) && inject_object_contains(libc, pc);
}

/* The OR of the masks of /proc/PID/task/TID/status lines whose name is one of `names` (each
 * "Name:"); 0 when the file cannot be read. */
static unsigned long long task_status_masks(pid_t pid, pid_t tid, const char *const *names, int n)
{
	char path[96], line[256];
	snprintf(path, sizeof path, "/proc/%d/task/%d/status", (int)pid, (int)tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	unsigned long long mask, all = 0;
	while (fgets(line, sizeof line, f))
		for (int i = 0; i < n; i++) {
			size_t len = strlen(names[i]);
			if (!strncmp(line, names[i], len) && sscanf(line + len, " %llx", &mask) == 1)
				all |= mask;
		}
	fclose(f);
	return all;
}

/* The call returns to address 0 and its fault (SIGSEGV) is taken as the end of the call. A
 * fault with SIGSEGV blocked or ignored would make the kernel reset its handler to the default:
 * such a thread is not used. */
bool inject_segv_usable(pid_t pid, pid_t tid)
{
	static const char *const names[] = {"SigBlk:", "SigIgn:"};
	char path[96];
	snprintf(path, sizeof path, "/proc/%d/task/%d", (int)pid, (int)tid);
	if (access(path, F_OK) != 0)
		return false;
	return !(task_status_masks(pid, tid, names, 2) & (1ull << (SIGSEGV - 1)));
}

bool inject_signal_pending(pid_t pid, pid_t tid, int sig)
{
	static const char *const names[] = {"SigPnd:"};
	return task_status_masks(pid, tid, names, 1) & (1ull << (sig - 1));
}

/* Seizes and interrupts tid; returns 0 when it is stopped in a safe system call (saved filled),
 * 1 when it is not (let go again), -1 on a ptrace error (errno kept). */
static int seize_if_safe(struct inject_thread *t, pid_t tid, const struct inject_object *libc)
{
	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0)
		return -1;
	int st;
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) != 0)
		goto not_safe;
	for (int i = 0; i < 8; i++) {
		if (inject_wait_stop(tid, &st, INJECT_STOP_MS) != 1 || !WIFSTOPPED(st))
			goto gone;
		if ((st >> 16) == PTRACE_EVENT_STOP)
			break;
		/* a signal arrived first: deliver it as it would have been, then take the stop */
		ptrace(PTRACE_CONT, tid, NULL, (void *)(long)WSTOPSIG(st));
		st = 0;
	}
	if ((st >> 16) != PTRACE_EVENT_STOP)
		goto not_safe;
	t->tid = tid;
	if (inject_arch_save(tid, &t->saved) != 0)
		goto not_safe;
	if (syscall_is_safe(inject_arch_syscall(&t->saved)) &&
	    inject_object_contains(libc, inject_arch_pc(&t->saved)))
		return 0;
not_safe:
	ptrace(PTRACE_DETACH, tid, NULL, NULL);
	return 1;
gone:
	ptrace(PTRACE_DETACH, tid, NULL, NULL);
	return 1;
}

int inject_list_tasks(pid_t pid, pid_t *tids, int max)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < max)
		if (e->d_name[0] >= '0' && e->d_name[0] <= '9')
			tids[n++] = (pid_t)atoi(e->d_name);
	closedir(d);
	return n;
}

/* The scratch area below the red zone: the string, then the return address slot at sp. */
static int plan_scratch(struct inject_thread *t, size_t str_cap)
{
	uint64_t top = inject_arch_sp(&t->saved) - INJECT_RED_ZONE - 64;
	t->str_cap = str_cap;
	t->str_addr = (top - str_cap) & ~(uint64_t)15;
	t->sp = t->str_addr - 16 + inject_arch_sp_at_entry();
	t->scratch_lo = t->sp;
	t->stack_len = inject_arch_sp(&t->saved) - t->scratch_lo;
	t->stack_copy = malloc(t->stack_len);
	if (!t->stack_copy)
		return -1;
	ssize_t n = pread(t->mem_fd, t->stack_copy, t->stack_len, (off_t)t->scratch_lo);
	return n == (ssize_t)t->stack_len ? 0 : -1;
}

int inject_take_thread(pid_t pid, const struct inject_object *libc, struct inject_thread *t,
		       size_t str_cap, int *perm_denied, char *err, size_t errlen)
{
	pid_t tids[1024];
	memset(t, 0, sizeof *t);
	t->pid = pid;
	t->tid = -1;
	t->mem_fd = -1;
	*perm_denied = 0;
	for (int round = 0; round < INJECT_ROUNDS; round++) {
		int n = inject_list_tasks(pid, tids, 1024);
		if (n <= 0) {
			snprintf(err, errlen, "process %d is gone", (int)pid);
			return -1;
		}
		for (int i = 0; i < n; i++) {
			if (!looks_safe(pid, tids[i], libc, perm_denied) ||
			    !inject_segv_usable(pid, tids[i])) {
				if (*perm_denied) {
					snprintf(err, errlen, "ptrace: %s", strerror(EPERM));
					return -1;
				}
				continue;
			}
			int rc = seize_if_safe(t, tids[i], libc);
			if (rc < 0 && (errno == EPERM || errno == EACCES)) {
				*perm_denied = 1;
				snprintf(err, errlen, "ptrace: %s", strerror(errno));
				return -1;
			}
			if (rc == 0)
				goto taken;
		}
		nap_ms(20);
	}
	snprintf(err, errlen, "no thread of process %d waited in a system call where it is safe to "
		 "stop it (read, poll, nanosleep...) within %d ms", (int)pid, INJECT_ROUNDS * 20);
	return -2;
taken:
	return inject_thread_ready(t, str_cap, err, errlen);
}

int inject_thread_ready(struct inject_thread *t, size_t str_cap, char *err, size_t errlen)
{
	char mem[64];
	snprintf(mem, sizeof mem, "/proc/%d/mem", (int)t->pid);
	t->mem_fd = open(mem, O_RDWR | O_CLOEXEC);
	if (t->mem_fd < 0 || plan_scratch(t, str_cap) != 0) {
		snprintf(err, errlen, "cannot use the stack of thread %d: %s", (int)t->tid,
			 strerror(errno));
		if (t->mem_fd >= 0)
			close(t->mem_fd);
		free(t->stack_copy);
		ptrace(PTRACE_DETACH, t->tid, NULL, NULL);
		return -1;
	}
	return 0;
}

int inject_put_string(struct inject_thread *t, const char *s)
{
	size_t len = strlen(s) + 1;
	if (len > t->str_cap)
		return -1;
	return pwrite(t->mem_fd, s, len, (off_t)t->str_addr) == (ssize_t)len ? 0 : -1;
}

int inject_read_string(struct inject_thread *t, uint64_t addr, char *buf, size_t len)
{
	ssize_t n = pread(t->mem_fd, buf, len - 1, (off_t)addr);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* Runs the thread until the call returns to the faulting address 0. Signals that arrive meanwhile
 * are delivered as they would have been; a fault anywhere else is the call's own crash. */
static int run_call(struct inject_thread *t, uint64_t *ret, int timeout_ms, char *err, size_t errlen)
{
	uint64_t end = inject_now_ms() + (uint64_t)timeout_ms;
	int sig = 0, st;
	for (;;) {
		if (ptrace(PTRACE_CONT, t->tid, NULL, (void *)(long)sig) != 0) {
			snprintf(err, errlen, "ptrace(CONT): %s", strerror(errno));
			return -1;
		}
		int left = (int)(end > inject_now_ms() ? end - inject_now_ms() : 0);
		int w = inject_wait_stop(t->tid, &st, left);
		if (w == 0) {
			ptrace(PTRACE_INTERRUPT, t->tid, NULL, NULL);
			inject_wait_stop(t->tid, &st, INJECT_STOP_MS);
			snprintf(err, errlen, "the call did not return within %d ms", timeout_ms);
			return -1;
		}
		if (w < 0 || !WIFSTOPPED(st)) {
			snprintf(err, errlen, "the target ended during the call");
			return -2;
		}
		sig = (st >> 16) ? 0 : WSTOPSIG(st);
		if (sig != SIGSEGV)
			continue;
		if (inject_arch_get_gp(t->tid, &t->call) != 0) {
			snprintf(err, errlen, "ptrace(GETREGS): %s", strerror(errno));
			return -1;
		}
		if (inject_arch_pc(&t->call) == 0) {
			*ret = inject_arch_retval(&t->call);
			return 0;
		}
		snprintf(err, errlen, "the call faulted at 0x%llx",
			 (unsigned long long)inject_arch_pc(&t->call));
		return -1;
	}
}

int inject_call(struct inject_thread *t, uint64_t fn, const uint64_t *args, int nargs,
		uint64_t *ret, int timeout_ms, char *err, size_t errlen)
{
	uint64_t zero = 0;
	if (pwrite(t->mem_fd, &zero, sizeof zero, (off_t)t->sp) != (ssize_t)sizeof zero) {
		snprintf(err, errlen, "cannot write the target's stack: %s", strerror(errno));
		return -1;
	}
	inject_arch_call(&t->saved, &t->call, fn, args, nargs, t->sp);
	if (inject_arch_set_gp(t->tid, &t->call) != 0) {
		snprintf(err, errlen, "ptrace(SETREGS): %s", strerror(errno));
		return -1;
	}
	return run_call(t, ret, timeout_ms, err, errlen);
}

int inject_release(struct inject_thread *t, char *err, size_t errlen)
{
	int rc = 0;
	if (pwrite(t->mem_fd, t->stack_copy, t->stack_len, (off_t)t->scratch_lo) !=
	    (ssize_t)t->stack_len) {
		snprintf(err, errlen, "cannot restore the target's stack: %s", strerror(errno));
		rc = -1;
	}
	/* The saved state holds the interrupted call's number and -ERESTART* result: the kernel
	 * restarts it on the way back to user space, exactly as after any stop. */
	if (inject_arch_restore(t->tid, &t->saved) != 0) {
		snprintf(err, errlen, "cannot restore the registers of thread %d: %s", (int)t->tid,
			 strerror(errno));
		rc = -1;
	}
	if (ptrace(PTRACE_DETACH, t->tid, NULL, NULL) != 0 && rc == 0) {
		snprintf(err, errlen, "ptrace(DETACH): %s", strerror(errno));
		rc = -1;
	}
	close(t->mem_fd);
	free(t->stack_copy);
	t->stack_copy = NULL;
	return rc;
}
