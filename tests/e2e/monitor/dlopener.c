/* Loads the plugin given on the command line after start, allocates through it, keeps the block,
 * and lives on briefly. */
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	void *h = dlopen(argv[1], RTLD_NOW);
	if (!h) {
		fprintf(stderr, "%s\n", dlerror());
		return 1;
	}
	void *(*fn)(void) = (void *(*)(void))dlsym(h, "plugin_alloc");
	static void *volatile keep;
	keep = fn();
	/* stay a moment: the monitor reads the map when it sees the MAPS_CHANGED event, and a process
	 * that is already gone has no map left to read (see the note in dlopen.sh) */
	usleep(300000);
	return keep == NULL;
}
