/* A root process that allocates, then drops to uid 65534 (nobody) as nginx, postgres and sshd
 * workers do, through setuid, seteuid, setreuid or setresuid (MODE), or in a fork child (fork-MODE).
 * The process that drops prints "dropped PID", waits for GOFILE, keeps 2000 B more and exits 0.
 * Exits 1 when the uid change fails or changes errno. usage: uid_drop MODE GOFILE */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOBODY 65534

static int drop(const char *mode)
{
	errno = 4321; /* a successful call leaves errno alone: so must the preload */
	int rc = -1;
	if (strcmp(mode, "setuid") == 0)
		rc = setuid(NOBODY);
	else if (strcmp(mode, "seteuid") == 0)
		rc = seteuid(NOBODY);
	else if (strcmp(mode, "setreuid") == 0)
		rc = setreuid((uid_t)-1, NOBODY);
	else if (strcmp(mode, "setresuid") == 0)
		rc = setresuid(NOBODY, NOBODY, NOBODY);
	if (rc != 0 || errno != 4321 || geteuid() != NOBODY)
		return -1;
	/* a refused change (setuid back to root after a full drop) keeps its errno */
	if (strcmp(mode, "setuid") == 0 && (setuid(0) != -1 || errno != EPERM))
		return -1;
	return 0;
}

static int worker(const char *mode, const char *gofile)
{
	char *kept = malloc(1000);
	memset(kept, 1, 1000);
	if (drop(mode) != 0)
		return 1;
	char line[64];
	int n = snprintf(line, sizeof line, "dropped %d\n", (int)getpid());
	if (write(1, line, (size_t)n) != n)
		return 1;
	struct timespec nap = {0, 10 * 1000 * 1000};
	for (int i = 0; i < 3000 && access(gofile, F_OK) != 0; i++)
		nanosleep(&nap, NULL);
	char *more = malloc(2000);
	memset(more, 2, 2000);
	return kept[0] + more[0] == 3 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	if (strncmp(argv[1], "fork-", 5) != 0)
		return worker(argv[1], argv[2]);
	char *master = malloc(100); /* the master has its own segment, as root */
	pid_t child = fork();
	if (child == 0)
		_exit(worker(argv[1] + 5, argv[2]));
	int st = 0;
	if (child < 0 || waitpid(child, &st, 0) != child || !WIFEXITED(st))
		return 1;
	free(master);
	return WEXITSTATUS(st);
}
