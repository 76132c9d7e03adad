/* Unit tests of the event ring in one process (this process is both target and monitor):
 * no consumer → nothing pushed, wraparound in ticket order, the full-ring wait/drop episode,
 * reserve/commit and the PENDING state (exact, or read lazily), the producers' clock, and
 * shm_event_check's range checks. */
#include "shm_test_util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

static void claim(struct shm_segment *seg)
{
	pid_t holder = 0;
	assert_int_equal(shm_consumer_claim(seg, &holder), 0);
}

static size_t pop_all(struct shm_segment *seg, struct memtop_event *out, size_t max)
{
	size_t n = 0;
	enum shm_pop_status st = shm_ring_pop(seg, out, max, &n);
	assert_true(st == SHM_POP_OK || st == SHM_POP_EMPTY);
	return n;
}

static void test_no_consumer_pushes_nothing(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event ev = test_event(MEMTOP_EV_MALLOC, 0x1000, 16);
	for (unsigned i = 0; i < 3 * SHM_RING_MIN; i++)
		assert_int_equal(shm_ring_push(seg, &ev), SHM_NO_CONSUMER);
	assert_int_equal(seg->hdr->lanes[0].head, 0);
	struct memtop_event out[4];
	size_t n = 99;
	/* a monitor that looks without claiming sees an empty ring */
	assert_int_equal(shm_ring_pop(seg, out, 4, &n), SHM_POP_EMPTY);
	assert_int_equal(n, 0);
}

/* Many times the capacity in uneven batches: every event comes back once, in ticket order, and the
 * cells are reused by tickets that wrap the index. Every third event has an extension record (an
 * aux word), every fifth a usable size the record cannot hold, so that an event's two records
 * straddle the lane's end too; the rest are one record. */
static void test_wraparound_keeps_order(void **state)
{
	struct shm_segment *seg = *state;
	const uint64_t cap = seg->ring_cap;
	const uint64_t total = 37 * cap + 5;
	struct memtop_event out[SHM_RING_MIN];
	uint64_t pushed = 0, popped = 0, ticket = 0, tickets = 0;
	uint64_t now_ns = shm_now_ns();
	unsigned batch = 1;
	claim(seg);
	while (popped < total) {
		for (unsigned i = 0; i < batch && pushed < total; i++) {
			struct memtop_event ev = test_event(MEMTOP_EV_MALLOC, 0x10000 + pushed, pushed);
			ev.aux = pushed % 3 == 0 ? ~pushed : 0;
			ev.usable = pushed % 5 == 0 ? pushed + 0x10000 : pushed + pushed % 7;
			ev.timestamp_ns = now_ns + pushed;
			assert_int_equal(shm_ring_push(seg, &ev), SHM_PUSHED);
			tickets += 1 + (pushed % 3 == 0 || pushed % 5 == 0);
			pushed++;
		}
		size_t n = pop_all(seg, out, SHM_RING_MIN);
		for (size_t i = 0; i < n; i++, popped++) {
			assert_int_equal(out[i].seq, ticket + 1); /* the cell carried this ticket */
			assert_int_equal(out[i].addr, 0x10000 + popped);
			assert_int_equal(out[i].size, popped);
			assert_int_equal(out[i].aux, popped % 3 == 0 ? ~popped : 0);
			assert_int_equal(out[i].usable,
					 popped % 5 == 0 ? popped + 0x10000 : popped + popped % 7);
			/* time in units of MEMTOP_TIME_UNIT_NS */
			assert_int_equal(out[i].timestamp_ns,
					 (now_ns + popped) / MEMTOP_TIME_UNIT_NS * MEMTOP_TIME_UNIT_NS);
			assert_int_equal(out[i].flags, 0);
			assert_null(shm_event_check(seg, &out[i]));
			ticket += 1 + (popped % 3 == 0 || popped % 5 == 0);
		}
		assert_int_equal(popped, pushed);
		batch = batch % (cap / 2) + 7; /* 1, 8, 15, ... up to half a ring (two records each) */
		if (batch > cap / 2)
			batch = (unsigned)(cap / 2);
	}
	assert_int_equal(seg->hdr->lanes[0].head, tickets);
	/* the consumer never writes cells: the last one keeps its producer's seq; the pops published
	 * the tail that frees them */
	uint64_t last = tickets - 1;
	assert_int_equal(seg->ring[last & (cap - 1)].seq, (uint32_t)(last + 1));
	assert_int_equal(seg->hdr->lanes[0].tail, tickets);
	assert_int_equal(shm_consumer_heartbeat(seg), 0);
	shm_consumer_release(seg);
	assert_int_equal(seg->hdr->claim_pid, 0);
}

