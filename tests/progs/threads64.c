/* 64 threads allocating and freeing at once; prints a checksum that does not depend on timing. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 64

static void *run(void *arg)
{
	uintptr_t id = (uintptr_t)arg, sum = 0;
	void *ring[32] = {0};
	for (int i = 0; i < 20000; i++) {
		int k = i & 31;
		free(ring[k]);
		size_t n = 8 + (size_t)((i * 7 + id) % 500);
		ring[k] = malloc(n);
		memset(ring[k], (int)id, n);
		sum += ((unsigned char *)ring[k])[n - 1];
	}
	for (int k = 0; k < 32; k++)
		free(ring[k]);
	return (void *)sum;
}

int main(void)
{
	pthread_t t[THREADS];
	uintptr_t total = 0;
	for (uintptr_t i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, run, (void *)i))
			return 1;
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		total += (uintptr_t)r;
	}
	printf("threads %d checksum %lu\n", THREADS, (unsigned long)total);
	return 0;
}
