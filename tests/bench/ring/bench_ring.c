/* Ring benchmark: producer cost per event (timestamp included) with 1 and 2 producer threads while a
 * consumer in another process drains, and the consumer's drain rate on a full ring. The consumer
 * drains two ways: paced as the monitor's ingest loop (shm_pace: batches of 1024, a nap after a
 * short one), what a target pays under memtop; and eager, popping again as soon as a pop returns
 * (batches of 256), the worst case for the producers' cache lines.
 * Prints one "name value unit" line per figure. A benchmark, not a test: it checks nothing but that
 * every event arrived. */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"

static uint64_t precise_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct shm_segment seg;
static uint64_t events_per_thread;
/* Every producer thread pushes the same addresses, so they share a lane and fight for its head and
 * cells (the worst case); or each pushes in its own 64 MiB region, as threads on their own glibc
 * arenas do, and gets a lane of its own. */
static bool own_lanes;

#define PACED_BATCH 1024 /* the monitor's ingest batch */
#define EAGER_BATCH 256

/* ---- consumer process: drains until the target sets EXITED and the ring is empty ---- */

static int drain_child(pid_t target, bool paced, int ready_fd, int result_fd)
{
	static struct memtop_event batch[PACED_BATCH];
	size_t max = paced ? PACED_BATCH : EAGER_BATCH;
	struct shm_pace pace;
	shm_pace_init(&pace);
	struct shm_segment mon;
	char err[256];
	pid_t holder;
	if (shm_segment_open(&mon, target, false, err, sizeof err) || shm_consumer_claim(&mon, &holder)) {
		fprintf(stderr, "bench_ring: consumer: %s\n", err);
		return 1;
	}
	/* As a monitor polls while its target runs: the producers' head lines read at most every
	 * 50 us (the ingest loop's nap on a pending ticket), not on every empty poll. */
	shm_ring_set_pending_check(&mon, 50000);
	if (write(ready_fd, "r", 1) != 1)
		return 1;
	uint64_t got = 0, beat = shm_now_ns(), first = 0, last = 0;
	for (;;) {
		size_t n = 0;
		enum shm_pop_status st = shm_ring_pop(&mon, batch, max, &n);
		got += n;
		unsigned nap_us = paced ? shm_pace_after_pop(&pace, &mon, n, max, st) : 0;
		if (n) {
			last = precise_ns();
			first = first ? first : last;
		}
		if (n == 0) {
			if (st == SHM_POP_EMPTY &&
			    (__atomic_load_n(&mon.hdr->flags, __ATOMIC_ACQUIRE) & MEMTOP_FLAG_EXITED))
				break;
			if (st == SHM_POP_BUS)
				return 1;
			if (!paced)
				sched_yield();
		}
		if (nap_us)
			usleep(nap_us);
		if (shm_now_ns() - beat > 100000000ull) {
			shm_consumer_heartbeat(&mon);
			beat = shm_now_ns();
		}
	}
	uint64_t res[3] = {got, last - first, mon.heads_reads};
	if (write(result_fd, res, sizeof res) != sizeof res)
		return 1;
	shm_consumer_release(&mon);
	return 0;
}

/* ---- producers ---- */

struct producer {
	pthread_t th;
	unsigned id;
	uint64_t ns;
	uint64_t dropped;
};

static pthread_barrier_t start_line;

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	uint16_t slot = shm_thread_claim(&seg, (int32_t)(100 + p->id), "bench");
	struct memtop_event ev;
	memset(&ev, 0, sizeof ev);
	ev.type = MEMTOP_EV_MALLOC;
	ev.thread_slot = slot;
	ev.size = 32;
	ev.usable = 40; /* glibc's for 32 bytes: one ring record, as a hook's malloc */
	pthread_barrier_wait(&start_line);
	uint64_t t0 = precise_ns();
	for (uint64_t i = 0; i < events_per_thread; i++) {
		/* what a hook does per event: timestamp, fill, push */
		ev.timestamp_ns = shm_now_ns();
		ev.addr = own_lanes ? ((uint64_t)(p->id + 1) << SHM_LANE_REGION_SHIFT) +
					      (i * 16 & ((1ull << SHM_LANE_REGION_SHIFT) - 1))
				    : 0x100000 + i * 16;
		if (shm_ring_push(&seg, &ev) != SHM_PUSHED)
			p->dropped++;
	}
	p->ns = precise_ns() - t0;
	shm_thread_release(&seg, slot);
	return NULL;
}

