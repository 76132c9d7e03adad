/* prefetch: a prefetch the compiler keeps where it is written. GCC 12 at -O2 may delete a
 * __builtin_prefetch as dead code (it has no result): the live set's slot prefetches vanished once
 * they were inlined into the batch loop, and the ingest ran at half speed (bench_engine ingest,
 * 15.1 -> 8.3 M events/s), and the view publish had lost its per-site prefetch loop the same way.
 * A volatile asm is never deleted. The monitor's prefetches all go through it (the dashboard's, in
 * ui/, may include no shared header: GCC kept its one). No access is made: the memory operand
 * only names the line. A read prefetch into every cache level; also used before a write (a write
 * prefetch needs a CPU feature that shm/ring.c checks for its own use). */
#ifndef MEMTOP_PREFETCH_H
#define MEMTOP_PREFETCH_H

static inline void memtop_prefetch(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p));
#elif defined(__aarch64__)
	__asm__ volatile("prfm pldl1keep, %0" : : "Q"(*(const char *)p));
#else
	__builtin_prefetch(p);
#endif
}

#endif
