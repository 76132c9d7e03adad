/* Allocator wrappers: xmalloc (a built-in wrapper name) called from two callers, and pool_get (a
 * project's own wrapper, named with --skip-frames) from a third. Each wrapper is noinline, so it is
 * a frame of its own at the top of its callers' stacks. */
#include <stdlib.h>

#include "expect.h"

void *xmalloc(size_t n); /* external, as in the projects that have one */
static volatile int three = 3, two = 2; /* loops the compiler cannot unroll into more call sites */

SITE void *xmalloc(size_t n)
{
	return keep(malloc(n));
}

SITE static void *pool_get(size_t n)
{
	return keep(malloc(n));
}

SITE static void caller_a(void)
{
	for (int i = 0; i < three; i++)
		xmalloc(100);
}

SITE static void caller_b(void)
{
	for (int i = 0; i < two; i++)
		xmalloc(200);
}

SITE static void caller_c(void)
{
	pool_get(300);
}

int main(void)
{
	caller_a();
	caller_b();
	caller_c();
	return 0;
}
