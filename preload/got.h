/* got: rewriting of GOT slots in every loaded object, for a library loaded after the process
 * started (memtop inject). Called only from inject_entry.c and the dlopen hook; never allocates,
 * never from inside an allocation hook. One writer at a time (callers serialize). */
#ifndef MEMTOP_PRELOAD_GOT_H
#define MEMTOP_PRELOAD_GOT_H

#include <stddef.h>
#include <stdint.h>

/* A function to route: the symbol name in relocations, and our hook's address. */
struct got_target {
	const char *name;
	uintptr_t hook;
};

/* Points every JUMP_SLOT/GLOB_DAT slot that names a target at its hook, in every loaded object
 * but libmemtop.so, and records what each held. Returns 0 or -errno of the first failure;
 * *changed = slots rewritten by this pass. */
int preload_got_apply(const struct got_target *targets, size_t n, size_t *changed);
/* Puts back every recorded slot that still holds one of our hooks, in objects still loaded. */
int preload_got_undo(const struct got_target *targets, size_t n, size_t *restored);
/* Slots left alone because the record was full. */
uint64_t preload_got_skipped(void);

#endif
