/* Target for the engine e2e driver: allocations in phases separated by tags and by files the driver
 * creates, so incremental walks, expiry, tags and the heatmap can be checked with exact numbers.
 * usage: phases DIR   (creates DIR/p1, waits for DIR/go1, creates DIR/p2, waits for DIR/go2) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "memtop/memtop.h"

#define SITE __attribute__((noinline, noclone))

static void *kept[200];
static int nkept;

static void touch(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	if (fd >= 0)
		close(fd);
}

static void wait_for(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	for (int i = 0; i < 60000 && access(path, F_OK) != 0; i++)
		usleep(1000);
}

SITE static void site_first(void)
{
	for (int i = 0; i < 100; i++)
		kept[nkept++] = malloc(40);
}

SITE static void site_second(void)
{
	for (int i = 0; i < 7; i++)
		kept[nkept++] = malloc(33);
}

SITE static void site_big(void)
{
	for (int i = 0; i < 3; i++)
		kept[nkept++] = malloc(1 << 20);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	site_first();
	memtop_mark("t1");
	touch(argv[1], "p1");
	wait_for(argv[1], "go1");
	site_second();
	memtop_mark("t2");
	site_big();
	memtop_mark("t3");
	touch(argv[1], "p2");
	wait_for(argv[1], "go2");
	return 0;
}
