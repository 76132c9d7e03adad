/* Unit tests of the consumer claim across real processes: a live monitor holds it exclusively (the
 * second one learns its pid), a dead one or one with a stale heartbeat is replaced, and a replacing
 * consumer resumes at the ring position its predecessor published. */
#include "shm_test_util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* Child side: open the parent's segment as a monitor would. Exit codes tell the parent what happened. */
enum { CHILD_CLAIMED = 0, CHILD_BUSY = 10, CHILD_OPEN_FAILED = 20, CHILD_OTHER = 30 };

static int child_open(struct shm_segment *seg, pid_t target)
{
	char err[256];
	return shm_segment_open(seg, target, false, err, sizeof err);
}

/* Opens and claims; reports the holder's pid through the pipe when busy. */
static void child_try_claim(pid_t target, int report_fd, bool stay)
{
	struct shm_segment seg;
	if (child_open(&seg, target))
		_exit(CHILD_OPEN_FAILED);
	pid_t holder = 0;
	int rc = shm_consumer_claim(&seg, &holder);
	if (write(report_fd, &holder, sizeof holder) != sizeof holder)
		_exit(CHILD_OTHER);
	if (rc == -EBUSY)
		_exit(CHILD_BUSY);
	if (rc != 0)
		_exit(CHILD_OTHER);
	while (stay)
		pause(); /* a live monitor that keeps its claim until killed */
	_exit(CHILD_CLAIMED);
}

static pid_t spawn_claimant(pid_t target, int *report_fd, bool stay)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(p[0]);
		child_try_claim(target, p[1], stay);
	}
	close(p[1]);
	*report_fd = p[0];
	return child;
}

