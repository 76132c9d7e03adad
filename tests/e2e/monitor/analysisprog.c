/* Known answers to heaptrack's questions: keep_early holds 500 B (5 blocks) through a burst of
 * 10,000 B (10 blocks) that makes the peak (10,500 B) and is freed; late_keep then holds 2,000 B
 * (20 blocks) that were not live at the peak. temp_churn frees each of its 7 blocks before any
 * other allocation (7 temporary); pair_alloc allocates two blocks at a time (two call sites once
 * the compiler unrolls the pair) and frees the first after the second was allocated: the second's
 * 3 are temporary, the first's none. Sizes: 5x100 + 20x100 + 7x64 in
 * 64-127, 10x1000 in 512-1023, 6x32 in 32-63. Nothing else allocates (no stdio).
 * `analysisprog timeline`: 1000 B, 60 ms, 1000 B more, 60 ms, both freed: the timeline's points
 * are 1000 at 0 ms, 2000 at 60 ms or later, 1000 at 120 ms or later, by the coarse clock that
 * stamps records (a tick or two early at times) (the last free falls in the same millisecond as
 * the one before, usually: no point of its own).
 * `analysisprog spike`: 1000 B, then at once 50,000 B held for 50 ms and freed, 1000 B kept: the
 * spike comes within the first point's millisecond, so no point holds it; the true peak is 51,000. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expect.h"

static volatile int ten = 10, seven = 7, three = 3, five = 5, twenty = 20;

SITE static void keep_early(void)
{
	for (int i = 0; i < five; i++)
		keep(malloc(100));
}

SITE static void burst(void)
{
	void *p[10];
	for (int i = 0; i < ten; i++)
		p[i] = malloc(1000);
	for (int i = 0; i < ten; i++)
		free(p[i]);
}

SITE static void late_keep(void)
{
	for (int i = 0; i < twenty; i++)
		keep(malloc(100));
}

SITE static void temp_churn(void)
{
	for (int i = 0; i < seven; i++)
		free(malloc(64));
}

SITE static void pair_alloc(void)
{
	for (int i = 0; i < three; i++) {
		void *p[2];
		for (int j = 0; j < 2; j++)
			p[j] = malloc(32);
		free(p[0]);
		free(p[1]);
	}
}

static void pause_ms(long ms)
{
	struct timespec ts = {0, ms * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

SITE static void timeline(void)
{
	void *a = malloc(1000);
	pause_ms(60);
	void *b = malloc(1000);
	pause_ms(60);
	free(a);
	free(b);
}

SITE static void spike(void)
{
	keep(malloc(1000));
	void *big = malloc(50000);
	pause_ms(50);
	free(big);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "spike") == 0) {
		spike();
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "timeline") == 0) {
		timeline();
		return 0;
	}
	keep_early();
	burst();
	late_keep();
	temp_churn();
	pair_alloc();
	return 0;
}
