/* spawn: memtop run/report start the target under the preload (MEMTOP_WAIT=1) and bind to the
 * segment it makes. A child that makes none is left running untraced, never killed, and waited for. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc/traceable.h"
#include "session/session_internal.h"

/* ---- memtop run: start the target under the preload ---- */

/* The dashboard's terminal is not the target's: its output goes to output_fd, and it reads no key
 * meant for the dashboard. */
static void child_stdio(int output_fd)
{
	if (output_fd <= 0)
		return;
	int null = open("/dev/null", O_RDONLY);
	if (null >= 0 && null != STDIN_FILENO) {
		dup2(null, STDIN_FILENO);
		close(null);
	}
	dup2(output_fd, STDOUT_FILENO);
	dup2(output_fd, STDERR_FILENO);
	if (output_fd > STDERR_FILENO)
		close(output_fd);
}

static void child_exec(char *const argv[], const char *preload, int output_fd, int errfd,
		       bool follow_tree)
{
	child_stdio(output_fd);
	const char *old = getenv("LD_PRELOAD");
	char *val = NULL;
	if (old && *old) {
		size_t n = strlen(preload) + strlen(old) + 2;
		val = malloc(n);
		if (val)
			snprintf(val, n, "%s:%s", preload, old);
	}
	setenv("LD_PRELOAD", val ? val : preload, 1);
	setenv("MEMTOP_WAIT", "1", 1);
	if (follow_tree) {
		/* inherited by every descendant: each marks its segment and waits briefly for us */
		char pid[24];
		snprintf(pid, sizeof pid, "%d", (int)getpid());
		setenv("MEMTOP_FOLLOW", pid, 1);
		/* and the memtop that follows: once it is gone, nobody waits for it */
		snprintf(pid, sizeof pid, "%d", (int)getppid());
		setenv("MEMTOP_FOLLOW_MONITOR", pid, 1);
	} else {
		/* a memtop run inside a followed tree follows only its own */
		unsetenv("MEMTOP_FOLLOW");
		unsetenv("MEMTOP_FOLLOW_MONITOR");
	}
	execvp(argv[0], argv);
	int e = errno;
	if (write(errfd, &e, sizeof e) < 0)
		_exit(127);
	_exit(127);
}

static int wait_for_segment(struct session *s, const char *cmd, char *err, size_t len)
{
	uint64_t deadline = shm_clock_ns(CLOCK_MONOTONIC) + 10ull * 1000000000ull;
	char why[256] = "";
	for (;;) {
		int rc = shm_segment_open(&s->seg, s->child, false, why, sizeof why);
		if (rc == 0)
			return 0;
		if (rc != -ENOENT && rc != -EAGAIN && rc != -EINVAL) {
			snprintf(err, len, "%s: %s (pid %d) runs on untraced, and memtop waits for it to end",
				 why, cmd, (int)s->child);
			return rc;
		}
		int st;
		if (waitpid(s->child, &st, WNOHANG) == s->child) {
			s->child = 0;
			s->untraced_waited = true;
			s->untraced_exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			snprintf(err, len, "%s exited (%s %d) without a memtop segment, untraced: is the "
				 "preload library loadable (see --preload)?", cmd,
				 WIFEXITED(st) ? "status" : "signal",
				 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			return -ECHILD;
		}
		if (shm_clock_ns(CLOCK_MONOTONIC) > deadline) {
			snprintf(err, len, "%s (pid %d) made no memtop segment within 10 s (%s): it runs on "
				 "untraced, and memtop waits for it to end", cmd, (int)s->child,
				 why[0] ? why : "no segment");
			return -ETIMEDOUT;
		}
		usleep(250); /* the target waits for us from here on: keep its start short */
	}
}

struct session *session_run(char *const argv[], const char *preload, const struct session_options *o,
			    char *err, size_t len)
{
	char why[1024];
	if (traceable_check(argv[0], why, sizeof why) != 0) {
		snprintf(err, len, "%s: memtop cannot trace it", why);
		return NULL;
	}
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		snprintf(err, len, "pipe: %s", strerror(errno));
		return NULL;
	}
	struct session *s = session_new(o);
	if (!s) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	/* orphans of the tree come to us, not to init: their ancestry stays checkable (tree.c) */
	if (o && o->follow_tree)
		prctl(PR_SET_CHILD_SUBREAPER, 1);
	fflush(NULL);
	pid_t child = fork();
	if (child < 0) {
		snprintf(err, len, "fork: %s", strerror(errno));
		free(s);
		return NULL;
	}
	if (child == 0) {
		close(pfd[0]);
		child_exec(argv, preload, o ? o->child_output_fd : 0, pfd[1], o && o->follow_tree);
	}
	close(pfd[1]);
	int e = 0;
	ssize_t n = read(pfd[0], &e, sizeof e);
	close(pfd[0]);
	s->child = s->pid = child;
	s->from_start = true;
	if (n == (ssize_t)sizeof e) {
		waitpid(child, NULL, 0);
		snprintf(err, len, "cannot run %s: %s", argv[0], strerror(e));
		free(s);
		return NULL;
	}
	if (wait_for_segment(s, argv[0], err, len) != 0) {
		/* untraceable after all (it exec'd one, or its preload made no segment): it was not
		 * started waiting for us, so it is left to run; the caller waits for it */
		s->untraced = true;
		return s;
	}
	s->seg_open = true;
	if (session_bind(s, err, len)) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		s->child = 0;
		session_destroy(s);
		return NULL;
	}
	return s;
}
/* memtop run/report: a target we started and cannot monitor is not left waiting for us. */
void session_kill_child(struct session *s)
{
	if (!s->child)
		return;
	kill(s->child, SIGKILL);
	waitpid(s->child, NULL, 0);
	s->child = 0;
}
