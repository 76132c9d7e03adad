/* Unit tests of the ring's lanes in one process (this process is both target and monitor): which
 * lane an address goes to, independent lanes (a full one does not stop the others), per-lane order
 * through pops, tags as barriers (once, after everything pushed before them in any lane, also when
 * a lane's copy is late, dropped or never committed), and split realloc flags. */
#include "shm_test_util.h"

#include <pthread.h>

#define REGION(i) (0x7f0000000000ull + ((uint64_t)(i) << SHM_LANE_REGION_SHIFT))

static int setup_lanes(void **state)
{
	struct shm_segment *seg = calloc(1, sizeof *seg);
	struct shm_config cfg;
	test_small_config(&cfg);
	cfg.ring_cap = 256;
	cfg.lanes = 4;
	test_create(seg, &cfg, getpid());
	pid_t holder = 0;
	assert_int_equal(shm_consumer_claim(seg, &holder), 0);
	*state = seg;
	return 0;
}

static void push_ok(struct shm_segment *seg, uint8_t type, uint64_t addr, uint64_t size)
{
	struct memtop_event ev = test_event(type, addr, size);
	assert_int_equal(shm_ring_push(seg, &ev), SHM_PUSHED);
}

static size_t pop(struct shm_segment *seg, struct memtop_event *out, size_t max,
		  enum shm_pop_status *st)
{
	size_t n = 0;
	*st = shm_ring_pop(seg, out, max, &n);
	return n;
}

static void test_geometry(void **state)
{
	struct shm_segment *seg = *state;
	assert_int_equal(seg->lanes, 4);
	assert_int_equal(seg->lane_cap, 64);
	assert_int_equal(seg->hdr->ring_lanes, 4);
	assert_int_equal(seg->hdr->lane_cap, 64);
	/* too small a ring for the lanes asked: fewer lanes, each at least SHM_LANE_MIN_CAP */
	struct shm_config cfg;
	struct shm_segment small;
	test_small_config(&cfg);
	cfg.lanes = 16;
	test_create(&small, &cfg, getpid() + 1000000);
	assert_int_equal(small.lanes, SHM_RING_MIN / SHM_LANE_MIN_CAP);
	shm_segment_close(&small, true);
}

/* Regions get lanes in turn as first used; an address keeps its region's lane, from any thread. */
static void *lane_from_other_thread(void *arg)
{
	struct shm_segment *seg = arg;
	return (void *)(uintptr_t)shm_lane_of(seg, REGION(2) + 12345);
}

static void test_lane_of_regions(void **state)
{
	struct shm_segment *seg = *state;
	uint32_t first[4];
	for (int i = 0; i < 4; i++)
		first[i] = shm_lane_of(seg, REGION(i) + 64);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < i; j++)
			assert_int_not_equal(first[i], first[j]); /* four regions, four lanes */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(shm_lane_of(seg, REGION(i)), first[i]);
		assert_int_equal(shm_lane_of(seg, REGION(i + 1) - 1), first[i]);
	}
	assert_int_equal(shm_lane_of(seg, REGION(4)), first[0]); /* round-robin */
	pthread_t th;
	void *other;
	assert_int_equal(pthread_create(&th, NULL, lane_from_other_thread, seg), 0);
	assert_int_equal(pthread_join(th, &other), 0);
	assert_int_equal((uintptr_t)other, first[2]);

	struct memtop_event ev = test_event(MEMTOP_EV_REALLOC_END, REGION(1), 8);
	ev.aux = REGION(3);
	assert_int_equal(shm_event_lane(seg, &ev), first[1]); /* the new block's lane */
	ev.addr = 0;
	assert_int_equal(shm_event_lane(seg, &ev), first[3]); /* no new block: the old one's */
	ev = test_event(MEMTOP_EV_THREAD_NAME, 0, 0);
	ev.thread_slot = 6;
	assert_int_equal(shm_event_lane(seg, &ev), 6 & 3);
}

