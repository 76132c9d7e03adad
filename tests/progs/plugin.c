/* A plugin for dlopen_prog: returns a freshly allocated string. */
#include <stdio.h>
#include <stdlib.h>

char *plugin_make(int n); /* looked up with dlsym by dlopen_prog.c */

char *plugin_make(int n)
{
	char *s = malloc(64);
	snprintf(s, 64, "plugin string %d", n);
	return s;
}