static int wait_exit_code(pid_t child)
{
	int status = 0;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_second_claimant_is_refused(void **state)
{
	struct shm_segment *seg = *state;
	pid_t holder = 0;
	assert_int_equal(shm_consumer_claim(seg, &holder), 0);
	assert_int_equal(seg->hdr->claim_pid, getpid());
	assert_int_equal(seg->hdr->attach_count, 1);
	/* claiming again from the holder is harmless */
	assert_int_equal(shm_consumer_claim(seg, &holder), 0);

	int fd;
	pid_t child = spawn_claimant(getpid(), &fd, false);
	pid_t seen = 0;
	assert_int_equal(read(fd, &seen, sizeof seen), (ssize_t)sizeof seen);
	close(fd);
	assert_int_equal(wait_exit_code(child), CHILD_BUSY);
	assert_int_equal(seen, getpid());
	assert_int_equal(seg->hdr->claim_pid, getpid());
	shm_consumer_release(seg);
	assert_int_equal(seg->hdr->claim_pid, 0);
}

static void test_dead_claimant_is_replaced(void **state)
{
	struct shm_segment *seg = *state;
	int fd;
	pid_t child = spawn_claimant(getpid(), &fd, false);
	pid_t seen = 0;
	assert_int_equal(read(fd, &seen, sizeof seen), (ssize_t)sizeof seen);
	close(fd);
	assert_int_equal(wait_exit_code(child), CHILD_CLAIMED);
	/* the child claimed and died without releasing */
	assert_int_equal(seg->hdr->claim_pid, child);
	assert_false(shm_consumer_alive(seg));
	pid_t holder = 0;
	assert_int_equal(shm_consumer_claim(seg, &holder), 0);
	assert_int_equal(seg->hdr->claim_pid, getpid());
	assert_int_equal(seg->hdr->attach_count, 2);
}

static void test_live_claimant_then_stale_heartbeat(void **state)
{
	struct shm_segment *seg = *state;
	int fd;
	pid_t child = spawn_claimant(getpid(), &fd, true);
	pid_t seen = 0;
	assert_int_equal(read(fd, &seen, sizeof seen), (ssize_t)sizeof seen);
	close(fd);
	assert_int_equal(seg->hdr->claim_pid, child);
	assert_true(shm_consumer_alive(seg));

	pid_t holder = 0;
	assert_int_equal(shm_consumer_claim(seg, &holder), -EBUSY);
	assert_int_equal(holder, child);

	/* the child is alive but has stopped refreshing its heartbeat */
	seg->hdr->claim_heartbeat_ns -= 2 * SHM_HEARTBEAT_STALE_NS;
	assert_false(shm_consumer_alive(seg));
	assert_int_equal(shm_consumer_claim(seg, &holder), 0);
	assert_int_equal(seg->hdr->claim_pid, getpid());
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

/* A claim that names a live pid with the wrong start time is a reused pid: replaced. */
static void test_reused_pid_claimant_is_replaced(void **state)
{
	struct shm_segment *seg = *state;
	seg->hdr->claim_heartbeat_ns = shm_now_ns();
	seg->hdr->claim_start_time = shm_proc_start_time(1) + 12345;
	seg->hdr->claim_pid = 1; /* init is alive, but it is not this claim's process */
	assert_false(shm_consumer_alive(seg));
	pid_t holder = 0;
	assert_int_equal(shm_consumer_claim(seg, &holder), 0);
	assert_int_equal(seg->hdr->claim_pid, getpid());
}

/* The replacing consumer resumes where the dead one published its tail: every pop publishes it,
 * so nothing is consumed twice and nothing is skipped. */
static void test_replacement_resumes_at_published_tail(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event out[SHM_RING_MIN];
	size_t n = 0;
	pid_t holder = 0;
	assert_int_equal(shm_consumer_claim(seg, &holder), 0);
	for (uint64_t i = 0; i < 10; i++) {
		struct memtop_event ev = test_event(MEMTOP_EV_MALLOC, 0x100 + i, 1);
		assert_int_equal(shm_ring_push(seg, &ev), SHM_PUSHED);
	}
	assert_int_equal(shm_ring_pop(seg, out, 4, &n), SHM_POP_OK);
	assert_int_equal(n, 4);
	assert_int_equal(seg->hdr->lanes[0].tail, 4); /* published by the pop itself */
	assert_int_equal(shm_ring_pop(seg, out, 2, &n), SHM_POP_OK);
	assert_int_equal(seg->hdr->lanes[0].tail, 6);

	/* a new monitor (same process here, fresh mapping) takes over after the old one "died" */
	struct shm_segment next;
	char err[256];
	assert_int_equal(shm_segment_open(&next, getpid(), false, err, sizeof err), 0);
	seg->hdr->claim_pid = 0;
	assert_int_equal(shm_consumer_claim(&next, &holder), 0);
	assert_int_equal(next.lane[0].tail, 6);
	assert_int_equal(shm_ring_pop(&next, out, SHM_RING_MIN, &n), SHM_POP_OK);
	assert_int_equal(n, 4);
	assert_int_equal(out[0].addr, 0x100 + 6);
	assert_int_equal(out[3].addr, 0x100 + 9);
	assert_int_equal(next.hdr->lanes[0].attach_ticket, 10);

	/* a corrupt published tail is clamped to one ring behind head, never trusted, and published
	 * again: the records still there are read again rather than skipped */
	shm_consumer_release(&next);
	next.hdr->lanes[0].tail = 1000;
	assert_int_equal(shm_consumer_claim(&next, &holder), 0);
	assert_int_equal(next.lane[0].tail, 0); /* head (10) is less than a ring */
	assert_int_equal(next.hdr->lanes[0].tail, 0);
	assert_int_equal(shm_ring_pop(&next, out, SHM_RING_MIN, &n), SHM_POP_OK);
	assert_int_equal(n, 10);
	assert_int_equal(out[0].addr, 0x100);
	assert_int_equal(next.lane[0].tail, 10);
	shm_segment_close(&next, false);
}

/* Takeover while producers keep pushing into a full ring: the new consumer gets every record the
 * old one did not consume exactly once, in ticket order, and producers never overwrite a cell at
 * or above the published tail (they wait on a full ring instead). */
static void test_takeover_with_busy_producers(void **state)
{
	struct shm_segment *seg = *state;
	struct memtop_event out[2 * SHM_RING_MIN];
	size_t n = 0;
	pid_t holder = 0;
	const uint64_t cap = seg->ring_cap;
	uint64_t next_addr = 0;
	assert_int_equal(shm_consumer_claim(seg, &holder), 0);
	for (uint64_t i = 0; i < cap; i++, next_addr++) {
		struct memtop_event ev = test_event(MEMTOP_EV_MALLOC, next_addr, 1);
		assert_int_equal(shm_ring_push(seg, &ev), SHM_PUSHED);
	}
	assert_int_equal(shm_ring_pop(seg, out, 10, &n), SHM_POP_OK); /* consumed and freed 10 */
	for (int i = 0; i < 10; i++, next_addr++) { /* producers reuse them: the ring is full again */
		struct memtop_event ev = test_event(MEMTOP_EV_MALLOC, next_addr, 1);
		assert_int_equal(shm_ring_push(seg, &ev), SHM_PUSHED);
	}
	struct memtop_event extra = test_event(MEMTOP_EV_MALLOC, ~0ull, 1);
	seg->block_ms = 0; /* full: drops at once instead of overwriting an unconsumed cell */
	assert_int_equal(shm_ring_push(seg, &extra), SHM_DROPPED);
	seg->block_ms = 50;

	seg->hdr->claim_pid = 0; /* the old monitor is gone */
	struct shm_segment next;
	char err[256];
	assert_int_equal(shm_segment_open(&next, getpid(), false, err, sizeof err), 0);
	assert_int_equal(shm_consumer_claim(&next, &holder), 0);
	uint64_t expect = 10, total = 0;
	for (int round = 0; round < 8; round++) {
		enum shm_pop_status st = shm_ring_pop(&next, out, 2 * SHM_RING_MIN, &n);
		if (st != SHM_POP_OK)
			break;
		for (size_t k = 0; k < n; k++, expect++)
			assert_int_equal(out[k].addr, expect);
		total += n;
	}
	assert_int_equal(total, cap); /* every record the old monitor did not consume */
	size_t none = 0;
	assert_int_equal(shm_ring_pop(&next, out, 4, &none), SHM_POP_EMPTY);
	shm_segment_close(&next, false);
}

/* Creation backs only what a target writes without a consumer; the first claim backs the stack
 * table and the ring (the index only, when the target backs the stack entries and frames as they
 * fill: MEMTOP_FLAG_STACKS_LAZY) and initialises the ring; until the claim is published producers
 * push nothing. */
static void test_first_claim_backs_the_ring(void **state)
{
	(void)state;
	struct shm_config cfg;
	shm_config_defaults(&cfg); /* the default geometry: about 10 MB */
	struct shm_segment seg;
	pid_t me = getpid();
	test_create(&seg, &cfg, me);
	struct stat st;
	assert_int_equal(fstat(seg.fd, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 <= seg.hdr->stacks_off + 4096);
	assert_true((uint64_t)st.st_size >= 4 * seg.hdr->stacks_off);

	seg.hdr->claim_pid = -me; /* a monitor still preparing the ring */
	assert_false(shm_consumer_present(&seg));
	struct memtop_event ev = test_event(MEMTOP_EV_MALLOC, 0x1000, 8);
	assert_int_equal(shm_ring_push(&seg, &ev), SHM_NO_CONSUMER);

	pid_t holder = 0;
	assert_int_equal(shm_consumer_claim(&seg, &holder), 0); /* our own half-made claim: finished */
	assert_int_equal(seg.hdr->claim_pid, me);
	assert_true(seg.hdr->flags & MEMTOP_FLAG_RESERVED);
	assert_int_equal(fstat(seg.fd, &st), 0);
	/* all of it but the stack entries and the frame arena when the target backs them itself */
	uint64_t arena = (seg.hdr->flags & MEMTOP_FLAG_STACKS_LAZY)
				 ? (uint64_t)seg.frames_cap * sizeof(uint64_t) +
					   (uint64_t)seg.stacks_cap * sizeof(struct memtop_stack)
				 : 0;
	assert_true((uint64_t)st.st_blocks * 512 + arena >= (uint64_t)st.st_size);
	/* each backed range may take a page more at either end (the regions are not page-aligned) */
	assert_true((uint64_t)st.st_blocks * 512 + arena <= (uint64_t)st.st_size + 4 * 4096);
	for (uint32_t i = 0; i < seg.ring_cap; i++)
		assert_int_equal(seg.ring[i].seq, 0); /* zero cells: free, and ready for no ticket */
	assert_int_equal(shm_ring_push(&seg, &ev), SHM_PUSHED);
	struct memtop_event out[2];
	size_t n = 0;
	assert_int_equal(shm_ring_pop(&seg, out, 2, &n), SHM_POP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].addr, 0x1000);
	shm_segment_close(&seg, true);
}

/* The target shrinks its segment file before a monitor claims it: the claim reads the header under
 * the SIGBUS guard and fails with -EIO instead of crashing, and never grows the file back behind the
 * target's back (posix_fallocate of the ring region would). */
static void test_claim_of_truncated_segment(void **state)
{
	struct shm_segment *target = *state;
	struct shm_segment monitor;
	char err[256];
	_Static_assert(sizeof(struct memtop_seg_header) <= 4096, "the header fits in the first page");
	/* opening installs the guard's handler (cmocka swaps in its own around each test) */
	assert_int_equal(shm_segment_open(&monitor, getpid(), false, err, sizeof err), 0);
	pid_t holder = 0;
	assert_int_equal(ftruncate(target->fd, 4096), 0); /* the header is left, the regions are gone */
	assert_int_equal(shm_consumer_claim(&monitor, &holder), -EIO);
	struct stat st;
	assert_int_equal(fstat(target->fd, &st), 0);
	assert_int_equal(st.st_size, 4096);
	assert_int_equal(monitor.hdr->claim_pid, 0); /* the half-made claim was withdrawn */
	assert_int_equal(ftruncate(target->fd, 0), 0); /* now the first read of the claim faults */
	assert_int_equal(shm_consumer_claim(&monitor, &holder), -EIO);
	shm_segment_close(&monitor, false);
}

/* The claim backs the region validated at open and reads no offset from the header again: a
 * stacks_off rewritten after the check (a scribbling or hostile target) is never used. */
static void test_claim_uses_the_validated_geometry(void **state)
{
	struct shm_segment *target = *state;
	struct shm_segment monitor;
	char err[256];
	assert_int_equal(shm_segment_open(&monitor, getpid(), false, err, sizeof err), 0);
	uint64_t stacks_off = target->hdr->stacks_off;
	target->hdr->stacks_off = target->size + 4096;
	pid_t holder = 0;
	assert_int_equal(shm_consumer_claim(&monitor, &holder), 0);
	struct stat st;
	assert_int_equal(fstat(target->fd, &st), 0);
	assert_int_equal((uint64_t)st.st_size, target->size);
	assert_true((uint64_t)st.st_blocks * 512 >= target->size - stacks_off); /* the ring is backed */
	assert_int_equal(shm_segment_claim_bytes(&monitor), target->size - stacks_off);
	target->hdr->stacks_off = stacks_off;
	shm_consumer_release(&monitor);
	shm_segment_close(&monitor, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_claim_backs_the_ring),
		cmocka_unit_test_setup_teardown(test_second_claimant_is_refused, setup_segment, teardown_segment),
		cmocka_unit_test_setup_teardown(test_dead_claimant_is_replaced, setup_segment, teardown_segment),
		cmocka_unit_test_setup_teardown(test_live_claimant_then_stale_heartbeat, setup_segment,
						teardown_segment),
		cmocka_unit_test_setup_teardown(test_reused_pid_claimant_is_replaced, setup_segment,
						teardown_segment),
		cmocka_unit_test_setup_teardown(test_replacement_resumes_at_published_tail, setup_segment,
						teardown_segment),
		cmocka_unit_test_setup_teardown(test_takeover_with_busy_producers, setup_segment,
						teardown_segment),
		cmocka_unit_test_setup_teardown(test_claim_of_truncated_segment, setup_segment,
						teardown_segment),
		cmocka_unit_test_setup_teardown(test_claim_uses_the_validated_geometry, setup_segment,
						teardown_segment),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	test_unlink_segment(getpid());
	return failed;
}
