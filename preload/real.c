/* Looks up the real allocation functions behind us (dlsym RTLD_NEXT), once, under the reentrancy
 * guard: allocations dlsym makes meanwhile are served by the bootstrap arena.
 * Must never be called from a context that already holds the guard for another purpose. */
#include <dlfcn.h>

#include "preload.h"

struct preload_real preload_real;

#define RESOLVE(field, name) \
	__atomic_store_n((void **)&preload_real.field, dlsym(RTLD_NEXT, name), __ATOMIC_RELEASE)

void preload_resolve(void)
{
	struct preload_thread *t = &preload_tls;
	t->guard++;
	RESOLVE(free, "free");
	RESOLVE(malloc_usable_size, "malloc_usable_size");
	RESOLVE(malloc, "malloc");
	RESOLVE(calloc, "calloc");
	RESOLVE(realloc, "realloc");
	RESOLVE(posix_memalign, "posix_memalign");
	RESOLVE(aligned_alloc, "aligned_alloc");
	RESOLVE(memalign, "memalign");
	RESOLVE(valloc, "valloc");
	RESOLVE(pvalloc, "pvalloc");
	RESOLVE(dlopen, "dlopen");
	RESOLVE(dlclose, "dlclose");
	RESOLVE(prctl, "prctl");
	RESOLVE(pthread_setname_np, "pthread_setname_np");
	RESOLVE(exit, "exit");
	RESOLVE(_exit, "_exit");
	RESOLVE(_Exit, "_Exit");
	int expected = PRELOAD_UNRESOLVED;
	__atomic_compare_exchange_n(&preload_state, &expected, PRELOAD_PREINIT, false,
				    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
	t->guard--;
}
