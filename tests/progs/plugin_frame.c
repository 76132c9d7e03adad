/* A plugin for dlchurn: built twice with different FRAME sizes (same code layout, another stack
 * frame), so that after dlclose of one the other is loaded at the same address with the same pcs
 * and other unwind rules. An unwinder serving a rule cached before the dlclose gets it wrong. */
#include <stdlib.h>

#ifndef FRAME
#define FRAME 256
#endif

char *plugin_frame_make(int n); /* looked up with dlsym by dlchurn.c */

char *plugin_frame_make(int n)
{
	volatile char buf[FRAME];
	buf[0] = (char)n;
	buf[FRAME - 1] = (char)(n >> 8);
	char *p = malloc(16 + (size_t)(unsigned char)buf[0] + (size_t)(unsigned char)buf[FRAME - 1]);
	if (p)
		p[0] = buf[0];
	return p;
}
