/* Prints whether glibc serves a 1 MiB and a 200 KB block with mmap (mallinfo2's count of mmapped
 * blocks goes up), so that a run under the preload can be compared with a bare run: the preload
 * must not change the allocator's state (its dynamic mmap threshold). glibc only. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

/* Allocates size bytes into *out and says whether that took one more mmapped block. */
static int alloc_mmapped(size_t size, void **out)
{
	size_t before = mallinfo2().hblks;
	*out = malloc(size);
	return mallinfo2().hblks == before + 1;
}

int main(void)
{
	void *mib, *kb200;
	int mib_mmapped = alloc_mmapped(1u << 20, &mib);
	int kb200_mmapped = alloc_mmapped(200000, &kb200);
	if (!mib || !kb200)
		return 1;
	printf("1MiB mmapped=%d 200KB mmapped=%d\n", mib_mmapped, kb200_mmapped);
	free(kb200);
	free(mib);
	return 0;
}
