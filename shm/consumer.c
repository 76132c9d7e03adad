/* The consumer claim: one monitor at a time owns a segment's ring. The claim is a CAS on claim_pid;
 * a claimant whose pid is gone, whose start time differs, or whose heartbeat is stale is replaced.
 * The first claimant also backs the stack and ring regions and initialises the ring. On the monitor
 * side every read of the segment is SIGBUS-guarded and read once (copy, check the copy, use it). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "shm.h"

/* The claim fields, each read once: every decision about a claimant is made on this copy (the
 * segment is shared with a target that can rewrite it between two reads). */
struct claim_copy {
	int32_t pid;           /* negative: still claiming */
	uint64_t start_time;
	uint64_t heartbeat_ns;
};

static void claim_copy_read(const struct memtop_seg_header *h, struct claim_copy *c)
{
	c->pid = __atomic_load_n(&h->claim_pid, __ATOMIC_ACQUIRE);
	c->start_time = __atomic_load_n(&h->claim_start_time, __ATOMIC_RELAXED);
	c->heartbeat_ns = __atomic_load_n(&h->claim_heartbeat_ns, __ATOMIC_RELAXED);
}

/* The claimant's pid exists, is the process that claimed (start time) and beats. */
static bool claimant_alive(const struct claim_copy *c)
{
	if (c->pid == 0 || c->pid == INT32_MIN)
		return false;
	pid_t pid = c->pid < 0 ? -c->pid : c->pid; /* still claiming: alive all the same */
	if (kill(pid, 0) != 0 && errno != EPERM)
		return false;
	/* A zombie claimant (exited, not yet reaped) is dead even though kill() still finds it. */
	char state;
	uint64_t start;
	if (shm_proc_stat(pid, &state, &start) &&
	    (state == 'Z' || state == 'X' || (c->start_time && start != c->start_time)))
		return false;
	return c->heartbeat_ns + SHM_HEARTBEAT_STALE_NS > shm_clock_ns(CLOCK_MONOTONIC);
}

/* Both sides: TARGET on a full lane (slow path only; its own mapping, no guard), MONITOR through
 * the guarded claim below. */
bool shm_consumer_alive(const struct shm_segment *seg)
{
	struct claim_copy c;
	claim_copy_read(seg->hdr, &c);
	return claimant_alive(&c);
}

/* Backs [from, to) of the file, keeping its size (reserve_regions says why). */
static int back_range(int fd, uint64_t from, uint64_t to)
{
	int rc = fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)from, (off_t)(to - from)) ? errno : 0;
	if (rc == EOPNOTSUPP)
		rc = posix_fallocate(fd, (off_t)from, (off_t)(to - from));
	return rc;
}

/* Backs the regions producers write only under a claim (stacks_off to the end, but for what a
 * MEMTOP_FLAG_STACKS_LAZY target backs itself) in /dev/shm. Runs once per segment, by the first
 * claimant, while claim_pid is still negative: no producer pushes or interns yet
 * (shm_consumer_present is false). The ring needs no initialisation: a zero cell is
 * free and not ready for any ticket (shm_ring_pop waits for seq = ticket + 1).
 * The range comes from the geometry validated at open, never from the header again. A file that is
 * no longer the size we mapped was truncated under us: posix_fallocate would grow it back behind
 * the target's back, so KEEP_SIZE, and the claim fails instead. */
static int reserve_regions(struct shm_segment *seg)
{
	uint32_t flags = __atomic_load_n(&seg->hdr->flags, __ATOMIC_ACQUIRE);
	if (flags & MEMTOP_FLAG_RESERVED)
		return 0;
	uint64_t from = seg->fixed_size - shm_segment_claim_bytes(seg);
	struct stat st;
	if (seg->fd < 0)
		return -EINVAL;
	if (fstat(seg->fd, &st) != 0 || (uint64_t)st.st_size < seg->fixed_size)
		return -EIO;
	/* A target that backs its own stack entries and frames (MEMTOP_FLAG_STACKS_LAZY) leaves them
	 * out: the claim backs the stack index between them, and the ring. Claiming the flag falsely
	 * only harms that target. */
	uint64_t index = (uint64_t)((const char *)seg->stack_index - (const char *)seg->base);
	uint64_t frames = (uint64_t)((const char *)seg->frames - (const char *)seg->base);
	uint64_t ring = (uint64_t)((const char *)seg->ring - (const char *)seg->base);
	int rc = (flags & MEMTOP_FLAG_STACKS_LAZY)
			 ? back_range(seg->fd, index, frames) ?: back_range(seg->fd, ring, seg->fixed_size)
			 : back_range(seg->fd, from, seg->fixed_size);
	if (rc)
		return -rc;
	__atomic_or_fetch(&seg->hdr->flags, MEMTOP_FLAG_RESERVED, __ATOMIC_RELEASE);
	return 0;
}

/* Resume where the previous consumer stopped, lane by lane: its published tails are exact, since
 * producers never reuse a cell at or above them (with none, tail == head == 0: producers push
 * nothing while unclaimed). A tail ahead of head or more than a lane behind it can only be a damaged
 * header: clamped to one lane behind head (records may then be read twice, never skipped uncounted),
 * and published again so that producers bound their tickets by it. */
