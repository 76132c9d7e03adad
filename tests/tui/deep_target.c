/* deep_target: a target whose biggest block is allocated DEPTH calls deep, for the tests of the
 * stack panel (tests/tui/tui_ux.py). Writes its pid to PIDFILE, then waits to be killed; it must
 * never exit on its own. usage: deep_target PIDFILE DEPTH */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static void *kept;

static NOINLINE int deep_call(int depth)
{
	if (depth <= 1) {
		kept = malloc(1 << 20);
		return kept != NULL;
	}
	int r = deep_call(depth - 1);
	return r + (kept == NULL); /* work after the call: no tail call, one frame per level */
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	deep_call(atoi(argv[2]));
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, (size_t)n) != n)
		return 1;
	close(fd);
	for (;;)
		pause();
}
