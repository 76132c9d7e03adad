/* lateheap: a known heap built with no monitor, for the late-attach tests. Builds, at named
 * functions, 1000 blocks of 64 B (keep_small), 100 of 4096 B (keep_medium), 10 grown by realloc
 * to 3000 B (keep_realloc); one thread churns (churn_site) allocating and freeing. Commands on
 * stdin: "stop" (the churn frees everything and stops; prints "stopped"), "exit". Never writes
 * anything but its protocol lines on stdout. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHURN_HOLD 256

static void *small[1000], *medium[100], *grown[10];
static volatile int churn_stop;

__attribute__((noinline)) static void keep_small(void)
{
	for (int i = 0; i < 1000; i++)
		small[i] = malloc(64);
}

__attribute__((noinline)) static void keep_medium(void)
{
	for (int i = 0; i < 100; i++)
		medium[i] = malloc(4096);
}

__attribute__((noinline)) static void keep_realloc(void)
{
	for (int i = 0; i < 10; i++) {
		grown[i] = malloc(100);
		grown[i] = realloc(grown[i], 3000);
	}
}

__attribute__((noinline)) static void *churn_site(size_t n)
{
	return malloc(n);
}

/* Keeps up to CHURN_HOLD blocks, replacing one at a time, until asked to stop; then frees all. */
static void *churn(void *arg)
{
	void *held[CHURN_HOLD] = {0};
	unsigned i = 0;
	(void)arg;
	while (!__atomic_load_n(&churn_stop, __ATOMIC_ACQUIRE)) {
		unsigned k = i++ % CHURN_HOLD;
		free(held[k]);
		held[k] = churn_site(32 + (i % 7) * 16);
		if (k == 0) /* bounded rate: a monitor's drain must see an empty ring now and then */
			nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	}
	for (unsigned k = 0; k < CHURN_HOLD; k++)
		free(held[k]);
	return NULL;
}

int main(void)
{
	pthread_t t;
	char line[64];
	keep_small();
	keep_medium();
	keep_realloc();
	if (pthread_create(&t, NULL, churn, NULL) != 0)
		return 1;
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof line, stdin)) {
		if (!strncmp(line, "stop", 4)) {
			__atomic_store_n(&churn_stop, 1, __ATOMIC_RELEASE);
			pthread_join(t, NULL);
			printf("stopped\n");
			fflush(stdout);
		} else if (!strncmp(line, "exit", 4)) {
			break;
		}
	}
	return 0;
}
