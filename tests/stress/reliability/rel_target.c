/* rel_target: the target programs of the reliability suite, one mode per hazard (monitor faults,
 * storms, thread churn, fork/exec/dlopen, signals, exit paths, failing requests). Each mode prints
 * only deterministic text on stdout so that a bare run and a preloaded run can be compared byte for
 * byte; timing figures go to stderr. Must never depend on memtop being present (weak API only).
 * usage: rel_target MODE [ARGS...]   (see main) */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memtop/memtop.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

/* ---- work: a steady deterministic workload; records the slowest single allocation call ---- */

struct work_arg {
	long rounds;
	uint64_t seed;
	uint64_t checksum;
	uint64_t max_call_ns;
};

static void *work_thread(void *p)
{
	struct work_arg *a = p;
	void *blocks[32] = {0};
	for (long r = 0; r < a->rounds; r++) {
		for (int k = 0; k < 32; k++) {
			size_t sz = 8 + rng_next(&a->seed) % 2000;
			uint64_t t0 = now_ns();
			free(blocks[k]);
			blocks[k] = malloc(sz);
			uint64_t dt = now_ns() - t0;
			if (dt > a->max_call_ns)
				a->max_call_ns = dt;
			memset(blocks[k], (int)(sz & 0xff), sz);
			a->checksum = a->checksum * 31 + ((unsigned char *)blocks[k])[sz - 1] + sz;
		}
		if (r % 8 == 0) {
			struct timespec nap = {0, 1000000};
			nanosleep(&nap, NULL);
		}
	}
	for (int k = 0; k < 32; k++)
		free(blocks[k]);
	return NULL;
}

/* work ROUNDS [EXIT_CODE]: two threads, ~ROUNDS/8 ms. stdout: checksums. stderr: max call time. */
static int mode_work(int argc, char **argv)
{
	long rounds = argc > 2 ? atol(argv[2]) : 2000;
	int code = argc > 3 ? atoi(argv[3]) : 0;
	struct work_arg a[2] = {{rounds, 1, 0, 0}, {rounds, 2, 0, 0}};
	pthread_t t;
	pthread_create(&t, NULL, work_thread, &a[1]);
	work_thread(&a[0]);
	pthread_join(t, NULL);
	printf("work rounds=%ld checksum=%016" PRIx64 " %016" PRIx64 "\n", rounds, a[0].checksum,
	       a[1].checksum);
	uint64_t mx = a[0].max_call_ns > a[1].max_call_ns ? a[0].max_call_ns : a[1].max_call_ns;
	fprintf(stderr, "max_call_us=%" PRIu64 "\n", mx / 1000);
	return code;
}

/* ---- storm: THREADS threads malloc/free at full speed for MS milliseconds; exact counts ---- */

static pthread_barrier_t storm_start, storm_done;
static uint64_t storm_deadline;

struct storm_arg {
	uint64_t seed;
	uint64_t allocs, frees;
};

static void *storm_thread(void *p)
{
	struct storm_arg *a = p;
	void *win[64];
	for (int k = 0; k < 64; k++)
		win[k] = NULL;
	pthread_barrier_wait(&storm_start);
	for (;;) {
		for (int i = 0; i < 4096; i++) {
			int k = (int)(rng_next(&a->seed) & 63);
			if (win[k]) {
				free(win[k]);
				a->frees++;
			}
			win[k] = malloc(16 + rng_next(&a->seed) % 1024);
			a->allocs++;
		}
		if (now_ns() >= storm_deadline)
			break;
	}
	for (int k = 0; k < 64; k++)
		if (win[k]) {
			free(win[k]);
			a->frees++;
		}
	pthread_barrier_wait(&storm_done);
	return NULL;
}

