/* dlopen/dlclose churn for the unwinder: loads plugin A, allocates through it, unloads it, then the
 * same with plugin B (same code, another frame size), ROUNDS times. Both are mapped at the same
 * address, so a rule cached for A's pcs must never be served for B's. Frees everything.
 * usage: dlchurn PLUGIN_A PLUGIN_B ROUNDS */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

static int dlchurn_round(const char *path, int n)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return -1;
	}
	char *(*make)(int) = (char *(*)(int))dlsym(h, "plugin_frame_make");
	for (int i = 0; i < 20; i++)
		free(make(n + i));
	dlclose(h);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: dlchurn PLUGIN_A PLUGIN_B ROUNDS\n");
		return 2;
	}
	int rounds = atoi(argv[3]);
	for (int r = 0; r < rounds; r++)
		if (dlchurn_round(argv[1], r) || dlchurn_round(argv[2], r))
			return 1;
	printf("%d rounds\n", rounds);
	return 0;
}
