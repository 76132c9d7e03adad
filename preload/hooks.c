/* The interposed allocation functions: malloc, free, calloc, realloc, reallocarray, posix_memalign,
 * aligned_alloc, memalign, valloc, pvalloc and malloc_usable_size. Each calls the real function and
 * records the call (record.h). They must return exactly what glibc returns (value and errno), and
 * must never allocate on their own behalf. */
/* <stdlib.h> and <malloc.h> declare every function defined here: the compiler checks each of our
 * signatures against glibc's. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "livetable.h"
#include "preload.h"
#include "record.h"

#define PRELOAD_MIN_ALIGN 16u

static size_t preload_page_size(void)
{
	static size_t page;
	if (!page)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return page;
}

PRELOAD_EXPORT void *malloc(size_t size)
{
	struct preload_thread *t = &preload_tls;
	int mode = preload_mode(t);
	if (preload_unlikely(!preload_real.malloc))
		return preload_bootstrap_alloc(size, PRELOAD_MIN_ALIGN);
	void *p = preload_real.malloc(size);
	if (preload_likely(p != NULL) && mode != PRELOAD_MODE_PASS)
		preload_on_alloc(t, mode, MEMTOP_EV_MALLOC, p, size, 0, PRELOAD_HOOK_FRAME());
	return p;
}

PRELOAD_EXPORT void free(void *p)
{
	if (preload_unlikely(p == NULL || preload_bootstrap_owns(p)))
		return;
	struct preload_thread *t = &preload_tls;
	int mode = preload_mode(t);
	if (preload_unlikely(!preload_real.free))
		return;
	if (preload_likely(mode != PRELOAD_MODE_PASS))
		preload_on_free(t, mode, p);
	preload_real.free(p);
}

PRELOAD_EXPORT void *calloc(size_t nmemb, size_t size)
{
	struct preload_thread *t = &preload_tls;
	int mode = preload_mode(t);
	size_t bytes;
	if (preload_unlikely(!preload_real.calloc)) {
		if (__builtin_mul_overflow(nmemb, size, &bytes)) {
			errno = ENOMEM;
			return NULL;
		}
		return preload_bootstrap_alloc(bytes, PRELOAD_MIN_ALIGN);
	}
	void *p = preload_real.calloc(nmemb, size);
	if (preload_likely(p != NULL) && mode != PRELOAD_MODE_PASS)
		preload_on_alloc(t, mode, MEMTOP_EV_CALLOC, p, (uint64_t)nmemb * size, 0,
				 PRELOAD_HOOK_FRAME());
	return p;
}

/* realloc of a block from the bootstrap arena: move it to the real heap (a plain allocation). */
static void *preload_realloc_from_bootstrap(void *old, size_t size)
{
	size_t old_size = preload_bootstrap_size(old);
	void *p = malloc(size);
	if (p)
		memcpy(p, old, old_size < size ? old_size : size);
	return p;
}

/* realloc(old != NULL, size): REALLOC_BEGIN takes its ticket (in the old block's lane) before the
 * real call, so that a free and reuse of the old block by another thread is ordered after it
 * (invariant 1). REALLOC_END reports the new block (in its lane: ordered after any earlier free of
 * that address), or failure (the monitor then puts the old block back), or, for size 0, that glibc
 * freed the old block and returned NULL (both in the old block's lane). */
static void *preload_realloc_tracked(struct preload_thread *t, void *old, size_t size)
{
	int saved = errno;
	uint64_t old_usable = preload_usable(old);
	preload_attached(t);
	uint64_t link = preload_fetch_add_own(&t->reallocs, 1) + 1; /* a handler's realloc gets another */
	/* The old block leaves the live table before the real call (another thread may get its
	 * address back before realloc returns) and before the push decision (late_attach.c). */
	struct memtop_live_entry was;
	bool tabled = preload_live_forget((uintptr_t)old, &was);
	uint8_t tflag = tabled ? MEMTOP_EVF_TABLED : 0;
	bool push = preload_should_push(t), begun = false;
	if (push) {
		struct memtop_event ev = {
			.type = MEMTOP_EV_REALLOC_BEGIN, .flags = tflag, .addr = (uintptr_t)old,
			.link = link};
		begun = preload_push(t, &ev);
	}
	errno = saved;
	void *p = preload_real.realloc(old, size);
	saved = errno;
	bool freed = p != NULL || size == 0;
	struct memtop_event ev = {.type = MEMTOP_EV_REALLOC_END, .flags = tflag, .addr = (uintptr_t)p,
				  .size = size, .aux = (uintptr_t)old, .link = link};
	uint32_t stack = PRELOAD_STACK_UNSET;
	if (freed)
		preload_count_free(t, old_usable);
	if (p) {
		ev.usable = preload_usable(p);
		preload_count_alloc(t, ev.usable, size);
		preload_live_note(t, (uintptr_t)p, size, MEMTOP_LIVEF_REALLOC, &stack,
				  PRELOAD_HOOK_FRAME());
	} else if (!freed) {
		ev.flags |= MEMTOP_EVF_FAILED;
		if (tabled) /* the old block is still live: back in the table */
			shm_live_restore(&preload_seg, &was);
	}
	/* END goes to the new block's lane: the consumer may see it before BEGIN in the old one's
	 * (only a BEGIN that is in the ring will come: a dropped one must not be waited for). */
	if (begun && p &&
	    shm_lane_of(&preload_seg, (uintptr_t)p) != shm_lane_of(&preload_seg, (uintptr_t)old))
		ev.flags |= MEMTOP_EVF_SPLIT;
	if (push || preload_should_push(t)) {
		if (stack == PRELOAD_STACK_UNSET)
			stack = p && preload_cfg.depth ? preload_stack_capture(t, PRELOAD_HOOK_FRAME())
							 : MEMTOP_STACK_NONE;
		ev.stack_id = stack;
		preload_push(t, &ev);
	}
	errno = saved;
	return p;
}