/* storm THREADS MS: stdout "exact=1|0" and the figures (not compared with a bare run). */
static int mode_storm(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 2;
	long ms = argc > 3 ? atol(argv[3]) : 1000;
	if (n < 1 || n > 64)
		return 2;
	struct storm_arg a[64];
	pthread_t t[64];
	pthread_barrier_init(&storm_start, NULL, (unsigned)n + 1);
	pthread_barrier_init(&storm_done, NULL, (unsigned)n + 1);
	for (int i = 0; i < n; i++) {
		a[i] = (struct storm_arg){(uint64_t)i * 7919 + 1, 0, 0};
		pthread_create(&t[i], NULL, storm_thread, &a[i]);
	}
	struct memtop_stats s0, s1;
	int have = memtop_stats(&s0) == 0;
	uint64_t t0 = now_ns();
	storm_deadline = t0 + (uint64_t)ms * 1000000ull;
	pthread_barrier_wait(&storm_start);
	pthread_barrier_wait(&storm_done);
	uint64_t t1 = now_ns();
	if (have)
		memtop_stats(&s1);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	uint64_t allocs = 0, frees = 0;
	for (int i = 0; i < n; i++) {
		allocs += a[i].allocs;
		frees += a[i].frees;
	}
	double secs = (double)(t1 - t0) / 1e9;
	printf("storm threads=%d seconds=%.3f calls=%" PRIu64 " calls_per_s=%.0f\n", n, secs,
	       allocs + frees, (double)(allocs + frees) / secs);
	if (!have) {
		printf("memtop=absent\n");
		return 0;
	}
	uint64_t da = s1.allocs - s0.allocs, df = s1.frees - s0.frees;
	uint64_t dropped = s1.events_dropped - s0.events_dropped;
	int exact = da == allocs && df == frees;
	printf("own_allocs=%" PRIu64 " own_frees=%" PRIu64 " memtop_allocs=%" PRIu64
	       " memtop_frees=%" PRIu64 " dropped=%" PRIu64 " exact=%d\n",
	       allocs, frees, da, df, dropped, exact);
	fflush(stdout);
	return exact ? 0 : 1;
}

/* ---- failing and odd requests: return values and errno exactly as glibc gives them ---- */

#define SENTINEL 4242

static void show(const char *what, const void *p, int err)
{
	printf("%-40s %s errno=%d\n", what, p ? "ptr" : "NULL", err);
}

static void showrc(const char *what, int rc, const void *p, int err)
{
	printf("%-40s rc=%d %s errno=%d\n", what, rc, p ? "ptr" : "NULL", err);
}

#define CALL(what, expr)                                                                       \
	do {                                                                                   \
		errno = SENTINEL;                                                              \
		void *p_ = (expr);                                                             \
		int e_ = errno;                                                                \
		show(what, p_, e_);                                                            \
		free(p_);                                                                      \
	} while (0)

