/* The SIGBUS handler behind SHM_GUARD_*: jumps out of a guarded read when the segment file was
 * truncated under the monitor's mapping. A SIGBUS outside a guarded region keeps its default action. */
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "guard.h"

static __thread sigjmp_buf *guard_env __attribute__((tls_model("initial-exec")));
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

static void guard_on_sigbus(int sig, siginfo_t *info, void *ctx)
{
	(void)info;
	(void)ctx;
	sigjmp_buf *env = guard_env;
	if (env) {
		guard_env = NULL;
		siglongjmp(*env, 1);
	}
	/* Not ours: restore the default action and let the fault happen again. */
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Also called on every segment open: a library (or test harness) that replaced our SIGBUS handler
 * would otherwise silently disable the guard. */
void shm_guard_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = guard_on_sigbus;
	/* SA_NODEFER: we leave the handler by longjmp without restoring a mask. */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

void shm_guard_enter(sigjmp_buf *env)
{
	pthread_once(&guard_once, shm_guard_install);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	guard_env = env;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void shm_guard_leave(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	guard_env = NULL;
}
