/* Ring stress with real processes: producer threads in this process, the consumer in a forked child
 * that opens the segment by pid and claims it, as memtop does. Two modes:
 *   order  N producers push E events each; every event arrives exactly once, in per-producer order,
 *          and the thread counters sum to what was produced.
 *   causal threads pass addresses A -malloc-> B -free-> pool -> C -malloc-> ...; the consumer must
 *          never see a MALLOC of a live address or a FREE of a dead one (DESIGN invariant 1).
 * Exit 0 on success; any violation is printed as one line and fails the run. Never hangs: every wait
 * has a deadline. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm.h"

#define DEADLINE_NS (110ull * 1000000000ull)
#define POOL_ADDRS 64u
#define ADDR_BASE 0x7f0000000000ull
/* One address per 64 MiB region (plus 16): the pool spreads over every lane, and each handoff
 * crosses from one thread's lane traffic to another's. */
#define ADDR_STEP ((1ull << SHM_LANE_REGION_SHIFT) + 16u)
#define MAX_THREADS 16u

struct options {
	const char *mode;
	unsigned threads;
	uint64_t per_thread; /* order: events per producer; causal: handoffs per thread */
	uint32_t ring_cap;
	bool broken; /* causal-broken: take the FREE ticket after the free, to prove the check bites */
};

static struct shm_segment seg;
static struct options opt;

/* The address pool: one atomic word per address saying where it is. Taking an address is a CAS from
 * its state, handing it on a release store: these atomics stand for the allocator's own
 * synchronisation, which orders a free on one thread before a malloc returning the address on another.
 * Lock-free, so a preempted lock holder never stalls the others (futexes made this test crawl). */
enum { ADDR_IN_POOL = 0, ADDR_OWNED = 1, ADDR_INBOX = 2 /* + thread index */ };
static uint32_t addr_state[POOL_ADDRS];

static uint64_t addr_of(unsigned i)
{
	return ADDR_BASE + (uint64_t)i * ADDR_STEP;
}

/* Takes an address in state `from` (scanning from `hint`), leaving it ADDR_OWNED. */
static bool take_addr(uint32_t from, unsigned hint, uint64_t *addr)
{
	for (unsigned k = 0; k < POOL_ADDRS; k++) {
		unsigned i = (hint + k) % POOL_ADDRS;
		uint32_t expect = from;
		if (__atomic_load_n(&addr_state[i], __ATOMIC_RELAXED) == from &&
		    __atomic_compare_exchange_n(&addr_state[i], &expect, ADDR_OWNED, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED)) {
			*addr = addr_of(i);
			return true;
		}
	}
	return false;
}

static void put_addr(uint64_t addr, uint32_t to)
{
	__atomic_store_n(&addr_state[(addr - ADDR_BASE) / ADDR_STEP], to, __ATOMIC_RELEASE);
}

static uint64_t mallocs_left; /* budget: each MALLOC takes one unit first */

/* ---------------- consumer (child process) ---------------- */

struct consumer_state {
	uint64_t received;
	uint64_t next_seq[MAX_THREADS];
	uint8_t live[POOL_ADDRS];
	uint64_t violations;
	uint64_t pending_polls, empty_polls;
};

