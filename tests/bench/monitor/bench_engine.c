/* Engine benchmarks (meson benchmark, never a timed test):
 *  1. ingest: events/s on one core (CPU time of the thread) at 1 M live blocks and 50 k call sites,
 *     churn that frees a random live block and allocates a new one (every free a cache miss, as in
 *     a long-running program's steady state). Two figures on the same event stream: the engine
 *     alone (engine_apply_batch on batches of 1024, as the ingest thread applies them), and the
 *     whole ingest step (ring pop + shm_event_check + apply + end of batch) through a real segment
 *     in this process, events pushed beforehand and not timed. A third figure, the same ring path
 *     with 1 k live blocks (the live set in cache), shows what the ring itself costs.
 *  2. memory: monitor bytes per live block at 1 M live blocks (RSS delta of this process);
 *  3. snapshot: time to write a snapshot listing 1 M live blocks (to /dev/null).
 * Prints one line per figure. An argument runs one part only (for perf and A/B runs):
 * `bench_engine ingest` (the ingest figures) or `bench_engine publish` (the view publishes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "engine/engine.h"
#include "session/session_internal.h"
#include "shm.h"
#include "export/snapshot.h"
#include "model.h"

#define LIVE 1000000u
#define SITES 50000u

/* CPU time of this thread: the machine is shared, and the target is "per core", so rates are per
 * CPU-second; wall time is printed for the snapshot too. */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size, rss = 0;
	if (f) {
		if (fscanf(f, "%ld %ld", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * sysconf(_SC_PAGESIZE);
}

static uint64_t rng = 88172645463325252ull;
static inline uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static struct memtop_event ev_alloc(uint64_t addr, uint32_t size, uint32_t stack, uint16_t slot)
{
	/* usable >= size, as the allocator gives: one ring record, as a hook's malloc */
	return (struct memtop_event){.type = MEMTOP_EV_MALLOC, .thread_slot = slot, .stack_id = stack,
				     .timestamp_ns = 1000000000ull, .addr = addr, .size = size,
				     .usable = size + 8};
}

static struct memtop_event ev_free(uint64_t addr, uint16_t slot)
{
	return (struct memtop_event){.type = MEMTOP_EV_FREE, .thread_slot = slot, .addr = addr};
}

/* Live blocks at addresses base + 16*i; churn frees a random live one and allocates a new one. */
static void fill(struct engine *e, uint64_t *addrs, uint32_t n)
{
	urcu_memb_read_lock();
	for (uint32_t i = 0; i < n; i++) {
		addrs[i] = 0x10000000ull + 16ull * i;
		struct memtop_event ev = ev_alloc(addrs[i], 16 + (uint32_t)(i & 255),
						  1 + (uint32_t)(next_rand() % SITES), (uint16_t)(i & 7));
		engine_apply(e, &ev);
		if ((i & 1023) == 0) {
			urcu_memb_read_unlock();
			engine_batch_end(e);
			urcu_memb_read_lock();
		}
	}
	urcu_memb_read_unlock();
	engine_batch_end(e);
}

/* One batch of churn: n/2 pairs (free a random live block, allocate a new one at a fresh address
 * over every site), the same stream for the engine alone and for the ring. */
static void churn_batch(struct memtop_event *batch, uint32_t n, uint64_t *addrs, uint64_t *next_addr,
			uint32_t r)
{
	for (uint32_t j = 0; j < n / 2; j++) {
		uint32_t k = (uint32_t)(next_rand() % LIVE);
		batch[2 * j] = ev_free(addrs[k], (uint16_t)(j & 7));
		addrs[k] = *next_addr;
		*next_addr += 16;
		batch[2 * j + 1] = ev_alloc(addrs[k], 48, 1 + (uint32_t)((r + j) % SITES), (uint16_t)(j & 7));
	}
}

static uint64_t churn_next_addr = 0x10000000ull + 16ull * LIVE;

static void bench_ingest_direct(struct engine *e, uint64_t *addrs)
{
	const uint32_t rounds = 5000000; /* 10 M events, applied in batches of 1024 like the ingest */
	static struct memtop_event batch[1024];
	double total = 0;
	for (uint32_t r = 0; r < rounds; r += 512) {
		churn_batch(batch, 1024, addrs, &churn_next_addr, r);
		double t0 = now_s();
		urcu_memb_read_lock();
		engine_apply_batch(e, batch, 1024);
		urcu_memb_read_unlock();
		engine_batch_end(e);
		total += now_s() - t0;
	}
	printf("ingest, engine alone (engine_apply_batch, 1 M live, 50 k sites, frees of random live "
	       "blocks): %.2f M events/s\n", 2.0 * rounds / total / 1e6);
}

/* A segment of this process with its ring claimed, the claim kept fresh for the whole bench. */
static int ring_open(struct shm_segment *seg)
{
	struct shm_config cfg;
	shm_config_defaults(&cfg);
	cfg.ring_cap = 1u << 16;
	char err[256];
	pid_t fake = 4000000 + (getpid() % 100000); /* a name no real process uses */
	if (shm_segment_create(seg, &cfg, fake, err, sizeof err) != 0) {
		printf("ring bench skipped: %s\n", err);
		return -1;
	}
	pid_t holder;
	if (shm_consumer_claim(seg, &holder) != 0) { /* also backs and initialises the ring */
		printf("ring bench skipped: cannot claim the segment\n");
		shm_segment_close(seg, true);
		return -1;
	}
	__atomic_store_n(&seg->hdr->claim_heartbeat_ns, shm_now_ns() + 3600000000000ull, __ATOMIC_RELAXED);
	return 0;
}

/* What the ingest thread does with what the producers pushed (session_apply_batch without the
 * symbolizer and maps checks): pop a batch, check each record, apply the valid ones, end the
 * batch; until the ring is empty. Returns the events popped; *cpu gets the CPU time spent. */
static uint64_t ring_drain(struct shm_segment *seg, struct engine *e, double *cpu)
{
	static struct memtop_event buf[1024];
	uint64_t total = 0;
	size_t n;
	double t0 = now_s();
	while (shm_ring_pop(seg, buf, 1024, &n) == SHM_POP_OK && n) {
		size_t valid = 0;
		for (size_t i = 0; i < n; i++) {
			if (shm_event_check(seg, &buf[i]))
				continue;
			if (valid != i) /* as session_apply_batch: a record moves only past a bad one */
				buf[valid] = buf[i];
			valid++;
		}
		urcu_memb_read_lock();
		engine_apply_batch(e, buf, valid);
		urcu_memb_read_unlock();
		engine_batch_end(e);
		total += n;
	}
	*cpu += now_s() - t0;
	return total;
}

/* Through a real segment, single thread: push (not timed), then pop + check + apply. First on the
 * engine with 1 M live blocks, the churn of bench_ingest_direct; then on a new engine whose live set
 * stays at 1 k blocks (each allocation freed 1000 allocations later), where the live set is in cache
 * and the ring's own cost shows. A round pushes 8 k events: single-threaded churn falls in one or
 * two lanes (64 MiB address regions), and a lane holds 16 k. */
static void bench_ingest_ring(struct engine *big, uint64_t *addrs)
{
	struct shm_segment seg;
	if (ring_open(&seg) != 0)
		return;
	static struct memtop_event batch[1024];
	uint64_t total = 0, dropped = 0;
	double cpu = 0;
	for (uint32_t round = 0; round < 600; round++) {
		for (uint32_t b = 0; b < 8; b++) {
			churn_batch(batch, 1024, addrs, &churn_next_addr, 512 * (8 * round + b));
			for (uint32_t i = 0; i < 1024; i++)
				dropped += shm_ring_push(&seg, &batch[i]) != SHM_PUSHED;
		}
		total += ring_drain(&seg, big, &cpu);
	}
	printf("ingest, ring pop + shm_event_check + apply (1 M live, 50 k sites, the same churn, "
	       "%lu events, %lu not pushed): %.2f M events/s\n",
	       (unsigned long)total, (unsigned long)dropped, (double)total / cpu / 1e6);

	struct engine e;
	engine_init(&e, seg.threads_count, seg.stacks_cap);
	uint64_t addr = 0x20000000ull;
	total = 0;
	cpu = 0;
	dropped = 0;
	const uint64_t first = addr;
	for (int round = 0; round < 600; round++) {
		for (uint32_t i = 0; i < 4096; i++) {
			struct memtop_event a = ev_alloc(addr, 32, 0, 0);
			dropped += shm_ring_push(&seg, &a) != SHM_PUSHED;
			struct memtop_event f = ev_free(addr - 16 * 1000 >= first ? addr - 16 * 1000 : 1, 0);
			dropped += shm_ring_push(&seg, &f) != SHM_PUSHED;
			addr += 16;
		}
		total += ring_drain(&seg, &e, &cpu);
	}
	printf("ingest, ring pop + shm_event_check + apply (1 k live blocks, in cache; %lu events, %lu "
	       "not pushed): %.2f M events/s\n", (unsigned long)total, (unsigned long)dropped,
	       (double)total / cpu / 1e6);
	urcu_memb_barrier();
	engine_destroy(&e);
	shm_segment_close(&seg, true);
}

/* Publishes at 50 k sites: back to back (nothing changed in between), and each after 200 k events
 * of churn (frees of random live blocks, allocations over every site: most sites changed). */
static void bench_publish(struct session *s, uint64_t *addrs)
{
	/* 200 ms apart, readers have left the view before the last: the wait is not timed */
	double spent = 0;
	for (int i = 0; i < 10; i++) {
		double t0 = now_s();
		session_publish_view(s, 1 + (uint64_t)i);
		spent += now_s() - t0;
		urcu_memb_barrier();
	}
	printf("view publish with %u call sites: %.2f ms CPU each (ingest thread, every 200 ms)\n",
	       s->eng.n_site_ids, spent * 100.0);
	uint64_t next_addr = 0x80000000ull;
	spent = 0;
	static struct memtop_event batch[1024];
	for (int i = 0; i < 10; i++) {
		for (uint32_t r = 0; r < 100000; r += 512) {
			for (uint32_t j = 0; j < 512; j++) {
				uint32_t k = (uint32_t)(next_rand() % LIVE);
				batch[2 * j] = ev_free(addrs[k], (uint16_t)(j & 7));
				addrs[k] = next_addr;
				next_addr += 16;
				batch[2 * j + 1] = ev_alloc(addrs[k], 16 + (uint32_t)(next_rand() & 255),
							    1 + (uint32_t)(next_rand() % SITES), (uint16_t)(j & 7));
			}
			urcu_memb_read_lock();
			engine_apply_batch(&s->eng, batch, 1024);
			urcu_memb_read_unlock();
			engine_batch_end(&s->eng);
		}
		double t0 = now_s();
		session_publish_view(s, 11 + (uint64_t)i);
		spent += now_s() - t0;
		urcu_memb_barrier();
	}
	printf("view publish with %u call sites after 200 k events of churn: %.2f ms CPU each\n",
	       s->eng.n_site_ids, spent * 100.0);
}

int main(int argc, char **argv)
{
	const char *part = argc > 1 ? argv[1] : NULL;
	if (part && strcmp(part, "all") != 0 && strcmp(part, "ingest") != 0 && strcmp(part, "publish") != 0) {
		fprintf(stderr, "bench_engine: unknown part '%s' (all, ingest or publish)\n", part);
		return 2;
	}
	urcu_memb_register_thread();
	uint64_t *addrs = malloc(sizeof(uint64_t) * LIVE);
	struct session *s = calloc(1, sizeof(*s));
	session_default_options(&s->opt);
	s->state = MODEL_STATE_RUNNING;
	s->pid = getpid();
	engine_init(&s->eng, 16, 1u << 20);
	urcu_memb_barrier();
	long before = rss_bytes();
	fill(&s->eng, addrs, LIVE);
	urcu_memb_barrier();
	long after = rss_bytes();
	printf("memory: %.1f bytes of monitor RSS per live block at %u live blocks (%ld MiB)\n",
	       (double)(after - before) / LIVE, LIVE, (after - before) >> 20);
	if (part && strcmp(part, "publish") == 0) {
		bench_publish(s, addrs);
		return 0;
	}
	bench_ingest_direct(&s->eng, addrs);
	if (part && strcmp(part, "ingest") == 0) {
		bench_ingest_ring(&s->eng, addrs);
		return 0;
	}
	urcu_memb_barrier();
	long after_churn = rss_bytes();
	printf("memory after 10 M events of churn at 1 M live: %.1f bytes per live block\n",
	       (double)(after_churn - before) / LIVE);
	bench_publish(s, addrs);
	struct model_walk_filter all = {.kind = MODEL_WALK_ALL, .thread_id = MODEL_ANY_THREAD,
					.stack_id = MODEL_ANY_STACK};
	double t_walk = now_s();
	struct model_walk *w = model_walk_open(s, &all);
	printf("heap walk of %zu live blocks (model_walk_open): %.0f ms CPU\n", w->count,
	       (now_s() - t_walk) * 1000.0);
	model_walk_free(w);
	t_walk = now_s();
	w = model_walk_open_compact(s, &all);
	printf("compact heap walk of %zu live blocks (model_walk_open_compact, the dashboard's): "
	       "%.0f ms CPU\n", w->count, (now_s() - t_walk) * 1000.0);
	model_walk_free(w);
	t_walk = now_s();
	struct model_suspects *sus = model_suspects_compute(s, 1);
	printf("leak suspects at 1 M blocks (%zu sites): %.0f ms CPU\n", sus->n_sites,
	       (now_s() - t_walk) * 1000.0);
	model_suspects_free(sus);
	FILE *out = fopen("/dev/null", "w");
	struct snapshot_options o;
	snapshot_default_options(&o);
	o.blocks = true;
	char err[256];
	double t0 = now_s(), w0 = wall_s();
	int rc = snapshot_write(s, out, &o, err, sizeof err);
	double dt = now_s() - t0, dw = wall_s() - w0;
	fclose(out);
	printf("snapshot of %lu live blocks with every block listed: %.2f s CPU, %.2f s wall (rc %d)\n",
	       (unsigned long)s->eng.live_blocks, dt, dw, rc);
	bench_ingest_ring(&s->eng, addrs);
	return 0;
}
