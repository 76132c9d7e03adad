/* Target for the approximate-count display: frees 3 blocks behind the preload's back (glibc's
 * __libc_free, which no interposer sees), so each next malloc of that address reaches the monitor
 * as a duplicate allocation: 3 duplicate_allocs, 100 B in 1 block live at the end. */
#include <stdlib.h>

extern void __libc_free(void *);

int main(void)
{
	for (int i = 0; i < 3; i++)
		__libc_free(malloc(100));
	return malloc(100) == NULL;
}
