/* The live table: open-addressing hash of live blocks in chunks of the segment file past its fixed
 * part, chunk k twice the size of chunk k-1, added when an insert finds no room in any chunk.
 * TARGET: lock-free (CAS on the entry key), no allocation, waits only for a growing thread and at
 * most SHM_LIVE_GROW_WAIT_NS; MONITOR: read-only mappings, guarded reads, bounded waits.
 *
 * Why it is correct without locks: an address is inserted by the thread the allocator returned it
 * to, after the allocator returned it, and removed by the thread that frees it, before the real
 * free; the allocator orders those (it cannot hand the address out again before the free), so
 * two threads never write entries for one address at once. A slot is taken by CAS from empty or
 * tombstone; removal leaves a tombstone (never empty), so a probe from an address's home slot
 * never stops before reaching it, and an address always sits within SHM_LIVE_PROBES of its home. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "internal.h"
#include "livetable.h"

#define LIVE_BUSY 1ull
#define LIVE_GEN_MASK 0xfffeull /* bits 1..15 */
#define LIVE_ADDR_MAX (1ull << 48)
#define LIVE_GROW_WAIT_NS (2ull * 1000000ull)
#define LIVE_SCAN_WAIT_NS (50ull * 1000000ull)
#define LIVE_PAGE 4096ull

static inline uint64_t live_addr_of(uint64_t key)
{
	return key >> 16;
}

/* The key after one more write of the entry: gen advances, never to a key of 0 (0 = never used). */
static inline uint64_t live_next_key(uint64_t old, uint64_t addr, bool busy)
{
	uint64_t gen = ((old & LIVE_GEN_MASK) + 2) & LIVE_GEN_MASK;
	if (addr == 0 && gen == 0)
		gen = 2;
	return addr << 16 | gen | (busy ? LIVE_BUSY : 0);
}

