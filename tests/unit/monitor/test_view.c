/* Unit tests of the view publish: the call-site table a publish makes from the previous view and the
 * engine's dirty list equals, after every publish, the table made from every engine site (sorted by
 * live bytes, then stack id; every figure the engine's), through churn, new sites, new peaks and
 * growth samples. It never checks timings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "session/session_internal.h"

#define SITES 300u
#define BLOCKS 4000u

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static struct session *new_session(void)
{
	struct session *s = calloc(1, sizeof(*s));
	session_default_options(&s->opt);
	s->state = MODEL_STATE_RUNNING;
	s->pid = 4242;
	engine_init(&s->eng, 4, 1u << 16);
	return s;
}

static void free_session(struct session *s)
{
	urcu_memb_barrier();
	view_free_all(s);
	engine_destroy(&s->eng);
	free(s->slot_generation);
	free(s);
}

static void apply(struct session *s, const struct memtop_event *ev, size_t n)
{
	urcu_memb_read_lock();
	engine_apply_batch(&s->eng, ev, n);
	urcu_memb_read_unlock();
	engine_batch_end(&s->eng);
}

/* The published table against the engine, site by site. */
static void check_view(struct session *s)
{
	urcu_memb_read_lock();
	const struct model_view *v = model_view_get(s);
	assert_non_null(v);
	assert_int_equal(v->n_sites, s->eng.n_site_ids);
	uint8_t *seen = calloc(SITES + 2, 1);
	for (size_t i = 0; i < v->n_sites; i++) {
		const struct model_site *m = &v->sites[i];
		if (i > 0) {
			const struct model_site *p = &v->sites[i - 1];
			assert_true(p->live_bytes > m->live_bytes ||
				    (p->live_bytes == m->live_bytes && p->stack_id < m->stack_id));
		}
		assert_true(m->stack_id <= SITES);
		assert_int_equal(seen[m->stack_id], 0);
		seen[m->stack_id] = 1;
		const struct engine_site *es = engine_site(&s->eng, m->stack_id);
		assert_int_equal(m->live_bytes, es->live_bytes);
		assert_int_equal(m->live_blocks, es->live_blocks);
		assert_int_equal(m->allocs, es->allocs);
		assert_int_equal(m->bytes_allocated, es->bytes_allocated);
		assert_int_equal(m->frees, es->frees);
		assert_int_equal(m->temporary, es->temporary);
		uint64_t pb, pn;
		engine_site_peak(&s->eng, es, &pb, &pn);
		assert_int_equal(m->peak_bytes, pb);
		assert_int_equal(m->peak_blocks, pn);
		bool growing;
		assert_int_equal(m->growth, engine_site_growth(es, &growing));
		assert_int_equal(m->growing, growing);
	}
	free(seen);
	urcu_memb_read_unlock();
}

/* Random churn between publishes (sometimes none, sometimes a few events, sometimes thousands),
 * a heap that grows then shrinks then grows (new peaks, sites left unchanged across a peak), a
 * growth sample every few publishes (now advances 300 ms a publish). */
static void test_incremental_publish_is_exact(void **state)
{
	(void)state;
	struct session *s = new_session();
	static uint64_t addr[BLOCKS];
	static uint32_t size_of[BLOCKS];
	uint64_t next_addr = 0x100000;
	uint64_t now = 1000000000ull;
	struct memtop_event ev[512];
	for (int round = 0; round < 120; round++) {
		size_t n = 0, want = round % 7 == 3 ? 0 : (size_t)(next_rand() % 512);
		/* phases of 40 publishes: mostly allocate, mostly free, mixed */
		int phase = round / 40;
		while (n < want) {
			uint32_t k = (uint32_t)(next_rand() % BLOCKS);
			bool alloc = addr[k] == 0 && (phase != 1 || next_rand() % 4 == 0);
			if (alloc) {
				addr[k] = next_addr += 64;
				size_of[k] = 1 + (uint32_t)(next_rand() % 1000);
				uint32_t site = 1 + (uint32_t)(next_rand() % (round < 10 ? SITES / 4 : SITES));
				ev[n++] = (struct memtop_event){.type = MEMTOP_EV_MALLOC, .stack_id = site,
								.addr = addr[k], .size = size_of[k],
								.timestamp_ns = now};
			} else if (addr[k] && (phase != 0 || next_rand() % 4 == 0)) {
				ev[n++] = (struct memtop_event){.type = MEMTOP_EV_FREE, .addr = addr[k],
								.timestamp_ns = now};
				addr[k] = 0;
			} else if (phase == 2 && addr[k] == 0) { /* never allocated: no site changes */
				ev[n++] = (struct memtop_event){.type = MEMTOP_EV_FREE, .addr = 0xdead0000 + k * 16,
								.timestamp_ns = now};
			}
		}
		apply(s, ev, n);
		session_publish_view(s, now);
		check_view(s);
		now += 300000000ull;
		if (round % 10 == 9)
			urcu_memb_barrier(); /* the views readers left come back for reuse */
	}
	free_session(s);
}

/* The dirty list holds each changed site once, and nothing else; a clean empties it. */
static void test_dirty_list(void **state)
{
	(void)state;
	struct session *s = new_session();
	struct memtop_event ev[] = {
		{.type = MEMTOP_EV_MALLOC, .stack_id = 7, .addr = 0x1000, .size = 10},
		{.type = MEMTOP_EV_MALLOC, .stack_id = 9, .addr = 0x2000, .size = 10},
		{.type = MEMTOP_EV_MALLOC, .stack_id = 7, .addr = 0x3000, .size = 10},
	};
	apply(s, ev, 3);
	assert_int_equal(s->eng.n_dirty, 2);
	engine_sites_clean(&s->eng);
	assert_int_equal(s->eng.n_dirty, 0);
	assert_false(s->eng.dirty_all);
	struct memtop_event fr[] = {
		{.type = MEMTOP_EV_FREE, .addr = 0x1000},
		{.type = MEMTOP_EV_FREE, .addr = 0x3000},
		{.type = MEMTOP_EV_FREE, .addr = 0x9000}, /* unknown: no site */
	};
	apply(s, fr, 3);
	assert_int_equal(s->eng.n_dirty, 1);
	assert_int_equal(s->eng.site_ids[s->eng.dirty_sites[0]], 7);
	free_session(s);
}

int main(void)
{
	urcu_memb_register_thread();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_incremental_publish_is_exact),
		cmocka_unit_test(test_dirty_list),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	urcu_memb_unregister_thread();
	return rc;
}
