/* A program with DWARF and a build-id, whose debug sections the build compresses into a separate
 * debug file (objcopy) for test_debugcache. */
#include <stdio.h>

static int sample_square(int x)
{
	return x * x;
}

int main(int argc, char **argv)
{
	(void)argv;
	printf("%d\n", sample_square(argc));
	return 0;
}