static int bench_producers(unsigned nthreads, bool paced)
{
	struct shm_config cfg;
	char err[256];
	shm_config_defaults(&cfg); /* the production ring: 65536 cells */
	cfg.block_ms = 10000;
	if (shm_segment_create(&seg, &cfg, getpid(), err, sizeof err)) {
		fprintf(stderr, "bench_ring: %s\n", err);
		return 1;
	}
	int ready[2], result[2];
	if (pipe(ready) || pipe(result))
		return 1;
	pid_t target = getpid();
	pid_t child = fork();
	if (child == 0)
		_exit(drain_child(target, paced, ready[1], result[1]));
	char c;
	if (read(ready[0], &c, 1) != 1)
		return 1;
	struct producer p[8];
	pthread_barrier_init(&start_line, NULL, nthreads);
	for (unsigned i = 0; i < nthreads; i++) {
		memset(&p[i], 0, sizeof p[i]);
		p[i].id = i;
		pthread_create(&p[i].th, NULL, producer_main, &p[i]);
	}
	uint64_t slowest = 0, dropped = 0;
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_join(p[i].th, NULL);
		slowest = p[i].ns > slowest ? p[i].ns : slowest;
		dropped += p[i].dropped;
	}
	pthread_barrier_destroy(&start_line);
	__atomic_fetch_or(&seg.hdr->flags, MEMTOP_FLAG_EXITED, __ATOMIC_RELEASE);
	uint64_t res[3] = {0, 1, 0};
	if (read(result[0], res, sizeof res) != sizeof res)
		res[0] = 0;
	uint64_t got = res[0];
	waitpid(child, NULL, 0);
	close(ready[0]); close(ready[1]); close(result[0]); close(result[1]);
	shm_segment_close(&seg, true);
	uint64_t total = events_per_thread * nthreads;
	char how[32];
	snprintf(how, sizeof how, "%s%s", paced ? "paced" : "eager", own_lanes ? "_own_lanes" : "");
	printf("producer_ns_per_event_%uthread_%s %.1f ns (per thread, consumer process draining %s)\n",
	       nthreads, how, (double)slowest / (double)events_per_thread,
	       paced ? "as the monitor does" : "without a pause");
	printf("producer_throughput_%uthread_%s %.1f Mevents/s (all threads)\n", nthreads, how,
	       (double)total / ((double)slowest / 1e9) / 1e6);
	printf("consumer_live_rate_%uthread_%s %.1f Mevents/s (other process, first to last event)\n",
	       nthreads, how, (double)got / ((double)res[1] / 1e9) / 1e6);
	printf("consumer_head_reads_%uthread_%s %.2f per 1000 events (lines the producers own, read by "
	       "the consumer's empty polls)\n", nthreads, how,
	       (double)res[2] * 1000.0 / (double)(got ? got : 1));
	if (got != total - dropped || dropped)
		printf("WARNING: %" PRIu64 " events dropped, consumer got %" PRIu64 " of %" PRIu64 "\n",
		       dropped, got, total);
	return 0;
}

/* Drain rate: fill a large ring in-process (no consumer running), then time the pops alone. Also
 * gives the producer's cost with no consumer competing for the cache lines. */
static int bench_drain(void)
{
	struct shm_config cfg;
	char err[256];
	shm_config_defaults(&cfg);
	cfg.ring_cap = 1u << 20;
	if (shm_segment_create(&seg, &cfg, getpid(), err, sizeof err)) {
		fprintf(stderr, "bench_ring: %s\n", err);
		return 1;
	}
	pid_t holder;
	shm_consumer_claim(&seg, &holder);
	static struct memtop_event batch[256];
	struct memtop_event ev;
	memset(&ev, 0, sizeof ev);
	ev.type = MEMTOP_EV_FREE;
	double best_drain = 0, best_fill = 1e9;
	for (int round = 0; round < 5; round++) {
		uint64_t t0 = precise_ns();
		for (uint32_t i = 0; i < seg.ring_cap; i++) {
			ev.timestamp_ns = shm_now_ns();
			/* one region per lane (regions get lanes round-robin): each lane fills exactly,
			 * none overflows into the full-lane wait */
			ev.addr = ((uint64_t)(i & (seg.lanes - 1)) << SHM_LANE_REGION_SHIFT) + i;
			shm_ring_push(&seg, &ev);
		}
		uint64_t t1 = precise_ns();
		uint64_t got = 0;
		size_t n;
		while (shm_ring_pop(&seg, batch, 256, &n) == SHM_POP_OK)
			got += n;
		uint64_t t2 = precise_ns();
		if (got != seg.ring_cap)
			printf("WARNING: drained %" PRIu64 " of %u\n", got, seg.ring_cap);
		double fill = (double)(t1 - t0) / seg.ring_cap;
		double drain = (double)got / ((double)(t2 - t1) / 1e9);
		best_fill = fill < best_fill ? fill : best_fill;
		best_drain = drain > best_drain ? drain : best_drain;
	}
	printf("producer_ns_per_event_alone %.1f ns (1 thread, no consumer running, best of 5)\n", best_fill);
	printf("consumer_drain_rate %.1f Mevents/s (full 1M-cell ring, batches of 256, best of 5)\n",
	       best_drain / 1e6);
	shm_segment_close(&seg, true);
	return 0;
}

static void bench_clock(void)
{
	const int n = 10000000;
	volatile uint64_t sink = 0;
	uint64_t t0 = precise_ns();
	for (int i = 0; i < n; i++)
		sink += shm_now_ns();
	printf("shm_now_ns %.1f ns\n", (double)(precise_ns() - t0) / n);
}

int main(int argc, char **argv)
{
	events_per_thread = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000ull;
	bench_clock();
	if (bench_drain())
		return 1;
	for (int paced = 1; paced >= 0; paced--) {
		own_lanes = false;
		if (bench_producers(1, paced) || bench_producers(2, paced))
			return 1;
		own_lanes = true;
		if (bench_producers(2, paced))
			return 1;
	}
	return 0;
}
