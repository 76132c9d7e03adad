/* Thread churn: thousands of short-lived threads, some joined and some detached, each allocating a
 * little. Checks that thread slots are released and reused (the table holds far fewer slots).
 * usage: churn THREADS; prints the number of threads run. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int live_detached;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;

static void *body(void *arg)
{
	int detached = arg != NULL;
	for (int i = 0; i < 8; i++) {
		char *p = malloc(32 + (size_t)i * 10);
		memset(p, i, 32);
		free(p);
	}
	if (detached) {
		pthread_mutex_lock(&lock);
		live_detached--;
		pthread_cond_signal(&done);
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 5000;
	for (int i = 0; i < n; i++) {
		pthread_t t;
		if (i % 3 == 0) {
			pthread_attr_t attr;
			pthread_attr_init(&attr);
			pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
			pthread_mutex_lock(&lock);
			live_detached++;
			pthread_mutex_unlock(&lock);
			if (pthread_create(&t, &attr, body, (void *)1))
				return 1;
			pthread_attr_destroy(&attr);
		} else {
			if (pthread_create(&t, NULL, body, NULL))
				return 1;
			pthread_join(t, NULL);
		}
	}
	pthread_mutex_lock(&lock);
	while (live_detached > 0)
		pthread_cond_wait(&done, &lock);
	pthread_mutex_unlock(&lock);
	usleep(10000); /* let the last detached threads finish their TLS destructors */
	printf("threads %d\n", n);
	return 0;
}
