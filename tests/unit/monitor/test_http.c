/* Unit tests of memtop serve's request parser: well-formed requests, each way a request line can
 * be wrong, the size bound, the pid query, and a deterministic fuzz run (random bytes and mutated
 * requests) that must never crash, read out of bounds, or accept a malformed first line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/http.h"

static enum http_parse parse(const char *s, struct http_request *r)
{
	return http_parse_request(s, strlen(s), r);
}

static void test_good_requests(void **state)
{
	(void)state;
	struct http_request r;
	assert_int_equal(parse("GET /debug/pprof/heap?pid=42 HTTP/1.1\r\nHost: x\r\nUser-Agent: y\r\n\r\n",
			       &r), HTTP_COMPLETE);
	assert_string_equal(r.method, "GET");
	assert_string_equal(r.path, "/debug/pprof/heap");
	assert_string_equal(r.query, "pid=42");
	assert_int_equal(parse("HEAD / HTTP/1.0\n\n", &r), HTTP_COMPLETE);
	assert_string_equal(r.path, "/");
	assert_string_equal(r.query, "");
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n", &r), HTTP_INCOMPLETE);
	assert_int_equal(parse("GET / HTT", &r), HTTP_INCOMPLETE);
	assert_int_equal(parse("", &r), HTTP_INCOMPLETE);
}

static void test_bad_requests(void **state)
{
	(void)state;
	struct http_request r;
	static const char *const bad[] = {
		"garbage\r\n\r\n", "GET\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "GET x HTTP/1.1\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n", "GET / HTTP/1.1 extra\r\n\r\n", "get / HTTP/1.1\r\n\r\n",
		"GETTINGLONG / HTTP/1.1\r\n\r\n", "GET /\x01 HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\r\n\r\n",
		"\r\n\r\n", " GET / HTTP/1.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(parse(bad[i], &r), HTTP_BAD);
	char nul[] = "GET / HTTP/1.1\r\n\0\r\n\r\n";
	assert_int_equal(http_parse_request(nul, sizeof nul - 1, &r), HTTP_BAD);
	/* a target longer than the bound */
	char *longt = malloc(HTTP_TARGET_MAX + 64);
	strcpy(longt, "GET /");
	memset(longt + 5, 'a', HTTP_TARGET_MAX);
	strcpy(longt + 5 + HTTP_TARGET_MAX, " HTTP/1.1\r\n\r\n");
	assert_int_equal(parse(longt, &r), HTTP_BAD);
	free(longt);
	/* headers that never end */
	char *big = malloc(HTTP_REQUEST_MAX + 1);
	memcpy(big, "GET / HTTP/1.1\r\n", 16);
	memset(big + 16, 'h', HTTP_REQUEST_MAX - 16);
	assert_int_equal(http_parse_request(big, HTTP_REQUEST_MAX, &r), HTTP_TOO_LARGE);
	memset(big, 'G', HTTP_REQUEST_MAX);
	assert_int_equal(http_parse_request(big, HTTP_REQUEST_MAX, &r), HTTP_TOO_LARGE);
	free(big);
}

static void test_query_pid(void **state)
{
	(void)state;
	int pid = 0;
	assert_true(http_query_pid("pid=42", &pid));
	assert_int_equal(pid, 42);
	assert_true(http_query_pid("gc=1&pid=7&debug=0", &pid));
	assert_int_equal(pid, 7);
	assert_false(http_query_pid("", &pid));
	assert_false(http_query_pid("pid=", &pid));
	assert_false(http_query_pid("pid=0", &pid));
	assert_false(http_query_pid("pid=-3", &pid));
	assert_false(http_query_pid("pid=12a", &pid));
	assert_false(http_query_pid("pid=99999999999999999999", &pid));
	assert_false(http_query_pid("xpid=3", &pid));
	assert_true(http_query_pid("pid=2147483647", &pid));
	assert_false(http_query_pid("pid=2147483648", &pid));
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

/* Random and mutated requests into exactly-sized heap buffers (so a read past the end is caught
 * by sanitizers); a complete parse must always have a method and a path starting with '/'. */
static void test_fuzz(void **state)
{
	(void)state;
	static const char seed[] = "GET /debug/pprof/heap?pid=42 HTTP/1.1\r\nHost: a\r\n\r\n";
	struct http_request r;
	for (int iter = 0; iter < 200000; iter++) {
		size_t len = iter % 2 ? next() % 300 : sizeof seed - 1;
		char *buf = malloc(len ? len : 1);
		if (iter % 2) {
			for (size_t i = 0; i < len; i++)
				buf[i] = next() % 4 ? " GET/HTP1.\r\n?=pid0123"[next() % 22] : (char)next();
		} else {
			memcpy(buf, seed, len);
			for (int m = (int)(next() % 4); m >= 0; m--)
				buf[next() % len] = (char)next();
		}
		enum http_parse st = http_parse_request(buf, len, &r);
		if (st == HTTP_COMPLETE) {
			assert_true(r.method[0] >= 'A' && r.method[0] <= 'Z');
			assert_true(r.path[0] == '/');
			assert_true(strlen(r.path) < HTTP_TARGET_MAX && strlen(r.query) < HTTP_TARGET_MAX);
			int pid;
			(void)http_query_pid(r.query, &pid);
		}
		free(buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_requests),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_query_pid),
		cmocka_unit_test(test_fuzz),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