/* Ring full with a live consumer (us): the push waits block_ms, then drops; while still full the next
 * push drops at once; once a cell is free, pushing works and the next full episode waits again. */
static void test_full_ring_waits_then_drops(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event ev = test_event(MEMTOP_EV_MALLOC, 0x2000, 8);
	struct memtop_event out[SHM_RING_MIN];
	claim(seg);
	for (uint32_t i = 0; i < seg->ring_cap; i++)
		assert_int_equal(shm_ring_push(seg, &ev), SHM_PUSHED);

	uint64_t t0 = test_mono_ms();
	assert_int_equal(shm_ring_push(seg, &ev), SHM_DROPPED);
	uint64_t waited = test_mono_ms() - t0;
	assert_in_range(waited, seg->block_ms - 5, seg->block_ms + 1000);

	t0 = test_mono_ms();
	for (int i = 0; i < 100; i++)
		assert_int_equal(shm_ring_push(seg, &ev), SHM_DROPPED);
	assert_in_range(test_mono_ms() - t0, 0, 20); /* no wait while the episode lasts */
	assert_int_equal(seg->hdr->lanes[0].head, seg->ring_cap); /* drops take no ticket */

	size_t n = 0;
	assert_int_equal(shm_ring_pop(seg, out, 1, &n), SHM_POP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(shm_ring_push(seg, &ev), SHM_PUSHED);
	assert_int_equal(seg->lane[0].dropping, 0);
	/* full again: a new episode waits again */
	t0 = test_mono_ms();
	assert_int_equal(shm_ring_push(seg, &ev), SHM_DROPPED);
	assert_true(test_mono_ms() - t0 >= seg->block_ms - 5);
	assert_int_equal(pop_all(seg, out, SHM_RING_MIN), seg->ring_cap);
}

/* A consumer whose process is gone never blocks the target, whatever block_ms says. */
static void test_full_ring_dead_consumer_drops_at_once(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event ev = test_event(MEMTOP_EV_FREE, 0x3000, 0);
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	claim(seg); /* backs and initialises the ring */
	seg->block_ms = 60000;
	seg->hdr->claim_heartbeat_ns = shm_now_ns();
	seg->hdr->claim_pid = child; /* a claimant that is dead */
	for (uint32_t i = 0; i < seg->ring_cap; i++)
		assert_int_equal(shm_ring_push(seg, &ev), SHM_PUSHED);
	uint64_t t0 = test_mono_ms();
	assert_int_equal(shm_ring_push(seg, &ev), SHM_DROPPED);
	assert_in_range(test_mono_ms() - t0, 0, 500);
	seg->block_ms = 50;
}

/* A stale heartbeat counts as dead too. */
static void test_full_ring_stale_consumer_drops_at_once(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event ev = test_event(MEMTOP_EV_FREE, 0x3000, 0);
	claim(seg);
	seg->block_ms = 60000;
	for (uint32_t i = 0; i < seg->ring_cap; i++)
		assert_int_equal(shm_ring_push(seg, &ev), SHM_PUSHED);
	seg->hdr->claim_heartbeat_ns = shm_now_ns() - 2 * SHM_HEARTBEAT_STALE_NS;
	uint64_t t0 = test_mono_ms();
	assert_int_equal(shm_ring_push(seg, &ev), SHM_DROPPED);
	assert_in_range(test_mono_ms() - t0, 0, 500);
	seg->block_ms = 50;
}

static void test_reserve_commit_pending(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event out[4];
	size_t n = 0;
	uint64_t t1, t2;
	claim(seg);
	assert_int_equal(shm_ring_pop(seg, out, 4, &n), SHM_POP_EMPTY);
	assert_true(shm_ring_reserve(seg, 0, &t1));
	assert_true(shm_ring_reserve(seg, 0, &t2));
	assert_int_equal(t2, t1 + 2); /* a reservation holds an event with its extension */
	struct memtop_event second = test_event(MEMTOP_EV_MALLOC, 0x42, 1);
	shm_ring_commit(seg, 0, t2, &second);
	/* ticket t1 is reserved and not yet committed: the later record must wait behind it */
	assert_int_equal(shm_ring_pop(seg, out, 4, &n), SHM_POP_PENDING);
	assert_int_equal(n, 0);
	struct memtop_event first = test_event(MEMTOP_EV_FREE, 0x42, 0);
	shm_ring_commit(seg, 0, t1, &first);
	assert_int_equal(shm_ring_pop(seg, out, 4, &n), SHM_POP_OK);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].type, MEMTOP_EV_FREE);
	assert_int_equal(out[1].type, MEMTOP_EV_MALLOC);
}

