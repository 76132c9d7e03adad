/* The stack table: call stacks interned in the target so events carry a 32-bit id instead of frames.
 * TARGET: lock-free append-only open-addressing hash (CAS on the index slot), no allocation.
 * MONITOR: bounds-checked, SIGBUS-guarded reads of a stack by id. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guard.h"
#include "internal.h"

/* Four independent multiply chains, folded at the end: one chain over 64 frames is a serial
 * dependency of ~5 cycles per frame (~100 ns per capture of a deep stack); four overlap. The hash
 * only has to agree with itself inside one segment (the monitor never recomputes it). The chains
 * are four scalars, not an array: GCC kept an array's lanes in memory, a store and a reload per
 * frame (perf, python3 churn at depth 64: the hash was a quarter of the walk's own time). */
#define STACK_HASH_K 0xff51afd7ed558ccdull
static inline uint64_t stack_hash_mix(uint64_t h, uint64_t frame)
{
	h ^= frame;
	h *= STACK_HASH_K;
	return h ^ (h >> 32);
}

/* Folds a chain into the result. */
static inline uint64_t stack_hash_fold(uint64_t r, uint64_t chain)
{
	r ^= chain + (r << 6) + (r >> 2);
	r *= STACK_HASH_K;
	return r ^ (r >> 29);
}

static uint64_t stack_hash(const uint64_t *frames, uint32_t depth)
{
	uint64_t h0 = 0x9e3779b97f4a7c15ull ^ depth, h1 = 0xc2b2ae3d27d4eb4full,
		 h2 = 0x165667b19e3779f9ull, h3 = 0x27d4eb2f165667c5ull;
	uint32_t i = 0;
	for (; i + 4 <= depth; i += 4) {
		h0 = stack_hash_mix(h0, frames[i]);
		h1 = stack_hash_mix(h1, frames[i + 1]);
		h2 = stack_hash_mix(h2, frames[i + 2]);
		h3 = stack_hash_mix(h3, frames[i + 3]);
	}
	/* the last 0 to 3 frames go to the chains in order, as they always have */
	if (i < depth)
		h0 = stack_hash_mix(h0, frames[i++]);
	if (i < depth)
		h1 = stack_hash_mix(h1, frames[i++]);
	if (i < depth)
		h2 = stack_hash_mix(h2, frames[i]);
	uint64_t r = stack_hash_fold(stack_hash_fold(stack_hash_fold(h0, h1), h2), h3);
	return r ? r : 1;
}

static bool stack_equals(const struct shm_segment *seg, uint32_t id, uint64_t hash,
			 const uint64_t *frames, uint32_t depth)
{
	const struct memtop_stack *s = &seg->stacks[id];
	return s->hash == hash && s->depth == depth && s->frames_off + depth <= seg->frames_cap &&
	       memcmp(&seg->frames[s->frames_off], frames, depth * sizeof *frames) == 0;
}

/* The stack entries and the frame arena of a MEMTOP_FLAG_STACKS_LAZY segment are backed in
 * /dev/shm in steps of this many bytes, by the thread whose stack first reaches past what is
 * backed. */
#define STACKS_BACK_STEP (256u << 10)

/* Backs the elements of size `size` below end of the region at base (cap of them; *backed of them
 * backed already), and up to the next step, with MADV_POPULATE_WRITE: a full /dev/shm is then an
 * error here, never a SIGBUS at the write. Threads that race here back overlapping ranges, which
 * is harmless; *backed only grows. False when the kernel could not. */