static int violation(struct consumer_state *cs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int violation(struct consumer_state *cs, const char *fmt, ...)
{
	va_list ap;
	if (cs->violations++ < 10) {
		va_start(ap, fmt);
		fputs("stress_ring: VIOLATION: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	return -1;
}

static void check_order(struct consumer_state *cs, const struct memtop_event *ev)
{
	uint64_t p = ev->aux;
	if (p >= opt.threads) {
		violation(cs, "producer id %" PRIu64 " out of range", p);
		return;
	}
	if (ev->size != cs->next_seq[p])
		violation(cs, "producer %" PRIu64 ": got seq %" PRIu64 ", expected %" PRIu64, p, ev->size,
			  cs->next_seq[p]);
	cs->next_seq[p] = ev->size + 1;
}

static void check_causal(struct consumer_state *cs, const struct memtop_event *ev)
{
	uint64_t i = (ev->addr - ADDR_BASE) / ADDR_STEP;
	if (ev->addr < ADDR_BASE || i >= POOL_ADDRS) {
		violation(cs, "address %#" PRIx64 " not from the pool", ev->addr);
		return;
	}
	if (ev->type == MEMTOP_EV_MALLOC) {
		if (cs->live[i])
			violation(cs, "MALLOC of live address %#" PRIx64 " (ticket %" PRIu64 ")", ev->addr,
				  ev->seq - 1);
		cs->live[i] = 1;
	} else {
		if (!cs->live[i])
			violation(cs, "FREE of address %#" PRIx64 " that is not live (ticket %" PRIu64 ")",
				  ev->addr, ev->seq - 1);
		cs->live[i] = 0;
	}
}

static bool target_done(void)
{
	return __atomic_load_n(&seg.hdr->flags, __ATOMIC_ACQUIRE) & MEMTOP_FLAG_EXITED;
}

static int consume(pid_t target, int ready_fd)
{
	static struct consumer_state cs;
	struct memtop_event batch[256];
	char err[256];
	if (shm_segment_open(&seg, target, false, err, sizeof err)) {
		fprintf(stderr, "stress_ring: consumer: %s\n", err);
		return 2;
	}
	pid_t holder;
	if (shm_consumer_claim(&seg, &holder)) {
		fprintf(stderr, "stress_ring: consumer: segment claimed by %d\n", (int)holder);
		return 2;
	}
	/* Polls as fast as it can while the producers run: the heads read lazily (EMPTY at the end
	 * stays exact, every producer has returned by then). */
	shm_ring_set_pending_check(&seg, 50000);
	if (write(ready_fd, "r", 1) != 1)
		return 2;
	bool causal = strcmp(opt.mode, "causal") == 0;
	uint64_t start = shm_now_ns(), last_beat = start;
	for (;;) {
		size_t n = 0;
		enum shm_pop_status st = shm_ring_pop(&seg, batch, 256, &n);
		for (size_t k = 0; k < n; k++) {
			const char *bad = shm_event_check(&seg, &batch[k]);
			if (bad)
				violation(&cs, "record rejected: %s", bad);
			else if (causal)
				check_causal(&cs, &batch[k]);
			else
				check_order(&cs, &batch[k]);
		}
		cs.received += n;
		if (st == SHM_POP_BUS)
			return violation(&cs, "SIGBUS"), 1;
		if (n == 0) {
			/* The flag is set after every producer returned, so an empty ring then is the end. */
			if (st == SHM_POP_EMPTY && target_done())
				break;
			if (st == SHM_POP_PENDING)
				cs.pending_polls++;
			else
				cs.empty_polls++;
			sched_yield();
		}
		uint64_t now = shm_now_ns();
		if (now - last_beat > 50000000ull) {
			shm_consumer_heartbeat(&seg);
			last_beat = now;
			if (now - start > DEADLINE_NS)
				return violation(&cs, "deadline passed after %" PRIu64 " events", cs.received), 1;
		}
	}
	struct memtop_counters t;
	if (shm_totals(&seg, &t))
		return violation(&cs, "SIGBUS reading totals"), 1;
	uint64_t produced = t.allocs + t.frees;
	if (t.dropped)
		violation(&cs, "%" PRIu64 " events dropped", t.dropped);
	if (produced != cs.received)
		violation(&cs, "counters say %" PRIu64 " events, consumer got %" PRIu64, produced, cs.received);
	for (unsigned i = 0; causal && i < POOL_ADDRS; i++)
		if (cs.live[i])
			violation(&cs, "address %#llx still live after every free",
				  (unsigned long long)addr_of(i));
	if (!causal)
		for (unsigned p = 0; p < opt.threads; p++)
			if (cs.next_seq[p] != opt.per_thread)
				violation(&cs, "producer %u: %" PRIu64 " of %" PRIu64 " events arrived", p,
					  cs.next_seq[p], opt.per_thread);
	double secs = (double)(shm_now_ns() - start) / 1e9;
	fprintf(stderr, "stress_ring %s: consumer got %" PRIu64 " events (%" PRIu64 " ring laps of %u) in %.2f s, "
		"%.1f M/s; polls empty %" PRIu64 " pending %" PRIu64 "; violations %" PRIu64 "\n",
		opt.mode, cs.received, cs.received / seg.ring_cap, seg.ring_cap, secs,
		(double)cs.received / secs / 1e6, cs.empty_polls, cs.pending_polls, cs.violations);
	shm_consumer_release(&seg);
	return cs.violations ? 1 : 0;
}

/* ---------------- producers (this process) ---------------- */

/* The owner thread's counters: single writer, relaxed stores (as the preload does). */
static void bump(uint64_t *counter)
{
	__atomic_store_n(counter, *counter + 1, __ATOMIC_RELAXED);
}

static void count_push(struct memtop_thread_slot *slot, enum shm_push_result r, bool is_free)
{
	if (r == SHM_PUSHED)
		bump(is_free ? &slot->c.frees : &slot->c.allocs);
	else
		bump(r == SHM_DROPPED ? &slot->c.dropped : &slot->c.untracked);
}

static void *order_producer(void *arg)
{
	unsigned p = (unsigned)(uintptr_t)arg;
	uint16_t s = shm_thread_claim(&seg, (int32_t)(1000 + p), "producer");
	struct memtop_thread_slot *slot = &seg.threads[s];
	struct memtop_event ev;
	memset(&ev, 0, sizeof ev);
	ev.type = MEMTOP_EV_MALLOC;
	ev.thread_slot = s;
	ev.aux = p;
	for (uint64_t i = 0; i < opt.per_thread; i++) {
		ev.timestamp_ns = shm_now_ns();
		ev.addr = ((uint64_t)p << 40) | i;
		ev.size = i;
		count_push(slot, shm_ring_push(&seg, &ev), false);
	}
	shm_thread_release(&seg, s);
	return NULL;
}

static bool take_malloc_budget(void)
{
	uint64_t left = __atomic_load_n(&mallocs_left, __ATOMIC_RELAXED);
	while (left > 0)
		if (__atomic_compare_exchange_n(&mallocs_left, &left, left - 1, true, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			return true;
	return false;
}

static bool take_from_pool_or_refund(unsigned hint, uint64_t *a)
{
	if (take_addr(ADDR_IN_POOL, hint, a))
		return true;
	__atomic_fetch_add(&mallocs_left, 1, __ATOMIC_RELAXED);
	return false;
}

/* After the workers stop, frees what is still in flight so that every MALLOC has its FREE. */
static void free_leftovers(void)
{
	uint16_t s = shm_thread_claim(&seg, 3000, "drain");
	struct memtop_event ev;
	memset(&ev, 0, sizeof ev);
	ev.type = MEMTOP_EV_FREE;
	ev.thread_slot = s;
	for (unsigned t = 0; t < opt.threads; t++)
		while (take_addr(ADDR_INBOX + t, 0, &ev.addr)) {
			ev.timestamp_ns = shm_now_ns();
			count_push(&seg.threads[s], shm_ring_push(&seg, &ev), true);
		}
	shm_thread_release(&seg, s);
}

/* One thread's loop: "malloc" an address from the pool and hand it to the next thread's inbox;
 * "free" what our predecessor handed us. MALLOC takes its ticket after the address is ours; FREE
 * takes its ticket before the address goes back to the pool and commits after (as the preload). */
static void *causal_worker(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	uint16_t s = shm_thread_claim(&seg, (int32_t)(2000 + me), "causal");
	struct memtop_thread_slot *slot = &seg.threads[s];
	struct memtop_event ev;
	memset(&ev, 0, sizeof ev);
	ev.thread_slot = s;
	ev.size = 16;
	unsigned next = (me + 1) % opt.threads;
	uint64_t idle = 0, deadline = shm_now_ns() + DEADLINE_NS;
	while (__atomic_load_n(&mallocs_left, __ATOMIC_RELAXED) > 0) {
		uint64_t x, y;
		bool worked = false;
		if (take_malloc_budget() && take_from_pool_or_refund(me * 7 + (unsigned)idle, &x)) {
			ev.type = MEMTOP_EV_MALLOC;
			ev.addr = x;
			ev.timestamp_ns = shm_now_ns();
			count_push(slot, shm_ring_push(&seg, &ev), false);
			put_addr(x, ADDR_INBOX + next);
			worked = true;
		}
		if (take_addr(ADDR_INBOX + me, 0, &y)) {
			uint64_t ticket;
			if (opt.broken)
				put_addr(y, ADDR_IN_POOL); /* the bug the test must catch: free before the ticket */
			uint32_t lane = shm_lane_of(&seg, y);
			bool reserved = shm_ring_reserve(&seg, lane, &ticket);
			if (!opt.broken)
				put_addr(y, ADDR_IN_POOL); /* the real free: from here another thread may get y */
			ev.type = MEMTOP_EV_FREE;
			ev.addr = y;
			ev.timestamp_ns = shm_now_ns();
			if (reserved) {
				shm_ring_commit(&seg, lane, ticket, &ev);
				bump(&slot->c.frees);
			} else {
				bump(&slot->c.dropped);
			}
			worked = true;
		}
		if (!worked) {
			sched_yield(); /* the addresses are with threads that are not running: let them */
			if ((++idle & 1023) == 0 && shm_now_ns() > deadline)
				break;
		}
		idle += worked;
	}
	shm_thread_release(&seg, s);
	return NULL;
}

static int produce(void)
{
	pthread_t th[MAX_THREADS];
	bool causal = strcmp(opt.mode, "causal") == 0;
	if (causal) {
		mallocs_left = opt.per_thread * opt.threads;
	}
	for (unsigned p = 0; p < opt.threads; p++)
		if (pthread_create(&th[p], NULL, causal ? causal_worker : order_producer, (void *)(uintptr_t)p))
			return 2;
	for (unsigned p = 0; p < opt.threads; p++)
		pthread_join(th[p], NULL);
	if (causal)
		free_leftovers();
	__atomic_fetch_or(&seg.hdr->flags, MEMTOP_FLAG_EXITED, __ATOMIC_RELEASE);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: stress_ring order|causal|causal-broken THREADS COUNT_PER_THREAD RING_CAP\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc != 5)
		usage();
	opt.mode = argv[1];
	opt.threads = (unsigned)atoi(argv[2]);
	opt.per_thread = strtoull(argv[3], NULL, 10);
	opt.ring_cap = (uint32_t)atoi(argv[4]);
	if (strcmp(opt.mode, "causal-broken") == 0) {
		opt.mode = "causal";
		opt.broken = true;
	}
	if ((strcmp(opt.mode, "order") && strcmp(opt.mode, "causal")) || opt.threads < 1 ||
	    opt.threads > MAX_THREADS || (!strcmp(opt.mode, "causal") && opt.threads < 2))
		usage();

	struct shm_config cfg;
	char err[256];
	shm_config_defaults(&cfg);
	cfg.ring_cap = opt.ring_cap;
	cfg.threads = 32;
	cfg.stacks_cap = SHM_STACKS_MIN;
	cfg.block_ms = 30000; /* a drop here would be a failure: wait long */
	if (shm_segment_create(&seg, &cfg, getpid(), err, sizeof err)) {
		fprintf(stderr, "stress_ring: %s\n", err);
		return 2;
	}
	int ready[2];
	if (pipe(ready))
		return 2;
	pid_t target = getpid();
	pid_t child = fork();
	if (child == 0) {
		/* a producer process that dies (a sanitizer halting it) must not leave us spinning */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != target)
			_exit(2);
		close(ready[0]);
		struct shm_segment mine = seg;
		shm_segment_close(&mine, false); /* the consumer maps the segment on its own */
		_exit(consume(target, ready[1]));
	}
	close(ready[1]);
	char c;
	int rc = 2;
	if (read(ready[0], &c, 1) == 1)
		rc = produce();
	int status = 0;
	waitpid(child, &status, 0);
	struct memtop_counters t;
	shm_totals(&seg, &t);
	shm_segment_close(&seg, true);
	if (rc)
		return rc;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "stress_ring %s: FAILED (consumer status %#x)\n", opt.mode, status);
		return 1;
	}
	uint64_t expect = strcmp(opt.mode, "order") ? 2 * opt.per_thread * opt.threads
						    : opt.per_thread * opt.threads;
	if (t.allocs + t.frees != expect || t.dropped || t.untracked) {
		fprintf(stderr, "stress_ring %s: FAILED: produced %" PRIu64 " (dropped %" PRIu64 ", untracked %"
			PRIu64 "), expected %" PRIu64 "\n", opt.mode, t.allocs + t.frees, t.dropped,
			t.untracked, expect);
		return 1;
	}
	fprintf(stderr, "stress_ring %s: OK\n", opt.mode);
	return 0;
}
