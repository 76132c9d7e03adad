/* sampleheap: several hundred MiB held at three sites with no monitor, for the sampled live table
 * test: 1 Mi blocks of 64 B (site_small), 32 Ki of 4 KiB (site_page), 128 of 1 MiB (site_mega),
 * allocated interleaved as a program would. Prints "ready", then waits for "exit" on stdin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_SMALL (1u << 20)
#define N_PAGE (1u << 15)
#define N_MEGA 128u

static void *small[N_SMALL], *page[N_PAGE], *mega[N_MEGA];

__attribute__((noinline)) static void *site_small(void)
{
	return malloc(64);
}

__attribute__((noinline)) static void *site_page(void)
{
	return malloc(4096);
}

__attribute__((noinline)) static void *site_mega(void)
{
	return malloc(1u << 20);
}

int main(void)
{
	char line[64];
	unsigned s = 0, p = 0, m = 0;
	/* 8192 rounds of 128 small, 4 pages, and a mega block every 64 rounds */
	for (unsigned r = 0; r < 8192; r++) {
		for (unsigned k = 0; k < 128; k++)
			small[s++] = site_small();
		for (unsigned k = 0; k < 4; k++)
			page[p++] = site_page();
		if (r % 64 == 0)
			mega[m++] = site_mega();
	}
	printf("ready %u %u %u\n", s, p, m);
	fflush(stdout);
	while (fgets(line, sizeof line, stdin))
		if (!strncmp(line, "exit", 4))
			break;
	return 0;
}
