/* A process tree with known allocations in every process, for memtop report's tree following:
 * `forktree N [CMD ARGS...]` forks N children (child k keeps 10*(k+1) blocks of 100+k bytes and
 * frees 5 more at site_child, then exits with status 10+k); child 0 also forks a grandchild
 * (7 blocks of 333 bytes at site_grandchild, exit 20). With CMD, one more child execs it (an exec
 * chain inside the tree). The parent keeps 10 blocks of 55 bytes at site_parent, reaps all and
 * exits 0. Each process prints "expect-pid PID SITE allocs A live_blocks B live_bytes C".
 * FORKTREE_HOLD=S: every process waits S seconds before it ends (a tree that lives on screen). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "expect.h"

#define EXPECT_PID(site, allocs, blocks, bytes)                                               \
	printf("expect-pid %d %s allocs %lu live_blocks %lu live_bytes %lu\n", (int)getpid(), site, \
	       (unsigned long)(allocs), (unsigned long)(blocks), (unsigned long)(bytes))

SITE static void site_child(int k)
{
	for (int i = 0; i < 10 * (k + 1); i++)
		keep(malloc(100 + (size_t)k));
	for (int i = 0; i < 5; i++)
		free(malloc(64));
	EXPECT_PID("site_child", 10 * (k + 1) + 5, 10 * (k + 1), 10 * (k + 1) * (100 + k));
}

SITE static void site_grandchild(void)
{
	for (int i = 0; i < 7; i++)
		keep(malloc(333));
	EXPECT_PID("site_grandchild", 7, 7, 7 * 333);
}

SITE static void site_parent(void)
{
	for (int i = 0; i < 10; i++)
		keep(malloc(55));
	EXPECT_PID("site_parent", 10, 10, 550);
}

static void hold(void)
{
	const char *s = getenv("FORKTREE_HOLD");
	if (s)
		sleep((unsigned)atoi(s));
}

static void reap(pid_t pid)
{
	int status = 0;
	waitpid(pid, &status, 0);
}

static void child(int k)
{
	pid_t grandchild = 0;
	if (k == 0) {
		fflush(stdout);
		grandchild = fork();
		if (grandchild == 0) {
			site_grandchild();
			fflush(stdout);
			hold();
			_exit(20);
		}
	}
	site_child(k);
	fflush(stdout);
	hold();
	if (grandchild > 0)
		reap(grandchild);
	_exit(10 + k);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	int n = argc > 1 ? atoi(argv[1]) : 3;
	site_parent();
	pid_t pids[64];
	int started = 0;
	for (int k = 0; k < n && k < 64; k++) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0)
			child(k);
		if (pid > 0)
			pids[started++] = pid;
	}
	if (argc > 2) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			execvp(argv[2], argv + 2);
			_exit(127);
		}
		if (pid > 0)
			reap(pid);
	}
	hold();
	for (int i = 0; i < started; i++)
		reap(pids[i]);
	return 0;
}
