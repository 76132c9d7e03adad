/* fork() without exec: parent and children keep allocating, children exit through exit() and
 * _exit(); the parent waits and prints their statuses. Output is deterministic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned churn(int n)
{
	unsigned sum = 0;
	for (int i = 0; i < n; i++) {
		char *p = malloc(16 + (size_t)(i % 200));
		memset(p, i, 16);
		sum += (unsigned char)p[3];
		free(p);
	}
	return sum;
}

int main(void)
{
	char *kept = strdup("kept across fork");
	for (int k = 0; k < 4; k++) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			unsigned s = churn(1000 * (k + 1));
			printf("child %d: %s %u\n", k, kept, s);
			fflush(stdout);
			free(kept);
			if (k & 1)
				_exit(10 + k);
			exit(10 + k);
		}
		int status;
		waitpid(pid, &status, 0);
		printf("parent: child %d exited %d\n", k, WEXITSTATUS(status));
	}
	printf("parent: %u\n", churn(5000));
	free(kept);
	return 0;
}
