/* segcheck: plausibility of the target-side counters read from the (untrusted) segment.
 * Decides only whether figures are possible; never reads past the segment's validated geometry. */
#ifndef MEMTOP_SEGCHECK_H
#define MEMTOP_SEGCHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "shm.h"

/* Sums the counters of every thread slot into out, as shm_totals does, and returns false when the
 * figures are impossible for a process that has run uptime_ns (0: unknown): a count beyond what
 * any allocator can do in that time, a sum that overflows, more dropped or untracked events than
 * calls, far more frees than allocations. A false return leaves out undefined. Also false when
 * the slots cannot be read (SIGBUS). */
bool segcheck_counters(struct shm_segment *seg, uint64_t uptime_ns, struct memtop_counters *out);

#endif
