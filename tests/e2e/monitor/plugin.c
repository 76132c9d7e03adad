/* A library the dlopen test loads at run time: its frames must be symbolized although it was not
 * mapped when memtop attached (MAPS_CHANGED refresh). */
#include <stdlib.h>

void *plugin_alloc(void); /* looked up with dlsym by dlopener.c */

__attribute__((noinline)) void *plugin_alloc(void)
{
	return malloc(4321);
}
