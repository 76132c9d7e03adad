/* Unit tests of stack interning: one id per distinct stack, frames read back exactly, depth 0 is
 * "no stack", a full table (ids or frame arena) yields the overflow id and counts it, threads
 * interning the same stacks concurrently agree on every id, the per-thread memo gives the table's
 * ids (never a colliding entry's, never a parent segment's after a fork), and the stack entries and
 * frame arena are backed in /dev/shm as stacks fill them, neither at creation nor at the first
 * claim. */
#include "shm_test_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

static void make_stack(uint64_t *frames, uint32_t depth, uint64_t seed)
{
	for (uint32_t i = 0; i < depth; i++)
		frames[i] = 0x400000 + seed * 0x1000 + i * 8;
}

static void test_same_and_different(void **state)
{
	struct shm_segment *seg = *state;
	uint64_t a[4], b[4], back[MEMTOP_MAX_DEPTH];
	make_stack(a, 4, 1);
	make_stack(b, 4, 2);
	uint32_t ia = shm_stack_intern(seg, a, 4);
	uint32_t ib = shm_stack_intern(seg, b, 4);
	assert_true(ia != MEMTOP_STACK_NONE && ia != MEMTOP_STACK_OVERFLOW);
	assert_true(ib != MEMTOP_STACK_NONE && ib != MEMTOP_STACK_OVERFLOW);
	assert_int_not_equal(ia, ib);
	assert_int_equal(shm_stack_intern(seg, a, 4), ia);
	assert_int_equal(shm_stack_intern(seg, b, 4), ib);
	/* a prefix is a different stack */
	uint32_t ia3 = shm_stack_intern(seg, a, 3);
	assert_int_not_equal(ia3, ia);
	assert_int_equal(shm_stack_read(seg, ia, back, MEMTOP_MAX_DEPTH), 4);
	assert_memory_equal(back, a, sizeof a);
	assert_int_equal(shm_stack_read(seg, ia3, back, MEMTOP_MAX_DEPTH), 3);
	assert_memory_equal(back, a, 3 * sizeof *a);
	/* a short buffer gets the innermost frames only */
	assert_int_equal(shm_stack_read(seg, ib, back, 2), 2);
	assert_memory_equal(back, b, 2 * sizeof *b);
	assert_int_equal(seg->hdr->stacks_overflow, 0);
}

/* The memo answers what the table answers: stacks that share a memo entry (a memo of 2 entries
 * for 8 stacks), prefixes, and an entry left by another segment (a fork parent: other pid). */
static void test_memo_agrees_with_table(void **state)
{
	struct shm_segment *seg = *state;
	struct shm_stack_memo memo[2] = {{0}};
	uint64_t f[8];
	uint32_t ids[8];
	for (int round = 0; round < 3; round++) {
		for (uint32_t k = 0; k < 8; k++) {
			make_stack(f, 8, k);
			uint32_t id = shm_stack_intern_memo(seg, f, 8 - k % 3, memo, 1);
			assert_true(id != MEMTOP_STACK_NONE && id != MEMTOP_STACK_OVERFLOW);
			assert_int_equal(id, shm_stack_intern(seg, f, 8 - k % 3));
			if (round == 0)
				ids[k] = id;
			assert_int_equal(id, ids[k]);
		}
	}
	/* the same frames in a child's segment: the parent's entry must not answer */
	make_stack(f, 8, 0);
	uint32_t parent_id = shm_stack_intern_memo(seg, f, 8, memo, 1);
	int32_t pid = seg->hdr->pid;
	seg->hdr->pid = pid + 1;
	uint64_t other[8];
	make_stack(other, 8, 1000);
	uint32_t fresh = shm_stack_intern(seg, other, 8);
	/* forge the entry as a parent's whose frames would match at another id */
	for (int e = 0; e < 2; e++)
		if (memo[e].hash && memo[e].id == parent_id)
			memo[e].id = fresh;
	assert_int_equal(shm_stack_intern_memo(seg, f, 8, memo, 1), parent_id);
	seg->hdr->pid = pid;
	assert_int_equal(shm_stack_intern_memo(seg, f, 8, memo, 1), parent_id);
	assert_int_equal(seg->hdr->stacks_overflow, 0);
}