/* Events of each address come out in the order pushed; every event comes out once. */
static void test_per_lane_order(void **state)
{
	struct shm_segment *seg = *state;
	const unsigned rounds = 500; /* several laps of every lane */
	struct memtop_event out[40];
	uint64_t next[4] = {0, 0, 0, 0}, got = 0;
	for (unsigned r = 0; r < rounds; r++) {
		for (int i = 0; i < 4; i++)
			push_ok(seg, MEMTOP_EV_MALLOC, REGION(i), r);
		enum shm_pop_status st;
		size_t n = pop(seg, out, r % 2 ? 40 : 3, &st);
		for (size_t k = 0; k < n; k++, got++) {
			int i = (int)((out[k].addr - REGION(0)) >> SHM_LANE_REGION_SHIFT);
			assert_in_range(i, 0, 3);
			assert_int_equal(out[k].size, next[i]++);
		}
	}
	for (;;) {
		enum shm_pop_status st;
		size_t n = pop(seg, out, 40, &st);
		if (!n) {
			assert_int_equal(st, SHM_POP_EMPTY);
			break;
		}
		for (size_t k = 0; k < n; k++, got++) {
			int i = (int)((out[k].addr - REGION(0)) >> SHM_LANE_REGION_SHIFT);
			assert_int_equal(out[k].size, next[i]++);
		}
	}
	assert_int_equal(got, 4ull * rounds);
}

/* A full lane waits and drops; the other lanes still take events at once. */
static void test_full_lane_leaves_others(void **state)
{
	struct shm_segment *seg = *state;
	uint32_t full = shm_lane_of(seg, REGION(0));
	for (uint32_t i = 0; i < seg->lane_cap; i++)
		push_ok(seg, MEMTOP_EV_MALLOC, REGION(0), i);
	struct memtop_event ev = test_event(MEMTOP_EV_MALLOC, REGION(0), 0);
	uint64_t t0 = test_mono_ms();
	assert_int_equal(shm_ring_push(seg, &ev), SHM_DROPPED);
	assert_true(test_mono_ms() - t0 >= seg->block_ms - 5);
	assert_int_equal(seg->lane[full].dropping, 1);
	t0 = test_mono_ms();
	push_ok(seg, MEMTOP_EV_MALLOC, REGION(1), 7);
	assert_in_range(test_mono_ms() - t0, 0, 20);
	assert_int_equal(seg->hdr->lanes[full].head, seg->lane_cap);
}

/* A tag comes out once, after every event pushed before it in any lane, before every later one. */
static void test_tag_is_a_barrier(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event out[64];
	for (int i = 0; i < 3; i++)
		push_ok(seg, MEMTOP_EV_MALLOC, REGION(i), 1);
	push_ok(seg, MEMTOP_EV_TAG, 0, 0);
	for (int i = 0; i < 4; i++)
		push_ok(seg, MEMTOP_EV_FREE, REGION(i), 2);
	enum shm_pop_status st;
	size_t n = pop(seg, out, 64, &st), tag_at = 99;
	assert_int_equal(n, 3 + 1 + 4);
	for (size_t k = 0; k < n; k++) {
		if (out[k].type == MEMTOP_EV_TAG) {
			assert_int_equal(tag_at, 99); /* once */
			tag_at = k;
			assert_int_equal(out[k].flags & MEMTOP_EVF_BARRIER, 0);
			assert_int_equal(out[k].link, 0);
		} else {
			assert_int_equal(out[k].size, tag_at == 99 ? 1 : 2);
		}
	}
	assert_int_equal(tag_at, 3);
	assert_int_equal(pop(seg, out, 64, &st), 0);
	assert_int_equal(st, SHM_POP_EMPTY);
}

/* A lane with an earlier ticket still uncommitted holds the tag back (PENDING) while the other
 * lanes drain up to their copies; committing it lets the tag and what follows come out. */
static void test_tag_waits_for_a_late_lane(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event out[64];
	uint32_t late = shm_lane_of(seg, REGION(1));
	uint64_t ticket;
	assert_true(shm_ring_reserve(seg, late, &ticket));
	push_ok(seg, MEMTOP_EV_MALLOC, REGION(0), 1);
	push_ok(seg, MEMTOP_EV_TAG, 0, 0);
	push_ok(seg, MEMTOP_EV_MALLOC, REGION(2), 2);
	enum shm_pop_status st;
	size_t n = pop(seg, out, 64, &st);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].size, 1);
	assert_int_equal(pop(seg, out, 64, &st), 0);
	assert_int_equal(st, SHM_POP_PENDING);
	struct memtop_event ev = test_event(MEMTOP_EV_MALLOC, REGION(1), 1);
	shm_ring_commit(seg, late, ticket, &ev);
	n = pop(seg, out, 64, &st);
	assert_int_equal(n, 3);
	assert_int_equal(out[0].addr, REGION(1));
	assert_int_equal(out[1].type, MEMTOP_EV_TAG);
	assert_int_equal(out[2].size, 2);
}

