/* A library the dlopen test loads at run time: its frames must be symbolized although it was not
 * mapped when memtop attached (MAPS_CHANGED refresh). */
#include <stdlib.h>

__attribute__((noinline)) void *plugin_alloc(void)
{
	return malloc(4321);
}
