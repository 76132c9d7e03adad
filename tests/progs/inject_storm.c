/* An allocation storm with no end of its own, for the memtop inject stress test: T threads make
 * malloc/free calls (sizes 16..1040, a window of 64 live blocks each) until SIGUSR1, while the
 * main thread waits in pthread_join: no thread ever waits in a system call the injector may use,
 * so it must take a thread at malloc's entry. Each thread yields the CPU every 64 calls
 * (sched_yield, not a waiting call), so that a monitor shares a busy machine. Exits 0 after
 * printing the calls made.
 * usage: inject_storm THREADS */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static volatile sig_atomic_t stop;

static void on_usr1(int sig)
{
	(void)sig;
	stop = 1;
}

static void *run(void *arg)
{
	uintptr_t seed = (uintptr_t)arg * 2654435761u + 1;
	void *win[64] = {0};
	long calls = 0;
	while (!stop) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		int k = (int)(seed >> 58);
		free(win[k]);
		win[k] = malloc(16 + (size_t)((seed >> 33) & 1023));
		calls += 2;
		if ((calls & 127) == 0)
			sched_yield();
	}
	for (int k = 0; k < 64; k++)
		free(win[k]);
	return (void *)calls;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 8;
	pthread_t th[64];
	if (n < 1 || n > 64)
		return 2;
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	for (int i = 0; i < n; i++)
		pthread_create(&th[i], NULL, run, (void *)(uintptr_t)(i + 1));
	long total = 0;
	for (int i = 0; i < n; i++) {
		void *calls;
		pthread_join(th[i], &calls);
		total += (long)calls;
	}
	printf("calls %s\n", total > 0 ? "made" : "none");
	return 0;
}