static void test_depth_zero_and_bad_ids(void **state)
{
	struct shm_segment *seg = *state;
	uint64_t f[1] = {42}, back[4];
	assert_int_equal(shm_stack_intern(seg, f, 0), MEMTOP_STACK_NONE);
	assert_int_equal(shm_stack_read(seg, MEMTOP_STACK_NONE, back, 4), -1);
	assert_int_equal(shm_stack_read(seg, MEMTOP_STACK_OVERFLOW, back, 4), -1);
	assert_int_equal(shm_stack_read(seg, seg->stacks_cap, back, 4), -1);
	assert_int_equal(shm_stack_read(seg, 0x7fffffff, back, 4), -1);
}

static void test_deep_stack_truncated(void **state)
{
	struct shm_segment *seg = *state;
	uint64_t deep[MEMTOP_MAX_DEPTH + 10], back[MEMTOP_MAX_DEPTH + 10];
	make_stack(deep, MEMTOP_MAX_DEPTH + 10, 9);
	uint32_t id = shm_stack_intern(seg, deep, MEMTOP_MAX_DEPTH + 10);
	assert_true(id != MEMTOP_STACK_NONE && id != MEMTOP_STACK_OVERFLOW);
	assert_int_equal(shm_stack_read(seg, id, back, MEMTOP_MAX_DEPTH + 10), MEMTOP_MAX_DEPTH);
	assert_memory_equal(back, deep, MEMTOP_MAX_DEPTH * sizeof *deep);
}

/* Ids 1 .. stacks_cap-1 exist; the next distinct stack overflows and is counted, and the stacks
 * already interned keep their ids. */
static void test_table_full_overflows(void **state)
{
	struct shm_segment *seg = *state;
	uint64_t f[2], back[2];
	uint32_t ids[SHM_STACKS_MIN];
	uint32_t usable = seg->stacks_cap - 1;
	for (uint32_t s = 0; s < usable; s++) {
		make_stack(f, 2, s);
		ids[s] = shm_stack_intern(seg, f, 2);
		assert_int_equal(ids[s], s + 1);
	}
	make_stack(f, 2, 1000);
	assert_int_equal(shm_stack_intern(seg, f, 2), MEMTOP_STACK_OVERFLOW);
	assert_int_equal(seg->hdr->stacks_overflow, 1);
	make_stack(f, 2, 1001);
	assert_int_equal(shm_stack_intern(seg, f, 2), MEMTOP_STACK_OVERFLOW);
	assert_int_equal(seg->hdr->stacks_overflow, 2);
	for (uint32_t s = 0; s < usable; s++) {
		make_stack(f, 2, s);
		assert_int_equal(shm_stack_intern(seg, f, 2), ids[s]);
		assert_int_equal(shm_stack_read(seg, ids[s], back, 2), 2);
		assert_memory_equal(back, f, sizeof f);
	}
	assert_int_equal(seg->hdr->stacks_overflow, 2);
}

/* Deep stacks fill the frame arena before the id table: that overflows the same way. */
static void test_frame_arena_full_overflows(void **state)
{
	struct shm_segment *seg = *state;
	uint64_t f[MEMTOP_MAX_DEPTH], back[MEMTOP_MAX_DEPTH];
	uint32_t fitting = seg->frames_cap / MEMTOP_MAX_DEPTH;
	assert_true(fitting < seg->stacks_cap - 1); /* the geometry makes frames the limit */
	uint32_t ids[SHM_STACKS_MIN];
	for (uint32_t s = 0; s < fitting; s++) {
		make_stack(f, MEMTOP_MAX_DEPTH, s);
		ids[s] = shm_stack_intern(seg, f, MEMTOP_MAX_DEPTH);
		assert_true(ids[s] != MEMTOP_STACK_OVERFLOW && ids[s] != MEMTOP_STACK_NONE);
	}
	make_stack(f, MEMTOP_MAX_DEPTH, 500);
	assert_int_equal(shm_stack_intern(seg, f, MEMTOP_MAX_DEPTH), MEMTOP_STACK_OVERFLOW);
	assert_int_equal(seg->hdr->stacks_overflow, 1);
	for (uint32_t s = 0; s < fitting; s++) {
		make_stack(f, MEMTOP_MAX_DEPTH, s);
		assert_int_equal(shm_stack_read(seg, ids[s], back, MEMTOP_MAX_DEPTH), MEMTOP_MAX_DEPTH);
		assert_memory_equal(back, f, sizeof f);
	}
}

