/* fork without exec, observed from both sides: the child's allocations must go to the child's own
 * segment (/memtop.<childpid>, created by its first allocation), never to the parent's ring.
 * The child prints "child PID" and waits for a line on stdin (time for a consumer to attach), then
 * allocates 100 blocks of 77 bytes in site_child and exits with _exit(5). The parent allocates in
 * site_parent, reaps the child and prints its status. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "expect.h"

SITE static void site_child(void)
{
	for (int i = 0; i < 100; i++)
		keep(malloc(77));
}

SITE static void site_parent(void)
{
	for (int i = 0; i < 10; i++)
		keep(malloc(55));
}

int main(void)
{
	expect_init();
	site_parent();
	pid_t pid = fork();
	if (pid == 0) {
		free(malloc(1)); /* first hooked call: creates the child's segment */
		printf("child %d\n", (int)getpid());
		fflush(stdout);
		char line[16];
		if (!fgets(line, sizeof line, stdin))
			_exit(1);
		site_child();
		_exit(5);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	printf("parent: child exited %d\n", WEXITSTATUS(status));
	EXPECT("site_parent", 10, 10, 550);
	return 0;
}
