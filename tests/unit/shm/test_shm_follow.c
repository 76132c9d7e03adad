/* Unit tests of the tree follower's doorbell (shm/follow.c): a ring reaches the socket bound at the
 * address of the same (monitor, root) pair and carries the ringing process's pid, from a fork child
 * too; it never reaches the bell of another root; with no bell bound it is lost quietly; errno is
 * kept either way. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "shm_test_util.h"

static int bell_bind(uint32_t monitor, uint32_t root)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	struct sockaddr_un a;
	int len = shm_follow_address(&a, monitor, root);
	assert_int_equal(a.sun_path[0], 0); /* abstract: nothing left on disk */
	assert_int_equal(bind(fd, (struct sockaddr *)&a, (socklen_t)len), 0);
	return fd;
}

/* The pid a ring carried, waiting up to 1 s; 0 when none came. */
static uint32_t bell_heard(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint32_t pid = 0;
	if (poll(&p, 1, 1000) == 1 && recv(fd, &pid, sizeof pid, 0) != (ssize_t)sizeof pid)
		pid = 0;
	return pid;
}

static void test_ring_reaches_its_bell_with_the_pid(void **state)
{
	(void)state;
	uint32_t me = (uint32_t)getpid();
	int bell = bell_bind(me, 4242);
	errno = 1234;
	shm_follow_ring(me, 4242);
	assert_int_equal(errno, 1234);
	assert_int_equal(bell_heard(bell), me);
	close(bell);
}

static void test_ring_of_a_fork_child_carries_its_pid(void **state)
{
	(void)state;
	uint32_t me = (uint32_t)getpid();
	int bell = bell_bind(me, 4243);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		shm_follow_ring(me, 4243);
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_int_equal(bell_heard(bell), (uint32_t)child);
	close(bell);
}

static void test_ring_never_reaches_another_roots_bell(void **state)
{
	(void)state;
	uint32_t me = (uint32_t)getpid();
	int bell = bell_bind(me, 4244);
	shm_follow_ring(me, 4245);
	shm_follow_ring(me + 1, 4244);
	struct pollfd p = {.fd = bell, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 50), 0);
	close(bell);
}

static void test_ring_without_bell_is_quiet(void **state)
{
	(void)state;
	errno = 4321;
	shm_follow_ring((uint32_t)getpid(), 4246);
	assert_int_equal(errno, 4321);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_reaches_its_bell_with_the_pid),
		cmocka_unit_test(test_ring_of_a_fork_child_carries_its_pid),
		cmocka_unit_test(test_ring_never_reaches_another_roots_bell),
		cmocka_unit_test(test_ring_without_bell_is_quiet),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
