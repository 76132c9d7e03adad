/* churn2: two threads allocate and free at churn_a / churn_b, each holding up to 512 blocks, for
 * the attach-detach stress test. stdin: "pause" (both threads stop at a quiescent point; prints
 * "paused BYTES BLOCKS": what they hold), "resume", "exit". Nothing else on stdout. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOLD 512

struct churner {
	pthread_t t;
	unsigned seed;
	void *held[HOLD];
	size_t size[HOLD];
};

static struct churner ch[2];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int paused, parked, quit;

__attribute__((noinline)) static void *churn_a(size_t n)
{
	return malloc(n);
}

__attribute__((noinline)) static void *churn_b(size_t n)
{
	return calloc(1, n);
}

/* Parks while paused; returns false once asked to quit. */
static int checkpoint(void)
{
	pthread_mutex_lock(&lock);
	if (paused) {
		parked++;
		pthread_cond_broadcast(&cond);
		while (paused && !quit)
			pthread_cond_wait(&cond, &lock);
		parked--;
	}
	int go = !quit;
	pthread_mutex_unlock(&lock);
	return go;
}

static void *run(void *arg)
{
	struct churner *c = arg;
	void *(*site)(size_t) = c == &ch[0] ? churn_a : churn_b;
	for (unsigned i = 0;; i++) {
		if ((i & 63) == 0) {
			if (!checkpoint())
				break;
			nanosleep(&(struct timespec){.tv_nsec = 200000}, NULL);
		}
		c->seed = c->seed * 1103515245u + 12345u;
		unsigned k = (c->seed >> 8) % HOLD;
		free(c->held[k]);
		c->size[k] = 16 + (c->seed >> 20) % 200;
		c->held[k] = c->seed & 0x10000 ? NULL : site(c->size[k]);
		if (!c->held[k])
			c->size[k] = 0;
		if (c->held[k] && (c->seed & 0x20000)) { /* some grow by realloc (flagged, moved) */
			void *p = realloc(c->held[k], c->size[k] + 300);
			if (p) {
				c->held[k] = p;
				c->size[k] += 300;
			}
		}
	}
	return NULL;
}

int main(void)
{
	char line[64];
	ch[0].seed = 1;
	ch[1].seed = 2;
	for (int i = 0; i < 2; i++)
		if (pthread_create(&ch[i].t, NULL, run, &ch[i]) != 0)
			return 1;
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof line, stdin)) {
		pthread_mutex_lock(&lock);
		if (!strncmp(line, "pause", 5)) {
			paused = 1;
			while (parked < 2)
				pthread_cond_wait(&cond, &lock);
			unsigned long long bytes = 0, blocks = 0;
			for (int i = 0; i < 2; i++)
				for (int k = 0; k < HOLD; k++)
					if (ch[i].held[k]) {
						bytes += ch[i].size[k];
						blocks++;
					}
			printf("paused %llu %llu\n", bytes, blocks);
			fflush(stdout);
		} else if (!strncmp(line, "resume", 6)) {
			paused = 0;
			pthread_cond_broadcast(&cond);
		} else if (!strncmp(line, "exit", 4)) {
			quit = 1;
			pthread_cond_broadcast(&cond);
			pthread_mutex_unlock(&lock);
			break;
		}
		pthread_mutex_unlock(&lock);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(ch[i].t, NULL);
	return 0;
}
