/* MONITOR side of the live table: maps the chunks the target published (read-only, each checked
 * against the file size) and reads consistent copies of their entries under the SIGBUS guard.
 * Trusts nothing: a chunk's offset and capacity are read once and range-checked, an entry is
 * taken only when its key reads the same before and after its fields, waits are bounded. */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guard.h"
#include "livetable.h"

#define LIVE_PAGE 4096ull
#define LIVE_SCAN_WAIT_NS (50ull * 1000000ull)
#define LIVE_BATCH 256

static uint64_t live_bytes(uint32_t cap)
{
	return ((uint64_t)cap * sizeof(struct memtop_live_entry) + LIVE_PAGE - 1) & ~(LIVE_PAGE - 1);
}

/* Chunk k as the header describes it, read once under the guard: false when impossible. */
static bool live_chunk_desc(struct shm_segment *seg, uint32_t k, uint64_t file_size, uint64_t *off,
			    uint32_t *cap)
{
	volatile bool ok = false;
	SHM_GUARD_BEGIN {
		*off = __atomic_load_n(&seg->hdr->live_chunk_off[k], __ATOMIC_RELAXED);
		*cap = __atomic_load_n(&seg->hdr->live_chunk_cap[k], __ATOMIC_RELAXED);
		ok = true;
	} SHM_GUARD_FAIL {
	} SHM_GUARD_END;
	if (!ok || *cap == 0 || (*cap & (*cap - 1)) || *cap > SHM_LIVE_CHUNK_MAX ||
	    *off % LIVE_PAGE || *off < seg->fixed_size || *off > file_size ||
	    live_bytes(*cap) > file_size - *off)
		return false;
	return true;
}

int shm_live_map(struct shm_segment *seg, struct shm_live_stats *st)
{
	volatile uint32_t n = 0;
	SHM_GUARD_BEGIN {
		n = __atomic_load_n(&seg->hdr->live_chunks, __ATOMIC_ACQUIRE);
	} SHM_GUARD_FAIL {
		return -EIO;
	} SHM_GUARD_END;
	if (n > MEMTOP_LIVE_CHUNKS_MAX)
		n = MEMTOP_LIVE_CHUNKS_MAX;
	struct stat fs;
	if (seg->live_n < n && (seg->fd < 0 || fstat(seg->fd, &fs) != 0))
		return -EIO;
	while (seg->live_n < n) {
		uint32_t k = seg->live_n, cap;
		uint64_t off;
		if (!live_chunk_desc(seg, k, (uint64_t)fs.st_size, &off, &cap)) {
			if (st)
				st->bad_chunks++;
			break; /* later chunks are only ever reached through this one */
		}
		void *p = mmap(NULL, live_bytes(cap), PROT_READ, MAP_SHARED, seg->fd, (off_t)off);
		if (p == MAP_FAILED)
			return -errno;
		seg->live[k] = p;
		seg->live_cap[k] = cap;
		seg->live_n = k + 1;
	}
	if (st)
		st->chunks = seg->live_n;
	return 0;
}

void shm_live_unmap(struct shm_segment *seg)
{
	for (uint32_t k = 0; k < seg->live_n && k < MEMTOP_LIVE_CHUNKS_MAX; k++)
		if (seg->live[k])
			munmap(seg->live[k], live_bytes(seg->live_cap[k]));
	memset(seg->live, 0, sizeof seg->live);
	seg->live_n = 0;
}

/* Reads entry e into *b: true for a consistent live entry. A busy entry (a hook writing it) is
 * waited for while *budget_ns lasts. Runs under the caller's guard. */