static int mode_requests(void)
{
	/* The compiler must not fold these: hide the sizes behind volatile. */
	volatile size_t max = SIZE_MAX, half = SIZE_MAX / 2 + 1, big = (size_t)1 << 40;
	volatile size_t three = 3, zero = 0, sixteen = 16, hundred = 100;
	CALL("malloc(SIZE_MAX)", malloc(max));
	CALL("malloc(SIZE_MAX/2+1)", malloc(half));
	CALL("malloc(0)", malloc(zero));
	CALL("malloc(16)", malloc(sixteen));
	CALL("calloc(SIZE_MAX/2+1, 2)", calloc(half, 2));
	CALL("calloc(2^40, 2^40)", calloc(big, big));
	CALL("calloc(0, 0)", calloc(zero, zero));
	CALL("calloc(SIZE_MAX, 0)", calloc(max, zero));
	CALL("realloc(NULL, SIZE_MAX)", realloc(NULL, max));
	CALL("realloc(NULL, 0)", realloc(NULL, zero));
	CALL("reallocarray(NULL, 2^40, 2^40)", reallocarray(NULL, big, big));
	CALL("valloc(SIZE_MAX)", valloc(max));
	CALL("pvalloc(SIZE_MAX)", pvalloc(max));
	CALL("memalign(3, 16)", memalign(three, sixteen));
	CALL("memalign(64, SIZE_MAX)", memalign(64, max));
	CALL("aligned_alloc(3, 16)", aligned_alloc(three, sixteen));
	CALL("aligned_alloc(0, 16)", aligned_alloc(zero, sixteen));
	CALL("aligned_alloc(64, 100)", aligned_alloc(64, hundred));
	CALL("aligned_alloc(64, SIZE_MAX)", aligned_alloc(64, max));
	CALL("aligned_alloc(2^40, 16)", aligned_alloc(big, sixteen));
	{
		/* realloc failing keeps the old block intact */
		char *volatile p = malloc(32);
		memset(p, 'a', 32);
		errno = SENTINEL;
		void *q = realloc(p, max);
		int e = errno;
		show("realloc(p, SIZE_MAX)", q, e);
		printf("%-40s %s\n", "old block intact", p[31] == 'a' ? "yes" : "no");
		errno = SENTINEL;
		q = reallocarray(p, big, big);
		e = errno;
		show("reallocarray(p, 2^40, 2^40)", q, e);
		free(p);
	}
	static const struct {
		const char *what;
		size_t align, size;
	} pm[] = {
		{"posix_memalign(3, 16)", 3, 16},
		{"posix_memalign(0, 16)", 0, 16},
		{"posix_memalign(4, 16)", 4, 16}, /* not a multiple of sizeof(void *) */
		{"posix_memalign(24, 16)", 24, 16},
		{"posix_memalign(64, SIZE_MAX)", 64, SIZE_MAX},
		{"posix_memalign(64, 0)", 64, 0},
		{"posix_memalign(4096, 100)", 4096, 100},
	};
	for (size_t i = 0; i < sizeof pm / sizeof pm[0]; i++) {
		void *p = (void *)0x1; /* must stay untouched on failure */
		errno = SENTINEL;
		volatile size_t al = pm[i].align, sz = pm[i].size;
		int rc = posix_memalign(&p, al, sz);
		int e = errno;
		printf("%-40s rc=%d out=%s errno=%d\n", pm[i].what, rc,
		       p == (void *)0x1 ? "untouched" : p ? "ptr" : "NULL", e);
		if (rc == 0)
			free(p);
	}
	/* errno preserved across successful calls and free */
	errno = SENTINEL;
	void *p = malloc(24);
	void *q = realloc(p, 4000);
	free(q ? q : p);
	p = q;
	free(NULL);
	showrc("errno after malloc/realloc/free", 0, p, errno);
	return 0;
}

/* ---- thread churn ---- */

static void *churn_body(void *arg)
{
	(void)arg;
	for (int i = 0; i < 4; i++) {
		char *p = malloc(24 + (size_t)i * 40);
		p[0] = 1;
		free(p);
	}
	return NULL;
}

/* churn N: N short threads, 16 at a time, half of each batch detached. */
static int mode_churn(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 10000;
	long done = 0;
	pthread_attr_t det;
	pthread_attr_init(&det);
	pthread_attr_setdetachstate(&det, PTHREAD_CREATE_DETACHED);
	while (done < n) {
		pthread_t t[16];
		int k = 0;
		for (; k < 16 && done + k < n; k++)
			if (pthread_create(&t[k], NULL, churn_body, NULL) != 0)
				return 3;
		for (int i = 0; i < k; i++)
			pthread_join(t[i], NULL);
		done += k;
	}
	/* and some detached ones, then let them finish */
	for (int i = 0; i < 64; i++) {
		pthread_t t;
		pthread_create(&t, &det, churn_body, NULL);
	}
	struct timespec nap = {0, 50000000};
	nanosleep(&nap, NULL);
	printf("churn threads=%ld\n", done);
	return 0;
}

/* ---- fork storms without exec, nested ---- */

static int fork_tree(int depth, int fan, const char *path)
{
	int failures = 0;
	for (int i = 0; i < fan; i++) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0)
			return 100;
		if (pid == 0) {
			char name[64];
			snprintf(name, sizeof name, "%s.%d", path, i);
			char *s = strdup(name);
			void *blk = malloc(1000 * (size_t)(depth + 1));
			memset(blk, depth, 1000);
			int rc = depth > 1 ? fork_tree(depth - 1, fan, s) : 0;
			printf("child %s depth=%d\n", s, depth);
			free(blk);
			free(s);
			exit(rc ? rc : 10 + i); /* exit(), not _exit(): destructors and atexit run */
		}
		/* the parent keeps allocating while the child runs */
		for (int k = 0; k < 100; k++)
			free(malloc((size_t)k * 13 + 1));
		int st;
		waitpid(pid, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 10 + i)
			failures++;
	}
	return failures;
}

