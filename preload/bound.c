/* Tells whether the process calls our malloc at all: an allocator preloaded before libmemtop.so
 * (LD_PRELOAD="libjemalloc.so.2:libmemtop.so") or a malloc defined by the program itself wins the
 * symbol binding, and we would see nothing. Then says so once and marks the segment, so the monitor
 * can say why its figures are zero. Runs once, in the constructor, under the reentrancy guard. */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <unistd.h>

#include "preload.h"

/* The link map whose object defines the symbol that starts at p, or NULL. A program that takes
 * malloc's address gets a canonical PLT stub (python3 does): dlsym and dladdr find that stub in
 * the executable as an undefined symbol with a value, yet it only jumps to the real one. */
static const struct link_map *preload_bound_definer(void *p)
{
	Dl_info info;
	struct link_map *owner = NULL;
	const ElfW(Sym) *sym = NULL;
	if (!p || !dladdr1(p, &info, (void **)&owner, RTLD_DL_LINKMAP) || info.dli_saddr != p ||
	    !dladdr1(p, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym || sym->st_shndx == SHN_UNDEF)
		return NULL;
	return owner;
}

/* The object whose malloc every call binds to: the first one, in the global lookup order (the load
 * order of the link maps), that defines it itself. NULL when it cannot be told. */
static const struct link_map *preload_bound_malloc_owner(const struct link_map *ours)
{
	const struct link_map *lm = ours;
	while (lm->l_prev)
		lm = lm->l_prev;
	const struct link_map *head = lm;
	for (; lm; lm = lm->l_next) {
		/* a handle of the object (never loads anything): dlsym looks in the object first */
		void *h = dlopen(lm == head ? NULL : lm->l_name, RTLD_LAZY | RTLD_NOLOAD);
		if (!h)
			continue; /* the vdso and the like: no handle, no malloc */
		const struct link_map *def = preload_bound_definer(dlsym(h, "malloc"));
		dlclose(h);
		if (def == lm)
			return lm;
	}
	return NULL;
}

void preload_bound_check(void)
{
	Dl_info info;
	struct link_map *ours = NULL;
	if (!preload_seg.hdr ||
	    !dladdr1((void *)preload_bound_check, &info, (void **)&ours, RTLD_DL_LINKMAP) || !ours)
		return;
	const struct link_map *owner = preload_bound_malloc_owner(ours);
	if (!owner || owner == ours)
		return; /* ours, or cannot tell: say nothing rather than something false */
	__atomic_or_fetch(&preload_seg.hdr->flags, MEMTOP_FLAG_NOT_BOUND, __ATOMIC_RELEASE);
	const char *name = owner->l_name && owner->l_name[0] ? owner->l_name : "the program itself";
	char line[512];
	int n = snprintf(line, sizeof line, "memtop: malloc is bound to %s, not to libmemtop.so: no "
			 "allocation is seen (put libmemtop.so first in LD_PRELOAD)\n", name);
	if (n > 0)
		(void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}