static bool live_read_entry(const struct memtop_live_entry *e, struct shm_live_block *b,
			    uint64_t *deadline, struct shm_live_stats *st)
{
	for (int tries = 0; tries < 1000; tries++) {
		uint64_t k1 = __atomic_load_n(&e->key, __ATOMIC_SEQ_CST);
		if ((k1 >> 16) == 0)
			return false;
		if (k1 & 1) {
			if (!*deadline)
				*deadline = shm_clock_ns(CLOCK_MONOTONIC) + LIVE_SCAN_WAIT_NS;
			if (shm_clock_ns(CLOCK_MONOTONIC) > *deadline)
				break;
			sched_yield();
			continue;
		}
		b->size = __atomic_load_n(&e->size, __ATOMIC_RELAXED);
		b->time_ns = __atomic_load_n(&e->time_ns, __ATOMIC_RELAXED);
		b->stack_id = __atomic_load_n(&e->stack_id, __ATOMIC_RELAXED);
		b->thread_slot = __atomic_load_n(&e->thread_slot, __ATOMIC_RELAXED);
		b->flags = __atomic_load_n(&e->flags, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&e->key, __ATOMIC_RELAXED) != k1)
			continue; /* rewritten while we read: read again */
		b->addr = k1 >> 16;
		if (b->size >= (1ull << 48)) {
			st->bad++;
			return false;
		}
		return true;
	}
	st->busy++;
	return false;
}

/* One guarded pass over entries [from, to) of chunk k, copying up to LIVE_BATCH blocks to out.
 * Returns the index reached, or -1 on SIGBUS. */
static int64_t live_scan_some(struct shm_segment *seg, uint32_t k, uint64_t from,
			      struct shm_live_block *out, size_t *n, uint64_t *deadline,
			      struct shm_live_stats *st)
{
	volatile uint64_t i = from;
	volatile size_t got = 0;
	SHM_GUARD_BEGIN {
		const struct memtop_live_entry *c = seg->live[k];
		for (; i < seg->live_cap[k] && got < LIVE_BATCH; i++)
			if (live_read_entry(&c[i], &out[got], deadline, st))
				got++;
	} SHM_GUARD_FAIL {
		return -1;
	} SHM_GUARD_END;
	*n = got;
	return (int64_t)i;
}

int shm_live_scan(struct shm_segment *seg, shm_live_fn fn, void *ctx, struct shm_live_stats *st)
{
	struct shm_live_block buf[LIVE_BATCH];
	uint64_t deadline = 0;
	/* a seq_cst fence between the claim (taken before) and the first entry read: see the
	 * handover invariant in monitor/session/late_attach.c */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (uint32_t k = 0; k < seg->live_n; k++) {
		uint64_t i = 0;
		while (i < seg->live_cap[k]) {
			size_t n = 0;
			int64_t r = live_scan_some(seg, k, i, buf, &n, &deadline, st);
			if (r < 0)
				return -EIO;
			i = (uint64_t)r;
			st->entries += n;
			if (n)
				fn(ctx, buf, n);
		}
	}
	return 0;
}

struct live_sum {
	double bytes, blocks;
	uint64_t mean;
};

static void live_sum_batch(void *ctx, const struct shm_live_block *b, size_t n)
{
	struct live_sum *s = ctx;
	for (size_t i = 0; i < n; i++) {
		double w = (b[i].flags & MEMTOP_LIVEF_SAMPLED) ? memtop_sample_weight(b[i].size, s->mean)
							       : 1.0;
		s->bytes += w * (double)b[i].size;
		s->blocks += w;
	}
}

int shm_live_totals(struct shm_segment *seg, uint64_t *bytes, uint64_t *blocks)
{
	struct shm_live_stats st;
	struct live_sum sum = {0, 0, 0};
	memset(&st, 0, sizeof st);
	*bytes = *blocks = 0;
	volatile uint64_t mean = 0;
	SHM_GUARD_BEGIN {
		mean = __atomic_load_n(&seg->hdr->live_sample_bytes, __ATOMIC_RELAXED);
	} SHM_GUARD_FAIL {
		return -EIO;
	} SHM_GUARD_END;
	sum.mean = mean <= (1ull << 30) ? mean : 0;
	if (shm_live_map(seg, &st) != 0 || shm_live_scan(seg, live_sum_batch, &sum, &st) != 0)
		return -EIO;
	*bytes = (uint64_t)(sum.bytes + 0.5);
	*blocks = (uint64_t)(sum.blocks + 0.5);
	return 0;
}
