/* Helpers for target programs with known allocation patterns: each prints "expect" lines that the
 * e2e checker compares with what the consumer saw. Site functions are noinline so that each call
 * site has its own function in the stack. Never allocates itself (printf to stdout is set up first). */
#ifndef MEMTOP_TEST_EXPECT_H
#define MEMTOP_TEST_EXPECT_H

#include <stdio.h>
#include <stdlib.h>

#define SITE __attribute__((noinline, noclone))

/* allocs: allocation events at the site; live_blocks/live_bytes: still allocated at exit
 * (requested sizes). */
#define EXPECT(site, allocs, blocks, bytes)                                                   \
	printf("expect %s allocs %lu live_blocks %lu live_bytes %lu\n", site,                  \
	       (unsigned long)(allocs), (unsigned long)(blocks), (unsigned long)(bytes))

#define CHECK(cond)                                                                           \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			exit(1);                                                              \
		}                                                                             \
	} while (0)

/* Keeps pointers alive until exit so the consumer sees them as live blocks. */
static void *expect_keep[4096];
static int expect_nkeep;
static inline void *keep(void *p)
{
	CHECK(p != NULL && expect_nkeep < 4096);
	expect_keep[expect_nkeep++] = p;
	return p;
}

/* Sets stdout up before anything is counted, so its buffer is allocated at a known moment. */
static inline void expect_init(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("expect-begin\n");
}

#endif
