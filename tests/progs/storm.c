/* Allocation storm for benchmarks and the ring-full stress test: T threads each make N
 * malloc/free calls (sizes 16..1040, a window of 64 live blocks per thread). Prints the wall time
 * in ns and ns per call on stderr when asked (-v), nothing on stdout.
 * usage: storm THREADS CALLS_PER_THREAD [-v] */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long calls_per_thread;

static void *run(void *arg)
{
	uintptr_t seed = (uintptr_t)arg * 2654435761u + 1;
	void *win[64] = {0};
	for (long i = 0; i < calls_per_thread / 2; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		int k = (int)(seed >> 58);
		free(win[k]);
		win[k] = malloc(16 + (size_t)((seed >> 33) & 1023));
	}
	for (int k = 0; k < 64; k++)
		free(win[k]);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: storm THREADS CALLS_PER_THREAD [-v]\n");
		return 2;
	}
	int threads = atoi(argv[1]);
	calls_per_thread = atol(argv[2]);
	if (threads < 1 || threads > 1024 || calls_per_thread < 2)
		return 2;
	pthread_t *t = calloc((size_t)threads, sizeof *t);
	struct timespec a, b, ca, cb;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ca);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, run, (void *)(uintptr_t)i);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cb);
	double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
	double cpu = (double)(cb.tv_sec - ca.tv_sec) * 1e9 + (double)(cb.tv_nsec - ca.tv_nsec);
	long calls = calls_per_thread * threads;
	/* cpu_ns: this process only (the target's own cost, without the consumer's) */
	if (argc > 3 && !strcmp(argv[3], "-v"))
		fprintf(stderr, "storm threads %d calls %ld wall_ns %.0f ns_per_call %.2f cpu_ns %.0f "
			"cpu_ns_per_call %.2f\n", threads, calls, ns, ns / (double)calls * threads, cpu,
			cpu / (double)calls);
	free(t);
	return 0;
}
