/* TARGET side: create and initialise /memtop.<pid>; either side: close. Creation is allocation-free
 * (it runs in the preload's constructor and in fork's child handler) and never leaves a half-made
 * segment that a monitor could take as ready: MEMTOP_FLAG_READY is published last. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "livetable.h"

#define SEG_ALIGN 64u

void shm_config_defaults(struct shm_config *cfg)
{
	cfg->ring_cap = SHM_RING_DEFAULT;
	cfg->stacks_cap = SHM_STACKS_DEFAULT;
	cfg->threads = SHM_THREADS_DEFAULT;
	cfg->max_depth = 16;
	cfg->block_ms = SHM_BLOCK_MS_DEFAULT;
	cfg->lanes = 0;
	cfg->live_mode = MEMTOP_LIVE_OFF;
	cfg->live_sample_bytes = 0;
	cfg->tree_root = 0;
	cfg->waiting = false;
}

static uint32_t round_pow2(uint32_t v)
{
	uint32_t p = 1;
	while (p < v && p < (1u << 31))
		p <<= 1;
	return p;
}

static uint64_t align_up(uint64_t v)
{
	return (v + SEG_ALIGN - 1) & ~(uint64_t)(SEG_ALIGN - 1);
}

/* Lanes: one per CPU that can run a producer at once (two threads on different lanes never share
 * a ticket counter), at least 4 so that a few busy threads rarely meet, at most MEMTOP_LANES_MAX,
 * and each lane at least SHM_LANE_MIN_CAP records. */
static uint32_t lane_count(uint32_t asked, uint32_t ring_cap)
{
	if (asked == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		asked = cpus > 4 ? (uint32_t)cpus : 4;
	}
	uint32_t lanes = round_pow2(asked);
	if (lanes > MEMTOP_LANES_MAX)
		lanes = MEMTOP_LANES_MAX;
	while (lanes > 1 && ring_cap / lanes < SHM_LANE_MIN_CAP)
		lanes /= 2;
	return lanes;
}

/* Lays out the regions after the header; returns the total size. The regions a target writes with
 * no consumer (header, threads, tags) come first, those only written while a consumer holds the
 * claim (stacks, index, frames, ring) after them from stacks_off on: creation backs only the first
 * part, the first consumer backs the second (shm_consumer_claim). */
static uint64_t layout(struct memtop_seg_header *h, const struct shm_config *cfg)
{
	uint64_t off = align_up(sizeof *h);
	h->threads_count = cfg->threads < 2 ? 2 : cfg->threads;
	h->thread_slot_size = sizeof(struct memtop_thread_slot);
	h->threads_off = off;
	off = align_up(off + (uint64_t)h->threads_count * h->thread_slot_size);
	h->tags_cap = SHM_TAGS_DEFAULT;
	h->tags_off = off;
	off = align_up(off + (uint64_t)h->tags_cap * sizeof(struct memtop_tag));
	h->stacks_cap = cfg->stacks_cap;
	h->stacks_off = off;
	off = align_up(off + (uint64_t)h->stacks_cap * sizeof(struct memtop_stack));
	h->stack_index_cap = round_pow2(cfg->stacks_cap * 2);
	h->stack_index_off = off;
	off = align_up(off + (uint64_t)h->stack_index_cap * sizeof(uint32_t));
	uint32_t depth = cfg->max_depth ? cfg->max_depth : 1;
	h->frames_cap = cfg->stacks_cap * (depth > 2 ? depth / 2 : 1) + MEMTOP_MAX_DEPTH;
	h->frames_off = off;
	off = align_up(off + (uint64_t)h->frames_cap * sizeof(uint64_t));
	h->ring_cap = round_pow2(cfg->ring_cap);
	h->ring_lanes = lane_count(cfg->lanes, h->ring_cap);
	h->lane_cap = h->ring_cap / h->ring_lanes;
	h->record_size = sizeof(struct memtop_record);
	h->ring_off = off;
	off = align_up(off + (uint64_t)h->ring_cap * h->record_size);
	return (off + 4095) & ~4095ull;
}

/* Whether pages of the segment can be backed on request (MADV_POPULATE_WRITE, Linux 5.14): then
 * the stack entries and the frame arena (1 MiB and 16 MiB of the 22 at MEMTOP_DEPTH=64, most of
 * them never used) are backed as stacks fill them instead of at the start. Tried on the header's
 * page, which is backed anyway, and the file must then hold a block: qemu-user answers the advice
 * with success and does nothing. */
static bool stacks_lazy_works(int fd, void *base)
{
	long page = sysconf(_SC_PAGESIZE);
	int saved = errno;
	struct stat st;
	bool ok = page > 0 && madvise(base, (size_t)page, MADV_POPULATE_WRITE) == 0 &&
		  fstat(fd, &st) == 0 && st.st_blocks > 0;
	errno = saved;
	return ok;
}