static inline uint64_t live_home(uint64_t addr, uint32_t cap)
{
	return ((addr >> 4) * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
}

static uint64_t live_chunk_bytes(uint32_t cap)
{
	return ((uint64_t)cap * sizeof(struct memtop_live_entry) + LIVE_PAGE - 1) & ~(LIVE_PAGE - 1);
}

/* ---- TARGET side ---- */

/* Grows the file by one chunk of cap entries at off, backs it in /dev/shm and maps it. */
static struct memtop_live_entry *live_add_chunk(int fd, uint64_t off, uint32_t cap)
{
	uint64_t bytes = live_chunk_bytes(cap);
	if (ftruncate(fd, (off_t)(off + bytes)) != 0)
		return NULL;
	int rc = fallocate(fd, 0, (off_t)off, (off_t)bytes) ? errno : 0;
	if (rc == EOPNOTSUPP)
		rc = posix_fallocate(fd, (off_t)off, (off_t)bytes);
	if (rc) {
		if (ftruncate(fd, (off_t)off) != 0) { /* leave the file as it was */
		}
		return NULL;
	}
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	return p == MAP_FAILED ? NULL : p;
}

/* The preload keeps no descriptor (the program owns its fd table): a chunk is added through the
 * name, only while it still names our segment (same pid and creation time). -1 when it does not
 * (unlinked at exit or exec): the table then stops growing and counts what it cannot hold. */
static int live_reopen(struct shm_segment *seg)
{
	if (seg->fd >= 0)
		return dup(seg->fd);
	char name[64];
	struct memtop_seg_header h;
	struct stat st;
	shm_segment_name(seg->pid, name, sizeof name);
	int fd = shm_open(name, O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && pread(fd, &h, sizeof h, 0) == sizeof h &&
	    h.pid == seg->hdr->pid && h.created_monotonic_ns == seg->hdr->created_monotonic_ns)
		return fd;
	close(fd);
	return -1;
}

/* Publishes chunk k: the process-local pointer first (our inserts), then the header (monitors). */
static void live_publish(struct shm_segment *seg, uint32_t k, struct memtop_live_entry *c,
			 uint64_t off, uint32_t cap)
{
	struct memtop_seg_header *h = seg->hdr;
	seg->live[k] = c;
	seg->live_cap[k] = cap;
	__atomic_store_n(&seg->live_n, k + 1, __ATOMIC_RELEASE);
	h->live_chunk_off[k] = off;
	h->live_chunk_cap[k] = cap;
	__atomic_store_n(&h->live_chunks, k + 1, __ATOMIC_RELEASE);
}

int shm_live_init(struct shm_segment *seg, uint32_t mode, uint64_t sample_bytes)
{
	struct memtop_seg_header *h = seg->hdr;
	seg->live_n = 0;
	seg->live_mode = mode;
	h->live_mode = mode;
	h->live_sample_bytes = mode == MEMTOP_LIVE_SAMPLED ? sample_bytes : 0;
	if (mode == MEMTOP_LIVE_OFF)
		return 0;
	uint32_t cap = mode == MEMTOP_LIVE_EXACT ? SHM_LIVE_CHUNK0_EXACT : SHM_LIVE_CHUNK0_SAMPLED;
	uint64_t off = (seg->size + LIVE_PAGE - 1) & ~(LIVE_PAGE - 1);
	struct memtop_live_entry *c = live_add_chunk(seg->fd, off, cap);
	if (!c)
		return errno ? -errno : -ENOMEM;
	live_publish(seg, 0, c, off, cap);
	return 0;
}

/* Takes a free slot (empty or tombstone) within SHM_LIVE_PROBES of addr's home in chunk c and
 * writes the entry; false when there is none. */
static bool live_insert_in(struct memtop_live_entry *c, uint32_t cap,
			   const struct memtop_live_entry *val, uint64_t addr)
{
	uint64_t i = live_home(addr, cap);
	for (uint32_t p = 0; p < SHM_LIVE_PROBES; p++, i = (i + 1) & (cap - 1)) {
		struct memtop_live_entry *e = &c[i];
		uint64_t k = __atomic_load_n(&e->key, __ATOMIC_RELAXED);
		if (live_addr_of(k) != 0 || (k & LIVE_BUSY))
			continue;
		uint64_t busy = live_next_key(k, addr, true);
		/* seq_cst: with the seq_cst claim load that follows in the hook, a monitor that claims
		 * then scans either finds this entry or gets the event (late_attach.c states both). */
		if (!__atomic_compare_exchange_n(&e->key, &k, busy, false, __ATOMIC_SEQ_CST,
						 __ATOMIC_RELAXED))
			continue;
		e->size = val->size;
		e->time_ns = val->time_ns;
		e->stack_id = val->stack_id;
		e->thread_slot = val->thread_slot;
		e->flags = val->flags;
		__atomic_store_n(&e->key, live_next_key(busy, addr, false), __ATOMIC_RELEASE);
		return true;
	}
	return false;
}

static pid_t live_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* No chunk had room: add one (one thread at a time), or wait a little for the thread adding one.
 * True when a new chunk is there to try. */
static bool live_grow(struct shm_segment *seg, uint32_t seen)
{
	struct memtop_seg_header *h = seg->hdr;
	int32_t me = live_tid(), none = 0;
	if (__atomic_compare_exchange_n(&h->live_grow_lock, &none, me, false, __ATOMIC_ACQUIRE,
					__ATOMIC_RELAXED)) {
		uint32_t n = __atomic_load_n(&seg->live_n, __ATOMIC_ACQUIRE);
		bool ok = n > seen; /* another thread added one meanwhile */
		if (!ok && n < MEMTOP_LIVE_CHUNKS_MAX && seg->live_cap[n - 1] < SHM_LIVE_CHUNK_MAX) {
			uint32_t cap = seg->live_cap[n - 1] * 2;
			uint64_t off = h->live_chunk_off[n - 1] + live_chunk_bytes(seg->live_cap[n - 1]);
			int saved = errno;
			int fd = live_reopen(seg);
			struct memtop_live_entry *c = fd >= 0 ? live_add_chunk(fd, off, cap) : NULL;
			if (fd >= 0)
				close(fd);
			errno = saved;
			if (c) {
				live_publish(seg, n, c, off, cap);
				ok = true;
			}
		}
		__atomic_store_n(&h->live_grow_lock, 0, __ATOMIC_RELEASE);
		return ok;
	}
	if (none == me) /* a signal handler of the growing thread: never wait for ourselves */
		return false;
	uint64_t until = shm_now_ns() + LIVE_GROW_WAIT_NS;
	while (__atomic_load_n(&seg->live_n, __ATOMIC_ACQUIRE) == seen) {
		if (!__atomic_load_n(&h->live_grow_lock, __ATOMIC_ACQUIRE) || shm_now_ns() > until)
			break;
		sched_yield();
	}
	return __atomic_load_n(&seg->live_n, __ATOMIC_ACQUIRE) > seen;
}

bool shm_live_insert(struct shm_segment *seg, uint64_t addr, uint64_t size, uint32_t stack_id,
		     uint16_t slot, uint64_t time_ns, uint16_t flags)
{
	struct memtop_live_entry val = {
		.size = size, .time_ns = time_ns, .stack_id = stack_id, .thread_slot = slot,
		.flags = flags};
	if (addr == 0 || addr >= LIVE_ADDR_MAX)
		goto overflow;
	for (int round = 0; round < 4; round++) {
		uint32_t n = __atomic_load_n(&seg->live_n, __ATOMIC_ACQUIRE);
		/* newest (largest, least full) chunk first */
		for (uint32_t k = n; k-- > 0;)
			if (live_insert_in(seg->live[k], seg->live_cap[k], &val, addr))
				return true;
		if (n == 0 || !live_grow(seg, n))
			break;
	}
overflow:
	__atomic_add_fetch(&seg->hdr->live_overflow, 1, __ATOMIC_RELAXED);
	return false;
}

/* The entry holding addr in chunk c, or NULL. */
static struct memtop_live_entry *live_find_in(struct memtop_live_entry *c, uint32_t cap,
					      uint64_t addr, uint64_t *key)
{
	uint64_t i = live_home(addr, cap);
	for (uint32_t p = 0; p < SHM_LIVE_PROBES; p++, i = (i + 1) & (cap - 1)) {
		uint64_t k = __atomic_load_n(&c[i].key, __ATOMIC_RELAXED);
		if (k == 0)
			return NULL; /* never used: nothing was ever placed past it from this home */
		if (live_addr_of(k) == addr && !(k & LIVE_BUSY)) {
			*key = k;
			return &c[i];
		}
	}
	return NULL;
}

bool shm_live_remove(struct shm_segment *seg, uint64_t addr, struct memtop_live_entry *out)
{
	uint32_t n = __atomic_load_n(&seg->live_n, __ATOMIC_ACQUIRE);
	for (uint32_t k = n; k-- > 0;) {
		uint64_t key;
		struct memtop_live_entry *e = live_find_in(seg->live[k], seg->live_cap[k], addr, &key);
		if (!e)
			continue;
		if (out)
			*out = *e;
		/* seq_cst, as the insert: ordered before the hook's claim load (late_attach.c) */
		if (__atomic_compare_exchange_n(&e->key, &key, live_next_key(key, 0, false), false,
						__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			return true;
	}
	return false;
}

void shm_live_restore(struct shm_segment *seg, const struct memtop_live_entry *e)
{
	shm_live_insert(seg, live_addr_of(e->key), e->size, e->stack_id, e->thread_slot,
			e->time_ns, e->flags);
}