/* forkstorm DEPTH FAN: a tree of forks (no exec), each child allocating and exiting with exit(). */
static int mode_forkstorm(int argc, char **argv)
{
	int depth = argc > 2 ? atoi(argv[2]) : 3;
	int fan = argc > 3 ? atoi(argv[3]) : 3;
	/* a second thread allocating in the parent at fork time */
	pthread_t t;
	struct work_arg a = {400, 9, 0, 0};
	pthread_create(&t, NULL, work_thread, &a);
	int f = fork_tree(depth, fan, "r");
	pthread_join(t, NULL);
	printf("forkstorm depth=%d fan=%d failures=%d\n", depth, fan, f);
	return f ? 1 : 0;
}

/* ---- exec chains ---- */

/* execchain N: allocates, then execs itself with N-1; the last one exits with 40. */
static int mode_execchain(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 5;
	char *s = malloc(64);
	snprintf(s, 64, "exec step %d", n);
	printf("%s\n", s);
	fflush(stdout);
	free(s);
	if (n <= 0)
		return 40;
	char num[16];
	snprintf(num, sizeof num, "%d", n - 1);
	char *args[] = {argv[0], "execchain", num, NULL};
	if (n % 2)
		execv("/proc/self/exe", args);
	else
		execv(argv[0], args);
	perror("execv");
	return 1;
}

/* ---- dlopen / dlclose loops ---- */

/* dlopen N LIB: open, look up, call, close N times; plus a failing dlopen (dlerror allocates). */
static int mode_dlopen(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 200;
	const char *lib = argc > 3 ? argv[3] : "libm.so.6";
	long ok = 0;
	for (long i = 0; i < n; i++) {
		void *h = dlopen(lib, RTLD_NOW | (i % 2 ? RTLD_GLOBAL : RTLD_LOCAL));
		if (!h) {
			printf("dlopen failed: %s\n", dlerror());
			return 1;
		}
		if (dlsym(h, "memtop_test_plugin_alloc") || dlsym(h, "cos"))
			ok++;
		dlclose(h);
	}
	void *h = dlopen("/nonexistent/libnothing.so", RTLD_NOW);
	printf("dlopen loops=%ld found=%ld missing=%s\n", n, ok, h ? "opened?!" : "refused");
	return 0;
}

/* ---- signal handlers that allocate ---- */

static volatile sig_atomic_t sig_handled;
static void *volatile sig_last;
static volatile int sig_stop;

static void on_sigalrm(int sig)
{
	(void)sig;
	int saved = errno;
	void *p = malloc(64 + (size_t)sig_handled % 512);
	void *q = realloc(p, 700);
	if (q)
		p = q;
	void *old = sig_last;
	sig_last = p;
	free(old);
	sig_handled++;
	errno = saved;
}

static void *sig_alloc_thread(void *arg)
{
	(void)arg;
	uint64_t seed = 5;
	while (!sig_stop)
		free(malloc(16 + rng_next(&seed) % 256));
	return NULL;
}

/* signals N: a 2 kHz timer whose handler allocates, interrupting a main thread that computes (never
 * inside malloc, so glibc itself is safe) while another thread allocates flat out. */
static int mode_signals(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 500;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigalrm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	pthread_t t;
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &block, &old); /* the allocating thread never takes the signal */
	pthread_create(&t, NULL, sig_alloc_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	struct itimerval it = {{0, 500}, {0, 500}};
	setitimer(ITIMER_REAL, &it, NULL);
	volatile uint64_t x = 1;
	while (sig_handled < n)
		x = x * 3 + 1;
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	sig_stop = 1;
	pthread_join(t, NULL);
	free(sig_last);
	printf("signals handled>=%d\n", n);
	return 0;
}

/* ---- exit() from a thread while others allocate; abort() ---- */

static void *exit_thread(void *arg)
{
	(void)arg;
	char *p = malloc(100);
	strcpy(p, "exit from thread");
	printf("%s\n", p);
	exit(23);
}

static void at_exit_alloc(void)
{
	char *p = strdup("atexit handler allocates");
	printf("%s\n", p);
	free(p);
}

