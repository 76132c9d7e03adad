/* Tells whether the process calls our malloc at all: an allocator preloaded before libmemtop.so
 * (LD_PRELOAD="libjemalloc.so.2:libmemtop.so") or a malloc defined by the program itself wins the
 * symbol binding, and we would see nothing. Then says so once and marks the segment, so the monitor
 * can say why its figures are zero. Runs once, in the constructor, under the reentrancy guard. */
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

#include "preload.h"

/* The object that holds `malloc` as the process binds it, or NULL when it is ours. */
static const char *preload_bound_malloc_owner(void)
{
	void *bound = dlsym(RTLD_DEFAULT, "malloc");
	Dl_info ours, theirs;
	if (!bound || !dladdr((void *)preload_bound_check, &ours) || !dladdr(bound, &theirs))
		return NULL; /* cannot tell: say nothing rather than something false */
	if (ours.dli_fbase == theirs.dli_fbase)
		return NULL;
	return theirs.dli_fname && theirs.dli_fname[0] ? theirs.dli_fname : "the program itself";
}

void preload_bound_check(void)
{
	if (!preload_seg.hdr)
		return;
	const char *owner = preload_bound_malloc_owner();
	if (!owner)
		return;
	__atomic_or_fetch(&preload_seg.hdr->flags, MEMTOP_FLAG_NOT_BOUND, __ATOMIC_RELEASE);
	char line[512];
	int n = snprintf(line, sizeof line, "memtop: malloc is bound to %s, not to libmemtop.so: no "
			 "allocation is seen (put libmemtop.so first in LD_PRELOAD)\n", owner);
	if (n > 0)
		(void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}
