/* Target for the stripped-binary and build-id tests: two leaking call sites in static functions
 * (invisible once the binary is stripped) and one inlined helper, so offline symbolization has
 * something to recover; built a second time with LEAKS_REBUILD as another build of it. */
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

#ifdef LEAKS_REBUILD
/* "build 2" of this program (the build-id test): other code before the leaking functions, so that
 * their offsets in build 1 name other code here */
int rebuilt_only_checksum(const unsigned char *p, int n); /* external: kept in the symbol table */
SITE int rebuilt_only_checksum(const unsigned char *p, int n)
{
	int h = 7;
	for (int i = 0; i < n; i++)
		h = h * 31 + p[i] * (i % 5 + 1) - (h >> 3);
	return h;
}
#endif

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
#ifdef LEAKS_REBUILD
	return rebuilt_only_checksum(sink[0], 111) == 1;
#endif
	return sink[0] == NULL;
}
