/* memtop-demo: the workload `memtop demo` runs, so that every dashboard view has something true to
 * show: a slow leak, churn, a thread that starts and stops, a fragmented heap, realloc growth, tags.
 * It must stay a plain program: no dependency on memtop beyond the weak API of memtop.h.
 *
 * Usage: memtop-demo [SECONDS]   (runs until killed when SECONDS is absent or 0) */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#if __has_include(<memtop/memtop.h>)
#include <memtop/memtop.h>
#else
static inline int memtop_mark(const char *name)
{
	(void)name;
	return -1;
}
#endif

static atomic_bool stopping;

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !atomic_load(&stopping))
		;
}

static void name_thread(const char *name)
{
	prctl(PR_SET_NAME, name, 0, 0, 0);
}

/* Small deterministic generator: the demo repeats the same pattern on every run. */
static unsigned next_random(unsigned *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

/* ------------------------------------------------------------------ the slow leak */

struct session_record {
	struct session_record *next;
	char user[64];
	unsigned id;
	char payload[400];
};

/* Records are linked but never released: live bytes of this call site grow by ~2.4 KiB/s. */
static struct session_record *leaked_sessions;

static void leak_session_record(unsigned id)
{
	struct session_record *r = malloc(sizeof *r);
	if (!r)
		return;
	memset(r, 0, sizeof *r);
	r->id = id;
	snprintf(r->user, sizeof r->user, "user-%u", id);
	r->next = leaked_sessions;
	leaked_sessions = r;
}

static void *leaker_main(void *arg)
{
	(void)arg;
	name_thread("leaker");
	for (unsigned id = 0; !atomic_load(&stopping); id++) {
		leak_session_record(id);
		sleep_ms(200);
	}
	return NULL;
}

/* ------------------------------------------------------------------ churn */

static char *churn_parse_request(unsigned *rng)
{
	size_t len = 16 + next_random(rng) % 2048;
	char *buf = malloc(len);
	if (buf)
		memset(buf, 'r', len);
	return buf;
}

static void churn_reply(unsigned *rng)
{
	/* calloc and short lives: allocs/s and frees/s stay high, live bytes stay flat. */
	void *p = calloc(1, 32 + next_random(rng) % 512);
	free(p);
}

static void *churn_main(void *arg)
{
	unsigned rng = (unsigned)(size_t)arg;
	char name[16];
	snprintf(name, sizeof name, "churn-%u", (unsigned)(size_t)arg);
	name_thread(name);
	char *window[64] = {0};
	while (!atomic_load(&stopping)) {
		for (int i = 0; i < 200; i++) {
			unsigned slot = next_random(&rng) % 64;
			free(window[slot]);
			window[slot] = churn_parse_request(&rng);
			churn_reply(&rng);
		}
		sleep_ms(5);
	}
	for (int i = 0; i < 64; i++)
		free(window[i]);
	return NULL;
}

/* ------------------------------------------------------------------ a thread that comes and goes */

static void **burst_build_cache(size_t entries)
{
	void **cache = malloc(entries * sizeof *cache);
	for (size_t i = 0; cache && i < entries; i++)
		cache[i] = malloc(128 + (i % 8) * 64);
	return cache;
}

static void *burst_main(void *arg)
{
	(void)arg;
	name_thread("burst");
	void **cache = burst_build_cache(2000);
	sleep_ms(3000);
	for (size_t i = 0; cache && i < 2000; i++)
		free(cache[i]);
	free(cache);
	return NULL;
}

static void *burst_scheduler_main(void *arg)
{
	(void)arg;
	name_thread("scheduler");
	while (!atomic_load(&stopping)) {
		pthread_t t;
		if (pthread_create(&t, NULL, burst_main, NULL) == 0)
			pthread_join(t, NULL);
		sleep_ms(4000);
	}
	return NULL;
}

/* ------------------------------------------------------------------ fragmentation and realloc growth */

#define FRAGMENT_BLOCKS 4096
static void *fragment_blocks[FRAGMENT_BLOCKS];

/* Many blocks, then every other one freed and a whole stretch freed: the heap stays resident but
 * half empty, which the memory-map heatmap shows. */
static void fragment_heap(void)
{
	for (int i = 0; i < FRAGMENT_BLOCKS; i++)
		fragment_blocks[i] = malloc(3000);
	for (int i = 0; i < FRAGMENT_BLOCKS; i += 2) {
		free(fragment_blocks[i]);
		fragment_blocks[i] = NULL;
	}
	for (int i = FRAGMENT_BLOCKS / 4; i < FRAGMENT_BLOCKS / 2; i++) {
		free(fragment_blocks[i]);
		fragment_blocks[i] = NULL;
	}
}

static void unfragment_heap(void)
{
	for (int i = 0; i < FRAGMENT_BLOCKS; i++) {
		free(fragment_blocks[i]);
		fragment_blocks[i] = NULL;
	}
}

struct log_buffer {
	char *data;
	size_t len, cap;
};

/* Grows by realloc, as a log or a vector does: the block comes from realloc in the heap walk. */
static void grow_log_buffer(struct log_buffer *log, const char *line)
{
	size_t n = strlen(line);
	if (log->len + n + 1 > log->cap) {
		size_t cap = log->cap ? log->cap * 2 : 256;
		while (cap < log->len + n + 1)
			cap *= 2;
		char *data = realloc(log->data, cap);
		if (!data)
			return;
		log->data = data;
		log->cap = cap;
	}
	memcpy(log->data + log->len, line, n + 1);
	log->len += n;
}

static void on_stop(int sig)
{
	(void)sig;
	atomic_store(&stopping, true);
}

int main(int argc, char **argv)
{
	long seconds = 0;
	if (argc > 2 || (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
		fprintf(stderr, "usage: memtop-demo [SECONDS]   (runs until killed without SECONDS)\n");
		return argc > 2 ? 2 : 0;
	}
	if (argc == 2) {
		char *end;
		seconds = strtol(argv[1], &end, 10);
		if (*end || seconds < 0) {
			fprintf(stderr, "memtop-demo: SECONDS must be a non-negative integer, not '%s'\n", argv[1]);
			return 2;
		}
	}
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	memtop_mark("demo-start");
	pthread_t leaker, churn[2], scheduler;
	pthread_create(&leaker, NULL, leaker_main, NULL);
	for (size_t i = 0; i < 2; i++)
		pthread_create(&churn[i], NULL, churn_main, (void *)(i + 1));
	pthread_create(&scheduler, NULL, burst_scheduler_main, NULL);

	struct log_buffer log = {0};
	time_t start = time(NULL);
	for (unsigned round = 0; !atomic_load(&stopping); round++) {
		if (seconds && time(NULL) - start >= seconds)
			break;
		if (round % 60 == 0) {
			unfragment_heap();
			fragment_heap();
			memtop_mark("fragmented");
		}
		char line[96];
		snprintf(line, sizeof line, "round %u: the log grows by realloc\n", round);
		grow_log_buffer(&log, line);
		if (log.len > (1u << 20)) { /* start over at 1 MiB */
			free(log.data);
			log = (struct log_buffer){0};
			memtop_mark("log-reset");
		}
		sleep_ms(500);
	}
	atomic_store(&stopping, true);
	pthread_join(leaker, NULL);
	for (size_t i = 0; i < 2; i++)
		pthread_join(churn[i], NULL);
	pthread_join(scheduler, NULL);
	unfragment_heap();
	free(log.data);
	memtop_mark("demo-end");
	return 0; /* the leaked session records stay: a leak report has something to find */
}
