/* livetable: the table of live blocks the target keeps in its segment with or without a monitor
 * (MEMTOP_LIVE), so that a monitor attaching late starts from the heap already there.
 * TARGET calls are lock-free (CAS on an entry's key), never allocate and never wait unbounded;
 * MONITOR calls map chunks read-only and read them guarded, trusting nothing in them. */
#ifndef MEMTOP_SHM_LIVETABLE_H
#define MEMTOP_SHM_LIVETABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "memtop/sampling.h"
#include "shm.h"

#define SHM_LIVE_SAMPLE_DEFAULT 524288u
#define SHM_LIVE_CHUNK0_EXACT (1u << 16)  /* entries of the first chunk: 2 MiB in exact mode */
#define SHM_LIVE_CHUNK0_SAMPLED (1u << 10) /* 32 KiB: one sample per 512 KiB covers 300 MiB */
#define SHM_LIVE_CHUNK_MAX (1u << 28)     /* entries in one chunk (8 GiB) */
#define SHM_LIVE_PROBES 12u               /* an address lives within this many slots of its home */


/* ---- TARGET side ---- */

/* Sets up chunk 0 right after the fixed part of a segment being created (file already sized to
 * segment_size): grows the file, backs and maps the chunk. 0 or -errno. */
int shm_live_init(struct shm_segment *seg, uint32_t mode, uint64_t sample_bytes);
/* Records a block. False when it could not (no room and the table could not grow): counted in
 * live_overflow. The block's address must not be in the table (the allocator returned it). */
bool shm_live_insert(struct shm_segment *seg, uint64_t addr, uint64_t size, uint32_t stack_id,
		     uint16_t slot, uint64_t time_ns, uint16_t flags);
/* Removes the block at addr; true (and a copy in *out when out is not NULL) when it was there. */
bool shm_live_remove(struct shm_segment *seg, uint64_t addr, struct memtop_live_entry *out);
/* Puts a removed entry back (a realloc that failed). */
void shm_live_restore(struct shm_segment *seg, const struct memtop_live_entry *e);

/* ---- MONITOR side ---- */

/* One block as read from the table: a consistent copy, addr decoded. */
struct shm_live_block {
	uint64_t addr, size, time_ns;
	uint32_t stack_id;
	uint16_t thread_slot, flags;
};

struct shm_live_stats {
	uint64_t entries;    /* blocks read */
	uint64_t busy;       /* entries still being written after the wait budget: not read */
	uint64_t bad;        /* entries with impossible fields (skipped) */
	uint32_t chunks;     /* chunks mapped */
	uint32_t bad_chunks; /* chunks the header describes impossibly (not mapped) */
};

/* Maps chunks published since the last call (validated: offset, capacity, file size). 0, or -EIO
 * when the segment faulted. */
int shm_live_map(struct shm_segment *seg, struct shm_live_stats *st);
/* Reads every live entry of the mapped chunks, calling fn outside the SIGBUS guard with batches of
 * copies. An entry being written is waited for (bounded: 50 ms for the whole scan). 0 or -EIO. */
typedef void (*shm_live_fn)(void *ctx, const struct shm_live_block *b, size_t n);
int shm_live_scan(struct shm_segment *seg, shm_live_fn fn, void *ctx, struct shm_live_stats *st);
/* Live bytes and blocks the table holds (maps it first): exact, or estimated from the samples
 * (weights of shm/livetable.h's mean). 0, or -EIO. For the process list. */
int shm_live_totals(struct shm_segment *seg, uint64_t *bytes, uint64_t *blocks);
/* Unmaps the monitor's chunk mappings (shm_segment_close calls it). */
void shm_live_unmap(struct shm_segment *seg);

#endif
