/* e2e target: `execchain N` execs itself N times (through /proc/self/exe); every image leaks a block
 * from its own call site, and the last one prints the figures memtop must report for it alone (the
 * report is the last image's) and exits 40 (the status memtop must pass through). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SITE __attribute__((noinline, noclone))

static void *volatile sink;

SITE static void site_chain_step(int n)
{
	sink = malloc(100 + (size_t)n);
}

SITE static void site_chain_last(void)
{
	sink = malloc(4321);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 3;
	if (n > 0) {
		site_chain_step(n);
		char num[16];
		snprintf(num, sizeof num, "%d", n - 1);
		char *args[] = {argv[0], num, NULL};
		execv("/proc/self/exe", args);
		perror("execv");
		return 1;
	}
	site_chain_last();
	printf("expect site_chain_last allocs 1 live_blocks 1 live_bytes 4321\n");
	printf("expect site_chain_step allocs 0 live_blocks 0 live_bytes 0\n");
	return 40;
}
