/* Events that carry no allocation: tags, thread renames and memory-map changes. Pushed with the
 * calling thread's slot, counted as dropped or untracked like any other event. Never allocates. */
#include <errno.h>

#include "preload.h"
#include "record.h"

void preload_push_simple(uint8_t type, uint64_t aux)
{
	struct preload_thread *t = &preload_tls;
	if (__atomic_load_n(&preload_state, __ATOMIC_ACQUIRE) != PRELOAD_ACTIVE)
		return;
	preload_attached(t);
	if (!preload_should_push(t))
		return;
	int saved = errno; /* a full-ring wait may make system calls */
	struct memtop_event ev = {.type = type, .thread_slot = t->slot, .aux = aux,
				  .timestamp_ns = shm_now_ns()};
	/* the inline push: a TAG goes to every lane (shm_ring_push_barrier) */
	preload_pushed(t, shm_ring_push_inline(&preload_seg, &ev, preload_alone()));
	errno = saved;
}
