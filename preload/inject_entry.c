/* inject_entry: libmemtop.so loaded late into a running process (memtop inject) instead of
 * preloaded. The constructor sees that (our symbols are not in the program's global scope), stays
 * dormant and resolves the real functions as the program binds them; memtop_inject_start, called
 * by the injector, creates the segment and routes the program's GOT slots to our hooks;
 * memtop_inject_undo puts them back. Must never start the preload's normal start-up, nor call
 * dlsym(RTLD_NEXT) (meaningless for an object outside the global scope). */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "memtop/inject.h"
#include "got.h"
#include "preload.h"

PRELOAD_EXPORT int memtop_inject_start(void);
PRELOAD_EXPORT int memtop_inject_undo(void);

/* The functions routed to us; the hooks are looked up in our own object (dlsym on our handle). */
static const char *const preload_inject_names[] = {
	"malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
	"memalign", "valloc", "pvalloc", "malloc_usable_size", "dlopen", "dlclose", "prctl",
	"pthread_setname_np", "exit", "_exit", "_Exit",
};
#define PRELOAD_INJECT_N (sizeof preload_inject_names / sizeof preload_inject_names[0])

static struct got_target preload_inject_targets[PRELOAD_INJECT_N];
static pthread_mutex_t preload_inject_lock = PTHREAD_MUTEX_INITIALIZER;
static int preload_injected; /* 1 once memtop_inject_start has started us */
static int preload_routing;  /* 1 between start and undo: dlopen routes the new objects */

/* Our own link map, and a handle on it that finds our definitions first. */
static void *preload_self_handle(void)
{
	Dl_info info;
	struct link_map *self = NULL;
	if (!dladdr1((void *)preload_self_handle, &info, (void **)&self, RTLD_DL_LINKMAP) || !self)
		return NULL;
	return dlopen(self->l_name, RTLD_LAZY | RTLD_NOLOAD);
}

bool preload_inject_detect(void)
{
	void *main_handle = dlopen(NULL, RTLD_LAZY | RTLD_NOLOAD);
	if (!main_handle)
		return false;
	/* the main program's scope holds every preloaded object (and RTLD_GLOBAL ones), not us when
	 * the injector dlopen'ed us RTLD_LOCAL */
	void *found = dlsym(main_handle, MEMTOP_INJECT_START);
	dlclose(main_handle);
	return found != (void *)memtop_inject_start;
}

/* The definition the program binds name to: the first object, in load order, that defines it
 * itself (a program's canonical PLT entry for malloc only jumps to the real one). */
static void *preload_inject_definition(const char *name, const struct link_map *self)
{
	const struct link_map *lm = self;
	while (lm->l_prev)
		lm = lm->l_prev;
	for (const struct link_map *head = lm; lm; lm = lm->l_next) {
		if (lm == self)
			continue;
		void *h = dlopen(lm == head ? NULL : lm->l_name, RTLD_LAZY | RTLD_NOLOAD);
		if (!h)
			continue;
		void *p = dlsym(h, name);
		dlclose(h);
		Dl_info info;
		struct link_map *owner = NULL;
		const ElfW(Sym) *sym = NULL;
		if (p && dladdr1(p, &info, (void **)&owner, RTLD_DL_LINKMAP) && owner == lm &&
		    info.dli_saddr == p && dladdr1(p, &info, (void **)&sym, RTLD_DL_SYMENT) && sym &&
		    sym->st_shndx != SHN_UNDEF)
			return p;
	}
	return NULL;
}

#define INJECT_REAL(field, name) \
	__atomic_store_n((void **)&preload_real.field, preload_inject_definition(name, self), \
			 __ATOMIC_RELEASE)