/* With a pending check interval, empty pops read the producers' heads once per interval (so a
 * reserved ticket may show as EMPTY until then), yet a committed record comes out at the next pop:
 * the interval never delays an event. Back to 0, PENDING is exact again. */
static void test_lazy_pending_check(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event out[4];
	size_t n = 0;
	uint64_t t1, t2;
	claim(seg);
	shm_ring_set_pending_check(seg, 60ull * 1000000000ull);
	assert_int_equal(shm_ring_pop(seg, out, 4, &n), SHM_POP_EMPTY);
	uint64_t reads = seg->heads_reads;
	assert_int_equal(reads, 1);
	assert_true(shm_ring_reserve(seg, 0, &t1));
	for (int i = 0; i < 100; i++)
		assert_int_equal(shm_ring_pop(seg, out, 4, &n), SHM_POP_EMPTY);
	assert_int_equal(seg->heads_reads, reads); /* the head line stayed the producer's */
	struct memtop_event ev = test_event(MEMTOP_EV_MALLOC, 0x51, 2);
	shm_ring_commit(seg, 0, t1, &ev);
	assert_int_equal(shm_ring_pop(seg, out, 4, &n), SHM_POP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].addr, 0x51);
	assert_true(shm_ring_reserve(seg, 0, &t2));
	shm_ring_set_pending_check(seg, 0);
	assert_int_equal(shm_ring_pop(seg, out, 4, &n), SHM_POP_PENDING);
	assert_int_equal(seg->heads_reads, reads + 1);
	shm_ring_commit(seg, 0, t2, &ev);
	assert_int_equal(pop_all(seg, out, 4), 1);
}

static void test_skip_abandoned_ticket(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event out[4];
	size_t n = 0;
	uint64_t t1, t2;
	claim(seg);
	assert_true(shm_ring_reserve(seg, 0, &t1)); /* a producer that died before committing */
	assert_true(shm_ring_reserve(seg, 0, &t2));
	struct memtop_event ev = test_event(MEMTOP_EV_MALLOC, 0x77, 3);
	shm_ring_commit(seg, 0, t2, &ev);
	assert_int_equal(shm_ring_pop(seg, out, 4, &n), SHM_POP_PENDING);
	shm_ring_skip(seg); /* one ticket a skip: the abandoned reservation holds two */
	assert_int_equal(shm_ring_pop(seg, out, 4, &n), SHM_POP_PENDING);
	shm_ring_skip(seg);
	assert_int_equal(shm_ring_pop(seg, out, 4, &n), SHM_POP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].addr, 0x77);
	/* the skipped cell is usable again one lap later */
	for (uint32_t i = 0; i < seg->ring_cap; i++)
		assert_int_equal(shm_ring_push(seg, &ev), SHM_PUSHED);
	assert_int_equal(pop_all(seg, out, 4), 4);
}

/* The extension of a record that was never committed (its producer died between the two commits,
 * the extension going first): once the record's ticket is skipped, the orphan extension is stepped
 * over, not applied, and the lane goes on. */
static void test_orphan_extension_skipped(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event out[4];
	size_t n = 0;
	uint64_t t;
	claim(seg);
	assert_true(shm_ring_reserve(seg, 0, &t));
	struct memtop_record_ext *x = (struct memtop_record_ext *)&seg->ring[(t + 1) & (seg->ring_cap - 1)];
	x->type = MEMTOP_EV_EXT;
	x->aux = 5;
	__atomic_store_n(&x->seq, (uint32_t)(t + 2), __ATOMIC_RELEASE);
	struct memtop_event ev = test_event(MEMTOP_EV_MALLOC, 0x88, 4);
	assert_int_equal(shm_ring_push(seg, &ev), SHM_PUSHED);
	assert_int_equal(shm_ring_pop(seg, out, 4, &n), SHM_POP_PENDING);
	shm_ring_skip(seg);
	assert_int_equal(shm_ring_pop(seg, out, 4, &n), SHM_POP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].addr, 0x88);
	assert_int_equal(out[0].aux, 0);
}

