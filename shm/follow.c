/* The tree follower's doorbell: memtop report/run follow every process their root starts, and a new
 * process of the tree waits at its start (briefly, bounded) until memtop takes it. memtop used to
 * find the new segment with inotify on /dev/shm, but closing an inotify descriptor that holds a
 * watch waits for the kernel to retire the watch (an SRCU grace period: 13 to 24 ms measured
 * here, in about half the runs), and a report cannot end before that close. So the new process
 * rings instead: one datagram with its pid to an abstract unix socket that the follower binds.
 * The datagram is a hint, nothing more: the follower rescans /dev/shm and checks in /proc that the
 * process descends from its root, so a stray or forged one costs a rescan. Allocation-free on the
 * target's side. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "shm.h"

int shm_follow_address(struct sockaddr_un *a, uint32_t monitor, uint32_t root)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	/* abstract (sun_path[0] = 0): nothing on disk to clean up, gone with the follower */
	int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "memtop-follow.%u.%u", monitor, root);
	return (int)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

void shm_follow_ring(uint32_t monitor, uint32_t root)
{
	int saved = errno;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		struct sockaddr_un a;
		socklen_t len = (socklen_t)shm_follow_address(&a, monitor, root);
		uint32_t pid = (uint32_t)getpid();
		/* MSG_DONTWAIT: a full queue means the follower has rescans coming anyway */
		(void)!sendto(fd, &pid, sizeof pid, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&a, len);
		close(fd);
	}
	errno = saved;
}