static __attribute__((noinline)) bool region_back(void *base, size_t size, uint32_t cap,
						  uint32_t *backed_at, uint32_t end)
{
	static long page_size; /* every thread finds the same value: relaxed */
	long page = __atomic_load_n(&page_size, __ATOMIC_RELAXED);
	if (!page)
		__atomic_store_n(&page_size, page = sysconf(_SC_PAGESIZE), __ATOMIC_RELAXED);
	uint32_t backed = __atomic_load_n(backed_at, __ATOMIC_RELAXED);
	uint64_t to = ((uint64_t)end * size + STACKS_BACK_STEP - 1) & ~(uint64_t)(STACKS_BACK_STEP - 1);
	if (to > (uint64_t)cap * size)
		to = (uint64_t)cap * size;
	uintptr_t lo = ((uintptr_t)base + (uint64_t)backed * size) & ~(uintptr_t)(page - 1);
	uintptr_t hi = (uintptr_t)base + to;
	int saved = errno, rc;
	do
		rc = madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
	while (rc != 0 && (errno == EINTR || errno == EAGAIN));
	errno = saved;
	if (rc != 0)
		return false;
	/* Relaxed: what a thread that reads the new bound relies on is that the pages exist, and
	 * they do once madvise has returned here, before the store. */
	uint32_t now = (uint32_t)(to / size);
	while (backed < now &&
	       !__atomic_compare_exchange_n(backed_at, &backed, now, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	return true;
}

/* Reserves an id and frame space and writes the stack there (not yet visible in the index).
 * Returns 0 when either arena is full, or its entry or frames could not be backed. */
static uint32_t stack_reserve(struct shm_segment *seg, uint64_t hash, const uint64_t *frames,
			      uint32_t depth)
{
	struct memtop_seg_header *h = seg->hdr;
	if (__atomic_load_n(&h->stacks_used, __ATOMIC_RELAXED) >= seg->stacks_cap)
		return 0;
	uint32_t id = __atomic_fetch_add(&h->stacks_used, 1, __ATOMIC_RELAXED);
	if (id >= seg->stacks_cap)
		return 0;
	if (id >= __atomic_load_n(&seg->stacks_backed, __ATOMIC_RELAXED) &&
	    !region_back(seg->stacks, sizeof *seg->stacks, seg->stacks_cap, &seg->stacks_backed, id + 1))
		return 0;
	uint32_t off = __atomic_fetch_add(&h->frames_used, depth, __ATOMIC_RELAXED);
	if (off > seg->frames_cap || depth > seg->frames_cap - off)
		return 0;
	if (off + depth > __atomic_load_n(&seg->frames_backed, __ATOMIC_RELAXED) &&
	    !region_back(seg->frames, sizeof *seg->frames, seg->frames_cap, &seg->frames_backed,
			 off + depth))
		return 0;
	memcpy(&seg->frames[off], frames, depth * sizeof *frames);
	struct memtop_stack *s = &seg->stacks[id];
	s->hash = hash;
	s->frames_off = off;
	s->depth = depth;
	return id;
}

static uint32_t stack_intern_hashed(struct shm_segment *seg, const uint64_t *frames, uint32_t depth,
				    uint64_t hash);

uint32_t shm_stack_intern(struct shm_segment *seg, const uint64_t *frames, uint32_t depth)
{
	if (depth == 0)
		return MEMTOP_STACK_NONE;
	if (depth > MEMTOP_MAX_DEPTH)
		depth = MEMTOP_MAX_DEPTH;
	return stack_intern_hashed(seg, frames, depth, stack_hash(frames, depth));
}

uint32_t shm_stack_intern_memo(struct shm_segment *seg, const uint64_t *frames, uint32_t depth,
			       struct shm_stack_memo *memo, unsigned memo_log2)
{
	if (depth == 0)
		return MEMTOP_STACK_NONE;
	if (depth > MEMTOP_MAX_DEPTH)
		depth = MEMTOP_MAX_DEPTH;
	uint64_t hash = stack_hash(frames, depth);
	struct shm_stack_memo *m = &memo[hash >> (64 - memo_log2)];
	int32_t pid = seg->hdr->pid;
	/* the frames at frames_off are stack m->id's (published, never written again): equal
	 * frames are that stack, and the index holds one id per stack */
	if (m->hash == hash && m->pid == pid && m->depth == depth && m->frames_off <= seg->frames_cap &&
	    depth <= seg->frames_cap - m->frames_off &&
	    memcmp(&seg->frames[m->frames_off], frames, depth * sizeof *frames) == 0)
		return m->id;
	uint32_t id = stack_intern_hashed(seg, frames, depth, hash);
	if (id != MEMTOP_STACK_OVERFLOW && id != MEMTOP_STACK_NONE && id < seg->stacks_cap) {
		m->hash = hash;
		m->pid = pid;
		m->id = id;
		m->depth = depth;
		m->frames_off = seg->stacks[id].frames_off;
	}
	return id;
}

static uint32_t stack_intern_hashed(struct shm_segment *seg, const uint64_t *frames, uint32_t depth,
				    uint64_t hash)
{
	uint32_t mask = seg->stack_index_cap - 1;
	uint32_t mine = 0; /* reserved id not yet published, reused across probes */
	uint32_t i = (uint32_t)hash & mask;
	for (uint32_t probe = 0; probe <= mask; probe++, i = (i + 1) & mask) {
		uint32_t id = __atomic_load_n(&seg->stack_index[i], __ATOMIC_ACQUIRE);
		if (id == 0) {
			if (!mine && !(mine = stack_reserve(seg, hash, frames, depth)))
				break;
			/* Release: the stack's fields and frames are visible before its id is. */
			if (__atomic_compare_exchange_n(&seg->stack_index[i], &id, mine, false,
							__ATOMIC_RELEASE, __ATOMIC_ACQUIRE))
				return mine;
			/* Lost the race: id now holds the winner; compare with it below. */
		}
		if (id < seg->stacks_cap && stack_equals(seg, id, hash, frames, depth))
			return id;
	}
	__atomic_fetch_add(&seg->hdr->stacks_overflow, 1, __ATOMIC_RELAXED);
	return MEMTOP_STACK_OVERFLOW;
}

int shm_stack_read(struct shm_segment *seg, uint32_t id, uint64_t *frames, uint32_t max)
{
	if (id == MEMTOP_STACK_NONE || id == MEMTOP_STACK_OVERFLOW || id == MEMTOP_STACK_SIGNAL ||
	    id >= seg->stacks_cap)
		return -1;
	volatile int depth = -1;
	SHM_GUARD_BEGIN {
		struct memtop_stack s;
		memcpy(&s, &seg->stacks[id], sizeof s);
		if (s.depth <= MEMTOP_MAX_DEPTH && s.frames_off <= seg->frames_cap &&
		    s.depth <= seg->frames_cap - s.frames_off) {
			uint32_t d = s.depth < max ? s.depth : max;
			memcpy(frames, &seg->frames[s.frames_off], d * sizeof *frames);
			depth = (int)d;
		}
	} SHM_GUARD_FAIL {
		depth = -1;
	} SHM_GUARD_END;
	return depth;
}
