/* Unit tests of the consumer's pacing (shm/ring_pace.c), which the monitor's ingest loop and the
 * ring benchmark share: a full batch pops again at once; a short one naps, longer while rounds stay
 * small (up to 1 ms) and shorter when they bring more than a quarter of a lane; an empty ring backs
 * off up to a few ms and data resets the backoff; a pending ticket retries after 50 us. */
#include "shm_test_util.h"

enum { MAX = 1024, LANE_CAP = 16384 };

static struct shm_segment geometry(void)
{
	struct shm_segment seg;
	memset(&seg, 0, sizeof seg);
	seg.lane_cap = LANE_CAP;
	return seg;
}

static void test_full_batch_pops_again(void **state)
{
	(void)state;
	struct shm_segment seg = geometry();
	struct shm_pace p;
	shm_pace_init(&p);
	for (int i = 0; i < 100; i++)
		assert_int_equal(shm_pace_after_pop(&p, &seg, MAX, MAX, SHM_POP_OK), 0);
	/* a quarter of the batch is not short */
	assert_int_equal(shm_pace_after_pop(&p, &seg, MAX / 4, MAX, SHM_POP_OK), 0);
}

static void test_short_batches_nap_longer_then_shorter(void **state)
{
	(void)state;
	struct shm_segment seg = geometry();
	struct shm_pace p;
	shm_pace_init(&p);
	/* rounds of 10 events, far below an eighth of a lane: 100, 200, ... up to 1000 us */
	unsigned last = 0;
	for (int i = 0; i < 10; i++) {
		unsigned nap = shm_pace_after_pop(&p, &seg, 10, MAX, SHM_POP_OK);
		assert_true(nap >= last);
		assert_true(nap <= 1000);
		last = nap;
	}
	assert_int_equal(last, 1000);
	/* a round that brought more than a quarter of a lane (full batches, then a short one) */
	for (int i = 0; i < LANE_CAP / 4 / MAX + 1; i++)
		assert_int_equal(shm_pace_after_pop(&p, &seg, MAX, MAX, SHM_POP_OK), 0);
	assert_int_equal(shm_pace_after_pop(&p, &seg, 10, MAX, SHM_POP_OK), 500);
	/* never below 50 us */
	for (int r = 0; r < 10; r++) {
		for (int i = 0; i < LANE_CAP / 4 / MAX + 1; i++)
			shm_pace_after_pop(&p, &seg, MAX, MAX, SHM_POP_OK);
		assert_true(shm_pace_after_pop(&p, &seg, 10, MAX, SHM_POP_OK) >= 50);
	}
	assert_int_equal(p.nap_us, 50);
}

static void test_empty_ring_backs_off_and_data_resets(void **state)
{
	(void)state;
	struct shm_segment seg = geometry();
	struct shm_pace p;
	shm_pace_init(&p);
	unsigned naps[8];
	for (int i = 0; i < 8; i++)
		naps[i] = shm_pace_after_pop(&p, &seg, 0, MAX, SHM_POP_EMPTY);
	assert_int_equal(naps[0], 50);
	assert_int_equal(naps[1], 100);
	for (int i = 1; i < 8; i++)
		assert_true(naps[i] >= naps[i - 1] && naps[i] <= 4000);
	assert_int_equal(naps[7], naps[6]); /* capped */
	/* a pending ticket: its producer is about to commit */
	assert_int_equal(shm_pace_after_pop(&p, &seg, 0, MAX, SHM_POP_PENDING), 50);
	/* data: the next empty poll starts from the shortest backoff again */
	shm_pace_after_pop(&p, &seg, MAX, MAX, SHM_POP_OK);
	assert_int_equal(shm_pace_after_pop(&p, &seg, 0, MAX, SHM_POP_EMPTY), 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_batch_pops_again),
		cmocka_unit_test(test_short_batches_nap_longer_then_shorter),
		cmocka_unit_test(test_empty_ring_backs_off_and_data_resets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