/* A record that says it has an extension where none is committed (only a damaged or hostile
 * segment): it comes out as an event shm_event_check rejects, and the lane does not wait on it. */
static void test_missing_extension_is_bad_not_stuck(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event out[4];
	size_t n = 0;
	uint64_t t;
	claim(seg);
	assert_true(shm_ring_reserve(seg, 0, &t));
	struct memtop_record *r = &seg->ring[t & (seg->ring_cap - 1)];
	r->type = MEMTOP_EV_MALLOC;
	r->flags = MEMTOP_EVF_EXT;
	r->addr = 0x99;
	__atomic_store_n(&r->seq, (uint32_t)(t + 1), __ATOMIC_RELEASE);
	assert_int_equal(shm_ring_pop(seg, out, 4, &n), SHM_POP_OK);
	assert_int_equal(n, 1);
	assert_non_null(shm_event_check(seg, &out[0]));
	shm_ring_skip(seg); /* the second ticket, never committed */
	struct memtop_event ev = test_event(MEMTOP_EV_MALLOC, 0x9a, 4);
	assert_int_equal(shm_ring_push(seg, &ev), SHM_PUSHED);
	assert_int_equal(shm_ring_pop(seg, out, 4, &n), SHM_POP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].addr, 0x9a);
}

/* A record keeps its time in ms, 32 bits of them: the consumer puts back the rest from its own
 * clock, for times long before it (half the time since boot) or a little after it (a record newer
 * than the pop's clock read). */
