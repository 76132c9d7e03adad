/* Target that leaks a known block and then dies of SIGABRT: memtop must keep the final state, say
 * "crashed" with the signal, and pass 128+6 through. */
#include <stdlib.h>

static void *volatile keep;

int main(void)
{
	keep = malloc(1234);
	abort();
}
