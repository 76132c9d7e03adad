/* memtop program-side API: statistics, tags and recording control from inside a traced program.
 * Every function is a weak symbol: when libmemtop.so is not preloaded the address is NULL and the
 * inline wrappers below do nothing and cost one compare. Safe from any thread; never blocks.
 *
 *     #include <memtop/memtop.h>
 *     memtop_mark("after-load");            // wrapper: no-op when not preloaded
 *     if (memtop_tag) memtop_tag("x");      // the same, written out
 *
 * Link nothing: the definitions come from libmemtop.so at run time (LD_PRELOAD). */
#ifndef MEMTOP_MEMTOP_H
#define MEMTOP_MEMTOP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Process totals, exact even when events were dropped (they come from the per-thread counters).
 * Byte counts are usable sizes (malloc_usable_size), so in_use is exactly what the heap holds for
 * the program; bytes_requested is the sum of the sizes asked for.
 * peak_in_use: the highest in_use seen since start or memtop_reset_peak(). Threads fold their
 * in-use changes into the global figure every 64 KiB, so the peak is exact to within 64 KiB per
 * allocating thread (and never below the in_use at the time of the call). */
struct memtop_stats {
	uint64_t allocs;
	uint64_t frees;
	uint64_t bytes_allocated;
	uint64_t bytes_freed;
	uint64_t in_use;
	uint64_t peak_in_use;
	uint64_t bytes_requested;
	uint64_t events_dropped; /* events lost because the ring stayed full */
	uint64_t reserved[8];
};

/* Resume / stop sending events to the monitor (counters and statistics keep counting). */
extern void memtop_enable(void) __attribute__((weak));
extern void memtop_disable(void) __attribute__((weak));
/* Sends a tag event with this name (at most 47 bytes kept). Returns the tag id (> 0), 0 when the
 * tag table is full, -1 when tracing is off. */
extern int memtop_tag(const char *name) __attribute__((weak));
/* Fills *out. Returns 0, or -1 (and zeroes *out) when tracing is off in this process. */
extern int memtop_get_stats(struct memtop_stats *out) __attribute__((weak));
/* Restarts the peak from the current in_use. */
extern void memtop_reset_peak(void) __attribute__((weak));

/* Wrappers that cost nothing when the library is absent. */
static inline int memtop_present(void)
{
	return memtop_get_stats != 0;
}

static inline int memtop_mark(const char *name)
{
	return memtop_tag ? memtop_tag(name) : -1;
}

static inline int memtop_stats(struct memtop_stats *out)
{
	if (memtop_get_stats)
		return memtop_get_stats(out);
	return -1;
}

#ifdef __cplusplus
}
#endif

#endif
