/* Barrier stress in one process, so that ThreadSanitizer sees both sides: producer threads push
 * events into two lanes and a tag every 50 events; a slow consumer thread pops; block_ms is 1, so
 * lanes time out (dropping) and tags are dropped half-way (PAD records). Checks, once the producers
 * are done and the ring is drained: every event and every tag reported pushed came out exactly once,
 * nothing else came out (no PAD, no barrier copy), and every tag came out after each event its
 * thread pushed before it. Exit 0 on success, 1 with one line per violation.
 * usage: stress_barrier THREADS EVENTS_PER_THREAD */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm.h"

#define MAX_THREADS 8
#define TAG_EVERY 50

static struct shm_segment target, monitor;
static unsigned threads;
static uint64_t per_thread;
static uint32_t tag_id;
static int producers_done;

struct producer_count {
	uint64_t events, tags;
} pushed[MAX_THREADS];

/* The event's size is its index in the thread's sequence; a tag's size is the index of the last
 * event its thread pushed before it (events before a tag must come out before it). */
static void *producer(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	uint16_t slot = shm_thread_claim(&target, (int32_t)(100 + me), "producer");
	uint64_t last = UINT64_MAX;
	for (uint64_t i = 0; i < per_thread; i++) {
		struct memtop_event ev;
		memset(&ev, 0, sizeof ev);
		ev.thread_slot = slot;
		ev.aux = me;
		if (i % TAG_EVERY == TAG_EVERY - 1) {
			ev.type = MEMTOP_EV_TAG;
			ev.aux = tag_id;
			ev.size = last;
			ev.usable = me;
			pushed[me].tags += shm_ring_push(&target, &ev) == SHM_PUSHED;
		} else {
			ev.type = MEMTOP_EV_MALLOC;
			ev.addr = 0x7f0000000000ull + ((uint64_t)(i % 2) << SHM_LANE_REGION_SHIFT) +
				  ((uint64_t)me << 20) + 16 * (i % 4096);
			ev.size = i;
			if (shm_ring_push(&target, &ev) == SHM_PUSHED) {
				pushed[me].events++;
				last = i;
			}
		}
	}
	shm_thread_release(&target, slot);
	return NULL;
}

struct consumer_state {
	uint64_t events[MAX_THREADS], tags[MAX_THREADS], seen_last[MAX_THREADS];
	uint64_t bad;
};

static void check(struct consumer_state *cs, const struct memtop_event *ev)
{
	if (ev->type == MEMTOP_EV_TAG && !(ev->flags & MEMTOP_EVF_BARRIER) && ev->link == 0 &&
	    ev->usable < threads) {
		unsigned t = (unsigned)ev->usable;
		cs->tags[t]++;
		if (ev->size != UINT64_MAX && (cs->seen_last[t] == UINT64_MAX || cs->seen_last[t] < ev->size)) {
			if (cs->bad++ < 10)
				fprintf(stderr, "stress_barrier: tag of thread %u after its event %" PRIu64
					" came before it\n", t, ev->size);
		}
	} else if (ev->type == MEMTOP_EV_MALLOC && ev->aux < threads) {
		cs->events[ev->aux]++;
		if (cs->seen_last[ev->aux] == UINT64_MAX || ev->size > cs->seen_last[ev->aux])
			cs->seen_last[ev->aux] = ev->size;
	} else if (cs->bad++ < 10) {
		fprintf(stderr, "stress_barrier: unexpected record type %u flags %#x\n", ev->type,
			ev->flags);
	}
}

static void *consumer(void *arg)
{
	struct consumer_state *cs = arg;
	struct memtop_event out[8];
	for (;;) {
		int done = __atomic_load_n(&producers_done, __ATOMIC_ACQUIRE);
		size_t n = 0;
		enum shm_pop_status st = shm_ring_pop(&monitor, out, 8, &n);
		for (size_t k = 0; k < n; k++)
			check(cs, &out[k]);
		if (done && st == SHM_POP_EMPTY)
			return NULL;
		if (!done)
			usleep(200); /* slow: lanes fill, time out, drop */
	}
}

int main(int argc, char **argv)
{
	if (argc != 3 || (threads = (unsigned)atoi(argv[1])) < 1 || threads > MAX_THREADS ||
	    (per_thread = strtoull(argv[2], NULL, 10)) == 0) {
		fprintf(stderr, "usage: stress_barrier THREADS EVENTS_PER_THREAD\n");
		return 2;
	}
	struct shm_config cfg;
	char err[256];
	shm_config_defaults(&cfg);
	cfg.ring_cap = 64;
	cfg.lanes = 4;
	cfg.threads = 16;
	cfg.stacks_cap = SHM_STACKS_MIN;
	cfg.block_ms = 1;
	if (shm_segment_create(&target, &cfg, getpid(), err, sizeof err) ||
	    shm_segment_open(&monitor, getpid(), false, err, sizeof err)) {
		fprintf(stderr, "stress_barrier: %s\n", err);
		return 2;
	}
	pid_t holder;
	if (shm_consumer_claim(&monitor, &holder)) {
		fprintf(stderr, "stress_barrier: cannot claim the segment\n");
		return 2;
	}
	tag_id = shm_tag_register(&target, "stress", shm_now_ns());
	struct consumer_state cs;
	memset(&cs, 0, sizeof cs);
	memset(cs.seen_last, 0xff, sizeof cs.seen_last);
	pthread_t c, p[MAX_THREADS];
	pthread_create(&c, NULL, consumer, &cs);
	for (unsigned i = 0; i < threads; i++)
		pthread_create(&p[i], NULL, producer, (void *)(uintptr_t)i);
	for (unsigned i = 0; i < threads; i++)
		pthread_join(p[i], NULL);
	__atomic_store_n(&producers_done, 1, __ATOMIC_RELEASE);
	pthread_join(c, NULL);
	uint64_t sent = 0, dropped_tags = 0;
	for (unsigned t = 0; t < threads; t++) {
		sent += pushed[t].events + pushed[t].tags;
		dropped_tags += per_thread / TAG_EVERY - pushed[t].tags;
		if (cs.events[t] != pushed[t].events || cs.tags[t] != pushed[t].tags) {
			cs.bad++;
			fprintf(stderr, "stress_barrier: thread %u pushed %" PRIu64 " events and %" PRIu64
				" tags, %" PRIu64 " and %" PRIu64 " came out\n", t, pushed[t].events,
				pushed[t].tags, cs.events[t], cs.tags[t]);
		}
	}
	struct memtop_counters totals;
	shm_totals(&target, &totals);
	printf("stress_barrier: %u threads, %" PRIu64 " records through, %" PRIu64
	       " tags dropped, violations %" PRIu64 "\n", threads, sent, dropped_tags, cs.bad);
	shm_segment_close(&monitor, false);
	shm_segment_close(&target, true);
	return cs.bad ? 1 : 0;
}