static void *preload_realloc(void *old, size_t size)
{
	struct preload_thread *t = &preload_tls;
	int mode = preload_mode(t);
	if (preload_unlikely(!preload_real.realloc)) {
		void *p = preload_bootstrap_alloc(size, PRELOAD_MIN_ALIGN);
		if (p && old)
			memcpy(p, old, preload_bootstrap_size(old) < size ? preload_bootstrap_size(old) : size);
		return p;
	}
	if (preload_unlikely(old && preload_bootstrap_owns(old)))
		return preload_realloc_from_bootstrap(old, size);
	if (mode == PRELOAD_MODE_PASS)
		return preload_real.realloc(old, size);
	if (old == NULL) {
		void *p = preload_real.realloc(NULL, size);
		if (p)
			preload_on_alloc(t, mode, MEMTOP_EV_REALLOC_END, p, size, 0,
					 PRELOAD_HOOK_FRAME());
		return p;
	}
	if (preload_unlikely(mode == PRELOAD_MODE_PREINIT)) {
		int saved = errno;
		uint64_t old_usable = preload_real.malloc_usable_size(old);
		errno = saved;
		void *p = preload_real.realloc(old, size);
		saved = errno;
		if (p || size == 0)
			preload_count_preinit(false, old_usable, 0);
		if (p)
			preload_count_preinit(true, preload_real.malloc_usable_size(p), size);
		errno = saved;
		return p;
	}
	return preload_realloc_tracked(t, old, size);
}

PRELOAD_EXPORT void *realloc(void *old, size_t size)
{
	return preload_realloc(old, size);
}

PRELOAD_EXPORT void *reallocarray(void *old, size_t nmemb, size_t size)
{
	size_t bytes;
	if (__builtin_mul_overflow(nmemb, size, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	return preload_realloc(old, bytes);
}

/* The memalign family. real is the function to call; page-sized variants pass align 0 (= page). */
static void *preload_aligned(void *(*real)(size_t, size_t), size_t align, size_t size)
{
	struct preload_thread *t = &preload_tls;
	int mode = preload_mode(t);
	if (preload_unlikely(!real))
		return preload_bootstrap_alloc(size, align);
	void *p = real(align, size);
	if (preload_likely(p != NULL) && mode != PRELOAD_MODE_PASS)
		preload_on_alloc(t, mode, MEMTOP_EV_MEMALIGN, p, size, align, PRELOAD_HOOK_FRAME());
	return p;
}

PRELOAD_EXPORT void *memalign(size_t align, size_t size)
{
	return preload_aligned(preload_real.memalign, align, size);
}

PRELOAD_EXPORT void *aligned_alloc(size_t align, size_t size)
{
	return preload_aligned(preload_real.aligned_alloc, align, size);
}

PRELOAD_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	struct preload_thread *t = &preload_tls;
	int mode = preload_mode(t);
	if (preload_unlikely(!preload_real.posix_memalign)) {
		void *p = preload_bootstrap_alloc(size, align);
		if (!p)
			return ENOMEM;
		*out = p;
		return 0;
	}
	int rc = preload_real.posix_memalign(out, align, size);
	if (rc == 0 && mode != PRELOAD_MODE_PASS)
		preload_on_alloc(t, mode, MEMTOP_EV_MEMALIGN, *out, size, align,
				 PRELOAD_HOOK_FRAME());
	return rc;
}

PRELOAD_EXPORT void *valloc(size_t size)
{
	struct preload_thread *t = &preload_tls;
	int mode = preload_mode(t);
	if (preload_unlikely(!preload_real.valloc))
		return preload_bootstrap_alloc(size, 4096);
	void *p = preload_real.valloc(size);
	if (p && mode != PRELOAD_MODE_PASS)
		preload_on_alloc(t, mode, MEMTOP_EV_MEMALIGN, p, size, preload_page_size(),
				 PRELOAD_HOOK_FRAME());
	return p;
}

PRELOAD_EXPORT void *pvalloc(size_t size)
{
	struct preload_thread *t = &preload_tls;
	int mode = preload_mode(t);
	if (preload_unlikely(!preload_real.pvalloc))
		return preload_bootstrap_alloc(size, 4096);
	void *p = preload_real.pvalloc(size);
	if (p && mode != PRELOAD_MODE_PASS)
		preload_on_alloc(t, mode, MEMTOP_EV_MEMALIGN, p, size, preload_page_size(),
				 PRELOAD_HOOK_FRAME());
	return p;
}

PRELOAD_EXPORT size_t malloc_usable_size(void *p)
{
	if (p == NULL)
		return 0;
	if (preload_unlikely(preload_bootstrap_owns(p)))
		return preload_bootstrap_size(p);
	if (preload_unlikely(!preload_real.malloc_usable_size))
		preload_resolve();
	return preload_real.malloc_usable_size(p);
}
