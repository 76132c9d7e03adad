/* Two runs to compare with `memtop diff`: `diffprog N` keeps N blocks of 100 B at grow_site,
 * 10 - N blocks of 50 B at shrink_site, and 5 blocks of 64 B at stable_site whatever N is. */
#include <stdlib.h>

#include "expect.h"

SITE static void grow_site(int n)
{
	for (int i = 0; i < n; i++)
		keep(malloc(100));
}

SITE static void shrink_site(int n)
{
	for (int i = 0; i < n; i++)
		keep(malloc(50));
}

SITE static void stable_site(void)
{
	for (int i = 0; i < 5; i++)
		keep(malloc(64));
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 0;
	if (n < 0 || n > 10)
		return 2;
	grow_site(n);
	shrink_site(10 - n);
	stable_site();
	return 0;
}
