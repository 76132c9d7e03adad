/* Interposed process-level functions: dlopen/dlclose (a MAPS_CHANGED event so the monitor refreshes
 * its symbols), prctl(PR_SET_NAME)/pthread_setname_np (thread names), exit/_exit/_Exit (the exit
 * status and the exited mark; never from a vfork child, which shares our memory but is not us).
 * Each passes its arguments and result through unchanged.
 * Known limit: dlopen called through this wrapper sees libmemtop.so as its caller, so a bare library
 * name is searched without the calling object's own RUNPATH (heaptrack has the same limit). */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h> /* exit, _Exit: our definitions are checked against these */
#include <sys/prctl.h>
#include <unistd.h>

#include "preload.h"


static void preload_need_real(void *fn)
{
	if (!fn)
		preload_resolve();
}

static void preload_maps_changed(void)
{
	int saved = errno;
	if (__atomic_load_n(&preload_state, __ATOMIC_ACQUIRE) == PRELOAD_ACTIVE && !preload_tls.guard) {
		__atomic_add_fetch(&preload_seg.hdr->maps_generation, 1, __ATOMIC_RELEASE);
		preload_push_simple(MEMTOP_EV_MAPS_CHANGED, 0);
	}
	errno = saved;
}

PRELOAD_EXPORT void *dlopen(const char *file, int flags)
{
	preload_need_real((void *)preload_real.dlopen);
	preload_unwind_loader_begin();
	void *h = preload_real.dlopen(file, flags);
	preload_unwind_loader_end();
	if (h) {
		preload_maps_changed();
		preload_inject_route_new(); /* injected: the new objects' slots come to us too */
	}
	return h;
}

PRELOAD_EXPORT int dlclose(void *handle)
{
	preload_need_real((void *)preload_real.dlclose);
	preload_unwind_loader_begin();
	int rc = preload_real.dlclose(handle);
	preload_unwind_loader_end();
	if (rc == 0)
		preload_maps_changed();
	return rc;
}

PRELOAD_EXPORT int prctl(int option, ...)
{
	va_list ap;
	va_start(ap, option);
	unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
	unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
	va_end(ap);
	preload_need_real((void *)preload_real.prctl);
	int rc = preload_real.prctl(option, a2, a3, a4, a5);
	if (rc == 0 && option == PR_SET_NAME) {
		int saved = errno;
		preload_thread_rename((const char *)a2);
		errno = saved;
	}
	return rc;
}

PRELOAD_EXPORT int pthread_setname_np(pthread_t thread, const char *name)
{
	preload_need_real((void *)preload_real.pthread_setname_np);
	int rc = preload_real.pthread_setname_np(thread, name);
	if (rc == 0 && pthread_equal(thread, pthread_self())) {
		int saved = errno;
		preload_thread_rename(name);
		errno = saved;
	}
	return rc;
}

/* A vfork child (and posix_spawn's or system()'s clone(CLONE_VM)) runs in the parent's memory, so
 * it sees the parent's mapped segment and exit state: its exit is not the segment owner's exit. */
bool preload_in_vfork_child(void)
{
	if (__atomic_load_n(&preload_state, __ATOMIC_ACQUIRE) != PRELOAD_ACTIVE)
		return false;
	int saved = errno;
	bool other = getpid() != preload_seg.pid; /* a real syscall since glibc 2.25: never cached */
	errno = saved;
	return other;
}

PRELOAD_EXPORT void exit(int status)
{
	preload_need_real((void *)preload_real.exit);
	if (!preload_in_vfork_child())
		preload_note_exit_status(status);
	preload_real.exit(status);
}

PRELOAD_EXPORT void _exit(int status)
{
	preload_need_real((void *)preload_real._exit);
	if (!preload_in_vfork_child())
		preload_mark_exited(status, true);
	preload_real._exit(status);
}

PRELOAD_EXPORT void _Exit(int status)
{
	preload_need_real((void *)preload_real._Exit);
	if (!preload_in_vfork_child())
		preload_mark_exited(status, true);
	preload_real._Exit(status);
}

/* Returning from main calls exit inside glibc, out of our reach: wrap main to see its result. */
typedef int (*preload_main_fn)(int, char **, char **);
static preload_main_fn preload_program_main;

static int preload_main(int argc, char **argv, char **envp)
{
	int rc = preload_program_main(argc, argv, envp);
	if (!preload_in_vfork_child())
		preload_note_exit_status(rc);
	return rc;
}

/* no glibc header declares it: this is the signature of csu/libc-start.c */
int __libc_start_main(preload_main_fn main, int argc, char **argv, void (*init)(void),
		      void (*fini)(void), void (*rtld_fini)(void), void *stack_end);

PRELOAD_EXPORT int __libc_start_main(preload_main_fn main, int argc, char **argv,
				     void (*init)(void), void (*fini)(void), void (*rtld_fini)(void),
				     void *stack_end)
{
	typedef int (*start_fn)(preload_main_fn, int, char **, void (*)(void), void (*)(void),
				void (*)(void), void *);
	start_fn real_start = (start_fn)dlsym(RTLD_NEXT, "__libc_start_main");
	preload_program_main = main;
	return real_start(preload_main, argc, argv, init, fini, rtld_fini, stack_end);
}
