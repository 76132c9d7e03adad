/* Unit tests of the live table: insert, remove, reinsert at one address, growth by chunks past the
 * first (200 000 blocks in exact mode: no overflow, the monitor reads every one back through its
 * own read-only mappings), and a sampled-mode table that is small. */
#include "shm_test_util.h"

#include <stdlib.h>

#include "livetable.h"

struct collected {
	uint64_t n, bytes, addr_sum;
};

static void collect(void *ctx, const struct shm_live_block *b, size_t n)
{
	struct collected *c = ctx;
	for (size_t i = 0; i < n; i++) {
		c->n++;
		c->bytes += b[i].size;
		c->addr_sum += b[i].addr;
	}
}

/* A second mapping of the same segment, as the monitor opens it. */
static void reader_scan(pid_t pid, struct collected *c, struct shm_live_stats *st)
{
	struct shm_segment mon;
	char err[256];
	assert_int_equal(shm_segment_open(&mon, pid, false, err, sizeof err), 0);
	memset(st, 0, sizeof *st);
	memset(c, 0, sizeof *c);
	assert_int_equal(shm_live_map(&mon, st), 0);
	assert_int_equal(shm_live_scan(&mon, collect, c, st), 0);
	shm_segment_close(&mon, false);
}

static void test_exact_grows(void **state)
{
	(void)state;
	struct shm_config cfg;
	struct shm_segment seg;
	pid_t pid = getpid();
	test_small_config(&cfg);
	cfg.live_mode = MEMTOP_LIVE_EXACT;
	test_create(&seg, &cfg, pid);
	const uint64_t n = 200000;
	uint64_t want_sum = 0;
	for (uint64_t i = 1; i <= n; i++) {
		assert_true(shm_live_insert(&seg, i * 16, 24, 1, 0, i, 0));
		want_sum += i * 16;
	}
	assert_true(seg.live_n > 1); /* it grew past its first chunk */
	assert_int_equal(seg.hdr->live_overflow, 0);
	struct collected c;
	struct shm_live_stats st;
	reader_scan(pid, &c, &st);
	assert_int_equal(c.n, n);
	assert_int_equal(c.bytes, n * 24);
	assert_int_equal(c.addr_sum, want_sum);
	assert_int_equal(st.busy + st.bad + st.bad_chunks, 0);
	/* remove every other block; a removed address is gone, a kept one found */
	struct memtop_live_entry e;
	for (uint64_t i = 1; i <= n; i += 2)
		assert_true(shm_live_remove(&seg, i * 16, &e));
	assert_false(shm_live_remove(&seg, 16, NULL));
	assert_true(shm_live_remove(&seg, 32, &e));
	assert_int_equal(e.size, 24);
	assert_true(shm_live_insert(&seg, 32, 99, 2, 0, 5, MEMTOP_LIVEF_REALLOC));
	reader_scan(pid, &c, &st);
	assert_int_equal(c.n, n / 2);
	assert_int_equal(c.bytes, (n / 2 - 1) * 24 + 99);
	shm_segment_close(&seg, true);
}

static void test_sampled_small(void **state)
{
	(void)state;
	struct shm_config cfg;
	struct shm_segment seg;
	pid_t pid = getpid();
	test_small_config(&cfg);
	cfg.live_mode = MEMTOP_LIVE_SAMPLED;
	cfg.live_sample_bytes = 4096;
	test_create(&seg, &cfg, pid);
	assert_int_equal(seg.live_cap[0], SHM_LIVE_CHUNK0_SAMPLED);
	assert_int_equal(seg.hdr->live_sample_bytes, 4096);
	assert_true(shm_live_insert(&seg, 0x1000, 10, 1, 0, 1, MEMTOP_LIVEF_SAMPLED));
	struct collected c;
	struct shm_live_stats st;
	reader_scan(pid, &c, &st);
	assert_int_equal(c.n, 1);
	shm_segment_close(&seg, true);
}

/* The weight makes a single sampled block of the mean's size count 1/(1-e^-1) times. */
static void test_weight(void **state)
{
	(void)state;
	assert_true(memtop_sample_weight(524288, 524288) > 1.581);
	assert_true(memtop_sample_weight(524288, 524288) < 1.582);
	assert_true(memtop_sample_weight(64ull << 20, 524288) == 1.0);
	assert_true(memtop_sample_weight(64, 0) == 1.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_grows),
		cmocka_unit_test(test_sampled_small),
		cmocka_unit_test(test_weight),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
