/* Target for the stripped-binary test: two leaking call sites in static functions (invisible once the
 * binary is stripped) and one inlined helper, so offline symbolization has something to recover. */
#include <stdlib.h>
#include <string.h>

#define SITE __attribute__((noinline, noclone))

static void *sink[64];
static int nsink;

static inline __attribute__((always_inline)) void *inlined_helper(size_t n)
{
	void *p = malloc(n);
	memset(p, 1, n);
	return p;
}

SITE static void leak_in_static_one(void)
{
	for (int i = 0; i < 3; i++)
		sink[nsink++] = malloc(111);
}

SITE static void leak_in_static_two(void)
{
	sink[nsink++] = inlined_helper(2222);
}

int main(void)
{
	leak_in_static_one();
	leak_in_static_two();
	return sink[0] == NULL;
}
