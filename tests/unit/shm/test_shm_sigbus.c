/* Unit test of the SIGBUS guard: the target shrinks its segment file under the monitor's mapping;
 * every MONITOR read reports the fault instead of crashing. In its own executable because cmocka
 * swaps the SIGBUS handler around each test and the guard installs its handler once per process. */
#include "shm_test_util.h"

#include <signal.h>

static void test_truncate_under_monitor(void **state)
{
	(void)state;
	struct shm_segment target, monitor;
	char err[256] = "";
	struct shm_config cfg;
	test_small_config(&cfg);
	cfg.threads = 64; /* the thread table reaches past the first page */
	test_create(&target, &cfg, getpid());
	if (shm_segment_open(&monitor, getpid(), false, err, sizeof err))
		fail_msg("open: %s", err);
	pid_t holder = 0;
	assert_int_equal(shm_consumer_claim(&monitor, &holder), 0);
	struct memtop_event ev = test_event(MEMTOP_EV_MALLOC, 0x1000, 32);
	for (int i = 0; i < 10; i++)
		assert_int_equal(shm_ring_push(&target, &ev), SHM_PUSHED);
	uint64_t frames[3] = {1, 2, 3};
	uint32_t sid = shm_stack_intern(&target, frames, 3);
	assert_true(sid != MEMTOP_STACK_NONE && sid != MEMTOP_STACK_OVERFLOW);

	assert_int_equal(ftruncate(target.fd, 4096), 0);

	struct memtop_event out[16];
	size_t n = 99;
	assert_int_equal(shm_ring_pop(&monitor, out, 16, &n), SHM_POP_BUS);
	assert_int_equal(n, 0);
	struct memtop_counters c;
	assert_int_equal(shm_totals(&monitor, &c), -1);
	struct memtop_thread_slot slot;
	assert_int_equal(shm_thread_read(&monitor, cfg.threads - 1, &slot), -1);
	uint64_t back[8];
	assert_int_equal(shm_stack_read(&monitor, sid, back, 8), -1);
	struct memtop_tag tag;
	assert_int_equal(shm_tag_read(&monitor, 1, &tag), -1);
	assert_int_equal(shm_consumer_heartbeat(&monitor), 0); /* the header page is still there */
	struct memtop_seg_header h;
	assert_int_equal(shm_header_read(&monitor, &h), 0);

	assert_int_equal(ftruncate(target.fd, 0), 0);
	assert_int_equal(shm_header_read(&monitor, &h), -1);
	assert_int_equal(shm_consumer_heartbeat(&monitor), -1);
	shm_consumer_release(&monitor); /* must not crash either */
	/* the guard stays usable after faults */
	assert_int_equal(shm_ring_pop(&monitor, out, 16, &n), SHM_POP_BUS);
	shm_segment_close(&monitor, false);
	shm_segment_close(&target, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncate_under_monitor),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	test_unlink_segment(getpid());
	return failed;
}