static void header_identity(struct memtop_seg_header *h, pid_t pid)
{
	h->magic = MEMTOP_SEG_MAGIC;
	h->abi_version = MEMTOP_ABI_VERSION;
	h->header_size = sizeof *h;
	h->pid = pid;
	h->uid = geteuid();
	h->start_time = shm_proc_start_time(pid);
	h->created_realtime_ns = shm_clock_ns(CLOCK_REALTIME);
	h->created_monotonic_ns = shm_now_ns();
	ssize_t n = readlink("/proc/self/exe", h->exe, sizeof h->exe - 1);
	h->exe[n > 0 ? n : 0] = '\0';
}

/* Geometry copies and region pointers, shared by create and open. The geometry comes from h: the
 * header itself at creation, the copy that was validated when opening (a target may rewrite its
 * header between our validation and this read). */
void shm_segment_bind(struct shm_segment *seg, void *base, size_t size,
		      const struct memtop_seg_header *h)
{
	char *b = base;
	seg->base = base;
	seg->size = size;
	seg->fixed_size = h->segment_size;
	seg->live_mode = h->live_mode;
	seg->live_n = 0;
	memset(seg->live, 0, sizeof seg->live);
	seg->hdr = base;
	seg->threads_count = h->threads_count;
	seg->stacks_cap = h->stacks_cap;
	seg->stack_index_cap = h->stack_index_cap;
	seg->frames_cap = h->frames_cap;
	seg->ring_cap = h->ring_cap;
	seg->tags_cap = h->tags_cap;
	seg->max_depth = h->max_depth;
	seg->block_ms = h->block_ms;
	seg->lanes = h->ring_lanes;
	seg->lane_cap = h->lane_cap;
	seg->threads = (struct memtop_thread_slot *)(b + h->threads_off);
	seg->stacks = (struct memtop_stack *)(b + h->stacks_off);
	seg->stack_index = (uint32_t *)(b + h->stack_index_off);
	seg->frames = (uint64_t *)(b + h->frames_off);
	seg->ring = (struct memtop_record *)(b + h->ring_off);
	seg->tags = (struct memtop_tag *)(b + h->tags_off);
	seg->stacks_backed = seg->stacks_cap;
	seg->frames_backed = seg->frames_cap;
	static uint64_t bindings;
	seg->epoch = __atomic_add_fetch(&bindings, 1, __ATOMIC_RELAXED);
	seg->pop_first = 0;
	seg->pending_check_ns = 0;
	seg->heads_read_ns = 0;
	seg->heads_reads = 0;
	seg->lane_next = 0;
	seg->barrier_lock = 0;
	seg->barrier_seq = 0;
	memset(seg->lane_map, 0, sizeof seg->lane_map);
	memset(seg->lane, 0, sizeof seg->lane);
}

/* A segment with our name may be left by an earlier process that had this pid: remove it if stale. */
static int open_exclusive(const char *name, pid_t pid)
{
	int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
	if (fd >= 0 || errno != EEXIST)
		return fd;
	/* O_NONBLOCK: a fifo squatting on our name must not hang the target's constructor. */
	int old = shm_open(name, O_RDONLY | O_NONBLOCK, 0);
	if (old >= 0) {
		struct memtop_seg_header h;
		ssize_t n = pread(old, &h, sizeof h, 0);
		close(old);
		if (n == (ssize_t)sizeof h && h.pid == pid && h.start_time == shm_proc_start_time(pid)) {
			errno = EEXIST;
			return -1;
		}
	}
	shm_unlink(name);
	return shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
}

/* TARGET side, after exec: the segment under our name is the one this process made before exec
 * (same pid, same start time). Mark it EXECED so its consumer knows to follow us to the new one,
 * and unlink it. Returns true when a live consumer held it. */
bool shm_segment_retire_exec(pid_t pid)
{
	char name[64];
	bool had_consumer = false;
	shm_segment_name(pid, name, sizeof name);
	int fd = shm_open(name, O_RDWR | O_NONBLOCK, 0);
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	    (uint64_t)st.st_size >= sizeof(struct memtop_seg_header)) {
		struct shm_segment old;
		void *base = mmap(NULL, sizeof(struct memtop_seg_header), PROT_READ | PROT_WRITE,
				  MAP_SHARED, fd, 0);
		if (base != MAP_FAILED) {
			memset(&old, 0, sizeof old);
			old.hdr = base;
			struct memtop_seg_header *h = base;
			if (h->magic == MEMTOP_SEG_MAGIC && h->pid == pid &&
			    h->start_time == shm_proc_start_time(pid)) {
				had_consumer = shm_consumer_alive(&old);
				__atomic_or_fetch(&h->flags, MEMTOP_FLAG_EXECED, __ATOMIC_RELEASE);
			}
			munmap(base, sizeof(struct memtop_seg_header));
		}
	}
	if (fd >= 0)
		close(fd);
	shm_unlink(name);
	return had_consumer;
}