/* Dormant: fills preload_real with the program's own definitions. Called by the constructor. */
void preload_inject_dormant(void)
{
	Dl_info info;
	struct link_map *self = NULL;
	preload_tls.guard++;
	if (dladdr1((void *)preload_inject_dormant, &info, (void **)&self, RTLD_DL_LINKMAP) && self) {
		INJECT_REAL(free, "free");
		INJECT_REAL(malloc_usable_size, "malloc_usable_size");
		INJECT_REAL(malloc, "malloc");
		INJECT_REAL(calloc, "calloc");
		INJECT_REAL(realloc, "realloc");
		INJECT_REAL(posix_memalign, "posix_memalign");
		INJECT_REAL(aligned_alloc, "aligned_alloc");
		INJECT_REAL(memalign, "memalign");
		INJECT_REAL(valloc, "valloc");
		INJECT_REAL(pvalloc, "pvalloc");
		INJECT_REAL(dlopen, "dlopen");
		INJECT_REAL(dlclose, "dlclose");
		INJECT_REAL(prctl, "prctl");
		INJECT_REAL(pthread_setname_np, "pthread_setname_np");
		INJECT_REAL(exit, "exit");
		INJECT_REAL(_exit, "_exit");
		INJECT_REAL(_Exit, "_Exit");
	}
	__atomic_store_n(&preload_state, PRELOAD_DORMANT, __ATOMIC_RELEASE);
	preload_tls.guard--;
}

static bool preload_inject_targets_init(void)
{
	if (preload_inject_targets[0].hook)
		return true;
	void *h = preload_self_handle();
	if (!h)
		return false;
	for (size_t i = 0; i < PRELOAD_INJECT_N; i++) {
		void *p = dlsym(h, preload_inject_names[i]);
		if (!p) {
			dlclose(h);
			return false;
		}
		preload_inject_targets[i] = (struct got_target){preload_inject_names[i], (uintptr_t)p};
	}
	dlclose(h);
	return true;
}

/* Routes the objects loaded since the last pass (the dlopen hook calls it after a dlopen). */
void preload_inject_route_new(void)
{
	if (!__atomic_load_n(&preload_routing, __ATOMIC_ACQUIRE))
		return;
	int saved = errno;
	preload_tls.guard++;
	pthread_mutex_lock(&preload_inject_lock);
	preload_got_apply(preload_inject_targets, PRELOAD_INJECT_N, NULL);
	pthread_mutex_unlock(&preload_inject_lock);
	preload_tls.guard--;
	errno = saved;
}

/* The status a program passes to exit (or returns from main: glibc's start code calls exit
 * inside libc, out of the GOT's reach). Runs before our destructor marks the segment. */
static void preload_inject_on_exit(int status, void *arg)
{
	(void)arg;
	preload_note_exit_status(status);
}

/* Called by the injector in one thread of the process; the others run meanwhile. */
PRELOAD_EXPORT int memtop_inject_start(void)
{
	int st = __atomic_load_n(&preload_state, __ATOMIC_ACQUIRE);
	if (st != PRELOAD_DORMANT && !__atomic_load_n(&preload_injected, __ATOMIC_ACQUIRE))
		return MEMTOP_INJECT_PRELOADED;
	if (!preload_real.malloc || !preload_real.free || !preload_inject_targets_init())
		return -ENOSYS;
	preload_tls.guard++;
	pthread_mutex_lock(&preload_inject_lock);
	int rc = 0;
	if (st == PRELOAD_DORMANT) {
		rc = preload_start_injected();
		if (rc == 0) {
			__atomic_store_n(&preload_injected, 1, __ATOMIC_RELEASE);
			on_exit(preload_inject_on_exit, NULL);
		}
	}
	if (rc == 0) {
		__atomic_store_n(&preload_routing, 1, __ATOMIC_RELEASE);
		rc = preload_got_apply(preload_inject_targets, PRELOAD_INJECT_N, NULL);
	}
	pthread_mutex_unlock(&preload_inject_lock);
	preload_tls.guard--;
	return rc;
}

PRELOAD_EXPORT int memtop_inject_undo(void)
{
	if (!__atomic_load_n(&preload_injected, __ATOMIC_ACQUIRE))
		return MEMTOP_INJECT_NOT_INJECTED;
	preload_tls.guard++;
	pthread_mutex_lock(&preload_inject_lock);
	__atomic_store_n(&preload_routing, 0, __ATOMIC_RELEASE);
	int rc = preload_got_undo(preload_inject_targets, PRELOAD_INJECT_N, NULL);
	pthread_mutex_unlock(&preload_inject_lock);
	preload_tls.guard--;
	return rc;
}
