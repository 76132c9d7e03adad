/* SIGBUS guard for MONITOR-side reads of a segment that the target may truncate under the mapping.
 * A guarded region turns the fault into a jump to its failure branch. Never used by the target. */
#ifndef MEMTOP_SHM_GUARD_H
#define MEMTOP_SHM_GUARD_H

#include <setjmp.h>

void shm_guard_install(void);
void shm_guard_enter(sigjmp_buf *env);
void shm_guard_leave(void);

/* Usage:  SHM_GUARD_BEGIN { ...reads... } SHM_GUARD_FAIL { ...fault path... } SHM_GUARD_END
 * Locals written inside the region and read in the fault path must be volatile. sigsetjmp does not
 * save the signal mask (a syscall per region); the handler runs with SA_NODEFER instead. */
#define SHM_GUARD_BEGIN                                      \
	do {                                                 \
		sigjmp_buf shm_guard_env_;                   \
		if (sigsetjmp(shm_guard_env_, 0) == 0) {     \
			shm_guard_enter(&shm_guard_env_);
#define SHM_GUARD_FAIL                                       \
			shm_guard_leave();                   \
		} else {                                     \
			shm_guard_leave();
#define SHM_GUARD_END                                        \
		}                                            \
	} while (0)

#endif