int shm_segment_create(struct shm_segment *seg, const struct shm_config *cfg, pid_t pid,
		       char *err, size_t errlen)
{
	char name[64];
	struct memtop_seg_header geometry;
	memset(&geometry, 0, sizeof geometry);
	uint64_t size = layout(&geometry, cfg);
	shm_segment_name(pid, name, sizeof name);

	int fd = open_exclusive(name, pid);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot create shared memory segment %s: %s", name, strerror(e));
		return -e;
	}
	/* posix_fallocate backs the pages this process writes without a consumer (header, threads,
	 * tags), so a full /dev/shm fails here instead of raising SIGBUS in some allocation later. The
	 * rest (about 10 MB by default, most of the cost of starting a process) stays a hole until a
	 * consumer claims the segment and backs it; processes nobody watches never pay for it. */
	/* With a live table the stack table is written without a consumer too (stacks of recorded
	 * blocks): backed now as well (where the kernel can, its index only: its entries and frames
	 * as they fill). No room for it: no table (counters only), rather than no tracing at all;
	 * the caller sees it in seg->live_mode. */
	uint32_t live_mode = cfg->live_mode;
	int rc = ftruncate(fd, (off_t)size) ? errno : 0;
	void *base = MAP_FAILED;
	if (rc == 0) {
		base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (base == MAP_FAILED)
			rc = errno;
	}
	bool lazy = rc == 0 && stacks_lazy_works(fd, base);
	if (rc == 0)
		rc = posix_fallocate(fd, 0, (off_t)geometry.stacks_off);
	if (rc == 0 && live_mode != MEMTOP_LIVE_OFF) {
		uint64_t from = lazy ? geometry.stack_index_off : geometry.stacks_off;
		uint64_t to = lazy ? geometry.frames_off : geometry.ring_off;
		if (posix_fallocate(fd, (off_t)from, (off_t)(to - from)) != 0)
			live_mode = MEMTOP_LIVE_OFF;
	}
	if (rc) {
		snprintf(err, errlen, "cannot size shared memory segment %s (%lu KiB): %s", name,
			 (unsigned long)(size >> 10), strerror(rc));
		if (base != MAP_FAILED)
			munmap(base, size);
		close(fd);
		shm_unlink(name);
		return -rc;
	}

	struct memtop_seg_header *h = base;
	memcpy(h, &geometry, sizeof geometry);
	header_identity(h, pid);
	h->segment_size = size;
	h->max_depth = cfg->max_depth;
	h->block_ms = cfg->block_ms;
	h->stacks_used = 1; /* id 0 means "no stack" */
	shm_segment_bind(seg, base, size, base);
	seg->fd = fd;
	seg->pid = pid;
	struct memtop_thread_slot *overflow = &seg->threads[seg->threads_count - 1];
	overflow->state = MEMTOP_SLOT_LIVE;
	memcpy(overflow->name, "(overflow)", 11);
	if (shm_live_init(seg, live_mode, cfg->live_sample_bytes) != 0)
		shm_live_init(seg, MEMTOP_LIVE_OFF, 0); /* no room for its first chunk: counters only */
	uint32_t flags = MEMTOP_FLAG_READY | (cfg->waiting ? MEMTOP_FLAG_WAITING : 0);
	if (lazy) {
		seg->stacks_backed = 0;
		seg->frames_backed = 0;
		flags |= MEMTOP_FLAG_STACKS_LAZY;
	}
	if (cfg->tree_root > 0) {
		/* before READY: a monitor following the tree never sees the segment unmarked */
		h->tree_root = cfg->tree_root;
		flags |= MEMTOP_FLAG_TREE;
	}
	__atomic_store_n(&h->flags, flags, __ATOMIC_RELEASE);
	return 0;
}

void shm_segment_close(struct shm_segment *seg, bool unlink_name)
{
	if (unlink_name) {
		char name[64];
		shm_segment_name(seg->pid, name, sizeof name);
		shm_unlink(name);
	}
	shm_live_unmap(seg);
	if (seg->base && seg->base != MAP_FAILED)
		munmap(seg->base, seg->size);
	if (seg->fd >= 0)
		close(seg->fd);
	seg->base = NULL;
	seg->hdr = NULL;
	seg->fd = -1;
}