static int mode_threadexit(void)
{
	atexit(at_exit_alloc);
	pthread_t busy, ex;
	pthread_create(&busy, NULL, sig_alloc_thread, NULL); /* runs until the process goes */
	struct timespec nap = {0, 20000000};
	nanosleep(&nap, NULL);
	pthread_create(&ex, NULL, exit_thread, NULL);
	for (;;)
		free(malloc(48));
	return 0;
}

static int mode_abort(void)
{
	char *p = malloc(77);
	strcpy(p, "about to abort");
	printf("%s\n", p);
	fflush(stdout);
	abort();
}

/* idle MS: holds 100 blocks and sleeps (no allocation call) for MS milliseconds; exits 0 with
 * _exit when asked (argv[3] = "quick"), so that a damaged segment is not touched again at exit. */
static int mode_idle(int argc, char **argv)
{
	long ms = argc > 2 ? atol(argv[2]) : 3000;
	void *b[100];
	for (int i = 0; i < 100; i++)
		b[i] = malloc(100 + (size_t)i);
	printf("idle holding 100 blocks\n");
	fflush(stdout);
	struct timespec nap = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&nap, NULL);
	if (argc > 3 && !strcmp(argv[3], "quick"))
		_exit(0);
	for (int i = 0; i < 100; i++)
		free(b[i]);
	return 0;
}

/* ---- late MS PATHS [EXIT_CODE]: sleeps MS, then allocates one block from each of PATHS call
 * paths (20 calls deep, each call through late_a or late_b by a bit of the path's number: PATHS
 * distinct stacks), frees them, exits. For a /dev/shm that fills while the process sleeps. ---- */

static volatile uintptr_t late_sink;
static void *late_b(unsigned path, int depth);

static __attribute__((noinline)) void *late_a(unsigned path, int depth)
{
	void *p = depth == 0 ? malloc(16 + path % 64)
			     : ((path >> depth) & 1 ? late_b : late_a)(path, depth - 1);
	late_sink += (uintptr_t)p; /* after the call: no tail call */
	return p;
}

static __attribute__((noinline)) void *late_b(unsigned path, int depth)
{
	void *p = depth == 0 ? malloc(16 + path % 64)
			     : ((path >> depth) & 1 ? late_b : late_a)(path, depth - 1);
	late_sink += (uintptr_t)p + 1; /* differs from late_a's: the two are never merged */
	return p;
}

static int mode_late(int argc, char **argv)
{
	long ms = argc > 2 ? atol(argv[2]) : 1000;
	long paths = argc > 3 ? atol(argv[3]) : 1000;
	int code = argc > 4 ? atoi(argv[4]) : 0;
	void **b = calloc((size_t)paths, sizeof *b);
	if (!b)
		return 1;
	struct timespec nap = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&nap, NULL);
	long allocated = 0;
	for (long i = 0; i < paths; i++)
		allocated += (b[i] = late_a((unsigned)i, 20)) != NULL;
	for (long i = 0; i < paths; i++)
		free(b[i]);
	free(b);
	printf("late paths=%ld allocated=%ld\n", paths, allocated);
	return code;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "work"))
		return mode_work(argc, argv);
	if (!strcmp(mode, "storm"))
		return mode_storm(argc, argv);
	if (!strcmp(mode, "requests"))
		return mode_requests();
	if (!strcmp(mode, "churn"))
		return mode_churn(argc, argv);
	if (!strcmp(mode, "forkstorm"))
		return mode_forkstorm(argc, argv);
	if (!strcmp(mode, "execchain"))
		return mode_execchain(argc, argv);
	if (!strcmp(mode, "dlopen"))
		return mode_dlopen(argc, argv);
	if (!strcmp(mode, "signals"))
		return mode_signals(argc, argv);
	if (!strcmp(mode, "threadexit"))
		return mode_threadexit();
	if (!strcmp(mode, "abort"))
		return mode_abort();
	if (!strcmp(mode, "idle"))
		return mode_idle(argc, argv);
	if (!strcmp(mode, "late"))
		return mode_late(argc, argv);
	fprintf(stderr, "usage: rel_target work|storm|requests|churn|forkstorm|execchain|dlopen|"
			"signals|threadexit|abort|idle|late [ARGS]\n");
	return 2;
}
