/* Loads a plugin with dlopen, calls it (it allocates), unloads it, and prints what it got: the
 * output must be the same with and without the preload. The plugin path is argv[1]. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: dlopen_prog PLUGIN\n");
		return 2;
	}
	for (int round = 0; round < 3; round++) {
		void *h = dlopen(argv[1], RTLD_NOW);
		if (!h) {
			fprintf(stderr, "dlopen: %s\n", dlerror());
			return 1;
		}
		char *(*make)(int) = (char *(*)(int))dlsym(h, "plugin_make");
		char *s = make(round);
		printf("round %d: %s\n", round, s);
		free(s);
		dlclose(h);
	}
	return 0;
}
