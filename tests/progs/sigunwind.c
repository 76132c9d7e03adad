/* Frees and allocates blocks in a signal handler delivered at a high rate (setitimer) while the main
 * thread allocates from deep stacks, so that many signals land while the preload unwinds for the
 * main thread's call. Every one of the handler's calls must be counted and recorded.
 * glibc is kept safe: the main thread allocates and frees one 32-byte block, always from its tcache
 * (after the first call), and the handler uses only blocks of 2 KiB and more (never the tcache), so
 * the two never touch the same allocator state. Prints the exact live set at exit:
 *   expect-live blocks N bytes B     and     handled N
 * Writes with write(2) only: stdio would allocate a buffer of unknown size. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define SLOTS 2048
#define SIGNALS_DEFAULT 20000
#define INTERVAL_US_DEFAULT 200
#define DEPTH 40

static void *volatile slots[SLOTS];
static volatile size_t sizes[SLOTS];
static volatile unsigned handled;
static volatile unsigned sink;

static size_t block_size(unsigned n)
{
	return 2048 + (n % 64) * 16;
}

/* One free and one allocation per signal, in a slot picked by the signal's number. */
static void on_tick(int sig)
{
	(void)sig;
	unsigned n = handled;
	unsigned k = (n * 2654435761u) % SLOTS;
	free(slots[k]);
	size_t size = block_size(n);
	slots[k] = (n & 1) ? calloc(1, size) : malloc(size);
	sizes[k] = slots[k] ? size : 0;
	handled = n + 1;
}

/* A deep stack for the unwinder to walk (no tail calls: work after each call). */
static __attribute__((noinline)) void *deep(int d)
{
	if (d == 0)
		return malloc(32);
	void *p = deep(d - 1);
	sink += (unsigned)d;
	return p;
}

static void say(const char *line)
{
	(void)!write(1, line, strlen(line));
}

int main(int argc, char **argv)
{
	unsigned signals = argc > 1 ? (unsigned)atoi(argv[1]) : SIGNALS_DEFAULT;
	long interval_us = argc > 2 ? atol(argv[2]) : INTERVAL_US_DEFAULT;
	for (unsigned k = 0; k < SLOTS; k++) {
		sizes[k] = block_size(k);
		slots[k] = malloc(sizes[k]);
	}
	free(deep(DEPTH)); /* the first call fills the tcache entry the loop then reuses */

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_tick;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval every = {{0, interval_us}, {0, interval_us}};
	setitimer(ITIMER_REAL, &every, NULL);
	unsigned long calls = 0;
	while (handled < signals) {
		free(deep(DEPTH));
		calls++;
	}
	sigset_t alrm;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sigprocmask(SIG_BLOCK, &alrm, NULL); /* no handler runs from here on */
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);

	/* Free every other slot; the rest stays live at exit. */
	unsigned long blocks = 0, bytes = 0;
	for (unsigned k = 0; k < SLOTS; k++) {
		if (k % 2 == 0) {
			free(slots[k]);
		} else if (slots[k]) {
			blocks++;
			bytes += sizes[k];
		}
	}
	char line[160];
	snprintf(line, sizeof line, "expect-live blocks %lu bytes %lu\nhandled %u calls %lu\n", blocks,
		 bytes, handled, calls);
	say(line);
	return 0;
}