/* A barrier whose lane stays full past the bound is dropped: no TAG and no PAD comes out, and the
 * lanes go on. */
static void test_dropped_barrier_leaves_no_trace(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event out[256];
	uint32_t full = shm_lane_of(seg, REGION(3));
	for (uint32_t i = 0; i < seg->lane_cap; i++)
		push_ok(seg, MEMTOP_EV_MALLOC, REGION(3), i);
	struct memtop_event tag = test_event(MEMTOP_EV_TAG, 0, 0);
	assert_int_equal(shm_ring_push(seg, &tag), SHM_DROPPED);
	push_ok(seg, MEMTOP_EV_MALLOC, REGION(0) + 16, 5);
	enum shm_pop_status st;
	size_t n = pop(seg, out, 256, &st);
	assert_int_equal(n, seg->lane_cap + 1);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(out[k].type, MEMTOP_EV_MALLOC);
	(void)full;
	assert_int_equal(pop(seg, out, 256, &st), 0);
	assert_int_equal(st, SHM_POP_EMPTY);
}

/* Lanes parked at a barrier whose other copy was never committed (the target died mid-push): once
 * the abandoned ticket is skipped, skip releases the parked lanes; nothing is lost after them. */
static void test_skip_releases_a_broken_barrier(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event out[64];
	struct memtop_event copy = test_event(MEMTOP_EV_TAG, 0, 0);
	copy.flags = MEMTOP_EVF_BARRIER;
	copy.link = 77;
	uint64_t t[4];
	for (uint32_t k = 0; k < 4; k++)
		assert_true(shm_ring_reserve(seg, k, &t[k]));
	for (uint32_t k = 0; k < 3; k++) /* lane 3's copy never comes */
		shm_ring_commit(seg, k, t[k], &copy);
	uint32_t after = shm_lane_of(seg, REGION(0));
	push_ok(seg, MEMTOP_EV_MALLOC, REGION(0), 9);
	enum shm_pop_status st;
	assert_int_equal(pop(seg, out, 64, &st), 0);
	assert_int_equal(st, SHM_POP_PENDING);
	shm_ring_skip(seg); /* lane 3's abandoned tickets, one a skip (a reservation holds two) */
	assert_int_equal(pop(seg, out, 64, &st), 0);
	assert_int_equal(st, SHM_POP_PENDING);
	shm_ring_skip(seg);
	assert_int_equal(pop(seg, out, 64, &st), 0);
	assert_int_equal(st, SHM_POP_PENDING);
	shm_ring_skip(seg); /* the barrier that cannot complete */
	size_t n = pop(seg, out, 64, &st);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].size, 9);
	assert_true(after < 4);
}

/* A consumer that died while stepping the lanes past a released barrier left some lanes at their
 * copies: the next consumer knows them stale (barrier_released) and does not emit the tag again. */
static void test_half_released_barrier_is_stale(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event out[64];
	push_ok(seg, MEMTOP_EV_TAG, 0, 0);
	/* the dead consumer: published the number, stepped lanes 0 and 1 only */
	seg->hdr->barrier_released = 1;
	seg->hdr->lanes[0].tail = 1;
	seg->hdr->lanes[1].tail = 1;
	shm_consumer_release(seg);
	seg->hdr->lanes[0].tail = 1; /* release published our own (zero) tails */
	seg->hdr->lanes[1].tail = 1;
	seg->hdr->lanes[2].tail = 0;
	seg->hdr->lanes[3].tail = 0;
	struct shm_segment next;
	char err[256];
	pid_t holder;
	assert_int_equal(shm_segment_open(&next, getpid(), false, err, sizeof err), 0);
	assert_int_equal(shm_consumer_claim(&next, &holder), 0);
	push_ok(seg, MEMTOP_EV_MALLOC, REGION(0), 3);
	enum shm_pop_status st;
	size_t n = pop(&next, out, 64, &st);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].type, MEMTOP_EV_MALLOC);
	assert_int_equal(pop(&next, out, 64, &st), 0);
	assert_int_equal(st, SHM_POP_EMPTY);
	shm_segment_close(&next, false);
}

