/* The MEMTOP_DEBUG asserts fire: each case breaks one contract a header states, in a child process,
 * and expects it to die of SIGABRT after exactly one "memtop: assertion failed: file:line: cond"
 * line on stderr. Built only with -Dmemtop_debug=true; with the asserts compiled out every case
 * fails (the child carries on and exits 0). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm_test_util.h"
#include "engine/engine.h"

/* Runs fn in a child whose stderr is captured in text; returns its wait status. */
static int run_child(void (*fn)(void), char *text, size_t len)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = {0, 0};
		setrlimit(RLIMIT_CORE, &no_core); /* an abort is expected: no core file */
		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		close(p[1]);
		fn();
		_exit(0);
	}
	close(p[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < len && (r = read(p[0], text + n, len - 1 - n)) > 0)
		n += (size_t)r;
	text[n] = '\0';
	close(p[0]);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void expect_abort(void (*fn)(void), const char *where, const char *cond)
{
	char text[4096];
	int status = run_child(fn, text, sizeof text);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
		fail_msg("the child was not stopped by the assert (%s %d), stderr: %s",
			 WIFSIGNALED(status) ? "signal" : "exit status",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), text);
	const char *line = strstr(text, "memtop: assertion failed: ");
	if (!line || !strstr(line, where) || !strstr(line, cond) || strchr(line, '\n') == NULL ||
	    strchr(line, '\n')[1] != '\0')
		fail_msg("expected one line naming %s and '%s', stderr: %s", where, cond, text);
}

static void expect_clean_exit(void (*fn)(void))
{
	char text[4096];
	int status = run_child(fn, text, sizeof text);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("a call that keeps the contract was stopped (status 0x%x), stderr: %s", status, text);
}

/* ---- the ring: a commit must name a ticket taken below the free bound ---- */

static void commit_unreserved_ticket(void)
{
	struct shm_segment seg;
	memset(&seg, 0, sizeof seg);
	test_create(&seg, NULL, getpid());
	test_unlink_segment(getpid()); /* the mapping stays; nothing is left behind by the abort */
	uint64_t ticket = 0;
	if (!shm_ring_reserve(&seg, 0, &ticket))
		_exit(3);
	struct memtop_event ev = test_event(MEMTOP_EV_MALLOC, 0x1000, 16);
	shm_ring_commit(&seg, 0, ticket, &ev); /* taken by reserve: fine */
	/* a lap ahead: its cell still holds a record the consumer has not copied */
	shm_ring_commit(&seg, 0, ticket + seg.ring_cap, &ev);
}

static void test_ring_commit_above_bound(void **state)
{
	(void)state;
	expect_abort(commit_unreserved_ticket, "shm/ring_push.h:", "ticket < ");
}

/* ---- the engine: one writer, inside a read-side section; no figure below zero ---- */

static struct engine E;

static struct memtop_event event(uint8_t type, uint64_t addr, uint64_t size)
{
	return (struct memtop_event){.type = type, .stack_id = 1, .timestamp_ns = 5000000000ull,
				     .addr = addr, .size = size};
}

static void engine_child_init(void)
{
	urcu_memb_register_thread();
	if (engine_init(&E, 8, 1000) != 0)
		_exit(3);
}

static void apply_locked(const struct memtop_event *ev)
{
	urcu_memb_read_lock();
	engine_apply(&E, ev);
	urcu_memb_read_unlock();
	engine_batch_end(&E);
}

static void apply_outside_read_section(void)
{
	engine_child_init();
	struct memtop_event ev = event(MEMTOP_EV_MALLOC, 0x100, 10);
	engine_apply(&E, &ev);
}

static void test_engine_apply_needs_read_lock(void **state)
{
	(void)state;
	expect_abort(apply_outside_read_section, "engine/engine_apply.c:", "urcu_memb_read_ongoing()");
}

static void *apply_from_thread(void *claim)
{
	urcu_memb_register_thread();
	if (claim)
		engine_claim_writer(&E);
	struct memtop_event ev = event(MEMTOP_EV_MALLOC, 0x100, 10);
	apply_locked(&ev);
	urcu_memb_unregister_thread();
	return NULL;
}

static void apply_from_other_thread(void)
{
	engine_child_init();
	pthread_t th;
	pthread_create(&th, NULL, apply_from_thread, NULL);
	pthread_join(th, NULL);
}

static void apply_from_claiming_thread(void)
{
	engine_child_init();
	pthread_t th;
	pthread_create(&th, NULL, apply_from_thread, (void *)1);
	pthread_join(th, NULL);
}

static void test_engine_single_writer(void **state)
{
	(void)state;
	expect_abort(apply_from_other_thread, "engine/engine_apply.c:", "the thread that claimed &e->writer");
	/* the ingest thread claims the engine when it starts: then its calls are the writer's */
	expect_clean_exit(apply_from_claiming_thread);
}

static void free_more_than_live(void)
{
	engine_child_init();
	struct memtop_event m = event(MEMTOP_EV_MALLOC, 0x100, 10);
	apply_locked(&m);
	engine_site(&E, 1)->live_bytes = 4; /* a site that lost track: the free would wrap it */
	struct memtop_event f = event(MEMTOP_EV_FREE, 0x100, 0);
	apply_locked(&f);
}

static void test_engine_live_bytes_underflow(void **state)
{
	(void)state;
	expect_abort(free_more_than_live, "engine/engine_apply.c:", "s->live_bytes >= bytes");
}

/* ---- the live set: pins are taken inside a read-side section ---- */

static void pin_outside_read_section(void)
{
	urcu_memb_register_thread();
	struct liveset ls;
	if (liveset_init(&ls) != 0)
		_exit(3);
	struct liveset_iter it;
	struct liveset_pin pin;
	liveset_iter_init(&ls, &it);
	liveset_pin(&it, &pin);
}

static void test_liveset_pin_needs_read_lock(void **state)
{
	(void)state;
	expect_abort(pin_outside_read_section, "engine/liveset_store.c:", "urcu_memb_read_ongoing()");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_commit_above_bound),
		cmocka_unit_test(test_engine_apply_needs_read_lock),
		cmocka_unit_test(test_engine_single_writer),
		cmocka_unit_test(test_engine_live_bytes_underflow),
		cmocka_unit_test(test_liveset_pin_needs_read_lock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
