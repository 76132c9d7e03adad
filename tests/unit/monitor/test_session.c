/* Unit tests of attaching: a segment whose pid was reused by another process is refused as stale,
 * a live claim by another monitor is refused with its pid, and a good segment is claimed and
 * released on destroy. Uses a real segment created for this test process. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "session/session.h"

static struct shm_segment seg;

static int setup(void **state)
{
	(void)state;
	struct shm_config cfg;
	shm_config_defaults(&cfg);
	cfg.ring_cap = 1024;
	char err[256], name[64];
	shm_segment_name(getpid(), name, sizeof name);
	shm_unlink(name);
	return shm_segment_create(&seg, &cfg, getpid(), err, sizeof err);
}

static int teardown(void **state)
{
	(void)state;
	shm_segment_close(&seg, true);
	return 0;
}

static void test_reused_pid_is_stale(void **state)
{
	(void)state;
	uint64_t real = seg.hdr->start_time;
	seg.hdr->start_time = real + 1000; /* as if an earlier process with our pid had made it */
	char err[512];
	struct session_options o;
	session_default_options(&o);
	struct session *s = session_attach(getpid(), &o, err, sizeof err);
	assert_null(s);
	assert_non_null(strstr(err, "is stale"));
	assert_non_null(strstr(err, "memtop gc"));
	seg.hdr->start_time = real;
}

static void test_claim_and_release(void **state)
{
	(void)state;
	char err[512];
	struct session *s = session_attach(getpid(), NULL, err, sizeof err);
	assert_non_null(s);
	assert_int_equal(seg.hdr->claim_pid, getpid());
	session_destroy(s);
	assert_int_equal(seg.hdr->claim_pid, 0);
}

static void test_already_monitored(void **state)
{
	(void)state;
	/* a child process holds the claim with a fresh heartbeat */
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	pid_t child = fork();
	if (child == 0) {
		close(pfd[0]);
		pid_t holder;
		if (shm_consumer_claim(&seg, &holder) == 0 && write(pfd[1], "x", 1) == 1)
			for (int i = 0; i < 200; i++) {
				shm_consumer_heartbeat(&seg);
				usleep(10000);
			}
		_exit(0);
	}
	close(pfd[1]);
	char c;
	assert_int_equal(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	char err[512], want[64];
	struct session *s = session_attach(getpid(), NULL, err, sizeof err);
	assert_null(s);
	snprintf(want, sizeof want, "already monitored by memtop (pid %d)", (int)child);
	assert_non_null(strstr(err, want));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	/* its claim is dead now: the next monitor takes over */
	s = session_attach(getpid(), NULL, err, sizeof err);
	assert_non_null(s);
	session_destroy(s);
}

int main(void)
{
	urcu_memb_register_thread();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reused_pid_is_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_and_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_already_monitored, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	urcu_memb_unregister_thread();
	return rc;
}