/* Bytes of the segment's file backed in /dev/shm (fallocated or written). */
static uint64_t backed_bytes(int fd)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/* Whether MADV_POPULATE_WRITE backs a page of a shared file mapping here (a kernel without it
 * refuses the advice; qemu-user accepts it and does nothing). */
static bool populate_backs_pages(void)
{
	long page = sysconf(_SC_PAGESIZE);
	int fd = memfd_create("populate-probe", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, page), 0);
	void *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	bool backs = madvise(p, (size_t)page, MADV_POPULATE_WRITE) == 0 && backed_bytes(fd) > 0;
	munmap(p, (size_t)page);
	close(fd);
	return backs;
}

/* At MEMTOP_DEPTH=64 the frame arena is 16 MiB of the segment and the stack entries 1 MiB: the
 * target backs each in 256 KiB steps as its stacks reach them, and the first claim backs the stack
 * index and the ring around them. (With a live table the index is backed at creation instead.) */
static void test_stacks_backed_as_they_fill(void **state)
{
	(void)state;
	struct shm_segment seg, mon;
	struct shm_config cfg;
	test_small_config(&cfg);
	cfg.stacks_cap = 1u << 16;
	cfg.max_depth = 64;
	cfg.live_mode = MEMTOP_LIVE_OFF; /* no live table: its chunks would be backed too */
	test_create(&seg, &cfg, getpid());
	const uint64_t arena = (uint64_t)seg.frames_cap * sizeof(uint64_t), step = 256u << 10;
	const uint64_t entries = (uint64_t)seg.stacks_cap * sizeof(struct memtop_stack);
	if (!populate_backs_pages()) {
		/* no MADV_POPULATE_WRITE (an old kernel, qemu-user): backed up front, as before */
		assert_false(seg.hdr->flags & MEMTOP_FLAG_STACKS_LAZY);
		assert_int_equal(seg.stacks_backed, seg.stacks_cap);
		assert_int_equal(seg.frames_backed, seg.frames_cap);
		shm_segment_close(&seg, true);
		return;
	}
	assert_true(seg.hdr->flags & MEMTOP_FLAG_STACKS_LAZY);
	assert_true(arena >= 16u << 20 && entries >= 1u << 20);
	assert_int_equal(seg.stacks_backed, 0);
	assert_int_equal(seg.frames_backed, 0);
	const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	const uint64_t stacks_off = (uint64_t)((char *)seg.stacks - (char *)seg.base);
	/* created: the header, threads and tags */
	assert_true(backed_bytes(seg.fd) <= stacks_off + page);

	/* the first claim backs the stack index and the ring, not the entries nor the arena */
	char err[256];
	assert_int_equal(shm_segment_open(&mon, getpid(), false, err, sizeof err), 0);
	pid_t holder;
	assert_int_equal(shm_consumer_claim(&mon, &holder), 0);
	uint64_t claimed = backed_bytes(seg.fd);
	assert_true(claimed + page >= seg.fixed_size - arena - entries);
	assert_true(claimed <= seg.fixed_size - arena - entries + 2 * page);

	/* 100 stacks of 64 frames (50 KiB of frames): the first step of each */
	uint64_t f[64], back[64];
	for (uint32_t s = 0; s < 100; s++) {
		make_stack(f, 64, s);
		assert_true(shm_stack_intern(&seg, f, 64) < MEMTOP_STACK_SIGNAL);
	}
	assert_int_equal((uint64_t)seg.stacks_backed * sizeof(struct memtop_stack), step);
	assert_int_equal((uint64_t)seg.frames_backed * sizeof(uint64_t), step);
	assert_true(backed_bytes(seg.fd) >= claimed + 2 * step - page);
	/* past the arena's first step: its second, and nothing beyond */
	for (uint32_t s = 100; s < 600; s++) {
		make_stack(f, 64, s);
		assert_true(shm_stack_intern(&seg, f, 64) < MEMTOP_STACK_SIGNAL);
	}
	assert_int_equal((uint64_t)seg.stacks_backed * sizeof(struct memtop_stack), step);
	assert_int_equal((uint64_t)seg.frames_backed * sizeof(uint64_t), 2 * step);
	assert_true(backed_bytes(seg.fd) >= claimed + 3 * step - page);
	assert_true(backed_bytes(seg.fd) <= claimed + 3 * step + 2 * page);
	for (uint32_t s = 0; s < 600; s++) {
		make_stack(f, 64, s);
		uint32_t id = shm_stack_intern(&seg, f, 64);
		assert_int_equal(shm_stack_read(&mon, id, back, 64), 64);
		assert_memory_equal(back, f, sizeof f);
	}
	shm_consumer_release(&mon);
	shm_segment_close(&mon, false);
	shm_segment_close(&seg, true);
}

