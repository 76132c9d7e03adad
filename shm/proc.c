/* Process identity from /proc: the start time that tells a live process from a reused pid.
 * Used on both sides; allocation-free (the target calls it from its constructor and after fork). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shm.h"

/* Reads the state (field 3) and start time (field 22) of /proc/<pid>/stat, counted after the last
 * ')' because the command name may hold spaces and parentheses. Returns false when unreadable.
 * Its own entry a process reads as /proc/<pid>/task/<pid>/stat (the same fields, the main thread is
 * the process): qemu-user answers a guest's /proc/self/stat and /proc/<own pid>/stat itself, with
 * state '0' and a start time of its own a few ticks off the kernel's, which every other process
 * reads; the segment's owner and the consumer's claim would then never match. */
bool shm_proc_stat(pid_t pid, char *state, uint64_t *start_time)
{
	char path[64], buf[1024];
	if (pid <= 0)
		return false;
	if (pid == getpid())
		snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)pid);
	else
		snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return false;
	*state = p[2];
	/* after ") " comes field 3; walk to field 22 */
	int field = 2;
	for (; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	uint64_t v = 0;
	for (; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	*start_time = v;
	return true;
}

uint64_t shm_proc_start_time(pid_t pid)
{
	char state;
	uint64_t start;
	return shm_proc_stat(pid, &state, &start) ? start : 0;
}

static int pid_exists(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

bool shm_segment_is_stale(const struct memtop_seg_header *hdr)
{
	pid_t pid = hdr->pid;
	if (!pid_exists(pid))
		return true;
	uint64_t st = shm_proc_start_time(pid);
	return st != 0 && st != hdr->start_time;
}

void shm_segment_name(pid_t pid, char *buf, size_t len)
{
	snprintf(buf, len, "/memtop.%d", (int)pid);
}