static void resume_tails(struct shm_segment *seg)
{
	for (uint32_t k = 0; k < seg->lanes; k++) {
		struct memtop_lane *c = &seg->hdr->lanes[k];
		uint64_t head = __atomic_load_n(&c->head, __ATOMIC_ACQUIRE);
		uint64_t tail = __atomic_load_n(&c->tail, __ATOMIC_ACQUIRE);
		if (tail > head || head - tail > seg->lane_cap) {
			tail = head > seg->lane_cap ? head - seg->lane_cap : 0;
			__atomic_store_n(&c->tail, tail, __ATOMIC_RELEASE);
		}
		seg->lane[k].tail = tail;
		seg->lane[k].parked = false;
		__atomic_store_n(&c->attach_ticket, head, __ATOMIC_RELAXED);
	}
}

/* Publishes every lane's tail (a lane's tail is also published by each pop that moves it). */
static void publish_tails(struct shm_segment *seg)
{
	for (uint32_t k = 0; k < seg->lanes; k++)
		__atomic_store_n(&seg->hdr->lanes[k].tail, seg->lane[k].tail, __ATOMIC_RELEASE);
}

/* The claim itself; every read of the segment here runs under the caller's SIGBUS guard. */
static int claim_guarded(struct shm_segment *seg, pid_t me, uint64_t my_start, pid_t *holder)
{
	struct memtop_seg_header *h = seg->hdr;
	struct claim_copy c;
	for (int tries = 0; tries < 8; tries++) {
		claim_copy_read(h, &c);
		int32_t cur = c.pid;
		if (cur != 0 && cur != me && cur != -me && claimant_alive(&c)) {
			if (holder)
				*holder = cur < 0 ? -cur : cur;
			return -EBUSY;
		}
		/* Fresh heartbeat first, so producers never see our claim as stale. */
		__atomic_store_n(&h->claim_heartbeat_ns, shm_clock_ns(CLOCK_MONOTONIC),
				 __ATOMIC_RELAXED);
		__atomic_store_n(&h->claim_start_time, my_start, __ATOMIC_RELAXED);
		/* Phase 1: -me holds the claim against other monitors while producers still push nothing. */
		if (!__atomic_compare_exchange_n(&h->claim_pid, &cur, -me, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE))
			continue;
		__atomic_store_n(&h->claim_start_time, my_start, __ATOMIC_RELAXED);
		__atomic_store_n(&h->claim_heartbeat_ns, shm_clock_ns(CLOCK_MONOTONIC),
				 __ATOMIC_RELEASE);
		int rc = reserve_regions(seg);
		if (rc) {
			int32_t mine = -me;
			__atomic_compare_exchange_n(&h->claim_pid, &mine, 0, false, __ATOMIC_ACQ_REL,
						    __ATOMIC_RELAXED);
			return rc;
		}
		__atomic_fetch_add(&h->attach_count, 1, __ATOMIC_RELAXED);
		resume_tails(seg);
		/* the producers' clock (shm_consumer_clock): their own until our first pop that
		 * finds records (an earlier consumer's value would be stale); published by the
		 * release below */
		seg->clock_published = 0;
		__atomic_store_n(&h->clock_ns, 0, __ATOMIC_RELAXED);
		/* Phase 2: producers start pushing. Release: the ring initialisation and the backing
		 * happen-before any producer's acquire of claim_pid in shm_consumer_present. */
		__atomic_store_n(&h->claim_pid, me, __ATOMIC_RELEASE);
		return 0;
	}
	if (holder) {
		int32_t cur = __atomic_load_n(&h->claim_pid, __ATOMIC_RELAXED);
		*holder = cur < 0 ? -cur : cur;
	}
	return -EBUSY;
}

int shm_consumer_claim(struct shm_segment *seg, pid_t *holder)
{
	pid_t me = getpid();
	uint64_t my_start = shm_proc_start_time(me);
	volatile int rc = 0;
	SHM_GUARD_BEGIN {
		rc = claim_guarded(seg, me, my_start, holder);
	} SHM_GUARD_FAIL {
		rc = -EIO; /* the file shrank under the mapping */
	} SHM_GUARD_END;
	return rc;
}

int shm_consumer_heartbeat(struct shm_segment *seg)
{
	volatile int rc = 0;
	SHM_GUARD_BEGIN {
		__atomic_store_n(&seg->hdr->claim_heartbeat_ns, shm_clock_ns(CLOCK_MONOTONIC),
				 __ATOMIC_RELEASE);
		publish_tails(seg);
	} SHM_GUARD_FAIL {
		rc = -1;
	} SHM_GUARD_END;
	return rc;
}

void shm_consumer_release(struct shm_segment *seg)
{
	SHM_GUARD_BEGIN {
		int32_t me = getpid();
		publish_tails(seg);
		__atomic_compare_exchange_n(&seg->hdr->claim_pid, &me, 0, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_RELAXED);
	} SHM_GUARD_FAIL {
	} SHM_GUARD_END;
}
