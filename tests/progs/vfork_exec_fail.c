/* vfork whose child fails to exec and calls _exit(127), as a shell or posix_spawn fallback does:
 * the child runs in our memory, and its exit must not be taken for ours. Keeps 1000 B, then after
 * the child is reaped prints "vforked", waits for GOFILE to exist ("-": no wait), keeps 2000 B more,
 * allocates and frees 500 B, and returns 3. usage: vfork_exec_fail GOFILE */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void wait_for_file(const char *path)
{
	struct timespec nap = {0, 10 * 1000 * 1000};
	for (int i = 0; i < 3000 && strcmp(path, "-") != 0 && access(path, F_OK) != 0; i++)
		nanosleep(&nap, NULL);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	char *first = malloc(1000);
	memset(first, 1, 1000);
	pid_t child = vfork();
	if (child == 0) {
		execl("/nonexistent/memtop-test-program", "memtop-test-program", (char *)NULL);
		_exit(127);
	}
	int st = 0;
	if (child < 0 || waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 127)
		return 99;
	/* write(2), not stdio: a stdio buffer would be one more live block */
	if (write(1, "vforked\n", 8) != 8)
		return 98;
	wait_for_file(argv[1]);
	char *second = malloc(2000);
	memset(second, 2, 2000);
	char *brief = malloc(500);
	memset(brief, 3, 500);
	free(brief);
	return first[0] + second[0]; /* 3: both blocks stay live to the end */
}
