/* The contract between `memtop inject` (monitor/inject/) and libmemtop.so (preload/inject_entry.c):
 * the names of the two functions the injector calls inside the target after dlopen, and what
 * they return. Declarations only; nothing here allocates. */
#ifndef MEMTOP_INJECT_ABI_H
#define MEMTOP_INJECT_ABI_H

#define MEMTOP_INJECT_START "memtop_inject_start" /* int memtop_inject_start(void) */
#define MEMTOP_INJECT_UNDO "memtop_inject_undo"   /* int memtop_inject_undo(void) */

#define MEMTOP_INJECT_TRACING 0      /* start: traced from now on; undo: every slot put back */
#define MEMTOP_INJECT_PRELOADED 1    /* the library was preloaded at start: nothing to do */
#define MEMTOP_INJECT_NOT_INJECTED 2 /* undo: nothing was injected */
/* A negative result is -errno of what failed inside the target (segment creation, mprotect). */

#endif
