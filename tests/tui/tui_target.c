/* tui_target: a target with an exactly known heap for the dashboard tests (tests/tui/).
 * It never uses stdio or anything else that allocates behind its back, so the figures on screen
 * must equal the ones below to the byte. It must never exit on its own: the tests kill it.
 *
 * Usage: tui_target PIDFILE [threads]
 *   phase 1 (at start):     site_a 12 x malloc(1000), 2 freed  -> 10 blocks, 10000 B
 *                           site_b  5 x calloc(1, 300)          ->  5 blocks,  1500 B
 *                           site_c  malloc(100) then realloc to 5000 -> 1 block, 5000 B (realloc)
 *                           total 16 blocks, 16500 B live
 *   SIGUSR1 (each time):    site_later 7 x malloc(777)          -> +7 blocks, +5439 B
 *   SIGUSR2:                exit(7), leaving everything allocated
 *   "timeline" mode (instead of phase 1, after writing the pid): 8 x malloc(65536) 40 ms apart,
 *   through xmalloc (a wrapper), then 4 of them freed 40 ms apart: live bytes rise to 524288 B and fall to 262144 B, one event per
 *   timeline point (the engine's points are at least 1 ms apart); SIGUSR1/SIGUSR2 as above.
 *   "threads" mode adds a thread named "tui-worker" that allocates 3 x malloc(2000) and blocks
 *   (pthread_create also allocates the thread's TLS block, so totals are not exact in that mode).
 *   "churn" mode adds a thread "tui-churn" that does malloc(16) + free without end: counts in the
 *   millions and high rates, for what the header does with long figures (not exact either).
 *   "late-thread" mode runs each SIGUSR1's site_later on a new thread "tui-late" that then stays
 *   blocked (alive, so its TID is the one to show) and writes its TID to PIDFILE.late.
 *   "callers" mode (instead of phase 1): a known caller tree for view 7. leaf_alloc keeps 7,500 B
 *   in 6 blocks: 4,000 B (1 block) called from main, 2,000 B (2) through mid_one from top from
 *   main, 1,500 B (3) through mid_two from top; solo_alloc keeps 300 B (1) called from main.
 *   Total 7,800 B in 7 blocks, nothing freed. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static void *keep[64];
static int kept;

static NOINLINE void site_a(void)
{
	void *tmp[12];
	for (int i = 0; i < 12; i++)
		tmp[i] = malloc(1000);
	free(tmp[3]);
	free(tmp[7]);
	for (int i = 0; i < 12; i++)
		if (i != 3 && i != 7)
			keep[kept++] = tmp[i];
}

static NOINLINE void site_b(void)
{
	for (int i = 0; i < 5; i++)
		keep[kept++] = calloc(1, 300);
}

static NOINLINE void site_c(void)
{
	char *p = malloc(100);
	keep[kept++] = realloc(p, 5000);
}

static NOINLINE void site_later(void)
{
	for (int i = 0; i < 7 && kept < 64; i++)
		keep[kept++] = malloc(777);
}

void *worker_blocks[3]; /* global: the blocks stay reachable */

static NOINLINE void *worker_main(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "tui-worker", 0, 0, 0);

	for (int i = 0; i < 3; i++)
		worker_blocks[i] = malloc(2000);
	for (;;)
		pause();
	return NULL;
}

static NOINLINE void *churn_main(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "tui-churn", 0, 0, 0);
	for (;;) {
		void *volatile p = malloc(16);
		free(p);
	}
	return NULL;
}

static void write_id(const char *path, long id);
static char late_path[4096];

static NOINLINE void *late_main(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "tui-late", 0, 0, 0);
	site_later();
	write_id(late_path, (long)gettid());
	for (;;)
		pause();
	return NULL;
}

static void write_id(const char *path, long id)
{
	char buf[32], tmp[4096];
	int n = 0;
	for (long v = id; v; v /= 10)
		buf[n++] = (char)('0' + v % 10);
	char out[32];
	for (int i = 0; i < n; i++)
		out[i] = buf[n - 1 - i];
	out[n++] = '\n';
	/* Written to a temporary name and renamed, so a reader never sees half a pid. */
	size_t len = strlen(path);
	if (len + 5 >= sizeof tmp)
		_exit(2);
	memcpy(tmp, path, len);
	memcpy(tmp + len, ".tmp", 5);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, out, (size_t)n) != n || close(fd) != 0 || rename(tmp, path) != 0)
		_exit(2);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* an allocator wrapper by name (symbols/skipframes.c's built-in list): dropped from the top of the
 * timeline mode's site unless the dashboard's w key keeps it */
static NOINLINE void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		_exit(4);
	return p;
}

static NOINLINE void timeline_shape(void)
{
	void *blocks[8];
	for (int i = 0; i < 8; i++) {
		blocks[i] = xmalloc(65536);
		sleep_ms(40);
	}
	for (int i = 0; i < 4; i++) {
		free(blocks[i]);
		sleep_ms(40);
	}
	for (int i = 4; i < 8; i++)
		keep[kept++] = blocks[i];
}

static NOINLINE void leaf_alloc(int n, size_t size)
{
	for (int i = 0; i < n; i++)
		keep[kept++] = malloc(size);
}

static NOINLINE void mid_one(void)
{
	leaf_alloc(2, 1000);
}

static NOINLINE void mid_two(void)
{
	leaf_alloc(3, 500);
}

static NOINLINE void top(void)
{
	mid_one();
	mid_two();
}

static NOINLINE void solo_alloc(void)
{
	keep[kept++] = malloc(300);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread: they inherit the mask */
	const char *mode = argc > 2 ? argv[2] : "";
	bool late_thread = strcmp(mode, "late-thread") == 0;
	size_t len = strlen(argv[1]);
	if (len + 6 > sizeof late_path)
		return 2;
	memcpy(late_path, argv[1], len);
	memcpy(late_path + len, ".late", 6);
	if (strcmp(mode, "timeline") == 0) {
		write_id(argv[1], (long)getpid());
		timeline_shape();
	} else if (strcmp(mode, "callers") == 0) {
		top();
		leaf_alloc(1, 4000);
		solo_alloc();
		write_id(argv[1], (long)getpid());
	} else {
		site_a();
		site_b();
		site_c();
		pthread_t t;
		if (strcmp(mode, "threads") == 0 && pthread_create(&t, NULL, worker_main, NULL) != 0)
			return 3;
		if (strcmp(mode, "churn") == 0 && pthread_create(&t, NULL, churn_main, NULL) != 0)
			return 3;
		write_id(argv[1], (long)getpid());
	}
	for (;;) {
		int sig;
		if (sigwait(&set, &sig) != 0)
			continue;
		pthread_t late;
		if (sig == SIGUSR1 && late_thread)
			pthread_create(&late, NULL, late_main, NULL);
		else if (sig == SIGUSR1)
			site_later();
		else if (sig == SIGUSR2)
			exit(7);
	}
}
