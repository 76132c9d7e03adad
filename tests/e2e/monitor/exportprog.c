/* Known allocation patterns for the export formats (pprof, folded, massif): a kept site, a churned
 * site, a site reached through an inlined helper, and a burst that makes the peak. With "hold" it
 * prints "ready" and waits (bounded) for stdin to close, so `memtop snapshot PID` can be taken. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expect.h"

SITE static void keep_small(void)
{
	for (int i = 0; i < 10; i++)
		keep(malloc(100));
}

SITE static void churn(void)
{
	for (int i = 0; i < 5; i++)
		free(malloc(1000));
}

static inline __attribute__((always_inline)) void *inl_alloc(size_t n)
{
	return malloc(n);
}

SITE static void inl_user(void)
{
	for (int i = 0; i < 3; i++)
		keep(inl_alloc(64));
}

SITE static void peak_burst(void)
{
	void *p[20];
	for (int i = 0; i < 20; i++)
		p[i] = malloc(4096);
	for (int i = 0; i < 20; i++)
		free(p[i]);
}

int main(int argc, char **argv)
{
	keep_small();
	churn();
	inl_user();
	peak_burst();
	if (argc > 1 && strcmp(argv[1], "hold") == 0) {
		write(1, "ready\n", 6);
		char c;
		alarm(60); /* bounded: the test closes stdin, or SIGALRM ends it */
		while (read(0, &c, 1) > 0)
			;
	}
	return 0;
}