static void test_record_time_round_trip(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event out[4];
	uint64_t now = shm_now_ns();
	const uint64_t times[] = {now / 2, now + 2000000000ull, now - 1234567ull};
	claim(seg);
	for (unsigned i = 0; i < 3; i++) {
		struct memtop_event ev = test_event(MEMTOP_EV_FREE, 0x100 + i, 0);
		ev.timestamp_ns = times[i];
		assert_int_equal(shm_ring_push(seg, &ev), SHM_PUSHED);
	}
	assert_int_equal(pop_all(seg, out, 4), 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(out[i].timestamp_ns, times[i] / MEMTOP_TIME_UNIT_NS * MEMTOP_TIME_UNIT_NS);
}

/* The producers' clock (shm_consumer_clock): their own after the claim, the consumer's pop time
 * from a pop that found records, their own again after a pop that found none or a pause. Between
 * two reads of the coarse clock, the consumer's value lies between them. */
static void test_consumer_clock(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event out[4];
	claim(seg);
	assert_int_equal(seg->hdr->clock_ns, 0);
	uint64_t before = shm_now_ns();
	assert_in_range(shm_consumer_clock(seg), before, shm_now_ns());
	struct memtop_event ev = test_event(MEMTOP_EV_FREE, 0x100, 0);
	assert_int_equal(shm_ring_push(seg, &ev), SHM_PUSHED);
	before = shm_now_ns();
	assert_int_equal(pop_all(seg, out, 4), 1);
	uint64_t after = shm_now_ns();
	assert_in_range(seg->hdr->clock_ns, before, after);
	assert_int_equal(shm_consumer_clock(seg), seg->hdr->clock_ns);
	assert_int_equal(pop_all(seg, out, 4), 0);
	assert_int_equal(seg->hdr->clock_ns, 0);
	assert_int_equal(shm_ring_push(seg, &ev), SHM_PUSHED);
	assert_int_equal(pop_all(seg, out, 4), 1);
	assert_int_not_equal(seg->hdr->clock_ns, 0);
	shm_ring_clock_pause(seg);
	assert_int_equal(seg->hdr->clock_ns, 0);
	/* a new claim starts from the producers' own clock, not the last consumer's */
	assert_int_equal(shm_ring_push(seg, &ev), SHM_PUSHED);
	assert_int_equal(pop_all(seg, out, 4), 1);
	shm_consumer_release(seg);
	claim(seg);
	assert_int_equal(seg->hdr->clock_ns, 0);
}

static void test_event_check(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event ev = test_event(MEMTOP_EV_MALLOC, 0x1000, 16);
	assert_null(shm_event_check(seg, &ev));
	ev.stack_id = MEMTOP_STACK_OVERFLOW;
	assert_null(shm_event_check(seg, &ev));
	ev.stack_id = MEMTOP_STACK_SIGNAL;
	assert_null(shm_event_check(seg, &ev));
	ev.stack_id = seg->stacks_cap - 1;
	assert_null(shm_event_check(seg, &ev));
	ev.thread_slot = (uint16_t)(seg->threads_count - 1);
	assert_null(shm_event_check(seg, &ev));

	struct memtop_event bad = ev;
	bad.thread_slot = (uint16_t)seg->threads_count;
	assert_non_null(strstr(shm_event_check(seg, &bad), "thread slot"));
	bad.thread_slot = 0xffff;
	assert_non_null(strstr(shm_event_check(seg, &bad), "thread slot"));

	bad = ev;
	bad.stack_id = seg->stacks_cap;
	assert_non_null(strstr(shm_event_check(seg, &bad), "stack id"));
	bad.stack_id = MEMTOP_STACK_SIGNAL - 1;
	assert_non_null(strstr(shm_event_check(seg, &bad), "stack id"));

	bad = ev;
	bad.type = MEMTOP_EV_NONE;
	assert_non_null(strstr(shm_event_check(seg, &bad), "type"));
	bad.type = MEMTOP_EV_TYPE_MAX;
	assert_non_null(strstr(shm_event_check(seg, &bad), "type"));
	bad.type = 0xff;
	assert_non_null(strstr(shm_event_check(seg, &bad), "type"));

	bad = ev;
	bad.type = MEMTOP_EV_TAG;
	bad.aux = 1;
	assert_null(shm_event_check(seg, &bad));
	bad.aux = seg->tags_cap;
	assert_null(shm_event_check(seg, &bad));
	bad.aux = 0;
	assert_non_null(strstr(shm_event_check(seg, &bad), "tag id"));
	bad.aux = (uint64_t)seg->tags_cap + 1;
	assert_non_null(strstr(shm_event_check(seg, &bad), "tag id"));
	bad.aux = 1ull << 40;
	assert_non_null(strstr(shm_event_check(seg, &bad), "tag id"));
}

static void test_tags(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_tag t;
	assert_int_equal(shm_tag_read(seg, 1, &t), -1); /* not registered yet */
	uint32_t id = shm_tag_register(seg, "phase one", 123);
	assert_int_equal(id, 1);
	assert_int_equal(shm_tag_read(seg, id, &t), 0);
	assert_string_equal(t.name, "phase one");
	assert_int_equal(t.timestamp_ns, 123);
	assert_int_equal(shm_tag_read(seg, 0, &t), -1);
	assert_int_equal(shm_tag_read(seg, seg->tags_cap + 1, &t), -1);
	for (uint32_t i = 1; i < seg->tags_cap; i++)
		assert_int_equal(shm_tag_register(seg, "x", 0), i + 1);
	assert_int_equal(shm_tag_register(seg, "one too many", 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_consumer_pushes_nothing, setup_segment, teardown_segment),
		cmocka_unit_test_setup_teardown(test_wraparound_keeps_order, setup_segment, teardown_segment),
		cmocka_unit_test_setup_teardown(test_full_ring_waits_then_drops, setup_segment, teardown_segment),
		cmocka_unit_test_setup_teardown(test_full_ring_dead_consumer_drops_at_once, setup_segment,
						teardown_segment),
		cmocka_unit_test_setup_teardown(test_full_ring_stale_consumer_drops_at_once, setup_segment,
						teardown_segment),
		cmocka_unit_test_setup_teardown(test_reserve_commit_pending, setup_segment, teardown_segment),
		cmocka_unit_test_setup_teardown(test_lazy_pending_check, setup_segment, teardown_segment),
		cmocka_unit_test_setup_teardown(test_skip_abandoned_ticket, setup_segment, teardown_segment),
		cmocka_unit_test_setup_teardown(test_orphan_extension_skipped, setup_segment,
						teardown_segment),
		cmocka_unit_test_setup_teardown(test_missing_extension_is_bad_not_stuck, setup_segment,
						teardown_segment),
		cmocka_unit_test_setup_teardown(test_record_time_round_trip, setup_segment,
						teardown_segment),
		cmocka_unit_test_setup_teardown(test_consumer_clock, setup_segment, teardown_segment),
		cmocka_unit_test_setup_teardown(test_event_check, setup_segment, teardown_segment),
		cmocka_unit_test_setup_teardown(test_tags, setup_segment, teardown_segment),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	test_unlink_segment(getpid());
	return failed;
}
