/* A program started WITHOUT the preload for the memtop inject tests: a thread blocked in read() on
 * a pipe, a thread in a nanosleep() loop, a thread that churns malloc/free, and the main thread
 * reading commands on stdin (blocked in read() too). Every EINTR any of them sees is counted and
 * printed at the end: an injection must leave it at 0. Commands, one per line:
 *   alloc   site_a: 100 x malloc(1000); site_b: 50 x calloc(10, 200); site_c: 20 x realloc(NULL, 3000)
 *   free    frees what alloc made and the 10 blocks of 333 B made before any command
 *   plugin PATH N   dlopen(PATH) and N calls of its plugin_alloc() (one malloc(4321) each), kept
 *   quit    stops the threads and exits 0 after printing "eintr=N churn=N"
 * Each command answers one line "ok CMD" on stdout (flushed). Must never depend on being traced. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define A_N 100
#define B_N 50
#define C_N 20
#define PRE_N 10

static int stop_pipe[2];
static volatile int stopping;
static int eintr_count;
static long churn_rounds;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static void count_eintr(void)
{
	pthread_mutex_lock(&count_lock);
	eintr_count++;
	pthread_mutex_unlock(&count_lock);
}

static void *reader(void *arg)
{
	char c;
	(void)arg;
	for (;;) {
		ssize_t n = read(stop_pipe[0], &c, 1);
		if (n < 0 && errno == EINTR) {
			count_eintr();
			continue;
		}
		return NULL;
	}
}

static void *sleeper(void *arg)
{
	(void)arg;
	while (!stopping) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		if (nanosleep(&ts, NULL) != 0 && errno == EINTR)
			count_eintr();
	}
	return NULL;
}

static void *churner(void *arg)
{
	(void)arg;
	while (!stopping) {
		void *p = malloc(64);
		free(p);
		churn_rounds++;
		struct timespec ts = {0, 2 * 1000 * 1000};
		if (nanosleep(&ts, NULL) != 0 && errno == EINTR)
			count_eintr();
	}
	return NULL;
}

__attribute__((noinline)) static void site_a(void **out)
{
	for (int i = 0; i < A_N; i++)
		out[i] = malloc(1000);
}

__attribute__((noinline)) static void site_b(void **out)
{
	for (int i = 0; i < B_N; i++)
		out[i] = calloc(10, 200);
}

__attribute__((noinline)) static void site_c(void **out)
{
	for (int i = 0; i < C_N; i++)
		out[i] = realloc(NULL, 3000);
}

/* Loads a library after the injection: its allocations must be traced too. */
static int run_plugin(char *args)
{
	char *space = strrchr(args, ' ');
	if (!space)
		return -1;
	*space = '\0';
	int count = atoi(space + 1);
	void *h = dlopen(args, RTLD_NOW);
	void *(*make)(void) = h ? (void *(*)(void))dlsym(h, "plugin_alloc") : NULL;
	if (!make)
		return -1;
	for (int i = 0; i < count; i++)
		if (!make())
			return -1;
	return 0;
}

/* One line from stdin by read(2) (stdio would allocate, and hide EINTR). */
static int read_line(char *buf, size_t len)
{
	size_t n = 0;
	while (n + 1 < len) {
		ssize_t r = read(0, buf + n, 1);
		if (r < 0 && errno == EINTR) {
			count_eintr();
			continue;
		}
		if (r <= 0)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return 0;
}

int main(void)
{
	static void *a[A_N], *b[B_N], *c[C_N], *pre[PRE_N];
	pthread_t th[3];
	char line[4096];
	setvbuf(stdout, NULL, _IONBF, 0);
	for (int i = 0; i < PRE_N; i++)
		pre[i] = malloc(333);
	if (pipe(stop_pipe) != 0)
		return 1;
	pthread_create(&th[0], NULL, reader, NULL);
	pthread_create(&th[1], NULL, sleeper, NULL);
	pthread_create(&th[2], NULL, churner, NULL);
	printf("ready %d\n", (int)getpid());
	while (read_line(line, sizeof line) == 0) {
		if (strcmp(line, "alloc") == 0) {
			site_a(a);
			site_b(b);
			site_c(c);
		} else if (strcmp(line, "free") == 0) {
			for (int i = 0; i < A_N; i++)
				free(a[i]);
			for (int i = 0; i < B_N; i++)
				free(b[i]);
			for (int i = 0; i < C_N; i++)
				free(c[i]);
			for (int i = 0; i < PRE_N; i++) {
				free(pre[i]); /* once: free(NULL) after */
				pre[i] = NULL;
			}
		} else if (strncmp(line, "plugin ", 7) == 0) {
			if (run_plugin(line + 7) != 0)
				return 3;
			line[6] = '\0';
		} else if (strcmp(line, "quit") == 0) {
			break;
		}
		printf("ok %s\n", line);
	}
	stopping = 1;
	if (write(stop_pipe[1], "x", 1) != 1)
		return 1;
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	printf("eintr=%d churn=%s\n", eintr_count, churn_rounds > 0 ? "yes" : "no");
	return 0;
}
