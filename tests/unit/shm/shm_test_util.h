/* Helpers shared by the shm unit tests: a small segment named after the test's own pid (so parallel
 * test executables never collide) that is always unlinked, and a plain event builder.
 * Test code only: never linked into the preload or the monitor. */
#ifndef MEMTOP_SHM_TEST_UTIL_H
#define MEMTOP_SHM_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"

/* The smallest geometry the library accepts: wraparound and "full" are reached in a few pushes.
 * One lane, so "full" is the whole ring (test_shm_lanes.c tests several). */
static inline void test_small_config(struct shm_config *cfg)
{
	shm_config_defaults(cfg);
	cfg->ring_cap = SHM_RING_MIN;
	cfg->lanes = 1;
	cfg->stacks_cap = SHM_STACKS_MIN;
	cfg->threads = 4;
	cfg->max_depth = 8;
	cfg->block_ms = 50;
}

static inline void test_unlink_segment(pid_t pid)
{
	char name[64];
	shm_segment_name(pid, name, sizeof name);
	shm_unlink(name);
}

/* Creates /memtop.<pid> with cfg (or the small config), failing the test on error. */
static inline void test_create(struct shm_segment *seg, const struct shm_config *cfg, pid_t pid)
{
	struct shm_config small;
	char err[256] = "";
	if (!cfg) {
		test_small_config(&small);
		cfg = &small;
	}
	test_unlink_segment(pid);
	int rc = shm_segment_create(seg, cfg, pid, err, sizeof err);
	if (rc != 0)
		fail_msg("shm_segment_create: %s", err);
}

static inline struct memtop_event test_event(uint8_t type, uint64_t addr, uint64_t size)
{
	struct memtop_event ev;
	memset(&ev, 0, sizeof ev);
	ev.type = type;
	ev.addr = addr;
	ev.size = size;
	ev.usable = size; /* one ring record (a usable size below the size needs the extension) */
	ev.timestamp_ns = shm_now_ns();
	return ev;
}

static inline uint64_t test_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

/* cmocka fixtures: a small segment named after this process, created fresh and always unlinked. */
static inline int setup_segment(void **state)
{
	struct shm_segment *seg = calloc(1, sizeof *seg);
	test_create(seg, NULL, getpid());
	*state = seg;
	return 0;
}

static inline int teardown_segment(void **state)
{
	struct shm_segment *seg = *state;
	shm_segment_close(seg, true);
	free(seg);
	return 0;
}

#endif
