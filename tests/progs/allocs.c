/* Every interposed allocation function at its own call site, with known counts and sizes, plus the
 * failure cases that must return exactly what glibc returns (value and errno) and produce no block.
 * Exits with status 3 so the consumer's pass-through of the exit status is checked too. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "expect.h"

/* volatile so the compiler cannot see (and warn about) the impossible sizes */
static volatile size_t huge = SIZE_MAX;

SITE static void site_malloc(void)
{
	for (int i = 0; i < 10; i++)
		keep(malloc(100));
	for (int i = 0; i < 5; i++)
		free(malloc(50));
	EXPECT("site_malloc", 15, 10, 1000);
}

SITE static void site_calloc(void)
{
	for (int i = 0; i < 4; i++) {
		unsigned char *p = keep(calloc(3, 33));
		for (int j = 0; j < 99; j++)
			CHECK(p[j] == 0);
	}
	EXPECT("site_calloc", 4, 4, 396);
}

SITE static void site_realloc_grow(void)
{
	char *p = malloc(10);
	memcpy(p, "abcdefghi", 10);
	p = realloc(p, 20);
	p = realloc(p, 5000);
	p = realloc(p, 100000);
	CHECK(p && !strcmp(p, "abcdefghi"));
	keep(p);
	EXPECT("site_realloc_grow", 4, 1, 100000);
}

SITE static void site_realloc_shrink(void)
{
	char *p = malloc(4000);
	p = realloc(p, 30);
	keep(p);
	EXPECT("site_realloc_shrink", 2, 1, 30);
}

/* Grows past the mmap threshold: the block moves from the heap to its own mapping, in another
 * 64 MiB region, so the realloc's END goes to another lane than its BEGIN (split); then back. */
SITE static void site_realloc_across(void)
{
	char *p = malloc(64);
	memcpy(p, "across", 7);
	p = realloc(p, 4u << 20);
	p = realloc(p, 8u << 20);
	char *q = malloc(100);
	memcpy(q, p, 7);
	free(p);
	q = realloc(q, 6u << 20);
	CHECK(q && !strcmp(q, "across"));
	keep(q);
	EXPECT("site_realloc_across", 5, 1, 6u << 20);
}

SITE static void site_realloc_null(void)
{
	keep(realloc(NULL, 77));
	EXPECT("site_realloc_null", 1, 1, 77);
}

SITE static void site_realloc_zero(void)
{
	void *p = malloc(40);
	errno = 0;
	CHECK(realloc(p, 0) == NULL); /* glibc: frees p */
	EXPECT("site_realloc_zero", 1, 0, 0);
}

SITE static void site_realloc_fail(void)
{
	void *p = keep(malloc(16));
	errno = 0;
	CHECK(realloc(p, huge / 2) == NULL && errno == ENOMEM);
	/* the failed realloc leaves p allocated, attributed to its first call site (here) */
	EXPECT("site_realloc_fail", 1, 1, 16);
}

SITE static void site_reallocarray(void)
{
	keep(reallocarray(NULL, 10, 12));
	errno = 0;
	CHECK(reallocarray(NULL, huge, 2) == NULL && errno == ENOMEM);
	EXPECT("site_reallocarray", 1, 1, 120);
}

SITE static void site_posix_memalign(void)
{
	for (int i = 0; i < 3; i++) {
		void *p = NULL;
		CHECK(posix_memalign(&p, 64, 200) == 0 && ((uintptr_t)p & 63) == 0);
		keep(p);
	}
	void *q = (void *)1;
	errno = 0;
	CHECK(posix_memalign(&q, 3, 10) == EINVAL && q == (void *)1 && errno == 0);
	EXPECT("site_posix_memalign", 3, 3, 600);
}

SITE static void site_aligned_alloc(void)
{
	for (int i = 0; i < 2; i++) {
		void *p = keep(aligned_alloc(128, 256));
		CHECK(((uintptr_t)p & 127) == 0);
	}
	EXPECT("site_aligned_alloc", 2, 2, 512);
}

SITE static void site_memalign(void)
{
	void *p = keep(memalign(32, 100));
	CHECK(((uintptr_t)p & 31) == 0);
	EXPECT("site_memalign", 1, 1, 100);
}

SITE static void site_valloc(void)
{
	void *p = keep(valloc(1000));
	CHECK(((uintptr_t)p & 4095) == 0);
	EXPECT("site_valloc", 1, 1, 1000);
}

SITE static void site_pvalloc(void)
{
	void *p = keep(pvalloc(5000));
	CHECK(((uintptr_t)p & 4095) == 0 && malloc_usable_size(p) >= 8192);
	EXPECT("site_pvalloc", 1, 1, 5000);
}

SITE static void site_strdup(void)
{
	for (int i = 0; i < 3; i++)
		keep(strdup("hello world"));
	keep(strndup("abcdef", 3));
	EXPECT("site_strdup", 4, 4, 40);
}

SITE static void site_failures(void)
{
	errno = 0;
	CHECK(malloc(huge) == NULL && errno == ENOMEM);
	errno = 0;
	CHECK(calloc(huge / 2, 4) == NULL && errno == ENOMEM);
	errno = 0;
	CHECK(aligned_alloc(64, huge - 100) == NULL && errno == ENOMEM);
	free(NULL);
	/* errno is preserved across successful calls and free */
	errno = 1234;
	void *p = malloc(24);
	free(p);
	CHECK(errno == 1234);
	EXPECT("site_failures", 1, 0, 0);
}

int main(void)
{
	expect_init();
	site_malloc();
	site_calloc();
	site_realloc_grow();
	site_realloc_shrink();
	site_realloc_across();
	site_realloc_null();
	site_realloc_zero();
	site_realloc_fail();
	site_reallocarray();
	site_posix_memalign();
	site_aligned_alloc();
	site_memalign();
	site_valloc();
	site_pvalloc();
	site_strdup();
	site_failures();
	fflush(stdout);
	return 3;
}