/* Lanes parked at copies of two barriers (the older one's other copies are gone): the older copies
 * are stale, and the newer barrier comes out once. */
static void test_older_copies_are_stale(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event out[64];
	push_ok(seg, MEMTOP_EV_TAG, 0, 0);
	seg->hdr->lanes[0].tail = seg->lane[0].tail = 1; /* lanes 0 and 1 lost their first copy */
	seg->hdr->lanes[1].tail = seg->lane[1].tail = 1;
	struct memtop_event tag = test_event(MEMTOP_EV_TAG, 0, 0);
	tag.aux = 5;
	assert_int_equal(shm_ring_push(seg, &tag), SHM_PUSHED);
	enum shm_pop_status st;
	size_t n = pop(seg, out, 64, &st);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].type, MEMTOP_EV_TAG);
	assert_int_equal(out[0].aux, 5);
	assert_int_equal(pop(seg, out, 64, &st), 0);
	assert_int_equal(st, SHM_POP_EMPTY);
}

/* A barrier waits block_ms in all, not block_ms per full lane. */
static void test_barrier_waits_once(void **state)
{
	struct shm_segment *seg = *state;
	for (int r = 1; r < 4; r++)
		for (uint32_t i = 0; i < seg->lane_cap; i++)
			push_ok(seg, MEMTOP_EV_MALLOC, REGION(r), i);
	struct memtop_event tag = test_event(MEMTOP_EV_TAG, 0, 0);
	uint64_t t0 = test_mono_ms();
	assert_int_equal(shm_ring_push(seg, &tag), SHM_DROPPED);
	uint64_t waited = test_mono_ms() - t0;
	assert_in_range(waited, seg->block_ms - 5, 2 * seg->block_ms - 10);
}

/* A new consumer resumes every lane where the previous one published its tail. */
static void test_takeover_resumes_each_lane(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event out[64];
	for (int i = 0; i < 4; i++)
		for (int j = 0; j <= i; j++)
			push_ok(seg, MEMTOP_EV_MALLOC, REGION(i), (uint64_t)j);
	enum shm_pop_status st;
	assert_int_equal(pop(seg, out, 3, &st), 3);
	shm_consumer_release(seg);
	struct shm_segment next;
	char err[256];
	assert_int_equal(shm_segment_open(&next, getpid(), false, err, sizeof err), 0);
	pid_t holder;
	assert_int_equal(shm_consumer_claim(&next, &holder), 0);
	size_t n = pop(&next, out, 64, &st);
	assert_int_equal(n, 10 - 3);
	for (uint32_t k = 0; k < 4; k++)
		assert_int_equal(next.hdr->lanes[k].attach_ticket, next.hdr->lanes[k].head);
	shm_segment_close(&next, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_geometry, setup_lanes, teardown_segment),
		cmocka_unit_test_setup_teardown(test_lane_of_regions, setup_lanes, teardown_segment),
		cmocka_unit_test_setup_teardown(test_per_lane_order, setup_lanes, teardown_segment),
		cmocka_unit_test_setup_teardown(test_full_lane_leaves_others, setup_lanes, teardown_segment),
		cmocka_unit_test_setup_teardown(test_tag_is_a_barrier, setup_lanes, teardown_segment),
		cmocka_unit_test_setup_teardown(test_tag_waits_for_a_late_lane, setup_lanes, teardown_segment),
		cmocka_unit_test_setup_teardown(test_dropped_barrier_leaves_no_trace, setup_lanes,
						teardown_segment),
		cmocka_unit_test_setup_teardown(test_skip_releases_a_broken_barrier, setup_lanes,
						teardown_segment),
		cmocka_unit_test_setup_teardown(test_takeover_resumes_each_lane, setup_lanes,
						teardown_segment),
		cmocka_unit_test_setup_teardown(test_half_released_barrier_is_stale, setup_lanes,
						teardown_segment),
		cmocka_unit_test_setup_teardown(test_older_copies_are_stale, setup_lanes, teardown_segment),
		cmocka_unit_test_setup_teardown(test_barrier_waits_once, setup_lanes, teardown_segment),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	test_unlink_segment(getpid());
	return failed;
}