/* ---- concurrency: 4 threads intern the same 200 stacks in different orders ---- */

#define RACE_THREADS 4
#define RACE_STACKS 200

struct race {
	struct shm_segment *seg;
	unsigned order;
	uint32_t ids[RACE_STACKS];
	bool disagreed;
};

static void *race_thread(void *arg)
{
	struct race *r = arg;
	static const unsigned stride[RACE_THREADS] = {1, 3, 7, 9}; /* coprime with RACE_STACKS */
	uint64_t f[6];
	for (unsigned round = 0; round < 50; round++)
		for (unsigned k = 0; k < RACE_STACKS; k++) {
			unsigned s = (k * stride[r->order] + round) % RACE_STACKS;
			make_stack(f, 6, s);
			uint32_t id = shm_stack_intern(r->seg, f, 6);
			if (round == 0)
				r->ids[s] = id;
			else if (r->ids[s] != id)
				r->disagreed = true; /* one stack, two ids */
		}
	return NULL;
}

static void test_concurrent_interning_agrees(void **state)
{
	(void)state;
	struct shm_segment seg;
	struct shm_config cfg;
	test_small_config(&cfg);
	cfg.stacks_cap = 1024;
	test_unlink_segment(getpid());
	test_create(&seg, &cfg, getpid());
	struct race r[RACE_THREADS];
	pthread_t th[RACE_THREADS];
	for (unsigned t = 0; t < RACE_THREADS; t++) {
		memset(&r[t], 0, sizeof r[t]);
		r[t].seg = &seg;
		r[t].order = t;
		assert_int_equal(pthread_create(&th[t], NULL, race_thread, &r[t]), 0);
	}
	for (unsigned t = 0; t < RACE_THREADS; t++)
		pthread_join(th[t], NULL);
	uint64_t f[6], back[6];
	for (unsigned t = 0; t < RACE_THREADS; t++)
		assert_false(r[t].disagreed);
	for (unsigned s = 0; s < RACE_STACKS; s++) {
		assert_true(r[0].ids[s] != MEMTOP_STACK_NONE && r[0].ids[s] != MEMTOP_STACK_OVERFLOW);
		for (unsigned t = 1; t < RACE_THREADS; t++)
			assert_int_equal(r[t].ids[s], r[0].ids[s]);
		for (unsigned o = 0; o < s; o++)
			assert_int_not_equal(r[0].ids[o], r[0].ids[s]);
		make_stack(f, 6, s);
		assert_int_equal(shm_stack_read(&seg, r[0].ids[s], back, 6), 6);
		assert_memory_equal(back, f, sizeof f);
	}
	assert_int_equal(seg.hdr->stacks_overflow, 0);
	shm_segment_close(&seg, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_and_different, setup_segment, teardown_segment),
		cmocka_unit_test_setup_teardown(test_depth_zero_and_bad_ids, setup_segment, teardown_segment),
		cmocka_unit_test_setup_teardown(test_memo_agrees_with_table, setup_segment, teardown_segment),
		cmocka_unit_test_setup_teardown(test_deep_stack_truncated, setup_segment, teardown_segment),
		cmocka_unit_test_setup_teardown(test_table_full_overflows, setup_segment, teardown_segment),
		cmocka_unit_test_setup_teardown(test_frame_arena_full_overflows, setup_segment,
						teardown_segment),
		cmocka_unit_test(test_concurrent_interning_agrees),
		cmocka_unit_test(test_stacks_backed_as_they_fill),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	test_unlink_segment(getpid());
	return failed;
}
